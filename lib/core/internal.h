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

struct azr_plugin_env {
    azr_ctx *ctx;
    azr_loaded_plugin *plugin;
    azr_cfg_plugin_section *section; /* NULL: no section in the file */
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

/* Retired AZ ID strings: the pick path reads ctx->caller_az without a
 * lock, so a replaced string is kept until azr_close(). */
typedef struct azr_retired {
    struct azr_retired *next;
    char text[];
} azr_retired;

struct azr_pool; /* connection pool, lib/route/conn.c */

struct azr_ctx {
    azr_config *cfg;

    /* node table */
    size_t n_nodes;
    azr_node_view *views;                /* n_nodes */
    const azr_node_view **view_ptrs;     /* n_nodes, for create() */
    azr_counters *counters;              /* live statistics (counters.h) */

    /* plugins: chain policies in order, then the transport */
    azr_loaded_plugin *plugins;
    size_t n_plugins;
    azr_chain_link *chain;
    size_t n_chain;
    azr_loaded_plugin *transport;        /* NULL if none configured */
    char *plugin_dir;                    /* directory in effect */

    unsigned max_attempts;

    /* caller's AZ */
    _Atomic(const char *) caller_az;     /* NULL when unknown */
    azr_retired *retired;
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

    /* RESP3 push frames (host.c) */
    azr_push_fn push;
    void *push_userdata;
    _Atomic uint64_t pushes_unclaimed;

    /* node table changes since open (live topology) */
    _Atomic uint64_t topology_changes;
};

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
 * The one call from this folder up into lib/route/: azr_close() must end
 * what the connection layer started (see lib/README). */
void azr__pool_free(azr_ctx *ctx);

#endif /* AZR_LIB_INTERNAL_H */
