/*
 * cmd_topology.c - `azroute topology [--json]`: the node table as the
 * context holds it (as discovered under live topology): id, address,
 * role, AZ and where the AZ came from, same-AZ.
 */
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

static void print_json(azr_ctx *ctx, const azr_az_info *az)
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
        printf(",\"az_source\":\"%s\",\"same_az\":%s,\"shard\":null,"
               "\"slots\":[]}", azr_cli_az_source_name(n.az_source),
               n.same_az ? "true" : "false");
    }
    printf("]}\n");
}

static void print_text(azr_ctx *ctx, const azr_az_info *az)
{
    printf("mode: %s  table: %llu  az: %s\n", azr_topology_mode_name(ctx),
           (unsigned long long)azr_topology_generation(ctx),
           az->known ? az->az_id : "unknown");
    printf("%-24s %-22s %-8s %-12s %-8s %s\n", "ID", "ADDRESS", "ROLE", "AZ",
           "SOURCE", "SAME-AZ");
    for (size_t i = 0; i < azr_node_count(ctx); i++) {
        azr_node_info n;
        if (azr_node_get(ctx, i, &n) != AZR_OK || !n.present)
            continue;
        char addr[300];
        snprintf(addr, sizeof addr, strchr(n.host, ':') ? "[%s]:%u" : "%s:%u",
                 n.host, n.port);
        printf("%-24s %-22s %-8s %-12s %-8s %s\n", n.id, addr,
               azr_cli_role_name(n.role),
               n.az_source != AZR_NODE_AZ_UNKNOWN ? n.az_id : "-",
               azr_cli_az_source_name(n.az_source), n.same_az ? "yes" : "no");
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
    if (json)
        print_json(ctx, &az);
    else
        print_text(ctx, &az);
    return AZR_EXIT_OK;
}
