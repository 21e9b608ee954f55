/*
 * check_policies.c - deterministic tests of the weighted_latency and
 * failover policies and of same_az's spill-over, through the real host.
 *
 * Every test writes a small azroute.ini, opens it with azr_open_ex() with an
 * injected clock (the variable `now_ns`, advanced by the test) and an
 * injected random source (a scripted sequence), then drives azr_pick() and
 * azr_report() and asserts the node chosen. Plugins come from
 * $AZROUTE_PLUGIN_DIR (the build tree under make check).
 *
 * Conventions: nodes are listed in index order a=0, b=1, c=2, d=3; the
 * host hands the chain the candidates in that order. weighted_latency's
 * P2C draws r1, r2 and compares candidates r1 % n and r2 % (n - 1) (the
 * latter skipping over the former); mode = weighted draws one u in [0, 1)
 * from the top 53 bits.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include <azroute/azroute.h>

#include "testutil.h"

#define MS 1000000ull /* ns per ms */
#define SEC 1000000000ull

/* ----- injected time and randomness ----- */

static uint64_t now_ns;
static uint64_t script[64];
static size_t script_len, script_pos;
static size_t random_calls;

static uint64_t test_clock(void *ud)
{
    (void)ud;
    return now_ns;
}

/* Returns the scripted values in order; when the script is exhausted (or
 * none was set) returns 0, which makes P2C compare candidates 0 and 1. */
static uint64_t test_random(void *ud)
{
    (void)ud;
    random_calls++;
    return script_pos < script_len ? script[script_pos++] : 0;
}

/* Sets the random script: n values. */
static void script_set(size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    ck_assert_uint_le(n, sizeof script / sizeof script[0]);
    for (size_t i = 0; i < n; i++)
        script[i] = va_arg(ap, uint64_t);
    va_end(ap);
    script_len = n;
    script_pos = 0;
}

/* The random value that mode = weighted turns into u. */
static uint64_t uniform_bits(double u)
{
    return (uint64_t)(u * 0x1.0p53) << 11;
}

/* ----- building and opening configurations ----- */

#define NODE(id, az, role) \
    "[node " id "]\nhost = " id ".test\nport = 6379\naz_id = " az \
    "\nrole = " role "\n"

static char errbuf[AZR_ERRBUF_SIZE];

static void reset_sources(void)
{
    now_ns = 1 * SEC;
    script_len = script_pos = 0;
    random_calls = 0;
    errbuf[0] = '\0';
}

/* Opens `text` with the injected sources; `az` is the caller's AZ ID (NULL:
 * unknown). Returns the code; *ctxp is set on success. */
static azr_code try_open(const char *text, const char *az, azr_ctx **ctxp)
{
    azr_open_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.clock = test_clock;
    o.random = test_random;
    o.az_id = az;
    *ctxp = NULL;
    return azr_test_open(text, &o, ctxp, errbuf);
}

static azr_ctx *open_ok(const char *text, const char *az)
{
    azr_ctx *ctx;
    azr_code rc = try_open(text, az, &ctx);
    ck_assert_msg(rc == AZR_OK, "open failed (%d): %s", rc, errbuf);
    return ctx;
}

/* Formats an ini from pieces (the chain, then the rest). */
static char *ini(const char *policy, const char *rest)
{
    char *text;
    ck_assert_int_ge(asprintf(&text, "[azroute]\npolicy = %s\n"
                              "[metadata]\nsource = none\n%s", policy, rest),
                     0);
    return text;
}

static azr_ctx *open_ini(const char *policy, const char *rest, const char *az)
{
    char *text = ini(policy, rest);
    azr_ctx *ctx = open_ok(text, az);
    free(text);
    return ctx;
}

static size_t pick(azr_ctx *ctx, azr_intent intent)
{
    size_t idx = (size_t)-1;
    azr_code rc = azr_pick(ctx, intent, &idx);
    ck_assert_msg(rc == AZR_OK, "pick failed: %s", azr_strerror(rc));
    return idx;
}

static size_t pick_read(azr_ctx *ctx)
{
    return pick(ctx, AZR_INTENT_READ);
}

/* Picks for a read and releases the pick (AZR_STATUS_CANCELLED): the
 * request is over, so weighted_latency's outstanding count is back where
 * it was and its latency estimate untouched. */
static size_t pick_released(azr_ctx *ctx)
{
    size_t idx = pick_read(ctx);
    ck_assert_int_eq(azr_report(ctx, idx, 0, AZR_STATUS_CANCELLED, 0),
                     AZR_OK);
    return idx;
}

static void sample(azr_ctx *ctx, size_t node, double ms)
{
    ck_assert_int_eq(azr_report(ctx, node, (uint64_t)llround(ms * 1e6),
                                AZR_STATUS_OK, 0), AZR_OK);
}

static void fail_n(azr_ctx *ctx, size_t node, int times)
{
    for (int i = 0; i < times; i++)
        ck_assert_int_eq(azr_report(ctx, node, 0, AZR_STATUS_REFUSED, 0),
                         AZR_OK);
}

/* Line number (1-based) of the first occurrence of `needle` in `text`. */
static unsigned line_of(const char *text, const char *needle)
{
    const char *at = strstr(text, needle);
    ck_assert_ptr_nonnull(at);
    unsigned line = 1;
    for (const char *p = text; p < at; p++)
        line += *p == '\n';
    return line;
}

/* Asserts that opening `policy` + `rest` fails with AZR_E_CONFIG and a
 * message "TEST.ini:LINE: ...`words`..." where LINE is that of `key_line`. */
static void assert_option_error(const char *policy, const char *rest,
                                const char *key_line, const char *words)
{
    char *text = ini(policy, rest);
    azr_ctx *ctx;
    azr_code rc = try_open(text, NULL, &ctx);
    ck_assert_msg(rc == AZR_E_CONFIG, "expected a config error for '%s', "
                  "got %d (%s)", key_line, rc, errbuf);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "TEST.ini:%u: ", line_of(text, key_line));
    ck_assert_msg(strncmp(errbuf, prefix, strlen(prefix)) == 0,
                  "message '%s' does not start with '%s'", errbuf, prefix);
    ck_assert_msg(strstr(errbuf, words) != NULL,
                  "message '%s' lacks '%s'", errbuf, words);
    ck_assert_ptr_null(strchr(errbuf, '\n'));
    free(text);
}

#define TWO_NODES NODE("a", "use1-az1", "replica") NODE("b", "use1-az1", "replica")
#define THREE_NODES TWO_NODES NODE("c", "use1-az1", "replica")

/* ===== weighted_latency ===== */

/* A node without samples costs initial_rtt_ms. */
START_TEST(wl_prior_for_unsampled_nodes)
{
    azr_ctx *ctx = open_ini("weighted_latency", TWO_NODES
                            "[policy weighted_latency]\ninitial_rtt_ms = 1\n",
                            NULL);
    sample(ctx, 0, 2.0);          /* a: 2 ms, b: no sample (1 ms) */
    script_set(4, 0ull, 0ull, 1ull, 0ull);
    ck_assert_uint_eq(pick_released(ctx), 1); /* (a, b): b cheaper */
    ck_assert_uint_eq(pick_released(ctx), 1); /* (b, a): b cheaper */
    sample(ctx, 1, 2.5);          /* b's first sample replaces the prior */
    script_set(2, 0ull, 0ull);
    ck_assert_uint_eq(pick_released(ctx), 0);
    azr_close(ctx);

    /* A prior above the measured node sends traffic to the measured one;
     * decimals are accepted. */
    ctx = open_ini("weighted_latency", TWO_NODES
                   "[policy weighted_latency]\ninitial_rtt_ms = 2.5\n", NULL);
    sample(ctx, 0, 2.0);
    script_set(4, 0ull, 0ull, 1ull, 0ull);
    ck_assert_uint_eq(pick_released(ctx), 0);
    ck_assert_uint_eq(pick_released(ctx), 0);
    azr_close(ctx);

    /* The prior decays like a sample taken at open, so an unsampled node
     * is not starved by faster ones: 1 ms / e after one decay_ms. */
    static const struct { double a_ms; size_t expect; } cases[] = {
        { 0.360, 0 }, { 0.376, 1 }
    };
    for (int i = 0; i < 2; i++) {
        reset_sources();
        ctx = open_ini("weighted_latency", TWO_NODES
                       "[policy weighted_latency]\ndecay_ms = 1000\n", NULL);
        now_ns += 1000 * MS;
        sample(ctx, 0, cases[i].a_ms);
        ck_assert_uint_eq(pick_released(ctx), cases[i].expect);
        azr_close(ctx);
    }
}
END_TEST

/* A sample above the estimate replaces it at once, whatever dt (within
 * max_jump, default 4x). */
START_TEST(wl_peak_jump)
{
    azr_ctx *ctx = open_ini("weighted_latency", TWO_NODES
                            "[policy weighted_latency]\ndecay_ms = 10000\n",
                            NULL);
    sample(ctx, 0, 1.0);
    sample(ctx, 1, 2.0);
    ck_assert_uint_eq(pick_released(ctx), 0);
    sample(ctx, 0, 2.1);          /* same instant: no decay, yet it jumps */
    ck_assert_uint_eq(pick_released(ctx), 1);
    now_ns += 1 * MS;
    sample(ctx, 1, 50.0);
    sample(ctx, 0, 2.1);          /* keeps a at 2.1 (dt = 1 ms of 10 s) */
    ck_assert_uint_eq(pick_released(ctx), 0);
    azr_close(ctx);
}
END_TEST

/* A lower sample pulls the estimate by 1 - exp(-dt/decay_ms): after one
 * time constant, 63.2% of the way. */
static void decay_case(double b_ms, size_t expect)
{
    reset_sources();
    azr_ctx *ctx = open_ini("weighted_latency", TWO_NODES
                            "[policy weighted_latency]\ndecay_ms = 1000\n",
                            NULL);
    sample(ctx, 0, 10.0);         /* t = 1 s */
    now_ns += 1000 * MS;          /* t = 2 s: one decay_ms later */
    sample(ctx, 0, 1.0);          /* a = 10 - 9 (1 - 1/e) = 4.3109 ms */
    sample(ctx, 1, b_ms);         /* b's first sample: exactly b_ms */
    ck_assert_uint_eq(pick_released(ctx), expect);
    azr_close(ctx);
}

START_TEST(wl_decay_one_time_constant)
{
    decay_case(4.300, 1);         /* b below a's 4.311: b */
    decay_case(4.320, 0);         /* b above: a */
    decay_case(4.306, 1);
    decay_case(4.316, 0);
}
END_TEST

/* One higher sample raises the estimate by at most max_jump times. */
static void jump_case(const char *opts, double spike_ms, double b_ms,
                      size_t expect)
{
    reset_sources();
    char rest[512];
    snprintf(rest, sizeof rest, "%s[policy weighted_latency]\n%s",
             TWO_NODES, opts);
    azr_ctx *ctx = open_ini("weighted_latency", rest, NULL);
    sample(ctx, 0, 1.0);
    sample(ctx, 0, spike_ms);
    sample(ctx, 1, b_ms);
    ck_assert_msg(pick_released(ctx) == expect, "'%s' spike %g b %g",
                  opts, spike_ms, b_ms);
    azr_close(ctx);
}

START_TEST(wl_max_jump)
{
    jump_case("", 100.0, 3.9, 1);            /* 1 -> 4, not 100 */
    jump_case("", 100.0, 4.1, 0);
    jump_case("", 3.0, 2.9, 1);              /* within the bound: 3 */
    jump_case("", 3.0, 3.1, 0);
    jump_case("max_jump = 10\n", 100.0, 9.9, 1);
    jump_case("max_jump = 10\n", 100.0, 10.1, 0);
    jump_case("max_jump = 0\n", 100.0, 99.0, 1); /* textbook peak */
    jump_case("max_jump = 0\n", 100.0, 101.0, 0);

    /* A second slow answer completes the climb: 1 -> 4 -> 10. */
    azr_ctx *ctx = open_ini("weighted_latency", TWO_NODES, NULL);
    sample(ctx, 0, 1.0);
    sample(ctx, 0, 10.0);
    sample(ctx, 0, 10.0);
    sample(ctx, 1, 9.9);
    ck_assert_uint_eq(pick_released(ctx), 1);
    azr_close(ctx);
}
END_TEST

/* With min_pull = 0 the pull is purely time-based. */
START_TEST(wl_decay_needs_time)
{
    /* Two samples at the same instant: the lower one moves nothing. */
    azr_ctx *ctx = open_ini("weighted_latency", TWO_NODES
                            "[policy weighted_latency]\ndecay_ms = 1000\n"
                            "min_pull = 0\n", NULL);
    sample(ctx, 0, 10.0);
    sample(ctx, 0, 1.0);
    sample(ctx, 1, 9.99);
    ck_assert_uint_eq(pick_released(ctx), 1);
    azr_close(ctx);

    /* Half a time constant: 10 - 9 (1 - e^-0.5) = 6.459 ms. */
    static const struct { double b_ms; size_t expect; } cases[] = {
        { 6.40, 1 }, { 6.52, 0 }
    };
    for (int i = 0; i < 2; i++) {
        reset_sources();
        ctx = open_ini("weighted_latency", TWO_NODES
                       "[policy weighted_latency]\ndecay_ms = 1000\n"
                       "min_pull = 0\n", NULL);
        sample(ctx, 0, 10.0);
        now_ns += 500 * MS;
        sample(ctx, 0, 1.0);
        sample(ctx, 1, cases[i].b_ms);
        ck_assert_uint_eq(pick_released(ctx), cases[i].expect);
        azr_close(ctx);
    }
}
END_TEST

/* A lower sample pulls at least min_pull of the way, however little time
 * passed: a spike on a busy node is forgotten after a few answers. */
START_TEST(wl_min_pull)
{
    static const struct { const char *opts; double b_ms; size_t expect; }
        cases[] = {
            /* default 0.05: 10 - 9 x 0.05 = 9.55 */
            { "", 9.50, 1 }, { "", 9.60, 0 },
            /* 0.5: 10 - 9 x 0.5 = 5.5 */
            { "min_pull = 0.5\n", 5.45, 1 }, { "min_pull = 0.5\n", 5.55, 0 },
        };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reset_sources();
        char rest[512];
        snprintf(rest, sizeof rest, "%s[policy weighted_latency]\n"
                 "decay_ms = 10000\n%s", TWO_NODES, cases[i].opts);
        azr_ctx *ctx = open_ini("weighted_latency", rest, NULL);
        sample(ctx, 0, 10.0);
        now_ns += 1000;                    /* 1 us: no time-based pull */
        sample(ctx, 0, 1.0);
        sample(ctx, 1, cases[i].b_ms);
        ck_assert_msg(pick_released(ctx) == cases[i].expect,
                      "case %zu", i);
        azr_close(ctx);
    }

    /* 45 fast answers 0.1 ms apart after a 10x spike bring the estimate
     * back below twice the baseline: 1 + 9 x 0.95^45 = 1.89 ms (the
     * time-based pull alone would leave it near 10 ms). */
    azr_ctx *ctx = open_ini("weighted_latency", TWO_NODES, NULL);
    sample(ctx, 0, 1.0);
    sample(ctx, 1, 2.0);
    sample(ctx, 0, 10.0);
    for (int i = 0; i < 45; i++) {
        now_ns += 100000;                  /* 0.1 ms apart */
        sample(ctx, 0, 1.0);
    }
    sample(ctx, 1, 2.0);
    ck_assert_uint_eq(pick_released(ctx), 0);
    azr_close(ctx);
}
END_TEST

/* A node that is not picked decays toward zero with its idle time, so a
 * node that once peaked is tried again. */
static void idle_case(double b_ms, size_t expect)
{
    reset_sources();
    azr_ctx *ctx = open_ini("weighted_latency", TWO_NODES
                            "[policy weighted_latency]\ndecay_ms = 1000\n",
                            NULL);
    sample(ctx, 0, 3.0);
    now_ns += 1000 * MS;          /* a idle one decay_ms: 3/e = 1.1036 ms */
    sample(ctx, 1, b_ms);         /* b fresh */
    ck_assert_msg(pick_released(ctx) == expect, "b = %g", b_ms);
    azr_close(ctx);
}

START_TEST(wl_idle_node_decays)
{
    idle_case(1.098, 1);
    idle_case(1.109, 0);
    /* Long idle: a node at 3 ms beats a fresh one at 0.5 ms. */
    azr_ctx *ctx = open_ini("weighted_latency", TWO_NODES
                            "[policy weighted_latency]\ndecay_ms = 1000\n",
                            NULL);
    sample(ctx, 0, 3.0);
    sample(ctx, 1, 0.5);
    ck_assert_uint_eq(pick_released(ctx), 1);
    now_ns += 2000 * MS;          /* a: 3 e^-2 = 0.406 ms */
    sample(ctx, 1, 0.5);
    ck_assert_uint_eq(pick_released(ctx), 0);
    azr_close(ctx);
}
END_TEST

/* P2C compares exactly the two candidates the random draws name. */
START_TEST(wl_p2c_follows_random_draws)
{
    azr_ctx *ctx = open_ini("weighted_latency", THREE_NODES, NULL);
    sample(ctx, 0, 1.0);
    sample(ctx, 1, 2.0);
    sample(ctx, 2, 3.0);
    /* pairs: (a,b) (b,c) (c,a) (c,b) (b,a) (a,c) */
    script_set(12, 0ull, 0ull, 1ull, 1ull, 2ull, 0ull, 2ull, 1ull,
               1ull, 0ull, 3ull, 5ull);
    static const size_t expect[] = { 0, 1, 0, 1, 0, 0 };
    for (size_t i = 0; i < 6; i++)
        ck_assert_uint_eq(pick_released(ctx), expect[i]);
    ck_assert_uint_eq(script_pos, 12); /* two draws per pick */
    azr_close(ctx);
}
END_TEST

/* The slowest of three is never chosen by P2C (it always meets a cheaper
 * one), and the other two share the load. */
START_TEST(wl_p2c_avoids_slowest)
{
    azr_ctx *ctx = open_ini("weighted_latency", THREE_NODES, NULL);
    sample(ctx, 0, 1.0);
    sample(ctx, 1, 1.0);
    sample(ctx, 2, 10.0);
    unsigned count[3] = { 0, 0, 0 };
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 3000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t r1 = x;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        script_set(2, r1, x);
        count[pick_released(ctx)]++;
    }
    ck_assert_uint_eq(count[2], 0);
    ck_assert_uint_gt(count[0], 1000);
    ck_assert_uint_gt(count[1], 1000);
    azr_close(ctx);
}
END_TEST

/* cost = estimate x (outstanding + 1) / weight */
START_TEST(wl_weight_scales_cost)
{
    azr_ctx *ctx = open_ini("weighted_latency",
                            NODE("a", "use1-az1", "replica") "weight = 2\n"
                            NODE("b", "use1-az1", "replica"), NULL);
    sample(ctx, 0, 2.0);          /* cost 1.0 */
    sample(ctx, 1, 1.5);          /* cost 1.5 */
    ck_assert_uint_eq(pick_released(ctx), 0);
    azr_close(ctx);

    ctx = open_ini("weighted_latency", TWO_NODES, NULL);
    sample(ctx, 0, 2.0);
    sample(ctx, 1, 1.5);
    ck_assert_uint_eq(pick_released(ctx), 1);
    azr_close(ctx);
}
END_TEST

START_TEST(wl_outstanding_requests)
{
    azr_ctx *ctx = open_ini("weighted_latency", TWO_NODES, NULL);
    sample(ctx, 0, 1.0);
    sample(ctx, 1, 1.5);
    ck_assert_uint_eq(pick_read(ctx), 0);  /* a 1 vs b 1.5 -> a, a out 1 */
    ck_assert_uint_eq(pick_read(ctx), 1);  /* a 2 vs b 1.5 -> b, b out 1 */
    ck_assert_uint_eq(pick_read(ctx), 0);  /* a 2 vs b 3 -> a, a out 2 */
    ck_assert_uint_eq(pick_read(ctx), 0);  /* a 3 vs b 3: a tie keeps the
                                              first drawn (a), a out 3 */
    ck_assert_uint_eq(pick_read(ctx), 1);  /* a 4 vs b 3 -> b */
    azr_close(ctx);
}
END_TEST

/* The outcome of a request ends it: the count goes back down, never below
 * zero. */
START_TEST(wl_outstanding_released_by_outcomes)
{
    azr_ctx *ctx = open_ini("weighted_latency", TWO_NODES, NULL);
    sample(ctx, 0, 1.0);
    sample(ctx, 1, 1.5);
    /* Extra outcomes with nothing outstanding must not make a negative
     * count (which would make a look free). */
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(azr_report(ctx, 0, 0, AZR_STATUS_CANCELLED, 0),
                         AZR_OK);
    ck_assert_uint_eq(pick_read(ctx), 0);  /* a out 1: cost 2 */
    ck_assert_uint_eq(pick_read(ctx), 1);  /* b out 1: cost 3 */
    sample(ctx, 0, 1.0);                   /* a done (same instant) */
    ck_assert_uint_eq(pick_read(ctx), 0);  /* a 1 vs b 3 */
    azr_close(ctx);
}
END_TEST

START_TEST(wl_weighted_mode)
{
    azr_ctx *ctx = open_ini("weighted_latency", TWO_NODES
                            "[policy weighted_latency]\nmode = weighted\n",
                            NULL);
    sample(ctx, 0, 1.0);          /* 1/cost = 1 */
    sample(ctx, 1, 3.0);          /* 1/cost = 1/3: P(a) = 0.75 */
    script_set(5, uniform_bits(0.0), uniform_bits(0.74), uniform_bits(0.76),
               uniform_bits(0.999), uniform_bits(0.5));
    ck_assert_uint_eq(pick_released(ctx), 0);
    ck_assert_uint_eq(pick_released(ctx), 0);
    ck_assert_uint_eq(pick_released(ctx), 1);
    ck_assert_uint_eq(pick_released(ctx), 1);
    ck_assert_uint_eq(pick_released(ctx), 0);
    ck_assert_uint_eq(script_pos, 5); /* one draw per pick */
    azr_close(ctx);
}
END_TEST

START_TEST(wl_single_candidate)
{
    azr_ctx *ctx = open_ini("weighted_latency",
                            NODE("a", "use1-az1", "replica"), NULL);
    for (int i = 0; i < 10; i++)
        ck_assert_uint_eq(pick_released(ctx), 0);
    ck_assert_uint_eq(random_calls, 0);
    azr_close(ctx);
}
END_TEST

START_TEST(wl_option_errors)
{
    assert_option_error("weighted_latency", TWO_NODES
                        "[policy weighted_latency]\ndecay_ms = 100\n"
                        "mode = fastest\n", "mode = fastest", "mode");
    assert_option_error("weighted_latency", TWO_NODES
                        "[policy weighted_latency]\ndecay_ms = 0\n",
                        "decay_ms = 0", "decay_ms");
    assert_option_error("weighted_latency", TWO_NODES
                        "[policy weighted_latency]\ndecay_ms = 10s\n",
                        "decay_ms = 10s", "decay_ms");
    assert_option_error("weighted_latency", TWO_NODES
                        "[policy weighted_latency]\ninitial_rtt_ms = -1\n",
                        "initial_rtt_ms = -1", "initial_rtt_ms");
    assert_option_error("weighted_latency", TWO_NODES
                        "[policy weighted_latency]\nmin_pull = 1.5\n",
                        "min_pull = 1.5", "min_pull");
    assert_option_error("weighted_latency", TWO_NODES
                        "[policy weighted_latency]\nmax_jump = 1.2\n",
                        "max_jump = 1.2", "max_jump");
    assert_option_error("weighted_latency", TWO_NODES
                        "[policy weighted_latency]\ndecay_ms = 100\n"
                        "decay = 5\n", "decay = 5", "unknown key");
}
END_TEST

/* ===== failover ===== */

/* chain "failover": the host takes the first candidate it keeps. */
/* A failure makes the node look failure_factor times slower at once: it
 * is avoided while its peers answer, and tried again once its estimate
 * has decayed below theirs (decay_ms x ln(factor / ratio)). */
START_TEST(wl_failure_counts_against_node)
{
    azr_ctx *ctx = open_ini("weighted_latency", TWO_NODES
                            "[policy weighted_latency]\ndecay_ms = 1000\n",
                            NULL);
    sample(ctx, 0, 1.0);
    sample(ctx, 1, 2.0);
    ck_assert_uint_eq(pick_released(ctx), 0);      /* a is faster */
    fail_n(ctx, 0, 1);                             /* a refused: 4 ms */
    for (int i = 0; i < 50; i++) {
        ck_assert_uint_eq(pick_read(ctx), 1);
        sample(ctx, 1, 2.0);
    }
    now_ns += 500 * MS;                    /* a: 4 x e^-0.5 = 2.4 ms */
    sample(ctx, 1, 2.0);
    ck_assert_uint_eq(pick_released(ctx), 1);
    now_ns += 300 * MS;                    /* a: 4 x e^-0.8 = 1.8 ms */
    sample(ctx, 1, 2.0);
    ck_assert_uint_eq(pick_released(ctx), 0);
    fail_n(ctx, 0, 2);                     /* 1.8 x 4 x 4 = 29 ms */
    now_ns += 2000 * MS;                   /* 29 x e^-2 = 3.9 ms: still out */
    sample(ctx, 1, 2.0);
    ck_assert_uint_eq(pick_released(ctx), 1);
    azr_close(ctx);

    /* failure_factor = 0: failures leave the estimate alone. */
    ctx = open_ini("weighted_latency", TWO_NODES
                   "[policy weighted_latency]\nfailure_factor = 0\n", NULL);
    sample(ctx, 0, 1.0);
    sample(ctx, 1, 2.0);
    fail_n(ctx, 0, 3);
    ck_assert_uint_eq(pick_released(ctx), 0);
    azr_close(ctx);
    assert_option_error("weighted_latency", TWO_NODES
                        "[policy weighted_latency]\nfailure_factor = 1.2\n",
                        "failure_factor = 1.2", "failure_factor");
}
END_TEST

#define FO_OPTS(extra) "[policy failover]\nconsecutive_failures = 3\n" \
    "base_ejection_ms = 1000\n" extra

START_TEST(fo_eject_after_consecutive_failures)
{
    azr_ctx *ctx = open_ini("failover", THREE_NODES FO_OPTS(""), NULL);
    fail_n(ctx, 0, 2);
    ck_assert_uint_eq(pick_read(ctx), 0);
    sample(ctx, 0, 1.0);                   /* a success resets the count */
    fail_n(ctx, 0, 2);
    ck_assert_uint_eq(pick_read(ctx), 0);
    ck_assert_int_eq(azr_report(ctx, 0, 1, AZR_STATUS_ERROR_REPLY, 0),
                     AZR_OK);              /* an error reply is an answer */
    fail_n(ctx, 0, 2);
    ck_assert_uint_eq(pick_read(ctx), 0);
    ck_assert_int_eq(azr_report(ctx, 0, 0, AZR_STATUS_TIMEOUT, 0), AZR_OK);
    ck_assert_uint_eq(pick_read(ctx), 1);  /* third in a row: ejected */
    azr_close(ctx);

    /* Every failure status counts; the default threshold is 5. */
    ctx = open_ini("failover", THREE_NODES, NULL);
    static const azr_status failures[] = {
        AZR_STATUS_TIMEOUT, AZR_STATUS_REFUSED, AZR_STATUS_TLS_FAILURE,
        AZR_STATUS_IO_ERROR
    };
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(azr_report(ctx, 0, 0, failures[i], 0), AZR_OK);
    ck_assert_uint_eq(pick_read(ctx), 0);
    fail_n(ctx, 0, 1);
    ck_assert_uint_eq(pick_read(ctx), 1);
    azr_close(ctx);
}
END_TEST

/* base x times ejected, capped; a success after the time readmits. */
START_TEST(fo_ejection_durations_grow_and_cap)
{
    azr_ctx *ctx = open_ini("failover", THREE_NODES
                            FO_OPTS("max_ejection_ms = 3500\n"), NULL);
    uint64_t t0 = now_ns;
    fail_n(ctx, 0, 3);                       /* 1st: 1000 ms */
    uint64_t until = t0 + 1000 * MS;
    static const uint64_t next_ms[] = { 2000, 3000, 3500, 3500 };
    for (int k = 0; k < 4; k++) {
        now_ns = until - 1;
        ck_assert_uint_eq(pick_read(ctx), 1);
        now_ns = until;
        ck_assert_uint_eq(pick_read(ctx), 0); /* half-open: the trial */
        fail_n(ctx, 0, 1);                       /* trial fails: re-ejected */
        ck_assert_uint_eq(pick_read(ctx), 1);
        until = now_ns + next_ms[k] * MS;
    }
    now_ns = until - 1;
    ck_assert_uint_eq(pick_read(ctx), 1);
    now_ns = until;
    ck_assert_uint_eq(pick_read(ctx), 0);
    sample(ctx, 0, 1.0);                   /* trial succeeds: readmitted */
    for (int i = 0; i < 5; i++)
        ck_assert_uint_eq(pick_read(ctx), 0);
    fail_n(ctx, 0, 2);                       /* count starts over */
    ck_assert_uint_eq(pick_read(ctx), 0);
    azr_close(ctx);
}
END_TEST

/* The multiplier decays by one per base_ejection_ms spent healthy. */
START_TEST(fo_multiplier_decays_while_healthy)
{
    const char *rest = THREE_NODES FO_OPTS("max_ejection_ms = 10000\n");
    for (int healthy_s = 0; healthy_s <= 2; healthy_s += 2) {
        reset_sources();
        azr_ctx *ctx = open_ini("failover", rest, NULL);
        fail_n(ctx, 0, 3);                   /* times 1: until 2 s */
        now_ns = 2 * SEC;
        ck_assert_uint_eq(pick_read(ctx), 0);
        fail_n(ctx, 0, 1);                   /* times 2: until 4 s */
        now_ns = 4 * SEC;
        ck_assert_uint_eq(pick_read(ctx), 0);
        sample(ctx, 0, 1.0);               /* readmitted at 4 s */
        now_ns += (uint64_t)healthy_s * SEC;
        uint64_t t = now_ns;
        fail_n(ctx, 0, 3);
        /* right away: times 3 (3 s); after 2 s healthy: times 1 (1 s) */
        uint64_t dur = healthy_s == 0 ? 3 * SEC : 1 * SEC;
        now_ns = t + dur - 1;
        ck_assert_uint_eq(pick_read(ctx), 1);
        now_ns = t + dur;
        ck_assert_uint_eq(pick_read(ctx), 0);
        azr_close(ctx);
    }
}
END_TEST

/* One trial at a time; the claim lapses after trial_timeout_ms. */
START_TEST(fo_half_open_single_trial)
{
    azr_ctx *ctx = open_ini("failover", THREE_NODES
                            FO_OPTS("trial_timeout_ms = 200\n"), NULL);
    fail_n(ctx, 0, 3);
    now_ns += 1000 * MS;
    ck_assert_uint_eq(pick_read(ctx), 0);  /* this pick holds the trial */
    ck_assert_uint_eq(pick_read(ctx), 1);  /* no second trial meanwhile */
    now_ns += 199 * MS;
    ck_assert_uint_eq(pick_read(ctx), 1);
    now_ns += 1 * MS;                      /* claim lapsed: offered again */
    ck_assert_uint_eq(pick_read(ctx), 0);
    ck_assert_uint_eq(pick_read(ctx), 1);
    sample(ctx, 0, 1.0);                   /* trial succeeds */
    ck_assert_uint_eq(pick_read(ctx), 0);
    ck_assert_uint_eq(pick_read(ctx), 0);
    azr_close(ctx);
}
END_TEST

/* Outcomes of requests still in flight when a node was ejected do not
 * readmit it early. */
START_TEST(fo_stragglers_ignored)
{
    azr_ctx *ctx = open_ini("failover", THREE_NODES FO_OPTS(""), NULL);
    fail_n(ctx, 0, 3);
    now_ns += 500 * MS;
    sample(ctx, 0, 1.0);
    ck_assert_uint_eq(pick_read(ctx), 1);
    now_ns += 499 * MS;
    ck_assert_uint_eq(pick_read(ctx), 1);
    azr_close(ctx);
}
END_TEST

/* A claimed trial is the pick's: a latency policy after failover cannot
 * send the request elsewhere (and starve the node of its trial). */
START_TEST(fo_trial_beats_latency_policy)
{
    azr_ctx *ctx = open_ini("failover, weighted_latency", TWO_NODES
                            FO_OPTS(""), NULL);
    sample(ctx, 0, 1.0);
    sample(ctx, 1, 2.0);
    fail_n(ctx, 0, 3);                       /* a ejected, penalised */
    for (int i = 0; i < 5; i++) {
        ck_assert_uint_eq(pick_read(ctx), 1);
        sample(ctx, 1, 2.0);
    }
    now_ns += 1000 * MS;                   /* a half-open */
    ck_assert_uint_eq(pick_read(ctx), 0);  /* the trial, despite its cost */
    sample(ctx, 0, 1.0);                   /* readmitted */
    ck_assert_uint_eq(pick_read(ctx), 1);  /* its estimate decays first */
    azr_close(ctx);
}
END_TEST

/* The statistics snapshot carries failover's ejections and weighted
 * latency's estimate (the policies' describe operation). */
START_TEST(fo_stats_describe)
{
    azr_ctx *ctx = open_ini("failover, weighted_latency", TWO_NODES
                            FO_OPTS(""), NULL);
    sample(ctx, 1, 2.0);
    fail_n(ctx, 0, 3);                       /* a ejected once */
    azr_stats *st = NULL;
    ck_assert_int_eq(azr_stats_get(ctx, &st), AZR_OK);
    ck_assert_uint_eq(st->n_nodes, 2);
    ck_assert_uint_eq(st->nodes[0].ejections, 1);
    ck_assert_int_eq(st->nodes[0].ejected, 1);
    ck_assert_uint_eq(st->nodes[1].ejections, 0);
    ck_assert_int_eq(st->nodes[1].ejected, 0);
    ck_assert(st->nodes[1].latency_ns > 1.9e6 && st->nodes[1].latency_ns < 2.1e6);
    ck_assert_uint_eq(st->nodes[0].by_status[AZR_STATUS_REFUSED], 3);
    ck_assert_uint_eq(st->requests, 4);
    ck_assert_uint_eq(st->answered, 1);
    azr_stats_free(st);
    azr_close(ctx);
}
END_TEST

START_TEST(fo_max_ejection_percent)
{
    /* 4 nodes at 50%: two may be out at once. */
    azr_ctx *ctx = open_ini("failover", THREE_NODES
                            NODE("d", "use1-az1", "replica")
                            FO_OPTS("max_ejection_percent = 50\n"), NULL);
    fail_n(ctx, 0, 3);
    fail_n(ctx, 1, 3);
    ck_assert_uint_eq(pick_read(ctx), 2);
    fail_n(ctx, 2, 3);                       /* cap reached: c stays */
    ck_assert_uint_eq(pick_read(ctx), 2);
    now_ns += 1000 * MS;                   /* a half-open, trial succeeds */
    ck_assert_uint_eq(pick_read(ctx), 0);
    sample(ctx, 0, 1.0);
    fail_n(ctx, 2, 1);                       /* room again: c goes now */
    ck_assert_uint_eq(pick_read(ctx), 1);  /* b half-open: its trial */
    fail_n(ctx, 0, 3);                       /* a would be the third: stays */
    ck_assert_uint_eq(pick_read(ctx), 0);
    azr_close(ctx);
}
END_TEST

START_TEST(fo_always_allow_one)
{
    /* 3 nodes at 10% is 0.3 nodes: one may still be ejected, not two. */
    static const char *pcts[] = { "max_ejection_percent = 10\n",
                                  "max_ejection_percent = 0\n" };
    for (int i = 0; i < 2; i++) {
        char rest[1024];
        snprintf(rest, sizeof rest, "%s[policy failover]\n"
                 "consecutive_failures = 3\n%s", THREE_NODES, pcts[i]);
        azr_ctx *ctx = open_ini("failover", rest, NULL);
        fail_n(ctx, 0, 3);
        ck_assert_uint_eq(pick_read(ctx), 1);
        fail_n(ctx, 1, 10);
        ck_assert_uint_eq(pick_read(ctx), 1);
        azr_close(ctx);
    }
}
END_TEST

/* All candidates ejected: route to all of them (panic), not to none. */
START_TEST(fo_panic_routes_to_all)
{
    /* failover, same_az: with no AZ known same_az rotates over what it
     * gets, so the picks show that failover returned both nodes. */
    azr_ctx *ctx = open_ini("failover, same_az", TWO_NODES
                            FO_OPTS("max_ejection_percent = 100\n"), NULL);
    fail_n(ctx, 0, 3);
    fail_n(ctx, 1, 3);
    unsigned count[2] = { 0, 0 };
    for (int i = 0; i < 10; i++)
        count[pick_read(ctx)]++;
    ck_assert_uint_eq(count[0], 5);
    ck_assert_uint_eq(count[1], 5);
    azr_close(ctx);

    /* A write whose only primary is ejected still goes to it, although
     * a replica is healthy: failover never makes a write fail itself. */
    ctx = open_ini("failover, same_az",
                   NODE("p", "use1-az1", "primary")
                   NODE("r", "use1-az1", "replica") FO_OPTS(""), "use1-az1");
    fail_n(ctx, 0, 3);
    ck_assert_uint_eq(pick(ctx, AZR_INTENT_WRITE), 0);
    ck_assert_uint_eq(pick(ctx, AZR_INTENT_READ), 1);
    azr_close(ctx);
}
END_TEST

START_TEST(fo_priority_tiers)
{
    const char *rest =
        NODE("a", "use1-az1", "replica") "priority = 0\n"
        NODE("b", "use1-az1", "replica") "priority = 0\n"
        NODE("c", "use1-az1", "replica") "priority = 1\n"
        NODE("d", "use1-az1", "replica") "priority = 2\n"
        FO_OPTS("max_ejection_percent = 100\n");
    /* Only tier 0 is used while it has a node. */
    azr_ctx *ctx = open_ini("failover, same_az", rest, NULL);
    for (int i = 0; i < 20; i++)
        ck_assert_uint_lt(pick_read(ctx), 2);
    fail_n(ctx, 0, 3);
    for (int i = 0; i < 5; i++)
        ck_assert_uint_eq(pick_read(ctx), 1);
    fail_n(ctx, 1, 3);                       /* tier 0 empty: tier 1 */
    for (int i = 0; i < 5; i++)
        ck_assert_uint_eq(pick_read(ctx), 2);
    fail_n(ctx, 2, 3);                       /* then tier 2 */
    ck_assert_uint_eq(pick_read(ctx), 3);
    now_ns += 1000 * MS;                   /* a, b, c half-open */
    ck_assert_uint_lt(pick_read(ctx), 2);  /* tier 0 is back in play */
    azr_close(ctx);

    /* A write considers the tiers of primaries only. */
    ctx = open_ini("failover, same_az",
                   NODE("r", "use1-az1", "replica") "priority = 0\n"
                   NODE("p", "use1-az1", "primary") "priority = 1\n", NULL);
    ck_assert_uint_eq(pick(ctx, AZR_INTENT_WRITE), 1);
    ck_assert_uint_eq(pick(ctx, AZR_INTENT_READ), 0);
    azr_close(ctx);
}
END_TEST

START_TEST(fo_option_errors)
{
    assert_option_error("failover", TWO_NODES
                        "[policy failover]\nconsecutive_failures = 0\n",
                        "consecutive_failures = 0", "consecutive_failures");
    assert_option_error("failover", TWO_NODES
                        "[policy failover]\nmax_ejection_percent = 101\n",
                        "max_ejection_percent = 101", "max_ejection_percent");
    assert_option_error("failover", TWO_NODES
                        "[policy failover]\nbase_ejection_ms = 5000\n"
                        "max_ejection_ms = 4000\n",
                        "max_ejection_ms = 4000", "below base_ejection_ms");
    assert_option_error("failover", TWO_NODES
                        "[policy failover]\nbase_ejection_ms = -5\n",
                        "base_ejection_ms = -5", "base_ejection_ms");
}
END_TEST

/* ===== the full chain ===== */

START_TEST(chain_failover_same_az_weighted_latency)
{
    azr_ctx *ctx = open_ini("failover, same_az, weighted_latency",
                            NODE("a", "use1-az1", "replica")
                            NODE("b", "use1-az1", "replica")
                            NODE("c", "use1-az2", "replica")
                            NODE("p", "use1-az2", "primary")
                            FO_OPTS(""), "use1-az1");
    sample(ctx, 0, 0.5);
    sample(ctx, 1, 0.6);
    sample(ctx, 2, 0.1);                   /* fast, but in another AZ */
    for (int i = 0; i < 5; i++) {
        size_t n = pick_read(ctx);
        ck_assert_uint_lt(n, 2);
        sample(ctx, n, n == 0 ? 0.5 : 0.6);
    }
    fail_n(ctx, 0, 3);
    fail_n(ctx, 1, 3);                       /* same AZ all out: c */
    ck_assert_uint_eq(pick_read(ctx), 2);
    ck_assert_uint_eq(pick(ctx, AZR_INTENT_WRITE), 3);
    now_ns += 1000 * MS;                   /* half-open: back to same AZ */
    size_t n = pick_read(ctx);
    ck_assert_uint_lt(n, 2);
    sample(ctx, n, 0.5);
    size_t other = 1 - n;                  /* the other one's trial: a pick
                                              that claims it goes there */
    ck_assert_uint_eq(pick_read(ctx), other);
    ck_assert_uint_eq(pick_read(ctx), n);  /* readmitted; the other's trial
                                              claim still pending */
    azr_close(ctx);
}
END_TEST

/* ===== spill-over (same_az) ===== */

#define SPILL_NODES NODE("a", "use1-az1", "replica") \
    NODE("b", "use1-az2", "replica")

static azr_ctx *open_spill(const char *opts)
{
    char rest[1024];
    snprintf(rest, sizeof rest, "%s[policy same_az]\n%s", SPILL_NODES, opts);
    return open_ini("same_az, weighted_latency", rest, "use1-az1");
}

static void spill_case(const char *opts, double a_ms, double b_ms,
                       size_t expect)
{
    reset_sources();
    azr_ctx *ctx = open_spill(opts);
    if (a_ms > 0)
        sample(ctx, 0, a_ms);
    if (b_ms > 0)
        sample(ctx, 1, b_ms);
    ck_assert_msg(pick_released(ctx) == expect,
                  "spill '%s' a=%g b=%g: expected %zu", opts, a_ms, b_ms,
                  expect);
    azr_close(ctx);
}

START_TEST(spill_thresholds)
{
    /* Off by default: the same AZ wins however slow. */
    spill_case("", 30.0, 1.0, 0);
    /* R = 2: widened only when a > 2 x b. */
    spill_case("spill_latency_ratio = 2\n", 3.0, 1.0, 1);
    spill_case("spill_latency_ratio = 2\n", 2.0, 1.0, 0);
    spill_case("spill_latency_ratio = 2\n", 2.1, 1.0, 1);
    spill_case("spill_latency_ratio = 4\n", 3.0, 1.0, 0);
    spill_case("spill_latency_ratio = 1.5\n", 1.6, 1.0, 1);
    /* An unsampled other node counts at spill_initial_rtt_ms (1 ms). */
    spill_case("spill_latency_ratio = 2\n", 2.5, 0, 1);
    spill_case("spill_latency_ratio = 2\nspill_initial_rtt_ms = 2\n",
               2.5, 0, 0);
}
END_TEST

/* same_az's estimate is a plain time-weighted average, not a peak. */
START_TEST(spill_estimate_smooths)
{
    static const struct { const char *ratio; size_t expect; } cases[] = {
        { "spill_latency_ratio = 3.4\n", 1 },  /* 3.53 > 3.4: widen */
        { "spill_latency_ratio = 3.6\n", 0 },  /* 3.53 < 3.6 */
    };
    for (int i = 0; i < 2; i++) {
        reset_sources();
        char opts[256];
        snprintf(opts, sizeof opts, "%sspill_decay_ms = 1000\n",
                 cases[i].ratio);
        azr_ctx *ctx = open_spill(opts);
        sample(ctx, 0, 1.0);
        now_ns += 1000 * MS;
        sample(ctx, 0, 5.0);               /* 1 + 4 (1 - 1/e) = 3.53 ms */
        sample(ctx, 1, 1.0);
        ck_assert_uint_eq(pick_released(ctx), cases[i].expect);
        azr_close(ctx);
    }
}
END_TEST

START_TEST(spill_option_errors)
{
    char rest[1024];
    snprintf(rest, sizeof rest, "%s[policy same_az]\n"
             "spill_latency_ratio = 0.5\n", SPILL_NODES);
    assert_option_error("same_az", rest, "spill_latency_ratio = 0.5",
                        "spill_latency_ratio");
    snprintf(rest, sizeof rest, "%s[policy same_az]\n"
             "spill_decay_ms = 100\n", SPILL_NODES);
    assert_option_error("same_az", rest, "spill_decay_ms = 100",
                        "spill_latency_ratio");
}
END_TEST

static Suite *policies_suite(void)
{
    Suite *s = suite_create("policies");
    TCase *wl = tcase_create("weighted_latency");
    tcase_add_checked_fixture(wl, reset_sources, NULL);
    tcase_add_test(wl, wl_prior_for_unsampled_nodes);
    tcase_add_test(wl, wl_peak_jump);
    tcase_add_test(wl, wl_decay_one_time_constant);
    tcase_add_test(wl, wl_decay_needs_time);
    tcase_add_test(wl, wl_min_pull);
    tcase_add_test(wl, wl_max_jump);
    tcase_add_test(wl, wl_idle_node_decays);
    tcase_add_test(wl, wl_p2c_follows_random_draws);
    tcase_add_test(wl, wl_p2c_avoids_slowest);
    tcase_add_test(wl, wl_weight_scales_cost);
    tcase_add_test(wl, wl_outstanding_requests);
    tcase_add_test(wl, wl_outstanding_released_by_outcomes);
    tcase_add_test(wl, wl_weighted_mode);
    tcase_add_test(wl, wl_single_candidate);
    tcase_add_test(wl, wl_failure_counts_against_node);
    tcase_add_test(wl, wl_option_errors);
    suite_add_tcase(s, wl);

    TCase *fo = tcase_create("failover");
    tcase_add_checked_fixture(fo, reset_sources, NULL);
    tcase_add_test(fo, fo_eject_after_consecutive_failures);
    tcase_add_test(fo, fo_ejection_durations_grow_and_cap);
    tcase_add_test(fo, fo_multiplier_decays_while_healthy);
    tcase_add_test(fo, fo_half_open_single_trial);
    tcase_add_test(fo, fo_trial_beats_latency_policy);
    tcase_add_test(fo, fo_stats_describe);
    tcase_add_test(fo, fo_stragglers_ignored);
    tcase_add_test(fo, fo_max_ejection_percent);
    tcase_add_test(fo, fo_always_allow_one);
    tcase_add_test(fo, fo_panic_routes_to_all);
    tcase_add_test(fo, fo_priority_tiers);
    tcase_add_test(fo, fo_option_errors);
    suite_add_tcase(s, fo);

    TCase *ch = tcase_create("chain");
    tcase_add_checked_fixture(ch, reset_sources, NULL);
    tcase_add_test(ch, chain_failover_same_az_weighted_latency);
    suite_add_tcase(s, ch);

    TCase *sp = tcase_create("spill");
    tcase_add_checked_fixture(sp, reset_sources, NULL);
    tcase_add_test(sp, spill_thresholds);
    tcase_add_test(sp, spill_estimate_smooths);
    tcase_add_test(sp, spill_option_errors);
    suite_add_tcase(s, sp);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(policies_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
