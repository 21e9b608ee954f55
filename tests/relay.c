/*
 * relay.c - a TCP relay that adds a fixed one-way delay, to simulate an
 * Availability Zone on one machine (the kernel here has no netem).
 *
 *   relay [-d MS] [-p PORTFILE] HOST PORT
 *
 * Listens on 127.0.0.1 on an ephemeral port, prints that port on stdout
 * (and, with -p, writes it to PORTFILE, created atomically by a rename, so
 * a script can wait for the file), and forwards every accepted connection
 * to HOST:PORT (a numeric loopback address). Every chunk of bytes read from
 * one side is held for MS milliseconds (default 0.25, decimals allowed)
 * before it is written to the other side, in each direction, so a request
 * and its reply together gain 2 x MS. Order is kept: the chunks of one
 * direction wait in a FIFO, and since the delay is constant the FIFO is
 * also ordered by due time.
 *
 * One thread, one ppoll() loop: ppoll() (not poll()) because its timeout
 * has nanosecond resolution, and the timer slack is set to 1 ns so that a
 * 0.25 ms wait is not stretched by the default 50 us. The loop never spins:
 * it sleeps until a socket is ready or the earliest chunk is due. A
 * direction that holds more than RELAY_QUEUE_MAX bytes stops reading its
 * source until the destination drains (back pressure). A half-close is
 * forwarded (shutdown(SHUT_WR)) once the queue before it is delivered.
 *
 * SIGTERM and SIGINT end the relay (exit status 0): they are blocked except
 * inside ppoll(), so they are only ever taken there. Errors go to stderr as
 * one line "relay: ...". Only loopback targets are accepted: the relay is a
 * test and demo tool and must never reach another machine.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RELAY_CHUNK_MAX (64 * 1024)
#define RELAY_QUEUE_MAX (4 * 1024 * 1024)
#define RELAY_CONN_MAX 512
#define RELAY_DELAY_MAX_MS 10000.0

typedef struct chunk {
    struct chunk *next;
    uint64_t due_ns;
    size_t len, off;
    char data[];
} chunk;

/* One direction of a connection: bytes read from fd `from`, delayed, then
 * written to fd `to`. */
typedef struct direction {
    int from, to;
    chunk *head, *tail;
    size_t queued;   /* bytes held */
    int eof;         /* `from` reached end of stream */
    int shut;        /* the half-close was forwarded to `to` */
    int blocked;     /* the last write to `to` would block */
} direction;

/* fd[0] is the accepted client, fd[1] the upstream; dir[0] carries
 * client -> upstream, dir[1] upstream -> client. */
typedef struct conn {
    int fd[2];
    direction dir[2];
    int dead;
} conn;

static volatile sig_atomic_t stop_requested;
static uint64_t delay_ns = 250000;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void set_nodelay(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void free_queue(direction *d)
{
    while (d->head != NULL) {
        chunk *c = d->head;
        d->head = c->next;
        free(c);
    }
    d->tail = NULL;
    d->queued = 0;
}

static void conn_free(conn *c)
{
    for (int i = 0; i < 2; i++) {
        free_queue(&c->dir[i]);
        if (c->fd[i] >= 0)
            close(c->fd[i]);
    }
    free(c);
}

/* Connects to the target (loopback: the connect completes or fails at
 * once, so a blocking connect does not stall the loop). */
static int connect_upstream(const struct sockaddr_in *target)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)target, sizeof *target) != 0 ||
        set_nonblock(fd) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    set_nodelay(fd);
    return fd;
}

static conn *conn_new(int client, const struct sockaddr_in *target)
{
    conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        close(client);
        return NULL;
    }
    c->fd[0] = client;
    c->fd[1] = connect_upstream(target);
    if (c->fd[1] < 0) {
        fprintf(stderr, "relay: cannot connect to the target: %s\n",
                strerror(errno));
        c->fd[1] = -1;
        conn_free(c);
        return NULL;
    }
    c->dir[0].from = c->fd[0];
    c->dir[0].to = c->fd[1];
    c->dir[1].from = c->fd[1];
    c->dir[1].to = c->fd[0];
    return c;
}

/* Reads what `d->from` has into a new chunk due `delay_ns` from now. */
static void read_side(conn *c, direction *d)
{
    char buf[RELAY_CHUNK_MAX];
    ssize_t n = recv(d->from, buf, sizeof buf, 0);
    if (n == 0) {
        d->eof = 1;
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            c->dead = 1;
        return;
    }
    chunk *k = malloc(sizeof *k + (size_t)n);
    if (k == NULL) {
        c->dead = 1;
        return;
    }
    memcpy(k->data, buf, (size_t)n);
    k->len = (size_t)n;
    k->off = 0;
    k->next = NULL;
    k->due_ns = now_ns() + delay_ns;
    if (d->tail != NULL)
        d->tail->next = k;
    else
        d->head = k;
    d->tail = k;
    d->queued += (size_t)n;
}

/* Writes every chunk that is due; forwards the half-close when the queue
 * is empty after end of stream. */
static void flush_side(conn *c, direction *d, uint64_t now)
{
    d->blocked = 0;
    while (d->head != NULL && d->head->due_ns <= now) {
        chunk *k = d->head;
        ssize_t n = send(d->to, k->data + k->off, k->len - k->off,
                         MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                d->blocked = 1;
                return;
            }
            if (errno == EINTR)
                continue;
            c->dead = 1;
            return;
        }
        k->off += (size_t)n;
        d->queued -= (size_t)n;
        if (k->off == k->len) {
            d->head = k->next;
            if (d->head == NULL)
                d->tail = NULL;
            free(k);
        }
    }
    if (d->head == NULL && d->eof && !d->shut) {
        shutdown(d->to, SHUT_WR);
        d->shut = 1;
    }
}

static int parse_delay(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double ms = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !(ms >= 0.0) ||
        ms > RELAY_DELAY_MAX_MS)
        return -1;
    *out = (uint64_t)(ms * 1e6 + 0.5);
    return 0;
}

static int write_port_file(const char *path, unsigned port)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >=
        (int)sizeof tmp)
        return -1;
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%u\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: relay [-d MS] [-p PORTFILE] HOST PORT\n"
                    "  forwards 127.0.0.1:<ephemeral> to HOST:PORT "
                    "(loopback only), delaying\n"
                    "  each direction by MS milliseconds (default 0.25)\n");
}

int main(int argc, char **argv)
{
    const char *port_file = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "d:p:h")) != -1) {
        switch (opt) {
        case 'd':
            if (parse_delay(optarg, &delay_ns) != 0) {
                fprintf(stderr, "relay: -d: expected milliseconds from 0 to "
                                "%.0f, got '%s'\n", RELAY_DELAY_MAX_MS,
                        optarg);
                return 2;
            }
            break;
        case 'p':
            port_file = optarg;
            break;
        default:
            usage();
            return opt == 'h' ? 0 : 2;
        }
    }
    if (argc - optind != 2) {
        usage();
        return 2;
    }

    struct sockaddr_in target = { .sin_family = AF_INET };
    char *end;
    unsigned long tport = strtoul(argv[optind + 1], &end, 10);
    if (inet_pton(AF_INET, argv[optind], &target.sin_addr) != 1 ||
        (ntohl(target.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "relay: target '%s' is not a numeric loopback "
                        "address (127.x.x.x)\n", argv[optind]);
        return 2;
    }
    if (*end != '\0' || tport == 0 || tport > 65535) {
        fprintf(stderr, "relay: bad target port '%s'\n", argv[optind + 1]);
        return 2;
    }
    target.sin_port = htons((uint16_t)tport);

    /* A 0.25 ms wait must not be rounded up by the default 50 us slack. */
    (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

    sigset_t block, wait_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &wait_mask);
    sigdelset(&wait_mask, SIGTERM);
    sigdelset(&wait_mask, SIGINT);
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof addr;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(lfd, 64) != 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen) != 0) {
        fprintf(stderr, "relay: cannot listen on 127.0.0.1: %s\n",
                strerror(errno));
        return 1;
    }
    unsigned port = ntohs(addr.sin_port);
    printf("%u\n", port);
    fflush(stdout);
    if (port_file != NULL && write_port_file(port_file, port) != 0) {
        fprintf(stderr, "relay: cannot write %s: %s\n", port_file,
                strerror(errno));
        return 1;
    }

    conn *conns[RELAY_CONN_MAX];
    size_t n_conns = 0;
    struct pollfd pfd[1 + 2 * RELAY_CONN_MAX];

    while (!stop_requested) {
        uint64_t now = now_ns();
        uint64_t next_due = UINT64_MAX;

        /* Deliver what is due, retire finished connections. */
        for (size_t i = 0; i < n_conns;) {
            conn *c = conns[i];
            for (int k = 0; k < 2 && !c->dead; k++)
                flush_side(c, &c->dir[k], now);
            int done = c->dead || (c->dir[0].shut && c->dir[1].shut);
            if (done) {
                conn_free(c);
                conns[i] = conns[--n_conns];
                continue;
            }
            for (int k = 0; k < 2; k++) {
                direction *d = &c->dir[k];
                if (d->head != NULL && !d->blocked && d->head->due_ns < next_due)
                    next_due = d->head->due_ns;
            }
            i++;
        }

        /* What to wait for. */
        size_t np = 0;
        pfd[np++] = (struct pollfd){ .fd = lfd,
                                     .events = n_conns < RELAY_CONN_MAX
                                                   ? POLLIN : 0 };
        for (size_t i = 0; i < n_conns; i++) {
            conn *c = conns[i];
            for (int side = 0; side < 2; side++) {
                direction *rd = &c->dir[side];     /* reads fd[side] */
                direction *wr = &c->dir[1 - side]; /* writes fd[side] */
                short ev = 0;
                if (!rd->eof && rd->queued < RELAY_QUEUE_MAX)
                    ev |= POLLIN;
                if (wr->blocked)
                    ev |= POLLOUT;
                /* No interest: a negative fd, so that a POLLHUP on a
                 * socket we no longer read cannot wake the loop in a
                 * spin. */
                pfd[np++] = (struct pollfd){ .fd = ev != 0 ? c->fd[side] : -1,
                                             .events = ev };
            }
        }

        struct timespec ts, *tsp = NULL;
        if (next_due != UINT64_MAX) {
            uint64_t wait = next_due > now ? next_due - now : 0;
            ts.tv_sec = (time_t)(wait / 1000000000u);
            ts.tv_nsec = (long)(wait % 1000000000u);
            tsp = &ts;
        }
        int r = ppoll(pfd, np, tsp, &wait_mask);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "relay: poll: %s\n", strerror(errno));
            break;
        }
        if (r == 0)
            continue;

        /* Reads first (they stamp their chunks), accepts last, so the
         * pollfd indexes still match conns[]. */
        size_t live = n_conns;
        for (size_t i = 0; i < live; i++) {
            conn *c = conns[i];
            for (int side = 0; side < 2 && !c->dead; side++) {
                short re = pfd[1 + 2 * i + (size_t)side].revents;
                if (re & (POLLIN | POLLHUP | POLLERR))
                    if (!c->dir[side].eof)
                        read_side(c, &c->dir[side]);
            }
        }
        if (pfd[0].revents & POLLIN) {
            for (;;) {
                int cfd = accept4(lfd, NULL, NULL,
                                  SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0)
                    break;
                set_nodelay(cfd);
                if (n_conns == RELAY_CONN_MAX) {
                    close(cfd);
                    break;
                }
                conn *c = conn_new(cfd, &target);
                if (c != NULL)
                    conns[n_conns++] = c;
            }
        }
    }

    for (size_t i = 0; i < n_conns; i++)
        conn_free(conns[i]);
    close(lfd);
    return 0;
}
