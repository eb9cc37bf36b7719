/*
 * test_model_cnn.c: unit tests of the cnn1d model (model_cnn.c through model.h).
 *
 * Layout arithmetic against an independent count; He init and the per-channel
 * standardization; the forward pass against an independent double-precision reference
 * that walks the buffer sequentially in the order model.h documents (it does not use the
 * ModelLayout offsets); a gradient check of the mean loss against central differences of
 * that reference along random unit directions inside every parameter group (each conv
 * block's weights and biases, each dense layer's weights and biases, the whole trainable
 * part), bound stated at GC_RTOL/GC_ATOL; bit-identical gradients and evaluation for
 * serial/threaded and 1/2/3 OpenMP threads; the rows variant against the gathered batch.
 * Test data: raw windows built here (sinusoids whose frequency depends on the class, plus
 * noise and per-channel offsets), time-major like the shared data interface.
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

/* gradient check: |num - ana| <= GC_RTOL * max(|num|, |ana|) + GC_ATOL along unit
 * directions, central differences in double with step GC_H. The float gradient sums
 * hundreds of products per parameter (~1e-6 relative rounding each); the double
 * reference's truncation error is ~GC_H^2; a step across a ReLU or max-pool kink would
 * show as a gross error, and the data keeps activations away from ties. */
#define GC_RTOL 1e-4
#define GC_ATOL 1e-6
#define GC_H 1e-5

// ----------------------------------------------------------------------------
// helpers

static ModelShape cnn_shape(size_t T, size_t C, size_t K, size_t nb, const size_t *ch,
                            const size_t *k, size_t pool, size_t nh, const size_t *h) {
    ModelShape s;
    memset(&s, 0, sizeof s);
    s.kind = FA_MODEL_CNN1D;
    s.win_len = T;
    s.win_ch = C;
    s.n_in = T * C;
    s.n_out = K;
    s.n_conv = nb;
    for (size_t b = 0; b < nb; b++) {
        s.conv_ch[b] = ch[b];
        s.conv_k[b] = k[b];
    }
    s.pool = pool;
    s.n_hidden = nh;
    for (size_t l = 0; l < nh; l++) s.hidden[l] = h[l];
    return s;
}

/* n windows of T x C, time-major; class y sets the frequency of every channel */
static void ds_windows(Dataset *ds, size_t n, size_t T, size_t C, size_t K, uint64_t sub) {
    ds->n = n;
    ds->d = T * C;
    ds->x = malloc((n * T * C + 1) * sizeof(float));
    ds->y = malloc((n + 1) * sizeof(int32_t));
    assert_non_null(ds->x);
    assert_non_null(ds->y);
    Rng r;
    rng_init(&r, 17, FA_RNG_TEST, 5, 0, sub);
    for (size_t i = 0; i < n; i++) {
        ds->y[i] = (int32_t)rng_below(&r, K);
        double f = 0.05 + 0.07 * (double)ds->y[i], ph = 6.283 * rng_uniform(&r);
        for (size_t t = 0; t < T; t++)
            for (size_t c = 0; c < C; c++)
                ds->x[(i * T + t) * C + c] =
                    (float)(2.0 * (double)c - 1.0 + (1.0 + (double)c) * sin(f * (double)t + ph) +
                            0.3 * rng_normal(&r));
    }
}

static void ds_free(Dataset *ds) {
    free(ds->x);
    free(ds->y);
    memset(ds, 0, sizeof *ds);
}

/* He init, random biases, per-channel standardization from per-input statistics */
static float *params_random(const ModelLayout *L, uint64_t seed) {
    float *p = malloc(L->n_params * sizeof(float));
    assert_non_null(p);
    model_init(L, p, seed, 3);
    Rng r;
    rng_init(&r, seed, FA_RNG_TEST, 2, 0, 0);
    for (size_t b = 0; b < L->n_conv; b++)
        for (size_t j = 0; j < L->c_out[b]; j++) p[L->cb_off[b] + j] = (float)(0.2 * rng_normal(&r));
    for (size_t l = 0; l < L->n_layers; l++)
        for (size_t j = 0; j < L->fan_out[l]; j++) p[L->b_off[l] + j] = (float)(0.2 * rng_normal(&r));
    const size_t D = L->shape.n_in, C = L->shape.win_ch;
    double *mean = malloc(D * sizeof(double)), *sd = malloc(D * sizeof(double));
    assert_non_null(mean);
    assert_non_null(sd);
    for (size_t i = 0; i < D; i++) {
        mean[i] = 2.0 * (double)(i % C) - 1.0 + 0.1 * rng_normal(&r);
        sd[i] = (1.0 + (double)(i % C)) * (0.6 + 0.2 * rng_uniform(&r));
    }
    model_set_norm(L, p, mean, sd);
    free(mean);
    free(sd);
    return p;
}

/* Double-precision reference: mean softmax cross-entropy of rows [0, B); logits (B, K) when
 * not NULL. Walks theta in the model.h order: mean (C) | inv_std (C) | per block W (k, c_in,
 * c_out) | b (c_out) | dense W (fi, fo) | b (fo) ... */
static double ref_loss(const ModelShape *s, const double *theta, const float *x, const int32_t *y,
                       size_t B, double *logits) {
    const size_t T = s->win_len, C = s->win_ch, K = s->n_out, P = s->pool;
    double *a = malloc(T * 64 * sizeof(double)), *z = malloc(T * 64 * sizeof(double));
    assert_non_null(a);
    assert_non_null(z);
    double total = 0.0;
    for (size_t row = 0; row < B; row++) {
        for (size_t t = 0; t < T; t++)
            for (size_t c = 0; c < C; c++)
                a[t * C + c] = ((double)x[row * T * C + t * C + c] - theta[c]) * theta[C + c];
        size_t pos = 2 * C, len = T, ch = C;
        for (size_t b = 0; b < s->n_conv; b++) {
            const size_t k = s->conv_k[b], co = s->conv_ch[b], Lc = len - k + 1, Lp = Lc / P;
            assert_true(co <= 64 && ch <= 64);
            const double *W = theta + pos, *bias = W + k * ch * co;
            for (size_t t = 0; t < Lc; t++)
                for (size_t o = 0; o < co; o++) {
                    double acc = bias[o];
                    for (size_t j = 0; j < k; j++)
                        for (size_t c = 0; c < ch; c++)
                            acc += a[(t + j) * ch + c] * W[(j * ch + c) * co + o];
                    z[t * co + o] = acc < 0.0 ? 0.0 : acc;
                }
            for (size_t t = 0; t < Lp; t++)
                for (size_t o = 0; o < co; o++) {
                    double m = z[t * P * co + o];
                    for (size_t i = 1; i < P; i++) m = fmax(m, z[(t * P + i) * co + o]);
                    a[t * co + o] = m;
                }
            pos += k * ch * co + co;
            len = Lp;
            ch = co;
        }
        double h[64], o2[64];
        for (size_t c = 0; c < ch; c++) {
            double sum = 0.0;
            for (size_t t = 0; t < len; t++) sum += a[t * ch + c];
            h[c] = sum / (double)len;
        }
        size_t fi = ch, nl = s->n_hidden + 1;
        for (size_t l = 0; l < nl; l++) {
            size_t fo = l < s->n_hidden ? s->hidden[l] : K;
            const double *W = theta + pos, *bias = W + fi * fo;
            for (size_t j = 0; j < fo; j++) {
                double acc = bias[j];
                for (size_t i = 0; i < fi; i++) acc += h[i] * W[i * fo + j];
                o2[j] = (l + 1 < nl && acc < 0.0) ? 0.0 : acc;
            }
            memcpy(h, o2, fo * sizeof(double));
            pos += fi * fo + fo;
            fi = fo;
        }
        double mx = h[0];
        for (size_t q = 1; q < K; q++) mx = fmax(mx, h[q]);
        double se = 0.0;
        for (size_t q = 0; q < K; q++) se += exp(h[q] - mx);
        total += mx + log(se) - h[y[row]];
        if (logits) memcpy(logits + row * K, h, K * sizeof(double));
    }
    free(a);
    free(z);
    return total / (double)B;
}

// ----------------------------------------------------------------------------
// layout, init, standardization

static void test_layout(void **state) {
    (void)state;
    /* the default: 1024 x 1 window, conv 16:7,32:5, pool 2, head 64,32, 10 classes */
    const size_t ch[] = {16, 32}, k[] = {7, 5}, h[] = {64, 32};
    ModelShape s = cnn_shape(1024, 1, 10, 2, ch, k, 2, 2, h);
    ModelLayout L;
    size_t P = model_layout(&L, &s);
    /* 2 + (7*1*16 + 16) + (5*16*32 + 32) + (32*64 + 64) + (64*32 + 32) + (32*10 + 10) */
    assert_int_equal(P, 2 + 128 + 2592 + 2112 + 2080 + 330);
    assert_int_equal(L.train_off, 2);
    assert_int_equal(L.n_norm, 1);
    assert_int_equal(L.len_conv[0], 1018);
    assert_int_equal(L.len_pool[0], 509);
    assert_int_equal(L.len_conv[1], 505);
    assert_int_equal(L.len_pool[1], 252);
    assert_int_equal(model_cnn_out_len(&s), 252);
    /* contiguous: conv blocks, then the dense head, ending at P */
    size_t pos = L.train_off;
    for (size_t b = 0; b < L.n_conv; b++) {
        assert_int_equal(L.cw_off[b], pos);
        pos += L.c_k[b] * L.c_in[b] * L.c_out[b];
        assert_int_equal(L.cb_off[b], pos);
        pos += L.c_out[b];
    }
    assert_int_equal(L.n_layers, 3);
    assert_int_equal(L.fan_in[0], 32);
    for (size_t l = 0; l < L.n_layers; l++) {
        assert_int_equal(L.w_off[l], pos);
        pos += L.fan_in[l] * L.fan_out[l];
        assert_int_equal(L.b_off[l], pos);
        pos += L.fan_out[l];
    }
    assert_int_equal(pos, P);
    /* the logits are the last K floats of a sample's activations (model_evaluate) */
    assert_int_equal(L.act_size, 1024 + 1018 * 16 + 509 * 16 + 505 * 32 + 252 * 32 + 32 + 64 +
                                     32 + 10);
    assert_int_equal(L.max_width, 1018 * 16);
    /* FLOPs of the default, the figure docs/algorithm.md quotes */
    double f = 2.0 * (1018.0 * 7 * 16 + 505.0 * 80 * 32 + 32 * 64 + 64 * 32 + 32 * 10);
    assert_true(model_flops_forward(&L) == f);
    /* too short a window has no layout */
    s = cnn_shape(16, 1, 3, 2, ch, k, 2, 0, NULL); /* 16 -> 10 -> 5 -> 1 -> 0 */
    assert_int_equal(model_cnn_out_len(&s), 0);
    s = cnn_shape(17, 1, 3, 2, ch, k, 2, 0, NULL); /* 17 -> 11 -> 5 -> 1 -> 0 */
    assert_int_equal(model_cnn_out_len(&s), 0);
    s = cnn_shape(18, 1, 3, 2, ch, k, 2, 0, NULL); /* 18 -> 12 -> 6 -> 2 -> 1 */
    assert_int_equal(model_cnn_out_len(&s), 1);
}

static void test_init_norm(void **state) {
    (void)state;
    const size_t ch[] = {8, 12}, k[] = {5, 3};
    ModelShape s = cnn_shape(40, 3, 4, 2, ch, k, 2, 0, NULL);
    ModelLayout L;
    size_t P = model_layout(&L, &s);
    float *a = malloc(P * sizeof(float)), *b = malloc(P * sizeof(float));
    assert_non_null(a);
    assert_non_null(b);
    model_init(&L, a, 42, 0);
    model_init(&L, b, 42, 0);
    assert_memory_equal(a, b, P * sizeof(float));
    for (size_t c = 0; c < 3; c++) assert_true(a[c] == 0.0f && a[3 + c] == 1.0f);
    for (size_t bl = 0; bl < L.n_conv; bl++) {
        size_t fi = L.c_k[bl] * L.c_in[bl], nw = fi * L.c_out[bl];
        double lim = sqrt(6.0 / (double)fi), s2 = 0.0;
        for (size_t j = 0; j < nw; j++) {
            double w = a[L.cw_off[bl] + j];
            assert_true(fabs(w) <= lim);
            s2 += w * w;
        }
        assert_true(fabs(s2 / (double)nw * (double)fi / 2.0 - 1.0) < 0.3); /* He: 2 / fan_in */
        for (size_t j = 0; j < L.c_out[bl]; j++) assert_true(a[L.cb_off[bl] + j] == 0.0f);
    }
    model_init(&L, b, 43, 0);
    assert_true(memcmp(a, b, P * sizeof(float)) != 0);
    /* per-channel standardization pooled from per-input statistics: channel 0 has means
     * 1 and 3 and sds 1 (mean 2, second moment ((1 + 1) + (1 + 9)) / 2 = 6, sd sqrt(2)); channel 1
     * constant (sd 0 -> 1); channel 2 NaN sd -> 1 */
    ModelShape s2 = cnn_shape(2, 3, 2, 1, (const size_t[]){2}, (const size_t[]){1}, 1, 0, NULL);
    ModelLayout L2;
    model_layout(&L2, &s2);
    float p2[64];
    assert_true(L2.n_params <= 64);
    double mean[6] = {1.0, 5.0, 0.0, 3.0, 5.0, 0.0}, sd[6] = {1.0, 0.0, NAN, 1.0, 0.0, 1.0};
    model_set_norm(&L2, p2, mean, sd);
    assert_true(p2[0] == 2.0f && p2[1] == 5.0f && p2[2] == 0.0f);
    assert_true(p2[3] == (float)(1.0 / sqrt(2.0)));
    assert_true(p2[4] == 1.0f && p2[5] == 1.0f);
    free(a);
    free(b);
}

// ----------------------------------------------------------------------------
// forward and gradient against the reference

static double worst_rel = 0.0;

/* directional derivative of the reference loss along u (central differences) */
static double ref_dir(const ModelShape *s, const double *theta, const double *u, size_t P,
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

static void check_dir(Rng *r, const ModelShape *s, const double *theta, const float *grad,
                      double *u, size_t P, size_t lo, size_t hi, const Dataset *ds, size_t B) {
    for (int rep = 0; rep < 3; rep++) {
        memset(u, 0, P * sizeof(double));
        double nrm = 0.0, ana = 0.0;
        for (size_t i = lo; i < hi; i++) {
            u[i] = rng_normal(r);
            nrm += u[i] * u[i];
        }
        for (size_t i = lo; i < hi; i++) {
            u[i] /= sqrt(nrm);
            ana += (double)grad[i] * u[i];
        }
        double num = ref_dir(s, theta, u, P, ds, B);
        double err = fabs(num - ana), scale = fmax(fabs(num), fabs(ana));
        if (scale > 1e-3 && err / scale > worst_rel) worst_rel = err / scale;
        if (!(err <= GC_RTOL * scale + GC_ATOL)) /* NaN fails too */
            fail_msg("cnn gradcheck group [%zu, %zu) (T=%zu C=%zu blocks=%zu pool=%zu B=%zu): "
                     "numeric %.9g analytic %.9g",
                     lo, hi, s->win_len, s->win_ch, s->n_conv, s->pool, B, num, ana);
    }
}

static void gradcheck_shape(const ModelShape *s, size_t B, bool threaded) {
    ModelLayout L;
    size_t P = model_layout(&L, s);
    float *p = params_random(&L, 5 + B);
    Dataset ds;
    ds_windows(&ds, B, s->win_len, s->win_ch, s->n_out, B);
    Workspace ws;
    workspace_build(&ws, &L, B + 3);
    /* forward against the reference, on partial chunks */
    float *logits = malloc(B * s->n_out * sizeof(float));
    double *ref = malloc(B * s->n_out * sizeof(double)), *theta = malloc(P * sizeof(double)),
           *u = malloc(P * sizeof(double));
    assert_true(logits && ref && theta && u);
    for (size_t i = 0; i < P; i++) theta[i] = p[i];
    model_forward(&L, p, ds.x, B, logits, &ws);
    double rl = ref_loss(s, theta, ds.x, ds.y, B, ref);
    for (size_t i = 0; i < B * s->n_out; i++)
        assert_true(fabs(ref[i] - (double)logits[i]) <= 1e-4 * (1.0 + fabs(ref[i])));
    /* every kernel writes its scratch before reading it: NaN in the workspace must not leak */
    size_t nc = ws.n_chunks;
    for (size_t i = 0; i < nc * FA_CHUNK * L.act_size; i++) ws.act[i] = NAN;
    for (size_t i = 0; i < nc * FA_CHUNK * 2 * L.max_width; i++) ws.dact[i] = NAN;
    double loss = model_loss_grad(&L, p, ds.x, ds.y, B, &ws, threaded);
    assert_true(fabs(loss - rl) <= 1e-5 * fabs(rl));
    for (size_t i = 0; i < L.train_off; i++) assert_true(ws.grad[i] == 0.0f);
    Rng r;
    rng_init(&r, 99, FA_RNG_TEST, 4, B, 0);
    for (size_t b = 0; b < L.n_conv; b++) {
        check_dir(&r, s, theta, ws.grad, u, P, L.cw_off[b], L.cb_off[b], &ds, B);
        check_dir(&r, s, theta, ws.grad, u, P, L.cb_off[b], L.cb_off[b] + L.c_out[b], &ds, B);
    }
    for (size_t l = 0; l < L.n_layers; l++) {
        check_dir(&r, s, theta, ws.grad, u, P, L.w_off[l], L.b_off[l], &ds, B);
        check_dir(&r, s, theta, ws.grad, u, P, L.b_off[l], L.b_off[l] + L.fan_out[l], &ds, B);
    }
    check_dir(&r, s, theta, ws.grad, u, P, L.train_off, P, &ds, B);
    free(u);
    free(theta);
    free(ref);
    free(logits);
    workspace_free(&ws);
    ds_free(&ds);
    free(p);
}

static void test_gradcheck(void **state) {
    (void)state;
    const size_t ch2[] = {3, 4}, k2[] = {3, 2}, h1[] = {5};
    ModelShape s = cnn_shape(20, 2, 3, 2, ch2, k2, 2, 1, h1); /* 20 -> 18 -> 9 -> 8 -> 4 */
    gradcheck_shape(&s, 13, false); /* two chunks, the second partial */
    gradcheck_shape(&s, 13, true);
    gradcheck_shape(&s, 1, false);
    /* pool 3 with a trailing partial window (steps that get no error), no hidden layer */
    const size_t ch3[] = {5, 6, 4}, k3[] = {4, 3, 2};
    s = cnn_shape(50, 1, 4, 3, ch3, k3, 3, 0, NULL); /* 50 -> 47 -> 15 -> 13 -> 4 -> 3 -> 1 */
    gradcheck_shape(&s, 11, true);
    /* no pooling, one block, three channels in, more outputs than 4-blocks */
    const size_t ch1[] = {7}, k1[] = {5}, h2[] = {6, 3};
    s = cnn_shape(12, 3, 5, 1, ch1, k1, 1, 2, h2);
    gradcheck_shape(&s, 9, false);
    print_message("cnn gradcheck: worst relative error %.3g (tolerance %.0e + %.0e abs)\n",
                  worst_rel, GC_RTOL, GC_ATOL);
}

// ----------------------------------------------------------------------------
// threading does not change a bit

static void test_threads_bitwise(void **state) {
    (void)state;
    const size_t ch[] = {8, 6}, k[] = {5, 3}, h[] = {7};
    ModelShape s = cnn_shape(64, 2, 5, 2, ch, k, 2, 1, h);
    ModelLayout L;
    size_t P = model_layout(&L, &s);
    float *p = params_random(&L, 77);
    const size_t B = 37; /* four whole chunks and a partial one */
    Dataset ds;
    ds_windows(&ds, B, 64, 2, 5, 9);
    Workspace ws;
    workspace_build(&ws, &L, B);
    float *g0 = malloc(P * sizeof(float));
    assert_non_null(g0);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    double l0 = model_loss_grad(&L, p, ds.x, ds.y, B, &ws, false);
    memcpy(g0, ws.grad, P * sizeof(float));
    EvalResult e0, e1;
    model_evaluate(&L, p, &ds, &ws, false, &e0);
    for (int t = 1; t <= 3; t++) {
        omp_set_num_threads(t);
        double l1 = model_loss_grad(&L, p, ds.x, ds.y, B, &ws, true);
        assert_memory_equal(g0, ws.grad, P * sizeof(float));
        assert_memory_equal(&l0, &l1, sizeof l0);
        model_evaluate(&L, p, &ds, &ws, true, &e1);
        assert_memory_equal(&e0, &e1, sizeof e0);
    }
    omp_set_num_threads(saved);
    /* the rows variant reads the rows in place: the same bits as the gathered batch */
    size_t rows[8] = {36, 2, 17, 5, 5, 30, 0, 11};
    Dataset gat;
    gat.n = 8;
    gat.d = ds.d;
    gat.x = malloc(8 * ds.d * sizeof(float));
    gat.y = malloc(8 * sizeof(int32_t));
    assert_true(gat.x && gat.y);
    for (size_t i = 0; i < 8; i++) {
        memcpy(gat.x + i * ds.d, ds.x + rows[i] * ds.d, ds.d * sizeof(float));
        gat.y[i] = ds.y[rows[i]];
    }
    double la = model_loss_grad(&L, p, gat.x, gat.y, 8, &ws, false);
    memcpy(g0, ws.grad, P * sizeof(float));
    double lb = model_loss_grad_rows(&L, p, &ds, rows, 8, &ws, true);
    assert_memory_equal(g0, ws.grad, P * sizeof(float));
    assert_memory_equal(&la, &lb, sizeof la);
    /* a few Adam steps learn the toy task: training reaches the kernels end to end */
    TrainOpts o = {FA_OPT_ADAM, 1e-2, 0.9, 0.999, 1e-8, 8, 30.0, 0.0};
    EvalResult before, after;
    model_evaluate(&L, p, &ds, &ws, false, &before);
    TrainStats ts;
    train_local(&L, p, NULL, &ds, &o, 1, 0, 0, &ws, false, &ts);
    model_evaluate(&L, p, &ds, &ws, false, &after);
    assert_true(after.loss < 0.5 * before.loss);
    free(gat.x);
    free(gat.y);
    free(g0);
    workspace_free(&ws);
    ds_free(&ds);
    free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_init_norm),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_threads_bitwise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
