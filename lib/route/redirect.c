/*
 * redirect.c - cluster mode: what a reply that sends a command elsewhere
 * means for the request (MOVED, ASK, TRYAGAIN, CLUSTERDOWN), and the
 * slots a MOVED moved (ctx->moved, read by the pick in chain.c).
 */
#include <string.h>
#include <time.h>

#include "route.h"
#include "../core/generation.h"

azr_redirect_kind azr__redirect_kind(const azr_ctx *ctx, const azr_reply *r,
                                     azr_redirect *rd)
{
    if (ctx->moved == NULL || !azr__reply_is_error(r) || r->str == NULL)
        return AZR_REDIRECT_NONE;
    if (azr__redirect_parse(r->str, r->len, rd))
        return rd->ask ? AZR_REDIRECT_ASK : AZR_REDIRECT_MOVED;
    if (r->len >= 8 && memcmp(r->str, "TRYAGAIN", 8) == 0)
        return AZR_REDIRECT_TRYAGAIN;
    if (r->len >= 11 && memcmp(r->str, "CLUSTERDOWN", 11) == 0)
        return AZR_REDIRECT_CLUSTERDOWN;
    return AZR_REDIRECT_NONE;
}

size_t azr__node_by_address(azr_ctx *ctx, const char *host, unsigned port,
                            size_t asked)
{
    const azr_gen *g = azr__gen_enter(ctx);
    if (host[0] == '\0' && asked < g->n_nodes)
        host = g->views[asked].host; /* "the node you asked" */
    size_t found = SIZE_MAX;
    for (size_t i = 0; i < g->n_nodes && found == SIZE_MAX; i++)
        if (g->present[i] && g->views[i].port == port &&
            strcmp(g->views[i].host, host) == 0)
            found = i;
    azr__gen_leave();
    return found;
}

int azr__moved_home(azr_ctx *ctx, size_t node, const azr_reply *r)
{
    azr_redirect rd;
    if (azr__redirect_kind(ctx, r, &rd) != AZR_REDIRECT_MOVED)
        return 0;
    size_t target = azr__node_by_address(ctx, rd.host, rd.port, node);
    const azr_gen *g = azr__gen_enter(ctx);
    int home = target != SIZE_MAX && g->node_shard != NULL &&
               node < g->n_nodes && target < g->n_nodes &&
               g->views[node].role == AZR_ROLE_REPLICA &&
               g->node_shard[node] != AZR_NO_SHARD &&
               g->node_shard[node] == g->node_shard[target] &&
               g->views[target].role == AZR_ROLE_PRIMARY;
    azr__gen_leave();
    return home;
}

int azr__node_is_primary(azr_ctx *ctx, size_t node)
{
    const azr_gen *g = azr__gen_enter(ctx);
    int primary = node < g->n_nodes && g->present[node] &&
                  g->views[node].role == AZR_ROLE_PRIMARY;
    azr__gen_leave();
    return primary;
}

void azr__moved_note(azr_ctx *ctx, unsigned slot, size_t node)
{
    if (ctx->moved == NULL || slot >= AZR_SLOT_COUNT || node >= 0xffffu)
        return;
    const azr_gen *g = azr__gen_enter(ctx);
    uint32_t entry = (uint32_t)(g->number & 0xffffu) << 16 |
                     (uint32_t)(node + 1);
    atomic_store_explicit(&ctx->moved[slot], entry, memory_order_relaxed);
    azr__gen_leave();
}

void azr__cluster_backoff(unsigned round)
{
    /* 5, 10, 20, 40, 80, then 100 ms: a slot migration or an election
     * takes that order of time. */
    unsigned ms = round >= 5 ? 100u : 5u << round;
    struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)ms * 1000000L };
    nanosleep(&ts, NULL);
}
