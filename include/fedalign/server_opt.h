/*
 * server_opt.h: server optimizers on the round's pseudo-gradient (docs/algorithm.md,
 * "Server optimizers"): FedAvgM (Hsu et al. 2019) and FedAdam, FedYogi, FedAdagrad
 * (Reddi et al. 2021, Adaptive Federated Optimization, Algorithm 2).
 *
 * The pseudo-gradient is the round's exact weighted mean update
 * Delta = sum(q_t delta_t) / sum(q_t), read from the int64 sums as fl_apply_update reads
 * them (a function of the rational num/den only). The step runs on rank 0 in double, in
 * element order, so it is deterministic; its state (moments) lives beside the global
 * model in one contiguous double buffer and is checkpointed (runctl.c).
 */
#ifndef FEDALIGN_SERVER_OPT_H
#define FEDALIGN_SERVER_OPT_H

#include <stddef.h>
#include <stdint.h>

#include "fedalign/config.h"

typedef enum {
    FA_SOPT_NONE = 0, /* the weighted mean with --alpha (round_server_step) */
    FA_SOPT_AVGM,     /* m = beta m + Delta;               x += alpha m */
    FA_SOPT_ADAM,     /* v = b2 v + (1 - b2) Delta^2 */
    FA_SOPT_YOGI,     /* v = v - (1 - b2) Delta^2 sign(v - Delta^2) */
    FA_SOPT_ADAGRAD,  /* v = v + Delta^2 */
} FaServerOpt;

/* The hyperparameters of a step, from the configuration. */
typedef struct {
    FaServerOpt kind;
    double lr;    /* alpha (FedAvgM) or eta (adaptive) */
    double beta1; /* adaptive: m = beta1 m + (1 - beta1) Delta; FedAvgM: the momentum */
    double beta2;
    double tau;
} ServerOpt;

ServerOpt server_opt_from_config(const Config *c, FaServerOpt kind);
/* doubles of state per parameter: m (and v for the adaptive ones) */
size_t server_opt_state_per_param(FaServerOpt kind);
/* The state at the start of phase 2: m = 0 and, for the adaptive ones, v = tau^2
 * (Reddi et al.: v_{-1} >= tau^2). state holds server_opt_state_per_param(kind) * n. */
void server_opt_init(const ServerOpt *so, double *state, size_t n);
/* One step on rank 0: x = global (n floats) moved by the pseudo-gradient
 * Delta_i = (num_i / den) 2^-32; nothing (state untouched) when den == 0. With
 * FA_SOPT_AVGM, beta1 = 0 and lr = 1 this is round_server_step at alpha 1 bit for bit. */
void server_opt_step(const ServerOpt *so, double *state, float *global, const int64_t *num,
                     int64_t den, size_t n);

#endif
