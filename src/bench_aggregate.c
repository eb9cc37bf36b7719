/*
 * bench_aggregate.c: `fedalign bench aggregate`, the cost of one phase-2 aggregation.
 *
 * This file MIRRORS fl.c's aggregation: agg_fedavg, agg_similarity (mean reference) and
 * agg_similarity_prev (previous-update reference) rebuild fl.c's per-round path from
 * the same kernels in the same order (fixed-point accumulation per thread, the thread
 * sum, the collectives, fl_apply_update) on synthetic client models, so a change to
 * fl.c's aggregation must be repeated here until this benchmark calls the production
 * round code instead (everything fl.c-specific is in this one file for that swap).
 * Each kernel is timed as the max over ranks with a barrier before every repetition,
 * next to a bare Allreduce of P floats, for each P in --p.
 */
#include <omp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"
#include "fedalign/aggregate.h"
#include "fedalign/comm.h"
#include "fedalign/rng.h"
#include "fedalign/timer.h"

/* extra int64 slots after the P sums, as in fl.c's per-round reduce buffer */
#define AGG_X 8
enum { AX_DEN = 0, AX_SELECTED = 5 };

typedef struct {
    size_t P, L;          /* parameters, clients on this rank */
    int nt;               /* threads */
    bool over_clients;    /* threads take whole clients (fl.c's rule) */
    float *global, *out;  /* (P) phi^r, phi^{r+1} */
    float *trained;       /* (L, P) the clients' models after local training */
    float *w;             /* (nt, P) per-thread scratch: the client's delta */
    float *deltas;        /* (L, P) stored deltas (mean reference only) */
    double *dnorm2;       /* (L) |delta|^2 from the first pass (mean reference only) */
    float *ref;           /* (P) mean update */
    float *fbuf;          /* (P) bare Allreduce buffer */
    int64_t *tacc, *acc;  /* (nt, P + AGG_X), (P + AGG_X) */
    bool *tok;            /* (nt) */
    double *score;        /* (L) s_t */
    int64_t *q;           /* (L) */
    size_t *ntrain;       /* (L) FedAvg weights */
    double t_comm;        /* seconds in collectives during the last call */
} AggBuf;

static void agg_alloc(AggBuf *a, size_t P, size_t L, int nt, bool with_deltas) {
    memset(a, 0, sizeof *a);
    a->P = P;
    a->L = L;
    a->nt = nt;
    a->over_clients = L >= (size_t)nt && nt > 1;
    a->global = xalloc_aligned(P * sizeof(float));
    a->out = xalloc_aligned(P * sizeof(float));
    a->ref = xalloc_aligned(P * sizeof(float));
    a->fbuf = xalloc_aligned(P * sizeof(float));
    a->trained = xalloc_aligned(L * P * sizeof(float));
    a->w = xalloc_aligned((size_t)nt * P * sizeof(float));
    if (with_deltas) a->deltas = xalloc_aligned(L * P * sizeof(float));
    a->dnorm2 = xcalloc(L, sizeof(double));
    a->tacc = xalloc_aligned((size_t)nt * (P + AGG_X) * sizeof(int64_t));
    a->acc = xalloc_aligned((P + AGG_X) * sizeof(int64_t));
    a->tok = xcalloc((size_t)nt, sizeof(bool));
    a->score = xcalloc(L, sizeof(double));
    a->q = xcalloc(L, sizeof(int64_t));
    a->ntrain = xcalloc(L, sizeof(size_t));
    /* a global model of O(0.1) values and client updates of O(1e-3), as after a few epochs
     * of Adam; a cheap hash, not the Philox streams, because P x L reaches 1e8 values */
    int rank = comm_rank();
    for (size_t j = 0; j < P; j++)
        a->global[j] = (float)((double)(rng_mix64(j) >> 11) * 0x1p-53 - 0.5) * 0.2f;
    for (size_t i = 0; i < L; i++) {
        uint64_t base = ((uint64_t)rank << 40) ^ ((uint64_t)(i + 1) << 32);
        float *t = a->trained + i * P;
        for (size_t j = 0; j < P; j++)
            t[j] = a->global[j] +
                   (float)(((double)(rng_mix64(base + j) >> 11) * 0x1p-53 - 0.5) * 2e-3);
        a->score[i] = 0.5 + 0.05 * (double)(i % 10);
        a->ntrain[i] = 100 + 7 * i;
    }
}

static void agg_free(AggBuf *a) {
    free(a->global);
    free(a->out);
    free(a->ref);
    free(a->fbuf);
    free(a->trained);
    free(a->w);
    free(a->deltas);
    free(a->dnorm2);
    free(a->tacc);
    free(a->acc);
    free(a->tok);
    free(a->score);
    free(a->q);
    free(a->ntrain);
}

static void agg_zero(AggBuf *a) {
    memset(a->tacc, 0, (size_t)a->nt * (a->P + AGG_X) * sizeof(int64_t));
    for (int t = 0; t < a->nt; t++) a->tok[t] = true;
}

/* fl.c sum_thread_acc: integer sum of the per-thread accumulators, agreement over ranks */
static void agg_sum_threads(AggBuf *a) {
    const size_t m = a->P + AGG_X;
    memset(a->acc, 0, m * sizeof(int64_t));
    bool ok = true;
    for (int t = 0; t < a->nt; t++) {
        ok = ok && a->tok[t];
        ok = ok && fixed_add(a->acc, a->tacc + (size_t)t * m, m);
    }
    double t0 = timer_now();
    bool all = comm_all(ok);
    a->t_comm += timer_now() - t0;
    CHECK(all, "bench aggregate: fixed-point accumulation failed");
}

/* fl.c's end of a round: the one Reduce of P + 8 int64, the 8 extras broadcast, and the
 * update applied on rank 0 */
static void agg_finish(AggBuf *a) {
    const size_t P = a->P;
    int64_t dsum = 0;
    for (size_t i = 0; i < a->L; i++) dsum += a->q[i];
    a->acc[P + AX_DEN] = dsum;
    double t0 = timer_now();
    comm_reduce_sum_i64(a->acc, P + AGG_X, 0);
    comm_bcast_bytes(a->acc + P, AGG_X * sizeof(int64_t), 0);
    a->t_comm += timer_now() - t0;
    if (comm_rank() == 0 && a->acc[P + AX_DEN] > 0)
        fl_apply_update(a->out, a->global, a->acc, a->acc[P + AX_DEN], 1.0, P);
}

/* FedAvg (fl.c kern_train_clients without store_delta): delta, bound check and
 * q_t * fixed(delta) into the thread's accumulator in one pass, as soon as the client is
 * done */
static void agg_fedavg(AggBuf *a) {
    const size_t P = a->P;
    a->t_comm = 0.0;
    agg_zero(a);
#pragma omp parallel for schedule(dynamic, 1) num_threads(a->nt) if (a->over_clients)
    for (size_t i = 0; i < a->L; i++) {
        int tid = omp_get_thread_num();
        float *w = a->w + (size_t)tid * P;
        int64_t *ta = a->tacc + (size_t)tid * (P + AGG_X);
        int64_t q = (int64_t)a->ntrain[i];
        a->q[i] = q;
        if (fixed_delta_accumulate_q(ta, w, a->trained + i * P, a->global, q,
                                     (float)FA_UPDATE_MAX, NULL, P) != FA_DELTA_OK)
            a->tok[tid] = false;
    }
    agg_sum_threads(a);
    agg_finish(a);
}

/* Fed-Meta-Align with the mean-update reference (fl.c kern_train_clients with
 * store_delta: delta, bound check, store, |delta|^2 and fixed(delta) in one pass; the
 * Allreduce of P + 1 int64; the reference and |ref|^2; kern_weight_stored: per thread a
 * block of clients, the next client's dot product in the current client's accumulation
 * loop) */
static void agg_similarity(AggBuf *a) {
    const size_t P = a->P, L = a->L;
    const double floor_c = 0.1;
    a->t_comm = 0.0;
    agg_zero(a);
#pragma omp parallel for schedule(dynamic, 1) num_threads(a->nt) if (a->over_clients)
    for (size_t i = 0; i < L; i++) {
        int tid = omp_get_thread_num();
        int64_t *ta = a->tacc + (size_t)tid * (P + AGG_X);
        if (fixed_delta_accumulate_q(ta, a->deltas + i * P, a->trained + i * P, a->global, 1,
                                     (float)FA_UPDATE_MAX, &a->dnorm2[i], P) != FA_DELTA_OK)
            a->tok[tid] = false;
        ta[P + AX_SELECTED] += 1;
    }
    agg_sum_threads(a);
    a->acc[P] = a->acc[P + AX_SELECTED];
    double t0 = timer_now();
    comm_allreduce_sum_i64(a->acc, P + 1);
    a->t_comm += timer_now() - t0;
    int64_t tot = a->acc[P];
    for (size_t j = 0; j < P; j++)
        a->ref[j] = tot ? (float)(fixed_to_double(a->acc[j]) / (double)tot) : 0.0f;
    const double bb = vec_dot(a->ref, a->ref, P);
    agg_zero(a);
#pragma omp parallel num_threads(a->over_clients ? a->nt : 1) if (a->over_clients)
    {
        const int tid = omp_get_thread_num(), T = omp_get_num_threads();
        const size_t k0 = L * (size_t)tid / (size_t)T, k1 = L * (size_t)(tid + 1) / (size_t)T;
        int64_t *ta = a->tacc + (size_t)tid * (P + AGG_X);
        double ab = k0 < k1 ? vec_dot(a->deltas + k0 * P, a->ref, P) : 0.0;
        for (size_t k = k0; k < k1; k++) {
            const float *d = a->deltas + k * P;
            double th = vec_cosine_parts(ab, a->dnorm2[k], bb);
            int64_t q = fl_quantize_weight(fa_dual_weight(a->score[k], th, floor_c));
            a->q[k] = q;
            bool ok = k + 1 < k1 ? fixed_accumulate_q_dot(ta, d, q, d + P, a->ref, &ab, P)
                                 : fixed_accumulate_q(ta, d, q, P);
            if (!ok) a->tok[tid] = false;
        }
    }
    agg_sum_threads(a);
    agg_finish(a);
}

/* Fed-Meta-Align with the previous-update reference (--reference prev; fl.c
 * kern_train_clients, similarity without store_delta): per client delta, bound check,
 * delta.ref and |delta|^2 in one pass (vec_delta_dot), the weight, then q_t * fixed(delta)
 * in a second pass over the in-cache delta; no extra collective. The reference is the
 * last global step, known on every rank; |ref|^2 once per round. */
static void agg_similarity_prev(AggBuf *a) {
    const size_t P = a->P;
    const double floor_c = 0.1;
    a->t_comm = 0.0;
    agg_zero(a);
    const double bb = vec_dot(a->ref, a->ref, P);
#pragma omp parallel for schedule(dynamic, 1) num_threads(a->nt) if (a->over_clients)
    for (size_t i = 0; i < a->L; i++) {
        int tid = omp_get_thread_num();
        float *w = a->w + (size_t)tid * P;
        int64_t *ta = a->tacc + (size_t)tid * (P + AGG_X);
        double ab, aa;
        bool ok = vec_delta_dot(w, a->trained + i * P, a->global, a->ref, (float)FA_UPDATE_MAX,
                                &ab, &aa, P);
        double th = vec_cosine_parts(ab, aa, bb);
        int64_t q = fl_quantize_weight(fa_dual_weight(a->score[i], th, floor_c));
        a->q[i] = q;
        if (!ok || !fixed_accumulate_q(ta, w, q, P)) a->tok[tid] = false;
    }
    agg_sum_threads(a);
    agg_finish(a);
}

/* the default model's P (the first entry 0 of the default list stands for it) */
static size_t default_model_P(void) {
    Config *c = xmalloc(sizeof *c);
    config_defaults(c);
    DataInfo info;
    gen_info(c->data.kind, &c->data.gen, &info);
    ModelShape sh = c->shape;
    sh.n_in = info.d;
    sh.n_out = info.k;
    ModelLayout L;
    size_t P = model_layout(&L, &sh);
    free(c);
    return P;
}

/* what is timed, above the table (rank 0) */
static void agg_banner(const Ctx *cx, size_t L) {
    if (cx->rank == 0) {
        printf("# %zu clients per rank, %d ranks, %d threads per rank; time = max over ranks of "
               "one aggregation (barrier before each)\n",
               L, cx->ranks, cx->threads);
        printf("# fedavg: per client fixed_delta_accumulate_q (delta, bound, q * fixed, one "
               "pass); thread sum; Reduce of P+8 int64; fl_apply_update\n");
        printf("# similarity: pass 1 the same with q = 1, storing delta and |delta|^2; "
               "Allreduce of P+1 int64; mean reference and |ref|^2; pass 2 per client "
               "fixed_accumulate_q_dot (accumulation + next client's dot product)\n");
        printf("# similarity-prev (--reference prev): per client vec_delta_dot (delta, bound, "
               "delta.ref, |delta|^2), weight, fixed_accumulate_q; no extra collective\n");
        printf("# %10s %-11s %11s %11s %11s %11s %9s\n", "P", "kernel", "min s", "median s",
               "max s", "comm med s", "ratio");
    }
}

void bench_aggregate(Ctx *cx) {
    bench_header(cx, "aggregate",
                 "similarity-aware (mean or previous-update reference) vs FedAvg aggregation vs "
                 "bare Allreduce of P floats");
    const size_t L = cx->o.agg_clients, nrep = cx->o.warmup + cx->o.reps;
    agg_banner(cx, L);
    double *tf = xmalloc(nrep * sizeof(double)), *ts = xmalloc(nrep * sizeof(double));
    double *ta = xmalloc(nrep * sizeof(double)), *cf = xmalloc(nrep * sizeof(double));
    double *cs = xmalloc(nrep * sizeof(double)), *tp = xmalloc(nrep * sizeof(double));
    for (size_t pi = 0; pi < cx->o.n_p; pi++) {
        size_t P = cx->o.plist[pi] ? cx->o.plist[pi] : default_model_P();
        AggBuf a;
        agg_alloc(&a, P, L, cx->threads, true);
        for (size_t r = 0; r < nrep; r++) {
            comm_barrier();
            double t0 = timer_now();
            agg_fedavg(&a);
            tf[r] = timer_now() - t0;
            cf[r] = a.t_comm;
            comm_barrier();
            t0 = timer_now();
            agg_similarity(&a);
            ts[r] = timer_now() - t0;
            cs[r] = a.t_comm;
            /* the previous global step as reference: some fixed direction of update size */
            for (size_t j = 0; j < P; j++) a.ref[j] = a.trained[j] - a.global[j];
            comm_barrier();
            t0 = timer_now();
            agg_similarity_prev(&a);
            tp[r] = timer_now() - t0;
            for (size_t j = 0; j < P; j++) a.fbuf[j] = 1.0f;
            comm_barrier();
            t0 = timer_now();
            comm_allreduce_sum_float(a.fbuf, P);
            ta[r] = timer_now() - t0;
        }
        cx->sink = (double)a.out[P / 2] + (double)a.fbuf[0];
        /* per repetition, the slowest rank */
        comm_allreduce_max_double(tf, nrep);
        comm_allreduce_max_double(ts, nrep);
        comm_allreduce_max_double(ta, nrep);
        comm_allreduce_max_double(cf, nrep);
        comm_allreduce_max_double(cs, nrep);
        comm_allreduce_max_double(tp, nrep);
        BenchStats sf, ss, sa, scf, scs, sp;
        size_t w = cx->o.warmup;
        bench_stats(tf + w, cx->o.reps, &sf);
        bench_stats(ts + w, cx->o.reps, &ss);
        bench_stats(ta + w, cx->o.reps, &sa);
        bench_stats(cf + w, cx->o.reps, &scf);
        bench_stats(cs + w, cx->o.reps, &scs);
        bench_stats(tp + w, cx->o.reps, &sp);
        double ratio = ss.median / sf.median;
        double extra_comm = scs.median - scf.median;
        if (cx->rank == 0) {
            printf("  %10zu %-11s %11.4g %11.4g %11.4g %11.4g %9s\n", P, "fedavg", sf.min,
                   sf.median, sf.max, scf.median, "1");
            printf("  %10zu %-11s %11.4g %11.4g %11.4g %11.4g %9.3f\n", P, "similarity", ss.min,
                   ss.median, ss.max, scs.median, ratio);
            printf("  %10zu %-11s %11.4g %11.4g %11.4g %11s %9.3f\n", P, "sim-prev", sp.min,
                   sp.median, sp.max, "-", sp.median / sf.median);
            printf("  %10zu %-11s %11.4g %11.4g %11.4g %11s %9.3f\n", P, "allreduce-f", sa.min,
                   sa.median, sa.max, "-", sa.median / sf.median);
            char p[128], e[256];
            snprintf(p, sizeof p, "kernel=fedavg P=%zu clients_per_rank=%zu ranks=%d threads=%d",
                     P, L, cx->ranks, cx->threads);
            snprintf(e, sizeof e, "comm_median=%.6g", scf.median);
            bench_emit(cx, "aggregate", p, "s", &sf, e);
            snprintf(p, sizeof p,
                     "kernel=similarity P=%zu clients_per_rank=%zu ranks=%d threads=%d", P, L,
                     cx->ranks, cx->threads);
            snprintf(e, sizeof e,
                     "comm_median=%.6g ratio_vs_fedavg=%.4g extra_comm_s=%.6g "
                     "extra_comm_vs_allreduce=%.4g",
                     scs.median, ratio, extra_comm, extra_comm / sa.median);
            bench_emit(cx, "aggregate", p, "s", &ss, e);
            snprintf(p, sizeof p,
                     "kernel=similarity_prev P=%zu clients_per_rank=%zu ranks=%d threads=%d", P,
                     L, cx->ranks, cx->threads);
            snprintf(e, sizeof e, "ratio_vs_fedavg=%.4g", sp.median / sf.median);
            bench_emit(cx, "aggregate", p, "s", &sp, e);
            snprintf(p, sizeof p, "kernel=allreduce_float P=%zu ranks=%d", P, cx->ranks);
            bench_emit(cx, "aggregate", p, "s", &sa, "");
        }
        agg_free(&a);
    }
    free(tf);
    free(ts);
    free(ta);
    free(cf);
    free(cs);
    free(tp);
    bench_flush(cx);
}

