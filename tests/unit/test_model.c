/*
 * test_model.c: unit tests of the MLP kernels in model.c.
 *
 * Layout arithmetic for several shapes (0 to 8 hidden layers); He-uniform init; the input
 * standardization against a hand-written forward pass; a gradient check of the mean loss
 * against central differences of an independent double-precision reference forward pass
 * (random directions per parameter group, tolerances stated at GC_RTOL/GC_ATOL); bit-identical
 * gradients for threaded/serial and 1/2 OpenMP threads; evaluation (confusion matrix, ties).
 * Reference values are computed in this file, from the layout documented in model.h (the
 * reference walks the buffer sequentially and does not use ModelLayout offsets).
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
#include <omp.h>

#include "fedalign/model.h"
#include "fedalign/rng.h"

/* gradient check: |num - ana| <= GC_RTOL * max(|num|, |ana|) + GC_ATOL, directions of unit
 * norm, central differences in double with step GC_H. The float gradient carries ~1e-6
 * relative rounding error; the double reference's truncation error is ~GC_H^2. */
#define GC_RTOL 1e-4
#define GC_ATOL 1e-6
#define GC_H 1e-5

// ----------------------------------------------------------------------------
// helpers

static ModelShape shape_make(size_t D, size_t K, size_t nh, const size_t *h) {
    ModelShape s;
    memset(&s, 0, sizeof s);
    s.n_in = D;
    s.n_out = K;
    s.n_hidden = nh;
    for (size_t l = 0; l < nh; l++) s.hidden[l] = h[l];
    return s;
}

/* a dataset owned by the test (malloc'ed; freed with ds_free) */
static void ds_make(Dataset *ds, size_t n, size_t d, size_t K, uint64_t sub) {
    ds->n = n;
    ds->d = d;
    ds->x = malloc((n * d + 1) * sizeof(float));
    ds->y = malloc((n + 1) * sizeof(int32_t));
    assert_non_null(ds->x);
    assert_non_null(ds->y);
    Rng r;
    rng_init(&r, 7, FA_RNG_TEST, 1, 0, sub);
    /* features with offsets and scales unlike N(0,1), so standardization matters */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            ds->x[i * d + j] =
                (float)(3.0 * (double)j - 2.0 + (0.5 + 0.5 * (double)j) * rng_normal(&r));
    for (size_t i = 0; i < n; i++) ds->y[i] = (int32_t)rng_below(&r, K);
}

static void ds_free(Dataset *ds) {
    free(ds->x);
    free(ds->y);
    memset(ds, 0, sizeof *ds);
}

/* random model: He init, random biases, a non-trivial standardization */
static float *params_random(const ModelLayout *L, uint64_t seed) {
    float *p = malloc(L->n_params * sizeof(float));
    assert_non_null(p);
    model_init(L, p, seed, 3);
    Rng r;
    rng_init(&r, seed, FA_RNG_TEST, 2, 0, 0);
    for (size_t l = 0; l < L->n_layers; l++)
        for (size_t j = 0; j < L->fan_out[l]; j++)
            p[L->b_off[l] + j] = (float)(0.3 * rng_normal(&r));
    size_t D = L->shape.n_in;
    double mean[64], sd[64];
    assert_true(D <= 64);
    for (size_t j = 0; j < D; j++) {
        mean[j] = 3.0 * (double)j - 2.0 + 0.1 * rng_normal(&r);
        sd[j] = (0.5 + 0.5 * (double)j) * (0.8 + 0.4 * rng_uniform(&r));
    }
    model_set_norm(L, p, mean, sd);
    return p;
}

/* Double-precision reference: mean softmax cross-entropy of rows [0, B) of (x, y); if
 * logits != NULL also returns them (B, K). Walks theta sequentially in the order of the
 * model.h layout comment: mean | inv_std | W1 (fi, fo) row-major | b1 | ... */
static double ref_loss(const ModelShape *s, const double *theta, const float *x, const int32_t *y,
                       size_t B, double *logits) {
    size_t D = s->n_in, K = s->n_out, nl = s->n_hidden + 1;
    double a[256], z[256];
    double total = 0.0;
    for (size_t b = 0; b < B; b++) {
        for (size_t i = 0; i < D; i++) a[i] = ((double)x[b * D + i] - theta[i]) * theta[D + i];
        size_t pos = 2 * D, fi = D;
        for (size_t l = 0; l < nl; l++) {
            size_t fo = l < s->n_hidden ? s->hidden[l] : K;
            assert_true(fo <= 256);
            const double *W = theta + pos, *bias = theta + pos + fi * fo;
            for (size_t j = 0; j < fo; j++) {
                double acc = bias[j];
                for (size_t i = 0; i < fi; i++) acc += a[i] * W[i * fo + j];
                z[j] = (l + 1 < nl && acc < 0.0) ? 0.0 : acc;
            }
            memcpy(a, z, fo * sizeof(double));
            pos += fi * fo + fo;
            fi = fo;
        }
        double mx = a[0];
        for (size_t k = 1; k < K; k++) mx = a[k] > mx ? a[k] : mx;
        double se = 0.0;
        for (size_t k = 0; k < K; k++) se += exp(a[k] - mx);
        total += mx + log(se) - a[y[b]];
        if (logits) memcpy(logits + b * K, a, K * sizeof(double));
    }
    return total / (double)B;
}

// ----------------------------------------------------------------------------
// (1) layout

static void check_layout(const ModelShape *s) {
    ModelLayout L;
    size_t P = model_layout(&L, s);
    size_t D = s->n_in, K = s->n_out, nl = s->n_hidden + 1;
    assert_int_equal(P, L.n_params);
    assert_int_equal(L.n_layers, nl);
    assert_int_equal(L.train_off, 2 * D);
    /* independent count: 2D + sum (fi + 1) fo */
    size_t expect = 2 * D, fi = D, maxw = D, act = D;
    for (size_t l = 0; l < nl; l++) {
        size_t fo = l < s->n_hidden ? s->hidden[l] : K;
        expect += (fi + 1) * fo;
        maxw = fo > maxw ? fo : maxw;
        act += fo;
        fi = fo;
    }
    assert_int_equal(P, expect);
    assert_int_equal(L.max_width, maxw);
    assert_int_equal(L.act_size, act);
    /* contiguous, in order, no gaps, no overlap, ending at P */
    size_t pos = L.train_off;
    for (size_t l = 0; l < nl; l++) {
        assert_int_equal(L.fan_in[l], l == 0 ? D : L.fan_out[l - 1]);
        assert_int_equal(L.fan_out[l], l < s->n_hidden ? s->hidden[l] : K);
        assert_int_equal(L.w_off[l], pos);
        pos += L.fan_in[l] * L.fan_out[l];
        assert_int_equal(L.b_off[l], pos);
        pos += L.fan_out[l];
    }
    assert_int_equal(pos, P);
}

static void test_layout(void **state) {
    (void)state;
    const size_t h_def[] = {64, 32}, h1[] = {5}, h8[] = {3, 4, 5, 6, 7, 8, 9, 10};
    ModelShape s = shape_make(6, 6, 2, h_def);
    check_layout(&s);
    ModelLayout L;
    /* the default model: 12 + 6*64+64 + 64*32+32 + 32*6+6 */
    assert_int_equal(model_layout(&L, &s), 12 + 448 + 2080 + 198);
    s = shape_make(3, 2, 0, NULL); /* logistic regression: no hidden layer */
    check_layout(&s);
    assert_int_equal(model_layout(&L, &s), 6 + 3 * 2 + 2);
    s = shape_make(1, 16, 1, h1);
    check_layout(&s);
    s = shape_make(9, 4, 8, h8);
    check_layout(&s);
    model_layout(&L, &s);
    assert_int_equal(L.n_layers, 9);
    assert_int_equal(L.max_width, 10);
}

// ----------------------------------------------------------------------------
// init and standardization

static void test_init(void **state) {
    (void)state;
    const size_t h[] = {64, 32};
    ModelShape s = shape_make(6, 6, 2, h);
    ModelLayout L;
    size_t P = model_layout(&L, &s);
    float *a = malloc(P * sizeof(float)), *b = malloc(P * sizeof(float));
    assert_non_null(a);
    assert_non_null(b);
    model_init(&L, a, 42, 0);
    model_init(&L, b, 42, 0);
    assert_memory_equal(a, b, P * sizeof(float)); /* deterministic */
    for (size_t i = 0; i < 6; i++) {
        assert_true(a[i] == 0.0f);
        assert_true(a[6 + i] == 1.0f);
    }
    for (size_t l = 0; l < L.n_layers; l++) {
        double lim = sqrt(6.0 / (double)L.fan_in[l]), s2 = 0.0;
        size_t nw = L.fan_in[l] * L.fan_out[l];
        for (size_t j = 0; j < nw; j++) {
            double w = a[L.w_off[l] + j];
            assert_true(fabs(w) <= lim);
            s2 += w * w;
        }
        /* He: Var = 2 / fan_in; allow sampling error (nw >= 192) */
        double var = s2 / (double)nw;
        assert_true(fabs(var * (double)L.fan_in[l] / 2.0 - 1.0) < 0.25);
        for (size_t j = 0; j < L.fan_out[l]; j++) assert_true(a[L.b_off[l] + j] == 0.0f);
    }
    model_init(&L, b, 42, 1); /* another stream */
    assert_true(memcmp(a, b, P * sizeof(float)) != 0);
    model_init(&L, b, 43, 0); /* another seed */
    assert_true(memcmp(a, b, P * sizeof(float)) != 0);
    free(a);
    free(b);
}

static void test_set_norm(void **state) {
    (void)state;
    ModelShape s = shape_make(5, 2, 0, NULL);
    ModelLayout L;
    size_t P = model_layout(&L, &s);
    float *p = calloc(P, sizeof(float));
    assert_non_null(p);
    double mean[5] = {1.5, -2.0, 0.0, 1000.0, 7.0};
    double sd[5] = {2.0, 0.0, -1.0, 1e-9, NAN};
    model_set_norm(&L, p, mean, sd);
    for (size_t i = 0; i < 5; i++) assert_true(p[i] == (float)mean[i]);
    assert_true(p[5] == 0.5f);
    for (size_t i = 1; i < 5; i++) assert_true(p[5 + i] == 1.0f); /* zero, negative, tiny, NaN */
    free(p);
}

// ----------------------------------------------------------------------------
// (3) forward with standardization equals a hand-written computation

static void test_forward_manual(void **state) {
    (void)state;
    /* D = 3, H = 4, K = 2; every number written out */
    const size_t h[] = {4};
    ModelShape s = shape_make(3, 2, 1, h);
    ModelLayout L;
    size_t P = model_layout(&L, &s);
    assert_int_equal(P, 6 + 12 + 4 + 8 + 2);
    float *p = malloc(P * sizeof(float));
    assert_non_null(p);
    double mean[3] = {1.0, -2.0, 10.0}, sd[3] = {2.0, 0.5, 4.0};
    model_set_norm(&L, p, mean, sd);
    const float W1[12] = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f,
                          0.7f, -0.8f, 0.9f, 1.0f, -1.1f, 0.05f};
    const float b1[4] = {0.01f, -0.02f, 0.03f, -0.5f};
    const float W2[8] = {1.0f, -1.0f, 0.5f, 0.25f, -0.75f, 2.0f, 0.3f, -0.3f};
    const float b2[2] = {0.1f, -0.1f};
    memcpy(p + L.w_off[0], W1, sizeof W1);
    memcpy(p + L.b_off[0], b1, sizeof b1);
    memcpy(p + L.w_off[1], W2, sizeof W2);
    memcpy(p + L.b_off[1], b2, sizeof b2);
    const float x[2 * 3] = {3.0f, -1.0f, 6.0f, -1.0f, -2.5f, 18.0f};
    Workspace ws;
    workspace_build(&ws, &L, 4);
    float logits[2 * 2];
    model_forward(&L, p, x, 2, logits, &ws);
    for (size_t b = 0; b < 2; b++) {
        double xs[3], hid[4];
        for (size_t i = 0; i < 3; i++) xs[i] = ((double)x[b * 3 + i] - mean[i]) / sd[i];
        for (size_t j = 0; j < 4; j++) {
            double acc = b1[j];
            for (size_t i = 0; i < 3; i++) acc += xs[i] * W1[i * 4 + j];
            hid[j] = acc > 0.0 ? acc : 0.0;
        }
        for (size_t k = 0; k < 2; k++) {
            double acc = b2[k];
            for (size_t j = 0; j < 4; j++) acc += hid[j] * W2[j * 2 + k];
            assert_true(fabs(acc - (double)logits[b * 2 + k]) <= 1e-5 * (1.0 + fabs(acc)));
        }
    }
    /* first row: x' = (1, 2, -1) exactly; one row fully by hand:
     * h = relu(b1 + x' W1) = relu(0.01+0.1-1.0-0.9, -0.02-0.2+1.2-1.0, 0.03+0.3+1.4+1.1,
     *                             -0.5+0.4-1.6-0.05) = (0, 0, 2.83, 0)
     * z = b2 + h W2 = (0.1 - 2.83*0.75, -0.1 + 2.83*2) = (-2.0225, 5.56) */
    assert_true(fabs((double)logits[0] + 2.0225) < 1e-5);
    assert_true(fabs((double)logits[1] - 5.56) < 1e-5);
    workspace_free(&ws);
    free(p);
}

/* model_forward against the double reference on a batch with partial chunks */
static void test_forward_reference(void **state) {
    (void)state;
    const size_t h[] = {64, 32};
    ModelShape s = shape_make(6, 6, 2, h);
    ModelLayout L;
    size_t P = model_layout(&L, &s);
    float *p = params_random(&L, 11);
    Dataset ds;
    ds_make(&ds, 21, 6, 6, 0);
    Workspace ws;
    workspace_build(&ws, &L, 21);
    float logits[21 * 6];
    double ref[21 * 6], *theta = malloc(P * sizeof(double));
    assert_non_null(theta);
    for (size_t i = 0; i < P; i++) theta[i] = p[i];
    model_forward(&L, p, ds.x, 21, logits, &ws);
    ref_loss(&s, theta, ds.x, ds.y, 21, ref);
    for (size_t i = 0; i < 21 * 6; i++)
        assert_true(fabs(ref[i] - (double)logits[i]) <= 1e-5 * (1.0 + fabs(ref[i])));
    free(theta);
    workspace_free(&ws);
    ds_free(&ds);
    free(p);
}

// ----------------------------------------------------------------------------
// (2) gradient check

/* directional derivative of the reference loss along u (double, central differences) */
static double ref_dir_deriv(const ModelShape *s, const double *theta, const double *u, size_t P,
                            const Dataset *ds, size_t B) {
    double *tp = malloc(P * sizeof(double)), *tm = malloc(P * sizeof(double));
    assert_non_null(tp);
    assert_non_null(tm);
    for (size_t i = 0; i < P; i++) {
        tp[i] = theta[i] + GC_H * u[i];
        tm[i] = theta[i] - GC_H * u[i];
    }
    double d = (ref_loss(s, tp, ds->x, ds->y, B, NULL) - ref_loss(s, tm, ds->x, ds->y, B, NULL)) /
               (2.0 * GC_H);
    free(tp);
    free(tm);
    return d;
}

/* random unit direction supported on [lo, hi) */
static void direction(Rng *r, double *u, size_t P, size_t lo, size_t hi) {
    memset(u, 0, P * sizeof(double));
    double nrm = 0.0;
    for (size_t i = lo; i < hi; i++) {
        u[i] = rng_normal(r);
        nrm += u[i] * u[i];
    }
    nrm = sqrt(nrm);
    for (size_t i = lo; i < hi; i++) u[i] /= nrm;
}

static double worst_rel = 0.0;

static void gradcheck_shape(const ModelShape *s, size_t B, bool threaded) {
    ModelLayout L;
    size_t P = model_layout(&L, s);
    float *p = params_random(&L, 5 + B);
    Dataset ds;
    ds_make(&ds, B, s->n_in, s->n_out, B);
    Workspace ws;
    workspace_build(&ws, &L, B + 3);
    double loss = model_loss_grad(&L, p, ds.x, ds.y, B, &ws, threaded);
    double *theta = malloc(P * sizeof(double)), *u = malloc(P * sizeof(double));
    assert_non_null(theta);
    assert_non_null(u);
    for (size_t i = 0; i < P; i++) theta[i] = p[i];
    double rl = ref_loss(s, theta, ds.x, ds.y, B, NULL);
    assert_true(fabs(loss - rl) <= 1e-5 * fabs(rl));

    /* the standardization part is not trained: exactly zero */
    for (size_t i = 0; i < L.train_off; i++) assert_true(ws.grad[i] == 0.0f);

    Rng r;
    rng_init(&r, 99, FA_RNG_TEST, 3, B, 0);
    /* groups: every layer's weights, every layer's biases, then the whole trainable part */
    for (size_t gi = 0; gi <= 2 * L.n_layers; gi++) {
        size_t lo, hi;
        if (gi == 2 * L.n_layers) {
            lo = L.train_off;
            hi = P;
        } else if (gi % 2 == 0) {
            lo = L.w_off[gi / 2];
            hi = L.b_off[gi / 2];
        } else {
            lo = L.b_off[gi / 2];
            hi = lo + L.fan_out[gi / 2];
        }
        for (int rep = 0; rep < 3; rep++) {
            direction(&r, u, P, lo, hi);
            double ana = 0.0;
            for (size_t i = lo; i < hi; i++) ana += (double)ws.grad[i] * u[i];
            double num = ref_dir_deriv(s, theta, u, P, &ds, B);
            double err = fabs(num - ana), scale = fmax(fabs(num), fabs(ana));
            if (scale > 1e-3 && err / scale > worst_rel) worst_rel = err / scale;
            /* written as !(err <= tol) so a NaN derivative fails instead of passing */
            if (!(err <= GC_RTOL * scale + GC_ATOL))
                fail_msg("gradcheck group [%zu, %zu) (D=%zu K=%zu hidden=%zu B=%zu): numeric "
                         "%.9g analytic %.9g",
                         lo, hi, s->n_in, s->n_out, s->n_hidden, B, num, ana);
        }
    }
    free(u);
    free(theta);
    workspace_free(&ws);
    ds_free(&ds);
    free(p);
}

static void test_gradcheck(void **state) {
    (void)state;
    const size_t h2[] = {7, 6}, h1[] = {9}, h3[] = {64, 32};
    ModelShape s = shape_make(5, 4, 2, h2);
    gradcheck_shape(&s, 13, false); /* two chunks, the second partial */
    gradcheck_shape(&s, 13, true);
    gradcheck_shape(&s, 1, false);
    s = shape_make(3, 3, 0, NULL); /* no hidden layer */
    gradcheck_shape(&s, 8, false);
    s = shape_make(4, 5, 1, h1);
    gradcheck_shape(&s, 20, true);
    s = shape_make(6, 6, 2, h3); /* the default model */
    gradcheck_shape(&s, 32, true);
    print_message("gradcheck: worst relative error %.3g (tolerance %.0e + %.0e abs)\n", worst_rel,
                  GC_RTOL, GC_ATOL);
}

// ----------------------------------------------------------------------------
// (5) threading does not change a bit; rows variant equals the gathered batch

/* serial (each chunk adds into grad) against threaded (chunk rows, then the chunk-order sum),
 * bitwise, on widths that exercise every column path of the weight gradient: full 8-lane
 * blocks, 4-column vectors, the partial 4-column vector at the end (5, 7, 9, 13 columns)
 * and plain scalar columns (fewer than 4), with leftover rows (fan-in not a multiple of 4) */
static void test_grad_odd_widths_bitwise(void **state) {
    (void)state;
    const size_t h3[] = {7, 13, 9}, h1[] = {3};
    ModelShape shapes[3];
    shapes[0] = shape_make(5, 5, 3, h3);
    shapes[1] = shape_make(3, 2, 1, h1);
    shapes[2] = shape_make(6, 7, 0, NULL);
    for (size_t si = 0; si < 3; si++) {
        ModelLayout L;
        size_t P = model_layout(&L, &shapes[si]);
        float *p = params_random(&L, 31 + si);
        Dataset ds;
        ds_make(&ds, 29, shapes[si].n_in, shapes[si].n_out, 29);
        Workspace ws;
        workspace_build(&ws, &L, 29);
        float *g0 = malloc(P * sizeof(float));
        assert_non_null(g0);
        double l0 = model_loss_grad(&L, p, ds.x, ds.y, 29, &ws, false);
        memcpy(g0, ws.grad, P * sizeof(float));
        double l1 = model_loss_grad(&L, p, ds.x, ds.y, 29, &ws, true);
        assert_memory_equal(g0, ws.grad, P * sizeof(float));
        assert_memory_equal(&l0, &l1, sizeof l0);
        free(g0);
        workspace_free(&ws);
        ds_free(&ds);
        free(p);
    }
}

static void test_grad_threads_bitwise(void **state) {
    (void)state;
    const size_t h[] = {64, 32};
    ModelShape s = shape_make(6, 6, 2, h);
    ModelLayout L;
    size_t P = model_layout(&L, &s);
    float *p = params_random(&L, 21);
    Dataset ds;
    ds_make(&ds, 50, 6, 6, 4);
    Workspace ws;
    workspace_build(&ws, &L, 64);
    float *g0 = malloc(P * sizeof(float));
    assert_non_null(g0);
    int saved = omp_get_max_threads();

    omp_set_num_threads(1);
    double l0 = model_loss_grad(&L, p, ds.x, ds.y, 50, &ws, false);
    memcpy(g0, ws.grad, P * sizeof(float));
    double l1 = model_loss_grad(&L, p, ds.x, ds.y, 50, &ws, true);
    assert_memory_equal(g0, ws.grad, P * sizeof(float));
    assert_memory_equal(&l0, &l1, sizeof l0);

    omp_set_num_threads(2);
    int team = 0;
#pragma omp parallel
    {
#pragma omp single
        team = omp_get_num_threads();
    }
    assert_int_equal(team, 2); /* the threaded run below really uses two threads */
    l1 = model_loss_grad(&L, p, ds.x, ds.y, 50, &ws, true);
    assert_memory_equal(g0, ws.grad, P * sizeof(float));
    assert_memory_equal(&l0, &l1, sizeof l0);
    omp_set_num_threads(3); /* uneven split of 7 chunks */
    l1 = model_loss_grad(&L, p, ds.x, ds.y, 50, &ws, true);
    assert_memory_equal(g0, ws.grad, P * sizeof(float));

    /* rows variant: rows 10..41 in reverse, against the same rows gathered */
    size_t rows[32];
    float xg[32 * 6];
    int32_t yg[32];
    for (size_t i = 0; i < 32; i++) {
        rows[i] = 41 - i;
        memcpy(xg + i * 6, ds.x + rows[i] * 6, 6 * sizeof(float));
        yg[i] = ds.y[rows[i]];
    }
    l0 = model_loss_grad(&L, p, xg, yg, 32, &ws, false);
    memcpy(g0, ws.grad, P * sizeof(float));
    l1 = model_loss_grad_rows(&L, p, &ds, rows, 32, &ws, true);
    assert_memory_equal(g0, ws.grad, P * sizeof(float));
    assert_memory_equal(&l0, &l1, sizeof l0);
    l1 = model_loss_grad_rows(&L, p, &ds, NULL, 50, &ws, false);
    l0 = model_loss_grad(&L, p, ds.x, ds.y, 50, &ws, false);
    assert_memory_equal(&l0, &l1, sizeof l0);

    omp_set_num_threads(saved);
    free(g0);
    workspace_free(&ws);
    ds_free(&ds);
    free(p);
}

// ----------------------------------------------------------------------------
// (8) evaluation

static void test_evaluate(void **state) {
    (void)state;
    const size_t h[] = {16};
    ModelShape s = shape_make(6, 5, 1, h);
    ModelLayout L;
    model_layout(&L, &s);
    float *p = params_random(&L, 8);
    Dataset ds;
    ds_make(&ds, 37, 6, 5, 9);
    Workspace ws;
    workspace_build(&ws, &L, 16); /* 3 batches: 16, 16, 5 */
    EvalResult e, e2;
    model_evaluate(&L, p, &ds, &ws, false, &e);
    assert_int_equal(e.n, 37);
    size_t sum = 0, diag = 0;
    for (size_t t = 0; t < 5; t++)
        for (size_t q = 0; q < 5; q++) {
            sum += e.confusion[t * 5 + q];
            if (t == q) diag += e.confusion[t * 5 + q];
        }
    assert_int_equal(sum, 37);
    assert_int_equal(diag, e.correct);
    assert_true(e.acc == (double)e.correct / 37.0);
    for (size_t i = 5 * 5; i < FA_MAX_CLASSES * FA_MAX_CLASSES; i++)
        assert_int_equal(e.confusion[i], 0);

    /* against forward + argmax + cross-entropy done here */
    float logits[37 * 5];
    Workspace big;
    workspace_build(&big, &L, 37);
    model_forward(&L, p, ds.x, 37, logits, &big);
    size_t conf[25] = {0}, correct = 0;
    double loss = 0.0;
    for (size_t i = 0; i < 37; i++) {
        const float *z = logits + i * 5;
        size_t best = 0;
        for (size_t k = 1; k < 5; k++)
            if (z[k] > z[best]) best = k;
        conf[(size_t)ds.y[i] * 5 + best]++;
        correct += best == (size_t)ds.y[i];
        double mx = z[best], se = 0.0;
        for (size_t k = 0; k < 5; k++) se += exp((double)z[k] - mx);
        loss += mx + log(se) - (double)z[ds.y[i]];
    }
    assert_memory_equal(conf, e.confusion, sizeof conf);
    assert_int_equal(correct, e.correct);
    assert_true(fabs(loss / 37.0 - e.loss) <= 1e-6 * loss / 37.0);
    assert_true(e.correct > 0 && e.correct < 37); /* a random model: not degenerate */

    model_evaluate(&L, p, &ds, &ws, true, &e2); /* threading changes nothing */
    assert_memory_equal(&e, &e2, sizeof e);

    /* ties go to the lowest index: all weights zero, biases (1, 3, 3, 2, -1) -> class 1 */
    memset(p + L.train_off, 0, (L.n_params - L.train_off) * sizeof(float));
    const float bias[5] = {1.0f, 3.0f, 3.0f, 2.0f, -1.0f};
    memcpy(p + L.b_off[1], bias, sizeof bias);
    model_evaluate(&L, p, &ds, &ws, true, &e);
    size_t n1 = 0;
    for (size_t i = 0; i < 37; i++) n1 += ds.y[i] == 1;
    assert_int_equal(e.correct, n1);
    for (size_t t = 0; t < 5; t++)
        for (size_t q = 0; q < 5; q++)
            if (q != 1) assert_int_equal(e.confusion[t * 5 + q], 0);

    /* empty dataset */
    Dataset empty = {0, 6, NULL, NULL};
    model_evaluate(&L, p, &empty, &ws, false, &e);
    assert_int_equal(e.n, 0);
    assert_true(e.acc == 0.0 && e.loss == 0.0);

    workspace_free(&big);
    workspace_free(&ws);
    ds_free(&ds);
    free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_set_norm),
        cmocka_unit_test(test_forward_manual),
        cmocka_unit_test(test_forward_reference),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_grad_threads_bitwise),
        cmocka_unit_test(test_grad_odd_widths_bitwise),
        cmocka_unit_test(test_evaluate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
