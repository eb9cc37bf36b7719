/*
 * mech_features.h: the on-board feature extractor of the mechanical (bearing vibration)
 * data, one source for both sides. gen_mechanical.c #includes this file to make the
 * feature rows the MLP trains on, and the build embeds it as text into export_features.c,
 * which writes it verbatim into the exported feature_extractor.c, so a device computes exactly
 * the features the model was trained on from its own raw window. A change here changes
 * both.
 *
 * Plain C99 with <math.h> and <stddef.h> only: no heap, no state, every function static.
 * Samples are of type FA_MECH_SAMPLE (double unless the includer defines it; the export
 * uses float, the type of the raw windows fedalign emits and of an ADC's scaled samples).
 * Every sample is converted to double before any arithmetic, so float samples and the
 * same values held as doubles give the same bits. Compile with floating-point contraction
 * off (-ffp-contract=off), as fedalign is: a fused multiply-add rounds differently.
 *
 * Features (no FFT): max, min, mean, sd, rms, skewness, kurtosis, crest (max|x|/rms),
 * form (rms/mean|x|), peak-to-peak, impulse (max|x|/mean|x|), clearance
 * (max|x|/mean(sqrt|x|)^2); with env_f also the envelope spectrum at the five
 * frequencies env_f (fedalign uses the device's shaft frequency fr, BPFO, BPFI, BSF and
 * 2 BSF: fa_mech_bearing_freqs): envelope e[n] = |x[n] - x[n-1]| (the first difference
 * is a cheap high-pass: gain 2 sin(pi f/fs), ~1-1.9 over the resonance band, < 0.02 at
 * shaft harmonics), Hann-windowed, one Goertzel filter per frequency, amplitude divided
 * by the mean envelope (a modulation index, free of sensor gain).
 */
#include <math.h>
#include <stddef.h>

#ifndef FA_MECH_SAMPLE
#define FA_MECH_SAMPLE double
#endif

#define FA_MF_N_TIME 12 /* time-domain features */
#define FA_MF_N_ENV 5   /* envelope-spectrum features (env_f given) */
#define FA_MF_PI 3.14159265358979323846

/* Characteristic bearing frequencies for shaft frequency fr (Hz), nb rolling elements of
 * diameter bd on pitch diameter pd (same unit), contact angle alpha (rad):
 * out = {FTF, BPFO, BPFI, BSF} in Hz. */
static void fa_mech_bearing_freqs(double fr, double nb, double bd, double pd, double alpha,
                                  double out[4]) {
    double r = bd / pd * cos(alpha);
    out[0] = 0.5 * fr * (1.0 - r);
    out[1] = 0.5 * nb * fr * (1.0 - r);
    out[2] = 0.5 * nb * fr * (1.0 + r);
    out[3] = pd * fr / (2.0 * bd) * (1.0 - r * r);
}

/* feat[FA_MF_N_TIME + k] for k < FA_MF_N_ENV: the envelope spectrum of w (W >= 3
 * samples at fs) at env_f[k] Hz */
static void fa_mech_envelope(const FA_MECH_SAMPLE *w, size_t W, double fs, const double *env_f,
                             float *feat) {
    /* envelope e[n] = |w[n] - w[n-1]|, n = 1..W-1 (M values) */
    size_t M = W - 1;
    double emean = 0.0, tiny = 1e-300;
    for (size_t i = 1; i < W; i++) emean += fabs((double)w[i] - (double)w[i - 1]);
    emean /= (double)M;
    /* Goertzel: s[n] = v[n] + 2 cos(om) s[n-1] - s[n-2]; |X|^2 = s1^2 + s2^2 - c s1 s2 */
    double coef[FA_MF_N_ENV], s1[FA_MF_N_ENV] = {0}, s2[FA_MF_N_ENV] = {0};
    for (int k = 0; k < FA_MF_N_ENV; k++) coef[k] = 2.0 * cos(2.0 * FA_MF_PI * env_f[k] / fs);
    /* Hann window hw[j] = 0.5 - 0.5 cos(2 pi j / (M-1)) by a rotation recurrence */
    double dth = 2.0 * FA_MF_PI / (double)(M - 1), cd = cos(dth), sdl = sin(dth);
    double c = 1.0, sn = 0.0, wsum = 0.0;
    for (size_t j = 0; j < M; j++) {
        double hw = 0.5 - 0.5 * c;
        double v = hw * (fabs((double)w[j + 1] - (double)w[j]) - emean);
        wsum += hw;
        for (int k = 0; k < FA_MF_N_ENV; k++) {
            double t = v + coef[k] * s1[k] - s2[k];
            s2[k] = s1[k];
            s1[k] = t;
        }
        double cn = c * cd - sn * sdl;
        sn = sn * cd + c * sdl;
        c = cn;
    }
    for (int k = 0; k < FA_MF_N_ENV; k++) {
        double p = s1[k] * s1[k] + s2[k] * s2[k] - coef[k] * s1[k] * s2[k];
        double amp = 2.0 * sqrt(fmax(p, 0.0)) / wsum;
        feat[FA_MF_N_TIME + k] = (float)(emean > tiny ? amp / emean : 0.0);
    }
}

/* The features of one window w (W >= 3 samples at fs Hz): feat receives FA_MF_N_TIME
 * time-domain features and, when env_f != NULL, FA_MF_N_ENV envelope-spectrum
 * magnitudes at the frequencies env_f[0..FA_MF_N_ENV) (Hz). */
static void fa_mech_features(const FA_MECH_SAMPLE *w, size_t W, double fs, const double *env_f,
                             float *feat) {
    double mx = (double)w[0], mn = (double)w[0], s = 0.0, sa = 0.0, ss = 0.0;
    for (size_t i = 0; i < W; i++) {
        double v = (double)w[i], a = fabs(v);
        mx = v > mx ? v : mx;
        mn = v < mn ? v : mn;
        s += v;
        sa += a;
        ss += sqrt(a);
    }
    double dn = (double)W, mean = s / dn, mabs = sa / dn, msq = ss / dn;
    double m2 = 0.0, m3 = 0.0, m4 = 0.0;
    for (size_t i = 0; i < W; i++) {
        double d = (double)w[i] - mean, d2 = d * d;
        m2 += d2;
        m3 += d2 * d;
        m4 += d2 * d2;
    }
    m2 /= dn;
    m3 /= dn;
    m4 /= dn;
    double sd = sqrt(m2), rms = sqrt(m2 + mean * mean);
    double peak = fmax(fabs(mx), fabs(mn));
    double tiny = 1e-300;
    double f[FA_MF_N_TIME] = {mx,
                              mn,
                              mean,
                              sd,
                              rms,
                              m2 > tiny ? m3 / (m2 * sd) : 0.0,
                              m2 > tiny ? m4 / (m2 * m2) : 0.0,
                              rms > tiny ? peak / rms : 0.0,
                              mabs > tiny ? rms / mabs : 0.0,
                              mx - mn,
                              mabs > tiny ? peak / mabs : 0.0,
                              msq > tiny ? peak / (msq * msq) : 0.0};
    for (int k = 0; k < FA_MF_N_TIME; k++) feat[k] = (float)f[k];
    if (env_f) fa_mech_envelope(w, W, fs, env_f, feat);
}
