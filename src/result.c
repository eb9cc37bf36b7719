/*
 * result.c: the MethodResult field table and the allocation, fill and free it drives.
 *
 * One row per field. The store module writes and reads a method group by looping over
 * these rows and stores their name, shape, type and unit in the file (method_fields),
 * so a new field is one member in result.h plus one row here (and its line in
 * docs/results-format.md, which a test checks).
 */
#include "fedalign/result.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/check.h"
#include "fedalign/data.h"

#define RF(member) offsetof(MethodResult, member)

const FaField fa_result_fields[] = {
    /* the method (MethodSpec) and its size */
    {"name", RF(spec.name), FA_FT_STR, FA_SHAPE_ATTR, 1, FA_FILL_ZERO, FA_UNIT_NONE,
     "row label (MethodSpec.name), e.g. fedavg@found+P"},
    {"method", RF(spec.method), FA_FT_METHOD, FA_SHAPE_ATTR, 1, FA_FILL_ZERO, FA_UNIT_NONE,
     "algorithm: fedmetaalign, fedavg, fedprox or local"},
    {"phase0", RF(spec.phase0), FA_FT_BOOL, FA_SHAPE_ATTR, 1, FA_FILL_ZERO, FA_UNIT_NONE,
     "started from the phase-0 foundation model"},
    {"phase1", RF(spec.phase1), FA_FT_BOOL, FA_SHAPE_ATTR, 1, FA_FILL_ZERO, FA_UNIT_NONE,
     "ran the phase-1 token ring"},
    {"similarity", RF(spec.similarity), FA_FT_BOOL, FA_SHAPE_ATTR, 1, FA_FILL_ZERO, FA_UNIT_NONE,
     "dual-criterion (similarity-aware) weights"},
    {"personalize", RF(spec.personalize), FA_FT_BOOL, FA_SHAPE_ATTR, 1, FA_FILL_ZERO, FA_UNIT_NONE,
     "ran phase-3 personalization"},
    {"rounds", RF(rounds), FA_FT_SIZE, FA_SHAPE_ATTR, 1, FA_FILL_ZERO, FA_UNIT_NONE,
     "R, phase-2 rounds planned (0 for local-only)"},
    {"rounds_done", RF(rounds_done), FA_FT_SIZE, FA_SHAPE_ATTR, 1, FA_FILL_ZERO, FA_UNIT_NONE,
     "phase-2 rounds completed (== rounds when the method finished; less in a checkpoint)"},
    /* summaries */
    {"acc_global", RF(acc_global), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_ZERO, FA_UNIT_FRACTION,
     "final global model's accuracy on the pooled test rows of all clients (NaN for local-only)"},
    {"acc_personal_mean", RF(acc_personal_mean), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_ZERO,
     FA_UNIT_FRACTION, "mean over clients of the final per-client accuracy (acc_p3)"},
    {"acc_personal_std", RF(acc_personal_std), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_ZERO,
     FA_UNIT_FRACTION, "standard deviation over clients of the same"},
    {"acc_personal_worst", RF(acc_personal_worst), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_ZERO,
     FA_UNIT_FRACTION, "minimum over clients of the same"},
    {"phase_acc_mean", RF(phase_acc_mean), FA_FT_F64, FA_SHAPE_ATTR, 4, FA_FILL_ZERO,
     FA_UNIT_FRACTION, "mean over clients of acc_p0 .. acc_p3 (NaN for a phase that did not run)"},
    {"acc_public", RF(acc_public), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_ZERO, FA_UNIT_FRACTION,
     "foundation model's accuracy on held-out public rows (NaN without phase 0)"},
    {"acc_int8_mean", RF(acc_int8_mean), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_NAN, FA_UNIT_FRACTION,
     "mean over clients of the int8 models' accuracy (NaN with --no-int8)"},
    {"int8_drop_mean", RF(int8_drop_mean), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_NAN,
     FA_UNIT_FRACTION, "mean over clients of float minus int8 accuracy (NaN with --no-int8)"},
    {"int8_flash_bytes", RF(int8_flash_bytes), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_NAN,
     FA_UNIT_BYTES, "int8 model data bytes: weights, biases, requantization constants"},
    {"osc_cos_lag1", RF(osc_cos_lag1), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_NAN, FA_UNIT_NONE,
     "mean over clients of the lag-1 autocorrelation over rounds of rc_cos_mean (-1: 2-cycle)"},
    {"osc_weight_lag1", RF(osc_weight_lag1), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_NAN, FA_UNIT_NONE,
     "mean over clients of the lag-1 autocorrelation of rc_weight (NaN: constant)"},
    {"osc_update_cos", RF(osc_update_cos), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_NAN, FA_UNIT_NONE,
     "mean over rounds of round_update_cos (-1: every global step reverses the last)"},
    {"two_cycle", RF(two_cycle), FA_FT_BOOL, FA_SHAPE_ATTR, 1, FA_FILL_ZERO, FA_UNIT_NONE,
     "osc_cos_lag1 or osc_update_cos below -0.5: the server is in a period-2 cycle"},
    {"checksum", RF(checksum), FA_FT_HEX, FA_SHAPE_ATTR, 1, FA_FILL_ZERO, FA_UNIT_NONE,
     "checksum of the final global model's bits (fa_checksum), printed as checksum="},
    {"checksum_personal", RF(checksum_personal), FA_FT_HEX, FA_SHAPE_ATTR, 1, FA_FILL_ZERO,
     FA_UNIT_NONE, "chained hash of every client's final model, in client order"},
    {"time_total", RF(time_total), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_ZERO, FA_UNIT_SECONDS,
     "wall time of the whole method, max over ranks"},
    {"rounds_to_target", RF(rounds_to_target), FA_FT_LONG, FA_SHAPE_ATTR, 1, FA_FILL_ZERO,
     FA_UNIT_NONE, "first r with round_acc[r] >= --target-acc; -1 = never or off"},
    {"secs_to_target", RF(secs_to_target), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_ZERO,
     FA_UNIT_SECONDS, "round_time at that round (NaN if never or off)"},
    {"budget_public_epochs", RF(budget_public_epochs), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_ZERO,
     FA_UNIT_EPOCHS, "epochs over the public data (phase 0)"},
    {"budget_client_epochs", RF(budget_client_epochs), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_ZERO,
     FA_UNIT_EPOCHS, "mean epochs per client over its own train data, all phases"},
    {"budget_client_epochs_used", RF(budget_client_epochs_used), FA_FT_F64, FA_SHAPE_ATTR, 1,
     FA_FILL_NAN, FA_UNIT_EPOCHS,
     "budget_client_epochs with the phase-3 epochs actually trained (early stopping)"},
    {"p3_epoch_best_mean", RF(p3_epoch_best_mean), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_NAN,
     FA_UNIT_EPOCHS, "mean over clients of p3_epoch_best (NaN without phase 3)"},
    {"p3_epochs_run_mean", RF(p3_epochs_run_mean), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_NAN,
     FA_UNIT_EPOCHS, "mean over clients of p3_epochs_run (NaN without phase 3)"},
    /* per round */
    {"round_acc", RF(round_acc), FA_FT_F64, FA_SHAPE_R1, 0, FA_FILL_NAN, FA_UNIT_FRACTION,
     "accuracy of the global model phi^r on the pooled test rows, r = 0..R"},
    {"round_loss", RF(round_loss), FA_FT_F64, FA_SHAPE_R1, 0, FA_FILL_NAN, FA_UNIT_NONE,
     "its mean cross-entropy loss on the same rows"},
    {"round_time", RF(round_time), FA_FT_F64, FA_SHAPE_R1, 0, FA_FILL_NAN, FA_UNIT_SECONDS,
     "time since phase 2 started when phi^r was evaluated (rank 0's clock)"},
    {"round_wsum_cos", RF(round_wsum_cos), FA_FT_F64, FA_SHAPE_R, 0, FA_FILL_NAN, FA_UNIT_NONE,
     "weight-averaged cosine of the updates aggregated in round r (NaN: none selected)"},
    {"round_update_cos", RF(round_update_cos), FA_FT_F64, FA_SHAPE_R, 0, FA_FILL_NAN, FA_UNIT_NONE,
     "cosine of round r's global update to round r-1's (NaN for r = 0)"},
    {"round_selected", RF(round_selected), FA_FT_SIZE, FA_SHAPE_R, 0, FA_FILL_ZERO, FA_UNIT_NONE,
     "clients selected in round r"},
    /* per client */
    {"acc_p0", RF(acc_p0), FA_FT_F64, FA_SHAPE_C, 0, FA_FILL_NAN, FA_UNIT_FRACTION,
     "client's test accuracy after phase 0 (NaN if not run)"},
    {"acc_p1", RF(acc_p1), FA_FT_F64, FA_SHAPE_C, 0, FA_FILL_NAN, FA_UNIT_FRACTION,
     "... after phase 1"},
    {"acc_p2", RF(acc_p2), FA_FT_F64, FA_SHAPE_C, 0, FA_FILL_NAN, FA_UNIT_FRACTION,
     "... after phase 2 (the global model; local-only: its local model)"},
    {"acc_p3", RF(acc_p3), FA_FT_F64, FA_SHAPE_C, 0, FA_FILL_NAN, FA_UNIT_FRACTION,
     "... after phase 3: the client's final model"},
    {"acc_p3_int8", RF(acc_int8), FA_FT_F64, FA_SHAPE_C, 0, FA_FILL_NAN, FA_UNIT_FRACTION,
     "test accuracy of the client's final model after int8 quantization (NaN with --no-int8)"},
    {"p3_epoch_best", RF(p3_epoch_best), FA_FT_F64, FA_SHAPE_C, 0, FA_FILL_NAN, FA_UNIT_EPOCHS,
     "phase-3 epoch the client kept (0 = the starting model; NaN without phase 3)"},
    {"p3_epochs_run", RF(p3_epochs_run), FA_FT_F64, FA_SHAPE_C, 0, FA_FILL_NAN, FA_UNIT_EPOCHS,
     "phase-3 epochs the client trained (< --p3-epochs after early stopping)"},
    /* per round and client */
    {"rc_score", RF(rc_score), FA_FT_F64, FA_SHAPE_RC, 0, FA_FILL_NAN, FA_UNIT_FRACTION,
     "local-performance score s_t (NaN: not selected, or no similarity weighting)"},
    {"rc_cos", RF(rc_cos), FA_FT_F64, FA_SHAPE_RC, 0, FA_FILL_NAN, FA_UNIT_NONE,
     "cosine of the client's update to the reference direction (NaN: not computed)"},
    {"rc_weight", RF(rc_weight), FA_FT_F64, FA_SHAPE_RC, 0, FA_FILL_NAN, FA_UNIT_FRACTION,
     "normalized aggregation weight (sums to 1 over the selected clients)"},
    {"rc_loss", RF(rc_loss), FA_FT_F64, FA_SHAPE_RC, 0, FA_FILL_NAN, FA_UNIT_NONE,
     "mean local training loss (NaN: not selected)"},
    {"rc_status", RF(rc_status), FA_FT_F64, FA_SHAPE_RC, 0, FA_FILL_ZERO, FA_UNIT_NONE,
     "FA_ST_* bit flags of the client in the round (0 = not selected)"},
    {"rc_cos_mean", RF(rc_cos_mean), FA_FT_F64, FA_SHAPE_RC, 0, FA_FILL_NAN, FA_UNIT_NONE,
     "cosine of the client's update to the round's mean update, every federated method"},
    {"rc_cos_prev", RF(rc_cos_prev), FA_FT_F64, FA_SHAPE_RC, 0, FA_FILL_NAN, FA_UNIT_NONE,
     "cosine of the client's update to the previous global update (0 in round 0)"},
    {"rc_time", RF(rc_time), FA_FT_F64, FA_SHAPE_RC, 0, FA_FILL_NAN, FA_UNIT_SECONDS,
     "simulated device time of the local training (NaN: not selected)"},
    /* classification metrics (metrics.h: recall NaN without support; macro-F1 over the
     * classes present or predicted) */
    {"classes", RF(n_classes), FA_FT_SIZE, FA_SHAPE_ATTR, 1, FA_FILL_ZERO, FA_UNIT_NONE,
     "K, the number of classes (the K of the per-class fields)"},
    {"f1_global", RF(f1_global), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_NAN, FA_UNIT_FRACTION,
     "macro-F1 of the final global model on the pooled test rows (NaN for local-only)"},
    {"f1_personal", RF(f1_personal), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_NAN, FA_UNIT_FRACTION,
     "macro-F1 of the final per-client models on the pooled test rows (confusion_personal)"},
    {"f1_personal_mean", RF(f1_personal_mean), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_NAN,
     FA_UNIT_FRACTION, "mean over clients of f1_p3"},
    {"f1_p2", RF(f1_p2), FA_FT_F64, FA_SHAPE_C, 0, FA_FILL_NAN, FA_UNIT_FRACTION,
     "client's test macro-F1 of the model acc_p2 evaluates"},
    {"f1_p3", RF(f1_p3), FA_FT_F64, FA_SHAPE_C, 0, FA_FILL_NAN, FA_UNIT_FRACTION,
     "client's test macro-F1 of its final model (acc_p3)"},
    {"recall_p2", RF(recall_p2), FA_FT_F64, FA_SHAPE_CK, 0, FA_FILL_NAN, FA_UNIT_FRACTION,
     "client's per-class test recall of the model acc_p2 evaluates (NaN: class absent)"},
    {"recall_p3", RF(recall_p3), FA_FT_F64, FA_SHAPE_CK, 0, FA_FILL_NAN, FA_UNIT_FRACTION,
     "client's per-class test recall of its final model"},
    {"recall_global", RF(recall_global), FA_FT_F64, FA_SHAPE_K, 0, FA_FILL_NAN, FA_UNIT_FRACTION,
     "per-class recall of the global model on the pooled test rows (NaN for local-only)"},
    {"recall_personal", RF(recall_personal), FA_FT_F64, FA_SHAPE_K, 0, FA_FILL_NAN,
     FA_UNIT_FRACTION, "per-class recall of the final models on the pooled test rows"},
    {"confusion_global", RF(confusion_global), FA_FT_SIZE, FA_SHAPE_KK, 0, FA_FILL_ZERO,
     FA_UNIT_NONE, "test rows of the global model, pooled over clients [true, predicted]"},
    {"confusion_personal", RF(confusion_personal), FA_FT_SIZE, FA_SHAPE_KK, 0, FA_FILL_ZERO,
     FA_UNIT_NONE, "the same for each client's final model, pooled over clients"},
    /* timers and models */
    {"timers", RF(tmin), FA_FT_F64, FA_SHAPE_TIMERS, 0, FA_FILL_ZERO, FA_UNIT_SECONDS,
     "per-phase time over ranks; columns min, avg, max, span"},
    {"final_global", RF(final_global), FA_FT_F32, FA_SHAPE_P, 0, FA_FILL_ZERO, FA_UNIT_NONE,
     "the final global model (rank 0's)"},
    {"personal_models", RF(personal_models), FA_FT_F32, FA_SHAPE_CP, 0, FA_FILL_ZERO, FA_UNIT_NONE,
     "every client's final model; only with --save-models"},
    /* load balance over ranks (--assign); wall times, so they differ from run to run */
    {"round_train_max", RF(round_train_max), FA_FT_F64, FA_SHAPE_R, 0, FA_FILL_NAN, FA_UNIT_SECONDS,
     "local-training wall time of round r on the slowest rank"},
    {"round_train_mean", RF(round_train_mean), FA_FT_F64, FA_SHAPE_R, 0, FA_FILL_NAN,
     FA_UNIT_SECONDS, "local-training wall time of round r, mean over ranks"},
    {"train_imbalance", RF(train_imbalance), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_NAN, FA_UNIT_NONE,
     "mean over rounds of round_train_max / round_train_mean (1 = balanced)"},
    {"rows_imbalance", RF(rows_imbalance), FA_FT_F64, FA_SHAPE_ATTR, 1, FA_FILL_NAN, FA_UNIT_NONE,
     "max / mean over ranks of the training rows each rank holds (1 = balanced)"},
    {"client_state", RF(client_state), FA_FT_F32, FA_SHAPE_CP, 0, FA_FILL_ZERO, FA_UNIT_NONE,
     "checkpoints of ditto/fedper only: every client's personal model (ditto) or model with "
     "its head (fedper) so far"},
};
const size_t fa_result_nfields = sizeof fa_result_fields / sizeof fa_result_fields[0];

/* the [T, 4] timers dataset is read from and written to these four arrays as one block */
_Static_assert(offsetof(MethodResult, tavg) ==
                       offsetof(MethodResult, tmin) + FA_T_COUNT * sizeof(double) &&
                   offsetof(MethodResult, tmax) ==
                       offsetof(MethodResult, tavg) + FA_T_COUNT * sizeof(double) &&
                   offsetof(MethodResult, tspan) ==
                       offsetof(MethodResult, tmax) + FA_T_COUNT * sizeof(double),
               "tmin, tavg, tmax, tspan must be adjacent");

const char *const fa_shape_names[FA_SHAPE_COUNT] = {"attr", "R+1", "R", "C",   "R,C",
                                                    "T,4",  "P",   "C,P", "K", "C,K",
                                                    "K,K"};
const char *const fa_unit_names[FA_UNIT_COUNT] = {"", "s", "fraction", "epochs", "bytes"};
const char *const fa_type_names[FA_FT_COUNT] = {"float64", "float32", "int64",  "int64",
                                                "hex",     "bool",    "string", "string"};

size_t fa_field_elem_size(const FaField *fd) {
    switch (fd->type) {
    case FA_FT_F64: return sizeof(double);
    case FA_FT_F32: return sizeof(float);
    case FA_FT_SIZE: return sizeof(size_t);
    case FA_FT_LONG: return sizeof(long);
    case FA_FT_HEX: return sizeof(uint64_t);
    case FA_FT_BOOL: return sizeof(bool);
    case FA_FT_STR: return sizeof(((MethodSpec *)0)->name);
    case FA_FT_METHOD: return sizeof(FaMethod);
    default: break;
    }
    CHECK(0, "field %s: unknown type %d", fd->name, (int)fd->type);
    return 0;
}

size_t fa_field_len(const FaField *fd, size_t R, size_t n, size_t P) {
    switch (fd->shape) {
    case FA_SHAPE_ATTR: return fd->count;
    case FA_SHAPE_R1: return R + 1;
    case FA_SHAPE_R: return R;
    case FA_SHAPE_C: return n;
    case FA_SHAPE_RC: return R * n;
    case FA_SHAPE_TIMERS: return 4 * (size_t)FA_T_COUNT;
    case FA_SHAPE_P: return P;
    case FA_SHAPE_CP: return n * P;
    case FA_SHAPE_K: return FA_MAX_CLASSES;
    case FA_SHAPE_CK: return n * FA_MAX_CLASSES;
    case FA_SHAPE_KK: return FA_MAX_CLASSES * FA_MAX_CLASSES;
    default: break;
    }
    CHECK(0, "field %s: unknown shape %d", fd->name, (int)fd->shape);
    return 0;
}

size_t fa_field_klen(const FaField *fd, size_t n, size_t K) {
    switch (fd->shape) {
    case FA_SHAPE_K: return K;
    case FA_SHAPE_CK: return n * K;
    case FA_SHAPE_KK: return K * K;
    default: return 0;
    }
}

/* attributes and the timers live in the struct; every other dataset behind a pointer */
static bool inline_field(const FaField *fd) {
    return fd->shape == FA_SHAPE_ATTR || fd->shape == FA_SHAPE_TIMERS;
}

void *fa_field_ptr(const FaField *fd, MethodResult *res) {
    char *p = (char *)res + fd->offset;
    return inline_field(fd) ? (void *)p : *(void **)p;
}

const void *fa_field_cptr(const FaField *fd, const MethodResult *res) {
    const char *p = (const char *)res + fd->offset;
    return inline_field(fd) ? (const void *)p : *(void *const *)p;
}

static void fill(const FaField *fd, void *p, size_t len) {
    memset(p, 0, len * fa_field_elem_size(fd));
    if (fd->fill != FA_FILL_NAN) return;
    CHECK(fd->type == FA_FT_F64 || fd->type == FA_FT_F32, "field %s: NaN fill of a non-float",
          fd->name);
    for (size_t i = 0; i < len; i++) {
        if (fd->type == FA_FT_F64) ((double *)p)[i] = nan("");
        else ((float *)p)[i] = nanf("");
    }
}

void fl_result_alloc(MethodResult *res, size_t R, size_t n, size_t P) {
    memset(res, 0, sizeof *res);
    for (size_t k = 0; k < fa_result_nfields; k++) {
        const FaField *fd = &fa_result_fields[k];
        size_t len = fa_field_len(fd, R, n, P);
        if (inline_field(fd)) {
            if (fd->type != FA_FT_STR) fill(fd, (char *)res + fd->offset, len);
            continue;
        }
        if (fd->shape == FA_SHAPE_CP) continue; /* optional: the caller decides */
        /* at least one element, so no array is NULL (R = 0, a rank without clients) */
        size_t bytes = (len ? len : 1) * fa_field_elem_size(fd);
        void *p = fd->shape == FA_SHAPE_P ? xalloc_aligned(bytes) : xmalloc(bytes);
        fill(fd, p, len ? len : 1);
        *(void **)((char *)res + fd->offset) = p;
    }
}

void fl_result_free(MethodResult *res) {
    for (size_t k = 0; k < fa_result_nfields; k++)
        if (!inline_field(&fa_result_fields[k]))
            free(*(void **)((char *)res + fa_result_fields[k].offset));
    memset(res, 0, sizeof *res);
}
