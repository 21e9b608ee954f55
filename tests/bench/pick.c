/*
 * pick.c - micro-benchmark of azr_pick with the default chain
 * (failover, same_az, weighted_latency): ns per pick for 3 and 256 nodes,
 * on 1 and 2 threads, and the number of heap allocations made while
 * picking (counted by interposing malloc & co. in this program).
 *
 *   tests/bench/pick [PICKS_PER_THREAD]
 *   tests/bench/pick --report [PICKS_PER_THREAD]
 *
 * --report: each pick is followed by azr_report() of an answer (the
 * public API's whole per-request cost), for 3 and 64 nodes, and the
 * summary gives the 2-thread throughput as a multiple of 1 thread's.
 *
 * Not a test: it prints figures for tests/bench/RESULTS.md.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <azroute/azroute.h>

/* Allocation counter: glibc's entry points stay reachable under these
 * names, and the program's own definitions take precedence over libc's
 * for every library in the process. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static atomic_ulong allocations;

void *malloc(size_t n)
{
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_realloc(p, n);
}

void free(void *p)
{
    __libc_free(p);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *make_config(unsigned n_nodes)
{
    static const char *const azs[] = { "use1-az1", "use1-az2", "use1-az4" };
    char *path = strdup("/tmp/azroute-bench-XXXXXX");
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        perror("bench config");
        exit(1);
    }
    fprintf(f, "[azroute]\npolicy = failover, same_az, weighted_latency\n"
               "[metadata]\nsource = static\naz_id = use1-az1\n");
    for (unsigned i = 0; i < n_nodes; i++)
        fprintf(f, "[node n%u]\nhost = 127.0.0.1\nport = %u\naz = %s\n"
                   "role = %s\n", i, 10000 + i, azs[i % 3],
                i == 0 ? "primary" : "replica");
    fclose(f);
    return path;
}

typedef struct run {
    azr_ctx *ctx;
    int report;         /* report an answer after each pick */
    unsigned long picks;
    unsigned long failures;
    pthread_barrier_t *barrier; /* NULL: no synchronisation */
} run;

/* Threads meet at the barrier before and after picking, so that the
 * allocation count and the clock cover picks only, not thread start-up. */
static void *pick_loop(void *arg)
{
    run *r = arg;
    size_t node;
    /* Warm up on this thread first: caches, and the one-time per-thread
     * set-up (a dlopen'd plugin's thread-local storage is allocated on
     * its first use in each thread). */
    for (unsigned long k = 0; k < 1000; k++)
        azr_pick(r->ctx, AZR_INTENT_READ, &node);
    if (r->barrier != NULL)
        pthread_barrier_wait(r->barrier);
    for (unsigned long k = 0; k < r->picks; k++) {
        if (azr_pick(r->ctx, AZR_INTENT_READ, &node) != AZR_OK)
            r->failures++;
        else if (r->report)
            azr_report(r->ctx, node, 500000 + (k & 1023) * 100,
                       AZR_STATUS_OK, 0);
    }
    if (r->barrier != NULL)
        pthread_barrier_wait(r->barrier);
    return NULL;
}

/* Returns the best round's time per pick and thread, in ns. */
static double measure(unsigned n_nodes, unsigned threads, unsigned long picks,
                      int report)
{
    char *path = make_config(n_nodes);
    char err[AZR_ERRBUF_SIZE];
    azr_ctx *ctx;
    if (azr_open(&ctx, path, err) != AZR_OK) {
        fprintf(stderr, "pick: %s\n", err);
        exit(1);
    }
    unlink(path);
    free(path);

    /* Seed every node's latency estimate so weighted_latency has work. */
    for (size_t i = 0; i < azr_node_count(ctx); i++)
        azr_report(ctx, i, 500000 + i * 1000, AZR_STATUS_OK, 0);

    /* Several rounds; the fastest is reported next to the median, since on
     * a shared machine other work only ever adds time. */
    enum { ROUNDS = 5 };
    double round_ns[ROUNDS];
    unsigned long allocs = 0, failures = 0;
    for (int round = 0; round < ROUNDS; round++) {
        run runs[8];
        pthread_t tids[8];
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, threads);
        for (unsigned t = 0; t < threads; t++)
            runs[t] = (run){ .ctx = ctx, .picks = picks,
                             .report = report, .barrier = &barrier };
        pick_loop(&(run){ .ctx = ctx, .picks = picks / 10 }); /* warm up */
        for (int k = 0; k < 1000; k++) { /* thread 0's own warm-up */
            size_t node;
            azr_pick(ctx, AZR_INTENT_READ, &node);
        }

        for (unsigned t = 1; t < threads; t++)
            pthread_create(&tids[t], NULL, pick_loop, &runs[t]);
        /* Thread 0 is this one: measure between its two barrier waits. */
        pthread_barrier_wait(&barrier);
        unsigned long before = atomic_load(&allocations);
        double start = now_s();
        runs[0].barrier = NULL;
        pick_loop(&runs[0]);
        pthread_barrier_wait(&barrier);
        double elapsed = now_s() - start;
        allocs += atomic_load(&allocations) - before;
        for (unsigned t = 1; t < threads; t++)
            pthread_join(tids[t], NULL);
        pthread_barrier_destroy(&barrier);
        for (unsigned t = 0; t < threads; t++)
            failures += runs[t].failures;
        round_ns[round] = elapsed * 1e9 / (double)picks;
    }
    /* insertion sort: five values */
    for (int i = 1; i < ROUNDS; i++)
        for (int j = i; j > 0 && round_ns[j] < round_ns[j - 1]; j--) {
            double t = round_ns[j];
            round_ns[j] = round_ns[j - 1];
            round_ns[j - 1] = t;
        }
    printf("nodes=%-4u threads=%u  %lu %s/thread x %d rounds  "
           "best %.1f ns  median %.1f ns (per thread)  "
           "heap allocations: %lu%s\n",
           n_nodes, threads, picks, report ? "pick+report" : "picks",
           ROUNDS, round_ns[0], round_ns[ROUNDS / 2], allocs,
           failures ? "  FAILURES" : "");
    azr_close(ctx);
    return round_ns[0];
}

int main(int argc, char **argv)
{
    int report = argc > 1 && strcmp(argv[1], "--report") == 0;
    if (report) {
        argc--;
        argv++;
    }
    unsigned long picks = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
    if (picks == 0)
        picks = 2000000;
    printf("azroute %s pick micro-benchmark, chain failover -> same_az -> "
           "weighted_latency%s\n", azr_version(NULL),
           report ? ", each pick reported" : "");
    if (!report) {
        measure(3, 1, picks, 0);
        measure(3, 2, picks, 0);
        measure(256, 1, picks / 10, 0);
        measure(256, 2, picks / 10, 0);
        return 0;
    }
    static const unsigned sizes[] = { 3, 64 };
    for (size_t i = 0; i < 2; i++) {
        unsigned long n = sizes[i] > 3 ? picks / 4 : picks;
        double one = measure(sizes[i], 1, n, 1);
        double two = measure(sizes[i], 2, n, 1);
        /* Throughput: threads / time per request on each thread. */
        printf("nodes=%-4u 2-thread throughput = %.2fx 1 thread\n",
               sizes[i], 2.0 * one / two);
    }
    return 0;
}
