/*
 * plugin.c - the resp_tls descriptor: RESP2/RESP3 over TCP and TLS.
 *
 * Built against <azroute/plugin.h> only (plus OpenSSL), exactly like a
 * third-party transport: it links no libazroute and carries no RESP code
 * of its own; replies are parsed and commands encoded by the host's RESP
 * services (host->resp, plugin ABI 1.1), which create() requires.
 * See options.c for the [transport resp_tls] keys.
 */
#include <stddef.h>
#include <stdlib.h>

#include <openssl/ssl.h>

#include "resp_tls.h"

static void rtls_destroy(void *state)
{
    rtls_state *st = state;
    if (st == NULL)
        return;
    SSL_CTX_free(st->ssl_ctx);
    rtls_options_free(&st->cfg);
    free(st);
}

/* The host's RESP services, or NULL (after recording why) when the host
 * predates them or offers fewer functions than this plugin calls. */
static const azr_resp_services *host_resp(azr_plugin_env *env,
                                          const azr_host_services *host)
{
    const azr_resp_services *resp =
        AZR_HOST_HAS(host, resp) ? host->resp : NULL;
    if (resp == NULL ||
        resp->struct_size < offsetof(azr_resp_services, reply_free) +
                                sizeof resp->reply_free) {
        host->error(env, AZR_E_PLUGIN, NULL, "this host (plugin ABI %u.%u) "
                    "offers no RESP reader and encoder to transports; "
                    "resp_tls needs plugin ABI 1.1 or later",
                    host->abi_major, host->abi_minor);
        return NULL;
    }
    return resp;
}

static int rtls_create(azr_plugin_env *env, const azr_host_services *host,
                       void **state)
{
    const azr_resp_services *resp = host_resp(env, host);
    if (resp == NULL)
        return AZR_E_PLUGIN;
    rtls_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return host->error(env, AZR_E_NOMEM, NULL, "out of memory");
    st->env = env;
    st->host = host;
    st->resp = resp;
    int rc = rtls_options_read(st);
    if (rc == 0 && st->cfg.tls)
        rc = rtls_tls_context_new(st);
    if (rc != 0) {
        rtls_destroy(st);
        return rc;
    }
    *state = st;
    return 0;
}

static int rtls_connect(void *state, const azr_node_view *node, void **conn,
                        azr_transport_result *res)
{
    rtls_conn *c = NULL;
    int rc = rtls_session_connect(state, node, &c, res);
    if (rc == 0)
        *conn = c;
    return rc;
}

static int rtls_pipeline(void *conn, size_t n, const azr_command *cmds,
                         azr_reply **replies, azr_transport_result *res)
{
    return rtls_session_pipeline(conn, n, cmds, replies, 0, res);
}

static int rtls_pipeline_timed(void *conn, size_t n, const azr_command *cmds,
                               azr_reply **replies, unsigned timeout_ms,
                               azr_transport_result *res)
{
    return rtls_session_pipeline(conn, n, cmds, replies, timeout_ms, res);
}

static int rtls_command(void *conn, const azr_command *cmd,
                        azr_reply **reply, azr_transport_result *res)
{
    return rtls_session_pipeline(conn, 1, cmd, reply, 0, res);
}

static int rtls_send(void *conn, size_t n, const azr_command *cmds,
                     azr_transport_result *res)
{
    return rtls_session_send(conn, n, cmds, res);
}

static int rtls_receive(void *conn, size_t n, azr_reply **replies,
                        unsigned timeout_ms, azr_transport_result *res)
{
    return rtls_session_receive(conn, n, replies, timeout_ms, res);
}

static void rtls_close(void *conn)
{
    rtls_session_close(conn);
}

static const azr_transport_ops rtls_ops = {
    .struct_size = sizeof(azr_transport_ops),
    .create = rtls_create,
    .destroy = rtls_destroy,
    .connect = rtls_connect,
    .command = rtls_command,
    .pipeline = rtls_pipeline,
    .close = rtls_close,
    .pipeline_timed = rtls_pipeline_timed,
    .pipeline_send = rtls_send,
    .pipeline_receive = rtls_receive,
};

AZR_PLUGIN_DECLARE = {
    .struct_size = sizeof(azr_plugin),
    .abi_major = AZR_PLUGIN_ABI_MAJOR,
    .abi_minor = AZR_PLUGIN_ABI_MINOR,
    .kind = AZR_PLUGIN_TRANSPORT,
    .name = "resp_tls",
    .version = "0.1.0",
    .description = "RESP2/RESP3 over TCP with TLS (OpenSSL)",
    .init = rtls_tls_global_init,
    .fini = rtls_tls_global_fini,
    .transport = &rtls_ops,
};
