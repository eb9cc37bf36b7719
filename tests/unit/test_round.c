/*
 * test_round.c: the fast paths of round_accumulate give the bits of the general path.
 *
 * round.c chooses a fused one-pass path when the weight is known before the delta (rows,
 * uniform, the mean reference's first pass) and a one-pass cosine path for the dual
 * criterion against the previous update; attackers and clipping take the general path.
 * Here the same trained models go through both (RoundRule.general_only forces the
 * general path) and every output is compared bit for bit: the thread accumulators, the
 * stored deltas and norms, and each client's status, weight and cosine. Late clients
 * (staleness discount) and rejected updates (an element beyond FA_UPDATE_MAX) are in the
 * mix, so their branches are compared too. The second pass of the mean reference
 * (several clients per sweep) is compared with its one-client-at-a-time definition.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "fedalign/aggregate.h"
#include "fedalign/round.h"
#include "fedalign/rng.h"

#define NC 23  /* clients */
#define P 517  /* parameters (odd: vector tails) */

typedef struct {
    float *global, *ref, *trained; /* (P), (P), (NC, P) */
    size_t rows[NC];
    double score[NC], time[NC];
    bool late[NC];
} Inputs;

static void make_inputs(Inputs *in) {
    Rng r;
    rng_init(&r, 11, FA_RNG_TEST, 0, 0, 0);
    in->global = malloc(P * sizeof(float));
    in->ref = malloc(P * sizeof(float));
    in->trained = malloc((size_t)NC * P * sizeof(float));
    for (size_t i = 0; i < P; i++) in->global[i] = (float)rng_normal(&r);
    for (size_t i = 0; i < P; i++) in->ref[i] = (float)(0.01 * rng_normal(&r));
    for (size_t t = 0; t < NC; t++) {
        for (size_t i = 0; i < P; i++)
            in->trained[t * P + i] = in->global[i] + (float)(0.02 * rng_normal(&r));
        in->rows[t] = 10 + (size_t)rng_below(&r, 90);
        in->score[t] = rng_uniform(&r);
        in->late[t] = t % 5 == 3;
        in->time[t] = 1.0 + 4.0 * rng_uniform(&r);
    }
    in->trained[7 * P + 100] = 3.0e4f; /* beyond FA_UPDATE_MAX: rejected */
}

static void free_inputs(Inputs *in) {
    free(in->global);
    free(in->ref);
    free(in->trained);
}

typedef struct {
    RoundBuf b;
    ClientUpdate u[NC];
    float *stored; /* (NC, P) */
    double norm2[NC];
} Outputs;

/* every client through round_accumulate, clients spread over 3 "threads" */
static void run(const Inputs *in, RoundRule rr, bool general, Outputs *out) {
    rr.general_only = general;
    round_buf_init(&out->b, P, 3);
    round_begin(&out->b);
    out->stored = calloc((size_t)NC * P, sizeof(float));
    memset(out->norm2, 0, sizeof out->norm2); /* written by the mean reference only */
    const double refnorm2 = vec_dot(in->ref, in->ref, P);
    float *w = malloc(P * sizeof(float));
    for (size_t t = 0; t < NC; t++) {
        ClientUpdate *u = &out->u[t];
        *u = client_update_init(FA_ST_SELECTED | (in->late[t] ? FA_ST_LATE : 0u), in->score[t], 0.5,
                                 in->time[t]);
        memcpy(w, in->trained + t * P, P * sizeof(float));
        const bool store = round_two_pass(&rr);
        /* in place, as the runs call it (the benchmark passes a separate model) */
        round_accumulate(&out->b, (int)(t % 3), &rr, u, w, w, in->global, in->ref, refnorm2,
                         in->rows[t], NULL, store ? out->stored + t * P : NULL,
                         store ? &out->norm2[t] : NULL);
    }
    free(w);
}

static void free_outputs(Outputs *o) {
    round_buf_free(&o->b);
    free(o->stored);
}

static void assert_same(const Outputs *a, const Outputs *b) {
    const size_t m = (size_t)a->b.nthreads * (P + ROUND_NSCALARS);
    assert_memory_equal(a->b.tacc, b->b.tacc, m * sizeof(int64_t));
    for (size_t t = 0; t < NC; t++) {
        assert_int_equal(a->u[t].status, b->u[t].status);
        assert_int_equal(a->u[t].q, b->u[t].q);
        assert_memory_equal(&a->u[t].theta, &b->u[t].theta, sizeof(double));
        /* a rejected update's stored row is never read (the fused path writes it anyway) */
        if (!(a->u[t].status & FA_ST_AGGREGATED)) continue;
        assert_memory_equal(a->stored + t * P, b->stored + t * P, P * sizeof(float));
        assert_memory_equal(&a->norm2[t], &b->norm2[t], sizeof(double));
    }
    for (int t = 0; t < a->b.nthreads; t++) assert_int_equal(a->b.tok[t], b->b.tok[t]);
}

static void compare_paths(RoundRule rr) {
    Inputs in;
    make_inputs(&in);
    Outputs fast, general;
    run(&in, rr, false, &fast);
    run(&in, rr, true, &general);
    assert_same(&fast, &general);
    /* the run did something: the rejected client is rejected, the others aggregated */
    assert_true(fast.u[7].status & FA_ST_REJECTED);
    size_t agg = 0;
    for (size_t t = 0; t < NC; t++) agg += (fast.u[t].status & FA_ST_AGGREGATED) != 0;
    assert_int_equal(agg, NC - 1);
    free_outputs(&fast);
    free_outputs(&general);
    free_inputs(&in);
}

static RoundRule rule(FaWeightRule w, bool mean_ref) {
    RoundRule rr = {0};
    rr.weight = w;
    rr.mean_reference = mean_ref;
    rr.floor_c = 0.1;
    rr.deadline = 2.0;
    return rr;
}

static void test_rows(void **s) { (void)s; compare_paths(rule(FA_WEIGHT_ROWS, false)); }
static void test_uniform(void **s) { (void)s; compare_paths(rule(FA_WEIGHT_UNIFORM, false)); }
static void test_dual_prev(void **s) { (void)s; compare_paths(rule(FA_WEIGHT_DUAL, false)); }
static void test_dual_mean_first_pass(void **s) { (void)s; compare_paths(rule(FA_WEIGHT_DUAL, true)); }

/* The weights the paths compute are the ones the rule names: rows, 1, or the quantized
 * dual criterion of the cosine to the reference; late clients discounted. */
static void test_weights_follow_rule(void **s) {
    (void)s;
    Inputs in;
    make_inputs(&in);
    Outputs o;
    run(&in, rule(FA_WEIGHT_ROWS, false), false, &o);
    assert_int_equal(o.u[0].q, (int64_t)in.rows[0]);
    assert_int_equal(o.u[3].q, llround((double)in.rows[3] * 2.0 / in.time[3]));
    assert_true(o.u[3].status & FA_ST_DISCOUNTED);
    free_outputs(&o);
    run(&in, rule(FA_WEIGHT_UNIFORM, false), false, &o);
    assert_int_equal(o.u[0].q, 1);
    free_outputs(&o);
    run(&in, rule(FA_WEIGHT_DUAL, false), false, &o);
    float *d = malloc(P * sizeof(float));
    vec_sub(d, in.trained, in.global, P);
    double th = vec_cosine(d, in.ref, P);
    assert_memory_equal(&o.u[0].theta, &th, sizeof th);
    assert_int_equal(o.u[0].q, fl_quantize_weight(fa_dual_weight(in.score[0], th, 0.1)));
    free(d);
    free_outputs(&o);
    free_inputs(&in);
}

/* The second pass of the mean reference goes through the stored deltas FA_MULTI_MAX
 * clients at a time; here it is compared with the definition, one client at a time
 * (vec_dot with the mean, vec_cosine_parts, the rule's weight, the staleness discount,
 * fixed_accumulate_q), for 1..NC clients (odd counts, groups cut short), late and rejected
 * clients, 1 or 3 threads, the dual and the rows rule with dynamics, and a client whose
 * |delta|^2 does not prove the range (the checked loop). */
static void second_pass_case(RoundRule rr, size_t n, bool over_clients, bool big) {
    Inputs in;
    make_inputs(&in);
    if (big) in.trained[2 * P + 5] = in.global[5] + 9.0e3f; /* < FA_UPDATE_MAX, |d|^2 > 5e3^2 */
    Outputs o;
    run(&in, rr, false, &o);
    RoundStore st = {o.stored, o.norm2, calloc(NC, sizeof(size_t))};
    /* the round's sums of the first pass, as the Allreduce leaves them on one rank */
    memset(o.b.acc, 0, (P + ROUND_NSCALARS) * sizeof(int64_t));
    for (int t = 0; t < 3; t++)
        assert_true(fixed_add(o.b.acc, round_thread_acc(&o.b, t), P + ROUND_NSCALARS));
    o.b.acc[P] = o.b.acc[P + ROUND_SLOT(selected)];
    ClientUpdate ref[NC];
    memcpy(ref, o.u, sizeof ref);
    float *mean = malloc(P * sizeof(float)), *mref = malloc(P * sizeof(float));
    const int64_t tot = o.b.acc[P];
    for (size_t i = 0; i < P; i++) mref[i] = (float)(fixed_to_double(o.b.acc[i]) / (double)tot);
    const double bb = vec_dot(mref, mref, P);
    int64_t *acc = calloc(P, sizeof(int64_t));
    bool ok = true;
    for (size_t t = 0; t < n; t++) {
        ClientUpdate *c = &ref[t];
        if (!(c->status & FA_ST_AGGREGATED)) continue;
        const float *d = o.stored + t * P;
        double th = vec_cosine_parts(vec_dot(d, mref, P), o.norm2[t], bb);
        if (rr.dynamics) c->cos_mean = th;
        int64_t q = c->q;
        if (rr.weight == FA_WEIGHT_DUAL) {
            c->theta = th;
            q = fl_quantize_weight(fa_dual_weight(c->score, th, rr.floor_c));
        }
        if (c->status & FA_ST_LATE) {
            q = llround((double)q * rr.deadline / c->time);
            c->status |= FA_ST_DISCOUNTED;
        }
        c->q = q;
        ok = ok && fixed_accumulate_q(acc, d, q, P);
    }
    assert_true(ok);
    round_weigh_stored(&o.b, &rr, o.u, n, &st, mean, over_clients);
    assert_memory_equal(mean, mref, P * sizeof(float));
    memset(o.b.acc, 0, (P + ROUND_NSCALARS) * sizeof(int64_t));
    for (int t = 0; t < 3; t++) {
        assert_true(o.b.tok[t]);
        assert_true(fixed_add(o.b.acc, round_thread_acc(&o.b, t), P));
    }
    assert_memory_equal(o.b.acc, acc, P * sizeof(int64_t));
    for (size_t t = 0; t < NC; t++) {
        assert_int_equal(o.u[t].status, ref[t].status);
        assert_int_equal(o.u[t].q, ref[t].q);
        assert_memory_equal(&o.u[t].theta, &ref[t].theta, sizeof(double));
        assert_memory_equal(&o.u[t].cos_mean, &ref[t].cos_mean, sizeof(double));
    }
    free(acc);
    free(mean);
    free(mref);
    free(st.alist);
    free_outputs(&o);
    free_inputs(&in);
}

static void test_second_pass_groups(void **s) {
    (void)s;
    RoundRule dual = rule(FA_WEIGHT_DUAL, true), dyn = rule(FA_WEIGHT_ROWS, true);
    dyn.mean_reference = false;
    dyn.dynamics = true;
    for (size_t n = 1; n <= NC; n++) {
        second_pass_case(dual, n, n % 2 == 0, false);
        second_pass_case(dyn, n, n % 2 == 1, n % 3 == 0);
    }
    second_pass_case(dual, NC, true, true);
}

/* RoundScalars travel as int64 slots: ROUND_SLOT names each field's slot. */
static void test_scalar_slots(void **s) {
    (void)s;
    RoundScalars x = {0};
    x.selected = 5;
    x.late = 9;
    int64_t slots[ROUND_NSCALARS];
    memcpy(slots, &x, sizeof x);
    assert_int_equal(slots[ROUND_SLOT(selected)], 5);
    assert_int_equal(slots[ROUND_SLOT(late)], 9);
    assert_int_equal(ROUND_SLOT(den), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_dual_prev),
        cmocka_unit_test(test_dual_mean_first_pass),
        cmocka_unit_test(test_weights_follow_rule),
        cmocka_unit_test(test_scalar_slots),
        cmocka_unit_test(test_second_pass_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
