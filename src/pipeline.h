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
#include "fedalign/train_batched.h"

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
    GroupWs *gw;       /* (nthreads) the client-batched kernels' scratch (train_batched.h,
                        * eval_batched.h) when fl_client_batch_lanes > 0, else NULL */
    size_t *eorder;    /* (2, n) with gw: the local clients by test rows, then by val rows
                        * (fl_client_order), the order of kern_eval_clients' groups */
    float *tmodel;     /* (nthreads, P) client model scratch */
    float *global;     /* (P) phi on every rank after each broadcast */
    float *prev;       /* (P) previous global (for the "prev" reference) */
    float *ref;        /* (P) the previous global update (reference "prev", dynamics) */
    float *mean;       /* (P) the round's mean update (second pass of two-pass rules) */
    float *token;      /* (P + 2) ring token: model, visit counter, progress slot */
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
    int64_t *conf;           /* (n, K, K) each client's test confusion counts from the last
                              * evaluation that kept per-client accuracies (metrics.h) */
    size_t flash;            /* int8 model data bytes (same for every client) */
    double *speed;           /* (n) device speed factor (time multiplier) */
    unsigned char *attacker; /* (n) */
    Timers t;
    /* method state (server_opt.c, scaffold.c): allocated by fl_setup, reset when a method's
     * phase 2 starts, checkpointed while it runs */
    double *sstate;    /* (2P) server optimizer moments, or SCAFFOLD's c (rank 0's holds) */
    size_t sstate_len; /* doubles of sstate the method in phase 2 uses (0 = none) */
    float *cvar;       /* (n, P) SCAFFOLD client control variates c_i (NULL: no SCAFFOLD) */
    bool cvar_live;    /* cvar belongs to the method in phase 2 */
    float *cglob;      /* (P) SCAFFOLD's c as float, on every rank after each broadcast */
    float *cscr;       /* (nthreads, 2P) SCAFFOLD scratch: c - c_i, then the new c_i */
    int64_t *cacc;     /* (nthreads, P) exact sums of the c_i deltas, then (P) their sum */
    bool *cok;         /* (nthreads) no overflow in cacc */
    double *rtrain;        /* (rounds) this rank's local-training seconds of round r */
    size_t rtrain_from;    /* first round timed by this process (a resume starts later) */
    double rows_imbalance; /* max / mean over ranks of training rows held (fl_setup) */
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
/* What kern_personalize trains on each client, in order: `pre` (local-only's own
 * training; NULL = none) from the seeds of round pre_round, then phase 3 `p3` (NULL =
 * none) from FA_ROUND_P3, keeping the best validation epoch when `select`. The per-client
 * chosen epoch and epochs trained go to epoch_best / epochs_run (NULL = not wanted). */
typedef struct {
    const TrainOpts *pre;
    uint64_t pre_round;
    const TrainOpts *p3;
    bool select;
    size_t patience;
    double *epoch_best, *epochs_run;
} PersonalizePlan;
/* client i starts from start + i * stride (stride 0: one start for all, P: one each) */
void kern_personalize(Pipeline *pl, const float *start, size_t stride, const PersonalizePlan *plan,
                      double *acc_out, float *models_out, double *int8_out);
void phase0(Pipeline *pl);
void phase1(Pipeline *pl, int64_t *visit_log);

/* fl_round.c: clients per group of client-batched local training (train_batched.h), 0 = one
 * client at a time: --client-batch on, or auto with a kernel of FA_GROUP_MIN_AUTO lanes or
 * more, when threads take whole clients or there is one thread (threads that split each
 * mini-batch are faster on one client at a time) */
size_t fl_client_batch_lanes(const Pipeline *pl);
/* Whether a group of m <= G clients goes through the group kernel: always under
 * --client-batch on; under auto only a full group, because a lane left empty costs as much
 * as a full one (at 16 lanes the group kernel beats one client at a time only from about
 * 11 clients on: docs/performance.md), so the last, partial group trains per client. */
bool fl_group_batched(const Pipeline *pl, size_t G, size_t m);
/* The local clients in order of their rows of one split (0 train, 1 val, 2 test), ties by
 * index, into order (n). The group kernels take consecutive clients of this order: a group
 * runs as many steps (rows) as its largest client, and clients' sizes vary several-fold
 * under the label-skewed partitions, so groups of neighbours in size leave few lanes idle.
 * A client's bits do not depend on its group, and the round's sums are exact integers, so
 * the order changes no result. */
void fl_client_order(const Pipeline *pl, int split, size_t *order);

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

/* scaffold.c: SCAFFOLD's control variates (docs/algorithm.md) */
void scaffold_alloc(Pipeline *pl);
void scaffold_free(Pipeline *pl);
/* zero every c_i and c (the start of SCAFFOLD's phase 2) */
void scaffold_reset(Pipeline *pl);
/* round start: c from rank 0 (sstate) to every rank as float; thread sums zeroed.
 * Collective. */
void scaffold_begin_round(Pipeline *pl);
/* client i's corrected local training of w (from phi^r); its new c_i waits in thread
 * tid's scratch. Returns false when c_i's delta is not acceptable (the update is then
 * rejected like a non-finite one). */
bool scaffold_train(Pipeline *pl, size_t i, float *w, const TrainOpts *o, uint64_t round, int tid,
                    TrainStats *ts);
/* after client i's update was aggregated: its c_i delta into thread tid's exact sums, and
 * c_i = the new one */
void scaffold_commit(Pipeline *pl, size_t i, int tid);
/* round end: the exact sum of the c_i deltas to rank 0 (one Reduce of P int64), and
 * c += sum / N there. Collective. */
void scaffold_end_round(Pipeline *pl, Timers *t);
/* fl_round.c: the per-rank training times of rounds [pl->rtrain_from, upto) into
 * res->round_train_max/mean and train_imbalance (collective) */
void fl_reduce_train_times(Pipeline *pl, MethodResult *res, size_t upto);

/* fl.c: checkpoint at a boundary (phase, round = the cursor to resume from) */
void fl_checkpoint(Pipeline *pl, const FlHooks *h, MethodResult *res, int phase, size_t round);

#endif
