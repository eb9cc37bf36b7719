/*
 * fuzz_config.c: libFuzzer harness for the command-line parser (src/config.c).
 *
 * The input is split into argv words at '\n' and '\0' (so corpus files hold one
 * argument per line and words may contain spaces); argv[0] is "fedalign". Each
 * input runs config_defaults + config_parse + config_validate, exactly as main()
 * does on every rank, then, when both accept, prints the configuration table and
 * visits every value (what the banner and the results file do).
 *
 * Oracles: ASan/UBSan, abort() from the die()/fa_fail() shim (config_parse and
 * config_validate never exit; they must return -1 with a message), libFuzzer's
 * -timeout (no hang), and a few invariants of an accepted configuration checked
 * below: the ranges the option table promises, the cross-flag rules that
 * config_validate states, terminated strings.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/config.h"

#define MAX_WORDS 512

static FILE *g_null;

static void cfg_check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_config: contract violated: %s\n", what);
        abort();
    }
}

static void cfg_visit(void *ctx, const char *key, const char *value) {
    size_t *n = ctx;
    cfg_check(key != NULL && value != NULL, "visitor gets strings");
    *n += strlen(key) + strlen(value);
}

void fa_fuzz_config_init(void) {
    g_null = fopen("/dev/null", "w");
    if (!g_null) abort();
    config_usage(g_null); /* once: the --help path with live defaults */
}

int fa_fuzz_config_one(const uint8_t *data, size_t size) {
    /* own, NUL-terminated copy; words are the pieces between separators */
    char *buf = malloc(size + 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[MAX_WORDS + 2];
    int argc = 0;
    argv[argc++] = (char *)"fedalign";
    char *w = buf;
    for (size_t i = 0; i <= size && argc < MAX_WORDS + 1; i++) {
        if (i == size && size > 0 && w == buf + size) break; /* final separator: no empty word */
        if (i == size || buf[i] == '\n' || buf[i] == '\0') {
            buf[i] = '\0';
            argv[argc++] = w; /* empty words inside are kept: `fedalign run ""` is possible */
            w = buf + i + 1;
        }
    }
    argv[argc] = NULL;

    static Config c; /* large; static as in main.c */
    char err[1024];
    config_defaults(&c);
    err[0] = '\0';
    int rc = config_parse(&c, argc, argv, err, sizeof err);
    if (rc == 0) {
        rc = config_validate(&c, err, sizeof err);
        if (rc != 0) cfg_check(err[0] != '\0', "config_validate gives a message");
    } else {
        cfg_check(rc == -1 && err[0] != '\0', "config_parse gives -1 and a message");
    }
    cfg_check(memchr(err, '\0', sizeof err) != NULL, "message terminated");
    if (rc == 0 && c.command != FA_CMD_HELP) {
        /* what the option table promises about an accepted configuration */
        cfg_check(c.clients >= 1, "clients >= 1");
        cfg_check(c.client_frac > 0.0 && c.client_frac <= 1.0, "0 < client-frac <= 1");
        cfg_check(c.local.lr > 0.0 && c.p0_lr > 0.0 && c.p3_lr > 0.0, "learning rates > 0");
        cfg_check(c.local.batch >= 1, "batch >= 1");
        cfg_check(c.alpha > 0.0, "alpha > 0");
        cfg_check(c.data.part.kind != FA_PART_DIRICHLET || c.data.part.beta > 0.0, "beta > 0");
        cfg_check(c.data.split.val_frac + c.data.split.test_frac < 0.9, "val + test < 0.9");
        cfg_check(c.shape.n_hidden <= FA_MAX_HIDDEN, "hidden layers <= FA_MAX_HIDDEN");
        for (size_t l = 0; l < c.shape.n_hidden; l++)
            cfg_check(c.shape.hidden[l] >= 1 && c.shape.hidden[l] <= 4096, "hidden width range");
        cfg_check(c.method < FA_METHOD_COUNT, "method in range");
        /* the cross-flag rules config_validate states, whatever the other flags are */
        cfg_check(!c.ablate || c.method == FA_METHOD_FEDMETAALIGN,
                  "--ablate accepted for a method other than fedmetaalign");
        cfg_check(!c.export_dir[0] || c.command == FA_CMD_DATA,
                  "--export accepted outside 'fedalign data'");
        cfg_check(c.data.part.kind != FA_PART_COLUMN || c.data.kind == FA_DATA_CSV ||
                      c.data.kind == FA_DATA_H5,
                  "--partition column: accepted without a CSV or HDF5 dataset");
        cfg_check(!c.data.public_csv[0] || c.data.kind == FA_DATA_CSV,
                  "--public accepted without a CSV dataset");
        cfg_check(c.data.kind == FA_DATA_CSV || c.data.kind == FA_DATA_H5 ||
                      c.data.samples_per_client >= c.data.part.min_per_client,
                  "--samples below --min-samples accepted");
        cfg_check(memchr(c.out_path, '\0', sizeof c.out_path) && memchr(c.resume_path, '\0', sizeof c.resume_path) &&
                  memchr(c.ckpt_path, '\0', sizeof c.ckpt_path) &&
                  memchr(c.data.csv.path, '\0', sizeof c.data.csv.path),
              "paths terminated");
        size_t total = 0;
        config_visit(&c, cfg_visit, &total);
        config_visit_results(&c, cfg_visit, &total);
        config_print(&c, g_null);
    }
    free(buf);
    return 0;
}

#ifndef FA_FUZZ_NO_MAIN
/* libFuzzer entry points; tests/unit/test_regress.c defines FA_FUZZ_NO_MAIN and
 * calls the two functions above on the regression inputs and the seed corpus. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fa_fuzz_config_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fa_fuzz_config_one(data, size); }
#endif
