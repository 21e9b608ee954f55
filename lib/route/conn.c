/*
 * conn.c - routed connections: azr_connect / azr_connect_node, commands
 * and pipelines through the transport plugin, the per-node pool, azr_exec.
 *
 * Contracts:
 *  - Every transport outcome is reported to the policies (and the node
 *    counters) through azr__chain_observe: a failed connect with its status,
 *    each command or pipeline with its round-trip time measured by the
 *    context clock around the transport call. An error reply counts as
 *    answered (AZR_STATUS_ERROR_REPLY).
 *  - A retry never lands on a node already tried for the same request:
 *    tried nodes go to azr_pick_ex as `excluded`, up to max_attempts
 *    (route.c).
 *  - Idle connections wait in a per-node pool (AZR_POOL_IDLE_MAX per
 *    node, most recently used first). The pool has one mutex per node; it
 *    is taken only when a connection is borrowed or returned, never on the
 *    pick path. A connection that failed is closed, never pooled.
 *  - A connection goes back to the pool only clean: a command that
 *    changes the connection's state (command_state.h) or a transaction
 *    left open makes azr_conn_close() close it instead. azr_exec refuses
 *    such commands outright, naming the API to use instead.
 *  - A connection picked by azr_connect() and closed without any command
 *    reports AZR_STATUS_CANCELLED, so the policies release the pick.
 *  - Plugin errors are read back from the host's thread-local error slot
 *    right after the call, on the same thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "../core/generation.h"
#include "../topology/topology.h"

/* Idle connections kept per node: enough for as many threads as a
 * process keeps busy on one node at once. Past it a returned connection
 * is closed, and the next thread pays a new connection (a TLS handshake),
 * so too small a pool turns every request of a busy process into one. */
#define AZR_POOL_IDLE_MAX 64


typedef struct azr_pool_slot {
    _Alignas(AZR_CACHE_LINE) pthread_mutex_t lock;
    size_t n_idle;
    azr_conn *idle[AZR_POOL_IDLE_MAX];
} azr_pool_slot;

/* One slot per node index, made when the node first returns a connection
 * (indexes grow with the table: generation.h). */
struct azr_pool {
    azr_pool_slot *_Atomic slots[AZR_MAX_NODES];
};

static const azr_transport_ops *transport_ops(const azr_ctx *ctx)
{
    return ctx->transport->desc->transport;
}

/* ---- the pool ---- */

static void slot_close_idle(azr_ctx *ctx, azr_pool_slot *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->n_idle;
    azr_conn *idle[AZR_POOL_IDLE_MAX];
    memcpy(idle, s->idle, n * sizeof idle[0]);
    s->n_idle = 0;
    pthread_mutex_unlock(&s->lock);
    for (size_t k = 0; k < n; k++) {
        transport_ops(ctx)->close(idle[k]->tconn);
        free(idle[k]);
    }
}

void azr__pool_free(azr_ctx *ctx)
{
    struct azr_pool *pool = ctx->pool;
    ctx->pool = NULL;
    if (pool == NULL)
        return;
    for (size_t i = 0; i < AZR_MAX_NODES; i++) {
        azr_pool_slot *s = atomic_load(&pool->slots[i]);
        if (s == NULL)
            continue;
        slot_close_idle(ctx, s);
        pthread_mutex_destroy(&s->lock);
        free(s);
    }
    free(pool);
}

void azr__pool_drain(azr_ctx *ctx, size_t index)
{
    struct azr_pool *pool = __atomic_load_n(&ctx->pool, __ATOMIC_ACQUIRE);
    if (pool == NULL || index >= AZR_MAX_NODES)
        return;
    azr_pool_slot *s = atomic_load_explicit(&pool->slots[index],
                                            memory_order_acquire);
    if (s != NULL)
        slot_close_idle(ctx, s);
}

/* The context's pool, created by the first thread that needs it (lock-free
 * publication: a thread that loses the race frees its copy). */
static struct azr_pool *pool_get(azr_ctx *ctx)
{
    struct azr_pool *pool = __atomic_load_n(&ctx->pool, __ATOMIC_ACQUIRE);
    if (pool != NULL)
        return pool;
    pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return NULL;
    struct azr_pool *expected = NULL;
    if (!__atomic_compare_exchange_n(&ctx->pool, &expected, pool, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        free(pool);
        return expected;
    }
    return pool;
}

/* Node `node`'s slot, made if `create` (same lock-free publication). */
static azr_pool_slot *slot_get(struct azr_pool *pool, size_t node,
                               int create)
{
    azr_pool_slot *s = atomic_load_explicit(&pool->slots[node],
                                            memory_order_acquire);
    if (s != NULL || !create)
        return s;
    s = aligned_alloc(AZR_CACHE_LINE, sizeof *s);
    if (s == NULL)
        return NULL;
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    azr_pool_slot *expected = NULL;
    if (!atomic_compare_exchange_strong_explicit(&pool->slots[node],
                                                 &expected, s,
                                                 memory_order_acq_rel,
                                                 memory_order_acquire)) {
        pthread_mutex_destroy(&s->lock);
        free(s);
        return expected;
    }
    return s;
}

static azr_conn *pool_take(azr_ctx *ctx, size_t node)
{
    struct azr_pool *pool = __atomic_load_n(&ctx->pool, __ATOMIC_ACQUIRE);
    azr_pool_slot *s = pool != NULL ? slot_get(pool, node, 0) : NULL;
    if (s == NULL)
        return NULL;
    azr_conn *c = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->n_idle > 0)
        c = s->idle[--s->n_idle];
    pthread_mutex_unlock(&s->lock);
    return c;
}

/* Returns 1 if the pool kept the connection. */
static int pool_put(azr_conn *c)
{
    struct azr_pool *pool = pool_get(c->ctx);
    azr_pool_slot *s = pool != NULL ? slot_get(pool, c->node, 1) : NULL;
    if (s == NULL)
        return 0;
    int kept = 0;
    pthread_mutex_lock(&s->lock);
    if (s->n_idle < AZR_POOL_IDLE_MAX) {
        s->idle[s->n_idle++] = c;
        kept = 1;
    }
    pthread_mutex_unlock(&s->lock);
    return kept;
}

/* ---- outcomes and errors ---- */

/* The status reported for a transport/connection azr_code. */
static azr_status status_from_code(azr_code code)
{
    switch (code) {
    case AZR_OK:
        return AZR_STATUS_OK;
    case AZR_E_TIMEOUT:
        return AZR_STATUS_TIMEOUT;
    case AZR_E_CONNECT:
        return AZR_STATUS_REFUSED;
    case AZR_E_TLS:
        return AZR_STATUS_TLS_FAILURE;
    case AZR_E_SERVER_REPLY:
    case AZR_E_AUTH:
        return AZR_STATUS_ERROR_REPLY;
    default:
        return AZR_STATUS_IO_ERROR;
    }
}

/* Turns a transport return into an azr_code, and makes sure the status
 * reported for a failure is a failure the plugin actually set. */
static azr_code transport_code(int rc, azr_transport_result *res)
{
    azr_code code = azr__code_from_plugin(rc);
    if (code == AZR_OK)
        return AZR_OK;
    if (res->status == AZR_STATUS_OK ||
        (unsigned)res->status > AZR_STATUS_IO_ERROR)
        res->status = status_from_code(code);
    return code;
}

/* errbuf = "node ID (host:port): <plugin message>". */
static azr_code node_error(const azr_ctx *ctx, size_t node, azr_code code,
                           char *errbuf)
{
    const char *msg = azr__plugin_error_message();
    return azr__set_err(errbuf, code, "node %s: %s",
                        azr__node_id((azr_ctx *)ctx, node),
                        msg[0] != '\0' ? msg : azr_strerror(code));
}

/* The error of a request on a context without a transport plugin. */
azr_code azr__no_transport(char *errbuf)
{
    return azr__set_err(errbuf, AZR_E_NO_TRANSPORT, "no transport "
                        "configured ([azroute] transport = resp_tls)");
}

/* ---- connections ---- */

/* Cluster mode: READONLY on every new connection, so that a replica
 * serves reads of its shard's slots instead of redirecting them (a
 * primary accepts it and is unaffected; a node's role may change while
 * the connection waits in the pool). A refusal closes the connection;
 * `why` gets the server's answer (one line, cut). */
static azr_code send_readonly(azr_ctx *ctx, size_t node, void *tconn,
                              azr_transport_result *res, char *why,
                              size_t whylen)
{
    static const char *const argv[] = { "READONLY" };
    const azr_command cmd = { .argc = 1, .argv = argv };
    azr_reply *reply = NULL;
    azr_transport_result r2 = { .struct_size = sizeof r2 };
    int rc = transport_ops(ctx)->command(tconn, &cmd, &reply, &r2);
    azr__counters_bytes(ctx->counters, node, r2.bytes_sent,
                        r2.bytes_received);
    azr_code code = transport_code(rc, &r2);
    why[0] = '\0';
    if (code == AZR_OK && (reply == NULL || reply->type != AZR_REPLY_STATUS)) {
        code = AZR_E_SERVER_REPLY;
        r2.status = AZR_STATUS_ERROR_REPLY;
        snprintf(why, whylen, "READONLY refused: %.120s",
                 reply != NULL && reply->str != NULL ? reply->str
                                                     : "not a status reply");
        for (char *p = why; *p != '\0'; p++)
            if ((unsigned char)*p < 0x20)
                *p = ' ';
    }
    azr_reply_free(reply);
    if (code != AZR_OK) {
        res->status = r2.status;
        transport_ops(ctx)->close(tconn);
    }
    return code;
}

azr_code azr__conn_get(azr_ctx *ctx, size_t node, unsigned attempt,
                         azr_conn **connp, char *errbuf)
{
    azr_conn *c = pool_take(ctx, node);
    if (c != NULL) {
        c->attempt = attempt;
        c->pick_pending = 0;
        *connp = c;
        return AZR_OK;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");

    azr_transport_result res = { .struct_size = sizeof res };
    azr__plugin_error_reset();
    int rc = transport_ops(ctx)->connect(ctx->transport->state,
                                         &ctx->entries[node]->view, &c->tconn,
                                         &res);
    azr__counters_bytes(ctx->counters, node, res.bytes_sent,
                        res.bytes_received);
    azr_code code = transport_code(rc, &res);
    char why[160] = "";
    if (code == AZR_OK && ctx->moved != NULL)
        code = send_readonly(ctx, node, c->tconn, &res, why, sizeof why);
    if (code != AZR_OK) {
        free(c);
        azr__chain_observe(ctx, node, 0, res.status, attempt);
        if (why[0] != '\0')
            return azr__set_err(errbuf, code, "node %s: %s",
                                azr__node_id(ctx, node), why);
        return node_error(ctx, node, code, errbuf);
    }
    c->ctx = ctx;
    c->node = node;
    c->attempt = attempt;
    *connp = c;
    return AZR_OK;
}

int azr__intent_valid(azr_intent intent)
{
    return intent == AZR_INTENT_READ || intent == AZR_INTENT_WRITE;
}

int azr__command_valid(const azr_command *cmd)
{
    if (cmd == NULL || cmd->argc == 0 || cmd->argv == NULL)
        return 0;
    for (size_t i = 0; i < cmd->argc; i++)
        if (cmd->argv[i] == NULL)
            return 0;
    return 1;
}

AZR_EXTERN azr_code azr_connect(azr_ctx *ctx, azr_intent intent,
                                azr_conn **connp,
                                char errbuf[AZR_ERRBUF_SIZE])
{
    if (errbuf != NULL)
        errbuf[0] = '\0';
    if (ctx == NULL || connp == NULL || !azr__intent_valid(intent))
        return azr__set_err(errbuf, AZR_E_INVALID_ARGUMENT,
                            "azr_connect: invalid argument");
    *connp = NULL;
    if (ctx->transport == NULL)
        return azr__no_transport(errbuf);

    azr_route r;
    azr__route_init(ctx, &r);
    size_t node;
    azr_code rc;
    while ((rc = azr__route_next(ctx, intent, &r, &node, errbuf)) == AZR_OK) {
        rc = azr__conn_get(ctx, node, (unsigned)r.n_tried, connp, errbuf);
        if (rc == AZR_OK) {
            (*connp)->pick_pending = 1;
            if (errbuf != NULL)
                errbuf[0] = '\0';
            return AZR_OK;
        }
        if (rc == AZR_E_NOMEM || rc == AZR_E_PLUGIN)
            return rc;
        azr__route_failed(ctx, &r, node, rc, errbuf);
    }
    return rc;
}

AZR_EXTERN azr_code azr_connect_node(azr_ctx *ctx, size_t node_index,
                                     azr_conn **connp,
                                     char errbuf[AZR_ERRBUF_SIZE])
{
    if (errbuf != NULL)
        errbuf[0] = '\0';
    if (ctx == NULL || connp == NULL)
        return azr__set_err(errbuf, AZR_E_INVALID_ARGUMENT,
                            "azr_connect_node: invalid argument");
    *connp = NULL;
    size_t n_nodes = azr_node_count(ctx);
    if (node_index >= n_nodes)
        return azr__set_err(errbuf, AZR_E_NOT_FOUND, "no node with index "
                            "%zu (the table has %zu)", node_index, n_nodes);
    if (ctx->transport == NULL)
        return azr__no_transport(errbuf);
    return azr__conn_get(ctx, node_index, 0, connp, errbuf);
}

AZR_EXTERN size_t azr_conn_node(const azr_conn *conn)
{
    return conn != NULL ? conn->node : (size_t)-1;
}

int azr__reply_is_error(const azr_reply *r)
{
    return r != NULL &&
           (r->type == AZR_REPLY_ERROR || r->type == AZR_REPLY_BLOB_ERROR);
}

/* A write refused because its node is no longer the primary: it was not
 * applied, so it may go to the new primary. */
int azr__reply_is_readonly(const azr_reply *r)
{
    return azr__reply_is_error(r) && r->str != NULL &&
           (strncmp(r->str, "READONLY", 8) == 0 ||
            strncmp(r->str, "MASTERDOWN", 10) == 0);
}

/* The transport's pipeline_timed, or NULL when it has none (ABI 1.0). */
static int (*timed_op(const azr_transport_ops *ops))(void *, size_t,
                                                    const azr_command *,
                                                    azr_reply **, unsigned,
                                                    azr_transport_result *)
{
    if (ops->struct_size < offsetof(azr_transport_ops, pipeline_timed) +
                               sizeof ops->pipeline_timed)
        return NULL;
    return ops->pipeline_timed;
}


/* Runs n commands on the connection, measures and reports the outcome
 * (see AZR_EXEC_BLOCKING for what a blocking run reports). */
/* The accounting of a run that the transport ended with `rc`: bytes,
 * the outcome reported (rtt_ns measured by the caller), what the
 * commands did to the connection, and the azr_code. */
static azr_code run_finish(azr_conn *c, size_t n, const azr_command *cmds,
                           azr_reply **replies, const run_opts *opts, int rc,
                           azr_transport_result *res, uint64_t rtt_ns,
                           char *errbuf)
{
    azr_ctx *ctx = c->ctx;
    azr__counters_bytes(ctx->counters, c->node, res->bytes_sent,
                        res->bytes_received);
    azr_code code = transport_code(rc, res);
    int blocking = (opts->flags & AZR_EXEC_BLOCKING) != 0;
    if (code != AZR_OK) {
        c->broken = 1;
        for (size_t i = 0; i < n; i++)
            replies[i] = NULL;
        /* A blocking command that ran out of its caller's time says
         * nothing about the node. */
        azr__chain_observe(ctx, c->node, 0,
                           blocking && res->status == AZR_STATUS_TIMEOUT
                               ? AZR_STATUS_CANCELLED : res->status,
                           c->attempt);
        return node_error(ctx, c->node, code, errbuf);
    }
    azr_status status = AZR_STATUS_OK;
    for (size_t i = 0; i < n; i++) {
        if (azr__reply_is_error(replies[i]))
            status = AZR_STATUS_ERROR_REPLY;
        /* A replica that sends a read to its own primary has lost
         * READONLY (the transport reopened the connection): closed
         * instead of pooled, the next one sends READONLY again. */
        if (ctx->moved != NULL && azr__moved_home(ctx, c->node, replies[i]))
            c->discard = 1;
        /* A former primary: whoever runs the command, the table is stale
         * (azr_exec also retries it on the new primary). */
        if (azr__reply_is_readonly(replies[i]))
            azr__topology_kick(ctx, "a write was refused with READONLY");
        azr__conn_state_apply(&c->state, azr__command_effect(&cmds[i]));
    }
    /* A held reply's round-trip is the caller's wait, not latency. */
    if (blocking)
        azr__chain_observe(ctx, c->node, 0, AZR_STATUS_CANCELLED, c->attempt);
    else
        azr__chain_observe(ctx, c->node, rtt_ns, status, c->attempt);
    if (errbuf != NULL)
        errbuf[0] = '\0';
    return AZR_OK;
}

azr_code azr__conn_run(azr_conn *c, size_t n, const azr_command *cmds,
                         azr_reply **replies, const run_opts *opts,
                         char *errbuf)
{
    azr_ctx *ctx = c->ctx;
    const azr_transport_ops *ops = transport_ops(ctx);
    if (c->broken)
        return azr__set_err(errbuf, AZR_E_IO, "node %s: the connection "
                            "failed earlier; close it",
                            azr__node_id(ctx, c->node));
    if (opts->timeout_ms > 0 && timed_op(ops) == NULL)
        return azr__set_err(errbuf, AZR_E_UNSUPPORTED, "transport '%s' "
                            "cannot apply a per-call timeout (it predates "
                            "plugin ABI 1.1)", ctx->transport->desc->name);

    azr_transport_result res = { .struct_size = sizeof res };
    azr__plugin_error_reset();
    c->pick_pending = 0; /* this run reports the outcome */
    uint64_t t0 = azr__ctx_now_ns(ctx);
    int rc;
    if (opts->timeout_ms > 0)
        rc = timed_op(ops)(c->tconn, n, cmds, replies, opts->timeout_ms,
                           &res);
    else if (n == 1)
        rc = ops->command(c->tconn, &cmds[0], &replies[0], &res);
    else if (ops->pipeline != NULL)
        rc = ops->pipeline(c->tconn, n, cmds, replies, &res);
    else {
        /* A transport without pipelining: one command after another. */
        rc = 0;
        uint64_t sent = 0, received = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            rc = ops->command(c->tconn, &cmds[i], &replies[i], &res);
            sent += res.bytes_sent;
            received += res.bytes_received;
            res.bytes_sent = res.bytes_received = 0;
            if (rc != 0)
                for (size_t k = 0; k < i; k++) {
                    azr_reply_free(replies[k]);
                    replies[k] = NULL;
                }
        }
        res.bytes_sent = sent;
        res.bytes_received = received;
    }
    uint64_t t1 = azr__ctx_now_ns(ctx);
    return run_finish(c, n, cmds, replies, opts, rc, &res, t1 > t0 ? t1 - t0
                                                                   : 0,
                      errbuf);
}

azr_code azr__conn_send(azr_conn *c, size_t n, const azr_command *cmds,
                        char *errbuf)
{
    azr_ctx *ctx = c->ctx;
    if (c->broken)
        return azr__set_err(errbuf, AZR_E_IO, "node %s: the connection "
                            "failed earlier; close it",
                            azr__node_id(ctx, c->node));
    azr_transport_result res = { .struct_size = sizeof res };
    azr__plugin_error_reset();
    c->pick_pending = 0; /* the receive (or this failure) reports */
    c->sent_at = azr__ctx_now_ns(ctx);
    int rc = transport_ops(ctx)->pipeline_send(c->tconn, n, cmds, &res);
    azr__counters_bytes(ctx->counters, c->node, res.bytes_sent,
                        res.bytes_received);
    azr_code code = transport_code(rc, &res);
    if (code == AZR_OK)
        return AZR_OK;
    c->broken = 1;
    azr__chain_observe(ctx, c->node, 0, res.status, c->attempt);
    return node_error(ctx, c->node, code, errbuf);
}

azr_code azr__conn_receive(azr_conn *c, size_t n, const azr_command *cmds,
                           azr_reply **replies, const run_opts *opts,
                           char *errbuf)
{
    azr_ctx *ctx = c->ctx;
    azr_transport_result res = { .struct_size = sizeof res };
    azr__plugin_error_reset();
    int rc = transport_ops(ctx)->pipeline_receive(c->tconn, n, replies,
                                                  opts->timeout_ms, &res);
    uint64_t t1 = azr__ctx_now_ns(ctx);
    return run_finish(c, n, cmds, replies, opts, rc, &res,
                      t1 > c->sent_at ? t1 - c->sent_at : 0, errbuf);
}

int azr__conn_can_split(const azr_ctx *ctx)
{
    const azr_transport_ops *ops = transport_ops(ctx);
    return ops->struct_size >= offsetof(azr_transport_ops,
                                        pipeline_receive) +
                                   sizeof ops->pipeline_receive &&
           ops->pipeline_send != NULL && ops->pipeline_receive != NULL;
}

AZR_EXTERN azr_code azr_conn_command(azr_conn *conn, const azr_command *cmd,
                                     azr_reply **reply,
                                     char errbuf[AZR_ERRBUF_SIZE])
{
    if (reply != NULL)
        *reply = NULL;
    if (conn == NULL || reply == NULL || !azr__command_valid(cmd))
        return azr__set_err(errbuf, AZR_E_INVALID_ARGUMENT,
                            "azr_conn_command: invalid argument (a NULL "
                            "handle or an empty command)");
    const run_opts defaults = { 0 };
    return azr__conn_run(conn, 1, cmd, reply, &defaults, errbuf);
}

AZR_EXTERN azr_code azr_conn_pipeline(azr_conn *conn, size_t n,
                                      const azr_command *cmds,
                                      azr_reply **replies,
                                      char errbuf[AZR_ERRBUF_SIZE])
{
    if (conn == NULL || (n > 0 && (cmds == NULL || replies == NULL)))
        return azr__set_err(errbuf, AZR_E_INVALID_ARGUMENT,
                            "azr_conn_pipeline: invalid argument");
    for (size_t i = 0; i < n; i++) {
        replies[i] = NULL;
        if (!azr__command_valid(&cmds[i]))
            return azr__set_err(errbuf, AZR_E_INVALID_ARGUMENT,
                                "azr_conn_pipeline: command %zu is empty",
                                i);
    }
    if (n == 0) {
        if (errbuf != NULL)
            errbuf[0] = '\0';
        return AZR_OK;
    }
    const run_opts defaults = { 0 };
    return azr__conn_run(conn, n, cmds, replies, &defaults, errbuf);
}

AZR_EXTERN void azr_conn_close(azr_conn *conn)
{
    if (conn == NULL)
        return;
    if (conn->pick_pending) {
        conn->pick_pending = 0;
        azr__chain_observe(conn->ctx, conn->node, 0, AZR_STATUS_CANCELLED,
                           conn->attempt);
    }
    if (!conn->broken && !conn->discard &&
        azr__conn_state_clean(&conn->state) && pool_put(conn))
        return;
    transport_ops(conn->ctx)->close(conn->tconn);
    free(conn);
}

