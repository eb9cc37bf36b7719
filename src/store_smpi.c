/*
 * store_smpi.c: the store API (store.h) of the SimGrid SMPI build, in place of the
 * HDF5 store*.c files (cmake/smpi.cmake).
 *
 * Debian's parallel HDF5 links Open MPI's libmpi, which cannot share a process with
 * SMPI's MPI, so this build writes no results file, no checkpoint and no bench file, and
 * reads none (--resume and `fedalign export` need the native build). A run still prints
 * its banner, per-round lines and FEDALIGN_RESULT lines (checksums and per-phase timers,
 * in simulated seconds): those are what a simulation study reads (docs/scaling.md).
 * Rank 0 says once, on stderr, that the output file is not written, before any work.
 */
#include <stdio.h>

#include "fedalign/comm.h"
#include "fedalign/config.h"
#include "fedalign/rng.h"
#include "fedalign/store.h"

struct StoreFile {
    int unused;
};

/* What a run, a checkpoint or a bench would have written; one sentence for all. */
static void note_not_written(const char *what, const char *path) {
    if (comm_rank() == 0)
        fprintf(stderr,
                "fedalign: note: the SMPI build writes no HDF5 files: %s %s is not written; "
                "the FEDALIGN_RESULT lines on stdout are the results (docs/scaling.md)\n",
                what, path);
}

static int no_hdf5(const char *what, char *err, size_t errlen) {
    snprintf(err, errlen,
             "%s: the SMPI build has no HDF5 and reads no results or checkpoint files "
             "(--resume, export); use the native build",
             what);
    return -1;
}

// ----------------------------------------------------------------------------
// paths: nothing is written, so nothing can be refused or replaced

int store_preflight(const char *final_path, bool overwrite, char *err, size_t errlen) {
    (void)final_path, (void)overwrite, (void)err, (void)errlen;
    return 0;
}

/* runctl_prepare locks the results path once per run, before any work: the one place
 * to say that it will not appear (checkpoints are not written either). */
int store_lock(const char *final_path, char *err, size_t errlen) {
    (void)err, (void)errlen;
    note_not_written("results file (and its checkpoints)", final_path);
    return 0;
}

void store_tmp_path(const char *final_path, char *out, size_t cap) {
    snprintf(out, cap, "%s", final_path);
}

// ----------------------------------------------------------------------------
// files: writing is a no-op, reading fails with one message on every rank

StoreFile *store_create(const char *path) {
    (void)path;
    static StoreFile none;
    return &none;
}

StoreFile *store_open_read(const char *path, char *err, size_t errlen) {
    no_hdf5(path, err, errlen);
    return NULL;
}

void store_close(StoreFile *f) { (void)f; }

void store_finish(const char *tmp_path, const char *final_path, bool success, bool replace) {
    (void)tmp_path, (void)final_path, (void)success, (void)replace;
}

void store_write_run(StoreFile *f, const Config *c, const DataInfo *info, int ranks, int threads,
                     bool over_clients, size_t n_params) {
    (void)f, (void)c, (void)info, (void)ranks, (void)threads, (void)over_clients, (void)n_params;
}

void store_write_clients(StoreFile *f, const FedData *fd, int rank) { (void)f, (void)fd, (void)rank; }

void store_write_method(StoreFile *f, size_t index, const MethodResult *res, size_t n_clients,
                        const size_t *ids, size_t n_local, size_t n_params) {
    (void)f, (void)index, (void)res, (void)n_clients, (void)ids, (void)n_local, (void)n_params;
}

void store_write_state(StoreFile *f, const CheckpointState *st, size_t n_params) {
    (void)f, (void)st, (void)n_params;
}

int store_read_method(StoreFile *f, size_t index, MethodResult *res, size_t n_clients,
                      const size_t *ids, size_t n_local, size_t n_params, char *err,
                      size_t errlen) {
    (void)f, (void)index, (void)res, (void)n_clients, (void)ids, (void)n_local, (void)n_params;
    return no_hdf5("method results", err, errlen);
}

int store_read_cmdline(StoreFile *f, char *buf, size_t cap, char *err, size_t errlen) {
    (void)f, (void)buf, (void)cap;
    return no_hdf5("command line", err, errlen);
}

int store_read_personal(StoreFile *f, const char *method, size_t client, float *params,
                        size_t n_params, char *err, size_t errlen) {
    (void)f, (void)method, (void)client, (void)params, (void)n_params;
    return no_hdf5("personal model", err, errlen);
}

int store_read_data_hash(StoreFile *f, uint64_t *hash, bool *found, char *err, size_t errlen) {
    (void)f, (void)hash, (void)found;
    return no_hdf5("data hash", err, errlen);
}

int store_read_state(StoreFile *f, CheckpointState *st, size_t n_params, char *err, size_t errlen) {
    (void)f, (void)st, (void)n_params;
    return no_hdf5("checkpoint state", err, errlen);
}

/* The same FNV-1a over "key=value\n" of the result-affecting options as store.c (which
 * this build does not compile), so a checkpoint state built here carries the same hash. */
static void hash_visit(void *ctx, const char *key, const char *value) {
    uint64_t *h = ctx;
    const char *parts[4] = {key, "=", value, "\n"};
    for (int k = 0; k < 4; k++)
        for (const unsigned char *p = (const unsigned char *)parts[k]; *p; p++) {
            *h ^= *p;
            *h *= 0x100000001b3ull;
        }
}

uint64_t store_config_hash(const Config *c) {
    uint64_t h = 0xcbf29ce484222325ull;
    config_visit_results(c, hash_visit, &h);
    return rng_mix64(h);
}

void store_write_bench(const char *path, const BenchMeta *meta, const BenchRow *rows, size_t n) {
    (void)meta, (void)rows, (void)n;
    note_not_written("bench file", path);
}

/* provenance: this build links no HDF5 at all */
void store_hdf5_version(char *buf, size_t cap) { snprintf(buf, cap, "none (SMPI build)"); }

bool store_writes_files(void) { return false; }

/* --dataset h5:PATH: refused with the other HDF5 reads (data.h: h5data_parse) */
int h5data_parse(const char *path, const void *bytes, size_t len, const char *group_col,
                 Dataset *out, DataInfo *info, int32_t **group, size_t *n_groups, char *err,
                 size_t errlen) {
    (void)bytes, (void)len, (void)group_col, (void)out, (void)info, (void)group, (void)n_groups;
    snprintf(err, errlen,
             "%s: the SMPI build reads no HDF5 files; give the data as csv:PATH or use the "
             "native build",
             path);
    return -1;
}
