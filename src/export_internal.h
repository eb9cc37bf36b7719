/*
 * export_internal.h: what export.c shares with export_cnn.c (the cnn1d's C export and its
 * part of the command): the writers of exact C constants and the file helpers, and the
 * job the command hands over. Private to the suite (not installed).
 */
#ifndef FEDALIGN_EXPORT_INTERNAL_H
#define FEDALIGN_EXPORT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "fedalign/export.h"

/* --format values of `fedalign export` */
enum { EXPORT_C = 0, EXPORT_TFLITE };
extern const FaEnum export_format_enum;

/* a C identifier of 1..32 characters; exp_check_prefix: 0, or -1 with --prefix's message */
bool exp_valid_ident(const char *s);
int exp_check_prefix(const char *prefix, char *err, size_t errlen);
/* the C pair's names: PFX = prefix in upper case (checked prefix), dir/model.h and
 * dir/model.c; 0, or -1 with a message when dir is too long */
int exp_pair_paths(const char *dir, const char *prefix, char PFX[40],
                   char hpath[FA_PATH_LEN + 16], char cpath[FA_PATH_LEN + 16], char *err,
                   size_t errlen);
/* a C string literal (escaped), comment text (no end of comment), an exact float literal
 * (C99 hex), and const arrays of them, per_line values a line */
void exp_put_cstr(FILE *f, const char *s);
void exp_put_comment_text(FILE *f, const char *s);
void exp_put_float(FILE *f, float v);
void exp_put_i32_array(FILE *f, const char *type, const char *name, const int32_t *v, size_t n,
                       size_t per_line);
void exp_put_i8_array(FILE *f, const char *name, const int8_t *v, size_t n, size_t per_line);
void exp_put_f32_array(FILE *f, const char *name, const float *v, size_t n);
/* what model.h of either export declares after its shape macros (exp_put_model_api) */
typedef struct {
    const char *pfx, *prefix; /* macro prefix (upper case), function prefix */
    size_t ram, flash;        /* activation bytes, model-constant bytes */
    float in_scale;
    long in_zp;
    const char *tables;        /* "layer table(s)": what flash adds on top */
    const char *input;         /* "input" or "window" */
    const char *raw_input;     /* what _predict takes, e.g. "raw window" */
    const char *quantize_rule; /* the comment on _quantize_input */
} ExpModelApi;
void exp_put_model_api(FILE *f, const ExpModelApi *a);
/* mkdir -p; fclose with the write error checked. 0, or -1 with a message */
int exp_mkdir_p(const char *dir, char *err, size_t errlen);
int exp_close_checked(FILE *f, const char *path, char *err, size_t errlen);

/* one export, as the command parsed it (export.c) */
typedef struct {
    const char *out_dir, *prefix, *note, *source; /* source: the model file, for messages */
    size_t client, bench_reps;
    int format; /* EXPORT_C or EXPORT_TFLITE */
    FaInt8Weights weights;
} ExportJob;

/* The cnn1d's part of `fedalign export` (export_cnn.c): quantize (L, params) on the
 * client's train rows, evaluate float and int8 on its test rows, write the files of
 * job->format into job->out_dir (created; already checked free), print the summary and
 * the FEDALIGN_EXPORT line. 0, or -1 with a message. */
int export_cnn_run(const ExportJob *job, const ModelLayout *L, const float *params,
                   const FedData *fd, char *err, size_t errlen);

/* The cnn1d as C99 (export_cnn.c): dir/model.h and dir/model.c, the interface of the
 * MLP's pair (<prefix>_predict of one raw window, time-major x[t * C + c]). */
int export_c_cnn(const QCnn *q, const DataInfo *info, const char *dir, const char *prefix,
                 const char *note, char *err, size_t errlen);

/* The cnn1d as a TFLite flatbuffer at path (export_tflite.c): int8 input [1, 1, L, C]
 * (NHWC with H = 1, the quantized window, time-major), CONV_2D + MAX_POOL_2D per block,
 * MEAN, RESHAPE, FULLY_CONNECTED head; per-channel input constants in metadata
 * "fedalign_input". TFLite's reference integer kernels compute exactly quant_cnn_predict.
 * *bytes (may be NULL) = the file size. 0, or -1 with a message. */
int export_tflite_cnn(const QCnn *q, const DataInfo *info, const char *path, const char *note,
                      size_t *bytes, char *err, size_t errlen);

#endif
