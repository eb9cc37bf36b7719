/*
 * test_server_opt.c: the server optimizers (server_opt.h) against a direct double-precision
 * reference of their equations (Reddi et al. 2021, Algorithm 2; Hsu et al. 2019), several
 * steps on a small vector, and FedAvgM's reduction to the FedAvg server step bit for bit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "fedalign/aggregate.h"
#include "fedalign/rng.h"
#include "fedalign/round.h"
#include "fedalign/server_opt.h"

#define N 64
#define STEPS 5

/* exact sums of a round: num = sum q_t fixed(delta_t) over 3 clients, den = sum q_t */
static int64_t round_sums(uint64_t step, int64_t num[N]) {
    const int64_t q[3] = {40, 17, 93};
    memset(num, 0, N * sizeof(int64_t));
    for (int t = 0; t < 3; t++) {
        Rng r;
        rng_init(&r, 77, FA_RNG_TEST, (uint64_t)t, step, 0);
        float d[N];
        for (size_t i = 0; i < N; i++) d[i] = (float)(0.05 * rng_normal(&r) + 0.01 * (double)t);
        assert_true(fixed_accumulate_q(num, d, q[t], N));
    }
    return q[0] + q[1] + q[2];
}

/* the reference: the paper's equations on Delta = num / den * 2^-32, all in double */
static void reference_step(FaServerOpt k, const ServerOpt *so, double *m, double *v, double *x,
                           const int64_t *num, int64_t den) {
    for (size_t i = 0; i < N; i++) {
        const double d = (double)num[i] / (double)den / 4294967296.0;
        if (k == FA_SOPT_AVGM) {
            m[i] = so->beta1 * m[i] + d;
            x[i] += so->lr * m[i];
            continue;
        }
        m[i] = so->beta1 * m[i] + (1.0 - so->beta1) * d;
        if (k == FA_SOPT_ADAM) v[i] = so->beta2 * v[i] + (1.0 - so->beta2) * d * d;
        else if (k == FA_SOPT_YOGI) {
            const double s = v[i] - d * d;
            v[i] -= (1.0 - so->beta2) * d * d * (s > 0 ? 1.0 : s < 0 ? -1.0 : 0.0);
        } else v[i] += d * d;
        x[i] += so->lr * m[i] / (sqrt(v[i]) + so->tau);
    }
}

static void check_kind(FaServerOpt k) {
    ServerOpt so = {.kind = k, .lr = 0.03, .beta1 = 0.9, .beta2 = 0.99, .tau = 1e-3};
    if (k == FA_SOPT_AVGM) so.lr = 0.7;
    double state[2 * N], m[N] = {0}, v[N], x[N];
    float g[N];
    server_opt_init(&so, state, N);
    for (size_t i = 0; i < N; i++) {
        v[i] = so.tau * so.tau;
        g[i] = (float)(0.1 * sin((double)i));
        x[i] = g[i];
    }
    for (uint64_t s = 0; s < STEPS; s++) {
        int64_t num[N];
        const int64_t den = round_sums(s, num);
        server_opt_step(&so, state, g, num, den, N);
        reference_step(k, &so, m, v, x, num, den);
        for (size_t i = 0; i < N; i++) {
            /* the model is float: the reference's value to float rounding (the steps feed
             * back the rounded model, so allow a few ulps) */
            assert_true(fabs((double)g[i] - x[i]) <= 4e-7 * (fabs(x[i]) + 1e-3));
            assert_true(fabs(state[i] - m[i]) <= 1e-12 * (fabs(m[i]) + 1e-12));
            if (k != FA_SOPT_AVGM) assert_true(fabs(state[N + i] - v[i]) <= 1e-12 * v[i]);
        }
        for (size_t i = 0; i < N; i++) x[i] = (double)g[i];
    }
}

static void test_fedavgm(void **st) {
    (void)st;
    check_kind(FA_SOPT_AVGM);
}
static void test_fedadam(void **st) {
    (void)st;
    check_kind(FA_SOPT_ADAM);
}
static void test_fedyogi(void **st) {
    (void)st;
    check_kind(FA_SOPT_YOGI);
}
static void test_fedadagrad(void **st) {
    (void)st;
    check_kind(FA_SOPT_ADAGRAD);
}

/* Yogi moves v toward Delta^2 by (1 - b2) Delta^2 at most: from tau^2 it grows, unlike
 * Adam's exponential average that also decays it (the kinds must not coincide) */
static void test_kinds_differ(void **st) {
    (void)st;
    int64_t num[N];
    const int64_t den = round_sums(0, num);
    float a[N], y[N], g[N];
    double sa[2 * N], sy[2 * N], sg[2 * N];
    ServerOpt so = {.lr = 0.03, .beta1 = 0.9, .beta2 = 0.99, .tau = 1e-3};
    ServerOpt sa_ = so, sy_ = so, sg_ = so;
    sa_.kind = FA_SOPT_ADAM, sy_.kind = FA_SOPT_YOGI, sg_.kind = FA_SOPT_ADAGRAD;
    server_opt_init(&sa_, sa, N), server_opt_init(&sy_, sy, N), server_opt_init(&sg_, sg, N);
    memset(a, 0, sizeof a), memset(y, 0, sizeof y), memset(g, 0, sizeof g);
    server_opt_step(&sa_, sa, a, num, den, N);
    server_opt_step(&sy_, sy, y, num, den, N);
    server_opt_step(&sg_, sg, g, num, den, N);
    assert_true(memcmp(a, y, sizeof a) != 0 && memcmp(y, g, sizeof y) != 0);
}

/* FedAvgM with beta 0 and lr 1 is the FedAvg server step at alpha 1, bit for bit, on
 * every step (the momentum buffer then holds just the last Delta) */
static void test_avgm_reduces_to_fedavg(void **st) {
    (void)st;
    ServerOpt so = {.kind = FA_SOPT_AVGM, .lr = 1.0, .beta1 = 0.0};
    double state[N];
    float a[N], b[N];
    server_opt_init(&so, state, N);
    for (size_t i = 0; i < N; i++) a[i] = b[i] = (float)(0.3 * cos((double)i));
    for (uint64_t s = 0; s < STEPS; s++) {
        int64_t num[N];
        const int64_t den = round_sums(s, num);
        server_opt_step(&so, state, a, num, den, N);
        fl_apply_update(b, b, num, den, 1.0, N);
        assert_memory_equal(a, b, sizeof a);
    }
}

/* a round with nothing aggregated leaves the model and the moments as they are */
static void test_empty_round(void **st) {
    (void)st;
    ServerOpt so = {.kind = FA_SOPT_ADAM, .lr = 0.03, .beta1 = 0.9, .beta2 = 0.99, .tau = 1e-3};
    double state[2 * N], before[2 * N];
    float g[N] = {0}, g0[N] = {0};
    int64_t num[N] = {0};
    server_opt_init(&so, state, N);
    memcpy(before, state, sizeof state);
    server_opt_step(&so, state, g, num, 0, N);
    assert_memory_equal(state, before, sizeof state);
    assert_memory_equal(g, g0, sizeof g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fedavgm),      cmocka_unit_test(test_fedadam),
        cmocka_unit_test(test_fedyogi),      cmocka_unit_test(test_fedadagrad),
        cmocka_unit_test(test_kinds_differ), cmocka_unit_test(test_avgm_reduces_to_fedavg),
        cmocka_unit_test(test_empty_round),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
