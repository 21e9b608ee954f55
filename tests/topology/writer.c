/*
 * writer.c - a program that writes through azroute the whole time a test
 * changes the group under it (tests/topology_*.sh, the failover benchmark).
 *
 *   writer CONFIG OUT STOPFILE [--read]
 *
 * Opens CONFIG and runs SET w:N N (N = 0, 1, ...) through azr_exec as
 * writes, one after the other (with --read: GET w:0 as reads), until
 * STOPFILE exists (checked between requests) or 120 s pass. Each request
 * appends one line to OUT:
 *     ok N T_MS NODE_ID        the write N was acknowledged
 *     err N T_MS message       it failed (the reason, one line)
 * T_MS is CLOCK_MONOTONIC in ms when the request ended (the tests compare
 * it with `date` taken through clock_gettime too: the fields of
 * /proc/uptime are not precise enough, so they stamp events with this
 * program's sibling `writer now`). Exit 0.
 *   writer now                prints CLOCK_MONOTONIC in ms
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
        fprintf(stderr, "usage: writer CONFIG OUT STOPFILE [--read] | "
                        "writer now\n");
        return 2;
    }
    int reads = argc > 4 && strcmp(argv[4], "--read") == 0;
    char err[AZR_ERRBUF_SIZE];
    azr_ctx *ctx;
    azr_open_options o = { .struct_size = sizeof o };
    if (azr_open_ex(&ctx, argv[1], &o, err) != AZR_OK) {
        fprintf(stderr, "writer: %s\n", err);
        return 1;
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
        char key[32], val[32];
        snprintf(key, sizeof key, "w:%lu", reads ? 0ul : n);
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
    fclose(out);
    azr_close(ctx);
    return 0;
}
