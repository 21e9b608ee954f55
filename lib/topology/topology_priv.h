/*
 * topology_priv.h - the state of a live context's topology, shared by the
 * files of lib/topology/.
 */
#ifndef AZR_LIB_TOPOLOGY_PRIV_H
#define AZR_LIB_TOPOLOGY_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "../core/internal.h"

struct azr_topology {
    pthread_mutex_t refresh_lock; /* one discovery and swap at a time */
    pthread_mutex_t lock;         /* the fields below */
    pthread_cond_t cond;          /* kicks, stop, a refresh done */
    pthread_t thread;
    int thread_ok;                /* thread started (join it) */
    _Atomic unsigned started_epoch; /* azr__topology_epoch the thread was
                                       started in; 0: never */
    int stop;
    int kicked;                   /* an event asks for a refresh */
    char kick_reason[160];
    uint64_t last_ns;             /* end of the last refresh (monotonic) */
    char last_error[AZR_ERRBUF_SIZE]; /* of the last discovery; "" if it
                                         succeeded (refresh_lock) */
};

/* Discovers the group from cfg's seeds (and the current table) and
 * publishes the table it makes under cfg, if it differs from the current
 * one or `force` (a reload: the chain is new). `why` is logged with the
 * change. Caller holds refresh_lock. */
azr_code azr__topology_swap(azr_ctx *ctx, azr_cfg_ref *cfg, const char *why,
                            int force, char *errbuf);

#endif /* AZR_LIB_TOPOLOGY_PRIV_H */
