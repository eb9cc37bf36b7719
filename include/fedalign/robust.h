/*
 * robust.h: the rank-0 rules of the robust-aggregation methods (docs/algorithm.md,
 * "Robust aggregation"): coordinate-wise median and trimmed mean (Yin et al. 2018),
 * Krum and Multi-Krum (Blanchard et al. 2017), FLTrust (Cao et al. 2021).
 *
 * These rules need every client's update at one place: phase 2 gathers the accepted
 * updates (after faults, attacks, clipping and the bound check) to rank 0 in global
 * client order (fl_round.c, comm_gatherv_floats), and rank 0 calls robust_aggregate.
 * Every rule ends in exact fixed-point sums num (P) and an integer denominator, the same
 * form as the round's Reduce (round.h), so the server step is fl_apply_update and the
 * result depends only on the updates and their order, never on ranks or threads:
 * the threads of robust_aggregate split coordinates or client pairs, and each value is
 * computed by one thread in a fixed order.
 * No MPI, no I/O; the buffers are allocated once per phase 2 (robust_buf_init).
 */
#ifndef FEDALIGN_ROBUST_H
#define FEDALIGN_ROBUST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    FA_ROBUST_NONE = 0,  /* the round's exact weighted sums (FedAvg, FedProx, Fed-Meta-Align) */
    FA_ROBUST_MEDIAN,    /* coordinate-wise median */
    FA_ROBUST_TRIMMED,   /* coordinate-wise trimmed mean (--trim-frac) */
    FA_ROBUST_KRUM,      /* the one update with the best Krum score (--krum-f) */
    FA_ROBUST_MULTIKRUM, /* the mean of the --krum-m best Krum scores */
    FA_ROBUST_FLTRUST,   /* ReLU(cos) trust to the server's root update, norms to its norm */
} FaRobust;

typedef struct {
    FaRobust rule;
    double trim_frac; /* TRIMMED: k = floor(trim_frac * m) cut at each end (k <= (m - 1) / 2) */
    size_t krum_f;    /* KRUM, MULTIKRUM: f; a score sums the max(m - f - 2, 1) nearest */
    size_t krum_m;    /* MULTIKRUM: updates averaged (0 = m - f; at least 1, at most m) */
} RobustParams;

/* Rank 0's buffers for up to cap updates of P parameters. */
typedef struct {
    size_t cap, P;
    int nthreads;
    float *U;       /* (cap, P) the gathered updates, in client order */
    int64_t *num;   /* (P) exact sums of the aggregate */
    double *weight; /* (cap) each update's share of the aggregate (sums to 1) */
    double *cosv;   /* (cap) FLTrust: cosine to the root update (else NaN) */
    float *root;    /* (P) FLTrust: the root model, then the root update g_0 */
    double *dist;   /* (cap, cap) KRUM, MULTIKRUM: squared distances */
    void *scratch;  /* per thread: sort keys of one coordinate, and weight counts */
} RobustBuf;

/* Bytes rank 0 holds for a rule with C clients and P parameters (the run's memory
 * estimate, runctl.c): O(C * P) for the updates, O(C^2) for Krum's distances. */
double robust_rank0_bytes(FaRobust rule, size_t C, size_t P, int nthreads);
void robust_buf_init(RobustBuf *b, FaRobust rule, size_t cap, size_t P, int nthreads);
void robust_buf_free(RobustBuf *b);

/* Aggregate the m updates b->U[0..m) (client order) by p->rule into b->num and *den,
 * so that the server step is fl_apply_update(out, base, b->num, *den, alpha, P); *den = 0
 * means no step (no update, or FLTrust trusts none). g0 (P) is the FLTrust root update
 * (NULL for the other rules). Fills b->weight[0..m) and b->cosv[0..m). Returns false
 * when an exact sum leaves the fixed-point range. Rank 0 only; OpenMP inside. */
bool robust_aggregate(RobustBuf *b, const RobustParams *p, size_t m, const float *g0, int64_t *den);

#endif
