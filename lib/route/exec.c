/*
 * exec.c - requests through the engine: azr_exec / azr_exec_ex (one
 * command) and azr_exec_pipeline (many, split by node in cluster mode),
 * with their retries, the live topology's waits for a new table, and the
 * cluster's redirections.
 *
 * Contracts (azroute.h has the callers' side):
 *  - A command is sent again only when it cannot have been applied: its
 *    node could not be connected, or the node refused it (READONLY,
 *    MASTERDOWN, MOVED, ASK, TRYAGAIN, CLUSTERDOWN). A write handed to a
 *    node that then failed is never sent elsewhere.
 *  - Every attempt counts against one budget, max_attempts, whatever
 *    caused it: a failure, a new table, a redirection.
 *  - A MOVED sends the request's next attempt to the node it names (a
 *    primary: the one node sure to serve the slot), and, when a primary
 *    sent it, moves the slot for the whole context at once (ctx->moved)
 *    and asks for a discovery (rate-limited). A replica's MOVED is
 *    followed but not recorded: a replica learns of a slot's move after
 *    the primaries do, and its stale view would send reads back and
 *    forth between two shards. An ASK sends ASKING and the command to
 *    the target once, on a connection of the pool (ASKING lasts one
 *    command, so the connection goes back clean).
 */
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "../core/generation.h"
#include "../topology/topology.h"

/* One request: the route of its attempts and how its runs are made. */
typedef struct exec_req {
    azr_ctx *ctx;
    azr_intent intent;
    run_opts opts;
    azr_route r;
    uint64_t deadline;   /* of the waits for a new table; 0: none yet */
    unsigned backoffs;   /* TRYAGAIN / CLUSTERDOWN rounds so far */
    size_t moved_to;     /* the next attempt goes to the node a MOVED
                            named, not through a pick; SIZE_MAX: none */
} exec_req;

static void req_init(exec_req *q, azr_ctx *ctx, azr_intent intent,
                     const run_opts *opts, unsigned slot)
{
    memset(q, 0, sizeof *q);
    q->ctx = ctx;
    q->intent = intent;
    q->opts = *opts;
    azr__route_init(ctx, &q->r);
    q->r.slot = slot;
    q->moved_to = SIZE_MAX;
}

/* The error for a command azr_exec must not run on a pooled connection. */
static azr_code refuse_stateful(const azr_command *cmd, char *errbuf)
{
    char name[72];
    azr__command_name(cmd, name, sizeof name);
    return azr__set_err(errbuf, AZR_E_UNSUPPORTED, "%s changes the state "
                        "of its connection, which azr_exec shares through "
                        "the pool: run it on a connection of your own "
                        "(azr_connect + azr_conn_command)", name);
}

/* Live topology, a write that found no primary or was refused by a former
 * one, a MOVED to a node the table lacks: asks for a discovery and waits,
 * up to [topology] failover_wait_ms over the whole request, for a new
 * table. 1: try again. */
static int await_new_table(exec_req *q, const char *why)
{
    azr_ctx *ctx = q->ctx;
    if (ctx->topology == NULL)
        return 0;
    uint64_t seen = azr_topology_generation(ctx);
    azr__topology_kick(ctx, why);
    if (q->deadline == 0)
        q->deadline = azr__ctx_now_ns(ctx) +
                      (uint64_t)azr__topology_failover_wait_ms(ctx) *
                          1000000u;
    return azr__topology_wait(ctx, seen, q->deadline);
}

/* 1 if another attempt fits in the budget after the one just made. */
static int budget_left(const exec_req *q)
{
    return q->r.spent + q->r.n_tried + 1 < q->r.max;
}

/* Runs the n commands on `node` (a connection of the pool, or a new
 * one), as the request's next attempt. *sent (may be NULL): 0 when the
 * node could not be connected, so nothing was sent. */
static azr_code run_at(exec_req *q, size_t node, size_t n,
                       const azr_command *cmds, azr_reply **replies,
                       int *sent, char *errbuf)
{
    azr_conn *conn = NULL;
    azr_code rc = azr__conn_get(q->ctx, node,
                                q->r.spent + (unsigned)q->r.n_tried, &conn,
                                errbuf);
    if (sent != NULL)
        *sent = rc == AZR_OK;
    if (rc != AZR_OK)
        return rc;
    rc = azr__conn_run(conn, n, cmds, replies, &q->opts, errbuf);
    azr_conn_close(conn); /* pooled, or closed if it failed */
    return rc;
}

/* ASK: ASKING then the command at the target, as one pipeline. */
static azr_code ask_at(exec_req *q, size_t node, const azr_command *cmd,
                       azr_reply **reply, char *errbuf)
{
    static const char *const asking_argv[] = { "ASKING" };
    const azr_command cmds[2] = {
        { .argc = 1, .argv = asking_argv }, *cmd,
    };
    azr_reply *replies[2] = { NULL, NULL };
    azr_code rc = run_at(q, node, 2, cmds, replies, NULL, errbuf);
    azr_reply_free(replies[0]);
    *reply = replies[1];
    return rc;
}

/*
 * Cluster: follows what *reply (from `node`) asks for, within the budget.
 * Returns 0 when *reply is the request's answer, 1 when the request goes
 * on (the reply was freed and the next pick goes where it said), or -1
 * with *rc set when the ASK target failed.
 */
static int follow(exec_req *q, size_t *node, const azr_command *cmd,
                  azr_reply **reply, azr_code *rc, char *errbuf)
{
    azr_ctx *ctx = q->ctx;
    azr_redirect rd;
    for (;;) {
        azr_redirect_kind kind = azr__redirect_kind(ctx, *reply, &rd);
        if (kind == AZR_REDIRECT_NONE || !budget_left(q))
            return 0;
        size_t target = SIZE_MAX;
        if (kind == AZR_REDIRECT_MOVED || kind == AZR_REDIRECT_ASK) {
            target = azr__node_by_address(ctx, rd.host, rd.port, *node);
            if (q->r.slot == AZR_SLOT_NONE)
                q->r.slot = rd.slot; /* a command the key table lacks */
        }
        if (kind == AZR_REDIRECT_MOVED) {
            atomic_fetch_add_explicit(&ctx->redirects_moved, 1,
                                      memory_order_relaxed);
            if (target != SIZE_MAX) {
                if (azr__node_is_primary(ctx, *node))
                    azr__moved_note(ctx, rd.slot, target);
                azr__topology_kick(ctx, "a reply was MOVED");
                q->moved_to = target;
            } else if (!await_new_table(q, "a reply was MOVED to a node "
                                           "the table lacks")) {
                return 0;
            }
        } else if (kind == AZR_REDIRECT_ASK) {
            if (target == SIZE_MAX) {
                azr__topology_kick(ctx, "an ASK named a node the table "
                                        "lacks");
                return 0;
            }
            atomic_fetch_add_explicit(&ctx->redirects_ask, 1,
                                      memory_order_relaxed);
            azr_reply_free(*reply);
            *reply = NULL;
            q->r.spent++;
            *rc = ask_at(q, target, cmd, reply, errbuf);
            if (*rc != AZR_OK)
                return -1;
            *node = target;
            continue; /* what the target said */
        } else {
            atomic_fetch_add_explicit(&ctx->cluster_retries, 1,
                                      memory_order_relaxed);
            if (kind == AZR_REDIRECT_CLUSTERDOWN)
                azr__topology_kick(ctx, "a reply was CLUSTERDOWN");
            azr__cluster_backoff(q->backoffs++);
        }
        azr_reply_free(*reply);
        *reply = NULL;
        q->r.spent++;
        return 1;
    }
}

/* The request loop for n commands routed together (see azr_exec in
 * azroute.h); a single command's cluster redirections are followed. */
static azr_code exec_routed(exec_req *q, size_t n, const azr_command *cmds,
                            azr_reply **replies, size_t *node_index,
                            char *errbuf)
{
    azr_ctx *ctx = q->ctx;
    azr_route *r = &q->r;
    int write = q->intent == AZR_INTENT_WRITE;
    size_t node;
    azr_code rc;
    for (;;) {
        if (q->moved_to != SIZE_MAX && r->spent + r->n_tried < r->max) {
            node = q->moved_to;
            rc = AZR_OK;
        } else {
            rc = azr__route_next(ctx, q->intent, r, &node, errbuf);
        }
        q->moved_to = SIZE_MAX;
        /* No primary left to try (none in the table, or the ones tried
         * could not be reached), attempts left: wait for the group to
         * elect one. */
        if (rc != AZR_OK && write && r->spent + r->n_tried < r->max &&
            (rc == AZR_E_NO_NODE || r->n_tried > 0 || r->spent > 0) &&
            await_new_table(q, "a write found no primary")) {
            /* the new table may hold the primary tried already */
            azr__route_new_table(r);
            continue;
        }
        if (rc != AZR_OK)
            return rc;
        int sent = 0;
        rc = run_at(q, node, n, cmds, replies, &sent, errbuf);
        if (rc == AZR_OK && n == 1) {
            int go_on = follow(q, &node, cmds, replies, &rc, errbuf);
            if (go_on > 0)
                continue;
            if (go_on < 0)
                return rc;
        }
        if (rc == AZR_OK) {
            if (n == 1 && write && azr__reply_is_readonly(replies[0]) &&
                budget_left(q) &&
                await_new_table(q, "a write was refused with READONLY")) {
                azr_reply_free(replies[0]);
                replies[0] = NULL;
                r->tried[r->n_tried++] = node;
                continue;
            }
            if (node_index != NULL)
                *node_index = node;
            return AZR_OK;
        }
        if (write && sent) {
            /* The write may have been applied before the failure: running
             * it again elsewhere could apply it twice. */
            azr__topology_kick(ctx, "a write to the primary failed");
            return rc;
        }
        if (write)
            azr__topology_kick(ctx, "the primary cannot be reached");
        if (rc == AZR_E_NOMEM || rc == AZR_E_PLUGIN ||
            rc == AZR_E_INVALID_ARGUMENT || rc == AZR_E_UNSUPPORTED)
            return rc;
        azr__route_failed(ctx, r, node, rc, errbuf);
    }
}

/* Reads an azr_exec_options (NULL: a read with the defaults). */
static azr_code read_options(const azr_exec_options *options,
                             azr_intent *intent, run_opts *opts,
                             const char *fn, char *errbuf)
{
    *intent = AZR_INTENT_READ;
    *opts = (run_opts){ 0 };
    if (options == NULL)
        return AZR_OK;
    if (options->struct_size < offsetof(azr_exec_options, intent) +
                                   sizeof options->intent)
        return azr__set_err(errbuf, AZR_E_INVALID_ARGUMENT, "%s: "
                            "options.struct_size is not set", fn);
    *intent = options->intent;
    if (options->struct_size >= offsetof(azr_exec_options, timeout_ms) +
                                    sizeof options->timeout_ms)
        opts->timeout_ms = options->timeout_ms;
    if (options->struct_size >= offsetof(azr_exec_options, flags) +
                                    sizeof options->flags)
        opts->flags = options->flags;
    if (!azr__intent_valid(*intent) ||
        (opts->flags & ~AZR_EXEC_BLOCKING) != 0)
        return azr__set_err(errbuf, AZR_E_INVALID_ARGUMENT, "%s: invalid "
                            "argument (a bad intent or flag)", fn);
    return AZR_OK;
}

/* The slot cmd routes by: AZR_SLOT_NONE outside cluster mode. */
static azr_code slot_of(const azr_ctx *ctx, const azr_command *cmd,
                        unsigned *slot, char *errbuf)
{
    *slot = AZR_SLOT_NONE;
    if (ctx->moved == NULL)
        return AZR_OK;
    return azr__command_slot(cmd, slot, errbuf);
}

AZR_EXTERN azr_code azr_exec_ex(azr_ctx *ctx, const azr_exec_options *options,
                                const azr_command *cmd, azr_reply **reply,
                                size_t *node_index,
                                char errbuf[AZR_ERRBUF_SIZE])
{
    if (errbuf != NULL)
        errbuf[0] = '\0';
    if (reply != NULL)
        *reply = NULL;
    azr_intent intent;
    run_opts opts;
    azr_code rc = read_options(options, &intent, &opts, "azr_exec", errbuf);
    if (rc != AZR_OK)
        return rc;
    if (ctx == NULL || reply == NULL || !azr__command_valid(cmd))
        return azr__set_err(errbuf, AZR_E_INVALID_ARGUMENT,
                            "azr_exec: invalid argument (a NULL handle or "
                            "an empty command)");
    if (azr__command_effect(cmd) != AZR_EFFECT_NONE)
        return refuse_stateful(cmd, errbuf);
    if (ctx->transport == NULL)
        return azr__no_transport(errbuf);
    unsigned slot;
    if ((rc = slot_of(ctx, cmd, &slot, errbuf)) != AZR_OK)
        return rc;
    exec_req q;
    req_init(&q, ctx, intent, &opts, slot);
    return exec_routed(&q, 1, cmd, reply, node_index, errbuf);
}

AZR_EXTERN azr_code azr_exec(azr_ctx *ctx, azr_intent intent,
                             const azr_command *cmd, azr_reply **reply,
                             size_t *node_index,
                             char errbuf[AZR_ERRBUF_SIZE])
{
    const azr_exec_options opts = {
        .struct_size = sizeof opts,
        .intent = intent,
    };
    return azr_exec_ex(ctx, &opts, cmd, reply, node_index, errbuf);
}

/* ---- pipelines ---- */

/* Largest pipeline whose shares are all in flight at once. */
#define AZR_IN_FLIGHT_MAX 1024u

/* One node's share of a pipeline: its commands are sub_cmds[at..at+m). */
typedef struct group {
    uint32_t key;          /* azr__slot_groups key */
    size_t at, m;
    exec_req q;            /* its request: route, attempts */
    azr_conn *conn;        /* while in flight */
    size_t node;
    int done;              /* replies in place */
} group;

/* A pipeline's commands and what the call needs to split it. */
typedef struct pipeline {
    size_t n;
    const azr_command *cmds;
    azr_reply **replies;
    size_t *nodes;         /* per command: the node that answered */
    size_t *own_nodes;     /* nodes, when the caller gave none */
    unsigned *slots;       /* per command */
    uint32_t *keys;        /* per command: its group key */
    unsigned *spent;       /* per command: attempts its group made */
    size_t *order;         /* command indexes, grouped */
    azr_command *sub_cmds; /* the commands in that order */
    azr_reply **sub_replies;
    group *groups;
    size_t n_groups;
} pipeline;

static void pipeline_free(pipeline *p)
{
    free(p->own_nodes);
    free(p->slots);
    free(p->keys);
    free(p->spent);
    free(p->order);
    free(p->sub_cmds);
    free(p->sub_replies);
    free(p->groups);
}

static void replies_clear(pipeline *p)
{
    for (size_t i = 0; i < p->n; i++) {
        azr_reply_free(p->replies[i]);
        p->replies[i] = NULL;
    }
    for (size_t k = 0; k < p->n_groups; k++)
        if (!p->groups[k].done)
            for (size_t j = 0; j < p->groups[k].m; j++) {
                azr_reply_free(p->sub_replies[p->groups[k].at + j]);
                p->sub_replies[p->groups[k].at + j] = NULL;
            }
}

/* Splits the commands into groups, one per shard; the keyless ones join
 * the first group that has keys (any node takes them). */
static void pipeline_group(pipeline *p, azr_ctx *ctx, azr_intent intent,
                           const run_opts *opts)
{
    uint32_t first_keyed = AZR_GROUP_ANY;
    for (size_t i = 0; i < p->n && first_keyed == AZR_GROUP_ANY; i++)
        first_keyed = p->keys[i];
    for (size_t i = 0; i < p->n; i++)
        if (p->keys[i] == AZR_GROUP_ANY)
            p->keys[i] = first_keyed;
    for (size_t i = 0; i < p->n; i++) {
        size_t k = 0;
        while (k < p->n_groups && p->groups[k].key != p->keys[i])
            k++;
        if (k == p->n_groups) {
            group *g = &p->groups[p->n_groups++];
            memset(g, 0, sizeof *g);
            g->key = p->keys[i];
            g->node = SIZE_MAX;
            req_init(&g->q, ctx, intent, opts, p->slots[i]);
        }
        /* A group is routed by its first command with keys: a keyless
         * one may have opened it. */
        if (p->groups[k].q.r.slot == AZR_SLOT_NONE)
            p->groups[k].q.r.slot = p->slots[i];
        p->groups[k].m++;
    }
    size_t at = 0;
    for (size_t k = 0; k < p->n_groups; k++) {
        p->groups[k].at = at;
        at += p->groups[k].m;
        p->groups[k].m = 0;
    }
    for (size_t i = 0; i < p->n; i++) {
        size_t k = 0;
        while (p->groups[k].key != p->keys[i])
            k++;
        group *g = &p->groups[k];
        p->order[g->at + g->m] = i;
        p->sub_cmds[g->at + g->m] = p->cmds[i];
        g->m++;
    }
}

/* Puts group g's replies in their places. */
static void group_deliver(pipeline *p, group *g)
{
    /* the attempt that answered counts too */
    unsigned spent = g->q.r.spent + (unsigned)g->q.r.n_tried + 1;
    for (size_t j = 0; j < g->m; j++) {
        size_t i = p->order[g->at + j];
        p->replies[i] = p->sub_replies[g->at + j];
        p->sub_replies[g->at + j] = NULL;
        p->nodes[i] = g->node;
        p->spent[i] = spent;
    }
    g->done = 1;
}

/* The first attempt of every group at once (ABI 1.3 transports): each
 * group's node is picked and sent its commands, then the replies are
 * read in turn, so the nodes work in parallel. A group whose node cannot
 * be reached or fails is left for the request loop (reads), or fails the
 * call if its commands were sent (writes: never sent twice). */
static azr_code run_in_flight(pipeline *p, char *errbuf)
{
    azr_code failed = AZR_OK;
    char err[AZR_ERRBUF_SIZE]; /* each step's; the first failure's is kept */
    for (size_t k = 0; k < p->n_groups; k++) {
        group *g = &p->groups[k];
        size_t node;
        if (azr__route_next(g->q.ctx, g->q.intent, &g->q.r, &node,
                            NULL) != AZR_OK)
            continue; /* the request loop says why */
        azr_code rc = azr__conn_get(g->q.ctx, node, 0, &g->conn, err);
        if (rc == AZR_OK &&
            (rc = azr__conn_send(g->conn, g->m, p->sub_cmds + g->at,
                                 err)) != AZR_OK) {
            azr_conn_close(g->conn);
            g->conn = NULL;
            if (g->q.intent == AZR_INTENT_WRITE && failed == AZR_OK) {
                failed = rc; /* it may have been partly sent */
                azr__set_err(errbuf, rc, "%s", err);
            }
        }
        if (rc == AZR_OK)
            g->node = node;
        else if (rc != AZR_E_NOMEM && rc != AZR_E_PLUGIN)
            azr__route_failed(g->q.ctx, &g->q.r, node, rc, err);
        else if (failed == AZR_OK) {
            failed = rc;
            azr__set_err(errbuf, rc, "%s", err);
        }
    }
    for (size_t k = 0; k < p->n_groups; k++) {
        group *g = &p->groups[k];
        if (g->conn == NULL)
            continue;
        azr_code rc = azr__conn_receive(g->conn, g->m, p->sub_cmds + g->at,
                                        p->sub_replies + g->at, &g->q.opts,
                                        err);
        azr_conn_close(g->conn);
        g->conn = NULL;
        if (rc == AZR_OK)
            group_deliver(p, g);
        else if (g->q.intent == AZR_INTENT_WRITE || rc == AZR_E_NOMEM) {
            if (failed == AZR_OK) {
                failed = rc;
                azr__set_err(errbuf, rc, "%s", err);
            }
        } else
            azr__route_failed(g->q.ctx, &g->q.r, g->node, rc, err);
    }
    return failed;
}

/* Runs every group not done yet through the request loop, in turn. */
static azr_code run_in_turn(pipeline *p, char *errbuf)
{
    for (size_t k = 0; k < p->n_groups; k++) {
        group *g = &p->groups[k];
        if (g->done)
            continue;
        azr_code rc = exec_routed(&g->q, g->m, p->sub_cmds + g->at,
                                  p->sub_replies + g->at, &g->node, errbuf);
        if (rc != AZR_OK)
            return rc;
        group_deliver(p, g);
    }
    return AZR_OK;
}

/* Cluster: a command its node sent elsewhere goes again alone, as
 * azr_exec would send it. */
static azr_code resend_redirected(azr_ctx *ctx, pipeline *p,
                                  azr_intent intent, const run_opts *opts,
                                  char *errbuf)
{
    azr_redirect rd;
    for (size_t i = 0; i < p->n; i++) {
        if (azr__redirect_kind(ctx, p->replies[i], &rd) == AZR_REDIRECT_NONE)
            continue;
        size_t node = p->nodes[i];
        exec_req q;
        req_init(&q, ctx, intent, opts, p->slots[i]);
        /* The attempts its group made count against the same budget
         * (a group of one has followed its redirections already). */
        q.r.spent = p->spent[i];
        azr_code rc = AZR_OK;
        int go_on = follow(&q, &node, &p->cmds[i], &p->replies[i], &rc,
                           errbuf);
        if (go_on < 0)
            return rc;
        if (go_on > 0 &&
            (rc = exec_routed(&q, 1, &p->cmds[i], &p->replies[i], &node,
                              errbuf)) != AZR_OK)
            return rc;
        p->nodes[i] = node;
    }
    return AZR_OK;
}

/* Checks the commands and finds each one's slot. */
static azr_code pipeline_prepare(azr_ctx *ctx, pipeline *p, char *errbuf)
{
    p->slots = malloc(p->n * sizeof *p->slots);
    p->keys = malloc(p->n * sizeof *p->keys);
    p->spent = malloc(p->n * sizeof *p->spent);
    p->order = malloc(p->n * sizeof *p->order);
    p->sub_cmds = malloc(p->n * sizeof *p->sub_cmds);
    p->sub_replies = calloc(p->n, sizeof *p->sub_replies);
    p->groups = malloc(p->n * sizeof *p->groups);
    if (p->nodes == NULL)
        p->nodes = p->own_nodes = malloc(p->n * sizeof *p->nodes);
    if (p->nodes == NULL || p->slots == NULL || p->keys == NULL ||
        p->spent == NULL ||
        p->order == NULL || p->sub_cmds == NULL || p->sub_replies == NULL ||
        p->groups == NULL)
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    for (size_t i = 0; i < p->n; i++) {
        if (!azr__command_valid(&p->cmds[i]))
            return azr__set_err(errbuf, AZR_E_INVALID_ARGUMENT,
                                "azr_exec_pipeline: command %zu is empty",
                                i);
        if (azr__command_effect(&p->cmds[i]) != AZR_EFFECT_NONE)
            return refuse_stateful(&p->cmds[i], errbuf);
        char err[AZR_ERRBUF_SIZE];
        azr_code rc = slot_of(ctx, &p->cmds[i], &p->slots[i], err);
        if (rc != AZR_OK)
            return azr__set_err(errbuf, rc, "command %zu: %s", i, err);
    }
    azr__slot_groups(ctx, p->n, p->slots, p->keys);
    return AZR_OK;
}

static azr_code pipeline_run(azr_ctx *ctx, pipeline *p, azr_intent intent,
                             const run_opts *opts, char *errbuf)
{
    pipeline_group(p, ctx, intent, opts);
    azr_code rc = AZR_OK;
    /* In flight at once: each share is written whole before any reply is
     * read, so the server holds every reply meanwhile; a large pipeline
     * goes a share at a time, through the transport's interleaved
     * exchange. */
    if (p->n_groups > 1 && p->n <= AZR_IN_FLIGHT_MAX &&
        azr__conn_can_split(ctx))
        rc = run_in_flight(p, errbuf);
    if (rc == AZR_OK)
        rc = run_in_turn(p, errbuf);
    if (rc == AZR_OK)
        rc = resend_redirected(ctx, p, intent, opts, errbuf);
    return rc;
}

AZR_EXTERN azr_code azr_exec_pipeline(azr_ctx *ctx,
                                      const azr_exec_options *options,
                                      size_t n, const azr_command *cmds,
                                      azr_reply **replies,
                                      size_t *node_indexes,
                                      char errbuf[AZR_ERRBUF_SIZE])
{
    if (errbuf != NULL)
        errbuf[0] = '\0';
    azr_intent intent;
    run_opts opts;
    azr_code rc = read_options(options, &intent, &opts,
                               "azr_exec_pipeline", errbuf);
    if (rc != AZR_OK)
        return rc;
    if (ctx == NULL || (n > 0 && (cmds == NULL || replies == NULL)))
        return azr__set_err(errbuf, AZR_E_INVALID_ARGUMENT,
                            "azr_exec_pipeline: invalid argument");
    for (size_t i = 0; i < n; i++)
        replies[i] = NULL;
    if (n == 0)
        return AZR_OK;
    if (ctx->transport == NULL)
        return azr__no_transport(errbuf);
    pipeline p = { .n = n, .cmds = cmds, .replies = replies,
                   .nodes = node_indexes };
    rc = pipeline_prepare(ctx, &p, errbuf);
    if (rc == AZR_OK)
        rc = pipeline_run(ctx, &p, intent, &opts, errbuf);
    if (rc != AZR_OK)
        replies_clear(&p);
    else if (errbuf != NULL)
        errbuf[0] = '\0'; /* failures retried away */
    pipeline_free(&p);
    return rc;
}
