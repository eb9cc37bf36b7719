/*
 * test_eval_batched.c: the group evaluation (eval_batched.c) against model_evaluate, bit
 * for bit, on every ISA path this machine runs.
 *
 * Each case evaluates the same models on the same data sets twice, one by one with
 * model_evaluate and in groups with eval_local_group, and compares n, correct, the
 * confusion counts and the loss bits (NaN when the loss is not asked for): data sets of
 * unequal sizes in one group (empty, one row, one short of a chunk, several blocks of the
 * workspace), evaluation batches that are and are not multiples of FA_CHUNK, a different
 * model and standardization per lane, odd layer widths, a model without hidden layers,
 * partly filled groups, and the models train_local_group leaves in its workspace (the
 * round's score evaluation reads them there).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fedalign/eval_batched.h"
#include "fedalign/isa.h"
#include "fedalign/model.h"
#include "fedalign/rng.h"
#include "fedalign/train_batched.h"

/* data set c: n rows of D features (shifted and scaled so the standardization matters),
 * labels in [0, K) */
static void client_data(Dataset *ds, size_t n, size_t D, size_t K, uint64_t c) {
    ds->n = n;
    ds->d = D;
    ds->x = malloc((n ? n : 1) * D * sizeof(float));
    ds->y = malloc((n ? n : 1) * sizeof(int32_t));
    assert_non_null(ds->x);
    assert_non_null(ds->y);
    Rng r;
    rng_init(&r, 13, FA_RNG_TEST, c, 0, 0);
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)(rng_uniform(&r) * (double)K) % K;
        ds->y[i] = (int32_t)k;
        for (size_t j = 0; j < D; j++)
            ds->x[i * D + j] =
                (float)((j == k % D ? 2.0 : 0.0) + rng_normal(&r) * (1.0 + j) + 3.0 * (double)j);
    }
}

static ModelShape shape(size_t D, size_t K, size_t nh, size_t h0, size_t h1) {
    ModelShape s;
    memset(&s, 0, sizeof s);
    s.n_in = D;
    s.n_out = K;
    s.n_hidden = nh;
    s.hidden[0] = h0;
    s.hidden[1] = h1;
    return s;
}

static void expect_same(const EvalResult *a, const EvalResult *b, size_t K, bool loss, size_t c) {
    if (a->n != b->n || a->correct != b->correct)
        print_error("data set %zu: n %zu/%zu correct %zu/%zu\n", c, a->n, b->n, a->correct,
                    b->correct);
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->correct, b->correct);
    assert_memory_equal(a->confusion, b->confusion, K * K * sizeof(size_t));
    assert_memory_equal(&a->acc, &b->acc, sizeof(double));
    if (loss || a->n == 0) {
        if (memcmp(&a->loss, &b->loss, sizeof(double)) != 0)
            print_error("data set %zu (%zu rows): loss %.17g (model_evaluate) vs %.17g\n", c, a->n,
                        a->loss, b->loss);
        assert_memory_equal(&a->loss, &b->loss, sizeof(double));
    } else {
        assert_true(isnan(b->loss));
    }
}

/* 0 rows, 1, one short of a chunk, a chunk, several workspace blocks */
static const size_t ragged[] = {37, 0,  5,  7,  13, 64, 100, 101, 26, 1,
                                55, 90, 21, 20, 33, 48, 17,  8,   3,  200};
#define N_RAGGED (sizeof ragged / sizeof ragged[0])

/* every data set c evaluated with model c (its own weights and standardization), by
 * model_evaluate (batch_max bm) and in groups of gs through group_ws_load */
static void run_case(ModelShape s, size_t bm, size_t gws_batch, size_t gs) {
    ModelLayout L;
    const size_t P = model_layout(&L, &s), C = N_RAGGED, D = s.n_in, K = s.n_out;
    Dataset *ds = calloc(C, sizeof *ds);
    float *w = malloc(C * P * sizeof(float));
    EvalResult *ea = calloc(C, sizeof *ea), *eb = calloc(C, sizeof *eb);
    for (size_t c = 0; c < C; c++) {
        client_data(&ds[c], ragged[c], D, K, c);
        model_init(&L, w + c * P, 5, c);
        double mean[FA_MAX_FEATURES], sd[FA_MAX_FEATURES];
        for (size_t j = 0; j < D; j++) {
            mean[j] = 3.0 * (double)j + 0.1 * (double)c;
            sd[j] = 1.0 + (double)j + 0.01 * (double)c;
        }
        model_set_norm(&L, w + c * P, mean, sd);
    }
    Workspace ws;
    workspace_build(&ws, &L, bm);
    for (size_t c = 0; c < C; c++) model_evaluate(&L, w + c * P, &ds[c], &ws, false, &ea[c]);
    workspace_free(&ws);
    GroupWs gw;
    group_ws_build(&gw, &L, gws_batch);
    const size_t G = gw.lanes, g1 = gs < G ? gs : G;
    for (int loss = 0; loss <= 1; loss++) {
        for (size_t c0 = 0; c0 < C; c0 += g1) {
            size_t n = C - c0 < g1 ? C - c0 : g1;
            const float *pp[FA_GROUP_MAX];
            const Dataset *dd[FA_GROUP_MAX];
            for (size_t g = 0; g < n; g++) {
                pp[g] = w + (c0 + g) * P;
                dd[g] = &ds[c0 + g];
            }
            group_ws_load(&gw, &L, n, pp);
            eval_local_group(&L, n, dd, bm, loss, &gw, eb + c0);
        }
        for (size_t c = 0; c < C; c++) expect_same(&ea[c], &eb[c], K, loss, c);
    }
    group_ws_free(&gw);
    for (size_t c = 0; c < C; c++) {
        free(ds[c].x);
        free(ds[c].y);
    }
    free(eb);
    free(ea);
    free(w);
    free(ds);
}

/* every ISA path this build and CPU have */
static size_t for_paths(void (*fn)(void)) {
    size_t ran = 0;
    for (int p = FA_ISA_SSE2; p < FA_ISA_COUNT; p++) {
        if (!isa_available((FaIsa)p)) continue;
        isa_use((FaIsa)p);
        if (train_group_lanes() == 0) continue;
        fn();
        ran++;
    }
    return ran;
}

static void default_model(void) {
    run_case(shape(6, 6, 2, 64, 32), 256, 32, FA_GROUP_MAX);
    run_case(shape(6, 6, 2, 64, 32), 13, 32, FA_GROUP_MAX); /* batches not a chunk multiple */
    run_case(shape(6, 6, 2, 64, 32), 8, 5, FA_GROUP_MAX);   /* blocks of a few rows */
}

static void test_default_model(void **state) {
    (void)state;
    if (for_paths(default_model) == 0) skip();
}

static void shapes(void) {
    run_case(shape(5, 3, 2, 7, 3), 20, 9, FA_GROUP_MAX); /* tails of every tile */
    run_case(shape(4, 2, 0, 0, 0), 256, 6, FA_GROUP_MAX);
    ModelShape s3 = shape(12, 5, 3, 17, 9);
    s3.hidden[2] = 4;
    run_case(s3, 3, 1, FA_GROUP_MAX);
}

static void test_shapes(void **state) {
    (void)state;
    if (for_paths(shapes) == 0) skip();
}

/* groups of 1, 3 and 5: a data set's result does not depend on its lane or group */
static void group_sizes(void) {
    for (size_t gs = 1; gs <= 5; gs += 2) run_case(shape(6, 6, 2, 64, 32), 256, 32, gs);
}

static void test_group_sizes(void **state) {
    (void)state;
    if (for_paths(group_sizes) == 0) skip();
}

/* the models train_local_group leaves in gw->p, evaluated there, against model_evaluate of
 * the parameters it returned (what client_group in fl_round.c relies on) */
static void after_training(void) {
    ModelShape s = shape(6, 6, 2, 64, 32);
    ModelLayout L;
    const size_t P = model_layout(&L, &s), n = 11;
    TrainOpts o = {.opt = FA_OPT_ADAM,
                   .lr = 3e-3,
                   .beta1 = 0.9,
                   .beta2 = 0.999,
                   .eps = 1e-7,
                   .batch = 32,
                   .epochs = 1.0};
    Dataset tr[16], va[16];
    float *w = malloc(n * P * sizeof(float));
    float *pp[FA_GROUP_MAX];
    const Dataset *dt[FA_GROUP_MAX], *dv[FA_GROUP_MAX];
    uint64_t id[FA_GROUP_MAX];
    for (size_t g = 0; g < n; g++) {
        client_data(&tr[g], ragged[g], 6, 6, 100 + g);
        client_data(&va[g], ragged[N_RAGGED - 1 - g] / 3, 6, 6, 200 + g);
        model_init(&L, w + g * P, 5, 7);
        pp[g] = w + g * P;
        dt[g] = &tr[g];
        dv[g] = &va[g];
        id[g] = g;
    }
    GroupWs gw;
    group_ws_build(&gw, &L, o.batch);
    /* the SSE2 path's 4 lanes: the first four clients only */
    const size_t m = n < gw.lanes ? n : gw.lanes;
    train_local_group(&L, m, pp, NULL, dt, &o, 3, id, 1, &gw, NULL);
    EvalResult eb[FA_GROUP_MAX], ea;
    eval_local_group(&L, m, dv, 256, true, &gw, eb);
    Workspace ws;
    workspace_build(&ws, &L, 256);
    for (size_t g = 0; g < m; g++) {
        model_evaluate(&L, w + g * P, &va[g], &ws, false, &ea);
        expect_same(&ea, &eb[g], 6, true, g);
    }
    workspace_free(&ws);
    group_ws_free(&gw);
    for (size_t g = 0; g < n; g++) {
        free(tr[g].x);
        free(tr[g].y);
        free(va[g].x);
        free(va[g].y);
    }
    free(w);
}

static void test_after_training(void **state) {
    (void)state;
    if (for_paths(after_training) == 0) skip();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_model),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_group_sizes),
        cmocka_unit_test(test_after_training),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
