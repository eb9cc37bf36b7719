/*
 * feat_ref.c: fedalign's side of tests/e2e/test_export_features.sh. Writes raw windows
 * and the features fedalign computes for them (gen_mech_features, the generator's own
 * code), so the exported features.c can be run on the same windows and compared bit for
 * bit. Windows: the mechanical generator's raw rows (--input raw) of several devices and
 * every class, plus edge cases (constant, zero, one spike, alternating, large values).
 *
 * usage: feat_ref WINDOW OUT_WINDOWS OUT_FEATURES
 *   OUT_WINDOWS:  "n W" then per window its envelope frequencies (5) and W samples, %a
 *   OUT_FEATURES: one line of 17 features (%a) per window
 */
#include <stdio.h>
#include <stdlib.h>

#include "fedalign/data.h"
#include "fedalign/gen_internal.h"

#define N_GEN 40
#define N_EDGE 5

static void edge_window(int e, float *w, size_t W) {
    for (size_t t = 0; t < W; t++) {
        switch (e) {
        case 0: w[t] = 0.25f; break;                         /* constant: sd 0 */
        case 1: w[t] = 0.0f; break;                          /* all zero */
        case 2: w[t] = t == W / 3 ? 5.0f : 0.0f; break;      /* one impulse */
        case 3: w[t] = (t & 1) ? -1.0f : 1.0f; break;        /* Nyquist */
        default: w[t] = 1e30f * (float)((t % 7) - 3); break; /* huge values */
        }
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: feat_ref WINDOW OUT_WINDOWS OUT_FEATURES\n");
        return 2;
    }
    size_t W = (size_t)atol(argv[1]);
    GenOptions o = {.heterogeneity = 1.0, .window = W, .input = FA_INPUT_RAW};
    FILE *fw = fopen(argv[2], "w"), *ff = fopen(argv[3], "w");
    if (!fw || !ff || W < 64) return 2;
    float *x = malloc(N_GEN * W * sizeof *x);
    double *d = malloc(W * sizeof *d);
    int32_t y[N_GEN];
    for (int i = 0; i < N_GEN; i++) y[i] = i % 10;
    fprintf(fw, "%d %zu\n", 4 * N_GEN + N_EDGE, W);
    for (uint64_t dev = 0; dev < 5; dev++) {
        /* a device's envelope frequencies: its shaft speed and a catalogue bearing */
        double fr = 20.0 + 5.0 * (double)dev, f4[4];
        gen_mech_bearing_freqs(fr, 9, 7.94, 39.04, 0.01 * (double)dev, f4);
        double env[FA_MECH_N_ENV] = {fr, f4[1], f4[2], f4[3], 2.0 * f4[3]};
        int n = dev < 4 ? N_GEN : N_EDGE;
        if (dev < 4) gen_samples(FA_DATA_MECHANICAL, &o, 99, dev, false, 0, y, N_GEN, x);
        else
            for (int e = 0; e < N_EDGE; e++) edge_window(e, x + (size_t)e * W, W);
        for (int i = 0; i < n; i++) {
            float feat[FA_MECH_N_TIME + FA_MECH_N_ENV];
            for (int k = 0; k < FA_MECH_N_ENV; k++) fprintf(fw, "%a ", env[k]);
            for (size_t t = 0; t < W; t++) {
                d[t] = (double)x[(size_t)i * W + t];
                fprintf(fw, "%a%c", d[t], t + 1 < W ? ' ' : '\n');
            }
            gen_mech_features(d, W, FA_MECH_FS, env, feat);
            for (int k = 0; k < FA_MECH_N_TIME + FA_MECH_N_ENV; k++)
                fprintf(ff, "%a%c", (double)feat[k],
                        k + 1 < FA_MECH_N_TIME + FA_MECH_N_ENV ? ' ' : '\n');
        }
    }
    free(d);
    free(x);
    return fclose(fw) != 0 || fclose(ff) != 0 ? 1 : 0;
}
