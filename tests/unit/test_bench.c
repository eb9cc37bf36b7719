/*
 * test_bench.c: unit tests of the pure helpers behind `fedalign bench` (bench.h).
 *
 * Order statistics (odd and even counts, unsorted input, one value, none), the FLOP
 * count per training sample derived from the layout (hand-computed for the default
 * 6-64-32-6 model: forward 2 (6*64 + 64*32 + 32*6) = 5248, weight gradients 5248,
 * errors back through layers 1 and 2: 2 (64*32 + 32*6) = 4480), the least-squares slope
 * used for bytes per client, the parser of size lists, the option parser's defaults
 * (nothing given, --quick, and explicit values that must win over --quick, since a zero
 * field means "not given"), one message for a bad value of every kind of option (and
 * for --preset after --, refused), and the run configuration of round and memory. No
 * timing is asserted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/bench_internal.h" /* bench_parse_opts: private to src/bench*.c */
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

/* `fedalign bench ARGS...`: argv[0] and argv[1] are "fedalign" "bench" */
static bool parse(BenchOpts *o, int n, const char **args) {
    char *argv[32] = {"fedalign", "bench"};
    for (int i = 0; i < n; i++) argv[2 + i] = (char *)args[i];
    return bench_parse_opts(o, n + 2, argv, 1); /* rank 1: --help would print nothing */
}

static void test_parse_opts(void **state) {
    (void)state;
    BenchOpts o;
    assert_true(parse(&o, 0, NULL));
    for (int b = 0; b < B_COUNT; b++) assert_true(o.run[b]); /* none named: all */
    assert_true(o.reps == 5 && o.warmup == 1 && o.min_time == 0.1 && o.rounds == 3);
    assert_true(o.n_batches == 4 && o.batches[0] == 1 && o.batches[3] == 128);
    assert_true(o.n_p == 6 && o.plist[0] == 0 && o.plist[5] == 10000000); /* 0: model P */
    assert_true(o.n_cpr == 5 && o.cpr[4] == 10000 && o.n_mem == 4 && o.mem_cpr[0] == 250);
    assert_true(o.triad_n == (size_t)1 << 25 && o.agg_clients == 8 && o.samples == 200);
    assert_int_equal(o.method, FA_METHOD_FEDMETAALIGN);
    assert_int_equal(o.pass_argc, 0);

    const char *quick[] = {"--quick"};
    assert_true(parse(&o, 1, quick));
    assert_true(o.reps == 3 && o.min_time == 0.01 && o.rounds == 2);
    assert_true(o.n_p == 4 && o.plist[3] == 100000);
    assert_true(o.n_cpr == 3 && o.cpr[2] == 100 && o.n_mem == 3 && o.mem_cpr[2] == 400);
    assert_true(o.triad_n == (size_t)1 << 22);

    /* given values win over --quick's; --huge appends to a given list; after -- passes */
    const char *given[] = {"round", "--quick", "--reps", "7", "--rounds", "1", "--min-time",
                           "0.5", "--clients", "5", "--huge", "--batch", "16", "--p", "1e3",
                           "--mem-clients", "3", "--triad-n", "2048", "--", "--reference",
                           "prev"};
    assert_true(parse(&o, (int)(sizeof given / sizeof given[0]), given));
    for (int b = 0; b < B_COUNT; b++) assert_true(o.run[b] == (b == B_ROUND));
    assert_true(o.reps == 7 && o.rounds == 1 && o.min_time == 0.5);
    assert_true(o.n_cpr == 2 && o.cpr[0] == 5 && o.cpr[1] == 100000);
    assert_true(o.n_batches == 1 && o.batches[0] == 16 && o.n_p == 1 && o.plist[0] == 1000);
    assert_true(o.n_mem == 1 && o.mem_cpr[0] == 3 && o.triad_n == 2048);
    assert_int_equal(o.pass_argc, 2);
    assert_string_equal(o.pass_argv[0], "--reference");

    const char *help[] = {"train", "--help"};
    assert_false(parse(&o, 2, help));

    /* the other spellings the shared parser accepts: --name=VALUE, "all", --method */
    const char *eq[] = {"peak", "all", "--reps=4", "--method=fedavg", "--output", "x.h5"};
    assert_true(parse(&o, (int)(sizeof eq / sizeof eq[0]), eq));
    for (int b = 0; b < B_COUNT; b++) assert_true(o.run[b]);
    assert_true(o.reps == 4 && o.method == FA_METHOD_FEDAVG);
    assert_string_equal(o.out, "x.h5");
}

/* bench_parse on `fedalign bench ARGS...` (a NULL-terminated list): its return code, and
 * err must contain want */
static void expect(const char *want, int want_rc, const char **args) {
    char *argv[32] = {"fedalign", "bench"};
    int n = 2;
    while (args[n - 2]) argv[n] = (char *)args[n - 2], n++;
    BenchOpts o;
    char err[1024] = "";
    int rc = bench_parse(&o, n, argv, err, sizeof err);
    if (rc != want_rc || !strstr(err, want))
        fail_msg("bench %s ...: rc %d, message '%s' (want rc %d, '%s')", args[0], rc, err,
                 want_rc, want);
}

#define BAD(want, ...) expect(want, -1, (const char *[]){__VA_ARGS__, NULL})

/* one message naming the flag for a bad value of every kind of option */
static void test_parse_bad(void **state) {
    (void)state;
    BAD("unknown sub-benchmark 'frob' (expected peak, train, aggregate, round, memory, quant or "
        "all)",
        "frob");
    BAD("unknown option '--bogus' (see fedalign bench --help)", "peak", "--bogus");
    BAD("--reps needs a value", "peak", "--reps");
    /* sizes: range and integer syntax */
    BAD("--reps: 0 is out of range [1, 1000]", "--reps", "0");
    BAD("--warmup: 101 is out of range [0, 100]", "--warmup", "101");
    BAD("--triad-n: '1e6' is not a non-negative integer", "--triad-n", "1e6");
    BAD("--samples: 'x' is not a non-negative integer", "--samples", "x");
    /* numbers */
    BAD("--min-time: 0 is out of range", "--min-time", "0");
    BAD("--min-time: 'fast' is not a number", "--min-time", "fast");
    /* flags and strings */
    BAD("--quick takes no value", "--quick=yes");
    BAD("--output: empty", "--output", "");
    /* lists and the method (custom) */
    BAD("--batch: '8,x' is not a comma list of at most 16 integers in [1, 65536]", "--batch",
        "8,x");
    BAD("--clients: '0' is not a comma list", "--clients", "0");
    BAD("--mem-clients: '1,2,' is not a comma list", "--mem-clients", "1,2,");
    BAD("--p: '1e9' is not a comma list", "--p", "1e9");
    BAD("--method: unknown method 'fedprox' (expected fedmetaalign or fedavg)", "--method",
        "fedprox");
    /* run flags after --: the run's own messages; --preset is refused in any order and
     * spelling, since it would reset the sizes bench sets; --help is not a run */
    BAD("run flags after --: --lr: -1 is out of range", "round", "--", "--lr", "-1");
    BAD("run flags after --: unknown option '--frob'", "memory", "--", "--frob");
    BAD("--preset paper is refused", "round", "--", "--preset", "paper");
    BAD("--preset tiny is refused", "memory", "--", "--reference", "prev", "--preset=tiny");
    BAD("run flags after --: --help", "round", "--", "--help");
    BAD("run configuration: --samples (10) must be at least --min-samples (40)", "round",
        "--samples", "10");
    /* given without round or memory, run flags are still checked */
    BAD("--preset paper is refused", "peak", "--", "--preset", "paper");
    /* ... while --samples only matters to round and memory */
    expect("", 0, (const char *[]){"peak", "--samples", "10", NULL});
}

/* the run configuration of round and memory: the tiny preset at bench's sizes, then the
 * run flags after -- */
static void test_run_config(void **state) {
    (void)state;
    const char *args[] = {"round", "--samples", "64", "--method", "fedavg", "--", "--reference",
                          "prev", "--seed", "9"};
    BenchOpts o;
    assert_true(parse(&o, (int)(sizeof args / sizeof args[0]), args));
    Config *cfg = malloc(sizeof *cfg), *tiny = malloc(sizeof *tiny);
    assert_non_null(cfg);
    assert_non_null(tiny);
    char err[1024];
    assert_int_equal(bench_run_config(&o, cfg, 12, 4, err, sizeof err), 0);
    config_defaults(tiny);
    config_apply_preset(tiny, "tiny");
    assert_string_equal(cfg->preset, "tiny");
    assert_true(cfg->clients == 12 && cfg->rounds == 4 && cfg->data.samples_per_client == 64);
    assert_true(cfg->local.epochs == 1.0 && cfg->quiet && cfg->method == FA_METHOD_FEDAVG);
    assert_true(cfg->reference == FA_REF_PREV && cfg->seed == 9);
    /* what neither bench nor the flags set comes from the tiny preset */
    assert_true(cfg->data.public_samples == tiny->data.public_samples);
    assert_true(cfg->p0_epochs == tiny->p0_epochs);
    free(cfg);
    free(tiny);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_flops),
        cmocka_unit_test(test_slope),
        cmocka_unit_test(test_parse_sizes),
        cmocka_unit_test(test_parse_opts),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_run_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
