/*
 * config.c: defaults, presets, a table-driven long-option parser, validation,
 * usage text and the configuration table.
 *
 * One table (fa_opts) describes every flag: its type, where it lives in Config,
 * its valid range and its help line. Parsing, validation of ranges, --help and the
 * list of values stored in the results file are all driven by it, so a new flag
 * cannot be forgotten in one of them. Flags whose value is a word (method, dataset,
 * partition, ...) go through parse_word().
 */
#include "fedalign/config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "fedalign/check.h"

const char *const fa_method_names[FA_METHOD_COUNT] = {"fedmetaalign", "fedavg", "fedprox",
                                                      "local"};

// ----------------------------------------------------------------------------
// option table

typedef enum { OT_SIZE, OT_DOUBLE, OT_U64, OT_INT, OT_FLAG, OT_NOFLAG, OT_WORD } OptType;

typedef struct {
    const char *name;  /* long name without "--" */
    const char *arg;   /* metavariable, NULL for flags */
    OptType type;
    size_t off;        /* offset in Config (not used by OT_WORD) */
    double lo, hi;     /* inclusive range for numbers */
    const char *group; /* usage section */
    const char *help;
} OptDef;

#define OFF(f) offsetof(Config, f)
#define BIG 1e15

static const OptDef fa_opts[] = {
    {"preset", "NAME", OT_WORD, 0, 0, 0, "Problem", "size preset: tiny|small|paper|large"},
    {"dataset", "KIND", OT_WORD, 0, 0, 0, "Problem", "electrical|mechanical|csv:PATH"},
    {"clients", "N", OT_SIZE, OFF(clients), 1, BIG, "Problem", "number of clients (devices)"},
    {"seed", "S", OT_U64, OFF(seed), 0, 1.8e19, "Problem", "global seed"},
    {"samples", "N", OT_SIZE, OFF(data.samples_per_client), 1, 1e9, "Problem",
     "generated data: mean rows per client"},
    {"public-samples", "N", OT_SIZE, OFF(data.public_samples), 1, 1e9, "Problem",
     "generated data: rows of public (phase-0) data"},
    {"heterogeneity", "H", OT_DOUBLE, OFF(data.gen.heterogeneity), 0, 3, "Problem",
     "spread of device parameters (0 = identical devices)"},
    {"window", "N", OT_SIZE, OFF(data.gen.window), 64, 65536, "Problem",
     "mechanical: samples per vibration window"},
    {"severities", "N", OT_SIZE, OFF(data.gen.severities), 1, 5, "Problem",
     "mechanical: severities per fault type (K = 1 + 3N)"},
    {"no-spectral", NULL, OT_NOFLAG, OFF(data.gen.spectral), 0, 0, "Problem",
     "mechanical: time-domain features only (no envelope-spectrum features)"},
    {"label-cols", "A,B", OT_WORD, 0, 0, 0, "Problem",
     "csv: label column(s), joined when several [last column]"},
    {"feature-cols", "A,B", OT_WORD, 0, 0, 0, "Problem",
     "csv: feature columns [all other columns]"},
    {"public", "SPEC", OT_WORD, 0, 0, 0, "Problem", "csv: public data csv:PATH [held-out rows]"},
    {"public-frac", "F", OT_DOUBLE, OFF(data.public_frac), 0.01, 0.9, "Problem",
     "csv: stratified held-out fraction used as public data"},
    {"perturb", "F", OT_DOUBLE, OFF(data.perturb), 0, 5, "Problem",
     "csv: per-device sensor gain/offset/noise level"},
    {"partition", "SPEC", OT_WORD, 0, 0, 0, "Partition", "dirichlet:BETA|iid|column:NAME"},
    {"quantity-skew", "SIGMA", OT_DOUBLE, OFF(data.part.quantity_sigma), 0, 3, "Partition",
     "client sizes ~ lognormal(0, SIGMA)"},
    {"min-samples", "N", OT_SIZE, OFF(data.part.min_per_client), 1, 1e9, "Partition",
     "minimum rows per client"},
    {"val-frac", "F", OT_DOUBLE, OFF(data.split.val_frac), 0.01, 0.5, "Partition",
     "validation fraction of each client's rows"},
    {"test-frac", "F", OT_DOUBLE, OFF(data.split.test_frac), 0.01, 0.5, "Partition",
     "test fraction of each client's rows"},
    {"block-split", NULL, OT_FLAG, OFF(data.split.block), 0, 0, "Partition",
     "contiguous blocks per class instead of a random split (time series)"},
    {"hidden", "H1,H2", OT_WORD, 0, 0, 0, "Model", "hidden layer widths"},
    {"optimizer", "NAME", OT_WORD, 0, 0, 0, "Training", "adam|sgd"},
    {"lr", "LR", OT_DOUBLE, OFF(local.lr), 1e-7, 10, "Training", "local learning rate"},
    {"batch", "B", OT_SIZE, OFF(local.batch), 1, 65536, "Training", "mini-batch size"},
    {"local-epochs", "E", OT_DOUBLE, OFF(local.epochs), 0.01, 1000, "Training",
     "local epochs per round"},
    {"mu", "MU", OT_DOUBLE, OFF(local.mu), 0, 100, "Training", "FedProx proximal weight"},
    {"p0-epochs", "E", OT_DOUBLE, OFF(p0_epochs), 0, 1000, "Phase 0",
     "foundation epochs on public data"},
    {"p0-lr", "LR", OT_DOUBLE, OFF(p0_lr), 1e-7, 10, "Phase 0", "foundation learning rate"},
    {"p1-frac", "F", OT_DOUBLE, OFF(p1_frac), 0.01, 1, "Phase 1",
     "fraction of each client's train data in its ring slice"},
    {"p1-epochs", "E", OT_DOUBLE, OFF(p1_epochs), 0.01, 1000, "Phase 1",
     "epochs per client visit in the ring"},
    {"p1-passes", "N", OT_SIZE, OFF(p1_passes), 1, 1000, "Phase 1", "passes of the token ring"},
    {"ring-perm", NULL, OT_FLAG, OFF(ring_perm), 0, 0, "Phase 1",
     "ring over a seeded permutation of clients (default: id order)"},
    {"ring-clients", "K", OT_SIZE, OFF(ring_clients), 0, BIG, "Phase 1",
     "ring over K clients of a seeded sample (0 = all)"},
    {"rounds", "R", OT_SIZE, OFF(rounds), 0, 1e7, "Phase 2", "federated rounds"},
    {"client-frac", "F", OT_DOUBLE, OFF(client_frac), 1e-9, 1, "Phase 2",
     "fraction of clients selected per round"},
    {"alpha", "A", OT_DOUBLE, OFF(alpha), 1e-6, 10, "Phase 2", "server learning rate"},
    {"floor", "C", OT_DOUBLE, OFF(floor_c), 0, 1, "Phase 2",
     "floor c in max(c, theta) of the dual criterion"},
    {"score", "KIND", OT_WORD, 0, 0, 0, "Phase 2",
     "s_t: acc (val acc after training) | loss (1 - normalized val loss) | preacc"},
    {"reference", "KIND", OT_WORD, 0, 0, 0, "Phase 2",
     "cosine reference: mean (mean update) | prev (previous global update)"},
    {"fedavg-uniform", NULL, OT_FLAG, OFF(fedavg_uniform), 0, 0, "Phase 2",
     "FedAvg/FedProx weights 1 instead of sample counts"},
    {"no-personalize", NULL, OT_NOFLAG, OFF(personalize), 0, 0, "Phase 3",
     "skip phase-3 personalization"},
    {"p3-epochs", "E", OT_DOUBLE, OFF(p3_epochs), 0.01, 1000, "Phase 3",
     "personalization epochs"},
    {"p3-lr", "LR", OT_DOUBLE, OFF(p3_lr), 1e-7, 10, "Phase 3", "personalization learning rate"},
    {"no-int8", NULL, OT_NOFLAG, OFF(int8), 0, 0, "Phase 3",
     "skip the int8 quantization and int8 accuracy of the final client models"},
    {"dropout", "P", OT_DOUBLE, OFF(dropout), 0, 1, "Faults",
     "per-round probability that a selected client drops out"},
    {"speed-spread", "S", OT_DOUBLE, OFF(speed_spread), 0, 5, "Faults",
     "device speed factors ~ lognormal(0, S) (stragglers)"},
    {"deadline", "SEC", OT_DOUBLE, OFF(deadline), 0, 1e9, "Faults",
     "round deadline in simulated device seconds, 100 samples/s nominal (0 = none)"},
    {"late", "POLICY", OT_WORD, 0, 0, 0, "Faults",
     "late updates: drop | discount (weight * deadline / time)"},
    {"attack", "KIND:F", OT_WORD, 0, 0, 0, "Faults",
     "fraction F of clients send signflip|scale|noise|nan updates (none)"},
    {"attack-scale", "X", OT_DOUBLE, OFF(attack_scale), 0, 1e6, "Faults",
     "scale factor (scale) or noise multiplier (noise) of the attack"},
    {"clip", "C", OT_DOUBLE, OFF(clip), 0, 1e9, "Faults",
     "bound every client update's L2 norm to C (0 = off)"},
    {"method", "NAME", OT_WORD, 0, 0, 0, "Method", "fedmetaalign|fedavg|fedprox|local"},
    {"ablate", "LIST", OT_WORD, 0, 0, 0, "Method",
     "Fed-Meta-Align ablations: phase0,phase1,similarity"},
    {"init", "KIND", OT_WORD, 0, 0, 0, "Method",
     "baselines start from random|foundation (phase-0 model)"},
    {"target-acc", "A", OT_DOUBLE, OFF(target_acc), 0, 1, "Method",
     "report rounds and seconds to reach this global accuracy (0 = off)"},
    {"threads-over", "KIND", OT_WORD, 0, 0, 0, "Execution",
     "auto|clients|batch: what OpenMP threads split"},
    {"verbose", NULL, OT_FLAG, OFF(verbose), 0, 0, "Execution", "per-rank diagnostics on stderr"},
    {"quiet", NULL, OT_FLAG, OFF(quiet), 0, 0, "Execution", "no per-round lines"},
    {"output", "FILE", OT_WORD, 0, 0, 0, "Output",
     "HDF5 results file; auto = results/<command>_<SLURM_JOB_ID or time>.h5"},
    {"overwrite", NULL, OT_FLAG, OFF(overwrite), 0, 0, "Output", "replace an existing results file (or data --export files)"},
    {"checkpoint-every", "K", OT_SIZE, OFF(ckpt_every), 0, 1e9, "Output",
     "checkpoint every K rounds (0 = at phase ends only)"},
    {"checkpoint", "FILE", OT_WORD, 0, 0, 0, "Output", "checkpoint file"},
    {"resume", "FILE", OT_WORD, 0, 0, 0, "Output", "continue from a checkpoint"},
    {"stop-after-round", "K", OT_SIZE, OFF(stop_after_round), 0, 1e9, "Output",
     "checkpoint and stop after phase-2 round K (staged runs; 0 = off)"},
    {"stop-before-phase", "N", OT_SIZE, OFF(stop_before_phase), 0, 3, "Output",
     "checkpoint and stop when a method reaches phase N = 1..3 (staged runs; 0 = off)"},
    {"save-models", NULL, OT_FLAG, OFF(save_models), 0, 0, "Output",
     "store every personalized model [clients, P]"},
    {"describe", NULL, OT_FLAG, OFF(describe), 0, 0, "Data command",
     "print per-client sizes and label histograms"},
    {"export", "DIR", OT_WORD, 0, 0, 0, "Data command", "write one CSV per client into DIR"},
};
#define N_OPTS (sizeof fa_opts / sizeof fa_opts[0])

// ----------------------------------------------------------------------------
// defaults and presets

void config_defaults(Config *c) {
    memset(c, 0, sizeof *c);
    c->command = FA_CMD_RUN;
    c->seed = 1234;                              /* global seed */
    c->data.kind = FA_DATA_ELECTRICAL;           /* built-in electrical devices */
    c->data.gen.heterogeneity = 1.0;             /* default device spread */
    c->data.gen.window = 1024;                   /* mechanical window */
    c->data.gen.severities = 3;                  /* 10 mechanical classes */
    c->data.gen.spectral = true;                 /* mechanical envelope features */
    c->data.part.kind = FA_PART_DIRICHLET;       /* label skew */
    c->data.part.beta = 0.5;                     /* Dirichlet concentration */
    c->data.part.quantity_sigma = 0.5;           /* quantity skew */
    c->data.part.min_per_client = 40;            /* rows per client at least */
    c->data.part.retry_cap = 100;                /* Dirichlet redraws before repair */
    c->data.split.val_frac = 0.15;
    c->data.split.test_frac = 0.25;
    c->data.split.block = false;
    c->data.public_frac = 0.15;
    c->data.perturb = 0.0;
    snprintf(c->hidden_str, sizeof c->hidden_str, "64,32");
    config_parse_hidden(c->hidden_str, &c->shape);
    c->local.opt = FA_OPT_ADAM;
    c->local.lr = 3e-3;
    c->local.beta1 = 0.9;
    c->local.beta2 = 0.999;
    c->local.eps = 1e-8;
    c->local.batch = 32;
    c->local.epochs = 1.0;
    c->local.mu = 0.01;                         /* FedProx only */
    c->p0_epochs = 5.0;
    c->p0_lr = 3e-3;
    c->p1_frac = 0.3;
    c->p1_epochs = 1.0;
    c->p1_passes = 1;
    c->ring_perm = false;
    c->ring_clients = 0;
    c->client_frac = 1.0;
    c->alpha = 1.0;
    c->floor_c = 0.1;
    c->score = FA_SCORE_ACC;
    c->reference = FA_REF_MEAN;
    c->fedavg_uniform = false;
    c->personalize = true;
    c->p3_epochs = 3.0;
    c->p3_lr = 1e-3;
    c->int8 = true;
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
    c->threads_over = FA_THREADS_AUTO;
    snprintf(c->dataset_str, sizeof c->dataset_str, "electrical");
    snprintf(c->partition_str, sizeof c->partition_str, "dirichlet:0.5");
    config_apply_preset(c, "small");
}

bool config_apply_preset(Config *c, const char *name) {
    /*                  clients samples public rounds p0ep */
    if (strcmp(name, "tiny") == 0) {
        c->clients = 4;
        c->data.samples_per_client = 400;
        c->data.public_samples = 1600;
        c->rounds = 5;
        c->p0_epochs = 3;
        c->data.gen.window = 256;
    } else if (strcmp(name, "small") == 0) {
        c->clients = 10;
        c->data.samples_per_client = 600;
        c->data.public_samples = 4000;
        c->rounds = 20;
        c->p0_epochs = 5;
        c->data.gen.window = 1024;
    } else if (strcmp(name, "paper") == 0) {
        c->clients = 10;
        c->data.samples_per_client = 1500;
        c->data.public_samples = 10000;
        c->rounds = 30;
        c->p0_epochs = 10;
        c->data.gen.window = 1024;
    } else if (strcmp(name, "large") == 0) {
        c->clients = 1000;
        c->data.samples_per_client = 200;
        c->data.public_samples = 20000;
        c->rounds = 50;
        c->p0_epochs = 5;
        c->data.gen.window = 512;
    } else {
        return false;
    }
    snprintf(c->preset, sizeof c->preset, "%s", name);
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

// ----------------------------------------------------------------------------
// parsing

static int fail(char *err, size_t errlen, const char *fmt, ...) FA_PRINTF(3, 4);
static int fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static bool parse_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(v)) return false;
    *out = v;
    return true;
}

static bool parse_u64(const char *s, uint64_t *out) {
    char *end;
    if (*s == '-' || *s == '+' || *s == '\0') return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno == ERANGE) return false;
    *out = (uint64_t)v;
    return true;
}

static bool copy_str(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap) return false;
    memcpy(dst, src, n + 1);
    return true;
}

/* word-valued options */
static int parse_word(Config *c, const char *name, const char *v, char *err, size_t errlen) {
    if (strcmp(name, "preset") == 0) {
        return 0; /* applied in the pre-scan */
    } else if (strcmp(name, "dataset") == 0) {
        if (strcmp(v, "electrical") == 0) c->data.kind = FA_DATA_ELECTRICAL;
        else if (strcmp(v, "mechanical") == 0) c->data.kind = FA_DATA_MECHANICAL;
        else if (strncmp(v, "csv:", 4) == 0 && v[4]) {
            c->data.kind = FA_DATA_CSV;
            if (!copy_str(c->data.csv.path, sizeof c->data.csv.path, v + 4))
                return fail(err, errlen, "--dataset: path too long");
        } else
            return fail(err, errlen,
                        "--dataset: unknown dataset '%s' (expected electrical, mechanical or "
                        "csv:PATH)",
                        v);
        copy_str(c->dataset_str, sizeof c->dataset_str, v);
    } else if (strcmp(name, "partition") == 0) {
        if (strcmp(v, "iid") == 0) c->data.part.kind = FA_PART_IID;
        else if (strncmp(v, "dirichlet:", 10) == 0) {
            double b;
            if (!parse_double(v + 10, &b) || !(b > 0.0) || b > 1e6)
                return fail(err, errlen,
                            "--partition: Dirichlet beta must be a number > 0, got '%s'", v + 10);
            c->data.part.kind = FA_PART_DIRICHLET;
            c->data.part.beta = b;
        } else if (strncmp(v, "column:", 7) == 0 && v[7]) {
            c->data.part.kind = FA_PART_COLUMN;
            if (!copy_str(c->data.part.column, sizeof c->data.part.column, v + 7) ||
                !copy_str(c->data.csv.group_col, sizeof c->data.csv.group_col, v + 7))
                return fail(err, errlen, "--partition: column name too long");
        } else
            return fail(err, errlen,
                        "--partition: unknown partition '%s' (expected dirichlet:BETA, iid or "
                        "column:NAME)",
                        v);
        if (!copy_str(c->partition_str, sizeof c->partition_str, v))
            return fail(err, errlen, "--partition: value too long");
    } else if (strcmp(name, "label-cols") == 0) {
        if (!copy_str(c->data.csv.label_cols, sizeof c->data.csv.label_cols, v))
            return fail(err, errlen, "--label-cols: list too long");
    } else if (strcmp(name, "feature-cols") == 0) {
        if (!copy_str(c->data.csv.feature_cols, sizeof c->data.csv.feature_cols, v))
            return fail(err, errlen, "--feature-cols: list too long");
    } else if (strcmp(name, "public") == 0) {
        if (strncmp(v, "csv:", 4) != 0 || !v[4])
            return fail(err, errlen, "--public: expected csv:PATH, got '%s'", v);
        if (!copy_str(c->data.public_csv, sizeof c->data.public_csv, v + 4))
            return fail(err, errlen, "--public: path too long");
    } else if (strcmp(name, "hidden") == 0) {
        if (!config_parse_hidden(v, &c->shape))
            return fail(err, errlen,
                        "--hidden: expected a comma list of up to %d widths in 1..4096 (or "
                        "'none'), got '%s'",
                        FA_MAX_HIDDEN, v);
        copy_str(c->hidden_str, sizeof c->hidden_str, v);
    } else if (strcmp(name, "optimizer") == 0) {
        if (strcmp(v, "adam") == 0) c->local.opt = FA_OPT_ADAM;
        else if (strcmp(v, "sgd") == 0) c->local.opt = FA_OPT_SGD;
        else return fail(err, errlen, "--optimizer: expected adam or sgd, got '%s'", v);
    } else if (strcmp(name, "score") == 0) {
        if (strcmp(v, "acc") == 0) c->score = FA_SCORE_ACC;
        else if (strcmp(v, "loss") == 0) c->score = FA_SCORE_LOSS;
        else if (strcmp(v, "preacc") == 0) c->score = FA_SCORE_PREACC;
        else return fail(err, errlen, "--score: expected acc, loss or preacc, got '%s'", v);
    } else if (strcmp(name, "reference") == 0) {
        if (strcmp(v, "mean") == 0) c->reference = FA_REF_MEAN;
        else if (strcmp(v, "prev") == 0) c->reference = FA_REF_PREV;
        else return fail(err, errlen, "--reference: expected mean or prev, got '%s'", v);
    } else if (strcmp(name, "method") == 0) {
        int m = -1;
        for (int i = 0; i < FA_METHOD_COUNT; i++)
            if (strcmp(v, fa_method_names[i]) == 0) m = i;
        if (m < 0)
            return fail(err, errlen,
                        "--method: unknown method '%s' (expected fedmetaalign, fedavg, fedprox "
                        "or local)",
                        v);
        c->method = (FaMethod)m;
    } else if (strcmp(name, "ablate") == 0) {
        char buf[128];
        if (!copy_str(buf, sizeof buf, v)) return fail(err, errlen, "--ablate: list too long");
        c->ablate = 0;
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            if (strcmp(tok, "phase0") == 0) c->ablate |= FA_ABLATE_PHASE0;
            else if (strcmp(tok, "phase1") == 0) c->ablate |= FA_ABLATE_PHASE1;
            else if (strcmp(tok, "similarity") == 0) c->ablate |= FA_ABLATE_SIMILARITY;
            else if (strcmp(tok, "none") == 0) continue;
            else
                return fail(err, errlen,
                            "--ablate: unknown ablation '%s' (expected phase0, phase1, "
                            "similarity)",
                            tok);
        }
    } else if (strcmp(name, "init") == 0) {
        if (strcmp(v, "random") == 0) c->init = FA_INIT_RANDOM;
        else if (strcmp(v, "foundation") == 0) c->init = FA_INIT_FOUNDATION;
        else return fail(err, errlen, "--init: expected random or foundation, got '%s'", v);
    } else if (strcmp(name, "threads-over") == 0) {
        if (strcmp(v, "auto") == 0) c->threads_over = FA_THREADS_AUTO;
        else if (strcmp(v, "clients") == 0) c->threads_over = FA_THREADS_CLIENTS;
        else if (strcmp(v, "batch") == 0) c->threads_over = FA_THREADS_BATCH;
        else return fail(err, errlen, "--threads-over: expected auto, clients or batch, got '%s'", v);
    } else if (strcmp(name, "late") == 0) {
        if (strcmp(v, "drop") == 0) c->late_discount = false;
        else if (strcmp(v, "discount") == 0) c->late_discount = true;
        else return fail(err, errlen, "--late: expected drop or discount, got '%s'", v);
    } else if (strcmp(name, "attack") == 0) {
        static const char *const kinds[] = {"none", "signflip", "scale", "noise", "nan"};
        const char *colon = strchr(v, ':');
        size_t kl = colon ? (size_t)(colon - v) : strlen(v);
        int kind = -1;
        for (int k = 0; k < 5; k++)
            if (strlen(kinds[k]) == kl && strncmp(v, kinds[k], kl) == 0) kind = k;
        double f = 0.0;
        if (kind < 0 || (kind > 0 && (!colon || !parse_double(colon + 1, &f) || f < 0.0 || f > 1.0)))
            return fail(err, errlen,
                        "--attack: expected KIND:FRACTION with KIND signflip, scale, noise or nan "
                        "and FRACTION in [0, 1] (or none), got '%s'",
                        v);
        c->attack = kind;
        c->attack_frac = kind ? f : 0.0;
    } else if (strcmp(name, "output") == 0) {
        if (!v[0] || !copy_str(c->out_path, sizeof c->out_path, v))
            return fail(err, errlen, "--output: empty or too long path");
    } else if (strcmp(name, "checkpoint") == 0) {
        if (!v[0] || !copy_str(c->ckpt_path, sizeof c->ckpt_path, v))
            return fail(err, errlen, "--checkpoint: empty or too long path");
    } else if (strcmp(name, "resume") == 0) {
        if (!v[0] || !copy_str(c->resume_path, sizeof c->resume_path, v))
            return fail(err, errlen, "--resume: empty or too long path");
    } else if (strcmp(name, "export") == 0) {
        if (!copy_str(c->export_dir, sizeof c->export_dir, v))
            return fail(err, errlen, "--export: path too long");
    }
    return 0;
}

static const OptDef *find_opt(const char *name, size_t len) {
    for (size_t i = 0; i < N_OPTS; i++)
        if (strlen(fa_opts[i].name) == len && strncmp(fa_opts[i].name, name, len) == 0)
            return &fa_opts[i];
    return NULL;
}

int config_parse(Config *c, int argc, char **argv, char *err, size_t errlen) {
    int i = 1;
    if (argc < 2) return fail(err, errlen, "no command given (expected run, suite or data)");
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0) c->command = FA_CMD_RUN;
    else if (strcmp(cmd, "suite") == 0) c->command = FA_CMD_SUITE;
    else if (strcmp(cmd, "data") == 0) c->command = FA_CMD_DATA;
    else if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        c->command = FA_CMD_HELP;
        return 0;
    } else
        return fail(err, errlen, "unknown command '%s' (expected run, suite or data)", cmd);
    i = 2;
    size_t used = 0;
    c->cmdline[0] = '\0';
    for (int j = 1; j < argc; j++) {
        size_t l = strlen(argv[j]);
        if (used + l + 2 > sizeof c->cmdline)
            return fail(err, errlen, "command line longer than %zu bytes", sizeof c->cmdline);
        memcpy(c->cmdline + used, argv[j], l);
        used += l;
        c->cmdline[used++] = j + 1 < argc ? '\n' : '\0';
    }
    c->cmdline[used] = '\0';

    /* pre-scan: a preset sets sizes first, so that any flag overrides it in any order */
    for (int j = 2; j < argc; j++) {
        const char *a = argv[j], *v = NULL;
        if (strncmp(a, "--preset=", 9) == 0) v = a + 9;
        else if (strcmp(a, "--preset") == 0 && j + 1 < argc) v = argv[j + 1];
        if (v && !config_apply_preset(c, v))
            return fail(err, errlen, "--preset: unknown preset '%s' (expected tiny, small, paper or large)", v);
    }

    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            c->command = FA_CMD_HELP;
            return 0;
        }
        if (strncmp(a, "--", 2) != 0)
            return fail(err, errlen, "unexpected argument '%s' (options start with --)", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const OptDef *o = find_opt(name, len);
        if (!o) return fail(err, errlen, "unknown option '--%.*s' (see fedalign --help)", (int)len, name);
        const char *v = NULL;
        if (o->arg) {
            if (eq) v = eq + 1;
            else if (i + 1 < argc) v = argv[++i];
            else return fail(err, errlen, "--%s needs a value (%s)", o->name, o->arg);
        } else if (eq) {
            return fail(err, errlen, "--%s takes no value", o->name);
        }
        char *base = (char *)c;
        switch (o->type) {
        case OT_FLAG: *(bool *)(base + o->off) = true; break;
        case OT_NOFLAG: *(bool *)(base + o->off) = false; break;
        case OT_WORD:
            if (parse_word(c, o->name, v, err, errlen)) return -1;
            break;
        case OT_DOUBLE: {
            double d;
            if (!parse_double(v, &d)) return fail(err, errlen, "--%s: '%s' is not a number", o->name, v);
            if (d < o->lo || d > o->hi)
                return fail(err, errlen, "--%s: %g is out of range [%g, %g]", o->name, d, o->lo, o->hi);
            *(double *)(base + o->off) = d;
            break;
        }
        case OT_SIZE:
        case OT_U64:
        case OT_INT: {
            uint64_t u;
            if (!parse_u64(v, &u))
                return fail(err, errlen, "--%s: '%s' is not a non-negative integer", o->name, v);
            if ((double)u < o->lo || (double)u > o->hi)
                return fail(err, errlen, "--%s: %s is out of range [%.0f, %.0f]", o->name, v, o->lo, o->hi);
            if (o->type == OT_SIZE) *(size_t *)(base + o->off) = (size_t)u;
            else if (o->type == OT_U64) *(uint64_t *)(base + o->off) = u;
            else *(int *)(base + o->off) = (int)u;
            break;
        }
        }
    }
    return 0;
}

int config_validate(const Config *c, char *err, size_t errlen) {
    if (c->data.split.val_frac + c->data.split.test_frac >= 0.9)
        return fail(err, errlen, "--val-frac + --test-frac must leave at least 10%% for training (got %g)",
                    c->data.split.val_frac + c->data.split.test_frac);
    if (c->data.kind == FA_DATA_MECHANICAL && 1 + 3 * c->data.gen.severities > FA_MAX_CLASSES)
        return fail(err, errlen, "--severities: at most %d", (FA_MAX_CLASSES - 1) / 3);
    if (c->data.part.kind == FA_PART_COLUMN && c->data.kind != FA_DATA_CSV)
        return fail(err, errlen, "--partition column:NAME needs --dataset csv:PATH");
    if (c->data.public_csv[0] && c->data.kind != FA_DATA_CSV)
        return fail(err, errlen, "--public csv:PATH needs --dataset csv:PATH");
    if (c->data.kind != FA_DATA_CSV && c->data.samples_per_client < c->data.part.min_per_client)
        return fail(err, errlen, "--samples (%zu) must be at least --min-samples (%zu)",
                    c->data.samples_per_client, c->data.part.min_per_client);
    if (c->ablate && c->method != FA_METHOD_FEDMETAALIGN)
        return fail(err, errlen, "--ablate applies to --method fedmetaalign only");
    if (c->export_dir[0] && c->command != FA_CMD_DATA)
        return fail(err, errlen, "--export is an option of 'fedalign data'");
    return 0;
}

// ----------------------------------------------------------------------------
// printing

static const char *word_value(const Config *c, const char *name, char *buf, size_t cap) {
    if (strcmp(name, "preset") == 0) return c->preset;
    if (strcmp(name, "dataset") == 0) return c->dataset_str;
    if (strcmp(name, "partition") == 0) return c->partition_str;
    if (strcmp(name, "label-cols") == 0) return c->data.csv.label_cols[0] ? c->data.csv.label_cols : "(last column)";
    if (strcmp(name, "feature-cols") == 0) return c->data.csv.feature_cols[0] ? c->data.csv.feature_cols : "(all others)";
    if (strcmp(name, "public") == 0) {
        if (!c->data.public_csv[0]) return "(held-out rows)";
        snprintf(buf, cap, "csv:%s", c->data.public_csv);
        return buf;
    }
    if (strcmp(name, "hidden") == 0) return c->hidden_str;
    if (strcmp(name, "optimizer") == 0) return c->local.opt == FA_OPT_ADAM ? "adam" : "sgd";
    if (strcmp(name, "score") == 0) return c->score == FA_SCORE_ACC ? "acc" : c->score == FA_SCORE_LOSS ? "loss" : "preacc";
    if (strcmp(name, "reference") == 0) return c->reference == FA_REF_MEAN ? "mean" : "prev";
    if (strcmp(name, "method") == 0) return fa_method_names[c->method];
    if (strcmp(name, "ablate") == 0) {
        snprintf(buf, cap, "%s%s%s%s", c->ablate ? "" : "none",
                 (c->ablate & FA_ABLATE_PHASE0) ? "phase0," : "",
                 (c->ablate & FA_ABLATE_PHASE1) ? "phase1," : "",
                 (c->ablate & FA_ABLATE_SIMILARITY) ? "similarity," : "");
        size_t n = strlen(buf);
        if (n && buf[n - 1] == ',') buf[n - 1] = '\0';
        return buf;
    }
    if (strcmp(name, "init") == 0) return c->init == FA_INIT_RANDOM ? "random" : "foundation";
    if (strcmp(name, "threads-over") == 0)
        return c->threads_over == FA_THREADS_AUTO ? "auto" : c->threads_over == FA_THREADS_CLIENTS ? "clients" : "batch";
    if (strcmp(name, "export") == 0) return c->export_dir[0] ? c->export_dir : "(none)";
    if (strcmp(name, "output") == 0) return c->out_path[0] ? c->out_path : "(auto)";
    if (strcmp(name, "late") == 0) return c->late_discount ? "discount" : "drop";
    if (strcmp(name, "attack") == 0) {
        static const char *const kinds[] = {"none", "signflip", "scale", "noise", "nan"};
        if (c->attack == FA_ATTACK_NONE) return "none";
        snprintf(buf, cap, "%s:%g", kinds[c->attack], c->attack_frac);
        return buf;
    }
    if (strcmp(name, "checkpoint") == 0) return c->ckpt_path[0] ? c->ckpt_path : "(<output>.ckpt)";
    if (strcmp(name, "resume") == 0) return c->resume_path[0] ? c->resume_path : "(none)";
    return "?";
}

static void opt_value(const Config *c, const OptDef *o, char *buf, size_t cap) {
    const char *base = (const char *)c;
    switch (o->type) {
    case OT_FLAG: snprintf(buf, cap, "%s", *(const bool *)(base + o->off) ? "yes" : "no"); break;
    case OT_NOFLAG: snprintf(buf, cap, "%s", *(const bool *)(base + o->off) ? "no" : "yes"); break;
    case OT_DOUBLE: snprintf(buf, cap, "%.6g", *(const double *)(base + o->off)); break;
    case OT_SIZE: snprintf(buf, cap, "%zu", *(const size_t *)(base + o->off)); break;
    case OT_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)(base + o->off)); break;
    case OT_INT: snprintf(buf, cap, "%d", *(const int *)(base + o->off)); break;
    case OT_WORD: {
        char tmp[FA_PATH_LEN + 16];
        snprintf(buf, cap, "%s", word_value(c, o->name, tmp, sizeof tmp));
        break;
    }
    }
}

void config_visit(const Config *c, ConfigVisitor fn, void *ctx) {
    char buf[FA_PATH_LEN + 32];
    for (size_t i = 0; i < N_OPTS; i++) {
        if (strcmp(fa_opts[i].group, "Data command") == 0) continue;
        opt_value(c, &fa_opts[i], buf, sizeof buf);
        fn(ctx, fa_opts[i].name, buf);
    }
}

void config_visit_results(const Config *c, ConfigVisitor fn, void *ctx) {
    char buf[FA_PATH_LEN + 32];
    for (size_t i = 0; i < N_OPTS; i++) {
        const char *g = fa_opts[i].group;
        if (strcmp(g, "Data command") == 0 || strcmp(g, "Output") == 0 ||
            strcmp(g, "Execution") == 0)
            continue;
        opt_value(c, &fa_opts[i], buf, sizeof buf);
        fn(ctx, fa_opts[i].name, buf);
    }
}

void config_usage(FILE *out) {
    Config d;
    config_defaults(&d);
    fprintf(out,
            "Usage: fedalign COMMAND [options]\n"
            "Commands:\n"
            "  run      one method (--method), phases 0-3 as the method defines\n"
            "  suite    every method and ablation on identical data, splits and seeds\n"
            "  data     inspect the clients' data (--describe, --export DIR)\n"
            "Options (defaults of preset 'small' in brackets; every flag overrides the preset):\n");
    const char *group = "";
    char val[FA_PATH_LEN + 32];
    for (size_t i = 0; i < N_OPTS; i++) {
        const OptDef *o = &fa_opts[i];
        if (strcmp(group, o->group) != 0) {
            group = o->group;
            fprintf(out, "  %s:\n", group);
        }
        char lhs[64];
        snprintf(lhs, sizeof lhs, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        opt_value(&d, o, val, sizeof val);
        if (o->type == OT_FLAG || o->type == OT_NOFLAG || strcmp(o->group, "Data command") == 0)
            fprintf(out, "    %-22s %s\n", lhs, o->help);
        else
            fprintf(out, "    %-22s %s [%s]\n", lhs, o->help, val);
    }
    fprintf(out,
            "Presets: tiny (4 clients, 5 rounds; tests), small (10, 20), paper (10, 30), "
            "large (1000, 50).\n"
            "Exit codes: 0 ok, 1 runtime failure or INVALID verification, 2 bad input.\n");
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
