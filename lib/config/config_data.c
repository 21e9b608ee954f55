/*
 * config_data.c - building and reading an azr_config: the node table that
 * [node] sections and nodes_env fill (with the one AZ resolution rule),
 * the lookups the rest of the library makes, and the free.
 */
#include <stdlib.h>
#include <string.h>

#include "config_priv.h"

static const char *const md_source_names[] = {
    [AZR_MD_AUTO] = "auto", [AZR_MD_LAMBDA] = "lambda",
    [AZR_MD_IMDS] = "imds", [AZR_MD_ECS] = "ecs",
    [AZR_MD_STATIC] = "static", [AZR_MD_NONE] = "none"
};

const char *azr__cfg_md_source_name(azr_md_source_kind kind)
{
    return md_source_names[kind];
}

int azr__cfg_md_source_parse(const char *s, azr_md_source_kind *kind)
{
    for (size_t i = 0; i < sizeof md_source_names / sizeof *md_source_names;
         i++) {
        if (strcmp(s, md_source_names[i]) == 0) {
            *kind = (azr_md_source_kind)i;
            return 0;
        }
    }
    return -1;
}

void *azr__cfg_grow(void *arr, size_t n, size_t elem)
{
    /* capacity(n) = 0 for n == 0, else max(4, next power of two >= n) */
    if (n == 0)
        return realloc(arr, 4 * elem);
    if (n < 4 || (n & (n - 1)) != 0)
        return arr; /* room is left */
    return realloc(arr, 2 * n * elem);
}

azr_cfg_node *azr__cfg_node_append(azr_config *cfg)
{
    azr_cfg_node *nodes =
        azr__cfg_grow(cfg->nodes, cfg->n_nodes, sizeof *nodes);
    azr_cfg_node *node;
    if (nodes == NULL)
        return NULL;
    cfg->nodes = nodes;
    node = &nodes[cfg->n_nodes++];
    memset(node, 0, sizeof *node);
    node->weight = 1;
    node->role = AZR_ROLE_REPLICA;
    return node;
}

void azr__cfg_node_clear(azr_cfg_node *node)
{
    free(node->id);
    free(node->host);
    free(node->az_id);
    free(node->az_name);
    memset(node, 0, sizeof *node);
}

long azr__cfg_node_find(const azr_config *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->n_nodes; i++)
        if (cfg->nodes[i].id != NULL && strcmp(cfg->nodes[i].id, id) == 0)
            return (long)i;
    return -1;
}

azr_code azr__cfg_resolve_az(const azr_config *cfg, azr_cfg_node *node,
                             const char *az, char *msg, size_t msglen)
{
    char q1[AZR_CFG_QUOTE_BUF], q2[AZR_CFG_QUOTE_BUF], q3[AZR_CFG_QUOTE_BUF];
    const char *id;

    if (az == NULL || *az == '\0') {
        if (node->az_id == NULL)
            return azr__cfg_err(msg, msglen, AZR_E_CONFIG, "no AZ given");
        return AZR_OK;
    }
    if (azr__az_id_valid(az)) {
        /* An ID written where a name may stand. */
        if (node->az_id != NULL) {
            if (strcmp(node->az_id, az) != 0)
                return azr__cfg_err(msg, msglen, AZR_E_CONFIG,
                                    "AZ '%s' disagrees with az_id '%s'",
                                    azr__cfg_quote(q1, az),
                                    azr__cfg_quote(q2, node->az_id));
            return AZR_OK;
        }
        id = az;
    } else {
        const char *mapped;
        if (!azr__cfg_chars_valid(az, strlen(az), &azr__cfg_az_name_chars))
            return azr__cfg_err(msg, msglen, AZR_E_CONFIG,
                                "bad AZ name '%s' (expected e.g. "
                                "ap-northeast-1a)", azr__cfg_quote(q1, az));
        mapped = azr__config_map_az(cfg, az);
        if (node->az_id != NULL) {
            /* The explicit ID wins; the name is kept for display, but a
             * contradicting [az_map] entry is a mistake somewhere. */
            if (mapped != NULL && strcmp(mapped, node->az_id) != 0)
                return azr__cfg_err(msg, msglen, AZR_E_CONFIG,
                                    "AZ name '%s' maps to '%s' in [az_map], "
                                    "but az_id is '%s'",
                                    azr__cfg_quote(q1, az),
                                    azr__cfg_quote(q2, mapped),
                                    azr__cfg_quote(q3, node->az_id));
            id = NULL;
        } else {
            if (mapped == NULL)
                return azr__cfg_err(msg, msglen, AZR_E_CONFIG,
                                    "AZ name '%s' has no entry in [az_map]",
                                    azr__cfg_quote(q1, az));
            id = mapped;
        }
        node->az_name = strdup(az);
        if (node->az_name == NULL)
            return azr__cfg_err(msg, msglen, AZR_E_NOMEM, "out of memory");
    }
    if (id != NULL) {
        node->az_id = strdup(id);
        if (node->az_id == NULL)
            return azr__cfg_err(msg, msglen, AZR_E_NOMEM, "out of memory");
    }
    return AZR_OK;
}

const char *azr__config_map_az(const azr_config *cfg, const char *name)
{
    if (cfg == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->n_az_map; i++)
        if (strcmp(cfg->az_map[i].name, name) == 0)
            return cfg->az_map[i].id;
    return NULL;
}

int azr__cfg_section_matches(const char *sname, const char *entry)
{
    char stem[256];
    if (strcmp(sname, entry) == 0)
        return 1;
    if (entry[0] != '/')
        return 0;
    return strcmp(sname, azr__cfg_plugin_stem(entry, stem, sizeof stem)) == 0;
}

/* The section configuring plugin `name`: the one named exactly so, else
 * one that names the same plugin by path (azr__cfg_section_matches). Call it
 * with the chain entry as written (cfg->policy[i], cfg->transport). */
azr_cfg_plugin_section *azr__config_section(azr_config *cfg,
                                            azr_cfg_section_kind kind,
                                            const char *name)
{
    if (cfg == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->n_sections; i++)
        if (cfg->sections[i].kind == kind &&
            strcmp(cfg->sections[i].name, name) == 0)
            return &cfg->sections[i];
    /* By stem, either way round: the chain entry "/opt/p/mine.so" finds
     * [policy mine], and the plugin's own name "mine" finds
     * [policy /opt/p/mine.so]. */
    for (size_t i = 0; i < cfg->n_sections; i++)
        if (cfg->sections[i].kind == kind &&
            (azr__cfg_section_matches(cfg->sections[i].name, name) ||
             azr__cfg_section_matches(name, cfg->sections[i].name)))
            return &cfg->sections[i];
    return NULL;
}

void azr__config_free(azr_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->path);
    for (size_t i = 0; i < cfg->n_policy; i++)
        free(cfg->policy[i]);
    free(cfg->policy);
    free(cfg->transport);
    free(cfg->plugin_dir);
    free(cfg->nodes_env);
    free(cfg->md_az_id);
    free(cfg->md_cache_file);
    azr__cfg_stats_clear(&cfg->stats);
    azr__cfg_topo_clear(cfg);
    for (size_t i = 0; i < cfg->n_az_map; i++) {
        free(cfg->az_map[i].name);
        free(cfg->az_map[i].id);
    }
    free(cfg->az_map);
    for (size_t i = 0; i < cfg->n_nodes; i++)
        azr__cfg_node_clear(&cfg->nodes[i]);
    free(cfg->nodes);
    for (size_t i = 0; i < cfg->n_sections; i++) {
        azr_cfg_plugin_section *s = &cfg->sections[i];
        for (size_t j = 0; j < s->n_options; j++) {
            free(s->options[j].key);
            free(s->options[j].value);
        }
        free(s->options);
        free(s->name);
    }
    free(cfg->sections);
    free(cfg);
}
