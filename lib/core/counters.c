/*
 * counters.c - per-node statistics sharded per thread (see counters.h).
 */
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "shard.h"

azr_code azr__counters_reserve(azr_counters *c, size_t n_nodes)
{
    size_t want = (n_nodes + AZR_COUNTER_CHUNK - 1) / AZR_COUNTER_CHUNK;
    size_t bytes = c->n_slots * AZR_COUNTER_CHUNK * sizeof *c->chunk[0];
    while (c->n_chunks < want) {
        azr_node_counters *k = aligned_alloc(_Alignof(azr_node_counters),
                                             bytes);
        if (k == NULL)
            return AZR_E_NOMEM;
        memset(k, 0, bytes);
        c->chunk[c->n_chunks++] = k;
    }
    return AZR_OK;
}

azr_counters *azr__counters_new(size_t n_nodes)
{
    azr_counters *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->n_slots = azr__shard_count();
    if (azr__counters_reserve(c, n_nodes) != AZR_OK) {
        azr__counters_free(c);
        return NULL;
    }
    return c;
}

void azr__counters_free(azr_counters *c)
{
    if (c == NULL)
        return;
    for (size_t k = 0; k < c->n_chunks; k++)
        free(c->chunk[k]);
    free(c);
}

static azr_node_counters *counters_at(const azr_counters *c, size_t slot,
                                      size_t node)
{
    return &c->chunk[node / AZR_COUNTER_CHUNK]
                    [slot * AZR_COUNTER_CHUNK + node % AZR_COUNTER_CHUNK];
}

azr_node_counters *azr__counters_mine(azr_counters *c, size_t node)
{
    return counters_at(c, azr__shard_self(), node);
}

void azr__counters_outcome(azr_counters *c, size_t node, uint64_t rtt_ns,
                           azr_status status)
{
    azr_node_counters *m = azr__counters_mine(c, node);
    atomic_fetch_add_explicit(&m->by_status[status], 1, memory_order_relaxed);
    if (status == AZR_STATUS_OK || status == AZR_STATUS_ERROR_REPLY)
        atomic_fetch_add_explicit(&m->total_rtt_ns, rtt_ns,
                                  memory_order_relaxed);
}

void azr__counters_bytes(azr_counters *c, size_t node, uint64_t sent,
                         uint64_t received)
{
    if (sent == 0 && received == 0)
        return;
    azr_node_counters *m = azr__counters_mine(c, node);
    atomic_fetch_add_explicit(&m->bytes_sent, sent, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->bytes_received, received,
                              memory_order_relaxed);
}

static uint64_t load(const _Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

void azr__counters_sum(const azr_counters *c, size_t node, azr_node_totals *t)
{
    memset(t, 0, sizeof *t);
    for (size_t s = 0; s < c->n_slots; s++) {
        const azr_node_counters *m = counters_at(c, s, node);
        t->picks += load(&m->picks);
        t->total_rtt_ns += load(&m->total_rtt_ns);
        t->bytes_sent += load(&m->bytes_sent);
        t->bytes_received += load(&m->bytes_received);
        for (size_t k = 0; k < AZR_COUNTED_STATUSES; k++)
            t->by_status[k] += load(&m->by_status[k]);
    }
    for (size_t k = 0; k < AZR_COUNTED_STATUSES; k++)
        t->requests += t->by_status[k];
    t->answered = t->by_status[AZR_STATUS_OK] +
                  t->by_status[AZR_STATUS_ERROR_REPLY];
    t->errors = t->requests - t->answered;
}
