/*
 * config_check.c - what azroute.ini's loader checks once the whole file is
 * read: [az_map] may follow the [node] sections that use it, [azroute]
 * policy may follow [policy NAME], and [topology] may follow the [node]
 * sections whose rules its mode decides. Each check reports its first
 * problem and the earliest line wins. Then nodes_env is read, and a
 * configuration without nodes (static mode) or without nodes and seeds
 * (the other modes) is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_parse.h"

static const char *const default_policy[] = {
    "failover", "same_az", "weighted_latency"
};

/* The first key a [node] section lacks, or NULL. Static mode: host, port,
 * az (or az_id) and role. Other modes: host and port (the node is a hint;
 * the servers report roles, and its AZ may be unknown). */
static const char *node_missing(const azr_cfg_parser *p,
                                const azr_cfg_node_extra *x)
{
    int is_static = p->cfg->topo_mode == AZR_TOPO_STATIC;

    if (x->key_line[KN_HOST] == 0)
        return "'host'";
    if (x->key_line[KN_PORT] == 0)
        return "'port'";
    if (is_static && x->key_line[KN_AZ] == 0 && x->key_line[KN_AZ_ID] == 0)
        return "'az' (or 'az_id')";
    if (is_static && x->key_line[KN_ROLE] == 0)
        return "'role'";
    return NULL;
}

/* Every [node] section has the keys its mode requires (node_missing), no
 * role outside static mode, and its AZ, when given, resolves: [az_map] may
 * come after the node. */
static void check_nodes(azr_cfg_parser *p)
{
    azr_config *cfg = p->cfg;
    char q[AZR_CFG_QUOTE_BUF], msg[AZR_ERRBUF_SIZE];

    for (size_t i = 0; i < p->n_nx; i++) {
        azr_cfg_node *node = &cfg->nodes[i];
        azr_cfg_node_extra *x = &p->nx[i];
        const char *missing = node_missing(p, x);
        azr_code rc;

        if (missing != NULL) {
            azr__cfg_perr(p, node->line, AZR_E_CONFIG,
                          "[node %s]: missing key %s",
                          azr__cfg_quote(q, node->id), missing);
            return;
        }
        if (cfg->topo_mode != AZR_TOPO_STATIC && x->key_line[KN_ROLE] != 0) {
            azr__cfg_perr(p, x->key_line[KN_ROLE], AZR_E_CONFIG,
                          "[node %s]: role is learned from the servers in "
                          "mode = %s; remove it", azr__cfg_quote(q, node->id),
                          azr__cfg_topo_mode_name(cfg->topo_mode));
            return;
        }
        if (x->key_line[KN_AZ] == 0 && x->key_line[KN_AZ_ID] == 0)
            continue; /* no AZ hint (not static: node_missing) */
        rc = azr__cfg_resolve_az(cfg, node, x->az, msg, sizeof msg);
        if (rc != AZR_OK) {
            azr__cfg_perr(p, x->key_line[KN_AZ] != 0 ? x->key_line[KN_AZ]
                                                       : x->key_line[KN_AZ_ID],
                          rc, "%s", msg);
            return;
        }
    }
}

/* The [topology] keys agree with the mode: static mode discovers nothing,
 * so the discovery keys are mistakes there; the other modes talk to the
 * servers, so they need a transport. */
static void check_topology(azr_cfg_parser *p)
{
    static const int discovery_keys[] = {
        KT_SEEDS, KT_REFRESH_MS, KT_FAILOVER_WAIT_MS
    };
    static const char *const discovery_names[] = {
        "seeds", "refresh_ms", "failover_wait_ms"
    };
    azr_config *cfg = p->cfg;

    if (cfg->topo_mode == AZR_TOPO_STATIC) {
        for (size_t i = 0; i < sizeof discovery_keys / sizeof *discovery_keys;
             i++) {
            unsigned line = p->topology_key_line[discovery_keys[i]];
            if (line != 0)
                azr__cfg_perr(p, line, AZR_E_CONFIG,
                              "%s needs mode = replication or cluster",
                              discovery_names[i]);
        }
        return;
    }
    if (cfg->transport == NULL)
        azr__cfg_perr(p, p->topology_key_line[KT_MODE], AZR_E_CONFIG,
                      "mode = %s needs a transport ([azroute] transport = "
                      "resp_tls)", azr__cfg_topo_mode_name(cfg->topo_mode));
}

/* [metadata] az_id and source agree (az_id under source = auto means
 * static). */
static void check_metadata(azr_cfg_parser *p)
{
    azr_config *cfg = p->cfg;

    if (cfg->md_az_id != NULL) {
        if (cfg->md_source == AZR_MD_AUTO) {
            /* A fixed ID under source = auto means static. */
            cfg->md_source = AZR_MD_STATIC;
        } else if (cfg->md_source != AZR_MD_STATIC) {
            azr__cfg_perr(p, p->metadata_key_line[KM_AZ_ID], AZR_E_CONFIG,
                          "az_id needs source = static or auto (source is %s)",
                          azr__cfg_md_source_name(cfg->md_source));
        }
    } else if (cfg->md_source == AZR_MD_STATIC) {
        azr__cfg_perr(p, p->metadata_key_line[KM_SOURCE], AZR_E_CONFIG,
                      "source = static needs az_id");
    }
}

/* Every [policy NAME] configures a plugin of the chain and every
 * [transport NAME] the transport, each plugin by one section only. */
static void check_sections(azr_cfg_parser *p)
{
    azr_config *cfg = p->cfg;
    char q1[AZR_CFG_QUOTE_BUF], q2[AZR_CFG_QUOTE_BUF];

    for (size_t i = 0; i < cfg->n_sections; i++) {
        azr_cfg_plugin_section *s = &cfg->sections[i];
        const char *entry = NULL;

        if (s->kind == AZR_CFG_POLICY) {
            for (size_t j = 0; j < cfg->n_policy && entry == NULL; j++)
                if (azr__cfg_section_matches(s->name, cfg->policy[j]))
                    entry = cfg->policy[j];
            if (entry == NULL) {
                azr__cfg_perr(p, s->line, AZR_E_CONFIG,
                              "[policy %s]: '%s' is not in the policy chain",
                              azr__cfg_quote(q1, s->name),
                              azr__cfg_quote(q2, s->name));
                return;
            }
        } else {
            if (cfg->transport == NULL) {
                azr__cfg_perr(p, s->line, AZR_E_CONFIG,
                              "[transport %s]: no transport is configured "
                              "([azroute] transport)",
                              azr__cfg_quote(q1, s->name));
                return;
            }
            if (!azr__cfg_section_matches(s->name, cfg->transport)) {
                azr__cfg_perr(p, s->line, AZR_E_CONFIG,
                              "[transport %s]: the transport is '%s'",
                              azr__cfg_quote(q1, s->name),
                              azr__cfg_quote(q2, cfg->transport));
                return;
            }
            entry = cfg->transport;
        }
        /* "[policy /p/x.so]" and "[policy x]" would both configure it. */
        for (size_t j = 0; j < i; j++) {
            const azr_cfg_plugin_section *o = &cfg->sections[j];
            if (o->kind == s->kind &&
                azr__cfg_section_matches(o->name, entry)) {
                azr__cfg_perr(
                    p, s->line, AZR_E_CONFIG,
                    "[%s %s]: plugin already configured by the section at "
                    "line %u",
                    s->kind == AZR_CFG_POLICY ? "policy" : "transport",
                    azr__cfg_quote(q1, s->name), o->line);
                return;
            }
        }
    }
}

/* The chain when [azroute] policy is not given. Returns 0 once an error is
 * recorded. */
static int set_default_policy(azr_cfg_parser *p)
{
    azr_config *cfg = p->cfg;
    size_t n = sizeof default_policy / sizeof *default_policy;

    cfg->policy = calloc(n, sizeof *cfg->policy);
    if (cfg->policy == NULL)
        return azr__cfg_nomem(p);
    for (; cfg->n_policy < n; cfg->n_policy++) {
        cfg->policy[cfg->n_policy] = strdup(default_policy[cfg->n_policy]);
        if (cfg->policy[cfg->n_policy] == NULL)
            return azr__cfg_nomem(p);
    }
    return 1;
}

/* Appends the nodes of the nodes_env variable (nodes_env.c); its errors
 * carry the line of the nodes_env key. */
static void read_nodes_env(azr_cfg_parser *p)
{
    azr_config *cfg = p->cfg;
    unsigned line = cfg->nodes_env_line;
    char where[AZR_ERRBUF_SIZE], msg[AZR_ERRBUF_SIZE];
    const char *value = getenv(cfg->nodes_env);
    const char *v = value;
    azr_code rc;

    if (value == NULL) {
        azr__cfg_perr(p, line, AZR_E_CONFIG, "nodes_env %s is not set",
                      cfg->nodes_env);
        return;
    }
    while (azr__cfg_is_blank(*v))
        v++;
    if (*v == '\0') {
        azr__cfg_perr(p, line, AZR_E_CONFIG, "nodes_env %s is empty",
                      cfg->nodes_env);
        return;
    }
    /* add_nodes_env formats "WHERE entry N: ..." itself; pass it the whole
     * "FILE:LINE: nodes_env VAR" prefix and copy its message through. */
    snprintf(where, sizeof where, "%s:%u: nodes_env %s", p->name, line,
             cfg->nodes_env);
    rc = azr__config_add_nodes_env(cfg, value, where, msg, sizeof msg);
    if (rc != AZR_OK) {
        p->has_err = 1;
        p->err_line = line;
        p->code = rc;
        azr__cfg_err(p->err, p->errlen, rc, "%s", msg);
    }
}

int azr__cfg_check(azr_cfg_parser *p)
{
    azr_config *cfg = p->cfg;

    if (!p->has_err && cfg->n_policy == 0)
        set_default_policy(p);
    if (!p->has_err) {
        /* Each reports its first problem; the earliest line wins. */
        check_sections(p);
        check_metadata(p);
        check_topology(p);
        check_nodes(p);
    }
    if (!p->has_err && cfg->nodes_env != NULL)
        read_nodes_env(p);
    if (!p->has_err && cfg->n_nodes == 0 &&
        cfg->topo_mode == AZR_TOPO_STATIC)
        azr__cfg_perr(p, 0, AZR_E_CONFIG,
                      "no nodes configured ([node NAME] sections or "
                      "nodes_env)");
    /* The other modes discover the nodes, starting from either. */
    if (!p->has_err && cfg->n_nodes == 0 && cfg->n_seeds == 0)
        azr__cfg_perr(p, 0, AZR_E_CONFIG,
                      "mode = %s needs seeds or [node] sections",
                      azr__cfg_topo_mode_name(cfg->topo_mode));
    return !p->has_err;
}
