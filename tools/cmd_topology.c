/*
 * cmd_topology.c - `azroute topology [--json]`: the node table as the
 * context holds it (as discovered under live topology): id, address,
 * role, AZ and where the AZ came from, same-AZ; in cluster mode each
 * node's shard and the shard's slot ranges.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

const char *azr_cli_az_source_name(azr_node_az_source source)
{
    switch (source) {
    case AZR_NODE_AZ_SERVER: return "server";
    case AZR_NODE_AZ_CONFIG: return "config";
    case AZR_NODE_AZ_AZ_MAP: return "az_map";
    default: return "unknown";
    }
}

/* The shard holding node `index`, or NULL. */
static const azr_shard_info *shard_of(const azr_shards *sh, size_t index)
{
    for (size_t k = 0; sh != NULL && k < sh->n_shards; k++)
        for (size_t j = 0; j < sh->shards[k].n_nodes; j++)
            if (sh->shards[k].nodes[j] == index)
                return &sh->shards[k];
    return NULL;
}

static void print_ranges_json(const azr_shard_info *s)
{
    printf("[");
    for (size_t r = 0; s != NULL && r < s->n_ranges; r++)
        printf("%s[%u,%u]", r ? "," : "", s->ranges[r].first,
               s->ranges[r].last);
    printf("]");
}

static void print_json(azr_ctx *ctx, const azr_az_info *az,
                       const azr_shards *shards)
{
    printf("{\"mode\":");
    azr_cli_json_string(azr_topology_mode_name(ctx));
    printf(",\"az_id\":");
    azr_cli_json_string(az->known ? az->az_id : NULL);
    printf(",\"generation\":%llu,\"nodes\":[",
           (unsigned long long)azr_topology_generation(ctx));
    int first = 1;
    for (size_t i = 0; i < azr_node_count(ctx); i++) {
        azr_node_info n;
        if (azr_node_get(ctx, i, &n) != AZR_OK || !n.present)
            continue;
        printf("%s{\"id\":", first ? "" : ",");
        first = 0;
        azr_cli_json_string(n.id);
        printf(",\"host\":");
        azr_cli_json_string(n.host);
        printf(",\"port\":%u,\"role\":\"%s\",\"az_id\":", n.port,
               azr_cli_role_name(n.role));
        azr_cli_json_string(n.az_source != AZR_NODE_AZ_UNKNOWN ? n.az_id
                                                               : NULL);
        printf(",\"az_source\":\"%s\",\"same_az\":%s,\"shard\":",
               azr_cli_az_source_name(n.az_source),
               n.same_az ? "true" : "false");
        const azr_shard_info *s = shard_of(shards, i);
        azr_cli_json_string(s != NULL ? s->id : NULL);
        printf(",\"slots\":");
        print_ranges_json(s);
        printf("}");
    }
    printf("]}\n");
}

/* Cluster: one line per shard, its primary and slot ranges. */
static void print_shards(azr_ctx *ctx, const azr_shards *shards)
{
    for (size_t k = 0; k < shards->n_shards; k++) {
        const azr_shard_info *s = &shards->shards[k];
        unsigned served = 0;
        for (size_t r = 0; r < s->n_ranges; r++)
            served += s->ranges[r].last - s->ranges[r].first + 1;
        azr_node_info p;
        int has_primary = s->primary != SIZE_MAX &&
                          azr_node_get(ctx, s->primary, &p) == AZR_OK;
        printf("shard %.12s  primary %s  %zu nodes  %u slots:", s->id,
               has_primary ? p.id : "none", s->n_nodes, served);
        for (size_t r = 0; r < s->n_ranges; r++)
            if (s->ranges[r].first == s->ranges[r].last)
                printf(" %u", s->ranges[r].first);
            else
                printf(" %u-%u", s->ranges[r].first, s->ranges[r].last);
        printf("\n");
    }
}

static void print_text(azr_ctx *ctx, const azr_az_info *az,
                       const azr_shards *shards)
{
    printf("mode: %s  table: %llu  az: %s\n", azr_topology_mode_name(ctx),
           (unsigned long long)azr_topology_generation(ctx),
           az->known ? az->az_id : "unknown");
    int cluster = shards != NULL && shards->n_shards > 0;
    if (cluster)
        print_shards(ctx, shards);
    printf("%-24s %-22s %-8s %-12s %-8s %s\n", "ID", "ADDRESS", "ROLE", "AZ",
           "SOURCE", cluster ? "SAME-AZ SHARD" : "SAME-AZ");
    for (size_t i = 0; i < azr_node_count(ctx); i++) {
        azr_node_info n;
        if (azr_node_get(ctx, i, &n) != AZR_OK || !n.present)
            continue;
        char addr[300];
        snprintf(addr, sizeof addr, strchr(n.host, ':') ? "[%s]:%u" : "%s:%u",
                 n.host, n.port);
        const azr_shard_info *s = shard_of(shards, i);
        printf("%-24s %-22s %-8s %-12s %-8s ", n.id, addr,
               azr_cli_role_name(n.role),
               n.az_source != AZR_NODE_AZ_UNKNOWN ? n.az_id : "-",
               azr_cli_az_source_name(n.az_source));
        if (cluster)
            printf("%-7s %.12s\n", n.same_az ? "yes" : "no",
                   s != NULL ? s->id : "-");
        else
            printf("%s\n", n.same_az ? "yes" : "no");
    }
}

int azr_cli_topology(azr_ctx *ctx, int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else {
            azr_cli_error("topology: unknown argument '%s' (usage: topology "
                          "[--json])", argv[i]);
            return AZR_EXIT_USAGE;
        }
    }
    azr_az_info az;
    azr_az_info_get(ctx, &az);
    azr_shards *shards = NULL;
    if (azr_shards_get(ctx, &shards) != AZR_OK) {
        azr_cli_error("topology: out of memory");
        return AZR_EXIT_RUNTIME;
    }
    if (json)
        print_json(ctx, &az, shards);
    else
        print_text(ctx, &az, shards);
    azr_shards_free(shards);
    return AZR_EXIT_OK;
}
