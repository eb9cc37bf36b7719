/*
 * rng.c: counter-based streams on Random123's Philox4x64-10.
 *
 * Philox is a keyed bijection of a 256-bit counter, so a stream is addressed, not
 * advanced from a seed: key = (seed, purpose), counter = (client, round, sub, block).
 * That is what makes data, initialization and shuffles independent of the rank or
 * thread that draws them (docs/architecture.md, "Reproducibility contract").
 */
#include "fedalign/rng.h"

#include <math.h>

#include <Random123/philox.h>

#include "fedalign/check.h"

void rng_init(Rng *r, uint64_t seed, FaRngPurpose purpose, uint64_t client, uint64_t round,
              uint64_t sub) {
    r->key[0] = seed;
    r->key[1] = (uint64_t)purpose;
    r->ctr[0] = client;
    r->ctr[1] = round;
    r->ctr[2] = sub;
    r->ctr[3] = 0;
    r->idx = 4;
    r->has_spare = 0;
    r->spare = 0.0;
}

static void rng_refill(Rng *r) {
    philox4x64_ctr_t c = {{r->ctr[0], r->ctr[1], r->ctr[2], r->ctr[3]}};
    philox4x64_key_t k = {{r->key[0], r->key[1]}};
    philox4x64_ctr_t out = philox4x64(c, k);
    for (int i = 0; i < 4; i++) r->buf[i] = out.v[i];
    r->ctr[3]++; /* 2^64 blocks per stream: never wraps in practice */
    r->idx = 0;
}

uint64_t rng_u64(Rng *r) {
    if (r->idx >= 4) rng_refill(r);
    return r->buf[r->idx++];
}

double rng_uniform(Rng *r) {
    /* 53 random bits, shifted by half an ulp: strictly inside (0, 1) */
    return ((double)(rng_u64(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

uint64_t rng_below(Rng *r, uint64_t n) {
    CHECK(n > 0, "rng_below(0)");
    /* Lemire-free simple rejection: reject the top partial bucket */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
    uint64_t x;
    do {
        x = rng_u64(r);
    } while (x >= limit);
    return x % n;
}

double rng_normal(Rng *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1));
    r->spare = rad * sin(2.0 * FA_PI * u2);
    r->has_spare = 1;
    return rad * cos(2.0 * FA_PI * u2);
}

/* Marsaglia & Tsang (2000) for shape >= 1; for shape < 1 use
 * Gamma(a) = Gamma(a + 1) * U^(1/a) in log space, which stays finite even when the
 * draw itself underflows (beta = 0.01 gives values like 1e-300 and below). */
double rng_log_gamma(Rng *r, double shape) {
    CHECK(shape > 0.0 && isfinite(shape), "gamma shape must be > 0, got %g", shape);
    double boost = 0.0;
    if (shape < 1.0) {
        boost = log(rng_uniform(r)) / shape;
        shape += 1.0;
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = rng_normal(r), v = 1.0 + c * x;
        if (v <= 0.0) continue;
        v = v * v * v;
        double u = rng_uniform(r);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v)) return log(d * v) + boost;
    }
}

void rng_dirichlet(Rng *r, double alpha, size_t k, double *p) {
    double mx = -INFINITY;
    for (size_t i = 0; i < k; i++) {
        p[i] = rng_log_gamma(r, alpha);
        if (p[i] > mx) mx = p[i];
    }
    double s = 0.0;
    for (size_t i = 0; i < k; i++) {
        p[i] = exp(p[i] - mx); /* the largest becomes 1: the sum is >= 1, never 0 */
        s += p[i];
    }
    for (size_t i = 0; i < k; i++) p[i] /= s;
}

void rng_shuffle(Rng *r, size_t *idx, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(r, i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

uint64_t rng_mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}
