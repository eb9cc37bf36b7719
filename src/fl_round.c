/*
 * fl_round.c: phase 2 of a federated method, round by round (the paper's Algorithm,
 * phase 2; docs/algorithm.md):
 *   broadcast phi^r -> evaluate it -> select clients -> each selected client trains
 *   locally and sends its update (client_update) -> the server's exact sums
 *   (round.h) -> server step -> record, report, checkpoint.
 * Communication per round: one Bcast of P floats, one Reduce of P + ROUND_NSCALARS int64,
 * one broadcast of the ROUND_NSCALARS scalars and, for the mean-update cosine reference
 * only, one Allreduce of P + 1 int64. Nothing of size C x P ever passes through rank 0.
 */
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/aggregate.h"
#include "fedalign/check.h"
#include "fedalign/comm.h"
#include "fedalign/report.h"
#include "fedalign/rng.h"
#include "pipeline.h"

/* A selected client's round (the client side of the protocol): faults from its own
 * stream, local training from phi^r with the method's objective, its score s_t, and its
 * update into thread tid's accumulator (round_accumulate). Returns what the server
 * learns: status, weight, cosine, score, loss, device time. */
static ClientUpdate client_update(Pipeline *pl, const MethodSpec *ms, const RoundRule *rr, size_t i,
                                  uint64_t round, const TrainOpts *opts, int tid) {
    const Config *c = pl->cfg;
    const ClientData *cd = &pl->fd.clients[i];
    float *w = pl->tmodel + (size_t)tid * pl->P;
    Workspace *ws = &pl->ws[tid];
    const bool inner = !pl->over_clients, dual = rr->weight == FA_WEIGHT_DUAL;
    ClientUpdate u = client_update_init(FA_ST_SELECTED | (pl->attacker[i] ? FA_ST_ATTACKER : 0u),
                                        fa_nan(), fa_nan(), fa_nan());
    /* faults, from the client's own stream for this round */
    Rng fr;
    rng_init(&fr, c->seed, FA_RNG_FAULT, (uint64_t)cd->id, round, 0);
    const double u_drop = rng_uniform(&fr);
    u.time = pl->speed[i] * opts->epochs * (double)cd->train.n / FA_DEVICE_RATE;
    const bool late = c->deadline > 0.0 && u.time > c->deadline;
    if (c->dropout > 0.0 && u_drop < c->dropout) {
        u.status |= FA_ST_DROPPED;
        return u;
    }
    if (late) u.status |= FA_ST_LATE;
    if (late && !c->late_discount) return u; /* the server does not wait */
    memcpy(w, pl->global, pl->P * sizeof(float));
    EvalResult er;
    double s = 1.0;
    if (dual && c->score == FA_SCORE_PREACC && cd->val.n) {
        model_evaluate(&pl->L, w, &cd->val, ws, inner, &er);
        s = er.acc;
    }
    TrainStats ts;
    train_local(&pl->L, w, method_def(ms->method)->proximal ? pl->global : NULL, &cd->train, opts,
                c->seed, (uint64_t)cd->id, round, ws, inner, &ts);
    u.loss = ts.loss_mean;
    if (dual && c->score != FA_SCORE_PREACC && cd->val.n) {
        model_evaluate(&pl->L, w, &cd->val, ws, inner, &er);
        const double x = er.loss / log((double)pl->fd.info.k); /* 1 = chance level */
        s = c->score == FA_SCORE_ACC ? er.acc : 1.0 - (x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x);
    }
    u.score = s; /* an attacker reports the score of its honest model */
    const bool store = round_two_pass(rr);
    round_accumulate(&pl->rb, tid, rr, &u, w, w, pl->global, pl->ref, pl->refnorm2, cd->train.n,
                     &fr, store ? pl->st.delta + i * pl->P : NULL, store ? &pl->st.norm2[i] : NULL);
    return u;
}

/* Every selected local client's round; threads take whole clients (or split each
 * client's mini-batch). */
static void kern_train_clients(Pipeline *pl, const MethodSpec *ms, const RoundRule *rr,
                               uint64_t round, const TrainOpts *opts) {
    const size_t n = pl->fd.n_local;
    round_begin(&pl->rb);
#pragma omp parallel for schedule(dynamic, 1) num_threads(pl->nthreads) if (pl->over_clients)
    for (size_t i = 0; i < n; i++)
        if (pl->sel[i]) pl->cu[i] = client_update(pl, ms, rr, i, round, opts, omp_get_thread_num());
}

/* kern_train_clients timed its aggregation work (delta, bound check, store, first
 * fixed-point pass) per thread; move that share of the kernel's wall time from "train"
 * to "aggregate" so that round - train is the whole framework overhead. With threads
 * over clients the threads ran side by side: the mean per busy thread is the wall share. */
static void move_agg_time(Pipeline *pl) {
    double s = 0.0;
    for (int t = 0; t < pl->nthreads; t++) s += pl->rb.tagg[t];
    size_t busy = pl->fd.n_local < (size_t)pl->nthreads ? pl->fd.n_local : (size_t)pl->nthreads;
    if (pl->over_clients && busy > 1) s /= (double)busy;
    pl->t.acc[FA_T_TRAIN] -= s;
    pl->t.acc[FA_T_AGG] += s;
}

/* Client selection for round r: each client independently with probability
 * client_frac from its own stream, so no communication is needed; a client not
 * selected sends nothing. */
static void select_clients(Pipeline *pl, uint64_t round) {
    for (size_t i = 0; i < pl->fd.n_local; i++) {
        pl->cu[i] = client_update_init(0, fa_nan(), fa_nan(), fa_nan());
        if (pl->cfg->client_frac >= 1.0) {
            pl->sel[i] = 1;
            continue;
        }
        Rng r;
        rng_init(&r, pl->cfg->seed, FA_RNG_SELECT, (uint64_t)pl->fd.clients[i].id, round, 0);
        pl->sel[i] = rng_uniform(&r) < pl->cfg->client_frac;
    }
}

/* Broadcast phi^r from rank 0 and evaluate it on every client's test split. */
static void broadcast_and_eval(Pipeline *pl, size_t r, double *acc_out, int64_t cnt[3]) {
    char where[64];
    snprintf(where, sizeof where, "the start of round %zu", r + 1);
    comm_watch_barrier(pl->cfg->watchdog, where);
    timer_start(&pl->t, FA_T_COMM);
    comm_bcast_floats(pl->global, pl->P, 0);
    timer_stop(&pl->t, FA_T_COMM);
    timer_start(&pl->t, FA_T_EVAL);
    kern_eval_clients(pl, pl->global, false, acc_out, cnt);
    timer_stop(&pl->t, FA_T_EVAL);
}

/* Round r's per-client rows and global metrics into res (every rank). */
static void record_round(Pipeline *pl, bool dual, MethodResult *res, size_t r, double t0) {
    const size_t n = pl->fd.n_local;
    const RoundScalars *x = &pl->rb.x;
    for (size_t i = 0; i < n; i++) {
        const ClientUpdate *u = &pl->cu[i];
        const size_t k = r * n + i;
        res->rc_score[k] = dual ? u->score : fa_nan();
        res->rc_cos[k] = u->theta;
        res->rc_cos_mean[k] = u->cos_mean;
        res->rc_cos_prev[k] = u->cos_prev;
        res->rc_loss[k] = u->loss;
        res->rc_status[k] = (double)u->status;
        res->rc_time[k] = u->time;
        res->rc_weight[k] = x->den ? (double)u->q / (double)x->den : 0.0;
    }
    res->round_acc[r] = x->rows ? (double)x->correct / (double)x->rows : fa_nan();
    res->round_loss[r] = x->rows ? fixed_to_double(x->loss) * 1024.0 / (double)x->rows : fa_nan();
    res->round_time[r] = timer_now() - t0;
    res->round_wsum_cos[r] = x->den ? fixed_to_double(x->qcos) * 4096.0 / (double)x->den : fa_nan();
    res->round_selected[r] = (size_t)x->selected;
}

/* Phase 2: rounds round0..R-1 of local training and exact aggregation, then the
 * evaluation of the final model. Returns FA_STOPPED after a requested stop (signal or
 * --stop-after-round), having checkpointed; 0 when all rounds ran. */
int phase2_rounds(Pipeline *pl, const MethodSpec *ms, MethodResult *res, size_t round0,
                  const FlHooks *hooks) {
    const Config *c = pl->cfg;
    const size_t P = pl->P, n = pl->fd.n_local, R = c->rounds;
    const MethodDef *def = method_def(ms->method);
    const RoundRule rr = method_round_rule(c, ms->similarity);
    const bool dual = ms->similarity;
    TrainOpts o = c->local;
    o.mu = def->proximal ? c->local.mu : 0.0;
    /* round times continue from the checkpoint's clock when resuming */
    const double t0 = timer_now() - (round0 > 0 ? res->round_time[round0 - 1] : 0.0);
    if (round0 == 0) memcpy(pl->prev, pl->global, P * sizeof(float));
    const bool two_pass = round_two_pass(&rr),
               need_prev = rr.dynamics || (dual && !rr.mean_reference);
    if (two_pass && !pl->st.delta) { /* deltas are stored only when needed */
        pl->st.delta = xalloc_aligned((n ? n : 1) * P * sizeof(float));
        pl->st.norm2 = xcalloc(n ? n : 1, sizeof(double));
        pl->st.alist = xcalloc(n ? n : 1, sizeof(size_t));
    }
    Progress pg;
    char what[96];
    snprintf(what, sizeof what, "%s rounds", ms->name);
    progress_begin(&pg, pl->rank == 0 && !c->quiet, what, round0, R);
    for (size_t r = round0;; r++) {
        int64_t cnt[3];
        if (pl->freeze_round == r + 1 && pl->rank == pl->freeze_rank) raise(SIGSTOP);
        broadcast_and_eval(pl, r, r == R ? res->acc_p2 : NULL, cnt);
        if (r == R) { /* the final model: evaluation only */
            comm_allreduce_sum_i64(cnt, 3);
            res->round_acc[r] = cnt[1] ? (double)cnt[0] / (double)cnt[1] : fa_nan();
            res->round_loss[r] =
                cnt[1] ? fixed_to_double(cnt[2]) * 1024.0 / (double)cnt[1] : fa_nan();
            res->round_time[r] = timer_now() - t0;
            return 0;
        }
        if (need_prev) { /* the last global update: reference "prev", and dynamics */
            vec_sub(pl->ref, pl->global, pl->prev, P);
            pl->refnorm2 = vec_dot(pl->ref, pl->ref, P);
        }
        memcpy(pl->prev, pl->global, P * sizeof(float));
        select_clients(pl, r);
        pl->rb.round = r;
        timer_start(&pl->t, FA_T_TRAIN);
        kern_train_clients(pl, ms, &rr, r, &o);
        timer_stop(&pl->t, FA_T_TRAIN);
        move_agg_time(pl);
        timer_start(&pl->t, FA_T_AGG);
        round_sum_threads(&pl->rb);
        timer_stop(&pl->t, FA_T_AGG);
        if (two_pass)
            round_second_pass(&pl->rb, &rr, pl->cu, n, &pl->st, pl->mean, pl->over_clients, &pl->t);
        bool sig = hooks && hooks->stop_requested && hooks->stop_requested(hooks->ctx);
        round_finish(&pl->rb, pl->cu, n, dual, cnt, sig, &pl->t);
        record_round(pl, dual, res, r, t0);
        if (pl->rank == 0) {
            timer_start(&pl->t, FA_T_AGG);
            def->server_step(&pl->rb, pl->global, pl->global, c->alpha);
            timer_stop(&pl->t, FA_T_AGG);
            if (rr.dynamics && r > 0) { /* direction of this step against the last one */
                vec_sub(pl->tmodel, pl->global, pl->prev, P);
                res->round_update_cos[r] = vec_cosine(pl->tmodel, pl->ref, P);
            }
            if (!c->quiet) report_round(stdout, &pl->rb.x, res, r, R);
            progress_update(&pg, r + 1);
        }
        res->rounds_done = r + 1;
        /* a stop request travels in the round's Reduce/broadcast: no extra collective */
        bool stop = pl->rb.x.stop > 0 || (hooks && hooks->stop_after_round == r + 1 && r + 1 < R);
        bool ck = stop || (hooks && hooks->every && (r + 1) % hooks->every == 0 && r + 1 < R);
        if (ck) fl_checkpoint(pl, hooks, res, 2, r + 1);
        if (stop) return FA_STOPPED;
    }
}
