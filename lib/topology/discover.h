/*
 * discover.h - what a replication group's servers say about it: who is
 * the primary, which replicas follow it, and each node's own
 * availability_zone. Network only; no context state is changed here.
 */
#ifndef AZR_LIB_DISCOVER_H
#define AZR_LIB_DISCOVER_H

#include <stddef.h>

#include "../core/internal.h"

/* Longest host name kept (RFC 1035: 253) and longest availability_zone
 * accepted from a server. */
#define AZR_DISC_HOST_MAX 256
#define AZR_DISC_AZ_MAX 64

/* One server as discovery saw it. */
typedef struct azr_found {
    char host[AZR_DISC_HOST_MAX];
    unsigned port;
    char tls_name[AZR_DISC_HOST_MAX]; /* the seed's host it was found via */
    int answered;           /* ROLE and INFO answered */
    azr_role role;          /* when answered */
    char az[AZR_DISC_AZ_MAX + 1]; /* INFO availability_zone; "" if none */
    /* a replica: the primary it follows */
    char master_host[AZR_DISC_HOST_MAX];
    unsigned master_port;
    /* a primary: how many replicas its ROLE lists */
    size_t n_listed;
    size_t listed_by;       /* index of the primary listing it, or SIZE_MAX */
} azr_found;

/* One seed: where discovery starts. */
typedef struct azr_seed {
    const char *host;
    unsigned port;
    const char *tls_name;   /* the name its certificate is verified
                               against; NULL: host */
} azr_seed;

typedef struct azr_discovery {
    azr_found *found;       /* every server reached or named */
    size_t n_found, cap;
    size_t primary;         /* index in found[], SIZE_MAX: none */
} azr_discovery;

/*
 * Queries the seeds, then every node they name (replicas of a primary, the
 * primary of a replica), each with ROLE and INFO server through the
 * context's transport, and decides the group: the primary is the server
 * that says it is one and lists the most replicas (else the address most
 * replicas follow); the members are that primary, the replicas it lists,
 * and the replicas that answered and follow it or an unreachable primary.
 * Fails (errbuf says which node and what) when no seed answers, a server
 * answers something that is not a well-formed ROLE or INFO reply, a
 * server names more nodes than a table holds, or an availability_zone is
 * longer than AZR_DISC_AZ_MAX or holds characters outside A-Z a-z 0-9 - _
 * . Caller frees out with azr__discovery_free().
 */
azr_code azr__discover_replication(azr_ctx *ctx, const azr_seed *seeds,
                                   size_t n_seeds, azr_discovery *out,
                                   char *errbuf);

/* Sends the n commands to f's server (verified against f->tls_name) on a
 * connection of its own, closed after, and takes the replies (the caller
 * frees them). AZR_E_CONNECT when the server cannot be reached or does
 * not answer (logged at INFO: not a failure of discovery by itself);
 * AZR_E_PROTOCOL, with errbuf naming the server, when it answers
 * something that is not RESP. On failure every reply is NULL. */
azr_code azr__discovery_ask(azr_ctx *ctx, const azr_found *f, size_t n,
                            const azr_command *cmds, azr_reply **replies,
                            char *errbuf);

/*
 * discover_cluster.c: a Valkey/Redis Cluster. Asks the seeds in turn
 * for CLUSTER SHARDS (CLUSTER SLOTS where that is unknown) until one
 * answers, then every node of the map for INFO server (its
 * availability_zone). out->found[] holds the map's nodes in its order
 * (shard by shard; found[i].role is primary for each shard's primary,
 * answered 0 for a node that could not be asked), `map` the shards. A
 * node is verified against the host name it reports, else against the
 * host of the seed the map came from. Fails when no seed answers, a seed
 * is not a cluster node, or a reply is malformed (errbuf says which
 * server and what). Caller frees both.
 */
struct azr_slotmap;
azr_code azr__discover_cluster(azr_ctx *ctx, const azr_seed *seeds,
                               size_t n_seeds, azr_discovery *out,
                               struct azr_slotmap *map, char *errbuf);

/* discover_parse.c: the I/O-free part. */

/* Adds host:port (once; an existing entry is returned) with the name its
 * certificate is verified against. NULL past AZR_MAX_NODES or on ENOMEM. */
azr_found *azr__discovery_add(azr_discovery *d, const char *host,
                              unsigned port, const char *tls_name);

/* Takes found[i]'s answers to ROLE and INFO server: its role, its AZ, and
 * the servers it names (added). A reply that is not well-formed is an
 * error naming the server and what is wrong. */
azr_code azr__discovery_parse(azr_discovery *d, size_t i,
                              const azr_reply *role, const azr_reply *info,
                              char *errbuf);

/* Takes the availability_zone of an INFO server reply into f->az ("" if
 * none); a malformed one is an error naming the server. */
azr_code azr__discovery_parse_az(azr_found *f, const azr_reply *info,
                                 char *errbuf);

/* Decides the primary once every server was asked (d->primary). */
void azr__discovery_decide(azr_discovery *d);

/* 1 if found[i] is in the group decided by discovery. */
int azr__discovery_member(const azr_discovery *d, size_t i);

void azr__discovery_free(azr_discovery *d);

#endif /* AZR_LIB_DISCOVER_H */
