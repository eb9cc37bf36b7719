/*
 * fl_round.c: phase 2 of a federated method, round by round (the paper's Algorithm,
 * phase 2; docs/algorithm.md):
 *   broadcast phi^r -> evaluate it -> select clients -> each selected client trains
 *   locally and sends its update (client_update) -> the server's exact sums
 *   (round.h) -> server step -> record, report, checkpoint.
 * Communication per round: one Bcast of P floats, one Reduce of P + ROUND_NSCALARS int64,
 * one broadcast of the ROUND_NSCALARS scalars and, for the mean-update cosine reference
 * only, one Allreduce of P + 1 int64. Nothing of size C x P ever passes through rank 0,
 * except for the robust-aggregation methods (robust.h): their rule needs every accepted
 * update at one place, so they add one Gatherv of the accepted updates (m x P floats) and
 * one of C flags to rank 0, and one broadcast of 2C + 1 doubles (each client's share of
 * the aggregate, FLTrust's cosines) back (docs/performance.md).
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
#include "fedalign/eval_batched.h"
#include "fedalign/report.h"
#include "fedalign/rng.h"
#include "fedalign/robust.h"
#include "fedalign/train_batched.h"
#include "fa_math.h"
#include "pipeline.h"

/* What a selected client carries from before its local training to after it. */
typedef struct {
    ClientUpdate u;
    Rng fr;   /* its fault stream for this round (attacks draw from it after training) */
    double s; /* its score s_t (the pre-training accuracy, or 1 until it is known) */
} ClientRound;

/* A selected client's round before the local training: faults from its own stream, its
 * model w from phi^r (and the method's client_begin), the pre-training score. Returns
 * whether it trains; if not, x->u is what the server learns. */
static bool client_pre(Pipeline *pl, const MethodDef *def, const RoundRule *rr, size_t i,
                       uint64_t round, const TrainOpts *opts, int tid, float *w, ClientRound *x) {
    const Config *c = pl->cfg;
    const ClientData *cd = &pl->fd.clients[i];
    const bool inner = !pl->over_clients, dual = rr->weight == FA_WEIGHT_DUAL;
    x->u = client_update_init(FA_ST_SELECTED | (pl->attacker[i] ? FA_ST_ATTACKER : 0u), fa_nan(),
                              fa_nan(), fa_nan());
    x->s = 1.0;
    /* faults, from the client's own stream for this round */
    rng_init(&x->fr, c->seed, FA_RNG_FAULT, (uint64_t)cd->id, round, 0);
    const double u_drop = rng_uniform(&x->fr);
    x->u.time = pl->speed[i] * opts->epochs * (double)cd->train.n / FA_DEVICE_RATE;
    const bool late = c->deadline > 0.0 && x->u.time > c->deadline;
    if (c->dropout > 0.0 && u_drop < c->dropout) {
        x->u.status |= FA_ST_DROPPED;
        return false;
    }
    if (late) x->u.status |= FA_ST_LATE;
    if (late && !c->late_discount) return false; /* the server does not wait */
    memcpy(w, pl->global, pl->P * sizeof(float));
    if (def->client_begin) def->client_begin(pl, i, w); /* FedPer: the client's own head */
    if (dual && c->score == FA_SCORE_PREACC && cd->val.n) {
        EvalResult er;
        model_evaluate(&pl->L, w, &cd->val, &pl->ws[tid], inner, &er);
        x->s = er.acc;
    }
    return true;
}

/* After the local training of w (stats ts): the method's client_end, the score s_t, and
 * the update into thread tid's accumulator (round_accumulate). ev: w's validation
 * evaluation when the caller did it (client_group, no client_end), else NULL. Returns what
 * the server learns: status, weight, cosine, score, loss, device time. */
static ClientUpdate client_post(Pipeline *pl, const MethodDef *def, const RoundRule *rr, size_t i,
                                uint64_t round, const TrainOpts *opts, int tid, float *w,
                                ClientRound *x, const TrainStats *ts, const EvalResult *ev) {
    const Config *c = pl->cfg;
    const ClientData *cd = &pl->fd.clients[i];
    const bool inner = !pl->over_clients, dual = rr->weight == FA_WEIGHT_DUAL;
    ClientUpdate u = x->u;
    u.loss = ts->loss_mean;
    /* Ditto: the personal model's step; FedPer: the head stays on the client */
    if (def->client_end) def->client_end(pl, i, round, opts, tid, w);
    double s = x->s;
    if (dual && c->score != FA_SCORE_PREACC && cd->val.n) {
        EvalResult er;
        if (ev) er = *ev;
        else model_evaluate(&pl->L, w, &cd->val, &pl->ws[tid], inner, &er);
        /* 1 = chance level; fa_log_f2d: the loss's own log, not glibc's per-CPU variant */
        const double q = er.loss / fa_log_f2d((float)pl->fd.info.k);
        s = c->score == FA_SCORE_ACC ? er.acc : 1.0 - (q < 0.0 ? 0.0 : q > 1.0 ? 1.0 : q);
    }
    u.score = s; /* an attacker reports the score of its honest model */
    /* the robust methods keep every accepted update for the gather to rank 0 */
    const bool store = round_two_pass(rr) || def->robust != FA_ROBUST_NONE;
    round_accumulate(&pl->rb, tid, rr, &u, w, w, pl->global, pl->ref, pl->refnorm2, cd->train.n,
                     &x->fr, store ? pl->st.delta + i * pl->P : NULL,
                     store ? &pl->st.norm2[i] : NULL);
    if (def->scaffold && (u.status & FA_ST_AGGREGATED)) scaffold_commit(pl, i, tid);
    return u;
}

/* A selected client's round (the client side of the protocol): client_pre, local training
 * from phi^r with the method's objective, client_post. */
static ClientUpdate client_update(Pipeline *pl, const MethodSpec *ms, const RoundRule *rr, size_t i,
                                  uint64_t round, const TrainOpts *opts, int tid) {
    const Config *c = pl->cfg;
    const ClientData *cd = &pl->fd.clients[i];
    const MethodDef *def = method_def(ms->method);
    float *w = pl->tmodel + (size_t)tid * pl->P;
    ClientRound x;
    if (!client_pre(pl, def, rr, i, round, opts, tid, w, &x)) return x.u;
    TrainStats ts;
    if (def->scaffold) {
        if (!scaffold_train(pl, i, w, opts, round, tid, &ts)) { /* c_i's delta out of range */
            x.u.loss = ts.loss_mean;
            x.u.status |= FA_ST_REJECTED;
            return x.u;
        }
    } else if (def->client_train) {
        def->client_train(pl, i, round, opts, tid, w, &ts);
    } else {
        train_local(&pl->L, w, def->proximal ? pl->global : NULL, &cd->train, opts, c->seed,
                    (uint64_t)cd->id, round, &pl->ws[tid], !pl->over_clients, &ts);
    }
    return client_post(pl, def, rr, i, round, opts, tid, w, &x, &ts, NULL);
}

// ----------------------------------------------------------------------------
// client-batched local training (--client-batch, train_batched.h)

/* The scratch of the batched path for one phase 2: per thread G client models and a
 * group workspace; the round's selected clients. on = the path applies. */
typedef struct {
    bool on;
    size_t G;
    float *models; /* (nthreads, G, P) */
    GroupWs *gw;   /* (nthreads) pl->gw */
    size_t *order; /* (n) the local clients by training rows (fl_client_order) */
    size_t *sel;   /* (n) the round's selected clients in that order */
} Batched;

size_t fl_client_batch_lanes(const Pipeline *pl) {
    /* the group kernel is the MLP's forward/backward: a cnn1d always trains per client */
    if (pl->L.shape.kind != FA_MODEL_MLP) return 0;
    const size_t G = train_group_lanes();
    const FaClientBatch cb = pl->cfg->client_batch;
    const bool on = cb == FA_CBATCH_ON || (cb == FA_CBATCH_AUTO && G >= FA_GROUP_MIN_AUTO);
    return on && (pl->over_clients || pl->nthreads == 1) ? G : 0;
}

bool fl_group_batched(const Pipeline *pl, size_t G, size_t m) {
    return G > 0 && (m == G || pl->cfg->client_batch == FA_CBATCH_ON);
}

typedef struct {
    size_t rows, i;
} RowKey;

static int rowkey_cmp(const void *a, const void *b) {
    const RowKey *x = a, *y = b;
    if (x->rows != y->rows) return x->rows < y->rows ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

void fl_client_order(const Pipeline *pl, int split, size_t *order) {
    const size_t n = pl->fd.n_local;
    RowKey *k = xmalloc((n ? n : 1) * sizeof *k);
    for (size_t i = 0; i < n; i++) {
        const ClientData *cd = &pl->fd.clients[i];
        k[i] = (RowKey){split == 0 ? cd->train.n : split == 1 ? cd->val.n : cd->test.n, i};
    }
    qsort(k, n, sizeof *k, rowkey_cmp);
    for (size_t i = 0; i < n; i++) order[i] = k[i].i;
    free(k);
}

/* The batched path of phase 2 applies where the client step is plain train_local (no
 * SCAFFOLD correction, no method-specific local training) and fl_client_batch_lanes says. */
static void batched_init(Batched *b, const Pipeline *pl, const MethodDef *def) {
    memset(b, 0, sizeof *b);
    b->G = fl_client_batch_lanes(pl);
    b->on = b->G > 0 && !def->scaffold && !def->client_train;
    if (!b->on) return;
    const size_t T = (size_t)pl->nthreads, n = pl->fd.n_local;
    CHECK(pl->gw, "client-batched training without the group workspaces: fl_setup did not see it");
    b->models = xalloc_aligned(T * b->G * pl->P * sizeof(float));
    b->gw = pl->gw;
    b->sel = xcalloc(n ? n : 1, sizeof(size_t));
    b->order = xcalloc(n ? n : 1, sizeof(size_t));
    fl_client_order(pl, 0, b->order);
}

static void batched_free(Batched *b) {
    if (!b->on) return;
    free(b->models);
    free(b->order);
    free(b->sel);
}

/* The selected clients sel[0..m) as one group on thread tid: client_pre, one
 * train_local_group over those that train, client_post. */
static void client_group(Pipeline *pl, const MethodDef *def, const RoundRule *rr, Batched *b,
                         const size_t *sel, size_t m, uint64_t round, const TrainOpts *opts,
                         int tid) {
    const size_t P = pl->P;
    float *W = b->models + (size_t)tid * b->G * P;
    ClientRound x[FA_GROUP_MAX];
    float *w[FA_GROUP_MAX];
    const Dataset *ds[FA_GROUP_MAX];
    uint64_t id[FA_GROUP_MAX];
    size_t who[FA_GROUP_MAX], k = 0;
    for (size_t j = 0; j < m; j++) {
        const size_t i = sel[j];
        w[k] = W + k * P;
        if (!client_pre(pl, def, rr, i, round, opts, tid, w[k], &x[k])) {
            pl->cu[i] = x[k].u;
            continue;
        }
        ds[k] = &pl->fd.clients[i].train;
        id[k] = (uint64_t)pl->fd.clients[i].id;
        who[k++] = i;
    }
    if (k == 0) return;
    TrainStats ts[FA_GROUP_MAX];
    train_local_group(&pl->L, k, w, def->proximal ? pl->global : NULL, ds, opts, pl->cfg->seed, id,
                      round, &b->gw[tid], ts);
    /* the score s_t of all k at once, on the trained models the group kernel left in its
     * lanes (eval_batched.h: model_evaluate's bits); a client_end hook changes w first, so
     * then client_post evaluates each; --score acc needs no loss (no exp/log per row) */
    const FaScore sc = pl->cfg->score;
    const bool gev = rr->weight == FA_WEIGHT_DUAL && sc != FA_SCORE_PREACC && !def->client_end;
    EvalResult ev[FA_GROUP_MAX];
    if (gev) {
        const Dataset *dv[FA_GROUP_MAX];
        for (size_t g = 0; g < k; g++) dv[g] = &pl->fd.clients[who[g]].val;
        eval_local_group(&pl->L, k, dv, pl->ws[tid].batch_max, sc == FA_SCORE_LOSS, &b->gw[tid],
                         ev);
    }
    for (size_t g = 0; g < k; g++)
        pl->cu[who[g]] = client_post(pl, def, rr, who[g], round, opts, tid, w[g], &x[g], &ts[g],
                                     gev ? &ev[g] : NULL);
}

/* Every selected local client's round; threads take whole clients (or split each
 * client's mini-batch). */
static void kern_train_clients(Pipeline *pl, const MethodSpec *ms, const RoundRule *rr,
                               uint64_t round, const TrainOpts *opts, Batched *b) {
    const size_t n = pl->fd.n_local;
    round_begin(&pl->rb);
    if (b->on) { /* groups of G selected clients neighbouring in size; threads take whole groups */
        const MethodDef *def = method_def(ms->method);
        size_t m = 0;
        for (size_t j = 0; j < n; j++)
            if (pl->sel[b->order[j]]) b->sel[m++] = b->order[j];
        const size_t ng = (m + b->G - 1) / b->G;
#pragma omp parallel for schedule(dynamic, 1) num_threads(pl->nthreads) if (pl->over_clients)
        for (size_t q = 0; q < ng; q++) {
            const size_t j0 = q * b->G, len = m - j0 < b->G ? m - j0 : b->G;
            const int tid = omp_get_thread_num();
            if (fl_group_batched(pl, b->G, len))
                client_group(pl, def, rr, b, b->sel + j0, len, round, opts, tid);
            else
                for (size_t j = j0; j < j0 + len; j++)
                    pl->cu[b->sel[j]] = client_update(pl, ms, rr, b->sel[j], round, opts, tid);
        }
        return;
    }
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

// ----------------------------------------------------------------------------
// the robust methods' server side (robust.h)

/* What a robust method needs beside the pipeline: rank 0's RobustBuf, and on every rank
 * the flags of its clients and the per-client values that come back from rank 0. */
typedef struct {
    bool on;
    RobustParams rp;
    RobustBuf rb; /* rank 0 only */
    double *loc;  /* (n) 1 when the local client's update is gathered */
    double *all;  /* (2C + 1) rank 0: the flags in client order; then every rank: each
                   * client's share of the aggregate, FLTrust's cosine, and "sums ok" */
} Gather;

static void gather_init(Gather *g, const Pipeline *pl, const MethodSpec *ms) {
    memset(g, 0, sizeof *g);
    g->rp = method_robust_params(pl->cfg, ms->method);
    g->on = g->rp.rule != FA_ROBUST_NONE;
    if (!g->on) return;
    const size_t C = pl->cfg->clients, n = pl->fd.n_local;
    if (pl->rank == 0) robust_buf_init(&g->rb, g->rp.rule, C, pl->P, pl->nthreads);
    g->loc = xcalloc(n ? n : 1, sizeof(double));
    g->all = xcalloc(2 * C + 1, sizeof(double));
}

static void gather_free(Gather *g) {
    if (!g->on) return;
    if (g->rb.U) robust_buf_free(&g->rb);
    free(g->all);
    free(g->loc);
}

/* FLTrust's server update g_0 on rank 0: phi^r trained on the root data set (the public
 * data of phase 0) with the clients' local options, from its own shuffle stream. */
static const float *root_update(Pipeline *pl, Gather *g, const TrainOpts *o, size_t r) {
    const Dataset *root = &pl->fd.public_data;
    CHECK(root->n > 0, "FLTrust: rank 0 holds no public (root) data");
    memcpy(g->rb.root, pl->global, pl->P * sizeof(float));
    TrainStats ts;
    timer_start(&pl->t, FA_T_TRAIN);
    train_local(&pl->L, g->rb.root, NULL, root, o, pl->cfg->seed, FA_CLIENT_PUBLIC,
                FA_ROUND_ROOT + r, &pl->ws[0], true, &ts);
    timer_stop(&pl->t, FA_T_TRAIN);
    vec_sub(g->rb.root, g->rb.root, pl->global, pl->P);
    return g->rb.root;
}

/* Rank 0's rule over the gathered updates; g->all becomes each client's share and
 * cosine in client order, and g->all[2C] whether the exact sums stayed in range. */
static void robust_rank0(Pipeline *pl, Gather *g, const TrainOpts *o, size_t r, size_t m) {
    const size_t C = pl->cfg->clients;
    const float *g0 = g->rp.rule == FA_ROBUST_FLTRUST ? root_update(pl, g, o, r) : NULL;
    timer_start(&pl->t, FA_T_AGG);
    int64_t den = 0;
    bool ok = robust_aggregate(&g->rb, &g->rp, m, g0, &den);
    if (ok && den > 0)
        fl_apply_update(pl->global, pl->global, g->rb.num, den, pl->cfg->alpha, pl->P);
    for (size_t t = C, k = m; t-- > 0;) { /* back to client order, in place, from the end */
        const bool in = g->all[t] != 0.0;
        g->all[C + t] = in ? g->rb.cosv[k - 1] : fa_nan();
        g->all[t] = in ? g->rb.weight[--k] : 0.0;
    }
    g->all[2 * C] = ok;
    timer_stop(&pl->t, FA_T_AGG);
}

/* The robust round's server side, after the round's Reduce (collective): the accepted
 * updates to rank 0 in client order, the rule and the step there, and the clients'
 * shares (rc_weight) and FLTrust cosines (rc_cos) back into res on every rank. */
static void robust_round(Pipeline *pl, Gather *g, const TrainOpts *o, MethodResult *res, size_t r) {
    const size_t P = pl->P, n = pl->fd.n_local, C = pl->cfg->clients;
    size_t k = 0; /* the accepted rows to the front of the stored deltas, in order */
    for (size_t i = 0; i < n; i++) {
        g->loc[i] = (pl->cu[i].status & FA_ST_AGGREGATED) != 0;
        if (g->loc[i] != 0.0 && k++ != i)
            memcpy(pl->st.delta + (k - 1) * P, pl->st.delta + i * P, P * sizeof(float));
    }
    timer_start(&pl->t, FA_T_COMM);
    comm_gatherv_doubles(g->loc, n, g->all, 0);
    comm_gatherv_floats(pl->st.delta, k * P, g->rb.U, 0);
    timer_stop(&pl->t, FA_T_COMM);
    if (pl->rank == 0) { /* m: the updates gathered from every rank */
        size_t m = 0;
        for (size_t t = 0; t < C; t++) m += g->all[t] != 0.0;
        robust_rank0(pl, g, o, r, m);
    }
    timer_start(&pl->t, FA_T_COMM);
    comm_bcast_doubles(g->all, 2 * C + 1, 0);
    timer_stop(&pl->t, FA_T_COMM);
    if (g->all[2 * C] == 0.0)
        fa_fail("aggregation failed: the robust aggregate of round %zu leaves the exact "
                "fixed-point range; HINT: bound the updates with --clip, or lower --lr",
                r + 1);
    for (size_t i = 0; i < n; i++) {
        const size_t t = pl->fd.ids[i];
        res->rc_weight[r * n + i] = g->all[t];
        if (g->rp.rule == FA_ROBUST_FLTRUST) res->rc_cos[r * n + i] = g->all[C + t];
    }
}

/* The method's state at the start of its phase 2 (round0 == 0), or a check that a
 * resume brought it back from the checkpoint. */
static void method_state_start(Pipeline *pl, const MethodDef *def, const ServerOpt *so,
                               size_t round0) {
    const size_t need = def->scaffold ? pl->P : server_opt_state_per_param(def->sopt) * pl->P;
    if (round0 > 0) {
        if (pl->sstate_len != need || (def->scaffold && !pl->cvar_live))
            fa_fail("--resume: the checkpoint holds no server state for %s (%zu values, %zu "
                    "needed); it is damaged or from another build",
                    fa_method_names[def->id], pl->sstate_len, need);
        return;
    }
    pl->sstate_len = need;
    if (def->sopt != FA_SOPT_NONE) server_opt_init(so, pl->sstate, pl->P);
    if (def->scaffold) {
        CHECK(pl->cvar, "SCAFFOLD without control variates: fl_setup did not see it");
        scaffold_reset(pl);
        pl->cvar_live = true;
    }
}

/* The server step on rank 0: the method's optimizer with its state, or its plain step. */
static void server_update(Pipeline *pl, const MethodDef *def, const ServerOpt *so) {
    if (def->sopt != FA_SOPT_NONE)
        server_opt_step(so, pl->sstate, pl->global, pl->rb.acc, pl->rb.x.den, pl->P);
    else def->server_step(&pl->rb, pl->global, pl->global, pl->cfg->alpha);
}

/* Load balance: one max and one sum over ranks of the rounds this process timed (at a
 * checkpoint and at the end, never per round, so the round keeps its one Reduce); the
 * rounds before a resume keep the values the checkpoint holds. */
void fl_reduce_train_times(Pipeline *pl, MethodResult *res, size_t upto) {
    const size_t r0 = pl->rtrain_from, m = upto > r0 ? upto - r0 : 0;
    double *mx = xmalloc((m ? m : 1) * sizeof(double)), *sm = xmalloc((m ? m : 1) * sizeof(double));
    memcpy(mx, pl->rtrain + r0, m * sizeof(double));
    memcpy(sm, pl->rtrain + r0, m * sizeof(double));
    comm_allreduce_max_double(mx, m);
    comm_allreduce_sum_double(sm, m);
    for (size_t k = 0; k < m; k++) {
        res->round_train_max[r0 + k] = mx[k];
        res->round_train_mean[r0 + k] = sm[k] / pl->size;
    }
    double s = 0.0;
    size_t cnt = 0;
    for (size_t r = 0; r < upto; r++) {
        double q = res->round_train_max[r] / res->round_train_mean[r];
        if (!isfinite(q)) continue; /* no time at all (0/0), or not timed */
        s += q;
        cnt++;
    }
    res->train_imbalance = cnt ? s / (double)cnt : fa_nan();
    free(sm);
    free(mx);
}

/* The round loop of phase 2 from round round0, then the evaluation of the final model;
 * g: the robust methods' gather (g->on), else unused. */
static int rounds(Pipeline *pl, const MethodSpec *ms, MethodResult *res, size_t round0,
                  const FlHooks *hooks, Gather *g, Batched *bt) {
    const Config *c = pl->cfg;
    const size_t P = pl->P, n = pl->fd.n_local, R = c->rounds;
    const MethodDef *def = method_def(ms->method);
    const RoundRule rr = method_round_rule(c, ms->similarity);
    const bool dual = ms->similarity;
    const ServerOpt so = server_opt_from_config(c, def->sopt);
    method_state_start(pl, def, &so, round0);
    TrainOpts o = c->local;
    o.mu = def->proximal ? c->local.mu : 0.0;
    /* round times continue from the checkpoint's clock when resuming */
    const double t0 = timer_now() - (round0 > 0 ? res->round_time[round0 - 1] : 0.0);
    if (round0 == 0) memcpy(pl->prev, pl->global, P * sizeof(float));
    const bool two_pass = round_two_pass(&rr),
               need_prev = rr.dynamics || (dual && !rr.mean_reference);
    pl->rtrain_from = round0;
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
            fl_reduce_train_times(pl, res, R);
            return 0;
        }
        if (need_prev) { /* the last global update: reference "prev", and dynamics */
            vec_sub(pl->ref, pl->global, pl->prev, P);
            pl->refnorm2 = vec_dot(pl->ref, pl->ref, P);
        }
        memcpy(pl->prev, pl->global, P * sizeof(float));
        if (def->scaffold) scaffold_begin_round(pl);
        select_clients(pl, r);
        pl->rb.round = r;
        const double train0 = pl->t.acc[FA_T_TRAIN];
        timer_start(&pl->t, FA_T_TRAIN);
        kern_train_clients(pl, ms, &rr, r, &o, bt);
        timer_stop(&pl->t, FA_T_TRAIN);
        move_agg_time(pl);
        pl->rtrain[r] = pl->t.acc[FA_T_TRAIN] - train0;
        timer_start(&pl->t, FA_T_AGG);
        round_sum_threads(&pl->rb);
        timer_stop(&pl->t, FA_T_AGG);
        if (two_pass)
            round_second_pass(&pl->rb, &rr, pl->cu, n, &pl->st, pl->mean, pl->over_clients, &pl->t);
        bool sig = hooks && hooks->stop_requested && hooks->stop_requested(hooks->ctx);
        round_finish(&pl->rb, pl->cu, n, dual, cnt, sig, &pl->t);
        record_round(pl, dual, res, r, t0);
        if (g->on) robust_round(pl, g, &o, res, r); /* the step happens on rank 0 there */
        if (def->scaffold) scaffold_end_round(pl, &pl->t);
        if (pl->rank == 0) {
            timer_start(&pl->t, FA_T_AGG);
            if (!g->on) server_update(pl, def, &so);
            if (def->server_post) def->server_post(pl); /* FedPer: the body only moves */
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

/* Phase 2: rounds round0..R-1 of local training and exact aggregation, then the
 * evaluation of the final model (rounds() above). Returns FA_STOPPED after a requested
 * stop (signal or --stop-after-round), having checkpointed; 0 when all rounds ran. */
int phase2_rounds(Pipeline *pl, const MethodSpec *ms, MethodResult *res, size_t round0,
                  const FlHooks *hooks) {
    const size_t P = pl->P, n = pl->fd.n_local;
    const RoundRule rr = method_round_rule(pl->cfg, ms->similarity);
    Gather g;
    gather_init(&g, pl, ms);
    if ((round_two_pass(&rr) || g.on) && !pl->st.delta) { /* deltas stored only when needed */
        pl->st.delta = xalloc_aligned((n ? n : 1) * P * sizeof(float));
        pl->st.norm2 = xcalloc(n ? n : 1, sizeof(double));
        pl->st.alist = xcalloc(n ? n : 1, sizeof(size_t));
    }
    Batched bt;
    batched_init(&bt, pl, method_def(ms->method));
    if (pl->cfg->verbose) /* which local-training path ran (tests/e2e/test_repro.sh) */
        fprintf(stderr, "fedalign: rank %d: %s phase 2: %s local training (%zu clients per group)%s\n",
                pl->rank, ms->name, bt.on ? "client-batched" : "per-client", bt.on ? bt.G : (size_t)1,
                bt.on && !fl_group_batched(pl, bt.G, 1) ? ", a partial group per client" : "");
    int rc = rounds(pl, ms, res, round0, hooks, &g, &bt);
    batched_free(&bt);
    gather_free(&g);
    return rc;
}
