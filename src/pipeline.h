/*
 * pipeline.h (private to the fl*.c and method.c files): the Pipeline every phase works
 * on, and the phase functions the method table (method.c) points to.
 *
 * Shapes: P = parameters, C = clients (global), n = clients on this rank.
 * Everything is allocated once by fl_setup; the round loop allocates nothing.
 */
#ifndef FEDALIGN_PIPELINE_H
#define FEDALIGN_PIPELINE_H

#include <math.h>

#include "fedalign/fl.h"
#include "fedalign/method.h"
#include "fedalign/round.h"

/* shuffle-stream "round" ids per phase, so phases never share a stream */
#define FA_ROUND_P1 (UINT64_C(1) << 40)
#define FA_ROUND_P3 (UINT64_C(1) << 41)
#define FA_ROUND_LOCAL (UINT64_C(1) << 42)
#define FA_ROUND_ROOT (UINT64_C(1) << 43) /* + r: FLTrust's root training in round r */
#define FA_ROUND_DITTO (UINT64_C(1) << 44) /* + r: Ditto's personal training in round r */
#define FA_ROUND_ADAPT (UINT64_C(1) << 45) /* Per-FedAvg's one-step adaptation (phase 3) */
#define FA_CLIENT_PUBLIC (UINT64_C(1) << 62)

struct Pipeline {
    const Config *cfg;
    FedData fd;
    ModelLayout L;
    size_t P;
    int rank, size, nthreads;
    bool over_clients; /* OpenMP threads take whole clients (else split the batch) */
    Workspace *ws;     /* (nthreads) */
    float *tmodel;     /* (nthreads, P) client model scratch */
    float *global;     /* (P) phi on every rank after each broadcast */
    float *prev;       /* (P) previous global (for the "prev" reference) */
    float *ref;        /* (P) the previous global update (reference "prev", dynamics) */
    float *mean;       /* (P) the round's mean update (second pass of two-pass rules) */
    float *token;      /* (P + 1) ring token: model and visit counter */
    float *init;       /* (P) random initialization incl. standardization */
    float *foundation; /* (P) phase-0 model, computed once per process */
    bool have_foundation;
    double acc_public;       /* foundation on held-out public rows (rank 0, then bcast) */
    RoundBuf rb;             /* the round's accumulators */
    RoundStore st;           /* stored deltas: allocated by the first method that needs them
                             * (the dual criterion with the mean reference) */
    double refnorm2;         /* |ref|^2 of the previous-update reference, once per round */
    ClientUpdate *cu;        /* (n) what each local client sent this round */
    unsigned char *sel;      /* (n) selected this round */
    uint64_t *hash;          /* (n) checksum of each client's final model */
    size_t flash;            /* int8 model data bytes (same for every client) */
    double *speed;           /* (n) device speed factor (time multiplier) */
    unsigned char *attacker; /* (n) */
    Timers t;
    /* test hook (tests/e2e/test_watchdog.sh): FEDALIGN_TEST_FREEZE=RANK:ROUND makes that
     * rank stop itself (SIGSTOP) at the start of that phase-2 round, a frozen rank on cue */
    int freeze_rank;
    size_t freeze_round; /* 0 = off */
    /* personalized FL (personal_fl.h): the running method's MethodResult.client_state
     * (n_local x P), NULL for the other methods; head_off: FedPer's first head coordinate */
    float *cstate;
    size_t head_off;
    float *pscratch; /* (nthreads, P) Per-FedAvg's inner model w~, while it runs */
};

static inline double fa_nan(void) { return nan(""); }

/* fl_phases.c: the kernels and phases outside the federated round */
void kern_eval_clients(Pipeline *pl, const float *params, bool use_val, double *acc_out,
                       int64_t cnt[3]);
void kern_personalize(Pipeline *pl, const float *start, size_t stride, const TrainOpts *opts,
                      uint64_t round, bool train, double *acc_out, float *models_out,
                      double *int8_out);
void phase0(Pipeline *pl);
void phase1(Pipeline *pl, int64_t *visit_log);

/* fl_round.c: phase 2 of a federated method */
int phase2_rounds(Pipeline *pl, const MethodSpec *ms, MethodResult *res, size_t round0,
                  const FlHooks *hooks);
/* fl_phases.c: local-only training (no server), and phase 3 of each kind of method */
int phase2_local(Pipeline *pl, const MethodSpec *ms, MethodResult *res, size_t round0,
                 const FlHooks *hooks);
void phase3_from_global(Pipeline *pl, const MethodSpec *ms, MethodResult *res);
/* phase 3 from per-client starts start + i * stride (stride 0: one start for all) */
void phase3_from(Pipeline *pl, const MethodSpec *ms, MethodResult *res, const float *start,
                 size_t stride);
void phase3_local(Pipeline *pl, const MethodSpec *ms, MethodResult *res);

/* fl.c: checkpoint at a boundary (phase, round = the cursor to resume from) */
void fl_checkpoint(Pipeline *pl, const FlHooks *h, MethodResult *res, int phase, size_t round);

#endif
