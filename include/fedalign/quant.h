/*
 * quant.h: post-training int8 quantization of one MLP (or a cnn1d, quant_cnn.c) and
 * integer-only inference
 * (docs/deployment.md: phase 3 ends with int8 quantization for deployment).
 *
 * Scheme (TFLite / TFLite Micro / CMSIS-NN "int8" conventions):
 *   - weights: symmetric per output channel, int8 in [-127, 127], scale
 *     w_scale[j] = max_i |W[i, j]| / 127, zero point 0 (FA_INT8_PER_CHANNEL, the
 *     default); or symmetric per tensor, one scale max_{i,j} |W[i, j]| / 127 for the
 *     whole layer (FA_INT8_PER_TENSOR, --int8-weights per-tensor: what Arm NN 20.08's
 *     fully-connected layer accepts; the per-channel arrays then hold one value);
 *   - biases: int32 at scale in_scale * w_scale[j], zero point 0;
 *   - activations (the standardized input, every hidden layer after its ReLU, the
 *     logits): asymmetric int8 per tensor, real = scale * (q - zero_point), range
 *     = [min(0, lo), max(0, hi)] of the float activations seen on calibration rows;
 *   - requantization: real multiplier M = in_scale * w_scale[j] / out_scale as an int32
 *     Q31 multiplier and a power-of-two shift (QuantizeMultiplier), applied with
 *     gemmlowp's SaturatingRoundingDoublingHighMul + RoundingDivideByPOT;
 *   - the ReLU is fused into the output clamp [out_zp, 127].
 * The one float step is the input: q = round((x - mean) * in_mul) + in_zp with
 * in_mul = inv_std / in_scale (two float operations, then an exact rounding), so it is
 * bit-identical on any IEEE-754 single-precision machine (no FMA can fuse it). Every
 * layer after it is integer-only. The exported C (export.h) runs the same kernels (one
 * source, src/int8_kernels.h) and gives exactly the same predictions
 * (tests/e2e/test_export.sh checks it).
 *
 * No MPI, no I/O, no printing. Deterministic: quant_build is a pure function of
 * (layout, params, calibration rows).
 */
#ifndef FEDALIGN_QUANT_H
#define FEDALIGN_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "fedalign/data.h"
#include "fedalign/model.h"

#define FA_Q_MAX_LAYERS (FA_MAX_HIDDEN + 1)
/* the largest fan-in for which the int32 accumulator provably cannot overflow
 * (|bias| <= 2^30 plus fan_in * 2 * 127 * 128 < 2^31) */
#define FA_Q_MAX_FAN_IN 32768
/* the kernels (and the exported layer table) keep fan-in and fan-out as uint16_t */
#define FA_Q_MAX_FAN_OUT 65535
/* biases saturate to +-FA_Q_BIAS_LIMIT (only a pathological layer gets there) */
#define FA_Q_BIAS_LIMIT (INT32_C(1) << 30)

/* granularity of the weight scales (--int8-weights) */
typedef enum { FA_INT8_PER_CHANNEL = 0, FA_INT8_PER_TENSOR } FaInt8Weights;

typedef struct {
    size_t fan_in, fan_out;
    int8_t *w;          /* (fan_out, fan_in): output channel j's weights are contiguous */
    int32_t *bias;      /* (fan_out) TFLite bias: round(b / (in_scale * w_scale[j])) */
    int32_t *bias_fold; /* (fan_out) bias - in_zp * sum_i w[j, i]: what the kernel adds,
                           so that acc = bias_fold + sum_i w[j, i] * q_in[i] (CMSIS-NN) */
    float *w_scale;     /* (fan_out) */
    int32_t *mult;      /* (fan_out) Q31 multiplier of M_j, in [2^30, 2^31) or 0 */
    int32_t *shift;     /* (fan_out) M_j = mult * 2^(shift - 31); shift in [-31, 30] */
    int8_t *shift8;     /* (fan_out) the same as int8: what the kernels read (and model.c) */
    float in_scale, out_scale;
    int32_t in_zp, out_zp;
    int32_t act_min, act_max; /* output clamp: [out_zp, 127] after a ReLU, else [-128, 127] */
} QLayer;

typedef struct {
    size_t n_in, n_out, n_layers, max_width;
    float *mean;    /* (D) standardization mean (as in the float model) */
    float *inv_std; /* (D) */
    float *in_mul;  /* (D) inv_std / in_scale: the input quantization multiplier */
    float in_scale; /* scale and zero point of the quantized standardized input */
    int32_t in_zp;
    QLayer layer[FA_Q_MAX_LAYERS];
    /* calibration: float range of the input (lo[0], hi[0]) and of each layer's output
     * (post-ReLU for hidden layers) over the calibration rows, before widening to 0 */
    float cal_lo[FA_Q_MAX_LAYERS + 1], cal_hi[FA_Q_MAX_LAYERS + 1];
    size_t cal_rows;
    FaInt8Weights weights; /* the granularity the weight scales were chosen with */
    void *mem; /* one allocation behind every array above; owns */
} QModel;

/* Quantize the model (L, params) using the float activations of the calib rows (the
 * client's train split; at least one row). The result owns its memory (quant_free). */
void quant_build(QModel *q, const ModelLayout *L, const float *params, const Dataset *calib);
/* The same with a choice of weight-scale granularity (quant_build: per channel). */
void quant_build_mode(QModel *q, const ModelLayout *L, const float *params, const Dataset *calib,
                      FaInt8Weights weights);
void quant_free(QModel *q);

/* bytes of scratch quant_predict needs: two int8 activation buffers of max_width (the
 * same as the exported model's buffer) */
size_t quant_scratch_bytes(const QModel *q);
/* Model data a microcontroller keeps in flash: int8 weights, int32 biases, int32
 * multipliers, int8 shifts, float mean and in_mul, and a few per-layer constants, laid
 * out as export_c_model writes them (code size is measured on the compiled export). */
size_t quant_flash_bytes(const QModel *q);
/* RAM of the exported model: its static activation buffer (= quant_scratch_bytes);
 * the call stack comes on top (measured with -fstack-usage, docs/deployment.md). */
size_t quant_ram_bytes(const QModel *q);

/* The float step: xq (D) = quantized standardized input of the raw features x (D). */
void quant_input(const QModel *q, const float *x_raw, int8_t *xq);
/* Integer-only forward from a quantized input: int8 logits (K) into logits (may be NULL)
 * and the predicted class (argmax; ties go to the lowest index). scratch has
 * quant_scratch_bytes(q) bytes; xq may point into it only at offset 0. */
int quant_predict_q(const QModel *q, const int8_t *xq, int8_t *scratch, int8_t *logits);
/* quant_input then quant_predict_q: the class of one raw sample. */
int quant_predict(const QModel *q, const float *x_raw, int8_t *scratch);
/* Predict every row of ds: pred (n, may be NULL) and the number of correct rows. */
void quant_evaluate(const QModel *q, const Dataset *ds, int32_t *pred, size_t *correct);

/* What the pipeline stores per client (phase 3): the int8 model's test accuracy next to
 * the float one the caller already has. */
typedef struct {
    double acc_int8; /* correct / n on the test rows; NaN when there are none */
    double agree;    /* share of test rows where int8 and float predict the same class */
    size_t n_test;
    size_t flash_bytes; /* quant_flash_bytes */
    size_t ram_bytes;   /* quant_ram_bytes */
} QuantEval;

/* Quantize (L, params) with weight scales of the given granularity, calibrated on calib
 * (>= 1 row: the client's train split), evaluate
 * on test, free. Thread-safe (no shared state), deterministic, allocates only inside. */
void quant_eval_model(const ModelLayout *L, const float *params, const Dataset *calib,
                      const Dataset *test, FaInt8Weights weights, QuantEval *out);

// ----------------------------------------------------------------------------
// fixed-point building blocks (exposed for tests; the kernels of int8_kernels.h)

/* M (>= 0) as mult * 2^(shift - 31), mult in [2^30, 2^31) (TFLite QuantizeMultiplier);
 * M == 0 or M < 2^-32 gives (0, 0); M >= 2^30 saturates to (INT32_MAX, 30). */
void quant_multiplier(double M, int32_t *mult, int32_t *shift);
/* gemmlowp SaturatingRoundingDoublingHighMul: a * b / 2^31 rounded to nearest, ties
 * toward +infinity (gemmlowp's nudge; -1.5 -> -1); the one overflowing case
 * (INT32_MIN, INT32_MIN) saturates to INT32_MAX. */
int32_t quant_srdhm(int32_t a, int32_t b);
/* gemmlowp RoundingDivideByPOT: round(x / 2^e), half away from zero; e in [0, 31]. */
int32_t quant_rdbpot(int32_t x, int32_t e);
/* x * M for M = mult * 2^(shift - 31) (TFLite MultiplyByQuantizedMultiplier; the left
 * shift for shift > 0 saturates instead of overflowing). */
int32_t quant_mul_by_multiplier(int32_t x, int32_t mult, int32_t shift);

// ----------------------------------------------------------------------------
// float reference and latency

/* Float forward of one raw sample, one sample at a time with plain loops (what a float
 * model on a microcontroller would run). scratch: 2 * L->max_width floats. Returns the
 * class; logits (K) may be NULL. */
int quant_float_predict(const ModelLayout *L, const float *params, const float *x_raw,
                        float *scratch, float *logits);

typedef struct {
    size_t samples;  /* rows timed per repetition */
    size_t reps;     /* repetitions; the best (smallest) time is kept */
    double float_ns; /* per-sample latency of quant_float_predict, best rep */
    double int8_ns;  /* per-sample latency of quant_predict (input step included) */
    double ratio;    /* float_ns / int8_ns (> 1: int8 is faster) */
    size_t agree;    /* rows where both predict the same class */
    uint64_t sink;   /* sum of the predictions (keeps the timed loops alive) */
} QuantBench;

/* Time per-sample single-threaded inference of the float model and of q on the rows of
 * ds (n >= 1), reps >= 1 repetitions each, interleaved; best of reps. Serial; allocates
 * its scratch once before timing. */
void quant_bench(const QModel *q, const ModelLayout *L, const float *params, const Dataset *ds,
                 size_t reps, QuantBench *out);

// ----------------------------------------------------------------------------
// cnn1d (quant_cnn.c): the same scheme on the conv blocks

/* One conv block: its conv as a dense layer on one window (fan_in = k * c_in, fan_out =
 * c_out; per-output-channel weight scales, ReLU fused), then max-pool in the conv output's
 * scale and zero point. */
typedef struct {
    size_t k, c_in, len_conv, len_pool;
    QLayer fc;
} QConv;

typedef struct {
    size_t win_len, win_ch, n_out, n_conv, pool, n_layers;
    size_t max_act;       /* the widest int8 activation (values of one tensor) */
    float *mean, *in_mul; /* (C) per channel, as the float model's standardization */
    float in_scale;
    int32_t in_zp;
    QConv conv[FA_MAX_CONV];
    /* global average pooling after the last block: its own calibrated scale and zero point,
     * reached from the last conv's by the Q31 multiplier gap_mult * 2^gap_shift */
    float gap_scale;
    int32_t gap_zp, gap_mult, gap_shift;
    QLayer layer[FA_Q_MAX_LAYERS]; /* the dense head; layer[0]'s input is the pooled mean */
    size_t cal_rows;
    FaInt8Weights weights; /* the granularity of every conv and dense layer's weight scales */
    void *mem; /* one allocation behind every array; owns */
} QCnn;

/* Quantize a cnn1d (L->shape.kind == FA_MODEL_CNN1D) with the float activations of the
 * calib rows (>= 1). Pure function of its arguments; the result owns its memory. */
void quant_cnn_build(QCnn *q, const ModelLayout *L, const float *params, const Dataset *calib);
/* The same with a choice of weight-scale granularity for every layer (quant_cnn_build: per
 * channel); --int8-weights per-tensor gives one scale per conv and per dense layer. */
void quant_cnn_build_mode(QCnn *q, const ModelLayout *L, const float *params, const Dataset *calib,
                          FaInt8Weights weights);
void quant_cnn_free(QCnn *q);
/* bytes of scratch quant_cnn_predict needs (two activation buffers of max_act) */
size_t quant_cnn_scratch_bytes(const QCnn *q);
/* int8 weights, int32 biases and multipliers, int8 shifts, per-channel float mean and
 * in_mul, and a few per-layer constants */
size_t quant_cnn_flash_bytes(const QCnn *q);
/* The float step: xq (T * C) = the quantized standardized window x_raw (time-major), each
 * value with its channel's mean and in_mul. */
void quant_cnn_input(const QCnn *q, const float *x_raw, int8_t *xq);
/* Integer-only class of one raw window (the input step is quant.h's float step per
 * element with its channel's mean and in_mul); logits (K) may be NULL. */
int quant_cnn_predict(const QCnn *q, const float *x_raw, int8_t *scratch, int8_t *logits);
/* quant_eval_model for a cnn1d (agree: against the float model's class, model_forward) */
void quant_cnn_eval_model(const ModelLayout *L, const float *params, const Dataset *calib,
                          const Dataset *test, FaInt8Weights weights, QuantEval *out);

#endif
