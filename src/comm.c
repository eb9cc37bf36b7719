/*
 * comm.c: the only file that calls MPI (see comm.h).
 * TODO(helper): complete; die()/fa_fail() are needed by every module now.
 */
#include "fedalign/comm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <mpi.h>

#include "fedalign/check.h"

bool comm_is_initialized(void) {
    int flag = 0, fin = 0;
    MPI_Initialized(&flag);
    MPI_Finalized(&fin);
    return flag && !fin;
}

int comm_rank(void) {
    int r = 0;
    if (comm_is_initialized()) MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int comm_size(void) {
    int s = 1;
    if (comm_is_initialized()) MPI_Comm_size(MPI_COMM_WORLD, &s);
    return s;
}

void die(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "fedalign: rank %d: %s:%d: ", comm_rank(), file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    if (comm_is_initialized()) MPI_Abort(MPI_COMM_WORLD, FA_EXIT_FAIL);
    exit(FA_EXIT_FAIL);
}

void fa_fail(const char *fmt, ...) {
    if (comm_rank() == 0) {
        va_list ap;
        fprintf(stderr, "fedalign: error: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        fflush(stderr);
    }
    if (comm_is_initialized()) MPI_Finalize();
    exit(FA_EXIT_USAGE);
}
