/*
 * server_opt.c: FedAvgM, FedAdam, FedYogi and FedAdagrad on rank 0 (server_opt.h).
 * One pass over the parameters in element order, in double: the same bits for any
 * number of ranks and threads, because the input sums are exact.
 */
#include "fedalign/server_opt.h"

#include <math.h>
#include <string.h>

#include "fedalign/aggregate.h"
#include "fedalign/check.h"

ServerOpt server_opt_from_config(const Config *c, FaServerOpt kind) {
    ServerOpt so = {.kind = kind,
                    .lr = c->server_lr,
                    .beta1 = c->server_beta1,
                    .beta2 = c->server_beta2,
                    .tau = c->server_tau};
    if (kind == FA_SOPT_AVGM) { /* --alpha keeps its meaning: it scales the (momentum) update */
        so.lr = c->alpha;
        so.beta1 = c->server_momentum;
    }
    return so;
}

size_t server_opt_state_per_param(FaServerOpt kind) {
    return kind == FA_SOPT_NONE ? 0 : kind == FA_SOPT_AVGM ? 1 : 2;
}

void server_opt_init(const ServerOpt *so, double *state, size_t n) {
    const size_t k = server_opt_state_per_param(so->kind);
    if (k == 0) return;
    memset(state, 0, n * sizeof(double));
    for (size_t i = 0; k == 2 && i < n; i++) state[n + i] = so->tau * so->tau;
}

/* Delta_i read from the exact sums as fl_apply_update reads them: Q + R/den are exact
 * conversions and one correctly rounded division, then an exact scaling by 2^-32. */
static inline double pseudo_grad(int64_t num, int64_t den, double dden) {
    const int64_t Q = num / den, R = num % den;
    return ldexp((double)Q + (double)R / dden, -FA_FIXED_BITS);
}

void server_opt_step(const ServerOpt *so, double *state, float *global, const int64_t *num,
                     int64_t den, size_t n) {
    if (den <= 0) return; /* no update this round: the moments wait too */
    CHECK(den < (INT64_C(1) << 53), "update denominator %lld out of range", (long long)den);
    const double dden = (double)den, b1 = so->beta1, b2 = so->beta2, lr = so->lr;
    double *m = state, *v = state + n;
    switch (so->kind) {
    case FA_SOPT_AVGM:
        for (size_t i = 0; i < n; i++) {
            m[i] = b1 * m[i] + pseudo_grad(num[i], den, dden);
            global[i] = (float)((double)global[i] + lr * m[i]);
        }
        break;
    case FA_SOPT_ADAM:
    case FA_SOPT_YOGI:
    case FA_SOPT_ADAGRAD:
        for (size_t i = 0; i < n; i++) {
            const double d = pseudo_grad(num[i], den, dden), d2 = d * d;
            m[i] = b1 * m[i] + (1.0 - b1) * d;
            if (so->kind == FA_SOPT_ADAM) v[i] = b2 * v[i] + (1.0 - b2) * d2;
            else if (so->kind == FA_SOPT_YOGI) /* sign(0) = 0: v stays */
                v[i] = v[i] - (1.0 - b2) * d2 * (double)((v[i] > d2) - (v[i] < d2));
            else v[i] = v[i] + d2;
            global[i] = (float)((double)global[i] + lr * m[i] / (sqrt(v[i]) + so->tau));
        }
        break;
    default: CHECK(0, "server_opt_step: no server optimizer %d", (int)so->kind);
    }
}
