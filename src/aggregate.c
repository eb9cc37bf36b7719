/*
 * aggregate.c: flat-vector kernels for the server side (see aggregate.h).
 *
 * P = n = parameters per model. Sums over clients are exact: each contribution is
 * rounded once to the grid 2^-32 and added as int64, so any grouping of clients over
 * ranks and threads gives the same bits (docs/architecture.md, "Reproducibility contract").
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
 * power-of-two scaling: deterministic for a given q. The scaling is a multiplication by
 * 2^-32 rather than ldexp (a libm call per element): for a nonzero int64, |q| * 2^-32 >=
 * 2^-32 is far from the subnormal range, so the product is exact, the same bits. */
_Static_assert(FA_FIXED_BITS == 32, "fixed_to_double scales by 0x1p-32");
double fixed_to_double(int64_t q) { return (double)q * 0x1p-32; }

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

/* fixed(x) for a float x: round(x * 2^32) half away from zero, bit-identical to
 * llround(ldexp(x, 32)) and much cheaper (no libm call). For |x| < FA_FIXED_LIMIT,
 * v = x * 2^32 is exact, has at most 24 significant bits and |v| < 2^52, so v +- 0.5 is
 * exact (or, for |v| < 2^-28, rounds to a value whose truncation is still 0), and
 * truncation toward zero then rounds half away from zero, exactly like llround. The range
 * test is done by the caller; an out-of-range or NaN x must not reach the conversion
 * (undefined behaviour), so callers pass 0 for those and flag the failure. */
static inline int64_t fix_float(float x) {
    double v = (double)x * 0x1p32;
    /* copysign, not a comparison: branch-free (a branch on the sign mispredicts on
     * half of the elements of an update); -0.0 gets -0.5 and still truncates to 0 */
    return (int64_t)(v + copysign(0.5, v));
}

/* |x| < FA_FIXED_LIMIT and not NaN (1e6 is exact in float) */
static inline bool fix_in_range(float x) { return fabsf(x) < (float)FA_FIXED_LIMIT; }

/* acc[i] += q * fixed(x[i]) over [0, n); returns true when something failed */
static inline bool acc_q_serial(int64_t *restrict acc, const float *restrict x, int64_t q,
                                size_t n) {
    bool bad = false;
    if (q == 1) { /* the mean reference: no multiplication to check */
        for (size_t i = 0; i < n; i++) {
            bool in = fix_in_range(x[i]);
            int64_t v = fix_float(in ? x[i] : 0.0f);
            bad |= !in;
            bad |= __builtin_add_overflow(acc[i], v, &acc[i]);
        }
        return bad;
    }
    for (size_t i = 0; i < n; i++) {
        bool in = fix_in_range(x[i]);
        int64_t v = fix_float(in ? x[i] : 0.0f), qv;
        bad |= !in;
        bad |= __builtin_mul_overflow(v, q, &qv);
        bad |= __builtin_add_overflow(acc[i], qv, &acc[i]);
    }
    return bad;
}

/* Integer weights: q * fixed(x) is exact integer arithmetic, so clients with equal q
 * contribute q * (their plain fixed-point value) and sum(q * fixed(x)) / sum(q) is
 * the same rational number as sum(fixed(x)) / K. With a double weight, fixed(w * x)
 * rounds w * x onto the grid and that identity is lost. */
bool fixed_accumulate_q(int64_t *acc, const float *x, int64_t q, size_t n) {
    if (n < FA_AGG_OMP_MIN) return !acc_q_serial(acc, x, q, n);
    bool bad = false;
    /* no early exit inside a parallel loop; on failure acc is unspecified anyway */
#pragma omp parallel for schedule(static) reduction(| : bad)
    for (size_t b = 0; b < n; b += 4096)
        bad |= acc_q_serial(acc + b, x + b, q, n - b < 4096 ? n - b : 4096);
    return !bad;
}

/* q * v cannot overflow when |v| < 2^lim_bits and |q| < 2^(63 - lim_bits): the loops
 * below then multiply without a check (one instruction pair less per element); the
 * addition is always checked */
static inline bool q_mul_safe(int64_t q, int lim_bits) {
    const int64_t m = (int64_t)1 << (63 - lim_bits);
    return q > -m && q < m;
}

/* the body of fixed_delta_accumulate_q; MODE 0: q == 1, 1: q * v cannot overflow,
 * 2: checked multiply. Inlined per mode so each gets its own loop. */
static inline __attribute__((always_inline)) void
delta_loop(int64_t *restrict acc, float *d, /* may be a or b */
           const float *a, const float *b, int64_t q, float bound, bool want_s, double *s_out,
           bool *rej_out, bool *ovf_out, size_t n, int mode) {
    bool rej = false, ovf = false;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        float di = a[i] - b[i];
        d[i] = di;
        bool in = fabsf(di) < bound;
        int64_t v = fix_float(in ? di : 0.0f), qv;
        rej |= !in;
        if (mode == 0) qv = v;
        else if (mode == 1) qv = v * q;
        else ovf |= __builtin_mul_overflow(v, q, &qv);
        ovf |= __builtin_add_overflow(acc[i], qv, &acc[i]);
        if (want_s) s += (double)di * (double)di;
    }
    *s_out = s;
    *rej_out = rej;
    *ovf_out = ovf;
}

int fixed_delta_accumulate_q(int64_t *acc, float *d, const float *a, const float *b, int64_t q,
                             float bound, double *sumsq, size_t n) {
    bool rej, ovf;
    double s;
    if (!(bound <= (float)FA_FIXED_LIMIT)) bound = (float)FA_FIXED_LIMIT;
    /* |fixed(d)| < bound * 2^32; bound <= 2^20 gives |v| < 2^52 */
    const int vbits = bound <= 1.6e4f ? 46 : 52;
    /* one pass: subtract, bound, fixed point, weight, add; rejected elements contribute 0
     * so that acc can be restored exactly below */
    if (q == 1) {
        if (sumsq) delta_loop(acc, d, a, b, q, bound, true, &s, &rej, &ovf, n, 0);
        else delta_loop(acc, d, a, b, q, bound, false, &s, &rej, &ovf, n, 0);
    } else if (q_mul_safe(q, vbits)) {
        if (sumsq) delta_loop(acc, d, a, b, q, bound, true, &s, &rej, &ovf, n, 1);
        else delta_loop(acc, d, a, b, q, bound, false, &s, &rej, &ovf, n, 1);
    } else {
        delta_loop(acc, d, a, b, q, bound, sumsq != NULL, &s, &rej, &ovf, n, 2);
    }
    if (ovf) return FA_DELTA_OVERFLOW;
    if (rej) { /* rare (attacks, divergence): take the accepted elements back out, exactly */
        for (size_t i = 0; i < n; i++) {
            bool in = fabsf(d[i]) < bound;
            acc[i] -= fix_float(in ? d[i] : 0.0f) * q; /* no overflow: undoes an addition */
        }
        return FA_DELTA_REJECTED;
    }
    if (sumsq) *sumsq = s;
    return FA_DELTA_OK;
}

static inline __attribute__((always_inline)) bool
acc_dot_loop(int64_t *restrict acc, const float *x, int64_t q, const float *y, const float *z,
             double *dot, size_t n, bool checked) {
    bool bad = false;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        bool in = fix_in_range(x[i]);
        int64_t v = fix_float(in ? x[i] : 0.0f), qv;
        bad |= !in;
        if (checked) bad |= __builtin_mul_overflow(v, q, &qv);
        else qv = v * q;
        bad |= __builtin_add_overflow(acc[i], qv, &acc[i]);
        s += (double)y[i] * (double)z[i];
    }
    *dot = s;
    return !bad;
}

bool fixed_accumulate_q_dot(int64_t *acc, const float *x, int64_t q, const float *y, const float *z,
                            double *dot, size_t n) {
    /* |x| < FA_FIXED_LIMIT < 2^20 gives |v| < 2^52 */
    if (q_mul_safe(q, 52)) return acc_dot_loop(acc, x, q, y, z, dot, n, false);
    return acc_dot_loop(acc, x, q, y, z, dot, n, true);
}

// ----------------------------------------------------------------------------
// several clients per sweep (the second pass of the mean reference)

/* K dot products over one y: K independent serial chains, so the latency of one chain
 * (one double add per element) no longer bounds the loop, and y is loaded and widened
 * once per element for all K. Each chain is vec_dot's: the same bits. */
static inline __attribute__((always_inline)) void dot_multi_loop(double *dots,
                                                                 const float *const *x,
                                                                 const float *y, size_t n, int K) {
    const float *xs[FA_MULTI_MAX];
    double s[FA_MULTI_MAX];
    for (int j = 0; j < K; j++) {
        xs[j] = x[j];
        s[j] = 0.0;
    }
    for (size_t i = 0; i < n; i++) {
        const double yi = (double)y[i];
        for (int j = 0; j < K; j++) s[j] += (double)xs[j][i] * yi;
    }
    for (int j = 0; j < K; j++) dots[j] = s[j];
}

void vec_dot_multi(double *dots, const float *const *x, size_t k, const float *y, size_t n) {
    switch (k) {
    case 4: dot_multi_loop(dots, x, y, n, 4); break;
    case 3: dot_multi_loop(dots, x, y, n, 3); break;
    case 2: dot_multi_loop(dots, x, y, n, 2); break;
    case 1: dots[0] = vec_dot(x[0], y, n); break;
    default: break;
    }
}

/* acc[i] += q[j] * fixed(x[j][i]) for j = 0..K-1 in that order per element: every
 * int64 addition is the one K fixed_accumulate_q calls make, in the same order, so the
 * sums and the overflow flag are theirs; acc is loaded and stored once per element. */
static inline __attribute__((always_inline)) bool
acc_multi_loop(int64_t *restrict acc, const float *const *x, const int64_t *q, float bound,
               size_t n, int K, bool checked, bool ranged) {
    const float *xs[FA_MULTI_MAX];
    int64_t qs[FA_MULTI_MAX];
    for (int j = 0; j < K; j++) {
        xs[j] = x[j];
        qs[j] = q[j];
    }
    bool bad = false;
    for (size_t i = 0; i < n; i++) {
        int64_t a = acc[i];
        for (int j = 0; j < K; j++) {
            const float xi = xs[j][i];
            int64_t v, qv;
            if (ranged) {
                v = fix_float(xi);
            } else {
                const bool in = fabsf(xi) < bound;
                v = fix_float(in ? xi : 0.0f);
                bad |= !in;
            }
            if (checked) bad |= __builtin_mul_overflow(v, qs[j], &qv);
            else qv = v * qs[j];
            bad |= __builtin_add_overflow(a, qv, &a);
        }
        acc[i] = a;
    }
    return !bad;
}

bool fixed_accumulate_q_multi(int64_t *acc, const float *const *x, const int64_t *q, size_t k,
                              float bound, const double *norm2, size_t n) {
    if (!(bound <= (float)FA_FIXED_LIMIT)) bound = (float)FA_FIXED_LIMIT;
    const int vbits = bound <= 1.6e4f ? 46 : 52; /* |fixed(x)| < 2^vbits */
    /* x_i^2 <= |x|^2, and vec_dot's rounding (relative error below n * 2^-53) is far from
     * the factor 4 of (bound / 2)^2: then no |x_i| reaches bound (a NaN or inf norm fails
     * the test), the range test cannot fire and is left out */
    const double half = 0.5 * (double)bound;
    bool safe = true, ranged = norm2 != NULL;
    for (size_t j = 0; j < k; j++) {
        safe = safe && q_mul_safe(q[j], vbits);
        ranged = ranged && norm2[j] < half * half;
    }
#define FA_ACC_MULTI(K)                                                                            \
    if (ranged && safe) return acc_multi_loop(acc, x, q, bound, n, K, false, true);                \
    return safe ? acc_multi_loop(acc, x, q, bound, n, K, false, false)                             \
                : acc_multi_loop(acc, x, q, bound, n, K, true, false)
    switch (k) {
    case 4: FA_ACC_MULTI(4);
    case 3: FA_ACC_MULTI(3);
    case 2: FA_ACC_MULTI(2);
    case 1: FA_ACC_MULTI(1);
    default: return true;
    }
#undef FA_ACC_MULTI
}

double fixed_mean(float *mean, const int64_t *sum, int64_t count, size_t n) {
    double bb = 0.0;
    if (count == 0) {
        memset(mean, 0, n * sizeof(float));
        return 0.0;
    }
    const double c = (double)count;
    /* the square's chain of additions overlaps the division of the next elements */
    for (size_t i = 0; i < n; i++) {
        const float m = (float)((double)sum[i] * 0x1p-32 / c); /* fixed_to_double, inlined */
        mean[i] = m;
        bb += (double)m * (double)m;
    }
    return bb;
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
double vec_cosine_parts(double ab, double aa, double bb) {
    if (aa == 0.0 || bb == 0.0) return 0.0;
    double c = ab / sqrt(aa * bb);
    if (c > 1.0) c = 1.0;
    if (c < -1.0) c = -1.0;
    return c; /* NaN when an input holds NaN or inf: callers check vec_all_finite */
}

/* One pass for the three sums; each still runs left to right in double, so the result
 * is bit-identical to three vec_dot calls (and the pass is three times cheaper: the
 * three dependency chains overlap). */
double vec_cosine(const float *a, const float *b, size_t n) {
    double ab = 0.0, aa = 0.0, bb = 0.0;
    for (size_t i = 0; i < n; i++) {
        double x = (double)a[i], y = (double)b[i];
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    return vec_cosine_parts(ab, aa, bb);
}

bool vec_delta_dot(float *d, const float *a, const float *b, const float *r, float bound,
                   double *ab, double *aa, size_t n) {
    bool ok = true;
    double sab = 0.0, saa = 0.0;
    for (size_t i = 0; i < n; i++) {
        float di = a[i] - b[i];
        d[i] = di;
        ok &= fabsf(di) < bound; /* false for NaN */
        sab += (double)di * (double)r[i];
        saa += (double)di * (double)di;
    }
    *ab = sab;
    *aa = saa;
    return ok;
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
// dual-criterion weight (docs/algorithm.md, "Phase 2")

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
