/*
 * robust.c: the rank-0 rules of the robust-aggregation methods (robust.h).
 *
 * Every rule writes exact fixed-point sums (the grid of aggregate.h) and an integer
 * denominator, so that the server step is fl_apply_update as for every other method:
 *   median       the middle value of each coordinate (den 1), or the two middle values
 *                (den 2) for an even count: the exact midpoint;
 *   trimmed      the m - 2k middle values of each coordinate (den m - 2k); with k = 0 this
 *                is the sum FedAvg --fedavg-uniform reduces, bit for bit;
 *   (multi-)krum the selected updates with weight 1 (den = how many);
 *   fltrust      q_i = quantized ReLU(cos(g_i, g_0)) (the 12-bit grid of the dual
 *                criterion) times g_i rescaled to |g_0| (den = sum q_i).
 * Order: ties between equal values or scores go to the lower client index, so the
 * result is a function of the updates in client order alone. OpenMP: coordinates
 * (median, trimmed) or rows of the distance matrix (Krum) are split over threads; each
 * value is computed by one thread in a fixed order, and the per-thread weight counts are
 * integers, so the thread count never changes a bit.
 */
#include "fedalign/robust.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/aggregate.h"
#include "fedalign/check.h"
#include "fedalign/round.h"

/* one coordinate's value of one update, sorted by (value, client index) */
typedef struct {
    float v;
    uint32_t i;
} Key;

/* one update's Krum score, sorted by (score, client index) */
typedef struct {
    double s;
    size_t i;
} Score;

_Static_assert(sizeof(Key) == sizeof(double), "a thread's Key row doubles as Krum's distances");

static int cmp_key(const void *a, const void *b) {
    const Key *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_score(const void *a, const void *b) {
    const Score *x = a, *y = b;
    if (x->s != y->s) return x->s < y->s ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* scratch layout: per thread cap Keys and cap int64 counts, then cap Scores */
static Key *thread_keys(const RobustBuf *b, int tid) {
    return (Key *)((char *)b->scratch + (size_t)tid * b->cap * 16);
}
static int64_t *thread_counts(const RobustBuf *b, int tid) {
    return (int64_t *)((char *)thread_keys(b, tid) + b->cap * 8);
}
static Score *scores(const RobustBuf *b) {
    return (Score *)((char *)b->scratch + (size_t)b->nthreads * b->cap * 16);
}

double robust_rank0_bytes(FaRobust rule, size_t C, size_t P, int nthreads) {
    if (rule == FA_ROBUST_NONE) return 0.0;
    const double c = (double)C, p = (double)P;
    double bytes = c * p * 4.0 + p * 12.0 + c * 16.0 + ((double)nthreads * 16.0 + 16.0) * c;
    if (rule == FA_ROBUST_KRUM || rule == FA_ROBUST_MULTIKRUM) bytes += c * c * 8.0;
    return bytes;
}

void robust_buf_init(RobustBuf *b, FaRobust rule, size_t cap, size_t P, int nthreads) {
    memset(b, 0, sizeof *b);
    if (cap == 0) cap = 1;
    b->cap = cap;
    b->P = P;
    b->nthreads = nthreads > 0 ? nthreads : 1;
    b->U = xalloc_aligned(cap * P * sizeof(float));
    b->num = xcalloc(P, sizeof(int64_t));
    b->weight = xcalloc(cap, sizeof(double));
    b->cosv = xcalloc(cap, sizeof(double));
    b->root = xalloc_aligned(P * sizeof(float));
    if (rule == FA_ROBUST_KRUM || rule == FA_ROBUST_MULTIKRUM)
        b->dist = xcalloc(cap * cap, sizeof(double));
    b->scratch = xcalloc((size_t)b->nthreads * cap * 16 + cap * sizeof(Score), 1);
}

void robust_buf_free(RobustBuf *b) {
    free(b->scratch);
    free(b->dist);
    free(b->root);
    free(b->cosv);
    free(b->weight);
    free(b->num);
    free(b->U);
    memset(b, 0, sizeof *b);
}

static bool add_fixed(int64_t *acc, float v) {
    int64_t q;
    return fixed_from_double((double)v, &q) && !__builtin_add_overflow(*acc, q, acc);
}

// ----------------------------------------------------------------------------
// coordinate-wise rules: median and trimmed mean

/* Sum of the kept values [lo, hi) of every sorted coordinate into num; counts[i] gets
 * `unit` per coordinate where update i is kept (its share, in integers). */
static bool kern_coordinates(RobustBuf *b, size_t m, size_t lo, size_t hi) {
    const size_t P = b->P;
    bool ok = true;
#pragma omp parallel num_threads(b->nthreads) reduction(&& : ok)
    {
        const int tid = omp_get_thread_num();
        Key *k = thread_keys(b, tid);
        int64_t *cnt = thread_counts(b, tid);
        memset(cnt, 0, m * sizeof(int64_t));
#pragma omp for schedule(static)
        for (size_t j = 0; j < P; j++) {
            for (size_t i = 0; i < m; i++) k[i] = (Key){b->U[i * P + j], (uint32_t)i};
            qsort(k, m, sizeof *k, cmp_key);
            int64_t s = 0;
            for (size_t r = lo; r < hi; r++) {
                ok = ok && add_fixed(&s, k[r].v);
                cnt[k[r].i]++;
            }
            b->num[j] = s;
        }
    }
    /* each coordinate keeps hi - lo values: every update's share of all kept values */
    const double total = (double)P * (double)(hi - lo);
    for (size_t i = 0; i < m; i++) {
        int64_t c = 0;
        for (int t = 0; t < b->nthreads; t++) c += thread_counts(b, t)[i];
        b->weight[i] = total > 0.0 ? (double)c / total : 0.0;
    }
    return ok;
}

// ----------------------------------------------------------------------------
// Krum and Multi-Krum

/* Squared distances of every pair, each in double left to right; row i by one thread. */
static void kern_distances(RobustBuf *b, size_t m) {
    const size_t P = b->P;
#pragma omp parallel for schedule(dynamic, 1) num_threads(b->nthreads)
    for (size_t i = 0; i < m; i++) {
        b->dist[i * m + i] = 0.0;
        for (size_t k = i + 1; k < m; k++) {
            const float *x = b->U + i * P, *y = b->U + k * P;
            double s = 0.0;
            for (size_t j = 0; j < P; j++) {
                double d = (double)x[j] - (double)y[j];
                s += d * d;
            }
            b->dist[i * m + k] = s;
        }
    }
    for (size_t i = 0; i < m; i++)
        for (size_t k = 0; k < i; k++) b->dist[i * m + k] = b->dist[k * m + i];
}

/* Krum score of every update: the sum, smallest first, of its nb smallest distances to
 * the others; then the updates in (score, index) order in scores(b). */
static void krum_scores(RobustBuf *b, size_t m, size_t nb) {
    Score *sc = scores(b);
#pragma omp parallel num_threads(b->nthreads)
    {
        double *row = (double *)thread_keys(b, omp_get_thread_num());
#pragma omp for schedule(static)
        for (size_t i = 0; i < m; i++) {
            size_t n = 0;
            for (size_t k = 0; k < m; k++)
                if (k != i) row[n++] = b->dist[i * m + k];
            qsort(row, n, sizeof *row, cmp_double);
            double s = 0.0;
            for (size_t r = 0; r < nb && r < n; r++) s += row[r];
            sc[i] = (Score){s, i};
        }
    }
    qsort(sc, m, sizeof *sc, cmp_score);
}

static bool krum(RobustBuf *b, const RobustParams *p, size_t m, int64_t *den) {
    const size_t P = b->P, f = p->krum_f;
    /* Blanchard et al.: n - f - 2 nearest; at least one when fewer updates arrived */
    const size_t nb = m > f + 2 ? m - f - 2 : 1;
    size_t sel = 1;
    if (p->rule == FA_ROBUST_MULTIKRUM) {
        sel = p->krum_m ? p->krum_m : (m > f ? m - f : 1);
        if (sel > m) sel = m;
    }
    kern_distances(b, m);
    krum_scores(b, m, nb);
    const Score *sc = scores(b);
    bool ok = true;
    for (size_t r = 0; r < sel; r++) {
        ok = ok && fixed_accumulate_q(b->num, b->U + sc[r].i * P, 1, P);
        b->weight[sc[r].i] = 1.0 / (double)sel;
    }
    *den = (int64_t)sel;
    return ok;
}

// ----------------------------------------------------------------------------
// FLTrust

static bool fltrust(RobustBuf *b, size_t m, const float *g0, int64_t *den) {
    const size_t P = b->P;
    const double n0 = vec_norm2(g0, P);
    bool ok = true;
    int64_t d = 0;
    for (size_t i = 0; i < m && n0 > 0.0; i++) {
        float *g = b->U + i * P;
        const double c = vec_cosine(g, g0, P), ni = vec_norm2(g, P);
        b->cosv[i] = c;
        const int64_t q = fl_quantize_weight(c > 0.0 ? c : 0.0); /* ReLU; NaN -> 0 */
        if (q == 0 || !(ni > 0.0)) continue;
        const double s = n0 / ni; /* the update rescaled to the root update's norm */
        for (size_t j = 0; j < P; j++) g[j] = (float)((double)g[j] * s);
        ok = ok && fixed_accumulate_q(b->num, g, q, P);
        b->weight[i] = (double)q;
        d += q;
    }
    for (size_t i = 0; i < m; i++) b->weight[i] = d ? b->weight[i] / (double)d : 0.0;
    *den = d;
    return ok;
}

bool robust_aggregate(RobustBuf *b, const RobustParams *p, size_t m, const float *g0,
                      int64_t *den) {
    CHECK(m <= b->cap, "robust_aggregate: %zu updates, room for %zu", m, b->cap);
    memset(b->num, 0, b->P * sizeof(int64_t));
    for (size_t i = 0; i < m; i++) {
        b->weight[i] = 0.0;
        b->cosv[i] = nan("");
    }
    *den = 0;
    if (m == 0) return true;
    switch (p->rule) {
    case FA_ROBUST_MEDIAN: /* one middle value (odd m) or the two middle values (even m) */
        *den = m % 2 ? 1 : 2;
        return kern_coordinates(b, m, (m - 1) / 2, m / 2 + 1);
    case FA_ROBUST_TRIMMED: {
        size_t k = (size_t)floor(p->trim_frac * (double)m);
        if (k > (m - 1) / 2) k = (m - 1) / 2; /* keep at least one value */
        *den = (int64_t)(m - 2 * k);
        return kern_coordinates(b, m, k, m - k);
    }
    case FA_ROBUST_KRUM:
    case FA_ROBUST_MULTIKRUM: return krum(b, p, m, den);
    case FA_ROBUST_FLTRUST:
        CHECK(g0, "robust_aggregate: FLTrust needs the root update");
        return fltrust(b, m, g0, den);
    default: CHECK(false, "robust_aggregate: no rule %d", (int)p->rule);
    }
    return false;
}
