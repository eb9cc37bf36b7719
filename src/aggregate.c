/*
 * aggregate.c: flat-vector kernels for the server side (see aggregate.h).
 *
 * P = n = parameters per model. Sums over clients are exact: each contribution is
 * rounded once to the grid 2^-32 and added as int64, so any grouping of clients over
 * ranks and threads gives the same bits (DESIGN.md, reproducibility contract).
 * Reductions *within* one vector (dot, norm, cosine) run serially left to right in
 * double, so they are deterministic too. Element-wise kernels may use OpenMP over i:
 * every element is computed independently, so threads cannot change a result.
 * No MPI, no I/O, no allocation.
 */
#include "fedalign/aggregate.h"

#include <math.h>
#include <string.h>

/* below this many elements a parallel region costs more than it saves */
#define FA_AGG_OMP_MIN ((size_t)1 << 16)

// ----------------------------------------------------------------------------
// fixed point

/* Rounding: llround, i.e. round half away from zero. Unlike nearbyint it does not
 * depend on the floating-point environment's rounding mode, so no caller can change
 * the grid by calling fesetround. Scaling by 2^32 is exact (a power of two, and
 * |v| < 1e6 keeps |v * 2^32| < 2^53), so the llround is the only rounding. */
bool fixed_from_double(double v, int64_t *out) {
    /* !(|v| < limit) also rejects NaN */
    if (!isfinite(v) || !(fabs(v) < FA_FIXED_LIMIT)) return false;
    *out = (int64_t)llround(ldexp(v, FA_FIXED_BITS));
    return true;
}

/* One rounding (int64 -> double, to nearest, only when |q| > 2^53), then an exact
 * power-of-two scaling: deterministic for a given q. */
double fixed_to_double(int64_t q) { return ldexp((double)q, -FA_FIXED_BITS); }

bool fixed_accumulate(int64_t *acc, const float *x, double w, size_t n) {
    bool ok = true;
    /* no early exit inside a parallel loop; on failure acc is unspecified anyway */
#pragma omp parallel for schedule(static) reduction(&& : ok) if (n >= FA_AGG_OMP_MIN)
    for (size_t i = 0; i < n; i++) {
        int64_t q;
        if (!fixed_from_double(w * (double)x[i], &q) || __builtin_add_overflow(acc[i], q, &acc[i]))
            ok = false;
    }
    return ok;
}

/* Integer weights: q * fixed(x) is exact integer arithmetic, so clients with equal q
 * contribute q * (their plain fixed-point value) and sum(q * fixed(x)) / sum(q) is
 * the same rational number as sum(fixed(x)) / K. With a double weight, fixed(w * x)
 * rounds w * x onto the grid and that identity is lost. */
bool fixed_accumulate_q(int64_t *acc, const float *x, int64_t q, size_t n) {
    bool ok = true;
#pragma omp parallel for schedule(static) reduction(&& : ok) if (n >= FA_AGG_OMP_MIN)
    for (size_t i = 0; i < n; i++) {
        int64_t v, qv;
        if (!fixed_from_double((double)x[i], &v) || __builtin_mul_overflow(v, q, &qv) ||
            __builtin_add_overflow(acc[i], qv, &acc[i]))
            ok = false;
    }
    return ok;
}

bool fixed_add(int64_t *acc, const int64_t *src, size_t n) {
    bool ok = true;
#pragma omp parallel for schedule(static) reduction(&& : ok) if (n >= FA_AGG_OMP_MIN)
    for (size_t i = 0; i < n; i++)
        if (__builtin_add_overflow(acc[i], src[i], &acc[i])) ok = false;
    return ok;
}

/* Computed in double and rounded to float once: base + alpha * (q * 2^-32) / denom.
 * The order of operations is fixed so every rank applying the same acc gets the same
 * float. */
void fixed_apply_update(float *out, const float *base, const int64_t *acc, double alpha,
                        double denom, size_t n) {
#pragma omp parallel for schedule(static) if (n >= FA_AGG_OMP_MIN)
    for (size_t i = 0; i < n; i++) {
        double step = alpha * fixed_to_double(acc[i]) / denom;
        out[i] = (float)((double)base[i] + step);
    }
}

// ----------------------------------------------------------------------------
// vector kernels

void vec_sub(float *out, const float *a, const float *b, size_t n) {
#pragma omp parallel for schedule(static) if (n >= FA_AGG_OMP_MIN)
    for (size_t i = 0; i < n; i++) out[i] = a[i] - b[i];
}

/* float * float is exact in double (24 + 24 < 53 bits); only the additions round,
 * in a fixed left-to-right order. */
double vec_dot(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

/* Euclidean norm sqrt(sum a[i]^2). Squares of floats cannot overflow a double. */
double vec_norm2(const float *a, size_t n) { return sqrt(vec_dot(a, a, n)); }

/* dot / sqrt(|a|^2 |b|^2) rather than dot / (|a| |b|): for b = +-a the denominator is
 * sqrt(fl(s * s)) == s exactly (IEEE, round to nearest, no over/underflow, which
 * float inputs cannot reach in double), so cosine(a, a) is exactly 1 and
 * cosine(a, -a) exactly -1. The clamp guards the general case against rounding. */
double vec_cosine(const float *a, const float *b, size_t n) {
    double ab = vec_dot(a, b, n);
    double aa = vec_dot(a, a, n);
    double bb = vec_dot(b, b, n);
    if (aa == 0.0 || bb == 0.0) return 0.0;
    double c = ab / sqrt(aa * bb);
    if (c > 1.0) c = 1.0;
    if (c < -1.0) c = -1.0;
    return c; /* NaN when an input holds NaN or inf: callers check vec_all_finite */
}

bool vec_all_finite(const float *a, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(a[i])) return false;
    return true;
}

// ----------------------------------------------------------------------------
// checksum

/* splitmix64 finalizer (Steele et al.); repeated here so aggregate depends on libc only */
static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* FNV-1a over the 32-bit patterns of the floats (one step per float, not per byte),
 * then the length, then a finalizer so that close inputs give unrelated hashes.
 * It hashes bits, not values: -0.0 and 0.0 differ, and so do NaNs with different
 * payloads. That is what a bit-reproducibility check wants. Endianness does not
 * matter because we hash the uint32_t value, not its bytes. */
uint64_t fa_checksum(const float *a, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64-bit offset basis */
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &a[i], sizeof bits); /* no type punning through pointers */
        h ^= bits;
        h *= 0x100000001b3ULL; /* FNV-1a 64-bit prime */
    }
    h ^= (uint64_t)n;
    return mix64(h);
}

// ----------------------------------------------------------------------------
// dual-criterion weight (DESIGN.md section 1)

/* u_t = s_t * max(c, theta_t). A NaN theta is passed through rather than replaced by
 * the floor (fmax would): a NaN update direction is a bug to surface, and
 * fixed_accumulate then rejects the contribution.
 * Exactness: with s = 1 and equal theta every u_t equals the same u, but
 * sum fixed(u * x_t) / sum u (fixed_accumulate with w = u) is not bit-identical to
 * sum fixed(x_t) / K unless u == 1, because u * x rounds onto the grid differently.
 * Quantize u to an integer weight and use fixed_accumulate_q instead: equal integer
 * weights then cancel exactly (tested in test_aggregate.c). */
double fa_dual_weight(double s, double theta, double floor_c) {
    if (isnan(theta)) return theta;
    return s * (theta > floor_c ? theta : floor_c);
}
