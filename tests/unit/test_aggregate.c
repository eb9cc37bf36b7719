/*
 * test_aggregate.c: unit tests of the exact fixed-point sums and vector kernels.
 *
 * The central property: summing the same client vectors in any order or grouping
 * gives the same int64 bits (that is what makes -n 1/2/4 agree). The checksum
 * golden value was recorded once from this implementation and reviewed; it pins the
 * hash so results files stay comparable across versions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/aggregate.h"
#include "fedalign/rng.h"

// K = clients, P = parameters per vector
#define K 37
#define P 1000

static float xs[K][P]; /* client vectors, filled by fill_clients() */

static void fill_clients(void) {
    for (size_t t = 0; t < K; t++) {
        Rng r;
        rng_init(&r, 2025, FA_RNG_TEST, t, 0, 0);
        /* mixed magnitudes, so float sums are order dependent and the test has teeth */
        double scale = pow(10.0, (double)(t % 5) - 2.0);
        for (size_t i = 0; i < P; i++) xs[t][i] = (float)(scale * rng_normal(&r));
    }
}

// ----------------------------------------------------------------------------
// exact sums

static void sum_in_order(int64_t *acc, const size_t *order, size_t k, double w) {
    for (size_t j = 0; j < k; j++) assert_true(fixed_accumulate(acc, xs[order[j]], w, P));
}

static void test_fixed_sum_order_invariant(void **state) {
    (void)state;
    fill_clients();
    size_t fwd[K], rev[K], perm[K];
    for (size_t t = 0; t < K; t++) fwd[t] = perm[t] = t, rev[t] = K - 1 - t;
    Rng r;
    rng_init(&r, 7, FA_RNG_TEST, 0, 1, 0);
    rng_shuffle(&r, perm, K);

    static int64_t a[P], b[P], c[P], g[3][P], d[P];
    memset(a, 0, sizeof a), memset(b, 0, sizeof b), memset(c, 0, sizeof c);
    memset(g, 0, sizeof g), memset(d, 0, sizeof d);
    sum_in_order(a, fwd, K, 0.37);
    sum_in_order(b, rev, K, 0.37);
    sum_in_order(c, perm, K, 0.37);
    /* three uneven "ranks", each summing its block, then the partials combined in a
     * different order, as MPI_Allreduce might */
    size_t cut1 = 5, cut2 = 30;
    sum_in_order(g[0], fwd, cut1, 0.37);
    sum_in_order(g[1], fwd + cut1, cut2 - cut1, 0.37);
    sum_in_order(g[2], fwd + cut2, K - cut2, 0.37);
    for (size_t i = 0; i < P; i++) d[i] = g[2][i] + g[0][i] + g[1][i];

    assert_memory_equal(a, b, sizeof a);
    assert_memory_equal(a, c, sizeof a);
    assert_memory_equal(a, d, sizeof a);

    /* sanity: the sum is the right number, not just a consistent one */
    for (size_t i = 0; i < P; i += 97) {
        double ref = 0.0;
        for (size_t t = 0; t < K; t++) ref += 0.37 * (double)xs[t][i];
        assert_true(fabs(fixed_to_double(a[i]) - ref) <= K * ldexp(1.0, -FA_FIXED_BITS));
    }
}

static void test_fixed_rounding(void **state) {
    (void)state;
    int64_t q;
    double ulp = ldexp(1.0, -FA_FIXED_BITS);
    assert_true(fixed_from_double(1.25, &q));
    assert_int_equal(q, (int64_t)5 << 30);
    assert_true(fixed_to_double(q) == 1.25);
    /* documented rounding: half away from zero */
    assert_true(fixed_from_double(0.5 * ulp, &q));
    assert_int_equal(q, 1);
    assert_true(fixed_from_double(-0.5 * ulp, &q));
    assert_int_equal(q, -1);
    assert_true(fixed_from_double(2.5 * ulp, &q));
    assert_int_equal(q, 3);
    assert_true(fixed_from_double(0.49 * ulp, &q));
    assert_int_equal(q, 0);
    assert_true(fixed_from_double(-0.0, &q));
    assert_int_equal(q, 0);
    assert_true(fixed_from_double(999999.0, &q));
    assert_true(fixed_to_double(q) == 999999.0);
}

static void test_fixed_rejects(void **state) {
    (void)state;
    int64_t q = 42;
    assert_false(fixed_from_double(NAN, &q));
    assert_false(fixed_from_double(INFINITY, &q));
    assert_false(fixed_from_double(-INFINITY, &q));
    assert_false(fixed_from_double(FA_FIXED_LIMIT, &q));
    assert_false(fixed_from_double(-FA_FIXED_LIMIT, &q));
    assert_false(fixed_from_double(1e300, &q));

    int64_t acc[3] = {0, 0, 0};
    float x[3] = {1.0f, 2.0f, 3.0f};
    assert_true(fixed_accumulate(acc, x, 1.0, 3));
    float big[3] = {1.0f, 2.0e6f, 3.0f}; /* one element out of range */
    assert_false(fixed_accumulate(acc, big, 1.0, 3));
    float nan[3] = {1.0f, NAN, 3.0f};
    assert_false(fixed_accumulate(acc, nan, 1.0, 3));
    assert_false(fixed_accumulate(acc, x, NAN, 3));
    assert_false(fixed_accumulate(acc, x, 5.0e5, 3)); /* 3 * 5e5 >= limit */

    /* int64 addition overflow, both directions: detected, not wrapped */
    int64_t hi[1] = {INT64_MAX - 10};
    float one[1] = {1.0f};
    assert_false(fixed_accumulate(hi, one, 1.0, 1));
    int64_t lo[1] = {INT64_MIN + 10};
    float mone[1] = {-1.0f};
    assert_false(fixed_accumulate(lo, mone, 1.0, 1));
    /* just below the edge still works */
    int64_t edge[1] = {INT64_MAX - ((int64_t)1 << 32)};
    assert_true(fixed_accumulate(edge, one, 1.0, 1));
    assert_int_equal(edge[0], INT64_MAX);
}

static void test_apply_update(void **state) {
    (void)state;
    /* three clients with grid-exact contributions: the result is exact */
    float base[4] = {1.0f, -2.0f, 0.0f, 100.0f};
    float d[3][4] = {{0.25f, 1.0f, -0.5f, 3.0f},
                     {0.25f, 2.0f, -0.5f, 3.0f},
                     {0.25f, 3.0f, -0.5f, 6.0f}};
    int64_t acc[4] = {0};
    for (int t = 0; t < 3; t++) assert_true(fixed_accumulate(acc, d[t], 1.0, 4));
    float out[4];
    fixed_apply_update(out, base, acc, 1.0, 3.0, 4);
    assert_true(out[0] == 1.25f);
    assert_true(out[1] == 0.0f);
    assert_true(out[2] == -0.5f);
    assert_true(out[3] == 104.0f);
    fixed_apply_update(out, base, acc, 0.5, 3.0, 4); /* server learning rate */
    assert_true(out[0] == 1.125f);
    assert_true(out[1] == -1.0f);
    assert_true(out[3] == 102.0f);
    /* general values: matches the double formula rounded once to float */
    fill_clients();
    static int64_t a2[P];
    static float o2[P];
    memset(a2, 0, sizeof a2);
    for (size_t t = 0; t < K; t++) assert_true(fixed_accumulate(a2, xs[t], 1.0, P));
    fixed_apply_update(o2, xs[0], a2, 0.8, (double)K, P);
    for (size_t i = 0; i < P; i++) {
        float expect = (float)((double)xs[0][i] + 0.8 * fixed_to_double(a2[i]) / (double)K);
        assert_true(o2[i] == expect);
    }
}

// ----------------------------------------------------------------------------
// vector kernels

static void test_cosine(void **state) {
    (void)state;
    fill_clients();
    static float neg[P], zero[P];
    for (size_t i = 0; i < P; i++) neg[i] = -xs[3][i], zero[i] = 0.0f;
    for (size_t t = 0; t < K; t++) assert_true(vec_cosine(xs[t], xs[t], P) == 1.0);
    assert_true(vec_cosine(xs[3], neg, P) == -1.0);
    assert_true(vec_cosine(xs[3], zero, P) == 0.0);
    assert_true(vec_cosine(zero, zero, P) == 0.0);
    float e1[3] = {1.0f, 0.0f, 0.0f}, e2[3] = {0.0f, 2.0f, 0.0f}, e3[3] = {3.0f, -4.0f, 0.0f};
    assert_true(vec_cosine(e1, e2, 3) == 0.0);
    float o1[4] = {1.0f, 1.0f, 1.0f, 1.0f}, o2[4] = {1.0f, -1.0f, 1.0f, -1.0f};
    assert_true(vec_cosine(o1, o2, 4) == 0.0);
    assert_true(fabs(vec_cosine(e1, e3, 3) - 0.6) < 1e-15);
    /* scale invariance and symmetry */
    static float s[P];
    for (size_t i = 0; i < P; i++) s[i] = 4.0f * xs[5][i];
    assert_true(fabs(vec_cosine(xs[6], s, P) - vec_cosine(xs[6], xs[5], P)) < 1e-14);
    assert_true(vec_cosine(xs[6], xs[5], P) == vec_cosine(xs[5], xs[6], P));
    double c = vec_cosine(xs[1], xs[2], P);
    assert_true(c > -1.0 && c < 1.0);
}

static void test_vec_misc(void **state) {
    (void)state;
    float a[3] = {3.0f, 4.0f, 1.5f}, b[3] = {1.0f, 1.0f, -0.5f}, o[3];
    vec_sub(o, a, b, 3);
    assert_true(o[0] == 2.0f && o[1] == 3.0f && o[2] == 2.0f);
    assert_true(vec_dot(a, b, 3) == 6.25);
    assert_true(vec_norm2(a, 2) == 5.0); /* Euclidean, not squared */
    assert_true(vec_norm2(a, 0) == 0.0);
    assert_true(vec_all_finite(a, 3));
    float bad[3] = {1.0f, INFINITY, 0.0f};
    assert_false(vec_all_finite(bad, 3));
    bad[1] = NAN;
    assert_false(vec_all_finite(bad, 3));
}

// ----------------------------------------------------------------------------
// checksum

static void fixed_vector(float *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = (float)i * 0.25f - 3.0f + 1.0f / (float)(i + 1);
}

static void test_checksum(void **state) {
    (void)state;
    float v[64];
    fixed_vector(v, 64);
    uint64_t h = fa_checksum(v, 64);
    /* golden: recorded once from this implementation and confirmed by an independent
     * NumPy reimplementation of the same hash; a change here breaks the
     * comparability of checksums across versions and must be deliberate */
    assert_int_equal(h, 0x3077baf441e07d7aULL);
    assert_int_equal(fa_checksum(v, 64), h); /* stable across calls */

    float w[64];
    memcpy(w, v, sizeof w);
    w[17] = nextafterf(w[17], INFINITY); /* one ulp */
    assert_int_not_equal(fa_checksum(w, 64), h);
    assert_int_not_equal(fa_checksum(v, 63), h); /* length matters */

    /* bits, not values: -0.0 and 0.0 hash differently */
    float pz[2] = {0.0f, 1.0f}, nz[2] = {-0.0f, 1.0f};
    assert_int_not_equal(fa_checksum(pz, 2), fa_checksum(nz, 2));
    float z1[1] = {0.0f}, z2[2] = {0.0f, 0.0f};
    assert_int_not_equal(fa_checksum(z1, 1), fa_checksum(z2, 2));
}

// ----------------------------------------------------------------------------
// dual-criterion weight

static void test_dual_weight(void **state) {
    (void)state;
    assert_true(fa_dual_weight(1.0, 0.7, 0.1) == 0.7);
    assert_true(fa_dual_weight(0.5, 0.7, 0.1) == 0.35);
    assert_true(fa_dual_weight(0.8, -0.9, 0.1) == 0.8 * 0.1); /* floor keeps a weight */
    assert_true(fa_dual_weight(0.8, 0.05, 0.1) == 0.8 * 0.1);
    assert_true(isnan(fa_dual_weight(1.0, NAN, 0.1)));
}

/* docs/algorithm.md, "Phase 2": with s = 1, equal theta and alpha = 1 the dual-criterion update reduces
 * exactly to unweighted FedAvg. A raw double weight u != 1 does not give that (u * x
 * rounds onto the grid differently from x; see fa_dual_weight in aggregate.c), so we
 * test the two routes that do: (a) u_t normalised by the round's max u, so equal
 * weights become exactly 1.0; (b) u_t quantized to an integer weight q and summed with
 * fixed_accumulate_q, so equal q cancel. Route (b) is exact through fixed_apply_update
 * while q * sum stays below 2^53 (exact int64 -> double); the update-sized vectors
 * here keep it there. */
static void test_dual_weight_reduces_to_mean(void **state) {
    (void)state;
    static float d[K][P]; /* update-sized deltas, |d| ~ 0.05 */
    for (size_t t = 0; t < K; t++) {
        Rng r;
        rng_init(&r, 99, FA_RNG_TEST, t, 0, 0);
        for (size_t i = 0; i < P; i++) d[t][i] = (float)(0.05 * rng_normal(&r));
    }
    static float base[P], fedavg[P], dual[P];
    for (size_t i = 0; i < P; i++) base[i] = 0.5f;

    /* plain fixed-point mean */
    static int64_t s_plain[P];
    memset(s_plain, 0, sizeof s_plain);
    for (size_t t = 0; t < K; t++) assert_true(fixed_accumulate(s_plain, d[t], 1.0, P));
    fixed_apply_update(fedavg, base, s_plain, 1.0, (double)K, P);

    const double thetas[] = {0.7, 0.05, 1.0, 0.123456789};
    for (size_t k = 0; k < sizeof thetas / sizeof thetas[0]; k++) {
        double u[K], umax = 0.0;
        for (size_t t = 0; t < K; t++) {
            u[t] = fa_dual_weight(1.0, thetas[k], 0.1);
            if (u[t] > umax) umax = u[t];
        }
        /* (a) normalised double weights */
        static int64_t s_w[P];
        memset(s_w, 0, sizeof s_w);
        int64_t s_u = 0, q;
        for (size_t t = 0; t < K; t++) {
            double w = u[t] / umax;
            assert_true(w == 1.0);
            assert_true(fixed_accumulate(s_w, d[t], w, P));
            assert_true(fixed_from_double(w, &q));
            s_u += q; /* the denominator is an exact sum too */
        }
        fixed_apply_update(dual, base, s_w, 1.0, fixed_to_double(s_u), P);
        assert_memory_equal(s_w, s_plain, sizeof s_plain);
        assert_memory_equal(dual, fedavg, sizeof fedavg);

        /* (b) integer weights, 2^20 levels */
        static int64_t s_q[P];
        memset(s_q, 0, sizeof s_q);
        int64_t sum_q = 0;
        for (size_t t = 0; t < K; t++) {
            int64_t qt = (int64_t)llround(ldexp(u[t], 20));
            assert_true(fixed_accumulate_q(s_q, d[t], qt, P));
            sum_q += qt;
        }
        fixed_apply_update(dual, base, s_q, 1.0, (double)sum_q, P);
        assert_memory_equal(dual, fedavg, sizeof fedavg);
    }
}

static void test_fixed_accumulate_q(void **state) {
    (void)state;
    fill_clients();
    static int64_t a[P], b[P], c[P];
    memset(a, 0, sizeof a), memset(b, 0, sizeof b), memset(c, 0, sizeof c);
    /* q = 1 is fixed_accumulate with w = 1; q = 3 is three plain additions */
    assert_true(fixed_accumulate_q(a, xs[4], 1, P));
    assert_true(fixed_accumulate(b, xs[4], 1.0, P));
    assert_memory_equal(a, b, sizeof a);
    assert_true(fixed_accumulate_q(c, xs[4], 3, P));
    assert_true(fixed_accumulate(b, xs[4], 1.0, P));
    assert_true(fixed_accumulate(b, xs[4], 1.0, P));
    assert_memory_equal(c, b, sizeof c);
    assert_true(fixed_accumulate_q(c, xs[4], -3, P)); /* negative weights cancel */
    for (size_t i = 0; i < P; i++) assert_int_equal(c[i], 0);

    int64_t acc[1] = {0};
    float bad[1] = {2.0e6f}, nan1[1] = {NAN}, big[1] = {999999.0f}, one[1] = {1.0f};
    assert_false(fixed_accumulate_q(acc, bad, 1, 1));
    assert_false(fixed_accumulate_q(acc, nan1, 1, 1));
    acc[0] = 0;
    assert_false(fixed_accumulate_q(acc, big, (int64_t)1 << 12, 1)); /* q * v overflows */
    acc[0] = INT64_MAX - 5;
    assert_false(fixed_accumulate_q(acc, one, 1, 1)); /* the addition overflows */

    /* fixed_add: per-thread partials combine to the whole, overflow is caught */
    static int64_t g1[P], g2[P], whole[P];
    memset(g1, 0, sizeof g1), memset(g2, 0, sizeof g2), memset(whole, 0, sizeof whole);
    for (size_t t = 0; t < K; t++) {
        assert_true(fixed_accumulate_q(t % 2 ? g1 : g2, xs[t], 2, P));
        assert_true(fixed_accumulate_q(whole, xs[t], 2, P));
    }
    assert_true(fixed_add(g1, g2, P));
    assert_memory_equal(g1, whole, sizeof whole);
    int64_t h[2] = {INT64_MAX, INT64_MIN}, o[2] = {1, 0};
    assert_false(fixed_add(h, o, 2));
    int64_t h2[1] = {INT64_MIN}, o2[1] = {-1};
    assert_false(fixed_add(h2, o2, 1));
}

/* Vectors long enough for the kernels' OpenMP path (ctest runs with 2 threads): the
 * threaded result must equal an element-by-element reference, and a failure in one
 * element must still be reported. */
static void test_large_vectors_threaded(void **state) {
    (void)state;
    const size_t n = (size_t)1 << 18;
    float *x = malloc(n * sizeof *x), *o = malloc(n * sizeof *o);
    int64_t *acc = calloc(n, sizeof *acc);
    assert_non_null(x), assert_non_null(o), assert_non_null(acc);
    Rng r;
    rng_init(&r, 5, FA_RNG_TEST, 0, 0, 0);
    for (size_t i = 0; i < n; i++) x[i] = (float)rng_normal(&r);
    assert_true(fixed_accumulate(acc, x, 0.3, n));
    assert_true(fixed_accumulate_q(acc, x, 5, n));
    for (size_t i = 0; i < n; i++) {
        int64_t a, b;
        assert_true(fixed_from_double(0.3 * (double)x[i], &a));
        assert_true(fixed_from_double((double)x[i], &b));
        if (acc[i] != a + 5 * b) fail_msg("element %zu", i);
    }
    assert_true(fixed_add(acc, acc, n));
    fixed_apply_update(o, x, acc, 1.0, 2.0, n);
    vec_sub(o, o, x, n);
    for (size_t i = 0; i < n; i++)
        if (o[i] != (float)((double)x[i] + fixed_to_double(acc[i]) / 2.0) - x[i])
            fail_msg("update element %zu", i);
    x[n - 3] = NAN; /* in the last thread's share */
    assert_false(fixed_accumulate(acc, x, 1.0, n));
    free(acc), free(o), free(x);
}

/* The fast rounding in fixed_accumulate_q and the fused kernels against the definition,
 * llround(x * 2^32), on exact halves, values next to them, tiny and subnormal values,
 * signed zeros and the ends of the range; one-pass cosine and its parts against three
 * vec_dot calls; the fused first pass against vec_sub + bound check + accumulate. */
static void test_fast_kernels_bit_identical(void **state) {
    (void)state;
    enum { N = 4096 };
    static float x[N], y[N], d[N], d2[N];
    static int64_t a[N], b[N];
    Rng r;
    rng_init(&r, 77, FA_RNG_TEST, 0, 0, 0);
    size_t k = 0;
    const float special[] = {0.0f, -0.0f, 0x1p-33f, -0x1p-33f, 0x1p-32f, 0x3p-33f, -0x3p-33f,
                             0x1p-149f, -0x1p-149f, 0x1p-126f, 999999.94f, -999999.94f,
                             0x1.fffffep-34f, 0x1.000002p-33f, -0x1.000002p-33f};
    for (; k < sizeof special / sizeof special[0]; k++) x[k] = special[k];
    for (; k < N / 2; k++) /* exact halves on the 2^-32 grid and their neighbours */
        x[k] = (float)((double)((int64_t)rng_below(&r, 1u << 20) - (1 << 19)) * 0x1p-32 + 0x1p-33) *
               (k % 3 == 0 ? 1.0f : k % 3 == 1 ? 1.0000001f : 0.9999999f);
    for (; k < N; k++) x[k] = (float)(rng_normal(&r) * pow(10.0, (double)(k % 9) - 6.0));
    for (size_t i = 0; i < N; i++) y[i] = (float)(0.01 * rng_normal(&r));
    for (int64_t q = -3; q <= 2000; q = q < 3 ? q + 1 : q * 8) { /* |q x 2^32| < 2^63 */
        memset(a, 0, sizeof a);
        assert_true(fixed_accumulate_q(a, x, q, N));
        for (size_t i = 0; i < N; i++)
            if (a[i] != q * (int64_t)llround(ldexp((double)x[i], 32)))
                fail_msg("q %lld element %zu (%a)", (long long)q, i, (double)x[i]);
        /* the fused first pass: d = (x + y) - y, the bound, the same sums, |d|^2 */
        for (size_t i = 0; i < N; i++) d2[i] = x[i] + y[i];
        memset(a, 0, sizeof a);
        memset(b, 0, sizeof b);
        double s2 = -1.0;
        assert_int_equal(fixed_delta_accumulate_q(a, d, d2, y, q, 1.0e6f, &s2, N), FA_DELTA_OK);
        vec_sub(d2, d2, y, N);
        assert_memory_equal(d, d2, sizeof d);
        assert_true(fixed_accumulate_q(b, d2, q, N));
        assert_memory_equal(a, b, sizeof a);
        assert_true(s2 == vec_dot(d2, d2, N));
        /* accumulate + next dot product in one loop */
        double dot = 0.0;
        memset(a, 0, sizeof a);
        memset(b, 0, sizeof b);
        assert_true(fixed_accumulate_q_dot(a, d2, q, x, y, &dot, N));
        assert_true(fixed_accumulate_q(b, d2, q, N));
        assert_memory_equal(a, b, sizeof a);
        assert_true(dot == vec_dot(x, y, N));
    }
    /* a rejected update leaves the accumulator exactly as it was */
    for (size_t i = 0; i < N; i++) a[i] = b[i] = (int64_t)i * 12345 - 999;
    memcpy(d2, x, sizeof d2);
    d2[N / 2] = 2.0e4f;
    assert_int_equal(fixed_delta_accumulate_q(a, d, d2, y, 7, 1.0e4f, NULL, N), FA_DELTA_REJECTED);
    assert_memory_equal(a, b, sizeof a);
    d2[N / 2] = NAN;
    assert_int_equal(fixed_delta_accumulate_q(a, d, d2, y, 7, 1.0e4f, NULL, N), FA_DELTA_REJECTED);
    assert_memory_equal(a, b, sizeof a);
    d2[N / 2] = 1.0f;
    a[3] = INT64_MAX;
    assert_int_equal(fixed_delta_accumulate_q(a, d, d2, y, 7, 1.0e4f, NULL, N), FA_DELTA_OVERFLOW);
    /* one-pass cosine == the three serial sums */
    for (size_t n = 0; n <= N; n = n ? n * 4 : 1) {
        double c = vec_cosine(x, y, n);
        double ref = vec_cosine_parts(vec_dot(x, y, n), vec_dot(x, x, n), vec_dot(y, y, n));
        assert_memory_equal(&c, &ref, sizeof c);
    }
    assert_true(vec_cosine(x, x, N) == 1.0);
}

/* vec_delta_dot is vec_sub, the bound check of fl.c and vec_cosine's sums, bit for bit,
 * in place (d == a) too; an element at or beyond the bound or a NaN makes it false */
static void test_delta_dot(void **state) {
    (void)state;
    enum { N = 3001 };
    static float a[N], b[N], r[N], d[N], e[N];
    Rng g;
    rng_init(&g, 78, FA_RNG_TEST, 0, 0, 0);
    for (size_t i = 0; i < N; i++) {
        b[i] = (float)(0.1 * rng_normal(&g));
        a[i] = b[i] + (float)(pow(10.0, (double)(i % 7) - 5.0) * rng_normal(&g));
        r[i] = (float)(0.01 * rng_normal(&g));
    }
    double ab, aa;
    assert_true(vec_delta_dot(d, a, b, r, 1e4f, &ab, &aa, N));
    vec_sub(e, a, b, N);
    assert_memory_equal(d, e, sizeof d);
    double ab2 = vec_dot(e, r, N), aa2 = vec_dot(e, e, N);
    assert_memory_equal(&ab, &ab2, sizeof ab);
    assert_memory_equal(&aa, &aa2, sizeof aa);
    double c1 = vec_cosine_parts(ab, aa, vec_dot(r, r, N)), c2 = vec_cosine(e, r, N);
    assert_memory_equal(&c1, &c2, sizeof c1);
    memcpy(e, a, sizeof e); /* in place */
    assert_true(vec_delta_dot(e, e, b, r, 1e4f, &ab2, &aa2, N));
    assert_memory_equal(d, e, sizeof d);
    assert_memory_equal(&ab, &ab2, sizeof ab);
    a[N / 2] = b[N / 2] + 1e4f; /* |d| >= bound */
    assert_false(vec_delta_dot(d, a, b, r, 1e4f, &ab, &aa, N));
    a[N / 2] = nanf("");
    assert_false(vec_delta_dot(d, a, b, r, 1e4f, &ab, &aa, N));
}

/* The several-vectors-per-sweep kernels of the second pass against their definitions:
 * vec_dot_multi against vec_dot; fixed_accumulate_q_multi against k fixed_accumulate_q
 * calls in order (sums and failure), with and without the |x|^2 that leaves the range
 * test out, with weights that need the checked multiplication, an element beyond the
 * bound, a NaN and an int64 overflow; fixed_mean against its loop and vec_dot. */
static void test_multi_kernels(void **s) {
    (void)s;
    enum { N = 1031 };
    Rng r;
    rng_init(&r, 5, FA_RNG_TEST, 0, 0, 0);
    float *x = malloc(4 * N * sizeof(float)), *y = malloc(N * sizeof(float));
    for (size_t i = 0; i < 4 * N; i++) x[i] = (float)(0.01 * rng_normal(&r));
    for (size_t i = 0; i < N; i++) y[i] = (float)(0.01 * rng_normal(&r));
    const float *xs[4] = {x, x + N, x + 2 * N, x + 3 * N};
    double nn[4];
    for (int j = 0; j < 4; j++) nn[j] = vec_dot(xs[j], xs[j], N);
    int64_t *a = calloc(N, sizeof(int64_t)), *b = calloc(N, sizeof(int64_t));
    const int64_t qsets[3][4] = {{4096, 1, 3001, 77}, {(int64_t)1 << 20, 3, 5, 7}, {0, 2, 2, 9}};
    for (size_t k = 1; k <= 4; k++) {
        double d1[4], d2[4];
        vec_dot_multi(d1, xs, k, y, N);
        for (size_t j = 0; j < k; j++) d2[j] = vec_dot(xs[j], y, N);
        assert_memory_equal(d1, d2, k * sizeof(double));
        for (int qs = 0; qs < 3; qs++)
            for (int withn = 0; withn < 2; withn++) {
                for (size_t i = 0; i < N; i++) a[i] = b[i] = (int64_t)i * 977 - 400000;
                bool ok = true;
                for (size_t j = 0; j < k; j++) ok = fixed_accumulate_q(a, xs[j], qsets[qs][j], N) && ok;
                bool ok2 = fixed_accumulate_q_multi(b, xs, qsets[qs], k, 1e4f, withn ? nn : NULL, N);
                assert_true(ok && ok2);
                assert_memory_equal(a, b, N * sizeof(int64_t));
            }
    }
    /* failures: beyond the bound, NaN, overflow (false, as the single calls) */
    const int64_t q1[4] = {1, 1, 1, 1};
    x[N + 17] = 2.0e4f;
    assert_false(fixed_accumulate_q_multi(b, xs, q1, 4, 1e4f, NULL, N));
    x[N + 17] = nanf("");
    assert_false(fixed_accumulate_q_multi(b, xs, q1, 4, 1e4f, NULL, N));
    x[N + 17] = 0.5f;
    b[3] = INT64_MAX - 1;
    x[2 * N + 3] = 1.0f;
    assert_false(fixed_accumulate_q_multi(b, xs, q1, 3, 1e4f, nn, N));
    b[3] = INT64_MAX - 1;
    x[3] = 1.0f; /* the first vector's addition overflows */
    assert_false(fixed_accumulate_q_multi(b, xs, q1, 1, 1e4f, NULL, N));
    /* fixed_mean: the loop and vec_dot(mean, mean) */
    for (size_t i = 0; i < N; i++) a[i] = (int64_t)((double)x[i] * 0x1p40) * 3;
    float *m = malloc(N * sizeof(float)), *mr = malloc(N * sizeof(float));
    double bb = fixed_mean(m, a, 7, N);
    for (size_t i = 0; i < N; i++) mr[i] = (float)(fixed_to_double(a[i]) / 7.0);
    assert_memory_equal(m, mr, N * sizeof(float));
    double bbr = vec_dot(mr, mr, N);
    assert_memory_equal(&bb, &bbr, sizeof bb);
    assert_true(fixed_mean(m, a, 0, N) == 0.0 && m[5] == 0.0f);
    free(m);
    free(mr);
    free(a);
    free(b);
    free(x);
    free(y);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_kernels_bit_identical),
        cmocka_unit_test(test_delta_dot),
        cmocka_unit_test(test_fixed_sum_order_invariant),
        cmocka_unit_test(test_fixed_rounding),
        cmocka_unit_test(test_fixed_rejects),
        cmocka_unit_test(test_apply_update),
        cmocka_unit_test(test_cosine),
        cmocka_unit_test(test_vec_misc),
        cmocka_unit_test(test_checksum),
        cmocka_unit_test(test_dual_weight),
        cmocka_unit_test(test_dual_weight_reduces_to_mean),
        cmocka_unit_test(test_fixed_accumulate_q),
        cmocka_unit_test(test_large_vectors_threaded),
        cmocka_unit_test(test_multi_kernels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
