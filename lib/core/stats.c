/*
 * stats.c - azr_stats_get: a snapshot of the node counters (counters.h),
 * what the policies know of each node (their describe operation), and the
 * context-wide figures derived from them: same-AZ share, cross-AZ bytes
 * and their estimated cost.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "generation.h"

/* The policy's describe operation, or NULL (ABI 1.0, or none). */
static void (*describe_op(const azr_loaded_plugin *p))(
    void *, size_t, azr_policy_node_report *)
{
    const azr_policy_ops *ops = p->desc->policy;
    if (ops == NULL || p->state == NULL ||
        ops->struct_size < offsetof(azr_policy_ops, describe) +
                               sizeof ops->describe)
        return NULL;
    return ops->describe;
}

/* Asks every policy of the chain about node `i`: the first latency
 * estimate offered wins (the chain's order), ejections add up. */
static void ask_policies(const azr_gen *g, size_t i, azr_node_snapshot *n)
{
    n->latency_ns = -1.0;
    for (size_t k = 0; k < g->n_policies; k++) {
        const azr_loaded_plugin *p = &g->policies[k];
        void (*describe)(void *, size_t, azr_policy_node_report *) =
            p->desc->kind == AZR_PLUGIN_POLICY ? describe_op(p) : NULL;
        if (describe == NULL)
            continue;
        azr_policy_node_report r = {
            .struct_size = sizeof r,
            .latency_ns = -1.0,
        };
        describe(p->state, i, &r);
        if (n->latency_ns < 0 && r.latency_ns >= 0)
            n->latency_ns = r.latency_ns;
        n->ejections += r.ejections;
        n->ejected |= r.ejected != 0;
    }
}

static void node_snapshot(const azr_ctx *ctx, const azr_gen *g, size_t i,
                          azr_node_snapshot *n)
{
    const azr_node_view *v = &g->views[i];
    azr_node_totals t;
    azr__counters_sum(ctx->counters, i, &t);
    *n = (azr_node_snapshot){
        .index = i,
        .id = v->id,
        .host = v->host,
        .port = v->port,
        .az_id = v->az_id,
        .role = v->role,
        .same_az = atomic_load_explicit(&v->same_az, memory_order_relaxed),
        .picks = t.picks,
        .requests = t.requests,
        .answered = t.answered,
        .total_rtt_ns = t.total_rtt_ns,
        .bytes_sent = t.bytes_sent,
        .bytes_received = t.bytes_received,
    };
    memcpy(n->by_status, t.by_status, sizeof n->by_status);
    ask_policies(g, i, n);
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

AZR_EXTERN azr_code azr_stats_get(azr_ctx *ctx, azr_stats **statsp)
{
    if (statsp != NULL)
        *statsp = NULL;
    if (ctx == NULL || statsp == NULL)
        return AZR_E_INVALID_ARGUMENT;
    azr_stats *s = calloc(1, sizeof *s);
    if (s == NULL)
        return AZR_E_NOMEM;
    s->taken_at_ms = wall_ms();
    azr_az_info az;
    azr_az_info_get(ctx, &az);
    s->az_known = az.known;
    if (az.known)
        memcpy(s->az_id, az.az_id, sizeof s->az_id);

    /* One table for the whole snapshot: the nodes present in it (a node
     * that left the group keeps its index, and its counts are in no
     * snapshot after it left). */
    const azr_gen *g = azr__gen_enter(ctx);
    s->nodes = calloc(g->n_members > 0 ? g->n_members : 1, sizeof *s->nodes);
    if (s->nodes == NULL) {
        azr__gen_leave();
        free(s);
        return AZR_E_NOMEM;
    }
    for (size_t k = 0; k < g->n_members; k++) {
        azr_node_snapshot *n = &s->nodes[s->n_nodes++];
        node_snapshot(ctx, g, g->members[k]->index, n);
        s->requests += n->requests;
        s->answered += n->answered;
        s->bytes_sent += n->bytes_sent;
        s->bytes_received += n->bytes_received;
        if (n->same_az)
            s->same_az_answered += n->answered;
        else
            s->cross_az_bytes += n->bytes_sent + n->bytes_received;
    }
    s->price_per_gb = g->cfg->cfg->stats.price_per_gb;
    azr__gen_leave();
    s->errors = s->requests - s->answered;
    s->same_az_share = s->answered > 0 ? (double)s->same_az_answered /
                                             (double)s->answered
                                       : -1.0;
    s->cross_az_cost_usd = (double)s->cross_az_bytes * 2.0 *
                           s->price_per_gb / 1e9;
    s->topology_changes = atomic_load_explicit(&ctx->topology_changes,
                                               memory_order_relaxed);
    s->pushes_unclaimed = atomic_load_explicit(&ctx->pushes_unclaimed,
                                               memory_order_relaxed);
    s->redirects_moved = atomic_load_explicit(&ctx->redirects_moved,
                                              memory_order_relaxed);
    s->redirects_ask = atomic_load_explicit(&ctx->redirects_ask,
                                            memory_order_relaxed);
    s->cluster_retries = atomic_load_explicit(&ctx->cluster_retries,
                                              memory_order_relaxed);
    *statsp = s;
    return AZR_OK;
}

AZR_EXTERN void azr_stats_free(azr_stats *stats)
{
    if (stats == NULL)
        return;
    free(stats->nodes);
    free(stats);
}
