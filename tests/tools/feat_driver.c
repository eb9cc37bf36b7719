/*
 * feat_driver.c: the device's side of tests/e2e/test_export_features.sh, built with the
 * exported feature_extractor.c alone (no fedalign code): reads feat_ref's windows on stdin and
 * prints model_features() of each as feat_ref prints fedalign's (%a), for a byte compare.
 */
#include <stdio.h>
#include <stdlib.h>

#include "feature_extractor.h"

int main(void) {
    int n;
    size_t W;
    if (scanf("%d %zu", &n, &W) != 2 || n < 1 || W < 3) return 2;
    float *x = malloc(W * sizeof *x);
    if (!x) return 2;
    for (int i = 0; i < n; i++) {
        double env[MODEL_N_ENV_FREQS], v;
        float feat[MODEL_N_FEATURES];
        for (int k = 0; k < MODEL_N_ENV_FREQS; k++)
            if (scanf("%la", &env[k]) != 1) return 2;
        for (size_t t = 0; t < W; t++) {
            if (scanf("%la", &v) != 1) return 2;
            x[t] = (float)v; /* exact: feat_ref wrote float values */
        }
        model_features(x, W, env, feat);
        for (int k = 0; k < MODEL_N_FEATURES; k++)
            printf("%a%c", (double)feat[k], k + 1 < MODEL_N_FEATURES ? ' ' : '\n');
    }
    free(x);
    return 0;
}
