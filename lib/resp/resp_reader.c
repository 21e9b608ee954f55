/*
 * resp_reader.c - incremental RESP2/RESP3 reader (client side).
 *
 * The reader is decoupled from I/O: azr_reader_feed() appends bytes to a
 * buffer, azr_reader_get_reply() takes complete replies out of it.
 *
 * Parsing works one token at a time (resp_items.c). A token is a type byte
 * and its header line, plus the payload for the length-prefixed types
 * ($ ! =). A token is consumed only when it is complete; until then the
 * read offset stays at its first byte, so a reply that arrives one byte at
 * a time is parsed exactly like one that arrives at once. Aggregates under
 * construction live on an explicit stack (at most max_depth frames), never
 * on the C stack, so a hostile nesting depth cannot overflow it.
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
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp_priv.h"

#define AZR_READER_DEFAULT_DEPTH 32u
#define AZR_READER_DEFAULT_MAX_LEN ((size_t)512 * 1024 * 1024)

/* An empty buffer larger than this is released rather than kept, so that
 * one large reply does not pin its memory for the life of the reader. */
#define AZR_READER_KEEP_BUF (64u * 1024u)

azr_resp_step azr__resp_fail(azr_reader *r, size_t at, const char *fmt, ...)
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

void azr_reader_free(azr_reader *r)
{
    if (r == NULL)
        return;
    azr__resp_release_partial(r);
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
 * The header line of the token at r->pos (see resp_priv.h). The outcome
 * depends only on the bytes, never on how they were cut into feeds: the
 * scan stops at the first terminator, bad byte or at the length limit,
 * whichever comes first, and reports "need more" only when none of them
 * is among the bytes present.
 */
azr_resp_step azr__resp_find_line(azr_reader *r, const char **line,
                                  size_t *line_len, size_t *next)
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
            return azr__resp_fail(r, r->pos + 1 + i,
                                  "line ends in a bare \\n (expected \\r\\n)");
        if (c != '\r')
            continue;
        if (i + 1 == avail) {
            r->scan = i;
            return STEP_MORE;
        }
        if (start[i + 1] != '\n')
            return azr__resp_fail(r, r->pos + 2 + i,
                                  "\\r not followed by \\n (got byte 0x%02x)",
                                  (unsigned char)start[i + 1]);
        *line = start;
        *line_len = i;
        *next = r->pos + 1 + i + 2;
        return STEP_DONE;
    }
    if (avail > limit)
        return azr__resp_fail(r, r->pos, "line longer than %zu bytes", limit);
    r->scan = end;
    return STEP_MORE;
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
        azr_resp_step st = azr__resp_parse_token(r, &done);

        if (st == STEP_DONE && done == NULL)
            continue;
        if (st == STEP_ERROR) {
            azr__resp_release_partial(r);
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
