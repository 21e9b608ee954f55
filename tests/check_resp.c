/*
 * check_resp.c - unit tests of the RESP reader, command formatter and
 * reply free (lib/resp/).
 *
 * Every input is parsed whole, split in two at every byte boundary and fed
 * one byte at a time; all ways must give the same reply trees (compared as
 * a canonical text dump) or the same error message.
 */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <azroute/azroute.h>

/* ---------------------------------------------------------------------
 * A growable string and a canonical dump of a reply tree.
 */
typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;

        while (ncap < b->len + n + 1)
            ncap *= 2;
        b->s = realloc(b->s, ncap);
        ck_assert_ptr_nonnull(b->s);
        b->cap = ncap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_printf(sbuf *b, const char *fmt, ...) AZR_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    ck_assert_int_ge(n, 0);
    ck_assert_int_lt(n, (int)sizeof tmp);
    sb_putn(b, tmp, (size_t)n);
}

/* Quoted, escaped string: printable ASCII as is, the rest as \xNN. */
static void sb_quote(sbuf *b, const char *s, size_t n)
{
    sb_putn(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            sb_putn(b, (const char *)&c, 1);
        else
            sb_printf(b, "\\x%02x", c);
    }
    sb_putn(b, "\"", 1);
}

/* Checks the structural invariants of one reply (not its children). */
static void check_node(const azr_reply *r)
{
    switch (r->type) {
    case AZR_REPLY_STATUS: case AZR_REPLY_ERROR: case AZR_REPLY_STRING:
    case AZR_REPLY_DOUBLE: case AZR_REPLY_BIGNUM: case AZR_REPLY_VERBATIM:
    case AZR_REPLY_BLOB_ERROR:
        ck_assert_ptr_nonnull(r->str);
        ck_assert_int_eq(r->str[r->len], '\0');
        ck_assert_uint_eq(r->elements, 0);
        break;
    case AZR_REPLY_ARRAY: case AZR_REPLY_MAP: case AZR_REPLY_SET:
    case AZR_REPLY_PUSH:
        ck_assert_ptr_null(r->str);
        if (r->elements > 0)
            ck_assert_ptr_nonnull(r->element);
        if (r->type == AZR_REPLY_MAP)
            ck_assert_uint_eq(r->elements % 2, 0);
        break;
    default:
        ck_assert_ptr_null(r->str);
        ck_assert_uint_eq(r->elements, 0);
        break;
    }
    if (r->attribute != NULL)
        ck_assert_int_eq(r->attribute->type, AZR_REPLY_MAP);
}

static void dump(sbuf *b, const azr_reply *r)
{
    static const char agg[] = {[AZR_REPLY_ARRAY] = '*', [AZR_REPLY_MAP] = '%',
                               [AZR_REPLY_SET] = '~', [AZR_REPLY_PUSH] = '>'};

    check_node(r);
    if (r->attribute != NULL) {
        sb_putn(b, "|", 1);
        dump(b, r->attribute);
    }
    switch (r->type) {
    case AZR_REPLY_STATUS:
        sb_putn(b, "+", 1);
        sb_quote(b, r->str, r->len);
        break;
    case AZR_REPLY_ERROR:
        sb_putn(b, "-", 1);
        sb_quote(b, r->str, r->len);
        break;
    case AZR_REPLY_INTEGER:
        sb_printf(b, ":%lld", r->integer);
        break;
    case AZR_REPLY_STRING:
        sb_putn(b, "$", 1);
        sb_quote(b, r->str, r->len);
        break;
    case AZR_REPLY_NIL:
        sb_putn(b, "_", 1);
        break;
    case AZR_REPLY_DOUBLE:
        if (isnan(r->dval))
            sb_printf(b, ",nan");
        else if (isinf(r->dval))
            sb_printf(b, ",%sinf", r->dval < 0 ? "-" : "");
        else
            sb_printf(b, ",%.17g", r->dval);
        sb_quote(b, r->str, r->len);
        break;
    case AZR_REPLY_BOOL:
        sb_printf(b, "#%lld", r->integer);
        break;
    case AZR_REPLY_BIGNUM:
        sb_putn(b, "(", 1);
        sb_quote(b, r->str, r->len);
        break;
    case AZR_REPLY_VERBATIM:
        ck_assert_uint_eq(strlen(r->vtype), 3);
        sb_printf(b, "=%s:", r->vtype);
        sb_quote(b, r->str, r->len);
        break;
    case AZR_REPLY_BLOB_ERROR:
        sb_putn(b, "!", 1);
        sb_quote(b, r->str, r->len);
        break;
    case AZR_REPLY_ARRAY:
    case AZR_REPLY_MAP:
    case AZR_REPLY_SET:
    case AZR_REPLY_PUSH:
        sb_printf(b, "%c[", agg[r->type]);
        for (size_t i = 0; i < r->elements; i++) {
            if (i > 0)
                sb_putn(b, ",", 1);
            dump(b, r->element[i]);
        }
        sb_putn(b, "]", 1);
        break;
    default:
        ck_abort_msg("unexpected reply type %d", (int)r->type);
    }
}

/* ---------------------------------------------------------------------
 * Running the reader over an input cut into chunks.
 */
typedef struct result {
    sbuf text;         /* one dumped reply per line */
    size_t replies;
    azr_code rc;       /* AZR_OK or the first error */
    char err[AZR_ERRBUF_SIZE];
} result;

static void result_free(result *res)
{
    free(res->text.s);
    memset(res, 0, sizeof *res);
}

/* Takes every reply out of the reader. Returns false once it failed. */
static bool drain(azr_reader *rd, result *res)
{
    for (;;) {
        azr_reply *rep = (azr_reply *)0x1;
        azr_code rc = azr_reader_get_reply(rd, &rep);

        if (rc != AZR_OK) {
            ck_assert_ptr_null(rep);
            res->rc = rc;
            snprintf(res->err, sizeof res->err, "%s", azr_reader_error(rd));
            ck_assert_str_ne(res->err, "");
            return false;
        }
        ck_assert_str_eq(azr_reader_error(rd), "");
        if (rep == NULL)
            return true;
        dump(&res->text, rep);
        sb_putn(&res->text, "\n", 1);
        res->replies++;
        azr_reply_free(rep);
    }
}

/*
 * Feeds in[0..n) in chunks ending at the offsets cuts[0..ncuts) (then the
 * rest), draining after each chunk. If max_before is not SIZE_MAX, at most
 * that many replies may come out before the last chunk.
 */
static void run_cuts(const char *in, size_t n, const size_t *cuts,
                     size_t ncuts, unsigned depth, size_t max_len,
                     result *res)
{
    azr_reader *rd = azr_reader_new(depth, max_len);
    size_t off = 0;

    memset(res, 0, sizeof *res);
    sb_putn(&res->text, "", 0);
    ck_assert_ptr_nonnull(rd);
    for (size_t c = 0; c <= ncuts; c++) {
        size_t end = c < ncuts ? cuts[c] : n;

        ck_assert_int_eq(azr_reader_feed(rd, in + off, end - off), AZR_OK);
        off = end;
        if (!drain(rd, res))
            break;
    }
    if (res->rc != AZR_OK) {
        /* A failed reader stays failed, with the same reason. */
        char again[AZR_ERRBUF_SIZE];
        azr_reply *rep = NULL;

        snprintf(again, sizeof again, "%s", azr_reader_error(rd));
        ck_assert_int_eq(azr_reader_feed(rd, "+OK\r\n", 5), AZR_E_PROTOCOL);
        ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_E_PROTOCOL);
        ck_assert_ptr_null(rep);
        ck_assert_str_eq(azr_reader_error(rd), again);
    }
    azr_reader_free(rd);
}

/* Runs the input whole, split at every byte boundary and byte by byte, and
 * checks all give the same result. Returns the whole-input result. */
static void run_all_ways(const char *in, size_t n, unsigned depth,
                         size_t max_len, result *whole)
{
    size_t *cuts = malloc((n + 1) * sizeof *cuts);

    ck_assert_ptr_nonnull(cuts);
    run_cuts(in, n, NULL, 0, depth, max_len, whole);

    for (size_t i = 1; i < n; i++) {
        result part;

        run_cuts(in, n, &i, 1, depth, max_len, &part);
        ck_assert_msg(strcmp(part.text.s, whole->text.s) == 0 &&
                      part.rc == whole->rc &&
                      strcmp(part.err, whole->err) == 0,
                      "split at %zu: got \"%s\" [%s], whole gave \"%s\" [%s]",
                      i, part.text.s, part.err, whole->text.s, whole->err);
        result_free(&part);
    }
    for (size_t i = 0; i + 1 < n; i++)
        cuts[i] = i + 1;
    {
        result bytes;

        run_cuts(in, n, cuts, n > 0 ? n - 1 : 0, depth, max_len, &bytes);
        ck_assert_msg(strcmp(bytes.text.s, whole->text.s) == 0 &&
                      bytes.rc == whole->rc &&
                      strcmp(bytes.err, whole->err) == 0,
                      "byte by byte: got \"%s\" [%s], whole gave \"%s\" [%s]",
                      bytes.text.s, bytes.err, whole->text.s, whole->err);
        result_free(&bytes);
    }
    free(cuts);
}

/* Every strict prefix of a single complete reply is "need more": no reply,
 * no error. */
static void check_prefixes_need_more(const char *in, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        azr_reader *rd = azr_reader_new(0, 0);
        azr_reply *rep = (azr_reply *)0x1;

        ck_assert_ptr_nonnull(rd);
        ck_assert_int_eq(azr_reader_feed(rd, in, k), AZR_OK);
        ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_OK);
        ck_assert_msg(rep == NULL, "prefix of %zu bytes gave a reply", k);
        ck_assert_str_eq(azr_reader_error(rd), "");
        azr_reader_free(rd); /* frees the partial reply */
    }
}

/* ---------------------------------------------------------------------
 * Valid inputs.
 */
typedef struct valid_case {
    const char *in;
    size_t len;
    const char *want; /* dump, one reply per line */
    unsigned depth;
    size_t max_len;
} valid_case;

#define V(in, want) {in, sizeof(in) - 1, want, 0, 0}
#define VD(in, want, depth) {in, sizeof(in) - 1, want, depth, 0}
#define VL(in, want, max_len) {in, sizeof(in) - 1, want, 0, max_len}

static const valid_case valid_cases[] = {
    /* RESP2 */
    V("+OK\r\n", "+\"OK\"\n"),
    V("+\r\n", "+\"\"\n"),
    V("-ERR unknown command 'x'\r\n", "-\"ERR unknown command 'x'\"\n"),
    V(":0\r\n", ":0\n"),
    V(":-42\r\n", ":-42\n"),
    V(":9223372036854775807\r\n", ":9223372036854775807\n"),
    V(":-9223372036854775808\r\n", ":-9223372036854775808\n"),
    V("$5\r\nhello\r\n", "$\"hello\"\n"),
    V("$0\r\n\r\n", "$\"\"\n"),
    V("$-1\r\n", "_\n"),
    V("$7\r\na\r\nb\0c\n\r\n", "$\"a\\x0d\\x0ab\\x00c\\x0a\"\n"),
    V("*-1\r\n", "_\n"),
    V("*0\r\n", "*[]\n"),
    V("*3\r\n:1\r\n$3\r\nfoo\r\n+bar\r\n", "*[:1,$\"foo\",+\"bar\"]\n"),
    V("*2\r\n*2\r\n:1\r\n:2\r\n*2\r\n$-1\r\n*-1\r\n",
      "*[*[:1,:2],*[_,_]]\n"),
    V("*2\r\n*0\r\n-ERR x\r\n", "*[*[],-\"ERR x\"]\n"),
    /* RESP3 scalars */
    V("_\r\n", "_\n"),
    V(",1.5\r\n", ",1.5\"1.5\"\n"),
    V(",-0.25e3\r\n", ",-250\"-0.25e3\"\n"),
    V(",10\r\n", ",10\"10\"\n"),
    V(",.5\r\n", ",0.5\".5\"\n"),
    V(",1E+2\r\n", ",100\"1E+2\"\n"),
    V(",inf\r\n", ",inf\"inf\"\n"),
    V(",-inf\r\n", ",-inf\"-inf\"\n"),
    V(",nan\r\n", ",nan\"nan\"\n"),
    V(",1e999\r\n", ",inf\"1e999\"\n"),
    V("#t\r\n", "#1\n"),
    V("#f\r\n", "#0\n"),
    V("(3492890328409238509324850943850943825024385\r\n",
      "(\"3492890328409238509324850943850943825024385\"\n"),
    V("(-12\r\n", "(\"-12\"\n"),
    V("=15\r\ntxt:Some string\r\n", "=txt:\"Some string\"\n"),
    V("=4\r\nmkd:\r\n", "=mkd:\"\"\n"),
    V("=9\r\ntxt:a\r\nb\0\r\n", "=txt:\"a\\x0d\\x0ab\\x00\"\n"),
    V("!21\r\nSYNTAX invalid syntax\r\n", "!\"SYNTAX invalid syntax\"\n"),
    V("!0\r\n\r\n", "!\"\"\n"),
    /* RESP3 aggregates */
    V("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
      "%[+\"first\",:1,+\"second\",:2]\n"),
    V("%0\r\n", "%[]\n"),
    V("~3\r\n+a\r\n+b\r\n+c\r\n", "~[+\"a\",+\"b\",+\"c\"]\n"),
    V("~0\r\n", "~[]\n"),
    V(">3\r\n+message\r\n+chan\r\n$5\r\nhello\r\n",
      ">[+\"message\",+\"chan\",$\"hello\"]\n"),
    V(">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nkey\r\n",
      ">[$\"invalidate\",*[$\"key\"]]\n"),
    V("%1\r\n*2\r\n:1\r\n:2\r\n%1\r\n~1\r\n#t\r\n>0\r\n",
      "%[*[:1,:2],%[~[#1],>[]]]\n"),
    /* attributes (the spec's example, then nested placements) */
    V("|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n"
      ",0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n",
      "|%[+\"key-popularity\",%[$\"a\",,0.1923\"0.1923\","
      "$\"b\",,0.0011999999999999999\"0.0012\"]]*[:2039123,:9543892]\n"),
    V("*2\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n:2\r\n",
      "*[:1,|%[+\"ttl\",:3600]:2]\n"),
    V("|0\r\n+OK\r\n", "|%[]+\"OK\"\n"),
    V("|1\r\n+a\r\n+b\r\n_\r\n", "|%[+\"a\",+\"b\"]_\n"),
    V("|1\r\n+a\r\n+b\r\n$-1\r\n", "|%[+\"a\",+\"b\"]_\n"),
    V("|1\r\n+k\r\n|1\r\n+x\r\n+y\r\n+v\r\n+OK\r\n",
      "|%[+\"k\",|%[+\"x\",+\"y\"]+\"v\"]+\"OK\"\n"),
    V("*1\r\n|1\r\n+a\r\n+b\r\n*1\r\n|0\r\n:7\r\n",
      "*[|%[+\"a\",+\"b\"]*[|%[]:7]]\n"),
    V("|1\r\n+a\r\n+b\r\n>1\r\n+p\r\n", "|%[+\"a\",+\"b\"]>[+\"p\"]\n"),
    /* pipelined replies in one buffer */
    V("+OK\r\n:1\r\n$3\r\nabc\r\n*1\r\n+x\r\n>1\r\n+p\r\n_\r\n",
      "+\"OK\"\n:1\n$\"abc\"\n*[+\"x\"]\n>[+\"p\"]\n_\n"),
    V("*0\r\n*0\r\n$-1\r\n|0\r\n#f\r\n", "*[]\n*[]\n_\n|%[]#0\n"),
    /* depth limits that are just respected */
    VD("*1\r\n*1\r\n:1\r\n", "*[*[:1]]\n", 2),
    VD("*1\r\n*0\r\n", "*[*[]]\n", 2),
    VD("*2\r\n:1\r\n|1\r\n+a\r\n+b\r\n:2\r\n", "*[:1,|%[+\"a\",+\"b\"]:2]\n",
       2),
    /* length limits that are just respected */
    VL("$1\r\na\r\n*1\r\n:123456789012\r\n", "$\"a\"\n*[:123456789012]\n", 1),
    VL("+bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n", "+\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"\n", 100),
    VL("-dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd\r\n", "-\"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd\"\n", 10),
};

START_TEST(test_valid)
{
    const valid_case *c = &valid_cases[_i];
    result whole;
    size_t lines = 0;

    run_all_ways(c->in, c->len, c->depth, c->max_len, &whole);
    ck_assert_msg(whole.rc == AZR_OK, "case %d: error %s", _i, whole.err);
    ck_assert_msg(strcmp(whole.text.s, c->want) == 0,
                  "case %d: got \"%s\", want \"%s\"", _i, whole.text.s,
                  c->want);
    for (const char *p = c->want; *p; p++)
        lines += *p == '\n';
    ck_assert_uint_eq(whole.replies, lines);
    if (lines == 1)
        check_prefixes_need_more(c->in, c->len);
    result_free(&whole);
}
END_TEST

/* ---------------------------------------------------------------------
 * Malformed inputs: each must fail with AZR_E_PROTOCOL and a message
 * naming the problem, however it is cut.
 */
typedef struct bad_case {
    const char *in;
    size_t len;
    unsigned depth;
    size_t max_len;
    const char *want; /* substring of the error */
} bad_case;

#define B(in, want) {in, sizeof(in) - 1, 0, 0, want}
#define BL(in, depth, max_len, want) {in, sizeof(in) - 1, depth, max_len, want}

static const bad_case bad_cases[] = {
    B("?foo\r\n", "unknown type byte 0x3f"),
    B("PING\r\n", "unknown type byte 0x50"),      /* no inline commands */
    B("\r\n", "unknown type byte 0x0d"),
    B("+OK\r\n\0", "at byte 5: unknown type byte 0x00"),
    B("$abc\r\n", "bad length \"abc\" for '$'"),
    B("$\r\n", "bad length \"\" for '$'"),
    B("$-2\r\n", "bad length -2 for '$'"),
    B("$99999999999999999999\r\n", "bad length"),
    B("*-5\r\n", "bad length -5 for '*'"),
    B("*1x\r\n", "bad length \"1x\" for '*'"),
    B("%-1\r\n", "bad length -1 for '%'"),
    B("~-1\r\n", "bad length -1 for '~'"),
    B(">-1\r\n", "bad length -1 for '>'"),
    B("|-1\r\n", "bad length -1 for '|'"),
    B("!-1\r\n", "bad length -1 for '!'"),
    B("=-1\r\n", "bad length -1 for '='"),
    B("+OK\n", "bare \\n"),
    B(":1\n", "bare \\n"),
    B("*1\r\n+OK\n", "at byte 7: line ends in a bare \\n"),
    B("+OK\rX", "\\r not followed by \\n (got byte 0x58)"),
    B("$3\r\nabcX\r\n", "3-byte '$' payload not followed by \\r\\n"),
    B("$3\r\nabc\nX", "payload not followed by \\r\\n"),
    B("$0\r\nXY", "payload not followed by \\r\\n"),
    B(":9223372036854775808\r\n", "bad integer \"9223372036854775808\""),
    B(":-9223372036854775809\r\n", "bad integer"),
    B(":99999999999999999999999999999999999\r\n", "bad integer"),
    B(":\r\n", "bad integer \"\""),
    B(":-\r\n", "bad integer"),
    B(":+1\r\n", "bad integer"),
    B(":12a\r\n", "bad integer \"12a\""),
    B(": 1\r\n", "bad integer"),
    B("#x\r\n", "bad boolean \"x\""),
    B("#\r\n", "bad boolean"),
    B("#tt\r\n", "bad boolean"),
    B("#T\r\n", "bad boolean"),
    B(",abc\r\n", "bad double \"abc\""),
    B(",\r\n", "bad double"),
    B(",1.2.3\r\n", "bad double"),
    B(",1e\r\n", "bad double"),
    B(",e5\r\n", "bad double"),
    B(",.\r\n", "bad double"),
    B(",infinity\r\n", "bad double"),
    B(",0x10\r\n", "bad double"),
    B(", 1\r\n", "bad double"),
    B(",1 \r\n", "bad double"),
    B("(12a\r\n", "bad big number \"12a\""),
    B("(\r\n", "bad big number"),
    B("(-\r\n", "bad big number"),
    B("(+5\r\n", "bad big number"),
    B("_x\r\n", "bad null"),
    B("=3\r\ntxt\r\n", "verbatim string of length 3 is shorter"),
    B("=0\r\n\r\n", "shorter than its 4-byte"),
    B("=5\r\ntxt-x\r\n", "without a \"xxx:\" format prefix"),
    /* found by fuzz_resp: a NUL in the format made vtype "\x17" */
    B("=14\r\n\x17\0t:Some strin\r\n",
      "at byte 5: verbatim string format \"\\x17\\x00t\" is not 3 visible"),
    B("=5\r\nt t:x\r\n", "format \"t t\" is not 3 visible"),
    B("|1\r\n+a\r\n+b\r\n|1\r\n+c\r\n+d\r\n+OK\r\n",
      "attribute followed by another attribute"),
    B("+OK\r\n:1\r\n?\r\n", "at byte 9: unknown type byte 0x3f"),
    B("*3\r\n:1\r\n$2\r\nabc\r\n", "2-byte '$' payload"),
    B("%2\r\n+a\r\n*1\r\n*1\r\n#maybe\r\n", "bad boolean \"maybe\""),
    B("|1\r\n+a\r\n*2\r\n:1\r\n,x\r\n", "bad double \"x\""),
    /* nesting */
    B("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n"
      "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n"
      "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n"
      "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n"
      "*1\r\n:1\r\n", "at byte 128: nesting deeper than 32"),
    BL("*1\r\n*1\r\n*1\r\n:1\r\n", 2, 0, "nesting deeper than 2"),
    BL("*1\r\n*1\r\n*0\r\n", 2, 0, "nesting deeper than 2"),
    BL("%1\r\n+k\r\n~1\r\n>1\r\n:1\r\n", 2, 0, "nesting deeper than 2"),
    BL("*1\r\n|1\r\n+a\r\n+b\r\n:1\r\n", 1, 0, "nesting deeper than 1"),
    BL("*1\r\n*1\r\n|0\r\n:1\r\n", 2, 0, "nesting deeper than 2"),
    /* lengths above max_len */
    BL("$11\r\nhello world\r\n", 0, 10, "length 11 for '$' exceeds the limit of 10"),
    BL("$100\r\n", 0, 10, "length 100 for '$' exceeds the limit of 10"),
    BL("!11\r\n", 0, 10, "exceeds the limit of 10"),
    BL("=11\r\n", 0, 10, "exceeds the limit of 10"),
    BL("*11\r\n", 0, 10, "length 11 for '*' exceeds the limit of 10"),
    BL("%11\r\n", 0, 10, "length 11 for '%' exceeds the limit of 10"),
    BL("~11\r\n", 0, 10, "exceeds the limit"),
    BL(">11\r\n", 0, 10, "exceeds the limit"),
    BL("|11\r\n", 0, 10, "exceeds the limit"),
    B("$536870913\r\n", "exceeds the limit of 536870912"),
    B("*536870913\r\n", "exceeds the limit of 536870912"),
    /* lines: at most max(max_len, 64) bytes, complete or not */
    BL("+aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0, 10, "at byte 0: line longer than 64 bytes"),
    BL("+aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 0, 10, "at byte 0: line longer than 64 bytes"),
    BL("+OK\r\n-ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\r\n", 0, 100, "at byte 5: line longer than 100 bytes"),
    BL("+ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\n", 0, 100, "line longer than 100 bytes"),
    BL("*10\r\n", 0, 1, "length 10 for '*' exceeds the limit of 1"),
    BL("$2\r\nab\r\n", 0, 1, "length 2 for '$' exceeds the limit of 1"),
};

START_TEST(test_malformed)
{
    const bad_case *c = &bad_cases[_i];
    result whole;

    run_all_ways(c->in, c->len, c->depth, c->max_len, &whole);
    ck_assert_msg(whole.rc == AZR_E_PROTOCOL, "case %d (%s): rc %d", _i,
                  c->want, (int)whole.rc);
    ck_assert_msg(strstr(whole.err, c->want) != NULL,
                  "case %d: error \"%s\" does not contain \"%s\"", _i,
                  whole.err, c->want);
    ck_assert_msg(strncmp(whole.err, "RESP protocol error at byte ", 28) == 0,
                  "case %d: error \"%s\"", _i, whole.err);
    ck_assert_ptr_null(strchr(whole.err, '\n'));
    result_free(&whole);
}
END_TEST

/* Truncated inputs are "need more", never an error, and freeing the reader
 * with the partial reply inside does not leak (checked under ASan). */
START_TEST(test_truncated)
{
    static const char *const inputs[] = {
        "$5\r\nhel", "$5\r\nhello\r", "$5\r\nhello", "*2\r\n:1\r\n",
        "+OK\r", "+OK", "|1\r\n+a\r\n", "|1\r\n+a\r\n+b\r\n",
        "%2\r\n+a\r\n*3\r\n:1\r\n", "*1\r\n*1\r\n*1\r\n", ":12",
        ",1.5", "=15\r\ntxt:", "*536870912\r\n:1\r\n",
        "%268435456\r\n+a\r\n", "$536870912\r\nabc", "*2\r\n|0\r\n",
        "|0\r\n", ">1\r\n", "", "*",
    };

    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        azr_reader *rd = azr_reader_new(0, 0);
        azr_reply *rep = (azr_reply *)0x1;

        ck_assert_ptr_nonnull(rd);
        /* Huge announced lengths are a memory question, not a framing
         * one: lift the bound (test_reply_bound covers it). */
        ck_assert_int_eq(azr_reader_set_max_reply(rd, SIZE_MAX), AZR_OK);
        ck_assert_int_eq(azr_reader_feed(rd, inputs[i], strlen(inputs[i])),
                         AZR_OK);
        ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_OK);
        ck_assert_msg(rep == NULL, "\"%s\" gave a reply", inputs[i]);
        ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_OK);
        ck_assert_ptr_null(rep);
        ck_assert_str_eq(azr_reader_error(rd), "");
        azr_reader_free(rd);
    }
}
END_TEST

/* A reply's memory is bounded: an announced length that cannot fit fails
 * on its header; a reply whose payload outgrows the bound fails when it
 * does; the partial reply is freed; the charge restarts with each reply. */
START_TEST(test_reply_bound)
{
    azr_reader *rd = azr_reader_new(0, 0);
    azr_reply *rep = NULL;
    ck_assert_ptr_nonnull(rd);
    ck_assert_int_eq(azr_reader_set_max_reply(rd, 64 * 1024), AZR_OK);

    /* 500 elements of ~90 bytes fit in 64 KiB; 500 strings of 100 more
     * bytes each do not: the failure comes part-way through the payload. */
    char hdr[32];
    snprintf(hdr, sizeof hdr, "*%d\r\n", 500);
    ck_assert_int_eq(azr_reader_feed(rd, hdr, strlen(hdr)), AZR_OK);
    char item[128];
    memset(item, 'x', sizeof item);
    int failed_at = -1;
    for (int i = 0; i < 500 && failed_at < 0; i++) {
        char one[160];
        int n = snprintf(one, sizeof one, "$100\r\n%.100s\r\n", item);
        ck_assert_int_eq(azr_reader_feed(rd, one, (size_t)n), AZR_OK);
        azr_code rc = azr_reader_get_reply(rd, &rep);
        if (rc == AZR_E_PROTOCOL)
            failed_at = i;
        else
            ck_assert_ptr_null(rep);
    }
    ck_assert_int_gt(failed_at, 100);
    ck_assert_int_lt(failed_at, 499);
    ck_assert_ptr_nonnull(strstr(azr_reader_error(rd), "reply larger than "
                                 "the limit of 65536 bytes"));
    azr_reader_free(rd);

    /* An announcement alone: refused before any element arrives. */
    rd = azr_reader_new(0, 0);
    ck_assert_int_eq(azr_reader_set_max_reply(rd, 1024 * 1024), AZR_OK);
    ck_assert_int_eq(azr_reader_feed(rd, "*536870912\r\n", 13), AZR_OK);
    ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_E_PROTOCOL);
    ck_assert_int_eq(azr_reader_feed(rd, "$2000000\r\n", 11),
                     AZR_E_PROTOCOL);
    azr_reader_free(rd);
    rd = azr_reader_new(0, 0);
    ck_assert_int_eq(azr_reader_set_max_reply(rd, 1024 * 1024), AZR_OK);
    ck_assert_int_eq(azr_reader_feed(rd, "$2000000\r\n", 11), AZR_OK);
    ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_E_PROTOCOL);
    azr_reader_free(rd);

    /* Many replies each under the bound: the charge is per reply. */
    rd = azr_reader_new(0, 0);
    ck_assert_int_eq(azr_reader_set_max_reply(rd, 4096), AZR_OK);
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(azr_reader_feed(rd, "*2\r\n$3\r\nabc\r\n:1\r\n",
                                         17), AZR_OK);
        ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_OK);
        ck_assert_ptr_nonnull(rep);
        azr_reply_free(rep);
    }
    ck_assert_int_eq(azr_reader_set_max_reply(NULL, 1), AZR_E_INVALID_ARGUMENT);
    azr_reader_free(rd);
}
END_TEST

/* azr_reader_pending counts what was fed and not taken out. */
START_TEST(test_pending)
{
    azr_reader *rd = azr_reader_new(0, 0);
    azr_reply *rep = NULL;
    ck_assert_uint_eq(azr_reader_pending(rd), 0);
    ck_assert_uint_eq(azr_reader_pending(NULL), 0);
    ck_assert_int_eq(azr_reader_feed(rd, "+OK\r\n+NO", 9), AZR_OK);
    ck_assert_uint_eq(azr_reader_pending(rd), 9);
    ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_OK);
    ck_assert_ptr_nonnull(rep);
    azr_reply_free(rep);
    ck_assert_uint_eq(azr_reader_pending(rd), 4);
    ck_assert_int_eq(azr_reader_feed(rd, "\r\n", 2), AZR_OK);
    ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_OK);
    azr_reply_free(rep);
    ck_assert_uint_eq(azr_reader_pending(rd), 0);
    azr_reader_free(rd);
}
END_TEST

/* An array longer than the initial allocation grows as elements arrive. */
START_TEST(test_large_array)
{
    const size_t n = 3000;
    sbuf in = {0}, want = {0};
    result whole;

    sb_printf(&in, "*%zu\r\n", n);
    sb_putn(&want, "*[", 2);
    for (size_t i = 0; i < n; i++) {
        sb_printf(&in, ":%zu\r\n", i);
        sb_printf(&want, "%s:%zu", i ? "," : "", i);
    }
    sb_putn(&want, "]\n", 2);
    run_cuts(in.s, in.len, NULL, 0, 0, 0, &whole);
    ck_assert_int_eq(whole.rc, AZR_OK);
    ck_assert_str_eq(whole.text.s, want.s);
    result_free(&whole);

    /* same, fed 7 bytes at a time */
    {
        size_t ncuts = in.len / 7, *cuts = malloc((ncuts + 1) * sizeof *cuts);

        ck_assert_ptr_nonnull(cuts);
        for (size_t i = 0; i < ncuts; i++)
            cuts[i] = 7 * (i + 1);
        if (ncuts > 0 && cuts[ncuts - 1] == in.len)
            ncuts--;
        run_cuts(in.s, in.len, cuts, ncuts, 0, 0, &whole);
        ck_assert_int_eq(whole.rc, AZR_OK);
        ck_assert_str_eq(whole.text.s, want.s);
        result_free(&whole);
        free(cuts);
    }
    free(in.s);
    free(want.s);
}
END_TEST

/* A 1 MiB bulk string fed in 4 KiB pieces, then a small reply: the buffer
 * logic (compaction, growth, release) keeps the bytes intact. */
START_TEST(test_large_bulk)
{
    const size_t n = 1 << 20;
    char *payload = malloc(n), hdr[32];
    azr_reader *rd = azr_reader_new(0, 0);
    azr_reply *rep = NULL;
    int hl;

    ck_assert_ptr_nonnull(payload);
    ck_assert_ptr_nonnull(rd);
    for (size_t i = 0; i < n; i++)
        payload[i] = (char)(i * 31 + (i >> 9));
    hl = snprintf(hdr, sizeof hdr, ":5\r\n$%zu\r\n", n);
    ck_assert_int_eq(azr_reader_feed(rd, hdr, (size_t)hl), AZR_OK);
    ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_OK);
    ck_assert_ptr_nonnull(rep);
    ck_assert_int_eq(rep->integer, 5);
    azr_reply_free(rep);
    for (size_t off = 0; off < n; off += 4096) {
        ck_assert_int_eq(azr_reader_feed(rd, payload + off, 4096), AZR_OK);
        ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_OK);
        ck_assert_ptr_null(rep);
    }
    ck_assert_int_eq(azr_reader_feed(rd, "\r\n+OK\r\n", 7), AZR_OK);
    ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_OK);
    ck_assert_ptr_nonnull(rep);
    ck_assert_int_eq(rep->type, AZR_REPLY_STRING);
    ck_assert_uint_eq(rep->len, n);
    ck_assert_int_eq(memcmp(rep->str, payload, n), 0);
    ck_assert_int_eq(rep->str[n], '\0');
    azr_reply_free(rep);
    ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_OK);
    ck_assert_ptr_nonnull(rep);
    ck_assert_int_eq(rep->type, AZR_REPLY_STATUS);
    ck_assert_str_eq(rep->str, "OK");
    azr_reply_free(rep);
    ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_OK);
    ck_assert_ptr_null(rep);
    azr_reader_free(rd);
    free(payload);
}
END_TEST

/* Very deep nesting with a raised limit: neither the reader nor the free
 * recurses on the C stack. */
START_TEST(test_deep_nesting)
{
    const size_t depth = 200000;
    size_t n = depth * 4 + 4;
    char *in = malloc(n);
    azr_reader *rd;
    azr_reply *rep = NULL, *p;
    size_t levels = 0;

    ck_assert_ptr_nonnull(in);
    for (size_t i = 0; i < depth; i++)
        memcpy(in + 4 * i, "*1\r\n", 4);
    memcpy(in + 4 * depth, ":1\r\n", 4);

    rd = azr_reader_new((unsigned)depth, 0);
    ck_assert_ptr_nonnull(rd);
    ck_assert_int_eq(azr_reader_feed(rd, in, n), AZR_OK);
    ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_OK);
    ck_assert_ptr_nonnull(rep);
    for (p = rep; p->type == AZR_REPLY_ARRAY; p = p->element[0]) {
        ck_assert_uint_eq(p->elements, 1);
        levels++;
    }
    ck_assert_uint_eq(levels, depth);
    ck_assert_int_eq(p->type, AZR_REPLY_INTEGER);
    azr_reply_free(rep);
    azr_reader_free(rd);

    /* one level too deep: error, partial tree of depth levels freed */
    rd = azr_reader_new((unsigned)depth - 1, 0);
    ck_assert_ptr_nonnull(rd);
    ck_assert_int_eq(azr_reader_feed(rd, in, n), AZR_OK);
    ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_E_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(azr_reader_error(rd), "nesting deeper than 199999"));
    azr_reader_free(rd);

    /* partial deep tree freed by azr_reader_free */
    rd = azr_reader_new((unsigned)depth, 0);
    ck_assert_ptr_nonnull(rd);
    ck_assert_int_eq(azr_reader_feed(rd, in, n - 4), AZR_OK);
    ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_OK);
    ck_assert_ptr_null(rep);
    azr_reader_free(rd);
    free(in);
}
END_TEST

/* The default limits: depth 32 is accepted, 33 refused. */
START_TEST(test_default_depth)
{
    char in[34 * 4 + 4];
    result res;

    for (int levels = 32; levels <= 33; levels++) {
        for (int i = 0; i < levels; i++)
            memcpy(in + 4 * i, "*1\r\n", 4);
        memcpy(in + 4 * levels, "+x\r\n", 4);
        run_cuts(in, (size_t)levels * 4 + 4, NULL, 0, 0, 0, &res);
        if (levels == 32) {
            ck_assert_int_eq(res.rc, AZR_OK);
            ck_assert_uint_eq(res.replies, 1);
        } else {
            ck_assert_int_eq(res.rc, AZR_E_PROTOCOL);
            ck_assert_str_eq(res.err, "RESP protocol error at byte 128: "
                             "nesting deeper than 32");
        }
        result_free(&res);
    }
}
END_TEST

/* Exact error text for a few cases (the message is part of the UX). */
START_TEST(test_error_text)
{
    result res;

    run_cuts("+OK\r\n?x", 7, NULL, 0, 0, 0, &res);
    ck_assert_uint_eq(res.replies, 1);
    ck_assert_str_eq(res.err,
                     "RESP protocol error at byte 5: unknown type byte 0x3f");
    result_free(&res);
    run_cuts("#\x01\r\n", 4, NULL, 0, 0, 0, &res);
    ck_assert_str_eq(res.err, "RESP protocol error at byte 0: bad boolean "
                     "\"\\x01\" (expected t or f)");
    result_free(&res);
}
END_TEST

/* The reply tree's fields for the types whose dump does not show them. */
START_TEST(test_fields)
{
    static const char in[] = "=15\r\ntxt:Some string\r\n,3.25\r\n#t\r\n";
    azr_reader *rd = azr_reader_new(0, 0);
    azr_reply *rep = NULL;

    ck_assert_ptr_nonnull(rd);
    ck_assert_int_eq(azr_reader_feed(rd, in, sizeof in - 1), AZR_OK);
    ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_OK);
    ck_assert_int_eq(rep->type, AZR_REPLY_VERBATIM);
    ck_assert_str_eq(rep->vtype, "txt");
    ck_assert_str_eq(rep->str, "Some string");
    ck_assert_uint_eq(rep->len, 11);
    azr_reply_free(rep);
    ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_OK);
    ck_assert_int_eq(rep->type, AZR_REPLY_DOUBLE);
    ck_assert_double_eq(rep->dval, 3.25);
    ck_assert_str_eq(rep->str, "3.25");
    azr_reply_free(rep);
    ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_OK);
    ck_assert_int_eq(rep->type, AZR_REPLY_BOOL);
    ck_assert_int_eq(rep->integer, 1);
    azr_reply_free(rep);
    azr_reader_free(rd);
}
END_TEST

START_TEST(test_null_arguments)
{
    azr_reply *rep = (azr_reply *)0x1;
    azr_reader *rd = azr_reader_new(0, 0);

    azr_reply_free(NULL);
    azr_reader_free(NULL);
    ck_assert_str_eq(azr_reader_error(NULL), "");
    ck_assert_int_eq(azr_reader_get_reply(NULL, &rep), AZR_E_INVALID_ARGUMENT);
    ck_assert_ptr_null(rep);
    ck_assert_int_eq(azr_reader_feed(NULL, "x", 1), AZR_E_INVALID_ARGUMENT);
    ck_assert_int_eq(azr_reader_get_reply(rd, NULL), AZR_E_INVALID_ARGUMENT);
    ck_assert_int_eq(azr_reader_feed(rd, NULL, 1), AZR_E_INVALID_ARGUMENT);
    ck_assert_int_eq(azr_reader_feed(rd, NULL, 0), AZR_OK);
    azr_reader_free(rd);
}
END_TEST

/* ---------------------------------------------------------------------
 * azr_format_command
 */
START_TEST(test_format_basic)
{
    const char *argv[] = {"SET", "key", "value"};
    char *out = NULL;
    size_t len = 0;
    static const char want[] = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";

    ck_assert_int_eq(azr_format_command(&out, &len, 3, argv, NULL), AZR_OK);
    ck_assert_uint_eq(len, sizeof want - 1);
    ck_assert_int_eq(memcmp(out, want, len), 0);
    ck_assert_int_eq(out[len], '\0');
    free(out);
}
END_TEST

/* Binary arguments (embedded NUL, CR LF, empty) round-trip through the
 * reader byte for byte. */
START_TEST(test_format_binary_roundtrip)
{
    char big[1000];
    const char *argv[12];
    size_t argvlen[12];
    char *out = NULL;
    size_t len = 0;
    azr_reader *rd;
    azr_reply *rep = NULL;
    static const char want2[] = "*3\r\n$3\r\nSET\r\n$3\r\na\0b\r\n$0\r\n\r\n";

    argv[0] = "SET";     argvlen[0] = 3;
    argv[1] = "a\0b";    argvlen[1] = 3;
    argv[2] = "";        argvlen[2] = 0;
    ck_assert_int_eq(azr_format_command(&out, &len, 3, argv, argvlen), AZR_OK);
    ck_assert_uint_eq(len, sizeof want2 - 1);
    ck_assert_int_eq(memcmp(out, want2, len), 0);
    free(out);

    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i % 256);
    for (size_t i = 0; i < 12; i++) {
        argv[i] = big + i;
        argvlen[i] = i == 11 ? sizeof big - 11 : i;
    }
    argv[3] = "\r\n\r\n";
    argvlen[3] = 4;
    argv[4] = NULL; /* allowed for an empty argument */
    argvlen[4] = 0;
    ck_assert_int_eq(azr_format_command(&out, &len, 12, argv, argvlen), AZR_OK);
    ck_assert_int_eq(memcmp(out, "*12\r\n$0\r\n\r\n$1\r\n", 15), 0);

    rd = azr_reader_new(0, 0);
    ck_assert_ptr_nonnull(rd);
    ck_assert_int_eq(azr_reader_feed(rd, out, len), AZR_OK);
    ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_OK);
    ck_assert_ptr_nonnull(rep);
    ck_assert_int_eq(rep->type, AZR_REPLY_ARRAY);
    ck_assert_uint_eq(rep->elements, 12);
    for (size_t i = 0; i < 12; i++) {
        ck_assert_int_eq(rep->element[i]->type, AZR_REPLY_STRING);
        ck_assert_uint_eq(rep->element[i]->len, argvlen[i]);
        if (argvlen[i] > 0)
            ck_assert_int_eq(memcmp(rep->element[i]->str, argv[i],
                                    argvlen[i]), 0);
    }
    azr_reply_free(rep);
    ck_assert_int_eq(azr_reader_get_reply(rd, &rep), AZR_OK);
    ck_assert_ptr_null(rep);
    azr_reader_free(rd);
    free(out);
}
END_TEST

START_TEST(test_format_invalid)
{
    const char *argv[] = {"GET", NULL};
    char *out = (char *)0x1;
    size_t len = 7;

    ck_assert_int_eq(azr_format_command(NULL, &len, 1, argv, NULL),
                     AZR_E_INVALID_ARGUMENT);
    ck_assert_int_eq(azr_format_command(&out, NULL, 1, argv, NULL),
                     AZR_E_INVALID_ARGUMENT);
    ck_assert_ptr_null(out);
    out = (char *)0x1;
    ck_assert_int_eq(azr_format_command(&out, &len, 0, argv, NULL),
                     AZR_E_INVALID_ARGUMENT);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(azr_format_command(&out, &len, 1, NULL, NULL),
                     AZR_E_INVALID_ARGUMENT);
    ck_assert_int_eq(azr_format_command(&out, &len, 2, argv, NULL),
                     AZR_E_INVALID_ARGUMENT);
    ck_assert_ptr_null(out);
}
END_TEST

/* ---------------------------------------------------------------------
 * Allocation failures. The test is linked with -Wl,--wrap=malloc (and
 * calloc, realloc): when armed, the fail_at-th allocation fails. Every
 * failure must be AZR_E_NOMEM that leaves the reader as it was, so the
 * caller can retry and get exactly the replies of an undisturbed run, and
 * nothing may leak (ASan/valgrind).
 */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static unsigned long alloc_count, fail_at; /* fail_at 0: disarmed */
static bool injected;

static bool should_fail(void)
{
    if (fail_at == 0)
        return false;
    if (++alloc_count == fail_at) {
        injected = true;
        return true;
    }
    return false;
}

void *__wrap_malloc(size_t n)
{
    return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : __real_realloc(p, n);
}

static void arm(unsigned long k)
{
    alloc_count = 0;
    fail_at = k;
}

/* Feeds `in` in chunks of `chunk` bytes under failure injection (the k-th
 * allocation fails), retrying whatever failed with injection off. */
static void run_with_failure(const char *in, size_t n, size_t chunk,
                             unsigned long k, result *res)
{
    azr_reader *rd;

    memset(res, 0, sizeof *res);
    sb_putn(&res->text, "", 0);
    arm(k);
    rd = azr_reader_new(0, 0);
    fail_at = 0;
    if (rd == NULL) {
        ck_assert(injected);
        rd = azr_reader_new(0, 0);
        ck_assert_ptr_nonnull(rd);
    }
    for (size_t off = 0; off < n; off += chunk) {
        size_t len = n - off < chunk ? n - off : chunk;
        azr_code rc;

        fail_at = injected ? 0 : k;
        rc = azr_reader_feed(rd, in + off, len);
        fail_at = 0;
        if (rc == AZR_E_NOMEM) {
            ck_assert(injected);
            rc = azr_reader_feed(rd, in + off, len);
        }
        ck_assert_int_eq(rc, AZR_OK);
        for (;;) {
            azr_reply *rep = NULL;

            fail_at = injected ? 0 : k;
            rc = azr_reader_get_reply(rd, &rep);
            fail_at = 0;
            if (rc == AZR_E_NOMEM) {
                ck_assert(injected);
                ck_assert_ptr_null(rep);
                ck_assert_str_eq(azr_reader_error(rd), "");
                continue; /* retry with injection off */
            }
            ck_assert_int_eq(rc, AZR_OK);
            if (rep == NULL)
                break;
            dump(&res->text, rep);
            sb_putn(&res->text, "\n", 1);
            res->replies++;
            azr_reply_free(rep);
        }
    }
    azr_reader_free(rd);
}

START_TEST(test_nomem)
{
    static const char in[] =
        "|0\r\n+x\r\n*2\r\n$-1\r\n*-1\r\n"
        "|1\r\n+a\r\n%1\r\n+k\r\n*2\r\n:1\r\n$3\r\nabc\r\n"
        "*3\r\n*1\r\n~2\r\n,1.5\r\n(12\r\n=5\r\ntxt:x\r\n|0\r\n>1\r\n#t\r\n"
        "+OK\r\n!2\r\nEE\r\n%0\r\n*0\r\n";
    static const size_t chunks[] = {sizeof in - 1, 5, 1};
    result clean;

    run_cuts(in, sizeof in - 1, NULL, 0, 0, 0, &clean);
    ck_assert_int_eq(clean.rc, AZR_OK);
    ck_assert_uint_eq(clean.replies, 7);
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        unsigned long k;

        for (k = 1;; k++) {
            result res;

            injected = false;
            run_with_failure(in, sizeof in - 1, chunks[c], k, &res);
            ck_assert_msg(strcmp(res.text.s, clean.text.s) == 0,
                          "chunk %zu, allocation %lu failed: got \"%s\"",
                          chunks[c], k, res.text.s);
            result_free(&res);
            if (!injected)
                break;
        }
        ck_assert_uint_gt(k, 20); /* the injection did reach the reader */
    }
    result_free(&clean);

    /* azr_format_command */
    {
        const char *argv[] = {"GET", "key"};
        char *out = (char *)0x1;
        size_t len = 9;

        arm(1);
        ck_assert_int_eq(azr_format_command(&out, &len, 2, argv, NULL),
                         AZR_E_NOMEM);
        fail_at = 0;
        ck_assert_ptr_null(out);
        ck_assert_uint_eq(len, 0);
    }
}
END_TEST

static Suite *resp_suite(void)
{
    Suite *s = suite_create("resp");
    TCase *tc = tcase_create("reader");

    tcase_add_loop_test(tc, test_valid, 0,
                        (int)(sizeof valid_cases / sizeof valid_cases[0]));
    tcase_add_loop_test(tc, test_malformed, 0,
                        (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_reply_bound);
    tcase_add_test(tc, test_pending);
    tcase_add_test(tc, test_large_array);
    tcase_add_test(tc, test_large_bulk);
    tcase_add_test(tc, test_deep_nesting);
    tcase_add_test(tc, test_default_depth);
    tcase_add_test(tc, test_error_text);
    tcase_add_test(tc, test_fields);
    tcase_add_test(tc, test_null_arguments);
    tcase_add_test(tc, test_nomem);
    suite_add_tcase(s, tc);

    tc = tcase_create("format");
    tcase_add_test(tc, test_format_basic);
    tcase_add_test(tc, test_format_binary_roundtrip);
    tcase_add_test(tc, test_format_invalid);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(resp_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
