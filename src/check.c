/*
 * check.c: allocation wrappers that report the size and call site on failure.
 * die() and fa_fail() live in comm.c because they must take MPI down.
 */
#include "fedalign/check.h"

#include <stdlib.h>

void *fa_xmalloc(size_t bytes, const char *file, int line) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) die(file, line, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *fa_xcalloc(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) die(file, line, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *fa_xalloc_aligned(size_t bytes, const char *file, int line) {
    size_t rounded = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p) die(file, line, "out of memory allocating %zu aligned bytes", bytes);
    return p;
}
