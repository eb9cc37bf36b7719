/*
 * bench_peak.c: `fedalign bench peak`, the ceilings every other figure is compared with.
 *
 * The fp32 multiply-add rate of one core, register-blocked over 12 independent vector
 * accumulators, per ISA path: a separate multiply and add (no contraction: what the kernels
 * can reach) at 128, 256 and 512 bits, and 256- and 512-bit FMA intrinsics (the hardware's
 * ceiling), each where the CPU has it; then STREAM-like triad bandwidth with 1 and all
 * threads. Rank 0 only (the other ranks wait in a barrier); train reports % of these
 * figures: of the best FMA rate, of the FMA peak of the path the kernels run on (sse2 has
 * no FMA: its mul+add), and of that path's mul+add.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "bench_internal.h"
#include "fedalign/comm.h"
#include "fedalign/isa.h"
#include "fedalign/timer.h"

#define PK_ACC 12 /* independent chains: >= FMA latency (4) x pipes (2) on current x86 */

/* Twelve accumulator chains acc = acc * m + c; m < 1 so every chain converges to
 * c / (1 - m) and never overflows or goes subnormal. Distinct starting values keep the
 * compiler from merging identical chains. */
#define PK_CHAINS(STEP)                                                                            \
    STEP(0)                                                                                        \
    STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7) STEP(8) STEP(9) STEP(10) STEP(11)

/* Multiply + add without contraction (-ffp-contract=off): one multiply and one add, each
 * rounded, the operations model.c's kernels issue. The ceiling of each ISA path: 4 lanes
 * (SSE, the x86-64 baseline), 8 (AVX2 path), 16 (AVX-512 path); the wider ones are
 * compiled for their ISA here and run only where the CPU has it (checked by the caller). */
#define PK_MULADD(fn, W, attr)                                                                     \
    typedef float fn##_vec __attribute__((vector_size(W * sizeof(float))));                        \
    attr static double fn(size_t iters) {                                                          \
        fn##_vec vm = (fn##_vec){0} + 0.999999f, vc = (fn##_vec){0} + 1e-7f;                       \
        PK_CHAINS(PK_DECL_##fn)                                                                    \
        for (size_t i = 0; i < iters; i++) {                                                       \
            PK_CHAINS(PK_STEP)                                                                     \
        }                                                                                          \
        fn##_vec s = (fn##_vec){0};                                                                \
        PK_CHAINS(PK_SUM)                                                                          \
        double t = 0.0;                                                                            \
        for (int i = 0; i < W; i++) t += (double)s[i];                                             \
        return t;                                                                                  \
    }
#define PK_STEP(k) a##k = a##k * vm + vc;
#define PK_SUM(k) s += a##k;
#define PK_DECL_peak_muladd(k) peak_muladd_vec a##k = (peak_muladd_vec){0} + 0.01f * (float)(k + 1);
PK_MULADD(peak_muladd, 4, )
#if defined(__x86_64__)
#define PK_DECL_peak_muladd256(k)                                                                  \
    peak_muladd256_vec a##k = (peak_muladd256_vec){0} + 0.01f * (float)(k + 1);
#define PK_DECL_peak_muladd512(k)                                                                  \
    peak_muladd512_vec a##k = (peak_muladd512_vec){0} + 0.01f * (float)(k + 1);
PK_MULADD(peak_muladd256, 8, __attribute__((target("avx2"))))
PK_MULADD(peak_muladd512, 16, __attribute__((target("avx512f"))))
#endif

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

/* One FMA or mul+add kernel of an ISA path: a table row, a FEDALIGN_BENCH line. Keeps
 * the best FMA rate as the machine's ceiling, and the rates of the path the kernels run
 * on (isa_current) as that path's ceilings. */
static void peak_one(Ctx *cx, PeakFn fn, int lanes, bool fma, FaIsa path, double *rates) {
    BenchStats st, sc;
    peak_run(cx, fn, lanes, rates, &st, &sc);
    const char *kind = fma ? "fma" : "muladd", *pname = isa_name(path);
    char label[48], params[128], extra[64];
    snprintf(label, sizeof label, "%s-%s-%d", kind, pname, 32 * lanes);
    printf("  %-22s %8d %12.2f %12.2f %12.2f  GFLOP/s (per CPU-s %.2f)\n", label, 1, st.min,
           st.median, st.max, sc.median);
    snprintf(params, sizeof params, "kernel=%s width=%d isa=%s threads=1", kind, lanes, pname);
    snprintf(extra, sizeof extra, "cpu_median=%.6g", sc.median);
    bench_emit(cx, "peak_fma", params, "GFLOP/s", &st, extra);
    if (fma && st.median > cx->peak_fma) {
        cx->peak_fma = st.median;
        cx->peak_fma_cpu = sc.median;
        cx->fma_isa = pname;
    }
    if (path != isa_current()) return;
    if (fma) {
        cx->peak_path = st.median;
        cx->peak_path_cpu = sc.median;
    } else {
        cx->peak_nofma = st.median;
        cx->peak_nofma_cpu = sc.median;
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
               "muladd: the same with a separate multiply and add (what the kernels issue: no "
               "contraction), per ISA path\n",
               PK_ACC);
        printf("# %-22s %8s %12s %12s %12s  %s\n", "kernel", "threads", "min", "median", "max",
               "unit");
        double *rates = xmalloc(cx->o.reps * sizeof(double));
        BenchStats st;
        char params[128];
        cx->fma_isa = "none";
        peak_one(cx, peak_muladd, 4, false, FA_ISA_SSE2, rates);
#if defined(__x86_64__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2")) peak_one(cx, peak_muladd256, 8, false, FA_ISA_AVX2, rates);
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            peak_one(cx, peak_fma256, 8, true, FA_ISA_AVX2, rates);
        if (__builtin_cpu_supports("avx512f")) {
            peak_one(cx, peak_muladd512, 16, false, FA_ISA_AVX512, rates);
            peak_one(cx, peak_fma512, 16, true, FA_ISA_AVX512, rates);
        }
#endif
        if (cx->peak_path <= 0.0) { /* a path without FMA (sse2): its mul+add is its ceiling */
            cx->peak_path = cx->peak_nofma;
            cx->peak_path_cpu = cx->peak_nofma_cpu;
        }
        if (cx->peak_fma <= 0.0) { /* no FMA unit: the mul+add rate is the ceiling */
            cx->peak_fma = cx->peak_path;
            cx->peak_fma_cpu = cx->peak_path_cpu;
        }
        printf("# ceiling: fma %.2f GFLOP/s (%s); kernels' path %s: peak %.2f, mul+add %.2f "
               "GFLOP/s\n",
               cx->peak_fma, cx->fma_isa, isa_name(isa_current()), cx->peak_path, cx->peak_nofma);

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
