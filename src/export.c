/*
 * export.c: write one int8 model (quant.h) as a self-contained C99 pair model.h/model.c,
 * the raw model file, and the `fedalign export` command.
 *
 * Not here: quantization itself (quant.c), HDF5 (store.c is the only file that reads the
 * results file through store_read_cmdline/store_read_personal), MPI (the command is
 * serial and refuses to run on more than one rank).
 *
 * Invariants:
 * - the generated code repeats quant.c's integer kernels (srdhm, rdbpot, requant,
 *   kernel_fc, round_clamp, argmax) with the same operations in the same order; a change
 *   in one must be made in the other (tests/e2e/test_export.sh compares predictions);
 * - constants are written exactly: integers in decimal, floats as C99 hex literals (%a);
 * - the output is a deterministic function of the model and the names (no time stamps),
 *   so exporting the same model twice gives identical files.
 */
#include "fedalign/export.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fedalign/check.h"
#include "fedalign/comm.h"
#include "fedalign/store.h"

#ifndef FEDALIGN_VERSION
#define FEDALIGN_VERSION "unknown"
#endif

// ----------------------------------------------------------------------------
// helpers

static int fail(char *err, size_t errlen, const char *fmt, ...) FA_PRINTF(3, 4);
static int fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static bool valid_ident(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 32 || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_')) return false;
    return true;
}

/* a C string literal body: printable ASCII as is, except \ " and ? (trigraphs), which are
 * escaped, and everything else as a three-digit octal escape */
static void put_cstr(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\' || *p == '"' || *p == '?') fprintf(f, "\\%c", *p);
        else if (*p >= 0x20 && *p < 0x7f) fputc(*p, f);
        else fprintf(f, "\\%03o", (unsigned)*p);
    }
    fputc('"', f);
}

/* comment text: no "*" followed by "/" and no control characters */
static void put_comment_text(FILE *f, const char *s) {
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '*' && p[1] == '/') fputs("* ", f);
        else if (c == '\n') fputs("\n * ", f);
        else if (c < 0x20 || c == 0x7f) fputc(' ', f);
        else fputc(c, f);
    }
}

/* exact float literal: C99 hexadecimal, e.g. 0x1.99999ap-4f */
static void put_float(FILE *f, float v) { fprintf(f, "%af", (double)v); }

static void put_i32_array(FILE *f, const char *type, const char *name, const int32_t *v,
                          size_t n, size_t per_line) {
    fprintf(f, "static const %s %s[%zu] = {", type, name, n);
    for (size_t i = 0; i < n; i++) {
        if (i % per_line == 0) fputs("\n    ", f);
        /* INT32_MIN never occurs (biases and multipliers are bounded), but keep it legal */
        if (v[i] == INT32_MIN) fputs("(-2147483647 - 1)", f);
        else fprintf(f, "%ld", (long)v[i]);
        fputs(i + 1 < n ? (i % per_line == per_line - 1 ? "," : ", ") : "", f);
    }
    fputs("\n};\n", f);
}

static void put_i8_array(FILE *f, const char *name, const int8_t *v, size_t n, size_t per_line) {
    int32_t *t = xmalloc((n ? n : 1) * sizeof(int32_t));
    for (size_t i = 0; i < n; i++) t[i] = v[i];
    put_i32_array(f, "int8_t", name, t, n, per_line);
    free(t);
}

static void put_f32_array(FILE *f, const char *name, const float *v, size_t n) {
    fprintf(f, "static const float %s[%zu] = {", name, n);
    for (size_t i = 0; i < n; i++) {
        fputs(i % 4 == 0 ? "\n    " : " ", f);
        put_float(f, v[i]);
        if (i + 1 < n) fputc(',', f);
    }
    fputs("\n};\n", f);
}

/* mkdir -p: create every missing component of dir */
static int mkdir_p(const char *dir, char *err, size_t errlen) {
    char buf[FA_PATH_LEN];
    if (strlen(dir) == 0 || strlen(dir) >= sizeof buf)
        return fail(err, errlen, "--out: bad directory name '%s'", dir);
    strcpy(buf, dir);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return fail(err, errlen, "%s: cannot create directory: %s", buf, strerror(errno));
            *p = c;
            if (c == '\0') break;
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fail(err, errlen, "--out: %s is not a directory", dir);
    return 0;
}

static int close_checked(FILE *f, const char *path, char *err, size_t errlen) {
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return fail(err, errlen, "%s: write failed: %s", path, strerror(errno));
    return 0;
}

// ----------------------------------------------------------------------------
// the generated files

/* the kernels, verbatim C99; PFX_ is replaced by nothing (they are static) */
static const char *const kernel_text =
    "/* small helpers are forced inline: -Os would otherwise call them once per output */\n"
    "#if defined(__GNUC__)\n"
    "#define INLINE static inline __attribute__((always_inline))\n"
    "#else\n"
    "#define INLINE static inline\n"
    "#endif\n"
    "\n"
    "/* gemmlowp SaturatingRoundingDoublingHighMul: a * b / 2^31 to nearest, ties up */\n"
    "INLINE int32_t srdhm(int32_t a, int32_t b) {\n"
    "    if (a == b && a == INT32_MIN) return INT32_MAX;\n"
    "    /* = gemmlowp's (ab + nudge) / 2^31 with truncation, written as one floor shift */\n"
    "    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);\n"
    "}\n"
    "\n"
    "/* gemmlowp RoundingDivideByPOT: round(x / 2^e), half away from zero, e in [0, 31];\n"
    " * needs an arithmetic right shift of negative values (every GCC/Clang target) */\n"
    "INLINE int32_t rdbpot(int32_t x, int32_t e) {\n"
    "    int32_t mask = (int32_t)(((int64_t)1 << e) - 1);\n"
    "    int32_t remainder = x & mask;\n"
    "    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);\n"
    "    return (x >> e) + (remainder > threshold ? 1 : 0);\n"
    "}\n"
    "\n"
    "/* x * mult * 2^(shift - 31) (TFLite MultiplyByQuantizedMultiplier; the left shift\n"
    " * saturates) */\n"
    "INLINE int32_t requant(int32_t x, int32_t mult, int32_t shift) {\n"
    "    if (shift > 0) { /* x * 2^shift saturated to int32, in 32-bit arithmetic */\n"
    "        int32_t lim = (int32_t)1 << (31 - shift);\n"
    "        x = x >= lim ? INT32_MAX : x < -lim ? INT32_MIN : x * ((int32_t)1 << shift);\n"
    "        shift = 0;\n"
    "    }\n"
    "    return rdbpot(srdhm(x, mult), -shift);\n"
    "}\n"
    "\n"
    "/* sum_i w[i] * x[i] of n int8 pairs in int32 (exact: it cannot overflow, so any order\n"
    " * of the additions gives the same sum); dot2 does two weight rows against one input.\n"
    " * With the Armv7E-M DSP extension (Cortex-M4/M7/M33) four pairs at a time go through\n"
    " * SXTB16 + SMLAD and two rows share the unpacked input, as CMSIS-NN does. */\n"
    "#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)\n"
    "/* four int8 as one word: one LDR (the M4 allows unaligned LDR; may_alias keeps the\n"
    " * compiler's aliasing rules out of it) */\n"
    "typedef uint32_t u32_unaligned __attribute__((aligned(1), may_alias));\n"
    "#define rd32(p) (*(const u32_unaligned *)(const void *)(p))\n"
    "#define SXTB16(r, v) __asm__(\"sxtb16 %0, %1\" : \"=r\"(r) : \"r\"(v))\n"
    "#define SXTB16_ROR8(r, v) __asm__(\"sxtb16 %0, %1, ror #8\" : \"=r\"(r) : \"r\"(v))\n"
    "#define SMLAD(acc, a, b) __asm__(\"smlad %0, %1, %2, %0\" : \"+r\"(acc) : \"r\"(a), \"r\"(b))\n"
    "INLINE int32_t dot(const int8_t *restrict w, const int8_t *restrict x, uint32_t n) {\n"
    "    int32_t acc = 0;\n"
    "    uint32_t i = 0;\n"
    "    for (; i + 4 <= n; i += 4) {\n"
    "        uint32_t a = rd32(w + i), b = rd32(x + i), a0, a1, b0, b1;\n"
    "        SXTB16(a0, a);\n"
    "        SXTB16_ROR8(a1, a);\n"
    "        SXTB16(b0, b);\n"
    "        SXTB16_ROR8(b1, b);\n"
    "        SMLAD(acc, a0, b0);\n"
    "        SMLAD(acc, a1, b1);\n"
    "    }\n"
    "    for (; i < n; i++) acc += (int32_t)w[i] * (int32_t)x[i];\n"
    "    return acc;\n"
    "}\n"
    "INLINE void dot2(const int8_t *restrict w, const int8_t *restrict v, const int8_t *restrict x,\n"
    "                 uint32_t n, int32_t *sw, int32_t *sv) {\n"
    "    int32_t aw = 0, av = 0;\n"
    "    uint32_t i = 0;\n"
    "    for (; i + 4 <= n; i += 4) {\n"
    "        uint32_t xb = rd32(x + i), a = rd32(w + i), b = rd32(v + i), x0, x1, t0, t1;\n"
    "        SXTB16(x0, xb);\n"
    "        SXTB16_ROR8(x1, xb);\n"
    "        SXTB16(t0, a);\n"
    "        SXTB16_ROR8(t1, a);\n"
    "        SMLAD(aw, t0, x0);\n"
    "        SMLAD(aw, t1, x1);\n"
    "        SXTB16(t0, b);\n"
    "        SXTB16_ROR8(t1, b);\n"
    "        SMLAD(av, t0, x0);\n"
    "        SMLAD(av, t1, x1);\n"
    "    }\n"
    "    for (; i < n; i++) {\n"
    "        aw += (int32_t)w[i] * (int32_t)x[i];\n"
    "        av += (int32_t)v[i] * (int32_t)x[i];\n"
    "    }\n"
    "    *sw = aw;\n"
    "    *sv = av;\n"
    "}\n"
    "#else\n"
    "static int32_t dot(const int8_t *restrict w, const int8_t *restrict x, uint32_t n) {\n"
    "    int32_t acc = 0;\n"
    "    uint32_t i;\n"
    "    for (i = 0; i < n; i++) acc += (int32_t)w[i] * (int32_t)x[i];\n"
    "    return acc;\n"
    "}\n"
    "static void dot2(const int8_t *restrict w, const int8_t *restrict v, const int8_t *restrict x,\n"
    "                 uint32_t n, int32_t *sw, int32_t *sv) {\n"
    "    *sw = dot(w, x, n);\n"
    "    *sv = dot(v, x, n);\n"
    "}\n"
    "#endif\n"
    "\n"
    "/* output j of a layer from its accumulator: clamp(zp + M_j * (bias[j] + acc)) */\n"
    "INLINE int8_t requant_out(const layer_t *ly, uint32_t j, int32_t acc) {\n"
    "    int32_t v = requant(ly->bias[j] + acc, ly->mult[j], (int32_t)ly->shift[j]);\n"
    "    v = v > 255 ? 255 : v < -256 ? -256 : v;\n"
    "    v += ly->out_zp;\n"
    "    v = v > 127 ? 127 : v < ly->act_min ? ly->act_min : v;\n"
    "    return (int8_t)v;\n"
    "}\n"
    "\n"
    "/* one fully connected layer, two output channels at a time */\n"
    "static void kernel_fc(const layer_t *ly, const int8_t *restrict in, int8_t *restrict out) {\n"
    "    const uint32_t fi = ly->fi, fo = ly->fo;\n"
    "    const int8_t *w = ly->w;\n"
    "    uint32_t j = 0;\n"
    "    int32_t acc0, acc1;\n"
    "    for (; j + 2 <= fo; j += 2, w += 2 * fi) {\n"
    "        dot2(w, w + fi, in, fi, &acc0, &acc1);\n"
    "        out[j] = requant_out(ly, j, acc0);\n"
    "        out[j + 1] = requant_out(ly, j + 1, acc1);\n"
    "    }\n"
    "    if (j < fo) out[j] = requant_out(ly, j, dot(w, in, fi));\n"
    "}\n"
    "\n"
    "/* round half away from zero after clamping to [-1024, 1024] (NaN -> -1024); exact */\n"
    "static int32_t round_clamp(float v) {\n"
    "    int32_t t;\n"
    "    float frac;\n"
    "    if (!(v >= -1024.0f)) v = -1024.0f;\n"
    "    if (v > 1024.0f) v = 1024.0f;\n"
    "    t = (int32_t)v;\n"
    "    frac = v - (float)t;\n"
    "    if (frac >= 0.5f) t++;\n"
    "    else if (frac <= -0.5f) t--;\n"
    "    return t;\n"
    "}\n"
    "\n"
    "/* all layers from a (quantized input, in buf) through b; argmax, lowest index on ties */\n"
    "static int run(int8_t *a, int8_t *b) {\n"
    "    uint32_t l, k, best = 0;\n"
    "    for (l = 0; l < NLAYERS; l++) {\n"
    "        int8_t *t;\n"
    "        kernel_fc(&layers[l], a, b);\n"
    "        t = a;\n"
    "        a = b;\n"
    "        b = t;\n"
    "    }\n"
    "    for (k = 1; k < NOUT; k++)\n"
    "        if (a[k] > a[best]) best = k;\n"
    "    return (int)best;\n"
    "}\n";

static int write_header(const QModel *q, const DataInfo *info, const char *path,
                        const char *prefix, const char *PFX, const char *note, char *err,
                        size_t errlen) {
    FILE *f = fopen(path, "w");
    if (!f) return fail(err, errlen, "%s: cannot create: %s", path, strerror(errno));
    fprintf(f, "/*\n * model.h: int8 MLP fault classifier, generated by `fedalign export` (fedalign "
               "%s).\n * ",
            FEDALIGN_VERSION);
    if (note && note[0]) {
        put_comment_text(f, note);
        fputs("\n * ", f);
    }
    fprintf(f, "Shape: %zu inputs", q->n_in);
    for (size_t l = 0; l + 1 < q->n_layers; l++) fprintf(f, " -> %zu", q->layer[l].fan_out);
    fprintf(f, " -> %zu classes (%s data).\n", q->n_out, info->name);
    fputs(" *\n"
          " * Self-contained C99: needs only <stdint.h>, no heap, no libc calls. All tables are\n"
          " * const (flash); RAM is one static int8 activation buffer in model.c plus a few\n"
          " * dozen bytes of stack. Not reentrant: one prediction at a time (the buffer is\n"
          " * shared). The input x is the raw sensor feature vector, in this order:\n",
          f);
    for (size_t i = 0; i < q->n_in; i++) {
        fprintf(f, " *   x[%zu] = ", i);
        put_comment_text(f, info->feature_names[i]);
        fputc('\n', f);
    }
    fputs(" * <prefix>_predict standardizes and quantizes it (the only float step: two float\n"
          " * operations per feature and an exact rounding), then runs integer-only int8 layers\n"
          " * with fixed-point requantization (TFLite Micro / CMSIS-NN arithmetic) and returns\n"
          " * the class index (argmax of the int8 logits, lowest index on ties).\n"
          " * <prefix>_predict_q takes an already quantized input (see quantize_input).\n"
          " */\n",
          f);
    fprintf(f, "#ifndef %s_MODEL_H\n#define %s_MODEL_H\n\n#include <stdint.h>\n\n", PFX, PFX);
    fprintf(f, "#define %s_N_INPUTS %zu\n", PFX, q->n_in);
    fprintf(f, "#define %s_N_CLASSES %zu\n", PFX, q->n_out);
    fprintf(f, "/* RAM: bytes of the static int8 activation buffer in model.c (.bss) */\n");
    fprintf(f, "#define %s_RAM_BYTES %zu\n", PFX, quant_ram_bytes(q));
    fprintf(f, "/* flash: bytes of model constants (weights, biases, multipliers, shifts,\n"
               " * standardization); code, layer table and class names come on top */\n");
    fprintf(f, "#define %s_FLASH_DATA_BYTES %zu\n", PFX, quant_flash_bytes(q));
    fprintf(f, "/* quantized input: real = %s_INPUT_SCALE * (q - %s_INPUT_ZERO_POINT) */\n", PFX, PFX);
    fprintf(f, "#define %s_INPUT_SCALE ", PFX);
    put_float(f, q->in_scale);
    fprintf(f, "\n#define %s_INPUT_ZERO_POINT (%ld)\n\n", PFX, (long)q->in_zp);
    fprintf(f, "/* class names, index = predicted class */\n");
    fprintf(f, "extern const char *const %s_class_names[%s_N_CLASSES];\n\n", prefix, PFX);
    fprintf(f, "/* the predicted class in [0, %s_N_CLASSES) of one raw feature vector */\n", PFX);
    fprintf(f, "int %s_predict(const float x[%s_N_INPUTS]);\n", prefix, PFX);
    fprintf(f, "/* the same from a quantized input (xq = %s_quantize_input(x)) */\n", prefix);
    fprintf(f, "int %s_predict_q(const int8_t xq[%s_N_INPUTS]);\n", prefix, PFX);
    fprintf(f, "/* xq = clamp(round((x - mean) * in_mul) + zero point): standardize and quantize */\n");
    fprintf(f, "void %s_quantize_input(const float x[%s_N_INPUTS], int8_t xq[%s_N_INPUTS]);\n\n",
            prefix, PFX, PFX);
    fprintf(f, "#endif\n");
    return close_checked(f, path, err, errlen);
}

static int write_source(const QModel *q, const DataInfo *info, const char *path,
                        const char *prefix, const char *PFX, char *err, size_t errlen) {
    FILE *f = fopen(path, "w");
    if (!f) return fail(err, errlen, "%s: cannot create: %s", path, strerror(errno));
    fprintf(f,
            "/*\n * model.c: int8 MLP generated by `fedalign export` (fedalign %s); do not edit,\n"
            " * export again instead. Interface and arithmetic: model.h.\n"
            " *\n"
            " * Per layer: acc[j] = bias[j] + sum_i w[j][i] * a[i] in int32 (the input zero point\n"
            " * is folded into bias), then a'[j] = clamp(zp + acc[j] * mult[j] * 2^(shift[j] - 31))\n"
            " * with gemmlowp rounding (SRDHM, RDBPOT); hidden layers clamp at zp (fused ReLU).\n"
            " * Weights are symmetric per output channel, activations asymmetric per tensor.\n"
            " * Calibrated on %zu rows.\n */\n",
            FEDALIGN_VERSION, q->cal_rows);
    fputs("#include \"model.h\"\n\n#include <stdint.h>\n\n", f);
    fprintf(f, "#define NIN %zu\n#define NOUT %zu\n#define MAXW %zu\n#define NLAYERS %zu\n",
            q->n_in, q->n_out, q->max_width, q->n_layers);
    fprintf(f, "#define IN_ZP (%ld)\n\n", (long)q->in_zp);
    fputs("/* standardization folded with the input scale: xq = round((x - mean) * in_mul) + IN_ZP */\n",
          f);
    put_f32_array(f, "mean", q->mean, q->n_in);
    put_f32_array(f, "in_mul", q->in_mul, q->n_in);
    fputs("\n", f);
    char name[32];
    for (size_t l = 0; l < q->n_layers; l++) {
        const QLayer *ly = &q->layer[l];
        fprintf(f, "/* layer %zu: %zu -> %zu%s; input scale %.6g zp %ld, output scale %.6g zp %ld */\n",
                l, ly->fan_in, ly->fan_out, l + 1 < q->n_layers ? ", ReLU" : " (logits)",
                (double)ly->in_scale, (long)ly->in_zp, (double)ly->out_scale, (long)ly->out_zp);
        snprintf(name, sizeof name, "layer%zu_w", l);
        put_i8_array(f, name, ly->w, ly->fan_in * ly->fan_out, 16);
        snprintf(name, sizeof name, "layer%zu_bias", l);
        put_i32_array(f, "int32_t", name, ly->bias_fold, ly->fan_out, 8);
        snprintf(name, sizeof name, "layer%zu_mult", l);
        put_i32_array(f, "int32_t", name, ly->mult, ly->fan_out, 8);
        int8_t *sh = xmalloc(ly->fan_out);
        for (size_t j = 0; j < ly->fan_out; j++) sh[j] = (int8_t)ly->shift[j];
        snprintf(name, sizeof name, "layer%zu_shift", l);
        put_i8_array(f, name, sh, ly->fan_out, 16);
        free(sh);
        fputs("\n", f);
    }
    fputs("typedef struct {\n"
          "    const int8_t *w;     /* (fo, fi): output channel j's weights are contiguous */\n"
          "    const int32_t *bias; /* (fo) int32, input zero point folded in */\n"
          "    const int32_t *mult; /* (fo) Q31 requantization multipliers */\n"
          "    const int8_t *shift; /* (fo) power-of-two exponents */\n"
          "    uint16_t fi, fo;\n"
          "    int32_t out_zp, act_min;\n"
          "} layer_t;\n\n",
          f);
    fputs("static const layer_t layers[NLAYERS] = {\n", f);
    for (size_t l = 0; l < q->n_layers; l++) {
        const QLayer *ly = &q->layer[l];
        fprintf(f, "    {layer%zu_w, layer%zu_bias, layer%zu_mult, layer%zu_shift, %zu, %zu, %ld, %ld}%s\n", l, l, l, l, ly->fan_in,
                ly->fan_out, (long)ly->out_zp, (long)ly->act_min,
                l + 1 < q->n_layers ? "," : "");
    }
    fputs("};\n\n", f);
    fprintf(f, "/* activations ping-pong between the two halves (%s_RAM_BYTES) */\n", PFX);
    fputs("static int8_t buf[2 * MAXW];\n\n", f);
    fprintf(f, "const char *const %s_class_names[%s_N_CLASSES] = {\n", prefix, PFX);
    for (size_t k = 0; k < q->n_out; k++) {
        fputs("    ", f);
        put_cstr(f, info->class_names[k]);
        fputs(k + 1 < q->n_out ? ",\n" : "\n", f);
    }
    fputs("};\n\n", f);
    fputs(kernel_text, f);
    fprintf(f,
            "\nvoid %s_quantize_input(const float x[%s_N_INPUTS], int8_t xq[%s_N_INPUTS]) {\n"
            "    uint32_t i;\n"
            "    for (i = 0; i < NIN; i++) {\n"
            "        float v = (x[i] - mean[i]) * in_mul[i];\n"
            "        int32_t t = round_clamp(v) + IN_ZP;\n"
            "        xq[i] = (int8_t)(t > 127 ? 127 : t < -128 ? -128 : t);\n"
            "    }\n"
            "}\n\n",
            prefix, PFX, PFX);
    fprintf(f,
            "int %s_predict_q(const int8_t xq[%s_N_INPUTS]) {\n"
            "    uint32_t i;\n"
            "    for (i = 0; i < NIN; i++) buf[i] = xq[i];\n"
            "    return run(buf, buf + MAXW);\n"
            "}\n\n",
            prefix, PFX);
    fprintf(f,
            "int %s_predict(const float x[%s_N_INPUTS]) {\n"
            "    %s_quantize_input(x, buf);\n"
            "    return run(buf, buf + MAXW);\n"
            "}\n",
            prefix, PFX, prefix);
    return close_checked(f, path, err, errlen);
}

int export_c_model_note(const QModel *q, const DataInfo *info, const char *dir,
                        const char *prefix, const char *note, char *err, size_t errlen) {
    if (!valid_ident(prefix))
        return fail(err, errlen,
                    "--prefix: '%s' is not a C identifier of 1..32 characters ([A-Za-z_][A-Za-z0-9_]*)",
                    prefix);
    if (info->d != q->n_in || info->k != q->n_out)
        return fail(err, errlen, "data has %zu features and %zu classes, the model %zu and %zu",
                    info->d, info->k, q->n_in, q->n_out);
    for (size_t l = 0; l < q->n_layers; l++)
        if (q->layer[l].fan_in > 65535 || q->layer[l].fan_out > 65535)
            return fail(err, errlen, "layer %zu is wider than the exported code supports (65535)",
                        l);
    char PFX[40];
    size_t n = strlen(prefix);
    for (size_t i = 0; i <= n; i++) PFX[i] = (char)toupper((unsigned char)prefix[i]);
    char hpath[FA_PATH_LEN + 16], cpath[FA_PATH_LEN + 16];
    if (strlen(dir) >= FA_PATH_LEN) return fail(err, errlen, "output directory name too long");
    snprintf(hpath, sizeof hpath, "%s/model.h", dir);
    snprintf(cpath, sizeof cpath, "%s/model.c", dir);
    if (write_header(q, info, hpath, prefix, PFX, note, err, errlen) != 0) return -1;
    return write_source(q, info, cpath, prefix, PFX, err, errlen);
}

int export_c_model(const QModel *q, const DataInfo *info, const char *dir, const char *prefix,
                   char *err, size_t errlen) {
    return export_c_model_note(q, info, dir, prefix, NULL, err, errlen);
}

// ----------------------------------------------------------------------------
// raw model file

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}

int export_write_model_bin(const char *path, const ModelLayout *L, const float *params,
                           char *err, size_t errlen) {
    FILE *f = fopen(path, "wb");
    if (!f) return fail(err, errlen, "%s: cannot create: %s", path, strerror(errno));
    unsigned char b[8];
    fwrite(FA_MODEL_BIN_MAGIC, 1, 8, f);
    const ModelShape *s = &L->shape;
    uint32_t head[4] = {FA_MODEL_BIN_VERSION, (uint32_t)s->n_in, (uint32_t)s->n_out,
                        (uint32_t)s->n_hidden};
    for (int i = 0; i < 4; i++) {
        put_u32(b, head[i]);
        fwrite(b, 1, 4, f);
    }
    for (size_t l = 0; l < s->n_hidden; l++) {
        put_u32(b, (uint32_t)s->hidden[l]);
        fwrite(b, 1, 4, f);
    }
    uint64_t P = L->n_params;
    put_u32(b, (uint32_t)P);
    put_u32(b + 4, (uint32_t)(P >> 32));
    fwrite(b, 1, 8, f);
    for (size_t i = 0; i < L->n_params; i++) {
        uint32_t u;
        memcpy(&u, &params[i], 4);
        put_u32(b, u);
        fwrite(b, 1, 4, f);
    }
    return close_checked(f, path, err, errlen);
}

int export_read_model_bin(const char *path, ModelShape *shape, float **params, char *err,
                          size_t errlen) {
    *params = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    unsigned char b[8];
    char magic[8];
    memset(shape, 0, sizeof *shape);
    int rc = -1;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, FA_MODEL_BIN_MAGIC, 8) != 0) {
        fail(err, errlen, "%s: not a fedalign model file (magic %s expected)", path,
             FA_MODEL_BIN_MAGIC);
        goto done;
    }
    uint32_t head[4];
    for (int i = 0; i < 4; i++) {
        if (fread(b, 1, 4, f) != 4) goto trunc;
        head[i] = get_u32(b);
    }
    if (head[0] != FA_MODEL_BIN_VERSION) {
        fail(err, errlen, "%s: model file version %u, this fedalign reads %u", path,
             (unsigned)head[0], FA_MODEL_BIN_VERSION);
        goto done;
    }
    if (head[1] < 1 || head[1] > FA_MAX_FEATURES || head[2] < 1 || head[2] > FA_MAX_CLASSES ||
        head[3] > FA_MAX_HIDDEN) {
        fail(err, errlen, "%s: implausible shape (D %u, K %u, %u hidden layers)", path,
             (unsigned)head[1], (unsigned)head[2], (unsigned)head[3]);
        goto done;
    }
    shape->n_in = head[1];
    shape->n_out = head[2];
    shape->n_hidden = head[3];
    for (size_t l = 0; l < shape->n_hidden; l++) {
        if (fread(b, 1, 4, f) != 4) goto trunc;
        shape->hidden[l] = get_u32(b);
        if (shape->hidden[l] < 1 || shape->hidden[l] > 65535) {
            fail(err, errlen, "%s: hidden layer %zu has implausible width %zu", path, l,
                 shape->hidden[l]);
            goto done;
        }
    }
    if (fread(b, 1, 8, f) != 8) goto trunc;
    uint64_t P = (uint64_t)get_u32(b) | ((uint64_t)get_u32(b + 4) << 32);
    ModelLayout L;
    if (model_layout(&L, shape) != P) {
        fail(err, errlen, "%s: %llu parameters stored, the shape needs %zu", path,
             (unsigned long long)P, L.n_params);
        goto done;
    }
    float *p = xmalloc(L.n_params * sizeof(float));
    for (size_t i = 0; i < L.n_params; i++) {
        if (fread(b, 1, 4, f) != 4) {
            free(p);
            goto trunc;
        }
        uint32_t u = get_u32(b);
        memcpy(&p[i], &u, 4);
    }
    if (fgetc(f) != EOF) {
        free(p);
        fail(err, errlen, "%s: trailing bytes after %zu parameters", path, L.n_params);
        goto done;
    }
    *params = p;
    rc = 0;
    goto done;
trunc:
    fail(err, errlen, "%s: truncated model file", path);
done:
    fclose(f);
    return rc;
}

// ----------------------------------------------------------------------------
// the command

int export_load_client(const Config *cfg, size_t client, FedData *fd, char *err, size_t errlen) {
    if (client >= cfg->clients)
        return fail(err, errlen, "--client: %zu is out of range (the run has %zu clients, 0..%zu)",
                    client, cfg->clients, cfg->clients - 1);
    feddata_build(fd, &cfg->data, cfg->seed, cfg->clients, client, 1, false);
    return 0;
}

/* the export command's own flags (the run's flags are parsed into a Config beside) */
typedef struct {
    char model_bin[FA_PATH_LEN], results[FA_PATH_LEN], out_dir[FA_PATH_LEN];
    char from[FA_NAME_LEN + 16], prefix[64];
    size_t client, bench_reps;
} ExportOpts;

#define EF(f) .off = offsetof(ExportOpts, f), .size = sizeof(((ExportOpts *)0)->f)
static const OptDef export_opts[] = {
    {.name = "model-bin", .arg = "FILE", .type = OPT_STR, EF(model_bin), .flags = OPT_CMDONLY,
     .help = "raw float32 model (include/fedalign/export.h); give the run options of the "
             "run that trained it (--preset, --dataset, --seed, ...) to rebuild T's data"},
    {.name = "results", .arg = "FILE", .type = OPT_STR, EF(results), .flags = OPT_CMDONLY,
     .help = "results file written with --save-models (the run's options are read from it)"},
    {.name = "from", .arg = "METHOD", .type = OPT_STR, EF(from), .unset = "(first)",
     .flags = OPT_CMDONLY, .help = "method group in the results file, e.g. fedmetaalign+P"},
    {.name = "client", .arg = "T", .type = OPT_SIZE, EF(client), .hi = 1e15, .flags = OPT_CMDONLY,
     .help = "client id"},
    {.name = "out", .arg = "DIR", .type = OPT_STR, EF(out_dir), .flags = OPT_CMDONLY | OPT_NONEMPTY,
     .help = "output directory (created if missing)"},
    {.name = "prefix", .arg = "NAME", .type = OPT_STR, EF(prefix), .flags = OPT_CMDONLY,
     .help = "C identifier prefix of the exported symbols"},
    {.name = "bench-reps", .arg = "N", .type = OPT_SIZE, EF(bench_reps), .hi = 100000,
     .flags = OPT_CMDONLY, .help = "latency repetitions, 0 = skip"},
};
#define N_EXPORT_OPTS (sizeof export_opts / sizeof export_opts[0])

static void export_defaults(ExportOpts *o) {
    memset(o, 0, sizeof *o);
    snprintf(o->prefix, sizeof o->prefix, "model");
    o->bench_reps = 50;
}

static void export_usage(FILE *f) {
    fputs("usage: fedalign export (--model-bin FILE | --results FILE) --client T --out DIR\n"
          "                       [--prefix NAME] [--bench-reps N] [run options...]\n"
          "  Quantizes client T's model to int8 (calibrated on T's train rows), writes the\n"
          "  self-contained C99 pair DIR/model.h, DIR/model.c and prints float vs int8\n"
          "  accuracy on T's test rows, flash/RAM bytes and host latency.\n",
          f);
    ExportOpts d;
    export_defaults(&d);
    opt_usage(export_opts, N_EXPORT_OPTS, &d, f);
    fputs("  run options: the flags of `fedalign run` (fedalign --help)\n", f);
}

/* argv[2..] into o and cfg (one parser, two tables). Returns 0, OPT_HELP, or -1 with a
 * message. */
static int export_parse(ExportOpts *o, Config *cfg, int argc, char **argv, char *err,
                        size_t errlen) {
    export_defaults(o);
    config_defaults(cfg);
    OptSet sets[2] = {{export_opts, N_EXPORT_OPTS, o}, config_option_set(cfg)};
    OptSpec spec = {.sets = sets, .n_sets = 2, .help_hint = "fedalign export --help"};
    int rc = opt_parse(&spec, argc, argv, 2, NULL, err, errlen);
    if (rc != 0) return rc;
    if (!o->out_dir[0] || !o->model_bin[0] == !o->results[0])
        return snprintf(err, errlen,
                        "needs --out DIR and exactly one of --model-bin FILE or --results FILE"),
               -1;
    return config_validate(cfg, err, errlen);
}

/* The model of --results: the run's own command line (stored in the file) rebuilds the
 * client's data exactly (into cfg); the model is row `client` of the method's
 * personal_models. Returns 0, or -1 with a message. */
static int load_results_model(const ExportOpts *o, Config *cfg, ModelShape *shape,
                              float **params, char *err, size_t errlen) {
    StoreFile *f = store_open_read(o->results, err, errlen);
    if (!f) return -1;
    static char cmd[sizeof cfg->cmdline];
    char *words[1024];
    int n = 0;
    int rc = store_read_cmdline(f, cmd, sizeof cmd, err, errlen);
    if (rc == 0) {
        for (char *tok = strtok(cmd, "\n"); tok && n < 1024; tok = strtok(NULL, "\n"))
            words[n++] = tok;
        config_defaults(cfg); /* words[0] is the command (run or suite), then its flags */
        rc = n > 0 && config_parse_options(cfg, n - 1, words + 1, err, errlen) == 0 ? 0 : -1;
        if (rc != 0 && n == 0) snprintf(err, errlen, "empty cmdline attribute");
    }
    FedData probe;
    if (rc == 0) rc = export_load_client(cfg, o->client, &probe, err, errlen);
    if (rc == 0) {
        *shape = cfg->shape;
        shape->n_in = probe.info.d;
        shape->n_out = probe.info.k;
        feddata_free(&probe);
        ModelLayout Lr;
        size_t P = model_layout(&Lr, shape);
        *params = xmalloc(P * sizeof(float));
        rc = store_read_personal(f, o->from, o->client, *params, P, err, errlen);
    }
    store_close(f);
    return rc;
}

static int export_run(int argc, char **argv) {
    char err[1024];
    static ExportOpts eo;
    static Config cfg; /* large; static keeps it off the stack */
    int prc = export_parse(&eo, &cfg, argc, argv, err, sizeof err);
    if (prc == OPT_HELP) {
        export_usage(stdout);
        return FA_EXIT_OK;
    }
    if (prc != 0) {
        fprintf(stderr, "fedalign: error: export: %s\nHINT: fedalign export --help\n", err);
        return FA_EXIT_USAGE;
    }
    const char *model_bin = eo.model_bin[0] ? eo.model_bin : NULL, *out_dir = eo.out_dir;
    const char *prefix = eo.prefix, *from = eo.from;
    const size_t client = eo.client, bench_reps = eo.bench_reps;

    ModelShape shape;
    float *params = NULL;
    char note[2 * FA_PATH_LEN];
    if (eo.results[0]) {
        const char *results = eo.results;
        if (load_results_model(&eo, &cfg, &shape, &params, err, sizeof err) != 0) {
            fprintf(stderr, "fedalign: error: --results %s: %s\n", results, err);
            free(params);
            return FA_EXIT_USAGE;
        }
        snprintf(note, sizeof note, "Source: %s, method %s, client %zu.", results,
                 from && from[0] ? from : "(first)", client);
        model_bin = results; /* named in the messages below */
    } else     {
        if (export_read_model_bin(model_bin, &shape, &params, err, sizeof err) != 0) {
            fprintf(stderr, "fedalign: error: %s\n", err);
            return FA_EXIT_USAGE;
        }
        snprintf(note, sizeof note, "Source: %s, client %zu.", model_bin, client);
    }

    FedData fd;
    if (export_load_client(&cfg, client, &fd, err, sizeof err) != 0) {
        fprintf(stderr, "fedalign: error: %s\n", err);
        free(params);
        return FA_EXIT_USAGE;
    }
    const ClientData *cd = &fd.clients[0];
    if (fd.info.d != shape.n_in || fd.info.k != shape.n_out) {
        fprintf(stderr,
                "fedalign: error: %s has %zu inputs and %zu classes but the data (%s) has %zu "
                "features and %zu classes\nHINT: pass the run's data options (--dataset, ...)\n",
                model_bin, shape.n_in, shape.n_out, fd.info.name, fd.info.d, fd.info.k);
        feddata_free(&fd);
        free(params);
        return FA_EXIT_USAGE;
    }
    if (cd->train.n == 0) {
        fprintf(stderr, "fedalign: error: client %zu has no train rows to calibrate on\n", client);
        feddata_free(&fd);
        free(params);
        return FA_EXIT_USAGE;
    }
    ModelLayout L;
    model_layout(&L, &shape);
    QModel q;
    quant_build(&q, &L, params, &cd->train);

    /* accuracy on the client's test rows: the suite's float evaluation and int8 */
    Workspace ws;
    workspace_build(&ws, &L, 256);
    EvalResult ev;
    model_evaluate(&L, params, &cd->test, &ws, false, &ev);
    workspace_free(&ws);
    size_t correct8 = 0, agree = 0, nt = cd->test.n;
    int32_t *pred = xmalloc((nt ? nt : 1) * sizeof(int32_t));
    quant_evaluate(&q, &cd->test, pred, &correct8);
    float *fs = xmalloc(2 * L.max_width * sizeof(float));
    for (size_t r = 0; r < nt; r++)
        agree += quant_float_predict(&L, params, cd->test.x + r * cd->test.d, fs, NULL) == pred[r];
    free(fs);
    free(pred);

    if (mkdir_p(out_dir, err, sizeof err) != 0 ||
        export_c_model_note(&q, &fd.info, out_dir, prefix, note, err, sizeof err) != 0) {
        fprintf(stderr, "fedalign: error: %s\n", err);
        quant_free(&q);
        feddata_free(&fd);
        free(params);
        return FA_EXIT_USAGE;
    }
    QuantBench qb;
    memset(&qb, 0, sizeof qb);
    qb.float_ns = qb.int8_ns = qb.ratio = NAN;
    const Dataset *bench_rows = nt ? &cd->test : &cd->train;
    if (bench_reps > 0) quant_bench(&q, &L, params, bench_rows, bench_reps, &qb);

    double acc_f = nt ? (double)ev.correct / (double)nt : NAN;
    double acc_q = nt ? (double)correct8 / (double)nt : NAN;
    printf("# export: client %zu of %s data, model %s\n", client, fd.info.name, model_bin);
    printf("# wrote %s/model.h and %s/model.c (prefix %s)\n", out_dir, out_dir, prefix);
    printf("# calibration: %zu train rows; input scale %.6g zero point %ld\n", q.cal_rows,
           (double)q.in_scale, (long)q.in_zp);
    printf("# test rows %zu: float acc %.4f, int8 acc %.4f (drop %+.2f points), agreement %.4f\n",
           nt, acc_f, acc_q, 100.0 * (acc_f - acc_q), nt ? (double)agree / (double)nt : NAN);
    printf("# flash (model data) %zu bytes, RAM (activation buffer) %zu bytes\n",
           quant_flash_bytes(&q), quant_ram_bytes(&q));
    if (bench_reps > 0)
        printf("# host latency per sample: float %.1f ns, int8 %.1f ns, ratio %.2fx (best of %zu)\n",
               qb.float_ns, qb.int8_ns, qb.ratio, qb.reps);
    printf("FEDALIGN_EXPORT client=%zu dataset=%s test_rows=%zu acc_float=%.6f acc_int8=%.6f "
           "agree=%zu flash_data_bytes=%zu ram_bytes=%zu lat_float_ns=%.1f lat_int8_ns=%.1f "
           "lat_ratio=%.3f\n",
           client, fd.info.name, nt, acc_f, acc_q, agree, quant_flash_bytes(&q),
           quant_ram_bytes(&q), qb.float_ns, qb.int8_ns, qb.ratio);
    quant_free(&q);
    feddata_free(&fd);
    free(params);
    return FA_EXIT_OK;
}

int export_main(int argc, char **argv) {
    /* serial: its results-file reader is collective over MPI_COMM_WORLD, and one rank
     * writing DIR is the only safe way to write it */
    if (comm_size() > 1)
        fa_fail("export is a serial tool: run it without mpirun/srun (got %d ranks)", comm_size());
    int rc = export_run(argc, argv);
    fflush(stdout);
    return rc;
}
