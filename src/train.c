/*
 * train.c: optimizers (Adam, SGD, the FedProx proximal gradient) and local training of one
 * client's model on its data for a (possibly fractional) number of epochs.
 *
 * Not here: the forward/backward kernels (model.c), client selection, aggregation, MPI.
 * Optimizers are flat loops over the trainable part [train_off, P) of the parameter buffer,
 * so the standardization part is never touched. Training allocates nothing per step; the
 * only allocation is growing ws->perm when a dataset larger than any seen before arrives.
 *
 * Schedule of train_local (deterministic in seed, client, round, epochs, batch):
 *   E = floor(epochs) full epochs, then a partial epoch of m = ceil(frac * n) samples,
 *   frac = epochs - E (m = 0 when frac == 0; ceil with a 1e-9 tolerance so that decimal
 *   fractions like 0.3 that are not exact in binary do not round up one extra sample).
 *   Epoch e (0-based, partial one included) draws its own order: perm = identity, shuffled
 *   by rng_init(seed, FA_RNG_SHUFFLE, client, round, sub = e); it visits perm[0..n_e) in
 *   consecutive mini-batches of `batch` rows, the last one possibly smaller (no drop-last,
 *   no batch spans two epochs). Steps = E * ceil(n / batch) + ceil(m / batch).
 *   TrainStats.loss_mean is the plain mean of the steps' batch losses (a short last batch
 *   counts as one step); stats may be NULL.
 * train_epochs runs epochs [e0, e1) of that schedule: calling it for [0, a) and then
 * [a, b) with the same workspace gives the bits of one train_local call of b epochs (the
 * shuffle of epoch e and the Adam step count depend on e only), so phase 3 can evaluate
 * between epochs (fl_phases.c) without changing what training does.
 */
#include "isa_kernels.h" /* first: per-ISA names of the kernels (one object per path) */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX__)
#include <immintrin.h>
#elif defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "fedalign/check.h"
#include "fedalign/model.h"
#include "fedalign/rng.h"

// ----------------------------------------------------------------------------
// optimizers

/* Adam (Kingma & Ba 2015, Algorithm 1) with bias correction:
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * The per-step constants are computed in double and rounded to float once; the element
 * loop is float, like the reference implementations. sqrtf() does not vectorize while math
 * functions may set errno (the C default), and this loop runs once per mini-batch over all
 * P parameters (a quarter of the time at batch 32), so on x86 4, 8 or 16 elements at a time
 * (SSE, AVX, AVX-512: the widest the ISA path has) go through intrinsics; they perform
 * exactly the scalar loop's operations (each rounds every step; sqrtps is correctly rounded
 * like sqrtf), so the results are the same on every path. */
void optim_adam_step(float *p, const float *g, float *m, float *v, size_t n, double lr,
                     double beta1, double beta2, double eps, uint64_t t) {
    CHECK(t >= 1, "Adam step count starts at 1");
    CHECK(beta1 >= 0.0 && beta1 < 1.0 && beta2 >= 0.0 && beta2 < 1.0,
          "Adam betas must be in [0, 1), got %g, %g", beta1, beta2);
    CHECK(eps >= 0.0 && isfinite(lr), "Adam needs eps >= 0 and a finite lr");
    const float b1 = (float)beta1, b2 = (float)beta2;
    const float c1 = (float)(1.0 - beta1), c2 = (float)(1.0 - beta2);
    const float bc1 = (float)(1.0 / (1.0 - pow(beta1, (double)t)));
    const float bc2 = (float)(1.0 / (1.0 - pow(beta2, (double)t)));
    const float flr = (float)lr, feps = (float)eps;
    size_t i = 0;
    /* the widest vectors the path has first, then narrower ones, then the scalar tail:
     * every element gets the same operations whichever of them it falls in */
#define ADAM_VEC(N, T, set1, load, store, add, mul, sub, div, sqrt)                                \
    {                                                                                              \
        const T vb1 = set1(b1), vb2 = set1(b2), vc1 = set1(c1), vc2 = set1(c2);                    \
        const T vbc1 = set1(bc1), vbc2 = set1(bc2), vlr = set1(flr), veps = set1(feps);            \
        for (; i + N <= n; i += N) {                                                               \
            T gi = load(g + i);                                                                    \
            T mi = add(mul(vb1, load(m + i)), mul(vc1, gi));                                       \
            T vi = add(mul(vb2, load(v + i)), mul(vc2, mul(gi, gi)));                              \
            store(m + i, mi);                                                                      \
            store(v + i, vi);                                                                      \
            T num = mul(vlr, mul(mi, vbc1));                                                       \
            T den = add(sqrt(mul(vi, vbc2)), veps);                                                \
            store(p + i, sub(load(p + i), div(num, den)));                                         \
        }                                                                                          \
    }
#if defined(__AVX512F__)
    ADAM_VEC(16, __m512, _mm512_set1_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_add_ps,
             _mm512_mul_ps, _mm512_sub_ps, _mm512_div_ps, _mm512_sqrt_ps)
#endif
#if defined(__AVX__)
    ADAM_VEC(8, __m256, _mm256_set1_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps,
             _mm256_mul_ps, _mm256_sub_ps, _mm256_div_ps, _mm256_sqrt_ps)
#endif
#if defined(__SSE__)
    ADAM_VEC(4, __m128, _mm_set1_ps, _mm_loadu_ps, _mm_storeu_ps, _mm_add_ps, _mm_mul_ps,
             _mm_sub_ps, _mm_div_ps, _mm_sqrt_ps)
#endif
#undef ADAM_VEC
    for (; i < n; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + c1 * gi;
        float vi = b2 * v[i] + c2 * (gi * gi);
        m[i] = mi;
        v[i] = vi;
        p[i] -= flr * (mi * bc1) / (sqrtf(vi * bc2) + feps);
    }
}

void optim_sgd_step(float *p, const float *g, size_t n, double lr) {
    const float flr = (float)lr;
    for (size_t i = 0; i < n; i++) p[i] -= flr * g[i];
}

void optim_prox_grad(float *g, const float *p, const float *ref, size_t n, double mu) {
    const float fmu = (float)mu;
    for (size_t i = 0; i < n; i++) g[i] += fmu * (p[i] - ref[i]);
}

// ----------------------------------------------------------------------------
// local training

#if FA_ISA_PRIMARY /* not a kernel: compiled once (isa_kernels.h) */
size_t train_epoch_count(const TrainOpts *opts, size_t n, size_t *m_last) {
    size_t full = (size_t)floor(opts->epochs);
    double frac = opts->epochs - (double)full;
    double mf = ceil(frac * (double)n - 1e-9);
    size_t m = mf <= 0.0 ? 0 : (mf >= (double)n ? n : (size_t)mf);
    if (m_last) *m_last = m;
    return full + (m > 0);
}
#endif

/* train_epochs' loop over epochs [e0, e1); corr/gmean (SCAFFOLD, train_local_corrected)
 * or both NULL. Without them the loop performs exactly train_local's operations. */
static void train_loop(const ModelLayout *L, float *params, const float *ref, const Dataset *ds,
                       const TrainOpts *opts, uint64_t seed, uint64_t client, uint64_t round,
                       size_t e0, size_t e1, Workspace *ws, bool threaded, const float *corr,
                       float *gmean, TrainStats *stats) {
    TrainStats st = {0.0, 0, 0};
    if (gmean) memset(gmean, 0, L->n_params * sizeof(float));
    size_t n = ds->n;
    if (n == 0) {
        if (stats) *stats = st;
        return;
    }
    CHECK(ds->d == L->shape.n_in, "dataset has %zu features, model expects %zu", ds->d,
          L->shape.n_in);
    CHECK(opts->batch >= 1 && opts->batch <= ws->batch_max,
          "mini-batch %zu outside [1, workspace batch_max %zu]", opts->batch, ws->batch_max);
    CHECK(isfinite(opts->epochs) && opts->epochs >= 0.0 && opts->epochs <= 1e9,
          "epochs must be in [0, 1e9], got %g", opts->epochs);
    CHECK(isfinite(opts->lr) && opts->lr >= 0.0, "learning rate must be >= 0, got %g", opts->lr);
    CHECK(opts->opt == FA_OPT_ADAM || opts->opt == FA_OPT_SGD, "unknown optimizer %d",
          (int)opts->opt);
    CHECK(isfinite(opts->mu) && opts->mu >= 0.0, "FedProx mu must be >= 0, got %g", opts->mu);

    /* the only allocation: at most once per growth of the largest dataset seen */
    if (n > ws->n_perm) {
        free(ws->perm);
        ws->perm = xmalloc(n * sizeof(size_t));
        ws->n_perm = n;
    }
    size_t m_last, n_epochs = train_epoch_count(opts, n, &m_last);
    size_t full = (size_t)floor(opts->epochs);
    if (e1 > n_epochs) e1 = n_epochs;
    CHECK(e0 <= e1, "epoch range [%zu, %zu) is empty or reversed", e0, e1);

    size_t P = L->n_params, off = L->train_off, nt = P - off, bs = opts->batch;
    bool adam = opts->opt == FA_OPT_ADAM, prox = ref != NULL && opts->mu > 0.0;
    if (adam && e0 == 0) { /* a fresh local optimizer per schedule */
        memset(ws->m, 0, P * sizeof(float));
        memset(ws->v, 0, P * sizeof(float));
    }
    double loss_sum = 0.0;
    /* the Adam step count continues where epochs [0, e0) left it: only the last epoch of
     * a schedule can be partial, so each earlier one took ceil(n / batch) steps */
    uint64_t t = (uint64_t)e0 * (uint64_t)((n + bs - 1) / bs);
    for (size_t e = e0; e < e1; e++) {
        size_t ne = e < full ? n : m_last;
        for (size_t i = 0; i < n; i++) ws->perm[i] = i;
        Rng r;
        rng_init(&r, seed, FA_RNG_SHUFFLE, client, round, (uint64_t)e);
        rng_shuffle(&r, ws->perm, n);
        for (size_t s = 0; s < ne; s += bs) {
            size_t B = ne - s < bs ? ne - s : bs;
            loss_sum += model_loss_grad_rows(L, params, ds, ws->perm + s, B, ws, threaded);
            float *g = ws->grad + off, *p = params + off;
            if (prox) optim_prox_grad(g, p, ref + off, nt, opts->mu);
            if (gmean) /* the raw gradient's running sum, before the correction */
                for (size_t j = 0; j < nt; j++) gmean[off + j] += g[j];
            if (corr) /* g - c_i + c, with corr = c - c_i */
                for (size_t j = 0; j < nt; j++) g[j] += corr[off + j];
            if (adam)
                optim_adam_step(p, g, ws->m + off, ws->v + off, nt, opts->lr, opts->beta1,
                                opts->beta2, opts->eps, ++t);
            else optim_sgd_step(p, g, nt, opts->lr);
            st.steps++;
            st.samples += B;
        }
    }
    st.loss_mean = st.steps ? loss_sum / (double)st.steps : 0.0;
    if (gmean && st.steps) {
        const float inv = (float)(1.0 / (double)st.steps);
        for (size_t j = off; j < P; j++) gmean[j] *= inv;
    }
    if (stats) *stats = st;
}

void train_local(const ModelLayout *L, float *params, const float *ref, const Dataset *ds,
                 const TrainOpts *opts, uint64_t seed, uint64_t client, uint64_t round,
                 Workspace *ws, bool threaded, TrainStats *stats) {
    train_epochs(L, params, ref, ds, opts, seed, client, round, 0, SIZE_MAX, ws, threaded, stats);
}

void train_epochs(const ModelLayout *L, float *params, const float *ref, const Dataset *ds,
                  const TrainOpts *opts, uint64_t seed, uint64_t client, uint64_t round, size_t e0,
                  size_t e1, Workspace *ws, bool threaded, TrainStats *stats) {
    train_loop(L, params, ref, ds, opts, seed, client, round, e0, e1, ws, threaded, NULL, NULL,
               stats);
}

void train_local_corrected(const ModelLayout *L, float *params, const Dataset *ds,
                           const TrainOpts *opts, uint64_t seed, uint64_t client, uint64_t round,
                           Workspace *ws, bool threaded, const float *corr, float *gmean,
                           TrainStats *stats) {
    train_loop(L, params, NULL, ds, opts, seed, client, round, 0, SIZE_MAX, ws, threaded, corr,
               gmean, stats);
}
