/*
 * nodes_env.c - nodes given in an environment variable.
 *
 * Format: comma-separated entries "id|address|port|az_id|az_name|role";
 * blanks around entries and fields are ignored. az_id may be empty when
 * az_name is mapped in [az_map] (or is itself an AZ ID); when both are
 * given az_id wins, and a contradicting [az_map] entry is an error. Outside
 * [topology] mode = static an entry is a hint, as a [node] section is
 * there: both AZ fields may be empty (no AZ known) and the role field must
 * be, the servers being the truth for roles. Every
 * node is validated exactly like a [node] section (the rules of values.h,
 * the node table of config_data.c); the loader calls in here, never the
 * other way round.
 *
 * Messages are "WHERE entry N: reason" and quote at most a field, never the
 * whole value.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_priv.h"

/* Longest entry accepted (id 64 + host 253 + the rest, with room). */
#define ENTRY_MAX 512
#define N_FIELDS 6

enum { F_ID, F_ADDRESS, F_PORT, F_AZ_ID, F_AZ_NAME, F_ROLE };

typedef struct env_ctx {
    azr_config *cfg;
    const char *where;
    size_t entry;       /* 1-based */
    size_t n_before;    /* nodes present before this call */
    char *err;
    size_t errlen;
} env_ctx;

static azr_code fail(env_ctx *c, azr_code code, const char *fmt, ...)
    AZR_PRINTF(3, 4);
static azr_code fail(env_ctx *c, azr_code code, const char *fmt, ...)
{
    char msg[AZR_ERRBUF_SIZE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Leave the table as it was before the call. */
    while (c->cfg->n_nodes > c->n_before)
        azr__cfg_node_clear(&c->cfg->nodes[--c->cfg->n_nodes]);
    return azr__cfg_err(c->err, c->errlen, code, "%s entry %zu: %s", c->where,
                        c->entry, msg);
}

/* Trims blanks in place; returns the start. */
static char *trim(char *s)
{
    char *e;
    while (azr__cfg_is_blank(*s))
        s++;
    e = s + strlen(s);
    while (e > s && azr__cfg_is_blank(e[-1]))
        *--e = '\0';
    return s;
}

/* Validates one entry (already split into fields) and appends its node. */
static azr_code add_entry(env_ctx *c, char **f)
{
    azr_config *cfg = c->cfg;
    char q[AZR_CFG_QUOTE_BUF], msg[AZR_ERRBUF_SIZE];
    int is_static = cfg->topo_mode == AZR_TOPO_STATIC;
    unsigned port;
    azr_role role = AZR_ROLE_REPLICA; /* meaningless unless static */
    azr_cfg_node *node;
    long dup;
    azr_code rc;

    if (!azr__cfg_chars_valid(f[F_ID], strlen(f[F_ID]),
                              &azr__cfg_node_id_chars))
        return fail(c, AZR_E_CONFIG,
                    "bad node id '%s' (1 to 64 of A-Z a-z 0-9 . _ : -)",
                    azr__cfg_quote(q, f[F_ID]));
    dup = azr__cfg_node_find(cfg, f[F_ID]);
    if (dup >= 0 && (size_t)dup >= c->n_before)
        return fail(c, AZR_E_CONFIG, "duplicate node id '%s' (also entry %zu)",
                    f[F_ID], (size_t)dup - c->n_before + 1);
    if (dup >= 0 && cfg->nodes[dup].line != 0)
        return fail(c, AZR_E_CONFIG,
                    "duplicate node id '%s' (first defined at line %u)",
                    f[F_ID], cfg->nodes[dup].line);
    if (dup >= 0)
        return fail(c, AZR_E_CONFIG, "duplicate node id '%s'", f[F_ID]);
    if (!azr__cfg_chars_valid(f[F_ADDRESS], strlen(f[F_ADDRESS]),
                              &azr__cfg_host_chars))
        return fail(c, AZR_E_CONFIG, "bad address '%s'",
                    azr__cfg_quote(q, f[F_ADDRESS]));
    if (azr__cfg_parse_uint(f[F_PORT], 1, AZR_CFG_PORT_MAX, &port) != 0)
        return fail(c, AZR_E_CONFIG, "bad port '%s' (expected 1..%u)",
                    azr__cfg_quote(q, f[F_PORT]), AZR_CFG_PORT_MAX);
    if (f[F_AZ_ID][0] != '\0' && !azr__az_id_valid(f[F_AZ_ID]))
        return fail(c, AZR_E_CONFIG,
                    "bad AZ ID '%s' (expected e.g. apne1-az4)",
                    azr__cfg_quote(q, f[F_AZ_ID]));
    if (is_static && f[F_AZ_ID][0] == '\0' && f[F_AZ_NAME][0] == '\0')
        return fail(c, AZR_E_CONFIG, "no AZ (az_id and az_name are empty)");
    if (!is_static && f[F_ROLE][0] != '\0')
        return fail(c, AZR_E_CONFIG,
                    "role is learned from the servers in mode = %s; leave "
                    "the role field empty",
                    azr__cfg_topo_mode_name(cfg->topo_mode));
    if (is_static && azr__cfg_parse_role(f[F_ROLE], &role) != 0)
        return fail(c, AZR_E_CONFIG,
                    "bad role '%s' (expected primary or replica)",
                    azr__cfg_quote(q, f[F_ROLE]));
    if (cfg->n_nodes >= AZR_MAX_NODES)
        return fail(c, AZR_E_CONFIG, "too many nodes (max %d)",
                    AZR_MAX_NODES);

    node = azr__cfg_node_append(cfg);
    if (node == NULL)
        return fail(c, AZR_E_NOMEM, "out of memory");
    node->port = port;
    node->role = role;
    node->has_role = is_static;
    node->line = cfg->nodes_env_line;
    node->id = strdup(f[F_ID]);
    node->host = strdup(f[F_ADDRESS]);
    if (node->id == NULL || node->host == NULL)
        return fail(c, AZR_E_NOMEM, "out of memory");
    if (f[F_AZ_ID][0] != '\0' && (node->az_id = strdup(f[F_AZ_ID])) == NULL)
        return fail(c, AZR_E_NOMEM, "out of memory");
    if (f[F_AZ_ID][0] == '\0' && f[F_AZ_NAME][0] == '\0')
        return AZR_OK; /* a hint without AZ (not static: checked above) */
    rc = azr__cfg_resolve_az(cfg, node, f[F_AZ_NAME], msg, sizeof msg);
    if (rc != AZR_OK)
        return fail(c, rc, "%s", msg);
    return AZR_OK;
}

azr_code azr__config_add_nodes_env(azr_config *cfg, const char *value,
                                   const char *where, char *err,
                                   size_t errlen)
{
    env_ctx c;
    const char *s = value;

    if (cfg == NULL || value == NULL)
        return azr__cfg_err(err, errlen, AZR_E_INVALID_ARGUMENT,
                            "azr__config_add_nodes_env: NULL argument");
    memset(&c, 0, sizeof c);
    c.cfg = cfg;
    c.where = where != NULL ? where : "nodes_env";
    c.n_before = cfg->n_nodes;
    c.err = err;
    c.errlen = errlen;

    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);
        char buf[ENTRY_MAX + 1], *entry, *f[N_FIELDS], *field;
        size_t nf = 0;
        azr_code rc;

        c.entry++;
        if (len > ENTRY_MAX)
            return fail(&c, AZR_E_CONFIG, "too long (max %d characters)",
                        ENTRY_MAX);
        memcpy(buf, s, len);
        buf[len] = '\0';
        entry = trim(buf);
        if (*entry == '\0')
            return fail(&c, AZR_E_CONFIG, "empty entry");
        /* Split on '|', counting every field so that the message can say
         * how many there were. */
        field = entry;
        for (;;) {
            char *bar = strchr(field, '|');
            if (bar != NULL)
                *bar = '\0';
            if (nf < N_FIELDS)
                f[nf] = trim(field);
            nf++;
            if (bar == NULL)
                break;
            field = bar + 1;
        }
        if (nf != N_FIELDS)
            return fail(&c, AZR_E_CONFIG,
                        "expected 6 fields id|address|port|az_id|az_name|"
                        "role, got %zu", nf);
        rc = add_entry(&c, f);
        if (rc != AZR_OK)
            return rc;
        if (comma == NULL)
            return AZR_OK;
        s = comma + 1;
    }
}
