/*
 * store_write.c: the writers of a results file: /clients, the method groups (one loop
 * over the MethodResult field table, result.h) and the /checkpoint state. Collective
 * rules and helpers: store.c, store_internal.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/aggregate.h"
#include "fedalign/comm.h"
#include "fedalign/provenance.h"
#include "fedalign/result.h"
#include "fedalign/rng.h"
#include "store_internal.h"

// C = clients, R = phase-2 rounds, K = classes, P = parameters, T = FA_T_COUNT timers,
// n = this rank's clients, global ids ids[0..n) ascending (any assignment to ranks).

// ----------------------------------------------------------------------------
// clients

/* collective over MPI_COMM_WORLD */
void store_write_clients(StoreFile *f, const FedData *fd, int rank) {
    const size_t C = fd->n_clients, K = fd->info.k, n = fd->n_local;
    hid_t g = st_group_open_or_create(f->file, "clients");
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
    st_put_rows(g, "label_hist", H5T_STD_I64LE, H5T_NATIVE_INT64, C, K, "client,class", NULL,
                fd->ids, n, hist);
    st_put_rows(g, "n_train", H5T_STD_I64LE, H5T_NATIVE_INT64, C, 0, "client", NULL, fd->ids, n,
                cnt);
    st_put_rows(g, "n_val", H5T_STD_I64LE, H5T_NATIVE_INT64, C, 0, "client", NULL, fd->ids, n,
                cnt + n);
    st_put_rows(g, "n_test", H5T_STD_I64LE, H5T_NATIVE_INT64, C, 0, "client", NULL, fd->ids, n,
                cnt + 2 * n);
    st_put_rows(g, "rank", H5T_STD_I32LE, H5T_NATIVE_INT32, C, 0, "client", NULL, fd->ids, n, rk);
    free(rk);
    free(cnt);
    free(hist);
    st_attach_scales(g);
    H5_CHECK(H5Gclose(g));
}

// ----------------------------------------------------------------------------
// methods

typedef struct {
    size_t R, C;
    const size_t *ids;
    size_t n, P, K;
} Extent;

/* The table itself, as /methods attribute method_fields: a 1-D compound of strings
 * (name, shape, type, unit, doc), so readers take the field list from the file. The
 * values are the compiled-in table, identical on every rank. */
static void write_field_list(hid_t loc) {
    const size_t F = fa_result_nfields;
    char(*shape)[32] = xcalloc(F, sizeof *shape);
    size_t w[5] = {1, 1, 1, 1, 1};
    for (size_t k = 0; k < F; k++) {
        const FaField *fd = &fa_result_fields[k];
        if (fd->shape == FA_SHAPE_ATTR && fd->count > 1)
            snprintf(shape[k], sizeof shape[k], "attr[%zu]", fd->count);
        else snprintf(shape[k], sizeof shape[k], "%s", fa_shape_names[fd->shape]);
        const char *col[5] = {fd->name, shape[k], fa_type_names[fd->type], fa_unit_names[fd->unit],
                              fd->doc};
        for (int c = 0; c < 5; c++)
            if (strlen(col[c]) + 1 > w[c]) w[c] = strlen(col[c]) + 1;
    }
    static const char *const cols[5] = {"name", "shape", "type", "unit", "doc"};
    size_t off[5], rec = 0;
    hid_t st[5];
    for (int c = 0; c < 5; c++) {
        off[c] = rec;
        rec += w[c];
        st[c] = st_str_type(w[c]);
    }
    hid_t ct = H5_ID(H5Tcreate(H5T_COMPOUND, rec));
    for (int c = 0; c < 5; c++) H5_CHECK(H5Tinsert(ct, cols[c], off[c], st[c]));
    char *buf = xcalloc(F * rec, 1);
    for (size_t k = 0; k < F; k++) {
        const FaField *fd = &fa_result_fields[k];
        const char *col[5] = {fd->name, shape[k], fa_type_names[fd->type], fa_unit_names[fd->unit],
                              fd->doc};
        for (int c = 0; c < 5; c++) memcpy(buf + k * rec + off[c], col[c], strlen(col[c]));
    }
    st_attr_put(loc, "method_fields", ct, ct, 1, F, buf);
    free(buf);
    H5_CHECK(H5Tclose(ct));
    for (int c = 0; c < 5; c++) H5_CHECK(H5Tclose(st[c]));
    free(shape);
}

static void method_group_name(size_t index, const char *name, char *out, size_t cap) {
    int k = snprintf(out, cap, "%02zu_%s", index, name);
    CHECK(k >= 0 && (size_t)k < cap, "method group name too long");
    for (char *p = out; *p; p++)
        if (*p == '/') *p = '_'; /* '/' would be a path separator; '+' and '@' are kept */
}

/* an attribute field: rank 0's value */
static void write_attr_field(hid_t g, const FaField *fd, const void *p) {
    CHECK(fd->count == 1 || fd->type == FA_FT_F64, "field %s: only float64 attribute arrays",
          fd->name);
    switch (fd->type) {
    case FA_FT_F64:
        if (fd->count == 1) st_attr_f64(g, fd->name, *(const double *)p);
        else st_attr_f64s(g, fd->name, p, fd->count);
        break;
    case FA_FT_SIZE: st_attr_i64(g, fd->name, (int64_t) * (const size_t *)p); break;
    case FA_FT_LONG: st_attr_i64(g, fd->name, (int64_t) * (const long *)p); break;
    case FA_FT_HEX: st_attr_hex(g, fd->name, *(const uint64_t *)p); break;
    case FA_FT_BOOL: st_attr_bool(g, fd->name, *(const bool *)p); break;
    case FA_FT_STR: st_attr_str(g, fd->name, p); break;
    case FA_FT_METHOD: {
        FaMethod m = *(const FaMethod *)p;
        st_attr_str(g, fd->name, (unsigned)m < FA_METHOD_COUNT ? fa_method_names[m] : "unknown");
        break;
    }
    default: CHECK(0, "field %s: type %d has no attribute form", fd->name, (int)fd->type);
    }
}

/* size_t and long arrays travel as int64: a converted copy (NULL for float types) */
static int64_t *as_i64(const FaField *fd, const void *p, size_t len) {
    if (fd->type != FA_FT_SIZE && fd->type != FA_FT_LONG) return NULL;
    int64_t *b = xmalloc((len ? len : 1) * sizeof(int64_t));
    for (size_t i = 0; i < len; i++)
        b[i] = fd->type == FA_FT_SIZE ? (int64_t)((const size_t *)p)[i]
                                      : (int64_t)((const long *)p)[i];
    return b;
}

/* timers [T, 4] from tmin, tavg, tmax, tspan (adjacent [4][T] in memory); returns the
 * hash of the [T, 4] doubles as stored */
static uint64_t write_timers(hid_t g, const FaField *fd, const double *t4) {
    double tt[FA_T_COUNT * 4];
    for (size_t i = 0; i < FA_T_COUNT; i++)
        for (size_t s = 0; s < 4; s++) tt[i * 4 + s] = t4[s * FA_T_COUNT + i];
    hsize_t dt[2] = {FA_T_COUNT, 4};
    hid_t d =
        st_dset_create(g, fd->name, H5T_IEEE_F64LE, 2, dt, st_field_dims(fd), st_field_units(fd));
    char names[FA_T_COUNT][FA_NAME_LEN];
    for (size_t i = 0; i < FA_T_COUNT; i++)
        snprintf(names[i], FA_NAME_LEN, "%s", fa_timer_names[i]);
    st_attr_strs(d, "names", (const char(*)[FA_NAME_LEN])names, FA_T_COUNT);
    st_attr_str(d, "columns", "min,avg,max,span");
    st_dset_write_global(d, H5T_NATIVE_DOUBLE, tt);
    H5_CHECK(H5Dclose(d));
    return st_elems_hash(tt, FA_T_COUNT * 4, sizeof(double));
}

/* The content_checksum attribute of dataset `name` in g (rank 0's value; the per-client
 * checksums are the same on every rank). */
static void put_content_checksum(hid_t g, const char *name, uint64_t sum) {
    hid_t d = H5_ID(H5Dopen2(g, name, H5P_DEFAULT));
    st_attr_hex(d, ST_CONTENT_CHECKSUM, sum);
    H5_CHECK(H5Dclose(d));
}

/* A dataset field: global ones are rank 0's, per-client rows each owner's. Each gets a
 * content_checksum attribute (the same hash store_read.c recomputes), so a resume
 * refuses a checkpoint whose method data were damaged: the per-client ones with
 * st_clients_checksum, so a checkpoint verifies at any rank count and assignment. */
static void write_dset_field(hid_t g, const FaField *fd, const MethodResult *res, const Extent *e) {
    const void *p = fa_field_cptr(fd, res);
    const char *dims = st_field_dims(fd), *units = st_field_units(fd);
    const hid_t ft = st_field_ftype(fd), mt = st_field_mtype(fd);
    const size_t esz = H5Tget_size(mt), n = e->n;
    int64_t *conv = p ? as_i64(fd, p, fa_field_len(fd, e->R, e->n, e->P)) : NULL;
    const void *buf = conv ? (const void *)conv : p;
    uint64_t sum = 0;
    switch (fd->shape) {
    case FA_SHAPE_R1:
    case FA_SHAPE_R:
    case FA_SHAPE_P: {
        hsize_t d[1] = {fa_field_len(fd, e->R, 0, e->P)};
        st_put_global(g, fd->name, ft, mt, 1, d, dims, units, buf);
        sum = st_elems_hash(buf, d[0], esz);
        break;
    }
    case FA_SHAPE_C:
        st_put_rows(g, fd->name, ft, mt, e->C, 0, dims, units, e->ids, n, buf);
        sum = st_clients_checksum(buf, esz, e->ids, n, 1, 1, 1);
        break;
    case FA_SHAPE_RC: {
        hsize_t d[2] = {e->R, e->C};
        hid_t ds = st_dset_create(g, fd->name, ft, 2, d, dims, units);
        st_dset_xfer_rc(ds, mt, (void *)buf, e->R, e->ids, n, true);
        H5_CHECK(H5Dclose(ds));
        sum = st_clients_checksum(buf, esz, e->ids, n, e->R, 1, n);
        break;
    }
    case FA_SHAPE_TIMERS: sum = write_timers(g, fd, p); break;
    case FA_SHAPE_K:
    case FA_SHAPE_KK: { /* the leading K (K * K) elements of the in-memory array */
        hsize_t d[2] = {e->K, e->K};
        st_put_global(g, fd->name, ft, mt, fd->shape == FA_SHAPE_K ? 1 : 2, d, dims, units, buf);
        sum = st_elems_hash(buf, fd->shape == FA_SHAPE_K ? e->K : e->K * e->K, esz);
        break;
    }
    case FA_SHAPE_CK:
        st_put_rows(g, fd->name, ft, mt, e->C, e->K, dims, units, e->ids, n, buf);
        sum = st_clients_checksum(buf, esz, e->ids, n, e->K, e->K, 1);
        break;
    case FA_SHAPE_CP:
        /* optional: all ranks must agree whether it exists; any rank holding it decides */
        if (!comm_any(p != NULL)) {
            free(conv);
            return;
        }
        static const float none[1];
        st_put_rows(g, fd->name, ft, mt, e->C, e->P, dims, units, e->ids, n, p ? p : none);
        sum = st_clients_checksum(p, esz, e->ids, p ? n : 0, e->P, e->P, 1);
        break;
    default: CHECK(0, "field %s: shape %d is not a dataset", fd->name, (int)fd->shape);
    }
    put_content_checksum(g, fd->name, sum);
    free(conv);
}

/* Provenance (root attributes, docs/results-format.md 2.1): where the ranks ran, the
 * binding and Slurm ids as env.<NAME> when set, and the build and library facts of
 * provenance_visit. With local (a bench file, written by rank 0 alone) the values are
 * written as they are; otherwise rank 0's are broadcast first (collective). The
 * placement is the same on every rank, so the "when set" test agrees and the collective
 * writes match. */
typedef struct {
    hid_t loc;
    bool local;
} ProvCtx;

static void prov_str(const ProvCtx *pc, const char *name, const char *value) {
    if (!pc->local) {
        st_attr_str(pc->loc, name, value);
        return;
    }
    hid_t t = st_str_type(strlen(value) + 1);
    st_attr_put(pc->loc, name, t, t, 0, 0, value);
    H5_CHECK(H5Tclose(t));
}

static void prov_i32(const ProvCtx *pc, const char *name, int32_t v) {
    if (pc->local) st_attr_put(pc->loc, name, H5T_STD_I32LE, H5T_NATIVE_INT32, 0, 0, &v);
    else st_attr_i32(pc->loc, name, v);
}

static void prov_visit(void *ctx, const char *key, const char *text, const int64_t *ival) {
    if (ival) prov_i32(ctx, key, (int32_t)*ival);
    else prov_str(ctx, key, text);
}

void st_write_provenance(hid_t root, bool local) {
    const ProvCtx pc = {root, local};
    const CommPlacement *p = comm_placement();
    prov_i32(&pc, "n_nodes", (int32_t)p->nodes);
    prov_i32(&pc, "ranks_per_node", (int32_t)p->ranks_per_node);
    prov_str(&pc, "hostnames", p->hosts);
    for (int i = 0; i < FA_PLACE_ENV; i++) {
        char name[64];
        snprintf(name, sizeof name, "env.%s", comm_place_env_names[i]);
        if (p->env[i][0]) prov_str(&pc, name, p->env[i]);
    }
    provenance_visit(prov_visit, (void *)&pc);
}

/* collective over MPI_COMM_WORLD */
void store_write_method(StoreFile *f, size_t index, const MethodResult *res, size_t n_clients,
                        const size_t *ids, size_t n_local, size_t n_params) {
    const Extent e = {res->rounds, n_clients, ids, n_local, n_params, res->n_classes};
    hid_t methods = st_group_open_or_create(f->file, "methods");
    write_field_list(methods);
    char gname[96];
    method_group_name(index, res->spec.name, gname, sizeof gname);
    hid_t g = st_group_replace(methods, gname);
    st_attr_i64(g, "index", (int64_t)index);
    for (size_t k = 0; k < fa_result_nfields; k++) {
        const FaField *fd = &fa_result_fields[k];
        if (fd->shape == FA_SHAPE_ATTR) write_attr_field(g, fd, fa_field_cptr(fd, res));
        else write_dset_field(g, fd, res, &e);
    }
    st_attach_scales(g);
    H5_CHECK(H5Gclose(g));
    H5_CHECK(H5Gclose(methods));
}

// ----------------------------------------------------------------------------
// checkpoint state

/* Hash of every /checkpoint scalar and the three vector checksums (local). */
uint64_t st_state_hash(const CheckpointState *st, const uint64_t vec_sums[3]) {
    double ap = st->acc_public;
    uint64_t apbits;
    memcpy(&apbits, &ap, sizeof apbits);
    const uint64_t v[10] = {st->config_hash,
                            (uint64_t)st->n_methods,
                            (uint64_t)st->method_index,
                            (uint64_t)(int64_t)st->phase,
                            (uint64_t)st->round,
                            st->have_foundation ? 1u : 0u,
                            apbits,
                            vec_sums[0],
                            vec_sums[1],
                            vec_sums[2]};
    uint64_t h = 0x6a09e667f3bcc909ull;
    for (int k = 0; k < 10; k++) h = rng_mix64(h ^ v[k]);
    return h;
}

/* collective over MPI_COMM_WORLD */
void store_write_state(StoreFile *f, const CheckpointState *st, size_t n_params) {
    const size_t P = n_params;
    hid_t g = st_group_replace(f->file, "checkpoint");
    st_attr_hex(g, "config_hash", st->config_hash);
    st_attr_i64(g, "n_methods", (int64_t)st->n_methods);
    st_attr_i64(g, "method_index", (int64_t)st->method_index);
    st_attr_i32(g, "phase", (int32_t)st->phase);
    st_attr_i64(g, "round", (int64_t)st->round);
    st_attr_bool(g, "have_foundation", st->have_foundation);
    st_attr_f64(g, "acc_public", st->acc_public);
    float *zeros = NULL; /* a NULL buffer is stored as zeros */
    const char *names[3] = {"global", "prev", "foundation"};
    const float *bufs[3] = {st->global, st->prev, st->foundation};
    uint64_t sums[3];
    hsize_t dp[1] = {P};
    for (int k = 0; k < 3; k++) {
        const float *b = bufs[k];
        if (!b) b = zeros ? zeros : (zeros = xcalloc(P ? P : 1, sizeof(float)));
        st_put_global(g, names[k], H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, dp, "param", NULL, b);
        /* HDF5 has no checksum on raw data: keep one so a damaged model is caught */
        char an[32];
        snprintf(an, sizeof an, "%s_checksum", names[k]);
        sums[k] = fa_checksum(b, P);
        st_attr_hex(g, an, sums[k]);
    }
    free(zeros);
    /* the scalars decide where a resume continues: an edited round or method_index
     * must read as damage, not resume somewhere else (st_attr_hex stores rank 0's hash,
     * of rank 0's values, like every attribute above) */
    st_attr_hex(g, "state_checksum", st_state_hash(st, sums));
    /* the method's own state: server moments or c (rank 0's, broadcast by fl_checkpoint),
     * and the clients' control variates, each rank its rows */
    if (st->server_len) {
        hsize_t ds[1] = {st->server_len};
        st_put_global(g, "server_state", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, ds, "value", NULL,
                      st->server);
        st_attr_hex(g, "server_state_checksum", st_server_hash(st->server, st->server_len));
    }
    if (st->client) {
        st_put_rows(g, "client_state", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, st->n_clients, P,
                    "client,param", NULL, st->ids, st->n_local, st->client);
        /* order-free over clients, so a checkpoint written at -n 2 verifies at -n 3 */
        st_attr_hex(g, "client_state_checksum",
                    st_clients_checksum(st->client, sizeof(float), st->ids, st->n_local, P, P, 1));
    }
    st_attach_scales(g);
    H5_CHECK(H5Gclose(g));
}

uint64_t st_server_hash(const double *v, size_t n) {
    uint64_t h = 0x243f6a8885a308d3ULL;
    for (size_t i = 0; i < n; i++) {
        uint64_t b;
        memcpy(&b, &v[i], sizeof b);
        h = rng_mix64(h ^ b);
    }
    return h;
}

// ----------------------------------------------------------------------------
// checksums of arrays (HDF5 keeps none of raw data)

/* an element's bytes as a word (esz <= 8; the same layout on writer and reader) */
static inline uint64_t elem_word(const unsigned char *p, size_t esz) {
    uint64_t w = 0;
    memcpy(&w, p, esz);
    return w;
}

uint64_t st_elems_hash(const void *buf, size_t n, size_t esz) {
    CHECK(esz >= 1 && esz <= 8, "st_elems_hash: element size %zu", esz);
    const unsigned char *p = buf;
    uint64_t h = rng_mix64(0x13198a2e03707344ULL ^ (uint64_t)n);
    for (size_t i = 0; i < n; i++) h = rng_mix64(h ^ elem_word(p + i * esz, esz));
    return h;
}

/* collective over MPI_COMM_WORLD (one Allreduce); the wrapping sum makes the result
 * independent of the order and grouping of the clients */
uint64_t st_clients_checksum(const void *buf, size_t esz, const size_t *ids, size_t n, size_t per,
                             size_t a, size_t b) {
    CHECK(esz >= 1 && esz <= 8, "st_clients_checksum: element size %zu", esz);
    const unsigned char *p = buf;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = rng_mix64(0xa4093822299f31d0ULL ^ (uint64_t)ids[i]);
        for (size_t k = 0; k < per; k++)
            h = rng_mix64(h ^ elem_word(p + (i * a + k * b) * esz, esz));
        sum += h;
    }
    comm_allreduce_sum_u64(&sum, 1);
    return sum;
}
