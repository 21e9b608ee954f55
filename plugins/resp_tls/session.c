/*
 * session.c - one resp_tls connection: commands and pipelines, the
 * exchange that carries them, failures, close. The opening (TCP, TLS,
 * HELLO/AUTH) is in opening.c, what the stream holds besides the replies
 * asked for (push frames, stray bytes, an idle connection's state) in
 * stream.c.
 *
 * Contracts:
 *  - command_timeout_ms (or the call's own timeout) is a deadline: every
 *    reply of a command or pipeline must have arrived that long after the
 *    call started sending, however the bytes trickle in.
 *  - Sending and receiving are interleaved, so a pipeline of any size never
 *    deadlocks on full socket buffers.
 *  - A failure leaves the connection closed (fd -1); the host closes it.
 *  - Every reply is its own command's (stream.c). A used connection is
 *    checked before each command; one the server closed or sent stray
 *    bytes on while idle is reopened to the same node before anything is
 *    sent, the only retry this transport makes (see resp_tls.h).
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "resp_tls.h"

void rtls_session_teardown(rtls_conn *c)
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
const char *rtls_tls_hint(const rtls_conn *c)
{
    return !c->st->cfg.tls && c->bytes_in == 0
               ? " (does the server expect TLS? see tls)" : "";
}

/* Describes a failed send/receive and returns its azr_code. */
static int io_failure(rtls_conn *c, rtls_io io, int err_errno, int err_ssl,
                      azr_transport_result *res)
{
    rtls_state *st = c->st;
    const char *hint = rtls_tls_hint(c);
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
static int timeout_failure(rtls_conn *c, int sending,
                           const rtls_limit *lim,
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
                      const rtls_limit *lim, azr_transport_result *res)
{
    int w = rtls_wait(c->fd, events, lim->deadline);
    if (w == 0)
        return timeout_failure(c, sending, lim, res);
    if (w < 0)
        return io_failure(c, RTLS_IO_ERROR, errno, 0, res);
    return 0;
}

/*
 * Sends out[0..out_len) and reads n replies into replies[], all before
 * lim->deadline. On failure the replies read so far are freed.
 */
int rtls_roundtrip(rtls_conn *c, const char *out, size_t out_len, size_t n,
                  azr_reply **replies, const rtls_limit *lim,
                  azr_transport_result *res)
{
    size_t sent = 0, got = 0;
    int just_sent = 0;
    char buf[16384];
    int rc = 0;

    for (;;) {
        while (got < n) {
            azr_reply *r;
            if ((rc = rtls_next_reply(c, &r, res)) != 0)
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
            if ((rc = rtls_feed(c, buf, done, res)) != 0)
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
    int rc = rtls_session_open(c, res);
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

/* Before a call sends: its commands encoded, and a connection that is
 * open and in step (reopened if it broke, or if the server closed it or
 * sent stray bytes while it was idle: nothing has been sent for this
 * call yet, so reopening cannot run anything twice). */
static int prepare_send(rtls_conn *c, size_t n, const azr_command *cmds,
                        char **out, size_t *out_len,
                        azr_transport_result *res)
{
    rtls_state *st = c->st;
    if (n == 0 || cmds == NULL) {
        res->status = AZR_STATUS_IO_ERROR;
        return RTLS_ERROR(st, AZR_E_INVALID_ARGUMENT, "no command to send");
    }
    int rc = encode_all(c, n, cmds, out, out_len);
    if (rc != 0) {
        res->status = AZR_STATUS_IO_ERROR;
        return rc;
    }
    int check = c->used &&
                (rtls_now_us() - c->idle_since_us >= RTLS_IDLE_CHECK_US ||
                 st->resp->reader_pending(c->reader) > 0);
    if (c->fd < 0 || (check && rtls_check_idle(c) == RTLS_IDLE_REOPEN)) {
        rtls_session_teardown(c);
        rc = rtls_session_open(c, res);
        if (rc != 0) {
            free(*out);
            *out = NULL;
            return rc;
        }
    }
    c->used = 1;
    return 0;
}

static rtls_limit limit_of(const rtls_conn *c, unsigned timeout_ms)
{
    rtls_limit lim = {
        .ms = timeout_ms > 0 ? timeout_ms : c->st->cfg.command_timeout_ms,
        .key = timeout_ms > 0 ? "the call's timeout" : "command_timeout_ms",
    };
    lim.deadline = rtls_now_ms() + lim.ms;
    return lim;
}

/* After the last reply of a call. */
static void settle(rtls_conn *c, uint64_t sent0, uint64_t recv0,
                   azr_transport_result *res)
{
    rtls_settle_after_replies(c, res);
    c->idle_since_us = rtls_now_us();
    report_bytes(c, sent0, recv0, res);
    res->status = AZR_STATUS_OK;
}

int rtls_session_pipeline(rtls_conn *c, size_t n, const azr_command *cmds,
                          azr_reply **replies, unsigned timeout_ms,
                          azr_transport_result *res)
{
    if (replies == NULL) {
        res->status = AZR_STATUS_IO_ERROR;
        return RTLS_ERROR(c->st, AZR_E_INVALID_ARGUMENT, "no reply slots");
    }
    for (size_t i = 0; cmds != NULL && i < n; i++)
        replies[i] = NULL;
    uint64_t sent0 = c->sent_total, recv0 = c->received_total;
    char *out = NULL;
    size_t out_len = 0;
    int rc = prepare_send(c, n, cmds, &out, &out_len, res);
    if (rc != 0) {
        report_bytes(c, sent0, recv0, res);
        return rc;
    }
    rtls_limit lim = limit_of(c, timeout_ms);
    rc = rtls_roundtrip(c, out, out_len, n, replies, &lim, res);
    free(out);
    if (rc != 0) {
        report_bytes(c, sent0, recv0, res);
        rtls_session_teardown(c);
        return rc;
    }
    settle(c, sent0, recv0, res);
    return 0;
}

/* Writes out[0..out_len) before lim's deadline. */
static int send_all(rtls_conn *c, const char *out, size_t out_len,
                    const rtls_limit *lim, azr_transport_result *res)
{
    size_t sent = 0;
    while (sent < out_len) {
        size_t done = 0;
        int err_errno = 0, err_ssl = 0;
        short events = 0;
        rtls_io io = rtls_io_send(c->fd, c->ssl, out + sent, out_len - sent,
                                  &done, &err_errno, &err_ssl);
        if (io == RTLS_IO_DONE) {
            sent += done;
            c->sent_total += done;
            continue;
        }
        int rc = await_io(c, io, err_errno, err_ssl, &events, res);
        if (rc == 0)
            rc = wait_ready(c, events, 1, lim, res);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int rtls_session_send(rtls_conn *c, size_t n, const azr_command *cmds,
                      azr_transport_result *res)
{
    uint64_t sent0 = c->sent_total, recv0 = c->received_total;
    char *out = NULL;
    size_t out_len = 0;
    int rc = prepare_send(c, n, cmds, &out, &out_len, res);
    if (rc == 0) {
        rtls_limit lim = limit_of(c, 0);
        rc = send_all(c, out, out_len, &lim, res);
        free(out);
        if (rc != 0)
            rtls_session_teardown(c);
    }
    report_bytes(c, sent0, recv0, res);
    if (rc == 0)
        res->status = AZR_STATUS_OK;
    return rc;
}

int rtls_session_receive(rtls_conn *c, size_t n, azr_reply **replies,
                         unsigned timeout_ms, azr_transport_result *res)
{
    uint64_t sent0 = c->sent_total, recv0 = c->received_total;
    for (size_t i = 0; replies != NULL && i < n; i++)
        replies[i] = NULL;
    if (n == 0 || replies == NULL || c->fd < 0) {
        res->status = AZR_STATUS_IO_ERROR;
        return RTLS_ERROR(c->st, AZR_E_INVALID_ARGUMENT, "nothing to "
                          "receive on %s (no send before)", c->addr);
    }
    rtls_limit lim = limit_of(c, timeout_ms);
    int rc = rtls_roundtrip(c, NULL, 0, n, replies, &lim, res);
    if (rc != 0) {
        report_bytes(c, sent0, recv0, res);
        rtls_session_teardown(c);
        return rc;
    }
    settle(c, sent0, recv0, res);
    return 0;
}

void rtls_session_close(rtls_conn *c)
{
    if (c == NULL)
        return;
    rtls_session_teardown(c);
    free(c);
}
