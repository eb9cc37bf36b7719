/*
 * bench.c: `fedalign bench`, the systems micro-benchmarks (issue 6; see bench.h).
 *
 *   peak       fp32 FMA rate of one core (register-blocked, 12 independent vector
 *              accumulators) and STREAM-like triad bandwidth, 1 and all threads: the
 *              ceilings every other figure is compared with;
 *   train      train_local() on the default model (electrical data, 6-64-32-6, Adam)
 *              at batch 1, 8, 32, 128: one thread, all threads splitting the batch, all
 *              threads each training its own client;
 *   aggregate  the phase-2 aggregation of fl.c rebuilt from the same kernels in the same
 *              order (FedAvg: one pass per client + one Reduce; similarity-aware with the
 *              mean reference: stored deltas, an Allreduce of P + 1 int64, cosines, a
 *              second pass, one Reduce) and a bare Allreduce of P floats;
 *   round      fl_setup + fl_run_method, phase 2 only, vs clients per rank: round time
 *              and framework overhead = round time - slowest rank's training time;
 *   memory     peak RSS (VmHWM, reset between points) vs clients per rank: the slope is
 *              the bytes each simulated client costs.
 * Method (OSU / HPCG discipline): warm-up repetitions are run and discarded, then `reps`
 * timed repetitions; min / median / max over repetitions; a barrier before every timed
 * collective repetition and the max over ranks of each repetition's time. peak and train
 * run on rank 0 only (the other ranks wait in a barrier, which Open MPI busy-polls: run
 * them with one rank for clean all-thread figures). Rates are also reported per CPU second
 * of the process (cpu_median): on a shared machine that is what the cores deliver while we
 * hold them, and it is what the ceilings are compared with in docs/performance.md.
 * Timing thresholds are never asserted anywhere.
 * Record: `--output FILE.h5` also writes every FEDALIGN_BENCH result to a self-describing
 * HDF5 file (store_write_bench: one table per result name, the command line, host, CPU,
 * date and units as attributes); an existing file is refused unless --overwrite, as in
 * `fedalign run`.
 */
#include "fedalign/bench.h"

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
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__GLIBC__)
#include <malloc.h> /* malloc_trim */
#endif

#include "fedalign/aggregate.h"
#include "fedalign/check.h"
#include "fedalign/comm.h"
#include "fedalign/config.h"
#include "fedalign/data.h"
#include "fedalign/fl.h"
#include "fedalign/model.h"
#include "fedalign/quant.h"
#include "fedalign/rng.h"
#include "fedalign/store.h"
#include "fedalign/timer.h"

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
    for (size_t l = 0; l < L->n_layers; l++) f += 2.0 * (double)L->fan_in[l] * (double)L->fan_out[l];
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
// options

enum { B_PEAK, B_TRAIN, B_AGG, B_ROUND, B_MEM, B_QUANT, B_COUNT };
static const char *const bench_names[B_COUNT] = {"peak", "train", "aggregate", "round", "memory",
                                                  "quant"};

#define MAXLIST 16
#define MAXREPS 1000

typedef struct {
    bool run[B_COUNT];
    size_t reps, warmup;
    bool quick, huge;
    double min_time;                 /* seconds a rate repetition should last */
    size_t batches[MAXLIST], n_batches;
    size_t plist[MAXLIST], n_p;
    size_t agg_clients;
    size_t cpr[MAXLIST], n_cpr;      /* round: clients per rank */
    size_t mem_cpr[MAXLIST], n_mem;  /* memory: clients per rank */
    size_t rounds;
    size_t samples;                  /* round/memory: rows per client */
    size_t triad_n;                  /* floats per triad array */
    char method[32];                 /* round/memory: fedmetaalign | fedavg */
    int pass_argc;                   /* run flags after "--" */
    char **pass_argv;
    char out[FA_PATH_LEN];           /* --output: HDF5 record ("" = none) */
    bool overwrite;                  /* replace an existing --output file */
} BenchOpts;

typedef struct {
    BenchOpts o;
    int rank, ranks, threads;
    double peak_fma;   /* measured single-core FMA GFLOP/s (0 = not measured) */
    double peak_build; /* measured single-core mul+add GFLOP/s at the build's vector width */
    double peak_fma_cpu, peak_build_cpu; /* the same per CPU second */
    const char *fma_isa;
} Ctx;

static void bench_usage(FILE *f) {
    fprintf(f,
            "usage: fedalign bench [SUB...] [options] [-- run flags]\n"
            "  SUB: peak | train | aggregate | round | memory | quant | all   (default: all)\n"
            "  --reps N            timed repetitions per point [5; --quick 3]\n"
            "  --warmup N          discarded warm-up repetitions [1]\n"
            "  --quick             small sizes and short repetitions (tests, smoke runs)\n"
            "  --min-time S        seconds per rate repetition (peak, train) [0.1; --quick 0.01]\n"
            "  --batch LIST        train: mini-batch sizes [1,8,32,128]\n"
            "  --p LIST            aggregate: parameter counts [model P,1e3,...,1e7; --quick to 1e5]\n"
            "  --agg-clients N     aggregate: clients per rank [8]\n"
            "  --clients LIST      round: clients per rank [1,10,100,1000,10000; --quick 1,10,100]\n"
            "  --huge              round: add the 100000-clients-per-rank point\n"
            "  --mem-clients LIST  memory: clients per rank [250,500,1000,2000; --quick 100,200,400]\n"
            "  --rounds R          round: phase-2 rounds per repetition [3; --quick 2] (memory: 1)\n"
            "  --samples N         round/memory: rows per client [200]\n"
            "  --method NAME       round/memory: fedmetaalign | fedavg [fedmetaalign]\n"
            "  --triad-n N         peak: floats per triad array [2^25; --quick 2^22]\n"
            "  --output FILE.h5    also write every result to this HDF5 file (refused if it "
            "exists)\n"
            "  --overwrite         replace an existing --output file\n"
            "  -- FLAGS            round/memory: further `fedalign run` flags (e.g. -- "
            "--reference prev)\n"
            "Lists are comma separated and accept 1e4 notation. Output: a #-commented table\n"
            "per sub-benchmark and one FEDALIGN_BENCH line per result (rank 0, stdout).\n");
}

static size_t want_size(const char *flag, const char *v, double lo, double hi) {
    char *end;
    double d = v ? strtod(v, &end) : 0.0;
    if (!v || end == v || *end || !(d >= lo) || d > hi || d != floor(d))
        fa_fail("bench: %s needs an integer in [%g, %g], got '%s'\nHINT: fedalign bench --help",
                flag, lo, hi, v ? v : "(nothing)");
    return (size_t)d;
}

static size_t want_list(const char *flag, const char *v, size_t max, size_t *out) {
    size_t n = v ? bench_parse_sizes(v, max, out, MAXLIST) : 0;
    if (n == 0)
        fa_fail("bench: %s needs a comma list of at most %d integers in [1, %zu], got '%s'\n"
                "HINT: fedalign bench --help",
                flag, MAXLIST, max, v ? v : "(nothing)");
    return n;
}

/* returns false for --help (usage printed) */
static bool parse_opts(BenchOpts *o, int argc, char **argv, int rank) {
    memset(o, 0, sizeof *o);
    o->reps = 0; /* 0 = default, set below */
    o->warmup = 1;
    o->agg_clients = 8;
    o->samples = 200;
    snprintf(o->method, sizeof o->method, "fedmetaalign");
    bool any = false, user_reps = false, user_min_time = false, user_rounds = false;
    bool set_b = false, set_p = false, set_c = false, set_m = false, set_t = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--") == 0) {
            o->pass_argc = argc - i - 1;
            o->pass_argv = argv + i + 1;
            break;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            if (rank == 0) bench_usage(stdout);
            return false;
        } else if (strcmp(a, "all") == 0) {
            for (int b = 0; b < B_COUNT; b++) o->run[b] = true;
            any = true;
        } else if (a[0] != '-') {
            int b = 0;
            while (b < B_COUNT && strcmp(a, bench_names[b]) != 0) b++;
            if (b == B_COUNT)
                fa_fail("bench: unknown sub-benchmark '%s' (expected peak, train, aggregate, "
                        "round, memory, quant or all)\nHINT: fedalign bench --help",
                        a);
            o->run[b] = true;
            any = true;
        } else if (strcmp(a, "--quick") == 0) {
            o->quick = true;
        } else if (strcmp(a, "--huge") == 0) {
            o->huge = true;
        } else if (strcmp(a, "--reps") == 0) {
            o->reps = want_size(a, v, 1, MAXREPS), i++, user_reps = true;
        } else if (strcmp(a, "--warmup") == 0) {
            o->warmup = want_size(a, v, 0, 100), i++;
        } else if (strcmp(a, "--min-time") == 0) {
            char *end;
            double d = v ? strtod(v, &end) : 0.0;
            if (!v || end == v || *end || !(d >= 1e-4) || d > 100.0)
                fa_fail("bench: --min-time needs seconds in [1e-4, 100], got '%s'",
                        v ? v : "(nothing)");
            o->min_time = d, i++, user_min_time = true;
        } else if (strcmp(a, "--batch") == 0) {
            o->n_batches = want_list(a, v, 65536, o->batches), i++, set_b = true;
        } else if (strcmp(a, "--p") == 0) {
            o->n_p = want_list(a, v, (size_t)1 << 28, o->plist), i++, set_p = true;
        } else if (strcmp(a, "--agg-clients") == 0) {
            o->agg_clients = want_size(a, v, 1, 4096), i++;
        } else if (strcmp(a, "--clients") == 0) {
            o->n_cpr = want_list(a, v, 10000000, o->cpr), i++, set_c = true;
        } else if (strcmp(a, "--mem-clients") == 0) {
            o->n_mem = want_list(a, v, 10000000, o->mem_cpr), i++, set_m = true;
        } else if (strcmp(a, "--rounds") == 0) {
            o->rounds = want_size(a, v, 1, 10000), i++, user_rounds = true;
        } else if (strcmp(a, "--samples") == 0) {
            o->samples = want_size(a, v, 1, 1e7), i++;
        } else if (strcmp(a, "--triad-n") == 0) {
            o->triad_n = want_size(a, v, 1024, 1e10), i++, set_t = true;
        } else if (strcmp(a, "--output") == 0) {
            if (!v || !*v || strlen(v) >= sizeof o->out)
                fa_fail("bench: --output needs a file name (shorter than %zu bytes), got '%s'",
                        sizeof o->out, v ? v : "(nothing)");
            snprintf(o->out, sizeof o->out, "%s", v), i++;
        } else if (strcmp(a, "--overwrite") == 0) {
            o->overwrite = true;
        } else if (strcmp(a, "--method") == 0) {
            if (!v || (strcmp(v, "fedmetaalign") != 0 && strcmp(v, "fedavg") != 0))
                fa_fail("bench: --method needs fedmetaalign or fedavg, got '%s'",
                        v ? v : "(nothing)");
            snprintf(o->method, sizeof o->method, "%s", v), i++;
        } else {
            fa_fail("bench: unknown option '%s'\nHINT: fedalign bench --help", a);
        }
    }
    if (!any)
        for (int b = 0; b < B_COUNT; b++) o->run[b] = true;
    if (!user_reps) o->reps = o->quick ? 3 : 5;
    if (!user_min_time) o->min_time = o->quick ? 0.01 : 0.1;
    if (!user_rounds) o->rounds = o->quick ? 2 : 3;
    if (!set_b) {
        const size_t b[] = {1, 8, 32, 128};
        memcpy(o->batches, b, sizeof b);
        o->n_batches = 4;
    }
    if (!set_p) { /* 0 stands for the default model's P, filled in by the benchmark */
        const size_t full[] = {0, 1000, 10000, 100000, 1000000, 10000000};
        const size_t quick[] = {0, 1000, 10000, 100000};
        o->n_p = o->quick ? 4 : 6;
        memcpy(o->plist, o->quick ? quick : full, o->n_p * sizeof(size_t));
    }
    if (!set_c) {
        const size_t full[] = {1, 10, 100, 1000, 10000};
        const size_t quick[] = {1, 10, 100};
        o->n_cpr = o->quick ? 3 : 5;
        memcpy(o->cpr, o->quick ? quick : full, o->n_cpr * sizeof(size_t));
    }
    if (o->huge && o->n_cpr < MAXLIST) o->cpr[o->n_cpr++] = 100000;
    if (!set_m) {
        const size_t full[] = {250, 500, 1000, 2000};
        const size_t quick[] = {100, 200, 400};
        o->n_mem = o->quick ? 3 : 4;
        memcpy(o->mem_cpr, o->quick ? quick : full, o->n_mem * sizeof(size_t));
    }
    if (!set_t) o->triad_n = o->quick ? (size_t)1 << 22 : (size_t)1 << 25;
    return true;
}

// ----------------------------------------------------------------------------
// output: tables as we go, FEDALIGN_BENCH lines buffered and printed after each table

static char *g_lines;
static size_t g_len, g_cap;

static void line_add(const char *fmt, ...) FA_PRINTF(1, 2);
static void line_add(const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    size_t n = strlen(buf);
    if (g_len + n + 2 > g_cap) {
        size_t cap = g_cap ? 2 * g_cap : 4096;
        while (cap < g_len + n + 2) cap *= 2;
        char *p = xmalloc(cap);
        if (g_lines) memcpy(p, g_lines, g_len);
        free(g_lines);
        g_lines = p;
        g_cap = cap;
    }
    memcpy(g_lines + g_len, buf, n);
    g_len += n;
    g_lines[g_len++] = '\n';
    g_lines[g_len] = '\0';
}

/* every result, also kept as a row for the HDF5 record (--output) */
static BenchRow *g_rows;
static size_t g_nrows, g_caprows;

static char *dup_str(const char *s) {
    size_t n = strlen(s ? s : "") + 1;
    char *p = xmalloc(n);
    memcpy(p, s ? s : "", n);
    return p;
}

static void rows_free(void) {
    for (size_t i = 0; i < g_nrows; i++) {
        free((char *)g_rows[i].name);
        free((char *)g_rows[i].params);
        free((char *)g_rows[i].unit);
        free((char *)g_rows[i].extra);
    }
    free(g_rows);
    g_rows = NULL;
    g_nrows = g_caprows = 0;
}

/* one result line: name, parameters, unit, repetitions, min/median/max, extras */
static void emit(const char *name, const char *params, const char *unit, const BenchStats *s,
                 const char *extra) {
    if (g_nrows == g_caprows) {
        size_t cap = g_caprows ? 2 * g_caprows : 64;
        BenchRow *r = xmalloc(cap * sizeof *r);
        if (g_nrows) memcpy(r, g_rows, g_nrows * sizeof *r);
        free(g_rows);
        g_rows = r;
        g_caprows = cap;
    }
    g_rows[g_nrows++] = (BenchRow){dup_str(name), dup_str(params), dup_str(unit), s->n,
                                   s->min, s->median, s->max, dup_str(extra)};
    line_add("FEDALIGN_BENCH name=%s %s unit=%s reps=%zu min=%.6g median=%.6g max=%.6g%s%s", name,
             params, unit, s->n, s->min, s->median, s->max, extra && *extra ? " " : "",
             extra ? extra : "");
}

static void lines_flush(const Ctx *cx) {
    if (cx->rank == 0 && g_len) {
        fputs(g_lines, stdout);
        fflush(stdout);
    }
    g_len = 0;
    if (g_lines) g_lines[0] = '\0';
}

/* the vector ISA this file was compiled for (the library's build options) */
#if defined(__AVX512F__)
#define BUILD_ISA "avx512f"
#elif defined(__AVX2__)
#define BUILD_ISA "avx2"
#elif defined(__AVX__)
#define BUILD_ISA "avx"
#elif defined(__SSE2__)
#define BUILD_ISA "sse2"
#else
#define BUILD_ISA "scalar"
#endif

static void header(const Ctx *cx, const char *sub, const char *what) {
    if (cx->rank != 0) return;
    printf("\n# fedalign bench %s: %s\n", sub, what);
    printf("# fedalign %s (%s), build ISA %s, ranks %d, threads per rank %d, reps %zu, warm-up "
           "%zu%s\n",
           FEDALIGN_VERSION, FEDALIGN_GIT, BUILD_ISA, cx->ranks, cx->threads, cx->o.reps,
           cx->o.warmup, cx->o.quick ? ", quick" : "");
}

// ----------------------------------------------------------------------------
// memory of this process (Linux /proc; getrusage as a fallback for the peak)

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

/* peak resident set in bytes since the last hwm_reset */
static double hwm_bytes(void) {
    long kb = status_kb("VmHWM");
    if (kb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kb = ru.ru_maxrss; /* kB on Linux; cannot be reset */
    }
    return 1024.0 * (double)kb;
}

/* the CPU's model name from /proc/cpuinfo ("unknown" elsewhere) */
static void cpu_model(char *out, size_t cap) {
    snprintf(out, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            const char *p = strchr(line, ':');
            if (!p) break;
            p++;
            while (*p == ' ' || *p == '\t') p++;
            snprintf(out, cap, "%s", p);
            out[strcspn(out, "\n")] = '\0';
            break;
        }
    fclose(f);
}

static double rss_bytes(void) {
    long kb = status_kb("VmRSS");
    return kb < 0 ? nan("") : 1024.0 * (double)kb;
}

/* Linux >= 4.0: writing 5 to clear_refs resets VmHWM to the current RSS. Returns false
 * when that is not possible (then the peak is monotone over the whole run). Free heap
 * memory is handed back to the kernel first (glibc keeps freed chunks otherwise), so the
 * next peak starts from what is really in use. */
static bool hwm_reset(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

// ----------------------------------------------------------------------------
// peak: FMA rate and triad bandwidth

#define PK_ACC 12 /* independent chains: >= FMA latency (4) x pipes (2) on current x86 */

/* Twelve accumulator chains acc = acc * m + c; m < 1 so every chain converges to
 * c / (1 - m) and never overflows or goes subnormal. Distinct starting values keep the
 * compiler from merging identical chains. */
#define PK_CHAINS(STEP)                                                                            \
    STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7) STEP(8) STEP(9) STEP(10) STEP(11)

/* The build's own vector ISA without contraction (-std=c17 implies -ffp-contract=off):
 * one multiply and one add, each rounded, at the width model.c uses (4 floats with SSE,
 * the x86-64 baseline; 8 under AVX). This is the ceiling of the portable build. */
#if defined(__AVX__)
#define PK_VW 8
#else
#define PK_VW 4
#endif
typedef float pk_vec __attribute__((vector_size(PK_VW * sizeof(float))));

static double peak_muladd(size_t iters) {
    pk_vec vm = (pk_vec){0} + 0.999999f, vc = (pk_vec){0} + 1e-7f;
#define DECL(k) pk_vec a##k = (pk_vec){0} + 0.01f * (float)(k + 1);
    PK_CHAINS(DECL)
#undef DECL
    for (size_t i = 0; i < iters; i++) {
#define STEP(k) a##k = a##k * vm + vc;
        PK_CHAINS(STEP)
#undef STEP
    }
    pk_vec s = (pk_vec){0};
#define SUM(k) s += a##k;
    PK_CHAINS(SUM)
#undef SUM
    double t = 0.0;
    for (int i = 0; i < PK_VW; i++) t += (double)s[i];
    return t;
}

#if defined(__x86_64__)
/* 256-bit FMA (vfmadd...ps ymm); needs AVX2 + FMA at run time (checked by the caller). */
__attribute__((target("avx2,fma"))) static double peak_fma256(size_t iters) {
    const __m256 vm = _mm256_set1_ps(0.999999f), vc = _mm256_set1_ps(1e-7f);
#define DECL(k) __m256 a##k = _mm256_set1_ps(0.01f * (float)(k + 1));
    PK_CHAINS(DECL)
#undef DECL
    for (size_t i = 0; i < iters; i++) {
#define STEP(k) a##k = _mm256_fmadd_ps(a##k, vm, vc);
        PK_CHAINS(STEP)
#undef STEP
    }
    __m256 s = _mm256_setzero_ps();
#define SUM(k) s = _mm256_add_ps(s, a##k);
    PK_CHAINS(SUM)
#undef SUM
    float o[8];
    _mm256_storeu_ps(o, s);
    double t = 0.0;
    for (int i = 0; i < 8; i++) t += (double)o[i];
    return t;
}

/* 512-bit FMA (vfmadd...ps zmm); needs AVX-512F at run time. */
__attribute__((target("avx512f"))) static double peak_fma512(size_t iters) {
    const __m512 vm = _mm512_set1_ps(0.999999f), vc = _mm512_set1_ps(1e-7f);
#define DECL(k) __m512 a##k = _mm512_set1_ps(0.01f * (float)(k + 1));
    PK_CHAINS(DECL)
#undef DECL
    for (size_t i = 0; i < iters; i++) {
#define STEP(k) a##k = _mm512_fmadd_ps(a##k, vm, vc);
        PK_CHAINS(STEP)
#undef STEP
    }
    __m512 s = _mm512_setzero_ps();
#define SUM(k) s = _mm512_add_ps(s, a##k);
    PK_CHAINS(SUM)
#undef SUM
    float o[16];
    _mm512_storeu_ps(o, s);
    double t = 0.0;
    for (int i = 0; i < 16; i++) t += (double)o[i];
    return t;
}
#endif

typedef double (*PeakFn)(size_t);

/* CPU seconds used by this process (all threads) */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static volatile double g_sink; /* keeps the kernels' results alive */

/* iterations such that one call lasts about min_time */
static size_t calibrate_iters(PeakFn fn, double min_time) {
    size_t it = 1 << 12;
    for (;;) {
        double t0 = timer_now();
        g_sink = fn(it);
        double t = timer_now() - t0;
        if (t >= 0.25 * min_time || it >= ((size_t)1 << 40)) {
            double scale = t > 0.0 ? min_time / t : 4.0;
            double n = (double)it * (scale < 1.0 ? 1.0 : scale);
            return (size_t)n;
        }
        it *= 4;
    }
}

/* GFLOP/s of fn over warm-up + reps calls, per wall second (st) and per CPU second of
 * this process (sc: what the core delivers while we have it, robust to a busy machine) */
static void peak_run(const Ctx *cx, PeakFn fn, int lanes, double *rates, BenchStats *st,
                     BenchStats *sc) {
    size_t it = calibrate_iters(fn, cx->o.min_time);
    double flops = (double)it * PK_ACC * (double)lanes * 2.0;
    double *cr = xmalloc(cx->o.reps * sizeof(double));
    for (size_t r = 0; r < cx->o.warmup + cx->o.reps; r++) {
        double t0 = timer_now(), c0 = cpu_now();
        g_sink = fn(it);
        double t = timer_now() - t0, c = cpu_now() - c0;
        if (r >= cx->o.warmup) {
            rates[r - cx->o.warmup] = flops / t * 1e-9;
            cr[r - cx->o.warmup] = flops / c * 1e-9;
        }
    }
    bench_stats(rates, cx->o.reps, st);
    bench_stats(cr, cx->o.reps, sc);
    free(cr);
}

static void triad(float *restrict a, const float *restrict b, const float *restrict c, float s,
                  size_t n, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (size_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
}

/* one FMA/mul+add kernel: a table row, a FEDALIGN_BENCH line; keeps the best as ceiling */
static void peak_one(Ctx *cx, PeakFn fn, int lanes, const char *label, const char *params,
                     const char *isa, double *rates) {
    BenchStats st, sc;
    peak_run(cx, fn, lanes, rates, &st, &sc);
    printf("  %-22s %8d %12.2f %12.2f %12.2f  GFLOP/s (per CPU-s %.2f)\n", label, 1, st.min,
           st.median, st.max, sc.median);
    char extra[64];
    snprintf(extra, sizeof extra, "cpu_median=%.6g", sc.median);
    emit("peak_fma", params, "GFLOP/s", &st, extra);
    if (isa == NULL) { /* the build's own mul+add */
        cx->peak_build = st.median;
        cx->peak_build_cpu = sc.median;
    } else if (st.median > cx->peak_fma) {
        cx->peak_fma = st.median;
        cx->peak_fma_cpu = sc.median;
        cx->fma_isa = isa;
    }
}

static void bench_peak(Ctx *cx) {
    header(cx, "peak", "single-core fp32 FMA rate and triad memory bandwidth (the ceilings)");
    if (cx->rank == 0) {
        if (cx->ranks > 1)
            printf("# note: ranks 1..%d wait in a (busy-polling) barrier; run with one rank for "
                   "clean all-thread figures\n",
                   cx->ranks - 1);
        printf("# fma: %d independent vector chains acc = acc * m + c, 2 FLOP per lane per step; "
               "muladd: the same with a separate multiply and add\n",
               PK_ACC);
        printf("# %-22s %8s %12s %12s %12s  %s\n", "kernel", "threads", "min", "median", "max",
               "unit");
        double *rates = xmalloc(cx->o.reps * sizeof(double));
        BenchStats st;
        char params[128];

        /* the build's own ISA: multiply + add, no contraction */
        snprintf(params, sizeof params, "kernel=muladd width=%d threads=1", PK_VW);
        peak_one(cx, peak_muladd, PK_VW, PK_VW == 8 ? "muladd-avx-build" : "muladd-sse-build",
                 params, NULL, rates);
        cx->fma_isa = "none";
#if defined(__x86_64__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            peak_one(cx, peak_fma256, 8, "fma-avx2-256", "kernel=fma width=8 isa=avx2 threads=1",
                     "avx2", rates);
        if (__builtin_cpu_supports("avx512f"))
            peak_one(cx, peak_fma512, 16, "fma-avx512-512",
                     "kernel=fma width=16 isa=avx512f threads=1", "avx512f", rates);
#endif
        if (cx->peak_fma <= 0.0) { /* no FMA unit: the mul+add rate is the ceiling */
            cx->peak_fma = cx->peak_build;
            cx->peak_fma_cpu = cx->peak_build_cpu;
        }
        printf("# ceiling: fma %.2f GFLOP/s (%s), build mul+add %.2f GFLOP/s (width %d)\n",
               cx->peak_fma, cx->fma_isa, cx->peak_build, PK_VW);

        /* triad a = b + s c over three arrays of n floats; bytes counted as STREAM does
         * (3 x 4 n: two reads, one write, no write-allocate traffic) */
        size_t n = cx->o.triad_n;
        float *a = xalloc_aligned(n * sizeof(float)), *b = xalloc_aligned(n * sizeof(float));
        float *c = xalloc_aligned(n * sizeof(float));
        int T = cx->threads;
#pragma omp parallel for schedule(static) num_threads(T)
        for (size_t i = 0; i < n; i++) { /* first touch by the same static schedule */
            a[i] = 0.0f;
            b[i] = 1.0f;
            c[i] = 2.0f;
        }
        double bytes = 3.0 * 4.0 * (double)n;
        printf("# triad a[i] = b[i] + s * c[i], 3 arrays x %zu floats (%.0f MiB), %.0f bytes per "
               "pass\n",
               n, 3.0 * 4.0 * (double)n / 1048576.0, bytes);
        printf("# %-22s %8s %12s %12s %12s  %s\n", "kernel", "threads", "min", "median", "max",
               "unit");
        int tlist[2] = {1, T};
        for (int k = 0; k < (T > 1 ? 2 : 1); k++) {
            for (size_t r = 0; r < cx->o.warmup + cx->o.reps; r++) {
                double t0 = timer_now();
                triad(a, b, c, 0.5f, n, tlist[k]);
                double t = timer_now() - t0;
                if (r >= cx->o.warmup) rates[r - cx->o.warmup] = bytes / t * 1e-9;
            }
            g_sink = a[n / 2];
            bench_stats(rates, cx->o.reps, &st);
            printf("  %-22s %8d %12.2f %12.2f %12.2f  GB/s\n", "triad", tlist[k], st.min,
                   st.median, st.max);
            snprintf(params, sizeof params, "kernel=triad threads=%d floats=%zu", tlist[k], n);
            emit("peak_triad", params, "GB/s", &st, "");
        }
        free(a);
        free(b);
        free(c);
        free(rates);
    }
    comm_barrier();
    lines_flush(cx);
}

// ----------------------------------------------------------------------------
// train: train_local() on the default model

/* the default model and optimizer, on n rows of built-in device data (device 0, labels
 * cycling over the classes), standardized by these rows' mean and std (fl.c computes the
 * same over every client's rows with exact sums; the kernels' cost does not depend on it) */
typedef struct {
    Config *cfg;
    ModelLayout L;
    Dataset ds;
    float *init;
} TrainSetup;

static void train_setup(TrainSetup *ts, size_t n) {
    ts->cfg = xmalloc(sizeof *ts->cfg);
    config_defaults(ts->cfg);
    const Config *c = ts->cfg;
    DataInfo info;
    gen_info(c->data.kind, &c->data.gen, &info);
    ModelShape sh = c->shape;
    sh.n_in = info.d;
    sh.n_out = info.k;
    size_t P = model_layout(&ts->L, &sh);
    dataset_alloc(&ts->ds, n, info.d);
    for (size_t i = 0; i < n; i++) ts->ds.y[i] = (int32_t)(i % info.k);
    gen_samples(c->data.kind, &c->data.gen, c->seed, 0, false, 0, ts->ds.y, n, ts->ds.x);
    double mean[FA_MAX_FEATURES], sd[FA_MAX_FEATURES];
    for (size_t j = 0; j < info.d; j++) {
        double s = 0.0, s2 = 0.0;
        for (size_t i = 0; i < n; i++) {
            double v = (double)ts->ds.x[i * info.d + j];
            s += v;
            s2 += v * v;
        }
        mean[j] = s / (double)n;
        sd[j] = sqrt(fmax(s2 / (double)n - mean[j] * mean[j], 0.0));
    }
    ts->init = xalloc_aligned(P * sizeof(float));
    model_init(&ts->L, ts->init, c->seed, 0);
    model_set_norm(&ts->L, ts->init, mean, sd);
}

static void train_setup_free(TrainSetup *ts) {
    dataset_free(&ts->ds);
    free(ts->init);
    free(ts->cfg);
}

typedef enum { TM_SERIAL, TM_BATCH, TM_CLIENTS } TrainMode;
static const char *const tm_names[] = {"serial", "batch", "clients"};

/* one repetition: samples trained per second. TM_CLIENTS: every thread trains its own
 * client (own parameters and workspace, shared read-only data), like fl.c over clients. */
static double train_rep(const TrainSetup *ts, TrainMode mode, int T, Workspace *ws, float *params,
                        const TrainOpts *o, uint64_t round, double *cpu_rate) {
    size_t P = ts->L.n_params, samples = 0;
    double t0 = timer_now(), c0 = cpu_now();
    if (mode == TM_CLIENTS) {
#pragma omp parallel num_threads(T) reduction(+ : samples)
        {
            int t = omp_get_thread_num();
            float *p = params + (size_t)t * P;
            memcpy(p, ts->init, P * sizeof(float));
            TrainStats st;
            train_local(&ts->L, p, NULL, &ts->ds, o, ts->cfg->seed, (uint64_t)t, round, &ws[t],
                        false, &st);
            samples += st.samples;
        }
    } else {
        memcpy(params, ts->init, P * sizeof(float));
        TrainStats st;
        int saved = omp_get_max_threads();
        omp_set_num_threads(mode == TM_BATCH ? T : 1);
        train_local(&ts->L, params, NULL, &ts->ds, o, ts->cfg->seed, 0, round, &ws[0],
                    mode == TM_BATCH, &st);
        omp_set_num_threads(saved);
        samples = st.samples;
    }
    double t = timer_now() - t0, c = cpu_now() - c0;
    g_sink = (double)params[P - 1];
    /* per CPU second of each of the T threads: the wall rate had every thread its own core */
    *cpu_rate = (double)samples * (double)(mode == TM_SERIAL ? 1 : T) / c;
    return (double)samples / t;
}

static void bench_train(Ctx *cx) {
    header(cx, "train", "train_local() throughput, default model (Adam, electrical data)");
    if (cx->rank == 0) {
        const size_t n = 4096;
        TrainSetup ts;
        train_setup(&ts, n);
        const ModelLayout *L = &ts.L;
        double fps = bench_flops_train_sample(L);
        printf("# model %zu", L->shape.n_in);
        for (size_t l = 0; l < L->shape.n_hidden; l++) printf("-%zu", L->shape.hidden[l]);
        printf("-%zu, P = %zu, %zu rows; FLOP per sample %.0f = forward %.0f + weight grads %.0f "
               "+ back-propagated errors %.0f (Adam step per batch not counted)\n",
               L->shape.n_out, L->n_params, n, fps, bench_flops_forward(L), bench_flops_forward(L),
               fps - 2.0 * bench_flops_forward(L));
        if (cx->peak_fma > 0.0)
            printf("# %% of peak: GFLOP/s / (threads x single-core peak); fma peak %.2f (%s), "
                   "build mul+add peak %.2f GFLOP/s\n",
                   cx->peak_fma, cx->fma_isa, cx->peak_build);
        else
            printf("# run `fedalign bench peak train` for %% of peak\n");
        printf("# modes: serial = 1 thread; batch = threads split each mini-batch (chunks of %d "
               "rows); clients = each thread trains its own client\n",
               FA_CHUNK);
        printf("# cpu: samples x threads per process CPU second (what the cores deliver while we "
               "hold them; robust to a busy machine), %%fma-cpu against the FMA peak per CPU "
               "second\n");
        printf("# %6s %-8s %7s %12s %12s %12s %9s %8s %8s %12s %8s\n", "batch", "mode", "threads",
               "min", "median", "max", "GFLOP/s", "%fma", "%build", "cpu median", "%fma-cpu");
        printf("# %6s %-8s %7s %12s %12s %12s\n", "", "", "", "samples/s", "samples/s",
               "samples/s");
        int T = cx->threads;
        size_t P = L->n_params;
        double *rates = xmalloc(cx->o.reps * sizeof(double));
        double *crates = xmalloc(cx->o.reps * sizeof(double));
        float *params = xalloc_aligned((size_t)T * P * sizeof(float));
        Workspace *ws = xcalloc((size_t)T, sizeof(Workspace));
        for (size_t bi = 0; bi < cx->o.n_batches; bi++) {
            size_t B = cx->o.batches[bi];
            for (int t = 0; t < T; t++) workspace_build(&ws[t], L, B);
            for (int m = 0; m < 3; m++) {
                TrainMode mode = (TrainMode)m;
                if (mode != TM_SERIAL && T == 1) continue;
                int thr = mode == TM_SERIAL ? 1 : T;
                TrainOpts o = ts.cfg->local;
                o.batch = B;
                o.mu = 0.0;
                o.epochs = 1.0;
                /* calibrate: whole epochs so that a repetition lasts about min_time */
                double crate, rate = train_rep(&ts, mode, thr, ws, params, &o, 0, &crate);
                double per_thread = mode == TM_CLIENTS ? rate / thr : rate;
                double ep = ceil(cx->o.min_time * per_thread / (double)n);
                o.epochs = ep < 1.0 ? 1.0 : ep > 1e4 ? 1e4 : ep;
                for (size_t r = 0; r < cx->o.warmup + cx->o.reps; r++) {
                    double v = train_rep(&ts, mode, thr, ws, params, &o, r + 1, &crate);
                    if (r >= cx->o.warmup) {
                        rates[r - cx->o.warmup] = v;
                        crates[r - cx->o.warmup] = crate;
                    }
                }
                BenchStats st, sc;
                bench_stats(rates, cx->o.reps, &st);
                bench_stats(crates, cx->o.reps, &sc);
                double gf = st.median * fps * 1e-9, gfc = sc.median * fps * 1e-9;
                double pf = cx->peak_fma > 0.0 ? 100.0 * gf / (cx->peak_fma * thr) : nan("");
                double pb = cx->peak_build > 0.0 ? 100.0 * gf / (cx->peak_build * thr) : nan("");
                double pfc = cx->peak_fma_cpu > 0.0 ? 100.0 * gfc / (cx->peak_fma_cpu * thr) : nan("");
                printf("  %6zu %-8s %7d %12.4g %12.4g %12.4g %9.2f %8.1f %8.1f %12.4g %8.1f\n", B,
                       tm_names[mode], thr, st.min, st.median, st.max, gf, pf, pb, sc.median, pfc);
                char params_s[160], extra[256];
                snprintf(params_s, sizeof params_s, "batch=%zu mode=%s threads=%d P=%zu", B,
                         tm_names[mode], thr, P);
                snprintf(extra, sizeof extra,
                         "flop_per_sample=%.0f gflops=%.4g pct_fma_peak=%.3g pct_build_peak=%.3g "
                         "samples_per_rep=%.0f cpu_median=%.6g pct_fma_peak_cpu=%.3g",
                         fps, gf, pf, pb, o.epochs * (double)n * (mode == TM_CLIENTS ? thr : 1),
                         sc.median, pfc);
                emit("train", params_s, "samples/s", &st, extra);
            }
            for (int t = 0; t < T; t++) workspace_free(&ws[t]);
        }
        free(ws);
        free(params);
        free(crates);
        free(rates);
        train_setup_free(&ts);
    }
    comm_barrier();
    lines_flush(cx);
}

// ----------------------------------------------------------------------------
// aggregate: fl.c's phase-2 aggregation, from the same kernels in the same order

/* extra int64 slots after the P sums, as in fl.c's per-round reduce buffer */
#define AGG_X 8
enum { AX_DEN = 0, AX_SELECTED = 5 };

typedef struct {
    size_t P, L;          /* parameters, clients on this rank */
    int nt;               /* threads */
    bool over_clients;    /* threads take whole clients (fl.c's rule) */
    float *global, *out;  /* (P) phi^r, phi^{r+1} */
    float *trained;       /* (L, P) the clients' models after local training */
    float *w;             /* (nt, P) per-thread scratch: the client's delta */
    float *deltas;        /* (L, P) stored deltas (mean reference only) */
    double *dnorm2;       /* (L) |delta|^2 from the first pass (mean reference only) */
    float *ref;           /* (P) mean update */
    float *fbuf;          /* (P) bare Allreduce buffer */
    int64_t *tacc, *acc;  /* (nt, P + AGG_X), (P + AGG_X) */
    bool *tok;            /* (nt) */
    double *score;        /* (L) s_t */
    int64_t *q;           /* (L) */
    size_t *ntrain;       /* (L) FedAvg weights */
    double t_comm;        /* seconds in collectives during the last call */
} AggBuf;

static void agg_alloc(AggBuf *a, size_t P, size_t L, int nt, bool with_deltas) {
    memset(a, 0, sizeof *a);
    a->P = P;
    a->L = L;
    a->nt = nt;
    a->over_clients = L >= (size_t)nt && nt > 1;
    a->global = xalloc_aligned(P * sizeof(float));
    a->out = xalloc_aligned(P * sizeof(float));
    a->ref = xalloc_aligned(P * sizeof(float));
    a->fbuf = xalloc_aligned(P * sizeof(float));
    a->trained = xalloc_aligned(L * P * sizeof(float));
    a->w = xalloc_aligned((size_t)nt * P * sizeof(float));
    if (with_deltas) a->deltas = xalloc_aligned(L * P * sizeof(float));
    a->dnorm2 = xcalloc(L, sizeof(double));
    a->tacc = xalloc_aligned((size_t)nt * (P + AGG_X) * sizeof(int64_t));
    a->acc = xalloc_aligned((P + AGG_X) * sizeof(int64_t));
    a->tok = xcalloc((size_t)nt, sizeof(bool));
    a->score = xcalloc(L, sizeof(double));
    a->q = xcalloc(L, sizeof(int64_t));
    a->ntrain = xcalloc(L, sizeof(size_t));
    /* a global model of O(0.1) values and client updates of O(1e-3), as after a few epochs
     * of Adam; a cheap hash, not the Philox streams, because P x L reaches 1e8 values */
    int rank = comm_rank();
    for (size_t j = 0; j < P; j++)
        a->global[j] = (float)((double)(rng_mix64(j) >> 11) * 0x1p-53 - 0.5) * 0.2f;
    for (size_t i = 0; i < L; i++) {
        uint64_t base = ((uint64_t)rank << 40) ^ ((uint64_t)(i + 1) << 32);
        float *t = a->trained + i * P;
        for (size_t j = 0; j < P; j++)
            t[j] = a->global[j] +
                   (float)(((double)(rng_mix64(base + j) >> 11) * 0x1p-53 - 0.5) * 2e-3);
        a->score[i] = 0.5 + 0.05 * (double)(i % 10);
        a->ntrain[i] = 100 + 7 * i;
    }
}

static void agg_free(AggBuf *a) {
    free(a->global);
    free(a->out);
    free(a->ref);
    free(a->fbuf);
    free(a->trained);
    free(a->w);
    free(a->deltas);
    free(a->dnorm2);
    free(a->tacc);
    free(a->acc);
    free(a->tok);
    free(a->score);
    free(a->q);
    free(a->ntrain);
}

static void agg_zero(AggBuf *a) {
    memset(a->tacc, 0, (size_t)a->nt * (a->P + AGG_X) * sizeof(int64_t));
    for (int t = 0; t < a->nt; t++) a->tok[t] = true;
}

/* fl.c sum_thread_acc: integer sum of the per-thread accumulators, agreement over ranks */
static void agg_sum_threads(AggBuf *a) {
    const size_t m = a->P + AGG_X;
    memset(a->acc, 0, m * sizeof(int64_t));
    bool ok = true;
    for (int t = 0; t < a->nt; t++) {
        ok = ok && a->tok[t];
        ok = ok && fixed_add(a->acc, a->tacc + (size_t)t * m, m);
    }
    double t0 = timer_now();
    bool all = comm_all(ok);
    a->t_comm += timer_now() - t0;
    CHECK(all, "bench aggregate: fixed-point accumulation failed");
}

/* fl.c's end of a round: the one Reduce of P + 8 int64, the 8 extras broadcast, and the
 * update applied on rank 0 */
static void agg_finish(AggBuf *a) {
    const size_t P = a->P;
    int64_t dsum = 0;
    for (size_t i = 0; i < a->L; i++) dsum += a->q[i];
    a->acc[P + AX_DEN] = dsum;
    double t0 = timer_now();
    comm_reduce_sum_i64(a->acc, P + AGG_X, 0);
    comm_bcast_bytes(a->acc + P, AGG_X * sizeof(int64_t), 0);
    a->t_comm += timer_now() - t0;
    if (comm_rank() == 0 && a->acc[P + AX_DEN] > 0)
        fl_apply_update(a->out, a->global, a->acc, a->acc[P + AX_DEN], 1.0, P);
}

/* FedAvg (fl.c kern_train_clients without store_delta): delta, bound check and
 * q_t * fixed(delta) into the thread's accumulator in one pass, as soon as the client is
 * done */
static void agg_fedavg(AggBuf *a) {
    const size_t P = a->P;
    a->t_comm = 0.0;
    agg_zero(a);
#pragma omp parallel for schedule(dynamic, 1) num_threads(a->nt) if (a->over_clients)
    for (size_t i = 0; i < a->L; i++) {
        int tid = omp_get_thread_num();
        float *w = a->w + (size_t)tid * P;
        int64_t *ta = a->tacc + (size_t)tid * (P + AGG_X);
        int64_t q = (int64_t)a->ntrain[i];
        a->q[i] = q;
        if (fixed_delta_accumulate_q(ta, w, a->trained + i * P, a->global, q,
                                     (float)FA_UPDATE_MAX, NULL, P) != FA_DELTA_OK)
            a->tok[tid] = false;
    }
    agg_sum_threads(a);
    agg_finish(a);
}

/* Fed-Meta-Align with the mean-update reference (fl.c kern_train_clients with
 * store_delta: delta, bound check, store, |delta|^2 and fixed(delta) in one pass; the
 * Allreduce of P + 1 int64; the reference and |ref|^2; kern_weight_stored: per thread a
 * block of clients, the next client's dot product in the current client's accumulation
 * loop) */
static void agg_similarity(AggBuf *a) {
    const size_t P = a->P, L = a->L;
    const double floor_c = 0.1;
    a->t_comm = 0.0;
    agg_zero(a);
#pragma omp parallel for schedule(dynamic, 1) num_threads(a->nt) if (a->over_clients)
    for (size_t i = 0; i < L; i++) {
        int tid = omp_get_thread_num();
        int64_t *ta = a->tacc + (size_t)tid * (P + AGG_X);
        if (fixed_delta_accumulate_q(ta, a->deltas + i * P, a->trained + i * P, a->global, 1,
                                     (float)FA_UPDATE_MAX, &a->dnorm2[i], P) != FA_DELTA_OK)
            a->tok[tid] = false;
        ta[P + AX_SELECTED] += 1;
    }
    agg_sum_threads(a);
    a->acc[P] = a->acc[P + AX_SELECTED];
    double t0 = timer_now();
    comm_allreduce_sum_i64(a->acc, P + 1);
    a->t_comm += timer_now() - t0;
    int64_t tot = a->acc[P];
    for (size_t j = 0; j < P; j++)
        a->ref[j] = tot ? (float)(fixed_to_double(a->acc[j]) / (double)tot) : 0.0f;
    const double bb = vec_dot(a->ref, a->ref, P);
    agg_zero(a);
#pragma omp parallel num_threads(a->over_clients ? a->nt : 1) if (a->over_clients)
    {
        const int tid = omp_get_thread_num(), T = omp_get_num_threads();
        const size_t k0 = L * (size_t)tid / (size_t)T, k1 = L * (size_t)(tid + 1) / (size_t)T;
        int64_t *ta = a->tacc + (size_t)tid * (P + AGG_X);
        double ab = k0 < k1 ? vec_dot(a->deltas + k0 * P, a->ref, P) : 0.0;
        for (size_t k = k0; k < k1; k++) {
            const float *d = a->deltas + k * P;
            double th = vec_cosine_parts(ab, a->dnorm2[k], bb);
            int64_t q = fl_quantize_weight(fa_dual_weight(a->score[k], th, floor_c));
            a->q[k] = q;
            bool ok = k + 1 < k1 ? fixed_accumulate_q_dot(ta, d, q, d + P, a->ref, &ab, P)
                                 : fixed_accumulate_q(ta, d, q, P);
            if (!ok) a->tok[tid] = false;
        }
    }
    agg_sum_threads(a);
    agg_finish(a);
}

/* Fed-Meta-Align with the previous-update reference (--reference prev; fl.c
 * kern_train_clients, similarity without store_delta): per client delta, bound check,
 * delta.ref and |delta|^2 in one pass (vec_delta_dot), the weight, then q_t * fixed(delta)
 * in a second pass over the in-cache delta; no extra collective. The reference is the
 * last global step, known on every rank; |ref|^2 once per round. */
static void agg_similarity_prev(AggBuf *a) {
    const size_t P = a->P;
    const double floor_c = 0.1;
    a->t_comm = 0.0;
    agg_zero(a);
    const double bb = vec_dot(a->ref, a->ref, P);
#pragma omp parallel for schedule(dynamic, 1) num_threads(a->nt) if (a->over_clients)
    for (size_t i = 0; i < a->L; i++) {
        int tid = omp_get_thread_num();
        float *w = a->w + (size_t)tid * P;
        int64_t *ta = a->tacc + (size_t)tid * (P + AGG_X);
        double ab, aa;
        bool ok = vec_delta_dot(w, a->trained + i * P, a->global, a->ref, (float)FA_UPDATE_MAX,
                                &ab, &aa, P);
        double th = vec_cosine_parts(ab, aa, bb);
        int64_t q = fl_quantize_weight(fa_dual_weight(a->score[i], th, floor_c));
        a->q[i] = q;
        if (!ok || !fixed_accumulate_q(ta, w, q, P)) a->tok[tid] = false;
    }
    agg_sum_threads(a);
    agg_finish(a);
}

/* the default model's P (the first entry 0 of the default list stands for it) */
static size_t default_model_P(void) {
    Config *c = xmalloc(sizeof *c);
    config_defaults(c);
    DataInfo info;
    gen_info(c->data.kind, &c->data.gen, &info);
    ModelShape sh = c->shape;
    sh.n_in = info.d;
    sh.n_out = info.k;
    ModelLayout L;
    size_t P = model_layout(&L, &sh);
    free(c);
    return P;
}

static void bench_aggregate(Ctx *cx) {
    header(cx, "aggregate",
           "similarity-aware (mean or previous-update reference) vs FedAvg aggregation vs bare "
           "Allreduce of P floats");
    const size_t L = cx->o.agg_clients, nrep = cx->o.warmup + cx->o.reps;
    if (cx->rank == 0) {
        printf("# %zu clients per rank, %d ranks, %d threads per rank; time = max over ranks of "
               "one aggregation (barrier before each)\n",
               L, cx->ranks, cx->threads);
        printf("# fedavg: per client fixed_delta_accumulate_q (delta, bound, q * fixed, one "
               "pass); thread sum; Reduce of P+8 int64; fl_apply_update\n");
        printf("# similarity: pass 1 the same with q = 1, storing delta and |delta|^2; "
               "Allreduce of P+1 int64; mean reference and |ref|^2; pass 2 per client "
               "fixed_accumulate_q_dot (accumulation + next client's dot product)\n");
        printf("# similarity-prev (--reference prev): per client vec_delta_dot (delta, bound, "
               "delta.ref, |delta|^2), weight, fixed_accumulate_q; no extra collective\n");
        printf("# %10s %-11s %11s %11s %11s %11s %9s\n", "P", "kernel", "min s", "median s",
               "max s", "comm med s", "ratio");
    }
    double *tf = xmalloc(nrep * sizeof(double)), *ts = xmalloc(nrep * sizeof(double));
    double *ta = xmalloc(nrep * sizeof(double)), *cf = xmalloc(nrep * sizeof(double));
    double *cs = xmalloc(nrep * sizeof(double)), *tp = xmalloc(nrep * sizeof(double));
    for (size_t pi = 0; pi < cx->o.n_p; pi++) {
        size_t P = cx->o.plist[pi] ? cx->o.plist[pi] : default_model_P();
        AggBuf a;
        agg_alloc(&a, P, L, cx->threads, true);
        for (size_t r = 0; r < nrep; r++) {
            comm_barrier();
            double t0 = timer_now();
            agg_fedavg(&a);
            tf[r] = timer_now() - t0;
            cf[r] = a.t_comm;
            comm_barrier();
            t0 = timer_now();
            agg_similarity(&a);
            ts[r] = timer_now() - t0;
            cs[r] = a.t_comm;
            /* the previous global step as reference: some fixed direction of update size */
            for (size_t j = 0; j < P; j++) a.ref[j] = a.trained[j] - a.global[j];
            comm_barrier();
            t0 = timer_now();
            agg_similarity_prev(&a);
            tp[r] = timer_now() - t0;
            for (size_t j = 0; j < P; j++) a.fbuf[j] = 1.0f;
            comm_barrier();
            t0 = timer_now();
            comm_allreduce_sum_float(a.fbuf, P);
            ta[r] = timer_now() - t0;
        }
        g_sink = (double)a.out[P / 2] + (double)a.fbuf[0];
        /* per repetition, the slowest rank */
        comm_allreduce_max_double(tf, nrep);
        comm_allreduce_max_double(ts, nrep);
        comm_allreduce_max_double(ta, nrep);
        comm_allreduce_max_double(cf, nrep);
        comm_allreduce_max_double(cs, nrep);
        comm_allreduce_max_double(tp, nrep);
        BenchStats sf, ss, sa, scf, scs, sp;
        size_t w = cx->o.warmup;
        bench_stats(tf + w, cx->o.reps, &sf);
        bench_stats(ts + w, cx->o.reps, &ss);
        bench_stats(ta + w, cx->o.reps, &sa);
        bench_stats(cf + w, cx->o.reps, &scf);
        bench_stats(cs + w, cx->o.reps, &scs);
        bench_stats(tp + w, cx->o.reps, &sp);
        double ratio = ss.median / sf.median;
        double extra_comm = scs.median - scf.median;
        if (cx->rank == 0) {
            printf("  %10zu %-11s %11.4g %11.4g %11.4g %11.4g %9s\n", P, "fedavg", sf.min,
                   sf.median, sf.max, scf.median, "1");
            printf("  %10zu %-11s %11.4g %11.4g %11.4g %11.4g %9.3f\n", P, "similarity", ss.min,
                   ss.median, ss.max, scs.median, ratio);
            printf("  %10zu %-11s %11.4g %11.4g %11.4g %11s %9.3f\n", P, "sim-prev", sp.min,
                   sp.median, sp.max, "-", sp.median / sf.median);
            printf("  %10zu %-11s %11.4g %11.4g %11.4g %11s %9.3f\n", P, "allreduce-f", sa.min,
                   sa.median, sa.max, "-", sa.median / sf.median);
            char p[128], e[256];
            snprintf(p, sizeof p, "kernel=fedavg P=%zu clients_per_rank=%zu ranks=%d threads=%d",
                     P, L, cx->ranks, cx->threads);
            snprintf(e, sizeof e, "comm_median=%.6g", scf.median);
            emit("aggregate", p, "s", &sf, e);
            snprintf(p, sizeof p,
                     "kernel=similarity P=%zu clients_per_rank=%zu ranks=%d threads=%d", P, L,
                     cx->ranks, cx->threads);
            snprintf(e, sizeof e,
                     "comm_median=%.6g ratio_vs_fedavg=%.4g extra_comm_s=%.6g "
                     "extra_comm_vs_allreduce=%.4g",
                     scs.median, ratio, extra_comm, extra_comm / sa.median);
            emit("aggregate", p, "s", &ss, e);
            snprintf(p, sizeof p,
                     "kernel=similarity_prev P=%zu clients_per_rank=%zu ranks=%d threads=%d", P,
                     L, cx->ranks, cx->threads);
            snprintf(e, sizeof e, "ratio_vs_fedavg=%.4g", sp.median / sf.median);
            emit("aggregate", p, "s", &sp, e);
            snprintf(p, sizeof p, "kernel=allreduce_float P=%zu ranks=%d", P, cx->ranks);
            emit("aggregate", p, "s", &sa, "");
        }
        agg_free(&a);
    }
    free(tf);
    free(ts);
    free(ta);
    free(cf);
    free(cs);
    free(tp);
    lines_flush(cx);
}

// ----------------------------------------------------------------------------
// round and memory: the real pipeline

/* Config of a phase-2 benchmark run: `fedalign run --preset tiny --clients N --samples S
 * --local-epochs 1 --rounds R --quiet --method M [pass-through flags]`, parsed and
 * validated by config.c like any command line. */
static void bench_config(const Ctx *cx, Config *cfg, size_t clients, size_t rounds) {
    char sc[32], ss[32], sr[32];
    snprintf(sc, sizeof sc, "%zu", clients);
    snprintf(ss, sizeof ss, "%zu", cx->o.samples);
    snprintf(sr, sizeof sr, "%zu", rounds);
    char *fixed[] = {"fedalign", "run", "--preset", "tiny", "--clients", sc,
                     "--samples", ss, "--local-epochs", "1", "--rounds", sr,
                     "--quiet", "--method", (char *)cx->o.method};
    const int nf = (int)(sizeof fixed / sizeof fixed[0]);
    int argc = nf + cx->o.pass_argc;
    char **argv = xmalloc((size_t)(argc + 1) * sizeof(char *));
    for (int i = 0; i < nf; i++) argv[i] = fixed[i];
    for (int i = 0; i < cx->o.pass_argc; i++) argv[nf + i] = cx->o.pass_argv[i];
    argv[argc] = NULL;
    char err[1024];
    config_defaults(cfg);
    if (config_parse(cfg, argc, argv, err, sizeof err) != 0 ||
        config_validate(cfg, err, sizeof err) != 0)
        fa_fail("bench: %s\nHINT: flags after -- are `fedalign run` flags", err);
    free(argv);
}

/* phase 2 only: no foundation model, no ring, no personalization training */
static MethodSpec bench_spec(const Config *cfg) {
    MethodSpec ms;
    fl_method_from_config(cfg, &ms);
    ms.phase0 = false;
    ms.phase1 = false;
    ms.personalize = false;
    return ms;
}

static void bench_round(Ctx *cx) {
    header(cx, "round", "phase-2 round time and framework overhead vs clients per rank");
    const size_t R = cx->o.rounds, nrep = cx->o.warmup + cx->o.reps;
    Config *cfg = xmalloc(sizeof *cfg);
    if (cx->rank == 0) {
        printf("# fl_setup + fl_run_method (method %s, phase 2 only), %zu rounds per "
               "repetition, %zu rows per client, 1 local epoch%s\n",
               cx->o.method, R, cx->o.samples, cx->o.pass_argc ? ", extra run flags" : "");
        printf("# round = phase-2 wall time / rounds; train/eval = slowest rank's training / "
               "global-model evaluation per round;\n# overhead = round - train; overhead_noeval "
               "= round - train - eval (train excludes the per-client aggregation pass);\n# "
               "cpu = CPU seconds / wall seconds / threads of the slowest rank (1 = a core per "
               "thread; less = a busy machine)\n");
        printf("# %9s %9s %11s %11s %11s %11s %11s %11s %11s %9s %5s\n", "clients", "per rank",
               "round min", "round med", "round max", "train med", "eval med", "ovh med",
               "ovh-noeval", "RSS MiB", "cpu");
    }
    double *tr = xmalloc(nrep * sizeof(double)), *tt = xmalloc(nrep * sizeof(double));
    double *te = xmalloc(nrep * sizeof(double)), *to = xmalloc(nrep * sizeof(double));
    double *tn = xmalloc(nrep * sizeof(double)), *tg = xmalloc(nrep * sizeof(double));
    double *tc = xmalloc(nrep * sizeof(double)), *tu = xmalloc(nrep * sizeof(double));
    for (size_t ci = 0; ci < cx->o.n_cpr; ci++) {
        size_t cpr = cx->o.cpr[ci], N = cpr * (size_t)cx->ranks;
        bench_config(cx, cfg, N, R);
        hwm_reset();
        Timers setup;
        timers_reset(&setup);
        double t0 = timer_now();
        Pipeline *pl = fl_setup(cfg, &setup);
        double t_setup = timer_now() - t0;
        MethodSpec ms = bench_spec(cfg);
        /* client samples trained per round (every client selected at --client-frac 1) */
        const FedData *fd = fl_data(pl);
        double spr = 0.0;
        for (size_t i = 0; i < fd->n_local; i++) spr += (double)fd->clients[i].train.n;
        spr *= cfg->local.epochs * cfg->client_frac;
        comm_allreduce_sum_double(&spr, 1);
        for (size_t r = 0; r < nrep; r++) {
            MethodResult res;
            fl_result_init(pl, &ms, &res);
            double w0 = timer_now(), c0 = cpu_now();
            fl_run_method(pl, &ms, &res, NULL, NULL);
            /* the CPU share this rank got (1 = a core to itself per thread); a busy machine
             * shows here, not in the timers */
            tu[r] = (cpu_now() - c0) / (timer_now() - w0) / (double)cx->threads;
            double round = res.round_time[R - 1] / (double)R;
            double train = res.tmax[FA_T_TRAIN] / (double)R;
            double eval = res.tmax[FA_T_EVAL] / (double)(R + 1);
            tr[r] = round;
            tt[r] = train;
            te[r] = eval;
            to[r] = round - train;
            tn[r] = round - train - eval;
            tg[r] = res.tmax[FA_T_AGG] / (double)R;
            tc[r] = res.tmax[FA_T_COMM] / (double)R;
            fl_result_free(&res);
        }
        double mem[2] = {hwm_bytes(), 0.0};
        fl_free(pl);
        comm_allreduce_sum_double(mem, 1);
        comm_allreduce_min_double(tu, nrep);
        size_t w = cx->o.warmup;
        BenchStats sr, st, se, so, sn, sg, sc, su;
        bench_stats(tr + w, cx->o.reps, &sr);
        bench_stats(tt + w, cx->o.reps, &st);
        bench_stats(te + w, cx->o.reps, &se);
        bench_stats(to + w, cx->o.reps, &so);
        bench_stats(tn + w, cx->o.reps, &sn);
        bench_stats(tg + w, cx->o.reps, &sg);
        bench_stats(tc + w, cx->o.reps, &sc);
        bench_stats(tu + w, cx->o.reps, &su);
        if (cx->rank == 0) {
            printf("  %9zu %9zu %11.4g %11.4g %11.4g %11.4g %11.4g %11.4g %11.4g %9.1f %5.2f\n", N,
                   cpr, sr.min, sr.median, sr.max, st.median, se.median, so.median, sn.median,
                   mem[0] / 1048576.0, su.median);
            char p[160], e[512];
            snprintf(p, sizeof p,
                     "method=%s clients=%zu clients_per_rank=%zu ranks=%d threads=%d rounds=%zu "
                     "samples=%zu",
                     cx->o.method, N, cpr, cx->ranks, cx->threads, R, cx->o.samples);
            snprintf(e, sizeof e,
                     "train_median=%.6g eval_median=%.6g agg_median=%.6g comm_median=%.6g "
                     "overhead_median=%.6g overhead_min=%.6g overhead_noeval_median=%.6g "
                     "overhead_noeval_min=%.6g setup_s=%.4g rss_peak_total_bytes=%.0f "
                     "samples_per_round=%.0f samples_per_s=%.6g cpu_share_min=%.3g",
                     st.median, se.median, sg.median, sc.median, so.median, so.min, sn.median,
                     sn.min, t_setup, mem[0], spr, spr / sr.median, su.median);
            emit("round", p, "s", &sr, e);
            fflush(stdout);
        }
    }
    free(tr);
    free(tt);
    free(te);
    free(to);
    free(tn);
    free(tg);
    free(tc);
    free(tu);
    free(cfg);
    lines_flush(cx);
}

static void bench_memory(Ctx *cx) {
    header(cx, "memory", "peak RSS vs clients per rank: bytes per simulated client");
    const size_t R = 1; /* one round reaches every buffer's peak */
    Config *cfg = xmalloc(sizeof *cfg);
    bool can_reset = hwm_reset();
    size_t n = cx->o.n_mem;
    double *x = xmalloc(n * sizeof(double)), *y = xmalloc(n * sizeof(double));
    size_t P = 0;
    if (cx->rank == 0) {
        printf("# per point: reset VmHWM, fl_setup + one phase-2 round of %s, read VmHWM; "
               "total = sum over ranks%s\n",
               cx->o.method, can_reset ? "" : " (VmHWM cannot be reset here: monotone)");
        printf("# %10s %10s %14s %14s %14s\n", "clients", "per rank", "HWM total MiB",
               "HWM rank0 MiB", "RSS before MiB");
    }
    for (size_t k = 0; k < n; k++) {
        size_t cpr = cx->o.mem_cpr[k], N = cpr * (size_t)cx->ranks;
        bench_config(cx, cfg, N, R);
        hwm_reset();
        double before = rss_bytes();
        Timers setup;
        timers_reset(&setup);
        Pipeline *pl = fl_setup(cfg, &setup);
        P = fl_layout(pl)->n_params;
        MethodSpec ms = bench_spec(cfg);
        MethodResult res;
        fl_result_init(pl, &ms, &res);
        fl_run_method(pl, &ms, &res, NULL, NULL);
        fl_result_free(&res);
        double m[2] = {hwm_bytes(), before};
        fl_free(pl);
        double r0 = m[0];
        comm_allreduce_sum_double(m, 2);
        x[k] = (double)N;
        y[k] = m[0];
        if (cx->rank == 0) {
            printf("  %10zu %10zu %14.1f %14.1f %14.1f\n", N, cpr, m[0] / 1048576.0,
                   r0 / 1048576.0, m[1] / 1048576.0);
            char p[128], e[128];
            BenchStats one = {1, m[0], m[0], m[0], m[0]};
            snprintf(p, sizeof p, "kernel=hwm clients=%zu clients_per_rank=%zu ranks=%d", N, cpr,
                     cx->ranks);
            snprintf(e, sizeof e, "rank0_bytes=%.0f rss_before_total_bytes=%.0f", r0, m[1]);
            emit("memory", p, "bytes", &one, e);
            fflush(stdout);
        }
    }
    double slope = bench_slope(x, y, n);
    double mx = 0.0, my = 0.0;
    for (size_t k = 0; k < n; k++) mx += x[k] / (double)n, my += y[k] / (double)n;
    double icpt = my - slope * mx;
    if (cx->rank == 0) {
        double est_delta = cfg->reference == FA_REF_MEAN ? 4.0 * (double)P : 0.0;
        printf("# bytes per client (slope of total HWM over clients): %.0f; fixed: %.1f MiB\n",
               slope, icpt / 1048576.0);
        printf("# for comparison: stored delta (mean reference) %.0f B, data ~%zu rows x (4 D + 4) "
               "B, per-round result rows 4 x 8 B per round\n",
               est_delta, cx->o.samples);
        BenchStats s = {1, slope, slope, slope, slope};
        char p[128], e[160];
        snprintf(p, sizeof p, "kernel=slope ranks=%d method=%s samples=%zu", cx->ranks,
                 cx->o.method, cx->o.samples);
        snprintf(e, sizeof e, "fixed_bytes=%.0f P=%zu delta_bytes=%.0f points=%zu", icpt, P,
                 est_delta, n);
        emit("memory", p, "bytes/client", &s, e);
    }
    free(x);
    free(y);
    free(cfg);
    lines_flush(cx);
}

// ----------------------------------------------------------------------------
// quant: per-sample inference latency, float vs int8 (issue 8)

/* The default model trained briefly on generated electrical rows, quantized to int8 with
 * those rows as calibration (as phase 3 does per client), then one sample at a time
 * through quant_float_predict (plain float loops, what a float model on a
 * microcontroller runs) and quant_predict (integer-only); serial, rank 0. Each
 * repetition times both on the same rows (interleaved, best of 3 inner passes). */
static void bench_quant(Ctx *cx) {
    header(cx, "quant", "per-sample inference latency of a personalized model: float vs int8");
    if (cx->rank == 0) {
        const size_t n = cx->o.quick ? 512 : 4096;
        TrainSetup ts;
        train_setup(&ts, n);
        const ModelLayout *L = &ts.L;
        const size_t P = L->n_params;
        float *params = xalloc_aligned(P * sizeof(float));
        memcpy(params, ts.init, P * sizeof(float));
        Workspace ws;
        workspace_build(&ws, L, 32);
        TrainOpts o = ts.cfg->local;
        o.batch = 32;
        o.mu = 0.0;
        o.epochs = 2.0;
        TrainStats tst;
        train_local(L, params, NULL, &ts.ds, &o, ts.cfg->seed, 0, 1, &ws, false, &tst);
        workspace_free(&ws);
        QModel q;
        quant_build(&q, L, params, &ts.ds);
        printf("# model P = %zu, %zu rows (calibration = timed rows); flash %zu B, RAM %zu B\n",
               P, n, quant_flash_bytes(&q), quant_ram_bytes(&q));
        printf("# %-6s %12s %12s %12s\n", "model", "min", "median", "max");
        printf("# %-6s %12s %12s %12s\n", "", "ns/sample", "ns/sample", "ns/sample");
        const size_t R = cx->o.reps;
        double *tf = xmalloc(R * sizeof *tf), *ti = xmalloc(R * sizeof *ti),
               *tr = xmalloc(R * sizeof *tr);
        size_t agree = 0;
        for (size_t r = 0; r < cx->o.warmup + R; r++) {
            QuantBench qb;
            quant_bench(&q, L, params, &ts.ds, 3, &qb);
            agree = qb.agree;
            if (r < cx->o.warmup) continue;
            tf[r - cx->o.warmup] = qb.float_ns;
            ti[r - cx->o.warmup] = qb.int8_ns;
            tr[r - cx->o.warmup] = qb.ratio;
        }
        BenchStats sf, si, sr;
        bench_stats(tf, R, &sf);
        bench_stats(ti, R, &si);
        bench_stats(tr, R, &sr);
        printf("  %-6s %12.1f %12.1f %12.1f\n", "float", sf.min, sf.median, sf.max);
        printf("  %-6s %12.1f %12.1f %12.1f\n", "int8", si.min, si.median, si.max);
        printf("# float/int8 latency ratio (per repetition, > 1: int8 faster): median %.2f "
               "(min %.2f, max %.2f); int8 and float agree on %zu of %zu rows\n",
               sr.median, sr.min, sr.max, agree, n);
        char p[96], e[160];
        snprintf(p, sizeof p, "model=float P=%zu rows=%zu", P, n);
        emit("quant", p, "ns/sample", &sf, "");
        snprintf(p, sizeof p, "model=int8 P=%zu rows=%zu", P, n);
        snprintf(e, sizeof e, "flash_bytes=%zu ram_bytes=%zu agree=%zu", quant_flash_bytes(&q),
                 quant_ram_bytes(&q), agree);
        emit("quant", p, "ns/sample", &si, e);
        snprintf(p, sizeof p, "model=ratio P=%zu rows=%zu", P, n);
        emit("quant", p, "float/int8", &sr, "");
        free(tf);
        free(ti);
        free(tr);
        quant_free(&q);
        free(params);
        train_setup_free(&ts);
    }
    lines_flush(cx);
}

// ----------------------------------------------------------------------------
// entry point

int bench_main(int argc, char **argv) {
    Ctx cx;
    memset(&cx, 0, sizeof cx);
    cx.rank = comm_rank();
    cx.ranks = comm_size();
    cx.threads = omp_get_max_threads();
    if (!parse_opts(&cx.o, argc, argv, cx.rank)) return FA_EXIT_OK;
    if (cx.o.out[0]) { /* before any work: an existing file is refused, as in `run` */
        char err[1024];
        if (store_preflight(cx.o.out, cx.o.overwrite, err, sizeof err) != 0)
            fa_fail("bench: %s", err);
    }
    if (cx.rank == 0) {
        printf("# fedalign bench: %s%s%s%s%s%s\n", cx.o.run[B_PEAK] ? "peak " : "",
               cx.o.run[B_TRAIN] ? "train " : "", cx.o.run[B_AGG] ? "aggregate " : "",
               cx.o.run[B_ROUND] ? "round " : "", cx.o.run[B_MEM] ? "memory " : "",
               cx.o.run[B_QUANT] ? "quant" : "");
        if (cx.o.out[0])
            printf("# HDF5 record: %s (written at the end)\n", cx.o.out);
        else
            printf("# HDF5 record: none (add --output FILE.h5); parse the FEDALIGN_BENCH lines\n");
        fflush(stdout);
    }
    double t0 = timer_now();
    if (cx.o.run[B_PEAK]) bench_peak(&cx); /* first: train reports % of these ceilings */
    if (cx.o.run[B_TRAIN]) bench_train(&cx);
    if (cx.o.run[B_AGG]) bench_aggregate(&cx);
    if (cx.o.run[B_ROUND]) bench_round(&cx);
    if (cx.o.run[B_MEM]) bench_memory(&cx);
    if (cx.o.run[B_QUANT]) bench_quant(&cx);
    if (cx.rank == 0) printf("\n# fedalign bench: done in %.1f s\n", timer_now() - t0);
    if (cx.o.out[0]) {
        size_t len = 1;
        for (int i = 0; i < argc; i++) len += strlen(argv[i]) + 1;
        char *cmd = xcalloc(len, 1);
        for (int i = 0; i < argc; i++) {
            if (i) strcat(cmd, " ");
            strcat(cmd, argv[i]);
        }
        char cpu[256];
        cpu_model(cpu, sizeof cpu);
        BenchMeta meta = {cmd, cpu, BUILD_ISA, cx.ranks, cx.threads};
        store_write_bench(cx.o.out, &meta, g_rows, g_nrows);
        if (cx.rank == 0) {
            printf("# HDF5 record written: %s (%zu results)\n", cx.o.out, g_nrows);
            fflush(stdout);
        }
        free(cmd);
    }
    rows_free();
    free(g_lines);
    g_lines = NULL;
    g_len = g_cap = 0;
    return FA_EXIT_OK;
}
