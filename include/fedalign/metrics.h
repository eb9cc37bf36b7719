/*
 * metrics.h: what fault-diagnosis papers report next to accuracy, from exact integer
 * confusion counts: per-class recall and macro-F1, per client and pooled over clients.
 *
 * Counts are int64 and pooled with an exact integer sum (comm_allreduce_sum_i64), and
 * every value is one fixed formula of the counts, so the metrics are bit-identical for
 * any number of ranks and threads. A confusion matrix is [true * K + predicted].
 *
 * Convention (docs/results-format.md): for class c with support s_c (row sum),
 * predictions p_c (column sum) and tp_c = conf[c][c]:
 *   recall_c = tp_c / s_c, NaN when s_c = 0 (no test row of the class: undefined);
 *   F1_c     = 2 tp_c / (s_c + p_c), which is 0 when the class is never predicted but
 *              present, and 0 when it is predicted but absent (false positives count);
 *   macro-F1 = mean of F1_c over the classes with s_c + p_c > 0 (a class neither
 *              present nor predicted says nothing and is left out); NaN when none.
 */
#ifndef FEDALIGN_METRICS_H
#define FEDALIGN_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* recall (k, may be NULL) and the macro-F1 of one k x k confusion matrix */
double metrics_macro_f1(const int64_t *conf, size_t k, double *recall);

/* Per client i < n: f1[i] and recall[i * k .. i * k + k) from conf[i * k * k ..]. */
void metrics_clients(const int64_t *conf, size_t n, size_t k, double *f1, double *recall);

/* The n local matrices summed, then summed over every rank (collective when MPI is
 * initialized): pooled (k * k counts, as size_t), its recall (k) and macro-F1. */
double metrics_pooled(const int64_t *conf, size_t n, size_t k, size_t *pooled, double *recall);

#endif
