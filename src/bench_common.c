/*
 * bench_common.c: what every `fedalign bench` measurement shares (see bench_internal.h).
 *
 * The pure helpers of bench.h (order statistics, FLOP counts, the least-squares slope,
 * size lists), the option parser and its defaults, the output (a table header per
 * sub-benchmark; FEDALIGN_BENCH lines buffered in the context and printed after each
 * table, so a table is never cut by result lines; every result also kept as a row for
 * the HDF5 record), and the probes of this process (peak and current RSS, CPU seconds,
 * CPU model). One place for these keeps every benchmark's lines and record alike.
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

const char *const bench_names[B_COUNT] = {[B_PEAK] = "peak",    [B_TRAIN] = "train",
                                           [B_AGG] = "aggregate", [B_ROUND] = "round",
                                           [B_MEM] = "memory",   [B_QUANT] = "quant"};

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

/* The defaults that depend on --quick or on nothing given: a 0 count or size here means
 * "not given", which no option accepts (every list has >= 1 entry, every size >= 1). */
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
    if (o->huge && o->n_cpr < MAXLIST) o->cpr[o->n_cpr++] = 100000;
    if (!o->n_mem) {
        const size_t full[] = {250, 500, 1000, 2000};
        const size_t quick[] = {100, 200, 400};
        o->n_mem = o->quick ? 3 : 4;
        memcpy(o->mem_cpr, o->quick ? quick : full, o->n_mem * sizeof(size_t));
    }
    if (!o->triad_n) o->triad_n = o->quick ? (size_t)1 << 22 : (size_t)1 << 25;
}

bool bench_parse_opts(BenchOpts *o, int argc, char **argv, int rank) {
    memset(o, 0, sizeof *o); /* zero counts and sizes: "not given" (opts_defaults) */
    o->warmup = 1;
    o->agg_clients = 8;
    o->samples = 200;
    snprintf(o->method, sizeof o->method, "fedmetaalign");
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
        } else if (a[0] != '-') {
            int b = 0;
            while (b < B_COUNT && strcmp(a, bench_names[b]) != 0) b++;
            if (b == B_COUNT)
                fa_fail("bench: unknown sub-benchmark '%s' (expected peak, train, aggregate, "
                        "round, memory, quant or all)\nHINT: fedalign bench --help",
                        a);
            o->run[b] = true;
        } else if (strcmp(a, "--quick") == 0) {
            o->quick = true;
        } else if (strcmp(a, "--huge") == 0) {
            o->huge = true;
        } else if (strcmp(a, "--reps") == 0) {
            o->reps = want_size(a, v, 1, MAXREPS), i++;
        } else if (strcmp(a, "--warmup") == 0) {
            o->warmup = want_size(a, v, 0, 100), i++;
        } else if (strcmp(a, "--min-time") == 0) {
            char *end;
            double d = v ? strtod(v, &end) : 0.0;
            if (!v || end == v || *end || !(d >= 1e-4) || d > 100.0)
                fa_fail("bench: --min-time needs seconds in [1e-4, 100], got '%s'",
                        v ? v : "(nothing)");
            o->min_time = d, i++;
        } else if (strcmp(a, "--batch") == 0) {
            o->n_batches = want_list(a, v, 65536, o->batches), i++;
        } else if (strcmp(a, "--p") == 0) {
            o->n_p = want_list(a, v, (size_t)1 << 28, o->plist), i++;
        } else if (strcmp(a, "--agg-clients") == 0) {
            o->agg_clients = want_size(a, v, 1, 4096), i++;
        } else if (strcmp(a, "--clients") == 0) {
            o->n_cpr = want_list(a, v, 10000000, o->cpr), i++;
        } else if (strcmp(a, "--mem-clients") == 0) {
            o->n_mem = want_list(a, v, 10000000, o->mem_cpr), i++;
        } else if (strcmp(a, "--rounds") == 0) {
            o->rounds = want_size(a, v, 1, 10000), i++;
        } else if (strcmp(a, "--samples") == 0) {
            o->samples = want_size(a, v, 1, 1e7), i++;
        } else if (strcmp(a, "--triad-n") == 0) {
            o->triad_n = want_size(a, v, 1024, 1e10), i++;
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
    opts_defaults(o);
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
    cx->rows[cx->n_rows++] = (BenchRow){dup_str(name), dup_str(params), dup_str(unit), s->n,
                                        s->min, s->median, s->max, dup_str(extra)};
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
    printf("# fedalign %s (%s), build ISA %s, ranks %d, threads per rank %d, reps %zu, warm-up "
           "%zu%s\n",
           FEDALIGN_VERSION, FEDALIGN_GIT, bench_build_isa, cx->ranks, cx->threads, cx->o.reps,
           cx->o.warmup, cx->o.quick ? ", quick" : "");
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

void bench_cpu_model(char *out, size_t cap) {
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
    return bench_parse_opts(&cx->o, argc, argv, cx->rank);
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
