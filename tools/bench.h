/*
 * bench.h - the parts of `azroute bench` shared by its option and output
 * code (cmd_bench.c) and its load generator (bench_load.c).
 */
#ifndef AZR_TOOLS_BENCH_H
#define AZR_TOOLS_BENCH_H

#include "cli.h"

typedef struct bench_node {
    azr_node_stats before, after;
    uint64_t answered;      /* requests this node answered */
    uint64_t error_replies; /* answers that were error replies */
    long double total_ns;   /* their latency, for avg_ms */
} bench_node;

/* What a bench loop collected. */
typedef struct bench_run {
    uint64_t *lat;          /* latency of each answered request */
    bench_node *bn;         /* AZR_MAX_NODES, by node index */
    size_t n_ok;
    unsigned long errors, error_replies;
    char first_err[AZR_ERRBUF_SIZE];
    char first_reply_err[AZR_ERRBUF_SIZE];
} bench_run;

/* What `bench` was asked to do. */
typedef struct bench_opts {
    unsigned long count, depth, clients, keyspace;
    azr_intent intent;
    int json;
    int emit;               /* -1: none, else an azr_stats_kind */
    int live;               /* live topology: report table changes */
    azr_command cmd;
} bench_opts;

/* Runs o->count requests (o->clients threads sharing them; pipelined by
 * o->depth through azr_exec_pipeline when > 1; each __rand_int__ of the
 * command replaced per request by a random 12-digit number below
 * o->keyspace, as redis-benchmark -r does) and collects into *run, whose
 * lat has room for o->count and bn for AZR_MAX_NODES. Returns 0, or -1
 * when out of memory (reported). */
int azr_bench_load(azr_ctx *ctx, const bench_opts *o, bench_run *run);

#endif /* AZR_TOOLS_BENCH_H */
