/*
 * group_lanes.h: the lane vector of the client-batched kernels (train_batched.c,
 * eval_batched.c): G clients per group = floats per vector of the ISA path, one client per
 * lane, the register-tile sizes both kernels use, and their register-tiled matrix product
 * (mm: forward, and back-propagated errors in train_batched.c). Private to those kernel files, which
 * include it after isa_kernels.h inside their `#if defined(__GNUC__)`: the group width must
 * be the same in both for one path, since eval_batched.c reads train_batched.c's GroupWs.
 */
#ifndef FEDALIGN_GROUP_LANES_H
#define FEDALIGN_GROUP_LANES_H

#include <stdbool.h>
#include <stddef.h>
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

// ----------------------------------------------------------------------------
// matrix products on register tiles: the forward and back-propagated products of
// train_batched.c and eval_batched.c

/* out[r][a] = post(init[a] + sum over k of M(a, k) in[r][k]) for the TRc x TAc tile at
 * (r0, a0), M(a, k) at M[(a sa + k sk) G]: forward (a = output, sa = 1, sk = fo) and
 * error back-propagation (a = input, sa = fo, sk = 1; no init, hmask = the activation
 * whose ReLU the error passes). in: (rows, nk, G) at row stride ldi vectors, out and
 * hmask: (rows, na, G) at row stride ldo; rmask (rows, G), when given, zeroes the lanes
 * that have no such row (forward hidden layers). */
AI void mm_tile(const float *restrict M, size_t sa, size_t sk, const float *restrict init,
                const float *restrict in, size_t nk, size_t ldi, float *restrict out, size_t ldo,
                const float *restrict hmask, bool relu_on, const float *restrict rmask, size_t r0,
                size_t a0, size_t TRc, size_t TAc) {
    gv acc[TR][TA];
    for (size_t r = 0; r < TRc; r++)
        for (size_t a = 0; a < TAc; a++) acc[r][a] = init ? LD(init + (a0 + a) * G) : splat(0.0f);
    for (size_t k = 0; k < nk; k++) {
        gv w[TA];
        for (size_t a = 0; a < TAc; a++) {
            w[a] = LD(M + ((a0 + a) * sa + k * sk) * G);
            INREG(w[a]);
        }
        for (size_t r = 0; r < TRc; r++) {
            gv x = LD(in + ((r0 + r) * ldi + k) * G);
            INREG(x);
            for (size_t a = 0; a < TAc; a++) acc[r][a] = acc[r][a] + w[a] * x;
        }
    }
    for (size_t r = 0; r < TRc; r++)
        for (size_t a = 0; a < TAc; a++) {
            size_t o = ((r0 + r) * ldo + a0 + a) * G;
            gv x = acc[r][a];
            if (relu_on) x = relu(x);
            if (hmask) x = mask_pos(x, LD(hmask + o));
            if (rmask) x = (gv)((gi)x & (gi)LD(rmask + (r0 + r) * G));
            ST(out + o, x);
        }
}

/* every TR-row block of rows (a multiple of TR) and every output: tiles of TA, 2, 1 */
static void mm(const float *M, size_t sa, size_t sk, const float *init, const float *in, size_t nk,
               size_t ldi, float *out, size_t na, size_t ldo, const float *hmask, bool relu_on,
               const float *rmask, size_t rows) {
    for (size_t r0 = 0; r0 < rows; r0 += TR) {
        size_t a0 = 0;
        for (; a0 + TA <= na; a0 += TA)
            mm_tile(M, sa, sk, init, in, nk, ldi, out, ldo, hmask, relu_on, rmask, r0, a0, TR, TA);
        for (; a0 + 2 <= na; a0 += 2)
            mm_tile(M, sa, sk, init, in, nk, ldi, out, ldo, hmask, relu_on, rmask, r0, a0, TR, 2);
        for (; a0 < na; a0++)
            mm_tile(M, sa, sk, init, in, nk, ldi, out, ldo, hmask, relu_on, rmask, r0, a0, TR, 1);
    }
}

#endif
