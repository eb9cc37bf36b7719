/*
 * int8_kernels.h: the integer-only int8 inference kernels of fedalign, one source for
 * both sides. The suite's quant.c #includes this file (int8 accuracy and latency during
 * runs), and the build embeds it as text into export.c, which writes it verbatim into
 * every exported model.c (the microcontroller). A change here changes both.
 *
 * Plain C99 with <stdint.h> only: no heap, no libc calls, every function static. Names
 * here must not collide with model.c's tables (mean, in_mul, layers, buf; -Wshadow).
 * Needs an arithmetic right shift of negative int32 (every GCC/Clang target; C leaves
 * it implementation-defined). Every intermediate is bounded (fan-in <= 32768, |bias| <=
 * 2^30), so no signed overflow occurs and the result is the same on every target.
 */
#include <stdint.h>

/* one fully connected layer as the kernels read it */
typedef struct {
    const int8_t *w;     /* (fo, fi): output channel j's weights are contiguous */
    const int32_t *bias; /* (fo) int32, input zero point folded in */
    const int32_t *mult; /* (fo) Q31 requantization multipliers */
    const int8_t *shift; /* (fo) power-of-two exponents */
    uint16_t fi, fo;
    int32_t out_zp, act_min;
} layer_t;

/* small helpers are forced inline: -Os would otherwise call them once per output */
#if defined(__GNUC__)
#define INLINE static inline __attribute__((always_inline))
#else
#define INLINE static inline
#endif

/* gemmlowp SaturatingRoundingDoublingHighMul: a * b / 2^31 to nearest, ties up */
INLINE int32_t srdhm(int32_t a, int32_t b) {
    if (a == b && a == INT32_MIN) return INT32_MAX;
    /* gemmlowp writes (ab + nudge) / 2^31 with nudge = 2^30 for ab >= 0 and 1 - 2^30
     * otherwise, and a division that truncates toward zero. For ab < 0 that is
     * ceil((ab + 1 - 2^30) / 2^31) = floor((ab + 2^30) / 2^31), the same as for ab >= 0,
     * so one floor shift does it without a branch: round to nearest, ties toward
     * +infinity (-1.5 -> -1). */
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/* gemmlowp RoundingDivideByPOT: round(x / 2^e), half away from zero, e in [0, 31] */
INLINE int32_t rdbpot(int32_t x, int32_t e) {
    int32_t mask = (int32_t)(((int64_t)1 << e) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (remainder > threshold ? 1 : 0);
}

/* x * mult * 2^(shift - 31) (TFLite MultiplyByQuantizedMultiplier; the left shift
 * saturates) */
INLINE int32_t requant(int32_t x, int32_t mult, int32_t shift) {
    if (shift > 0) { /* x * 2^shift saturated to int32, in 32-bit arithmetic */
        int32_t lim = (int32_t)1 << (31 - shift);
        x = x >= lim ? INT32_MAX : x < -lim ? INT32_MIN : x * ((int32_t)1 << shift);
        shift = 0;
    }
    return rdbpot(srdhm(x, mult), -shift);
}

/* sum_i w[i] * x[i] of n int8 pairs in int32 (exact: it cannot overflow, so any order
 * of the additions gives the same sum); dot2 does two weight rows against one input.
 * With the Armv7E-M DSP extension (Cortex-M4/M7/M33) four pairs at a time go through
 * SXTB16 + SMLAD and two rows share the unpacked input, as CMSIS-NN does. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
/* four int8 as one word: one LDR (the M4 allows unaligned LDR; may_alias keeps the
 * compiler's aliasing rules out of it) */
typedef uint32_t u32_unaligned __attribute__((aligned(1), may_alias));
#define rd32(p) (*(const u32_unaligned *)(const void *)(p))
#define SXTB16(r, v) __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(v))
#define SXTB16_ROR8(r, v) __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v))
#define SMLAD(acc, a, b) __asm__("smlad %0, %1, %2, %0" : "+r"(acc) : "r"(a), "r"(b))
INLINE int32_t dot(const int8_t *restrict w, const int8_t *restrict x, uint32_t n) {
    int32_t acc = 0;
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t a = rd32(w + i), b = rd32(x + i), a0, a1, b0, b1;
        SXTB16(a0, a);
        SXTB16_ROR8(a1, a);
        SXTB16(b0, b);
        SXTB16_ROR8(b1, b);
        SMLAD(acc, a0, b0);
        SMLAD(acc, a1, b1);
    }
    for (; i < n; i++) acc += (int32_t)w[i] * (int32_t)x[i];
    return acc;
}
INLINE void dot2(const int8_t *restrict w, const int8_t *restrict v, const int8_t *restrict x,
                 uint32_t n, int32_t *sw, int32_t *sv) {
    int32_t aw = 0, av = 0;
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t xb = rd32(x + i), a = rd32(w + i), b = rd32(v + i), x0, x1, t0, t1;
        SXTB16(x0, xb);
        SXTB16_ROR8(x1, xb);
        SXTB16(t0, a);
        SXTB16_ROR8(t1, a);
        SMLAD(aw, t0, x0);
        SMLAD(aw, t1, x1);
        SXTB16(t0, b);
        SXTB16_ROR8(t1, b);
        SMLAD(av, t0, x0);
        SMLAD(av, t1, x1);
    }
    for (; i < n; i++) {
        aw += (int32_t)w[i] * (int32_t)x[i];
        av += (int32_t)v[i] * (int32_t)x[i];
    }
    *sw = aw;
    *sv = av;
}
#else
static int32_t dot(const int8_t *restrict w, const int8_t *restrict x, uint32_t n) {
    int32_t acc = 0;
    uint32_t i;
    for (i = 0; i < n; i++) acc += (int32_t)w[i] * (int32_t)x[i];
    return acc;
}
/* one pass for both rows: each input element is loaded (and widened) once */
static void dot2(const int8_t *restrict w, const int8_t *restrict v, const int8_t *restrict x,
                 uint32_t n, int32_t *sw, int32_t *sv) {
    int32_t aw = 0, av = 0;
    uint32_t i;
    for (i = 0; i < n; i++) {
        aw += (int32_t)w[i] * (int32_t)x[i];
        av += (int32_t)v[i] * (int32_t)x[i];
    }
    *sw = aw;
    *sv = av;
}
#endif

/* output j of a layer from its accumulator: clamp(zp + M_j * (bias[j] + acc)) */
INLINE int8_t requant_out(const layer_t *ly, uint32_t j, int32_t acc) {
    int32_t v = requant(ly->bias[j] + acc, ly->mult[j], (int32_t)ly->shift[j]);
    v = v > 255 ? 255 : v < -256 ? -256 : v;
    v += ly->out_zp;
    v = v > 127 ? 127 : v < ly->act_min ? ly->act_min : v;
    return (int8_t)v;
}

/* one fully connected layer, two output channels at a time */
static void kernel_fc(const layer_t *ly, const int8_t *restrict in, int8_t *restrict out) {
    const uint32_t fi = ly->fi, fo = ly->fo;
    const int8_t *w = ly->w;
    uint32_t j = 0;
    int32_t acc0, acc1;
    for (; j + 2 <= fo; j += 2, w += 2 * fi) {
        dot2(w, w + fi, in, fi, &acc0, &acc1);
        out[j] = requant_out(ly, j, acc0);
        out[j + 1] = requant_out(ly, j + 1, acc1);
    }
    if (j < fo) out[j] = requant_out(ly, j, dot(w, in, fi));
}

/* round half away from zero after clamping to [-1024, 1024] (NaN -> -1024); exact:
 * |v| < 2^23, so v - trunc(v) is computed without rounding */
static int32_t round_clamp(float v) {
    int32_t t;
    float frac;
    if (!(v >= -1024.0f)) v = -1024.0f;
    if (v > 1024.0f) v = 1024.0f;
    t = (int32_t)v;
    frac = v - (float)t;
    if (frac >= 0.5f) t++;
    else if (frac <= -0.5f) t--;
    return t;
}

/* the one float step, per input feature: clamp(round((x - mu) * mul) + zp) to int8;
 * two IEEE-754 single operations (no FMA can fuse a subtraction and a product) and an
 * exact rounding, so every IEEE-754 machine gives the same byte */
static int8_t quantize_x(float x, float mu, float mul, int32_t zp) {
    float v = (x - mu) * mul;
    int32_t t = round_clamp(v) + zp;
    return (int8_t)(t > 127 ? 127 : t < -128 ? -128 : t);
}

/* every layer from a (the quantized input) ping-ponging through b, both of the widest
 * layer's size; returns the buffer that holds the int8 logits */
static int8_t *forward(const layer_t *ly, uint32_t n_layers, int8_t *a, int8_t *b) {
    uint32_t l;
    for (l = 0; l < n_layers; l++) {
        int8_t *t;
        kernel_fc(&ly[l], a, b);
        t = a;
        a = b;
        b = t;
    }
    return a;
}

/* the predicted class: argmax of the logits, lowest index on ties */
static uint32_t argmax(const int8_t *logits, uint32_t n) {
    uint32_t k, best = 0;
    for (k = 1; k < n; k++)
        if (logits[k] > logits[best]) best = k;
    return best;
}

#if defined(FA_INT8_CNN)
/* The cnn1d's kernels (model.h): compiled where FA_INT8_CNN is defined (quant_cnn.c), so
 * an exported MLP carries none of them. Activations are time-major (len, ch) int8. */

/* conv1d, valid padding, stride 1: the k steps from t of a time-major (len, c_in) input are
 * k * c_in contiguous bytes, so output step t is kernel_fc of ly (fi = k * c_in, w (c_out,
 * k * c_in)) on them, ReLU fused into its clamp */
static void kernel_conv(const layer_t *ly, uint32_t len_conv, uint32_t c_in,
                        const int8_t *restrict in, int8_t *restrict out) {
    uint32_t t;
    for (t = 0; t < len_conv; t++) kernel_fc(ly, in + t * c_in, out + t * ly->fo);
}

/* max-pool of `pool` steps with stride pool into (len_pool, ch): input and output share
 * scale and zero point, and the int8 max is the max of the reals */
static void kernel_maxpool(const int8_t *restrict in, uint32_t len_pool, uint32_t ch, uint32_t pool,
                           int8_t *restrict out) {
    uint32_t t, c, i;
    for (t = 0; t < len_pool; t++)
        for (c = 0; c < ch; c++) {
            int8_t m = in[t * pool * ch + c];
            for (i = 1; i < pool; i++) {
                int8_t v = in[(t * pool + i) * ch + c];
                m = v > m ? v : m;
            }
            out[t * ch + c] = m;
        }
}

/* global average pooling over len steps into (ch), requantized to its own scale, as
 * TFLite's reference_integer_ops::Mean: s = sum_t (in - in_zp), s' = requant(s, mult,
 * shift) (mult * 2^shift = in_scale / out_scale), out = out_zp + round(s' / len), half
 * away from zero. The mean of a post-ReLU map spans a small part of the map's range, so
 * keeping the map's scale left it a few dozen levels (quant_cnn.c sizes mult so that
 * s * 2^shift fits int32: len * 255 * 2^shift < 2^31). */
static void kernel_mean(const int8_t *restrict in, uint32_t len, uint32_t ch, int32_t in_zp,
                        int32_t mult, int32_t shift, int32_t out_zp, int8_t *restrict out) {
    uint32_t t, c;
    for (c = 0; c < ch; c++) {
        int32_t s = 0, q;
        for (t = 0; t < len; t++) s += (int32_t)in[t * ch + c] - in_zp;
        s = requant(s, mult, shift);
        q = s > 0 ? (s + (int32_t)(len / 2)) / (int32_t)len
                  : -((-s + (int32_t)(len / 2)) / (int32_t)len);
        q += out_zp;
        out[c] = (int8_t)(q > 127 ? 127 : q < -128 ? -128 : q);
    }
}
#endif
