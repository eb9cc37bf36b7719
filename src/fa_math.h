/*
 * fa_math.h: expf and log((double)float) with the bits of glibc 2.36's FMA variants
 * (__expf_fma, __log_fma), scalar and across SIMD lanes, for the softmax of the kernels.
 *
 * Why: glibc picks its expf/log per CPU (ifunc: the FMA build where the CPU has FMA and
 * AVX2, else plain multiply-add), and the two round differently for some inputs, so a
 * training run calling the system expf/log got bits that depended on the CPU. These give
 * the FMA variant's bits everywhere (on this project's machines, the bits it had before)
 * and on every ISA path: with -ffp-contract=off nothing is fused implicitly, so each fused
 * multiply-add glibc's FMA build contracted is an explicit fma() here (a vfmadd on the
 * avx2/avx512 paths, the correctly rounded libm call on sse2), every other operation plain.
 *
 * The algorithms are glibc's (sysdeps/ieee754/flt-32/e_expf.c, sysdeps/ieee754/dbl-64/
 * e_log.c, by Szabolcs Nagy, also in Arm's optimized-routines): the same tables
 * (fa_math_data.c), polynomials and special cases, written anew here; which operations are
 * fused was read from the instructions of the system libm's __expf_fma and __log_fma.
 * errno is not set (nothing here reads it). tests/unit/test_fa_math.c compares the scalar
 * and lane versions with each other over every float <= 0 (expf) and every float in
 * [1, 64] (log), and with the system libm where the CPU has FMA.
 *
 * Static inline, so each kernel file gets the code of its ISA path; only the tables are
 * shared.
 */
#ifndef FEDALIGN_FA_MATH_H
#define FEDALIGN_FA_MATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && defined(__AVX__) && defined(__FMA__) && defined(__AVX2__)
#include <immintrin.h>
#define FA_MATH_VECTOR 1 /* hardware FMA and gathers: the lane versions are vector code */
#endif

#define FA_EXPF_N 32 /* 2^(i/N) table of expf */
#define FA_LOG_N 128 /* subintervals of log's table */
extern const uint64_t fa_expf_tab[FA_EXPF_N];
extern const double fa_log_tab[FA_LOG_N][2]; /* {1/c, log(c)} */

/* expf: x N/ln2 = k + r, exp(x) = 2^(k/N) 2^(r/N), 2^(r/N) by a cubic in r */
#define FA_EXPF_INVLN2N (0x1.71547652b82fep+0 * FA_EXPF_N)
#define FA_EXPF_SHIFT 0x1.8p+52 /* adding it rounds to an integer, kept in the low bits */
#define FA_EXPF_C0 (0x1.c6af84b912394p-5 / FA_EXPF_N / FA_EXPF_N / FA_EXPF_N)
#define FA_EXPF_C1 (0x1.ebfce50fac4f3p-3 / FA_EXPF_N / FA_EXPF_N)
#define FA_EXPF_C2 (0x1.62e42ff0c52d6p-1 / FA_EXPF_N)
/* log: x = 2^k z, log(x) = k ln2 + log(c) + log1p(z/c - 1); near 1 a degree-12 polynomial */
#define FA_LOG_LN2HI 0x1.62e42fefa3800p-1
#define FA_LOG_LN2LO 0x1.ef35793c76730p-45
#define FA_LOG_A0 -0x1.0000000000001p-1
#define FA_LOG_A1 0x1.555555551305bp-2
#define FA_LOG_A2 -0x1.fffffffeb459p-3
#define FA_LOG_A3 0x1.999b324f10111p-3
#define FA_LOG_A4 -0x1.55575e506c89fp-3
#define FA_LOG_B0 -0x1p-1
#define FA_LOG_B1 0x1.5555555555577p-2
#define FA_LOG_B2 -0x1.ffffffffffdcbp-3
#define FA_LOG_B3 0x1.999999995dd0cp-3
#define FA_LOG_B4 -0x1.55555556745a7p-3
#define FA_LOG_B5 0x1.24924a344de3p-3
#define FA_LOG_B6 -0x1.fffffa4423d65p-4
#define FA_LOG_B7 0x1.c7184282ad6cap-4
#define FA_LOG_B8 -0x1.999eb43b068ffp-4
#define FA_LOG_B9 0x1.78182f7afd085p-4
#define FA_LOG_B10 -0x1.5521375d145cdp-4
#define FA_LOG_OFF UINT64_C(0x3fe6000000000000)
#define FA_LOG_NEAR1_LO UINT64_C(0x3fee000000000000) /* bits of 1 - 0x1p-4 */
#define FA_LOG_NEAR1_HI UINT64_C(0x3ff1090000000000) /* bits of 1 + 0x1.09p-4 */

/* Over arrays (fa_math_lanes.c, a kernel per ISA path, for the tests): e[i] = fa_expf(x[i])
 * unless e is NULL, l[i] = fa_log_f2d(x[i]) unless l is NULL; _lanes with the lane code. */
void fa_math_lanes(const float *x, size_t n, float *e, double *l);
void fa_math_scalar(const float *x, size_t n, float *e, double *l);

static inline uint32_t fa_f2u(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}
static inline uint64_t fa_d2u(double x) {
    uint64_t u;
    memcpy(&u, &x, 8);
    return u;
}
static inline double fa_u2d(uint64_t u) {
    double x;
    memcpy(&x, &u, 8);
    return x;
}

// ----------------------------------------------------------------------------
// scalar

/* expf(x) with __expf_fma's bits, for every float x */
static inline float fa_expf(float x) {
    uint32_t abstop = (fa_f2u(x) >> 20) & 0x7ff;
    if (__builtin_expect(abstop >= 0x42b, 0)) {    /* |x| >= 88 or NaN */
        if (fa_f2u(x) == 0xff800000u) return 0.0f; /* -inf */
        if (abstop >= 0x7f8) return x + x;         /* +inf, NaN (quieted) */
        if (x > 0x1.62e42ep6f) return INFINITY;    /* overflow */
        if (x < -0x1.9fe368p6f) return 0.0f;       /* underflow */
        if (x < -0x1.9d1d9ep6f) return 0x1p-149f;  /* glibc's "may underflow" result */
    }
    double xd = x;
    double kd = fma(FA_EXPF_INVLN2N, xd, FA_EXPF_SHIFT);
    uint64_t ki = fa_d2u(kd);
    kd -= FA_EXPF_SHIFT;
    double r = fma(FA_EXPF_INVLN2N, xd, -kd);
    double s = fa_u2d(fa_expf_tab[ki % FA_EXPF_N] + (ki << (52 - 5)));
    double z = fma(FA_EXPF_C0, r, FA_EXPF_C1);
    double r2 = r * r;
    double y = fma(FA_EXPF_C2, r, 1.0);
    y = fma(z, r2, y);
    return (float)(y * s);
}

/* log(x) for x in [1 - 2^-4, 1 + 0x1.09p-4), x != 1 */
static inline double fa_log_near1(double x) {
    double r = x - 1.0, r2 = r * r, r3 = r * r2;
    double p3 = fma(r3, FA_LOG_B10, fma(r2, FA_LOG_B9, fma(r, FA_LOG_B8, FA_LOG_B7)));
    double p2 = fma(p3, r3, fma(r2, FA_LOG_B6, fma(r, FA_LOG_B5, FA_LOG_B4)));
    double p1 = fma(p2, r3, fma(r2, FA_LOG_B3, fma(r, FA_LOG_B2, FA_LOG_B1)));
    /* r = rhi + rlo with rhi * rhi exact: r^2 / 2 in two parts */
    double w = r * 0x1p27;
    double rhi = r + w - w, rlo = r - rhi;
    double t = rhi * rhi;
    double hi = fma(t, FA_LOG_B0, r);
    double lo = fma(t, FA_LOG_B0, r - hi);
    lo = fma(FA_LOG_B0 * rlo, rhi + r, lo);
    return hi + fma(p1, r3, lo);
}

/* log(x) for a positive normal double x outside the near-1 interval */
static inline double fa_log_main(double x) {
    uint64_t ix = fa_d2u(x), tmp = ix - FA_LOG_OFF;
    size_t i = (size_t)((tmp >> (52 - 7)) % FA_LOG_N);
    double kd = (double)((int64_t)tmp >> 52);
    double z = fa_u2d(ix - (tmp & UINT64_C(0xfff) << 52));
    double r = fma(z, fa_log_tab[i][0], -1.0);
    double w = fma(kd, FA_LOG_LN2HI, fa_log_tab[i][1]);
    double hi = w + r;
    double lo = fma(kd, FA_LOG_LN2LO, w - hi + r);
    double r2 = r * r;
    double p = fma(fma(r, FA_LOG_A4, FA_LOG_A3), r2, fma(r, FA_LOG_A2, FA_LOG_A1));
    return fma(r * r2, p, fma(r2, FA_LOG_A0, lo)) + hi;
}

/* log((double)x) with __log_fma's bits, for every float x */
static inline double fa_log_f2d(float xf) {
    double x = xf;
    uint64_t ix = fa_d2u(x);
    uint32_t top = (uint32_t)(ix >> 48);
    if (__builtin_expect(ix - FA_LOG_NEAR1_LO < FA_LOG_NEAR1_HI - FA_LOG_NEAR1_LO, 0))
        return ix == fa_d2u(1.0) ? 0.0 : fa_log_near1(x);
    /* a float is never a subnormal double: only zeros, negatives, inf and NaN are special */
    if (__builtin_expect(top - 0x0010 >= 0x7ff0 - 0x0010, 0)) {
        if (ix * 2 == 0) return -INFINITY;
        if (ix == fa_d2u(INFINITY)) return x;
        return (x - x) / (x - x); /* negative or NaN: glibc's __math_invalid */
    }
    return fa_log_main(x);
}

// ----------------------------------------------------------------------------
// lanes: FA_MATH_LANES floats at once, each lane exactly the scalar function

#if defined(__AVX512F__)
#define FA_MATH_LANES 16
#elif defined(__AVX__)
#define FA_MATH_LANES 8
#else
#define FA_MATH_LANES 4
#endif
typedef float fa_vf __attribute__((vector_size(FA_MATH_LANES * sizeof(float))));

#if FA_MATH_VECTOR
/* half a lane vector widened to double */
typedef double fa_vd __attribute__((vector_size(FA_MATH_LANES * sizeof(float))));
typedef uint64_t fa_vu __attribute__((vector_size(FA_MATH_LANES * sizeof(float))));
typedef int64_t fa_vl __attribute__((vector_size(FA_MATH_LANES * sizeof(float))));
typedef float fa_vh __attribute__((vector_size(FA_MATH_LANES * sizeof(float) / 2)));

static inline __attribute__((always_inline)) fa_vd fa_vfma(fa_vd a, fa_vd b, fa_vd c) {
#if defined(__AVX512F__)
    return (fa_vd)_mm512_fmadd_pd((__m512d)a, (__m512d)b, (__m512d)c);
#else
    return (fa_vd)_mm256_fmadd_pd((__m256d)a, (__m256d)b, (__m256d)c);
#endif
}
/* base[idx[j]] for each lane j. Without optimization GCC's gather intrinsics are macros
 * that pass an all-ones mask as a char, which -Wconversion reports in our code. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-conversion"
static inline __attribute__((always_inline)) fa_vd fa_vgather(const double *base, fa_vl idx) {
#if defined(__AVX512F__)
    return (fa_vd)_mm512_i64gather_pd((__m512i)idx, base, 8);
#else
    return (fa_vd)_mm256_i64gather_pd(base, (__m256i)idx, 8);
#endif
}
#pragma GCC diagnostic pop
static inline __attribute__((always_inline)) fa_vd fa_vsel(fa_vl m, fa_vd a, fa_vd b) {
    return (fa_vd)(((fa_vl)a & m) | ((fa_vl)b & ~m));
}
#define FA_VD(c) ((fa_vd){0} + (c))

/* fa_expf's fast path on x widened to double */
static inline __attribute__((always_inline)) fa_vh fa_expf_half(fa_vd xd) {
    fa_vd kd = fa_vfma(FA_VD(FA_EXPF_INVLN2N), xd, FA_VD(FA_EXPF_SHIFT));
    fa_vu ki = (fa_vu)kd;
    kd -= FA_EXPF_SHIFT;
    fa_vd r = fa_vfma(FA_VD(FA_EXPF_INVLN2N), xd, -kd);
    fa_vu t = (fa_vu)fa_vgather((const double *)(const void *)fa_expf_tab, (fa_vl)(ki % FA_EXPF_N));
    fa_vd s = (fa_vd)(t + (ki << (52 - 5)));
    fa_vd z = fa_vfma(FA_VD(FA_EXPF_C0), r, FA_VD(FA_EXPF_C1));
    fa_vd r2 = r * r;
    fa_vd y = fa_vfma(FA_VD(FA_EXPF_C2), r, FA_VD(1.0));
    y = fa_vfma(z, r2, y);
    return __builtin_convertvector(y * s, fa_vh);
}

/* fa_expf on every lane */
static inline fa_vf fa_expf_v(fa_vf x) {
    fa_vh xh[2], yh[2];
    memcpy(xh, &x, sizeof x);
    for (int h = 0; h < 2; h++) yh[h] = fa_expf_half(__builtin_convertvector(xh[h], fa_vd));
    fa_vf y;
    memcpy(&y, yh, sizeof y);
    /* fa_expf's special cases, each a select (all false for x in [-103.28, 88.72]) */
    typedef int32_t vi __attribute__((vector_size(sizeof(fa_vf))));
    vi m = x < -0x1.9d1d9ep6f;
    y = (fa_vf)(((vi)y & ~m) | ((vi)((fa_vf){0} + 0x1p-149f) & m));
    y = (fa_vf)((vi)y & ~(vi)(x < -0x1.9fe368p6f));
    m = x > 0x1.62e42ep6f;
    y = (fa_vf)(((vi)y & ~m) | ((vi)((fa_vf){0} + INFINITY) & m));
    m = x != x;
    return (fa_vf)(((vi)y & ~m) | ((vi)(x + x) & m));
}

/* fa_log_f2d on a half vector of lanes */
static inline __attribute__((always_inline)) fa_vd fa_log_half(fa_vd x) {
    fa_vu ix = (fa_vu)x;
    /* near 1 (fa_log_near1) */
    fa_vd r = x - 1.0, r2 = r * r, r3 = r * r2;
    fa_vd p3 =
        fa_vfma(r3, FA_VD(FA_LOG_B10),
                fa_vfma(r2, FA_VD(FA_LOG_B9), fa_vfma(r, FA_VD(FA_LOG_B8), FA_VD(FA_LOG_B7))));
    fa_vd p2 = fa_vfma(
        p3, r3, fa_vfma(r2, FA_VD(FA_LOG_B6), fa_vfma(r, FA_VD(FA_LOG_B5), FA_VD(FA_LOG_B4))));
    fa_vd p1 = fa_vfma(
        p2, r3, fa_vfma(r2, FA_VD(FA_LOG_B3), fa_vfma(r, FA_VD(FA_LOG_B2), FA_VD(FA_LOG_B1))));
    fa_vd w = r * 0x1p27;
    fa_vd rhi = r + w - w, rlo = r - rhi;
    fa_vd t = rhi * rhi;
    fa_vd hi = fa_vfma(t, FA_VD(FA_LOG_B0), r);
    fa_vd lo = fa_vfma(t, FA_VD(FA_LOG_B0), r - hi);
    lo = fa_vfma(FA_LOG_B0 * rlo, rhi + r, lo);
    fa_vd near1 = hi + fa_vfma(p1, r3, lo);
    near1 = fa_vsel((fa_vl)(ix == fa_d2u(1.0)), FA_VD(0.0), near1);
    /* elsewhere (fa_log_main); k + 0x1.8p52 as bits is the double 0x1.8p52 + k */
    fa_vu tmp = ix - FA_LOG_OFF;
    fa_vl i2 = (fa_vl)((tmp >> (52 - 7)) % FA_LOG_N) * 2;
    fa_vd kd = (fa_vd)(((fa_vl)tmp >> 52) + (int64_t)UINT64_C(0x4338000000000000)) - 0x1.8p52;
    fa_vd z = (fa_vd)(ix - (tmp & UINT64_C(0xfff) << 52));
    r = fa_vfma(z, fa_vgather(&fa_log_tab[0][0], i2), FA_VD(-1.0));
    w = fa_vfma(kd, FA_VD(FA_LOG_LN2HI), fa_vgather(&fa_log_tab[0][1], i2));
    hi = w + r;
    lo = fa_vfma(kd, FA_VD(FA_LOG_LN2LO), w - hi + r);
    r2 = r * r;
    fa_vd p = fa_vfma(fa_vfma(r, FA_VD(FA_LOG_A4), FA_VD(FA_LOG_A3)), r2,
                      fa_vfma(r, FA_VD(FA_LOG_A2), FA_VD(FA_LOG_A1)));
    fa_vd y = fa_vfma(r * r2, p, fa_vfma(r2, FA_VD(FA_LOG_A0), lo)) + hi;
    return fa_vsel((fa_vl)(ix - FA_LOG_NEAR1_LO < FA_LOG_NEAR1_HI - FA_LOG_NEAR1_LO), near1, y);
}
#endif /* FA_MATH_VECTOR */

/* out[j] = fa_log_f2d(x[j]) for every lane j */
static inline void fa_log_f2d_v(fa_vf x, double out[FA_MATH_LANES]) {
#if FA_MATH_VECTOR
    /* zeros, negatives, inf and NaN (rare) take the scalar code */
    typedef int32_t vi __attribute__((vector_size(sizeof(fa_vf))));
    vi special = (x <= 0.0f) | (x != x) | (x == INFINITY);
    int any = 0;
    for (int j = 0; j < FA_MATH_LANES; j++) any |= special[j];
    if (__builtin_expect(!any, 1)) {
        fa_vh xh[2];
        memcpy(xh, &x, sizeof x);
        for (int h = 0; h < 2; h++) {
            fa_vd y = fa_log_half(__builtin_convertvector(xh[h], fa_vd));
            memcpy(out + h * (FA_MATH_LANES / 2), &y, sizeof y);
        }
        return;
    }
#endif
    for (int j = 0; j < FA_MATH_LANES; j++) out[j] = fa_log_f2d(x[j]);
}

#if !FA_MATH_VECTOR
static inline fa_vf fa_expf_v(fa_vf x) {
    for (int j = 0; j < FA_MATH_LANES; j++) x[j] = fa_expf(x[j]);
    return x;
}
#endif

#endif
