/*
 * internal.h - the context and its parts, shared by the files of lib/.
 * Nothing here is part of the ABI.
 */
#ifndef AZR_LIB_INTERNAL_H
#define AZR_LIB_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <azroute/azroute.h>
#include <azroute/plugin.h>

#include "../config/config.h"
#include "counters.h"
#include "rcu.h"

#define AZR_CACHE_LINE 64

/* The pick path treats the node table as one view per cache line:
 * context.c allocates the views on a line boundary (aligned_alloc, whose
 * size must be a multiple of the alignment), and chain.c vets candidate
 * pointers by their offset in the table. A view filling a line exactly
 * keeps every view on a line of its own. (A pointer is 8 bytes here: the
 * view is 64 bytes on LP64 targets.) */
_Static_assert(sizeof(azr_node_view) == AZR_CACHE_LINE,
               "an azr_node_view must fill exactly one cache line");


/* A plugin file loaded with dlopen, and the one instance this context made
 * of it. */
typedef struct azr_loaded_plugin azr_loaded_plugin;

typedef struct azr_cfg_ref azr_cfg_ref;

struct azr_plugin_env {
    azr_ctx *ctx;
    azr_loaded_plugin *plugin;
    azr_cfg_plugin_section *section; /* NULL: no section in the file */
    const azr_config *cfg;           /* the file the section is from */
    size_t n_nodes;                  /* a policy's table (node_count) */
};

struct azr_loaded_plugin {
    void *dl;                 /* dlopen handle */
    const azr_plugin *desc;   /* the descriptor inside the file */
    char *path;               /* file loaded */
    int init_done;            /* desc->init ran and succeeded */
    int in_chain;             /* chain position or -1 */
    azr_plugin_env env;
    void *state;              /* instance made by create(), or NULL */
};

/* The hot path's view of one chain link: copied out of the descriptor at
 * open so that a pick touches one compact array. */
typedef struct azr_chain_link {
    long (*pick)(void *state, const azr_pick_args *args,
                 const azr_node_view **cand, size_t n);
    void (*observe)(void *state, const azr_outcome *outcome);
    void *state;
    const char *name;
    int sees_cancelled; /* built for ABI >= 1.1: AZR_STATUS_CANCELLED */
} azr_chain_link;

/* A configuration shared by the generations built from it; counted under
 * ctx->gen_lock. */
struct azr_cfg_ref {
    azr_config *cfg;
    unsigned refs;
};

/* "No shard" in azr_gen.slot_shard and node_shard. */
#define AZR_NO_SHARD UINT16_MAX

/* One shard of a cluster table: its nodes (the primary first) and the
 * slots it serves. */
typedef struct azr_gen_shard {
    const char *id;                   /* interned */
    size_t primary;                   /* node index, SIZE_MAX: none */
    size_t *nodes;
    size_t n_nodes;
    azr_slot_range *ranges;
    size_t n_ranges;
} azr_gen_shard;

/* One node table with its chain (generation.h). Immutable once published
 * but for the views' same_az bytes. */
typedef struct azr_gen {
    uint64_t number;                  /* 1 for the table of azr_open() */
    azr_cfg_ref *cfg;
    size_t n_nodes;                   /* indexes 0..n_nodes-1 */
    azr_node_view *views;             /* n_nodes, one cache line each */
    const azr_node_view **view_ptrs;  /* n_nodes, for create() */
    unsigned char *present;           /* n_nodes: in the group now */
    unsigned char *az_source;         /* n_nodes: azr_node_az_source */
    const azr_node_view **members;    /* the present nodes, in index order */
    size_t n_members;
    size_t *primaries;                /* indexes of present primaries */
    size_t n_primaries;
    azr_loaded_plugin *policies;      /* the chain's instances */
    size_t n_policies;
    azr_chain_link *chain;            /* n_policies */
    /* cluster mode (NULL and 0 in the other modes) */
    azr_gen_shard *shards;
    size_t n_shards;
    uint16_t *slot_shard;             /* AZR_SLOT_COUNT: the shard serving
                                         each slot, AZR_NO_SHARD: none */
    uint16_t *node_shard;             /* n_nodes: a present node's shard */
    struct azr_gen *retired_next;
} azr_gen;

/* A node the context has known, at its stable index: the view handed to
 * the transport (identity only: id, host, port and index are what a
 * transport reads), which lives until azr_close(). */
typedef struct azr_node_entry {
    azr_node_view view;
    const char *tls_name;
} azr_node_entry;

/* view.index of a server discovery talks to before it is in the table:
 * the view is the first member of an azr_node_entry (host.c reads its
 * tls_name through it). */
#define AZR_DISCOVERY_INDEX ((size_t)-2)

/* Strings that readers may still point at (the caller's AZ ID, node ids,
 * hosts, AZs of any generation) are kept until azr_close(). */
typedef struct azr_retired {
    struct azr_retired *next;
    char text[];
} azr_retired;

struct azr_pool;      /* connection pool, lib/route/conn.c */
struct azr_topology;  /* discovery and its thread, lib/topology/ */

struct azr_ctx {
    azr_cfg_ref *cfg_ref;                /* the file of azr_open(): the */
    azr_config *cfg;                     /* transport was made from it */

    /* the current generation (generation.h); read in rcu sections */
    void *_Atomic gen;
    pthread_mutex_t gen_lock;            /* writers of everything below */
    azr_gen *retired_gens;
    uint64_t gen_number;
    azr_node_entry **entries;            /* AZR_MAX_NODES, by index */
    size_t n_entries;
    azr_retired *strings;                /* interned (azr__intern) */
    azr_counters *counters;              /* live statistics (counters.h) */

    /* the transport, made once from `cfg` */
    azr_loaded_plugin *transport;        /* NULL if none configured */
    char *plugin_dir;                    /* directory in effect */

    /* caller's AZ */
    _Atomic(const char *) caller_az;     /* NULL when unknown */
    pthread_mutex_t az_lock;             /* guards az_info and refresh */
    azr_az_info az_info;
    char *override_az_id;                /* from options / $AZROUTE_AZ_ID */

    /* logging, time, randomness */
    azr_log_fn log;
    void *log_userdata;
    azr_log_level log_level;
    azr_clock_fn clock;
    azr_random_fn random;
    void *source_userdata;

    struct azr_pool *pool;               /* lib/conn.c; NULL until used */
    struct azr_topology *topology;       /* NULL in static mode */
    _Atomic int topology_started;        /* fork epoch its thread was
                                            started in; 0: not yet */

    /* RESP3 push frames (host.c) */
    azr_push_fn push;
    void *push_userdata;
    _Atomic uint64_t pushes_unclaimed;

    /* node table changes since open (live topology) */
    _Atomic uint64_t topology_changes;

    /* cluster mode: slots a MOVED reply moved since the table was made
     * (AZR_SLOT_COUNT entries; NULL in the other modes). An entry is
     * (table number & 0xffff) << 16 | (node index + 1), and counts only
     * for that table: a new table starts from what discovery said. */
    _Atomic uint32_t *moved;
    _Atomic uint64_t redirects_moved, redirects_ask, cluster_retries;
};

/* The current generation, held until azr__gen_leave() (rcu.h). */
static inline azr_gen *azr__gen_enter(azr_ctx *ctx)
{
    return azr__rcu_enter(&ctx->gen);
}

static inline void azr__gen_leave(void)
{
    azr__rcu_leave();
}

/* context.c: loads and creates g's policy chain (from g->cfg), carrying
 * per-node state over from prev's instances where the plugin can. */
azr_code azr__chain_create(azr_ctx *ctx, azr_gen *g, const azr_gen *prev,
                           char *errbuf);
/* context.c: learns the caller's AZ ID (under az_lock) and marks the
 * same-AZ nodes of the current table. */
azr_code azr__learn_az(azr_ctx *ctx);

/* errors.c: copies a formatted one-line message into errbuf (may be NULL)
 * and returns code. */
azr_code azr__set_err(char *errbuf, azr_code code, const char *fmt, ...)
    AZR_PRINTF(3, 4);
/* The azr_code of a plugin operation's int return: 0 is AZR_OK, an
 * azr_code is itself, anything else (negative, unknown) AZR_E_PLUGIN. */
azr_code azr__code_from_plugin(int rc);

/* log.c: logs through the context's callback if `level` is enabled. */
void azr__log(const azr_ctx *ctx, azr_log_level level, const char *fmt, ...)
    AZR_PRINTF(3, 4);
void azr__logv(const azr_ctx *ctx, azr_log_level level, const char *fmt,
               va_list ap) AZR_PRINTF(3, 0);

/* host.c: the services table handed to every plugin. */
extern const azr_host_services azr__host_services_table;
/* Time and randomness as the context defines them. */
uint64_t azr__ctx_now_ns(const azr_ctx *ctx);
uint64_t azr__ctx_random(const azr_ctx *ctx);
/* The thread's last plugin error message, cleared by reset. */
void azr__plugin_error_reset(void);
const char *azr__plugin_error_message(void);
/* 1 if that message already starts with the option's FILE:LINE. */
int azr__plugin_error_located(void);

/* plugin_loader.c: loads `name` (plain name in plugin_dir, or an absolute
 * path) and checks it is a usable plugin of `kind`. `where` ("FILE:LINE")
 * prefixes the one-line error. */
azr_code azr__plugin_load(azr_loaded_plugin *out, const char *name,
                          const char *plugin_dir, azr_plugin_kind kind,
                          const char *where, char *err, size_t errlen);
/* Destroys the instance (if any), runs fini, dlcloses. */
void azr__plugin_unload(azr_loaded_plugin *p);

/* route/conn.c: closes the idle connections of the pool and frees it.
 * One of the two calls from this folder up: azr_close() must end what the
 * connection layer started (see lib/README). */
void azr__pool_free(azr_ctx *ctx);
/* route/conn.c: closes the idle connections to node `index` (it left the
 * group). */
void azr__pool_drain(azr_ctx *ctx, size_t index);

/* topology/topology.c: the first table of a live context (discovery), and
 * its end (the refresh thread stopped) at azr_close(). The other calls
 * going up (lib/README). */
azr_code azr__topology_open(azr_ctx *ctx, char *errbuf);
void azr__topology_close(azr_ctx *ctx);

#endif /* AZR_LIB_INTERNAL_H */
