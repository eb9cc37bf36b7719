/*
 * config.c: defaults, presets, the option table of run/suite/data, validation, usage
 * text and the configuration visitors.
 *
 * One table (fa_opts) describes every flag: its type, where it lives in Config, its
 * valid range, whether it affects results, and its help line. Parsing (opttab.c), --help,
 * the printed configuration, the results file's cfg.* attributes and the config hash are
 * all driven by it, so a new flag cannot be forgotten in one of them. Every word-valued
 * enum has one name table (fa_enum_*) used by the parser, the printer and the help text.
 */
#include "fedalign/config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/check.h"

// ----------------------------------------------------------------------------
// name tables (value i is names[i]; the enums in config.h and model.h count from 0)

/* after local: the robust-aggregation methods (robust.h), the server optimizers and drift
 * correction (server_opt.h), then personalized FL (personal_fl.h), in the order of FaMethod */
const char *const fa_method_names[FA_METHOD_COUNT] = {
    "fedmetaalign", "fedavg",  "fedprox", "local",   "median",     "trimmedmean", "krum",
    "multikrum",    "fltrust", "fedavgm", "fedadam", "fedyogi",    "fedadagrad",  "scaffold",
    "ditto",        "fedper",  "perfedavg"};

#define ENUM_OF(names, descs)                                                                      \
    { names, descs, (int)(sizeof names / sizeof names[0]) }

static const char *const preset_names[] = {"tiny", "small", "paper", "large"};
static const char *const score_names[] = {"acc", "loss", "preacc"};
static const char *const score_descs[] = {"val acc after training", "1 - normalized val loss",
                                          "val acc before training"};
static const char *const reference_names[] = {"mean", "prev"};
static const char *const reference_descs[] = {"mean update", "previous global update"};
static const char *const init_names[] = {"random", "foundation"};
static const char *const init_descs[] = {"random weights", "phase-0 model"};
static const char *const attack_names[] = {"none", "signflip", "scale", "noise", "nan"};
static const char *const threads_over_names[] = {"auto", "clients", "batch"};
static const char *const late_names[] = {"drop", "discount"};
static const char *const late_descs[] = {"ignored", "weight * deadline / time"};
static const char *const optimizer_names[] = {"adam", "sgd"};
static const char *const assign_names[] = {"block", "balanced"};
static const char *const client_batch_names[] = {"auto", "off", "on"};
static const char *const client_batch_descs[] = {
    "full groups per SIMD pass with 8 or more lanes (AVX, AVX-512), the rest per client; mlp only", "one client at a time",
    "groups per SIMD pass at any width; mlp only (a cnn1d trains per client)"};
static const char *const assign_descs[] = {"contiguous id ranges", "greedy by training rows, LPT"};
static const char *const ablate_names[] = {"phase0", "phase1", "similarity"}; /* bit i */
static const char *const row_order_names[] = {"file", "shuffled"};
static const char *const row_order_descs[] = {"each class in file order",
                                              "seeded shuffle within each class"};
static const char *const input_names[] = {"features", "raw"};
static const char *const input_descs[] = {"features computed from each window",
                                          "the raw windows (d = window; for cnn1d)"};
static const char *const p3_select_names[] = {"val", "fixed"};
static const char *const p3_select_descs[] = {"best validation epoch, early stopping",
                                              "exactly --p3-epochs (the old behaviour)"};
static const char *const model_names[] = {"mlp", "cnn1d"};
static const char *const model_descs[] = {"dense layers on the features",
                                          "1D-CNN on raw windows: --conv, --pool, head --hidden"};

const FaEnum fa_enum_method = {fa_method_names, NULL, FA_METHOD_COUNT};
const FaEnum fa_enum_preset = ENUM_OF(preset_names, NULL);
/* --isa: FaIsa names (isa.h); isa.c names paths through it */
static const char *const isa_names[] = {"auto", "sse2", "avx2", "avx512"};
_Static_assert(sizeof isa_names / sizeof isa_names[0] == FA_ISA_COUNT, "one name per FaIsa");
const FaEnum fa_enum_isa = ENUM_OF(isa_names, NULL);
const FaEnum fa_enum_score = ENUM_OF(score_names, score_descs);
const FaEnum fa_enum_reference = ENUM_OF(reference_names, reference_descs);
const FaEnum fa_enum_init = ENUM_OF(init_names, init_descs);
const FaEnum fa_enum_attack = ENUM_OF(attack_names, NULL);
const FaEnum fa_enum_threads_over = ENUM_OF(threads_over_names, NULL);
const FaEnum fa_enum_late = ENUM_OF(late_names, late_descs);
const FaEnum fa_enum_optimizer = ENUM_OF(optimizer_names, NULL);
const FaEnum fa_enum_assign = ENUM_OF(assign_names, assign_descs);
const FaEnum fa_enum_client_batch = ENUM_OF(client_batch_names, client_batch_descs);
static const FaEnum ablate_enum = ENUM_OF(ablate_names, NULL);
static const FaEnum row_order_enum = ENUM_OF(row_order_names, row_order_descs);
static const FaEnum p3_select_enum = ENUM_OF(p3_select_names, p3_select_descs);
static const char *const int8_weights_names[] = {"per-channel", "per-tensor"};
static const char *const int8_weights_descs[] = {
    "one scale per output channel (TFLite Micro's int8 scheme)",
    "one scale per layer (Arm NN 20.08's fully-connected layer needs it)"};
const FaEnum fa_enum_int8_weights = ENUM_OF(int8_weights_names, int8_weights_descs);
_Static_assert(sizeof(FaInt8Weights) == sizeof(int) && FA_INT8_PER_CHANNEL == 0 &&
                   FA_INT8_PER_TENSOR == 1,
               "int8_weights_names[i] is value i, stored as int");
static const FaEnum input_enum = ENUM_OF(input_names, input_descs);
const FaEnum fa_enum_model = ENUM_OF(model_names, model_descs);

/* OPT_ENUM stores an int into these fields (opttab.c) */
_Static_assert(sizeof(FaScore) == sizeof(int) && sizeof(FaReference) == sizeof(int) &&
                   sizeof(FaInit) == sizeof(int) && sizeof(FaThreadsOver) == sizeof(int) &&
                   sizeof(FaMethod) == sizeof(int) && sizeof(FaOptimizer) == sizeof(int) &&
                   sizeof(FaAssign) == sizeof(int) && sizeof(FaRowOrder) == sizeof(int) &&
                   sizeof(FaP3Select) == sizeof(int) && sizeof(FaInput) == sizeof(int) &&
                   sizeof(FaModelKind) == sizeof(int),
               "enum fields must be int-sized");
_Static_assert(FA_ABLATE_PHASE0 == 1u && FA_ABLATE_PHASE1 == 2u && FA_ABLATE_SIMILARITY == 4u,
               "ablate_names[i] is bit i");

// ----------------------------------------------------------------------------
// defaults and presets

void config_defaults(Config *c) {
    memset(c, 0, sizeof *c);
    c->command = FA_CMD_RUN;
    c->seed = 1234;                        /* global seed */
    c->data.kind = FA_DATA_ELECTRICAL;     /* built-in electrical devices */
    c->data.gen.heterogeneity = 1.0;       /* default device spread */
    c->data.gen.window = 1024;             /* mechanical window */
    c->data.gen.severities = 3;            /* 10 mechanical classes */
    c->data.gen.spectral = true;           /* mechanical envelope features */
    c->data.part.kind = FA_PART_DIRICHLET; /* label skew */
    c->data.part.beta = 0.5;               /* Dirichlet concentration */
    c->data.part.quantity_sigma = 0.5;     /* quantity skew */
    c->data.part.min_per_client = 40;      /* rows per client at least */
    c->data.part.retry_cap = 100;          /* Dirichlet redraws before repair */
    c->data.split.val_frac = 0.15;
    c->data.split.test_frac = 0.25;
    c->data.split.block = false;
    c->data.public_frac = 0.15;
    c->data.perturb = 0.0;
    snprintf(c->hidden_str, sizeof c->hidden_str, "64,32");
    config_parse_hidden(c->hidden_str, &c->shape);
    c->shape.kind = FA_MODEL_MLP;
    /* cnn1d: about 2.8 MFLOP and 7 k parameters for a 1024 x 1 window and 10 classes with
     * the default head, small enough for a Cortex-M4 (docs/algorithm.md, "cnn1d") */
    snprintf(c->conv_str, sizeof c->conv_str, "16:7,32:5");
    config_parse_conv(c->conv_str, &c->shape);
    c->shape.pool = 2;
    c->local.opt = FA_OPT_ADAM;
    c->local.lr = 3e-3;
    c->local.beta1 = 0.9;
    c->local.beta2 = 0.999;
    c->local.eps = 1e-8;
    c->local.batch = 32;
    c->local.epochs = 1.0;
    c->local.mu = 0.01; /* FedProx only */
    c->p0_epochs = 5.0;
    c->p0_lr = 3e-3;
    c->p1_frac = 0.3;
    c->p1_epochs = 1.0;
    c->p1_passes = 1;
    c->ring_perm = false;
    c->ring_clients = 0;
    c->client_frac = 1.0;
    c->alpha = 1.0;
    c->dynamics = true;
    c->watchdog = FA_WATCHDOG_DEFAULT;
    c->floor_c = 0.1;
    c->score = FA_SCORE_ACC;
    c->reference = FA_REF_MEAN;
    c->fedavg_uniform = false;
    c->personalize = true;
    /* phase 3: what a practitioner runs on a small device (reasons: docs/algorithm.md,
     * "Why these defaults"); --p3-select fixed --p3-epochs 3 --p3-lr 1e-3 is the old one */
    c->p3_epochs = 20.0;
    c->p3_lr = 3e-3;
    c->p3_select = FA_P3_VAL;
    c->p3_patience = 5;
    c->int8 = true;
    c->int8_weights = FA_INT8_PER_CHANNEL;
    c->dropout = 0.0;
    c->speed_spread = 0.0;
    c->deadline = 0.0;
    c->late_discount = false;
    c->attack = FA_ATTACK_NONE;
    c->attack_frac = 0.0;
    c->attack_scale = 10.0;
    c->clip = 0.0;
    c->method = FA_METHOD_FEDMETAALIGN;
    c->ablate = 0;
    c->init = FA_INIT_RANDOM;
    c->target_acc = 0.0;
    c->trim_frac = 0.1; /* trimmed mean: 10 % cut at each end */
    c->krum_f = 1;      /* Krum: one Byzantine client assumed */
    c->krum_m = 0;      /* Multi-Krum: accepted - f updates */
    c->ditto_lambda = 0.1;      /* Ditto: from the paper's tuning grid */
    c->fedper_head_layers = 1;  /* FedPer: the last dense layer is the personal head */
    c->perfedavg_alpha = 0.01;  /* Per-FedAvg: the inner SGD step (our choice) */
    c->threads_over = FA_THREADS_AUTO;
    c->client_batch = FA_CBATCH_AUTO;
    c->server_lr = 0.01;      /* Reddi et al. 2021 tune eta in 10^[-3, 1]; see algorithm.md */
    c->server_beta1 = 0.9;    /* Reddi et al. 2021 */
    c->server_beta2 = 0.99;   /* Reddi et al. 2021 */
    c->server_tau = 1e-3;     /* Reddi et al. 2021 */
    c->server_momentum = 0.9; /* Hsu et al. 2019 */
    c->assign = FA_ASSIGN_BLOCK;
    snprintf(c->dataset_str, sizeof c->dataset_str, "electrical");
    snprintf(c->partition_str, sizeof c->partition_str, "dirichlet:0.5");
    config_apply_preset(c, "small");
}

bool config_apply_preset(Config *c, const char *name) {
    /* sizes of each preset, in the order of preset_names */
    static const struct {
        size_t clients, samples, public_samples, rounds, window;
        double p0_epochs;
    } sz[] = {{4, 400, 1600, 5, 256, 3},       /* tiny: tests */
              {10, 200, 4000, 20, 1024, 5},    /* small: the default (docs/reproducing.md, 0) */
              {10, 1500, 10000, 30, 1024, 10}, /* paper */
              {1000, 200, 20000, 50, 512, 5}}; /* large */
    _Static_assert(sizeof sz / sizeof sz[0] == sizeof preset_names / sizeof preset_names[0],
                   "one size row per preset name");
    int p = fa_enum_value(&fa_enum_preset, name);
    if (p < 0) return false;
    c->clients = sz[p].clients;
    c->data.samples_per_client = sz[p].samples;
    c->data.public_samples = sz[p].public_samples;
    c->rounds = sz[p].rounds;
    c->p0_epochs = sz[p].p0_epochs;
    c->data.gen.window = sz[p].window;
    snprintf(c->preset, sizeof c->preset, "%s", preset_names[p]);
    return true;
}

bool config_parse_hidden(const char *s, ModelShape *shape) {
    size_t n = 0;
    const char *p = s;
    if (strcmp(s, "none") == 0 || strcmp(s, "0") == 0) {
        shape->n_hidden = 0;
        return true;
    }
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > 4096 || n >= FA_MAX_HIDDEN) return false;
        shape->hidden[n++] = (size_t)v;
        if (*end == ',') end++;
        else if (*end) return false;
        p = end;
    }
    if (n == 0) return false;
    shape->n_hidden = n;
    return true;
}

bool config_parse_conv(const char *s, ModelShape *shape) {
    size_t n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long ch = strtol(p, &end, 10);
        if (end == p || *end != ':' || errno || ch < 1 || ch > 4096 || n >= FA_MAX_CONV)
            return false;
        p = end + 1;
        long k = strtol(p, &end, 10);
        if (end == p || errno || k < 1 || k > 1024) return false;
        shape->conv_ch[n] = (size_t)ch;
        shape->conv_k[n++] = (size_t)k;
        if (*end == ',') end++;
        else if (*end) return false;
        p = end;
    }
    if (n == 0) return false;
    shape->n_conv = n;
    return true;
}

// ----------------------------------------------------------------------------
// word-valued options with a structure of their own (KIND:VALUE, lists, paths)

static bool copy_str(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap) return false;
    memcpy(dst, src, n + 1);
    return true;
}

static int parse_preset(void *t, const char *v, char *err, size_t errlen) {
    if (config_apply_preset(t, v)) return 0;
    char list[128];
    fa_enum_list(&fa_enum_preset, list, sizeof list);
    return opt_fail(err, errlen, "--preset: unknown preset '%s' (expected %s)", v, list);
}
static const char *show_preset(const void *t, char *buf, size_t cap) {
    (void)buf, (void)cap;
    return ((const Config *)t)->preset;
}

static int parse_dataset(void *t, const char *v, char *err, size_t errlen) {
    Config *c = t;
    if (strcmp(v, "electrical") == 0) c->data.kind = FA_DATA_ELECTRICAL;
    else if (strcmp(v, "mechanical") == 0) c->data.kind = FA_DATA_MECHANICAL;
    else if (strncmp(v, "csv:", 4) == 0 && v[4]) {
        c->data.kind = FA_DATA_CSV;
        if (!copy_str(c->data.csv.path, sizeof c->data.csv.path, v + 4))
            return opt_fail(err, errlen, "--dataset: path too long");
    } else if (strncmp(v, "h5:", 3) == 0 && v[3]) { /* X, y (docs/byod.md, "HDF5 input") */
        c->data.kind = FA_DATA_H5;
        if (!copy_str(c->data.csv.path, sizeof c->data.csv.path, v + 3))
            return opt_fail(err, errlen, "--dataset: path too long");
    } else
        return opt_fail(
            err, errlen,
            "--dataset: unknown dataset '%s' (expected electrical, mechanical, csv:PATH or "
            "h5:PATH)",
            v);
    copy_str(c->dataset_str, sizeof c->dataset_str, v);
    return 0;
}
static const char *show_dataset(const void *t, char *buf, size_t cap) {
    (void)buf, (void)cap;
    return ((const Config *)t)->dataset_str;
}

static int parse_partition(void *t, const char *v, char *err, size_t errlen) {
    Config *c = t;
    if (strcmp(v, "iid") == 0) c->data.part.kind = FA_PART_IID;
    else if (strncmp(v, "dirichlet:", 10) == 0) {
        double b;
        if (!opt_parse_double(v + 10, &b) || !(b > 0.0) || b > 1e6)
            return opt_fail(err, errlen,
                            "--partition: Dirichlet beta must be a number > 0, got '%s'", v + 10);
        c->data.part.kind = FA_PART_DIRICHLET;
        c->data.part.beta = b;
    } else if (strncmp(v, "column:", 7) == 0 && v[7]) {
        c->data.part.kind = FA_PART_COLUMN;
        if (!copy_str(c->data.part.column, sizeof c->data.part.column, v + 7) ||
            !copy_str(c->data.csv.group_col, sizeof c->data.csv.group_col, v + 7))
            return opt_fail(err, errlen, "--partition: column name too long");
    } else
        return opt_fail(err, errlen,
                        "--partition: unknown partition '%s' (expected dirichlet:BETA, iid or "
                        "column:NAME)",
                        v);
    if (!copy_str(c->partition_str, sizeof c->partition_str, v))
        return opt_fail(err, errlen, "--partition: value too long");
    return 0;
}
static const char *show_partition(const void *t, char *buf, size_t cap) {
    (void)buf, (void)cap;
    return ((const Config *)t)->partition_str;
}

/* A number like any other, but remembered as given: the column partition refuses an
 * explicit skew (its client sizes are the data's) while the default stays harmless. */
static int parse_quantity(void *t, const char *v, char *err, size_t errlen) {
    Config *c = t;
    double q;
    if (!opt_parse_double(v, &q) || !(q >= 0.0 && q <= 3.0))
        return opt_fail(err, errlen, "--quantity-skew: expected a number in [0, 3], got '%s'", v);
    c->data.part.quantity_sigma = q;
    c->data.part.quantity_given = true;
    return 0;
}
static const char *show_quantity(const void *t, char *buf, size_t cap) {
    snprintf(buf, cap, "%g", ((const Config *)t)->data.part.quantity_sigma);
    return buf;
}

static int parse_public(void *t, const char *v, char *err, size_t errlen) {
    Config *c = t;
    if (strncmp(v, "csv:", 4) != 0 || !v[4])
        return opt_fail(err, errlen, "--public: expected csv:PATH, got '%s'", v);
    if (!copy_str(c->data.public_csv, sizeof c->data.public_csv, v + 4))
        return opt_fail(err, errlen, "--public: path too long");
    return 0;
}
static const char *show_public(const void *t, char *buf, size_t cap) {
    const Config *c = t;
    if (!c->data.public_csv[0]) return "(held-out rows)";
    snprintf(buf, cap, "csv:%s", c->data.public_csv);
    return buf;
}

static int parse_hidden(void *t, const char *v, char *err, size_t errlen) {
    Config *c = t;
    if (!config_parse_hidden(v, &c->shape) || !copy_str(c->hidden_str, sizeof c->hidden_str, v))
        return opt_fail(
            err, errlen,
            "--hidden: expected a comma list of up to %d widths in 1..4096 (or 'none'), "
            "got '%s'",
            FA_MAX_HIDDEN, v);
    return 0;
}
static const char *show_hidden(const void *t, char *buf, size_t cap) {
    (void)buf, (void)cap;
    return ((const Config *)t)->hidden_str;
}

static int parse_conv(void *t, const char *v, char *err, size_t errlen) {
    Config *c = t;
    ModelShape sh = c->shape; /* unchanged unless the whole list parses */
    if (!config_parse_conv(v, &sh) || !copy_str(c->conv_str, sizeof c->conv_str, v))
        return opt_fail(err, errlen,
                        "--conv: expected a comma list of up to %d CHANNELS:KERNEL blocks with "
                        "CHANNELS in 1..4096 and KERNEL in 1..1024, got '%s'",
                        FA_MAX_CONV, v);
    c->shape = sh;
    return 0;
}
static const char *show_conv(const void *t, char *buf, size_t cap) {
    (void)buf, (void)cap;
    return ((const Config *)t)->conv_str;
}

static int parse_ablate(void *t, const char *v, char *err, size_t errlen) {
    Config *c = t;
    char buf[128];
    if (!copy_str(buf, sizeof buf, v)) return opt_fail(err, errlen, "--ablate: list too long");
    c->ablate = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (strcmp(tok, "none") == 0) continue;
        int b = fa_enum_value(&ablate_enum, tok);
        if (b < 0) {
            char list[128];
            fa_enum_list(&ablate_enum, list, sizeof list);
            return opt_fail(err, errlen, "--ablate: unknown ablation '%s' (expected %s)", tok,
                            list);
        }
        c->ablate |= 1u << b;
    }
    return 0;
}
static const char *show_ablate(const void *t, char *buf, size_t cap) {
    const Config *c = t;
    if (!c->ablate) return "none";
    size_t used = 0;
    buf[0] = '\0';
    for (int b = 0; b < ablate_enum.n && used < cap; b++)
        if (c->ablate & (1u << b)) {
            int k = snprintf(buf + used, cap - used, "%s%s", used ? "," : "", ablate_names[b]);
            if (k < 0) break;
            used += (size_t)k;
        }
    return buf;
}

static int parse_attack(void *t, const char *v, char *err, size_t errlen) {
    Config *c = t;
    const char *colon = strchr(v, ':');
    char kind_s[16] = "";
    size_t kl = colon ? (size_t)(colon - v) : strlen(v);
    if (kl < sizeof kind_s) memcpy(kind_s, v, kl), kind_s[kl] = '\0';
    int kind = kl < sizeof kind_s ? fa_enum_value(&fa_enum_attack, kind_s) : -1;
    double f = 0.0;
    if (kind < 0 ||
        (kind > 0 && (!colon || !opt_parse_double(colon + 1, &f) || f < 0.0 || f > 1.0))) {
        const FaEnum kinds = {attack_names + 1, NULL, fa_enum_attack.n - 1}; /* all but none */
        char list[128];
        fa_enum_list(&kinds, list, sizeof list);
        return opt_fail(err, errlen,
                        "--attack: expected KIND:FRACTION with KIND %s and FRACTION in [0, 1] (or "
                        "none), got '%s'",
                        list, v);
    }
    c->attack = kind;
    c->attack_frac = kind ? f : 0.0;
    return 0;
}
static const char *show_attack(const void *t, char *buf, size_t cap) {
    const Config *c = t;
    if (c->attack == FA_ATTACK_NONE) return "none";
    snprintf(buf, cap, "%s:%g", fa_enum_name(&fa_enum_attack, c->attack), c->attack_frac);
    return buf;
}

// ----------------------------------------------------------------------------
// option table

/* R: changes results (config hash, report grouping); W: changes what the results file
 * holds (config hash only); X: an option of the data command, not a configuration value */
#define R OPT_RESULTS
#define W OPT_WRITTEN
#define X OPT_CMDONLY
#define F(f) .off = offsetof(Config, f), .size = sizeof(((Config *)0)->f)
#define NUM(nm, a, ty, fld, l, h, fl, g, hp)                                                       \
    {                                                                                              \
        .name = nm, .arg = a, .type = ty, F(fld), .lo = l, .hi = h, .flags = fl, .group = g,       \
        .help = hp                                                                                 \
    }
#define BOOL(nm, ty, fld, fl, g, hp)                                                               \
    { .name = nm, .type = ty, F(fld), .flags = fl, .group = g, .help = hp }
#define ENUM(nm, a, fld, e, fl, g, hp)                                                             \
    {                                                                                              \
        .name = nm, .arg = a, .type = OPT_ENUM, F(fld), .en = &e, .flags = fl, .group = g,         \
        .help = hp                                                                                 \
    }
#define STR(nm, a, fld, un, fl, g, hp)                                                             \
    {                                                                                              \
        .name = nm, .arg = a, .type = OPT_STR, F(fld), .unset = un, .flags = fl, .group = g,       \
        .help = hp                                                                                 \
    }
#define CUSTOM(nm, a, fn, e, fl, g, hp)                                                            \
    {                                                                                              \
        .name = nm, .arg = a, .type = OPT_CUSTOM, .parse = parse_##fn, .show = show_##fn, .en = e, \
        .flags = fl, .group = g, .help = hp                                                        \
    }
#define BIG 1e15

static const OptDef fa_opts[] = {
    CUSTOM("preset", "NAME", preset, &fa_enum_preset, R | OPT_FIRST, "Problem", "size preset"),
    CUSTOM("dataset", "KIND", dataset, NULL, R, "Problem",
           "electrical|mechanical|csv:PATH|h5:PATH"),
    NUM("clients", "N", OPT_SIZE, clients, 1, BIG, R, "Problem", "number of clients (devices)"),
    NUM("seed", "S", OPT_U64, seed, 0, 1.8e19, R, "Problem", "global seed"),
    NUM("samples", "N", OPT_SIZE, data.samples_per_client, 1, 1e9, R, "Problem",
        "generated data: mean rows per client"),
    NUM("public-samples", "N", OPT_SIZE, data.public_samples, 1, 1e9, R, "Problem",
        "generated data: rows of public (phase-0) data"),
    NUM("heterogeneity", "H", OPT_DOUBLE, data.gen.heterogeneity, 0, 3, R, "Problem",
        "spread of device parameters (0 = identical devices)"),
    NUM("window", "N", OPT_SIZE, data.gen.window, 64, 65536, R, "Problem",
        "mechanical: samples per vibration window"),
    NUM("severities", "N", OPT_SIZE, data.gen.severities, 1, 5, R, "Problem",
        "mechanical: severities per fault type (K = 1 + 3N)"),
    BOOL("no-spectral", OPT_NOFLAG, data.gen.spectral, R, "Problem",
         "mechanical: time-domain features only (no envelope-spectrum features)"),
    ENUM("input", "KIND", data.gen.input, input_enum, R, "Problem",
         "mechanical: what a row holds, the window's features or the raw window"),
    STR("label-cols", "A,B", data.csv.label_cols, "(last column)", R, "Problem",
        "csv: label column(s), joined when several"),
    STR("feature-cols", "A,B", data.csv.feature_cols, "(all others)", R, "Problem",
        "csv: feature columns"),
    CUSTOM("public", "SPEC", public, NULL, R, "Problem", "csv: public data csv:PATH"),
    NUM("public-frac", "F", OPT_DOUBLE, data.public_frac, 0.01, 0.9, R, "Problem",
        "csv: stratified held-out fraction used as public data"),
    NUM("perturb", "F", OPT_DOUBLE, data.perturb, 0, 5, R, "Problem",
        "csv: per-device sensor gain/offset/noise level"),
    CUSTOM("partition", "SPEC", partition, NULL, R, "Partition", "dirichlet:BETA|iid|column:NAME"),
    CUSTOM("quantity-skew", "SIGMA", quantity, NULL, R, "Partition",
           "client size weights ~ lognormal(0, SIGMA), 0..3 (not with column:NAME)"),
    NUM("min-samples", "N", OPT_SIZE, data.part.min_per_client, 1, 1e9, R, "Partition",
        "minimum rows per client"),
    NUM("val-frac", "F", OPT_DOUBLE, data.split.val_frac, 0.01, 0.5, R, "Partition",
        "validation fraction of each client's rows"),
    NUM("test-frac", "F", OPT_DOUBLE, data.split.test_frac, 0.01, 0.5, R, "Partition",
        "test fraction of each client's rows"),
    BOOL("block-split", OPT_FLAG, data.split.block, R, "Partition",
         "contiguous blocks per class instead of a random split (time series)"),
    ENUM("row-order", "KIND", data.part.row_order, row_order_enum, R, "Partition",
         "csv dirichlet: row order each class is cut in"),
    CUSTOM("hidden", "H1,H2", hidden, NULL, R, "Model",
           "hidden layer widths (cnn1d: of its dense head)"),
    ENUM("model", "KIND", shape.kind, fa_enum_model, R, "Model",
         "the model (cnn1d needs raw-window data)"),
    CUSTOM("conv", "C:K,C:K", conv, NULL, R, "Model",
           "cnn1d: conv blocks, CHANNELS:KERNEL each (valid padding, stride 1, ReLU, max-pool)"),
    NUM("pool", "N", OPT_SIZE, shape.pool, 1, 64, R, "Model",
        "cnn1d: max-pool size and stride after every conv block (1 = none)"),
    ENUM("optimizer", "NAME", local.opt, fa_enum_optimizer, R, "Training", "local optimizer"),
    NUM("lr", "LR", OPT_DOUBLE, local.lr, 1e-7, 10, R, "Training", "local learning rate"),
    NUM("batch", "B", OPT_SIZE, local.batch, 1, 65536, R, "Training", "mini-batch size"),
    NUM("local-epochs", "E", OPT_DOUBLE, local.epochs, 0.01, 1000, R, "Training",
        "local epochs per round"),
    NUM("mu", "MU", OPT_DOUBLE, local.mu, 0, 100, R, "Training", "FedProx proximal weight"),
    NUM("p0-epochs", "E", OPT_DOUBLE, p0_epochs, 0, 1000, R, "Phase 0",
        "foundation epochs on public data"),
    NUM("p0-lr", "LR", OPT_DOUBLE, p0_lr, 1e-7, 10, R, "Phase 0", "foundation learning rate"),
    NUM("p1-frac", "F", OPT_DOUBLE, p1_frac, 0.01, 1, R, "Phase 1",
        "fraction of each client's train data in its ring slice"),
    NUM("p1-epochs", "E", OPT_DOUBLE, p1_epochs, 0.01, 1000, R, "Phase 1",
        "epochs per client visit in the ring"),
    NUM("p1-passes", "N", OPT_SIZE, p1_passes, 1, 1000, R, "Phase 1", "passes of the token ring"),
    BOOL("ring-perm", OPT_FLAG, ring_perm, R, "Phase 1",
         "ring over a seeded permutation of clients (default: id order)"),
    NUM("ring-clients", "K", OPT_SIZE, ring_clients, 0, BIG, R, "Phase 1",
        "ring over K clients of a seeded sample (0 = all)"),
    NUM("rounds", "R", OPT_SIZE, rounds, 0, 1e7, R, "Phase 2", "federated rounds"),
    NUM("client-frac", "F", OPT_DOUBLE, client_frac, 1e-9, 1, R, "Phase 2",
        "fraction of clients selected per round"),
    NUM("alpha", "A", OPT_DOUBLE, alpha, 1e-6, 10, R, "Phase 2", "server learning rate"),
    NUM("floor", "C", OPT_DOUBLE, floor_c, 0, 1, R, "Phase 2",
        "floor c in max(c, theta) of the dual criterion"),
    ENUM("score", "KIND", score, fa_enum_score, R, "Phase 2", "s_t"),
    ENUM("reference", "KIND", reference, fa_enum_reference, R, "Phase 2", "cosine reference"),
    BOOL("fedavg-uniform", OPT_FLAG, fedavg_uniform, R, "Phase 2",
         "FedAvg/FedProx weights 1 instead of sample counts"),
    BOOL("no-dynamics", OPT_NOFLAG, dynamics, W, "Phase 2",
         "do not record the server-dynamics cosines (rc_cos_mean, rc_cos_prev): FedAvg, "
         "FedProx and --reference prev then aggregate in one pass with no extra Allreduce"),
    BOOL("no-personalize", OPT_NOFLAG, personalize, R, "Phase 3", "skip phase-3 personalization"),
    NUM("p3-epochs", "E", OPT_DOUBLE, p3_epochs, 0.01, 1000, R, "Phase 3",
        "personalization epoch budget (val) or epochs (fixed)"),
    NUM("p3-lr", "LR", OPT_DOUBLE, p3_lr, 1e-7, 10, R, "Phase 3", "personalization learning rate"),
    ENUM("p3-select", "MODE", p3_select, p3_select_enum, R, "Phase 3",
         "which personalization epoch each client keeps"),
    NUM("p3-patience", "N", OPT_SIZE, p3_patience, 0, 1000, R, "Phase 3",
        "val: stop after N epochs without a better validation accuracy (0 = whole budget)"),
    BOOL("no-int8", OPT_NOFLAG, int8, R, "Phase 3",
         "skip the int8 quantization and int8 accuracy of the final client models"),
    ENUM("int8-weights", "KIND", int8_weights, fa_enum_int8_weights, R, "Phase 3",
         "scales of the int8 weights, in the run's int8 accuracy and in `fedalign export`"),
    NUM("dropout", "P", OPT_DOUBLE, dropout, 0, 1, R, "Faults",
        "per-round probability that a selected client drops out"),
    NUM("speed-spread", "S", OPT_DOUBLE, speed_spread, 0, 5, R, "Faults",
        "device speed factors ~ lognormal(0, S) (stragglers)"),
    NUM("deadline", "SEC", OPT_DOUBLE, deadline, 0, 1e9, R, "Faults",
        "round deadline in simulated device seconds, 100 samples/s nominal (0 = none)"),
    ENUM("late", "POLICY", late_discount, fa_enum_late, R, "Faults", "late updates"),
    CUSTOM("attack", "KIND:F", attack, &fa_enum_attack, R, "Faults",
           "fraction F of clients send attacking updates of KIND"),
    NUM("attack-scale", "X", OPT_DOUBLE, attack_scale, 0, 1e6, R, "Faults",
        "scale factor (scale) or noise multiplier (noise) of the attack"),
    NUM("clip", "C", OPT_DOUBLE, clip, 0, 1e9, R, "Faults",
        "bound every client update's L2 norm to C (0 = off)"),
    ENUM("method", "NAME", method, fa_enum_method, R, "Method", "method of `fedalign run`"),
    CUSTOM("ablate", "LIST", ablate, &ablate_enum, R, "Method",
           "Fed-Meta-Align ablations, a comma list of"),
    ENUM("init", "KIND", init, fa_enum_init, R, "Method", "baselines start from"),
    NUM("target-acc", "A", OPT_DOUBLE, target_acc, 0, 1, R, "Method",
        "report rounds and seconds to reach this global accuracy (0 = off)"),
    NUM("trim-frac", "F", OPT_DOUBLE, trim_frac, 0, 0.49, R, "Method",
        "trimmedmean: fraction of the updates cut at each end of every coordinate"),
    NUM("krum-f", "F", OPT_SIZE, krum_f, 0, BIG, R, "Method",
        "krum, multikrum: Byzantine clients assumed (scores sum the m - F - 2 nearest)"),
    NUM("krum-m", "M", OPT_SIZE, krum_m, 0, BIG, R, "Method",
        "multikrum: updates averaged, the M best scores (0 = accepted updates - F)"),
    NUM("ditto-lambda", "L", OPT_DOUBLE, ditto_lambda, 0, 1e9, R, "Method",
        "ditto: weight of the personal models' pull lambda/2 |v - phi|^2 to the global model"),
    NUM("fedper-head-layers", "K", OPT_SIZE, fedper_head_layers, 0, FA_MAX_HIDDEN + 1, R,
        "Method", "fedper: last dense layers each client keeps (its head; 0 = FedAvg)"),
    NUM("perfedavg-alpha", "A", OPT_DOUBLE, perfedavg_alpha, 0, 10, R, "Method",
        "perfedavg: SGD step of the inner update and of the personalization step"),
    ENUM("threads-over", "KIND", threads_over, fa_enum_threads_over, 0, "Execution",
         "what OpenMP threads split"),
    ENUM("assign", "KIND", assign, fa_enum_assign, 0, "Execution",
         "which rank holds which client; results are the same bits either way"),
    ENUM("isa", "PATH", isa, fa_enum_isa, 0, "Execution",
         "ISA path of the compute kernels (auto: $FEDALIGN_ISA if set, else the fastest this CPU "
         "has); the same bits on every path"),
    ENUM("client-batch", "KIND", client_batch, fa_enum_client_batch, 0, "Execution",
         "phase-2 local training of clients whose step is plain train_local (fedavg, fedprox, "
         "fedmetaalign's rounds, ...) in groups of clients per SIMD pass, when threads take "
         "whole clients or there is one thread, and the evaluations of the global model and "
         "of the scores s_t the same way; results are the same bits either way"),
    BOOL("verbose", OPT_FLAG, verbose, 0, "Execution", "per-rank diagnostics on stderr"),
    BOOL("quiet", OPT_FLAG, quiet, 0, "Execution",
         "print only results (FEDALIGN_RESULT lines, the suite table) and errors: no banner, "
         "rounds or progress"),
    NUM("watchdog", "SEC", OPT_DOUBLE, watchdog, 0, 1e7, 0, "Execution",
        "end the job when a rank is silent this long at a round or phase boundary (0 = off)"),
    STR("output", "FILE", out_path, "(auto)", OPT_NONEMPTY, "Output",
        "HDF5 results file; auto = results/<command>_<SLURM_JOB_ID or time>.h5"),
    BOOL("overwrite", OPT_FLAG, overwrite, 0, "Output",
         "replace an existing results file (or data --export files)"),
    NUM("checkpoint-every", "K", OPT_SIZE, ckpt_every, 0, 1e9, 0, "Output",
        "checkpoint every K rounds (0 = at phase ends only)"),
    STR("checkpoint", "FILE", ckpt_path, "(<output>.ckpt)", OPT_NONEMPTY, "Output",
        "checkpoint file"),
    STR("resume", "FILE", resume_path, "(none)", OPT_NONEMPTY, "Output",
        "continue from a checkpoint"),
    NUM("stop-after-round", "K", OPT_SIZE, stop_after_round, 0, 1e9, 0, "Output",
        "checkpoint and stop after phase-2 round K (staged runs; 0 = off)"),
    NUM("stop-before-phase", "N", OPT_SIZE, stop_before_phase, 0, 3, 0, "Output",
        "checkpoint and stop when a method reaches phase N = 1..3 (staged runs; 0 = off)"),
    /* W: a resume must not add models that completed methods never kept */
    BOOL("save-models", OPT_FLAG, save_models, W, "Output",
         "store every personalized model [clients, P]"),
    NUM("server-lr", "ETA", OPT_DOUBLE, server_lr, 1e-7, 10, R, "Server optimizer",
        "fedadam/fedyogi/fedadagrad step size eta (fedavgm and scaffold use --alpha)"),
    NUM("server-beta1", "B", OPT_DOUBLE, server_beta1, 0, 0.999999, R, "Server optimizer",
        "fedadam/fedyogi/fedadagrad first-moment decay"),
    NUM("server-beta2", "B", OPT_DOUBLE, server_beta2, 0, 0.999999, R, "Server optimizer",
        "fedadam/fedyogi second-moment decay"),
    NUM("server-tau", "TAU", OPT_DOUBLE, server_tau, 1e-12, 10, R, "Server optimizer",
        "fedadam/fedyogi/fedadagrad adaptivity tau in m / (sqrt(v) + tau)"),
    NUM("server-momentum", "B", OPT_DOUBLE, server_momentum, 0, 0.999999, R, "Server optimizer",
        "fedavgm server momentum beta"),
    /* W: it decides which methods the results file holds */
    STR("methods", "LIST", methods, "(default suite)", OPT_NONEMPTY | W, "Method",
        "suite: run these rows (names as in the suite table, comma-separated), or all"),
    BOOL("describe", OPT_FLAG, describe, X, "Data command",
         "print per-client sizes and label histograms"),
    STR("export", "DIR", export_dir, NULL, X, "Data command", "write one CSV per client into DIR"),
};
#define N_OPTS (sizeof fa_opts / sizeof fa_opts[0])

OptSet config_option_set(Config *c) {
    OptSet s = {fa_opts, N_OPTS, c};
    return s;
}

// ----------------------------------------------------------------------------
// parsing

static const char *const command_names[] = {"run", "suite", "data"}; /* FA_CMD_RUN.. */

static int record_cmdline(Config *c, int argc, char **argv, char *err, size_t errlen) {
    size_t used = 0;
    c->cmdline[0] = '\0';
    for (int j = 1; j < argc; j++) {
        size_t l = strlen(argv[j]);
        if (used + l + 2 > sizeof c->cmdline)
            return opt_fail(err, errlen, "command line longer than %zu bytes", sizeof c->cmdline);
        memcpy(c->cmdline + used, argv[j], l);
        used += l;
        c->cmdline[used++] = j + 1 < argc ? '\n' : '\0';
    }
    c->cmdline[used] = '\0';
    return 0;
}

int config_parse_options(Config *c, int argc, char *const argv[], char *err, size_t errlen) {
    OptSet set = config_option_set(c);
    OptSpec spec = {.sets = &set, .n_sets = 1, .help_hint = "fedalign --help"};
    return opt_parse(&spec, argc, argv, 0, NULL, err, errlen);
}

int config_parse(Config *c, int argc, char **argv, char *err, size_t errlen) {
    if (argc < 2)
        return opt_fail(err, errlen,
                        "no command given (expected run, suite, data, export or bench)");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        c->command = FA_CMD_HELP;
        return 0;
    }
    const FaEnum commands = ENUM_OF(command_names, NULL);
    int k = fa_enum_value(&commands, cmd);
    if (k < 0)
        return opt_fail(err, errlen,
                        "unknown command '%s' (expected run, suite, data, export or bench)", cmd);
    c->command = (FaCommand)k;
    if (record_cmdline(c, argc, argv, err, errlen) != 0) return -1;
    int rc = config_parse_options(c, argc - 2, argv + 2, err, errlen);
    if (rc == OPT_HELP) c->command = FA_CMD_HELP;
    return rc < 0 ? -1 : 0;
}

int config_validate(const Config *c, char *err, size_t errlen) {
    if (c->data.split.val_frac + c->data.split.test_frac >= 0.9)
        return opt_fail(err, errlen,
                        "--val-frac + --test-frac must leave at least 10%% for training (got %g)",
                        c->data.split.val_frac + c->data.split.test_frac);
    if (c->data.kind == FA_DATA_MECHANICAL && 1 + 3 * c->data.gen.severities > FA_MAX_CLASSES)
        return opt_fail(err, errlen, "--severities: at most %d", (FA_MAX_CLASSES - 1) / 3);
    if (c->data.gen.input == FA_INPUT_RAW && c->data.kind != FA_DATA_MECHANICAL)
        return opt_fail(err, errlen,
                        "--input raw applies to --dataset mechanical (the electrical generator "
                        "has no windows; a file's rows are what the file holds)");
    const bool file = c->data.kind == FA_DATA_CSV || c->data.kind == FA_DATA_H5;
    if (c->data.part.kind == FA_PART_COLUMN && !file)
        return opt_fail(err, errlen,
                        "--partition column:NAME needs --dataset csv:PATH (or h5:PATH, where NAME "
                        "is a dataset of the file)");
    if (c->data.kind == FA_DATA_H5 && (c->data.csv.label_cols[0] || c->data.csv.feature_cols[0]))
        return opt_fail(err, errlen,
                        "--label-cols and --feature-cols apply to csv:PATH; an h5:PATH file has "
                        "its inputs in X and its labels in y");
    if (c->data.public_csv[0] && c->data.kind != FA_DATA_CSV)
        return opt_fail(err, errlen, "--public csv:PATH needs --dataset csv:PATH");
    if (!file && c->data.samples_per_client < c->data.part.min_per_client)
        return opt_fail(err, errlen, "--samples (%zu) must be at least --min-samples (%zu)",
                        c->data.samples_per_client, c->data.part.min_per_client);
    if (c->data.part.kind == FA_PART_COLUMN && c->data.part.quantity_given &&
        c->data.part.quantity_sigma > 0.0)
        return opt_fail(err, errlen,
                        "--quantity-skew does not apply to --partition column:%s: each client is "
                        "one value of that column, so its size is the data's (leave "
                        "--quantity-skew out or give 0)",
                        c->data.part.column);
    if (c->data.part.row_order != FA_ROWS_FILE &&
        (!file || c->data.part.kind != FA_PART_DIRICHLET))
        return opt_fail(err, errlen,
                        "--row-order shuffled applies to --dataset csv:PATH with --partition "
                        "dirichlet:BETA only (iid already assigns rows at random; a column "
                        "partition and generated devices have no row order to cut)");
    if (c->ablate && c->method != FA_METHOD_FEDMETAALIGN)
        return opt_fail(err, errlen, "--ablate applies to --method fedmetaalign only");
    if (c->methods[0] && c->command != FA_CMD_SUITE)
        return opt_fail(err, errlen, "--methods is an option of 'fedalign suite'");
    if (c->export_dir[0] && c->command != FA_CMD_DATA)
        return opt_fail(err, errlen, "--export is an option of 'fedalign data'");
    return 0;
}

// ----------------------------------------------------------------------------
// visiting and printing

static void visit_flags(const Config *c, unsigned any_of, ConfigVisitor fn, void *ctx) {
    char buf[FA_PATH_LEN + 32];
    for (size_t i = 0; i < N_OPTS; i++) {
        const OptDef *o = &fa_opts[i];
        if ((o->flags & OPT_CMDONLY) || (any_of && !(o->flags & any_of))) continue;
        opt_format(o, c, buf, sizeof buf);
        fn(ctx, o->name, buf);
    }
}

void config_visit(const Config *c, ConfigVisitor fn, void *ctx) { visit_flags(c, 0, fn, ctx); }

void config_visit_typed(const Config *c, ConfigTypedVisitor fn, void *ctx) {
    char buf[FA_PATH_LEN + 32];
    for (size_t i = 0; i < N_OPTS; i++) {
        const OptDef *o = &fa_opts[i];
        if (o->flags & OPT_CMDONLY) continue; /* the keys of config_visit, in its order */
        OptValue v;
        opt_value(o, c, &v);
        opt_format(o, c, buf, sizeof buf);
        fn(ctx, o->name, &v, buf);
    }
}

void config_visit_results(const Config *c, ConfigVisitor fn, void *ctx) {
    visit_flags(c, OPT_RESULTS | OPT_WRITTEN, fn, ctx);
}

const char *config_result_keys(void) {
    static char keys[2048]; /* built once from the table; the same on every call */
    if (keys[0]) return keys;
    size_t used = 0;
    for (size_t i = 0; i < N_OPTS; i++) {
        if (!(fa_opts[i].flags & OPT_RESULTS)) continue;
        int k = snprintf(keys + used, sizeof keys - used, "%s%s", used ? "," : "", fa_opts[i].name);
        CHECK(k > 0 && (size_t)k < sizeof keys - used, "config_result_keys: buffer too small");
        used += (size_t)k;
    }
    return keys;
}

void config_usage(FILE *out) {
    Config d;
    config_defaults(&d);
    /* the usage line and the command list come from main.c's command table */
    fprintf(out, "Options of run, suite and data (defaults of preset 'small' in brackets; every "
                 "flag overrides the preset):\n");
    opt_usage(fa_opts, N_OPTS, &d, out);
    fprintf(out,
            "Presets: tiny (4 clients, 400 rows each, 5 rounds; tests), small (10, 200, 20), "
            "paper (10, 1500, 30), large (1000, 200, 50).\n"
            "Exit codes: 0 ok (also: resuming a run that is already complete), 1 runtime "
            "failure or INVALID verification,\n"
            "  2 bad input (flags, files, rank counts), 3 stopped on request (SIGTERM/SIGUSR1, "
            "--stop-after-round,\n"
            "  --stop-before-phase) with a checkpoint to --resume from.\n");
}

typedef struct {
    FILE *out;
} PrintCtx;

static void print_row(void *ctx, const char *key, const char *value) {
    PrintCtx *p = ctx;
    fprintf(p->out, "| %-22s | %-44.44s |\n", key, value);
}

void config_print(const Config *c, FILE *out) {
    PrintCtx p = {out};
    fprintf(out, "+------------------------+----------------------------------------------+\n");
    fprintf(out, "| %-22s | %-44s |\n", "parameter", "value");
    fprintf(out, "+------------------------+----------------------------------------------+\n");
    config_visit(c, print_row, &p);
}
