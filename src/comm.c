/*
 * comm.c: the only file that calls MPI (see comm.h).
 *
 * Every MPI call goes through MPI_CHECK, which reports the failing call and its
 * file:line through die(); MPI_COMM_WORLD is switched to MPI_ERRORS_RETURN so
 * that those checks, not Open MPI's default handler, see the error.
 * MPI counts are int: every bulk operation walks its buffer in chunks of at most
 * FA_COMM_CHUNK elements. We chunk rather than commit MPI_Type_contiguous types
 * because predefined reduction ops (MPI_SUM on MPI_INT64_T) are only defined on
 * predefined datatypes; one mechanism for every call keeps it simple, and below
 * 2^30 elements it is exactly one call.
 * Only the master thread calls in here (MPI_THREAD_FUNNELED).
 */
#include "fedalign/comm.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include "fedalign/check.h"

// ----------------------------------------------------------------------------
// error handling

/* Largest element count per MPI call: a power of two safely below INT_MAX. */
#define FA_COMM_CHUNK ((size_t)1 << 30)

/* Tag reserved for the point-to-point fallback of the gathers (comm_gatherv_*). */
#define FA_TAG_GATHER 32001

FA_NORETURN static void comm_die_mpi(int rc, const char *call, const char *file, int line) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) {
        snprintf(msg, sizeof msg, "MPI error code %d", rc);
    }
    die(file, line, "MPI call failed: %s: %s", call, msg);
}

#define MPI_CHECK(call)                                                                            \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != MPI_SUCCESS) comm_die_mpi(rc_, #call, __FILE__, __LINE__);                      \
    } while (0)

/* Collectives need MPI: calling them before comm_init is a programming error, and
 * silently acting as one rank would hide it under `mpiexec -n 4` (four independent
 * single-rank runs). */
#define NEED_INIT()                                                                                \
    CHECK(comm_is_initialized(), "%s called before comm_init (or after comm_finalize)", __func__)

static size_t chunk_len(size_t n, size_t off) {
    size_t left = n - off;
    return left < FA_COMM_CHUNK ? left : FA_COMM_CHUNK;
}

// ----------------------------------------------------------------------------
// lifetime

/* Local CLOCK_MONOTONIC reading taken right after a barrier in comm_init. Monotonic
 * clocks of different nodes have unrelated epochs; subtracting this per-rank origin
 * makes first/last times comparable across nodes up to the barrier's exit skew
 * (microseconds), which is what the ring span in comm_reduce_timers needs. */
static double comm_t0 = 0.0;

/* local: these three work before comm_init and after comm_finalize */
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

// ----------------------------------------------------------------------------
// placement: which hosts the ranks run on (provenance for scaling studies)

/* the launch settings a scaling study must know: binding, and the Slurm job it belongs to */
const char *const comm_place_env_names[FA_PLACE_ENV] = {
    "OMP_PLACES",         "OMP_PROC_BIND",       "SLURM_JOB_ID",
    "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_NUM_NODES"};

static CommPlacement g_place;
static bool g_place_done = false;

static int cmp_host(const void *a, const void *b) {
    return strcmp((const char *)a, (const char *)b);
}

/* rank 0's view of the sorted host names all[0..n) of width w: distinct count, the most
 * ranks on one host, and the comma-separated list (cut with "+N more" at the cap) */
static void summarize_hosts(char *all, int n, size_t w, CommPlacement *p) {
    qsort(all, (size_t)n, w, cmp_host);
    size_t len = 0, cap = sizeof p->hosts;
    int run = 0, left = 0;
    p->nodes = 0;
    p->ranks_per_node = 0;
    p->hosts[0] = '\0';
    for (int i = 0; i < n; i++) {
        const char *h = all + (size_t)i * w;
        run = (i > 0 && strcmp(h, h - w) == 0) ? run + 1 : 1;
        if (run > p->ranks_per_node) p->ranks_per_node = run;
        if (run > 1) continue;
        p->nodes++;
        size_t hl = strlen(h);
        if (left == 0 && len + hl + 2 + 24 < cap) {
            len += (size_t)snprintf(p->hosts + len, cap - len, "%s%s", len ? "," : "", h);
        } else {
            left++;
        }
    }
    if (left) snprintf(p->hosts + len, cap - len, ",+%d more", left);
}

static void read_env(CommPlacement *p) {
    for (int i = 0; i < FA_PLACE_ENV; i++) {
        const char *v = getenv(comm_place_env_names[i]);
        snprintf(p->env[i], sizeof p->env[i], "%s", v ? v : "");
    }
}

/* collective: host names gathered to rank 0 (MPI_Get_processor_name is the host name
 * under Open MPI), summarized there, and broadcast with rank 0's environment */
static void gather_placement(void) {
    const size_t w = MPI_MAX_PROCESSOR_NAME;
    char mine[MPI_MAX_PROCESSOR_NAME];
    int len = 0, rank = comm_rank(), size = comm_size();
    memset(mine, 0, sizeof mine);
    MPI_CHECK(MPI_Get_processor_name(mine, &len));
    char *all = rank == 0 ? xcalloc((size_t)size, w) : NULL;
    MPI_CHECK(MPI_Gather(mine, (int)w, MPI_CHAR, all, (int)w, MPI_CHAR, 0, MPI_COMM_WORLD));
    memset(&g_place, 0, sizeof g_place);
    if (rank == 0) {
        summarize_hosts(all, size, w, &g_place);
        read_env(&g_place);
    }
    free(all);
    MPI_CHECK(MPI_Bcast(&g_place, (int)sizeof g_place, MPI_BYTE, 0, MPI_COMM_WORLD));
    g_place_done = true;
}

/* local */
const CommPlacement *comm_placement(void) {
    if (!g_place_done && !comm_is_initialized()) { /* a tool without MPI: this process */
        char *one = xcalloc(1, MPI_MAX_PROCESSOR_NAME);
        if (gethostname(one, MPI_MAX_PROCESSOR_NAME - 1) != 0) snprintf(one, 8, "unknown");
        summarize_hosts(one, 1, MPI_MAX_PROCESSOR_NAME, &g_place);
        read_env(&g_place);
        free(one);
    }
    return &g_place;
}

/* local */
void comm_library_version(char *buf, size_t cap) {
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (MPI_Get_library_version(v, &len) != MPI_SUCCESS) len = 0;
    v[len < (int)sizeof v ? len : (int)sizeof v - 1] = '\0';
    v[strcspn(v, "\n")] = '\0'; /* the later lines are build details (repo rev, date) */
    snprintf(buf, cap, "%s", v[0] ? v : "unknown");
}

/* collective over MPI_COMM_WORLD */
void comm_init(int *argc, char ***argv) {
    int provided = 0;
    int flag = 0;
    MPI_Initialized(&flag);
    if (flag) {
        /* someone (a test harness, a library) initialized MPI already: accept it if the
         * thread level is enough, like a second comm_init call */
        MPI_CHECK(MPI_Query_thread(&provided));
    } else {
        /* default handler is still ERRORS_ARE_FATAL here, so check by hand */
        int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) {
            fprintf(stderr, "fedalign: MPI_Init_thread failed (code %d)\n", rc);
            exit(FA_EXIT_FAIL);
        }
    }
    /* LULESH: OpenMP threads compute, only the master thread talks. SimGrid's SMPI
     * reports MPI_THREAD_SINGLE; its build has no OpenMP (one thread per simulated rank,
     * cmake/smpi.cmake), and SINGLE is all one thread needs. */
#ifdef FEDALIGN_SMPI
    const int need = MPI_THREAD_SINGLE;
#else
    const int need = MPI_THREAD_FUNNELED;
#endif
    CHECK(provided >= need, "MPI provides thread level %d, fedalign needs %d", provided, need);
    MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
    comm_t0 = timer_now();
    gather_placement();
}

/* collective over MPI_COMM_WORLD (when initialized) */
void comm_finalize(void) {
    if (comm_is_initialized()) MPI_Finalize();
}

/* collective over MPI_COMM_WORLD */
void comm_barrier(void) {
    NEED_INIT();
    MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
}

/* Wait for the requests until done or `deadline` (MPI_Wtime); true when all completed.
 * Spins for the first 10 ms (rounds are often shorter), then sleeps 1 ms between tests so
 * that a waiting rank leaves its core to the others. */
static bool wait_until(int n, MPI_Request *rq, double deadline) {
    const double spin_end = MPI_Wtime() + 0.01;
    for (;;) {
        int done = 0;
        MPI_CHECK(MPI_Testall(n, rq, &done, MPI_STATUSES_IGNORE));
        if (done) return true;
        double now = MPI_Wtime();
        if (now > deadline) return false;
        /* a named timespec, not a compound literal: SMPI's nanosleep is a macro */
        const struct timespec ms = {0, 1000000};
        if (now > spin_end) nanosleep(&ms, NULL);
    }
}

#define FA_TAG_WATCH 29

void comm_watch_barrier(double seconds, const char *where) {
    NEED_INIT();
    int rank = comm_rank(), size = comm_size();
    if (!(seconds > 0.0) || size == 1) {
        comm_barrier();
        return;
    }
    /* allocated once per process (the round loop allocates nothing) */
    static char *flags = NULL;
    static MPI_Request *rq = NULL;
    if (!flags) {
        flags = xcalloc((size_t)size, 1);
        rq = xcalloc((size_t)size, sizeof(MPI_Request));
    }
    char one = 1;
    if (rank == 0) {
        for (int r = 1; r < size; r++)
            MPI_CHECK(
                MPI_Irecv(&flags[r], 1, MPI_CHAR, r, FA_TAG_WATCH, MPI_COMM_WORLD, &rq[r - 1]));
        if (!wait_until(size - 1, rq, MPI_Wtime() + seconds)) {
            char list[256] = "";
            size_t len = 0, silent = 0;
            for (int r = 1; r < size; r++) {
                int got = 0;
                MPI_CHECK(MPI_Test(&rq[r - 1], &got, MPI_STATUS_IGNORE));
                if (got) continue;
                silent++;
                if (len < sizeof list - 16)
                    len +=
                        (size_t)snprintf(list + len, sizeof list - len, "%s%d", len ? ", " : "", r);
            }
            fprintf(
                stderr,
                "fedalign: error: watchdog: rank(s) %s (%zu of %d) did not reach %s within %g s "
                "(frozen, stopped, a dead node or a stuck file system); ending the job. The last "
                "checkpoint stays usable (--resume); raise --watchdog if ranks are legitimately "
                "this far apart\n",
                list, silent, size, where, seconds);
            comm_abort(FA_EXIT_FAIL);
        }
        for (int r = 1; r < size; r++)
            MPI_CHECK(MPI_Isend(&one, 1, MPI_CHAR, r, FA_TAG_WATCH, MPI_COMM_WORLD, &rq[r - 1]));
        MPI_CHECK(MPI_Waitall(size - 1, rq, MPI_STATUSES_IGNORE)); /* 1 byte: eager, local */
    } else {
        MPI_CHECK(MPI_Send(&one, 1, MPI_CHAR, 0, FA_TAG_WATCH, MPI_COMM_WORLD));
        MPI_CHECK(MPI_Irecv(&flags[0], 1, MPI_CHAR, 0, FA_TAG_WATCH, MPI_COMM_WORLD, &rq[0]));
        /* rank 0 may legitimately wait `seconds` for the slowest rank before the go */
        if (!wait_until(1, rq, MPI_Wtime() + 2.0 * seconds + 10.0)) {
            fprintf(stderr,
                    "fedalign: error: watchdog: rank %d got no word from rank 0 at %s within %g s "
                    "(rank 0 frozen, stopped or dead); ending the job. The last checkpoint stays "
                    "usable (--resume)\n",
                    rank, where, 2.0 * seconds + 10.0);
            comm_abort(FA_EXIT_FAIL);
        }
    }
}

/* local */
void comm_abort(int code) {
    fflush(stdout);
    fflush(stderr);
    if (comm_is_initialized()) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

/* local: any rank may call it; the first MPI_Abort takes every rank down */
void die(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "fedalign: rank %d: %s:%d: ", comm_rank(), file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    if (comm_is_initialized()) MPI_Abort(MPI_COMM_WORLD, FA_EXIT_FAIL);
    exit(FA_EXIT_FAIL);
}

/* Called by fa_fail and comm_fail_code before the ranks leave: mpiexec kills the job at
 * the first non-zero exit, so atexit handlers of rank 0 may never run (store.c removes
 * its output lock here). */
static void (*g_fail_hook)(void) = NULL;

/* local */
void comm_set_fail_hook(void (*fn)(void)) { g_fail_hook = fn; }

/* The one message of an agreed failure (rank 0 prints "fedalign: error: ..."), then every
 * rank leaves with `code`. The message is out before any rank exits: mpiexec kills the
 * job at the first non-zero exit, and output still in flight from rank 0 could be lost. */
FA_NORETURN static void fail_all(int code, bool quiet_shutdown, const char *fmt, va_list ap) {
    if (g_fail_hook) g_fail_hook();
    fflush(stdout);
    if (comm_rank() == 0) {
        fprintf(stderr, "fedalign: error: ");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        fflush(stderr);
    }
    if (comm_is_initialized()) {
        MPI_Barrier(MPI_COMM_WORLD);
        /* the one message is out: library shutdown after a refused input (HDF5 closing a
         * damaged file at MPI_Finalize prints "infinite loop closing library") adds
         * nothing but noise */
        if (quiet_shutdown && !freopen("/dev/null", "w", stderr)) { /* keep stderr */
        }
        MPI_Finalize();
    }
    exit(code);
}

/* collective over MPI_COMM_WORLD: every rank saw the same input error */
void fa_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fail_all(FA_EXIT_USAGE, true, fmt, ap);
}

/* collective over MPI_COMM_WORLD: a failure every rank has agreed on (a verdict from
 * rank 0, an allreduce), reported like fa_fail but with the caller's exit code, e.g.
 * FA_EXIT_FAIL for a full disk */
void comm_fail_code(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fail_all(code, false, fmt, ap);
}

/* collective over MPI_COMM_WORLD: a runtime failure that every rank has agreed on
 * (e.g. through an allreduce of a flag). Rank 0 alone prints, in die()'s format, so
 * the message appears once; every rank then leaves cleanly with FA_EXIT_FAIL. We do
 * not MPI_Abort: that would add Open MPI's abort banner, and nobody is left behind. */
FA_NORETURN FA_PRINTF(3, 4) static void comm_fail_agreed(const char *file, int line,
                                                         const char *fmt, ...) {
    fflush(stdout);
    if (comm_rank() == 0) {
        va_list ap;
        fprintf(stderr, "fedalign: rank 0: %s:%d: ", file, line);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        fflush(stderr);
    }
    MPI_Finalize();
    exit(FA_EXIT_FAIL);
}

// ----------------------------------------------------------------------------
// broadcasts

static void bcast_chunked(void *buf, size_t n, size_t elem, MPI_Datatype type, int root) {
    NEED_INIT();
    char *p = buf;
    for (size_t off = 0; off < n; off += FA_COMM_CHUNK) {
        int c = (int)chunk_len(n, off);
        MPI_CHECK(MPI_Bcast(p + off * elem, c, type, root, MPI_COMM_WORLD));
    }
}

/* collective over MPI_COMM_WORLD */
void comm_bcast_floats(float *buf, size_t n, int root) {
    bcast_chunked(buf, n, sizeof(float), MPI_FLOAT, root);
}

/* collective over MPI_COMM_WORLD */
void comm_bcast_doubles(double *buf, size_t n, int root) {
    bcast_chunked(buf, n, sizeof(double), MPI_DOUBLE, root);
}

/* collective over MPI_COMM_WORLD */
void comm_bcast_bytes(void *buf, size_t n, int root) { bcast_chunked(buf, n, 1, MPI_BYTE, root); }

// ----------------------------------------------------------------------------
// exact int64 reductions

/* collective over MPI_COMM_WORLD. If every rank's |buf[i]| <= INT64_MAX / size,
 * no partial sum of at most `size` terms can overflow, whatever order MPI combines
 * them in. The check costs one extra allreduce of an int per call (latency only).
 * All ranks learn the lowest failing rank, which then tells rank 0 what failed. */
static void i64_precheck(const int64_t *buf, size_t n, const char *who) {
    int rank = comm_rank(), size = comm_size();
    int64_t limit = INT64_MAX / size;
    int64_t info[2] = {-1, 0}; /* first offending index, its value */
    for (size_t i = 0; i < n; i++) {
        if (buf[i] > limit || buf[i] < -limit) {
            info[0] = (int64_t)i;
            info[1] = buf[i];
            break;
        }
    }
    int bad_rank = info[0] >= 0 ? rank : size;
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &bad_rank, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
    if (bad_rank == size) return;
    MPI_CHECK(MPI_Bcast(info, 2, MPI_INT64_T, bad_rank, MPI_COMM_WORLD));
    comm_fail_agreed(__FILE__, __LINE__,
                     "%s: exact fixed-point sum could overflow int64: rank %d element %lld holds "
                     "%lld, beyond +-%lld (INT64_MAX / %d ranks); contributions are too large "
                     "for the fixed-point grid",
                     who, bad_rank, (long long)info[0], (long long)info[1], (long long)limit, size);
}

/* collective over MPI_COMM_WORLD; result on every rank */
void comm_allreduce_sum_i64(int64_t *buf, size_t n) {
    NEED_INIT();
    if (n == 0) return; /* every rank passes the same n */
    i64_precheck(buf, n, __func__);
    for (size_t off = 0; off < n; off += FA_COMM_CHUNK) {
        int c = (int)chunk_len(n, off);
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf + off, c, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
    }
}

/* collective over MPI_COMM_WORLD; result on root only, other ranks' buf unchanged */
void comm_reduce_sum_i64(int64_t *buf, size_t n, int root) {
    NEED_INIT();
    if (n == 0) return;
    i64_precheck(buf, n, __func__);
    bool is_root = comm_rank() == root;
    for (size_t off = 0; off < n; off += FA_COMM_CHUNK) {
        int c = (int)chunk_len(n, off);
        if (is_root) {
            MPI_CHECK(
                MPI_Reduce(MPI_IN_PLACE, buf + off, c, MPI_INT64_T, MPI_SUM, root, MPI_COMM_WORLD));
        } else {
            MPI_CHECK(MPI_Reduce(buf + off, NULL, c, MPI_INT64_T, MPI_SUM, root, MPI_COMM_WORLD));
        }
    }
}

/* collective over MPI_COMM_WORLD; result on every rank. Unsigned addition wraps, so the
 * sum is the same in any order (no precheck: the wrap is wanted) */
void comm_allreduce_sum_u64(uint64_t *buf, size_t n) {
    NEED_INIT();
    if (n == 0) return; /* every rank passes the same n */
    for (size_t off = 0; off < n; off += FA_COMM_CHUNK) {
        int c = (int)chunk_len(n, off);
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf + off, c, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD));
    }
}

// ----------------------------------------------------------------------------
// double and boolean reductions (not exact; timers, diagnostics, agreement)

static void allreduce_doubles(double *buf, size_t n, MPI_Op op) {
    NEED_INIT();
    for (size_t off = 0; off < n; off += FA_COMM_CHUNK) {
        int c = (int)chunk_len(n, off);
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf + off, c, MPI_DOUBLE, op, MPI_COMM_WORLD));
    }
}

/* collective over MPI_COMM_WORLD */
void comm_allreduce_max_double(double *buf, size_t n) { allreduce_doubles(buf, n, MPI_MAX); }
/* collective over MPI_COMM_WORLD */
void comm_allreduce_min_double(double *buf, size_t n) { allreduce_doubles(buf, n, MPI_MIN); }
/* collective over MPI_COMM_WORLD; the summation order is MPI's, so not reproducible */
void comm_allreduce_sum_double(double *buf, size_t n) { allreduce_doubles(buf, n, MPI_SUM); }

/* collective over MPI_COMM_WORLD; MPI's summation order, so not reproducible: only
 * `fedalign bench aggregate` uses it, as the bare Allreduce of P floats that the
 * exact int64 aggregation is compared against. */
void comm_allreduce_sum_float(float *buf, size_t n) {
    NEED_INIT();
    for (size_t off = 0; off < n; off += FA_COMM_CHUNK) {
        int c = (int)chunk_len(n, off);
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf + off, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
    }
}

/* collective over MPI_COMM_WORLD */
bool comm_all(bool local) {
    NEED_INIT();
    int v = local ? 1 : 0;
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD));
    return v != 0;
}

/* collective over MPI_COMM_WORLD */
bool comm_any(bool local) {
    NEED_INIT();
    int v = local ? 1 : 0;
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD));
    return v != 0;
}

// ----------------------------------------------------------------------------
// point to point (phase-1 token ring)

/* not collective. Chunks of one logical message share a tag; MPI's non-overtaking
 * rule for one (source, tag, communicator) keeps them in order. */
void comm_send_floats(const float *buf, size_t n, int dest, int tag) {
    NEED_INIT();
    if (n == 0) { /* still one (empty) message, so that the matching receive completes */
        MPI_CHECK(MPI_Send(buf, 0, MPI_FLOAT, dest, tag, MPI_COMM_WORLD));
        return;
    }
    for (size_t off = 0; off < n; off += FA_COMM_CHUNK) {
        int c = (int)chunk_len(n, off);
        MPI_CHECK(MPI_Send(buf + off, c, MPI_FLOAT, dest, tag, MPI_COMM_WORLD));
    }
}

/* not collective. The sender must send exactly n floats: a longer message fails as
 * MPI_ERR_TRUNCATE, a shorter one is caught by the count check. */
void comm_recv_floats(float *buf, size_t n, int src, int tag) {
    NEED_INIT();
    size_t off = 0;
    do { /* at least one receive: n == 0 matches the sender's empty message */
        int c = (int)(n == 0 ? 0 : chunk_len(n, off));
        MPI_Status st;
        int got = 0;
        MPI_CHECK(MPI_Recv(n == 0 ? buf : buf + off, c, MPI_FLOAT, src, tag, MPI_COMM_WORLD, &st));
        MPI_CHECK(MPI_Get_count(&st, MPI_FLOAT, &got));
        CHECK(got == c, "comm_recv_floats: expected %d floats from rank %d (tag %d), got %d", c,
              src, tag, got);
        off += FA_COMM_CHUNK;
    } while (off < n);
}

// ----------------------------------------------------------------------------
// gathers in global client order (per-client scalars; the robust methods' updates)

/* collective over MPI_COMM_WORLD. Counts are exchanged with an allgather (R values)
 * so every rank knows whether the total fits MPI_Gatherv's int counts and
 * displacements, and all take the same path. Above that (more than 2^31 elements:
 * 16 GiB of doubles or 8 GiB of floats on root) we fall back to chunked point-to-point
 * receives. Elements of `elem` bytes travel as MPI type `type`. */
static void gatherv_any(const void *local, size_t n_local, void *all, int root, MPI_Datatype type,
                        size_t elem) {
    NEED_INIT();
    int rank = comm_rank(), size = comm_size();
    uint64_t mine = (uint64_t)n_local;
    uint64_t *counts = xmalloc((size_t)size * sizeof *counts); /* (R) */
    MPI_CHECK(MPI_Allgather(&mine, 1, MPI_UINT64_T, counts, 1, MPI_UINT64_T, MPI_COMM_WORLD));
    uint64_t total = 0;
    for (int r = 0; r < size; r++) total += counts[r];

    if (total <= (uint64_t)INT_MAX) {
        int *icounts = NULL, *displs = NULL;
        if (rank == root) {
            icounts = xmalloc((size_t)size * sizeof *icounts);
            displs = xmalloc((size_t)size * sizeof *displs);
            int d = 0;
            for (int r = 0; r < size; r++) {
                icounts[r] = (int)counts[r];
                displs[r] = d;
                d += icounts[r];
            }
        }
        MPI_CHECK(MPI_Gatherv(local, (int)n_local, type, all, icounts, displs, type, root,
                              MPI_COMM_WORLD));
        free(displs);
        free(icounts);
    } else if (rank == root) {
        size_t d = 0;
        for (int r = 0; r < size; r++) {
            size_t cnt = (size_t)counts[r];
            char *dst = (char *)all + d * elem;
            if (r == root) {
                if (cnt) memcpy(dst, local, cnt * elem);
            } else {
                for (size_t off = 0; off < cnt; off += FA_COMM_CHUNK) {
                    int c = (int)chunk_len(cnt, off);
                    MPI_CHECK(MPI_Recv(dst + off * elem, c, type, r, FA_TAG_GATHER, MPI_COMM_WORLD,
                                       MPI_STATUS_IGNORE));
                }
            }
            d += cnt;
        }
    } else {
        for (size_t off = 0; off < n_local; off += FA_COMM_CHUNK) {
            int c = (int)chunk_len(n_local, off);
            MPI_CHECK(MPI_Send((const char *)local + off * elem, c, type, root, FA_TAG_GATHER,
                               MPI_COMM_WORLD));
        }
    }
    free(counts);
}

void comm_gatherv_doubles(const double *local, size_t n_local, double *all, int root) {
    gatherv_any(local, n_local, all, root, MPI_DOUBLE, sizeof(double));
}

void comm_gatherv_floats(const float *local, size_t n_local, float *all, int root) {
    gatherv_any(local, n_local, all, root, MPI_FLOAT, sizeof(float));
}

// ----------------------------------------------------------------------------
// timers

/* collective over MPI_COMM_WORLD; results on every rank. Three allreduces of
 * 2 * FA_T_COUNT doubles at most. A phase that never started on a rank (first < 0)
 * contributes nothing to the span; a phase that ran nowhere gets span 0. */
void comm_reduce_timers(const Timers *t, double *tmin, double *tavg, double *tmax, double *span) {
    NEED_INIT();
    enum { K = FA_T_COUNT };
    double lo[2 * K], hi[2 * K], sum[K];
    for (int i = 0; i < K; i++) {
        bool ran = t->first[i] >= 0.0;
        lo[i] = t->acc[i];
        hi[i] = t->acc[i];
        sum[i] = t->acc[i];
        /* relative to the post-barrier origin (see comm_t0) */
        lo[K + i] = ran ? t->first[i] - comm_t0 : INFINITY;
        hi[K + i] = (ran && t->last[i] >= 0.0) ? t->last[i] - comm_t0 : -INFINITY;
    }
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, lo, 2 * K, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD));
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, hi, 2 * K, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, sum, K, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
    int size = comm_size();
    for (int i = 0; i < K; i++) {
        tmin[i] = lo[i];
        tmax[i] = hi[i];
        tavg[i] = sum[i] / size;
        double s = hi[K + i] - lo[K + i];
        /* inf - inf (ran nowhere) is NaN, and a rank may have started but never
         * stopped: report 0 rather than NaN or a negative span */
        span[i] = (isfinite(s) && s > 0.0) ? s : 0.0;
    }
}

// ----------------------------------------------------------------------------
// block distribution (local, no MPI)

/* first(r) = ceil(r * N / R), the smallest t with floor(t * R / N) >= r, so client t
 * lives on rank floor(t * R / N). r * N can overflow 64 bits for N near 1e12 and
 * large R, so split N = q * R + m (m < R): r * N / R = q * r + m * r / R, where
 * m * r < R^2 <= 2^62 fits. */
static size_t block_first(size_t n, size_t r, size_t size) {
    size_t q = n / size, m = n % size;
    return q * r + (m * r + size - 1) / size;
}

/* local */
void comm_block(size_t n_items, int rank, int size, size_t *first, size_t *count) {
    CHECK(size >= 1 && rank >= 0 && rank < size, "comm_block: rank %d outside [0, %d)", rank, size);
    size_t f = block_first(n_items, (size_t)rank, (size_t)size);
    size_t e = block_first(n_items, (size_t)rank + 1, (size_t)size);
    *first = f;
    *count = e - f;
}

// ----------------------------------------------------------------------------
// balanced assignment (local, no MPI)

/* heap order of ranks: least load first, ties to the lower rank (a deterministic order) */
static bool lpt_before(const uint64_t *load, int a, int b) {
    return load[a] < load[b] || (load[a] == load[b] && a < b);
}

static void lpt_sift_down(int *heap, int n, const uint64_t *load, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && lpt_before(load, heap[l], heap[m])) m = l;
        if (r < n && lpt_before(load, heap[r], heap[m])) m = r;
        if (m == i) return;
        int t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
}

typedef struct {
    uint64_t w;
    size_t id;
} LptItem;

/* heaviest first, ties by id, so the order is total and the same everywhere */
static int lpt_cmp(const void *pa, const void *pb) {
    const LptItem *a = pa, *b = pb;
    if (a->w != b->w) return a->w > b->w ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* local. Greedy longest-processing-time: items by decreasing weight go to the rank with
 * the least load so far. With weight >= 1 and n_items >= size the first `size` items go
 * to distinct ranks, so every rank gets at least one. O(n log n + n log size). */
void comm_balanced(size_t n_items, const uint64_t *weight, int size, int32_t *owner) {
    CHECK(size >= 1, "comm_balanced: %d ranks", size);
    LptItem *it = xmalloc((n_items ? n_items : 1) * sizeof *it);
    for (size_t t = 0; t < n_items; t++) it[t] = (LptItem){weight[t], t};
    qsort(it, n_items, sizeof *it, lpt_cmp);
    uint64_t *load = xcalloc((size_t)size, sizeof *load);
    int *heap = xmalloc((size_t)size * sizeof *heap);
    for (int r = 0; r < size; r++) heap[r] = r; /* all loads 0: already a heap in rank order */
    for (size_t k = 0; k < n_items; k++) {
        int r = heap[0];
        owner[it[k].id] = r;
        load[r] += it[k].w;
        lpt_sift_down(heap, size, load, 0);
    }
    free(heap);
    free(load);
    free(it);
}
