/*
 * dynamics.c: the server-dynamics diagnostics (dynamics.h).
 */
#include "fedalign/dynamics.h"

#include <math.h>

double dyn_mean_finite(const double *x, size_t n) {
    double s = 0.0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) {
            s += x[i];
            m++;
        }
    return m ? s / (double)m : nan("");
}

double dyn_lag1(const double *x, size_t R, size_t stride) {
    double s = 0.0;
    size_t m = 0;
    for (size_t r = 0; r < R; r++)
        if (isfinite(x[r * stride])) {
            s += x[r * stride];
            m++;
        }
    if (m < 3) return nan("");
    const double mu = s / (double)m;
    double var = 0.0, cov = 0.0;
    size_t pairs = 0;
    for (size_t r = 0; r < R; r++) {
        const double a = x[r * stride];
        if (!isfinite(a)) continue;
        var += (a - mu) * (a - mu);
        if (r + 1 < R && isfinite(x[(r + 1) * stride])) {
            cov += (a - mu) * (x[(r + 1) * stride] - mu);
            pairs++;
        }
    }
    /* relative to the values' scale: a constant series (FedAvg's weights) has no dynamics */
    if (!pairs || !(var > 1e-24 * (double)m * (1.0 + mu * mu))) return nan("");
    /* the usual estimator scaled for the number of pairs actually seen */
    return (cov / (double)pairs) / (var / (double)m);
}

bool dyn_two_cycle(double client_cos_lag1, double update_cos_mean) {
    return client_cos_lag1 < FA_TWO_CYCLE_THRESHOLD || update_cos_mean < FA_TWO_CYCLE_THRESHOLD;
}
