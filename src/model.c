/*
 * model.c: a multilayer perceptron (ReLU hidden layers, softmax cross-entropy) on one
 * contiguous float parameter buffer: layout, initialization, input standardization,
 * forward, loss + gradient, evaluation and the Workspace that holds all scratch memory.
 *
 * Not here: optimizers and the training loop (train.c); clients, MPI, I/O; the cnn1d
 * model's layout and per-chunk kernels (model_cnn.c: the per-chunk functions here dispatch
 * on shape.kind, and the batch chunking, chunk-order sums, threading and evaluation below
 * serve both models). Kernels do not allocate, print or talk.
 *
 * Invariants:
 * - the parameter layout is computed in model_layout() only (see model.h);
 * - a mini-batch is cut into fixed chunks of FA_CHUNK rows; each chunk's partial gradient
 *   and loss sum are computed serially, by one thread, into its own gpart/lpart row, and
 *   the rows are summed in chunk order (unthreaded, each chunk adds its partial gradient
 *   to grad directly, in the same order). The gradient is therefore bit-identical for any
 *   thread count and with threading on or off (docs/architecture.md, "Reproducibility contract");
 * - the standardization part (the first 2D floats) always gets an exactly zero gradient.
 *
 * Shapes: B = batch rows, D = inputs, K = classes, P = n_params, R = rows of one chunk
 * (<= FA_CHUNK), NL = FA_CHUNK lanes, fi/fo = fan-in/fan-out of one layer.
 * The activations of one chunk are stored layer after layer and feature-major,
 *   [ x'T (D, NL) | h1T (H1, NL) | ... | logitsT (K, NL) ],
 * so that the rows of a chunk are the lanes of a fixed-size vector: the forward pass and the
 * back-propagation through W are register-blocked outer-product updates with no horizontal
 * sums (see "per-chunk kernels"). Performance: about 1.6 M samples/s single-threaded for the
 * 6-64-32-6 model at batch 32 on a 2.6 GHz Zen 4 core with the baseline x86-64 (SSE2)
 * build, 1.8 M with -march=native.
 */
#include "isa_kernels.h" /* first: per-ISA names of the kernels (one object per path) */

#include "fedalign/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/check.h"
#include "fedalign/rng.h"
#include "model_cnn.h"
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#if FA_ISA_PRIMARY /* not kernels: compiled once (isa_kernels.h) */
// ----------------------------------------------------------------------------
// layout, initialization, standardization

size_t model_dense_layout(ModelLayout *L, size_t width, size_t off, size_t maxw, size_t act) {
    const ModelShape *shape = &L->shape;
    L->n_layers = shape->n_hidden + 1;
    for (size_t l = 0; l < L->n_layers; l++) {
        size_t fo = l < shape->n_hidden ? shape->hidden[l] : shape->n_out;
        CHECK(fo >= 1 && fo <= ((size_t)1 << 20), "hidden layer %zu has width %zu", l, fo);
        L->fan_in[l] = width;
        L->fan_out[l] = fo;
        L->w_off[l] = off;
        off += width * fo;
        L->b_off[l] = off;
        off += fo;
        if (fo > maxw) maxw = fo;
        act += fo;
        width = fo;
    }
    L->n_params = off;
    L->max_width = maxw;
    L->act_size = act;
    return off;
}

size_t model_layout(ModelLayout *L, const ModelShape *shape) {
    CHECK(L != NULL && shape != NULL, "model_layout: NULL argument");
    if (shape->kind == FA_MODEL_CNN1D) return cnn_layout(L, shape);
    CHECK(shape->n_in >= 1, "model needs at least one input, got %zu", shape->n_in);
    CHECK(shape->n_out >= 1 && shape->n_out <= FA_MAX_CLASSES,
          "model outputs must be in [1, %d], got %zu", FA_MAX_CLASSES, shape->n_out);
    CHECK(shape->n_hidden <= FA_MAX_HIDDEN, "at most %d hidden layers, got %zu", FA_MAX_HIDDEN,
          shape->n_hidden);
    memset(L, 0, sizeof *L);
    L->shape = *shape;
    size_t D = shape->n_in;
    L->train_off = 2 * D; /* mean | inv_std */
    L->n_norm = D;
    return model_dense_layout(L, D, L->train_off, D, D);
}

void model_init(const ModelLayout *L, float *params, uint64_t seed, uint64_t stream) {
    if (L->shape.kind == FA_MODEL_CNN1D) {
        cnn_init(L, params, seed, stream);
        return;
    }
    size_t D = L->shape.n_in;
    for (size_t i = 0; i < D; i++) {
        params[i] = 0.0f;     /* mean */
        params[D + i] = 1.0f; /* inv_std */
    }
    /* He-uniform (He et al. 2015): U(-a, a) with a = sqrt(6 / fan_in), so Var = 2 / fan_in.
     * One stream, weights drawn in layout order. */
    Rng r;
    rng_init(&r, seed, FA_RNG_INIT, stream, 0, 0);
    for (size_t l = 0; l < L->n_layers; l++) {
        double a = sqrt(6.0 / (double)L->fan_in[l]);
        float *W = params + L->w_off[l];
        size_t nw = L->fan_in[l] * L->fan_out[l];
        for (size_t j = 0; j < nw; j++) W[j] = (float)((2.0 * rng_uniform(&r) - 1.0) * a);
        memset(params + L->b_off[l], 0, L->fan_out[l] * sizeof(float));
    }
}

void model_set_norm(const ModelLayout *L, float *params, const double *mean, const double *std) {
    if (L->shape.kind == FA_MODEL_CNN1D) {
        cnn_set_norm(L, params, mean, std);
        return;
    }
    size_t D = L->shape.n_in;
    for (size_t i = 0; i < D; i++) {
        CHECK(isfinite(mean[i]), "standardization mean of feature %zu is not finite", i);
        double s = std[i];
        /* "tiny": below the float resolution of the feature (a constant column whose std
         * is rounding noise) or so small that 1/s would be absurd. NaN also lands here. */
        bool ok = isfinite(s) && s > 1e-20 && s > 1e-7 * fabs(mean[i]);
        params[i] = (float)mean[i];
        params[D + i] = (float)(ok ? 1.0 / s : 1.0);
    }
}

// ----------------------------------------------------------------------------
// workspace

void workspace_build(Workspace *ws, const ModelLayout *L, size_t batch_max) {
    CHECK(ws != NULL && L != NULL, "workspace_build: NULL argument");
    CHECK(batch_max >= 1, "workspace batch_max must be >= 1");
    memset(ws, 0, sizeof *ws);
    size_t nc = (batch_max + FA_CHUNK - 1) / FA_CHUNK, P = L->n_params;
    size_t n_act = nc * FA_CHUNK * L->act_size, n_dact = nc * FA_CHUNK * 2 * L->max_width;
    ws->batch_max = batch_max;
    ws->n_chunks = nc;
    /* zeroed although every kernel writes before it reads: keeps valgrind quiet */
    ws->act = xalloc_aligned(n_act * sizeof(float));
    memset(ws->act, 0, n_act * sizeof(float));
    ws->dact = xalloc_aligned(n_dact * sizeof(float));
    memset(ws->dact, 0, n_dact * sizeof(float));
    ws->gpart = xalloc_aligned(nc * P * sizeof(float));
    memset(ws->gpart, 0, nc * P * sizeof(float));
    ws->lpart = xcalloc(nc, sizeof(double));
    ws->grad = xalloc_aligned(P * sizeof(float));
    memset(ws->grad, 0, P * sizeof(float));
    ws->m = xcalloc(P, sizeof(float));
    ws->v = xcalloc(P, sizeof(float));
    ws->perm = NULL; /* grown by train_local on demand */
    ws->n_perm = 0;
}

void workspace_free(Workspace *ws) {
    if (!ws) return;
    free(ws->perm);
    free(ws->v);
    free(ws->m);
    free(ws->grad);
    free(ws->lpart);
    free(ws->gpart);
    free(ws->dact);
    free(ws->act);
    memset(ws, 0, sizeof *ws);
}
#endif /* FA_ISA_PRIMARY */

// ----------------------------------------------------------------------------
// per-chunk kernels (serial; one thread owns one chunk)
//
// Inside a chunk, activations and back-propagated errors are feature-major, (width, NL):
// element (feature f, row r) sits at [f * NL + r], so one feature of all the chunk's rows is
// a vector of NL = FA_CHUNK lanes, a compile-time size the compiler turns into whole SIMD
// registers. Lanes r >= R of a partial chunk hold zero inputs; they are computed and
// ignored. Every row is computed by the same operations in the same order whatever lane it
// occupies, so a row's result does not depend on how the batch was cut.

#define NL FA_CHUNK /* lanes: the rows of one chunk */

#include "lanes.h" /* lanes_t and its operations (shared with model_cnn.c) */

/* aT (D, NL) = (x[row] - mean) * inv_std, row = rows[r0 + r] (r0 + r when rows is NULL);
 * lanes r >= R are zero */
static void chunk_standardize(const float *restrict x, size_t D, const size_t *rows, size_t r0,
                              size_t R, const float *restrict mean, const float *restrict inv_std,
                              float *restrict aT) {
    for (size_t r = 0; r < NL; r++) {
        if (r < R) {
            size_t row = rows ? rows[r0 + r] : r0 + r;
            const float *restrict xr = x + row * D;
            for (size_t i = 0; i < D; i++) aT[i * NL + r] = (xr[i] - mean[i]) * inv_std[i];
        } else {
            for (size_t i = 0; i < D; i++) aT[i * NL + r] = 0.0f;
        }
    }
}

/* outT (na, NL) = init (na; 0 when NULL) + M (na, nk) @ inT (nk, NL), where M[a, k] is stored
 * at M[a * sa + k * sk]:
 *   forward,             a = output unit j, k = input unit i: sa = 1,  sk = fo;
 *   back-propagation,    a = input unit i,  k = output unit j: sa = fo, sk = 1.
 * Every output accumulates init, then k = 0, 1, ... in order. Four outputs at a time keep
 * 4 x NL accumulators in registers and share each load of an input vector, so the inner
 * loop is 4 multiply-adds per lane per loaded vector and stores nothing. The finished
 * vectors go through the elementwise step of the caller before their one store: relu
 * (x < 0 ? 0 : x, the forward ReLU) and/or mask (mask > 0 ? x : 0, mask (na, NL) like
 * outT: the ReLU derivative in back-propagation); the same bits as a separate pass. */
static inline lanes_t lanes_post(lanes_t x, bool relu, const float *restrict mask) {
    if (relu) x = lanes_relu(x);
    if (mask) x = lanes_mask_pos(x, lanes_load(mask));
    return x;
}
static void lanes_matmul(const float *restrict M, size_t sa, size_t sk, const float *restrict init,
                         const float *restrict inT, size_t na, size_t nk, float *restrict outT,
                         bool relu, const float *restrict mask) {
    size_t a = 0;
    for (; a + 4 <= na; a += 4) {
        lanes_t acc0 = lanes_splat(init ? init[a] : 0.0f);
        lanes_t acc1 = lanes_splat(init ? init[a + 1] : 0.0f);
        lanes_t acc2 = lanes_splat(init ? init[a + 2] : 0.0f);
        lanes_t acc3 = lanes_splat(init ? init[a + 3] : 0.0f);
        const float *m = M + a * sa;
        for (size_t k = 0; k < nk; k++, m += sk) {
            lanes_t xk = lanes_load(inT + k * NL);
            acc0 = lanes_madd(acc0, m[0], xk);
            acc1 = lanes_madd(acc1, m[sa], xk);
            acc2 = lanes_madd(acc2, m[2 * sa], xk);
            acc3 = lanes_madd(acc3, m[3 * sa], xk);
        }
        const float *mk = mask ? mask + a * NL : NULL;
        lanes_store(outT + a * NL, lanes_post(acc0, relu, mk));
        lanes_store(outT + (a + 1) * NL, lanes_post(acc1, relu, mk ? mk + NL : NULL));
        lanes_store(outT + (a + 2) * NL, lanes_post(acc2, relu, mk ? mk + 2 * NL : NULL));
        lanes_store(outT + (a + 3) * NL, lanes_post(acc3, relu, mk ? mk + 3 * NL : NULL));
    }
    if (a + 2 <= na) { /* a pair (the 6-class output layer: 4 + 2) */
        lanes_t acc0 = lanes_splat(init ? init[a] : 0.0f);
        lanes_t acc1 = lanes_splat(init ? init[a + 1] : 0.0f);
        const float *m = M + a * sa;
        for (size_t k = 0; k < nk; k++, m += sk) {
            lanes_t xk = lanes_load(inT + k * NL);
            acc0 = lanes_madd(acc0, m[0], xk);
            acc1 = lanes_madd(acc1, m[sa], xk);
        }
        const float *mk = mask ? mask + a * NL : NULL;
        lanes_store(outT + a * NL, lanes_post(acc0, relu, mk));
        lanes_store(outT + (a + 1) * NL, lanes_post(acc1, relu, mk ? mk + NL : NULL));
        a += 2;
    }
    for (; a < na; a++) {
        lanes_t acc = lanes_splat(init ? init[a] : 0.0f);
        const float *m = M + a * sa;
        for (size_t k = 0; k < nk; k++, m += sk)
            acc = lanes_madd(acc, m[0], lanes_load(inT + k * NL));
        lanes_store(outT + a * NL, lanes_post(acc, relu, mask ? mask + a * NL : NULL));
    }
}

/* Forward one chunk: act = [x'T | h1T | ... | logitsT], layer l at NL * (sum of the widths
 * before it). Returns the logits, (K, NL), inside act. */
static const float *chunk_forward(const ModelLayout *L, const float *params, const float *x,
                                  const size_t *rows, size_t r0, size_t R, float *act) {
    if (L->shape.kind == FA_MODEL_CNN1D) return cnn_chunk_forward(L, params, x, rows, r0, R, act);
    size_t D = L->shape.n_in;
    float *inT = act;
    chunk_standardize(x, D, rows, r0, R, params, params + D, inT);
    size_t width = D;
    for (size_t l = 0; l < L->n_layers; l++) {
        size_t fi = L->fan_in[l], fo = L->fan_out[l];
        float *outT = inT + NL * width;
        /* ReLU on the hidden layers, fused into the stores; a NaN stays NaN so that
         * divergence shows */
        lanes_matmul(params + L->w_off[l], 1, fo, params + L->b_off[l], inT, fo, fi, outT,
                     l + 1 < L->n_layers, NULL);
        inT = outT;
        width = fo;
    }
    return inT;
}

/* Sum over the chunk's R rows of the softmax cross-entropy of the logits zT (K, NL); the
 * log-sum-exp is shifted by the row maximum so that exp never overflows. If d != NULL it
 * receives the gradient of the summed loss w.r.t. the logits, softmax(z) - onehot(y), both
 * row-major in d (R, K) and feature-major in dT (K, NL) (lanes >= R zero). */
static double chunk_xent(const float *restrict zT, const int32_t *y, const size_t *rows, size_t r0,
                         size_t R, size_t K, float *restrict d, float *restrict dT) {
    double loss = 0.0;
    for (size_t r = 0; r < R; r++) {
        size_t row = rows ? rows[r0 + r] : r0 + r;
        size_t lab = (size_t)y[row];
        float mx = zT[r];
        for (size_t k = 1; k < K; k++) mx = zT[k * NL + r] > mx ? zT[k * NL + r] : mx;
        float e[FA_MAX_CLASSES], s = 0.0f;
        for (size_t k = 0; k < K; k++) {
            e[k] = fa_expf(zT[k * NL + r] - mx);
            s += e[k];
        }
        /* loss = log(sum exp z) - z_y = log(s) - (z_y - max); s in [1, K]. fa_expf and
         * fa_log_f2d (fa_math.h), not the libm calls: their bits do not depend on the CPU */
        loss += fa_log_f2d(s) - (double)(zT[lab * NL + r] - mx);
        if (d) {
            float inv = 1.0f / s;
            for (size_t k = 0; k < K; k++) {
                float g = e[k] * inv - (k == lab ? 1.0f : 0.0f);
                d[r * K + k] = g;
                dT[k * NL + r] = g;
            }
        }
    }
    if (d)
        for (size_t k = 0; k < K; k++)
            for (size_t r = R; r < NL; r++) dT[k * NL + r] = 0.0f;
    return loss;
}

/* Four columns as one vector, for the columns of gW/gb that do not fill a lanes_t. */
#if defined(__GNUC__)
typedef float col4_t __attribute__((vector_size(4 * sizeof(float))));
typedef float col4_u __attribute__((vector_size(4 * sizeof(float)), aligned(4), may_alias));
static inline col4_t col4_load(const float *p) { return *(const col4_u *)p; }
static inline void col4_store(float *p, col4_t x) { *(col4_u *)p = x; }
static inline col4_t col4_zero(void) { return (col4_t){0.0f, 0.0f, 0.0f, 0.0f}; }
static inline col4_t col4_madd(col4_t acc, float w, col4_t x) { return acc + w * x; }
static inline col4_t col4_add(col4_t a, col4_t b) { return a + b; }
static inline float col4_get(col4_t x, size_t q) { return x[q]; }
#else
typedef struct {
    float v[4];
} col4_t;
static inline col4_t col4_load(const float *p) {
    col4_t r;
    memcpy(r.v, p, sizeof r.v);
    return r;
}
static inline void col4_store(float *p, col4_t x) { memcpy(p, x.v, sizeof x.v); }
static inline col4_t col4_zero(void) {
    col4_t r = {{0.0f, 0.0f, 0.0f, 0.0f}};
    return r;
}
static inline col4_t col4_madd(col4_t acc, float w, col4_t x) {
    for (size_t q = 0; q < 4; q++) acc.v[q] += w * x.v[q];
    return acc;
}
static inline col4_t col4_add(col4_t a, col4_t b) {
    for (size_t q = 0; q < 4; q++) a.v[q] += b.v[q];
    return a;
}
static inline float col4_get(col4_t x, size_t q) { return x.v[q]; }
#endif

/* store lanes q0..3 of x at p (p[q] = x[q]); q0 = 0 stores the whole vector */
static inline void col4_store_from(float *p, col4_t x, size_t q0) {
    if (q0 == 0) col4_store(p, x);
    else
        for (size_t q = q0; q < 4; q++) p[q] = col4_get(x, q);
}

/* gW (fi, fo) = sum over rows r < R of inT[:, r] (outer) d[r, :], with d row-major (R, fo);
 * gb (fo) = sum over rows of d. Overwrites (add = false), so the chunk's gpart row needs no
 * zeroing; add = true adds the chunk's sum to what gW/gb hold, g + (chunk sum): the same
 * operation as the chunk-order sum of gpart rows in loss_grad_impl, without the row.
 * Every element of gW is 0 + a[0] d[0] + a[1] d[1] + ... + a[R-1] d[R-1] (left to right,
 * each product rounded, then added to the old value when add), every element of gb
 * d[0] + d[1] + ... + d[R-1]; only which elements share a register differs between the
 * blocks below. Columns go by NL (lanes_t) while NL fit, then by 4 (col4_t); the last
 * 1..3 columns are computed as the 4-column vector that ends at fo, of which only the new
 * columns are stored (the others were stored already, with the same values in the
 * overwrite case and after their addition in the add case, so they must not be written
 * again). Rows go by 4 while 4 fit, then one at a time. */
static void chunk_grad_params(const float *restrict inT, const float *restrict d, size_t R,
                              size_t fi, size_t fo, float *restrict gW, float *restrict gb,
                              bool add) {
    size_t foB = fo - fo % NL;
    /* start column and first stored lane of every 4-column vector after foB */
    size_t c4j[NL / 4 + 2], c4q[NL / 4 + 2], nc4 = 0;
    size_t jS = foB; /* first column left to scalar code */
    if (fo >= 4) {
        size_t j = foB;
        for (; j + 4 <= fo; j += 4) {
            c4j[nc4] = j;
            c4q[nc4++] = 0;
        }
        if (j < fo) {
            c4j[nc4] = fo - 4;
            c4q[nc4++] = 4 - (fo - j);
        }
        jS = fo;
    }
    size_t i = 0;
    for (; i + 4 <= fi; i += 4) {
        const float *a0 = inT + i * NL, *a1 = a0 + NL, *a2 = a1 + NL, *a3 = a2 + NL;
        float *w0 = gW + i * fo, *w1 = w0 + fo, *w2 = w1 + fo, *w3 = w2 + fo;
        for (size_t j = 0; j < foB; j += NL) {
            lanes_t d0 = lanes_load(d + j);
            lanes_t g0 = lanes_madd(lanes_splat(0.0f), a0[0], d0);
            lanes_t g1 = lanes_madd(lanes_splat(0.0f), a1[0], d0);
            lanes_t g2 = lanes_madd(lanes_splat(0.0f), a2[0], d0);
            lanes_t g3 = lanes_madd(lanes_splat(0.0f), a3[0], d0);
            for (size_t r = 1; r < R; r++) {
                lanes_t dr = lanes_load(d + r * fo + j);
                g0 = lanes_madd(g0, a0[r], dr);
                g1 = lanes_madd(g1, a1[r], dr);
                g2 = lanes_madd(g2, a2[r], dr);
                g3 = lanes_madd(g3, a3[r], dr);
            }
            if (add) {
                g0 = lanes_add(lanes_load(w0 + j), g0);
                g1 = lanes_add(lanes_load(w1 + j), g1);
                g2 = lanes_add(lanes_load(w2 + j), g2);
                g3 = lanes_add(lanes_load(w3 + j), g3);
            }
            lanes_store(w0 + j, g0);
            lanes_store(w1 + j, g1);
            lanes_store(w2 + j, g2);
            lanes_store(w3 + j, g3);
        }
        for (size_t c = 0; c < nc4; c++) {
            size_t j = c4j[c], q0 = c4q[c];
            col4_t d0 = col4_load(d + j);
            col4_t g0 = col4_madd(col4_zero(), a0[0], d0);
            col4_t g1 = col4_madd(col4_zero(), a1[0], d0);
            col4_t g2 = col4_madd(col4_zero(), a2[0], d0);
            col4_t g3 = col4_madd(col4_zero(), a3[0], d0);
            for (size_t r = 1; r < R; r++) {
                col4_t dr = col4_load(d + r * fo + j);
                g0 = col4_madd(g0, a0[r], dr);
                g1 = col4_madd(g1, a1[r], dr);
                g2 = col4_madd(g2, a2[r], dr);
                g3 = col4_madd(g3, a3[r], dr);
            }
            if (add) {
                g0 = col4_add(col4_load(w0 + j), g0);
                g1 = col4_add(col4_load(w1 + j), g1);
                g2 = col4_add(col4_load(w2 + j), g2);
                g3 = col4_add(col4_load(w3 + j), g3);
            }
            col4_store_from(w0 + j, g0, q0);
            col4_store_from(w1 + j, g1, q0);
            col4_store_from(w2 + j, g2, q0);
            col4_store_from(w3 + j, g3, q0);
        }
    }
    for (; i < fi; i++) { /* leftover rows, one at a time */
        const float *a = inT + i * NL;
        float *w = gW + i * fo;
        for (size_t j = 0; j < foB; j += NL) {
            lanes_t g = lanes_madd(lanes_splat(0.0f), a[0], lanes_load(d + j));
            for (size_t r = 1; r < R; r++) g = lanes_madd(g, a[r], lanes_load(d + r * fo + j));
            if (add) g = lanes_add(lanes_load(w + j), g);
            lanes_store(w + j, g);
        }
        for (size_t c = 0; c < nc4; c++) {
            size_t j = c4j[c];
            col4_t g = col4_madd(col4_zero(), a[0], col4_load(d + j));
            for (size_t r = 1; r < R; r++) g = col4_madd(g, a[r], col4_load(d + r * fo + j));
            if (add) g = col4_add(col4_load(w + j), g);
            col4_store_from(w + j, g, c4q[c]);
        }
    }
    /* fo < 4: scalar, element by element (the same operations per element) */
    for (size_t ii = 0; ii < fi; ii++) {
        const float *a = inT + ii * NL;
        float *restrict w = gW + ii * fo;
        for (size_t j = jS; j < fo; j++) {
            float t = 0.0f + a[0] * d[j];
            for (size_t r = 1; r < R; r++) t += a[r] * d[r * fo + j];
            w[j] = add ? w[j] + t : t;
        }
    }
    /* bias: the same column blocks, sums of d alone */
    for (size_t j = 0; j < foB; j += NL) {
        lanes_t g = lanes_load(d + j);
        for (size_t r = 1; r < R; r++) g = lanes_add(g, lanes_load(d + r * fo + j));
        if (add) g = lanes_add(lanes_load(gb + j), g);
        lanes_store(gb + j, g);
    }
    for (size_t c = 0; c < nc4; c++) {
        size_t j = c4j[c];
        col4_t g = col4_load(d + j);
        for (size_t r = 1; r < R; r++) g = col4_add(g, col4_load(d + r * fo + j));
        if (add) g = col4_add(col4_load(gb + j), g);
        col4_store_from(gb + j, g, c4q[c]);
    }
    for (size_t j = jS; j < fo; j++) {
        float t = d[j];
        for (size_t r = 1; r < R; r++) t += d[r * fo + j];
        gb[j] = add ? gb[j] + t : t;
    }
}

/* d (R, w) = transpose of the first R lanes of dT (w, NL). With SSE, 4 x 4 tiles go
 * through registers; they write all NL rows (d must hold NL * w floats; rows >= R are
 * scratch that nobody reads). Copies only, so the values are the same either way. */
static void lanes_to_rows(const float *restrict dT, size_t R, size_t w, float *restrict d) {
    size_t f0 = 0;
#if defined(__SSE__) && NL % 4 == 0
    for (; f0 + 4 <= w; f0 += 4)
        for (size_t r = 0; r < NL; r += 4) {
            __m128 c0 = _mm_loadu_ps(dT + f0 * NL + r);
            __m128 c1 = _mm_loadu_ps(dT + (f0 + 1) * NL + r);
            __m128 c2 = _mm_loadu_ps(dT + (f0 + 2) * NL + r);
            __m128 c3 = _mm_loadu_ps(dT + (f0 + 3) * NL + r);
            _MM_TRANSPOSE4_PS(c0, c1, c2, c3);
            _mm_storeu_ps(d + r * w + f0, c0);
            _mm_storeu_ps(d + (r + 1) * w + f0, c1);
            _mm_storeu_ps(d + (r + 2) * w + f0, c2);
            _mm_storeu_ps(d + (r + 3) * w + f0, c3);
        }
#endif
    for (size_t r = 0; r < R; r++)
        for (size_t f = f0; f < w; f++) d[r * w + f] = dT[f * NL + r];
}

/* Loss sum and gradient of the summed loss for one chunk, into g (its gpart row; only the
 * trainable part [train_off, P) is written). act: (NL * act_size) scratch; dact:
 * (2 * NL * max_width) scratch holding the error of the current layer twice, row-major
 * (R, fo) for the weight gradient and feature-major (fo, NL) for back-propagation. */
static double chunk_loss_grad(const ModelLayout *L, const float *params, const float *x,
                              const int32_t *y, const size_t *rows, size_t r0, size_t R, float *act,
                              float *dact, float *g, bool add) {
    if (L->shape.kind == FA_MODEL_CNN1D)
        return cnn_chunk_loss_grad(L, params, x, y, rows, r0, R, act, dact, g, add);
    const float *zT = chunk_forward(L, params, x, rows, r0, R, act);
    size_t K = L->shape.n_out;
    float *d = dact, *dT = dact + NL * L->max_width;
    double loss = chunk_xent(zT, y, rows, r0, R, K, d, dT);

    /* walk back through the layers; the input of layer l sits right before its output */
    const float *outT = zT;
    for (size_t l = L->n_layers; l-- > 0;) {
        size_t fi = L->fan_in[l], fo = L->fan_out[l];
        const float *inT = outT - NL * fi;
        chunk_grad_params(inT, d, R, fi, fo, g + L->w_off[l], g + L->b_off[l], add);
        if (l > 0) {
            /* error at the layer input: W (fi, fo) @ dT (fo, NL), masked by the ReLU that
             * produced inT (h > 0 exactly where its pre-activation was > 0); written over
             * d, which is no longer needed, then copied row-major into dT; swap roles */
            lanes_matmul(params + L->w_off[l], fo, 1, NULL, dT, fi, fo, d, false, inT);
            lanes_to_rows(d, R, fi, dT);
            float *swap = d;
            d = dT;
            dT = swap;
        }
        outT = inT;
    }
    return loss;
}

// ----------------------------------------------------------------------------
// public kernels

static void check_labels(const int32_t *y, const size_t *rows, size_t r0, size_t B, size_t K,
                         size_t n) {
    for (size_t b = 0; b < B; b++) {
        size_t row = rows ? rows[r0 + b] : r0 + b;
        CHECK(row < n, "row index %zu out of range (dataset has %zu rows)", row, n);
        CHECK(y[row] >= 0 && (size_t)y[row] < K, "label %d of row %zu is outside [0, %zu)",
              (int)y[row], row, K);
    }
}

/* the shared body of model_loss_grad and model_loss_grad_rows; n = rows of x (bounds) */
static double loss_grad_impl(const ModelLayout *L, const float *params, const float *x,
                             const int32_t *y, size_t n, const size_t *rows, size_t B,
                             Workspace *ws, bool threaded) {
    CHECK(B >= 1 && B <= ws->batch_max, "batch of %zu rows, workspace holds 1..%zu", B,
          ws->batch_max);
    size_t K = L->shape.n_out, P = L->n_params, off = L->train_off;
    check_labels(y, rows, 0, B, K, n);
    size_t nc = (B + FA_CHUNK - 1) / FA_CHUNK;
    size_t act_stride = FA_CHUNK * L->act_size, dact_stride = FA_CHUNK * 2 * L->max_width;
    float *gpart = ws->gpart, *grad = ws->grad;
    double *lpart = ws->lpart;
    float fB = (float)B;
    /* B a power of two: x / B and x * (1 / B) are the same correctly rounded number (1 / B
     * is exact), and a multiply is far cheaper than a divide */
    bool pow2 = (B & (B - 1)) == 0 && B <= ((size_t)1 << 24);
    float invB = 1.0f / fB;
    /* parameter blocks for the chunk-order sum; 256 floats = 1 KiB, whole cache lines */
    const size_t blk = 256;
    size_t nblk = (P - off + blk - 1) / blk;

    if (!threaded) {
        /* serial: each chunk adds its partial gradient to grad as soon as it is computed
         * (chunk 0 writes it): the same additions in the same order as the chunk-order sum
         * below, so the same bits, without the nc x P partial rows */
        for (size_t c = 0; c < nc; c++) {
            size_t r0 = c * FA_CHUNK, R = B - r0 < FA_CHUNK ? B - r0 : FA_CHUNK;
            lpart[c] =
                chunk_loss_grad(L, params, x, y, rows, r0, R, ws->act, ws->dact, grad, c > 0);
        }
        if (pow2)
            for (size_t p = off; p < P; p++) grad[p] *= invB;
        else
            for (size_t p = off; p < P; p++) grad[p] /= fB;
    } else {
#pragma omp parallel
        {
#pragma omp for schedule(static)
            for (size_t c = 0; c < nc; c++) {
                size_t r0 = c * FA_CHUNK, R = B - r0 < FA_CHUNK ? B - r0 : FA_CHUNK;
                lpart[c] = chunk_loss_grad(L, params, x, y, rows, r0, R, ws->act + c * act_stride,
                                           ws->dact + c * dact_stride, gpart + c * P, false);
            }
            /* grad = (sum of the chunk partials in chunk order) / B; every parameter is summed
         * in the same order whichever thread owns its block (implicit barrier above) */
#pragma omp for schedule(static)
            for (size_t k = 0; k < nblk; k++) {
                size_t p0 = off + k * blk, p1 = p0 + blk < P ? p0 + blk : P;
                for (size_t p = p0; p < p1; p++) grad[p] = gpart[p];
                for (size_t c = 1; c < nc; c++) {
                    const float *gp = gpart + c * P;
                    for (size_t p = p0; p < p1; p++) grad[p] += gp[p];
                }
                if (pow2)
                    for (size_t p = p0; p < p1; p++) grad[p] *= invB;
                else
                    for (size_t p = p0; p < p1; p++) grad[p] /= fB;
            }
        }
    }
    memset(grad, 0, off * sizeof(float)); /* standardization: not trained */
    double loss = 0.0;
    for (size_t c = 0; c < nc; c++) loss += lpart[c];
    return loss / (double)B;
}

double model_loss_grad(const ModelLayout *L, const float *params, const float *x, const int32_t *y,
                       size_t B, Workspace *ws, bool threaded) {
    return loss_grad_impl(L, params, x, y, B, NULL, B, ws, threaded);
}

double model_loss_grad_rows(const ModelLayout *L, const float *params, const Dataset *ds,
                            const size_t *rows, size_t B, Workspace *ws, bool threaded) {
    CHECK(ds->d == L->shape.n_in, "dataset has %zu features, model expects %zu", ds->d,
          L->shape.n_in);
    CHECK(rows != NULL || B <= ds->n, "batch of %zu rows from a dataset of %zu", B, ds->n);
    return loss_grad_impl(L, params, ds->x, ds->y, ds->n, rows, B, ws, threaded);
}

void model_forward(const ModelLayout *L, const float *params, const float *x, size_t B,
                   float *logits, Workspace *ws) {
    CHECK(B <= ws->batch_max, "batch of %zu rows, workspace holds at most %zu", B, ws->batch_max);
    size_t K = L->shape.n_out;
    for (size_t r0 = 0; r0 < B; r0 += FA_CHUNK) {
        size_t R = B - r0 < FA_CHUNK ? B - r0 : FA_CHUNK;
        const float *zT = chunk_forward(L, params, x, NULL, r0, R, ws->act);
        for (size_t r = 0; r < R; r++)
            for (size_t k = 0; k < K; k++) logits[(r0 + r) * K + k] = zT[k * NL + r];
    }
}

/* index of the largest logit of lane r of zT (K, NL); ties go to the lowest index */
static size_t argmax_lane(const float *zT, size_t r, size_t K) {
    size_t best = 0;
    for (size_t k = 1; k < K; k++)
        if (zT[k * NL + r] > zT[best * NL + r]) best = k;
    return best;
}

void model_evaluate(const ModelLayout *L, const float *params, const Dataset *ds, Workspace *ws,
                    bool threaded, EvalResult *out) {
    memset(out, 0, sizeof *out);
    size_t n = ds->n, K = L->shape.n_out;
    if (n == 0) return;
    CHECK(ds->d == L->shape.n_in, "dataset has %zu features, model expects %zu", ds->d,
          L->shape.n_in);
    size_t act_stride = FA_CHUNK * L->act_size, bm = ws->batch_max;
    double *lpart = ws->lpart;
    double loss = 0.0;
    for (size_t start = 0; start < n; start += bm) {
        size_t B = n - start < bm ? n - start : bm;
        size_t nc = (B + FA_CHUNK - 1) / FA_CHUNK;
        check_labels(ds->y, NULL, start, B, K, n);
#pragma omp parallel for schedule(static) if (threaded)
        for (size_t c = 0; c < nc; c++) {
            size_t r0 = start + c * FA_CHUNK, R = B - c * FA_CHUNK;
            R = R < FA_CHUNK ? R : FA_CHUNK;
            const float *z = chunk_forward(L, params, ds->x, NULL, r0, R, ws->act + c * act_stride);
            lpart[c] = chunk_xent(z, ds->y, NULL, r0, R, K, NULL, NULL);
        }
        /* serial tally in row order; the logits are still in each chunk's act block */
        for (size_t c = 0; c < nc; c++) {
            loss += lpart[c];
            size_t r0 = c * FA_CHUNK, R = B - r0 < FA_CHUNK ? B - r0 : FA_CHUNK;
            const float *zT = ws->act + c * act_stride + NL * (L->act_size - K);
            for (size_t r = 0; r < R; r++) {
                size_t t = (size_t)ds->y[start + r0 + r], pred = argmax_lane(zT, r, K);
                out->confusion[t * K + pred]++;
                out->correct += t == pred;
            }
        }
    }
    out->n = n;
    out->loss = loss / (double)n;
    out->acc = (double)out->correct / (double)n;
}
