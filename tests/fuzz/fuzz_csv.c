/*
 * fuzz_csv.c: libFuzzer harness for csv_load() (src/csv.c).
 *
 * Input layout: the first three bytes choose the CsvSpec (label columns, feature
 * columns, group column) from small tables of names that occur in the seed corpus
 * (tests/fuzz/corpus_csv/, made from tests/data/); the rest is the file. csv_load
 * takes a path, so every input is written to one file on tmpfs (/dev/shm, or
 * $TMPDIR when that is missing) and read back; src/csv.c is used unchanged.
 *
 * Oracles: ASan/UBSan (memory errors, leaks, undefined behaviour), abort() from the
 * die()/fa_fail() shim (csv_load must never reach them), and the documented
 * contract of a successful load checked below (shapes, label range, class count,
 * finite features, NUL-terminated names, group ids in range). Errors must come
 * back as -1 with a non-empty "path:line:column: message".
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedalign/data.h"

static const char *const k_label[] = {"",        "label",  "G,C,B,A",    "cls", "a",
                                      "a,b",     "[label]", "Output (S)", "x,x", " label , a",
                                      "\"label\"", "load"};
static const char *const k_feature[] = {"", "a,b", "f1,f2", "Ia,Va", "x,y", "b", "label", "Ia, Ib",
                                        "a,,b"};
static const char *const k_group[] = {"", "load", "a", "label", "id"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static char g_path[256];

static void csv_check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_csv: contract violated: %s\n", what);
        abort();
    }
}

static void remove_tmp(void) { unlink(g_path); }

void fa_fuzz_csv_init(void) {
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    if (!dir) dir = "/tmp";
    snprintf(g_path, sizeof g_path, "%s/fa_fuzz_csv_%ld.csv", dir, (long)getpid());
    atexit(remove_tmp);
}

int fa_fuzz_csv_one(const uint8_t *data, size_t size) {
    CsvSpec spec;
    memset(&spec, 0, sizeof spec);
    if (size >= 3) {
        snprintf(spec.label_cols, sizeof spec.label_cols, "%s", k_label[data[0] % COUNT(k_label)]);
        snprintf(spec.feature_cols, sizeof spec.feature_cols, "%s",
                 k_feature[data[1] % COUNT(k_feature)]);
        snprintf(spec.group_col, sizeof spec.group_col, "%s", k_group[data[2] % COUNT(k_group)]);
        data += 3;
        size -= 3;
    }
    snprintf(spec.path, sizeof spec.path, "%s", g_path);
    FILE *fp = fopen(g_path, "wb");
    if (!fp) abort();
    if (size && fwrite(data, 1, size, fp) != size) abort();
    fclose(fp);

    Dataset ds;
    DataInfo info;
    int32_t *group = NULL;
    size_t n_groups = 0;
    char err[512];
    /* with and without the group output: both paths must be clean */
    int want_group = spec.group_col[0] != '\0';
    int rc = csv_load(&spec, &ds, &info, want_group ? &group : NULL, want_group ? &n_groups : NULL,
                      err, sizeof err);
    if (rc != 0) {
        csv_check(rc == -1, "return value is 0 or -1");
        csv_check(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0', "error message set");
        csv_check(ds.x == NULL && ds.y == NULL && ds.n == 0, "no data on error");
        csv_check(group == NULL, "no group array on error");
        return 0;
    }
    csv_check(ds.n > 0, "rows > 0");
    csv_check(ds.d > 0 && ds.d <= FA_MAX_FEATURES, "0 < D <= FA_MAX_FEATURES");
    csv_check(info.d == ds.d, "info.d == ds.d");
    csv_check(info.k >= 2 && info.k <= FA_MAX_CLASSES, "2 <= K <= FA_MAX_CLASSES");
    for (size_t j = 0; j < info.d; j++)
        csv_check(memchr(info.feature_names[j], '\0', FA_NAME_LEN) != NULL, "feature name terminated");
    for (size_t k = 0; k < info.k; k++)
        csv_check(memchr(info.class_names[k], '\0', FA_NAME_LEN) != NULL, "class name terminated");
    size_t seen[FA_MAX_CLASSES] = {0};
    for (size_t i = 0; i < ds.n; i++) {
        csv_check(ds.y[i] >= 0 && (size_t)ds.y[i] < info.k, "label in [0, K)");
        seen[ds.y[i]]++;
        for (size_t j = 0; j < ds.d; j++) csv_check(isfinite(ds.x[i * ds.d + j]), "finite feature");
    }
    for (size_t k = 0; k < info.k; k++) csv_check(seen[k] > 0, "every class occurs");
    if (want_group) {
        csv_check(group != NULL, "group array returned");
        csv_check(n_groups >= 1 && n_groups <= ds.n, "1 <= groups <= rows");
        for (size_t i = 0; i < ds.n; i++)
            csv_check(group[i] >= 0 && (size_t)group[i] < n_groups, "group id in range");
        free(group);
    }
    free(ds.x); /* dataset_free() lives in dataset.c, which the fuzzer does not link */
    free(ds.y);
    return 0;
}

#ifndef FA_FUZZ_NO_MAIN
/* libFuzzer entry points; tests/unit/test_regress.c defines FA_FUZZ_NO_MAIN and
 * calls the two functions above on the regression inputs and the seed corpus. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fa_fuzz_csv_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fa_fuzz_csv_one(data, size); }
#endif
