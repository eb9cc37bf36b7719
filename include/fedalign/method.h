/*
 * method.h: the method seam. What differs between federated methods is one row of the
 * method table (src/method.c), not branches across the phases:
 *   client objective  plain loss, or proximal (FedProx: + mu/2 |w - phi|^2);
 *   server weight     training rows / uniform (--fedavg-uniform), or the dual criterion
 *                     s_t * max(c, theta_t) (round.h, FaWeightRule);
 *   server step       how the aggregated update moves the global model;
 *   phases            which phase-2 procedure runs (federated rounds or local-only
 *                     training) and which personalization (phase 3) follows it;
 *   options           which Fed-Meta-Align parts exist (ring, ablations);
 *   robust rule       the robust-aggregation methods gather every accepted update to
 *                     rank 0 and aggregate them there (robust.h) instead of server_step;
 *   client state      the personalized methods (personal_fl.h) keep a per-client model
 *                     beside the global one: hooks around each client's local training
 *                     and after the server step.
 * Adding a method: one FaMethod value and name (config.h/config.c), one row here, and
 * its tests. docs/architecture.md shows where the seam sits in the data flow.
 */
#ifndef FEDALIGN_METHOD_H
#define FEDALIGN_METHOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedalign/config.h"
#include "fedalign/model.h"
#include "fedalign/robust.h"
#include "fedalign/round.h"
#include "fedalign/server_opt.h"

typedef struct Pipeline Pipeline;
typedef struct MethodResult MethodResult;
typedef struct MethodSpec MethodSpec;
typedef struct FlHooks FlHooks;

typedef struct {
    FaMethod id;
    bool proximal;   /* client objective: + mu/2 |w - phi|^2 (--mu) */
    bool dual;       /* server weight: the dual criterion (--ablate similarity turns it off) */
    bool ring;       /* phase 1: the meta-initialization ring (--ablate phase1 turns it off) */
    bool foundation; /* phase 0 always (--ablate phase0 turns it off); otherwise --init */
    /* phase 2 from round round0 (0 = the start); FA_STOPPED after a requested stop */
    int (*phase2)(Pipeline *pl, const MethodSpec *ms, MethodResult *res, size_t round0,
                  const FlHooks *hooks);
    /* phase 3 (personalization when ms->personalize; evaluation of the final models) */
    void (*phase3)(Pipeline *pl, const MethodSpec *ms, MethodResult *res);
    /* the server step on rank 0 (NULL: no server) */
    void (*server_step)(const RoundBuf *b, float *out, const float *base, double alpha);
    /* robust aggregation (FA_ROBUST_NONE: the round's weighted sums and server_step) */
    FaRobust robust;
    /* server optimizers and drift correction (server_opt.h, scaffold.c) */
    FaServerOpt sopt;      /* != NONE: server_opt_step with its state replaces server_step */
    bool scaffold;         /* SCAFFOLD's control variates and corrected local steps */
    bool in_default_suite; /* a row of `fedalign suite` without --methods */
    /* personalized FL (personal_fl.h; all NULL/false for the other methods) */
    bool client_state; /* MethodResult.client_state (n_local x P) while the method runs */
    /* a selected client's model w before its local training (from phi^r) */
    void (*client_begin)(Pipeline *pl, size_t i, float *w);
    /* the local training itself (NULL: train_local with the method's objective) */
    void (*client_train)(Pipeline *pl, size_t i, uint64_t round, const TrainOpts *opts, int tid,
                         float *w, TrainStats *ts);
    /* after it, before its update is accumulated; tid: the thread's workspace */
    void (*client_end)(Pipeline *pl, size_t i, uint64_t round, const TrainOpts *opts, int tid,
                       float *w);
    /* rank 0, after the server step: phi^{r+1} in pl->global, phi^r in pl->prev */
    void (*server_post)(Pipeline *pl);
} MethodDef;

/* The row of method m (every FaMethod has one). */
const MethodDef *method_def(FaMethod m);
/* The round's aggregation rule for a method with dual (similarity) on or off. */
RoundRule method_round_rule(const Config *c, bool dual);
/* The robust rule of method m with its parameters from c (rule FA_ROBUST_NONE: none). */
RobustParams method_robust_params(const Config *c, FaMethod m);

#endif
