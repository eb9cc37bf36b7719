/*
 * tflite_cdriver.c: the C export's classes for the rows `quant_ref rows` printed, to set
 * beside Arm NN's on the .tflite export (tests/tinyml/test_tflite.sh). Reads one row per
 * line on stdin: N_INPUTS raw features (C99 hex floats) then N_INPUTS int8 inputs; prints
 * "c <predict(x)> <predict_q(xq)>". Host only (stdio).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "model.h"

int main(void) {
    float x[MODEL_N_INPUTS];
    int8_t xq[MODEL_N_INPUTS];
    char tok[64];
    for (;;) {
        for (int j = 0; j < 2 * MODEL_N_INPUTS; j++) {
            if (scanf("%63s", tok) != 1) return j == 0 ? 0 : 1;
            if (j < MODEL_N_INPUTS) x[j] = strtof(tok, NULL);
            else xq[j - MODEL_N_INPUTS] = (int8_t)strtol(tok, NULL, 10);
        }
        printf("c %d %d\n", model_predict(x), model_predict_q(xq));
    }
}
