/*
 * bench_load.c - the load `azroute bench` puts on the engine: requests
 * one at a time (azr_exec) or pipelined (azr_exec_pipeline, split by node
 * in cluster mode), from one thread or several clients, with
 * redis-benchmark's __rand_int__ substitution for key spaces.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define RAND_TOKEN "__rand_int__"
#define RAND_TOKEN_LEN (sizeof RAND_TOKEN - 1)

/* One client's commands: `depth` copies of the command, each argument
 * holding __rand_int__ in a buffer of its own, rewritten per request. */
typedef struct bench_batch {
    size_t depth, argc;
    azr_command *cmds;
    const char **argv;      /* depth x argc */
    char *bufs;             /* the rewritten arguments, back to back */
    size_t *buf_at;         /* per argument: offset in a copy's buffers,
                               SIZE_MAX when it has no __rand_int__ */
    size_t buf_size;        /* one copy's buffers */
    uint64_t rng;
} bench_batch;

static void batch_free(bench_batch *b)
{
    free(b->cmds);
    free(b->argv);
    free(b->bufs);
    free(b->buf_at);
}

static int batch_init(bench_batch *b, const azr_command *cmd, size_t depth,
                      uint64_t seed)
{
    memset(b, 0, sizeof *b);
    b->depth = depth;
    b->argc = cmd->argc;
    b->rng = seed | 1;
    b->buf_at = malloc(cmd->argc * sizeof *b->buf_at);
    b->cmds = malloc(depth * sizeof *b->cmds);
    b->argv = malloc(depth * cmd->argc * sizeof *b->argv);
    if (b->buf_at == NULL || b->cmds == NULL || b->argv == NULL)
        return -1;
    for (size_t a = 0; a < cmd->argc; a++) {
        b->buf_at[a] = SIZE_MAX;
        if (strstr(cmd->argv[a], RAND_TOKEN) != NULL) {
            b->buf_at[a] = b->buf_size;
            b->buf_size += strlen(cmd->argv[a]) + 1;
        }
    }
    if (b->buf_size > 0 && (b->bufs = malloc(depth * b->buf_size)) == NULL)
        return -1;
    for (size_t d = 0; d < depth; d++) {
        const char **argv = b->argv + d * cmd->argc;
        for (size_t a = 0; a < cmd->argc; a++) {
            argv[a] = cmd->argv[a];
            if (b->buf_at[a] != SIZE_MAX) {
                char *buf = b->bufs + d * b->buf_size + b->buf_at[a];
                strcpy(buf, cmd->argv[a]);
                argv[a] = buf;
            }
        }
        b->cmds[d] = (azr_command){ .argc = cmd->argc, .argv = argv };
    }
    return 0;
}

/* xorshift64*: the per-client generator of key numbers. */
static uint64_t next_random(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

/* Gives the first n copies new random numbers (below keyspace). */
static void batch_randomise(bench_batch *b, size_t n, unsigned long keyspace,
                            const azr_command *tmpl)
{
    if (b->buf_size == 0 || keyspace == 0)
        return;
    for (size_t d = 0; d < n; d++)
        for (size_t a = 0; a < b->argc; a++) {
            if (b->buf_at[a] == SIZE_MAX)
                continue;
            char *buf = b->bufs + d * b->buf_size + b->buf_at[a];
            const char *src = tmpl->argv[a];
            char *p = buf;
            const char *hit;
            while ((hit = strstr(src, RAND_TOKEN)) != NULL) {
                memcpy(p, src, (size_t)(hit - src));
                p += hit - src;
                /* 12 digits, as redis-benchmark writes them (the
                 * keyspace is at most 10^12) */
                uint64_t v = next_random(&b->rng) % keyspace;
                for (int k = 11; k >= 0; k--, v /= 10)
                    p[k] = (char)('0' + v % 10);
                p += 12;
                src = hit + RAND_TOKEN_LEN;
            }
            strcpy(p, src);
        }
}

static void bench_failed(bench_run *run, unsigned long n, azr_code rc,
                         const char *err)
{
    run->errors += n;
    if (run->first_err[0] == '\0')
        snprintf(run->first_err, sizeof run->first_err, "%s",
                 err[0] != '\0' ? err : azr_strerror(rc));
}

static void bench_answered(bench_run *run, size_t node, uint64_t ns,
                           const azr_reply *reply)
{
    run->lat[run->n_ok++] = ns;
    if (node < AZR_MAX_NODES) {
        run->bn[node].answered++;
        run->bn[node].total_ns += (long double)ns;
    }
    if (reply->type == AZR_REPLY_ERROR ||
        reply->type == AZR_REPLY_BLOB_ERROR) {
        if (node < AZR_MAX_NODES)
            run->bn[node].error_replies++;
        if (run->error_replies++ == 0)
            snprintf(run->first_reply_err, sizeof run->first_reply_err,
                     "%.*s", (int)(reply->len < 200 ? reply->len : 200),
                     reply->str != NULL ? reply->str : "");
    }
}

/* One client: `count` requests, in batches of o->depth. */
typedef struct bench_client {
    azr_ctx *ctx;
    const bench_opts *o;
    unsigned long count;
    bench_run run;
    uint64_t seed;
    int failed;             /* out of memory */
} bench_client;

static void *client_main(void *arg)
{
    bench_client *c = arg;
    const bench_opts *o = c->o;
    size_t depth = o->depth > 0 ? o->depth : 1;
    bench_batch b;
    azr_reply **replies = malloc(depth * sizeof *replies);
    size_t *nodes = malloc(depth * sizeof *nodes);
    if (batch_init(&b, &o->cmd, depth, c->seed) != 0 || replies == NULL ||
        nodes == NULL) {
        c->failed = 1;
        goto out;
    }
    const azr_exec_options opts = { .struct_size = sizeof opts,
                                    .intent = o->intent };
    char err[AZR_ERRBUF_SIZE];
    for (unsigned long done = 0; done < c->count;) {
        size_t n = c->count - done < depth ? c->count - done : depth;
        done += n;
        batch_randomise(&b, n, o->keyspace, &o->cmd);
        uint64_t t0 = azr_cli_now_ns();
        azr_code rc = depth > 1
            ? azr_exec_pipeline(c->ctx, &opts, n, b.cmds, replies, nodes,
                                err)
            : azr_exec_ex(c->ctx, &opts, &b.cmds[0], &replies[0], &nodes[0],
                          err);
        uint64_t t1 = azr_cli_now_ns();
        if (rc != AZR_OK) {
            bench_failed(&c->run, n, rc, err);
            if (rc == AZR_E_NO_TRANSPORT || rc == AZR_E_INVALID_ARGUMENT ||
                rc == AZR_E_CROSSSLOT || rc == AZR_E_UNSUPPORTED)
                break;
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            bench_answered(&c->run, nodes[k], t1 - t0, replies[k]);
            azr_reply_free(replies[k]);
        }
    }
out:
    batch_free(&b);
    free(replies);
    free(nodes);
    return NULL;
}

/* Adds a client's run to the total (latencies are already in place). */
static void merge(bench_run *total, const bench_run *c)
{
    memmove(total->lat + total->n_ok, c->lat, c->n_ok * sizeof *c->lat);
    total->n_ok += c->n_ok;
    total->errors += c->errors;
    total->error_replies += c->error_replies;
    if (total->first_err[0] == '\0')
        memcpy(total->first_err, c->first_err, sizeof c->first_err);
    if (total->first_reply_err[0] == '\0')
        memcpy(total->first_reply_err, c->first_reply_err,
               sizeof c->first_reply_err);
    for (size_t i = 0; i < AZR_MAX_NODES; i++) {
        total->bn[i].answered += c->bn[i].answered;
        total->bn[i].error_replies += c->bn[i].error_replies;
        total->bn[i].total_ns += c->bn[i].total_ns;
    }
}

int azr_bench_load(azr_ctx *ctx, const bench_opts *o, bench_run *run)
{
    size_t n = o->clients > 0 ? o->clients : 1;
    if (n > o->count && o->count > 0)
        n = o->count;
    bench_client *cl = calloc(n, sizeof *cl);
    pthread_t *th = calloc(n, sizeof *th);
    int rc = cl != NULL && th != NULL ? 0 : -1;
    unsigned long given = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        cl[i].ctx = ctx;
        cl[i].o = o;
        cl[i].count = o->count / n + (i < o->count % n);
        cl[i].seed = azr_cli_now_ns() * (2 * i + 1);
        cl[i].run.lat = run->lat + given;
        cl[i].run.bn = calloc(AZR_MAX_NODES, sizeof *cl[i].run.bn);
        given += cl[i].count;
        if (cl[i].run.bn == NULL)
            rc = -1;
    }
    size_t started = 0;
    if (rc == 0 && n == 1) {
        client_main(&cl[0]);
    } else {
        for (; rc == 0 && started < n; started++)
            if (pthread_create(&th[started], NULL, client_main, &cl[started]))
                rc = -1;
        for (size_t i = 0; i < started; i++)
            pthread_join(th[i], NULL);
    }
    for (size_t i = 0; cl != NULL && i < n; i++) {
        if (rc == 0 && !cl[i].failed)
            merge(run, &cl[i].run);
        else
            rc = -1;
        free(cl[i].run.bn);
    }
    free(cl);
    free(th);
    if (rc != 0)
        azr_cli_error("bench: out of memory (or no thread) for %zu clients",
                      n);
    return rc;
}
