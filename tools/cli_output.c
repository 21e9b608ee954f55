/*
 * cli_output.c - what the transport commands (exec, probe, bench) share:
 * the clock, the transport check and exit status, latency summaries and
 * the JSON writers. JSON is written by hand: fixed shapes of numbers and
 * strings, with strings escaped per RFC 8259 (the tool links no JSON
 * library; the tests validate its output with json-c).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

uint64_t azr_cli_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int azr_cli_has_transport(azr_ctx *ctx, const char *command)
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
int azr_cli_exit_for(azr_code rc)
{
    return rc == AZR_E_NO_TRANSPORT || rc == AZR_E_INVALID_ARGUMENT ||
                   rc == AZR_E_CONFIG
               ? AZR_EXIT_USAGE : AZR_EXIT_RUNTIME;
}

const char *azr_cli_role_name(azr_role role)
{
    return role == AZR_ROLE_PRIMARY ? "primary" : "replica";
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

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
azr_cli_latency azr_cli_summarise(uint64_t *v, size_t n)
{
    azr_cli_latency s = { .n = n };
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

void azr_cli_json_string(const char *s)
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
void azr_cli_json_ms(int have, double ms)
{
    if (have)
        printf("%.3f", ms);
    else
        fputs("null", stdout);
}

/* Parses --read / --write; returns 1 if argv[i] was one of them. */
int azr_cli_parse_intent(const char *arg, azr_intent *intent)
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

const azr_node_snapshot *azr_cli_snapshot_node(const azr_stats *s,
                                               size_t index)
{
    for (size_t i = 0; i < s->n_nodes; i++)
        if (s->nodes[i].index == index)
            return &s->nodes[i];
    return NULL;
}
