/*
 * store.c: the results file (parallel HDF5 1.10 through MPI-IO); the only HDF5 user.
 *
 * Layout and meaning of every object: docs/results-format.md (schema FA_SCHEMA_VERSION).
 * Rules this file keeps, because parallel HDF5 hangs or corrupts the file otherwise:
 *  - every rank makes every create/open/attribute/close call with identical arguments;
 *  - attribute values and small global datasets are *rank 0's* values: attributes are
 *    broadcast from rank 0 before H5Awrite, global datasets are written by rank 0
 *    selecting the whole space while the other ranks select none (round_time, for one,
 *    differs per rank, so "all ranks write identical data" would not hold);
 *  - per-client rows are written by their owner with collective hyperslab transfers;
 *    a rank without clients selects none but still takes part.
 * Every HDF5 call goes through H5_CHECK/H5_ID (die with file:line); every hid_t is
 * closed in reverse order of opening and property lists right after use.
 * The one MPI use here is the communicator handed to H5Pset_fapl_mpio.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#include "fedalign/aggregate.h"
#include "fedalign/check.h"
#include "fedalign/comm.h"
#include "fedalign/rng.h"
#include "fedalign/store.h"
#include "fedalign/timer.h"

// C = clients, R = phase-2 rounds, K = classes, D = features, P = parameters,
// T = FA_T_COUNT timers, n = this rank's clients starting at global id `first`.

#ifndef FEDALIGN_VERSION
#define FEDALIGN_VERSION "unknown"
#endif
#ifndef FEDALIGN_GIT
#define FEDALIGN_GIT "unknown"
#endif

/* While a file that may be damaged is read (store_open_read and the store_read_*
 * functions: a --resume checkpoint, an export --results file), a failed HDF5 call
 * jumps back to the reader, which returns -1 with a message instead of dying; HDF5's
 * own error stack is silenced meanwhile. Everywhere else a failed call is fatal. */
static jmp_buf *g_soft_jmp = NULL;
static char g_soft_call[160];

FA_NORETURN static void h5_fail(const char *call, const char *file, int line) {
    if (g_soft_jmp) {
        snprintf(g_soft_call, sizeof g_soft_call, "%s", call);
        longjmp(*g_soft_jmp, 1);
    }
    die(file, line, "HDF5 call failed: %s", call);
}

#define H5_CHECK(call)                                                                             \
    do {                                                                                           \
        if ((call) < 0) h5_fail(#call, __FILE__, __LINE__);                                        \
    } while (0)

static hid_t h5_id(hid_t id, const char *call, const char *file, int line) {
    if (id < 0) h5_fail(call, file, line);
    return id;
}
/* for calls that return an identifier (or an htri_t that must not be negative) */
#define H5_ID(call) h5_id((hid_t)(call), #call, __FILE__, __LINE__)

/* Largest block of per-client rows one rank moves in one H5Dwrite/H5Dread; larger
 * blocks go in several collective calls (MPI-IO counts are int).
 * FEDALIGN_STORE_SLAB_BYTES overrides it (tests use it to exercise the loop). */
#define FA_STORE_SLAB_BYTES ((size_t)1 << 30)

struct StoreFile {
    hid_t file;
    char path[FA_PATH_LEN];
};

static const char *const fa_timer_stats = "min,avg,max,span";

// ----------------------------------------------------------------------------
// helpers: broadcasts of rank 0's values (so attributes are identical everywhere)

/* malloc'ed copy of rank 0's string */
static char *bcast_string(const char *s) {
    uint64_t len = comm_rank() == 0 ? (uint64_t)strlen(s) : 0;
    comm_bcast_bytes(&len, sizeof len, 0);
    char *out = xmalloc((size_t)len + 1);
    if (comm_rank() == 0) memcpy(out, s, (size_t)len);
    comm_bcast_bytes(out, (size_t)len, 0);
    out[len] = '\0';
    return out;
}

static void fmt_hex(uint64_t v, char out[17]) { snprintf(out, 17, "%016" PRIx64, v); }

static bool parse_hex(const char *s, uint64_t *v) {
    if (strlen(s) != 16) return false;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 16);
    if (errno || *end) return false;
    *v = (uint64_t)x;
    return true;
}

// ----------------------------------------------------------------------------
// helpers: attributes

/* fixed-length, NUL-terminated ASCII string type of `width` bytes (width >= 1) */
static hid_t str_type(size_t width) {
    hid_t t = H5_ID(H5Tcopy(H5T_C_S1));
    H5_CHECK(H5Tset_size(t, width ? width : 1));
    H5_CHECK(H5Tset_strpad(t, H5T_STR_NULLTERM));
    H5_CHECK(H5Tset_cset(t, H5T_CSET_ASCII));
    return t;
}

/* Create (replacing an existing one) and write an attribute. ndims 0 = scalar. */
static void attr_put(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int ndims,
                     hsize_t dim, const void *data) {
    if (H5_ID(H5Aexists(loc, name)) > 0) H5_CHECK(H5Adelete(loc, name));
    hid_t space = H5_ID(ndims == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL));
    hid_t a = H5_ID(H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT));
    H5_CHECK(H5Awrite(a, mtype, data));
    H5_CHECK(H5Aclose(a));
    H5_CHECK(H5Sclose(space));
}

/* rank 0's string */
static void attr_str(hid_t loc, const char *name, const char *value) {
    char *s = bcast_string(value);
    hid_t t = str_type(strlen(s) + 1);
    attr_put(loc, name, t, t, 0, 0, s);
    H5_CHECK(H5Tclose(t));
    free(s);
}

/* rank 0's strings names[0..n) (each at most FA_NAME_LEN bytes with its NUL) as a 1-D
 * array of fixed-length strings */
static void attr_strs(hid_t loc, const char *name, const char (*names)[FA_NAME_LEN], size_t n) {
    uint64_t hdr[2] = {n, 1};
    if (comm_rank() == 0)
        for (size_t i = 0; i < n; i++) {
            size_t l = strnlen(names[i], FA_NAME_LEN - 1) + 1;
            if (l > hdr[1]) hdr[1] = l;
        }
    comm_bcast_bytes(hdr, sizeof hdr, 0);
    const size_t cnt = (size_t)hdr[0], w = (size_t)hdr[1];
    char *buf = xcalloc(cnt ? cnt * w : 1, 1);
    if (comm_rank() == 0)
        for (size_t i = 0; i < cnt; i++) memcpy(buf + i * w, names[i], strnlen(names[i], w - 1));
    comm_bcast_bytes(buf, cnt * w, 0);
    hid_t t = str_type(w);
    attr_put(loc, name, t, t, 1, cnt, buf);
    H5_CHECK(H5Tclose(t));
    free(buf);
}

static void attr_i64(hid_t loc, const char *name, int64_t v) {
    comm_bcast_bytes(&v, sizeof v, 0);
    attr_put(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 0, 0, &v);
}

static void attr_i32(hid_t loc, const char *name, int32_t v) {
    comm_bcast_bytes(&v, sizeof v, 0);
    attr_put(loc, name, H5T_STD_I32LE, H5T_NATIVE_INT32, 0, 0, &v);
}

static void attr_bool(hid_t loc, const char *name, bool b) {
    int8_t v = b ? 1 : 0;
    comm_bcast_bytes(&v, sizeof v, 0);
    attr_put(loc, name, H5T_STD_I8LE, H5T_NATIVE_INT8, 0, 0, &v);
}

static void attr_f64(hid_t loc, const char *name, double v) {
    comm_bcast_bytes(&v, sizeof v, 0);
    attr_put(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, 0, &v);
}

static void attr_f64s(hid_t loc, const char *name, const double *v, size_t n) {
    double *b = xmalloc((n ? n : 1) * sizeof(double));
    memcpy(b, v, n * sizeof(double));
    comm_bcast_bytes(b, n * sizeof(double), 0);
    attr_put(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, n, b);
    free(b);
}

static void attr_hex(hid_t loc, const char *name, uint64_t v) {
    char hex[17];
    fmt_hex(v, hex);
    attr_str(loc, name, hex);
}

/* Readers: collective (every rank reads the same value). -1 when absent. */
static int attr_get(hid_t loc, const char *name, hid_t mtype, void *out) {
    if (H5_ID(H5Aexists(loc, name)) <= 0) return -1;
    hid_t a = H5_ID(H5Aopen(loc, name, H5P_DEFAULT));
    H5_CHECK(H5Aread(a, mtype, out));
    H5_CHECK(H5Aclose(a));
    return 0;
}

/* A scalar string attribute, fixed-length or variable-length, into out[cap]. */
static int attr_get_str(hid_t loc, const char *name, char *out, size_t cap) {
    if (H5_ID(H5Aexists(loc, name)) <= 0) return -1;
    hid_t a = H5_ID(H5Aopen(loc, name, H5P_DEFAULT));
    hid_t ft = H5_ID(H5Aget_type(a));
    int rc = 0;
    if (H5Tget_class(ft) != H5T_STRING) {
        rc = -1;
    } else if (H5_ID(H5Tis_variable_str(ft)) > 0) {
        hid_t mt = str_type(1);
        H5_CHECK(H5Tset_size(mt, H5T_VARIABLE));
        char *s = NULL;
        H5_CHECK(H5Aread(a, mt, &s));
        snprintf(out, cap, "%s", s ? s : "");
        H5_CHECK(H5free_memory(s));
        H5_CHECK(H5Tclose(mt));
    } else {
        size_t w = H5Tget_size(ft);
        char *buf = xcalloc(w + 1, 1);
        hid_t mt = str_type(w);
        H5_CHECK(H5Aread(a, mt, buf));
        snprintf(out, cap, "%s", buf);
        H5_CHECK(H5Tclose(mt));
        free(buf);
    }
    H5_CHECK(H5Tclose(ft));
    H5_CHECK(H5Aclose(a));
    return rc;
}

// ----------------------------------------------------------------------------
// helpers: datasets

static hid_t dxpl_collective(void) {
    hid_t p = H5_ID(H5Pcreate(H5P_DATASET_XFER));
    H5_CHECK(H5Pset_dxpl_mpio(p, H5FD_MPIO_COLLECTIVE));
    return p;
}

/* Create a contiguous dataset [dims] with a "dims" attribute naming the dimensions and,
 * when units != NULL, a "units" attribute. No fill values: every element is written. */
static hid_t dset_create(hid_t loc, const char *name, hid_t ftype, int ndims, const hsize_t *dims,
                         const char *dim_names, const char *units) {
    hid_t space = H5_ID(H5Screate_simple(ndims, dims, NULL));
    hid_t dcpl = H5_ID(H5Pcreate(H5P_DATASET_CREATE));
    H5_CHECK(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER));
    hid_t d = H5_ID(H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
    H5_CHECK(H5Pclose(dcpl));
    H5_CHECK(H5Sclose(space));
    attr_str(d, "dims", dim_names);
    if (units) attr_str(d, "units", units);
    return d;
}

/* Collective transfer of a block: this rank's selection is the hyperslab start/count of
 * the file space (none when it has no elements) and a contiguous memory buffer. */
static void dset_xfer_block(hid_t d, hid_t mtype, const hsize_t *start, const hsize_t *count,
                            void *buf, bool write) {
    hid_t fspace = H5_ID(H5Dget_space(d));
    int nd = H5Sget_simple_extent_ndims(fspace);
    CHECK(nd >= 1 && nd <= 2, "unexpected dataset rank %d", nd);
    hsize_t npts = 1;
    for (int i = 0; i < nd; i++) npts *= count[i];
    hid_t mspace;
    static double dummy[1]; /* HDF5 wants a buffer even for an empty selection */
    if (npts == 0) {
        const hsize_t one = 1;
        H5_CHECK(H5Sselect_none(fspace));
        mspace = H5_ID(H5Screate_simple(1, &one, NULL));
        H5_CHECK(H5Sselect_none(mspace));
        buf = dummy;
    } else {
        H5_CHECK(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL));
        mspace = H5_ID(H5Screate_simple(nd, count, NULL));
    }
    hid_t dxpl = dxpl_collective();
    if (write) H5_CHECK(H5Dwrite(d, mtype, mspace, fspace, dxpl, buf));
    else H5_CHECK(H5Dread(d, mtype, mspace, fspace, dxpl, buf));
    H5_CHECK(H5Pclose(dxpl));
    H5_CHECK(H5Sclose(mspace));
    H5_CHECK(H5Sclose(fspace));
}

/* Global data: rank 0 writes the whole dataset, the others select none. An empty
 * dataset (e.g. R = 0) is skipped by every rank alike. */
static void dset_write_global(hid_t d, hid_t mtype, const void *buf) {
    hsize_t dims[2] = {0, 0}, start[2] = {0, 0};
    hid_t s = H5_ID(H5Dget_space(d));
    int nd = H5Sget_simple_extent_dims(s, dims, NULL);
    H5_CHECK(H5Sclose(s));
    if (nd < 1 || nd > 2) h5_fail("dataset of rank 1 or 2 expected", __FILE__, __LINE__);
    if (dims[0] * (nd == 2 ? dims[1] : 1) == 0) return;
    if (comm_rank() != 0) dims[0] = 0;
    dset_xfer_block(d, mtype, start, dims, (void *)buf, true);
}

/* Global data read by every rank (all select everything). */
static void dset_read_global(hid_t d, hid_t mtype, void *buf) {
    hsize_t dims[2] = {0, 0}, start[2] = {0, 0};
    hid_t s = H5_ID(H5Dget_space(d));
    int nd = H5Sget_simple_extent_dims(s, dims, NULL);
    H5_CHECK(H5Sclose(s));
    if (nd < 1 || nd > 2) h5_fail("dataset of rank 1 or 2 expected", __FILE__, __LINE__);
    if (dims[0] * (nd == 2 ? dims[1] : 1) == 0) return;
    dset_xfer_block(d, mtype, start, dims, buf, false);
}

static size_t slab_bytes(void) {
    const char *e = getenv("FEDALIGN_STORE_SLAB_BYTES");
    if (e && *e) {
        char *end;
        unsigned long long v = strtoull(e, &end, 10);
        if (!*end && v > 0) return (size_t)v;
    }
    return FA_STORE_SLAB_BYTES;
}

/* Per-client rows [first, first + n) of a [C] (width 0) or [C, width] dataset, in slabs
 * of at most slab_bytes() per call. Ranks agree on the number of collective calls; in
 * the calls past its own rows a rank selects none. */
static void dset_xfer_rows(hid_t d, hid_t mtype, size_t first, size_t n, size_t width, void *buf,
                           bool write) {
    const size_t w = width ? width : 1, esz = H5Tget_size(mtype);
    size_t per = slab_bytes() / (w * esz);
    if (per == 0) per = 1;
    double iters = (double)((n + per - 1) / per);
    comm_allreduce_max_double(&iters, 1);
    for (size_t it = 0; it < (size_t)iters; it++) {
        size_t r0 = it * per < n ? it * per : n;
        size_t r1 = r0 + per < n ? r0 + per : n;
        hsize_t start[2] = {first + r0, 0}, count[2] = {r1 - r0, w};
        dset_xfer_block(d, mtype, start, count, (char *)buf + r0 * w * esz, write);
    }
}

/* Per-round per-client [R, C] block: columns [first, first + n) of every round; the
 * memory layout (round, local client) row-major is exactly the hyperslab's. */
static void dset_xfer_rc(hid_t d, const double *buf, size_t R, size_t first, size_t n,
                         bool write) {
    if (R == 0) return;
    hsize_t start[2] = {0, first}, count[2] = {R, n};
    dset_xfer_block(d, H5T_NATIVE_DOUBLE, start, count, (void *)buf, write);
}

/* Dimensions of dataset `name` in loc; returns its rank, or -1 when absent. */
static int dset_dims(hid_t loc, const char *name, hsize_t *dims, int maxdims) {
    if (H5_ID(H5Lexists(loc, name, H5P_DEFAULT)) <= 0) return -1;
    hid_t d = H5_ID(H5Dopen2(loc, name, H5P_DEFAULT));
    hid_t s = H5_ID(H5Dget_space(d));
    int nd = H5Sget_simple_extent_ndims(s);
    if (nd > maxdims || nd < 0) nd = -1;
    else H5_CHECK(H5Sget_simple_extent_dims(s, dims, NULL));
    H5_CHECK(H5Sclose(s));
    H5_CHECK(H5Dclose(d));
    return nd;
}

/* Create + write a global dataset in one go. */
static void put_global(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int ndims,
                       const hsize_t *dims, const char *dim_names, const char *units,
                       const void *buf) {
    hid_t d = dset_create(loc, name, ftype, ndims, dims, dim_names, units);
    dset_write_global(d, mtype, buf);
    H5_CHECK(H5Dclose(d));
}

/* Create + write a per-client [C] or [C, width] dataset (rank-local rows). */
static void put_rows(hid_t loc, const char *name, hid_t ftype, hid_t mtype, size_t C, size_t width,
                     const char *dim_names, size_t first, size_t n, const void *buf) {
    hsize_t dims[2] = {C, width};
    hid_t d = dset_create(loc, name, ftype, width ? 2 : 1, dims, dim_names, NULL);
    dset_xfer_rows(d, mtype, first, n, width, (void *)buf, true);
    H5_CHECK(H5Dclose(d));
}

/* Open an existing group, or create it. */
static hid_t group_open_or_create(hid_t loc, const char *name) {
    if (H5_ID(H5Lexists(loc, name, H5P_DEFAULT)) > 0)
        return H5_ID(H5Gopen2(loc, name, H5P_DEFAULT));
    return H5_ID(H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
}

/* Create a group, first unlinking one of that name (a rewritten checkpoint or method;
 * HDF5 does not reclaim the old space, which is fine for these small groups). */
static hid_t group_replace(hid_t loc, const char *name) {
    if (H5_ID(H5Lexists(loc, name, H5P_DEFAULT)) > 0) H5_CHECK(H5Ldelete(loc, name, H5P_DEFAULT));
    return H5_ID(H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
}

// ----------------------------------------------------------------------------
// preflight, names, open/close/finish

typedef struct {
    int32_t ok; /* 0 = usable, -1 = not */
    char msg[3 * FA_PATH_LEN + 256]; /* room for two paths and strerror */
} Verdict;

/* rank 0 only: the checks of store_preflight */
static void preflight_local(const char *path, bool overwrite, Verdict *v) {
    struct stat st;
    v->ok = -1;
    if (!path || !*path) {
        snprintf(v->msg, sizeof v->msg, "empty output file name");
        return;
    }
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            snprintf(v->msg, sizeof v->msg, "output path '%s' is a directory; give a file name",
                     path);
            return;
        }
        if (!overwrite) {
            snprintf(v->msg, sizeof v->msg,
                     "output file '%s' exists; use --overwrite or another --output", path);
            return;
        }
    }
    char tmp[FA_PATH_LEN + 8];
    store_tmp_path(path, tmp, sizeof tmp);
    if (stat(tmp, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(v->msg, sizeof v->msg, "temporary output path '%s' is a directory", tmp);
        return;
    }
    char dir[FA_PATH_LEN];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = '\0'; /* "/file" */
    else *slash = '\0';
    if (stat(dir, &st) != 0) {
        snprintf(v->msg, sizeof v->msg, "directory '%s' of output file '%s' does not exist", dir,
                 path);
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(v->msg, sizeof v->msg, "'%s' (directory of output file '%s') is not a directory",
                 dir, path);
        return;
    }
    /* access(W_OK) is not enough (root, read-only mounts, ACLs): create a file there */
    char probe[FA_PATH_LEN + 64];
    snprintf(probe, sizeof probe, "%s/.fedalign_probe_%ld", dir, (long)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        snprintf(v->msg, sizeof v->msg, "cannot write in directory '%s' of output file '%s': %s",
                 dir, path, strerror(errno));
        return;
    }
    close(fd);
    unlink(probe);
    v->ok = 0;
    v->msg[0] = '\0';
}

/* collective over MPI_COMM_WORLD */
int store_preflight(const char *final_path, bool overwrite, char *err, size_t errlen) {
    static Verdict v; /* 3 KB; static keeps the stack small */
    memset(&v, 0, sizeof v);
    if (comm_rank() == 0) preflight_local(final_path, overwrite, &v);
    comm_bcast_bytes(&v, sizeof v, 0);
    if (v.ok != 0 && err && errlen) snprintf(err, errlen, "%s", v.msg);
    return v.ok;
}

void store_tmp_path(const char *final_path, char *out, size_t cap) {
    int k = snprintf(out, cap, "%s.tmp", final_path);
    CHECK(k >= 0 && (size_t)k < cap, "path too long: '%s.tmp'", final_path);
}

static hid_t fapl_mpio(void) {
    hid_t fapl = H5_ID(H5Pcreate(H5P_FILE_ACCESS));
    H5_CHECK(H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL));
    /* 1.8 file format: dense attribute storage (hundreds of cfg.* attributes) and files
     * that any HDF5 >= 1.8 (h5py included) reads */
    H5_CHECK(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18));
    /* every metadata read/write is made by every rank (see the header): let rank 0 do
     * the file-system work and broadcast, instead of N ranks hitting the metadata */
    H5_CHECK(H5Pset_all_coll_metadata_ops(fapl, 1));
    H5_CHECK(H5Pset_coll_metadata_write(fapl, 1));
    return fapl;
}

/* collective over MPI_COMM_WORLD */
StoreFile *store_create(const char *path) {
    StoreFile *f = xcalloc(1, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    hid_t fapl = fapl_mpio();
    f->file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5_CHECK(H5Pclose(fapl));
    if (comm_any(f->file < 0))
        die(__FILE__, __LINE__, "cannot create results file '%s' (HDF5 error above)", path);
    return f;
}

typedef int (*SoftReader)(StoreFile *f, void *ctx, char *err, size_t errlen);
static int soft_read(StoreFile *f, SoftReader reader, void *ctx, char *err, size_t errlen);

/* open f->path read-only and check its schema version (under soft_read) */
static int open_impl(StoreFile *f, void *ctx, char *err, size_t errlen) {
    (void)ctx;
    hid_t fapl = fapl_mpio();
    /* closing the file closes whatever a failed read of a damaged file left open */
    H5_CHECK(H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG));
    f->file = H5Fopen(f->path, H5F_ACC_RDONLY, fapl);
    H5_CHECK(H5Pclose(fapl));
    if (f->file < 0) {
        snprintf(err, errlen, "cannot open HDF5 file '%s' (damaged or truncated?)", f->path);
        return -1;
    }
    int32_t ver = -1;
    if (attr_get(f->file, "schema_version", H5T_NATIVE_INT32, &ver) != 0 || ver != FA_SCHEMA_VERSION) {
        if (ver < 0)
            snprintf(err, errlen, "'%s' is not a fedalign results file (no schema_version)", f->path);
        else
            snprintf(err, errlen, "'%s' has schema_version %d; this fedalign reads %d", f->path,
                     (int)ver, FA_SCHEMA_VERSION);
        return -1;
    }
    return 0;
}

/* collective over MPI_COMM_WORLD */
StoreFile *store_open_read(const char *path, char *err, size_t errlen) {
    static Verdict v;
    memset(&v, 0, sizeof v);
    if (comm_rank() == 0) {
        struct stat st;
        FILE *fp;
        if (stat(path, &st) != 0) {
            v.ok = -1;
            snprintf(v.msg, sizeof v.msg, "cannot open '%s': %s", path, strerror(errno));
        } else if (!S_ISREG(st.st_mode)) {
            v.ok = -1;
            snprintf(v.msg, sizeof v.msg, "'%s' is not a regular file", path);
        } else if (!(fp = fopen(path, "rb"))) {
            v.ok = -1;
            snprintf(v.msg, sizeof v.msg, "cannot read '%s': %s", path, strerror(errno));
        } else {
            fclose(fp);
            /* H5Fis_hdf5 prints an error stack for non-HDF5 input: silence it here */
            H5E_auto2_t fn;
            void *data;
            H5_CHECK(H5Eget_auto2(H5E_DEFAULT, &fn, &data));
            H5_CHECK(H5Eset_auto2(H5E_DEFAULT, NULL, NULL));
            htri_t is = H5Fis_hdf5(path);
            H5_CHECK(H5Eset_auto2(H5E_DEFAULT, fn, data));
            if (is == 0) {
                v.ok = -1;
                snprintf(v.msg, sizeof v.msg, "'%s' is not an HDF5 file", path);
            } else if (is < 0) {
                v.ok = -1;
                snprintf(v.msg, sizeof v.msg,
                         "cannot check '%s' as HDF5 (on file systems without file locking set "
                         "HDF5_USE_FILE_LOCKING=FALSE)", path);
            }
        }
    }
    comm_bcast_bytes(&v, sizeof v, 0);
    if (v.ok != 0) {
        if (err && errlen) snprintf(err, errlen, "%s", v.msg);
        return NULL;
    }
    StoreFile *f = xcalloc(1, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    f->file = -1;
    if (soft_read(f, open_impl, NULL, err, errlen) != 0) {
        if (f->file >= 0) {
            H5E_auto2_t fn;
            void *data;
            H5_CHECK(H5Eget_auto2(H5E_DEFAULT, &fn, &data));
            H5_CHECK(H5Eset_auto2(H5E_DEFAULT, NULL, NULL));
            (void)H5Fclose(f->file);
            H5_CHECK(H5Eset_auto2(H5E_DEFAULT, fn, data));
        }
        free(f);
        return NULL;
    }
    return f;
}

/* collective over MPI_COMM_WORLD */
void store_close(StoreFile *f) {
    if (!f) return;
    H5_CHECK(H5Fclose(f->file));
    free(f);
}

/* collective over MPI_COMM_WORLD */
void store_finish(const char *tmp_path, const char *final_path, bool success) {
    if (comm_rank() == 0) {
        /* a failed rename is a runtime failure: die() takes every rank down, and the
         * complete temporary file stays for the user to rescue */
        if (success && rename(tmp_path, final_path) != 0)
            die(__FILE__, __LINE__, "cannot rename '%s' to '%s': %s", tmp_path, final_path,
                strerror(errno));
        if (!success && unlink(tmp_path) != 0 && errno != ENOENT)
            fprintf(stderr, "fedalign: warning: cannot remove '%s': %s\n", tmp_path,
                    strerror(errno));
    }
    comm_barrier(); /* nobody goes on (or reads the final file) before rank 0 is done */
}

// ----------------------------------------------------------------------------
// run attributes, config hash, clients

typedef struct {
    uint64_t h;
} HashCtx;

/* FNV-1a over the bytes of "key=value\n" */
static void hash_visit(void *ctx, const char *key, const char *value) {
    HashCtx *hc = ctx;
    const char *parts[4] = {key, "=", value, "\n"};
    for (int k = 0; k < 4; k++)
        for (const unsigned char *p = (const unsigned char *)parts[k]; *p; p++) {
            hc->h ^= *p;
            hc->h *= 0x100000001b3ull;
        }
}

uint64_t store_config_hash(const Config *c) {
    HashCtx hc = {0xcbf29ce484222325ull};
    config_visit_results(c, hash_visit, &hc);
    return rng_mix64(hc.h);
}

static void cfg_attr_visit(void *ctx, const char *key, const char *value) {
    char name[128];
    snprintf(name, sizeof name, "cfg.%s", key);
    attr_str(*(hid_t *)ctx, name, value);
}

/* collective over MPI_COMM_WORLD */
void store_write_run(StoreFile *f, const Config *c, const DataInfo *info, int ranks, int threads,
                     bool over_clients, size_t n_params) {
    hid_t root = f->file;
    attr_i32(root, "schema_version", FA_SCHEMA_VERSION);
    attr_str(root, "fedalign_version", FEDALIGN_VERSION);
    attr_str(root, "git_describe", FEDALIGN_GIT);
    char utc[32] = "", host[256] = "";
    if (comm_rank() == 0) {
        time_t now = time(NULL);
        struct tm tmv;
        if (gmtime_r(&now, &tmv)) strftime(utc, sizeof utc, "%Y-%m-%dT%H:%M:%SZ", &tmv);
        if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "unknown");
    }
    attr_str(root, "created_utc", utc); /* rank 0's clock and host name */
    attr_str(root, "host", host);
    attr_i32(root, "n_ranks", (int32_t)ranks);
    attr_i32(root, "n_threads", (int32_t)threads);
    attr_str(root, "threads_over", over_clients ? "clients" : "batch");
    attr_i64(root, "n_params", (int64_t)n_params);
    attr_i64(root, "n_clients", (int64_t)c->clients);
    attr_i64(root, "n_features", (int64_t)info->d);
    attr_i64(root, "n_classes", (int64_t)info->k);
    attr_str(root, "dataset", info->name);
    attr_strs(root, "feature_names", (const char(*)[FA_NAME_LEN])info->feature_names, info->d);
    attr_strs(root, "class_names", (const char(*)[FA_NAME_LEN])info->class_names, info->k);
    attr_hex(root, "config_hash", store_config_hash(c));
    attr_str(root, "cmdline", c->cmdline);
    attr_str(root, "result_keys", config_result_keys()); /* what report.py groups by */
    config_visit(c, cfg_attr_visit, &root);
}

/* collective over MPI_COMM_WORLD */
static int read_cmdline_impl(StoreFile *f, char *buf, size_t cap, char *err, size_t errlen) {
    if (attr_get_str(f->file, "cmdline", buf, cap) != 0) {
        snprintf(err, errlen, "'%s' has no cmdline attribute (not a fedalign results file?)",
                 f->path);
        return -1;
    }
    return 0;
}

/* collective over MPI_COMM_WORLD */
static int read_personal_impl(StoreFile *f, const char *method, size_t client, float *params,
                        size_t n_params, char *err, size_t errlen) {
    if (H5_ID(H5Lexists(f->file, "methods", H5P_DEFAULT)) <= 0) {
        snprintf(err, errlen, "'%s' holds no methods", f->path);
        return -1;
    }
    hid_t ms = H5_ID(H5Gopen2(f->file, "methods", H5P_DEFAULT));
    H5G_info_t gi;
    H5_CHECK(H5Gget_info(ms, &gi));
    char name[256] = "", found[256] = "";
    for (hsize_t i = 0; i < gi.nlinks && !found[0]; i++) {
        ssize_t l = H5Lget_name_by_idx(ms, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                                       H5P_DEFAULT);
        H5_CHECK(l);
        const char *us = strchr(name, '_'); /* "NN_<method>" */
        if (!method || !method[0] || (us && strcmp(us + 1, method) == 0))
            snprintf(found, sizeof found, "%s", name);
    }
    int rc = 0;
    hid_t g = -1;
    if (!found[0]) {
        snprintf(err, errlen, "'%s' has no method '%s' (see h5ls %s/methods)", f->path,
                 method ? method : "", f->path);
        rc = -1;
    } else {
        g = H5_ID(H5Gopen2(ms, found, H5P_DEFAULT));
        hsize_t dims[2] = {0, 0};
        if (H5_ID(H5Lexists(g, "personal_models", H5P_DEFAULT)) <= 0) {
            snprintf(err, errlen,
                     "method %s in '%s' has no personal_models; rerun with --save-models", found,
                     f->path);
            rc = -1;
        } else if (dset_dims(g, "personal_models", dims, 2) != 2 || dims[1] != n_params ||
                   client >= dims[0]) {
            snprintf(err, errlen,
                     "personal_models of %s is [%llu, %llu]: no client %zu with %zu parameters",
                     found, (unsigned long long)dims[0], (unsigned long long)dims[1], client,
                     n_params);
            rc = -1;
        } else {
            hid_t d = H5_ID(H5Dopen2(g, "personal_models", H5P_DEFAULT));
            dset_xfer_rows(d, H5T_NATIVE_FLOAT, client, 1, n_params, params, false);
            H5_CHECK(H5Dclose(d));
        }
        H5_CHECK(H5Gclose(g));
    }
    H5_CHECK(H5Gclose(ms));
    return rc;
}

/* collective over MPI_COMM_WORLD */
void store_write_clients(StoreFile *f, const FedData *fd, int rank) {
    const size_t C = fd->n_clients, K = fd->info.k, n = fd->n_local;
    hid_t g = group_open_or_create(f->file, "clients");
    int64_t *hist = xmalloc((n ? n : 1) * (K ? K : 1) * sizeof(int64_t));
    int64_t *cnt = xmalloc((n ? n : 1) * 3 * sizeof(int64_t));
    int32_t *rk = xmalloc((n ? n : 1) * sizeof(int32_t));
    for (size_t i = 0; i < n; i++) {
        const ClientData *cd = &fd->clients[i];
        for (size_t k = 0; k < K; k++) hist[i * K + k] = (int64_t)cd->hist[k];
        cnt[i] = (int64_t)cd->train.n;
        cnt[n + i] = (int64_t)cd->val.n;
        cnt[2 * n + i] = (int64_t)cd->test.n;
        rk[i] = (int32_t)rank;
    }
    put_rows(g, "label_hist", H5T_STD_I64LE, H5T_NATIVE_INT64, C, K, "client,class", fd->first, n,
             hist);
    put_rows(g, "n_train", H5T_STD_I64LE, H5T_NATIVE_INT64, C, 0, "client", fd->first, n, cnt);
    put_rows(g, "n_val", H5T_STD_I64LE, H5T_NATIVE_INT64, C, 0, "client", fd->first, n, cnt + n);
    put_rows(g, "n_test", H5T_STD_I64LE, H5T_NATIVE_INT64, C, 0, "client", fd->first, n,
             cnt + 2 * n);
    put_rows(g, "rank", H5T_STD_I32LE, H5T_NATIVE_INT32, C, 0, "client", fd->first, n, rk);
    free(rk);
    free(cnt);
    free(hist);
    H5_CHECK(H5Gclose(g));
}

// ----------------------------------------------------------------------------
// methods

/* names of the per-client datasets and where they live in a MethodResult */
#define N_ACC 5
static const char *const acc_names[N_ACC] = {"acc_p0", "acc_p1", "acc_p2", "acc_p3", "acc_p3_int8"};
#define N_RC 6
static const char *const rc_names[N_RC] = {"rc_score", "rc_cos", "rc_weight", "rc_loss", "rc_status", "rc_time"};

static void method_group_name(size_t index, const char *name, char *out, size_t cap) {
    int k = snprintf(out, cap, "%02zu_%s", index, name);
    CHECK(k >= 0 && (size_t)k < cap, "method group name too long");
    for (char *p = out; *p; p++)
        if (*p == '/') *p = '_'; /* '/' would be a path separator; '+' and '@' are kept */
}

/* collective over MPI_COMM_WORLD */
void store_write_method(StoreFile *f, size_t index, const MethodResult *res, size_t n_clients,
                        size_t first, size_t n_local, size_t n_params) {
    const size_t R = res->rounds, C = n_clients, n = n_local, P = n_params;
    hid_t methods = group_open_or_create(f->file, "methods");
    char gname[96];
    method_group_name(index, res->spec.name, gname, sizeof gname);
    hid_t g = group_replace(methods, gname);

    /* attributes: rank 0's values (every rank holds the same summaries anyway) */
    attr_i64(g, "index", (int64_t)index);
    attr_str(g, "name", res->spec.name);
    attr_str(g, "method", (unsigned)res->spec.method < FA_METHOD_COUNT
                              ? fa_method_names[res->spec.method] : "unknown");
    attr_bool(g, "phase0", res->spec.phase0);
    attr_bool(g, "phase1", res->spec.phase1);
    attr_bool(g, "similarity", res->spec.similarity);
    attr_bool(g, "personalize", res->spec.personalize);
    attr_i64(g, "rounds", (int64_t)R);
    attr_i64(g, "rounds_done", (int64_t)res->rounds_done);
    attr_f64(g, "acc_global", res->acc_global);
    attr_f64(g, "acc_personal_mean", res->acc_personal_mean);
    attr_f64(g, "acc_personal_std", res->acc_personal_std);
    attr_f64(g, "acc_personal_worst", res->acc_personal_worst);
    attr_f64s(g, "phase_acc_mean", res->phase_acc_mean, 4);
    attr_f64(g, "acc_public", res->acc_public);
    attr_f64(g, "acc_int8_mean", res->acc_int8_mean);
    attr_f64(g, "int8_drop_mean", res->int8_drop_mean);
    attr_f64(g, "int8_flash_bytes", res->int8_flash_bytes);
    attr_hex(g, "checksum", res->checksum);
    attr_hex(g, "checksum_personal", res->checksum_personal);
    attr_f64(g, "time_total", res->time_total);
    attr_i64(g, "rounds_to_target", (int64_t)res->rounds_to_target);
    attr_f64(g, "secs_to_target", res->secs_to_target);
    attr_f64(g, "budget_public_epochs", res->budget_public_epochs);
    attr_f64(g, "budget_client_epochs", res->budget_client_epochs);

    /* per-round global metrics (rank 0's) */
    hsize_t d1[2] = {R + 1, 0};
    put_global(g, "round_acc", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, d1, "round", NULL,
               res->round_acc);
    put_global(g, "round_loss", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, d1, "round", NULL,
               res->round_loss);
    put_global(g, "round_time", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, d1, "round", "s",
               res->round_time);
    d1[0] = R;
    put_global(g, "round_wsum_cos", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, d1, "round", NULL,
               res->round_wsum_cos);
    int64_t *sel = xmalloc((R ? R : 1) * sizeof(int64_t));
    for (size_t r = 0; r < R; r++) sel[r] = (int64_t)res->round_selected[r];
    put_global(g, "round_selected", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, d1, "round", NULL, sel);
    free(sel);

    /* per-client accuracies after each phase, per-round per-client metrics */
    const double *acc[N_ACC] = {res->acc_p0, res->acc_p1, res->acc_p2, res->acc_p3, res->acc_int8};
    for (int k = 0; k < N_ACC; k++)
        put_rows(g, acc_names[k], H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, C, 0, "client", first, n,
                 acc[k]);
    const double *rc[N_RC] = {res->rc_score, res->rc_cos, res->rc_weight, res->rc_loss,
                              res->rc_status, res->rc_time};
    hsize_t drc[2] = {R, C};
    for (int k = 0; k < N_RC; k++) {
        hid_t d = dset_create(g, rc_names[k], H5T_IEEE_F64LE, 2, drc, "round,client", NULL);
        dset_xfer_rc(d, rc[k], R, first, n, true);
        H5_CHECK(H5Dclose(d));
    }

    /* timers [T, 4] with the row names */
    double tt[FA_T_COUNT * 4];
    for (size_t i = 0; i < FA_T_COUNT; i++) {
        tt[i * 4 + 0] = res->tmin[i];
        tt[i * 4 + 1] = res->tavg[i];
        tt[i * 4 + 2] = res->tmax[i];
        tt[i * 4 + 3] = res->tspan[i];
    }
    hsize_t dt[2] = {FA_T_COUNT, 4};
    hid_t d = dset_create(g, "timers", H5T_IEEE_F64LE, 2, dt, "timer,stat", "s");
    char names[FA_T_COUNT][FA_NAME_LEN];
    for (size_t i = 0; i < FA_T_COUNT; i++)
        snprintf(names[i], FA_NAME_LEN, "%s", fa_timer_names[i]);
    attr_strs(d, "names", (const char(*)[FA_NAME_LEN])names, FA_T_COUNT);
    attr_str(d, "columns", fa_timer_stats);
    dset_write_global(d, H5T_NATIVE_DOUBLE, tt);
    H5_CHECK(H5Dclose(d));

    /* models */
    hsize_t dp[1] = {P};
    put_global(g, "final_global", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, dp, "param", NULL,
               res->final_global);
    /* all ranks must agree whether the dataset exists: any rank holding models decides */
    if (comm_any(res->personal_models != NULL)) {
        static float none[1];
        put_rows(g, "personal_models", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, C, P, "client,param",
                 first, n, res->personal_models ? res->personal_models : none);
    }
    H5_CHECK(H5Gclose(g));
    H5_CHECK(H5Gclose(methods));
}

typedef struct {
    char prefix[32];
    char found[256];
} FindCtx;

static herr_t find_method(hid_t g, const char *name, const H5L_info_t *info, void *ctx) {
    (void)g;
    (void)info;
    FindCtx *fc = ctx;
    if (strncmp(name, fc->prefix, strlen(fc->prefix)) == 0) {
        snprintf(fc->found, sizeof fc->found, "%s", name);
        return 1; /* stop */
    }
    return 0;
}

static void fmt_shape(char *out, size_t cap, int nd, const hsize_t *d) {
    if (nd == 1) snprintf(out, cap, "[%llu]", (unsigned long long)d[0]);
    else snprintf(out, cap, "[%llu, %llu]", (unsigned long long)d[0], (unsigned long long)d[1]);
}

/* Check a dataset's shape; message and -1 on mismatch. */
static int expect_dims(hid_t g, const char *gname, const char *name, int nd, hsize_t a, hsize_t b,
                       char *err, size_t errlen) {
    hsize_t dims[2] = {0, 0}, want[2] = {a, b};
    int got = dset_dims(g, name, dims, 2);
    if (got < 0) {
        snprintf(err, errlen, "group '%s': dataset '%s' missing or not 1-D/2-D", gname, name);
        return -1;
    }
    if (got != nd || dims[0] != a || (nd == 2 && dims[1] != b)) {
        char gs[64], ws[64];
        fmt_shape(gs, sizeof gs, got, dims);
        fmt_shape(ws, sizeof ws, nd, want);
        snprintf(err, errlen, "group '%s': dataset '%s' has shape %s, expected %s", gname, name, gs,
                 ws);
        return -1;
    }
    return 0;
}

static void read_named(hid_t g, const char *name, hid_t mtype, void *buf) {
    hid_t d = H5_ID(H5Dopen2(g, name, H5P_DEFAULT));
    dset_read_global(d, mtype, buf);
    H5_CHECK(H5Dclose(d));
}


/* collective over MPI_COMM_WORLD. Every shape and the checksums are checked before
 * anything is allocated, so on -1 res is left zeroed (nothing to free). */
static int read_method_impl(StoreFile *f, size_t index, MethodResult *res, size_t n_clients,
                      size_t first, size_t n_local, size_t n_params, char *err, size_t errlen) {
    char ebuf[512];
    if (!err || !errlen) {
        err = ebuf;
        errlen = sizeof ebuf;
    }
    memset(res, 0, sizeof *res);
    if (H5_ID(H5Lexists(f->file, "methods", H5P_DEFAULT)) <= 0) {
        snprintf(err, errlen, "'%s' has no /methods group", f->path);
        return -1;
    }
    hid_t methods = H5_ID(H5Gopen2(f->file, "methods", H5P_DEFAULT));
    FindCtx fc;
    memset(&fc, 0, sizeof fc);
    snprintf(fc.prefix, sizeof fc.prefix, "%02zu_", index);
    hsize_t idx = 0;
    H5_CHECK(H5Literate(methods, H5_INDEX_NAME, H5_ITER_INC, &idx, find_method, &fc));
    if (!fc.found[0]) {
        snprintf(err, errlen, "'%s' has no method %zu (/methods/%s*)", f->path, index, fc.prefix);
        H5_CHECK(H5Gclose(methods));
        return -1;
    }
    hid_t g = H5_ID(H5Gopen2(methods, fc.found, H5P_DEFAULT));
    const size_t C = n_clients, P = n_params;
    int64_t R64 = -1, done = 0, rtt = -1;
    int rc = 0;
    if (attr_get(g, "rounds", H5T_NATIVE_INT64, &R64) != 0 || R64 < 0) {
        snprintf(err, errlen, "method group '%s': attribute 'rounds' missing", fc.found);
        rc = -1;
    }
    const size_t R = rc == 0 ? (size_t)R64 : 0;
    /* shapes first, so a mismatched file never reaches a read */
    if (rc == 0)
        rc = expect_dims(g, fc.found, "round_acc", 1, R + 1, 0, err, errlen) ||
                     expect_dims(g, fc.found, "round_loss", 1, R + 1, 0, err, errlen) ||
                     expect_dims(g, fc.found, "round_time", 1, R + 1, 0, err, errlen) ||
                     expect_dims(g, fc.found, "round_wsum_cos", 1, R, 0, err, errlen) ||
                     expect_dims(g, fc.found, "round_selected", 1, R, 0, err, errlen) ||
                     expect_dims(g, fc.found, "timers", 2, FA_T_COUNT, 4, err, errlen) ||
                     expect_dims(g, fc.found, "final_global", 1, P, 0, err, errlen)
                 ? -1 : 0;
    for (int k = 0; k < N_ACC && rc == 0; k++)
        rc = expect_dims(g, fc.found, acc_names[k], 1, C, 0, err, errlen) ? -1 : 0;
    for (int k = 0; k < N_RC && rc == 0; k++)
        rc = expect_dims(g, fc.found, rc_names[k], 2, R, C, err, errlen) ? -1 : 0;
    bool have_pm = rc == 0 && H5_ID(H5Lexists(g, "personal_models", H5P_DEFAULT)) > 0;
    if (have_pm) rc = expect_dims(g, fc.found, "personal_models", 2, C, P, err, errlen);
    char hex[32] = "";
    uint64_t ck[2] = {0, 0};
    if (rc == 0 && (attr_get_str(g, "checksum", hex, sizeof hex) != 0 || !parse_hex(hex, &ck[0]) ||
                    attr_get_str(g, "checksum_personal", hex, sizeof hex) != 0 ||
                    !parse_hex(hex, &ck[1]))) {
        snprintf(err, errlen, "method group '%s': checksum attribute missing or not 16 hex digits",
                 fc.found);
        rc = -1;
    }
    if (rc != 0) {
        H5_CHECK(H5Gclose(g));
        H5_CHECK(H5Gclose(methods));
        return -1;
    }

    fl_result_alloc(res, R, n_local, P);
    res->rounds = R;
    res->checksum = ck[0];
    res->checksum_personal = ck[1];
    attr_get_str(g, "name", res->spec.name, sizeof res->spec.name);
    char s[FA_NAME_LEN] = "";
    attr_get_str(g, "method", s, sizeof s);
    res->spec.method = FA_METHOD_COUNT;
    for (int m = 0; m < FA_METHOD_COUNT; m++)
        if (strcmp(s, fa_method_names[m]) == 0) res->spec.method = (FaMethod)m;
    int8_t b = 0;
    if (attr_get(g, "phase0", H5T_NATIVE_INT8, &b) == 0) res->spec.phase0 = b != 0;
    if (attr_get(g, "phase1", H5T_NATIVE_INT8, &b) == 0) res->spec.phase1 = b != 0;
    if (attr_get(g, "similarity", H5T_NATIVE_INT8, &b) == 0) res->spec.similarity = b != 0;
    if (attr_get(g, "personalize", H5T_NATIVE_INT8, &b) == 0) res->spec.personalize = b != 0;
    if (attr_get(g, "rounds_done", H5T_NATIVE_INT64, &done) == 0) res->rounds_done = (size_t)done;
    attr_get(g, "acc_global", H5T_NATIVE_DOUBLE, &res->acc_global);
    attr_get(g, "acc_personal_mean", H5T_NATIVE_DOUBLE, &res->acc_personal_mean);
    attr_get(g, "acc_personal_std", H5T_NATIVE_DOUBLE, &res->acc_personal_std);
    attr_get(g, "acc_personal_worst", H5T_NATIVE_DOUBLE, &res->acc_personal_worst);
    attr_get(g, "phase_acc_mean", H5T_NATIVE_DOUBLE, res->phase_acc_mean);
    attr_get(g, "acc_public", H5T_NATIVE_DOUBLE, &res->acc_public);
    attr_get(g, "acc_int8_mean", H5T_NATIVE_DOUBLE, &res->acc_int8_mean);
    attr_get(g, "int8_drop_mean", H5T_NATIVE_DOUBLE, &res->int8_drop_mean);
    attr_get(g, "int8_flash_bytes", H5T_NATIVE_DOUBLE, &res->int8_flash_bytes);
    attr_get(g, "time_total", H5T_NATIVE_DOUBLE, &res->time_total);
    if (attr_get(g, "rounds_to_target", H5T_NATIVE_INT64, &rtt) == 0)
        res->rounds_to_target = (long)rtt;
    attr_get(g, "secs_to_target", H5T_NATIVE_DOUBLE, &res->secs_to_target);
    attr_get(g, "budget_public_epochs", H5T_NATIVE_DOUBLE, &res->budget_public_epochs);
    attr_get(g, "budget_client_epochs", H5T_NATIVE_DOUBLE, &res->budget_client_epochs);

    read_named(g, "round_acc", H5T_NATIVE_DOUBLE, res->round_acc);
    read_named(g, "round_loss", H5T_NATIVE_DOUBLE, res->round_loss);
    read_named(g, "round_time", H5T_NATIVE_DOUBLE, res->round_time);
    read_named(g, "round_wsum_cos", H5T_NATIVE_DOUBLE, res->round_wsum_cos);
    int64_t *sel = xmalloc((R ? R : 1) * sizeof(int64_t));
    read_named(g, "round_selected", H5T_NATIVE_INT64, sel);
    for (size_t r = 0; r < R; r++) res->round_selected[r] = (size_t)sel[r];
    free(sel);

    double *acc[N_ACC] = {res->acc_p0, res->acc_p1, res->acc_p2, res->acc_p3, res->acc_int8};
    double *rcv[N_RC] = {res->rc_score, res->rc_cos, res->rc_weight, res->rc_loss,
                         res->rc_status, res->rc_time};
    for (int k = 0; k < N_ACC; k++) {
        hid_t d = H5_ID(H5Dopen2(g, acc_names[k], H5P_DEFAULT));
        dset_xfer_rows(d, H5T_NATIVE_DOUBLE, first, n_local, 0, acc[k], false);
        H5_CHECK(H5Dclose(d));
    }
    for (int k = 0; k < N_RC; k++) {
        hid_t d = H5_ID(H5Dopen2(g, rc_names[k], H5P_DEFAULT));
        dset_xfer_rc(d, rcv[k], R, first, n_local, false);
        H5_CHECK(H5Dclose(d));
    }
    double tt[FA_T_COUNT * 4];
    read_named(g, "timers", H5T_NATIVE_DOUBLE, tt);
    for (size_t i = 0; i < FA_T_COUNT; i++) {
        res->tmin[i] = tt[i * 4 + 0];
        res->tavg[i] = tt[i * 4 + 1];
        res->tmax[i] = tt[i * 4 + 2];
        res->tspan[i] = tt[i * 4 + 3];
    }
    read_named(g, "final_global", H5T_NATIVE_FLOAT, res->final_global);
    if (have_pm) {
        res->personal_models =
            xalloc_aligned((n_local ? n_local : 1) * (P ? P : 1) * sizeof(float));
        hid_t d = H5_ID(H5Dopen2(g, "personal_models", H5P_DEFAULT));
        dset_xfer_rows(d, H5T_NATIVE_FLOAT, first, n_local, P, res->personal_models, false);
        H5_CHECK(H5Dclose(d));
    }
    H5_CHECK(H5Gclose(g));
    H5_CHECK(H5Gclose(methods));
    return 0;
}

// ----------------------------------------------------------------------------
// checkpoint state

/* collective over MPI_COMM_WORLD */
void store_write_state(StoreFile *f, const CheckpointState *st, size_t n_params) {
    const size_t P = n_params;
    hid_t g = group_replace(f->file, "checkpoint");
    attr_hex(g, "config_hash", st->config_hash);
    attr_i64(g, "n_methods", (int64_t)st->n_methods);
    attr_i64(g, "method_index", (int64_t)st->method_index);
    attr_i32(g, "phase", (int32_t)st->phase);
    attr_i64(g, "round", (int64_t)st->round);
    attr_bool(g, "have_foundation", st->have_foundation);
    attr_f64(g, "acc_public", st->acc_public);
    float *zeros = NULL; /* a NULL buffer is stored as zeros */
    const char *names[3] = {"global", "prev", "foundation"};
    const float *bufs[3] = {st->global, st->prev, st->foundation};
    hsize_t dp[1] = {P};
    for (int k = 0; k < 3; k++) {
        const float *b = bufs[k];
        if (!b) b = zeros ? zeros : (zeros = xcalloc(P ? P : 1, sizeof(float)));
        put_global(g, names[k], H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, dp, "param", NULL, b);
        /* HDF5 has no checksum on raw data: keep one so a damaged model is caught */
        char an[32];
        snprintf(an, sizeof an, "%s_checksum", names[k]);
        attr_hex(g, an, fa_checksum(b, P));
    }
    free(zeros);
    H5_CHECK(H5Gclose(g));
}

/* collective over MPI_COMM_WORLD */
static int read_state_impl(StoreFile *f, CheckpointState *st, size_t n_params, char *err,
                     size_t errlen) {
    char ebuf[512];
    if (!err || !errlen) {
        err = ebuf;
        errlen = sizeof ebuf;
    }
    if (H5_ID(H5Lexists(f->file, "checkpoint", H5P_DEFAULT)) <= 0) {
        snprintf(err, errlen, "'%s' is not a checkpoint (no /checkpoint group)", f->path);
        return -1;
    }
    hid_t g = H5_ID(H5Gopen2(f->file, "checkpoint", H5P_DEFAULT));
    const char *names[3] = {"global", "prev", "foundation"};
    int rc = 0;
    for (int k = 0; k < 3 && rc == 0; k++)
        rc = expect_dims(g, "checkpoint", names[k], 1, n_params, 0, err, errlen);
    char hex[32] = "";
    int64_t nm = 0, mi = 0, rd = 0;
    int32_t ph = 0;
    int8_t hf = 0;
    if (rc == 0 && (attr_get_str(g, "config_hash", hex, sizeof hex) != 0 ||
                    !parse_hex(hex, &st->config_hash) ||
                    attr_get(g, "n_methods", H5T_NATIVE_INT64, &nm) != 0 ||
                    attr_get(g, "method_index", H5T_NATIVE_INT64, &mi) != 0 ||
                    attr_get(g, "phase", H5T_NATIVE_INT32, &ph) != 0 ||
                    attr_get(g, "round", H5T_NATIVE_INT64, &rd) != 0 ||
                    attr_get(g, "have_foundation", H5T_NATIVE_INT8, &hf) != 0 ||
                    attr_get(g, "acc_public", H5T_NATIVE_DOUBLE, &st->acc_public) != 0 || nm < 0 ||
                    mi < 0 || rd < 0)) {
        snprintf(err, errlen, "'%s': /checkpoint attributes missing or invalid", f->path);
        rc = -1;
    }
    if (rc == 0) {
        st->n_methods = (size_t)nm;
        st->method_index = (size_t)mi;
        st->phase = (int)ph;
        st->round = (size_t)rd;
        st->have_foundation = hf != 0;
        float *bufs[3] = {st->global, st->prev, st->foundation};
        float *scratch = NULL; /* a NULL destination still takes part in the collective read */
        for (int k = 0; k < 3; k++) {
            float *b = bufs[k];
            if (!b)
                b = scratch ? scratch
                            : (scratch = xmalloc((n_params ? n_params : 1) * sizeof(float)));
            read_named(g, names[k], H5T_NATIVE_FLOAT, b);
            char an[32], hx[32] = "";
            uint64_t want = 0;
            snprintf(an, sizeof an, "%s_checksum", names[k]);
            if (rc == 0 && (attr_get_str(g, an, hx, sizeof hx) != 0 || !parse_hex(hx, &want) ||
                            want != fa_checksum(b, n_params))) {
                snprintf(err, errlen,
                         "'%s': /checkpoint/%s does not match its checksum (the file is damaged)",
                         f->path, names[k]);
                rc = -1;
            }
        }
        free(scratch);
    }
    H5_CHECK(H5Gclose(g));
    return rc;
}

// ----------------------------------------------------------------------------
// readers of files that may be damaged: HDF5 failures become an error return

/* Close every object left open in f by a reader that jumped out (so H5Fclose works). */
static void soft_close_open(StoreFile *f) {
    unsigned types = H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR | H5F_OBJ_LOCAL;
    ssize_t n = H5Fget_obj_count(f->file, types);
    if (n <= 0) return;
    hid_t *ids = xcalloc((size_t)n, sizeof *ids);
    ssize_t got = H5Fget_obj_ids(f->file, types, (size_t)n, ids);
    for (ssize_t i = 0; i < got; i++) {
        if (H5Iget_type(ids[i]) == H5I_ATTR) (void)H5Aclose(ids[i]);
        else (void)H5Oclose(ids[i]);
    }
    free(ids);
}

typedef struct {
    jmp_buf *prev;
    H5E_auto2_t fn;
    void *data;
} Soft;

static void soft_enter(Soft *sf, jmp_buf *jb) {
    sf->prev = g_soft_jmp;
    H5_CHECK(H5Eget_auto2(H5E_DEFAULT, &sf->fn, &sf->data));
    H5_CHECK(H5Eset_auto2(H5E_DEFAULT, NULL, NULL));
    g_soft_jmp = jb;
}

/* after the reader returned rc (or jumped out: jumped); collective: the ranks agree */
static int soft_leave(Soft *sf, StoreFile *f, int rc, bool jumped, char *err, size_t errlen) {
    if (jumped) {
        soft_close_open(f);
        snprintf(err, errlen, "'%s' is damaged or incomplete (HDF5 call failed: %s)", f->path,
                 g_soft_call);
        rc = -1;
    }
    g_soft_jmp = sf->prev;
    H5_CHECK(H5Eset_auto2(H5E_DEFAULT, sf->fn, sf->data));
    if (comm_any(rc != 0)) {
        if (rc == 0) snprintf(err, errlen, "'%s' could not be read on every rank", f->path);
        return -1;
    }
    return 0;
}

/* Run reader(ctx, err, errlen) with HDF5 failures turned into a -1 return. */
static int soft_read(StoreFile *f, SoftReader reader, void *ctx, char *err, size_t errlen) {
    char ebuf[512];
    /* nothing but these volatile copies is used after setjmp */
    StoreFile *volatile vf = f;
    char *volatile e = (err && errlen) ? err : ebuf;
    volatile size_t el = (err && errlen) ? errlen : sizeof ebuf;
    jmp_buf jb;
    Soft sf;
    soft_enter(&sf, &jb);
    volatile int rc = -1;
    volatile bool jumped = true;
    if (setjmp(jb) == 0) {
        rc = reader(vf, ctx, e, el);
        jumped = false;
    }
    return soft_leave(&sf, vf, rc, jumped, e, el);
}

typedef struct {
    char *buf;
    size_t cap;
} CmdlineArgs;
static int cmdline_thunk(StoreFile *f, void *ctx, char *err, size_t errlen) {
    CmdlineArgs *a = ctx;
    return read_cmdline_impl(f, a->buf, a->cap, err, errlen);
}
/* collective over MPI_COMM_WORLD */
int store_read_cmdline(StoreFile *f, char *buf, size_t cap, char *err, size_t errlen) {
    CmdlineArgs a = {buf, cap};
    return soft_read(f, cmdline_thunk, &a, err, errlen);
}

typedef struct {
    const char *method;
    size_t client, n_params;
    float *params;
} PersonalArgs;
static int personal_thunk(StoreFile *f, void *ctx, char *err, size_t errlen) {
    PersonalArgs *a = ctx;
    return read_personal_impl(f, a->method, a->client, a->params, a->n_params, err, errlen);
}
/* collective over MPI_COMM_WORLD */
int store_read_personal(StoreFile *f, const char *method, size_t client, float *params,
                        size_t n_params, char *err, size_t errlen) {
    PersonalArgs a = {method, client, n_params, params};
    return soft_read(f, personal_thunk, &a, err, errlen);
}

typedef struct {
    size_t index, n_clients, first, n_local, n_params;
    MethodResult *res;
} MethodArgs;
static int method_thunk(StoreFile *f, void *ctx, char *err, size_t errlen) {
    MethodArgs *a = ctx;
    return read_method_impl(f, a->index, a->res, a->n_clients, a->first, a->n_local, a->n_params,
                            err, errlen);
}
/* collective over MPI_COMM_WORLD */
int store_read_method(StoreFile *f, size_t index, MethodResult *res, size_t n_clients,
                      size_t first, size_t n_local, size_t n_params, char *err, size_t errlen) {
    MethodArgs a = {index, n_clients, first, n_local, n_params, res};
    return soft_read(f, method_thunk, &a, err, errlen);
}

typedef struct {
    CheckpointState *st;
    size_t n_params;
} StateArgs;
static int state_thunk(StoreFile *f, void *ctx, char *err, size_t errlen) {
    StateArgs *a = ctx;
    return read_state_impl(f, a->st, a->n_params, err, errlen);
}
/* collective over MPI_COMM_WORLD */
int store_read_state(StoreFile *f, CheckpointState *st, size_t n_params, char *err,
                     size_t errlen) {
    StateArgs a = {st, n_params};
    return soft_read(f, state_thunk, &a, err, errlen);
}

// ----------------------------------------------------------------------------
// bench results (fedalign bench --output FILE.h5)

/* rank-local string attribute (store_write_bench writes on rank 0 alone) */
static void bench_attr_str(hid_t loc, const char *name, const char *value) {
    hid_t t = str_type(strlen(value) + 1);
    attr_put(loc, name, t, t, 0, 0, value);
    H5_CHECK(H5Tclose(t));
}

static void bench_attr_i32(hid_t loc, const char *name, int32_t v) {
    attr_put(loc, name, H5T_STD_I32LE, H5T_NATIVE_INT32, 0, 0, &v);
}

static size_t bench_len(const char *s) { return (s ? strlen(s) : 0) + 1; }

/* one compound dataset /<name> with the rows of that name, in emission order */
static void bench_table(hid_t file, const char *name, const BenchRow *rows, size_t n) {
    size_t cnt = 0, wp = 1, wu = 1, we = 1;
    char units[256] = "";
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].name, name) != 0) continue;
        cnt++;
        if (bench_len(rows[i].params) > wp) wp = bench_len(rows[i].params);
        if (bench_len(rows[i].unit) > wu) wu = bench_len(rows[i].unit);
        if (bench_len(rows[i].extra) > we) we = bench_len(rows[i].extra);
        const char *u = rows[i].unit ? rows[i].unit : "";
        size_t ul = strlen(u), have = strlen(units);
        bool seen = false;
        for (const char *p = units; (p = strstr(p, u)) != NULL && ul; p += ul)
            if ((p == units || p[-1] == ',') && (p[ul] == ',' || p[ul] == '\0')) seen = true;
        if (!seen && have + ul + 2 < sizeof units)
            snprintf(units + have, sizeof units - have, "%s%s", have ? "," : "", u);
    }
    /* record: params | unit | extra | pad to 8 | reps | min | median | max */
    const size_t o_p = 0, o_u = wp, o_e = wp + wu, o_r = (wp + wu + we + 7) & ~(size_t)7;
    const size_t o_min = o_r + 8, o_med = o_min + 8, o_max = o_med + 8, rec = o_max + 8;
    hid_t tp = str_type(wp), tu = str_type(wu), te = str_type(we);
    hid_t ct = H5_ID(H5Tcreate(H5T_COMPOUND, rec));
    H5_CHECK(H5Tinsert(ct, "params", o_p, tp));
    H5_CHECK(H5Tinsert(ct, "unit", o_u, tu));
    H5_CHECK(H5Tinsert(ct, "extra", o_e, te));
    H5_CHECK(H5Tinsert(ct, "reps", o_r, H5T_NATIVE_INT64));
    H5_CHECK(H5Tinsert(ct, "min", o_min, H5T_NATIVE_DOUBLE));
    H5_CHECK(H5Tinsert(ct, "median", o_med, H5T_NATIVE_DOUBLE));
    H5_CHECK(H5Tinsert(ct, "max", o_max, H5T_NATIVE_DOUBLE));
    unsigned char *buf = xcalloc(cnt ? cnt * rec : 1, 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].name, name) != 0) continue;
        unsigned char *r = buf + k++ * rec;
        if (rows[i].params) memcpy(r + o_p, rows[i].params, strlen(rows[i].params));
        if (rows[i].unit) memcpy(r + o_u, rows[i].unit, strlen(rows[i].unit));
        if (rows[i].extra) memcpy(r + o_e, rows[i].extra, strlen(rows[i].extra));
        int64_t reps = (int64_t)rows[i].reps;
        memcpy(r + o_r, &reps, 8);
        memcpy(r + o_min, &rows[i].min, 8);
        memcpy(r + o_med, &rows[i].median, 8);
        memcpy(r + o_max, &rows[i].max, 8);
    }
    hsize_t dim = (hsize_t)cnt;
    hid_t space = H5_ID(H5Screate_simple(1, &dim, NULL));
    hid_t d = H5_ID(H5Dcreate2(file, name, ct, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (cnt) H5_CHECK(H5Dwrite(d, ct, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf));
    bench_attr_str(d, "name", name);
    bench_attr_str(d, "units", units);
    bench_attr_str(d, "columns",
                   "params: the point's parameters as space-separated key=value; unit: of "
                   "min/median/max; reps: timed repetitions; min/median/max: over those "
                   "repetitions; extra: further key=value results of the point (the rest of "
                   "its FEDALIGN_BENCH line)");
    H5_CHECK(H5Dclose(d));
    H5_CHECK(H5Sclose(space));
    free(buf);
    H5_CHECK(H5Tclose(ct));
    H5_CHECK(H5Tclose(te));
    H5_CHECK(H5Tclose(tu));
    H5_CHECK(H5Tclose(tp));
}

/* collective over MPI_COMM_WORLD: rank 0 writes a temporary file with the serial (sec2)
 * driver, then store_finish renames it (every rank waits there) */
void store_write_bench(const char *path, const BenchMeta *meta, const BenchRow *rows, size_t n) {
    char tmp[FA_PATH_LEN + 8];
    store_tmp_path(path, tmp, sizeof tmp);
    if (comm_rank() == 0) {
        hid_t file = H5_ID(H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
        char utc[32] = "", host[256] = "";
        time_t now = time(NULL);
        struct tm tmv;
        if (gmtime_r(&now, &tmv)) strftime(utc, sizeof utc, "%Y-%m-%dT%H:%M:%SZ", &tmv);
        if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "unknown");
        bench_attr_str(file, "kind", "fedalign bench results");
        bench_attr_i32(file, "schema_version", FA_BENCH_SCHEMA_VERSION);
        bench_attr_str(file, "fedalign_version", FEDALIGN_VERSION);
        bench_attr_str(file, "git_describe", FEDALIGN_GIT);
        bench_attr_str(file, "created_utc", utc);
        bench_attr_str(file, "host", host);
        bench_attr_str(file, "cpu", meta->cpu ? meta->cpu : "unknown");
        bench_attr_str(file, "build_isa", meta->build_isa ? meta->build_isa : "unknown");
        bench_attr_str(file, "cmdline", meta->cmdline ? meta->cmdline : "");
        bench_attr_i32(file, "n_ranks", (int32_t)meta->ranks);
        bench_attr_i32(file, "n_threads", (int32_t)meta->threads);
        bench_attr_str(file, "units",
                       "s = seconds of wall time (slowest rank); GFLOP/s; GB/s; samples/s; "
                       "bytes; bytes/client. Each dataset's units attribute and each row's "
                       "unit field say which applies; extra keys carry their unit in the "
                       "name (_s, _bytes) or are ratios and counts");
        bench_attr_str(file, "method",
                       "warm-up repetitions discarded, then reps timed repetitions; min, median "
                       "and max over them; docs/performance.md");
        /* one dataset per FEDALIGN_BENCH name, in order of first appearance */
        char names[256] = "";
        for (size_t i = 0; i < n; i++) {
            bool first = true;
            for (size_t j = 0; j < i && first; j++)
                if (strcmp(rows[j].name, rows[i].name) == 0) first = false;
            if (!first) continue;
            bench_table(file, rows[i].name, rows, n);
            size_t have = strlen(names);
            if (have + strlen(rows[i].name) + 2 < sizeof names)
                snprintf(names + have, sizeof names - have, "%s%s", have ? "," : "", rows[i].name);
        }
        bench_attr_str(file, "datasets", names);
        H5_CHECK(H5Fclose(file));
    }
    store_finish(tmp, path, true);
}
