/*
 * host.c - the services table every plugin receives (azr_host_services).
 *
 * Errors are recorded per thread: a plugin's pick, connect or command may
 * fail on many threads at once, and each caller reads back its own message.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "shard.h"

/* Longer than an errbuf so that a FILE:LINE prefix never truncates the
 * plugin's own words; copies into an errbuf are cut at AZR_ERRBUF_SIZE. */
static _Thread_local char plugin_error_text[2 * AZR_ERRBUF_SIZE];
static _Thread_local int plugin_error_located; /* message has FILE:LINE */

void azr__plugin_error_reset(void)
{
    plugin_error_text[0] = '\0';
    plugin_error_located = 0;
}

int azr__plugin_error_located(void)
{
    return plugin_error_located;
}

const char *azr__plugin_error_message(void)
{
    return plugin_error_text;
}

uint64_t azr__ctx_now_ns(const azr_ctx *ctx)
{
    if (ctx->clock != NULL)
        return ctx->clock(ctx->source_userdata);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64* per thread: lock-free and good enough for load spreading.
 * Seeded lazily from the clock and the state's own address, so threads
 * that start together still diverge. */
static _Thread_local uint64_t random_state;

uint64_t azr__ctx_random(const azr_ctx *ctx)
{
    if (ctx->random != NULL)
        return ctx->random(ctx->source_userdata);
    uint64_t x = random_state;
    if (x == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        x = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
            (uint64_t)(uintptr_t)&random_state;
        if (x == 0)
            x = 0x9E3779B97F4A7C15u;
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    random_state = x;
    return x * 0x2545F4914F6CDD1Du;
}

static void host_log(azr_plugin_env *env, azr_log_level level,
                     const char *fmt, ...) AZR_PRINTF(3, 4);
static void host_log(azr_plugin_env *env, azr_log_level level,
                     const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    azr__log(env->ctx, level, "%s: %s", env->plugin->desc->name, msg);
}

static uint64_t host_now_ns(azr_plugin_env *env)
{
    return azr__ctx_now_ns(env->ctx);
}

static uint64_t host_random_u64(azr_plugin_env *env)
{
    return azr__ctx_random(env->ctx);
}

static azr_cfg_option *find_option(azr_plugin_env *env, const char *key)
{
    if (env->section == NULL || key == NULL)
        return NULL;
    for (size_t i = 0; i < env->section->n_options; i++)
        if (strcmp(env->section->options[i].key, key) == 0)
            return &env->section->options[i];
    return NULL;
}

static const char *host_option(azr_plugin_env *env, const char *key)
{
    azr_cfg_option *opt = find_option(env, key);
    if (opt == NULL)
        return NULL;
    opt->read = 1;
    return opt->value;
}

static int host_error(azr_plugin_env *env, int code, const char *key,
                      const char *fmt, ...) AZR_PRINTF(4, 5);
static int host_error(azr_plugin_env *env, int code, const char *key,
                      const char *fmt, ...)
{
    char msg[AZR_ERRBUF_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    azr_cfg_option *opt = find_option(env, key);
    if (opt != NULL)
        snprintf(plugin_error_text, sizeof plugin_error_text,
                 "%s:%u: %s", env->cfg->path, opt->line, msg);
    else
        snprintf(plugin_error_text, sizeof plugin_error_text, "%s", msg);
    plugin_error_located = opt != NULL;
    return code;
}

static size_t host_node_count(azr_plugin_env *env)
{
    /* A policy's table is the one it was created for; a transport lives
     * across tables and sees the current one. */
    if (env->plugin != NULL && env->plugin->desc->kind == AZR_PLUGIN_POLICY)
        return env->n_nodes;
    return azr_node_count(env->ctx);
}

static const char *host_tls_name(azr_plugin_env *env,
                                 const azr_node_view *node)
{
    azr_ctx *ctx = env->ctx;
    const char *name = node->host;
    if (node->index == AZR_DISCOVERY_INDEX)
        return ((const azr_node_entry *)(const void *)node)->tls_name;
    pthread_mutex_lock(&ctx->gen_lock);
    if (node->index < ctx->n_entries &&
        &ctx->entries[node->index]->view == node)
        name = ctx->entries[node->index]->tls_name;
    pthread_mutex_unlock(&ctx->gen_lock);
    return name;
}

static void host_push(azr_plugin_env *env, const azr_node_view *node,
                      azr_reply *push)
{
    azr_ctx *ctx = env->ctx;
    if (push == NULL)
        return;
    /* A discovery connection is not the application's: nothing there
     * subscribed, and its view has no index to report. */
    if (ctx->push != NULL && node != NULL &&
        node->index != AZR_DISCOVERY_INDEX)
        ctx->push(ctx->push_userdata, node->index, push);
    else
        atomic_fetch_add_explicit(&ctx->pushes_unclaimed, 1,
                                  memory_order_relaxed);
    azr_reply_free(push);
}

static size_t host_thread_slot(azr_plugin_env *env)
{
    (void)env;
    return azr__shard_self();
}

static size_t host_thread_slots(azr_plugin_env *env)
{
    (void)env;
    return azr__shard_count();
}

AZR_EXTERN uint64_t azr_pushes_unclaimed(const azr_ctx *ctx)
{
    return ctx != NULL ? atomic_load_explicit(&ctx->pushes_unclaimed,
                                              memory_order_relaxed)
                       : 0;
}

const azr_host_services azr__host_services_table = {
    .struct_size = sizeof(azr_host_services),
    .abi_major = AZR_PLUGIN_ABI_MAJOR,
    .abi_minor = AZR_PLUGIN_ABI_MINOR,
    .log = host_log,
    .now_ns = host_now_ns,
    .random_u64 = host_random_u64,
    .option = host_option,
    .error = host_error,
    .node_count = host_node_count,
    .push = host_push,
    .thread_slot = host_thread_slot,
    .thread_slots = host_thread_slots,
    .tls_name = host_tls_name,
    /* ABI 1.1: the RESP reader and encoder are the library's public
     * functions themselves (same signatures, same contracts), so the
     * replies a transport builds are the host's own trees. */
    .resp = &(const azr_resp_services){
        .struct_size = sizeof(azr_resp_services),
        .reader_new = azr_reader_new,
        .reader_feed = azr_reader_feed,
        .reader_get_reply = azr_reader_get_reply,
        .reader_error = azr_reader_error,
        .reader_free = azr_reader_free,
        .reader_set_max_reply = azr_reader_set_max_reply,
        .reader_pending = azr_reader_pending,
        .format_command = azr_format_command,
        .reply_free = azr_reply_free,
    },
};
