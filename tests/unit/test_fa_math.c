/*
 * test_fa_math.c: fa_math.h's expf and log (glibc 2.36's FMA-variant algorithms) on every
 * ISA path this CPU runs, bit for bit.
 *
 * The reference is the scalar code (fa_math_scalar) of the portable sse2 path; on the
 * inputs swept exhaustively, the scalar code of the widest path (the same source, its fma()
 * inlined) stands in for it, and every path's scalar code is compared with it on a sample.
 * Each path's lane code (fa_math_lanes, what train_batched.c inlines) must equal the
 * reference, and so must the system libm's expf and log where glibc picks its FMA variant
 * (the CPU has FMA and AVX2): the bits of runs on such CPUs are kept.
 *
 * Unit run (about 10 s): log over every float in [1, 64] (the softmax's sum s lies in
 * [1, K]) and a sample of all others; expf over every 7th float <= 0 (NaNs included), every
 * float at the edges of its special cases, and a sample of the positive ones. With the
 * argument "all" (test_fa_math_all, label soak): every float for both, on every path.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/fa_math.h"
#include "fedalign/isa.h"

#define BLOCK (1u << 20)

static int g_all;      /* "all": every float, every path */
static int g_libm_fma; /* glibc's ifunc picks __expf_fma / __log_fma here */

typedef struct {
    float x[BLOCK], e_ref[BLOCK], e[BLOCK];
    double l_ref[BLOCK], l[BLOCK];
} Bufs;

static uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static uint64_t d2u(double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

/* 0 or the index of the first differing element */
static size_t diff_e(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (f2u(a[i]) != f2u(b[i])) return i + 1;
    return 0;
}
static size_t diff_l(const double *a, const double *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (d2u(a[i]) != d2u(b[i])) return i + 1;
    return 0;
}

/* compare on the n floats in b->x; exhaustive: the reference is the widest path's scalar */
static void check_block(Bufs *b, size_t n, int do_e, int do_l, int exhaustive) {
    float *e_ref = do_e ? b->e_ref : NULL, *e = do_e ? b->e : NULL;
    double *l_ref = do_l ? b->l_ref : NULL, *l = do_l ? b->l : NULL;
    FaIsa ref = FA_ISA_SSE2;
    if (exhaustive && !g_all)
        for (FaIsa p = FA_ISA_AVX512; p > FA_ISA_SSE2 && ref == FA_ISA_SSE2; p--)
            if (isa_available(p)) ref = p;
    isa_use(ref);
    fa_math_scalar(b->x, n, e_ref, l_ref);
    for (FaIsa p = FA_ISA_SSE2; p < FA_ISA_COUNT; p++) {
        if (!isa_available(p)) continue;
        isa_use(p);
        /* the slow portable path (an fma() call per fused operation) on a sample */
        size_t m = (exhaustive && !g_all && p == FA_ISA_SSE2) ? n / 64 : n;
        for (int lanes = 0; lanes < 2; lanes++) {
            if (!lanes && p == ref) continue;
            (lanes ? fa_math_lanes : fa_math_scalar)(b->x, m, e, l);
            size_t i = do_e ? diff_e(e, e_ref, m) : 0;
            if (i)
                fail_msg("expf %s %s: x = %a (0x%08x): %a, reference %a", isa_name(p),
                         lanes ? "lanes" : "scalar", b->x[i - 1], f2u(b->x[i - 1]), e[i - 1],
                         e_ref[i - 1]);
            i = do_l ? diff_l(l, l_ref, m) : 0;
            if (i)
                fail_msg("log %s %s: x = %a: %a, reference %a", isa_name(p),
                         lanes ? "lanes" : "scalar", b->x[i - 1], l[i - 1], l_ref[i - 1]);
        }
    }
    if (!g_libm_fma) return;
    for (size_t i = 0; i < n; i++) {
        if (do_e && f2u(expf(b->x[i])) != f2u(e_ref[i]))
            fail_msg("expf(%a): libm %a, fa_expf %a", b->x[i], expf(b->x[i]), e_ref[i]);
        if (do_l && d2u(log((double)b->x[i])) != d2u(l_ref[i]))
            fail_msg("log(%a): libm %a, fa_log_f2d %a", b->x[i], log((double)b->x[i]), l_ref[i]);
    }
}

/* the float bit patterns lo, lo + stride, ... <= hi, a block at a time */
static void sweep(uint32_t lo, uint32_t hi, uint32_t stride, int do_e, int do_l) {
    Bufs *b = malloc(sizeof *b);
    assert_non_null(b);
    uint64_t u = lo;
    while (u <= hi) {
        size_t n = 0;
        for (; n < BLOCK && u <= hi; u += stride) {
            uint32_t v = (uint32_t)u;
            memcpy(&b->x[n++], &v, 4);
        }
        check_block(b, n, do_e, do_l, stride == 1);
    }
    free(b);
}

static void test_expf_nonpositive(void **state) {
    (void)state;
    /* unit run: every 7th float (every table index and polynomial range), and exhaustive
     * where the underflow cases begin */
    sweep(0x00000000u, 0x00000000u, 1, 1, 0); /* +0 */
    sweep(0x80000000u, 0xffffffffu, g_all ? 1 : 7, 1, 0);
    sweep(0xc2ce0000u, 0xc2d20000u, 1, 1, 0);
}

static void test_expf_positive(void **state) {
    (void)state;
    sweep(0x00000001u, 0x7fffffffu, g_all ? 1 : 257, 1, 0);
    /* the edges of the special cases and of the table: exhaustive near overflow */
    sweep(0x42b00000u, 0x42b40000u, 1, 1, 0);
}

static void test_log_softmax_range(void **state) {
    (void)state;
    sweep(0x3f800000u, 0x42800000u, 1, 0, 1); /* [1, 64] */
}

static void test_log_other(void **state) {
    (void)state;
    uint32_t stride = g_all ? 1 : 257;
    sweep(0x00000000u, 0x3f7fffffu, stride, 0, 1);
    sweep(0x42800001u, 0xffffffffu, stride, 0, 1);
    sweep(0x3f700000u, 0x3f800000u, 1, 0, 1); /* near 1 from below, the second path */
}

/* the special cases of both functions by value (the sweeps compare their bits) */
static void test_specials(void **state) {
    (void)state;
    assert_true(fa_expf(-INFINITY) == 0.0f && fa_expf(INFINITY) == INFINITY);
    assert_true(fa_expf(-0x1.9fe36ap6f) == 0.0f && fa_expf(-0x1.9e0000p6f) == 0x1p-149f);
    assert_true(fa_expf(0x1.62e430p6f) == INFINITY && fa_expf(0.0f) == 1.0f);
    assert_true(isnan(fa_expf(NAN)) && isnan(fa_log_f2d(NAN)) && isnan(fa_log_f2d(-1.0f)));
    assert_true(fa_log_f2d(0.0f) == -INFINITY && fa_log_f2d(-0.0f) == -INFINITY);
    assert_true(fa_log_f2d(1.0f) == 0.0 && !signbit(fa_log_f2d(1.0f)));
    assert_true(fa_log_f2d(INFINITY) == INFINITY);
    assert_true(fabs(fa_log_f2d(2.0f) - 0x1.62e42fefa39efp-1) <= 0x1p-53);
}

int main(int argc, char **argv) {
    g_all = argc > 1 && strcmp(argv[1], "all") == 0;
#if defined(__x86_64__) || defined(__i386__)
    g_libm_fma = __builtin_cpu_supports("fma") && __builtin_cpu_supports("avx2");
#endif
    printf("# system libm %s compared (glibc's FMA variant %s on this CPU)\n",
           g_libm_fma ? "is" : "is not", g_libm_fma ? "chosen" : "not chosen");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_specials),         cmocka_unit_test(test_log_softmax_range),
        cmocka_unit_test(test_log_other),        cmocka_unit_test(test_expf_positive),
        cmocka_unit_test(test_expf_nonpositive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
