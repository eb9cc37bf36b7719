/*
 * test_split.c: train/val/test splits (fractions, stratification, block contiguity,
 * determinism), the federated data set (feddata_build) and its independence of how
 * clients are spread over ranks, for generated and CSV data, and `fedalign data`
 * (datacmd_describe, datacmd_export read back with csv_load).
 *
 * Rows carry their own index in feature 0, so every test can see exactly which rows
 * went where.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fedalign/data.h"
#include "fedalign/datacmd.h"

// ----------------------------------------------------------------------------
// helpers

/* classes with the given sizes, interleaved the way a real file might be:
 * row i gets class (i mod K) until that class is full; x = (row index, label) */
static void make_ds(Dataset *ds, const size_t *sizes, size_t k) {
    size_t n = 0, left[16];
    for (size_t c = 0; c < k; c++) n += sizes[c], left[c] = sizes[c];
    dataset_alloc(ds, n, 2);
    size_t i = 0, c = 0;
    while (i < n) {
        if (left[c] > 0) {
            ds->y[i] = (int32_t)c;
            ds->x[2 * i] = (float)i;
            ds->x[2 * i + 1] = (float)c;
            left[c]--;
            i++;
        }
        c = (c + 1) % k;
    }
}

static size_t count_class(const Dataset *ds, int32_t c) {
    size_t m = 0;
    for (size_t i = 0; i < ds->n; i++) m += ds->y[i] == c;
    return m;
}

static void assert_increasing_ids(const Dataset *ds) {
    for (size_t i = 1; i < ds->n; i++) assert_true(ds->x[2 * i] > ds->x[2 * (i - 1)]);
}

static void assert_ds_equal(const Dataset *a, const Dataset *b) {
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->d, b->d);
    if (a->n == 0) return;
    assert_memory_equal(a->x, b->x, a->n * a->d * sizeof(float));
    assert_memory_equal(a->y, b->y, a->n * sizeof(int32_t));
}

// ----------------------------------------------------------------------------
// split_rows

static void test_split_fractions(void **state) {
    (void)state;
    size_t sizes[6] = {100, 3, 2, 1, 0, 7};
    /* expected (train, val, test) per class at val 0.15, test 0.25:
     * 100 -> 15/25 by rounding; 3 -> 1/1/1 (>= 3 rows: one each); 2 -> round(0.3) = 0,
     * round(0.5) = 1; 1 -> train only; 7 -> round(1.05) = 1, round(1.75) = 2 */
    size_t want[6][3] = {{60, 15, 25}, {1, 1, 1}, {1, 0, 1}, {1, 0, 0}, {0, 0, 0}, {4, 1, 2}};
    Dataset all;
    make_ds(&all, sizes, 6);
    for (int block = 0; block < 2; block++) {
        SplitSpec sp = {0.15, 0.25, block != 0};
        Dataset tr, va, te;
        split_rows(&sp, 9, 3, &all, &tr, &va, &te);
        assert_int_equal(tr.n + va.n + te.n, all.n);
        for (int32_t c = 0; c < 6; c++) {
            assert_int_equal(count_class(&tr, c), want[c][0]);
            assert_int_equal(count_class(&va, c), want[c][1]);
            assert_int_equal(count_class(&te, c), want[c][2]);
        }
        /* original order inside each split; labels travel with their rows */
        const Dataset *parts[3] = {&tr, &va, &te};
        unsigned char *seen = calloc(all.n, 1);
        for (int s = 0; s < 3; s++) {
            assert_increasing_ids(parts[s]);
            for (size_t i = 0; i < parts[s]->n; i++) {
                size_t id = (size_t)parts[s]->x[2 * i];
                assert_int_equal(parts[s]->y[i], all.y[id]);
                assert_int_equal(seen[id], 0);
                seen[id] = 1;
            }
        }
        free(seen);
        dataset_free(&tr);
        dataset_free(&va);
        dataset_free(&te);
    }
    /* a zero fraction gives an empty split even for big classes */
    SplitSpec nov = {0.0, 0.25, false};
    Dataset tr, va, te;
    split_rows(&nov, 9, 3, &all, &tr, &va, &te);
    assert_int_equal(va.n, 0);
    assert_int_equal(count_class(&te, 0), 25);
    dataset_free(&tr);
    dataset_free(&va);
    dataset_free(&te);
    /* train keeps a row even when both fractions round up to the whole class
     * (2 rows: round(0.8) + round(0.9) = 2 -> val 1, test 0) */
    SplitSpec big = {0.4, 0.45, false};
    split_rows(&big, 9, 3, &all, &tr, &va, &te);
    for (int32_t c = 0; c < 6; c++)
        if (sizes[c] > 0) assert_true(count_class(&tr, c) >= 1);
    assert_int_equal(count_class(&va, 2), 1);
    assert_int_equal(count_class(&te, 2), 0);
    dataset_free(&tr);
    dataset_free(&va);
    dataset_free(&te);
    dataset_free(&all);
}

static void test_split_block_contiguous(void **state) {
    (void)state;
    size_t sizes[3] = {40, 25, 13};
    Dataset all;
    make_ds(&all, sizes, 3);
    SplitSpec sp = {0.2, 0.3, true};
    Dataset tr, va, te;
    split_rows(&sp, 1, 0, &all, &tr, &va, &te);
    for (int32_t c = 0; c < 3; c++) {
        /* the class's row ids in file order, then train | val | test must be a prefix,
         * the middle and the suffix of that list */
        size_t ids[64], m = 0;
        for (size_t i = 0; i < all.n; i++)
            if (all.y[i] == c) ids[m++] = i;
        size_t at = 0;
        const Dataset *parts[3] = {&tr, &va, &te};
        for (int s = 0; s < 3; s++)
            for (size_t i = 0; i < parts[s]->n; i++)
                if (parts[s]->y[i] == c) {
                    assert_int_equal((size_t)parts[s]->x[2 * i], ids[at]);
                    at++;
                }
        assert_int_equal(at, m);
    }
    dataset_free(&tr);
    dataset_free(&va);
    dataset_free(&te);
    dataset_free(&all);
}

static void test_split_random_deterministic(void **state) {
    (void)state;
    size_t sizes[2] = {200, 100};
    Dataset all;
    make_ds(&all, sizes, 2);
    SplitSpec rnd = {0.15, 0.25, false}, blk = {0.15, 0.25, true};
    Dataset a[3], b[3], c[3], d[3];
    split_rows(&rnd, 5, 2, &all, &a[0], &a[1], &a[2]);
    split_rows(&rnd, 5, 2, &all, &b[0], &b[1], &b[2]);
    split_rows(&rnd, 5, 3, &all, &c[0], &c[1], &c[2]); /* another client */
    split_rows(&blk, 5, 2, &all, &d[0], &d[1], &d[2]);
    for (int s = 0; s < 3; s++) assert_ds_equal(&a[s], &b[s]);
    assert_int_equal(a[2].n, c[2].n);
    assert_memory_not_equal(a[2].x, c[2].x, a[2].n * 2 * sizeof(float));
    assert_memory_not_equal(a[2].x, d[2].x, a[2].n * 2 * sizeof(float));
    for (int s = 0; s < 3; s++) {
        dataset_free(&a[s]);
        dataset_free(&b[s]);
        dataset_free(&c[s]);
        dataset_free(&d[s]);
    }
    dataset_free(&all);
}

// ----------------------------------------------------------------------------
// feddata_build

static void assert_clients_equal(const FedData *whole, const FedData *part) {
    for (size_t l = 0; l < part->n_local; l++) {
        const ClientData *p = &part->clients[l];
        const ClientData *w = &whole->clients[part->ids[l]];
        assert_int_equal(p->id, w->id);
        assert_int_equal(p->id, (int64_t)part->ids[l]);
        assert_ds_equal(&p->train, &w->train);
        assert_ds_equal(&p->val, &w->val);
        assert_ds_equal(&p->test, &w->test);
        assert_memory_equal(p->hist, w->hist, sizeof p->hist);
    }
}

static void check_decomposition(const DataSpec *spec, uint64_t seed) {
    FedData all, lo, hi, odd;
    feddata_build(&all, spec, seed, 8, 0, 8, true);
    feddata_build(&lo, spec, seed, 8, 0, 4, true);
    feddata_build(&hi, spec, seed, 8, 4, 4, false);
    feddata_build(&odd, spec, seed, 8, 3, 3, false);
    assert_clients_equal(&all, &lo);
    assert_clients_equal(&all, &hi);
    assert_clients_equal(&all, &odd);
    assert_ds_equal(&all.public_data, &lo.public_data);
    assert_int_equal(hi.public_data.n, 0);
    for (size_t t = 0; t < 8; t++) {
        const ClientData *cd = &all.clients[t];
        size_t h = 0;
        for (size_t k = 0; k < all.info.k; k++) h += cd->hist[k];
        assert_int_equal(h, cd->train.n + cd->val.n + cd->test.n);
        assert_true(cd->train.n > 0);
    }
    /* another seed gives other data */
    FedData other;
    feddata_build(&other, spec, seed + 1, 8, 0, 1, false);
    assert_true(other.clients[0].train.n != all.clients[0].train.n ||
                memcmp(other.clients[0].train.x, all.clients[0].train.x,
                       other.clients[0].train.n * other.clients[0].train.d * sizeof(float)) != 0);
    feddata_free(&other);
    feddata_free(&odd);
    feddata_free(&hi);
    feddata_free(&lo);
    feddata_free(&all);
}

static DataSpec base_spec(FaDataKind kind) {
    DataSpec s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    s.gen.heterogeneity = 1.0;
    s.part.kind = FA_PART_DIRICHLET;
    s.part.beta = 0.5;
    s.part.quantity_sigma = 0.5;
    s.part.min_per_client = 20;
    s.part.retry_cap = 100;
    s.split.val_frac = 0.15;
    s.split.test_frac = 0.25;
    s.samples_per_client = 120;
    s.public_samples = 2500; /* three chunks, the last one partial */
    s.public_frac = 0.15;
    return s;
}

static void test_feddata_generated(void **state) {
    (void)state;
    DataSpec s = base_spec(FA_DATA_ELECTRICAL);
    check_decomposition(&s, 2024);
    /* public data: requested size, balanced labels, finite values */
    FedData fd;
    feddata_build(&fd, &s, 2024, 8, 0, 0, true);
    assert_int_equal(fd.n_local, 0);
    assert_int_equal(fd.public_data.n, 2500);
    size_t hist[FA_MAX_CLASSES];
    dataset_hist(&fd.public_data, fd.info.k, hist);
    for (size_t k = 0; k < fd.info.k; k++)
        assert_true(hist[k] == 2500 / fd.info.k || hist[k] == 2500 / fd.info.k + 1);
    feddata_free(&fd);
}

static void csv_spec(DataSpec *s, const char *file) {
    *s = base_spec(FA_DATA_CSV);
    snprintf(s->csv.path, sizeof s->csv.path, "%s/%s", FA_TEST_DATA_DIR, file);
    snprintf(s->csv.label_cols, sizeof s->csv.label_cols, "label");
    snprintf(s->csv.feature_cols, sizeof s->csv.feature_cols, "id,f1,f2");
}

static void test_feddata_csv(void **state) {
    (void)state;
    DataSpec s;
    csv_spec(&s, "csv_pool.csv");
    check_decomposition(&s, 77); /* random split, Dirichlet, random public rows */
    s.split.block = true;
    s.perturb = 0.5;
    s.part.kind = FA_PART_IID;
    check_decomposition(&s, 77);

    /* block public hold-out: the first 15% of each class in file order; every row is
     * either public or in exactly one client (no perturbation here, ids stay exact) */
    s.perturb = 0.0;
    FedData fd;
    feddata_build(&fd, &s, 77, 8, 0, 8, true);
    const size_t class_start[3] = {0, 300, 480}, class_pub[3] = {45, 27, 18};
    assert_int_equal(fd.public_data.n, 45 + 27 + 18);
    size_t at = 0;
    for (int c = 0; c < 3; c++)
        for (size_t j = 0; j < class_pub[c]; j++, at++)
            assert_float_equal(fd.public_data.x[at * 3], (float)(class_start[c] + j), 0.0f);
    unsigned char *seen = calloc(600, 1);
    for (size_t i = 0; i < fd.public_data.n; i++) seen[(size_t)fd.public_data.x[i * 3]]++;
    for (size_t t = 0; t < 8; t++) {
        const Dataset *parts[3] = {&fd.clients[t].train, &fd.clients[t].val,
                                   &fd.clients[t].test};
        for (int p = 0; p < 3; p++)
            for (size_t i = 0; i < parts[p]->n; i++) seen[(size_t)parts[p]->x[i * 3]]++;
    }
    for (size_t i = 0; i < 600; i++) assert_int_equal(seen[i], 1);
    free(seen);
    assert_int_equal(fd.info.k, 3);
    assert_string_equal(fd.info.class_names[2], "C");
    feddata_free(&fd);

    /* partition by column: 4 loads -> 4 clients */
    s.part.kind = FA_PART_COLUMN;
    snprintf(s.part.column, sizeof s.part.column, "load");
    feddata_build(&fd, &s, 77, 4, 0, 4, false);
    for (size_t t = 0; t < 4; t++) {
        const Dataset *tr = &fd.clients[t].train;
        for (size_t i = 0; i < tr->n; i++) assert_int_equal((size_t)tr->x[i * 3] % 4, t);
    }
    feddata_free(&fd);
}

static void test_feddata_real_classdata(void **state) {
    (void)state;
    DataSpec s = base_spec(FA_DATA_CSV);
    snprintf(s.csv.path, sizeof s.csv.path, "%s/electrical_fault_kaggle/classData.csv",
             FA_SHARED_DATASETS);
    if (access(s.csv.path, R_OK) != 0) {
        print_message("skipped: %s not found (data/electrical_fault_kaggle/README.md)\n",
                      s.csv.path);
        skip();
    }
    snprintf(s.csv.label_cols, sizeof s.csv.label_cols, "G,C,B,A");
    s.part.min_per_client = 40;
    s.split.block = true;
    check_decomposition(&s, 3);
}

// ----------------------------------------------------------------------------
// datacmd

static void test_datacmd(void **state) {
    (void)state;
    DataSpec s;
    csv_spec(&s, "csv_pool.csv");
    FedData fd;
    feddata_build(&fd, &s, 5, 8, 2, 3, false);

    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    datacmd_describe(&fd, mem);
    fclose(mem);
    print_message("%s", text);
    assert_non_null(strstr(text, "client"));
    assert_non_null(strstr(text, "k2=C"));
    assert_non_null(strstr(text, "total"));
    free(text);

    char dir[] = "/tmp/fa_export_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char err[1024];
    if (datacmd_export(&fd, dir, false, err, sizeof err)) fail_msg("%s", err);
    /* a second export into the same directory is refused, unless overwrite */
    assert_int_equal(datacmd_export(&fd, dir, false, err, sizeof err), -1);
    assert_non_null(strstr(err, "--overwrite"));
    if (datacmd_export(&fd, dir, true, err, sizeof err)) fail_msg("%s", err);
    for (size_t l = 0; l < fd.n_local; l++) {
        const ClientData *cd = &fd.clients[l];
        CsvSpec cs;
        memset(&cs, 0, sizeof cs);
        snprintf(cs.path, sizeof cs.path, "%s/client_%lld.csv", dir, (long long)cd->id);
        snprintf(cs.label_cols, sizeof cs.label_cols, "label");
        snprintf(cs.feature_cols, sizeof cs.feature_cols, "id,f1,f2");
        Dataset back;
        DataInfo info;
        if (csv_load(&cs, &back, &info, NULL, NULL, err, sizeof err)) fail_msg("%s", err);
        size_t n = cd->train.n + cd->val.n + cd->test.n;
        assert_int_equal(back.n, n);
        /* rows come back train, val, test with the same floats */
        assert_memory_equal(back.x, cd->train.x, cd->train.n * 3 * sizeof(float));
        assert_memory_equal(back.x + cd->train.n * 3, cd->val.x, cd->val.n * 3 * sizeof(float));
        for (size_t i = 0; i < cd->train.n; i++)
            assert_string_equal(info.class_names[back.y[i]], fd.info.class_names[cd->train.y[i]]);
        dataset_free(&back);
        unlink(cs.path);
    }
    rmdir(dir);
    /* a path that cannot be a directory */
    assert_int_equal(datacmd_export(&fd, "/dev/null/x", false, err, sizeof err), -1);
    assert_non_null(strstr(err, "/dev/null/x"));
    feddata_free(&fd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_fractions),
        cmocka_unit_test(test_split_block_contiguous),
        cmocka_unit_test(test_split_random_deterministic),
        cmocka_unit_test(test_feddata_generated),
        cmocka_unit_test(test_feddata_csv),
        cmocka_unit_test(test_feddata_real_classdata),
        cmocka_unit_test(test_datacmd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
