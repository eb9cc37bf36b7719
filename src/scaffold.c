/*
 * scaffold.c: SCAFFOLD (Karimireddy et al. 2020, "SCAFFOLD: Stochastic Controlled
 * Averaging for Federated Learning", Algorithm 1 with option II; docs/algorithm.md).
 *
 * Client i keeps a control variate c_i (P floats, on the rank that owns the client); the
 * server keeps c (P doubles in rank 0's Pipeline.sstate, broadcast as floats each round).
 * Local steps use g - c_i + c. The new c_i is the mean of the raw mini-batch gradients of
 * the local steps, which for SGD steps equals option II's c_i - c + (x - y_i) / (K lr)
 * exactly in real arithmetic and stays in gradient units for Adam. The deltas
 * c_i^+ - c_i of the aggregated clients are summed exactly (int64 fixed point, weight 1),
 * reduced to rank 0 in one Reduce of P int64, and c += sum / N (N = all clients), so c
 * is bit-identical for any ranks and threads.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/aggregate.h"
#include "fedalign/check.h"
#include "fedalign/comm.h"
#include "pipeline.h"

/* does this run (one method, or the suite's rows) include SCAFFOLD? */
bool fl_run_has_scaffold(const Config *c) {
    if (c->command != FA_CMD_SUITE) return c->method == FA_METHOD_SCAFFOLD;
    MethodSpec specs[FA_MAX_SUITE_METHODS];
    const size_t n = fl_suite_methods(c, specs, FA_MAX_SUITE_METHODS);
    for (size_t k = 0; k < n; k++)
        if (specs[k].method == FA_METHOD_SCAFFOLD) return true;
    return false;
}

void scaffold_alloc(Pipeline *pl) {
    const size_t P = pl->P, n = pl->fd.n_local, T = (size_t)pl->nthreads;
    pl->cvar = xalloc_aligned((n ? n : 1) * P * sizeof(float));
    pl->cglob = xalloc_aligned(P * sizeof(float));
    pl->cscr = xalloc_aligned(T * 2 * P * sizeof(float));
    pl->cacc = xcalloc(T * P, sizeof(int64_t));
    pl->cok = xcalloc(T, sizeof(bool));
}

void scaffold_free(Pipeline *pl) {
    free(pl->cok);
    free(pl->cacc);
    free(pl->cscr);
    free(pl->cglob);
    free(pl->cvar);
}

void scaffold_reset(Pipeline *pl) {
    memset(pl->cvar, 0, (pl->fd.n_local ? pl->fd.n_local : 1) * pl->P * sizeof(float));
    memset(pl->sstate, 0, pl->P * sizeof(double));
}

void scaffold_begin_round(Pipeline *pl) {
    const size_t P = pl->P;
    if (pl->rank == 0)
        for (size_t j = 0; j < P; j++) pl->cglob[j] = (float)pl->sstate[j];
    timer_start(&pl->t, FA_T_COMM);
    comm_bcast_floats(pl->cglob, P, 0);
    timer_stop(&pl->t, FA_T_COMM);
    memset(pl->cacc, 0, (size_t)pl->nthreads * P * sizeof(int64_t));
    for (int t = 0; t < pl->nthreads; t++) pl->cok[t] = true;
}

bool scaffold_train(Pipeline *pl, size_t i, float *w, const TrainOpts *o, uint64_t round, int tid,
                    TrainStats *ts) {
    const size_t P = pl->P;
    const ClientData *cd = &pl->fd.clients[i];
    float *corr = pl->cscr + (size_t)tid * 2 * P, *cnew = corr + P;
    const float *ci = pl->cvar + i * P;
    for (size_t j = 0; j < P; j++) corr[j] = pl->cglob[j] - ci[j];
    train_local_corrected(&pl->L, w, &cd->train, o, pl->cfg->seed, (uint64_t)cd->id, round,
                          &pl->ws[tid], !pl->over_clients, corr, cnew, ts);
    /* the delta c_i^+ - c_i goes into an exact sum: bounded like a model update */
    for (size_t j = 0; j < P; j++)
        if (!(fabsf(cnew[j] - ci[j]) < (float)FA_UPDATE_MAX)) return false;
    return true;
}

void scaffold_commit(Pipeline *pl, size_t i, int tid) {
    const size_t P = pl->P;
    float *d = pl->cscr + (size_t)tid * 2 * P, *cnew = d + P, *ci = pl->cvar + i * P;
    for (size_t j = 0; j < P; j++) d[j] = cnew[j] - ci[j]; /* the scratch's c - c_i is spent */
    if (!fixed_accumulate_q(pl->cacc + (size_t)tid * P, d, 1, P)) pl->cok[tid] = false;
    memcpy(ci, cnew, P * sizeof(float));
}

void scaffold_end_round(Pipeline *pl, Timers *t) {
    const size_t P = pl->P;
    timer_start(t, FA_T_AGG);
    bool ok = pl->cok[0];
    for (int k = 1; k < pl->nthreads; k++)
        ok = ok && pl->cok[k] && fixed_add(pl->cacc, pl->cacc + (size_t)k * P, P);
    const int64_t lim = INT64_MAX / comm_size(); /* the ranks' sums must add up exactly */
    for (size_t j = 0; ok && j < P; j++) ok = pl->cacc[j] <= lim && pl->cacc[j] >= -lim;
    timer_stop(t, FA_T_AGG);
    if (!comm_all(ok))
        fa_fail("aggregation failed: the round's sum of SCAFFOLD control-variate deltas leaves "
                "the exact fixed-point range; HINT: lower --lr or --local-epochs");
    timer_start(t, FA_T_COMM);
    comm_reduce_sum_i64(pl->cacc, P, 0);
    timer_stop(t, FA_T_COMM);
    if (pl->rank != 0) return;
    const double N = (double)pl->cfg->clients;
    for (size_t j = 0; j < P; j++) pl->sstate[j] += fixed_to_double(pl->cacc[j]) / N;
}
