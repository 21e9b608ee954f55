/*
 * resp_items.c - the RESP reader's tokens, one at a time: a handler per kind
 * of type byte (as hiredis's read.c has), each building its part of the
 * reply tree (the reader itself, and the contracts every handler keeps:
 * resp_reader.c).
 *
 *   line types   + - ( , : # _   a header line is the whole value
 *   bulk types   $ ! =           a length, then that many bytes and \r\n
 *   aggregates   * % ~ > |       a count, then that many elements (twice
 *                                as many for % and |)
 */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "resp_priv.h"

/* Element arrays are allocated once the count is known, but never larger
 * than this up front: a six-byte "*99999999\r\n" must not allocate 800 MB.
 * Larger arrays grow by doubling as elements arrive. */
#define AZR_READER_PREALLOC 1024u

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

static azr_resp_step over_budget(azr_reader *r, size_t tok, size_t what)
{
    return azr__resp_fail(r, tok, "reply larger than the limit of %zu bytes "
                          "(%zu charged, %zu more needed)", r->max_reply,
                          r->charged, what);
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
static azr_resp_step read_length(azr_reader *r, size_t tok, char type,
                                 const char *line, size_t line_len,
                                 long long *n)
{
    char shown[128];

    if (!parse_ll(line, line_len, n))
        return azr__resp_fail(r, tok, "bad length \"%s\" for '%c'",
                              show(line, line_len, shown, sizeof shown), type);
    if (*n == -1 && (type == '$' || type == '*'))
        return STEP_DONE;
    if (*n < 0)
        return azr__resp_fail(r, tok, "bad length %lld for '%c'", *n, type);
    if ((unsigned long long)*n > r->max_len)
        return azr__resp_fail(r, tok, "length %lld for '%c' exceeds the "
                              "limit of %zu", *n, type, r->max_len);
    return STEP_DONE;
}

void azr__resp_release_partial(azr_reader *r)
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


/* ---- the handlers ----------------------------------------------------- */

/* The token being parsed: its type byte and header line. */
typedef struct token {
    char type;
    size_t tok;        /* buffer offset of the type byte */
    const char *line;  /* the header line, after the type byte */
    size_t line_len;   /* without the "\r\n" */
    size_t next;       /* buffer offset after the header's "\r\n" */
} token;

/* Consumes the token up to buffer offset `next` and links `rep`, a reply
 * without elements, into the tree; a completed top-level reply goes to
 * *done. */
static azr_resp_step commit_scalar(azr_reader *r, azr_reply *rep, size_t next,
                                   azr_reply **done)
{
    r->pos = next;
    r->scan = 0;
    link_reply(r, rep);
    if (r->depth == 0)
        *done = rep;
    else
        pop_complete(r, done);
    return STEP_DONE;
}

/* "$-1" and "*-1", RESP2's nulls: a NIL reply, charged nothing. */
static azr_resp_step null_item(azr_reader *r, const token *t,
                               azr_reply **done)
{
    azr_reply *rep;

    if (!reserve_slot(r))
        return STEP_NOMEM;
    rep = new_reply(AZR_REPLY_NIL, NULL, 0);
    if (rep == NULL)
        return STEP_NOMEM;
    return commit_scalar(r, rep, t->next, done);
}

/* Checks the header line of a line type and works out its reply: *type,
 * the text to copy (*copy; NULL for none), the integer and the double.
 * STEP_DONE, or STEP_ERROR with the reader failed. */
static azr_resp_step line_value(azr_reader *r, const token *t,
                                azr_reply_type *type, const char **copy,
                                long long *ival, double *dval)
{
    const char *line = t->line;
    size_t line_len = t->line_len, tok = t->tok;
    char shown[128];

    *copy = line;
    *ival = 0;
    *dval = 0;
    switch (t->type) {
    case '+':
        *type = AZR_REPLY_STATUS;
        break;
    case '-':
        *type = AZR_REPLY_ERROR;
        break;
    case '(':
        *type = AZR_REPLY_BIGNUM;
        {
            size_t i = (line_len > 0 && line[0] == '-') ? 1 : 0;

            if (i == line_len)
                return azr__resp_fail(r, tok, "bad big number \"%s\"",
                                      show(line, line_len, shown,
                                           sizeof shown));
            for (; i < line_len; i++)
                if (line[i] < '0' || line[i] > '9')
                    return azr__resp_fail(r, tok, "bad big number \"%s\"",
                                          show(line, line_len, shown,
                                               sizeof shown));
        }
        break;
    case ',':
        *type = AZR_REPLY_DOUBLE;
        if (!parse_double(r, line, line_len, dval))
            return azr__resp_fail(r, tok, "bad double \"%s\"",
                                  show(line, line_len, shown, sizeof shown));
        break;
    case ':':
        *type = AZR_REPLY_INTEGER;
        *copy = NULL;
        if (!parse_ll(line, line_len, ival))
            return azr__resp_fail(r, tok, "bad integer \"%s\" (not a 64-bit "
                                  "decimal)", show(line, line_len, shown,
                                                   sizeof shown));
        break;
    case '#':
        *type = AZR_REPLY_BOOL;
        *copy = NULL;
        if (line_len != 1 || (line[0] != 't' && line[0] != 'f'))
            return azr__resp_fail(r, tok, "bad boolean \"%s\" (expected t or "
                                  "f)", show(line, line_len, shown,
                                             sizeof shown));
        *ival = line[0] == 't';
        break;
    default: /* '_' */
        *type = AZR_REPLY_NIL;
        *copy = NULL;
        if (line_len != 0)
            return azr__resp_fail(r, tok, "bad null \"%s\" (expected "
                                  "\"_\\r\\n\")", show(line, line_len, shown,
                                                       sizeof shown));
        break;
    }
    return STEP_DONE;
}

/* + - ( , : # _ : the header line is the value. */
static azr_resp_step line_item(azr_reader *r, const token *t,
                               azr_reply **done)
{
    azr_reply_type type;
    const char *copy;
    long long ival;
    double dval;
    azr_reply *rep;
    azr_resp_step st = line_value(r, t, &type, &copy, &ival, &dval);

    if (st != STEP_DONE)
        return st;
    size_t cost = (copy != NULL ? t->line_len + 1 : 0) +
                  (r->depth == 0 ? sizeof(azr_reply) : 0);
    if (cost > r->max_reply - r->charged)
        return over_budget(r, t->tok, cost);
    if (!reserve_slot(r))
        return STEP_NOMEM;
    rep = new_reply(type, copy, t->line_len);
    if (rep == NULL)
        return STEP_NOMEM;
    charge(r, cost);
    rep->integer = ival;
    rep->dval = dval;
    return commit_scalar(r, rep, t->next, done);
}

/* The "xxx:" prefix of a verbatim string's payload `data` (at buffer
 * offset `at`): 3 visible ASCII characters ("txt", "mkd") and ':'. vtype
 * is a C string, so a NUL or control byte would make it lie about the
 * format. */
static azr_resp_step verbatim_prefix(azr_reader *r, const char *data,
                                     size_t at)
{
    char shown[128];

    if (data[3] != ':')
        return azr__resp_fail(r, at, "verbatim string without a \"xxx:\" "
                              "format prefix");
    for (int i = 0; i < 3; i++)
        if (data[i] < 0x21 || data[i] > 0x7e)
            return azr__resp_fail(r, at, "verbatim string format \"%s\" is "
                                  "not 3 visible ASCII characters",
                                  show(data, 3, shown, sizeof shown));
    return STEP_DONE;
}

/* $ ! = : a length, then the payload and "\r\n". The payload is never
 * buffered past the reply's memory bound: the length is refused on the
 * header. */
static azr_resp_step bulk_item(azr_reader *r, const token *t,
                               azr_reply **done)
{
    size_t blen, next = t->next;
    const char *data;
    azr_reply *rep;
    long long n;
    azr_resp_step st = read_length(r, t->tok, t->type, t->line, t->line_len,
                                   &n);

    if (st != STEP_DONE)
        return st;
    if (n == -1) /* "$-1": RESP2 null bulk string */
        return null_item(r, t, done);
    blen = (size_t)n;
    /* Refused on the header: the payload is never buffered. */
    if (blen + 1 + (r->depth == 0 ? sizeof(azr_reply) : 0) >
        r->max_reply - r->charged)
        return over_budget(r, t->tok, blen + 1);
    if (t->type == '=' && blen < 4)
        return azr__resp_fail(r, t->tok, "verbatim string of length %zu is "
                              "shorter than its 4-byte \"xxx:\" prefix", blen);
    if (r->len - next < blen || r->len - next - blen < 2) {
        /* Keep the bytes seen so far out of the line scan: this is a
         * payload, not a line. */
        r->scan = 0;
        return STEP_MORE;
    }
    data = r->buf + next;
    if (data[blen] != '\r' || data[blen + 1] != '\n')
        return azr__resp_fail(r, next + blen, "%zu-byte '%c' payload not "
                              "followed by \\r\\n", blen, t->type);
    if (t->type == '=' && (st = verbatim_prefix(r, data, next)) != STEP_DONE)
        return st;
    if (!reserve_slot(r))
        return STEP_NOMEM;
    if (t->type == '=') {
        rep = new_reply(AZR_REPLY_VERBATIM, data + 4, blen - 4);
        if (rep != NULL) {
            memcpy(rep->vtype, data, 3);
            rep->vtype[3] = '\0';
        }
    } else {
        rep = new_reply(t->type == '$' ? AZR_REPLY_STRING
                                       : AZR_REPLY_BLOB_ERROR, data, blen);
    }
    if (rep == NULL)
        return STEP_NOMEM;
    /* Charged once the reply exists, so that a STEP_NOMEM retry does not
     * count the payload twice (the room was checked on the header). */
    charge(r, blen + 1 + (r->depth == 0 ? sizeof(azr_reply) : 0));
    return commit_scalar(r, rep, next + blen + 2, done);
}

/* Consumes an aggregate's header, its `cost` charged: `rep` (with `cap`
 * element slots for `want` elements) becomes an open frame, or, with no
 * elements, a complete reply (an empty attribute waits for its reply). */
static azr_resp_step open_aggregate(azr_reader *r, const token *t,
                                    azr_reply *rep, size_t want, size_t cap,
                                    size_t cost, azr_reply **done)
{
    bool is_attr = t->type == '|';

    charge(r, cost);
    r->pos = t->next;
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

/* * % ~ > | : a count, then the elements, each a token of its own. The
 * announced length is charged on the header (slots and reply structures
 * of every element), so a reply announcing more than fits fails at once. */
static azr_resp_step aggregate_item(azr_reader *r, const token *t,
                                    azr_reply **done)
{
    azr_reply_type type;
    size_t count, want, cap, tok = t->tok;
    bool is_attr = t->type == '|';
    azr_reply *rep;
    long long n;
    azr_resp_step st = read_length(r, tok, t->type, t->line, t->line_len,
                                   &n);

    if (st != STEP_DONE)
        return st;
    if (n == -1) /* "*-1": RESP2 null array */
        return null_item(r, t, done);
    if (r->depth >= r->max_depth)
        return azr__resp_fail(r, tok, "nesting deeper than %u", r->max_depth);
    count = (size_t)n;
    switch (t->type) {
    case '*': type = AZR_REPLY_ARRAY; break;
    case '~': type = AZR_REPLY_SET; break;
    case '>': type = AZR_REPLY_PUSH; break;
    default: type = AZR_REPLY_MAP; break; /* % and | */
    }
    if (type == AZR_REPLY_MAP && count > SIZE_MAX / 2 / sizeof(azr_reply *))
        return azr__resp_fail(r, tok, "length %zu for '%c' is too large",
                              count, t->type);
    want = type == AZR_REPLY_MAP ? 2 * count : count;
    size_t room = r->max_reply - r->charged;
    size_t cost = r->depth == 0 || is_attr ? sizeof(azr_reply) : 0;
    if (cost > room || want > (room - cost) / AZR_ELEMENT_COST)
        return over_budget(r, tok, want > SIZE_MAX / AZR_ELEMENT_COST
                                       ? SIZE_MAX
                                       : cost + want * AZR_ELEMENT_COST);
    cost += want * AZR_ELEMENT_COST;
    if (is_attr && r->pending_attr != NULL &&
        r->pending_attr[r->depth] != NULL)
        return azr__resp_fail(r, tok, "attribute followed by another "
                              "attribute");
    if (!is_attr && !reserve_slot(r))
        return STEP_NOMEM;
    if (want > 0 && !reserve_frame(r))
        return STEP_NOMEM;
    if (is_attr && r->pending_attr == NULL && !reserve_frame(r))
        return STEP_NOMEM; /* an empty attribute needs its slot too */
    rep = new_reply(type, NULL, 0);
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
    return open_aggregate(r, t, rep, want, cap, cost, done);
}

azr_resp_step azr__resp_parse_token(azr_reader *r, azr_reply **done)
{
    token t = { .tok = r->pos };
    azr_resp_step (*handler)(azr_reader *, const token *, azr_reply **);
    azr_resp_step st;

    if (r->pos >= r->len)
        return STEP_MORE;
    t.type = r->buf[r->pos];
    switch (t.type) {
    case '+': case '-': case '(': case ',': case ':': case '#': case '_':
        handler = line_item;
        break;
    case '$': case '!': case '=':
        handler = bulk_item;
        break;
    case '*': case '%': case '~': case '>': case '|':
        handler = aggregate_item;
        break;
    default:
        return azr__resp_fail(r, t.tok, "unknown type byte 0x%02x",
                              (unsigned char)t.type);
    }
    st = azr__resp_find_line(r, &t.line, &t.line_len, &t.next);
    if (st != STEP_DONE)
        return st;
    return handler(r, &t, done);
}
