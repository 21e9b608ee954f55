/*
 * check_replies.c - every command gets exactly its own reply.
 *
 * Run by tests/replies.sh, which starts the servers and passes them in the
 * environment (all plain TCP on 127.0.0.1):
 *   AZR_R_DIR       scratch directory for configuration files
 *   AZR_R_REDIS     Debian's redis-server 7
 *   AZR_R_STRAY0    tests/hostile --mode stray --delay-ms 0
 *   AZR_R_STRAY50   tests/hostile --mode stray --delay-ms 50
 *   AZR_R_PUSH      tests/hostile --mode push
 *   AZR_R_TRICKLE   tests/hostile --mode trickle --delay-ms 100
 *   AZR_R_HUGE      tests/hostile --mode huge-array --count 12000000
 *   AZR_R_ANNOUNCE  tests/hostile --mode huge-announce --count 536870912
 *   AZR_R_CLOSEMID  tests/hostile --mode close-mid
 *   AZR_R_SLOWHELLO tests/hostile --mode trickle-all --delay-ms 100
 */
#include <check.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <azroute/azroute.h>

static const char *dir;

static int env_port(const char *name)
{
    const char *v = getenv(name);
    return v != NULL ? atoi(v) : 0;
}

/* Slack allowed past a deadline: 10% of it, times AZR_TEST_TIME_SCALE
 * (set by the sanitizer and valgrind passes, whose code runs slower). */
static uint64_t slack_ms(uint64_t deadline_ms)
{
    const char *v = getenv("AZR_TEST_TIME_SCALE");
    long scale = v != NULL ? strtol(v, NULL, 10) : 1;
    return deadline_ms / 10 * (uint64_t)(scale > 1 ? scale : 1);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Push frames received through the callback. */
static int pushes;
static char first_push_kind[32];

static void on_push(void *ud, size_t node, const azr_reply *push)
{
    (void)ud;
    (void)node;
    ck_assert_int_eq(push->type, AZR_REPLY_PUSH);
    if (pushes++ == 0 && push->elements > 0 && push->element[0]->str != NULL)
        snprintf(first_push_kind, sizeof first_push_kind, "%s",
                 push->element[0]->str);
}

/* Opens a context on the nodes given as "[node ...]" text, with the
 * policy chain and transport options given. `push_cb`: install on_push. */
static azr_ctx *open_with(const char *chain, const char *nodes,
                          const char *transport_opts, int push_cb)
{
    static int seq;
    char path[512], err[AZR_ERRBUF_SIZE];
    snprintf(path, sizeof path, "%s/replies-%d-%d.ini", dir, (int)getpid(),
             seq++);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "[azroute]\npolicy = %s\ntransport = resp_tls\n\n"
               "[metadata]\nsource = none\n\n%s\n[transport resp_tls]\n"
               "tls = no\n%s\n", chain, nodes, transport_opts);
    fclose(f);
    azr_open_options o = {
        .struct_size = sizeof o,
        .az_id = "tst1-az1",
        .push = push_cb ? on_push : NULL,
    };
    azr_ctx *ctx = NULL;
    azr_code rc = azr_open_ex(&ctx, path, &o, err);
    ck_assert_msg(rc == AZR_OK, "azr_open: %s", err);
    return ctx;
}

/* One primary at 127.0.0.1:port. */
static azr_ctx *one_node(int port, const char *transport_opts, int push_cb)
{
    char node[160];
    ck_assert_int_gt(port, 0);
    snprintf(node, sizeof node, "[node n1]\nhost = 127.0.0.1\nport = %d\n"
             "az = tst1-az1\nrole = primary\n", port);
    return open_with("same_az", node, transport_opts, push_cb);
}

/* A command given as words: up to 16, NULL-terminated. */
typedef struct words {
    const char *argv[16];
    azr_command cmd;
} words;

static const azr_command *words_of(words *w, const char *first, va_list ap)
{
    size_t argc = 0;
    for (const char *a = first; a != NULL && argc < 16;
         a = va_arg(ap, const char *))
        w->argv[argc++] = a;
    w->cmd = (azr_command){ .argc = argc, .argv = w->argv };
    return &w->cmd;
}

/* azr_exec of a command given as words. */
static azr_code execv_words(azr_ctx *ctx, azr_intent intent, azr_reply **r,
                            char *err, const char *first, ...)
{
    words w;
    va_list ap;
    va_start(ap, first);
    const azr_command *cmd = words_of(&w, first, ap);
    va_end(ap);
    return azr_exec(ctx, intent, cmd, r, NULL, err);
}
#define EXEC(ctx, intent, r, err, ...) \
    execv_words((ctx), (intent), (r), (err), __VA_ARGS__, (const char *)NULL)

/* azr_conn_command of a command given as words. */
static azr_code conn_words(azr_conn *c, azr_reply **r, char *err,
                           const char *first, ...)
{
    words w;
    va_list ap;
    va_start(ap, first);
    const azr_command *cmd = words_of(&w, first, ap);
    va_end(ap);
    return azr_conn_command(c, cmd, r, err);
}
#define CONN(c, r, err, ...) \
    conn_words((c), (r), (err), __VA_ARGS__, (const char *)NULL)

static void assert_bulk(const azr_reply *r, const char *want)
{
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(r->type == AZR_REPLY_STRING && strcmp(r->str, want) == 0,
                  "expected \"%s\", got type %d \"%s\"", want, (int)r->type,
                  r->str != NULL ? r->str : "");
}

/* The connection's CLIENT ID (to tell a pooled connection from a new one). */
static long long client_id(azr_conn *c)
{
    azr_reply *r = NULL;
    char err[AZR_ERRBUF_SIZE];
    ck_assert_int_eq(CONN(c, &r, err, "CLIENT", "ID"), AZR_OK);
    ck_assert_int_eq(r->type, AZR_REPLY_INTEGER);
    long long id = r->integer;
    azr_reply_free(r);
    return id;
}

/* ---- real redis-server 7 ---- */

/* RESP3 client-side caching: the invalidation is a push frame, delivered
 * to the callback; every command still reads its own reply. */
START_TEST(tracking_invalidation)
{
    int port = env_port("AZR_R_REDIS");
    azr_ctx *reader = one_node(port, "protocol = 3", 1);
    azr_ctx *writer = one_node(port, "", 0);
    char err[AZR_ERRBUF_SIZE];
    azr_reply *r = NULL;
    pushes = 0;

    ck_assert_int_eq(EXEC(writer, AZR_INTENT_WRITE, &r, err, "SET", "user:1",
                          "alice"), AZR_OK);
    azr_reply_free(r);

    azr_conn *c = NULL;
    ck_assert_int_eq(azr_connect(reader, AZR_INTENT_READ, &c, err), AZR_OK);
    ck_assert_int_eq(CONN(c, &r, err, "CLIENT", "TRACKING", "ON"), AZR_OK);
    ck_assert_int_eq(r->type, AZR_REPLY_STATUS);
    azr_reply_free(r);
    ck_assert_int_eq(CONN(c, &r, err, "GET", "user:1"), AZR_OK);
    assert_bulk(r, "alice");
    azr_reply_free(r);

    /* Another client changes the key: an invalidation is on its way. */
    ck_assert_int_eq(EXEC(writer, AZR_INTENT_WRITE, &r, err, "SET", "user:1",
                          "bob"), AZR_OK);
    azr_reply_free(r);
    ck_assert_int_eq(CONN(c, &r, err, "GET", "user:1"), AZR_OK);
    assert_bulk(r, "bob");
    azr_reply_free(r);
    ck_assert_int_eq(CONN(c, &r, err, "ECHO", "e2"), AZR_OK);
    assert_bulk(r, "e2");
    azr_reply_free(r);
    ck_assert_int_eq(CONN(c, &r, err, "GET", "no:such:key"), AZR_OK);
    ck_assert_int_eq(r->type, AZR_REPLY_NIL);
    azr_reply_free(r);

    /* Again, with the invalidation arriving while the command waits. */
    ck_assert_int_eq(EXEC(writer, AZR_INTENT_WRITE, &r, err, "SET", "user:1",
                          "carol"), AZR_OK);
    azr_reply_free(r);
    usleep(20000);
    ck_assert_int_eq(CONN(c, &r, err, "GET", "user:1"), AZR_OK);
    assert_bulk(r, "carol");
    azr_reply_free(r);
    ck_assert_int_ge(pushes, 2);
    ck_assert_str_eq(first_push_kind, "invalidate");
    ck_assert_uint_eq(azr_pushes_unclaimed(reader), 0);

    /* The tracking connection is not pooled: the next one is new and
     * does not track. */
    long long tracked = client_id(c);
    azr_conn_close(c);
    ck_assert_int_eq(azr_connect(reader, AZR_INTENT_READ, &c, err), AZR_OK);
    ck_assert_int_ne(client_id(c), tracked);
    ck_assert_int_eq(CONN(c, &r, err, "CLIENT", "INFO"), AZR_OK);
    ck_assert_ptr_nonnull(strstr(r->str, " flags=N "));
    azr_reply_free(r);
    azr_conn_close(c);
    azr_close(writer);
    azr_close(reader);
}
END_TEST

/* Without a push callback the frames are counted and dropped. */
START_TEST(tracking_unclaimed)
{
    int port = env_port("AZR_R_REDIS");
    azr_ctx *reader = one_node(port, "protocol = 3", 0);
    azr_ctx *writer = one_node(port, "", 0);
    char err[AZR_ERRBUF_SIZE];
    azr_reply *r = NULL;
    azr_conn *c = NULL;
    ck_assert_int_eq(azr_connect(reader, AZR_INTENT_READ, &c, err), AZR_OK);
    ck_assert_int_eq(CONN(c, &r, err, "CLIENT", "TRACKING", "ON"), AZR_OK);
    azr_reply_free(r);
    ck_assert_int_eq(CONN(c, &r, err, "GET", "user:2"), AZR_OK);
    azr_reply_free(r);
    ck_assert_int_eq(EXEC(writer, AZR_INTENT_WRITE, &r, err, "SET", "user:2",
                          "x"), AZR_OK);
    azr_reply_free(r);
    ck_assert_int_eq(CONN(c, &r, err, "ECHO", "mine"), AZR_OK);
    assert_bulk(r, "mine");
    azr_reply_free(r);
    ck_assert_uint_eq(azr_pushes_unclaimed(reader), 1);
    azr_conn_close(c);
    azr_close(writer);
    azr_close(reader);
}
END_TEST

/* azr_exec refuses what would leave a pooled connection changed, and
 * names the API to use instead. */
START_TEST(exec_refuses_state_changes)
{
    azr_ctx *ctx = one_node(env_port("AZR_R_REDIS"), "", 0);
    static const char *const cmds[][4] = {
        { "SELECT", "1" }, { "subscribe", "ch" }, { "PSUBSCRIBE", "c*" },
        { "MONITOR" }, { "client", "tracking", "on" }, { "MULTI" },
        { "WATCH", "k" }, { "RESET" }, { "HELLO", "3" }, { "AUTH", "pw" },
        { "CLIENT", "REPLY", "OFF" }, { "QUIT" },
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        size_t argc = 0;
        while (argc < 4 && cmds[i][argc] != NULL)
            argc++;
        const azr_command cmd = { .argc = argc, .argv = cmds[i] };
        azr_reply *r = NULL;
        char err[AZR_ERRBUF_SIZE];
        ck_assert_int_eq(azr_exec(ctx, AZR_INTENT_READ, &cmd, &r, NULL, err),
                         AZR_E_UNSUPPORTED);
        ck_assert_ptr_null(r);
        ck_assert_msg(strstr(err, "azr_connect + azr_conn_command") != NULL,
                      "%s", err);
    }
    char err[AZR_ERRBUF_SIZE];
    azr_reply *r = NULL;
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_READ, &r, err, "CLIENT", "ID"),
                     AZR_OK);
    azr_reply_free(r);
    azr_close(ctx);
}
END_TEST

/* A connection that ran SELECT or SUBSCRIBE is closed, not pooled; one
 * whose transaction closed in the same pipeline goes back to the pool. */
START_TEST(dirty_connections_not_pooled)
{
    azr_ctx *ctx = one_node(env_port("AZR_R_REDIS"), "", 0);
    char err[AZR_ERRBUF_SIZE];
    azr_reply *r = NULL;
    azr_conn *c = NULL;

    ck_assert_int_eq(azr_connect(ctx, AZR_INTENT_WRITE, &c, err), AZR_OK);
    long long id = client_id(c);
    ck_assert_int_eq(CONN(c, &r, err, "SELECT", "1"), AZR_OK);
    azr_reply_free(r);
    azr_conn_close(c);
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_WRITE, &r, err, "SET", "db:probe",
                          "zero"), AZR_OK);
    azr_reply_free(r);
    ck_assert_int_eq(azr_connect(ctx, AZR_INTENT_WRITE, &c, err), AZR_OK);
    ck_assert_int_ne(client_id(c), id);
    ck_assert_int_eq(CONN(c, &r, err, "CLIENT", "INFO"), AZR_OK);
    ck_assert_ptr_nonnull(strstr(r->str, " db=0 "));
    azr_reply_free(r);

    /* MULTI ... EXEC in one pipeline: clean again. */
    static const char *m[] = { "MULTI" }, *s[] = { "SET", "tx", "1" },
                      *e[] = { "EXEC" };
    const azr_command txn[] = { { 1, m, NULL }, { 3, s, NULL },
                                { 1, e, NULL } };
    azr_reply *rs[3];
    id = client_id(c);
    ck_assert_int_eq(azr_conn_pipeline(c, 3, txn, rs, err), AZR_OK);
    for (int i = 0; i < 3; i++)
        azr_reply_free(rs[i]);
    azr_conn_close(c);
    ck_assert_int_eq(azr_connect(ctx, AZR_INTENT_WRITE, &c, err), AZR_OK);
    ck_assert_int_eq(client_id(c), id);

    /* SUBSCRIBE: the reply is the subscription, and the connection is
     * never handed to anyone else. */
    ck_assert_int_eq(CONN(c, &r, err, "SUBSCRIBE", "news"), AZR_OK);
    ck_assert_int_eq(r->type, AZR_REPLY_ARRAY);
    azr_reply_free(r);
    azr_conn_close(c);
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_READ, &r, err, "ECHO", "after"),
                     AZR_OK);
    assert_bulk(r, "after");
    azr_reply_free(r);
    azr_close(ctx);
}
END_TEST

/* ---- the hostile server ---- */

/* A stray copy of each reply, in the same write: caught after the reply. */
START_TEST(stray_immediate)
{
    azr_ctx *ctx = one_node(env_port("AZR_R_STRAY0"), "", 0);
    for (int i = 0; i < 20; i++) {
        char tag[32], err[AZR_ERRBUF_SIZE];
        azr_reply *r = NULL;
        snprintf(tag, sizeof tag, "tag-%d", i);
        ck_assert_msg(EXEC(ctx, AZR_INTENT_READ, &r, err, "ECHO", tag) ==
                      AZR_OK, "%s", err);
        assert_bulk(r, tag);
        azr_reply_free(r);
    }
    azr_close(ctx);
}
END_TEST

/* A stray copy 50 ms after each reply: caught before the next send. */
START_TEST(stray_delayed)
{
    azr_ctx *ctx = one_node(env_port("AZR_R_STRAY50"), "", 0);
    for (int i = 0; i < 5; i++) {
        char tag[32], err[AZR_ERRBUF_SIZE];
        azr_reply *r = NULL;
        snprintf(tag, sizeof tag, "tag-%d", i);
        ck_assert_msg(EXEC(ctx, AZR_INTENT_READ, &r, err, "ECHO", tag) ==
                      AZR_OK, "%s", err);
        assert_bulk(r, tag);
        azr_reply_free(r);
        usleep(120000);
    }
    azr_close(ctx);
}
END_TEST

/* A push frame before every reply (RESP3). */
START_TEST(push_between_replies)
{
    azr_ctx *ctx = one_node(env_port("AZR_R_PUSH"), "protocol = 3", 1);
    char err[AZR_ERRBUF_SIZE];
    azr_reply *r = NULL;
    pushes = 0;
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_WRITE, &r, err, "SET", "k", "v"),
                     AZR_OK);
    ck_assert_int_eq(r->type, AZR_REPLY_STATUS);
    azr_reply_free(r);
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_READ, &r, err, "GET", "k"), AZR_OK);
    assert_bulk(r, "v");
    azr_reply_free(r);
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_READ, &r, err, "ECHO", "e2"),
                     AZR_OK);
    assert_bulk(r, "e2");
    azr_reply_free(r);
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_READ, &r, err, "GET", "none"),
                     AZR_OK);
    ck_assert_int_eq(r->type, AZR_REPLY_NIL);
    azr_reply_free(r);
    ck_assert_int_eq(pushes, 4);
    azr_close(ctx);
}
END_TEST

/* A reply trickling in a byte per 100 ms fails at the deadline, not
 * later: command_timeout_ms, or the call's own timeout. */
START_TEST(trickle_deadline)
{
    azr_ctx *ctx = one_node(env_port("AZR_R_TRICKLE"),
                            "command_timeout_ms = 300", 0);
    char err[AZR_ERRBUF_SIZE];
    azr_reply *r = NULL;
    uint64_t t0 = now_ms();
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_READ, &r, err, "ECHO",
                          "a reply long enough to take seconds"),
                     AZR_E_TIMEOUT);
    uint64_t ms = now_ms() - t0;
    ck_assert_msg(ms >= 300 && ms <= 300 + slack_ms(300),
                  "timed out after %llu ms: %s", (unsigned long long)ms, err);
    ck_assert_ptr_nonnull(strstr(err, "command_timeout_ms"));

    const char *argv[] = { "ECHO", "another long reply, one byte at a time" };
    const azr_command cmd = { .argc = 2, .argv = argv };
    azr_exec_options o = { .struct_size = sizeof o,
                           .intent = AZR_INTENT_READ, .timeout_ms = 150 };
    azr_node_stats before, after;
    ck_assert_int_eq(azr_node_stats_get(ctx, 0, &before), AZR_OK);
    t0 = now_ms();
    ck_assert_int_eq(azr_exec_ex(ctx, &o, &cmd, &r, NULL, err),
                     AZR_E_TIMEOUT);
    ms = now_ms() - t0;
    ck_assert_msg(ms >= 150 && ms <= 150 + slack_ms(150),
                  "timed out after %llu ms: %s", (unsigned long long)ms, err);
    ck_assert_int_eq(azr_node_stats_get(ctx, 0, &after), AZR_OK);
    ck_assert_uint_eq(after.errors, before.errors + 1);

    /* A blocking call that runs out of its own time is not the node's
     * failure. */
    o.flags = AZR_EXEC_BLOCKING;
    ck_assert_int_eq(azr_exec_ex(ctx, &o, &cmd, &r, NULL, err),
                     AZR_E_TIMEOUT);
    ck_assert_int_eq(azr_node_stats_get(ctx, 0, &before), AZR_OK);
    ck_assert_uint_eq(before.errors, after.errors);
    o.flags = 0x80;
    ck_assert_int_eq(azr_exec_ex(ctx, &o, &cmd, &r, NULL, err),
                     AZR_E_INVALID_ARGUMENT);
    azr_close(ctx);
}
END_TEST

/* The opening (TCP, HELLO) is bounded as a whole by connect_timeout_ms:
 * a HELLO reply trickling in a byte per 100 ms fails at the deadline. */
START_TEST(connect_deadline)
{
    azr_ctx *ctx = one_node(env_port("AZR_R_SLOWHELLO"),
                            "protocol = 3\nconnect_timeout_ms = 300", 0);
    char err[AZR_ERRBUF_SIZE];
    azr_reply *r = NULL;
    uint64_t t0 = now_ms();
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_READ, &r, err, "PING"),
                     AZR_E_TIMEOUT);
    uint64_t ms = now_ms() - t0;
    ck_assert_msg(ms >= 300 && ms <= 300 + slack_ms(300),
                  "timed out after %llu ms: %s", (unsigned long long)ms, err);
    ck_assert_msg(strstr(err, "connect_timeout_ms") != NULL, "%s", err);
    azr_close(ctx);
}
END_TEST

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* 12 million array elements (48 MB on the wire): refused at the bound,
 * without the memory; the next command works. */
START_TEST(huge_array_bounded)
{
    azr_ctx *ctx = one_node(env_port("AZR_R_HUGE"),
                            "max_reply_bytes = 16777216", 0);
    char err[AZR_ERRBUF_SIZE];
    azr_reply *r = NULL;
    long before = max_rss_kib();
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_READ, &r, err, "GET", "big"),
                     AZR_E_PROTOCOL);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(err, "reply larger than the limit of 16777216 "
                         "bytes") != NULL, "%s", err);
    long peak = max_rss_kib();
    ck_assert_msg(peak < before + 16 * 1024 + 4 * 1024,
                  "peak RSS %ld KiB (was %ld)", peak, before);
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_READ, &r, err, "PING"), AZR_OK);
    azr_reply_free(r);
    azr_close(ctx);
}
END_TEST

/* An array announcing 512 Mi elements is refused on its header. */
START_TEST(huge_announce)
{
    azr_ctx *ctx = one_node(env_port("AZR_R_ANNOUNCE"), "", 0);
    char err[AZR_ERRBUF_SIZE];
    azr_reply *r = NULL;
    long before = max_rss_kib();
    uint64_t t0 = now_ms();
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_READ, &r, err, "GET", "big"),
                     AZR_E_PROTOCOL);
    ck_assert_uint_lt(now_ms() - t0, 500 + 10 * slack_ms(500));
    ck_assert_ptr_nonnull(strstr(err, "reply larger than the limit"));
    ck_assert_int_lt(max_rss_kib(), before + 4 * 1024);
    azr_close(ctx);
}
END_TEST

/* A server that closes mid-reply after answering before: no "does the
 * server expect TLS?" hint, which fits only a connection that never
 * received a byte. */
START_TEST(close_mid_reply_no_tls_hint)
{
    azr_ctx *ctx = one_node(env_port("AZR_R_CLOSEMID"), "", 0);
    char err[AZR_ERRBUF_SIZE];
    azr_reply *r = NULL;
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_READ, &r, err, "GET", "k"),
                     AZR_E_IO);
    ck_assert_msg(strstr(err, "connection closed by") != NULL &&
                      strstr(err, "expect TLS") == NULL, "%s", err);
    azr_close(ctx);
}
END_TEST

/* ---- writes go to primaries, whatever the chain ---- */

START_TEST(writes_to_primaries)
{
    static const char *const chains[] = {
        "failover", "weighted_latency", "failover, weighted_latency",
        "same_az", "failover, same_az, weighted_latency",
    };
    const char *nodes =
        "[node p]\nhost = 127.0.0.1\nport = 1\naz = tst1-az2\n"
        "role = primary\n\n"
        "[node r1]\nhost = 127.0.0.1\nport = 2\naz = tst1-az1\n"
        "role = replica\n\n"
        "[node r2]\nhost = 127.0.0.1\nport = 3\naz = tst1-az3\n"
        "role = replica\n\n";
    const char *replicas_only =
        "[node r1]\nhost = 127.0.0.1\nport = 2\naz = tst1-az1\n"
        "role = replica\n\n"
        "[node r2]\nhost = 127.0.0.1\nport = 3\naz = tst1-az3\n"
        "role = replica\n\n";
    for (size_t c = 0; c < sizeof chains / sizeof chains[0]; c++) {
        azr_ctx *ctx = open_with(chains[c], nodes, "", 0);
        size_t node, reads[3] = { 0 };
        for (int i = 0; i < 300; i++) {
            ck_assert_int_eq(azr_pick(ctx, AZR_INTENT_WRITE, &node), AZR_OK);
            ck_assert_msg(node == 0, "chain '%s' sent a write to node %zu",
                          chains[c], node);
            ck_assert_int_eq(azr_report(ctx, node, 1000, AZR_STATUS_OK, 0),
                             AZR_OK);
            ck_assert_int_eq(azr_pick(ctx, AZR_INTENT_READ, &node), AZR_OK);
            reads[node]++;
            ck_assert_int_eq(azr_report(ctx, node, 1000, AZR_STATUS_OK, 0),
                             AZR_OK);
        }
        ck_assert_uint_eq(reads[0] + reads[1] + reads[2], 300);
        azr_close(ctx);

        ctx = open_with(chains[c], replicas_only, "", 0);
        ck_assert_int_eq(azr_pick(ctx, AZR_INTENT_WRITE, &node),
                         AZR_E_NO_NODE);
        ck_assert_int_eq(azr_pick(ctx, AZR_INTENT_READ, &node), AZR_OK);
        azr_close(ctx);
    }
}
END_TEST

/* AZR_STATUS_CANCELLED releases a pick and is not a request. */
START_TEST(cancelled_is_not_a_request)
{
    const char *nodes =
        "[node p]\nhost = 127.0.0.1\nport = 1\naz = tst1-az1\n"
        "role = primary\n\n";
    azr_ctx *ctx = open_with("failover, weighted_latency", nodes, "", 0);
    size_t node;
    azr_node_stats st;
    ck_assert_int_eq(azr_pick(ctx, AZR_INTENT_READ, &node), AZR_OK);
    ck_assert_int_eq(azr_report(ctx, node, 0, AZR_STATUS_CANCELLED, 0),
                     AZR_OK);
    ck_assert_int_eq(azr_node_stats_get(ctx, node, &st), AZR_OK);
    ck_assert_uint_eq(st.requests, 0);
    ck_assert_uint_eq(st.errors, 0);
    ck_assert_uint_eq(st.picks, 1);
    ck_assert_int_eq(azr_report(ctx, node, 0, (azr_status)7, 0),
                     AZR_E_INVALID_ARGUMENT);
    azr_close(ctx);
}
END_TEST

static Suite *replies_suite(void)
{
    Suite *s = suite_create("replies");
    TCase *real = tcase_create("redis");
    tcase_set_timeout(real, 30);
    tcase_add_test(real, tracking_invalidation);
    tcase_add_test(real, tracking_unclaimed);
    tcase_add_test(real, exec_refuses_state_changes);
    tcase_add_test(real, dirty_connections_not_pooled);
    suite_add_tcase(s, real);
    TCase *hostile = tcase_create("hostile");
    tcase_set_timeout(hostile, 30);
    tcase_add_test(hostile, stray_immediate);
    tcase_add_test(hostile, stray_delayed);
    tcase_add_test(hostile, push_between_replies);
    tcase_add_test(hostile, trickle_deadline);
    tcase_add_test(hostile, connect_deadline);
    tcase_add_test(hostile, huge_array_bounded);
    tcase_add_test(hostile, huge_announce);
    tcase_add_test(hostile, close_mid_reply_no_tls_hint);
    suite_add_tcase(s, hostile);
    TCase *route = tcase_create("route");
    tcase_add_test(route, writes_to_primaries);
    tcase_add_test(route, cancelled_is_not_a_request);
    suite_add_tcase(s, route);
    return s;
}

int main(void)
{
    dir = getenv("AZR_R_DIR");
    if (dir == NULL) {
        fprintf(stderr, "check_replies: run me through tests/replies.sh\n");
        return 99;
    }
    SRunner *sr = srunner_create(replies_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
