/*
 * cluster.h - the I/O-free parts of cluster mode (lib/cluster/): key to
 * slot (crc16.c), the slot a command routes by (keys.c), and the slot map
 * read from CLUSTER SHARDS or CLUSTER SLOTS replies (slotmap.c). Nothing
 * here touches a context or the network, so each part is unit-tested and
 * fuzzed on its own. Nothing here is part of the ABI.
 */
#ifndef AZR_LIB_CLUSTER_H
#define AZR_LIB_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include <azroute/azroute.h>

/* crc16.c: CRC16/XMODEM (poly 0x1021, init 0, no reflection), as Redis
 * Cluster uses it: azr__crc16("123456789", 9) == 0x31C3. azr_key_slot()
 * (azroute.h) is there too; a NULL key is the empty key (slot 0). */
uint16_t azr__crc16(const void *buf, size_t len);

/* keys.c: the slot of `cmd` (azr_command_slot() in azroute.h, which is a
 * wrapper of this). errbuf may be NULL; emptied on success. No
 * allocation. A numkeys that is not a count within argc, or an XREAD
 * without matching STREAMS keys and IDs, gives AZR_SLOT_NONE (the server
 * answers the syntax error). */
azr_code azr__command_slot(const azr_command *cmd, unsigned *slot,
                           char *errbuf);

/* Longest node id kept (the cluster's are 40 hex characters) and longest
 * host or host name (RFC 1035: 253). */
#define AZR_CL_ID_MAX 64
#define AZR_CL_HOST_MAX 256

/* One node of a shard, as the reply gives it. */
typedef struct azr_cl_node {
    char id[AZR_CL_ID_MAX];         /* "" when the reply names none */
    char host[AZR_CL_HOST_MAX];     /* "endpoint", else "ip"; `self_host`
                                       when the reply leaves it empty or
                                       "?" (the node we asked) */
    char hostname[AZR_CL_HOST_MAX]; /* "hostname"; "" when not reported */
    unsigned port;                  /* 1..65535 */
    int primary;                    /* role "master" */
    int failed;                     /* health "fail" (CLUSTER SHARDS) */
} azr_cl_node;

/* One shard: the slots it serves and its nodes. */
typedef struct azr_cl_shard {
    azr_slot_range *ranges;  /* ascending (sorted by the parser), not
                                overlapping */
    size_t n_ranges;
    azr_cl_node *nodes;
    size_t n_nodes;
    size_t primary;          /* index in nodes[] of its primary: the first
                                node with role master that has not
                                failed; SIZE_MAX when none */
} azr_cl_shard;

typedef struct azr_slotmap {
    azr_cl_shard *shards;
    size_t n_shards;
    size_t n_nodes;          /* over every shard, <= AZR_MAX_NODES */
} azr_slotmap;

/*
 * Reads a CLUSTER SHARDS reply (RESP2 flat key/value arrays or RESP3
 * maps; keys in any order, unknown keys ignored) into *out. `tls`: the
 * node's port is its "tls-port" when it has one, else "port"; without
 * `tls` it is "port". `self_host`: the host the reply came from. A
 * shard with no slots (or no "slots" key) is kept (it may be receiving
 * its first ones, or hold a failed primary alone). A port of 0 counts as
 * absent (servers leave "port"/"tls-port" out when 0). The host is
 * "endpoint" unless empty or "?", else "ip", else self_host.
 *
 * Fails with AZR_E_PROTOCOL, errbuf (may be NULL) saying what is wrong
 * ("CLUSTER SHARDS: shard 2: ..."), on anything malformed: a reply that
 * is not an array, a shard without "nodes", a slot outside 0..16383, a
 * range whose first slot is after its last, a slot served by two shards,
 * a node without id or port, a port outside 1..65535, a host or id too
 * long or holding bytes outside the printable ASCII range, the same
 * host:port twice, more than AZR_MAX_NODES nodes or 16384 ranges in all.
 * AZR_E_NOMEM on ENOMEM. On failure *out is empty (nothing to free).
 */
azr_code azr__slotmap_from_shards(const azr_reply *reply,
                                  const char *self_host, int tls,
                                  azr_slotmap *out, char *errbuf);

/*
 * Reads a CLUSTER SLOTS reply: one entry per range, [first, last,
 * primary, replica...], each node [host, port, id?, {metadata}?] (the
 * metadata map, or RESP2 flat array, may give "hostname"). Ranges whose
 * primary is the same node (by id when both have one, else host:port)
 * make one shard, with the union of the replicas listed (a node listed
 * again in the same shard is merged, in another shard it is an error).
 * Same checks and errors as azr__slotmap_from_shards, except that the id
 * is optional here. No node is marked failed; each shard's primary is
 * its first node (index 0).
 */
azr_code azr__slotmap_from_slots(const azr_reply *reply,
                                 const char *self_host, azr_slotmap *out,
                                 char *errbuf);

void azr__slotmap_free(azr_slotmap *map);

/*
 * A redirection in an error reply: "MOVED <slot> <host>:<port>" or
 * "ASK <slot> <host>:<port>" (host may be an IPv6 address, the port is
 * after the last ':'; an empty host means "the node you asked").
 * Returns 1 and fills the fields when `text` (len bytes, not necessarily
 * NUL-terminated) is one, else 0: upper-case MOVED/ASK, one space each,
 * slot 0..16383, host of printable ASCII shorter than AZR_CL_HOST_MAX,
 * port 1..65535, nothing after it. *out is untouched on 0.
 */
typedef struct azr_redirect {
    int ask;                        /* 0: MOVED, 1: ASK */
    unsigned slot;
    char host[AZR_CL_HOST_MAX];
    unsigned port;
} azr_redirect;
int azr__redirect_parse(const char *text, size_t len, azr_redirect *out);

#endif /* AZR_LIB_CLUSTER_H */
