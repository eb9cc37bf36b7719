/*
 * bench.c: `fedalign bench`, the systems micro-benchmarks (issue 6; see bench.h):
 * parse, run the chosen sub-benchmarks in order, write the HDF5 record.
 *
 * One file per measurement, all sharing bench_common.c through one context (Ctx,
 * bench_internal.h):
 *   peak       (bench_peak.c) fp32 FMA rate of one core and STREAM-like triad
 *              bandwidth, 1 and all threads: the ceilings every other figure is
 *              compared with;
 *   train      (bench_train.c) train_local() on the default model at batch 1, 8, 32,
 *              128: one thread, all threads splitting the batch, all threads each
 *              training its own client;
 *   aggregate  (bench_aggregate.c) the phase-2 aggregation of fl.c rebuilt from the
 *              same kernels in the same order (FedAvg; similarity-aware with the mean or
 *              the previous-update reference) and a bare Allreduce of P floats;
 *   round      (bench_round.c) fl_setup + fl_run_method, phase 2 only, vs clients per
 *              rank: round time and framework overhead = round time - slowest rank's
 *              training time;
 *   memory     (bench_memory.c) peak RSS (VmHWM, reset between points) vs clients per
 *              rank: the slope is the bytes each simulated client costs;
 *   quant      (bench_quant.c) per-sample inference latency, float vs int8.
 * Method (OSU / HPCG discipline): warm-up repetitions are run and discarded, then `reps`
 * timed repetitions; min / median / max over repetitions; a barrier before every timed
 * collective repetition and the max over ranks of each repetition's time. peak and train
 * run on rank 0 only (the other ranks wait in a barrier, which Open MPI busy-polls: run
 * them with one rank for clean all-thread figures); so does quant. Rates are also
 * reported per CPU second of the process (cpu_median): on a shared machine that is what
 * the cores deliver while we hold them, and it is what the ceilings are compared with in
 * docs/performance.md. Timing thresholds are never asserted anywhere.
 * Record: `--output FILE.h5` also writes every FEDALIGN_BENCH result to a self-describing
 * HDF5 file (store_write_bench: one table per result name, the command line, host, CPU,
 * date and units as attributes); an existing file is refused unless --overwrite, as in
 * `fedalign run`.
 */
#include "fedalign/bench.h"
#include "fedalign/provenance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"
#include "fedalign/check.h"
#include "fedalign/store.h"
#include "fedalign/timer.h"

/* in run order: peak first, train reports % of its ceilings */
static void (*const bench_run[B_COUNT])(Ctx *) = {
    [B_PEAK] = bench_peak,   [B_TRAIN] = bench_train, [B_AGG] = bench_aggregate,
    [B_ROUND] = bench_round, [B_MEM] = bench_memory,  [B_QUANT] = bench_quant,
};

/* the command line, argv joined by spaces, as the record stores it */
static char *join_args(int argc, char **argv) {
    size_t len = 1;
    for (int i = 0; i < argc; i++) len += strlen(argv[i]) + 1;
    char *cmd = xcalloc(len, 1);
    for (int i = 0; i < argc; i++) {
        if (i) strcat(cmd, " ");
        strcat(cmd, argv[i]);
    }
    return cmd;
}

int bench_main(int argc, char **argv) {
    Ctx cx;
    if (!bench_ctx_init(&cx, argc, argv)) return FA_EXIT_OK;
    if (cx.o.out[0]) { /* before any work: an existing file is refused, as in `run` */
        char err[1024];
        if (store_preflight(cx.o.out, cx.o.overwrite, err, sizeof err) != 0)
            fa_fail("bench: %s", err);
    }
    if (cx.rank == 0) {
        printf("# fedalign bench: ");
        for (int b = 0; b < B_COUNT; b++)
            if (cx.o.run[b]) printf("%s%s", bench_names[b], b + 1 < B_COUNT ? " " : "");
        printf("\n");
        if (cx.o.out[0]) printf("# HDF5 record: %s (written at the end)\n", cx.o.out);
        else printf("# HDF5 record: none (add --output FILE.h5); parse the FEDALIGN_BENCH lines\n");
        fflush(stdout);
    }
    double t0 = timer_now();
    for (int b = 0; b < B_COUNT; b++)
        if (cx.o.run[b]) bench_run[b](&cx);
    if (cx.rank == 0) printf("\n# fedalign bench: done in %.1f s\n", timer_now() - t0);
    if (cx.o.out[0]) {
        char *cmd = join_args(argc, argv);
        /* the CPU model the provenance block reads once (provenance.c) */
        BenchMeta meta = {cmd, provenance()->cpu_model, bench_build_isa, cx.ranks, cx.threads};
        store_write_bench(cx.o.out, &meta, cx.rows, cx.n_rows);
        if (cx.rank == 0) {
            printf("# HDF5 record written: %s (%zu results)\n", cx.o.out, cx.n_rows);
            fflush(stdout);
        }
        free(cmd);
    }
    bench_ctx_free(&cx);
    return FA_EXIT_OK;
}
