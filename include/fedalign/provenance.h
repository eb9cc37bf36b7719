/*
 * provenance.h: what built and ran this binary (compiler, flags, ISA, library versions,
 * CPU, git state), filled once and listed by one visitor, so the banner and the root
 * attributes of every results and bench file show the same keys. Where the ranks ran
 * (nodes, ranks per node, host names, binding and Slurm variables) is comm_placement().
 */
#ifndef FEDALIGN_PROVENANCE_H
#define FEDALIGN_PROVENANCE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    char compiler[96];       /* CMake's compiler id and version, e.g. "GNU 12.2.0" */
    char c_flags[768];       /* the library's compile flags (build type, warnings, -march) */
    char build_type[24];     /* CMAKE_BUILD_TYPE */
    char build_isa[16];      /* vector ISA the library was compiled for: sse2, avx2, ... */
    char isa_path[16];       /* ISA path the kernels ran on (isa.h): sse2, avx2, avx512 */
    char openmp_version[32]; /* _OPENMP and the specification it names, "201511 (4.5)" */
    char mpi_library[256];   /* first line of MPI_Get_library_version */
    char hdf5_version[32];   /* the HDF5 library linked at run time */
    char cpu_model[128];     /* /proc/cpuinfo "model name" of this process's host */
    char git_describe[96];   /* git describe --always --dirty --tags at configure time */
    int git_dirty;           /* 1: uncommitted changes at configure time, 0: clean, -1: no git */
} Provenance;

/* This process's provenance, filled on the first call (local; no MPI collective). Rank
 * 0's is the one printed and stored. */
const Provenance *provenance(void);

/* Every provenance value in a fixed order as (key, text, ival): ival is NULL for text
 * values and points at the value for integers (git_dirty). The keys are the attribute
 * names in results and bench files. */
typedef void (*ProvenanceVisitor)(void *ctx, const char *key, const char *text,
                                  const int64_t *ival);
void provenance_visit(ProvenanceVisitor fn, void *ctx);

/* "# key value | key value" lines of at most ~100 columns (the banner's build block). */
void provenance_print(FILE *out);

#endif
