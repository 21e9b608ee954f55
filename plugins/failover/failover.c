/*
 * failover.c - passive outlier ejection and priority tiers.
 *
 * Ejection follows Envoy's outlier detection ("consecutive failures"):
 *
 *  - A failure is an outcome with status TIMEOUT, REFUSED, TLS_FAILURE or
 *    IO_ERROR; OK and ERROR_REPLY (the server answered) are successes and
 *    reset the node's count of consecutive failures.
 *  - After `consecutive_failures` failures in a row a node is ejected for
 *    base_ejection_ms x (times it has been ejected), capped at
 *    max_ejection_ms. The multiplier decays by one for every
 *    base_ejection_ms the node then stays healthy, so a node that fails
 *    again after a long healthy spell starts over from a short ejection.
 *  - At most max_ejection_percent of the nodes are ejected at once (rounded
 *    down), but one node may always be ejected. A node refused ejection by
 *    this cap stays in service and is ejected by its next failure if room
 *    has appeared.
 *  - When its ejection time is over a node is half-open: it is offered to
 *    the chain as a candidate again, by one pick at a time (the pick claims
 *    the trial with a compare-and-swap). The first outcome observed for the
 *    node decides: a success readmits it (failure count and trial reset), a
 *    failure ejects it again with the next multiplier. Outcomes that arrive
 *    while a node is still ejected (requests that were in flight when it
 *    was ejected) are ignored.
 *  - Because a later policy may choose another candidate, the claim lapses
 *    after trial_timeout_ms without an outcome, and the next pick offers the
 *    node again. A trial slower than trial_timeout_ms can therefore overlap
 *    with a second one; the first outcome still decides.
 *
 * Priority tiers: every node has a priority (the ini's `priority`, 0 is the
 * highest tier). A pick keeps only the available candidates of the best
 * tier that has an available node able to serve the request, so a lower
 * tier is used only when the higher ones have nothing to offer.
 *
 * "Able to serve": for a write only primaries count. Tiers and the panic
 * rule below look at those candidates, so ejecting replicas never hides a
 * healthy primary behind them and failover never itself makes a write fail.
 *
 * Panic routing: if no candidate able to serve the request is available
 * (all are ejected, or half-open with their trial taken), returning nothing
 * would fail the request outright although a node may have recovered. As
 * Envoy does in panic mode, the policy then leaves the candidates untouched
 * and lets the rest of the chain choose among all of them. If the node
 * chosen fails, the host's retry does the rest: azr_connect and azr_exec
 * (lib/conn.c) pick again without the nodes already tried, up to
 * [azroute] max_attempts, and retry a write only if it was never sent. The
 * transport never moves a request to another node.
 *
 * Options ([policy failover]):
 *   consecutive_failures  1..1000000 (default 5)
 *   base_ejection_ms      1..86400000 (default 30000)
 *   max_ejection_ms       base_ejection_ms..86400000 (default 300000, or
 *                         base_ejection_ms if that is larger)
 *   max_ejection_percent  0..100 (default 50)
 *   trial_timeout_ms      1..86400000 (default 1000)
 *
 * Concurrency: per-node state is a few atomics on the node's own cache
 * line, plus one counter of ejected nodes. State changes are claimed with
 * compare-and-swap on the ejection deadline, so exactly one thread ejects,
 * re-ejects or readmits a node for a given deadline. The side counters
 * (times ejected, the failure count) are updated by the thread that won,
 * so a reader can see them a moment before or after the deadline; the
 * worst effect is one failure counted against the next healthy spell. No
 * allocation, lock or system call on the pick or observe path.
 */
#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <azroute/plugin.h>

#include "../common/options.h"

#define FO_MS 1000000ull          /* ns per ms */
#define FO_MAX_MS 86400000ull     /* one day */

typedef struct fo_node {
    /* 0: in service; otherwise ejected until this time (ns), and half-open
     * from then on until an outcome decides. A deadline is never 0: an
     * ejection at time 0 stores 1 ns more. */
    _Alignas(64) _Atomic uint64_t ejected_until;
    _Atomic uint64_t trial_until;      /* trial claimed until (ns); 0 none */
    _Atomic uint32_t failures;         /* consecutive failures */
    _Atomic uint32_t times_ejected;    /* the ejection multiplier */
    _Atomic uint64_t healthy_since;    /* readmission time (multiplier decay) */
    _Atomic uint64_t ejections;        /* ejections so far, for statistics */
    unsigned priority;
    int primary;
} fo_node;

typedef struct fo_state {
    azr_plugin_env *env;
    const azr_host_services *host;
    size_t n_nodes;
    uint32_t threshold;
    uint64_t base_ns, max_ns, trial_ns;
    size_t max_ejected;                /* cap on ejected nodes, >= 1 */
    int tiered;                        /* nodes differ in priority */
    _Atomic size_t n_ejected;
    fo_node *nodes;
} fo_state;

static int read_options(fo_state *st)
{
    azr_plugin_env *env = st->env;
    const azr_host_services *h = st->host;
    unsigned long long threshold = 5, base = 30000, maxe = 300000, pct = 50,
                       trial = 1000;
    int rc;
    if ((rc = azr__opt_uint(env, h, "consecutive_failures", 1, 1000000,
                           &threshold)) ||
        (rc = azr__opt_uint(env, h, "base_ejection_ms", 1, FO_MAX_MS,
                           &base)) ||
        (rc = azr__opt_uint(env, h, "max_ejection_percent", 0, 100, &pct)) ||
        (rc = azr__opt_uint(env, h, "trial_timeout_ms", 1, FO_MAX_MS,
                           &trial)))
        return rc;
    int max_given = h->option(env, "max_ejection_ms") != NULL;
    if ((rc = azr__opt_uint(env, h, "max_ejection_ms", 1, FO_MAX_MS, &maxe)))
        return rc;
    if (maxe < base) {
        if (max_given)
            return h->error(env, AZR_E_CONFIG, "max_ejection_ms",
                            "max_ejection_ms (%llu) is below "
                            "base_ejection_ms (%llu)", maxe, base);
        maxe = base;
    }
    st->threshold = (uint32_t)threshold;
    st->base_ns = base * FO_MS;
    st->max_ns = maxe * FO_MS;
    st->trial_ns = trial * FO_MS;
    size_t cap = (size_t)((unsigned long long)st->n_nodes * pct / 100);
    st->max_ejected = cap > 0 ? cap : 1; /* always allow one */
    return 0;
}

static int fo_create(azr_plugin_env *env, const azr_host_services *host,
                     const azr_node_view *const *nodes, size_t n_nodes,
                     void **state)
{
    fo_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return host->error(env, AZR_E_NOMEM, NULL, "out of memory");
    st->env = env;
    st->host = host;
    st->n_nodes = n_nodes;
    int rc = read_options(st);
    if (rc != 0) {
        free(st);
        return rc;
    }
    size_t bytes = (n_nodes > 0 ? n_nodes : 1) * sizeof(fo_node);
    st->nodes = aligned_alloc(_Alignof(fo_node), bytes);
    if (st->nodes == NULL) {
        free(st);
        return host->error(env, AZR_E_NOMEM, NULL, "out of memory");
    }
    atomic_init(&st->n_ejected, 0);
    for (size_t i = 0; i < n_nodes; i++) {
        fo_node *nd = &st->nodes[i];
        atomic_init(&nd->ejected_until, 0);
        atomic_init(&nd->trial_until, 0);
        atomic_init(&nd->failures, 0);
        atomic_init(&nd->times_ejected, 0);
        atomic_init(&nd->healthy_since, 0);
        atomic_init(&nd->ejections, 0);
        nd->priority = nodes[i]->priority;
        nd->primary = nodes[i]->role == AZR_ROLE_PRIMARY;
        if (nd->priority != st->nodes[0].priority)
            st->tiered = 1;
    }
    *state = st;
    return 0;
}

static void fo_destroy(void *state)
{
    fo_state *st = state;
    if (st == NULL)
        return;
    free(st->nodes);
    free(st);
}

/* Ejection deadline for the `times`-th ejection starting at `now`. */
static uint64_t fo_deadline(const fo_state *st, uint64_t now, uint32_t times)
{
    uint64_t d = st->max_ns;
    if (times <= st->max_ns / st->base_ns)
        d = st->base_ns * times;
    if (d > st->max_ns)
        d = st->max_ns;
    uint64_t until = now + d;
    if (until < now)
        until = UINT64_MAX; /* saturate */
    return until != 0 ? until : 1;
}

/* Ejects a node that is in service, if the cap allows. */
static void fo_eject(fo_state *st, fo_node *nd, uint64_t now)
{
    size_t e = atomic_load_explicit(&st->n_ejected, memory_order_relaxed);
    do {
        if (e >= st->max_ejected)
            return; /* cap reached: stays in service */
    } while (!atomic_compare_exchange_weak_explicit(
        &st->n_ejected, &e, e + 1, memory_order_acq_rel,
        memory_order_relaxed));

    /* The multiplier decays by one per base_ejection_ms spent healthy. */
    uint32_t times = atomic_load_explicit(&nd->times_ejected,
                                          memory_order_relaxed);
    uint64_t since = atomic_load_explicit(&nd->healthy_since,
                                          memory_order_relaxed);
    if (times > 0 && now > since) {
        uint64_t spells = (now - since) / st->base_ns;
        times = spells >= times ? 0 : times - (uint32_t)spells;
    }
    if (times < UINT32_MAX)
        times++;

    uint64_t expected = 0;
    if (atomic_compare_exchange_strong_explicit(
            &nd->ejected_until, &expected, fo_deadline(st, now, times),
            memory_order_acq_rel, memory_order_relaxed)) {
        atomic_store_explicit(&nd->times_ejected, times, memory_order_relaxed);
        atomic_store_explicit(&nd->failures, 0, memory_order_relaxed);
        atomic_store_explicit(&nd->trial_until, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&nd->ejections, 1, memory_order_relaxed);
    } else {
        /* Another thread ejected it first: give the slot back. */
        atomic_fetch_sub_explicit(&st->n_ejected, 1, memory_order_acq_rel);
    }
}

static int fo_is_failure(azr_status s)
{
    return s == AZR_STATUS_TIMEOUT || s == AZR_STATUS_REFUSED ||
           s == AZR_STATUS_TLS_FAILURE || s == AZR_STATUS_IO_ERROR;
}

static void fo_observe(void *state, const azr_outcome *o)
{
    fo_state *st = state;
    if (o->node_index >= st->n_nodes)
        return;
    fo_node *nd = &st->nodes[o->node_index];
    /* A cancelled pick is neither a success nor a failure: it must not
     * reset the failure count nor settle a half-open trial, only give the
     * trial it may have claimed back to the next pick. */
    if (o->status == AZR_STATUS_CANCELLED) {
        if (atomic_load_explicit(&nd->ejected_until, memory_order_acquire)
            != 0)
            atomic_store_explicit(&nd->trial_until, 0, memory_order_relaxed);
        return;
    }
    int failed = fo_is_failure(o->status);
    uint64_t until = atomic_load_explicit(&nd->ejected_until,
                                          memory_order_acquire);
    /* The common case, a success of a node in service, needs no clock. */
    if (until == 0 && !failed) {
        /* Stored only when set: an unconditional store would bounce the
         * line between threads on every success. */
        if (atomic_load_explicit(&nd->failures, memory_order_relaxed) != 0)
            atomic_store_explicit(&nd->failures, 0, memory_order_relaxed);
        return;
    }
    uint64_t now = st->host->now_ns(st->env);

    if (until != 0) {
        if (now < until)
            return; /* still ejected: a straggler, ignored */
        /* Half-open: this outcome is the trial's. */
        if (!failed) {
            if (atomic_compare_exchange_strong_explicit(
                    &nd->ejected_until, &until, 0, memory_order_acq_rel,
                    memory_order_relaxed)) {
                atomic_store_explicit(&nd->failures, 0, memory_order_relaxed);
                atomic_store_explicit(&nd->healthy_since, now,
                                      memory_order_relaxed);
                atomic_store_explicit(&nd->trial_until, 0,
                                      memory_order_relaxed);
                atomic_fetch_sub_explicit(&st->n_ejected, 1,
                                          memory_order_acq_rel);
            }
        } else {
            uint32_t times = atomic_load_explicit(&nd->times_ejected,
                                                  memory_order_relaxed);
            if (times < UINT32_MAX)
                times++;
            if (atomic_compare_exchange_strong_explicit(
                    &nd->ejected_until, &until, fo_deadline(st, now, times),
                    memory_order_acq_rel, memory_order_relaxed)) {
                atomic_store_explicit(&nd->times_ejected, times,
                                      memory_order_relaxed);
                atomic_store_explicit(&nd->trial_until, 0,
                                      memory_order_relaxed);
                atomic_fetch_add_explicit(&nd->ejections, 1,
                                          memory_order_relaxed);
            }
        }
        return;
    }

    if (!failed) {
        atomic_store_explicit(&nd->failures, 0, memory_order_relaxed);
        return;
    }
    uint32_t f = atomic_fetch_add_explicit(&nd->failures, 1,
                                           memory_order_relaxed) + 1;
    if (f >= st->threshold)
        fo_eject(st, nd, now);
}

/* Availability of one node at `now`, for a pick. */
typedef enum fo_avail {
    FO_OUT = 0,        /* ejected, or half-open with the trial taken */
    FO_IN = 1,         /* in service */
    FO_TRIAL = 2       /* half-open, trial free to claim */
} fo_avail;

static fo_avail fo_availability(const fo_node *nd, uint64_t now)
{
    uint64_t until = atomic_load_explicit(&nd->ejected_until,
                                          memory_order_acquire);
    if (until == 0)
        return FO_IN;
    if (now < until)
        return FO_OUT;
    uint64_t trial = atomic_load_explicit(&nd->trial_until,
                                          memory_order_relaxed);
    return now >= trial ? FO_TRIAL : FO_OUT;
}

/* Claims the trial of a half-open node; 1 if this pick got it. */
static int fo_claim_trial(const fo_state *st, fo_node *nd, uint64_t now)
{
    uint64_t trial = atomic_load_explicit(&nd->trial_until,
                                          memory_order_relaxed);
    if (now < trial)
        return 0;
    uint64_t until = now + st->trial_ns;
    return atomic_compare_exchange_strong_explicit(
        &nd->trial_until, &trial, until != 0 ? until : 1,
        memory_order_acq_rel, memory_order_relaxed);
}

/* The pick when no node is ejected: only the tiers to apply. */
static long fo_pick_tiers(const fo_state *st, int write,
                          const azr_node_view **cand, size_t n)
{
    unsigned best = UINT_MAX;
    for (size_t i = 0; i < n; i++) {
        const fo_node *nd = &st->nodes[cand[i]->index];
        if ((!write || nd->primary) && nd->priority < best)
            best = nd->priority;
    }
    if (best == UINT_MAX)
        return (long)n; /* nothing can serve it: leave it to the chain */
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (st->nodes[cand[i]->index].priority == best)
            cand[k++] = cand[i];
    return (long)k;
}

static long fo_pick(void *state, const azr_pick_args *args,
                    const azr_node_view **cand, size_t n)
{
    fo_state *st = state;
    int write = args->intent == AZR_INTENT_WRITE;

    /* Fast path, the usual case: nothing ejected (nor half-open). A node
     * ejected at this very moment is seen by the next pick. */
    if (atomic_load_explicit(&st->n_ejected, memory_order_acquire) == 0)
        return st->tiered ? fo_pick_tiers(st, write, cand, n) : (long)n;

    uint64_t now = st->host->now_ns(st->env);

    /* Best tier with an available node able to serve the request. */
    unsigned best = UINT_MAX;
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        const fo_node *nd = &st->nodes[cand[i]->index];
        if (write && !nd->primary)
            continue;
        if (fo_availability(nd, now) != FO_OUT && nd->priority <= best) {
            best = nd->priority;
            found = 1;
        }
    }
    if (!found)
        return (long)n; /* panic: leave every candidate to the chain */

    /* Keep the available candidates of that tier, in order. They are
     * collected aside so that the list is still intact if a race (the
     * tier's last trial claimed by another thread) leaves nothing able to
     * serve the request: that case routes in panic mode as above. */
    const azr_node_view *keep[AZR_MAX_NODES];
    size_t k = 0, servers = 0;
    for (size_t i = 0; i < n && k < AZR_MAX_NODES; i++) {
        fo_node *nd = &st->nodes[cand[i]->index];
        if (nd->priority != best)
            continue;
        fo_avail a = fo_availability(nd, now);
        if (a == FO_OUT)
            continue;
        if (a == FO_TRIAL) {
            if (!fo_claim_trial(st, nd, now))
                continue;
            /* This pick holds the trial: it goes to that node, whatever
             * a later policy would have chosen, so that a node that may
             * have recovered is tried once per trial and readmitted (a
             * latency policy would otherwise keep avoiding it). */
            if (!write || nd->primary) {
                cand[0] = cand[i];
                return 1;
            }
        }
        keep[k++] = cand[i];
        if (!write || nd->primary)
            servers++;
    }
    if (servers == 0)
        return (long)n;
    memcpy(cand, keep, k * sizeof keep[0]);
    return (long)k;
}

static void fo_describe(void *state, size_t index,
                        azr_policy_node_report *report)
{
    const fo_state *st = state;
    if (index >= st->n_nodes ||
        report->struct_size < offsetof(azr_policy_node_report, ejected) +
                                  sizeof report->ejected)
        return;
    fo_node *nd = &st->nodes[index];
    report->ejections = atomic_load_explicit(&nd->ejections,
                                             memory_order_relaxed);
    report->ejected = atomic_load_explicit(&nd->ejected_until,
                                           memory_order_relaxed) != 0;
}

static uint64_t fo_load(const _Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

/* ABI 1.2: the nodes that stay keep their ejection, failure streak and
 * multiplier in a new table (a reload or a topology change must not
 * readmit a failing node). A trial claimed in the old table is not: the
 * node is offered again once its ejection ends. */
static void fo_carry(void *state, const void *previous,
                     const size_t *previous_index, size_t n_nodes)
{
    fo_state *st = state;
    const fo_state *old = previous;
    size_t ejected = 0;
    for (size_t i = 0; i < n_nodes && i < st->n_nodes; i++) {
        size_t p = previous_index[i];
        if (p == AZR_NODE_NEW || p >= old->n_nodes)
            continue;
        const fo_node *from = &old->nodes[p];
        fo_node *to = &st->nodes[i];
        uint64_t until = fo_load(&from->ejected_until);
        if (until != 0 && ejected < st->max_ejected) {
            atomic_store_explicit(&to->ejected_until, until,
                                  memory_order_relaxed);
            ejected++;
        }
        atomic_store_explicit(&to->failures,
                              atomic_load_explicit(&from->failures,
                                                   memory_order_relaxed),
                              memory_order_relaxed);
        atomic_store_explicit(&to->times_ejected,
                              atomic_load_explicit(&from->times_ejected,
                                                   memory_order_relaxed),
                              memory_order_relaxed);
        atomic_store_explicit(&to->healthy_since,
                              fo_load(&from->healthy_since),
                              memory_order_relaxed);
        atomic_store_explicit(&to->ejections, fo_load(&from->ejections),
                              memory_order_relaxed);
    }
    atomic_store_explicit(&st->n_ejected, ejected, memory_order_release);
}

static const azr_policy_ops fo_ops = {
    .struct_size = sizeof(azr_policy_ops),
    .create = fo_create,
    .destroy = fo_destroy,
    .pick = fo_pick,
    .observe = fo_observe,
    .describe = fo_describe,
    .carry = fo_carry,
};

AZR_PLUGIN_DECLARE = {
    .struct_size = sizeof(azr_plugin),
    .abi_major = AZR_PLUGIN_ABI_MAJOR,
    .abi_minor = AZR_PLUGIN_ABI_MINOR,
    .kind = AZR_PLUGIN_POLICY,
    .name = "failover",
    .version = "1.0",
    .description = "ejects nodes after consecutive failures (half-open "
                   "trial to readmit) and keeps the best priority tier",
    .policy = &fo_ops,
};
