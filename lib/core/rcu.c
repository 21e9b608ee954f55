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

azr_rcu_slot azr__rcu_slots[AZR_RCU_SLOTS];
static _Atomic uint64_t slots_in_use;        /* bit s: slot s owned */
static _Atomic unsigned long shared_readers; /* sections without a slot */

static pthread_once_t rcu_once = PTHREAD_ONCE_INIT;
static pthread_key_t rcu_key;
static int rcu_key_ok;
int azr__rcu_membarrier;

_Thread_local AZR_RCU_TLS azr_rcu_self azr__rcu_self;

static long membarrier_call(int cmd)
{
    return syscall(__NR_membarrier, cmd, 0, 0);
}

/* Runs on the exiting thread (a pthread key destructor). A section a
 * later destructor opens counts as shared: the slot may be someone
 * else's by then. */
static void release_slot(void *value)
{
    int s = (int)(intptr_t)value - 1;
    azr__rcu_self.slot = -1;
    atomic_store_explicit(&azr__rcu_slots[s].held, NULL, memory_order_release);
    atomic_fetch_and_explicit(&slots_in_use, ~((uint64_t)1 << s),
                              memory_order_release);
}

static void rcu_init(void)
{
    long cmds = membarrier_call(MEMBARRIER_CMD_QUERY);
    azr__rcu_membarrier =
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

/* Enters the section at depth azr__rcu_self.depth as a shared one. */
static void *enter_shared(void *_Atomic *src)
{
    atomic_fetch_add_explicit(&shared_readers, 1, memory_order_seq_cst);
    if (azr__rcu_self.depth <= 64)
        azr__rcu_self.shared |= (uint64_t)1 << (azr__rcu_self.depth - 1);
    return atomic_load_explicit(src, memory_order_seq_cst);
}

static int section_is_shared(unsigned depth)
{
    return depth > 64 || (azr__rcu_self.shared & ((uint64_t)1 << (depth - 1))) != 0;
}

void *azr__rcu_enter_slow(void *_Atomic *src)
{
    if (azr__rcu_self.depth++ > 0) {
        if (src == azr__rcu_self.src && azr__rcu_self.depth <= 64)
            return azr__rcu_self.ptr;
        return enter_shared(src);
    }
    if (azr__rcu_self.slot == 0)
        azr__rcu_self.slot = claim_slot();
    azr__rcu_self.src = src;
    if (azr__rcu_self.slot < 0)
        return azr__rcu_self.ptr = enter_shared(src);

    azr_rcu_slot *slot = &azr__rcu_slots[azr__rcu_self.slot - 1];
    void *p = atomic_load_explicit(src, memory_order_acquire);
    for (;;) {
        atomic_store_explicit(&slot->held, p, memory_order_relaxed);
        azr__rcu_reader_barrier();
        void *q = atomic_load_explicit(src, memory_order_acquire);
        if (q == p)
            return azr__rcu_self.ptr = p;
        p = q;
    }
}

void azr__rcu_leave_slow(void)
{
    if (azr__rcu_self.depth == 0)
        return;
    if (section_is_shared(azr__rcu_self.depth)) {
        if (azr__rcu_self.depth <= 64)
            azr__rcu_self.shared &= ~((uint64_t)1 << (azr__rcu_self.depth - 1));
        atomic_fetch_sub_explicit(&shared_readers, 1, memory_order_release);
    } else if (azr__rcu_self.depth == 1) {
        atomic_store_explicit(&azr__rcu_slots[azr__rcu_self.slot - 1].held, NULL,
                              memory_order_release);
    }
    if (--azr__rcu_self.depth == 0) {
        azr__rcu_self.src = NULL;
        azr__rcu_self.ptr = NULL;
    }
}

int azr__rcu_in_use(const void *ptr)
{
    pthread_once(&rcu_once, rcu_init);
    if (azr__rcu_membarrier)
        membarrier_call(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    else
        atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&shared_readers, memory_order_acquire) > 0)
        return 1;
    uint64_t used = atomic_load_explicit(&slots_in_use, memory_order_acquire);
    for (int s = 0; s < AZR_RCU_SLOTS; s++)
        if ((used & ((uint64_t)1 << s)) != 0 &&
            atomic_load_explicit(&azr__rcu_slots[s].held, memory_order_acquire) == ptr)
            return 1;
    return 0;
}
