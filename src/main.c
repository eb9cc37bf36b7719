/*
 * main.c: wires the modules together (XSBench Main.c style).
 *
 *   Setup (timed, excluded from the FOM): parse + validate flags on every rank,
 *     build this rank's clients, standardization, buffers.
 *   Methods: one (run) or all (suite), each phases 0-3 as it defines (fl.c).
 *   Report & finalize: rank-0 tables, checksums, FEDALIGN_RESULT lines.
 * Exit codes: 0 ok, 1 runtime failure, 2 bad input (on every rank), 3 stopped on
 * request (SIGTERM/SIGUSR1, --stop-after-round) with a checkpoint to resume from.
 */
#include <errno.h>
#include <omp.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/bench.h"
#include "fedalign/check.h"
#include "fedalign/comm.h"
#include "fedalign/config.h"
#include "fedalign/datacmd.h"
#include "fedalign/export.h"
#include "fedalign/fl.h"
#include "fedalign/report.h"
#include "fedalign/store.h"

#define FA_MAX_METHODS 32

/* `fedalign data`: a serial inspection tool; rank 0 builds every client. */
static int run_data(const Config *cfg) {
    /* Every rank builds the data so that an input error (bad CSV, impossible
     * partition) is found on every rank and fa_fail() ends them all with one message;
     * the other ranks build one client only (every check runs over all clients). */
    const bool root = comm_rank() == 0;
    FedData fd;
    feddata_build(&fd, &cfg->data, cfg->seed, cfg->clients, 0, root ? cfg->clients : 1, false);
    char err[512] = "";
    bool ok = true;
    if (root) {
        if (cfg->describe || !cfg->export_dir[0]) datacmd_describe(&fd, stdout);
        if (cfg->export_dir[0]) ok = datacmd_export(&fd, cfg->export_dir, cfg->overwrite, err, sizeof err) == 0;
    }
    feddata_free(&fd);
    if (!comm_all(ok)) fa_fail("%s", err); /* only rank 0's message is printed */
    if (root && cfg->export_dir[0]) printf("exported %zu clients to %s\n", cfg->clients, cfg->export_dir);
    return FA_EXIT_OK;
}

// ----------------------------------------------------------------------------
// signals: SIGTERM/SIGUSR1 ask every rank to finish the round, checkpoint and stop

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}
static bool stop_requested(void *ctx) {
    (void)ctx;
    return g_stop != 0;
}

// ----------------------------------------------------------------------------
// output and checkpoint files

typedef struct {
    const Config *cfg;
    Pipeline *pl;
    MethodResult *res;    /* (n_methods) */
    size_t n_methods;
    size_t current;       /* method in progress */
    int ranks, threads;
    char ckpt[FA_PATH_LEN + 16];
} RunCtx;

/* Write every method in res[0..n_done) (+ the one in progress) to path atomically:
 * a temporary file renamed over the final name, so a crash mid-write leaves the
 * previous file intact. */
static void write_file(RunCtx *rc, const char *path, size_t n_done, const MethodResult *partial,
                       const CheckpointState *st) {
    char tmp[FA_PATH_LEN + 32];
    store_tmp_path(path, tmp, sizeof tmp);
    const FedData *fd = fl_data(rc->pl);
    const size_t P = fl_layout(rc->pl)->n_params;
    StoreFile *f = store_create(tmp);
    store_write_run(f, rc->cfg, &fd->info, rc->ranks, rc->threads, fl_threads_over_clients(rc->pl), P);
    store_write_clients(f, fd, comm_rank());
    for (size_t m = 0; m < n_done; m++)
        store_write_method(f, m, &rc->res[m], rc->cfg->clients, fd->first, fd->n_local, P);
    if (partial) store_write_method(f, n_done, partial, rc->cfg->clients, fd->first, fd->n_local, P);
    if (st) store_write_state(f, st, P);
    store_close(f);
    /* the checkpoint is ours to replace; the results only with --overwrite */
    store_finish(tmp, path, true, strcmp(path, rc->ckpt) == 0 || rc->cfg->overwrite);
}

static void write_checkpoint(void *ctx, const MethodResult *res, int phase, size_t round) {
    RunCtx *rc = ctx;
    FlState fs;
    fl_state(rc->pl, &fs);
    CheckpointState st = {.config_hash = store_config_hash(rc->cfg),
                          .n_methods = rc->n_methods,
                          .method_index = rc->current,
                          .phase = phase,
                          .round = round,
                          .have_foundation = *fs.have_foundation,
                          .acc_public = *fs.acc_public,
                          .global = fs.global,
                          .prev = fs.prev,
                          .foundation = fs.foundation};
    write_file(rc, rc->ckpt, rc->current, phase < 4 ? res : NULL, &st);
}

/* results/<command>_<SLURM_JOB_ID[_TASK] or UTC time>.h5, chosen on rank 0 */
static void default_output(Config *cfg) {
    char name[FA_PATH_LEN];
    if (comm_rank() == 0) {
        const char *job = getenv("SLURM_JOB_ID"), *task = getenv("SLURM_ARRAY_TASK_ID");
        char id[64];
        if (job && task) snprintf(id, sizeof id, "%s_%s", job, task);
        else if (job) snprintf(id, sizeof id, "%s", job);
        else {
            time_t now = time(NULL);
            struct tm tmv;
            gmtime_r(&now, &tmv);
            strftime(id, sizeof id, "%Y%m%dT%H%M%SZ", &tmv);
        }
        if (mkdir("results", 0755) != 0 && errno != EEXIST)
            fprintf(stderr, "fedalign: cannot create results/: %s\n", strerror(errno));
        /* two runs in the same second (or a requeued job) get _2, _3, ...: an automatic
         * name never collides with an earlier run's results or checkpoint */
        const char *cmd = cfg->command == FA_CMD_SUITE ? "suite" : "run";
        struct stat st;
        char ck[FA_PATH_LEN + 8];
        for (int k = 1; k < 10000; k++) {
            if (k == 1) snprintf(name, sizeof name, "results/%s_%s.h5", cmd, id);
            else snprintf(name, sizeof name, "results/%s_%s_%d.h5", cmd, id, k);
            snprintf(ck, sizeof ck, "%s.ckpt", name);
            if (stat(name, &st) != 0 && stat(ck, &st) != 0) break;
        }
    }
    comm_bcast_bytes(name, sizeof name, 0);
    snprintf(cfg->out_path, sizeof cfg->out_path, "%s", name);
}

int main(int argc, char **argv) {
    comm_init(&argc, &argv);
    if (argc > 1 && strcmp(argv[1], "export") == 0) { /* int8 C export (export.c) */
        int rc = export_main(argc, argv);
        comm_finalize();
        return rc;
    }
    if (argc > 1 && strcmp(argv[1], "bench") == 0) { /* systems micro-benchmarks (bench.c) */
        int rc = bench_main(argc, argv);
        comm_finalize();
        return rc;
    }
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
    if (!cfg.out_path[0]) default_output(&cfg);
    /* refuse an existing or unwritable output before any work */
    if (store_preflight(cfg.out_path, cfg.overwrite, err, sizeof err) != 0) fa_fail("%s", err);
    if (store_lock(cfg.out_path, err, sizeof err) != 0) fa_fail("%s", err);
    RunCtx rc = {.cfg = &cfg, .ranks = ranks};
    if (cfg.ckpt_path[0]) snprintf(rc.ckpt, sizeof rc.ckpt, "%s", cfg.ckpt_path);
    else snprintf(rc.ckpt, sizeof rc.ckpt, "%s.ckpt", cfg.out_path);
    if (strcmp(rc.ckpt, cfg.out_path) == 0) fa_fail("--checkpoint must differ from --output");
    /* a checkpoint left by an earlier run is progress: never replace it silently */
    if (strcmp(rc.ckpt, cfg.resume_path) != 0 &&
        store_preflight(rc.ckpt, cfg.overwrite, err, sizeof err) != 0)
        fa_fail("%s\nHINT: continue that run with --resume %s, or pass --overwrite", err, rc.ckpt);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);

    Timers setup;
    timers_reset(&setup);
    timer_start(&setup, FA_T_SETUP);
    Pipeline *pl = fl_setup(&cfg, &setup);
    timer_stop(&setup, FA_T_SETUP);
    const FedData *fd = fl_data(pl);
    const int threads = fl_threads(pl);
    const size_t P = fl_layout(pl)->n_params;
    rc.pl = pl;
    rc.threads = threads;

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
        report_banner(stdout, &cfg, ranks, threads, fl_threads_over_clients(pl), P);
        report_data(stdout, &cfg, &fd->info, totals);
        printf("# setup %.3f s | results %s | checkpoint %s\n", setup.acc[FA_T_SETUP], cfg.out_path,
               rc.ckpt);
    }

    // ------------------------------------------------------------------
    // Methods
    MethodSpec specs[FA_MAX_METHODS];
    size_t n_methods = cfg.command == FA_CMD_SUITE ? fl_suite_methods(&cfg, specs, FA_MAX_METHODS)
                                                   : fl_method_from_config(&cfg, specs);
    MethodResult *res = xcalloc(n_methods, sizeof(MethodResult));
    rc.res = res;
    rc.n_methods = n_methods;
    size_t m0 = 0;
    FlCursor cur = {0, 0};
    bool resumed = false;
    if (cfg.resume_path[0]) {
        /* continue from a checkpoint: completed methods, the one in progress, state */
        StoreFile *f = store_open_read(cfg.resume_path, err, sizeof err);
        if (!f) fa_fail("--resume: %s", err);
        FlState fs;
        fl_state(pl, &fs);
        CheckpointState st = {.global = fs.global, .prev = fs.prev, .foundation = fs.foundation};
        if (store_read_state(f, &st, P, err, sizeof err) != 0) {
            store_close(f);
            fa_fail("--resume: %s", err);
        }
        if (st.config_hash != store_config_hash(&cfg) || st.n_methods != n_methods) {
            store_close(f);
            fa_fail("--resume: checkpoint '%s' was written by a different configuration or "
                    "command; resume with the same command and flags",
                    cfg.resume_path);
        }
        *fs.have_foundation = st.have_foundation;
        *fs.acc_public = st.acc_public;
        for (size_t m = 0; m <= st.method_index && m < n_methods; m++) {
            bool in_progress = m == st.method_index;
            if (in_progress && st.phase == 4) break;
            if (store_read_method(f, m, &res[m], cfg.clients, fd->first, fd->n_local, P, err,
                                  sizeof err) != 0) {
                store_close(f);
                fa_fail("--resume: %s", err);
            }
            if (cfg.save_models && !res[m].personal_models)
                res[m].personal_models = xalloc_aligned((fd->n_local ? fd->n_local : 1) * P * sizeof(float));
        }
        store_close(f);
        m0 = st.method_index;
        cur.phase = st.phase;
        cur.round = st.round;
        if (st.phase == 4) { /* that method was complete */
            m0++;
            cur.phase = 0;
            cur.round = 0;
        }
        resumed = true;
        if (rank == 0)
            printf("# resumed from %s: method %zu/%zu, phase %d, round %zu\n", cfg.resume_path,
                   m0 + 1, n_methods, cur.phase, cur.round);
    }
    bool ckpt_on = cfg.ckpt_every > 0 || cfg.stop_after_round > 0 || cfg.stop_before_phase > 0 ||
                   cfg.ckpt_path[0] || resumed;
    FlHooks hooks = {.checkpoint = write_checkpoint,
                     .stop_requested = stop_requested,
                     .ctx = &rc,
                     .every = cfg.ckpt_every,
                     .at_phase_ends = ckpt_on,
                     .stop_after_round = cfg.stop_after_round,
                     .stop_before_phase = (int)cfg.stop_before_phase};
    int status = FA_EXIT_OK;
    for (size_t m = m0; m < n_methods; m++) {
        rc.current = m;
        bool from_ckpt = resumed && m == m0 && (cur.phase > 0 || cur.round > 0);
        if (!from_ckpt) fl_result_init(pl, &specs[m], &res[m]);
        if (rank == 0) report_method_header(stdout, &res[m], &specs[m]);
        int st = fl_run_method(pl, &specs[m], &res[m], from_ckpt ? &cur : NULL, &hooks);
        if (st == FA_STOPPED) {
            if (rank == 0) {
                printf("# stopped: method %s after round %zu; checkpoint %s\n", specs[m].name,
                       res[m].rounds_done, rc.ckpt);
                printf("# resume with the same command plus: --resume %s\n", rc.ckpt);
                fflush(stdout);
            }
            status = FA_STOPPED;
            break;
        }
        if (rank == 0) report_method(stdout, &cfg, &res[m], ranks, threads);
        /* a completed method is a checkpoint too (suite runs); signals between methods */
        bool stop = comm_any(g_stop != 0);
        if (ckpt_on || stop) write_checkpoint(&rc, &res[m], 4, res[m].rounds);
        if (stop && m + 1 < n_methods) {
            if (rank == 0)
                printf("# stopped after method %s; resume with the same command plus: --resume %s\n",
                       specs[m].name, rc.ckpt);
            status = FA_STOPPED;
            break;
        }
    }

    // ------------------------------------------------------------------
    // Report & finalize
    if (status == FA_EXIT_OK) {
        Timers io;
        timers_reset(&io);
        timer_start(&io, FA_T_IO);
        write_file(&rc, cfg.out_path, n_methods, NULL, NULL);
        timer_stop(&io, FA_T_IO);
        if (rank == 0 && cfg.command == FA_CMD_SUITE) report_suite_table(stdout, &cfg, res, n_methods);
        if (rank == 0) printf("# results written to %s (io %.3f s)\n", cfg.out_path, io.acc[FA_T_IO]);
        /* the results are complete: the checkpoint has served its purpose */
        if (rank == 0 && ckpt_on) remove(rc.ckpt);
    }
    for (size_t m = 0; m < n_methods; m++)
        if (res[m].round_acc) fl_result_free(&res[m]);
    free(res);
    fl_free(pl);
    comm_finalize();
    return status;
}
