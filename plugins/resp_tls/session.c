/*
 * session.c - one resp_tls connection: open (TCP, TLS handshake, HELLO /
 * AUTH), commands and pipelines, close.
 *
 * Contracts:
 *  - connect_timeout_ms bounds the whole opening: TCP connect, TLS
 *    handshake and the HELLO/AUTH exchange.
 *  - command_timeout_ms (or the call's own timeout) is a deadline: every
 *    reply of a command or pipeline must have arrived that long after the
 *    call started sending, however the bytes trickle in.
 *  - Sending and receiving are interleaved, so a pipeline of any size never
 *    deadlocks on full socket buffers.
 *  - A failure leaves the connection closed (fd -1); the host closes it.
 *  - Every reply is its own command's: RESP3 push frames, wherever they
 *    arrive, go to the host's push service. Bytes that are not a push and
 *    that nobody asked for are a protocol error: found after the last
 *    reply, they close the connection (the replies read are still the
 *    right ones: they came first); found before sending, on a connection
 *    that waited idle, they close it and it is reopened before anything
 *    is sent. Every command on a used connection starts with that check
 *    (one poll() call), which also catches a connection the server closed
 *    while idle (restart, idle timeout), reopened the same way.
 *  - One reply may take at most max_reply_bytes of memory (the reader's
 *    accounting); past it the reply is a protocol error and freed.
 *  - The password is never logged nor put in any message: server errors
 *    are masked before they are quoted, and command buffers that carried
 *    it are wiped.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "resp_tls.h"

struct rtls_conn {
    rtls_state *st;
    const azr_node_view *node; /* valid until the instance is destroyed */
    int fd;                    /* -1 when closed */
    SSL *ssl;                  /* NULL for tls = no */
    azr_reader *reader;
    int resp3;                 /* HELLO 3 accepted */
    int used;                  /* a command went out since the open */
    uint64_t bytes_in;         /* received since the open (TLS: decrypted) */
    uint64_t sent_total;       /* RESP bytes written, ever (all opens) */
    uint64_t received_total;   /* RESP bytes read, ever */
    char addr[RTLS_ADDR_MAX];  /* "host:port" for messages */
};

static void session_teardown(rtls_conn *c)
{
    if (c->ssl != NULL) {
        /* No close_notify: the peer may be gone, and a blocking shutdown
         * is exactly what a failing connection must not do. */
        SSL_set_quiet_shutdown(c->ssl, 1);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->st->resp->reader_free(c->reader);
    c->reader = NULL;
    c->resp3 = 0;
    c->used = 0;
    c->bytes_in = 0;
}

/* The "is it TLS?" hint fits only a plain connection that never received
 * a byte: a TLS server closes or sends a TLS alert on a plaintext hello. */
static const char *tls_hint(const rtls_conn *c)
{
    return !c->st->cfg.tls && c->bytes_in == 0
               ? " (does the server expect TLS? see tls)" : "";
}

/* TCP connect, then the TLS handshake (when tls = yes). */
static int open_transport(rtls_conn *c, uint64_t deadline,
                          azr_transport_result *res)
{
    rtls_state *st = c->st;
    int rc = rtls_tcp_connect(st, c->node->host, c->node->port, deadline,
                              &c->fd, res);
    if (rc != 0)
        return rc;
    if (!st->cfg.tls)
        return 0;

    c->ssl = rtls_tls_new(st, c->fd, c->node->host);
    if (c->ssl == NULL) {
        res->status = AZR_STATUS_TLS_FAILURE;
        return AZR_E_TLS;
    }
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_connect(c->ssl);
        if (r == 1)
            return 0;
        int saved = errno;
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            int w = rtls_wait(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN
                                                              : POLLOUT,
                              deadline);
            if (w > 0)
                continue;
            if (w == 0) {
                res->status = AZR_STATUS_TIMEOUT;
                return RTLS_ERROR(st, AZR_E_TIMEOUT, "TLS handshake with %s "
                                  "timed out after %u ms "
                                  "(connect_timeout_ms; is it a TLS port?)",
                                  c->addr, st->cfg.connect_timeout_ms);
            }
            saved = errno;
            e = SSL_ERROR_SYSCALL;
        }
        char why[200];
        rtls_tls_describe_failure(c->ssl, e, saved,
                                  st->cfg.server_name != NULL
                                      ? st->cfg.server_name
                                      : c->node->host,
                                  why, sizeof why);
        res->status = AZR_STATUS_TLS_FAILURE;
        return RTLS_ERROR(st, AZR_E_TLS, "TLS handshake with %s failed: %s",
                          c->addr, why);
    }
}

/* Describes a failed send/receive and returns its azr_code. */
static int io_failure(rtls_conn *c, rtls_io io, int err_errno, int err_ssl,
                      azr_transport_result *res)
{
    rtls_state *st = c->st;
    const char *hint = tls_hint(c);
    if (io == RTLS_IO_EOF) {
        res->status = AZR_STATUS_IO_ERROR;
        return RTLS_ERROR(st, AZR_E_IO, "connection closed by %s%s",
                          c->addr, hint);
    }
    if (err_ssl == SSL_ERROR_SSL) {
        char why[200];
        rtls_tls_describe_failure(c->ssl, err_ssl, err_errno,
                                  c->node->host, why, sizeof why);
        res->status = AZR_STATUS_TLS_FAILURE;
        return RTLS_ERROR(st, AZR_E_TLS, "TLS error on %s: %s", c->addr,
                          why);
    }
    /* A peer that died surfaces as a reset or, when we were sending, as
     * EPIPE: the same event, reported the same way. */
    if (err_errno == ECONNRESET || err_errno == EPIPE) {
        res->status = AZR_STATUS_REFUSED;
        return RTLS_ERROR(st, AZR_E_CONNECT, "connection reset by %s%s",
                          c->addr, hint);
    }
    res->status = AZR_STATUS_IO_ERROR;
    return RTLS_ERROR(st, AZR_E_IO, "I/O error on %s: %s", c->addr,
                      err_errno != 0 ? strerror(err_errno)
                                     : "unknown error");
}

/* What bounds one exchange, for its deadline and its timeout message. */
typedef struct exchange_limit {
    uint64_t deadline;        /* rtls_now_ms() value */
    unsigned ms;              /* the timeout it came from */
    const char *key;          /* "command_timeout_ms", ... */
} exchange_limit;

/* Describes a timeout: still sending, or waiting for a reply. */
static int timeout_failure(rtls_conn *c, int sending,
                           const exchange_limit *lim,
                           azr_transport_result *res)
{
    rtls_state *st = c->st;
    unsigned ms = lim->ms;
    const char *timeout_key = lim->key;
    res->status = AZR_STATUS_TIMEOUT;
    if (sending)
        return RTLS_ERROR(st, AZR_E_TIMEOUT, "%s does not accept data "
                          "(timed out after %u ms, %s)", c->addr, ms,
                          timeout_key);
    return RTLS_ERROR(st, AZR_E_TIMEOUT, "no reply from %s within %u ms "
                      "(%s)", c->addr, ms, timeout_key);
}

/* For a send or receive that did not complete: adds the poll event it
 * waits for to *events and returns 0, or describes its failure and returns
 * the azr_code. */
static int await_io(rtls_conn *c, rtls_io io, int err_errno, int err_ssl,
                    short *events, azr_transport_result *res)
{
    if (io == RTLS_IO_WANT_READ)
        *events |= POLLIN;
    else if (io == RTLS_IO_WANT_WRITE)
        *events |= POLLOUT;
    else
        return io_failure(c, io, err_errno, err_ssl, res);
    return 0;
}

/* Waits until the connection is ready for `events`. Returns 0, or
 * describes the timeout (see timeout_failure) or poll() error and returns
 * the azr_code. */
static int wait_ready(rtls_conn *c, short events, int sending,
                      const exchange_limit *lim, azr_transport_result *res)
{
    int w = rtls_wait(c->fd, events, lim->deadline);
    if (w == 0)
        return timeout_failure(c, sending, lim, res);
    if (w < 0)
        return io_failure(c, RTLS_IO_ERROR, errno, 0, res);
    return 0;
}

/* Hands a push frame to the host (which frees it). */
static void deliver_push(rtls_conn *c, azr_reply *push)
{
    const azr_host_services *h = c->st->host;
    if (h->struct_size >= offsetof(azr_host_services, push) + sizeof h->push &&
        h->push != NULL)
        h->push(c->st->env, c->node, push);
    else
        c->st->resp->reply_free(push);
}

/* Takes the next reply that is not a push frame out of the reader (push
 * frames go to the host on the way). *r is NULL when more bytes are
 * needed. Returns 0, or the protocol error's azr_code. */
static int next_reply(rtls_conn *c, azr_reply **r, azr_transport_result *res)
{
    for (;;) {
        *r = NULL;
        azr_code rc = c->st->resp->reader_get_reply(c->reader, r);
        if (rc == AZR_E_NOMEM) {
            res->status = AZR_STATUS_IO_ERROR;
            return RTLS_ERROR(c->st, AZR_E_NOMEM, "out of memory reading "
                              "from %s", c->addr);
        }
        if (rc != AZR_OK) {
            res->status = AZR_STATUS_IO_ERROR;
            return RTLS_ERROR(c->st, AZR_E_PROTOCOL, "protocol error from "
                              "%s: %s%s", c->addr,
                              c->st->resp->reader_error(c->reader),
                              tls_hint(c));
        }
        if (*r == NULL || (*r)->type != AZR_REPLY_PUSH)
            return 0;
        deliver_push(c, *r);
    }
}

/* Feeds received bytes to the reader. */
static int feed(rtls_conn *c, const char *buf, size_t len,
                azr_transport_result *res)
{
    c->bytes_in += len;
    c->received_total += len;
    if (c->st->resp->reader_feed(c->reader, buf, len) != AZR_OK) {
        res->status = AZR_STATUS_IO_ERROR;
        return RTLS_ERROR(c->st, AZR_E_NOMEM, "out of memory reading from "
                          "%s", c->addr);
    }
    return 0;
}

/*
 * Sends out[0..out_len) and reads n replies into replies[], all before
 * lim->deadline. On failure the replies read so far are freed.
 */
static int roundtrip(rtls_conn *c, const char *out, size_t out_len,
                     size_t n, azr_reply **replies,
                     const exchange_limit *lim, azr_transport_result *res)
{
    size_t sent = 0, got = 0;
    int just_sent = 0;
    char buf[16384];
    int rc = 0;

    for (;;) {
        while (got < n) {
            azr_reply *r;
            if ((rc = next_reply(c, &r, res)) != 0)
                goto fail;
            if (r == NULL)
                break;
            replies[got++] = r;
        }
        if (got == n)
            return 0;

        short events = 0;
        int progress = 0, err_errno = 0, err_ssl = 0;
        size_t done = 0;
        rtls_io io;
        if (sent < out_len) {
            io = rtls_io_send(c->fd, c->ssl, out + sent, out_len - sent,
                              &done, &err_errno, &err_ssl);
            if (io == RTLS_IO_DONE) {
                sent += done;
                c->sent_total += done;
                progress = 1;
                just_sent = 1;
            } else if ((rc = await_io(c, io, err_errno, err_ssl, &events,
                                      res)) != 0) {
                goto fail;
            }
        }
        /* Everything sent this round and nothing decrypted waiting: the
         * reply cannot be there yet without the socket turning readable,
         * so wait first instead of a recv() that would say EAGAIN. */
        if (sent == out_len && just_sent &&
            (c->ssl == NULL || !SSL_has_pending(c->ssl))) {
            just_sent = 0;
            if ((rc = wait_ready(c, POLLIN, 0, lim, res)) != 0)
                goto fail;
        }
        io = rtls_io_recv(c->fd, c->ssl, buf, sizeof buf, &done, &err_errno,
                          &err_ssl);
        if (io == RTLS_IO_DONE) {
            if ((rc = feed(c, buf, done, res)) != 0)
                goto fail;
            progress = 1;
        } else if ((rc = await_io(c, io, err_errno, err_ssl, &events,
                                  res)) != 0) {
            goto fail;
        }
        /* Progress or not, the deadline stands: a reply that trickles in
         * a byte at a time still fails when its time is up. */
        if (progress && rtls_remaining_ms(lim->deadline) > 0)
            continue;
        if ((rc = wait_ready(c, events != 0 ? events : POLLIN,
                             sent < out_len, lim, res)) != 0)
            goto fail;
    }

fail:
    for (size_t i = 0; i < got; i++) {
        c->st->resp->reply_free(replies[i]);
        replies[i] = NULL;
    }
    return rc;
}

/*
 * After the last reply of an exchange: push frames already buffered go to
 * the host; a complete reply nobody asked for means the connection is out
 * of step, so it is closed (the next call reopens it). A partial frame is
 * left for the check before the next command.
 */
static void settle_after_replies(rtls_conn *c, azr_transport_result *res)
{
    if (c->st->resp->reader_pending(c->reader) == 0 &&
        (c->ssl == NULL || !SSL_has_pending(c->ssl)))
        return;
    azr_reply *r = NULL;
    if (next_reply(c, &r, res) == 0 && r == NULL)
        return;
    c->st->resp->reply_free(r);
    c->st->host->log(c->st->env, AZR_LOG_WARNING, "%s sent a reply nobody "
                     "asked for; connection closed", c->addr);
    session_teardown(c);
}

/* Outcome of the check before a command is sent on a used connection. */
typedef enum idle_state {
    IDLE_CLEAN,     /* nothing pending: send */
    IDLE_REOPEN     /* closed by the peer or out of step: reopen first */
} idle_state;

/*
 * Reads whatever arrived while the connection waited (without blocking):
 * push frames go to the host; end of stream, an error, a reply nobody
 * asked for or a partial frame mean the connection cannot carry the next
 * command as it is.
 */
static idle_state check_idle(rtls_conn *c)
{
    rtls_state *st = c->st;
    char buf[4096];
    azr_transport_result scratch = { .struct_size = sizeof scratch };
    for (;;) {
        if (c->ssl == NULL || !SSL_has_pending(c->ssl)) {
            struct pollfd p = { .fd = c->fd, .events = POLLIN };
            int n = poll(&p, 1, 0);
            if (n == 0)
                break;
            if (n < 0)
                return errno == EINTR ? IDLE_CLEAN : IDLE_REOPEN;
        }
        size_t done = 0;
        int err_errno = 0, err_ssl = 0;
        rtls_io io = rtls_io_recv(c->fd, c->ssl, buf, sizeof buf, &done,
                                  &err_errno, &err_ssl);
        if (io == RTLS_IO_WANT_READ || io == RTLS_IO_WANT_WRITE)
            break; /* TLS record incomplete, or a session ticket */
        if (io != RTLS_IO_DONE) {
            st->host->log(st->env, AZR_LOG_DEBUG, "%s closed the idle "
                          "connection; reopening", c->addr);
            return IDLE_REOPEN;
        }
        if (feed(c, buf, done, &scratch) != 0)
            return IDLE_REOPEN;
    }
    azr_reply *r = NULL;
    if (next_reply(c, &r, &scratch) == 0 && r == NULL &&
        c->st->resp->reader_pending(c->reader) == 0)
        return IDLE_CLEAN;
    c->st->resp->reply_free(r);
    st->host->log(st->env, AZR_LOG_WARNING, "%s sent bytes nobody asked for "
                  "on an idle connection; reopening it", c->addr);
    return IDLE_REOPEN;
}

/* Sends one command during the opening (bounded by the opening's
 * deadline) and returns its reply. The encoded command is wiped: it may
 * carry the password. */
static int opening_command(rtls_conn *c, size_t argc, const char **argv,
                           uint64_t deadline, azr_reply **reply,
                           azr_transport_result *res)
{
    const exchange_limit lim = {
        .deadline = deadline,
        .ms = c->st->cfg.connect_timeout_ms,
        .key = "connect_timeout_ms",
    };
    char *buf;
    size_t len;
    if (c->st->resp->format_command(&buf, &len, argc, argv, NULL) !=
        AZR_OK) {
        res->status = AZR_STATUS_IO_ERROR;
        return RTLS_ERROR(c->st, AZR_E_NOMEM, "out of memory");
    }
    int rc = roundtrip(c, buf, len, 1, reply, &lim, res);
    OPENSSL_cleanse(buf, len);
    free(buf);
    return rc;
}

/* Copies a server error into out, with any occurrence of the password
 * masked: some servers quote the arguments of a refused command. */
static void masked_error(const rtls_config *cfg, const azr_reply *r,
                         char *out, size_t outlen)
{
    size_t n = 0;
    const char *s = r->str != NULL ? r->str : "";
    size_t slen = r->str != NULL ? r->len : 0;
    size_t plen = cfg->password != NULL ? strlen(cfg->password) : 0;
    for (size_t i = 0; i < slen && n + 1 < outlen;) {
        if (plen > 0 && slen - i >= plen &&
            memcmp(s + i, cfg->password, plen) == 0) {
            for (const char *m = "***"; *m != '\0' && n + 1 < outlen; m++)
                out[n++] = *m;
            i += plen;
            continue;
        }
        unsigned char ch = (unsigned char)s[i++];
        out[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    out[n] = '\0';
}

static int is_error_reply(const azr_reply *r)
{
    return r->type == AZR_REPLY_ERROR || r->type == AZR_REPLY_BLOB_ERROR;
}

static int starts_with(const azr_reply *r, const char *prefix)
{
    size_t n = strlen(prefix);
    return r->str != NULL && r->len >= n &&
           strncasecmp(r->str, prefix, n) == 0;
}

/* AUTH [username] password, for RESP2 (or after HELLO was refused). */
static int send_auth(rtls_conn *c, uint64_t deadline,
                     azr_transport_result *res)
{
    const rtls_config *cfg = &c->st->cfg;
    const char *argv[3] = { "AUTH" };
    size_t argc = 1;
    if (cfg->username != NULL)
        argv[argc++] = cfg->username;
    argv[argc++] = cfg->password;
    azr_reply *r = NULL;
    int rc = opening_command(c, argc, argv, deadline, &r, res);
    if (rc != 0)
        return rc;
    if (is_error_reply(r)) {
        char msg[160];
        masked_error(cfg, r, msg, sizeof msg);
        c->st->resp->reply_free(r);
        res->status = AZR_STATUS_ERROR_REPLY;
        return RTLS_ERROR(c->st, AZR_E_AUTH, "AUTH as '%s' refused by %s: "
                          "%s", cfg->username != NULL ? cfg->username
                                                      : "default",
                          c->addr, msg);
    }
    c->st->resp->reply_free(r);
    return 0;
}

/* HELLO 3 (with AUTH inline) when protocol = 3, else AUTH if a password is
 * configured. A server that does not know HELLO or RESP3 (NOPROTO, unknown
 * command) is used with RESP2. */
static int session_hello(rtls_conn *c, uint64_t deadline,
                         azr_transport_result *res)
{
    rtls_state *st = c->st;
    const rtls_config *cfg = &st->cfg;
    if (cfg->protocol == 3) {
        const char *argv[5] = { "HELLO", "3" };
        size_t argc = 2;
        if (cfg->password != NULL) {
            argv[argc++] = "AUTH";
            argv[argc++] = cfg->username != NULL ? cfg->username
                                                 : "default";
            argv[argc++] = cfg->password;
        }
        azr_reply *r = NULL;
        int rc = opening_command(c, argc, argv, deadline, &r, res);
        if (rc != 0)
            return rc;
        if (!is_error_reply(r)) {
            c->st->resp->reply_free(r);
            c->resp3 = 1;
            return 0;
        }
        char msg[160];
        masked_error(cfg, r, msg, sizeof msg);
        int fallback = starts_with(r, "NOPROTO") ||
                       strstr(msg, "unknown command") != NULL;
        int auth = starts_with(r, "WRONGPASS") || starts_with(r, "NOAUTH") ||
                   starts_with(r, "NOPERM");
        c->st->resp->reply_free(r);
        if (auth) {
            res->status = AZR_STATUS_ERROR_REPLY;
            return RTLS_ERROR(st, AZR_E_AUTH, "AUTH as '%s' refused by %s: "
                              "%s", argv[3], c->addr, msg);
        }
        if (!fallback) {
            res->status = AZR_STATUS_ERROR_REPLY;
            return RTLS_ERROR(st, AZR_E_SERVER_REPLY, "HELLO 3 refused by "
                              "%s: %s", c->addr, msg);
        }
        st->host->log(st->env, AZR_LOG_INFO, "%s does not support RESP3; "
                      "using RESP2", c->addr);
    }
    return cfg->password != NULL ? send_auth(c, deadline, res) : 0;
}

/* Opens (or reopens) the connection within connect_timeout_ms. */
static int session_open(rtls_conn *c, azr_transport_result *res)
{
    rtls_state *st = c->st;
    uint64_t deadline = rtls_now_ms() + st->cfg.connect_timeout_ms;
    int rc = open_transport(c, deadline, res);
    if (rc == 0) {
        c->reader = st->resp->reader_new(0, 0);
        if (c->reader != NULL)
            st->resp->reader_set_max_reply(c->reader,
                                           st->cfg.max_reply_bytes);
        if (c->reader == NULL) {
            res->status = AZR_STATUS_IO_ERROR;
            rc = RTLS_ERROR(st, AZR_E_NOMEM, "out of memory");
        }
    }
    if (rc == 0)
        rc = session_hello(c, deadline, res);
    if (rc != 0) {
        session_teardown(c);
        return rc;
    }
    if (c->ssl != NULL)
        st->host->log(st->env, AZR_LOG_DEBUG, "connected to %s (%s, %s, "
                      "RESP%d)", c->addr, SSL_get_version(c->ssl),
                      SSL_get_cipher_name(c->ssl), c->resp3 ? 3 : 2);
    else
        st->host->log(st->env, AZR_LOG_DEBUG, "connected to %s (plain TCP, "
                      "RESP%d)", c->addr, c->resp3 ? 3 : 2);
    return 0;
}

/* Reports the bytes moved since the call began (ABI 1.1 fields). */
static void report_bytes(const rtls_conn *c, uint64_t sent0, uint64_t recv0,
                         azr_transport_result *res)
{
    if (res->struct_size < offsetof(azr_transport_result, bytes_received) +
                               sizeof res->bytes_received)
        return;
    res->bytes_sent = c->sent_total - sent0;
    res->bytes_received = c->received_total - recv0;
}

int rtls_session_connect(rtls_state *st, const azr_node_view *node,
                         rtls_conn **connp, azr_transport_result *res)
{
    rtls_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        res->status = AZR_STATUS_IO_ERROR;
        return RTLS_ERROR(st, AZR_E_NOMEM, "out of memory");
    }
    c->st = st;
    c->node = node;
    c->fd = -1;
    rtls_addr_str(node->host, node->port, c->addr, sizeof c->addr);
    int rc = session_open(c, res);
    report_bytes(c, 0, 0, res);
    if (rc != 0) {
        free(c);
        return rc;
    }
    res->status = AZR_STATUS_OK;
    *connp = c;
    return 0;
}

/* Encodes n commands back to back into one buffer. */
static int encode_all(rtls_conn *c, size_t n, const azr_command *cmds,
                      char **out, size_t *out_len)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (size_t i = 0; i < n; i++) {
        char *one;
        size_t one_len;
        if (cmds[i].argc == 0 || cmds[i].argv == NULL) {
            free(buf);
            return RTLS_ERROR(c->st, AZR_E_INVALID_ARGUMENT,
                              "command %zu of %zu is empty", i + 1, n);
        }
        if (c->st->resp->format_command(&one, &one_len, cmds[i].argc,
                                        cmds[i].argv,
                                        cmds[i].argvlen) != AZR_OK) {
            free(buf);
            return RTLS_ERROR(c->st, AZR_E_NOMEM, "out of memory");
        }
        if (n == 1) {
            *out = one;
            *out_len = one_len;
            return 0;
        }
        if (len + one_len > cap) {
            size_t ncap = cap == 0 ? 4096 : cap;
            while (ncap < len + one_len)
                ncap *= 2;
            char *nb = realloc(buf, ncap);
            if (nb == NULL) {
                free(one);
                free(buf);
                return RTLS_ERROR(c->st, AZR_E_NOMEM, "out of memory");
            }
            buf = nb;
            cap = ncap;
        }
        memcpy(buf + len, one, one_len);
        len += one_len;
        free(one);
    }
    *out = buf;
    *out_len = len;
    return 0;
}

int rtls_session_pipeline(rtls_conn *c, size_t n, const azr_command *cmds,
                          azr_reply **replies, unsigned timeout_ms,
                          azr_transport_result *res)
{
    rtls_state *st = c->st;
    if (n == 0 || cmds == NULL || replies == NULL) {
        res->status = AZR_STATUS_IO_ERROR;
        return RTLS_ERROR(st, AZR_E_INVALID_ARGUMENT, "no command to send");
    }
    for (size_t i = 0; i < n; i++)
        replies[i] = NULL;

    char *out = NULL;
    size_t out_len = 0;
    int rc = encode_all(c, n, cmds, &out, &out_len);
    if (rc != 0) {
        res->status = AZR_STATUS_IO_ERROR;
        return rc;
    }
    uint64_t sent0 = c->sent_total, recv0 = c->received_total;
    /* Reopen a connection that broke, or that the server closed or sent
     * stray bytes on while idle: nothing has been sent for this request
     * yet, so reopening cannot run anything twice. */
    if (c->fd < 0 || (c->used && check_idle(c) == IDLE_REOPEN)) {
        session_teardown(c);
        rc = session_open(c, res);
        if (rc != 0) {
            report_bytes(c, sent0, recv0, res);
            free(out);
            return rc;
        }
    }
    exchange_limit lim = {
        .ms = timeout_ms > 0 ? timeout_ms : st->cfg.command_timeout_ms,
        .key = timeout_ms > 0 ? "the call's timeout" : "command_timeout_ms",
    };
    lim.deadline = rtls_now_ms() + lim.ms;
    c->used = 1;
    rc = roundtrip(c, out, out_len, n, replies, &lim, res);
    free(out);
    if (rc != 0) {
        report_bytes(c, sent0, recv0, res);
        session_teardown(c);
        return rc;
    }
    settle_after_replies(c, res);
    report_bytes(c, sent0, recv0, res);
    res->status = AZR_STATUS_OK;
    return 0;
}

void rtls_session_close(rtls_conn *c)
{
    if (c == NULL)
        return;
    session_teardown(c);
    free(c);
}
