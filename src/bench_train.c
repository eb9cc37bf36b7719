/*
 * bench_train.c: `fedalign bench train`, local-training throughput.
 *
 * train_local() on the default model (electrical data, 6-64-32-6, Adam) at each batch
 * size, in three modes: one thread; all threads splitting each mini-batch; all threads
 * each training its own client (how fl.c spreads clients over threads). Reported in
 * samples/s, GFLOP/s from the layout's FLOP count, and % of the peak benchmark's
 * ceilings when it ran first (of the best FMA peak, of the FMA peak of the ISA path the
 * kernels run on, and of that path's mul+add). Then the cnn1d with its defaults on raw
 * 1024 x 1 windows, serial and batch-split, in the same columns (bench_train_cnn). Then
 * 16 clients x 600 rows at batch 32 on one thread, one client after another (train_local)
 * and G per SIMD pass (train_local_group), the two modes alternating (issue 20's
 * comparison with the client-batched PyTorch peer). Rank 0
 * only. The data set-up is shared with quant.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"
#include "fedalign/comm.h"
#include "fedalign/isa.h"
#include "fedalign/timer.h"
#include "fedalign/train_batched.h"

/* the default model and optimizer, on n rows of built-in device data (device 0, labels
 * cycling over the classes), standardized by these rows' mean and std (fl.c computes the
 * same over every client's rows with exact sums; the kernels' cost does not depend on it) */
void bench_train_setup(TrainSetup *ts, size_t n) {
    ts->cfg = xmalloc(sizeof *ts->cfg);
    config_defaults(ts->cfg);
    const Config *c = ts->cfg;
    DataInfo info;
    gen_info(c->data.kind, &c->data.gen, &info);
    ModelShape sh = c->shape;
    sh.n_in = info.d;
    sh.n_out = info.k;
    size_t P = model_layout(&ts->L, &sh);
    dataset_alloc(&ts->ds, n, info.d);
    for (size_t i = 0; i < n; i++) ts->ds.y[i] = (int32_t)(i % info.k);
    gen_samples(c->data.kind, &c->data.gen, c->seed, 0, false, 0, ts->ds.y, n, ts->ds.x);
    double mean[FA_MAX_FEATURES], sd[FA_MAX_FEATURES];
    for (size_t j = 0; j < info.d; j++) {
        double s = 0.0, s2 = 0.0;
        for (size_t i = 0; i < n; i++) {
            double v = (double)ts->ds.x[i * info.d + j];
            s += v;
            s2 += v * v;
        }
        mean[j] = s / (double)n;
        sd[j] = sqrt(fmax(s2 / (double)n - mean[j] * mean[j], 0.0));
    }
    ts->init = xalloc_aligned(P * sizeof(float));
    model_init(&ts->L, ts->init, c->seed, 0);
    model_set_norm(&ts->L, ts->init, mean, sd);
}

void bench_train_setup_free(TrainSetup *ts) {
    dataset_free(&ts->ds);
    free(ts->init);
    free(ts->cfg);
}

typedef enum { TM_SERIAL, TM_BATCH, TM_CLIENTS } TrainMode;
static const char *const tm_names[] = {"serial", "batch", "clients"};

/* one repetition: samples trained per second. TM_CLIENTS: every thread trains its own
 * client (own parameters and workspace, shared read-only data), like fl.c over clients. */
static double train_rep(Ctx *cx, const TrainSetup *ts, TrainMode mode, int T, Workspace *ws,
                        float *params, const TrainOpts *o, uint64_t round, double *cpu_rate) {
    size_t P = ts->L.n_params, samples = 0;
    double t0 = timer_now(), c0 = bench_cpu_now();
    if (mode == TM_CLIENTS) {
#pragma omp parallel num_threads(T) reduction(+ : samples)
        {
            int t = omp_get_thread_num();
            float *p = params + (size_t)t * P;
            memcpy(p, ts->init, P * sizeof(float));
            TrainStats st;
            train_local(&ts->L, p, NULL, &ts->ds, o, ts->cfg->seed, (uint64_t)t, round, &ws[t],
                        false, &st);
            samples += st.samples;
        }
    } else {
        memcpy(params, ts->init, P * sizeof(float));
        TrainStats st;
        int saved = omp_get_max_threads();
        omp_set_num_threads(mode == TM_BATCH ? T : 1);
        train_local(&ts->L, params, NULL, &ts->ds, o, ts->cfg->seed, 0, round, &ws[0],
                    mode == TM_BATCH, &st);
        omp_set_num_threads(saved);
        samples = st.samples;
    }
    double t = timer_now() - t0, c = bench_cpu_now() - c0;
    cx->sink = (double)params[P - 1];
    /* per CPU second of each of the T threads: the wall rate had every thread its own core */
    *cpu_rate = (double)samples * (double)(mode == TM_SERIAL ? 1 : T) / c;
    return (double)samples / t;
}

// ----------------------------------------------------------------------------
// the cnn1d beside the MLP

/* The cnn1d with the default --conv, --pool and --hidden on n raw windows of the
 * mechanical window (1024 steps x 1 channel), 10 classes, labels cycling: class-dependent
 * sinusoids (the kernels' cost does not depend on the values), standardized by these rows'
 * statistics. */
static void bench_cnn_setup(TrainSetup *ts, size_t n) {
    ts->cfg = xmalloc(sizeof *ts->cfg);
    config_defaults(ts->cfg);
    const Config *c = ts->cfg;
    const size_t T = c->data.gen.window, K = 10;
    ModelShape sh = c->shape;
    sh.kind = FA_MODEL_CNN1D;
    sh.win_len = T;
    sh.win_ch = 1;
    sh.n_in = T;
    sh.n_out = K;
    size_t P = model_layout(&ts->L, &sh);
    dataset_alloc(&ts->ds, n, T);
    double *mean = xcalloc(T, sizeof(double)), *sd = xcalloc(T, sizeof(double));
    for (size_t i = 0; i < n; i++) {
        ts->ds.y[i] = (int32_t)(i % K);
        for (size_t t = 0; t < T; t++) {
            double v = sin(0.02 * (double)(1 + ts->ds.y[i]) * (double)t + 0.37 * (double)i);
            ts->ds.x[i * T + t] = (float)v;
            mean[t] += v / (double)n;
            sd[t] += v * v / (double)n;
        }
    }
    for (size_t t = 0; t < T; t++) sd[t] = sqrt(fmax(sd[t] - mean[t] * mean[t], 0.0));
    ts->init = xalloc_aligned(P * sizeof(float));
    model_init(&ts->L, ts->init, c->seed, 0);
    model_set_norm(&ts->L, ts->init, mean, sd);
    free(mean);
    free(sd);
}

/* serial and batch-split training of the cnn1d at each batch size: samples/s, FLOP per
 * sample from the layout (model_flops_train_sample), % of the peak benchmark's FMA peak */
static void bench_train_cnn(Ctx *cx) {
    const size_t n = cx->o.min_time < 0.05 ? 64 : 512; /* --quick: a smoke run */
    TrainSetup ts;
    bench_cnn_setup(&ts, n);
    const ModelLayout *L = &ts.L;
    const double fps = model_flops_train_sample(L), ff = model_flops_forward(L);
    printf("# model cnn1d %zux%zu, conv %s, pool %zu, head %s, %zu classes: P = %zu, %zu rows; "
           "FLOP per sample %.0f (forward %.0f)\n",
           L->shape.win_len, L->shape.win_ch, ts.cfg->conv_str, L->shape.pool, ts.cfg->hidden_str,
           L->shape.n_out, L->n_params, n, fps, ff);
    const int T = cx->threads;
    double *rates = xmalloc(cx->o.reps * sizeof(double)), *crates = xmalloc(cx->o.reps * sizeof(double));
    float *params = xalloc_aligned(L->n_params * sizeof(float));
    Workspace ws;
    for (size_t bi = 0; bi < cx->o.n_batches; bi++) {
        const size_t B = cx->o.batches[bi];
        workspace_build(&ws, L, B);
        for (int m = 0; m < 2; m++) { /* serial, batch: one client's training */
            TrainMode mode = (TrainMode)m;
            if (mode == TM_BATCH && T == 1) continue;
            int thr = mode == TM_SERIAL ? 1 : T;
            TrainOpts o = ts.cfg->local;
            o.batch = B;
            o.mu = 0.0;
            o.epochs = 1.0;
            double crate, rate = train_rep(cx, &ts, mode, thr, &ws, params, &o, 0, &crate);
            double ep = ceil(cx->o.min_time * rate / (double)n);
            o.epochs = ep < 1.0 ? 1.0 : ep > 1e4 ? 1e4 : ep;
            for (size_t r = 0; r < cx->o.warmup + cx->o.reps; r++) {
                double v = train_rep(cx, &ts, mode, thr, &ws, params, &o, r + 1, &crate);
                if (r >= cx->o.warmup) {
                    rates[r - cx->o.warmup] = v;
                    crates[r - cx->o.warmup] = crate;
                }
            }
            BenchStats st, sc;
            bench_stats(rates, cx->o.reps, &st);
            bench_stats(crates, cx->o.reps, &sc);
            double gf = st.median * fps * 1e-9;
            double pf = cx->peak_fma > 0.0 ? 100.0 * gf / (cx->peak_fma * thr) : nan("");
            double pp = cx->peak_path > 0.0 ? 100.0 * gf / (cx->peak_path * thr) : nan("");
            double pm = cx->peak_nofma > 0.0 ? 100.0 * gf / (cx->peak_nofma * thr) : nan("");
            double pfc = cx->peak_fma_cpu > 0.0
                             ? 100.0 * sc.median * fps * 1e-9 / (cx->peak_fma_cpu * thr)
                             : nan("");
            printf("  %6zu %-8s %7d %12.4g %12.4g %12.4g %9.2f %8.1f %8.1f %8.1f %12.4g %8.1f  cnn1d\n",
                   B, tm_names[mode], thr, st.min, st.median, st.max, gf, pf, pp, pm, sc.median, pfc);
            char params_s[160], extra[256];
            snprintf(params_s, sizeof params_s, "model=cnn1d batch=%zu mode=%s threads=%d P=%zu isa=%s",
                     B, tm_names[mode], thr, L->n_params, isa_name(isa_current()));
            snprintf(extra, sizeof extra,
                     "flop_per_sample=%.0f gflops=%.4g pct_fma_peak=%.3g pct_path_peak=%.3g "
                     "pct_path_muladd=%.3g cpu_median=%.6g pct_fma_peak_cpu=%.3g",
                     fps, gf, pf, pp, pm, sc.median, pfc);
            bench_emit(cx, "train", params_s, "samples/s", &st, extra);
        }
        workspace_free(&ws);
    }
    free(params);
    free(crates);
    free(rates);
    bench_train_setup_free(&ts);
}

// many clients on one thread: one after another (train_local), or G per SIMD pass
// (train_local_group); issue 20 compares both with the client-batched PyTorch peer

#define GB_CLIENTS 16
#define GB_ROWS 600
#define GB_BATCH 32

typedef struct {
    TrainSetup ts;
    Dataset ds[GB_CLIENTS]; /* views into ts.ds: client c's GB_ROWS rows */
    float *params;          /* (GB_CLIENTS, P) */
    Workspace ws;
    GroupWs gw;
} GroupBench;

/* one repetition of mode m (0 = per-client, 1 = client-batched): samples per second */
static double group_rep(Ctx *cx, GroupBench *b, int m, const TrainOpts *o, uint64_t round) {
    const ModelLayout *L = &b->ts.L;
    size_t P = L->n_params, G = train_group_lanes(), samples = 0;
    for (size_t c = 0; c < GB_CLIENTS; c++)
        memcpy(b->params + c * P, b->ts.init, P * sizeof(float));
    TrainStats st[GB_CLIENTS];
    double t0 = timer_now();
    if (m == 0) {
        for (size_t c = 0; c < GB_CLIENTS; c++)
            train_local(L, b->params + c * P, NULL, &b->ds[c], o, b->ts.cfg->seed, c, round, &b->ws,
                        false, &st[c]);
    } else {
        for (size_t c0 = 0; c0 < GB_CLIENTS; c0 += G) {
            size_t n = GB_CLIENTS - c0 < G ? GB_CLIENTS - c0 : G;
            float *pp[FA_GROUP_MAX];
            const Dataset *dd[FA_GROUP_MAX];
            uint64_t id[FA_GROUP_MAX];
            for (size_t g = 0; g < n; g++) {
                pp[g] = b->params + (c0 + g) * P;
                dd[g] = &b->ds[c0 + g];
                id[g] = c0 + g;
            }
            train_local_group(L, n, pp, NULL, dd, o, b->ts.cfg->seed, id, round, &b->gw, st + c0);
        }
    }
    double t = timer_now() - t0;
    for (size_t c = 0; c < GB_CLIENTS; c++) samples += st[c].samples;
    cx->sink = (double)b->params[P - 1];
    return (double)samples / t;
}

static void bench_train_groups(Ctx *cx) {
    static const char *const names[] = {"per-client", "batched"};
    size_t G = train_group_lanes();
    if (G == 0) {
        printf("# client-batched training: not in this build (no GCC vector extensions)\n");
        return;
    }
    GroupBench b;
    bench_train_setup(&b.ts, (size_t)GB_CLIENTS * GB_ROWS);
    const ModelLayout *L = &b.ts.L;
    size_t D = b.ts.ds.d;
    for (size_t c = 0; c < GB_CLIENTS; c++)
        b.ds[c] = (Dataset){
            .n = GB_ROWS, .d = D, .x = b.ts.ds.x + c * GB_ROWS * D, .y = b.ts.ds.y + c * GB_ROWS};
    b.params = xalloc_aligned((size_t)GB_CLIENTS * L->n_params * sizeof(float));
    workspace_build(&b.ws, L, GB_BATCH);
    group_ws_build(&b.gw, L, GB_BATCH);
    double fps = bench_flops_train_sample(L);
    printf("\n# %d clients x %d rows, batch %d, 1 thread: per-client = train_local one client "
           "after another; batched = train_local_group, %zu clients per SIMD pass (same bits); "
           "repetitions alternate between the modes\n",
           GB_CLIENTS, GB_ROWS, GB_BATCH, G);
    printf("# %-10s %7s %12s %12s %12s %9s %8s %8s %8s\n", "mode", "lanes", "min", "median", "max",
           "GFLOP/s", "%fma", "%path", "speedup");
    TrainOpts o = b.ts.cfg->local;
    o.batch = GB_BATCH;
    o.mu = 0.0;
    o.epochs = 1.0;
    double ep[2], *rates[2];
    for (int m = 0; m < 2; m++) { /* calibrate each mode to about min_time */
        double r = group_rep(cx, &b, m, &o, 0);
        double e = ceil(cx->o.min_time * r / (double)(GB_CLIENTS * GB_ROWS));
        ep[m] = e < 1.0 ? 1.0 : e > 1e4 ? 1e4 : e;
        rates[m] = xmalloc(cx->o.reps * sizeof(double));
    }
    for (size_t r = 0; r < cx->o.warmup + cx->o.reps; r++)
        for (int m = 0; m < 2; m++) {
            o.epochs = ep[m];
            double v = group_rep(cx, &b, m, &o, r + 1);
            if (r >= cx->o.warmup) rates[m][r - cx->o.warmup] = v;
        }
    double base = 0.0;
    for (int m = 0; m < 2; m++) {
        BenchStats st;
        bench_stats(rates[m], cx->o.reps, &st);
        if (m == 0) base = st.median;
        double gf = st.median * fps * 1e-9;
        double pf = cx->peak_fma > 0.0 ? 100.0 * gf / cx->peak_fma : nan("");
        double pp = cx->peak_path > 0.0 ? 100.0 * gf / cx->peak_path : nan("");
        printf("  %-10s %7zu %12.4g %12.4g %12.4g %9.2f %8.1f %8.1f %8.2f\n", names[m],
               m ? G : (size_t)1, st.min, st.median, st.max, gf, pf, pp, st.median / base);
        char params_s[160], extra[200];
        snprintf(params_s, sizeof params_s,
                 "clients=%d rows=%d batch=%d mode=%s threads=1 lanes=%zu P=%zu isa=%s", GB_CLIENTS,
                 GB_ROWS, GB_BATCH, names[m], m ? G : (size_t)1, L->n_params,
                 isa_name(isa_current()));
        snprintf(extra, sizeof extra,
                 "flop_per_sample=%.0f gflops=%.4g pct_fma_peak=%.3g pct_path_peak=%.3g "
                 "speedup=%.4g",
                 fps, gf, pf, pp, st.median / base);
        bench_emit(cx, "train_clients", params_s, "samples/s", &st, extra);
        free(rates[m]);
    }
    group_ws_free(&b.gw);
    workspace_free(&b.ws);
    free(b.params);
    bench_train_setup_free(&b.ts);
}

void bench_train(Ctx *cx) {
    bench_header(cx, "train", "train_local() throughput, default model (Adam, electrical data)");
    if (cx->rank == 0) {
        const size_t n = 4096;
        TrainSetup ts;
        bench_train_setup(&ts, n);
        const ModelLayout *L = &ts.L;
        double fps = bench_flops_train_sample(L);
        printf("# model %zu", L->shape.n_in);
        for (size_t l = 0; l < L->shape.n_hidden; l++) printf("-%zu", L->shape.hidden[l]);
        printf("-%zu, P = %zu, %zu rows; FLOP per sample %.0f = forward %.0f + weight grads %.0f "
               "+ back-propagated errors %.0f (Adam step per batch not counted)\n",
               L->shape.n_out, L->n_params, n, fps, bench_flops_forward(L), bench_flops_forward(L),
               fps - 2.0 * bench_flops_forward(L));
        const char *path = isa_name(isa_current());
        if (cx->peak_fma > 0.0)
            printf("# %% of peak: GFLOP/s / (threads x single-core peak); %%fma: of the best FMA "
                   "peak %.2f (%s); %%path: of the FMA peak of the kernels' path %s, %.2f (sse2: "
                   "its mul+add); %%muladd: of that path's mul+add %.2f GFLOP/s (no contraction)\n",
                   cx->peak_fma, cx->fma_isa, path, cx->peak_path, cx->peak_nofma);
        else printf("# run `fedalign bench peak train` for %% of peak\n");
        printf("# modes: serial = 1 thread; batch = threads split each mini-batch (chunks of %d "
               "rows); clients = each thread trains its own client\n",
               FA_CHUNK);
        printf("# cpu: samples x threads per process CPU second (what the cores deliver while we "
               "hold them; robust to a busy machine), %%fma-cpu against the FMA peak per CPU "
               "second\n");
        printf("# kernels' ISA path: %s\n", path);
        printf("# %6s %-8s %7s %12s %12s %12s %9s %8s %8s %8s %12s %8s\n", "batch", "mode",
               "threads", "min", "median", "max", "GFLOP/s", "%fma", "%path", "%muladd",
               "cpu median", "%fma-cpu");
        printf("# %6s %-8s %7s %12s %12s %12s\n", "", "", "", "samples/s", "samples/s",
               "samples/s");
        int T = cx->threads;
        size_t P = L->n_params;
        double *rates = xmalloc(cx->o.reps * sizeof(double));
        double *crates = xmalloc(cx->o.reps * sizeof(double));
        float *params = xalloc_aligned((size_t)T * P * sizeof(float));
        Workspace *ws = xcalloc((size_t)T, sizeof(Workspace));
        for (size_t bi = 0; bi < cx->o.n_batches; bi++) {
            size_t B = cx->o.batches[bi];
            for (int t = 0; t < T; t++) workspace_build(&ws[t], L, B);
            for (int m = 0; m < 3; m++) {
                TrainMode mode = (TrainMode)m;
                if (mode != TM_SERIAL && T == 1) continue;
                int thr = mode == TM_SERIAL ? 1 : T;
                TrainOpts o = ts.cfg->local;
                o.batch = B;
                o.mu = 0.0;
                o.epochs = 1.0;
                /* calibrate: whole epochs so that a repetition lasts about min_time */
                double crate, rate = train_rep(cx, &ts, mode, thr, ws, params, &o, 0, &crate);
                double per_thread = mode == TM_CLIENTS ? rate / thr : rate;
                double ep = ceil(cx->o.min_time * per_thread / (double)n);
                o.epochs = ep < 1.0 ? 1.0 : ep > 1e4 ? 1e4 : ep;
                for (size_t r = 0; r < cx->o.warmup + cx->o.reps; r++) {
                    double v = train_rep(cx, &ts, mode, thr, ws, params, &o, r + 1, &crate);
                    if (r >= cx->o.warmup) {
                        rates[r - cx->o.warmup] = v;
                        crates[r - cx->o.warmup] = crate;
                    }
                }
                BenchStats st, sc;
                bench_stats(rates, cx->o.reps, &st);
                bench_stats(crates, cx->o.reps, &sc);
                double gf = st.median * fps * 1e-9, gfc = sc.median * fps * 1e-9;
                double pf = cx->peak_fma > 0.0 ? 100.0 * gf / (cx->peak_fma * thr) : nan("");
                double pp = cx->peak_path > 0.0 ? 100.0 * gf / (cx->peak_path * thr) : nan("");
                double pm = cx->peak_nofma > 0.0 ? 100.0 * gf / (cx->peak_nofma * thr) : nan("");
                double pfc =
                    cx->peak_fma_cpu > 0.0 ? 100.0 * gfc / (cx->peak_fma_cpu * thr) : nan("");
                printf("  %6zu %-8s %7d %12.4g %12.4g %12.4g %9.2f %8.1f %8.1f %8.1f %12.4g %8.1f\n",
                       B, tm_names[mode], thr, st.min, st.median, st.max, gf, pf, pp, pm,
                       sc.median, pfc);
                char params_s[160], extra[256];
                snprintf(params_s, sizeof params_s, "batch=%zu mode=%s threads=%d P=%zu isa=%s", B,
                         tm_names[mode], thr, P, path);
                snprintf(extra, sizeof extra,
                         "flop_per_sample=%.0f gflops=%.4g pct_fma_peak=%.3g pct_path_peak=%.3g "
                         "pct_path_muladd=%.3g samples_per_rep=%.0f cpu_median=%.6g "
                         "pct_fma_peak_cpu=%.3g",
                         fps, gf, pf, pp, pm, o.epochs * (double)n * (mode == TM_CLIENTS ? thr : 1),
                         sc.median, pfc);
                bench_emit(cx, "train", params_s, "samples/s", &st, extra);
            }
            for (int t = 0; t < T; t++) workspace_free(&ws[t]);
        }
        free(ws);
        free(params);
        free(crates);
        free(rates);
        bench_train_setup_free(&ts);
        bench_train_cnn(cx);
        bench_train_groups(cx);
    }
    comm_barrier();
    bench_flush(cx);
}
