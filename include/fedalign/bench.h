/*
 * bench.h: `fedalign bench`, the systems micro-benchmarks (issue 6).
 *
 * Sub-benchmarks: peak (fp32 FMA rate and STREAM-like triad bandwidth, the ceilings),
 * train (local-training throughput of the default model), aggregate (similarity-aware
 * vs FedAvg aggregation vs a bare Allreduce of P floats), round (phase-2 round time and
 * framework overhead vs clients per rank), memory (bytes per simulated client), quant
 * (per-sample inference latency, float vs int8); one src/bench_<name>.c each.
 * Each one runs warm-up repetitions, then timed ones, and reports min / median / max in
 * a #-commented fixed-width table (OSU style) plus one `FEDALIGN_BENCH name=... k=v ...`
 * line per result on rank 0's stdout. Everything runs the real library code.
 * The pure helpers below (src/bench_common.c) are exposed for tests/unit/test_bench.c.
 */
#ifndef FEDALIGN_BENCH_H
#define FEDALIGN_BENCH_H

#include <stddef.h>

#include "fedalign/model.h"
#include "fedalign/opttab.h"

/* `fedalign bench [SUB...] [options] [-- run flags]`: argv[1] is "bench". Called by
 * main() right after comm_init() on every rank; collective over MPI_COMM_WORLD.
 * Returns the exit code (0 ok); bad options end every rank through fa_fail (code 2). */
int bench_main(int argc, char **argv);

/* The option table of `fedalign bench` and its sub-benchmark names (n of each), for the
 * generated shell completion. */
const OptDef *bench_option_table(size_t *n);
const char *const *bench_sub_names(size_t *n);

/* Order statistics of repeated measurements. */
typedef struct {
    size_t n;
    double min, median, max, mean;
} BenchStats;

/* Statistics of x[0..n), n >= 1 (n == 0 gives all NaN). x is sorted in place; the median
 * of an even count is the mean of the two middle values. */
void bench_stats(double *x, size_t n, BenchStats *out);

/* FLOPs of the forward pass of one sample: 2 * sum_l fan_in_l * fan_out_l (one
 * multiply-add = 2 FLOPs; bias, activation and softmax are not counted). */
double bench_flops_forward(const ModelLayout *L);

/* FLOPs of one training sample (forward + backward): forward 2 sum fi*fo, weight
 * gradients 2 sum fi*fo, errors propagated back through W_l for l >= 1 only (the input
 * layer needs no input gradient): 2 sum_{l>=1} fi*fo. The optimizer step is per batch,
 * not per sample, and is not counted. 6-64-32-6: 5248 + 5248 + 4480 = 14976. */
double bench_flops_train_sample(const ModelLayout *L);

/* Least-squares slope of y over x (n >= 2, x not all equal; NaN otherwise). */
double bench_slope(const double *x, const double *y, size_t n);

/* Parse a comma list of positive integers, each written as an integer or in exponent
 * form ("1000,1e4,2.5e3"), each in [1, max]. Returns the count (<= cap), or 0 when the
 * list is empty, malformed, out of range or longer than cap. */
size_t bench_parse_sizes(const char *s, size_t max, size_t *out, size_t cap);

#endif
