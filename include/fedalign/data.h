/*
 * data.h: datasets, built-in device generators, CSV loading, partitioning into
 * clients and train/val/test splits.
 *
 * Shapes: N = rows, D = features, K = classes, C = clients.
 * Every client's data is a function of (seed, client id) and the data spec
 * alone, built on the rank that owns the client: nothing here depends on how
 * clients are spread over ranks or threads. No MPI calls in this module: for CSV
 * input feddata_build has rank 0 read the file and broadcast its bytes through
 * comm.h, so every rank parses the same bytes and input errors, reported with
 * fa_fail(), come out the same everywhere.
 */
#ifndef FEDALIGN_DATA_H
#define FEDALIGN_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FA_MAX_CLASSES 16
#define FA_MAX_FEATURES 64
#define FA_NAME_LEN 48
#define FA_PATH_LEN 1024

// ----------------------------------------------------------------------------
// plain datasets

typedef struct {
    size_t n;   /* rows */
    size_t d;   /* features */
    float *x;   /* (n, d) row-major; owns */
    int32_t *y; /* (n) labels in [0, K); owns */
} Dataset;

void dataset_alloc(Dataset *ds, size_t n, size_t d);
void dataset_free(Dataset *ds);
/* out = rows[0..m) of src (copies; out is allocated) */
void dataset_take(Dataset *out, const Dataset *src, const size_t *rows, size_t m);
/* hist[k] = number of rows with label k, for k < n_classes */
void dataset_hist(const Dataset *ds, size_t n_classes, size_t *hist);

typedef struct {
    size_t d; /* features */
    size_t k; /* classes */
    char feature_names[FA_MAX_FEATURES][FA_NAME_LEN];
    char class_names[FA_MAX_CLASSES][FA_NAME_LEN];
    char name[FA_NAME_LEN]; /* "electrical", "mechanical", "csv" */
    uint64_t data_hash;     /* feddata_hash of the built data, set by the run for its results
                         * and checkpoints (0 = not computed) */
    /* raw-window data (issue 17): each row is one window of win_len time steps by win_ch
     * channels, stored time-major (x[t * win_ch + c]), d = win_len * win_ch; both 0 for
     * tabular features. Models over time (cnn1d) need them; the MLP ignores them. */
    size_t win_len, win_ch;
} DataInfo;

// ----------------------------------------------------------------------------
// built-in physics-based device generators

/* FA_DATA_H5: a user's HDF5 file (--dataset h5:PATH, path in DataSpec.csv.path), pooled,
 * partitioned and split exactly like a CSV file */
typedef enum {
    FA_DATA_ELECTRICAL = 0,
    FA_DATA_MECHANICAL = 1,
    FA_DATA_CSV = 2,
    FA_DATA_H5 = 3
} FaDataKind;

/* What a generated row holds (--input): features computed from a window, or the window. */
typedef enum { FA_INPUT_FEATURES = 0, FA_INPUT_RAW = 1 } FaInput;

typedef struct {
    double heterogeneity; /* 0 = every device nominal, 1 = default spread of device parameters */
    size_t window;        /* mechanical: samples per vibration window [1024] */
    size_t severities;    /* mechanical: fault severities per fault type [3] -> K = 1 + 3*sev */
    bool spectral;        /* mechanical: add spectral/envelope features */
    FaInput input;        /* mechanical: the windows' features, or the raw windows themselves
                           * (d = window, one channel, DataInfo.win_len/win_ch set) */
} GenOptions;

/* Fill info (D, K, names) for a generator. */
/* Number of names in info->feature_names: one per feature for tabular data, one per
 * channel for raw windows (whose d may exceed FA_MAX_FEATURES). */
size_t datainfo_n_names(const DataInfo *info);
void gen_info(FaDataKind kind, const GenOptions *opt, DataInfo *info);

/* Generate n samples with the given labels y[0..n) for one device into x (n, D).
 * device = global client id; public_data = true uses nominal device parameters and
 * the FA_RNG_PUBLIC stream (device is then a chunk index). `stream` separates
 * independent draws for the same device (e.g. 0 for its data). Deterministic in
 * (seed, device, public_data, stream, y) and nothing else. Thread-safe. */
void gen_samples(FaDataKind kind, const GenOptions *opt, uint64_t seed, uint64_t device,
                 bool public_data, uint64_t stream, const int32_t *y, size_t n, float *x);

// ----------------------------------------------------------------------------
// real data: CSV

typedef struct {
    char path[FA_PATH_LEN];
    char label_cols[256];        /* "G,C,B,A" (a tuple) or "label"; empty = last column */
    char feature_cols[1024];     /* comma list; empty = every other numeric column */
    char group_col[FA_NAME_LEN]; /* column used for --partition column:NAME; may be empty */
} CsvSpec;

/* Input limits: a CSV file of at most FA_CSV_MAX_BYTES bytes (it is held in memory
 * whole, on every rank) and physical lines of at most FA_CSV_MAX_LINE bytes. */
#define FA_CSV_MAX_BYTES ((size_t)1 << 30)
#define FA_CSV_MAX_LINE (1 << 20)
/* Joins the values of several label columns into one class name ("1,11"); a value
 * that contains it is refused, so distinct tuples never share a name. */
#define FA_LABEL_SEP ','

/* Read a whole CSV file into a malloc'ed buffer (*bytes, *len). Refuses anything but
 * a regular file (a FIFO, /dev/stdin, /dev/zero, a directory) without blocking, and
 * files over FA_CSV_MAX_BYTES. Returns 0, or -1 with "path: message" in err. */
int csv_read_file(const char *path, char **bytes, size_t *len, char *err, size_t errlen);

/* Parse a numeric CSV held in memory (bytes[0..len), not NUL-terminated); spec->path
 * names it in messages. Labels are the distinct values of the label column, or the
 * tuples of the label columns joined with FA_LABEL_SEP ("1,11"), sorted, mapped to
 * 0..K-1 and named in info->class_names. Order: numerically when every value is an
 * integer (so "10" after "2"), else by strcmp; joined tuples column by column, each
 * column numerically when all its values are integers.
 * group (optional, may be NULL) receives a malloc'ed (n) array with the values of
 * spec->group_col mapped to 0..G-1, and *n_groups the count.
 * Returns 0, or -1 with "file:line:column: message" in err. Pure: no printing.
 * (line = physical line, column = 1-based CSV field; column 0 = the line as a whole.
 * Unnamed columns are ignored.) */
int csv_parse_bytes(const CsvSpec *spec, const char *bytes, size_t len, Dataset *out,
                    DataInfo *info, int32_t **group, size_t *n_groups, char *err, size_t errlen);

/* csv_read_file(spec->path) then csv_parse_bytes: one process reading its own copy. */
int csv_load(const CsvSpec *spec, Dataset *out, DataInfo *info, int32_t **group, size_t *n_groups,
             char *err, size_t errlen);

// ----------------------------------------------------------------------------
// real data: HDF5 (store_dataset.c; the layout is in docs/byod.md, "HDF5 input")

/* Limits beside the file size (FA_CSV_MAX_BYTES, read with csv_read_file): values per
 * row and in all (a compressed file may expand far beyond its size). */
#define FA_H5_MAX_ROW (1 << 20)
#define FA_H5_MAX_VALUES ((size_t)1 << 28)

/* Parse an HDF5 file held in memory (bytes[0..len), read by csv_read_file); path names it
 * in messages. X [N][L][C] (raw windows: info->win_len = L, win_ch = C, d = L C) or
 * [N][D] (features), float32/float64, finite; y [N] integers (indices into the string
 * attribute y.class_names when present, else their sorted distinct values) or strings
 * (sorted distinct names); names from X.channel_names / X.feature_names or ch0.., x0...
 * group (optional, may be NULL) receives the dataset group_col [N] (integers or strings)
 * mapped to 0..G-1 in sorted order, and *n_groups = G. Returns 0, or -1 with
 * "path: message" in err (and nothing allocated). Pure: no printing, no MPI. */
int h5data_parse(const char *path, const void *bytes, size_t len, const char *group_col,
                 Dataset *out, DataInfo *info, int32_t **group, size_t *n_groups, char *err,
                 size_t errlen);

// ----------------------------------------------------------------------------
// partitioning and splits

typedef enum { FA_PART_DIRICHLET = 0, FA_PART_IID = 1, FA_PART_COLUMN = 2 } FaPartKind;

/* How a CSV pool's rows of each class are ordered before the Dirichlet partition cuts
 * them into per-client chunks: file order (a device gets contiguous stretches of each
 * class, e.g. of a time-ordered file) or a seeded shuffle within each class (a device
 * gets a random sample of each class). */
typedef enum { FA_ROWS_FILE = 0, FA_ROWS_SHUFFLED = 1 } FaRowOrder;

typedef struct {
    FaPartKind kind;
    double beta;              /* Dirichlet concentration (label skew), > 0 */
    double quantity_sigma;    /* quantity skew: client sizes ~ lognormal(0, sigma), 0 = equal */
    size_t min_per_client;    /* minimum rows per client */
    size_t retry_cap;         /* Dirichlet redraws before the deterministic repair */
    FaRowOrder row_order;     /* CSV Dirichlet: row order before the label partition */
    bool quantity_given;      /* --quantity-skew was on the command line (the column
                               * partition refuses it: its sizes are the data's) */
    char column[FA_NAME_LEN]; /* FA_PART_COLUMN: CSV column that names the client */
} PartitionSpec;

/* Generated data: label histogram of client `client` with n_mean rows on average.
 * Draws p ~ Dirichlet(beta) (or uniform for IID) and a lognormal size from
 * (seed, FA_RNG_PARTITION, client); always terminates; hist sums to >= min_per_client. */
void partition_gen_hist(const PartitionSpec *ps, uint64_t seed, uint64_t client, size_t n_classes,
                        size_t n_mean, size_t *hist);

/* A pool of labelled rows (real data): assign every row to one of n_clients clients.
 * client_of_row (n) gets a client id or -1 (row unused). With FA_PART_COLUMN, group
 * gives the client of each row. Deterministic in seed. Dirichlet: per class, split
 * its rows (in file order, or shuffled within the class: ps->row_order) into contiguous
 * chunks by Dirichlet(beta) proportions times each client's lognormal quantity weight
 * (renormalized per class; weight 1 when quantity_sigma = 0); redraw up to retry_cap
 * times until every client has min_per_client rows, then repair deterministically by
 * moving rows from the largest clients. IID: a seeded shuffle cut into chunks sized by
 * the quantity weights. Returns 0, or -1 with a message when impossible
 * (n < n_clients * min_per_client, too few groups, ...). */
int partition_pool(const PartitionSpec *ps, uint64_t seed, const int32_t *y, size_t n,
                   size_t n_classes, const int32_t *group, size_t n_groups, size_t n_clients,
                   int64_t *client_of_row, char *err, size_t errlen);

typedef struct {
    double val_frac;  /* fraction of each class for validation [0.15] */
    double test_frac; /* fraction of each class for test [0.25] */
    bool block;       /* contiguous blocks per class (time series) instead of random */
} SplitSpec;

/* Split one client's rows (in their original order) into train/val/test, stratified
 * by class; random order from (seed, FA_RNG_SPLIT, client) unless spec->block.
 * Per class of m rows: val = round(m*val_frac), test = round(m*test_frac); when m >= 3
 * each split with a positive fraction gets at least one row; train keeps at least one.
 * Each output keeps the original row order (block mode: train | val | test per class). */
void split_rows(const SplitSpec *spec, uint64_t seed, uint64_t client, const Dataset *all,
                Dataset *train, Dataset *val, Dataset *test);

// ----------------------------------------------------------------------------
// the federated data set: what every rank holds

typedef struct {
    FaDataKind kind;
    GenOptions gen;
    CsvSpec csv;
    char public_csv[FA_PATH_LEN]; /* separate public file for phase 0 (csv only); may be empty */
    PartitionSpec part;
    SplitSpec split;
    size_t samples_per_client; /* generated data: mean rows per client */
    size_t public_samples;     /* generated data: rows of public data */
    double public_frac;        /* csv: stratified held-out fraction for public data */
    double perturb;            /* csv: per-device sensor gain/offset/noise level, 0 = none */
} DataSpec;

typedef struct {
    int64_t id;                  /* global client id */
    Dataset train, val, test;    /* owns */
    size_t hist[FA_MAX_CLASSES]; /* realized label histogram over all its rows */
} ClientData;

typedef struct {
    DataInfo info;
    size_t n_clients;    /* C, global */
    size_t n_local;      /* clients on this rank */
    size_t *ids;         /* (n_local) their global ids, ascending; owns */
    int32_t *owner;      /* (C) rank holding client t, the same on every rank (a ranked
                          * build, feddata_build_ranks); NULL for a range build; owns */
    ClientData *clients; /* (n_local), clients[l].id = ids[l]; owns */
    Dataset public_data; /* phase-0 data; n = 0 unless requested */
    size_t n_public;     /* rows of public data the run uses, built or not (every rank) */
} FedData;

/* Build the clients [first, first + n_local) and, if want_public, the public data.
 * Collective when MPI is initialized (CSV bytes are broadcast from rank 0), serial
 * otherwise. Input errors go through fa_fail() (every rank sees the same input). */
void feddata_build(FedData *fd, const DataSpec *spec, uint64_t seed, size_t n_clients, size_t first,
                   size_t n_local, bool want_public);
/* Build rank `rank`'s share of the clients over `size` ranks (size <= n_clients): contiguous
 * blocks (comm_block), or balanced = greedy by training rows (comm_balanced), whose rows
 * every rank knows from the label histograms before any client is built. Sets fd->owner.
 * Same collective and error rules as feddata_build. */
void feddata_build_ranks(FedData *fd, const DataSpec *spec, uint64_t seed, size_t n_clients,
                         int rank, int size, bool balanced, bool want_public);
void feddata_free(FedData *fd);
/* Local index of global client t, SIZE_MAX when this rank does not hold it. Local. */
size_t feddata_local(const FedData *fd, size_t t);
/* Each rank's per-client values local[0..n_local) into all[0..C) in client-id order on
 * rank 0 (all is needed there only). Collective when MPI is initialized. */
void feddata_gather_doubles(const FedData *fd, const double *local, double *all);

/* Sample standard deviation (n - 1) of column j of the row-major x[., d] over the rows
 * rows[0..n) (0 when n < 2); the scale of --perturb's per-device sensor noise. */
double dataset_column_sd(const float *x, size_t d, size_t j, const size_t *rows, size_t n);
/* 64-bit hash of everything the ranks built: every client's id and train/val/test x and
 * y bits, combined in client order on rank 0 (as checksum_personal is), the public data,
 * and the feature and class names. The same for any number of ranks; a changed input
 * file changes it. Collective; the ranks' clients must partition all clients (a ranked
 * build, as fl_setup makes, or ranges in rank order). */
uint64_t feddata_hash(const FedData *fd);

#endif
