/*
 * hostile.c - a small scriptable hostile RESP server, for tests.
 *
 *   hostile --port-file FILE --mode MODE [--delay-ms N] [--count N]
 *           [--pid-file FILE] [--lifetime S] [--verbose]
 *
 * Listens on 127.0.0.1 on an ephemeral port (plain TCP, never TLS, never
 * another address) and writes the port number to FILE, created atomically
 * (written to FILE.tmpPID, then renamed), so a script that sees the file
 * sees all of it; --pid-file FILE does the same with the process id. It
 * then serves any number of connections at once until SIGTERM or SIGINT,
 * which end it with exit status 0.
 *
 * Requests are RESP arrays of bulk strings, or inline commands (one line,
 * words separated by blanks); both may arrive split across reads or
 * several in one read (pipelined). Command names are case-insensitive.
 *
 *   PING [msg]         +PONG (a bulk msg when given)
 *   ECHO x             bulk x
 *   HELLO [p [...]]    p = 3: the RESP3 map (%7: server, version, proto,
 *                      id, mode, role, modules) real Redis sends, and the
 *                      connection speaks RESP3 from then on; p = 2 or no
 *                      p: the same as a flat array (*14) in the current
 *                      protocol; other p: -NOPROTO; not an integer: -ERR.
 *                      Options after p (AUTH, SETNAME) are ignored.
 *   AUTH ...           +OK
 *   SET k v [...]      +OK; the pair is kept in one store shared by every
 *                      connection (at most STORE_MAX_KEYS keys and
 *                      STORE_MAX_BYTES bytes, else -ERR)
 *   GET k              bulk v, or nil: $-1 in RESP2, _ in RESP3
 *   SELECT n           +OK
 *   CLIENT ...         +OK
 *   QUIT               +OK, then the connection is closed
 *   anything else      -ERR unknown command '<name>'
 * A wrong argument count gives -ERR wrong number of arguments; a malformed
 * request gives -ERR Protocol error: ... and the connection is closed.
 *
 * Modes: the hostility applies to the reply of every command except HELLO
 * and AUTH (so a client completes its handshake normally).
 *   normal         as above
 *   stray          after each reply, --delay-ms N (default 50) later, one
 *                  unsolicited copy of that reply. The output of a
 *                  connection is a FIFO: a reply to a later command waits
 *                  behind a pending stray, so `ECHO tag-1`, then `ECHO
 *                  tag-2` sent within the delay, reads "tag-1" as the
 *                  reply to tag-2. With --delay-ms 0 the copy goes in the
 *                  same write, right after the reply. QUIT gets no copy.
 *   push           on a connection that did HELLO 3, each reply is
 *                  preceded, in the same write, by the RESP3 push
 *                  >2 $10 invalidate *1 $<len> <key> (key: the key of GET
 *                  and SET, "x" for other commands); RESP2: as normal
 *   trickle        each reply is sent one byte per write, --delay-ms N
 *                  (default 100) between bytes (also between the last
 *                  byte of a reply and the first of the next)
 *   huge-array     GET (any key) answers an array of --count N (default
 *                  12,000,000) elements ":1234567\r\n", generated while
 *                  the client reads (STREAM_BUF bytes at a time, never the
 *                  whole reply in memory); other commands as normal
 *   huge-announce  GET answers an array header announcing --count N
 *                  (default 536,870,912) elements, at most ANNOUNCE_SENT
 *                  elements, then nothing: the connection stays open but
 *                  ignores whatever else it is sent
 *   trickle-all    as trickle, for HELLO and AUTH too (a slow handshake)
 *   close-mid      GET answers "$<len>\r\n" and the first half of the bulk
 *                  (the stored value when it has two bytes or more, else
 *                  CLOSE_MID_FILLER bytes of 'x'), then closes
 *
 * Bounds: at most CONN_MAX connections (more are accepted and closed at
 * once); a request larger than IN_MAX bytes (or with more than ARGS_MAX
 * arguments, or a bulk over BULK_MAX) is a protocol error; a connection
 * stops reading and parsing while more than OUT_HIGH bytes of replies
 * wait for it (so a client that writes requests worth more than OUT_HIGH
 * of replies, plus what the socket buffers hold, before it reads any
 * waits for itself, as with any server with bounded buffers). All
 * sockets are non-blocking and one ppoll() loop serves them all: a client
 * that stops reading holds only its own connection, one that goes away
 * is dropped when a send or a read fails. A connection
 * that is closed by the server half-closes first and is then given
 * LINGER_MS to close its side (its input is discarded), so what was sent
 * is not lost to a reset. --lifetime S (default 0: none) ends the server
 * with status 1 after S seconds, a guard against a test that forgets it.
 *
 * Output: nothing on stdout. On stderr: with --verbose, one line per
 * accepted connection and the counters at exit; on SIGUSR1, one line of
 * counters (connections, commands, replies, strays, pushes, bytes sent);
 * errors as one line "hostile: ...". Exit status: 0 after SIGTERM/SIGINT,
 * 1 on a start-up error or when --lifetime runs out, 2 on a usage error.
 *
 * Allocations are bounded by the limits above; if one fails anyway the
 * server says so and exits 1 (a test tool: no partial recovery).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONN_MAX 256
#define IN_MAX (1024 * 1024)     /* one request, at most */
#define READ_CHUNK (64 * 1024)
#define INLINE_MAX (64 * 1024)   /* one inline line, at most */
#define ARGS_MAX 1024
#define BULK_MAX (512 * 1024)
#define OUT_HIGH (4 * 1024 * 1024) /* queued reply bytes: back pressure */
#define CHUNK_COST 64            /* bookkeeping counted per queued chunk */
#define STREAM_BUF (64 * 1024)
#define SEND_BUDGET (1024 * 1024) /* bytes per connection per loop turn */
#define LINGER_MS 1000
#define STORE_MAX_KEYS 1024
#define STORE_MAX_BYTES (16 * 1024 * 1024)
#define DELAY_MAX_MS 600000L
#define ANNOUNCE_SENT 3
#define CLOSE_MID_FILLER 100
#define HUGE_ELEMENT ":1234567\r\n"
#define HUGE_ELEMENT_LEN (sizeof HUGE_ELEMENT - 1)
#define SERVER_VERSION "7.2.4"

enum mode {
    M_NORMAL,
    M_STRAY,
    M_PUSH,
    M_TRICKLE,
    M_HUGE_ARRAY,
    M_HUGE_ANNOUNCE,
    M_CLOSE_MID,
    M_TRICKLE_ALL
};

static const char *const mode_names[] = {
    "normal", "stray", "push", "trickle", "huge-array", "huge-announce",
    "close-mid", "trickle-all"
};

/* One piece of a connection's output, in FIFO order. A data chunk holds
 * its bytes (data[off..len) not yet sent; replies without a wait, a pace
 * or a close are appended to a plain tail chunk rather than queued one by
 * one); a stream chunk (huge-array) holds only the count of elements
 * still to generate and is written through the connection's staging
 * buffer. */
typedef struct chunk {
    struct chunk *next;
    uint64_t wait_ns;  /* not before this long after the previous chunk */
    uint64_t due_ns;   /* not before this instant (0: at once) */
    uint64_t pace_ns;  /* > 0: one byte per write, this long apart */
    long long stream_left; /* stream chunk: elements not yet generated */
    int stream;
    int close_after;   /* half-close the connection once written */
    char *data;
    size_t len, off, cap;
} chunk;

typedef struct conn {
    int fd;
    unsigned long id;
    int proto;              /* 2 or 3 */
    char *in;               /* unparsed input */
    size_t in_len, in_cap;
    chunk *head, *tail;
    size_t out_cost;        /* unsent bytes + CHUNK_COST per chunk */
    uint64_t next_byte_ns;  /* trickle: the next paced byte, not before */
    char *sbuf;             /* staging buffer of the stream chunk */
    size_t s_len, s_off;
    int peer_eof;   /* the peer closed its side (recv returned 0) */
    int no_input;   /* no more requests: input is read and discarded */
    int blocked;    /* the last send would block: wait for POLLOUT */
    int more;       /* the send budget ran out with bytes ready */
    int closing;    /* half-closed by us, waiting for the peer's EOF */
    uint64_t linger_until;
    int dead;
} conn;

/* A slice of the input buffer: one argument of a request. */
typedef struct arg {
    const char *p;
    size_t n;
} arg;

/* A growable byte buffer (replies are built in one). */
typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

typedef struct entry {
    char *key, *val;
    size_t klen, vlen;
} entry;

static enum mode opt_mode = M_NORMAL;
static long opt_delay_ms = -1;   /* -1: the mode's default */
static long long opt_count = -1; /* -1: the mode's default */
static long opt_lifetime_s;
static int opt_verbose;

static volatile sig_atomic_t stop_requested, stats_requested;

static entry store[STORE_MAX_KEYS];
static size_t store_n, store_bytes;

static unsigned long n_connections, n_commands, n_replies, n_strays,
    n_pushes;
static unsigned long long n_bytes_out;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_usr1(int sig)
{
    (void)sig;
    stats_requested = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Exits 1 with a message: only when an allocation within the documented
 * bounds fails, i.e. the machine is out of memory. */
static void out_of_memory(void)
{
    fputs("hostile: out of memory\n", stderr);
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n != 0 ? n : 1);
    if (q == NULL)
        out_of_memory();
    return q;
}

static void buf_add(buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap != 0 ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void buf_str(buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void buf_printf(buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void buf_printf(buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* "$<n>\r\n<p>\r\n" */
static void buf_bulk(buf *b, const char *p, size_t n)
{
    buf_printf(b, "$%zu\r\n", n);
    buf_add(b, p, n);
    buf_str(b, "\r\n");
}

static int arg_is(const arg *a, const char *s)
{
    size_t n = strlen(s);
    return a->n == n && strncasecmp(a->p, s, n) == 0;
}

/* Parses a decimal long long in [lo, hi] from exactly p[0..n). */
static int parse_ll(const char *p, size_t n, long long lo, long long hi,
                    long long *out)
{
    char tmp[32];
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (*end != '\0' || errno != 0 || v < lo || v > hi ||
        isspace((unsigned char)tmp[0]))
        return -1;
    *out = v;
    return 0;
}

/* ---- the key store ---------------------------------------------------- */

static entry *store_find(const arg *k)
{
    for (size_t i = 0; i < store_n; i++)
        if (store[i].klen == k->n && memcmp(store[i].key, k->p, k->n) == 0)
            return &store[i];
    return NULL;
}

/* Sets k to v; -1 (nothing changed) when the store's bounds forbid it. */
static int store_set(const arg *k, const arg *v)
{
    entry *e = store_find(k);
    size_t old = e != NULL ? e->vlen : 0;
    size_t add = e != NULL ? 0 : k->n;
    if (store_bytes - old + add + v->n > STORE_MAX_BYTES ||
        (e == NULL && store_n == STORE_MAX_KEYS))
        return -1;
    if (e == NULL) {
        e = &store[store_n++];
        e->key = xrealloc(NULL, k->n);
        memcpy(e->key, k->p, k->n);
        e->klen = k->n;
        e->val = NULL;
        e->vlen = 0;
    }
    e->val = xrealloc(e->val, v->n);
    memcpy(e->val, v->p, v->n);
    store_bytes = store_bytes - old + add + v->n;
    e->vlen = v->n;
    return 0;
}

static void store_free(void)
{
    for (size_t i = 0; i < store_n; i++) {
        free(store[i].key);
        free(store[i].val);
    }
    store_n = 0;
    store_bytes = 0;
}

/* ---- output queue ----------------------------------------------------- */

/* A plain chunk: sent at once, at full speed, and nothing after it. */
static int is_plain(const chunk *k)
{
    return !k->stream && k->wait_ns == 0 && k->pace_ns == 0 &&
           !k->close_after;
}

/* Appends p[0..n) to k's bytes (growing its buffer by doubling; the sent
 * prefix is dropped first once it is half of the buffer). */
static void chunk_add(chunk *k, const void *p, size_t n)
{
    if (k->off > 0 && k->off >= k->len / 2) {
        memmove(k->data, k->data + k->off, k->len - k->off);
        k->len -= k->off;
        k->off = 0;
    }
    if (k->len + n > k->cap) {
        size_t cap = k->cap != 0 ? k->cap : 256;
        while (cap < k->len + n)
            cap *= 2;
        k->data = xrealloc(k->data, cap);
        k->cap = cap;
    }
    if (n != 0)
        memcpy(k->data + k->len, p, n);
    k->len += n;
}

/* Queues a copy of p[0..n) on c's output: appended to the tail chunk when
 * both are plain, else as a new chunk (n may be 0 for a stream chunk),
 * which is returned. The first chunk of an empty queue, and a chunk with
 * wait_ns, get their due time when they reach the head. */
static chunk *enqueue(conn *c, const void *p, size_t n, uint64_t wait_ns,
                      uint64_t pace_ns)
{
    chunk *t = c->tail;
    if (t != NULL && n != 0 && wait_ns == 0 && pace_ns == 0 && is_plain(t)) {
        chunk_add(t, p, n);
        c->out_cost += n;
        return t;
    }
    chunk *k = xrealloc(NULL, sizeof *k);
    memset(k, 0, sizeof *k);
    chunk_add(k, p, n);
    k->wait_ns = wait_ns;
    k->pace_ns = pace_ns;
    if (t != NULL) {
        t->next = k;
    } else {
        c->head = k;
        k->due_ns = wait_ns != 0 ? now_ns() + wait_ns : 0;
    }
    c->tail = k;
    c->out_cost += n + CHUNK_COST;
    return k;
}

static void chunk_free(chunk *k)
{
    free(k->data);
    free(k);
}

static void free_queue(conn *c)
{
    while (c->head != NULL) {
        chunk *k = c->head;
        c->head = k->next;
        chunk_free(k);
    }
    c->tail = NULL;
    c->out_cost = 0;
    c->s_len = c->s_off = 0;
}

/* Removes the head chunk (written); starts the next one's wait. */
static void pop_head(conn *c, uint64_t now)
{
    chunk *k = c->head;
    c->head = k->next;
    if (c->head == NULL)
        c->tail = NULL;
    else if (c->head->wait_ns != 0)
        c->head->due_ns = now + c->head->wait_ns;
    c->out_cost -= k->len - k->off + CHUNK_COST;
    chunk_free(k);
}

/* ---- replies ---------------------------------------------------------- */

/* What a command asks of the output, besides its reply bytes. */
typedef struct reply {
    buf b;
    int hostile;      /* stray/push/trickle apply (not HELLO, AUTH, errors
                         of the protocol) */
    int close_after;  /* QUIT, protocol error, close-mid */
    int silence;      /* huge-announce: ignore the rest of the input */
    long long stream; /* huge-array: elements to generate after b */
    arg key;          /* push: the key (NULL p: "x") */
} reply;

static void hello_reply(conn *c, buf *b)
{
    static const char *const fields[] = { "server", "version", "proto",
                                          "id", "mode", "role", "modules" };
    buf_str(b, c->proto == 3 ? "%7\r\n" : "*14\r\n");
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        buf_bulk(b, fields[i], strlen(fields[i]));
        switch (i) {
        case 0: buf_bulk(b, "redis", 5); break;
        case 1: buf_bulk(b, SERVER_VERSION, strlen(SERVER_VERSION)); break;
        case 2: buf_printf(b, ":%d\r\n", c->proto); break;
        case 3: buf_printf(b, ":%lu\r\n", c->id); break;
        case 4: buf_bulk(b, "standalone", 10); break;
        case 5: buf_bulk(b, "master", 6); break;
        default: buf_str(b, "*0\r\n"); break;
        }
    }
}

static void nil_reply(conn *c, buf *b)
{
    buf_str(b, c->proto == 3 ? "_\r\n" : "$-1\r\n");
}

static void arity_error(buf *b, const arg *name)
{
    buf_str(b, "-ERR wrong number of arguments for '");
    for (size_t i = 0; i < name->n && i < 64; i++) {
        unsigned char ch = (unsigned char)name->p[i];
        char lc = (char)(isprint(ch) ? tolower(ch) : '?');
        buf_add(b, &lc, 1);
    }
    buf_str(b, "' command\r\n");
}

/* Builds the reply to one request argv[0..argc) (argc >= 1) into r. */
static void dispatch(conn *c, const arg *argv, size_t argc, reply *r)
{
    buf *b = &r->b;
    const arg *cmd = &argv[0];
    r->hostile = 1;
    if (arg_is(cmd, "PING")) {
        if (argc == 1)
            buf_str(b, "+PONG\r\n");
        else if (argc == 2)
            buf_bulk(b, argv[1].p, argv[1].n);
        else
            arity_error(b, cmd);
    } else if (arg_is(cmd, "ECHO")) {
        if (argc == 2)
            buf_bulk(b, argv[1].p, argv[1].n);
        else
            arity_error(b, cmd);
    } else if (arg_is(cmd, "HELLO")) {
        r->hostile = opt_mode == M_TRICKLE_ALL;
        long long p = c->proto;
        if (argc >= 2 && parse_ll(argv[1].p, argv[1].n, LLONG_MIN, LLONG_MAX,
                                  &p) != 0) {
            buf_str(b, "-ERR Protocol version is not an integer or out of "
                       "range\r\n");
        } else if (p != 2 && p != 3) {
            buf_str(b, "-NOPROTO unsupported protocol version\r\n");
        } else {
            c->proto = (int)p;
            hello_reply(c, b);
        }
    } else if (arg_is(cmd, "AUTH")) {
        r->hostile = opt_mode == M_TRICKLE_ALL;
        buf_str(b, "+OK\r\n");
    } else if (arg_is(cmd, "SET")) {
        if (argc < 3) {
            arity_error(b, cmd);
        } else {
            r->key = argv[1];
            if (store_set(&argv[1], &argv[2]) == 0)
                buf_str(b, "+OK\r\n");
            else
                buf_str(b, "-ERR hostile: the key store is full\r\n");
        }
    } else if (arg_is(cmd, "GET")) {
        if (argc != 2) {
            arity_error(b, cmd);
            return;
        }
        r->key = argv[1];
        entry *e = store_find(&argv[1]);
        switch (opt_mode) {
        case M_HUGE_ARRAY:
            buf_printf(b, "*%lld\r\n", opt_count);
            r->stream = opt_count;
            break;
        case M_HUGE_ANNOUNCE:
            buf_printf(b, "*%lld\r\n", opt_count);
            for (long long i = 0; i < opt_count && i < ANNOUNCE_SENT; i++)
                buf_str(b, HUGE_ELEMENT);
            r->silence = 1;
            break;
        case M_CLOSE_MID: {
            char filler[CLOSE_MID_FILLER];
            const char *v = filler;
            size_t n = sizeof filler;
            memset(filler, 'x', sizeof filler);
            if (e != NULL && e->vlen >= 2) {
                v = e->val;
                n = e->vlen;
            }
            buf_printf(b, "$%zu\r\n", n);
            buf_add(b, v, n / 2);
            r->close_after = 1;
            break;
        }
        default:
            if (e != NULL)
                buf_bulk(b, e->val, e->vlen);
            else
                nil_reply(c, b);
            break;
        }
    } else if (arg_is(cmd, "SELECT")) {
        if (argc == 2)
            buf_str(b, "+OK\r\n");
        else
            arity_error(b, cmd);
    } else if (arg_is(cmd, "CLIENT")) {
        buf_str(b, "+OK\r\n");
    } else if (arg_is(cmd, "QUIT")) {
        buf_str(b, "+OK\r\n");
        r->close_after = 1;
    } else {
        buf_str(b, "-ERR unknown command '");
        for (size_t i = 0; i < cmd->n && i < 128; i++) {
            unsigned char ch = (unsigned char)cmd->p[i];
            char out = (char)(isprint(ch) && ch != '\'' ? ch : '?');
            buf_add(b, &out, 1);
        }
        buf_str(b, "'\r\n");
    }
}

static uint64_t delay_ns(void)
{
    return (uint64_t)opt_delay_ms * 1000000u;
}

/* Queues reply r on c the way the mode wants it. */
static void send_reply(conn *c, reply *r)
{
    int hostile = r->hostile;
    n_replies++;
    if (hostile && opt_mode == M_PUSH && c->proto == 3) {
        buf pre = { 0 };
        const char *k = r->key.p != NULL ? r->key.p : "x";
        size_t kn = r->key.p != NULL ? r->key.n : 1;
        buf_str(&pre, ">2\r\n$10\r\ninvalidate\r\n*1\r\n");
        buf_bulk(&pre, k, kn);
        buf_add(&pre, r->b.p, r->b.len);
        enqueue(c, pre.p, pre.len, 0, 0);
        free(pre.p);
        n_pushes++;
    } else if (hostile && opt_mode == M_STRAY && !r->close_after) {
        if (opt_delay_ms == 0) {
            buf two = { 0 };
            buf_add(&two, r->b.p, r->b.len);
            buf_add(&two, r->b.p, r->b.len);
            enqueue(c, two.p, two.len, 0, 0);
            free(two.p);
        } else {
            enqueue(c, r->b.p, r->b.len, 0, 0);
            enqueue(c, r->b.p, r->b.len, delay_ns(), 0);
        }
        n_strays++;
    } else if (hostile && (opt_mode == M_TRICKLE ||
                           opt_mode == M_TRICKLE_ALL)) {
        enqueue(c, r->b.p, r->b.len, 0, delay_ns());
    } else {
        enqueue(c, r->b.p, r->b.len, 0, 0);
    }
    if (r->stream > 0) {
        chunk *k = enqueue(c, NULL, 0, 0, 0);
        k->stream = 1;
        k->stream_left = r->stream;
    }
    if (r->close_after) {
        c->tail->close_after = 1;
        c->no_input = 1;
    }
    if (r->silence)
        c->no_input = 1;
}

/* ---- request parsing -------------------------------------------------- */

/* Finds "\r\n" in p[0..n); its offset, or -1. */
static long find_crlf(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == '\r' && p[i + 1] == '\n')
            return (long)i;
    return -1;
}

/* Parses one request at the start of p[0..n).
 * Returns 1 with argv[0..*argc) (slices of p) and *used bytes consumed
 * (*argc may be 0: an empty request, to be ignored), 0 when the request
 * is not complete yet, -1 on a protocol error with a message in *err. */
static int parse_request(const char *p, size_t n, arg *argv, size_t *argc,
                         size_t *used, const char **err)
{
    *argc = 0;
    if (n == 0)
        return 0;
    if (p[0] != '*') {
        /* Inline: one line, words separated by blanks. */
        const char *nl = memchr(p, '\n', n);
        if (nl == NULL) {
            if (n > INLINE_MAX) {
                *err = "too big inline request";
                return -1;
            }
            return 0;
        }
        size_t end = (size_t)(nl - p);
        *used = end + 1;
        if (end > 0 && p[end - 1] == '\r')
            end--;
        size_t i = 0;
        while (i < end) {
            while (i < end && (p[i] == ' ' || p[i] == '\t'))
                i++;
            if (i == end)
                break;
            size_t s = i;
            while (i < end && p[i] != ' ' && p[i] != '\t')
                i++;
            if (*argc == ARGS_MAX) {
                *err = "too many arguments";
                return -1;
            }
            argv[(*argc)++] = (arg){ p + s, i - s };
        }
        return 1;
    }
    long e = find_crlf(p, n);
    if (e < 0) {
        if (n > 32) {
            *err = "invalid multibulk length";
            return -1;
        }
        return 0;
    }
    long long count;
    if (parse_ll(p + 1, (size_t)e - 1, LLONG_MIN, ARGS_MAX, &count) != 0) {
        *err = "invalid multibulk length";
        return -1;
    }
    size_t pos = (size_t)e + 2;
    for (long long i = 0; i < count; i++) {
        if (pos >= n)
            return 0;
        if (p[pos] != '$') {
            *err = "expected '$'";
            return -1;
        }
        e = find_crlf(p + pos, n - pos);
        if (e < 0) {
            if (n - pos > 32) {
                *err = "invalid bulk length";
                return -1;
            }
            return 0;
        }
        long long len;
        if (parse_ll(p + pos + 1, (size_t)e - 1, 0, BULK_MAX, &len) != 0) {
            *err = "invalid bulk length";
            return -1;
        }
        pos += (size_t)e + 2;
        if (n - pos < (size_t)len + 2)
            return 0;
        if (p[pos + (size_t)len] != '\r' || p[pos + (size_t)len + 1] != '\n') {
            *err = "bulk not followed by CRLF";
            return -1;
        }
        argv[(*argc)++] = (arg){ p + pos, (size_t)len };
        pos += (size_t)len + 2;
    }
    *used = pos;
    return 1;
}

/* Answers the complete requests in c's input while its output is under
 * OUT_HIGH; keeps an incomplete one for the next read. */
static void process_input(conn *c)
{
    static arg argv[ARGS_MAX];
    size_t off = 0;
    while (!c->no_input && c->out_cost < OUT_HIGH && off < c->in_len) {
        size_t argc = 0, used = 0;
        const char *err = NULL;
        int r = parse_request(c->in + off, c->in_len - off, argv, &argc,
                              &used, &err);
        if (r == 0) {
            if (c->in_len - off >= IN_MAX) {
                r = -1;
                err = "request too large";
            } else {
                break;
            }
        }
        if (r < 0) {
            reply rp = { .close_after = 1 };
            buf_printf(&rp.b, "-ERR Protocol error: %s\r\n", err);
            send_reply(c, &rp);
            free(rp.b.p);
            break;
        }
        off += used;
        if (argc == 0)
            continue;
        n_commands++;
        reply rp = { 0 };
        dispatch(c, argv, argc, &rp);
        send_reply(c, &rp);
        free(rp.b.p);
    }
    if (c->no_input)
        off = c->in_len;
    if (off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
}

/* ---- connections ------------------------------------------------------ */

static void set_nodelay(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void conn_free(conn *c)
{
    free_queue(c);
    free(c->in);
    free(c->sbuf);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

/* Half-closes c once its last chunk is written: the peer sees EOF after
 * every byte; c then waits (reading and discarding) for the peer's EOF,
 * at most LINGER_MS. */
static void start_closing(conn *c, uint64_t now)
{
    free_queue(c);
    c->no_input = 1;
    c->in_len = 0;
    c->closing = 1;
    c->linger_until = now + (uint64_t)LINGER_MS * 1000000u;
    if (shutdown(c->fd, SHUT_WR) != 0 || c->peer_eof)
        c->dead = 1;
}

/* Sends one piece of the head chunk k. Returns the bytes sent, 0 when the
 * socket would block (c->blocked set), -1 when the connection failed. */
static ssize_t send_some(conn *c, const char *p, size_t n)
{
    ssize_t w;
    do
        w = send(c->fd, p, n, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->blocked = 1;
            return 0;
        }
        c->dead = 1;
        return -1;
    }
    n_bytes_out += (unsigned long long)w;
    return w;
}

/* Writes what is due of c's output without blocking, at most SEND_BUDGET
 * bytes (c->more set when bytes were left ready for the next turn). */
static void flush_output(conn *c, uint64_t now)
{
    size_t budget = SEND_BUDGET;
    c->blocked = 0;
    c->more = 0;
    while (c->head != NULL && !c->dead) {
        chunk *k = c->head;
        if (k->due_ns > now)
            return;
        if (budget == 0) {
            c->more = 1;
            return;
        }
        ssize_t w = 0;
        if (k->stream) {
            if (c->s_off == c->s_len) {
                if (k->stream_left == 0) {
                    pop_head(c, now);
                    continue;
                }
                if (c->sbuf == NULL)
                    c->sbuf = xrealloc(NULL, STREAM_BUF);
                long long fit = STREAM_BUF / HUGE_ELEMENT_LEN;
                long long m = k->stream_left < fit ? k->stream_left : fit;
                for (long long i = 0; i < m; i++)
                    memcpy(c->sbuf + (size_t)i * HUGE_ELEMENT_LEN,
                           HUGE_ELEMENT, HUGE_ELEMENT_LEN);
                k->stream_left -= m;
                c->s_len = (size_t)m * HUGE_ELEMENT_LEN;
                c->s_off = 0;
            }
            w = send_some(c, c->sbuf + c->s_off, c->s_len - c->s_off);
            if (w <= 0)
                return;
            c->s_off += (size_t)w;
        } else if (k->pace_ns != 0) {
            if (c->next_byte_ns > now)
                return;
            if (k->off < k->len) {
                w = send_some(c, k->data + k->off, 1);
                if (w <= 0)
                    return;
                k->off++;
                c->out_cost--;
                c->next_byte_ns = now + k->pace_ns;
            }
        } else if (k->off < k->len) {
            w = send_some(c, k->data + k->off, k->len - k->off);
            if (w <= 0)
                return;
            k->off += (size_t)w;
            c->out_cost -= (size_t)w;
        }
        budget = (size_t)w < budget ? budget - (size_t)w : 0;
        if (!k->stream && k->off == k->len) {
            int close_after = k->close_after;
            pop_head(c, now);
            if (close_after) {
                start_closing(c, now);
                return;
            }
        }
    }
}

/* Reads what c's socket has; at end of stream sets c->peer_eof. Input is
 * discarded once no more requests are taken. With IN_MAX bytes already
 * unparsed it reads nothing (wanted_events() does not ask for POLLIN then;
 * a peer that goes away meanwhile is seen when a send fails). */
static void read_input(conn *c)
{
    char tmp[READ_CHUNK];
    char *dst = tmp;
    if (!c->no_input && !c->closing) {
        if (c->in_len >= IN_MAX)
            return;
        if (c->in_cap - c->in_len < READ_CHUNK) {
            c->in_cap = c->in_len + READ_CHUNK;
            c->in = xrealloc(c->in, c->in_cap);
        }
        dst = c->in + c->in_len;
    }
    ssize_t n;
    do
        n = recv(c->fd, dst, READ_CHUNK, 0);
    while (n < 0 && errno == EINTR);
    if (n == 0) {
        c->peer_eof = 1;
        if (c->closing)
            c->dead = 1;
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            c->dead = 1;
        return;
    }
    if (dst != tmp)
        c->in_len += (size_t)n;
}

/* The poll events c waits for now (0: none, only a timer). */
static short wanted_events(const conn *c)
{
    short ev = 0;
    if (!c->peer_eof && (c->closing || c->no_input || c->in_len < IN_MAX))
        ev |= POLLIN;
    if (c->blocked)
        ev |= POLLOUT;
    return ev;
}

/* The next instant c must be looked at without an event (UINT64_MAX:
 * none). */
static uint64_t next_timer(const conn *c)
{
    if (c->closing)
        return c->linger_until;
    if (c->more)
        return 0;
    if (c->head == NULL || c->blocked)
        return UINT64_MAX;
    uint64_t t = c->head->due_ns;
    if (c->head->pace_ns != 0 && c->next_byte_ns > t)
        t = c->next_byte_ns;
    return t;
}

/* ---- start-up --------------------------------------------------------- */

/* Writes "VALUE\n" to path through a temporary file and a rename. */
static int write_file_atomic(const char *path, long value)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >=
        (int)sizeof tmp)
        return -1;
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%ld\n", value);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void print_stats(void)
{
    fprintf(stderr,
            "hostile: mode=%s connections=%lu commands=%lu replies=%lu "
            "strays=%lu pushes=%lu bytes_out=%llu\n",
            mode_names[opt_mode], n_connections, n_commands, n_replies,
            n_strays, n_pushes, n_bytes_out);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hostile --port-file FILE --mode MODE [--delay-ms N] "
            "[--count N]\n"
            "               [--pid-file FILE] [--lifetime S] [--verbose]\n"
            "  MODE: normal stray push trickle huge-array huge-announce "
            "close-mid\n"
            "  serves RESP on 127.0.0.1:<ephemeral> (port written to FILE) "
            "until SIGTERM\n");
}

/* Parses argv into the opt_* globals; returns 0, or the exit status. */
static int parse_options(int argc, char **argv, const char **port_file,
                         const char **pid_file)
{
    static const struct option longopts[] = {
        { "port-file", required_argument, NULL, 'p' },
        { "pid-file", required_argument, NULL, 'P' },
        { "mode", required_argument, NULL, 'm' },
        { "delay-ms", required_argument, NULL, 'd' },
        { "count", required_argument, NULL, 'c' },
        { "lifetime", required_argument, NULL, 'l' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int have_mode = 0, opt;
    long long v;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            *port_file = optarg;
            break;
        case 'P':
            *pid_file = optarg;
            break;
        case 'm':
            have_mode = 0;
            for (size_t i = 0; i < sizeof mode_names / sizeof mode_names[0];
                 i++)
                if (strcmp(optarg, mode_names[i]) == 0) {
                    opt_mode = (enum mode)i;
                    have_mode = 1;
                }
            if (!have_mode) {
                fprintf(stderr, "hostile: unknown mode '%s'\n", optarg);
                return 2;
            }
            break;
        case 'd':
            if (parse_ll(optarg, strlen(optarg), 0, DELAY_MAX_MS, &v) != 0) {
                fprintf(stderr, "hostile: --delay-ms: expected 0 to %ld, "
                                "got '%s'\n", DELAY_MAX_MS, optarg);
                return 2;
            }
            opt_delay_ms = (long)v;
            break;
        case 'c':
            if (parse_ll(optarg, strlen(optarg), 0, LLONG_MAX, &v) != 0) {
                fprintf(stderr, "hostile: --count: expected a count, got "
                                "'%s'\n", optarg);
                return 2;
            }
            opt_count = v;
            break;
        case 'l':
            if (parse_ll(optarg, strlen(optarg), 0, 86400, &v) != 0) {
                fprintf(stderr, "hostile: --lifetime: expected 0 to 86400 "
                                "seconds, got '%s'\n", optarg);
                return 2;
            }
            opt_lifetime_s = (long)v;
            break;
        case 'v':
            opt_verbose = 1;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || *port_file == NULL || !have_mode) {
        usage(stderr);
        return 2;
    }
    if (opt_delay_ms < 0)
        opt_delay_ms = opt_mode == M_TRICKLE || opt_mode == M_TRICKLE_ALL
                           ? 100 : 50;
    if (opt_count < 0)
        opt_count = opt_mode == M_HUGE_ANNOUNCE ? 536870912LL : 12000000LL;
    return 0;
}

int main(int argc, char **argv)
{
    const char *port_file = NULL, *pid_file = NULL;
    int st = parse_options(argc, argv, &port_file, &pid_file);
    if (st != 0)
        return st < 0 ? 0 : st;

    /* SIGTERM, SIGINT and SIGUSR1 are blocked except inside ppoll(), so
     * they are only ever taken there. */
    sigset_t block, wait_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &wait_mask);
    sigdelset(&wait_mask, SIGTERM);
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGUSR1);
    struct sigaction sa = { .sa_handler = on_stop };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof addr;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(lfd, 128) != 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen) != 0) {
        fprintf(stderr, "hostile: cannot listen on 127.0.0.1: %s\n",
                strerror(errno));
        return 1;
    }
    if (pid_file != NULL && write_file_atomic(pid_file, (long)getpid()) != 0) {
        fprintf(stderr, "hostile: cannot write %s: %s\n", pid_file,
                strerror(errno));
        return 1;
    }
    /* The port file last: once it exists, everything else is in place. */
    if (write_file_atomic(port_file, (long)ntohs(addr.sin_port)) != 0) {
        fprintf(stderr, "hostile: cannot write %s: %s\n", port_file,
                strerror(errno));
        return 1;
    }

    static conn *conns[CONN_MAX];
    static struct pollfd pfd[1 + CONN_MAX];
    size_t n_conns = 0;
    unsigned long next_id = 1;
    uint64_t deadline = opt_lifetime_s > 0
                            ? now_ns() + (uint64_t)opt_lifetime_s * 1000000000u
                            : UINT64_MAX;
    int rc = 0;

    while (!stop_requested) {
        uint64_t now = now_ns();
        if (now >= deadline) {
            fprintf(stderr, "hostile: --lifetime %ld s ran out\n",
                    opt_lifetime_s);
            rc = 1;
            break;
        }
        if (stats_requested) {
            stats_requested = 0;
            print_stats();
        }

        /* Answer, write, retire; find the earliest timer. */
        uint64_t next = deadline;
        for (size_t i = 0; i < n_conns;) {
            conn *c = conns[i];
            if (!c->closing) {
                process_input(c);
                flush_output(c, now);
                if (!c->closing && c->peer_eof && c->head == NULL) {
                    /* Requests held back by OUT_HIGH may remain; once
                     * they are answered, nothing more can come or go. */
                    process_input(c);
                    if (c->head == NULL)
                        c->dead = 1;
                }
            } else if (now >= c->linger_until) {
                c->dead = 1;
            }
            if (c->dead) {
                conn_free(c);
                conns[i] = conns[--n_conns];
                continue;
            }
            uint64_t t = next_timer(c);
            if (t < next)
                next = t;
            i++;
        }

        size_t np = 0;
        pfd[np++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
        for (size_t i = 0; i < n_conns; i++) {
            short ev = wanted_events(conns[i]);
            /* No interest: a negative fd, so that a POLLHUP on a socket we
             * no longer read cannot wake the loop in a spin. */
            pfd[np++] = (struct pollfd){ .fd = ev != 0 ? conns[i]->fd : -1,
                                         .events = ev };
        }
        struct timespec ts, *tsp = NULL;
        if (next != UINT64_MAX) {
            uint64_t wait = next > now ? next - now : 0;
            ts.tv_sec = (time_t)(wait / 1000000000u);
            ts.tv_nsec = (long)(wait % 1000000000u);
            tsp = &ts;
        }
        int r = ppoll(pfd, np, tsp, &wait_mask);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "hostile: poll: %s\n", strerror(errno));
            rc = 1;
            break;
        }
        if (r == 0)
            continue;

        /* Reads first, accepts last, so the pollfd indexes still match
         * conns[]. A writable socket needs nothing here: the next turn
         * flushes it. */
        for (size_t i = 0; i < n_conns; i++)
            if (pfd[1 + i].revents & (POLLIN | POLLHUP | POLLERR))
                read_input(conns[i]);
        if (pfd[0].revents & POLLIN) {
            for (;;) {
                int cfd = accept4(lfd, NULL, NULL,
                                  SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0)
                    break;
                if (n_conns == CONN_MAX) {
                    close(cfd);
                    continue;
                }
                set_nodelay(cfd);
                conn *c = xrealloc(NULL, sizeof *c);
                memset(c, 0, sizeof *c);
                c->fd = cfd;
                c->id = next_id++;
                c->proto = 2;
                conns[n_conns++] = c;
                n_connections++;
                if (opt_verbose)
                    fprintf(stderr, "hostile: connection %lu accepted\n",
                            c->id);
            }
        }
    }

    if (opt_verbose)
        print_stats();
    for (size_t i = 0; i < n_conns; i++)
        conn_free(conns[i]);
    close(lfd);
    store_free();
    return rc;
}
