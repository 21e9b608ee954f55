/*
 * plain_resp.c - an example azroute transport: RESP2 over plain TCP.
 *
 * A transport carries commands to the node the policies picked. This one
 * is the smallest that keeps the whole contract of azroute-plugin(7)
 * (section TRANSPORT): no TLS, no AUTH, no HELLO (RESP2 only), one TCP
 * connection per azr_conn. For TLS, AUTH and RESP3 use the built-in
 * resp_tls transport.
 *
 *     [azroute]
 *     transport = /usr/local/lib/azroute/plain_resp.so
 *
 *     [transport plain_resp]
 *     connect_timeout_ms = 1000     ; default 1000
 *     command_timeout_ms = 1000     ; default 1000
 *
 * Every call blocks its caller until it is done or its deadline passes:
 * each wait is a poll() bounded by the time left, and the socket itself is
 * non-blocking, so that no single send() or recv() can outlast it.
 * Plain POSIX (sockets, poll, fcntl), nothing Linux-specific.
 *
 * It parses replies and encodes commands with the host's RESP services
 * (host->resp, plugin ABI 1.1), so it links nothing but the C library:
 * the replies it returns are the host's own trees, which the host frees.
 * It includes only <azroute/plugin.h>, and exports only the descriptor
 * (build with -fvisibility=hidden; see the Makefile next to it).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <azroute/plugin.h>

/* The instance: one per context, read-only after create, shared by every
 * connection (so any thread may use it without a lock). */
typedef struct plain_state {
    azr_plugin_env *env;
    const azr_host_services *host;
    const azr_resp_services *resp;
    unsigned connect_timeout_ms;
    unsigned command_timeout_ms;
} plain_state;

/* One connection. The host uses it from one thread at a time. */
typedef struct plain_conn {
    plain_state *st;
    const azr_node_view *node; /* valid until the instance is destroyed */
    int fd;                    /* -1 when closed */
    azr_reader *reader;
    uint64_t sent, received;   /* RESP bytes moved during the current call */
} plain_conn;

/* CLOCK_MONOTONIC in ms. Network deadlines follow real time (poll()
 * waits in real time), so a transport does not use host->now_ns, which a
 * test may replace with a virtual clock. */
static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits until fd is ready for `events` or `deadline` passes: 1 ready (or
 * an error the next I/O call will see), 0 timed out, -1 poll() failed. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline)
            return 0;
        struct pollfd p = { .fd = fd, .events = events };
        int n = poll(&p, 1, (int)(deadline - now));
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/* Records the failure of the current call (host->error), sets its status
 * for the policies, closes the connection (a failed connection is never
 * used again) and returns `code`. */
static int conn_fail(plain_conn *c, azr_transport_result *res,
                     azr_status status, int code, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    res->status = status;
    return c->st->host->error(c->st->env, code, NULL, "%s:%u: %s",
                              c->node->host, (unsigned)c->node->port, msg);
}

/* Tries one address until `deadline`; returns the socket or -1 (errno). */
static int dial_one(const struct addrinfo *ai, uint64_t deadline)
{
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0)
        return -1;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        close(fd);
        return -1;
    }
    int one = 1; /* small latency-bound requests: never wait for Nagle */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        int err = errno, soerr = 0;
        socklen_t len = sizeof soerr;
        if (err != EINPROGRESS)
            soerr = err;
        else if (wait_fd(fd, POLLOUT, deadline) <= 0)
            soerr = ETIMEDOUT;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
            soerr = errno;
        if (soerr != 0) {
            close(fd);
            errno = soerr;
            return -1;
        }
    }
    return fd;
}

/* Opens c->fd within connect_timeout_ms, trying every address of the
 * node's host (getaddrinfo() itself has no timeout). */
static int conn_open(plain_conn *c, azr_transport_result *res)
{
    uint64_t deadline = now_ms() + c->st->connect_timeout_ms;
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)c->node->port);
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
    struct addrinfo *list = NULL;
    int gai = getaddrinfo(c->node->host, port, &hints, &list);
    if (gai != 0)
        return conn_fail(c, res, AZR_STATUS_REFUSED, AZR_E_CONNECT,
                         "cannot resolve: %s", gai_strerror(gai));
    int err = 0;
    for (const struct addrinfo *ai = list; ai != NULL && c->fd < 0;
         ai = ai->ai_next) {
        c->fd = dial_one(ai, deadline);
        err = errno;
    }
    freeaddrinfo(list);
    if (c->fd < 0 && err == ETIMEDOUT)
        return conn_fail(c, res, AZR_STATUS_TIMEOUT, AZR_E_TIMEOUT,
                         "connect timed out after %u ms",
                         c->st->connect_timeout_ms);
    if (c->fd < 0)
        return conn_fail(c, res, AZR_STATUS_REFUSED, AZR_E_CONNECT,
                         "connect: %s", strerror(err));
    return 0;
}

/* Takes the next reply that is not a push frame out of the reader (push
 * frames go to host->push, which takes them over). *r is NULL when more
 * bytes are needed. Returns 0 or an azr_code. */
static int next_reply(plain_conn *c, azr_reply **r, azr_transport_result *res)
{
    const azr_resp_services *resp = c->st->resp;
    for (;;) {
        *r = NULL;
        azr_code rc = resp->reader_get_reply(c->reader, r);
        if (rc == AZR_E_NOMEM)
            return conn_fail(c, res, AZR_STATUS_IO_ERROR, AZR_E_NOMEM,
                             "out of memory");
        if (rc != AZR_OK)
            return conn_fail(c, res, AZR_STATUS_IO_ERROR, AZR_E_PROTOCOL,
                             "protocol error: %s",
                             resp->reader_error(c->reader));
        if (*r == NULL || (*r)->type != AZR_REPLY_PUSH)
            return 0;
        /* host->push exists: it precedes resp, which create checked. */
        c->st->host->push(c->st->env, c->node, *r);
    }
}

/* One step of I/O on a ready socket: sends what it can of out[*sent..len),
 * and feeds what arrived to the reader. Returns 0 or an azr_code. */
static int exchange_step(plain_conn *c, short revents, const char *out,
                         size_t len, size_t *sent, azr_transport_result *res)
{
    if ((revents & POLLOUT) && *sent < len) {
        ssize_t k = send(c->fd, out + *sent, len - *sent, MSG_NOSIGNAL);
        if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
            errno != EINTR)
            return conn_fail(c, res, AZR_STATUS_IO_ERROR, AZR_E_IO,
                             "send: %s", strerror(errno));
        if (k > 0) {
            *sent += (size_t)k;
            c->sent += (uint64_t)k;
        }
    }
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[16384];
        ssize_t k = recv(c->fd, buf, sizeof buf, 0);
        if (k == 0)
            return conn_fail(c, res, AZR_STATUS_IO_ERROR, AZR_E_IO,
                             "connection closed by the server");
        if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
            errno != EINTR)
            return conn_fail(c, res, AZR_STATUS_IO_ERROR, AZR_E_IO,
                             "recv: %s", strerror(errno));
        if (k > 0) {
            c->received += (uint64_t)k;
            if (c->st->resp->reader_feed(c->reader, buf, (size_t)k) !=
                AZR_OK)
                return conn_fail(c, res, AZR_STATUS_IO_ERROR, AZR_E_NOMEM,
                                 "out of memory");
        }
    }
    return 0;
}

/* Sends out[0..len) and reads n replies, all within `timeout_ms` of the
 * call. Sending and receiving interleave, so a long pipeline cannot
 * deadlock on full socket buffers. On failure the replies read so far
 * are freed. */
static int exchange(plain_conn *c, const char *out, size_t len, size_t n,
                    azr_reply **replies, unsigned timeout_ms,
                    azr_transport_result *res)
{
    uint64_t deadline = now_ms() + timeout_ms;
    size_t sent = 0, got = 0;
    int rc = 0;
    while (rc == 0 && got < n) {
        azr_reply *r;
        if ((rc = next_reply(c, &r, res)) != 0)
            break;
        if (r != NULL) {
            replies[got++] = r;
            continue;
        }
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        if (sent < len)
            p.events |= POLLOUT;
        uint64_t now = now_ms();
        int ready = now < deadline ? poll(&p, 1, (int)(deadline - now)) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready == 0)
            rc = conn_fail(c, res, AZR_STATUS_TIMEOUT, AZR_E_TIMEOUT,
                           "no reply within %u ms", timeout_ms);
        else if (ready < 0)
            rc = conn_fail(c, res, AZR_STATUS_IO_ERROR, AZR_E_IO,
                           "poll: %s", strerror(errno));
        else
            rc = exchange_step(c, p.revents, out, len, &sent, res);
    }
    if (rc != 0)
        for (size_t i = 0; i < got; i++) {
            c->st->resp->reply_free(replies[i]);
            replies[i] = NULL;
        }
    return rc;
}

/* Fills the ABI 1.1 byte counts, when the host's result has them. */
static void report_bytes(const plain_conn *c, azr_transport_result *res)
{
    if (res->struct_size >= offsetof(azr_transport_result, bytes_received) +
                                sizeof res->bytes_received) {
        res->bytes_sent = c->sent;
        res->bytes_received = c->received;
    }
}

/* Encodes cmds[0..n) back to back into one new buffer. */
static int encode(plain_state *st, size_t n, const azr_command *cmds,
                  char **out, size_t *len)
{
    char *buf = NULL;
    *len = 0;
    for (size_t i = 0; i < n; i++) {
        char *one;
        size_t one_len;
        azr_code rc = st->resp->format_command(&one, &one_len, cmds[i].argc,
                                               cmds[i].argv,
                                               cmds[i].argvlen);
        char *grown = rc == AZR_OK ? realloc(buf, *len + one_len) : NULL;
        if (grown == NULL) {
            if (rc == AZR_OK)
                free(one);
            free(buf);
            return st->host->error(st->env, rc == AZR_OK ? AZR_E_NOMEM : rc,
                                   NULL, "cannot encode command %zu", i + 1);
        }
        memcpy(grown + *len, one, one_len);
        *len += one_len;
        buf = grown;
        free(one);
    }
    *out = buf;
    return 0;
}

/*
 * Before a call sends anything: whatever the connection received while it
 * waited idle in the pool was asked for by nobody. Readable means the
 * server closed it (restart, idle timeout) or it is out of step; either
 * way it cannot carry the next command, so it is closed and opened again
 * to the same node, as is one the previous call closed (fd -1). That is
 * safe because nothing of this call has been sent yet; it is the only
 * retry a transport makes. Returns 0 or the reopening's azr_code.
 */
static int ensure_clean(plain_conn *c, azr_transport_result *res)
{
    struct pollfd p = { .fd = c->fd, .events = POLLIN };
    if (c->fd >= 0 && poll(&p, 1, 0) == 0 &&
        c->st->resp->reader_pending(c->reader) == 0)
        return 0;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->st->resp->reader_free(c->reader);
    c->reader = c->st->resp->reader_new(0, 0);
    if (c->reader == NULL)
        return conn_fail(c, res, AZR_STATUS_IO_ERROR, AZR_E_NOMEM,
                         "out of memory");
    return conn_open(c, res);
}

static int plain_pipeline(void *conn, size_t n, const azr_command *cmds,
                          azr_reply **replies, azr_transport_result *res)
{
    plain_conn *c = conn;
    char *out = NULL;
    size_t len = 0;
    c->sent = c->received = 0;
    for (size_t i = 0; i < n; i++)
        replies[i] = NULL;
    int rc = encode(c->st, n, cmds, &out, &len);
    if (rc != 0) {
        res->status = AZR_STATUS_IO_ERROR;
        return rc;
    }
    rc = ensure_clean(c, res);
    if (rc == 0)
        rc = exchange(c, out, len, n, replies, c->st->command_timeout_ms,
                      res);
    free(out);
    /* Bytes after the last reply answer nothing: the replies read are the
     * right ones (they came first), but the connection is out of step,
     * so it is closed; the next call opens it again. */
    if (rc == 0 && c->st->resp->reader_pending(c->reader) > 0) {
        close(c->fd);
        c->fd = -1;
    }
    report_bytes(c, res);
    if (rc == 0)
        res->status = AZR_STATUS_OK;
    return rc;
}

static int plain_command(void *conn, const azr_command *cmd,
                         azr_reply **reply, azr_transport_result *res)
{
    return plain_pipeline(conn, 1, cmd, reply, res);
}

static void plain_close(void *conn)
{
    plain_conn *c = conn;
    if (c == NULL)
        return;
    if (c->fd >= 0)
        close(c->fd);
    c->st->resp->reader_free(c->reader);
    free(c);
}

static int plain_connect(void *state, const azr_node_view *node, void **conn,
                         azr_transport_result *res)
{
    plain_state *st = state;
    plain_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        res->status = AZR_STATUS_IO_ERROR;
        return st->host->error(st->env, AZR_E_NOMEM, NULL, "out of memory");
    }
    c->st = st;
    c->node = node;
    c->fd = -1;
    c->reader = st->resp->reader_new(0, 0);
    int rc = c->reader != NULL
                 ? conn_open(c, res)
                 : conn_fail(c, res, AZR_STATUS_IO_ERROR, AZR_E_NOMEM,
                             "out of memory");
    report_bytes(c, res);
    if (rc != 0) {
        plain_close(c);
        return rc;
    }
    res->status = AZR_STATUS_OK;
    *conn = c;
    return 0;
}

/* Reads option `key` (milliseconds, 1..600000) into *out; absent keeps the
 * default. A bad value is an error naming the option's FILE:LINE. */
static int option_ms(plain_state *st, const char *key, unsigned *out)
{
    const char *v = st->host->option(st->env, key);
    if (v == NULL)
        return 0;
    char *end;
    errno = 0;
    unsigned long ms = strtoul(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || ms < 1 ||
        ms > 600000)
        return st->host->error(st->env, AZR_E_CONFIG, key, "invalid %s '%s':"
                               " expected 1..600000 ms", key, v);
    *out = (unsigned)ms;
    return 0;
}

static void plain_destroy(void *state)
{
    free(state);
}

/* create: requires the host's RESP services (ABI 1.1: check that the
 * host's table is large enough before reading the field) and reads every
 * option of [transport plain_resp]. */
static int plain_create(azr_plugin_env *env, const azr_host_services *host,
                        void **state)
{
    if (!AZR_HOST_HAS(host, resp) || host->resp == NULL)
        return host->error(env, AZR_E_PLUGIN, NULL, "this host offers no "
                           "RESP services (plugin ABI 1.1 needed)");
    plain_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return host->error(env, AZR_E_NOMEM, NULL, "out of memory");
    st->env = env;
    st->host = host;
    st->resp = host->resp;
    st->connect_timeout_ms = 1000;
    st->command_timeout_ms = 1000;
    int rc = option_ms(st, "connect_timeout_ms", &st->connect_timeout_ms);
    if (rc == 0)
        rc = option_ms(st, "command_timeout_ms", &st->command_timeout_ms);
    if (rc != 0) {
        free(st);
        return rc;
    }
    *state = st;
    return 0;
}

static const azr_transport_ops plain_ops = {
    .struct_size = sizeof(azr_transport_ops),
    .create = plain_create,
    .destroy = plain_destroy,
    .connect = plain_connect,
    .command = plain_command,
    .pipeline = plain_pipeline,
    .close = plain_close,
    /* .pipeline_timed left NULL: the host then refuses per-call timeouts
     * (azr_exec_ex with timeout_ms) with AZR_E_UNSUPPORTED. */
};

AZR_PLUGIN_DECLARE = {
    .struct_size = sizeof(azr_plugin),
    .abi_major = AZR_PLUGIN_ABI_MAJOR,
    .abi_minor = AZR_PLUGIN_ABI_MINOR,
    .kind = AZR_PLUGIN_TRANSPORT,
    .name = "plain_resp",
    .version = "1.0",
    .description = "example: RESP2 over plain TCP",
    .transport = &plain_ops,
};
