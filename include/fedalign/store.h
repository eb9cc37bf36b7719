/*
 * store.h: the only module that talks HDF5 (parallel HDF5 through MPI-IO).
 *
 * One self-describing results file per run (schema in docs/results-format.md,
 * version FA_SCHEMA_VERSION). Every function is collective over MPI_COMM_WORLD
 * and must be called by every rank with identical arguments except the rank-local
 * data pointers (HDF Group "collective calling requirements"). Per-client rows are
 * written by the rank that owns the clients with collective hyperslab writes, so
 * nothing of size C x P passes through rank 0.
 * A checkpoint is a results file plus a /checkpoint group with the state needed to
 * continue (store_write_state); the same method writer/reader serves both.
 * Errors in HDF5 calls are fatal (H5_CHECK -> die with file:line); user-facing
 * problems (missing file, not an fedalign file, schema/config mismatch) come back
 * as -1 with a message so the caller can fail cleanly on every rank.
 */
#ifndef FEDALIGN_STORE_H
#define FEDALIGN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedalign/config.h"
#include "fedalign/data.h"
#include "fedalign/fl.h"

#define FA_SCHEMA_VERSION 3

typedef struct StoreFile StoreFile;

/* The HDF5 library's version "major.minor.release" into buf[cap] (local; provenance). */
void store_hdf5_version(char *buf, size_t cap);

/* Does this build write results files at all? false in the SMPI build (store_smpi.c), whose
 * runs must not claim a results path. */
bool store_writes_files(void);

/* Before any work: is `final_path` usable? Fails (-1, message) when it exists and
 * !overwrite, when it is a directory or another non-regular file (device, FIFO, socket),
 * or when its directory does not exist or is not writable (probed by creating and
 * removing a file there). Rank 0 checks, every rank gets the verdict. */
int store_preflight(const char *final_path, bool overwrite, char *err, size_t errlen);

/* Lock final_path for this run: rank 0 creates "<final_path>.lock" exclusively, holding
 * "<pid> <host>", and removes it when the process exits (atexit; a killed run leaves it).
 * Fails (-1, message naming the lock file and its owner) when another live run holds it;
 * a lock of a process that no longer exists on this host is removed with a note. */
int store_lock(const char *final_path, char *err, size_t errlen);

/* Temporary name used while writing: "<final_path>.tmp.<pid>.<random>" in the same
 * directory (so the final rename is atomic), created empty and exclusively by rank 0
 * (never an existing file or symlink) and broadcast. Collective; when it cannot be
 * created every rank exits with FA_EXIT_FAIL and one message. */
void store_tmp_path(const char *final_path, char *out, size_t cap);

/* Create (truncate) a file for writing with the MPI-IO driver. */
StoreFile *store_create(const char *path);
/* Open an existing file read-only; NULL with a message when missing, unreadable, not
 * HDF5, or without a schema_version attribute. */
StoreFile *store_open_read(const char *path, char *err, size_t errlen);
void store_close(StoreFile *f);
/* After store_close of the temporary file: rename tmp -> final (rank 0; collective). With
 * replace == false an existing final file is never replaced (it appeared meanwhile: every
 * rank exits with FA_EXIT_FAIL and a message, the temporary file is kept); checkpoints
 * and --overwrite pass true. On failure (success == false) the temporary file is removed
 * instead. */
void store_finish(const char *tmp_path, const char *final_path, bool success, bool replace);

/* Root attributes: schema_version, fedalign_version, git_describe, created_utc, host,
 * n_ranks, n_threads, threads_over, n_params, n_clients, n_features, n_classes,
 * feature/class names, and every configuration value as a string attribute
 * "cfg.<flag>" (config_visit), plus config_hash and data_hash (info->data_hash). */
void store_write_run(StoreFile *f, const Config *c, const DataInfo *info, int ranks, int threads,
                     bool over_clients, size_t n_params);

/* /clients: label_hist [C, K], n_train / n_val / n_test [C], rank [C]; each rank writes
 * the rows of its clients fd->ids (rank [C] is the --assign map). */
void store_write_clients(StoreFile *f, const FedData *fd, int rank);

/* /methods/<index as %02zu>_<name>: attributes (name, flags, summaries, checksums as
 * hex strings, budgets, rounds, rounds_done, target), per-round global metrics
 * [rounds + 1] or [rounds], per-client phase accuracies [C], per-round per-client
 * metrics [rounds, C] (score, cosine, weight, train_loss; NaN = not selected),
 * timers [FA_T_COUNT, 4] (min, avg, max, span) with a names attribute, the final
 * global model [P], and personal_models [C, P] when res->personal_models != NULL.
 * ids[0..n_local): this rank's clients' global ids, ascending; C = n_clients. */
void store_write_method(StoreFile *f, size_t index, const MethodResult *res, size_t n_clients,
                        const size_t *ids, size_t n_local, size_t n_params);

/* Read a method group written by store_write_method back into res (allocated here as
 * fl.c would; rank-local rows only). Returns -1 with a message if missing/mismatched. */
int store_read_method(StoreFile *f, size_t index, MethodResult *res, size_t n_clients,
                      const size_t *ids, size_t n_local, size_t n_params, char *err, size_t errlen);

/* The command line of the run (Config.cmdline: argv[1..] separated by '\n') into
 * buf[cap]; -1 with a message when absent. */
int store_read_cmdline(StoreFile *f, char *buf, size_t cap, char *err, size_t errlen);

/* Client `client`'s final model (P floats) from /methods/NN_<method>/personal_models
 * (written with --save-models); method NULL or "" = the first method group. Returns -1
 * with a message naming the problem (no such method, no personal_models, P or C
 * mismatch). Collective. */
int store_read_personal(StoreFile *f, const char *method, size_t client, float *params,
                        size_t n_params, char *err, size_t errlen);

/* The root attribute data_hash (DataInfo.data_hash at writing) into *hash; *found = false
 * when the file has none (written before fedalign stored it). -1 with a message when the
 * attribute is malformed or the file damaged. Collective. */
int store_read_data_hash(StoreFile *f, uint64_t *hash, bool *found, char *err, size_t errlen);

/* Checkpoint state: what fl.c needs to continue exactly where it stopped. */
typedef struct {
    uint64_t config_hash; /* must match the resuming run's configuration */
    size_t n_methods;     /* methods in this run */
    size_t method_index;  /* method in progress (methods before it are complete) */
    int phase;            /* next step of that method: 0..3, or 4 = method complete */
    size_t round;         /* phase 2: next round to run */
    bool have_foundation;
    double acc_public;
    float *global;     /* (P) caller-owned buffers: written from / read into */
    float *prev;       /* (P) */
    float *foundation; /* (P) */
    /* the state of the method in phase 2 (server_opt.h, SCAFFOLD): written when present,
     * read when the file has it */
    double *server;    /* (server_cap) rank 0's server state, identical on every rank */
    size_t server_len; /* doubles in use (0 = none; on reading: as found) */
    size_t server_cap; /* reading: room in server */
    float *client;     /* (n_local, P) per-client state rows (NULL = none) */
    bool client_found; /* reading: the file held client rows (read into client) */
    size_t n_clients, n_local; /* the rows: n_local of n_clients */
    const size_t *ids;                /* (n_local) their global client ids, ascending */
} CheckpointState;

void store_write_state(StoreFile *f, const CheckpointState *st, size_t n_params);
/* Reads into st's caller-owned buffers; -1 with a message when absent or P differs. */
int store_read_state(StoreFile *f, CheckpointState *st, size_t n_params, char *err, size_t errlen);

/* Hash of the configuration values that determine results (every config_visit key
 * except output/resume/verbosity flags); same on every rank. */
uint64_t store_config_hash(const Config *c);

/* Benchmark results (`fedalign bench --output FILE.h5`): one row per FEDALIGN_BENCH line. */
#define FA_BENCH_SCHEMA_VERSION 1
typedef struct {
    const char *name;   /* FEDALIGN_BENCH name=..., e.g. "aggregate": one dataset per name */
    const char *params; /* the point's parameters, "key=value key=value" */
    const char *unit;   /* of min/median/max */
    size_t reps;        /* timed repetitions */
    double min, median, max;
    const char *extra; /* further "key=value" results of the point ("" for none) */
} BenchRow;
typedef struct {
    const char *cmdline;   /* the command line, argv joined by spaces */
    const char *cpu;       /* CPU model name */
    const char *build_isa; /* vector ISA the library was compiled for */
    int ranks, threads;    /* MPI ranks, OpenMP threads per rank */
} BenchMeta;

/* Write rank 0's rows[0..n) to a new HDF5 file `path` (checked beforehand with
 * store_preflight; written under a store_tmp_path name and renamed at the end). Root attributes:
 * kind, schema_version, fedalign_version, git_describe, created_utc, host, cpu,
 * build_isa, cmdline, n_ranks, n_threads, units, method, datasets. One 1-D compound
 * dataset /<name> per distinct row name (fields params, unit, extra, reps, min, median,
 * max; attributes name, units, columns). Collective; only rank 0's rows are used. */
void store_write_bench(const char *path, const BenchMeta *meta, const BenchRow *rows, size_t n);

#endif
