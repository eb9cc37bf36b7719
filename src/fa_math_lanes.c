/*
 * fa_math_lanes.c: fa_math.h's expf and log over arrays, compiled per ISA path like every
 * kernel file, so that tests/unit/test_fa_math.c can compare the lane code of each path
 * (what train_batched.c inlines) with the scalar code and with the system libm.
 */
#include "isa_kernels.h" /* first: per-ISA names (CMakeLists.txt FA_KERNEL_SOURCES) */

#include "fa_math.h"

#include <string.h>

void fa_math_lanes(const float *x, size_t n, float *e, double *l) {
    size_t i = 0;
    for (; i + FA_MATH_LANES <= n; i += FA_MATH_LANES) {
        fa_vf v;
        memcpy(&v, x + i, sizeof v);
        if (e) {
            fa_vf y = fa_expf_v(v);
            memcpy(e + i, &y, sizeof y);
        }
        if (l) fa_log_f2d_v(v, l + i);
    }
    fa_math_scalar(x + i, n - i, e ? e + i : NULL, l ? l + i : NULL);
}

void fa_math_scalar(const float *x, size_t n, float *e, double *l) {
    for (size_t i = 0; i < n; i++) {
        if (e) e[i] = fa_expf(x[i]);
        if (l) l[i] = fa_log_f2d(x[i]);
    }
}
