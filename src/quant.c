/*
 * quant.c: post-training int8 quantization of one MLP (calibrated on float activations)
 * and integer-only inference with fixed-point requantization, TFLite Micro style.
 *
 * Not here: writing C files (export.c), choosing which model or rows to use (callers),
 * MPI, I/O, printing.
 *
 * Invariants:
 * - everything after the input step is integer arithmetic whose every intermediate is
 *   bounded (see FA_Q_MAX_FAN_IN and FA_Q_BIAS_LIMIT), so no signed overflow can occur
 *   and the result is the same on any two's-complement machine with an arithmetic right
 *   shift of negative int32 (every GCC/Clang target; C leaves it implementation-defined);
 * - the input step is two IEEE-754 single operations and an exact round-half-away;
 * - the integer kernels (requantization, kernel_fc, the input step, argmax) live in
 *   int8_kernels.h, which this file #includes and export.c writes verbatim into the
 *   exported model.c: host and microcontroller run one source.
 * Shapes: D = inputs, K = classes, fi/fo = fan-in/fan-out of a layer, W (fi, fo) in the
 * float buffer (model.h), w (fo, fi) here: output channel j's weights are contiguous so
 * that one output is one int8 dot product (CMSIS-NN's fully-connected layout).
 */
#include "fedalign/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/check.h"
#include "fedalign/timer.h"
#include "int8_kernels.h"

// ----------------------------------------------------------------------------
// fixed-point building blocks (gemmlowp fixedpoint.h, TFLite quantization_util.cc)

void quant_multiplier(double M, int32_t *mult, int32_t *shift) {
    CHECK(M >= 0.0 && isfinite(M), "quant_multiplier: multiplier %g is not finite and >= 0", M);
    *mult = 0;
    *shift = 0;
    if (M == 0.0) return;
    int e = 0;
    double f = frexp(M, &e); /* M = f * 2^e, f in [0.5, 1) */
    long long qf = llround(f * 2147483648.0);
    if (qf == 2147483648LL) { /* f rounded up to 1 */
        qf /= 2;
        e++;
    }
    if (e < -31) return; /* below 2^-32: every int32 input rounds to 0 anyway */
    if (e > 30) {        /* absurdly large: saturate rather than overflow the left shift */
        *mult = INT32_MAX;
        *shift = 30;
        return;
    }
    *mult = (int32_t)qf;
    *shift = (int32_t)e;
}

int32_t quant_srdhm(int32_t a, int32_t b) { return srdhm(a, b); }

int32_t quant_rdbpot(int32_t x, int32_t e) { return rdbpot(x, e); }

int32_t quant_mul_by_multiplier(int32_t x, int32_t mult, int32_t shift) {
    return requant(x, mult, shift);
}

// ----------------------------------------------------------------------------
// integer inference: the shared kernels (int8_kernels.h) on views of the layers

/* the kernels' view of q's layers (built per call: a handful of pointer copies, and a
 * QModel copied by value with fewer layers, as the unit tests do, stays valid) */
static void kernel_layers(const QModel *q, layer_t *kl) {
    for (size_t l = 0; l < q->n_layers; l++) {
        const QLayer *ly = &q->layer[l];
        kl[l] = (layer_t){.w = ly->w,
                          .bias = ly->bias_fold,
                          .mult = ly->mult,
                          .shift = ly->shift8,
                          .fi = (uint16_t)ly->fan_in, /* <= FA_Q_MAX_FAN_IN (quant_build) */
                          .fo = (uint16_t)ly->fan_out,
                          .out_zp = ly->out_zp,
                          .act_min = ly->act_min};
    }
}

void quant_input(const QModel *q, const float *x_raw, int8_t *xq) {
    for (size_t i = 0; i < q->n_in; i++)
        xq[i] = quantize_x(x_raw[i], q->mean[i], q->in_mul[i], q->in_zp);
}

int quant_predict_q(const QModel *q, const int8_t *xq, int8_t *scratch, int8_t *logits) {
    layer_t kl[FA_Q_MAX_LAYERS];
    kernel_layers(q, kl);
    int8_t *a = scratch, *b = scratch + q->max_width;
    if (xq != a) memcpy(a, xq, q->n_in);
    const int8_t *out = forward(kl, (uint32_t)q->n_layers, a, b);
    if (logits) memcpy(logits, out, q->n_out);
    return (int)argmax(out, (uint32_t)q->n_out);
}

int quant_predict(const QModel *q, const float *x_raw, int8_t *scratch) {
    quant_input(q, x_raw, scratch);
    return quant_predict_q(q, scratch, scratch, NULL);
}

void quant_evaluate(const QModel *q, const Dataset *ds, int32_t *pred, size_t *correct) {
    CHECK(ds->n == 0 || ds->d == q->n_in, "dataset has %zu features, quantized model expects %zu",
          ds->d, q->n_in);
    int8_t *scratch = xmalloc(quant_scratch_bytes(q));
    size_t c = 0;
    for (size_t r = 0; r < ds->n; r++) {
        int p = quant_predict(q, ds->x + r * ds->d, scratch);
        if (pred) pred[r] = p;
        c += p == ds->y[r];
    }
    free(scratch);
    if (correct) *correct = c;
}

void quant_eval_model(const ModelLayout *L, const float *params, const Dataset *calib,
                      const Dataset *test, FaInt8Weights weights, QuantEval *out) {
    if (L->shape.kind == FA_MODEL_CNN1D) { /* the same granularity for conv and dense weights */
        quant_cnn_eval_model(L, params, calib, test, weights, out);
        return;
    }
    QModel q;
    quant_build_mode(&q, L, params, calib, weights);
    memset(out, 0, sizeof *out);
    out->n_test = test->n;
    out->flash_bytes = quant_flash_bytes(&q);
    out->ram_bytes = quant_ram_bytes(&q);
    out->acc_int8 = out->agree = NAN;
    if (test->n > 0) {
        CHECK(test->d == q.n_in, "test rows have %zu features, model expects %zu", test->d, q.n_in);
        int8_t *qs = xmalloc(quant_scratch_bytes(&q));
        float *fs = xmalloc(2 * L->max_width * sizeof(float));
        size_t correct = 0, agree = 0;
        for (size_t r = 0; r < test->n; r++) {
            const float *x = test->x + r * test->d;
            int pq = quant_predict(&q, x, qs);
            correct += pq == test->y[r];
            agree += pq == quant_float_predict(L, params, x, fs, NULL);
        }
        out->acc_int8 = (double)correct / (double)test->n;
        out->agree = (double)agree / (double)test->n;
        free(fs);
        free(qs);
    }
    quant_free(&q);
}

// ----------------------------------------------------------------------------
// float reference forward (one sample, plain loops)

int quant_float_predict(const ModelLayout *L, const float *params, const float *x_raw,
                        float *scratch, float *logits) {
    const size_t D = L->shape.n_in, K = L->shape.n_out;
    float *a = scratch, *b = scratch + L->max_width;
    for (size_t i = 0; i < D; i++) a[i] = (x_raw[i] - params[i]) * params[D + i];
    for (size_t l = 0; l < L->n_layers; l++) {
        const size_t fi = L->fan_in[l], fo = L->fan_out[l];
        const float *W = params + L->w_off[l], *bias = params + L->b_off[l];
        for (size_t j = 0; j < fo; j++) b[j] = bias[j];
        for (size_t i = 0; i < fi; i++) { /* axpy over the row-major (fi, fo) weights */
            const float ai = a[i], *Wi = W + i * fo;
            for (size_t j = 0; j < fo; j++) b[j] += ai * Wi[j];
        }
        if (l + 1 < L->n_layers)
            for (size_t j = 0; j < fo; j++) b[j] = b[j] < 0.0f ? 0.0f : b[j];
        float *t = a;
        a = b;
        b = t;
    }
    size_t best = 0;
    for (size_t k = 1; k < K; k++)
        if (a[k] > a[best]) best = k;
    if (logits) memcpy(logits, a, K * sizeof(float));
    return (int)best;
}

// ----------------------------------------------------------------------------
// build: calibration, weight/bias quantization, multipliers

/* asymmetric int8 for the real range [lo, hi] widened to contain 0 (TFLite: zero must be
 * exactly representable); an empty range gets scale 1 */
static void choose_qparams(float lo, float hi, float *scale, int32_t *zp) {
    double mn = lo < 0.0f ? (double)lo : 0.0, mx = hi > 0.0f ? (double)hi : 0.0;
    double s = (mx - mn) / 255.0;
    if (!(s > 0.0) || !isfinite(s)) {
        *scale = 1.0f;
        *zp = 0;
        return;
    }
    *scale = (float)s;
    double z = -128.0 - mn / (double)*scale;
    long zr = lround(z);
    *zp = (int32_t)(zr < -128 ? -128 : zr > 127 ? 127 : zr);
}

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

/* the largest |W[i, j]| over the output channels j in [j0, j1) of a (fi, fo) layer: one
 * channel (per-channel scales) or all of them (the per-tensor scale) */
static double weight_absmax(const float *W, size_t fi, size_t fo, size_t j0, size_t j1) {
    double amax = 0.0;
    for (size_t i = 0; i < fi; i++)
        for (size_t j = j0; j < j1; j++) amax = fmax(amax, fabs((double)W[i * fo + j]));
    return amax;
}

void quant_build(QModel *q, const ModelLayout *L, const float *params, const Dataset *calib) {
    quant_build_mode(q, L, params, calib, FA_INT8_PER_CHANNEL);
}

void quant_build_mode(QModel *q, const ModelLayout *L, const float *params, const Dataset *calib,
                      FaInt8Weights weights) {
    CHECK(weights == FA_INT8_PER_CHANNEL || weights == FA_INT8_PER_TENSOR,
          "quant_build: unknown weight granularity %d", (int)weights);
    CHECK(q != NULL && L != NULL && params != NULL && calib != NULL, "quant_build: NULL argument");
    CHECK(calib->n >= 1, "quant_build: calibration needs at least one row");
    CHECK(L->shape.kind == FA_MODEL_MLP, "quant_build: the mlp model only (cnn1d: quant_cnn.c)");
    CHECK(calib->d == L->shape.n_in, "calibration rows have %zu features, model expects %zu",
          calib->d, L->shape.n_in);
    memset(q, 0, sizeof *q);
    const size_t D = L->shape.n_in, NLy = L->n_layers;
    q->n_in = D;
    q->n_out = L->shape.n_out;
    q->n_layers = NLy;
    q->max_width = L->max_width;
    q->cal_rows = calib->n;
    q->weights = weights;

    /* one allocation, every array 8-byte aligned inside it */
    size_t bytes = 3 * align8(D * sizeof(float));
    for (size_t l = 0; l < NLy; l++) {
        size_t fi = L->fan_in[l], fo = L->fan_out[l];
        CHECK(fi <= FA_Q_MAX_FAN_IN, "layer %zu has fan-in %zu; int8 inference supports <= %d", l,
              fi, FA_Q_MAX_FAN_IN);
        CHECK(fo <= FA_Q_MAX_FAN_OUT, "layer %zu has fan-out %zu; int8 inference supports <= %d", l,
              fo, FA_Q_MAX_FAN_OUT);
        bytes += align8(fi * fo) + 5 * align8(fo * 4) + align8(fo);
    }
    unsigned char *m = xcalloc(1, bytes);
    q->mem = m;
#define TAKE(ptr, type, count)                                                                     \
    do {                                                                                           \
        ptr = (type *)(void *)m;                                                                   \
        m += align8((count) * sizeof(type));                                                       \
    } while (0)
    TAKE(q->mean, float, D);
    TAKE(q->inv_std, float, D);
    TAKE(q->in_mul, float, D);
    for (size_t l = 0; l < NLy; l++) {
        QLayer *ly = &q->layer[l];
        ly->fan_in = L->fan_in[l];
        ly->fan_out = L->fan_out[l];
        TAKE(ly->w, int8_t, ly->fan_in * ly->fan_out);
        TAKE(ly->bias, int32_t, ly->fan_out);
        TAKE(ly->bias_fold, int32_t, ly->fan_out);
        TAKE(ly->w_scale, float, ly->fan_out);
        TAKE(ly->mult, int32_t, ly->fan_out);
        TAKE(ly->shift, int32_t, ly->fan_out);
        TAKE(ly->shift8, int8_t, ly->fan_out);
    }
#undef TAKE
    memcpy(q->mean, params, D * sizeof(float));
    memcpy(q->inv_std, params + D, D * sizeof(float));

    // ---- calibration: float forward of every calibration row, min/max per tensor
    for (size_t t = 0; t <= NLy; t++) {
        q->cal_lo[t] = INFINITY;
        q->cal_hi[t] = -INFINITY;
    }
    float *scratch = xmalloc(2 * L->max_width * sizeof(float));
    for (size_t r = 0; r < calib->n; r++) {
        const float *x = calib->x + r * D;
        float *a = scratch, *b = scratch + L->max_width;
        for (size_t i = 0; i < D; i++) {
            a[i] = (x[i] - params[i]) * params[D + i];
            if (isfinite(a[i])) {
                q->cal_lo[0] = fminf(q->cal_lo[0], a[i]);
                q->cal_hi[0] = fmaxf(q->cal_hi[0], a[i]);
            }
        }
        for (size_t l = 0; l < NLy; l++) {
            const size_t fi = L->fan_in[l], fo = L->fan_out[l];
            const float *W = params + L->w_off[l], *bias = params + L->b_off[l];
            for (size_t j = 0; j < fo; j++) b[j] = bias[j];
            for (size_t i = 0; i < fi; i++)
                for (size_t j = 0; j < fo; j++) b[j] += a[i] * W[i * fo + j];
            for (size_t j = 0; j < fo; j++) {
                if (l + 1 < NLy && b[j] < 0.0f) b[j] = 0.0f;
                if (isfinite(b[j])) {
                    q->cal_lo[l + 1] = fminf(q->cal_lo[l + 1], b[j]);
                    q->cal_hi[l + 1] = fmaxf(q->cal_hi[l + 1], b[j]);
                }
            }
            float *t = a;
            a = b;
            b = t;
        }
    }
    free(scratch);

    // ---- the input: per-tensor asymmetric int8 of the standardized features
    float s_prev;
    int32_t zp_prev;
    choose_qparams(q->cal_lo[0], q->cal_hi[0], &s_prev, &zp_prev);
    q->in_scale = s_prev;
    q->in_zp = zp_prev;
    for (size_t i = 0; i < D; i++) q->in_mul[i] = (float)((double)q->inv_std[i] / (double)s_prev);

    // ---- layers
    for (size_t l = 0; l < NLy; l++) {
        QLayer *ly = &q->layer[l];
        const size_t fi = ly->fan_in, fo = ly->fan_out;
        const float *W = params + L->w_off[l], *bias = params + L->b_off[l];
        const bool hidden = l + 1 < NLy;
        ly->in_scale = s_prev;
        ly->in_zp = zp_prev;
        choose_qparams(q->cal_lo[l + 1], q->cal_hi[l + 1], &ly->out_scale, &ly->out_zp);
        ly->act_min = hidden ? ly->out_zp : -128; /* fused ReLU: nothing below real 0 */
        ly->act_max = 127;
        /* per tensor: every channel gets the layer's scale, so the kernels, the C export
         * and the per-channel arrays stay as they are */
        const bool per_tensor = weights == FA_INT8_PER_TENSOR;
        const double tensor_amax = per_tensor ? weight_absmax(W, fi, fo, 0, fo) : 0.0;
        for (size_t j = 0; j < fo; j++) {
            double amax = per_tensor ? tensor_amax : weight_absmax(W, fi, fo, j, j + 1);
            CHECK(isfinite(amax) && isfinite(bias[j]),
                  "quant_build: layer %zu output %zu has a non-finite weight or bias", l, j);
            /* an all-zero channel keeps a usable scale so that its bias still quantizes */
            double ws = amax > 0.0 ? amax / 127.0 : 1.0 / 127.0;
            ly->w_scale[j] = (float)ws;
            ws = (double)ly->w_scale[j]; /* the float scale is the one the multiplier uses */
            int32_t wsum = 0;
            for (size_t i = 0; i < fi; i++) {
                double v = round((double)W[i * fo + j] / ws);
                v = v > 127.0 ? 127.0 : v < -127.0 ? -127.0 : v;
                ly->w[j * fi + i] = (int8_t)v;
                wsum += (int32_t)v;
            }
            double bs = (double)ly->in_scale * ws;
            double bq = round((double)bias[j] / bs);
            const double lim = (double)FA_Q_BIAS_LIMIT;
            bq = bq > lim ? lim : bq < -lim ? -lim : bq;
            ly->bias[j] = (int32_t)bq;
            /* |bias| <= 2^30, |in_zp * wsum| <= 128 * 127 * fi < 2^29.1: no overflow */
            ly->bias_fold[j] = ly->bias[j] - ly->in_zp * wsum;
            quant_multiplier(bs / (double)ly->out_scale, &ly->mult[j], &ly->shift[j]);
            ly->shift8[j] = (int8_t)ly->shift[j]; /* in [-31, 30] */
        }
        s_prev = ly->out_scale;
        zp_prev = ly->out_zp;
    }
}

void quant_free(QModel *q) {
    if (!q) return;
    free(q->mem);
    memset(q, 0, sizeof *q);
}

size_t quant_scratch_bytes(const QModel *q) { return 2 * q->max_width; }

size_t quant_ram_bytes(const QModel *q) { return 2 * q->max_width; }

size_t quant_flash_bytes(const QModel *q) {
    size_t n = 2 * q->n_in * sizeof(float) + sizeof(int32_t); /* mean, in_mul, in_zp */
    for (size_t l = 0; l < q->n_layers; l++) {
        size_t fi = q->layer[l].fan_in, fo = q->layer[l].fan_out;
        n += fi * fo                /* int8 weights */
             + fo * sizeof(int32_t) /* folded biases */
             + fo * sizeof(int32_t) /* multipliers */
             + fo;                  /* int8 shifts */
    }
    return n;
}

// ----------------------------------------------------------------------------
// latency

void quant_bench(const QModel *q, const ModelLayout *L, const float *params, const Dataset *ds,
                 size_t reps, QuantBench *out) {
    CHECK(ds->n >= 1 && reps >= 1, "quant_bench: need rows (%zu) and repetitions (%zu)", ds->n,
          reps);
    CHECK(ds->d == q->n_in && ds->d == L->shape.n_in, "quant_bench: feature count mismatch");
    memset(out, 0, sizeof *out);
    out->samples = ds->n;
    out->reps = reps;
    float *fs = xmalloc(2 * L->max_width * sizeof(float));
    int8_t *qs = xmalloc(quant_scratch_bytes(q));
    double best_f = INFINITY, best_q = INFINITY;
    uint64_t sink = 0;
    for (size_t rep = 0; rep < reps; rep++) {
        /* interleaved, so that a frequency change or a noisy neighbour hits both */
        double t0 = timer_now();
        for (size_t r = 0; r < ds->n; r++)
            sink += (uint64_t)quant_float_predict(L, params, ds->x + r * ds->d, fs, NULL);
        double t1 = timer_now();
        for (size_t r = 0; r < ds->n; r++)
            sink += (uint64_t)quant_predict(q, ds->x + r * ds->d, qs);
        double t2 = timer_now();
        best_f = fmin(best_f, t1 - t0);
        best_q = fmin(best_q, t2 - t1);
    }
    for (size_t r = 0; r < ds->n; r++)
        out->agree += quant_float_predict(L, params, ds->x + r * ds->d, fs, NULL) ==
                      quant_predict(q, ds->x + r * ds->d, qs);
    free(qs);
    free(fs);
    out->float_ns = best_f * 1e9 / (double)ds->n;
    out->int8_ns = best_q * 1e9 / (double)ds->n;
    out->ratio = out->int8_ns > 0.0 ? out->float_ns / out->int8_ns : NAN;
    out->sink = sink;
}
