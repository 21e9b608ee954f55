/*
 * topology.c - a live context's table kept in step with the group: the
 * first discovery at azr_open(), the refresh thread (periodic and on
 * events), azr_topology_refresh(), and turning what the servers said plus
 * the file's [node] hints into a new generation.
 *
 * Locks, outermost first: refresh_lock (one discovery and swap at a time;
 * held across network I/O, never by a request), then ctx->gen_lock (the
 * swap itself), and t->lock (the thread's schedule; never held across
 * anything slow). A request never takes refresh_lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "discover.h"
#include "topology.h"
#include "../cluster/cluster.h"
#include "topology_priv.h"
#include "../core/generation.h"

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- from discovery to a table ---- */

static const azr_cfg_node *hint_for(const azr_config *cfg, const char *host,
                                    unsigned port)
{
    for (size_t i = 0; i < cfg->n_nodes; i++)
        if (cfg->nodes[i].port == port &&
            strcmp(cfg->nodes[i].host, host) == 0)
            return &cfg->nodes[i];
    return NULL;
}

/* The AZ of a discovered node: the server's (an ID, or a name through
 * [az_map]), else its [node] hint's, else unknown. */
static void resolve_az(azr_ctx *ctx, const azr_config *cfg,
                       const azr_found *f, const azr_cfg_node *hint,
                       azr_node_spec *spec)
{
    spec->az_source = AZR_NODE_AZ_UNKNOWN;
    if (f->az[0] != '\0') {
        const char *mapped = azr__config_map_az(cfg, f->az);
        if (azr__az_id_valid(f->az)) {
            spec->az_id = f->az;
            spec->az_source = AZR_NODE_AZ_SERVER;
            return;
        }
        if (mapped != NULL) {
            spec->az_id = mapped;
            spec->az_name = f->az;
            spec->az_source = AZR_NODE_AZ_AZ_MAP;
            return;
        }
        azr__log(ctx, AZR_LOG_WARNING, "topology: %s:%u reports "
                 "availability_zone '%s', which is not an AZ ID and not in "
                 "[az_map]", f->host, f->port, f->az);
    }
    if (hint != NULL && hint->az_id != NULL) {
        spec->az_id = hint->az_id;
        spec->az_name = hint->az_name;
        spec->az_source = hint->az_name != NULL ? AZR_NODE_AZ_AZ_MAP
                                                : AZR_NODE_AZ_CONFIG;
    }
}

/* specs[] (room for d->n_found) for the members of the group. */
/* The spec of discovered server f, in `role`: its address and the name
 * its certificate is verified against, its [node] hint's id, weight and
 * priority, and its AZ (resolve_az). */
static void spec_of(azr_ctx *ctx, const azr_config *cfg, const azr_found *f,
                    azr_role role, azr_node_spec *s)
{
    const azr_cfg_node *hint = hint_for(cfg, f->host, f->port);
    memset(s, 0, sizeof *s);
    s->id = hint != NULL ? hint->id : NULL;
    s->host = f->host;
    s->port = f->port;
    s->role = role;
    s->weight = hint != NULL ? hint->weight : 1;
    s->priority = hint != NULL ? hint->priority : 0;
    s->tls_name = f->tls_name;
    resolve_az(ctx, cfg, f, hint, s);
}

static size_t specs_from(azr_ctx *ctx, const azr_config *cfg,
                         const azr_discovery *d, azr_node_spec *specs)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n_found; i++)
        if (azr__discovery_member(d, i))
            spec_of(ctx, cfg, &d->found[i],
                    i == d->primary ? AZR_ROLE_PRIMARY : AZR_ROLE_REPLICA,
                    &specs[n++]);
    return n;
}

/* Cluster: specs[] (room for d->n_found) for the nodes of the map that
 * have not failed, each with its shard, and shards[] (room for
 * map->n_shards; *n_shards set) for the shards that have a live node or
 * slots; their ranges point into the map. */
static size_t cluster_specs(azr_ctx *ctx, const azr_config *cfg,
                            const azr_discovery *d, const azr_slotmap *map,
                            azr_node_spec *specs, azr_shard_spec *shards,
                            size_t *n_shards)
{
    size_t n = 0, f = 0;
    *n_shards = 0;
    for (size_t k = 0; k < map->n_shards; k++) {
        const azr_cl_shard *sh = &map->shards[k];
        size_t live = 0;
        for (size_t j = 0; j < sh->n_nodes; j++)
            live += !sh->nodes[j].failed;
        if (live == 0 && sh->n_ranges == 0) {
            /* a failed former primary, alone: nothing to route to */
            f += sh->n_nodes;
            continue;
        }
        /* The shard is known by its primary's id; while it has none, by
         * the failed primary's, else by its first node's. */
        size_t named = sh->primary;
        for (size_t j = 0; j < sh->n_nodes && named == SIZE_MAX; j++)
            if (sh->nodes[j].primary)
                named = j;
        size_t out = (*n_shards)++;
        shards[out] = (azr_shard_spec){
            .id = sh->n_nodes > 0
                      ? sh->nodes[named != SIZE_MAX ? named : 0].id : "",
            .ranges = sh->ranges,
            .n_ranges = sh->n_ranges,
        };
        for (size_t j = 0; j < sh->n_nodes; j++, f++) {
            if (sh->nodes[j].failed)
                continue;
            spec_of(ctx, cfg, &d->found[f], d->found[f].role, &specs[n]);
            specs[n++].shard = out;
        }
    }
    return n;
}

static const char *source_name(unsigned char source)
{
    switch (source) {
    case AZR_NODE_AZ_SERVER: return "server";
    case AZR_NODE_AZ_CONFIG: return "config";
    case AZR_NODE_AZ_AZ_MAP: return "az_map";
    default: return "unknown";
    }
}

/* Logs at INFO what changed from a to b (the -v of the tool). */
static void log_changes(azr_ctx *ctx, const azr_gen *a, const azr_gen *b,
                        uint64_t number, const char *why)
{
    const char *old_primary = "none", *new_primary = "none";
    for (size_t i = 0; a != NULL && i < a->n_nodes; i++)
        if (a->present[i] && a->views[i].role == AZR_ROLE_PRIMARY)
            old_primary = a->views[i].id;
    for (size_t i = 0; i < b->n_nodes; i++)
        if (b->present[i] && b->views[i].role == AZR_ROLE_PRIMARY)
            new_primary = b->views[i].id;
    if (b->slot_shard != NULL) {
        size_t covered = 0;
        for (size_t s = 0; s < AZR_SLOT_COUNT; s++)
            covered += b->slot_shard[s] != AZR_NO_SHARD;
        azr__log(ctx, AZR_LOG_INFO, "topology: table %llu (%s): %zu nodes, "
                 "%zu shards, %zu of %u slots served",
                 (unsigned long long)number, why, b->n_members, b->n_shards,
                 covered, AZR_SLOT_COUNT);
    } else {
        azr__log(ctx, AZR_LOG_INFO, "topology: table %llu (%s): %zu nodes, "
                 "primary %s%s%s", (unsigned long long)number, why,
                 b->n_members, old_primary,
                 strcmp(old_primary, new_primary) ? " -> " : "",
                 strcmp(old_primary, new_primary) ? new_primary : "");
    }
    for (size_t i = 0; i < b->n_nodes; i++) {
        int was = a != NULL && i < a->n_nodes && a->present[i];
        const azr_node_view *v = &b->views[i];
        if (b->present[i] && !was)
            azr__log(ctx, AZR_LOG_INFO, "topology: + %s (%s:%u) %s, AZ %s "
                     "(%s)", v->id, v->host, v->port,
                     v->role == AZR_ROLE_PRIMARY ? "primary" : "replica",
                     v->az_id[0] ? v->az_id : "unknown",
                     source_name(b->az_source[i]));
        else if (!b->present[i] && was)
            azr__log(ctx, AZR_LOG_INFO, "topology: - %s (%s:%u) left", v->id,
                     v->host, v->port);
        else if (b->present[i] && a->views[i].role != v->role)
            azr__log(ctx, AZR_LOG_INFO, "topology: %s is now a %s", v->id,
                     v->role == AZR_ROLE_PRIMARY ? "primary" : "replica");
    }
}

/* Seeds: [topology] seeds, else the [node] sections; then the nodes of
 * the current table, so that the group stays reachable when the seeds go
 * away. */
static azr_seed *seeds_of(const azr_ctx *ctx, const azr_config *cfg,
                          const azr_gen *cur, size_t *n)
{
    size_t cap = cfg->n_seeds + cfg->n_nodes + (cur ? cur->n_members : 0);
    azr_seed *s = calloc(cap > 0 ? cap : 1, sizeof *s);
    if (s == NULL)
        return NULL;
    *n = 0;
    for (size_t i = 0; i < cfg->n_seeds; i++)
        s[(*n)++] = (azr_seed){ cfg->seeds[i].host, cfg->seeds[i].port,
                                NULL };
    if (cfg->n_seeds == 0)
        for (size_t i = 0; i < cfg->n_nodes; i++)
            s[(*n)++] = (azr_seed){ cfg->nodes[i].host, cfg->nodes[i].port,
                                    NULL };
    for (size_t i = 0; cur != NULL && i < cur->n_members; i++)
        s[(*n)++] = (azr_seed){
            cur->members[i]->host, cur->members[i]->port,
            ctx->entries[cur->members[i]->index]->tls_name };
    return s;
}

/* What discovery found, as specs for a table. */
typedef struct found_table {
    azr_discovery d;
    azr_slotmap map;          /* cluster */
    azr_node_spec *specs;
    size_t n;
    azr_shard_spec *shards;   /* cluster */
    size_t n_shards;
} found_table;

static void found_free(found_table *t)
{
    free(t->specs);
    free(t->shards);
    azr__discovery_free(&t->d);
    azr__slotmap_free(&t->map);
}

static azr_code discover(azr_ctx *ctx, const azr_config *cfg,
                         const azr_gen *cur, found_table *t, char *errbuf)
{
    memset(t, 0, sizeof *t);
    size_t n_seeds = 0;
    azr_seed *seeds = seeds_of(ctx, cfg, cur, &n_seeds);
    if (seeds == NULL)
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    int cluster = cfg->topo_mode == AZR_TOPO_CLUSTER;
    azr_code rc = cluster ? azr__discover_cluster(ctx, seeds, n_seeds,
                                                  &t->d, &t->map, errbuf)
                          : azr__discover_replication(ctx, seeds, n_seeds,
                                                      &t->d, errbuf);
    free(seeds);
    if (rc != AZR_OK)
        return rc;
    t->specs = calloc(t->d.n_found > 0 ? t->d.n_found : 1,
                      sizeof *t->specs);
    t->shards = calloc(t->map.n_shards > 0 ? t->map.n_shards : 1,
                       sizeof *t->shards);
    if (t->specs == NULL || t->shards == NULL) {
        found_free(t);
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    }
    if (cluster) {
        t->n = cluster_specs(ctx, cfg, &t->d, &t->map, t->specs, t->shards,
                             &t->n_shards);
    } else {
        t->n = specs_from(ctx, cfg, &t->d, t->specs);
    }
    return AZR_OK;
}

/* The table `t` describes under cfg, or NULL (rc AZR_OK) when `cur` is
 * that table already. Caller holds gen_lock. */
static azr_code build(azr_ctx *ctx, azr_cfg_ref *cfg, const found_table *t,
                      const azr_gen *cur, int force, azr_gen **next,
                      char *errbuf)
{
    int cluster = cfg->cfg->topo_mode == AZR_TOPO_CLUSTER;
    *next = NULL;
    if (!force && cur != NULL &&
        azr__gen_same_table(cur, t->specs, t->n, ctx) &&
        (!cluster || azr__gen_same_shards(cur, t->shards, t->n_shards,
                                          t->specs, t->n, ctx)))
        return AZR_OK;
    azr_code rc = azr__gen_build(ctx, cfg, t->specs, t->n, cur, next,
                                 errbuf);
    if (rc == AZR_OK && cluster)
        rc = azr__gen_set_shards(ctx, *next, t->shards, t->n_shards,
                                 t->specs, t->n, errbuf);
    if (rc != AZR_OK && *next != NULL) {
        azr__gen_free(ctx, *next);
        *next = NULL;
    }
    return rc;
}

azr_code azr__topology_swap(azr_ctx *ctx, azr_cfg_ref *cfg, const char *why,
                            int force, char *errbuf)
{
    azr_gen *cur = atomic_load_explicit(&ctx->gen, memory_order_acquire);
    found_table t;
    azr_code rc = discover(ctx, cfg->cfg, cur, &t, errbuf);
    if (rc != AZR_OK)
        return rc;
    pthread_mutex_lock(&ctx->gen_lock);
    azr_gen *next = NULL;
    rc = build(ctx, cfg, &t, cur, force, &next, errbuf);
    /* Everything that reads the old table happens before the swap, which
     * may free it. */
    size_t *left = NULL, n_left = 0;
    if (next != NULL) {
        log_changes(ctx, cur, next, ctx->gen_number + 1, why);
        if (cur != NULL && (left = malloc(cur->n_nodes * sizeof *left)))
            for (size_t i = 0; i < cur->n_nodes; i++)
                if (cur->present[i] && !next->present[i])
                    left[n_left++] = i;
        azr__gen_publish(ctx, next);
        /* The new table says where every slot is: what MOVED replies
         * taught the old one goes (its entries are tagged with the old
         * table's number anyway; clearing keeps a 16-bit tag from ever
         * coming round again). */
        for (size_t s = 0; ctx->moved != NULL && s < AZR_SLOT_COUNT; s++)
            atomic_store_explicit(&ctx->moved[s], 0, memory_order_relaxed);
    }
    pthread_mutex_unlock(&ctx->gen_lock);
    /* Idle connections to nodes that left are of no further use. */
    for (size_t k = 0; k < n_left; k++)
        azr__pool_drain(ctx, left[k]);
    free(left);
    found_free(&t);
    return rc;
}

/* ---- the refresh thread ---- */

static unsigned refresh_ms_now(azr_ctx *ctx)
{
    const azr_gen *g = azr__gen_enter(ctx);
    unsigned ms = g->cfg->cfg->refresh_ms;
    azr__gen_leave();
    return ms;
}

static azr_code refresh(azr_ctx *ctx, const char *why, char *errbuf)
{
    struct azr_topology *t = ctx->topology;
    pthread_mutex_lock(&t->refresh_lock);
    azr_gen *cur = atomic_load_explicit(&ctx->gen, memory_order_acquire);
    azr_code rc = azr__topology_swap(ctx, cur->cfg, why, 0, errbuf);
    /* An outage fails discovery at the event pace: the first failure of
     * a kind is an error, its repeats are logged at INFO until one
     * succeeds. */
    int repeat = rc != AZR_OK && strcmp(t->last_error, errbuf) == 0;
    if (rc != AZR_OK)
        azr__log(ctx, repeat ? AZR_LOG_INFO : AZR_LOG_ERROR, "topology: "
                 "discovery (%s) failed, the table in use is kept: %s", why,
                 errbuf);
    snprintf(t->last_error, sizeof t->last_error, "%s",
             rc != AZR_OK ? errbuf : "");
    pthread_mutex_unlock(&t->refresh_lock);
    pthread_mutex_lock(&ctx->gen_lock);
    azr__gen_reclaim(ctx, 0); /* tables still held at their swap */
    pthread_mutex_unlock(&ctx->gen_lock);
    pthread_mutex_lock(&t->lock);
    t->last_ns = mono_ns();
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* The next time the thread is due, 0: now; UINT64_MAX: only on events. */
static uint64_t next_due(const struct azr_topology *t, unsigned refresh_ms)
{
    uint64_t due = UINT64_MAX;
    if (refresh_ms > 0)
        due = t->last_ns + (uint64_t)refresh_ms * 1000000u;
    if (t->kicked) {
        uint64_t ev = t->last_ns + AZR_TOPOLOGY_EVENT_GAP_MS * 1000000ull;
        if (ev < due)
            due = ev;
    }
    return due;
}

static void *refresh_thread(void *arg)
{
    azr_ctx *ctx = arg;
    struct azr_topology *t = ctx->topology;
    char why[sizeof t->kick_reason], err[AZR_ERRBUF_SIZE];
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        uint64_t due = next_due(t, refresh_ms_now(ctx));
        uint64_t now = mono_ns();
        if (due > now) {
            struct timespec ts;
            uint64_t until = due == UINT64_MAX ? now + 3600000000000ull : due;
            ts.tv_sec = (time_t)(until / 1000000000u);
            ts.tv_nsec = (long)(until % 1000000000u);
            pthread_cond_timedwait(&t->cond, &t->lock, &ts);
            continue;
        }
        snprintf(why, sizeof why, "%s", t->kicked ? t->kick_reason
                                                  : "periodic refresh");
        t->kicked = 0;
        pthread_mutex_unlock(&t->lock);
        refresh(ctx, why, err);
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

/* fork(): the child has none of the parent's threads. Each fork bumps
 * the process's epoch in the child, and a context whose thread was started
 * in an earlier epoch starts its own on the child's first request (a
 * program that opens its context, then forks workers, as pre-forking
 * servers do, keeps following the group in every worker). */
_Atomic unsigned azr__topology_epoch = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
    atomic_fetch_add_explicit(&azr__topology_epoch, 1, memory_order_relaxed);
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

/* The locks and the condition (on the monotonic clock, as the waits
 * compute their deadlines). */
static void init_sync(struct azr_topology *t)
{
    pthread_mutex_init(&t->lock, NULL);
    pthread_mutex_init(&t->refresh_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cond, &attr);
    pthread_condattr_destroy(&attr);
}

/* The locks as the parent left them may be held by a thread the child
 * does not have: made anew (the child runs one thread at this point
 * unless it started others before its first request). */
static void adopt_after_fork(struct azr_topology *t)
{
    init_sync(t);
    t->thread_ok = 0;
    t->kicked = 0;
    atomic_store_explicit(&t->started_epoch, 0, memory_order_relaxed);
}

void azr__topology_use_slow(azr_ctx *ctx)
{
    struct azr_topology *t = ctx->topology;
    unsigned epoch = atomic_load_explicit(&azr__topology_epoch,
                                          memory_order_relaxed);
    unsigned started = atomic_load_explicit(&t->started_epoch,
                                            memory_order_acquire);
    if (started != 0 && started != epoch)
        adopt_after_fork(t);
    pthread_mutex_lock(&t->lock);
    if (!t->thread_ok && !t->stop) {
        atomic_store_explicit(&t->started_epoch, epoch,
                              memory_order_release);
        t->thread_ok = pthread_create(&t->thread, NULL, refresh_thread,
                                      ctx) == 0;
        if (!t->thread_ok)
            azr__log(ctx, AZR_LOG_ERROR, "topology: cannot start the "
                     "refresh thread: %s", strerror(errno));
    }
    /* Once tried: a context that cannot have the thread still routes. */
    atomic_store_explicit(&ctx->topology_started, (int)epoch,
                          memory_order_relaxed);
    pthread_mutex_unlock(&t->lock);
}

void azr__topology_kick(azr_ctx *ctx, const char *why)
{
    struct azr_topology *t = ctx->topology;
    if (t == NULL)
        return;
    azr__topology_use(ctx);
    pthread_mutex_lock(&t->lock);
    if (!t->kicked) {
        t->kicked = 1;
        snprintf(t->kick_reason, sizeof t->kick_reason, "%s", why);
        pthread_cond_broadcast(&t->cond);
    }
    pthread_mutex_unlock(&t->lock);
}

int azr__topology_wait(azr_ctx *ctx, uint64_t seen, uint64_t deadline_ns)
{
    struct azr_topology *t = ctx->topology;
    if (t == NULL)
        return 0;
    pthread_mutex_lock(&t->lock);
    int changed;
    while (!(changed = azr_topology_generation(ctx) > seen) && !t->stop) {
        uint64_t now = azr__ctx_now_ns(ctx);
        if (now >= deadline_ns)
            break;
        /* A discovery that found nothing new is not the end of the wait:
         * the group may still be electing. Ask again at the event pace. */
        if (!t->kicked) {
            t->kicked = 1;
            snprintf(t->kick_reason, sizeof t->kick_reason,
                     "a request waits for a new primary");
            pthread_cond_broadcast(&t->cond);
        }
        /* The context clock may not be the monotonic one: wait one event
         * gap at most, measured by the condition's clock. */
        uint64_t left = deadline_ns - now;
        uint64_t gap = AZR_TOPOLOGY_EVENT_GAP_MS * 1000000ull;
        uint64_t until = mono_ns() + (left < gap ? left : gap);
        struct timespec ts = {
            .tv_sec = (time_t)(until / 1000000000u),
            .tv_nsec = (long)(until % 1000000000u),
        };
        pthread_cond_timedwait(&t->cond, &t->lock, &ts);
    }
    pthread_mutex_unlock(&t->lock);
    return changed;
}

unsigned azr__topology_failover_wait_ms(azr_ctx *ctx)
{
    if (ctx->topology == NULL)
        return 0;
    const azr_gen *g = azr__gen_enter(ctx);
    unsigned ms = g->cfg->cfg->failover_wait_ms;
    azr__gen_leave();
    return ms;
}

/* ---- open, close, the API ---- */

azr_code azr__topology_open(azr_ctx *ctx, char *errbuf)
{
    if (ctx->transport == NULL)
        return azr__set_err(errbuf, AZR_E_NO_TRANSPORT, "%s: mode = %s "
                            "needs a transport", ctx->cfg->path,
                            azr_topology_mode_name(ctx));
    pthread_once(&atfork_once, register_atfork);
    if (ctx->cfg->topo_mode == AZR_TOPO_CLUSTER) {
        ctx->moved = calloc(AZR_SLOT_COUNT, sizeof *ctx->moved);
        if (ctx->moved == NULL)
            return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    }
    struct azr_topology *t = calloc(1, sizeof *t);
    if (t == NULL)
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    init_sync(t);
    ctx->topology = t;
    pthread_mutex_lock(&t->refresh_lock);
    azr_code rc = azr__topology_swap(ctx, ctx->cfg_ref, "azr_open", 1,
                                     errbuf);
    pthread_mutex_unlock(&t->refresh_lock);
    t->last_ns = mono_ns();
    return rc;
}

void azr__topology_close(azr_ctx *ctx)
{
    struct azr_topology *t = ctx->topology;
    /* A thread started before a fork() is the parent's: not ours to stop
     * or join. */
    unsigned started = atomic_load_explicit(&t->started_epoch,
                                            memory_order_acquire);
    if (started != 0 && started != atomic_load_explicit(
                                       &azr__topology_epoch,
                                       memory_order_relaxed))
        adopt_after_fork(t);
    pthread_mutex_lock(&t->lock);
    t->stop = 1;
    pthread_cond_broadcast(&t->cond);
    int joined = t->thread_ok;
    pthread_mutex_unlock(&t->lock);
    if (joined)
        pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->refresh_lock);
    pthread_mutex_destroy(&t->lock);
    free(t);
    ctx->topology = NULL;
}

AZR_EXTERN const char *azr_topology_mode_name(const azr_ctx *ctx)
{
    if (ctx == NULL)
        return NULL;
    return azr__cfg_topo_mode_name(ctx->cfg->topo_mode);
}

AZR_EXTERN uint64_t azr_topology_generation(const azr_ctx *ctx)
{
    if (ctx == NULL)
        return 0;
    const azr_gen *g = azr__gen_enter((azr_ctx *)ctx);
    uint64_t n = g != NULL ? g->number : 0;
    azr__gen_leave();
    return n;
}

AZR_EXTERN azr_code azr_topology_refresh(azr_ctx *ctx,
                                         char errbuf[AZR_ERRBUF_SIZE])
{
    if (errbuf != NULL)
        errbuf[0] = '\0';
    if (ctx == NULL)
        return azr__set_err(errbuf, AZR_E_INVALID_ARGUMENT,
                            "azr_topology_refresh: invalid argument");
    if (ctx->topology == NULL)
        return AZR_OK;
    char err[AZR_ERRBUF_SIZE];
    azr_code rc = refresh(ctx, "azr_topology_refresh", err);
    if (rc != AZR_OK)
        azr__set_err(errbuf, rc, "%s", err);
    return rc;
}
