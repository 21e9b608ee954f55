/*
 * generation.h - the node table and the policy chain as one immutable
 * generation, replaced as a whole when the group changes (live topology)
 * or the file is reloaded.
 *
 * Readers (a pick, an outcome, a statistics read) enter a read section
 * (rcu.h) and use the generation current at that moment without a lock;
 * writers build the next generation aside, under ctx->gen_lock, publish it
 * with one atomic store and free the old one once no reader holds it.
 *
 * Node indexes are stable for the context: a node (host and port) gets the
 * next free index the first time any generation has it and keeps it, so
 * counters, pooled connections and the transport's view of a node stay
 * put. A generation's table covers every index known when it was built;
 * nodes that left the group are in it with present[] 0 and are never
 * offered to the chain.
 */
#ifndef AZR_LIB_GENERATION_H
#define AZR_LIB_GENERATION_H

#include "internal.h"

/* One node of a table being built: what configuration or discovery says. */
typedef struct azr_node_spec {
    const char *id;          /* NULL: "host:port" */
    const char *host;
    unsigned port;
    azr_role role;
    const char *az_id;       /* NULL or "": unknown */
    const char *az_name;     /* NULL: given by ID */
    azr_node_az_source az_source;
    unsigned weight;         /* 0 is read as 1 */
    unsigned priority;
    const char *tls_name;    /* NULL: host */
    int by_id;               /* static tables: a node is its [node]
                                section (two may share an address) */
    size_t shard;            /* cluster tables: index in the shard specs */
} azr_node_spec;

/* One shard of a cluster table being built. */
typedef struct azr_shard_spec {
    const char *id;
    const azr_slot_range *ranges; /* ascending, disjoint, within
                                     0..AZR_SLOT_COUNT-1 */
    size_t n_ranges;
} azr_shard_spec;

/* Builds the generation for `specs` (n <= AZR_MAX_NODES, distinct
 * host:port) under `cfg` (a reference is taken), with a new instance of
 * every policy of cfg's chain; policies built for ABI >= 1.2 take over the
 * per-node state of `prev`'s instances (may be NULL). Caller holds
 * ctx->gen_lock. */
azr_code azr__gen_build(azr_ctx *ctx, azr_cfg_ref *cfg,
                        const azr_node_spec *specs, size_t n,
                        const azr_gen *prev, azr_gen **out, char *errbuf);

/* Makes g (built by azr__gen_build from `specs`, not yet published) a
 * cluster table: its shards, which slots each serves and each node's
 * shard (specs[k].shard). The primary of a shard is its node whose spec
 * says AZR_ROLE_PRIMARY. Caller holds gen_lock. */
azr_code azr__gen_set_shards(azr_ctx *ctx, azr_gen *g,
                             const azr_shard_spec *shards, size_t n_shards,
                             const azr_node_spec *specs, size_t n,
                             char *errbuf);

/* 1 if cluster table `a` has the same shards (by id) serving the same
 * slots with the same nodes as the specs (azr__gen_same_table compares
 * the nodes themselves). */
int azr__gen_same_shards(const azr_gen *a, const azr_shard_spec *shards,
                         size_t n_shards, const azr_node_spec *specs,
                         size_t n, const azr_ctx *ctx);

/* Builds and publishes the table of a static context: cfg's [node]
 * sections as written. Caller holds gen_lock. */
azr_code azr__gen_build_static(azr_ctx *ctx, azr_cfg_ref *cfg,
                               const azr_gen *prev, char *errbuf);

/* Makes `next` current, retires the previous generation and frees every
 * retired generation no reader holds any more. Caller holds gen_lock. */
void azr__gen_publish(azr_ctx *ctx, azr_gen *next);

/* Frees retired generations no reader holds (all of them when `all`, at
 * azr_close(), when no reader can be left). Caller holds gen_lock or is
 * closing. */
void azr__gen_reclaim(azr_ctx *ctx, int all);

/* Frees a generation that was never published, or at close. */
void azr__gen_free(azr_ctx *ctx, azr_gen *g);

/* 1 if the two tables hold the same nodes with the same roles and AZs
 * (a refresh that changes nothing publishes nothing). */
int azr__gen_same_table(const azr_gen *a, const azr_node_spec *specs,
                        size_t n, const azr_ctx *ctx);

/* The string `s` owned by the context until azr_close(), shared with any
 * equal string interned before. NULL on ENOMEM. Caller holds gen_lock. */
const char *azr__intern(azr_ctx *ctx, const char *s);

/* Index of spec's node (by id when spec->by_id, else by host:port), or
 * SIZE_MAX if the context never had it. Caller holds gen_lock. */
size_t azr__node_entry_find(const azr_ctx *ctx, const azr_node_spec *spec);

/* Recomputes same_az on every view of `g` for the caller's AZ `az` (NULL:
 * unknown). Caller holds gen_lock. */
void azr__gen_mark_same_az(azr_gen *g, const char *az);

/* Node `node`'s id in the current table, valid until azr_close(). */
const char *azr__node_id(azr_ctx *ctx, size_t node);

/* The refcounted configuration generations share. */
azr_cfg_ref *azr__cfg_ref_new(azr_config *cfg);
void azr__cfg_ref_drop(azr_cfg_ref *ref);

#endif /* AZR_LIB_GENERATION_H */
