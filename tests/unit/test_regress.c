/*
 * test_regress.c: every input the fuzzers were ever fed that mattered, replayed
 * through the fuzz harnesses' own checks (tests/fuzz/fuzz_csv.c, fuzz_config.c,
 * compiled here with FA_FUZZ_NO_MAIN and linked against fedalign_core):
 *   - tests/data/regress/csv-*     inputs that once crashed or broke csv_load's contract
 *   - tests/data/regress/config-*  the same for config_parse/config_validate
 *   - tests/fuzz/corpus_csv/, tests/fuzz/corpus_config/   the seed corpora
 * Input format: as the fuzzers read it (csv: 3 bytes choosing the CsvSpec, then the
 * file; config: argv words separated by newlines). A contract violation aborts with
 * "contract violated: ..." after the file name is printed; memory errors show under
 * the ASan build of tests/run.sh. This runs without clang, so a crash found once by
 * the fuzzers stays tested everywhere.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define FA_FUZZ_NO_MAIN
#include "fuzz/fuzz_config.c"
#include "fuzz/fuzz_csv.c"

typedef int (*OneInput)(const uint8_t *data, size_t size);

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Feed every regular file in dir whose name starts with prefix ("" = all), in name
 * order; returns how many. */
static size_t replay_dir(const char *dir, const char *prefix, OneInput one) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix)) != 0) continue;
        if (strcmp(e->d_name, "README.md") == 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            names = realloc(names, cap * sizeof *names);
            assert_non_null(names);
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    size_t fed = 0;
    for (size_t i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *fp = fopen(path, "rb");
        assert_non_null(fp);
        fseek(fp, 0, SEEK_END);
        long len = ftell(fp);
        fseek(fp, 0, SEEK_SET);
        assert_true(len >= 0);
        uint8_t *buf = malloc((size_t)len + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
        fclose(fp);
        fprintf(stderr, "replay %s\n", path); /* names the input if the next call aborts */
        assert_int_equal(one(buf, (size_t)len), 0);
        free(buf);
        free(names[i]);
        fed++;
    }
    free(names);
    return fed;
}

static void test_csv_inputs(void **state) {
    (void)state;
    fa_fuzz_csv_init();
    size_t n = replay_dir(FA_TEST_DATA_DIR "/regress", "csv-", fa_fuzz_csv_one);
    size_t seeds = replay_dir(FA_TEST_DATA_DIR "/../fuzz/corpus_csv", "", fa_fuzz_csv_one);
    print_message("csv: %zu regression inputs, %zu seeds\n", n, seeds);
    assert_true(seeds > 0);
}

static void test_config_inputs(void **state) {
    (void)state;
    fa_fuzz_config_init();
    size_t n = replay_dir(FA_TEST_DATA_DIR "/regress", "config-", fa_fuzz_config_one);
    size_t seeds = replay_dir(FA_TEST_DATA_DIR "/../fuzz/corpus_config", "", fa_fuzz_config_one);
    print_message("config: %zu regression inputs, %zu seeds\n", n, seeds);
    assert_true(seeds > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_inputs),
        cmocka_unit_test(test_config_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
