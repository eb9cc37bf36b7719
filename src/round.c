/*
 * round.c: one federated round (round.h): the client's update, the accumulation of the
 * server's exact sums, the second pass of the mean reference, the Reduce and the server
 * step. The same code serves the runs (fl.c) and `fedalign bench aggregate`.
 *
 * The fast paths are chosen by one test each in round_accumulate and give the bits of
 * the general path (tests/unit/test_round.c runs both on the same inputs):
 *   fused  the weight is known before the delta (rows, uniform) or is 1 (the first pass of
 *          the mean reference): delta, bound check, (store,) q_t * fixed(delta) in one loop;
 *   prev   the dual criterion against the previous global update: delta, bound check,
 *          delta.ref and |delta|^2 in one loop, then the weighted accumulation;
 *   general  attackers and clipping need the whole delta before anything is decided.
 * OpenMP: round_second_pass's client loop (a compute kernel); the rest is called per
 * client from the caller's parallel loop (client_update in fl_round.c).
 */
#include "fedalign/round.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/aggregate.h"
#include "fedalign/check.h"
#include "fedalign/comm.h"

_Static_assert(sizeof(RoundScalars) == ROUND_NSCALARS * sizeof(int64_t),
               "RoundScalars must hold int64 fields only (it is packed as int64 slots)");

void round_buf_init(RoundBuf *b, size_t P, int nthreads) {
    memset(b, 0, sizeof *b);
    b->P = P;
    b->nthreads = nthreads;
    b->tacc = xcalloc((size_t)nthreads * (P + ROUND_NSCALARS), sizeof(int64_t));
    b->acc = xcalloc(P + ROUND_NSCALARS, sizeof(int64_t));
    b->tok = xcalloc((size_t)nthreads, sizeof(bool));
    b->tagg = xcalloc((size_t)nthreads, sizeof(double));
}

void round_buf_free(RoundBuf *b) {
    free(b->tagg);
    free(b->tok);
    free(b->acc);
    free(b->tacc);
    memset(b, 0, sizeof *b);
}

static void zero_threads(RoundBuf *b) {
    for (int t = 0; t < b->nthreads; t++) {
        memset(round_thread_acc(b, t), 0, (b->P + ROUND_NSCALARS) * sizeof(int64_t));
        b->tok[t] = true;
    }
}

void round_begin(RoundBuf *b) {
    zero_threads(b);
    for (int t = 0; t < b->nthreads; t++) b->tagg[t] = 0.0;
}

static void tstart(Timers *t, FaTimer k) {
    if (t) timer_start(t, k);
}
static void tstop(Timers *t, FaTimer k) {
    if (t) timer_stop(t, k);
}

int64_t fl_quantize_weight(double u) {
    if (!(u > 0.0)) return 0;
    if (u > 1.0) u = 1.0;
    return llround(ldexp(u, FA_WEIGHT_BITS));
}

void fl_apply_update(float *out, const float *base, const int64_t *num, int64_t den, double alpha,
                     size_t n) {
    CHECK(den > 0 && den < (INT64_C(1) << 53), "update denominator %lld out of range",
          (long long)den);
    const double dden = (double)den, scale = alpha * ldexp(1.0, -FA_FIXED_BITS);
    for (size_t i = 0; i < n; i++) {
        /* num/den = Q + R/den with exact integers; R and den are < 2^53, so both
         * conversions are exact and the division is correctly rounded: the result
         * depends only on the rational num/den (equal weights cancel exactly). */
        int64_t Q = num[i] / den, R = num[i] % den;
        double v = (double)Q + (double)R / dden;
        out[i] = (float)((double)base[i] + scale * v);
    }
}

// ----------------------------------------------------------------------------
// client side: one update into the thread's accumulator

/* An update is aggregated only when every element is finite and below
 * FA_UPDATE_MAX in magnitude (which also keeps the fixed-point sums in range). */
static bool update_acceptable(const float *d, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(d[i]) < (float)FA_UPDATE_MAX)) return false; /* false for NaN too */
    return true;
}

/* A malicious client's upload (--attack): it trains honestly, then sends
 * signflip: -delta; scale: X * delta; noise: Gaussian noise X times delta's RMS;
 * nan: NaN everywhere. The noise comes from the client's fault stream. */
static void attack_update(float *d, size_t n, const RoundRule *rr, Rng *r) {
    const float x = (float)rr->attack_scale;
    switch (rr->attack) {
    case FA_ATTACK_SIGNFLIP:
        for (size_t i = 0; i < n; i++) d[i] = -d[i];
        break;
    case FA_ATTACK_SCALE:
        for (size_t i = 0; i < n; i++) d[i] *= x;
        break;
    case FA_ATTACK_NOISE: {
        double rms = vec_norm2(d, n) / sqrt((double)(n ? n : 1));
        for (size_t i = 0; i < n; i++) d[i] = (float)(rms * rr->attack_scale * rng_normal(r));
        break;
    }
    case FA_ATTACK_NAN:
        for (size_t i = 0; i < n; i++) d[i] = nanf("");
        break;
    default: break;
    }
}

/* q_t of a client whose weight does not depend on the round's other clients. */
static int64_t plain_weight(const RoundRule *rr, size_t rows) {
    return rr->weight == FA_WEIGHT_UNIFORM ? 1 : (int64_t)rows;
}

/* staleness discount of a late update (--late discount): q * deadline / time */
static int64_t discount(int64_t q, const RoundRule *rr, double time) {
    return (int64_t)llround((double)q * rr->deadline / time);
}

/* The fused fast path: delta, bound check, (store,) q_t * fixed(delta) in one loop. */
static void accumulate_fused(RoundBuf *b, int tid, const RoundRule *rr, ClientUpdate *u,
                             const float *model, float *w, const float *global, size_t rows,
                             float *stored, double *norm2) {
    int64_t *ta = round_thread_acc(b, tid);
    const bool late = u->status & FA_ST_LATE;
    int64_t q = 1; /* the mean reference's first pass: weight 1 */
    if (!stored) {
        q = plain_weight(rr, rows);
        if (late) q = discount(q, rr, u->time);
    }
    float *dst = stored ? stored : w;
    int r = fixed_delta_accumulate_q(ta, dst, model, global, q, (float)FA_UPDATE_MAX, norm2, b->P);
    if (r == FA_DELTA_REJECTED) { /* never aggregated, always recorded */
        u->status |= FA_ST_REJECTED;
        return;
    }
    if (r == FA_DELTA_OVERFLOW) b->tok[tid] = false;
    if (stored) ta[b->P + ROUND_SLOT(selected)] += 1;
    else u->q = q;
    if (late && !stored) u->status |= FA_ST_DISCOUNTED;
    u->status |= FA_ST_AGGREGATED;
}

/* The general path up to the weight: delta, attack, clipping, bound check; stores the
 * delta for the mean reference. Returns true when the caller must weigh and accumulate
 * the delta now (w = delta_t, *th its cosine for the previous-update reference). */
static bool delta_general(RoundBuf *b, int tid, const RoundRule *rr, ClientUpdate *u,
                          const float *model, float *w, const float *global, const float *ref,
                          Rng *fr, float *stored, double *norm2, double *th) {
    const size_t P = b->P;
    vec_sub(w, model, global, P); /* w is now delta_t */
    if (u->status & FA_ST_ATTACKER) attack_update(w, P, rr, fr);
    if (rr->clip > 0.0) {
        double nrm = vec_norm2(w, P);
        if (nrm > rr->clip) {
            float f = (float)(rr->clip / nrm);
            for (size_t k = 0; k < P; k++) w[k] *= f;
            u->status |= FA_ST_CLIPPED;
        }
    }
    if (!update_acceptable(w, P)) { /* never aggregated, always recorded */
        u->status |= FA_ST_REJECTED;
        return false;
    }
    if (stored) { /* the mean reference: sum of accepted deltas with weight 1 */
        int64_t *ta = round_thread_acc(b, tid);
        memcpy(stored, w, P * sizeof(float));
        *norm2 = vec_dot(w, w, P);
        if (!fixed_accumulate_q(ta, w, 1, P)) b->tok[tid] = false;
        ta[P + ROUND_SLOT(selected)] += 1;
        u->status |= FA_ST_AGGREGATED;
        return false;
    }
    if (rr->weight == FA_WEIGHT_DUAL) *th = vec_cosine(w, ref, P);
    return true;
}

/* The first pass of a two-pass rule for an accepted delta (stored, with |delta|^2): its
 * cosine to the previous global update where needed, and the weight when it is known now
 * (rows, uniform; discounted in the second pass like every other weight). */
static void first_pass_tail(const RoundRule *rr, ClientUpdate *u, const float *d, double norm2,
                            const float *ref, double refnorm2, size_t P, size_t rows) {
    const bool dual = rr->weight == FA_WEIGHT_DUAL;
    if (rr->dynamics || (dual && !rr->mean_reference)) {
        double cp = vec_cosine_parts(vec_dot(d, ref, P), norm2, refnorm2);
        if (rr->dynamics) u->cos_prev = cp;
        if (dual && !rr->mean_reference) u->theta = cp;
    }
    if (!dual) u->q = plain_weight(rr, rows);
}

void round_accumulate(RoundBuf *b, int tid, const RoundRule *rr, ClientUpdate *u,
                      const float *model, float *w, const float *global, const float *ref,
                      double refnorm2, size_t rows, Rng *fr, float *stored, double *stored_norm2) {
    const double t0 = timer_now();
    const size_t P = b->P;
    const bool simple = !(u->status & FA_ST_ATTACKER) && !(rr->clip > 0.0) && !rr->general_only;
    const bool dual = rr->weight == FA_WEIGHT_DUAL;
    double th = 0.0;
    if (stored) { /* two passes: store, weight 1 now, the weight in round_second_pass */
        if (simple) accumulate_fused(b, tid, rr, u, model, w, global, rows, stored, stored_norm2);
        else delta_general(b, tid, rr, u, model, w, global, ref, fr, stored, stored_norm2, &th);
        if (u->status & FA_ST_AGGREGATED)
            first_pass_tail(rr, u, stored, *stored_norm2, ref, refnorm2, P, rows);
        b->tagg[tid] += timer_now() - t0;
        return;
    }
    if (simple && !dual) {
        accumulate_fused(b, tid, rr, u, model, w, global, rows, NULL, NULL);
        b->tagg[tid] += timer_now() - t0;
        return;
    }
    if (simple) { /* dual, previous-update reference: the same bits as the general path */
        double ab, aa;
        if (!vec_delta_dot(w, model, global, ref, (float)FA_UPDATE_MAX, &ab, &aa, P)) {
            u->status |= FA_ST_REJECTED;
            b->tagg[tid] += timer_now() - t0;
            return;
        }
        th = vec_cosine_parts(ab, aa, refnorm2);
    } else if (!delta_general(b, tid, rr, u, model, w, global, ref, fr, NULL, NULL, &th)) {
        b->tagg[tid] += timer_now() - t0;
        return;
    }
    int64_t q;
    if (dual) {
        u->theta = th;
        q = fl_quantize_weight(fa_dual_weight(u->score, th, rr->floor_c));
    } else {
        q = plain_weight(rr, rows);
    }
    if (u->status & FA_ST_LATE) { /* staleness discount */
        q = discount(q, rr, u->time);
        u->status |= FA_ST_DISCOUNTED;
    }
    u->q = q;
    u->status |= FA_ST_AGGREGATED;
    if (!fixed_accumulate_q(round_thread_acc(b, tid), w, q, P)) b->tok[tid] = false;
    b->tagg[tid] += timer_now() - t0;
}

// ----------------------------------------------------------------------------
// server side

void round_sum_threads(RoundBuf *b) {
    const size_t m = b->P + ROUND_NSCALARS;
    memset(b->acc, 0, m * sizeof(int64_t));
    bool ok = true;
    for (int t = 0; t < b->nthreads; t++) {
        ok = ok && b->tok[t];
        ok = ok && fixed_add(b->acc, round_thread_acc(b, t), m);
    }
    /* Every accepted update is below FA_UPDATE_MAX, but the rank's sum of q_t * delta_t
     * can still leave the range in which the ranks' sums add up without int64 overflow
     * (comm.c checks the same bound and would end the run with exit 1): large weights
     * (FedAvg's q_t = training rows) times scaled updates. Caught here, it is the
     * documented aggregation failure. */
    const int64_t lim = INT64_MAX / comm_size();
    for (size_t i = 0; ok && i < m; i++) ok = b->acc[i] <= lim && b->acc[i] >= -lim;
    /* one failing client (NaN update, overflow) must stop every rank the same way */
    if (!comm_all(ok))
        fa_fail("aggregation failed: the round's weighted sum of updates leaves the exact "
                "fixed-point range (each |update| < %g, and per rank sum of weight x |update| "
                "< 2^31 / ranks); HINT: bound the updates with --clip, or lower --lr or "
                "--local-epochs",
                FA_UPDATE_MAX);
}

/* The weight of one aggregated client in the second pass, from its cosine th to the
 * round's mean update: cos_mean, theta_t, q_t (rows or uniform from the first pass, or
 * the dual criterion's) and the staleness discount. */
static int64_t weight_stored(const RoundRule *rr, ClientUpdate *c, double th) {
    if (rr->dynamics) c->cos_mean = th;
    int64_t q = c->q; /* rows or uniform, from the first pass */
    if (rr->weight == FA_WEIGHT_DUAL) {
        if (rr->mean_reference) c->theta = th;
        q = fl_quantize_weight(fa_dual_weight(c->score, c->theta, rr->floor_c));
    }
    if (c->status & FA_ST_LATE) { /* staleness discount */
        q = discount(q, rr, c->time);
        c->status |= FA_ST_DISCOUNTED;
    }
    c->q = q;
    return q;
}

/* The weighted pass over the stored deltas: the cosine to the mean (cos_mean, and theta_t
 * for the mean reference), the weights, the sums.
 * |delta_t|^2 comes from the first pass and |ref|^2 with the mean, so a client needs
 * one dot product here. Each thread takes a contiguous block of the aggregated clients
 * and goes through it FA_MULTI_MAX clients at a time: one sweep over the mean gives their
 * dot products (independent serial chains, each as vec_dot), one sweep their weighted
 * fixed-point sums (the accumulator loaded and stored once per element for all of them).
 * Integer sums: any assignment or grouping of clients gives the same bits; every sum in
 * double runs as in vec_cosine. */
static void kern_weight_stored(RoundBuf *b, const RoundRule *rr, ClientUpdate *u, size_t n,
                               const RoundStore *st, const float *mean, double bb,
                               bool over_clients) {
    const size_t P = b->P;
    zero_threads(b);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (u[i].status & FA_ST_AGGREGATED) st->alist[m++] = i;
    const int nt = over_clients ? b->nthreads : 1;
#pragma omp parallel num_threads(nt) if (over_clients)
    {
        const int tid = omp_get_thread_num(), T = omp_get_num_threads();
        const size_t k0 = m * (size_t)tid / (size_t)T, k1 = m * (size_t)(tid + 1) / (size_t)T;
        int64_t *ta = round_thread_acc(b, tid);
        for (size_t k = k0; k < k1; k += FA_MULTI_MAX) {
            const size_t g = k1 - k < FA_MULTI_MAX ? k1 - k : FA_MULTI_MAX;
            const float *d[FA_MULTI_MAX];
            double ab[FA_MULTI_MAX], aa[FA_MULTI_MAX];
            int64_t q[FA_MULTI_MAX];
            for (size_t j = 0; j < g; j++) {
                d[j] = st->delta + st->alist[k + j] * P;
                aa[j] = st->norm2[st->alist[k + j]];
            }
            vec_dot_multi(ab, d, g, mean, P);
            for (size_t j = 0; j < g; j++)
                q[j] = weight_stored(rr, &u[st->alist[k + j]],
                                     vec_cosine_parts(ab[j], aa[j], bb));
            /* stored deltas passed the first pass's bound, so this bound rejects nothing
             * fixed_accumulate_q would accept; their |delta|^2 usually proves it at once */
            if (!fixed_accumulate_q_multi(ta, d, q, g, (float)FA_UPDATE_MAX, aa, P))
                b->tok[tid] = false;
        }
    }
}

void round_weigh_stored(RoundBuf *b, const RoundRule *rr, ClientUpdate *u, size_t n,
                        const RoundStore *st, float *mean, bool over_clients) {
    const double bb = fixed_mean(mean, b->acc, b->acc[b->P], b->P); /* and |mean|^2 */
    kern_weight_stored(b, rr, u, n, st, mean, bb, over_clients);
}

void round_second_pass(RoundBuf *b, const RoundRule *rr, ClientUpdate *u, size_t n,
                       const RoundStore *st, float *mean, bool over_clients, Timers *t) {
    const size_t P = b->P;
    /* the mean update of the round: one extra Allreduce of the P sums and the count */
    b->acc[P] = b->acc[P + ROUND_SLOT(selected)];
    tstart(t, FA_T_COMM);
    comm_allreduce_sum_i64(b->acc, P + 1);
    tstop(t, FA_T_COMM);
    tstart(t, FA_T_AGG);
    round_weigh_stored(b, rr, u, n, st, mean, over_clients);
    round_sum_threads(b);
    tstop(t, FA_T_AGG);
}

/* The round's per-client scalars, summed exactly (fixed point where not integers). */
static void client_scalars(RoundScalars *x, const ClientUpdate *u, size_t n, bool dual) {
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        const uint32_t st = u[i].status;
        x->rejected += (st & FA_ST_REJECTED) != 0;
        x->dropped += (st & FA_ST_DROPPED) != 0;
        x->late += (st & FA_ST_LATE) != 0;
        if (!(st & FA_ST_AGGREGATED)) continue;
        x->den += u[i].q;
        x->selected++;
        int64_t fx;
        if (dual && isfinite(u[i].theta)) {
            ok = ok && fixed_from_double((double)u[i].q * u[i].theta / 4096.0, &fx);
            if (ok) x->qcos += fx;
        }
        double l = isfinite(u[i].loss) && u[i].loss < 1000.0 ? u[i].loss : 1000.0;
        ok = ok && fixed_from_double(l, &fx);
        if (ok) x->trainloss += fx;
    }
    CHECK(ok, "round metrics out of fixed-point range");
}

void round_finish(RoundBuf *b, const ClientUpdate *u, size_t n, bool dual, const int64_t cnt[3],
                  bool stop_requested, Timers *t) {
    const size_t P = b->P;
    RoundScalars x = {0};
    client_scalars(&x, u, n, dual);
    x.correct = cnt[0];
    x.rows = cnt[1];
    x.loss = cnt[2];
    x.stop = stop_requested;
    memcpy(b->acc + P, &x, sizeof x);
    /* the one Reduce of the round: exact sums of q_t * delta_t and the scalars; the
     * barrier first keeps load imbalance out of the communication time, and its watchdog
     * ends the job if a rank never arrives */
    char where[64];
    snprintf(where, sizeof where, "the end of round %zu", b->round + 1);
    comm_watch_barrier(b->watchdog, where);
    tstart(t, FA_T_COMM);
    comm_reduce_sum_i64(b->acc, P + ROUND_NSCALARS, 0);
    tstop(t, FA_T_COMM);
    /* rank 0's sums become the next model, broadcast then; the scalars are needed on
     * every rank now (results, stop): one tiny broadcast */
    comm_bcast_bytes(b->acc + P, sizeof x, 0);
    memcpy(&b->x, b->acc + P, sizeof x);
}

void round_server_step(const RoundBuf *b, float *out, const float *base, double alpha) {
    if (b->x.den > 0) fl_apply_update(out, base, b->acc, b->x.den, alpha, b->P);
}
