/*
 * check.h: fatal-by-default error handling shared by every module.
 *
 * die() prints "fedalign: rank R: file:line: message" to stderr and takes every
 * rank down (MPI_Abort when MPI is up, exit(1) otherwise). It is defined in
 * comm.c so that this header does not need mpi.h. Input errors that every rank
 * detects identically (bad flags, a bad CSV read by all ranks) should use
 * fa_fail() instead, which exits cleanly with a code and one message on rank 0.
 * assert() is kept for proven internal invariants only.
 */
#ifndef FEDALIGN_CHECK_H
#define FEDALIGN_CHECK_H

#include <stddef.h>

#define FA_PI 3.14159265358979323846

/* exit codes (documented in README.md) */
#define FA_EXIT_OK 0
#define FA_EXIT_FAIL 1  /* runtime failure, internal error, verification INVALID */
#define FA_EXIT_USAGE 2 /* bad input: flags, config, files, rank counts */

#if defined(__GNUC__)
#define FA_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define FA_NORETURN __attribute__((noreturn))
#else
#define FA_PRINTF(a, b)
#define FA_NORETURN
#endif

/* Abort all ranks with a located message. Safe to call from any rank. */
FA_NORETURN void die(const char *file, int line, const char *fmt, ...) FA_PRINTF(3, 4);

/* Input error seen identically on every rank: rank 0 prints "fedalign: error: msg",
 * every rank finalizes MPI and exits with FA_EXIT_USAGE. Must be called by all ranks. */
FA_NORETURN void fa_fail(const char *fmt, ...) FA_PRINTF(1, 2);

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) die(__FILE__, __LINE__, __VA_ARGS__);                                         \
    } while (0)

void *fa_xmalloc(size_t bytes, const char *file, int line);
void *fa_xcalloc(size_t n, size_t size, const char *file, int line);
/* 64-byte aligned allocation, size rounded up; free with free() */
void *fa_xalloc_aligned(size_t bytes, const char *file, int line);
#define xmalloc(b) fa_xmalloc((b), __FILE__, __LINE__)
#define xcalloc(n, s) fa_xcalloc((n), (s), __FILE__, __LINE__)
#define xalloc_aligned(b) fa_xalloc_aligned((b), __FILE__, __LINE__)

#endif
