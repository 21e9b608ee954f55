/*
 * check_transport.c - the connection API (lib/route/conn.c) and the resp_tls
 * transport against real redis-server instances.
 *
 * Run by tests/transport_api.sh, which starts the servers (see
 * tests/redis_harness.sh) and passes them in the environment:
 *   AZR_T_DIR        certificates (ca.crt, other-ca.crt, client.{crt,key})
 *   AZR_T_TLS        TLS port, server.crt (localhost, 127.0.0.1), ACL user
 *                    alice with password $AZR_T_PASSWORD
 *   AZR_T_PLAIN      plaintext port, HELLO renamed away (RESP3 fallback),
 *                    same ACL user
 *   AZR_T_EXPIRED    TLS port with an expired certificate
 *   AZR_T_OTHERHOST  TLS port with a certificate for other.invalid only
 *   AZR_T_MTLS       TLS port that requires a client certificate
 * Listeners that accept and never answer are made here.
 *
 * Also a JSON shape checker for the CLI tests (json-c):
 *   check_transport --json-probe FILE NODES
 *   check_transport --json-bench FILE REQUESTS NODES
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <azroute/azroute.h>

/* ---- fixtures ---- */

static const char *dir;
static int port_tls, port_plain, port_expired, port_otherhost, port_mtls;

static int env_port(const char *name)
{
    const char *v = getenv(name);
    return v != NULL ? atoi(v) : 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Everything the library logged during the test (checked for secrets).
 * The log callback may run on several threads at once, hence the lock. */
static char logbuf[32768];
static pthread_mutex_t logbuf_lock = PTHREAD_MUTEX_INITIALIZER;

static void capture_log(void *ud, azr_log_level level, const char *msg)
{
    (void)ud;
    (void)level;
    pthread_mutex_lock(&logbuf_lock);
    size_t used = strlen(logbuf);
    snprintf(logbuf + used, sizeof logbuf - used, "%s\n", msg);
    pthread_mutex_unlock(&logbuf_lock);
}

/* Writes an azroute.ini with the given node sections and transport
 * options; returns its path (static buffer). */
static const char *write_ini(const char *nodes, const char *transport_opts)
{
    static char path[512];
    static int seq;
    snprintf(path, sizeof path, "%s/check-%d-%d.ini", dir, (int)getpid(),
             seq++);
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fprintf(f, "[azroute]\npolicy = same_az\ntransport = resp_tls\n\n"
               "[metadata]\nsource = none\n\n%s\n[transport resp_tls]\n%s\n",
            nodes, transport_opts);
    fclose(f);
    return path;
}

/* "[node ID]" section text. */
static const char *node_sec(char *buf, size_t len, const char *id,
                            const char *host, int port, const char *az,
                            const char *role)
{
    snprintf(buf, len, "[node %s]\nhost = %s\nport = %d\naz = %s\n"
             "role = %s\n\n", id, host, port, az, role);
    return buf;
}

/* Opens a context; the caller's AZ is tst1-az1. */
static azr_code open_ctx(azr_ctx **ctx, const char *path, char *err)
{
    logbuf[0] = '\0';
    azr_open_options o = {
        .struct_size = sizeof o,
        .log = capture_log,
        .log_level = AZR_LOG_DEBUG,
        .az_id = "tst1-az1",
    };
    return azr_open_ex(ctx, path, &o, err);
}

/* A context with one node at host:port and these transport options. */
static azr_ctx *one_node(const char *host, int port, const char *opts)
{
    char sec[256], err[AZR_ERRBUF_SIZE];
    node_sec(sec, sizeof sec, "n1", host, port, "tst1-az1", "primary");
    azr_ctx *ctx = NULL;
    azr_code rc = open_ctx(&ctx, write_ini(sec, opts), err);
    ck_assert_msg(rc == AZR_OK, "azr_open: %s", err);
    return ctx;
}

static char *tls_opts(const char *extra)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "tls = yes\nca_file = %s/ca.crt\n%s", dir,
             extra);
    return buf;
}

/* A context with two replicas over TLS: id_a at host_a:port_a in the
 * caller's AZ (so picked first), id_b at host_b:port_b in another. */
static azr_ctx *two_nodes(const char *id_a, const char *host_a, int port_a,
                          const char *id_b, const char *host_b, int port_b)
{
    char secs[512], a[256], b[256], err[AZR_ERRBUF_SIZE];
    snprintf(secs, sizeof secs, "%s%s",
             node_sec(a, sizeof a, id_a, host_a, port_a, "tst1-az1",
                      "replica"),
             node_sec(b, sizeof b, id_b, host_b, port_b, "tst1-az2",
                      "replica"));
    azr_ctx *ctx = NULL;
    ck_assert_msg(open_ctx(&ctx, write_ini(secs, tls_opts("")), err) ==
                      AZR_OK, "%s", err);
    return ctx;
}

static azr_code exec_words(azr_ctx *ctx, azr_intent intent,
                           azr_reply **reply, size_t *node, char *err,
                           size_t argc, const char **argv)
{
    const azr_command cmd = { .argc = argc, .argv = argv };
    return azr_exec(ctx, intent, &cmd, reply, node, err);
}

#define EXEC(ctx, intent, reply, node, err, ...)                           \
    exec_words(ctx, intent, reply, node, err,                              \
               sizeof((const char *[]){ __VA_ARGS__ }) / sizeof(char *),   \
               (const char *[]){ __VA_ARGS__ })

static void assert_status(const azr_reply *r, const char *text)
{
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, AZR_REPLY_STATUS);
    ck_assert_str_eq(r->str, text);
}

/* A routed PING answers PONG. */
static void assert_ping(azr_ctx *ctx)
{
    azr_reply *r = NULL;
    char err[AZR_ERRBUF_SIZE];
    ck_assert_msg(EXEC(ctx, AZR_INTENT_READ, &r, NULL, err, "PING") ==
                      AZR_OK, "%s", err);
    assert_status(r, "PONG");
    azr_reply_free(r);
}

static void assert_no_secret(const char *err)
{
    const char *pw = getenv("AZR_T_PASSWORD");
    ck_assert_ptr_nonnull(pw);
    ck_assert_msg(strstr(err, pw) == NULL, "password in message: %s", err);
    ck_assert_msg(strstr(logbuf, pw) == NULL, "password in the log");
}

static azr_node_stats stats_of(azr_ctx *ctx, size_t node)
{
    azr_node_stats s;
    ck_assert_int_eq(azr_node_stats_get(ctx, node, &s), AZR_OK);
    return s;
}

/* A TCP listener on 127.0.0.1 that never accepts: the kernel completes the
 * handshake (backlog), nothing is ever answered. */
static int silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A port nothing listens on (bound, then closed). */
static int dead_port(void)
{
    int p;
    int fd = silent_listener(&p);
    close(fd);
    return p;
}

/* ---- round trips ---- */

START_TEST(tls_ping_set_get)
{
    azr_ctx *ctx = one_node("localhost", port_tls, tls_opts(""));
    azr_reply *r = NULL;
    size_t node = 99;
    char err[AZR_ERRBUF_SIZE];
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_READ, &r, &node, err, "PING"),
                     AZR_OK);
    assert_status(r, "PONG");
    ck_assert_uint_eq(node, 0);
    azr_reply_free(r);

    /* binary-safe argument: NUL, CR LF */
    const char value[] = "a\0b\r\nc";
    const char *argv[] = { "SET", "tls:bin", value };
    const size_t lens[] = { 3, 7, sizeof value - 1 };
    const azr_command set = { .argc = 3, .argv = argv, .argvlen = lens };
    ck_assert_int_eq(azr_exec(ctx, AZR_INTENT_WRITE, &set, &r, NULL, err),
                     AZR_OK);
    assert_status(r, "OK");
    azr_reply_free(r);
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_READ, &r, NULL, err, "GET",
                          "tls:bin"), AZR_OK);
    ck_assert_int_eq(r->type, AZR_REPLY_STRING);
    ck_assert_uint_eq(r->len, sizeof value - 1);
    ck_assert(memcmp(r->str, value, r->len) == 0);
    azr_reply_free(r);

    azr_node_stats s = stats_of(ctx, 0);
    ck_assert_uint_eq(s.requests, 3);
    ck_assert_uint_eq(s.errors, 0);
    ck_assert_uint_gt(s.total_rtt_ns, 0);
    azr_close(ctx);
}
END_TEST

START_TEST(tls_by_ip_address)
{
    azr_ctx *ctx = one_node("127.0.0.1", port_tls, tls_opts(""));
    assert_ping(ctx);
    azr_close(ctx);
}
END_TEST

START_TEST(plain_ping)
{
    azr_ctx *ctx = one_node("127.0.0.1", port_plain, "tls = no\n");
    assert_ping(ctx);
    azr_reply *r = NULL;
    char err[AZR_ERRBUF_SIZE];
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_READ, &r, NULL, err, "ECHO",
                          "hello world"), AZR_OK);
    ck_assert_int_eq(r->type, AZR_REPLY_STRING);
    ck_assert_str_eq(r->str, "hello world");
    azr_reply_free(r);
    azr_close(ctx);
}
END_TEST

START_TEST(error_reply_is_answered)
{
    azr_ctx *ctx = one_node("localhost", port_tls, tls_opts(""));
    azr_reply *r = NULL;
    char err[AZR_ERRBUF_SIZE];
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_READ, &r, NULL, err,
                          "NOSUCHCOMMAND"), AZR_OK);
    ck_assert_int_eq(r->type, AZR_REPLY_ERROR);
    ck_assert_ptr_nonnull(strstr(r->str, "unknown command"));
    azr_reply_free(r);
    azr_node_stats s = stats_of(ctx, 0);
    ck_assert_uint_eq(s.requests, 1);
    ck_assert_uint_eq(s.errors, 0);
    /* the connection stays usable (it went back to the pool) */
    assert_ping(ctx);
    azr_close(ctx);
}
END_TEST

#define PIPE_N 1000

START_TEST(pipeline_1000)
{
    azr_ctx *ctx = one_node("localhost", port_tls, tls_opts(""));
    azr_conn *conn = NULL;
    char err[AZR_ERRBUF_SIZE];
    ck_assert_msg(azr_connect(ctx, AZR_INTENT_WRITE, &conn, err) == AZR_OK,
                  "%s", err);
    ck_assert_uint_eq(azr_conn_node(conn), 0);

    static const char *del[] = { "DEL", "pipe:cnt" };
    const azr_command delc = { .argc = 2, .argv = del };
    azr_reply *r = NULL;
    ck_assert_int_eq(azr_conn_command(conn, &delc, &r, err), AZR_OK);
    azr_reply_free(r);

    static const char *incr[] = { "INCR", "pipe:cnt" };
    static azr_command cmds[PIPE_N];
    static azr_reply *replies[PIPE_N];
    for (size_t i = 0; i < PIPE_N; i++)
        cmds[i] = (azr_command){ .argc = 2, .argv = incr };
    uint64_t t0 = now_ms();
    ck_assert_msg(azr_conn_pipeline(conn, PIPE_N, cmds, replies, err) ==
                      AZR_OK, "%s", err);
    for (size_t i = 0; i < PIPE_N; i++) {
        ck_assert_int_eq(replies[i]->type, AZR_REPLY_INTEGER);
        ck_assert_int_eq(replies[i]->integer, (long long)i + 1);
        azr_reply_free(replies[i]);
    }

    /* 1000 SETs of 4 KiB values then 1000 GETs: megabytes in flight both
     * ways, which only works if sending and receiving interleave. */
    static char keys[PIPE_N][24];
    static char value[4096];
    memset(value, 'x', sizeof value - 1);
    static const char *setv[PIPE_N][3], *getv[PIPE_N][2];
    for (size_t i = 0; i < PIPE_N; i++) {
        snprintf(keys[i], sizeof keys[i], "pipe:k%zu", i);
        setv[i][0] = "SET";
        setv[i][1] = keys[i];
        setv[i][2] = value;
        cmds[i] = (azr_command){ .argc = 3, .argv = setv[i] };
    }
    ck_assert_msg(azr_conn_pipeline(conn, PIPE_N, cmds, replies, err) ==
                      AZR_OK, "%s", err);
    for (size_t i = 0; i < PIPE_N; i++) {
        assert_status(replies[i], "OK");
        azr_reply_free(replies[i]);
        getv[i][0] = "GET";
        getv[i][1] = keys[i];
        cmds[i] = (azr_command){ .argc = 2, .argv = getv[i] };
    }
    ck_assert_msg(azr_conn_pipeline(conn, PIPE_N, cmds, replies, err) ==
                      AZR_OK, "%s", err);
    for (size_t i = 0; i < PIPE_N; i++) {
        ck_assert_int_eq(replies[i]->type, AZR_REPLY_STRING);
        ck_assert_uint_eq(replies[i]->len, sizeof value - 1);
        azr_reply_free(replies[i]);
    }
    uint64_t took = now_ms() - t0;
    ck_assert_msg(took < 3000, "pipelines took %llu ms",
                  (unsigned long long)took);
    /* one outcome per batch: DEL + 3 pipelines */
    ck_assert_uint_eq(stats_of(ctx, 0).requests, 4);
    azr_conn_close(conn);
    azr_close(ctx);
}
END_TEST

/* ---- AUTH and RESP3 ---- */

START_TEST(acl_auth)
{
    azr_ctx *ctx = one_node("localhost", port_tls,
                            tls_opts("username = alice\n"
                                     "password_env = AZR_T_PASSWORD\n"));
    azr_reply *r = NULL;
    char err[AZR_ERRBUF_SIZE];
    ck_assert_msg(EXEC(ctx, AZR_INTENT_READ, &r, NULL, err, "ACL",
                       "WHOAMI") == AZR_OK, "%s", err);
    ck_assert_int_eq(r->type, AZR_REPLY_STRING);
    ck_assert_str_eq(r->str, "alice");
    azr_reply_free(r);
    assert_no_secret("");
    azr_close(ctx);
}
END_TEST

START_TEST(acl_wrong_password)
{
    /* the wrong password contains the real one: masking must still hide
     * the real one wherever the server might quote it */
    char bad[256];
    snprintf(bad, sizeof bad, "x%sx", getenv("AZR_T_PASSWORD"));
    setenv("AZR_T_BADPW", bad, 1);
    for (int proto = 2; proto <= 3; proto++) {
        char opts[256];
        snprintf(opts, sizeof opts, "username = alice\npassword_env = "
                 "AZR_T_BADPW\nprotocol = %d\n", proto);
        azr_ctx *ctx = one_node("localhost", port_tls, tls_opts(opts));
        azr_reply *r = NULL;
        char err[AZR_ERRBUF_SIZE];
        azr_code rc = EXEC(ctx, AZR_INTENT_READ, &r, NULL, err, "PING");
        ck_assert_msg(rc == AZR_E_AUTH, "protocol %d: %d %s", proto, rc,
                      err);
        ck_assert_ptr_null(r);
        ck_assert_msg(strstr(err, "AUTH as 'alice' refused") != NULL, "%s",
                      err);
        ck_assert_msg(strstr(err, bad) == NULL, "%s", err);
        assert_no_secret(err);
        azr_close(ctx);
    }
}
END_TEST

START_TEST(resp3_hello)
{
    azr_ctx *ctx3 = one_node("localhost", port_tls,
                             tls_opts("protocol = 3\nusername = alice\n"
                                      "password_env = AZR_T_PASSWORD\n"));
    azr_ctx *ctx2 = one_node("localhost", port_tls, tls_opts(""));
    azr_reply *r = NULL;
    char err[AZR_ERRBUF_SIZE];
    ck_assert_int_eq(EXEC(ctx2, AZR_INTENT_WRITE, &r, NULL, err, "HSET",
                          "r3:h", "f", "v"), AZR_OK);
    azr_reply_free(r);

    ck_assert_msg(EXEC(ctx3, AZR_INTENT_READ, &r, NULL, err, "HGETALL",
                       "r3:h") == AZR_OK, "%s", err);
    ck_assert_int_eq(r->type, AZR_REPLY_MAP);
    ck_assert_uint_eq(r->elements, 2);
    ck_assert_str_eq(r->element[0]->str, "f");
    azr_reply_free(r);
    ck_assert_int_eq(EXEC(ctx3, AZR_INTENT_READ, &r, NULL, err, "ACL",
                          "WHOAMI"), AZR_OK);
    ck_assert_str_eq(r->str, "alice");
    azr_reply_free(r);
    /* a RESP3-only type: null is _ rather than $-1, both give NIL */
    ck_assert_int_eq(EXEC(ctx3, AZR_INTENT_READ, &r, NULL, err, "GET",
                          "r3:missing"), AZR_OK);
    ck_assert_int_eq(r->type, AZR_REPLY_NIL);
    azr_reply_free(r);

    ck_assert_int_eq(EXEC(ctx2, AZR_INTENT_READ, &r, NULL, err, "HGETALL",
                          "r3:h"), AZR_OK);
    ck_assert_int_eq(r->type, AZR_REPLY_ARRAY);
    azr_reply_free(r);
    azr_close(ctx3);
    azr_close(ctx2);
}
END_TEST

START_TEST(resp3_fallback_to_resp2)
{
    /* the plain server has HELLO renamed away: "unknown command", which
     * quotes the arguments, password included */
    azr_ctx *ctx = one_node("127.0.0.1", port_plain,
                            "tls = no\nprotocol = 3\nusername = alice\n"
                            "password_env = AZR_T_PASSWORD\n");
    azr_reply *r = NULL;
    char err[AZR_ERRBUF_SIZE];
    ck_assert_msg(EXEC(ctx, AZR_INTENT_READ, &r, NULL, err, "ACL",
                       "WHOAMI") == AZR_OK, "%s", err);
    ck_assert_str_eq(r->str, "alice");
    azr_reply_free(r);
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_READ, &r, NULL, err, "CONFIG",
                          "GET", "maxclients"), AZR_OK);
    ck_assert_int_eq(r->type, AZR_REPLY_ARRAY); /* RESP2 */
    azr_reply_free(r);
    ck_assert_ptr_nonnull(strstr(logbuf, "using RESP2"));
    assert_no_secret(err);
    azr_close(ctx);
}
END_TEST

/* ---- certificate and protocol failures: clear, and within the timeout */

/* Runs PING on a one-node context expected to fail; returns the code and
 * the elapsed time. */
static azr_code failing_ping(const char *host, int port, const char *opts,
                             char *err, uint64_t *ms)
{
    azr_ctx *ctx = one_node(host, port, opts);
    azr_reply *r = NULL;
    uint64_t t0 = now_ms();
    azr_code rc = EXEC(ctx, AZR_INTENT_READ, &r, NULL, err, "PING");
    *ms = now_ms() - t0;
    ck_assert_ptr_null(r);
    if (rc != AZR_OK) {
        azr_node_stats s = stats_of(ctx, 0);
        ck_assert_uint_eq(s.requests, 1); /* the failure was reported */
        ck_assert_uint_eq(s.errors, 1);
    }
    azr_close(ctx);
    return rc;
}

START_TEST(wrong_ca)
{
    char opts[512], err[AZR_ERRBUF_SIZE];
    uint64_t ms;
    snprintf(opts, sizeof opts, "ca_file = %s/other-ca.crt\n", dir);
    azr_code rc = failing_ping("localhost", port_tls, opts, err, &ms);
    ck_assert_int_eq(rc, AZR_E_TLS);
    ck_assert_msg(strstr(err, "certificate verify failed: unable to get "
                              "local issuer certificate") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "node n1") != NULL, "%s", err);
    ck_assert_uint_lt(ms, 1000);
}
END_TEST

START_TEST(hostname_mismatch)
{
    char err[AZR_ERRBUF_SIZE];
    uint64_t ms;
    azr_code rc = failing_ping("localhost", port_otherhost, tls_opts(""),
                               err, &ms);
    ck_assert_int_eq(rc, AZR_E_TLS);
    ck_assert_msg(strstr(err, "certificate verify failed: hostname "
                              "mismatch") != NULL, "%s", err);
    ck_assert_uint_lt(ms, 1000);

    rc = failing_ping("127.0.0.1", port_otherhost, tls_opts(""), err, &ms);
    ck_assert_int_eq(rc, AZR_E_TLS);
    ck_assert_msg(strstr(err, "IP address mismatch") != NULL, "%s", err);

    /* server_name names what the certificate is for */
    azr_ctx *ctx = one_node("127.0.0.1", port_otherhost,
                            tls_opts("server_name = other.invalid\n"));
    azr_reply *r = NULL;
    ck_assert_msg(EXEC(ctx, AZR_INTENT_READ, &r, NULL, err, "PING") ==
                      AZR_OK, "%s", err);
    azr_reply_free(r);
    azr_close(ctx);
}
END_TEST

START_TEST(expired_certificate)
{
    char err[AZR_ERRBUF_SIZE];
    uint64_t ms;
    azr_code rc = failing_ping("localhost", port_expired, tls_opts(""), err,
                               &ms);
    ck_assert_int_eq(rc, AZR_E_TLS);
    ck_assert_msg(strstr(err, "certificate verify failed: certificate has "
                              "expired") != NULL, "%s", err);
    ck_assert_uint_lt(ms, 1000);
}
END_TEST

START_TEST(verify_off_needs_insecure)
{
    char sec[256], err[AZR_ERRBUF_SIZE], opts[512];
    node_sec(sec, sizeof sec, "n1", "localhost", port_tls, "tst1-az1",
             "primary");
    azr_ctx *ctx = NULL;
    azr_code rc = open_ctx(&ctx, write_ini(sec, "verify = no\n"), err);
    ck_assert_int_eq(rc, AZR_E_CONFIG);
    ck_assert_msg(strstr(err, ".ini:") != NULL &&
                      strstr(err, "insecure = yes") != NULL, "%s", err);

    /* with the acknowledgement, even a wrong CA connects */
    snprintf(opts, sizeof opts, "ca_file = %s/other-ca.crt\nverify = no\n"
             "insecure = yes\n", dir);
    ctx = one_node("localhost", port_expired, opts);
    azr_reply *r = NULL;
    ck_assert_msg(EXEC(ctx, AZR_INTENT_READ, &r, NULL, err, "PING") ==
                      AZR_OK, "%s", err);
    azr_reply_free(r);
    ck_assert_ptr_nonnull(strstr(logbuf, "NOT verified"));
    azr_close(ctx);
}
END_TEST

START_TEST(plaintext_server_on_tls_port)
{
    char err[AZR_ERRBUF_SIZE];
    uint64_t ms;
    azr_code rc = failing_ping("127.0.0.1", port_plain,
                               tls_opts("connect_timeout_ms = 400\n"), err,
                               &ms);
    /* The server either answers the ClientHello with an error line (a TLS
     * record error at once) or waits for a newline (the handshake times
     * out); both must say TLS and end within the timeout. */
    ck_assert_msg(rc == AZR_E_TLS || rc == AZR_E_TIMEOUT, "%d %s", rc, err);
    ck_assert_msg(strstr(err, "TLS") != NULL, "%s", err);
    ck_assert_uint_lt(ms, 400 + 300);
}
END_TEST

START_TEST(tls_server_plain_client)
{
    char err[AZR_ERRBUF_SIZE];
    uint64_t ms;
    azr_code rc = failing_ping("localhost", port_tls,
                               "tls = no\ncommand_timeout_ms = 400\n", err,
                               &ms);
    ck_assert_int_ne(rc, AZR_OK);
    ck_assert_msg(strstr(err, "TLS") != NULL, "%s", err);
    ck_assert_uint_lt(ms, 400 + 300);
}
END_TEST

START_TEST(silent_server_tls)
{
    int port, fd = silent_listener(&port);
    char err[AZR_ERRBUF_SIZE];
    uint64_t ms;
    azr_code rc = failing_ping("127.0.0.1", port,
                               tls_opts("connect_timeout_ms = 300\n"), err,
                               &ms);
    ck_assert_int_eq(rc, AZR_E_TIMEOUT);
    ck_assert_msg(strstr(err, "timed out after 300 ms") != NULL, "%s", err);
    ck_assert_uint_ge(ms, 250);
    ck_assert_uint_lt(ms, 300 + 300);
    close(fd);
}
END_TEST

START_TEST(silent_server_plain)
{
    int port, fd = silent_listener(&port);
    char err[AZR_ERRBUF_SIZE];
    uint64_t ms;
    azr_code rc = failing_ping("127.0.0.1", port,
                               "tls = no\ncommand_timeout_ms = 300\n", err,
                               &ms);
    ck_assert_int_eq(rc, AZR_E_TIMEOUT);
    ck_assert_msg(strstr(err, "no reply from 127.0.0.1:") != NULL &&
                      strstr(err, "300 ms (command_timeout_ms)") != NULL,
                  "%s", err);
    ck_assert_uint_ge(ms, 250);
    ck_assert_uint_lt(ms, 300 + 300);
    close(fd);
}
END_TEST

START_TEST(mutual_tls)
{
    char err[AZR_ERRBUF_SIZE], opts[512];
    uint64_t ms;
    azr_code rc = failing_ping("localhost", port_mtls, tls_opts(""), err,
                               &ms);
    ck_assert_int_ne(rc, AZR_OK);
    ck_assert_uint_lt(ms, 1000 + 300);

    snprintf(opts, sizeof opts, "cert_file = %s/client.crt\n"
             "key_file = %s/client.key\n", dir, dir);
    azr_ctx *ctx = one_node("localhost", port_mtls, tls_opts(opts));
    assert_ping(ctx);
    azr_close(ctx);
}
END_TEST

/* ---- routing: failover, pool, threads ---- */

START_TEST(exec_fails_over)
{
    char err[AZR_ERRBUF_SIZE];
    /* the dead node is the only same-AZ one, so it is picked first */
    azr_ctx *ctx = two_nodes("dead", "127.0.0.1", dead_port(), "live",
                             "localhost", port_tls);
    size_t first;
    ck_assert_int_eq(azr_pick(ctx, AZR_INTENT_READ, &first), AZR_OK);
    ck_assert_uint_eq(first, 0);

    azr_reply *r = NULL;
    size_t node = 99;
    ck_assert_msg(EXEC(ctx, AZR_INTENT_READ, &r, &node, err, "PING") ==
                      AZR_OK, "%s", err);
    assert_status(r, "PONG");
    azr_reply_free(r);
    ck_assert_uint_eq(node, 1);
    azr_node_stats dead = stats_of(ctx, 0), live = stats_of(ctx, 1);
    ck_assert_uint_eq(dead.requests, 1);
    ck_assert_uint_eq(dead.errors, 1);
    ck_assert_uint_eq(live.requests, 1);
    ck_assert_uint_eq(live.errors, 0);

    azr_conn *conn = NULL;
    ck_assert_int_eq(azr_connect(ctx, AZR_INTENT_READ, &conn, err), AZR_OK);
    ck_assert_uint_eq(azr_conn_node(conn), 1);
    azr_conn_close(conn);

    /* probing a node directly does not fail over */
    ck_assert_int_eq(azr_connect_node(ctx, 0, &conn, err), AZR_E_CONNECT);
    ck_assert_ptr_null(conn);
    ck_assert_msg(strstr(err, "node dead: connect to 127.0.0.1:") != NULL,
                  "%s", err);
    ck_assert_int_eq(azr_connect_node(ctx, 2, &conn, err), AZR_E_NOT_FOUND);
    azr_close(ctx);
}
END_TEST

START_TEST(all_nodes_down)
{
    char err[AZR_ERRBUF_SIZE];
    azr_ctx *ctx = two_nodes("d1", "127.0.0.1", dead_port(), "d2",
                             "127.0.0.1", dead_port());
    azr_reply *r = NULL;
    uint64_t t0 = now_ms();
    azr_code rc = EXEC(ctx, AZR_INTENT_READ, &r, NULL, err, "PING");
    ck_assert_int_eq(rc, AZR_E_CONNECT);
    ck_assert_msg(strstr(err, "connection refused") != NULL ||
                      strstr(err, "Connection refused") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "(2 nodes tried)") != NULL, "%s", err);
    ck_assert_uint_lt(now_ms() - t0, 500);
    azr_close(ctx);
}
END_TEST

START_TEST(stale_pooled_connection)
{
    azr_ctx *ctx = one_node("localhost", port_tls, tls_opts(""));
    azr_conn *a = NULL, *b = NULL;
    char err[AZR_ERRBUF_SIZE];
    ck_assert_int_eq(azr_connect(ctx, AZR_INTENT_READ, &a, err), AZR_OK);
    ck_assert_int_eq(azr_connect(ctx, AZR_INTENT_READ, &b, err), AZR_OK);
    static const char *name[] = { "CLIENT", "SETNAME", "stale-victim" };
    const azr_command setname = { .argc = 3, .argv = name };
    azr_reply *r = NULL;
    ck_assert_int_eq(azr_conn_command(a, &setname, &r, err), AZR_OK);
    azr_reply_free(r);
    azr_conn_close(a); /* pooled */

    /* the server drops the pooled connection behind its back */
    static const char *kill[] = { "CLIENT", "KILL", "TYPE", "normal",
                                  "SKIPME", "yes" };
    const azr_command killc = { .argc = 6, .argv = kill };
    ck_assert_int_eq(azr_conn_command(b, &killc, &r, err), AZR_OK);
    ck_assert_int_eq(r->type, AZR_REPLY_INTEGER);
    ck_assert_int_ge(r->integer, 1);
    azr_reply_free(r);
    usleep(50000); /* let the FIN arrive */

    /* take the stale one out of the pool while b is still busy */
    ck_assert_int_eq(azr_connect(ctx, AZR_INTENT_READ, &a, err), AZR_OK);
    static const char *ping[] = { "PING" };
    const azr_command pingc = { .argc = 1, .argv = ping };
    ck_assert_msg(azr_conn_command(a, &pingc, &r, err) == AZR_OK, "%s", err);
    assert_status(r, "PONG");
    azr_reply_free(r);
    ck_assert_uint_eq(stats_of(ctx, 0).errors, 0);
    azr_conn_close(a);
    azr_conn_close(b);
    azr_close(ctx);
}
END_TEST

#define THREADS 8
#define PER_THREAD 100

static void *incr_worker(void *arg)
{
    azr_ctx *ctx = arg;
    static const char *incr[] = { "INCR", "threads:cnt" };
    const azr_command cmd = { .argc = 2, .argv = incr };
    intptr_t failures = 0;
    for (int i = 0; i < PER_THREAD; i++) {
        azr_reply *r = NULL;
        char err[AZR_ERRBUF_SIZE];
        if (azr_exec(ctx, AZR_INTENT_WRITE, &cmd, &r, NULL, err) != AZR_OK ||
            r->type != AZR_REPLY_INTEGER)
            failures++;
        azr_reply_free(r);
    }
    return (void *)failures;
}

START_TEST(concurrent_exec)
{
    azr_ctx *ctx = one_node("localhost", port_tls, tls_opts(""));
    azr_reply *r = NULL;
    char err[AZR_ERRBUF_SIZE];
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_WRITE, &r, NULL, err, "DEL",
                          "threads:cnt"), AZR_OK);
    azr_reply_free(r);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, incr_worker, ctx), 0);
    for (int i = 0; i < THREADS; i++) {
        void *failures;
        pthread_join(t[i], &failures);
        ck_assert_int_eq((intptr_t)failures, 0);
    }
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_READ, &r, NULL, err, "GET",
                          "threads:cnt"), AZR_OK);
    ck_assert_str_eq(r->str, "800");
    azr_reply_free(r);
    azr_close(ctx);
}
END_TEST

/* ---- configuration and misuse ---- */

START_TEST(option_errors)
{
    static const struct {
        const char *opts;
        const char *expect;
    } cases[] = {
        { "tls = maybe\n", "tls: expected yes or no" },
        { "bogus = 1\n", "unknown key 'bogus'" },
        { "username = alice\n", "username needs password_env" },
        { "password_env = AZR_T_SURELY_UNSET\n",
          "AZR_T_SURELY_UNSET is not set" },
        { "min_tls = 1.1\n", "min_tls: expected 1.2 or 1.3" },
        { "protocol = 4\n", "protocol: expected 2 or 3" },
        { "connect_timeout_ms = 0\n", "connect_timeout_ms: expected" },
        { "command_timeout_ms = 5s\n", "command_timeout_ms: expected" },
        { "ca_file = /nonexistent/ca.pem\n",
          "ca_file '/nonexistent/ca.pem': No such file or directory" },
        { "key_file = /nonexistent/k.pem\n", "key_file needs cert_file" },
    };
    unsetenv("AZR_T_SURELY_UNSET");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char sec[256], err[AZR_ERRBUF_SIZE];
        node_sec(sec, sizeof sec, "n1", "localhost", port_tls, "tst1-az1",
                 "primary");
        azr_ctx *ctx = NULL;
        azr_code rc = open_ctx(&ctx, write_ini(sec, cases[i].opts), err);
        ck_assert_msg(rc == AZR_E_CONFIG, "%s: rc %d", cases[i].opts, rc);
        ck_assert_msg(strstr(err, cases[i].expect) != NULL,
                      "%s: '%s' lacks '%s'", cases[i].opts, err,
                      cases[i].expect);
        ck_assert_msg(strstr(err, ".ini:") != NULL, "no file:line: %s", err);
        ck_assert_ptr_null(ctx);
    }
}
END_TEST

/* A certificate file or directory that cannot be opened: what the system
 * said, naming the option, its value and its FILE:LINE (not OpenSSL's
 * "system lib"). The option lines of write_ini start at line 16. */
START_TEST(tls_file_errors)
{
    char crt[512], sec[256], err[AZR_ERRBUF_SIZE], want[AZR_ERRBUF_SIZE];
    snprintf(crt, sizeof crt, "%s/client.crt", dir);
    struct {
        char opts[1200];
        unsigned line;
        char expect[1200]; /* after "FILE:LINE: " */
    } cases[7];
    size_t n = 0;
#define CASE(line_, ...) \
    (cases[n].line = (line_), \
     snprintf(cases[n].opts, sizeof cases[n].opts, __VA_ARGS__))
#define EXPECT(...) \
    snprintf(cases[n++].expect, sizeof cases[0].expect, __VA_ARGS__)
    CASE(16, "ca_file = /nonexistent/ca.pem\n");
    EXPECT("ca_file '/nonexistent/ca.pem': No such file or directory");
    CASE(16, "ca_file = %s\n", dir);
    EXPECT("ca_file '%s': Is a directory", dir);
    CASE(16, "ca_path = /nonexistent/certs\n");
    EXPECT("ca_path '/nonexistent/certs': No such file or directory");
    CASE(16, "ca_path = %s\n", crt);
    EXPECT("ca_path '%s': Not a directory", crt);
    CASE(16, "cert_file = /nonexistent/c.pem\n");
    EXPECT("cert_file '/nonexistent/c.pem': No such file or directory");
    CASE(17, "cert_file = %s\nkey_file = /nonexistent/k.pem\n", crt);
    EXPECT("key_file '/nonexistent/k.pem': No such file or directory");
    CASE(16, "ca_file = %s/x.pem\n", crt);
    EXPECT("ca_file '%s/x.pem': Not a directory", crt);
#undef CASE
#undef EXPECT
    ck_assert_uint_eq(n, sizeof cases / sizeof cases[0]);

    node_sec(sec, sizeof sec, "n1", "localhost", port_tls, "tst1-az1",
             "primary");
    for (size_t i = 0; i < n; i++) {
        const char *path = write_ini(sec, cases[i].opts);
        azr_ctx *ctx = NULL;
        azr_code rc = open_ctx(&ctx, path, err);
        ck_assert_msg(rc == AZR_E_CONFIG, "%s: rc %d (%s)", cases[i].opts,
                      rc, err);
        ck_assert_ptr_null(ctx);
        snprintf(want, sizeof want, "%s:%u: %s", path, cases[i].line,
                 cases[i].expect);
        ck_assert_str_eq(err, want);
    }
    /* verify = no loads no trust anchors: a missing ca_file is not used. */
    azr_ctx *ctx = one_node("localhost", port_tls, "ca_file = /nonexistent/x\n"
                            "verify = no\ninsecure = yes\n");
    azr_close(ctx);
}
END_TEST

START_TEST(no_transport)
{
    char path[512], err[AZR_ERRBUF_SIZE];
    snprintf(path, sizeof path, "%s/notransport-%d.ini", dir, (int)getpid());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "[azroute]\npolicy = same_az\n[metadata]\nsource = none\n"
               "[node n1]\nhost = localhost\nport = %d\naz = tst1-az1\n"
               "role = primary\n", port_tls);
    fclose(f);
    azr_ctx *ctx = NULL;
    ck_assert_int_eq(open_ctx(&ctx, path, err), AZR_OK);
    azr_conn *conn = NULL;
    ck_assert_int_eq(azr_connect(ctx, AZR_INTENT_READ, &conn, err),
                     AZR_E_NO_TRANSPORT);
    ck_assert_ptr_nonnull(strstr(err, "transport"));
    azr_reply *r = NULL;
    ck_assert_int_eq(EXEC(ctx, AZR_INTENT_READ, &r, NULL, err, "PING"),
                     AZR_E_NO_TRANSPORT);
    ck_assert_int_eq(azr_connect_node(ctx, 0, &conn, err),
                     AZR_E_NO_TRANSPORT);
    azr_close(ctx);
}
END_TEST

START_TEST(misuse)
{
    azr_ctx *ctx = one_node("localhost", port_tls, tls_opts(""));
    char err[AZR_ERRBUF_SIZE];
    azr_reply *r = NULL;
    const azr_command empty = { .argc = 0, .argv = NULL };
    ck_assert_int_eq(azr_exec(ctx, AZR_INTENT_READ, &empty, &r, NULL, err),
                     AZR_E_INVALID_ARGUMENT);
    ck_assert_int_eq(azr_exec(ctx, (azr_intent)7, &empty, &r, NULL, err),
                     AZR_E_INVALID_ARGUMENT);
    ck_assert_int_eq(azr_connect(NULL, AZR_INTENT_READ, NULL, err),
                     AZR_E_INVALID_ARGUMENT);
    azr_conn *conn = NULL;
    ck_assert_int_eq(azr_connect(ctx, AZR_INTENT_READ, &conn, err), AZR_OK);
    ck_assert_int_eq(azr_conn_command(conn, &empty, &r, err),
                     AZR_E_INVALID_ARGUMENT);
    ck_assert_int_eq(azr_conn_pipeline(conn, 0, NULL, NULL, err), AZR_OK);
    ck_assert_uint_eq(azr_conn_node(NULL), (size_t)-1);
    azr_conn_close(conn);
    azr_conn_close(NULL);
    ck_assert_uint_eq(stats_of(ctx, 0).requests, 0);
    azr_close(ctx);
}
END_TEST

/* ---- JSON shape checks for the CLI tests ---- */

static int fail_json(const char *what)
{
    fprintf(stderr, "check_transport: JSON: %s\n", what);
    return 1;
}

static int is_num_or_null(json_object *o)
{
    return o == NULL || json_object_is_type(o, json_type_double) ||
           json_object_is_type(o, json_type_int);
}

/* Gets key `k` of object `o` (present, possibly null) into *v. */
static int field(json_object *o, const char *k, json_object **v)
{
    return json_object_object_get_ex(o, k, v);
}

static int check_json(const char *kind, const char *file, long requests,
                      long nodes)
{
    json_object *root = json_object_from_file(file);
    if (root == NULL || !json_object_is_type(root, json_type_object))
        return fail_json("not a JSON object");
    json_object *v, *arr;
    if (!field(root, "az_id", &v) ||
        !(v == NULL || json_object_is_type(v, json_type_string)))
        return fail_json("az_id");
    if (!field(root, "nodes", &arr) ||
        !json_object_is_type(arr, json_type_array) ||
        (long)json_object_array_length(arr) != nodes)
        return fail_json("nodes: not an array of the node count");
    int probe = strcmp(kind, "probe") == 0;
    static const char *const probe_nums[] = { "avg_ms", "p50_ms", "min_ms",
                                              "max_ms", NULL };
    static const char *const bench_nums[] = { "avg_ms", NULL };
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *n = json_object_array_get_idx(arr, i);
        if (!field(n, "id", &v) || !json_object_is_type(v, json_type_string))
            return fail_json("node id");
        for (const char *const *k = probe ? probe_nums : bench_nums; *k;
             k++)
            if (!field(n, *k, &v) || !is_num_or_null(v))
                return fail_json(*k);
        if (!field(n, "errors", &v) || !json_object_is_type(v, json_type_int))
            return fail_json("node errors");
        if (probe) {
            if (!field(n, "az_id", &v) ||
                !json_object_is_type(v, json_type_string))
                return fail_json("node az_id");
            if (!field(n, "role", &v) || v == NULL ||
                (strcmp(json_object_get_string(v), "primary") != 0 &&
                 strcmp(json_object_get_string(v), "replica") != 0))
                return fail_json("node role");
            if (!field(n, "same_az", &v) ||
                !json_object_is_type(v, json_type_boolean))
                return fail_json("node same_az");
        } else if (!field(n, "requests", &v) ||
                   !json_object_is_type(v, json_type_int)) {
            return fail_json("node requests");
        }
    }
    if (probe) {
        if (!field(root, "same_az_avg_ms", &v) || !is_num_or_null(v) ||
            !field(root, "cross_az_avg_ms", &v) || !is_num_or_null(v))
            return fail_json("same_az_avg_ms / cross_az_avg_ms");
    } else {
        if (!field(root, "requests", &v) ||
            json_object_get_int64(v) != requests)
            return fail_json("requests");
        if (!field(root, "errors", &v) ||
            !json_object_is_type(v, json_type_int))
            return fail_json("errors");
        for (const char *const *k = (const char *const[]){
                 "avg_ms", "p50_ms", "p99_ms", NULL }; *k; k++)
            if (!field(root, *k, &v) || !is_num_or_null(v))
                return fail_json(*k);
    }
    json_object_put(root);
    return 0;
}

static Suite *transport_suite(void)
{
    Suite *s = suite_create("transport");
    TCase *t = tcase_create("resp_tls");
    tcase_set_timeout(t, 20);
    tcase_add_test(t, tls_ping_set_get);
    tcase_add_test(t, tls_by_ip_address);
    tcase_add_test(t, plain_ping);
    tcase_add_test(t, error_reply_is_answered);
    tcase_add_test(t, pipeline_1000);
    tcase_add_test(t, acl_auth);
    tcase_add_test(t, acl_wrong_password);
    tcase_add_test(t, resp3_hello);
    tcase_add_test(t, resp3_fallback_to_resp2);
    tcase_add_test(t, wrong_ca);
    tcase_add_test(t, hostname_mismatch);
    tcase_add_test(t, expired_certificate);
    tcase_add_test(t, verify_off_needs_insecure);
    tcase_add_test(t, plaintext_server_on_tls_port);
    tcase_add_test(t, tls_server_plain_client);
    tcase_add_test(t, silent_server_tls);
    tcase_add_test(t, silent_server_plain);
    tcase_add_test(t, mutual_tls);
    tcase_add_test(t, exec_fails_over);
    tcase_add_test(t, all_nodes_down);
    tcase_add_test(t, stale_pooled_connection);
    tcase_add_test(t, concurrent_exec);
    tcase_add_test(t, option_errors);
    tcase_add_test(t, tls_file_errors);
    tcase_add_test(t, no_transport);
    tcase_add_test(t, misuse);
    suite_add_tcase(s, t);
    return s;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--json-probe") == 0)
        return check_json("probe", argv[2], 0, atol(argv[3]));
    if (argc == 5 && strcmp(argv[1], "--json-bench") == 0)
        return check_json("bench", argv[2], atol(argv[3]), atol(argv[4]));

    dir = getenv("AZR_T_DIR");
    port_tls = env_port("AZR_T_TLS");
    port_plain = env_port("AZR_T_PLAIN");
    port_expired = env_port("AZR_T_EXPIRED");
    port_otherhost = env_port("AZR_T_OTHERHOST");
    port_mtls = env_port("AZR_T_MTLS");
    if (dir == NULL || port_tls == 0 || port_plain == 0 ||
        port_expired == 0 || port_otherhost == 0 || port_mtls == 0 ||
        getenv("AZR_T_PASSWORD") == NULL) {
        fprintf(stderr, "check_transport: run me through "
                        "tests/transport_api.sh (it starts the servers)\n");
        return 77;
    }
    SRunner *sr = srunner_create(transport_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
