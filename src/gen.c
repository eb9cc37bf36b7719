/*
 * gen.c: dispatch for the built-in physics-based device generators (data.h:
 * gen_info, gen_samples) and the one place where GenOptions defaults live.
 *
 * The physics is in gen_electrical.c (three-phase line faults from symmetrical
 * components) and gen_mechanical.c (rolling-bearing vibration, impulse-train model,
 * on-board features); docs/data.md describes both and how they were calibrated.
 *
 * Determinism contract (what callers may rely on):
 *   - the output depends only on (kind, options, seed, device, public_data, stream,
 *     y[0..n), n); nothing is global, so any thread may call in parallel;
 *   - randomness is one counter-based stream (seed, FA_RNG_SAMPLES or FA_RNG_PUBLIC,
 *     device, stream, 0) consumed sample by sample in order, so the rows of a call
 *     are a prefix-stable sequence: generating y[0..m) gives exactly the first m rows
 *     of generating y[0..n) for m <= n (asking for more rows never changes the rows
 *     already produced; splitting a call in two does, unless each part gets its own
 *     `stream`);
 *   - device parameters come from (seed, FA_RNG_DEVICE, device, round = kind, sub = 0); with
 *     heterogeneity 0, or public_data, every device is the nominal device.
 */
#include <math.h>
#include <string.h>

#include "fedalign/check.h"
#include "fedalign/data.h"
#include "fedalign/gen_internal.h"

GenOptions gen_options_resolve(const GenOptions *opt, FaDataKind kind) {
    GenOptions o = {.heterogeneity = 1.0,
                    .window = 0,
                    .severities = 0,
                    .spectral = false,
                    .input = FA_INPUT_FEATURES};
    if (opt) o = *opt;
    if (o.window == 0) o.window = FA_MECH_WINDOW_DEFAULT;
    if (o.severities == 0) o.severities = FA_MECH_SEV_DEFAULT;
    CHECK(isfinite(o.heterogeneity) && o.heterogeneity >= 0.0 && o.heterogeneity <= 10.0,
          "generator heterogeneity must be in [0, 10], got %g", o.heterogeneity);
    CHECK(o.input != FA_INPUT_RAW || kind == FA_DATA_MECHANICAL,
          "raw windows come from the mechanical generator only (data kind %d)", (int)kind);
    if (kind != FA_DATA_MECHANICAL) return o;
    CHECK(o.window >= 64 && o.window <= ((size_t)1 << 20),
          "mechanical window must be in [64, 1048576] samples, got %zu", o.window);
    CHECK(o.severities <= (FA_MAX_CLASSES - 1) / 3,
          "mechanical severities must be in [1, %d] (K = 1 + 3*severities <= %d), got %zu",
          (FA_MAX_CLASSES - 1) / 3, FA_MAX_CLASSES, o.severities);
    return o;
}

void gen_info(FaDataKind kind, const GenOptions *opt, DataInfo *info) {
    GenOptions o = gen_options_resolve(opt, kind);
    memset(info, 0, sizeof *info);
    switch (kind) {
    case FA_DATA_ELECTRICAL: gen_elec_info(info); break;
    case FA_DATA_MECHANICAL: gen_mech_info(&o, info); break;
    default: die(__FILE__, __LINE__, "gen_info: data kind %d has no built-in generator", (int)kind);
    }
}

void gen_samples(FaDataKind kind, const GenOptions *opt, uint64_t seed, uint64_t device,
                 bool public_data, uint64_t stream, const int32_t *y, size_t n, float *x) {
    GenOptions o = gen_options_resolve(opt, kind);
    if (n == 0) return;
    CHECK(y != NULL && x != NULL, "gen_samples: NULL labels or output for %zu rows", n);
    switch (kind) {
    case FA_DATA_ELECTRICAL:
        gen_elec_samples(&o, seed, device, public_data, stream, y, n, x);
        break;
    case FA_DATA_MECHANICAL:
        gen_mech_samples(&o, seed, device, public_data, stream, y, n, x);
        break;
    default:
        die(__FILE__, __LINE__, "gen_samples: data kind %d has no built-in generator", (int)kind);
    }
}
