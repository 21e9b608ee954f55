/*
 * fuzz_slotmap.c - libFuzzer target for the slot map of cluster mode
 * (lib/cluster/slotmap.c): CLUSTER SHARDS and CLUSTER SLOTS replies, and
 * MOVED/ASK redirections.
 *
 * Input: a RESP stream. Every reply in it goes through both slot map
 * parsers (self_host "seed"; the first input byte's low bit chooses the
 * TLS port), and every error reply through the redirection parser.
 * Whatever the bytes: on failure the map is empty and the message one
 * line; on success every range is ascending, within 0..16383 and served
 * by one shard only, every node has a port in 1..65535 and a NUL-ended
 * host of printable ASCII, no host:port is listed twice, the node count
 * adds up to at most AZR_MAX_NODES, and each primary index points at a
 * master that has not failed.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cluster/cluster.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static void check_text(const char *s, size_t cap, int may_be_empty)
{
    size_t n = strnlen(s, cap);
    CHECK(n < cap && (may_be_empty || n > 0));
    for (size_t i = 0; i < n; i++)
        CHECK((unsigned char)s[i] >= 0x21 && (unsigned char)s[i] <= 0x7e);
}

static void check_map(const azr_slotmap *m)
{
    static uint8_t owner[AZR_SLOT_COUNT];
    memset(owner, 0, sizeof owner);
    size_t nodes = 0;
    for (size_t i = 0; i < m->n_shards; i++) {
        const azr_cl_shard *s = &m->shards[i];
        for (size_t k = 0; k < s->n_ranges; k++) {
            CHECK(s->ranges[k].first <= s->ranges[k].last);
            CHECK(s->ranges[k].last < AZR_SLOT_COUNT);
            CHECK(k == 0 || s->ranges[k - 1].last < s->ranges[k].first);
            for (unsigned x = s->ranges[k].first; x <= s->ranges[k].last;
                 x++) {
                CHECK(owner[x] == 0);
                owner[x] = 1;
            }
        }
        CHECK(s->primary == SIZE_MAX ||
              (s->primary < s->n_nodes && s->nodes[s->primary].primary &&
               !s->nodes[s->primary].failed));
        for (size_t k = 0; k < s->n_nodes; k++) {
            const azr_cl_node *n = &s->nodes[k];
            check_text(n->host, sizeof n->host, 0);
            check_text(n->id, sizeof n->id, 1);
            check_text(n->hostname, sizeof n->hostname, 1);
            CHECK(n->port >= 1 && n->port <= 65535);
            for (size_t j = 0; j < m->n_shards; j++)
                for (size_t l = 0; l < m->shards[j].n_nodes; l++) {
                    const azr_cl_node *o = &m->shards[j].nodes[l];
                    CHECK(o == n || o->port != n->port ||
                          strcmp(o->host, n->host) != 0);
                }
        }
        nodes += s->n_nodes;
    }
    CHECK(nodes == m->n_nodes && nodes <= AZR_MAX_NODES);
}

static void one(const azr_reply *r, int tls)
{
    char err[AZR_ERRBUF_SIZE];
    azr_slotmap m;
    for (int kind = 0; kind < 2; kind++) {
        azr_code rc = kind == 0
                          ? azr__slotmap_from_shards(r, "seed", tls, &m, err)
                          : azr__slotmap_from_slots(r, "seed", &m, err);
        if (rc == AZR_OK) {
            check_map(&m);
            azr__slotmap_free(&m);
        } else {
            CHECK(rc == AZR_E_PROTOCOL || rc == AZR_E_NOMEM);
            CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
        }
        CHECK(m.shards == NULL && m.n_shards == 0 && m.n_nodes == 0);
    }
    azr_redirect rd;
    if (r->type == AZR_REPLY_ERROR && r->str != NULL &&
        azr__redirect_parse(r->str, r->len, &rd)) {
        CHECK(rd.slot < AZR_SLOT_COUNT && rd.port >= 1 && rd.port <= 65535);
        check_text(rd.host, sizeof rd.host, 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    azr_reader *rd = azr_reader_new(16, 1 << 20);
    if (rd == NULL)
        return 0;
    int tls = size > 0 && (data[0] & 1);
    if (azr_reader_feed(rd, data, size) == AZR_OK) {
        azr_reply *r;
        while (azr_reader_get_reply(rd, &r) == AZR_OK && r != NULL) {
            one(r, tls);
            azr_reply_free(r);
        }
    }
    azr_reader_free(rd);
    return 0;
}
