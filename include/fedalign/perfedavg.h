/*
 * perfedavg.h: the local training of Per-FedAvg, first-order version (Fallah, Mokhtari,
 * Ozdaglar 2020, Algorithm 1 with the first-order approximation of the meta-gradient;
 * docs/algorithm.md "Personalized FL"). Implemented in src/personal_fl.c.
 *
 * Schedule (deterministic in seed, client, round, epochs, batch): the epochs and their
 * shuffled orders are train_local's (model.h). Inside epoch e the visited rows
 * perm[0..n_e) are taken in consecutive pairs of mini-batches D = perm[s, s + B1),
 * D' = perm[s + B1, s + B1 + B2) with B1, B2 <= batch (a last pair with no second batch
 * uses D' = D); one meta-step per pair:
 *   w~ = w - alpha * grad F(w; D)            (plain SGD, the inner step)
 *   w  = w - Opt(grad F(w~; D'))             (opts->opt at opts->lr, a fresh Adam per call)
 * Steps = sum over epochs of ceil(n_e / (2 batch)). TrainStats.loss_mean is the mean over
 * steps of the loss of w on D. wt (P floats) is scratch for w~. Only the trainable part
 * [train_off, P) changes. threaded as in train_local: bit-identical either way.
 */
#ifndef FEDALIGN_PERFEDAVG_H
#define FEDALIGN_PERFEDAVG_H

#include "fedalign/model.h"

void train_perfedavg(const ModelLayout *L, float *w, float *wt, const Dataset *ds,
                     const TrainOpts *opts, double alpha, uint64_t seed, uint64_t client,
                     uint64_t round, Workspace *ws, bool threaded, TrainStats *stats);

#endif
