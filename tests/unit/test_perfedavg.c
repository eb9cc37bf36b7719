/*
 * test_perfedavg.c: unit tests of Per-FedAvg's first-order local training
 * (train_perfedavg, include/fedalign/perfedavg.h).
 *
 * (1) the documented schedule replayed by hand (SGD and Adam): the epochs, shuffles and
 *     pairs of mini-batches (a last pair without a second batch uses D' = D), the inner
 *     step w~ = w - alpha g(w; D) and the meta-step with g(w~; D') at w, the loss mean,
 *     steps and samples; bit for bit;
 * (2) the reduction that holds exactly: alpha = 0 with one mini-batch holding every row
 *     (so D' = D) is train_local, bit for bit, for SGD and Adam;
 * (3) threaded = serial, bit for bit; the standardization part never changes.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fedalign/model.h"
#include "fedalign/perfedavg.h"
#include "fedalign/rng.h"

typedef struct {
    ModelLayout L;
    size_t P;
    Dataset ds;
    float *w0;
} Fix;

/* 4 classes of noisy points in 5 dims, a 2-layer MLP with a non-trivial standardization */
static void fix_make(Fix *f, size_t n) {
    ModelShape s;
    memset(&s, 0, sizeof s);
    s.n_in = 5;
    s.n_out = 4;
    s.n_hidden = 2;
    s.hidden[0] = 16;
    s.hidden[1] = 8;
    f->P = model_layout(&f->L, &s);
    f->ds.n = n;
    f->ds.d = 5;
    f->ds.x = malloc(n * 5 * sizeof(float));
    f->ds.y = malloc(n * sizeof(int32_t));
    assert_non_null(f->ds.x);
    assert_non_null(f->ds.y);
    Rng r;
    rng_init(&r, 3, FA_RNG_TEST, 21, 0, 0);
    for (size_t i = 0; i < n; i++) {
        f->ds.y[i] = (int32_t)(i % 4);
        for (size_t j = 0; j < 5; j++)
            f->ds.x[i * 5 + j] = (float)((j == i % 4 ? 2.0 : 0.0) + rng_normal(&r) + (double)j);
    }
    f->w0 = malloc(f->P * sizeof(float));
    assert_non_null(f->w0);
    model_init(&f->L, f->w0, 7, 0);
    const double mean[5] = {0.5, 1.5, 2.5, 3.5, 4.0}, sd[5] = {1.2, 1.1, 1.3, 1.0, 0.9};
    model_set_norm(&f->L, f->w0, mean, sd);
}

static void fix_free(Fix *f) {
    free(f->ds.x);
    free(f->ds.y);
    free(f->w0);
}

/* The schedule of perfedavg.h, step by step, with model_loss_grad on gathered rows. */
static void replay(const Fix *f, float *w, const TrainOpts *o, double alpha, uint64_t seed,
                   uint64_t client, uint64_t round, TrainStats *st) {
    const size_t n = f->ds.n, P = f->P, off = f->L.train_off, B = o->batch;
    Workspace ws;
    workspace_build(&ws, &f->L, B);
    float *wt = malloc(P * sizeof(float)), *m = calloc(P, sizeof(float));
    float *v = calloc(P, sizeof(float)), *x = malloc(B * 5 * sizeof(float));
    int32_t *y = malloc(B * sizeof(int32_t));
    size_t *perm = malloc(n * sizeof(size_t));
    const size_t full = (size_t)floor(o->epochs);
    const size_t m_last = (size_t)ceil((o->epochs - (double)full) * (double)n - 1e-9);
    double loss = 0.0;
    uint64_t t = 0;
    memset(st, 0, sizeof *st);
    for (size_t e = 0; e < full + (m_last > 0); e++) {
        const size_t ne = e < full ? n : m_last;
        for (size_t i = 0; i < n; i++) perm[i] = i;
        Rng r;
        rng_init(&r, seed, FA_RNG_SHUFFLE, client, round, e);
        rng_shuffle(&r, perm, n);
        for (size_t s = 0; s < ne;) {
            size_t b1 = ne - s < B ? ne - s : B, b2 = ne - s - b1 < B ? ne - s - b1 : B;
            for (size_t k = 0; k < b1; k++) {
                memcpy(x + k * 5, f->ds.x + perm[s + k] * 5, 5 * sizeof(float));
                y[k] = f->ds.y[perm[s + k]];
            }
            loss += model_loss_grad(&f->L, w, x, y, b1, &ws, false);
            for (size_t q = 0; q < P; q++)
                wt[q] = q < off ? w[q] : w[q] - (float)alpha * ws.grad[q];
            const size_t s2 = b2 ? s + b1 : s, bb = b2 ? b2 : b1;
            for (size_t k = 0; k < bb; k++) {
                memcpy(x + k * 5, f->ds.x + perm[s2 + k] * 5, 5 * sizeof(float));
                y[k] = f->ds.y[perm[s2 + k]];
            }
            model_loss_grad(&f->L, wt, x, y, bb, &ws, false);
            if (o->opt == FA_OPT_ADAM)
                optim_adam_step(w + off, ws.grad + off, m + off, v + off, P - off, o->lr, o->beta1,
                                o->beta2, o->eps, ++t);
            else
                for (size_t q = off; q < P; q++) w[q] -= (float)o->lr * ws.grad[q];
            st->steps++;
            st->samples += b1 + b2;
            s += b1 + b2;
        }
    }
    st->loss_mean = st->steps ? loss / (double)st->steps : 0.0;
    free(perm);
    free(y);
    free(x);
    free(v);
    free(m);
    free(wt);
    workspace_free(&ws);
}

static void test_schedule_by_hand(void **state) {
    (void)state;
    Fix f;
    fix_make(&f, 37);
    Workspace ws;
    workspace_build(&ws, &f.L, 8);
    float *a = malloc(f.P * sizeof(float)), *b = malloc(f.P * sizeof(float));
    float *wt = malloc(f.P * sizeof(float));
    /* 37 rows in batches of 8: pairs (8,8) (8,8) (5,0) per full epoch; 2.3 epochs: then
     * ceil(0.3 * 37) = 12 rows, one pair (8,4) */
    const TrainOpts sgd = {FA_OPT_SGD, 0.05, 0, 0, 0, 8, 2.3, 0.0};
    const TrainOpts adam = {FA_OPT_ADAM, 0.01, 0.9, 0.999, 1e-8, 8, 2.3, 0.0};
    const TrainOpts *os[2] = {&sgd, &adam};
    for (int k = 0; k < 2; k++) {
        TrainStats s1, s2;
        memcpy(a, f.w0, f.P * sizeof(float));
        memcpy(b, f.w0, f.P * sizeof(float));
        train_perfedavg(&f.L, a, wt, &f.ds, os[k], 0.03, 11, 5, 2, &ws, false, &s1);
        replay(&f, b, os[k], 0.03, 11, 5, 2, &s2);
        assert_memory_equal(a, b, f.P * sizeof(float));
        assert_int_equal(s1.steps, 2 * 3 + 1);
        assert_int_equal(s1.steps, s2.steps);
        assert_int_equal(s1.samples, 2 * 37 + 12);
        assert_true(s1.loss_mean == s2.loss_mean);
        assert_memory_equal(a, f.w0, f.L.train_off * sizeof(float)); /* standardization */
        assert_true(memcmp(a, f.w0, f.P * sizeof(float)) != 0);
        /* threaded = serial */
        memcpy(b, f.w0, f.P * sizeof(float));
        train_perfedavg(&f.L, b, wt, &f.ds, os[k], 0.03, 11, 5, 2, &ws, true, &s2);
        assert_memory_equal(a, b, f.P * sizeof(float));
        /* alpha moves the result (the inner step is used) */
        memcpy(b, f.w0, f.P * sizeof(float));
        train_perfedavg(&f.L, b, wt, &f.ds, os[k], 0.0, 11, 5, 2, &ws, false, &s2);
        assert_true(memcmp(a, b, f.P * sizeof(float)) != 0);
    }
    free(wt);
    free(b);
    free(a);
    workspace_free(&ws);
    fix_free(&f);
}

static void test_alpha0_full_batch_is_train_local(void **state) {
    (void)state;
    Fix f;
    fix_make(&f, 30);
    Workspace ws;
    workspace_build(&ws, &f.L, 32);
    float *a = malloc(f.P * sizeof(float)), *b = malloc(f.P * sizeof(float));
    float *wt = malloc(f.P * sizeof(float));
    const TrainOpts sgd = {FA_OPT_SGD, 0.05, 0, 0, 0, 32, 3.5, 0.0};
    const TrainOpts adam = {FA_OPT_ADAM, 0.01, 0.9, 0.999, 1e-8, 32, 3.5, 0.0};
    const TrainOpts *os[2] = {&sgd, &adam};
    for (int k = 0; k < 2; k++) {
        TrainStats s1, s2;
        memcpy(a, f.w0, f.P * sizeof(float));
        memcpy(b, f.w0, f.P * sizeof(float));
        train_perfedavg(&f.L, a, wt, &f.ds, os[k], 0.0, 4, 9, 1, &ws, false, &s1);
        train_local(&f.L, b, NULL, &f.ds, os[k], 4, 9, 1, &ws, false, &s2);
        assert_memory_equal(a, b, f.P * sizeof(float));
        assert_int_equal(s1.steps, s2.steps);
        assert_true(s1.loss_mean == s2.loss_mean);
    }
    free(wt);
    free(b);
    free(a);
    workspace_free(&ws);
    fix_free(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule_by_hand),
        cmocka_unit_test(test_alpha0_full_batch_is_train_local),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
