/*
 * result.h: what one method run produces (MethodResult) and the one table that
 * describes every field of it.
 *
 * The table (fa_result_fields) drives allocation, the initial fill and freeing
 * (result.c), the method-group writer and reader (store_write.c, store_read.c), the
 * field list stored in every results file (/methods attribute method_fields, which
 * analysis/report.py and analysis/h5check.py read) and the store round-trip test.
 * Adding a field to MethodResult means adding its member here and one table row in
 * result.c; docs/results-format.md must document it (a test checks that).
 */
#ifndef FEDALIGN_RESULT_H
#define FEDALIGN_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedalign/config.h"
#include "fedalign/timer.h"

typedef struct MethodSpec {
    char name[48]; /* row label in tables and results, e.g. "fedavg+P" */
    FaMethod method;
    bool phase0;      /* start from the foundation model (phase 0) */
    bool phase1;      /* serial meta-initialization ring (Fed-Meta-Align only) */
    bool similarity;  /* dual-criterion weights (Fed-Meta-Align only) */
    bool personalize; /* phase 3 */
} MethodSpec;

typedef struct MethodResult {
    MethodSpec spec;
    size_t rounds; /* phase-2 rounds run (0 for local-only) */
    /* per-round global metrics, filled on every rank: global model phi^r on the
     * pooled test rows of all clients, r = 0..rounds (r = rounds is the final model) */
    double *round_acc;        /* (rounds + 1) */
    double *round_loss;       /* (rounds + 1) */
    double *round_time;       /* (rounds + 1) seconds since phase 2 started, at eval of phi^r */
    double *round_wsum_cos;   /* (rounds) weighted mean cosine of the aggregated updates */
    size_t *round_selected;   /* (rounds) clients selected */
    double *round_update_cos; /* (rounds) cosine of the global update of round r to that of
                               * round r - 1 (NaN for r = 0 and without dynamics) */
    /* per local client (n_local), accuracy on the client's test split after each phase;
     * NaN where a phase did not run */
    double *acc_p0, *acc_p1, *acc_p2, *acc_p3;
    /* per local client: accuracy of the int8-quantized final model (NaN with --no-int8) */
    double *acc_int8;
    /* per local client, phase 3: the kept epoch (0 = the starting model) and the epochs
     * trained (less than --p3-epochs after early stopping); NaN without phase 3 */
    double *p3_epoch_best, *p3_epochs_run;
    /* per-round per-client metrics (rounds, n_local), NaN when not selected */
    double *rc_score;    /* s_t */
    double *rc_cos;      /* theta_t */
    double *rc_weight;   /* normalized weight w_t */
    double *rc_loss;     /* mean local training loss */
    double *rc_status;   /* FA_ST_* bits (0 = not selected) */
    double *rc_time;     /* simulated device seconds of the local training (NaN = none) */
    double *rc_cos_mean; /* cosine to the round's mean update, every federated method */
    double *rc_cos_prev; /* cosine to the previous global update, every federated method */
    /* global summaries (every rank) */
    double acc_global;        /* final global model on pooled test rows (NaN for local) */
    double acc_personal_mean; /* mean over clients of personalized (or final) accuracy */
    double acc_personal_std;
    double acc_personal_worst;
    double phase_acc_mean[4]; /* mean over clients of acc_p0..acc_p3 (NaN if not run) */
    double acc_public;        /* foundation model on held-out public rows (NaN if no phase 0) */
    double acc_int8_mean;     /* mean over clients of the int8 models' accuracy (NaN: off) */
    double int8_drop_mean;    /* mean over clients of float minus int8 accuracy */
    double int8_flash_bytes;  /* int8 model data bytes (weights, biases, requant constants) */
    /* server dynamics (dynamics.h; NaN for local-only or without dynamics) */
    double osc_cos_lag1;        /* mean over clients of the lag-1 autocorrelation of rc_cos_mean */
    double osc_weight_lag1;     /* mean over clients of the same for rc_weight */
    double osc_update_cos;      /* mean over rounds of round_update_cos */
    bool two_cycle;             /* dyn_two_cycle of the above: the method is in a 2-cycle */
    uint64_t checksum;          /* final global model bits */
    uint64_t checksum_personal; /* all per-client final models, in client order */
    double time_total;          /* seconds, max over ranks */
    long rounds_to_target;      /* first r with round_acc >= target (-1 = never / off) */
    double secs_to_target;
    /* budgets: epochs over the public data, and mean epochs per client over its train data */
    double budget_public_epochs;
    double budget_client_epochs;
    /* the same with phase 3's epochs actually trained (mean over clients) in place of
     * --p3-epochs, and the mean kept epoch (NaN without phase 3) */
    double budget_client_epochs_used;
    double p3_epoch_best_mean, p3_epochs_run_mean;
    /* per-phase timers over ranks (stored together as one [T, 4] dataset, so the four
     * arrays must stay adjacent and in this order: result.c checks it) */
    double tmin[FA_T_COUNT], tavg[FA_T_COUNT], tmax[FA_T_COUNT], tspan[FA_T_COUNT];
    float *final_global;    /* (P) */
    float *personal_models; /* (n_local, P) final per-client models; NULL unless --save-models */
    size_t rounds_done;     /* phase-2 rounds completed (== rounds when finished) */
    /* load balance over ranks (--assign): a rank's local-training wall time in round r,
     * max and mean over ranks; their ratio averaged over rounds; and max / mean over ranks
     * of the training rows a rank holds (machine-independent) */
    double *round_train_max;  /* (rounds) seconds */
    double *round_train_mean; /* (rounds) seconds */
    double train_imbalance;   /* mean over rounds of round_train_max / round_train_mean */
    double rows_imbalance;    /* max / mean over ranks of the training rows held */
    /* classification metrics (metrics.h), from exact confusion counts. K = n_classes;
     * in memory the K-shaped arrays are FA_MAX_CLASSES wide and hold their values in
     * the first K (n*K, K*K) elements, so they are allocated before K is known. p2 is the
     * model acc_p2 evaluates (global; local-only: the local model), p3 the final model. */
    size_t n_classes;
    double f1_global;        /* macro-F1 of the global model, pooled test rows (NaN: local) */
    double f1_personal;      /* macro-F1 of the final models, pooled test rows */
    double f1_personal_mean; /* mean over clients of f1_p3 */
    double *f1_p2, *f1_p3;   /* (n_local) per-client macro-F1 */
    double *recall_p2, *recall_p3;      /* (n_local, K) per-client per-class recall */
    double *recall_global;              /* (K) pooled recall of the global model */
    double *recall_personal;            /* (K) pooled recall of the final models */
    size_t *confusion_global;           /* (K, K) pooled counts [true][predicted] */
    size_t *confusion_personal;         /* (K, K) the same for the final models */
    /* (n_local, P) per-client state of a personalized method while it runs (Ditto's personal
     * models, FedPer's heads; personal_fl.h): in checkpoints only, freed after phase 3 */
    float *client_state;
} MethodResult;

// ----------------------------------------------------------------------------
// the field table

/* element type in memory (the file type follows from it) */
typedef enum {
    FA_FT_F64,    /* double -> float64 */
    FA_FT_F32,    /* float -> float32 (models) */
    FA_FT_SIZE,   /* size_t -> int64 */
    FA_FT_LONG,   /* long -> int64 */
    FA_FT_HEX,    /* uint64_t -> 16 lower-case hex digits (a string attribute) */
    FA_FT_BOOL,   /* bool -> int8 0/1 */
    FA_FT_STR,    /* char[size] -> string */
    FA_FT_METHOD, /* FaMethod -> its name (fa_method_names) */
    FA_FT_COUNT
} FaFieldType;

/* shape kind: where the field lives in the file and how many elements it has
 * (R = rounds, C = clients (n_local in memory), P = parameters, T = FA_T_COUNT) */
typedef enum {
    FA_SHAPE_ATTR,   /* attribute of the method group; `count` elements (1 = scalar) */
    FA_SHAPE_R1,     /* dataset [R + 1], rank 0's values */
    FA_SHAPE_R,      /* dataset [R], rank 0's values */
    FA_SHAPE_C,      /* dataset [C], per-client rows */
    FA_SHAPE_RC,     /* dataset [R, C], per-round per-client (memory: [R][n_local]) */
    FA_SHAPE_TIMERS, /* dataset [T, 4] from tmin, tavg, tmax, tspan */
    FA_SHAPE_P,      /* dataset [P], rank 0's values */
    FA_SHAPE_CP,     /* dataset [C, P], per-client models; optional (NULL = not stored) */
    FA_SHAPE_K,      /* dataset [K] (K = n_classes), rank 0's values */
    FA_SHAPE_CK,     /* dataset [C, K], per-client rows */
    FA_SHAPE_KK,     /* dataset [K, K], rank 0's values */
    FA_SHAPE_COUNT
} FaShapeKind;

typedef enum { FA_FILL_ZERO, FA_FILL_NAN } FaFill;

typedef enum {
    FA_UNIT_NONE,
    FA_UNIT_SECONDS,
    FA_UNIT_FRACTION,
    FA_UNIT_EPOCHS,
    FA_UNIT_BYTES,
    FA_UNIT_COUNT
} FaUnit;

typedef struct {
    const char *name; /* name in the file (dataset or attribute of the method group) */
    size_t offset;    /* offsetof(MethodResult, ...) of the member (a pointer for datasets) */
    FaFieldType type;
    FaShapeKind shape;
    size_t count; /* FA_SHAPE_ATTR: elements (1, or e.g. 4 for phase_acc_mean) */
    FaFill fill;  /* initial value of fl_result_alloc */
    FaUnit unit;
    const char *doc; /* one line: what the field is */
} FaField;

extern const FaField fa_result_fields[];
extern const size_t fa_result_nfields;

/* elements of a K-shaped field (FA_SHAPE_K, _CK, _KK) in the file for n clients and K
 * classes: the leading part of its in-memory array; 0 for any other shape */
size_t fa_field_klen(const FaField *fd, size_t n, size_t K);

/* names as stored in the file's method_fields attribute and in docs/results-format.md */
extern const char *const fa_shape_names[FA_SHAPE_COUNT]; /* "attr", "R+1", "R", "C", ... */
extern const char *const fa_unit_names[FA_UNIT_COUNT];   /* "", "s", "fraction", ... */
extern const char *const fa_type_names[FA_FT_COUNT];     /* "float64", "float32", ... */

/* bytes of one element of type t (for FA_FT_STR: the member's size, given as count) */
size_t fa_field_elem_size(const FaField *fd);
/* elements of a dataset field for R rounds, n clients and P parameters (in memory; the
 * K-shaped ones at their FA_MAX_CLASSES width) */
size_t fa_field_len(const FaField *fd, size_t R, size_t n, size_t P);
/* the member of res a field describes: the value for attributes, the array for
 * datasets (NULL for an absent optional one) */
void *fa_field_ptr(const FaField *fd, MethodResult *res);
const void *fa_field_cptr(const FaField *fd, const MethodResult *res);

/* Allocate every (non-optional) array of res for R rounds, n local clients and P
 * parameters and set every field to its table fill (NaN or zero); personal_models
 * stays NULL (the store module reads results back into the same shapes). */
void fl_result_alloc(MethodResult *res, size_t R, size_t n, size_t P);
/* Free every array of res (personal_models included) and zero it. */
void fl_result_free(MethodResult *res);

#endif
