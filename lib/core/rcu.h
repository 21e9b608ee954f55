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

/* Hazard slots, one per live thread that reads. */
#define AZR_RCU_SLOTS 64

/* Enters a read section on *src and returns the pointer it holds, which
 * stays valid until the matching azr__rcu_leave(). Lock-free; no system
 * call after the thread's first section. */
void *azr__rcu_enter(void *_Atomic *src);

/* Leaves the innermost section of the calling thread. */
void azr__rcu_leave(void);

/* Writer side: 1 while a reader may still use `ptr`, which has already
 * been replaced in its source. May make one system call. */
int azr__rcu_in_use(const void *ptr);

#endif /* AZR_LIB_RCU_H */
