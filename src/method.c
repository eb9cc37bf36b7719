/*
 * method.c: the method table (method.h), one row per FaMethod.
 */
#include "fedalign/method.h"

#include "fedalign/check.h"
#include "personal_fl.h"
#include "pipeline.h"

static const MethodDef methods[FA_METHOD_COUNT] = {
    [FA_METHOD_FEDMETAALIGN] = {.id = FA_METHOD_FEDMETAALIGN,
                                .dual = true,
                                .ring = true,
                                .foundation = true,
                                .phase2 = phase2_rounds,
                                .phase3 = phase3_from_global,
                                .server_step = round_server_step,
                                .in_default_suite = true},
    [FA_METHOD_FEDAVG] = {.id = FA_METHOD_FEDAVG,
                          .phase2 = phase2_rounds,
                          .phase3 = phase3_from_global,
                          .server_step = round_server_step,
                          .in_default_suite = true},
    [FA_METHOD_FEDPROX] = {.id = FA_METHOD_FEDPROX,
                           .proximal = true,
                           .phase2 = phase2_rounds,
                           .phase3 = phase3_from_global,
                           .server_step = round_server_step,
                           .in_default_suite = true},
    [FA_METHOD_LOCAL] = {.id = FA_METHOD_LOCAL,
                         .phase2 = phase2_local,
                         .phase3 = phase3_local,
                         .in_default_suite = true},
    /* server optimizers: the FedAvg round, then a stateful step on the pseudo-gradient */
    [FA_METHOD_FEDAVGM] = {.id = FA_METHOD_FEDAVGM,
                           .phase2 = phase2_rounds,
                           .phase3 = phase3_from_global,
                           .sopt = FA_SOPT_AVGM},
    [FA_METHOD_FEDADAM] = {.id = FA_METHOD_FEDADAM,
                           .phase2 = phase2_rounds,
                           .phase3 = phase3_from_global,
                           .sopt = FA_SOPT_ADAM},
    [FA_METHOD_FEDYOGI] = {.id = FA_METHOD_FEDYOGI,
                           .phase2 = phase2_rounds,
                           .phase3 = phase3_from_global,
                           .sopt = FA_SOPT_YOGI},
    [FA_METHOD_FEDADAGRAD] = {.id = FA_METHOD_FEDADAGRAD,
                              .phase2 = phase2_rounds,
                              .phase3 = phase3_from_global,
                              .sopt = FA_SOPT_ADAGRAD},
    /* drift correction: corrected local steps, the FedAvg server step with --alpha */
    [FA_METHOD_SCAFFOLD] = {.id = FA_METHOD_SCAFFOLD,
                            .phase2 = phase2_rounds,
                            .phase3 = phase3_from_global,
                            .server_step = round_server_step,
                            .scaffold = true},
/* robust aggregation: FedAvg's clients, the updates gathered to rank 0 (robust.h) */
#define ROBUST(m, rule)                                                                            \
    [m] = {.id = m, .phase2 = phase2_rounds, .phase3 = phase3_from_global, .robust = rule}
    ROBUST(FA_METHOD_MEDIAN, FA_ROBUST_MEDIAN),
    ROBUST(FA_METHOD_TRIMMEDMEAN, FA_ROBUST_TRIMMED),
    ROBUST(FA_METHOD_KRUM, FA_ROBUST_KRUM),
    ROBUST(FA_METHOD_MULTIKRUM, FA_ROBUST_MULTIKRUM),
    ROBUST(FA_METHOD_FLTRUST, FA_ROBUST_FLTRUST),
#undef ROBUST
    /* personalized FL (personal_fl.h): FedAvg's global model plus per-client state */
    [FA_METHOD_DITTO] = {.id = FA_METHOD_DITTO,
                         .phase2 = phase2_personal,
                         .phase3 = phase3_personal,
                         .server_step = round_server_step,
                         .client_state = true,
                         .client_end = ditto_client_end},
    [FA_METHOD_FEDPER] = {.id = FA_METHOD_FEDPER,
                          .phase2 = phase2_personal,
                          .phase3 = phase3_personal,
                          .server_step = round_server_step,
                          .client_state = true,
                          .client_begin = fedper_client_begin,
                          .client_end = fedper_client_end,
                          .server_post = fedper_server_post},
    [FA_METHOD_PERFEDAVG] = {.id = FA_METHOD_PERFEDAVG,
                             .phase2 = phase2_perfedavg,
                             .phase3 = phase3_perfedavg,
                             .server_step = round_server_step,
                             .client_train = perfedavg_client_train},
};

const MethodDef *method_def(FaMethod m) {
    CHECK((int)m >= 0 && m < FA_METHOD_COUNT && methods[m].phase2, "no method table row for %d",
          (int)m);
    return &methods[m];
}

RoundRule method_round_rule(const Config *c, bool dual) {
    RoundRule rr = {0};
    rr.weight = dual ? FA_WEIGHT_DUAL : c->fedavg_uniform ? FA_WEIGHT_UNIFORM : FA_WEIGHT_ROWS;
    rr.mean_reference = dual && c->reference == FA_REF_MEAN;
    rr.dynamics = c->dynamics;
    rr.floor_c = c->floor_c;
    rr.deadline = c->deadline;
    rr.clip = c->clip;
    rr.attack = c->attack;
    rr.attack_scale = c->attack_scale;
    return rr;
}

RobustParams method_robust_params(const Config *c, FaMethod m) {
    RobustParams p = {.rule = method_def(m)->robust,
                      .trim_frac = c->trim_frac,
                      .krum_f = c->krum_f,
                      .krum_m = c->krum_m};
    return p;
}
