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

#include <stdlib.h>
#include <string.h>

#include "fedalign/check.h"

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
