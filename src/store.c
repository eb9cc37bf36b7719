/*
 * store.c: the results file (parallel HDF5 1.10 through MPI-IO), common part: the
 * attribute and dataset helpers, preflight, open/create/close/finish and the run
 * attributes. store_write.c writes clients, methods and checkpoint state,
 * store_read.c reads them back (the soft-read machinery for damaged files lives
 * there), store_bench.c writes `fedalign bench` records. Only store*.c use HDF5.
 *
 * Layout and meaning of every object: docs/results-format.md (schema FA_SCHEMA_VERSION).
 * Rules these files keep, because parallel HDF5 hangs or corrupts the file otherwise:
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
#define _GNU_SOURCE /* renameat2, RENAME_NOREPLACE */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <hdf5_hl.h>

#include "fedalign/comm.h"
#include "fedalign/rng.h"
#include "store_internal.h"

/* While a file that may be damaged is read (store_open_read and the store_read_*
 * functions: a --resume checkpoint, an export --results file), a failed HDF5 call
 * jumps back to the reader, which returns -1 with a message instead of dying; HDF5's
 * own error stack is silenced meanwhile. Everywhere else a failed call is fatal. */
jmp_buf *st_g_soft_jmp = NULL;
char st_g_soft_call[160];

/* The file store_create made and store_close has not closed yet: a failed write there
 * (a full disk, a quota) names it and the space left, and removes it, before dying. */
static char g_writing[FA_PATH_LEN];

/* free bytes for an unprivileged writer on path's file system; -1 when unknown */
static double free_bytes(const char *path) {
    struct statvfs sv;
    return statvfs(path, &sv) == 0 ? (double)sv.f_bavail * (double)sv.f_frsize : -1.0;
}

FA_NORETURN void st_h5_fail(const char *call, const char *file, int line) {
    if (st_g_soft_jmp) {
        snprintf(st_g_soft_call, sizeof st_g_soft_call, "%s", call);
        longjmp(*st_g_soft_jmp, 1);
    }
    if (g_writing[0]) {
        /* die() aborts every rank: nobody is left waiting in a collective write */
        double avail = free_bytes(g_writing);
        unlink(g_writing);
        st_unlock_all(); /* MPI_Abort skips atexit: the run is over, release its output */
        die(file, line,
            "cannot write '%s' (%.0f bytes free on its file system; disk full or "
            "quota?): HDF5 call failed: %s; the partial file was removed",
            g_writing, avail, call);
    }
    die(file, line, "HDF5 call failed: %s", call);
}

hid_t st_h5_id(hid_t id, const char *call, const char *file, int line) {
    if (id < 0) st_h5_fail(call, file, line);
    return id;
}

/* Largest block of per-client rows one rank moves in one H5Dwrite/H5Dread; larger
 * blocks go in several collective calls (MPI-IO counts are int).
 * FEDALIGN_STORE_SLAB_BYTES overrides it (tests use it to exercise the loop). */
#define FA_STORE_SLAB_BYTES ((size_t)1 << 30)

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

bool st_parse_hex(const char *s, uint64_t *v) {
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
hid_t st_str_type(size_t width) {
    hid_t t = H5_ID(H5Tcopy(H5T_C_S1));
    H5_CHECK(H5Tset_size(t, width ? width : 1));
    H5_CHECK(H5Tset_strpad(t, H5T_STR_NULLTERM));
    H5_CHECK(H5Tset_cset(t, H5T_CSET_ASCII));
    return t;
}

/* Create (replacing an existing one) and write an attribute. ndims 0 = scalar. */
void st_attr_put(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int ndims, hsize_t dim,
                 const void *data) {
    if (H5_ID(H5Aexists(loc, name)) > 0) H5_CHECK(H5Adelete(loc, name));
    hid_t space = H5_ID(ndims == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL));
    hid_t a = H5_ID(H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT));
    H5_CHECK(H5Awrite(a, mtype, data));
    H5_CHECK(H5Aclose(a));
    H5_CHECK(H5Sclose(space));
}

/* rank 0's string */
void st_attr_str(hid_t loc, const char *name, const char *value) {
    char *s = bcast_string(value);
    hid_t t = st_str_type(strlen(s) + 1);
    st_attr_put(loc, name, t, t, 0, 0, s);
    H5_CHECK(H5Tclose(t));
    free(s);
}

/* rank 0's strings names[0..n) (each at most FA_NAME_LEN bytes with its NUL) as a 1-D
 * array of fixed-length strings */
void st_attr_strs(hid_t loc, const char *name, const char (*names)[FA_NAME_LEN], size_t n) {
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
    hid_t t = st_str_type(w);
    st_attr_put(loc, name, t, t, 1, cnt, buf);
    H5_CHECK(H5Tclose(t));
    free(buf);
}

void st_attr_i64(hid_t loc, const char *name, int64_t v) {
    comm_bcast_bytes(&v, sizeof v, 0);
    st_attr_put(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 0, 0, &v);
}

void st_attr_i32(hid_t loc, const char *name, int32_t v) {
    comm_bcast_bytes(&v, sizeof v, 0);
    st_attr_put(loc, name, H5T_STD_I32LE, H5T_NATIVE_INT32, 0, 0, &v);
}

void st_attr_bool(hid_t loc, const char *name, bool b) {
    int8_t v = b ? 1 : 0;
    comm_bcast_bytes(&v, sizeof v, 0);
    st_attr_put(loc, name, H5T_STD_I8LE, H5T_NATIVE_INT8, 0, 0, &v);
}

void st_attr_f64(hid_t loc, const char *name, double v) {
    comm_bcast_bytes(&v, sizeof v, 0);
    st_attr_put(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, 0, &v);
}

void st_attr_f64s(hid_t loc, const char *name, const double *v, size_t n) {
    double *b = xmalloc((n ? n : 1) * sizeof(double));
    memcpy(b, v, n * sizeof(double));
    comm_bcast_bytes(b, n * sizeof(double), 0);
    st_attr_put(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, n, b);
    free(b);
}

void st_attr_hex(hid_t loc, const char *name, uint64_t v) {
    char hex[17];
    fmt_hex(v, hex);
    st_attr_str(loc, name, hex);
}

/* Readers: collective (every rank reads the same value). -1 when absent. */
int st_attr_get(hid_t loc, const char *name, hid_t mtype, void *out) {
    if (H5_ID(H5Aexists(loc, name)) <= 0) return -1;
    hid_t a = H5_ID(H5Aopen(loc, name, H5P_DEFAULT));
    H5_CHECK(H5Aread(a, mtype, out));
    H5_CHECK(H5Aclose(a));
    return 0;
}

/* A scalar string attribute, fixed-length or variable-length, into out[cap]. */
int st_attr_get_str(hid_t loc, const char *name, char *out, size_t cap) {
    if (H5_ID(H5Aexists(loc, name)) <= 0) return -1;
    hid_t a = H5_ID(H5Aopen(loc, name, H5P_DEFAULT));
    hid_t ft = H5_ID(H5Aget_type(a));
    int rc = 0;
    if (H5Tget_class(ft) != H5T_STRING) {
        rc = -1;
    } else if (H5_ID(H5Tis_variable_str(ft)) > 0) {
        hid_t mt = st_str_type(1);
        H5_CHECK(H5Tset_size(mt, H5T_VARIABLE));
        char *s = NULL;
        H5_CHECK(H5Aread(a, mt, &s));
        snprintf(out, cap, "%s", s ? s : "");
        H5_CHECK(H5free_memory(s));
        H5_CHECK(H5Tclose(mt));
    } else {
        size_t w = H5Tget_size(ft);
        char *buf = xcalloc(w + 1, 1);
        hid_t mt = st_str_type(w);
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
hid_t st_dset_create(hid_t loc, const char *name, hid_t ftype, int ndims, const hsize_t *dims,
                     const char *dim_names, const char *units) {
    hid_t space = H5_ID(H5Screate_simple(ndims, dims, NULL));
    hid_t dcpl = H5_ID(H5Pcreate(H5P_DATASET_CREATE));
    H5_CHECK(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER));
    hid_t d = H5_ID(H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
    H5_CHECK(H5Pclose(dcpl));
    H5_CHECK(H5Sclose(space));
    st_attr_str(d, "dims", dim_names);
    if (units) st_attr_str(d, "units", units);
    return d;
}

/* One collective transfer of the selected elements, then the spaces are closed. */
static void xfer_close(hid_t d, hid_t mtype, hid_t mspace, hid_t fspace, bool write, void *buf) {
    hid_t dxpl = dxpl_collective();
    if (write) H5_CHECK(H5Dwrite(d, mtype, mspace, fspace, dxpl, buf));
    else H5_CHECK(H5Dread(d, mtype, mspace, fspace, dxpl, buf));
    H5_CHECK(H5Pclose(dxpl));
    H5_CHECK(H5Sclose(mspace));
    H5_CHECK(H5Sclose(fspace));
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
    xfer_close(d, mtype, mspace, fspace, write, buf);
}

/* Global data: rank 0 writes the whole dataset, the others select none. An empty
 * dataset (e.g. R = 0) is skipped by every rank alike. */
void st_dset_write_global(hid_t d, hid_t mtype, const void *buf) {
    hsize_t dims[2] = {0, 0}, start[2] = {0, 0};
    hid_t s = H5_ID(H5Dget_space(d));
    int nd = H5Sget_simple_extent_dims(s, dims, NULL);
    H5_CHECK(H5Sclose(s));
    if (nd < 1 || nd > 2) st_h5_fail("dataset of rank 1 or 2 expected", __FILE__, __LINE__);
    if (dims[0] * (nd == 2 ? dims[1] : 1) == 0) return;
    if (comm_rank() != 0) dims[0] = 0;
    dset_xfer_block(d, mtype, start, dims, (void *)buf, true);
}

/* Global data read by every rank (all select everything). */
void st_dset_read_global(hid_t d, hid_t mtype, void *buf) {
    hsize_t dims[2] = {0, 0}, start[2] = {0, 0};
    hid_t s = H5_ID(H5Dget_space(d));
    int nd = H5Sget_simple_extent_dims(s, dims, NULL);
    H5_CHECK(H5Sclose(s));
    if (nd < 1 || nd > 2) st_h5_fail("dataset of rank 1 or 2 expected", __FILE__, __LINE__);
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

/* The rows ids[0..n) (ascending) of a [C] or [C, w] dataset (rc false, other = w), or
 * the columns ids of every row of an [R, C] one (rc true, other = R): one hyperslab per
 * run of consecutive ids (one in all for a block assignment). HDF5 walks a selection in
 * file order, ascending ids, which is the order of the local buffer. */
static void dset_xfer_ids(hid_t d, hid_t mtype, const size_t *ids, size_t n, bool rc, hsize_t other,
                          void *buf, bool write) {
    if (n == 0 || other == 0) {
        hsize_t start[2] = {0, 0}, none[2] = {0, 0};
        dset_xfer_block(d, mtype, start, none, buf, write);
        return;
    }
    hid_t fspace = H5_ID(H5Dget_space(d));
    H5S_seloper_t op = H5S_SELECT_SET;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && ids[j] == ids[j - 1] + 1) j++;
        hsize_t start[2] = {rc ? 0 : ids[i], rc ? ids[i] : 0};
        hsize_t count[2] = {rc ? other : j - i, rc ? j - i : other};
        H5_CHECK(H5Sselect_hyperslab(fspace, op, start, NULL, count, NULL));
        op = H5S_SELECT_OR;
        i = j;
    }
    const hsize_t npts = (hsize_t)n * other;
    hid_t mspace = H5_ID(H5Screate_simple(1, &npts, NULL));
    xfer_close(d, mtype, mspace, fspace, write, buf);
}

/* Per-client rows ids[0..n) (ascending global ids) of a [C] (width 0) or [C, width]
 * dataset, in slabs of at most slab_bytes() per call. Ranks agree on the number of
 * collective calls; in the calls past its own rows a rank selects none. */
void st_dset_xfer_rows(hid_t d, hid_t mtype, const size_t *ids, size_t n, size_t width, void *buf,
                       bool write) {
    const size_t w = width ? width : 1, esz = H5Tget_size(mtype);
    size_t per = slab_bytes() / (w * esz);
    if (per == 0) per = 1;
    double iters = (double)((n + per - 1) / per);
    comm_allreduce_max_double(&iters, 1);
    for (size_t it = 0; it < (size_t)iters; it++) {
        size_t r0 = it * per < n ? it * per : n;
        size_t r1 = r0 + per < n ? r0 + per : n;
        dset_xfer_ids(d, mtype, ids + r0, r1 - r0, false, w, (char *)buf + r0 * w * esz, write);
    }
}

/* Per-round per-client [R, C] block: columns ids[0..n) of every round; the memory
 * layout (round, local client) row-major is the selection's file order. */
void st_dset_xfer_rc(hid_t d, hid_t mtype, void *buf, size_t R, const size_t *ids, size_t n,
                     bool write) {
    if (R == 0) return;
    dset_xfer_ids(d, mtype, ids, n, true, R, buf, write);
}

/* Dimensions of dataset `name` in loc; returns its rank, or -1 when absent. */
int st_dset_dims(hid_t loc, const char *name, hsize_t *dims, int maxdims) {
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
void st_put_global(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int ndims,
                   const hsize_t *dims, const char *dim_names, const char *units, const void *buf) {
    hid_t d = st_dset_create(loc, name, ftype, ndims, dims, dim_names, units);
    st_dset_write_global(d, mtype, buf);
    H5_CHECK(H5Dclose(d));
}

/* Create + write a per-client [C] or [C, width] dataset (rank-local rows). */
void st_put_rows(hid_t loc, const char *name, hid_t ftype, hid_t mtype, size_t C, size_t width,
                 const char *dim_names, const char *units, const size_t *ids, size_t n,
                 const void *buf) {
    hsize_t dims[2] = {C, width};
    hid_t d = st_dset_create(loc, name, ftype, width ? 2 : 1, dims, dim_names, units);
    st_dset_xfer_rows(d, mtype, ids, n, width, (void *)buf, true);
    H5_CHECK(H5Dclose(d));
}

/* Open an existing group, or create it. */
hid_t st_group_open_or_create(hid_t loc, const char *name) {
    if (H5_ID(H5Lexists(loc, name, H5P_DEFAULT)) > 0)
        return H5_ID(H5Gopen2(loc, name, H5P_DEFAULT));
    return H5_ID(H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
}

/* Create a group, first unlinking one of that name (a rewritten checkpoint or method;
 * HDF5 does not reclaim the old space, which is fine for these small groups). */
hid_t st_group_replace(hid_t loc, const char *name) {
    if (H5_ID(H5Lexists(loc, name, H5P_DEFAULT)) > 0) H5_CHECK(H5Ldelete(loc, name, H5P_DEFAULT));
    return H5_ID(H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
}

// ----------------------------------------------------------------------------
// dimension scales: the "dims" names as HDF5 dimension scales (H5DS), so netCDF-4 readers
// (xarray's h5netcdf engine) see named dimensions without phony_dims

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *ctx) {
    (void)g, (void)info;
    char ***names = ctx;
    size_t n = 0;
    while ((*names)[n]) n++;
    char **grown = xcalloc(n + 2, sizeof(char *));
    memcpy(grown, *names, n * sizeof(char *));
    free(*names);
    *names = grown;
    (*names)[n] = xmalloc(strlen(name) + 1);
    memcpy((*names)[n], name, strlen(name) + 1);
    (*names)[n + 1] = NULL;
    return 0;
}

/* the scale dataset `dim` of length n in g: found (it must have length n: two sizes under
 * one name is a schema error) or created holding 0..n-1 (rank 0's write) */
static hid_t scale_for(hid_t g, const char *dim, hsize_t n) {
    hsize_t have[2];
    int nd = st_dset_dims(g, dim, have, 2);
    if (nd >= 0) {
        CHECK(nd == 1 && have[0] == n, "dimension '%s' has two sizes in one group (%llu, %llu)",
              dim, (unsigned long long)have[0], (unsigned long long)n);
        return H5_ID(H5Dopen2(g, dim, H5P_DEFAULT));
    }
    int64_t *idx = xmalloc((n ? n : 1) * sizeof(int64_t));
    for (hsize_t i = 0; i < n; i++) idx[i] = (int64_t)i;
    hid_t s = st_dset_create(g, dim, H5T_STD_I64LE, 1, &n, dim, NULL);
    st_dset_write_global(s, H5T_NATIVE_INT64, idx);
    free(idx);
    H5_CHECK(H5DSset_scale(s, dim));
    return s;
}

/* Attach a scale to every dimension of every dataset of g, named by the dataset's "dims"
 * attribute. Collective: every rank lists the same members in name order and makes the
 * same calls. */
void st_attach_scales(hid_t g) {
    char **names = xcalloc(1, sizeof(char *));
    hsize_t at = 0;
    H5_CHECK(H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &at, collect_name, &names));
    for (size_t k = 0; names[k]; k++) {
        hid_t d = H5_ID(H5Oopen(g, names[k], H5P_DEFAULT));
        if (H5Iget_type(d) != H5I_DATASET) {
            H5_CHECK(H5Oclose(d));
            continue;
        }
        char dims[256];
        if (H5_ID(H5DSis_scale(d)) == 0 && st_attr_get_str(d, "dims", dims, sizeof dims) == 0) {
            hsize_t shape[8];
            hid_t sp = H5_ID(H5Dget_space(d));
            int nd = H5Sget_simple_extent_dims(sp, shape, NULL);
            CHECK(nd >= 1 && nd <= 8, "dataset %s: rank %d", names[k], nd);
            H5_CHECK(H5Sclose(sp));
            char *save = NULL;
            int i = 0;
            for (char *tok = strtok_r(dims, ",", &save); tok && i < nd;
                 tok = strtok_r(NULL, ",", &save), i++) {
                hid_t sc = scale_for(g, tok, shape[i]);
                H5_CHECK(H5DSattach_scale(d, sc, (unsigned)i));
                H5_CHECK(H5Dclose(sc));
            }
            CHECK(i == nd, "dataset %s: dims '%s' names %d of %d dimensions", names[k], dims, i,
                  nd);
        }
        H5_CHECK(H5Oclose(d));
    }
    for (size_t k = 0; names[k]; k++) free(names[k]);
    free(names);
}

// ----------------------------------------------------------------------------
// the method field table in the file

const char *st_field_dims(const FaField *fd) {
    switch (fd->shape) {
    case FA_SHAPE_R1: return "eval_round"; /* R + 1: phi^0..phi^R, not the R rounds */
    case FA_SHAPE_R: return "round";
    case FA_SHAPE_C: return "client";
    case FA_SHAPE_RC: return "round,client";
    case FA_SHAPE_TIMERS: return "timer,stat";
    case FA_SHAPE_P: return "param";
    case FA_SHAPE_CP: return "client,param";
    case FA_SHAPE_K: return "class";
    case FA_SHAPE_CK: return "client,class";
    case FA_SHAPE_KK: return "class,predicted";
    default: return "";
    }
}

const char *st_field_units(const FaField *fd) {
    return fd->unit == FA_UNIT_NONE ? NULL : fa_unit_names[fd->unit];
}

hid_t st_field_ftype(const FaField *fd) {
    return fd->type == FA_FT_F32   ? H5T_IEEE_F32LE
           : fd->type == FA_FT_F64 ? H5T_IEEE_F64LE
                                   : H5T_STD_I64LE;
}

hid_t st_field_mtype(const FaField *fd) {
    return fd->type == FA_FT_F32   ? H5T_NATIVE_FLOAT
           : fd->type == FA_FT_F64 ? H5T_NATIVE_DOUBLE
                                   : H5T_NATIVE_INT64;
}

// ----------------------------------------------------------------------------
// open/close/finish (preflight, temporary names and the output lock: store_paths.c)

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
    f->writing = true;
    snprintf(g_writing, sizeof g_writing, "%s", path);
    return f;
}

/* collective: before the collective close of a file being written. Closing writes the
 * cached metadata; a rank whose write fails there leaves the close sequence while the
 * others wait in it forever. So rank 0 checks that the space still to be filled (the
 * file's holes, an estimate: HDF5 1.10 gives no end of allocation for the MPI-IO
 * driver) plus 16 KiB is free, and every rank agrees before anyone enters H5Fclose;
 * when it is not, every rank stops. */
static void ensure_space_for_close(StoreFile *f) {
    static Verdict v;
    memset(&v, 0, sizeof v);
    if (comm_rank() == 0) {
        struct stat st;
        double avail = free_bytes(f->path);
        if (stat(f->path, &st) == 0 && avail >= 0) {
            /* holes below the end of file are space HDF5 allocated but has not written
             * yet (the metadata cache); the margin covers what it appends at close */
            double have = (double)st.st_blocks * 512.0, size = (double)st.st_size;
            double need = (size > have ? size - have : 0.0) + 16384.0;
            if (need > avail) {
                v.ok = -1;
                snprintf(v.msg, sizeof v.msg,
                         "not enough space to finish '%s': %.0f more bytes needed, %.0f "
                         "available on its file system; the partial file was removed",
                         f->path, need, avail);
            }
        }
    }
    comm_bcast_bytes(&v, sizeof v, 0);
    if (v.ok == 0) return;
    if (comm_rank() == 0) {
        unlink(f->path);
        st_unlock_all(); /* MPI_Abort skips atexit */
        fprintf(stderr, "fedalign: error: %s\n", v.msg);
    }
    /* the file cannot be closed safely and MPI_Finalize would close it: abort */
    comm_barrier();
    comm_abort(FA_EXIT_FAIL);
}

/* open f->path read-only and check its schema version (under st_soft_read) */
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
    if (st_attr_get(f->file, "schema_version", H5T_NATIVE_INT32, &ver) != 0 ||
        ver != FA_SCHEMA_VERSION) {
        if (ver < 0)
            snprintf(err, errlen, "'%s' is not a fedalign results file (no schema_version)",
                     f->path);
        else
            snprintf(err, errlen, "'%s' has schema_version %d; this fedalign reads schema %d only",
                     f->path, (int)ver, FA_SCHEMA_VERSION);
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
                         "HDF5_USE_FILE_LOCKING=FALSE)",
                         path);
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
    if (st_soft_read(f, open_impl, NULL, err, errlen) != 0) {
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
    if (f->writing) ensure_space_for_close(f);
    H5_CHECK(H5Fclose(f->file));
    if (f->writing) g_writing[0] = '\0';
    free(f);
}

/* rank 0 only: move tmp to final without replacing an existing final. renameat2's
 * RENAME_NOREPLACE where the file system has it, else link + unlink (link fails on an
 * existing name too); returns 0 or -1 with errno. */
static int rename_noreplace(const char *tmp, const char *final_path) {
#ifdef RENAME_NOREPLACE
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final_path, RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) return -1;
#endif
    if (link(tmp, final_path) != 0) return -1;
    unlink(tmp);
    return 0;
}

/* collective over MPI_COMM_WORLD */
void store_finish(const char *tmp_path, const char *final_path, bool success, bool replace) {
    static Verdict v;
    memset(&v, 0, sizeof v);
    if (comm_rank() == 0) {
        if (success) {
            int rc =
                replace ? rename(tmp_path, final_path) : rename_noreplace(tmp_path, final_path);
            if (rc != 0 && errno == EEXIST) {
                v.ok = -1;
                snprintf(v.msg, sizeof v.msg,
                         "output file '%s' appeared while this run was writing it (another run "
                         "with the same output?); it was left alone and this run's results are "
                         "in '%s'",
                         final_path, tmp_path);
            } else if (rc != 0) {
                v.ok = -1;
                snprintf(v.msg, sizeof v.msg,
                         "cannot rename '%s' to '%s': %s; the results are "
                         "in '%s'",
                         tmp_path, final_path, strerror(errno), tmp_path);
            }
        }
        if (!success && unlink(tmp_path) != 0 && errno != ENOENT)
            fprintf(stderr, "fedalign: warning: cannot remove '%s': %s\n", tmp_path,
                    strerror(errno));
    }
    /* nobody goes on (or reads the final file) before rank 0 is done; a failed rename
     * ends every rank together, keeping the complete temporary file for the user */
    comm_bcast_bytes(&v, sizeof v, 0);
    if (v.ok != 0) comm_fail_code(FA_EXIT_FAIL, "%s", v.msg);
}

// ----------------------------------------------------------------------------
// run attributes, config hash, clients

/* local: the library linked at run time, which may differ from the headers' version */
void store_hdf5_version(char *buf, size_t cap) {
    unsigned maj = 0, min = 0, rel = 0;
    if (H5get_libversion(&maj, &min, &rel) < 0) snprintf(buf, cap, "unknown");
    else snprintf(buf, cap, "%u.%u.%u", maj, min, rel);
}

bool store_writes_files(void) { return true; }

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

/* cfg.<flag> with the option's type: int64 (uint64 for the seed), float64, int8 0/1 for
 * flags, strings for words, lists and paths; the value is rank 0's (every rank parsed the
 * same argv, so the kinds agree and the collective writes match) */
static void cfg_attr_visit(void *ctx, const char *key, const OptValue *v, const char *text) {
    hid_t root = *(hid_t *)ctx;
    char name[128];
    snprintf(name, sizeof name, "cfg.%s", key);
    switch (v->kind) {
    case OPT_V_INT: st_attr_i64(root, name, v->i); break;
    case OPT_V_UINT: {
        uint64_t u = v->u;
        comm_bcast_bytes(&u, sizeof u, 0);
        st_attr_put(root, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, 0, 0, &u);
        break;
    }
    case OPT_V_FLOAT: st_attr_f64(root, name, v->f); break;
    case OPT_V_BOOL: st_attr_bool(root, name, v->b); break;
    case OPT_V_TEXT: st_attr_str(root, name, text); break;
    }
}

/* collective over MPI_COMM_WORLD */
void store_write_run(StoreFile *f, const Config *c, const DataInfo *info, int ranks, int threads,
                     bool over_clients, size_t n_params) {
    hid_t root = f->file;
    st_attr_i32(root, "schema_version", FA_SCHEMA_VERSION);
    st_attr_str(root, "fedalign_version", FEDALIGN_VERSION);
    char utc[32] = "", host[256] = "";
    if (comm_rank() == 0) {
        time_t now = time(NULL);
        struct tm tmv;
        if (gmtime_r(&now, &tmv)) strftime(utc, sizeof utc, "%Y-%m-%dT%H:%M:%SZ", &tmv);
        if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "unknown");
    }
    st_attr_str(root, "created_utc", utc); /* rank 0's clock and host name */
    st_attr_str(root, "host", host);
    st_attr_i32(root, "n_ranks", (int32_t)ranks);
    st_attr_i32(root, "n_threads", (int32_t)threads);
    st_attr_str(root, "threads_over", over_clients ? "clients" : "batch");
    st_attr_i64(root, "n_params", (int64_t)n_params);
    st_attr_i64(root, "n_clients", (int64_t)c->clients);
    st_attr_i64(root, "n_features", (int64_t)info->d);
    st_attr_i64(root, "n_classes", (int64_t)info->k);
    st_attr_str(root, "dataset", info->name);
    /* raw windows (issue 17) name their channels, not their win_len x win_ch values */
    st_attr_i64(root, "win_len", (int64_t)info->win_len);
    st_attr_i64(root, "win_ch", (int64_t)info->win_ch);
    st_attr_strs(root, "feature_names", (const char(*)[FA_NAME_LEN])info->feature_names,
                 datainfo_n_names(info));
    st_attr_strs(root, "class_names", (const char(*)[FA_NAME_LEN])info->class_names, info->k);
    st_attr_hex(root, "config_hash", store_config_hash(c));
    st_attr_str(root, "cmdline", c->cmdline);
    st_attr_str(root, "result_keys", config_result_keys()); /* what report.py groups by */
    st_write_provenance(root, false); /* git_describe among them */
    st_attr_hex(root, "data_hash", info->data_hash); /* a resume checks its input against it */
    config_visit_typed(c, cfg_attr_visit, &root);
}
