/*
 * opening.c - opening a resp_tls connection: TCP connect, TLS handshake,
 * the reader, HELLO 3 and/or AUTH.
 *
 * Contracts:
 *  - connect_timeout_ms bounds the whole opening: TCP connect, TLS
 *    handshake and the HELLO/AUTH exchange.
 *  - One reply may take at most max_reply_bytes of memory (the reader's
 *    accounting, set here); past it the reply is a protocol error and
 *    freed.
 *  - The password is never logged nor put in any message: server errors
 *    are masked before they are quoted, and command buffers that carried
 *    it are wiped.
 *  - A failed opening leaves the connection torn down (fd -1, no reader).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "resp_tls.h"

/* The name the node's certificate is verified against when server_name
 * is not set: the host's choice (ABI 1.2: a node discovered by IP address
 * is checked against the name of the seed it was found through), else the
 * node's host. */
static const char *verify_name(const rtls_state *st,
                               const azr_node_view *node)
{
    if (AZR_HOST_HAS(st->host, tls_name) && st->host->tls_name != NULL)
        return st->host->tls_name(st->env, node);
    return node->host;
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

    const char *name = verify_name(st, c->node);
    c->ssl = rtls_tls_new(st, c->fd, name);
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
                                      ? st->cfg.server_name : name,
                                  why, sizeof why);
        res->status = AZR_STATUS_TLS_FAILURE;
        return RTLS_ERROR(st, AZR_E_TLS, "TLS handshake with %s failed: %s",
                          c->addr, why);
    }
}

/* Sends one command during the opening (bounded by the opening's
 * deadline) and returns its reply. The encoded command is wiped: it may
 * carry the password. */
static int opening_command(rtls_conn *c, size_t argc, const char **argv,
                           uint64_t deadline, azr_reply **reply,
                           azr_transport_result *res)
{
    const rtls_limit lim = {
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
    int rc = rtls_roundtrip(c, buf, len, 1, reply, &lim, res);
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
int rtls_session_open(rtls_conn *c, azr_transport_result *res)
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
        rtls_session_teardown(c);
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
