/*
 * bench_aggregate.c: `fedalign bench aggregate`, the cost of one phase-2 aggregation.
 *
 * It runs the production round code (round.h), the way HPCG times its own kernels: per
 * client round_accumulate from a trained model, round_sum_threads, round_second_pass for
 * the mean reference, round_finish (the one Reduce and the scalars' broadcast) and the
 * server step on rank 0, on synthetic client models, for three rules:
 *   fedavg           weight = training rows: the fused one-pass path;
 *   similarity       the dual criterion with the mean-update reference: the first pass
 *                    storing deltas, an Allreduce of P + 1 int64, the weighted second pass;
 *   similarity_prev  the dual criterion with the previous-update reference (one pass with
 *                    the cosine, no extra collective);
 *   fedavg_dynamics  FedAvg's weights with the server-dynamics cosines recorded (the runs'
 *                    default: two passes and the Allreduce of the mean, as similarity).
 * Only local training is left out (bench train measures it). Each rule is timed as the max
 * over ranks with a barrier before every repetition, next to a bare Allreduce of P floats,
 * for each P in --p.
 */
#include <math.h>
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
#include "fedalign/round.h"
#include "fedalign/timer.h"

typedef struct {
    size_t P, L;         /* parameters, clients on this rank */
    int nt;              /* threads */
    bool over_clients;   /* threads take whole clients (fl.c's rule) */
    float *global, *out; /* (P) phi^r, phi^{r+1} */
    float *trained;      /* (L, P) the clients' models after local training */
    float *w;            /* (nt, P) per-thread scratch: the client's delta */
    float *ref;          /* (P) cosine reference */
    float *fbuf;         /* (P) bare Allreduce buffer */
    RoundBuf rb;
    RoundStore st;   /* stored deltas of the mean reference */
    ClientUpdate *u; /* (L) */
    double *score;   /* (L) s_t */
    size_t *ntrain;  /* (L) FedAvg weights */
    Timers t;        /* FA_T_COMM: seconds in the round's collectives */
} AggBuf;

static void agg_alloc(AggBuf *a, size_t P, size_t L, int nt) {
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
    round_buf_init(&a->rb, P, nt);
    a->st.delta = xalloc_aligned(L * P * sizeof(float));
    a->st.norm2 = xcalloc(L, sizeof(double));
    a->st.alist = xcalloc(L, sizeof(size_t));
    a->u = xcalloc(L, sizeof(ClientUpdate));
    a->score = xcalloc(L, sizeof(double));
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
    round_buf_free(&a->rb);
    free(a->st.delta);
    free(a->st.norm2);
    free(a->st.alist);
    free(a->u);
    free(a->score);
    free(a->ntrain);
}

/* One aggregation under rule rr, as fl_round.c runs it after local training; returns the
 * seconds spent in the round's collectives. */
static double agg_round(AggBuf *a, const RoundRule *rr) {
    const size_t P = a->P;
    /* the production rule (fl_round.c): deltas stored for every two-pass rule, dynamics
     * included; |ref|^2 wherever the previous update is a reference */
    const bool store = round_two_pass(rr), dual = rr->weight == FA_WEIGHT_DUAL;
    timers_reset(&a->t);
    const bool prev_ref = (dual && !rr->mean_reference) || rr->dynamics;
    const double refnorm2 = prev_ref ? vec_dot(a->ref, a->ref, P) : 0.0;
    round_begin(&a->rb);
#pragma omp parallel for schedule(dynamic, 1) num_threads(a->nt) if (a->over_clients)
    for (size_t i = 0; i < a->L; i++) {
        const int tid = omp_get_thread_num();
        ClientUpdate *u = &a->u[i];
        *u = client_update_init(FA_ST_SELECTED, a->score[i], 0.5, 1.0);
        round_accumulate(&a->rb, tid, rr, u, a->trained + i * P, a->w + (size_t)tid * P, a->global,
                         a->ref, refnorm2, a->ntrain[i], NULL, store ? a->st.delta + i * P : NULL,
                         store ? &a->st.norm2[i] : NULL);
    }
    round_sum_threads(&a->rb);
    if (store) round_second_pass(&a->rb, rr, a->u, a->L, &a->st, a->ref, a->over_clients, &a->t);
    const int64_t cnt[3] = {0, 0, 0};
    round_finish(&a->rb, a->u, a->L, dual, cnt, false, &a->t);
    CHECK(a->rb.x.selected > 0, "bench aggregate: no update was aggregated");
    if (comm_rank() == 0) {
        round_server_step(&a->rb, a->out, a->global, 1.0);
    }
    return a->t.acc[FA_T_COMM];
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
               "pass); thread sum; Reduce of P+%zu int64; server step\n",
               ROUND_NSCALARS);
        printf("# similarity: pass 1 the same with q = 1, storing delta and |delta|^2; "
               "Allreduce of P+1 int64; mean reference and |ref|^2 (fixed_mean); pass 2 four "
               "clients per sweep: vec_dot_multi, then fixed_accumulate_q_multi\n");
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
    double *td = xmalloc(nrep * sizeof(double));
    for (size_t pi = 0; pi < cx->o.n_p; pi++) {
        size_t P = cx->o.plist[pi] ? cx->o.plist[pi] : default_model_P();
        AggBuf a;
        agg_alloc(&a, P, L, cx->threads);
        RoundRule fedavg = {.weight = FA_WEIGHT_ROWS},
                  sim = {.weight = FA_WEIGHT_DUAL, .mean_reference = true, .floor_c = 0.1};
        RoundRule prev = sim, dyn = fedavg;
        prev.mean_reference = false;
        dyn.dynamics = true;
        for (size_t r = 0; r < nrep; r++) {
            comm_barrier();
            double t0 = timer_now();
            cf[r] = agg_round(&a, &fedavg);
            tf[r] = timer_now() - t0;
            comm_barrier();
            t0 = timer_now();
            agg_round(&a, &dyn);
            td[r] = timer_now() - t0;
            comm_barrier();
            t0 = timer_now();
            cs[r] = agg_round(&a, &sim);
            ts[r] = timer_now() - t0;
            /* the previous global step as reference: some fixed direction of update size */
            for (size_t j = 0; j < P; j++) a.ref[j] = a.trained[j] - a.global[j];
            comm_barrier();
            t0 = timer_now();
            agg_round(&a, &prev);
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
        comm_allreduce_max_double(td, nrep);
        BenchStats sf, ss, sa, scf, scs, sp, sd;
        size_t w = cx->o.warmup;
        bench_stats(tf + w, cx->o.reps, &sf);
        bench_stats(ts + w, cx->o.reps, &ss);
        bench_stats(ta + w, cx->o.reps, &sa);
        bench_stats(cf + w, cx->o.reps, &scf);
        bench_stats(cs + w, cx->o.reps, &scs);
        bench_stats(tp + w, cx->o.reps, &sp);
        bench_stats(td + w, cx->o.reps, &sd);
        double ratio = ss.median / sf.median;
        double extra_comm = scs.median - scf.median;
        if (cx->rank == 0) {
            printf("  %10zu %-11s %11.4g %11.4g %11.4g %11.4g %9s\n", P, "fedavg", sf.min,
                   sf.median, sf.max, scf.median, "1");
            printf("  %10zu %-11s %11.4g %11.4g %11.4g %11.4g %9.3f\n", P, "similarity", ss.min,
                   ss.median, ss.max, scs.median, ratio);
            printf("  %10zu %-11s %11.4g %11.4g %11.4g %11s %9.3f\n", P, "sim-prev", sp.min,
                   sp.median, sp.max, "-", sp.median / sf.median);
            printf("  %10zu %-11s %11.4g %11.4g %11.4g %11s %9.3f\n", P, "fedavg-dyn", sd.min,
                   sd.median, sd.max, "-", sd.median / sf.median);
            printf("  %10zu %-11s %11.4g %11.4g %11.4g %11s %9.3f\n", P, "allreduce-f", sa.min,
                   sa.median, sa.max, "-", sa.median / sf.median);
            char p[128], e[256];
            snprintf(p, sizeof p, "kernel=fedavg P=%zu clients_per_rank=%zu ranks=%d threads=%d", P,
                     L, cx->ranks, cx->threads);
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
                     "kernel=similarity_prev P=%zu clients_per_rank=%zu ranks=%d threads=%d", P, L,
                     cx->ranks, cx->threads);
            snprintf(e, sizeof e, "ratio_vs_fedavg=%.4g", sp.median / sf.median);
            bench_emit(cx, "aggregate", p, "s", &sp, e);
            snprintf(p, sizeof p,
                     "kernel=fedavg_dynamics P=%zu clients_per_rank=%zu ranks=%d threads=%d", P, L,
                     cx->ranks, cx->threads);
            snprintf(e, sizeof e, "ratio_vs_fedavg=%.4g", sd.median / sf.median);
            bench_emit(cx, "aggregate", p, "s", &sd, e);
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
    free(td);
    bench_flush(cx);
}
