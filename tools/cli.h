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

int azr_cli_az(azr_ctx *ctx, int argc, char **argv);
int azr_cli_check(azr_ctx *ctx, int argc, char **argv);
int azr_cli_plugins(azr_ctx *ctx, int argc, char **argv);
int azr_cli_pick(azr_ctx *ctx, int argc, char **argv);
int azr_cli_exec(azr_ctx *ctx, int argc, char **argv);
int azr_cli_probe(azr_ctx *ctx, int argc, char **argv);
int azr_cli_bench(azr_ctx *ctx, int argc, char **argv);

#endif /* AZR_TOOLS_CLI_H */
