/*
 * dataset.c: plain datasets, stratified train/val/test splits, and the federated data
 * set every rank builds for its own clients (generated devices or a CSV pool).
 *
 * Decomposition independence: a client's rows depend on (seed, client id, spec) only.
 * Generated clients draw from their own streams; for CSV data rank 0 reads the file,
 * every rank parses the same broadcast bytes and computes the whole partition, then
 * keeps its own clients. Checks
 * that must fail on every rank (a client without training rows) are done over all
 * clients on every rank, so fa_fail() is reached everywhere with the same message.
 */
#include "fedalign/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/check.h"
#include "fedalign/comm.h"
#include "fedalign/rng.h"

// N = rows, D = features, K = classes, C = clients

#define FA_PUBLIC_CHUNK 1024 /* public generated data: rows per gen_samples call */
#define FA_PERTURB_SUB 32    /* FA_RNG_DEVICE sub-streams for CSV sensor perturbation */
#define FA_FEW_TEST_ROWS 10  /* below this, a client's test accuracy is worth a warning */

double dataset_column_sd(const float *x, size_t d, size_t j, const size_t *rows, size_t n) {
    if (n < 2) return 0.0;
    double mean = 0.0, m2 = 0.0; /* Welford, in row order: the same on every rank */
    for (size_t i = 0; i < n; i++) {
        double v = (double)x[rows[i] * d + j], dv = v - mean;
        mean += dv / (double)(i + 1);
        m2 += dv * (v - mean);
    }
    return sqrt(m2 / (double)(n - 1));
}

// ----------------------------------------------------------------------------
// plain datasets

size_t datainfo_n_names(const DataInfo *info) { return info->win_len ? info->win_ch : info->d; }

void dataset_alloc(Dataset *ds, size_t n, size_t d) {
    ds->n = n;
    ds->d = d;
    ds->x = xmalloc(n * d * sizeof *ds->x);
    ds->y = xmalloc(n * sizeof *ds->y);
}

void dataset_free(Dataset *ds) {
    free(ds->x);
    free(ds->y);
    memset(ds, 0, sizeof *ds);
}

void dataset_take(Dataset *out, const Dataset *src, const size_t *rows, size_t m) {
    dataset_alloc(out, m, src->d);
    for (size_t i = 0; i < m; i++) {
        CHECK(rows[i] < src->n, "dataset_take: row %zu out of %zu", rows[i], src->n);
        memcpy(out->x + i * src->d, src->x + rows[i] * src->d, src->d * sizeof *out->x);
        out->y[i] = src->y[rows[i]];
    }
}

void dataset_hist(const Dataset *ds, size_t n_classes, size_t *hist) {
    memset(hist, 0, n_classes * sizeof *hist);
    for (size_t i = 0; i < ds->n; i++)
        if (ds->y[i] >= 0 && (size_t)ds->y[i] < n_classes) hist[ds->y[i]]++;
}

// ----------------------------------------------------------------------------
// splits

/* Rows of one class going to val and test. Rule: round(m * frac) each; when the class
 * has >= 3 rows, each split with a positive fraction gets at least one row; train always
 * keeps at least one row (the larger of val/test gives one back until it does). */
static void split_counts(size_t m, double val_frac, double test_frac, size_t *nv, size_t *nt) {
    size_t v = 0, t = 0;
    if (m > 0) {
        v = (size_t)llround((double)m * val_frac);
        t = (size_t)llround((double)m * test_frac);
        if (m >= 3) {
            if (val_frac > 0.0 && v == 0) v = 1;
            if (test_frac > 0.0 && t == 0) t = 1;
        }
        while (v + t > m - 1) {
            if (v > t) v--;
            else t--;
        }
    }
    *nv = v;
    *nt = t;
}

/* Degenerate splits. A client's split sizes follow from its label histogram alone
 * (split_counts per class), so every rank can check every client before anything is
 * built. A client with no test rows has no accuracy (NaN in every table): refused. A
 * client with a handful reports accuracies in coarse steps (1 row: "100 %"): the
 * smallest such split is named once, on rank 0, with the numbers. */
typedef struct {
    size_t min_test; /* fewest test rows of any client so far */
    size_t client;   /* that client */
    size_t rows;     /* its rows in all splits */
    bool any;
} SplitScan;

static void scan_split(SplitScan *sc, const SplitSpec *sp, const size_t *hist, size_t k,
                       size_t client) {
    size_t test = 0, rows = 0;
    for (size_t c = 0; c < k; c++) {
        size_t nv, nt;
        split_counts(hist[c], sp->val_frac, sp->test_frac, &nv, &nt);
        test += nt;
        rows += hist[c];
    }
    if (!sc->any || test < sc->min_test) {
        sc->min_test = test;
        sc->client = client;
        sc->rows = rows;
        sc->any = true;
    }
}

/* Training rows of a client with this label histogram (split_rows keeps exactly these):
 * the weight of --assign balanced, known on every rank before any client is built. */
static uint64_t train_rows_of(const SplitSpec *sp, const size_t *hist, size_t k) {
    uint64_t rows = 0;
    for (size_t c = 0; c < k; c++) {
        size_t nv, nt;
        split_counts(hist[c], sp->val_frac, sp->test_frac, &nv, &nt);
        rows += hist[c] - nv - nt;
    }
    return rows;
}

// ----------------------------------------------------------------------------
// which clients this rank builds

/* A given id range (feddata_build), or this rank's share of an assignment over
 * ranks (feddata_build_ranks), which may need every client's training rows. */
typedef struct {
    bool ranked;
    int rank, size;
    bool balanced;
} Want;

/* Set fd->ids, fd->n_local, fd->clients (and fd->owner for a ranked build) from the
 * assignment; weight[t] = training rows of client t, the same on every rank. */
static void assign_clients(FedData *fd, const Want *w, const uint64_t *weight) {
    if (!w->ranked) return; /* feddata_build set the range */
    const size_t C = fd->n_clients;
    fd->owner = xmalloc(C * sizeof *fd->owner);
    if (w->balanced) {
        comm_balanced(C, weight, w->size, fd->owner);
    } else {
        for (int r = 0; r < w->size; r++) {
            size_t first, count;
            comm_block(C, r, w->size, &first, &count);
            for (size_t t = first; t < first + count; t++) fd->owner[t] = r;
        }
    }
    size_t n = 0;
    for (size_t t = 0; t < C; t++) n += fd->owner[t] == w->rank;
    fd->n_local = n;
    fd->ids = xmalloc((n ? n : 1) * sizeof *fd->ids);
    n = 0;
    for (size_t t = 0; t < C; t++)
        if (fd->owner[t] == w->rank) fd->ids[n++] = t; /* ascending: the file order */
    fd->clients = xcalloc(n ? n : 1, sizeof *fd->clients);
}

static void check_splits(const SplitScan *sc, const SplitSpec *sp) {
    if (!sc->any) return;
    if (sc->min_test == 0)
        fa_fail("client %zu would get no test rows (it has %zu rows; each class gives "
                "round(rows x %g) to test, none when a class has 1 or 2 rows), so its accuracy "
                "is undefined: use fewer clients, more rows per client or a larger --test-frac",
                sc->client, sc->rows, sp->test_frac);
    if (sc->min_test < FA_FEW_TEST_ROWS && comm_rank() == 0) {
        fprintf(stderr,
                "fedalign: warning: client %zu has only %zu test rows (of %zu rows): its test "
                "accuracy moves in steps of %.3g %%\n",
                sc->client, sc->min_test, sc->rows, 100.0 / (double)sc->min_test);
        fflush(stderr);
    }
}

/* Rows grouped by label (counting sort, so each class keeps row order). off has
 * k + 1 entries; returns the label count k = max label + 1. */
static size_t rows_by_class(const int32_t *y, size_t n, size_t **off_out, size_t **rows_out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK(y[i] >= 0, "negative label %d", (int)y[i]);
        if ((size_t)y[i] + 1 > k) k = (size_t)y[i] + 1;
    }
    size_t *off = xcalloc(k + 1, sizeof *off);
    for (size_t i = 0; i < n; i++) off[y[i] + 1]++;
    for (size_t c = 0; c < k; c++) off[c + 1] += off[c];
    size_t *fill = xmalloc((k ? k : 1) * sizeof *fill);
    memcpy(fill, off, k * sizeof *fill);
    size_t *rows = xmalloc((n ? n : 1) * sizeof *rows);
    for (size_t i = 0; i < n; i++) rows[fill[y[i]]++] = i;
    free(fill);
    *off_out = off;
    *rows_out = rows;
    return k;
}

void split_rows(const SplitSpec *spec, uint64_t seed, uint64_t client, const Dataset *all,
                Dataset *train, Dataset *val, Dataset *test) {
    size_t *off = NULL, *rows = NULL;
    size_t k = rows_by_class(all->y, all->n, &off, &rows);
    unsigned char *which = xmalloc(all->n ? all->n : 1); /* 0 train, 1 val, 2 test */
    Rng r;
    rng_init(&r, seed, FA_RNG_SPLIT, client, 0, 0);
    for (size_t c = 0; c < k; c++) {
        size_t m = off[c + 1] - off[c], nv, nt;
        size_t *list = rows + off[c];
        if (!spec->block) rng_shuffle(&r, list, m); /* one stream, classes in order */
        split_counts(m, spec->val_frac, spec->test_frac, &nv, &nt);
        size_t ntr = m - nv - nt;
        for (size_t j = 0; j < m; j++) which[list[j]] = j < ntr ? 0 : (j < ntr + nv ? 1 : 2);
    }
    /* every split keeps the original row order (time order in block mode) */
    size_t cnt[3] = {0, 0, 0};
    for (size_t i = 0; i < all->n; i++) cnt[which[i]]++;
    size_t *idx[3];
    for (int s = 0; s < 3; s++) idx[s] = xmalloc((cnt[s] ? cnt[s] : 1) * sizeof(size_t));
    size_t at[3] = {0, 0, 0};
    for (size_t i = 0; i < all->n; i++) idx[which[i]][at[which[i]]++] = i;
    dataset_take(train, all, idx[0], cnt[0]);
    dataset_take(val, all, idx[1], cnt[1]);
    dataset_take(test, all, idx[2], cnt[2]);
    for (int s = 0; s < 3; s++) free(idx[s]);
    free(which);
    free(rows);
    free(off);
}

// ----------------------------------------------------------------------------
// generated data

/* One generated client: label histogram -> label vector -> samples -> split. */
static void build_gen_client(ClientData *cd, const DataSpec *spec, const DataInfo *info,
                             uint64_t seed, size_t t) {
    size_t hist[FA_MAX_CLASSES] = {0}, n = 0;
    partition_gen_hist(&spec->part, seed, t, info->k, spec->samples_per_client, hist);
    for (size_t c = 0; c < info->k; c++) n += hist[c];

    /* classes in order, then shuffled so no generator sees sorted labels */
    size_t *lab = xmalloc((n ? n : 1) * sizeof *lab);
    size_t at = 0;
    for (size_t c = 0; c < info->k; c++)
        for (size_t j = 0; j < hist[c]; j++) lab[at++] = c;
    Rng r;
    rng_init(&r, seed, FA_RNG_PARTITION, t, 1, 0);
    rng_shuffle(&r, lab, n);

    Dataset all;
    dataset_alloc(&all, n, info->d);
    for (size_t i = 0; i < n; i++) all.y[i] = (int32_t)lab[i];
    free(lab);
    if (n > 0) gen_samples(spec->kind, &spec->gen, seed, t, false, 0, all.y, n, all.x);

    cd->id = (int64_t)t;
    split_rows(&spec->split, seed, t, &all, &cd->train, &cd->val, &cd->test);
    dataset_hist(&all, info->k, cd->hist);
    dataset_free(&all);
}

static void build_generated(FedData *fd, const DataSpec *spec, uint64_t seed, bool want_public,
                            const Want *want) {
    gen_info(spec->kind, &spec->gen, &fd->info);
    const DataInfo *info = &fd->info;
    CHECK(
        info->k >= 2 && info->k <= FA_MAX_CLASSES && info->d >= 1 &&
            (info->win_len ? info->d == info->win_len * info->win_ch : info->d <= FA_MAX_FEATURES),
        "generator gave D=%zu K=%zu", info->d, info->k);

    /* A client without rows (possible only with min_per_client = 0) or without test
     * rows must fail on every rank alike, so every rank looks at every client's sizes
     * (a histogram draw per client: cheap next to generating the samples). */
    SplitScan sc = {0};
    uint64_t *weight = xmalloc(fd->n_clients * sizeof *weight);
    for (size_t t = 0; t < fd->n_clients; t++) {
        size_t hist[FA_MAX_CLASSES], n = 0;
        partition_gen_hist(&spec->part, seed, t, info->k, spec->samples_per_client, hist);
        for (size_t c = 0; c < info->k; c++) n += hist[c];
        if (n == 0)
            fa_fail("client %zu would get no training rows (0 rows; use a minimum of at "
                    "least 1 row per client or more samples per client)",
                    t);
        scan_split(&sc, &spec->split, hist, info->k, t);
        weight[t] = train_rows_of(&spec->split, hist, info->k);
    }
    check_splits(&sc, &spec->split);
    fd->n_public = spec->public_samples;
    assign_clients(fd, want, weight);
    free(weight);

    const size_t n_local = fd->n_local;
    const size_t *ids = fd->ids;
    ClientData *clients = fd->clients;
    /* clients are independent; generation dominates the setup time */
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t i = 0; i < n_local; i++) build_gen_client(&clients[i], spec, info, seed, ids[i]);

    if (want_public && spec->public_samples > 0) {
        size_t n = spec->public_samples, d = info->d, k = info->k;
        Dataset *pub = &fd->public_data;
        dataset_alloc(pub, n, d);
        for (size_t i = 0; i < n; i++) pub->y[i] = (int32_t)(i % k); /* balanced */
        size_t n_chunks = (n + FA_PUBLIC_CHUNK - 1) / FA_PUBLIC_CHUNK;
#pragma omp parallel for schedule(dynamic, 1)
        for (size_t ch = 0; ch < n_chunks; ch++) {
            size_t lo = ch * FA_PUBLIC_CHUNK;
            size_t m = n - lo < FA_PUBLIC_CHUNK ? n - lo : FA_PUBLIC_CHUNK;
            gen_samples(spec->kind, &spec->gen, seed, ch, true, 0, pub->y + lo, m, pub->x + lo * d);
        }
    }
}

// ----------------------------------------------------------------------------
// CSV data

static bool same_info(const DataInfo *a, const DataInfo *b, char *why, size_t len) {
    if (a->d != b->d) {
        snprintf(why, len, "%zu features instead of %zu", b->d, a->d);
        return false;
    }
    if (a->k != b->k) {
        snprintf(why, len, "%zu classes instead of %zu", b->k, a->k);
        return false;
    }
    if (a->win_len != b->win_len || a->win_ch != b->win_ch) {
        snprintf(why, len, "windows of %zu x %zu instead of %zu x %zu", b->win_len, b->win_ch,
                 a->win_len, a->win_ch);
        return false;
    }
    for (size_t j = 0; j < datainfo_n_names(a); j++) {
        if (strcmp(a->feature_names[j], b->feature_names[j]) != 0) {
            snprintf(why, len, "feature %zu is '%s' instead of '%s'", j + 1, b->feature_names[j],
                     a->feature_names[j]);
            return false;
        }
    }
    for (size_t c = 0; c < a->k; c++) {
        if (strcmp(a->class_names[c], b->class_names[c]) != 0) {
            snprintf(why, len, "class %zu is '%s' instead of '%s'", c, b->class_names[c],
                     a->class_names[c]);
            return false;
        }
    }
    return true;
}

/* Mark the public rows: per class, round(public_frac * n_k) rows (at most n_k - 1, so
 * every class stays in the pool): the first ones in file order (block split), or a
 * seeded random choice from the FA_RNG_PUBLIC stream, which no client uses. */
static void mark_public(const Dataset *all, double frac, bool block, uint64_t seed,
                        unsigned char *is_pub) {
    memset(is_pub, 0, all->n ? all->n : 1);
    if (!(frac > 0.0)) return;
    size_t *off = NULL, *rows = NULL;
    size_t k = rows_by_class(all->y, all->n, &off, &rows);
    Rng r;
    rng_init(&r, seed, FA_RNG_PUBLIC, 0, 0, 0);
    for (size_t c = 0; c < k; c++) {
        size_t m = off[c + 1] - off[c];
        size_t *list = rows + off[c];
        size_t h = (size_t)llround((double)m * frac);
        if (m > 0 && h >= m) h = m - 1;
        if (!block) rng_shuffle(&r, list, m);
        for (size_t j = 0; j < h; j++) is_pub[list[j]] = 1;
    }
    free(rows);
    free(off);
}

/* Per-device sensor perturbation: gain 1 + 0.2 p N(0,1), offset 0.1 p sd N(0,1) per
 * feature, plus white noise 0.05 p sd N(0,1) per value; sd is the feature's standard
 * deviation over the pool, so the noise has the feature's own scale. */
static void perturb_client(Dataset *ds, double level, const double *sd, uint64_t seed, size_t t) {
    double gain[FA_MAX_FEATURES], offset[FA_MAX_FEATURES];
    Rng r, q;
    rng_init(&r, seed, FA_RNG_DEVICE, t, 0, FA_PERTURB_SUB);
    rng_init(&q, seed, FA_RNG_DEVICE, t, 0, FA_PERTURB_SUB + 1);
    for (size_t j = 0; j < ds->d; j++) {
        gain[j] = 1.0 + 0.2 * level * rng_normal(&r);
        offset[j] = 0.1 * level * sd[j] * rng_normal(&r);
    }
    for (size_t i = 0; i < ds->n; i++) {
        float *x = ds->x + i * ds->d;
        for (size_t j = 0; j < ds->d; j++) {
            double v = gain[j] * (double)x[j] + offset[j] + 0.05 * level * sd[j] * rng_normal(&q);
            x[j] = (float)v;
        }
    }
}

/* Load a CSV (or, kind FA_DATA_H5, an HDF5 file: h5data_parse) so that every rank
 * parses the same bytes: rank 0 reads the file and
 * broadcasts them (comm_bcast_bytes chunks large buffers), every rank parses. A path
 * that only some ranks can open (node-local, /dev/stdin) or whose contents differ
 * between nodes therefore cannot split the ranks; a read error on rank 0 reaches
 * every rank with its message, and the parse fails (or not) everywhere alike.
 * Without MPI (serial unit tests) the caller reads the file itself. */
static void load_csv_agreed(FaDataKind kind, const CsvSpec *cs, Dataset *out, DataInfo *info,
                            int32_t **group, size_t *n_groups) {
    char err[1024 + FA_PATH_LEN] = "";
    char *bytes = NULL;
    size_t len = 0;
    if (!comm_is_initialized()) {
        if (csv_read_file(cs->path, &bytes, &len, err, sizeof err)) fa_fail("%s", err);
    } else {
        uint64_t head[2] = {0, 0}; /* read ok, length */
        if (comm_rank() == 0) {
            head[0] = csv_read_file(cs->path, &bytes, &len, err, sizeof err) == 0;
            head[1] = len;
        }
        comm_bcast_bytes(head, sizeof head, 0);
        if (!head[0]) {
            comm_bcast_bytes(err, sizeof err, 0);
            fa_fail("%s", err);
        }
        len = (size_t)head[1];
        if (comm_rank() != 0) bytes = xmalloc(len ? len : 1);
        comm_bcast_bytes(bytes, len, 0);
    }
    /* an HDF5 file's bytes are parsed the same way: every rank opens its copy in memory */
    int rc = kind == FA_DATA_H5 ? h5data_parse(cs->path, bytes, len, cs->group_col, out, info,
                                               group, n_groups, err, sizeof err)
                                : csv_parse_bytes(cs, bytes, len, out, info, group, n_groups, err,
                                                  sizeof err);
    free(bytes);
    if (rc) fa_fail("%s", err);
}

static void build_csv(FedData *fd, const DataSpec *spec, uint64_t seed, bool want_public,
                      const Want *want) {
    char err[1024 + FA_PATH_LEN];
    CsvSpec cs = spec->csv;
    bool by_column = spec->part.kind == FA_PART_COLUMN;
    if (by_column && spec->part.column[0] != '\0')
        snprintf(cs.group_col, sizeof cs.group_col, "%s", spec->part.column);
    if (by_column && cs.group_col[0] == '\0') fa_fail("partition by column: no column name given");

    Dataset all;
    int32_t *group = NULL;
    size_t n_groups = 0;
    load_csv_agreed(spec->kind, &cs, &all, &fd->info, by_column ? &group : NULL, &n_groups);
    const size_t n = all.n, d = all.d, K = fd->info.k;

    /* public (phase 0) rows: a separate file, or a stratified held-out part */
    unsigned char *is_pub = xmalloc(n);
    memset(is_pub, 0, n);
    if (spec->public_csv[0] != '\0') {
        CsvSpec ps = spec->csv;
        snprintf(ps.path, sizeof ps.path, "%s", spec->public_csv);
        ps.group_col[0] = '\0';
        Dataset pub;
        DataInfo pinfo;
        load_csv_agreed(FA_DATA_CSV, &ps, &pub, &pinfo, NULL, NULL);
        char why[256];
        if (!same_info(&fd->info, &pinfo, why, sizeof why))
            fa_fail("%s: public data must have the same features and classes as %s: %s",
                    spec->public_csv, spec->csv.path, why);
        fd->n_public = pub.n;
        if (want_public) fd->public_data = pub;
        else dataset_free(&pub);
    } else {
        mark_public(&all, spec->public_frac, spec->split.block, seed, is_pub);
        for (size_t i = 0; i < n; i++) fd->n_public += is_pub[i];
        /* phase 0 on no rows gives NaN everywhere; every rank counted the same rows */
        if (fd->n_public == 0)
            fa_fail("%s: --public-frac %g holds out no public rows (round(rows x %g) per class "
                    "is 0 for every class of these %zu rows): raise --public-frac or give a "
                    "public file with --public csv:FILE",
                    spec->csv.path, spec->public_frac, spec->public_frac, n);
        if (want_public) {
            size_t m = 0;
            size_t *idx = xmalloc(n * sizeof *idx);
            for (size_t i = 0; i < n; i++)
                if (is_pub[i]) idx[m++] = i;
            dataset_take(&fd->public_data, &all, idx, m);
            free(idx);
        }
    }

    /* the pool: every other row, in file order */
    size_t np = 0;
    size_t *pool = xmalloc(n * sizeof *pool);
    for (size_t i = 0; i < n; i++)
        if (!is_pub[i]) pool[np++] = i;
    int32_t *py = xmalloc((np ? np : 1) * sizeof *py);
    int32_t *pg = group ? xmalloc((np ? np : 1) * sizeof *pg) : NULL;
    for (size_t i = 0; i < np; i++) {
        py[i] = all.y[pool[i]];
        if (pg) pg[i] = group[pool[i]];
    }
    int64_t *client_of = xmalloc((np ? np : 1) * sizeof *client_of);
    if (partition_pool(&spec->part, seed, py, np, K, pg, n_groups, fd->n_clients, client_of, err,
                       sizeof err))
        fa_fail("%s: %s", spec->csv.path, err);

    /* every rank checks every client, so a failure is seen everywhere alike */
    size_t *count = xcalloc(fd->n_clients * K, sizeof *count); /* (C, K) label histograms */
    for (size_t i = 0; i < np; i++)
        if (client_of[i] >= 0) count[(size_t)client_of[i] * K + (size_t)py[i]]++;
    SplitScan sc = {0};
    uint64_t *weight = xmalloc(fd->n_clients * sizeof *weight);
    for (size_t t = 0; t < fd->n_clients; t++) {
        size_t rows = 0;
        for (size_t c = 0; c < K; c++) rows += count[t * K + c];
        if (rows == 0)
            fa_fail("client %zu has no training rows (no rows at all) after partitioning %zu "
                    "rows of %s over %zu clients",
                    t, np, spec->csv.path, fd->n_clients);
        scan_split(&sc, &spec->split, count + t * K, K, t);
        weight[t] = train_rows_of(&spec->split, count + t * K, K);
    }
    check_splits(&sc, &spec->split);
    assign_clients(fd, want, weight);
    free(weight);

    /* the perturbation is per feature (sensor gain, offset); a window's samples are not
     * separate sensors, and its d may exceed the per-feature arrays */
    if (spec->perturb > 0.0 && fd->info.win_len)
        fa_fail("%s: --perturb applies to tabular features, not to raw windows (%zu x %zu)",
                spec->csv.path, fd->info.win_len, fd->info.win_ch);
    double sd[FA_MAX_FEATURES] = {0};
    if (spec->perturb > 0.0 && np > 1)
        for (size_t j = 0; j < d; j++) sd[j] = dataset_column_sd(all.x, d, j, pool, np);

    /* this rank's clients: their rows in file order; local[t] = index of client t here */
    int64_t *local = xmalloc(fd->n_clients * sizeof *local);
    for (size_t t = 0; t < fd->n_clients; t++) local[t] = -1;
    for (size_t l = 0; l < fd->n_local; l++) local[fd->ids[l]] = (int64_t)l;
    size_t *off = xcalloc(fd->n_local + 1, sizeof *off);
    for (size_t i = 0; i < np; i++) {
        int64_t t = client_of[i];
        if (t >= 0 && local[t] >= 0) off[local[t] + 1]++;
    }
    for (size_t l = 0; l < fd->n_local; l++) off[l + 1] += off[l];
    size_t *rows = xmalloc((off[fd->n_local] ? off[fd->n_local] : 1) * sizeof *rows);
    size_t *fill = xmalloc((fd->n_local ? fd->n_local : 1) * sizeof *fill);
    memcpy(fill, off, fd->n_local * sizeof *fill);
    for (size_t i = 0; i < np; i++) {
        int64_t t = client_of[i];
        if (t >= 0 && local[t] >= 0) rows[fill[local[t]]++] = pool[i];
    }
    free(local);
    for (size_t l = 0; l < fd->n_local; l++) {
        size_t t = fd->ids[l];
        ClientData *cd = &fd->clients[l];
        Dataset mine;
        dataset_take(&mine, &all, rows + off[l], off[l + 1] - off[l]);
        if (spec->perturb > 0.0) perturb_client(&mine, spec->perturb, sd, seed, t);
        cd->id = (int64_t)t;
        split_rows(&spec->split, seed, t, &mine, &cd->train, &cd->val, &cd->test);
        dataset_hist(&mine, K, cd->hist);
        CHECK(cd->train.n > 0, "client %zu: split left no training rows", t);
        dataset_free(&mine);
    }

    free(fill);
    free(rows);
    free(off);
    free(count);
    free(client_of);
    free(pg);
    free(py);
    free(pool);
    free(is_pub);
    free(group);
    dataset_free(&all);
}

// ----------------------------------------------------------------------------
// public

static void build(FedData *fd, const DataSpec *spec, uint64_t seed, bool want_public,
                  const Want *want) {
    if (spec->kind == FA_DATA_CSV || spec->kind == FA_DATA_H5)
        build_csv(fd, spec, seed, want_public, want);
    else build_generated(fd, spec, seed, want_public, want);
}

void feddata_build(FedData *fd, const DataSpec *spec, uint64_t seed, size_t n_clients, size_t first,
                   size_t n_local, bool want_public) {
    memset(fd, 0, sizeof *fd);
    CHECK(n_clients > 0 && first <= n_clients && n_local <= n_clients - first,
          "bad client range [%zu, %zu) of %zu", first, first + n_local, n_clients);
    fd->n_clients = n_clients;
    fd->n_local = n_local;
    fd->ids = xmalloc((n_local ? n_local : 1) * sizeof *fd->ids);
    for (size_t l = 0; l < n_local; l++) fd->ids[l] = first + l;
    fd->clients = xcalloc(n_local ? n_local : 1, sizeof *fd->clients);
    const Want want = {false, 0, 1, false};
    build(fd, spec, seed, want_public, &want);
}

void feddata_build_ranks(FedData *fd, const DataSpec *spec, uint64_t seed, size_t n_clients,
                         int rank, int size, bool balanced, bool want_public) {
    memset(fd, 0, sizeof *fd);
    CHECK(n_clients > 0 && size >= 1 && rank >= 0 && rank < size && (size_t)size <= n_clients,
          "bad assignment: rank %d of %d, %zu clients", rank, size, n_clients);
    fd->n_clients = n_clients;
    const Want want = {true, rank, size, balanced};
    build(fd, spec, seed, want_public, &want);
}

size_t feddata_local(const FedData *fd, size_t t) {
    size_t lo = 0, hi = fd->n_local;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (fd->ids[mid] < t) lo = mid + 1;
        else hi = mid;
    }
    return lo < fd->n_local && fd->ids[lo] == t ? lo : SIZE_MAX;
}

/* Rank r sends its values in its id order, so the gathered array is the ranks' id lists
 * one after another: walking the ids in order, client t's value is the next unread one
 * of its owner's part. Without an owner map (a range build) the parts are ranges in
 * rank order already. */
void feddata_gather_doubles(const FedData *fd, const double *local, double *all) {
    const size_t C = fd->n_clients;
    const int size = comm_is_initialized() ? comm_size() : 1;
    if (!comm_is_initialized()) {
        for (size_t l = 0; l < fd->n_local; l++) all[fd->ids[l]] = local[l];
        return;
    }
    if (!fd->owner) {
        comm_gatherv_doubles(local, fd->n_local, all, 0);
        return;
    }
    const bool root = comm_rank() == 0;
    double *cat = root ? xmalloc(C * sizeof *cat) : NULL;
    comm_gatherv_doubles(local, fd->n_local, cat, 0);
    if (root) {
        size_t *next = xcalloc((size_t)size + 1, sizeof *next); /* each rank's next slot */
        for (size_t t = 0; t < C; t++) next[fd->owner[t] + 1]++;
        for (int r = 0; r < size; r++) next[r + 1] += next[r];
        for (size_t t = 0; t < C; t++) all[t] = cat[next[fd->owner[t]]++];
        free(next);
    }
    free(cat);
}

void feddata_free(FedData *fd) {
    if (fd->clients) {
        for (size_t l = 0; l < fd->n_local; l++) {
            dataset_free(&fd->clients[l].test);
            dataset_free(&fd->clients[l].val);
            dataset_free(&fd->clients[l].train);
        }
    }
    free(fd->clients);
    free(fd->ids);
    free(fd->owner);
    dataset_free(&fd->public_data);
    memset(fd, 0, sizeof *fd);
}

// ----------------------------------------------------------------------------
// data hash (a resume refuses data that differ from the checkpoint's)

/* FNV-1a over the 32-bit patterns of n values, then the count, mixed */
static uint64_t hash_words(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        uint32_t w;
        memcpy(&w, b + 4 * i, sizeof w);
        h ^= w;
        h *= 0x100000001b3ULL;
    }
    return rng_mix64(h ^ (uint64_t)n);
}

static uint64_t hash_dataset(uint64_t h, const Dataset *ds) {
    h = hash_words(h, ds->x, ds->n * ds->d);
    return hash_words(h ^ (uint64_t)ds->d, ds->y, ds->n);
}

/* the names up to their NUL (the bytes after it are not defined) */
static uint64_t hash_names(uint64_t h, const char (*names)[FA_NAME_LEN], size_t n) {
    for (size_t i = 0; i < n; i++) {
        for (const char *c = names[i]; *c; c++) {
            h ^= (unsigned char)*c;
            h *= 0x100000001b3ULL;
        }
        h = rng_mix64(h);
    }
    return h;
}

uint64_t feddata_hash(const FedData *fd) {
    const size_t n = fd->n_local, C = fd->n_clients;
    const bool root = comm_rank() == 0;
    /* 32-bit halves travel exactly as doubles */
    double *hi = xmalloc((n ? n : 1) * sizeof(double)), *lo = xmalloc((n ? n : 1) * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        const ClientData *cd = &fd->clients[i];
        uint64_t h = rng_mix64(0x9e3779b97f4a7c15ULL ^ (uint64_t)cd->id);
        h = hash_dataset(h, &cd->train);
        h = hash_dataset(h, &cd->val);
        h = hash_dataset(h, &cd->test);
        hi[i] = (double)(h >> 32);
        lo[i] = (double)(h & 0xffffffffu);
    }
    double *ahi = root ? xmalloc(C * sizeof(double)) : NULL;
    double *alo = root ? xmalloc(C * sizeof(double)) : NULL;
    feddata_gather_doubles(fd, hi, ahi);
    feddata_gather_doubles(fd, lo, alo);
    uint64_t h = 0;
    if (root) {
        h = 0x6a09e667f3bcc908ULL;
        for (size_t t = 0; t < C; t++)
            h = rng_mix64(h ^ (((uint64_t)ahi[t] << 32) | (uint64_t)alo[t]));
        /* the public data is built on rank 0 only; its row count is known everywhere */
        h = hash_dataset(h ^ (uint64_t)fd->n_public, &fd->public_data);
        h = hash_names(h ^ fd->info.d, fd->info.feature_names, datainfo_n_names(&fd->info));
        h = hash_names(h ^ fd->info.k, fd->info.class_names, fd->info.k);
    }
    if (comm_is_initialized()) comm_bcast_bytes(&h, sizeof h, 0);
    free(alo);
    free(ahi);
    free(lo);
    free(hi);
    return h;
}
