/*
 * tls.c - OpenSSL setup for resp_tls: one SSL_CTX per instance, one SSL per
 * connection, and handshake failures turned into one readable line.
 *
 * Defaults are the safe ones: TLS 1.2 or newer, the server certificate
 * verified against ca_file/ca_path (or the system store), the host name or
 * IP address checked against the certificate, SNI sent for host names.
 * Verification is off only with verify = no plus insecure = yes.
 *
 * Sockets are wrapped in a small BIO that sends with MSG_NOSIGNAL: a server
 * that goes away must give the caller an error, not kill the process with
 * SIGPIPE (a library may not change the process's signal dispositions).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "resp_tls.h"

/* ---- a socket BIO without SIGPIPE ---- */

static int nosig_write(BIO *b, const char *buf, int len)
{
    int fd = (int)(intptr_t)BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = send(fd, buf, (size_t)len, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_write(b);
        return -1;
    }
    return (int)n;
}

static int nosig_read(BIO *b, char *buf, int len)
{
    int fd = (int)(intptr_t)BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = recv(fd, buf, (size_t)len, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_read(b);
        return -1;
    }
    return (int)n;
}

static int nosig_puts(BIO *b, const char *s)
{
    return nosig_write(b, s, (int)strlen(s));
}

static long nosig_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_C_GET_FD:
        if (ptr != NULL)
            *(int *)ptr = (int)(intptr_t)BIO_get_data(b);
        return (long)(intptr_t)BIO_get_data(b);
    default:
        return 0;
    }
}

static int nosig_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

/* The method is shared by every instance of every context that loaded
 * this file (dlopen maps it once), so it is reference-counted by the
 * descriptor's init/fini: made by the first init, freed by the last fini. */
static BIO_METHOD *nosig_method;
static unsigned nosig_users;
static pthread_mutex_t nosig_lock = PTHREAD_MUTEX_INITIALIZER;

int rtls_tls_global_init(void)
{
    int rc = 0;
    pthread_mutex_lock(&nosig_lock);
    if (nosig_users == 0) {
        BIO_METHOD *m = BIO_meth_new(
            BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "azroute socket");
        if (m == NULL || !BIO_meth_set_write(m, nosig_write) ||
            !BIO_meth_set_read(m, nosig_read) ||
            !BIO_meth_set_puts(m, nosig_puts) ||
            !BIO_meth_set_ctrl(m, nosig_ctrl) ||
            !BIO_meth_set_create(m, nosig_create)) {
            BIO_meth_free(m);
            rc = AZR_E_NOMEM;
        } else {
            nosig_method = m;
        }
    }
    if (rc == 0)
        nosig_users++;
    pthread_mutex_unlock(&nosig_lock);
    return rc;
}

void rtls_tls_global_fini(void)
{
    pthread_mutex_lock(&nosig_lock);
    if (nosig_users > 0 && --nosig_users == 0) {
        BIO_meth_free(nosig_method);
        nosig_method = NULL;
    }
    pthread_mutex_unlock(&nosig_lock);
}

/* ---- the context ---- */

/* The first error of OpenSSL's queue as text (the queue is cleared). */
static const char *ssl_queue_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    if (r != NULL)
        snprintf(buf, len, "%s", r);
    else if (e != 0)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "%s", "unknown OpenSSL error");
    ERR_clear_error();
    return buf;
}

/* Checks that `path`, the value of option `key` (NULL: not set, fine),
 * opens for reading as this process, as a directory when `want_dir`, else
 * as anything but a directory. A failure is recorded with the key (the
 * host prefixes the option's FILE:LINE) in the system's words,
 * "ca_file '/x/ca.pem': No such file or directory", where OpenSSL would
 * only say "system lib"; returns AZR_E_CONFIG. O_NONBLOCK: opening a FIFO
 * must not hang create(). Only the file's presence and access are
 * checked; its contents are OpenSSL's to judge. */
static int check_path(rtls_state *st, const char *key, const char *path,
                      int want_dir)
{
    if (path == NULL)
        return 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY |
                            (want_dir ? O_DIRECTORY : 0));
    int e = errno;
    if (fd >= 0) {
        struct stat sb;
        e = 0;
        if (!want_dir && fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode))
            e = EISDIR;
        close(fd);
    }
    if (e == 0)
        return 0;
    return st->host->error(st->env, AZR_E_CONFIG, key, "%s '%s': %s", key,
                           path, strerror(e));
}

int rtls_tls_context_new(rtls_state *st)
{
    const rtls_config *cfg = &st->cfg;
    char why[160];
    int rc;

    /* The files that will be loaded: the trust anchors only when
     * verifying, the client certificate and key whenever given. */
    if ((cfg->verify &&
         ((rc = check_path(st, "ca_file", cfg->ca_file, 0)) != 0 ||
          (rc = check_path(st, "ca_path", cfg->ca_path, 1)) != 0)) ||
        (rc = check_path(st, "cert_file", cfg->cert_file, 0)) != 0 ||
        (rc = check_path(st, "key_file", cfg->key_file, 0)) != 0)
        return rc;

    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        return RTLS_ERROR(st, AZR_E_NOMEM, "cannot create the TLS context: "
                          "%s", ssl_queue_reason(why, sizeof why));
    st->ssl_ctx = ctx;

    if (SSL_CTX_set_min_proto_version(ctx, cfg->min_tls) != 1)
        return st->host->error(st->env, AZR_E_CONFIG, "min_tls",
                               "min_tls: not supported by this OpenSSL: %s",
                               ssl_queue_reason(why, sizeof why));
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    if (cfg->verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (cfg->ca_file != NULL || cfg->ca_path != NULL) {
            if (SSL_CTX_load_verify_locations(ctx, cfg->ca_file,
                                              cfg->ca_path) != 1) {
                const char *key = cfg->ca_file != NULL ? "ca_file"
                                                       : "ca_path";
                return st->host->error(
                    st->env, AZR_E_CONFIG, key, "%s: cannot load CA "
                    "certificates from '%s': %s", key,
                    cfg->ca_file != NULL ? cfg->ca_file : cfg->ca_path,
                    ssl_queue_reason(why, sizeof why));
            }
        } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            return RTLS_ERROR(st, AZR_E_CONFIG, "cannot load the system CA "
                              "store (set ca_file): %s",
                              ssl_queue_reason(why, sizeof why));
        }
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }

    if (cfg->cert_file != NULL) {
        const char *key_file = cfg->key_file != NULL ? cfg->key_file
                                                     : cfg->cert_file;
        if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1)
            return st->host->error(st->env, AZR_E_CONFIG, "cert_file",
                                   "cert_file: cannot load '%s': %s",
                                   cfg->cert_file,
                                   ssl_queue_reason(why, sizeof why));
        if (SSL_CTX_use_PrivateKey_file(ctx, key_file,
                                        SSL_FILETYPE_PEM) != 1)
            return st->host->error(
                st->env, AZR_E_CONFIG,
                cfg->key_file != NULL ? "key_file" : "cert_file",
                "cannot load the private key from '%s': %s", key_file,
                ssl_queue_reason(why, sizeof why));
        if (SSL_CTX_check_private_key(ctx) != 1)
            return st->host->error(st->env, AZR_E_CONFIG,
                                   cfg->key_file != NULL ? "key_file"
                                                         : "cert_file",
                                   "the private key does not match "
                                   "cert_file '%s'", cfg->cert_file);
    }
    return 0;
}

/* 1 if `host` is an IPv4 or IPv6 literal. */
static int is_ip_literal(const char *host)
{
    unsigned char addr[16];
    return inet_pton(AF_INET, host, addr) == 1 ||
           inet_pton(AF_INET6, host, addr) == 1;
}

SSL *rtls_tls_new(rtls_state *st, int fd, const char *host)
{
    const char *name = st->cfg.server_name != NULL ? st->cfg.server_name
                                                   : host;
    char why[160];

    ERR_clear_error();
    SSL *ssl = SSL_new(st->ssl_ctx);
    BIO *bio = ssl != NULL ? BIO_new(nosig_method) : NULL;
    if (bio == NULL) {
        RTLS_ERROR(st, AZR_E_NOMEM, "cannot create a TLS session: %s",
                   ssl_queue_reason(why, sizeof why));
        SSL_free(ssl);
        return NULL;
    }
    BIO_set_data(bio, (void *)(intptr_t)fd);
    SSL_set_bio(ssl, bio, bio);

    int ip = is_ip_literal(name);
    int ok = 1;
    if (!ip)
        ok = SSL_set_tlsext_host_name(ssl, name) == 1;
    if (ok && st->cfg.verify) {
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        if (ip) {
            ok = X509_VERIFY_PARAM_set1_ip_asc(param, name) == 1;
        } else {
            X509_VERIFY_PARAM_set_hostflags(
                param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            ok = X509_VERIFY_PARAM_set1_host(param, name, 0) == 1;
        }
    }
    if (!ok) {
        RTLS_ERROR(st, AZR_E_TLS, "cannot use '%s' as the TLS server name: "
                   "%s", name, ssl_queue_reason(why, sizeof why));
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

/* Appends the validity dates of the peer certificate for time errors. */
static void append_dates(SSL *ssl, long verify, char *buf, size_t len)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    X509 *cert = SSL_get0_peer_certificate(ssl);
#else
    X509 *cert = SSL_get_peer_certificate(ssl); /* counted reference */
    X509_free(cert); /* the session still holds one */
#endif
    const ASN1_TIME *t = NULL;
    const char *label = NULL;
    if (cert == NULL)
        return;
    if (verify == X509_V_ERR_CERT_HAS_EXPIRED) {
        t = X509_get0_notAfter(cert);
        label = "expired";
    } else if (verify == X509_V_ERR_CERT_NOT_YET_VALID) {
        t = X509_get0_notBefore(cert);
        label = "valid from";
    }
    if (t == NULL)
        return;
    BIO *mem = BIO_new(BIO_s_mem());
    if (mem == NULL)
        return;
    char *data;
    if (ASN1_TIME_print(mem, t) == 1) {
        long n = BIO_get_mem_data(mem, &data);
        size_t used = strlen(buf);
        if (n > 0 && used < len)
            snprintf(buf + used, len - used, " (%s %.*s)", label, (int)n,
                     data);
    }
    BIO_free(mem);
}

void rtls_tls_describe_failure(SSL *ssl, int ssl_err, int sys_errno,
                               const char *expected_name, char *buf,
                               size_t len)
{
    long verify = SSL_get_verify_result(ssl);
    unsigned long e = ERR_peek_last_error();
    int reason = e != 0 ? ERR_GET_REASON(e) : 0;

    if (verify != X509_V_OK &&
        (e == 0 || reason == SSL_R_CERTIFICATE_VERIFY_FAILED)) {
        snprintf(buf, len, "certificate verify failed: %s",
                 X509_verify_cert_error_string(verify));
        if (verify == X509_V_ERR_HOSTNAME_MISMATCH ||
            verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
            size_t used = strlen(buf);
            snprintf(buf + used, len - used, " (the certificate is not "
                     "valid for '%s'; see server_name)", expected_name);
        }
        append_dates(ssl, verify, buf, len);
    } else if (e != 0) {
        const char *r = ERR_reason_error_string(e);
        char tmp[120];
        if (r == NULL) {
            ERR_error_string_n(e, tmp, sizeof tmp);
            r = tmp;
        }
        const char *hint = "";
        if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
            (reason == SSL_R_WRONG_VERSION_NUMBER ||
             reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
             reason == SSL_R_HTTP_REQUEST ||
             reason == SSL_R_UNKNOWN_PROTOCOL))
            hint = " (the server does not speak TLS on this port? "
                   "see tls = no)";
        else if (reason == SSL_R_UNSUPPORTED_PROTOCOL ||
                 reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION)
            hint = " (the server's TLS version is below min_tls)";
        else if (reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
                 reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
                 reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA)
            hint = " (the server rejected the client certificate; see "
                   "cert_file)";
        snprintf(buf, len, "%s%s", r, hint);
    } else if (ssl_err == SSL_ERROR_SYSCALL && sys_errno != 0) {
        snprintf(buf, len, "%s", strerror(sys_errno));
    } else {
        snprintf(buf, len, "the server closed the connection during the "
                 "handshake (is this a TLS port?)");
    }
    ERR_clear_error();
}
