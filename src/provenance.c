/*
 * provenance.c: the build and host facts of provenance.h. Build facts come from CMake
 * (compile definitions on this file only, so a flag change rebuilds one object) and from
 * the compiler's own macros; library versions from comm.c (MPI) and store.c (HDF5), the
 * only files that may call those libraries.
 */
#include "fedalign/provenance.h"

#include <stdlib.h>
#include <string.h>

#include "fedalign/comm.h"
#include "fedalign/isa.h"
#include "fedalign/store.h"

#ifndef FEDALIGN_COMPILER
#define FEDALIGN_COMPILER "unknown"
#endif
#ifndef FEDALIGN_C_FLAGS
#define FEDALIGN_C_FLAGS "unknown"
#endif
#ifndef FEDALIGN_BUILD_TYPE
#define FEDALIGN_BUILD_TYPE "unknown"
#endif
#ifndef FEDALIGN_GIT_DIRTY
#define FEDALIGN_GIT_DIRTY -1
#endif
#ifndef FEDALIGN_GIT
#define FEDALIGN_GIT "unknown"
#endif

/* the widest vector ISA the compiler was allowed to use for this library */
static const char *build_isa(void) {
#if defined(__AVX512F__)
    return "avx512f";
#elif defined(__AVX2__)
    return "avx2";
#elif defined(__AVX__)
    return "avx";
#elif defined(__SSE2__)
    return "sse2";
#elif defined(__ARM_NEON)
    return "neon";
#else
    return "scalar";
#endif
}

/* _OPENMP is the date of the specification the compiler implements */
static void openmp_version(char *buf, size_t cap) {
#ifdef _OPENMP
    static const struct {
        long date;
        const char *spec;
    } specs[] = {{200505, "2.5"}, {200805, "3.0"}, {201107, "3.1"}, {201307, "4.0"},
                 {201511, "4.5"}, {201811, "5.0"}, {202011, "5.1"}, {202111, "5.2"}};
    const char *spec = "?";
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        if (specs[i].date == (long)_OPENMP) spec = specs[i].spec;
    snprintf(buf, cap, "%ld (%s)", (long)_OPENMP, spec);
#else
    snprintf(buf, cap, "none");
#endif
}

static void cpu_model(char *out, size_t cap) {
    snprintf(out, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            const char *p = strchr(line, ':');
            if (!p) break;
            p++;
            while (*p == ' ' || *p == '\t') p++;
            snprintf(out, cap, "%s", p);
            out[strcspn(out, "\n")] = '\0';
            break;
        }
    fclose(f);
}

const Provenance *provenance(void) {
    static Provenance p;
    static bool done = false;
    /* read on every call: the path is chosen after start-up (isa_start) */
    snprintf(p.isa_path, sizeof p.isa_path, "%s", isa_name(isa_current()));
    if (done) return &p;
    snprintf(p.compiler, sizeof p.compiler, "%s", FEDALIGN_COMPILER);
    snprintf(p.c_flags, sizeof p.c_flags, "%s", FEDALIGN_C_FLAGS);
    snprintf(p.build_type, sizeof p.build_type, "%s", FEDALIGN_BUILD_TYPE);
    snprintf(p.build_isa, sizeof p.build_isa, "%s", build_isa());
    openmp_version(p.openmp_version, sizeof p.openmp_version);
    comm_library_version(p.mpi_library, sizeof p.mpi_library);
    store_hdf5_version(p.hdf5_version, sizeof p.hdf5_version);
    cpu_model(p.cpu_model, sizeof p.cpu_model);
    snprintf(p.git_describe, sizeof p.git_describe, "%s", FEDALIGN_GIT);
    p.git_dirty = FEDALIGN_GIT_DIRTY;
    done = true;
    return &p;
}

void provenance_visit(ProvenanceVisitor fn, void *ctx) {
    const Provenance *p = provenance();
    const struct {
        const char *key, *text;
    } t[] = {{"compiler", p->compiler},
             {"c_flags", p->c_flags},
             {"build_type", p->build_type},
             {"build_isa", p->build_isa},
             {"isa_path", p->isa_path},
             {"openmp_version", p->openmp_version},
             {"mpi_library", p->mpi_library},
             {"hdf5_version", p->hdf5_version},
             {"cpu_model", p->cpu_model},
             {"git_describe", p->git_describe}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) fn(ctx, t[i].key, t[i].text, NULL);
    const int64_t dirty = p->git_dirty;
    fn(ctx, "git_dirty", NULL, &dirty);
}

typedef struct {
    FILE *out;
    size_t col; /* columns used on the current line, 0 = nothing printed yet */
} PrintCtx;

static void print_item(void *ctx, const char *key, const char *text, const int64_t *ival) {
    PrintCtx *pc = ctx;
    char val[1024];
    if (ival) snprintf(val, sizeof val, "%lld", (long long)*ival);
    else snprintf(val, sizeof val, "%s", text);
    size_t w = strlen(key) + 1 + strlen(val);
    if (pc->col && pc->col + 3 + w > 100) {
        fputc('\n', pc->out);
        pc->col = 0;
    }
    pc->col += (size_t)fprintf(pc->out, "%s%s %s", pc->col ? " | " : "# ", key, val);
}

void provenance_print(FILE *out) {
    PrintCtx pc = {out, 0};
    provenance_visit(print_item, &pc);
    if (pc.col) fputc('\n', out);
}
