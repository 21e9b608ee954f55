/*
 * cmd_probe.c - `azroute probe [-n N] [--json]`: PINGs every node N times
 * (default 50, after one uncounted warm-up) over its own connection,
 * bypassing the policies, and prints per-node and same-AZ vs cross-AZ
 * latency, and the bytes each node moved. Exit 1 if any PING failed.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define PROBE_DEFAULT_N 50
#define COUNT_MAX 100000000ul

typedef struct probe_node {
    azr_node_info info;
    uint64_t *samples;
    size_t n_ok;
    unsigned long errors;
    azr_cli_latency s;
    uint64_t bytes_sent, bytes_received; /* RESP bytes of this probe */
} probe_node;

/* PINGs one node `count` times over its own connection, after one
 * uncounted warm-up PING that absorbs the connection's first-use costs
 * (TLS 1.3 session tickets, server-side client setup), so the numbers are
 * steady-state round trips. A broken connection is reopened; a node that
 * cannot be reached counts every remaining PING as an error (no waiting
 * out the timeout N times). */
static void probe_one(azr_ctx *ctx, probe_node *pn, unsigned long count)
{
    static const char *const ping[] = { "PING" };
    const azr_command cmd = { .argc = 1, .argv = ping };
    azr_conn *conn = NULL;
    char err[AZR_ERRBUF_SIZE];
    const char *first_error = NULL;
    char saved[AZR_ERRBUF_SIZE];

    if (azr_connect_node(ctx, pn->info.index, &conn, err) != AZR_OK) {
        pn->errors = count;
        azr_cli_error("probe: %s", err);
        return;
    }
    azr_reply *warm = NULL;
    if (azr_conn_command(conn, &cmd, &warm, err) != AZR_OK) {
        azr_conn_close(conn); /* broken: the loop reconnects */
        conn = NULL;
    }
    azr_reply_free(warm);
    for (unsigned long k = 0; k < count; k++) {
        if (conn == NULL &&
            azr_connect_node(ctx, pn->info.index, &conn, err) != AZR_OK) {
            pn->errors += count - k;
            snprintf(saved, sizeof saved, "%s", err);
            first_error = first_error != NULL ? first_error : saved;
            break;
        }
        azr_reply *reply = NULL;
        uint64_t t0 = azr_cli_now_ns();
        azr_code rc = azr_conn_command(conn, &cmd, &reply, err);
        uint64_t t1 = azr_cli_now_ns();
        if (rc == AZR_OK && reply->type != AZR_REPLY_ERROR) {
            pn->samples[pn->n_ok++] = t1 - t0;
        } else {
            pn->errors++;
            if (first_error == NULL) {
                if (rc == AZR_OK)
                    snprintf(saved, sizeof saved, "node %s: PING: %s",
                             pn->info.id, reply->str);
                else
                    snprintf(saved, sizeof saved, "%s", err);
                first_error = saved;
            }
            if (rc != AZR_OK) {
                azr_conn_close(conn);
                conn = NULL;
            }
        }
        azr_reply_free(reply);
    }
    azr_conn_close(conn);
    if (first_error != NULL)
        azr_cli_error("probe: %s", first_error);
}

static void probe_print_table(const azr_az_info *az, const probe_node *pn,
                              size_t n, unsigned long count,
                              const azr_cli_latency *same,
                              const azr_cli_latency *cross)
{
    int idw = 4, azw = 2;
    for (size_t i = 0; i < n; i++) {
        int l = (int)strlen(pn[i].info.id);
        idw = l > idw ? l : idw;
        l = (int)strlen(pn[i].info.az_id);
        azw = l > azw ? l : azw;
    }
    if (az->known)
        printf("caller AZ: %s (%s); %lu PINGs per node\n", az->az_id,
               azr_az_source_name(az->source), count);
    else
        printf("caller AZ: unknown (%s); %lu PINGs per node\n",
               az->reason[0] != '\0' ? az->reason : "no source",
               count);
    printf("%-*s  %-*s  %-7s  %-7s  %8s  %8s  %8s  %8s  %6s  %9s  %9s\n",
           idw, "NODE", azw, "AZ", "ROLE", "SAME-AZ", "AVG ms", "P50 ms",
           "MIN ms", "MAX ms", "ERRORS", "BYTES OUT", "BYTES IN");
    for (size_t i = 0; i < n; i++) {
        const probe_node *p = &pn[i];
        printf("%-*s  %-*s  %-7s  %-7s  ", idw, p->info.id, azw,
               p->info.az_id, azr_cli_role_name(p->info.role),
               p->info.same_az ? "yes" : "no");
        if (p->n_ok > 0)
            printf("%8.3f  %8.3f  %8.3f  %8.3f", p->s.avg, p->s.p50,
                   p->s.min, p->s.max);
        else
            printf("%8s  %8s  %8s  %8s", "-", "-", "-", "-");
        printf("  %6lu  %9llu  %9llu\n", p->errors,
               (unsigned long long)p->bytes_sent,
               (unsigned long long)p->bytes_received);
    }
    if (same->n > 0)
        printf("same-AZ average: %.3f ms", same->avg);
    else
        printf("same-AZ average: - (no same-AZ node answered)");
    if (cross->n > 0)
        printf("; cross-AZ average: %.3f ms", cross->avg);
    else
        printf("; cross-AZ average: - (no cross-AZ node answered)");
    if (same->n > 0 && cross->n > 0 && same->avg > 0)
        printf("; cross-AZ/same-AZ ratio: %.2fx", cross->avg / same->avg);
    printf("\n");
}

static void probe_print_json(const azr_az_info *az, const probe_node *pn,
                             size_t n, const azr_cli_latency *same,
                             const azr_cli_latency *cross)
{
    fputs("{\"az_id\":", stdout);
    azr_cli_json_string(az->known ? az->az_id : NULL);
    fputs(",\"nodes\":[", stdout);
    for (size_t i = 0; i < n; i++) {
        const probe_node *p = &pn[i];
        int have = p->n_ok > 0;
        fputs(i > 0 ? ",{\"id\":" : "{\"id\":", stdout);
        azr_cli_json_string(p->info.id);
        fputs(",\"az_id\":", stdout);
        azr_cli_json_string(p->info.az_id);
        fputs(",\"role\":", stdout);
        azr_cli_json_string(azr_cli_role_name(p->info.role));
        printf(",\"same_az\":%s,\"avg_ms\":", p->info.same_az ? "true"
                                                              : "false");
        azr_cli_json_ms(have, p->s.avg);
        fputs(",\"p50_ms\":", stdout);
        azr_cli_json_ms(have, p->s.p50);
        fputs(",\"min_ms\":", stdout);
        azr_cli_json_ms(have, p->s.min);
        fputs(",\"max_ms\":", stdout);
        azr_cli_json_ms(have, p->s.max);
        printf(",\"errors\":%lu,\"bytes_sent\":%llu,\"bytes_received\":"
               "%llu}", p->errors, (unsigned long long)p->bytes_sent,
               (unsigned long long)p->bytes_received);
    }
    fputs("],\"same_az_avg_ms\":", stdout);
    azr_cli_json_ms(same->n > 0, same->avg);
    fputs(",\"cross_az_avg_ms\":", stdout);
    azr_cli_json_ms(cross->n > 0, cross->avg);
    fputs("}\n", stdout);
}

int azr_cli_probe(azr_ctx *ctx, int argc, char **argv)
{
    unsigned long count = PROBE_DEFAULT_N;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "-n") == 0) {
            if (!azr_cli_parse_count("probe -n", i + 1 < argc ? argv[++i]
                                                              : NULL,
                                     COUNT_MAX, &count))
                return AZR_EXIT_USAGE;
        } else {
            azr_cli_error("probe: unknown argument '%s' (usage: probe "
                          "[-n N] [--json])", argv[i]);
            return AZR_EXIT_USAGE;
        }
    }
    if (!azr_cli_has_transport(ctx, argv[0]))
        return AZR_EXIT_USAGE;

    /* The nodes in the group now (under live topology, nodes that left
     * keep their index but are not probed). */
    size_t count_all = azr_node_count(ctx), n = 0;
    probe_node *pn = calloc(count_all > 0 ? count_all : 1, sizeof *pn);
    for (size_t i = 0; pn != NULL && i < count_all; i++)
        if (azr_node_get(ctx, i, &pn[n].info) == AZR_OK && pn[n].info.present)
            n++;
    uint64_t *same_v = malloc(n * count * sizeof *same_v);
    uint64_t *cross_v = malloc(n * count * sizeof *cross_v);
    int status = AZR_EXIT_OK;
    azr_stats *before = NULL, *after = NULL;
    if (pn == NULL || same_v == NULL || cross_v == NULL) {
        azr_cli_error("probe: out of memory");
        status = AZR_EXIT_RUNTIME;
        goto out;
    }
    /* Only node i moves bytes while it is probed: one snapshot before
     * and one after the loop give each node's probe bytes. */
    azr_stats_get(ctx, &before);
    size_t n_same = 0, n_cross = 0;
    for (size_t i = 0; i < n; i++) {
        pn[i].samples = malloc(count * sizeof *pn[i].samples);
        if (pn[i].samples == NULL) {
            azr_cli_error("probe: out of memory");
            status = AZR_EXIT_RUNTIME;
            goto out;
        }
        probe_one(ctx, &pn[i], count);
        uint64_t *dst = pn[i].info.same_az ? same_v + n_same
                                           : cross_v + n_cross;
        memcpy(dst, pn[i].samples, pn[i].n_ok * sizeof *dst);
        *(pn[i].info.same_az ? &n_same : &n_cross) += pn[i].n_ok;
        pn[i].s = azr_cli_summarise(pn[i].samples, pn[i].n_ok);
        if (pn[i].errors > 0)
            status = AZR_EXIT_RUNTIME;
    }
    azr_stats_get(ctx, &after);
    for (size_t i = 0; before != NULL && after != NULL && i < n; i++) {
        size_t index = pn[i].info.index;
        const azr_node_snapshot *b = azr_cli_snapshot_node(before, index);
        const azr_node_snapshot *a = azr_cli_snapshot_node(after, index);
        if (a == NULL || b == NULL)
            continue;
        pn[i].bytes_sent = a->bytes_sent - b->bytes_sent;
        pn[i].bytes_received = a->bytes_received - b->bytes_received;
    }
    azr_cli_latency same = azr_cli_summarise(same_v, n_same);
    azr_cli_latency cross = azr_cli_summarise(cross_v, n_cross);
    azr_az_info az;
    azr_az_info_get(ctx, &az);
    if (json)
        probe_print_json(&az, pn, n, &same, &cross);
    else
        probe_print_table(&az, pn, n, count, &same, &cross);

out:
    azr_stats_free(before);
    azr_stats_free(after);
    if (pn != NULL)
        for (size_t i = 0; i < n; i++)
            free(pn[i].samples);
    free(pn);
    free(same_v);
    free(cross_v);
    return status;
}
