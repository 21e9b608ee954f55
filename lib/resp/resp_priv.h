/*
 * resp_priv.h - the RESP reader's parts as seen by each other:
 *
 *   resp_reader.c  the reader object: its buffer (feed), the header line of
 *                  the token at the read offset, failure, the public calls
 *   resp_items.c   one token at a time, a handler per kind of type byte
 *                  (as hiredis's read.c has), building the reply tree with
 *                  its memory accounting
 *
 * resp_reader.c calls azr__resp_parse_token and azr__resp_release_partial;
 * resp_items.c calls azr__resp_fail and azr__resp_find_line. Like the rest of
 * lib/resp/, only <azroute/azroute.h> is included: the resp_tls transport
 * compiles these files into its module, with hidden visibility.
 */
#ifndef AZR_LIB_RESP_PRIV_H
#define AZR_LIB_RESP_PRIV_H

#include <locale.h>
#include <stdbool.h>
#include <stddef.h>

#include <azroute/azroute.h>

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
    size_t max_reply;       /* memory bound of one reply (resp_items.c) */
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
typedef enum azr_resp_step {
    STEP_MORE,      /* token incomplete: need more bytes */
    STEP_DONE,      /* token consumed */
    STEP_ERROR,     /* protocol error (reader failed) */
    STEP_NOMEM      /* allocation failed, nothing consumed */
} azr_resp_step;

/* ---- resp_reader.c ---------------------------------------------------- */

/* Fails the reader for good with a message naming the stream offset `at`
 * (an offset into buf). Returns STEP_ERROR. */
azr_resp_step azr__resp_fail(azr_reader *r, size_t at, const char *fmt, ...)
    AZR_PRINTF(3, 4);

/*
 * Finds the header line of the token at r->pos. On STEP_DONE *line points
 * after the type byte, *line_len is the length up to (excluding) "\r\n" and
 * *next is the buffer offset after the "\r\n". STEP_MORE: not all there
 * yet; STEP_ERROR: the reader failed (bad terminator, line too long).
 */
azr_resp_step azr__resp_find_line(azr_reader *r, const char **line,
                                  size_t *line_len, size_t *next);

/* ---- resp_items.c ----------------------------------------------------- */

/* Parses one token at r->pos. A token is consumed only when it is complete
 * (STEP_DONE); a completed top-level reply is stored in *done. STEP_NOMEM
 * leaves the reader exactly as it was. */
azr_resp_step azr__resp_parse_token(azr_reader *r, azr_reply **done);

/* Releases the partial reply: every frame the reader owns and every
 * attribute waiting for its reply; resets the memory charged. */
void azr__resp_release_partial(azr_reader *r);

#endif /* AZR_LIB_RESP_PRIV_H */
