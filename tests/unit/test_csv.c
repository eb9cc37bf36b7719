/*
 * test_csv.c: csv_load on small fixtures (tests/data) and on the real Kaggle
 * electrical-fault files in ../shared/datasets when they are there (skipped otherwise).
 *
 * Every malformed-input case checks both the message and its "path:line:column"
 * location, so a loader that fails for the wrong reason, or at the wrong place, fails
 * the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fedalign/data.h"

// ----------------------------------------------------------------------------
// helpers

static void spec_init(CsvSpec *s, const char *dir, const char *file, const char *label,
                      const char *features, const char *group) {
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s/%s", dir, file);
    snprintf(s->label_cols, sizeof s->label_cols, "%s", label ? label : "");
    snprintf(s->feature_cols, sizeof s->feature_cols, "%s", features ? features : "");
    snprintf(s->group_col, sizeof s->group_col, "%s", group ? group : "");
}

static int load(const char *file, const char *label, const char *features, Dataset *ds,
                DataInfo *info, char *err, size_t errlen) {
    CsvSpec s;
    spec_init(&s, FA_TEST_DATA_DIR, file, label, features, NULL);
    return csv_load(&s, ds, info, NULL, NULL, err, errlen);
}

/* The load must fail with "file:line:col: ..." containing `msg`. */
static void expect_fail(const char *file, const char *label, const char *features,
                        const char *loc, const char *msg) {
    Dataset ds;
    DataInfo info;
    char err[2048];
    int rc = load(file, label, features, &ds, &info, err, sizeof err);
    print_message("  %s -> %s\n", file, rc ? err : "(loaded!)");
    assert_int_equal(rc, -1);
    char want[256];
    snprintf(want, sizeof want, "%s:%s: ", file, loc);
    if (!strstr(err, want)) fail_msg("expected location '%s' in '%s'", want, err);
    if (!strstr(err, msg)) fail_msg("expected '%s' in '%s'", msg, err);
    assert_null(ds.x);
    assert_int_equal(ds.n, 0);
}

static int find_class(const DataInfo *info, const char *name) {
    for (size_t k = 0; k < info->k; k++)
        if (strcmp(info->class_names[k], name) == 0) return (int)k;
    return -1;
}

// ----------------------------------------------------------------------------
// well-formed fixtures

static void test_bom_crlf_quotes_brackets_exponent(void **state) {
    (void)state;
    Dataset ds;
    DataInfo info;
    char err[1024];
    int rc = load("csv_bom_crlf_quoted.csv", "label", "", &ds, &info, err, sizeof err);
    if (rc) fail_msg("%s", err);
    assert_int_equal(ds.n, 4); /* the blank CRLF line is skipped */
    assert_int_equal(ds.d, 4);
    assert_int_equal(info.d, 4);
    assert_string_equal(info.feature_names[0], "Ia"); /* [Ia] */
    assert_string_equal(info.feature_names[1], "Ib"); /* "Ib" */
    assert_string_equal(info.feature_names[2], "Ic"); /* " Ic " */
    assert_string_equal(info.feature_names[3], "Va"); /* "[Va]" */
    assert_string_equal(info.name, "csv");
    assert_int_equal(info.k, 3);
    assert_string_equal(info.class_names[0], "a");
    assert_string_equal(info.class_names[1], "b");
    assert_string_equal(info.class_names[2], "c");
    int32_t want_y[4] = {1, 0, 1, 2};
    for (size_t i = 0; i < 4; i++) assert_int_equal(ds.y[i], want_y[i]);
    float want_x[16] = {150.0f, -0.3f, 2.0f, 0.5f, -12.5f, 4.0f, 3.5f, 1e-3f,
                        0.0f,   0.0f,  0.0f, 0.0f, 7.0f,   8.0f, 9.0f, 10.0f};
    for (size_t i = 0; i < 16; i++) assert_float_equal(ds.x[i], want_x[i], 0.0f);
    dataset_free(&ds);

    /* the label can be named with brackets too, and features by a list */
    rc = load("csv_bom_crlf_quoted.csv", "[label]", "Va, [Ia]", &ds, &info, err, sizeof err);
    if (rc) fail_msg("%s", err);
    assert_int_equal(ds.d, 2);
    assert_string_equal(info.feature_names[0], "Va");
    assert_string_equal(info.feature_names[1], "Ia");
    assert_float_equal(ds.x[0], 0.5f, 0.0f);
    assert_float_equal(ds.x[1], 150.0f, 0.0f);
    dataset_free(&ds);
}

static void test_trailing_empty_columns(void **state) {
    (void)state;
    Dataset ds;
    DataInfo info;
    char err[1024];
    int rc = load("csv_trailing_empty.csv", "Output (S)", "", &ds, &info, err, sizeof err);
    if (rc) fail_msg("%s", err);
    assert_int_equal(ds.n, 4); /* last line has no newline */
    assert_int_equal(ds.d, 2);
    assert_string_equal(info.feature_names[0], "Ia");
    assert_string_equal(info.feature_names[1], "Ib");
    assert_int_equal(info.k, 2);
    assert_float_equal(ds.x[7], 0.802f, 1e-7f);
    assert_int_equal(ds.y[3], 1);
    dataset_free(&ds);
    /* default label = last named column (Ib): still loads, with Ib values as classes */
    rc = load("csv_trailing_empty.csv", "", "", &ds, &info, err, sizeof err);
    if (rc) fail_msg("%s", err);
    assert_int_equal(ds.d, 2);
    assert_string_equal(info.feature_names[0], "Output (S)");
    assert_int_equal(info.k, 4);
    dataset_free(&ds);
}

static void test_joined_labels(void **state) {
    (void)state;
    Dataset ds;
    DataInfo info;
    char err[1024];
    int rc = load("csv_joined_labels.csv", "G,C,B,A", "", &ds, &info, err, sizeof err);
    if (rc) fail_msg("%s", err);
    assert_int_equal(ds.n, 6);
    assert_int_equal(ds.d, 2);
    assert_int_equal(info.k, 4);
    const char *names[4] = {"0,0,0,0", "0,1,1,0", "1,0,0,1", "1,1,1,1"};
    for (int k = 0; k < 4; k++) assert_string_equal(info.class_names[k], names[k]);
    int32_t want[6] = {2, 0, 2, 1, 3, 0};
    for (int i = 0; i < 6; i++) assert_int_equal(ds.y[i], want[i]);
    dataset_free(&ds);
}

/* (1,11) and (11,1) are two classes, not one "111"; tuples sort column by column,
 * numerically where a column holds integers only: (1,11) < (2,3) < (11,1). */
static void test_label_tuples_stay_apart(void **state) {
    (void)state;
    Dataset ds;
    DataInfo info;
    char err[1024];
    int rc = load("csv_label_tuples.csv", "l1,l2", "", &ds, &info, err, sizeof err);
    if (rc) fail_msg("%s", err);
    assert_int_equal(ds.n, 6);
    assert_int_equal(ds.d, 2);
    assert_int_equal(info.k, 3);
    assert_string_equal(info.class_names[0], "1,11");
    assert_string_equal(info.class_names[1], "2,3");
    assert_string_equal(info.class_names[2], "11,1");
    int32_t want[6] = {0, 2, 1, 0, 2, 1};
    for (int i = 0; i < 6; i++) assert_int_equal(ds.y[i], want[i]);
    dataset_free(&ds);
    /* a value holding the separator could fake another tuple: refused */
    expect_fail("bad_label_sep.csv", "l1,l2", "", "3:1", "contains ','");
    /* one label column: the value is the class name, separator or not */
    rc = load("bad_label_sep.csv", "l1", "f1", &ds, &info, err, sizeof err);
    if (rc) fail_msg("%s", err);
    assert_string_equal(info.class_names[0], "1");
    assert_string_equal(info.class_names[1], "1,1");
    dataset_free(&ds);
}

static void test_integer_labels_sort_numerically(void **state) {
    (void)state;
    Dataset ds;
    DataInfo info;
    char err[1024];
    int rc = load("csv_int_labels.csv", "", "", &ds, &info, err, sizeof err);
    if (rc) fail_msg("%s", err);
    assert_int_equal(info.k, 3);
    assert_string_equal(info.class_names[0], "1");
    assert_string_equal(info.class_names[1], "2");
    assert_string_equal(info.class_names[2], "10");
    assert_int_equal(ds.y[0], 2);
    assert_int_equal(ds.y[4], 0);
    dataset_free(&ds);
}

static void test_group_column(void **state) {
    (void)state;
    CsvSpec s;
    spec_init(&s, FA_TEST_DATA_DIR, "csv_group.csv", "label", "", "load");
    Dataset ds;
    DataInfo info;
    int32_t *group = NULL;
    size_t n_groups = 0;
    char err[1024];
    int rc = csv_load(&s, &ds, &info, &group, &n_groups, err, sizeof err);
    if (rc) fail_msg("%s", err);
    assert_int_equal(ds.d, 2); /* the group column is not a default feature */
    assert_int_equal(n_groups, 3);
    int32_t want[6] = {0, 1, 0, 2, 1, 2};
    for (int i = 0; i < 6; i++) assert_int_equal(group[i], want[i]);
    free(group);
    dataset_free(&ds);
}

// ----------------------------------------------------------------------------
// malformed input: message and location

static void test_malformed(void **state) {
    (void)state;
    expect_fail("bad_non_numeric.csv", "", "", "3:2", "non-numeric value 'abc' in column 'b'");
    expect_fail("bad_empty_cell.csv", "", "", "3:2", "empty value");
    expect_fail("bad_ragged.csv", "", "", "4:3", "expected 3 columns, found 2");
    expect_fail("bad_ragged_long.csv", "", "", "3:4", "expected 3 columns, found 4");
    expect_fail("bad_nan.csv", "", "", "4:1", "NaN/Inf value 'NaN'");
    expect_fail("bad_inf.csv", "", "", "3:2", "NaN/Inf value '-inf'");
    expect_fail("bad_overflow.csv", "", "", "3:2", "out-of-range");
    expect_fail("bad_empty.csv", "", "", "1:1", "empty file");
    expect_fail("bad_header_only.csv", "", "", "2:1", "no data rows");
    expect_fail("bad_dup_header.csv", "", "", "1:3", "duplicate column name 'a'");
    expect_fail("bad_one_class.csv", "", "", "1:3", "only one class");
    expect_fail("bad_quote.csv", "", "", "3:2", "malformed quoting");
    expect_fail("bad_unclosed.csv", "", "", "3:3", "unterminated quoted field");
    expect_fail("bad_many_features.csv", "", "", "1:65", "more than 64 feature columns");
    expect_fail("bad_many_classes.csv", "", "", "18:2", "more than 16 classes");
    /* names that are not in the header, or named twice */
    expect_fail("csv_joined_labels.csv", "G,C,B,A", "Ia,Vx", "1:0", "unknown column 'Vx'");
    expect_fail("csv_joined_labels.csv", "G,C,X", "", "1:0", "unknown column 'X' in label_cols");
    expect_fail("csv_joined_labels.csv", "G,C,B,A", "Ia,Va,Ia", "1:5",
                "duplicate column 'Ia' in feature_cols");
    expect_fail("csv_joined_labels.csv", "G,C,B,A", "Ia,A", "1:4", "is a label column");
    /* a missing file names the path */
    Dataset ds;
    DataInfo info;
    char err[1024];
    assert_int_equal(load("no_such_file.csv", "", "", &ds, &info, err, sizeof err), -1);
    assert_non_null(strstr(err, "no_such_file.csv: cannot open"));
}

// ----------------------------------------------------------------------------
// what is read: regular files only, bounded sizes; bytes in memory parse alike

static void expect_read_fail(const char *path, const char *msg) {
    char *bytes = (char *)1;
    size_t len = 1;
    char err[1024] = "";
    int rc = csv_read_file(path, &bytes, &len, err, sizeof err);
    print_message("  %s -> %s\n", path, rc ? err : "(read!)");
    assert_int_equal(rc, -1);
    assert_null(bytes);
    assert_int_equal(len, 0);
    if (!strstr(err, path)) fail_msg("expected the path in '%s'", err);
    if (!strstr(err, msg)) fail_msg("expected '%s' in '%s'", msg, err);
}

static void test_non_regular_and_large_inputs(void **state) {
    (void)state;
    char dir[] = "/tmp/fa_test_csv_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char fifo[256], big[256], wide[256];
    snprintf(fifo, sizeof fifo, "%s/fifo.csv", dir);
    snprintf(big, sizeof big, "%s/big.csv", dir);
    snprintf(wide, sizeof wide, "%s/wide.csv", dir);
    /* a FIFO with no writer would block a plain open() forever */
    assert_int_equal(mkfifo(fifo, 0600), 0);
    expect_read_fail(fifo, "not a regular file");
    expect_read_fail("/dev/zero", "not a regular file");
    expect_read_fail(dir, "is a directory");
    /* one byte over the size limit (a sparse file: no disk used) */
    FILE *fp = fopen(big, "w");
    assert_non_null(fp);
    assert_int_equal(ftruncate(fileno(fp), (off_t)FA_CSV_MAX_BYTES + 1), 0);
    fclose(fp);
    expect_read_fail(big, "file too large");
    /* one line over the line limit, on line 3 */
    fp = fopen(wide, "w");
    assert_non_null(fp);
    fputs("a,label\r\n1,x\r\n", fp);
    for (int i = 0; i <= FA_CSV_MAX_LINE; i++) fputc('7', fp);
    fputs(",y\n", fp);
    fclose(fp);
    CsvSpec s;
    spec_init(&s, dir, "wide.csv", "", "", NULL);
    Dataset ds;
    DataInfo info;
    char err[1024];
    assert_int_equal(csv_load(&s, &ds, &info, NULL, NULL, err, sizeof err), -1);
    if (!strstr(err, "wide.csv:3:0: line longer than"))
        fail_msg("expected the long line 3 in '%s'", err);
    unlink(fifo);
    unlink(big);
    unlink(wide);
    rmdir(dir);
}

static void test_parse_bytes_matches_load(void **state) {
    (void)state;
    CsvSpec s;
    spec_init(&s, FA_TEST_DATA_DIR, "csv_pool.csv", "", "", "load");
    Dataset a, b;
    DataInfo ia, ib;
    int32_t *ga = NULL, *gb = NULL;
    size_t na = 0, nb = 0, len = 0;
    char err[1024], *bytes = NULL;
    if (csv_load(&s, &a, &ia, &ga, &na, err, sizeof err)) fail_msg("%s", err);
    if (csv_read_file(s.path, &bytes, &len, err, sizeof err)) fail_msg("%s", err);
    if (csv_parse_bytes(&s, bytes, len, &b, &ib, &gb, &nb, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(a.n, b.n);
    assert_int_equal(na, nb);
    assert_memory_equal(a.x, b.x, a.n * a.d * sizeof *a.x);
    assert_memory_equal(a.y, b.y, a.n * sizeof *a.y);
    assert_memory_equal(ga, gb, a.n * sizeof *ga);
    assert_memory_equal(&ia, &ib, sizeof ia);
    free(bytes);
    free(ga);
    free(gb);
    dataset_free(&a);
    dataset_free(&b);
}

static void test_many_features_list(void **state) {
    (void)state;
    /* 65 named features through the list fail the same way */
    char list[1024] = "";
    for (int i = 0; i < 65; i++) {
        char name[16];
        snprintf(name, sizeof name, "%sf%d", i ? "," : "", i);
        strcat(list, name);
    }
    expect_fail("bad_many_features.csv", "label", list, "1:65", "too many columns");
    Dataset ds;
    DataInfo info;
    char err[1024];
    list[strlen(list) - 4] = '\0'; /* drop ",f64": 64 features are fine */
    int rc = load("bad_many_features.csv", "label", list, &ds, &info, err, sizeof err);
    if (rc) fail_msg("%s", err);
    assert_int_equal(ds.d, 64);
    dataset_free(&ds);
}

// ----------------------------------------------------------------------------
// real data (data/<name>/ in the checkout, else the older location; tests/CMakeLists.txt)

static bool have_file(const char *path) { return access(path, R_OK) == 0; }

static void test_real_classdata(void **state) {
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/electrical_fault_kaggle/classData.csv", FA_SHARED_DATASETS);
    if (!have_file(path)) {
        print_message("skipped: %s not found (data/electrical_fault_kaggle/README.md)\n", path);
        skip();
    }
    CsvSpec s;
    spec_init(&s, FA_SHARED_DATASETS, "electrical_fault_kaggle/classData.csv", "G,C,B,A", "",
              NULL);
    Dataset ds;
    DataInfo info;
    char err[2048];
    int rc = csv_load(&s, &ds, &info, NULL, NULL, err, sizeof err);
    if (rc) fail_msg("%s", err);
    assert_int_equal(ds.n, 7861);
    assert_int_equal(ds.d, 6);
    assert_int_equal(info.k, 6);
    const char *feat[6] = {"Ia", "Ib", "Ic", "Va", "Vb", "Vc"};
    for (int j = 0; j < 6; j++) assert_string_equal(info.feature_names[j], feat[j]);
    /* README: counts per code */
    const char *code[6] = {"0,0,0,0", "1,0,0,1", "0,1,1,0", "1,0,1,1", "0,1,1,1", "1,1,1,1"};
    size_t want[6] = {2365, 1129, 1004, 1134, 1096, 1133};
    size_t hist[FA_MAX_CLASSES];
    dataset_hist(&ds, info.k, hist);
    for (int c = 0; c < 6; c++) {
        int k = find_class(&info, code[c]);
        assert_true(k >= 0);
        assert_int_equal(hist[k], want[c]);
    }
    /* first row: 1,0,0,1,-151.2918124,... */
    assert_int_equal(ds.y[0], find_class(&info, "1,0,0,1"));
    assert_float_equal(ds.x[0], -151.2918124f, 1e-4f);
    dataset_free(&ds);
}

static void test_real_detect(void **state) {
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/electrical_fault_kaggle/detect_dataset.csv",
             FA_SHARED_DATASETS);
    if (!have_file(path)) {
        print_message("skipped: %s not found (data/electrical_fault_kaggle/README.md)\n", path);
        skip();
    }
    CsvSpec s;
    spec_init(&s, FA_SHARED_DATASETS, "electrical_fault_kaggle/detect_dataset.csv", "Output (S)",
              "", NULL);
    Dataset ds;
    DataInfo info;
    char err[2048];
    int rc = csv_load(&s, &ds, &info, NULL, NULL, err, sizeof err);
    if (rc) fail_msg("%s", err);
    assert_int_equal(ds.n, 12001);
    assert_int_equal(ds.d, 6);
    assert_int_equal(info.k, 2);
    assert_string_equal(info.class_names[0], "0");
    assert_string_equal(info.class_names[1], "1");
    assert_string_equal(info.feature_names[5], "Vc");
    size_t hist[2];
    dataset_hist(&ds, 2, hist);
    assert_int_equal(hist[0], 6505);
    assert_int_equal(hist[1], 5496);
    /* last line, no newline: 0,-64.59840133,34.48079878,27.25006492,0.131668579,... */
    assert_float_equal(ds.x[12000 * 6 + 0], -64.59840133f, 1e-4f);
    assert_float_equal(ds.x[12000 * 6 + 5], 0.432166056f, 1e-6f);
    /* exponent notation: row 2 (line 3) has Va = 1.02E-01 */
    assert_float_equal(ds.x[1 * 6 + 3], 0.102f, 1e-7f);
    dataset_free(&ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bom_crlf_quotes_brackets_exponent),
        cmocka_unit_test(test_trailing_empty_columns),
        cmocka_unit_test(test_joined_labels),
        cmocka_unit_test(test_label_tuples_stay_apart),
        cmocka_unit_test(test_integer_labels_sort_numerically),
        cmocka_unit_test(test_group_column),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_non_regular_and_large_inputs),
        cmocka_unit_test(test_parse_bytes_matches_load),
        cmocka_unit_test(test_many_features_list),
        cmocka_unit_test(test_real_classdata),
        cmocka_unit_test(test_real_detect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
