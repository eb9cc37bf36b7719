/*
 * test_robust.c: unit tests of the rank-0 robust-aggregation rules (robust.h) against
 * direct references: trimmed mean with trim 0 is the exact unweighted mean, the trimmed
 * mean and the median are what sorting each coordinate gives, the median of identical
 * updates is that update, Krum and Multi-Krum pick the honest cluster, FLTrust gives no
 * trust to an update against the root update and rescales to the root norm, and the
 * thread count changes no bit.
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
#include "fedalign/robust.h"
#include "fedalign/round.h"

#define M 9   /* updates */
#define P 257 /* parameters */

static void fill(RobustBuf *b, size_t m, uint64_t seed) {
    for (size_t i = 0; i < m; i++) {
        Rng r;
        rng_init(&r, seed, FA_RNG_TEST, i, 0, 0);
        for (size_t j = 0; j < P; j++) b->U[i * P + j] = (float)(0.1 * rng_normal(&r));
    }
}

/* the aggregate as a double per coordinate: num / den on the fixed grid */
static double agg(const RobustBuf *b, int64_t den, size_t j) {
    return fixed_to_double(b->num[j]) / (double)den;
}

static double fixd(float v) {
    int64_t q;
    assert_true(fixed_from_double((double)v, &q));
    return fixed_to_double(q);
}

static int cmp_f(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* the kept middle [lo, hi) of coordinate j, sorted: the reference mean of fixed values */
static double ref_middle(const RobustBuf *b, size_t m, size_t j, size_t lo, size_t hi) {
    float col[M];
    for (size_t i = 0; i < m; i++) col[i] = b->U[i * P + j];
    qsort(col, m, sizeof *col, cmp_f);
    double s = 0.0;
    for (size_t r = lo; r < hi; r++) s += fixd(col[r]);
    return s / (double)(hi - lo);
}

static void test_trimmed_zero_is_mean(void **state) {
    (void)state;
    RobustBuf b;
    robust_buf_init(&b, FA_ROBUST_TRIMMED, M, P, 2);
    fill(&b, M, 1);
    RobustParams p = {.rule = FA_ROBUST_TRIMMED, .trim_frac = 0.0};
    int64_t den, sum[P];
    assert_true(robust_aggregate(&b, &p, M, NULL, &den));
    memset(sum, 0, sizeof sum);
    for (size_t i = 0; i < M; i++) assert_true(fixed_accumulate_q(sum, b.U + i * P, 1, P));
    assert_int_equal(den, M);
    assert_memory_equal(b.num, sum, sizeof sum); /* the exact sum FedAvg -uniform reduces */
    for (size_t i = 0; i < M; i++) assert_true(fabs(b.weight[i] - 1.0 / M) < 1e-15);
    robust_buf_free(&b);
}

static void test_trimmed_and_median_reference(void **state) {
    (void)state;
    for (size_t m = 1; m <= M; m++) {
        RobustBuf b;
        robust_buf_init(&b, FA_ROBUST_TRIMMED, M, P, 2);
        fill(&b, m, 2 + m);
        RobustParams p = {.rule = FA_ROBUST_TRIMMED, .trim_frac = 0.25};
        int64_t den;
        assert_true(robust_aggregate(&b, &p, m, NULL, &den));
        size_t k = (size_t)floor(0.25 * (double)m);
        if (k > (m - 1) / 2) k = (m - 1) / 2;
        assert_int_equal(den, (int64_t)(m - 2 * k));
        for (size_t j = 0; j < P; j++)
            assert_true(fabs(agg(&b, den, j) - ref_middle(&b, m, j, k, m - k)) < 1e-12);
        p.rule = FA_ROBUST_MEDIAN;
        assert_true(robust_aggregate(&b, &p, m, NULL, &den));
        assert_int_equal(den, m % 2 ? 1 : 2);
        for (size_t j = 0; j < P; j++) /* the exact midpoint of the middle value(s) */
            assert_true(agg(&b, den, j) == ref_middle(&b, m, j, (m - 1) / 2, m / 2 + 1));
        double ws = 0.0;
        for (size_t i = 0; i < m; i++) ws += b.weight[i];
        assert_true(fabs(ws - 1.0) < 1e-12);
        robust_buf_free(&b);
    }
}

static void test_median_identical(void **state) {
    (void)state;
    for (size_t m = 1; m <= 4; m++) {
        RobustBuf b;
        robust_buf_init(&b, FA_ROBUST_MEDIAN, M, P, 1);
        fill(&b, 1, 7);
        for (size_t i = 1; i < m; i++) memcpy(b.U + i * P, b.U, P * sizeof(float));
        RobustParams p = {.rule = FA_ROBUST_MEDIAN};
        int64_t den;
        assert_true(robust_aggregate(&b, &p, m, NULL, &den));
        for (size_t j = 0; j < P; j++) assert_true(agg(&b, den, j) == fixd(b.U[j]));
        /* the server step with rate 1 from 0 is that update on the fixed grid */
        float base[P], out[P];
        memset(base, 0, sizeof base);
        fl_apply_update(out, base, b.num, den, 1.0, P);
        for (size_t j = 0; j < P; j++) assert_true(out[j] == (float)fixd(b.U[j]));
        robust_buf_free(&b);
    }
}

/* 7 honest updates near one direction, 2 Byzantine far away: Krum picks an honest one,
 * Multi-Krum with m = 5 only honest ones, for f = 2 */
static void test_krum_honest_cluster(void **state) {
    (void)state;
    RobustBuf b;
    robust_buf_init(&b, FA_ROBUST_MULTIKRUM, M, P, 2);
    const size_t bad[2] = {2, 6};
    for (size_t i = 0; i < M; i++) {
        Rng r;
        rng_init(&r, 11, FA_RNG_TEST, i, 0, 0);
        const bool byz = i == bad[0] || i == bad[1];
        for (size_t j = 0; j < P; j++)
            b.U[i * P + j] = byz ? (float)(5.0 * rng_normal(&r))
                                 : (float)(1.0 + 0.01 * rng_normal(&r) + (j % 2 ? 0.5 : -0.5));
    }
    RobustParams p = {.rule = FA_ROBUST_KRUM, .krum_f = 2};
    int64_t den;
    assert_true(robust_aggregate(&b, &p, M, NULL, &den));
    assert_int_equal(den, 1);
    size_t chosen = M;
    for (size_t i = 0; i < M; i++)
        if (b.weight[i] > 0.0) chosen = i;
    assert_true(chosen < M && chosen != bad[0] && chosen != bad[1]);
    for (size_t j = 0; j < P; j++) assert_true(agg(&b, den, j) == fixd(b.U[chosen * P + j]));
    p.rule = FA_ROBUST_MULTIKRUM;
    p.krum_m = 5;
    assert_true(robust_aggregate(&b, &p, M, NULL, &den));
    assert_int_equal(den, 5);
    assert_true(b.weight[bad[0]] == 0.0 && b.weight[bad[1]] == 0.0);
    p.krum_m = 0; /* default: m - f = 7, exactly the honest ones */
    assert_true(robust_aggregate(&b, &p, M, NULL, &den));
    assert_int_equal(den, 7);
    for (size_t i = 0; i < M; i++)
        assert_true(b.weight[i] == (i == bad[0] || i == bad[1] ? 0.0 : 1.0 / 7.0));
    robust_buf_free(&b);
}

static void test_fltrust(void **state) {
    (void)state;
    RobustBuf b;
    robust_buf_init(&b, FA_ROBUST_FLTRUST, M, P, 1);
    float g0[P];
    Rng r;
    rng_init(&r, 5, FA_RNG_TEST, 0, 0, 0);
    for (size_t j = 0; j < P; j++) g0[j] = (float)(0.01 * rng_normal(&r));
    for (size_t j = 0; j < P; j++) {
        b.U[0 * P + j] = -g0[j];       /* against the root update: trust 0 */
        b.U[1 * P + j] = 4.0f * g0[j]; /* along it, 4 x longer: trust 1, rescaled */
    }
    RobustParams p = {.rule = FA_ROBUST_FLTRUST};
    int64_t den;
    assert_true(robust_aggregate(&b, &p, 1, g0, &den));
    assert_int_equal(den, 0); /* no trusted update: no step */
    assert_true(b.weight[0] == 0.0 && b.cosv[0] < -0.999999);
    assert_true(robust_aggregate(&b, &p, 2, g0, &den));
    assert_true(b.weight[0] == 0.0 && b.weight[1] == 1.0);
    assert_int_equal(den, 4096); /* cos 1 on the 12-bit weight grid */
    for (size_t j = 0; j < P; j++) assert_true(fabs(agg(&b, den, j) - (double)g0[j]) < 1e-8);
    robust_buf_free(&b);
}

/* the same updates with 1 and 3 threads: the same sums and weights, bit for bit */
static void test_threads(void **state) {
    (void)state;
    const FaRobust rules[] = {FA_ROBUST_MEDIAN, FA_ROBUST_TRIMMED, FA_ROBUST_KRUM,
                              FA_ROBUST_MULTIKRUM};
    for (size_t k = 0; k < sizeof rules / sizeof rules[0]; k++) {
        RobustBuf b1, b3;
        robust_buf_init(&b1, rules[k], M, P, 1);
        robust_buf_init(&b3, rules[k], M, P, 3);
        fill(&b1, M, 9);
        memcpy(b3.U, b1.U, M * P * sizeof(float));
        RobustParams p = {.rule = rules[k], .trim_frac = 0.2, .krum_f = 1};
        int64_t d1, d3;
        assert_true(robust_aggregate(&b1, &p, M, NULL, &d1));
        assert_true(robust_aggregate(&b3, &p, M, NULL, &d3));
        assert_int_equal(d1, d3);
        assert_memory_equal(b1.num, b3.num, P * sizeof(int64_t));
        assert_memory_equal(b1.weight, b3.weight, M * sizeof(double));
        robust_buf_free(&b1);
        robust_buf_free(&b3);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trimmed_zero_is_mean),
        cmocka_unit_test(test_trimmed_and_median_reference),
        cmocka_unit_test(test_median_identical),
        cmocka_unit_test(test_krum_honest_cluster),
        cmocka_unit_test(test_fltrust),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
