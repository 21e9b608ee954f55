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

#include "command_state.h"
#include "../cluster/cluster.h"
#include "../core/internal.h"

/* chain.c: reports one outcome of `node` to the node counters and to every
 * policy of the chain (AZR_STATUS_CANCELLED only to the policies built for
 * ABI >= 1.1, and not counted). */
void azr__chain_observe(azr_ctx *ctx, size_t node, uint64_t rtt_ns,
                        azr_status status, unsigned attempt);

/* chain.c, for pipelines: keys[i] is equal for commands whose slots[i]
 * the current table sends to the same shard (or the same node a MOVED
 * named), and AZR_GROUP_ANY for AZR_SLOT_NONE (any node will do). */
#define AZR_GROUP_ANY 0x10000u
void azr__slot_groups(azr_ctx *ctx, size_t n, const unsigned *slots,
                      uint32_t *keys);

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
    unsigned slot;  /* cluster: the slot the request routes by
                       (azr_pick_slot), AZR_SLOT_NONE by default */
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
 * (clamped to 1..AZR_ATTEMPTS_CAP) attempts, no slot. */
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

/*
 * conn.c: connections and the runs of commands on them, shared with the
 * request loops of exec.c.
 */
struct azr_conn {
    azr_ctx *ctx;
    size_t node;
    void *tconn;       /* the transport's connection */
    unsigned attempt;  /* attempt number it was picked for */
    int broken;        /* a transport call failed: close, never pool */
    int discard;       /* usable, but closed instead of pooled (it lost
                          READONLY: see azr__moved_home) */
    int pick_pending;  /* picked by the chain, no outcome reported yet */
    azr_conn_state state; /* what the commands run did to it */
    uint64_t sent_at;  /* context clock at the last azr__conn_send */
};

/* How one run of commands is carried out. */
typedef struct run_opts {
    unsigned timeout_ms; /* 0: the transport's command timeout */
    unsigned flags;      /* AZR_EXEC_BLOCKING */
} run_opts;

/* A connection to `node`: from the pool, else a new one (in cluster mode
 * it has sent READONLY, so that a replica serves reads of its slots). A
 * connect failure is reported to the policies. */
azr_code azr__conn_get(azr_ctx *ctx, size_t node, unsigned attempt,
                       azr_conn **connp, char *errbuf);

/* Runs n commands on the connection, measures and reports the outcome
 * (see AZR_EXEC_BLOCKING for what a blocking run reports). On failure
 * the connection is broken and every reply NULL. */
azr_code azr__conn_run(azr_conn *c, size_t n, const azr_command *cmds,
                       azr_reply **replies, const run_opts *opts,
                       char *errbuf);

/* 1 if the transport has the two halves of a pipeline (ABI 1.3), so that
 * pipelines may be in flight on several connections at once. */
int azr__conn_can_split(const azr_ctx *ctx);

/* The halves of azr__conn_run for such a transport: send the n commands
 * (a failure is reported and breaks the connection), then receive their
 * replies (the outcome is reported with the time since the send). */
azr_code azr__conn_send(azr_conn *c, size_t n, const azr_command *cmds,
                        char *errbuf);
azr_code azr__conn_receive(azr_conn *c, size_t n, const azr_command *cmds,
                           azr_reply **replies, const run_opts *opts,
                           char *errbuf);

/* The error of a request on a context without a transport plugin. */
azr_code azr__no_transport(char *errbuf);

int azr__intent_valid(azr_intent intent);
/* 1 if cmd is non-NULL with argc > 0 and no NULL argument. */
int azr__command_valid(const azr_command *cmd);
/* 1 for an ERROR or BLOB_ERROR reply. */
int azr__reply_is_error(const azr_reply *r);
/* A write refused because its node is no longer the primary (READONLY,
 * MASTERDOWN): it was not applied, so it may go to the new primary. */
int azr__reply_is_readonly(const azr_reply *r);

/*
 * redirect.c: cluster replies that send a command elsewhere.
 */
typedef enum azr_redirect_kind {
    AZR_REDIRECT_NONE = 0,
    AZR_REDIRECT_MOVED,       /* the slot has another owner for good */
    AZR_REDIRECT_ASK,         /* this key is being migrated: ask there */
    AZR_REDIRECT_TRYAGAIN,    /* keys split by a migration, for now */
    AZR_REDIRECT_CLUSTERDOWN  /* the cluster cannot serve the slot now */
} azr_redirect_kind;

/* What reply r asks of the request (*rd filled for MOVED and ASK).
 * Always AZR_REDIRECT_NONE outside cluster mode. None of these replies
 * means the command was applied. */
azr_redirect_kind azr__redirect_kind(const azr_ctx *ctx, const azr_reply *r,
                                     azr_redirect *rd);

/* Index of the present node at host:port in the current table, or
 * SIZE_MAX; an empty host is node `asked`'s. */
size_t azr__node_by_address(azr_ctx *ctx, const char *host, unsigned port,
                            size_t asked);

/* 1 if r is a MOVED by which replica `node` sends a command to its own
 * shard's primary: the connection lost READONLY (a replica with it
 * serves its shard's reads, and redirects only writes). */
int azr__moved_home(azr_ctx *ctx, size_t node, const azr_reply *r);

/* 1 if `node` is a primary of the current table. */
int azr__node_is_primary(azr_ctx *ctx, size_t node);

/* Records that `slot` is now served by `node` (a MOVED reply), for picks
 * against the current table (ctx->moved). */
void azr__moved_note(azr_ctx *ctx, unsigned slot, size_t node);

/* Sleeps before the retry number `round` (0, 1, ...) of a TRYAGAIN or
 * CLUSTERDOWN: 5 ms doubling up to 100 ms. */
void azr__cluster_backoff(unsigned round);

#endif /* AZR_LIB_ROUTE_H */
