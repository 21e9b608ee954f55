/*
 * shard.c - per-thread slots (see shard.h).
 *
 * A thread takes the lowest free slot on its first call and gives it back
 * when it exits (a pthread key destructor), so that a program whose
 * threads come and go keeps its live threads on distinct slots. When every
 * slot is taken, further threads share slots round-robin (still correct:
 * slot updates are atomic) and free nothing at exit.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "shard.h"

#define AZR_SHARDS_MIN 4u
#define AZR_SHARDS_MAX 64u

static size_t shard_count;
static pthread_once_t shard_once = PTHREAD_ONCE_INIT;
static pthread_key_t shard_key;
static int shard_key_ok;
static _Atomic uint64_t slots_in_use;   /* bit s: slot s owned by a thread */
static atomic_size_t next_shared;       /* round-robin when all are taken */
static _Thread_local size_t my_slot;    /* slot + 1; 0: none yet */

static void release_slot(void *value)
{
    size_t slot = (size_t)(uintptr_t)value - 1;
    atomic_fetch_and_explicit(&slots_in_use, ~((uint64_t)1 << slot),
                              memory_order_release);
}

static void shard_init(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_CONF);
    size_t want = cpus > 0 ? 2 * (size_t)cpus : AZR_SHARDS_MIN;
    size_t n = AZR_SHARDS_MIN;
    while (n < want && n < AZR_SHARDS_MAX)
        n *= 2;
    shard_count = n;
    shard_key_ok = pthread_key_create(&shard_key, release_slot) == 0;
}

size_t azr__shard_count(void)
{
    pthread_once(&shard_once, shard_init);
    return shard_count;
}

/* Claims the lowest free slot; SIZE_MAX when all are taken. */
static size_t claim_slot(size_t n)
{
    uint64_t used = atomic_load_explicit(&slots_in_use, memory_order_relaxed);
    for (;;) {
        size_t s = 0;
        while (s < n && (used & ((uint64_t)1 << s)) != 0)
            s++;
        if (s == n)
            return SIZE_MAX;
        if (atomic_compare_exchange_weak_explicit(
                &slots_in_use, &used, used | ((uint64_t)1 << s),
                memory_order_acquire, memory_order_relaxed))
            return s;
    }
}

size_t azr__shard_self(void)
{
    size_t s = my_slot;
    if (s != 0)
        return s - 1;
    size_t n = azr__shard_count();
    s = shard_key_ok ? claim_slot(n) : SIZE_MAX;
    if (s != SIZE_MAX &&
        pthread_setspecific(shard_key, (void *)(uintptr_t)(s + 1)) != 0) {
        release_slot((void *)(uintptr_t)(s + 1));
        s = SIZE_MAX;
    }
    if (s == SIZE_MAX)
        s = atomic_fetch_add_explicit(&next_shared, 1, memory_order_relaxed) &
            (n - 1);
    my_slot = s + 1;
    return s;
}
