/*
 * tflite.h: a small writer of TensorFlow Lite flatbuffers (schema version 3, file
 * identifier "TFL3") for int8 graphs, with no library behind it (export_tflite.c).
 * Private to the suite (not installed).
 *
 * A graph is three tables the caller fills: tensors (shape, type, constant data,
 * quantization), operators (a kind from the operator table plus tensor indices and the
 * few options a kind reads) and metadata entries (named byte buffers TFLite ignores).
 * tfl_write lays them out as one flatbuffer: buffer 0 empty, one buffer per constant
 * tensor and per metadata entry, one operator code per kind used (deprecated_builtin_code
 * and builtin_code both set, so readers of old and new schemas agree), one subgraph.
 *
 * Adding an operator kind is one TflOpKind value, one row of the operator table in
 * export_tflite.c (builtin code, version, options union member, the function that writes
 * its options table) and, when it needs them, fields in TflOp below. The kinds: the MLP
 * uses FULLY_CONNECTED; the 1D-CNN adds CONV_2D and MAX_POOL_2D on NHWC tensors with H = 1,
 * MEAN (over H and W, keep_dims) and RESHAPE.
 */
#ifndef FEDALIGN_TFLITE_H
#define FEDALIGN_TFLITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TFL_MAX_DIMS 4
#define TFL_MAX_IO 4

/* tflite.TensorType values */
typedef enum { TFL_FLOAT32 = 0, TFL_INT32 = 2, TFL_INT8 = 9 } TflType;
/* tflite.ActivationFunctionType values */
typedef enum { TFL_ACT_NONE = 0, TFL_ACT_RELU = 1 } TflAct;
/* tflite.Padding values */
typedef enum { TFL_PAD_SAME = 0, TFL_PAD_VALID = 1 } TflPadding;
/* rows of the operator table (export_tflite.c), not TFLite codes */
typedef enum {
    TFL_OP_FULLY_CONNECTED = 0,
    TFL_OP_CONV_2D,
    TFL_OP_MAX_POOL_2D,
    TFL_OP_MEAN,
    TFL_OP_RESHAPE,
    TFL_OP_KIND_COUNT
} TflOpKind;

typedef struct {
    const char *name;
    TflType type;
    int32_t shape[TFL_MAX_DIMS];
    size_t ndim;
    /* constant tensor: the elements in host order (int8_t, int32_t or float by type),
     * written little-endian; NULL for activations (they get the empty buffer 0) */
    const void *data;
    /* quantization, real = scale * (q - zero_point): n_quant = 0 (none), 1 (per tensor)
     * or one per slice of dimension quant_dim (per channel) */
    const float *scale;
    const int64_t *zero_point;
    size_t n_quant;
    int32_t quant_dim;
} TflTensor;

typedef struct {
    TflOpKind kind;
    int32_t in[TFL_MAX_IO], out[TFL_MAX_IO]; /* tensor indices */
    size_t n_in, n_out;
    TflAct act; /* fused activation (kinds that have one) */
    /* CONV_2D and MAX_POOL_2D: padding and strides (dilation is always 1); MAX_POOL_2D:
     * the filter */
    TflPadding padding;
    int32_t stride_h, stride_w, filter_h, filter_w;
    bool keep_dims; /* MEAN (the axes are its second input, a constant int32 tensor) */
    /* RESHAPE: ReshapeOptions.new_shape, the same values as its second input (readers
     * differ in which of the two they use) */
    int32_t new_shape[TFL_MAX_DIMS];
    size_t new_ndim;
} TflOp;

typedef struct {
    const char *name;
    const void *data;
    size_t bytes;
} TflMeta;

typedef struct {
    const TflTensor *tensors;
    size_t n_tensors;
    const TflOp *ops; /* in execution order */
    size_t n_ops;
    const int32_t *inputs, *outputs; /* subgraph inputs and outputs (tensor indices) */
    size_t n_inputs, n_outputs;
    const TflMeta *meta;
    size_t n_meta;
    const char *description; /* Model.description */
} TflGraph;

/* Serialize g: *out (malloc'ed, *n bytes) is the .tflite file. Returns 0, or -1 with a
 * message (a bad index, a shape without elements, a file over 2 GiB). Deterministic. */
int tfl_write(const TflGraph *g, unsigned char **out, size_t *n, char *err, size_t errlen);

#endif
