/*
 * fl.h: the Fed-Meta-Align pipeline and its baselines (docs/algorithm.md, docs/architecture.md).
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
#include "fedalign/result.h"
#include "fedalign/round.h"
#include "fedalign/timer.h"

/* simulated device compute rate for the deadline: samples per second at speed 1 */
#define FA_DEVICE_RATE 100.0
/* --threads-over auto with fewer clients than threads splits a mini-batch over the
 * threads only when each thread gets at least this many FA_CHUNK-row chunks of it
 * (batch >= 64 with 2 threads); otherwise each client gets one thread */
#define FA_SPLIT_MIN_CHUNKS 4

/* Method specs: the one --method/--ablate/--init/--no-personalize asks for, or the
 * list run by `fedalign suite`: the default rows (the methods marked in_default_suite in
 * the method table), every method's rows (--methods all), or the rows --methods names,
 * in its order (an unknown or repeated name fails on every rank with the list of valid
 * names). Returns the count written (<= cap). */
size_t fl_method_from_config(const Config *c, MethodSpec *out);
size_t fl_suite_methods(const Config *c, MethodSpec *out, size_t cap);
/* room for every row of `fedalign suite --methods all` */
#define FA_MAX_SUITE_METHODS 128
/* does the run (one method, or the suite's rows) include SCAFFOLD (its control variates)? */
bool fl_run_has_scaffold(const Config *c);

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
    double *server;                    /* (2P) server state: optimizer moments or SCAFFOLD's c */
    size_t *server_len;                /* doubles of it in use (0 = none) */
    float *client;     /* (n_local, P) SCAFFOLD's c_i, NULL when the run has no SCAFFOLD */
    bool *client_live; /* client belongs to the method in phase 2 */
    bool *have_foundation;
    double *acc_public;
} FlState;
void fl_state(Pipeline *pl, FlState *st);

/* Allocate and initialize res for a method (arrays as the method needs, budgets). */
void fl_result_init(Pipeline *pl, const MethodSpec *spec, MethodResult *res);
/* Run one method into res (from fl_result_init, or read back from a checkpoint when
 * resume != NULL, with the pipeline state restored through fl_state). Returns 0, or
 * FA_STOPPED when it checkpointed and stopped on request. Collective. */
int fl_run_method(Pipeline *pl, const MethodSpec *spec, MethodResult *res, const FlCursor *resume,
                  const FlHooks *hooks);

/* The phase-1 client sequence (same on every rank); *order_out is malloc'ed (N). */
size_t fl_ring_order(const Config *c, size_t **order_out);
/* Test hook: run phase 1 alone from the initialization; visit_log (n_local) gets each
 * local client's position in the first pass (-1 if not visited). Collective. */
void fl_ring_test(Pipeline *pl, int64_t *visit_log, uint64_t *checksum);

#endif
