/*
 * check_fault.c - fault injection: what a caller of the connection API sees
 * when a server dies, stops, or breaks off a reply, and whether failed
 * connects leak descriptors. Every case asserts the exact return code, the
 * message and (where it matters) the node that answered, and is bounded in
 * time.
 *
 * Two groups of cases:
 *  - always run (tests/check_fault in TESTS): fake servers made here on
 *    127.0.0.1 (a reply broken off, garbage, silence after half a reply),
 *    descriptors across 10,000 failed connects, the TLS verification
 *    switches at open;
 *  - with real redis-servers, when tests/fault_redis.sh starts them and
 *    sets AZR_F_DIR (certificates: ca.crt, server.{crt,key}),
 *    AZR_F_LIVE (healthy TLS node), AZR_F_KILL / AZR_F_KILL_PID (the node
 *    SIGKILLed mid-pipeline), AZR_F_STOP / AZR_F_STOP_PID (the node
 *    SIGSTOPped): those cases, plus a TLS fake server that breaks off.
 *
 * Also a probe for tests/fault_cli.sh (no Check):
 *   check_fault --plugin-path INI
 * opens INI and prints "secure=N path=FILE" (N: getauxval(AT_SECURE),
 * FILE: where the first plugin was loaded from), or "secure=N error=MSG"
 * and exits 1. A set-gid copy of this program shows whether
 * AZROUTE_PLUGIN_DIR is ignored when AT_SECURE is set.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <azroute/azroute.h>

#include "testutil.h"

/* ---- helpers ---- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int env_int(const char *name)
{
    const char *v = getenv(name);
    return v != NULL ? atoi(v) : 0;
}

/* Open descriptors of this process (entries of /proc/self/fd, minus the
 * one opendir() itself holds). */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

/* Everything logged during a test, with the levels. */
static char logbuf[16384];

static void capture_log(void *ud, azr_log_level level, const char *msg)
{
    (void)ud;
    size_t used = strlen(logbuf);
    snprintf(logbuf + used, sizeof logbuf - used, "%d:%s\n", (int)level,
             msg);
}

/* Opens `ini` (written to a temporary file that is removed again; messages
 * name it TEST.ini); the caller's AZ is tst1-az1. */
static azr_code open_text(azr_ctx **ctx, const char *ini, char *err)
{
    logbuf[0] = '\0';
    azr_open_options o = {
        .struct_size = sizeof o,
        .log = capture_log,
        .log_level = AZR_LOG_DEBUG,
        .az_id = "tst1-az1",
    };
    return azr_test_open(ini, &o, ctx, err);
}

static azr_ctx *open_ok(const char *ini)
{
    azr_ctx *ctx = NULL;
    char err[AZR_ERRBUF_SIZE];
    azr_code rc = open_text(&ctx, ini, err);
    ck_assert_msg(rc == AZR_OK, "azr_open: %d %s", rc, err);
    return ctx;
}

/* An ini with `policy`, the node sections `nodes` and transport options
 * `topts`. */
static const char *ini_text(const char *policy, const char *nodes,
                            const char *topts)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "[azroute]\npolicy = %s\ntransport = "
             "resp_tls\n\n[metadata]\nsource = none\n\n%s\n"
             "[transport resp_tls]\n%s", policy, nodes, topts);
    return buf;
}

/* Appends a "[node ID]" section to buf. */
static void add_node(char *buf, size_t len, const char *id, int port,
                     const char *az)
{
    size_t used = strlen(buf);
    snprintf(buf + used, len - used, "[node %s]\nhost = 127.0.0.1\nport = "
             "%d\naz = %s\nrole = replica\n\n", id, port, az);
}

static const azr_command ping_cmd = {
    .argc = 1, .argv = (const char *const[]){ "PING" }
};

static azr_node_stats stats_of(azr_ctx *ctx, size_t node)
{
    azr_node_stats s;
    ck_assert_int_eq(azr_node_stats_get(ctx, node, &s), AZR_OK);
    return s;
}

/* A listening socket on 127.0.0.1:ephemeral. */
static int listen_any(int *port, int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, backlog), 0);
    socklen_t al = sizeof a;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A port nothing listens on. */
static int dead_port(void)
{
    int port, fd = listen_any(&port, 1);
    close(fd);
    return port;
}

/* ---- a fake RESP server ----
 * Accepts one connection, reads `expect` request bytes, writes `script`,
 * then either closes at once (hold_ms == 0) or keeps the connection open
 * and silent for hold_ms (or until the client goes away). With an SSL_CTX
 * the connection is TLS, and the close is abrupt (no close_notify, as
 * when a server process dies) unless `notify` is set. Every wait is
 * bounded (3 s). */
typedef struct fake {
    int lfd, port;
    const char *script;
    size_t script_len;
    size_t expect;
    int hold_ms;
    SSL_CTX *tls;
    int notify;
    pthread_t th;
} fake;

static int wait_fd(int fd, short ev, int ms)
{
    struct pollfd p = { .fd = fd, .events = ev };
    int n;
    do
        n = poll(&p, 1, ms);
    while (n < 0 && errno == EINTR);
    return n;
}

static void *fake_main(void *arg)
{
    fake *f = arg;
    if (wait_fd(f->lfd, POLLIN, 3000) <= 0)
        return NULL;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    struct timeval tv = { .tv_sec = 3 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    SSL *ssl = NULL;
    if (f->tls != NULL) {
        ssl = SSL_new(f->tls);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) != 1)
            goto out;
    }
    char buf[4096];
    size_t got = 0;
    while (got < f->expect) {
        int n = ssl != NULL ? SSL_read(ssl, buf, sizeof buf)
                            : (int)recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            goto out;
        got += (size_t)n;
    }
    if (ssl != NULL)
        SSL_write(ssl, f->script, (int)f->script_len);
    else
        (void)!send(fd, f->script, f->script_len, MSG_NOSIGNAL);
    if (f->hold_ms > 0)
        (void)wait_fd(fd, POLLIN, f->hold_ms); /* returns when the client
                                                  closes */
    if (ssl != NULL && f->notify)
        SSL_shutdown(ssl);
out:
    SSL_free(ssl);
    close(fd);
    return NULL;
}

static void fake_start(fake *f, const char *script, size_t expect)
{
    f->script = script;
    f->script_len = strlen(script);
    f->expect = expect;
    f->lfd = listen_any(&f->port, 4);
    ck_assert_int_eq(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_stop(fake *f)
{
    pthread_join(f->th, NULL);
    close(f->lfd);
}

/* "*1\r\n$4\r\nPING\r\n" */
#define PING_BYTES 14u

/* One PING through azr_exec on a one-node context at `port`; returns the
 * code, the message and the time taken. */
static azr_code ping_once(int port, const char *topts, char *err,
                          uint64_t *ms)
{
    char nodes[256] = "";
    add_node(nodes, sizeof nodes, "fake", port, "tst1-az1");
    azr_ctx *ctx = open_ok(ini_text("same_az", nodes, topts));
    azr_reply *r = NULL;
    size_t node = 99;
    uint64_t t0 = now_ms();
    azr_code rc = azr_exec(ctx, AZR_INTENT_READ, &ping_cmd, &r, &node, err);
    *ms = now_ms() - t0;
    ck_assert_ptr_null(r);
    ck_assert_uint_eq(node, 99); /* nobody answered */
    azr_node_stats s = stats_of(ctx, 0);
    ck_assert_uint_eq(s.requests, 1); /* reported once, as a failure */
    ck_assert_uint_eq(s.errors, 1);
    azr_close(ctx);
    return rc;
}

/* ---- a reply broken off (plain TCP) ---- */

static const struct broken_case {
    const char *script;
    int hold_ms;
    azr_code code;
    const char *msg; /* after "node fake: " */
} broken_cases[] = {
    /* half a bulk string, then FIN */
    { "$10\r\nhello", 0, AZR_E_IO, "connection closed by 127.0.0.1:" },
    /* half a bulk header */
    { "$1", 0, AZR_E_IO, "connection closed by 127.0.0.1:" },
    /* an array with one element of three */
    { "*3\r\n:1\r\n", 0, AZR_E_IO, "connection closed by 127.0.0.1:" },
    /* not RESP at all */
    { "?garbage\r\n", 0, AZR_E_PROTOCOL, "protocol error from 127.0.0.1:" },
    /* a length the reader refuses */
    { "$-7\r\n", 0, AZR_E_PROTOCOL, "protocol error from 127.0.0.1:" },
    /* half a reply, then silence: the command timeout, not a hang */
    { "$10\r\nhello", 2500, AZR_E_TIMEOUT, "no reply from 127.0.0.1:" },
};

START_TEST(reply_broken_off)
{
    const struct broken_case *c = &broken_cases[_i];
    fake f = { .hold_ms = c->hold_ms };
    fake_start(&f, c->script, PING_BYTES);
    char err[AZR_ERRBUF_SIZE], want[128];
    uint64_t ms;
    azr_code rc = ping_once(f.port, "tls = no\ncommand_timeout_ms = 400\n",
                            err, &ms);
    fake_stop(&f);
    ck_assert_msg(rc == c->code, "'%s': code %d (%s), want %d", c->script,
                  rc, err, c->code);
    snprintf(want, sizeof want, "node fake: %s%d", c->msg, f.port);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "'%s': '%s'",
                  c->script, err);
    ck_assert_ptr_null(strchr(err, '\n'));
    if (c->code == AZR_E_TIMEOUT) {
        ck_assert_ptr_nonnull(strstr(err, "within 400 ms "
                                          "(command_timeout_ms)"));
        ck_assert_uint_ge(ms, 380);
        ck_assert_msg(ms < 400 + 200, "took %llu ms",
                      (unsigned long long)ms);
    } else {
        /* ends when the server does, well before the timeout */
        ck_assert_msg(ms < 300, "'%s' took %llu ms", c->script,
                      (unsigned long long)ms);
    }
}
END_TEST

START_TEST(pipeline_broken_off)
{
    /* two complete replies of three, then half the third */
    fake f = { 0 };
    fake_start(&f, "+PONG\r\n+PONG\r\n+PO", 3 * PING_BYTES);
    char nodes[256] = "", err[AZR_ERRBUF_SIZE], want[128];
    add_node(nodes, sizeof nodes, "fake", f.port, "tst1-az1");
    azr_ctx *ctx = open_ok(ini_text("same_az", nodes, "tls = no\n"));
    azr_conn *conn = NULL;
    ck_assert_int_eq(azr_connect(ctx, AZR_INTENT_READ, &conn, err), AZR_OK);
    const azr_command cmds[3] = { ping_cmd, ping_cmd, ping_cmd };
    azr_reply *replies[3] = { (azr_reply *)1, (azr_reply *)1,
                              (azr_reply *)1 };
    uint64_t t0 = now_ms();
    azr_code rc = azr_conn_pipeline(conn, 3, cmds, replies, err);
    uint64_t ms = now_ms() - t0;
    fake_stop(&f);
    ck_assert_msg(rc == AZR_E_IO, "%d %s", rc, err);
    snprintf(want, sizeof want, "node fake: connection closed by "
             "127.0.0.1:%d", f.port);
    /* prefix: resp_tls adds a "does the server expect TLS?" hint when the
     * first exchange on a plain connection fails, RESP replies or not */
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
    /* no partial batch: the two complete replies are not handed out */
    for (int i = 0; i < 3; i++)
        ck_assert_ptr_null(replies[i]);
    ck_assert_uint_lt(ms, 300);
    /* the connection is broken for good */
    ck_assert_int_eq(azr_conn_command(conn, &ping_cmd, &replies[0], err),
                     AZR_E_IO);
    ck_assert_ptr_nonnull(strstr(err, "failed earlier"));
    azr_conn_close(conn);
    ck_assert_uint_eq(stats_of(ctx, 0).errors, 1);
    azr_close(ctx);
}
END_TEST

/* ---- descriptors across failed connects ---- */

/* Accepts and at once closes every connection until `stop`. */
typedef struct slammer {
    int lfd, port;
    _Atomic int stop;
    pthread_t th;
} slammer;

static void *slam_main(void *arg)
{
    slammer *s = arg;
    while (!s->stop) {
        if (wait_fd(s->lfd, POLLIN, 100) <= 0)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd >= 0)
            close(fd);
    }
    return NULL;
}

#define FAILED_CONNECTS 10000

START_TEST(no_fd_leak_on_failed_connects)
{
    int before = count_fds();
    char nodes[512] = "", err[AZR_ERRBUF_SIZE];
    add_node(nodes, sizeof nodes, "dead", dead_port(), "tst1-az1");
    /* failover too: ejection and panic routing stay on the path */
    azr_ctx *ctx = open_ok(ini_text("failover, same_az", nodes,
                                    "tls = yes\n"));
    int opened = count_fds();
    for (int i = 0; i < FAILED_CONNECTS; i++) {
        azr_conn *conn = (azr_conn *)1;
        azr_code rc = azr_connect(ctx, AZR_INTENT_READ, &conn, err);
        if (rc != AZR_E_CONNECT || conn != NULL)
            ck_abort_msg("connect %d: %d %s", i, rc, err);
    }
    ck_assert_msg(strstr(err, "connection refused") != NULL ||
                      strstr(err, "Connection refused") != NULL, "%s", err);
    for (int i = 0; i < FAILED_CONNECTS; i++) {
        azr_reply *r = NULL;
        azr_code rc = azr_exec(ctx, AZR_INTENT_READ, &ping_cmd, &r, NULL,
                               err);
        if (rc != AZR_E_CONNECT || r != NULL)
            ck_abort_msg("exec %d: %d %s", i, rc, err);
    }
    /* every attempt was a real connect, reported as a failure */
    ck_assert_uint_eq(stats_of(ctx, 0).errors, 2 * FAILED_CONNECTS);
    ck_assert_int_eq(count_fds(), opened);
    azr_close(ctx);
    ck_assert_int_eq(count_fds(), before);

    /* a peer that accepts and closes: the TLS handshake fails each time */
    slammer s = { 0 };
    s.lfd = listen_any(&s.port, 64);
    ck_assert_int_eq(pthread_create(&s.th, NULL, slam_main, &s), 0);
    nodes[0] = '\0';
    add_node(nodes, sizeof nodes, "slam", s.port, "tst1-az1");
    ctx = open_ok(ini_text("same_az", nodes, "tls = yes\n"
                           "connect_timeout_ms = 2000\n"));
    opened = count_fds();
    for (int i = 0; i < 1000; i++) {
        azr_reply *r = NULL;
        azr_code rc = azr_exec(ctx, AZR_INTENT_READ, &ping_cmd, &r, NULL,
                               err);
        if (rc == AZR_OK || r != NULL)
            ck_abort_msg("handshake %d succeeded", i);
        if (strstr(err, "TLS handshake with 127.0.0.1:") == NULL)
            ck_abort_msg("handshake %d: %d %s", i, rc, err);
    }
    ck_assert_int_eq(count_fds(), opened);
    azr_close(ctx);
    s.stop = 1;
    pthread_join(s.th, NULL);
    close(s.lfd);

    /* a peer that never answers: connect/handshake timeouts */
    int port, lfd = listen_any(&port, 1);
    nodes[0] = '\0';
    add_node(nodes, sizeof nodes, "silent", port, "tst1-az1");
    ctx = open_ok(ini_text("same_az", nodes, "connect_timeout_ms = 2\n"));
    opened = count_fds();
    for (int i = 0; i < 200; i++) {
        azr_conn *conn = NULL;
        azr_code rc = azr_connect(ctx, AZR_INTENT_READ, &conn, err);
        if (rc != AZR_E_TIMEOUT)
            ck_abort_msg("silent %d: %d %s", i, rc, err);
    }
    ck_assert_int_eq(count_fds(), opened);
    azr_close(ctx);
    close(lfd);
    ck_assert_int_eq(count_fds(), before);
}
END_TEST

/* ---- TLS verification cannot be switched off by accident ---- */

START_TEST(verify_off_is_refused)
{
    static const char *const spellings[] = { "no", "off", "false", "0",
                                             "NO" };
    char nodes[256] = "", err[AZR_ERRBUF_SIZE], topts[128];
    add_node(nodes, sizeof nodes, "n1", dead_port(), "tst1-az1");
    for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
        /* the verify line is line 17 of the file: see ini_text */
        snprintf(topts, sizeof topts, "tls = yes\nverify = %s\n"
                 "insecure = no\n", spellings[i]);
        azr_ctx *ctx = (azr_ctx *)1;
        azr_code rc = open_text(&ctx, ini_text("same_az", nodes, topts),
                                err);
        ck_assert_int_eq(rc, AZR_E_CONFIG);
        ck_assert_ptr_null(ctx);
        ck_assert_msg(strcmp(err, "TEST.ini:17: verify = no disables "
                                  "server certificate checks; it is "
                                  "accepted only together with insecure "
                                  "= yes") == 0, "%s: %s", spellings[i],
                      err);
        /* without the insecure line at all */
        snprintf(topts, sizeof topts, "verify = %s\n", spellings[i]);
        rc = open_text(&ctx, ini_text("same_az", nodes, topts), err);
        ck_assert_int_eq(rc, AZR_E_CONFIG);
        ck_assert_msg(strstr(err, "TEST.ini:16: verify = no") == err, "%s",
                      err);
    }
    /* insecure = yes alone changes nothing and says nothing */
    azr_ctx *ctx = open_ok(ini_text("same_az", nodes, "insecure = yes\n"));
    ck_assert_msg(strstr(logbuf, "NOT verified") == NULL, "%s", logbuf);
    azr_close(ctx);
}
END_TEST

START_TEST(verify_off_warns_at_open)
{
    char nodes[256] = "";
    add_node(nodes, sizeof nodes, "n1", dead_port(), "tst1-az1");
    azr_ctx *ctx = open_ok(ini_text("same_az", nodes, "verify = no\n"
                                    "insecure = yes\n"));
    /* at open, before any connection, as a warning, once */
    char want[160];
    snprintf(want, sizeof want, "%d:resp_tls: verify = no: server "
             "certificates are NOT verified (insecure = yes)\n",
             (int)AZR_LOG_WARNING);
    const char *at = strstr(logbuf, want);
    ck_assert_msg(at != NULL, "log: %s", logbuf);
    ck_assert_ptr_null(strstr(at + strlen(want), "NOT verified"));
    azr_close(ctx);

    /* a zero-initialised log_level (AZR_LOG_DEFAULT) delivers warnings */
    logbuf[0] = '\0';
    azr_open_options o = { .struct_size = sizeof o, .log = capture_log,
                           .az_id = "tst1-az1" };
    char err[AZR_ERRBUF_SIZE];
    ck_assert_int_eq(azr_test_open(ini_text("same_az", nodes,
                                            "verify = no\ninsecure = yes\n"),
                                   &o, &ctx, err), AZR_OK);
    ck_assert_ptr_nonnull(strstr(logbuf, want));
    azr_close(ctx);
}
END_TEST

/* ---- writes are not run twice ---- */

static const azr_command set_cmd = {
    .argc = 3, .argv = (const char *const[]){ "SET", "k", "v" }
};
#define SET_BYTES 27u /* "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n" */

/* Two primaries, w1 listed (and so tried) first. */
static azr_ctx *open_two_primaries(int port1, int port2)
{
    char text[1024];
    snprintf(text, sizeof text,
             "[azroute]\npolicy = failover\ntransport = resp_tls\n"
             "[metadata]\nsource = none\n"
             "[node w1]\nhost = 127.0.0.1\nport = %d\naz = tst1-az1\n"
             "role = primary\n"
             "[node w2]\nhost = 127.0.0.1\nport = %d\naz = tst1-az2\n"
             "role = primary\n"
             "[transport resp_tls]\ntls = no\ncommand_timeout_ms = 500\n"
             "connect_timeout_ms = 500\n", port1, port2);
    return open_ok(text);
}

/* A write that reached its node and then failed is not sent elsewhere:
 * it may have been applied. */
START_TEST(write_not_retried_after_send)
{
    fake f = { 0 };
    fake_start(&f, "$10\r\nhel", SET_BYTES); /* takes the SET, breaks */
    azr_ctx *ctx = open_two_primaries(f.port, dead_port());
    char err[AZR_ERRBUF_SIZE];
    azr_reply *r = NULL;
    azr_code rc = azr_exec(ctx, AZR_INTENT_WRITE, &set_cmd, &r, NULL, err);
    fake_stop(&f);
    ck_assert_msg(rc == AZR_E_IO, "code %d: %s", rc, err);
    ck_assert_ptr_null(strstr(err, "nodes tried"));
    ck_assert_uint_eq(stats_of(ctx, 1).requests, 0); /* w2 never tried */
    azr_close(ctx);
}
END_TEST

/* A write whose node could not even be connected is safe to send to the
 * next candidate. */
START_TEST(write_retried_when_never_sent)
{
    fake f = { 0 };
    fake_start(&f, "+OK\r\n", SET_BYTES);
    azr_ctx *ctx = open_two_primaries(dead_port(), f.port);
    char err[AZR_ERRBUF_SIZE];
    azr_reply *r = NULL;
    size_t node = 99;
    azr_code rc = azr_exec(ctx, AZR_INTENT_WRITE, &set_cmd, &r, &node, err);
    fake_stop(&f);
    ck_assert_msg(rc == AZR_OK, "code %d: %s", rc, err);
    ck_assert_uint_eq(node, 1);
    ck_assert_int_eq(r->type, AZR_REPLY_STATUS);
    ck_assert_str_eq(r->str, "OK");
    azr_reply_free(r);
    ck_assert_uint_eq(stats_of(ctx, 0).errors, 1);
    azr_close(ctx);
}
END_TEST

/* ---- real servers (tests/fault_redis.sh) ---- */

static const char *fdir;

static const char *tls_opts(const char *extra)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "tls = yes\nca_file = %s/ca.crt\n%s", fdir,
             extra);
    return buf;
}

/* The killer: a second context polls the victim's counter and SIGKILLs
 * the server once it has executed `after` commands of the pipeline. */
typedef struct killer {
    int port;
    pid_t pid;
    long long after;
    long long seen;
    int killed;
    pthread_t th;
} killer;

static void *killer_main(void *arg)
{
    killer *k = arg;
    char nodes[256] = "", err[AZR_ERRBUF_SIZE];
    add_node(nodes, sizeof nodes, "victim", k->port, "tst1-az1");
    azr_ctx *ctx = NULL;
    azr_open_options o = { .struct_size = sizeof o, .az_id = "tst1-az1" };
    char *path = azr_test_write_file(ini_text("same_az", nodes,
                                              tls_opts("")));
    azr_code rc = azr_open_ex(&ctx, path, &o, err);
    unlink(path);
    free(path);
    if (rc != AZR_OK)
        return NULL;
    static const char *get[] = { "GET", "fault:cnt" };
    const azr_command getc = { .argc = 2, .argv = get };
    uint64_t end = now_ms() + 5000;
    while (now_ms() < end) {
        azr_reply *r = NULL;
        if (azr_exec(ctx, AZR_INTENT_READ, &getc, &r, NULL, err) == AZR_OK &&
            r->type == AZR_REPLY_STRING) {
            k->seen = atoll(r->str);
            if (k->seen >= k->after) {
                azr_reply_free(r);
                k->killed = kill(k->pid, SIGKILL) == 0;
                break;
            }
        }
        azr_reply_free(r);
        usleep(200);
    }
    azr_close(ctx);
    return NULL;
}

#define KILL_PIPELINE 100000

START_TEST(sigkill_mid_pipeline)
{
    int kport = env_int("AZR_F_KILL"), lport = env_int("AZR_F_LIVE");
    char nodes[512] = "", err[AZR_ERRBUF_SIZE];
    add_node(nodes, sizeof nodes, "victim", kport, "tst1-az1");
    add_node(nodes, sizeof nodes, "live", lport, "tst1-az2");
    azr_ctx *ctx = open_ok(ini_text("failover, same_az", nodes,
                                    tls_opts("command_timeout_ms = 2000\n")));
    azr_conn *conn = NULL;
    ck_assert_int_eq(azr_connect(ctx, AZR_INTENT_WRITE, &conn, err),
                     AZR_E_NO_NODE); /* replicas only: no write */
    ck_assert_int_eq(azr_connect(ctx, AZR_INTENT_READ, &conn, err), AZR_OK);
    ck_assert_uint_eq(azr_conn_node(conn), 0); /* same AZ: the victim */

    static const char *del[] = { "DEL", "fault:cnt" };
    const azr_command delc = { .argc = 2, .argv = del };
    azr_reply *r = NULL;
    ck_assert_int_eq(azr_conn_command(conn, &delc, &r, err), AZR_OK);
    azr_reply_free(r);

    static const char *incr[] = { "INCR", "fault:cnt" };
    azr_command *cmds = malloc(KILL_PIPELINE * sizeof *cmds);
    azr_reply **replies = malloc(KILL_PIPELINE * sizeof *replies);
    ck_assert(cmds != NULL && replies != NULL);
    for (size_t i = 0; i < KILL_PIPELINE; i++) {
        cmds[i] = (azr_command){ .argc = 2, .argv = incr };
        replies[i] = (azr_reply *)1;
    }
    killer k = { .port = kport, .pid = (pid_t)env_int("AZR_F_KILL_PID"),
                 .after = 2000 };
    ck_assert_int_gt(k.pid, 1);
    ck_assert_int_eq(pthread_create(&k.th, NULL, killer_main, &k), 0);
    uint64_t t0 = now_ms();
    azr_code rc = azr_conn_pipeline(conn, KILL_PIPELINE, cmds, replies, err);
    uint64_t ms = now_ms() - t0;
    pthread_join(k.th, NULL);
    ck_assert_msg(k.killed, "the server was not killed (saw %lld; "
                  "pipeline: %d %s)", k.seen, rc, err);
    /* a transport error, promptly: the dead peer resets or closes the
     * connection, no timeout is needed to notice. Which one the caller
     * sees depends on whether the reset meets a read (ECONNRESET), a
     * write (EPIPE) or the FIN (no request bytes were left unread). */
    char reset[160], closed[160], broken[160];
    snprintf(reset, sizeof reset, "node victim: connection reset by "
             "127.0.0.1:%d", kport);
    snprintf(closed, sizeof closed, "node victim: connection closed by "
             "127.0.0.1:%d", kport);
    snprintf(broken, sizeof broken, "node victim: I/O error on 127.0.0.1:%d: "
             "Broken pipe", kport);
    fprintf(stderr, "sigkill_mid_pipeline: %d after %llu ms: %s\n", rc,
            (unsigned long long)ms, err);
    ck_assert_msg((rc == AZR_E_CONNECT && strcmp(err, reset) == 0) ||
                      (rc == AZR_E_IO && (strcmp(err, closed) == 0 ||
                                          strcmp(err, broken) == 0)),
                  "pipeline: %d %s", rc, err);
    for (size_t i = 0; i < KILL_PIPELINE; i++)
        if (replies[i] != NULL)
            ck_abort_msg("reply %zu left set", i);
    ck_assert_msg(ms < 2000, "pipeline took %llu ms",
                  (unsigned long long)ms);
    azr_conn_close(conn);
    ck_assert_uint_eq(stats_of(ctx, 0).errors, 1);

    /* the next request is served by the other node */
    size_t node = 99;
    r = NULL;
    rc = azr_exec(ctx, AZR_INTENT_READ, &ping_cmd, &r, &node, err);
    ck_assert_msg(rc == AZR_OK, "%d %s", rc, err);
    ck_assert_int_eq(r->type, AZR_REPLY_STATUS);
    ck_assert_str_eq(r->str, "PONG");
    azr_reply_free(r);
    ck_assert_uint_eq(node, 1);
    ck_assert_uint_eq(stats_of(ctx, 0).errors, 2); /* refused, reported */
    ck_assert_uint_eq(stats_of(ctx, 1).errors, 0);
    free(cmds);
    free(replies);
    azr_close(ctx);
}
END_TEST

#define STOP_TIMEOUT_MS 300
#define STOP_THRESHOLD 3

START_TEST(sigstop_times_out_and_ejects)
{
    int sport = env_int("AZR_F_STOP"), lport = env_int("AZR_F_LIVE");
    pid_t spid = (pid_t)env_int("AZR_F_STOP_PID");
    ck_assert_int_gt(spid, 1);
    char nodes[768], err[AZR_ERRBUF_SIZE];
    /* sections in any order: the failover options go with the nodes */
    snprintf(nodes, sizeof nodes, "[policy failover]\nconsecutive_failures "
             "= %d\nbase_ejection_ms = 60000\n\n", STOP_THRESHOLD);
    add_node(nodes, sizeof nodes, "stopped", sport, "tst1-az1");
    add_node(nodes, sizeof nodes, "live", lport, "tst1-az2");
    char topts[256];
    snprintf(topts, sizeof topts, "command_timeout_ms = %d\n"
             "connect_timeout_ms = %d\n", STOP_TIMEOUT_MS, STOP_TIMEOUT_MS);
    azr_ctx *ctx = open_ok(ini_text("failover, same_az", nodes,
                                    tls_opts(topts)));

    /* connections opened while the server still answers */
    azr_conn *conns[STOP_THRESHOLD];
    for (int i = 0; i < STOP_THRESHOLD; i++) {
        ck_assert_int_eq(azr_connect_node(ctx, 0, &conns[i], err), AZR_OK);
        azr_reply *r = NULL;
        ck_assert_int_eq(azr_conn_command(conns[i], &ping_cmd, &r, err),
                         AZR_OK);
        azr_reply_free(r);
    }
    size_t picked;
    ck_assert_int_eq(azr_pick(ctx, AZR_INTENT_READ, &picked), AZR_OK);
    ck_assert_uint_eq(picked, 0);

    ck_assert_int_eq(kill(spid, SIGSTOP), 0);
    char want[160];
    snprintf(want, sizeof want, "node stopped: no reply from 127.0.0.1:%d "
             "within %d ms (command_timeout_ms)", sport, STOP_TIMEOUT_MS);
    for (int i = 0; i < STOP_THRESHOLD; i++) {
        /* still the node of choice until the threshold is reached */
        ck_assert_int_eq(azr_pick(ctx, AZR_INTENT_READ, &picked), AZR_OK);
        ck_assert_msg(picked == 0, "ejected after %d timeouts", i);
        azr_reply *r = NULL;
        uint64_t t0 = now_ms();
        azr_code rc = azr_conn_command(conns[i], &ping_cmd, &r, err);
        uint64_t ms = now_ms() - t0;
        ck_assert_msg(rc == AZR_E_TIMEOUT, "%d %s", rc, err);
        ck_assert_str_eq(err, want);
        ck_assert_ptr_null(r);
        ck_assert_uint_ge(ms, STOP_TIMEOUT_MS - 20);
        ck_assert_msg(ms < STOP_TIMEOUT_MS + 150, "timed out after %llu ms",
                      (unsigned long long)ms);
        azr_conn_close(conns[i]);
    }
    ck_assert_uint_eq(stats_of(ctx, 0).errors, STOP_THRESHOLD);

    /* ejected: every pick avoids it, and requests go to the live node
     * at once (no connect to the stopped one, so no timeout) */
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(azr_pick(ctx, AZR_INTENT_READ, &picked), AZR_OK);
        if (picked != 1)
            ck_abort_msg("pick %d chose the ejected node", i);
    }
    for (int i = 0; i < 20; i++) {
        azr_reply *r = NULL;
        size_t node = 99;
        uint64_t t0 = now_ms();
        ck_assert_int_eq(azr_exec(ctx, AZR_INTENT_READ, &ping_cmd, &r, &node,
                                  err), AZR_OK);
        ck_assert_uint_lt(now_ms() - t0, 100);
        ck_assert_uint_eq(node, 1);
        azr_reply_free(r);
    }
    ck_assert_uint_eq(stats_of(ctx, 0).errors, STOP_THRESHOLD);

    /* a connect to the stopped server: the handshake times out too */
    azr_conn *conn = NULL;
    uint64_t t0 = now_ms();
    ck_assert_int_eq(azr_connect_node(ctx, 0, &conn, err), AZR_E_TIMEOUT);
    ck_assert_uint_lt(now_ms() - t0, STOP_TIMEOUT_MS + 150);
    ck_assert_ptr_nonnull(strstr(err, "timed out after 300 ms"));

    ck_assert_int_eq(kill(spid, SIGCONT), 0);
    /* it answers again (directly; the policy keeps it ejected for now) */
    ck_assert_int_eq(azr_connect_node(ctx, 0, &conn, err), AZR_OK);
    azr_reply *r = NULL;
    ck_assert_msg(azr_conn_command(conn, &ping_cmd, &r, err) == AZR_OK,
                  "%s", err);
    ck_assert_str_eq(r->str, "PONG");
    azr_reply_free(r);
    azr_conn_close(conn);
    azr_close(ctx);
}
END_TEST

/* A TLS server that dies after half a reply: no close_notify. */
static SSL_CTX *fake_tls_ctx(void)
{
    SSL_CTX *t = SSL_CTX_new(TLS_server_method());
    ck_assert_ptr_nonnull(t);
    char crt[512], key[512];
    snprintf(crt, sizeof crt, "%s/server.crt", fdir);
    snprintf(key, sizeof key, "%s/server.key", fdir);
    ck_assert_int_eq(SSL_CTX_use_certificate_file(t, crt, SSL_FILETYPE_PEM),
                     1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(t, key, SSL_FILETYPE_PEM),
                     1);
    return t;
}

START_TEST(tls_reply_broken_off)
{
    /* _i == 0: the process dies (no close_notify); 1: orderly close */
    fake f = { .tls = fake_tls_ctx(), .notify = _i == 1 };
    fake_start(&f, "$10\r\nhello", PING_BYTES);
    char err[AZR_ERRBUF_SIZE], want[128];
    uint64_t ms;
    azr_code rc = ping_once(f.port, tls_opts("command_timeout_ms = 2000\n"),
                            err, &ms);
    fake_stop(&f);
    SSL_CTX_free(f.tls);
    snprintf(want, sizeof want, "node fake: connection closed by "
             "127.0.0.1:%d", f.port);
    ck_assert_msg(rc == AZR_E_IO && strcmp(err, want) == 0, "%s: %d %s",
                  _i == 0 ? "abrupt" : "close_notify", rc, err);
    ck_assert_uint_lt(ms, 500);
}
END_TEST

/* ---- the plugin directory probe (not a Check test) ---- */

static int plugin_path_probe(const char *ini)
{
    unsigned long secure = getauxval(AT_SECURE);
    azr_ctx *ctx = NULL;
    char err[AZR_ERRBUF_SIZE];
    azr_open_options o = { .struct_size = sizeof o, .az_id = "tst1-az1" };
    if (azr_open_ex(&ctx, ini, &o, err) != AZR_OK) {
        printf("secure=%lu error=%s\n", secure, err);
        return 1;
    }
    azr_plugin_info info;
    azr_plugin_get(ctx, 0, &info);
    printf("secure=%lu path=%s\n", secure, info.path);
    azr_close(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--plugin-path") == 0)
        return plugin_path_probe(argv[2]);

    Suite *s = suite_create("fault");
    fdir = getenv("AZR_F_DIR");
    if (fdir == NULL) {
        TCase *t = tcase_create("fake_servers");
        tcase_set_timeout(t, 30);
        tcase_add_loop_test(t, reply_broken_off, 0,
                            sizeof broken_cases / sizeof broken_cases[0]);
        tcase_add_test(t, pipeline_broken_off);
        tcase_add_test(t, write_not_retried_after_send);
        tcase_add_test(t, write_retried_when_never_sent);
        tcase_add_test(t, no_fd_leak_on_failed_connects);
        tcase_add_test(t, verify_off_is_refused);
        tcase_add_test(t, verify_off_warns_at_open);
        suite_add_tcase(s, t);
    } else {
        TCase *t = tcase_create("redis");
        tcase_set_timeout(t, 20);
        tcase_add_test(t, sigkill_mid_pipeline);
        tcase_add_test(t, sigstop_times_out_and_ejects);
        tcase_add_loop_test(t, tls_reply_broken_off, 0, 2);
        suite_add_tcase(s, t);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
