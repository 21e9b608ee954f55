/*
 * rcu.h - lock-free reads of a pointer that writers replace (the node
 * table's generation), with the old object freed once no reader holds it.
 *
 * Readers publish the pointer they are about to use in a per-thread hazard
 * slot and check that it is still current; a writer that has replaced the
 * pointer frees the old object only after azr__rcu_in_use() says no slot
 * holds it. The reader's side costs a store, a load and a compare: the
 * store-load ordering it needs is enforced from the writer's side with
 * membarrier(2) (MEMBARRIER_CMD_PRIVATE_EXPEDITED), as liburcu's "memb"
 * flavour does. Where membarrier is unavailable (old kernels, valgrind)
 * readers fall back to a full fence of their own.
 *
 * Sections are short (a pick, an outcome, a statistics read) and nest:
 * an inner section on the same source reuses the outer one's pointer. A
 * thread beyond the slots (AZR_RCU_SLOTS live threads), or a section
 * nested on another source, is counted in one shared counter instead,
 * which keeps every retired object alive while it is non-zero: slower,
 * never unsafe.
 */
#ifndef AZR_LIB_RCU_H
#define AZR_LIB_RCU_H

#include <stdatomic.h>
#include <stdint.h>

/* Hazard slots, one per live thread that reads. */
#define AZR_RCU_SLOTS 64

/* The state behind the inline fast paths below; rcu.c owns it. The
 * thread's state uses the initial-exec TLS model: one instruction to
 * reach instead of a call to __tls_get_addr on every pick (the few dozen
 * bytes come from the static TLS surplus glibc keeps for libraries loaded
 * with dlopen, as Python loads this one). */
#define AZR_RCU_TLS __attribute__((tls_model("initial-exec")))

typedef struct azr_rcu_slot {
    _Alignas(64) void *_Atomic held;
} azr_rcu_slot;

typedef struct azr_rcu_self {
    int slot;               /* 1 + hazard slot; 0: none yet; -1: none to
                               be had (shared counter) */
    unsigned depth;         /* nesting of the current sections */
    void *_Atomic *src;     /* source of the outermost section */
    void *ptr;              /* pointer it returned */
    uint64_t shared;        /* bit d: the section at depth d+1 is counted
                               as shared (depths beyond 64 always are) */
} azr_rcu_self;

extern _Thread_local AZR_RCU_TLS azr_rcu_self azr__rcu_self;
extern azr_rcu_slot azr__rcu_slots[AZR_RCU_SLOTS];
extern int azr__rcu_membarrier;

/* Orders the reader's slot store before its re-read of the source. */
static inline void azr__rcu_reader_barrier(void)
{
    if (azr__rcu_membarrier)
        atomic_signal_fence(memory_order_seq_cst);
    else
        atomic_thread_fence(memory_order_seq_cst);
}

void *azr__rcu_enter_slow(void *_Atomic *src);
void azr__rcu_leave_slow(void);

/* Enters a read section on *src and returns the pointer it holds, which
 * stays valid until the matching azr__rcu_leave(). Lock-free; no system
 * call after the thread's first section. */
static inline void *azr__rcu_enter(void *_Atomic *src)
{
    azr_rcu_self *me = &azr__rcu_self;
    if (__builtin_expect(me->depth != 0 || me->slot <= 0, 0))
        return azr__rcu_enter_slow(src);
    azr_rcu_slot *slot = &azr__rcu_slots[me->slot - 1];
    void *p = atomic_load_explicit(src, memory_order_acquire);
    for (;;) {
        atomic_store_explicit(&slot->held, p, memory_order_relaxed);
        azr__rcu_reader_barrier();
        void *q = atomic_load_explicit(src, memory_order_acquire);
        if (__builtin_expect(q == p, 1))
            break;
        p = q;
    }
    me->depth = 1;
    me->src = src;
    me->ptr = p;
    return p;
}

/* Leaves the innermost section of the calling thread. */
static inline void azr__rcu_leave(void)
{
    azr_rcu_self *me = &azr__rcu_self;
    if (__builtin_expect(me->depth != 1 || me->slot <= 0 || me->shared, 0)) {
        azr__rcu_leave_slow();
        return;
    }
    atomic_store_explicit(&azr__rcu_slots[me->slot - 1].held, NULL,
                          memory_order_release);
    me->depth = 0;
}

/* Writer side: 1 while a reader may still use `ptr`, which has already
 * been replaced in its source. May make one system call. */
int azr__rcu_in_use(const void *ptr);

#endif /* AZR_LIB_RCU_H */
