/*
 * omp.h for the SMPI build (cmake/smpi.cmake): it is found before the compiler's own
 * <omp.h>, and the build has no -fopenmp. Each simulated rank runs one thread: the
 * pragmas are ignored and these report that one thread, so the code paths are the ones
 * a native run with OMP_NUM_THREADS=1 takes.
 */
#ifndef FEDALIGN_SMPI_OMP_H
#define FEDALIGN_SMPI_OMP_H

static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_threads(void) { return 1; }
static inline int omp_get_max_threads(void) { return 1; }
static inline void omp_set_num_threads(int n) { (void)n; }

#endif
