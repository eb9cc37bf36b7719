/*
 * isa_kernels.h: the compute-kernel entry points that exist once per ISA path, and how
 * their names are made (private to src/; see include/fedalign/isa.h).
 *
 * A kernel source (the FA_KERNEL_SOURCES list of CMakeLists.txt) includes this header
 * before anything else. CMake compiles it once per path with FA_ISA_SUFFIX = sse2, avx2
 * or avx512 (generic off x86) and that path's -march; the #defines below then rename its
 * public kernels to name_<suffix>, declarations in the public headers included after
 * this one included, so the three objects link side by side. FA_ISA_PRIMARY is 1 in one
 * variant only (the baseline): the file's non-kernel functions (layouts, set-up, anything
 * not in the list) sit inside `#if FA_ISA_PRIMARY` and exist once, under their own names.
 * isa.c includes this header without FA_ISA_SUFFIX: FA_ISA_KERNELS gives it every name
 * and signature, from which it declares the per-path functions, builds one table of
 * function pointers per path and defines each public name as a call through the table
 * of the chosen path.
 *
 * Adding a kernel file: add it to FA_KERNEL_SOURCES, include this header first, wrap its
 * non-kernel functions in `#if FA_ISA_PRIMARY`, and list each public kernel twice below
 * (one rename line, one FA_ISA_KERNELS entry). A kernel must keep no global state (the
 * paths would not share it) and must give the same bits on every path (no contraction,
 * no reassociation: the paths differ in vector width only).
 */
#ifndef FEDALIGN_ISA_KERNELS_H
#define FEDALIGN_ISA_KERNELS_H

#ifdef FA_ISA_SUFFIX
#define FA_ISA_CAT2(a, b) a##_##b
#define FA_ISA_CAT(a, b) FA_ISA_CAT2(a, b)
#define FA_ISA_NAME(n) FA_ISA_CAT(n, FA_ISA_SUFFIX)
/* model.c */
#define model_forward FA_ISA_NAME(model_forward)
#define model_loss_grad FA_ISA_NAME(model_loss_grad)
#define model_loss_grad_rows FA_ISA_NAME(model_loss_grad_rows)
#define model_evaluate FA_ISA_NAME(model_evaluate)
/* train.c */
#define optim_adam_step FA_ISA_NAME(optim_adam_step)
#define optim_sgd_step FA_ISA_NAME(optim_sgd_step)
#define optim_prox_grad FA_ISA_NAME(optim_prox_grad)
#define train_local FA_ISA_NAME(train_local)
#define train_local_corrected FA_ISA_NAME(train_local_corrected)
#define train_epochs FA_ISA_NAME(train_epochs)
/* model_cnn.c (model.c calls them for cnn1d chunks on its own path; quant_cnn.c through the table) */
#define cnn_chunk_forward FA_ISA_NAME(cnn_chunk_forward)
#define cnn_chunk_loss_grad FA_ISA_NAME(cnn_chunk_loss_grad)
/* train_batched.c (the group width G is the path's: a GroupWs built on one path is refused by
 * another, so all four go through the same table) */
#define train_group_lanes FA_ISA_NAME(train_group_lanes)
#define group_ws_build FA_ISA_NAME(group_ws_build)
#define group_ws_free FA_ISA_NAME(group_ws_free)
#define train_local_group FA_ISA_NAME(train_local_group)
/* fa_math_lanes.c */
#define fa_math_lanes FA_ISA_NAME(fa_math_lanes)
#define fa_math_scalar FA_ISA_NAME(fa_math_scalar)
/* eval_batched.c (reads the GroupWs of train_batched.c: same path, same G) */
#define group_ws_load FA_ISA_NAME(group_ws_load)
#define eval_local_group FA_ISA_NAME(eval_local_group)
#else
#define FA_ISA_PRIMARY 1 /* compiled once, outside the per-path lists (e.g. by a tool) */
#endif

#include "fedalign/model.h"
#include "fedalign/train_batched.h"
#include "fedalign/eval_batched.h"

#include "fa_math.h"

/* X(return type, name, (parameters), (arguments)) for kernels that return a value,
 * V(name, (parameters), (arguments)) for void ones */
#define FA_ISA_KERNELS(X, V)                                                                       \
    V(model_forward,                                                                               \
      (const ModelLayout *L, const float *params, const float *x, size_t B, float *logits,         \
       Workspace *ws),                                                                             \
      (L, params, x, B, logits, ws))                                                               \
    X(double, model_loss_grad,                                                                     \
      (const ModelLayout *L, const float *params, const float *x, const int32_t *y, size_t B,      \
       Workspace *ws, bool threaded),                                                              \
      (L, params, x, y, B, ws, threaded))                                                          \
    X(double, model_loss_grad_rows,                                                                \
      (const ModelLayout *L, const float *params, const Dataset *ds, const size_t *rows, size_t B, \
       Workspace *ws, bool threaded),                                                              \
      (L, params, ds, rows, B, ws, threaded))                                                      \
    V(model_evaluate,                                                                              \
      (const ModelLayout *L, const float *params, const Dataset *ds, Workspace *ws, bool threaded, \
       EvalResult *out),                                                                           \
      (L, params, ds, ws, threaded, out))                                                          \
    V(optim_adam_step,                                                                             \
      (float *p, const float *g, float *m, float *v, size_t n, double lr, double beta1,            \
       double beta2, double eps, uint64_t t),                                                      \
      (p, g, m, v, n, lr, beta1, beta2, eps, t))                                                   \
    V(optim_sgd_step, (float *p, const float *g, size_t n, double lr), (p, g, n, lr))              \
    V(optim_prox_grad, (float *g, const float *p, const float *ref, size_t n, double mu),          \
      (g, p, ref, n, mu))                                                                          \
    V(train_local,                                                                                 \
      (const ModelLayout *L, float *params, const float *ref, const Dataset *ds,                   \
       const TrainOpts *opts, uint64_t seed, uint64_t client, uint64_t round, Workspace *ws,       \
       bool threaded, TrainStats *stats),                                                          \
      (L, params, ref, ds, opts, seed, client, round, ws, threaded, stats))                        \
    V(train_local_corrected,                                                                       \
      (const ModelLayout *L, float *params, const Dataset *ds, const TrainOpts *opts,              \
       uint64_t seed, uint64_t client, uint64_t round, Workspace *ws, bool threaded,               \
       const float *corr, float *gmean, TrainStats *stats),                                        \
      (L, params, ds, opts, seed, client, round, ws, threaded, corr, gmean, stats))                \
    V(train_epochs,                                                                                \
      (const ModelLayout *L, float *params, const float *ref, const Dataset *ds,                   \
       const TrainOpts *opts, uint64_t seed, uint64_t client, uint64_t round, size_t e0,           \
       size_t e1, Workspace *ws, bool threaded, TrainStats *stats),                                \
      (L, params, ref, ds, opts, seed, client, round, e0, e1, ws, threaded, stats))              \
    X(const float *, cnn_chunk_forward,                                                            \
      (const ModelLayout *L, const float *params, const float *x, const size_t *rows, size_t r0,   \
       size_t R, float *act),                                                                      \
      (L, params, x, rows, r0, R, act))                                                            \
    X(double, cnn_chunk_loss_grad,                                                                 \
      (const ModelLayout *L, const float *params, const float *x, const int32_t *y,                \
       const size_t *rows, size_t r0, size_t R, float *act, float *dact, float *g, bool add),     \
      (L, params, x, y, rows, r0, R, act, dact, g, add))                                          \
    X(size_t, train_group_lanes, (void), ())                                                       \
    V(group_ws_build, (GroupWs * gw, const ModelLayout *L, size_t batch_max), (gw, L, batch_max))  \
    V(group_ws_free, (GroupWs * gw), (gw))                                                         \
    V(train_local_group,                                                                           \
      (const ModelLayout *L, size_t n, float *const *params, const float *ref,                     \
       const Dataset *const *ds, const TrainOpts *opts, uint64_t seed, const uint64_t *client,     \
       uint64_t round, GroupWs *gw, TrainStats *stats),                                            \
      (L, n, params, ref, ds, opts, seed, client, round, gw, stats))                               \
    V(fa_math_lanes, (const float *x, size_t n, float *e, double *l), (x, n, e, l))                \
    V(fa_math_scalar, (const float *x, size_t n, float *e, double *l), (x, n, e, l))                \
    V(group_ws_load,                                                                               \
      (GroupWs * gw, const ModelLayout *L, size_t n, const float *const *params),                  \
      (gw, L, n, params))                                                                          \
    V(eval_local_group,                                                                            \
      (const ModelLayout *L, size_t n, const Dataset *const *ds, size_t bm, bool want_loss,        \
       GroupWs *gw, EvalResult *out),                                                              \
      (L, n, ds, bm, want_loss, gw, out))

#endif
