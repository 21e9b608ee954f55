/*
 * counters.h - the live per-node statistics, sharded per thread.
 *
 * Every pick, outcome and byte count lands in the calling thread's slot
 * (shard.h), so threads working on the same node do not share a cache
 * line; a read sums the slots. Each sum is exact: every increment is an
 * atomic add to exactly one slot. The set read for one node is not one
 * snapshot (an outcome may be summed in `answered` and not yet in
 * `by_status`), as with any set of live counters.
 */
#ifndef AZR_LIB_COUNTERS_H
#define AZR_LIB_COUNTERS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <azroute/azroute.h>

/* Outcome statuses counted (AZR_STATUS_OK..AZR_STATUS_IO_ERROR). */
#define AZR_COUNTED_STATUSES (AZR_STATUS_IO_ERROR + 1)

/* One node's counters in one slot: two cache lines, so that neighbouring
 * slots never share one, even with adjacent-line prefetching. */
typedef struct azr_node_counters {
    _Alignas(128) _Atomic uint64_t picks;
    _Atomic uint64_t total_rtt_ns;  /* over answered requests */
    _Atomic uint64_t by_status[AZR_COUNTED_STATUSES];
    _Atomic uint64_t bytes_sent;
    _Atomic uint64_t bytes_received;
} azr_node_counters;

/* A node's sums over every slot. */
typedef struct azr_node_totals {
    uint64_t picks;
    uint64_t total_rtt_ns;
    uint64_t by_status[AZR_COUNTED_STATUSES];
    uint64_t requests;   /* sum of by_status */
    uint64_t answered;   /* OK + ERROR_REPLY */
    uint64_t errors;     /* requests - answered */
    uint64_t bytes_sent;
    uint64_t bytes_received;
} azr_node_totals;

/* Nodes per chunk. The table grows (live topology) while readers count
 * without a lock, so counters are never moved: they come in chunks of
 * this many nodes, each allocated once and kept until the context ends. */
#define AZR_COUNTER_CHUNK 16

typedef struct azr_counters {
    size_t n_slots;
    size_t n_chunks;   /* allocated; written under the writers' lock */
    /* chunk k: n_slots x AZR_COUNTER_CHUNK, slot-major */
    azr_node_counters *chunk[(AZR_MAX_NODES + AZR_COUNTER_CHUNK - 1) /
                             AZR_COUNTER_CHUNK];
} azr_counters;

/* Allocates zeroed counters for n_nodes. NULL on ENOMEM. */
azr_counters *azr__counters_new(size_t n_nodes);
/* Makes room for nodes 0..n_nodes-1 (n_nodes <= AZR_MAX_NODES); the
 * counters of nodes already there stay where they are. Writers only, under
 * their lock, before the table that names the new nodes is published.
 * AZR_E_NOMEM on failure. */
azr_code azr__counters_reserve(azr_counters *c, size_t n_nodes);
void azr__counters_free(azr_counters *c);

/* The calling thread's counters of `node`. */
azr_node_counters *azr__counters_mine(azr_counters *c, size_t node);

/* One outcome (not AZR_STATUS_CANCELLED) for `node`. */
void azr__counters_outcome(azr_counters *c, size_t node, uint64_t rtt_ns,
                           azr_status status);

/* RESP bytes moved to and from `node`. */
void azr__counters_bytes(azr_counters *c, size_t node, uint64_t sent,
                         uint64_t received);

/* Sums every slot of `node` into *t. */
void azr__counters_sum(const azr_counters *c, size_t node, azr_node_totals *t);

#endif /* AZR_LIB_COUNTERS_H */
