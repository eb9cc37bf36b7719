/*
 * model_cnn_layout.c: the cnn1d model's layout (model.h), He initialization, per-channel
 * standardization and FLOP counts. Its per-chunk kernels are model_cnn.c's (a compute
 * kernel file: no layout arithmetic there beyond reading ModelLayout).
 *
 * Invariant: the cnn1d parameter layout is computed here only (cnn_layout, reached through
 * model_layout), in the order model.h documents.
 */
#include <math.h>
#include <string.h>

#include "fedalign/check.h"
#include "fedalign/rng.h"
#include "model_cnn.h"
// ----------------------------------------------------------------------------
// layout, initialization, standardization

size_t model_cnn_out_len(const ModelShape *s) {
    size_t len = s->win_len, pool = s->pool ? s->pool : 1;
    if (s->n_conv == 0 || s->n_conv > FA_MAX_CONV) return 0;
    for (size_t b = 0; b < s->n_conv; b++) {
        if (s->conv_k[b] < 1 || len < s->conv_k[b]) return 0;
        len = (len - s->conv_k[b] + 1) / pool;
        if (len == 0) return 0;
    }
    return len;
}

size_t cnn_layout(ModelLayout *L, const ModelShape *shape) {
    const size_t T = shape->win_len, C = shape->win_ch;
    CHECK(T >= 1 && C >= 1 && T * C == shape->n_in,
          "cnn1d needs a raw window: %zu steps x %zu channels for %zu inputs", T, C, shape->n_in);
    CHECK(shape->n_out >= 1 && shape->n_out <= FA_MAX_CLASSES,
          "model outputs must be in [1, %d], got %zu", FA_MAX_CLASSES, shape->n_out);
    CHECK(shape->n_hidden <= FA_MAX_HIDDEN, "at most %d hidden layers, got %zu", FA_MAX_HIDDEN,
          shape->n_hidden);
    CHECK(shape->pool >= 1, "cnn1d pool size must be >= 1");
    CHECK(model_cnn_out_len(shape) >= 1, "a window of %zu steps is too short for the conv blocks",
          T);
    memset(L, 0, sizeof *L);
    L->shape = *shape;
    L->n_norm = C;
    size_t off = 2 * C; /* mean | inv_std, per channel */
    L->train_off = off;
    size_t len = T, ch = C, act = T * C, maxw = T * C;
    L->n_conv = shape->n_conv;
    for (size_t b = 0; b < L->n_conv; b++) {
        size_t k = shape->conv_k[b], co = shape->conv_ch[b];
        CHECK(co >= 1 && co <= 4096, "conv block %zu has %zu channels", b, co);
        L->c_in[b] = ch;
        L->c_out[b] = co;
        L->c_k[b] = k;
        L->len_in[b] = len;
        L->len_conv[b] = len - k + 1;
        L->len_pool[b] = L->len_conv[b] / shape->pool;
        L->cw_off[b] = off;
        off += k * ch * co;
        L->cb_off[b] = off;
        off += co;
        L->a_in[b] = act - len * ch;
        L->a_conv[b] = act;
        act += L->len_conv[b] * co;
        if (shape->pool > 1) {
            L->a_pool[b] = act;
            act += L->len_pool[b] * co;
        } else {
            L->a_pool[b] = L->a_conv[b];
        }
        if (L->len_conv[b] * co > maxw) maxw = L->len_conv[b] * co;
        len = L->len_pool[b];
        ch = co;
    }
    L->a_gap = act;
    act += ch;
    /* the dense head: the MLP's layers on the ch pooled channels */
    return model_dense_layout(L, ch, off, maxw, act);
}

void cnn_init(const ModelLayout *L, float *params, uint64_t seed, uint64_t stream) {
    const size_t C = L->n_norm;
    for (size_t i = 0; i < C; i++) {
        params[i] = 0.0f;
        params[C + i] = 1.0f;
    }
    /* He-uniform as the MLP's (Var = 2 / fan_in; a conv's fan-in is k * c_in), one stream,
     * weights drawn in layout order: conv blocks, then the dense head */
    Rng r;
    rng_init(&r, seed, FA_RNG_INIT, stream, 0, 0);
    for (size_t b = 0; b < L->n_conv; b++) {
        size_t fi = L->c_k[b] * L->c_in[b], nw = fi * L->c_out[b];
        double a = sqrt(6.0 / (double)fi);
        float *W = params + L->cw_off[b];
        for (size_t j = 0; j < nw; j++) W[j] = (float)((2.0 * rng_uniform(&r) - 1.0) * a);
        memset(params + L->cb_off[b], 0, L->c_out[b] * sizeof(float));
    }
    for (size_t l = 0; l < L->n_layers; l++) {
        double a = sqrt(6.0 / (double)L->fan_in[l]);
        float *W = params + L->w_off[l];
        size_t nw = L->fan_in[l] * L->fan_out[l];
        for (size_t j = 0; j < nw; j++) W[j] = (float)((2.0 * rng_uniform(&r) - 1.0) * a);
        memset(params + L->b_off[l], 0, L->fan_out[l] * sizeof(float));
    }
}

void cnn_set_norm(const ModelLayout *L, float *params, const double *mean, const double *std) {
    const size_t T = L->shape.win_len, C = L->n_norm;
    for (size_t c = 0; c < C; c++) {
        double m1 = 0.0, m2 = 0.0;
        for (size_t t = 0; t < T; t++) {
            double m = mean[t * C + c], s = std[t * C + c];
            CHECK(isfinite(m), "standardization mean of input %zu is not finite", t * C + c);
            m1 += m;
            m2 += s * s + m * m;
        }
        m1 /= (double)T;
        m2 /= (double)T;
        double s = sqrt(fmax(m2 - m1 * m1, 0.0));
        /* the MLP's rule for a constant channel (model_set_norm) */
        bool ok = isfinite(s) && s > 1e-20 && s > 1e-7 * fabs(m1);
        params[c] = (float)m1;
        params[C + c] = (float)(ok ? 1.0 / s : 1.0);
    }
}

double model_flops_forward(const ModelLayout *L) {
    double f = 0.0;
    for (size_t b = 0; b < L->n_conv; b++)
        f += 2.0 * (double)L->len_conv[b] * (double)(L->c_k[b] * L->c_in[b]) * (double)L->c_out[b];
    for (size_t l = 0; l < L->n_layers; l++)
        f += 2.0 * (double)L->fan_in[l] * (double)L->fan_out[l];
    return f;
}

double model_flops_train_sample(const ModelLayout *L) {
    /* errors go back through every layer whose input is not the data: the MLP's dense
     * layers l >= 1; the cnn1d's whole head and its conv blocks b >= 1 */
    double back = 0.0;
    for (size_t b = 1; b < L->n_conv; b++)
        back +=
            2.0 * (double)L->len_conv[b] * (double)(L->c_k[b] * L->c_in[b]) * (double)L->c_out[b];
    for (size_t l = L->n_conv ? 0 : 1; l < L->n_layers; l++)
        back += 2.0 * (double)L->fan_in[l] * (double)L->fan_out[l];
    return 2.0 * model_flops_forward(L) + back;
}
