/*
 * cmd_bench.c - the bench command's options and report (bench_load.c
 * makes the load):
 *
 *   bench [-n N] [-P DEPTH] [-c CLIENTS] [--keyspace N] [--read|--write]
 *         [--json] [--emit FORMAT] [CMD ARG...]
 *       runs CMD (default PING) N times (default 1000) through the engine
 *       (azr_exec: pick, pooled connection, outcome reported). With -P
 *       DEPTH > 1 (as redis-benchmark -P), commands go in pipelines of
 *       DEPTH through azr_exec_pipeline (split by node in cluster mode),
 *       each command's latency being its pipeline's; a failed pipeline
 *       counts its commands as errors. -c runs CLIENTS threads sharing
 *       the N requests. --keyspace N turns each __rand_int__ in the
 *       arguments into a 12-digit random number below N per request (as
 *       redis-benchmark -r). Per node: requests = the requests it
 *       answered plus the failed attempts the engine reported for it
 *       (connect failures and retries included; a failed pipeline is one),
 *       errors = those failed attempts, avg_ms = the latency of the
 *       requests it answered. Totals: requests issued, requests that
 *       failed after all retries, avg/p50/p99 of the answered ones. Exit 1
 *       only if no request was answered.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#define BENCH_DEFAULT_N 1000
#define COUNT_MAX 100000000ul
#define PIPELINE_MAX 10000ul
#define CLIENTS_MAX 256ul

/* Requests a node took: the ones it answered plus the failed attempts the
 * engine reported for it (a failed pipelined batch is one attempt). */
static uint64_t node_requests(const bench_node *b)
{
    return b->answered + (b->after.errors - b->before.errors);
}

/* Parses bench's options; returns 0 or the exit status for a usage
 * error. */
static int bench_parse(int argc, char **argv, bench_opts *o)
{
    static const char *const ping[] = { "PING" };
    *o = (bench_opts){ .count = BENCH_DEFAULT_N, .depth = 1, .clients = 1,
                       .intent = AZR_INTENT_READ, .emit = -1 };
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "--json") == 0) {
            o->json = 1;
        } else if (strcmp(argv[i], "-n") == 0) {
            i++;
            if (!azr_cli_parse_count("bench -n", next, COUNT_MAX, &o->count))
                return AZR_EXIT_USAGE;
        } else if (strcmp(argv[i], "-P") == 0) {
            i++;
            if (!azr_cli_parse_count("bench -P", next, PIPELINE_MAX,
                                     &o->depth))
                return AZR_EXIT_USAGE;
        } else if (strcmp(argv[i], "-c") == 0) {
            i++;
            if (!azr_cli_parse_count("bench -c", next, CLIENTS_MAX,
                                     &o->clients))
                return AZR_EXIT_USAGE;
        } else if (strcmp(argv[i], "--keyspace") == 0) {
            i++;
            if (!azr_cli_parse_count("bench --keyspace", next, 1000000000000ul,
                                     &o->keyspace))
                return AZR_EXIT_USAGE;
        } else if (strcmp(argv[i], "--emit") == 0) {
            i++;
            o->emit = next == NULL ? -2
                      : strcmp(next, "prometheus") == 0 ? AZR_STATS_PROMETHEUS
                      : strcmp(next, "emf") == 0 ? AZR_STATS_EMF
                      : strcmp(next, "json") == 0 ? AZR_STATS_JSON : -2;
            if (o->emit == -2) {
                azr_cli_error("bench --emit: expected prometheus, emf or "
                              "json, got '%s'", next != NULL ? next : "");
                return AZR_EXIT_USAGE;
            }
        } else if (!azr_cli_parse_intent(argv[i], &o->intent)) {
            azr_cli_error("bench: unknown option '%s' (usage: bench [-n N] "
                          "[-P DEPTH] [-c CLIENTS] [--keyspace N] "
                          "[--read|--write] [--json] [--emit "
                          "prometheus|emf|json] [CMD ARG...])", argv[i]);
            return AZR_EXIT_USAGE;
        }
    }
    o->cmd = (azr_command){
        .argc = i < argc ? (size_t)(argc - i) : 1,
        .argv = i < argc ? (const char *const *)(argv + i) : ping,
    };
    return 0;
}

/* The bench's share of the statistics: the difference of two snapshots,
 * node by node index (under live topology the table may change during
 * the run). */
static void stats_delta(azr_stats *after, const azr_stats *before)
{
    static const azr_node_snapshot none;
    after->requests = after->answered = after->errors = 0;
    after->same_az_answered = after->bytes_sent = after->bytes_received = 0;
    after->cross_az_bytes = 0;
    after->topology_changes -= before->topology_changes;
    after->redirects_moved -= before->redirects_moved;
    after->redirects_ask -= before->redirects_ask;
    after->cluster_retries -= before->cluster_retries;
    for (size_t i = 0; i < after->n_nodes; i++) {
        azr_node_snapshot *a = &after->nodes[i];
        const azr_node_snapshot *b = azr_cli_snapshot_node(before, a->index);
        if (b == NULL)
            b = &none;
        a->bytes_sent -= b->bytes_sent;
        a->bytes_received -= b->bytes_received;
        a->answered -= b->answered;
        after->answered += a->answered;
        after->bytes_sent += a->bytes_sent;
        after->bytes_received += a->bytes_received;
        if (a->same_az)
            after->same_az_answered += a->answered;
        else
            after->cross_az_bytes += a->bytes_sent + a->bytes_received;
    }
    after->same_az_share = after->answered > 0
                               ? (double)after->same_az_answered /
                                     (double)after->answered
                               : -1.0;
    after->cross_az_cost_usd = (double)after->cross_az_bytes * 2.0 *
                               after->price_per_gb / 1e9;
}

static void bench_print_json(const bench_opts *o,
                             const bench_run *run, const azr_stats *d,
                             const azr_cli_latency *s, double elapsed_s)
{
    size_t n_ok = run->n_ok;
    fputs("{\"az_id\":", stdout);
    azr_cli_json_string(d->az_known ? d->az_id : NULL);
    printf(",\"requests\":%lu,\"errors\":%lu,\"error_replies\":%lu,"
           "\"avg_ms\":", o->count, run->errors, run->error_replies);
    azr_cli_json_ms(n_ok > 0, s->avg);
    fputs(",\"p50_ms\":", stdout);
    azr_cli_json_ms(n_ok > 0, s->p50);
    fputs(",\"p99_ms\":", stdout);
    azr_cli_json_ms(n_ok > 0, s->p99);
    fputs(",\"same_az_share\":", stdout);
    if (d->same_az_share >= 0)
        printf("%.4f", d->same_az_share);
    else
        fputs("null", stdout);
    printf(",\"cross_az_bytes\":%llu,\"cross_az_cost_usd_per_million\":",
           (unsigned long long)d->cross_az_bytes);
    printf("%.6f", d->answered > 0 ? d->cross_az_cost_usd * 1e6 /
                                          (double)d->answered : 0.0);
    printf(",\"topology_changes\":%llu,\"redirects_moved\":%llu,"
           "\"redirects_ask\":%llu,\"cluster_retries\":%llu,"
           "\"elapsed_s\":%.3f,\"requests_per_s\":%.1f,\"nodes\":[",
           (unsigned long long)d->topology_changes,
           (unsigned long long)d->redirects_moved,
           (unsigned long long)d->redirects_ask,
           (unsigned long long)d->cluster_retries, elapsed_s,
           elapsed_s > 0 ? (double)run->n_ok / elapsed_s : 0.0);
    for (size_t k = 0; k < d->n_nodes; k++) {
        const azr_node_snapshot *nd = &d->nodes[k];
        const bench_node *b = &run->bn[nd->index];
        fputs(k > 0 ? ",{\"id\":" : "{\"id\":", stdout);
        azr_cli_json_string(nd->id);
        fputs(",\"az_id\":", stdout);
        azr_cli_json_string(nd->az_id);
        printf(",\"role\":\"%s\",\"same_az\":%s,\"requests\":%llu,"
               "\"errors\":%llu,\"error_replies\":%llu,\"bytes_sent\":%llu,"
               "\"bytes_received\":%llu,\"avg_ms\":",
               azr_cli_role_name(nd->role), nd->same_az ? "true" : "false",
               (unsigned long long)node_requests(b),
               (unsigned long long)(b->after.errors - b->before.errors),
               (unsigned long long)b->error_replies,
               (unsigned long long)nd->bytes_sent,
               (unsigned long long)nd->bytes_received);
        azr_cli_json_ms(b->answered > 0,
                        b->answered > 0
                            ? (double)(b->total_ns / b->answered) / 1e6 : 0);
        fputs("}", stdout);
    }
    fputs("]}\n", stdout);
}

static void bench_print_table(const bench_opts *o, const bench_run *run,
                              const azr_stats *d, const azr_cli_latency *s,
                              double elapsed_s)
{
    int idw = 4;
    for (size_t k = 0; k < d->n_nodes; k++) {
        int l = (int)strlen(d->nodes[k].id);
        idw = l > idw ? l : idw;
    }
    printf("bench: %s x %lu (%s", o->cmd.argv[0], o->count,
           o->intent == AZR_INTENT_WRITE ? "write" : "read");
    if (o->depth > 1)
        printf(", pipelined by %lu", o->depth);
    if (o->clients > 1)
        printf(", %lu clients", o->clients);
    if (o->keyspace > 0)
        printf(", keyspace %lu", o->keyspace);
    printf("), caller AZ %s\n", d->az_known ? d->az_id : "unknown");
    printf("%-*s  %10s  %8s  %11s  %8s  %12s  %s\n", idw, "NODE",
           "REQUESTS", "ERRORS", "ERR REPLIES", "AVG ms", "BYTES", "SAME-AZ");
    for (size_t k = 0; k < d->n_nodes; k++) {
        const azr_node_snapshot *nd = &d->nodes[k];
        const bench_node *b = &run->bn[nd->index];
        printf("%-*s  %10llu  %8llu  %11llu  ", idw, nd->id,
               (unsigned long long)node_requests(b),
               (unsigned long long)(b->after.errors - b->before.errors),
               (unsigned long long)b->error_replies);
        if (b->answered > 0)
            printf("%8.3f", (double)(b->total_ns / b->answered) / 1e6);
        else
            printf("%8s", "-");
        printf("  %12llu  %s\n", (unsigned long long)(nd->bytes_sent +
                                                       nd->bytes_received),
               nd->same_az ? "yes" : "no");
    }
    printf("total: %lu requests, %lu errors, %lu error replies", o->count,
           run->errors, run->error_replies);
    if (run->n_ok > 0)
        printf(", avg %.3f ms, p50 %.3f ms, p99 %.3f ms, %.0f req/s",
               s->avg, s->p50, s->p99,
               elapsed_s > 0 ? (double)run->n_ok / elapsed_s : 0.0);
    printf("\n");
    if (d->same_az_share >= 0)
        printf("same-AZ share %.1f%%, ", 100.0 * d->same_az_share);
    if (d->topology_changes > 0 || o->live)
        printf("topology changes during the run: %llu\n",
               (unsigned long long)d->topology_changes);
    if (d->redirects_moved + d->redirects_ask + d->cluster_retries > 0)
        printf("cluster: %llu MOVED, %llu ASK followed, %llu TRYAGAIN/"
               "CLUSTERDOWN retried\n",
               (unsigned long long)d->redirects_moved,
               (unsigned long long)d->redirects_ask,
               (unsigned long long)d->cluster_retries);
    printf("cross-AZ bytes %llu, estimated cross-AZ cost $%.4f per million "
           "requests (at $%.3f/GB each way)\n",
           (unsigned long long)d->cross_az_bytes,
           d->answered > 0 ? d->cross_az_cost_usd * 1e6 / (double)d->answered
                           : 0.0,
           d->price_per_gb);
}

/* Prints the whole context's snapshot in `kind` (bench --emit). */
static int bench_emit(azr_ctx *ctx, int kind)
{
    azr_stats *st = NULL;
    char *text = NULL;
    size_t len = 0;
    azr_code rc = azr_stats_get(ctx, &st);
    if (rc == AZR_OK)
        rc = azr_stats_format(ctx, st, (azr_stats_kind)kind, &text, &len);
    azr_stats_free(st);
    if (rc != AZR_OK) {
        azr_cli_error("bench --emit: %s", azr_strerror(rc));
        return AZR_EXIT_RUNTIME;
    }
    fwrite(text, 1, len, stdout);
    free(text);
    return AZR_EXIT_OK;
}

int azr_cli_bench(azr_ctx *ctx, int argc, char **argv)
{
    bench_opts o;
    int usage = bench_parse(argc, argv, &o);
    if (usage != 0)
        return usage;
    if (!azr_cli_has_transport(ctx, argv[0]))
        return AZR_EXIT_USAGE;
    o.live = strcmp(azr_topology_mode_name(ctx), "static") != 0;

    /* By node index; nodes may join during the run (live topology). */
    bench_node *bn = calloc(AZR_MAX_NODES, sizeof *bn);
    uint64_t *lat = malloc(o.count * sizeof *lat);
    azr_stats *before = NULL, *after = NULL;
    int status = AZR_EXIT_RUNTIME;
    if (bn == NULL || lat == NULL || azr_stats_get(ctx, &before) != AZR_OK) {
        azr_cli_error("bench: out of memory");
        goto out;
    }
    for (size_t k = 0; k < azr_node_count(ctx); k++)
        azr_node_stats_get(ctx, k, &bn[k].before);

    bench_run run = { .lat = lat, .bn = bn };
    uint64_t start = azr_cli_now_ns();
    if (azr_bench_load(ctx, &o, &run) != 0)
        goto out;
    double elapsed_s = (double)(azr_cli_now_ns() - start) / 1e9;
    for (size_t k = 0; k < azr_node_count(ctx); k++)
        azr_node_stats_get(ctx, k, &bn[k].after);
    if (azr_stats_get(ctx, &after) != AZR_OK) {
        azr_cli_error("bench: out of memory");
        goto out;
    }
    stats_delta(after, before);

    if (run.errors > 0)
        azr_cli_error("bench: %lu of %lu requests failed; first: %s",
                      run.errors, o.count, run.first_err);
    if (run.error_replies > 0)
        azr_cli_error("bench: %lu replies were errors; first: %s",
                      run.error_replies, run.first_reply_err);
    azr_cli_latency s = azr_cli_summarise(lat, run.n_ok);
    if (o.json)
        bench_print_json(&o, &run, after, &s, elapsed_s);
    else
        bench_print_table(&o, &run, after, &s, elapsed_s);
    status = run.n_ok > 0 ? AZR_EXIT_OK : AZR_EXIT_RUNTIME;
    if (o.emit >= 0 && bench_emit(ctx, o.emit) != AZR_EXIT_OK)
        status = AZR_EXIT_RUNTIME;
out:
    azr_stats_free(before);
    azr_stats_free(after);
    free(bn);
    free(lat);
    return status;
}
