/*
 * config_parse.h - the azroute.ini loader's parts as seen by each other:
 *
 *   config.c        loading: the file or string in, the azr_config out
 *   config_lex.c    the line lexer: lines, section headers, key = value
 *   config_keys.c   per-section handlers: opening a section, each key
 *   config_check.c  checks after the parse (the [topology] mode's rules
 *                   among them), then nodes_env
 *   config_parse.c  the parser's first-error record and section labels
 *
 * Calls go down that list (config.c -> lexer -> key handlers, config.c ->
 * checks; all -> config_parse.c), never back up. Not used outside
 * lib/config/.
 */
#ifndef AZR_LIB_CONFIG_PARSE_H
#define AZR_LIB_CONFIG_PARSE_H

#include <stddef.h>

#include "config_priv.h"

/* Longest line accepted, in characters without the line break: room for
 * every legal value after its key, with a comment: a host (253), and a
 * path (plugin_dir, cache_file, ca_file, ...) of up to PATH_MAX (4096). */
#define AZR_CFG_LINE_MAX 8192

typedef enum azr_cfg_sec_kind {
    SEC_NONE = 0,
    SEC_AZROUTE,
    SEC_METADATA,
    SEC_AZ_MAP,
    SEC_NODE,
    SEC_POLICY,
    SEC_TRANSPORT,
    SEC_STATS,
    SEC_TOPOLOGY
} azr_cfg_sec_kind;

/* Keys of the fixed sections (their names: config_keys.c); the parser's
 * arrays index the line each key was seen on (0 = not yet), for duplicate
 * detection and later messages. */
enum { KA_POLICY, KA_TRANSPORT, KA_PLUGIN_DIR, KA_NODES_ENV,
       KA_MAX_ATTEMPTS, KA_N };
enum { KM_SOURCE, KM_AZ_ID, KM_TIMEOUT_MS, KM_CACHE_FILE, KM_N };
enum { KS_NAMESPACE, KS_DIMENSIONS, KS_PRICE, KS_N };
enum { KT_MODE, KT_SEEDS, KT_REFRESH_MS, KT_FAILOVER_WAIT_MS, KT_N };
enum { KN_HOST, KN_PORT, KN_AZ, KN_AZ_ID, KN_ROLE, KN_WEIGHT, KN_PRIORITY,
       KN_N };

/* What the parser keeps about a [node] section beyond azr_cfg_node: the
 * lines of its keys and the raw `az` value, resolved after the parse. */
typedef struct azr_cfg_node_extra {
    unsigned key_line[KN_N];
    char *az;
} azr_cfg_node_extra;

/* One load in progress. */
typedef struct azr_cfg_parser {
    azr_config *cfg;
    const char *name;        /* file name for messages */

    /* input, read line by line */
    const char *text;
    size_t len;
    size_t pos;
    unsigned lineno;

    /* first error (earliest line wins) */
    int has_err;
    unsigned err_line;
    azr_code code;
    char *err;
    size_t errlen;

    /* the section being read */
    azr_cfg_sec_kind sec;
    size_t sec_index;        /* node or plugin section index */

    unsigned azroute_line, az_map_line, stats_line;
    unsigned azroute_key_line[KA_N];
    unsigned metadata_key_line[KM_N];
    unsigned stats_key_line[KS_N];
    unsigned topology_key_line[KT_N];

    azr_cfg_node_extra *nx;  /* one per [node] section */
    size_t n_nx;
} azr_cfg_parser;

/* ---- config_parse.c ---------------------------------------------------- */

/* Records an error at `line` (0: no line applies) unless an earlier one is
 * already recorded: "FILE:LINE: message" (or "FILE: message") into the
 * parser's err. Returns 0, so a handler can `return azr__cfg_perr(...)`. */
int azr__cfg_perr(azr_cfg_parser *p, unsigned line, azr_code code,
                  const char *fmt, ...) AZR_PRINTF(4, 5);

/* Records "out of memory" at the line being read. Returns 0. */
int azr__cfg_nomem(azr_cfg_parser *p);

/* "[node a]" for the section being read, into buf; returns buf or a
 * constant label. */
const char *azr__cfg_sec_label(const azr_cfg_parser *p, char *buf,
                               size_t buflen);

/* ---- config_lex.c ------------------------------------------------------ */

/* Reads every line of the input, in order, until the end or the first
 * error: headers open their section, keys go to azr__cfg_on_key. `buf`
 * holds AZR_CFG_LINE_MAX + 1 bytes. */
void azr__cfg_lex(azr_cfg_parser *p, char *buf);

/* ---- config_keys.c ----------------------------------------------------- */

/* One "key = value" of line p->lineno, in the section being read.
 * Returns 0 once an error is recorded, else 1. */
int azr__cfg_on_key(azr_cfg_parser *p, const char *name, const char *value);

/* Opens the section [node ID]. Returns 0 once an error is recorded. */
int azr__cfg_open_node(azr_cfg_parser *p, const char *id);

/* Opens [policy NAME] (sec = SEC_POLICY) or [transport NAME]
 * (SEC_TRANSPORT). Returns 0 once an error is recorded. */
int azr__cfg_open_plugin_section(azr_cfg_parser *p, azr_cfg_sec_kind sec,
                                 const char *name);

/* Records "duplicate section LABEL (first at line FIRST)". Returns 0. */
int azr__cfg_dup_section(azr_cfg_parser *p, const char *label,
                         unsigned first);

/* ---- config_check.c ---------------------------------------------------- */

/* The checks that need the whole file, then nodes_env and the node count,
 * each recording its first problem (the earliest line wins). Runs on a
 * parse without error; returns 0 once an error is recorded. */
int azr__cfg_check(azr_cfg_parser *p);

#endif /* AZR_LIB_CONFIG_PARSE_H */
