/*
 * model_cnn.c: the compute kernels of the cnn1d model (model.h), a small 1D-CNN on raw
 * windows on the same one float buffer as the MLP: the per-chunk forward pass and softmax
 * cross-entropy gradient that model.c's public kernels (model_forward, model_loss_grad*,
 * model_evaluate) call for FA_MODEL_CNN1D. The layout, initialization and standardization
 * are model_cnn_layout.c's.
 *
 * Not here: the chunking of a batch, the chunk-order sum of the partial gradients, the
 * threading and the evaluation tally: model.c does them for both models, so the
 * reproducibility contract (bit-identical for any thread count, threaded or not) holds
 * unchanged. Kernels do not allocate, print or talk, and hold no global state.
 *
 * Shapes: NL = FA_CHUNK lanes = the rows of one chunk; a sequence of len time steps by ch
 * channels is stored [t][c][lane] (element (t, c, r) at (t * ch + c) * NL + r), so the conv
 * window of k steps at t is the contiguous (k * ch, NL) block at t * ch * NL, and a conv
 * output step is the MLP's dense layer on it (W (k * ch, c_out) row-major). Every row is
 * computed by the same operations in the same order whatever lane it occupies. Lanes
 * r >= R of a partial chunk hold zero inputs and get a zero loss gradient, so they add
 * exact zeros to the parameter gradients.
 */
#include "isa_kernels.h" /* first: per-ISA names (CMakeLists.txt FA_KERNEL_SOURCES) */

#include "model_cnn.h"

#include <math.h>
#include <string.h>

#define NL FA_CHUNK

// ----------------------------------------------------------------------------
// lanes: NL floats, one per row of the chunk (GCC/clang generic vectors, else arrays)

#include "lanes.h" /* lanes_t and its operations (shared with model.c) */

#if defined(__GNUC__)
/* max-pool backward, one window element y of the window whose max is pv: dv where y is
 * the first element equal to pv (found marks the lanes that had one) and y > 0 (the
 * ReLU's derivative), else +0 */
static inline lanes_t pool_pick(lanes_t y, lanes_t pv, lanes_t dv, lanes_t *found) {
    LANES_EACH {
        ivec_t eq = y.v[i] == pv.v[i], seen = (ivec_t)found->v[i];
        ivec_t hit = eq & ~seen & (y.v[i] > (vec_t){0});
        found->v[i] = (vec_t)(seen | eq);
        dv.v[i] = (vec_t)((ivec_t)dv.v[i] & hit);
    }
    return dv;
}
#else
/* found: nonzero bits mark lanes that met their maximum already */
static inline lanes_t pool_pick(lanes_t y, lanes_t pv, lanes_t dv, lanes_t *found) {
    for (size_t i = 0; i < NL; i++) {
        bool seen = found->v[i] != 0.0f, eq = y.v[i] == pv.v[i];
        dv.v[i] = eq && !seen && y.v[i] > 0.0f ? dv.v[i] : 0.0f;
        if (eq) found->v[i] = 1.0f;
    }
    return dv;
}
#endif

/* the lanes' sum, lane 0 first */
static inline float hsum(lanes_t x) {
    float s = lanes_get(x, 0);
    for (size_t r = 1; r < NL; r++) s += lanes_get(x, r);
    return s;
}
static inline void put(float *g, float s, bool add) { *g = add ? *g + s : s; }

// ----------------------------------------------------------------------------
// forward kernels

/* out (fo, NL) = b + W^T in, W (fi, fo) row-major, in (fi, NL); ReLU fused into the store.
 * Every output adds b, then i = 0, 1, ... in order; eight (then four) outputs share each
 * input load: eight independent sums hide the latency of the add (contraction is off, so
 * each step is a dependent mul then add), which four did not. */
static void dense_fwd(const float *restrict W, const float *restrict b, const float *restrict in,
                      size_t fi, size_t fo, float *restrict out, bool use_relu) {
    size_t j = 0;
    for (; j + 8 <= fo; j += 8) {
        lanes_t a[8];
        for (size_t u = 0; u < 8; u++) a[u] = lanes_splat(b[j + u]);
        const float *w = W + j;
        for (size_t i = 0; i < fi; i++, w += fo) {
            lanes_t x = lanes_load(in + i * NL);
            for (size_t u = 0; u < 8; u++) a[u] = lanes_madd(a[u], w[u], x);
        }
        for (size_t u = 0; u < 8; u++) lanes_store(out + (j + u) * NL, use_relu ? lanes_relu(a[u]) : a[u]);
    }
    for (; j + 4 <= fo; j += 4) {
        lanes_t a0 = lanes_splat(b[j]), a1 = lanes_splat(b[j + 1]), a2 = lanes_splat(b[j + 2]),
                a3 = lanes_splat(b[j + 3]);
        const float *w = W + j;
        for (size_t i = 0; i < fi; i++, w += fo) {
            lanes_t x = lanes_load(in + i * NL);
            a0 = lanes_madd(a0, w[0], x);
            a1 = lanes_madd(a1, w[1], x);
            a2 = lanes_madd(a2, w[2], x);
            a3 = lanes_madd(a3, w[3], x);
        }
        lanes_store(out + j * NL, use_relu ? lanes_relu(a0) : a0);
        lanes_store(out + (j + 1) * NL, use_relu ? lanes_relu(a1) : a1);
        lanes_store(out + (j + 2) * NL, use_relu ? lanes_relu(a2) : a2);
        lanes_store(out + (j + 3) * NL, use_relu ? lanes_relu(a3) : a3);
    }
    for (; j < fo; j++) {
        lanes_t a = lanes_splat(b[j]);
        for (size_t i = 0; i < fi; i++) a = lanes_madd(a, W[i * fo + j], lanes_load(in + i * NL));
        lanes_store(out + j * NL, use_relu ? lanes_relu(a) : a);
    }
}

/* p (Lp, co) = max over each pool window of y (Lc, co); the first of equal values wins */
static void pool_fwd(const float *restrict y, size_t Lp, size_t co, size_t P, float *restrict p) {
    for (size_t t = 0; t < Lp; t++)
        for (size_t j = 0; j < co; j++) {
            lanes_t m = lanes_load(y + (t * P * co + j) * NL);
            for (size_t i = 1; i < P; i++) m = lanes_max(m, lanes_load(y + ((t * P + i) * co + j) * NL));
            lanes_store(p + (t * co + j) * NL, m);
        }
}

/* g (co, NL) = (sum over t of p (Lp, co), t in order) * (1 / Lp) */
static void gap_fwd(const float *restrict p, size_t Lp, size_t co, float *restrict g) {
    const float inv = 1.0f / (float)Lp;
    for (size_t j = 0; j < co; j++) {
        lanes_t s = lanes_load(p + j * NL);
        for (size_t t = 1; t < Lp; t++) s = lanes_add(s, lanes_load(p + (t * co + j) * NL));
        lanes_store(g + j * NL, lanes_mul(s, lanes_splat(inv)));
    }
}

const float *cnn_chunk_forward(const ModelLayout *L, const float *params, const float *x,
                               const size_t *rows, size_t r0, size_t R, float *act) {
    const size_t C = L->n_norm, D = L->shape.n_in;
    const float *mean = params, *istd = params + C;
    for (size_t r = 0; r < NL; r++) {
        if (r < R) {
            const float *xr = x + (rows ? rows[r0 + r] : r0 + r) * D;
            for (size_t i = 0; i < D; i += C)
                for (size_t c = 0; c < C; c++)
                    act[(i + c) * NL + r] = (xr[i + c] - mean[c]) * istd[c];
        } else {
            for (size_t i = 0; i < D; i++) act[i * NL + r] = 0.0f;
        }
    }
    for (size_t b = 0; b < L->n_conv; b++) {
        const size_t ci = L->c_in[b], co = L->c_out[b], nk = L->c_k[b] * ci;
        const float *in = act + L->a_in[b] * NL, *W = params + L->cw_off[b];
        float *y = act + L->a_conv[b] * NL;
        for (size_t t = 0; t < L->len_conv[b]; t++)
            dense_fwd(W, params + L->cb_off[b], in + t * ci * NL, nk, co, y + t * co * NL, true);
        if (L->shape.pool > 1)
            pool_fwd(y, L->len_pool[b], co, L->shape.pool, act + L->a_pool[b] * NL);
    }
    const size_t last = L->n_conv - 1;
    gap_fwd(act + L->a_pool[last] * NL, L->len_pool[last], L->c_out[last], act + L->a_gap * NL);
    float *in = act + L->a_gap * NL;
    for (size_t l = 0; l < L->n_layers; l++) {
        float *out = in + L->fan_in[l] * NL;
        dense_fwd(params + L->w_off[l], params + L->b_off[l], in, L->fan_in[l], L->fan_out[l], out,
                  l + 1 < L->n_layers);
        in = out;
    }
    return in;
}

// ----------------------------------------------------------------------------
// backward kernels

/* Loss sum over the chunk's R rows of the softmax cross-entropy of z (K, NL), and into
 * dz (K, NL) its gradient softmax(z) - onehot(y) (lanes >= R zero); the model.c MLP's
 * arithmetic (max shift, float exp sum, double log). */
static double xent(const float *restrict z, const int32_t *y, const size_t *rows, size_t r0,
                   size_t R, size_t K, float *restrict dz) {
    double loss = 0.0;
    for (size_t r = 0; r < NL; r++) {
        if (r >= R) {
            for (size_t k = 0; k < K; k++) dz[k * NL + r] = 0.0f;
            continue;
        }
        size_t lab = (size_t)y[rows ? rows[r0 + r] : r0 + r];
        float mx = z[r];
        for (size_t k = 1; k < K; k++) mx = z[k * NL + r] > mx ? z[k * NL + r] : mx;
        float e[FA_MAX_CLASSES], s = 0.0f;
        for (size_t k = 0; k < K; k++) {
            e[k] = fa_expf(z[k * NL + r] - mx);
            s += e[k];
        }
        loss += fa_log_f2d(s) - (double)(z[lab * NL + r] - mx);
        float inv = 1.0f / s;
        for (size_t k = 0; k < K; k++) dz[k * NL + r] = e[k] * inv - (k == lab ? 1.0f : 0.0f);
    }
    return loss;
}

/* Dense layer (fi -> fo) given d (fo, NL), the error at its output: gW (fi, fo) and gb (fo)
 * summed over the lanes; din (fi, NL) = W d, masked by in > 0 when in is a ReLU output */
static void dense_bwd(const float *restrict W, const float *restrict in, const float *restrict d,
                      size_t fi, size_t fo, float *restrict gW, float *restrict gb, bool add,
                      float *restrict din, bool mask) {
    for (size_t i = 0; i < fi; i++) {
        lanes_t x = lanes_load(in + i * NL);
        for (size_t j = 0; j < fo; j++) put(gW + i * fo + j, hsum(lanes_mul(x, lanes_load(d + j * NL))), add);
    }
    for (size_t j = 0; j < fo; j++) put(gb + j, hsum(lanes_load(d + j * NL)), add);
    if (!din) return;
    for (size_t i = 0; i < fi; i++) {
        lanes_t a = lanes_splat(0.0f);
        for (size_t j = 0; j < fo; j++) a = lanes_madd(a, W[i * fo + j], lanes_load(d + j * NL));
        lanes_store(din + i * NL, mask ? lanes_mask_pos(a, lanes_load(in + i * NL)) : a);
    }
}

/* Conv weight and bias gradients of one block: gW[q, j] = sum over t and lanes of
 * in[t * ci + q] * dy[t, j] (q < nk = k * ci: the window at t), gb[j] = sum of dy[., j].
 * Per lane the sum runs over t in order, then over the lanes. */
static void conv_grad(const float *restrict in, const float *restrict dy, size_t Lc, size_t ci,
                      size_t nk, size_t co, float *restrict gW, float *restrict gb, bool add) {
    for (size_t q = 0; q < nk; q++) {
        const float *xq = in + q * NL;
        size_t j = 0;
        for (; j + 8 <= co; j += 8) { /* eight sums in flight: dense_fwd's reason */
            lanes_t a[8];
            for (size_t u = 0; u < 8; u++) a[u] = lanes_splat(0.0f);
            for (size_t t = 0; t < Lc; t++) {
                lanes_t x = lanes_load(xq + t * ci * NL);
                const float *dt = dy + (t * co + j) * NL;
                for (size_t u = 0; u < 8; u++) a[u] = lanes_vmadd(a[u], x, lanes_load(dt + u * NL));
            }
            for (size_t u = 0; u < 8; u++) put(gW + q * co + j + u, hsum(a[u]), add);
        }
        for (; j + 4 <= co; j += 4) {
            lanes_t a0 = lanes_splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
            for (size_t t = 0; t < Lc; t++) {
                lanes_t x = lanes_load(xq + t * ci * NL);
                const float *dt = dy + (t * co + j) * NL;
                a0 = lanes_vmadd(a0, x, lanes_load(dt));
                a1 = lanes_vmadd(a1, x, lanes_load(dt + NL));
                a2 = lanes_vmadd(a2, x, lanes_load(dt + 2 * NL));
                a3 = lanes_vmadd(a3, x, lanes_load(dt + 3 * NL));
            }
            put(gW + q * co + j, hsum(a0), add);
            put(gW + q * co + j + 1, hsum(a1), add);
            put(gW + q * co + j + 2, hsum(a2), add);
            put(gW + q * co + j + 3, hsum(a3), add);
        }
        for (; j < co; j++) {
            lanes_t a = lanes_splat(0.0f);
            for (size_t t = 0; t < Lc; t++)
                a = lanes_vmadd(a, lanes_load(xq + t * ci * NL), lanes_load(dy + (t * co + j) * NL));
            put(gW + q * co + j, hsum(a), add);
        }
    }
    for (size_t j = 0; j < co; j++) {
        lanes_t s = lanes_load(dy + j * NL);
        for (size_t t = 1; t < Lc; t++) s = lanes_add(s, lanes_load(dy + (t * co + j) * NL));
        put(gb + j, hsum(s), add);
    }
}

/* din (Lin, ci) = the error at a conv block's input: for t in order, the window at t gets
 * W (nk, co) @ dy[t] (co, NL) added (co in order) */
static void conv_din(const float *restrict W, const float *restrict dy, size_t Lc, size_t Lin,
                     size_t ci, size_t nk, size_t co, float *restrict din) {
    memset(din, 0, Lin * ci * NL * sizeof(float));
    for (size_t t = 0; t < Lc; t++) {
        float *dw = din + t * ci * NL;
        const float *dt = dy + t * co * NL;
        size_t q = 0;
        for (; q + 8 <= nk; q += 8) { /* eight sums in flight: dense_fwd's reason */
            lanes_t a[8];
            for (size_t u = 0; u < 8; u++) a[u] = lanes_load(dw + (q + u) * NL);
            const float *w = W + q * co;
            for (size_t j = 0; j < co; j++) {
                lanes_t d = lanes_load(dt + j * NL);
                for (size_t u = 0; u < 8; u++) a[u] = lanes_madd(a[u], w[u * co + j], d);
            }
            for (size_t u = 0; u < 8; u++) lanes_store(dw + (q + u) * NL, a[u]);
        }
        for (; q + 4 <= nk; q += 4) {
            lanes_t a0 = lanes_load(dw + q * NL), a1 = lanes_load(dw + (q + 1) * NL), a2 = lanes_load(dw + (q + 2) * NL),
                    a3 = lanes_load(dw + (q + 3) * NL);
            const float *w = W + q * co;
            for (size_t j = 0; j < co; j++) {
                lanes_t d = lanes_load(dt + j * NL);
                a0 = lanes_madd(a0, w[j], d);
                a1 = lanes_madd(a1, w[co + j], d);
                a2 = lanes_madd(a2, w[2 * co + j], d);
                a3 = lanes_madd(a3, w[3 * co + j], d);
            }
            lanes_store(dw + q * NL, a0);
            lanes_store(dw + (q + 1) * NL, a1);
            lanes_store(dw + (q + 2) * NL, a2);
            lanes_store(dw + (q + 3) * NL, a3);
        }
        for (; q < nk; q++) {
            lanes_t a = lanes_load(dw + q * NL);
            for (size_t j = 0; j < co; j++) a = lanes_madd(a, W[q * co + j], lanes_load(dt + j * NL));
            lanes_store(dw + q * NL, a);
        }
    }
}

/* dy (Lc, co) = the error at the conv output (after its ReLU's derivative) from dp (Lp, co),
 * the error at the pooled output: each pool window's first maximum gets it, the rest 0
 * (steps past the last whole window too) */
static void pool_bwd(const float *restrict y, const float *restrict p, const float *restrict dp,
                     size_t Lc, size_t Lp, size_t co, size_t P, float *restrict dy) {
    for (size_t t = 0; t < Lp; t++)
        for (size_t j = 0; j < co; j++) {
            const lanes_t pv = lanes_load(p + (t * co + j) * NL), dv = lanes_load(dp + (t * co + j) * NL);
            lanes_t found = lanes_splat(0.0f);
            for (size_t i = 0; i < P; i++) {
                const size_t at = ((t * P + i) * co + j) * NL;
                lanes_store(dy + at, pool_pick(lanes_load(y + at), pv, dv, &found));
            }
        }
    memset(dy + Lp * P * co * NL, 0, (Lc - Lp * P) * co * NL * sizeof(float));
}

double cnn_chunk_loss_grad(const ModelLayout *L, const float *params, const float *x,
                           const int32_t *y, const size_t *rows, size_t r0, size_t R, float *act,
                           float *dact, float *g, bool add) {
    const float *z = cnn_chunk_forward(L, params, x, rows, r0, R, act);
    float *dA = dact, *dB = dact + NL * L->max_width;
    double loss = xent(z, y, rows, r0, R, L->shape.n_out, dA);

    /* the dense head, back to the pooled channels; a layer's input sits right before it */
    const float *out = z;
    for (size_t l = L->n_layers; l-- > 0;) {
        const size_t fi = L->fan_in[l], fo = L->fan_out[l];
        const float *in = out - fi * NL;
        dense_bwd(params + L->w_off[l], in, dA, fi, fo, g + L->w_off[l], g + L->b_off[l], add, dB,
                  l > 0);
        float *s = dA;
        dA = dB;
        dB = s;
        out = in;
    }
    /* global average pooling: every step of the last block's pooled output gets 1 / Lp of
     * its channel's error (into dB) */
    const size_t nb = L->n_conv;
    {
        const size_t Lp = L->len_pool[nb - 1], co = L->c_out[nb - 1];
        const lanes_t inv = lanes_splat(1.0f / (float)Lp);
        for (size_t j = 0; j < co; j++) {
            lanes_t v = lanes_mul(lanes_load(dA + j * NL), inv);
            for (size_t t = 0; t < Lp; t++) lanes_store(dB + (t * co + j) * NL, v);
        }
    }
    float *dp = dB, *spare = dA;
    for (size_t b = nb; b-- > 0;) {
        const size_t ci = L->c_in[b], co = L->c_out[b], nk = L->c_k[b] * ci, Lc = L->len_conv[b];
        const float *yb = act + L->a_conv[b] * NL;
        float *dy = spare;
        if (L->shape.pool > 1) {
            pool_bwd(yb, act + L->a_pool[b] * NL, dp, Lc, L->len_pool[b], co, L->shape.pool, dy);
        } else {
            for (size_t i = 0; i < Lc * co; i++)
                lanes_store(dy + i * NL, lanes_mask_pos(lanes_load(dp + i * NL), lanes_load(yb + i * NL)));
        }
        const float *in = act + L->a_in[b] * NL;
        conv_grad(in, dy, Lc, ci, nk, co, g + L->cw_off[b], g + L->cb_off[b], add);
        if (b > 0) { /* the error at this block's input: the previous block's pooled output */
            conv_din(params + L->cw_off[b], dy, Lc, L->len_in[b], ci, nk, co, dp);
            spare = dy;
        }
    }
    return loss;
}
