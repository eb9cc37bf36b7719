/*
 * test_column_sd.c: dataset_column_sd, the per-feature scale of --perturb's sensor noise
 * on CSV data, against a two-pass sample standard deviation computed here, on rows given
 * in a shuffled order with a gap (only the listed rows count).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>

#include <cmocka.h>

#include "fedalign/data.h"

static void test_matches_two_pass(void **s) {
    (void)s;
    enum { N = 9, D = 3 };
    float x[N * D];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) x[i * D + j] = (float)((i * 7 + j * 3) % 11) * (j + 1.0f) + 100.0f * j;
    const size_t rows[] = {8, 2, 5, 0, 7, 3, 1}; /* rows 4 and 6 left out */
    const size_t n = sizeof rows / sizeof rows[0];
    for (size_t j = 0; j < D; j++) {
        double m = 0.0, ss = 0.0;
        for (size_t i = 0; i < n; i++) m += x[rows[i] * D + j];
        m /= (double)n;
        for (size_t i = 0; i < n; i++) ss += (x[rows[i] * D + j] - m) * (x[rows[i] * D + j] - m);
        const double want = sqrt(ss / (double)(n - 1));
        assert_true(fabs(dataset_column_sd(x, D, j, rows, n) - want) <= 1e-12 * (1.0 + want));
    }
    /* a constant column and a single row have no spread */
    float c[4] = {2.5f, 2.5f, 2.5f, 2.5f};
    const size_t r4[] = {0, 1, 2, 3};
    assert_true(dataset_column_sd(c, 1, 0, r4, 4) == 0.0);
    assert_true(dataset_column_sd(c, 1, 0, r4, 1) == 0.0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_matches_two_pass)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
