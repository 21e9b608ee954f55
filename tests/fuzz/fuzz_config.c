/*
 * fuzz_config.c - libFuzzer target for the azroute.ini loader
 * (azr__config_load_string in lib/config/, with nodes_env).
 *
 * Input: the file's contents (cut at the first NUL, as a file read into a C
 * string would be). Each input is loaded, and then either
 *   - the load succeeded: every invariant the rest of the library relies on
 *     is checked on the result (nodes have an id, a host, a port in range, a
 *     weight >= 1, a valid resolved AZ ID; az_map entries map to valid IDs;
 *     chain entries, sections and options are non-NULL and counted right;
 *     numeric settings are in their documented ranges), every string is
 *     read in full, and the config is freed; or
 *   - it failed: the code is AZR_E_CONFIG or AZR_E_NOMEM, no config was
 *     returned, and the message is one non-empty line that names the file
 *     ("fuzz.ini...") and holds no control character.
 * The same text is loaded a second time and must give the same verdict and
 * message: the loader keeps no state between loads.
 *
 * nodes_env: a config may name a variable; AZR_FUZZ_NODES is set to a
 * valid list (see LLVMFuzzerInitialize) so that the seeds can reach the
 * nodes_env path through the file as well.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <azroute/azroute.h>

#include "config/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

/* Reads every byte of s (so ASan sees an overread) and returns its length. */
static size_t touch(const char *s)
{
    CHECK(s != NULL);
    size_t n = strlen(s);
    volatile unsigned char sink = 0;
    for (size_t i = 0; i < n; i++)
        sink ^= (unsigned char)s[i];
    (void)sink;
    return n;
}

static void check_message(const char *err, size_t errlen, int names_file)
{
    size_t n = strnlen(err, errlen);
    CHECK(n > 0 && n < errlen);
    if (names_file)
        CHECK(strncmp(err, "fuzz.ini", 8) == 0);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)err[i];
        CHECK(c >= 0x20 && c != 0x7f);
    }
}

static void check_config(const azr_config *cfg)
{
    CHECK(cfg->path != NULL && strcmp(cfg->path, "fuzz.ini") == 0);
    CHECK(cfg->n_policy >= 1 && cfg->policy != NULL);
    for (size_t i = 0; i < cfg->n_policy; i++)
        CHECK(touch(cfg->policy[i]) > 0);
    if (cfg->transport)
        CHECK(touch(cfg->transport) > 0);
    if (cfg->plugin_dir)
        CHECK(touch(cfg->plugin_dir) > 0);
    if (cfg->nodes_env)
        touch(cfg->nodes_env);
    CHECK(cfg->max_attempts >= 1 && cfg->max_attempts <= 16);
    CHECK(cfg->md_source >= AZR_MD_AUTO && cfg->md_source <= AZR_MD_NONE);
    CHECK(cfg->md_timeout_ms >= 1 && cfg->md_timeout_ms <= 60000);
    if (cfg->md_az_id)
        CHECK(azr__az_id_valid(cfg->md_az_id));
    if (cfg->md_source == AZR_MD_STATIC)
        CHECK(cfg->md_az_id != NULL);
    if (cfg->md_cache_file)
        touch(cfg->md_cache_file);

    CHECK(cfg->n_az_map == 0 || cfg->az_map != NULL);
    for (size_t i = 0; i < cfg->n_az_map; i++) {
        const azr_cfg_az_map_entry *m = &cfg->az_map[i];
        CHECK(touch(m->name) > 0);
        CHECK(azr__az_id_valid(m->id));
        CHECK(azr__config_map_az(cfg, m->name) != NULL);
    }

    int is_static = cfg->topo_mode == AZR_TOPO_STATIC;
    CHECK(cfg->topo_mode == AZR_TOPO_STATIC ||
          cfg->topo_mode == AZR_TOPO_REPLICATION ||
          cfg->topo_mode == AZR_TOPO_CLUSTER);
    CHECK(cfg->refresh_ms <= 86400000u && cfg->failover_wait_ms <= 60000u);
    CHECK(cfg->n_seeds <= AZR_MAX_NODES);
    CHECK(cfg->n_seeds == 0 || (cfg->seeds != NULL && !is_static));
    for (size_t i = 0; i < cfg->n_seeds; i++) {
        size_t n = touch(cfg->seeds[i].host);
        CHECK(n >= 1 && n <= 253);
        CHECK(cfg->seeds[i].port >= 1 && cfg->seeds[i].port <= 65535);
    }
    if (!is_static)
        CHECK(cfg->transport != NULL);

    /* static: nodes to route to; the other modes: somewhere to start */
    CHECK(cfg->n_nodes >= 1 || (!is_static && cfg->n_seeds >= 1));
    CHECK(cfg->n_nodes == 0 || cfg->nodes != NULL);
    for (size_t i = 0; i < cfg->n_nodes; i++) {
        const azr_cfg_node *n = &cfg->nodes[i];
        CHECK(touch(n->id) > 0);
        CHECK(touch(n->host) > 0);
        CHECK(n->port >= 1 && n->port <= 65535);
        /* outside static mode a node is a hint and its AZ may be unknown */
        CHECK(n->az_id != NULL ? azr__az_id_valid(n->az_id) : !is_static);
        if (n->az_name)
            touch(n->az_name);
        CHECK(n->has_role == is_static);
        CHECK(n->role == AZR_ROLE_PRIMARY || n->role == AZR_ROLE_REPLICA);
        CHECK(n->weight >= 1);
        /* ids are unique */
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(cfg->nodes[j].id, n->id) != 0);
    }

    CHECK(cfg->n_sections == 0 || cfg->sections != NULL);
    for (size_t i = 0; i < cfg->n_sections; i++) {
        azr_cfg_plugin_section *s = &cfg->sections[i];
        CHECK(s->kind == AZR_CFG_POLICY || s->kind == AZR_CFG_TRANSPORT);
        CHECK(touch(s->name) > 0);
        CHECK(s->n_options == 0 || s->options != NULL);
        for (size_t k = 0; k < s->n_options; k++) {
            CHECK(touch(s->options[k].key) > 0);
            touch(s->options[k].value);
        }
        CHECK(azr__config_section((azr_config *)cfg, s->kind, s->name) !=
              NULL);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("AZR_FUZZ_NODES",
           "env-1|10.0.0.1|6379|use1-az1||primary,"
           "env-2|cache.example|6380||us-east-1b|replica", 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    char err[AZR_ERRBUF_SIZE], err2[AZR_ERRBUF_SIZE];
    memset(err, 0, sizeof err);
    memset(err2, 0, sizeof err2);
    azr_config *cfg = (azr_config *)&err; /* must be overwritten */
    azr_code rc = azr__config_load_string(text, "fuzz.ini", &cfg, err,
                                          sizeof err);
    if (rc == AZR_OK) {
        CHECK(cfg != NULL);
        check_config(cfg);
        azr__config_free(cfg);
    } else {
        CHECK(rc == AZR_E_CONFIG || rc == AZR_E_NOMEM);
        CHECK(cfg == NULL);
        check_message(err, sizeof err, rc == AZR_E_CONFIG);
    }

    /* Same text, same verdict, same message. */
    azr_config *cfg2 = NULL;
    azr_code rc2 = azr__config_load_string(text, "fuzz.ini", &cfg2, err2,
                                           sizeof err2);
    CHECK(rc2 == rc);
    if (rc2 == AZR_OK)
        azr__config_free(cfg2);
    else if (rc2 == AZR_E_CONFIG)
        CHECK(strcmp(err, err2) == 0);

    free(text);
    return 0;
}
