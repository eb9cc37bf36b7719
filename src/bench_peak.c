/*
 * bench_peak.c: `fedalign bench peak`, the ceilings every other figure is compared with.
 *
 * The fp32 multiply-add rate of one core, register-blocked over 12 independent vector
 * accumulators: at the build's own vector width without contraction (what the portable
 * kernels can reach), and with 256- and 512-bit FMA intrinsics where the CPU has them
 * (the hardware's ceiling); then STREAM-like triad bandwidth with 1 and all threads.
 * Rank 0 only (the other ranks wait in a barrier); train reports % of these figures.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "bench_internal.h"
#include "fedalign/comm.h"
#include "fedalign/timer.h"

#define PK_ACC 12 /* independent chains: >= FMA latency (4) x pipes (2) on current x86 */

/* Twelve accumulator chains acc = acc * m + c; m < 1 so every chain converges to
 * c / (1 - m) and never overflows or goes subnormal. Distinct starting values keep the
 * compiler from merging identical chains. */
#define PK_CHAINS(STEP)                                                                            \
    STEP(0)                                                                                        \
    STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7) STEP(8) STEP(9) STEP(10) STEP(11)

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

/* iterations such that one call lasts about min_time */
static size_t calibrate_iters(Ctx *cx, PeakFn fn, double min_time) {
    size_t it = 1 << 12;
    for (;;) {
        double t0 = timer_now();
        cx->sink = fn(it);
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
static void peak_run(Ctx *cx, PeakFn fn, int lanes, double *rates, BenchStats *st, BenchStats *sc) {
    size_t it = calibrate_iters(cx, fn, cx->o.min_time);
    double flops = (double)it * PK_ACC * (double)lanes * 2.0;
    double *cr = xmalloc(cx->o.reps * sizeof(double));
    for (size_t r = 0; r < cx->o.warmup + cx->o.reps; r++) {
        double t0 = timer_now(), c0 = bench_cpu_now();
        cx->sink = fn(it);
        double t = timer_now() - t0, c = bench_cpu_now() - c0;
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
    bench_emit(cx, "peak_fma", params, "GFLOP/s", &st, extra);
    if (isa == NULL) { /* the build's own mul+add */
        cx->peak_build = st.median;
        cx->peak_build_cpu = sc.median;
    } else if (st.median > cx->peak_fma) {
        cx->peak_fma = st.median;
        cx->peak_fma_cpu = sc.median;
        cx->fma_isa = isa;
    }
}

void bench_peak(Ctx *cx) {
    bench_header(cx, "peak", "single-core fp32 FMA rate and triad memory bandwidth (the ceilings)");
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
            cx->sink = a[n / 2];
            bench_stats(rates, cx->o.reps, &st);
            printf("  %-22s %8d %12.2f %12.2f %12.2f  GB/s\n", "triad", tlist[k], st.min, st.median,
                   st.max);
            snprintf(params, sizeof params, "kernel=triad threads=%d floats=%zu", tlist[k], n);
            bench_emit(cx, "peak_triad", params, "GB/s", &st, "");
        }
        free(a);
        free(b);
        free(c);
        free(rates);
    }
    comm_barrier();
    bench_flush(cx);
}
