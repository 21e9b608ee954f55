/*
 * keys.c - the slot a command routes by: its keys found through a table of
 * the key positions of the Redis 7 / Valkey 8 commands (COMMAND INFO's
 * first key, last key, step, with the numkeys, STREAMS, subcommand and
 * STORE forms), each key hashed (crc16.c), every key required in one slot.
 * No allocation: the table is constant and the name is matched in a
 * buffer on the stack.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"

/* How a command names its keys. */
enum key_kind {
    K_RANGE,   /* a = first, b = last (<0: from the end), c = step */
    K_NUMKEYS, /* numkeys at argv[a], keys after it; b: argv[1] is a key
                  too (the destination of ZUNIONSTORE ...) */
    K_STREAMS, /* XREAD, XREADGROUP: the first half after STREAMS */
    K_SUB,     /* a subcommand (sub_keyed) takes the key at argv[a] */
    K_SORT,    /* SORT: argv[1], and the key after STORE */
    K_STORE    /* GEORADIUS*: argv[1], and the key after STORE or
                  STOREDIST, looked for from argv[a] */
};

typedef struct key_spec {
    const char *name;   /* upper case; the table is sorted by strcmp */
    signed char kind, a, b, c;
} key_spec;

#define AZR_CMD_NAME_MAX 24 /* longer than any name below */

static const key_spec key_specs[] = {
    {"APPEND", K_RANGE, 1, 1, 1},
    {"BITCOUNT", K_RANGE, 1, 1, 1},
    {"BITFIELD", K_RANGE, 1, 1, 1},
    {"BITFIELD_RO", K_RANGE, 1, 1, 1},
    {"BITOP", K_RANGE, 2, -1, 1},
    {"BITPOS", K_RANGE, 1, 1, 1},
    {"BLMOVE", K_RANGE, 1, 2, 1},
    {"BLMPOP", K_NUMKEYS, 2, 0, 0},
    {"BLPOP", K_RANGE, 1, -2, 1},
    {"BRPOP", K_RANGE, 1, -2, 1},
    {"BRPOPLPUSH", K_RANGE, 1, 2, 1},
    {"BZMPOP", K_NUMKEYS, 2, 0, 0},
    {"BZPOPMAX", K_RANGE, 1, -2, 1},
    {"BZPOPMIN", K_RANGE, 1, -2, 1},
    {"COPY", K_RANGE, 1, 2, 1},
    {"DECR", K_RANGE, 1, 1, 1},
    {"DECRBY", K_RANGE, 1, 1, 1},
    {"DEL", K_RANGE, 1, -1, 1},
    {"DUMP", K_RANGE, 1, 1, 1},
    {"EVAL", K_NUMKEYS, 2, 0, 0},
    {"EVALSHA", K_NUMKEYS, 2, 0, 0},
    {"EVALSHA_RO", K_NUMKEYS, 2, 0, 0},
    {"EVAL_RO", K_NUMKEYS, 2, 0, 0},
    {"EXISTS", K_RANGE, 1, -1, 1},
    {"EXPIRE", K_RANGE, 1, 1, 1},
    {"EXPIREAT", K_RANGE, 1, 1, 1},
    {"EXPIRETIME", K_RANGE, 1, 1, 1},
    {"FCALL", K_NUMKEYS, 2, 0, 0},
    {"FCALL_RO", K_NUMKEYS, 2, 0, 0},
    {"GEOADD", K_RANGE, 1, 1, 1},
    {"GEODIST", K_RANGE, 1, 1, 1},
    {"GEOHASH", K_RANGE, 1, 1, 1},
    {"GEOPOS", K_RANGE, 1, 1, 1},
    {"GEORADIUS", K_STORE, 6, 0, 0},
    {"GEORADIUSBYMEMBER", K_STORE, 5, 0, 0},
    {"GEORADIUSBYMEMBER_RO", K_RANGE, 1, 1, 1},
    {"GEORADIUS_RO", K_RANGE, 1, 1, 1},
    {"GEOSEARCH", K_RANGE, 1, 1, 1},
    {"GEOSEARCHSTORE", K_RANGE, 1, 2, 1},
    {"GET", K_RANGE, 1, 1, 1},
    {"GETBIT", K_RANGE, 1, 1, 1},
    {"GETDEL", K_RANGE, 1, 1, 1},
    {"GETEX", K_RANGE, 1, 1, 1},
    {"GETRANGE", K_RANGE, 1, 1, 1},
    {"GETSET", K_RANGE, 1, 1, 1},
    {"HDEL", K_RANGE, 1, 1, 1},
    {"HEXISTS", K_RANGE, 1, 1, 1},
    {"HEXPIRE", K_RANGE, 1, 1, 1},
    {"HEXPIREAT", K_RANGE, 1, 1, 1},
    {"HEXPIRETIME", K_RANGE, 1, 1, 1},
    {"HGET", K_RANGE, 1, 1, 1},
    {"HGETALL", K_RANGE, 1, 1, 1},
    {"HGETDEL", K_RANGE, 1, 1, 1},
    {"HGETEX", K_RANGE, 1, 1, 1},
    {"HINCRBY", K_RANGE, 1, 1, 1},
    {"HINCRBYFLOAT", K_RANGE, 1, 1, 1},
    {"HKEYS", K_RANGE, 1, 1, 1},
    {"HLEN", K_RANGE, 1, 1, 1},
    {"HMGET", K_RANGE, 1, 1, 1},
    {"HMSET", K_RANGE, 1, 1, 1},
    {"HPERSIST", K_RANGE, 1, 1, 1},
    {"HPEXPIRE", K_RANGE, 1, 1, 1},
    {"HPEXPIREAT", K_RANGE, 1, 1, 1},
    {"HPEXPIRETIME", K_RANGE, 1, 1, 1},
    {"HPTTL", K_RANGE, 1, 1, 1},
    {"HRANDFIELD", K_RANGE, 1, 1, 1},
    {"HSCAN", K_RANGE, 1, 1, 1},
    {"HSET", K_RANGE, 1, 1, 1},
    {"HSETEX", K_RANGE, 1, 1, 1},
    {"HSETNX", K_RANGE, 1, 1, 1},
    {"HSTRLEN", K_RANGE, 1, 1, 1},
    {"HTTL", K_RANGE, 1, 1, 1},
    {"HVALS", K_RANGE, 1, 1, 1},
    {"INCR", K_RANGE, 1, 1, 1},
    {"INCRBY", K_RANGE, 1, 1, 1},
    {"INCRBYFLOAT", K_RANGE, 1, 1, 1},
    {"LCS", K_RANGE, 1, 2, 1},
    {"LINDEX", K_RANGE, 1, 1, 1},
    {"LINSERT", K_RANGE, 1, 1, 1},
    {"LLEN", K_RANGE, 1, 1, 1},
    {"LMOVE", K_RANGE, 1, 2, 1},
    {"LMPOP", K_NUMKEYS, 1, 0, 0},
    {"LPOP", K_RANGE, 1, 1, 1},
    {"LPOS", K_RANGE, 1, 1, 1},
    {"LPUSH", K_RANGE, 1, 1, 1},
    {"LPUSHX", K_RANGE, 1, 1, 1},
    {"LRANGE", K_RANGE, 1, 1, 1},
    {"LREM", K_RANGE, 1, 1, 1},
    {"LSET", K_RANGE, 1, 1, 1},
    {"LTRIM", K_RANGE, 1, 1, 1},
    {"MEMORY", K_SUB, 2, 0, 0},
    {"MGET", K_RANGE, 1, -1, 1},
    {"MOVE", K_RANGE, 1, 1, 1},
    {"MSET", K_RANGE, 1, -1, 2},
    {"MSETNX", K_RANGE, 1, -1, 2},
    {"OBJECT", K_SUB, 2, 0, 0},
    {"PERSIST", K_RANGE, 1, 1, 1},
    {"PEXPIRE", K_RANGE, 1, 1, 1},
    {"PEXPIREAT", K_RANGE, 1, 1, 1},
    {"PEXPIRETIME", K_RANGE, 1, 1, 1},
    {"PFADD", K_RANGE, 1, 1, 1},
    {"PFCOUNT", K_RANGE, 1, -1, 1},
    {"PFMERGE", K_RANGE, 1, -1, 1},
    {"PSETEX", K_RANGE, 1, 1, 1},
    {"PTTL", K_RANGE, 1, 1, 1},
    {"RENAME", K_RANGE, 1, 2, 1},
    {"RENAMENX", K_RANGE, 1, 2, 1},
    {"RESTORE", K_RANGE, 1, 1, 1},
    {"RPOP", K_RANGE, 1, 1, 1},
    {"RPOPLPUSH", K_RANGE, 1, 2, 1},
    {"RPUSH", K_RANGE, 1, 1, 1},
    {"RPUSHX", K_RANGE, 1, 1, 1},
    {"SADD", K_RANGE, 1, 1, 1},
    {"SCARD", K_RANGE, 1, 1, 1},
    {"SDIFF", K_RANGE, 1, -1, 1},
    {"SDIFFSTORE", K_RANGE, 1, -1, 1},
    {"SET", K_RANGE, 1, 1, 1},
    {"SETBIT", K_RANGE, 1, 1, 1},
    {"SETEX", K_RANGE, 1, 1, 1},
    {"SETNX", K_RANGE, 1, 1, 1},
    {"SETRANGE", K_RANGE, 1, 1, 1},
    {"SINTER", K_RANGE, 1, -1, 1},
    {"SINTERCARD", K_NUMKEYS, 1, 0, 0},
    {"SINTERSTORE", K_RANGE, 1, -1, 1},
    {"SISMEMBER", K_RANGE, 1, 1, 1},
    {"SMEMBERS", K_RANGE, 1, 1, 1},
    {"SMISMEMBER", K_RANGE, 1, 1, 1},
    {"SMOVE", K_RANGE, 1, 2, 1},
    {"SORT", K_SORT, 2, 0, 0},
    {"SORT_RO", K_RANGE, 1, 1, 1},
    {"SPOP", K_RANGE, 1, 1, 1},
    {"SPUBLISH", K_RANGE, 1, 1, 1},
    {"SRANDMEMBER", K_RANGE, 1, 1, 1},
    {"SREM", K_RANGE, 1, 1, 1},
    {"SSCAN", K_RANGE, 1, 1, 1},
    {"STRLEN", K_RANGE, 1, 1, 1},
    {"SUBSTR", K_RANGE, 1, 1, 1},
    {"SUNION", K_RANGE, 1, -1, 1},
    {"SUNIONSTORE", K_RANGE, 1, -1, 1},
    {"TOUCH", K_RANGE, 1, -1, 1},
    {"TTL", K_RANGE, 1, 1, 1},
    {"TYPE", K_RANGE, 1, 1, 1},
    {"UNLINK", K_RANGE, 1, -1, 1},
    {"WATCH", K_RANGE, 1, -1, 1},
    {"XACK", K_RANGE, 1, 1, 1},
    {"XADD", K_RANGE, 1, 1, 1},
    {"XAUTOCLAIM", K_RANGE, 1, 1, 1},
    {"XCLAIM", K_RANGE, 1, 1, 1},
    {"XDEL", K_RANGE, 1, 1, 1},
    {"XGROUP", K_SUB, 2, 0, 0},
    {"XINFO", K_SUB, 2, 0, 0},
    {"XLEN", K_RANGE, 1, 1, 1},
    {"XPENDING", K_RANGE, 1, 1, 1},
    {"XRANGE", K_RANGE, 1, 1, 1},
    {"XREAD", K_STREAMS, 0, 0, 0},
    {"XREADGROUP", K_STREAMS, 0, 0, 0},
    {"XREVRANGE", K_RANGE, 1, 1, 1},
    {"XSETID", K_RANGE, 1, 1, 1},
    {"XTRIM", K_RANGE, 1, 1, 1},
    {"ZADD", K_RANGE, 1, 1, 1},
    {"ZCARD", K_RANGE, 1, 1, 1},
    {"ZCOUNT", K_RANGE, 1, 1, 1},
    {"ZDIFF", K_NUMKEYS, 1, 0, 0},
    {"ZDIFFSTORE", K_NUMKEYS, 2, 1, 0},
    {"ZINCRBY", K_RANGE, 1, 1, 1},
    {"ZINTER", K_NUMKEYS, 1, 0, 0},
    {"ZINTERCARD", K_NUMKEYS, 1, 0, 0},
    {"ZINTERSTORE", K_NUMKEYS, 2, 1, 0},
    {"ZLEXCOUNT", K_RANGE, 1, 1, 1},
    {"ZMPOP", K_NUMKEYS, 1, 0, 0},
    {"ZMSCORE", K_RANGE, 1, 1, 1},
    {"ZPOPMAX", K_RANGE, 1, 1, 1},
    {"ZPOPMIN", K_RANGE, 1, 1, 1},
    {"ZRANDMEMBER", K_RANGE, 1, 1, 1},
    {"ZRANGE", K_RANGE, 1, 1, 1},
    {"ZRANGEBYLEX", K_RANGE, 1, 1, 1},
    {"ZRANGEBYSCORE", K_RANGE, 1, 1, 1},
    {"ZRANGESTORE", K_RANGE, 1, 2, 1},
    {"ZRANK", K_RANGE, 1, 1, 1},
    {"ZREM", K_RANGE, 1, 1, 1},
    {"ZREMRANGEBYLEX", K_RANGE, 1, 1, 1},
    {"ZREMRANGEBYRANK", K_RANGE, 1, 1, 1},
    {"ZREMRANGEBYSCORE", K_RANGE, 1, 1, 1},
    {"ZREVRANGE", K_RANGE, 1, 1, 1},
    {"ZREVRANGEBYLEX", K_RANGE, 1, 1, 1},
    {"ZREVRANGEBYSCORE", K_RANGE, 1, 1, 1},
    {"ZREVRANK", K_RANGE, 1, 1, 1},
    {"ZSCAN", K_RANGE, 1, 1, 1},
    {"ZSCORE", K_RANGE, 1, 1, 1},
    {"ZUNION", K_NUMKEYS, 1, 0, 0},
    {"ZUNIONSTORE", K_NUMKEYS, 2, 1, 0},
};

/* The subcommands of the K_SUB commands that take a key. */
static const char *const sub_keyed[] = {
    "MEMORY USAGE", "OBJECT ENCODING", "OBJECT FREQ", "OBJECT IDLETIME",
    "OBJECT REFCOUNT", "XGROUP CREATE", "XGROUP CREATECONSUMER",
    "XGROUP DELCONSUMER", "XGROUP DESTROY", "XGROUP SETID",
    "XINFO CONSUMERS", "XINFO GROUPS", "XINFO STREAM"
};

static azr_code cl_err(char *errbuf, azr_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static azr_code cl_err(char *errbuf, azr_code code, const char *fmt, ...)
{
    if (errbuf != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, AZR_ERRBUF_SIZE, fmt, ap);
        va_end(ap);
        for (char *p = errbuf; *p != '\0'; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
    }
    return code;
}

/* What is being looked at: the command and the keys seen so far. */
typedef struct key_walk {
    const azr_command *cmd;
    const char *name;    /* the table's name of the command */
    unsigned slot;       /* of the first key; AZR_SLOT_NONE before it */
    size_t first_key;    /* its number among the keys, 1-based */
    size_t n_keys;
    char *errbuf;
} key_walk;

static size_t arg_len(const azr_command *cmd, size_t i)
{
    return cmd->argvlen != NULL ? cmd->argvlen[i] : strlen(cmd->argv[i]);
}

/* argv[i] equals `word` (upper case), case-insensitively. */
static int arg_is(const azr_command *cmd, size_t i, const char *word)
{
    size_t n = strlen(word);
    if (i >= cmd->argc || arg_len(cmd, i) != n)
        return 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)cmd->argv[i][k];
        if (c >= 'a' && c <= 'z')
            c = (unsigned char)(c - 'a' + 'A');
        if (c != (unsigned char)word[k])
            return 0;
    }
    return 1;
}

/* argv[i] as a count as the server reads it (no sign, no leading zero),
 * or -1 when it is none or past `max`. */
static long long arg_count(const azr_command *cmd, size_t i, size_t max)
{
    if (i >= cmd->argc)
        return -1;
    const char *s = cmd->argv[i];
    size_t n = arg_len(cmd, i);
    if (n == 0 || n > 10 || (n > 1 && s[0] == '0'))
        return -1;
    long long v = 0;
    for (size_t k = 0; k < n; k++) {
        if (s[k] < '0' || s[k] > '9')
            return -1;
        v = v * 10 + (s[k] - '0');
    }
    return (unsigned long long)v <= max ? v : -1;
}

static azr_code add_key(key_walk *w, size_t i)
{
    unsigned s = azr_key_slot(w->cmd->argv[i], arg_len(w->cmd, i));
    w->n_keys++;
    if (w->slot == AZR_SLOT_NONE) {
        w->slot = s;
        w->first_key = w->n_keys;
        return AZR_OK;
    }
    if (s == w->slot)
        return AZR_OK;
    return cl_err(w->errbuf, AZR_E_CROSSSLOT, "%s: keys in different slots "
                  "(key %zu in slot %u, key %zu in slot %u): use a {hash "
                  "tag}", w->name, w->first_key, w->slot, w->n_keys, s);
}

static azr_code keys_range(key_walk *w, const key_spec *k)
{
    size_t argc = w->cmd->argc;
    size_t first = (size_t)k->a;
    long long last = k->b >= 0 ? k->b : (long long)argc + k->b;
    if (last >= (long long)argc)
        last = (long long)argc - 1;
    azr_code rc = AZR_OK;
    for (size_t i = first; rc == AZR_OK && (long long)i <= last;
         i += (size_t)k->c)
        rc = add_key(w, i);
    return rc;
}

static azr_code keys_numkeys(key_walk *w, const key_spec *k)
{
    size_t at = (size_t)k->a;
    long long n = at < w->cmd->argc
                      ? arg_count(w->cmd, at, w->cmd->argc - at - 1) : -1;
    if (n < 0)
        return AZR_OK; /* the server answers the syntax error */
    azr_code rc = k->b ? add_key(w, 1) : AZR_OK;
    for (size_t i = 0; rc == AZR_OK && i < (size_t)n; i++)
        rc = add_key(w, at + 1 + i);
    return rc;
}

/* As the server's xreadGetKeys: options until STREAMS, then as many keys
 * as IDs. */
static azr_code keys_streams(key_walk *w)
{
    const azr_command *c = w->cmd;
    size_t i = 1, streams = 0;
    while (i < c->argc && streams == 0) {
        if (arg_is(c, i, "BLOCK") || arg_is(c, i, "COUNT"))
            i += 2;
        else if (arg_is(c, i, "GROUP"))
            i += 3;
        else if (arg_is(c, i, "NOACK"))
            i += 1;
        else if (arg_is(c, i, "STREAMS"))
            streams = i;
        else
            return AZR_OK; /* a syntax error */
    }
    size_t rest = streams != 0 ? c->argc - streams - 1 : 0;
    if (rest == 0 || rest % 2 != 0)
        return AZR_OK;
    azr_code rc = AZR_OK;
    for (size_t k = 0; rc == AZR_OK && k < rest / 2; k++)
        rc = add_key(w, streams + 1 + k);
    return rc;
}

static azr_code keys_sub(key_walk *w, const key_spec *k)
{
    const azr_command *c = w->cmd;
    size_t at = (size_t)k->a;
    if (c->argc <= at)
        return AZR_OK;
    size_t nl = strlen(w->name);
    for (size_t i = 0; i < sizeof sub_keyed / sizeof sub_keyed[0]; i++)
        if (strncmp(sub_keyed[i], w->name, nl) == 0 &&
            sub_keyed[i][nl] == ' ' && arg_is(c, 1, sub_keyed[i] + nl + 1))
            return add_key(w, at);
    return AZR_OK;
}

/* SORT key [BY p] [LIMIT o n] [GET p ...] [ASC|DESC] [ALPHA] [STORE dst],
 * read as the server's sortGetKeys does. */
static azr_code keys_sort(key_walk *w)
{
    const azr_command *c = w->cmd;
    if (c->argc < 2)
        return AZR_OK;
    azr_code rc = add_key(w, 1);
    for (size_t i = 2; rc == AZR_OK && i < c->argc; i++) {
        if (arg_is(c, i, "LIMIT"))
            i += 2;
        else if (arg_is(c, i, "GET") || arg_is(c, i, "BY"))
            i += 1;
        else if (arg_is(c, i, "STORE") && i + 1 < c->argc)
            rc = add_key(w, ++i);
    }
    return rc;
}

static azr_code keys_store(key_walk *w, const key_spec *k)
{
    const azr_command *c = w->cmd;
    if (c->argc < 2)
        return AZR_OK;
    azr_code rc = add_key(w, 1);
    for (size_t i = (size_t)k->a; rc == AZR_OK && i + 1 < c->argc; i++)
        if (arg_is(c, i, "STORE") || arg_is(c, i, "STOREDIST"))
            rc = add_key(w, ++i);
    return rc;
}

typedef struct name_key {
    const char *s;
    size_t n;
} name_key;

static int spec_cmp(const void *key, const void *elem)
{
    const name_key *k = key;
    const char *name = ((const key_spec *)elem)->name;
    size_t n = strlen(name);
    int r = memcmp(k->s, name, k->n < n ? k->n : n);
    if (r != 0)
        return r;
    return k->n < n ? -1 : k->n > n;
}

static const key_spec *spec_find(const char *s, size_t n)
{
    char up[AZR_CMD_NAME_MAX];
    if (n == 0 || n >= sizeof up)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        up[i] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    }
    name_key k = {up, n};
    return bsearch(&k, key_specs, sizeof key_specs / sizeof key_specs[0],
                   sizeof key_specs[0], spec_cmp);
}

azr_code azr__command_slot(const azr_command *cmd, unsigned *slot,
                           char *errbuf)
{
    if (errbuf != NULL)
        errbuf[0] = '\0';
    if (slot != NULL)
        *slot = AZR_SLOT_NONE;
    if (cmd == NULL || slot == NULL)
        return cl_err(errbuf, AZR_E_INVALID_ARGUMENT, "azr_command_slot: "
                      "%s is NULL", cmd == NULL ? "cmd" : "slot");
    if (cmd->argc == 0 || cmd->argv == NULL)
        return cl_err(errbuf, AZR_E_INVALID_ARGUMENT, "azr_command_slot: "
                      "%s", cmd->argc == 0 ? "empty command (argc 0)"
                                           : "argv is NULL");
    for (size_t i = 0; i < cmd->argc; i++)
        if (cmd->argv[i] == NULL)
            return cl_err(errbuf, AZR_E_INVALID_ARGUMENT, "azr_command_slot:"
                          " argument %zu is NULL", i);
    const key_spec *k = spec_find(cmd->argv[0], arg_len(cmd, 0));
    if (k == NULL)
        return AZR_OK;
    key_walk w = {cmd, k->name, AZR_SLOT_NONE, 0, 0, errbuf};
    azr_code rc;
    switch (k->kind) {
    case K_RANGE: rc = keys_range(&w, k); break;
    case K_NUMKEYS: rc = keys_numkeys(&w, k); break;
    case K_STREAMS: rc = keys_streams(&w); break;
    case K_SUB: rc = keys_sub(&w, k); break;
    case K_SORT: rc = keys_sort(&w); break;
    default: rc = keys_store(&w, k); break;
    }
    if (rc == AZR_OK)
        *slot = w.slot;
    return rc;
}

AZR_EXTERN azr_code azr_command_slot(const azr_command *cmd, unsigned *slot,
                                     char errbuf[AZR_ERRBUF_SIZE])
{
    return azr__command_slot(cmd, slot, errbuf);
}
