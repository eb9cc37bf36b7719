/*
 * test_bench.c: unit tests of the pure helpers behind `fedalign bench` (bench.h).
 *
 * Order statistics (odd and even counts, unsorted input, one value, none), the FLOP
 * count per training sample derived from the layout (hand-computed for the default
 * 6-64-32-6 model: forward 2 (6*64 + 64*32 + 32*6) = 5248, weight gradients 5248,
 * errors back through layers 1 and 2: 2 (64*32 + 32*6) = 4480), the least-squares slope
 * used for bytes per client, and the parser of size lists. No timing is asserted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "fedalign/bench.h"
#include "fedalign/model.h"

static void test_stats(void **state) {
    (void)state;
    BenchStats s;
    double odd[] = {5.0, 1.0, 4.0, 2.0, 3.0};
    bench_stats(odd, 5, &s);
    assert_int_equal(s.n, 5);
    assert_true(s.min == 1.0 && s.median == 3.0 && s.max == 5.0 && s.mean == 3.0);
    for (size_t i = 1; i < 5; i++) assert_true(odd[i - 1] <= odd[i]); /* sorted in place */

    double even[] = {10.0, 2.0, 8.0, 4.0};
    bench_stats(even, 4, &s);
    assert_true(s.min == 2.0 && s.max == 10.0);
    assert_true(s.median == 6.0); /* mean of the middle pair 4 and 8 */
    assert_true(s.mean == 6.0);

    double one[] = {0.25};
    bench_stats(one, 1, &s);
    assert_true(s.min == 0.25 && s.median == 0.25 && s.max == 0.25 && s.mean == 0.25);

    double dup[] = {7.0, 7.0, 1.0, 7.0};
    bench_stats(dup, 4, &s);
    assert_true(s.median == 7.0 && s.min == 1.0);

    bench_stats(NULL, 0, &s);
    assert_int_equal(s.n, 0);
    assert_true(isnan(s.min) && isnan(s.median) && isnan(s.max) && isnan(s.mean));
}

static ModelLayout layout(size_t D, size_t K, size_t nh, const size_t *h) {
    ModelShape sh;
    memset(&sh, 0, sizeof sh);
    sh.n_in = D;
    sh.n_out = K;
    sh.n_hidden = nh;
    for (size_t l = 0; l < nh; l++) sh.hidden[l] = h[l];
    ModelLayout L;
    model_layout(&L, &sh);
    return L;
}

static void test_flops(void **state) {
    (void)state;
    const size_t h[] = {64, 32};
    ModelLayout L = layout(6, 6, 2, h);
    assert_true(bench_flops_forward(&L) == 5248.0);
    assert_true(bench_flops_train_sample(&L) == 14976.0);

    /* no hidden layer: nothing to back-propagate into, so training = 2 x forward */
    ModelLayout L0 = layout(6, 6, 0, NULL);
    assert_true(bench_flops_forward(&L0) == 72.0);
    assert_true(bench_flops_train_sample(&L0) == 144.0);

    /* three hidden layers, general formula: 2F + 2F + 2 sum_{l>=1} fi*fo */
    const size_t h3[] = {16, 8, 4};
    ModelLayout L3 = layout(10, 3, 3, h3);
    double fwd = 2.0 * (10 * 16 + 16 * 8 + 8 * 4 + 4 * 3);
    double back = 2.0 * (16 * 8 + 8 * 4 + 4 * 3);
    assert_true(bench_flops_forward(&L3) == fwd);
    assert_true(bench_flops_train_sample(&L3) == 2.0 * fwd + back);
}

static void test_slope(void **state) {
    (void)state;
    double x[] = {250, 500, 1000, 2000};
    double y[4];
    for (int i = 0; i < 4; i++) y[i] = 3.5e6 + 17000.0 * x[i];
    assert_true(fabs(bench_slope(x, y, 4) - 17000.0) < 1e-6);
    /* noise around the line averages out; a constant series has slope 0 */
    double yn[] = {10.0, 12.0, 14.0, 16.0}, xn[] = {0.0, 1.0, 2.0, 3.0};
    assert_true(fabs(bench_slope(xn, yn, 4) - 2.0) < 1e-12);
    double yc[] = {5.0, 5.0, 5.0};
    assert_true(bench_slope(xn, yc, 3) == 0.0);
    assert_true(isnan(bench_slope(x, y, 1)));
    double xs[] = {2.0, 2.0, 2.0};
    assert_true(isnan(bench_slope(xs, yc, 3)));
}

static void test_parse_sizes(void **state) {
    (void)state;
    size_t v[8];
    assert_int_equal(bench_parse_sizes("1,8,32,128", 1000, v, 8), 4);
    assert_true(v[0] == 1 && v[1] == 8 && v[2] == 32 && v[3] == 128);
    assert_int_equal(bench_parse_sizes("1e3,1e7,2.5e3", 100000000, v, 8), 3);
    assert_true(v[0] == 1000 && v[1] == 10000000 && v[2] == 2500);
    assert_int_equal(bench_parse_sizes("42", 42, v, 8), 1);
    assert_true(v[0] == 42);
    /* malformed, out of range or too long: 0 */
    const char *bad[] = {"", "0", "-3", "1.5", "abc", "1,,2", "1,", ",1", "43", "1e9", "8 16", "nan"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (bench_parse_sizes(bad[i], 42, v, 8) != 0) fail_msg("accepted '%s'", bad[i]);
    assert_int_equal(bench_parse_sizes("1,2,3", 42, v, 2), 0);
    assert_int_equal(bench_parse_sizes(NULL, 42, v, 2), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_flops),
        cmocka_unit_test(test_slope),
        cmocka_unit_test(test_parse_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
