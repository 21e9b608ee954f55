/*
 * fuzz_nodes_env.c - libFuzzer target for the nodes_env parser
 * (azr__config_add_nodes_env in lib/config/nodes_env.c).
 *
 * For each input a small valid configuration is loaded (BASE_INI: two
 * [node] sections and an [az_map], so that duplicate ids against file
 * nodes and AZ-name mapping are reachable), then the input (cut at the
 * first NUL, as an environment variable would be) is added as a nodes_env
 * value. Then:
 *   - success: at least one node was appended, the file's nodes are
 *     untouched, every node satisfies what the loader guarantees (id, host,
 *     port 1..65535, weight >= 1, a valid resolved AZ ID, a role) and ids
 *     are unique;
 *   - failure: AZR_E_CONFIG or AZR_E_NOMEM, the node table is exactly as
 *     before the call (the contract: the table is left as it was), and the
 *     message is one line starting with the `where` prefix, with no control
 *     character.
 * The config is freed either way (ASan/LSan catch leaks of partial nodes).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <azroute/azroute.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

#define WHERE "fuzz.ini:3: nodes_env AZR_FUZZ_NODES"

static const char BASE_INI[] =
    "[azroute]\n"
    "policy = failover, same_az\n"
    "[az_map]\n"
    "us-east-1a = use1-az6\n"
    "us-east-1b = use1-az1\n"
    "ap-northeast-1a = apne1-az4\n"
    "[node file-1]\n"
    "host = 10.0.0.1\n"
    "port = 6379\n"
    "az = us-east-1a\n"
    "role = primary\n"
    "[node file-2]\n"
    "host = file-2.cache.example\n"
    "port = 6380\n"
    "az = use1-az1\n"
    "role = replica\n"
    "weight = 2\n";

static void check_node(const azr_cfg_node *n)
{
    CHECK(n->id != NULL && n->id[0] != '\0');
    CHECK(n->host != NULL && n->host[0] != '\0');
    CHECK(strlen(n->id) <= 64 && strlen(n->host) <= 253);
    CHECK(n->port >= 1 && n->port <= 65535);
    CHECK(n->az_id != NULL && azr__az_id_valid(n->az_id));
    if (n->az_name)
        CHECK(strlen(n->az_name) < 256);
    CHECK(n->role == AZR_ROLE_PRIMARY || n->role == AZR_ROLE_REPLICA);
    CHECK(n->weight >= 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *value = malloc(size + 1);
    if (!value)
        return 0;
    memcpy(value, data, size);
    value[size] = '\0';

    azr_config *cfg = NULL;
    char err[AZR_ERRBUF_SIZE];
    CHECK(azr__config_load_string(BASE_INI, "fuzz.ini", &cfg, err,
                                  sizeof err) == AZR_OK);
    size_t before = cfg->n_nodes;
    CHECK(before == 2);

    memset(err, 0, sizeof err);
    azr_code rc = azr__config_add_nodes_env(cfg, value, WHERE, err,
                                            sizeof err);
    if (rc == AZR_OK) {
        CHECK(cfg->n_nodes > before);
    } else {
        CHECK(rc == AZR_E_CONFIG || rc == AZR_E_NOMEM);
        CHECK(cfg->n_nodes == before);
        size_t n = strnlen(err, sizeof err);
        CHECK(n > 0 && n < sizeof err);
        CHECK(strncmp(err, WHERE, strlen(WHERE)) == 0);
        for (size_t i = 0; i < n; i++)
            CHECK((unsigned char)err[i] >= 0x20 &&
                  (unsigned char)err[i] != 0x7f);
    }
    CHECK(strcmp(cfg->nodes[0].id, "file-1") == 0);
    CHECK(strcmp(cfg->nodes[0].az_id, "use1-az6") == 0);
    CHECK(strcmp(cfg->nodes[1].id, "file-2") == 0);
    CHECK(cfg->nodes[1].weight == 2);
    for (size_t i = 0; i < cfg->n_nodes; i++) {
        check_node(&cfg->nodes[i]);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(cfg->nodes[i].id, cfg->nodes[j].id) != 0);
    }
    CHECK(cfg->n_az_map == 3);

    azr__config_free(cfg);
    free(value);
    return 0;
}
