/*
 * bench_memory.c: `fedalign bench memory`, the bytes each simulated client costs.
 *
 * For each number of clients per rank: reset VmHWM, fl_setup + one phase-2 round of the
 * real pipeline, read VmHWM; the sum over ranks against the client count gives, by a
 * least-squares slope, the bytes per client and the fixed cost. This is what bounds the
 * clients one node can simulate.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_internal.h"
#include "fedalign/comm.h"

void bench_memory(Ctx *cx) {
    bench_header(cx, "memory", "peak RSS vs clients per rank: bytes per simulated client");
    const size_t R = 1; /* one round reaches every buffer's peak */
    Config *cfg = xmalloc(sizeof *cfg);
    bool can_reset = bench_hwm_reset();
    size_t n = cx->o.n_mem;
    double *x = xmalloc(n * sizeof(double)), *y = xmalloc(n * sizeof(double));
    size_t P = 0;
    if (cx->rank == 0) {
        printf("# per point: reset VmHWM, fl_setup + one phase-2 round of %s, read VmHWM; "
               "total = sum over ranks%s\n",
               fa_enum_name(&fa_enum_method, cx->o.method),
               can_reset ? "" : " (VmHWM cannot be reset here: monotone)");
        printf("# %10s %10s %14s %14s %14s\n", "clients", "per rank", "HWM total MiB",
               "HWM rank0 MiB", "RSS before MiB");
    }
    for (size_t k = 0; k < n; k++) {
        size_t cpr = cx->o.mem_cpr[k], N = cpr * (size_t)cx->ranks;
        char err[1024];
        if (bench_run_config(&cx->o, cfg, N, R, err, sizeof err) != 0) fa_fail("bench: %s", err);
        bench_hwm_reset();
        double before = bench_rss_bytes();
        Timers setup;
        timers_reset(&setup);
        Pipeline *pl = fl_setup(cfg, &setup);
        P = fl_layout(pl)->n_params;
        MethodSpec ms = bench_phase2_spec(cfg);
        MethodResult res;
        fl_result_init(pl, &ms, &res);
        fl_run_method(pl, &ms, &res, NULL, NULL);
        fl_result_free(&res);
        double m[2] = {bench_hwm_bytes(), before};
        fl_free(pl);
        double r0 = m[0];
        comm_allreduce_sum_double(m, 2);
        x[k] = (double)N;
        y[k] = m[0];
        if (cx->rank == 0) {
            printf("  %10zu %10zu %14.1f %14.1f %14.1f\n", N, cpr, m[0] / 1048576.0, r0 / 1048576.0,
                   m[1] / 1048576.0);
            char p[128], e[128];
            BenchStats one = {1, m[0], m[0], m[0], m[0]};
            snprintf(p, sizeof p, "kernel=hwm clients=%zu clients_per_rank=%zu ranks=%d", N, cpr,
                     cx->ranks);
            snprintf(e, sizeof e, "rank0_bytes=%.0f rss_before_total_bytes=%.0f", r0, m[1]);
            bench_emit(cx, "memory", p, "bytes", &one, e);
            fflush(stdout);
        }
    }
    double slope = bench_slope(x, y, n);
    double mx = 0.0, my = 0.0;
    for (size_t k = 0; k < n; k++) mx += x[k] / (double)n, my += y[k] / (double)n;
    double icpt = my - slope * mx;
    if (cx->rank == 0) {
        double est_delta = cfg->reference == FA_REF_MEAN ? 4.0 * (double)P : 0.0;
        printf("# bytes per client (slope of total HWM over clients): %.0f; fixed: %.1f MiB\n",
               slope, icpt / 1048576.0);
        printf("# for comparison: stored delta (mean reference) %.0f B, data ~%zu rows x (4 D + 4) "
               "B, per-round result rows 4 x 8 B per round\n",
               est_delta, cx->o.samples);
        BenchStats s = {1, slope, slope, slope, slope};
        char p[128], e[160];
        snprintf(p, sizeof p, "kernel=slope ranks=%d method=%s samples=%zu", cx->ranks,
                 fa_enum_name(&fa_enum_method, cx->o.method), cx->o.samples);
        snprintf(e, sizeof e, "fixed_bytes=%.0f P=%zu delta_bytes=%.0f points=%zu", icpt, P,
                 est_delta, n);
        bench_emit(cx, "memory", p, "bytes/client", &s, e);
    }
    free(x);
    free(y);
    free(cfg);
    bench_flush(cx);
}
