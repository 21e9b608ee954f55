/*
 * check_cluster.c - unit tests of the I/O-free parts of cluster mode
 * (lib/cluster/): CRC16 and key slots, the slot of a command, the slot map
 * from CLUSTER SHARDS / CLUSTER SLOTS replies, MOVED/ASK parsing.
 *
 * Replies are built from RESP text with the library's own reader, so each
 * shape here is one the reader really produces. The redis7_* files of
 * tests/fuzz/corpus/slotmap/ were captured from a real Redis 7.0.15
 * cluster (two primaries, one replica; then the first primary killed and
 * its replica promoted with CLUSTER FAILOVER TAKEOVER).
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"

/* ---------------------------------------------------------------------
 * RESP text: one item a line; a line "$TEXT" is a bulk string (its length
 * counted here), any other line is sent as it is, ended by CRLF.
 */
typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->s = realloc(b->s, cap);
        ck_assert_ptr_nonnull(b->s);
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_printf(sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    ck_assert(n >= 0 && (size_t)n < sizeof tmp);
    sb_add(b, tmp, (size_t)n);
}

/* Appends the items of `text` (lines as above). */
static void sb_resp(sbuf *b, const char *text)
{
    const char *p = text;
    while (*p != '\0') {
        const char *eol = strchr(p, '\n');
        size_t n = eol != NULL ? (size_t)(eol - p) : strlen(p);
        if (n > 0 && p[0] == '$') {
            sb_printf(b, "$%zu\r\n", n - 1);
            sb_add(b, p + 1, n - 1);
        } else {
            sb_add(b, p, n);
        }
        sb_add(b, "\r\n", 2);
        p += n + (eol != NULL);
    }
}

/* The one reply of a RESP byte string. */
static azr_reply *parse_bytes(const char *s, size_t n)
{
    azr_reader *r = azr_reader_new(0, 0);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(azr_reader_feed(r, s, n), AZR_OK);
    azr_reply *reply = NULL;
    ck_assert_msg(azr_reader_get_reply(r, &reply) == AZR_OK,
                  "reader: %s", azr_reader_error(r));
    ck_assert_ptr_nonnull(reply);
    azr_reply *more = NULL;
    ck_assert_int_eq(azr_reader_get_reply(r, &more), AZR_OK);
    ck_assert_ptr_null(more);
    azr_reader_free(r);
    return reply;
}

static azr_reply *parse_text(const char *text)
{
    sbuf b = {0};
    sb_resp(&b, text);
    azr_reply *r = parse_bytes(b.s, b.len);
    free(b.s);
    return r;
}

static azr_reply *parse_file(const char *name)
{
    const char *src = getenv("AZR_TEST_SRCDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/slotmap/%s",
             src != NULL ? src : ".", name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return parse_bytes(buf, n);
}

/* ---------------------------------------------------------------------
 * CRC16 and key slots.
 */
START_TEST(test_crc16_vectors)
{
    ck_assert_uint_eq(azr__crc16("123456789", 9), 0x31C3);
    ck_assert_uint_eq(azr__crc16("", 0), 0);
    ck_assert_uint_eq(azr__crc16(NULL, 0), 0);
    ck_assert_uint_eq(azr__crc16("\0", 1), 0);
    /* CRC16/XMODEM of "A" (the catalogue's one-byte check) */
    ck_assert_uint_eq(azr__crc16("A", 1), 0x58E5);
}
END_TEST

/* Expected slots: CLUSTER KEYSLOT on a throwaway redis-server 7.0.15
 * (Debian 12) started with --cluster-enabled yes on 127.0.0.1; the keys
 * with NUL or high bytes sent as raw RESP. */
static const struct {
    const char *key;
    size_t len;
    unsigned slot;
} known_slots[] = {
    {"123456789", 9, 12739},
    {"foo", 3, 12182},
    {"bar", 3, 5061},
    {"hello", 5, 866},
    {"user1000", 8, 3443},
    {"{user1000}.following", 20, 3443},
    {"foo{}{bar}", 10, 8363},
    {"foo{{bar}}zap", 13, 4015},
    {"{}", 2, 15257},
    {"{", 1, 4092},
    {"}", 1, 12090},
    {"", 0, 0},
    {"a", 1, 15495},
    {"key:1", 5, 6657},
    {"somekey", 7, 11058},
    {"a\0b", 3, 8383},
    {"\0", 1, 0},
    {"{a\0}x", 5, 14363},
    {"\xff\xfe", 2, 3374},
};

START_TEST(test_key_slot_known)
{
    for (size_t i = 0; i < sizeof known_slots / sizeof known_slots[0]; i++)
        ck_assert_msg(azr_key_slot(known_slots[i].key, known_slots[i].len) ==
                          known_slots[i].slot,
                      "key %zu: %u, expected %u", i,
                      azr_key_slot(known_slots[i].key, known_slots[i].len),
                      known_slots[i].slot);
}
END_TEST

START_TEST(test_key_slot_hash_tags)
{
    unsigned u = azr_key_slot("user1000", 8);
    ck_assert_uint_eq(azr_key_slot("{user1000}.following", 20), u);
    ck_assert_uint_eq(azr_key_slot("{user1000}.followers", 20), u);
    ck_assert_uint_eq(azr_key_slot("x{user1000}", 11), u);
    /* empty tag: the whole key */
    ck_assert_uint_eq(azr_key_slot("foo{}{bar}", 10),
                      azr__crc16("foo{}{bar}", 10) & 16383);
    /* first '{' then first '}' after it: "{bar" */
    ck_assert_uint_eq(azr_key_slot("foo{{bar}}zap", 13),
                      azr_key_slot("{bar", 4));
    ck_assert_uint_eq(azr_key_slot("{bar", 4), azr__crc16("{bar", 4) & 16383);
    ck_assert_uint_eq(azr_key_slot("{}", 2), azr__crc16("{}", 2) & 16383);
    ck_assert_uint_eq(azr_key_slot("}{a}", 4), azr_key_slot("a", 1));
    /* a NUL inside the tag is hashed like any byte */
    ck_assert_uint_eq(azr_key_slot("{a\0}x", 5), azr_key_slot("a\0", 2));
    ck_assert_uint_eq(azr_key_slot(NULL, 0), 0);
    for (unsigned i = 0; i < 1000; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "k%u", i);
        ck_assert_uint_lt(azr_key_slot(k, (size_t)n), AZR_SLOT_COUNT);
    }
}
END_TEST

/* ---------------------------------------------------------------------
 * The slot of a command.
 */
static azr_code slot_of(unsigned *slot, char *err, size_t argc,
                        const char *const *argv)
{
    azr_command c = {argc, argv, NULL};
    return azr_command_slot(&c, slot, err);
}

#define SLOT_OF(slot, err, ...)                                           \
    slot_of(slot, err,                                                    \
            sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *),  \
            (const char *const[]){__VA_ARGS__})

static unsigned ks(const char *k)
{
    return azr_key_slot(k, strlen(k));
}

/* Expects `slot` from the command, errbuf left empty. */
#define EXPECT_SLOT(want, ...)                                            \
    do {                                                                  \
        unsigned s_ = 12345;                                              \
        char e_[AZR_ERRBUF_SIZE] = "junk";                                \
        ck_assert_int_eq(SLOT_OF(&s_, e_, __VA_ARGS__), AZR_OK);          \
        ck_assert_uint_eq(s_, (want));                                    \
        ck_assert_str_eq(e_, "");                                         \
    } while (0)

#define EXPECT_CROSS(...)                                                 \
    do {                                                                  \
        unsigned s_ = 12345;                                              \
        char e_[AZR_ERRBUF_SIZE] = "";                                    \
        ck_assert_int_eq(SLOT_OF(&s_, e_, __VA_ARGS__), AZR_E_CROSSSLOT); \
        ck_assert_uint_eq(s_, AZR_SLOT_NONE);                             \
        ck_assert_ptr_nonnull(strstr(e_, "keys in different slots"));     \
    } while (0)

START_TEST(test_command_simple)
{
    EXPECT_SLOT(ks("foo"), "GET", "foo");
    EXPECT_SLOT(ks("foo"), "get", "foo");
    EXPECT_SLOT(ks("foo"), "gEt", "foo");
    EXPECT_SLOT(ks("k"), "SET", "k", "v", "EX", "10");
    EXPECT_SLOT(AZR_SLOT_NONE, "PING");
    EXPECT_SLOT(AZR_SLOT_NONE, "FOOBAR", "x");
    EXPECT_SLOT(AZR_SLOT_NONE, "CLUSTER", "SHARDS");
    EXPECT_SLOT(AZR_SLOT_NONE, "GEORADIUSBYMEMBER_RO_AND_MORE", "x");
    EXPECT_SLOT(AZR_SLOT_NONE, "", "x");
    EXPECT_SLOT(AZR_SLOT_NONE, "GET"); /* arity: the server's error */
    EXPECT_SLOT(ks("a"), "RENAME", "a", "a");
    EXPECT_CROSS("RENAME", "a", "b");
    EXPECT_SLOT(ks("x"), "BLPOP", "{x}a", "{x}b", "0");
    EXPECT_SLOT(ks("a"), "BLPOP", "a", "0");
    EXPECT_SLOT(AZR_SLOT_NONE, "BLPOP", "0");
    EXPECT_SLOT(ks("t"), "BITOP", "AND", "{t}d", "{t}a", "{t}b");
    EXPECT_CROSS("BITOP", "AND", "d", "a");
    EXPECT_SLOT(ks("w"), "WATCH", "{w}1", "{w}2", "w");
    EXPECT_SLOT(ks("f"), "SPUBLISH", "f", "message");
}
END_TEST

START_TEST(test_command_mset)
{
    EXPECT_SLOT(ks("t"), "MSET", "{t}a", "1", "{t}b", "2");
    EXPECT_SLOT(ks("t"), "mset", "{t}a", "1", "{t}b"); /* odd: as given */
    unsigned s = 0;
    char err[AZR_ERRBUF_SIZE];
    ck_assert_int_eq(SLOT_OF(&s, err, "MSET", "a", "1", "b", "2"),
                     AZR_E_CROSSSLOT);
    char want[AZR_ERRBUF_SIZE];
    snprintf(want, sizeof want, "MSET: keys in different slots (key 1 in "
             "slot %u, key 2 in slot %u): use a {hash tag}", ks("a"),
             ks("b"));
    ck_assert_str_eq(err, want);
    ck_assert_uint_eq(s, AZR_SLOT_NONE);
    /* the values are not keys */
    EXPECT_SLOT(ks("a"), "MSET", "a", "b", "{a}c", "d");
    EXPECT_SLOT(ks("q"), "MGET", "{q}1", "{q}2", "{q}3", "q");
    ck_assert_int_eq(SLOT_OF(&s, err, "mget", "{q}1", "{q}2", "x"),
                     AZR_E_CROSSSLOT);
    snprintf(want, sizeof want, "MGET: keys in different slots (key 1 in "
             "slot %u, key 3 in slot %u): use a {hash tag}", ks("q"),
             ks("x"));
    ck_assert_str_eq(err, want);
    /* NULL errbuf is fine */
    ck_assert_int_eq(SLOT_OF(&s, NULL, "MSET", "a", "1", "b", "2"),
                     AZR_E_CROSSSLOT);
}
END_TEST

START_TEST(test_command_numkeys)
{
    EXPECT_SLOT(AZR_SLOT_NONE, "EVAL", "return 1", "0");
    EXPECT_SLOT(AZR_SLOT_NONE, "EVAL", "return 1", "0", "arg");
    EXPECT_SLOT(ks("x"), "EVAL", "s", "2", "{x}a", "{x}b", "arg", "arg2");
    EXPECT_CROSS("EVAL", "s", "2", "a", "b");
    EXPECT_SLOT(ks("a"), "EVAL", "s", "1", "a", "b");
    EXPECT_SLOT(ks("a"), "evalsha_ro", "sha", "1", "a");
    EXPECT_SLOT(ks("a"), "FCALL", "f", "1", "a");
    EXPECT_SLOT(ks("a"), "FCALL_RO", "f", "1", "a");
    EXPECT_SLOT(ks("a"), "EVAL_RO", "s", "1", "a");
    /* numkeys not a count or past argc: the server's syntax error */
    EXPECT_SLOT(AZR_SLOT_NONE, "EVAL", "s", "3", "a", "b");
    EXPECT_SLOT(AZR_SLOT_NONE, "EVAL", "s", "abc", "a");
    EXPECT_SLOT(AZR_SLOT_NONE, "EVAL", "s", "-1", "a");
    EXPECT_SLOT(AZR_SLOT_NONE, "EVAL", "s", "01", "a");
    EXPECT_SLOT(AZR_SLOT_NONE, "EVAL", "s", "99999999999999999999", "a");
    EXPECT_SLOT(AZR_SLOT_NONE, "EVAL", "s");
    EXPECT_SLOT(ks("z"), "ZUNIONSTORE", "{z}d", "2", "{z}a", "{z}b",
                "WEIGHTS", "1", "2");
    EXPECT_CROSS("ZUNIONSTORE", "d", "2", "{d}a", "b");
    EXPECT_CROSS("ZINTERSTORE", "d", "1", "a");
    EXPECT_SLOT(ks("d"), "ZDIFFSTORE", "d", "1", "{d}a");
    EXPECT_SLOT(ks("a"), "ZUNION", "2", "a", "a", "WITHSCORES");
    EXPECT_SLOT(ks("a"), "ZINTERCARD", "1", "a", "LIMIT", "5");
    EXPECT_SLOT(ks("a"), "SINTERCARD", "1", "a");
    EXPECT_SLOT(ks("a"), "LMPOP", "1", "a", "LEFT");
    EXPECT_SLOT(ks("a"), "ZMPOP", "1", "a", "MIN");
    EXPECT_SLOT(ks("l"), "BLMPOP", "0", "2", "{l}a", "{l}b", "LEFT");
    EXPECT_CROSS("BLMPOP", "0", "2", "a", "b", "LEFT");
    EXPECT_SLOT(ks("a"), "BZMPOP", "1.5", "1", "a", "MAX", "COUNT", "2");
    EXPECT_SLOT(AZR_SLOT_NONE, "BZMPOP", "1.5", "x", "a", "MAX");
}
END_TEST

START_TEST(test_command_streams)
{
    EXPECT_SLOT(ks("s"), "XREAD", "COUNT", "2", "STREAMS", "{s}1", "{s}2",
                "0", "0");
    EXPECT_SLOT(ks("k"), "XREAD", "BLOCK", "0", "streams", "k", "$");
    EXPECT_SLOT(ks("k"), "XREADGROUP", "GROUP", "g", "c", "COUNT", "1",
                "NOACK", "STREAMS", "k", ">");
    /* a group named STREAMS is not the keyword */
    EXPECT_SLOT(ks("k"), "XREADGROUP", "GROUP", "STREAMS", "c", "STREAMS",
                "k", ">");
    EXPECT_CROSS("XREAD", "STREAMS", "a", "b", "0", "0");
    EXPECT_SLOT(AZR_SLOT_NONE, "XREAD", "STREAMS", "a", "b", "0");
    EXPECT_SLOT(AZR_SLOT_NONE, "XREAD", "STREAMS");
    EXPECT_SLOT(AZR_SLOT_NONE, "XREAD", "BOGUS", "STREAMS", "a", "0");
    EXPECT_SLOT(ks("k"), "XGROUP", "CREATE", "k", "g", "$", "MKSTREAM");
    EXPECT_SLOT(ks("k"), "xgroup", "setid", "k", "g", "0");
    EXPECT_SLOT(AZR_SLOT_NONE, "XGROUP", "HELP");
    EXPECT_SLOT(ks("k"), "XINFO", "STREAM", "k", "FULL");
    EXPECT_SLOT(ks("k"), "XINFO", "CONSUMERS", "k", "g");
    EXPECT_SLOT(ks("k"), "XADD", "k", "*", "f", "v");
}
END_TEST

START_TEST(test_command_subcommands_and_sort)
{
    EXPECT_SLOT(ks("k"), "OBJECT", "ENCODING", "k");
    EXPECT_SLOT(ks("k"), "object", "freq", "k");
    EXPECT_SLOT(ks("k"), "OBJECT", "IDLETIME", "k");
    EXPECT_SLOT(ks("k"), "OBJECT", "REFCOUNT", "k");
    EXPECT_SLOT(AZR_SLOT_NONE, "OBJECT", "HELP");
    EXPECT_SLOT(AZR_SLOT_NONE, "OBJECT", "ENCODING");
    EXPECT_SLOT(ks("k"), "MEMORY", "USAGE", "k", "SAMPLES", "5");
    EXPECT_SLOT(AZR_SLOT_NONE, "MEMORY", "STATS");
    EXPECT_SLOT(ks("k"), "SORT", "k");
    EXPECT_SLOT(ks("q"), "SORT", "{q}k", "BY", "w_*", "LIMIT", "0", "5",
                "GET", "#", "GET", "o_*", "DESC", "ALPHA", "STORE", "{q}d");
    EXPECT_CROSS("SORT", "k", "STORE", "d");
    /* patterns are not keys, even when named STORE */
    EXPECT_SLOT(ks("k"), "SORT", "k", "BY", "STORE", "GET", "STORE");
    EXPECT_SLOT(ks("k"), "SORT_RO", "k", "BY", "x", "STORE", "d");
    EXPECT_SLOT(ks("g"), "GEORADIUS", "{g}k", "15", "37", "200", "km",
                "STORE", "{g}d");
    EXPECT_CROSS("GEORADIUS", "k", "15", "37", "200", "km", "STOREDIST",
                 "d");
    EXPECT_CROSS("GEORADIUSBYMEMBER", "k", "m", "200", "km", "STORE", "d");
    EXPECT_SLOT(ks("k"), "GEORADIUS_RO", "k", "15", "37", "200", "km");
}
END_TEST

START_TEST(test_command_binary_args)
{
    const char *argv[] = {"GETXYZ", "a\0b"};
    size_t lens[] = {3, 3};
    azr_command c = {2, argv, lens};
    unsigned s;
    char err[AZR_ERRBUF_SIZE];
    ck_assert_int_eq(azr_command_slot(&c, &s, err), AZR_OK);
    ck_assert_uint_eq(s, 8383); /* CLUSTER KEYSLOT "a\0b" */
    /* a NUL in the name: no command */
    const char *argv2[] = {"GET\0", "k"};
    size_t lens2[] = {4, 1};
    azr_command c2 = {2, argv2, lens2};
    ck_assert_int_eq(azr_command_slot(&c2, &s, err), AZR_OK);
    ck_assert_uint_eq(s, AZR_SLOT_NONE);
    /* keyword match is binary-safe as well */
    const char *argv3[] = {"XREAD", "STREAMSX", "k", "0"};
    size_t lens3[] = {5, 7, 1, 1};
    azr_command c3 = {4, argv3, lens3};
    ck_assert_int_eq(azr_command_slot(&c3, &s, err), AZR_OK);
    ck_assert_uint_eq(s, ks("k"));
}
END_TEST

START_TEST(test_command_invalid)
{
    unsigned s = 7;
    char err[AZR_ERRBUF_SIZE];
    const char *argv[] = {"GET", NULL};
    azr_command c = {2, argv, NULL};
    ck_assert_int_eq(azr_command_slot(NULL, &s, err), AZR_E_INVALID_ARGUMENT);
    ck_assert_str_ne(err, "");
    ck_assert_uint_eq(s, AZR_SLOT_NONE);
    ck_assert_int_eq(azr_command_slot(&c, NULL, err), AZR_E_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err, "slot"));
    ck_assert_int_eq(azr_command_slot(&c, &s, err), AZR_E_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err, "argument 1 is NULL"));
    azr_command empty = {0, argv, NULL};
    ck_assert_int_eq(azr_command_slot(&empty, &s, err),
                     AZR_E_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err, "empty"));
    azr_command noargv = {1, NULL, NULL};
    ck_assert_int_eq(azr_command_slot(&noargv, &s, NULL),
                     AZR_E_INVALID_ARGUMENT);
}
END_TEST

/* Every command of the table whose key is argv[1] alone, as `CMD key`:
 * also proves the table sorted (bsearch finds each). */
static const char *const one_key[] = {
    "GET", "SET", "SETNX", "SETEX", "PSETEX", "GETSET", "GETDEL", "GETEX",
    "GETRANGE", "SETRANGE", "APPEND", "STRLEN", "INCR", "INCRBY",
    "INCRBYFLOAT", "DECR", "DECRBY", "MGET", "MSET", "MSETNX", "LCS",
    "SUBSTR", "DEL", "UNLINK", "EXISTS", "TYPE", "TTL", "PTTL", "EXPIRE",
    "PEXPIRE", "EXPIREAT", "PEXPIREAT", "EXPIRETIME", "PEXPIRETIME",
    "PERSIST", "RENAME", "RENAMENX", "COPY", "DUMP", "RESTORE", "TOUCH",
    "SORT", "SORT_RO", "HGET", "HSET", "HSETNX", "HMSET", "HMGET", "HDEL",
    "HEXISTS", "HGETALL", "HINCRBY", "HINCRBYFLOAT", "HKEYS", "HVALS",
    "HLEN", "HSTRLEN", "HRANDFIELD", "HSCAN", "LPUSH", "RPUSH", "LPUSHX",
    "RPUSHX", "LPOP", "RPOP", "LLEN", "LRANGE", "LINDEX", "LSET", "LINSERT",
    "LREM", "LTRIM", "LPOS", "RPOPLPUSH", "LMOVE", "BRPOPLPUSH", "BLMOVE",
    "SADD", "SREM", "SMEMBERS", "SISMEMBER", "SMISMEMBER", "SCARD", "SPOP",
    "SRANDMEMBER", "SMOVE", "SINTER", "SUNION", "SDIFF", "SINTERSTORE",
    "SUNIONSTORE", "SDIFFSTORE", "SSCAN", "ZADD", "ZREM", "ZSCORE",
    "ZMSCORE", "ZINCRBY", "ZCARD", "ZCOUNT", "ZRANGE", "ZRANGESTORE",
    "ZRANGEBYSCORE", "ZREVRANGE", "ZREVRANGEBYSCORE", "ZRANK", "ZREVRANK",
    "ZLEXCOUNT", "ZRANGEBYLEX", "ZREVRANGEBYLEX", "ZREMRANGEBYRANK",
    "ZREMRANGEBYSCORE", "ZREMRANGEBYLEX", "ZPOPMIN", "ZPOPMAX",
    "ZRANDMEMBER", "ZSCAN", "XADD", "XLEN", "XRANGE", "XREVRANGE", "XDEL",
    "XTRIM", "XACK", "XCLAIM", "XAUTOCLAIM", "XPENDING", "XSETID", "SETBIT",
    "GETBIT", "BITCOUNT", "BITPOS", "BITFIELD", "BITFIELD_RO", "PFADD",
    "PFCOUNT", "PFMERGE", "GEOADD", "GEODIST", "GEOHASH", "GEOPOS",
    "GEOSEARCH", "GEOSEARCHSTORE", "GEORADIUS", "GEORADIUSBYMEMBER",
    "GEORADIUS_RO", "GEORADIUSBYMEMBER_RO", "WATCH", "MOVE", "HEXPIRE",
    "HTTL", "HPERSIST", "HGETDEL", "HSETEX", "SPUBLISH"
};

START_TEST(test_command_table)
{
    for (size_t i = 0; i < sizeof one_key / sizeof one_key[0]; i++) {
        char lower[32];
        size_t n = strlen(one_key[i]);
        for (size_t k = 0; k <= n; k++)
            lower[k] = (char)(one_key[i][k] >= 'A' && one_key[i][k] <= 'Z'
                                  ? one_key[i][k] + 32 : one_key[i][k]);
        unsigned s;
        ck_assert_int_eq(SLOT_OF(&s, NULL, one_key[i], "somekey"), AZR_OK);
        ck_assert_msg(s == 11058, "%s: slot %u", one_key[i], s);
        ck_assert_int_eq(SLOT_OF(&s, NULL, lower, "somekey"), AZR_OK);
        ck_assert_msg(s == 11058, "%s: slot %u", lower, s);
    }
    /* keys from argv[1] through the second-to-last (a timeout) */
    const char *blocking[] = {"BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX"};
    for (size_t i = 0; i < 4; i++) {
        unsigned s;
        ck_assert_int_eq(SLOT_OF(&s, NULL, blocking[i], "somekey", "0"),
                         AZR_OK);
        ck_assert_msg(s == 11058, "%s: slot %u", blocking[i], s);
    }
}
END_TEST

/* ---------------------------------------------------------------------
 * Slot maps.
 */
static const char id_a[] = "f0c97eddc11667324987d032104498fabfb5f9f9";
static const char id_b[] = "3f9b0fb8a0ad83b879ecc47738b52143b9e5034c";
static const char id_r[] = "97f6e9cd9a311c74b17b12a00f8e27bda72ba307";

static const azr_cl_shard *shard_with(const azr_slotmap *m, unsigned slot)
{
    for (size_t i = 0; i < m->n_shards; i++)
        for (size_t k = 0; k < m->shards[i].n_ranges; k++)
            if (m->shards[i].ranges[k].first <= slot &&
                slot <= m->shards[i].ranges[k].last)
                return &m->shards[i];
    return NULL;
}

/* The map of the live Redis 7 cluster, from any of its replies. */
static void check_live_map(const azr_slotmap *m)
{
    ck_assert_uint_eq(m->n_shards, 2);
    ck_assert_uint_eq(m->n_nodes, 3);
    const azr_cl_shard *a = shard_with(m, 0), *b = shard_with(m, 8001);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_eq(shard_with(m, 9500), a);
    ck_assert_ptr_eq(shard_with(m, 16383), b);
    ck_assert_uint_eq(a->n_ranges, 2);
    ck_assert_uint_eq(a->ranges[0].first, 0);
    ck_assert_uint_eq(a->ranges[0].last, 8000);
    ck_assert_uint_eq(a->ranges[1].first, 9000);
    ck_assert_uint_eq(a->ranges[1].last, 9999);
    ck_assert_uint_eq(b->n_ranges, 2);
    ck_assert_uint_eq(b->ranges[0].first, 8001);
    ck_assert_uint_eq(b->ranges[1].first, 10000);
    ck_assert_uint_eq(b->ranges[1].last, 16383);
    ck_assert_uint_eq(a->n_nodes, 2);
    ck_assert_uint_eq(a->primary, 0);
    const azr_cl_node *p = &a->nodes[0], *r = &a->nodes[1];
    ck_assert_str_eq(p->id, id_a);
    ck_assert_str_eq(p->host, "127.0.0.1");
    ck_assert_str_eq(p->hostname, "node1.example");
    ck_assert_uint_eq(p->port, 17101);
    ck_assert(p->primary && !p->failed);
    ck_assert_str_eq(r->id, id_r);
    ck_assert_str_eq(r->hostname, "");
    ck_assert_uint_eq(r->port, 17103);
    ck_assert(!r->primary && !r->failed);
    ck_assert_uint_eq(b->n_nodes, 1);
    ck_assert_str_eq(b->nodes[b->primary].id, id_b);
    ck_assert_uint_eq(b->nodes[b->primary].port, 17102);
}

START_TEST(test_slotmap_real_replies)
{
    const char *shards[] = {"redis7_shards_resp2", "redis7_shards_resp3"};
    const char *slots[] = {"redis7_slots_resp2", "redis7_slots_resp3"};
    for (int i = 0; i < 2; i++) {
        azr_slotmap m;
        char err[AZR_ERRBUF_SIZE];
        azr_reply *r = parse_file(shards[i]);
        ck_assert_msg(azr__slotmap_from_shards(r, "seed", 0, &m, err) ==
                      AZR_OK, "%s: %s", shards[i], err);
        check_live_map(&m);
        azr__slotmap_free(&m);
        ck_assert_uint_eq(m.n_shards, 0);
        azr_reply_free(r);
        r = parse_file(slots[i]);
        ck_assert_msg(azr__slotmap_from_slots(r, "seed", &m, err) == AZR_OK,
                      "%s: %s", slots[i], err);
        check_live_map(&m);
        azr__slotmap_free(&m);
        azr_reply_free(r);
    }
}
END_TEST

/* After the failover: the dead primary in a shard of its own, without
 * slots, listed as a failed master (Redis 7.0). */
START_TEST(test_slotmap_real_failover)
{
    const char *files[] = {"redis7_shards_failover_resp2",
                           "redis7_shards_failover_resp3"};
    for (int i = 0; i < 2; i++) {
        azr_slotmap m;
        char err[AZR_ERRBUF_SIZE];
        azr_reply *r = parse_file(files[i]);
        ck_assert_msg(azr__slotmap_from_shards(r, "seed", 0, &m, err) ==
                      AZR_OK, "%s: %s", files[i], err);
        ck_assert_uint_eq(m.n_shards, 3);
        const azr_cl_shard *a = shard_with(&m, 0);
        ck_assert_str_eq(a->nodes[a->primary].id, id_r);
        const azr_cl_shard *dead = NULL;
        for (size_t k = 0; k < m.n_shards; k++)
            if (m.shards[k].n_ranges == 0)
                dead = &m.shards[k];
        ck_assert_ptr_nonnull(dead);
        ck_assert_uint_eq(dead->n_nodes, 1);
        ck_assert_str_eq(dead->nodes[0].id, id_a);
        ck_assert(dead->nodes[0].primary && dead->nodes[0].failed);
        ck_assert_uint_eq(dead->primary, SIZE_MAX);
        azr__slotmap_free(&m);
        azr_reply_free(r);
    }
}
END_TEST

/* The fields of a CLUSTER SHARDS node map (RESP3) after its header:
 * id, role, health and `extra` (text lines). */
static void node3(sbuf *b, const char *id, const char *extra,
                  const char *role, const char *health)
{
    sb_printf(b, "$id\n$%s\n$role\n$%s\n$health\n$%s\n%s", id, role, health,
              extra);
}

/* A RESP3 shards reply of one shard: `slots` lines, then node maps, each
 * "%N" header written by the caller in `nodes`. */
static azr_reply *one_shard(const char *slots, const char *nodes)
{
    sbuf b = {0};
    sb_printf(&b, "*1\n%%2\n$slots\n%s$nodes\n%s", slots, nodes);
    azr_reply *r = parse_text(b.s);
    free(b.s);
    return r;
}

START_TEST(test_slotmap_failed_master_same_shard)
{
    sbuf n = {0};
    sb_add(&n, "*3\n", 3);
    sb_add(&n, "%5\n", 3);
    node3(&n, "old", "$port\n:7000\n$ip\n$10.0.0.1\n", "master", "fail");
    sb_add(&n, "%5\n", 3);
    node3(&n, "new", "$port\n:7001\n$ip\n$10.0.0.2\n", "master", "online");
    sb_add(&n, "%5\n", 3);
    node3(&n, "rep", "$port\n:7002\n$ip\n$10.0.0.3\n", "replica", "loading");
    azr_reply *r = one_shard("*2\n:0\n:16383\n", n.s);
    free(n.s);
    azr_slotmap m;
    char err[AZR_ERRBUF_SIZE];
    ck_assert_msg(azr__slotmap_from_shards(r, "seed", 0, &m, err) == AZR_OK,
                  "%s", err);
    ck_assert_uint_eq(m.n_shards, 1);
    ck_assert_uint_eq(m.shards[0].n_nodes, 3);
    ck_assert_uint_eq(m.shards[0].primary, 1);
    ck_assert_str_eq(m.shards[0].nodes[1].id, "new");
    ck_assert(m.shards[0].nodes[0].failed && m.shards[0].nodes[0].primary);
    ck_assert(!m.shards[0].nodes[2].failed && !m.shards[0].nodes[2].primary);
    azr__slotmap_free(&m);
    azr_reply_free(r);
}
END_TEST

START_TEST(test_slotmap_tls_and_hosts)
{
    /* RESP2 flat arrays; keys in another order than the server's */
    azr_reply *r = parse_text(
        "*1\n*4\n$nodes\n*4\n"
        "*12\n$tls-port\n:7443\n$port\n:7000\n$id\n$n1\n$endpoint\n$\n"
        "$ip\n$10.0.0.1\n$role\n$master\n"
        "*10\n$id\n$n2\n$port\n:7001\n$endpoint\n$?\n$ip\n$\n"
        "$role\n$replica\n"
        "*10\n$id\n$n3\n$tls-port\n:7444\n$ip\n$10.0.0.3\n"
        "$hostname\n$n3.example\n$unknown-key\n*0\n"
        "*12\n$id\n$n4\n$port\n:7004\n$tls-port\n:0\n$endpoint\n"
        "$::1\n$ip\n$::1\n$hostname\n$\n"
        "$slots\n*4\n:100\n:200\n:0\n:99\n");
    azr_slotmap m;
    char err[AZR_ERRBUF_SIZE];
    ck_assert_msg(azr__slotmap_from_shards(r, "seed.example", 1, &m, err) ==
                  AZR_OK, "%s", err);
    const azr_cl_shard *s = &m.shards[0];
    ck_assert_uint_eq(s->n_nodes, 4);
    ck_assert_uint_eq(s->nodes[0].port, 7443);
    ck_assert_str_eq(s->nodes[0].host, "10.0.0.1");   /* empty endpoint */
    ck_assert_uint_eq(s->nodes[1].port, 7001);        /* no tls-port */
    ck_assert_str_eq(s->nodes[1].host, "seed.example"); /* "?" and "" */
    ck_assert_uint_eq(s->nodes[2].port, 7444);        /* tls only */
    ck_assert_str_eq(s->nodes[2].host, "10.0.0.3");
    ck_assert_str_eq(s->nodes[2].hostname, "n3.example");
    ck_assert_uint_eq(s->nodes[3].port, 7004);        /* tls-port 0 */
    ck_assert_str_eq(s->nodes[3].host, "::1");
    ck_assert_uint_eq(s->primary, 0);
    /* sorted */
    ck_assert_uint_eq(s->n_ranges, 2);
    ck_assert_uint_eq(s->ranges[0].first, 0);
    ck_assert_uint_eq(s->ranges[1].first, 100);
    azr__slotmap_free(&m);
    /* without tls: "port"; node 3 has none */
    ck_assert_int_eq(azr__slotmap_from_shards(r, "seed", 0, &m, err),
                     AZR_E_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(err, "shard 0: node 2 (n3) without port"));
    ck_assert_ptr_null(m.shards);
    azr_reply_free(r);
}
END_TEST

START_TEST(test_slots_grouping)
{
    /* CLUSTER SLOTS: two ranges of one primary (by id), the replicas'
     * union; a primary without id grouped by host:port; an empty host
     * is the node asked. */
    azr_reply *r = parse_text(
        "*4\n"
        "*4\n:0\n:99\n*4\n$10.0.0.1\n:7000\n$A\n%1\n$hostname\n$a.ex\n"
        "*3\n$10.0.0.2\n:7000\n$A2\n"
        "*4\n:200\n:299\n*3\n$10.0.0.1\n:7000\n$A\n"
        "*3\n$10.0.0.3\n:7000\n$A3\n"
        "*3\n:100\n:149\n*2\n$\n:7001\n"
        "*4\n:150\n:199\n*2\n$\n:7001\n*3\n$10.0.0.2\n:7001\n$\n");
    azr_slotmap m;
    char err[AZR_ERRBUF_SIZE];
    ck_assert_msg(azr__slotmap_from_slots(r, "seed", &m, err) == AZR_OK,
                  "%s", err);
    ck_assert_uint_eq(m.n_shards, 2);
    ck_assert_uint_eq(m.n_nodes, 5);
    const azr_cl_shard *a = &m.shards[0], *b = &m.shards[1];
    ck_assert_uint_eq(a->n_ranges, 2);
    ck_assert_uint_eq(a->ranges[1].first, 200);
    ck_assert_uint_eq(a->n_nodes, 3);
    ck_assert_str_eq(a->nodes[0].hostname, "a.ex");
    ck_assert_str_eq(a->nodes[1].id, "A2");
    ck_assert_str_eq(a->nodes[2].id, "A3");
    ck_assert(a->nodes[0].primary && !a->nodes[1].primary);
    ck_assert_uint_eq(b->n_ranges, 2);
    ck_assert_str_eq(b->nodes[0].host, "seed");
    ck_assert_uint_eq(b->nodes[0].port, 7001);
    ck_assert_str_eq(b->nodes[0].id, "");
    ck_assert_uint_eq(b->n_nodes, 2);
    azr__slotmap_free(&m);
    azr_reply_free(r);
}
END_TEST

/* Malformed replies: each fails with AZR_E_PROTOCOL naming the fault, and
 * leaves nothing to free. */
static void expect_bad(int shards, const char *text, const char *msg)
{
    azr_reply *r = parse_text(text);
    azr_slotmap m;
    memset(&m, 0x5a, sizeof m);
    char err[AZR_ERRBUF_SIZE] = "";
    azr_code rc = shards ? azr__slotmap_from_shards(r, "seed", 0, &m, err)
                         : azr__slotmap_from_slots(r, "seed", &m, err);
    ck_assert_msg(rc == AZR_E_PROTOCOL, "%s: rc %d", msg, rc);
    ck_assert_msg(strstr(err, msg) != NULL, "'%s' not in '%s'", msg, err);
    ck_assert_ptr_null(memchr(err, '\n', strlen(err)));
    ck_assert_ptr_null(m.shards);
    ck_assert_uint_eq(m.n_shards, 0);
    ck_assert_uint_eq(m.n_nodes, 0);
    azr_reply_free(r);
}

#define N1 "%4\n$id\n$x\n$port\n:7000\n$ip\n$10.0.0.1\n$role\n$master\n"

START_TEST(test_shards_malformed)
{
    expect_bad(1, "$CLUSTER SHARDS", "CLUSTER SHARDS: the reply is not an "
               "array");
    expect_bad(1, "-ERR unknown command", "not an array");
    expect_bad(1, "*1\n:1", "CLUSTER SHARDS: shard 0: not a map");
    expect_bad(1, "*1\n%1\n$slots\n*0", "shard 0: without \"nodes\"");
    expect_bad(1, "*1\n%1\n$nodes\n$x", "without \"nodes\"");
    expect_bad(1, "*1\n%2\n$slots\n*1\n:0\n$nodes\n*0", "\"slots\" is not");
    expect_bad(1, "*1\n%2\n$slots\n*2\n:0\n:16384\n$nodes\n*0",
               "slot 16384 outside 0..16383");
    expect_bad(1, "*1\n%2\n$slots\n*2\n:-1\n:5\n$nodes\n*0",
               "slot -1 outside");
    expect_bad(1, "*1\n%2\n$slots\n*2\n$0\n:5\n$nodes\n*0",
               "not an integer");
    expect_bad(1, "*1\n%2\n$slots\n*2\n:9\n:5\n$nodes\n*0",
               "range 9-5: first slot after last");
    expect_bad(1, "*2\n%2\n$slots\n*2\n:0\n:10\n$nodes\n*0\n"
               "%2\n$slots\n*2\n:10\n:20\n$nodes\n*0",
               "shard 1: slot 10 served by two shards");
    expect_bad(1, "*1\n%2\n$slots\n*4\n:0\n:10\n:5\n:6\n$nodes\n*0",
               "slot 5 served by two shards");
    expect_bad(1, "*1\n%1\n$nodes\n*1\n$x", "node 0 is not a map");
    expect_bad(1, "*1\n%1\n$nodes\n*1\n%1\n$port\n:7000",
               "shard 0: node 0 without id");
    expect_bad(1, "*1\n%1\n$nodes\n*1\n%2\n$port\n:7000\n$id\n$\n",
               "node 0 without id");
    expect_bad(1, "*1\n%1\n$nodes\n*1\n%1\n$id\n$x", "node 0 (x) without "
               "port");
    expect_bad(1, "*1\n%1\n$nodes\n*1\n%2\n$id\n$x\n$port\n:70000",
               "node 0: port 70000 outside 1..65535");
    expect_bad(1, "*1\n%1\n$nodes\n*1\n%2\n$id\n$x\n$port\n:0",
               "without port");
    expect_bad(1, "*1\n%1\n$nodes\n*1\n%2\n$id\n$x\n$port\n$http",
               "node 0: port is not a number");
    expect_bad(1, "*1\n%1\n$nodes\n*1\n%3\n$id\n$x\n$port\n:1\n$ip\n"
               "$10.0.0.1 x", "node 0: ip has byte 0x20 at offset 8");
    expect_bad(1, "*1\n%1\n$nodes\n*1\n%3\n$id\n$x\n$port\n:1\n$endpoint\n"
               ":5", "node 0: endpoint is not text");
    expect_bad(1, "*1\n%1\n$nodes\n*1\n%3\n$id\n$x\x01\n$port\n:1\n$ip\n"
               "$h", "id has byte 0x01 at offset 1");
    expect_bad(1, "*1\n%1\n$nodes\n*1\n%3\n$id\n$x\n$port\n:1\n$hostname\n"
               "$h\xc3\xa9", "hostname has byte 0xc3");
    expect_bad(1, "*1\n%1\n$nodes\n*2\n" N1 N1, "node 1: 10.0.0.1:7000 "
               "listed twice");
    expect_bad(1, "*2\n%1\n$nodes\n*1\n" N1 "%1\n$nodes\n*1\n" N1,
               "shard 1: node 0: 10.0.0.1:7000 listed twice");
    /* the node asked, unusable */
    azr_reply *r = parse_text("*1\n%1\n$nodes\n*1\n%2\n$id\n$x\n$port\n:1");
    azr_slotmap m;
    char err[AZR_ERRBUF_SIZE];
    ck_assert_int_eq(azr__slotmap_from_shards(r, NULL, 0, &m, err),
                     AZR_E_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(err, "no host"));
    ck_assert_int_eq(azr__slotmap_from_shards(r, "a b", 0, &m, NULL),
                     AZR_E_PROTOCOL);
    ck_assert_int_eq(azr__slotmap_from_shards(r, "ok", 0, &m, NULL), AZR_OK);
    ck_assert_str_eq(m.shards[0].nodes[0].host, "ok");
    azr__slotmap_free(&m);
    azr__slotmap_free(NULL);
    azr_reply_free(r);
}
END_TEST

/* A node that came back at the same address with a new id: until CLUSTER
 * FORGET the map lists the failed old one too. The live one is kept,
 * whichever comes first; two live ones stay an error. */
#define GHOST_OLD "%5\n$id\n$old\n$port\n:7000\n$ip\n$10.0.0.1\n" \
                  "$role\n$master\n$health\n$fail\n"
#define GHOST_NEW "%5\n$id\n$new\n$port\n:7000\n$ip\n$10.0.0.1\n" \
                  "$role\n$master\n$health\n$online\n"
#define GHOST_R2 "%5\n$id\n$r2\n$port\n:7001\n$ip\n$10.0.0.1\n" \
                 "$role\n$replica\n$health\n$online\n"

START_TEST(test_shards_ghost_node)
{
    static const char *const orders[] = {
        /* the failed one first, alone in an empty shard */
        "*2\n%2\n$slots\n*0\n$nodes\n*1\n" GHOST_OLD
        "%2\n$slots\n*2\n:0\n:16383\n$nodes\n*2\n" GHOST_R2 GHOST_NEW,
        /* the failed one second, beside a node of its shard */
        "*2\n%2\n$slots\n*2\n:0\n:16383\n$nodes\n*1\n" GHOST_NEW
        "%2\n$slots\n*0\n$nodes\n*2\n" GHOST_R2 GHOST_OLD,
    };
    for (size_t t = 0; t < 2; t++) {
        azr_reply *r = parse_text(orders[t]);
        azr_slotmap m;
        char err[AZR_ERRBUF_SIZE];
        ck_assert_msg(azr__slotmap_from_shards(r, "seed", 0, &m, err) ==
                      AZR_OK, "order %zu: %s", t, err);
        ck_assert_uint_eq(m.n_nodes, 2);
        size_t live = 0;
        for (size_t i = 0; i < m.n_shards; i++)
            for (size_t k = 0; k < m.shards[i].n_nodes; k++) {
                const azr_cl_node *n = &m.shards[i].nodes[k];
                ck_assert_int_eq(n->failed, 0);
                if (strcmp(n->id, "new") == 0) {
                    live++;
                    ck_assert_uint_eq(m.shards[i].primary, k);
                }
            }
        ck_assert_uint_eq(live, 1);
        azr__slotmap_free(&m);
        azr_reply_free(r);
    }
    expect_bad(1, "*1\n%1\n$nodes\n*2\n" GHOST_NEW GHOST_NEW,
               "10.0.0.1:7000 listed twice");
}
END_TEST

START_TEST(test_shards_limits)
{
    /* a host or id one byte too long */
    char host[AZR_CL_HOST_MAX + 1], id[AZR_CL_ID_MAX + 1];
    memset(host, 'h', sizeof host - 1);
    host[sizeof host - 1] = '\0';
    memset(id, 'i', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    sbuf b = {0};
    sb_printf(&b, "*1\n%%1\n$nodes\n*1\n%%3\n$id\n$x\n$port\n:1\n"
              "$endpoint\n$%s\n", host);
    expect_bad(1, b.s, "node 0: endpoint too long (256 bytes, at most 255)");
    b.len = 0;
    sb_printf(&b, "*1\n%%1\n$nodes\n*1\n%%2\n$id\n$%s\n$port\n:1\n", id);
    expect_bad(1, b.s, "node 0: id too long (64 bytes, at most 63)");
    /* AZR_MAX_NODES + 1 nodes over two shards */
    b.len = 0;
    sb_printf(&b, "*2\n%%1\n$nodes\n*%d\n", AZR_MAX_NODES);
    for (int i = 0; i < AZR_MAX_NODES; i++)
        sb_printf(&b, "%%3\n$id\n$n%d\n$port\n:%d\n$ip\n$10.0.0.1\n", i,
                  1000 + i);
    sb_printf(&b, "%%1\n$nodes\n*1\n%%3\n$id\n$last\n$port\n:1\n$ip\n"
              "$10.0.0.9\n");
    expect_bad(1, b.s, "shard 1: more than 1024 nodes");
    /* 16385 ranges */
    b.len = 0;
    sb_printf(&b, "*1\n%%2\n$nodes\n*0\n$slots\n*%u\n",
              2 * (AZR_SLOT_COUNT + 1));
    for (unsigned i = 0; i <= AZR_SLOT_COUNT; i++)
        sb_printf(&b, ":%u\n:%u\n", i, i);
    expect_bad(1, b.s, "more than 16384 ranges");
    /* 16384 ranges of one slot: fine */
    b.len = 0;
    sb_printf(&b, "*1\n%%2\n$nodes\n*0\n$slots\n*%u\n", 2 * AZR_SLOT_COUNT);
    for (unsigned i = AZR_SLOT_COUNT; i-- > 0;)
        sb_printf(&b, ":%u\n:%u\n", i, i);
    azr_reply *r = parse_text(b.s);
    azr_slotmap m;
    ck_assert_int_eq(azr__slotmap_from_shards(r, "s", 0, &m, NULL), AZR_OK);
    ck_assert_uint_eq(m.shards[0].n_ranges, AZR_SLOT_COUNT);
    for (unsigned i = 0; i < AZR_SLOT_COUNT; i++)
        ck_assert_uint_eq(m.shards[0].ranges[i].first, i);
    ck_assert_uint_eq(m.shards[0].primary, SIZE_MAX);
    azr__slotmap_free(&m);
    azr_reply_free(r);
    free(b.s);
}
END_TEST

START_TEST(test_slots_malformed)
{
    expect_bad(0, "%0", "CLUSTER SLOTS: the reply is not an array");
    expect_bad(0, "*1\n*2\n:0\n:1", "CLUSTER SLOTS: entry 0: not [first, "
               "last, primary");
    expect_bad(0, "*1\n*3\n:0\n:1\n$x", "node 0 is not [host, port");
    expect_bad(0, "*1\n*3\n:0\n:1\n*2\n$h\n_", "node 0 without port");
    expect_bad(0, "*1\n*3\n:0\n:1\n*2\n$h\n:65536", "port 65536 outside");
    expect_bad(0, "*1\n*3\n:0\n:1\n*2\n:5\n:1", "host is not text");
    expect_bad(0, "*1\n*3\n:0\n:1\n*4\n$h\n:1\n$i\n:0", "metadata is not");
    expect_bad(0, "*1\n*3\n:5\n:1\n*2\n$h\n:1", "first slot after last");
    expect_bad(0, "*1\n*3\n:0\n:16384\n*2\n$h\n:1", "slot 16384 outside");
    expect_bad(0, "*2\n*3\n:0\n:9\n*2\n$h\n:1\n*3\n:9\n:9\n*2\n$g\n:1",
               "entry 1: slot 9 served by two shards");
    expect_bad(0, "*2\n*3\n:0\n:9\n*3\n$h\n:1\n$A\n"
               "*4\n:10\n:19\n*3\n$g\n:1\n$B\n*3\n$h\n:1\n$C",
               "entry 1: node 1: h:1 listed twice");
}
END_TEST

/* ---------------------------------------------------------------------
 * Redirections.
 */
START_TEST(test_redirect_parse)
{
    azr_redirect rd;
    const char *t = "MOVED 3999 127.0.0.1:6381";
    ck_assert_int_eq(azr__redirect_parse(t, strlen(t), &rd), 1);
    ck_assert_int_eq(rd.ask, 0);
    ck_assert_uint_eq(rd.slot, 3999);
    ck_assert_str_eq(rd.host, "127.0.0.1");
    ck_assert_uint_eq(rd.port, 6381);
    t = "ASK 16383 node-1.example.com:7000";
    ck_assert_int_eq(azr__redirect_parse(t, strlen(t), &rd), 1);
    ck_assert_int_eq(rd.ask, 1);
    ck_assert_uint_eq(rd.slot, 16383);
    ck_assert_str_eq(rd.host, "node-1.example.com");
    t = "MOVED 1 ::1:7000";
    ck_assert_int_eq(azr__redirect_parse(t, strlen(t), &rd), 1);
    ck_assert_str_eq(rd.host, "::1");
    ck_assert_uint_eq(rd.port, 7000);
    t = "MOVED 0 :6380";
    ck_assert_int_eq(azr__redirect_parse(t, strlen(t), &rd), 1);
    ck_assert_str_eq(rd.host, "");
    ck_assert_uint_eq(rd.port, 6380);
    ck_assert_uint_eq(rd.slot, 0);
    /* not NUL-terminated: only len bytes count */
    t = "MOVED 12 h:7000trailing";
    ck_assert_int_eq(azr__redirect_parse(t, 15, &rd), 1);
    ck_assert_uint_eq(rd.port, 7000);
    const char *bad[] = {
        "", "MOVED", "MOVED ", "MOVED 3999", "MOVED 3999 ", "MOVED 16384 h:1",
        "MOVED 99999999999 h:1", "MOVED -1 h:1", "MOVED x h:1",
        "MOVED 1  h:1", "MOVED 1 h", "MOVED 1 h:", "MOVED 1 h:0",
        "MOVED 1 h:65536", "MOVED 1 h:1 ", "MOVED 1 h:1x", "MOVED 1 h x:1",
        "moved 1 h:1", "ASKING", "ERR wrong number of arguments",
        "CROSSSLOT Keys in request don't hash to the same slot",
        "TRYAGAIN", "CLUSTERDOWN The cluster is down"
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(azr__redirect_parse(bad[i], strlen(bad[i]), &rd) == 0,
                      "'%s' parsed", bad[i]);
    char longhost[400] = "MOVED 1 ";
    memset(longhost + 8, 'h', 300);
    memcpy(longhost + 308, ":1", 3);
    ck_assert_int_eq(azr__redirect_parse(longhost, strlen(longhost), &rd), 0);
    ck_assert_int_eq(azr__redirect_parse(NULL, 0, &rd), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cluster");
    TCase *slots = tcase_create("slots");
    tcase_add_test(slots, test_crc16_vectors);
    tcase_add_test(slots, test_key_slot_known);
    tcase_add_test(slots, test_key_slot_hash_tags);
    suite_add_tcase(s, slots);
    TCase *cmd = tcase_create("command");
    tcase_add_test(cmd, test_command_simple);
    tcase_add_test(cmd, test_command_mset);
    tcase_add_test(cmd, test_command_numkeys);
    tcase_add_test(cmd, test_command_streams);
    tcase_add_test(cmd, test_command_subcommands_and_sort);
    tcase_add_test(cmd, test_command_binary_args);
    tcase_add_test(cmd, test_command_invalid);
    tcase_add_test(cmd, test_command_table);
    suite_add_tcase(s, cmd);
    TCase *map = tcase_create("slotmap");
    tcase_set_timeout(map, 30);
    tcase_add_test(map, test_slotmap_real_replies);
    tcase_add_test(map, test_slotmap_real_failover);
    tcase_add_test(map, test_slotmap_failed_master_same_shard);
    tcase_add_test(map, test_slotmap_tls_and_hosts);
    tcase_add_test(map, test_slots_grouping);
    tcase_add_test(map, test_shards_malformed);
    tcase_add_test(map, test_shards_ghost_node);
    tcase_add_test(map, test_shards_limits);
    tcase_add_test(map, test_slots_malformed);
    tcase_add_test(map, test_redirect_parse);
    suite_add_tcase(s, map);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
