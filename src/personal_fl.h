/*
 * personal_fl.h (private to method.c and personal_fl.c): the personalized FL baselines
 * (docs/algorithm.md, "Personalized FL"), as hooks of the method table (method.h):
 *   ditto   (Li et al. 2021): the global model is FedAvg's, bit for bit; each selected
 *           client also trains its personal model v_i on its data with the proximal term
 *           lambda/2 |v_i - phi^r|^2 (--ditto-lambda), FedProx's objective in train_local;
 *           phase 3 evaluates v_i (+P: fine-tunes v_i first).
 *   fedper  (Arivazhagan et al. 2019): the last --fedper-head-layers dense layers are the
 *           client's head, kept on the client; the server averages the body only. Phase 3
 *           evaluates the global body with the client's head (+P: fine-tunes it first).
 *   perfedavg (Fallah et al. 2020, first order): the meta-learning baseline; clients train
 *           with train_perfedavg (perfedavg.h), the server averages like FedAvg; phase 3
 *           evaluates each client's one-step adaptation (+P: fine-tunes it first). No
 *           per-client state: a resume needs nothing beyond the global model.
 * The per-client state is MethodResult.client_state, one (n_local, P) buffer per rank,
 * written to checkpoints with the method and read back on resume (store.h).
 */
#ifndef FEDALIGN_PERSONAL_FL_H
#define FEDALIGN_PERSONAL_FL_H

#include "pipeline.h"

/* phase 2: the client state from phi^0 (or the checkpoint's), then the rounds */
int phase2_personal(Pipeline *pl, const MethodSpec *ms, MethodResult *res, size_t round0,
                    const FlHooks *hooks);
/* phase 3 from each client's own model; the client state is freed afterwards */
void phase3_personal(Pipeline *pl, const MethodSpec *ms, MethodResult *res);

void ditto_client_end(Pipeline *pl, size_t i, uint64_t round, const TrainOpts *opts, int tid,
                      float *w);
void fedper_client_begin(Pipeline *pl, size_t i, float *w);
void fedper_client_end(Pipeline *pl, size_t i, uint64_t round, const TrainOpts *opts, int tid,
                       float *w);
void fedper_server_post(Pipeline *pl);

/* Per-FedAvg (first order): the rounds with train_perfedavg (perfedavg.h) as the local
 * training; phase 3 from each client's one-step adaptation phi^R - alpha grad F_i(phi^R) */
int phase2_perfedavg(Pipeline *pl, const MethodSpec *ms, MethodResult *res, size_t round0,
                     const FlHooks *hooks);
void phase3_perfedavg(Pipeline *pl, const MethodSpec *ms, MethodResult *res);
void perfedavg_client_train(Pipeline *pl, size_t i, uint64_t round, const TrainOpts *opts, int tid,
                            float *w, TrainStats *ts);

/* FedPer's first head coordinate for a layout and --fedper-head-layers K (P when K = 0);
 * fails on every rank when K exceeds the model's dense layers. */
size_t fedper_head_offset(const ModelLayout *L, size_t k);

#endif
