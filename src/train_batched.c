/*
 * train_batched.c: train_local for a group of G clients at once, one client per SIMD lane
 * (train_batched.h). Bit-identical to train_local client by client.
 *
 * Not here: the per-client kernels (model.c, train.c), which clients form a group and
 * threads (the callers: fl_round.c, bench_train.c). No global state, no OpenMP: threads
 * take whole groups.
 *
 * Layout: every buffer is lane-innermost, element x of lane g at [x * G + g], so that one
 * element of all G clients is one vector of G floats:
 *   parameters, Adam moments (P, G);
 *   activations: for each layer [row][feature][lane], layer after layer (input x' first,
 *   logits last), where the per-client kernel keeps (feature, row) of one chunk; each row
 *   padded to an odd number of vectors (LDW);
 *   errors (rows, width, G), rows padded the same way.
 * Why this is the per-client arithmetic: for every client, each number is produced by the
 * operations model.c/train.c apply to it, in the same order:
 *   forward      out = b, then out + W[k] * in[k] for k = 0, 1, ... (two roundings), ReLU;
 *   loss         the scalar code's operations per row (fa_expf, fa_log_f2d, the shift by
 *                the row maximum), the lanes of a row at once;
 *   weight grad  per chunk of FA_CHUNK rows: 0 + a[r0] d[r0] + a[r0 + 1] d[r0 + 1] + ...,
 *                the chunks summed in chunk order (old + chunk), then * (1 / B) when B is a
 *                power of two, else / B; bias: d[r0] + d[r0 + 1] + ..., the same way;
 *   errors       0 + W[i][0] d[0] + W[i][1] d[1] + ..., masked where the activation <= 0;
 *   step         + mu (p - ref) (FedProx), then the Adam or SGD update of train.c.
 * The update of a layer's parameters is fused into its gradient (the error of the layer
 * below is computed first, from the old weights), which reorders work between different
 * numbers only. Clients of one group differ in rows: where a client taking this step has
 * no row (its last mini-batch is shorter), its lane holds input, activations and error
 * exactly 0, so its products are +-0 and every partial sum it touches is unchanged (a chunk
 * partial starts at +0 + a d and a bias partial at an error, and neither is ever -0, so
 * adding +-0 leaves its bits); a lane whose client has no mini-batch left (or no client)
 * computes on whatever it holds and keeps its parameters and moments (masked step).
 */
#include "isa_kernels.h" /* first: per-ISA names (CMakeLists.txt FA_KERNEL_SOURCES) */

#include "fedalign/train_batched.h"

#include "fa_math.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/check.h"
#include "fedalign/rng.h"

#if defined(__GNUC__)
#if defined(__AVX512F__) || defined(__AVX__)
#include <immintrin.h>
#elif defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "group_lanes.h" /* G, the tiles, gv and its elementwise helpers */
/* correctly rounded like sqrtf */
AI gv vsqrt(gv x) {
#if defined(__AVX512F__)
    return (gv)_mm512_sqrt_ps((__m512)x);
#elif defined(__AVX__)
    return (gv)_mm256_sqrt_ps((__m256)x);
#elif defined(__SSE__)
    gv r;
    for (size_t h = 0; h < G / 4; h++)
        _mm_storeu_ps((float *)&r + 4 * h, _mm_sqrt_ps(_mm_loadu_ps((const float *)&x + 4 * h)));
    return r;
#else
    for (int g = 0; g < G; g++) x[g] = sqrtf(x[g]);
    return x;
#endif
}

/* Row stride, in vectors, of an activation or error array of w features: odd, so that the
 * rows a weight-gradient tile walks (a few vectors of each of B rows) fall into different
 * L1 sets. At the width itself (64 features x 64 bytes: rows 4 KB apart) they map to the
 * same few sets and evict each other: +6-9 % for the whole step with this stride
 * (docs/performance.md). The pad vectors are never read. */
#define LDW(w) ((w) | 1)

/* Inputs of a narrow layer (the first one: D features) taken as one block of weight-gradient
 * tiles: layer_step. */
#define TN 6

size_t train_group_lanes(void) { return G; }

// ----------------------------------------------------------------------------
// workspace

void group_ws_build(GroupWs *gw, const ModelLayout *L, size_t batch_max) {
    CHECK(gw != NULL && L != NULL, "group_ws_build: NULL argument");
    CHECK(batch_max >= 1, "group workspace batch_max must be >= 1");
    memset(gw, 0, sizeof *gw);
    size_t rows = (batch_max + TR - 1) / TR * TR, P = L->n_params;
    gw->lanes = G;
    gw->batch_max = batch_max;
    gw->rows = rows;
    gw->P = P;
    /* rows of every layer at stride LDW; eval_batched.c's unpadded rows fit in these too */
    size_t wact = LDW(L->shape.n_out);
    for (size_t l = 0; l < L->n_layers; l++) wact += LDW(L->fan_in[l]);
    size_t nact = rows * wact * G, nd = rows * LDW(L->max_width) * G;
    gw->p = xalloc_aligned(P * G * sizeof(float));
    gw->m = xalloc_aligned(P * G * sizeof(float));
    gw->v = xalloc_aligned(P * G * sizeof(float));
    /* zeroed although every step writes before it reads: keeps valgrind quiet */
    gw->act = xalloc_aligned(nact * sizeof(float));
    memset(gw->act, 0, nact * sizeof(float));
    gw->d0 = xalloc_aligned(nd * sizeof(float));
    memset(gw->d0, 0, nd * sizeof(float));
    gw->d1 = xalloc_aligned(nd * sizeof(float));
    memset(gw->d1, 0, nd * sizeof(float));
    gw->rmask = xalloc_aligned(rows * G * sizeof(float));
    gw->lab = xcalloc(rows * G, sizeof(int32_t));
}

void group_ws_free(GroupWs *gw) {
    if (!gw) return;
    for (size_t g = 0; g < FA_GROUP_MAX; g++) free(gw->perm[g]);
    free(gw->lab);
    free(gw->rmask);
    free(gw->d1);
    free(gw->d0);
    free(gw->act);
    free(gw->v);
    free(gw->m);
    free(gw->p);
    memset(gw, 0, sizeof *gw);
}

// ----------------------------------------------------------------------------
// the optimizer step of one parameter vector (train.c's operations, lane by lane)

typedef struct {
    float *p, *m, *v; /* (P, G) */
    const float *ref; /* (P) FedProx reference shared by the group, or NULL */
    gi active;        /* lanes whose client takes this step */
    gi pow2;          /* lanes whose mini-batch size is a power of two */
    int scale;        /* 1: every active lane pow2 (multiply), 2: none (divide), 3: mixed */
    bool all;         /* every lane active: the masked stores need no select (+2 %) */
    gv invB, fB;      /* 1 / B and B per lane (1 on idle lanes) */
    bool adam, prox;
    float mu, lr, b1, c1, b2, c2, bc1, bc2, eps;
} Step;

AI void step_param(const Step *s, size_t q, gv g) {
    if (s->scale == 1) g = g * s->invB;
    else if (s->scale == 2) g = g / s->fB;
    else g = sel(s->pow2, g * s->invB, g / s->fB);
    float *pp = s->p + q * G;
    gv w = LD(pp);
    if (s->prox) g = g + s->mu * (w - splat(s->ref[q]));
    gv w1;
    if (s->adam) {
        float *pm = s->m + q * G, *pv = s->v + q * G;
        gv m = LD(pm), v = LD(pv);
        gv m1 = s->b1 * m + s->c1 * g;
        gv v1 = s->b2 * v + s->c2 * (g * g);
        ST(pm, s->all ? m1 : sel(s->active, m1, m));
        ST(pv, s->all ? v1 : sel(s->active, v1, v));
        gv num = s->lr * (m1 * s->bc1);
        gv den = vsqrt(v1 * s->bc2) + s->eps;
        w1 = w - num / den;
    } else {
        w1 = w - s->lr * g;
    }
    ST(pp, s->all ? w1 : sel(s->active, w1, w));
}

// ----------------------------------------------------------------------------
// weight gradients by chunk, fused with the step

/* The TIc x TJc tile at (i0, j0) of layer gradient gW (fi, fo) = sum over rows r < B of
 * in[r][i] d[r][j], chunk by chunk, then each element's step. in: (rows, fi, G), d: (rows,
 * fo, G), rows at stride LDW; w_off: the layer's weights in the parameter buffer. */
AI void grad_tile(const Step *s, size_t w_off, const float *restrict in, size_t fi,
                  const float *restrict d, size_t fo, size_t B, size_t i0, size_t j0, size_t TIc,
                  size_t TJc) {
    gv acc[TI > TN ? TI : TN][TJ];
    for (size_t i = 0; i < TIc; i++)
        for (size_t j = 0; j < TJc; j++) acc[i][j] = splat(0.0f);
    const size_t ldi = LDW(fi), ldd = LDW(fo);
    for (size_t c0 = 0; c0 < B; c0 += FA_CHUNK) {
        size_t c1 = c0 + FA_CHUNK < B ? c0 + FA_CHUNK : B;
        gv part[TI > TN ? TI : TN][TJ];
        for (size_t i = 0; i < TIc; i++)
            for (size_t j = 0; j < TJc; j++) part[i][j] = splat(0.0f);
        for (size_t r = c0; r < c1; r++) {
            gv dv[TJ];
            for (size_t j = 0; j < TJc; j++) {
                dv[j] = LD(d + (r * ldd + j0 + j) * G);
                INREG(dv[j]);
            }
            for (size_t i = 0; i < TIc; i++) {
                gv a = LD(in + (r * ldi + i0 + i) * G);
                INREG(a);
                for (size_t j = 0; j < TJc; j++) part[i][j] = part[i][j] + a * dv[j];
            }
        }
        for (size_t i = 0; i < TIc; i++)
            for (size_t j = 0; j < TJc; j++)
                acc[i][j] = c0 == 0 ? part[i][j] : acc[i][j] + part[i][j];
    }
    for (size_t i = 0; i < TIc; i++)
        for (size_t j = 0; j < TJc; j++) step_param(s, w_off + (i0 + i) * fo + j0 + j, acc[i][j]);
}

/* bias gradient of one output j: d[r0] + d[r0 + 1] + ... per chunk, chunks in order */
static gv bias_grad(const float *d, size_t fo, size_t B, size_t j) {
    gv acc = splat(0.0f);
    const size_t ldd = LDW(fo);
    for (size_t c0 = 0; c0 < B; c0 += FA_CHUNK) {
        size_t c1 = c0 + FA_CHUNK < B ? c0 + FA_CHUNK : B;
        gv part = LD(d + (c0 * ldd + j) * G);
        for (size_t r = c0 + 1; r < c1; r++) part = part + LD(d + (r * ldd + j) * G);
        acc = c0 == 0 ? part : acc + part;
    }
    return acc;
}

/* the TIc inputs from i0 of layer gradient gW, outputs in tiles of TJc, 2 and 1 */
AI void grad_rows(const Step *s, size_t w_off, const float *restrict in, size_t fi,
                  const float *restrict d, size_t fo, size_t B, size_t i0, size_t TIc,
                  size_t TJc) {
    size_t j0 = 0;
    for (; j0 + TJc <= fo; j0 += TJc) grad_tile(s, w_off, in, fi, d, fo, B, i0, j0, TIc, TJc);
    for (; j0 + 2 <= fo; j0 += 2) grad_tile(s, w_off, in, fi, d, fo, B, i0, j0, TIc, 2);
    for (; j0 < fo; j0++) grad_tile(s, w_off, in, fi, d, fo, B, i0, j0, TIc, 1);
}

/* Layer l's weights and bias: gradients over rows < B and their step. Each block of inputs
 * reads the whole error d (as wide as the layer's outputs; from L2 when wide), so the
 * inputs go in few, tall blocks: TI, then 2, then 1; a layer of TN inputs (the first layer
 * of the default model: 6 features) in one block with tiles of 2 outputs (2 TN partial
 * sums and their running sums: 24 of the 32 AVX-512 registers), which beat blocks of TI
 * and the rest by 3-4 % of the whole step (and on the AVX2 and SSE2 paths too). */
static void layer_step(const Step *s, const ModelLayout *L, size_t l, const float *in,
                       const float *d, size_t B) {
    size_t fi = L->fan_in[l], fo = L->fan_out[l], w_off = L->w_off[l];
    size_t i0 = 0;
    if (fi == TN) {
        grad_rows(s, w_off, in, fi, d, fo, B, 0, TN, 2);
        i0 = TN;
    }
    for (; i0 + TI <= fi; i0 += TI) grad_rows(s, w_off, in, fi, d, fo, B, i0, TI, TJ);
    for (; i0 + 2 <= fi; i0 += 2) grad_rows(s, w_off, in, fi, d, fo, B, i0, 2, TJ);
    for (; i0 < fi; i0++) grad_rows(s, w_off, in, fi, d, fo, B, i0, 1, TJ);
    for (size_t j = 0; j < fo; j++) step_param(s, L->b_off[l] + j, bias_grad(d, fo, B, j));
}

// ----------------------------------------------------------------------------
// one lane's schedule: train_local's epochs and mini-batches for its client

typedef struct {
    const Dataset *ds;
    size_t *perm;
    uint64_t client;
    size_t n_epochs, full, m_last; /* train_epoch_count */
    size_t e, s, ne;               /* current epoch, next row of it, rows it visits */
    size_t B;                      /* rows of this step's mini-batch (0: finished) */
    double loss_sum, step_loss;
    size_t steps, samples;
} Lane;

/* epoch e's order: train.c's identity shuffled by (seed, FA_RNG_SHUFFLE, client, round, e) */
static void lane_epoch(Lane *ln, uint64_t seed, uint64_t round) {
    size_t n = ln->ds->n;
    for (size_t i = 0; i < n; i++) ln->perm[i] = i;
    Rng r;
    rng_init(&r, seed, FA_RNG_SHUFFLE, ln->client, round, (uint64_t)ln->e);
    rng_shuffle(&r, ln->perm, n);
    ln->s = 0;
    ln->ne = ln->e < ln->full ? n : ln->m_last;
}

static void lane_init(Lane *ln, GroupWs *gw, size_t g, const ModelLayout *L, const Dataset *ds,
                      const TrainOpts *opts, uint64_t seed, uint64_t client, uint64_t round) {
    memset(ln, 0, sizeof *ln);
    ln->ds = ds;
    ln->client = client;
    size_t n = ds->n;
    if (n == 0) return;
    CHECK(ds->d == L->shape.n_in, "dataset has %zu features, model expects %zu", ds->d,
          L->shape.n_in);
    if (n > gw->n_perm[g]) { /* the only allocation: growth of the largest client seen */
        free(gw->perm[g]);
        gw->perm[g] = xmalloc(n * sizeof(size_t));
        gw->n_perm[g] = n;
    }
    ln->perm = gw->perm[g];
    ln->n_epochs = train_epoch_count(opts, n, &ln->m_last);
    ln->full = (size_t)floor(opts->epochs);
    if (ln->n_epochs > 0) lane_epoch(ln, seed, round);
}

/* after a step of B rows: the next mini-batch, or the next epoch's order */
static void lane_advance(Lane *ln, uint64_t seed, uint64_t round) {
    ln->steps++;
    ln->samples += ln->B;
    ln->loss_sum += ln->step_loss;
    ln->s += ln->B;
    if (ln->s >= ln->ne && ++ln->e < ln->n_epochs) lane_epoch(ln, seed, round);
}

// ----------------------------------------------------------------------------
// one step of the group

/* x' = (x - mean) * inv_std of each lane's rows into the input layer, labels, row masks;
 * rows a lane does not have are 0 (rows up to the tile-rounded count `rows`) */
static void gather(const ModelLayout *L, GroupWs *gw, const Lane *ln, size_t n, size_t rows) {
    size_t D = L->shape.n_in, K = L->shape.n_out, ld = LDW(D);
    const float *mean = gw->p, *inv = gw->p + D * G;
    float *a = gw->act;
    for (size_t r = 0; r < rows; r++)
        for (size_t g = 0; g < G; g++) {
            float *ar = a + r * ld * G + g;
            int32_t *bits = (int32_t *)(void *)(gw->rmask + r * G + g);
            if (g < n && r < ln[g].B) {
                size_t row = ln[g].perm[ln[g].s + r];
                const float *x = ln[g].ds->x + row * D;
                int32_t y = ln[g].ds->y[row];
                CHECK(y >= 0 && (size_t)y < K, "label %d of row %zu is outside [0, %zu)", (int)y,
                      row, K);
                for (size_t i = 0; i < D; i++)
                    ar[i * G] = (x[i] - mean[i * G + g]) * inv[i * G + g];
                gw->lab[r * G + g] = y;
                *bits = -1;
            } else {
                for (size_t i = 0; i < D; i++) ar[i * G] = 0.0f;
                gw->lab[r * G + g] = 0;
                *bits = 0;
            }
        }
}

/* model.c's chunk_xent for every lane's rows: its step loss (the chunk sums added in chunk
 * order, over B) into step_loss, the error of the logits into d (rows, K, G; 0 where a
 * lane has no row). All lanes at once, each lane doing the scalar code's operations: the
 * row maximum, fa_expf (fa_math.h: glibc's expf bits, vectorized), the float sum, the
 * float reciprocal, fa_log_f2d and the double sums; rows a lane lacks are computed and
 * dropped by selects. */
static void xent(const float *zT, size_t K, const GroupWs *gw, Lane *ln, size_t n, size_t rows,
                 float *d) {
    /* half a group's lanes in double: the per-lane double sums */
    typedef double hd __attribute__((vector_size(G / 2 * sizeof(double))));
    typedef int64_t hl __attribute__((vector_size(G / 2 * sizeof(double))));
    size_t Bmax = 0;
    hl B[2] = {{0}, {0}}; /* lanes without a client: no rows */
    for (size_t g = 0; g < n; g++) {
        B[g / (G / 2)][g % (G / 2)] = (int64_t)ln[g].B;
        Bmax = ln[g].B > Bmax ? ln[g].B : Bmax;
    }
    const size_t ld = LDW(K);
    memset(d + Bmax * ld * G, 0, (rows - Bmax) * ld * G * sizeof(float));
    hd loss[2] = {{0}, {0}}, lc[2] = {{0}, {0}};
    for (size_t r = 0; r < Bmax; r++) {
        const float *z = zT + r * ld * G;
        gi lab, act;
        memcpy(&lab, gw->lab + r * G, sizeof lab);
        for (size_t g = 0; g < G; g++) act[g] = (int64_t)r < B[g / (G / 2)][g % (G / 2)] ? -1 : 0;
        gv mx = LD(z);
        for (size_t k = 1; k < K; k++) mx = sel(LD(z + k * G) > mx, LD(z + k * G), mx);
        gv e[FA_MAX_CLASSES], s = splat(0.0f), zl = splat(0.0f);
        for (size_t k = 0; k < K; k++) {
            e[k] = fa_expf_v(LD(z + k * G) - mx);
            s += e[k];
            zl = sel(lab == (int32_t)k, LD(z + k * G), zl);
        }
        double lg[G];
        fa_log_f2d_v(s, lg);
        gv inv = splat(1.0f) / s, dz = zl - mx;
        for (size_t k = 0; k < K; k++) {
            gv one = sel(lab == (int32_t)k, splat(1.0f), splat(0.0f));
            ST(d + (r * ld + k) * G, (gv)((gi)(e[k] * inv - one) & act));
        }
        /* lc += log(s) - (z_y - max) on the lanes that have row r; a chunk's sum goes to
         * loss where the lane's chunk ends (every FA_CHUNK rows, or at its last row) */
        bool chunk_end = (r + 1) % FA_CHUNK == 0;
        for (size_t h = 0; h < 2; h++) {
            hd l, dzh;
            memcpy(&l, lg + h * (G / 2), sizeof l);
            float dzf[G / 2];
            memcpy(dzf, (const float *)&dz + h * (G / 2), sizeof dzf);
            for (size_t j = 0; j < G / 2; j++) dzh[j] = (double)dzf[j];
            hl on = (int64_t)r < B[h];
            hl flush = on & (((hl){0} - (int64_t)chunk_end) | ((int64_t)r + 1 == B[h]));
            hd t = lc[h] + (l - dzh);
            lc[h] = (hd)(((hl)t & on) | ((hl)lc[h] & ~on));
            hd u = loss[h] + lc[h];
            loss[h] = (hd)(((hl)u & flush) | ((hl)loss[h] & ~flush));
            lc[h] = (hd)((hl)lc[h] & ~flush);
        }
    }
    for (size_t g = 0; g < n; g++) {
        double sum = loss[g / (G / 2)][g % (G / 2)];
        ln[g].step_loss = ln[g].B ? sum / (double)ln[g].B : 0.0;
    }
}

/* forward, loss, and backward with each layer's step (rows: Bmax rounded up to TR).
 * Hidden activations are zeroed where a lane lacks a row only when an active lane's
 * mini-batch is shorter than Bmax (ragged): rows >= Bmax never reach a gradient, and a
 * lane without a mini-batch has its step masked, so whatever it computes is dropped. */
static void group_step(const ModelLayout *L, GroupWs *gw, Lane *ln, size_t n, const Step *s,
                       size_t Bmax, size_t rows) {
    bool ragged = false;
    for (size_t g = 0; g < n; g++) ragged |= ln[g].B && ln[g].B < Bmax;
    const size_t nl = L->n_layers, K = L->shape.n_out;
    float *lay[FA_MAX_HIDDEN + 2]; /* input of layer l; lay[nl] = the logits */
    lay[0] = gw->act;
    for (size_t l = 0; l < nl; l++) lay[l + 1] = lay[l] + gw->rows * LDW(L->fan_in[l]) * G;
    gather(L, gw, ln, n, rows);
    const float *p = gw->p;
    for (size_t l = 0; l < nl; l++) {
        size_t fi = L->fan_in[l], fo = L->fan_out[l];
        bool hidden = l + 1 < nl;
        mm(p + L->w_off[l] * G, 1, fo, p + L->b_off[l] * G, lay[l], fi, LDW(fi), lay[l + 1], fo,
           LDW(fo), NULL,
           hidden, hidden && ragged ? gw->rmask : NULL, rows);
    }
    float *d = gw->d0, *dn = gw->d1;
    xent(lay[nl], K, gw, ln, n, rows, d);
    for (size_t l = nl; l-- > 0;) {
        size_t fi = L->fan_in[l], fo = L->fan_out[l];
        if (l > 0) /* the error of the layer below, from the weights before their step */
            mm(p + L->w_off[l] * G, fo, 1, NULL, d, fo, LDW(fo), dn, fi, LDW(fi), lay[l], false,
               NULL, rows);
        layer_step(s, L, l, lay[l], d, Bmax);
        float *sw = d;
        d = dn;
        dn = sw;
    }
}

/* the lane masks and per-step constants of step t; returns the largest mini-batch */
static size_t step_setup(Step *s, const Lane *ln, size_t n, const TrainOpts *o, uint64_t t) {
    size_t Bmax = 0;
    int any2 = 0, anyn = 0;
    for (size_t g = 0; g < G; g++) {
        size_t B = g < n ? ln[g].B : 0;
        bool p2 = B && (B & (B - 1)) == 0 && B <= ((size_t)1 << 24);
        s->active[g] = B ? -1 : 0;
        s->pow2[g] = p2 ? -1 : 0;
        float fB = B ? (float)B : 1.0f;
        s->fB[g] = fB;
        s->invB[g] = 1.0f / fB;
        if (B) {
            any2 |= p2;
            anyn |= !p2;
        }
        if (B > Bmax) Bmax = B;
    }
    s->scale = anyn ? (any2 ? 3 : 2) : 1;
    s->all = true;
    for (size_t g = 0; g < G; g++) s->all &= s->active[g] != 0;
    if (s->adam) {
        s->bc1 = (float)(1.0 / (1.0 - pow(o->beta1, (double)t)));
        s->bc2 = (float)(1.0 / (1.0 - pow(o->beta2, (double)t)));
    }
    return Bmax;
}

// ----------------------------------------------------------------------------
// the group's training

static void check_opts(const TrainOpts *o, const GroupWs *gw) {
    CHECK(o->batch >= 1 && o->batch <= gw->batch_max,
          "mini-batch %zu outside [1, workspace batch_max %zu]", o->batch, gw->batch_max);
    CHECK(isfinite(o->epochs) && o->epochs >= 0.0 && o->epochs <= 1e9,
          "epochs must be in [0, 1e9], got %g", o->epochs);
    CHECK(isfinite(o->lr) && o->lr >= 0.0, "learning rate must be >= 0, got %g", o->lr);
    CHECK(o->opt == FA_OPT_ADAM || o->opt == FA_OPT_SGD, "unknown optimizer %d", (int)o->opt);
    CHECK(isfinite(o->mu) && o->mu >= 0.0, "FedProx mu must be >= 0, got %g", o->mu);
    if (o->opt == FA_OPT_ADAM) {
        CHECK(o->beta1 >= 0.0 && o->beta1 < 1.0 && o->beta2 >= 0.0 && o->beta2 < 1.0,
              "Adam betas must be in [0, 1), got %g, %g", o->beta1, o->beta2);
        CHECK(o->eps >= 0.0, "Adam needs eps >= 0 and a finite lr");
    }
}

void train_local_group(const ModelLayout *L, size_t n, float *const *params, const float *ref,
                       const Dataset *const *ds, const TrainOpts *opts, uint64_t seed,
                       const uint64_t *client, uint64_t round, GroupWs *gw, TrainStats *stats) {
    CHECK(n >= 1 && n <= G, "a group holds 1..%d clients, got %zu", G, n);
    CHECK(gw->lanes == G && gw->P == L->n_params, "group workspace built for another model");
    CHECK(L->shape.kind == FA_MODEL_MLP, "train_local_group: the mlp model only");
    check_opts(opts, gw);
    const size_t P = L->n_params, off = L->train_off;
    Lane ln[G];
    for (size_t g = 0; g < n; g++) lane_init(&ln[g], gw, g, L, ds[g], opts, seed, client[g], round);
    for (size_t q = 0; q < P; q++)
        for (size_t g = 0; g < G; g++) gw->p[q * G + g] = g < n ? params[g][q] : 0.0f;
    memset(gw->m, 0, P * G * sizeof(float));
    memset(gw->v, 0, P * G * sizeof(float));
    Step s = {.p = gw->p,
              .m = gw->m,
              .v = gw->v,
              .ref = ref && opts->mu > 0.0 ? ref : NULL,
              .adam = opts->opt == FA_OPT_ADAM,
              .prox = ref != NULL && opts->mu > 0.0,
              .mu = (float)opts->mu,
              .lr = (float)opts->lr,
              .b1 = (float)opts->beta1,
              .c1 = (float)(1.0 - opts->beta1),
              .b2 = (float)opts->beta2,
              .c2 = (float)(1.0 - opts->beta2),
              .eps = (float)opts->eps};
    for (uint64_t t = 1;; t++) {
        for (size_t g = 0; g < n; g++) {
            Lane *x = &ln[g];
            x->B =
                x->e < x->n_epochs ? (x->ne - x->s < opts->batch ? x->ne - x->s : opts->batch) : 0;
        }
        size_t Bmax = step_setup(&s, ln, n, opts, t);
        if (Bmax == 0) break;
        group_step(L, gw, ln, n, &s, Bmax, (Bmax + TR - 1) / TR * TR);
        for (size_t g = 0; g < n; g++)
            if (ln[g].B) lane_advance(&ln[g], seed, round);
    }
    for (size_t g = 0; g < n; g++) {
        for (size_t q = off; q < P; q++) params[g][q] = gw->p[q * G + g];
        if (stats)
            stats[g] = (TrainStats){ln[g].steps ? ln[g].loss_sum / (double)ln[g].steps : 0.0,
                                    ln[g].steps, ln[g].samples};
    }
}

#else /* no GCC vector extensions: no group kernel, callers train client by client */

size_t train_group_lanes(void) { return 0; }
void group_ws_build(GroupWs *gw, const ModelLayout *L, size_t batch_max) {
    (void)L, (void)batch_max;
    memset(gw, 0, sizeof *gw);
}
void group_ws_free(GroupWs *gw) { memset(gw, 0, sizeof *gw); }
void train_local_group(const ModelLayout *L, size_t n, float *const *params, const float *ref,
                       const Dataset *const *ds, const TrainOpts *opts, uint64_t seed,
                       const uint64_t *client, uint64_t round, GroupWs *gw, TrainStats *stats) {
    (void)L, (void)n, (void)params, (void)ref, (void)ds, (void)opts, (void)seed, (void)client,
        (void)round, (void)gw, (void)stats;
    fa_fail("train_local_group: this build has no client-batched kernel");
}

#endif
