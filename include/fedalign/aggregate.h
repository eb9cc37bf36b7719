/*
 * aggregate.h: flat-vector kernels for the server side of federated learning.
 *
 * Exact sums over clients: each contribution w * x[i] is rounded to a fixed-point
 * grid of 2^-FA_FIXED_BITS and added as int64. Integer addition is associative,
 * so the sum is bit-identical however clients are grouped over ranks and threads
 * (docs/architecture.md, "Reproducibility contract"). Overflow is detected, never wrapped.
 * No MPI, no I/O, no allocation: callers own every buffer.
 */
#ifndef FEDALIGN_AGGREGATE_H
#define FEDALIGN_AGGREGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FA_FIXED_BITS 32
/* a single contribution must satisfy |w * x| < FA_FIXED_LIMIT */
#define FA_FIXED_LIMIT 1.0e6

/* Round one double to the fixed grid; returns false if |v| >= FA_FIXED_LIMIT or not finite. */
bool fixed_from_double(double v, int64_t *out);
double fixed_to_double(int64_t q);

/* acc[i] += fixed(w * x[i]) for i < n. Returns false (acc unspecified) when a
 * contribution is out of range or not finite, or an int64 addition overflows. */
bool fixed_accumulate(int64_t *acc, const float *x, double w, size_t n);

/* acc[i] += q * round(x[i] * 2^32): integer weight times the fixed-point value, so
 * equal weights factor out exactly. Returns false on a non-finite or out-of-range
 * x[i] or an int64 overflow (acc unspecified then). */
bool fixed_accumulate_q(int64_t *acc, const float *x, int64_t q, size_t n);

/* Results of fixed_delta_accumulate_q */
enum { FA_DELTA_OK = 0, FA_DELTA_REJECTED = 1, FA_DELTA_OVERFLOW = 2 };

/* The first aggregation pass fused into one loop: d[i] = a[i] - b[i] (always written in
 * full), and, when every |d[i]| < bound (bound is capped at FA_FIXED_LIMIT; NaN fails),
 * acc[i] += q * fixed(d[i]) and *sumsq = sum of d[i]^2 in double, left to right (as
 * vec_dot(d, d); sumsq may be NULL). Returns FA_DELTA_OK; FA_DELTA_REJECTED when some
 * |d[i]| >= bound (acc is then left exactly as it was); FA_DELTA_OVERFLOW on an int64
 * overflow (acc unspecified). Bit-identical to vec_sub, a bound check and
 * fixed_accumulate_q. d may be a or b (in place). Serial (one client's work; callers
 * parallelize over clients). */
int fixed_delta_accumulate_q(int64_t *acc, float *d, const float *a, const float *b, int64_t q,
                             float bound, double *sumsq, size_t n);

/* fixed_accumulate_q(acc, x, q, n) and, in the same loop, *dot = vec_dot(y, z, n) (same
 * order, same bits): the dot product's serial dependency chain overlaps the rounding
 * work of another vector (software pipelining over clients). Serial. */
bool fixed_accumulate_q_dot(int64_t *acc, const float *x, int64_t q, const float *y, const float *z,
                            double *dot, size_t n);

/* Up to FA_MULTI_MAX vectors per sweep (the second pass of the mean reference). */
#define FA_MULTI_MAX 4
/* dots[j] = vec_dot(x[j], y, n) for j < k <= FA_MULTI_MAX: the same bits (each sum left
 * to right in double), one sweep over y with k independent chains. Serial. */
void vec_dot_multi(double *dots, const float *const *x, size_t k, const float *y, size_t n);
/* fixed_accumulate_q(acc, x[j], q[j], n) for j = 0..k-1 (k <= FA_MULTI_MAX) in one sweep,
 * acc loaded and stored once per element. Per element the int64 additions are those of
 * the k calls in the same order: the same sums, and false exactly when one of the calls
 * would fail, except that the range test is |x| < bound (bound capped at FA_FIXED_LIMIT,
 * the single call's limit; a bound <= 1.6e4 lets the products go unchecked). norm2 (may be
 * NULL): |x[j]|^2 as vec_dot computes it; when every one is below (bound / 2)^2 no element
 * can fail the range test and the loop leaves it out. Serial. */
bool fixed_accumulate_q_multi(int64_t *acc, const float *const *x, const int64_t *q, size_t k,
                              float bound, const double *norm2, size_t n);

/* mean[i] = (float)(fixed_to_double(sum[i]) / count) (0 when count is 0), and returns
 * vec_dot(mean, mean, n), computed in the same loop in the same order (same bits). */
double fixed_mean(float *mean, const int64_t *sum, int64_t count, size_t n);

/* acc[i] += src[i] with overflow detection (sums of per-thread accumulators). */
bool fixed_add(int64_t *acc, const int64_t *src, size_t n);

/* out[i] = base[i] + alpha * fixed_to_double(acc[i]) / denom, rounded to float. */
void fixed_apply_update(float *out, const float *base, const int64_t *acc, double alpha,
                        double denom, size_t n);

/* out = a - b */
void vec_sub(float *out, const float *a, const float *b, size_t n);
/* dot product in double, serial left-to-right (deterministic) */
double vec_dot(const float *a, const float *b, size_t n);
double vec_norm2(const float *a, size_t n);
/* cosine similarity; 0 when either vector is zero. One pass, each sum serial left to
 * right in double (the same bits as vec_dot(a, b), vec_dot(a, a), vec_dot(b, b)). */
double vec_cosine(const float *a, const float *b, size_t n);
/* The cosine from its parts ab = a.b, aa = |a|^2, bb = |b|^2 (as vec_cosine computes
 * them): vec_cosine(a, b, n) == vec_cosine_parts(vec_dot(a, b), vec_dot(a, a), vec_dot(b, b)). */
double vec_cosine_parts(double ab, double aa, double bb);
/* d = a - b (d may be a or b) and, in the same pass, *ab = d.r and *aa = d.d, each sum
 * left to right in double (the same bits as vec_dot(d, r), vec_dot(d, d) after vec_sub).
 * Returns false when some |d_i| >= bound or is NaN (d is then still written, ab and aa
 * are unspecified). The one-pass client step of the previous-update reference. */
bool vec_delta_dot(float *d, const float *a, const float *b, const float *r, float bound,
                   double *ab, double *aa, size_t n);
/* true when every element is finite */
bool vec_all_finite(const float *a, size_t n);

/* Stable 64-bit hash of the exact bits of a float vector (FNV-1a over words, then mixed). */
uint64_t fa_checksum(const float *a, size_t n);

/* Dual-criterion weight numerator u_t = s_t * max(c, theta_t). */
double fa_dual_weight(double s, double theta, double floor_c);

#endif
