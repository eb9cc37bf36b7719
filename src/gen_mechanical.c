/*
 * gen_mechanical.c: rolling-bearing vibration generator with on-board features.
 *
 * One sample = one window of W accelerometer samples at fs = 12 kHz (like the CWRU
 * bearing data), reduced on board to D features. Classes: 0 Normal, then for each
 * fault type InnerRace, OuterRace, Ball and each severity s = 1..S one class:
 * class = 1 + type * S + (s - 1), K = 1 + 3 S.
 *
 * Bearing kinematics (shaft frequency fr, nb balls of diameter d on pitch diameter
 * Dp, contact angle alpha; r = (d / Dp) cos alpha):
 *   FTF  = fr/2 (1 - r)              cage
 *   BPFO = nb fr/2 (1 - r)           ball pass, outer race
 *   BPFI = nb fr/2 (1 + r)           ball pass, inner race
 *   BSF  = Dp fr / (2 d) (1 - r^2)   ball spin; a ball defect strikes both races per
 *                                    spin, so its impacts come at 2 BSF, alternating
 *                                    strong (inner) and weak (outer race)
 * Signal (McFadden & Smith 1984 style impulse-train model):
 *   x(t) = g [ a1 cos(2 pi fr t + p1) + a2 cos(4 pi fr t + p2)      shaft 1x, 2x
 *            + sum_k A_k h(t - t_k)                                  defect impacts
 *            + sigma n(t) ] + offset                                 noise, sensor
 *   h(t) = e^{-zeta wn t} sin(wn sqrt(1 - zeta^2) t), t >= 0         structural resonance
 *   t_{k+1} = t_k + T (1 + slip N(0,1)),  T = 1 / f_defect           1-2 % slip jitter
 *   A_k = A_sev q(theta(t_k)) e^{0.15 N(0,1)}                        load-zone modulation
 *   q(theta) = floor + (1 - floor) max(0, 1 - (1 - cos theta) / (2 eps))^1.5 (Stribeck)
 * theta rotates at fr for inner-race defects (the defect turns with the shaft), at FTF
 * for ball defects (the ball travels with the cage); an outer-race defect sits at a
 * fixed angle from the load-zone centre, so its amplitude is constant. A_sev grows
 * geometrically with severity, 3.5 * 4^((s-1)/(S-1)) nominal noise sd times a type
 * factor (inner 1.5, outer 1.0, ball 1.3): severity 1 overlaps Normal on purpose.
 * Per device: speed, bearing type, contact angle, resonance (2-5 kHz), damping, noise,
 * shaft imbalance/misalignment, load zone, defect position, slip, sensor gain/offset.
 *
 * Features: mech_features.h (12 time-domain statistics, and with opt->spectral the
 * envelope spectrum at the device's fr, BPFO, BPFI, BSF and 2 BSF), the single source
 * that `fedalign export` also writes out for the device. With --input raw the rows are the
 * windows themselves instead (d = W, one channel, rounded to float32); the features are
 * computed from the unrounded double window, so features of a raw row agree with the
 * feature row to float rounding of the inputs, not bit for bit.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/check.h"
#include "fedalign/data.h"
#include "fedalign/gen_internal.h"
#include "fedalign/rng.h"
#include "mech_features.h"

_Static_assert(FA_MF_N_TIME == FA_MECH_N_TIME && FA_MF_N_ENV == FA_MECH_N_ENV,
               "mech_features.h and gen_internal.h count the same features");

// W = samples per window, S = severities, K = 1 + 3 S classes, D = 12 (+5 spectral)

#define FS FA_MECH_FS
#define NOISE_G 0.06 /* nominal broadband noise sd (g), about CWRU's healthy drive end */

static const char *const mech_fault_names[3] = {"InnerRace", "OuterRace", "Ball"};
static const char *const mech_time_names[FA_MECH_N_TIME] = {
    "max",         "min",          "mean",           "sd",
    "rms",         "skewness",     "kurtosis",       "crest_factor",
    "form_factor", "peak_to_peak", "impulse_factor", "clearance_factor"};
static const char *const mech_env_names[FA_MECH_N_ENV] = {"env_fr", "env_bpfo", "env_bpfi",
                                                          "env_bsf", "env_2bsf"};

/* approximate catalogue geometry: balls, ball and pitch diameter (mm) */
static const struct {
    double nb, d, pd;
} mech_bearings[5] = {
    {9, 7.94, 39.04},  /* 6205-2RS (CWRU drive end): nominal */
    {9, 6.75, 28.50},  /* 6203-2RS (CWRU fan end) */
    {9, 9.53, 46.50},  /* 6206 */
    {8, 10.32, 44.50}, /* 6305 */
    {8, 15.08, 65.00}, /* 6308 */
};

/* per-fault-type amplitude factor and load-zone floor (see the header) */
static const double mech_type_amp[3] = {1.5, 1.0, 1.3};
static const double mech_type_floor[3] = {0.15, 0.4, 0.15};

typedef struct {
    double fr;           /* shaft frequency (Hz) */
    double f[4];         /* FTF, BPFO, BPFI, BSF (Hz) */
    double fn, zeta;     /* structural resonance (Hz), damping ratio */
    double noise;        /* broadband noise sd (g) */
    double a1, a2;       /* shaft 1x (imbalance) and 2x (misalignment) amplitude (g) */
    double imp;          /* impact amplitude scale (g) */
    double eps;          /* load-zone extent factor */
    double or_q;         /* load factor at the outer-race defect position */
    double slip;         /* relative sd of impact spacing */
    double gain, offset; /* sensor */
} MechDevice;

// ----------------------------------------------------------------------------
// helpers

static double clampd(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Stribeck load distribution, 0 outside the load zone */
static double load_zone(double theta, double eps) {
    double q = 1.0 - (1.0 - cos(theta)) / (2.0 * eps);
    return q > 0.0 ? pow(q, 1.5) : 0.0;
}

void gen_mech_bearing_freqs(double fr, double nb, double bd, double pd, double alpha,
                            double out[4]) {
    fa_mech_bearing_freqs(fr, nb, bd, pd, alpha, out);
}

static void mech_device(MechDevice *dv, uint64_t seed, uint64_t device, double h) {
    Rng r;
    rng_init(&r, seed, FA_RNG_DEVICE, device, (uint64_t)FA_DATA_MECHANICAL, 0);
    double z[8], u[12];
    for (int i = 0; i < 8; i++) z[i] = rng_normal(&r);
    for (int i = 0; i < 12; i++) u[i] = rng_uniform(&r);
#define SYM(i) (2.0 * u[i] - 1.0)                            /* uniform in (-1, 1) */
    dv->fr = clampd(29.5 * exp(0.2 * h * z[0]), 5.0, 100.0); /* ~1770 rpm nominal */
    int b = u[0] < 0.6 * h ? 1 + (int)(u[1] * 4.0 * 0.999999) : 0;
    double alpha = clampd(h * 0.5 * (u[2]) * 15.0, 0.0, 30.0) * FA_PI / 180.0;
    gen_mech_bearing_freqs(dv->fr, mech_bearings[b].nb, mech_bearings[b].d, mech_bearings[b].pd,
                           alpha, dv->f);
    dv->fn = clampd(3500.0 + 1500.0 * h * SYM(3), 1000.0, 0.4 * FS);
    dv->zeta = clampd(0.05 * exp(0.2 * h * z[1]), 0.01, 0.3);
    dv->noise = NOISE_G * exp(0.15 * h * z[2]);
    dv->a1 = 0.5 * NOISE_G * exp(0.3 * h * z[3]);
    dv->a2 = 0.3 * NOISE_G * exp(0.3 * h * z[4]);
    dv->imp = NOISE_G * exp(0.15 * h * z[5]);
    dv->eps = clampd(0.4 + 0.1 * h * SYM(4), 0.2, 0.5);
    dv->or_q = load_zone(clampd(h, 0.0, 1.5) * FA_PI / 4.5 * SYM(5), dv->eps);
    dv->slip = clampd(0.015 + 0.005 * h * SYM(6), 0.002, 0.05);
    dv->gain = clampd(1.0 + 0.2 * h * SYM(7), 0.2, 5.0);
    dv->offset = 0.01 * h * z[6];
#undef SYM
}

/* the frequencies of the device's envelope features: fr, BPFO, BPFI, BSF, 2 BSF */
static void mech_env_freqs(const MechDevice *dv, double env_f[FA_MECH_N_ENV]) {
    const double f[FA_MECH_N_ENV] = {dv->fr, dv->f[1], dv->f[2], dv->f[3], 2.0 * dv->f[3]};
    for (int k = 0; k < FA_MECH_N_ENV; k++) env_f[k] = f[k];
}

// ----------------------------------------------------------------------------
// features (mech_features.h: the same code the export writes for the device)

void gen_mech_features(const double *w, size_t W, double fs, const double *env_f, float *feat) {
    fa_mech_features(w, W, fs, env_f, feat);
}

// ----------------------------------------------------------------------------
// one window

/* Add one damped resonance impulse of amplitude a starting at time t0 (s) to x (W). */
static void add_impact(double *x, size_t W, double t0, double a, double sig, double wd,
                       double tail) {
    double nstart = ceil(t0 * FS);
    if (nstart < 0.0) nstart = 0.0;
    if (nstart >= (double)W || t0 + tail < 0.0) return;
    size_t n0 = (size_t)nstart;
    size_t n1 = (size_t)fmin((double)W, ceil((t0 + tail) * FS));
    /* z = a e^{(-sig + j wd)(t - t0)} rotated one sample at a time; x += Im z */
    double dt0 = nstart / FS - t0, env = a * exp(-sig * dt0);
    double zr = env * cos(wd * dt0), zi = env * sin(wd * dt0);
    double dec = exp(-sig / FS), rr = dec * cos(wd / FS), ri = dec * sin(wd / FS);
    for (size_t n = n0; n < n1; n++) {
        x[n] += zi;
        double t = zr * rr - zi * ri;
        zi = zr * ri + zi * rr;
        zr = t;
    }
}

static void mech_window(const MechDevice *dv, int cls, size_t S, size_t W, Rng *r, double *x) {
    double sp = 1.0 + 0.003 * rng_normal(r); /* speed fluctuation within the device */
    double p1 = 2.0 * FA_PI * rng_uniform(r), p2 = 2.0 * FA_PI * rng_uniform(r);
    /* shaft harmonics by rotation recurrences (cos(w n + p)) */
    double w1 = 2.0 * FA_PI * dv->fr * sp / FS;
    double c1 = cos(p1), s1 = sin(p1), c2 = cos(p2), s2 = sin(p2);
    double cw1 = cos(w1), sw1 = sin(w1), cw2 = cos(2.0 * w1), sw2 = sin(2.0 * w1);
    for (size_t n = 0; n < W; n++) {
        x[n] = dv->a1 * c1 + dv->a2 * c2;
        double t = c1 * cw1 - s1 * sw1;
        s1 = s1 * cw1 + c1 * sw1;
        c1 = t;
        t = c2 * cw2 - s2 * sw2;
        s2 = s2 * cw2 + c2 * sw2;
        c2 = t;
    }
    if (cls > 0) {
        int type = (cls - 1) / (int)S;    /* 0 inner, 1 outer, 2 ball */
        int sev = (cls - 1) % (int)S + 1; /* 1..S */
        double frac = S > 1 ? (double)(sev - 1) / (double)(S - 1) : 0.5;
        double amp = dv->imp * mech_type_amp[type] * 3.5 * pow(4.0, frac);
        double fd = type == 0 ? dv->f[2] : (type == 1 ? dv->f[1] : 2.0 * dv->f[3]);
        double fm = type == 0 ? dv->fr : (type == 2 ? dv->f[0] : 0.0);
        double T = 1.0 / (fd * sp), wm = 2.0 * FA_PI * fm * sp;
        double floor_q = mech_type_floor[type];
        double pm = 2.0 * FA_PI * rng_uniform(r);
        double wn = 2.0 * FA_PI * dv->fn, sig = dv->zeta * wn;
        double wd = wn * sqrt(1.0 - dv->zeta * dv->zeta), tail = 7.0 / sig;
        double t = -tail - T * rng_uniform(r), tend = (double)W / FS;
        for (int k = 0; t < tend; k++) {
            double q = type == 1 ? dv->or_q : load_zone(wm * t + pm, dv->eps);
            double a = amp * (floor_q + (1.0 - floor_q) * q) * exp(0.15 * rng_normal(r));
            if (type == 2) a *= k & 1 ? 0.6 : 1.0;
            add_impact(x, W, t, a, sig, wd, tail);
            t += T * (1.0 + dv->slip * rng_normal(r));
        }
    }
    for (size_t n = 0; n < W; n++)
        x[n] = dv->gain * (x[n] + dv->noise * rng_normal(r)) + dv->offset;
}

// ----------------------------------------------------------------------------
// public (through gen.c)

void gen_mech_info(const GenOptions *opt, DataInfo *info) {
    size_t S = opt->severities;
    info->k = 1 + 3 * S;
    snprintf(info->name, sizeof info->name, "%s", "mechanical");
    if (opt->input == FA_INPUT_RAW) { /* one channel; raw windows name their channels */
        info->d = info->win_len = opt->window;
        info->win_ch = 1;
        snprintf(info->feature_names[0], FA_NAME_LEN, "%s", "accel");
    } else {
        info->d = FA_MECH_N_TIME + (opt->spectral ? FA_MECH_N_ENV : 0);
        for (size_t j = 0; j < FA_MECH_N_TIME; j++)
            snprintf(info->feature_names[j], FA_NAME_LEN, "%s", mech_time_names[j]);
        if (opt->spectral)
            for (size_t j = 0; j < FA_MECH_N_ENV; j++)
                snprintf(info->feature_names[FA_MECH_N_TIME + j], FA_NAME_LEN, "%s",
                         mech_env_names[j]);
    }
    snprintf(info->class_names[0], FA_NAME_LEN, "%s", "Normal");
    for (size_t t = 0; t < 3; t++)
        for (size_t s = 1; s <= S; s++)
            snprintf(info->class_names[1 + t * S + (s - 1)], FA_NAME_LEN, "%s_%zu",
                     mech_fault_names[t], s);
}

void gen_mech_samples(const GenOptions *opt, uint64_t seed, uint64_t device, bool public_data,
                      uint64_t stream, const int32_t *y, size_t n, float *x) {
    size_t S = opt->severities, W = opt->window, K = 1 + 3 * S;
    size_t D =
        opt->input == FA_INPUT_RAW ? W : FA_MECH_N_TIME + (opt->spectral ? FA_MECH_N_ENV : 0);
    MechDevice dv;
    mech_device(&dv, seed, device, public_data ? 0.0 : opt->heterogeneity);
    double env_f[FA_MECH_N_ENV];
    mech_env_freqs(&dv, env_f);
    double *buf = xmalloc(W * sizeof *buf); /* (W) one window */
    Rng r;
    rng_init(&r, seed, public_data ? FA_RNG_PUBLIC : FA_RNG_SAMPLES, device, stream, 0);
    for (size_t i = 0; i < n; i++) {
        CHECK(y[i] >= 0 && (size_t)y[i] < K, "mechanical label %d out of range [0, %zu)", (int)y[i],
              K);
        mech_window(&dv, (int)y[i], S, W, &r, buf);
        if (opt->input == FA_INPUT_RAW)
            for (size_t t = 0; t < W; t++) x[i * D + t] = (float)buf[t];
        else gen_mech_features(buf, W, FS, opt->spectral ? env_f : NULL, x + i * D);
    }
    free(buf);
}

/* A device's envelope frequencies, as gen_mech_samples uses them for its feature rows: what
 * a device knows of itself (shaft speed, bearing), for checks that run the exported
 * feature extractor on the device's raw windows (tests/tinyml/pipeline_ref.c). */
void gen_mech_env_freqs(const GenOptions *opt, uint64_t seed, uint64_t device, bool public_data,
                        double env_f[FA_MECH_N_ENV]) {
    GenOptions o = gen_options_resolve(opt, FA_DATA_MECHANICAL);
    MechDevice dv;
    mech_device(&dv, seed, device, public_data ? 0.0 : o.heterogeneity);
    mech_env_freqs(&dv, env_f);
}
