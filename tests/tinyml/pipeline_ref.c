/*
 * pipeline_ref.c: fedalign's side of the raw-signal-to-class run on the Cortex-M4
 * (tests/tinyml/test_cortex_m4.sh, configuration mechanical:pipeline; issue 17, item 4).
 *
 *   pipeline_ref MODEL.bin CLIENT WINDOWS.c [run options]
 *
 * MODEL.bin is an MLP trained on the mechanical generator's features (quant_ref train);
 * the run options are that run's (--dataset mechanical, features). The client's test rows
 * are rebuilt as raw windows (the same rows with --input raw: float32 samples, as a
 * device's ADC gives them) and written to WINDOWS.c with the device's envelope
 * frequencies (gen_mech_env_freqs) and five edge-case windows. For each window this
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

static void write_windows(const char *path, const float *x, size_t n, size_t n_test, size_t W,
                          const double *env) {
    FILE *f = fopen(path, "w");
    if (!f) fa_fail("%s: cannot create", path);
    fprintf(f,
            "/* raw windows for the exported feature extractor + model, written by "
            "pipeline_ref */\n"
            "const int fa_n_win = %zu, fa_n_test = %zu; /* test rows first, then edge cases */\n"
            "const double fa_env[%d] = {",
            n, n_test, FA_MECH_N_ENV);
    for (int k = 0; k < FA_MECH_N_ENV; k++)
        fprintf(f, "%a%s", env[k], k + 1 < FA_MECH_N_ENV ? ", " : "};\n");
    fprintf(f, "const float fa_win[%zu][%zu] = {\n", n, W);
    for (size_t i = 0; i < n; i++) {
        fputs("    {", f);
        for (size_t t = 0; t < W; t++)
            fprintf(f, "%af%s", (double)x[i * W + t], t + 1 < W ? "," : "");
        fputs(i + 1 < n ? "},\n" : "}\n};\n", f);
    }
    if (fclose(f) != 0) fa_fail("%s: write failed", path);
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
    raw = cfg;
    raw.data.gen.input = FA_INPUT_RAW;
    FedData fd, fr;
    if (export_load_client(&cfg, client, &fd, err, sizeof err) != 0 ||
        export_load_client(&raw, client, &fr, err, sizeof err) != 0)
        fa_fail("%s", err);
    const Dataset *te = &fd.clients[0].test, *tw = &fr.clients[0].test;
    const size_t W = fr.info.win_len, n = tw->n + N_EDGE;
    CHECK(te->n == tw->n && te->d == N_FEAT, "feature rows (%zu x %zu) and windows (%zu)", te->n,
          te->d, tw->n);

    ModelShape shape;
    float *p = NULL;
    if (export_read_model_bin(argv[1], &shape, &p, err, sizeof err) != 0) fa_fail("%s", err);
    if (shape.kind != FA_MODEL_MLP || shape.n_in != N_FEAT)
        fa_fail("%s: not an MLP on the %d mechanical features", argv[1], N_FEAT);
    ModelLayout L;
    model_layout(&L, &shape);
    QModel q;
    quant_build_mode(&q, &L, p, &fd.clients[0].train, cfg.int8_weights);

    double env[FA_MECH_N_ENV];
    gen_mech_env_freqs(&cfg.data.gen, cfg.seed, (uint64_t)fd.clients[0].id, false, env);
    float *x = xmalloc(n * W * sizeof *x);
    memcpy(x, tw->x, tw->n * W * sizeof *x);
    for (int e = 0; e < N_EDGE; e++) edge_window(e, x + (tw->n + (size_t)e) * W, W);
    write_windows(argv[3], x, n, tw->n, W, env);

    double *d = xmalloc(W * sizeof *d);
    int8_t xq[N_FEAT], *scratch = xmalloc(quant_scratch_bytes(&q)), *logits = xmalloc(q.n_out);
    size_t correct = 0, agree = 0;
    for (size_t i = 0; i < n; i++) {
        float feat[N_FEAT];
        for (size_t t = 0; t < W; t++) d[t] = (double)x[i * W + t];
        gen_mech_features(d, W, FA_MECH_FS, env, feat);
        quant_input(&q, feat, xq);
        int c = quant_predict_q(&q, xq, scratch, logits);
        printf("feat %zu ", i);
        for (int k = 0; k < N_FEAT; k++) {
            uint32_t b;
            memcpy(&b, &feat[k], sizeof b);
            printf("%08lx%s", (unsigned long)b, k + 1 < N_FEAT ? "," : "\n");
        }
        printf("xq %zu ", i);
        for (int k = 0; k < N_FEAT; k++) printf("%d%s", (int)xq[k], k + 1 < N_FEAT ? "," : "\n");
        printf("pred %zu %d\n", i, c);
        if (i < tw->n) {
            correct += c == tw->y[i];
            agree += c == quant_predict(&q, te->x + i * N_FEAT, scratch);
        }
    }
    fprintf(stderr,
            "pipeline_ref: client %lu: %zu test windows of %zu samples + %d edge cases; int8 "
            "accuracy from the raw windows %.4f, same class as the feature rows on %zu of %zu\n",
            client, tw->n, W, N_EDGE, tw->n ? (double)correct / (double)tw->n : 0.0, agree, tw->n);
    free(logits);
    free(scratch);
    free(d);
    free(x);
    quant_free(&q);
    free(p);
    feddata_free(&fr);
    feddata_free(&fd);
    return 0;
}
