/*
 * shard.h - per-thread slots for counters that many threads update.
 *
 * A counter that every thread increments on every request keeps its cache
 * line bouncing between cores, and then costs more than the work it
 * counts. Such counters are kept once per slot instead, each slot on lines
 * of its own, and summed when read. A thread takes the lowest free slot
 * on first use and gives it back when it exits, so live threads keep
 * distinct slots; threads beyond azr__shard_count() share slots, which
 * stays correct (the counters are atomic) and only costs some of the
 * contention back.
 */
#ifndef AZR_LIB_SHARD_H
#define AZR_LIB_SHARD_H

#include <stddef.h>

/* Number of slots: a power of two, fixed for the process, at least twice
 * the CPUs configured (so that a few threads rarely share), between 4 and
 * 64. */
size_t azr__shard_count(void);

/* The calling thread's slot, 0..azr__shard_count()-1. Lock-free, no system
 * call after the thread's first call. */
size_t azr__shard_self(void);

#endif /* AZR_LIB_SHARD_H */
