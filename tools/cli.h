/*
 * cli.h - shared pieces of the azroute command-line tool.
 *
 * Every command is `int azr_cli_NAME(azr_ctx *ctx, int argc, char **argv)`:
 * argv[0] is the command name, the remaining words are its own options and
 * arguments; it returns the process exit status (AZR_EXIT_*) and prints
 * errors as "azroute: message" on stderr.
 */
#ifndef AZR_TOOLS_CLI_H
#define AZR_TOOLS_CLI_H

#include <azroute/azroute.h>

enum {
    AZR_EXIT_OK = 0,      /* success */
    AZR_EXIT_RUNTIME = 1, /* the operation failed at run time */
    AZR_EXIT_USAGE = 2    /* bad usage or configuration */
};

/* Global options, set by main() before a command runs. */
typedef struct azr_cli_globals {
    const char *config_path;
    int verbose;
} azr_cli_globals;

extern azr_cli_globals azr_cli;

/* Prints "azroute: <message>" and a newline on stderr. */
void azr_cli_error(const char *fmt, ...) AZR_PRINTF(1, 2);

/* Parses a positive count for option `opt`; prints the error and returns
 * 0 when `s` is not a decimal in 1..max. */
int azr_cli_parse_count(const char *opt, const char *s, unsigned long max,
                        unsigned long *out);

/* ---- cli_output.c: what the transport commands share ---- */

#include <stdint.h>

/* Summary of a set of latency samples, in milliseconds. */
typedef struct azr_cli_latency {
    size_t n;
    double avg, p50, p99, min, max;
} azr_cli_latency;

/* CLOCK_MONOTONIC in ns: latency as the application sees it. */
uint64_t azr_cli_now_ns(void);

/* 1 if the context has a transport plugin; else prints that `command`
 * needs one and returns 0. */
int azr_cli_has_transport(azr_ctx *ctx, const char *command);

/* Exit status for a failed library call: usage/configuration errors 2,
 * the rest 1. */
int azr_cli_exit_for(azr_code rc);

/* "primary" or "replica". */
const char *azr_cli_role_name(azr_role role);

/* Sorts `v` (n latencies in ns) in place and summarises it in ms. */
azr_cli_latency azr_cli_summarise(uint64_t *v, size_t n);

/* Writes `s` as a JSON string (RFC 8259 escaping), or null for NULL. */
void azr_cli_json_string(const char *s);

/* Writes a latency in ms (3 decimals), or null when !have. */
void azr_cli_json_ms(int have, double ms);

/* Node `index` in snapshot s, or NULL: a snapshot lists the nodes in the
 * group when it was taken, by index (under live topology a node may join
 * or leave between two snapshots). */
const azr_node_snapshot *azr_cli_snapshot_node(const azr_stats *s,
                                               size_t index);

/* Parses --read / --write into *intent; 1 if `arg` was one of them. */
int azr_cli_parse_intent(const char *arg, azr_intent *intent);

int azr_cli_az(azr_ctx *ctx, int argc, char **argv);
int azr_cli_check(azr_ctx *ctx, int argc, char **argv);
int azr_cli_plugins(azr_ctx *ctx, int argc, char **argv);
int azr_cli_pick(azr_ctx *ctx, int argc, char **argv);
int azr_cli_exec(azr_ctx *ctx, int argc, char **argv);
int azr_cli_probe(azr_ctx *ctx, int argc, char **argv);
int azr_cli_bench(azr_ctx *ctx, int argc, char **argv);
int azr_cli_topology(azr_ctx *ctx, int argc, char **argv);

/* "server", "config", "az_map" or "unknown" (cmd_topology.c). */
const char *azr_cli_az_source_name(azr_node_az_source source);

#endif /* AZR_TOOLS_CLI_H */
