/*
 * same_az - Availability Zone affinity, in the manner of Valkey GLIDE's
 * AZ-affinity read strategies.
 *
 * Every candidate gets a rank; the policy keeps the candidates of the best
 * rank present and drops the rest. Reads, with `prefer = replica` (the
 * default): same-AZ replicas (0), then the same-AZ primary (1), then other
 * replicas (2), then other primaries (3). `prefer = primary` swaps the
 * roles within each AZ group; `prefer = any` ranks by AZ only. Writes keep
 * primaries only, same-AZ first. `fallback = none` refuses cross-AZ reads
 * (the pick fails with AZR_E_NO_NODE) while the caller's AZ is known; with
 * no AZ ID there is no "same AZ" to insist on, so it routes as `any`.
 *
 * Equal candidates are rotated round-robin before being handed on, so that
 * a chain ending here (the host takes element 0) still spreads the load;
 * weighted_latency after it chooses among them by latency instead. Each
 * thread slot (host->thread_slot) keeps its own rotation, so that threads
 * picking at once do not share a counter's cache line: every thread
 * rotates evenly, and so does the sum of them.
 *
 * Spill-over (spill.h, off unless spill_latency_ratio is set): for a read
 * while the caller's AZ is known and fallback = any, when the best same-AZ
 * candidate's latency estimate exceeds R x the best other candidate's, the
 * filter lets every candidate through for that pick, so that a later
 * policy (weighted_latency) can leave a slow AZ. Chain order matters: put
 * same_az after failover and before weighted_latency.
 */
#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <azroute/plugin.h>

#include "spill.h"

enum { RANK_EXCLUDED = 4 };

typedef enum prefer_mode { PREFER_REPLICA, PREFER_PRIMARY, PREFER_ANY }
    prefer_mode;

/* One slot's round-robin counter, on a 128-byte pair of lines of its own. */
typedef struct same_az_rotation {
    _Alignas(128) _Atomic uint64_t next;
} same_az_rotation;

typedef struct same_az {
    prefer_mode prefer;
    int fallback_any;
    azr__spill *spill; /* NULL: spill-over off */
    unsigned char rank[2][2][4]; /* see fill_ranks */
    azr_plugin_env *env;
    const azr_host_services *host;
    size_t n_slots;
    same_az_rotation *rotation; /* n_slots */
} same_az;

/* Rank of a candidate by (same AZ, primary), for one intent and whether
 * the caller's AZ is known: rank[intent][known][same << 1 | primary].
 * Filled once at create, so that a pick is one table lookup per node. */
static void fill_ranks(same_az *s)
{
    for (int known = 0; known < 2; known++)
        for (int same = 0; same < 2; same++)
            for (int primary = 0; primary < 2; primary++) {
                int cls = same << 1 | primary;
                int in_az = known && same;
                s->rank[AZR_INTENT_WRITE][known][cls] =
                    primary ? (in_az ? 0 : 2) : RANK_EXCLUDED;
                int group = in_az ? 0 : 2, r = group;
                if (s->prefer == PREFER_REPLICA)
                    r = group + primary;
                else if (s->prefer == PREFER_PRIMARY)
                    r = group + !primary;
                if (known && !in_az && !s->fallback_any)
                    r = RANK_EXCLUDED;
                s->rank[AZR_INTENT_READ][known][cls] = (unsigned char)r;
            }
}

static int parse_choice(azr_plugin_env *env, const azr_host_services *host,
                        const char *key, const char *const *choices,
                        size_t n_choices, int dflt, int *out)
{
    const char *v = host->option(env, key);
    *out = dflt;
    if (v == NULL)
        return 0;
    for (size_t i = 0; i < n_choices; i++)
        if (strcmp(v, choices[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    return host->error(env, AZR_E_CONFIG, key, "invalid value '%s' for %s",
                       v, key);
}

static int same_az_create(azr_plugin_env *env, const azr_host_services *host,
                          const azr_node_view *const *nodes, size_t n_nodes,
                          void **state)
{
    (void)nodes;
    static const char *const prefer_choices[] = { "replica", "primary",
                                                  "any" };
    static const char *const fallback_choices[] = { "any", "none" };
    int prefer, fallback;
    int rc = parse_choice(env, host, "prefer", prefer_choices, 3,
                          PREFER_REPLICA, &prefer);
    if (rc == 0)
        rc = parse_choice(env, host, "fallback", fallback_choices, 2, 0,
                          &fallback);
    azr__spill *spill = NULL;
    if (rc == 0)
        rc = azr__spill_create(env, host, n_nodes, &spill);
    if (rc != 0)
        return rc;
    if (host->struct_size < offsetof(azr_host_services, thread_slots) +
                                sizeof host->thread_slots) {
        azr__spill_destroy(spill);
        return host->error(env, AZR_E_PLUGIN, NULL, "the host predates "
                           "plugin ABI 1.1 (no thread slots)");
    }
    same_az *s = calloc(1, sizeof *s);
    size_t n_slots = host->thread_slots(env);
    same_az_rotation *rot = aligned_alloc(_Alignof(same_az_rotation),
                                          n_slots * sizeof *rot);
    if (s == NULL || rot == NULL) {
        free(s);
        free(rot);
        azr__spill_destroy(spill);
        return host->error(env, AZR_E_NOMEM, NULL, "out of memory");
    }
    for (size_t i = 0; i < n_slots; i++)
        atomic_init(&rot[i].next, 0);
    s->env = env;
    s->host = host;
    s->n_slots = n_slots;
    s->rotation = rot;
    s->prefer = (prefer_mode)prefer;
    s->fallback_any = fallback == 0;
    s->spill = spill;
    fill_ranks(s);
    *state = s;
    return 0;
}

static void same_az_destroy(void *state)
{
    same_az *s = state;
    azr__spill_destroy(s->spill);
    free(s->rotation);
    free(s);
}

static void same_az_observe(void *state, const azr_outcome *outcome)
{
    azr__spill_observe(((same_az *)state)->spill, outcome);
}

/* Whether this read should leave the caller's AZ: the best same-AZ
 * estimate against the best of the others. */
static int spill_now(const same_az *s, const azr_node_view *const *cand,
                     size_t n)
{
    double best_same = INFINITY, best_other = INFINITY;
    for (size_t i = 0; i < n; i++) {
        double est = azr__spill_estimate_ns(s->spill, cand[i]->index);
        int same = atomic_load_explicit(&cand[i]->same_az,
                                        memory_order_relaxed);
        if (same && est < best_same)
            best_same = est;
        else if (!same && est < best_other)
            best_other = est;
    }
    return azr__spill_exceeds(s->spill, best_same, best_other);
}

static long same_az_pick(void *state, const azr_pick_args *args,
                         const azr_node_view **cand, size_t n)
{
    same_az *s = state;
    if (s->spill != NULL && args->intent == AZR_INTENT_READ &&
        args->caller_az_id != NULL && s->fallback_any &&
        spill_now(s, cand, n))
        return (long)n;

    /* One pass: keep the candidates of the best rank seen so far at the
     * front (stable, each element moves only forward); a better rank
     * restarts the kept list. */
    const unsigned char *rank =
        s->rank[args->intent == AZR_INTENT_WRITE][args->caller_az_id != NULL];
    int best = RANK_EXCLUDED;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        const azr_node_view *v = cand[i];
        int same = atomic_load_explicit(&v->same_az, memory_order_relaxed);
        int r = rank[(same & 1) << 1 | (v->role == AZR_ROLE_PRIMARY)];
        if (r < best) {
            best = r;
            kept = 0;
        }
        cand[kept] = v;         /* harmless when not kept: kept <= i */
        kept += r == best;
    }
    if (best == RANK_EXCLUDED)
        return 0;

    /* Round-robin among equals: the host takes element 0, so rotating which
     * one is first is enough. */
    if (kept > 1) {
        same_az_rotation *rot = &s->rotation[s->host->thread_slot(s->env)];
        size_t first = (size_t)(atomic_fetch_add_explicit(
                                    &rot->next, 1, memory_order_relaxed) %
                                kept);
        const azr_node_view *t = cand[0];
        cand[0] = cand[first];
        cand[first] = t;
    }
    return (long)kept;
}

static const azr_policy_ops same_az_ops = {
    .struct_size = sizeof(azr_policy_ops),
    .create = same_az_create,
    .destroy = same_az_destroy,
    .pick = same_az_pick,
    .observe = same_az_observe,
};

AZR_PLUGIN_DECLARE = {
    .struct_size = sizeof(azr_plugin),
    .abi_major = AZR_PLUGIN_ABI_MAJOR,
    .abi_minor = AZR_PLUGIN_ABI_MINOR,
    .kind = AZR_PLUGIN_POLICY,
    .name = "same_az",
    .version = AZR_VERSION_STRING,
    .description = "prefer nodes in the caller's Availability Zone",
    .policy = &same_az_ops,
};
