/*
 * test_dynamics.c: the server-dynamics diagnostic (dynamics.h) flags a period-2 cycle and
 * does not flag a stable run.
 *
 * Two clients with quadratic objectives f_t(w) = |w - a_t|^2 / 2 send one gradient step
 * Delta_t = -eta (phi - a_t) each round and the server applies their mean. With eta = 1.9
 * the server overshoots the joint optimum every round, phi^{r+1} - a* = -0.9 (phi^r - a*):
 * a known 2-cycle, every global step reverses the last. With eta = 0.5 it converges
 * monotonically. The cosines are computed with the same kernels fl_round.c uses.
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
#include "fedalign/dynamics.h"

#define R 20
#define P 3

/* Runs R rounds; fills the per-client cosine to the round's mean update (R x 2) and the
 * cosine between consecutive global updates (R, NaN for r = 0). */
static void simulate(double eta, double cos_mean[R * 2], double upd[R]) {
    const float a[2][P] = {{1.0f, 0.0f, 0.5f}, {-0.5f, 1.0f, 0.0f}};
    float phi[P] = {4.0f, -3.0f, 2.0f}, last[P] = {0}, d[2][P], mean[P], g[P];
    for (int r = 0; r < R; r++) {
        for (int t = 0; t < 2; t++)
            for (int i = 0; i < P; i++) d[t][i] = (float)(-eta * (phi[i] - a[t][i]));
        for (int i = 0; i < P; i++) mean[i] = 0.5f * (d[0][i] + d[1][i]);
        for (int t = 0; t < 2; t++) cos_mean[r * 2 + t] = vec_cosine(d[t], mean, P);
        for (int i = 0; i < P; i++) g[i] = mean[i];
        upd[r] = r == 0 ? nan("") : vec_cosine(g, last, P);
        memcpy(last, g, sizeof g);
        for (int i = 0; i < P; i++) phi[i] += g[i];
    }
}

static void test_two_cycle_flagged(void **s) {
    (void)s;
    double cm[R * 2], upd[R];
    simulate(1.9, cm, upd);
    const double u = dyn_mean_finite(upd, R);
    assert_true(u < -0.99); /* every step reverses the last */
    assert_true(dyn_two_cycle(nan(""), u));
}

static void test_stable_not_flagged(void **s) {
    (void)s;
    double cm[R * 2], upd[R];
    simulate(0.5, cm, upd);
    const double u = dyn_mean_finite(upd, R);
    assert_true(u > 0.99);
    double l0 = dyn_lag1(cm, R, 2), l1 = dyn_lag1(cm + 1, R, 2);
    assert_false(dyn_two_cycle(0.5 * (l0 + l1), u));
}

/* the client-side criterion alone: cosines that flip every round */
static void test_lag1_alternating(void **s) {
    (void)s;
    double x[2 * R];
    for (int r = 0; r < R; r++) {
        x[2 * r] = r % 2 ? 0.9 : -0.2;  /* client 0 */
        x[2 * r + 1] = 0.1 * r;         /* client 1: a trend */
    }
    assert_true(fabs(dyn_lag1(x, R, 2) + 1.0) < 1e-12);
    assert_true(dyn_lag1(x + 1, R, 2) > 0.5);
    assert_true(dyn_two_cycle(dyn_lag1(x, R, 2), nan("")));
    assert_false(dyn_two_cycle(dyn_lag1(x + 1, R, 2), nan("")));
}

/* gaps (rounds a client was not selected), too few values, constant series */
static void test_lag1_edges(void **s) {
    (void)s;
    double x[8] = {1, NAN, -1, 1, -1, NAN, NAN, 1};
    double l = dyn_lag1(x, 8, 1);
    assert_true(l < -0.9); /* the pairs (-1,1), (1,-1) */
    double few[3] = {1, NAN, 2};
    assert_true(isnan(dyn_lag1(few, 3, 1)));
    double c[5] = {0.25, 0.25, 0.25, 0.25, 0.25};
    assert_true(isnan(dyn_lag1(c, 5, 1)));
    assert_true(isnan(dyn_mean_finite(few + 1, 1)));
    assert_false(dyn_two_cycle(nan(""), nan("")));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_cycle_flagged),
        cmocka_unit_test(test_stable_not_flagged),
        cmocka_unit_test(test_lag1_alternating),
        cmocka_unit_test(test_lag1_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
