/*
 * personal_fl.c: the personalized FL baselines Ditto and FedPer (personal_fl.h).
 *
 * Both keep a per-client model row in pl->cstate (MethodResult.client_state) beside the
 * global model. A row changes only in the round hooks of its own client (one thread per
 * client, or the client's batch split over threads inside train_local), from that client's
 * data and streams and the broadcast phi^r: so the rows are bit-identical for any number
 * of ranks and threads, like everything else a client computes.
 */
#include "personal_fl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/check.h"
#include "fedalign/perfedavg.h"
#include "fedalign/rng.h"

size_t fedper_head_offset(const ModelLayout *L, size_t k) {
    if (k > L->n_layers)
        fa_fail("--fedper-head-layers %zu: the model has only %zu dense layers (hidden layers "
                "+ output); give at most %zu",
                k, L->n_layers, L->n_layers);
    /* the layers are contiguous [W_l | b_l] blocks up to P: the last k start at w_off */
    return k == 0 ? L->n_params : L->w_off[L->n_layers - k];
}

// ----------------------------------------------------------------------------
// phases

int phase2_personal(Pipeline *pl, const MethodSpec *ms, MethodResult *res, size_t round0,
                    const FlHooks *hooks) {
    const size_t P = pl->P, n = pl->fd.n_local;
    pl->head_off = fedper_head_offset(&pl->L, pl->cfg->fedper_head_layers);
    if (!res->client_state) /* a resume whose checkpoint predates phase 2 */
        res->client_state = xalloc_aligned((n ? n : 1) * P * sizeof(float));
    pl->cstate = res->client_state;
    /* every client starts from phi^0; a resume in phase 2 has the checkpoint's rows */
    if (round0 == 0)
        for (size_t i = 0; i < n; i++) memcpy(pl->cstate + i * P, pl->global, P * sizeof(float));
    int rc = phase2_rounds(pl, ms, res, round0, hooks);
    pl->cstate = NULL;
    return rc;
}

void phase3_personal(Pipeline *pl, const MethodSpec *ms, MethodResult *res) {
    const size_t P = pl->P, n = pl->fd.n_local;
    CHECK(res->client_state, "%s: no client state in phase 3", ms->name);
    if (ms->method == FA_METHOD_FEDPER) { /* the final global body under each client's head */
        const size_t h = fedper_head_offset(&pl->L, pl->cfg->fedper_head_layers);
        for (size_t i = 0; i < n; i++)
            memcpy(res->client_state + i * P, pl->global, h * sizeof(float));
    }
    phase3_from(pl, ms, res, res->client_state, P);
    /* the final models are acc_p3 / personal_models now; the state was for resuming */
    free(res->client_state);
    res->client_state = NULL;
}

// ----------------------------------------------------------------------------
// Ditto: v_i <- train v_i on F_i(v) + lambda/2 |v - phi^r|^2, the client's local options

void ditto_client_end(Pipeline *pl, size_t i, uint64_t round, const TrainOpts *opts, int tid,
                      float *w) {
    (void)w;
    TrainOpts o = *opts;
    o.mu = pl->cfg->ditto_lambda;
    const ClientData *cd = &pl->fd.clients[i];
    TrainStats ts;
    /* its own shuffle stream: the global update of the same round keeps round r's */
    train_local(&pl->L, pl->cstate + i * pl->P, pl->global, &cd->train, &o, pl->cfg->seed,
                (uint64_t)cd->id, FA_ROUND_DITTO + round, &pl->ws[tid], !pl->over_clients, &ts);
}

// ----------------------------------------------------------------------------
// FedPer: coordinates [head_off, P) are the client's head

void fedper_client_begin(Pipeline *pl, size_t i, float *w) {
    const size_t h = pl->head_off, P = pl->P;
    memcpy(w + h, pl->cstate + i * P + h, (P - h) * sizeof(float));
}

/* The trained head goes back to the client's row and phi^r's head into w, so the update
 * the client sends is exactly zero on the head: the head never leaves the device. */
void fedper_client_end(Pipeline *pl, size_t i, uint64_t round, const TrainOpts *opts, int tid,
                       float *w) {
    (void)round, (void)opts, (void)tid;
    const size_t h = pl->head_off, P = pl->P;
    memcpy(pl->cstate + i * P + h, w + h, (P - h) * sizeof(float));
    memcpy(w + h, pl->global + h, (P - h) * sizeof(float));
}

/* The server averages the body only: the global head stays phi^0's even when an attack
 * adds noise to the (zero) head part of an update. */
void fedper_server_post(Pipeline *pl) {
    const size_t h = pl->head_off;
    memcpy(pl->global + h, pl->prev + h, (pl->P - h) * sizeof(float));
}

// ----------------------------------------------------------------------------
// Per-FedAvg, first order (perfedavg.h)

void train_perfedavg(const ModelLayout *L, float *w, float *wt, const Dataset *ds,
                     const TrainOpts *opts, double alpha, uint64_t seed, uint64_t client,
                     uint64_t round, Workspace *ws, bool threaded, TrainStats *stats) {
    TrainStats st = {0.0, 0, 0};
    const size_t n = ds->n, P = L->n_params, off = L->train_off, nt = P - off, bs = opts->batch;
    CHECK(bs >= 1 && bs <= ws->batch_max, "mini-batch %zu outside [1, %zu]", bs, ws->batch_max);
    CHECK(isfinite(alpha) && alpha >= 0.0, "Per-FedAvg alpha must be >= 0, got %g", alpha);
    CHECK(isfinite(opts->epochs) && opts->epochs >= 0.0 && opts->epochs <= 1e9,
          "epochs must be in [0, 1e9], got %g", opts->epochs);
    if (n > ws->n_perm) { /* as train_local: grown only for a larger dataset */
        free(ws->perm);
        ws->perm = xmalloc(n * sizeof(size_t));
        ws->n_perm = n;
    }
    /* train_local's epochs: E full ones, then a partial one of ceil(frac * n) rows */
    const size_t full = (size_t)floor(opts->epochs);
    const double mf = ceil((opts->epochs - (double)full) * (double)n - 1e-9);
    const size_t m_last = n == 0 || mf <= 0.0 ? 0 : (mf >= (double)n ? n : (size_t)mf);
    const size_t n_epochs = n == 0 ? 0 : full + (m_last > 0);
    const bool adam = opts->opt == FA_OPT_ADAM;
    if (adam) {
        memset(ws->m, 0, P * sizeof(float));
        memset(ws->v, 0, P * sizeof(float));
    }
    memcpy(wt, w, off * sizeof(float)); /* the standardization part, never trained */
    double loss_sum = 0.0;
    uint64_t t = 0;
    for (size_t e = 0; e < n_epochs; e++) {
        const size_t ne = e < full ? n : m_last;
        for (size_t i = 0; i < n; i++) ws->perm[i] = i;
        Rng r;
        rng_init(&r, seed, FA_RNG_SHUFFLE, client, round, (uint64_t)e);
        rng_shuffle(&r, ws->perm, n);
        for (size_t s = 0; s < ne;) {
            const size_t b1 = ne - s < bs ? ne - s : bs, s2 = s + b1;
            const size_t b2 = ne - s2 < bs ? ne - s2 : bs;
            const size_t *d1 = ws->perm + s, *d2 = b2 ? ws->perm + s2 : d1;
            /* the inner step: w~ = w - alpha grad F(w; D) */
            loss_sum += model_loss_grad_rows(L, w, ds, d1, b1, ws, threaded);
            memcpy(wt + off, w + off, nt * sizeof(float));
            optim_sgd_step(wt + off, ws->grad + off, nt, alpha);
            /* the meta-step: grad F(w~; D') applied at w (the first-order approximation) */
            model_loss_grad_rows(L, wt, ds, d2, b2 ? b2 : b1, ws, threaded);
            if (adam)
                optim_adam_step(w + off, ws->grad + off, ws->m + off, ws->v + off, nt, opts->lr,
                                opts->beta1, opts->beta2, opts->eps, ++t);
            else optim_sgd_step(w + off, ws->grad + off, nt, opts->lr);
            st.steps++;
            st.samples += b1 + b2;
            s = s2 + b2;
        }
    }
    st.loss_mean = st.steps ? loss_sum / (double)st.steps : 0.0;
    if (stats) *stats = st;
}

void perfedavg_client_train(Pipeline *pl, size_t i, uint64_t round, const TrainOpts *opts, int tid,
                            float *w, TrainStats *ts) {
    const ClientData *cd = &pl->fd.clients[i];
    train_perfedavg(&pl->L, w, pl->pscratch + (size_t)tid * pl->P, &cd->train, opts,
                    pl->cfg->perfedavg_alpha, pl->cfg->seed, (uint64_t)cd->id, round, &pl->ws[tid],
                    !pl->over_clients, ts);
}

int phase2_perfedavg(Pipeline *pl, const MethodSpec *ms, MethodResult *res, size_t round0,
                     const FlHooks *hooks) {
    pl->pscratch = xalloc_aligned((size_t)pl->nthreads * pl->P * sizeof(float));
    int rc = phase2_rounds(pl, ms, res, round0, hooks);
    free(pl->pscratch);
    pl->pscratch = NULL;
    return rc;
}

/* Per-FedAvg's personalization: one SGD step of size alpha from phi^R on one mini-batch
 * of the client's train rows (train_local for batch/n of an epoch: exactly one step), from
 * its own shuffle stream; then phase 3 as for every method from these models. */
void phase3_perfedavg(Pipeline *pl, const MethodSpec *ms, MethodResult *res) {
    const size_t P = pl->P, n = pl->fd.n_local;
    float *theta = xalloc_aligned((n ? n : 1) * P * sizeof(float));
    TrainOpts o = pl->cfg->local;
    o.opt = FA_OPT_SGD;
    o.lr = pl->cfg->perfedavg_alpha;
    o.mu = 0.0;
    timer_start(&pl->t, FA_T_PERSONAL);
    for (size_t i = 0; i < n; i++) {
        const ClientData *cd = &pl->fd.clients[i];
        const size_t rows = cd->train.n;
        o.epochs = rows > o.batch ? (double)o.batch / (double)rows : 1.0;
        memcpy(theta + i * P, pl->global, P * sizeof(float));
        train_local(&pl->L, theta + i * P, NULL, &cd->train, &o, pl->cfg->seed, (uint64_t)cd->id,
                    FA_ROUND_ADAPT, &pl->ws[0], true, NULL);
    }
    timer_stop(&pl->t, FA_T_PERSONAL);
    phase3_from(pl, ms, res, theta, P);
    free(theta);
}
