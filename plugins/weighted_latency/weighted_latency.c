/*
 * weighted_latency.c - chooses one node by measured latency.
 *
 * For every node the policy keeps a peak EWMA of the round-trip time and the
 * number of requests it sent there that have not been reported yet. The cost
 * of a node is
 *
 *     cost = estimate x (outstanding + 1) / weight
 *
 * and the pick chooses, among the candidates the chain left, either the
 * cheaper of two distinct random candidates (mode = p2c, the default: the
 * "power of two choices", which avoids herding every thread onto the one
 * node that currently looks best) or one candidate at random with
 * probability proportional to 1/cost (mode = weighted). It always narrows
 * the candidates to one: it is meant to be the last link of the chain.
 *
 * Peak EWMA (as in Finagle and Linkerd): a sample above the current estimate
 * replaces it at once, so a node that slows down is avoided from its first
 * slow answer; a lower sample pulls the estimate down with the time constant
 * decay_ms:
 *
 *     estimate += (sample - estimate) x (1 - exp(-dt / decay_ms))
 *
 * where dt is the time since the node's previous sample, so the decay speed
 * does not depend on the request rate (the pull and the lock-free update
 * are plugins/common/ewma.h's, shared with same_az). A node without samples
 * costs initial_rtt_ms (the prior), as if it had answered that fast when
 * the policy was created; the first real sample replaces the prior
 * outright.
 *
 * Spikes: with the time-based pull alone, one stray slow answer on a busy,
 * healthy node (a scheduling hiccup, a GC pause) would hold its estimate up
 * for about decay_ms, however many fast answers follow, and on a noisy host
 * the healthy nodes then look as slow as a genuinely slow one most of the
 * time. Two bounds keep one stray answer from counting like a trend:
 *  - a higher sample raises the estimate at once, but to at most
 *    `max_jump` times its previous value (default 4; 0: no bound). A node
 *    that really became 10x slower is at 4x after its first slow answer
 *    (already the worst of healthy peers) and at its new latency after the
 *    second; a lone spike (a TCP retransmission, a scheduling hiccup)
 *    makes the node look 4x slower rather than 100x, so that it is not
 *    ranked behind a node that is slow all the time, while its peers
 *    absorb the load until it is sampled again;
 *  - a lower sample always pulls the estimate at least `min_pull` of the
 *    way (default 0.05): the spike is then forgotten after a few dozen
 *    answers, while a node that is really slow keeps its estimate, since
 *    all its samples are high.
 * max_jump = 0 and min_pull = 0 give the textbook peak EWMA.
 *
 * Idle decay: a node nobody picks receives no samples, so its estimate
 * would otherwise stay frozen at whatever peak it last saw, and with P2C a
 * node that lost a few comparisons (a single stray spike is enough) could
 * be left out for good. When reading a cost the estimate is therefore
 * decayed toward zero by the time since the node's last sample, as Finagle
 * and Linkerd do: effective = estimate x exp(-idle / decay_ms). An idle
 * node thus becomes cheaper until it is tried again, which spreads the load
 * over equally fast nodes and re-probes a slow one about every
 * decay_ms x ln(its latency / the others'). The stored estimate itself
 * changes only with samples. A node without samples decays likewise from
 * its prior, so it is tried at the latest after about
 * decay_ms x ln(prior / the others' latency), never starved; a prior at or
 * below the nodes' real latency has it tried at once. The first requests
 * to a long-idle node could
 * all see it as nearly free; the outstanding count bounds that burst, as
 * each request in flight adds the node's estimate again to its cost.
 *
 * Outstanding requests: counted up when this policy's pick chooses a node,
 * down when any outcome for that node is observed (AZR_STATUS_CANCELLED
 * included: a pick released without a request). An embedder that picks
 * without reporting leaves requests counted as in flight; `azroute pick
 * -n N` does exactly that, which spreads its picks evenly over equally
 * fast nodes. Put weighted_latency last in the chain: a later policy that
 * rejected the pick would leave the count one too high until then.
 *
 * Failures count against a node, as in Finagle, where a failure is a slow
 * answer: a timeout, refusal, TLS or I/O failure multiplies the node's
 * current (idle-decayed) estimate by failure_factor (default 4), at once
 * and up to one minute. A failing node is thus avoided while its peers
 * answer, and offered again once its estimate has decayed below theirs,
 * about decay_ms x ln(failure_factor) later (14 s by default); every
 * failed probe multiplies again, so a node that stays down is probed less
 * and less often, and the first answers of a node that came back bring
 * its estimate down at once (failover's half-open trial readmits a node
 * it ejected on its own schedule).
 *
 * Threads. Everything a pick or an outcome writes is kept per thread slot
 * (host->thread_slot), so that threads do not pass cache lines back and
 * forth on every request:
 *  - a node's outstanding count is a count per slot; a pick reads its own
 *    slot's exactly and the other slots' sum as refreshed at most
 *    WL_SHARE_NS ago (1 ms), so a thread sees the others' requests in
 *    flight with at most that delay. An outcome releases a request of its
 *    own slot, else (reported from another thread than its pick) one of
 *    another slot; with none outstanding anywhere it releases nothing, so
 *    the sum is exact and never negative;
 *  - a sample at or below the estimate x (1 + 1/8), when more than one
 *    slot updated the estimate in the last WL_CONTENDED_NS, is added to
 *    its slot's batch instead of written at once; the slot folds its batch into the shared estimate
 *    when it is WL_SHARE_NS old or WL_BATCH_MAX samples long, as one
 *    sample of the batch's mean that pulls as far as its samples would
 *    have one by one. A higher sample (a peak, or a failure), and any
 *    sample while the estimate is this slot's alone, update it at once.
 *    So the estimate every thread reads lags a falling latency by at
 *    most WL_SHARE_NS and a rising one not at all.
 *
 * Options ([policy weighted_latency]):
 *   decay_ms       time constant of the EWMA in ms, > 0 and <= 3600000,
 *                  decimals allowed (default 10000)
 *   initial_rtt_ms prior for nodes without samples, > 0 and <= 60000,
 *                  decimals allowed (default 1: a little above a same-AZ
 *                  round trip in AWS, so a new node is tried at once when
 *                  the known ones are slower or busy, and within seconds
 *                  otherwise, without a burst of requests)
 *   mode           p2c | weighted (default p2c)
 *   max_jump       bound on how many times higher one sample can make
 *                  the estimate, 0 (no bound) or 1.5..1000 (default 4)
 *   min_pull       least fraction of the way a lower sample pulls the
 *                  estimate, 0..1 (default 0.05; 0: time-based only)
 *   failure_factor how many times slower a failure makes the node look,
 *                  0 (failures do not touch the estimate) or 1.5..1000,
 *                  decimals allowed (default 4)
 *
 * Concurrency: pick() and observe() run on any number of threads. Each
 * node's shared state (estimate, stamp) is on its own cache line. An
 * update takes the node's clock stamp with an atomic exchange (so
 * concurrent updates split the elapsed time between them instead of each
 * decaying by the whole of it) and then applies itself to the estimate
 * with a compare-and-swap loop, so no sample is lost. The estimate and its stamp
 * are not one atomic unit: a reader may combine a new estimate with the
 * previous stamp (or the reverse) for an instant, which only shifts one
 * cost by a fraction of a decay step. The pick path allocates nothing,
 * takes no lock and makes no system call (time and randomness come from
 * the host).
 */
#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <azroute/plugin.h>

#include "../common/ewma.h"
#include "../common/options.h"

#define WL_DEFAULT_DECAY_MS 10000.0
#define WL_MAX_DECAY_MS 3600000.0
#define WL_DEFAULT_PRIOR_MS 1.0
#define WL_MAX_PRIOR_MS 60000.0
#define WL_DEFAULT_MIN_PULL 0.05
#define WL_DEFAULT_MAX_JUMP 4.0
#define WL_DEFAULT_FAILURE_FACTOR 4.0
/* A failure never raises an estimate above one minute. */
#define WL_FAILURE_CAP_NS 60e9
/* How stale another slot's view may get: outstanding counts of the other
 * slots, and a slot's batch of samples before it is folded in. */
#define WL_SHARE_NS 1000000u
/* A sample above estimate x WL_PEAK_RATIO is a peak, applied at once. */
#define WL_PEAK_RATIO 1.125
/* Samples a batch holds before it is folded in, whatever their age. */
#define WL_BATCH_MAX 32u
/* Samples go to batches while the estimate had several writing slots in
 * this recent a past (100 ms). */
#define WL_CONTENDED_NS 100000000u
/* Estimates below this (ns) count as this much when bounding a jump, so a
 * node reported at 0 ns can still rise. */
#define WL_JUMP_FLOOR_NS 1000.0

/* Bit pattern of the estimate meaning "no sample yet" (a NaN, which no
 * sample can produce). */
#define WL_NO_SAMPLE AZR_EWMA_NO_SAMPLE

typedef enum wl_mode { WL_MODE_P2C = 0, WL_MODE_WEIGHTED = 1 } wl_mode;

/* A node's shared state: read by every pick, written by folds and peaks. */
typedef struct wl_node {
    /* estimate in ns, as the bits of a double (WL_NO_SAMPLE: none) */
    _Alignas(64) _Atomic uint64_t estimate;
    _Atomic uint64_t stamp_ns;      /* time of the last update */
    _Atomic size_t writer;          /* slot + 1 of the last update */
    _Atomic uint64_t contended_at;  /* when the writer last changed; 0:
                                       one slot only so far */
    double inv_weight;              /* 1 / weight, fixed at create */
} wl_node;

/* A node's state in one thread slot: written by that slot's threads. */
typedef struct wl_slot_node {
    _Alignas(64) _Atomic int64_t outstanding; /* picks minus outcomes,
                                                 this slot; never < 0 */
    _Atomic int64_t others;         /* the other slots' sum, as of... */
    _Atomic uint64_t others_at;     /* ...this time (ns); 0: never */
    _Atomic uint64_t batch_sum;     /* samples not folded yet: sum (bits
                                       of a double), */
    _Atomic uint64_t batch_n;       /* their number, */
    _Atomic uint64_t batch_since;   /* and the first one's time */
} wl_slot_node;

typedef struct wl_state {
    azr_plugin_env *env;
    const azr_host_services *host;
    size_t n_nodes;
    double tau_ns;       /* decay_ms in ns */
    double min_pull;     /* least pull of a lower sample, 0..1 */
    double max_jump;     /* bound on one upward step (x est), 0: none */
    double prior_ns;     /* initial_rtt_ms in ns */
    double failure_factor; /* 0: failures leave the estimate alone */
    wl_mode mode;
    wl_node *nodes;      /* n_nodes, cache-line aligned */
    size_t n_slots;      /* host->thread_slots() */
    size_t slot_stride;  /* wl_slot_node per slot, padded to 128 bytes */
    wl_slot_node *slots; /* n_slots x slot_stride */
} wl_state;

static wl_slot_node *wl_slot(const wl_state *st, size_t slot, size_t node)
{
    return &st->slots[slot * st->slot_stride + node];
}

static wl_slot_node *wl_mine(const wl_state *st, size_t node)
{
    return wl_slot(st, st->host->thread_slot(st->env), node);
}

static int read_options(wl_state *st)
{
    azr_plugin_env *env = st->env;
    const azr_host_services *h = st->host;
    double decay_ms = WL_DEFAULT_DECAY_MS;
    double prior_ms = WL_DEFAULT_PRIOR_MS;
    double min_pull = WL_DEFAULT_MIN_PULL;
    double max_jump = WL_DEFAULT_MAX_JUMP;
    double failure_factor = WL_DEFAULT_FAILURE_FACTOR;
    const char *v;
    int rc;

    if ((rc = azr__opt_double(env, h, "decay_ms", 0.0, 1, WL_MAX_DECAY_MS,
                             &decay_ms, "a number of milliseconds in "
                             "(0, %.0f]", WL_MAX_DECAY_MS)) ||
        (rc = azr__opt_double(env, h, "initial_rtt_ms", 0.0, 1,
                             WL_MAX_PRIOR_MS, &prior_ms, "a number of "
                             "milliseconds in (0, %.0f]", WL_MAX_PRIOR_MS)) ||
        (rc = azr__opt_double(env, h, "min_pull", 0.0, 0, 1.0, &min_pull,
                             "a number in [0, 1]")))
        return rc;
    /* 0 or [1.5, 1000], as max_jump. */
    if ((v = h->option(env, "failure_factor")) != NULL &&
        (azr__opt_parse_double(v, 0.0, 0, 1000.0, &failure_factor) != 0 ||
         (failure_factor != 0.0 && failure_factor < 1.5)))
        return azr__opt_invalid(env, h, "failure_factor", v, "0 (failures "
                               "do not count) or a number in [1.5, 1000]");
    /* 0 or [1.5, 1000]: more than one range, checked here. */
    if ((v = h->option(env, "max_jump")) != NULL &&
        (azr__opt_parse_double(v, 0.0, 0, 1000.0, &max_jump) != 0 ||
         (max_jump != 0.0 && max_jump < 1.5)))
        return azr__opt_invalid(env, h, "max_jump", v, "0 (no bound) or a "
                               "number in [1.5, 1000]");
    st->mode = WL_MODE_P2C;
    if ((v = h->option(env, "mode")) != NULL) {
        if (strcmp(v, "p2c") == 0)
            st->mode = WL_MODE_P2C;
        else if (strcmp(v, "weighted") == 0)
            st->mode = WL_MODE_WEIGHTED;
        else
            return h->error(env, AZR_E_CONFIG, "mode",
                            "invalid mode '%s': expected p2c or weighted", v);
    }
    st->tau_ns = decay_ms * 1e6;
    st->prior_ns = prior_ms * 1e6;
    st->min_pull = min_pull;
    st->max_jump = max_jump;
    st->failure_factor = failure_factor;
    return 0;
}

static int wl_create(azr_plugin_env *env, const azr_host_services *host,
                     const azr_node_view *const *nodes, size_t n_nodes,
                     void **state)
{
    wl_state *st = calloc(1, sizeof *st);
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
    if (host->struct_size < offsetof(azr_host_services, thread_slots) +
                                sizeof host->thread_slots) {
        free(st);
        return host->error(env, AZR_E_PLUGIN, NULL, "the host predates "
                           "plugin ABI 1.1 (no thread slots)");
    }
    size_t bytes = (n_nodes > 0 ? n_nodes : 1) * sizeof(wl_node);
    st->nodes = aligned_alloc(_Alignof(wl_node), bytes);
    st->n_slots = host->thread_slots(env);
    /* Rows of whole 128-byte pairs of lines: no two slots share one, even
     * with adjacent-line prefetching. */
    size_t row = (n_nodes > 0 ? n_nodes : 1) * sizeof(wl_slot_node);
    row = (row + 127) / 128 * 128;
    _Static_assert(128 % sizeof(wl_slot_node) == 0, "wl_slot_node size");
    st->slot_stride = row / sizeof(wl_slot_node);
    st->slots = aligned_alloc(128, st->n_slots * row);
    if (st->nodes == NULL || st->slots == NULL) {
        free(st->nodes);
        free(st->slots);
        free(st);
        return host->error(env, AZR_E_NOMEM, NULL, "out of memory");
    }
    memset(st->slots, 0, st->n_slots * row);
    uint64_t now = host->now_ns(env);
    for (size_t i = 0; i < n_nodes; i++) {
        wl_node *nd = &st->nodes[i];
        atomic_init(&nd->estimate, WL_NO_SAMPLE);
        atomic_init(&nd->stamp_ns, now); /* the prior's time */
        atomic_init(&nd->writer, 0);
        atomic_init(&nd->contended_at, 0);
        unsigned w = nodes[i]->weight;
        nd->inv_weight = 1.0 / (double)(w > 0 ? w : 1);
    }
    *state = st;
    return 0;
}

static void wl_destroy(void *state)
{
    wl_state *st = state;
    if (st == NULL)
        return;
    free(st->nodes);
    free(st->slots);
    free(st);
}

/* The node's latency estimate in ns as of `now`, with idle decay. */
static double wl_estimate(const wl_state *st, wl_node *nd, uint64_t now)
{
    uint64_t bits = atomic_load_explicit(&nd->estimate, memory_order_relaxed);
    double est = bits == WL_NO_SAMPLE ? st->prior_ns : azr__bits_double(bits);
    uint64_t stamp = atomic_load_explicit(&nd->stamp_ns, memory_order_relaxed);
    if (now > stamp)
        est *= exp(-(double)(now - stamp) / st->tau_ns);
    return est;
}

/* Requests in flight to `node`: this slot's exactly, the other slots' as
 * refreshed at most WL_SHARE_NS ago. */
static int64_t wl_outstanding(const wl_state *st, size_t node, uint64_t now)
{
    size_t me = st->host->thread_slot(st->env);
    wl_slot_node *mine = wl_slot(st, me, node);
    int64_t others;
    uint64_t at = atomic_load_explicit(&mine->others_at, memory_order_relaxed);
    if (at != 0 && now - at < WL_SHARE_NS) {
        others = atomic_load_explicit(&mine->others, memory_order_relaxed);
    } else {
        others = 0;
        for (size_t s = 0; s < st->n_slots; s++)
            if (s != me)
                others += atomic_load_explicit(
                    &wl_slot(st, s, node)->outstanding, memory_order_relaxed);
        atomic_store_explicit(&mine->others, others, memory_order_relaxed);
        atomic_store_explicit(&mine->others_at, now != 0 ? now : 1,
                              memory_order_relaxed);
    }
    int64_t out = atomic_load_explicit(&mine->outstanding,
                                       memory_order_relaxed) + others;
    return out > 0 ? out : 0;
}

static double wl_cost(const wl_state *st, const azr_node_view *v, uint64_t now)
{
    wl_node *nd = &st->nodes[v->index];
    int64_t out = wl_outstanding(st, v->index, now);
    return wl_estimate(st, nd, now) * ((double)out + 1.0) * nd->inv_weight;
}

/* Uniform double in [0, 1) from the host's random source. */
static double wl_uniform(const wl_state *st)
{
    return (double)(st->host->random_u64(st->env) >> 11) * 0x1.0p-53;
}

/*
 * P2C draws two random numbers r1, r2: the first candidate is r1 % n, the
 * second is r2 % (n - 1), skipping over the first (so the two are
 * distinct). The cheaper one wins; on a tie, the first.
 */
static size_t wl_choose_p2c(const wl_state *st, const azr_node_view **cand,
                            size_t n, uint64_t now)
{
    size_t a = (size_t)(st->host->random_u64(st->env) % n);
    size_t b = (size_t)(st->host->random_u64(st->env) % (n - 1));
    if (b >= a)
        b++;
    return wl_cost(st, cand[b], now) < wl_cost(st, cand[a], now) ? b : a;
}

/* One candidate with probability proportional to 1 / cost. */
static size_t wl_choose_weighted(const wl_state *st, const azr_node_view **cand,
                                 size_t n, uint64_t now)
{
    double inv[AZR_MAX_NODES];
    double total = 0.0;
    if (n > AZR_MAX_NODES)
        n = AZR_MAX_NODES;
    for (size_t i = 0; i < n; i++) {
        double c = wl_cost(st, cand[i], now);
        /* A zero-latency estimate would have infinite weight: floor it at
         * one nanosecond. */
        inv[i] = 1.0 / (c > 1.0 ? c : 1.0);
        total += inv[i];
    }
    double r = wl_uniform(st) * total;
    for (size_t i = 0; i < n; i++) {
        if (r < inv[i])
            return i;
        r -= inv[i];
    }
    return n - 1; /* rounding left r just above the sum */
}

static long wl_pick(void *state, const azr_pick_args *args,
                    const azr_node_view **cand, size_t n)
{
    wl_state *st = state;
    (void)args;
    if (n == 0)
        return 0;
    size_t chosen = 0;
    if (n > 1) {
        uint64_t now = st->host->now_ns(st->env);
        chosen = st->mode == WL_MODE_WEIGHTED
                     ? wl_choose_weighted(st, cand, n, now)
                     : wl_choose_p2c(st, cand, n, now);
    }
    const azr_node_view *v = cand[chosen];
    if (v->index < st->n_nodes)
        atomic_fetch_add_explicit(&wl_mine(st, v->index)->outstanding, 1,
                                  memory_order_relaxed);
    cand[0] = v;
    return 1;
}

/* What wl_rule needs to move an estimate: the instance's bounds, the
 * pull of this update, and for a failure the idle decay since the last
 * update (the estimate as it is now is what a failure multiplies). */
typedef struct wl_step {
    const wl_state *st;
    double pull;
    double decay;
    int failure;
} wl_step;

/* The peak EWMA rule (see the top of the file), for azr__ewma_update. */
static double wl_rule(double est, double sample, const void *arg)
{
    const wl_step *k = arg;
    if (k->failure) {                        /* a slow answer, as it is now */
        double now_est = est * k->decay;
        now_est = (now_est > WL_JUMP_FLOOR_NS ? now_est : WL_JUMP_FLOOR_NS) *
                  sample;
        return now_est < WL_FAILURE_CAP_NS ? now_est : WL_FAILURE_CAP_NS;
    }
    if (sample > est) {                      /* peak: jump up at once... */
        double top = (est > WL_JUMP_FLOOR_NS ? est : WL_JUMP_FLOOR_NS) *
                     k->st->max_jump;        /* ...by at most max_jump x */
        return k->st->max_jump > 0.0 && sample > top ? top : sample;
    }
    return azr__ewma_blend(est, sample, k->pull);
}

/*
 * Applies one update to the shared estimate: `sample` with the pull a
 * batch of `n` samples would have had (n >= 1), or, when `failure` is set,
 * a failure: the estimate as decayed to `now` times `sample` (the
 * failure factor), at most WL_FAILURE_CAP_NS.
 */
static void wl_update(const wl_state *st, wl_node *nd, double sample,
                      uint64_t n, int failure, uint64_t now)
{
    size_t me = st->host->thread_slot(st->env) + 1;
    size_t last = atomic_load_explicit(&nd->writer, memory_order_relaxed);
    if (last != me) {
        atomic_store_explicit(&nd->writer, me, memory_order_relaxed);
        if (last != 0)
            atomic_store_explicit(&nd->contended_at, now != 0 ? now : 1,
                                  memory_order_relaxed);
    }
    double pull = azr__ewma_pull(&nd->stamp_ns, now, st->tau_ns);
    double decay = 1.0 - pull; /* exp(-dt / tau): the idle decay */
    double least = n == 1 ? st->min_pull
                          : 1.0 - pow(1.0 - st->min_pull, (double)n);
    if (pull < least)
        pull = least;
    if (failure) {
        /* A failure applies the rule even to a node without samples: from
         * its prior, not as a first sample. */
        uint64_t none = WL_NO_SAMPLE;
        atomic_compare_exchange_strong_explicit(
            &nd->estimate, &none, azr__double_bits(st->prior_ns),
            memory_order_relaxed, memory_order_relaxed);
    }
    const wl_step step = { .st = st, .pull = pull, .decay = decay,
                           .failure = failure };
    azr__ewma_update(&nd->estimate, sample, wl_rule, &step);
}

/* Adds a sample to the slot's batch; folds the batch into the shared
 * estimate when it is WL_SHARE_NS old, WL_BATCH_MAX long, or `force`. */
static void wl_batch(const wl_state *st, wl_node *nd, wl_slot_node *mine,
                     double sample, uint64_t now, int force)
{
    uint64_t n = atomic_load_explicit(&mine->batch_n, memory_order_relaxed);
    double sum = n > 0 ? azr__bits_double(atomic_load_explicit(
                             &mine->batch_sum, memory_order_relaxed))
                       : 0.0;
    if (n == 0)
        atomic_store_explicit(&mine->batch_since, now, memory_order_relaxed);
    sum += sample;
    n++;
    uint64_t since = atomic_load_explicit(&mine->batch_since,
                                          memory_order_relaxed);
    if (!force && now - since < WL_SHARE_NS && n < WL_BATCH_MAX) {
        atomic_store_explicit(&mine->batch_sum, azr__double_bits(sum),
                              memory_order_relaxed);
        atomic_store_explicit(&mine->batch_n, n, memory_order_relaxed);
        return;
    }
    atomic_store_explicit(&mine->batch_n, 0, memory_order_relaxed);
    wl_update(st, nd, sum / (double)n, n, 0, now);
}

/* Takes one from a slot's count if it is above zero; 1 if it did. */
static int wl_take_one(_Atomic int64_t *count)
{
    int64_t cur = atomic_load_explicit(count, memory_order_relaxed);
    while (cur > 0)
        if (atomic_compare_exchange_weak_explicit(count, &cur, cur - 1,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed))
            return 1;
    return 0;
}

/* Ends one request to `node` (see "Threads" above). */
static void wl_release(const wl_state *st, size_t node)
{
    size_t me = st->host->thread_slot(st->env);
    if (wl_take_one(&wl_slot(st, me, node)->outstanding))
        return;
    for (size_t s = 0; s < st->n_slots; s++)
        if (s != me && wl_take_one(&wl_slot(st, s, node)->outstanding))
            return;
}

static int wl_is_failure(azr_status s)
{
    return s == AZR_STATUS_TIMEOUT || s == AZR_STATUS_REFUSED ||
           s == AZR_STATUS_TLS_FAILURE || s == AZR_STATUS_IO_ERROR;
}

static void wl_observe(void *state, const azr_outcome *o)
{
    wl_state *st = state;
    if (o->node_index >= st->n_nodes)
        return;
    wl_node *nd = &st->nodes[o->node_index];
    wl_slot_node *mine = wl_mine(st, o->node_index);
    wl_release(st, o->node_index);

    if (wl_is_failure(o->status)) {
        if (st->failure_factor > 0.0)
            wl_update(st, nd, st->failure_factor, 1, 1,
                      st->host->now_ns(st->env));
        return;
    }
    /* Only an answer carries a round-trip time; a cancelled pick only
     * released its outstanding count above. */
    if (o->status != AZR_STATUS_OK && o->status != AZR_STATUS_ERROR_REPLY)
        return;

    double sample = (double)o->rtt_ns;
    uint64_t now = st->host->now_ns(st->env);
    uint64_t bits = atomic_load_explicit(&nd->estimate, memory_order_relaxed);
    uint64_t contended = atomic_load_explicit(&nd->contended_at,
                                              memory_order_relaxed);
    int shared = contended != 0 && now - contended < WL_CONTENDED_NS;
    if (bits == WL_NO_SAMPLE || !shared ||
        sample > azr__bits_double(bits) * WL_PEAK_RATIO) {
        /* A batch left over from when the estimate was shared goes first,
         * so that samples stay in order. */
        if (atomic_load_explicit(&mine->batch_n, memory_order_relaxed) > 0)
            wl_batch(st, nd, mine, sample, now, 1);
        else
            wl_update(st, nd, sample, 1, 0, now);
    } else {
        wl_batch(st, nd, mine, sample, now, 0);
    }
}

/* The stored estimate (without idle decay); none before a sample. */
static void wl_describe(void *state, size_t index,
                        azr_policy_node_report *report)
{
    const wl_state *st = state;
    if (index >= st->n_nodes ||
        report->struct_size < offsetof(azr_policy_node_report, latency_ns) +
                                  sizeof report->latency_ns)
        return;
    uint64_t bits = atomic_load_explicit(&st->nodes[index].estimate,
                                         memory_order_relaxed);
    if (bits != WL_NO_SAMPLE)
        report->latency_ns = azr__bits_double(bits);
}

/* ABI 1.2: a new table keeps what was learned of the nodes that stay:
 * their estimates. Outstanding counts start at zero: a request picked
 * before the swap reports to this instance, where taking one from zero
 * takes nothing (wl_take_one), while a copied count could never be
 * trusted (the old instance keeps counting until it is retired). Samples
 * not folded yet are dropped. */
static void wl_carry(void *state, const void *previous,
                     const size_t *previous_index, size_t n_nodes)
{
    wl_state *st = state;
    const wl_state *old = previous;
    for (size_t i = 0; i < n_nodes && i < st->n_nodes; i++) {
        size_t p = previous_index[i];
        if (p == AZR_NODE_NEW || p >= old->n_nodes)
            continue;
        const wl_node *from = &old->nodes[p];
        wl_node *to = &st->nodes[i];
        atomic_store_explicit(&to->estimate,
                              atomic_load_explicit(&from->estimate,
                                                   memory_order_relaxed),
                              memory_order_relaxed);
        atomic_store_explicit(&to->stamp_ns,
                              atomic_load_explicit(&from->stamp_ns,
                                                   memory_order_relaxed),
                              memory_order_relaxed);
    }
}

static const azr_policy_ops wl_ops = {
    .struct_size = sizeof(azr_policy_ops),
    .create = wl_create,
    .destroy = wl_destroy,
    .pick = wl_pick,
    .observe = wl_observe,
    .describe = wl_describe,
    .carry = wl_carry,
};

AZR_PLUGIN_DECLARE = {
    .struct_size = sizeof(azr_plugin),
    .abi_major = AZR_PLUGIN_ABI_MAJOR,
    .abi_minor = AZR_PLUGIN_ABI_MINOR,
    .kind = AZR_PLUGIN_POLICY,
    .name = "weighted_latency",
    .version = "1.0",
    .description = "chooses one node by peak-EWMA latency x outstanding "
                   "requests / weight (power of two choices)",
    .policy = &wl_ops,
};
