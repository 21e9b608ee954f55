/*
 * kv.c - writes and reads keys through azroute's pipelines
 * (azr_exec_pipeline) for the cluster-mode tests (tests/cluster_redis.sh,
 * tests/bench/cluster.sh).
 *
 *   kv CONFIG set PREFIX N [--from F] [--batch B] [--width W]
 *   kv CONFIG get PREFIX N [--from F] [--batch B] [--width W] [--write]
 *
 * set: SET PREFIX:i PREFIX-i for i in [F, F+N) as writes, in pipelines of
 * B commands (default 100; in cluster mode the library splits each by
 * node). get: GET PREFIX:i as reads, in pipelines of B, each reply
 * compared with PREFIX-i (--write: the GETs go as writes, to primaries,
 * which answer ASK for a key of a migrating slot). i is written with at least W digits (zeros in
 * front; default 1): --width 12 makes the keys that `azroute bench
 * --keyspace` and redis-benchmark -r read (key:000000000042). Prints
 *     set N errors E
 *     get N match M nil X wrong W errors E
 * (E: commands whose pipeline failed or whose reply was an error reply;
 * the first of each kind is printed on stderr), then one line per node
 * that answered, from the pipeline's node indexes,
 *     node ID COMMANDS
 * then
 *     stats moved M ask A retries R
 * from azr_stats_get. Exit 0 when every command succeeded (and, for get,
 * every value matched), 1 otherwise, 2 on a usage error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <azroute/azroute.h>

#define BATCH_MAX 10000

static int usage(void)
{
    fprintf(stderr, "usage: kv CONFIG set|get PREFIX N [--from F] "
                    "[--batch B] [--width W] [--write]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 5)
        return usage();
    const char *config = argv[1], *op = argv[2], *prefix = argv[3];
    int writes;
    if (strcmp(op, "set") == 0)
        writes = 1;
    else if (strcmp(op, "get") == 0)
        writes = 0;
    else
        return usage();
    char *end;
    unsigned long n = strtoul(argv[4], &end, 10), from = 0, batch = 100;
    unsigned long width = 1;
    int primaries = 0;
    if (*end != '\0')
        return usage();
    for (int i = 5; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--from") == 0)
            from = strtoul(argv[++i], &end, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--batch") == 0)
            batch = strtoul(argv[++i], &end, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--width") == 0)
            width = strtoul(argv[++i], &end, 10);
        else if (!writes && strcmp(argv[i], "--write") == 0)
            primaries = 1;
        else
            return usage();
        if (*end != '\0')
            return usage();
    }
    if (batch == 0 || batch > BATCH_MAX || strlen(prefix) > 64 ||
        width == 0 || width > 20)
        return usage();

    char err[AZR_ERRBUF_SIZE];
    azr_ctx *ctx;
    azr_open_options o = { .struct_size = sizeof o };
    if (azr_open_ex(&ctx, config, &o, err) != AZR_OK) {
        fprintf(stderr, "kv: %s\n", err);
        return 1;
    }
    azr_exec_options x = {
        .struct_size = sizeof x,
        .intent = writes || primaries ? AZR_INTENT_WRITE : AZR_INTENT_READ,
    };
    char (*keys)[96] = calloc(batch, sizeof *keys);
    char (*vals)[96] = calloc(batch, sizeof *vals);
    const char **argvs = calloc(batch * 3, sizeof *argvs);
    azr_command *cmds = calloc(batch, sizeof *cmds);
    azr_reply **replies = calloc(batch, sizeof *replies);
    size_t *answered_by = calloc(batch, sizeof *answered_by);
    /* commands answered, by node index (a table change may add nodes) */
    size_t n_served = 64;
    unsigned long *served = calloc(n_served, sizeof *served);
    if (!keys || !vals || !argvs || !cmds || !replies || !answered_by ||
        !served) {
        fprintf(stderr, "kv: out of memory\n");
        return 1;
    }
    unsigned long match = 0, nil = 0, wrong = 0, errors = 0;
    int said_err = 0, said_wrong = 0;
    for (unsigned long i = from; i < from + n; i += batch) {
        size_t m = (size_t)(from + n - i < batch ? from + n - i : batch);
        for (size_t j = 0; j < m; j++) {
            snprintf(keys[j], sizeof keys[j], "%s:%0*lu", prefix,
                     (int)width, i + j);
            snprintf(vals[j], sizeof vals[j], "%s-%0*lu", prefix,
                     (int)width, i + j);
            const char **a = argvs + 3 * j;
            a[0] = writes ? "SET" : "GET";
            a[1] = keys[j];
            a[2] = vals[j];
            cmds[j].argc = writes ? 3 : 2;
            cmds[j].argv = a;
        }
        azr_code rc = azr_exec_pipeline(ctx, &x, m, cmds, replies,
                                        answered_by, err);
        if (rc != AZR_OK) {
            errors += m;
            if (!said_err++)
                fprintf(stderr, "kv: pipeline at %s: %s\n", keys[0], err);
            continue;
        }
        for (size_t j = 0; j < m; j++) {
            azr_reply *r = replies[j];
            if (answered_by[j] == SIZE_MAX) {
                /* no node answered it: counted below as an error */
            } else if (answered_by[j] >= n_served) {
                size_t nn = answered_by[j] + 64;
                unsigned long *g = realloc(served, nn * sizeof *g);
                if (g == NULL) {
                    fprintf(stderr, "kv: out of memory\n");
                    return 1;
                }
                memset(g + n_served, 0, (nn - n_served) * sizeof *g);
                served = g;
                n_served = nn;
            }
            if (answered_by[j] != SIZE_MAX)
                served[answered_by[j]]++;
            if (r == NULL || r->type == AZR_REPLY_ERROR) {
                errors++;
                if (!said_err++)
                    fprintf(stderr, "kv: %s %s: %s\n", cmds[j].argv[0],
                            keys[j], r ? r->str : "no reply");
            } else if (!writes && r->type == AZR_REPLY_NIL) {
                nil++;
                if (!said_wrong++)
                    fprintf(stderr, "kv: GET %s: nil\n", keys[j]);
            } else if (!writes && (r->len != strlen(vals[j]) ||
                                   memcmp(r->str, vals[j], r->len) != 0)) {
                wrong++;
                if (!said_wrong++)
                    fprintf(stderr, "kv: GET %s: '%.*s', not '%s'\n",
                            keys[j], (int)(r->len > 80 ? 80 : r->len),
                            r->str ? r->str : "", vals[j]);
            } else {
                match++;
            }
            azr_reply_free(r);
        }
    }
    if (writes)
        printf("set %lu errors %lu\n", n, errors);
    else
        printf("get %lu match %lu nil %lu wrong %lu errors %lu\n", n, match,
               nil, wrong, errors);
    for (size_t k = 0; k < n_served; k++) {
        azr_node_info info;
        if (served[k] > 0)
            printf("node %s %lu\n",
                   azr_node_get(ctx, k, &info) == AZR_OK ? info.id : "?",
                   served[k]);
    }
    azr_stats *st = NULL;
    if (azr_stats_get(ctx, &st) == AZR_OK) {
        printf("stats moved %llu ask %llu retries %llu\n",
               (unsigned long long)st->redirects_moved,
               (unsigned long long)st->redirects_ask,
               (unsigned long long)st->cluster_retries);
        azr_stats_free(st);
    }
    free(keys);
    free(vals);
    free(argvs);
    free(cmds);
    free(replies);
    free(answered_by);
    free(served);
    azr_close(ctx);
    return errors == 0 && nil == 0 && wrong == 0 ? 0 : 1;
}
