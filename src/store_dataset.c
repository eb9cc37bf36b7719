/*
 * store_dataset.c: user data from an HDF5 file (--dataset h5:PATH), parsed from the
 * file's bytes held in memory (data.h: h5data_parse). Like CSV input, rank 0 reads the
 * file and broadcasts its bytes (dataset.c), and every rank parses the same bytes here
 * through HDF5's in-memory (core) driver, so every rank reaches the same verdict and the
 * same message; nothing here talks to other ranks.
 *
 * The file (docs/byod.md, "HDF5 input"):
 *   X  float32/float64 [N][L][C]  raw windows, time-major (row = x[t * C + c]), or
 *      float32/float64 [N][D]     tabular features (D <= FA_MAX_FEATURES);
 *      optional string attribute channel_names [C] (3-D) or feature_names [D] (2-D)
 *   y  integer [N]                class indices into the string attribute y.class_names
 *                                 when it exists, else any integers (their sorted
 *                                 distinct values become the classes, named by value),
 *      or strings [N]             class names (sorted distinct names become the classes)
 *   NAME integer or strings [N]   optional per-row ids, one client per distinct value
 *                                 (--partition column:NAME), sorted as the labels are
 * Every failure is a message "PATH: ...", never an HDF5 error stack or an abort: the file
 * is untrusted input, so each HDF5 call is checked and HDF5's own printing is off.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "fedalign/check.h"
#include "fedalign/data.h"

/* The core driver refuses to open an image under the name of a file that exists on
 * disk (HDF5 1.10 "file already exists"), so the image gets a name that cannot exist:
 * /dev/null is not a directory. */
#define FA_H5_IMAGE_NAME "/dev/null/fedalign-h5-image"

/* one parse: the message of its first failure, and the objects to close on the way out */
typedef struct {
    const char *path;
    char *err;
    size_t errlen;
    bool failed;
} H5In;

static int h5in_fail(H5In *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int h5in_fail(H5In *in, const char *fmt, ...) {
    if (in->failed) return -1; /* the first problem is the one reported */
    int n = snprintf(in->err, in->errlen, "%s: ", in->path);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < in->errlen) vsnprintf(in->err + n, in->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    in->failed = true;
    return -1;
}

// ----------------------------------------------------------------------------
// shapes and strings

/* The dataset `name` of the file: its identifier, rank and dims (up to 3), type class;
 * -1 (and the message) when it is absent or not a simple dataset. */
static hid_t open_dset(H5In *in, hid_t file, const char *name, const char *what, int *nd,
                       hsize_t dims[3], H5T_class_t *cls) {
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0) {
        h5in_fail(in, "no dataset '%s' (%s)", name, what);
        return -1;
    }
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d < 0) {
        h5in_fail(in, "'%s' is not a dataset (%s)", name, what);
        return -1;
    }
    hid_t sp = H5Dget_space(d), ty = H5Dget_type(d);
    *nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (*nd >= 1 && *nd <= 3) H5Sget_simple_extent_dims(sp, dims, NULL);
    *cls = ty >= 0 ? H5Tget_class(ty) : H5T_NO_CLASS;
    if (sp >= 0) H5Sclose(sp);
    if (ty >= 0) H5Tclose(ty);
    if (*nd < 1 || *nd > 3) {
        h5in_fail(in, "dataset '%s' has %d dimensions (%s)", name, *nd, what);
        H5Dclose(d);
        return -1;
    }
    return d;
}

/* n strings of a dataset (attr < 0) or attribute into names (n, FA_NAME_LEN), fixed or
 * variable length; 0 or -1 with the message (a name too long, unreadable) */
static int read_strings(H5In *in, hid_t dset, hid_t attr, const char *what, size_t n,
                        char (*names)[FA_NAME_LEN]) {
    hid_t ft = attr >= 0 ? H5Aget_type(attr) : H5Dget_type(dset);
    if (ft < 0 || H5Tget_class(ft) != H5T_STRING) {
        if (ft >= 0) H5Tclose(ft);
        return h5in_fail(in, "%s: not strings", what);
    }
    htri_t var = H5Tis_variable_str(ft);
    size_t w = H5Tget_size(ft);
    H5T_cset_t cset = H5Tget_cset(ft);
    H5Tclose(ft);
    hid_t mt = H5Tcopy(H5T_C_S1);
    /* HDF5 converts no strings between ASCII and UTF-8 (h5py writes UTF-8): read as stored */
    H5Tset_cset(mt, cset == H5T_CSET_UTF8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII);
    int rc = 0;
    if (var > 0) {
        char **v = xcalloc(n ? n : 1, sizeof *v);
        H5Tset_size(mt, H5T_VARIABLE);
        herr_t r =
            attr >= 0 ? H5Aread(attr, mt, v) : H5Dread(dset, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (r < 0 || !v[i]) rc = h5in_fail(in, "%s: cannot read string %zu", what, i);
            else if (strlen(v[i]) >= FA_NAME_LEN)
                rc = h5in_fail(in, "%s: string %zu is longer than %d bytes", what, i,
                               FA_NAME_LEN - 1);
            else snprintf(names[i], FA_NAME_LEN, "%s", v[i]);
        }
        for (size_t i = 0; i < n; i++)
            if (r >= 0 && v[i]) H5free_memory(v[i]);
        free(v);
    } else if (w == 0 || w >= FA_NAME_LEN) {
        rc = h5in_fail(in, "%s: strings of %zu bytes (at most %d)", what, w, FA_NAME_LEN - 1);
    } else {
        char *buf = xcalloc(n ? n : 1, w + 1);
        H5Tset_size(mt, w + 1); /* room for the terminating NUL */
        H5Tset_strpad(mt, H5T_STR_NULLTERM);
        herr_t r = attr >= 0 ? H5Aread(attr, mt, buf)
                             : H5Dread(dset, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        if (r < 0) rc = h5in_fail(in, "%s: cannot read its strings", what);
        for (size_t i = 0; i < n && rc == 0; i++)
            snprintf(names[i], FA_NAME_LEN, "%s", buf + i * (w + 1));
        free(buf);
    }
    H5Tclose(mt);
    return rc;
}

/* Optional string attribute `name` of dset with exactly n entries into names; 1 when
 * present, 0 when absent, -1 on a problem. */
static int read_name_attr(H5In *in, hid_t dset, const char *dname, const char *name, size_t n,
                          char (*names)[FA_NAME_LEN]) {
    if (H5Aexists(dset, name) <= 0) return 0;
    char what[2 * FA_NAME_LEN];
    snprintf(what, sizeof what, "attribute %s.%s", dname, name);
    hid_t a = H5Aopen(dset, name, H5P_DEFAULT);
    if (a < 0) return h5in_fail(in, "%s: cannot open", what);
    hid_t sp = H5Aget_space(a);
    hssize_t m = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (sp >= 0) H5Sclose(sp);
    int rc = 0;
    if (m != (hssize_t)n)
        rc = h5in_fail(in, "%s has %lld entries, expected %zu", what, (long long)m, n);
    else rc = read_strings(in, -1, a, what, n, names);
    H5Aclose(a);
    return rc < 0 ? -1 : 1;
}

// ----------------------------------------------------------------------------
// per-row ids: labels and groups

typedef struct {
    bool is_str;
    int64_t *iv;             /* (n) integer values, or */
    char (*sv)[FA_NAME_LEN]; /* (n) strings */
    size_t n;
} Ids;

static void ids_free(Ids *v) {
    free(v->iv);
    free(v->sv);
    memset(v, 0, sizeof *v);
}

/* dataset `name`: 1-D, n rows, integers or strings */
static int read_ids(H5In *in, hid_t file, const char *name, const char *what, size_t n, Ids *out) {
    memset(out, 0, sizeof *out);
    int nd;
    hsize_t dims[3];
    H5T_class_t cls;
    hid_t d = open_dset(in, file, name, what, &nd, dims, &cls);
    if (d < 0) return -1;
    int rc = 0;
    if (nd != 1)
        rc = h5in_fail(in, "'%s' must be 1-D [N] (%s), it has %d dimensions", name, what, nd);
    else if (dims[0] != n)
        rc = h5in_fail(in, "'%s' has %llu rows but X has %zu (N must match)", name,
                       (unsigned long long)dims[0], n);
    else if (cls == H5T_INTEGER) {
        out->iv = xmalloc((n ? n : 1) * sizeof *out->iv);
        if (H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->iv) < 0)
            rc = h5in_fail(in, "'%s': cannot read its integers", name);
    } else if (cls == H5T_STRING) {
        out->is_str = true;
        out->sv = xcalloc(n ? n : 1, sizeof *out->sv);
        char dw[FA_NAME_LEN + 16];
        snprintf(dw, sizeof dw, "dataset '%s'", name);
        rc = read_strings(in, d, -1, dw, n, out->sv);
    } else rc = h5in_fail(in, "'%s' must hold integers or strings (%s)", name, what);
    out->n = n;
    H5Dclose(d);
    return rc;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}
static int cmp_name(const void *a, const void *b) { return strcmp(a, b); }

/* The sorted distinct values of v become 0..G-1: code[i] (n) the index of row i's value,
 * names (up to cap) their text; returns G (which may exceed cap: names stop there). */
static size_t ids_code(const Ids *v, int32_t *code, char (*names)[FA_NAME_LEN], size_t cap) {
    const size_t n = v->n, es = v->is_str ? FA_NAME_LEN : sizeof(int64_t);
    int (*cmp)(const void *, const void *) = v->is_str ? cmp_name : cmp_i64;
    const char *src = v->is_str ? (const char *)v->sv : (const char *)v->iv;
    char *u = xmalloc((n ? n : 1) * es);
    memcpy(u, src, n * es);
    qsort(u, n, es, cmp);
    size_t g = 0;
    for (size_t i = 0; i < n; i++)
        if (g == 0 || cmp(u + (g - 1) * es, u + i * es) != 0) memmove(u + g++ * es, u + i * es, es);
    for (size_t i = 0; i < n; i++) {
        const char *hit = bsearch(src + i * es, u, g, es, cmp);
        code[i] = (int32_t)((size_t)(hit - u) / es);
    }
    for (size_t j = 0; j < g && j < cap; j++) {
        if (v->is_str) snprintf(names[j], FA_NAME_LEN, "%s", u + j * es);
        else snprintf(names[j], FA_NAME_LEN, "%" PRId64, ((const int64_t *)(const void *)u)[j]);
    }
    free(u);
    return g;
}

// ----------------------------------------------------------------------------
// X, y, groups

/* X into out->x (n, d) as float32, every value finite; info's d, window shape, names */
static int read_x(H5In *in, hid_t file, Dataset *out, DataInfo *info) {
    int nd;
    hsize_t dims[3] = {0, 0, 0};
    H5T_class_t cls;
    hid_t d = open_dset(in, file, "X", "the inputs, [N][L][C] windows or [N][D] features", &nd,
                        dims, &cls);
    if (d < 0) return -1;
    int rc = 0;
    size_t n = (size_t)dims[0], L = nd == 3 ? (size_t)dims[1] : 0,
           C = nd == 3 ? (size_t)dims[2] : 0;
    size_t D = nd == 3 ? L * C : (size_t)dims[1];
    if (nd == 1)
        rc = h5in_fail(in, "X is 1-D; it must be [N][L][C] (windows) or [N][D] (features)");
    else if (cls != H5T_FLOAT)
        rc = h5in_fail(in, "X must be float32 or float64 (it holds %s)",
                       cls == H5T_INTEGER ? "integers" : "neither integers nor floats");
    else if (n < 1 || D < 1) rc = h5in_fail(in, "X is empty (%zu rows of %zu values)", n, D);
    else if (nd == 2 && D > FA_MAX_FEATURES)
        rc = h5in_fail(in, "X [N][D] has D = %zu features, at most %d (raw windows are [N][L][C])",
                       D, FA_MAX_FEATURES);
    else if (nd == 3 && C > FA_MAX_FEATURES)
        rc = h5in_fail(in, "X [N][L][C] has C = %zu channels, at most %d", C, FA_MAX_FEATURES);
    else if (nd == 3 && (L > FA_H5_MAX_ROW || D > FA_H5_MAX_ROW))
        rc = h5in_fail(in, "X rows of %zu x %zu values are too large (at most %d values a row)", L,
                       C, FA_H5_MAX_ROW);
    else if ((double)n * (double)D > (double)FA_H5_MAX_VALUES)
        rc = h5in_fail(in, "X holds %zu x %zu values, more than the limit of %llu (too large)", n,
                       D, (unsigned long long)FA_H5_MAX_VALUES);
    if (rc == 0) {
        dataset_alloc(out, n, D);
        if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->x) < 0)
            rc = h5in_fail(in, "X: cannot read its values");
        for (size_t i = 0; i < n * D && rc == 0; i++)
            if (!isfinite(out->x[i]))
                rc = h5in_fail(in, "X row %zu, value %zu is %s (only finite values are accepted%s)",
                               i / D, i % D, isnan(out->x[i]) ? "NaN" : "infinite",
                               isnan(out->x[i]) ? "" : "; float64 beyond float32's range is too");
    }
    if (rc == 0) {
        info->d = D;
        info->win_len = L;
        info->win_ch = C;
        size_t nn = datainfo_n_names(info);
        int got = read_name_attr(in, d, "X", nd == 3 ? "channel_names" : "feature_names", nn,
                                 info->feature_names);
        if (got < 0) rc = -1;
        for (size_t j = 0; j < nn && got == 0; j++)
            snprintf(info->feature_names[j], FA_NAME_LEN, "%s%zu", nd == 3 ? "ch" : "x", j);
    }
    H5Dclose(d);
    return rc;
}

/* y into out->y and the class names (info->k) */
static int read_y(H5In *in, hid_t file, Dataset *out, DataInfo *info) {
    Ids v;
    const size_t n = out->n;
    if (read_ids(in, file, "y", "the labels", n, &v) != 0) {
        ids_free(&v);
        return -1;
    }
    int rc = 0;
    hid_t d = H5Dopen2(file, "y", H5P_DEFAULT);
    bool named = d >= 0 && H5Aexists(d, "class_names") > 0;
    if (named && !v.is_str) { /* y are indices into y.class_names */
        hid_t a = H5Aopen(d, "class_names", H5P_DEFAULT);
        hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
        hssize_t k = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
        if (sp >= 0) H5Sclose(sp);
        if (a >= 0) H5Aclose(a);
        if (k < 2 || k > FA_MAX_CLASSES)
            rc = h5in_fail(in, "y.class_names has %lld names; 2 to %d classes are supported",
                           (long long)k, FA_MAX_CLASSES);
        else if (read_name_attr(in, d, "y", "class_names", (size_t)k, info->class_names) < 0)
            rc = -1;
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (v.iv[i] < 0 || v.iv[i] >= k)
                rc = h5in_fail(in,
                               "y row %zu is %" PRId64 ", out of range [0, %lld) of y.class_names",
                               i, v.iv[i], (long long)k);
            else out->y[i] = (int32_t)v.iv[i];
        }
        info->k = (size_t)k;
    } else {
        size_t k = ids_code(&v, out->y, info->class_names, FA_MAX_CLASSES);
        if (k < 2)
            rc = h5in_fail(in, "y holds %zu class%s; at least 2 are needed", k, k == 1 ? "" : "es");
        else if (k > FA_MAX_CLASSES)
            rc = h5in_fail(in, "y holds %zu distinct classes; at most %d are supported", k,
                           FA_MAX_CLASSES);
        info->k = k;
    }
    if (d >= 0) H5Dclose(d);
    ids_free(&v);
    return rc;
}

static int read_group(H5In *in, hid_t file, const char *name, size_t n, int32_t **group,
                      size_t *n_groups) {
    Ids v;
    char what[FA_NAME_LEN + 40];
    snprintf(what, sizeof what, "the client ids of --partition column:%s", name);
    int rc = read_ids(in, file, name, what, n, &v);
    if (rc == 0) {
        *group = xmalloc((n ? n : 1) * sizeof **group);
        *n_groups = ids_code(&v, *group, NULL, 0);
    }
    ids_free(&v);
    return rc;
}

// ----------------------------------------------------------------------------
// public

int h5data_parse(const char *path, const void *bytes, size_t len, const char *group_col,
                 Dataset *out, DataInfo *info, int32_t **group, size_t *n_groups, char *err,
                 size_t errlen) {
    H5In in = {path, err, errlen, false};
    memset(out, 0, sizeof *out);
    memset(info, 0, sizeof *info);
    if (group) *group = NULL;
    if (n_groups) *n_groups = 0;
    /* HDF5 prints an error stack for every failed call; the message here replaces it */
    H5E_auto2_t fn;
    void *data;
    H5Eget_auto2(H5E_DEFAULT, &fn, &data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), file = -1;
    if (fapl >= 0 && H5Pset_fapl_core(fapl, 1 << 16, 0) >= 0 &&
        H5Pset_file_image(fapl, (void *)(uintptr_t)bytes, len) >= 0)
        file = H5Fopen(FA_H5_IMAGE_NAME, H5F_ACC_RDONLY, fapl);
    int rc = 0;
    if (file < 0) rc = h5in_fail(&in, "not an HDF5 file (or a damaged one)");
    if (rc == 0) rc = read_x(&in, file, out, info);
    if (rc == 0) rc = read_y(&in, file, out, info);
    if (rc == 0 && group && group_col && group_col[0])
        rc = read_group(&in, file, group_col, out->n, group, n_groups);
    snprintf(info->name, sizeof info->name, "%s", "h5");
    if (file >= 0) H5Fclose(file);
    if (fapl >= 0) H5Pclose(fapl);
    H5Eset_auto2(H5E_DEFAULT, fn, data);
    if (rc != 0) {
        dataset_free(out);
        if (group) {
            free(*group);
            *group = NULL;
        }
    }
    return rc;
}
