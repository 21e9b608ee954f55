/*
 * discover_cluster.c - asks a Valkey/Redis Cluster's nodes what the
 * cluster is (see discover.h): the slot map from one node, then each
 * node's own availability_zone. lib/cluster/slotmap.c reads the map.
 */
#include <stdio.h>
#include <string.h>

#include "discover.h"
#include "../cluster/cluster.h"

/* Reads a map reply; `tls` as azr__slotmap_from_shards. */
static azr_code map_from(const azr_reply *r, int shards, const char *host,
                         int tls, azr_slotmap *map, char *errbuf)
{
    return shards ? azr__slotmap_from_shards(r, host, tls, map, errbuf)
                  : azr__slotmap_from_slots(r, host, map, errbuf);
}

/* 1 if a node of the map listens on `port` (the port we reached). */
static int has_port(const azr_slotmap *m, unsigned port)
{
    for (size_t k = 0; k < m->n_shards; k++)
        for (size_t j = 0; j < m->shards[k].n_nodes; j++)
            if (m->shards[k].nodes[j].port == port)
                return 1;
    return 0;
}

static int is_error(const azr_reply *r)
{
    return r != NULL &&
           (r->type == AZR_REPLY_ERROR || r->type == AZR_REPLY_BLOB_ERROR);
}

/* 1 if error reply r's text holds `what`. */
static int mentions(const azr_reply *r, const char *what)
{
    return r->str != NULL && strstr(r->str, what) != NULL;
}

/* The slot map as `seed` sees it. AZR_E_CONNECT: not reachable, or not
 * serving now (an error other than "not a cluster node"). */
static azr_code ask_map(azr_ctx *ctx, const azr_found *seed,
                        azr_slotmap *map, char *errbuf)
{
    static const char *const shards_argv[] = { "CLUSTER", "SHARDS" };
    static const char *const slots_argv[] = { "CLUSTER", "SLOTS" };
    const azr_command shards = { .argc = 2, .argv = shards_argv };
    const azr_command slots = { .argc = 2, .argv = slots_argv };
    azr_reply *r = NULL;
    int use_shards = 1;
    azr_code rc = azr__discovery_ask(ctx, seed, 1, &shards, &r, errbuf);
    if (rc == AZR_OK && is_error(r) && mentions(r, "unknown")) {
        /* Redis before 7.0: no CLUSTER SHARDS */
        azr_reply_free(r);
        r = NULL;
        use_shards = 0;
        rc = azr__discovery_ask(ctx, seed, 1, &slots, &r, errbuf);
    }
    if (rc != AZR_OK)
        return rc;
    if (is_error(r)) {
        /* Not a cluster node: the configuration is wrong. Anything else
         * (LOADING, BUSY, NOPERM, ...) is this node's trouble now: the
         * next seed is asked. */
        int disabled = mentions(r, "cluster support disabled");
        azr__log(ctx, AZR_LOG_INFO, "topology: %s:%u: CLUSTER %s: %.120s",
                 seed->host, seed->port,
                 use_shards ? "SHARDS" : "SLOTS",
                 r->str != NULL ? r->str : "");
        rc = disabled ? azr__set_err(errbuf, AZR_E_PROTOCOL, "%s:%u is not "
                                     "a cluster node (mode = cluster): "
                                     "CLUSTER %s: %.120s", seed->host,
                                     seed->port,
                                     use_shards ? "SHARDS" : "SLOTS", r->str)
                      : AZR_E_CONNECT;
        azr_reply_free(r);
        return rc;
    }
    /* A node lists its TLS port when we reached it over TLS, else its
     * plain port: whichever the map gives for the port we reached. */
    char err[AZR_ERRBUF_SIZE];
    rc = map_from(r, use_shards, seed->host, 1, map, err);
    if (rc == AZR_OK && use_shards && !has_port(map, seed->port)) {
        azr_slotmap plain;
        if (map_from(r, 1, seed->host, 0, &plain, NULL) == AZR_OK &&
            has_port(&plain, seed->port)) {
            azr__slotmap_free(map);
            *map = plain;
        } else if (plain.shards != NULL) {
            azr__slotmap_free(&plain);
        }
    }
    azr_reply_free(r);
    if (rc != AZR_OK)
        return azr__set_err(errbuf, rc, "%s:%u: %s", seed->host, seed->port,
                            err);
    return AZR_OK;
}

/* Adds the map's nodes to d (in map order) and asks each for its AZ. */
static azr_code ask_nodes(azr_ctx *ctx, const azr_slotmap *map,
                          const char *tls_name, azr_discovery *d,
                          char *errbuf)
{
    static const char *const info_argv[] = { "INFO", "server" };
    const azr_command info = { .argc = 2, .argv = info_argv };
    for (size_t k = 0; k < map->n_shards; k++) {
        const azr_cl_shard *sh = &map->shards[k];
        for (size_t j = 0; j < sh->n_nodes; j++) {
            const azr_cl_node *n = &sh->nodes[j];
            azr_found *f = azr__discovery_add(
                d, n->host, n->port,
                n->hostname[0] != '\0' ? n->hostname : tls_name);
            if (f == NULL)
                return azr__set_err(errbuf, AZR_E_NOMEM, "out of memory");
            f->role = j == sh->primary ? AZR_ROLE_PRIMARY : AZR_ROLE_REPLICA;
            if (n->failed)
                continue;
            azr_reply *r = NULL;
            azr_code rc = azr__discovery_ask(ctx, f, 1, &info, &r, errbuf);
            if (rc == AZR_OK && !is_error(r))
                rc = azr__discovery_parse_az(f, r, errbuf);
            azr_reply_free(r);
            if (rc == AZR_OK)
                f->answered = 1;
            else if (rc != AZR_E_CONNECT)
                return rc;
        }
    }
    return AZR_OK;
}

azr_code azr__discover_cluster(azr_ctx *ctx, const azr_seed *seeds,
                               size_t n_seeds, azr_discovery *out,
                               azr_slotmap *map, char *errbuf)
{
    memset(out, 0, sizeof *out);
    memset(map, 0, sizeof *map);
    out->primary = SIZE_MAX;
    azr_code rc = AZR_E_CONNECT;
    size_t tried = 0;
    const char *tls_name = NULL;
    for (size_t i = 0; i < n_seeds && rc == AZR_E_CONNECT; i++) {
        azr_found seed;
        memset(&seed, 0, sizeof seed);
        snprintf(seed.host, sizeof seed.host, "%s", seeds[i].host);
        snprintf(seed.tls_name, sizeof seed.tls_name, "%s",
                 seeds[i].tls_name != NULL ? seeds[i].tls_name
                                           : seeds[i].host);
        seed.port = seeds[i].port;
        tried++;
        rc = ask_map(ctx, &seed, map, errbuf);
        if (rc == AZR_OK)
            tls_name = seeds[i].tls_name != NULL ? seeds[i].tls_name
                                                 : seeds[i].host;
    }
    if (rc == AZR_E_CONNECT)
        return azr__set_err(errbuf, AZR_E_CONNECT, "topology: no cluster "
                            "node answered (%zu tried, from %s:%u; see the "
                            "log at INFO)", tried, seeds[0].host,
                            seeds[0].port);
    if (rc == AZR_OK)
        rc = ask_nodes(ctx, map, tls_name, out, errbuf);
    if (rc != AZR_OK) {
        azr__discovery_free(out);
        azr__slotmap_free(map);
    }
    return rc;
}
