/*
 * eval_batched.h: evaluation of a group of models at once, one model per SIMD lane, in the
 * lane layout of the client-batched training (GroupWs, train_batched.h).
 *
 * eval_local_group(L, n, ds, bm, want_loss, gw, out) gives every lane g < n exactly
 *   model_evaluate(L, params_g, ds[g], ws, threaded, out + g)
 * where params_g is lane g of gw->p and ws any workspace of batch_max bm: the same
 * standardization, forward products (bias, then + W[k] * in[k] for k = 0, 1, ...), ReLU,
 * arg-max (ties to the lowest class) per row, and with want_loss the same per-row
 * cross-entropy summed per FA_CHUNK-row chunk of each bm-row batch, the chunk sums added
 * in chunk order. Correct counts, confusion and (with want_loss) loss bits are model_evaluate's
 * whatever lane or group a data set lands in; without want_loss no exp/log is computed and
 * out[g].loss is NaN (callers that only need the accuracy, e.g. --score acc).
 * Why: after train_local_group the G trained models already sit in gw->p, and one data set
 * of 30 to 50 rows fills an FA_CHUNK-row chunk poorly; G models' identical arithmetic fills
 * the lanes (docs/performance.md, "The 100,000-client round").
 *
 * group_ws_load puts n models into gw->p (lanes >= n: zeros), e.g. the same global model
 * in every lane to evaluate it on G clients' data sets at once. No global state; serial
 * (threads take whole groups); gw's activation buffer is the scratch.
 */
#ifndef FEDALIGN_EVAL_BATCHED_H
#define FEDALIGN_EVAL_BATCHED_H

#include <stdbool.h>
#include <stddef.h>

#include "fedalign/data.h"
#include "fedalign/model.h"
#include "fedalign/train_batched.h"

void group_ws_load(GroupWs *gw, const ModelLayout *L, size_t n, const float *const *params);

void eval_local_group(const ModelLayout *L, size_t n, const Dataset *const *ds, size_t bm,
                      bool want_loss, GroupWs *gw, EvalResult *out);

#endif
