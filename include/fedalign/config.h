/*
 * config.h: the one Config struct, its defaults, presets, argv parsing and
 * validation (XSBench read_CLI, llm.c error_usage).
 *
 * Every rank parses the same argv, so no broadcast is needed. config_parse()
 * and config_validate() never exit: they return a message, and main() turns it
 * into one clear error on rank 0 and a non-zero exit on every rank.
 */
#ifndef FEDALIGN_CONFIG_H
#define FEDALIGN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fedalign/data.h"
#include "fedalign/isa.h"
#include "fedalign/model.h"
#include "fedalign/opttab.h"
#include "fedalign/quant.h"

/* --watchdog default: a rank silent this long at an agreement point ends the job (a
 * frozen rank would otherwise hold the allocation until the Slurm time limit) */
#define FA_WATCHDOG_DEFAULT 900.0

typedef enum { FA_CMD_RUN = 0, FA_CMD_SUITE, FA_CMD_DATA, FA_CMD_HELP } FaCommand;

typedef enum {
    FA_METHOD_FEDMETAALIGN = 0,
    FA_METHOD_FEDAVG,
    FA_METHOD_FEDPROX,
    FA_METHOD_LOCAL,
    /* robust aggregation (issue 16 part B; robust.h): every accepted update is gathered
     * to rank 0, which aggregates them in client order */
    FA_METHOD_MEDIAN,
    FA_METHOD_TRIMMEDMEAN,
    FA_METHOD_KRUM,
    FA_METHOD_MULTIKRUM,
    FA_METHOD_FLTRUST,
    /* server optimizers (Reddi et al. 2021; Hsu et al. 2019) and drift correction */
    FA_METHOD_FEDAVGM,
    FA_METHOD_FEDADAM,
    FA_METHOD_FEDYOGI,
    FA_METHOD_FEDADAGRAD,
    FA_METHOD_SCAFFOLD,
    /* personalized FL (issue 16 part C; personal_fl.h): per-client state beside the global
     * model (Ditto's personal models, FedPer's heads), checkpointed */
    FA_METHOD_DITTO,
    FA_METHOD_FEDPER,
    FA_METHOD_PERFEDAVG, /* the meta-learning baseline: Per-FedAvg, first-order */
    FA_METHOD_COUNT
} FaMethod;

extern const char *const fa_method_names[FA_METHOD_COUNT];

/* Fed-Meta-Align ablations (bit flags for --ablate) */
#define FA_ABLATE_PHASE0 1u
#define FA_ABLATE_PHASE1 2u
#define FA_ABLATE_SIMILARITY 4u

typedef enum { FA_SCORE_ACC = 0, FA_SCORE_LOSS, FA_SCORE_PREACC } FaScore; /* s_t */
typedef enum { FA_REF_MEAN = 0, FA_REF_PREV } FaReference;                 /* theta_t */
typedef enum { FA_INIT_RANDOM = 0, FA_INIT_FOUNDATION } FaInit;
typedef enum {
    FA_ATTACK_NONE = 0,
    FA_ATTACK_SIGNFLIP,
    FA_ATTACK_SCALE,
    FA_ATTACK_NOISE,
    FA_ATTACK_NAN
} FaAttack;
typedef enum { FA_THREADS_AUTO = 0, FA_THREADS_CLIENTS, FA_THREADS_BATCH } FaThreadsOver;
/* --assign: which rank holds which client (results do not depend on it) */
typedef enum { FA_ASSIGN_BLOCK = 0, FA_ASSIGN_BALANCED } FaAssign;
/* phase 3: keep the epoch with the best validation accuracy, or train a fixed count */
typedef enum { FA_P3_VAL = 0, FA_P3_FIXED } FaP3Select;
/* --client-batch: train groups of clients per SIMD pass where the local step is plain
 * train_local (train_batched.h): auto where the build's group kernel is the faster one
 * (FA_GROUP_MIN_AUTO lanes or more), on wherever it applies, off never; the same bits */
typedef enum { FA_CBATCH_AUTO = 0, FA_CBATCH_OFF, FA_CBATCH_ON } FaClientBatch;
extern const FaEnum fa_enum_client_batch;

/* The name table of each word-valued enum (value i is named names[i]): the parser, the
 * printed configuration and --help all use these. fa_enum_method's names are
 * fa_method_names; fa_enum_late names the bool late_discount (drop = 0, discount = 1). */
extern const FaEnum fa_enum_method, fa_enum_preset, fa_enum_score, fa_enum_reference, fa_enum_init,
    fa_enum_attack, fa_enum_threads_over, fa_enum_late, fa_enum_optimizer, fa_enum_assign;
/* --int8-weights: FaInt8Weights names (per-channel, per-tensor) */
extern const FaEnum fa_enum_int8_weights;
/* --model: FaModelKind (model.h) */
extern const FaEnum fa_enum_model;

typedef struct {
    FaCommand command;
    char preset[16]; /* tiny|small|paper|large */
    uint64_t seed;

    /* data */
    DataSpec data;
    size_t clients; /* N */

    /* model */
    ModelShape shape;    /* n_in/n_out filled from the data */
    char hidden_str[64]; /* "64,32" */
    char conv_str[64];   /* cnn1d conv blocks "16:7,32:5" (shape.conv_ch/conv_k) */

    /* local training (phase 2, local-only, personalization share optimizer settings) */
    TrainOpts local; /* Adam, lr, batch, epochs per round, mu */

    /* phase 0 */
    double p0_epochs;
    double p0_lr;
    /* phase 1 */
    double p1_frac; /* fraction of each client's train data in its P1 slice */
    double p1_epochs;
    size_t p1_passes;
    bool ring_perm;      /* seeded permutation instead of id order */
    size_t ring_clients; /* 0 = all */
    /* phase 2 */
    size_t rounds;
    double client_frac; /* fraction of clients selected per round */
    double alpha;       /* server learning rate */
    bool dynamics;      /* record the server-dynamics cosines (docs/algorithm.md) */
    double floor_c;     /* c in max(c, theta) */
    FaScore score;
    FaReference reference;
    bool fedavg_uniform; /* FedAvg unweighted instead of by samples */
    /* phase 3 */
    bool personalize;
    double p3_epochs; /* the budget (val) or the epoch count (fixed) */
    double p3_lr;
    FaP3Select p3_select; /* --p3-select */
    size_t p3_patience;   /* epochs without a better val accuracy before stopping (0 = off) */
    bool int8;            /* int8-quantize every final client model and report its accuracy */
    FaInt8Weights int8_weights; /* --int8-weights: per-channel or per-tensor weight scales */

    /* client faults and attackers (deterministic from the seed) */
    double dropout;      /* per-round probability that a selected client drops out */
    double speed_spread; /* device speed factors ~ lognormal(0, spread) */
    double deadline;     /* round deadline in simulated device seconds (0 = none) */
    bool late_discount;  /* late updates: applied with weight * deadline/time, else dropped */
    int attack;          /* FA_ATTACK_* */
    double attack_frac;  /* fraction of clients that attack */
    double attack_scale; /* scale / noise multiplier of the attack */
    double clip;         /* per-client update-norm bound (0 = off) */

    /* method selection */
    FaMethod method;
    unsigned ablate;   /* FA_ABLATE_* */
    FaInit init;       /* baselines: random or phase-0 foundation init */
    double target_acc; /* report rounds/seconds to reach it; 0 = off */
    /* robust aggregation (robust.h) */
    double trim_frac; /* trimmed mean: fraction cut at each end per coordinate */
    size_t krum_f;    /* Krum / Multi-Krum: assumed Byzantine clients f */
    size_t krum_m;    /* Multi-Krum: updates averaged (0 = accepted - f) */
    /* personalized FL (personal_fl.h) */
    double ditto_lambda;       /* Ditto: lambda of the personal models' lambda/2 |v - phi|^2 */
    size_t fedper_head_layers; /* FedPer: last dense layers kept per client (0 = FedAvg) */
    double perfedavg_alpha;    /* Per-FedAvg: inner and personalization step size alpha */

    /* execution */
    FaThreadsOver threads_over;
    FaAssign assign; /* clients to ranks: contiguous blocks or balanced by training rows */
    FaClientBatch client_batch; /* client-batched local training: auto, off, on */
    int threads;     /* 0 = OMP default */
    FaIsa isa;       /* kernels' ISA path (isa.h); auto = FEDALIGN_ISA or the fastest */
    bool verbose;
    bool quiet;      /* results and errors only (report.h) */
    double watchdog; /* seconds a rank may be silent at an agreement point (0 = off) */

    /* output, checkpoints */
    char out_path[FA_PATH_LEN];    /* results file; "" = results/<cmd>_<job or time>.h5 */
    bool overwrite;                /* replace an existing results file */
    size_t ckpt_every;             /* checkpoint every K phase-2 rounds (0 = phase ends only) */
    char ckpt_path[FA_PATH_LEN];   /* checkpoint file; "" = <out_path>.ckpt */
    char resume_path[FA_PATH_LEN]; /* continue from this checkpoint */
    size_t stop_after_round;       /* checkpoint and stop after this phase-2 round (0 = off) */
    size_t stop_before_phase; /* checkpoint and stop when a method reaches phase 1..3 (0 = off) */
    bool save_models;         /* store every personalized model [C, P] */

    /* server optimizers (fedavgm, fedadam, fedyogi, fedadagrad; --alpha is FedAvgM's and
     * SCAFFOLD's server learning rate) */
    double server_lr;       /* eta of FedAdam/FedYogi/FedAdagrad: per-coordinate step */
    double server_beta1;    /* first-moment decay */
    double server_beta2;    /* second-moment decay (FedAdam, FedYogi) */
    double server_tau;      /* adaptivity tau in m / (sqrt(v) + tau) */
    double server_momentum; /* FedAvgM's beta */
    /* suite: comma list of suite row names, "all", or "" = the default suite */
    char methods[1024];

    /* data command */
    bool describe;
    char export_dir[FA_PATH_LEN];

    /* the command line (argv[1..], '\n'-separated): stored in results files so that
     * `fedalign export --results` can rebuild a client's data */
    char cmdline[4096];

    /* bookkeeping for printing: which flags the user set */
    char dataset_str[FA_PATH_LEN + 8];
    char partition_str[FA_NAME_LEN + 16];
} Config;

/* Defaults = preset "small". */
void config_defaults(Config *c);
/* Apply a preset's sizes; returns false for an unknown name. */
bool config_apply_preset(Config *c, const char *name);
/* Parse argv (argv[1] is the command run, suite or data; also records cmdline). Returns 0
 * (command FA_CMD_HELP for --help), or -1 with a message in err. */
int config_parse(Config *c, int argc, char **argv, char *err, size_t errlen);
/* Parse run/suite/data flags alone, argv[0..argc) with no program or command word (a
 * stored command line, `bench ... -- FLAGS`). Returns 0, OPT_HELP, or -1 with a message. */
int config_parse_options(Config *c, int argc, char *const argv[], char *err, size_t errlen);
/* The option table of run/suite/data over c, for commands that accept these flags among
 * their own (export): put it after the command's own OptSet in an OptSpec. */
OptSet config_option_set(Config *c);
/* Range and consistency checks independent of the data; -1 with a message naming the flag. */
int config_validate(const Config *c, char *err, size_t errlen);
/* The options part of the usage text, with live defaults (the usage line and the command
 * list are printed from main.c's command table before it). */
void config_usage(FILE *out);
/* Print the effective configuration as a boxed two-column table. */
void config_print(const Config *c, FILE *out);

/* Visit every configuration value as (name, text) pairs: used by config_print and
 * by the results file, so both always list the same keys. */
typedef void (*ConfigVisitor)(void *ctx, const char *key, const char *value);
void config_visit(const Config *c, ConfigVisitor fn, void *ctx);

/* Like config_visit, with each value's type from the option table as well (numbers as
 * numbers, flags as booleans, the rest as text): the results file's typed cfg.* keys. */
typedef void (*ConfigTypedVisitor)(void *ctx, const char *key, const OptValue *v,
                                   const char *text);
void config_visit_typed(const Config *c, ConfigTypedVisitor fn, void *ctx);

/* Like config_visit, but only the values that determine what the results file holds:
 * the options marked OPT_RESULTS (they change results) or OPT_WRITTEN (they change which
 * arrays are written, e.g. --save-models) in the option table; no output-path, checkpoint,
 * verbosity or threading flags. This is the config hash, so a resume must match it. */
void config_visit_results(const Config *c, ConfigVisitor fn, void *ctx);

/* The comma-separated names of the options that change results (OPT_RESULTS), the keys
 * that analysis/report.py groups runs by; stored in every results file as result_keys. */
const char *config_result_keys(void);

/* Parse "64,32" into shape->hidden; returns false on a bad list. */
bool config_parse_hidden(const char *s, ModelShape *shape);
/* Parse "16:7,32:5" (channels:kernel per cnn1d block) into shape->conv_ch/conv_k/n_conv;
 * returns false on a bad list. */
bool config_parse_conv(const char *s, ModelShape *shape);

#endif
