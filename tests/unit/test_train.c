/*
 * test_train.c: unit tests of the optimizers and train_local (train.c).
 *
 * Adam against values computed by hand (in double, Kingma & Ba Algorithm 1) for three
 * steps; SGD; the FedProx gradient; train_local's documented schedule (steps, samples,
 * fractional epochs, shuffles) replayed by hand; bit-identical training for threaded/serial
 * and 1/2 OpenMP threads; a separable 4-blob problem learned to > 99 % train accuracy;
 * FedProx with a huge mu keeping the model at the reference; the standardization part
 * never changing; ws->perm grown only when a larger dataset arrives.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <omp.h>

#include "fedalign/model.h"
#include "fedalign/rng.h"

// ----------------------------------------------------------------------------
// helpers

static ModelShape shape_default(size_t D, size_t K) {
    ModelShape s;
    memset(&s, 0, sizeof s);
    s.n_in = D;
    s.n_out = K;
    s.n_hidden = 2;
    s.hidden[0] = 64;
    s.hidden[1] = 32;
    return s;
}

/* K Gaussian blobs in D dims: class k centred at 4 * e_(k mod D) * (+1 or -1), sigma 0.5,
 * then every feature scaled by (1 + j) and shifted by 10 j so that the standardization has
 * work to do. Linearly separable in practice (centres >= 5.6 apart, sigma 0.5). */
static void blobs_make(Dataset *ds, size_t n, size_t D, size_t K, uint64_t sub) {
    ds->n = n;
    ds->d = D;
    ds->x = malloc(n * D * sizeof(float));
    ds->y = malloc(n * sizeof(int32_t));
    assert_non_null(ds->x);
    assert_non_null(ds->y);
    Rng r;
    rng_init(&r, 5, FA_RNG_TEST, 10, 0, sub);
    for (size_t i = 0; i < n; i++) {
        size_t k = i % K;
        ds->y[i] = (int32_t)k;
        for (size_t j = 0; j < D; j++) {
            double c = (j == k % D) ? ((k / D) % 2 ? -4.0 : 4.0) : 0.0;
            ds->x[i * D + j] =
                (float)((c + 0.5 * rng_normal(&r)) * (1.0 + (double)j) + 10.0 * (double)j);
        }
    }
}

static void ds_free(Dataset *ds) {
    free(ds->x);
    free(ds->y);
    memset(ds, 0, sizeof *ds);
}

/* per-feature mean and std of ds into the model */
static void norm_from_data(const ModelLayout *L, float *p, const Dataset *ds) {
    double mean[64] = {0}, sd[64] = {0};
    size_t D = ds->d;
    for (size_t i = 0; i < ds->n; i++)
        for (size_t j = 0; j < D; j++) mean[j] += ds->x[i * D + j];
    for (size_t j = 0; j < D; j++) mean[j] /= (double)ds->n;
    for (size_t i = 0; i < ds->n; i++)
        for (size_t j = 0; j < D; j++) {
            double t = ds->x[i * D + j] - mean[j];
            sd[j] += t * t;
        }
    for (size_t j = 0; j < D; j++) sd[j] = sqrt(sd[j] / (double)ds->n);
    model_set_norm(L, p, mean, sd);
}

static TrainOpts opts_adam(double lr, size_t batch, double epochs) {
    TrainOpts o = {FA_OPT_ADAM, lr, 0.9, 0.999, 1e-8, batch, epochs, 0.0};
    return o;
}

static double max_abs_diff(const float *a, const float *b, size_t lo, size_t hi) {
    double m = 0.0;
    for (size_t i = lo; i < hi; i++) m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

// ----------------------------------------------------------------------------
// (4) optimizers against hand-computed values

static void test_adam_hand(void **state) {
    (void)state;
    /* lr 0.1, betas (0.9, 0.999), eps 1e-8. Step 1: m = 0.1 g, v = 0.001 g^2, so
     * mhat = g, vhat = g^2 and p -= 0.1 * sign(g) (1 - 2e-8 / |g|); g = 0 leaves p alone.
     * Later steps from the same formulas, evaluated in double (python3, 9 digits). */
    /* the three cases repeated over 11 elements, so that both the vectorized body (whole
     * groups of 4) and the scalar tail run; they must agree to the bit */
    enum { N = 11 };
    float p[N], m[N] = {0}, v[N] = {0}, gt[N];
    const float p0[3] = {1.0f, -0.5f, 2.0f};
    const float g[3][3] = {{0.5f, -0.2f, 0.0f}, {-0.25f, 0.1f, 1.0f}, {0.125f, 0.3f, -2.0f}};
    const double expect[3][3] = {{0.900000002, -0.400000005, 2.000000000},
                                 {0.873366299, -0.373366303, 1.925586319},
                                 {0.839323385, -0.412305280, 1.957014935}};
    for (size_t i = 0; i < N; i++) p[i] = p0[i % 3];
    for (uint64_t t = 1; t <= 3; t++) {
        for (size_t i = 0; i < N; i++) gt[i] = g[t - 1][i % 3];
        optim_adam_step(p, gt, m, v, N, 0.1, 0.9, 0.999, 1e-8, t);
        for (size_t i = 0; i < N; i++) {
            assert_true(fabs((double)p[i] - expect[t - 1][i % 3]) < 2e-7);
            assert_memory_equal(&p[i], &p[i % 3], sizeof(float));
            assert_memory_equal(&v[i], &v[i % 3], sizeof(float));
        }
    }
    /* moments after three steps, in closed form: m = 0.1 (0.81 g1 + 0.9 g2 + g3),
     * v = 0.001 (0.999^2 g1^2 + 0.999 g2^2 + g3^2) (element 9: a tail element, case 0) */
    double m0 = 0.1 * (0.81 * 0.5 + 0.9 * -0.25 + 0.125);
    double v0 = 0.001 * (0.999 * 0.999 * 0.25 + 0.999 * 0.0625 + 0.015625);
    assert_true(fabs((double)m[9] - m0) < 1e-8);
    assert_true(fabs((double)v[9] - v0) < 1e-9);
}

static void test_sgd_prox(void **state) {
    (void)state;
    float p[3] = {1.0f, 2.0f, 3.0f};
    const float g[3] = {0.5f, -1.0f, 2.0f};
    optim_sgd_step(p, g, 3, 0.1);
    assert_true(fabs(p[0] - 0.95) < 1e-7 && fabs(p[1] - 2.1) < 1e-7 && fabs(p[2] - 2.8) < 1e-7);

    float gg[3] = {0.5f, -1.0f, 2.0f};
    const float w[3] = {1.0f, 2.0f, 3.0f}, ref[3] = {0.0f, 2.5f, 3.0f};
    optim_prox_grad(gg, w, ref, 3, 2.0); /* g += 2 (w - ref) */
    assert_true(gg[0] == 2.5f && gg[1] == -2.0f && gg[2] == 2.0f);
    optim_prox_grad(gg, w, ref, 2, 0.0); /* mu = 0: nothing; n bounds the loop */
    assert_true(gg[0] == 2.5f && gg[1] == -2.0f && gg[2] == 2.0f);
}

// ----------------------------------------------------------------------------
// the documented schedule, replayed by hand

static void test_schedule(void **state) {
    (void)state;
    ModelShape s = shape_default(6, 4);
    ModelLayout L;
    size_t P = model_layout(&L, &s);
    Dataset ds;
    blobs_make(&ds, 50, 6, 4, 1);
    float *a = malloc(P * sizeof(float)), *b = malloc(P * sizeof(float));
    assert_non_null(a);
    assert_non_null(b);
    model_init(&L, a, 1, 0);
    norm_from_data(&L, a, &ds);
    memcpy(b, a, P * sizeof(float));
    Workspace ws, ws2;
    workspace_build(&ws, &L, 16);
    workspace_build(&ws2, &L, 16);

    /* 1.5 epochs of 50 rows, batch 16: 4 steps (16,16,16,2) + 25 rows in 2 steps (16, 9) */
    TrainOpts o = opts_adam(0.01, 16, 1.5);
    TrainStats st;
    train_local(&L, a, NULL, &ds, &o, 77, 3, 9, &ws, false, &st);
    assert_int_equal(st.steps, 6);
    assert_int_equal(st.samples, 75);

    size_t perm[50];
    double loss_sum = 0.0;
    uint64_t t = 0;
    memset(ws2.m, 0, P * sizeof(float));
    memset(ws2.v, 0, P * sizeof(float));
    for (size_t e = 0; e < 2; e++) {
        size_t ne = e == 0 ? 50 : 25;
        for (size_t i = 0; i < 50; i++) perm[i] = i;
        Rng r;
        rng_init(&r, 77, FA_RNG_SHUFFLE, 3, 9, e);
        rng_shuffle(&r, perm, 50);
        for (size_t s0 = 0; s0 < ne; s0 += 16) {
            size_t B = ne - s0 < 16 ? ne - s0 : 16;
            loss_sum += model_loss_grad_rows(&L, b, &ds, perm + s0, B, &ws2, false);
            size_t off = L.train_off;
            optim_adam_step(b + off, ws2.grad + off, ws2.m + off, ws2.v + off, P - off, 0.01, 0.9,
                            0.999, 1e-8, ++t);
        }
    }
    assert_memory_equal(a, b, P * sizeof(float));
    assert_true(st.loss_mean == loss_sum / 6.0);

    /* decimal fractions: 0.3 * 10 rows = 3 samples (not 4 from 3.0000000000000004) */
    Dataset small = ds;
    small.n = 10;
    o = opts_adam(0.01, 4, 0.3);
    train_local(&L, a, NULL, &small, &o, 77, 3, 9, &ws, false, &st);
    assert_int_equal(st.samples, 3);
    assert_int_equal(st.steps, 1);
    o.epochs = 2.0; /* whole epochs: ceil(10 / 4) = 3 steps each */
    train_local(&L, a, NULL, &small, &o, 77, 3, 9, &ws, false, &st);
    assert_int_equal(st.samples, 20);
    assert_int_equal(st.steps, 6);

    /* zero epochs and an empty dataset leave the model alone */
    memcpy(b, a, P * sizeof(float));
    o.epochs = 0.0;
    train_local(&L, a, NULL, &ds, &o, 77, 3, 9, &ws, false, &st);
    assert_int_equal(st.steps, 0);
    assert_memory_equal(a, b, P * sizeof(float));
    Dataset empty = {0, 6, NULL, NULL};
    o.epochs = 3.0;
    train_local(&L, a, NULL, &empty, &o, 77, 3, 9, &ws, false, &st);
    assert_int_equal(st.steps, 0);
    assert_int_equal(st.samples, 0);
    assert_memory_equal(a, b, P * sizeof(float));

    workspace_free(&ws2);
    workspace_free(&ws);
    free(a);
    free(b);
    ds_free(&ds);
}

// ----------------------------------------------------------------------------
// (5) bit-identical training for any threading; determinism

static void test_train_threads_bitwise(void **state) {
    (void)state;
    ModelShape s = shape_default(6, 4);
    ModelLayout L;
    size_t P = model_layout(&L, &s);
    Dataset ds;
    blobs_make(&ds, 203, 6, 4, 2);
    float *init = malloc(P * sizeof(float)), *a = malloc(P * sizeof(float));
    float *b = malloc(P * sizeof(float));
    assert_non_null(init);
    assert_non_null(a);
    assert_non_null(b);
    model_init(&L, init, 3, 0);
    norm_from_data(&L, init, &ds);
    Workspace ws;
    workspace_build(&ws, &L, 64);
    TrainOpts o = opts_adam(0.01, 50, 1.7); /* batches of 50: 7 chunks, the last partial */
    int saved = omp_get_max_threads();

    omp_set_num_threads(1);
    memcpy(a, init, P * sizeof(float));
    train_local(&L, a, NULL, &ds, &o, 11, 5, 2, &ws, false, NULL);
    memcpy(b, init, P * sizeof(float));
    train_local(&L, b, NULL, &ds, &o, 11, 5, 2, &ws, true, NULL);
    assert_memory_equal(a, b, P * sizeof(float));
    omp_set_num_threads(2);
    memcpy(b, init, P * sizeof(float));
    train_local(&L, b, NULL, &ds, &o, 11, 5, 2, &ws, true, NULL);
    assert_memory_equal(a, b, P * sizeof(float));
    /* again, with the moments left dirty by the previous call: they must be reset */
    memcpy(b, init, P * sizeof(float));
    train_local(&L, b, NULL, &ds, &o, 11, 5, 2, &ws, true, NULL);
    assert_memory_equal(a, b, P * sizeof(float));
    assert_true(memcmp(a, init, P * sizeof(float)) != 0); /* it did train */
    /* another round gives another order, hence another model */
    memcpy(b, init, P * sizeof(float));
    train_local(&L, b, NULL, &ds, &o, 11, 5, 3, &ws, true, NULL);
    assert_true(memcmp(a, b, P * sizeof(float)) != 0);
    /* SGD and FedProx, threaded vs not */
    TrainOpts sg = {FA_OPT_SGD, 0.05, 0.0, 0.0, 0.0, 32, 1.0, 0.5};
    memcpy(a, init, P * sizeof(float));
    train_local(&L, a, init, &ds, &sg, 11, 5, 2, &ws, false, NULL);
    memcpy(b, init, P * sizeof(float));
    train_local(&L, b, init, &ds, &sg, 11, 5, 2, &ws, true, NULL);
    assert_memory_equal(a, b, P * sizeof(float));

    omp_set_num_threads(saved);
    workspace_free(&ws);
    free(init);
    free(a);
    free(b);
    ds_free(&ds);
}

// ----------------------------------------------------------------------------
// (6) a separable toy problem is learned

static void test_learn_blobs(void **state) {
    (void)state;
    ModelShape s = shape_default(6, 4);
    ModelLayout L;
    size_t P = model_layout(&L, &s);
    Dataset ds;
    blobs_make(&ds, 400, 6, 4, 3);
    float *p = malloc(P * sizeof(float)), *p0 = malloc(P * sizeof(float));
    assert_non_null(p);
    assert_non_null(p0);
    model_init(&L, p, 2024, 0);
    norm_from_data(&L, p, &ds);
    memcpy(p0, p, P * sizeof(float));
    Workspace ws;
    workspace_build(&ws, &L, 32);
    EvalResult e0, e;
    model_evaluate(&L, p, &ds, &ws, true, &e0);
    TrainOpts o = opts_adam(0.01, 32, 5.0);
    TrainStats st;
    train_local(&L, p, NULL, &ds, &o, 1, 0, 0, &ws, true, &st);
    model_evaluate(&L, p, &ds, &ws, true, &e);
    print_message("blobs: acc %.4f -> %.4f, loss %.4f -> %.4f, %zu steps\n", e0.acc, e.acc, e0.loss,
                  e.loss, st.steps);
    assert_true(e.acc > 0.99);
    assert_true(e.loss < 0.1 && e.loss < e0.loss);
    assert_int_equal(st.steps, 5 * 13);
    /* the standardization part is never trained */
    assert_memory_equal(p, p0, L.train_off * sizeof(float));
    workspace_free(&ws);
    free(p);
    free(p0);
    ds_free(&ds);
}

// ----------------------------------------------------------------------------
// (7) FedProx with a huge mu stays at the reference

static void test_fedprox(void **state) {
    (void)state;
    ModelShape s = shape_default(6, 4);
    ModelLayout L;
    size_t P = model_layout(&L, &s);
    Dataset ds;
    blobs_make(&ds, 200, 6, 4, 4);
    /* random labels: the loss gradient never dies out, so an unconstrained model keeps
     * drifting away from ref while the proximal term must hold it there */
    Rng r;
    rng_init(&r, 5, FA_RNG_TEST, 11, 0, 0);
    for (size_t i = 0; i < ds.n; i++) ds.y[i] = (int32_t)rng_below(&r, 4);
    float *ref = malloc(P * sizeof(float)), *p = malloc(P * sizeof(float));
    assert_non_null(ref);
    assert_non_null(p);
    model_init(&L, ref, 9, 0);
    norm_from_data(&L, ref, &ds);
    Workspace ws;
    workspace_build(&ws, &L, 32);
    size_t off = L.train_off;

    /* Full-batch SGD with lr * mu = 1 (exact in float): every step lands on
     * ref - lr * g(p_prev), g the loss gradient, so however many steps are taken the model
     * stays within about lr * |g(ref)| of ref (20 % slack for g(p_prev) != g(ref)), while
     * without the term 30 steps of a consistent gradient carry it much further. */
    Workspace wf;
    workspace_build(&wf, &L, ds.n);
    model_loss_grad_rows(&L, ref, &ds, NULL, ds.n, &wf, false);
    double G = 0.0;
    for (size_t q = off; q < P; q++) G = fmax(G, fabs((double)wf.grad[q]));
    TrainOpts sg = {FA_OPT_SGD, 0.0625, 0.0, 0.0, 0.0, ds.n, 30.0, 0.0};
    memcpy(p, ref, P * sizeof(float));
    train_local(&L, p, ref, &ds, &sg, 4, 1, 0, &wf, false, NULL);
    double free_dist = max_abs_diff(p, ref, off, P);
    sg.mu = 16.0;
    memcpy(p, ref, P * sizeof(float));
    train_local(&L, p, ref, &ds, &sg, 4, 1, 0, &wf, false, NULL);
    double prox_dist = max_abs_diff(p, ref, off, P);
    print_message("fedprox sgd: max |w - ref| %.3g (mu 0) vs %.3g (mu 16), lr * |g(ref)| = %.3g\n",
                  free_dist, prox_dist, sg.lr * G);
    assert_true(prox_dist <= 1.2 * sg.lr * G);
    assert_true(free_dist > 3.0 * prox_dist);
    workspace_free(&wf);

    /* Adam with mu = 1e4 against mu = 0 */
    TrainOpts o = opts_adam(0.01, 32, 3.0);
    memcpy(p, ref, P * sizeof(float));
    train_local(&L, p, ref, &ds, &o, 4, 1, 0, &ws, false, NULL);
    free_dist = max_abs_diff(p, ref, off, P);
    o.mu = 1e4;
    memcpy(p, ref, P * sizeof(float));
    train_local(&L, p, ref, &ds, &o, 4, 1, 0, &ws, false, NULL);
    prox_dist = max_abs_diff(p, ref, off, P);
    print_message("fedprox adam: max |w - ref| %.3g (mu 0) vs %.3g (mu 1e4)\n", free_dist,
                  prox_dist);
    assert_true(prox_dist < 0.1 * free_dist);
    assert_memory_equal(p, ref, off * sizeof(float)); /* standardization untouched */

    /* ref == NULL switches the term off whatever mu says */
    memcpy(p, ref, P * sizeof(float));
    train_local(&L, p, NULL, &ds, &o, 4, 1, 0, &ws, false, NULL);
    assert_true(max_abs_diff(p, ref, off, P) == free_dist);
    workspace_free(&ws);
    free(ref);
    free(p);
    ds_free(&ds);
}

// ----------------------------------------------------------------------------
// ws->perm grows only with the dataset

static void test_perm_growth(void **state) {
    (void)state;
    ModelShape s = shape_default(6, 4);
    ModelLayout L;
    size_t P = model_layout(&L, &s);
    Dataset ds;
    blobs_make(&ds, 100, 6, 4, 5);
    float *p = malloc(P * sizeof(float));
    assert_non_null(p);
    model_init(&L, p, 1, 0);
    Workspace ws;
    workspace_build(&ws, &L, 8);
    assert_null(ws.perm);
    assert_int_equal(ws.n_perm, 0);
    TrainOpts o = opts_adam(0.001, 8, 0.2);
    Dataset part = ds;
    part.n = 60;
    train_local(&L, p, NULL, &part, &o, 1, 0, 0, &ws, false, NULL);
    assert_int_equal(ws.n_perm, 60);
    size_t *first = ws.perm;
    part.n = 40;
    train_local(&L, p, NULL, &part, &o, 1, 0, 0, &ws, false, NULL);
    assert_ptr_equal(ws.perm, first);
    assert_int_equal(ws.n_perm, 60);
    train_local(&L, p, NULL, &ds, &o, 1, 0, 0, &ws, false, NULL);
    assert_int_equal(ws.n_perm, 100);
    workspace_free(&ws);
    free(p);
    ds_free(&ds);
}

/* train_epochs over consecutive ranges, with an evaluation between them (phase 3's
 * model selection does that), gives the bits of one train_local call, partial last epoch
 * included; a range never trains past the schedule's end. */
static void test_train_epochs_split(void **state) {
    (void)state;
    ModelShape s = shape_default(6, 4);
    ModelLayout L;
    size_t P = model_layout(&L, &s);
    Dataset ds;
    blobs_make(&ds, 50, 6, 4, 2);
    float *a = malloc(P * sizeof(float)), *b = malloc(P * sizeof(float));
    assert_non_null(a);
    assert_non_null(b);
    model_init(&L, a, 1, 0);
    norm_from_data(&L, a, &ds);
    memcpy(b, a, P * sizeof(float));
    Workspace ws, ws2;
    workspace_build(&ws, &L, 16);
    workspace_build(&ws2, &L, 16);
    TrainOpts o = opts_adam(0.01, 16, 3.5);
    size_t m_last;
    assert_int_equal(train_epoch_count(&o, 50, &m_last), 4);
    assert_int_equal(m_last, 25);
    TrainStats st;
    train_local(&L, a, NULL, &ds, &o, 77, 3, 9, &ws, false, &st);
    size_t steps = 0;
    for (size_t e = 0; e < 4; e++) {
        train_epochs(&L, b, NULL, &ds, &o, 77, 3, 9, e, e + 1, &ws2, false, &st);
        steps += st.steps;
        EvalResult er; /* between epochs, as phase 3 does */
        model_evaluate(&L, b, &ds, &ws2, false, &er);
    }
    assert_int_equal(steps, 4 + 4 + 4 + 2);
    assert_memory_equal(a, b, P * sizeof(float));
    /* past the end: nothing more is trained */
    train_epochs(&L, b, NULL, &ds, &o, 77, 3, 9, 4, 9, &ws2, false, &st);
    assert_int_equal(st.steps, 0);
    assert_memory_equal(a, b, P * sizeof(float));
    /* a different split point of a longer schedule: [0, 2) + [2, 3) == 3 epochs */
    o.epochs = 3.0;
    model_init(&L, a, 2, 0);
    norm_from_data(&L, a, &ds);
    memcpy(b, a, P * sizeof(float));
    train_local(&L, a, NULL, &ds, &o, 5, 1, 2, &ws, false, NULL);
    train_epochs(&L, b, NULL, &ds, &o, 5, 1, 2, 0, 2, &ws2, false, NULL);
    train_epochs(&L, b, NULL, &ds, &o, 5, 1, 2, 2, 3, &ws2, false, NULL);
    assert_memory_equal(a, b, P * sizeof(float));
    workspace_free(&ws2);
    workspace_free(&ws);
    free(a);
    free(b);
    ds_free(&ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_hand),
        cmocka_unit_test(test_sgd_prox),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_train_threads_bitwise),
        cmocka_unit_test(test_learn_blobs),
        cmocka_unit_test(test_fedprox),
        cmocka_unit_test(test_perm_growth),
        cmocka_unit_test(test_train_epochs_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
