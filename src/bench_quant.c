/*
 * bench_quant.c: `fedalign bench quant`, per-sample inference latency, float vs int8
 * (issue 8): what quantizing a personalized model buys on a device.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"
#include "fedalign/quant.h"

/* The default model trained briefly on generated electrical rows, quantized to int8 with
 * those rows as calibration (as phase 3 does per client), then one sample at a time
 * through quant_float_predict (plain float loops, what a float model on a
 * microcontroller runs) and quant_predict (integer-only); serial, rank 0. Each
 * repetition times both on the same rows (interleaved, best of 3 inner passes). */
void bench_quant(Ctx *cx) {
    bench_header(cx, "quant",
                 "per-sample inference latency of a personalized model: float vs int8");
    if (cx->rank == 0) {
        const size_t n = cx->o.quick ? 512 : 4096;
        TrainSetup ts;
        bench_train_setup(&ts, n);
        const ModelLayout *L = &ts.L;
        const size_t P = L->n_params;
        float *params = xalloc_aligned(P * sizeof(float));
        memcpy(params, ts.init, P * sizeof(float));
        Workspace ws;
        workspace_build(&ws, L, 32);
        TrainOpts o = ts.cfg->local;
        o.batch = 32;
        o.mu = 0.0;
        o.epochs = 2.0;
        TrainStats tst;
        train_local(L, params, NULL, &ts.ds, &o, ts.cfg->seed, 0, 1, &ws, false, &tst);
        workspace_free(&ws);
        QModel q;
        quant_build(&q, L, params, &ts.ds);
        printf("# model P = %zu, %zu rows (calibration = timed rows); flash %zu B, RAM %zu B\n", P,
               n, quant_flash_bytes(&q), quant_ram_bytes(&q));
        printf("# %-6s %12s %12s %12s\n", "model", "min", "median", "max");
        printf("# %-6s %12s %12s %12s\n", "", "ns/sample", "ns/sample", "ns/sample");
        const size_t R = cx->o.reps;
        double *tf = xmalloc(R * sizeof *tf), *ti = xmalloc(R * sizeof *ti),
               *tr = xmalloc(R * sizeof *tr);
        size_t agree = 0;
        for (size_t r = 0; r < cx->o.warmup + R; r++) {
            QuantBench qb;
            quant_bench(&q, L, params, &ts.ds, 3, &qb);
            agree = qb.agree;
            if (r < cx->o.warmup) continue;
            tf[r - cx->o.warmup] = qb.float_ns;
            ti[r - cx->o.warmup] = qb.int8_ns;
            tr[r - cx->o.warmup] = qb.ratio;
        }
        BenchStats sf, si, sr;
        bench_stats(tf, R, &sf);
        bench_stats(ti, R, &si);
        bench_stats(tr, R, &sr);
        printf("  %-6s %12.1f %12.1f %12.1f\n", "float", sf.min, sf.median, sf.max);
        printf("  %-6s %12.1f %12.1f %12.1f\n", "int8", si.min, si.median, si.max);
        printf("# float/int8 latency ratio (per repetition, > 1: int8 faster): median %.2f "
               "(min %.2f, max %.2f); int8 and float agree on %zu of %zu rows\n",
               sr.median, sr.min, sr.max, agree, n);
        char p[96], e[160];
        snprintf(p, sizeof p, "model=float P=%zu rows=%zu", P, n);
        bench_emit(cx, "quant", p, "ns/sample", &sf, "");
        snprintf(p, sizeof p, "model=int8 P=%zu rows=%zu", P, n);
        snprintf(e, sizeof e, "flash_bytes=%zu ram_bytes=%zu agree=%zu", quant_flash_bytes(&q),
                 quant_ram_bytes(&q), agree);
        bench_emit(cx, "quant", p, "ns/sample", &si, e);
        snprintf(p, sizeof p, "model=ratio P=%zu rows=%zu", P, n);
        bench_emit(cx, "quant", p, "float/int8", &sr, "");
        free(tf);
        free(ti);
        free(tr);
        quant_free(&q);
        free(params);
        bench_train_setup_free(&ts);
    }
    bench_flush(cx);
}
