/*
 * gen_internal.h: private interface between gen.c (dispatch) and the two built-in
 * device generators, gen_electrical.c and gen_mechanical.c. Not part of the public
 * API (data.h is); it exists so that the physics kernels below can be unit-tested
 * against textbook formulas.
 *
 * Everything here is pure: no global state, no printing, no MPI.
 */
#ifndef FEDALIGN_GEN_INTERNAL_H
#define FEDALIGN_GEN_INTERNAL_H

#include <complex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedalign/data.h"

#define FA_MECH_FS 12000.0          /* vibration sample rate (Hz) */
#define FA_MECH_WINDOW_DEFAULT 1024 /* samples per window when opt->window == 0 */
#define FA_MECH_SEV_DEFAULT 3       /* severities per fault type when opt->severities == 0 */
#define FA_MECH_N_TIME 12           /* time-domain features */
#define FA_MECH_N_ENV 5             /* envelope-spectrum features (opt->spectral) */

/* opt (may be NULL: heterogeneity 1 and defaults) with defaults filled in and the ranges
 * that matter for `kind` checked (CHECK on nonsense). */
GenOptions gen_options_resolve(const GenOptions *opt, FaDataKind kind);

// ----------------------------------------------------------------------------
// electrical (gen_electrical.c)

void gen_elec_info(DataInfo *info);
void gen_elec_samples(const GenOptions *opt, uint64_t seed, uint64_t device, bool public_data,
                      uint64_t stream, const int32_t *y, size_t n, float *x);

/* Phase-domain admittance (3x3, siemens in pu) of a star-connected fault: every phase k
 * with bit k set in `mask` is tied through conductance g[k] to a common node, and that
 * node to ground through conductance gg (0 = ungrounded).
 *   Y_jk = g_j d_jk - g_j g_k / (sum_{i in mask} g_i + gg)   for j, k in mask, else 0 */
void gen_elec_fault_admittance(unsigned mask, const double g[3], double gg,
                               double complex yabc[3][3]);

/* Sequence currents i012 = (I0, I1, I2) flowing into a fault of admittance yabc at a
 * point whose Thevenin sequence impedances are z012 and whose prefault (positive
 * sequence) voltage is vf: solves (1 + Y012 Z012) I012 = Y012 (0, vf, 0). */
void gen_elec_fault_seq(const double complex yabc[3][3], const double complex z012[3],
                        double complex vf, double complex i012[3]);

// ----------------------------------------------------------------------------
// mechanical (gen_mechanical.c)

void gen_mech_info(const GenOptions *opt, DataInfo *info);
void gen_mech_samples(const GenOptions *opt, uint64_t seed, uint64_t device, bool public_data,
                      uint64_t stream, const int32_t *y, size_t n, float *x);

/* Characteristic bearing frequencies for shaft frequency fr (Hz), nb rolling elements of
 * diameter bd on pitch diameter pd (same unit), contact angle alpha (rad):
 * out = {FTF, BPFO, BPFI, BSF} in Hz. */
void gen_mech_bearing_freqs(double fr, double nb, double bd, double pd, double alpha,
                            double out[4]);

/* On-board features of one window w (W samples at fs). feat receives FA_MECH_N_TIME
 * time-domain features and, when env_f != NULL, FA_MECH_N_ENV envelope-spectrum
 * magnitudes at the frequencies env_f[0..FA_MECH_N_ENV) (Hz). */
void gen_mech_features(const double *w, size_t W, double fs, const double *env_f, float *feat);

/* The envelope frequencies env_f (fr, BPFO, BPFI, BSF, 2 BSF in Hz) that gen_mech_samples
 * uses for device `device`'s feature rows (the same arguments): what a device passes to the
 * exported feature extractor for its raw windows. */
void gen_mech_env_freqs(const GenOptions *opt, uint64_t seed, uint64_t device, bool public_data,
                        double env_f[FA_MECH_N_ENV]);

#endif
