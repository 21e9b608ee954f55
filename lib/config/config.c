/*
 * config.c - azroute.ini, read line by line and validated into an
 * azr_config.
 *
 * The syntax is the INI dialect inih reads (azroute.ini(5), SYNTAX), lexed
 * here rather than by inih's ini_parse_stream(), which could not give
 * what the format promises:
 *  - lines up to CFG_LINE_MAX characters: inih's line buffer is fixed when
 *    libinih is built (199 characters in Debian's), too short for a
 *    253-character host or a long path; a longer line is refused, never
 *    split;
 *  - a syntax that no one else in the process can change: Debian's libinih
 *    turns its build options into process-wide variables (ini_max_line,
 *    ini_allow_no_value, ini_allow_inline_comments, ...), so an embedding
 *    program that also uses inih could change how azroute reads its file,
 *    or crash it (a key without '=' handed over with a NULL value);
 *  - blanks are ' ', \t, \n, \v, \f and \r whatever the locale (inih uses
 *    isspace());
 *  - line numbers, sections with no keys, section names of any length,
 *    and no continuation lines: an indented "key = value" is an ordinary
 *    key.
 * Parsing stops at the first error; the message names FILE:LINE.
 *
 * Checks that need the whole file ([az_map] may follow the [node] sections
 * that use it, [azroute] policy may follow [policy NAME]) run after the
 * parse, reporting the earliest line; then nodes_env is read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_priv.h"

/* Largest azroute.ini accepted: far above 1024 nodes of 8 lines each. */
#define CFG_FILE_MAX (4u * 1024 * 1024)
/* Longest line accepted, in characters without the line break: room for
 * every legal value after its key, with a comment: a host (253), and a
 * path (plugin_dir, cache_file, ca_file, ...) of up to PATH_MAX (4096). */
#define CFG_LINE_MAX 8192
/* Bounds that keep the duplicate checks (quadratic) cheap on any input. */
#define CFG_AZ_MAP_MAX 1024
#define CFG_SECTIONS_MAX 64
#define CFG_OPTIONS_MAX 256
#define CFG_PLUGIN_NAME_MAX 32
#define CFG_ENV_NAME_MAX 64

static const char *const default_policy[] = {
    "failover", "same_az", "weighted_latency"
};

typedef enum sec_kind {
    SEC_NONE = 0,
    SEC_AZROUTE,
    SEC_METADATA,
    SEC_AZ_MAP,
    SEC_NODE,
    SEC_POLICY,
    SEC_TRANSPORT,
    SEC_STATS
} sec_kind;

/* Keys of the fixed sections; the arrays index the line each key was seen
 * on (0 = not yet), for duplicate detection and later messages. */
enum { KA_POLICY, KA_TRANSPORT, KA_PLUGIN_DIR, KA_NODES_ENV,
       KA_MAX_ATTEMPTS, KA_N };
static const char *const azroute_keys[KA_N] = {
    "policy", "transport", "plugin_dir", "nodes_env", "max_attempts"
};
enum { KM_SOURCE, KM_AZ_ID, KM_TIMEOUT_MS, KM_CACHE_FILE, KM_N };
static const char *const metadata_keys[KM_N] = {
    "source", "az_id", "timeout_ms", "cache_file"
};
enum { KS_NAMESPACE, KS_DIMENSIONS, KS_PRICE, KS_N };
static const char *const stats_keys[KS_N] = {
    "namespace", "dimensions", "cross_az_price_per_gb"
};
enum { KN_HOST, KN_PORT, KN_AZ, KN_AZ_ID, KN_ROLE, KN_WEIGHT, KN_PRIORITY,
       KN_N };
static const char *const node_keys[KN_N] = {
    "host", "port", "az", "az_id", "role", "weight", "priority"
};

static const char *const md_source_names[] = {
    [AZR_MD_AUTO] = "auto", [AZR_MD_LAMBDA] = "lambda",
    [AZR_MD_IMDS] = "imds", [AZR_MD_ECS] = "ecs",
    [AZR_MD_STATIC] = "static", [AZR_MD_NONE] = "none"
};

/* What the parser keeps about a [node] section beyond azr_cfg_node: the
 * lines of its keys and the raw `az` value, resolved after the parse. */
typedef struct node_extra {
    unsigned key_line[KN_N];
    char *az;
} node_extra;

typedef struct parser {
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
    sec_kind sec;
    size_t sec_index;        /* node or plugin section index */

    unsigned azroute_line, az_map_line, stats_line;
    unsigned azroute_key_line[KA_N];
    unsigned metadata_key_line[KM_N];
    unsigned stats_key_line[KS_N];

    node_extra *nx;          /* one per [node] section */
    size_t n_nx;
} parser;

/* ------------------------------------------------------------------ */
/* shared helpers (config_priv.h)                                      */

const char *azr_cfg_quote(char buf[AZR_CFG_QUOTE_BUF], const char *s)
{
    size_t i = 0;
    if (s == NULL)
        s = "";
    for (; i < AZR_CFG_QUOTE_MAX && s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (s[i] != '\0') {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

azr_code azr_cfg_err(char *err, size_t errlen, azr_code code,
                     const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

int azr_cfg_parse_uint(const char *s, unsigned min, unsigned max,
                       unsigned *out)
{
    size_t n = 0;
    unsigned long v;
    char *end;

    if (s == NULL)
        return -1;
    for (; s[n] != '\0'; n++)
        if (s[n] < '0' || s[n] > '9')
            return -1;
    /* Ten digits cover every unsigned; more is out of range anyway. */
    if (n == 0 || n > 10)
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

int azr_cfg_node_id_valid(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
              c == '-'))
            return 0;
        if (n >= AZR_CFG_NODE_ID_MAX)
            return 0;
    }
    return n > 0;
}

int azr_cfg_host_valid(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
              c == '%' || c == '-'))
            return 0;
        if (n >= AZR_CFG_HOST_MAX)
            return 0;
    }
    return n > 0;
}

int azr_cfg_az_name_valid(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return 0;
        if (n >= AZR_AZ_ID_MAX - 1)
            return 0;
    }
    return n > 0;
}

int azr_cfg_parse_role(const char *s, azr_role *role)
{
    if (strcmp(s, "primary") == 0)
        *role = AZR_ROLE_PRIMARY;
    else if (strcmp(s, "replica") == 0)
        *role = AZR_ROLE_REPLICA;
    else
        return -1;
    return 0;
}

/* Grows an array whose capacity is implicit: the next power of two >= n.
 * Called before appending element n. Returns the (maybe moved) array or
 * NULL on ENOMEM (the old array is then untouched). */
static void *grow(void *arr, size_t n, size_t elem)
{
    /* capacity(n) = 0 for n == 0, else max(4, next power of two >= n) */
    if (n == 0)
        return realloc(arr, 4 * elem);
    if (n < 4 || (n & (n - 1)) != 0)
        return arr; /* room is left */
    return realloc(arr, 2 * n * elem);
}

azr_cfg_node *azr_cfg_node_append(azr_config *cfg)
{
    azr_cfg_node *nodes = grow(cfg->nodes, cfg->n_nodes, sizeof *nodes);
    azr_cfg_node *node;
    if (nodes == NULL)
        return NULL;
    cfg->nodes = nodes;
    node = &nodes[cfg->n_nodes++];
    memset(node, 0, sizeof *node);
    node->weight = 1;
    node->role = AZR_ROLE_REPLICA;
    return node;
}

void azr_cfg_node_clear(azr_cfg_node *node)
{
    free(node->id);
    free(node->host);
    free(node->az_id);
    free(node->az_name);
    memset(node, 0, sizeof *node);
}

long azr_cfg_node_find(const azr_config *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->n_nodes; i++)
        if (cfg->nodes[i].id != NULL && strcmp(cfg->nodes[i].id, id) == 0)
            return (long)i;
    return -1;
}

azr_code azr_cfg_resolve_az(const azr_config *cfg, azr_cfg_node *node,
                            const char *az, char *msg, size_t msglen)
{
    char q1[AZR_CFG_QUOTE_BUF], q2[AZR_CFG_QUOTE_BUF], q3[AZR_CFG_QUOTE_BUF];
    const char *id;

    if (az == NULL || *az == '\0') {
        if (node->az_id == NULL)
            return azr_cfg_err(msg, msglen, AZR_E_CONFIG, "no AZ given");
        return AZR_OK;
    }
    if (azr_az_id_valid(az)) {
        /* An ID written where a name may stand. */
        if (node->az_id != NULL) {
            if (strcmp(node->az_id, az) != 0)
                return azr_cfg_err(msg, msglen, AZR_E_CONFIG,
                                   "AZ '%s' disagrees with az_id '%s'",
                                   azr_cfg_quote(q1, az),
                                   azr_cfg_quote(q2, node->az_id));
            return AZR_OK;
        }
        id = az;
    } else {
        const char *mapped;
        if (!azr_cfg_az_name_valid(az))
            return azr_cfg_err(msg, msglen, AZR_E_CONFIG,
                               "bad AZ name '%s' (expected e.g. "
                               "ap-northeast-1a)", azr_cfg_quote(q1, az));
        mapped = azr_config_map_az(cfg, az);
        if (node->az_id != NULL) {
            /* The explicit ID wins; the name is kept for display, but a
             * contradicting [az_map] entry is a mistake somewhere. */
            if (mapped != NULL && strcmp(mapped, node->az_id) != 0)
                return azr_cfg_err(msg, msglen, AZR_E_CONFIG,
                                   "AZ name '%s' maps to '%s' in [az_map], "
                                   "but az_id is '%s'",
                                   azr_cfg_quote(q1, az),
                                   azr_cfg_quote(q2, mapped),
                                   azr_cfg_quote(q3, node->az_id));
            id = NULL;
        } else {
            if (mapped == NULL)
                return azr_cfg_err(msg, msglen, AZR_E_CONFIG,
                                   "AZ name '%s' has no entry in [az_map]",
                                   azr_cfg_quote(q1, az));
            id = mapped;
        }
        node->az_name = strdup(az);
        if (node->az_name == NULL)
            return azr_cfg_err(msg, msglen, AZR_E_NOMEM, "out of memory");
    }
    if (id != NULL) {
        node->az_id = strdup(id);
        if (node->az_id == NULL)
            return azr_cfg_err(msg, msglen, AZR_E_NOMEM, "out of memory");
    }
    return AZR_OK;
}

/* ------------------------------------------------------------------ */
/* public lookups                                                      */

int azr_az_id_valid(const char *s)
{
    /* Dash-separated groups of [a-z0-9]+, at least two, the last being
     * "az" followed by digits: apne1-az4, use1-az6, usw2-lax1-az1. */
    size_t n, groups = 0, start = 0;

    if (s == NULL)
        return 0;
    n = strlen(s);
    if (n == 0 || n > AZR_AZ_ID_MAX - 1)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        char c = s[i];
        if (c == '-' || c == '\0') {
            if (i == start)
                return 0; /* empty group */
            groups++;
            if (c == '\0') {
                /* last group: az[0-9]+ */
                if (i - start < 3 || s[start] != 'a' || s[start + 1] != 'z')
                    return 0;
                for (size_t j = start + 2; j < i; j++)
                    if (s[j] < '0' || s[j] > '9')
                        return 0;
            }
            start = i + 1;
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            return 0;
        }
    }
    return groups >= 2;
}

const char *azr_config_map_az(const azr_config *cfg, const char *name)
{
    if (cfg == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->n_az_map; i++)
        if (strcmp(cfg->az_map[i].name, name) == 0)
            return cfg->az_map[i].id;
    return NULL;
}

/* The name a plugin given by path is known by in section headers: its base
 * name without ".so" ("/opt/p/mine.so" -> "mine"). Writes into buf. */
static const char *plugin_stem(const char *entry, char *buf, size_t buflen)
{
    const char *base = strrchr(entry, '/');
    size_t n;
    base = base != NULL ? base + 1 : entry;
    n = strlen(base);
    if (n > 3 && strcmp(base + n - 3, ".so") == 0)
        n -= 3;
    if (n >= buflen)
        n = buflen - 1;
    memcpy(buf, base, n);
    buf[n] = '\0';
    return buf;
}

/* 1 if section name `sname` configures chain/transport entry `entry`:
 * the same text, or the stem of an entry given by absolute path. */
static int section_matches(const char *sname, const char *entry)
{
    char stem[256];
    if (strcmp(sname, entry) == 0)
        return 1;
    if (entry[0] != '/')
        return 0;
    return strcmp(sname, plugin_stem(entry, stem, sizeof stem)) == 0;
}

/* The section configuring plugin `name`: the one named exactly so, else
 * one that names the same plugin by path (see section_matches). Call it
 * with the chain entry as written (cfg->policy[i], cfg->transport). */
azr_cfg_plugin_section *azr_config_section(azr_config *cfg,
                                           azr_cfg_section_kind kind,
                                           const char *name)
{
    if (cfg == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->n_sections; i++)
        if (cfg->sections[i].kind == kind &&
            strcmp(cfg->sections[i].name, name) == 0)
            return &cfg->sections[i];
    /* By stem, either way round: the chain entry "/opt/p/mine.so" finds
     * [policy mine], and the plugin's own name "mine" finds
     * [policy /opt/p/mine.so]. */
    for (size_t i = 0; i < cfg->n_sections; i++)
        if (cfg->sections[i].kind == kind &&
            (section_matches(cfg->sections[i].name, name) ||
             section_matches(name, cfg->sections[i].name)))
            return &cfg->sections[i];
    return NULL;
}

void azr_config_free(azr_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->path);
    for (size_t i = 0; i < cfg->n_policy; i++)
        free(cfg->policy[i]);
    free(cfg->policy);
    free(cfg->transport);
    free(cfg->plugin_dir);
    free(cfg->nodes_env);
    free(cfg->md_az_id);
    free(cfg->md_cache_file);
    azr_cfg_stats_clear(&cfg->stats);
    for (size_t i = 0; i < cfg->n_az_map; i++) {
        free(cfg->az_map[i].name);
        free(cfg->az_map[i].id);
    }
    free(cfg->az_map);
    for (size_t i = 0; i < cfg->n_nodes; i++)
        azr_cfg_node_clear(&cfg->nodes[i]);
    free(cfg->nodes);
    for (size_t i = 0; i < cfg->n_sections; i++) {
        azr_cfg_plugin_section *s = &cfg->sections[i];
        for (size_t j = 0; j < s->n_options; j++) {
            free(s->options[j].key);
            free(s->options[j].value);
        }
        free(s->options);
        free(s->name);
    }
    free(cfg->sections);
    free(cfg);
}

/* ------------------------------------------------------------------ */
/* errors                                                              */

/* Records an error at `line` (0: no line applies) unless an earlier one is
 * already recorded. Returns 0, so a handler can `return perr(...)`. */
static int perr(parser *p, unsigned line, azr_code code, const char *fmt,
                ...) AZR_PRINTF(4, 5);
static int perr(parser *p, unsigned line, azr_code code, const char *fmt,
                ...)
{
    char msg[AZR_ERRBUF_SIZE];
    va_list ap;

    if (p->has_err && (line == 0 || p->err_line == 0 || line >= p->err_line))
        return 0;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->has_err = 1;
    p->err_line = line;
    p->code = code;
    if (line != 0)
        azr_cfg_err(p->err, p->errlen, code, "%s:%u: %s", p->name, line, msg);
    else
        azr_cfg_err(p->err, p->errlen, code, "%s: %s", p->name, msg);
    return 0;
}

static int nomem(parser *p)
{
    return perr(p, p->lineno, AZR_E_NOMEM, "out of memory");
}

/* "[node a]" for the section being read, into buf. */
static const char *sec_label(const parser *p, char *buf, size_t buflen)
{
    char q[AZR_CFG_QUOTE_BUF];
    switch (p->sec) {
    case SEC_AZROUTE: return "[azroute]";
    case SEC_METADATA: return "[metadata]";
    case SEC_AZ_MAP: return "[az_map]";
    case SEC_STATS: return "[stats]";
    case SEC_NODE:
        snprintf(buf, buflen, "[node %s]",
                 azr_cfg_quote(q, p->cfg->nodes[p->sec_index].id));
        return buf;
    case SEC_POLICY:
    case SEC_TRANSPORT:
        snprintf(buf, buflen, "[%s %s]",
                 p->sec == SEC_POLICY ? "policy" : "transport",
                 azr_cfg_quote(q, p->cfg->sections[p->sec_index].name));
        return buf;
    case SEC_NONE:
        break;
    }
    return "[]";
}

/* ------------------------------------------------------------------ */
/* values                                                              */

/* 1 if `s` is a plugin name the loader accepts: [a-z0-9_]{1,32} or an
 * absolute path (no control characters). */
static int plugin_name_valid(const char *s)
{
    size_t n = 0;
    if (s[0] == '/') {
        for (; s[n] != '\0'; n++)
            if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f)
                return 0;
        return n > 1;
    }
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
        if (n >= CFG_PLUGIN_NAME_MAX)
            return 0;
    }
    return n > 0;
}

#define PLUGIN_NAME_RULE \
    "a name of a-z 0-9 _ (at most 32) or an absolute path"

static int env_name_valid(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (n > 0 && c >= '0' && c <= '9')))
            return 0;
        if (n >= CFG_ENV_NAME_MAX)
            return 0;
    }
    return n > 0;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
           c == '\f';
}

static int set_string(parser *p, char **dst, const char *value)
{
    char *s = strdup(value);
    if (s == NULL)
        return nomem(p);
    free(*dst);
    *dst = s;
    return 1;
}

/* Parses "a, b ,c" into cfg->policy. */
static int parse_policy_list(parser *p, const char *value)
{
    azr_config *cfg = p->cfg;
    char q[AZR_CFG_QUOTE_BUF];
    const char *s = value;
    size_t pos = 0;

    for (;;) {
        const char *comma = strchr(s, ',');
        const char *end = comma != NULL ? comma : s + strlen(s);
        const char *b = s, *e = end;
        char *item, **list;

        pos++;
        while (b < e && is_blank(*b))
            b++;
        while (e > b && is_blank(e[-1]))
            e--;
        if (b == e)
            return perr(p, p->lineno, AZR_E_CONFIG,
                        "policy: empty entry %zu", pos);
        item = strndup(b, (size_t)(e - b));
        if (item == NULL)
            return nomem(p);
        if (!plugin_name_valid(item)) {
            perr(p, p->lineno, AZR_E_CONFIG,
                 "policy: bad plugin name '%s' (" PLUGIN_NAME_RULE ")",
                 azr_cfg_quote(q, item));
            free(item);
            return 0;
        }
        for (size_t i = 0; i < cfg->n_policy; i++) {
            char stem_a[256], stem_b[256];
            if (strcmp(plugin_stem(cfg->policy[i], stem_a, sizeof stem_a),
                       plugin_stem(item, stem_b, sizeof stem_b)) == 0) {
                perr(p, p->lineno, AZR_E_CONFIG,
                     "policy: '%s' appears twice in the chain",
                     azr_cfg_quote(q, item));
                free(item);
                return 0;
            }
        }
        list = grow(cfg->policy, cfg->n_policy, sizeof *list);
        if (list == NULL) {
            free(item);
            return nomem(p);
        }
        cfg->policy = list;
        cfg->policy[cfg->n_policy++] = item;
        if (comma == NULL)
            return 1;
        s = comma + 1;
    }
}

/* ------------------------------------------------------------------ */
/* keys                                                                */

/* Finds `name` in a fixed key table; -1 if unknown. */
static int key_index(const char *const *keys, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(keys[i], name) == 0)
            return i;
    return -1;
}

static int unknown_key(parser *p, const char *name)
{
    char q[AZR_CFG_QUOTE_BUF], label[128];
    return perr(p, p->lineno, AZR_E_CONFIG, "unknown key '%s' in %s",
                azr_cfg_quote(q, name), sec_label(p, label, sizeof label));
}

/* Marks key `k` seen; 0 (error recorded) if it was seen before. */
static int first_time(parser *p, unsigned *lines, int k, const char *name)
{
    char q[AZR_CFG_QUOTE_BUF], label[128];
    if (lines[k] != 0)
        return perr(p, p->lineno, AZR_E_CONFIG,
                    "duplicate key '%s' in %s (first at line %u)",
                    azr_cfg_quote(q, name), sec_label(p, label, sizeof label),
                    lines[k]);
    lines[k] = p->lineno;
    return 1;
}

static int empty_value(parser *p, const char *name)
{
    char q[AZR_CFG_QUOTE_BUF], label[128];
    return perr(p, p->lineno, AZR_E_CONFIG, "empty value for '%s' in %s",
                azr_cfg_quote(q, name), sec_label(p, label, sizeof label));
}

static int bad_number(parser *p, const char *name, const char *value,
                      unsigned min, unsigned max)
{
    char q1[AZR_CFG_QUOTE_BUF], q2[AZR_CFG_QUOTE_BUF];
    return perr(p, p->lineno, AZR_E_CONFIG, "bad %s '%s' (expected %u..%u)",
                azr_cfg_quote(q1, name), azr_cfg_quote(q2, value), min, max);
}

static int key_azroute(parser *p, const char *name, const char *value)
{
    azr_config *cfg = p->cfg;
    char q[AZR_CFG_QUOTE_BUF];
    int k = key_index(azroute_keys, KA_N, name);

    if (k < 0)
        return unknown_key(p, name);
    if (!first_time(p, p->azroute_key_line, k, name))
        return 0;
    if (*value == '\0')
        return empty_value(p, name);
    switch (k) {
    case KA_POLICY:
        cfg->policy_line = p->lineno;
        return parse_policy_list(p, value);
    case KA_TRANSPORT:
        if (!plugin_name_valid(value))
            return perr(p, p->lineno, AZR_E_CONFIG,
                        "bad transport '%s' (" PLUGIN_NAME_RULE ")",
                        azr_cfg_quote(q, value));
        cfg->transport_line = p->lineno;
        return set_string(p, &cfg->transport, value);
    case KA_PLUGIN_DIR:
        if (value[0] != '/')
            return perr(p, p->lineno, AZR_E_CONFIG,
                        "plugin_dir '%s' is not an absolute path",
                        azr_cfg_quote(q, value));
        cfg->plugin_dir_line = p->lineno;
        return set_string(p, &cfg->plugin_dir, value);
    case KA_NODES_ENV:
        if (!env_name_valid(value))
            return perr(p, p->lineno, AZR_E_CONFIG,
                        "bad nodes_env '%s' (expected an environment "
                        "variable name)", azr_cfg_quote(q, value));
        cfg->nodes_env_line = p->lineno;
        return set_string(p, &cfg->nodes_env, value);
    case KA_MAX_ATTEMPTS:
        if (azr_cfg_parse_uint(value, 1, 16, &cfg->max_attempts) != 0)
            return bad_number(p, name, value, 1, 16);
        return 1;
    }
    return 1;
}

static int key_metadata(parser *p, const char *name, const char *value)
{
    azr_config *cfg = p->cfg;
    char q[AZR_CFG_QUOTE_BUF];
    int k = key_index(metadata_keys, KM_N, name);

    if (k < 0)
        return unknown_key(p, name);
    if (!first_time(p, p->metadata_key_line, k, name))
        return 0;
    switch (k) {
    case KM_SOURCE:
        for (size_t i = 0; i < sizeof md_source_names / sizeof *md_source_names;
             i++) {
            if (strcmp(value, md_source_names[i]) == 0) {
                cfg->md_source = (azr_md_source_kind)i;
                return 1;
            }
        }
        if (*value == '\0')
            return empty_value(p, name);
        return perr(p, p->lineno, AZR_E_CONFIG,
                    "bad source '%s' (expected auto, lambda, imds, ecs, "
                    "static or none)", azr_cfg_quote(q, value));
    case KM_AZ_ID:
        /* Empty means "not set", as in the commented sample. */
        if (*value == '\0')
            return 1;
        if (!azr_az_id_valid(value))
            return perr(p, p->lineno, AZR_E_CONFIG,
                        "bad AZ ID '%s' (expected e.g. apne1-az4)",
                        azr_cfg_quote(q, value));
        return set_string(p, &cfg->md_az_id, value);
    case KM_TIMEOUT_MS:
        if (azr_cfg_parse_uint(value, 1, 60000, &cfg->md_timeout_ms) != 0)
            return bad_number(p, name, value, 1, 60000);
        return 1;
    case KM_CACHE_FILE:
        if (*value == '\0')
            return 1; /* off */
        return set_string(p, &cfg->md_cache_file, value);
    }
    return 1;
}

/* [stats]: the keys are checked by config_stats.c; this places its error
 * at the line being read. */
static int key_stats(parser *p, const char *name, const char *value)
{
    char why[AZR_ERRBUF_SIZE];
    int k = key_index(stats_keys, KS_N, name);

    if (k < 0)
        return unknown_key(p, name);
    if (!first_time(p, p->stats_key_line, k, name))
        return 0;
    azr_code rc = k == KS_NAMESPACE
                      ? azr_cfg_stats_namespace(&p->cfg->stats, value, why,
                                                sizeof why)
                  : k == KS_DIMENSIONS
                      ? azr_cfg_stats_dimensions(&p->cfg->stats, value, why,
                                                 sizeof why)
                      : azr_cfg_stats_price(&p->cfg->stats, value, why,
                                            sizeof why);
    if (rc != AZR_OK)
        return perr(p, p->lineno, rc, "%s", why);
    return 1;
}

static int key_az_map(parser *p, const char *name, const char *value)
{
    azr_config *cfg = p->cfg;
    char q[AZR_CFG_QUOTE_BUF];
    azr_cfg_az_map_entry *map, *e;

    if (*value == '\0')
        return empty_value(p, name);
    if (!azr_cfg_az_name_valid(name))
        return perr(p, p->lineno, AZR_E_CONFIG,
                    "bad AZ name '%s' in [az_map] (expected e.g. "
                    "ap-northeast-1a)", azr_cfg_quote(q, name));
    for (size_t i = 0; i < cfg->n_az_map; i++)
        if (strcmp(cfg->az_map[i].name, name) == 0)
            return perr(p, p->lineno, AZR_E_CONFIG,
                        "duplicate key '%s' in [az_map] (first at line %u)",
                        azr_cfg_quote(q, name), cfg->az_map[i].line);
    if (!azr_az_id_valid(value))
        return perr(p, p->lineno, AZR_E_CONFIG,
                    "bad AZ ID '%s' (expected e.g. apne1-az4)",
                    azr_cfg_quote(q, value));
    if (cfg->n_az_map >= CFG_AZ_MAP_MAX)
        return perr(p, p->lineno, AZR_E_CONFIG,
                    "too many [az_map] entries (max %d)", CFG_AZ_MAP_MAX);
    map = grow(cfg->az_map, cfg->n_az_map, sizeof *map);
    if (map == NULL)
        return nomem(p);
    cfg->az_map = map;
    e = &map[cfg->n_az_map];
    e->name = strdup(name);
    e->id = strdup(value);
    e->line = p->lineno;
    if (e->name == NULL || e->id == NULL) {
        free(e->name);
        free(e->id);
        return nomem(p);
    }
    cfg->n_az_map++;
    return 1;
}

static int key_node(parser *p, const char *name, const char *value)
{
    azr_cfg_node *node = &p->cfg->nodes[p->sec_index];
    node_extra *x = &p->nx[p->sec_index];
    char q[AZR_CFG_QUOTE_BUF];
    int k = key_index(node_keys, KN_N, name);

    if (k < 0)
        return unknown_key(p, name);
    if (!first_time(p, x->key_line, k, name))
        return 0;
    if (*value == '\0')
        return empty_value(p, name);
    switch (k) {
    case KN_HOST:
        if (!azr_cfg_host_valid(value))
            return perr(p, p->lineno, AZR_E_CONFIG, "bad host '%s'",
                        azr_cfg_quote(q, value));
        return set_string(p, &node->host, value);
    case KN_PORT:
        if (azr_cfg_parse_uint(value, 1, AZR_CFG_PORT_MAX, &node->port) != 0)
            return bad_number(p, name, value, 1, AZR_CFG_PORT_MAX);
        return 1;
    case KN_AZ:
        return set_string(p, &x->az, value);
    case KN_AZ_ID:
        if (!azr_az_id_valid(value))
            return perr(p, p->lineno, AZR_E_CONFIG,
                        "bad AZ ID '%s' (expected e.g. apne1-az4)",
                        azr_cfg_quote(q, value));
        return set_string(p, &node->az_id, value);
    case KN_ROLE:
        if (azr_cfg_parse_role(value, &node->role) != 0)
            return perr(p, p->lineno, AZR_E_CONFIG,
                        "bad role '%s' (expected primary or replica)",
                        azr_cfg_quote(q, value));
        return 1;
    case KN_WEIGHT:
        if (azr_cfg_parse_uint(value, 1, AZR_CFG_WEIGHT_MAX,
                               &node->weight) != 0)
            return bad_number(p, name, value, 1, AZR_CFG_WEIGHT_MAX);
        return 1;
    case KN_PRIORITY:
        if (azr_cfg_parse_uint(value, 0, AZR_CFG_PRIORITY_MAX,
                               &node->priority) != 0)
            return bad_number(p, name, value, 0, AZR_CFG_PRIORITY_MAX);
        return 1;
    }
    return 1;
}

static int key_plugin(parser *p, const char *name, const char *value)
{
    azr_cfg_plugin_section *s = &p->cfg->sections[p->sec_index];
    azr_cfg_option *opts, *o;
    char q[AZR_CFG_QUOTE_BUF], label[128];

    for (size_t i = 0; i < s->n_options; i++)
        if (strcmp(s->options[i].key, name) == 0)
            return perr(p, p->lineno, AZR_E_CONFIG,
                        "duplicate key '%s' in %s (first at line %u)",
                        azr_cfg_quote(q, name),
                        sec_label(p, label, sizeof label),
                        s->options[i].line);
    if (s->n_options >= CFG_OPTIONS_MAX)
        return perr(p, p->lineno, AZR_E_CONFIG,
                    "too many keys in %s (max %d)",
                    sec_label(p, label, sizeof label), CFG_OPTIONS_MAX);
    opts = grow(s->options, s->n_options, sizeof *opts);
    if (opts == NULL)
        return nomem(p);
    s->options = opts;
    o = &opts[s->n_options];
    memset(o, 0, sizeof *o);
    o->key = strdup(name);
    o->value = strdup(value);
    o->line = p->lineno;
    if (o->key == NULL || o->value == NULL) {
        free(o->key);
        free(o->value);
        return nomem(p);
    }
    s->n_options++;
    return 1;
}

/* One "key = value" of line p->lineno, in the section being read.
 * Returns 0 once an error is recorded. */
static int on_key(parser *p, const char *name, const char *value)
{
    char q[AZR_CFG_QUOTE_BUF];

    if (*name == '\0')
        return perr(p, p->lineno, AZR_E_CONFIG, "missing key before '='");
    switch (p->sec) {
    case SEC_NONE:
        return perr(p, p->lineno, AZR_E_CONFIG,
                    "key '%s' outside any section", azr_cfg_quote(q, name));
    case SEC_AZROUTE: return key_azroute(p, name, value);
    case SEC_METADATA: return key_metadata(p, name, value);
    case SEC_AZ_MAP: return key_az_map(p, name, value);
    case SEC_NODE: return key_node(p, name, value);
    case SEC_POLICY:
    case SEC_TRANSPORT: return key_plugin(p, name, value);
    case SEC_STATS: return key_stats(p, name, value);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* sections                                                            */

static int dup_section(parser *p, const char *label, unsigned first)
{
    return perr(p, p->lineno, AZR_E_CONFIG,
                "duplicate section %s (first at line %u)", label, first);
}

static int open_node(parser *p, const char *id)
{
    azr_config *cfg = p->cfg;
    char q[AZR_CFG_QUOTE_BUF], label[128];
    azr_cfg_node *node;
    node_extra *nx;
    long dup;

    if (!azr_cfg_node_id_valid(id))
        return perr(p, p->lineno, AZR_E_CONFIG,
                    "bad node id '%s' (1 to 64 of A-Z a-z 0-9 . _ : -)",
                    azr_cfg_quote(q, id));
    dup = azr_cfg_node_find(cfg, id);
    if (dup >= 0) {
        snprintf(label, sizeof label, "[node %.64s]", id);
        return dup_section(p, label, cfg->nodes[dup].line);
    }
    if (cfg->n_nodes >= AZR_MAX_NODES)
        return perr(p, p->lineno, AZR_E_CONFIG, "too many nodes (max %d)",
                    AZR_MAX_NODES);
    nx = grow(p->nx, p->n_nx, sizeof *nx);
    if (nx == NULL)
        return nomem(p);
    p->nx = nx;
    memset(&nx[p->n_nx], 0, sizeof *nx);
    p->n_nx++;
    node = azr_cfg_node_append(cfg);
    if (node == NULL)
        return nomem(p);
    node->line = p->lineno;
    node->id = strdup(id);
    if (node->id == NULL)
        return nomem(p);
    p->sec = SEC_NODE;
    p->sec_index = cfg->n_nodes - 1;
    return 1;
}

static int open_plugin_section(parser *p, sec_kind sec, const char *name)
{
    azr_config *cfg = p->cfg;
    azr_cfg_section_kind kind =
        sec == SEC_POLICY ? AZR_CFG_POLICY : AZR_CFG_TRANSPORT;
    const char *word = sec == SEC_POLICY ? "policy" : "transport";
    char q[AZR_CFG_QUOTE_BUF], label[128];
    azr_cfg_plugin_section *secs, *s;

    if (!plugin_name_valid(name))
        return perr(p, p->lineno, AZR_E_CONFIG,
                    "bad plugin name '%s' in [%s ...] (" PLUGIN_NAME_RULE ")",
                    azr_cfg_quote(q, name), word);
    for (size_t i = 0; i < cfg->n_sections; i++) {
        if (cfg->sections[i].kind == kind &&
            strcmp(cfg->sections[i].name, name) == 0) {
            snprintf(label, sizeof label, "[%s %s]", word,
                     azr_cfg_quote(q, name));
            return dup_section(p, label, cfg->sections[i].line);
        }
    }
    if (cfg->n_sections >= CFG_SECTIONS_MAX)
        return perr(p, p->lineno, AZR_E_CONFIG,
                    "too many [policy]/[transport] sections (max %d)",
                    CFG_SECTIONS_MAX);
    secs = grow(cfg->sections, cfg->n_sections, sizeof *secs);
    if (secs == NULL)
        return nomem(p);
    cfg->sections = secs;
    s = &secs[cfg->n_sections];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->line = p->lineno;
    s->name = strdup(name);
    if (s->name == NULL)
        return nomem(p);
    cfg->n_sections++;
    p->sec = sec;
    p->sec_index = cfg->n_sections - 1;
    return 1;
}

/* Opens the section named by `inner`, the text between '[' and ']'
 * (modified in place). */
static int open_section(parser *p, char *inner)
{
    char q[AZR_CFG_QUOTE_BUF];
    char *b, *e, *word_end, *arg;
    unsigned *first = NULL;
    sec_kind fixed = SEC_NONE;

    b = inner;
    while (is_blank(*b))
        b++;
    e = b + strlen(b);
    while (e > b && is_blank(e[-1]))
        *--e = '\0';
    word_end = b;
    while (*word_end != '\0' && !is_blank(*word_end))
        word_end++;
    arg = word_end;
    while (is_blank(*arg))
        arg++;
    *word_end = '\0';

    p->sec = SEC_NONE; /* until opened successfully */
    if (strcmp(b, "azroute") == 0) {
        fixed = SEC_AZROUTE;
        first = &p->azroute_line;
    } else if (strcmp(b, "metadata") == 0) {
        fixed = SEC_METADATA;
        first = &p->cfg->md_line;
    } else if (strcmp(b, "az_map") == 0) {
        fixed = SEC_AZ_MAP;
        first = &p->az_map_line;
    } else if (strcmp(b, "stats") == 0) {
        fixed = SEC_STATS;
        first = &p->stats_line;
    }
    if (fixed != SEC_NONE && *arg == '\0') {
        if (*first != 0)
            return dup_section(p, fixed == SEC_AZROUTE ? "[azroute]"
                                  : fixed == SEC_METADATA ? "[metadata]"
                                  : fixed == SEC_STATS ? "[stats]"
                                                       : "[az_map]",
                               *first);
        *first = p->lineno;
        p->sec = fixed;
        return 1;
    }
    if (fixed == SEC_NONE) {
        sec_kind named = strcmp(b, "node") == 0 ? SEC_NODE
                         : strcmp(b, "policy") == 0 ? SEC_POLICY
                         : strcmp(b, "transport") == 0 ? SEC_TRANSPORT
                         : SEC_NONE;
        if (named != SEC_NONE && *arg == '\0')
            return perr(p, p->lineno, AZR_E_CONFIG,
                        "section [%s] needs a name: [%s %s]", b, b,
                        named == SEC_NODE ? "ID" : "NAME");
        if (named == SEC_NODE)
            return open_node(p, arg);
        if (named != SEC_NONE)
            return open_plugin_section(p, named, arg);
    }
    /* Show the header as written (trimmed), words rejoined. */
    if (*arg != '\0')
        word_end[0] = ' ';
    return perr(p, p->lineno, AZR_E_CONFIG, "unknown section [%s]",
                azr_cfg_quote(q, b));
}

/* ------------------------------------------------------------------ */
/* the lexer                                                           */

/* Where a key, value or header ends: at one of `chars` (NULL: none), or at
 * an inline comment, a ';' that follows a blank (inih's rule: "a;b" is a
 * value, "a ;b" is "a" and a comment). */
static char *find_chars_or_comment(char *s, const char *chars)
{
    int was_space = 0;
    while (*s != '\0' && (chars == NULL || strchr(chars, *s) == NULL) &&
           !(was_space && *s == ';')) {
        was_space = is_blank(*s);
        s++;
    }
    return s;
}

/* `s` without leading blanks. */
static char *lskip(char *s)
{
    while (is_blank(*s))
        s++;
    return s;
}

/* Cuts the blanks off the end of `s`, whose terminating NUL is at `end`. */
static char *rstrip(char *s, char *end)
{
    while (end > s && is_blank(end[-1]))
        *--end = '\0';
    return s;
}

/* A "[...]" line (blanks already trimmed): opens its section. */
static int section_line(parser *p, char *line)
{
    char *end, *after;

    end = find_chars_or_comment(line + 1, "]");
    if (*end != ']')
        return perr(p, p->lineno, AZR_E_CONFIG,
                    "syntax error (section header without closing ']')");
    after = lskip(end + 1);
    if (*after != '\0' && *after != ';')
        return perr(p, p->lineno, AZR_E_CONFIG,
                    "syntax error (text after section header)");
    *end = '\0';
    return open_section(p, line + 1);
}

/* One line of the file (its own copy, without the line break; NUL-free).
 * Blank lines and comments are skipped, headers open their section, and
 * "key = value" (or "key: value") goes to on_key. Returns 0 once an error
 * is recorded. */
static int lex_line(parser *p, char *line, size_t len)
{
    char *start = rstrip(lskip(line), line + len), *end, *value;

    if (*start == '\0' || *start == ';' || *start == '#')
        return 1;
    if (*start == '[')
        return section_line(p, start);
    end = find_chars_or_comment(start, "=:");
    if (*end != '=' && *end != ':')
        return perr(p, p->lineno, AZR_E_CONFIG,
                    "syntax error (expected [section] or key = value)");
    *end = '\0';
    rstrip(start, end);
    value = end + 1;
    end = find_chars_or_comment(value, NULL);
    *end = '\0';
    value = lskip(value);
    rstrip(value, end);
    return on_key(p, start, value);
}

/* Reads every line of the input, in order, until the end or the first
 * error. `buf` holds CFG_LINE_MAX + 1 bytes. */
static void lex(parser *p, char *buf)
{
    while (!p->has_err && p->pos < p->len) {
        const char *s = p->text + p->pos;
        const char *nl = memchr(s, '\n', p->len - p->pos);
        size_t linelen = nl != NULL ? (size_t)(nl - s) : p->len - p->pos;

        p->pos += linelen + (nl != NULL);
        p->lineno++;
        if (linelen > 0 && s[linelen - 1] == '\r')
            linelen--;
        if (memchr(s, '\0', linelen) != NULL) {
            perr(p, p->lineno, AZR_E_CONFIG, "NUL character in line");
            return;
        }
        if (linelen > CFG_LINE_MAX) {
            perr(p, p->lineno, AZR_E_CONFIG,
                 "line too long (max %d characters)", CFG_LINE_MAX);
            return;
        }
        if (p->lineno == 1 && linelen >= 3 &&
            memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
            s += 3;
            linelen -= 3;
        }
        memcpy(buf, s, linelen);
        buf[linelen] = '\0';
        lex_line(p, buf, linelen);
    }
}

/* ------------------------------------------------------------------ */
/* checks after the parse                                              */

static void check_nodes(parser *p)
{
    azr_config *cfg = p->cfg;
    char q[AZR_CFG_QUOTE_BUF], msg[AZR_ERRBUF_SIZE];

    for (size_t i = 0; i < p->n_nx; i++) {
        azr_cfg_node *node = &cfg->nodes[i];
        node_extra *x = &p->nx[i];
        const char *missing = NULL;
        azr_code rc;

        if (x->key_line[KN_HOST] == 0)
            missing = "'host'";
        else if (x->key_line[KN_PORT] == 0)
            missing = "'port'";
        else if (x->key_line[KN_AZ] == 0 && x->key_line[KN_AZ_ID] == 0)
            missing = "'az' (or 'az_id')";
        else if (x->key_line[KN_ROLE] == 0)
            missing = "'role'";
        if (missing != NULL) {
            perr(p, node->line, AZR_E_CONFIG, "[node %s]: missing key %s",
                 azr_cfg_quote(q, node->id), missing);
            return;
        }
        rc = azr_cfg_resolve_az(cfg, node, x->az, msg, sizeof msg);
        if (rc != AZR_OK) {
            perr(p, x->key_line[KN_AZ] != 0 ? x->key_line[KN_AZ]
                                              : x->key_line[KN_AZ_ID],
                 rc, "%s", msg);
            return;
        }
    }
}

static void check_metadata(parser *p)
{
    azr_config *cfg = p->cfg;

    if (cfg->md_az_id != NULL) {
        if (cfg->md_source == AZR_MD_AUTO) {
            /* A fixed ID under source = auto means static. */
            cfg->md_source = AZR_MD_STATIC;
        } else if (cfg->md_source != AZR_MD_STATIC) {
            perr(p, p->metadata_key_line[KM_AZ_ID], AZR_E_CONFIG,
                 "az_id needs source = static or auto (source is %s)",
                 md_source_names[cfg->md_source]);
        }
    } else if (cfg->md_source == AZR_MD_STATIC) {
        perr(p, p->metadata_key_line[KM_SOURCE], AZR_E_CONFIG,
             "source = static needs az_id");
    }
}

static void check_sections(parser *p)
{
    azr_config *cfg = p->cfg;
    char q1[AZR_CFG_QUOTE_BUF], q2[AZR_CFG_QUOTE_BUF];

    for (size_t i = 0; i < cfg->n_sections; i++) {
        azr_cfg_plugin_section *s = &cfg->sections[i];
        const char *entry = NULL;

        if (s->kind == AZR_CFG_POLICY) {
            for (size_t j = 0; j < cfg->n_policy && entry == NULL; j++)
                if (section_matches(s->name, cfg->policy[j]))
                    entry = cfg->policy[j];
            if (entry == NULL) {
                perr(p, s->line, AZR_E_CONFIG,
                     "[policy %s]: '%s' is not in the policy chain",
                     azr_cfg_quote(q1, s->name), azr_cfg_quote(q2, s->name));
                return;
            }
        } else {
            if (cfg->transport == NULL) {
                perr(p, s->line, AZR_E_CONFIG,
                     "[transport %s]: no transport is configured "
                     "([azroute] transport)", azr_cfg_quote(q1, s->name));
                return;
            }
            if (!section_matches(s->name, cfg->transport)) {
                perr(p, s->line, AZR_E_CONFIG,
                     "[transport %s]: the transport is '%s'",
                     azr_cfg_quote(q1, s->name),
                     azr_cfg_quote(q2, cfg->transport));
                return;
            }
            entry = cfg->transport;
        }
        /* "[policy /p/x.so]" and "[policy x]" would both configure it. */
        for (size_t j = 0; j < i; j++) {
            const azr_cfg_plugin_section *o = &cfg->sections[j];
            if (o->kind == s->kind && section_matches(o->name, entry)) {
                perr(p, s->line, AZR_E_CONFIG,
                     "[%s %s]: plugin already configured by the section at "
                     "line %u", s->kind == AZR_CFG_POLICY ? "policy"
                                                          : "transport",
                     azr_cfg_quote(q1, s->name), o->line);
                return;
            }
        }
    }
}

static int set_default_policy(parser *p)
{
    azr_config *cfg = p->cfg;
    size_t n = sizeof default_policy / sizeof *default_policy;

    cfg->policy = calloc(n, sizeof *cfg->policy);
    if (cfg->policy == NULL)
        return nomem(p);
    for (; cfg->n_policy < n; cfg->n_policy++) {
        cfg->policy[cfg->n_policy] = strdup(default_policy[cfg->n_policy]);
        if (cfg->policy[cfg->n_policy] == NULL)
            return nomem(p);
    }
    return 1;
}

static void read_nodes_env(parser *p)
{
    azr_config *cfg = p->cfg;
    unsigned line = cfg->nodes_env_line;
    char where[AZR_ERRBUF_SIZE], msg[AZR_ERRBUF_SIZE];
    const char *value = getenv(cfg->nodes_env);
    const char *v = value;
    azr_code rc;

    if (value == NULL) {
        perr(p, line, AZR_E_CONFIG, "nodes_env %s is not set",
             cfg->nodes_env);
        return;
    }
    while (is_blank(*v))
        v++;
    if (*v == '\0') {
        perr(p, line, AZR_E_CONFIG, "nodes_env %s is empty", cfg->nodes_env);
        return;
    }
    /* add_nodes_env formats "WHERE entry N: ..." itself; pass it the whole
     * "FILE:LINE: nodes_env VAR" prefix and copy its message through. */
    snprintf(where, sizeof where, "%s:%u: nodes_env %s", p->name, line,
             cfg->nodes_env);
    rc = azr_config_add_nodes_env(cfg, value, where, msg, sizeof msg);
    if (rc != AZR_OK) {
        p->has_err = 1;
        p->err_line = line;
        p->code = rc;
        azr_cfg_err(p->err, p->errlen, rc, "%s", msg);
    }
}

/* ------------------------------------------------------------------ */
/* loading                                                             */

static azr_code load_text(const char *text, size_t len, const char *name,
                          azr_config **out, char *err, size_t errlen)
{
    parser p;
    azr_config *cfg;
    char *line;

    memset(&p, 0, sizeof p);
    p.name = name;
    p.text = text;
    p.len = len;
    p.err = err;
    p.errlen = errlen;

    cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL || (cfg->path = strdup(name)) == NULL) {
        free(cfg);
        return azr_cfg_err(err, errlen, AZR_E_NOMEM, "%s: out of memory",
                           name);
    }
    cfg->max_attempts = 3;
    cfg->stats.price_per_gb = 0.01;
    cfg->md_source = AZR_MD_AUTO;
    cfg->md_timeout_ms = 1000;
    p.cfg = cfg;

    line = malloc(CFG_LINE_MAX + 1);
    if (line == NULL)
        perr(&p, 0, AZR_E_NOMEM, "out of memory");
    else
        lex(&p, line);
    free(line);

    if (!p.has_err && cfg->n_policy == 0)
        set_default_policy(&p);
    if (!p.has_err) {
        /* Each reports its first problem; the earliest line wins. */
        check_sections(&p);
        check_metadata(&p);
        check_nodes(&p);
    }
    if (!p.has_err && cfg->nodes_env != NULL)
        read_nodes_env(&p);
    if (!p.has_err && cfg->n_nodes == 0)
        perr(&p, 0, AZR_E_CONFIG,
             "no nodes configured ([node NAME] sections or nodes_env)");

    for (size_t i = 0; i < p.n_nx; i++)
        free(p.nx[i].az);
    free(p.nx);
    if (p.has_err) {
        azr_config_free(cfg);
        return p.code;
    }
    *out = cfg;
    return AZR_OK;
}

azr_code azr_config_load_string(const char *text, const char *name,
                                azr_config **out, char *err, size_t errlen)
{
    if (out == NULL || text == NULL)
        return azr_cfg_err(err, errlen, AZR_E_INVALID_ARGUMENT,
                           "azr_config_load_string: NULL argument");
    *out = NULL;
    if (name == NULL)
        name = "<string>";
    return load_text(text, strlen(text), name, out, err, errlen);
}

azr_code azr_config_load(const char *path, azr_config **out, char *err,
                         size_t errlen)
{
    FILE *f;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    azr_code rc;

    if (out == NULL || path == NULL)
        return azr_cfg_err(err, errlen, AZR_E_INVALID_ARGUMENT,
                           "azr_config_load: NULL argument");
    *out = NULL;
    /* O_NONBLOCK for the open only: opening a FIFO that no process writes
     * would otherwise block for ever (a configuration replaced by a FIFO
     * must fail, not hang azr_open). Reads block as usual, so a pipe with
     * a writer (azroute -c <(...)) still works; a FIFO without a writer
     * reads as empty. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    int flags = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0 ||
        (f = fdopen(fd, "rb")) == NULL) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return azr_cfg_err(err, errlen, AZR_E_CONFIG, "%s: cannot open: %s",
                           path, strerror(e));
    }
    for (;;) {
        size_t n;
        if (len == cap) {
            char *nb;
            if (cap > CFG_FILE_MAX) {
                fclose(f);
                free(buf);
                return azr_cfg_err(err, errlen, AZR_E_CONFIG,
                                   "%s: file too large (max %u bytes)", path,
                                   CFG_FILE_MAX);
            }
            cap = cap == 0 ? 8192 : cap * 2;
            nb = realloc(buf, cap + 1);
            if (nb == NULL) {
                fclose(f);
                free(buf);
                return azr_cfg_err(err, errlen, AZR_E_NOMEM,
                                   "%s: out of memory", path);
            }
            buf = nb;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                int e = errno;
                fclose(f);
                free(buf);
                return azr_cfg_err(err, errlen, AZR_E_CONFIG,
                                   "%s: cannot read: %s", path, strerror(e));
            }
            break;
        }
    }
    fclose(f);
    if (len > CFG_FILE_MAX) {
        free(buf);
        return azr_cfg_err(err, errlen, AZR_E_CONFIG,
                           "%s: file too large (max %u bytes)", path,
                           CFG_FILE_MAX);
    }
    buf[len] = '\0';
    rc = load_text(buf, len, path, out, err, errlen);
    free(buf);
    return rc;
}
