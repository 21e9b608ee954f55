/*
 * cmd_route.c - the commands that need no transport: az, check, plugins,
 * pick.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int no_arguments(int argc, char **argv)
{
    if (argc > 1) {
        azr_cli_error("%s: unexpected argument '%s'", argv[0], argv[1]);
        return 0;
    }
    return 1;
}

int azr_cli_az(azr_ctx *ctx, int argc, char **argv)
{
    if (!no_arguments(argc, argv))
        return AZR_EXIT_USAGE;
    azr_az_info info;
    azr_az_info_get(ctx, &info);
    if (!info.known) {
        azr_cli_error("AZ ID unknown (source %s): %s",
                      azr_az_source_name(info.source), info.reason);
        return AZR_EXIT_RUNTIME;
    }
    printf("%s\n", info.az_id);
    if (azr_cli.verbose) {
        printf("source: %s\n", azr_az_source_name(info.source));
        if (info.source != AZR_AZ_SOURCE_STATIC) {
            printf("fetch: %.3f ms%s\n", info.fetch_ms,
                   info.from_cache ? " (served from the process cache)" : "");
            if (info.expires_in_s < 0)
                printf("cache: kept for the process lifetime\n");
            else
                printf("cache: expires in %lld s\n",
                       (long long)info.expires_in_s);
        }
    }
    return AZR_EXIT_OK;
}

static const char *role_name(azr_role role)
{
    return role == AZR_ROLE_PRIMARY ? "primary" : "replica";
}

int azr_cli_check(azr_ctx *ctx, int argc, char **argv)
{
    if (!no_arguments(argc, argv))
        return AZR_EXIT_USAGE;
    azr_az_info az;
    azr_az_info_get(ctx, &az);
    printf("config: %s\n", azr_cli.config_path);
    if (az.known)
        printf("az: %s (%s)\n", az.az_id, azr_az_source_name(az.source));
    else
        printf("az: unknown (%s)\n", az.reason);

    const char *transport = "none";
    printf("chain:");
    int first = 1;
    for (size_t i = 0; i < azr_plugin_count(ctx); i++) {
        azr_plugin_info p;
        azr_plugin_get(ctx, i, &p);
        if (p.in_chain >= 0) {
            printf("%s%s", first ? " " : " -> ", p.name);
            first = 0;
        } else {
            transport = p.name;
        }
    }
    printf("\ntransport: %s\n", transport);

    /* Static: the file's table, as always. Live: the nodes discovered,
     * each AZ with its source. */
    int live = strcmp(azr_topology_mode_name(ctx), "static") != 0;
    size_t n = 0, count = azr_node_count(ctx);
    for (size_t i = 0; i < count; i++) {
        azr_node_info node;
        n += azr_node_get(ctx, i, &node) == AZR_OK && node.present;
    }
    if (live)
        printf("topology: %s (table %llu)\n", azr_topology_mode_name(ctx),
               (unsigned long long)azr_topology_generation(ctx));
    printf("nodes: %zu%s\n", n, live ? " discovered" : "");
    for (size_t i = 0; i < count; i++) {
        azr_node_info node;
        if (azr_node_get(ctx, i, &node) != AZR_OK || !node.present)
            continue;
        if (live) {
            printf("  %-24s %s:%u  az %s (%s)  %s%s\n", node.id, node.host,
                   node.port, node.az_id[0] ? node.az_id : "unknown",
                   azr_cli_az_source_name(node.az_source),
                   role_name(node.role), node.same_az ? "  same-AZ" : "");
            continue;
        }
        printf("  %-24s %s:%u  az %s%s%s%s  %s  weight %u%s\n", node.id,
               node.host, node.port, node.az_id,
               node.az_name != NULL ? " (" : "",
               node.az_name != NULL ? node.az_name : "",
               node.az_name != NULL ? ")" : "", role_name(node.role),
               node.weight, node.same_az ? "  same-AZ" : "");
    }
    return AZR_EXIT_OK;
}

int azr_cli_plugins(azr_ctx *ctx, int argc, char **argv)
{
    if (!no_arguments(argc, argv))
        return AZR_EXIT_USAGE;
    printf("%-20s %-10s %-5s %-10s %s\n", "NAME", "KIND", "ABI", "VERSION",
           "FILE");
    for (size_t i = 0; i < azr_plugin_count(ctx); i++) {
        azr_plugin_info p;
        azr_plugin_get(ctx, i, &p);
        char abi[16];
        snprintf(abi, sizeof abi, "%u.%u", p.abi_major, p.abi_minor);
        printf("%-20s %-10s %-5s %-10s %s\n", p.name, p.kind, abi,
               p.version[0] != '\0' ? p.version : "-", p.path);
    }
    return AZR_EXIT_OK;
}

int azr_cli_pick(azr_ctx *ctx, int argc, char **argv)
{
    azr_intent intent = AZR_INTENT_READ;
    unsigned long count = 1;
    const char *key = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--key") == 0) {
            if (i + 1 >= argc) {
                azr_cli_error("pick --key: expected a key");
                return AZR_EXIT_USAGE;
            }
            key = argv[++i];
        } else if (strcmp(argv[i], "--read") == 0) {
            intent = AZR_INTENT_READ;
        } else if (strcmp(argv[i], "--write") == 0) {
            intent = AZR_INTENT_WRITE;
        } else if (strcmp(argv[i], "-n") == 0) {
            if (!azr_cli_parse_count("pick -n", i + 1 < argc ? argv[++i]
                                                             : NULL,
                                     100000000ul, &count))
                return AZR_EXIT_USAGE;
        } else {
            azr_cli_error("pick: unknown argument '%s' (usage: pick "
                          "[--read|--write] [--key KEY] [-n N])", argv[i]);
            return AZR_EXIT_USAGE;
        }
    }

    /* By node index; under live topology nodes may join during the run. */
    unsigned long *hits = calloc(AZR_MAX_NODES, sizeof *hits);
    if (hits == NULL) {
        azr_cli_error("pick: out of memory");
        return AZR_EXIT_RUNTIME;
    }
    int status = AZR_EXIT_OK;
    size_t node = 0;
    for (unsigned long k = 0; k < count; k++) {
        azr_code rc = key != NULL
                          ? azr_pick_key(ctx, intent, key, strlen(key), &node)
                          : azr_pick(ctx, intent, &node);
        if (rc != AZR_OK) {
            if (rc == AZR_E_NO_NODE && intent == AZR_INTENT_WRITE)
                azr_cli_error("pick: no node available for a write (writes "
                              "go to primaries only; is there a primary "
                              "that the chain keeps?)");
            else
                azr_cli_error("pick: %s", azr_strerror(rc));
            status = AZR_EXIT_RUNTIME;
            break;
        }
        hits[node]++;
    }
    if (status == AZR_EXIT_OK) {
        azr_node_info info;
        if (count == 1) {
            azr_node_get(ctx, node, &info);
            printf("%s\n", info.id);
        } else {
            for (size_t i = 0; i < azr_node_count(ctx); i++)
                if (azr_node_get(ctx, i, &info) == AZR_OK &&
                    (info.present || hits[i] > 0))
                    printf("%-24s %lu\n", info.id, hits[i]);
        }
    }
    free(hits);
    return status;
}
