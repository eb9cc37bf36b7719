/*
 * runctl.c: output and checkpoint files, stop signals and resume of `fedalign run/suite`
 * (see runctl.h). File contents go through store.c, agreement between ranks through
 * comm.c; this file decides what is written when.
 */
#include "fedalign/runctl.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fedalign/check.h"
#include "fedalign/comm.h"
#include "fedalign/store.h"
#include "fedalign/timer.h"

// ----------------------------------------------------------------------------
// signals: SIGTERM/SIGUSR1 ask every rank to finish the round, checkpoint and stop

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

void runctl_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

bool runctl_stop_requested(void *ctx) {
    (void)ctx;
    return g_stop != 0;
}

// ----------------------------------------------------------------------------
// names and preflight

/* rank 0 looks, every rank gets the answer */
static bool exists_everywhere(const char *path) {
    int e = 0;
    struct stat st;
    if (comm_rank() == 0) e = stat(path, &st) == 0;
    comm_bcast_bytes(&e, sizeof e, 0);
    return e != 0;
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

void runctl_prepare(Config *cfg, RunCtl *rc) {
    char err[1024];
    memset(rc, 0, sizeof *rc);
    rc->cfg = cfg;
    if (!cfg->out_path[0]) default_output(cfg);
    /* refuse an existing or unwritable output before any work; a resume first learns
     * from its checkpoint whether the run is already complete */
    if (store_preflight(cfg->out_path, cfg->overwrite || cfg->resume_path[0], err, sizeof err))
        fa_fail("%s", err);
    /* one run per output at a time (a second one fails here, naming the lock's owner) */
    if (store_lock(cfg->out_path, err, sizeof err) != 0) fa_fail("%s", err);
    if (cfg->ckpt_path[0]) snprintf(rc->ckpt, sizeof rc->ckpt, "%s", cfg->ckpt_path);
    else snprintf(rc->ckpt, sizeof rc->ckpt, "%s.ckpt", cfg->out_path);
    if (strcmp(rc->ckpt, cfg->out_path) == 0) fa_fail("--checkpoint must differ from --output");
    /* a checkpoint left by an earlier run is progress: never replace it silently */
    if (strcmp(rc->ckpt, cfg->resume_path) != 0 &&
        store_preflight(rc->ckpt, cfg->overwrite, err, sizeof err) != 0)
        fa_fail("%s\nHINT: continue that run with --resume %s, or pass --overwrite", err, rc->ckpt);
    rc->ckpt_on = cfg->ckpt_every > 0 || cfg->stop_after_round > 0 || cfg->stop_before_phase > 0 ||
                  cfg->ckpt_path[0] || cfg->resume_path[0];
}

// ----------------------------------------------------------------------------
// writing

/* Write every method in res[0..n_done) (+ the one in progress) to path atomically:
 * a temporary file renamed over the final name, so a crash mid-write leaves the
 * previous file intact. */
static void write_file(RunCtl *rc, const char *path, size_t n_done, const MethodResult *partial,
                       const CheckpointState *st) {
    char tmp[FA_PATH_LEN + 32];
    store_tmp_path(path, tmp, sizeof tmp);
    const FedData *fd = fl_data(rc->pl);
    const size_t P = fl_layout(rc->pl)->n_params;
    const Config *c = rc->cfg;
    StoreFile *f = store_create(tmp);
    store_write_run(f, c, &fd->info, rc->ranks, rc->threads, fl_threads_over_clients(rc->pl), P);
    store_write_clients(f, fd, comm_rank());
    for (size_t m = 0; m < n_done; m++)
        store_write_method(f, m, &rc->res[m], c->clients, fd->first, fd->n_local, P);
    if (partial) store_write_method(f, n_done, partial, c->clients, fd->first, fd->n_local, P);
    if (st) store_write_state(f, st, P);
    store_close(f);
    /* the checkpoint is ours to replace; the results only with --overwrite */
    store_finish(tmp, path, true, strcmp(path, rc->ckpt) == 0 || c->overwrite);
}

void runctl_checkpoint(void *ctx, const MethodResult *res, int phase, size_t round) {
    RunCtl *rc = ctx;
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
    /* phase 4: method `current` is complete and stored with the completed ones (it
     * must be: a resume goes on with the next method) */
    if (phase < 4) write_file(rc, rc->ckpt, rc->current, res, &st);
    else write_file(rc, rc->ckpt, rc->current + 1, NULL, &st);
    rc->ckpt_written = true;
}

bool runctl_method_done(RunCtl *rc, size_t m) {
    /* a completed method is a checkpoint too (suite runs); signals between methods */
    bool stop = comm_any(g_stop != 0);
    rc->current = m;
    if (rc->ckpt_on || stop) runctl_checkpoint(rc, &rc->res[m], 4, rc->res[m].rounds);
    return stop && m + 1 < rc->n_methods;
}

void runctl_finish(RunCtl *rc, double *io_seconds) {
    Timers io;
    timers_reset(&io);
    timer_start(&io, FA_T_IO);
    write_file(rc, rc->cfg->out_path, rc->n_methods, NULL, NULL);
    timer_stop(&io, FA_T_IO);
    *io_seconds = io.acc[FA_T_IO];
    /* the results are complete: a checkpoint of this run (written now or resumed from
     * at the same name) has served its purpose, and one left beside a complete result
     * would make a job script's resume step fail */
    if (comm_rank() == 0 && (rc->ckpt_on || rc->ckpt_written) && remove(rc->ckpt) != 0 &&
        errno != ENOENT)
        fprintf(stderr, "fedalign: warning: cannot remove checkpoint '%s': %s\n", rc->ckpt,
                strerror(errno));
}

// ----------------------------------------------------------------------------
// resuming

/* Completed methods and the one in progress from the checkpoint f into rc->res (a
 * method complete at the checkpoint, phase 4, is stored with the completed ones). */
static void read_methods(RunCtl *rc, StoreFile *f, const CheckpointState *st) {
    const Config *c = rc->cfg;
    const FedData *fd = fl_data(rc->pl);
    const size_t P = fl_layout(rc->pl)->n_params;
    char err[1024];
    for (size_t m = 0; m <= st->method_index && m < rc->n_methods; m++) {
        bool in_progress = m == st->method_index && st->phase < 4;
        if (store_read_method(f, m, &rc->res[m], c->clients, fd->first, fd->n_local, P, err,
                              sizeof err) != 0) {
            store_close(f);
            fa_fail("--resume: %s", err);
        }
        if (!c->save_models || rc->res[m].personal_models) continue;
        /* the config hash covers --save-models, so a completed method always has its
         * models here; only the method in progress gets them in phase 3 */
        if (!in_progress) {
            store_close(f);
            fa_fail("--resume: checkpoint '%s' has no personal_models for method %zu",
                    c->resume_path, m);
        }
        rc->res[m].personal_models =
            xalloc_aligned((fd->n_local ? fd->n_local : 1) * P * sizeof(float));
    }
}

bool runctl_resume(RunCtl *rc, size_t *m0, FlCursor *cur) {
    const Config *c = rc->cfg;
    *m0 = 0;
    cur->phase = 0;
    cur->round = 0;
    if (!c->resume_path[0]) return false;
    char err[1024];
    const size_t P = fl_layout(rc->pl)->n_params;
    StoreFile *f = store_open_read(c->resume_path, err, sizeof err);
    if (!f) fa_fail("--resume: %s", err);
    FlState fs;
    fl_state(rc->pl, &fs);
    CheckpointState st = {.global = fs.global, .prev = fs.prev, .foundation = fs.foundation};
    if (store_read_state(f, &st, P, err, sizeof err) != 0) {
        store_close(f);
        fa_fail("--resume: %s", err);
    }
    if (st.config_hash != store_config_hash(c) || st.n_methods != rc->n_methods) {
        store_close(f);
        fa_fail("--resume: checkpoint '%s' was written by a different configuration or "
                "command; resume with the same command and flags",
                c->resume_path);
    }
    bool complete = st.method_index + 1 >= st.n_methods && st.phase == 4;
    if (complete && !c->overwrite && exists_everywhere(c->out_path)) {
        store_close(f);
        if (comm_rank() == 0) {
            printf("# run already complete: results in %s; checkpoint %s removed\n",
                   c->out_path, c->resume_path);
            if (remove(c->resume_path) != 0)
                fprintf(stderr, "fedalign: warning: cannot remove checkpoint '%s': %s\n",
                        c->resume_path, strerror(errno));
        }
        comm_barrier();
        return true;
    }
    if (!c->overwrite && store_preflight(c->out_path, false, err, sizeof err) != 0) {
        store_close(f);
        fa_fail("%s", err);
    }
    *fs.have_foundation = st.have_foundation;
    *fs.acc_public = st.acc_public;
    read_methods(rc, f, &st);
    store_close(f);
    *m0 = st.method_index;
    cur->phase = st.phase;
    cur->round = st.round;
    if (st.phase == 4) { /* that method was complete */
        ++*m0;
        cur->phase = 0;
        cur->round = 0;
    }
    rc->resumed = true;
    if (comm_rank() == 0)
        printf("# resumed from %s: method %zu/%zu, phase %d, round %zu\n", c->resume_path,
               *m0 + 1, rc->n_methods, cur->phase, cur->round);
    return false;
}
