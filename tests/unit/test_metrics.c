/*
 * test_metrics.c: per-class recall and macro-F1 (metrics.h) on constructed confusion
 * matrices, including a class with no predictions, a class with no support, a class
 * with neither, and the pooled sum without MPI.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fedalign/metrics.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-12)

/* K = 4, rows = true class, columns = predicted:
 *   class 0: 8 rows, 6 right, 2 predicted as 1
 *   class 1: 4 rows, 2 right, 2 predicted as 0
 *   class 2: 3 rows, never predicted (all as 0): recall 0, F1 0
 *   class 3: no rows and never predicted: left out of the macro average
 * precision 0 = 6/11, recall 0 = 6/8, F1_0 = 12/19; F1_1 = 4/(4+4) = 1/2; F1_2 = 0. */
static void test_known_matrix(void **state) {
    (void)state;
    const int64_t conf[16] = {6, 2, 0, 0, /**/ 2, 2, 0, 0, /**/ 3, 0, 0, 0, /**/ 0, 0, 0, 0};
    double rec[4];
    double f1 = metrics_macro_f1(conf, 4, rec);
    NEAR(rec[0], 0.75);
    NEAR(rec[1], 0.5);
    NEAR(rec[2], 0.0);
    assert_true(isnan(rec[3])); /* no support: undefined */
    NEAR(f1, (12.0 / 19.0 + 0.5 + 0.0) / 3.0); /* class 3 (no rows, no predictions) out */
}

/* a class predicted but absent counts as F1 = 0 (its false positives are errors) */
static void test_predicted_not_present(void **state) {
    (void)state;
    const int64_t conf[9] = {5, 0, 1, /**/ 0, 4, 0, /**/ 0, 0, 0};
    double rec[3];
    double f1 = metrics_macro_f1(conf, 3, rec);
    NEAR(rec[0], 5.0 / 6.0);
    NEAR(rec[1], 1.0);
    assert_true(isnan(rec[2]));
    NEAR(f1, (10.0 / 11.0 + 1.0 + 0.0) / 3.0);
}

static void test_perfect_and_empty(void **state) {
    (void)state;
    const int64_t diag[4] = {3, 0, 0, 7};
    NEAR(metrics_macro_f1(diag, 2, NULL), 1.0);
    const int64_t none[4] = {0, 0, 0, 0};
    double rec[2];
    assert_true(isnan(metrics_macro_f1(none, 2, rec))); /* no test rows at all */
    assert_true(isnan(rec[0]) && isnan(rec[1]));
}

/* per client and pooled: pooling sums counts (macro-F1 of the sum, not a mean of F1s) */
static void test_clients_and_pooled(void **state) {
    (void)state;
    const int64_t conf[8] = {2, 0, 0, 0, /* client 0: only class 0, all right */
                             0, 1, 1, 1}; /* client 1: class 0 always wrong, class 1 half */
    double f1[2], rec[4];
    metrics_clients(conf, 2, 2, f1, rec);
    NEAR(f1[0], 1.0); /* class 1 neither present nor predicted: left out */
    NEAR(rec[0], 1.0);
    assert_true(isnan(rec[1]));
    NEAR(f1[1], (0.0 + 2.0 / 4.0) / 2.0);
    size_t pooled[4];
    double prec[2];
    double pf1 = metrics_pooled(conf, 2, 2, pooled, prec);
    assert_true(pooled[0] == 2 && pooled[1] == 1 && pooled[2] == 1 && pooled[3] == 1);
    NEAR(prec[0], 2.0 / 3.0);
    NEAR(prec[1], 0.5);
    NEAR(pf1, (4.0 / 6.0 + 2.0 / 4.0) / 2.0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_matrix),
        cmocka_unit_test(test_predicted_not_present),
        cmocka_unit_test(test_perfect_and_empty),
        cmocka_unit_test(test_clients_and_pooled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
