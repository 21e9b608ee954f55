/*
 * reload.c - azr_reload(): the context's file read again and swapped in
 * as a new generation, or refused with the running one untouched.
 */
#include <stdlib.h>
#include <string.h>

#include "topology.h"
#include "topology_priv.h"
#include "../core/generation.h"

static int same_str(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* 1 if the two files configure the transport alike (its name and every
 * key of its section, in order). */
static int same_transport(azr_config *a, azr_config *b)
{
    if (!same_str(a->transport, b->transport))
        return 0;
    if (a->transport == NULL)
        return 1;
    const azr_cfg_plugin_section *sa =
        azr__config_section(a, AZR_CFG_TRANSPORT, a->transport);
    const azr_cfg_plugin_section *sb =
        azr__config_section(b, AZR_CFG_TRANSPORT, b->transport);
    if (sa == NULL || sb == NULL)
        return sa == sb;
    if (sa->n_options != sb->n_options)
        return 0;
    for (size_t i = 0; i < sa->n_options; i++)
        if (strcmp(sa->options[i].key, sb->options[i].key) != 0 ||
            strcmp(sa->options[i].value, sb->options[i].value) != 0)
            return 0;
    return 1;
}

/* What a reload cannot change in a running context, or NULL. */
static const char *fixed_part_changed(azr_config *run, azr_config *next)
{
    if (!same_transport(run, next))
        return "the transport or its options";
    if (!same_str(run->plugin_dir, next->plugin_dir))
        return "[azroute] plugin_dir";
    if (run->topo_mode != next->topo_mode)
        return "[topology] mode";
    return NULL;
}

/* A static context's new table: the file's [node] sections. Idle
 * connections to nodes it no longer has are closed. */
static azr_code reload_static(azr_ctx *ctx, azr_cfg_ref *ref, char *err)
{
    pthread_mutex_lock(&ctx->gen_lock);
    azr_gen *cur = atomic_load_explicit(&ctx->gen, memory_order_acquire);
    size_t n_before = cur->n_nodes;
    unsigned char *was = malloc(n_before);
    if (was != NULL)
        memcpy(was, cur->present, n_before);
    /* cur may be freed by the swap: what is needed of it was copied. */
    azr_code rc = azr__gen_build_static(ctx, ref, cur, err);
    azr_gen *now = atomic_load_explicit(&ctx->gen, memory_order_acquire);
    size_t *left = rc == AZR_OK && was != NULL
                       ? malloc(n_before * sizeof *left) : NULL;
    size_t n_left = 0;
    for (size_t i = 0; left != NULL && i < n_before; i++)
        if (was[i] && !now->present[i])
            left[n_left++] = i;
    pthread_mutex_unlock(&ctx->gen_lock);
    for (size_t k = 0; k < n_left; k++)
        azr__pool_drain(ctx, left[k]);
    free(left);
    free(was);
    return rc;
}

AZR_EXTERN azr_code azr_reload(azr_ctx *ctx, char errbuf[AZR_ERRBUF_SIZE])
{
    if (errbuf != NULL)
        errbuf[0] = '\0';
    if (ctx == NULL)
        return azr__set_err(errbuf, AZR_E_INVALID_ARGUMENT,
                            "azr_reload: invalid argument");
    char err[AZR_ERRBUF_SIZE];
    azr_config *cfg = NULL;
    azr_code rc = azr__config_load(ctx->cfg->path, &cfg, err, sizeof err);
    if (rc != AZR_OK)
        return azr__set_err(errbuf, rc, "%s", err);
    const char *fixed = fixed_part_changed(ctx->cfg, cfg);
    if (fixed != NULL) {
        azr__config_free(cfg);
        return azr__set_err(errbuf, AZR_E_UNSUPPORTED, "%s: %s changed; it "
                            "is fixed for a running context (open a new "
                            "one)", ctx->cfg->path, fixed);
    }
    azr_cfg_ref *ref = azr__cfg_ref_new(cfg);
    if (ref == NULL) {
        azr__config_free(cfg);
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    }
    struct azr_topology *t = ctx->topology;
    if (t != NULL) {
        pthread_mutex_lock(&t->refresh_lock);
        rc = azr__topology_swap(ctx, ref, "azr_reload", 1, err);
        pthread_mutex_unlock(&t->refresh_lock);
        /* The thread reads refresh_ms anew when it wakes. */
        pthread_mutex_lock(&t->lock);
        pthread_cond_broadcast(&t->cond);
        pthread_mutex_unlock(&t->lock);
    } else {
        rc = reload_static(ctx, ref, err);
    }
    /* The generation took its own reference (or none on failure). */
    pthread_mutex_lock(&ctx->gen_lock);
    azr__cfg_ref_drop(ref);
    pthread_mutex_unlock(&ctx->gen_lock);
    if (rc != AZR_OK)
        return azr__set_err(errbuf, rc, "%s", err);
    azr__log(ctx, AZR_LOG_INFO, "reloaded %s (table %llu)", ctx->cfg->path,
             (unsigned long long)azr_topology_generation(ctx));
    azr__learn_az(ctx);
    return AZR_OK;
}
