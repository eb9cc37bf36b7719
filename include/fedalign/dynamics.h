/*
 * dynamics.h: server-dynamics diagnostics of a federated run (docs/algorithm.md,
 * "Server dynamics"). A period-2 limit cycle (the server overshoots, the next round's
 * updates point back) shows as a lag-1 autocorrelation near -1 of each client's cosine to
 * the round's mean update, and as consecutive global updates pointing in opposite
 * directions (their cosine near -1). Pure functions: no MPI, no allocation.
 */
#ifndef FEDALIGN_DYNAMICS_H
#define FEDALIGN_DYNAMICS_H

#include <stdbool.h>
#include <stddef.h>

/* A method is flagged as in a 2-cycle when the mean lag-1 autocorrelation of its clients'
 * cosines, or the mean cosine between consecutive global updates, is below this. */
#define FA_TWO_CYCLE_THRESHOLD (-0.5)

/* Lag-1 autocorrelation of the series x[0], x[stride], ..., x[(R-1) stride]: the sample
 * mean and variance over its finite values, the lag-1 sum over consecutive pairs that are
 * both finite (a client not selected in a round is a gap). NaN with fewer than 3 finite
 * values, no finite pair, or no variance. */
double dyn_lag1(const double *x, size_t R, size_t stride);

/* Mean of the finite values of x[0..n); NaN when there are none. */
double dyn_mean_finite(const double *x, size_t n);

/* The 2-cycle verdict from the two summaries (NaN counts as no evidence). */
bool dyn_two_cycle(double client_cos_lag1, double update_cos_mean);

#endif
