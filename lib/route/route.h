/*
 * route.h - the routing layer's parts as seen by each other (lib/route/):
 * the outcome fan-out of the chain (chain.c) and the retries of one request
 * (route.c), both used by the connection layer (conn.c).
 * Nothing here is part of the ABI.
 */
#ifndef AZR_LIB_ROUTE_H
#define AZR_LIB_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include <azroute/azroute.h>

#include "../core/internal.h"

/* chain.c: reports one outcome of `node` to the node counters and to every
 * policy of the chain (AZR_STATUS_CANCELLED only to the policies built for
 * ABI >= 1.1, and not counted). */
void azr__chain_observe(azr_ctx *ctx, size_t node, uint64_t rtt_ns,
                        azr_status status, unsigned attempt);

/*
 * route.c: the retries of one request (azr_connect, azr_exec): up to
 * max_attempts picks, each excluding the nodes already tried. Used as
 *     azr_route r;
 *     azr__route_init(ctx, &r);
 *     while ((rc = azr__route_next(ctx, intent, &r, &node, errbuf)) == AZR_OK) {
 *         try `node` as attempt number r.n_tried; return on success or on
 *         a failure another node would not fix; else
 *         azr__route_failed(ctx, &r, node, rc, errbuf);
 *     }
 *     return rc;
 * Every attempt ends the request or is recorded by azr__route_failed, so the
 * count of nodes tried (plus r.spent) is also the attempt number.
 */
typedef struct azr_route {
    size_t tried[AZR_ATTEMPTS_CAP];
    size_t n_tried;
    unsigned spent; /* attempts made against earlier tables (live
                       topology: azr__route_new_table) */
    unsigned max;   /* the context's max_attempts, within 1..cap */
    azr_code last;  /* failure of the last node tried */
} azr_route;

/* The node table changed during the request (live topology): the nodes
 * tried may be worth trying again in the new one, but the attempts made
 * still count against max_attempts. */
void azr__route_new_table(azr_route *r);

/* Starts a request: nothing tried, at most the context's max_attempts
 * (clamped to 1..AZR_ATTEMPTS_CAP) attempts. */
void azr__route_init(azr_ctx *ctx, azr_route *r);

/* Picks the node for the next attempt into *node and returns AZR_OK, or
 * returns the request's final error (with its message in errbuf, which may
 * be NULL): the pick's own when no node has been tried yet, else the last
 * node's failure with " (N nodes tried)" appended when N > 1. */
azr_code azr__route_next(azr_ctx *ctx, azr_intent intent, azr_route *r,
                         size_t *node, char *errbuf);

/* Records that the attempt on `node` failed with `rc` (worth a retry), and
 * logs it at INFO with errbuf's message, because the request's final error
 * names only the last node tried. */
void azr__route_failed(azr_ctx *ctx, azr_route *r, size_t node, azr_code rc,
                       const char *errbuf);

#endif /* AZR_LIB_ROUTE_H */
