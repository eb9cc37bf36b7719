/*
 * export_ties.c: the exported model's input rounding at exact ties (tests/e2e/
 * test_export_ties.sh; issue 19). Built together with an exported model.c, which it
 * includes to read the model's own mean[], in_mul[] and IN_ZP. For every feature and
 * every half-integer t whose quantized value lands in [-128, 127], it searches the floats
 * x near mean + t / in_mul for one where the model's float step (x - mean) * in_mul gives
 * exactly t, and checks model_quantize_input(x) against the documented rule computed
 * independently here: round half away from zero, add the zero point, clamp to int8.
 * Also the exported rdbpot (RoundingDivideByPOT) on hand-checked values at its ties.
 * Prints one line per tie found and a summary; exit code = mismatches (capped at 100),
 * or 101 if too few ties were found to mean anything.
 */
#include <math.h>
#include <stdio.h>

#include "model.c"

/* the model's float step, kept in float (volatile: no wider evaluation, no contraction) */
static float step(float x, int i) {
    volatile float d = x - mean[i];
    volatile float v = d * in_mul[i];
    return v;
}

int main(void) {
    long found = 0, bad = 0;
    for (int i = 0; i < NIN; i++) {
        for (int k = -128 - IN_ZP - 1; k <= 127 - IN_ZP; k++) {
            double t = k + 0.5;
            float x = (float)((double)mean[i] + t / (double)in_mul[i]);
            /* walk x both ways from the estimate: the first float that hits the tie */
            float hit = NAN;
            float lo = x, hi = x;
            for (int s = 0; s < 256 && isnan(hit); s++) {
                if ((double)step(hi, i) == t) hit = hi;
                else if ((double)step(lo, i) == t) hit = lo;
                hi = nextafterf(hi, INFINITY);
                lo = nextafterf(lo, -INFINITY);
            }
            if (isnan(hit)) continue;
            found++;
            float xv[NIN];
            int8_t xq[NIN];
            for (int j = 0; j < NIN; j++) xv[j] = mean[j];
            xv[i] = hit;
            model_quantize_input(xv, xq);
            double r = t > 0 ? floor(t) + 1.0 : ceil(t) - 1.0; /* half away from zero */
            long want = (long)r + IN_ZP;
            want = want > 127 ? 127 : want < -128 ? -128 : want;
            printf("tie feature %d x %a v %.1f xq %d want %ld\n", i, (double)hit, t, (int)xq[i], want);
            if (xq[i] != want) {
                printf("# MISMATCH feature %d v %.1f: xq %d, want %ld\n", i, t, (int)xq[i], want);
                bad++;
            }
        }
    }
    /* the exported RoundingDivideByPOT at and next to its ties (half away from zero) */
    static const int32_t rd[][3] = {{1, 1, 1},  {-1, 1, -1}, {2, 1, 1},   {-2, 1, -1},
                                    {3, 1, 2},  {-3, 1, -2}, {5, 1, 3},   {-5, 1, -3},
                                    {6, 2, 2},  {-6, 2, -2}, {5, 2, 1},   {-5, 2, -1},
                                    {7, 0, 7},  {12, 3, 2},  {-12, 3, -2}, {11, 3, 1}};
    for (size_t r = 0; r < sizeof rd / sizeof rd[0]; r++) {
        int32_t got = rdbpot(rd[r][0], rd[r][1]);
        if (got != rd[r][2]) {
            printf("# MISMATCH rdbpot(%d, %d) = %d, want %d\n", (int)rd[r][0], (int)rd[r][1],
                   (int)got, (int)rd[r][2]);
            bad++;
        }
    }
    printf("# ties %ld mismatches %ld\n", found, bad);
    if (found < 50) return 101;
    return bad > 100 ? 100 : (int)bad;
}
