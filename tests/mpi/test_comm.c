/*
 * test_comm.c: the comm module under mpiexec -n 1..4 (plain C, no cmocka).
 *
 * The key check is the reproducibility contract: 1000 clients' vectors, spread over
 * the ranks by comm_block, summed in fixed point per rank and then with
 * comm_allreduce_sum_i64, must equal bit for bit the sum every rank computes
 * serially over all clients. Rank 0 prints `exact_sum_checksum=...`; the e2e script
 * test_exact_sum_ranks.sh asserts that line is the same at every -n.
 * Every failed check prints file:line and the rank; the exit code is the verdict,
 * agreed over all ranks.
 * `test_comm --overflow` instead provokes the int64 overflow pre-check, which must
 * take every rank down with a single message (also driven by the e2e script).
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/aggregate.h"
#include "fedalign/check.h"
#include "fedalign/comm.h"
#include "fedalign/rng.h"
#include "fedalign/timer.h"

static int failures = 0;

/* One fputs per failure, so lines from different ranks do not interleave mid-line;
 * after 20 failures a rank goes quiet (a broken comm_block would print thousands). */
FA_PRINTF(4, 5) static void fail_at(const char *file, int line, const char *cond,
                                    const char *fmt, ...) {
    if (++failures > 20) return;
    char msg[512];
    int k = snprintf(msg, sizeof msg, "%s:%d: rank %d: FAIL: %s: ", file, line, comm_rank(), cond);
    if (k < 0 || (size_t)k >= sizeof msg) k = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + k, sizeof msg - (size_t)k, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", msg);
}

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) fail_at(__FILE__, __LINE__, #cond, __VA_ARGS__);                              \
    } while (0)

// N = clients, P = parameters per client vector
#define N_CLIENTS 1000
#define P 257
#define SEED 20250811u

/* Client t's vector depends on t alone (rng keyed by client id), never on the rank. */
static void client_vector(size_t t, float *x) {
    Rng r;
    rng_init(&r, SEED, FA_RNG_TEST, t, 0, 0);
    double scale = ldexp(1.0, (int)(t % 7) - 4); /* mixed magnitudes */
    for (size_t i = 0; i < P; i++) x[i] = (float)(scale * rng_normal(&r));
}

static void sum_clients(int64_t *acc, size_t first, size_t count) {
    float x[P];
    for (size_t t = first; t < first + count; t++) {
        client_vector(t, x);
        /* weight varies with the client so weighted sums are exercised too */
        bool ok = fixed_accumulate(acc, x, 0.5 + (double)(t % 3), P);
        EXPECT(ok, "fixed_accumulate failed for client %zu", t);
    }
}

// ----------------------------------------------------------------------------

static void test_exact_sum(void) {
    int rank = comm_rank(), size = comm_size();
    size_t first, count;
    comm_block(N_CLIENTS, rank, size, &first, &count);

    int64_t dist[P] = {0}, serial[P] = {0};
    sum_clients(dist, first, count);
    comm_allreduce_sum_i64(dist, P);
    sum_clients(serial, 0, N_CLIENTS); /* every rank, all clients, in id order */
    EXPECT(memcmp(dist, serial, sizeof dist) == 0,
           "allreduced fixed-point sum differs from the serial sum");

    /* the global "model" a run would produce: mean of the weighted sum */
    float base[P], model[P];
    for (size_t i = 0; i < P; i++) base[i] = 0.0f;
    fixed_apply_update(model, base, dist, 1.0, (double)N_CLIENTS, P);
    uint64_t h = fa_checksum(model, P), h0 = h;
    comm_bcast_bytes(&h0, sizeof h0, 0);
    EXPECT(h == h0, "checksum %016" PRIx64 " differs from rank 0's %016" PRIx64, h, h0);
    if (rank == 0) printf("exact_sum_checksum=%016" PRIx64 "\n", h);

    /* the pre-check's edge: every rank holding exactly INT64_MAX / size is allowed */
    int64_t lim = INT64_MAX / size;
    int64_t edge[2] = {lim, -lim};
    comm_allreduce_sum_i64(edge, 2);
    EXPECT(edge[0] == lim * size && edge[1] == -lim * size, "edge sum %" PRId64, edge[0]);
}

static void test_reduce_root(void) {
    int rank = comm_rank(), size = comm_size();
    size_t first, count;
    comm_block(N_CLIENTS, rank, size, &first, &count);
    int64_t serial[P] = {0};
    sum_clients(serial, 0, N_CLIENTS);
    int roots[2] = {0, size - 1};
    for (int k = 0; k < 2; k++) {
        int64_t buf[P] = {0}, mine[P];
        sum_clients(buf, first, count);
        memcpy(mine, buf, sizeof buf);
        comm_reduce_sum_i64(buf, P, roots[k]);
        if (rank == roots[k])
            EXPECT(memcmp(buf, serial, sizeof buf) == 0, "reduce to root %d differs", roots[k]);
        else
            EXPECT(memcmp(buf, mine, sizeof buf) == 0, "non-root buffer changed");
    }
}

static void test_bcast(void) {
    int rank = comm_rank(), size = comm_size();
    int root = size - 1;
    enum { M = 100003 };
    float *f = xmalloc(M * sizeof *f);
    double d[5];
    char s[16];
    for (size_t i = 0; i < M; i++) f[i] = rank == root ? (float)i * 0.5f - 7.0f : -1.0f;
    for (int i = 0; i < 5; i++) d[i] = rank == root ? 1.0 / (i + 3) : 0.0;
    snprintf(s, sizeof s, "%s", rank == root ? "hello ranks" : "garbage");
    comm_bcast_floats(f, M, root);
    comm_bcast_doubles(d, 5, root);
    comm_bcast_bytes(s, sizeof s, root);
    comm_bcast_floats(f, 0, root); /* n = 0 is a no-op on every rank */
    size_t bad = 0;
    for (size_t i = 0; i < M; i++) bad += f[i] != (float)i * 0.5f - 7.0f;
    EXPECT(bad == 0, "%zu floats differ after bcast", bad);
    for (int i = 0; i < 5; i++) EXPECT(d[i] == 1.0 / (i + 3), "double %d = %g", i, d[i]);
    EXPECT(strcmp(s, "hello ranks") == 0, "bytes \"%s\"", s);
    free(f);
}

static void test_gatherv(void) {
    int rank = comm_rank(), size = comm_size();
    /* N = 2 leaves ranks without clients at -n 3/4 */
    const size_t ns[] = {N_CLIENTS, 2, 7, 1};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        size_t n = ns[k], first, count;
        comm_block(n, rank, size, &first, &count);
        double *local = xmalloc(count * sizeof *local);
        for (size_t j = 0; j < count; j++) local[j] = 1.5 * (double)(first + j) + 0.25;
        for (int root = 0; root < size; root += size > 1 ? size - 1 : 1) {
            double *all = rank == root ? xmalloc(n * sizeof *all) : NULL;
            comm_gatherv_doubles(local, count, all, root);
            if (rank == root) {
                size_t bad = 0;
                for (size_t t = 0; t < n; t++) bad += all[t] != 1.5 * (double)t + 0.25;
                EXPECT(bad == 0, "N=%zu root %d: %zu values out of client order", n, root, bad);
            }
            free(all);
        }
        free(local);
    }
}

/* reference owner of client t, in 128-bit arithmetic (independent of comm.c's split) */
static size_t owner(size_t t, size_t n, size_t r) {
    return (size_t)((unsigned __int128)t * r / n);
}

static void test_block(void) {
    const size_t ns[] = {0, 1, 2, 3, 4, 5, 7, 63, 64, 65, 100, 1000, 1001, 12345, 99991};
    const size_t big[] = {1000000000000ULL, 1000000000007ULL, (size_t)1 << 62};
    for (size_t R = 1; R <= 70; R++) {
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
            size_t n = ns[k], expect_first = 0;
            for (size_t r = 0; r < R; r++) {
                size_t f, c;
                comm_block(n, (int)r, (int)R, &f, &c);
                /* contiguous, in rank order: every client exactly once */
                EXPECT(f == expect_first, "N=%zu R=%zu r=%zu first %zu", n, R, r, f);
                EXPECT(c <= n / R + 1 && c + 1 >= (n + R - 1) / R, "unbalanced count %zu", c);
                for (size_t t = f; t < f + c; t++)
                    EXPECT(owner(t, n, R) == r, "N=%zu R=%zu t=%zu on rank %zu", n, R, t, r);
                expect_first = f + c;
            }
            EXPECT(expect_first == n, "N=%zu R=%zu covers %zu", n, R, expect_first);
        }
        for (size_t k = 0; k < sizeof big / sizeof big[0]; k++) {
            size_t n = big[k], expect_first = 0;
            for (size_t r = 0; r < R; r++) {
                size_t f, c;
                comm_block(n, (int)r, (int)R, &f, &c);
                EXPECT(f == expect_first, "N=%zu R=%zu r=%zu first %zu", n, R, r, f);
                /* the boundaries are where floor(t R / N) steps */
                EXPECT(c > 0 && owner(f, n, R) == r && owner(f + c - 1, n, R) == r,
                       "N=%zu R=%zu r=%zu block [%zu, +%zu)", n, R, r, f, c);
                if (f > 0) EXPECT(owner(f - 1, n, R) == r - 1, "N=%zu R=%zu r=%zu", n, R, r);
                expect_first = f + c;
            }
            EXPECT(expect_first == n, "N=%zu R=%zu covers %zu", n, R, expect_first);
        }
    }
    /* large rank counts with N = R and N >> R */
    const size_t rs[] = {1000, 65536, 1000000};
    for (size_t k = 0; k < 3; k++) {
        size_t R = rs[k], f, c;
        comm_block(R, (int)(R - 1), (int)R, &f, &c);
        EXPECT(f == R - 1 && c == 1, "N=R=%zu last rank [%zu, +%zu)", R, f, c);
        comm_block((size_t)1000000000000ULL, (int)(R - 1), (int)R, &f, &c);
        EXPECT(f + c == 1000000000000ULL && owner(f, 1000000000000ULL, R) == R - 1,
               "N=1e12 R=%zu", R);
    }
}

/* The phase-1 pattern: a token travels 0 -> 1 -> ... -> R-1 -> 0. Layout of the
 * message: M payload floats, a visit counter, then one visit mark per rank. */
/* comm_balanced (--assign balanced): a pure function, checked on every rank alike */
static void test_balanced(void) {
    /* LPT by hand, loads (r0, r1): 5 -> r0 (5, 0), 4 -> r1 (5, 4), 3 -> r1 (5, 7),
     * 3 -> r0 (8, 7), 3 -> r1 (8, 10) */
    const uint64_t w[5] = {5, 4, 3, 3, 3};
    const int32_t want[5] = {0, 1, 1, 0, 1};
    int32_t own[5];
    comm_balanced(5, w, 2, own);
    for (int t = 0; t < 5; t++) EXPECT(own[t] == want[t], "item %d on rank %d", t, (int)own[t]);
    /* equal weights: ties by id and by rank give a round robin */
    const uint64_t e[5] = {7, 7, 7, 7, 7};
    comm_balanced(5, e, 2, own);
    for (int t = 0; t < 5; t++) EXPECT(own[t] == t % 2, "tie item %d on rank %d", t, (int)own[t]);
    /* lognormal sizes (sigma 1): every rank gets an item, the loads are within one item
     * of the mean (LPT bound), and far flatter than blocks on the same sizes */
    enum { NB = 1000 };
    uint64_t *lw = malloc(NB * sizeof *lw), tot = 0, wmax = 0;
    int32_t *lo = malloc(NB * sizeof *lo);
    Rng r;
    rng_init(&r, SEED, FA_RNG_PARTITION, 0, 0, 0);
    for (size_t t = 0; t < NB; t++) {
        lw[t] = 1 + (uint64_t)(60.0 * exp(rng_normal(&r)));
        tot += lw[t];
        if (lw[t] > wmax) wmax = lw[t];
    }
    for (int R = 1; R <= 8; R++) {
        comm_balanced(NB, lw, R, lo);
        uint64_t load[8] = {0}, blk[8] = {0}, cnt[8] = {0};
        for (size_t t = 0; t < NB; t++) {
            EXPECT(lo[t] >= 0 && lo[t] < R, "owner %d of %d ranks", (int)lo[t], R);
            if (lo[t] < 0 || lo[t] >= R) continue;
            load[lo[t]] += lw[t];
            cnt[lo[t]]++;
            size_t f, c;
            for (int q = 0; q < R; q++) {
                comm_block(NB, q, R, &f, &c);
                if (t >= f && t < f + c) blk[q] += lw[t];
            }
        }
        uint64_t mx = 0, bmx = 0;
        for (int q = 0; q < R; q++) {
            EXPECT(cnt[q] > 0, "rank %d of %d got no item", q, R);
            mx = load[q] > mx ? load[q] : mx;
            bmx = blk[q] > bmx ? blk[q] : bmx;
        }
        EXPECT((double)mx <= (double)tot / R + (double)wmax, "R=%d: max load %llu", R,
               (unsigned long long)mx);
        if (R > 1) EXPECT(mx < bmx, "R=%d: balanced %llu not below block %llu", R,
                          (unsigned long long)mx, (unsigned long long)bmx);
    }
    free(lo);
    free(lw);
}

static void test_ring(void) {
    int rank = comm_rank(), size = comm_size();
    size_t R = (size_t)size;
    enum { M = 1 << 20 }; /* 4 MiB: past the eager limit, so the rendezvous path runs */
    size_t len = M + 1 + R;
    float *msg = xmalloc(len * sizeof *msg);
    const int tag = 17;
    if (rank == 0) {
        for (size_t i = 0; i < M; i++) msg[i] = (float)(i % 9973) * 0.125f;
        for (size_t i = M; i < len; i++) msg[i] = 0.0f;
    }
    if (size > 1 && rank > 0) comm_recv_floats(msg, len, rank - 1, tag);
    /* visit: the counter proves every earlier rank passed it on exactly once */
    EXPECT(msg[M] == (float)rank, "token counter %g on arrival", (double)msg[M]);
    for (size_t r = 0; r < R; r++)
        EXPECT(msg[M + 1 + r] == (r < (size_t)rank ? 1.0f : 0.0f), "visit mark of rank %zu", r);
    msg[M] += 1.0f;
    msg[M + 1 + (size_t)rank] += 1.0f;
    if (size > 1) {
        comm_send_floats(msg, len, (rank + 1) % size, tag);
        if (rank == 0) comm_recv_floats(msg, len, size - 1, tag);
    }
    if (rank == 0) {
        size_t bad = 0;
        for (size_t i = 0; i < M; i++) bad += msg[i] != (float)(i % 9973) * 0.125f;
        EXPECT(bad == 0, "%zu payload floats changed around the ring", bad);
        EXPECT(msg[M] == (float)size, "token counter %g after the ring", (double)msg[M]);
        for (size_t r = 0; r < R; r++)
            EXPECT(msg[M + 1 + r] == 1.0f, "rank %zu visited %g times", r, (double)msg[M + 1 + r]);
    }
    /* an empty token must not hang either side */
    if (size > 1) {
        if (rank > 0) comm_recv_floats(NULL, 0, rank - 1, tag + 1);
        comm_send_floats(NULL, 0, (rank + 1) % size, tag + 1);
        if (rank == 0) comm_recv_floats(NULL, 0, size - 1, tag + 1);
    }
    free(msg);
}

static void test_all_any(void) {
    int rank = comm_rank(), size = comm_size();
    EXPECT(comm_all(true), "all(true)");
    EXPECT(!comm_all(false), "all(false)");
    EXPECT(!comm_all(rank != size - 1), "all(not last)");
    EXPECT(comm_all(rank % 2 == 0) == (size == 1), "all(even)");
    EXPECT(comm_any(rank == size - 1), "any(last)");
    EXPECT(!comm_any(false), "any(false)");
    EXPECT(comm_any(true), "any(true)");
    EXPECT(comm_any(rank == 1) == (size > 1), "any(rank 1)");
}

static void test_timers(void) {
    int rank = comm_rank(), size = comm_size();
    double R = (double)size;
    Timers t;
    timers_reset(&t);
    /* absolute times near now, so the per-rank clock origin is in range */
    double now = timer_now();
    t.acc[FA_T_TRAIN] = (double)rank + 1.0;
    t.acc[FA_T_RING] = 0.25 * (double)rank;
    t.first[FA_T_RING] = now + 10.0 + (double)rank;   /* earliest start: rank 0 */
    t.last[FA_T_RING] = now + 20.0 + 2.0 * (double)rank; /* latest end: last rank */
    if (rank % 2 == 1) {
        /* TRAIN ran on even ranks only; odd ranks' times must not count */
        t.first[FA_T_TRAIN] = -1.0;
        t.last[FA_T_TRAIN] = -1.0;
    } else {
        t.first[FA_T_TRAIN] = now + 5.0;
        t.last[FA_T_TRAIN] = now + 6.0 + (double)rank;
    }
    double tmin[FA_T_COUNT], tavg[FA_T_COUNT], tmax[FA_T_COUNT], span[FA_T_COUNT];
    comm_reduce_timers(&t, tmin, tavg, tmax, span);
    int last_even = (size - 1) - ((size - 1) % 2);
    /* spans are compared with slack: each rank's clock origin is taken after a barrier,
     * and oversubscribed ranks leave a barrier up to a scheduler tick apart */
    const double slack = 0.1;
    EXPECT(tmin[FA_T_TRAIN] == 1.0 && tmax[FA_T_TRAIN] == R, "train min %g max %g",
           tmin[FA_T_TRAIN], tmax[FA_T_TRAIN]);
    EXPECT(tavg[FA_T_TRAIN] == (R + 1.0) / 2.0, "train avg %g", tavg[FA_T_TRAIN]);
    EXPECT(tmin[FA_T_RING] == 0.0 && tmax[FA_T_RING] == 0.25 * (R - 1.0), "ring min/max");
    EXPECT(fabs(span[FA_T_RING] - (10.0 + 2.0 * (R - 1.0))) < slack, "ring span %g",
           span[FA_T_RING]);
    EXPECT(fabs(span[FA_T_TRAIN] - (1.0 + (double)last_even)) < slack, "train span %g",
           span[FA_T_TRAIN]);
    /* never started anywhere: zeros, not NaN */
    EXPECT(span[FA_T_IO] == 0.0 && tmax[FA_T_IO] == 0.0 && tavg[FA_T_IO] == 0.0, "io %g",
           span[FA_T_IO]);
}

/* Every rank's contribution is fine except one element on the last rank: all ranks
 * must die together, with one message from rank 0. Never returns. */
static void provoke_overflow(void) {
    int rank = comm_rank(), size = comm_size();
    int64_t buf[8] = {0};
    /* just past the limit +-INT64_MAX / size (at one rank, only INT64_MIN is) */
    if (rank == size - 1) buf[3] = size == 1 ? INT64_MIN : INT64_MAX / size + 1;
    comm_allreduce_sum_i64(buf, 8);
    fprintf(stderr, "rank %d: overflow pre-check did not fire\n", rank);
    comm_finalize();
    exit(0); /* the script treats exit 0 as the failure */
}

int main(int argc, char **argv) {
    comm_init(&argc, &argv);
    if (argc > 1 && strcmp(argv[1], "--overflow") == 0) provoke_overflow();

    test_exact_sum();
    test_reduce_root();
    test_bcast();
    test_gatherv();
    test_block();
    test_balanced();
    test_ring();
    test_all_any();
    test_timers();

    bool failed = comm_any(failures > 0);
    if (comm_rank() == 0)
        printf("test_comm: %d ranks: %s\n", comm_size(), failed ? "FAILED" : "all checks passed");
    comm_finalize();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
