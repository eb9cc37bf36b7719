/*
 * m4_pipeline.c: the device's side of the raw-signal-to-class run on the emulated
 * Cortex-M4 (test_cortex_m4.sh, configuration mechanical:pipeline), linked with exported
 * files only: feature_extractor.c/.h and model.c/.h from `fedalign export`, and the windows
 * of pipeline_ref (fa_win, each with its device's envelope frequencies fa_env). main()
 * prints, per window, the lines pipeline_ref prints on the host ("feat <i> <float bits>", "xq <i> <int8 input>", "pred <i> <class>") for a
 * byte compare. fa_m4_bench() (called by startup_m4.c after main) then times the extractor
 * alone and the whole pipeline with SysTick (under QEMU -icount shift=0 one tick = 40
 * instructions, see m4_bench.c) and measures the deepest stack of one pipeline call by
 * painting the free RAM below the stack pointer:
 *   "m4_pipeline ticks_feat <t> ticks_all <t> windows <n> stack_feat <b> stack_all <b>"
 * (the times over the n test windows, without the edge cases).
 */
#include <stdint.h>

#include "feature_extractor.h"
#include "model.h"

extern const int fa_n_win, fa_n_test;
extern const double fa_env[][MODEL_N_ENV_FREQS];
extern const float fa_win[][MODEL_WINDOW];
extern uint32_t _ebss; /* m4.ld: end of .bss, the lowest address the stack may reach */
void fa_out(const char *s);
void fa_exit(int code);
void fa_m4_bench(void);

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define PAINT 0x5A5AA5A5u

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

static void put_i(int v) {
    if (v < 0) fa_out("-");
    put_u(v < 0 ? 0u - (uint32_t)v : (uint32_t)v);
}

static void put_hex8(uint32_t v) {
    char b[9];
    for (int k = 7; k >= 0; k--, v >>= 4) b[k] = "0123456789abcdef"[v & 15u];
    b[8] = '\0';
    fa_out(b);
}

static void put_head(const char *tag, int i) {
    fa_out(tag);
    put_u((uint32_t)i);
    fa_out(" ");
}

int main(void) {
    for (int i = 0; i < fa_n_win; i++) {
        float feat[MODEL_N_FEATURES];
        int8_t xq[MODEL_N_INPUTS];
        union {
            float f;
            uint32_t u;
        } b;
        model_features(fa_win[i], MODEL_WINDOW, fa_env[i], feat);
        put_head("feat ", i);
        for (int k = 0; k < MODEL_N_FEATURES; k++) {
            b.f = feat[k];
            put_hex8(b.u);
            fa_out(k + 1 < MODEL_N_FEATURES ? "," : "\n");
        }
        model_quantize_input(feat, xq);
        put_head("xq ", i);
        for (int k = 0; k < MODEL_N_INPUTS; k++) {
            put_i(xq[k]);
            fa_out(k + 1 < MODEL_N_INPUTS ? "," : "\n");
        }
        put_head("pred ", i);
        put_i(model_predict(feat));
        fa_out("\n");
    }
    fa_exit(0);
    return 0;
}

volatile int fa_sink;

/* one window through the extractor (all = 0) or the whole pipeline (all = 1) */
static __attribute__((noinline)) void run_one(int i, int all) {
    float feat[MODEL_N_FEATURES];
    model_features(fa_win[i], MODEL_WINDOW, fa_env[i], feat);
    fa_sink = all ? model_predict(feat) : (int)(feat[0] > 0.0f);
}

/* bytes of stack below the caller's frame that run_one(0, all) uses */
static __attribute__((noinline)) uint32_t stack_use(int all) {
    volatile uint32_t *p, *lo = &_ebss;
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    volatile uint32_t *top = (volatile uint32_t *)(sp - 64u); /* this frame stays clear */
    for (p = lo; p < top; p++) *p = PAINT;
    run_one(0, all);
    for (p = lo; p < top && *p == PAINT; p++) {}
    return sp - (uint32_t)(uintptr_t)p;
}

void fa_m4_bench(void) {
    uint32_t t0, t1, tf = 0, ta = 0;
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0u;
    SYST_CSR = 5u; /* enable, processor clock, no interrupt */
    /* the test windows (not the edge cases), one at a time: far below SysTick's 24-bit wrap */
    for (int i = 0; i < fa_n_test; i++) {
        t0 = SYST_CVR;
        run_one(i, 0);
        t1 = SYST_CVR;
        tf += (t0 - t1) & 0xFFFFFFu;
        t0 = SYST_CVR;
        run_one(i, 1);
        t1 = SYST_CVR;
        ta += (t0 - t1) & 0xFFFFFFu;
    }
    fa_out("m4_pipeline ticks_feat ");
    put_u(tf);
    fa_out(" ticks_all ");
    put_u(ta);
    fa_out(" windows ");
    put_u((uint32_t)fa_n_test);
    fa_out(" stack_feat ");
    put_u(stack_use(0));
    fa_out(" stack_all ");
    put_u(stack_use(1));
    fa_out("\n");
}
