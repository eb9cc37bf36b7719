/*
 * isa.c: the choice of the kernels' ISA path (isa.h) and the public kernel names, each a
 * call through the chosen path's table of function pointers (isa_kernels.h).
 *
 * The path is chosen once (isa_use at start, or the first kernel call: auto), so a call
 * costs one indirect jump and no cpuid. CMake tells this file which paths the build has
 * (FA_ISA_HAVE_AVX2, FA_ISA_HAVE_AVX512; FA_ISA_BASE_SUFFIX names the baseline's
 * objects); the CPU's support comes from __builtin_cpu_supports. The AVX-512 path is
 * compiled for x86-64-v4 (F, BW, CD, DQ, VL), so it needs all five at run time.
 */
#include "isa_kernels.h"

#include "fedalign/isa.h"

#include <stdlib.h>
#include <string.h>

#include "fedalign/check.h"
#include "fedalign/comm.h"

#ifndef FA_ISA_BASE_SUFFIX
#error "isa.c is compiled with the definitions of CMakeLists.txt (FA_ISA_BASE_SUFFIX)"
#endif
#define ISA_CAT2(a, b) a##_##b
#define ISA_CAT(a, b) ISA_CAT2(a, b)

// ----------------------------------------------------------------------------
// one table of kernels per path

typedef struct {
#define X(ret, name, params, args) ret(*name) params;
#define V(name, params, args) void(*name) params;
    FA_ISA_KERNELS(X, V)
#undef X
#undef V
} IsaTable;

/* the per-path functions (isa_kernels.h renames them in each path's objects) and a
 * table of each */
#define DECLARE_PATH(sfx)                                                                          \
    FA_ISA_KERNELS(DECL_X_##sfx, DECL_V_##sfx)                                                     \
    static const IsaTable table_##sfx = {FA_ISA_KERNELS(ENTRY_X_##sfx, ENTRY_V_##sfx)};

#define DECL_X(sfx, ret, name, params) ret ISA_CAT(name, sfx) params;
#define DECL_V(sfx, name, params) void ISA_CAT(name, sfx) params;
#define ENTRY(sfx, name) .name = ISA_CAT(name, sfx),

#define DECL_X_base(ret, name, params, args) DECL_X(FA_ISA_BASE_SUFFIX, ret, name, params)
#define DECL_V_base(name, params, args) DECL_V(FA_ISA_BASE_SUFFIX, name, params)
#define ENTRY_X_base(ret, name, params, args) ENTRY(FA_ISA_BASE_SUFFIX, name)
#define ENTRY_V_base(name, params, args) ENTRY(FA_ISA_BASE_SUFFIX, name)
DECLARE_PATH(base)

#if FA_ISA_HAVE_AVX2
#define DECL_X_avx2(ret, name, params, args) DECL_X(avx2, ret, name, params)
#define DECL_V_avx2(name, params, args) DECL_V(avx2, name, params)
#define ENTRY_X_avx2(ret, name, params, args) ENTRY(avx2, name)
#define ENTRY_V_avx2(name, params, args) ENTRY(avx2, name)
DECLARE_PATH(avx2)
#endif
#if FA_ISA_HAVE_AVX512
#define DECL_X_avx512(ret, name, params, args) DECL_X(avx512, ret, name, params)
#define DECL_V_avx512(name, params, args) DECL_V(avx512, name, params)
#define ENTRY_X_avx512(ret, name, params, args) ENTRY(avx512, name)
#define ENTRY_V_avx512(name, params, args) ENTRY(avx512, name)
DECLARE_PATH(avx512)
#endif

// ----------------------------------------------------------------------------
// names and availability

/* fa_enum_isa (the names) lives in config.c beside the other option enums, so the
 * option parser links without the kernels (tests/fuzz builds config.c alone) */

const char *isa_name(FaIsa isa) {
#if !defined(__x86_64__)
    if (isa == FA_ISA_SSE2) return "generic";
#endif
    return isa >= 0 && isa < FA_ISA_COUNT ? fa_enum_isa.names[isa] : "?";
}

static const IsaTable *table_of(FaIsa isa) {
    switch (isa) {
    case FA_ISA_SSE2: return &table_base;
#if FA_ISA_HAVE_AVX2
    case FA_ISA_AVX2: return &table_avx2;
#endif
#if FA_ISA_HAVE_AVX512
    case FA_ISA_AVX512: return &table_avx512;
#endif
    default: return NULL;
    }
}

static bool cpu_has(FaIsa isa) {
    /* tests only: FEDALIGN_TEST_ISA_CAP=sse2|avx2 makes this CPU look as if it lacked the
     * paths above that one, so the refusal can be tested on any machine (test_isa_repro) */
    const char *cap = getenv("FEDALIGN_TEST_ISA_CAP");
    int capv = cap ? fa_enum_value(&fa_enum_isa, cap) : -1;
    if (capv > FA_ISA_AUTO && (int)isa > capv) return false;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    switch (isa) {
    case FA_ISA_SSE2: return true; /* part of x86-64 */
    case FA_ISA_AVX2:              /* x86-64-v3 */
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c") &&
               __builtin_cpu_supports("movbe");
    case FA_ISA_AVX512: /* x86-64-v4 = v3 + these */
        return cpu_has(FA_ISA_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    default: return false;
    }
#else
    return isa == FA_ISA_SSE2; /* the portable path runs anywhere */
#endif
}

bool isa_available(FaIsa isa) {
    return isa == FA_ISA_AUTO || (table_of(isa) != NULL && cpu_has(isa));
}

void isa_list_available(char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = FA_ISA_SSE2; i < FA_ISA_COUNT && used < cap; i++) {
        if (!isa_available((FaIsa)i)) continue;
        int k = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", isa_name((FaIsa)i));
        if (k < 0) break;
        used += (size_t)k;
    }
}

static FaIsa best_available(void) {
    for (int i = FA_ISA_COUNT - 1; i > FA_ISA_SSE2; i--)
        if (isa_available((FaIsa)i)) return (FaIsa)i;
    return FA_ISA_SSE2;
}

FaIsa isa_resolve(FaIsa want, char *err, size_t errlen) {
    const char *from = "--isa";
    if (want == FA_ISA_AUTO) {
        const char *e = getenv("FEDALIGN_ISA");
        if (!e || !*e) return best_available();
        int v = fa_enum_value(&fa_enum_isa, e);
        if (v < 0) {
            char list[128];
            fa_enum_list(&fa_enum_isa, list, sizeof list);
            snprintf(err, errlen, "FEDALIGN_ISA: unknown path '%s' (expected %s)", e, list);
            return FA_ISA_AUTO;
        }
        if (v == FA_ISA_AUTO) return best_available();
        want = (FaIsa)v;
        from = "FEDALIGN_ISA";
    }
    if (isa_available(want)) return want;
    char have[128];
    isa_list_available(have, sizeof have);
    snprintf(err, errlen, "%s %s: %s (this machine can run: %s)", from, isa_name(want),
             table_of(want) ? "this CPU lacks that instruction set"
                            : "this build does not carry that path",
             have);
    return FA_ISA_AUTO;
}

// ----------------------------------------------------------------------------
// the chosen path

/* Written once at start (isa_use, or the first kernel call) before threads exist, then
 * only read; a plain pointer is enough for that. */
static const IsaTable *g_table = NULL;
static FaIsa g_path = FA_ISA_AUTO;

void isa_use(FaIsa path) {
    const IsaTable *t = table_of(path);
    CHECK(t != NULL && cpu_has(path), "isa_use: path %s cannot run here", isa_name(path));
    g_table = t;
    g_path = path;
}

FaIsa isa_current(void) {
    if (!g_table) {
        char err[256];
        FaIsa p = isa_resolve(FA_ISA_AUTO, err, sizeof err);
        if (p == FA_ISA_AUTO) fa_fail("%s", err);
        isa_use(p);
    }
    return g_path;
}

void isa_start(FaIsa want) {
    char err[256];
    FaIsa p = isa_resolve(want, err, sizeof err);
    /* every rank resolves on its own CPU; when one cannot run the path, all fail alike
     * (rank 0 prints, so its message names what the others lack when it can run it) */
    if (p != FA_ISA_AUTO)
        snprintf(err, sizeof err, "%s %s: another rank's CPU cannot run it",
                 want == FA_ISA_AUTO ? "FEDALIGN_ISA" : "--isa", isa_name(p));
    if (!comm_all(p != FA_ISA_AUTO)) fa_fail("%s", err);
    isa_use(p);
}

static inline const IsaTable *kernels(void) {
    if (__builtin_expect(g_table == NULL, 0)) (void)isa_current();
    return g_table;
}

// ----------------------------------------------------------------------------
// the public kernel names: one call through the table each

#define CALL_X(ret, name, params, args)                                                            \
    ret name params { return kernels()->name args; }
#define CALL_V(name, params, args)                                                                 \
    void name params { kernels()->name args; }
FA_ISA_KERNELS(CALL_X, CALL_V)
