/*
 * discover.c - asks a replication group's servers who they are (see
 * discover.h); discover_parse.c reads their answers.
 *
 * Every server gets one pipeline, ROLE and INFO server, on a connection of
 * its own that is closed right after: discovery runs on the refresh
 * thread, rarely, and must not borrow connections requests are using.
 */
#include <string.h>

#include "discover.h"

/* A view for a server that is not (yet) in the table: the transport
 * connects to host:port and verifies tls_name (host.c reads it back
 * through AZR_DISCOVERY_INDEX). */
/* The view's strings are copies in `names` (two AZR_DISC_HOST_MAX
 * buffers): parsing the answers may move found[] while the transport
 * still holds the view. */
static void temp_entry(azr_node_entry *e, const azr_found *f,
                       char names[2][AZR_DISC_HOST_MAX])
{
    memcpy(names[0], f->host, AZR_DISC_HOST_MAX);
    memcpy(names[1], f->tls_name, AZR_DISC_HOST_MAX);
    memset(e, 0, sizeof *e);
    e->view.struct_size = sizeof e->view;
    e->view.index = AZR_DISCOVERY_INDEX;
    e->view.id = names[0];
    e->view.host = names[0];
    e->view.port = (uint16_t)f->port;
    e->view.role = AZR_ROLE_REPLICA;
    e->view.weight = 1;
    e->view.az_id = "";
    e->tls_name = names[1];
}

azr_code azr__discovery_ask(azr_ctx *ctx, const azr_found *f, size_t n,
                            const azr_command *cmds, azr_reply **replies,
                            char *errbuf)
{
    const azr_transport_ops *ops = ctx->transport->desc->transport;
    azr_node_entry e;
    char names[2][AZR_DISC_HOST_MAX];
    temp_entry(&e, f, names);
    for (size_t k = 0; k < n; k++)
        replies[k] = NULL;
    azr_transport_result res = { .struct_size = sizeof res };
    void *conn = NULL;
    azr__plugin_error_reset();
    if (ops->connect(ctx->transport->state, &e.view, &conn, &res) != 0) {
        azr__log(ctx, AZR_LOG_INFO, "topology: %s:%u not reachable: %s",
                 f->host, f->port, azr__plugin_error_message());
        return AZR_E_CONNECT;
    }
    int rc = 0;
    if (ops->pipeline != NULL && n > 1)
        rc = ops->pipeline(conn, n, cmds, replies, &res);
    else
        for (size_t k = 0; k < n && rc == 0; k++)
            rc = ops->command(conn, &cmds[k], &replies[k], &res);
    azr_code code = AZR_OK;
    if (rc != 0 && azr__code_from_plugin(rc) == AZR_E_PROTOCOL) {
        code = azr__set_err(errbuf, AZR_E_PROTOCOL, "%s:%u: %s failed: %s",
                            f->host, f->port, cmds[0].argv[0],
                            azr__plugin_error_message());
    } else if (rc != 0) {
        /* timed out or dropped: as good as unreachable */
        azr__log(ctx, AZR_LOG_INFO, "topology: %s:%u did not answer: %s",
                 f->host, f->port, azr__plugin_error_message());
        code = AZR_E_CONNECT;
    }
    if (code != AZR_OK)
        for (size_t k = 0; k < n; k++) {
            azr_reply_free(replies[k]);
            replies[k] = NULL;
        }
    ops->close(conn);
    return code;
}

/* Asks found[i] for ROLE and INFO server. A server that cannot be reached
 * is left unanswered (not an error: it may be the primary that failed);
 * one that answers nonsense is an error. */
static azr_code query(azr_ctx *ctx, azr_discovery *d, size_t i,
                      char *errbuf)
{
    static const char *const role_argv[] = { "ROLE" };
    static const char *const info_argv[] = { "INFO", "server" };
    const azr_command cmds[2] = {
        { .argc = 1, .argv = role_argv },
        { .argc = 2, .argv = info_argv },
    };
    azr_reply *replies[2];
    azr_code code = azr__discovery_ask(ctx, &d->found[i], 2, cmds, replies,
                                       errbuf);
    if (code == AZR_E_CONNECT)
        return AZR_OK;
    if (code == AZR_OK)
        code = azr__discovery_parse(d, i, replies[0], replies[1], errbuf);
    azr_reply_free(replies[0]);
    azr_reply_free(replies[1]);
    return code;
}

azr_code azr__discover_replication(azr_ctx *ctx, const azr_seed *seeds,
                                   size_t n_seeds, azr_discovery *out,
                                   char *errbuf)
{
    memset(out, 0, sizeof *out);
    out->primary = SIZE_MAX;
    for (size_t i = 0; i < n_seeds; i++)
        if (azr__discovery_add(out, seeds[i].host, seeds[i].port,
                               seeds[i].tls_name != NULL
                                   ? seeds[i].tls_name
                                   : seeds[i].host) == NULL) {
            azr__discovery_free(out);
            return azr__set_err(errbuf, AZR_E_NOMEM, "more than %d seeds "
                                "and nodes, or out of memory",
                                AZR_MAX_NODES);
        }
    /* Breadth first: found[] grows as servers name others. */
    azr_code rc = AZR_OK;
    for (size_t i = 0; i < out->n_found && rc == AZR_OK; i++)
        rc = query(ctx, out, i, errbuf);
    if (rc != AZR_OK) {
        azr__discovery_free(out);
        return rc;
    }
    size_t answered = 0;
    for (size_t i = 0; i < out->n_found; i++)
        answered += out->found[i].answered;
    if (answered == 0) {
        azr__set_err(errbuf, AZR_E_CONNECT, "topology: no server answered "
                     "(%zu tried, from %s:%u; see the log at INFO)",
                     out->n_found, seeds[0].host, seeds[0].port);
        azr__discovery_free(out);
        return AZR_E_CONNECT;
    }
    azr__discovery_decide(out);
    return AZR_OK;
}

