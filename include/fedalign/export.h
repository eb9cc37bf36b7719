/*
 * export.h: deployment of one int8 model as self-contained C99 (model.h + model.c) for a
 * microcontroller, the raw model file format, and the `fedalign export` command.
 *
 * The generated pair needs nothing beyond <stdint.h>: no heap, no libc calls, one static
 * activation buffer of <PREFIX>_RAM_BYTES bytes, const tables (flash). It runs exactly the
 * integer arithmetic of quant.c, so <prefix>_predict(x) == quant_predict(q, x, ...) for
 * every input (tests/e2e/test_export.sh). docs/deployment.md walks through it.
 *
 * Raw model file (--model-bin), little-endian:
 *   "FAMODEL1" (8 bytes) | u32 version = 1 | u32 D | u32 K | u32 n_hidden |
 *   u32 hidden[n_hidden] | u64 P | float32 params[P] (the model.h buffer layout)
 * A cnn1d (version 2) has, between hidden[] and P:
 *   u32 win_len | u32 win_ch | u32 n_conv | (u32 channels, u32 kernel)[n_conv] | u32 pool
 * with D = win_len * win_ch; an mlp file is version 1 as before.
 */
#ifndef FEDALIGN_EXPORT_H
#define FEDALIGN_EXPORT_H

#include <stddef.h>

#include "fedalign/config.h"
#include "fedalign/data.h"
#include "fedalign/model.h"
#include "fedalign/quant.h"

#define FA_MODEL_BIN_MAGIC "FAMODEL1"
#define FA_MODEL_BIN_VERSION 1u
#define FA_MODEL_BIN_VERSION_CNN 2u
/* the largest raw window (win_len * win_ch values) a version-2 file may declare */
#define FA_MODEL_BIN_MAX_WINDOW (1u << 20)

/* Write dir/model.h and dir/model.c for q (dir must exist). prefix names every exported
 * symbol (<prefix>_predict, <PREFIX>_RAM_BYTES, ...) and must be a C identifier of at most
 * 32 characters. info supplies the class and feature names (info->d == q->n_in,
 * info->k == q->n_out). note (may be NULL) is copied into the header comment (provenance).
 * Output is a deterministic function of the arguments. Returns 0, or -1 with a message. */
int export_c_model(const QModel *q, const DataInfo *info, const char *dir, const char *prefix,
                   char *err, size_t errlen);
int export_c_model_note(const QModel *q, const DataInfo *info, const char *dir, const char *prefix,
                        const char *note, char *err, size_t errlen);

/* Write q as a TensorFlow Lite flatbuffer (schema 3, "TFL3") at path: int8 input, hidden
 * and output tensors (asymmetric per tensor), int8 weights with q's per-channel
 * (quantized_dimension 0) or per-tensor scales, int32 biases at input x weight scale, one
 * FULLY_CONNECTED per layer with fused ReLU on the hidden ones. The float input step
 * (standardize and quantize) is not in the graph: its constants travel as the metadata
 * buffer "fedalign_input" (float32 mean[D] then in_mul[D]) and the description says how
 * to apply them; class names are metadata "fedalign_classes". TFLite's integer kernels
 * on the file compute exactly quant_predict_q. *bytes (may be NULL) = the file size.
 * Returns 0, or -1 with a message. */
int export_tflite_model(const QModel *q, const DataInfo *info, const char *path, const char *note,
                        size_t *bytes, char *err, size_t errlen);

/* Raw model file: write (L, params) / read it back (*params malloc'ed, P floats; shape
 * filled). Return 0, or -1 with a message naming the file. */
int export_write_model_bin(const char *path, const ModelLayout *L, const float *params, char *err,
                           size_t errlen);
int export_read_model_bin(const char *path, ModelShape *shape, float **params, char *err,
                          size_t errlen);

/* Build client `client`'s data exactly as the run described by cfg did (the data of a
 * client is a function of the data spec, seed and client id alone). Rank-local, no MPI.
 * Returns 0, or -1 with a message when client >= cfg->clients. Input errors in the data
 * spec (bad CSV) exit through fa_fail like every other command. */
int export_load_client(const Config *cfg, size_t client, FedData *fd, char *err, size_t errlen);

/* The feature extractor beside the model (export_features.c): for data whose features
 * fedalign computes from raw windows (the mechanical generator's feature rows), write
 * DIR/feature_extractor.h and DIR/feature_extractor.c (PREFIX_features: window -> model input, the same
 * code as the generator's). export_features_apply says whether the data have one;
 * export_features_check refuses existing files unless overwrite; export_features
 * writes them (0 when the data have none). 0, or -1 with a message. */
bool export_features_apply(const DataInfo *info);
int export_features_check(const DataInfo *info, const char *dir, bool overwrite, char *err,
                          size_t errlen);
int export_features(const DataInfo *info, const GenOptions *gen, const char *dir,
                    const char *prefix, char *err, size_t errlen);

/* `fedalign export ...` (argv[1] == "export"). Rank 0 does the work; other ranks return
 * 0 at once (it is a serial tool: run it without mpirun). Returns the exit code. */
int export_main(int argc, char **argv);

/* The option table of `fedalign export` (its own flags; it also takes the run flags,
 * config_option_set), for the generated shell completion. */
const OptDef *export_option_table(size_t *n);

#endif
