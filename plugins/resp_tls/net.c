/*
 * net.c - sockets for resp_tls: deadlines, a bounded non-blocking connect
 * and one-step send/receive over plain TCP or TLS.
 *
 * Every wait is a poll() with the time left until an absolute deadline, so
 * no operation can outlast its configured timeout. Sockets are
 * non-blocking and close-on-exec; writes use MSG_NOSIGNAL (plain) or the
 * SIGPIPE-free BIO of tls.c (TLS).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "resp_tls.h"

uint64_t rtls_now_ms(void)
{
    return rtls_now_us() / 1000u;
}

uint64_t rtls_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int rtls_remaining_ms(uint64_t deadline_ms)
{
    uint64_t now = rtls_now_ms();
    if (now >= deadline_ms)
        return 0;
    uint64_t left = deadline_ms - now;
    return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

int rtls_wait(int fd, short events, uint64_t deadline_ms)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = events };
        int left = rtls_remaining_ms(deadline_ms);
        int n = poll(&p, 1, left);
        if (n > 0)
            return 1; /* ready, or an error the next I/O call will see */
        if (n == 0) {
            if (rtls_remaining_ms(deadline_ms) == 0)
                return 0;
            continue; /* poll() woke early (ms rounding): wait the rest */
        }
        if (errno != EINTR)
            return -1;
    }
}

const char *rtls_addr_str(const char *host, uint16_t port, char *buf,
                          size_t len)
{
    snprintf(buf, len, strchr(host, ':') != NULL ? "[%s]:%u" : "%s:%u", host,
             (unsigned)port);
    return buf;
}

/* Classifies a connect errno: refused/unreachable vs other I/O. */
static azr_status connect_status(int err)
{
    switch (err) {
    case ECONNREFUSED:
    case ECONNRESET:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EADDRNOTAVAIL:
        return AZR_STATUS_REFUSED;
    default:
        return AZR_STATUS_IO_ERROR;
    }
}

/* Tries one address. Returns the connected socket, or -1 with *err set
 * (ETIMEDOUT when the deadline passed). */
static int connect_one(const struct addrinfo *ai, uint64_t deadline_ms,
                       int *err)
{
    int fd = socket(ai->ai_family,
                    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    int one = 1;
    /* Requests are small and latency-bound: never wait for Nagle. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS && errno != EINTR) {
        *err = errno;
        close(fd);
        return -1;
    }
    int ready = rtls_wait(fd, POLLOUT, deadline_ms);
    if (ready <= 0) {
        *err = ready == 0 ? ETIMEDOUT : errno;
        close(fd);
        return -1;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
        soerr = errno;
    if (soerr != 0) {
        *err = soerr;
        close(fd);
        return -1;
    }
    return fd;
}

int rtls_tcp_connect(rtls_state *st, const char *host, uint16_t port,
                     uint64_t deadline_ms, int *fdp,
                     azr_transport_result *res)
{
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_protocol = IPPROTO_TCP,
    };
    struct addrinfo *list = NULL;
    /* getaddrinfo() has no timeout of its own; node addresses are
     * normally IPs or names the local resolver answers quickly. */
    int gai = getaddrinfo(host, service, &hints, &list);
    if (gai != 0) {
        res->status = AZR_STATUS_REFUSED;
        return RTLS_ERROR(st, AZR_E_CONNECT, "cannot resolve %s: %s", host,
                          gai == EAI_SYSTEM ? strerror(errno)
                                            : gai_strerror(gai));
    }
    int err = 0, fd = -1;
    for (const struct addrinfo *ai = list; ai != NULL && fd < 0;
         ai = ai->ai_next) {
        fd = connect_one(ai, deadline_ms, &err);
        if (fd < 0 && err == ETIMEDOUT)
            break; /* the deadline is spent: no time for other addresses */
    }
    freeaddrinfo(list);
    if (fd >= 0) {
        *fdp = fd;
        return 0;
    }
    char addr[RTLS_ADDR_MAX];
    rtls_addr_str(host, port, addr, sizeof addr);
    if (err == ETIMEDOUT) {
        res->status = AZR_STATUS_TIMEOUT;
        return RTLS_ERROR(st, AZR_E_TIMEOUT, "connect to %s timed out after "
                          "%u ms (connect_timeout_ms)", addr,
                          st->cfg.connect_timeout_ms);
    }
    res->status = connect_status(err);
    return RTLS_ERROR(st, AZR_E_CONNECT, "connect to %s failed: %s", addr,
                      strerror(err));
}

/* Maps an SSL_read/SSL_write return into an rtls_io. */
static rtls_io ssl_result(SSL *ssl, int n, size_t *done, int *err_errno,
                          int *err_ssl)
{
    if (n > 0) {
        *done = (size_t)n;
        return RTLS_IO_DONE;
    }
    int saved = errno;
    int e = SSL_get_error(ssl, n);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        return RTLS_IO_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return RTLS_IO_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return RTLS_IO_EOF;
    case SSL_ERROR_SYSCALL:
        if (saved == 0 && ERR_peek_error() == 0)
            return RTLS_IO_EOF;
        /* fall through */
    default:
        *err_errno = saved;
        *err_ssl = e;
        return RTLS_IO_ERROR;
    }
}

rtls_io rtls_io_send(int fd, SSL *ssl, const void *buf, size_t len,
                     size_t *done, int *err_errno, int *err_ssl)
{
    *err_ssl = 0;
    if (ssl != NULL) {
        ERR_clear_error();
        errno = 0;
        int n = SSL_write(ssl, buf, len > 0x40000000 ? 0x40000000 : (int)len);
        return ssl_result(ssl, n, done, err_errno, err_ssl);
    }
    for (;;) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0) {
            *done = (size_t)n;
            return RTLS_IO_DONE;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return RTLS_IO_WANT_WRITE;
        *err_errno = errno;
        return RTLS_IO_ERROR;
    }
}

rtls_io rtls_io_recv(int fd, SSL *ssl, void *buf, size_t len, size_t *done,
                     int *err_errno, int *err_ssl)
{
    *err_ssl = 0;
    if (ssl != NULL) {
        ERR_clear_error();
        errno = 0;
        int n = SSL_read(ssl, buf, len > 0x40000000 ? 0x40000000 : (int)len);
        return ssl_result(ssl, n, done, err_errno, err_ssl);
    }
    for (;;) {
        ssize_t n = recv(fd, buf, len, 0);
        if (n > 0) {
            *done = (size_t)n;
            return RTLS_IO_DONE;
        }
        if (n == 0)
            return RTLS_IO_EOF;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return RTLS_IO_WANT_READ;
        *err_errno = errno;
        return RTLS_IO_ERROR;
    }
}
