/*
 * config_keys.c - the handlers of azroute.ini's sections: opening [node
 * ID], [policy NAME] and [transport NAME], and every key of every section,
 * each validated as it is read (the rules: values.h). What can only be
 * checked against the whole file waits for config_check.c: [az_map] and
 * [topology] (whose mode decides which [node] keys are allowed) may come
 * after the [node] sections.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_parse.h"

/* Bounds that keep the duplicate checks (quadratic) cheap on any input. */
#define CFG_AZ_MAP_MAX 1024
#define CFG_SECTIONS_MAX 64
#define CFG_OPTIONS_MAX 256

static const char *const azroute_keys[KA_N] = {
    "policy", "transport", "plugin_dir", "nodes_env", "max_attempts"
};
static const char *const metadata_keys[KM_N] = {
    "source", "az_id", "timeout_ms", "cache_file"
};
static const char *const stats_keys[KS_N] = {
    "namespace", "dimensions", "cross_az_price_per_gb"
};
static const char *const topology_keys[KT_N] = {
    "mode", "seeds", "refresh_ms", "failover_wait_ms"
};
static const char *const node_keys[KN_N] = {
    "host", "port", "az", "az_id", "role", "weight", "priority"
};

static int set_string(azr_cfg_parser *p, char **dst, const char *value)
{
    char *s = strdup(value);
    if (s == NULL)
        return azr__cfg_nomem(p);
    free(*dst);
    *dst = s;
    return 1;
}

/* Parses "a, b ,c" into cfg->policy. */
static int parse_policy_list(azr_cfg_parser *p, const char *value)
{
    azr_config *cfg = p->cfg;
    char q[AZR_CFG_QUOTE_BUF];
    const char *s = value;
    size_t pos = 0;

    for (;;) {
        const char *comma = strchr(s, ',');
        const char *end = comma != NULL ? comma : s + strlen(s);
        const char *b = s, *e = end;
        char *item, **list;

        pos++;
        while (b < e && azr__cfg_is_blank(*b))
            b++;
        while (e > b && azr__cfg_is_blank(e[-1]))
            e--;
        if (b == e)
            return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                                 "policy: empty entry %zu", pos);
        item = strndup(b, (size_t)(e - b));
        if (item == NULL)
            return azr__cfg_nomem(p);
        if (!azr__cfg_plugin_name_valid(item)) {
            azr__cfg_perr(
                p, p->lineno, AZR_E_CONFIG,
                "policy: bad plugin name '%s' (" AZR_CFG_PLUGIN_NAME_RULE ")",
                azr__cfg_quote(q, item));
            free(item);
            return 0;
        }
        for (size_t i = 0; i < cfg->n_policy; i++) {
            char stem_a[256], stem_b[256];
            const char *a = azr__cfg_plugin_stem(cfg->policy[i], stem_a,
                                                 sizeof stem_a);
            if (strcmp(a, azr__cfg_plugin_stem(item, stem_b,
                                               sizeof stem_b)) == 0) {
                azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                              "policy: '%s' appears twice in the chain",
                              azr__cfg_quote(q, item));
                free(item);
                return 0;
            }
        }
        list = azr__cfg_grow(cfg->policy, cfg->n_policy, sizeof *list);
        if (list == NULL) {
            free(item);
            return azr__cfg_nomem(p);
        }
        cfg->policy = list;
        cfg->policy[cfg->n_policy++] = item;
        if (comma == NULL)
            return 1;
        s = comma + 1;
    }
}

/* Finds `name` in a fixed key table; -1 if unknown. */
static int key_index(const char *const *keys, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(keys[i], name) == 0)
            return i;
    return -1;
}

static int unknown_key(azr_cfg_parser *p, const char *name)
{
    char q[AZR_CFG_QUOTE_BUF], label[128];
    return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG, "unknown key '%s' in %s",
                         azr__cfg_quote(q, name),
                         azr__cfg_sec_label(p, label, sizeof label));
}

/* Marks key `k` seen; 0 (error recorded) if it was seen before. */
static int first_time(azr_cfg_parser *p, unsigned *lines, int k,
                      const char *name)
{
    char q[AZR_CFG_QUOTE_BUF], label[128];
    if (lines[k] != 0)
        return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                             "duplicate key '%s' in %s (first at line %u)",
                             azr__cfg_quote(q, name),
                             azr__cfg_sec_label(p, label, sizeof label),
                             lines[k]);
    lines[k] = p->lineno;
    return 1;
}

static int empty_value(azr_cfg_parser *p, const char *name)
{
    char q[AZR_CFG_QUOTE_BUF], label[128];
    return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                         "empty value for '%s' in %s", azr__cfg_quote(q, name),
                         azr__cfg_sec_label(p, label, sizeof label));
}

static int bad_number(azr_cfg_parser *p, const char *name, const char *value,
                      unsigned min, unsigned max)
{
    char q1[AZR_CFG_QUOTE_BUF], q2[AZR_CFG_QUOTE_BUF];
    return azr__cfg_perr(
        p, p->lineno, AZR_E_CONFIG, "bad %s '%s' (expected %u..%u)",
        azr__cfg_quote(q1, name), azr__cfg_quote(q2, value), min, max);
}

static int key_azroute(azr_cfg_parser *p, const char *name, const char *value)
{
    azr_config *cfg = p->cfg;
    char q[AZR_CFG_QUOTE_BUF];
    int k = key_index(azroute_keys, KA_N, name);

    if (k < 0)
        return unknown_key(p, name);
    if (!first_time(p, p->azroute_key_line, k, name))
        return 0;
    if (*value == '\0')
        return empty_value(p, name);
    switch (k) {
    case KA_POLICY:
        cfg->policy_line = p->lineno;
        return parse_policy_list(p, value);
    case KA_TRANSPORT:
        if (!azr__cfg_plugin_name_valid(value))
            return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                                 "bad transport '%s' ("
                                 AZR_CFG_PLUGIN_NAME_RULE ")",
                                 azr__cfg_quote(q, value));
        cfg->transport_line = p->lineno;
        return set_string(p, &cfg->transport, value);
    case KA_PLUGIN_DIR:
        if (value[0] != '/')
            return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                                 "plugin_dir '%s' is not an absolute path",
                                 azr__cfg_quote(q, value));
        cfg->plugin_dir_line = p->lineno;
        return set_string(p, &cfg->plugin_dir, value);
    case KA_NODES_ENV:
        if (!azr__cfg_env_name_valid(value))
            return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                                 "bad nodes_env '%s' (expected an environment "
                                 "variable name)", azr__cfg_quote(q, value));
        cfg->nodes_env_line = p->lineno;
        return set_string(p, &cfg->nodes_env, value);
    case KA_MAX_ATTEMPTS:
        if (azr__cfg_parse_uint(value, 1, AZR_ATTEMPTS_CAP,
                                &cfg->max_attempts) != 0)
            return bad_number(p, name, value, 1, AZR_ATTEMPTS_CAP);
        return 1;
    }
    return 1;
}

static int key_metadata(azr_cfg_parser *p, const char *name, const char *value)
{
    azr_config *cfg = p->cfg;
    char q[AZR_CFG_QUOTE_BUF];
    int k = key_index(metadata_keys, KM_N, name);

    if (k < 0)
        return unknown_key(p, name);
    if (!first_time(p, p->metadata_key_line, k, name))
        return 0;
    switch (k) {
    case KM_SOURCE:
        if (azr__cfg_md_source_parse(value, &cfg->md_source) == 0)
            return 1;
        if (*value == '\0')
            return empty_value(p, name);
        return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                             "bad source '%s' (expected auto, lambda, imds, "
                             "ecs, static or none)", azr__cfg_quote(q, value));
    case KM_AZ_ID:
        /* Empty means "not set", as in the commented sample. */
        if (*value == '\0')
            return 1;
        if (!azr__az_id_valid(value))
            return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                                 "bad AZ ID '%s' (expected e.g. apne1-az4)",
                                 azr__cfg_quote(q, value));
        return set_string(p, &cfg->md_az_id, value);
    case KM_TIMEOUT_MS:
        if (azr__cfg_parse_uint(value, 1, AZR_MD_TIMEOUT_MAX_MS,
                                &cfg->md_timeout_ms) != 0)
            return bad_number(p, name, value, 1, AZR_MD_TIMEOUT_MAX_MS);
        return 1;
    case KM_CACHE_FILE:
        if (*value == '\0')
            return 1; /* off */
        return set_string(p, &cfg->md_cache_file, value);
    }
    return 1;
}

/* [stats]: the keys are checked by config_stats.c; this places its error
 * at the line being read. */
static int key_stats(azr_cfg_parser *p, const char *name, const char *value)
{
    char why[AZR_ERRBUF_SIZE];
    int k = key_index(stats_keys, KS_N, name);

    if (k < 0)
        return unknown_key(p, name);
    if (!first_time(p, p->stats_key_line, k, name))
        return 0;
    azr_code rc = k == KS_NAMESPACE
                      ? azr__cfg_stats_namespace(&p->cfg->stats, value, why,
                                                 sizeof why)
                  : k == KS_DIMENSIONS
                      ? azr__cfg_stats_dimensions(&p->cfg->stats, value, why,
                                                  sizeof why)
                      : azr__cfg_stats_price(&p->cfg->stats, value, why,
                                             sizeof why);
    if (rc != AZR_OK)
        return azr__cfg_perr(p, p->lineno, rc, "%s", why);
    return 1;
}

/* [topology]: each value checked here; whether the mode allows the key
 * waits for the end of the file (config_check.c). */
static int key_topology(azr_cfg_parser *p, const char *name,
                        const char *value)
{
    azr_config *cfg = p->cfg;
    char q[AZR_CFG_QUOTE_BUF], why[AZR_ERRBUF_SIZE];
    int k = key_index(topology_keys, KT_N, name);
    azr_code rc;

    if (k < 0)
        return unknown_key(p, name);
    if (!first_time(p, p->topology_key_line, k, name))
        return 0;
    if (*value == '\0')
        return empty_value(p, name);
    switch (k) {
    case KT_MODE:
        if (azr__cfg_topo_mode_parse(value, &cfg->topo_mode) != 0)
            return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                                 "bad mode '%s' (expected static, replication "
                                 "or cluster)", azr__cfg_quote(q, value));
        return 1;
    case KT_SEEDS:
        rc = azr__cfg_topo_seeds(cfg, value, why, sizeof why);
        if (rc != AZR_OK)
            return azr__cfg_perr(p, p->lineno, rc, "%s", why);
        return 1;
    case KT_REFRESH_MS:
        if (azr__cfg_parse_uint(value, 0, AZR_TOPO_REFRESH_MAX_MS,
                                &cfg->refresh_ms) != 0)
            return bad_number(p, name, value, 0, AZR_TOPO_REFRESH_MAX_MS);
        return 1;
    case KT_FAILOVER_WAIT_MS:
        if (azr__cfg_parse_uint(value, 0, AZR_TOPO_FAILOVER_WAIT_MAX_MS,
                                &cfg->failover_wait_ms) != 0)
            return bad_number(p, name, value, 0,
                              AZR_TOPO_FAILOVER_WAIT_MAX_MS);
        return 1;
    }
    return 1;
}

static int key_az_map(azr_cfg_parser *p, const char *name, const char *value)
{
    azr_config *cfg = p->cfg;
    char q[AZR_CFG_QUOTE_BUF];
    azr_cfg_az_map_entry *map, *e;

    if (*value == '\0')
        return empty_value(p, name);
    if (!azr__cfg_chars_valid(name, strlen(name), &azr__cfg_az_name_chars))
        return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                             "bad AZ name '%s' in [az_map] (expected e.g. "
                             "ap-northeast-1a)", azr__cfg_quote(q, name));
    for (size_t i = 0; i < cfg->n_az_map; i++)
        if (strcmp(cfg->az_map[i].name, name) == 0)
            return azr__cfg_perr(
                p, p->lineno, AZR_E_CONFIG,
                "duplicate key '%s' in [az_map] (first at line %u)",
                azr__cfg_quote(q, name), cfg->az_map[i].line);
    if (!azr__az_id_valid(value))
        return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                             "bad AZ ID '%s' (expected e.g. apne1-az4)",
                             azr__cfg_quote(q, value));
    if (cfg->n_az_map >= CFG_AZ_MAP_MAX)
        return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                             "too many [az_map] entries (max %d)",
                             CFG_AZ_MAP_MAX);
    map = azr__cfg_grow(cfg->az_map, cfg->n_az_map, sizeof *map);
    if (map == NULL)
        return azr__cfg_nomem(p);
    cfg->az_map = map;
    e = &map[cfg->n_az_map];
    e->name = strdup(name);
    e->id = strdup(value);
    e->line = p->lineno;
    if (e->name == NULL || e->id == NULL) {
        free(e->name);
        free(e->id);
        return azr__cfg_nomem(p);
    }
    cfg->n_az_map++;
    return 1;
}

static int key_node(azr_cfg_parser *p, const char *name, const char *value)
{
    azr_cfg_node *node = &p->cfg->nodes[p->sec_index];
    azr_cfg_node_extra *x = &p->nx[p->sec_index];
    char q[AZR_CFG_QUOTE_BUF];
    int k = key_index(node_keys, KN_N, name);

    if (k < 0)
        return unknown_key(p, name);
    if (!first_time(p, x->key_line, k, name))
        return 0;
    if (*value == '\0')
        return empty_value(p, name);
    switch (k) {
    case KN_HOST:
        if (!azr__cfg_chars_valid(value, strlen(value), &azr__cfg_host_chars))
            return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG, "bad host '%s'",
                                 azr__cfg_quote(q, value));
        return set_string(p, &node->host, value);
    case KN_PORT:
        if (azr__cfg_parse_uint(value, 1, AZR_CFG_PORT_MAX, &node->port) != 0)
            return bad_number(p, name, value, 1, AZR_CFG_PORT_MAX);
        return 1;
    case KN_AZ:
        return set_string(p, &x->az, value);
    case KN_AZ_ID:
        if (!azr__az_id_valid(value))
            return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                                 "bad AZ ID '%s' (expected e.g. apne1-az4)",
                                 azr__cfg_quote(q, value));
        return set_string(p, &node->az_id, value);
    case KN_ROLE:
        /* Whether the mode allows a role is checked at the end. */
        if (azr__cfg_parse_role(value, &node->role) != 0)
            return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                                 "bad role '%s' (expected primary or replica)",
                                 azr__cfg_quote(q, value));
        node->has_role = 1;
        return 1;
    case KN_WEIGHT:
        if (azr__cfg_parse_uint(value, 1, AZR_CFG_WEIGHT_MAX,
                                &node->weight) != 0)
            return bad_number(p, name, value, 1, AZR_CFG_WEIGHT_MAX);
        return 1;
    case KN_PRIORITY:
        if (azr__cfg_parse_uint(value, 0, AZR_CFG_PRIORITY_MAX,
                                &node->priority) != 0)
            return bad_number(p, name, value, 0, AZR_CFG_PRIORITY_MAX);
        return 1;
    }
    return 1;
}

static int key_plugin(azr_cfg_parser *p, const char *name, const char *value)
{
    azr_cfg_plugin_section *s = &p->cfg->sections[p->sec_index];
    azr_cfg_option *opts, *o;
    char q[AZR_CFG_QUOTE_BUF], label[128];

    for (size_t i = 0; i < s->n_options; i++)
        if (strcmp(s->options[i].key, name) == 0)
            return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                                 "duplicate key '%s' in %s (first at line %u)",
                                 azr__cfg_quote(q, name),
                                 azr__cfg_sec_label(p, label, sizeof label),
                                 s->options[i].line);
    if (s->n_options >= CFG_OPTIONS_MAX)
        return azr__cfg_perr(
            p, p->lineno, AZR_E_CONFIG, "too many keys in %s (max %d)",
            azr__cfg_sec_label(p, label, sizeof label), CFG_OPTIONS_MAX);
    opts = azr__cfg_grow(s->options, s->n_options, sizeof *opts);
    if (opts == NULL)
        return azr__cfg_nomem(p);
    s->options = opts;
    o = &opts[s->n_options];
    memset(o, 0, sizeof *o);
    o->key = strdup(name);
    o->value = strdup(value);
    o->line = p->lineno;
    if (o->key == NULL || o->value == NULL) {
        free(o->key);
        free(o->value);
        return azr__cfg_nomem(p);
    }
    s->n_options++;
    return 1;
}

int azr__cfg_on_key(azr_cfg_parser *p, const char *name, const char *value)
{
    char q[AZR_CFG_QUOTE_BUF];

    if (*name == '\0')
        return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                             "missing key before '='");
    switch (p->sec) {
    case SEC_NONE:
        return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                             "key '%s' outside any section",
                             azr__cfg_quote(q, name));
    case SEC_AZROUTE: return key_azroute(p, name, value);
    case SEC_METADATA: return key_metadata(p, name, value);
    case SEC_AZ_MAP: return key_az_map(p, name, value);
    case SEC_NODE: return key_node(p, name, value);
    case SEC_POLICY:
    case SEC_TRANSPORT: return key_plugin(p, name, value);
    case SEC_STATS: return key_stats(p, name, value);
    case SEC_TOPOLOGY: return key_topology(p, name, value);
    }
    return 0;
}

int azr__cfg_dup_section(azr_cfg_parser *p, const char *label, unsigned first)
{
    return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                         "duplicate section %s (first at line %u)", label,
                         first);
}

int azr__cfg_open_node(azr_cfg_parser *p, const char *id)
{
    azr_config *cfg = p->cfg;
    char q[AZR_CFG_QUOTE_BUF], label[128];
    azr_cfg_node *node;
    azr_cfg_node_extra *nx;
    long dup;

    if (!azr__cfg_chars_valid(id, strlen(id), &azr__cfg_node_id_chars))
        return azr__cfg_perr(
            p, p->lineno, AZR_E_CONFIG,
            "bad node id '%s' (1 to 64 of A-Z a-z 0-9 . _ : -)",
            azr__cfg_quote(q, id));
    dup = azr__cfg_node_find(cfg, id);
    if (dup >= 0) {
        snprintf(label, sizeof label, "[node %.64s]", id);
        return azr__cfg_dup_section(p, label, cfg->nodes[dup].line);
    }
    if (cfg->n_nodes >= AZR_MAX_NODES)
        return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                             "too many nodes (max %d)", AZR_MAX_NODES);
    nx = azr__cfg_grow(p->nx, p->n_nx, sizeof *nx);
    if (nx == NULL)
        return azr__cfg_nomem(p);
    p->nx = nx;
    memset(&nx[p->n_nx], 0, sizeof *nx);
    p->n_nx++;
    node = azr__cfg_node_append(cfg);
    if (node == NULL)
        return azr__cfg_nomem(p);
    node->line = p->lineno;
    node->id = strdup(id);
    if (node->id == NULL)
        return azr__cfg_nomem(p);
    p->sec = SEC_NODE;
    p->sec_index = cfg->n_nodes - 1;
    return 1;
}

int azr__cfg_open_plugin_section(azr_cfg_parser *p, azr_cfg_sec_kind sec,
                                 const char *name)
{
    azr_config *cfg = p->cfg;
    azr_cfg_section_kind kind =
        sec == SEC_POLICY ? AZR_CFG_POLICY : AZR_CFG_TRANSPORT;
    const char *word = sec == SEC_POLICY ? "policy" : "transport";
    char q[AZR_CFG_QUOTE_BUF], label[128];
    azr_cfg_plugin_section *secs, *s;

    if (!azr__cfg_plugin_name_valid(name))
        return azr__cfg_perr(
            p, p->lineno, AZR_E_CONFIG,
            "bad plugin name '%s' in [%s ...] (" AZR_CFG_PLUGIN_NAME_RULE ")",
            azr__cfg_quote(q, name), word);
    for (size_t i = 0; i < cfg->n_sections; i++) {
        if (cfg->sections[i].kind == kind &&
            strcmp(cfg->sections[i].name, name) == 0) {
            snprintf(label, sizeof label, "[%s %s]", word,
                     azr__cfg_quote(q, name));
            return azr__cfg_dup_section(p, label, cfg->sections[i].line);
        }
    }
    if (cfg->n_sections >= CFG_SECTIONS_MAX)
        return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                             "too many [policy]/[transport] sections (max %d)",
                             CFG_SECTIONS_MAX);
    secs = azr__cfg_grow(cfg->sections, cfg->n_sections, sizeof *secs);
    if (secs == NULL)
        return azr__cfg_nomem(p);
    cfg->sections = secs;
    s = &secs[cfg->n_sections];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->line = p->lineno;
    s->name = strdup(name);
    if (s->name == NULL)
        return azr__cfg_nomem(p);
    cfg->n_sections++;
    p->sec = sec;
    p->sec_index = cfg->n_sections - 1;
    return 1;
}
