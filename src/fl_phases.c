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
#include "fedalign/quant.h"
#include "fedalign/rng.h"
#include "pipeline.h"

// ----------------------------------------------------------------------------
// kernels: the parallel regions outside the round (fl_round.c has the round's)

/* Evaluate params on every local client's test split (or val when use_val).
 * acc_out (n) may be NULL; sums go to cnt[0..3) = correct, rows, fixed loss. */
void kern_eval_clients(Pipeline *pl, const float *params, bool use_val, double *acc_out,
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
        if (acc_out) acc_out[i] = ds->n ? er.acc : fa_nan();
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

/* Phase 3 (or local-only training): every client from `start` (client i from
 * start + i * stride: stride 0 = the same start for all, P = a start per client), trained
 * on its own train split, evaluated on its test split; per-client hash of the final model. */
void kern_personalize(Pipeline *pl, const float *start, size_t stride, const TrainOpts *opts,
                      uint64_t round, bool train, double *acc_out, float *models_out,
                      double *int8_out) {
    const size_t n = pl->fd.n_local, P = pl->P;
#pragma omp parallel for schedule(dynamic, 1) num_threads(pl->nthreads) if (pl->over_clients)
    for (size_t i = 0; i < n; i++) {
        int tid = omp_get_thread_num();
        const ClientData *cd = &pl->fd.clients[i];
        float *w = pl->tmodel + (size_t)tid * P;
        const bool inner = !pl->over_clients;
        memcpy(w, start + i * stride, P * sizeof(float));
        if (train) {
            TrainStats ts;
            train_local(&pl->L, w, NULL, &cd->train, opts, pl->cfg->seed, (uint64_t)cd->id, round,
                        &pl->ws[tid], inner, &ts);
        }
        EvalResult er;
        model_evaluate(&pl->L, w, &cd->test, &pl->ws[tid], inner, &er);
        acc_out[i] = cd->test.n ? er.acc : fa_nan();
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
void phase1(Pipeline *pl, int64_t *visit_log) {
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
    timer_start(&pl->t, FA_T_TRAIN);
    kern_personalize(pl, pl->global, 0, &o, FA_ROUND_LOCAL, o.epochs > 0.0, res->acc_p2, NULL,
                     NULL);
    timer_stop(&pl->t, FA_T_TRAIN);
    return 0;
}

/* Local-only phase 3: further local epochs, the same budget as a method's +P. The local
 * models are rebuilt from the shared start (train + fine-tune in one call) rather than
 * stored between phases: O(P) memory per thread. Local-only has no global model: its
 * "global" is the shared start. */
void phase3_local(Pipeline *pl, const MethodSpec *ms, MethodResult *res) {
    const Config *c = pl->cfg;
    TrainOpts o3 = c->local;
    o3.mu = 0.0;
    o3.epochs = c->local.epochs * (double)c->rounds + (ms->personalize ? c->p3_epochs : 0.0);
    timer_start(&pl->t, FA_T_PERSONAL);
    kern_personalize(pl, pl->global, 0, &o3, FA_ROUND_LOCAL, o3.epochs > 0.0, res->acc_p3,
                     res->personal_models, c->int8 ? res->acc_int8 : NULL);
    timer_stop(&pl->t, FA_T_PERSONAL);
    res->acc_global = fa_nan();
    memcpy(pl->global, ms->phase0 ? pl->foundation : pl->init, pl->P * sizeof(float));
}

/* Phase 3 of a federated method: every client fine-tunes the final global model on its
 * own train split (--p3-epochs, --p3-lr; none without personalization) and is evaluated
 * on its test split. Also the time to the target accuracy, from the round metrics. */
void phase3_from_global(Pipeline *pl, const MethodSpec *ms, MethodResult *res) {
    phase3_from(pl, ms, res, pl->global, 0);
}

/* The same from per-client starts (the personalized methods' own models). */
void phase3_from(Pipeline *pl, const MethodSpec *ms, MethodResult *res, const float *start,
                 size_t stride) {
    const Config *c = pl->cfg;
    const size_t R = res->rounds;
    res->acc_global = res->round_acc[R];
    TrainOpts o3 = c->local;
    o3.mu = 0.0;
    o3.epochs = c->p3_epochs;
    o3.lr = c->p3_lr;
    timer_start(&pl->t, FA_T_PERSONAL);
    kern_personalize(pl, start, stride, &o3, FA_ROUND_P3, ms->personalize, res->acc_p3,
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
