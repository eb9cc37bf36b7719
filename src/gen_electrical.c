/*
 * gen_electrical.c: three-phase transmission-line fault generator.
 *
 * One sample = one instantaneous measurement (Ia, Ib, Ic, Va, Vb, Vc) at the sending
 * end of a line, at a random point of the cycle, like the Kaggle "Electrical Fault
 * detection and classification" set (../shared/datasets/electrical_fault_kaggle).
 * Classes: 0 NoFault, 1 LG (A-G), 2 LL (B-C), 3 LLG (A-B-G), 4 LLL, 5 LLLG.
 *
 * System (per-unit, E = source emf): source (E, Zs1 = Zs2, Zs0) -- measuring point --
 * line (ZL1, ZL0 = ~3 ZL1) with a fault at fraction m of its length -- load. The load
 * draws IL (positive sequence plus a little negative sequence: unbalance).
 *
 * Fault from symmetrical components. a = e^{j 2pi/3}, [Va Vb Vc]^T = A [V0 V1 V2]^T,
 * A = [[1,1,1],[1,a^2,a],[1,a,a^2]]. Thevenin sequence impedances at the fault point:
 *   Z1 = Z2 = Zs1 + m ZL1,   Z0 = Zs0 + m ZL0,   Vf = E - Z1 IL1 (prefault voltage).
 * Every fault type is a star: the faulted phases tie through Rf (+-10 % per phase) to a
 * node that is grounded through Rg (ground faults) or floats (LL, LLL). Its phase
 * admittance Y_abc gives Y012 = A^-1 Y_abc A and the fault currents solve
 *   (1 + Y012 Z012) I012 = Y012 (0, Vf, 0).
 * This reproduces the textbook formulas, e.g. LG: I1 = I2 = I0 = Vf / (Z1+Z2+Z0+3Rf),
 * LL: I1 = -I2 = Vf / (Z1+Z2+2Rf), LLL: I1 = Vf / (Z1+Rf) (tests/unit/test_gen.c). LLL
 * and LLLG differ only through the small zero-sequence current that the Rf imbalance
 * lets flow to ground: physically almost identical, as in the real data.
 * Each fault is solved in a local frame whose phase 'a' is the special phase (the
 * faulted one for LG, the healthy one for LL/LLG) and rotated onto A, B, C.
 *
 * Measured quantities (superposition: prefault load current + fault change):
 *   I_meas,012 = IL_012 + I012,   V_meas = (-Zs0 I0, E - Zs1 I1meas, -Zs1 I2meas) in 0,1,2.
 *   i_k(t) = sqrt2 Re{I_k e^{j psi}} - sqrt2 Re{dI_k e^{j theta0}} e^{-omega tau R/X}
 * psi = sampling angle, theta0 = psi - omega tau the fault inception angle (point on
 * wave), tau = time since inception (0..3 cycles, like the data's fault segments); the
 * second term is the decaying DC offset of the R-L fault loop (X/R of Z1 + Rf). The
 * voltage DC transient is left out: it is Rs - Xs (R/X)_loop times the current offset,
 * small when source and loop X/R are similar.
 * Voltages are output line-to-line, Va := V_ab, Vb := V_bc, Vc := V_ca: the real data's
 * per-class RMS shows that its Va..Vc behave like that (A-G fault: Va and Vc drop to
 * ~0.58 of healthy, Vb unchanged; B-C fault: Vb ~ 0), see docs/data.md.
 * Units: currents in A (1 pu = 50 A rms, the healthy load), voltages in the data's
 * scale (healthy line-to-line rms 0.43). Sensors: gain, offset, Gaussian noise at the
 * device's SNR relative to the healthy rms, and possibly relabelled phases.
 */
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fedalign/check.h"
#include "fedalign/data.h"
#include "fedalign/gen_internal.h"
#include "fedalign/rng.h"

// D = 6 channels (Ia, Ib, Ic, Va, Vb, Vc), K = 6 classes

#define ELEC_D 6
#define ELEC_K 6
#define SQRT2 1.41421356237309504880
#define SQRT3 1.73205080756887729353
#define I_BASE 50.0        /* A rms per pu current */
#define V_BASE 0.25        /* data units per pu phase voltage (line-to-line rms ~0.43) */
#define I_HEALTHY_RMS 50.0 /* noise and offsets are relative to these */
#define V_HEALTHY_RMS 0.43

enum { CLS_NOFAULT = 0, CLS_LG, CLS_LL, CLS_LLG, CLS_LLL, CLS_LLLG };

static const char *const elec_class_names[ELEC_K] = {"NoFault", "LG", "LL", "LLG", "LLL", "LLLG"};
static const char *const elec_feature_names[ELEC_D] = {"Ia", "Ib", "Ic", "Va", "Vb", "Vc"};

/* One installation: line, source, load and sensors. Impedances and currents in pu. */
typedef struct {
    double e;                /* source emf magnitude */
    double complex zs1, zs0; /* source sequence impedances (Zs2 = Zs1) */
    double complex zl1, zl0; /* whole-line sequence impedances */
    double m_lo, m_hi;       /* fault position range, fraction of line length */
    double complex il1, il2; /* prefault load current, positive and negative sequence */
    double load_jitter;      /* relative sd of the load per sample */
    double rf_lo, rf_hi;     /* bolted-ish fault resistance range (log-uniform) */
    double p_hiz;            /* probability of a high-impedance fault */
    double hiz_lo, hiz_hi;   /* its resistance range (log-uniform) */
    double rg_hi;            /* ground resistance upper bound (uniform) */
    double cycles;           /* maximum time since inception, in cycles */
    double gain[ELEC_D];     /* sensor gains (CT / PT ratio errors) */
    double offset[ELEC_D];   /* sensor offsets, output units */
    double noise[ELEC_D];    /* sensor noise sd, output units */
    int rot;                 /* output channel c shows phase (c + rot) % 3 */
} ElecDevice;

// ----------------------------------------------------------------------------
// helpers

static double complex cis(double th) { return CMPLX(cos(th), sin(th)); }

static double complex polar_c(double mag, double deg) { return mag * cis(deg * FA_PI / 180.0); }

static double clampd(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }

static double log_uniform(Rng *r, double lo, double hi) {
    return lo * exp(rng_uniform(r) * log(hi / lo));
}

/* Solve the complex 3x3 system m x = b by Gaussian elimination with partial pivoting. */
static void solve3(double complex m[3][3], double complex b[3], double complex x[3]) {
    for (int c = 0; c < 3; c++) {
        int p = c;
        for (int r = c + 1; r < 3; r++)
            if (cabs(m[r][c]) > cabs(m[p][c])) p = r;
        if (p != c) {
            for (int k = 0; k < 3; k++) {
                double complex t = m[c][k];
                m[c][k] = m[p][k];
                m[p][k] = t;
            }
            double complex t = b[c];
            b[c] = b[p];
            b[p] = t;
        }
        CHECK(cabs(m[c][c]) > 1e-300, "singular fault network");
        for (int r = c + 1; r < 3; r++) {
            double complex f = m[r][c] / m[c][c];
            for (int k = c; k < 3; k++) m[r][k] -= f * m[c][k];
            b[r] -= f * b[c];
        }
    }
    for (int r = 2; r >= 0; r--) {
        double complex s = b[r];
        for (int k = r + 1; k < 3; k++) s -= m[r][k] * x[k];
        x[r] = s / m[r][r];
    }
}

/* phase (a, b, c) from sequence (0, 1, 2): v_abc = A v_012 */
static void seq_to_phase(const double complex v012[3], double complex vabc[3]) {
    const double complex a = CMPLX(-0.5, 0.5 * SQRT3), a2 = CMPLX(-0.5, -0.5 * SQRT3);
    vabc[0] = v012[0] + v012[1] + v012[2];
    vabc[1] = v012[0] + a2 * v012[1] + a * v012[2];
    vabc[2] = v012[0] + a * v012[1] + a2 * v012[2];
}

// ----------------------------------------------------------------------------
// fault network (exposed through gen_internal.h for the tests)

void gen_elec_fault_admittance(unsigned mask, const double g[3], double gg,
                               double complex yabc[3][3]) {
    double gsum = gg;
    for (int k = 0; k < 3; k++)
        if (mask & (1u << k)) gsum += g[k];
    for (int j = 0; j < 3; j++)
        for (int k = 0; k < 3; k++) {
            yabc[j][k] = 0.0;
            if (!(mask & (1u << j)) || !(mask & (1u << k)) || gsum <= 0.0) continue;
            yabc[j][k] = (j == k ? g[j] : 0.0) - g[j] * g[k] / gsum;
        }
}

void gen_elec_fault_seq(const double complex yabc[3][3], const double complex z012[3],
                        double complex vf, double complex i012[3]) {
    const double complex a = CMPLX(-0.5, 0.5 * SQRT3), a2 = CMPLX(-0.5, -0.5 * SQRT3);
    const double complex A[3][3] = {{1, 1, 1}, {1, a2, a}, {1, a, a2}};
    const double complex Ai[3][3] = {
        {1.0 / 3, 1.0 / 3, 1.0 / 3}, {1.0 / 3, a / 3, a2 / 3}, {1.0 / 3, a2 / 3, a / 3}};
    double complex ya[3][3], y012[3][3], m[3][3], b[3];
    /* Y012 = A^-1 Y_abc A */
    for (int j = 0; j < 3; j++)
        for (int k = 0; k < 3; k++) {
            ya[j][k] = 0.0;
            for (int l = 0; l < 3; l++) ya[j][k] += yabc[j][l] * A[l][k];
        }
    for (int j = 0; j < 3; j++)
        for (int k = 0; k < 3; k++) {
            y012[j][k] = 0.0;
            for (int l = 0; l < 3; l++) y012[j][k] += Ai[j][l] * ya[l][k];
        }
    /* (1 + Y012 Z012) I012 = Y012 Vpre012, Vpre012 = (0, vf, 0) */
    for (int j = 0; j < 3; j++) {
        for (int k = 0; k < 3; k++) m[j][k] = (j == k ? 1.0 : 0.0) + y012[j][k] * z012[k];
        b[j] = y012[j][1] * vf;
    }
    solve3(m, b, i012);
}

// ----------------------------------------------------------------------------
// device parameters

/* Nominal values at h = 0; the spread at h = 1 is the "default heterogeneity". Draws
 * are always consumed in the same order, so a device is the same installation at any h
 * (its parameters just move further from nominal as h grows). */
static void elec_device(ElecDevice *dv, uint64_t seed, uint64_t device, double h) {
    Rng r;
    rng_init(&r, seed, FA_RNG_DEVICE, device, (uint64_t)FA_DATA_ELECTRICAL, 0);
    double z[8], u[23];
    for (int i = 0; i < 8; i++) z[i] = rng_normal(&r);
    for (int i = 0; i < 23; i++) u[i] = rng_uniform(&r);
#define SYM(i) (2.0 * u[i] - 1.0) /* uniform in (-1, 1) */

    /* source: strength (|Zs1|) varies with the grid connection; X/R ~ 11 */
    dv->e = clampd(1.0 + 0.03 * h * z[0], 0.85, 1.15);
    dv->zs1 = polar_c(0.072 * exp(0.35 * h * z[1]), clampd(85.0 + 2.0 * h * SYM(0), 70.0, 89.0));
    dv->zs0 = dv->zs1 * exp(0.25 * h * z[2]); /* grounding transformer */
    /* line: length scales ZL; the zero-sequence impedance is ~3x the positive one */
    double zl = 0.022 * exp(0.35 * h * z[3]);
    double ang = clampd(80.0 + 3.0 * h * SYM(1), 60.0, 88.0);
    dv->zl1 = polar_c(zl, ang);
    dv->zl0 = polar_c(zl * 3.0 * exp(0.10 * h * z[4]), ang - 5.0);
    double mc = clampd(0.5 + 0.2 * h * SYM(2), 0.32, 0.68);
    dv->m_lo = mc - 0.3;
    dv->m_hi = mc + 0.3;
    /* load level, power factor (lagging) and unbalance */
    double load = clampd(1.0 * exp(0.4 * h * z[5]), 0.25, 4.0);
    double pf = clampd(0.9 + 0.07 * h * SYM(3), 0.6, 1.0);
    dv->il1 = load * cis(-acos(pf));
    /* nominal unbalance: 10 % negative sequence at +150 deg from IL1, which makes phase A
     * the lightest and B the heaviest, as in the real data's healthy rows (46/56/53 A) */
    dv->il2 = load * fabs(0.10 + 0.05 * h * z[6]) *
              cis(-acos(pf) + 150.0 * FA_PI / 180.0 + h * 2.0 * FA_PI * u[4]);
    dv->load_jitter = 0.03;
    /* fault resistance: most faults are low-resistance arcs; a few are high-impedance
     * (tree contact, broken conductor on dry ground) and draw little more than load */
    double rs = exp(0.5 * h * z[7]);
    dv->rf_lo = 0.0005 * rs;
    dv->rf_hi = 0.02 * rs;
    dv->p_hiz = clampd(0.03 * (1.0 + 1.5 * h * SYM(5)), 0.0, 0.3);
    dv->hiz_lo = 0.15 * rs;
    dv->hiz_hi = 2.0 * rs;
    dv->rg_hi = 0.015 * rs * (1.0 + 0.5 * h * SYM(6));
    dv->cycles = 3.0;
    /* sensors: CT/PT ratio error x0.8-1.2, offsets ~2 % of healthy rms, SNR 20-40 dB
     * (one for the current sensors, one for the voltage sensors) */
    double snr_i = 30.0 + 10.0 * h * SYM(7), snr_v = 30.0 + 10.0 * h * SYM(8);
    for (int c = 0; c < ELEC_D; c++) {
        double ref = c < 3 ? I_HEALTHY_RMS : V_HEALTHY_RMS;
        dv->gain[c] = clampd(1.0 + 0.2 * h * SYM(9 + c), 0.2, 5.0);
        dv->offset[c] = 0.02 * h * ref * SYM(15 + c);
        dv->noise[c] = ref * pow(10.0, -fmax(c < 3 ? snr_i : snr_v, 0.0) / 20.0);
    }
    /* with probability 0.25 h the installer wired the sensors A->B->C rotated */
    dv->rot = u[21] < 0.25 * h ? 1 + (u[22] < 0.5) : 0;
#undef SYM
}

// ----------------------------------------------------------------------------
// samples

/* Local frame of each class: phase 'a' of the local frame is actual phase `ref`,
 * `mask` marks the faulted local phases, `ground` whether the star is grounded. */
static const struct {
    int ref;
    unsigned mask;
    bool ground;
} elec_fault_shape[ELEC_K] = {
    {0, 0u, false}, /* NoFault */
    {0, 1u, true},  /* LG: A-G */
    {0, 6u, false}, /* LL: B-C (local b, c) */
    {2, 6u, true},  /* LLG: A-B-G = local b, c with local a = actual C */
    {0, 7u, false}, /* LLL */
    {0, 7u, true},  /* LLLG */
};

/* One sample of class cls into out (D). Draw order is fixed per class. */
static void elec_sample(const ElecDevice *dv, int cls, Rng *r, float *out) {
    double psi = 2.0 * FA_PI * rng_uniform(r);
    double s = 1.0 + dv->load_jitter * rng_normal(r);
    double complex il[3] = {0.0, s * dv->il1, s * dv->il2}; /* load, sequence 0,1,2 */
    double complex di[3] = {0.0, 0.0, 0.0};                 /* fault change, 0,1,2 */
    double decay = 0.0, theta0 = 0.0;
    if (cls != CLS_NOFAULT) {
        double m = dv->m_lo + (dv->m_hi - dv->m_lo) * rng_uniform(r);
        bool hiz = rng_uniform(r) < dv->p_hiz;
        double rf =
            hiz ? log_uniform(r, dv->hiz_lo, dv->hiz_hi) : log_uniform(r, dv->rf_lo, dv->rf_hi);
        double rg = 1e-4 + dv->rg_hi * rng_uniform(r);
        double g[3];
        for (int k = 0; k < 3; k++) g[k] = 1.0 / (rf * clampd(1.0 + 0.1 * rng_normal(r), 0.5, 1.5));
        double wtau = 2.0 * FA_PI * dv->cycles * rng_uniform(r);
        double complex z1 = dv->zs1 + m * dv->zl1;
        double complex z012[3] = {dv->zs0 + m * dv->zl0, z1, z1};
        double complex vf = dv->e - z1 * il[1];
        double complex y[3][3];
        gen_elec_fault_admittance(elec_fault_shape[cls].mask, g,
                                  elec_fault_shape[cls].ground ? 1.0 / rg : 0.0, y);
        gen_elec_fault_seq(y, z012, vf, di);
        /* DC offset of the fault loop decays with its X/R: e^{-omega tau R/X} */
        decay = exp(-wtau * (creal(z1) + rf) / cimag(z1));
        theta0 = psi - wtau;
    }
    double complex im012[3], vm012[3], iabc[3], diabc[3], vabc[3];
    for (int q = 0; q < 3; q++) im012[q] = il[q] + di[q];
    vm012[0] = -dv->zs0 * im012[0];
    vm012[1] = dv->e - dv->zs1 * im012[1];
    vm012[2] = -dv->zs1 * im012[2];
    seq_to_phase(im012, iabc);
    seq_to_phase(di, diabc);
    seq_to_phase(vm012, vabc);
    double complex ep = cis(psi), e0 = cis(theta0);
    double sig[ELEC_D];
    int ref = elec_fault_shape[cls].ref;
    for (int k = 0; k < 3; k++) {
        /* local phase k is actual phase p, shown on output channel c */
        int p = (k + ref) % 3;
        int c = (p - dv->rot + 3) % 3;
        double i_ac = SQRT2 * creal(iabc[k] * ep);
        double i_dc = -SQRT2 * creal(diabc[k] * e0) * decay;
        sig[c] = I_BASE * (i_ac + i_dc);
        sig[3 + c] = V_BASE * SQRT2 * creal((vabc[k] - vabc[(k + 1) % 3]) * ep);
    }
    for (int c = 0; c < ELEC_D; c++)
        out[c] = (float)(dv->gain[c] * sig[c] + dv->offset[c] + dv->noise[c] * rng_normal(r));
}

// ----------------------------------------------------------------------------
// public (through gen.c)

void gen_elec_info(DataInfo *info) {
    info->d = ELEC_D;
    info->k = ELEC_K;
    snprintf(info->name, sizeof info->name, "%s", "electrical");
    for (int c = 0; c < ELEC_D; c++)
        snprintf(info->feature_names[c], FA_NAME_LEN, "%s", elec_feature_names[c]);
    for (int k = 0; k < ELEC_K; k++)
        snprintf(info->class_names[k], FA_NAME_LEN, "%s", elec_class_names[k]);
}

void gen_elec_samples(const GenOptions *opt, uint64_t seed, uint64_t device, bool public_data,
                      uint64_t stream, const int32_t *y, size_t n, float *x) {
    ElecDevice dv;
    elec_device(&dv, seed, device, public_data ? 0.0 : opt->heterogeneity);
    Rng r;
    rng_init(&r, seed, public_data ? FA_RNG_PUBLIC : FA_RNG_SAMPLES, device, stream, 0);
    for (size_t i = 0; i < n; i++) {
        CHECK(y[i] >= 0 && y[i] < ELEC_K, "electrical label %d out of range [0, %d)", (int)y[i],
              ELEC_K);
        elec_sample(&dv, (int)y[i], &r, x + i * ELEC_D);
    }
}
