/*
 * fa_fuzz_shim.c: die() and fa_fail() for the fuzz harnesses.
 *
 * The library defines both in comm.c because they take MPI down; the fuzzers link
 * only the MPI-free sources they exercise (csv.c, config.c, check.c), so these
 * stand-ins print the message and abort(). libFuzzer reports an abort as a crash:
 * csv_load() and config_parse()/config_validate() must report bad input through
 * their return value and never reach either function (die() is only for running
 * out of memory, which the fuzzers' input size limit rules out).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "fedalign/check.h"

void die(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fedalign (fuzz shim): die() at %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

void fa_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fedalign (fuzz shim): fa_fail() reached: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}
