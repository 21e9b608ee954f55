/*
 * azroute - command-line front end of libazroute.
 *
 *   azroute [-c FILE] [-v] COMMAND [ARGS]
 *
 * main() handles the global options, opens the context and dispatches to
 * one command; the commands live in cmd_*.c. Exit status: 0 ok, 1 runtime
 * failure, 2 usage or configuration error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <azroute/plugin.h>

#include "cli.h"

#ifndef AZR_SYSCONFDIR
#define AZR_SYSCONFDIR "/usr/local/etc"
#endif

azr_cli_globals azr_cli;

typedef struct command {
    const char *name;
    int (*run)(azr_ctx *ctx, int argc, char **argv);
    const char *synopsis;
} command;

static const command commands[] = {
    { "az", azr_cli_az, "az                                 print this process's AZ ID (-v: source, cache state)" },
    { "check", azr_cli_check, "check                              load config and plugins, print the chain" },
    { "plugins", azr_cli_plugins, "plugins                            list plugins: name, kind, ABI version, file" },
    { "topology", azr_cli_topology, "topology [--json]                  the node table: role, AZ and its source, same-AZ" },
    { "pick", azr_cli_pick, "pick [--read|--write] [-n N]       route; N=1 prints the node id, N>1 a count per node" },
    { "exec", azr_cli_exec, "exec [--read|--write] [--timeout-ms MS] CMD [ARG...]\n                                     run one command on the routed node, print the reply" },
    { "probe", azr_cli_probe, "probe [-n N] [--json]              PING each node N times: per-node and same-AZ vs cross-AZ latency" },
    { "bench", azr_cli_bench, "bench [-n N] [-P DEPTH] [--read|--write] [--json]\n            [--emit prometheus|emf|json] [CMD ARG...]\n                                     run CMD (default PING) N times through the engine" },
};

void azr_cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("azroute: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int azr_cli_parse_count(const char *opt, const char *s, unsigned long max,
                        unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = s != NULL && s[0] >= '0' && s[0] <= '9'
                          ? strtoul(s, &end, 10) : 0;
    if (s == NULL || v == 0 || errno != 0 || *end != '\0' || v > max) {
        azr_cli_error("%s: expected a count from 1 to %lu, got '%s'", opt,
                      max, s != NULL ? s : "");
        return 0;
    }
    *out = v;
    return 1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: azroute [-c FILE] [-v] COMMAND [ARGS]\n"
                 "       azroute --help | --version\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %s\n", commands[i].synopsis);
    fprintf(out, "\nconfiguration: -c FILE, else $AZROUTE_CONFIG, else "
                 "%s/azroute.ini\n"
                 "environment: AZROUTE_CONFIG, AZROUTE_PLUGIN_DIR, "
                 "AZROUTE_AZ_ID\n"
                 "exit status: 0 ok, 1 runtime failure, 2 usage or "
                 "configuration error\n"
                 "see azroute(1) and azroute.ini(5)\n", AZR_SYSCONFDIR);
}

static void log_to_stderr(void *userdata, azr_log_level level,
                          const char *message)
{
    (void)userdata;
    static const char *const names[] = {
        [AZR_LOG_ERROR] = "error", [AZR_LOG_WARNING] = "warning",
        [AZR_LOG_INFO] = "info", [AZR_LOG_DEBUG] = "debug",
    };
    const char *name = (unsigned)level < sizeof names / sizeof names[0] &&
                               names[level] != NULL
                           ? names[level] : "log";
    fprintf(stderr, "azroute: %s: %s\n", name, message);
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (++i == argc) {
                azr_cli_error("%s needs a file name", a);
                return AZR_EXIT_USAGE;
            }
            azr_cli.config_path = argv[i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            azr_cli.config_path = a + 9;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            azr_cli.verbose++;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return AZR_EXIT_OK;
        } else if (strcmp(a, "--version") == 0) {
            printf("azroute %s (plugin ABI %d.%d)\n", azr_version(NULL),
                   AZR_PLUGIN_ABI_MAJOR, AZR_PLUGIN_ABI_MINOR);
            return AZR_EXIT_OK;
        } else {
            azr_cli_error("unknown option '%s' (see azroute --help)", a);
            return AZR_EXIT_USAGE;
        }
    }
    if (i == argc) {
        usage(stderr);
        return AZR_EXIT_USAGE;
    }
    const command *cmd = NULL;
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
        if (strcmp(argv[i], commands[c].name) == 0)
            cmd = &commands[c];
    if (cmd == NULL) {
        azr_cli_error("unknown command '%s' (see azroute --help)", argv[i]);
        return AZR_EXIT_USAGE;
    }

    if (azr_cli.config_path == NULL)
        azr_cli.config_path = getenv("AZROUTE_CONFIG");
    if (azr_cli.config_path == NULL || azr_cli.config_path[0] == '\0')
        azr_cli.config_path = AZR_SYSCONFDIR "/azroute.ini";

    azr_open_options opts = {
        .struct_size = sizeof opts,
        .log = log_to_stderr,
        /* `az` explains an unknown AZ itself; elsewhere it is a warning. */
        .log_level = strcmp(cmd->name, "az") == 0 ? AZR_LOG_ERROR
                     : azr_cli.verbose > 1        ? AZR_LOG_DEBUG
                     : azr_cli.verbose            ? AZR_LOG_INFO
                                                  : AZR_LOG_WARNING,
    };
    char err[AZR_ERRBUF_SIZE];
    azr_ctx *ctx;
    azr_code rc = azr_open_ex(&ctx, azr_cli.config_path, &opts, err);
    if (rc != AZR_OK) {
        azr_cli_error("%s", err[0] != '\0' ? err : azr_strerror(rc));
        /* The setup was refused before anything was attempted: the file
         * (AZR_E_CONFIG, which includes a plugin it names that does not
         * exist), a plugin file it names (AZR_E_PLUGIN: refused) or a
         * mode this version does not support (AZR_E_UNSUPPORTED). All
         * are configuration errors, exit 2 (azroute(1), EXIT STATUS);
         * anything else, such as running out of memory or a group whose
         * servers do not answer, is exit 1. */
        return rc == AZR_E_CONFIG || rc == AZR_E_PLUGIN ||
                       rc == AZR_E_INVALID_ARGUMENT ||
                       rc == AZR_E_UNSUPPORTED
                   ? AZR_EXIT_USAGE : AZR_EXIT_RUNTIME;
    }
    int status = cmd->run(ctx, argc - i, argv + i);
    azr_close(ctx);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        azr_cli_error("cannot write output: %s", strerror(errno));
        return AZR_EXIT_RUNTIME;
    }
    return status;
}
