/*
 * export_emit.c: the text writers both C exports share (export.c for the MLP, export_cnn.c
 * for the cnn1d; export_internal.h declares them): exact C constants, identifiers and
 * strings, the common tail of model.h, and the output directory and file helpers.
 *
 * Constants are written exactly (integers in decimal, floats as C99 hex literals), so the
 * exported model computes with the very values quantization produced.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "export_internal.h"
#include "fedalign/opttab.h"

int exp_pair_paths(const char *dir, const char *prefix, char PFX[40],
                   char hpath[FA_PATH_LEN + 16], char cpath[FA_PATH_LEN + 16], char *err,
                   size_t errlen) {
    size_t n = strlen(prefix); /* <= 32: exp_check_prefix ran first */
    for (size_t i = 0; i <= n; i++) PFX[i] = (char)toupper((unsigned char)prefix[i]);
    if (strlen(dir) >= FA_PATH_LEN) return opt_fail(err, errlen, "output directory name too long");
    snprintf(hpath, FA_PATH_LEN + 16, "%s/model.h", dir);
    snprintf(cpath, FA_PATH_LEN + 16, "%s/model.c", dir);
    return 0;
}

int exp_check_prefix(const char *prefix, char *err, size_t errlen) {
    if (exp_valid_ident(prefix)) return 0;
    return opt_fail(
        err, errlen,
        "--prefix: '%s' is not a C identifier of 1..32 characters ([A-Za-z_][A-Za-z0-9_]*)",
        prefix);
}

bool exp_valid_ident(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 32 || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_')) return false;
    return true;
}

/* a C string literal body: printable ASCII as is, except \ " and ? (trigraphs), which are
 * escaped, and everything else as a three-digit octal escape */
void exp_put_cstr(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\' || *p == '"' || *p == '?') fprintf(f, "\\%c", *p);
        else if (*p >= 0x20 && *p < 0x7f) fputc(*p, f);
        else fprintf(f, "\\%03o", (unsigned)*p);
    }
    fputc('"', f);
}

/* comment text: no "*" followed by "/" and no control characters */
void exp_put_comment_text(FILE *f, const char *s) {
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '*' && p[1] == '/') fputs("* ", f);
        else if (c == '\n') fputs("\n * ", f);
        else if (c < 0x20 || c == 0x7f) fputc(' ', f);
        else fputc(c, f);
    }
}

/* exact float literal: C99 hexadecimal, e.g. 0x1.99999ap-4f */
void exp_put_float(FILE *f, float v) { fprintf(f, "%af", (double)v); }

void exp_put_i32_array(FILE *f, const char *type, const char *name, const int32_t *v, size_t n,
                       size_t per_line) {
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

void exp_put_i8_array(FILE *f, const char *name, const int8_t *v, size_t n, size_t per_line) {
    int32_t *t = xmalloc((n ? n : 1) * sizeof(int32_t));
    for (size_t i = 0; i < n; i++) t[i] = v[i];
    exp_put_i32_array(f, "int8_t", name, t, n, per_line);
    free(t);
}

void exp_put_f32_array(FILE *f, const char *name, const float *v, size_t n) {
    fprintf(f, "static const float %s[%zu] = {", name, n);
    for (size_t i = 0; i < n; i++) {
        fputs(i % 4 == 0 ? "\n    " : " ", f);
        exp_put_float(f, v[i]);
        if (i + 1 < n) fputc(',', f);
    }
    fputs("\n};\n", f);
}

/* mkdir -p: create every missing component of dir */
int exp_mkdir_p(const char *dir, char *err, size_t errlen) {
    char buf[FA_PATH_LEN];
    if (strlen(dir) == 0 || strlen(dir) >= sizeof buf)
        return opt_fail(err, errlen, "--out: bad directory name '%s'", dir);
    strcpy(buf, dir);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return opt_fail(err, errlen, "%s: cannot create directory: %s", buf,
                                strerror(errno));
            *p = c;
            if (c == '\0') break;
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return opt_fail(err, errlen, "--out: %s is not a directory", dir);
    return 0;
}

int exp_close_checked(FILE *f, const char *path, char *err, size_t errlen) {
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return opt_fail(err, errlen, "%s: write failed: %s", path, strerror(errno));
    return 0;
}

/* The part of model.h both exports share (export_cnn.c too): RAM and flash, the input's
 * quantization, the class names and the three functions, then the include guard's end. */
void exp_put_model_api(FILE *f, const ExpModelApi *a) {
    const char *PFX = a->pfx, *prefix = a->prefix;
    fprintf(f, "/* RAM: bytes of the static int8 activation buffer in model.c (.bss) */\n");
    fprintf(f, "#define %s_RAM_BYTES %zu\n", PFX, a->ram);
    fprintf(f,
            "/* flash: bytes of model constants (weights, biases, multipliers, shifts,\n"
            " * standardization); code, %s and class names come on top */\n",
            a->tables);
    fprintf(f, "#define %s_FLASH_DATA_BYTES %zu\n", PFX, a->flash);
    fprintf(f, "/* quantized input: real = %s_INPUT_SCALE * (q - %s_INPUT_ZERO_POINT) */\n", PFX,
            PFX);
    fprintf(f, "#define %s_INPUT_SCALE ", PFX);
    exp_put_float(f, a->in_scale);
    fprintf(f, "\n#define %s_INPUT_ZERO_POINT (%ld)\n\n", PFX, a->in_zp);
    fprintf(f, "/* class names, index = predicted class */\n");
    fprintf(f, "extern const char *const %s_class_names[%s_N_CLASSES];\n\n", prefix, PFX);
    fprintf(f, "/* the predicted class in [0, %s_N_CLASSES) of one %s */\n", PFX, a->raw_input);
    fprintf(f, "int %s_predict(const float x[%s_N_INPUTS]);\n", prefix, PFX);
    fprintf(f, "/* the same from a quantized %s (xq = %s_quantize_input(x)) */\n", a->input,
            prefix);
    fprintf(f, "int %s_predict_q(const int8_t xq[%s_N_INPUTS]);\n", prefix, PFX);
    fprintf(f, "/* %s */\n", a->quantize_rule);
    fprintf(f, "void %s_quantize_input(const float x[%s_N_INPUTS], int8_t xq[%s_N_INPUTS]);\n\n",
            prefix, PFX, PFX);
    fprintf(f, "#endif\n");
}
