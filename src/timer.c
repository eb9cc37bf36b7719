/*
 * timer.c: CLOCK_MONOTONIC wall clock and per-phase accumulators (HPCG TICK/TOCK).
 */
#include "fedalign/timer.h"

#include <time.h>

const char *const fa_timer_names[FA_T_COUNT] = {
    "setup", "phase0", "ring", "train", "aggregate", "comm", "personalize", "eval", "io", "total"};

double timer_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void timers_reset(Timers *t) {
    for (int i = 0; i < FA_T_COUNT; i++) {
        t->acc[i] = 0.0;
        t->start[i] = -1.0;
        t->first[i] = -1.0;
        t->last[i] = -1.0;
    }
}

void timer_start(Timers *t, FaTimer which) {
    double now = timer_now();
    t->start[which] = now;
    if (t->first[which] < 0.0) t->first[which] = now;
}

void timer_stop(Timers *t, FaTimer which) {
    if (t->start[which] < 0.0) return;
    double now = timer_now();
    t->acc[which] += now - t->start[which];
    t->last[which] = now;
    t->start[which] = -1.0;
}
