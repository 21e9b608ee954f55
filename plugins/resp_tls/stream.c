/*
 * stream.c - what a resp_tls connection receives besides the replies it
 * asked for: push frames, stray bytes, and an idle connection's state.
 *
 * Contracts:
 *  - Every reply is its own command's: RESP3 push frames, wherever they
 *    arrive, go to the host's push service. Bytes that are not a push and
 *    that nobody asked for are a protocol error: found after the last
 *    reply, they close the connection (the replies read are still the
 *    right ones: they came first); found before sending, on a connection
 *    that waited idle, they close it and it is reopened before anything
 *    is sent. Every command on a used connection starts with that check
 *    (one poll() call), which also catches a connection the server closed
 *    while idle (restart, idle timeout), reopened the same way.
 *  - Received bytes are counted (bytes_in, received_total) as they are
 *    fed to the reader.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>

#include "resp_tls.h"

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
int rtls_next_reply(rtls_conn *c, azr_reply **r, azr_transport_result *res)
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
                              rtls_tls_hint(c));
        }
        if (*r == NULL || (*r)->type != AZR_REPLY_PUSH)
            return 0;
        deliver_push(c, *r);
    }
}

/* Feeds received bytes to the reader. */
int rtls_feed(rtls_conn *c, const char *buf, size_t len,
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
 * After the last reply of an exchange: push frames already buffered go to
 * the host; a complete reply nobody asked for means the connection is out
 * of step, so it is closed (the next call reopens it). A partial frame is
 * left for the check before the next command.
 */
void rtls_settle_after_replies(rtls_conn *c, azr_transport_result *res)
{
    if (c->st->resp->reader_pending(c->reader) == 0 &&
        (c->ssl == NULL || !SSL_has_pending(c->ssl)))
        return;
    azr_reply *r = NULL;
    if (rtls_next_reply(c, &r, res) == 0 && r == NULL)
        return;
    c->st->resp->reply_free(r);
    c->st->host->log(c->st->env, AZR_LOG_WARNING, "%s sent a reply nobody "
                     "asked for; connection closed", c->addr);
    rtls_session_teardown(c);
}

/*
 * Reads whatever arrived while the connection waited (without blocking):
 * push frames go to the host; end of stream, an error, a reply nobody
 * asked for or a partial frame mean the connection cannot carry the next
 * command as it is.
 */
rtls_idle rtls_check_idle(rtls_conn *c)
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
                return errno == EINTR ? RTLS_IDLE_CLEAN : RTLS_IDLE_REOPEN;
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
            return RTLS_IDLE_REOPEN;
        }
        if (rtls_feed(c, buf, done, &scratch) != 0)
            return RTLS_IDLE_REOPEN;
    }
    azr_reply *r = NULL;
    if (rtls_next_reply(c, &r, &scratch) == 0 && r == NULL &&
        c->st->resp->reader_pending(c->reader) == 0)
        return RTLS_IDLE_CLEAN;
    c->st->resp->reply_free(r);
    st->host->log(st->env, AZR_LOG_WARNING, "%s sent bytes nobody asked for "
                  "on an idle connection; reopening it", c->addr);
    return RTLS_IDLE_REOPEN;
}
