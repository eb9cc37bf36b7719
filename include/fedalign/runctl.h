/*
 * runctl.h: run control of `fedalign run/suite`: the output and checkpoint names and
 * their preflight, stop signals, checkpoint writing, resuming, and the final results file.
 *
 * Invariants:
 * - a results file at the final name is always complete (written to a temporary file
 *   and renamed); a complete results file removes the checkpoint of its run;
 * - a checkpoint is only resumed by the configuration that wrote it (config hash:
 *   every option that changes results or what the file holds, e.g. --save-models);
 * - every function is collective, and every refusal ends every rank through fa_fail.
 */
#ifndef FEDALIGN_RUNCTL_H
#define FEDALIGN_RUNCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedalign/config.h"
#include "fedalign/data.h"
#include "fedalign/fl.h"

/* Bytes of a file name kept for what is appended to it when it is written: the
 * temporary's suffix (".tmp" and a unique part), the lock, and Open MPI's shared file
 * pointer file ("<name>_cid-N-PID.sm"). runctl_prepare refuses output and checkpoint
 * names longer than NAME_MAX less this. */
#define FA_NAME_ROOM 48

typedef struct {
    const Config *cfg;
    Pipeline *pl;
    MethodResult *res; /* (n_methods) */
    size_t n_methods;
    size_t current; /* method in progress */
    int ranks, threads;
    bool ckpt_on;      /* checkpoints at phase ends (staged runs, resumes, --checkpoint) */
    bool ckpt_written; /* this run wrote rc->ckpt */
    bool resumed;
    uint64_t data_hash; /* feddata_hash of the run's data (runctl_resume) */
    char ckpt[FA_PATH_LEN + 16];
} RunCtl;

/* Install the SIGTERM/SIGUSR1 handlers: they ask every rank to finish the round,
 * checkpoint and stop (exit 3). */
void runctl_signals(void);
/* FlHooks.stop_requested: this rank got a stop signal (rank-local). */
bool runctl_stop_requested(void *ctx);

/* Before any work: choose the default output name (results/<command>_<job or time>.h5),
 * the checkpoint name (<output>.ckpt unless --checkpoint), and refuse an existing output
 * or checkpoint (the output check of a resume waits for runctl_resume, which knows
 * whether the checkpoint holds a complete run), and names too long to be written (see
 * FA_NAME_ROOM). Paths are compared by their canonical form (resolved directory + base
 * name), so "./o.h5.ckpt" given to --resume is the checkpoint "o.h5.ckpt". Fills rc's
 * cfg, ckpt and ckpt_on. */
void runctl_prepare(Config *cfg, RunCtl *rc);

/* After fl_setup: pl, ranks, threads, res[n_methods] (zeroed) set in rc. Computes
 * rc->data_hash (feddata_hash; stored in every file the run writes). Without
 * --resume returns false. With it, refuses a checkpoint whose data_hash differs (the
 * input data changed), reads the checkpoint into the pipeline state and
 * res, sets *m0 and *cur to where the run goes on, and returns false; when the
 * checkpoint holds a complete run whose results file already exists, says so on rank 0,
 * removes the checkpoint and returns true (the caller exits 0). */
bool runctl_resume(RunCtl *rc, size_t *m0, FlCursor *cur);

/* FlHooks.checkpoint: write res so far and the pipeline state to rc->ckpt. */
void runctl_checkpoint(void *ctx, const MethodResult *res, int phase, size_t round);

/* After method m completed: checkpoint it when checkpoints are on or a stop was asked
 * for; returns true when the run must stop here (exit 3; not after the last method). */
bool runctl_method_done(RunCtl *rc, size_t m);

/* Write the complete results file and remove the run's checkpoint. */
void runctl_finish(RunCtl *rc, double *io_seconds);

#endif
