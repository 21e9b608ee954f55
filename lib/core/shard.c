/*
 * shard.c - per-thread slots (see shard.h).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "shard.h"

#define AZR_SHARDS_MIN 4u
#define AZR_SHARDS_MAX 64u

static size_t shard_count;
static pthread_once_t shard_once = PTHREAD_ONCE_INIT;
static atomic_size_t next_slot;
static _Thread_local size_t my_slot; /* slot + 1; 0: none yet */

static void shard_init(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_CONF);
    size_t want = cpus > 0 ? 2 * (size_t)cpus : AZR_SHARDS_MIN;
    size_t n = AZR_SHARDS_MIN;
    while (n < want && n < AZR_SHARDS_MAX)
        n *= 2;
    shard_count = n;
}

size_t azr__shard_count(void)
{
    pthread_once(&shard_once, shard_init);
    return shard_count;
}

size_t azr__shard_self(void)
{
    size_t s = my_slot;
    if (s != 0)
        return s - 1;
    s = atomic_fetch_add_explicit(&next_slot, 1, memory_order_relaxed) &
        (azr__shard_count() - 1);
    my_slot = s + 1;
    return s;
}
