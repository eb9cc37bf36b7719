/*
 * main.c: wires the modules together (XSBench Main.c style).
 *
 *   Setup (timed, excluded from the FOM): parse + validate flags on every rank,
 *     build this rank's clients, standardization, buffers.
 *   Methods: one (run) or all (suite), each phases 0-3 as it defines (fl.c).
 *   Report & finalize: rank-0 tables, checksums, FEDALIGN_RESULT lines.
 * Exit codes: 0 ok, 1 runtime failure, 2 bad input (on every rank).
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/check.h"
#include "fedalign/comm.h"
#include "fedalign/config.h"
#include "fedalign/datacmd.h"
#include "fedalign/fl.h"
#include "fedalign/report.h"

#define FA_MAX_METHODS 32

/* `fedalign data`: a serial inspection tool; rank 0 builds every client. */
static int run_data(const Config *cfg) {
    if (comm_rank() == 0) {
        FedData fd;
        feddata_build(&fd, &cfg->data, cfg->seed, cfg->clients, 0, cfg->clients, false);
        if (cfg->describe || !cfg->export_dir[0]) datacmd_describe(&fd, stdout);
        if (cfg->export_dir[0]) {
            char err[512];
            if (datacmd_export(&fd, cfg->export_dir, err, sizeof err) != 0) {
                fprintf(stderr, "fedalign: error: %s\n", err);
                feddata_free(&fd);
                comm_abort(FA_EXIT_USAGE);
            }
            printf("exported %zu clients to %s\n", fd.n_clients, cfg->export_dir);
        }
        feddata_free(&fd);
    }
    comm_barrier();
    return FA_EXIT_OK;
}

int main(int argc, char **argv) {
    comm_init(&argc, &argv);
    const int rank = comm_rank(), ranks = comm_size();

    // ------------------------------------------------------------------
    // Setup (not part of the FOM)
    static Config cfg; /* large (paths); static keeps it off the stack */
    config_defaults(&cfg);
    char err[1024];
    if (config_parse(&cfg, argc, argv, err, sizeof err) != 0 ||
        config_validate(&cfg, err, sizeof err) != 0)
        fa_fail("%s\nHINT: fedalign --help lists every option", err);
    if (cfg.command == FA_CMD_HELP) {
        if (rank == 0) config_usage(stdout);
        comm_finalize();
        return FA_EXIT_OK;
    }
    if (cfg.command == FA_CMD_DATA) {
        int rc = run_data(&cfg);
        comm_finalize();
        return rc;
    }

    Timers setup;
    timers_reset(&setup);
    timer_start(&setup, FA_T_SETUP);
    Pipeline *pl = fl_setup(&cfg, &setup);
    timer_stop(&setup, FA_T_SETUP);
    const FedData *fd = fl_data(pl);
    const int threads = fl_threads(pl);

    size_t totals[4] = {0, 0, 0, fd->public_data.n};
    for (size_t i = 0; i < fd->n_local; i++) {
        totals[0] += fd->clients[i].train.n;
        totals[1] += fd->clients[i].val.n;
        totals[2] += fd->clients[i].test.n;
    }
    {
        double tt[4] = {(double)totals[0], (double)totals[1], (double)totals[2], (double)totals[3]};
        comm_allreduce_sum_double(tt, 4); /* integer-valued: exact below 2^53 */
        for (int k = 0; k < 4; k++) totals[k] = (size_t)tt[k];
    }
    if (rank == 0) {
        report_banner(stdout, &cfg, ranks, threads, fl_threads_over_clients(pl),
                      fl_layout(pl)->n_params);
        report_data(stdout, &cfg, &fd->info, totals);
        printf("# setup %.3f s\n", setup.acc[FA_T_SETUP]);
    }

    // ------------------------------------------------------------------
    // Methods
    MethodSpec specs[FA_MAX_METHODS];
    size_t n_methods = cfg.command == FA_CMD_SUITE ? fl_suite_methods(&cfg, specs, FA_MAX_METHODS)
                                                   : fl_method_from_config(&cfg, specs);
    MethodResult *res = xcalloc(n_methods, sizeof(MethodResult));
    for (size_t m = 0; m < n_methods; m++) {
        if (rank == 0) report_method_header(stdout, &res[m], &specs[m]);
        fl_run_method(pl, &specs[m], &res[m]);
        if (rank == 0) report_method(stdout, &cfg, &res[m], ranks, threads);
    }

    // ------------------------------------------------------------------
    // Report & finalize
    if (rank == 0 && cfg.command == FA_CMD_SUITE) report_suite_table(stdout, &cfg, res, n_methods);
    for (size_t m = 0; m < n_methods; m++) fl_result_free(&res[m]);
    free(res);
    fl_free(pl);
    (void)omp_get_max_threads;
    comm_finalize();
    return FA_EXIT_OK;
}
