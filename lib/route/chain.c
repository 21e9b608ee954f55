/*
 * chain.c - the hot path: azr_pick runs the policy chain over the node
 * table, azr_report fans an outcome out to every policy.
 *
 * Neither allocates, locks or makes a system call of its own: the candidate
 * list lives on the stack (the table is capped at AZR_MAX_NODES), the
 * caller's AZ is one atomic pointer load, counters are relaxed atomics on
 * per-node cache lines. Policy output is checked before it is trusted: a
 * plugin that returns a bad count or a pointer it was not given is turned
 * into AZR_E_PLUGIN, never a crash or a wrong node.
 */
#include <string.h>

#include "route.h"
#include "../core/generation.h"
#include "../topology/topology.h"

static int is_excluded(const azr_pick_request *req, size_t index)
{
    for (size_t i = 0; i < req->n_excluded; i++)
        if (req->excluded[i] == index)
            return 1;
    return 0;
}

/* Every element must point at a view of this table. Checked by address
 * arithmetic alone (views are one cache line each, laid end to end:
 * internal.h), so a bad pointer is never dereferenced. */
static int candidates_valid(const azr_gen *g, const azr_node_view **cand,
                            size_t n)
{
    const uintptr_t base = (uintptr_t)g->views;
    const uintptr_t span = g->n_nodes * sizeof(azr_node_view);
    /* No early exit: a branch-free loop the compiler can vectorise. */
    uintptr_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uintptr_t off = (uintptr_t)cand[i] - base;
        bad |= (uintptr_t)(off >= span) | (off % sizeof(azr_node_view));
    }
    return bad == 0;
}

static azr_code chain_failed(azr_ctx *ctx, const azr_chain_link *link,
                             long rc, size_t n)
{
    if (rc == 0)
        return AZR_E_NO_NODE;
    if (rc < 0)
        azr__log(ctx, AZR_LOG_ERROR, "policy '%s' failed: %s", link->name,
                 azr__plugin_error_message()[0] != '\0'
                     ? azr__plugin_error_message()
                     : azr_strerror((azr_code)-rc));
    else
        azr__log(ctx, AZR_LOG_ERROR, "policy '%s' returned %ld candidates "
                 "out of %zu", link->name, rc, n);
    return AZR_E_PLUGIN;
}

/* The node a MOVED reply named for `slot` under table g, or SIZE_MAX. */
static size_t moved_to(const azr_ctx *ctx, const azr_gen *g, unsigned slot)
{
    uint32_t m = atomic_load_explicit(&ctx->moved[slot],
                                      memory_order_relaxed);
    size_t node = (size_t)(m & 0xffffu);
    if (node == 0 || (m >> 16) != (uint32_t)(g->number & 0xffffu) ||
        node > g->n_nodes || !g->present[node - 1])
        return SIZE_MAX;
    return node - 1;
}

/* Cluster: the candidates for a request on `slot`: the nodes of the shard
 * serving it (only its primary for a write). After a MOVED, the node it
 * named serves the slot's writes (the cluster says it is the primary now)
 * and its shard the reads. */
static size_t slot_candidates(const azr_ctx *ctx, const azr_gen *g,
                              const azr_pick_request *req, unsigned slot,
                              const azr_node_view **cand)
{
    size_t moved = moved_to(ctx, g, slot);
    uint16_t shard = moved != SIZE_MAX ? g->node_shard[moved]
                                       : g->slot_shard[slot];
    size_t n = 0;
    if (req->intent == AZR_INTENT_WRITE) {
        size_t p = moved != SIZE_MAX ? moved
                   : shard != AZR_NO_SHARD ? g->shards[shard].primary
                                           : SIZE_MAX;
        if (p != SIZE_MAX && !is_excluded(req, p))
            cand[n++] = &g->views[p];
        return n;
    }
    if (shard == AZR_NO_SHARD) {
        if (moved != SIZE_MAX && !is_excluded(req, moved))
            cand[n++] = &g->views[moved];
        return n;
    }
    const azr_gen_shard *sh = &g->shards[shard];
    for (size_t k = 0; k < sh->n_nodes; k++)
        if (!is_excluded(req, sh->nodes[k]))
            cand[n++] = &g->views[sh->nodes[k]];
    return n;
}

void azr__slot_groups(azr_ctx *ctx, size_t n, const unsigned *slots,
                      uint32_t *keys)
{
    const azr_gen *g = azr__gen_enter(ctx);
    for (size_t i = 0; i < n; i++) {
        unsigned slot = slots[i];
        if (slot >= AZR_SLOT_COUNT || g->slot_shard == NULL) {
            keys[i] = AZR_GROUP_ANY;
            continue;
        }
        size_t moved = moved_to(ctx, g, slot);
        uint16_t shard = moved != SIZE_MAX ? g->node_shard[moved]
                                           : g->slot_shard[slot];
        keys[i] = shard != AZR_NO_SHARD ? shard
                  : moved != SIZE_MAX ? 0x20000u + (uint32_t)moved
                                      : 0x40000u + slot;
    }
    azr__gen_leave();
}

/* The pick itself, in a read section on the generation g. */
static azr_code pick_in(azr_ctx *ctx, const azr_gen *g,
                        const azr_pick_request *req, unsigned slot,
                        size_t *node_index)
{
    /* The host's rule, whatever the chain: a write goes to a primary. The
     * chain only ever sees nodes that may take the request, and only
     * nodes in the group now. */
    const azr_node_view *cand[AZR_MAX_NODES];
    size_t n = 0;
    if (slot != AZR_SLOT_NONE && g->slot_shard != NULL) {
        n = slot_candidates(ctx, g, req, slot, cand);
    } else if (req->intent == AZR_INTENT_WRITE) {
        for (size_t k = 0; k < g->n_primaries; k++)
            if (!is_excluded(req, g->primaries[k]))
                cand[n++] = &g->views[g->primaries[k]];
    } else if (req->n_excluded == 0) {
        memcpy(cand, g->members, g->n_members * sizeof cand[0]);
        n = g->n_members;
    } else {
        for (size_t k = 0; k < g->n_members; k++)
            if (!is_excluded(req, g->members[k]->index))
                cand[n++] = g->members[k];
    }
    if (n == 0)
        return AZR_E_NO_NODE;

    const azr_pick_args args = {
        .struct_size = sizeof args,
        .intent = req->intent,
        .caller_az_id = atomic_load_explicit(&ctx->caller_az,
                                             memory_order_acquire),
        .attempt = req->attempt,
        .tried = req->excluded,
        .n_tried = req->n_excluded,
    };
    for (size_t l = 0; l < g->n_policies; l++) {
        const azr_chain_link *link = &g->chain[l];
        long rc = link->pick(link->state, &args, cand, n);
        if (rc <= 0 || (size_t)rc > n)
            return chain_failed(ctx, link, rc, n);
        n = (size_t)rc;
        if (!candidates_valid(g, cand, n)) {
            azr__log(ctx, AZR_LOG_ERROR, "policy '%s' returned a candidate "
                     "it was not given", link->name);
            return AZR_E_PLUGIN;
        }
    }
    *node_index = cand[0]->index;
    atomic_fetch_add_explicit(
        &azr__counters_mine(ctx->counters, cand[0]->index)->picks, 1,
        memory_order_relaxed);
    return AZR_OK;
}

AZR_EXTERN azr_code azr_pick_slot(azr_ctx *ctx, const azr_pick_request *req,
                                  unsigned slot, size_t *node_index)
{
    if (ctx == NULL || req == NULL || node_index == NULL ||
        (req->intent != AZR_INTENT_READ && req->intent != AZR_INTENT_WRITE) ||
        (req->n_excluded > 0 && req->excluded == NULL) ||
        (slot >= AZR_SLOT_COUNT && slot != AZR_SLOT_NONE))
        return AZR_E_INVALID_ARGUMENT;
    if (ctx->topology != NULL)
        azr__topology_use(ctx);
    const azr_gen *g = azr__gen_enter(ctx);
    azr_code rc = pick_in(ctx, g, req, slot, node_index);
    azr__gen_leave();
    return rc;
}

AZR_EXTERN azr_code azr_pick_ex(azr_ctx *ctx, const azr_pick_request *req,
                                size_t *node_index)
{
    return azr_pick_slot(ctx, req, AZR_SLOT_NONE, node_index);
}

AZR_EXTERN azr_code azr_pick_key(azr_ctx *ctx, azr_intent intent,
                                 const void *key, size_t key_len,
                                 size_t *node_index)
{
    if (key == NULL && key_len > 0)
        return AZR_E_INVALID_ARGUMENT;
    const azr_pick_request req = { .intent = intent };
    return azr_pick_slot(ctx, &req, azr_key_slot(key, key_len), node_index);
}

AZR_EXTERN azr_code azr_pick(azr_ctx *ctx, azr_intent intent,
                             size_t *node_index)
{
    const azr_pick_request req = { .intent = intent };
    return azr_pick_ex(ctx, &req, node_index);
}

/* The outcome fan-out, in a read section on g. */
static void observe_in(azr_ctx *ctx, const azr_gen *g, size_t node,
                       uint64_t rtt_ns, azr_status status, unsigned attempt)
{
    if (status == AZR_STATUS_CANCELLED) {
        /* Not a request: only policies that know the status release
         * what their pick reserved. */
        const azr_outcome cancelled = {
            .struct_size = sizeof cancelled,
            .node_index = node,
            .status = status,
            .attempt = attempt,
        };
        for (size_t l = 0; l < g->n_policies; l++)
            if (g->chain[l].observe != NULL && g->chain[l].sees_cancelled)
                g->chain[l].observe(g->chain[l].state, &cancelled);
        return;
    }
    int answered = status == AZR_STATUS_OK ||
                   status == AZR_STATUS_ERROR_REPLY;
    azr__counters_outcome(ctx->counters, node, rtt_ns, status);

    const azr_outcome outcome = {
        .struct_size = sizeof outcome,
        .node_index = node,
        .rtt_ns = answered ? rtt_ns : 0,
        .status = status,
        .attempt = attempt,
    };
    for (size_t l = 0; l < g->n_policies; l++)
        if (g->chain[l].observe != NULL)
            g->chain[l].observe(g->chain[l].state, &outcome);
}

/* An outcome goes to the table current when it is reported: node indexes
 * are the same in every generation (generation.h), and the policies of a
 * table that was replaced have handed their state over already. */
void azr__chain_observe(azr_ctx *ctx, size_t node, uint64_t rtt_ns,
                        azr_status status, unsigned attempt)
{
    const azr_gen *g = azr__gen_enter(ctx);
    if (node < g->n_nodes)
        observe_in(ctx, g, node, rtt_ns, status, attempt);
    azr__gen_leave();
}

AZR_EXTERN azr_code azr_report(azr_ctx *ctx, size_t node_index,
                               uint64_t rtt_ns, azr_status status,
                               unsigned attempt)
{
    if (ctx == NULL || (unsigned)status > AZR_STATUS_CANCELLED)
        return AZR_E_INVALID_ARGUMENT;
    const azr_gen *g = azr__gen_enter(ctx);
    azr_code rc = AZR_E_INVALID_ARGUMENT;
    if (node_index < g->n_nodes) {
        observe_in(ctx, g, node_index, rtt_ns, status, attempt);
        rc = AZR_OK;
    }
    azr__gen_leave();
    return rc;
}
