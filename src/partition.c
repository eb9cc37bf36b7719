/*
 * partition.c: label and quantity skew across clients.
 *
 * Generated data (partition_gen_hist) needs only a label histogram per client, drawn
 * from the client's own stream, so any rank can build any client. Real data
 * (partition_pool) assigns the rows of one pool to clients; every rank computes the
 * whole assignment (O(N + C*K) per draw), which keeps it independent of the ranks.
 *
 * Streams: (seed, FA_RNG_PARTITION, client, 0, 0) for partition_gen_hist (feddata.c
 * uses (client, 1, 0) for the label order); the pool uses sub-stream FA_POOL_SUB:
 * (class k, attempt a) for Dirichlet draws, (client t, 0) for the IID quantity weights and
 * (0, 1) for the IID shuffle; the Dirichlet quantity weights use (client t, 0) of
 * FA_POOL_QTY_SUB and the within-class row shuffle (class k, 0) of FA_POOL_ORDER_SUB, so
 * neither shares a stream with a class's Dirichlet draw. Nothing here allocates per
 * client beyond O(C) arrays.
 */
#include "fedalign/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/check.h"
#include "fedalign/rng.h"

// N = rows in the pool, C = clients, K = classes

#define FA_POOL_SUB 16
#define FA_POOL_QTY_SUB 17   /* Dirichlet partition: quantity weights */
#define FA_POOL_ORDER_SUB 18 /* Dirichlet partition: --row-order shuffled */
/* A Dirichlet draw that leaves more than this many clients short is not redrawn: the
 * number of short clients is roughly Poisson, so P(a redraw leaves none short) is about
 * exp(-20) = 2e-9 and the remaining redraws would only cost time (10,000 clients at
 * beta = 0.01 fail every draw). We go straight to the deterministic repair instead. */
#define FA_POOL_HOPELESS_SHORT 20

// ----------------------------------------------------------------------------
// helpers

/* Largest-remainder rounding of n * p[0..k) to integers summing to n; ties go to the
 * lower index. k is small (classes). */
static void round_largest_remainder(size_t n, const double *p, size_t k, size_t *out) {
    double frac[FA_MAX_CLASSES];
    size_t used = 0;
    for (size_t i = 0; i < k; i++) {
        double v = (double)n * p[i];
        double f = floor(v);
        out[i] = (size_t)f;
        frac[i] = v - f;
        used += out[i];
    }
    /* rounding error can push floor sums a hair above n; take back from the largest */
    while (used > n) {
        size_t b = 0;
        for (size_t i = 1; i < k; i++)
            if (out[i] > out[b]) b = i;
        out[b]--;
        used--;
    }
    while (used < n) {
        size_t b = k;
        for (size_t i = 0; i < k; i++)
            if (frac[i] >= 0.0 && (b == k || frac[i] > frac[b])) b = i;
        if (b == k) { /* more than k units short cannot happen; be safe anyway */
            b = 0;
            for (size_t i = 0; i < k; i++) frac[i] = 0.0;
        }
        out[b]++;
        frac[b] = -1.0;
        used++;
    }
}

/* Cumulative ("systematic") rounding: counts[t] = round(n*P_t) - round(n*P_{t-1}) with
 * P the running sum of w / wsum. O(C), sums to n exactly, each count within 1 of n*w_t. */
static void round_cumulative(size_t n, const double *w, double wsum, size_t c, size_t *counts) {
    double cum = 0.0;
    size_t prev = 0;
    for (size_t t = 0; t < c; t++) {
        cum += w[t];
        size_t cur = t + 1 == c ? n : (size_t)llround((double)n * (cum / wsum));
        if (cur > n) cur = n;
        if (cur < prev) cur = prev;
        counts[t] = cur - prev;
        prev = cur;
    }
}

/* lognormal quantity weight with mean 1: exp(sigma z - sigma^2 / 2) */
static double quantity_weight(double sigma, double z) {
    return sigma > 0.0 ? exp(sigma * z - 0.5 * sigma * sigma) : 1.0;
}

// ----------------------------------------------------------------------------
// generated data

void partition_gen_hist(const PartitionSpec *ps, uint64_t seed, uint64_t client, size_t n_classes,
                        size_t n_mean, size_t *hist) {
    CHECK(n_classes >= 1 && n_classes <= FA_MAX_CLASSES, "bad class count %zu", n_classes);
    Rng r;
    rng_init(&r, seed, FA_RNG_PARTITION, client, 0, 0);
    double z = rng_normal(&r); /* drawn even when sigma = 0: the stream layout stays fixed */
    double p[FA_MAX_CLASSES];
    if (ps->kind == FA_PART_DIRICHLET) {
        rng_dirichlet(&r, ps->beta, n_classes, p);
    } else {
        for (size_t k = 0; k < n_classes; k++) p[k] = 1.0 / (double)n_classes;
    }
    double target = round((double)n_mean * quantity_weight(ps->quantity_sigma, z));
    if (target > 1e12) target = 1e12; /* a 3-sigma draw must not ask for petabytes */
    size_t n_t = (size_t)target;
    if (n_t < ps->min_per_client) n_t = ps->min_per_client;
    round_largest_remainder(n_t, p, n_classes, hist);
}

// ----------------------------------------------------------------------------
// pool repair: give every client min rows, taking them from the largest clients

typedef struct {
    size_t *id; /* (n) heap of client ids */
    size_t n;
    const size_t *count; /* (C) */
} DonorHeap;

static bool donor_before(const DonorHeap *h, size_t a, size_t b) {
    if (h->count[a] != h->count[b]) return h->count[a] > h->count[b];
    return a < b;
}

static void heap_sift_down(DonorHeap *h, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && donor_before(h, h->id[l], h->id[m])) m = l;
        if (r < h->n && donor_before(h, h->id[r], h->id[m])) m = r;
        if (m == i) return;
        size_t t = h->id[i];
        h->id[i] = h->id[m];
        h->id[m] = t;
        i = m;
    }
}

/* Deterministic repair: clients below `min`, in id order, take the rows they lack from
 * the currently largest client (ties: lower id), from the end of its rows in row order,
 * so a moved block is contiguous in the file. Needs n_assigned >= C * min. */
static void repair_min(int64_t *client_of_row, size_t n, size_t c, size_t min) {
    size_t *count = xcalloc(c, sizeof *count);
    for (size_t i = 0; i < n; i++)
        if (client_of_row[i] >= 0) count[client_of_row[i]]++;
    bool short_any = false;
    for (size_t t = 0; t < c && !short_any; t++) short_any = count[t] < min;
    if (!short_any) {
        free(count);
        return;
    }
    /* rows grouped by client in row order (counting sort) */
    size_t *off = xmalloc((c + 1) * sizeof *off);
    off[0] = 0;
    for (size_t t = 0; t < c; t++) off[t + 1] = off[t] + count[t];
    size_t *rows = xmalloc((off[c] ? off[c] : 1) * sizeof *rows);
    size_t *fill = xmalloc((c ? c : 1) * sizeof *fill);
    memcpy(fill, off, c * sizeof *fill);
    for (size_t i = 0; i < n; i++)
        if (client_of_row[i] >= 0) rows[fill[client_of_row[i]]++] = i;

    DonorHeap h = {xmalloc(c * sizeof(size_t)), 0, count};
    for (size_t t = 0; t < c; t++)
        if (count[t] > min) h.id[h.n++] = t;
    for (size_t i = h.n / 2; i-- > 0;) heap_sift_down(&h, i);

    for (size_t t = 0; t < c; t++) {
        while (count[t] < min) {
            CHECK(h.n > 0, "partition repair ran out of donors (internal error)");
            size_t d = h.id[0];
            size_t take = min - count[t];
            if (take > count[d] - min) take = count[d] - min;
            /* donor d's remaining rows are rows[off[d] .. off[d] + count[d]) */
            for (size_t j = 0; j < take; j++)
                client_of_row[rows[off[d] + count[d] - 1 - j]] = (int64_t)t;
            count[d] -= take;
            count[t] += take;
            if (count[d] > min) {
                heap_sift_down(&h, 0);
            } else {
                h.id[0] = h.id[--h.n];
                heap_sift_down(&h, 0);
            }
        }
    }
    free(h.id);
    free(fill);
    free(rows);
    free(off);
    free(count);
}

// ----------------------------------------------------------------------------
// pool partitions

/* Lognormal quantity weights of the C clients from sub-stream `sub` into w; returns
 * their sum. */
static double quantity_weights(double sigma, uint64_t seed, uint64_t sub, size_t c, double *w) {
    double wsum = 0.0;
    for (size_t t = 0; t < c; t++) {
        Rng q;
        rng_init(&q, seed, FA_RNG_PARTITION, t, 0, sub);
        w[t] = quantity_weight(sigma, rng_normal(&q));
        wsum += w[t];
    }
    return wsum;
}

static void pool_iid(const PartitionSpec *ps, uint64_t seed, size_t n, size_t c,
                     int64_t *client_of_row) {
    size_t *order = xmalloc(n * sizeof *order);
    for (size_t i = 0; i < n; i++) order[i] = i;
    Rng r;
    rng_init(&r, seed, FA_RNG_PARTITION, 0, 1, FA_POOL_SUB);
    rng_shuffle(&r, order, n);

    double *w = xmalloc(c * sizeof *w);
    double wsum = quantity_weights(ps->quantity_sigma, seed, FA_POOL_SUB, c, w);
    size_t *sizes = xmalloc(c * sizeof *sizes);
    round_cumulative(n, w, wsum, c, sizes);
    size_t at = 0;
    for (size_t t = 0; t < c; t++)
        for (size_t j = 0; j < sizes[t]; j++) client_of_row[order[at++]] = (int64_t)t;
    free(sizes);
    free(w);
    free(order);
}

/* Counts of one class over clients for attempt `a`: Dirichlet(beta) proportions, times
 * the clients' quantity weights qw (NULL = no quantity skew: the proportions as drawn,
 * so sigma = 0 reproduces the partition without weights bit for bit), cumulative
 * rounding. p (C) and cnt (C) are scratch/output. */
static void dirichlet_class(const PartitionSpec *ps, uint64_t seed, size_t k, size_t a, size_t n_k,
                            size_t c, const double *qw, double *p, size_t *cnt) {
    Rng r;
    rng_init(&r, seed, FA_RNG_PARTITION, k, a, FA_POOL_SUB);
    rng_dirichlet(&r, ps->beta, c, p);
    double psum = 1.0;
    if (qw) {
        psum = 0.0;
        for (size_t t = 0; t < c; t++) psum += p[t] *= qw[t];
    }
    round_cumulative(n_k, p, psum, c, cnt);
}

/* The attempt whose draw the partition uses: the first that leaves no client below the
 * minimum, or the last tried. */
static size_t dirichlet_attempt(const PartitionSpec *ps, uint64_t seed, const size_t *n_k,
                                size_t n_classes, size_t c, const double *qw, double *p,
                                size_t *cnt) {
    size_t *tot = xmalloc(c * sizeof *tot), chosen = 0;
    for (size_t a = 0; a <= ps->retry_cap; a++) {
        memset(tot, 0, c * sizeof *tot);
        for (size_t k = 0; k < n_classes; k++) {
            if (n_k[k] == 0) continue;
            dirichlet_class(ps, seed, k, a, n_k[k], c, qw, p, cnt);
            for (size_t t = 0; t < c; t++) tot[t] += cnt[t];
        }
        size_t n_short = 0;
        for (size_t t = 0; t < c; t++) n_short += tot[t] < ps->min_per_client;
        chosen = a;
        if (n_short == 0 || n_short > FA_POOL_HOPELESS_SHORT) break;
    }
    free(tot);
    return chosen;
}

static void pool_dirichlet(const PartitionSpec *ps, uint64_t seed, const int32_t *y, size_t n,
                           size_t n_classes, size_t c, int64_t *client_of_row) {
    /* rows of each class in file order */
    size_t n_k[FA_MAX_CLASSES] = {0}, off[FA_MAX_CLASSES + 1];
    for (size_t i = 0; i < n; i++) n_k[y[i]]++;
    off[0] = 0;
    for (size_t k = 0; k < n_classes; k++) off[k + 1] = off[k] + n_k[k];
    size_t *rows = xmalloc((n ? n : 1) * sizeof *rows), fill[FA_MAX_CLASSES];
    memcpy(fill, off, n_classes * sizeof *fill);
    for (size_t i = 0; i < n; i++) rows[fill[y[i]]++] = i;
    /* --row-order shuffled: a random order within each class, so the chunks below are
     * random samples of the class instead of stretches of the file */
    if (ps->row_order == FA_ROWS_SHUFFLED)
        for (size_t k = 0; k < n_classes; k++) {
            Rng r;
            rng_init(&r, seed, FA_RNG_PARTITION, k, 0, FA_POOL_ORDER_SUB);
            rng_shuffle(&r, rows + off[k], n_k[k]);
        }

    double *p = xmalloc(c * sizeof *p), *qw = NULL;
    size_t *cnt = xmalloc(c * sizeof *cnt);
    if (ps->quantity_sigma > 0.0) {
        qw = xmalloc(c * sizeof *qw);
        quantity_weights(ps->quantity_sigma, seed, FA_POOL_QTY_SUB, c, qw);
    }
    size_t chosen = dirichlet_attempt(ps, seed, n_k, n_classes, c, qw, p, cnt);
    /* Assign the chosen draw: each class's rows, in that order, in contiguous chunks to
     * clients 0..C-1 (file order: a device sees stretches of each class's time series). */
    for (size_t k = 0; k < n_classes; k++) {
        if (n_k[k] == 0) continue;
        dirichlet_class(ps, seed, k, chosen, n_k[k], c, qw, p, cnt);
        size_t at = off[k];
        for (size_t t = 0; t < c; t++)
            for (size_t j = 0; j < cnt[t]; j++) client_of_row[rows[at++]] = (int64_t)t;
    }
    free(qw);
    free(cnt);
    free(p);
    free(rows);
}

int partition_pool(const PartitionSpec *ps, uint64_t seed, const int32_t *y, size_t n,
                   size_t n_classes, const int32_t *group, size_t n_groups, size_t n_clients,
                   int64_t *client_of_row, char *err, size_t errlen) {
    if (n_clients == 0) {
        snprintf(err, errlen, "partition: need at least one client");
        return -1;
    }
    if (n_classes == 0 || n_classes > FA_MAX_CLASSES) {
        snprintf(err, errlen, "partition: %zu classes (must be 1..%d)", n_classes, FA_MAX_CLASSES);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0 || (size_t)y[i] >= n_classes) {
            snprintf(err, errlen, "partition: row %zu has label %d outside 0..%zu", i, (int)y[i],
                     n_classes - 1);
            return -1;
        }
    }

    if (ps->kind == FA_PART_COLUMN) {
        if (!group) {
            snprintf(err, errlen, "partition by column '%s': no group column was loaded",
                     ps->column);
            return -1;
        }
        if (n_groups != n_clients) {
            snprintf(err, errlen,
                     "partition by column '%s': the column has %zu distinct values but %zu "
                     "clients were requested (they must be equal)",
                     ps->column, n_groups, n_clients);
            return -1;
        }
        size_t *count = xcalloc(n_clients, sizeof *count);
        for (size_t i = 0; i < n; i++) {
            if (group[i] < 0 || (size_t)group[i] >= n_groups) {
                free(count);
                snprintf(err, errlen, "partition: row %zu has group %d outside 0..%zu", i,
                         (int)group[i], n_groups - 1);
                return -1;
            }
            client_of_row[i] = group[i];
            count[group[i]]++;
        }
        for (size_t t = 0; t < n_clients; t++) {
            if (count[t] < ps->min_per_client) {
                snprintf(err, errlen,
                         "partition by column '%s': client %zu (the %zu-th value in sorted "
                         "order) has %zu rows, fewer than the minimum of %zu per client",
                         ps->column, t, t + 1, count[t], ps->min_per_client);
                free(count);
                return -1;
            }
        }
        free(count);
        return 0;
    }

    if (n_clients > 0 && ps->min_per_client > 0 && n / ps->min_per_client < n_clients) {
        snprintf(err, errlen,
                 "partition: %zu rows cannot give %zu clients at least %zu rows each (needs "
                 "%zu rows); use fewer clients or a smaller minimum per client",
                 n, n_clients, ps->min_per_client, n_clients * ps->min_per_client);
        return -1;
    }
    if (ps->kind == FA_PART_DIRICHLET) {
        if (!(ps->beta > 0.0)) {
            snprintf(err, errlen, "partition: Dirichlet beta must be > 0, got %g", ps->beta);
            return -1;
        }
        pool_dirichlet(ps, seed, y, n, n_classes, n_clients, client_of_row);
    } else if (ps->kind == FA_PART_IID) {
        pool_iid(ps, seed, n, n_clients, client_of_row);
    } else {
        snprintf(err, errlen, "partition: unknown kind %d", (int)ps->kind);
        return -1;
    }
    repair_min(client_of_row, n, n_clients, ps->min_per_client);
    return 0;
}
