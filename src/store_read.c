/*
 * store_read.c: the readers of a results or checkpoint file: command line, personal
 * models, method groups (one loop over the MethodResult field table, result.h) and the
 * /checkpoint state, all under the soft-read machinery at the end of this file, so a
 * damaged file gives -1 and a message on every rank instead of an abort. Collective
 * rules and helpers: store.c, store_internal.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/aggregate.h"
#include "fedalign/comm.h"
#include "fedalign/result.h"
#include "store_internal.h"

// ----------------------------------------------------------------------------
// command line, personal models

/* collective over MPI_COMM_WORLD */
static int read_cmdline_impl(StoreFile *f, char *buf, size_t cap, char *err, size_t errlen) {
    if (st_attr_get_str(f->file, "cmdline", buf, cap) != 0) {
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
        } else if (st_dset_dims(g, "personal_models", dims, 2) != 2 || dims[1] != n_params ||
                   client >= dims[0]) {
            snprintf(err, errlen,
                     "personal_models of %s is [%llu, %llu]: no client %zu with %zu parameters",
                     found, (unsigned long long)dims[0], (unsigned long long)dims[1], client,
                     n_params);
            rc = -1;
        } else {
            hid_t d = H5_ID(H5Dopen2(g, "personal_models", H5P_DEFAULT));
            st_dset_xfer_rows(d, H5T_NATIVE_FLOAT, &client, 1, n_params, params, false);
            H5_CHECK(H5Dclose(d));
        }
        H5_CHECK(H5Gclose(g));
    }
    H5_CHECK(H5Gclose(ms));
    return rc;
}
// ----------------------------------------------------------------------------
// shapes and global datasets

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
    int got = st_dset_dims(g, name, dims, 2);
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
    st_dset_read_global(d, mtype, buf);
    H5_CHECK(H5Dclose(d));
}

// ----------------------------------------------------------------------------
// methods

typedef struct {
    size_t R, C;
    const size_t *ids;
    size_t n, P, K;
} Extent;

/* elements of attribute `name` (1 for a scalar), -1 when absent */
static hssize_t attr_npoints(hid_t loc, const char *name) {
    if (H5_ID(H5Aexists(loc, name)) <= 0) return -1;
    hid_t a = H5_ID(H5Aopen(loc, name, H5P_DEFAULT));
    hid_t s = H5_ID(H5Aget_space(a));
    hssize_t np = H5Sget_simple_extent_npoints(s);
    H5_CHECK(H5Sclose(s));
    H5_CHECK(H5Aclose(a));
    return np;
}

/* An attribute field into p (its member's memory); -1 when missing or invalid. */
static int read_attr_field(hid_t g, const FaField *fd, void *p) {
    if (attr_npoints(g, fd->name) != (hssize_t)fd->count) return -1;
    int64_t v = 0;
    int8_t b = 0;
    char s[64] = "";
    switch (fd->type) {
    case FA_FT_F64: return st_attr_get(g, fd->name, H5T_NATIVE_DOUBLE, p);
    case FA_FT_SIZE:
        if (st_attr_get(g, fd->name, H5T_NATIVE_INT64, &v) != 0 || v < 0) return -1;
        *(size_t *)p = (size_t)v;
        return 0;
    case FA_FT_LONG:
        if (st_attr_get(g, fd->name, H5T_NATIVE_INT64, &v) != 0) return -1;
        *(long *)p = (long)v;
        return 0;
    case FA_FT_HEX:
        return st_attr_get_str(g, fd->name, s, sizeof s) == 0 && st_parse_hex(s, (uint64_t *)p)
                   ? 0
                   : -1;
    case FA_FT_BOOL:
        if (st_attr_get(g, fd->name, H5T_NATIVE_INT8, &b) != 0) return -1;
        *(bool *)p = b != 0;
        return 0;
    case FA_FT_STR: return st_attr_get_str(g, fd->name, p, fa_field_elem_size(fd));
    case FA_FT_METHOD:
        if (st_attr_get_str(g, fd->name, s, sizeof s) != 0) return -1;
        *(FaMethod *)p = FA_METHOD_COUNT; /* unknown name: kept as "unknown" */
        for (int m = 0; m < FA_METHOD_COUNT; m++)
            if (strcmp(s, fa_method_names[m]) == 0) *(FaMethod *)p = (FaMethod)m;
        return 0;
    default: return -1;
    }
}

/* the file shape of a dataset field: its rank, sizes in d */
static int field_file_dims(const FaField *fd, const Extent *e, hsize_t d[2]) {
    d[1] = 0;
    switch (fd->shape) {
    case FA_SHAPE_R1: d[0] = e->R + 1; return 1;
    case FA_SHAPE_R: d[0] = e->R; return 1;
    case FA_SHAPE_C: d[0] = e->C; return 1;
    case FA_SHAPE_P: d[0] = e->P; return 1;
    case FA_SHAPE_RC: d[0] = e->R, d[1] = e->C; return 2;
    case FA_SHAPE_TIMERS: d[0] = FA_T_COUNT, d[1] = 4; return 2;
    case FA_SHAPE_CP: d[0] = e->C, d[1] = e->P; return 2;
    case FA_SHAPE_K: d[0] = e->K; return 1;
    case FA_SHAPE_CK: d[0] = e->C, d[1] = e->K; return 2;
    case FA_SHAPE_KK: d[0] = e->K, d[1] = e->K; return 2;
    default: CHECK(0, "field %s: shape %d is not a dataset", fd->name, (int)fd->shape);
    }
    return 0;
}

static bool optional_absent(hid_t g, const FaField *fd) {
    return fd->shape == FA_SHAPE_CP && H5_ID(H5Lexists(g, fd->name, H5P_DEFAULT)) <= 0;
}

/* The hash store_write.c stored as the dataset's content_checksum, of what was read into
 * buf (the [T, 4] doubles for the timers); collective for the per-client shapes. */
static uint64_t field_sum(const FaField *fd, const Extent *e, const void *buf, size_t esz) {
    switch (fd->shape) {
    case FA_SHAPE_C: return st_clients_checksum(buf, esz, e->ids, e->n, 1, 1, 1);
    case FA_SHAPE_CP: return st_clients_checksum(buf, esz, e->ids, e->n, e->P, e->P, 1);
    case FA_SHAPE_CK: return st_clients_checksum(buf, esz, e->ids, e->n, e->K, e->K, 1);
    case FA_SHAPE_RC: return st_clients_checksum(buf, esz, e->ids, e->n, e->R, 1, e->n);
    default: {
        hsize_t d[2];
        int nd = field_file_dims(fd, e, d);
        return st_elems_hash(buf, (size_t)(nd == 2 ? d[0] * d[1] : d[0]), esz);
    }
    }
}

/* -1 and a message when dataset d (gname/name) lacks its content_checksum or does not
 * match it; the same verdict on every rank (the sum is global) */
static int check_content(hid_t d, const char *path, const char *gname, const char *name,
                         uint64_t sum, char *err, size_t errlen) {
    char hx[32] = "";
    uint64_t want = 0;
    if (st_attr_get_str(d, ST_CONTENT_CHECKSUM, hx, sizeof hx) != 0 || !st_parse_hex(hx, &want)) {
        snprintf(err, errlen,
                 "'%s': /methods/%s/%s has no valid " ST_CONTENT_CHECKSUM
                 " attribute (the file is damaged, or older than checksums of method data)",
                 path, gname, name);
        return -1;
    }
    if (want != sum) {
        snprintf(err, errlen,
                 "'%s': /methods/%s/%s does not match its checksum (the file is damaged)", path,
                 gname, name);
        return -1;
    }
    return 0;
}

/* A dataset field into res (allocated by fl_result_alloc; optional ones here), checked
 * against its content_checksum: -1 and a message on a mismatch. Collective. */
static int read_dset_field(hid_t g, const char *path, const char *gname, const FaField *fd,
                           MethodResult *res, const Extent *e, char *err, size_t errlen) {
    if (optional_absent(g, fd)) return 0;
    if (fd->shape == FA_SHAPE_CP) {
        size_t bytes = (e->n ? e->n : 1) * (e->P ? e->P : 1) * fa_field_elem_size(fd);
        *(void **)((char *)res + fd->offset) = xalloc_aligned(bytes);
    }
    void *p = fa_field_ptr(fd, res);
    const size_t len = fa_field_len(fd, e->R, e->n, e->P);
    const bool conv = fd->type == FA_FT_SIZE || fd->type == FA_FT_LONG;
    /* zeroed: a K-shaped field fills only its leading part, the rest stays padding */
    void *buf = conv ? xcalloc(len ? len : 1, sizeof(int64_t)) : p;
    double tt[FA_T_COUNT * 4];
    hid_t mt = st_field_mtype(fd);
    hid_t d = H5_ID(H5Dopen2(g, fd->name, H5P_DEFAULT));
    switch (fd->shape) {
    case FA_SHAPE_C: st_dset_xfer_rows(d, mt, e->ids, e->n, 0, buf, false); break;
    case FA_SHAPE_CP: st_dset_xfer_rows(d, mt, e->ids, e->n, e->P, buf, false); break;
    case FA_SHAPE_CK: st_dset_xfer_rows(d, mt, e->ids, e->n, e->K, buf, false); break;
    case FA_SHAPE_RC: st_dset_xfer_rc(d, mt, buf, e->R, e->ids, e->n, false); break;
    case FA_SHAPE_TIMERS:
        st_dset_read_global(d, H5T_NATIVE_DOUBLE, tt);
        for (size_t i = 0; i < FA_T_COUNT; i++)
            for (size_t s = 0; s < 4; s++) ((double *)p)[s * FA_T_COUNT + i] = tt[i * 4 + s];
        break;
    default: st_dset_read_global(d, mt, buf); break;
    }
    const uint64_t sum = fd->shape == FA_SHAPE_TIMERS
                             ? st_elems_hash(tt, FA_T_COUNT * 4, sizeof tt[0])
                             : field_sum(fd, e, buf, H5Tget_size(mt));
    int rc = check_content(d, path, gname, fd->name, sum, err, errlen);
    H5_CHECK(H5Dclose(d));
    for (size_t i = 0; conv && i < len; i++) {
        int64_t v = ((const int64_t *)buf)[i];
        if (fd->type == FA_FT_SIZE) ((size_t *)p)[i] = (size_t)v;
        else ((long *)p)[i] = (long)v;
    }
    if (conv) free(buf);
    return rc;
}

/* The attributes of group g into tmp, then every dataset's shape; -1 and a message on
 * the first problem. */
static int check_method(hid_t g, const char *gname, MethodResult *tmp, Extent *e, char *err,
                        size_t errlen) {
    for (size_t k = 0; k < fa_result_nfields; k++) {
        const FaField *fd = &fa_result_fields[k];
        if (fd->shape != FA_SHAPE_ATTR) continue;
        if (read_attr_field(g, fd, (char *)tmp + fd->offset) != 0) {
            snprintf(err, errlen, "method group '%s': attribute '%s' missing or invalid", gname,
                     fd->name);
            return -1;
        }
    }
    e->R = tmp->rounds;
    e->K = tmp->n_classes;
    if (e->K > FA_MAX_CLASSES) {
        snprintf(err, errlen, "method group '%s': %zu classes (at most %d)", gname, e->K,
                 FA_MAX_CLASSES);
        return -1;
    }
    for (size_t k = 0; k < fa_result_nfields; k++) {
        const FaField *fd = &fa_result_fields[k];
        if (fd->shape == FA_SHAPE_ATTR || optional_absent(g, fd)) continue;
        hsize_t d[2];
        int nd = field_file_dims(fd, e, d);
        if (expect_dims(g, gname, fd->name, nd, d[0], d[1], err, errlen) != 0) return -1;
    }
    return 0;
}

/* collective over MPI_COMM_WORLD. Every attribute and shape is checked before anything
 * is allocated, and a dataset that does not match its checksum frees what was, so on -1
 * res is left zeroed (nothing to free). */
static int read_method_impl(StoreFile *f, size_t index, MethodResult *res, size_t n_clients,
                            const size_t *ids, size_t n_local, size_t n_params, char *err,
                            size_t errlen) {
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
    Extent e = {0, n_clients, ids, n_local, n_params, 0};
    MethodResult tmp; /* the attributes, before res is allocated */
    memset(&tmp, 0, sizeof tmp);
    int rc = check_method(g, fc.found, &tmp, &e, err, errlen);
    if (rc == 0) {
        fl_result_alloc(res, e.R, n_local, n_params);
        for (size_t k = 0; k < fa_result_nfields; k++) {
            const FaField *fd = &fa_result_fields[k];
            if (fd->shape == FA_SHAPE_ATTR)
                memcpy((char *)res + fd->offset, (char *)&tmp + fd->offset,
                       fa_field_elem_size(fd) * fd->count);
            else if (rc == 0) rc = read_dset_field(g, f->path, fc.found, fd, res, &e, err, errlen);
        }
        if (rc != 0) {
            fl_result_free(res);
            memset(res, 0, sizeof *res);
        }
    }
    H5_CHECK(H5Gclose(g));
    H5_CHECK(H5Gclose(methods));
    return rc;
}

// ----------------------------------------------------------------------------
// checkpoint state

/* rounds and rounds_done of the method group with index `mi` ("NN_<name>"); -1 when
 * there is none */
static int method_rounds(hid_t file, size_t mi, int64_t *rounds, int64_t *done) {
    if (H5_ID(H5Lexists(file, "methods", H5P_DEFAULT)) <= 0) return -1;
    hid_t ms = H5_ID(H5Gopen2(file, "methods", H5P_DEFAULT));
    H5G_info_t gi;
    H5_CHECK(H5Gget_info(ms, &gi));
    char name[256], prefix[32];
    snprintf(prefix, sizeof prefix, "%02zu_", mi);
    int rc = -1;
    for (hsize_t i = 0; i < gi.nlinks && rc != 0; i++) {
        H5_CHECK(H5Lget_name_by_idx(ms, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                                    H5P_DEFAULT));
        if (strncmp(name, prefix, strlen(prefix)) != 0) continue;
        hid_t g = H5_ID(H5Gopen2(ms, name, H5P_DEFAULT));
        if (st_attr_get(g, "rounds", H5T_NATIVE_INT64, rounds) == 0 &&
            st_attr_get(g, "rounds_done", H5T_NATIVE_INT64, done) == 0)
            rc = 0;
        H5_CHECK(H5Gclose(g));
    }
    H5_CHECK(H5Gclose(ms));
    return rc;
}

/* The scalars must describe a place a run can continue from (fl.c writes checkpoints at
 * phase boundaries with round 0, after phase-2 round r with round = rounds_done = r + 1
 * < rounds, before phase 3 with round = rounds, and after a method with phase 4). A
 * checksum only proves the file is as written; this catches what no writer produces.
 * Returns NULL when consistent, or what is wrong. */
static const char *state_range_error(hid_t file, int64_t nm, int64_t mi, int32_t ph, int64_t rd,
                                     int8_t hf) {
    if (nm < 1) return "n_methods < 1";
    if (mi < 0 || mi >= nm) return "method_index is not below n_methods";
    if (ph < 0 || ph > 4) return "phase is not 0..4";
    if (hf != 0 && hf != 1) return "have_foundation is not 0 or 1";
    if (rd < 0) return "round is negative";
    if (ph == 4) return NULL; /* the completed method's round is not used */
    int64_t R = 0, done = 0;
    if (method_rounds(file, (size_t)mi, &R, &done) != 0)
        return "no method group (with rounds, rounds_done) for method_index";
    if (R < 0 || done < 0 || done > R) return "the method group's rounds_done is not 0..rounds";
    if (ph < 2 && (rd != 0 || done != 0)) return "round or rounds_done is not 0 before phase 2";
    if (ph == 2 && (rd != done || (rd >= R && rd != 0))) return "round does not match rounds_done";
    if (ph == 3 && (rd != R || done != R)) return "round is not rounds before phase 3";
    return NULL;
}

/* collective over MPI_COMM_WORLD */
/* The method's state in /checkpoint (store_write_state), when the file has it: the server
 * state into st->server (at most server_cap doubles, checked against its checksum) and
 * the client rows into st->client. */
static int read_method_state(StoreFile *f, hid_t g, CheckpointState *st, size_t n_params, char *err,
                             size_t errlen) {
    st->server_len = 0;
    st->client_found = false;
    hsize_t d[2] = {0, 0};
    if (H5_ID(H5Lexists(g, "server_state", H5P_DEFAULT)) > 0) {
        char hx[32] = "";
        uint64_t want = 0;
        if (st_dset_dims(g, "server_state", d, 2) != 1 || d[0] > st->server_cap || !st->server) {
            snprintf(err, errlen,
                     "damaged checkpoint '%s': /checkpoint/server_state has the "
                     "wrong shape",
                     f->path);
            return -1;
        }
        read_named(g, "server_state", H5T_NATIVE_DOUBLE, st->server);
        if (st_attr_get_str(g, "server_state_checksum", hx, sizeof hx) != 0 ||
            !st_parse_hex(hx, &want) || want != st_server_hash(st->server, (size_t)d[0])) {
            snprintf(err, errlen,
                     "'%s': /checkpoint/server_state does not match its checksum "
                     "(the file is damaged)",
                     f->path);
            return -1;
        }
        st->server_len = (size_t)d[0];
    }
    if (H5_ID(H5Lexists(g, "client_state", H5P_DEFAULT)) > 0) {
        if (!st->client) {
            snprintf(err, errlen, "checkpoint '%s' holds client state this run has no room for",
                     f->path);
            return -1;
        }
        if (expect_dims(g, "checkpoint", "client_state", 2, st->n_clients, n_params, err, errlen) !=
            0)
            return -1;
        hid_t ds = H5_ID(H5Dopen2(g, "client_state", H5P_DEFAULT));
        st_dset_xfer_rows(ds, H5T_NATIVE_FLOAT, st->ids, st->n_local, n_params, st->client,
                          false);
        H5_CHECK(H5Dclose(ds));
        /* each rank hashes its rows; the sum over ranks is the writer's at any rank count */
        char hx[32] = "";
        uint64_t want = 0;
        const uint64_t got = st_clients_checksum(st->client, sizeof(float), st->ids, st->n_local,
                                                 n_params, n_params, 1);
        if (st_attr_get_str(g, "client_state_checksum", hx, sizeof hx) != 0 ||
            !st_parse_hex(hx, &want) || want != got) {
            snprintf(err, errlen,
                     "'%s': /checkpoint/client_state does not match its checksum "
                     "(the file is damaged)",
                     f->path);
            return -1;
        }
        st->client_found = true;
    }
    return 0;
}

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
    if (rc == 0 && (st_attr_get_str(g, "config_hash", hex, sizeof hex) != 0 ||
                    !st_parse_hex(hex, &st->config_hash) ||
                    st_attr_get(g, "n_methods", H5T_NATIVE_INT64, &nm) != 0 ||
                    st_attr_get(g, "method_index", H5T_NATIVE_INT64, &mi) != 0 ||
                    st_attr_get(g, "phase", H5T_NATIVE_INT32, &ph) != 0 ||
                    st_attr_get(g, "round", H5T_NATIVE_INT64, &rd) != 0 ||
                    st_attr_get(g, "have_foundation", H5T_NATIVE_INT8, &hf) != 0 ||
                    st_attr_get(g, "acc_public", H5T_NATIVE_DOUBLE, &st->acc_public) != 0)) {
        snprintf(err, errlen, "damaged checkpoint '%s': /checkpoint attributes missing or invalid",
                 f->path);
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
        uint64_t sums[3];
        for (int k = 0; k < 3; k++) {
            float *b = bufs[k];
            if (!b)
                b = scratch ? scratch
                            : (scratch = xmalloc((n_params ? n_params : 1) * sizeof(float)));
            read_named(g, names[k], H5T_NATIVE_FLOAT, b);
            char an[32], hx[32] = "";
            uint64_t want = 0;
            snprintf(an, sizeof an, "%s_checksum", names[k]);
            sums[k] = fa_checksum(b, n_params);
            if (rc == 0 && (st_attr_get_str(g, an, hx, sizeof hx) != 0 ||
                            !st_parse_hex(hx, &want) || want != sums[k])) {
                snprintf(err, errlen,
                         "'%s': /checkpoint/%s does not match its checksum (the file is damaged)",
                         f->path, names[k]);
                rc = -1;
            }
        }
        free(scratch);
        uint64_t want = 0;
        if (rc == 0 && (st_attr_get_str(g, "state_checksum", hex, sizeof hex) != 0 ||
                        !st_parse_hex(hex, &want) || want != st_state_hash(st, sums))) {
            snprintf(err, errlen,
                     "damaged checkpoint '%s': the /checkpoint attributes do not match their "
                     "state_checksum (edited or damaged)",
                     f->path);
            rc = -1;
        }
    }
    const char *why = rc == 0 ? state_range_error(f->file, nm, mi, ph, rd, hf) : NULL;
    if (why) {
        snprintf(err, errlen,
                 "damaged checkpoint '%s': %s (method_index %lld of %lld, phase %d, "
                 "round %lld)",
                 f->path, why, (long long)mi, (long long)nm, (int)ph, (long long)rd);
        rc = -1;
    }
    if (rc == 0) rc = read_method_state(f, g, st, n_params, err, errlen);
    H5_CHECK(H5Gclose(g));
    return rc;
}

// ----------------------------------------------------------------------------
// readers of files that may be damaged: HDF5 failures become an error return

/* Close every object left open in f by a reader that jumped out (so H5Fclose works). */
static void soft_close_open(StoreFile *f) {
    unsigned types =
        H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR | H5F_OBJ_LOCAL;
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
    sf->prev = st_g_soft_jmp;
    H5_CHECK(H5Eget_auto2(H5E_DEFAULT, &sf->fn, &sf->data));
    H5_CHECK(H5Eset_auto2(H5E_DEFAULT, NULL, NULL));
    st_g_soft_jmp = jb;
}

/* after the reader returned rc (or jumped out: jumped); collective: the ranks agree */
static int soft_leave(Soft *sf, StoreFile *f, int rc, bool jumped, char *err, size_t errlen) {
    if (jumped) {
        soft_close_open(f);
        snprintf(err, errlen, "'%s' is damaged or incomplete (HDF5 call failed: %s)", f->path,
                 st_g_soft_call);
        rc = -1;
    }
    st_g_soft_jmp = sf->prev;
    H5_CHECK(H5Eset_auto2(H5E_DEFAULT, sf->fn, sf->data));
    if (comm_any(rc != 0)) {
        if (rc == 0) snprintf(err, errlen, "'%s' could not be read on every rank", f->path);
        return -1;
    }
    return 0;
}

/* Run reader(ctx, err, errlen) with HDF5 failures turned into a -1 return. */
int st_soft_read(StoreFile *f, SoftReader reader, void *ctx, char *err, size_t errlen) {
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
    return st_soft_read(f, cmdline_thunk, &a, err, errlen);
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
    return st_soft_read(f, personal_thunk, &a, err, errlen);
}

typedef struct {
    size_t index, n_clients;
    const size_t *ids;
    size_t n_local, n_params;
    MethodResult *res;
} MethodArgs;
static int method_thunk(StoreFile *f, void *ctx, char *err, size_t errlen) {
    MethodArgs *a = ctx;
    return read_method_impl(f, a->index, a->res, a->n_clients, a->ids, a->n_local, a->n_params, err,
                            errlen);
}
/* collective over MPI_COMM_WORLD */
int store_read_method(StoreFile *f, size_t index, MethodResult *res, size_t n_clients,
                      const size_t *ids, size_t n_local, size_t n_params, char *err,
                      size_t errlen) {
    MethodArgs a = {index, n_clients, ids, n_local, n_params, res};
    return st_soft_read(f, method_thunk, &a, err, errlen);
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
int store_read_state(StoreFile *f, CheckpointState *st, size_t n_params, char *err, size_t errlen) {
    StateArgs a = {st, n_params};
    return st_soft_read(f, state_thunk, &a, err, errlen);
}

// ----------------------------------------------------------------------------
// data hash

typedef struct {
    uint64_t *hash;
    bool *found;
} DataHashArgs;
static int data_hash_thunk(StoreFile *f, void *ctx, char *err, size_t errlen) {
    DataHashArgs *a = ctx;
    char hex[32] = "";
    *a->found = st_attr_get_str(f->file, "data_hash", hex, sizeof hex) == 0;
    if (*a->found && !st_parse_hex(hex, a->hash)) {
        snprintf(err, errlen, "'%s': root attribute data_hash is not a hex number", f->path);
        return -1;
    }
    return 0;
}
/* collective over MPI_COMM_WORLD */
int store_read_data_hash(StoreFile *f, uint64_t *hash, bool *found, char *err, size_t errlen) {
    DataHashArgs a = {hash, found};
    return st_soft_read(f, data_hash_thunk, &a, err, errlen);
}
