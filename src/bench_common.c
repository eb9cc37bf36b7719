/*
 * bench_common.c: what every `fedalign bench` measurement shares (see bench_internal.h).
 *
 * The pure helpers of bench.h (order statistics, FLOP counts, the least-squares slope,
 * size lists), the option table (parsed by opttab.c, as every command's) and its
 * defaults, the output (a table header per sub-benchmark; FEDALIGN_BENCH lines buffered
 * in the context and printed after each table, so a table is never cut by result lines;
 * every result also kept as a row for the HDF5 record), and the probes of this process
 * (peak and current RSS, CPU seconds, CPU model). One place for these keeps every
 * benchmark's lines and record alike.
 */
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#if defined(__GLIBC__)
#include <malloc.h> /* malloc_trim */
#endif

#include "bench_internal.h"
#include "fedalign/check.h"
#include "fedalign/comm.h"
#include "fedalign/isa.h"
#include "fedalign/opttab.h"

// ----------------------------------------------------------------------------
// pure helpers (bench.h)

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

void bench_stats(double *x, size_t n, BenchStats *out) {
    out->n = n;
    if (n == 0) {
        out->min = out->median = out->max = out->mean = nan("");
        return;
    }
    qsort(x, n, sizeof *x, cmp_double);
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i];
    out->min = x[0];
    out->max = x[n - 1];
    out->median = n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
    out->mean = s / (double)n;
}

double bench_flops_forward(const ModelLayout *L) {
    double f = 0.0;
    for (size_t l = 0; l < L->n_layers; l++)
        f += 2.0 * (double)L->fan_in[l] * (double)L->fan_out[l];
    return f;
}

double bench_flops_train_sample(const ModelLayout *L) {
    double back = 0.0; /* errors back through W_l, l >= 1 */
    for (size_t l = 1; l < L->n_layers; l++)
        back += 2.0 * (double)L->fan_in[l] * (double)L->fan_out[l];
    return 2.0 * bench_flops_forward(L) + back;
}

double bench_slope(const double *x, const double *y, size_t n) {
    if (n < 2) return nan("");
    double mx = 0.0, my = 0.0;
    for (size_t i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0.0, sxx = 0.0;
    for (size_t i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
    }
    return sxx > 0.0 ? sxy / sxx : nan("");
}

size_t bench_parse_sizes(const char *s, size_t max, size_t *out, size_t cap) {
    size_t n = 0;
    const char *p = s;
    if (!s || !*s) return 0;
    for (;;) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !(v >= 1.0) || v > (double)max || v != floor(v) || n >= cap) return 0;
        out[n++] = (size_t)v;
        if (*end == '\0') return n;
        if (*end != ',') return 0;
        p = end + 1;
    }
}

// ----------------------------------------------------------------------------
// options: one OptDef table over BenchOpts, parsed by opttab.c like every command's

const char *const bench_names[B_COUNT] = {
    [B_PEAK] = "peak",   [B_TRAIN] = "train", [B_AGG] = "aggregate",
    [B_ROUND] = "round", [B_MEM] = "memory",  [B_QUANT] = "quant"};

/* the sub-benchmark names joined by sep (usage and messages come from bench_names) */
static void sub_names(const char *sep, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (int b = 0; b < B_COUNT && used < cap; b++) {
        int k = snprintf(buf + used, cap - used, "%s%s", b ? sep : "", bench_names[b]);
        if (k < 0) break;
        used += (size_t)k;
    }
}

/* a positional word: a sub-benchmark name or "all" */
static int parse_sub(void *ctx, const char *w, char *err, size_t errlen) {
    BenchOpts *o = ctx;
    bool all = strcmp(w, "all") == 0, found = all;
    for (int b = 0; b < B_COUNT; b++)
        if (all || strcmp(w, bench_names[b]) == 0) o->run[b] = found = true;
    if (found) return 0;
    char list[128];
    sub_names(", ", list, sizeof list);
    return opt_fail(err, errlen, "unknown sub-benchmark '%s' (expected %s or all)", w, list);
}

/* a comma list of at most MAXLIST sizes in [1, max] (bench_parse_sizes: 1e4 notation) */
static int parse_list(const char *flag, const char *v, size_t max, size_t *out, size_t *n,
                      char *err, size_t errlen) {
    size_t k = bench_parse_sizes(v, max, out, MAXLIST);
    if (k == 0)
        return opt_fail(err, errlen,
                        "--%s: '%s' is not a comma list of at most %d integers in [1, %zu]", flag,
                        v, MAXLIST, max);
    *n = k;
    return 0;
}

/* a list as --help shows it; 0 in --p stands for the default model's P */
static const char *show_list(const size_t *v, size_t n, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < cap; i++) {
        int k = v[i] ? snprintf(buf + used, cap - used, "%s%zu", i ? "," : "", v[i])
                     : snprintf(buf + used, cap - used, "%sP", i ? "," : "");
        if (k < 0) break;
        used += (size_t)k;
    }
    return buf;
}

/* one parse/show pair per list field (a custom option sees its struct, not its entry) */
#define LIST_OPT(fn, flag, max, arr, cnt)                                                          \
    static int parse_##fn(void *t, const char *v, char *err, size_t errlen) {                      \
        BenchOpts *o = t;                                                                          \
        return parse_list(flag, v, max, o->arr, &o->cnt, err, errlen);                             \
    }                                                                                              \
    static const char *show_##fn(const void *t, char *buf, size_t cap) {                           \
        const BenchOpts *o = t;                                                                    \
        return show_list(o->arr, o->cnt, buf, cap);                                                \
    }
LIST_OPT(batch, "batch", 65536, batches, n_batches)
LIST_OPT(p, "p", (size_t)1 << 28, plist, n_p)
LIST_OPT(clients, "clients", 10000000, cpr, n_cpr)
LIST_OPT(mem, "mem-clients", 10000000, mem_cpr, n_mem)

/* round and memory run the phase-2 pipeline of these two methods only */
static int parse_method(void *t, const char *v, char *err, size_t errlen) {
    int m = fa_enum_value(&fa_enum_method, v);
    if (m != FA_METHOD_FEDMETAALIGN && m != FA_METHOD_FEDAVG)
        return opt_fail(err, errlen, "--method: unknown method '%s' (expected %s or %s)", v,
                        fa_enum_name(&fa_enum_method, FA_METHOD_FEDMETAALIGN),
                        fa_enum_name(&fa_enum_method, FA_METHOD_FEDAVG));
    ((BenchOpts *)t)->method = (FaMethod)m;
    return 0;
}
static const char *show_method(const void *t, char *buf, size_t cap) {
    (void)buf, (void)cap;
    return fa_enum_name(&fa_enum_method, ((const BenchOpts *)t)->method);
}

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define BF(f) .off = offsetof(BenchOpts, f), .size = sizeof(((BenchOpts *)0)->f)
#define BSIZE(nm, fld, l, h, g, hp)                                                                \
    { .name = nm, .arg = "N", .type = OPT_SIZE, BF(fld), .lo = l, .hi = h, .group = g, .help = hp }
#define BLIST(nm, fn, g, hp)                                                                       \
    {                                                                                              \
        .name = nm, .arg = "LIST", .type = OPT_CUSTOM, .parse = parse_##fn, .show = show_##fn,     \
        .group = g, .help = hp                                                                     \
    }
#define BFLAG(nm, fld, g, hp)                                                                      \
    { .name = nm, .type = OPT_FLAG, BF(fld), .group = g, .help = hp }

static const OptDef bench_opts[] = {
    BSIZE("reps", reps, 1, MAXREPS, "Repetitions", "timed repetitions per point"),
    BSIZE("warmup", warmup, 0, 100, "Repetitions", "discarded warm-up repetitions"),
    BFLAG("quick", quick, "Repetitions", "small sizes and short repetitions (tests, smoke runs)"),
    {.name = "min-time",
     .arg = "S",
     .type = OPT_DOUBLE,
     BF(min_time),
     .lo = 1e-4,
     .hi = 100,
     .group = "Peak and train",
     .help = "seconds per rate repetition"},
    BSIZE("triad-n", triad_n, 1024, 1e10, "Peak and train", "peak: floats per triad array"),
    BLIST("batch", batch, "Peak and train", "train: mini-batch sizes"),
    BLIST("p", p, "Aggregate", "parameter counts (P = the default model's)"),
    BSIZE("agg-clients", agg_clients, 1, 4096, "Aggregate", "clients per rank"),
    BLIST("clients", clients, "Round and memory", "round: clients per rank"),
    BFLAG("huge", huge, "Round and memory",
          "round: add the " STRINGIFY(HUGE_CPR) "-clients-per-rank point"),
    BLIST("mem-clients", mem, "Round and memory", "memory: clients per rank"),
    BSIZE("rounds", rounds, 1, 10000, "Round and memory",
          "round: phase-2 rounds per repetition (memory: 1)"),
    BSIZE("samples", samples, 1, 1e7, "Round and memory", "rows per client"),
    {.name = "method",
     .arg = "NAME",
     .type = OPT_CUSTOM,
     .parse = parse_method,
     .show = show_method,
     .group = "Round and memory",
     .help = "fedmetaalign | fedavg"},
    {.name = "output",
     .arg = "FILE.h5",
     .type = OPT_STR,
     BF(out),
     .flags = OPT_NONEMPTY,
     .unset = "none",
     .group = "Record",
     .help = "also write every result to this HDF5 file (refused if it exists)"},
    BFLAG("overwrite", overwrite, "Record", "replace an existing --output file"),
    {.name = "isa",
     .arg = "PATH",
     .type = OPT_ENUM,
     BF(isa),
     .en = &fa_enum_isa,
     .group = "Execution",
     .help = "ISA path of the kernels (auto: $FEDALIGN_ISA if set, else the fastest this CPU "
             "has)"},
};
#define N_BENCH_OPTS (sizeof bench_opts / sizeof bench_opts[0])

/* the table and the sub-benchmark names, for the generated shell completion (complete.c) */
const OptDef *bench_option_table(size_t *n) {
    *n = N_BENCH_OPTS;
    return bench_opts;
}

const char *const *bench_sub_names(size_t *n) {
    *n = B_COUNT;
    return bench_names;
}

/* What no option sets: 0 in a count or a size means "not given" (no option accepts 0
 * there: every list has >= 1 entry, every such size >= 1), filled in by opts_defaults
 * once --quick is known. */
static void opts_init(BenchOpts *o) {
    memset(o, 0, sizeof *o);
    o->warmup = 1;
    o->agg_clients = 8;
    o->samples = 200;
    o->method = FA_METHOD_FEDMETAALIGN;
}

/* The defaults that depend on --quick or on nothing given (see opts_init). */
static void opts_defaults(BenchOpts *o) {
    bool any = false;
    for (int b = 0; b < B_COUNT; b++) any = any || o->run[b];
    if (!any)
        for (int b = 0; b < B_COUNT; b++) o->run[b] = true;
    if (!o->reps) o->reps = o->quick ? 3 : 5;
    if (!(o->min_time > 0.0)) o->min_time = o->quick ? 0.01 : 0.1;
    if (!o->rounds) o->rounds = o->quick ? 2 : 3;
    if (!o->n_batches) {
        const size_t b[] = {1, 8, 32, 128};
        memcpy(o->batches, b, sizeof b);
        o->n_batches = 4;
    }
    if (!o->n_p) { /* 0 stands for the default model's P, filled in by the benchmark */
        const size_t full[] = {0, 1000, 10000, 100000, 1000000, 10000000};
        const size_t quick[] = {0, 1000, 10000, 100000};
        o->n_p = o->quick ? 4 : 6;
        memcpy(o->plist, o->quick ? quick : full, o->n_p * sizeof(size_t));
    }
    if (!o->n_cpr) {
        const size_t full[] = {1, 10, 100, 1000, 10000};
        const size_t quick[] = {1, 10, 100};
        o->n_cpr = o->quick ? 3 : 5;
        memcpy(o->cpr, o->quick ? quick : full, o->n_cpr * sizeof(size_t));
    }
    if (o->huge && o->n_cpr < MAXLIST) o->cpr[o->n_cpr++] = HUGE_CPR;
    if (!o->n_mem) {
        const size_t full[] = {250, 500, 1000, 2000};
        const size_t quick[] = {100, 200, 400};
        o->n_mem = o->quick ? 3 : 4;
        memcpy(o->mem_cpr, o->quick ? quick : full, o->n_mem * sizeof(size_t));
    }
    if (!o->triad_n) o->triad_n = o->quick ? (size_t)1 << 22 : (size_t)1 << 25;
}

/* Usage from the table: the defaults in brackets, then the ones --quick changes, both
 * computed by opts_defaults so the help cannot drift from what runs. */
static void bench_usage(FILE *f) {
    char subs[128];
    sub_names(" | ", subs, sizeof subs);
    fprintf(f,
            "usage: fedalign bench [SUB...] [options] [-- run flags]\n"
            "  SUB: %s | all   (default: all)\n",
            subs);
    BenchOpts d, q;
    opts_init(&d);
    opts_defaults(&d);
    opts_init(&q);
    q.quick = true;
    opts_defaults(&q);
    opt_usage(bench_opts, N_BENCH_OPTS, &d, f);
    fputs("  run flags:\n"
          "    -- FLAGS               round/memory: further `fedalign run` flags (e.g. -- "
          "--reference prev;\n"
          "                           not --preset: the sizes above win)\n"
          "  --quick sets:",
          f);
    char a[4096 + 64], b[4096 + 64];
    int col = 15;
    for (size_t i = 0; i < N_BENCH_OPTS; i++) {
        if (!bench_opts[i].arg) continue; /* flags: --quick itself */
        opt_format(&bench_opts[i], &d, a, sizeof a);
        opt_format(&bench_opts[i], &q, b, sizeof b);
        if (strcmp(a, b) == 0) continue;
        int w = (int)(strlen(bench_opts[i].name) + strlen(b) + 4);
        if (col + w > 90) fputs("\n               ", f), col = 15;
        fprintf(f, " --%s %s", bench_opts[i].name, b);
        col += w;
    }
    fputs("\nLists are comma separated and accept 1e4 notation (single numbers are plain\n"
          "integers). Output: a #-commented table per sub-benchmark and one FEDALIGN_BENCH\n"
          "line per result (rank 0, stdout).\n",
          f);
}

int bench_parse(BenchOpts *o, int argc, char **argv, char *err, size_t errlen) {
    opts_init(o);
    OptSet set = {bench_opts, N_BENCH_OPTS, o};
    OptSpec spec = {.sets = &set,
                    .n_sets = 1,
                    .positional = parse_sub,
                    .positional_ctx = o,
                    .dashdash = true,
                    .help_hint = "fedalign bench --help"};
    int rest, rc = opt_parse(&spec, argc, argv, 2, &rest, err, errlen);
    if (rc != 0) return rc;
    o->pass_argc = argc - rest;
    o->pass_argv = argv + rest;
    opts_defaults(o);
    if (!o->run[B_ROUND] && !o->run[B_MEM] && o->pass_argc == 0) return 0;
    /* the run configuration is checked now, before any benchmark runs, not at the first
     * round; run flags that no sub-benchmark uses are still checked (a typo is a typo) */
    Config *cfg = xmalloc(sizeof *cfg);
    rc = bench_run_config(o, cfg, 1, o->rounds, err, errlen);
    free(cfg);
    return rc;
}

bool bench_parse_opts(BenchOpts *o, int argc, char **argv, int rank) {
    char err[1024];
    int rc = bench_parse(o, argc, argv, err, sizeof err);
    if (rc == OPT_HELP) {
        if (rank == 0) bench_usage(stdout);
        return false;
    }
    if (rc != 0) fa_fail("bench: %s\nHINT: fedalign bench --help", err);
    return true;
}

// ----------------------------------------------------------------------------
// output: tables as we go, FEDALIGN_BENCH lines buffered and printed after each table

static void line_add(Ctx *cx, const char *fmt, ...) FA_PRINTF(2, 3);
static void line_add(Ctx *cx, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    size_t n = strlen(buf);
    if (cx->lines_len + n + 2 > cx->lines_cap) {
        size_t cap = cx->lines_cap ? 2 * cx->lines_cap : 4096;
        while (cap < cx->lines_len + n + 2) cap *= 2;
        char *p = xmalloc(cap);
        if (cx->lines) memcpy(p, cx->lines, cx->lines_len);
        free(cx->lines);
        cx->lines = p;
        cx->lines_cap = cap;
    }
    memcpy(cx->lines + cx->lines_len, buf, n);
    cx->lines_len += n;
    cx->lines[cx->lines_len++] = '\n';
    cx->lines[cx->lines_len] = '\0';
}

static char *dup_str(const char *s) {
    size_t n = strlen(s ? s : "") + 1;
    char *p = xmalloc(n);
    memcpy(p, s ? s : "", n);
    return p;
}

void bench_emit(Ctx *cx, const char *name, const char *params, const char *unit,
                const BenchStats *s, const char *extra) {
    if (cx->n_rows == cx->cap_rows) {
        size_t cap = cx->cap_rows ? 2 * cx->cap_rows : 64;
        BenchRow *r = xmalloc(cap * sizeof *r);
        if (cx->n_rows) memcpy(r, cx->rows, cx->n_rows * sizeof *r);
        free(cx->rows);
        cx->rows = r;
        cx->cap_rows = cap;
    }
    cx->rows[cx->n_rows++] = (BenchRow){dup_str(name), dup_str(params), dup_str(unit), s->n, s->min,
                                        s->median,     s->max,          dup_str(extra)};
    line_add(cx, "FEDALIGN_BENCH name=%s %s unit=%s reps=%zu min=%.6g median=%.6g max=%.6g%s%s",
             name, params, unit, s->n, s->min, s->median, s->max, extra && *extra ? " " : "",
             extra ? extra : "");
}

void bench_flush(Ctx *cx) {
    if (cx->rank == 0 && cx->lines_len) {
        fputs(cx->lines, stdout);
        fflush(stdout);
    }
    cx->lines_len = 0;
    if (cx->lines) cx->lines[0] = '\0';
}

/* the vector ISA this file was compiled for (the library's build options) */
const char *const bench_build_isa =
#if defined(__AVX512F__)
    "avx512f";
#elif defined(__AVX2__)
    "avx2";
#elif defined(__AVX__)
    "avx";
#elif defined(__SSE2__)
    "sse2";
#else
    "scalar";
#endif

void bench_header(const Ctx *cx, const char *sub, const char *what) {
    if (cx->rank != 0) return;
    printf("\n# fedalign bench %s: %s\n", sub, what);
    printf("# fedalign %s (%s), build ISA %s, kernels' ISA path %s, ranks %d, threads per rank "
           "%d, reps %zu, warm-up %zu%s\n",
           FEDALIGN_VERSION, FEDALIGN_GIT, bench_build_isa, isa_name(isa_current()), cx->ranks,
           cx->threads, cx->o.reps, cx->o.warmup, cx->o.quick ? ", quick" : "");
}

// ----------------------------------------------------------------------------
// this process: memory and CPU time (Linux /proc; getrusage as a fallback for the peak)

/* value in kB of a "Key:   123 kB" line of /proc/self/status, -1 if unavailable */
static long status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

double bench_hwm_bytes(void) {
    long kb = status_kb("VmHWM");
    if (kb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kb = ru.ru_maxrss; /* kB on Linux; cannot be reset */
    }
    return 1024.0 * (double)kb;
}

double bench_rss_bytes(void) {
    long kb = status_kb("VmRSS");
    return kb < 0 ? nan("") : 1024.0 * (double)kb;
}

/* Linux >= 4.0: writing 5 to clear_refs resets VmHWM to the current RSS. Returns false
 * when that is not possible (then the peak is monotone over the whole run). Free heap
 * memory is handed back to the kernel first (glibc keeps freed chunks otherwise), so the
 * next peak starts from what is really in use. */
bool bench_hwm_reset(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

double bench_cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// ----------------------------------------------------------------------------
// the context

bool bench_ctx_init(Ctx *cx, int argc, char **argv) {
    memset(cx, 0, sizeof *cx);
    cx->rank = comm_rank();
    cx->ranks = comm_size();
    cx->threads = omp_get_max_threads();
    if (!bench_parse_opts(&cx->o, argc, argv, cx->rank)) return false;
    isa_start(cx->o.isa); /* the kernels' path, before any kernel runs */
    return true;
}

void bench_ctx_free(Ctx *cx) {
    for (size_t i = 0; i < cx->n_rows; i++) {
        free((char *)cx->rows[i].name);
        free((char *)cx->rows[i].params);
        free((char *)cx->rows[i].unit);
        free((char *)cx->rows[i].extra);
    }
    free(cx->rows);
    cx->rows = NULL;
    cx->n_rows = cx->cap_rows = 0;
    free(cx->lines);
    cx->lines = NULL;
    cx->lines_len = cx->lines_cap = 0;
}
