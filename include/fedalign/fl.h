/*
 * fl.h: the Fed-Meta-Align pipeline and its baselines (DESIGN.md sections 1, 3).
 *
 * One Pipeline per process holds this rank's clients, the layout of the model and
 * every buffer the phases need, allocated once before any method runs; the round
 * loop allocates nothing. fl_run_method() runs one method (a MethodSpec) end to end,
 * with the phases its row of the method table names (method.h):
 *   phase 0  foundation on rank 0 (public data)          -> broadcast
 *   phase 1  token ring over clients (serial by design)  -> broadcast
 *   phase 2  rounds: bcast, local training, exact fixed-point aggregation
 *   phase 3  personalization on every client, evaluation on its test split
 * Every function here is collective over MPI_COMM_WORLD (through comm.h).
 * Results are bit-identical for any number of ranks and threads: every random
 * draw is keyed by (seed, purpose, client, round) and every sum over clients is an
 * int64 fixed-point sum (aggregate.h).
 */
#ifndef FEDALIGN_FL_H
#define FEDALIGN_FL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedalign/config.h"
#include "fedalign/data.h"
#include "fedalign/model.h"
#include "fedalign/round.h"
#include "fedalign/timer.h"

/* simulated device compute rate for the deadline: samples per second at speed 1 */
#define FA_DEVICE_RATE 100.0
/* --threads-over auto with fewer clients than threads splits a mini-batch over the
 * threads only when each thread gets at least this many FA_CHUNK-row chunks of it
 * (batch >= 64 with 2 threads); otherwise each client gets one thread */
#define FA_SPLIT_MIN_CHUNKS 4

typedef struct MethodSpec {
    char name[48];       /* row label in tables and results, e.g. "fedavg+P" */
    FaMethod method;
    bool phase0;         /* start from the foundation model (phase 0) */
    bool phase1;         /* serial meta-initialization ring (Fed-Meta-Align only) */
    bool similarity;     /* dual-criterion weights (Fed-Meta-Align only) */
    bool personalize;    /* phase 3 */
} MethodSpec;

/* Method specs: the one --method/--ablate/--init/--no-personalize asks for, or the
 * full list run by `fedalign suite`. Returns the count written (<= cap). */
size_t fl_method_from_config(const Config *c, MethodSpec *out);
size_t fl_suite_methods(const Config *c, MethodSpec *out, size_t cap);

typedef struct MethodResult {
    MethodSpec spec;
    size_t rounds;          /* phase-2 rounds run (0 for local-only) */
    /* per-round global metrics, filled on every rank: global model phi^r on the
     * pooled test rows of all clients, r = 0..rounds (r = rounds is the final model) */
    double *round_acc;      /* (rounds + 1) */
    double *round_loss;     /* (rounds + 1) */
    double *round_time;     /* (rounds + 1) seconds since phase 2 started, at eval of phi^r */
    double *round_wsum_cos; /* (rounds) weighted mean cosine of the aggregated updates */
    size_t *round_selected; /* (rounds) clients selected */
    /* per local client (n_local), accuracy on the client's test split after each phase;
     * NaN where a phase did not run */
    double *acc_p0, *acc_p1, *acc_p2, *acc_p3;
    /* per local client: accuracy of the int8-quantized final model (NaN with --no-int8) */
    double *acc_int8;
    /* per-round per-client metrics (rounds, n_local), NaN when not selected */
    double *rc_score;   /* s_t */
    double *rc_cos;     /* theta_t */
    double *rc_weight;  /* normalized weight w_t */
    double *rc_loss;    /* mean local training loss */
    double *rc_status;  /* FA_ST_* bits (0 = not selected) */
    double *rc_time;    /* simulated device seconds of the local training (NaN = none) */
    /* global summaries (every rank) */
    double acc_global;          /* final global model on pooled test rows (NaN for local) */
    double acc_personal_mean;   /* mean over clients of personalized (or final) accuracy */
    double acc_personal_std;
    double acc_personal_worst;
    double phase_acc_mean[4];   /* mean over clients of acc_p0..acc_p3 (NaN if not run) */
    double acc_public;          /* foundation model on held-out public rows (NaN if no phase 0) */
    double acc_int8_mean;       /* mean over clients of the int8 models' accuracy (NaN: off) */
    double int8_drop_mean;      /* mean over clients of float minus int8 accuracy */
    double int8_flash_bytes;    /* int8 model data bytes (weights, biases, requant constants) */
    uint64_t checksum;          /* final global model bits */
    uint64_t checksum_personal; /* all per-client final models, in client order */
    double time_total;          /* seconds, max over ranks */
    long rounds_to_target;      /* first r with round_acc >= target (-1 = never / off) */
    double secs_to_target;
    /* budgets: epochs over the public data, and mean epochs per client over its train data */
    double budget_public_epochs;
    double budget_client_epochs;
    /* per-phase timers over ranks */
    double tmin[FA_T_COUNT], tavg[FA_T_COUNT], tmax[FA_T_COUNT], tspan[FA_T_COUNT];
    float *final_global;        /* (P) */
    float *personal_models;     /* (n_local, P) final per-client models; NULL unless --save-models */
    size_t rounds_done;         /* phase-2 rounds completed (== rounds when finished) */
} MethodResult;

typedef struct Pipeline Pipeline;

/* Build data and buffers (collective). Input errors exit through fa_fail. */
Pipeline *fl_setup(const Config *cfg, Timers *setup_timers);
void fl_free(Pipeline *pl);
const FedData *fl_data(const Pipeline *pl);
const ModelLayout *fl_layout(const Pipeline *pl);
int fl_threads(const Pipeline *pl);
bool fl_threads_over_clients(const Pipeline *pl);

/* exit status of a run that stopped on request (signal, --stop-after-round) after
 * writing a checkpoint; documented in README.md */
#define FA_STOPPED 3

/* Where a resumed method continues: phase 0..3 is the next step; in phase 2, round is
 * the next round. */
typedef struct {
    int phase;
    size_t round;
} FlCursor;

/* Checkpoint and stop hooks, owned by main. All calls are collective. */
typedef struct FlHooks {
    /* write a checkpoint: res so far; (phase, round) = the cursor to resume from */
    void (*checkpoint)(void *ctx, const MethodResult *res, int phase, size_t round);
    /* local: has this rank been asked to stop (SIGTERM/SIGUSR1)? Agreed over ranks
     * inside the round's Reduce, so it costs no extra collective. */
    bool (*stop_requested)(void *ctx);
    void *ctx;
    size_t every;            /* checkpoint every K phase-2 rounds (0 = never mid-phase) */
    bool at_phase_ends;      /* checkpoint after phases 0, 1 and 2 */
    size_t stop_after_round; /* checkpoint and stop after this round (0 = off) */
    int stop_before_phase;   /* checkpoint and stop on reaching phase 1..3 (0 = off) */
} FlHooks;

/* The state a checkpoint must hold besides the results (pointers into the pipeline;
 * a resume reads the checkpoint straight into them). */
typedef struct {
    float *global, *prev, *foundation; /* (P) each */
    bool *have_foundation;
    double *acc_public;
} FlState;
void fl_state(Pipeline *pl, FlState *st);

/* Allocate every array of res for R rounds, n local clients and P parameters, filled
 * with NaN (the store module reads results back into the same shapes). */
void fl_result_alloc(MethodResult *res, size_t R, size_t n, size_t P);

/* Allocate and initialize res for a method (arrays as the method needs, budgets). */
void fl_result_init(Pipeline *pl, const MethodSpec *spec, MethodResult *res);
/* Run one method into res (from fl_result_init, or read back from a checkpoint when
 * resume != NULL, with the pipeline state restored through fl_state). Returns 0, or
 * FA_STOPPED when it checkpointed and stopped on request. Collective. */
int fl_run_method(Pipeline *pl, const MethodSpec *spec, MethodResult *res, const FlCursor *resume,
                  const FlHooks *hooks);
void fl_result_free(MethodResult *res);

/* The phase-1 client sequence (same on every rank); *order_out is malloc'ed (N). */
size_t fl_ring_order(const Config *c, size_t **order_out);
/* Test hook: run phase 1 alone from the initialization; visit_log (n_local) gets each
 * local client's position in the first pass (-1 if not visited). Collective. */
void fl_ring_test(Pipeline *pl, int64_t *visit_log, uint64_t *checksum);

#endif
