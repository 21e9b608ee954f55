/*
 * writer.c - a program that writes through azroute the whole time a test
 * changes the group under it (tests/topology_failover.sh,
 * tests/bench/failover_window.sh).
 *
 *   writer CONFIG OUT STOPFILE [--read] [--prefix P] [--fork]
 *
 * Opens CONFIG and runs SET P:N N (N = 0, 1, ...; P defaults to w) through
 * azr_exec as writes, one after the other (with --read: GET P:0 as
 * reads), until STOPFILE exists (checked between requests) or 120 s pass.
 * Each request appends one line to OUT:
 *     ok N T_MS NODE_ID        request N was acknowledged by NODE_ID
 *     err N T_MS message       it failed (the reason, one line)
 * With --fork, the program runs one request (which starts the context's
 * refresh thread), then forks: the child does the work above on the
 * context it inherited (as a pre-forking server's workers do) and the
 * parent waits for it and exits with its status.
 * When it stops, it appends the context's redirect counters (azr_stats;
 * all 0 outside cluster mode):
 *     stats moved M ask A retries R
 * (MOVED and ASK replies followed, TRYAGAIN/CLUSTERDOWN waited out).
 * T_MS is CLOCK_MONOTONIC in ms when the request ended; `writer now`
 * prints the same clock, so that a script can stamp its own events on
 * the writer's time line. Exit 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <azroute/azroute.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "now") == 0) {
        printf("%.3f\n", now_ms());
        return 0;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: writer CONFIG OUT STOPFILE [--read] "
                        "[--prefix P] | writer now\n");
        return 2;
    }
    int reads = 0, forks = 0;
    const char *prefix = "w";
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--read") == 0)
            reads = 1;
        else if (strcmp(argv[i], "--fork") == 0)
            forks = 1;
        else if (strcmp(argv[i], "--prefix") == 0 && i + 1 < argc)
            prefix = argv[++i];
        else {
            fprintf(stderr, "writer: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    char err[AZR_ERRBUF_SIZE];
    azr_ctx *ctx;
    azr_open_options o = { .struct_size = sizeof o };
    if (azr_open_ex(&ctx, argv[1], &o, err) != AZR_OK) {
        fprintf(stderr, "writer: %s\n", err);
        return 1;
    }
    if (forks) {
        const char *ping[] = { "SET", "writer:fork", "parent" };
        const azr_command cmd = { .argc = 3, .argv = ping };
        azr_reply *reply = NULL;
        azr_code rc = azr_exec(ctx, AZR_INTENT_WRITE, &cmd, &reply, NULL,
                               err);
        azr_reply_free(reply);
        if (rc != AZR_OK) {
            fprintf(stderr, "writer: before the fork: %s\n", err);
            azr_close(ctx);
            return 1;
        }
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid > 0) {
            int st = 0;
            waitpid(pid, &st, 0);
            azr_close(ctx);
            return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
        }
    }
    FILE *out = fopen(argv[2], "w");
    if (out == NULL) {
        perror(argv[2]);
        azr_close(ctx);
        return 1;
    }
    setvbuf(out, NULL, _IOLBF, 0);
    double start = now_ms();
    for (unsigned long n = 0; access(argv[3], F_OK) != 0 &&
                              now_ms() - start < 120000; n++) {
        char key[96], val[32];
        snprintf(key, sizeof key, "%.64s:%lu", prefix, reads ? 0ul : n);
        snprintf(val, sizeof val, "%lu", n);
        const char *set[] = { "SET", key, val };
        const char *get[] = { "GET", key };
        const azr_command cmd = {
            .argc = reads ? 2 : 3,
            .argv = reads ? get : set,
        };
        azr_reply *reply = NULL;
        size_t node = 0;
        azr_code rc = azr_exec(ctx, reads ? AZR_INTENT_READ
                                          : AZR_INTENT_WRITE,
                               &cmd, &reply, &node, err);
        double t = now_ms();
        if (rc == AZR_OK && reply->type != AZR_REPLY_ERROR) {
            azr_node_info info;
            azr_node_get(ctx, node, &info);
            fprintf(out, "ok %lu %.3f %s\n", n, t, info.id);
        } else {
            fprintf(out, "err %lu %.3f %s\n", n, t,
                    rc == AZR_OK ? reply->str : err);
        }
        azr_reply_free(reply);
    }
    azr_stats *st = NULL;
    if (azr_stats_get(ctx, &st) == AZR_OK) {
        fprintf(out, "stats moved %llu ask %llu retries %llu\n",
                (unsigned long long)st->redirects_moved,
                (unsigned long long)st->redirects_ask,
                (unsigned long long)st->cluster_retries);
        azr_stats_free(st);
    }
    fclose(out);
    azr_close(ctx);
    /* A child of a parent that had threads: at exit LeakSanitizer would
     * try to stop the parent's threads, which it still lists and the
     * child does not have, and report that it could not. Everything was
     * released above; the same work without fork() runs leak-checked in
     * the failover test's first act. */
    if (forks)
        _exit(0);
    return 0;
}
