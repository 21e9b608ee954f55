/*
 * spill.c - same_az's latency estimates and its spill-over decision.
 * The contract is in spill.h.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/ewma.h"
#include "../common/options.h"
#include "spill.h"

#define SPILL_DEFAULT_DECAY_MS 1000.0
#define SPILL_MAX_DECAY_MS 3600000.0
#define SPILL_DEFAULT_PRIOR_MS 1.0
#define SPILL_MAX_PRIOR_MS 60000.0
#define SPILL_MAX_RATIO 1000000.0

/* Estimate bits meaning "no sample yet" (a NaN no sample produces). */
#define SPILL_NO_SAMPLE AZR_EWMA_NO_SAMPLE

typedef struct spill_node {
    _Alignas(64) _Atomic uint64_t estimate; /* bits of a double, ns */
    _Atomic uint64_t stamp_ns;              /* time of the last sample */
} spill_node;

struct azr__spill {
    azr_plugin_env *env;
    const azr_host_services *host;
    size_t n_nodes;
    double ratio;
    double tau_ns;
    double prior_ns;
    spill_node *nodes;
};

/* Reads a decimal option in [min, max] (min exclusive when `open_min`);
 * *given tells whether the key is set at all. */
static int read_number(azr_plugin_env *env, const azr_host_services *host,
                       const char *key, double min, int open_min, double max,
                       double *val, int *given)
{
    *given = host->option(env, key) != NULL;
    /* The bounds are whole numbers: "%.0f" prints them in full and with
     * no decimal point, so the message is the same in every locale. */
    return azr__opt_double(env, host, key, min, open_min, max, val,
                          "a number in %s%.0f, %.0f]", open_min ? "(" : "[",
                          min, max);
}

int azr__spill_create(azr_plugin_env *env, const azr_host_services *host,
                     size_t n_nodes, azr__spill **out)
{
    double ratio = 0.0, decay_ms = SPILL_DEFAULT_DECAY_MS,
           prior_ms = SPILL_DEFAULT_PRIOR_MS;
    int has_ratio, has_decay, has_prior, rc;
    *out = NULL;
    /* Every key is read even when spill-over is off, so that a stray one
     * is reported as misplaced rather than as an unknown key. */
    if ((rc = read_number(env, host, "spill_latency_ratio", 1.0, 0,
                          SPILL_MAX_RATIO, &ratio, &has_ratio)) ||
        (rc = read_number(env, host, "spill_decay_ms", 0.0, 1,
                          SPILL_MAX_DECAY_MS, &decay_ms, &has_decay)) ||
        (rc = read_number(env, host, "spill_initial_rtt_ms", 0.0, 1,
                          SPILL_MAX_PRIOR_MS, &prior_ms, &has_prior)))
        return rc;
    if (!has_ratio) {
        if (has_decay || has_prior)
            return host->error(env, AZR_E_CONFIG,
                               has_decay ? "spill_decay_ms"
                                         : "spill_initial_rtt_ms",
                               "%s has no effect without spill_latency_ratio",
                               has_decay ? "spill_decay_ms"
                                         : "spill_initial_rtt_ms");
        return 0;
    }

    azr__spill *sp = calloc(1, sizeof *sp);
    if (sp == NULL)
        return host->error(env, AZR_E_NOMEM, NULL, "out of memory");
    size_t bytes = (n_nodes > 0 ? n_nodes : 1) * sizeof(spill_node);
    sp->nodes = aligned_alloc(_Alignof(spill_node), bytes);
    if (sp->nodes == NULL) {
        free(sp);
        return host->error(env, AZR_E_NOMEM, NULL, "out of memory");
    }
    for (size_t i = 0; i < n_nodes; i++) {
        atomic_init(&sp->nodes[i].estimate, SPILL_NO_SAMPLE);
        atomic_init(&sp->nodes[i].stamp_ns, 0);
    }
    sp->env = env;
    sp->host = host;
    sp->n_nodes = n_nodes;
    sp->ratio = ratio;
    sp->tau_ns = decay_ms * 1e6;
    sp->prior_ns = prior_ms * 1e6;
    *out = sp;
    return 0;
}

void azr__spill_destroy(azr__spill *sp)
{
    if (sp == NULL)
        return;
    free(sp->nodes);
    free(sp);
}

/* The plain EWMA rule, for azr__ewma_update; `arg` is the pull. */
static double spill_rule(double est, double sample, const void *arg)
{
    return azr__ewma_blend(est, sample, *(const double *)arg);
}

void azr__spill_observe(azr__spill *sp, const azr_outcome *o)
{
    if (sp == NULL || o->node_index >= sp->n_nodes)
        return;
    if (o->status != AZR_STATUS_OK && o->status != AZR_STATUS_ERROR_REPLY)
        return;
    spill_node *nd = &sp->nodes[o->node_index];
    uint64_t now = sp->host->now_ns(sp->env);
    double pull = azr__ewma_pull(&nd->stamp_ns, now, sp->tau_ns);
    azr__ewma_update(&nd->estimate, (double)o->rtt_ns, spill_rule, &pull);
}

double azr__spill_estimate_ns(const azr__spill *sp, size_t node_index)
{
    if (sp == NULL || node_index >= sp->n_nodes)
        return 0.0;
    uint64_t bits = atomic_load_explicit(&sp->nodes[node_index].estimate,
                                         memory_order_relaxed);
    return bits == SPILL_NO_SAMPLE ? sp->prior_ns : azr__bits_double(bits);
}

int azr__spill_exceeds(const azr__spill *sp, double best_same_ns,
                      double best_other_ns)
{
    if (sp == NULL || !isfinite(best_same_ns) || !isfinite(best_other_ns))
        return 0;
    return best_same_ns > sp->ratio * best_other_ns;
}
