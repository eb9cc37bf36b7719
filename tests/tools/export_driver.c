/*
 * export_driver.c: runs an exported model (model.h/model.c from `fedalign export`, default
 * prefix "model") on the cases written by `quant_ref cases` and prints one line
 * "pred <i> <class>" per case, then a summary. Built by tests/e2e/test_export.sh for the
 * host and by tests/tinyml/test_cortex_m4.sh for a Cortex-M4 under QEMU, so it avoids
 * printf: the platform file supplies fa_out (write a string) and fa_exit.
 * Checks on the way: predict(x) == expected (the suite's quant_predict), predict_q of the
 * suite's quantized input gives the same class, and quantize_input(x) equals it.
 * Exit code = number of mismatches, capped at 100 (0 = all agree).
 */
#include <stdint.h>

#include "model.h"

extern const int fa_n_cases;
extern const float fa_cases[][MODEL_N_INPUTS];
extern const int8_t fa_cases_q[][MODEL_N_INPUTS];
extern const int8_t fa_expect[];

void fa_out(const char *s);
void fa_exit(int code);

/* s = decimal of v; returns s */
static char *fmt_int(char *s, long v) {
    char tmp[24];
    int n = 0, i = 0;
    unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10u));
        u /= 10u;
    } while (u);
    if (v < 0) s[i++] = '-';
    while (n) s[i++] = tmp[--n];
    s[i] = '\0';
    return s;
}

static void out3(const char *a, long b, const char *c, long d) {
    char nb[24];
    fa_out(a);
    fa_out(fmt_int(nb, b));
    fa_out(c);
    fa_out(fmt_int(nb, d));
    fa_out("\n");
}

int main(void) {
    long bad = 0;
    int i, j;
    for (i = 0; i < fa_n_cases; i++) {
        int8_t xq[MODEL_N_INPUTS];
        int p = model_predict(fa_cases[i]);
        int pq = model_predict_q(fa_cases_q[i]);
        model_quantize_input(fa_cases[i], xq);
        for (j = 0; j < MODEL_N_INPUTS; j++)
            if (xq[j] != fa_cases_q[i][j]) {
                out3("# quantized input differs: case ", i, " feature ", j);
                bad++;
            }
        if (p != fa_expect[i] || pq != p) {
            out3("# prediction differs from the suite: case ", i, " class ", p);
            bad++;
        }
        out3("pred ", i, " ", p);
    }
    out3("# cases ", fa_n_cases, " mismatches ", bad);
    fa_out("# class of case 0: ");
    fa_out(model_class_names[model_predict(fa_cases[0])]);
    fa_out("\n");
    fa_exit(bad > 100 ? 100 : (int)bad);
    return 0;
}
