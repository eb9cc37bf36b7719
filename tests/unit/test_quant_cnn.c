/*
 * test_quant_cnn.c: the int8 cnn1d (quant_cnn.c, the cnn1d kernels of int8_kernels.h).
 *
 * The pooling kernels against hand-computed values (max-pool keeps the scale, the mean
 * rounds half away from zero at exact ties); a cnn1d trained on class-dependent sinusoids
 * (windows built here, time-major), quantized on its train rows, against the float model on
 * held-out rows: the int8 class agrees with the float class on >= 95 % of the rows and the
 * int8 accuracy is within 3 points of the float accuracy, stated bounds (about 98 %
 * agreement at 94 % float accuracy observed; printed); the dequantized int8 logits are
 * within 0.25 of the float logits on average (about half an output step observed); quantization is deterministic and quant_eval_model dispatches to it.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fedalign/model.h"
#include "fedalign/quant.h"
#include "fedalign/rng.h"
#define FA_INT8_CNN
#include "../../src/int8_kernels.h"

/* in_scale / out_scale = 1: 2^30 * 2^(1 - 31) (quant_multiplier(1.0)) leaves the sum as it is */
#define ONE_MULT (1 << 30)
#define ONE_SHIFT 1

static void test_pool_kernels(void **state) {
    (void)state;
    /* (len 5, ch 2) time-major; pool 2 -> 2 steps (the fifth is dropped) */
    const int8_t in[10] = {-3, 7, 5, -128, 5, 9, 127, 9, -100, 100};
    int8_t out[4];
    kernel_maxpool(in, 2, 2, 2, out);
    assert_int_equal(out[0], 5);
    assert_int_equal(out[1], 7);
    assert_int_equal(out[2], 127);
    assert_int_equal(out[3], 9);
    /* mean over 4 steps with zp -1: channel 0 sums (x - zp) = 2 + 2 + 4 + 0 = 8 -> 2, + zp = 1;
     * channel 1: 1 + 2 + 3 + 0 = 6 -> 1.5 -> 2 (half away from zero), + zp = 1;
     * negative tie: -(2 + 0 + 0 + 4) = -6 -> -1.5 -> -2 */
    const int8_t m[8] = {1, 0, 1, 1, 3, 2, -1, -1};
    kernel_mean(m, 4, 2, -1, ONE_MULT, ONE_SHIFT, -1, out);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 1);
    const int8_t n[4] = {-3, -1, -1, -5};
    kernel_mean(n, 4, 1, -1, ONE_MULT, ONE_SHIFT, -1, out);
    assert_int_equal(out[0], -3);
    /* the extremes stay exact: sums of (x - zp) reach 255 * len */
    const int8_t s[3] = {127, 127, 127};
    kernel_mean(s, 3, 1, -128, ONE_MULT, ONE_SHIFT, -128, out);
    assert_int_equal(out[0], 127);
    /* requantized to a scale 4x finer (in_scale / out_scale = 4: Q31 2^30, shift 3) and
     * zero point -128: channel sums of (x - zp) 8 and 6 -> 32 and 24 -> /4 = 8 and 6 ->
     * -120 and -122; a ratio 2.5 (2^30 * 1.25 = 1342177280, shift 2): 8 * 2.5 = 20 -> 5,
     * 6 * 2.5 = 15 -> 3.75 -> 4 */
    kernel_mean(m, 4, 2, -1, 1 << 30, 3, -128, out);
    assert_int_equal(out[0], -120);
    assert_int_equal(out[1], -122);
    kernel_mean(m, 4, 2, -1, 1342177280, 2, -128, out);
    assert_int_equal(out[0], -128 + 5);
    assert_int_equal(out[1], -128 + 4);
}

/* n windows of T x C: class y sets the frequency, random phase and amplitude, noise */
static void ds_windows(Dataset *ds, size_t n, size_t T, size_t C, size_t K, uint64_t sub) {
    dataset_alloc(ds, n, T * C);
    Rng r;
    rng_init(&r, 21, FA_RNG_TEST, 6, 0, sub);
    for (size_t i = 0; i < n; i++) {
        ds->y[i] = (int32_t)rng_below(&r, K);
        double f = 0.10 + 0.04 * (double)ds->y[i], ph = 6.283 * rng_uniform(&r);
        double amp = 0.7 + 0.6 * rng_uniform(&r);
        for (size_t t = 0; t < T; t++)
            for (size_t c = 0; c < C; c++)
                ds->x[(i * T + t) * C + c] =
                    (float)(1.5 * (double)c + amp * (1.0 + (double)c) * sin(f * (double)t + ph) +
                            0.9 * rng_normal(&r));
    }
}

static void test_trained_agreement(void **state) {
    (void)state;
    const size_t T = 96, C = 2, K = 5;
    ModelShape s;
    memset(&s, 0, sizeof s);
    s.kind = FA_MODEL_CNN1D;
    s.win_len = T;
    s.win_ch = C;
    s.n_in = T * C;
    s.n_out = K;
    s.n_conv = 2;
    s.conv_ch[0] = 8, s.conv_k[0] = 7;
    s.conv_ch[1] = 12, s.conv_k[1] = 5;
    s.pool = 2;
    s.n_hidden = 1;
    s.hidden[0] = 16;
    ModelLayout L;
    size_t P = model_layout(&L, &s);
    Dataset tr, te;
    ds_windows(&tr, 400, T, C, K, 1);
    ds_windows(&te, 400, T, C, K, 2);
    /* per-input statistics of the train rows, pooled per channel by model_set_norm */
    double *mean = calloc(T * C, sizeof(double)), *sd = calloc(T * C, sizeof(double));
    float *p = malloc(P * sizeof(float));
    assert_true(mean && sd && p);
    for (size_t i = 0; i < tr.n; i++)
        for (size_t j = 0; j < T * C; j++) {
            double v = tr.x[i * T * C + j];
            mean[j] += v / (double)tr.n;
            sd[j] += v * v / (double)tr.n;
        }
    for (size_t j = 0; j < T * C; j++) sd[j] = sqrt(fmax(sd[j] - mean[j] * mean[j], 0.0));
    model_init(&L, p, 3, 0);
    model_set_norm(&L, p, mean, sd);
    Workspace ws;
    workspace_build(&ws, &L, 64);
    TrainOpts o = {FA_OPT_ADAM, 3e-3, 0.9, 0.999, 1e-8, 16, 15.0, 0.0};
    TrainStats st;
    train_local(&L, p, NULL, &tr, &o, 5, 0, 0, &ws, false, &st);
    EvalResult ef;
    model_evaluate(&L, p, &te, &ws, false, &ef);

    QCnn q;
    quant_cnn_build(&q, &L, p, &tr);
    int8_t *scratch = malloc(quant_cnn_scratch_bytes(&q));
    float lg[8 * 16];
    int8_t lq[16];
    size_t agree = 0, correct = 0;
    double err = 0.0;
    const QLayer *out = &q.layer[q.n_layers - 1];
    for (size_t r0 = 0; r0 < te.n; r0 += 8) {
        model_forward(&L, p, te.x + r0 * T * C, 8, lg, &ws);
        for (size_t r = 0; r < 8; r++) {
            int c = quant_cnn_predict(&q, te.x + (r0 + r) * T * C, scratch, lq);
            size_t best = 0;
            for (size_t k = 1; k < K; k++)
                if (lg[r * K + k] > lg[r * K + best]) best = k;
            agree += (size_t)c == best;
            correct += c == te.y[r0 + r];
            for (size_t k = 0; k < K; k++)
                err += fabs((double)out->out_scale * (lq[k] - out->out_zp) - lg[r * K + k]);
        }
    }
    double ag = (double)agree / (double)te.n, aq = (double)correct / (double)te.n;
    err /= (double)(te.n * K);
    print_message("int8 cnn1d: float acc %.4f, int8 acc %.4f, agreement %.4f, mean |logit "
                  "error| %.4f (output scale %.4f), flash %zu bytes, scratch %zu bytes\n",
                  ef.acc, aq, ag, err, (double)out->out_scale, quant_cnn_flash_bytes(&q),
                  quant_cnn_scratch_bytes(&q));
    assert_true(ef.acc > 0.8); /* the float model learned the task */
    assert_true(ag >= 0.95);
    assert_true(fabs(aq - ef.acc) <= 0.03);
    assert_true(err <= 0.25);

    /* deterministic, and the pipeline's entry point takes this path */
    QCnn q2;
    quant_cnn_build(&q2, &L, p, &tr);
    for (size_t b = 0; b < q.n_conv; b++)
        assert_memory_equal(q.conv[b].fc.w, q2.conv[b].fc.w,
                            q.conv[b].fc.fan_in * q.conv[b].fc.fan_out);
    assert_true(q.in_scale == q2.in_scale && q.in_zp == q2.in_zp);
    QuantEval qe;
    quant_eval_model(&L, p, &tr, &te, FA_INT8_PER_CHANNEL, &qe);
    assert_true(qe.acc_int8 == aq && qe.agree == ag);
    assert_int_equal(qe.flash_bytes, quant_cnn_flash_bytes(&q));
    quant_cnn_free(&q2);
    quant_cnn_free(&q);
    free(scratch);
    workspace_free(&ws);
    dataset_free(&tr);
    dataset_free(&te);
    free(mean);
    free(sd);
    free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_kernels),
        cmocka_unit_test(test_trained_agreement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
