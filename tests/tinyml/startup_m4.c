/*
 * startup_m4.c: bare-metal start-up for QEMU's mps2-an386 (Cortex-M4F) and the platform
 * half of tests/tools/export_driver.c: vector table, .data/.bss set-up, FPU enable,
 * semihosting output (SYS_WRITE0) and exit (SYS_EXIT). No C library: the exported model
 * needs none. After the driver's main() it runs fa_m4_bench() (m4_bench.c), then exits
 * with the driver's status (fa_exit only records it).
 */
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);
void fa_m4_bench(void);
void fa_out(const char *s);
void fa_exit(int code);
void Reset_Handler(void);
void Default_Handler(void);

static int exit_code;

static int semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void fa_out(const char *s) { (void)semihost(0x04, s); } /* SYS_WRITE0 */

void fa_exit(int code) { exit_code = code; }

static void sh_exit(int code) {
    /* SYS_EXIT: ADP_Stopped_ApplicationExit (QEMU exits 0) or RunTimeErrorUnknown (1) */
    (void)semihost(0x18, (const void *)(uintptr_t)(code ? 0x20023u : 0x20026u));
    for (;;) {
    }
}

/* the copy loops must stay loops: there is no memcpy/memset to call */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) void Reset_Handler(void) {
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
    /* full access to CP10/CP11 (the FPU) before any float instruction */
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    (void)main();
    fa_m4_bench();
    sh_exit(exit_code);
}

void Default_Handler(void) {
    fa_out("# fault: unexpected exception\n");
    sh_exit(1);
}

__attribute__((section(".isr_vector"), used)) static const void *const vectors[16] = {
    &_estack,        Reset_Handler,   Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, 0,
    0,               0,               0,               Default_Handler,
    Default_Handler, 0,               Default_Handler, Default_Handler,
};
