/*
 * rcu.c - hazard-slot read sections (see rcu.h).
 *
 * The protocol, for a reader R and a writer W replacing P by Q in *src:
 *   R: p = *src; slot = p; [barrier]; if (*src != p) retry; use p; slot = 0
 *   W: *src = Q; [barrier]; if no slot holds P (and no shared reader is
 *      in a section): free P
 * Either R's re-read sees Q (and R never uses P), or W's scan sees R's
 * slot (and W keeps P): the barriers forbid both missing each other. With
 * membarrier the writer's system call is the barrier for every thread and
 * the reader needs only a compiler fence.
 */
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rcu.h"

#define AZR_CACHE_LINE_BYTES 64

azr_rcu_slot azr__rcu_slots[AZR_RCU_SLOTS];
#define slots azr__rcu_slots
static _Atomic uint64_t slots_in_use;        /* bit s: slot s owned */
static _Atomic unsigned long shared_readers; /* sections without a slot */

static pthread_once_t rcu_once = PTHREAD_ONCE_INIT;
static pthread_key_t rcu_key;
static int rcu_key_ok;
int azr__rcu_membarrier;
#define use_membarrier azr__rcu_membarrier

_Thread_local AZR_RCU_TLS azr_rcu_self azr__rcu_self;
#define self azr__rcu_self

static long membarrier_call(int cmd)
{
    return syscall(__NR_membarrier, cmd, 0, 0);
}

static void release_slot(void *value)
{
    int s = (int)(intptr_t)value - 1;
    atomic_store_explicit(&slots[s].held, NULL, memory_order_release);
    atomic_fetch_and_explicit(&slots_in_use, ~((uint64_t)1 << s),
                              memory_order_release);
}

static void rcu_init(void)
{
    long cmds = membarrier_call(MEMBARRIER_CMD_QUERY);
    use_membarrier =
        cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
        membarrier_call(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
    rcu_key_ok = pthread_key_create(&rcu_key, release_slot) == 0;
}

static int claim_slot(void)
{
    pthread_once(&rcu_once, rcu_init);
    if (!rcu_key_ok)
        return -1;
    uint64_t used = atomic_load_explicit(&slots_in_use, memory_order_relaxed);
    for (;;) {
        int s = 0;
        while (s < AZR_RCU_SLOTS && (used & ((uint64_t)1 << s)) != 0)
            s++;
        if (s == AZR_RCU_SLOTS)
            return -1;
        if (atomic_compare_exchange_weak_explicit(
                &slots_in_use, &used, used | ((uint64_t)1 << s),
                memory_order_acquire, memory_order_relaxed)) {
            if (pthread_setspecific(rcu_key, (void *)(intptr_t)(s + 1)) != 0) {
                release_slot((void *)(intptr_t)(s + 1));
                return -1;
            }
            return s + 1;
        }
    }
}

/* Enters the section at depth self.depth as a shared one. */
static void *enter_shared(void *_Atomic *src)
{
    atomic_fetch_add_explicit(&shared_readers, 1, memory_order_seq_cst);
    if (self.depth <= 64)
        self.shared |= (uint64_t)1 << (self.depth - 1);
    return atomic_load_explicit(src, memory_order_seq_cst);
}

static int section_is_shared(unsigned depth)
{
    return depth > 64 || (self.shared & ((uint64_t)1 << (depth - 1))) != 0;
}

void *azr__rcu_enter_slow(void *_Atomic *src)
{
    if (self.depth++ > 0) {
        if (src == self.src && self.depth <= 64)
            return self.ptr;
        return enter_shared(src);
    }
    if (self.slot == 0)
        self.slot = claim_slot();
    self.src = src;
    if (self.slot < 0)
        return self.ptr = enter_shared(src);

    azr_rcu_slot *slot = &slots[self.slot - 1];
    void *p = atomic_load_explicit(src, memory_order_acquire);
    for (;;) {
        atomic_store_explicit(&slot->held, p, memory_order_relaxed);
        azr__rcu_reader_barrier();
        void *q = atomic_load_explicit(src, memory_order_acquire);
        if (q == p)
            return self.ptr = p;
        p = q;
    }
}

void azr__rcu_leave_slow(void)
{
    if (self.depth == 0)
        return;
    if (section_is_shared(self.depth)) {
        if (self.depth <= 64)
            self.shared &= ~((uint64_t)1 << (self.depth - 1));
        atomic_fetch_sub_explicit(&shared_readers, 1, memory_order_release);
    } else if (self.depth == 1) {
        atomic_store_explicit(&slots[self.slot - 1].held, NULL,
                              memory_order_release);
    }
    if (--self.depth == 0) {
        self.src = NULL;
        self.ptr = NULL;
    }
}

int azr__rcu_in_use(const void *ptr)
{
    pthread_once(&rcu_once, rcu_init);
    if (use_membarrier)
        membarrier_call(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    else
        atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&shared_readers, memory_order_acquire) > 0)
        return 1;
    uint64_t used = atomic_load_explicit(&slots_in_use, memory_order_acquire);
    for (int s = 0; s < AZR_RCU_SLOTS; s++)
        if ((used & ((uint64_t)1 << s)) != 0 &&
            atomic_load_explicit(&slots[s].held, memory_order_acquire) == ptr)
            return 1;
    return 0;
}
