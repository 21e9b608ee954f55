/*
 * slotmap.c - the slot map of a cluster read from a CLUSTER SHARDS or
 * CLUSTER SLOTS reply, and the MOVED/ASK redirections of error replies
 * (cluster.h). No I/O, so that it can be fuzzed on its own
 * (tests/fuzz/fuzz_slotmap.c). A reply that is not well-formed fails as a
 * whole: a broken or hostile node never shapes the map.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"

/* A map being built, and where in the reply the reading is. */
typedef struct builder {
    azr_slotmap *map;
    size_t n_ranges;                       /* over every shard */
    uint64_t owned[AZR_SLOT_COUNT / 64];   /* slots some shard serves */
    const char *what;                      /* "CLUSTER SHARDS" ... */
    char where[48];                        /* "shard 2" ... */
    const char *self_host;
    char *errbuf;
} builder;

static azr_code fail(builder *b, azr_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "WHAT: WHERE: message" into errbuf, on one line. */
static azr_code fail(builder *b, azr_code code, const char *fmt, ...)
{
    if (b->errbuf == NULL)
        return code;
    int n = snprintf(b->errbuf, AZR_ERRBUF_SIZE, "%s: %s%s", b->what,
                     b->where, b->where[0] != '\0' ? ": " : "");
    if (n >= 0 && n < AZR_ERRBUF_SIZE) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b->errbuf + n, AZR_ERRBUF_SIZE - (size_t)n, fmt, ap);
        va_end(ap);
    }
    for (char *p = b->errbuf; *p != '\0'; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return code;
}

static int is_text(const azr_reply *r)
{
    return r != NULL && (r->type == AZR_REPLY_STRING ||
                         r->type == AZR_REPLY_STATUS ||
                         r->type == AZR_REPLY_VERBATIM) && r->str != NULL;
}

static int text_is(const azr_reply *r, const char *s)
{
    size_t n = strlen(s);
    return is_text(r) && r->len == n && memcmp(r->str, s, n) == 0;
}

/* A key/value aggregate: a RESP3 map, or a RESP2 flat array. */
static int is_kv(const azr_reply *r)
{
    return r != NULL && (r->type == AZR_REPLY_MAP ||
                         (r->type == AZR_REPLY_ARRAY &&
                          r->elements % 2 == 0)) &&
           (r->elements == 0 || r->element != NULL);
}

/* The value of `key` in a key/value aggregate (the first), else NULL. */
static const azr_reply *kv_find(const azr_reply *r, const char *key)
{
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (text_is(r->element[i], key))
            return r->element[i + 1];
    return NULL;
}

static int is_array(const azr_reply *r)
{
    return r != NULL && r->type == AZR_REPLY_ARRAY &&
           (r->elements == 0 || r->element != NULL);
}

/* Host, host name and id bytes: printable ASCII without space. */
static int printable(const char *s, size_t n, size_t *bad)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) {
            *bad = i;
            return 0;
        }
    return 1;
}

/* Copies a text field of node `ni`, checked; "" when absent or nil. */
static azr_code copy_field(builder *b, const azr_reply *r, char *dst,
                           size_t cap, const char *field, size_t ni)
{
    dst[0] = '\0';
    if (r == NULL || r->type == AZR_REPLY_NIL)
        return AZR_OK;
    if (!is_text(r))
        return fail(b, AZR_E_PROTOCOL, "node %zu: %s is not text", ni, field);
    if (r->len >= cap)
        return fail(b, AZR_E_PROTOCOL, "node %zu: %s too long (%zu bytes, "
                    "at most %zu)", ni, field, r->len, cap - 1);
    size_t bad;
    if (!printable(r->str, r->len, &bad))
        return fail(b, AZR_E_PROTOCOL, "node %zu: %s has byte 0x%02x at "
                    "offset %zu (printable ASCII only)", ni, field,
                    (unsigned char)r->str[bad], bad);
    memcpy(dst, r->str, r->len);
    dst[r->len] = '\0';
    return AZR_OK;
}

/* A port: an integer (or its decimal text). 0 when absent, nil or 0 (the
 * servers leave out "port" and "tls-port" when 0, older ones list 0). */
static azr_code port_field(builder *b, const azr_reply *r, unsigned *port,
                           const char *field, size_t ni)
{
    long long v = -1;
    *port = 0;
    if (r == NULL || r->type == AZR_REPLY_NIL)
        return AZR_OK;
    if (r->type == AZR_REPLY_INTEGER && r->integer == 0)
        return AZR_OK;
    if (r->type == AZR_REPLY_INTEGER) {
        v = r->integer;
    } else if (is_text(r) && r->len > 0 && r->len <= 6 &&
               strspn(r->str, "0123456789") == r->len) {
        v = 0;
        for (size_t i = 0; i < r->len; i++)
            v = v * 10 + (r->str[i] - '0');
    } else {
        return fail(b, AZR_E_PROTOCOL, "node %zu: %s is not a number", ni,
                    field);
    }
    if (v < 1 || v > 65535)
        return fail(b, AZR_E_PROTOCOL, "node %zu: %s %lld outside 1..65535",
                    ni, field, v);
    *port = (unsigned)v;
    return AZR_OK;
}

/* The node's host: `h` unless empty or "?", else the host we asked. */
static azr_code set_host(builder *b, azr_cl_node *n, const char *h,
                         size_t ni)
{
    if (h[0] != '\0' && strcmp(h, "?") != 0) {
        snprintf(n->host, sizeof n->host, "%s", h);
        return AZR_OK;
    }
    const char *self = b->self_host != NULL ? b->self_host : "";
    size_t len = strlen(self), bad;
    if (len == 0 || len >= sizeof n->host || !printable(self, len, &bad))
        return fail(b, AZR_E_PROTOCOL, "node %zu has no host and the host "
                    "asked is not usable", ni);
    memcpy(n->host, self, len + 1);
    return AZR_OK;
}

static azr_cl_shard *add_shard(builder *b)
{
    azr_slotmap *m = b->map;
    if ((m->n_shards & (m->n_shards - 1)) == 0) {
        size_t cap = m->n_shards ? m->n_shards * 2 : 1;
        azr_cl_shard *s = realloc(m->shards, cap * sizeof *s);
        if (s == NULL)
            return NULL;
        m->shards = s;
    }
    azr_cl_shard *s = &m->shards[m->n_shards++];
    memset(s, 0, sizeof *s);
    s->primary = SIZE_MAX;
    return s;
}

/* Grows an array of n elements of `size` bytes whose capacity is n
 * rounded up to a power of two, to hold n + 1. */
static int grow(void **arr, size_t n, size_t size)
{
    if ((n & (n - 1)) != 0)
        return 0;
    void *p = realloc(*arr, (n ? n * 2 : 1) * size);
    if (p == NULL)
        return -1;
    *arr = p;
    return 0;
}

static azr_code add_range(builder *b, azr_cl_shard *s, const azr_reply *f,
                          const azr_reply *l)
{
    if (f == NULL || l == NULL || f->type != AZR_REPLY_INTEGER ||
        l->type != AZR_REPLY_INTEGER)
        return fail(b, AZR_E_PROTOCOL, "a slot is not an integer");
    long long first = f->integer, last = l->integer;
    if (first < 0 || first >= AZR_SLOT_COUNT)
        return fail(b, AZR_E_PROTOCOL, "slot %lld outside 0..16383", first);
    if (last < 0 || last >= AZR_SLOT_COUNT)
        return fail(b, AZR_E_PROTOCOL, "slot %lld outside 0..16383", last);
    if (first > last)
        return fail(b, AZR_E_PROTOCOL, "range %lld-%lld: first slot after "
                    "last", first, last);
    if (b->n_ranges >= AZR_SLOT_COUNT)
        return fail(b, AZR_E_PROTOCOL, "more than %u ranges",
                    AZR_SLOT_COUNT);
    for (long long i = first; i <= last; i++)
        if (b->owned[i / 64] & (UINT64_C(1) << (i % 64)))
            return fail(b, AZR_E_PROTOCOL, "slot %lld served by two shards",
                        i);
    if (grow((void **)&s->ranges, s->n_ranges, sizeof *s->ranges) != 0)
        return fail(b, AZR_E_NOMEM, "out of memory");
    for (long long i = first; i <= last; i++)
        b->owned[i / 64] |= UINT64_C(1) << (i % 64);
    s->ranges[s->n_ranges].first = (unsigned)first;
    s->ranges[s->n_ranges].last = (unsigned)last;
    s->n_ranges++;
    b->n_ranges++;
    return AZR_OK;
}

/* Takes node k out of shard s (its primary, if chosen, is after it or
 * not it: a failed node is never chosen). */
static void drop_node(azr_slotmap *m, azr_cl_shard *s, size_t k)
{
    memmove(&s->nodes[k], &s->nodes[k + 1],
            (s->n_nodes - k - 1) * sizeof *s->nodes);
    s->n_nodes--;
    m->n_nodes--;
    if (s->primary != SIZE_MAX && s->primary > k)
        s->primary--;
}

/* Adds node *n to shard s. The same host:port twice is an error, but with
 * `merge` (CLUSTER SLOTS lists a replica once per range) a node already in
 * s is left as it is, and when one of the two has failed (a node that
 * came back at the same address with a new id, until CLUSTER FORGET) the
 * live one is kept: the failed one is of no use to routing. */
static azr_code add_node(builder *b, azr_cl_shard *s, const azr_cl_node *n,
                         int merge, size_t ni)
{
    azr_slotmap *m = b->map;
    for (size_t i = 0; i < m->n_shards; i++)
        for (size_t k = 0; k < m->shards[i].n_nodes; k++) {
            const azr_cl_node *o = &m->shards[i].nodes[k];
            if (o->port != n->port || strcmp(o->host, n->host) != 0)
                continue;
            if (merge && &m->shards[i] == s)
                return AZR_OK;
            if (n->failed)
                return AZR_OK;
            if (!o->failed)
                return fail(b, AZR_E_PROTOCOL, "node %zu: %s:%u listed "
                            "twice", ni, n->host, n->port);
            drop_node(m, &m->shards[i], k);
            i = m->n_shards; /* addresses are unique: no other */
            break;
        }
    if (m->n_nodes >= AZR_MAX_NODES)
        return fail(b, AZR_E_PROTOCOL, "more than %d nodes", AZR_MAX_NODES);
    if (grow((void **)&s->nodes, s->n_nodes, sizeof *s->nodes) != 0)
        return fail(b, AZR_E_NOMEM, "out of memory");
    s->nodes[s->n_nodes++] = *n;
    b->map->n_nodes++;
    return AZR_OK;
}

/* One node of CLUSTER SHARDS: a map of id, port, tls-port, ip, endpoint,
 * hostname, role, health ... */
static azr_code shards_node(builder *b, const azr_reply *r, size_t ni,
                            int tls, azr_cl_node *n)
{
    memset(n, 0, sizeof *n);
    if (!is_kv(r))
        return fail(b, AZR_E_PROTOCOL, "node %zu is not a map", ni);
    azr_code rc = copy_field(b, kv_find(r, "id"), n->id, sizeof n->id,
                             "id", ni);
    if (rc == AZR_OK && n->id[0] == '\0')
        rc = fail(b, AZR_E_PROTOCOL, "node %zu without id", ni);
    unsigned port = 0, tls_port = 0;
    if (rc == AZR_OK)
        rc = port_field(b, kv_find(r, "port"), &port, "port", ni);
    if (rc == AZR_OK && tls)
        rc = port_field(b, kv_find(r, "tls-port"), &tls_port, "tls-port",
                        ni);
    n->port = tls && tls_port != 0 ? tls_port : port;
    if (rc == AZR_OK && n->port == 0)
        rc = fail(b, AZR_E_PROTOCOL, "node %zu (%s) without port", ni,
                  n->id);
    char ep[AZR_CL_HOST_MAX], ip[AZR_CL_HOST_MAX];
    if (rc == AZR_OK)
        rc = copy_field(b, kv_find(r, "endpoint"), ep, sizeof ep,
                        "endpoint", ni);
    if (rc == AZR_OK)
        rc = copy_field(b, kv_find(r, "ip"), ip, sizeof ip, "ip", ni);
    if (rc == AZR_OK)
        rc = copy_field(b, kv_find(r, "hostname"), n->hostname,
                        sizeof n->hostname, "hostname", ni);
    if (rc == AZR_OK)
        rc = set_host(b, n, ep[0] != '\0' && strcmp(ep, "?") != 0 ? ep : ip,
                      ni);
    n->primary = text_is(kv_find(r, "role"), "master");
    n->failed = text_is(kv_find(r, "health"), "fail");
    return rc;
}

static azr_code shards_one(builder *b, const azr_reply *r, int tls)
{
    if (!is_kv(r))
        return fail(b, AZR_E_PROTOCOL, "not a map");
    const azr_reply *nodes = kv_find(r, "nodes");
    const azr_reply *slots = kv_find(r, "slots");
    if (!is_array(nodes))
        return fail(b, AZR_E_PROTOCOL, "without \"nodes\" (an array)");
    if (slots != NULL && slots->type != AZR_REPLY_NIL &&
        (!is_array(slots) || slots->elements % 2 != 0))
        return fail(b, AZR_E_PROTOCOL, "\"slots\" is not an array of "
                    "first, last pairs");
    if (slots != NULL && slots->elements / 2 >
                             AZR_SLOT_COUNT - b->n_ranges)
        return fail(b, AZR_E_PROTOCOL, "more than %u ranges",
                    AZR_SLOT_COUNT);
    if (nodes->elements > AZR_MAX_NODES - b->map->n_nodes)
        return fail(b, AZR_E_PROTOCOL, "more than %d nodes", AZR_MAX_NODES);
    azr_cl_shard *s = add_shard(b);
    if (s == NULL)
        return fail(b, AZR_E_NOMEM, "out of memory");
    azr_code rc = AZR_OK;
    for (size_t i = 0; rc == AZR_OK && slots != NULL &&
                       slots->type != AZR_REPLY_NIL &&
                       i < slots->elements; i += 2)
        rc = add_range(b, s, slots->element[i], slots->element[i + 1]);
    for (size_t i = 0; rc == AZR_OK && i < nodes->elements; i++) {
        azr_cl_node n;
        rc = shards_node(b, nodes->element[i], i, tls, &n);
        if (rc == AZR_OK)
            rc = add_node(b, s, &n, 0, i);
    }
    for (size_t i = 0; rc == AZR_OK && i < s->n_nodes; i++)
        if (s->nodes[i].primary && !s->nodes[i].failed) {
            s->primary = i;
            break;
        }
    return rc;
}

static int range_cmp(const void *x, const void *y)
{
    const azr_slot_range *a = x, *b = y;
    return (a->first > b->first) - (a->first < b->first);
}

/* Ends a parse: ranges in order on success, nothing kept on failure. */
static azr_code finish(builder *b, azr_code rc)
{
    azr_slotmap *m = b->map;
    if (rc != AZR_OK) {
        azr__slotmap_free(m);
        return rc;
    }
    for (size_t i = 0; i < m->n_shards; i++)
        if (m->shards[i].n_ranges > 1)
            qsort(m->shards[i].ranges, m->shards[i].n_ranges,
                  sizeof *m->shards[i].ranges, range_cmp);
    return AZR_OK;
}

static void builder_init(builder *b, azr_slotmap *out, const char *what,
                         const char *self_host, char *errbuf)
{
    memset(b, 0, sizeof *b);
    memset(out, 0, sizeof *out);
    b->map = out;
    b->what = what;
    b->self_host = self_host;
    b->errbuf = errbuf;
    if (errbuf != NULL)
        errbuf[0] = '\0';
}

azr_code azr__slotmap_from_shards(const azr_reply *reply,
                                  const char *self_host, int tls,
                                  azr_slotmap *out, char *errbuf)
{
    builder b;
    builder_init(&b, out, "CLUSTER SHARDS", self_host, errbuf);
    if (!is_array(reply))
        return fail(&b, AZR_E_PROTOCOL, "the reply is not an array");
    azr_code rc = AZR_OK;
    for (size_t i = 0; rc == AZR_OK && i < reply->elements; i++) {
        snprintf(b.where, sizeof b.where, "shard %zu", i);
        rc = shards_one(&b, reply->element[i], tls);
    }
    return finish(&b, rc);
}

/* One node of CLUSTER SLOTS: [host, port, id?, metadata?]. */
static azr_code slots_node(builder *b, const azr_reply *r, size_t ni,
                           azr_cl_node *n)
{
    memset(n, 0, sizeof *n);
    if (!is_array(r) || r->elements < 2)
        return fail(b, AZR_E_PROTOCOL, "node %zu is not [host, port, ...]",
                    ni);
    char host[AZR_CL_HOST_MAX];
    azr_code rc = copy_field(b, r->element[0], host, sizeof host, "host",
                             ni);
    if (rc == AZR_OK)
        rc = port_field(b, r->element[1], &n->port, "port", ni);
    if (rc == AZR_OK && n->port == 0)
        rc = fail(b, AZR_E_PROTOCOL, "node %zu without port", ni);
    if (rc == AZR_OK && r->elements > 2)
        rc = copy_field(b, r->element[2], n->id, sizeof n->id, "id", ni);
    const azr_reply *meta = r->elements > 3 ? r->element[3] : NULL;
    if (rc == AZR_OK && meta != NULL && meta->type != AZR_REPLY_NIL &&
        !is_kv(meta))
        rc = fail(b, AZR_E_PROTOCOL, "node %zu: metadata is not a map", ni);
    if (rc == AZR_OK && meta != NULL && meta->type != AZR_REPLY_NIL)
        rc = copy_field(b, kv_find(meta, "hostname"), n->hostname,
                        sizeof n->hostname, "hostname", ni);
    if (rc == AZR_OK)
        rc = set_host(b, n, host, ni);
    return rc;
}

/* The shard whose primary is `p`: same id, else same host:port. */
static azr_cl_shard *shard_of(const azr_slotmap *m, const azr_cl_node *p)
{
    for (size_t i = 0; i < m->n_shards; i++) {
        const azr_cl_node *o = &m->shards[i].nodes[m->shards[i].primary];
        if (p->id[0] != '\0' && o->id[0] != '\0'
                ? strcmp(o->id, p->id) == 0
                : o->port == p->port && strcmp(o->host, p->host) == 0)
            return &m->shards[i];
    }
    return NULL;
}

static azr_code slots_one(builder *b, const azr_reply *r)
{
    if (!is_array(r) || r->elements < 3)
        return fail(b, AZR_E_PROTOCOL, "not [first, last, primary, "
                    "replica...]");
    azr_cl_node n;
    azr_code rc = slots_node(b, r->element[2], 0, &n);
    if (rc != AZR_OK)
        return rc;
    n.primary = 1;
    azr_cl_shard *s = shard_of(b->map, &n);
    if (s == NULL) {
        if ((s = add_shard(b)) == NULL)
            return fail(b, AZR_E_NOMEM, "out of memory");
        if ((rc = add_node(b, s, &n, 0, 0)) != AZR_OK)
            return rc;
        s->primary = 0;
    }
    rc = add_range(b, s, r->element[0], r->element[1]);
    for (size_t i = 3; rc == AZR_OK && i < r->elements; i++) {
        rc = slots_node(b, r->element[i], i - 2, &n);
        if (rc == AZR_OK)
            rc = add_node(b, s, &n, 1, i - 2);
    }
    return rc;
}

azr_code azr__slotmap_from_slots(const azr_reply *reply,
                                 const char *self_host, azr_slotmap *out,
                                 char *errbuf)
{
    builder b;
    builder_init(&b, out, "CLUSTER SLOTS", self_host, errbuf);
    if (!is_array(reply))
        return fail(&b, AZR_E_PROTOCOL, "the reply is not an array");
    azr_code rc = AZR_OK;
    for (size_t i = 0; rc == AZR_OK && i < reply->elements; i++) {
        snprintf(b.where, sizeof b.where, "entry %zu", i);
        rc = slots_one(&b, reply->element[i]);
    }
    return finish(&b, rc);
}

void azr__slotmap_free(azr_slotmap *map)
{
    if (map == NULL)
        return;
    for (size_t i = 0; i < map->n_shards; i++) {
        free(map->shards[i].ranges);
        free(map->shards[i].nodes);
    }
    free(map->shards);
    memset(map, 0, sizeof *map);
}

/* Decimal digits s[*i..] as a number up to `max`; -1 when none or more. */
static long parse_num(const char *s, size_t len, size_t *i, long max)
{
    long v = 0;
    size_t start = *i;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        v = v * 10 + (s[*i] - '0');
        if (v > max)
            return -1;
        (*i)++;
    }
    return *i > start ? v : -1;
}

int azr__redirect_parse(const char *text, size_t len, azr_redirect *out)
{
    size_t i;
    int ask;
    if (text == NULL || out == NULL)
        return 0;
    if (len >= 6 && memcmp(text, "MOVED ", 6) == 0) {
        ask = 0;
        i = 6;
    } else if (len >= 4 && memcmp(text, "ASK ", 4) == 0) {
        ask = 1;
        i = 4;
    } else {
        return 0;
    }
    long slot = parse_num(text, len, &i, AZR_SLOT_COUNT - 1);
    if (slot < 0 || i >= len || text[i] != ' ')
        return 0;
    size_t h = ++i, colon = SIZE_MAX;
    for (size_t k = h; k < len; k++)
        if (text[k] == ':')
            colon = k;
    if (colon == SIZE_MAX || colon - h >= sizeof out->host)
        return 0;
    size_t bad;
    if (!printable(text + h, colon - h, &bad))
        return 0;
    i = colon + 1;
    long port = parse_num(text, len, &i, 65535);
    if (port < 1 || i != len)
        return 0;
    out->ask = ask;
    out->slot = (unsigned)slot;
    memcpy(out->host, text + h, colon - h);
    out->host[colon - h] = '\0';
    out->port = (unsigned)port;
    return 1;
}
