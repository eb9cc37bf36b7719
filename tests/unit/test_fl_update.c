/*
 * test_fl_update.c: the server update of fl.c on exact fixed-point sums.
 *
 * docs/algorithm.md, "Phase 2": with s_t = 1, equal theta_t and alpha = 1 the dual-criterion update
 * must reduce exactly to unweighted FedAvg. Here both are computed from the same
 * random client updates and compared bit for bit, in several client orders.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "fedalign/aggregate.h"
#include "fedalign/fl.h"
#include "fedalign/rng.h"

#define NC 37   /* clients */
#define P 1001  /* parameters */

static void make_deltas(float *d, float *base) {
    Rng r;
    rng_init(&r, 7, FA_RNG_TEST, 0, 0, 0);
    for (size_t i = 0; i < (size_t)NC * P; i++) d[i] = (float)(0.05 * rng_normal(&r));
    for (size_t i = 0; i < P; i++) base[i] = (float)rng_normal(&r);
}

static void test_dual_equals_fedavg(void **state) {
    (void)state;
    float *d = malloc(sizeof(float) * NC * P), *base = malloc(sizeof(float) * P);
    float *a = malloc(sizeof(float) * P), *b = malloc(sizeof(float) * P);
    int64_t *s1 = calloc(P, sizeof(int64_t)), *s2 = calloc(P, sizeof(int64_t));
    make_deltas(d, base);
    /* unweighted FedAvg: q = 1 */
    for (size_t t = 0; t < NC; t++) assert_true(fixed_accumulate_q(s1, d + t * P, 1, P));
    fl_apply_update(a, base, s1, NC, 1.0, P);
    /* dual criterion with s = 1 and an equal theta for every client */
    for (double theta = 0.05; theta < 1.0; theta += 0.173) {
        memset(s2, 0, sizeof(int64_t) * P);
        int64_t q = fl_quantize_weight(1.0 * (theta > 0.1 ? theta : 0.1));
        assert_true(q > 1);
        /* reversed client order: the sum must not care */
        for (size_t t = NC; t-- > 0;) assert_true(fixed_accumulate_q(s2, d + t * P, q, P));
        fl_apply_update(b, base, s2, q * NC, 1.0, P);
        assert_memory_equal(a, b, sizeof(float) * P);
    }
    /* and a real weighting differs */
    memset(s2, 0, sizeof(int64_t) * P);
    int64_t den = 0;
    for (size_t t = 0; t < NC; t++) {
        int64_t q = fl_quantize_weight(0.1 + 0.02 * (double)t);
        den += q;
        assert_true(fixed_accumulate_q(s2, d + t * P, q, P));
    }
    fl_apply_update(b, base, s2, den, 1.0, P);
    assert_true(memcmp(a, b, sizeof(float) * P) != 0);
    free(s2), free(s1), free(b), free(a), free(base), free(d);
}

static void test_update_matches_mean(void **state) {
    (void)state;
    float *d = malloc(sizeof(float) * NC * P), *base = malloc(sizeof(float) * P);
    float *a = malloc(sizeof(float) * P);
    int64_t *s = calloc(P, sizeof(int64_t));
    make_deltas(d, base);
    for (size_t t = 0; t < NC; t++) assert_true(fixed_accumulate_q(s, d + t * P, 1, P));
    fl_apply_update(a, base, s, NC, 0.5, P);
    for (size_t i = 0; i < P; i++) {
        double mean = 0;
        for (size_t t = 0; t < NC; t++) mean += d[t * P + i];
        mean /= NC;
        double want = base[i] + 0.5 * mean;
        assert_true(fabs((double)a[i] - want) <= 1e-6 * (1.0 + fabs(want)));
    }
    free(s), free(a), free(base), free(d);
}

static void test_quantize_weight(void **state) {
    (void)state;
    assert_int_equal(fl_quantize_weight(0.0), 0);
    assert_int_equal(fl_quantize_weight(-1.0), 0);
    assert_int_equal(fl_quantize_weight(1.0), 1 << FA_WEIGHT_BITS);
    assert_int_equal(fl_quantize_weight(7.0), 1 << FA_WEIGHT_BITS);
    assert_int_equal(fl_quantize_weight(0.5), 1 << (FA_WEIGHT_BITS - 1));
    assert_int_equal(fl_quantize_weight(nan("")), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dual_equals_fedavg),
        cmocka_unit_test(test_update_matches_mean),
        cmocka_unit_test(test_quantize_weight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
