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

#include "generation.h"
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

/* The table of a static context: the [node] sections as written. */
static azr_code build_static_table(azr_ctx *ctx, char *errbuf)
{
    pthread_mutex_lock(&ctx->gen_lock);
    azr_code rc = azr__gen_build_static(ctx, ctx->cfg_ref, NULL, errbuf);
    pthread_mutex_unlock(&ctx->gen_lock);
    return rc;
}

/* Publishes a newly learned AZ: the string the pick path reads, and each
 * node's same_az flag. Called with az_lock held. */
static void publish_az(azr_ctx *ctx, const azr_az_info *info)
{
    pthread_mutex_lock(&ctx->gen_lock);
    const char *az = info->known ? azr__intern(ctx, info->az_id) : NULL;
    azr_gen *g = atomic_load_explicit(&ctx->gen, memory_order_acquire);
    if (g != NULL)
        azr__gen_mark_same_az(g, az);
    atomic_store_explicit(&ctx->caller_az, az, memory_order_release);
    pthread_mutex_unlock(&ctx->gen_lock);
    ctx->az_info = *info;
}

static azr_code learn_az_locked(azr_ctx *ctx)
{
    azr_az_info info;
    memset(&info, 0, sizeof info);
    /* [metadata] of the configuration in effect (a reload may change it),
     * held by a reference rather than a read section: the fetch may take
     * its whole timeout, and a section would keep retired tables alive. */
    pthread_mutex_lock(&ctx->gen_lock);
    azr_gen *g = atomic_load_explicit(&ctx->gen, memory_order_acquire);
    azr_cfg_ref *ref = g != NULL ? g->cfg : ctx->cfg_ref;
    if (ref != NULL)
        ref->refs++;
    pthread_mutex_unlock(&ctx->gen_lock);
    const azr_md_request req = {
        .cfg = ref != NULL ? ref->cfg : ctx->cfg,
        .override_az_id = ctx->override_az_id,
    };
    azr__md_resolve(&req, &info);
    if (ref != NULL) {
        pthread_mutex_lock(&ctx->gen_lock);
        azr__cfg_ref_drop(ref);
        pthread_mutex_unlock(&ctx->gen_lock);
    }
    publish_az(ctx, &info);
    if (!info.known && info.error != AZR_OK)
        azr__log(ctx, AZR_LOG_WARNING, "AZ ID unknown, routing without AZ "
                 "affinity: %s", info.reason);
    return info.known || info.error == AZR_OK ? AZR_OK : info.error;
}

azr_code azr__learn_az(azr_ctx *ctx)
{
    pthread_mutex_lock(&ctx->az_lock);
    azr_code rc = learn_az_locked(ctx);
    pthread_mutex_unlock(&ctx->az_lock);
    return rc;
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

/* Creates the plugin's instance (a policy for the table `views`) and
 * reports options it never read. `config_name` is the chain entry as
 * written (a plain name or a path): the plugin's section is found by it,
 * whatever the descriptor's name. */
static azr_code instantiate(azr_ctx *ctx, azr_loaded_plugin *p,
                            azr_config *cfg, const char *config_name,
                            const char *where, const azr_gen *g,
                            char *errbuf)
{
    const azr_plugin *d = p->desc;
    azr_cfg_section_kind section_kind = d->kind == AZR_PLUGIN_POLICY
                                            ? AZR_CFG_POLICY
                                            : AZR_CFG_TRANSPORT;
    p->env.ctx = ctx;
    p->env.plugin = p;
    p->env.cfg = cfg;
    p->env.n_nodes = g != NULL ? g->n_nodes : 0;
    p->env.section = azr__config_section(cfg, section_kind, config_name);

    azr__plugin_error_reset();
    int rc;
    if (d->kind == AZR_PLUGIN_POLICY)
        rc = d->policy->create(&p->env, &azr__host_services_table,
                               g->view_ptrs, g->n_nodes, &p->state);
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
                                    "key '%s' in [%s %s]", cfg->path,
                                    s->options[i].line, s->options[i].key,
                                    section_kind == AZR_CFG_POLICY
                                        ? "policy" : "transport",
                                    s->name);
    }
    /* Options are read during create() only; the file may be freed by a
     * reload while the instance lives on. */
    p->env.section = NULL;
    return AZR_OK;
}

/* The policy ops of a plugin, and whether they declare `carry`. */
static int has_carry(const azr_policy_ops *ops)
{
    return ops->struct_size >= offsetof(azr_policy_ops, carry) +
                                   sizeof ops->carry &&
           ops->carry != NULL;
}

/* Hands the new instance what `prev`'s instance of the same plugin knows
 * of the nodes that stay (their indexes are the same: generation.h). */
static void carry_over(azr_loaded_plugin *p, const azr_gen *g,
                       const azr_gen *prev)
{
    const azr_policy_ops *ops = p->desc->policy;
    if (prev == NULL || !has_carry(ops))
        return;
    for (size_t j = 0; j < prev->n_policies; j++) {
        const azr_loaded_plugin *old = &prev->policies[j];
        /* The same descriptor: the same file, loaded once by the
         * dynamic loader (a plugin of the same name from another file may
         * lay its state out differently). */
        if (old->desc != p->desc || old->state == NULL)
            continue;
        size_t *map = malloc(g->n_nodes * sizeof *map);
        if (map == NULL)
            return; /* the instance starts afresh */
        /* A node that is not in the group now starts afresh if it comes
         * back: an ejection carried for a node no request can reach would
         * hold one of failover's ejection places for good. */
        for (size_t i = 0; i < g->n_nodes; i++)
            map[i] = i < prev->n_nodes && g->present[i] ? i : AZR_NODE_NEW;
        ops->carry(p->state, old->state, map, g->n_nodes);
        free(map);
        return;
    }
}

azr_code azr__chain_create(azr_ctx *ctx, azr_gen *g, const azr_gen *prev,
                           char *errbuf)
{
    azr_config *cfg = g->cfg->cfg;
    size_t n = cfg->n_policy;
    g->policies = calloc(n > 0 ? n : 1, sizeof *g->policies);
    g->chain = calloc(n > 0 ? n : 1, sizeof *g->chain);
    if (g->policies == NULL || g->chain == NULL)
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    char where[AZR_ERRBUF_SIZE];
    where_of(where, sizeof where, cfg, cfg->policy_line);
    for (size_t i = 0; i < n; i++) {
        azr_loaded_plugin *p = &g->policies[i];
        azr_code rc = azr__plugin_load(p, cfg->policy[i], ctx->plugin_dir,
                                       AZR_PLUGIN_POLICY, where, errbuf,
                                       AZR_ERRBUF_SIZE);
        if (rc != AZR_OK)
            return rc;
        g->n_policies = i + 1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(g->policies[j].desc->name, p->desc->name) == 0)
                return azr__set_err(errbuf, AZR_E_PLUGIN, "%s: plugin '%s' "
                                    "(%s) is already loaded from %s", where,
                                    p->desc->name, p->path,
                                    g->policies[j].path);
        if (ctx->transport != NULL &&
            strcmp(ctx->transport->desc->name, p->desc->name) == 0) {
            char twhere[AZR_ERRBUF_SIZE];
            where_of(twhere, sizeof twhere, cfg, cfg->transport_line);
            return azr__set_err(errbuf, AZR_E_PLUGIN, "%s: plugin '%s' "
                                "(%s) is already loaded from %s", twhere,
                                p->desc->name, ctx->transport->path,
                                p->path);
        }
        rc = instantiate(ctx, p, cfg, cfg->policy[i], where, g, errbuf);
        if (rc != AZR_OK)
            return rc;
        carry_over(p, g, prev);
        p->in_chain = (int)i;
        g->chain[i] = (azr_chain_link){
            .pick = p->desc->policy->pick,
            .observe = p->desc->policy->observe,
            .state = p->state,
            .name = p->desc->name,
            .sees_cancelled = p->desc->abi_minor >= 1,
        };
    }
    return AZR_OK;
}

/* The transport, made once for the context from the file of azr_open(). */
static azr_code load_transport(azr_ctx *ctx, char *errbuf)
{
    azr_config *cfg = ctx->cfg;
    if (cfg->transport == NULL)
        return AZR_OK;
    ctx->transport = calloc(1, sizeof *ctx->transport);
    if (ctx->transport == NULL)
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    char where[AZR_ERRBUF_SIZE];
    where_of(where, sizeof where, cfg, cfg->transport_line);
    azr_code rc = azr__plugin_load(ctx->transport, cfg->transport,
                                   ctx->plugin_dir, AZR_PLUGIN_TRANSPORT,
                                   where, errbuf, AZR_ERRBUF_SIZE);
    if (rc != AZR_OK) {
        free(ctx->transport);
        ctx->transport = NULL;
        return rc;
    }
    ctx->transport->in_chain = -1;
    return instantiate(ctx, ctx->transport, cfg, cfg->transport, where, NULL,
                       errbuf);
}

/* Everything azr_open() sets up after the file is loaded. */
static azr_code open_context(azr_ctx *ctx, const azr_open_options *o,
                             char *errbuf)
{
    ctx->entries = calloc(AZR_MAX_NODES, sizeof *ctx->entries);
    ctx->counters = azr__counters_new(0);
    ctx->cfg_ref = azr__cfg_ref_new(ctx->cfg);
    if (ctx->entries == NULL || ctx->counters == NULL || ctx->cfg_ref == NULL)
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    const char *dir = choose_plugin_dir(o, ctx->cfg, errbuf);
    if (dir == NULL)
        return AZR_E_CONFIG;
    if ((ctx->plugin_dir = strdup(dir)) == NULL)
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    azr__learn_az(ctx);
    azr_code rc = load_transport(ctx, errbuf);
    if (rc != AZR_OK)
        return rc;
    if (ctx->cfg->topo_mode == AZR_TOPO_STATIC)
        return build_static_table(ctx, errbuf);
    return azr__topology_open(ctx, errbuf);
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
    pthread_mutex_init(&ctx->gen_lock, NULL);
    atomic_init(&ctx->caller_az, NULL);
    atomic_init(&ctx->gen, NULL);
    apply_options(ctx, options);
    if (OPT_HAS(options, az_id) && options->az_id != NULL &&
        (ctx->override_az_id = strdup(options->az_id)) == NULL) {
        azr_close(ctx);
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    }

    azr_code rc = azr__config_load(config_path, &ctx->cfg, errbuf,
                                   AZR_ERRBUF_SIZE);
    if (rc == AZR_OK)
        rc = open_context(ctx, options, errbuf);
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
    if (ctx->topology != NULL)
        azr__topology_close(ctx);
    if (ctx->pool != NULL)
        azr__pool_free(ctx);
    /* Transport first (connections were just closed), then the chains. */
    if (ctx->transport != NULL) {
        azr__plugin_unload(ctx->transport);
        free(ctx->transport);
    }
    azr__gen_free(ctx, atomic_load(&ctx->gen));
    azr__gen_reclaim(ctx, 1);
    free(ctx->plugin_dir);
    if (ctx->entries != NULL)
        for (size_t i = 0; i < ctx->n_entries; i++)
            free(ctx->entries[i]);
    free(ctx->entries);
    free((void *)ctx->moved);
    while (ctx->strings != NULL) {
        azr_retired *next = ctx->strings->next;
        free(ctx->strings);
        ctx->strings = next;
    }
    azr__counters_free(ctx->counters);
    free(ctx->override_az_id);
    if (ctx->cfg_ref != NULL)
        azr__cfg_ref_drop(ctx->cfg_ref);
    else
        azr__config_free(ctx->cfg);
    pthread_mutex_destroy(&ctx->gen_lock);
    pthread_mutex_destroy(&ctx->az_lock);
    free(ctx);
}

AZR_EXTERN size_t azr_node_count(const azr_ctx *ctx)
{
    if (ctx == NULL)
        return 0;
    azr_gen *g = azr__gen_enter((azr_ctx *)ctx);
    size_t n = g != NULL ? g->n_nodes : 0;
    azr__gen_leave();
    return n;
}

AZR_EXTERN azr_code azr_node_get(const azr_ctx *ctx, size_t index,
                                 azr_node_info *info)
{
    if (ctx == NULL || info == NULL)
        return AZR_E_INVALID_ARGUMENT;
    azr_gen *g = azr__gen_enter((azr_ctx *)ctx);
    if (g == NULL || index >= g->n_nodes) {
        azr__gen_leave();
        return AZR_E_NOT_FOUND;
    }
    const azr_node_view *v = &g->views[index];
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
        .az_source = (azr_node_az_source)g->az_source[index],
        .present = g->present[index],
    };
    azr__gen_leave();
    return AZR_OK;
}

AZR_EXTERN azr_code azr_node_find(const azr_ctx *ctx, const char *id,
                                  size_t *index)
{
    if (ctx == NULL || id == NULL || index == NULL)
        return AZR_E_INVALID_ARGUMENT;
    azr_gen *g = azr__gen_enter((azr_ctx *)ctx);
    azr_code rc = AZR_E_NOT_FOUND;
    /* A present node first: an id may have named a node that left. */
    for (int pass = 0; pass < 2 && rc != AZR_OK && g != NULL; pass++)
        for (size_t i = 0; i < g->n_nodes; i++)
            if ((pass == 1 || g->present[i]) &&
                strcmp(g->views[i].id, id) == 0) {
                *index = i;
                rc = AZR_OK;
                break;
            }
    azr__gen_leave();
    return rc;
}

AZR_EXTERN azr_code azr_node_stats_get(const azr_ctx *ctx, size_t index,
                                       azr_node_stats *stats)
{
    if (ctx == NULL || stats == NULL)
        return AZR_E_INVALID_ARGUMENT;
    if (index >= azr_node_count(ctx))
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
    if (ctx == NULL)
        return 0;
    azr_gen *g = azr__gen_enter((azr_ctx *)ctx);
    size_t n = (g != NULL ? g->n_policies : 0) + (ctx->transport != NULL);
    azr__gen_leave();
    return n;
}

/* Plugins are listed as the file names them: the chain, then the
 * transport. Strings stay valid until azr_close() (interned: the chain's
 * instances may be replaced by a reload). */
AZR_EXTERN azr_code azr_plugin_get(const azr_ctx *ctx, size_t index,
                                   azr_plugin_info *info)
{
    if (ctx == NULL || info == NULL)
        return AZR_E_INVALID_ARGUMENT;
    azr_ctx *c = (azr_ctx *)ctx;
    azr_gen *g = azr__gen_enter(c);
    size_t n_chain = g != NULL ? g->n_policies : 0;
    const azr_loaded_plugin *p = index < n_chain ? &g->policies[index]
                                 : index == n_chain ? ctx->transport : NULL;
    if (p == NULL) {
        azr__gen_leave();
        return AZR_E_NOT_FOUND;
    }
    pthread_mutex_lock(&c->gen_lock);
    *info = (azr_plugin_info){
        .name = azr__intern(c, p->desc->name),
        .kind = p->desc->kind == AZR_PLUGIN_POLICY ? "policy" : "transport",
        .abi_major = p->desc->abi_major,
        .abi_minor = p->desc->abi_minor,
        .version = azr__intern(c, p->desc->version != NULL
                                      ? p->desc->version : ""),
        .description = azr__intern(c, p->desc->description != NULL
                                          ? p->desc->description : ""),
        .path = azr__intern(c, p->path),
        .in_chain = p->in_chain,
    };
    pthread_mutex_unlock(&c->gen_lock);
    azr__gen_leave();
    if (info->name == NULL || info->version == NULL ||
        info->description == NULL || info->path == NULL)
        return AZR_E_NOMEM;
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
    return azr__learn_az(ctx);
}
