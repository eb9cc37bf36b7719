/*
 * test_partition.c: label/quantity skew for generated clients (partition_gen_hist) and
 * for a pool of real rows (partition_pool): termination and speed of the Dirichlet
 * partition at 10,000 clients and beta = 0.01, the minimum per client, the impossible
 * case, IID balance, the column partition and determinism; the quantity skew and the
 * row order of the Dirichlet pool partition.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fedalign/data.h"
#include "fedalign/rng.h"
#include "fedalign/timer.h"

// ----------------------------------------------------------------------------
// helpers

static PartitionSpec spec(FaPartKind kind, double beta, double sigma, size_t min) {
    PartitionSpec ps;
    memset(&ps, 0, sizeof ps);
    ps.kind = kind;
    ps.beta = beta;
    ps.quantity_sigma = sigma;
    ps.min_per_client = min;
    ps.retry_cap = 100;
    return ps;
}

/* labels with class k taking share w_k of n rows, in contiguous runs like classData */
static int32_t *make_labels(size_t n, size_t k) {
    int32_t *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) y[i] = (int32_t)((i * k) / n);
    return y;
}

static size_t *client_counts(const int64_t *cor, size_t n, size_t c) {
    size_t *cnt = calloc(c, sizeof *cnt);
    for (size_t i = 0; i < n; i++) {
        assert_true(cor[i] >= 0 && (size_t)cor[i] < c);
        cnt[cor[i]]++;
    }
    return cnt;
}

// ----------------------------------------------------------------------------
// generated data: partition_gen_hist

static void test_gen_hist_basic(void **state) {
    (void)state;
    PartitionSpec ps = spec(FA_PART_DIRICHLET, 0.5, 0.5, 40);
    size_t k = 6, n_mean = 240, sum_all = 0, clients = 4000;
    for (size_t t = 0; t < clients; t++) {
        size_t h[FA_MAX_CLASSES], h2[FA_MAX_CLASSES], n = 0;
        partition_gen_hist(&ps, 42, t, k, n_mean, h);
        partition_gen_hist(&ps, 42, t, k, n_mean, h2);
        assert_memory_equal(h, h2, k * sizeof *h); /* deterministic */
        for (size_t c = 0; c < k; c++) n += h[c];
        assert_true(n >= ps.min_per_client);
        sum_all += n;
    }
    double mean = (double)sum_all / (double)clients;
    print_message("  mean client size %.1f (n_mean %zu, sigma 0.5, min 40)\n", mean,
                  n_mean);
    assert_true(mean > 0.95 * (double)n_mean && mean < 1.10 * (double)n_mean);

    /* other seeds and clients differ */
    size_t a[FA_MAX_CLASSES], b[FA_MAX_CLASSES], c2[FA_MAX_CLASSES];
    partition_gen_hist(&ps, 42, 7, k, n_mean, a);
    partition_gen_hist(&ps, 43, 7, k, n_mean, b);
    partition_gen_hist(&ps, 42, 8, k, n_mean, c2);
    assert_memory_not_equal(a, b, k * sizeof *a);
    assert_memory_not_equal(a, c2, k * sizeof *a);
}

static void test_gen_hist_iid_and_skew(void **state) {
    (void)state;
    size_t k = 6;
    /* IID, no quantity skew: exactly n_mean rows, balanced within one row */
    PartitionSpec iid = spec(FA_PART_IID, 0.5, 0.0, 1);
    for (size_t t = 0; t < 100; t++) {
        size_t h[FA_MAX_CLASSES], n = 0, lo = SIZE_MAX, hi = 0;
        partition_gen_hist(&iid, 1, t, k, 250, h);
        for (size_t c = 0; c < k; c++) {
            n += h[c];
            lo = h[c] < lo ? h[c] : lo;
            hi = h[c] > hi ? h[c] : hi;
        }
        assert_int_equal(n, 250);
        assert_true(hi - lo <= 1);
    }
    /* tiny beta: nearly every client is dominated by one class */
    PartitionSpec sk = spec(FA_PART_DIRICHLET, 0.01, 0.0, 1);
    size_t dominated = 0;
    for (size_t t = 0; t < 200; t++) {
        size_t h[FA_MAX_CLASSES], hi = 0;
        partition_gen_hist(&sk, 1, t, k, 200, h);
        for (size_t c = 0; c < k; c++) hi = h[c] > hi ? h[c] : hi;
        dominated += hi >= 180;
    }
    print_message("  beta 0.01: %zu of 200 clients have >= 90%% one class\n", dominated);
    assert_true(dominated >= 150);
    /* the minimum wins over a small lognormal draw */
    PartitionSpec big = spec(FA_PART_DIRICHLET, 1.0, 3.0, 50);
    for (size_t t = 0; t < 500; t++) {
        size_t h[FA_MAX_CLASSES], n = 0;
        partition_gen_hist(&big, 3, t, k, 100, h);
        for (size_t c = 0; c < k; c++) n += h[c];
        assert_true(n >= 50);
    }
}

// ----------------------------------------------------------------------------
// pools: partition_pool

static void test_pool_dirichlet_10k_clients(void **state) {
    (void)state;
    size_t n = 500000, k = 6, c = 10000;
    int32_t *y = make_labels(n, k);
    int64_t *cor = malloc(n * sizeof *cor), *cor2 = malloc(n * sizeof *cor2);
    PartitionSpec ps = spec(FA_PART_DIRICHLET, 0.01, 0.0, 10);
    char err[512];
    double t0 = timer_now();
    int rc = partition_pool(&ps, 7, y, n, k, NULL, 0, c, cor, err, sizeof err);
    double dt = timer_now() - t0;
    print_message("  Dirichlet(0.01) partition of %zu rows over %zu clients (min 10, retry cap "
                  "%zu): %.3f s\n",
                  n, c, ps.retry_cap, dt);
    if (rc) fail_msg("%s", err); /* the time is information (bench territory), not a check */
    size_t *cnt = client_counts(cor, n, c), lo = SIZE_MAX, hi = 0;
    for (size_t t = 0; t < c; t++) {
        lo = cnt[t] < lo ? cnt[t] : lo;
        hi = cnt[t] > hi ? cnt[t] : hi;
    }
    print_message("  client sizes: min %zu max %zu\n", lo, hi);
    assert_true(lo >= 10);
    /* deterministic */
    rc = partition_pool(&ps, 7, y, n, k, NULL, 0, c, cor2, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_memory_equal(cor, cor2, n * sizeof *cor);
    free(cnt);
    free(cor2);
    free(cor);
    free(y);
}

static void test_pool_dirichlet_skew_and_retry(void **state) {
    (void)state;
    size_t n = 6000, k = 6, c = 20;
    int32_t *y = make_labels(n, k);
    int64_t *cor = malloc(n * sizeof *cor), *cor2 = malloc(n * sizeof *cor2);
    /* retries succeed here: no repair needed, every client >= 30 rows */
    PartitionSpec ps = spec(FA_PART_DIRICHLET, 0.5, 0.0, 30);
    char err[512];
    assert_int_equal(partition_pool(&ps, 11, y, n, k, NULL, 0, c, cor, err, sizeof err), 0);
    size_t *cnt = client_counts(cor, n, c);
    for (size_t t = 0; t < c; t++) assert_true(cnt[t] >= 30);
    /* label skew: the average share of a client's top class is far above 1/K */
    double top_share = 0.0;
    for (size_t t = 0; t < c; t++) {
        size_t h[FA_MAX_CLASSES] = {0}, hi = 0;
        for (size_t i = 0; i < n; i++)
            if ((size_t)cor[i] == t) h[y[i]]++;
        for (size_t j = 0; j < k; j++) hi = h[j] > hi ? h[j] : hi;
        top_share += (double)hi / (double)cnt[t] / (double)c;
    }
    print_message("  beta 0.5: mean top-class share %.2f (IID would be ~%.2f)\n", top_share,
                  1.0 / (double)k);
    assert_true(top_share > 0.4);
    /* another seed gives another partition; the same seed the same */
    assert_int_equal(partition_pool(&ps, 12, y, n, k, NULL, 0, c, cor2, err, sizeof err), 0);
    assert_memory_not_equal(cor, cor2, n * sizeof *cor);
    assert_int_equal(partition_pool(&ps, 11, y, n, k, NULL, 0, c, cor2, err, sizeof err), 0);
    assert_memory_equal(cor, cor2, n * sizeof *cor);
    /* retry cap 0 and a high minimum: the repair alone must bring everyone to it */
    ps.retry_cap = 0;
    ps.beta = 0.05;
    ps.min_per_client = 250;
    assert_int_equal(partition_pool(&ps, 11, y, n, k, NULL, 0, c, cor, err, sizeof err), 0);
    free(cnt);
    cnt = client_counts(cor, n, c);
    for (size_t t = 0; t < c; t++) assert_true(cnt[t] >= 250);
    /* the tightest possible case: exactly n / c rows each */
    ps.min_per_client = n / c;
    assert_int_equal(partition_pool(&ps, 11, y, n, k, NULL, 0, c, cor, err, sizeof err), 0);
    free(cnt);
    cnt = client_counts(cor, n, c);
    for (size_t t = 0; t < c; t++) assert_int_equal(cnt[t], n / c);
    free(cnt);
    free(cor2);
    free(cor);
    free(y);
}

static void test_pool_impossible(void **state) {
    (void)state;
    size_t n = 999, k = 3;
    int32_t *y = make_labels(n, k);
    int64_t *cor = malloc(n * sizeof *cor);
    char err[512];
    PartitionSpec ps = spec(FA_PART_DIRICHLET, 0.5, 0.0, 10);
    assert_int_equal(partition_pool(&ps, 1, y, n, k, NULL, 0, 100, cor, err, sizeof err), -1);
    print_message("  %s\n", err);
    assert_non_null(strstr(err, "999 rows cannot give 100 clients at least 10 rows"));
    ps.kind = FA_PART_IID;
    assert_int_equal(partition_pool(&ps, 1, y, n, k, NULL, 0, 100, cor, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot give"));
    /* 99 clients fit */
    assert_int_equal(partition_pool(&ps, 1, y, n, k, NULL, 0, 99, cor, err, sizeof err), 0);
    free(cor);
    free(y);
}

static void test_pool_iid(void **state) {
    (void)state;
    size_t n = 12000, k = 6, c = 10;
    int32_t *y = make_labels(n, k);
    int64_t *cor = malloc(n * sizeof *cor), *cor2 = malloc(n * sizeof *cor2);
    char err[512];
    PartitionSpec ps = spec(FA_PART_IID, 0.0, 0.0, 10);
    assert_int_equal(partition_pool(&ps, 5, y, n, k, NULL, 0, c, cor, err, sizeof err), 0);
    size_t *cnt = client_counts(cor, n, c);
    for (size_t t = 0; t < c; t++) assert_int_equal(cnt[t], n / c); /* equal sizes */
    /* balanced labels: each class share within 0.05 of 1/6 for every client */
    for (size_t t = 0; t < c; t++) {
        size_t h[FA_MAX_CLASSES] = {0};
        for (size_t i = 0; i < n; i++)
            if ((size_t)cor[i] == t) h[y[i]]++;
        for (size_t j = 0; j < k; j++) {
            double share = (double)h[j] / (double)cnt[t];
            assert_true(share > 1.0 / 6.0 - 0.05 && share < 1.0 / 6.0 + 0.05);
        }
    }
    assert_int_equal(partition_pool(&ps, 5, y, n, k, NULL, 0, c, cor2, err, sizeof err), 0);
    assert_memory_equal(cor, cor2, n * sizeof *cor);
    /* quantity skew: unequal sizes, still >= min, all rows used */
    free(cnt);
    ps.quantity_sigma = 1.0;
    ps.min_per_client = 200;
    assert_int_equal(partition_pool(&ps, 5, y, n, k, NULL, 0, c, cor, err, sizeof err), 0);
    cnt = client_counts(cor, n, c);
    size_t lo = SIZE_MAX, hi = 0;
    for (size_t t = 0; t < c; t++) {
        lo = cnt[t] < lo ? cnt[t] : lo;
        hi = cnt[t] > hi ? cnt[t] : hi;
    }
    print_message("  IID sigma 1: sizes %zu..%zu\n", lo, hi);
    assert_true(lo >= 200);
    assert_true(hi > 2 * lo);
    free(cnt);
    free(cor2);
    free(cor);
    free(y);
}

static void test_pool_column(void **state) {
    (void)state;
    size_t n = 300, k = 2;
    int32_t *y = make_labels(n, k), *g = malloc(n * sizeof *g);
    for (size_t i = 0; i < n; i++) g[i] = (int32_t)(i % 3);
    int64_t *cor = malloc(n * sizeof *cor);
    char err[512];
    PartitionSpec ps = spec(FA_PART_COLUMN, 0.0, 0.0, 10);
    snprintf(ps.column, sizeof ps.column, "load");
    assert_int_equal(partition_pool(&ps, 1, y, n, k, g, 3, 3, cor, err, sizeof err), 0);
    for (size_t i = 0; i < n; i++) assert_int_equal(cor[i], g[i]);
    assert_int_equal(partition_pool(&ps, 1, y, n, k, g, 3, 4, cor, err, sizeof err), -1);
    print_message("  %s\n", err);
    assert_non_null(strstr(err, "'load'"));
    assert_non_null(strstr(err, "3 distinct values but 4 clients"));
    ps.min_per_client = 101;
    assert_int_equal(partition_pool(&ps, 1, y, n, k, g, 3, 3, cor, err, sizeof err), -1);
    assert_non_null(strstr(err, "fewer than the minimum of 101"));
    free(cor);
    free(g);
    free(y);
}

/* coefficient of variation of the client sizes */
static double size_cv(const size_t *cnt, size_t c) {
    double m = 0.0, v = 0.0;
    for (size_t t = 0; t < c; t++) m += (double)cnt[t] / (double)c;
    for (size_t t = 0; t < c; t++) v += ((double)cnt[t] - m) * ((double)cnt[t] - m) / (double)c;
    return sqrt(v) / m;
}

/* --quantity-skew acts on the Dirichlet pool partition: with a large beta (near-equal
 * label shares) sigma = 0 gives near-equal sizes and sigma = 1.5 spread them, every row
 * still assigned, the same on a second call. */
static void test_pool_dirichlet_quantity_skew(void **state) {
    (void)state;
    const size_t n = 20000, k = 4, c = 20;
    int32_t *y = make_labels(n, k);
    int64_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    char err[256];
    PartitionSpec p0 = spec(FA_PART_DIRICHLET, 100.0, 0.0, 1);
    PartitionSpec p1 = spec(FA_PART_DIRICHLET, 100.0, 1.5, 1);
    assert_int_equal(partition_pool(&p0, 7, y, n, k, NULL, 0, c, a, err, sizeof err), 0);
    size_t *c0 = client_counts(a, n, c);
    assert_int_equal(partition_pool(&p1, 7, y, n, k, NULL, 0, c, a, err, sizeof err), 0);
    size_t *c1 = client_counts(a, n, c);
    double cv0 = size_cv(c0, c), cv1 = size_cv(c1, c);
    print_message("  size CV: sigma 0 %.3f, sigma 1.5 %.3f\n", cv0, cv1);
    assert_true(cv0 < 0.1);
    assert_true(cv1 > 0.5);
    assert_int_equal(partition_pool(&p1, 7, y, n, k, NULL, 0, c, b, err, sizeof err), 0);
    assert_memory_equal(a, b, n * sizeof *a);
    free(c1);
    free(c0);
    free(b);
    free(a);
    free(y);
}

/* --row-order: the same per-client class counts; file order gives each client one
 * contiguous run of rows per class, the shuffle does not. */
static void test_pool_row_order(void **state) {
    (void)state;
    const size_t n = 6000, k = 3, c = 5;
    int32_t *y = make_labels(n, k);
    int64_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    char err[256];
    PartitionSpec pf = spec(FA_PART_DIRICHLET, 0.5, 0.0, 1);
    PartitionSpec ps = pf;
    ps.row_order = FA_ROWS_SHUFFLED;
    assert_int_equal(partition_pool(&pf, 3, y, n, k, NULL, 0, c, a, err, sizeof err), 0);
    assert_int_equal(partition_pool(&ps, 3, y, n, k, NULL, 0, c, b, err, sizeof err), 0);
    size_t runs_file = 0, runs_shuf = 0, ca[16 * 3] = {0}, cb[16 * 3] = {0};
    for (size_t i = 0; i < n; i++) {
        ca[(size_t)a[i] * k + (size_t)y[i]]++;
        cb[(size_t)b[i] * k + (size_t)y[i]]++;
        runs_file += i == 0 || a[i] != a[i - 1] || y[i] != y[i - 1];
        runs_shuf += i == 0 || b[i] != b[i - 1] || y[i] != y[i - 1];
    }
    assert_memory_equal(ca, cb, sizeof ca);
    size_t cells = 0;
    for (size_t j = 0; j < c * k; j++) cells += ca[j] > 0;
    print_message("  runs: file %zu (cells %zu), shuffled %zu\n", runs_file, cells, runs_shuf);
    assert_int_equal(runs_file, cells);
    assert_true(runs_shuf > 10 * cells);
    assert_int_equal(partition_pool(&ps, 3, y, n, k, NULL, 0, c, a, err, sizeof err), 0);
    assert_memory_equal(a, b, n * sizeof *a);
    free(b);
    free(a);
    free(y);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_hist_basic),
        cmocka_unit_test(test_gen_hist_iid_and_skew),
        cmocka_unit_test(test_pool_dirichlet_10k_clients),
        cmocka_unit_test(test_pool_dirichlet_skew_and_retry),
        cmocka_unit_test(test_pool_impossible),
        cmocka_unit_test(test_pool_iid),
        cmocka_unit_test(test_pool_column),
        cmocka_unit_test(test_pool_dirichlet_quantity_skew),
        cmocka_unit_test(test_pool_row_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
