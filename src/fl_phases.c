/*
 * fl_phases.c: the phases outside the federated round (docs/algorithm.md):
 *   phase 0  foundation model on rank 0 from the public data, broadcast;
 *   phase 1  the meta-initialization ring (a token passed rank to rank, serial by design);
 *   local    local-only training, the baseline without a server (method.h: its phase 2);
 *   phase 3  personalization: fine-tuning from the global model, or the local models'
 *            further epochs; the final models' accuracy, checksum and int8 accuracy.
 * OpenMP: kern_eval_clients and kern_personalize are the parallel regions (threads over
 * clients, or over each client's mini-batch); each thread owns a Workspace and a model row.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/aggregate.h"
#include "fedalign/check.h"
#include "fedalign/comm.h"
#include "fedalign/eval_batched.h"
#include "fedalign/quant.h"
#include "fedalign/report.h"
#include "fedalign/rng.h"
#include "fedalign/train_batched.h"
#include "pipeline.h"

// ----------------------------------------------------------------------------
// kernels: the parallel regions outside the round (fl_round.c has the round's)

/* Client i's confusion counts, for the metrics of the evaluation just done (fl.c). */
static void keep_confusion(Pipeline *pl, size_t i, const EvalResult *er) {
    const size_t kk = pl->fd.info.k * pl->fd.info.k;
    for (size_t j = 0; j < kk; j++) pl->conf[i * kk + j] = (int64_t)er->confusion[j];
}

/* Client i's evaluation er into acc_out (may be NULL), its confusion and the sums: correct
 * rows, rows, and the fixed-point loss (false once a loss leaves the fixed-point range). */
static bool eval_tally(Pipeline *pl, size_t i, const EvalResult *er, double *acc_out,
                       int64_t *correct, int64_t *rows, int64_t *loss) {
    if (acc_out) {
        acc_out[i] = er->n ? er->acc : fa_nan();
        keep_confusion(pl, i, er);
    }
    *correct += (int64_t)er->correct;
    *rows += (int64_t)er->n;
    /* loss sums are for display: clamp so a diverged model cannot overflow */
    double l = er->loss < 1000.0 && isfinite(er->loss) ? er->loss : 1000.0;
    int64_t fx;
    if (!fixed_from_double(l * (double)er->n / 1024.0, &fx)) return false;
    *loss += fx;
    return true;
}

/* kern_eval_clients with the client-batched kernels (fl_client_batch_lanes, G lanes):
 * params in every lane of each thread's GroupWs, then G clients neighbouring in size
 * (pl->eorder) per eval_local_group (the bits of model_evaluate, eval_batched.h); threads
 * take whole groups; a group fl_group_batched refuses goes client by client. */
static void eval_clients_grouped(Pipeline *pl, const float *params, bool use_val, double *acc_out,
                                 int64_t cnt[3], size_t G) {
    const size_t n = pl->fd.n_local, ng = (n + G - 1) / G;
    int64_t correct = 0, rows = 0, loss = 0;
    bool ok = true;
#pragma omp parallel num_threads(pl->nthreads) if (pl->over_clients) \
    reduction(+ : correct, rows, loss) reduction(&& : ok)
    {
        const int tid = omp_get_thread_num();
        const float *pp[FA_GROUP_MAX];
        for (size_t g = 0; g < FA_GROUP_MAX; g++) pp[g] = params; /* G <= FA_GROUP_MAX */
        group_ws_load(&pl->gw[tid], &pl->L, G, pp);
#pragma omp for schedule(dynamic, 1)
        for (size_t q = 0; q < ng; q++) {
            const size_t j0 = q * G, m = n - j0 < G ? n - j0 : G;
            const size_t *who = pl->eorder + (use_val ? n : 0) + j0;
            const Dataset *ds[FA_GROUP_MAX];
            EvalResult er[FA_GROUP_MAX];
            for (size_t j = 0; j < m; j++)
                ds[j] = use_val ? &pl->fd.clients[who[j]].val : &pl->fd.clients[who[j]].test;
            if (fl_group_batched(pl, G, m))
                eval_local_group(&pl->L, m, ds, pl->ws[tid].batch_max, true, &pl->gw[tid], er);
            else
                for (size_t j = 0; j < m; j++)
                    model_evaluate(&pl->L, params, ds[j], &pl->ws[tid], !pl->over_clients, &er[j]);
            for (size_t j = 0; j < m; j++)
                ok = eval_tally(pl, who[j], &er[j], acc_out, &correct, &rows, &loss) && ok;
        }
    }
    CHECK(ok, "evaluation loss sum out of fixed-point range");
    cnt[0] = correct;
    cnt[1] = rows;
    cnt[2] = loss;
}

/* Evaluate params on every local client's test split (or val when use_val).
 * acc_out (n) may be NULL; sums go to cnt[0..3) = correct, rows, fixed loss. */
void kern_eval_clients(Pipeline *pl, const float *params, bool use_val, double *acc_out,
                       int64_t cnt[3]) {
    const size_t G = pl->gw ? fl_client_batch_lanes(pl) : 0;
    if (G) {
        eval_clients_grouped(pl, params, use_val, acc_out, cnt, G);
        return;
    }
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
        ok = eval_tally(pl, i, &er, acc_out, &correct, &rows, &loss) && ok;
    }
    CHECK(ok, "evaluation loss sum out of fixed-point range");
    cnt[0] = correct;
    cnt[1] = rows;
    cnt[2] = loss;
}

/* Validation rows of params that the model classifies correctly: an integer, so the
 * comparison between epochs is exact whatever the thread count. */
static size_t val_correct(Pipeline *pl, const float *params, const Dataset *val, Workspace *ws,
                          bool inner) {
    EvalResult er;
    model_evaluate(&pl->L, params, val, ws, inner, &er);
    return er.correct;
}

/* Phase 3 with model selection on one client (docs/algorithm.md, "Phase 3"): train w one
 * epoch at a time up to the budget, keep the epoch (0 = the start) with the most correct
 * validation rows, earliest on ties, stop after `patience` epochs without a better one.
 * w ends as the kept model; best is scratch (P). Returns the kept epoch. */
static double p3_select_client(Pipeline *pl, const ClientData *cd, const PersonalizePlan *plan,
                               float *w, float *best, Workspace *ws, bool inner, double *run) {
    const TrainOpts *o = plan->p3;
    const size_t P = pl->P, n_ep = train_epoch_count(o, cd->train.n, NULL);
    const bool have_val = cd->val.n > 0; /* without validation rows: the last epoch */
    size_t best_correct = have_val ? val_correct(pl, w, &cd->val, ws, inner) : 0;
    size_t best_e = 0, since = 0, e = 0;
    memcpy(best, w, P * sizeof(float));
    while (e < n_ep) {
        train_epochs(&pl->L, w, NULL, &cd->train, o, pl->cfg->seed, (uint64_t)cd->id, FA_ROUND_P3,
                     e, e + 1, ws, inner, NULL);
        e++;
        size_t c = have_val ? val_correct(pl, w, &cd->val, ws, inner) : 0;
        if (!have_val || c > best_correct) {
            best_correct = c;
            best_e = e;
            since = 0;
            memcpy(best, w, P * sizeof(float));
        } else if (plan->patience && ++since >= plan->patience) break;
    }
    memcpy(w, best, P * sizeof(float));
    /* a partial last epoch counts as its fraction */
    *run = fmin((double)e, o->epochs);
    return fmin((double)best_e, o->epochs);
}

/* Client i after its fixed-epoch training (w): phase 3 with model selection when the plan
 * has it, then its test evaluation, checksum, stored model and int8 accuracy. */
static void personalize_finish(Pipeline *pl, const PersonalizePlan *plan, size_t i, float *w,
                               float *bestbuf, int tid, double *acc_out, float *models_out,
                               double *int8_out) {
    const size_t P = pl->P;
    const ClientData *cd = &pl->fd.clients[i];
    const bool inner = !pl->over_clients;
    double best = fa_nan(), run = fa_nan();
    if (plan->p3 && plan->select)
        best =
            p3_select_client(pl, cd, plan, w, bestbuf + (size_t)tid * P, &pl->ws[tid], inner, &run);
    else if (plan->p3) best = run = plan->p3->epochs;
    if (plan->epoch_best) plan->epoch_best[i] = best;
    if (plan->epochs_run) plan->epochs_run[i] = run;
    EvalResult er;
    model_evaluate(&pl->L, w, &cd->test, &pl->ws[tid], inner, &er);
    acc_out[i] = cd->test.n ? er.acc : fa_nan();
    keep_confusion(pl, i, &er);
    pl->hash[i] = fa_checksum(w, P);
    if (models_out) memcpy(models_out + i * P, w, P * sizeof(float));
    if (int8_out) { /* deployment: int8 model calibrated on the client's train rows */
        QuantEval qe;
        quant_eval_model(&pl->L, w, &cd->train, &cd->test, pl->cfg->int8_weights, &qe);
        int8_out[i] = qe.acc_int8;
        pl->flash = qe.flash_bytes;
    }
}

/* Clients who[0..n) as one group on thread tid (n <= G, scratch W of n models): the
 * plan's fixed-epoch training (`pre`, then `p3` without selection) as train_local_group,
 * the same bits as train_local per client; then each client's personalize_finish. */
static void personalize_group(Pipeline *pl, const float *start, size_t stride,
                              const PersonalizePlan *plan, const size_t *who, size_t n, float *W,
                              GroupWs *gw, float *bestbuf, int tid, double *acc_out,
                              float *models_out, double *int8_out) {
    const size_t P = pl->P;
    float *w[FA_GROUP_MAX] = {NULL};
    const Dataset *ds[FA_GROUP_MAX] = {NULL};
    uint64_t id[FA_GROUP_MAX] = {0};
    for (size_t g = 0; g < n; g++) {
        w[g] = W + g * P;
        memcpy(w[g], start + who[g] * stride, P * sizeof(float));
        ds[g] = &pl->fd.clients[who[g]].train;
        id[g] = (uint64_t)pl->fd.clients[who[g]].id;
    }
    TrainStats ts[FA_GROUP_MAX];
    if (plan->pre)
        train_local_group(&pl->L, n, w, NULL, ds, plan->pre, pl->cfg->seed, id, plan->pre_round, gw,
                          ts);
    if (plan->p3 && !plan->select)
        train_local_group(&pl->L, n, w, NULL, ds, plan->p3, pl->cfg->seed, id, FA_ROUND_P3, gw, ts);
    for (size_t g = 0; g < n; g++)
        personalize_finish(pl, plan, who[g], w[g], bestbuf, tid, acc_out, models_out, int8_out);
}

/* Phase 3 (or local-only training): every client from `start` (client i from
 * start + i * stride: stride 0 = the same start for all, P = a start per client), trained
 * on its own train split as `plan` says, evaluated on its test split; per-client hash of
 * the final model. With --client-batch (fl_client_batch_lanes) the fixed-epoch training
 * goes in groups of G clients neighbouring in training rows (fl_client_order, as phase 2:
 * a group runs the steps of its largest client), threads taking whole groups. */
void kern_personalize(Pipeline *pl, const float *start, size_t stride, const PersonalizePlan *plan,
                      double *acc_out, float *models_out, double *int8_out) {
    const size_t n = pl->fd.n_local, P = pl->P;
    /* progress of rank 0's clients (a block like every rank's), printed by its thread 0 */
    Progress pg;
    progress_begin(&pg, pl->rank == 0 && !pl->cfg->quiet,
                   plan->p3 ? "personalization (rank 0's clients)"
                                        : "local training (rank 0's clients)",
                   0, n);
    size_t done = 0;
    float *bestbuf =
        plan->p3 && plan->select ? xmalloc((size_t)pl->nthreads * P * sizeof(float)) : NULL;
    /* groups only when they train something: a plan of selection alone is per client */
    const size_t G = plan->pre || (plan->p3 && !plan->select) ? fl_client_batch_lanes(pl) : 0;
    if (pl->cfg->verbose)
        fprintf(stderr, "fedalign: rank %d: %s: %s local training (%zu clients per group)%s\n",
                pl->rank, plan->p3 ? "personalization" : "local-only",
                G ? "client-batched" : "per-client", G ? G : (size_t)1,
                G && !fl_group_batched(pl, G, 1) ? ", a partial group per client" : "");
    const size_t T = (size_t)pl->nthreads, step = G ? G : 1, ng = (n + step - 1) / step;
    float *W = G ? xalloc_aligned(T * G * P * sizeof(float)) : NULL;
    GroupWs *gw = G ? xcalloc(T, sizeof(GroupWs)) : NULL;
    for (size_t t = 0; G && t < T; t++) group_ws_build(&gw[t], &pl->L, pl->cfg->local.batch);
    size_t *order = xmalloc((n ? n : 1) * sizeof(size_t));
    if (G) fl_client_order(pl, 0, order);
    else
        for (size_t i = 0; i < n; i++) order[i] = i;
#pragma omp parallel for schedule(dynamic, 1) num_threads(pl->nthreads) if (pl->over_clients)
    for (size_t q = 0; q < ng; q++) {
        int tid = omp_get_thread_num();
        const size_t i0 = q * step, m = n - i0 < step ? n - i0 : step;
        if (fl_group_batched(pl, G, m)) {
            personalize_group(pl, start, stride, plan, order + i0, m, W + (size_t)tid * G * P,
                              &gw[tid], bestbuf, tid, acc_out, models_out, int8_out);
        } else {
            for (size_t k = i0; k < i0 + m; k++) {
                const size_t i = order[k];
                const ClientData *cd = &pl->fd.clients[i];
                float *w = pl->tmodel + (size_t)tid * P;
                const bool inner = !pl->over_clients;
                memcpy(w, start + i * stride, P * sizeof(float));
                TrainStats ts;
                if (plan->pre)
                    train_local(&pl->L, w, NULL, &cd->train, plan->pre, pl->cfg->seed,
                                (uint64_t)cd->id, plan->pre_round, &pl->ws[tid], inner, &ts);
                if (plan->p3 && !plan->select)
                    train_local(&pl->L, w, NULL, &cd->train, plan->p3, pl->cfg->seed,
                                (uint64_t)cd->id, FA_ROUND_P3, &pl->ws[tid], inner, &ts);
                personalize_finish(pl, plan, i, w, bestbuf, tid, acc_out, models_out, int8_out);
            }
        }
        size_t now_done;
#pragma omp atomic capture
        now_done = done += m;
        if (tid == 0) progress_update(&pg, now_done);
    }
    for (size_t t = 0; G && t < T; t++) group_ws_free(&gw[t]);
    free(order);
    free(gw);
    free(W);
    free(bestbuf);
}

// ----------------------------------------------------------------------------
// phases

/* Phase 0: train the foundation model on the public data on rank 0 (threads split
 * the batch), once per process; every rank gets it by broadcast. */
void phase0(Pipeline *pl) {
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
            /* one training call (no progress inside it): say what the wait is */
            if (!c->quiet && o.epochs > 0.0)
                fprintf(stderr,
                        "# progress phase 0: foundation model, %g epochs over %zu public "
                        "rows on rank 0\n",
                        o.epochs, ntr);
            if (o.epochs > 0.0)
                train_local(&pl->L, pl->foundation, NULL, &tr, &o, c->seed, FA_CLIENT_PUBLIC, 0,
                            &pl->ws[0], true, &ts);
            EvalResult er;
            model_evaluate(&pl->L, pl->foundation, &te, &pl->ws[0], true, &er);
            pl->acc_public = te.n ? er.acc : fa_nan();
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

/* Owner rank of global client t (--assign: blocks or balanced), the same on every rank. */
static int owner_of(const Pipeline *pl, size_t t) { return pl->fd.owner[t]; }

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
 * id order with block assignment it goes rank 0 -> 1 -> ... -> R-1 -> 0 once per pass
 * (balanced assignment scatters ids over ranks: up to one message per visit). The token's last
 * float counts visits: an arriving token must carry exactly the expected count. */
void phase1(Pipeline *pl, int64_t *visit_log) {
    const Config *c = pl->cfg;
    const size_t P = pl->P;
    size_t *order;
    size_t m = fl_ring_order(c, &order);
    CHECK((double)m * (double)c->p1_passes < 16777216.0, "ring longer than 2^24 visits");
    comm_barrier();
    timer_start(&pl->t, FA_T_RING);
    Progress pg; /* printed by the token's holder; token[P + 1] = last interval printed */
    progress_begin(&pg, !c->quiet, "ring (client visits)", 0, m * c->p1_passes);
    if (pl->rank == 0) {
        memcpy(pl->token, pl->global, P * sizeof(float));
        pl->token[P] = 0.0f;
        pl->token[P + 1] = 0.0f;
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
                if (pl->rank == holder) comm_send_floats(pl->token, P + 2, own, 17);
                if (pl->rank == own) comm_recv_floats(pl->token, P + 2, holder, 17);
                holder = own;
            }
            if (pl->rank != own) continue;
            CHECK(pl->token[P] == (float)visit, "ring token out of order: visit %zu carries %g",
                  visit, (double)pl->token[P]);
            const size_t l = feddata_local(&pl->fd, t);
            const ClientData *cd = &pl->fd.clients[l];
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
            if (visit_log && pass == 0) visit_log[l] = (int64_t)visit;
            pl->token[P] += 1.0f;
            progress_update_shared(&pg, visit + 1, &pl->token[P + 1]);
        }
    }
    if (holder != 0) {
        if (pl->rank == holder) comm_send_floats(pl->token, P + 2, 0, 17);
        if (pl->rank == 0) comm_recv_floats(pl->token, P + 2, holder, 17);
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

// ----------------------------------------------------------------------------
// local-only training and phase 3

/* Local-only "phase 2": every client from the same start with the federated run's epoch
 * budget and no server. The models are not kept: phase3_local rebuilds them. */
int phase2_local(Pipeline *pl, const MethodSpec *ms, MethodResult *res, size_t round0,
                 const FlHooks *hooks) {
    (void)ms, (void)round0, (void)hooks;
    const Config *c = pl->cfg;
    TrainOpts o = c->local;
    o.mu = 0.0;
    o.epochs = c->local.epochs * (double)c->rounds;
    PersonalizePlan plan = {.pre = o.epochs > 0.0 ? &o : NULL, .pre_round = FA_ROUND_LOCAL};
    timer_start(&pl->t, FA_T_TRAIN);
    kern_personalize(pl, pl->global, 0, &plan, res->acc_p2, NULL, NULL);
    timer_stop(&pl->t, FA_T_TRAIN);
    return 0;
}

/* The phase-3 options of a personalized row: --p3-epochs at --p3-lr, plain objective. */
static TrainOpts p3_opts(const Config *c) {
    TrainOpts o3 = c->local;
    o3.mu = 0.0;
    o3.epochs = c->p3_epochs;
    o3.lr = c->p3_lr;
    return o3;
}

/* Local-only phase 3: the local models are rebuilt from the shared start rather than
 * stored between phases (O(P) memory per thread), then personalized like every +P row.
 * With --p3-select fixed it is the old schedule: the further epochs continue the local
 * training in the same call (same optimizer, --lr), so budgets stay equal. Local-only has
 * no global model: its "global" is the shared start. */
void phase3_local(Pipeline *pl, const MethodSpec *ms, MethodResult *res) {
    const Config *c = pl->cfg;
    TrainOpts pre = c->local, o3 = p3_opts(c);
    pre.mu = 0.0;
    pre.epochs = c->local.epochs * (double)c->rounds;
    const bool fixed = c->p3_select == FA_P3_FIXED;
    if (fixed && ms->personalize) pre.epochs += c->p3_epochs;
    PersonalizePlan plan = {.pre = pre.epochs > 0.0 ? &pre : NULL,
                            .pre_round = FA_ROUND_LOCAL,
                            .p3 = ms->personalize && !fixed ? &o3 : NULL,
                            .select = true,
                            .patience = c->p3_patience,
                            .epoch_best = res->p3_epoch_best,
                            .epochs_run = res->p3_epochs_run};
    timer_start(&pl->t, FA_T_PERSONAL);
    kern_personalize(pl, pl->global, 0, &plan, res->acc_p3, res->personal_models,
                     c->int8 ? res->acc_int8 : NULL);
    timer_stop(&pl->t, FA_T_PERSONAL);
    if (fixed && ms->personalize) /* the old schedule: the p3 epochs ran inside `pre` */
        for (size_t i = 0; i < pl->fd.n_local; i++)
            res->p3_epoch_best[i] = res->p3_epochs_run[i] = c->p3_epochs;
    res->acc_global = fa_nan();
    memcpy(pl->global, ms->phase0 ? pl->foundation : pl->init, pl->P * sizeof(float));
}

/* Phase 3 of a federated method: every client personalizes the final global model on its
 * own train split (--p3-select, --p3-epochs, --p3-lr, --p3-patience; none without
 * personalization) and is evaluated on its test split. Also the time to the target
 * accuracy, from the round metrics. */
void phase3_from_global(Pipeline *pl, const MethodSpec *ms, MethodResult *res) {
    phase3_from(pl, ms, res, pl->global, 0);
}

/* The same from per-client starts (the personalized methods' own models: client i from
 * start + i * stride). */
void phase3_from(Pipeline *pl, const MethodSpec *ms, MethodResult *res, const float *start,
                 size_t stride) {
    const Config *c = pl->cfg;
    const size_t R = res->rounds;
    res->acc_global = res->round_acc[R];
    TrainOpts o3 = p3_opts(c);
    PersonalizePlan plan = {.p3 = ms->personalize ? &o3 : NULL,
                            .select = c->p3_select == FA_P3_VAL,
                            .patience = c->p3_patience,
                            .epoch_best = res->p3_epoch_best,
                            .epochs_run = res->p3_epochs_run};
    timer_start(&pl->t, FA_T_PERSONAL);
    kern_personalize(pl, start, stride, &plan, res->acc_p3, res->personal_models,
                     c->int8 ? res->acc_int8 : NULL);
    timer_stop(&pl->t, FA_T_PERSONAL);
    if (c->target_acc > 0.0)
        for (size_t r = 0; r <= R; r++)
            if (res->round_acc[r] >= c->target_acc) {
                res->rounds_to_target = (long)r;
                res->secs_to_target = res->round_time[r];
                break;
            }
}
