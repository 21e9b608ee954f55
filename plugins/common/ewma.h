/*
 * ewma.h - the time-weighted moving average the latency estimates share
 * (weighted_latency's peak EWMA, same_az's spill-over estimate).
 *
 * An estimate is the bit pattern of a double in an _Atomic uint64_t
 * (atomic_double.h), AZR_EWMA_NO_SAMPLE until its first sample, next to
 * the _Atomic time of its last update. A sample moves it by
 *     pull = 1 - exp(-dt / tau)
 * of the way, dt being the time since the previous update: the longer the
 * gap, the more a new sample counts, whatever the request rate.
 *
 * Both steps are lock-free and make no system call, so they are fine on
 * a policy's observe path, concurrently:
 *  - azr__ewma_pull takes the previous time with an exchange, so that
 *    concurrent samples each get their own share of the elapsed time (one
 *    gets dt, the others about 0) instead of all of them the whole of it;
 *  - azr__ewma_update applies a rule in a compare-and-swap loop, so that
 *    every concurrent sample counts, none is lost to a racing write.
 */
#ifndef AZR_PLUGINS_COMMON_EWMA_H
#define AZR_PLUGINS_COMMON_EWMA_H

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>

#include "atomic_double.h"

/* Estimate bits meaning "no sample yet": a NaN no sample produces. */
#define AZR_EWMA_NO_SAMPLE UINT64_MAX

/* Stamps `now_ns` as the time of the last update and returns the pull
 * the time since the previous one gives: 1 - exp(-dt / tau_ns), 0 when
 * the clock did not advance. */
static inline double azr__ewma_pull(_Atomic uint64_t *stamp_ns,
                                   uint64_t now_ns, double tau_ns)
{
    uint64_t prev = atomic_exchange_explicit(stamp_ns, now_ns,
                                             memory_order_relaxed);
    return now_ns > prev ? 1.0 - exp(-(double)(now_ns - prev) / tau_ns)
                         : 0.0;
}

/* The plain EWMA step: `est` moved `pull` of the way toward `sample`. */
static inline double azr__ewma_blend(double est, double sample, double pull)
{
    return est + (sample - est) * pull;
}

/* How a sample changes an estimate that has one: returns the new value
 * from the current `est`. `arg` carries what the rule needs (its pull,
 * bounds). Called once per attempt of the CAS loop, so it must be a pure
 * function of its arguments. */
typedef double (*azr__ewma_rule)(double est, double sample, const void *arg);

/* Updates *estimate with `sample`: the first sample replaces
 * AZR_EWMA_NO_SAMPLE, later ones go through `rule`; retried until no
 * other thread wrote in between. */
static inline void azr__ewma_update(_Atomic uint64_t *estimate, double sample,
                                   azr__ewma_rule rule, const void *arg)
{
    uint64_t old = atomic_load_explicit(estimate, memory_order_relaxed);
    uint64_t upd;
    do {
        upd = old == AZR_EWMA_NO_SAMPLE
                  ? azr__double_bits(sample)
                  : azr__double_bits(rule(azr__bits_double(old), sample, arg));
    } while (!atomic_compare_exchange_weak_explicit(estimate, &old, upd,
                                                    memory_order_relaxed,
                                                    memory_order_relaxed));
}

#endif /* AZR_PLUGINS_COMMON_EWMA_H */
