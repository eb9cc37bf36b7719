/*
 * test_train_batched.c: the client-batched kernel (train_batched.c) against train_local,
 * bit for bit.
 *
 * Each case trains the same clients twice, one by one with train_local and in groups
 * with train_local_group, and compares every parameter's bits and the TrainStats (loss
 * bits, steps, samples): clients with unequal row counts in one group (empty ones, fewer
 * rows than a batch, different step counts, a last mini-batch that differs per lane and
 * mixes power-of-two and other sizes), batch sizes that are not multiples of FA_CHUNK,
 * fractional epochs, Adam and SGD, FedProx, different starting models and
 * standardizations per client, odd layer widths and a model without hidden layers, and
 * partly filled groups. Also: a client's result does not depend on its lane or group.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fedalign/model.h"
#include "fedalign/rng.h"
#include "fedalign/train_batched.h"

/* client c's data: n rows of D features (scaled and shifted so the standardization
 * matters), labels in [0, K) */
static void client_data(Dataset *ds, size_t n, size_t D, size_t K, uint64_t c) {
    ds->n = n;
    ds->d = D;
    ds->x = malloc((n ? n : 1) * D * sizeof(float));
    ds->y = malloc((n ? n : 1) * sizeof(int32_t));
    assert_non_null(ds->x);
    assert_non_null(ds->y);
    Rng r;
    rng_init(&r, 11, FA_RNG_TEST, c, 0, 0);
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)(rng_uniform(&r) * (double)K) % K;
        ds->y[i] = (int32_t)k;
        for (size_t j = 0; j < D; j++)
            ds->x[i * D + j] =
                (float)((j == k % D ? 2.0 : 0.0) + rng_normal(&r) * (1.0 + j) + 3.0 * (double)j);
    }
}

typedef struct {
    ModelShape shape;
    size_t n_clients;
    const size_t *rows; /* per client */
    TrainOpts o;
    bool prox;
    size_t group; /* clients per group (<= lanes) */
} Case;

static TrainOpts opts(FaOptimizer opt, size_t batch, double epochs, double mu) {
    TrainOpts o = {.opt = opt,
                   .lr = opt == FA_OPT_ADAM ? 3e-3 : 0.05,
                   .beta1 = 0.9,
                   .beta2 = 0.999,
                   .eps = 1e-7,
                   .batch = batch,
                   .epochs = epochs,
                   .mu = mu};
    return o;
}

static void run_case(const Case *k) {
    size_t G = train_group_lanes();
    if (G == 0) skip();
    ModelLayout L;
    size_t P = model_layout(&L, &k->shape), C = k->n_clients, D = k->shape.n_in;
    Dataset *ds = calloc(C, sizeof *ds);
    float *a = malloc(C * P * sizeof(float)), *b = malloc(C * P * sizeof(float));
    float *ref = malloc(P * sizeof(float));
    TrainStats *sa = calloc(C, sizeof *sa), *sb = calloc(C, sizeof *sb);
    model_init(&L, ref, 3, 99);
    for (size_t c = 0; c < C; c++) {
        client_data(&ds[c], k->rows[c], D, k->shape.n_out, c);
        model_init(&L, a + c * P, 3, c); /* a different start per client */
        double mean[FA_MAX_FEATURES], sd[FA_MAX_FEATURES];
        for (size_t j = 0; j < D; j++) {
            mean[j] = 3.0 * (double)j + 0.1 * (double)c;
            sd[j] = 1.0 + (double)j + 0.01 * (double)c;
        }
        model_set_norm(&L, a + c * P, mean, sd);
    }
    memcpy(b, a, C * P * sizeof(float));
    Workspace ws;
    workspace_build(&ws, &L, k->o.batch);
    for (size_t c = 0; c < C; c++)
        train_local(&L, a + c * P, k->prox ? ref : NULL, &ds[c], &k->o, 7, 100 + c, 5, &ws, false,
                    &sa[c]);
    workspace_free(&ws);
    GroupWs gw;
    group_ws_build(&gw, &L, k->o.batch);
    assert_int_equal(gw.lanes, G);
    size_t gs = k->group < G ? k->group : G;
    for (size_t c0 = 0; c0 < C; c0 += gs) {
        size_t n = C - c0 < gs ? C - c0 : gs;
        float *pp[FA_GROUP_MAX];
        const Dataset *dd[FA_GROUP_MAX];
        uint64_t id[FA_GROUP_MAX];
        for (size_t g = 0; g < n; g++) {
            pp[g] = b + (c0 + g) * P;
            dd[g] = &ds[c0 + g];
            id[g] = 100 + c0 + g;
        }
        train_local_group(&L, n, pp, k->prox ? ref : NULL, dd, &k->o, 7, id, 5, &gw, sb + c0);
    }
    group_ws_free(&gw);
    for (size_t c = 0; c < C; c++) {
        if (memcmp(a + c * P, b + c * P, P * sizeof(float)) != 0) {
            for (size_t q = 0; q < P; q++)
                if (memcmp(&a[c * P + q], &b[c * P + q], sizeof(float)) != 0) {
                    print_error("client %zu (%zu rows): param %zu %.9g (train_local) vs %.9g\n", c,
                                k->rows[c], q, (double)a[c * P + q], (double)b[c * P + q]);
                    break;
                }
            fail();
        }
        assert_int_equal(sa[c].steps, sb[c].steps);
        assert_int_equal(sa[c].samples, sb[c].samples);
        assert_memory_equal(&sa[c].loss_mean, &sb[c].loss_mean, sizeof(double));
    }
    for (size_t c = 0; c < C; c++) {
        free(ds[c].x);
        free(ds[c].y);
    }
    free(sb);
    free(sa);
    free(ref);
    free(b);
    free(a);
    free(ds);
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

/* 0 rows, fewer rows than a batch, one short of a chunk, and step counts that differ */
static const size_t ragged[] = {37, 0,  5,  7,  13, 64, 100, 101, 26, 1,
                                55, 90, 21, 20, 33, 48, 17,  64,  3,  200};
#define N_RAGGED (sizeof ragged / sizeof ragged[0])

/* Adam, batch 13 (not a multiple of FA_CHUNK), 2.3 epochs, the default model */
static void test_adam_ragged(void **state) {
    (void)state;
    Case k = {shape(6, 6, 2, 64, 32),          N_RAGGED, ragged,
              opts(FA_OPT_ADAM, 13, 2.3, 0.0), false,    FA_GROUP_MAX};
    run_case(&k);
}

/* batch 16: last batches of 4 (a power of two) and 5 in the same step */
static void test_adam_pow2_mix(void **state) {
    (void)state;
    static const size_t rows[] = {20, 21, 36, 16, 15, 1, 64, 47};
    Case k = {shape(6, 6, 2, 64, 32),          8,     rows,
              opts(FA_OPT_ADAM, 16, 1.0, 0.0), false, FA_GROUP_MAX};
    run_case(&k);
}

static void test_sgd(void **state) {
    (void)state;
    Case k = {shape(6, 6, 2, 64, 32),        N_RAGGED, ragged,
              opts(FA_OPT_SGD, 8, 1.5, 0.0), false,    FA_GROUP_MAX};
    run_case(&k);
}

static void test_fedprox(void **state) {
    (void)state;
    Case k = {shape(6, 6, 2, 64, 32),          N_RAGGED, ragged,
              opts(FA_OPT_ADAM, 32, 1.0, 0.3), true,     FA_GROUP_MAX};
    run_case(&k);
    Case s = {shape(6, 6, 2, 64, 32),         N_RAGGED, ragged,
              opts(FA_OPT_SGD, 10, 0.7, 0.5), true,     FA_GROUP_MAX};
    run_case(&s);
}

/* odd widths (tails of every tile), models without hidden layers, three hidden layers */
static void test_shapes(void **state) {
    (void)state;
    Case k = {shape(5, 3, 2, 7, 3),           N_RAGGED, ragged,
              opts(FA_OPT_ADAM, 9, 1.4, 0.0), false,    FA_GROUP_MAX};
    run_case(&k);
    Case lin = {shape(4, 2, 0, 0, 0),           N_RAGGED, ragged,
                opts(FA_OPT_ADAM, 6, 2.0, 0.0), false,    FA_GROUP_MAX};
    run_case(&lin);
    /* 6 inputs (the narrow-layer block of train_batched.c) into odd widths, and straight
     * into 3 outputs */
    Case n6 = {shape(6, 3, 1, 7, 0),           N_RAGGED, ragged,
               opts(FA_OPT_ADAM, 11, 1.3, 0.0), false,    FA_GROUP_MAX};
    run_case(&n6);
    Case n6lin = {shape(6, 3, 0, 0, 0),           N_RAGGED, ragged,
                  opts(FA_OPT_ADAM, 32, 1.0, 0.0), false,    FA_GROUP_MAX};
    run_case(&n6lin);
    ModelShape s3 = shape(12, 5, 3, 17, 9);
    s3.hidden[2] = 4;
    Case deep = {s3, N_RAGGED, ragged, opts(FA_OPT_ADAM, 1, 0.25, 0.0), false, FA_GROUP_MAX};
    run_case(&deep);
}

/* groups of 1, 3 and 5: a client's bits do not depend on its lane or group */
static void test_group_sizes(void **state) {
    (void)state;
    for (size_t gs = 1; gs <= 5; gs += 2) {
        Case k = {shape(6, 6, 2, 64, 32),          N_RAGGED, ragged,
                  opts(FA_OPT_ADAM, 32, 1.0, 0.0), false,    gs};
        run_case(&k);
    }
}

/* an untrained model is returned as it came; no epochs: no step */
static void test_zero_epochs(void **state) {
    (void)state;
    Case k = {shape(6, 6, 2, 64, 32),          N_RAGGED, ragged,
              opts(FA_OPT_ADAM, 32, 0.0, 0.0), false,    FA_GROUP_MAX};
    run_case(&k);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_ragged), cmocka_unit_test(test_adam_pow2_mix),
        cmocka_unit_test(test_sgd),         cmocka_unit_test(test_fedprox),
        cmocka_unit_test(test_shapes),      cmocka_unit_test(test_group_sizes),
        cmocka_unit_test(test_zero_epochs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
