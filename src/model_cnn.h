/*
 * model_cnn.h (private): the cnn1d's layout (model_cnn_layout.c) and kernels (model_cnn.c),
 * reached from model.c's public functions, which dispatch on ModelLayout.shape.kind. The
 * kernels keep model.c's MLP contracts: one chunk of R <= FA_CHUNK rows per call, serial,
 * no allocation, no global state.
 */
#ifndef FEDALIGN_MODEL_CNN_H
#define FEDALIGN_MODEL_CNN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedalign/model.h"

size_t cnn_layout(ModelLayout *L, const ModelShape *shape);
/* The dense layers of L->shape (hidden widths, then n_out) after `width` inputs, from
 * parameter offset `off`, with the running max width and activation count: sets n_layers,
 * fan_in/out, w_off/b_off, n_params, max_width, act_size; returns n_params. The MLP's
 * whole layout and the cnn1d's head (model.c). */
size_t model_dense_layout(ModelLayout *L, size_t width, size_t off, size_t maxw, size_t act);
void cnn_init(const ModelLayout *L, float *params, uint64_t seed, uint64_t stream);
void cnn_set_norm(const ModelLayout *L, float *params, const double *mean, const double *std);

/* Forward one chunk (rows rows[r0 + r], or r0 + r when rows is NULL, r < R) into act
 * (FA_CHUNK * act_size floats); returns the logits (K, FA_CHUNK), the last K * FA_CHUNK
 * floats of act, lane r = row r. */
const float *cnn_chunk_forward(const ModelLayout *L, const float *params, const float *x,
                               const size_t *rows, size_t r0, size_t R, float *act);
/* Loss sum of one chunk and the gradient of the summed loss into g's trainable part
 * (add: g += it, else g = it; each parameter's chunk partial is complete before it meets
 * g, so chunk-order sums are the same bits serial or threaded). dact: 2 * FA_CHUNK *
 * max_width floats of scratch. */
double cnn_chunk_loss_grad(const ModelLayout *L, const float *params, const float *x,
                           const int32_t *y, const size_t *rows, size_t r0, size_t R, float *act,
                           float *dact, float *g, bool add);

#endif
