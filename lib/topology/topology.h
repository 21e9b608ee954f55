/*
 * topology.h - live topology: the table of a replication group kept in
 * step with its servers (discovery, the refresh thread, events), and
 * azr_reload(). What the routing layer (lib/route) calls.
 */
#ifndef AZR_LIB_TOPOLOGY_H
#define AZR_LIB_TOPOLOGY_H

#include <stdint.h>

#include "../core/internal.h"

/* Event refreshes are at least this far apart (a failing primary is seen
 * by every request at once). */
#define AZR_TOPOLOGY_EVENT_GAP_MS 100u

/* Starts the refresh thread on the first request of a live context (a
 * context that is never used never starts a thread, and one opened before
 * a fork() starts it in the process that uses it; a child of a process
 * whose thread ran starts its own). Two relaxed loads once started: fine
 * on the pick path. */
/* The process's fork epoch: 1, one more in the child of every fork(). */
extern _Atomic unsigned azr__topology_epoch;

void azr__topology_use_slow(azr_ctx *ctx);
static inline void azr__topology_use(azr_ctx *ctx)
{
    if ((unsigned)atomic_load_explicit(&ctx->topology_started,
                                       memory_order_relaxed) !=
        atomic_load_explicit(&azr__topology_epoch, memory_order_relaxed))
        azr__topology_use_slow(ctx);
}

/* Asks for a discovery soon (rate-limited), saying why (logged). Never
 * blocks on the network. No-op in static mode. */
void azr__topology_kick(azr_ctx *ctx, const char *why);

/* Waits until the table is newer than generation `seen` or `deadline_ns`
 * (context clock) passes; 1 if it is. Static mode: 0 at once. */
int azr__topology_wait(azr_ctx *ctx, uint64_t seen, uint64_t deadline_ns);

/* [topology] failover_wait_ms of the configuration in effect (0 in static
 * mode). */
unsigned azr__topology_failover_wait_ms(azr_ctx *ctx);

#endif /* AZR_LIB_TOPOLOGY_H */
