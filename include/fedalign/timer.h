/*
 * timer.h: monotonic wall clock and per-phase accumulators.
 *
 * timer_now() is CLOCK_MONOTONIC, so this module needs no MPI; reductions over
 * ranks (min/avg/max) are done by comm_reduce_timers() in comm.c.
 */
#ifndef FEDALIGN_TIMER_H
#define FEDALIGN_TIMER_H

typedef enum {
    FA_T_SETUP,    /* data generation/loading, partition, allocation */
    FA_T_PHASE0,   /* foundation training on rank 0 */
    FA_T_RING,     /* phase-1 token ring, wall = max(end) - min(start) */
    FA_T_TRAIN,    /* local training in phase 2 (and local-only) */
    FA_T_AGG,      /* aggregation kernels (fixed-point sums, cosines, update) */
    FA_T_COMM,     /* broadcasts and reductions */
    FA_T_PERSONAL, /* phase-3 fine-tuning */
    FA_T_EVAL,     /* evaluation on val/test splits */
    FA_T_IO,       /* results file */
    FA_T_TOTAL,
    FA_T_COUNT
} FaTimer;

extern const char *const fa_timer_names[FA_T_COUNT];

typedef struct {
    double acc[FA_T_COUNT];   /* accumulated seconds */
    double start[FA_T_COUNT]; /* open interval start, or < 0 */
    double first[FA_T_COUNT]; /* first start time (for ring wall = max(end)-min(start)) */
    double last[FA_T_COUNT];  /* last end time */
} Timers;

double timer_now(void);
void timers_reset(Timers *t);
void timer_start(Timers *t, FaTimer which);
void timer_stop(Timers *t, FaTimer which);

#endif
