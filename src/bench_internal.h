/*
 * bench_internal.h: what the files of `fedalign bench` share (private to src/bench*.c).
 *
 * bench_common.c holds the options, the statistics, the process probes (RSS, CPU time,
 * CPU model) and the output (tables' headers, FEDALIGN_BENCH lines, rows for the HDF5
 * record); each benchmark has its own file (bench_peak.c, bench_train.c,
 * bench_aggregate.c, bench_round.c, bench_memory.c, bench_quant.c) and takes the one
 * context, Ctx, that owns every piece of state a run of `fedalign bench` keeps; bench.c
 * parses, dispatches and writes the record. No file-scope mutable state: two contexts
 * never share a buffer.
 */
#ifndef FEDALIGN_BENCH_INTERNAL_H
#define FEDALIGN_BENCH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedalign/bench.h"
#include "fedalign/check.h"
#include "fedalign/config.h"
#include "fedalign/data.h"
#include "fedalign/fl.h"
#include "fedalign/model.h"
#include "fedalign/store.h"

// ----------------------------------------------------------------------------
// options

/* the sub-benchmarks, in the order they run (peak first: train reports % of its
 * ceilings); bench_names[] spells them on the command line */
enum { B_PEAK, B_TRAIN, B_AGG, B_ROUND, B_MEM, B_QUANT, B_COUNT };
extern const char *const bench_names[B_COUNT];

#define MAXLIST 16
#define MAXREPS 1000
#define HUGE_CPR 100000 /* --huge: the extra clients-per-rank point of round */

typedef struct {
    bool run[B_COUNT];
    size_t reps, warmup;
    bool quick, huge;
    double min_time; /* seconds a rate repetition should last */
    size_t batches[MAXLIST], n_batches;
    size_t plist[MAXLIST], n_p;
    size_t agg_clients;
    size_t cpr[MAXLIST], n_cpr;     /* round: clients per rank */
    size_t mem_cpr[MAXLIST], n_mem; /* memory: clients per rank */
    size_t rounds;
    size_t samples;  /* round/memory: rows per client */
    size_t triad_n;  /* floats per triad array */
    FaMethod method; /* round/memory: fedmetaalign | fedavg */
    int pass_argc;   /* run flags after "--" */
    char **pass_argv;
    char out[FA_PATH_LEN]; /* --output: HDF5 record ("" = none) */
    bool overwrite;        /* replace an existing --output file */
    FaIsa isa;             /* --isa: the kernels' path (isa.h) */
} BenchOpts;

/* Parse `fedalign bench ...` (argv[1] is "bench") into o with the defaults filled in;
 * when round or memory runs, the run flags after "--" are checked too (bench_run_config).
 * Returns 0, OPT_HELP for --help, or -1 with one message in err. */
int bench_parse(BenchOpts *o, int argc, char **argv, char *err, size_t errlen);

/* bench_parse for the command: false for --help (usage printed on rank 0); bad options
 * end every rank through fa_fail (every rank parses the same argv, so every rank fails
 * alike). */
bool bench_parse_opts(BenchOpts *o, int argc, char **argv, int rank);

// ----------------------------------------------------------------------------
// the context of one `fedalign bench` run

typedef struct {
    BenchOpts o;
    int rank, ranks, threads;
    double peak_fma;   /* measured single-core FMA GFLOP/s, best path (0 = not measured) */
    double peak_path;  /* the FMA peak of the kernels' ISA path (sse2: its mul+add) */
    double peak_nofma; /* mul+add (no contraction) GFLOP/s at the kernels' path's width */
    double peak_fma_cpu, peak_path_cpu, peak_nofma_cpu; /* the same per CPU second */
    const char *fma_isa;
    /* FEDALIGN_BENCH lines of the current table, printed after it (bench_flush) so that a
     * table is never interleaved with result lines */
    char *lines;
    size_t lines_len, lines_cap;
    /* every result so far, kept as a row for the HDF5 record (--output) */
    BenchRow *rows;
    size_t n_rows, cap_rows;
    /* the kernels' results are stored here so the compiler cannot drop the timed work */
    volatile double sink;
} Ctx;

/* Ctx for this rank with o parsed from argv; false for --help (see bench_parse_opts). */
bool bench_ctx_init(Ctx *cx, int argc, char **argv);
void bench_ctx_free(Ctx *cx);

// ----------------------------------------------------------------------------
// output

/* the vector ISA the library was compiled for (the build's options) */
extern const char *const bench_build_isa;

/* "# fedalign bench SUB: WHAT" and the build / ranks / threads / reps line (rank 0) */
void bench_header(const Ctx *cx, const char *sub, const char *what);

/* One result: a FEDALIGN_BENCH line (name, parameters, unit, repetitions,
 * min/median/max, extras) buffered until bench_flush, and a row for the HDF5 record. */
void bench_emit(Ctx *cx, const char *name, const char *params, const char *unit,
                const BenchStats *s, const char *extra);

/* print the buffered FEDALIGN_BENCH lines (rank 0) and empty the buffer */
void bench_flush(Ctx *cx);

// ----------------------------------------------------------------------------
// this process (Linux /proc; getrusage as a fallback for the peak)

double bench_cpu_now(void);                  /* CPU seconds used by this process, all threads */
double bench_hwm_bytes(void);                /* peak resident set in bytes since the last reset */
double bench_rss_bytes(void);                /* resident set in bytes (NaN if unavailable) */
bool bench_hwm_reset(void);                  /* false: VmHWM cannot be reset here (monotone peak) */

// ----------------------------------------------------------------------------
// shared set-ups (bench_train.c, bench_round.c)

/* the default model and optimizer on n rows of built-in device data (train, quant) */
typedef struct {
    Config *cfg;
    ModelLayout L;
    Dataset ds;
    float *init;
} TrainSetup;

void bench_train_setup(TrainSetup *ts, size_t n);
void bench_train_setup_free(TrainSetup *ts);

/* The Config of a phase-2 pipeline run (round, memory): the tiny preset at these clients,
 * --samples and rounds, 1 local epoch, quiet, --method, then the run flags after "--"
 * (--preset there is refused: these sizes must win). Returns 0, or -1 with a message. */
int bench_run_config(const BenchOpts *o, Config *cfg, size_t clients, size_t rounds, char *err,
                     size_t errlen);
/* the MethodSpec of a phase-2 pipeline run (round, memory) */
MethodSpec bench_phase2_spec(const Config *cfg);

// ----------------------------------------------------------------------------
// the benchmarks: collective over MPI_COMM_WORLD; each prints its table and flushes

void bench_peak(Ctx *cx);
void bench_train(Ctx *cx);
void bench_aggregate(Ctx *cx);
void bench_round(Ctx *cx);
void bench_memory(Ctx *cx);
void bench_quant(Ctx *cx);

#endif
