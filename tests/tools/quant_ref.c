/*
 * quant_ref.c: test helper for the int8 export (tests/e2e/test_export.sh, tests/tinyml/).
 *
 *   quant_ref train MODEL.bin CLIENT [run options]
 *       train a local model for client CLIENT of the data the run options describe
 *       (standardization from its train rows, Adam) and write it as a raw model file
 *       (--model cnn1d --input raw: a cnn1d on the raw windows, a version-2 file);
 *   quant_ref cases MODEL.bin CLIENT CASES.c [run options]
 *       quantize MODEL.bin exactly as `fedalign export` does (calibrated on the client's
 *       train rows), write CASES.c with test inputs (the client's test and train rows plus
 *       extreme values) and their quantized forms, and print "pred <i> <class>" for every
 *       input from the suite's int8 inference (quant_predict): the reference the exported
 *       C code must reproduce exactly (a cnn1d model file: its raw windows, quant_cnn.c's
 *       reference, a few whole-window and single-spike extremes);
 *   quant_ref rows MODEL.bin CLIENT [run options]
 *       quantize as `cases` does and print, per test row of the client, one line
 *       "row <i> x=<raw features, C99 hex> xq=<int8 input> logits=<int8 logits> pred=<class>"
 *       (comma lists): the reference the .tflite export is checked against
 *       (tests/tinyml/test_tflite.sh; a cnn1d model file: its raw windows, time-major, and
 *       quant_cnn.c's reference);
 *   quant_ref floatc MODEL.bin OUT.c
 *       write the float model as C (int fref_predict(const float x[D]): one dot product
 *       per output, summed in model.c's order): the float baseline of the Cortex-M4 timing.
 *
 * --int8-weights among the run options picks the weight scales, as for `fedalign export`.
 * Serial, no MPI calls; input errors exit 2 through fa_fail like the main program.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/check.h"
#include "fedalign/config.h"
#include "fedalign/export.h"
#include "fedalign/model.h"
#include "fedalign/quant.h"

static void usage(void) {
    fprintf(stderr, "usage: quant_ref train MODEL.bin CLIENT [run options]\n"
                    "       quant_ref cases MODEL.bin CLIENT CASES.c [run options]\n"
                    "       quant_ref rows MODEL.bin CLIENT [run options]\n"
                    "       quant_ref floatc MODEL.bin OUT.c\n");
    exit(2);
}

/* argv[first..] are run options; parse them as a `data` command */
static void parse_config(Config *cfg, int argc, char **argv, int first) {
    char **a = calloc((size_t)(argc - first + 3), sizeof(char *));
    int n = 0;
    a[n++] = argv[0];
    a[n++] = (char *)"data";
    for (int i = first; i < argc; i++) a[n++] = argv[i];
    char err[1024];
    config_defaults(cfg);
    if (config_parse(cfg, n, a, err, sizeof err) != 0 || config_validate(cfg, err, sizeof err) != 0)
        fa_fail("%s", err);
    free(a);
}

static void load(const Config *cfg, const char *client_s, FedData *fd) {
    char err[512], *end = NULL;
    unsigned long c = strtoul(client_s, &end, 10);
    if (!*client_s || *end) fa_fail("bad client id '%s'", client_s);
    if (export_load_client(cfg, (size_t)c, fd, err, sizeof err) != 0) fa_fail("%s", err);
}

static int cmd_train(int argc, char **argv) {
    static Config cfg;
    parse_config(&cfg, argc, argv, 4);
    FedData fd;
    load(&cfg, argv[3], &fd);
    const ClientData *cd = &fd.clients[0];
    const Dataset *tr = &cd->train;
    ModelShape shape = cfg.shape;
    shape.n_in = fd.info.d;
    shape.n_out = fd.info.k;
    shape.win_len = fd.info.win_len; /* a cnn1d (--model cnn1d --input raw) */
    shape.win_ch = fd.info.win_ch;
    ModelLayout L;
    model_layout(&L, &shape);
    float *p = xmalloc(L.n_params * sizeof(float));
    model_init(&L, p, cfg.seed, (uint64_t)cd->id);
    size_t D = tr->d; /* a raw window's d may exceed FA_MAX_FEATURES */
    double *mean = xcalloc(D, sizeof(double)), *sd = xcalloc(D, sizeof(double));
    for (size_t r = 0; r < tr->n; r++)
        for (size_t j = 0; j < D; j++) mean[j] += tr->x[r * D + j];
    for (size_t j = 0; j < D; j++) mean[j] /= (double)tr->n;
    for (size_t r = 0; r < tr->n; r++)
        for (size_t j = 0; j < D; j++) {
            double t = tr->x[r * D + j] - mean[j];
            sd[j] += t * t;
        }
    for (size_t j = 0; j < D; j++) sd[j] = sqrt(sd[j] / (double)tr->n);
    model_set_norm(&L, p, mean, sd);
    free(mean);
    free(sd);
    TrainOpts o = {FA_OPT_ADAM, 3e-3, 0.9, 0.999, 1e-8, 32, 30.0, 0.0};
    Workspace ws;
    workspace_build(&ws, &L, 256);
    TrainStats st;
    train_local(&L, p, NULL, tr, &o, cfg.seed, (uint64_t)cd->id, 0, &ws, false, &st);
    EvalResult ev;
    model_evaluate(&L, p, &cd->test, &ws, false, &ev);
    fprintf(stderr, "quant_ref: client %lld: %zu train rows, float test acc %.4f\n",
            (long long)cd->id, tr->n, ev.acc);
    workspace_free(&ws);
    char err[512];
    int rc = export_write_model_bin(argv[2], &L, p, err, sizeof err);
    if (rc != 0) fprintf(stderr, "quant_ref: %s\n", err);
    free(p);
    feddata_free(&fd);
    return rc ? 1 : 0;
}

static void put_case(FILE *f, const float *x, size_t D) {
    fputs("    {", f);
    for (size_t j = 0; j < D; j++) fprintf(f, "%af%s", (double)x[j], j + 1 < D ? ", " : "");
    fputs("}", f);
}

/* the cases file of a cnn1d: every test and train window, then whole windows of extreme
 * values (+-1e30, 1e-30, 0, 3e38, each channel's mean = the zero point), the first test
 * window x1000, and single spikes of +-1e30 at the first, middle and last step */
static int cases_cnn(const ModelLayout *L, const float *p, const ClientData *cd,
                     FaInt8Weights weights, const char *path) {
    QCnn q;
    quant_cnn_build_mode(&q, L, p, &cd->train, weights);
    const size_t D = L->shape.n_in, C = q.win_ch, T = q.win_len;
    const size_t n_rows = cd->test.n + cd->train.n, n_ext = 13, n = n_rows + n_ext;
    float *x = xmalloc(n * D * sizeof(float));
    memcpy(x, cd->test.x, cd->test.n * D * sizeof(float));
    memcpy(x + cd->test.n * D, cd->train.x, cd->train.n * D * sizeof(float));
    const float *row0 = cd->test.n ? cd->test.x : cd->train.x;
    const float whole[5] = {1e30f, -1e30f, 1e-30f, 0.0f, 3.0e38f};
    for (size_t e = 0; e < n_ext; e++) {
        float *xr = x + (n_rows + e) * D;
        for (size_t i = 0; i < D; i++)
            xr[i] = e < 5 ? whole[e] : e == 5 ? q.mean[i % C] : e == 6 ? row0[i] * 1000.0f : row0[i];
        if (e >= 7) xr[(e - 7) / 2 == 0 ? 0 : (e - 7) / 2 == 1 ? (T / 2) * C : (T - 1) * C] =
                        (e - 7) % 2 ? -1e30f : 1e30f;
    }
    FILE *f = fopen(path, "w");
    if (!f) fa_fail("%s: cannot create", path);
    fprintf(f, "/* test cases for the exported cnn1d, written by quant_ref */\n"
               "#include <stdint.h>\n\n"
               "#define FA_N_CASES %zu\n#define FA_N_IN %zu\n"
               "const int fa_n_cases = FA_N_CASES;\n"
               "const float fa_cases[FA_N_CASES][FA_N_IN] = {\n",
            n, D);
    for (size_t r = 0; r < n; r++) {
        put_case(f, x + r * D, D);
        fputs(r + 1 < n ? ",\n" : "\n};\n", f);
    }
    int8_t *xq = xmalloc(D), *scratch = xmalloc(quant_cnn_scratch_bytes(&q));
    fputs("const int8_t fa_cases_q[FA_N_CASES][FA_N_IN] = {\n", f);
    for (size_t r = 0; r < n; r++) {
        quant_cnn_input(&q, x + r * D, xq);
        fputs("    {", f);
        for (size_t j = 0; j < D; j++) fprintf(f, "%d%s", (int)xq[j], j + 1 < D ? ", " : "");
        fputs(r + 1 < n ? "},\n" : "}\n};\n", f);
    }
    fputs("const int8_t fa_expect[FA_N_CASES] = {", f);
    for (size_t r = 0; r < n; r++) {
        int c = quant_cnn_predict(&q, x + r * D, scratch, NULL);
        printf("pred %zu %d\n", r, c);
        fprintf(f, "%s%d%s", r % 32 == 0 ? "\n    " : "", c, r + 1 < n ? "," : "\n};\n");
    }
    if (fclose(f) != 0) fa_fail("%s: write failed", path);
    fprintf(stderr, "quant_ref: %zu cnn1d cases (%zu test, %zu train, %zu extreme)\n", n,
            cd->test.n, cd->train.n, n_ext);
    free(scratch);
    free(xq);
    free(x);
    quant_cnn_free(&q);
    return 0;
}

static int cmd_cases(int argc, char **argv) {
    if (argc < 5) usage();
    static Config cfg;
    parse_config(&cfg, argc, argv, 5);
    FedData fd;
    load(&cfg, argv[3], &fd);
    const ClientData *cd = &fd.clients[0];
    ModelShape shape;
    float *p = NULL;
    char err[512];
    if (export_read_model_bin(argv[2], &shape, &p, err, sizeof err) != 0) fa_fail("%s", err);
    ModelLayout L;
    model_layout(&L, &shape);
    if (shape.kind == FA_MODEL_CNN1D) {
        int rc = cases_cnn(&L, p, cd, cfg.int8_weights, argv[4]);
        free(p);
        feddata_free(&fd);
        return rc;
    }
    QModel q;
    quant_build_mode(&q, &L, p, &cd->train, cfg.int8_weights);
    const size_t D = q.n_in;

    /* the cases: every test row, every train row, then extremes per feature */
    size_t n_rows = cd->test.n + cd->train.n, n_ext = 4 * D + 2, n = n_rows + n_ext;
    float *x = xmalloc(n * D * sizeof(float));
    memcpy(x, cd->test.x, cd->test.n * D * sizeof(float));
    memcpy(x + cd->test.n * D, cd->train.x, cd->train.n * D * sizeof(float));
    const float ext[4] = {1e30f, -1e30f, 1e-30f, 0.0f};
    for (size_t e = 0; e < 4 * D; e++) {
        float *xr = x + (n_rows + e) * D;
        memcpy(xr, cd->test.n ? cd->test.x : cd->train.x, D * sizeof(float));
        xr[e % D] = (e / D) < 3 ? ext[e / D] : xr[e % D] * 1000.0f;
    }
    for (size_t j = 0; j < D; j++) {
        x[(n - 2) * D + j] = 3.0e38f;
        x[(n - 1) * D + j] = q.mean[j]; /* exactly the mean: the zero point */
    }

    FILE *f = fopen(argv[4], "w");
    if (!f) fa_fail("%s: cannot create", argv[4]);
    fprintf(f, "/* test cases for the exported model, written by quant_ref */\n"
               "#include <stdint.h>\n\n"
               "#define FA_N_CASES %zu\n#define FA_N_IN %zu\n"
               "const int fa_n_cases = FA_N_CASES;\n"
               "const float fa_cases[FA_N_CASES][FA_N_IN] = {\n",
            n, D);
    for (size_t r = 0; r < n; r++) {
        put_case(f, x + r * D, D);
        fputs(r + 1 < n ? ",\n" : "\n};\n", f);
    }
    int8_t *xq = xmalloc(D), *scratch = xmalloc(quant_scratch_bytes(&q));
    fputs("const int8_t fa_cases_q[FA_N_CASES][FA_N_IN] = {\n", f);
    for (size_t r = 0; r < n; r++) {
        quant_input(&q, x + r * D, xq);
        fputs("    {", f);
        for (size_t j = 0; j < D; j++) fprintf(f, "%d%s", (int)xq[j], j + 1 < D ? ", " : "");
        fputs(r + 1 < n ? "},\n" : "}\n};\n", f);
    }
    fputs("const int8_t fa_expect[FA_N_CASES] = {", f);
    for (size_t r = 0; r < n; r++) {
        int c = quant_predict(&q, x + r * D, scratch);
        printf("pred %zu %d\n", r, c);
        fprintf(f, "%s%d%s", r % 32 == 0 ? "\n    " : "", c, r + 1 < n ? "," : "\n};\n");
    }
    if (fclose(f) != 0) fa_fail("%s: write failed", argv[4]);
    fprintf(stderr, "quant_ref: %zu cases (%zu test, %zu train, %zu extreme)\n", n, cd->test.n,
            cd->train.n, n_ext);
    free(scratch);
    free(xq);
    free(x);
    quant_free(&q);
    free(p);
    feddata_free(&fd);
    return 0;
}

static void put_list_i8(const char *key, const int8_t *v, size_t n) {
    printf(" %s=", key);
    for (size_t j = 0; j < n; j++) printf("%d%s", (int)v[j], j + 1 < n ? "," : "");
}

/* `rows` of a cnn1d: its raw windows through quant_cnn.c's reference */
static void rows_cnn(const ModelLayout *L, const float *p, const ClientData *cd,
                     FaInt8Weights weights) {
    QCnn q;
    quant_cnn_build_mode(&q, L, p, &cd->train, weights);
    const Dataset *te = &cd->test;
    const size_t D = L->shape.n_in;
    int8_t *xq = xmalloc(D), *logits = xmalloc(q.n_out);
    int8_t *scratch = xmalloc(quant_cnn_scratch_bytes(&q));
    for (size_t r = 0; r < te->n; r++) {
        const float *x = te->x + r * D;
        quant_cnn_input(&q, x, xq);
        int c = quant_cnn_predict(&q, x, scratch, logits);
        printf("row %zu x=", r);
        for (size_t j = 0; j < D; j++) printf("%a%s", (double)x[j], j + 1 < D ? "," : "");
        put_list_i8("xq", xq, D);
        put_list_i8("logits", logits, q.n_out);
        printf(" pred=%d\n", c);
    }
    free(scratch);
    free(logits);
    free(xq);
    quant_cnn_free(&q);
}

static int cmd_rows(int argc, char **argv) {
    static Config cfg;
    parse_config(&cfg, argc, argv, 4);
    FedData fd;
    load(&cfg, argv[3], &fd);
    const Dataset *te = &fd.clients[0].test;
    ModelShape shape;
    float *p = NULL;
    char err[512];
    if (export_read_model_bin(argv[2], &shape, &p, err, sizeof err) != 0) fa_fail("%s", err);
    ModelLayout L;
    model_layout(&L, &shape);
    if (shape.kind == FA_MODEL_CNN1D) {
        rows_cnn(&L, p, &fd.clients[0], cfg.int8_weights);
        free(p);
        feddata_free(&fd);
        return 0;
    }
    QModel q;
    quant_build_mode(&q, &L, p, &fd.clients[0].train, cfg.int8_weights);
    int8_t *xq = xmalloc(q.n_in), *logits = xmalloc(q.n_out);
    int8_t *scratch = xmalloc(quant_scratch_bytes(&q));
    for (size_t r = 0; r < te->n; r++) {
        const float *x = te->x + r * te->d;
        quant_input(&q, x, xq);
        int c = quant_predict_q(&q, xq, scratch, logits);
        printf("row %zu x=", r);
        for (size_t j = 0; j < q.n_in; j++) printf("%a%s", (double)x[j], j + 1 < q.n_in ? "," : "");
        put_list_i8("xq", xq, q.n_in);
        put_list_i8("logits", logits, q.n_out);
        printf(" pred=%d\n", c);
    }
    free(scratch);
    free(logits);
    free(xq);
    quant_free(&q);
    free(p);
    feddata_free(&fd);
    return 0;
}

static void put_floats(FILE *f, const char *name, const float *v, size_t n) {
    fprintf(f, "static const float %s[%zu] = {", name, n);
    for (size_t i = 0; i < n; i++) fprintf(f, "%s%af%s", i % 6 ? " " : "\n    ", (double)v[i], i + 1 < n ? "," : "");
    fputs("\n};\n", f);
}

static int cmd_floatc(int argc, char **argv) {
    (void)argc;
    ModelShape shape;
    float *p = NULL;
    char err[512];
    if (export_read_model_bin(argv[2], &shape, &p, err, sizeof err) != 0) fa_fail("%s", err);
    ModelLayout L;
    model_layout(&L, &shape);
    FILE *f = fopen(argv[3], "w");
    if (!f) fa_fail("%s: cannot create", argv[3]);
    size_t D = shape.n_in;
    fprintf(f, "/* float reference model, written by quant_ref floatc */\n#include <stdint.h>\n\n");
    put_floats(f, "mean", p, D);
    put_floats(f, "inv_std", p + D, D);
    char nm[32];
    for (size_t l = 0; l < L.n_layers; l++) {
        /* transposed (fo, fi), so that one output is one dot product; the sum still starts
         * at the bias and adds i = 0, 1, ... in order, exactly as model.c does */
        size_t fi = L.fan_in[l], fo = L.fan_out[l];
        float *wt = xmalloc(fi * fo * sizeof(float));
        for (size_t i = 0; i < fi; i++)
            for (size_t j = 0; j < fo; j++) wt[j * fi + i] = p[L.w_off[l] + i * fo + j];
        snprintf(nm, sizeof nm, "W%zu", l);
        put_floats(f, nm, wt, fi * fo);
        free(wt);
        snprintf(nm, sizeof nm, "B%zu", l);
        put_floats(f, nm, p + L.b_off[l], fo);
    }
    fprintf(f, "static const float *const Ws[%zu] = {", L.n_layers);
    for (size_t l = 0; l < L.n_layers; l++) fprintf(f, "W%zu%s", l, l + 1 < L.n_layers ? ", " : "};\n");
    fprintf(f, "static const float *const Bs[%zu] = {", L.n_layers);
    for (size_t l = 0; l < L.n_layers; l++) fprintf(f, "B%zu%s", l, l + 1 < L.n_layers ? ", " : "};\n");
    fprintf(f, "static const uint16_t fan_in[%zu] = {", L.n_layers);
    for (size_t l = 0; l < L.n_layers; l++) fprintf(f, "%zu%s", L.fan_in[l], l + 1 < L.n_layers ? ", " : "};\n");
    fprintf(f, "static const uint16_t fan_out[%zu] = {", L.n_layers);
    for (size_t l = 0; l < L.n_layers; l++) fprintf(f, "%zu%s", L.fan_out[l], l + 1 < L.n_layers ? ", " : "};\n");
    fprintf(f, "static float fa_[%zu], fb_[%zu];\n\n", L.max_width, L.max_width);
    fprintf(f, "int fref_predict(const float x[%zu]);\n"
               "int fref_predict(const float x[%zu]) {\n"
               "    float *a = fa_, *b = fb_, *t;\n"
               "    uint32_t i, j, l, k, best = 0;\n"
               "    for (i = 0; i < %zu; i++) a[i] = (x[i] - mean[i]) * inv_std[i];\n"
               "    for (l = 0; l < %zu; l++) {\n"
               "        const uint32_t fi = fan_in[l], fo = fan_out[l];\n"
               "        const float *w = Ws[l];\n"
               "        for (j = 0; j < fo; j++, w += fi) {\n"
               "            float acc = Bs[l][j];\n"
               "            for (i = 0; i < fi; i++) acc += a[i] * w[i];\n"
               "            b[j] = l + 1 < %zu && acc < 0.0f ? 0.0f : acc;\n"
               "        }\n"
               "        t = a;\n        a = b;\n        b = t;\n"
               "    }\n"
               "    for (k = 1; k < %zu; k++)\n"
               "        if (a[k] > a[best]) best = k;\n"
               "    return (int)best;\n}\n",
            D, D, D, L.n_layers, L.n_layers, shape.n_out);
    if (fclose(f) != 0) fa_fail("%s: write failed", argv[3]);
    free(p);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) usage();
    if (strcmp(argv[1], "floatc") == 0) return cmd_floatc(argc, argv);
    if (strcmp(argv[1], "train") == 0) return cmd_train(argc, argv);
    if (strcmp(argv[1], "cases") == 0) return cmd_cases(argc, argv);
    if (strcmp(argv[1], "rows") == 0) return cmd_rows(argc, argv);
    usage();
    return 2;
}
