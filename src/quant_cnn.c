/*
 * quant_cnn.c: post-training int8 quantization of a cnn1d (model.h) and its integer-only
 * inference, with quant.c's scheme (quant.h): symmetric per-output-channel int8 weights
 * (or one scale per layer with --int8-weights per-tensor, for every conv and dense layer),
 * int32 biases at in_scale * w_scale, asymmetric per-tensor int8 activations calibrated on
 * float activations, Q31 requantization with the ReLU fused into the clamp.
 *
 * Per cnn1d layer:
 * - input: per-tensor scale and zero point of the standardized window; each element goes
 *   through quant.h's float step with its channel's mean and in_mul = inv_std / in_scale;
 * - conv block: a dense layer on each window of k steps (w (c_out, k * c_in)), output
 *   scale from the calibrated post-ReLU range; max-pool keeps that scale and zero point
 *   (TFLite's MAX_POOL_2D needs equal ones);
 * - global average pooling: its own scale and zero point from the calibrated range of the
 *   pooled means, requantized as TFLite's integer MEAN does (rounding half away from zero).
 *   The means span a fraction of the map's range (a map peaking at 37 averages to at most
 *   6 in the paper preset's models): in the map's scale they kept a few dozen levels, and
 *   int8 lost 9 points of accuracy there (fedmetaalign+P, 10 clients; 1.3 with their own);
 * - dense head: as quant.c's MLP layers.
 * The integer kernels (kernel_fc, kernel_conv, kernel_maxpool, kernel_mean, quantize_x,
 * argmax) are src/int8_kernels.h's, the source an export would carry.
 *
 * Not here: MPI, I/O, printing. Deterministic: a pure function of (layout, params, rows).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/check.h"
#include "fedalign/quant.h"
#include "model_cnn.h"
#define FA_INT8_CNN
#include "int8_kernels.h"

// ----------------------------------------------------------------------------
// build

/* quant.c's choose_qparams: asymmetric int8 for [lo, hi] widened to contain 0 */
static void qparams(float lo, float hi, float *scale, int32_t *zp) {
    double mn = lo < 0.0f ? (double)lo : 0.0, mx = hi > 0.0f ? (double)hi : 0.0;
    double s = (mx - mn) / 255.0;
    if (!(s > 0.0) || !isfinite(s)) {
        *scale = 1.0f;
        *zp = 0;
        return;
    }
    *scale = (float)s;
    long zr = lround(-128.0 - mn / (double)*scale);
    *zp = (int32_t)(zr < -128 ? -128 : zr > 127 ? 127 : zr);
}

/* One dense layer (W (fi, fo) row-major in the float buffer, the conv's (k * c_in, c_out)
 * too) quantized as quant.c quantizes an MLP layer; ly's arrays are allocated already. */
static void quant_layer(QLayer *ly, const float *W, const float *bias, float in_scale,
                        int32_t in_zp, float lo, float hi, bool relu, bool per_tensor) {
    const size_t fi = ly->fan_in, fo = ly->fan_out;
    /* per tensor: one scale for the layer (what Arm NN's fully-connected layer accepts) */
    double tensor_amax = 0.0;
    if (per_tensor)
        for (size_t e = 0; e < fi * fo; e++) tensor_amax = fmax(tensor_amax, fabs((double)W[e]));
    ly->in_scale = in_scale;
    ly->in_zp = in_zp;
    qparams(lo, hi, &ly->out_scale, &ly->out_zp);
    ly->act_min = relu ? ly->out_zp : -128;
    ly->act_max = 127;
    for (size_t j = 0; j < fo; j++) {
        double amax = 0.0;
        for (size_t i = 0; i < fi; i++) amax = fmax(amax, fabs((double)W[i * fo + j]));
        if (per_tensor) amax = tensor_amax;
        CHECK(isfinite(amax) && isfinite(bias[j]),
              "quant_cnn_build: output %zu has a non-finite weight or bias", j);
        ly->w_scale[j] = (float)(amax > 0.0 ? amax / 127.0 : 1.0 / 127.0);
        const double ws = (double)ly->w_scale[j];
        int32_t wsum = 0;
        for (size_t i = 0; i < fi; i++) {
            double v = round((double)W[i * fo + j] / ws);
            v = v > 127.0 ? 127.0 : v < -127.0 ? -127.0 : v;
            ly->w[j * fi + i] = (int8_t)v;
            wsum += (int32_t)v;
        }
        const double bs = (double)in_scale * ws, lim = (double)FA_Q_BIAS_LIMIT;
        double bq = round((double)bias[j] / bs);
        bq = bq > lim ? lim : bq < -lim ? -lim : bq;
        ly->bias[j] = (int32_t)bq;
        ly->bias_fold[j] = ly->bias[j] - in_zp * wsum;
        quant_multiplier(bs / (double)ly->out_scale, &ly->mult[j], &ly->shift[j]);
        ly->shift8[j] = (int8_t)ly->shift[j];
    }
}

/* lo/hi (2 + n_conv + n_layers): the range of the standardized input [0], of every conv
 * block's post-ReLU output [1 + b] (its pooled values lie inside it), of every dense
 * layer's output [1 + n_conv + l], and of the global average pooling's means [last], over
 * the calibration rows; the float forward is the training kernels' (cnn_chunk_forward),
 * chunk by chunk */
static void calibrate(const ModelLayout *L, const float *params, const Dataset *calib, float *lo,
                      float *hi) {
    const size_t nt = 2 + L->n_conv + L->n_layers, NL = FA_CHUNK;
    for (size_t i = 0; i < nt; i++) {
        lo[i] = INFINITY;
        hi[i] = -INFINITY;
    }
    float *act = xalloc_aligned(NL * L->act_size * sizeof(float));
    for (size_t r0 = 0; r0 < calib->n; r0 += NL) {
        const size_t R = calib->n - r0 < NL ? calib->n - r0 : NL;
        cnn_chunk_forward(L, params, calib->x, NULL, r0, R, act);
        for (size_t i = 0; i < nt; i++) {
            size_t off, n; /* floats of the tensor per lane */
            if (i == 0) off = 0, n = L->shape.n_in;
            else if (i == nt - 1) off = L->a_gap, n = L->fan_in[0];
            else if (i <= L->n_conv)
                off = L->a_conv[i - 1], n = L->len_conv[i - 1] * L->c_out[i - 1];
            else {
                size_t l = i - 1 - L->n_conv;
                off = L->a_gap + L->fan_in[0];
                for (size_t m = 0; m < l; m++) off += L->fan_out[m];
                n = L->fan_out[l];
            }
            for (size_t e = 0; e < n; e++)
                for (size_t r = 0; r < R; r++) {
                    float v = act[(off + e) * NL + r];
                    if (isfinite(v)) {
                        lo[i] = fminf(lo[i], v);
                        hi[i] = fmaxf(hi[i], v);
                    }
                }
        }
    }
    free(act);
}

/* The pooled means' scale and zero point from their range [lo, hi], and the multiplier from
 * the map's scale s_map. kernel_mean shifts the int32 sum left by gap_shift before the Q31
 * multiply: |sum| <= len * 255 must stay below 2^31 after it, so a mean range far narrower
 * than the map's is widened until it does (it never is with len <= 2^16 and a ratio of
 * the scales below 128). */
static void gap_qparams(QCnn *q, float lo, float hi, float s_map, uint32_t len) {
    qparams(lo, hi, &q->gap_scale, &q->gap_zp);
    for (;;) {
        quant_multiplier((double)s_map / (double)q->gap_scale, &q->gap_mult, &q->gap_shift);
        if (q->gap_shift <= 0 || (int64_t)len * 255 * ((int64_t)1 << q->gap_shift) < INT32_MAX)
            break;
        q->gap_scale *= 2.0f; /* the same zero point: the range only widens */
    }
}

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

static size_t layer_bytes(size_t fi, size_t fo) { return align8(fi * fo) + 6 * align8(fo * 4); }

/* point ly's arrays into the block at *m */
static void layer_take(QLayer *ly, size_t fi, size_t fo, unsigned char **m) {
    ly->fan_in = fi;
    ly->fan_out = fo;
    void **arr[] = {(void **)&ly->w,       (void **)&ly->bias, (void **)&ly->bias_fold,
                    (void **)&ly->w_scale, (void **)&ly->mult, (void **)&ly->shift,
                    (void **)&ly->shift8};
    for (size_t i = 0; i < sizeof arr / sizeof arr[0]; i++) {
        *arr[i] = *m;
        *m += i == 0 ? align8(fi * fo) : align8(fo * 4);
    }
}

void quant_cnn_build(QCnn *q, const ModelLayout *L, const float *params, const Dataset *calib) {
    quant_cnn_build_mode(q, L, params, calib, FA_INT8_PER_CHANNEL);
}

void quant_cnn_build_mode(QCnn *q, const ModelLayout *L, const float *params, const Dataset *calib,
                          FaInt8Weights weights) {
    CHECK(weights == FA_INT8_PER_CHANNEL || weights == FA_INT8_PER_TENSOR,
          "quant_cnn_build: unknown weight granularity %d", (int)weights);
    CHECK(q != NULL && L != NULL && params != NULL && calib != NULL,
          "quant_cnn_build: NULL argument");
    CHECK(L->shape.kind == FA_MODEL_CNN1D, "quant_cnn_build: not a cnn1d");
    CHECK(calib->n >= 1, "quant_cnn_build: calibration needs at least one row");
    CHECK(calib->d == L->shape.n_in, "calibration rows have %zu values, model expects %zu",
          calib->d, L->shape.n_in);
    CHECK(L->n_layers <= FA_Q_MAX_LAYERS && L->len_pool[L->n_conv - 1] <= 65536,
          "quant_cnn_build: shape outside the int8 kernels' bounds");
    memset(q, 0, sizeof *q);
    q->weights = weights;
    const bool per_tensor = weights == FA_INT8_PER_TENSOR;
    const size_t C = L->shape.win_ch;
    q->win_len = L->shape.win_len;
    q->win_ch = C;
    q->n_out = L->shape.n_out;
    q->n_conv = L->n_conv;
    q->pool = L->shape.pool;
    q->n_layers = L->n_layers;
    q->cal_rows = calib->n;
    q->max_act = L->max_width;
    size_t bytes = 2 * align8(C * sizeof(float));
    for (size_t b = 0; b < L->n_conv; b++) {
        const size_t fi = L->c_k[b] * L->c_in[b];
        CHECK(fi <= FA_Q_MAX_FAN_IN && L->c_out[b] <= FA_Q_MAX_FAN_OUT,
              "conv block %zu is outside the int8 kernels' bounds", b);
        bytes += layer_bytes(fi, L->c_out[b]);
    }
    for (size_t l = 0; l < L->n_layers; l++) bytes += layer_bytes(L->fan_in[l], L->fan_out[l]);
    unsigned char *m = xcalloc(1, bytes);
    q->mem = m;
    q->mean = (float *)(void *)m;
    m += align8(C * sizeof(float));
    q->in_mul = (float *)(void *)m;
    m += align8(C * sizeof(float));

    float lo[2 + FA_MAX_CONV + FA_Q_MAX_LAYERS], hi[2 + FA_MAX_CONV + FA_Q_MAX_LAYERS];
    calibrate(L, params, calib, lo, hi);
    float s;
    int32_t zp;
    qparams(lo[0], hi[0], &s, &zp);
    q->in_scale = s;
    q->in_zp = zp;
    for (size_t c = 0; c < C; c++) {
        q->mean[c] = params[c];
        q->in_mul[c] = (float)((double)params[C + c] / (double)s);
    }
    for (size_t b = 0; b < L->n_conv; b++) {
        QConv *cv = &q->conv[b];
        cv->k = L->c_k[b];
        cv->c_in = L->c_in[b];
        cv->len_conv = L->len_conv[b];
        cv->len_pool = L->len_pool[b];
        layer_take(&cv->fc, cv->k * cv->c_in, L->c_out[b], &m);
        quant_layer(&cv->fc, params + L->cw_off[b], params + L->cb_off[b], s, zp, lo[1 + b],
                    hi[1 + b], true, per_tensor);
        s = cv->fc.out_scale;
        zp = cv->fc.out_zp;
    }
    gap_qparams(q, lo[1 + L->n_conv + L->n_layers], hi[1 + L->n_conv + L->n_layers], s,
                (uint32_t)L->len_pool[L->n_conv - 1]);
    s = q->gap_scale;
    zp = q->gap_zp;
    for (size_t l = 0; l < L->n_layers; l++) {
        QLayer *ly = &q->layer[l];
        layer_take(ly, L->fan_in[l], L->fan_out[l], &m);
        const size_t t = 1 + L->n_conv + l;
        quant_layer(ly, params + L->w_off[l], params + L->b_off[l], s, zp, lo[t], hi[t],
                    l + 1 < L->n_layers, per_tensor);
        s = ly->out_scale;
        zp = ly->out_zp;
    }
}

void quant_cnn_free(QCnn *q) {
    if (!q) return;
    free(q->mem);
    memset(q, 0, sizeof *q);
}

size_t quant_cnn_scratch_bytes(const QCnn *q) { return 2 * q->max_act; }

static size_t layer_flash(const QLayer *ly) {
    /* int8 weights, int32 folded bias and multiplier, int8 shift, zero point and clamp */
    return ly->fan_in * ly->fan_out + ly->fan_out * (4 + 4 + 1) + 2 * sizeof(int32_t);
}

size_t quant_cnn_flash_bytes(const QCnn *q) {
    size_t n = 2 * q->win_ch * sizeof(float) + sizeof(int32_t); /* mean, in_mul, in_zp */
    for (size_t b = 0; b < q->n_conv; b++) n += layer_flash(&q->conv[b].fc);
    n += 3 * sizeof(int32_t); /* the mean's multiplier, shift and zero point */
    for (size_t l = 0; l < q->n_layers; l++) n += layer_flash(&q->layer[l]);
    return n;
}

// ----------------------------------------------------------------------------
// integer inference

static layer_t kernel_view(const QLayer *ly) {
    return (layer_t){.w = ly->w,
                     .bias = ly->bias_fold,
                     .mult = ly->mult,
                     .shift = ly->shift8,
                     .fi = (uint16_t)ly->fan_in,
                     .fo = (uint16_t)ly->fan_out,
                     .out_zp = ly->out_zp,
                     .act_min = ly->act_min};
}

void quant_cnn_input(const QCnn *q, const float *x_raw, int8_t *xq) {
    const size_t T = q->win_len, C = q->win_ch;
    for (size_t i = 0; i < T; i++)
        for (size_t c = 0; c < C; c++)
            xq[i * C + c] = quantize_x(x_raw[i * C + c], q->mean[c], q->in_mul[c], q->in_zp);
}

int quant_cnn_predict(const QCnn *q, const float *x_raw, int8_t *scratch, int8_t *logits) {
    int8_t *a = scratch, *b = scratch + q->max_act, *t;
    quant_cnn_input(q, x_raw, a);
    for (size_t k = 0; k < q->n_conv; k++) {
        const QConv *cv = &q->conv[k];
        const layer_t ly = kernel_view(&cv->fc);
        kernel_conv(&ly, (uint32_t)cv->len_conv, (uint32_t)cv->c_in, a, b);
        if (q->pool > 1) {
            kernel_maxpool(b, (uint32_t)cv->len_pool, ly.fo, (uint32_t)q->pool, a);
        } else {
            t = a;
            a = b;
            b = t;
        }
    }
    const QConv *last = &q->conv[q->n_conv - 1];
    kernel_mean(a, (uint32_t)last->len_pool, (uint32_t)last->fc.fan_out, last->fc.out_zp,
                q->gap_mult, q->gap_shift, q->gap_zp, b);
    layer_t kl[FA_Q_MAX_LAYERS];
    for (size_t l = 0; l < q->n_layers; l++) kl[l] = kernel_view(&q->layer[l]);
    const int8_t *out = forward(kl, (uint32_t)q->n_layers, b, a);
    if (logits) memcpy(logits, out, q->n_out);
    return (int)argmax(out, (uint32_t)q->n_out);
}

void quant_cnn_eval_model(const ModelLayout *L, const float *params, const Dataset *calib,
                          const Dataset *test, FaInt8Weights weights, QuantEval *out) {
    QCnn q;
    quant_cnn_build_mode(&q, L, params, calib, weights);
    memset(out, 0, sizeof *out);
    out->n_test = test->n;
    out->flash_bytes = quant_cnn_flash_bytes(&q);
    out->ram_bytes = quant_cnn_scratch_bytes(&q);
    out->acc_int8 = out->agree = NAN;
    if (test->n > 0) {
        CHECK(test->d == L->shape.n_in, "test rows have %zu values, model expects %zu", test->d,
              L->shape.n_in);
        int8_t *qs = xmalloc(quant_cnn_scratch_bytes(&q));
        const size_t K = L->shape.n_out, bm = 64;
        Workspace ws;
        workspace_build(&ws, L, bm);
        float *lg = xmalloc(bm * K * sizeof(float));
        size_t correct = 0, agree = 0;
        for (size_t r0 = 0; r0 < test->n; r0 += bm) {
            const size_t B = test->n - r0 < bm ? test->n - r0 : bm;
            model_forward(L, params, test->x + r0 * test->d, B, lg, &ws);
            for (size_t r = 0; r < B; r++) {
                int pq = quant_cnn_predict(&q, test->x + (r0 + r) * test->d, qs, NULL);
                size_t pf = 0;
                for (size_t k = 1; k < K; k++)
                    if (lg[r * K + k] > lg[r * K + pf]) pf = k;
                correct += pq == test->y[r0 + r];
                agree += (size_t)pq == pf;
            }
        }
        out->acc_int8 = (double)correct / (double)test->n;
        out->agree = (double)agree / (double)test->n;
        free(lg);
        workspace_free(&ws);
        free(qs);
    }
    quant_cnn_free(&q);
}
