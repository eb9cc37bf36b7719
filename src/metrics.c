/*
 * metrics.c: per-class recall and macro-F1 from confusion counts (metrics.h has the
 * convention for classes without support or without predictions).
 *
 * Nothing here is summed in floating point across clients: the pooled matrix is an
 * integer sum (exact, associative), so the metrics do not depend on ranks or threads.
 */
#include "fedalign/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/check.h"
#include "fedalign/comm.h"

double metrics_macro_f1(const int64_t *conf, size_t k, double *recall) {
    double sum = 0.0;
    size_t used = 0;
    for (size_t c = 0; c < k; c++) {
        int64_t support = 0, predicted = 0, tp = conf[c * k + c];
        for (size_t j = 0; j < k; j++) {
            support += conf[c * k + j];
            predicted += conf[j * k + c];
        }
        if (recall) recall[c] = support > 0 ? (double)tp / (double)support : nan("");
        if (support + predicted == 0) continue;
        sum += 2.0 * (double)tp / (double)(support + predicted);
        used++;
    }
    return used ? sum / (double)used : nan("");
}

void metrics_clients(const int64_t *conf, size_t n, size_t k, double *f1, double *recall) {
    for (size_t i = 0; i < n; i++)
        f1[i] = metrics_macro_f1(conf + i * k * k, k, recall ? recall + i * k : NULL);
}

double metrics_pooled(const int64_t *conf, size_t n, size_t k, size_t *pooled, double *recall) {
    const size_t kk = k * k;
    int64_t *sum = xcalloc(kk ? kk : 1, sizeof *sum);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < kk; j++) sum[j] += conf[i * kk + j];
    if (comm_is_initialized()) comm_allreduce_sum_i64(sum, kk);
    for (size_t j = 0; j < kk; j++) pooled[j] = (size_t)sum[j];
    double f1 = metrics_macro_f1(sum, k, recall);
    free(sum);
    return f1;
}
