/*
 * isa.h: which instruction-set path the compute kernels run on.
 *
 * The kernel sources (model.c, train.c, aggregate.c; the list is in CMakeLists.txt) are
 * compiled once per path: the x86-64 baseline (SSE2), x86-64-v3 (AVX2, FMA unit but no
 * contraction) and x86-64-v4 (AVX-512). One path is chosen once per process, before the
 * first kernel call, and every call goes through a table of function pointers (isa.c).
 * Every path performs the same floating-point operations in the same order, so results
 * are bit-identical whichever runs (docs/architecture.md, "Reproducibility contract").
 * Non-x86 targets build the portable path only, named "generic".
 */
#ifndef FEDALIGN_ISA_H
#define FEDALIGN_ISA_H

#include <stdbool.h>
#include <stddef.h>

#include "fedalign/opttab.h"

/* the values of --isa; FA_ISA_AUTO resolves to FEDALIGN_ISA when set, else the fastest
 * path this CPU and build have */
typedef enum { FA_ISA_AUTO = 0, FA_ISA_SSE2 = 1, FA_ISA_AVX2 = 2, FA_ISA_AVX512 = 3 } FaIsa;
#define FA_ISA_COUNT 4

/* names of --isa (auto, sse2, avx2, avx512) for the option tables */
extern const FaEnum fa_enum_isa;

/* "sse2", "avx2", "avx512" ("generic" for the portable path off x86), "auto" */
const char *isa_name(FaIsa isa);

/* true when this build carries the path and this CPU can run it (auto: always) */
bool isa_available(FaIsa isa);

/* The paths that can run here, "sse2, avx2, avx512", for messages and the banner. */
void isa_list_available(char *buf, size_t cap);

/* Resolve want (auto: FEDALIGN_ISA, else the best available) to a path this process can
 * run. Returns the path, or FA_ISA_AUTO with one message in err (an unknown FEDALIGN_ISA
 * value, or a path the CPU or build lacks). Local; selects nothing. */
FaIsa isa_resolve(FaIsa want, char *err, size_t errlen);

/* Make `path` (not auto; isa_available) the path of every later kernel call. Meant to run
 * once at start, before any kernel runs or threads start; tests may switch between calls. */
void isa_use(FaIsa path);

/* Collective over MPI_COMM_WORLD: isa_resolve(want) on every rank and isa_use of the
 * result; when any rank cannot run it, every rank ends through fa_fail (exit code 2) with
 * one message. Commands call it once after parsing their options. */
void isa_start(FaIsa want);

/* The path the kernels run on; the first call without an isa_use resolves auto (an
 * invalid FEDALIGN_ISA then ends the process through fa_fail, exit code 2). */
FaIsa isa_current(void);

#endif
