/*
 * eval_batched.c: model_evaluate for a group of G models at once, one model per SIMD lane
 * (eval_batched.h). Bit-identical to model_evaluate model by model.
 *
 * Not here: the per-client evaluation (model.c), which data sets form a group and threads
 * (the callers: fl_round.c, fl_phases.c). No global state, no OpenMP.
 *
 * Layout: train_batched.c's, element x of lane g at [x * G + g]: parameters (P, G) in
 * gw->p, activations (rows, act_size, G) in gw->act, a block of rows at a time, layer
 * after layer. Lane g's row t is row t of its own data set (zeros past its end: computed,
 * never tallied). Why this is model.c's arithmetic, per row:
 *   x'       (x - mean) * inv_std with the lane's own standardization (chunk_standardize);
 *   layers   out = b, then out + W[k] * in[k] for k = 0, 1, ... (two roundings), ReLU on
 *            hidden layers (lanes_matmul, lanes_relu);
 *   class    the first largest logit (argmax_lane);
 *   loss     chunk_xent's scalar code per row (shift by the row maximum, fa_expf, fa_log_f2d), the
 *            rows of a chunk summed from 0 in row order, the chunk sums added in order; a
 *            chunk is FA_CHUNK rows of a batch of bm rows, as in model_evaluate.
 */
#include "isa_kernels.h" /* first: per-ISA names (CMakeLists.txt FA_KERNEL_SOURCES) */

#include "fedalign/eval_batched.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fedalign/check.h"

#if defined(__GNUC__)

#include "group_lanes.h" /* G (train_batched.c's: the models come from its GroupWs), the tiles, gv */

void group_ws_load(GroupWs *gw, const ModelLayout *L, size_t n, const float *const *params) {
    CHECK(n <= G && gw->lanes == G && gw->P == L->n_params,
          "group_ws_load: %zu models into a workspace of %zu lanes for another model", n,
          gw->lanes);
    const size_t P = L->n_params;
    for (size_t q = 0; q < P; q++)
        for (size_t g = 0; g < G; g++) gw->p[q * G + g] = g < n ? params[g][q] : 0.0f;
}

/* rows t0 .. t0 + rows of every lane's data set, standardized, into the input layer a
 * (rows, D, G); rows a lane does not have are 0. One feature of all lanes is one vector:
 * (x - mean) * inv_std lane by lane, chunk_standardize's two roundings. */
static void gather(const ModelLayout *L, const GroupWs *gw, const Dataset *const *ds, size_t n,
                   size_t t0, size_t rows, float *a) {
    const size_t D = L->shape.n_in;
    const float *mean = gw->p, *inv = gw->p + D * G;
    for (size_t r = 0; r < rows; r++) {
        const float *x[G];
        gi has;
        for (size_t g = 0; g < G; g++) {
            const bool h = g < n && t0 + r < ds[g]->n;
            x[g] = h ? ds[g]->x + (t0 + r) * D : NULL;
            has[g] = h ? -1 : 0;
        }
        for (size_t i = 0; i < D; i++) {
            gv xv;
            for (size_t g = 0; g < G; g++) xv[g] = x[g] ? x[g][i] : 0.0f;
            gv v = (xv - LD(mean + i * G)) * LD(inv + i * G);
            ST(a + (r * D + i) * G, (gv)((gi)v & has));
        }
    }
}

/* Per lane: the running loss (the finished chunks) and the open chunk's sum. */
typedef struct {
    double loss[G], lc[G];
} Tally;

/* rows t0 .. t0 + rows of every lane from the logits z (rows, K, G): class, confusion, and
 * the loss in model_evaluate's chunks (a chunk starts where t % bm % FA_CHUNK == 0). The
 * running maximum is argmax_lane's and chunk_xent's (z[k] > max ? z[k] : max from z[0], so
 * the first largest wins and a NaN never replaces it), and so are z[k] - max and the sum of
 * the exponentials from 0 in class order, lane by lane across the vector; exp and log are
 * model_evaluate's scalar fa_expf and fa_log_f2d (fa_math.h) per lane. */
static void tally(const float *zT, size_t K, const Dataset *const *ds, size_t n, size_t t0,
                  size_t rows, size_t bm, bool want_loss, Tally *ty, EvalResult *out) {
    for (size_t r = 0; r < rows; r++) {
        const size_t t = t0 + r;
        const float *z = zT + r * K * G;
        gv mx = LD(z);
        gi best = (gi){0};
        for (size_t k = 1; k < K; k++) {
            gv zk = LD(z + k * G);
            gi gt = zk > mx;
            best = (best & ~gt) | (((gi){0} + (int32_t)k) & gt);
            mx = (gv)(((gi)zk & gt) | ((gi)mx & ~gt));
        }
        gv sum = (gv){0};
        if (want_loss)
            for (size_t k = 0; k < K; k++) {
                gv e = LD(z + k * G) - mx;
                for (size_t g = 0; g < n; g++) e[g] = t < ds[g]->n ? fa_expf(e[g]) : 0.0f;
                sum = sum + e;
            }
        for (size_t g = 0; g < n; g++) {
            if (t >= ds[g]->n) continue;
            const int32_t y = ds[g]->y[t];
            CHECK(y >= 0 && (size_t)y < K, "label %d of row %zu is outside [0, %zu)", (int)y, t, K);
            const size_t lab = (size_t)y, pred = (size_t)best[g];
            out[g].confusion[lab * K + pred]++;
            out[g].correct += lab == pred;
            if (!want_loss) continue;
            if (t % bm % FA_CHUNK == 0) ty->lc[g] = 0.0;
            ty->lc[g] += fa_log_f2d(sum[g]) - (double)(z[lab * G + g] - mx[g]);
            if ((t + 1) % bm % FA_CHUNK == 0 || t + 1 == ds[g]->n) ty->loss[g] += ty->lc[g];
        }
    }
}

void eval_local_group(const ModelLayout *L, size_t n, const Dataset *const *ds, size_t bm,
                      bool want_loss, GroupWs *gw, EvalResult *out) {
    CHECK(n >= 1 && n <= G, "a group holds 1..%d models, got %zu", G, n);
    CHECK(gw->lanes == G && gw->P == L->n_params, "group workspace built for another model");
    CHECK(L->shape.kind == FA_MODEL_MLP, "eval_local_group: the mlp model only");
    CHECK(bm >= 1, "evaluation batch must be >= 1");
    const size_t K = L->shape.n_out, nl = L->n_layers, blk = gw->rows / TR * TR;
    CHECK(blk >= TR, "group workspace of %zu rows, the tile needs %d", gw->rows, TR);
    size_t maxn = 0;
    for (size_t g = 0; g < n; g++) {
        memset(&out[g], 0, sizeof out[g]);
        CHECK(ds[g]->n == 0 || ds[g]->d == L->shape.n_in,
              "dataset has %zu features, model expects %zu", ds[g]->d, L->shape.n_in);
        maxn = ds[g]->n > maxn ? ds[g]->n : maxn;
    }
    Tally ty;
    memset(&ty, 0, sizeof ty);
    float *lay[FA_MAX_HIDDEN + 2]; /* input of layer l; lay[nl] = the logits */
    lay[0] = gw->act;
    for (size_t l = 0; l < nl; l++) lay[l + 1] = lay[l] + blk * L->fan_in[l] * G;
    const float *p = gw->p;
    for (size_t t0 = 0; t0 < maxn; t0 += blk) {
        const size_t rows = maxn - t0 < blk ? (maxn - t0 + TR - 1) / TR * TR : blk;
        gather(L, gw, ds, n, t0, rows, lay[0]);
        for (size_t l = 0; l < nl; l++)
            mm(p + L->w_off[l] * G, 1, L->fan_out[l], p + L->b_off[l] * G, lay[l], L->fan_in[l],
               L->fan_in[l], lay[l + 1], L->fan_out[l], L->fan_out[l], NULL, l + 1 < nl, NULL,
               rows); /* group_lanes.h: train_batched.c's forward, unpadded rows */
        tally(lay[nl], K, ds, n, t0, rows, bm, want_loss, &ty, out);
    }
    for (size_t g = 0; g < n; g++) {
        const size_t m = ds[g]->n;
        if (m == 0) continue;
        out[g].n = m;
        out[g].loss = want_loss ? ty.loss[g] / (double)m : NAN;
        out[g].acc = (double)out[g].correct / (double)m;
    }
}

#else /* no GCC vector extensions: no group kernel (train_group_lanes() == 0) */

void group_ws_load(GroupWs *gw, const ModelLayout *L, size_t n, const float *const *params) {
    (void)gw, (void)L, (void)n, (void)params;
    fa_fail("group_ws_load: this build has no client-batched kernel");
}
void eval_local_group(const ModelLayout *L, size_t n, const Dataset *const *ds, size_t bm,
                      bool want_loss, GroupWs *gw, EvalResult *out) {
    (void)L, (void)n, (void)ds, (void)bm, (void)want_loss, (void)gw, (void)out;
    fa_fail("eval_local_group: this build has no client-batched kernel");
}

#endif
