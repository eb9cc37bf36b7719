/*
 * fl.c: the four phases of Fed-Meta-Align and the baselines under one loop.
 *
 * Shapes: P = parameters, C = clients (global), n = clients on this rank.
 * Reproducibility: a client's work depends only on (seed, client id, round) and the
 * broadcast global model; every sum over clients is an int64 fixed-point sum; the
 * server update is a function of the exact rational num/den (fl_apply_update). So
 * the global model, the per-client metrics and the personalized models are
 * bit-identical for any number of ranks and threads.
 * Communication per phase-2 round: one Bcast of P floats, one Reduce of P + 8 int64
 * and, for the mean-update cosine reference only, one Allreduce of P + 1 int64.
 * Nothing of size C x P ever passes through rank 0.
 * OpenMP: the per-client loops in the "kernels" section are the only parallel
 * regions here; each thread owns a Workspace and a model scratch row.
 */
#include "fedalign/fl.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/aggregate.h"
#include "fedalign/check.h"
#include "fedalign/comm.h"
#include "fedalign/quant.h"
#include "fedalign/rng.h"

/* shuffle-stream "round" ids per phase, so phases never share a stream */
#define FA_ROUND_P1 (UINT64_C(1) << 40)
#define FA_ROUND_P3 (UINT64_C(1) << 41)
#define FA_ROUND_LOCAL (UINT64_C(1) << 42)
#define FA_CLIENT_PUBLIC (UINT64_C(1) << 62)

/* extra int64 slots after the P sums in the per-round reduce buffer */
enum {
    X_DEN,       /* sum q_t */
    X_CORRECT,   /* eval of phi^r: correct predictions */
    X_N,         /* eval of phi^r: test rows */
    X_LOSS,      /* eval of phi^r: fixed sum of clamped loss * rows / 1024 */
    X_QCOS,      /* sum q_t * theta_t (fixed) */
    X_SELECTED,  /* clients trained */
    X_TRAINLOSS, /* sum of mean local training losses (fixed) */
    X_STOP,      /* ranks asking to stop (a signal arrived) */
    X_REJECTED,  /* updates rejected (non-finite / out of range) */
    X_DROPPED,   /* clients that dropped out */
    X_LATE,      /* clients that missed the deadline */
    X_COUNT
};

struct Pipeline {
    const Config *cfg;
    FedData fd;
    ModelLayout L;
    size_t P;
    int rank, size, nthreads;
    bool over_clients;      /* OpenMP threads take whole clients (else split the batch) */
    Workspace *ws;          /* (nthreads) */
    float *tmodel;          /* (nthreads, P) client model scratch */
    float *global;          /* (P) phi on every rank after each broadcast */
    float *prev;            /* (P) previous global (for the "prev" reference) */
    float *ref;             /* (P) cosine reference direction */
    float *token;           /* (P + 1) ring token: model and visit counter */
    float *init;            /* (P) random initialization incl. standardization */
    float *foundation;      /* (P) phase-0 model, computed once per process */
    bool have_foundation;
    double acc_public;      /* foundation on held-out public rows (rank 0, then bcast) */
    float *deltas;          /* (n, P) local updates; allocated by the first method that
                             * stores them (similarity with the mean reference) */
    double *dnorm2;         /* (n) |delta_t|^2 of the stored deltas, from the first pass */
    double refnorm2;        /* |ref|^2 of the previous-update reference, once per round */
    double *tagg;           /* (nthreads) seconds of first-pass aggregation per thread */
    size_t *alist;          /* (n) clients aggregated this round (second pass) */
    int64_t *tacc;          /* (nthreads, P + X_COUNT) per-thread fixed accumulators */
    int64_t *acc;           /* (P + X_COUNT) */
    bool *tok;              /* (nthreads) per-thread overflow flags */
    /* per local client scratch (n) */
    unsigned char *sel;
    double *score, *theta, *tloss;
    int64_t *q;
    uint64_t *hash;
    uint32_t *status;       /* (n) FA_ST_* of the current round */
    double *dtime;          /* (n) simulated device seconds of the current round */
    size_t flash;           /* int8 model data bytes (same for every client) */
    double *speed;          /* (n) device speed factor (time multiplier) */
    unsigned char *attacker; /* (n) */
    Timers t;
};

static void checkpoint(Pipeline *pl, const FlHooks *h, MethodResult *res, int phase, size_t round);

// ----------------------------------------------------------------------------
// small helpers

const FedData *fl_data(const Pipeline *pl) { return &pl->fd; }
const ModelLayout *fl_layout(const Pipeline *pl) { return &pl->L; }
int fl_threads(const Pipeline *pl) { return pl->nthreads; }
bool fl_threads_over_clients(const Pipeline *pl) { return pl->over_clients; }

int64_t fl_quantize_weight(double u) {
    if (!(u > 0.0)) return 0;
    if (u > 1.0) u = 1.0;
    return llround(ldexp(u, FA_WEIGHT_BITS));
}

void fl_apply_update(float *out, const float *base, const int64_t *num, int64_t den,
                     double alpha, size_t n) {
    CHECK(den > 0 && den < (INT64_C(1) << 53), "update denominator %lld out of range",
          (long long)den);
    const double dden = (double)den, scale = alpha * ldexp(1.0, -FA_FIXED_BITS);
    for (size_t i = 0; i < n; i++) {
        /* num/den = Q + R/den with exact integers; R and den are < 2^53, so both
         * conversions are exact and the division is correctly rounded: the result
         * depends only on the rational num/den (equal weights cancel exactly). */
        int64_t Q = num[i] / den, R = num[i] % den;
        double v = (double)Q + (double)R / dden;
        out[i] = (float)((double)base[i] + scale * v);
    }
}

static double clamp01(double x) { return x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x; }

static double nan_value(void) { return nan(""); }

/* An update is aggregated only when every element is finite and below
 * FA_UPDATE_MAX in magnitude (which also keeps the fixed-point sums in range). */
static bool update_acceptable(const float *d, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(d[i]) < (float)FA_UPDATE_MAX)) return false; /* false for NaN too */
    return true;
}

/* A malicious client's upload (--attack): it trains honestly, then sends
 * signflip: -delta; scale: X * delta; noise: Gaussian noise X times delta's RMS;
 * nan: NaN everywhere. The noise comes from the client's fault stream. */
static void attack_update(float *d, size_t n, const Config *c, Rng *r) {
    const float x = (float)c->attack_scale;
    switch (c->attack) {
    case FA_ATTACK_SIGNFLIP:
        for (size_t i = 0; i < n; i++) d[i] = -d[i];
        break;
    case FA_ATTACK_SCALE:
        for (size_t i = 0; i < n; i++) d[i] *= x;
        break;
    case FA_ATTACK_NOISE: {
        double rms = vec_norm2(d, n) / sqrt((double)(n ? n : 1));
        for (size_t i = 0; i < n; i++) d[i] = (float)(rms * c->attack_scale * rng_normal(r));
        break;
    }
    case FA_ATTACK_NAN:
        for (size_t i = 0; i < n; i++) d[i] = nanf("");
        break;
    default: break;
    }
}

// ----------------------------------------------------------------------------
// kernels: the only OpenMP regions of the pipeline

/* Evaluate params on every local client's test split (or val when use_val).
 * acc_out (n) may be NULL; sums go to cnt[0..3) = correct, rows, fixed loss. */
static void kern_eval_clients(Pipeline *pl, const float *params, bool use_val, double *acc_out,
                              int64_t cnt[3]) {
    const size_t n = pl->fd.n_local;
    int64_t correct = 0, rows = 0, loss = 0;
    bool ok = true;
#pragma omp parallel for schedule(dynamic, 1) num_threads(pl->nthreads) if (pl->over_clients) \
    reduction(+ : correct, rows, loss) reduction(&& : ok)
    for (size_t i = 0; i < n; i++) {
        int tid = omp_get_thread_num();
        const Dataset *ds = use_val ? &pl->fd.clients[i].val : &pl->fd.clients[i].test;
        EvalResult er;
        model_evaluate(&pl->L, params, ds, &pl->ws[tid], !pl->over_clients, &er);
        if (acc_out) acc_out[i] = ds->n ? er.acc : nan_value();
        correct += (int64_t)er.correct;
        rows += (int64_t)er.n;
        /* loss sums are for display: clamp so a diverged model cannot overflow */
        double l = er.loss < 1000.0 && isfinite(er.loss) ? er.loss : 1000.0;
        int64_t fx;
        ok = ok && fixed_from_double(l * (double)er.n / 1024.0, &fx);
        if (ok) loss += fx;
    }
    CHECK(ok, "evaluation loss sum out of fixed-point range");
    cnt[0] = correct;
    cnt[1] = rows;
    cnt[2] = loss;
}

/* Local training of the selected clients from pl->global (phase 2 and local-only).
 * For each selected client: s_t, mean training loss, and either its delta stored in
 * pl->deltas (store_delta) or q_t * fixed(delta) accumulated into the per-thread
 * accumulators right away (the weight must then be computable from the client
 * alone: FedAvg, FedProx, or the "prev" reference). */
static void kern_train_clients(Pipeline *pl, const MethodSpec *ms, uint64_t round,
                               const TrainOpts *opts, bool store_delta) {
    const Config *c = pl->cfg;
    const size_t n = pl->fd.n_local, P = pl->P;
    const double chance_loss = log((double)pl->fd.info.k);
    for (int t = 0; t < pl->nthreads; t++) {
        memset(pl->tacc + (size_t)t * (P + X_COUNT), 0, (P + X_COUNT) * sizeof(int64_t));
        pl->tok[t] = true;
        pl->tagg[t] = 0.0;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(pl->nthreads) if (pl->over_clients)
    for (size_t i = 0; i < n; i++) {
        if (!pl->sel[i]) continue;
        int tid = omp_get_thread_num();
        const ClientData *cd = &pl->fd.clients[i];
        float *w = pl->tmodel + (size_t)tid * P;
        int64_t *ta = pl->tacc + (size_t)tid * (P + X_COUNT);
        Workspace *ws = &pl->ws[tid];
        const bool inner = !pl->over_clients;
        uint32_t st = FA_ST_SELECTED | (pl->attacker[i] ? FA_ST_ATTACKER : 0u);
        /* faults, from the client's own stream for this round */
        Rng fr;
        rng_init(&fr, c->seed, FA_RNG_FAULT, (uint64_t)cd->id, round, 0);
        const double u_drop = rng_uniform(&fr);
        const double d = pl->speed[i] * opts->epochs * (double)cd->train.n / FA_DEVICE_RATE;
        const bool late = c->deadline > 0.0 && d > c->deadline;
        pl->dtime[i] = d;
        if (c->dropout > 0.0 && u_drop < c->dropout) {
            pl->status[i] = st | FA_ST_DROPPED;
            continue;
        }
        if (late) st |= FA_ST_LATE;
        if (late && !c->late_discount) { /* the server does not wait */
            pl->status[i] = st;
            continue;
        }
        memcpy(w, pl->global, P * sizeof(float));
        EvalResult er;
        double s = 1.0;
        if (ms->similarity && c->score == FA_SCORE_PREACC && cd->val.n) {
            model_evaluate(&pl->L, w, &cd->val, ws, inner, &er);
            s = er.acc;
        }
        TrainStats ts;
        train_local(&pl->L, w, ms->method == FA_METHOD_FEDPROX ? pl->global : NULL, &cd->train,
                    opts, c->seed, (uint64_t)cd->id, round, ws, inner, &ts);
        pl->tloss[i] = ts.loss_mean;
        if (ms->similarity && c->score != FA_SCORE_PREACC && cd->val.n) {
            model_evaluate(&pl->L, w, &cd->val, ws, inner, &er);
            s = c->score == FA_SCORE_ACC ? er.acc : 1.0 - clamp01(er.loss / chance_loss);
        }
        pl->score[i] = s; /* an attacker reports the score of its honest model */
        /* from here on: aggregation (timed as FA_T_AGG, see move_agg_time) */
        const double ta0 = timer_now();
        if (!pl->attacker[i] && !(c->clip > 0.0) && (store_delta || !ms->similarity)) {
            /* the common case in one pass: delta, bound check, (store,) q_t * fixed(delta);
             * the weight is known before the delta (FedAvg, FedProx) or is 1 (the mean
             * reference). Same bits as the general path below. */
            int64_t q = 1;
            if (!store_delta) {
                q = c->fedavg_uniform ? 1 : (int64_t)cd->train.n;
                if (late) q = (int64_t)llround((double)q * c->deadline / d); /* staleness */
            }
            float *dst = store_delta ? pl->deltas + i * P : w;
            int r = fixed_delta_accumulate_q(ta, dst, w, pl->global, q, (float)FA_UPDATE_MAX,
                                             store_delta ? &pl->dnorm2[i] : NULL, P);
            if (r == FA_DELTA_REJECTED) { /* never aggregated, always recorded */
                pl->status[i] = st | FA_ST_REJECTED;
            } else {
                if (r == FA_DELTA_OVERFLOW) pl->tok[tid] = false;
                if (store_delta) ta[P + X_SELECTED] += 1;
                else pl->q[i] = q;
                if (late && !store_delta) st |= FA_ST_DISCOUNTED;
                pl->status[i] = st | FA_ST_AGGREGATED;
            }
            pl->tagg[tid] += timer_now() - ta0;
            continue;
        }
        double th = 0.0;
        if (!pl->attacker[i] && !(c->clip > 0.0) && ms->similarity && !store_delta) {
            /* the previous-update reference in two passes: delta, bound check, delta.ref
             * and |delta|^2 in one; the weighted accumulation (below) in the other. The
             * same bits as the general path (vec_sub, update_acceptable, vec_cosine). */
            double ab, aa;
            if (!vec_delta_dot(w, w, pl->global, pl->ref, (float)FA_UPDATE_MAX, &ab, &aa, P)) {
                pl->status[i] = st | FA_ST_REJECTED;
                pl->tagg[tid] += timer_now() - ta0;
                continue;
            }
            th = vec_cosine_parts(ab, aa, pl->refnorm2);
        } else {
            vec_sub(w, w, pl->global, P); /* w is now delta_t */
            if (pl->attacker[i]) attack_update(w, P, c, &fr);
            if (c->clip > 0.0) {
                double nrm = vec_norm2(w, P);
                if (nrm > c->clip) {
                    float f = (float)(c->clip / nrm);
                    for (size_t k = 0; k < P; k++) w[k] *= f;
                    st |= FA_ST_CLIPPED;
                }
            }
            if (!update_acceptable(w, P)) { /* never aggregated, always recorded */
                pl->status[i] = st | FA_ST_REJECTED;
                pl->tagg[tid] += timer_now() - ta0;
                continue;
            }
            if (store_delta) {
                memcpy(pl->deltas + i * P, w, P * sizeof(float));
                pl->dnorm2[i] = vec_dot(w, w, P);
                /* the mean reference: sum of accepted deltas with weight 1 */
                if (!fixed_accumulate_q(ta, w, 1, P)) pl->tok[tid] = false;
                ta[P + X_SELECTED] += 1;
                pl->status[i] = st | FA_ST_AGGREGATED;
                pl->tagg[tid] += timer_now() - ta0;
                continue;
            }
            if (ms->similarity) th = vec_cosine(w, pl->ref, P);
        }
        int64_t q;
        if (ms->similarity) {
            pl->theta[i] = th;
            q = fl_quantize_weight(fa_dual_weight(s, th, c->floor_c));
        } else {
            q = c->fedavg_uniform ? 1 : (int64_t)cd->train.n;
        }
        if (late) { /* staleness discount */
            q = (int64_t)llround((double)q * c->deadline / d);
            st |= FA_ST_DISCOUNTED;
        }
        pl->q[i] = q;
        pl->status[i] = st | FA_ST_AGGREGATED;
        if (!fixed_accumulate_q(ta, w, q, P)) pl->tok[tid] = false;
        pl->tagg[tid] += timer_now() - ta0;
    }
}

/* kern_train_clients timed its aggregation work (delta, bound check, store, first
 * fixed-point pass) per thread; move that share of the kernel's wall time from "train"
 * to "aggregate" so that round - train is the whole framework overhead. With threads
 * over clients the threads ran side by side: the mean per busy thread is the wall share. */
static void move_agg_time(Pipeline *pl) {
    double s = 0.0;
    for (int t = 0; t < pl->nthreads; t++) s += pl->tagg[t];
    size_t busy = pl->fd.n_local < (size_t)pl->nthreads ? pl->fd.n_local : (size_t)pl->nthreads;
    if (pl->over_clients && busy > 1) s /= (double)busy;
    pl->t.acc[FA_T_TRAIN] -= s;
    pl->t.acc[FA_T_AGG] += s;
}

/* Second pass for the mean reference: theta_t against pl->ref, weights, sums.
 * |delta_t|^2 comes from the first pass and |ref|^2 is computed once, so a client needs
 * one dot product here; and each thread takes a contiguous block of the aggregated
 * clients and computes the next client's dot product in the same loop as the current
 * client's accumulation (fixed_accumulate_q_dot), so the dot product's serial chain of
 * additions overlaps the rounding work. Integer sums: any assignment of clients to
 * threads gives the same bits; every sum in double runs as in vec_cosine. */
static void kern_weight_stored(Pipeline *pl) {
    const Config *c = pl->cfg;
    const size_t n = pl->fd.n_local, P = pl->P;
    for (int t = 0; t < pl->nthreads; t++) {
        memset(pl->tacc + (size_t)t * (P + X_COUNT), 0, (P + X_COUNT) * sizeof(int64_t));
        pl->tok[t] = true;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (pl->status[i] & FA_ST_AGGREGATED) pl->alist[m++] = i;
    const double bb = vec_dot(pl->ref, pl->ref, P);
    const int nt = pl->over_clients ? pl->nthreads : 1;
#pragma omp parallel num_threads(nt) if (pl->over_clients)
    {
        const int tid = omp_get_thread_num(), T = omp_get_num_threads();
        const size_t k0 = m * (size_t)tid / (size_t)T, k1 = m * (size_t)(tid + 1) / (size_t)T;
        int64_t *ta = pl->tacc + (size_t)tid * (P + X_COUNT);
        double ab = k0 < k1 ? vec_dot(pl->deltas + pl->alist[k0] * P, pl->ref, P) : 0.0;
        for (size_t k = k0; k < k1; k++) {
            const size_t i = pl->alist[k];
            const float *d = pl->deltas + i * P;
            double th = vec_cosine_parts(ab, pl->dnorm2[i], bb);
            pl->theta[i] = th;
            int64_t q = fl_quantize_weight(fa_dual_weight(pl->score[i], th, c->floor_c));
            if (pl->status[i] & FA_ST_LATE) { /* staleness discount */
                q = (int64_t)llround((double)q * c->deadline / pl->dtime[i]);
                pl->status[i] |= FA_ST_DISCOUNTED;
            }
            pl->q[i] = q;
            bool ok = k + 1 < k1 ? fixed_accumulate_q_dot(ta, d, q, pl->deltas + pl->alist[k + 1] * P,
                                                          pl->ref, &ab, P)
                                 : fixed_accumulate_q(ta, d, q, P);
            if (!ok) pl->tok[tid] = false;
        }
    }
}

/* Phase 3 (or local-only training): every client from `start`, trained on its own
 * train split, evaluated on its test split; per-client hash of the final model. */
static void kern_personalize(Pipeline *pl, const float *start, const TrainOpts *opts,
                             uint64_t round, bool train, double *acc_out, float *models_out,
                             double *int8_out) {
    const size_t n = pl->fd.n_local, P = pl->P;
#pragma omp parallel for schedule(dynamic, 1) num_threads(pl->nthreads) if (pl->over_clients)
    for (size_t i = 0; i < n; i++) {
        int tid = omp_get_thread_num();
        const ClientData *cd = &pl->fd.clients[i];
        float *w = pl->tmodel + (size_t)tid * P;
        const bool inner = !pl->over_clients;
        memcpy(w, start, P * sizeof(float));
        if (train) {
            TrainStats ts;
            train_local(&pl->L, w, NULL, &cd->train, opts, pl->cfg->seed, (uint64_t)cd->id,
                        round, &pl->ws[tid], inner, &ts);
        }
        EvalResult er;
        model_evaluate(&pl->L, w, &cd->test, &pl->ws[tid], inner, &er);
        acc_out[i] = cd->test.n ? er.acc : nan_value();
        pl->hash[i] = fa_checksum(w, P);
        if (models_out) memcpy(models_out + i * P, w, P * sizeof(float));
        if (int8_out) { /* deployment: int8 model calibrated on the client's train rows */
            QuantEval qe;
            quant_eval_model(&pl->L, w, &cd->train, &cd->test, &qe);
            int8_out[i] = qe.acc_int8;
            pl->flash = qe.flash_bytes;
        }
    }
}

/* Sum the per-thread accumulators into pl->acc (integers: any order is exact). */
static void sum_thread_acc(Pipeline *pl) {
    const size_t m = pl->P + X_COUNT;
    memset(pl->acc, 0, m * sizeof(int64_t));
    bool ok = true;
    for (int t = 0; t < pl->nthreads; t++) {
        ok = ok && pl->tok[t];
        ok = ok && fixed_add(pl->acc, pl->tacc + (size_t)t * m, m);
    }
    /* one failing client (NaN update, overflow) must stop every rank the same way */
    if (!comm_all(ok))
        fa_fail("aggregation failed: a client update is not finite or exceeds the fixed-point "
                "range (|value| < %g); HINT: lower --lr or --local-epochs",
                FA_FIXED_LIMIT);
}

// ----------------------------------------------------------------------------
// setup

/* Exact federated standardization: per-feature mean and std over every client's
 * train rows. Values are scaled by the global max |x| per feature so each
 * contribution lies in [-1, 1]; sums are fixed-point int64, reduced exactly. */
static void setup_norm(Pipeline *pl) {
    const size_t D = pl->fd.info.d, n = pl->fd.n_local;
    double *mx = xcalloc(D, sizeof(double));
    for (size_t i = 0; i < n; i++) {
        const Dataset *ds = &pl->fd.clients[i].train;
        for (size_t r = 0; r < ds->n; r++)
            for (size_t j = 0; j < D; j++) mx[j] = fmax(mx[j], fabs((double)ds->x[r * D + j]));
    }
    comm_allreduce_max_double(mx, D);
    int64_t *s = xcalloc(2 * D + 1, sizeof(int64_t));
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        const Dataset *ds = &pl->fd.clients[i].train;
        for (size_t r = 0; r < ds->n; r++)
            for (size_t j = 0; j < D; j++) {
                double v = mx[j] > 0.0 ? (double)ds->x[r * D + j] / mx[j] : 0.0;
                int64_t a, b;
                ok = ok && fixed_from_double(v, &a) && fixed_from_double(v * v, &b);
                if (ok) {
                    s[j] += a;
                    s[D + j] += b;
                }
            }
        s[2 * D] += (int64_t)ds->n;
    }
    CHECK(ok, "standardization sums out of range");
    comm_allreduce_sum_i64(s, 2 * D + 1);
    double *mean = xmalloc(D * sizeof(double)), *sd = xmalloc(D * sizeof(double));
    const double rows = (double)s[2 * D];
    for (size_t j = 0; j < D; j++) {
        double m1 = fixed_to_double(s[j]) / rows, m2 = fixed_to_double(s[D + j]) / rows;
        mean[j] = m1 * mx[j];
        sd[j] = sqrt(fmax(m2 - m1 * m1, 0.0)) * mx[j];
    }
    model_init(&pl->L, pl->init, pl->cfg->seed, 0);
    model_set_norm(&pl->L, pl->init, mean, sd);
    free(mean);
    free(sd);
    free(s);
    free(mx);
}

Pipeline *fl_setup(const Config *cfg, Timers *setup_timers) {
    Pipeline *pl = xcalloc(1, sizeof *pl);
    pl->cfg = cfg;
    pl->rank = comm_rank();
    pl->size = comm_size();
    if ((size_t)pl->size > cfg->clients)
        fa_fail("%d ranks but only %zu clients: every rank needs at least one client "
                "(use --clients >= %d or fewer ranks)",
                pl->size, cfg->clients, pl->size);
    size_t first, count;
    comm_block(cfg->clients, pl->rank, pl->size, &first, &count);
    /* the public data is needed on rank 0 only (phase 0 runs there) */
    feddata_build(&pl->fd, &cfg->data, cfg->seed, cfg->clients, first, count, pl->rank == 0);
    for (size_t i = 0; i < pl->fd.n_local; i++)
        if (pl->fd.clients[i].train.n == 0)
            die(__FILE__, __LINE__, "client %lld has no training rows",
                (long long)pl->fd.clients[i].id);

    ModelShape shape = cfg->shape;
    shape.n_in = pl->fd.info.d;
    shape.n_out = pl->fd.info.k;
    pl->P = model_layout(&pl->L, &shape);
    const size_t P = pl->P, n = pl->fd.n_local;

    pl->nthreads = omp_get_max_threads();
    if (cfg->threads_over == FA_THREADS_CLIENTS) pl->over_clients = true;
    else if (cfg->threads_over == FA_THREADS_BATCH) pl->over_clients = false;
    /* auto: whole clients per thread; with fewer clients than threads, split the
     * mini-batch only when every thread gets at least FA_SPLIT_MIN_CHUNKS chunks of it
     * (64 rows with 2 threads): below that the barrier that ends every mini-batch costs
     * more than the split saves (docs/performance.md), so each client gets one thread
     * and the other threads idle */
    else pl->over_clients = n >= (size_t)pl->nthreads ||
                            cfg->local.batch < FA_SPLIT_MIN_CHUNKS * FA_CHUNK * (size_t)pl->nthreads;
    if (pl->nthreads == 1) pl->over_clients = false;

    size_t bmax = cfg->local.batch < 256 ? 256 : cfg->local.batch; /* eval batches too */
    pl->ws = xcalloc((size_t)pl->nthreads, sizeof(Workspace));
    for (int t = 0; t < pl->nthreads; t++) workspace_build(&pl->ws[t], &pl->L, bmax);
    pl->tmodel = xalloc_aligned((size_t)pl->nthreads * P * sizeof(float));
    pl->global = xalloc_aligned(P * sizeof(float));
    pl->prev = xalloc_aligned(P * sizeof(float));
    pl->ref = xalloc_aligned(P * sizeof(float));
    pl->token = xalloc_aligned((P + 1) * sizeof(float));
    pl->init = xalloc_aligned(P * sizeof(float));
    pl->foundation = xalloc_aligned(P * sizeof(float));
    pl->tacc = xcalloc((size_t)pl->nthreads * (P + X_COUNT), sizeof(int64_t));
    pl->acc = xcalloc(P + X_COUNT, sizeof(int64_t));
    pl->tok = xcalloc((size_t)pl->nthreads, sizeof(bool));
    pl->sel = xcalloc(n ? n : 1, 1);
    pl->score = xcalloc(n ? n : 1, sizeof(double));
    pl->theta = xcalloc(n ? n : 1, sizeof(double));
    pl->tloss = xcalloc(n ? n : 1, sizeof(double));
    pl->q = xcalloc(n ? n : 1, sizeof(int64_t));
    pl->hash = xcalloc(n ? n : 1, sizeof(uint64_t));
    pl->status = xcalloc(n ? n : 1, sizeof(uint32_t));
    pl->dtime = xcalloc(n ? n : 1, sizeof(double));
    pl->speed = xcalloc(n ? n : 1, sizeof(double));
    pl->attacker = xcalloc(n ? n : 1, 1);
    /* per-device speed factors and attackers: fixed per client, from the seed */
    for (size_t i = 0; i < n; i++) {
        Rng r;
        rng_init(&r, cfg->seed, FA_RNG_FAULT, (uint64_t)pl->fd.clients[i].id, UINT64_MAX, 1);
        pl->attacker[i] = cfg->attack != FA_ATTACK_NONE && rng_uniform(&r) < cfg->attack_frac;
        pl->speed[i] = exp(cfg->speed_spread * rng_normal(&r));
    }
    pl->tagg = xcalloc((size_t)pl->nthreads, sizeof(double));
    pl->alist = xcalloc(n ? n : 1, sizeof(size_t));
    /* pl->deltas: allocated by phase2() when a method stores deltas */
    setup_norm(pl);
    (void)setup_timers;
    return pl;
}

void fl_free(Pipeline *pl) {
    if (!pl) return;
    free(pl->attacker);
    free(pl->speed);
    free(pl->dtime);
    free(pl->status);
    free(pl->hash);
    free(pl->q);
    free(pl->tloss);
    free(pl->theta);
    free(pl->score);
    free(pl->sel);
    free(pl->tok);
    free(pl->acc);
    free(pl->tacc);
    free(pl->deltas);
    free(pl->dnorm2);
    free(pl->tagg);
    free(pl->alist);
    free(pl->foundation);
    free(pl->init);
    free(pl->token);
    free(pl->ref);
    free(pl->prev);
    free(pl->global);
    free(pl->tmodel);
    for (int t = 0; t < pl->nthreads; t++) workspace_free(&pl->ws[t]);
    free(pl->ws);
    feddata_free(&pl->fd);
    free(pl);
}

// ----------------------------------------------------------------------------
// method specs

static void spec_name(MethodSpec *m, const char *base, const char *suffix) {
    snprintf(m->name, sizeof m->name, "%s%s%s", base, suffix, m->personalize ? "+P" : "");
}

size_t fl_method_from_config(const Config *c, MethodSpec *out) {
    MethodSpec m = {0};
    m.method = c->method;
    m.personalize = c->personalize;
    if (c->method == FA_METHOD_FEDMETAALIGN) {
        m.phase0 = !(c->ablate & FA_ABLATE_PHASE0);
        m.phase1 = !(c->ablate & FA_ABLATE_PHASE1);
        m.similarity = !(c->ablate & FA_ABLATE_SIMILARITY);
        char suf[48] = "";
        if (c->ablate & FA_ABLATE_PHASE0) strcat(suf, "-nophase0");
        if (c->ablate & FA_ABLATE_PHASE1) strcat(suf, "-nophase1");
        if (c->ablate & FA_ABLATE_SIMILARITY) strcat(suf, "-nosim");
        spec_name(&m, "fedmetaalign", suf);
    } else {
        m.phase0 = c->init == FA_INIT_FOUNDATION;
        spec_name(&m, fa_method_names[c->method], m.phase0 ? "@found" : "");
    }
    *out = m;
    return 1;
}

size_t fl_suite_methods(const Config *c, MethodSpec *out, size_t cap) {
    size_t k = 0;
    Config v = *c;
#define ADD(cfgexpr)                                                                               \
    do {                                                                                           \
        v = *c;                                                                                    \
        cfgexpr;                                                                                   \
        if (k < cap) fl_method_from_config(&v, &out[k++]);                                         \
    } while (0)
    /* Fed-Meta-Align, then its ablations (no personalization, no phase 0/1, no similarity) */
    ADD((v.method = FA_METHOD_FEDMETAALIGN, v.ablate = 0, v.personalize = true));
    ADD((v.method = FA_METHOD_FEDMETAALIGN, v.ablate = 0, v.personalize = false));
    ADD((v.method = FA_METHOD_FEDMETAALIGN, v.ablate = FA_ABLATE_PHASE0, v.personalize = true));
    ADD((v.method = FA_METHOD_FEDMETAALIGN, v.ablate = FA_ABLATE_PHASE1, v.personalize = true));
    ADD((v.method = FA_METHOD_FEDMETAALIGN, v.ablate = FA_ABLATE_SIMILARITY, v.personalize = true));
    /* baselines, each with and without personalization, from --init */
    for (int m = FA_METHOD_FEDAVG; m < FA_METHOD_COUNT; m++) {
        ADD((v.method = (FaMethod)m, v.ablate = 0, v.personalize = true));
        ADD((v.method = (FaMethod)m, v.ablate = 0, v.personalize = false));
    }
    /* the fair comparison: personalized baselines from the same foundation model */
    if (c->init == FA_INIT_RANDOM)
        for (int m = FA_METHOD_FEDAVG; m < FA_METHOD_COUNT; m++)
            ADD((v.method = (FaMethod)m, v.ablate = 0, v.personalize = true,
                 v.init = FA_INIT_FOUNDATION));
#undef ADD
    return k;
}

// ----------------------------------------------------------------------------
// phases

/* Phase 0: train the foundation model on the public data on rank 0 (threads split
 * the batch), once per process; every rank gets it by broadcast. */
static void phase0(Pipeline *pl) {
    const Config *c = pl->cfg;
    if (!pl->have_foundation) {
        timer_start(&pl->t, FA_T_PHASE0);
        memcpy(pl->foundation, pl->init, pl->P * sizeof(float));
        if (pl->rank == 0) {
            TrainOpts o = c->local;
            o.epochs = c->p0_epochs;
            o.lr = c->p0_lr;
            o.mu = 0.0;
            /* train on 80 % of the public rows and keep the rest to report the
             * foundation's accuracy on public data; the rows are shuffled first because
             * a CSV's held-out public rows come in file order, often sorted by class */
            const Dataset *pub = &pl->fd.public_data;
            size_t ntr = pub->n - pub->n / 5, *rows = xmalloc(pub->n * sizeof(size_t));
            for (size_t i = 0; i < pub->n; i++) rows[i] = i;
            Rng pr;
            rng_init(&pr, c->seed, FA_RNG_PUBLIC, FA_CLIENT_PUBLIC, 0, 1);
            rng_shuffle(&pr, rows, pub->n);
            Dataset tr, te;
            dataset_take(&tr, pub, rows, ntr);
            dataset_take(&te, pub, rows + ntr, pub->n - ntr);
            TrainStats ts;
            if (o.epochs > 0.0)
                train_local(&pl->L, pl->foundation, NULL, &tr, &o, c->seed, FA_CLIENT_PUBLIC, 0,
                            &pl->ws[0], true, &ts);
            EvalResult er;
            model_evaluate(&pl->L, pl->foundation, &te, &pl->ws[0], true, &er);
            pl->acc_public = te.n ? er.acc : nan_value();
            dataset_free(&te);
            dataset_free(&tr);
            free(rows);
        }
        timer_stop(&pl->t, FA_T_PHASE0);
        comm_barrier();
        timer_start(&pl->t, FA_T_COMM);
        comm_bcast_floats(pl->foundation, pl->P, 0);
        comm_bcast_doubles(&pl->acc_public, 1, 0);
        timer_stop(&pl->t, FA_T_COMM);
        pl->have_foundation = true;
    }
    memcpy(pl->global, pl->foundation, pl->P * sizeof(float));
}

/* Owner rank of global client t: floor(t * R / C) (block distribution). */
static int owner_of(const Pipeline *pl, size_t t) {
    return (int)(((unsigned __int128)t * (unsigned)pl->size) / pl->cfg->clients);
}

/* The ring's client sequence: ids in order, or a seeded permutation; --ring-clients K
 * keeps K clients of a seeded sample (in id order unless --ring-perm). Same on every rank. */
size_t fl_ring_order(const Config *c, size_t **order_out) {
    const size_t N = c->clients;
    size_t *ord = xmalloc(N * sizeof(size_t));
    for (size_t i = 0; i < N; i++) ord[i] = i;
    size_t m = N;
    Rng r;
    if (c->ring_clients && c->ring_clients < N) {
        rng_init(&r, c->seed, FA_RNG_RING, 0, 0, 1);
        /* partial Fisher-Yates: the first K of a seeded permutation */
        for (size_t i = 0; i < c->ring_clients; i++) {
            size_t j = i + (size_t)rng_below(&r, N - i);
            size_t tmp = ord[i];
            ord[i] = ord[j];
            ord[j] = tmp;
        }
        m = c->ring_clients;
        if (!c->ring_perm) { /* back to id order */
            size_t *mark = xcalloc(N, 1);
            for (size_t i = 0; i < m; i++) ((unsigned char *)mark)[ord[i]] = 1;
            size_t k = 0;
            for (size_t t = 0; t < N; t++)
                if (((unsigned char *)mark)[t]) ord[k++] = t;
            free(mark);
        }
    } else if (c->ring_perm) {
        rng_init(&r, c->seed, FA_RNG_RING, 0, 0, 0);
        rng_shuffle(&r, ord, N);
    }
    *order_out = ord;
    return m;
}

/* Phase 1: the model travels as a token through the client sequence; the holder
 * trains it on the client's P1 slice (threads split the batch) and passes it on.
 * A message is sent only where consecutive clients live on different ranks, so in
 * id order it goes rank 0 -> 1 -> ... -> R-1 -> 0 once per pass. The token's last
 * float counts visits: an arriving token must carry exactly the expected count. */
static void phase1(Pipeline *pl, int64_t *visit_log) {
    const Config *c = pl->cfg;
    const size_t P = pl->P;
    size_t *order;
    size_t m = fl_ring_order(c, &order);
    CHECK((double)m * (double)c->p1_passes < 16777216.0, "ring longer than 2^24 visits");
    comm_barrier();
    timer_start(&pl->t, FA_T_RING);
    if (pl->rank == 0) {
        memcpy(pl->token, pl->global, P * sizeof(float));
        pl->token[P] = 0.0f;
    }
    int holder = 0;
    size_t visit = 0;
    TrainOpts o = c->local;
    o.epochs = c->p1_epochs;
    o.mu = 0.0;
    Dataset slice = {0};
    for (size_t pass = 0; pass < c->p1_passes; pass++) {
        for (size_t k = 0; k < m; k++, visit++) {
            size_t t = order[k];
            int own = owner_of(pl, t);
            if (own != holder) {
                if (pl->rank == holder) comm_send_floats(pl->token, P + 1, own, 17);
                if (pl->rank == own) comm_recv_floats(pl->token, P + 1, holder, 17);
                holder = own;
            }
            if (pl->rank != own) continue;
            CHECK(pl->token[P] == (float)visit, "ring token out of order: visit %zu carries %g",
                  visit, (double)pl->token[P]);
            const ClientData *cd = &pl->fd.clients[t - pl->fd.first];
            /* the P1 slice: a seeded p1_frac of the client's train rows */
            size_t ns = (size_t)ceil(c->p1_frac * (double)cd->train.n);
            if (ns < 1) ns = 1;
            size_t *rows = xmalloc(cd->train.n * sizeof(size_t));
            for (size_t r = 0; r < cd->train.n; r++) rows[r] = r;
            Rng rr;
            rng_init(&rr, c->seed, FA_RNG_P1SLICE, (uint64_t)cd->id, 0, 0);
            rng_shuffle(&rr, rows, cd->train.n);
            dataset_take(&slice, &cd->train, rows, ns);
            free(rows);
            TrainStats ts;
            train_local(&pl->L, pl->token, NULL, &slice, &o, c->seed, (uint64_t)cd->id,
                        FA_ROUND_P1 + pass, &pl->ws[0], true, &ts);
            dataset_free(&slice);
            if (visit_log && pass == 0) visit_log[t - pl->fd.first] = (int64_t)visit;
            pl->token[P] += 1.0f;
        }
    }
    if (holder != 0) {
        if (pl->rank == holder) comm_send_floats(pl->token, P + 1, 0, 17);
        if (pl->rank == 0) comm_recv_floats(pl->token, P + 1, holder, 17);
    }
    if (pl->rank == 0)
        CHECK(pl->token[P] == (float)visit, "ring returned with %g visits, expected %zu",
              (double)pl->token[P], visit);
    timer_stop(&pl->t, FA_T_RING);
    timer_start(&pl->t, FA_T_COMM);
    if (pl->rank == 0) memcpy(pl->global, pl->token, P * sizeof(float));
    comm_bcast_floats(pl->global, P, 0);
    timer_stop(&pl->t, FA_T_COMM);
    free(order);
}

/* Test hook: run phase 1 from the initialization and log each local client's visit. */
void fl_ring_test(Pipeline *pl, int64_t *visit_log, uint64_t *checksum) {
    memcpy(pl->global, pl->init, pl->P * sizeof(float));
    phase1(pl, visit_log);
    *checksum = fa_checksum(pl->global, pl->P);
}

/* Client selection for round r: each client independently with probability
 * client_frac from its own stream, so no communication is needed. */
static void select_clients(Pipeline *pl, uint64_t round) {
    for (size_t i = 0; i < pl->fd.n_local; i++) {
        if (pl->cfg->client_frac >= 1.0) {
            pl->sel[i] = 1;
            continue;
        }
        Rng r;
        rng_init(&r, pl->cfg->seed, FA_RNG_SELECT, (uint64_t)pl->fd.clients[i].id, round, 0);
        pl->sel[i] = rng_uniform(&r) < pl->cfg->client_frac;
    }
}

/* Phase 2: rounds round0..R-1 of local training and exact aggregation, then the
 * evaluation of the final model. Returns FA_STOPPED after a requested stop (signal or
 * --stop-after-round), having checkpointed; 0 when all rounds ran. */
static int phase2(Pipeline *pl, const MethodSpec *ms, MethodResult *res, size_t round0,
                  const FlHooks *hooks) {
    const Config *c = pl->cfg;
    const size_t P = pl->P, n = pl->fd.n_local, R = c->rounds;
    const bool store = ms->similarity && c->reference == FA_REF_MEAN;
    TrainOpts o = c->local;
    o.mu = ms->method == FA_METHOD_FEDPROX ? c->local.mu : 0.0;
    /* round times continue from the checkpoint's clock when resuming */
    const double t0 = timer_now() - (round0 > 0 ? res->round_time[round0 - 1] : 0.0);
    if (round0 == 0) memcpy(pl->prev, pl->global, P * sizeof(float));
    /* client deltas are stored only when a method needs them (similarity weighting with
     * the mean-update reference): not for FedAvg, FedProx, local-only or "prev" */
    if (store && !pl->deltas) {
        pl->deltas = xalloc_aligned((n ? n : 1) * P * sizeof(float));
        pl->dnorm2 = xcalloc(n ? n : 1, sizeof(double));
    }
    for (size_t r = round0; r <= R; r++) {
        /* broadcast phi^r (rank 0 owns it) */
        comm_barrier();
        timer_start(&pl->t, FA_T_COMM);
        comm_bcast_floats(pl->global, P, 0);
        timer_stop(&pl->t, FA_T_COMM);
        int64_t cnt[3];
        timer_start(&pl->t, FA_T_EVAL);
        kern_eval_clients(pl, pl->global, false, r == R ? res->acc_p2 : NULL, cnt);
        timer_stop(&pl->t, FA_T_EVAL);
        if (r == R) { /* the final model: evaluation only */
            comm_allreduce_sum_i64(cnt, 3);
            res->round_acc[r] = cnt[1] ? (double)cnt[0] / (double)cnt[1] : nan_value();
            res->round_loss[r] = cnt[1] ? fixed_to_double(cnt[2]) * 1024.0 / (double)cnt[1] : nan_value();
            res->round_time[r] = timer_now() - t0;
            break;
        }
        /* cosine reference "prev": the last global update, known on every rank */
        if (ms->similarity && c->reference == FA_REF_PREV) {
            vec_sub(pl->ref, pl->global, pl->prev, P);
            pl->refnorm2 = vec_dot(pl->ref, pl->ref, P);
        }
        memcpy(pl->prev, pl->global, P * sizeof(float));
        select_clients(pl, r);
        for (size_t i = 0; i < n; i++) {
            pl->theta[i] = pl->score[i] = pl->tloss[i] = pl->dtime[i] = nan_value();
            pl->q[i] = 0;
            pl->status[i] = 0;
        }
        timer_start(&pl->t, FA_T_TRAIN);
        kern_train_clients(pl, ms, r, &o, store);
        timer_stop(&pl->t, FA_T_TRAIN);
        move_agg_time(pl);
        timer_start(&pl->t, FA_T_AGG);
        sum_thread_acc(pl);
        timer_stop(&pl->t, FA_T_AGG);
        if (store) {
            /* the mean update of the round: one extra Allreduce of P + 1 int64 */
            int64_t cnt_sel = pl->acc[P + X_SELECTED];
            pl->acc[P] = cnt_sel;
            timer_start(&pl->t, FA_T_COMM);
            comm_allreduce_sum_i64(pl->acc, P + 1);
            timer_stop(&pl->t, FA_T_COMM);
            timer_start(&pl->t, FA_T_AGG);
            int64_t tot = pl->acc[P];
            for (size_t i = 0; i < P; i++)
                pl->ref[i] = tot ? (float)(fixed_to_double(pl->acc[i]) / (double)tot) : 0.0f;
            kern_weight_stored(pl);
            sum_thread_acc(pl);
            timer_stop(&pl->t, FA_T_AGG);
        }
        /* per-client scalars of this round; fixed extras for the round line */
        int64_t den = 0, qcos = 0, nsel = 0, tl = 0, nrej = 0, ndrop = 0, nlate = 0;
        bool ok = true;
        for (size_t i = 0; i < n; i++) {
            size_t k = r * n + i;
            const uint32_t st = pl->status[i];
            res->rc_score[k] = ms->similarity ? pl->score[i] : nan_value();
            res->rc_cos[k] = pl->theta[i];
            res->rc_loss[k] = pl->tloss[i];
            res->rc_status[k] = (double)st;
            res->rc_time[k] = pl->dtime[i];
            res->rc_weight[k] = (double)pl->q[i]; /* normalized below once den is known */
            nrej += (st & FA_ST_REJECTED) != 0;
            ndrop += (st & FA_ST_DROPPED) != 0;
            nlate += (st & FA_ST_LATE) != 0;
            if (!(st & FA_ST_AGGREGATED)) continue;
            den += pl->q[i];
            nsel++;
            int64_t fx;
            if (ms->similarity && isfinite(pl->theta[i])) {
                ok = ok && fixed_from_double((double)pl->q[i] * pl->theta[i] / 4096.0, &fx);
                if (ok) qcos += fx;
            }
            double l = isfinite(pl->tloss[i]) && pl->tloss[i] < 1000.0 ? pl->tloss[i] : 1000.0;
            ok = ok && fixed_from_double(l, &fx);
            if (ok) tl += fx;
        }
        CHECK(ok, "round metrics out of fixed-point range");
        pl->acc[P + X_REJECTED] = nrej;
        pl->acc[P + X_DROPPED] = ndrop;
        pl->acc[P + X_LATE] = nlate;
        pl->acc[P + X_DEN] = den;
        pl->acc[P + X_CORRECT] = cnt[0];
        pl->acc[P + X_N] = cnt[1];
        pl->acc[P + X_LOSS] = cnt[2];
        pl->acc[P + X_QCOS] = qcos;
        pl->acc[P + X_SELECTED] = nsel;
        pl->acc[P + X_TRAINLOSS] = tl;
        pl->acc[P + X_STOP] = hooks && hooks->stop_requested && hooks->stop_requested(hooks->ctx);
        /* the one Reduce of the round: exact sums of q_t * delta_t and the extras; the
         * barrier first keeps load imbalance out of the communication time */
        comm_barrier();
        timer_start(&pl->t, FA_T_COMM);
        comm_reduce_sum_i64(pl->acc, P + X_COUNT, 0);
        timer_stop(&pl->t, FA_T_COMM);
        /* rank 0's extras are broadcast with the next model; keep the scalars on all
         * ranks by one tiny broadcast (X_COUNT int64) */
        comm_bcast_bytes(pl->acc + P, X_COUNT * sizeof(int64_t), 0);
        const int64_t *x = pl->acc + P;
        for (size_t i = 0; i < n; i++)
            res->rc_weight[r * n + i] = x[X_DEN] ? res->rc_weight[r * n + i] / (double)x[X_DEN] : 0.0;
        res->round_acc[r] = x[X_N] ? (double)x[X_CORRECT] / (double)x[X_N] : nan_value();
        res->round_loss[r] = x[X_N] ? fixed_to_double(x[X_LOSS]) * 1024.0 / (double)x[X_N] : nan_value();
        res->round_time[r] = timer_now() - t0;
        res->round_wsum_cos[r] = x[X_DEN] ? fixed_to_double(x[X_QCOS]) * 4096.0 / (double)x[X_DEN] : nan_value();
        res->round_selected[r] = (size_t)x[X_SELECTED];
        if (pl->rank == 0) {
            timer_start(&pl->t, FA_T_AGG);
            if (x[X_DEN] > 0) fl_apply_update(pl->global, pl->global, pl->acc, x[X_DEN], c->alpha, P);
            timer_stop(&pl->t, FA_T_AGG);
        }
        if (pl->rank == 0 && !c->quiet)
            printf("round %4zu/%zu | acc(phi^r) %6.2f%% | loss %.4f | train loss %.4f | clients %5zu "
                   "| cos %s%.3f | %.3f s\n",
                   r + 1, R, 100.0 * res->round_acc[r], res->round_loss[r],
                   x[X_SELECTED] ? fixed_to_double(x[X_TRAINLOSS]) / (double)x[X_SELECTED] : 0.0,
                   (size_t)x[X_SELECTED], isfinite(res->round_wsum_cos[r]) ? "" : " ",
                   res->round_wsum_cos[r], res->round_time[r]);
        if (pl->rank == 0 && !c->quiet && (x[X_REJECTED] || x[X_DROPPED] || x[X_LATE]))
            printf("           | rejected %lld (non-finite/out of range) | dropped %lld | late %lld\n",
                   (long long)x[X_REJECTED], (long long)x[X_DROPPED], (long long)x[X_LATE]);
        if (pl->rank == 0 && !c->quiet) fflush(stdout);
        res->rounds_done = r + 1;
        /* a stop request travels in the round's Reduce/broadcast: no extra collective */
        bool stop = x[X_STOP] > 0 || (hooks && hooks->stop_after_round == r + 1 && r + 1 < R);
        bool ck = stop || (hooks && hooks->every && (r + 1) % hooks->every == 0 && r + 1 < R);
        if (ck) checkpoint(pl, hooks, res, 2, r + 1);
        if (stop) return FA_STOPPED;
    }
    return 0;
}

// ----------------------------------------------------------------------------
// one method end to end

/* Mean/std/worst over all clients of per-client values, and the chained hash of the
 * per-client model hashes in client order (rank 0 computes, everyone receives). */
static void summarize_clients(Pipeline *pl, const double *vals, double out[3], uint64_t *hash) {
    const size_t N = pl->cfg->clients, n = pl->fd.n_local;
    double *all = pl->rank == 0 ? xmalloc(N * sizeof(double)) : NULL;
    double *hi = pl->rank == 0 ? xmalloc(N * sizeof(double)) : NULL;
    double *lo = pl->rank == 0 ? xmalloc(N * sizeof(double)) : NULL;
    double *lh = xmalloc((n ? n : 1) * sizeof(double)), *ll = xmalloc((n ? n : 1) * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        lh[i] = (double)(pl->hash[i] >> 32); /* 32-bit halves travel exactly as doubles */
        ll[i] = (double)(pl->hash[i] & 0xffffffffu);
    }
    comm_gatherv_doubles(vals, n, all, 0);
    if (hash) { /* same on every rank */
        comm_gatherv_doubles(lh, n, hi, 0);
        comm_gatherv_doubles(ll, n, lo, 0);
    }
    double buf[4] = {0, 0, 0, 0};
    if (pl->rank == 0) {
        double s = 0, s2 = 0, worst = INFINITY;
        size_t cnt = 0;
        uint64_t h = 0x6a09e667f3bcc908ULL;
        for (size_t t = 0; t < N; t++) {
            if (hash) h = rng_mix64(h ^ (((uint64_t)hi[t] << 32) | (uint64_t)lo[t]));
            if (!isfinite(all[t])) continue;
            s += all[t];
            s2 += all[t] * all[t];
            worst = fmin(worst, all[t]);
            cnt++;
        }
        double mean = cnt ? s / (double)cnt : nan_value();
        buf[0] = mean;
        buf[1] = cnt > 1 ? sqrt(fmax(0.0, (s2 - (double)cnt * mean * mean) / (double)(cnt - 1))) : 0.0;
        buf[2] = cnt ? worst : nan_value();
        memcpy(&buf[3], &h, sizeof h);
    }
    comm_bcast_doubles(buf, 4, 0);
    out[0] = buf[0];
    out[1] = buf[1];
    out[2] = buf[2];
    if (hash) memcpy(hash, &buf[3], sizeof *hash);
    free(ll);
    free(lh);
    free(lo);
    free(hi);
    free(all);
}

/* Data and epoch budget of a method: a function of the configuration only. */
static void method_budget(const Config *c, const MethodSpec *ms, double *pub, double *client) {
    const size_t N = c->clients;
    double ring_frac =
        c->ring_clients && c->ring_clients < N ? (double)c->ring_clients / (double)N : 1.0;
    *pub = ms->phase0 ? c->p0_epochs : 0.0;
    double e = 0.0;
    if (ms->phase1) e += ring_frac * c->p1_frac * c->p1_epochs * (double)c->p1_passes;
    if (ms->method == FA_METHOD_LOCAL) e += c->local.epochs * (double)c->rounds;
    else e += c->local.epochs * c->client_frac * (double)c->rounds;
    if (ms->personalize) e += c->p3_epochs;
    *client = e;
}

void fl_state(Pipeline *pl, FlState *st) {
    st->global = pl->global;
    st->prev = pl->prev;
    st->foundation = pl->foundation;
    st->have_foundation = &pl->have_foundation;
    st->acc_public = &pl->acc_public;
}

void fl_result_init(Pipeline *pl, const MethodSpec *ms, MethodResult *res) {
    const size_t R = ms->method == FA_METHOD_LOCAL ? 0 : pl->cfg->rounds;
    fl_result_alloc(res, R, pl->fd.n_local, pl->P);
    res->spec = *ms;
    res->rounds = R;
    res->rounds_done = 0;
    res->rounds_to_target = -1;
    res->secs_to_target = nan_value();
    method_budget(pl->cfg, ms, &res->budget_public_epochs, &res->budget_client_epochs);
    if (pl->cfg->save_models)
        res->personal_models = xalloc_aligned((pl->fd.n_local ? pl->fd.n_local : 1) * pl->P * sizeof(float));
}

/* Checkpoint at a boundary; the global model is made identical on every rank first
 * (in phase 2 only rank 0 holds phi^{r+1} until the next broadcast). */
static void checkpoint(Pipeline *pl, const FlHooks *h, MethodResult *res, int phase, size_t round) {
    if (!h || !h->checkpoint) return;
    comm_bcast_floats(pl->global, pl->P, 0);
    timer_start(&pl->t, FA_T_IO);
    h->checkpoint(h->ctx, res, phase, round);
    timer_stop(&pl->t, FA_T_IO);
}

/* A phase boundary (`phase` is the next one): checkpoint when checkpoints are on and
 * the previous phase did work, and stop when --stop-before-phase names this phase or a
 * signal arrived on any rank (one small allreduce per boundary). Returns true to stop;
 * a checkpoint is then always written. */
static bool boundary(Pipeline *pl, const FlHooks *h, MethodResult *res, int phase, bool ran) {
    if (!h) return false;
    bool local = h->stop_requested && h->stop_requested(h->ctx);
    bool stop = comm_any(local) || h->stop_before_phase == phase;
    if (stop || (h->at_phase_ends && ran))
        checkpoint(pl, h, res, phase, phase == 3 ? res->rounds : 0);
    return stop;
}

int fl_run_method(Pipeline *pl, const MethodSpec *ms, MethodResult *res, const FlCursor *resume,
                  const FlHooks *hooks) {
    const Config *c = pl->cfg;
    const size_t P = pl->P, n = pl->fd.n_local;
    const bool local_only = ms->method == FA_METHOD_LOCAL;
    const size_t R = res->rounds;
    int phase = resume ? resume->phase : 0;
    size_t round0 = resume ? resume->round : 0;
    timers_reset(&pl->t);
    comm_barrier();
    timer_start(&pl->t, FA_T_TOTAL);
    int64_t cnt[3];

    /* phase 0 (or the shared random init) */
    if (phase == 0) {
        if (ms->phase0) {
            phase0(pl);
            timer_start(&pl->t, FA_T_EVAL);
            kern_eval_clients(pl, pl->global, false, res->acc_p0, cnt);
            timer_stop(&pl->t, FA_T_EVAL);
        } else {
            memcpy(pl->global, pl->init, P * sizeof(float));
        }
        phase = 1;
        if (boundary(pl, hooks, res, phase, ms->phase0)) return FA_STOPPED;
    }
    /* phase 1: the ring */
    if (phase == 1) {
        if (ms->phase1) {
            phase1(pl, NULL);
            timer_start(&pl->t, FA_T_EVAL);
            kern_eval_clients(pl, pl->global, false, res->acc_p1, cnt);
            timer_stop(&pl->t, FA_T_EVAL);
        }
        phase = 2;
        round0 = 0;
        if (boundary(pl, hooks, res, phase, ms->phase1)) return FA_STOPPED;
    }
    /* phase 2: federated rounds, or local-only training */
    if (phase == 2) {
        if (local_only) {
            /* every client from the same start, the federated run's epoch budget */
            TrainOpts o = c->local;
            o.mu = 0.0;
            o.epochs = c->local.epochs * (double)c->rounds;
            timer_start(&pl->t, FA_T_TRAIN);
            kern_personalize(pl, pl->global, &o, FA_ROUND_LOCAL, o.epochs > 0.0, res->acc_p2, NULL, NULL);
            timer_stop(&pl->t, FA_T_TRAIN);
        } else {
            int st = phase2(pl, ms, res, round0, hooks);
            if (st == FA_STOPPED) return FA_STOPPED;
        }
        phase = 3;
        if (boundary(pl, hooks, res, phase, true)) return FA_STOPPED;
    }
    /* phase 3: personalization (local-only: further local epochs, same budget as +P) */
    if (local_only) {
        TrainOpts o3 = c->local;
        o3.mu = 0.0;
        o3.epochs = c->local.epochs * (double)c->rounds + (ms->personalize ? c->p3_epochs : 0.0);
        /* local models are rebuilt from the shared start (train + fine-tune in one call)
         * rather than stored between phases: O(P) memory per thread */
        timer_start(&pl->t, FA_T_PERSONAL);
        kern_personalize(pl, pl->global, &o3, FA_ROUND_LOCAL, o3.epochs > 0.0, res->acc_p3,
                         res->personal_models, c->int8 ? res->acc_int8 : NULL);
        timer_stop(&pl->t, FA_T_PERSONAL);
        res->acc_global = nan_value();
    } else {
        res->acc_global = res->round_acc[R];
        TrainOpts o3 = c->local;
        o3.mu = 0.0;
        o3.epochs = c->p3_epochs;
        o3.lr = c->p3_lr;
        timer_start(&pl->t, FA_T_PERSONAL);
        kern_personalize(pl, pl->global, &o3, FA_ROUND_P3, ms->personalize, res->acc_p3,
                         res->personal_models, c->int8 ? res->acc_int8 : NULL);
        timer_stop(&pl->t, FA_T_PERSONAL);
        if (c->target_acc > 0.0)
            for (size_t r = 0; r <= R; r++)
                if (res->round_acc[r] >= c->target_acc) {
                    res->rounds_to_target = (long)r;
                    res->secs_to_target = res->round_time[r];
                    break;
                }
    }
    double sm[3];
    const double *phase_vals[3] = {res->acc_p0, res->acc_p1, res->acc_p2};
    for (int k = 0; k < 3; k++) {
        summarize_clients(pl, phase_vals[k], sm, NULL);
        res->phase_acc_mean[k] = sm[0];
    }
    res->acc_public = ms->phase0 ? pl->acc_public : nan_value();
    summarize_clients(pl, res->acc_p3, sm, &res->checksum_personal);
    res->phase_acc_mean[3] = sm[0];
    res->acc_personal_mean = sm[0];
    res->acc_personal_std = sm[1];
    res->acc_personal_worst = sm[2];
    if (c->int8) {
        double *drop = xmalloc((n ? n : 1) * sizeof(double));
        for (size_t i = 0; i < n; i++) drop[i] = res->acc_p3[i] - res->acc_int8[i];
        summarize_clients(pl, res->acc_int8, sm, NULL);
        res->acc_int8_mean = sm[0];
        summarize_clients(pl, drop, sm, NULL);
        res->int8_drop_mean = sm[0];
        free(drop);
        double fl = (double)pl->flash;
        comm_allreduce_max_double(&fl, 1);
        res->int8_flash_bytes = fl;
    }
    /* local-only has no global model: its "global" is the shared start */
    if (local_only) memcpy(pl->global, ms->phase0 ? pl->foundation : pl->init, P * sizeof(float));
    memcpy(res->final_global, pl->global, P * sizeof(float));
    res->checksum = fa_checksum(pl->global, P);
    res->rounds_done = R;
    timer_stop(&pl->t, FA_T_TOTAL);
    comm_reduce_timers(&pl->t, res->tmin, res->tavg, res->tmax, res->tspan);
    res->time_total = res->tmax[FA_T_TOTAL];
    (void)n;
    return 0;
}
