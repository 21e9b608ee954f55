/*
 * context.c - azr_open/azr_close and the read-only queries on a context:
 * node table, plugins, the caller's AZ.
 *
 * Opening is the only place that allocates: it loads the configuration,
 * builds the node table, learns the AZ ID, then loads and instantiates the
 * plugins. Everything the hot path touches is immutable afterwards except
 * the atomics it is designed around.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "../metadata/metadata.h"

#ifndef AZR_DEFAULT_PLUGINDIR
#define AZR_DEFAULT_PLUGINDIR "/usr/local/lib/azroute"
#endif

/* Reads a field of the caller's options only if its struct has it. */
#define OPT_HAS(opts, field) \
    ((opts) != NULL && (opts)->struct_size >= offsetof(azr_open_options, \
                                                       field) + \
                                                  sizeof((opts)->field))

static void apply_options(azr_ctx *ctx, const azr_open_options *o)
{
    ctx->log_level = AZR_LOG_WARNING;
    if (OPT_HAS(o, log) && o->log != NULL) {
        ctx->log = o->log;
        ctx->log_userdata = OPT_HAS(o, log_userdata) ? o->log_userdata : NULL;
    }
    if (OPT_HAS(o, log_level) && o->log_level != AZR_LOG_DEFAULT)
        ctx->log_level = o->log_level;
    if (OPT_HAS(o, clock))
        ctx->clock = o->clock;
    if (OPT_HAS(o, random))
        ctx->random = o->random;
    if (OPT_HAS(o, source_userdata))
        ctx->source_userdata = o->source_userdata;
    if (OPT_HAS(o, push))
        ctx->push = o->push;
    if (OPT_HAS(o, push_userdata))
        ctx->push_userdata = o->push_userdata;
}

/* The views plugins see, one per cache line from a line boundary (the
 * size is then a multiple of the alignment, as aligned_alloc requires:
 * internal.h), and the live counters. */
static azr_code build_node_table(azr_ctx *ctx, char *errbuf)
{
    const azr_config *cfg = ctx->cfg;
    size_t n = cfg->n_nodes;
    ctx->views = aligned_alloc(AZR_CACHE_LINE, n * sizeof *ctx->views);
    ctx->view_ptrs = calloc(n, sizeof *ctx->view_ptrs);
    ctx->counters = azr__counters_new(n);
    if (ctx->views == NULL || ctx->view_ptrs == NULL || ctx->counters == NULL)
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    memset(ctx->views, 0, n * sizeof *ctx->views);
    for (size_t i = 0; i < n; i++) {
        const azr_cfg_node *cn = &cfg->nodes[i];
        azr_node_view *v = &ctx->views[i];
        v->struct_size = sizeof *v;
        v->index = i;
        v->id = cn->id;
        v->host = cn->host;
        v->port = (uint16_t)cn->port;
        v->role = cn->role;
        v->weight = cn->weight;
        v->priority = cn->priority;
        v->az_id = cn->az_id;
        v->az_name = cn->az_name;
        atomic_init(&v->same_az, 0);
        ctx->view_ptrs[i] = v;
    }
    ctx->n_nodes = n;
    return AZR_OK;
}

/* Publishes a newly learned AZ: the string the pick path reads, and each
 * node's same_az flag. Called with az_lock held (or before any sharing). */
static void publish_az(azr_ctx *ctx, const azr_az_info *info)
{
    const char *az = NULL;
    if (info->known) {
        size_t len = strlen(info->az_id);
        azr_retired *r = malloc(sizeof *r + len + 1);
        if (r != NULL) {
            memcpy(r->text, info->az_id, len + 1);
            r->next = ctx->retired;
            ctx->retired = r;
            az = r->text;
        }
    }
    for (size_t i = 0; i < ctx->n_nodes; i++) {
        int same = az != NULL && strcmp(ctx->views[i].az_id, az) == 0;
        atomic_store_explicit(&ctx->views[i].same_az, (unsigned char)same,
                              memory_order_relaxed);
    }
    atomic_store_explicit(&ctx->caller_az, az, memory_order_release);
    ctx->az_info = *info;
}

static azr_code learn_az(azr_ctx *ctx)
{
    azr_az_info info;
    memset(&info, 0, sizeof info);
    const azr_md_request req = {
        .cfg = ctx->cfg,
        .override_az_id = ctx->override_az_id,
    };
    azr__md_resolve(&req, &info);
    publish_az(ctx, &info);
    if (!info.known && info.error != AZR_OK)
        azr__log(ctx, AZR_LOG_WARNING, "AZ ID unknown, routing without AZ "
                 "affinity: %s", info.reason);
    return info.known || info.error == AZR_OK ? AZR_OK : info.error;
}

/* The directory plain plugin names resolve in, or NULL (errbuf set) when
 * the one given is not absolute: a relative directory would load code from
 * wherever the process happens to run. */
static const char *choose_plugin_dir(const azr_open_options *o,
                                     const azr_config *cfg, char *errbuf)
{
    const char *dir = AZR_DEFAULT_PLUGINDIR, *what = NULL;
    /* secure_getenv: a set-uid program must not load code named by its
     * caller's environment. */
    const char *env = secure_getenv("AZROUTE_PLUGIN_DIR");
    if (OPT_HAS(o, plugin_dir) && o->plugin_dir != NULL) {
        dir = o->plugin_dir;
        what = "azr_open_options.plugin_dir";
    } else if (env != NULL && env[0] != '\0') {
        dir = env;
        what = "AZROUTE_PLUGIN_DIR";
    } else if (cfg->plugin_dir != NULL) {
        dir = cfg->plugin_dir; /* checked absolute by the loader */
    }
    if (dir[0] != '/') {
        azr__set_err(errbuf, AZR_E_CONFIG, "%s '%s' is not an absolute path",
                     what, dir);
        return NULL;
    }
    return dir;
}

/* "FILE:LINE" (or "FILE" when the value was defaulted). */
static void where_of(char *buf, size_t len, const azr_config *cfg,
                     unsigned line)
{
    if (line > 0)
        snprintf(buf, len, "%s:%u", cfg->path, line);
    else
        snprintf(buf, len, "%s", cfg->path);
}

/* Creates the plugin's instance and reports options it never read. */
/* `config_name` is the chain entry as written (a plain name or a path):
 * the plugin's section is found by it, whatever the descriptor's name. */
static azr_code instantiate(azr_ctx *ctx, azr_loaded_plugin *p,
                            azr_cfg_section_kind section_kind,
                            const char *config_name, const char *where,
                            char *errbuf)
{
    const azr_plugin *d = p->desc;
    p->env.ctx = ctx;
    p->env.plugin = p;
    p->env.section = azr__config_section(ctx->cfg, section_kind, config_name);

    azr__plugin_error_reset();
    int rc;
    if (d->kind == AZR_PLUGIN_POLICY)
        rc = d->policy->create(&p->env, &azr__host_services_table,
                               ctx->view_ptrs, ctx->n_nodes, &p->state);
    else
        rc = d->transport->create(&p->env, &azr__host_services_table,
                                  &p->state);
    if (rc != 0) {
        p->state = NULL;
        const char *msg = azr__plugin_error_message();
        azr_code code = azr__code_from_plugin(rc);
        if (azr__plugin_error_located())
            return azr__set_err(errbuf, code, "%s", msg);
        return azr__set_err(errbuf, code, "%s: plugin '%s': %s", where,
                            d->name, msg[0] != '\0' ? msg
                                                    : azr_strerror(code));
    }
    if (p->env.section != NULL) {
        const azr_cfg_plugin_section *s = p->env.section;
        for (size_t i = 0; i < s->n_options; i++)
            if (!s->options[i].read)
                return azr__set_err(errbuf, AZR_E_CONFIG, "%s:%u: unknown "
                                    "key '%s' in [%s %s]", ctx->cfg->path,
                                    s->options[i].line, s->options[i].key,
                                    section_kind == AZR_CFG_POLICY
                                        ? "policy" : "transport",
                                    s->name);
    }
    return AZR_OK;
}

static azr_code load_plugins(azr_ctx *ctx, const azr_open_options *o,
                             char *errbuf)
{
    const azr_config *cfg = ctx->cfg;
    size_t total = cfg->n_policy + (cfg->transport != NULL ? 1 : 0);
    ctx->plugins = calloc(total > 0 ? total : 1, sizeof *ctx->plugins);
    ctx->chain = calloc(cfg->n_policy > 0 ? cfg->n_policy : 1,
                        sizeof *ctx->chain);
    if (ctx->plugins == NULL || ctx->chain == NULL)
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    const char *dir = choose_plugin_dir(o, cfg, errbuf);
    if (dir == NULL)
        return AZR_E_CONFIG;
    if ((ctx->plugin_dir = strdup(dir)) == NULL)
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");

    char where[AZR_ERRBUF_SIZE];
    for (size_t i = 0; i < total; i++) {
        int is_transport = i == cfg->n_policy;
        const char *name = is_transport ? cfg->transport : cfg->policy[i];
        where_of(where, sizeof where, cfg,
                 is_transport ? cfg->transport_line : cfg->policy_line);
        azr_loaded_plugin *p = &ctx->plugins[i];
        azr_code rc = azr__plugin_load(p, name, ctx->plugin_dir,
                                       is_transport ? AZR_PLUGIN_TRANSPORT
                                                    : AZR_PLUGIN_POLICY,
                                       where, errbuf, AZR_ERRBUF_SIZE);
        if (rc != AZR_OK)
            return rc;
        ctx->n_plugins = i + 1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(ctx->plugins[j].desc->name, p->desc->name) == 0)
                return azr__set_err(errbuf, AZR_E_PLUGIN, "%s: plugin '%s' "
                                    "(%s) is already loaded from %s", where,
                                    p->desc->name, p->path,
                                    ctx->plugins[j].path);
        rc = instantiate(ctx, p, is_transport ? AZR_CFG_TRANSPORT
                                              : AZR_CFG_POLICY,
                         name, where, errbuf);
        if (rc != AZR_OK)
            return rc;
        if (is_transport) {
            ctx->transport = p;
        } else {
            p->in_chain = (int)i;
            ctx->chain[i] = (azr_chain_link){
                .pick = p->desc->policy->pick,
                .observe = p->desc->policy->observe,
                .state = p->state,
                .name = p->desc->name,
                .sees_cancelled = p->desc->abi_minor >= 1,
            };
            ctx->n_chain = i + 1;
        }
    }
    return AZR_OK;
}

AZR_EXTERN azr_code azr_open_ex(azr_ctx **ctxp, const char *config_path,
                                const azr_open_options *options,
                                char errbuf[AZR_ERRBUF_SIZE])
{
    if (errbuf != NULL)
        errbuf[0] = '\0';
    if (ctxp == NULL || config_path == NULL ||
        (options != NULL && options->struct_size < sizeof(size_t)))
        return azr__set_err(errbuf, AZR_E_INVALID_ARGUMENT,
                            "azr_open: invalid argument");
    *ctxp = NULL;

    azr_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    pthread_mutex_init(&ctx->az_lock, NULL);
    atomic_init(&ctx->caller_az, NULL);
    apply_options(ctx, options);
    if (OPT_HAS(options, az_id) && options->az_id != NULL &&
        (ctx->override_az_id = strdup(options->az_id)) == NULL) {
        azr_close(ctx);
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    }

    azr_code rc = azr__config_load(config_path, &ctx->cfg, errbuf,
                                   AZR_ERRBUF_SIZE);
    if (rc == AZR_OK)
        rc = build_node_table(ctx, errbuf);
    if (rc == AZR_OK) {
        ctx->max_attempts = ctx->cfg->max_attempts;
        learn_az(ctx);
        rc = load_plugins(ctx, options, errbuf);
    }
    if (rc != AZR_OK) {
        azr_close(ctx);
        return rc;
    }
    *ctxp = ctx;
    return AZR_OK;
}

AZR_EXTERN azr_code azr_open(azr_ctx **ctxp, const char *config_path,
                             char errbuf[AZR_ERRBUF_SIZE])
{
    return azr_open_ex(ctxp, config_path, NULL, errbuf);
}

AZR_EXTERN void azr_close(azr_ctx *ctx)
{
    if (ctx == NULL)
        return;
    if (ctx->pool != NULL)
        azr__pool_free(ctx);
    /* Transport first (connections were just closed), then the chain in
     * reverse order of creation. */
    for (size_t i = ctx->n_plugins; i-- > 0;)
        azr__plugin_unload(&ctx->plugins[i]);
    free(ctx->plugins);
    free(ctx->chain);
    free(ctx->plugin_dir);
    while (ctx->retired != NULL) {
        azr_retired *next = ctx->retired->next;
        free(ctx->retired);
        ctx->retired = next;
    }
    free(ctx->views);
    free(ctx->view_ptrs);
    azr__counters_free(ctx->counters);
    free(ctx->override_az_id);
    azr__config_free(ctx->cfg);
    pthread_mutex_destroy(&ctx->az_lock);
    free(ctx);
}

AZR_EXTERN size_t azr_node_count(const azr_ctx *ctx)
{
    return ctx != NULL ? ctx->n_nodes : 0;
}

AZR_EXTERN azr_code azr_node_get(const azr_ctx *ctx, size_t index,
                                 azr_node_info *info)
{
    if (ctx == NULL || info == NULL)
        return AZR_E_INVALID_ARGUMENT;
    if (index >= ctx->n_nodes)
        return AZR_E_NOT_FOUND;
    const azr_node_view *v = &ctx->views[index];
    *info = (azr_node_info){
        .index = index,
        .id = v->id,
        .host = v->host,
        .port = v->port,
        .az_id = v->az_id,
        .az_name = v->az_name,
        .role = v->role,
        .weight = v->weight,
        .priority = v->priority,
        .same_az = atomic_load_explicit(&v->same_az, memory_order_relaxed),
    };
    return AZR_OK;
}

AZR_EXTERN azr_code azr_node_find(const azr_ctx *ctx, const char *id,
                                  size_t *index)
{
    if (ctx == NULL || id == NULL || index == NULL)
        return AZR_E_INVALID_ARGUMENT;
    for (size_t i = 0; i < ctx->n_nodes; i++)
        if (strcmp(ctx->views[i].id, id) == 0) {
            *index = i;
            return AZR_OK;
        }
    return AZR_E_NOT_FOUND;
}

AZR_EXTERN azr_code azr_node_stats_get(const azr_ctx *ctx, size_t index,
                                       azr_node_stats *stats)
{
    if (ctx == NULL || stats == NULL)
        return AZR_E_INVALID_ARGUMENT;
    if (index >= ctx->n_nodes)
        return AZR_E_NOT_FOUND;
    azr_node_totals t;
    azr__counters_sum(ctx->counters, index, &t);
    stats->requests = t.requests;
    stats->errors = t.errors;
    stats->total_rtt_ns = t.total_rtt_ns;
    stats->picks = t.picks;
    return AZR_OK;
}

AZR_EXTERN size_t azr_plugin_count(const azr_ctx *ctx)
{
    return ctx != NULL ? ctx->n_plugins : 0;
}

AZR_EXTERN azr_code azr_plugin_get(const azr_ctx *ctx, size_t index,
                                   azr_plugin_info *info)
{
    if (ctx == NULL || info == NULL)
        return AZR_E_INVALID_ARGUMENT;
    if (index >= ctx->n_plugins)
        return AZR_E_NOT_FOUND;
    const azr_loaded_plugin *p = &ctx->plugins[index];
    *info = (azr_plugin_info){
        .name = p->desc->name,
        .kind = p->desc->kind == AZR_PLUGIN_POLICY ? "policy" : "transport",
        .abi_major = p->desc->abi_major,
        .abi_minor = p->desc->abi_minor,
        .version = p->desc->version != NULL ? p->desc->version : "",
        .description = p->desc->description != NULL ? p->desc->description
                                                    : "",
        .path = p->path,
        .in_chain = p->in_chain,
    };
    return AZR_OK;
}

AZR_EXTERN azr_code azr_az_info_get(const azr_ctx *ctx, azr_az_info *info)
{
    if (ctx == NULL || info == NULL)
        return AZR_E_INVALID_ARGUMENT;
    azr_ctx *mutable_ctx = (azr_ctx *)ctx; /* the lock only */
    pthread_mutex_lock(&mutable_ctx->az_lock);
    *info = ctx->az_info;
    pthread_mutex_unlock(&mutable_ctx->az_lock);
    return AZR_OK;
}

AZR_EXTERN azr_code azr_refresh_az(azr_ctx *ctx)
{
    if (ctx == NULL)
        return AZR_E_INVALID_ARGUMENT;
    pthread_mutex_lock(&ctx->az_lock);
    azr_code rc = learn_az(ctx);
    pthread_mutex_unlock(&ctx->az_lock);
    return rc;
}
