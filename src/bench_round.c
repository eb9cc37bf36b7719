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

static int refuse_preset(void *target, const char *v, char *err, size_t errlen) {
    (void)target;
    snprintf(err, errlen,
             "--preset %s is refused: round and memory run the tiny preset at their own "
             "--clients, --samples and --rounds (give those as bench options before --)",
             v);
    return -1;
}

/* looked up before the run table (the first table naming a flag wins): a preset would
 * reset the sizes set below, in whatever order the flags stand */
static const OptDef run_refused[] = {
    {.name = "preset", .arg = "NAME", .type = OPT_CUSTOM, .parse = refuse_preset},
};

int bench_run_config(const BenchOpts *o, Config *cfg, size_t clients, size_t rounds, char *err,
                     size_t errlen) {
    config_defaults(cfg);
    config_apply_preset(cfg, "tiny");
    cfg->clients = clients;
    cfg->data.samples_per_client = o->samples;
    cfg->local.epochs = 1.0;
    cfg->rounds = rounds;
    cfg->quiet = true;
    cfg->method = o->method;
    OptSet sets[2] = {{run_refused, sizeof run_refused / sizeof run_refused[0], NULL},
                      config_option_set(cfg)};
    OptSpec spec = {.sets = sets, .n_sets = 2, .help_hint = "fedalign --help"};
    char msg[1024];
    int rc = opt_parse(&spec, o->pass_argc, o->pass_argv, 0, NULL, msg, sizeof msg);
    if (rc == OPT_HELP)
        snprintf(msg, sizeof msg, "--help: the run flags are listed by fedalign --help");
    if (rc != 0) {
        snprintf(err, errlen, "run flags after --: %s", msg);
        return -1;
    }
    if (config_validate(cfg, msg, sizeof msg) != 0) {
        snprintf(err, errlen, "round/memory run configuration: %s", msg);
        return -1;
    }
    return 0;
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
               fa_enum_name(&fa_enum_method, cx->o.method), R, cx->o.samples,
               cx->o.pass_argc ? ", extra run flags" : "");
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
        char err[1024];
        if (bench_run_config(&cx->o, cfg, N, R, err, sizeof err) != 0) fa_fail("bench: %s", err);
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
                     fa_enum_name(&fa_enum_method, cx->o.method), N, cpr, cx->ranks, cx->threads, R,
                     cx->o.samples);
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
