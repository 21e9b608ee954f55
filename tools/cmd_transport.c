/*
 * cmd_transport.c - the commands that carry requests through the transport
 * plugin: exec, probe, bench (see azroute(1) and DESIGN.md).
 *
 *   exec [--read|--write] CMD [ARG...]
 *       runs one command on the routed node (retrying on other candidates)
 *       and prints the reply the way redis-cli does. Exit 1 on an error
 *       reply, as redis-cli does.
 *   probe [-n N] [--json]
 *       PINGs every node N times (default 50, after one uncounted warm-up)
 *       over its own connection, bypassing the policies, and prints
 *       per-node and same-AZ vs cross-AZ latency. Exit 1 if any PING
 *       failed.
 *   bench [-n N] [-P DEPTH] [--read|--write] [--json] [CMD ARG...]
 *       runs CMD (default PING) N times (default 1000) through the engine
 *       (azr_exec: pick, pooled connection, outcome reported). With -P
 *       DEPTH > 1 (an extension for comparing with redis-benchmark -P),
 *       commands go in pipelined batches of DEPTH on a routed connection
 *       (azr_connect + azr_conn_pipeline), each command's latency being
 *       its batch's round trip; a failed batch counts DEPTH errors and the
 *       next batch is routed again. Per node: requests = the requests it
 *       answered plus the failed attempts the engine reported for it
 *       (connect failures and retries included; a failed batch is one),
 *       errors = those failed attempts, avg_ms = the latency of the
 *       requests it answered. Totals: requests issued, requests that
 *       failed after all retries, avg/p50/p99 of the answered ones. Exit 1
 *       only if no request was answered.
 *
 * Latency is measured here with CLOCK_MONOTONIC around each call, so it is
 * what the application sees. JSON is written by hand: two fixed shapes of
 * numbers and strings, with strings escaped per RFC 8259.
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
#define BENCH_DEFAULT_N 1000
#define COUNT_MAX 100000000ul
#define PIPELINE_MAX 10000ul

/* ---- helpers ---- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int has_transport(azr_ctx *ctx, const char *command)
{
    for (size_t i = 0; i < azr_plugin_count(ctx); i++) {
        azr_plugin_info p;
        if (azr_plugin_get(ctx, i, &p) == AZR_OK &&
            strcmp(p.kind, "transport") == 0)
            return 1;
    }
    azr_cli_error("%s needs a transport plugin ([azroute] transport = "
                  "resp_tls)", command);
    return 0;
}

/* Exit status for a failed library call. */
static int exit_for(azr_code rc)
{
    return rc == AZR_E_NO_TRANSPORT || rc == AZR_E_INVALID_ARGUMENT ||
                   rc == AZR_E_CONFIG
               ? AZR_EXIT_USAGE : AZR_EXIT_RUNTIME;
}

static const char *role_name(azr_role role)
{
    return role == AZR_ROLE_PRIMARY ? "primary" : "replica";
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Summary of a set of latency samples, in milliseconds. */
typedef struct lat_summary {
    size_t n;
    double avg, p50, p99, min, max;
} lat_summary;

/* Nearest-rank percentile of sorted samples. */
static double percentile_ms(const uint64_t *sorted, size_t n, double q)
{
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)sorted[rank - 1] / 1e6;
}

/* Sorts `v` in place and summarises it. */
static lat_summary summarise(uint64_t *v, size_t n)
{
    lat_summary s = { .n = n };
    if (n == 0)
        return s;
    qsort(v, n, sizeof *v, cmp_u64);
    long double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    s.avg = (double)(sum / n) / 1e6;
    s.p50 = percentile_ms(v, n, 0.50);
    s.p99 = percentile_ms(v, n, 0.99);
    s.min = (double)v[0] / 1e6;
    s.max = (double)v[n - 1] / 1e6;
    return s;
}

/* ---- JSON output ---- */

static void json_string(const char *s)
{
    if (s == NULL) {
        fputs("null", stdout);
        return;
    }
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        case '\n': fputs("\\n", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        default:
            if (*p < 0x20)
                printf("\\u%04x", *p);
            else
                putchar(*p);
        }
    }
    putchar('"');
}

/* A latency in ms (3 decimals: microseconds), or null without samples. */
static void json_ms(int have, double ms)
{
    if (have)
        printf("%.3f", ms);
    else
        fputs("null", stdout);
}

/* ---- exec: the reply printed as redis-cli prints it ---- */

typedef struct sbuf {
    char *data;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap == 0 ? 256 : b->cap;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL) {
            b->failed = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) AZR_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A quoted, escaped string like redis-cli's sdscatrepr(). */
static void sb_repr(sbuf *b, const char *s, size_t len)
{
    sb_str(b, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '\\': sb_str(b, "\\\\"); break;
        case '"': sb_str(b, "\\\""); break;
        case '\n': sb_str(b, "\\n"); break;
        case '\r': sb_str(b, "\\r"); break;
        case '\t': sb_str(b, "\\t"); break;
        case '\a': sb_str(b, "\\a"); break;
        case '\b': sb_str(b, "\\b"); break;
        default:
            if (isprint(c))
                sb_add(b, (const char *)&c, 1);
            else
                sb_printf(b, "\\x%02x", c);
        }
    }
    sb_str(b, "\"");
}

static const char *raw(const azr_reply *r)
{
    return r->str != NULL ? r->str : "";
}

/* Mirrors redis-cli's cliFormatReplyTTY(): nested aggregates are numbered
 * and indented, maps print "key => value". */
static void format_reply(sbuf *b, const azr_reply *r, const char *prefix)
{
    switch (r->type) {
    case AZR_REPLY_ERROR:
    case AZR_REPLY_BLOB_ERROR:
        sb_str(b, "(error) ");
        sb_add(b, raw(r), r->len);
        sb_str(b, "\n");
        return;
    case AZR_REPLY_STATUS:
        sb_add(b, raw(r), r->len);
        sb_str(b, "\n");
        return;
    case AZR_REPLY_INTEGER:
        sb_printf(b, "(integer) %lld\n", r->integer);
        return;
    case AZR_REPLY_DOUBLE:
        sb_str(b, "(double) ");
        sb_add(b, raw(r), r->len);
        sb_str(b, "\n");
        return;
    case AZR_REPLY_STRING:
        sb_repr(b, raw(r), r->len);
        sb_str(b, "\n");
        return;
    case AZR_REPLY_VERBATIM:
        sb_add(b, raw(r), r->len);
        sb_str(b, "\n");
        return;
    case AZR_REPLY_NIL:
        sb_str(b, "(nil)\n");
        return;
    case AZR_REPLY_BOOL:
        sb_str(b, r->integer ? "(true)\n" : "(false)\n");
        return;
    case AZR_REPLY_BIGNUM:
        sb_str(b, "(big number) ");
        sb_add(b, raw(r), r->len);
        sb_str(b, "\n");
        return;
    case AZR_REPLY_ARRAY:
    case AZR_REPLY_MAP:
    case AZR_REPLY_SET:
    case AZR_REPLY_PUSH:
        break;
    default:
        sb_printf(b, "(unknown reply type %d)\n", (int)r->type);
        return;
    }

    if (r->elements == 0) {
        sb_str(b, r->type == AZR_REPLY_MAP   ? "(empty hash)\n"
                  : r->type == AZR_REPLY_SET ? "(empty set)\n"
                  : r->type == AZR_REPLY_PUSH ? "(empty push)\n"
                                              : "(empty array)\n");
        return;
    }
    int is_map = r->type == AZR_REPLY_MAP;
    char sep = r->type == AZR_REPLY_SET ? '~' : is_map ? '#' : ')';
    size_t count = is_map ? r->elements / 2 : r->elements;
    unsigned idxlen = 0;
    for (size_t i = count; ; i /= 10) {
        idxlen++;
        if (i < 10)
            break;
    }
    size_t plen = strlen(prefix);
    char *inner = malloc(plen + idxlen + 3);
    if (inner == NULL) {
        b->failed = 1;
        return;
    }
    memcpy(inner, prefix, plen);
    memset(inner + plen, ' ', idxlen + 2);
    inner[plen + idxlen + 2] = '\0';

    for (size_t i = 0; i < r->elements; i++) {
        size_t human = (is_map ? i / 2 : i) + 1;
        sb_printf(b, "%s%*zu%c ", i == 0 ? "" : prefix, (int)idxlen, human,
                  sep);
        format_reply(b, r->element[i], inner);
        if (is_map && i + 1 < r->elements) {
            i++;
            if (b->len > 0 && !b->failed)
                b->data[--b->len] = '\0'; /* the key's newline */
            sb_str(b, " => ");
            format_reply(b, r->element[i], inner);
        }
    }
    free(inner);
}

/* Parses --read / --write; returns 1 if argv[i] was one of them. */
static int parse_intent(const char *arg, azr_intent *intent)
{
    if (strcmp(arg, "--read") == 0) {
        *intent = AZR_INTENT_READ;
        return 1;
    }
    if (strcmp(arg, "--write") == 0) {
        *intent = AZR_INTENT_WRITE;
        return 1;
    }
    return 0;
}

int azr_cli_exec(azr_ctx *ctx, int argc, char **argv)
{
    azr_intent intent = AZR_INTENT_READ;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (!parse_intent(argv[i], &intent)) {
            azr_cli_error("exec: unknown option '%s' (usage: exec "
                          "[--read|--write] CMD [ARG...])", argv[i]);
            return AZR_EXIT_USAGE;
        }
    }
    if (i == argc) {
        azr_cli_error("exec: missing command (usage: exec [--read|--write] "
                      "CMD [ARG...])");
        return AZR_EXIT_USAGE;
    }
    if (!has_transport(ctx, argv[0]))
        return AZR_EXIT_USAGE;

    const azr_command cmd = {
        .argc = (size_t)(argc - i),
        .argv = (const char *const *)(argv + i),
    };
    azr_reply *reply = NULL;
    size_t node = 0;
    char err[AZR_ERRBUF_SIZE];
    azr_code rc = azr_exec(ctx, intent, &cmd, &reply, &node, err);
    if (rc != AZR_OK) {
        azr_cli_error("%s", err[0] != '\0' ? err : azr_strerror(rc));
        return exit_for(rc);
    }
    if (azr_cli.verbose) {
        azr_node_info info;
        if (azr_node_get(ctx, node, &info) == AZR_OK)
            fprintf(stderr, "azroute: answered by node %s (%s:%u)\n",
                    info.id, info.host, (unsigned)info.port);
    }
    sbuf out = { 0 };
    format_reply(&out, reply, "");
    int status = reply->type == AZR_REPLY_ERROR ||
                         reply->type == AZR_REPLY_BLOB_ERROR
                     ? AZR_EXIT_RUNTIME : AZR_EXIT_OK;
    azr_reply_free(reply);
    if (out.failed) {
        free(out.data);
        azr_cli_error("exec: out of memory");
        return AZR_EXIT_RUNTIME;
    }
    fwrite(out.data, 1, out.len, stdout);
    free(out.data);
    return status;
}

/* ---- probe ---- */

typedef struct probe_node {
    azr_node_info info;
    uint64_t *samples;
    size_t n_ok;
    unsigned long errors;
    lat_summary s;
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
        uint64_t t0 = now_ns();
        azr_code rc = azr_conn_command(conn, &cmd, &reply, err);
        uint64_t t1 = now_ns();
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
                              const lat_summary *same,
                              const lat_summary *cross)
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
    printf("%-*s  %-*s  %-7s  %-7s  %8s  %8s  %8s  %8s  %6s\n", idw, "NODE",
           azw, "AZ", "ROLE", "SAME-AZ", "AVG ms", "P50 ms", "MIN ms",
           "MAX ms", "ERRORS");
    for (size_t i = 0; i < n; i++) {
        const probe_node *p = &pn[i];
        printf("%-*s  %-*s  %-7s  %-7s  ", idw, p->info.id, azw,
               p->info.az_id, role_name(p->info.role),
               p->info.same_az ? "yes" : "no");
        if (p->n_ok > 0)
            printf("%8.3f  %8.3f  %8.3f  %8.3f", p->s.avg, p->s.p50,
                   p->s.min, p->s.max);
        else
            printf("%8s  %8s  %8s  %8s", "-", "-", "-", "-");
        printf("  %6lu\n", p->errors);
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
                             size_t n, const lat_summary *same,
                             const lat_summary *cross)
{
    fputs("{\"az_id\":", stdout);
    json_string(az->known ? az->az_id : NULL);
    fputs(",\"nodes\":[", stdout);
    for (size_t i = 0; i < n; i++) {
        const probe_node *p = &pn[i];
        int have = p->n_ok > 0;
        fputs(i > 0 ? ",{\"id\":" : "{\"id\":", stdout);
        json_string(p->info.id);
        fputs(",\"az_id\":", stdout);
        json_string(p->info.az_id);
        fputs(",\"role\":", stdout);
        json_string(role_name(p->info.role));
        printf(",\"same_az\":%s,\"avg_ms\":", p->info.same_az ? "true"
                                                              : "false");
        json_ms(have, p->s.avg);
        fputs(",\"p50_ms\":", stdout);
        json_ms(have, p->s.p50);
        fputs(",\"min_ms\":", stdout);
        json_ms(have, p->s.min);
        fputs(",\"max_ms\":", stdout);
        json_ms(have, p->s.max);
        printf(",\"errors\":%lu}", p->errors);
    }
    fputs("],\"same_az_avg_ms\":", stdout);
    json_ms(same->n > 0, same->avg);
    fputs(",\"cross_az_avg_ms\":", stdout);
    json_ms(cross->n > 0, cross->avg);
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
    if (!has_transport(ctx, argv[0]))
        return AZR_EXIT_USAGE;

    size_t n = azr_node_count(ctx);
    probe_node *pn = calloc(n, sizeof *pn);
    uint64_t *same_v = malloc(n * count * sizeof *same_v);
    uint64_t *cross_v = malloc(n * count * sizeof *cross_v);
    int status = AZR_EXIT_OK;
    if (pn == NULL || same_v == NULL || cross_v == NULL) {
        azr_cli_error("probe: out of memory");
        status = AZR_EXIT_RUNTIME;
        goto out;
    }
    size_t n_same = 0, n_cross = 0;
    for (size_t i = 0; i < n; i++) {
        azr_node_get(ctx, i, &pn[i].info);
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
        pn[i].s = summarise(pn[i].samples, pn[i].n_ok);
        if (pn[i].errors > 0)
            status = AZR_EXIT_RUNTIME;
    }
    lat_summary same = summarise(same_v, n_same);
    lat_summary cross = summarise(cross_v, n_cross);
    azr_az_info az;
    azr_az_info_get(ctx, &az);
    if (json)
        probe_print_json(&az, pn, n, &same, &cross);
    else
        probe_print_table(&az, pn, n, count, &same, &cross);

out:
    if (pn != NULL)
        for (size_t i = 0; i < n; i++)
            free(pn[i].samples);
    free(pn);
    free(same_v);
    free(cross_v);
    return status;
}

/* ---- bench ---- */

typedef struct bench_node {
    azr_node_stats before, after;
    uint64_t answered;      /* requests this node answered */
    uint64_t error_replies; /* answers that were error replies */
    long double total_ns;   /* their latency, for avg_ms */
} bench_node;

/* Requests a node took: the ones it answered plus the failed attempts the
 * engine reported for it (a failed pipelined batch is one attempt). */
static uint64_t node_requests(const bench_node *b)
{
    return b->answered + (b->after.errors - b->before.errors);
}

/* What a bench loop collected. */
typedef struct bench_run {
    uint64_t *lat;          /* latency of each answered request */
    bench_node *bn;
    size_t n_ok;
    unsigned long errors, error_replies;
    char first_err[AZR_ERRBUF_SIZE];
    char first_reply_err[AZR_ERRBUF_SIZE];
} bench_run;

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
    run->bn[node].answered++;
    run->bn[node].total_ns += (long double)ns;
    if (reply->type == AZR_REPLY_ERROR ||
        reply->type == AZR_REPLY_BLOB_ERROR) {
        run->bn[node].error_replies++;
        if (run->error_replies++ == 0)
            snprintf(run->first_reply_err, sizeof run->first_reply_err,
                     "%.*s", (int)(reply->len < 200 ? reply->len : 200),
                     reply->str != NULL ? reply->str : "");
    }
}

/* One azr_exec per request: pick, pooled connection, retry, report. */
static void bench_single(azr_ctx *ctx, azr_intent intent,
                         const azr_command *cmd, unsigned long count,
                         bench_run *run)
{
    char err[AZR_ERRBUF_SIZE];
    for (unsigned long k = 0; k < count; k++) {
        azr_reply *reply = NULL;
        size_t node = 0;
        uint64_t t0 = now_ns();
        azr_code rc = azr_exec(ctx, intent, cmd, &reply, &node, err);
        uint64_t t1 = now_ns();
        if (rc != AZR_OK) {
            bench_failed(run, 1, rc, err);
            if (rc == AZR_E_NO_TRANSPORT || rc == AZR_E_INVALID_ARGUMENT)
                return;
            continue;
        }
        bench_answered(run, node, t1 - t0, reply);
        azr_reply_free(reply);
    }
}

/* Batches of `depth` on a routed connection (azr_conn_pipeline). */
static void bench_pipelined(azr_ctx *ctx, azr_intent intent,
                            const azr_command *cmd, unsigned long count,
                            unsigned long depth, bench_run *run)
{
    azr_command *cmds = malloc(depth * sizeof *cmds);
    azr_reply **replies = malloc(depth * sizeof *replies);
    char err[AZR_ERRBUF_SIZE];
    azr_conn *conn = NULL;
    if (cmds == NULL || replies == NULL) {
        bench_failed(run, count, AZR_E_NOMEM, "out of memory");
        goto out;
    }
    for (unsigned long i = 0; i < depth; i++)
        cmds[i] = *cmd;
    for (unsigned long done = 0; done < count;) {
        unsigned long batch = count - done < depth ? count - done : depth;
        done += batch;
        azr_code rc = AZR_OK;
        if (conn == NULL)
            rc = azr_connect(ctx, intent, &conn, err);
        if (rc != AZR_OK) {
            bench_failed(run, batch, rc, err);
            continue;
        }
        uint64_t t0 = now_ns();
        rc = azr_conn_pipeline(conn, batch, cmds, replies, err);
        uint64_t t1 = now_ns();
        if (rc != AZR_OK) {
            bench_failed(run, batch, rc, err);
            azr_conn_close(conn);
            conn = NULL;
            continue;
        }
        for (unsigned long i = 0; i < batch; i++) {
            bench_answered(run, azr_conn_node(conn), t1 - t0, replies[i]);
            azr_reply_free(replies[i]);
        }
    }
out:
    azr_conn_close(conn);
    free(cmds);
    free(replies);
}

int azr_cli_bench(azr_ctx *ctx, int argc, char **argv)
{
    unsigned long count = BENCH_DEFAULT_N, depth = 1;
    azr_intent intent = AZR_INTENT_READ;
    int json = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "-n") == 0) {
            if (!azr_cli_parse_count("bench -n", i + 1 < argc ? argv[++i]
                                                              : NULL,
                                     COUNT_MAX, &count))
                return AZR_EXIT_USAGE;
        } else if (strcmp(argv[i], "-P") == 0) {
            if (!azr_cli_parse_count("bench -P", i + 1 < argc ? argv[++i]
                                                              : NULL,
                                     PIPELINE_MAX, &depth))
                return AZR_EXIT_USAGE;
        } else if (!parse_intent(argv[i], &intent)) {
            azr_cli_error("bench: unknown option '%s' (usage: bench [-n N] "
                          "[-P DEPTH] [--read|--write] [--json] "
                          "[CMD ARG...])", argv[i]);
            return AZR_EXIT_USAGE;
        }
    }
    if (!has_transport(ctx, argv[0]))
        return AZR_EXIT_USAGE;

    static const char *const ping[] = { "PING" };
    const azr_command cmd = {
        .argc = i < argc ? (size_t)(argc - i) : 1,
        .argv = i < argc ? (const char *const *)(argv + i) : ping,
    };
    size_t n = azr_node_count(ctx);
    bench_node *bn = calloc(n, sizeof *bn);
    uint64_t *lat = malloc(count * sizeof *lat);
    if (bn == NULL || lat == NULL) {
        free(bn);
        free(lat);
        azr_cli_error("bench: out of memory");
        return AZR_EXIT_RUNTIME;
    }
    for (size_t k = 0; k < n; k++)
        azr_node_stats_get(ctx, k, &bn[k].before);

    bench_run run = { .lat = lat, .bn = bn };
    uint64_t start = now_ns();
    if (depth > 1)
        bench_pipelined(ctx, intent, &cmd, count, depth, &run);
    else
        bench_single(ctx, intent, &cmd, count, &run);
    double elapsed_s = (double)(now_ns() - start) / 1e9;
    size_t n_ok = run.n_ok;
    unsigned long errors = run.errors, error_replies = run.error_replies;
    const char *first_err = run.first_err;
    const char *first_reply_err = run.first_reply_err;
    for (size_t k = 0; k < n; k++)
        azr_node_stats_get(ctx, k, &bn[k].after);

    if (errors > 0)
        azr_cli_error("bench: %lu of %lu requests failed; first: %s",
                      errors, count, first_err);
    if (error_replies > 0)
        azr_cli_error("bench: %lu replies were errors; first: %s",
                      error_replies, first_reply_err);

    lat_summary s = summarise(lat, n_ok);
    azr_az_info az;
    azr_az_info_get(ctx, &az);
    if (json) {
        fputs("{\"az_id\":", stdout);
        json_string(az.known ? az.az_id : NULL);
        printf(",\"requests\":%lu,\"errors\":%lu,\"error_replies\":%lu,"
               "\"avg_ms\":", count, errors, error_replies);
        json_ms(n_ok > 0, s.avg);
        fputs(",\"p50_ms\":", stdout);
        json_ms(n_ok > 0, s.p50);
        fputs(",\"p99_ms\":", stdout);
        json_ms(n_ok > 0, s.p99);
        fputs(",\"nodes\":[", stdout);
        for (size_t k = 0; k < n; k++) {
            azr_node_info info;
            azr_node_get(ctx, k, &info);
            fputs(k > 0 ? ",{\"id\":" : "{\"id\":", stdout);
            json_string(info.id);
            printf(",\"requests\":%llu,\"errors\":%llu,"
                   "\"error_replies\":%llu,\"avg_ms\":",
                   (unsigned long long)node_requests(&bn[k]),
                   (unsigned long long)(bn[k].after.errors -
                                        bn[k].before.errors),
                   (unsigned long long)bn[k].error_replies);
            json_ms(bn[k].answered > 0,
                    bn[k].answered > 0
                        ? (double)(bn[k].total_ns / bn[k].answered) / 1e6
                        : 0);
            fputs("}", stdout);
        }
        fputs("]}\n", stdout);
    } else {
        int idw = 4;
        for (size_t k = 0; k < n; k++) {
            azr_node_info info;
            azr_node_get(ctx, k, &info);
            int l = (int)strlen(info.id);
            idw = l > idw ? l : idw;
        }
        printf("bench: %s x %lu (%s", cmd.argv[0], count,
               intent == AZR_INTENT_WRITE ? "write" : "read");
        if (depth > 1)
            printf(", pipelined by %lu", depth);
        printf("), caller AZ %s\n", az.known ? az.az_id : "unknown");
        printf("%-*s  %10s  %8s  %11s  %8s\n", idw, "NODE", "REQUESTS",
               "ERRORS", "ERR REPLIES", "AVG ms");
        for (size_t k = 0; k < n; k++) {
            azr_node_info info;
            azr_node_get(ctx, k, &info);
            printf("%-*s  %10llu  %8llu  %11llu  ", idw, info.id,
                   (unsigned long long)node_requests(&bn[k]),
                   (unsigned long long)(bn[k].after.errors -
                                        bn[k].before.errors),
                   (unsigned long long)bn[k].error_replies);
            if (bn[k].answered > 0)
                printf("%8.3f\n",
                       (double)(bn[k].total_ns / bn[k].answered) / 1e6);
            else
                printf("%8s\n", "-");
        }
        printf("total: %lu requests, %lu errors, %lu error replies", count,
               errors, error_replies);
        if (n_ok > 0)
            printf(", avg %.3f ms, p50 %.3f ms, p99 %.3f ms, %.0f req/s",
                   s.avg, s.p50, s.p99,
                   elapsed_s > 0 ? (double)n_ok / elapsed_s : 0.0);
        printf("\n");
    }
    free(bn);
    free(lat);
    return n_ok > 0 ? AZR_EXIT_OK : AZR_EXIT_RUNTIME;
}
