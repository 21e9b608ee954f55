/*
 * resp_reader.c - incremental RESP2/RESP3 reader (client side).
 *
 * The reader is decoupled from I/O: azr_reader_feed() appends bytes to a
 * buffer, azr_reader_get_reply() takes complete replies out of it.
 *
 * Parsing works one token at a time. A token is a type byte and its header
 * line, plus the payload for the length-prefixed types ($ ! =). A token is
 * consumed only when it is complete; until then the read offset stays at its
 * first byte, so a reply that arrives one byte at a time is parsed exactly
 * like one that arrives at once. Aggregates under construction live on an
 * explicit stack (at most max_depth frames), never on the C stack, so a
 * hostile nesting depth cannot overflow it.
 *
 * Every reply is linked into its parent as soon as it is created, so the
 * partial tree is always well formed and azr_reply_free() can release it.
 * Two kinds of replies are not linked into a parent and are owned by the
 * reader until they are complete: the root of the reply being built and an
 * attribute (RESP3 '|') being built. A complete attribute waits in
 * pending_attr[level] and is attached to the next reply created at that
 * level; attributes do not count as elements of the enclosing aggregate.
 *
 * An allocation failure leaves the reader exactly as it was before the token
 * (every allocation happens before anything is committed), so
 * azr_reader_get_reply() returns AZR_E_NOMEM and may be called again later.
 * A protocol error, in contrast, fails the reader for good.
 */
#include <ctype.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <azroute/azroute.h>

#define AZR_READER_DEFAULT_DEPTH 32u
#define AZR_READER_DEFAULT_MAX_LEN ((size_t)512 * 1024 * 1024)

/* Element arrays are allocated once the count is known, but never larger
 * than this up front: a six-byte "*99999999\r\n" must not allocate 800 MB.
 * Larger arrays grow by doubling as elements arrive. */
#define AZR_READER_PREALLOC 1024u

/* An empty buffer larger than this is released rather than kept, so that
 * one large reply does not pin its memory for the life of the reader. */
#define AZR_READER_KEEP_BUF (64u * 1024u)

/* An aggregate under construction. */
typedef struct azr_frame {
    azr_reply *reply;
    size_t want;  /* elements expected (2 * count for maps/attributes) */
    size_t cap;   /* allocated slots of reply->element */
    bool owned;   /* not linked into a parent: root or attribute */
    bool is_attr; /* an attribute: goes to pending_attr when complete */
} azr_frame;

struct azr_reader {
    char *buf;
    size_t cap;   /* allocated bytes of buf */
    size_t len;   /* bytes in buf */
    size_t pos;   /* read offset: first byte not yet consumed */
    size_t scan;  /* bytes after pos known to hold no line terminator */
    unsigned long long base; /* stream offset of buf[0], for messages */

    unsigned max_depth;
    size_t max_len;
    size_t max_reply;       /* memory bound of one reply (see charge()) */
    size_t charged;         /* memory charged to the reply being built */

    azr_frame *stack;       /* open aggregates, stack[0] is outermost */
    size_t depth;           /* frames in use */
    size_t stack_cap;
    azr_reply **pending_attr; /* stack_cap + 1 slots, one per level */

    locale_t c_locale;      /* for strtod_l: doubles use '.' whatever the
                               caller's locale */
    bool failed;
    char err[AZR_ERRBUF_SIZE];
};

/* Result of one parsing step. */
typedef enum step {
    STEP_MORE,      /* token incomplete: need more bytes */
    STEP_DONE,      /* token consumed */
    STEP_ERROR,     /* protocol error (reader failed) */
    STEP_NOMEM      /* allocation failed, nothing consumed */
} step;

static step fail(azr_reader *r, size_t at, const char *fmt, ...)
    AZR_PRINTF(3, 4);

/* Fails the reader with a message naming the stream offset `at` (an offset
 * into buf). The partial reply is released right away. */
static step fail(azr_reader *r, size_t at, const char *fmt, ...)
{
    char what[AZR_ERRBUF_SIZE - 48];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(r->err, sizeof r->err, "RESP protocol error at byte %llu: %s",
             r->base + (unsigned long long)at, what);
    r->failed = true;
    return STEP_ERROR;
}

azr_reader *azr_reader_new(unsigned max_depth, size_t max_len)
{
    azr_reader *r = calloc(1, sizeof *r);

    if (r == NULL)
        return NULL;
    r->max_depth = max_depth ? max_depth : AZR_READER_DEFAULT_DEPTH;
    r->max_len = max_len ? max_len : AZR_READER_DEFAULT_MAX_LEN;
    r->max_reply = AZR_READER_DEFAULT_MAX_REPLY;
    r->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (r->c_locale == (locale_t)0) {
        free(r);
        return NULL;
    }
    return r;
}

/* Releases the partial reply: every frame the reader owns and every
 * attribute waiting for its reply. */
static void release_partial(azr_reader *r)
{
    for (size_t i = 0; i < r->depth; i++)
        if (r->stack[i].owned)
            azr_reply_free(r->stack[i].reply);
    r->depth = 0;
    r->charged = 0;
    if (r->pending_attr != NULL)
        for (size_t i = 0; i <= r->stack_cap; i++) {
            azr_reply_free(r->pending_attr[i]);
            r->pending_attr[i] = NULL;
        }
}

void azr_reader_free(azr_reader *r)
{
    if (r == NULL)
        return;
    release_partial(r);
    free(r->stack);
    free(r->pending_attr);
    free(r->buf);
    freelocale(r->c_locale);
    free(r);
}

const char *azr_reader_error(const azr_reader *r)
{
    return (r != NULL && r->failed) ? r->err : "";
}

azr_code azr_reader_set_max_reply(azr_reader *r, size_t max_bytes)
{
    if (r == NULL)
        return AZR_E_INVALID_ARGUMENT;
    r->max_reply = max_bytes ? max_bytes : AZR_READER_DEFAULT_MAX_REPLY;
    return AZR_OK;
}

size_t azr_reader_pending(const azr_reader *r)
{
    return r != NULL ? r->len - r->pos : 0;
}

/*
 * Memory accounting of the reply being built. What one reply costs: a
 * reply structure per node of the tree, a slot per element, and every
 * payload byte (+1 for the NUL). An aggregate pays for its slots and its
 * children's structures when its header arrives, so that the announced
 * length alone can be refused; a child then pays only for its payload.
 * A root or an attribute pays for its own structure. The charge is reset
 * when a root reply is handed out or the partial reply is released.
 */
#define AZR_ELEMENT_COST (sizeof(azr_reply) + sizeof(azr_reply *))

/* Records `bytes` the caller checked against the room left. */
static void charge(azr_reader *r, size_t bytes)
{
    r->charged += bytes;
}

static step over_budget(azr_reader *r, size_t tok, size_t what)
{
    return fail(r, tok, "reply larger than the limit of %zu bytes (%zu "
                "charged, %zu more needed)", r->max_reply, r->charged, what);
}

azr_code azr_reader_feed(azr_reader *r, const void *data, size_t n)
{
    if (r == NULL || (data == NULL && n > 0))
        return AZR_E_INVALID_ARGUMENT;
    if (r->failed)
        return AZR_E_PROTOCOL;
    if (n == 0)
        return AZR_OK;

    /* Compact: drop consumed bytes when they are at least half the buffer
     * or when the new bytes would not fit otherwise. */
    if (r->pos > 0 && (r->pos == r->len || r->pos >= r->cap / 2 ||
                       r->cap - r->len < n)) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->base += r->pos;
        r->len -= r->pos;
        r->pos = 0;
    }
    if (r->cap - r->len < n) {
        size_t want = r->len + n, ncap = r->cap ? r->cap : 1024;
        char *nbuf;

        if (want < r->len)
            return AZR_E_NOMEM; /* size_t overflow */
        while (ncap < want)
            ncap = (ncap > SIZE_MAX / 2) ? want : ncap * 2;
        nbuf = realloc(r->buf, ncap);
        if (nbuf == NULL)
            return AZR_E_NOMEM;
        r->buf = nbuf;
        r->cap = ncap;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    return AZR_OK;
}

/* Lines (simple strings, errors, numbers, headers) may hold at most
 * max(max_len, AZR_READER_MIN_LINE) bytes, so that a stream without a line
 * terminator cannot grow the buffer without bound while a small max_len
 * still leaves room for any length header. */
#define AZR_READER_MIN_LINE 64u

/*
 * Finds the header line of the token at r->pos. On STEP_DONE *line points
 * after the type byte, *line_len is the length up to (excluding) "\r\n" and
 * *next is the buffer offset after the "\r\n".
 *
 * The outcome depends only on the bytes, never on how they were cut into
 * feeds: the scan stops at the first terminator, bad byte or at the length
 * limit, whichever comes first, and reports "need more" only when none of
 * them is among the bytes present.
 */
static step find_line(azr_reader *r, const char **line, size_t *line_len,
                      size_t *next)
{
    const char *start = r->buf + r->pos + 1;
    size_t avail = r->len - r->pos - 1;
    size_t limit = r->max_len > AZR_READER_MIN_LINE ? r->max_len
                                                    : AZR_READER_MIN_LINE;
    /* The terminator's \r may sit at index `limit` at most. */
    size_t end = avail <= limit ? avail : limit + 1;

    for (size_t i = r->scan; i < end; i++) {
        char c = start[i];

        if (c == '\n')
            return fail(r, r->pos + 1 + i,
                        "line ends in a bare \\n (expected \\r\\n)");
        if (c != '\r')
            continue;
        if (i + 1 == avail) {
            r->scan = i;
            return STEP_MORE;
        }
        if (start[i + 1] != '\n')
            return fail(r, r->pos + 2 + i,
                        "\\r not followed by \\n (got byte 0x%02x)",
                        (unsigned char)start[i + 1]);
        *line = start;
        *line_len = i;
        *next = r->pos + 1 + i + 2;
        return STEP_DONE;
    }
    if (avail > limit)
        return fail(r, r->pos, "line longer than %zu bytes", limit);
    r->scan = end;
    return STEP_MORE;
}

/* Parses a whole line as a decimal long long: optional '-', then at least
 * one digit. Returns false on anything else or on overflow. */
static bool parse_ll(const char *s, size_t n, long long *out)
{
    bool neg = false;
    unsigned long long v = 0, limit;
    size_t i = 0;

    if (n > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == n)
        return false;
    limit = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
    for (; i < n; i++) {
        unsigned d;

        if (s[i] < '0' || s[i] > '9')
            return false;
        d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (neg)
        *out = (v == (unsigned long long)LLONG_MAX + 1) ? LLONG_MIN : -(long long)v;
    else
        *out = (long long)v;
    return true;
}

/* Prints up to 24 bytes of a bad line for an error message, escaping
 * anything that is not printable. */
static const char *show(const char *s, size_t n, char *out, size_t outsz)
{
    size_t o = 0;

    for (size_t i = 0; i < n && i < 24 && o + 5 < outsz; i++) {
        unsigned char c = (unsigned char)s[i];

        if (isprint(c) && c != '"' && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", c);
    }
    if (n > 24 && o + 4 < outsz) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* Validates the text of a RESP3 double and converts it. Accepted: inf,
 * +inf, -inf, nan, -nan (any case) and decimal numbers
 * [+-]digits[.digits][e[+-]digits] with at least one mantissa digit. */
static bool parse_double(azr_reader *r, const char *s, size_t n, double *out)
{
    static const char *const special[] = {"inf", "+inf", "-inf", "nan", "-nan"};
    size_t i = 0, digits = 0;
    char tmp[512];
    char *end;

    for (size_t k = 0; k < sizeof special / sizeof special[0]; k++)
        if (strlen(special[k]) == n && strncasecmp(s, special[k], n) == 0) {
            if (special[k][n - 1] == 'n')
                *out = NAN;
            else
                *out = s[0] == '-' ? -INFINITY : INFINITY;
            return true;
        }
    if (n == 0 || n >= sizeof tmp)
        return false;
    if (s[i] == '+' || s[i] == '-')
        i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (digits == 0)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t edigits = 0;

        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, edigits++;
        if (edigits == 0)
            return false;
    }
    if (i != n)
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    *out = strtod_l(tmp, &end, r->c_locale);
    return end == tmp + n;
}

/* Makes sure the innermost open aggregate has a free slot, so that linking
 * a new child into it cannot fail later. */
static bool reserve_slot(azr_reader *r)
{
    azr_frame *f;
    size_t ncap;
    azr_reply **el;

    if (r->depth == 0)
        return true;
    f = &r->stack[r->depth - 1];
    if (f->reply->elements < f->cap)
        return true;
    ncap = f->cap * 2;
    if (ncap > f->want)
        ncap = f->want;
    el = realloc(f->reply->element, ncap * sizeof *el);
    if (el == NULL)
        return false;
    f->reply->element = el;
    f->cap = ncap;
    return true;
}

/* Makes sure one more frame can be pushed. */
static bool reserve_frame(azr_reader *r)
{
    size_t ncap;
    azr_frame *st;
    azr_reply **pa;

    if (r->depth < r->stack_cap)
        return true;
    ncap = r->stack_cap ? r->stack_cap * 2 : 8;
    if (ncap > r->max_depth)
        ncap = r->max_depth;
    st = realloc(r->stack, ncap * sizeof *st);
    if (st == NULL)
        return false;
    r->stack = st;
    pa = realloc(r->pending_attr, (ncap + 1) * sizeof *pa);
    if (pa == NULL)
        return false; /* the larger stack is harmless; retried next time */
    for (size_t i = r->stack_cap + (r->pending_attr == NULL ? 0 : 1);
         i <= ncap; i++)
        pa[i] = NULL;
    r->pending_attr = pa;
    r->stack_cap = ncap;
    return true;
}

/* Allocates a reply of `type` with an optional NUL-terminated copy of
 * s[0..n). */
static azr_reply *new_reply(azr_reply_type type, const char *s, size_t n)
{
    azr_reply *rep = calloc(1, sizeof *rep);

    if (rep == NULL)
        return NULL;
    rep->type = type;
    if (s != NULL) {
        rep->str = malloc(n + 1);
        if (rep->str == NULL) {
            free(rep);
            return NULL;
        }
        memcpy(rep->str, s, n);
        rep->str[n] = '\0';
        rep->len = n;
    }
    return rep;
}

/* Links a new reply into the innermost open aggregate (its slot was
 * reserved) and gives it the attribute waiting at its level. */
static void link_reply(azr_reader *r, azr_reply *rep)
{
    if (r->pending_attr != NULL && r->pending_attr[r->depth] != NULL) {
        rep->attribute = r->pending_attr[r->depth];
        r->pending_attr[r->depth] = NULL;
    }
    if (r->depth > 0) {
        azr_reply *parent = r->stack[r->depth - 1].reply;

        parent->element[parent->elements++] = rep;
    }
}

/* Pops every complete frame. A completed attribute moves to the pending
 * slot of its level; a completed root is returned through *done. */
static void pop_complete(azr_reader *r, azr_reply **done)
{
    while (r->depth > 0) {
        azr_frame *f = &r->stack[r->depth - 1];

        if (f->reply->elements < f->want)
            return;
        r->depth--;
        if (f->is_attr)
            r->pending_attr[r->depth] = f->reply;
        else if (r->depth == 0)
            *done = f->reply;
    }
}

/* Reads the length in the header line of a '$' '!' '=' or aggregate token
 * into *n: -1 (the RESP2 null, "$-1" or "*-1") or 0..max_len. Returns
 * STEP_DONE, or fails the reader (STEP_ERROR). */
static step read_length(azr_reader *r, size_t tok, char type,
                        const char *line, size_t line_len, long long *n)
{
    char shown[128];

    if (!parse_ll(line, line_len, n))
        return fail(r, tok, "bad length \"%s\" for '%c'",
                    show(line, line_len, shown, sizeof shown), type);
    if (*n == -1 && (type == '$' || type == '*'))
        return STEP_DONE;
    if (*n < 0)
        return fail(r, tok, "bad length %lld for '%c'", *n, type);
    if ((unsigned long long)*n > r->max_len)
        return fail(r, tok, "length %lld for '%c' exceeds the limit of %zu",
                    *n, type, r->max_len);
    return STEP_DONE;
}

/* Parses one token at r->pos. A completed top-level reply is stored in
 * *done. */
static step parse_token(azr_reader *r, azr_reply **done)
{
    const char *line = NULL;
    size_t line_len = 0, next = 0, tok = r->pos;
    char type, shown[128];
    step st;
    long long n;
    azr_reply *rep = NULL;

    if (r->pos >= r->len)
        return STEP_MORE;
    type = r->buf[r->pos];
    switch (type) {
    case '+': case '-': case ':': case '$': case '*': case '_': case ',':
    case '#': case '(': case '=': case '!': case '%': case '~': case '>':
    case '|':
        break;
    default:
        return fail(r, tok, "unknown type byte 0x%02x", (unsigned char)type);
    }
    st = find_line(r, &line, &line_len, &next);
    if (st != STEP_DONE)
        return st;

    switch (type) {
    case '+':
    case '-':
    case '(':
    case ',':
    case ':':
    case '#':
    case '_': {
        azr_reply_type t;
        const char *copy = line;
        long long ival = 0;
        double dval = 0;

        switch (type) {
        case '+':
            t = AZR_REPLY_STATUS;
            break;
        case '-':
            t = AZR_REPLY_ERROR;
            break;
        case '(':
            t = AZR_REPLY_BIGNUM;
            {
                size_t i = (line_len > 0 && line[0] == '-') ? 1 : 0;

                if (i == line_len)
                    return fail(r, tok, "bad big number \"%s\"",
                                show(line, line_len, shown, sizeof shown));
                for (; i < line_len; i++)
                    if (line[i] < '0' || line[i] > '9')
                        return fail(r, tok, "bad big number \"%s\"",
                                    show(line, line_len, shown, sizeof shown));
            }
            break;
        case ',':
            t = AZR_REPLY_DOUBLE;
            if (!parse_double(r, line, line_len, &dval))
                return fail(r, tok, "bad double \"%s\"",
                            show(line, line_len, shown, sizeof shown));
            break;
        case ':':
            t = AZR_REPLY_INTEGER;
            copy = NULL;
            if (!parse_ll(line, line_len, &ival))
                return fail(r, tok, "bad integer \"%s\" (not a 64-bit "
                            "decimal)", show(line, line_len, shown,
                                             sizeof shown));
            break;
        case '#':
            t = AZR_REPLY_BOOL;
            copy = NULL;
            if (line_len != 1 || (line[0] != 't' && line[0] != 'f'))
                return fail(r, tok, "bad boolean \"%s\" (expected t or f)",
                            show(line, line_len, shown, sizeof shown));
            ival = line[0] == 't';
            break;
        default: /* '_' */
            t = AZR_REPLY_NIL;
            copy = NULL;
            if (line_len != 0)
                return fail(r, tok, "bad null \"%s\" (expected \"_\\r\\n\")",
                            show(line, line_len, shown, sizeof shown));
            break;
        }
        size_t cost = (copy != NULL ? line_len + 1 : 0) +
                      (r->depth == 0 ? sizeof(azr_reply) : 0);
        if (cost > r->max_reply - r->charged)
            return over_budget(r, tok, cost);
        if (!reserve_slot(r))
            return STEP_NOMEM;
        rep = new_reply(t, copy, line_len);
        if (rep == NULL)
            return STEP_NOMEM;
        charge(r, cost);
        rep->integer = ival;
        rep->dval = dval;
        break;
    }

    case '$':
    case '!':
    case '=': {
        size_t blen;
        const char *data;

        st = read_length(r, tok, type, line, line_len, &n);
        if (st != STEP_DONE)
            return st;
        if (n == -1) { /* "$-1": RESP2 null bulk string */
            if (!reserve_slot(r))
                return STEP_NOMEM;
            rep = new_reply(AZR_REPLY_NIL, NULL, 0);
            if (rep == NULL)
                return STEP_NOMEM;
            break;
        }
        blen = (size_t)n;
        /* Refused on the header: the payload is never buffered. */
        if (blen + 1 + (r->depth == 0 ? sizeof(azr_reply) : 0) >
            r->max_reply - r->charged)
            return over_budget(r, tok, blen + 1);
        if (type == '=' && blen < 4)
            return fail(r, tok, "verbatim string of length %zu is shorter "
                        "than its 4-byte \"xxx:\" prefix", blen);
        if (r->len - next < blen || r->len - next - blen < 2) {
            /* Keep the bytes seen so far out of the line scan: this is a
             * payload, not a line. */
            r->scan = 0;
            return STEP_MORE;
        }
        data = r->buf + next;
        if (data[blen] != '\r' || data[blen + 1] != '\n')
            return fail(r, next + blen, "%zu-byte '%c' payload not followed "
                        "by \\r\\n", blen, type);
        if (type == '=') {
            /* The format is 3 visible ASCII characters ("txt", "mkd"):
             * vtype is a C string, so a NUL or control byte would make it
             * lie about the format. */
            if (data[3] != ':')
                return fail(r, next, "verbatim string without a \"xxx:\" "
                            "format prefix");
            for (int i = 0; i < 3; i++)
                if (data[i] < 0x21 || data[i] > 0x7e)
                    return fail(r, next, "verbatim string format \"%s\" is "
                                "not 3 visible ASCII characters",
                                show(data, 3, shown, sizeof shown));
        }
        if (!reserve_slot(r))
            return STEP_NOMEM;
        charge(r, blen + 1 + (r->depth == 0 ? sizeof(azr_reply) : 0));
        if (type == '=') {
            rep = new_reply(AZR_REPLY_VERBATIM, data + 4, blen - 4);
            if (rep != NULL) {
                memcpy(rep->vtype, data, 3);
                rep->vtype[3] = '\0';
            }
        } else {
            rep = new_reply(type == '$' ? AZR_REPLY_STRING
                                        : AZR_REPLY_BLOB_ERROR, data, blen);
        }
        if (rep == NULL)
            return STEP_NOMEM;
        next += blen + 2;
        break;
    }

    default: { /* aggregates: * % ~ > | */
        azr_reply_type t;
        size_t count, want, cap;
        bool is_attr = type == '|';

        st = read_length(r, tok, type, line, line_len, &n);
        if (st != STEP_DONE)
            return st;
        if (n == -1) { /* "*-1": RESP2 null array */
            if (!reserve_slot(r))
                return STEP_NOMEM;
            rep = new_reply(AZR_REPLY_NIL, NULL, 0);
            if (rep == NULL)
                return STEP_NOMEM;
            break;
        }
        if (r->depth >= r->max_depth)
            return fail(r, tok, "nesting deeper than %u", r->max_depth);
        count = (size_t)n;
        switch (type) {
        case '*': t = AZR_REPLY_ARRAY; break;
        case '~': t = AZR_REPLY_SET; break;
        case '>': t = AZR_REPLY_PUSH; break;
        default: t = AZR_REPLY_MAP; break; /* % and | */
        }
        if (t == AZR_REPLY_MAP && count > SIZE_MAX / 2 / sizeof(azr_reply *))
            return fail(r, tok, "length %zu for '%c' is too large", count,
                        type);
        want = t == AZR_REPLY_MAP ? 2 * count : count;
        size_t room = r->max_reply - r->charged;
        size_t cost = r->depth == 0 || is_attr ? sizeof(azr_reply) : 0;
        if (cost > room || want > (room - cost) / AZR_ELEMENT_COST)
            return over_budget(r, tok, want > SIZE_MAX / AZR_ELEMENT_COST
                                           ? SIZE_MAX
                                           : cost + want * AZR_ELEMENT_COST);
        cost += want * AZR_ELEMENT_COST;
        if (is_attr && r->pending_attr != NULL &&
            r->pending_attr[r->depth] != NULL)
            return fail(r, tok, "attribute followed by another attribute");
        if (!is_attr && !reserve_slot(r))
            return STEP_NOMEM;
        if (want > 0 && !reserve_frame(r))
            return STEP_NOMEM;
        if (is_attr && r->pending_attr == NULL && !reserve_frame(r))
            return STEP_NOMEM; /* an empty attribute needs its slot too */
        rep = new_reply(t, NULL, 0);
        if (rep == NULL)
            return STEP_NOMEM;
        cap = want < AZR_READER_PREALLOC ? want : AZR_READER_PREALLOC;
        if (cap > 0) {
            rep->element = malloc(cap * sizeof *rep->element);
            if (rep->element == NULL) {
                free(rep);
                return STEP_NOMEM;
            }
        }
        /* Commit. */
        charge(r, cost);
        r->pos = next;
        r->scan = 0;
        if (is_attr) {
            if (want == 0) {
                r->pending_attr[r->depth] = rep;
                return STEP_DONE;
            }
            r->stack[r->depth++] = (azr_frame){
                .reply = rep, .want = want, .cap = cap, .owned = true,
                .is_attr = true};
            return STEP_DONE;
        }
        link_reply(r, rep);
        if (want == 0) {
            if (r->depth == 0)
                *done = rep;
            else
                pop_complete(r, done);
            return STEP_DONE;
        }
        r->stack[r->depth] = (azr_frame){
            .reply = rep, .want = want, .cap = cap, .owned = r->depth == 0,
            .is_attr = false};
        r->depth++;
        return STEP_DONE;
    }
    }

    /* Commit a scalar. */
    r->pos = next;
    r->scan = 0;
    link_reply(r, rep);
    if (r->depth == 0)
        *done = rep;
    else
        pop_complete(r, done);
    return STEP_DONE;
}

azr_code azr_reader_get_reply(azr_reader *r, azr_reply **reply)
{
    azr_reply *done = NULL;

    if (reply != NULL)
        *reply = NULL;
    if (r == NULL || reply == NULL)
        return AZR_E_INVALID_ARGUMENT;
    if (r->failed)
        return AZR_E_PROTOCOL;
    for (;;) {
        step st = parse_token(r, &done);

        if (st == STEP_DONE && done == NULL)
            continue;
        if (st == STEP_ERROR) {
            release_partial(r);
            free(r->buf);
            r->buf = NULL;
            r->cap = r->len = r->pos = 0;
            return AZR_E_PROTOCOL;
        }
        if (st == STEP_NOMEM)
            return AZR_E_NOMEM;
        break;
    }
    if (done != NULL)
        r->charged = 0;
    /* Everything consumed: start over at the beginning of the buffer, and
     * give back a large buffer. */
    if (r->pos == r->len) {
        r->base += r->pos;
        r->pos = r->len = 0;
        if (r->cap > AZR_READER_KEEP_BUF) {
            free(r->buf);
            r->buf = NULL;
            r->cap = 0;
        }
    }
    *reply = done;
    return AZR_OK;
}
