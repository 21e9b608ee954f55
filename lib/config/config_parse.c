/*
 * config_parse.c - the loader's record of its first error, and the labels
 * its messages give sections (see config_parse.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "config_parse.h"

int azr__cfg_perr(azr_cfg_parser *p, unsigned line, azr_code code,
                  const char *fmt, ...)
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
        azr__cfg_err(p->err, p->errlen, code, "%s:%u: %s", p->name, line, msg);
    else
        azr__cfg_err(p->err, p->errlen, code, "%s: %s", p->name, msg);
    return 0;
}

int azr__cfg_nomem(azr_cfg_parser *p)
{
    return azr__cfg_perr(p, p->lineno, AZR_E_NOMEM, "out of memory");
}

const char *azr__cfg_sec_label(const azr_cfg_parser *p, char *buf,
                               size_t buflen)
{
    char q[AZR_CFG_QUOTE_BUF];
    switch (p->sec) {
    case SEC_AZROUTE: return "[azroute]";
    case SEC_METADATA: return "[metadata]";
    case SEC_AZ_MAP: return "[az_map]";
    case SEC_STATS: return "[stats]";
    case SEC_TOPOLOGY: return "[topology]";
    case SEC_NODE:
        snprintf(buf, buflen, "[node %s]",
                 azr__cfg_quote(q, p->cfg->nodes[p->sec_index].id));
        return buf;
    case SEC_POLICY:
    case SEC_TRANSPORT:
        snprintf(buf, buflen, "[%s %s]",
                 p->sec == SEC_POLICY ? "policy" : "transport",
                 azr__cfg_quote(q, p->cfg->sections[p->sec_index].name));
        return buf;
    case SEC_NONE:
        break;
    }
    return "[]";
}
