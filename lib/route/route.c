/*
 * route.c - the retries of one request: which node each attempt goes to,
 * and the error the request ends with (see route.h).
 */
#include <stdio.h>
#include <string.h>

#include "route.h"
#include "../core/generation.h"

/* [azroute] max_attempts, within 1..AZR_ATTEMPTS_CAP whatever the context
 * holds. */
static unsigned attempts_of(azr_ctx *ctx)
{
    const azr_gen *g = azr__gen_enter(ctx);
    unsigned n = g->cfg->cfg->max_attempts;
    azr__gen_leave();
    return n == 0 ? 1 : n > AZR_ATTEMPTS_CAP ? AZR_ATTEMPTS_CAP : n;
}

void azr__route_init(azr_ctx *ctx, azr_route *r)
{
    memset(r, 0, sizeof *r);
    r->slot = AZR_SLOT_NONE;
    r->max = attempts_of(ctx);
    r->last = AZR_E_NO_NODE;
}

static azr_code pick_error(azr_code rc, azr_intent intent, char *errbuf)
{
    if (rc == AZR_E_NO_NODE)
        return azr__set_err(errbuf, rc, "no node available for a %s (the "
                            "policy chain left no candidate)",
                            intent == AZR_INTENT_WRITE ? "write" : "read");
    if (rc == AZR_E_PLUGIN)
        return azr__set_err(errbuf, rc, "a policy failed while picking a "
                            "node (see the log)");
    return azr__set_err(errbuf, rc, "cannot pick a node: %s",
                        azr_strerror(rc));
}

/* Adds "(N nodes tried)" to a final error when more than one was. */
static azr_code tried_suffix(azr_code code, size_t n_tried, char *errbuf)
{
    if (errbuf != NULL && n_tried > 1) {
        size_t used = strlen(errbuf);
        if (used < AZR_ERRBUF_SIZE)
            snprintf(errbuf + used, AZR_ERRBUF_SIZE - used,
                     " (%zu nodes tried)", n_tried);
    }
    return code;
}

azr_code azr__route_next(azr_ctx *ctx, azr_intent intent, azr_route *r,
                         size_t *node, char *errbuf)
{
    if (r->spent + r->n_tried < r->max) {
        const azr_pick_request req = {
            .intent = intent,
            .attempt = r->spent + (unsigned)r->n_tried,
            .excluded = r->tried,
            .n_excluded = r->n_tried,
        };
        azr_code rc = azr_pick_slot(ctx, &req, r->slot, node);
        if (rc == AZR_OK)
            return AZR_OK;
        if (r->n_tried == 0 && r->spent == 0)
            return pick_error(rc, intent, errbuf);
        /* no other candidate: report the last failure */
    }
    return tried_suffix(r->last, r->spent + r->n_tried, errbuf);
}

void azr__route_new_table(azr_route *r)
{
    r->spent += (unsigned)r->n_tried;
    r->n_tried = 0;
}

void azr__route_failed(azr_ctx *ctx, azr_route *r, size_t node, azr_code rc,
                       const char *errbuf)
{
    azr__log(ctx, AZR_LOG_INFO, "attempt %zu failed on node %s: %s",
             r->spent + r->n_tried + 1, azr__node_id(ctx, node),
             errbuf != NULL && errbuf[0] != '\0' ? errbuf : azr_strerror(rc));
    r->last = rc;
    r->tried[r->n_tried++] = node;
}
