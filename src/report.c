/*
 * report.c: the configuration banner, per-method results blocks, the suite table
 * and the FEDALIGN_RESULT lines (OSU/IOR-style fixed-width output, rank 0 only).
 */
#include "fedalign/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/aggregate.h"
#include "fedalign/comm.h"
#include "fedalign/method.h"
#include "fedalign/provenance.h"
#include "fedalign/timer.h"

static void pct(char *buf, size_t cap, double v) {
    if (isfinite(v)) snprintf(buf, cap, "%6.2f", 100.0 * v);
    else snprintf(buf, cap, "%6s", "-");
}

void report_banner(FILE *out, const Config *c, int ranks, int threads, bool over_clients,
                   size_t n_params) {
    if (c->quiet) return;
    fprintf(out, "# fedalign %s (%s): Fed-Meta-Align federated TinyML benchmark\n",
            FEDALIGN_VERSION, FEDALIGN_GIT);
    fprintf(out,
            "# ranks %d | threads/rank %d | parallel over: %s | model %zu params | seed %llu\n",
            ranks, threads,
            threads == 1   ? "(one thread)"
            : over_clients ? "clients"
                           : "batch",
            n_params, (unsigned long long)c->seed);
    /* placement, for scaling studies: a 4x4 hybrid run and a 16x1 run differ only here */
    const CommPlacement *p = comm_placement();
    fprintf(out, "# nodes %d | ranks/node %d | threads/rank %d | OMP_PLACES %s | OMP_PROC_BIND %s",
            p->nodes, p->ranks_per_node, threads, p->env[0][0] ? p->env[0] : "-",
            p->env[1][0] ? p->env[1] : "-");
    for (int i = 2; i < FA_PLACE_ENV; i++)
        if (p->env[i][0]) fprintf(out, " | %s %s", comm_place_env_names[i], p->env[i]);
    fprintf(out, "\n# hosts %.200s%s\n", p->hosts, strlen(p->hosts) > 200 ? ",..." : "");
    provenance_print(out); /* the keys of the results file's provenance attributes */
    config_print(c, out);
}

void report_data(FILE *out, const Config *c, const DataInfo *info, const size_t totals[4]) {
    if (c->quiet) return;
    fprintf(out, "| %-22s | %-44s |\n", "data", info->name);
    fprintf(out, "| %-22s | %-44zu |\n", "features (D)", info->d);
    fprintf(out, "| %-22s | %-44zu |\n", "classes (K)", info->k);
    char buf[64];
    snprintf(buf, sizeof buf, "%zu / %zu / %zu", totals[0], totals[1], totals[2]);
    fprintf(out, "| %-22s | %-44s |\n", "rows train/val/test", buf);
    fprintf(out, "| %-22s | %-44zu |\n", "public rows", totals[3]);
    fprintf(out, "+------------------------+----------------------------------------------+\n");
}

void report_round(FILE *out, const RoundScalars *x, const MethodResult *res, size_t r, size_t R) {
    fprintf(out,
            "round %4zu/%zu | acc(phi^r) %6.2f%% | loss %.4f | train loss %.4f | clients %5zu "
            "| cos %s%.3f | %.3f s\n",
            r + 1, R, 100.0 * res->round_acc[r], res->round_loss[r],
            x->selected ? fixed_to_double(x->trainloss) / (double)x->selected : 0.0,
            (size_t)x->selected, isfinite(res->round_wsum_cos[r]) ? "" : " ",
            res->round_wsum_cos[r], res->round_time[r]);
    if (x->rejected || x->dropped || x->late)
        fprintf(out,
                "           | rejected %lld (non-finite/out of range) | dropped %lld | late %lld\n",
                (long long)x->rejected, (long long)x->dropped, (long long)x->late);
    fflush(out);
}

void report_method_header(FILE *out, const MethodResult *r, const MethodSpec *ms, size_t index,
                          size_t n) {
    (void)r;
    fprintf(out, "\n== method %zu/%zu %s: phase0 %s, phase1 %s, weights %s, personalize %s ==\n",
            index, n, ms->name, ms->phase0 ? "yes" : "no", ms->phase1 ? "yes" : "no",
            ms->similarity                                     ? "dual-criterion"
            : method_def(ms->method)->robust != FA_ROBUST_NONE ? fa_method_names[ms->method]
            : ms->method == FA_METHOD_LOCAL                    ? "-"
                                                               : "FedAvg",
            ms->personalize ? "yes" : "no");
    fflush(out);
}

static const char *dataset_key(const Config *c) {
    return c->data.kind == FA_DATA_ELECTRICAL   ? "electrical"
           : c->data.kind == FA_DATA_MECHANICAL ? "mechanical"
           : c->data.kind == FA_DATA_H5         ? "h5"
                                                : "csv";
}

/* the machine-readable line; its keys never change (new ones are appended) */
static void result_line(FILE *out, const Config *c, const MethodResult *r, int ranks,
                        int threads) {
    fprintf(out,
            "FEDALIGN_RESULT method=%s dataset=%s clients=%zu ranks=%d threads=%d seed=%llu "
            "acc_global=%.6f acc_personal_mean=%.6f checksum=%016llx time_total_s=%.6f "
            "checksum_personal=%016llx acc_personal_std=%.6f acc_personal_worst=%.6f rounds=%zu "
            "init=%s personalize=%d acc_foundation=%.6f acc_metainit=%.6f acc_public=%.6f "
            "budget_public_epochs=%.3f budget_client_epochs=%.3f rounds_to_target=%ld "
            "secs_to_target=%.6f t_train_max=%.6f t_ring_span=%.6f t_agg_max=%.6f t_comm_max=%.6f "
            "acc_int8_mean=%.6f int8_drop_mean=%.6f osc_cos_lag1=%.4f osc_update_cos=%.4f "
            "two_cycle=%d train_imbalance=%.4f rows_imbalance=%.4f f1_global=%.6f "
            "f1_personal=%.6f f1_personal_mean=%.6f budget_client_epochs_used=%.3f "
            "p3_epoch_best_mean=%.3f p3_epochs_run_mean=%.3f\n",
            r->spec.name, dataset_key(c), c->clients, ranks, threads, (unsigned long long)c->seed,
            r->acc_global, r->acc_personal_mean, (unsigned long long)r->checksum, r->time_total,
            (unsigned long long)r->checksum_personal, r->acc_personal_std, r->acc_personal_worst,
            r->rounds, r->spec.phase0 ? "foundation" : "random", r->spec.personalize ? 1 : 0,
            r->phase_acc_mean[0], r->phase_acc_mean[1], r->acc_public, r->budget_public_epochs,
            r->budget_client_epochs, r->rounds_to_target, r->secs_to_target, r->tmax[FA_T_TRAIN],
            r->tspan[FA_T_RING], r->tmax[FA_T_AGG], r->tmax[FA_T_COMM], r->acc_int8_mean,
            r->int8_drop_mean, r->osc_cos_lag1, r->osc_update_cos, r->two_cycle ? 1 : 0,
            r->train_imbalance, r->rows_imbalance, r->f1_global, r->f1_personal,
            r->f1_personal_mean, r->budget_client_epochs_used, r->p3_epoch_best_mean,
            r->p3_epochs_run_mean);
    fflush(out);
}

void report_method(FILE *out, const Config *c, const MethodResult *r, int ranks, int threads) {
    if (c->quiet) { /* results only */
        result_line(out, c, r, ranks, threads);
        return;
    }
    char a[4][16], pub[16];
    for (int k = 0; k < 4; k++) pct(a[k], sizeof a[k], r->phase_acc_mean[k]);
    pct(pub, sizeof pub, r->acc_public);
    fprintf(out, "# RESULTS %s\n", r->spec.name);
    fprintf(out, "# accuracy %% (mean over clients, client test splits)\n");
    fprintf(out, "#   %-12s %-12s %-12s %-12s %-12s\n", "foundation", "meta-init", "global",
            "personal", "public(p0)");
    fprintf(out, "#   %-12s %-12s %-12s %-12s %-12s\n", a[0], a[1], a[2], a[3], pub);
    char g[16];
    pct(g, sizeof g, r->acc_global);
    fprintf(
        out,
        "#   global model on pooled test rows: %s%%   personal: %.2f +/- %.2f%%, worst %.2f%%\n", g,
        100.0 * r->acc_personal_mean, 100.0 * r->acc_personal_std, 100.0 * r->acc_personal_worst);
    char f1g[16], f1p[16], f1m[16];
    pct(f1g, sizeof f1g, r->f1_global);
    pct(f1p, sizeof f1p, r->f1_personal);
    pct(f1m, sizeof f1m, r->f1_personal_mean);
    fprintf(out, "#   macro-F1 %%: global model %s, final models pooled %s, mean over clients %s\n",
            f1g, f1p, f1m);
    if (isfinite(r->acc_int8_mean))
        fprintf(out,
                "#   int8 deployment: %.2f%% mean accuracy (%+.2f points vs float), %.0f bytes of "
                "model data\n",
                100.0 * r->acc_int8_mean, -100.0 * r->int8_drop_mean, r->int8_flash_bytes);
    fprintf(
        out,
        "#   budget: %.2f epochs over public data, %.2f epochs per client over its train data\n",
        r->budget_public_epochs, r->budget_client_epochs);
    if (isfinite(r->p3_epochs_run_mean))
        fprintf(out,
                "#   personalization (%s): kept epoch %.2f of %.2f trained (mean over clients); "
                "budget used %.2f epochs per client\n",
                c->p3_select == FA_P3_FIXED ? "fixed epochs" : "best validation epoch",
                r->p3_epoch_best_mean, r->p3_epochs_run_mean, r->budget_client_epochs_used);
    if (c->target_acc > 0.0) {
        if (r->rounds_to_target >= 0)
            fprintf(out, "#   target %.2f%% reached at round %ld after %.3f s\n",
                    100.0 * c->target_acc, r->rounds_to_target, r->secs_to_target);
        else fprintf(out, "#   target %.2f%% not reached\n", 100.0 * c->target_acc);
    }
    fprintf(out, "# %-12s %12s %12s %12s %12s\n", "phase", "min_s", "avg_s", "max_s", "span_s");
    for (int k = 0; k < FA_T_COUNT; k++) {
        if (r->tmax[k] <= 0.0 && k != FA_T_TOTAL) continue;
        fprintf(out, "  %-12s %12.6f %12.6f %12.6f %12.6f\n", fa_timer_names[k], r->tmin[k],
                r->tavg[k], r->tmax[k], r->tspan[k]);
    }
    fprintf(out, "checksum=%016llx checksum_personal=%016llx\n", (unsigned long long)r->checksum,
            (unsigned long long)r->checksum_personal);
    result_line(out, c, r, ranks, threads);
    fflush(out);
}

void report_suite_table(FILE *out, const Config *c, const MethodResult *rs, size_t n) {
    fprintf(
        out,
        "\n# SUITE %s, %zu clients, %zu rounds, seed %llu (accuracy %% on clients' test splits)\n",
        dataset_key(c), c->clients, c->rounds, (unsigned long long)c->seed);
    fprintf(out,
            "| %-28s | %8s | %17s | %8s | %8s | %8s | %8s | %9s | %9s | %11s | %9s | %-13s |\n",
            "method", "global", "personal mean+-sd", "worst", "F1 glob", "F1 pers", "int8",
            "pub.ep", "client.ep", "p3 kept/run", "time_s", "server");
    fprintf(out,
            "|------------------------------|----------|-------------------|----------|----------|"
            "----------|----------|-----------|-----------|-------------|-----------|---------------|\n");
    for (size_t i = 0; i < n; i++) {
        const MethodResult *r = &rs[i];
        char g[16], q[16], fg[16], fp[16];
        pct(g, sizeof g, r->acc_global);
        pct(q, sizeof q, r->acc_int8_mean);
        pct(fg, sizeof fg, r->f1_global);
        pct(fp, sizeof fp, r->f1_personal_mean);
        /* the dynamics flag: "2-cycle" with the lag-1 autocorrelation of the clients' cosines */
        char dyn[24] = "-";
        if (r->rounds > 0)
            snprintf(dyn, sizeof dyn, "%s %+.2f", r->two_cycle ? "2-cycle" : "ok", r->osc_cos_lag1);
        /* phase 3: mean kept epoch / mean epochs trained; client.ep counts those trained */
        char p3[24] = "-";
        if (isfinite(r->p3_epochs_run_mean))
            snprintf(p3, sizeof p3, "%.1f/%.1f", r->p3_epoch_best_mean, r->p3_epochs_run_mean);
        fprintf(out,
                "| %-28s | %8s | %8.2f +- %5.2f | %8.2f | %8s | %8s | %8s | %9.2f | %9.2f | %11s | "
                "%9.3f | %-13s |\n",
                r->spec.name, g, 100.0 * r->acc_personal_mean, 100.0 * r->acc_personal_std,
                100.0 * r->acc_personal_worst, fg, fp, q, r->budget_public_epochs,
                r->budget_client_epochs_used, p3, r->time_total, dyn);
    }
    fprintf(out, "# F1 glob: macro-F1 of the global model on the pooled test rows; F1 pers: mean over "
                 "clients of the final models' macro-F1\n");
    fprintf(out, "# client.ep: epochs per client actually trained; p3 kept/run: mean phase-3 "
                 "epoch kept / trained (--p3-select)\n");
    fprintf(out, "# server: 2-cycle when the clients' cosines to the round mean flip every round "
                 "(lag-1 autocorrelation shown) or every global step reverses the last\n");
    fflush(out);
}

// ----------------------------------------------------------------------------
// progress: long phases on stderr, by time (never per batch), so stdout keeps only what
// scripts parse; FEDALIGN_PROGRESS_SECS sets the interval (tests use a short one)

double report_progress_interval(void) {
    const char *e = getenv("FEDALIGN_PROGRESS_SECS");
    char *end = NULL;
    double v = e && *e ? strtod(e, &end) : 0.0;
    return end && !*end && v > 0.0 && isfinite(v) ? v : 10.0;
}

void progress_begin(Progress *p, bool on, const char *what, size_t done0, size_t total) {
    snprintf(p->what, sizeof p->what, "%s", what);
    p->on = on;
    p->done0 = done0;
    p->total = total;
    p->interval = report_progress_interval();
    p->t0 = timer_now();
    p->next = p->t0 + p->interval;
}

static void progress_print(const Progress *p, size_t done, double now) {
    const double el = now - p->t0;
    const double rate = done > p->done0 && el > 0.0 ? (double)(done - p->done0) / el : 0.0;
    char eta[32] = "?";
    if (rate > 0.0) snprintf(eta, sizeof eta, "%.0f s", (double)(p->total - done) / rate);
    fprintf(stderr, "# progress %s %zu/%zu (%.0f%%) | %.0f s elapsed | ETA %s\n", p->what, done,
            p->total, p->total ? 100.0 * (double)done / (double)p->total : 100.0, el, eta);
    fflush(stderr);
}

void progress_update(Progress *p, size_t done) {
    if (!p->on) return;
    double now = timer_now();
    if (now < p->next || done >= p->total) return;
    progress_print(p, done, now);
    p->next = now + p->interval;
}

void progress_update_shared(Progress *p, size_t done, float *slot) {
    if (!p->on) return;
    double now = timer_now(), k = floor((now - p->t0) / p->interval);
    if (k <= (double)*slot || done >= p->total) return;
    progress_print(p, done, now);
    *slot = (float)k;
}
