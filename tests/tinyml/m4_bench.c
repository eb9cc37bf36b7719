/*
 * m4_bench.c: on the emulated Cortex-M4, time the exported int8 model (model_predict) and
 * the float reference of the same model (fref_predict, written by `quant_ref floatc`)
 * over every case with SysTick, and count where they agree. Under `qemu-system-arm
 * -icount shift=0` every guest instruction advances virtual time by 1 ns and SysTick
 * runs at the board's 25 MHz, so one tick = 40 instructions: the figures are instruction
 * counts (QEMU does not model cycles), printed as (FA_NO_FREF: no float model, float 0)
 *   "m4_ticks int8 <t> float <t> cases <n> agree <n>".
 */
#include <stdint.h>

#include "model.h"

extern const int fa_n_cases;
extern const float fa_cases[][MODEL_N_INPUTS];
#if defined(FA_NO_FREF)
/* no float reference (the cnn1d): the float loop and the agreement are left out (0) */
#define fref_predict(x) 0
#define FA_HAVE_FREF 0
#else
int fref_predict(const float x[MODEL_N_INPUTS]);
#define FA_HAVE_FREF 1
#endif
void fa_out(const char *s);
void fa_m4_bench(void);

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

static void put_u(uint32_t v) {
    char b[12];
    int n = 11;
    b[n] = '\0';
    do {
        b[--n] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v);
    fa_out(b + n);
}

volatile int fa_sink;

void fa_m4_bench(void) {
    int i, s = 0;
    uint32_t t0, t1, ti, tf, agree = 0;
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0u;
    SYST_CSR = 5u; /* enable, processor clock, no interrupt */
    /* SysTick counts down over 24 bits: one prediction at a time stays far below 2^24
     * ticks (a cnn1d's whole case list would not) */
    ti = tf = 0;
    for (i = 0; i < fa_n_cases; i++) {
        t0 = SYST_CVR;
        s += model_predict(fa_cases[i]);
        t1 = SYST_CVR;
        ti += (t0 - t1) & 0xFFFFFFu;
    }
    if (FA_HAVE_FREF) {
        for (i = 0; i < fa_n_cases; i++) {
            t0 = SYST_CVR;
            s += fref_predict(fa_cases[i]);
            t1 = SYST_CVR;
            tf += (t0 - t1) & 0xFFFFFFu;
        }
        for (i = 0; i < fa_n_cases; i++)
            agree += model_predict(fa_cases[i]) == fref_predict(fa_cases[i]);
    }
    fa_sink = s;
    fa_out("m4_ticks int8 ");
    put_u(ti);
    fa_out(" float ");
    put_u(tf);
    fa_out(" cases ");
    put_u((uint32_t)fa_n_cases);
    fa_out(" agree ");
    put_u(agree);
    fa_out("\n");
}
