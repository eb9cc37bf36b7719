/*
 * model.h: the models (an MLP, or the cnn1d 1D-CNN on raw windows) on one contiguous float
 * buffer.
 *
 * Shapes: B = batch, D = inputs, H_l = hidden widths, K = classes, P = n_params.
 * Layout of the parameter buffer (computed in model_layout() only):
 *   [ mean (D) | inv_std (D) | W1 (D,H1) | b1 (H1) | W2 (H1,H2) | b2 | ... | WL (H,K) | bL (K) ]
 * The first 2D floats are the input standardization. They are part of the model
 * (every client and the exported model apply the same transform) but are not
 * trained: their gradient is always zero, so Adam/SGD/FedProx/aggregation leave
 * them unchanged exactly. Trainable parameters are [train_off, P).
 * Gradients and Adam moments use the same layout. Kernels do not allocate, print
 * or talk; all scratch memory is in a Workspace.
 *
 * cnn1d (shape.kind == FA_MODEL_CNN1D; kernels in model_cnn.c): the input row is a raw
 * window of T = win_len time steps by C = win_ch channels, time-major (x[t * C + c]).
 * Blocks b = 0..nb-1: conv1d with "valid" padding (no padding: T_b - k_b + 1 outputs),
 * stride 1, bias, ReLU, then max-pool of `pool` steps (stride pool; a trailing partial
 * window is dropped; pool 1 = none). Then global average pooling over time and the dense
 * head of the MLP (hidden widths, then K logits). Layout:
 *   [ mean (C) | inv_std (C) | Wc0 (k0, C, F0) | bc0 (F0) | ... | dense layers as above ]
 * Conv weights are (k, c_in, c_out) row-major, so the window x[t..t+k) of the time-major
 * input is one contiguous (k * c_in) vector and each output time step is a dense layer.
 * The standardization is per channel (2C floats, zero gradient) and the dense layers use
 * the MLP's fields (n_layers, w_off, ...: FedPer's head is the last dense layers).
 */
#ifndef FEDALIGN_MODEL_H
#define FEDALIGN_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedalign/data.h"

#define FA_MAX_HIDDEN 8
/* fixed chunk of a mini-batch whose partial gradient is computed serially; partials
 * are summed in chunk order, so the result never depends on the thread count */
#define FA_CHUNK 8

/* conv blocks of a cnn1d at most */
#define FA_MAX_CONV 6

typedef enum { FA_MODEL_MLP = 0, FA_MODEL_CNN1D = 1 } FaModelKind;

typedef struct {
    size_t n_in;                  /* D */
    size_t n_out;                 /* K */
    size_t n_hidden;              /* number of hidden layers */
    size_t hidden[FA_MAX_HIDDEN]; /* widths */
    /* cnn1d only (ignored by the MLP) */
    FaModelKind kind;
    size_t win_len, win_ch;         /* T, C: n_in = T * C */
    size_t n_conv;                  /* conv blocks */
    size_t conv_ch[FA_MAX_CONV];    /* output channels of block b */
    size_t conv_k[FA_MAX_CONV];     /* kernel size of block b */
    size_t pool;                    /* max-pool size and stride after every block (1 = none) */
} ModelShape;

typedef struct {
    ModelShape shape;
    size_t n_params;                 /* P */
    size_t n_layers;                 /* n_hidden + 1 */
    size_t train_off;                /* = 2D: first trainable parameter */
    size_t w_off[FA_MAX_HIDDEN + 1]; /* offset of layer l weights (fan_in, fan_out) */
    size_t b_off[FA_MAX_HIDDEN + 1]; /* offset of layer l bias (fan_out) */
    size_t fan_in[FA_MAX_HIDDEN + 1];
    size_t fan_out[FA_MAX_HIDDEN + 1];
    size_t max_width; /* max over D, H_l, K (cnn1d: also every block's T_b * C_b) */
    size_t act_size;  /* floats of activations per sample (all layers) */
    size_t n_norm;    /* standardized inputs: D (mlp) or C (cnn1d); train_off = 2 n_norm */
    /* cnn1d: block b maps (len_in[b], c_in[b]) to (len_conv[b], c_out[b]) by conv + ReLU,
     * then to (len_pool[b], c_out[b]) by max-pool; activations of one sample, in floats
     * from its start: the block input at a_in[b], the conv output at a_conv[b], the pooled
     * output at a_pool[b] (= a_in[b + 1]); the pooled mean over time at a_gap */
    size_t n_conv;
    size_t cw_off[FA_MAX_CONV], cb_off[FA_MAX_CONV];
    size_t c_in[FA_MAX_CONV], c_out[FA_MAX_CONV], c_k[FA_MAX_CONV];
    size_t len_in[FA_MAX_CONV], len_conv[FA_MAX_CONV], len_pool[FA_MAX_CONV];
    size_t a_in[FA_MAX_CONV], a_conv[FA_MAX_CONV], a_pool[FA_MAX_CONV], a_gap;
} ModelLayout;

/* Compute the layout; returns P. */
size_t model_layout(ModelLayout *L, const ModelShape *shape);
/* Time steps left after the conv blocks of shape (win_len through every valid conv and
 * pool); 0 when the window is too short for them (model_layout refuses that shape). */
size_t model_cnn_out_len(const ModelShape *shape);
/* Multiply-adds x 2 of one sample's forward pass (conv blocks and dense layers). */
double model_flops_forward(const ModelLayout *L);
/* The same for one training sample: forward, parameter gradients, and the error
 * propagated back through every layer but the first. */
double model_flops_train_sample(const ModelLayout *L);

/* He-uniform weights, zero biases, identity standardization; deterministic in
 * (seed, FA_RNG_INIT, stream). params has P floats. */
void model_init(const ModelLayout *L, float *params, uint64_t seed, uint64_t stream);
/* Set the standardization part: x' = (x - mean) / std (std <= 0 or tiny -> 1), from the
 * per-input statistics mean[D], std[D]. cnn1d pools them into per-channel ones (every time
 * step has the same rows: mean_c = mean over t of mean[t * C + c], and the second moment
 * likewise). */
void model_set_norm(const ModelLayout *L, float *params, const double *mean, const double *std);

typedef struct {
    size_t batch_max; /* rows per call to model_loss_grad / model_forward */
    size_t n_chunks;  /* ceil(batch_max / FA_CHUNK) */
    float *act;       /* (n_chunks, FA_CHUNK, act_size) activations; owns */
    float *dact;      /* (n_chunks, FA_CHUNK, 2 * max_width) backprop scratch; owns */
    float *gpart;     /* (n_chunks, P) per-chunk partial gradients; owns */
    double *lpart;    /* (n_chunks) per-chunk loss sums; owns */
    float *grad;      /* (P) gradient of the mean loss; owns */
    float *m, *v;     /* (P) Adam moments; owns */
    size_t *perm;     /* (n_perm) sample order scratch for training; owns */
    size_t n_perm;
} Workspace;

void workspace_build(Workspace *ws, const ModelLayout *L, size_t batch_max);
void workspace_free(Workspace *ws);

/* logits (B, K) for raw inputs x (B, D); B <= ws->batch_max. */
void model_forward(const ModelLayout *L, const float *params, const float *x, size_t B,
                   float *logits, Workspace *ws);

/* Mean softmax cross-entropy over the batch; its gradient goes to ws->grad (P, zero
 * on the standardization part). threaded = spread chunks over OpenMP threads; the
 * result is bit-identical either way. Returns the mean loss. */
double model_loss_grad(const ModelLayout *L, const float *params, const float *x, const int32_t *y,
                       size_t B, Workspace *ws, bool threaded);
/* The same on rows rows[0..B) of ds (rows == NULL: rows 0..B-1), read in place: this
 * is how train_local feeds shuffled mini-batches without copying them. Bit-identical
 * to model_loss_grad on the gathered rows. */
double model_loss_grad_rows(const ModelLayout *L, const float *params, const Dataset *ds,
                            const size_t *rows, size_t B, Workspace *ws, bool threaded);

typedef struct {
    double loss; /* mean cross-entropy */
    double acc;  /* correct / n, 0 when n == 0 */
    size_t n, correct;
    size_t confusion[FA_MAX_CLASSES * FA_MAX_CLASSES]; /* [true * K + predicted] */
} EvalResult;

/* Evaluate on a whole dataset in batches of ws->batch_max. */
void model_evaluate(const ModelLayout *L, const float *params, const Dataset *ds, Workspace *ws,
                    bool threaded, EvalResult *out);

// ----------------------------------------------------------------------------
// optimizers and local training

typedef enum { FA_OPT_ADAM = 0, FA_OPT_SGD = 1 } FaOptimizer;

typedef struct {
    FaOptimizer opt;
    double lr;           /* learning rate */
    double beta1, beta2; /* Adam */
    double eps;          /* Adam */
    size_t batch;        /* mini-batch size */
    double epochs;       /* passes over the data; a fraction means a partial pass */
    double mu;           /* FedProx: adds mu/2 * ||w - ref||^2, 0 = off */
} TrainOpts;

/* One Adam step with bias correction at step t >= 1 over n floats (flat loop). */
void optim_adam_step(float *p, const float *g, float *m, float *v, size_t n, double lr,
                     double beta1, double beta2, double eps, uint64_t t);
/* p -= lr * g */
void optim_sgd_step(float *p, const float *g, size_t n, double lr);
/* g += mu * (p - ref) over n floats: the gradient of mu/2 * ||p - ref||^2 */
void optim_prox_grad(float *g, const float *p, const float *ref, size_t n, double mu);

typedef struct {
    double loss_mean; /* mean of the batch losses seen */
    size_t steps;
    size_t samples;
} TrainStats;

/* Train params in place on ds for opts->epochs epochs of shuffled mini-batches.
 * Order comes from (seed, FA_RNG_SHUFFLE, client, round). Adam moments are reset at
 * the start (a fresh local optimizer per call). ref (P) != NULL with mu > 0 adds the
 * FedProx term. Deterministic; threaded as in model_loss_grad. */
void train_local(const ModelLayout *L, float *params, const float *ref, const Dataset *ds,
                 const TrainOpts *opts, uint64_t seed, uint64_t client, uint64_t round,
                 Workspace *ws, bool threaded, TrainStats *stats);
/* SCAFFOLD's local training (Karimireddy et al. 2020): train_local (no proximal term)
 * with every step's gradient corrected to g + corr (corr = c - c_i, P floats), and
 * gmean (P) = the mean over the steps of the raw mini-batch gradients g (0 outside the
 * trainable part; all 0 when no step ran): option II's new control variate (algorithm.md).
 * With corr = 0 the model gets train_local's bits. */
void train_local_corrected(const ModelLayout *L, float *params, const Dataset *ds,
                           const TrainOpts *opts, uint64_t seed, uint64_t client, uint64_t round,
                           Workspace *ws, bool threaded, const float *corr, float *gmean,
                           TrainStats *stats);

/* Epochs of train_local's schedule for opts->epochs over n rows (the last one partial
 * when the fraction leaves m_last > 0 rows; m_last may be NULL). */
size_t train_epoch_count(const TrainOpts *opts, size_t n, size_t *m_last);
/* Epochs [e0, e1) (e1 clamped to the schedule's end) of train_local's schedule for the
 * same arguments: the Adam moments are reset only when e0 == 0, so consecutive ranges
 * with the same workspace give the bits of one train_local call. stats covers the range. */
void train_epochs(const ModelLayout *L, float *params, const float *ref, const Dataset *ds,
                  const TrainOpts *opts, uint64_t seed, uint64_t client, uint64_t round, size_t e0,
                  size_t e1, Workspace *ws, bool threaded, TrainStats *stats);

#endif
