/*
 * session.c - one resp_tls connection: open (TCP, TLS handshake, HELLO /
 * AUTH), commands and pipelines, close.
 *
 * Contracts:
 *  - connect_timeout_ms bounds the whole opening: TCP connect, TLS
 *    handshake and the HELLO/AUTH exchange.
 *  - command_timeout_ms bounds every wait on the server: a command or
 *    pipeline fails when that long passes with no byte moving either way
 *    (for a single small command: no reply within command_timeout_ms of
 *    sending it). A large reply that keeps arriving is not cut off.
 *  - Sending and receiving are interleaved, so a pipeline of any size never
 *    deadlocks on full socket buffers.
 *  - A failure leaves the connection closed (fd -1); the host closes it.
 *  - A connection found closed by the server while idle in the pool (e.g.
 *    the server restarted or dropped idle clients) is reopened once before
 *    anything is sent, so a stale pooled connection does not fail a
 *    request. The check (one poll() call) is made only after the
 *    connection sat idle for IDLE_CHECK_MS, keeping it off busy paths.
 *  - The password is never logged nor put in any message: server errors
 *    are masked before they are quoted, and command buffers that carried
 *    it are wiped.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "resp_tls.h"

/* Idle time after which a connection is checked before reuse. */
#define IDLE_CHECK_MS 1

struct rtls_conn {
    rtls_state *st;
    const azr_node_view *node; /* valid until the instance is destroyed */
    int fd;                    /* -1 when closed */
    SSL *ssl;                  /* NULL for tls = no */
    azr_reader *reader;
    int resp3;                 /* HELLO 3 accepted */
    int used;                  /* a command went out since the open */
    uint64_t last_ms;          /* end of the last exchange (rtls_now_ms) */
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
    azr_reader_free(c->reader);
    c->reader = NULL;
    c->resp3 = 0;
    c->used = 0;
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
    const char *hint = !st->cfg.tls && !c->used
                           ? " (does the server expect TLS? see tls)" : "";
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

/* Describes a timeout: still sending, or waiting for a reply. */
static int timeout_failure(rtls_conn *c, int sending, unsigned refresh_ms,
                           const char *timeout_key,
                           azr_transport_result *res)
{
    rtls_state *st = c->st;
    unsigned ms = refresh_ms > 0 ? refresh_ms : st->cfg.connect_timeout_ms;
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
static int wait_ready(rtls_conn *c, short events, uint64_t deadline,
                      int sending, unsigned refresh_ms,
                      const char *timeout_key, azr_transport_result *res)
{
    int w = rtls_wait(c->fd, events, deadline);
    if (w == 0)
        return timeout_failure(c, sending, refresh_ms, timeout_key, res);
    if (w < 0)
        return io_failure(c, RTLS_IO_ERROR, errno, 0, res);
    return 0;
}

/*
 * Sends out[0..out_len) and reads n replies into replies[]. Everything is
 * due by `deadline`; when refresh_ms > 0, any progress (bytes sent or
 * received) moves the deadline to refresh_ms after it. On failure the
 * replies read so far are freed.
 */
static int roundtrip(rtls_conn *c, const char *out, size_t out_len,
                     size_t n, azr_reply **replies, uint64_t deadline,
                     unsigned refresh_ms, const char *timeout_key,
                     azr_transport_result *res)
{
    rtls_state *st = c->st;
    size_t sent = 0, got = 0;
    int just_sent = 0;
    char buf[16384];
    int rc = 0;

    for (;;) {
        while (got < n) {
            azr_reply *r = NULL;
            if (azr_reader_get_reply(c->reader, &r) != AZR_OK) {
                res->status = AZR_STATUS_IO_ERROR;
                rc = RTLS_ERROR(st, AZR_E_PROTOCOL, "protocol error from "
                                "%s: %s%s", c->addr,
                                azr_reader_error(c->reader),
                                !st->cfg.tls && !c->used
                                    ? " (does the server expect TLS? see "
                                      "tls)" : "");
                goto fail;
            }
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
            if ((rc = wait_ready(c, POLLIN, deadline, 0, refresh_ms,
                                 timeout_key, res)) != 0)
                goto fail;
        }
        io = rtls_io_recv(c->fd, c->ssl, buf, sizeof buf, &done, &err_errno,
                          &err_ssl);
        if (io == RTLS_IO_DONE) {
            if (azr_reader_feed(c->reader, buf, done) != AZR_OK) {
                res->status = AZR_STATUS_IO_ERROR;
                rc = RTLS_ERROR(st, AZR_E_NOMEM, "out of memory reading "
                                "from %s", c->addr);
                goto fail;
            }
            progress = 1;
        } else if ((rc = await_io(c, io, err_errno, err_ssl, &events,
                                  res)) != 0) {
            goto fail;
        }
        if (progress) {
            if (refresh_ms > 0)
                deadline = rtls_now_ms() + refresh_ms;
            continue;
        }

        if ((rc = wait_ready(c, events, deadline, sent < out_len,
                             refresh_ms, timeout_key, res)) != 0)
            goto fail;
    }

fail:
    for (size_t i = 0; i < got; i++) {
        azr_reply_free(replies[i]);
        replies[i] = NULL;
    }
    return rc;
}

/* Sends one command during the opening (bounded by `deadline`) and returns
 * its reply. The encoded command is wiped: it may carry the password. */
static int opening_command(rtls_conn *c, size_t argc, const char **argv,
                           uint64_t deadline, azr_reply **reply,
                           azr_transport_result *res)
{
    char *buf;
    size_t len;
    if (azr_format_command(&buf, &len, argc, argv, NULL) != AZR_OK) {
        res->status = AZR_STATUS_IO_ERROR;
        return RTLS_ERROR(c->st, AZR_E_NOMEM, "out of memory");
    }
    int rc = roundtrip(c, buf, len, 1, reply, deadline, 0,
                       "connect_timeout_ms", res);
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
        azr_reply_free(r);
        res->status = AZR_STATUS_ERROR_REPLY;
        return RTLS_ERROR(c->st, AZR_E_AUTH, "AUTH as '%s' refused by %s: "
                          "%s", cfg->username != NULL ? cfg->username
                                                      : "default",
                          c->addr, msg);
    }
    azr_reply_free(r);
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
            azr_reply_free(r);
            c->resp3 = 1;
            return 0;
        }
        char msg[160];
        masked_error(cfg, r, msg, sizeof msg);
        int fallback = starts_with(r, "NOPROTO") ||
                       strstr(msg, "unknown command") != NULL;
        int auth = starts_with(r, "WRONGPASS") || starts_with(r, "NOAUTH") ||
                   starts_with(r, "NOPERM");
        azr_reply_free(r);
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
        c->reader = azr_reader_new(0, 0);
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
        if (azr_format_command(&one, &one_len, cmds[i].argc, cmds[i].argv,
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
                          azr_reply **replies, azr_transport_result *res)
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
    /* Reopen a connection that broke or was closed by the server while
     * idle; nothing has been sent on it for this request yet. */
    uint64_t start = rtls_now_ms();
    if (c->fd < 0 ||
        (c->used && start - c->last_ms >= IDLE_CHECK_MS &&
         rtls_peer_closed(c->fd))) {
        session_teardown(c);
        rc = session_open(c, res);
        if (rc != 0) {
            free(out);
            return rc;
        }
    }
    uint64_t deadline = start + st->cfg.command_timeout_ms;
    rc = roundtrip(c, out, out_len, n, replies, deadline,
                   st->cfg.command_timeout_ms, "command_timeout_ms", res);
    free(out);
    if (rc != 0) {
        session_teardown(c);
        return rc;
    }
    c->used = 1;
    c->last_ms = rtls_now_ms();
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
