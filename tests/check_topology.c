/*
 * check_topology.c - node-table generations without a network: azr_reload
 * on static files (indexes, statistics and policy state carried over, a
 * bad file refused with the running table kept, nodes joining and
 * leaving), and picks and outcomes on many threads while tables are
 * swapped in a loop (run under TSan and ASan by CI).
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <azroute/azroute.h>

#include "testutil.h"

#define HEAD "[azroute]\npolicy = failover, same_az, weighted_latency\n"
#define NODE(id, port, az, role)                                            \
    "[node " id "]\nhost = 127.0.0.1\nport = " port "\naz = " az           \
    "\nrole = " role "\n"
#define THREE NODE("pa", "7001", "use1-az1", "primary")                     \
    NODE("ra1", "7002", "use1-az1", "replica")                              \
    NODE("rb", "7003", "use1-az2", "replica")

/* A context on a file that stays (azr_reload reads it again). */
static azr_ctx *open_file(char **path, const char *text)
{
    *path = azr_test_write_file(text);
    azr_open_options o = { .struct_size = sizeof o, .az_id = "use1-az1" };
    char err[AZR_ERRBUF_SIZE];
    azr_ctx *ctx = NULL;
    ck_assert_msg(azr_open_ex(&ctx, *path, &o, err) == AZR_OK, "open: %s",
                  err);
    return ctx;
}

static void rewrite(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static size_t node_index(azr_ctx *ctx, const char *id)
{
    size_t i = 0;
    ck_assert_int_eq(azr_node_find(ctx, id, &i), AZR_OK);
    return i;
}

static const azr_node_snapshot *snap_node(const azr_stats *s, size_t index)
{
    for (size_t i = 0; i < s->n_nodes; i++)
        if (s->nodes[i].index == index)
            return &s->nodes[i];
    return NULL;
}

START_TEST(test_reload_carries_state)
{
    char *path;
    azr_ctx *ctx = open_file(&path, HEAD THREE);
    size_t rb = node_index(ctx, "rb"), ra1 = node_index(ctx, "ra1");
    ck_assert_uint_eq(azr_topology_generation(ctx), 1);
    ck_assert_str_eq(azr_topology_mode_name(ctx), "static");
    /* rb fails until failover ejects it; ra1 answers in 2 ms. */
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(azr_report(ctx, rb, 0, AZR_STATUS_REFUSED, 0),
                         AZR_OK);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(azr_report(ctx, ra1, 2000000, AZR_STATUS_OK, 0),
                         AZR_OK);
    azr_stats *before = NULL, *after = NULL;
    ck_assert_int_eq(azr_stats_get(ctx, &before), AZR_OK);
    ck_assert(snap_node(before, rb)->ejected);

    char err[AZR_ERRBUF_SIZE];
    ck_assert_msg(azr_reload(ctx, err) == AZR_OK, "reload: %s", err);
    ck_assert_uint_eq(azr_topology_generation(ctx), 2);
    ck_assert_uint_eq(node_index(ctx, "rb"), rb);
    ck_assert_int_eq(azr_stats_get(ctx, &after), AZR_OK);
    ck_assert_uint_eq(after->topology_changes, 1);
    /* counters stay with the index; policy state came over (carry) */
    ck_assert_uint_eq(snap_node(after, rb)->requests, 10);
    ck_assert(snap_node(after, rb)->ejected);
    ck_assert(snap_node(after, ra1)->latency_ns > 0);
    ck_assert(snap_node(after, ra1)->latency_ns ==
              snap_node(before, ra1)->latency_ns);
    azr_stats_free(before);
    azr_stats_free(after);
    azr_close(ctx);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(test_reload_refuses_a_bad_file)
{
    char *path;
    azr_ctx *ctx = open_file(&path, HEAD THREE);
    rewrite(path, HEAD THREE "[node x]\nhost = 127.0.0.1\nport = 99999\n");
    char err[AZR_ERRBUF_SIZE];
    ck_assert_int_eq(azr_reload(ctx, err), AZR_E_CONFIG);
    char want[64];
    snprintf(want, sizeof want, "%s:", path);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0 &&
                      strstr(err, "port") != NULL,
                  "error: %s", err);
    ck_assert_uint_eq(azr_topology_generation(ctx), 1);
    ck_assert_uint_eq(azr_node_count(ctx), 3);
    /* what cannot change in a running context */
    rewrite(path, "[azroute]\ntransport = resp_tls\n" THREE);
    ck_assert_int_eq(azr_reload(ctx, err), AZR_E_UNSUPPORTED);
    ck_assert_msg(strstr(err, "transport") != NULL, "error: %s", err);
    ck_assert_uint_eq(azr_topology_generation(ctx), 1);
    azr_close(ctx);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(test_reload_nodes_join_and_leave)
{
    char *path;
    azr_ctx *ctx = open_file(&path, HEAD THREE);
    size_t rb = node_index(ctx, "rb");
    rewrite(path, HEAD NODE("pa", "7001", "use1-az1", "primary")
                      NODE("ra1", "7002", "use1-az1", "replica")
                      NODE("rc", "7004", "use1-az3", "replica"));
    char err[AZR_ERRBUF_SIZE];
    ck_assert_msg(azr_reload(ctx, err) == AZR_OK, "reload: %s", err);
    ck_assert_uint_eq(azr_node_count(ctx), 4);
    azr_node_info info;
    ck_assert_int_eq(azr_node_get(ctx, rb, &info), AZR_OK);
    ck_assert_int_eq(info.present, 0);
    ck_assert_int_eq(azr_node_get(ctx, 3, &info), AZR_OK);
    ck_assert_str_eq(info.id, "rc");
    ck_assert_int_eq(info.present, 1);
    ck_assert_int_eq(info.az_source, AZR_NODE_AZ_CONFIG);
    /* a node that left is never picked */
    for (int i = 0; i < 1000; i++) {
        size_t n;
        ck_assert_int_eq(azr_pick(ctx, AZR_INTENT_READ, &n), AZR_OK);
        ck_assert_uint_ne(n, rb);
        azr_report(ctx, n, 1000000, AZR_STATUS_OK, 0);
    }
    /* and comes back at its old index */
    rewrite(path, HEAD THREE);
    ck_assert_msg(azr_reload(ctx, err) == AZR_OK, "reload: %s", err);
    ck_assert_uint_eq(node_index(ctx, "rb"), rb);
    ck_assert_int_eq(azr_node_get(ctx, rb, &info), AZR_OK);
    ck_assert_int_eq(info.present, 1);
    azr_close(ctx);
    unlink(path);
    free(path);
}
END_TEST

/* Cluster mode discovers at open: no seed answering is the open's error,
 * one line naming the seed (port 1: nothing listens there). */
START_TEST(test_cluster_mode_without_seed)
{
    char *path = azr_test_write_file("[azroute]\ntransport = resp_tls\n"
                                     "[topology]\nmode = cluster\n"
                                     "seeds = 127.0.0.1:1\n"
                                     "[transport resp_tls]\ntls = no\n");
    azr_open_options o = { .struct_size = sizeof o, .az_id = "use1-az1" };
    char err[AZR_ERRBUF_SIZE];
    azr_ctx *ctx = NULL;
    ck_assert_int_eq(azr_open_ex(&ctx, path, &o, err), AZR_E_CONNECT);
    ck_assert_ptr_null(ctx);
    ck_assert_str_eq(err, "topology: no cluster node answered (1 tried, "
                          "from 127.0.0.1:1; see the log at INFO)");
    unlink(path);
    free(path);
}
END_TEST

/* ---- picks and outcomes while tables are swapped ---- */

typedef struct worker {
    azr_ctx *ctx;
    atomic_int *stop;
    unsigned long picks, failures;
} worker;

static void *pick_loop(void *arg)
{
    worker *w = arg;
    while (!atomic_load(w->stop)) {
        size_t n;
        azr_intent intent = w->picks % 5 == 0 ? AZR_INTENT_WRITE
                                              : AZR_INTENT_READ;
        if (azr_pick(w->ctx, intent, &n) != AZR_OK) {
            w->failures++;
            continue;
        }
        azr_node_info info;
        if (azr_node_get(w->ctx, n, &info) != AZR_OK ||
            (intent == AZR_INTENT_WRITE && info.role != AZR_ROLE_PRIMARY))
            w->failures++;
        azr_report(w->ctx, n, 500000 + w->picks % 1000,
                   w->picks % 97 == 0 ? AZR_STATUS_TIMEOUT : AZR_STATUS_OK,
                   0);
        /* Let the reloading thread in where threads take turns (valgrind
         * runs one at a time). */
        if (++w->picks % 256 == 0)
            sched_yield();
    }
    return NULL;
}

START_TEST(test_swaps_under_load)
{
    char *path;
    azr_ctx *ctx = open_file(&path, HEAD THREE);
    atomic_int stop = 0;
    enum { N = 8 };
    worker w[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker){ .ctx = ctx, .stop = &stop };
        ck_assert_int_eq(pthread_create(&th[i], NULL, pick_loop, &w[i]), 0);
    }
    static const char *const files[] = {
        HEAD THREE,
        HEAD NODE("pa", "7001", "use1-az1", "primary")
             NODE("rc", "7004", "use1-az3", "replica"),
        HEAD NODE("pb", "7003", "use1-az2", "primary")
             NODE("ra1", "7002", "use1-az1", "replica"),
    };
    char err[AZR_ERRBUF_SIZE];
    /* 60 swaps, or as many as 3 s allow past the first 5 (valgrind runs
     * threads one at a time, and each reload loads the plugins again). */
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int r = 0;
    for (; r < 60; r++) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (r >= 5 && now.tv_sec - t0.tv_sec >= 3)
            break;
        rewrite(path, files[r % 3]);
        ck_assert_msg(azr_reload(ctx, err) == AZR_OK, "reload %d: %s", r,
                      err);
        azr_stats *s;
        ck_assert_int_eq(azr_stats_get(ctx, &s), AZR_OK);
        azr_stats_free(s);
        usleep(2000);
    }
    atomic_store(&stop, 1);
    unsigned long picks = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ck_assert_uint_eq(w[i].failures, 0);
        picks += w[i].picks;
    }
    ck_assert_uint_gt(picks, 0);
    ck_assert_uint_eq(azr_topology_generation(ctx), (unsigned)r + 1);
    azr_close(ctx);
    unlink(path);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("topology");
    TCase *reload = tcase_create("reload");
    tcase_add_test(reload, test_reload_carries_state);
    tcase_add_test(reload, test_reload_refuses_a_bad_file);
    tcase_add_test(reload, test_reload_nodes_join_and_leave);
    tcase_add_test(reload, test_cluster_mode_without_seed);
    suite_add_tcase(s, reload);
    TCase *threads = tcase_create("threads");
    tcase_set_timeout(threads, 120);
    tcase_add_test(threads, test_swaps_under_load);
    suite_add_tcase(s, threads);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
