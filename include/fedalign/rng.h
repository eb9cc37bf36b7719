/*
 * rng.h: counter-based random streams (Random123 Philox4x64-10).
 *
 * A stream is keyed by (seed, purpose) and positioned by (client, round): the
 * same key gives the same numbers on any rank and any thread, so nothing
 * depends on the decomposition and nothing needs to be saved to resume.
 * There is no global RNG state anywhere in fedalign. An Rng is a small value
 * type; copy it freely. Within one stream, draws are consumed sequentially
 * (the fourth counter word counts 4-number blocks).
 */
#ifndef FEDALIGN_RNG_H
#define FEDALIGN_RNG_H

#include <stddef.h>
#include <stdint.h>

/* What a stream is for. Never reuse a purpose for two different things. */
typedef enum {
    FA_RNG_DEVICE = 1,    /* per-device physical parameters (client = device id) */
    FA_RNG_SAMPLES = 2,   /* sample generation (client id; round = chunk/aux index) */
    FA_RNG_PARTITION = 3, /* label/quantity skew: Dirichlet draws, row assignment */
    FA_RNG_SPLIT = 4,     /* train/val/test split */
    FA_RNG_INIT = 5,      /* model initialization */
    FA_RNG_SHUFFLE = 6,   /* mini-batch order (client, round) */
    FA_RNG_SELECT = 7,    /* client selection per round (client = 0) */
    FA_RNG_PUBLIC = 8,    /* public (phase 0) data; no client uses this stream */
    FA_RNG_RING = 9,      /* ring order / ring-client sample */
    FA_RNG_P1SLICE = 10,  /* phase-1 slice of a client's train data */
    FA_RNG_FAULT = 11,    /* client faults, dropouts, attackers */
    FA_RNG_TEST = 99      /* unit tests */
} FaRngPurpose;

typedef struct {
    uint64_t key[2]; /* seed, purpose */
    uint64_t ctr[4]; /* client, round, sub-stream, block index */
    uint64_t buf[4]; /* current block */
    int idx;         /* next unused word of buf (4 = empty) */
    int has_spare;   /* Box-Muller spare */
    double spare;
} Rng;

/* Position a stream. `sub` separates independent sequences under one (client, round). */
void rng_init(Rng *r, uint64_t seed, FaRngPurpose purpose, uint64_t client, uint64_t round,
              uint64_t sub);
uint64_t rng_u64(Rng *r);
/* uniform in the open interval (0, 1), 53-bit resolution */
double rng_uniform(Rng *r);
/* uniform integer in [0, n), unbiased (rejection); n > 0 */
uint64_t rng_below(Rng *r, uint64_t n);
/* standard normal (Box-Muller) */
double rng_normal(Rng *r);
/* log of a Gamma(shape, 1) draw; exact for tiny shapes where the draw itself underflows */
double rng_log_gamma(Rng *r, double shape);
/* Dirichlet(alpha, ..., alpha) over k categories into p (sums to 1); never NaN, any alpha > 0 */
void rng_dirichlet(Rng *r, double alpha, size_t k, double *p);
/* Fisher-Yates shuffle of idx[0..n) */
void rng_shuffle(Rng *r, size_t *idx, size_t n);

/* splitmix64 finalizer: a good 64-bit mixing function for hashing */
uint64_t rng_mix64(uint64_t x);

#endif
