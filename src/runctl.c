/*
 * runctl.c: output and checkpoint files, stop signals and resume of `fedalign run/suite`
 * (see runctl.h). File contents go through store.c, agreement between ranks through
 * comm.c; this file decides what is written when.
 */
/* realpath is XSI, beyond the build's _POSIX_C_SOURCE */
#define _XOPEN_SOURCE 700
#include "fedalign/runctl.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fedalign/check.h"
#include "fedalign/comm.h"
#include "fedalign/method.h"
#include "fedalign/model.h"
#include "fedalign/result.h"
#include "fedalign/robust.h"
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

/* path with its directory resolved (realpath) and its base name kept as written, so
 * "o.h5.ckpt", "./o.h5.ckpt" and "/abs/dir/o.h5.ckpt" compare equal while a symlink at
 * the name itself stays a name of its own. A directory that cannot be resolved (it does
 * not exist: preflight says so) leaves the path as written. Rank-local. */
static void canonical_path(const char *path, char *out, size_t cap) {
    char dir[FA_PATH_LEN], real[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : path;
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = '\0'; /* "/file" */
    else *slash = '\0';
    if (!realpath(dir, real)) {
        snprintf(out, cap, "%s", path);
        return;
    }
    snprintf(out, cap, "%s%s%s", real, strcmp(real, "/") == 0 ? "" : "/",
             slash ? path + (base - dir) : path);
}

/* do a and b name the same file? rank 0 looks, every rank gets the answer */
static bool same_path(const char *a, const char *b) {
    int same = 0;
    if (comm_rank() == 0) {
        char ca[PATH_MAX + FA_PATH_LEN], cb[PATH_MAX + FA_PATH_LEN];
        canonical_path(a, ca, sizeof ca);
        canonical_path(b, cb, sizeof cb);
        same = strcmp(ca, cb) == 0;
    }
    comm_bcast_bytes(&same, sizeof same, 0);
    return same != 0;
}

/* A name that the file system or Open MPI cannot take fails only when the results are
 * written, after all the work: check every name this run writes up front. What store.c
 * and MPI-IO append to a name (the temporary's suffix, Open MPI's shared file pointer
 * file "<name>_cid-N-PID.sm") must fit in NAME_MAX too: FA_NAME_ROOM bytes are kept for
 * it. Pure string checks: the same verdict on every rank. */
static void check_name(const char *what, const char *path, const char *how) {
    const char *slash = strrchr(path, '/');
    size_t base = strlen(slash ? slash + 1 : path), len = strlen(path);
    if (base + FA_NAME_ROOM > NAME_MAX)
        fa_fail("%s file name '%s' is %zu characters long; at most %d are allowed (the file "
                "system's limit of %d, less %d for the temporary and MPI-IO names made from "
                "it): choose a shorter %s",
                what, slash ? slash + 1 : path, base, NAME_MAX - FA_NAME_ROOM, NAME_MAX,
                FA_NAME_ROOM, how);
    if (len + FA_NAME_ROOM >= FA_PATH_LEN)
        fa_fail("%s path is %zu characters long; at most %d are allowed: choose a shorter %s", what,
                len, FA_PATH_LEN - 1 - FA_NAME_ROOM, how);
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

// ----------------------------------------------------------------------------
// memory estimate: refuse before any work a run that cannot fit

/* size of a regular file on rank 0 (0 when it cannot be read: the build says why) */
static double file_bytes(const char *path) {
    double b = 0;
    struct stat st;
    if (comm_rank() == 0 && stat(path, &st) == 0) b = (double)st.st_size;
    comm_bcast_bytes(&b, sizeof b, 0);
    return b;
}

/* OpenMP's default team: OMP_NUM_THREADS, else the online processors */
static double default_threads(void) {
    const char *e = getenv("OMP_NUM_THREADS");
    long t = e ? atol(e) : sysconf(_SC_NPROCESSORS_ONLN);
    return t > 0 ? (double)t : 1.0;
}

/* SCAFFOLD's bytes per rank for n local clients, P parameters and T threads */
static double scaffold_bytes(double n, double P, double T) {
    return n * P * 4.0 + P * 4.0 + T * (2.0 * P * 4.0 + P * 8.0);
}

/* Bytes one rank will hold at its peak, from the configuration alone (before the data are
 * built): its clients' rows, the public data, the model buffers and per-thread workspaces,
 * the stored deltas (every federated method keeps its clients' updates of a round), the
 * results of every method (the result field table) and --save-models' personal models.
 * For CSV data the file size stands in for the rows (every rank holds the file's bytes
 * and the parsed values while it builds) and the model takes the largest feature and
 * class counts: an upper bound. */
static double estimate_rank_bytes(const Config *c, int ranks, size_t *n_params) {
    const DataSpec *ds = &c->data;
    const double n = (double)((c->clients + (size_t)ranks - 1) / (size_t)ranks); /* clients */
    DataInfo info = {0};
    double data;
    if (ds->kind == FA_DATA_CSV || ds->kind == FA_DATA_H5) {
        info.d = FA_MAX_FEATURES;
        info.k = FA_MAX_CLASSES;
        double f = file_bytes(ds->csv.path) + (ds->public_csv[0] ? file_bytes(ds->public_csv) : 0);
        data = 2.0 * f + f / (double)ranks;
    } else {
        gen_info(ds->kind, &ds->gen, &info);
        const double row = (double)(info.d + 1) * 4.0, m = (double)ds->samples_per_client;
        data = (n * m + (double)ds->public_samples) * row;
        /* while a thread builds a client it holds the unsplit rows and their labels (size_t)
         * beside the split; in training, a permutation of the rows */
        data += fmin(default_threads(), n) * m * (row + 16.0);
    }
    ModelShape shape = c->shape;
    shape.n_in = info.d;
    shape.n_out = info.k;
    if (shape.kind == FA_MODEL_CNN1D) { /* the window is known once the data is built */
        shape.win_len = info.win_len ? info.win_len : info.d;
        shape.win_ch = info.win_len ? info.win_ch : 1;
        if (model_cnn_out_len(&shape) == 0) shape.kind = FA_MODEL_MLP; /* fl_setup refuses it */
    }
    ModelLayout L;
    const size_t Pz = model_layout(&L, &shape);
    const double P = (double)Pz, T = default_threads();
    const double batch = (double)(c->local.batch < 256 ? 256 : c->local.batch);
    const double chunks = ceil(batch / FA_CHUNK);
    const double ws = chunks * P * 4.0 + 3.0 * P * 4.0 +
                      chunks * FA_CHUNK * ((double)L.act_size + 2.0 * (double)L.max_width) * 4.0;
    const double model = T * (ws + P * 4.0 + P * 8.0) + 8.0 * P * 4.0 + P * 8.0;
    double per_method = 0.0;
    for (size_t k = 0; k < fa_result_nfields; k++) {
        const FaField *fd = &fa_result_fields[k];
        if (fd->shape == FA_SHAPE_CP) continue; /* the personal models, below */
        per_method +=
            (double)fa_field_len(fd, c->rounds, (size_t)n, Pz) * (double)fa_field_elem_size(fd);
    }
    MethodSpec specs[FA_MAX_SUITE_METHODS];
    const double methods =
        c->command == FA_CMD_SUITE ? (double)fl_suite_methods(c, specs, FA_MAX_SUITE_METHODS) : 1.0;
    const double personal = c->save_models ? n * P * 4.0 : 0.0;
    /* the server optimizers' moments (2P doubles), and SCAFFOLD's control variates: c_i
     * for every local client (n x P floats), c, and per thread two P-float scratch rows and
     * P int64 sums (docs/performance.md) */
    const double state = 2.0 * P * 8.0 + (fl_run_has_scaffold(c) ? scaffold_bytes(n, P, T) : 0.0);
    /* a personalized method's per-client models (n x P: Ditto's and FedPer's state,
     * Per-FedAvg's adapted models in phase 3, with its threads' inner models), one method
     * at a time */
    double pstate = 0.0;
    for (size_t i = 0; i < (c->command == FA_CMD_SUITE ? (size_t)methods : 1); i++) {
        const MethodDef *d = method_def(c->command == FA_CMD_SUITE ? specs[i].method : c->method);
        if (d->client_state || d->client_train) pstate = (n + T) * P * 4.0;
    }
    *n_params = Pz;
    return data + model + n * P * 4.0 + state + pstate + methods * (per_method + personal);
}

/* Bytes rank 0 holds beyond estimate_rank_bytes: the largest gather of a robust method in
 * the run (robust.h: every client's update, C x P floats, and Krum's C x C distances). */
static double estimate_gather_bytes(const Config *c, size_t P) {
    MethodSpec specs[FA_MAX_SUITE_METHODS];
    size_t k = 1;
    if (c->command == FA_CMD_SUITE) k = fl_suite_methods(c, specs, FA_MAX_SUITE_METHODS);
    else specs[0].method = c->method;
    double most = 0.0;
    for (size_t i = 0; i < k; i++)
        most = fmax(most, robust_rank0_bytes(method_def(specs[i].method)->robust, c->clients, P,
                                             (int)default_threads()));
    return most;
}

/* bytes this node can still give: MemAvailable, or less when a cgroup limit is set */
static double available_bytes(void) {
    double avail = INFINITY;
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        unsigned long long kb;
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) avail = (double)kb * 1024.0;
    }
    if (f) fclose(f);
    const char *lim[2][2] = {{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},
                             {"/sys/fs/cgroup/memory/memory.limit_in_bytes",
                              "/sys/fs/cgroup/memory/memory.usage_in_bytes"}};
    for (int v = 0; v < 2; v++) {
        unsigned long long max = 0, cur = 0;
        FILE *a = fopen(lim[v][0], "r"), *b = fopen(lim[v][1], "r");
        bool ok = a && b && fscanf(a, "%llu", &max) == 1 && fscanf(b, "%llu", &cur) == 1;
        if (a) fclose(a);
        if (b) fclose(b);
        /* "max" (no limit) does not scan; v1 reports no limit as a huge number */
        if (ok && max > cur && (double)(max - cur) < avail) avail = (double)(max - cur);
    }
    return avail;
}

/* ranks of this job on this node, from the launcher's environment (all of them when it
 * does not say: the safe assumption) */
static double local_ranks(void) {
    const char *keys[] = {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *e = getenv(keys[i]);
        if (e && atoi(e) > 0) return (double)atoi(e);
    }
    return (double)comm_size();
}

/* Refuse (exit 2 on every rank) a run whose estimate exceeds the memory of a node, warn
 * above FA_MEM_WARN of it. FEDALIGN_MEMCHECK=off skips the check (an estimate can be
 * wrong, e.g. under overcommit with swap). */
#define FA_MEM_WARN 0.7
static void check_memory(const Config *c) {
    const char *e = getenv("FEDALIGN_MEMCHECK");
    if (e && strcmp(e, "off") == 0) return;
    size_t P = 0;
    const double per_rank = estimate_rank_bytes(c, comm_size(), &P);
    const double gather = estimate_gather_bytes(c, P); /* on rank 0's node only */
    /* every node judges its own ranks; the tightest node decides */
    double v[2] = {(per_rank * local_ranks() + (comm_rank() == 0 ? gather : 0.0)) /
                       available_bytes(),
                   local_ranks()};
    comm_allreduce_max_double(v, 2);
    double avail = available_bytes();
    comm_allreduce_min_double(&avail, 1);
    const double gib = 1024.0 * 1024.0 * 1024.0;
    if (v[0] > 1.0 && gather > 0.0)
        fa_fail("this run needs about %.2f GiB per rank x %.0f ranks per node, and rank 0 "
                "%.2f GiB more for the robust aggregation's gather of every client's update "
                "(--clients %zu x %zu parameters x 4 bytes, and Krum's clients^2 distances), but "
                "only %.2f GiB are available (MemAvailable or the cgroup limit). Use fewer "
                "clients or a smaller model, a method without the gather, or "
                "FEDALIGN_MEMCHECK=off to run anyway",
                per_rank / gib, v[1], gather / gib, c->clients, P, avail / gib);
    if (v[0] > 1.0)
        fa_fail("this run needs about %.2f GiB per rank x %.0f ranks per node = %.2f GiB, but "
                "only %.2f GiB are available (MemAvailable or the cgroup limit); estimate from "
                "--clients %zu, --samples/the CSV size, a %zu-parameter model, --rounds %zu%s%s. "
                "Use fewer clients or rows per rank (more ranks or nodes), a smaller model, or "
                "FEDALIGN_MEMCHECK=off to run anyway",
                per_rank / gib, v[1], per_rank * v[1] / gib, avail / gib, c->clients, P, c->rounds,
                c->save_models ? ", --save-models" : "",
                fl_run_has_scaffold(c) ? ", SCAFFOLD's control variates (4 bytes x parameters per "
                                         "client)"
                                       : "");
    if (v[0] > FA_MEM_WARN && comm_rank() == 0)
        fprintf(stderr,
                "fedalign: warning: this run needs about %.2f GiB per rank x %.0f ranks "
                "per node, %.0f%% of the %.2f GiB available\n",
                per_rank / gib, v[1], 100.0 * v[0], avail / gib);
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
    check_name("output", cfg->out_path, "--output");
    check_name("checkpoint", rc->ckpt,
               cfg->ckpt_path[0] ? "--checkpoint" : "--output (the checkpoint is OUTPUT.ckpt)");
    if (same_path(rc->ckpt, cfg->out_path)) fa_fail("--checkpoint must differ from --output");
    /* a checkpoint left by an earlier run is progress: never replace it silently; the
     * one being resumed is that progress, however its name is spelled */
    if (!(cfg->resume_path[0] && same_path(rc->ckpt, cfg->resume_path)) &&
        store_preflight(rc->ckpt, cfg->overwrite, err, sizeof err) != 0)
        fa_fail("%s\nHINT: continue that run with --resume %s, or pass --overwrite", err, rc->ckpt);
    check_memory(cfg);
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
    DataInfo info = fd->info;
    info.data_hash = rc->data_hash;
    store_write_run(f, c, &info, rc->ranks, rc->threads, fl_threads_over_clients(rc->pl), P);
    store_write_clients(f, fd, comm_rank());
    for (size_t m = 0; m < n_done; m++)
        store_write_method(f, m, &rc->res[m], c->clients, fd->ids, fd->n_local, P);
    if (partial) store_write_method(f, n_done, partial, c->clients, fd->ids, fd->n_local, P);
    if (st) store_write_state(f, st, P);
    store_close(f);
    /* the checkpoint is ours to replace; the results only with --overwrite */
    store_finish(tmp, path, true, strcmp(path, rc->ckpt) == 0 || c->overwrite);
}

/* The method state of a checkpoint: the server state and client rows of the method in
 * phase 2 (written while it runs, none otherwise), and room to read them back. */
static void method_state(RunCtl *rc, const FlState *fs, CheckpointState *st) {
    const FedData *fd = fl_data(rc->pl);
    st->server = fs->server;
    st->server_len = *fs->server_len;
    st->server_cap = 2 * fl_layout(rc->pl)->n_params;
    st->client = *fs->client_live ? fs->client : NULL;
    st->n_clients = rc->cfg->clients;
    st->ids = fd->ids;
    st->n_local = fd->n_local;
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
    method_state(rc, &fs, &st);
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
        if (store_read_method(f, m, &rc->res[m], c->clients, fd->ids, fd->n_local, P, err,
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

/* A checkpoint is only continued on the data it was written with: the configuration
 * hash cannot see a CSV file whose contents changed in place. */
static void check_data_hash(RunCtl *rc, StoreFile *f) {
    const Config *c = rc->cfg;
    char err[1024];
    uint64_t h = 0;
    bool found = false;
    if (store_read_data_hash(f, &h, &found, err, sizeof err) != 0) {
        store_close(f);
        fa_fail("--resume: %s", err);
    }
    if (!found) { /* written before fedalign stored data_hash */
        if (comm_rank() == 0)
            fprintf(stderr,
                    "fedalign: warning: checkpoint '%s' has no data_hash: the input data "
                    "cannot be checked against it\n",
                    c->resume_path);
        return;
    }
    if (h == rc->data_hash) return;
    store_close(f);
    fa_fail("--resume: the input data differ from the data checkpoint '%s' was written with "
            "(data_hash %016" PRIx64 " in the checkpoint, %016" PRIx64 " now): an input file "
            "(--dataset csv:, --public) changed or was replaced since the run stopped; resume "
            "with the original data, or start the run again without --resume",
            c->resume_path, h, rc->data_hash);
}

bool runctl_resume(RunCtl *rc, size_t *m0, FlCursor *cur) {
    const Config *c = rc->cfg;
    *m0 = 0;
    cur->phase = 0;
    cur->round = 0;
    rc->data_hash = feddata_hash(fl_data(rc->pl));
    if (!c->resume_path[0]) return false;
    char err[1024];
    const size_t P = fl_layout(rc->pl)->n_params;
    StoreFile *f = store_open_read(c->resume_path, err, sizeof err);
    if (!f) fa_fail("--resume: %s", err);
    FlState fs;
    fl_state(rc->pl, &fs);
    CheckpointState st = {.global = fs.global, .prev = fs.prev, .foundation = fs.foundation};
    method_state(rc, &fs, &st);
    st.client = fs.client; /* room for rows, if the run has SCAFFOLD */
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
    check_data_hash(rc, f);
    bool complete = st.method_index + 1 >= st.n_methods && st.phase == 4;
    if (complete && !c->overwrite && exists_everywhere(c->out_path)) {
        store_close(f);
        if (comm_rank() == 0) {
            printf("# run already complete: results in %s; checkpoint %s removed\n", c->out_path,
                   c->resume_path);
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
    *fs.server_len = st.server_len; /* fl_round.c checks it against the method */
    *fs.client_live = st.client_found;
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
        printf("# resumed from %s: method %zu/%zu, phase %d, round %zu\n", c->resume_path, *m0 + 1,
               rc->n_methods, cur->phase, cur->round);
    return false;
}
