/*
 * convergence.c - how fast the default chain moves traffic off a node whose
 * latency jumps 10x. Not a test: it prints figures for
 * tests/bench/RESULTS.md.
 *
 *   tests/bench/convergence [REQUESTS_AFTER_JUMP]
 *
 * A simulation through the real library and plugins: three replicas in the
 * caller's AZ (chain failover, same_az, weighted_latency, defaults), each
 * answering in 0.5 ms (+/- 10% jitter), requests sent one after another on
 * a virtual clock (injected through azr_open_ex) that advances by each
 * request's latency, every outcome reported. After a warm-up of 40000
 * requests node n0's latency jumps to 5 ms. Printed: n0's share of the
 * last 1000 requests before the jump, the requests n0 received after it,
 * the convergence point J (the fewest requests after the jump such that,
 * of the WINDOW requests that follow, n0 gets at most 10% of its former
 * share: >= 90% of its traffic has left), and n0's share from J to the end
 * of the run. Repeated for a spread of random seeds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <azroute/azroute.h>

#define WARMUP 40000
#define WINDOW 1000

static uint64_t vclock;
static uint64_t rng = 88172645463325252ull;

static uint64_t clock_fn(void *ud)
{
    (void)ud;
    return vclock;
}

static uint64_t xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint64_t random_fn(void *ud)
{
    (void)ud;
    return xorshift();
}

static char *write_config(void)
{
    static const char text[] =
        "[azroute]\npolicy = failover, same_az, weighted_latency\n"
        "[metadata]\nsource = none\n"
        "[node n0]\nhost = 10.0.0.1\nport = 6379\naz_id = use1-az1\n"
        "role = replica\n"
        "[node n1]\nhost = 10.0.0.2\nport = 6379\naz_id = use1-az1\n"
        "role = replica\n"
        "[node n2]\nhost = 10.0.0.3\nport = 6379\naz_id = use1-az1\n"
        "role = replica\n";
    char *path = strdup("/tmp/azroute-conv-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, text, sizeof text - 1) != sizeof text - 1) {
        perror("convergence: config");
        exit(1);
    }
    close(fd);
    return path;
}

/* One run; returns the convergence point J (-1 if never reached). */
static long run(uint64_t seed, unsigned long after, unsigned long *hits_after,
                double *share_before, double *share_rest)
{
    rng = seed;
    vclock = 1000000000ull;
    char *path = write_config();
    azr_open_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.clock = clock_fn;
    o.random = random_fn;
    o.az_id = "use1-az1";
    azr_ctx *ctx;
    char err[AZR_ERRBUF_SIZE];
    if (azr_open_ex(&ctx, path, &o, err) != AZR_OK) {
        fprintf(stderr, "convergence: %s\n", err);
        exit(1);
    }
    unlink(path);
    free(path);

    unsigned char *post = calloc(after, 1); /* 1: n0 picked */
    if (post == NULL) {
        fprintf(stderr, "convergence: out of memory\n");
        exit(1);
    }
    unsigned long before_n0 = 0;
    *hits_after = 0;
    for (unsigned long k = 0; k < WARMUP + after; k++) {
        size_t node;
        if (azr_pick(ctx, AZR_INTENT_READ, &node) != AZR_OK) {
            fprintf(stderr, "convergence: pick failed\n");
            exit(1);
        }
        int jumped = k >= WARMUP;
        double base_ms = node == 0 && jumped ? 5.0 : 0.5;
        double jitter = 0.9 + 0.2 * (double)(xorshift() >> 11) * 0x1.0p-53;
        uint64_t rtt = (uint64_t)(base_ms * jitter * 1e6);
        vclock += rtt;
        azr_report(ctx, node, rtt, AZR_STATUS_OK, 0);
        if (!jumped) {
            if (k >= WARMUP - 1000)
                before_n0 += node == 0;
        } else {
            post[k - WARMUP] = node == 0;
            *hits_after += node == 0;
        }
    }
    azr_close(ctx);

    double pre = (double)before_n0 / 1000.0;
    *share_before = pre;
    long conv = -1;
    unsigned long in = 0;
    for (unsigned long j = 0; j < WINDOW && j < after; j++)
        in += post[j];
    for (unsigned long j = 0; j + WINDOW <= after; j++) {
        if ((double)in / WINDOW <= 0.1 * pre) {
            conv = (long)j;
            break;
        }
        in -= post[j];
        if (j + WINDOW < after)
            in += post[j + WINDOW];
    }
    unsigned long rest_n0 = 0;
    if (conv >= 0)
        for (unsigned long j = (unsigned long)conv; j < after; j++)
            rest_n0 += post[j];
    *share_rest = conv >= 0 ? (double)rest_n0 / (double)(after - conv) : 0.0;
    free(post);
    return conv;
}

int main(int argc, char **argv)
{
    unsigned long after = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
    if (after < 2 * WINDOW)
        after = 20000;
    printf("azroute %s convergence: 3 same-AZ replicas at 0.5 ms, n0 jumps "
           "to 5 ms after %d requests\n", azr_version(NULL), WARMUP);
    printf("%-6s %-14s %-18s %-22s %s\n", "seed", "n0 share", "n0 hits after",
           "converged after (req)", "n0 share afterwards");
    for (uint64_t seed = 1; seed <= 8; seed++) {
        unsigned long hits;
        double before, rest;
        long conv = run(seed * 0x9E3779B97F4A7C15ull, after, &hits, &before,
                        &rest);
        printf("%-6llu %-14.3f %-18lu %-22ld %.4f\n",
               (unsigned long long)seed, before, hits, conv, rest);
    }
    return 0;
}
