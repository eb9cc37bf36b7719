/*
 * group_lanes.h: the lane vector of the client-batched kernels (train_batched.c,
 * eval_batched.c): G clients per group = floats per vector of the ISA path, one client per
 * lane, and the register-tile sizes both kernels use. Private to those kernel files, which
 * include it after isa_kernels.h inside their `#if defined(__GNUC__)`: the group width must
 * be the same in both for one path, since eval_batched.c reads train_batched.c's GroupWs.
 */
#ifndef FEDALIGN_GROUP_LANES_H
#define FEDALIGN_GROUP_LANES_H

#include <stdint.h>

/* G: clients per group = floats per vector of the ISA; TR x TA: the rows x outputs of a
 * register tile of the matrix products, TI x TJ: the inputs x outputs of a weight-gradient
 * tile (its chunk partials in registers, its running sum over chunks in registers or L1).
 * 32 vector registers with AVX-512, 16 otherwise. Chosen by measurement (docs/performance.md,
 * "Client-batched training"); any values give the same bits. */
#if defined(__AVX512F__)
#define G 16
#define TR 4
#define TA 4
#define TI 4
#define TJ 4
#elif defined(__AVX__)
#define G 8
#define TR 2
#define TA 4
#define TI 2
#define TJ 4
#else
#define G 4
#define TR 2
#define TA 4
#define TI 1
#define TJ 4
#endif
_Static_assert(G <= FA_GROUP_MAX, "FA_GROUP_MAX must cover the widest group");
_Static_assert(G == FA_MATH_LANES, "fa_math.h's lane vectors are the group's");

typedef float gv __attribute__((vector_size(G * sizeof(float))));
typedef int32_t gi __attribute__((vector_size(G * sizeof(int32_t))));
/* every buffer is 64-byte aligned and every vector sits at a multiple of G floats */
#define LD(p) (*(const gv *)(const void *)(p))
#define ST(p, x) (*(gv *)(void *)(p) = (x))
#define AI static inline __attribute__((always_inline))

/* Keep a loaded vector in a register: without it GCC folds the load into every product that
 * uses the vector (a memory operand each), and the tiles below become bound by loads, not
 * arithmetic (measured: 2 loads per multiply-add instead of 1 per 4 to 8). No instruction,
 * so no effect on any value. */
#if defined(__x86_64__) || defined(__i386__)
#define INREG(x) __asm__("" : "+v"(x))
#else
#define INREG(x) ((void)0)
#endif

AI gv splat(float c) { return (gv){0} + c; }
/* m ? a : b, lane by lane (m all-ones or zero bits) */
AI gv sel(gi m, gv a, gv b) { return (gv)(((gi)a & m) | ((gi)b & ~m)); }
/* x < 0 ? +0 : x (model.c's lanes_relu) */
AI gv relu(gv x) { return (gv)((gi)x & ~(gi)(x < (gv){0})); }
/* m > 0 ? x : +0 (model.c's lanes_mask_pos) */
AI gv mask_pos(gv x, gv m) { return (gv)((gi)x & (gi)(m > (gv){0})); }

#endif
