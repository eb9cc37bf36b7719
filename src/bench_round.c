/*
 * bench_round.c: `fedalign bench round`, the time of a real phase-2 round.
 *
 * fl_setup + fl_run_method (phase 2 only) on the tiny preset at each number of clients
 * per rank: round time, and the framework overhead = round time - slowest rank's
 * training time (with and without the global-model evaluation), the CPU share the ranks
 * got, peak RSS. It runs the production pipeline, so it shows what the simulation
 * itself costs per client as the count grows. Also the run Config and MethodSpec that
 * memory shares.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench_internal.h"
#include "fedalign/comm.h"
#include "fedalign/timer.h"

/* Config of a phase-2 benchmark run: `fedalign run --preset tiny --clients N --samples S
 * --local-epochs 1 --rounds R --quiet --method M [pass-through flags]`, parsed and
 * validated by config.c like any command line. */
void bench_run_config(const Ctx *cx, Config *cfg, size_t clients, size_t rounds) {
    char sc[32], ss[32], sr[32];
    snprintf(sc, sizeof sc, "%zu", clients);
    snprintf(ss, sizeof ss, "%zu", cx->o.samples);
    snprintf(sr, sizeof sr, "%zu", rounds);
    char *fixed[] = {"fedalign", "run", "--preset", "tiny", "--clients", sc,
                     "--samples", ss, "--local-epochs", "1", "--rounds", sr,
                     "--quiet", "--method", (char *)cx->o.method};
    const int nf = (int)(sizeof fixed / sizeof fixed[0]);
    int argc = nf + cx->o.pass_argc;
    char **argv = xmalloc((size_t)(argc + 1) * sizeof(char *));
    for (int i = 0; i < nf; i++) argv[i] = fixed[i];
    for (int i = 0; i < cx->o.pass_argc; i++) argv[nf + i] = cx->o.pass_argv[i];
    argv[argc] = NULL;
    char err[1024];
    config_defaults(cfg);
    if (config_parse(cfg, argc, argv, err, sizeof err) != 0 ||
        config_validate(cfg, err, sizeof err) != 0)
        fa_fail("bench: %s\nHINT: flags after -- are `fedalign run` flags", err);
    free(argv);
}

/* phase 2 only: no foundation model, no ring, no personalization training */
MethodSpec bench_phase2_spec(const Config *cfg) {
    MethodSpec ms;
    fl_method_from_config(cfg, &ms);
    ms.phase0 = false;
    ms.phase1 = false;
    ms.personalize = false;
    return ms;
}

/* what is timed, above the table (rank 0) */
static void round_banner(const Ctx *cx, size_t R) {
    if (cx->rank == 0) {
        printf("# fl_setup + fl_run_method (method %s, phase 2 only), %zu rounds per "
               "repetition, %zu rows per client, 1 local epoch%s\n",
               cx->o.method, R, cx->o.samples, cx->o.pass_argc ? ", extra run flags" : "");
        printf("# round = phase-2 wall time / rounds; train/eval = slowest rank's training / "
               "global-model evaluation per round;\n# overhead = round - train; overhead_noeval "
               "= round - train - eval (train excludes the per-client aggregation pass);\n# "
               "cpu = CPU seconds / wall seconds / threads of the slowest rank (1 = a core per "
               "thread; less = a busy machine)\n");
        printf("# %9s %9s %11s %11s %11s %11s %11s %11s %11s %9s %5s\n", "clients", "per rank",
               "round min", "round med", "round max", "train med", "eval med", "ovh med",
               "ovh-noeval", "RSS MiB", "cpu");
    }
}

void bench_round(Ctx *cx) {
    bench_header(cx, "round", "phase-2 round time and framework overhead vs clients per rank");
    const size_t R = cx->o.rounds, nrep = cx->o.warmup + cx->o.reps;
    Config *cfg = xmalloc(sizeof *cfg);
    round_banner(cx, R);
    double *tr = xmalloc(nrep * sizeof(double)), *tt = xmalloc(nrep * sizeof(double));
    double *te = xmalloc(nrep * sizeof(double)), *to = xmalloc(nrep * sizeof(double));
    double *tn = xmalloc(nrep * sizeof(double)), *tg = xmalloc(nrep * sizeof(double));
    double *tc = xmalloc(nrep * sizeof(double)), *tu = xmalloc(nrep * sizeof(double));
    for (size_t ci = 0; ci < cx->o.n_cpr; ci++) {
        size_t cpr = cx->o.cpr[ci], N = cpr * (size_t)cx->ranks;
        bench_run_config(cx, cfg, N, R);
        bench_hwm_reset();
        Timers setup;
        timers_reset(&setup);
        double t0 = timer_now();
        Pipeline *pl = fl_setup(cfg, &setup);
        double t_setup = timer_now() - t0;
        MethodSpec ms = bench_phase2_spec(cfg);
        /* client samples trained per round (every client selected at --client-frac 1) */
        const FedData *fd = fl_data(pl);
        double spr = 0.0;
        for (size_t i = 0; i < fd->n_local; i++) spr += (double)fd->clients[i].train.n;
        spr *= cfg->local.epochs * cfg->client_frac;
        comm_allreduce_sum_double(&spr, 1);
        for (size_t r = 0; r < nrep; r++) {
            MethodResult res;
            fl_result_init(pl, &ms, &res);
            double w0 = timer_now(), c0 = bench_cpu_now();
            fl_run_method(pl, &ms, &res, NULL, NULL);
            /* the CPU share this rank got (1 = a core to itself per thread); a busy machine
             * shows here, not in the timers */
            tu[r] = (bench_cpu_now() - c0) / (timer_now() - w0) / (double)cx->threads;
            double round = res.round_time[R - 1] / (double)R;
            double train = res.tmax[FA_T_TRAIN] / (double)R;
            double eval = res.tmax[FA_T_EVAL] / (double)(R + 1);
            tr[r] = round;
            tt[r] = train;
            te[r] = eval;
            to[r] = round - train;
            tn[r] = round - train - eval;
            tg[r] = res.tmax[FA_T_AGG] / (double)R;
            tc[r] = res.tmax[FA_T_COMM] / (double)R;
            fl_result_free(&res);
        }
        double mem[2] = {bench_hwm_bytes(), 0.0};
        fl_free(pl);
        comm_allreduce_sum_double(mem, 1);
        comm_allreduce_min_double(tu, nrep);
        size_t w = cx->o.warmup;
        BenchStats sr, st, se, so, sn, sg, sc, su;
        bench_stats(tr + w, cx->o.reps, &sr);
        bench_stats(tt + w, cx->o.reps, &st);
        bench_stats(te + w, cx->o.reps, &se);
        bench_stats(to + w, cx->o.reps, &so);
        bench_stats(tn + w, cx->o.reps, &sn);
        bench_stats(tg + w, cx->o.reps, &sg);
        bench_stats(tc + w, cx->o.reps, &sc);
        bench_stats(tu + w, cx->o.reps, &su);
        if (cx->rank == 0) {
            printf("  %9zu %9zu %11.4g %11.4g %11.4g %11.4g %11.4g %11.4g %11.4g %9.1f %5.2f\n", N,
                   cpr, sr.min, sr.median, sr.max, st.median, se.median, so.median, sn.median,
                   mem[0] / 1048576.0, su.median);
            char p[160], e[512];
            snprintf(p, sizeof p,
                     "method=%s clients=%zu clients_per_rank=%zu ranks=%d threads=%d rounds=%zu "
                     "samples=%zu",
                     cx->o.method, N, cpr, cx->ranks, cx->threads, R, cx->o.samples);
            snprintf(e, sizeof e,
                     "train_median=%.6g eval_median=%.6g agg_median=%.6g comm_median=%.6g "
                     "overhead_median=%.6g overhead_min=%.6g overhead_noeval_median=%.6g "
                     "overhead_noeval_min=%.6g setup_s=%.4g rss_peak_total_bytes=%.0f "
                     "samples_per_round=%.0f samples_per_s=%.6g cpu_share_min=%.3g",
                     st.median, se.median, sg.median, sc.median, so.median, so.min, sn.median,
                     sn.min, t_setup, mem[0], spr, spr / sr.median, su.median);
            bench_emit(cx, "round", p, "s", &sr, e);
            fflush(stdout);
        }
    }
    free(tr);
    free(tt);
    free(te);
    free(to);
    free(tn);
    free(tg);
    free(tc);
    free(tu);
    free(cfg);
    bench_flush(cx);
}

