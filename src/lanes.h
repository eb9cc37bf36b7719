/*
 * lanes.h: a vector of NL floats, one per row of a chunk, and the elementwise operations the
 * MLP (model.c) and cnn1d (model_cnn.c) chunk kernels build on. Private to those kernel
 * files: include it after defining NL (FA_CHUNK there).
 *
 * With GCC or clang a lanes_t is NL / VW generic vectors of the machine's SIMD width VW (4
 * floats with SSE, the x86-64 baseline; 8 with AVX on the x86-64-v3/v4 paths), which keeps
 * a block of accumulators in registers; plain arrays defeat that (the compiler scalarizes
 * them and reassembles vectors with shuffles), and one vector wider than the machine's is
 * split through the stack. Other compilers get the same arithmetic on arrays. Loads and
 * stores go through a 4-byte aligned, may_alias type (like the x86 intrinsics' __m128_u),
 * so neither alignment nor an aliasing exception is assumed.
 *
 * Every operation is one IEEE operation per lane (contraction is off: -ffp-contract=off),
 * so a row's result does not depend on its lane or on the vector width.
 */
#ifndef FEDALIGN_LANES_H
#define FEDALIGN_LANES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifndef NL
#error "define NL (the lanes of one chunk) before including lanes.h"
#endif

#if defined(__GNUC__)
#if defined(__AVX__) && NL % 8 == 0
#define VW 8
#else
#define VW 4
#endif
_Static_assert(NL % VW == 0, "FA_CHUNK must be a multiple of the SIMD width");
typedef float vec_t __attribute__((vector_size(VW * sizeof(float))));
typedef float vec_u __attribute__((vector_size(VW * sizeof(float)), aligned(4), may_alias));
typedef int32_t ivec_t __attribute__((vector_size(VW * sizeof(int32_t))));
typedef struct {
    vec_t v[NL / VW];
} lanes_t;
#define LANES_EACH for (size_t i = 0; i < NL / VW; i++)
static inline lanes_t lanes_load(const float *p) {
    lanes_t r;
    LANES_EACH r.v[i] = *(const vec_u *)(p + i * VW);
    return r;
}
static inline void lanes_store(float *p, lanes_t x) { LANES_EACH *(vec_u *)(p + i * VW) = x.v[i]; }
/* 0 + c in every lane: -0 becomes +0, as in the array version */
static inline lanes_t lanes_splat(float c) {
    lanes_t r;
    LANES_EACH r.v[i] = (vec_t){0} + c;
    return r;
}
/* x < 0 ? +0 : x, lane by lane (NaN and -0 stay): the bits of the scalar ReLU */
static inline lanes_t lanes_relu(lanes_t x) {
    LANES_EACH {
        ivec_t neg = x.v[i] < (vec_t){0};
        x.v[i] = (vec_t)((ivec_t)x.v[i] & ~neg);
    }
    return x;
}
/* m > 0 ? x : +0, lane by lane */
static inline lanes_t lanes_mask_pos(lanes_t x, lanes_t m) {
    LANES_EACH {
        ivec_t pos = m.v[i] > (vec_t){0};
        x.v[i] = (vec_t)((ivec_t)x.v[i] & pos);
    }
    return x;
}
static inline float lanes_get(lanes_t x, size_t r) { return x.v[r / VW][r % VW]; }
/* v > m ? v : m, lane by lane (the first of equal values stays) */
static inline lanes_t lanes_max(lanes_t m, lanes_t v) {
    LANES_EACH {
        ivec_t gt = v.v[i] > m.v[i];
        m.v[i] = (vec_t)(((ivec_t)v.v[i] & gt) | ((ivec_t)m.v[i] & ~gt));
    }
    return m;
}
#else
typedef struct {
    float v[NL];
} lanes_t;
#define LANES_EACH for (size_t i = 0; i < NL; i++)
static inline lanes_t lanes_load(const float *p) {
    lanes_t r;
    memcpy(r.v, p, sizeof r.v);
    return r;
}
static inline void lanes_store(float *p, lanes_t x) { memcpy(p, x.v, sizeof x.v); }
static inline lanes_t lanes_splat(float c) {
    lanes_t r;
    LANES_EACH r.v[i] = 0.0f + c;
    return r;
}
static inline lanes_t lanes_relu(lanes_t x) {
    LANES_EACH x.v[i] = x.v[i] < 0.0f ? 0.0f : x.v[i];
    return x;
}
static inline lanes_t lanes_mask_pos(lanes_t x, lanes_t m) {
    LANES_EACH x.v[i] = m.v[i] > 0.0f ? x.v[i] : 0.0f;
    return x;
}
static inline float lanes_get(lanes_t x, size_t r) { return x.v[r]; }
static inline lanes_t lanes_max(lanes_t m, lanes_t v) {
    LANES_EACH m.v[i] = v.v[i] > m.v[i] ? v.v[i] : m.v[i];
    return m;
}
#endif

/* the same source for both lane types (a vector or a float per element of v):
 * acc + w * x etc., two roundings (no fused multiply-add: contraction is off) */
static inline lanes_t lanes_madd(lanes_t acc, float w, lanes_t x) {
    LANES_EACH acc.v[i] += w * x.v[i];
    return acc;
}
static inline lanes_t lanes_vmadd(lanes_t acc, lanes_t a, lanes_t x) {
    LANES_EACH acc.v[i] += a.v[i] * x.v[i];
    return acc;
}
static inline lanes_t lanes_add(lanes_t a, lanes_t b) {
    LANES_EACH a.v[i] += b.v[i];
    return a;
}
static inline lanes_t lanes_mul(lanes_t a, lanes_t b) {
    LANES_EACH a.v[i] *= b.v[i];
    return a;
}

#endif
