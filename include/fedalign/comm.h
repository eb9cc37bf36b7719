/*
 * comm.h: the only module that talks MPI.
 *
 * Everything here is collective over MPI_COMM_WORLD unless marked otherwise.
 * Only the master thread calls these (MPI_THREAD_FUNNELED); no OpenMP region
 * ever calls into comm. Counts are size_t; large messages are split internally
 * so that no MPI count overflows int.
 */
#ifndef FEDALIGN_COMM_H
#define FEDALIGN_COMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedalign/check.h"
#include "fedalign/timer.h"

/* MPI_Init_thread(FUNNELED) and a check of the provided level. */
void comm_init(int *argc, char ***argv);
/* MPI_Finalize if initialized (idempotent). */
void comm_finalize(void);
bool comm_is_initialized(void); /* local */
int comm_rank(void);            /* local; 0 before init */
int comm_size(void);            /* local; 1 before init */
void comm_barrier(void);

/* A barrier with a watchdog (--watchdog SECONDS): every rank reports to rank 0 and waits
 * for its go. Rank 0 waits at most `seconds` for the reports; when a rank is silent (frozen,
 * stopped, on a dead node, on a stuck file system) it prints one message naming the silent
 * rank(s) and `where`, and takes the job down with FA_EXIT_FAIL; a rank that gets no go
 * within 2 x seconds + 10 s does the same naming rank 0. The last checkpoint written stays
 * usable. seconds <= 0 or one rank: a plain barrier. Collective. */
void comm_watch_barrier(double seconds, const char *where);

/* Take every rank down with exit code `code` (local; does not return). */
void comm_abort(int code);
/* A failure every rank has agreed on: rank 0 prints "fedalign: error: <msg>", every rank
 * finalizes MPI and exits with `code` (collective; does not return). */
FA_NORETURN void comm_fail_code(int code, const char *fmt, ...) FA_PRINTF(2, 3);
/* fn runs first in fa_fail and comm_fail_code on every rank (local; NULL = none) */
void comm_set_fail_hook(void (*fn)(void));

void comm_bcast_floats(float *buf, size_t n, int root);
void comm_bcast_doubles(double *buf, size_t n, int root);
void comm_bcast_bytes(void *buf, size_t n, int root);

/* Exact int64 sums (MPI_INT64_T, MPI_SUM). Before reducing, every rank checks that
 * |buf[i]| <= INT64_MAX / size, so the total cannot overflow; if any rank fails the
 * check all ranks die with one message. */
void comm_allreduce_sum_i64(int64_t *buf, size_t n);
void comm_reduce_sum_i64(int64_t *buf, size_t n, int root);
/* Element-wise uint64 sums (MPI_UINT64_T, MPI_SUM) that wrap modulo 2^64: exact and
 * independent of the summation order, for checksums combined over clients whatever
 * rank holds them (store_write.c, st_clients_checksum). No overflow check: wrapping is
 * the point. */
void comm_allreduce_sum_u64(uint64_t *buf, size_t n);

/* Element-wise max / min / sum of doubles (not exact; for timers and diagnostics). */
void comm_allreduce_max_double(double *buf, size_t n);
void comm_allreduce_min_double(double *buf, size_t n);
void comm_allreduce_sum_double(double *buf, size_t n);
/* Element-wise float sum (MPI_FLOAT, MPI_SUM), in MPI's order: not exact, not
 * reproducible. For benchmarks only (the bare Allreduce of `fedalign bench aggregate`). */
void comm_allreduce_sum_float(float *buf, size_t n);

/* true on every rank iff `local` is true on every rank / on any rank */
bool comm_all(bool local);
bool comm_any(bool local);

/* Point to point, used by the phase-1 token ring. Not collective. */
void comm_send_floats(const float *buf, size_t n, int dest, int tag);
void comm_recv_floats(float *buf, size_t n, int src, int tag);

/* Gather doubles to root, rank 0's first, then rank 1's, ...: global client order for a
 * block distribution; feddata_gather_doubles reorders for any assignment. all (the sum
 * of the counts) is needed on root only. */
void comm_gatherv_doubles(const double *local, size_t n_local, double *all, int root);
/* The same for floats: the robust methods gather every accepted client update (P floats
 * each, n_local = this rank's accepted updates x P) to rank 0 in client order, exactly
 * (no arithmetic on the way). O(C x P) on root: docs/performance.md. */
void comm_gatherv_floats(const float *local, size_t n_local, float *all, int root);

/* Per-phase timer statistics over ranks: min/avg/max of t->acc, and the phase's
 * span max(last) - min(first) (the ring's honest wall time). Arrays of FA_T_COUNT. */
void comm_reduce_timers(const Timers *t, double *tmin, double *tavg, double *tmax, double *span);

/* Block distribution of n_items over the ranks: first item and count of rank r. */
void comm_block(size_t n_items, int rank, int size, size_t *first, size_t *count);
/* Balanced distribution (--assign balanced): owner[t] in [0, size) for every item, by
 * greedy longest-processing-time on weight[t] (heaviest first, ties by lower t; each to
 * the least-loaded rank, ties by lower rank). A function of its arguments only, so every
 * rank computes the same map. Local. */
void comm_balanced(size_t n_items, const uint64_t *weight, int size, int32_t *owner);

/* Where the job ran, for scaling studies (results file root attributes, banner). The
 * environment variables it records, in order (rank 0's values, "" when unset). */
#define FA_PLACE_ENV 6
extern const char *const comm_place_env_names[FA_PLACE_ENV];
typedef struct {
    int nodes;          /* distinct host names (MPI_Get_processor_name) */
    int ranks_per_node; /* the most ranks on one host */
    char hosts[16384];  /* the distinct host names, sorted, comma-separated ("...,+N more"
                         * when they do not fit) */
    char env[FA_PLACE_ENV][128];
} CommPlacement;
/* The placement, the same on every rank. Gathered once by comm_init (collective there);
 * this call is local. Before comm_init: this process alone. */
const CommPlacement *comm_placement(void);

/* The first line of MPI_Get_library_version (e.g. "Open MPI v4.1.4, package: ...") into
 * buf[cap], for the provenance block (local; valid before MPI_Init too). */
void comm_library_version(char *buf, size_t cap);

#endif
