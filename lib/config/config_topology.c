/*
 * config_topology.c - the values of azroute.ini's [topology] section:
 *
 *   mode = static | replication | cluster
 *   seeds = host[:port], ...    where discovery starts; each entry a host
 *                               (the [node] host rule, values.h) with an
 *                               optional port 1..65535 (default 6379); an
 *                               IPv6 address is written in brackets,
 *                               [2001:db8::1] or [2001:db8::1]:6380
 *
 * The numeric keys (refresh_ms, failover_wait_ms) use the shared decimal
 * rule and are read by config_keys.c; which keys a mode allows is checked
 * once the whole file is read (config_check.c), as [topology] may follow
 * the [node] sections.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_priv.h"

static const char *const mode_names[] = {
    [AZR_TOPO_STATIC] = "static",
    [AZR_TOPO_REPLICATION] = "replication",
    [AZR_TOPO_CLUSTER] = "cluster"
};

const char *azr__cfg_topo_mode_name(azr_topology_mode mode)
{
    return mode_names[mode];
}

int azr__cfg_topo_mode_parse(const char *s, azr_topology_mode *mode)
{
    for (size_t i = 0; i < sizeof mode_names / sizeof *mode_names; i++) {
        if (strcmp(s, mode_names[i]) == 0) {
            *mode = (azr_topology_mode)i;
            return 0;
        }
    }
    return -1;
}

static azr_code why_err(char *why, size_t whylen, azr_code code,
                        const char *fmt, ...) AZR_PRINTF(4, 5);
static azr_code why_err(char *why, size_t whylen, azr_code code,
                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return code;
}

#define SEED_SHAPE "expected host, host:port or [IPv6 address]:port"

/*
 * Splits one seed entry `item` (blanks trimmed, not empty) into its host
 * (copied into host, AZR_CFG_HOST_MAX + 1 bytes) and port. The host is
 * everything before the one ':' or, in brackets, an IPv6 address: an
 * unbracketed entry with two or more ':' is refused rather than guessed at
 * ("2001:db8::1:6380" could be an address or an address and a port).
 */
static azr_code split_seed(const char *item, char *host, unsigned *port,
                           char *why, size_t whylen)
{
    char q[AZR_CFG_QUOTE_BUF], q2[AZR_CFG_QUOTE_BUF];
    const char *h = item, *he, *ps = NULL;

    if (*item == '[') {
        h = item + 1;
        he = strchr(h, ']');
        if (he == NULL || (he[1] != '\0' && he[1] != ':') ||
            memchr(h, ':', (size_t)(he - h)) == NULL)
            return why_err(why, whylen, AZR_E_CONFIG,
                           "bad seed '%s' (" SEED_SHAPE ")",
                           azr__cfg_quote(q, item));
        if (he[1] == ':')
            ps = he + 2;
    } else {
        const char *colon = strchr(item, ':');
        if (colon != NULL && strchr(colon + 1, ':') != NULL)
            return why_err(why, whylen, AZR_E_CONFIG,
                           "bad seed '%s' (an IPv6 address goes in "
                           "brackets: [2001:db8::1]:6379)",
                           azr__cfg_quote(q, item));
        he = colon != NULL ? colon : item + strlen(item);
        if (colon != NULL)
            ps = colon + 1;
    }
    if (!azr__cfg_chars_valid(h, (size_t)(he - h), &azr__cfg_host_chars))
        return why_err(why, whylen, AZR_E_CONFIG,
                       "bad seed '%s' (bad host)", azr__cfg_quote(q, item));
    memcpy(host, h, (size_t)(he - h));
    host[he - h] = '\0';
    *port = AZR_TOPO_SEED_PORT_DEFAULT;
    if (ps != NULL && azr__cfg_parse_uint(ps, 1, AZR_CFG_PORT_MAX, port) != 0)
        return why_err(why, whylen, AZR_E_CONFIG,
                       "bad seed '%s' (bad port '%s', expected 1..65535)",
                       azr__cfg_quote(q, item), azr__cfg_quote(q2, ps));
    return AZR_OK;
}

/* Appends one seed to cfg, refusing the same host and port twice. */
static azr_code add_seed(azr_config *cfg, const char *item, const char *host,
                         unsigned port, char *why, size_t whylen)
{
    char q[AZR_CFG_QUOTE_BUF];
    azr_cfg_seed *seeds;

    for (size_t i = 0; i < cfg->n_seeds; i++)
        if (cfg->seeds[i].port == port &&
            strcmp(cfg->seeds[i].host, host) == 0)
            return why_err(why, whylen, AZR_E_CONFIG,
                           "seeds: '%s' is given twice (entries %zu and %zu)",
                           azr__cfg_quote(q, item), i + 1, cfg->n_seeds + 1);
    if (cfg->n_seeds >= AZR_MAX_NODES)
        return why_err(why, whylen, AZR_E_CONFIG,
                       "too many seeds (max %d)", AZR_MAX_NODES);
    seeds = azr__cfg_grow(cfg->seeds, cfg->n_seeds, sizeof *seeds);
    if (seeds == NULL)
        return why_err(why, whylen, AZR_E_NOMEM, "out of memory");
    cfg->seeds = seeds;
    seeds[cfg->n_seeds].host = strdup(host);
    if (seeds[cfg->n_seeds].host == NULL)
        return why_err(why, whylen, AZR_E_NOMEM, "out of memory");
    seeds[cfg->n_seeds++].port = port;
    return AZR_OK;
}

azr_code azr__cfg_topo_seeds(azr_config *cfg, const char *value, char *why,
                             size_t whylen)
{
    /* Longest entry worth splitting: a bracketed host of the longest
     * length, a port and blanks; a longer one is refused by the host rule
     * anyway, so it is cut (and quoted cut) rather than copied whole. */
    char item[AZR_CFG_HOST_MAX + 16], host[AZR_CFG_HOST_MAX + 1];
    const char *s = value;
    size_t pos = 0;
    azr_code rc = AZR_OK;

    for (;;) {
        const char *comma = strchr(s, ',');
        const char *b = s, *e = comma != NULL ? comma : s + strlen(s);
        size_t len, cut;
        unsigned port;

        pos++;
        while (b < e && azr__cfg_is_blank(*b))
            b++;
        while (e > b && azr__cfg_is_blank(e[-1]))
            e--;
        if (b == e) {
            rc = why_err(why, whylen, AZR_E_CONFIG, "seeds: empty entry %zu",
                         pos);
            break;
        }
        len = (size_t)(e - b);
        cut = len < sizeof item ? len : sizeof item - 1;
        memcpy(item, b, cut);
        item[cut] = '\0';
        if (len > cut) {
            char q[AZR_CFG_QUOTE_BUF];
            rc = why_err(why, whylen, AZR_E_CONFIG,
                         "bad seed '%s' (bad host)", azr__cfg_quote(q, item));
            break;
        }
        rc = split_seed(item, host, &port, why, whylen);
        if (rc == AZR_OK)
            rc = add_seed(cfg, item, host, port, why, whylen);
        if (rc != AZR_OK || comma == NULL)
            break;
        s = comma + 1;
    }
    if (rc != AZR_OK)
        azr__cfg_topo_clear(cfg);
    return rc;
}

void azr__cfg_topo_clear(azr_config *cfg)
{
    for (size_t i = 0; i < cfg->n_seeds; i++)
        free(cfg->seeds[i].host);
    free(cfg->seeds);
    cfg->seeds = NULL;
    cfg->n_seeds = 0;
}
