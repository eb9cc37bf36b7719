/*
 * m4_footprint.c: the smallest firmware around the exported raw-signal pipeline, for its
 * flash/RAM on the Cortex-M4 (test_cortex_m4.sh, configuration mechanical:pipeline; never
 * run). Linked with startup_m4.c, --gc-sections and newlib-nano, once per FA_FP:
 *   0  nothing (the start-up code and the buffers below): the baseline,
 *   1  the exported feature extractor (feature_extractor.c, with the libgcc soft-double and
 *      libm code it pulls in),
 *   2  extractor + the exported int8 model (model.c): the whole pipeline.
 * The sizes of 1 and 2 minus 0 are what the extractor and the pipeline cost a device.
 */
#include <stdint.h>

#include "feature_extractor.h"
#include "model.h"

#ifndef FA_FP
#define FA_FP 0
#endif

void fa_m4_bench(void);

float fa_window[MODEL_WINDOW];         /* the device's sample buffer (ADC/DMA fills it) */
double fa_env_f[MODEL_N_ENV_FREQS];    /* its envelope frequencies (set at start-up) */
float *volatile fa_keep_w = fa_window; /* the buffers exist in every variant */
double *volatile fa_keep_e = fa_env_f;
volatile int fa_class;

int main(void) {
    fa_class = fa_keep_w != 0 && fa_keep_e != 0; /* keeps the buffers in the baseline too */
#if FA_FP >= 1
    float feat[MODEL_N_FEATURES];
    model_features(fa_keep_w, MODEL_WINDOW, fa_keep_e, feat);
#if FA_FP >= 2
    fa_class = model_predict(feat);
#else
    fa_class = feat[0] > 0.0f;
#endif
#endif
    return 0;
}

void fa_m4_bench(void) {}
