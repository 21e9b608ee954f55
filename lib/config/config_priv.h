/*
 * config_priv.h - helpers shared by config.c (azroute.ini) and nodes_env.c
 * (the nodes_env variable), so that a node is validated and its AZ resolved
 * by the same rules wherever it was written. Not used outside lib/config*.
 */
#ifndef AZR_LIB_CONFIG_PRIV_H
#define AZR_LIB_CONFIG_PRIV_H

#include <stddef.h>

#include "config.h"

/* Longest value quoted back in an error message (longer ones end in
 * "..."), so that a message always fits AZR_ERRBUF_SIZE with its file name
 * and never echoes a whole nodes_env value. */
#define AZR_CFG_QUOTE_MAX 48
/* Size of a buffer for azr_cfg_quote(). */
#define AZR_CFG_QUOTE_BUF (AZR_CFG_QUOTE_MAX + 4)

/* Allowed ranges of the numeric node keys. */
#define AZR_CFG_PORT_MAX 65535u
#define AZR_CFG_WEIGHT_MAX 1000000u
#define AZR_CFG_PRIORITY_MAX 1000u
/* Longest node id and host name. */
#define AZR_CFG_NODE_ID_MAX 64
#define AZR_CFG_HOST_MAX 253

/* Writes a printable, length-capped copy of `s` into buf (non-printable
 * bytes become '?') and returns buf. */
const char *azr_cfg_quote(char buf[AZR_CFG_QUOTE_BUF], const char *s);

/* Formats one line into err (err may be NULL or errlen 0) and returns
 * code. */
azr_code azr_cfg_err(char *err, size_t errlen, azr_code code,
                     const char *fmt, ...) AZR_PRINTF(4, 5);

/* Parses a decimal integer in [min, max]: digits only, no sign, no
 * whitespace, no trailing characters. Returns 0 and sets *out, or -1. */
int azr_cfg_parse_uint(const char *s, unsigned min, unsigned max,
                       unsigned *out);

/* 1 if `s` is a valid node id: [A-Za-z0-9._:-]{1,64}. */
int azr_cfg_node_id_valid(const char *s);

/* 1 if `s` is a plausible host: a DNS name, an IPv4 or an IPv6 address
 * ([A-Za-z0-9._:%-]{1,253}). Resolution happens at connect time. */
int azr_cfg_host_valid(const char *s);

/* 1 if `s` has the shape of an AZ name: [a-z0-9-], at most
 * AZR_AZ_ID_MAX - 1 characters ("ap-northeast-1a", "us-west-2-lax-1a"). */
int azr_cfg_az_name_valid(const char *s);

/* Parses "primary" / "replica". Returns 0 and sets *role, or -1. */
int azr_cfg_parse_role(const char *s, azr_role *role);

/* Appends a zeroed node (weight 1) and returns it, or NULL when out of
 * memory. The caller checks AZR_MAX_NODES first. Pointers to earlier nodes
 * are invalidated. */
azr_cfg_node *azr_cfg_node_append(azr_config *cfg);

/* Frees the strings of one node. */
void azr_cfg_node_clear(azr_cfg_node *node);

/* Index of the node with this id, or -1. */
long azr_cfg_node_find(const azr_config *cfg, const char *id);

/*
 * Resolves a node's AZ. node->az_id may already hold an explicit AZ ID (it
 * wins); `az` (NULL or "" when absent) is a name looked up in [az_map] or,
 * if it has the shape of an AZ ID, the ID itself. On success node->az_id is
 * set and node->az_name holds the name as written (NULL when none or an ID
 * was given). A contradiction between an explicit ID and `az` is an error.
 * Returns AZR_OK, AZR_E_CONFIG or AZR_E_NOMEM with the reason (no location
 * prefix) in msg.
 */
azr_code azr_cfg_resolve_az(const azr_config *cfg, azr_cfg_node *node,
                            const char *az, char *msg, size_t msglen);

/* config_stats.c: the [stats] keys. Each sets its field of *st or returns
 * AZR_E_CONFIG (or AZR_E_NOMEM) with the reason in why (no file:line). */
azr_code azr_cfg_stats_namespace(azr_cfg_stats *st, const char *value,
                                 char *why, size_t whylen);
azr_code azr_cfg_stats_dimensions(azr_cfg_stats *st, const char *value,
                                  char *why, size_t whylen);
azr_code azr_cfg_stats_price(azr_cfg_stats *st, const char *value,
                             char *why, size_t whylen);
/* Frees what the [stats] keys allocated. */
void azr_cfg_stats_clear(azr_cfg_stats *st);

#endif /* AZR_LIB_CONFIG_PRIV_H */
