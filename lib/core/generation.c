/*
 * generation.c - building, publishing and freeing node-table generations
 * (see generation.h), and the context's node identities behind the
 * stable indexes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "generation.h"
#include "rcu.h"

azr_cfg_ref *azr__cfg_ref_new(azr_config *cfg)
{
    azr_cfg_ref *ref = malloc(sizeof *ref);
    if (ref != NULL) {
        ref->cfg = cfg;
        ref->refs = 1;
    }
    return ref;
}

void azr__cfg_ref_drop(azr_cfg_ref *ref)
{
    if (ref != NULL && --ref->refs == 0) {
        azr__config_free(ref->cfg);
        free(ref);
    }
}

const char *azr__intern(azr_ctx *ctx, const char *s)
{
    for (const azr_retired *r = ctx->strings; r != NULL; r = r->next)
        if (strcmp(r->text, s) == 0)
            return r->text;
    size_t len = strlen(s);
    azr_retired *r = malloc(sizeof *r + len + 1);
    if (r == NULL)
        return NULL;
    memcpy(r->text, s, len + 1);
    r->next = ctx->strings;
    ctx->strings = r;
    return r->text;
}

size_t azr__node_entry_find(const azr_ctx *ctx, const azr_node_spec *spec)
{
    for (size_t i = 0; i < ctx->n_entries; i++) {
        const azr_node_view *v = &ctx->entries[i]->view;
        if (v->port == spec->port && strcmp(v->host, spec->host) == 0 &&
            (!spec->by_id || strcmp(v->id, spec->id) == 0))
            return i;
    }
    return SIZE_MAX;
}

/* The index of spec's node, registering it if new. */
static azr_code entry_for(azr_ctx *ctx, const azr_node_spec *spec,
                          const char *id, size_t *index, char *errbuf)
{
    size_t i = azr__node_entry_find(ctx, spec);
    if (i != SIZE_MAX) {
        *index = i;
        return AZR_OK;
    }
    if (ctx->n_entries >= AZR_MAX_NODES)
        return azr__set_err(errbuf, AZR_E_NO_NODE, "the context has known "
                            "%d nodes, its limit; %s:%u cannot be added "
                            "(open a new context)", AZR_MAX_NODES,
                            spec->host, spec->port);
    azr_node_entry *e = aligned_alloc(AZR_CACHE_LINE,
                                      sizeof(azr_node_entry) +
                                          (AZR_CACHE_LINE -
                                           sizeof(azr_node_entry) %
                                               AZR_CACHE_LINE) %
                                              AZR_CACHE_LINE);
    const char *host = azr__intern(ctx, spec->host);
    const char *tls = azr__intern(ctx, spec->tls_name != NULL
                                           ? spec->tls_name : spec->host);
    if (e == NULL || host == NULL || tls == NULL) {
        free(e);
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    }
    memset(e, 0, sizeof *e);
    e->view.struct_size = sizeof e->view;
    e->view.index = ctx->n_entries;
    e->view.id = id;
    e->view.host = host;
    e->view.port = (uint16_t)spec->port;
    e->view.role = spec->role;
    e->view.weight = 1;
    e->view.az_id = "";
    e->tls_name = tls;
    *index = ctx->n_entries;
    ctx->entries[ctx->n_entries++] = e;
    return AZR_OK;
}

/* The id a spec's node goes by: its own, else "host:port". */
static const char *spec_id(azr_ctx *ctx, const azr_node_spec *spec)
{
    if (spec->id != NULL)
        return azr__intern(ctx, spec->id);
    char buf[300];
    snprintf(buf, sizeof buf, strchr(spec->host, ':') != NULL ? "[%s]:%u"
                                                              : "%s:%u",
             spec->host, spec->port);
    return azr__intern(ctx, buf);
}

static azr_code fill_view(azr_ctx *ctx, azr_gen *g, const azr_node_spec *spec,
                          char *errbuf)
{
    const char *id = spec_id(ctx, spec);
    const char *az = azr__intern(ctx, spec->az_id != NULL ? spec->az_id : "");
    const char *az_name = spec->az_name != NULL
                              ? azr__intern(ctx, spec->az_name) : NULL;
    if (id == NULL || az == NULL || (spec->az_name != NULL && !az_name))
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    size_t i = 0;
    azr_code rc = entry_for(ctx, spec, id, &i, errbuf);
    if (rc != AZR_OK)
        return rc;
    if (i >= g->n_nodes)
        return azr__set_err(errbuf, AZR_E_INVALID_ARGUMENT, "node %s:%u "
                            "given twice", spec->host, spec->port);
    if (g->present[i])
        return azr__set_err(errbuf, AZR_E_CONFIG, "node %s:%u given twice",
                            spec->host, spec->port);
    azr_node_view *v = &g->views[i];
    v->struct_size = sizeof *v;
    v->index = i;
    v->id = id;
    v->host = ctx->entries[i]->view.host;
    v->port = (uint16_t)spec->port;
    v->role = spec->role;
    v->weight = spec->weight > 0 ? spec->weight : 1;
    v->priority = spec->priority;
    v->az_id = az;
    v->az_name = az_name;
    g->present[i] = 1;
    g->az_source[i] = (unsigned char)(az[0] != '\0' ? spec->az_source
                                                    : AZR_NODE_AZ_UNKNOWN);
    return AZR_OK;
}

static azr_gen *gen_alloc(size_t n)
{
    azr_gen *g = calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    g->n_nodes = n;
    g->views = aligned_alloc(AZR_CACHE_LINE, n * sizeof *g->views);
    g->view_ptrs = calloc(n, sizeof *g->view_ptrs);
    g->present = calloc(n, 1);
    g->az_source = calloc(n, 1);
    g->members = calloc(n, sizeof *g->members);
    g->primaries = calloc(n, sizeof *g->primaries);
    if (g->views == NULL || g->view_ptrs == NULL || g->present == NULL ||
        g->az_source == NULL || g->members == NULL || g->primaries == NULL) {
        azr__gen_free(NULL, g); /* no chain, no configuration yet */
        return NULL;
    }
    memset(g->views, 0, n * sizeof *g->views);
    return g;
}

/* Nodes the context knew before but `specs` lacks keep their last view
 * (as the previous generation had it), absent. */
static void keep_departed(azr_ctx *ctx, azr_gen *g, const azr_gen *prev)
{
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (g->present[i])
            continue;
        if (prev != NULL && i < prev->n_nodes) {
            g->views[i] = prev->views[i];
            g->az_source[i] = prev->az_source[i];
        } else {
            g->views[i] = ctx->entries[i]->view;
        }
        atomic_init(&g->views[i].same_az, 0);
    }
}

void azr__gen_mark_same_az(azr_gen *g, const char *az)
{
    for (size_t i = 0; i < g->n_nodes; i++) {
        int same = az != NULL && g->present[i] &&
                   g->views[i].az_id[0] != '\0' &&
                   strcmp(g->views[i].az_id, az) == 0;
        atomic_store_explicit(&g->views[i].same_az, (unsigned char)same,
                              memory_order_relaxed);
    }
}

static void index_members(azr_gen *g)
{
    for (size_t i = 0; i < g->n_nodes; i++) {
        g->view_ptrs[i] = &g->views[i];
        if (!g->present[i])
            continue;
        g->members[g->n_members++] = &g->views[i];
        if (g->views[i].role == AZR_ROLE_PRIMARY)
            g->primaries[g->n_primaries++] = i;
    }
}

azr_code azr__gen_build(azr_ctx *ctx, azr_cfg_ref *cfg,
                        const azr_node_spec *specs, size_t n,
                        const azr_gen *prev, azr_gen **out, char *errbuf)
{
    *out = NULL;
    /* Register every node first: the table covers all indexes known. */
    size_t known = ctx->n_entries;
    for (size_t k = 0; k < n; k++)
        if (azr__node_entry_find(ctx, &specs[k]) == SIZE_MAX)
            known++;
    if (known > AZR_MAX_NODES)
        return azr__set_err(errbuf, AZR_E_NO_NODE, "the table would reach "
                            "%zu nodes, more than the %d a context can "
                            "know", known, AZR_MAX_NODES);
    azr_gen *g = gen_alloc(known > 0 ? known : 1);
    if (g == NULL || azr__counters_reserve(ctx->counters, known) != AZR_OK) {
        if (g != NULL)
            azr__gen_free(ctx, g);
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    }
    g->n_nodes = known;
    g->cfg = cfg;
    cfg->refs++;
    azr_code rc = AZR_OK;
    for (size_t k = 0; k < n && rc == AZR_OK; k++)
        rc = fill_view(ctx, g, &specs[k], errbuf);
    if (rc == AZR_OK) {
        keep_departed(ctx, g, prev);
        azr__gen_mark_same_az(g, atomic_load_explicit(&ctx->caller_az,
                                                      memory_order_acquire));
        index_members(g);
        rc = azr__chain_create(ctx, g, prev, errbuf);
    }
    if (rc != AZR_OK) {
        azr__gen_free(ctx, g);
        return rc;
    }
    *out = g;
    return AZR_OK;
}

int azr__gen_same_table(const azr_gen *a, const azr_node_spec *specs,
                        size_t n, const azr_ctx *ctx)
{
    if (a->n_members != n)
        return 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = azr__node_entry_find(ctx, &specs[k]);
        if (i == SIZE_MAX || i >= a->n_nodes || !a->present[i])
            return 0;
        const azr_node_view *v = &a->views[i];
        const char *az = specs[k].az_id != NULL ? specs[k].az_id : "";
        if (v->role != specs[k].role || strcmp(v->az_id, az) != 0 ||
            (specs[k].id != NULL && strcmp(v->id, specs[k].id) != 0))
            return 0;
    }
    return 1;
}

void azr__gen_free(azr_ctx *ctx, azr_gen *g)
{
    (void)ctx;
    if (g == NULL)
        return;
    for (size_t k = 0; k < g->n_shards; k++) {
        free(g->shards[k].nodes);
        free(g->shards[k].ranges);
    }
    free(g->shards);
    free(g->slot_shard);
    free(g->node_shard);
    /* The chain in reverse order of creation. */
    for (size_t i = g->n_policies; i-- > 0;)
        azr__plugin_unload(&g->policies[i]);
    free(g->policies);
    free(g->chain);
    azr__cfg_ref_drop(g->cfg);
    free(g->views);
    free(g->view_ptrs);
    free(g->present);
    free(g->az_source);
    free(g->members);
    free(g->primaries);
    free(g);
}

void azr__gen_reclaim(azr_ctx *ctx, int all)
{
    azr_gen **link = &ctx->retired_gens;
    while (*link != NULL) {
        azr_gen *g = *link;
        if (all || !azr__rcu_in_use(g)) {
            *link = g->retired_next;
            azr__gen_free(ctx, g);
        } else {
            link = &g->retired_next;
        }
    }
}

void azr__gen_publish(azr_ctx *ctx, azr_gen *next)
{
    next->number = ++ctx->gen_number;
    azr_gen *old = atomic_exchange_explicit(&ctx->gen, next,
                                            memory_order_acq_rel);
    if (old != NULL) {
        old->retired_next = ctx->retired_gens;
        ctx->retired_gens = old;
        atomic_fetch_add_explicit(&ctx->topology_changes, 1,
                                  memory_order_relaxed);
    }
    /* Readers hold a table for a pick or an outcome (well under a
     * microsecond): the old one is almost always free again within a
     * millisecond. Writers only get here (the refresh thread, a reload),
     * never a request. What is still held is freed by the next swap, the
     * refresh thread's next round or azr_close(). */
    for (int tries = 0; tries < 3; tries++) {
        azr__gen_reclaim(ctx, 0);
        if (ctx->retired_gens == NULL)
            break;
        nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
    }
}

const char *azr__node_id(azr_ctx *ctx, size_t node)
{
    const azr_gen *g = azr__gen_enter(ctx);
    const char *id = g != NULL && node < g->n_nodes ? g->views[node].id : "?";
    azr__gen_leave();
    return id; /* interned: valid until azr_close() */
}

azr_code azr__gen_build_static(azr_ctx *ctx, azr_cfg_ref *cfg,
                               const azr_gen *prev, char *errbuf)
{
    const azr_config *c = cfg->cfg;
    azr_node_spec *specs = calloc(c->n_nodes > 0 ? c->n_nodes : 1,
                                  sizeof *specs);
    if (specs == NULL)
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    for (size_t i = 0; i < c->n_nodes; i++) {
        const azr_cfg_node *cn = &c->nodes[i];
        specs[i] = (azr_node_spec){
            .id = cn->id,
            .host = cn->host,
            .port = cn->port,
            .role = cn->role,
            .az_id = cn->az_id,
            .az_name = cn->az_name,
            .az_source = cn->az_name != NULL ? AZR_NODE_AZ_AZ_MAP
                                             : AZR_NODE_AZ_CONFIG,
            .weight = cn->weight,
            .priority = cn->priority,
            .by_id = 1,
        };
    }
    azr_gen *g;
    azr_code rc = azr__gen_build(ctx, cfg, specs, c->n_nodes, prev, &g,
                                 errbuf);
    if (rc == AZR_OK)
        azr__gen_publish(ctx, g);
    free(specs);
    return rc;
}

/* ---- cluster tables ---- */

/* Shard k's nodes (the primary first) and ranges, from the specs. */
static azr_code shard_fill(azr_ctx *ctx, azr_gen *g, size_t k,
                           const azr_shard_spec *spec,
                           const azr_node_spec *specs, size_t n)
{
    azr_gen_shard *sh = &g->shards[k];
    sh->primary = SIZE_MAX;
    sh->id = azr__intern(ctx, spec->id != NULL ? spec->id : "");
    sh->nodes = malloc((n > 0 ? n : 1) * sizeof *sh->nodes);
    sh->ranges = malloc((spec->n_ranges > 0 ? spec->n_ranges : 1) *
                        sizeof *sh->ranges);
    if (sh->id == NULL || sh->nodes == NULL || sh->ranges == NULL)
        return AZR_E_NOMEM;
    for (size_t j = 0; j < n; j++) {
        if (specs[j].shard != k)
            continue;
        size_t i = azr__node_entry_find(ctx, &specs[j]);
        if (i == SIZE_MAX || i >= g->n_nodes)
            continue;
        g->node_shard[i] = (uint16_t)k;
        if (specs[j].role == AZR_ROLE_PRIMARY && sh->primary == SIZE_MAX) {
            sh->primary = i;
            memmove(sh->nodes + 1, sh->nodes, sh->n_nodes * sizeof i);
            sh->nodes[0] = i;
        } else {
            sh->nodes[sh->n_nodes] = i;
        }
        sh->n_nodes++;
    }
    for (size_t r = 0; r < spec->n_ranges; r++) {
        sh->ranges[sh->n_ranges++] = spec->ranges[r];
        for (unsigned s = spec->ranges[r].first;
             s <= spec->ranges[r].last && s < AZR_SLOT_COUNT; s++)
            g->slot_shard[s] = (uint16_t)k;
    }
    return AZR_OK;
}

azr_code azr__gen_set_shards(azr_ctx *ctx, azr_gen *g,
                             const azr_shard_spec *shards, size_t n_shards,
                             const azr_node_spec *specs, size_t n,
                             char *errbuf)
{
    if (n_shards >= AZR_NO_SHARD)
        return azr__set_err(errbuf, AZR_E_PROTOCOL, "%zu shards: more than "
                            "a table holds", n_shards);
    g->shards = calloc(n_shards > 0 ? n_shards : 1, sizeof *g->shards);
    g->slot_shard = malloc(AZR_SLOT_COUNT * sizeof *g->slot_shard);
    g->node_shard = malloc(g->n_nodes * sizeof *g->node_shard);
    if (g->shards == NULL || g->slot_shard == NULL || g->node_shard == NULL)
        return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    g->n_shards = n_shards;
    for (size_t s = 0; s < AZR_SLOT_COUNT; s++)
        g->slot_shard[s] = AZR_NO_SHARD;
    for (size_t i = 0; i < g->n_nodes; i++)
        g->node_shard[i] = AZR_NO_SHARD;
    for (size_t k = 0; k < n_shards; k++)
        if (shard_fill(ctx, g, k, &shards[k], specs, n) != AZR_OK)
            return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
    return AZR_OK;
}

int azr__gen_same_shards(const azr_gen *a, const azr_shard_spec *shards,
                         size_t n_shards, const azr_node_spec *specs,
                         size_t n, const azr_ctx *ctx)
{
    if (a->slot_shard == NULL || a->n_shards != n_shards)
        return 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = azr__node_entry_find(ctx, &specs[k]);
        if (i == SIZE_MAX || i >= a->n_nodes ||
            a->node_shard[i] == AZR_NO_SHARD ||
            strcmp(a->shards[a->node_shard[i]].id,
                   shards[specs[k].shard].id) != 0)
            return 0;
    }
    size_t covered = 0, covered_before = 0;
    for (size_t s = 0; s < AZR_SLOT_COUNT; s++)
        covered_before += a->slot_shard[s] != AZR_NO_SHARD;
    for (size_t k = 0; k < n_shards; k++)
        for (size_t r = 0; r < shards[k].n_ranges; r++)
            for (unsigned s = shards[k].ranges[r].first;
                 s <= shards[k].ranges[r].last && s < AZR_SLOT_COUNT; s++) {
                uint16_t owner = a->slot_shard[s];
                if (owner == AZR_NO_SHARD ||
                    strcmp(a->shards[owner].id, shards[k].id) != 0)
                    return 0;
                covered++;
            }
    return covered == covered_before;
}
