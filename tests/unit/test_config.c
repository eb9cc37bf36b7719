/*
 * test_config.c: the shared option-table parser (opttab.c) and the run/suite/data table
 * (config.c): the forms a flag may take, presets applied first, "--" and positional
 * words (what bench needs), several tables over several structs (what export needs),
 * every enum name parsed and printed back from its one table, and the affects-results
 * bits behind the config hash and the result_keys list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fedalign/config.h"
#include "fedalign/opttab.h"
#include "fedalign/store.h"

// ----------------------------------------------------------------------------
// a command of its own, the way bench and export use the parser

typedef struct {
    size_t reps;
    double min_time;
    bool quick;
    int sub; /* positional words seen */
    char out[32];
} Opts;

static int count_word(void *ctx, const char *w, char *err, size_t errlen) {
    if (strcmp(w, "bad") == 0) return snprintf(err, errlen, "bad word"), -1;
    ((Opts *)ctx)->sub++;
    return 0;
}

static const OptDef my_opts[] = {
    {.name = "reps", .arg = "N", .type = OPT_SIZE, OPT_FIELD(Opts, reps), .lo = 1, .hi = 100},
    {.name = "min-time", .arg = "S", .type = OPT_DOUBLE, OPT_FIELD(Opts, min_time), .lo = 0,
     .hi = 10},
    {.name = "quick", .type = OPT_FLAG, OPT_FIELD(Opts, quick)},
    {.name = "out", .arg = "F", .type = OPT_STR, OPT_FIELD(Opts, out), .flags = OPT_NONEMPTY},
};

static int parse_mine(Opts *o, int argc, char **argv, int *rest, char *err) {
    memset(o, 0, sizeof *o);
    OptSet set = {my_opts, sizeof my_opts / sizeof my_opts[0], o};
    OptSpec spec = {.sets = &set, .n_sets = 1, .positional = count_word, .positional_ctx = o,
                    .dashdash = true, .help_hint = "mine --help"};
    return opt_parse(&spec, argc, argv, 0, rest, err, 256);
}

static void test_opt_forms(void **state) {
    (void)state;
    Opts o;
    int rest;
    char err[256];
    char *a1[] = {"train", "--reps", "7", "--min-time=0.5", "--quick", "peak", "--", "--lr", "1"};
    assert_int_equal(parse_mine(&o, 9, a1, &rest, err), 0);
    assert_int_equal(o.reps, 7);
    assert_true(o.min_time == 0.5);
    assert_true(o.quick);
    assert_int_equal(o.sub, 2);
    assert_int_equal(rest, 7); /* "--lr 1" is left to the caller */
    char *a2[] = {"--reps", "0"};
    assert_int_equal(parse_mine(&o, 2, a2, &rest, err), -1);
    assert_non_null(strstr(err, "--reps: 0 is out of range [1, 100]"));
    char *a3[] = {"--quick=yes"};
    assert_int_equal(parse_mine(&o, 1, a3, &rest, err), -1);
    assert_non_null(strstr(err, "--quick takes no value"));
    char *a4[] = {"--reps"};
    assert_int_equal(parse_mine(&o, 1, a4, &rest, err), -1);
    assert_non_null(strstr(err, "--reps needs a value (N)"));
    char *a5[] = {"--nope"};
    assert_int_equal(parse_mine(&o, 1, a5, &rest, err), -1);
    assert_non_null(strstr(err, "unknown option '--nope' (see mine --help)"));
    char *a6[] = {"bad"};
    assert_int_equal(parse_mine(&o, 1, a6, &rest, err), -1);
    assert_string_equal(err, "bad word");
    char *a7[] = {"--out", ""};
    assert_int_equal(parse_mine(&o, 2, a7, &rest, err), -1);
    char *a8[] = {"--reps", "3", "-h", "--nope"};
    assert_int_equal(parse_mine(&o, 4, a8, &rest, err), OPT_HELP);
}

/* two tables over two structs, as `fedalign export` parses its flags and the run's */
static void test_opt_two_tables(void **state) {
    (void)state;
    static Config c;
    Opts o;
    memset(&o, 0, sizeof o);
    config_defaults(&c);
    OptSet sets[2] = {{my_opts, sizeof my_opts / sizeof my_opts[0], &o}, config_option_set(&c)};
    OptSpec spec = {.sets = sets, .n_sets = 2};
    char *argv[] = {"--rounds", "9", "--reps", "4", "--preset", "tiny", "--score", "loss"};
    char err[256];
    assert_int_equal(opt_parse(&spec, 8, argv, 0, NULL, err, sizeof err), 0);
    assert_int_equal(o.reps, 4);
    assert_int_equal(c.rounds, 9); /* the preset applies first, wherever it stands */
    assert_int_equal(c.clients, 4);
    assert_int_equal(c.score, FA_SCORE_LOSS);
}

// ----------------------------------------------------------------------------
// the run/suite/data table

static int parse_run(Config *c, const char *flag, const char *value, char *err) {
    char *argv[] = {"fedalign", "run", (char *)flag, (char *)value};
    config_defaults(c);
    return config_parse(c, value ? 4 : 3, argv, err, 256);
}

typedef struct {
    const char *want;
    char got[256];
} FindCtx;

static void find_key(void *ctx, const char *key, const char *value) {
    FindCtx *f = ctx;
    if (strcmp(key, f->want) == 0) snprintf(f->got, sizeof f->got, "%s", value);
}

static const char *value_of(const Config *c, const char *key, FindCtx *f) {
    f->want = key;
    snprintf(f->got, sizeof f->got, "(absent)");
    config_visit(c, find_key, f);
    return f->got;
}

/* every name of every enum table parses and prints back as itself */
static void test_enum_round_trip(void **state) {
    (void)state;
    static Config c;
    char err[256];
    FindCtx f;
    const struct {
        const char *flag;
        const FaEnum *e;
    } t[] = {{"method", &fa_enum_method},         {"preset", &fa_enum_preset},
             {"score", &fa_enum_score},           {"reference", &fa_enum_reference},
             {"init", &fa_enum_init},             {"threads-over", &fa_enum_threads_over},
             {"late", &fa_enum_late},             {"optimizer", &fa_enum_optimizer},
             {"assign", &fa_enum_assign},
             {"client-batch", &fa_enum_client_batch}};
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", t[k].flag);
        for (int v = 0; v < t[k].e->n; v++) {
            const char *name = fa_enum_name(t[k].e, v);
            assert_int_equal(fa_enum_value(t[k].e, name), v);
            assert_int_equal(parse_run(&c, flag, name, err), 0);
            assert_string_equal(value_of(&c, t[k].flag, &f), name);
        }
        assert_int_equal(parse_run(&c, flag, "bogus", err), -1);
        assert_non_null(strstr(err, "'bogus'"));
    }
    for (int v = 1; v < fa_enum_attack.n; v++) {
        char spec[64];
        snprintf(spec, sizeof spec, "%s:0.25", fa_enum_name(&fa_enum_attack, v));
        assert_int_equal(parse_run(&c, "--attack", spec, err), 0);
        assert_int_equal(c.attack, v);
        assert_string_equal(value_of(&c, "attack", &f), spec);
    }
    assert_int_equal(parse_run(&c, "--late", "discount", err), 0);
    assert_true(c.late_discount);
    assert_int_equal(parse_run(&c, "--ablate", "similarity,phase0", err), 0);
    assert_int_equal(c.ablate, FA_ABLATE_PHASE0 | FA_ABLATE_SIMILARITY);
    assert_string_equal(value_of(&c, "ablate", &f), "phase0,similarity");
    assert_string_equal(value_of(&c, "describe", &f), "(absent)"); /* a command's own flag */
}

static void test_result_bits(void **state) {
    (void)state;
    static Config a, b;
    char err[256];
    const char *keys = config_result_keys();
    char padded[2200];
    snprintf(padded, sizeof padded, ",%s,", keys);
    const char *in[] = {",seed,", ",lr,", ",clients,", ",attack,", ",no-int8,", ",target-acc,"};
    const char *out[] = {",output,", ",save-models,", ",quiet,", ",threads-over,",
                         ",checkpoint-every,", ",describe,", ",resume,", ",assign,"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) assert_non_null(strstr(padded, in[i]));
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++) assert_null(strstr(padded, out[i]));

    /* the hash: results and what is written change it; paths, verbosity, threads do not */
    assert_int_equal(parse_run(&a, "--quiet", NULL, err), 0);
    uint64_t h0 = store_config_hash(&a);
    assert_int_equal(parse_run(&b, "--output", "x.h5", err), 0);
    assert_true(store_config_hash(&b) == h0);
    assert_int_equal(parse_run(&b, "--threads-over", "batch", err), 0);
    assert_true(store_config_hash(&b) == h0);
    /* a checkpoint resumes under the other assignment (test_repro does it) */
    assert_int_equal(parse_run(&b, "--assign", "balanced", err), 0);
    assert_true(store_config_hash(&b) == h0);
    assert_int_equal(parse_run(&b, "--save-models", NULL, err), 0);
    assert_true(store_config_hash(&b) != h0);
    assert_int_equal(parse_run(&b, "--lr", "0.01", err), 0);
    assert_true(store_config_hash(&b) != h0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opt_forms),
        cmocka_unit_test(test_opt_two_tables),
        cmocka_unit_test(test_enum_round_trip),
        cmocka_unit_test(test_result_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
