/*
 * pipeline_ref.c: fedalign's side of the raw-signal-to-class run on the Cortex-M4
 * (tests/tinyml/test_cortex_m4.sh, configuration mechanical:pipeline; issue 17, item 4).
 *
 *   pipeline_ref MODEL.bin CLIENT WINDOWS.c [run options]
 *
 * MODEL.bin is an MLP trained on the mechanical generator's features (quant_ref train);
 * the run options are that run's (--dataset mechanical, features). The client's test rows
 * are rebuilt as raw windows (the same rows with --input raw: float32 samples, as a
 * device's ADC gives them) and written to WINDOWS.c, each with its device's envelope
 * frequencies (gen_mech_env_freqs), then five edge-case windows, then up to N_OTHER test
 * windows of every other client of the run with that device's frequencies (other shaft
 * speeds and bearings: other arguments of the extractor's cos/sin). For each window this
 * prints what the exported code on the device must reproduce exactly:
 *   feat <i> <17 features as float bits, 8 hex digits, comma list>   gen_mech_features
 *   xq <i> <int8 model input, comma list>                            quant_input
 *   pred <i> <class>                                                 quant_predict_q
 * and on stderr a summary: accuracy of the raw-window pipeline on the test labels and its
 * agreement with the int8 classes of the generator's own feature rows (computed from the
 * unrounded double windows, so they may differ from the float windows' features).
 * Quantization is `fedalign export`'s: calibrated on the client's train feature rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/check.h"
#include "fedalign/config.h"
#include "fedalign/export.h"
#include "fedalign/gen_internal.h"
#include "fedalign/model.h"
#include "fedalign/quant.h"

#define N_EDGE 5
#define N_OTHER ((size_t)8)
_Static_assert(FA_MECH_N_ENV == 5, "write_windows prints five frequencies");
#define N_FEAT (FA_MECH_N_TIME + FA_MECH_N_ENV)

/* the run options, parsed as a `data` command's */
static void parse_config(Config *cfg, int argc, char **argv, int first) {
    char **a = xcalloc((size_t)(argc - first + 3), sizeof(char *));
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

/* windows no generator makes: constant (sd 0), all zero, one impulse, Nyquist, huge */
static void edge_window(int e, float *w, size_t W) {
    for (size_t t = 0; t < W; t++) {
        switch (e) {
        case 0: w[t] = 0.25f; break;
        case 1: w[t] = 0.0f; break;
        case 2: w[t] = t == W / 3 ? 5.0f : 0.0f; break;
        case 3: w[t] = (t & 1) ? -1.0f : 1.0f; break;
        default: w[t] = 1e30f * (float)((int)(t % 7) - 3); break;
        }
    }
}

/* the windows (n x W) and per window its device's envelope frequencies (n x 5) */
typedef struct {
    float *x;
    double *env;
    size_t n, n_test, cap, W;
} Windows;

static void add_window(Windows *w, const float *x, const double *env) {
    CHECK(w->n < w->cap, "pipeline_ref: more than %zu windows", w->cap);
    memcpy(w->x + w->n * w->W, x, w->W * sizeof *x);
    memcpy(w->env + w->n * FA_MECH_N_ENV, env, FA_MECH_N_ENV * sizeof *env);
    w->n++;
}

/* client's raw test windows of the run cfg (input raw), and its device's frequencies */
static void load_windows(const Config *cfg, size_t client, FedData *fr, double *env) {
    char err[512];
    if (export_load_client(cfg, client, fr, err, sizeof err) != 0) fa_fail("%s", err);
    gen_mech_env_freqs(&cfg->data.gen, cfg->seed, (uint64_t)fr->clients[0].id, false, env);
}

/* the client's test windows, the edge cases, then up to N_OTHER test windows of each other
 * client of the run */
static void collect_windows(Windows *w, const Config *raw, size_t client) {
    FedData fr;
    double env[FA_MECH_N_ENV];
    load_windows(raw, client, &fr, env);
    const Dataset *tw = &fr.clients[0].test;
    w->W = fr.info.win_len;
    w->cap = tw->n + N_EDGE + N_OTHER * raw->clients;
    w->x = xmalloc(w->cap * w->W * sizeof *w->x);
    w->env = xmalloc(w->cap * FA_MECH_N_ENV * sizeof *w->env);
    for (size_t i = 0; i < tw->n; i++) add_window(w, tw->x + i * w->W, env);
    w->n_test = tw->n;
    float *e = xmalloc(w->W * sizeof *e);
    for (int k = 0; k < N_EDGE; k++) {
        edge_window(k, e, w->W);
        add_window(w, e, env);
    }
    free(e);
    feddata_free(&fr);
    for (size_t c = 0; c < raw->clients; c++) {
        if (c == client) continue;
        load_windows(raw, c, &fr, env);
        const Dataset *o = &fr.clients[0].test;
        for (size_t i = 0; i < o->n && i < N_OTHER; i++) add_window(w, o->x + i * w->W, env);
        feddata_free(&fr);
    }
}

static void write_windows(const char *path, const Windows *w) {
    FILE *f = fopen(path, "w");
    if (!f) fa_fail("%s: cannot create", path);
    fprintf(f,
            "/* raw windows for the exported feature extractor + model, written by "
            "pipeline_ref: the client's test windows, edge cases, other devices' windows */\n"
            "const int fa_n_win = %zu, fa_n_test = %zu;\n"
            "const double fa_env[%zu][%d] = {\n",
            w->n, w->n_test, w->n, FA_MECH_N_ENV);
    for (size_t i = 0; i < w->n; i++) {
        const double *e = w->env + i * FA_MECH_N_ENV;
        fprintf(f, "    {%a, %a, %a, %a, %a}%s", e[0], e[1], e[2], e[3], e[4],
                i + 1 < w->n ? ",\n" : "\n};\n");
    }
    fprintf(f, "const float fa_win[%zu][%zu] = {\n", w->n, w->W);
    for (size_t i = 0; i < w->n; i++) {
        fputs("    {", f);
        for (size_t t = 0; t < w->W; t++)
            fprintf(f, "%af%s", (double)w->x[i * w->W + t], t + 1 < w->W ? "," : "");
        fputs(i + 1 < w->n ? "},\n" : "}\n};\n", f);
    }
    if (fclose(f) != 0) fa_fail("%s: write failed", path);
}

/* fedalign's features, int8 input and class of every window, in the driver's format;
 * returns the class of window i in cls[i] */
static void reference(const QModel *q, const Windows *w, int *cls) {
    double *d = xmalloc(w->W * sizeof *d);
    int8_t xq[N_FEAT], *scratch = xmalloc(quant_scratch_bytes(q)), *logits = xmalloc(q->n_out);
    for (size_t i = 0; i < w->n; i++) {
        float feat[N_FEAT];
        for (size_t t = 0; t < w->W; t++) d[t] = (double)w->x[i * w->W + t];
        gen_mech_features(d, w->W, FA_MECH_FS, w->env + i * FA_MECH_N_ENV, feat);
        quant_input(q, feat, xq);
        cls[i] = quant_predict_q(q, xq, scratch, logits);
        printf("feat %zu ", i);
        for (int k = 0; k < N_FEAT; k++) {
            uint32_t b;
            memcpy(&b, &feat[k], sizeof b);
            printf("%08lx%s", (unsigned long)b, k + 1 < N_FEAT ? "," : "\n");
        }
        printf("xq %zu ", i);
        for (int k = 0; k < N_FEAT; k++) printf("%d%s", (int)xq[k], k + 1 < N_FEAT ? "," : "\n");
        printf("pred %zu %d\n", i, cls[i]);
    }
    free(logits);
    free(scratch);
    free(d);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: pipeline_ref MODEL.bin CLIENT WINDOWS.c [run options]\n");
        return 2;
    }
    static Config cfg, raw;
    parse_config(&cfg, argc, argv, 4);
    if (cfg.data.kind != FA_DATA_MECHANICAL || cfg.data.gen.input != FA_INPUT_FEATURES)
        fa_fail("pipeline_ref: the run options must describe mechanical feature data");
    char err[512], *end = NULL;
    unsigned long client = strtoul(argv[2], &end, 10);
    if (!*argv[2] || *end) fa_fail("bad client id '%s'", argv[2]);
    FedData fd;
    if (export_load_client(&cfg, client, &fd, err, sizeof err) != 0) fa_fail("%s", err);
    raw = cfg;
    raw.data.gen.input = FA_INPUT_RAW;
    Windows w = {0};
    collect_windows(&w, &raw, client);
    const Dataset *te = &fd.clients[0].test, *tr = &fd.clients[0].train;
    CHECK(te->n == w.n_test && te->d == N_FEAT, "feature rows (%zu x %zu) and windows (%zu)", te->n,
          te->d, w.n_test);

    ModelShape shape;
    float *p = NULL;
    if (export_read_model_bin(argv[1], &shape, &p, err, sizeof err) != 0) fa_fail("%s", err);
    if (shape.kind != FA_MODEL_MLP || shape.n_in != N_FEAT)
        fa_fail("%s: not an MLP on the %d mechanical features", argv[1], N_FEAT);
    ModelLayout L;
    model_layout(&L, &shape);
    QModel q;
    quant_build_mode(&q, &L, p, tr, cfg.int8_weights);
    write_windows(argv[3], &w);
    int *cls = xmalloc(w.n * sizeof *cls);
    reference(&q, &w, cls);

    int8_t *scratch = xmalloc(quant_scratch_bytes(&q));
    size_t correct = 0, agree = 0;
    for (size_t i = 0; i < w.n_test; i++) {
        correct += cls[i] == te->y[i];
        agree += cls[i] == quant_predict(&q, te->x + i * N_FEAT, scratch);
    }
    fprintf(stderr,
            "pipeline_ref: client %lu: %zu test windows of %zu samples, %d edge cases, %zu "
            "windows of %zu other devices; int8 accuracy from the client's raw windows %.4f, "
            "same class as its feature rows on %zu of %zu\n",
            client, w.n_test, w.W, N_EDGE, w.n - w.n_test - N_EDGE, raw.clients - 1,
            w.n_test ? (double)correct / (double)w.n_test : 0.0, agree, w.n_test);
    free(scratch);
    free(cls);
    free(w.x);
    free(w.env);
    quant_free(&q);
    free(p);
    feddata_free(&fd);
    return 0;
}
