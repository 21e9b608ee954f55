/*
 * config_priv.h - the parts of lib/config/ as seen by each other: the node
 * table shared by [node] sections (the loader) and nodes_env
 * (nodes_env.c), so that a node is validated and its AZ resolved by the
 * same rules wherever it was written, the plugin-section lookup rule, the
 * [stats] keys and the [topology] values. Not used outside lib/config/.
 *
 * Dependencies run one way: the loader (config.c and config_*.c) uses
 * nodes_env.c, config_stats.c, config_topology.c, config_data.c and
 * values.c; nodes_env.c uses config_topology.c (the mode names),
 * config_data.c and values.c; nothing calls back into the loader.
 */
#ifndef AZR_LIB_CONFIG_PRIV_H
#define AZR_LIB_CONFIG_PRIV_H

#include <stddef.h>

#include "config.h"
#include "values.h"

/* Allowed ranges of the numeric node keys. */
#define AZR_CFG_PORT_MAX 65535u
#define AZR_CFG_WEIGHT_MAX 1000000u
#define AZR_CFG_PRIORITY_MAX 1000u

/* ---- config_data.c: building and reading an azr_config ----------------- */

/* Grows an array whose capacity is implicit: the next power of two >= n
 * (at least 4). Called before appending element n. Returns the (maybe
 * moved) array or NULL on ENOMEM (the old array is then untouched). */
void *azr__cfg_grow(void *arr, size_t n, size_t elem);

/* Appends a zeroed node (weight 1) and returns it, or NULL when out of
 * memory. The caller checks AZR_MAX_NODES first. Pointers to earlier nodes
 * are invalidated. */
azr_cfg_node *azr__cfg_node_append(azr_config *cfg);

/* Frees the strings of one node. */
void azr__cfg_node_clear(azr_cfg_node *node);

/* Index of the node with this id, or -1. */
long azr__cfg_node_find(const azr_config *cfg, const char *id);

/*
 * Resolves a node's AZ. node->az_id may already hold an explicit AZ ID (it
 * wins); `az` (NULL or "" when absent) is a name looked up in [az_map] or,
 * if it has the shape of an AZ ID, the ID itself. On success node->az_id is
 * set and node->az_name holds the name as written (NULL when none or an ID
 * was given). A contradiction between an explicit ID and `az` is an error.
 * Returns AZR_OK, AZR_E_CONFIG or AZR_E_NOMEM with the reason (no location
 * prefix) in msg.
 */
azr_code azr__cfg_resolve_az(const azr_config *cfg, azr_cfg_node *node,
                             const char *az, char *msg, size_t msglen);

/* 1 if section name `sname` configures chain/transport entry `entry`:
 * the same text, or the stem of an entry given by absolute path
 * (azr__cfg_plugin_stem). */
int azr__cfg_section_matches(const char *sname, const char *entry);

/* The [metadata] source as written in azroute.ini ("auto", "lambda", ...). */
const char *azr__cfg_md_source_name(azr_md_source_kind kind);
/* Parses such a name. Returns 0 and sets *kind, or -1. */
int azr__cfg_md_source_parse(const char *s, azr_md_source_kind *kind);

/* ---- config_stats.c: the [stats] keys ---------------------------------- */

/* Each sets its field of *st or returns AZR_E_CONFIG (or AZR_E_NOMEM) with
 * the reason in why (no file:line). */
azr_code azr__cfg_stats_namespace(azr_cfg_stats *st, const char *value,
                                  char *why, size_t whylen);
azr_code azr__cfg_stats_dimensions(azr_cfg_stats *st, const char *value,
                                   char *why, size_t whylen);
azr_code azr__cfg_stats_price(azr_cfg_stats *st, const char *value,
                              char *why, size_t whylen);
/* Frees what the [stats] keys allocated. */
void azr__cfg_stats_clear(azr_cfg_stats *st);

/* ---- config_topology.c: the [topology] values -------------------------- */
/* Parses such a name. Returns 0 and sets *mode, or -1. */
int azr__cfg_topo_mode_parse(const char *s, azr_topology_mode *mode);

/* Parses `seeds = host[:port], ...` (value not empty) into cfg->seeds,
 * replacing nothing: the caller calls it once. On failure cfg->seeds is
 * left empty and AZR_E_CONFIG (or AZR_E_NOMEM) returned with the reason in
 * why (no file:line). */
azr_code azr__cfg_topo_seeds(azr_config *cfg, const char *value, char *why,
                             size_t whylen);
/* Frees the seeds. */
void azr__cfg_topo_clear(azr_config *cfg);

#endif /* AZR_LIB_CONFIG_PRIV_H */
