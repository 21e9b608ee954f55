/*
 * spill.h - spill-over for same_az: leave the caller's AZ when it is slow.
 *
 * With `spill_latency_ratio = R` in [policy same_az], same_az keeps its own
 * latency estimate per node (fed by observe) and, for a pick where the best
 * same-AZ candidate's estimate exceeds R x the best other candidate's,
 * widens its filter to the other AZs too for that pick, so that the next
 * policy (weighted_latency) can send the request where it is answered
 * faster. Off (no state at all) unless spill_latency_ratio is set.
 *
 * Options, all in [policy same_az]:
 *   spill_latency_ratio   R >= 1 (decimals allowed); absent: spill-over off
 *   spill_decay_ms        time constant of the estimate, (0, 3600000]
 *                         (default 1000)
 *   spill_initial_rtt_ms  estimate of a node with no sample yet,
 *                         (0, 60000] (default 1)
 *
 * The estimate is a plain (not peak) exponentially weighted average whose
 * weight depends on the time between samples (plugins/common/ewma.h):
 *     est += (sample - est) x (1 - exp(-dt / spill_decay_ms))
 * so one slow answer does not flip the decision; the first sample replaces
 * the prior. Only answers (OK, ERROR_REPLY) are samples: a node that fails
 * is the failover policy's business.
 *
 * Thread safety: observe and the estimate reads are lock-free atomics and
 * may run concurrently with each other; create/destroy as for a policy.
 * None of these functions allocates, locks or makes a system call except
 * create (one allocation) and destroy.
 *
 * The functions are internal to the same_az plugin (hidden by
 * -fvisibility=hidden), not part of any ABI.
 */
#ifndef AZR_PLUGIN_SAME_AZ_SPILL_H
#define AZR_PLUGIN_SAME_AZ_SPILL_H

#include <stddef.h>

#include <azroute/plugin.h>

typedef struct azr__spill azr__spill;

/* Reads the spill_* options (during same_az's create()). Sets *out to NULL
 * when spill-over is off (spill_latency_ratio absent), else to a new state
 * for `n_nodes` nodes. Returns 0, or an azr_code described through
 * host->error (a bad value names its file:line). */
int azr__spill_create(azr_plugin_env *env, const azr_host_services *host,
                     size_t n_nodes, azr__spill **out);

/* Frees the state; NULL is accepted. */
void azr__spill_destroy(azr__spill *sp);

/* Feeds one outcome (call from same_az's observe; NULL sp is a no-op). */
void azr__spill_observe(azr__spill *sp, const azr_outcome *outcome);

/* The node's current latency estimate in ns (the prior if it has no
 * sample). */
double azr__spill_estimate_ns(const azr__spill *sp, size_t node_index);

/* The decision for one pick, from the lowest estimate among its same-AZ
 * candidates and the lowest among the others:
 * 1 if best_same_ns > R x best_other_ns; 0 when it is not, when either
 * is not finite (an empty group: INFINITY), or when sp is NULL. */
int azr__spill_exceeds(const azr__spill *sp, double best_same_ns,
                      double best_other_ns);

#endif /* AZR_PLUGIN_SAME_AZ_SPILL_H */
