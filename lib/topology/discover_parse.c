/*
 * discover_parse.c - what discovery takes from the servers' replies (see
 * discover.h), apart from any I/O so that it can be fuzzed
 * (tests/fuzz/fuzz_discovery.c): ROLE and INFO server checked shape by
 * shape, the servers they name added to the list, and the group decided.
 * A reply that is not well-formed fails the whole discovery, so that a
 * broken or hostile node can never shape the table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discover.h"
#include "../config/values.h"

static int is_text(const azr_reply *r)
{
    return r != NULL && (r->type == AZR_REPLY_STRING ||
                         r->type == AZR_REPLY_STATUS ||
                         r->type == AZR_REPLY_VERBATIM) &&
           r->str != NULL;
}

/* Copies a text reply into buf (NUL-free, shorter than len). */
static int text_copy(const azr_reply *r, char *buf, size_t len)
{
    if (!is_text(r) || r->len >= len || memchr(r->str, '\0', r->len) != NULL)
        return -1;
    memcpy(buf, r->str, r->len);
    buf[r->len] = '\0';
    return 0;
}

/* A port given as an integer or as its decimal text (ROLE lists replica
 * ports as bulk strings, the primary's port as an integer). */
static int port_of(const azr_reply *r, unsigned *port)
{
    long long v = -1;
    if (r != NULL && r->type == AZR_REPLY_INTEGER) {
        v = r->integer;
    } else if (is_text(r) && r->len > 0 && r->len <= 5) {
        v = 0;
        for (size_t i = 0; i < r->len; i++) {
            if (r->str[i] < '0' || r->str[i] > '9')
                return -1;
            v = v * 10 + (r->str[i] - '0');
        }
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = (unsigned)v;
    return 0;
}

static int host_ok(const char *h)
{
    return h[0] != '\0' &&
           azr__cfg_chars_valid(h, strlen(h), &azr__cfg_host_chars);
}

azr_found *azr__discovery_add(azr_discovery *d, const char *host,
                               unsigned port, const char *tls_name)
{
    for (size_t i = 0; i < d->n_found; i++)
        if (d->found[i].port == port && strcmp(d->found[i].host, host) == 0)
            return &d->found[i];
    if (d->n_found >= AZR_MAX_NODES)
        return NULL;
    if (d->n_found == d->cap) {
        size_t n = d->cap ? d->cap * 2 : 8;
        azr_found *f = realloc(d->found, n * sizeof *f);
        if (f == NULL)
            return NULL;
        d->found = f;
        d->cap = n;
    }
    azr_found *f = &d->found[d->n_found++];
    memset(f, 0, sizeof *f);
    snprintf(f->host, sizeof f->host, "%s", host);
    f->port = port;
    snprintf(f->tls_name, sizeof f->tls_name, "%s", tls_name);
    f->listed_by = SIZE_MAX;
    return f;
}

/* "availability_zone:VALUE" from INFO's text, checked. */
static azr_code parse_info(const azr_reply *r, azr_found *f, char *errbuf)
{
    if (!is_text(r))
        return azr__set_err(errbuf, AZR_E_PROTOCOL, "%s:%u answered INFO "
                            "with something that is not text", f->host,
                            f->port);
    static const char key[] = "availability_zone:";
    const char *p = r->str, *end = r->str + r->len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol != NULL ? eol : end;
        size_t n = (size_t)(line_end - p);
        if (n > 0 && line_end[-1] == '\r')
            n--;
        if (n >= sizeof key - 1 && memcmp(p, key, sizeof key - 1) == 0) {
            const char *v = p + sizeof key - 1;
            size_t vlen = n - (sizeof key - 1);
            if (vlen > AZR_DISC_AZ_MAX)
                return azr__set_err(errbuf, AZR_E_PROTOCOL, "%s:%u reports "
                                    "an availability_zone of %zu bytes (at "
                                    "most %d)", f->host, f->port, vlen,
                                    AZR_DISC_AZ_MAX);
            for (size_t i = 0; i < vlen; i++) {
                unsigned char c = (unsigned char)v[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                      c == '.'))
                    return azr__set_err(errbuf, AZR_E_PROTOCOL, "%s:%u "
                                        "reports an availability_zone with "
                                        "byte 0x%02x at offset %zu (allowed: "
                                        "A-Z a-z 0-9 - _ .)", f->host,
                                        f->port, c, i);
            }
            memcpy(f->az, v, vlen);
            f->az[vlen] = '\0';
        }
        p = line_end + 1;
    }
    return AZR_OK;
}

/* ROLE of a primary: ["master", offset, [[host, port, offset], ...]]. The
 * replicas it lists are queued. */
static azr_code parse_master(azr_discovery *d, size_t self,
                             const azr_reply *r, char *errbuf)
{
    azr_found *f = &d->found[self];
    const azr_reply *list = r->elements >= 3 ? r->element[2] : NULL;
    if (list == NULL || list->type != AZR_REPLY_ARRAY)
        return azr__set_err(errbuf, AZR_E_PROTOCOL, "%s:%u: ROLE 'master' "
                            "without a replica list", f->host, f->port);
    if (list->elements > AZR_MAX_NODES)
        return azr__set_err(errbuf, AZR_E_PROTOCOL, "%s:%u lists %zu "
                            "replicas, more than the %d nodes a table "
                            "holds", f->host, f->port, list->elements,
                            AZR_MAX_NODES);
    f->role = AZR_ROLE_PRIMARY;
    f->n_listed = list->elements;
    for (size_t i = 0; i < list->elements; i++) {
        const azr_reply *e = list->element[i];
        char host[AZR_DISC_HOST_MAX];
        unsigned port;
        if (e == NULL || e->type != AZR_REPLY_ARRAY || e->elements < 2 ||
            text_copy(e->element[0], host, sizeof host) != 0 ||
            !host_ok(host) || port_of(e->element[1], &port) != 0)
            return azr__set_err(errbuf, AZR_E_PROTOCOL, "%s:%u: ROLE "
                                "replica entry %zu is not [host, port, "
                                "offset]", d->found[self].host,
                                d->found[self].port, i);
        char tls[AZR_DISC_HOST_MAX];
        snprintf(tls, sizeof tls, "%s", d->found[self].tls_name);
        azr_found *rep = azr__discovery_add(d, host, port, tls);
        if (rep == NULL)
            return azr__set_err(errbuf, AZR_E_NOMEM, "%s:%u names more "
                                "nodes than a table holds (%d) or memory "
                                "ran out", d->found[self].host,
                                d->found[self].port, AZR_MAX_NODES);
        if (rep->listed_by == SIZE_MAX)
            rep->listed_by = self;
    }
    return AZR_OK;
}

/* ROLE of a replica: ["slave", host, port, state, offset]. */
static azr_code parse_replica(azr_discovery *d, size_t self,
                              const azr_reply *r, char *errbuf)
{
    azr_found *f = &d->found[self];
    if (r->elements < 3 ||
        text_copy(r->element[1], f->master_host, sizeof f->master_host) ||
        !host_ok(f->master_host) ||
        port_of(r->element[2], &f->master_port) != 0)
        return azr__set_err(errbuf, AZR_E_PROTOCOL, "%s:%u: ROLE 'slave' "
                            "without a valid primary host and port", f->host,
                            f->port);
    f->role = AZR_ROLE_REPLICA;
    char host[AZR_DISC_HOST_MAX], tls[AZR_DISC_HOST_MAX];
    snprintf(host, sizeof host, "%s", f->master_host);
    snprintf(tls, sizeof tls, "%s", f->tls_name);
    if (azr__discovery_add(d, host, d->found[self].master_port, tls) == NULL)
        return azr__set_err(errbuf, AZR_E_NOMEM, "too many nodes (%d)",
                            AZR_MAX_NODES);
    return AZR_OK;
}

static azr_code parse_role(azr_discovery *d, size_t self,
                           const azr_reply *r, char *errbuf)
{
    const azr_found *f = &d->found[self];
    char kind[16];
    if (r == NULL || r->type != AZR_REPLY_ARRAY || r->elements < 1 ||
        text_copy(r->element[0], kind, sizeof kind) != 0)
        return azr__set_err(errbuf, AZR_E_PROTOCOL, "%s:%u answered ROLE "
                            "with something that is not a ROLE reply%s%.80s",
                            f->host, f->port,
                            r != NULL && r->type == AZR_REPLY_ERROR ? ": "
                                                                     : "",
                            r != NULL && r->type == AZR_REPLY_ERROR &&
                                    r->str != NULL ? r->str : "");
    if (strcmp(kind, "master") == 0)
        return parse_master(d, self, r, errbuf);
    if (strcmp(kind, "slave") == 0)
        return parse_replica(d, self, r, errbuf);
    return azr__set_err(errbuf, AZR_E_PROTOCOL, "%s:%u has ROLE '%s', not "
                        "a data node of a replication group", f->host,
                        f->port, kind);
}

azr_code azr__discovery_parse_az(azr_found *f, const azr_reply *info,
                                 char *errbuf)
{
    return parse_info(info, f, errbuf);
}

azr_code azr__discovery_parse(azr_discovery *d, size_t i,
                              const azr_reply *role, const azr_reply *info,
                              char *errbuf)
{
    azr_code rc = parse_role(d, i, role, errbuf);
    if (rc == AZR_OK)
        rc = parse_info(info, &d->found[i], errbuf);
    if (rc == AZR_OK)
        d->found[i].answered = 1;
    return rc;
}

static size_t find(const azr_discovery *d, const char *host, unsigned port)
{
    for (size_t i = 0; i < d->n_found; i++)
        if (d->found[i].port == port && strcmp(d->found[i].host, host) == 0)
            return i;
    return SIZE_MAX;
}

/* The primary: a server saying so that lists the most replicas; else the
 * address the most replicas follow (it may be down: writes then fail
 * until a replica is promoted). */
static size_t choose_primary(const azr_discovery *d)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < d->n_found; i++) {
        const azr_found *f = &d->found[i];
        if (f->answered && f->role == AZR_ROLE_PRIMARY &&
            (best == SIZE_MAX || f->n_listed > d->found[best].n_listed))
            best = i;
    }
    if (best != SIZE_MAX)
        return best;
    size_t votes_best = 0;
    for (size_t i = 0; i < d->n_found; i++) {
        size_t votes = 0;
        for (size_t k = 0; k < d->n_found; k++) {
            const azr_found *r = &d->found[k];
            if (r->answered && r->role == AZR_ROLE_REPLICA &&
                r->master_port == d->found[i].port &&
                strcmp(r->master_host, d->found[i].host) == 0)
                votes++;
        }
        if (votes > votes_best) {
            votes_best = votes;
            best = i;
        }
    }
    return best;
}

int azr__discovery_member(const azr_discovery *d, size_t i)
{
    const azr_found *f = &d->found[i];
    if (i == d->primary)
        return 1;
    if (d->primary != SIZE_MAX && f->listed_by == d->primary)
        return 1;
    if (!f->answered || f->role != AZR_ROLE_REPLICA)
        return 0;
    /* A replica that follows the primary (not yet listed: linking) or a
     * primary that cannot be reached (the group is failing over). */
    size_t m = find(d, f->master_host, f->master_port);
    return m == d->primary || (m != SIZE_MAX && !d->found[m].answered);
}

/* The same primary reached under two names (a seed's host name, and the
 * IP address its replicas follow): both answer "master" and list the same
 * replicas. The group knows it by the replicas' name, which is also what
 * [node] hints are written with (azroute.ini(5), ELASTICACHE), so that
 * name is kept and the seed's twin is left out. */
static size_t as_replicas_name_it(azr_discovery *d, size_t p)
{
    for (size_t i = 0; i < d->n_found; i++) {
        const azr_found *r = &d->found[i];
        if (r->listed_by != p || !r->answered || r->role != AZR_ROLE_REPLICA)
            continue;
        size_t x = find(d, r->master_host, r->master_port);
        if (x == SIZE_MAX || x == p || !d->found[x].answered ||
            d->found[x].role != AZR_ROLE_PRIMARY ||
            d->found[x].n_listed != d->found[p].n_listed)
            return p;
        for (size_t k = 0; k < d->n_found; k++)
            if (d->found[k].listed_by == p)
                d->found[k].listed_by = x;
        return x;
    }
    return p;
}

void azr__discovery_decide(azr_discovery *d)
{
    d->primary = choose_primary(d);
    if (d->primary != SIZE_MAX && d->found[d->primary].answered)
        d->primary = as_replicas_name_it(d, d->primary);
}

void azr__discovery_free(azr_discovery *d)
{
    free(d->found);
    d->found = NULL;
    d->n_found = d->cap = 0;
}
