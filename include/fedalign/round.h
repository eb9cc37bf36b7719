/*
 * round.h: one federated round, server side and client side (docs/architecture.md).
 *
 * A round of phase 2 is, on every rank:
 *   client_update()      per selected client: faults, local training, score, and
 *                        round_accumulate() of its update into the thread's accumulator;
 *   round_second_pass()  only for the dual criterion with the mean-update reference:
 *                        the mean of the stored deltas (one Allreduce), then cosines,
 *                        weights and the weighted sums;
 *   round_finish()       per-client scalars into the named RoundScalars, one Reduce of
 *                        the P update sums and the scalars to rank 0, the scalars back to
 *                        every rank; rank 0 then takes the server step (round_apply_update).
 * Every sum over clients is an int64 fixed-point sum (aggregate.h), so the round is
 * bit-identical for any assignment of clients to ranks and threads.
 *
 * The same functions serve the runs (fl.c) and `fedalign bench aggregate`, so the
 * benchmark times the production path.
 */
#ifndef FEDALIGN_ROUND_H
#define FEDALIGN_ROUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedalign/config.h"
#include "fedalign/rng.h"
#include "fedalign/timer.h"

/* aggregation weights are quantized to this grid (integers q_t = round(u_t * 2^12))
 * so that equal weights reduce to unweighted FedAvg bit for bit */
#define FA_WEIGHT_BITS 12

/* per client and round status bits (rc_status in results files) */
#define FA_ST_SELECTED 1u     /* selected for the round */
#define FA_ST_DROPPED 2u      /* dropped out (--dropout) */
#define FA_ST_LATE 4u         /* missed the deadline (--deadline) */
#define FA_ST_DISCOUNTED 8u   /* late but applied with weight * deadline / time */
#define FA_ST_REJECTED 16u    /* update not finite or out of range: never aggregated */
#define FA_ST_CLIPPED 32u     /* update norm clipped (--clip) */
#define FA_ST_ATTACKER 64u    /* this client attacks (--attack) */
#define FA_ST_AGGREGATED 128u /* its update entered the server sum */

/* an update element beyond this magnitude is rejected like a non-finite one */
#define FA_UPDATE_MAX 1.0e4

/* How the server weighs a client's update (the method seam, method.h). */
typedef enum {
    FA_WEIGHT_ROWS,    /* q_t = training rows (FedAvg, FedProx) */
    FA_WEIGHT_UNIFORM, /* q_t = 1 (--fedavg-uniform) */
    FA_WEIGHT_DUAL,    /* q_t = quantized s_t * max(c, theta_t) (Fed-Meta-Align) */
} FaWeightRule;

/* What one round's aggregation does, fixed for a method and a configuration. */
typedef struct {
    FaWeightRule weight;
    bool mean_reference; /* DUAL only: theta_t against the round's mean update (two passes,
                          * deltas stored); else against the previous global update */
    bool dynamics;       /* record every client's cosine to the round's mean update and to the
                          * previous global update, whatever the weight (two passes) */
    double floor_c;      /* c in max(c, theta_t) */
    double deadline;     /* simulated device seconds (0 = none) */
    double clip;         /* L2 bound on every update (0 = off) */
    FaAttack attack;     /* what the attackers send (--attack) */
    double attack_scale;
    bool general_only; /* test hook: never take a fast path (same bits by contract) */
} RoundRule;

/* What the server learns about one client in one round. */
typedef struct {
    uint32_t status; /* FA_ST_* */
    int64_t q;       /* integer weight q_t (0 = not aggregated) */
    double theta;    /* cosine to the reference (NaN = not computed) */
    double score;    /* s_t (NaN = not computed) */
    double loss;     /* mean local training loss (NaN = not trained) */
    double time;     /* simulated device seconds of the local training (NaN = not selected) */
    double cos_mean; /* cosine to the round's mean update (RoundRule.dynamics; NaN = none) */
    double cos_prev; /* cosine to the previous global update (RoundRule.dynamics; NaN = none) */
} ClientUpdate;

/* A selected client before its update: status bits, device time, score; the rest NaN/0. */
static inline ClientUpdate client_update_init(uint32_t status, double score, double loss,
                                              double time) {
    const double nan = __builtin_nan("");
    return (ClientUpdate){.status = status,
                          .q = 0,
                          .theta = nan,
                          .score = score,
                          .loss = loss,
                          .time = time,
                          .cos_mean = nan,
                          .cos_prev = nan};
}

/* Whether a rule stores every delta and takes two passes (the mean of the round's updates
 * is needed before any weight or cosine): the dual criterion with the mean reference, and
 * any rule with dynamics on. */
static inline bool round_two_pass(const RoundRule *rr) {
    return (rr->weight == FA_WEIGHT_DUAL && rr->mean_reference) || rr->dynamics;
}

/* The scalars that travel with the P update sums in the round's one Reduce. Every field
 * is an int64 sum over clients (fixed-point where noted), so the struct is packed into
 * the buffer as it is: adding a field is one line here. */
typedef struct {
    int64_t den;       /* sum q_t */
    int64_t correct;   /* eval of phi^r: correct predictions */
    int64_t rows;      /* eval of phi^r: test rows */
    int64_t loss;      /* eval of phi^r: fixed sum of clamped loss * rows / 1024 */
    int64_t qcos;      /* sum q_t * theta_t / 4096 (fixed) */
    int64_t selected;  /* clients aggregated */
    int64_t trainloss; /* sum of clamped mean local training losses (fixed) */
    int64_t stop;      /* ranks asking to stop (a signal arrived) */
    int64_t rejected;  /* updates rejected (non-finite / out of range) */
    int64_t dropped;   /* clients that dropped out */
    int64_t late;      /* clients that missed the deadline */
} RoundScalars;
#define ROUND_NSCALARS (sizeof(RoundScalars) / sizeof(int64_t))

/* The per-round accumulators of one rank: one row of P + ROUND_NSCALARS int64 per thread
 * and their sum. Allocated once; a round allocates nothing. */
typedef struct {
    size_t P;
    int nthreads;
    int64_t *tacc;   /* (nthreads, P + ROUND_NSCALARS) */
    int64_t *acc;    /* (P + ROUND_NSCALARS): the sums, then rank 0's reduced sums */
    bool *tok;       /* (nthreads) no overflow so far */
    double *tagg;    /* (nthreads) seconds of aggregation work per thread */
    RoundScalars x;  /* after round_finish: the reduced scalars, on every rank */
    double watchdog; /* seconds (--watchdog) a rank may be silent before the Reduce (0 = off) */
    size_t round;    /* the round, for the watchdog's message */
} RoundBuf;

/* index of a RoundScalars field in the slots after the P sums */
#define ROUND_SLOT(field) (offsetof(RoundScalars, field) / sizeof(int64_t))

void round_buf_init(RoundBuf *b, size_t P, int nthreads);
void round_buf_free(RoundBuf *b);
/* Zero every thread's accumulator, overflow flag and aggregation time. */
void round_begin(RoundBuf *b);
/* The accumulator row of thread tid. */
static inline int64_t *round_thread_acc(RoundBuf *b, int tid) {
    return b->tacc + (size_t)tid * (b->P + ROUND_NSCALARS);
}

/* Stored deltas of the two-pass path (round_two_pass), per local client. */
typedef struct {
    float *delta;  /* (n, P) */
    double *norm2; /* (n) |delta_t|^2 from the first pass */
    size_t *alist; /* (n) scratch: the clients aggregated in the second pass */
} RoundStore;

/* The aggregation part of a client's round, from its trained model: delta_t = model - global
 * is written to w (w may be model: in place; with a stored row the delta goes there). On
 * entry u->status holds FA_ST_SELECTED and maybe FA_ST_LATE/FA_ST_ATTACKER, u->time the
 * device time and u->score s_t. Fills u->status, u->q, u->theta and u->cos_prev and
 * accumulates into thread tid's row (the time spent goes to b->tagg[tid]).
 * rows: training rows; fr: the client's fault stream (noise attack); ref/refnorm2: the
 * previous global update (DUAL without the mean reference, and dynamics); stored and
 * stored_norm2: the client's delta row and its |delta|^2 when round_two_pass(rr) (the
 * first pass then accumulates weight 1, for the mean), else NULL. The fast paths (one
 * fused pass where the weight is known before the delta, one pass with the cosine for the
 * previous-update reference) give the same bits as the general path. */
void round_accumulate(RoundBuf *b, int tid, const RoundRule *rr, ClientUpdate *u,
                      const float *model, float *w, const float *global, const float *ref,
                      double refnorm2, size_t rows, Rng *fr, float *stored, double *stored_norm2);

/* Second pass of round_two_pass rules: mean = mean of the accepted deltas (one Allreduce
 * of P + 1 int64), then cos_mean, theta_t, q_t and the weighted sums of every aggregated
 * client in u (n). Collective. */
void round_second_pass(RoundBuf *b, const RoundRule *rr, ClientUpdate *u, size_t n,
                       const RoundStore *st, float *mean, bool over_clients, Timers *t);

/* The local part of round_second_pass, after the Allreduce: b->acc holds the round's sums
 * of the accepted deltas (P) and their count (b->acc[P]); writes mean, then cos_mean,
 * theta_t, q_t and the weighted sums into the threads' accumulators (zeroed first), up to
 * FA_MULTI_MAX clients per sweep. Not collective. */
void round_weigh_stored(RoundBuf *b, const RoundRule *rr, ClientUpdate *u, size_t n,
                        const RoundStore *st, float *mean, bool over_clients);

/* Sum the threads' accumulators into b->acc; an overflow on any rank fails every rank the
 * same way. Collective. */
void round_sum_threads(RoundBuf *b);

/* End of the round: per-client scalars of u (n) and the evaluation counts cnt (correct,
 * rows, fixed loss) into RoundScalars, the one Reduce of P + ROUND_NSCALARS int64 to rank 0
 * and the scalars back to every rank (b->x). The update sums are valid on rank 0 only.
 * Collective. */
void round_finish(RoundBuf *b, const ClientUpdate *u, size_t n, bool dual, const int64_t cnt[3],
                  bool stop_requested, Timers *t);
/* The server step on rank 0 (weighted mean with server learning rate alpha):
 * out = base + alpha * sum(q_t delta_t) / sum(q_t) (out may be base: the runs update the
 * global model in place); nothing when no update was aggregated. */
void round_server_step(const RoundBuf *b, float *out, const float *base, double alpha);

/* Server update from exact sums: out[i] = base[i] + alpha * (num[i] / den) * 2^-32,
 * where num are int64 fixed-point sums of q_t * round(delta_t * 2^32) and den = sum q_t.
 * The value depends only on the rational num/den, so equal weights q reduce to the
 * unweighted mean bit for bit. */
void fl_apply_update(float *out, const float *base, const int64_t *num, int64_t den, double alpha,
                     size_t n);
/* Quantized weight q_t = llround(u * 2^FA_WEIGHT_BITS) for u in [0, 1]. */
int64_t fl_quantize_weight(double u);

#endif
