/*
 * config.h - azroute.ini (and nodes_env) parsed into plain data.
 *
 * The loader validates everything that can be validated without plugins:
 * sections, keys, values, node uniqueness, AZ names against [az_map]. Keys
 * of [policy NAME] / [transport NAME] sections are kept as raw options with
 * their line numbers; the plugin reads them through the host, and the host
 * reports the first one it never read as an unknown key (file:line).
 *
 * Error messages are one line, "FILE:LINE: message" (or "FILE: message"
 * when no line applies; for nodes_env: "FILE:LINE: nodes_env VAR entry N:
 * message" with the line of the nodes_env key).
 */
#ifndef AZR_LIB_CONFIG_H
#define AZR_LIB_CONFIG_H

#include <stddef.h>

#include <azroute/azroute.h>

#include "values.h" /* the value rules, azr__az_id_valid() among them */

/* [azroute] max_attempts: the default and the upper bound. The bound also
 * sizes the routing layer's record of the nodes one request tried
 * (lib/route/route.h). */
#define AZR_ATTEMPTS_DEFAULT 3u
#define AZR_ATTEMPTS_CAP 16u

/* [metadata] timeout_ms: the default (also what a metadata source uses
 * when handed no configuration) and the upper bound. */
#define AZR_MD_DEFAULT_TIMEOUT_MS 1000u
#define AZR_MD_TIMEOUT_MAX_MS 60000u

typedef enum azr_md_source_kind {
    AZR_MD_AUTO = 0,
    AZR_MD_LAMBDA,
    AZR_MD_IMDS,
    AZR_MD_ECS,
    AZR_MD_STATIC,
    AZR_MD_NONE
} azr_md_source_kind;

/* [topology] refresh_ms and failover_wait_ms: defaults and upper bounds
 * (both accept 0). */
#define AZR_TOPO_REFRESH_DEFAULT_MS 60000u
#define AZR_TOPO_REFRESH_MAX_MS 86400000u
#define AZR_TOPO_FAILOVER_WAIT_DEFAULT_MS 2000u
#define AZR_TOPO_FAILOVER_WAIT_MAX_MS 60000u
/* The port of a seed written without one. */
#define AZR_TOPO_SEED_PORT_DEFAULT 6379u

/* [topology] mode: where the node table comes from. In static mode the
 * [node] sections (and nodes_env) are the group, as written; in the other
 * modes the servers are asked, and [node] sections are only hints (AZ,
 * weight, priority of the node with the same host and port). */
typedef enum azr_topology_mode {
    AZR_TOPO_STATIC = 0,
    AZR_TOPO_REPLICATION = 1,
    AZR_TOPO_CLUSTER = 2
} azr_topology_mode;

/* One entry of [topology] seeds: where discovery starts. */
typedef struct azr_cfg_seed {
    char *host;      /* host name, IPv4 or IPv6 literal (brackets removed) */
    unsigned port;   /* default 6379 */
} azr_cfg_seed;

/* A [node ID] section or nodes_env entry. In static mode every field is
 * set as described. In modes replication and cluster the node is a hint:
 * az_id is NULL when no AZ was given (az_name too), and `role` is
 * meaningless (it is never written there: the servers report roles);
 * has_role is then 0. */
typedef struct azr_cfg_node {
    char *id;
    char *host;
    unsigned port;          /* 1..65535 */
    char *az_id;            /* resolved AZ ID; never NULL after a load in
                               static mode, NULL in the other modes when
                               no AZ was given */
    char *az_name;          /* the name as written, or NULL if an ID was */
    azr_role role;          /* static mode only */
    int has_role;           /* 1 when `role` was written (always, in static
                               mode; never in the others) */
    unsigned weight;        /* >= 1, default 1 */
    unsigned priority;      /* default 0 (highest tier) */
    unsigned line;          /* line of the [node ...] header or nodes_env */
} azr_cfg_node;

typedef struct azr_cfg_az_map_entry {
    char *name;
    char *id;
    unsigned line;
} azr_cfg_az_map_entry;

/* One key of a [policy NAME] or [transport NAME] section. `read` is set
 * by the host when the plugin asks for the key. */
typedef struct azr_cfg_option {
    char *key;
    char *value;
    unsigned line;
    int read;
} azr_cfg_option;

typedef enum azr_cfg_section_kind {
    AZR_CFG_POLICY = 1,
    AZR_CFG_TRANSPORT = 2
} azr_cfg_section_kind;

/* A [policy NAME] or [transport NAME] section. A section whose plugin is
 * neither in the chain nor the transport is an error at load. */
typedef struct azr_cfg_plugin_section {
    azr_cfg_section_kind kind;
    char *name;
    unsigned line;
    azr_cfg_option *options;
    size_t n_options;
} azr_cfg_plugin_section;

/* One static CloudWatch dimension ([stats] dimensions = Name=Value, ...). */
typedef struct azr_cfg_dimension {
    char *name;
    char *value;
} azr_cfg_dimension;

/* [stats]: how statistics are exported (azr_stats_format). */
typedef struct azr_cfg_stats {
    char *emf_namespace;         /* NULL: "azroute" */
    azr_cfg_dimension *dimensions;
    size_t n_dimensions;
    double price_per_gb;         /* cross_az_price_per_gb, default 0.01 */
} azr_cfg_stats;

typedef struct azr_config {
    char *path;                 /* as given to the loader */

    /* [azroute] */
    char **policy;              /* chain, left to right; default:
                                   failover, same_az, weighted_latency */
    size_t n_policy;
    unsigned policy_line;       /* 0 when defaulted */
    char *transport;            /* NULL: none configured */
    unsigned transport_line;
    char *plugin_dir;           /* NULL: default */
    unsigned plugin_dir_line;
    unsigned max_attempts;      /* default AZR_ATTEMPTS_DEFAULT,
                                   1..AZR_ATTEMPTS_CAP */
    char *nodes_env;            /* variable name, or NULL */
    unsigned nodes_env_line;

    /* [metadata] */
    azr_md_source_kind md_source;   /* default AZR_MD_AUTO */
    char *md_az_id;                 /* source = static */
    unsigned md_timeout_ms;         /* default AZR_MD_DEFAULT_TIMEOUT_MS,
                                       1..AZR_MD_TIMEOUT_MAX_MS */
    char *md_cache_file;            /* optional file cache; NULL = off */
    unsigned md_line;               /* line of the [metadata] header */

    /* [az_map] */
    azr_cfg_az_map_entry *az_map;
    size_t n_az_map;

    /* [node ID] sections, then nodes_env entries, in order */
    azr_cfg_node *nodes;
    size_t n_nodes;

    azr_cfg_plugin_section *sections;
    size_t n_sections;

    /* [stats] */
    azr_cfg_stats stats;

    /* [topology] */
    azr_topology_mode topo_mode;   /* default AZR_TOPO_STATIC */
    unsigned topo_line;            /* line of the [topology] header, 0 if
                                      none */
    azr_cfg_seed *seeds;           /* as written; empty: none given (static
                                      mode: always empty) */
    size_t n_seeds;                /* at most AZR_MAX_NODES */
    unsigned refresh_ms;           /* default AZR_TOPO_REFRESH_DEFAULT_MS,
                                      0 (only on events) ..
                                      AZR_TOPO_REFRESH_MAX_MS */
    unsigned failover_wait_ms;     /* default
                                      AZR_TOPO_FAILOVER_WAIT_DEFAULT_MS,
                                      0..AZR_TOPO_FAILOVER_WAIT_MAX_MS */
} azr_config;

/* Loads and validates the file at `path`. On success *out is a config the
 * caller frees with azr__config_free(). On failure returns AZR_E_CONFIG (or
 * AZR_E_NOMEM) with one line in err. The nodes_env variable is read with
 * getenv() during the load. */
azr_code azr__config_load(const char *path, azr_config **out, char *err,
                          size_t errlen);

/* As azr__config_load() on an in-memory text; `name` stands for the file
 * name in messages. Used by the fuzz target and the unit tests. */
azr_code azr__config_load_string(const char *text, const char *name,
                                 azr_config **out, char *err, size_t errlen);

/* Parses a nodes_env value ("id|address|port|az_id|az_name|role", comma
 * separated) and appends its nodes to cfg (AZ resolution as for [node]:
 * az_id wins; else az_name through [az_map]). `where` prefixes messages.
 * Duplicate ids (also against existing nodes) are errors. The rules follow
 * cfg->topo_mode: in static mode role and an AZ are required; in the other
 * modes the AZ fields may be empty and the role field must be. */
azr_code azr__config_add_nodes_env(azr_config *cfg, const char *value,
                                   const char *where, char *err,
                                   size_t errlen);

/* Looks up an AZ name in [az_map]; NULL if absent. */
const char *azr__config_map_az(const azr_config *cfg, const char *name);

/* Finds the section for plugin `name` of `kind`; NULL if none. */
azr_cfg_plugin_section *azr__config_section(azr_config *cfg,
                                            azr_cfg_section_kind kind,
                                            const char *name);

void azr__config_free(azr_config *cfg);

/* The mode as written in azroute.ini ("static", "replication",
 * "cluster"). */
const char *azr__cfg_topo_mode_name(azr_topology_mode mode);

#endif /* AZR_LIB_CONFIG_H */
