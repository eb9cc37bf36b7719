/*
 * test_store.c: the results file (store.c) under mpiexec -n 1..4 (plain C, no cmocka).
 *
 * 1. Real pipeline: preset tiny with 5 clients (uneven blocks at -n 2..4), one method
 *    from the config, written with store_write_run/clients/method/state to a temporary
 *    name, renamed by store_finish, reopened and read back: every MethodResult field
 *    and the checkpoint state must come back bit for bit (global arrays are rank 0's,
 *    per-client rows the owner's). Rank 0 then reads one dataset and some attributes
 *    with the raw HDF5 API, proving the layout docs/results-format.md describes.
 * 2. Fabricated results with 3 clients (a rank without clients at -n 4), NaN/-0/denormal
 *    values, personal models on some ranks only, a method with 0 rounds, and 1-row
 *    slabs (FEDALIGN_STORE_SLAB_BYTES) so the multi-call row loop runs.
 * 3. Preflight (exists, --overwrite, missing directory, directory as file), open errors,
 *    store_finish rename over an old file and removal on failure, shape mismatches.
 * Every failed check prints file:line and the rank; the exit code is the verdict,
 * agreed over all ranks. FEDALIGN_TEST_KEEP=1 keeps the files and prints the folder.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "fedalign/check.h"
#include "fedalign/comm.h"
#include "fedalign/config.h"
#include "fedalign/fl.h"
#include "fedalign/result.h"
#include "fedalign/store.h"
#include "fedalign/timer.h"

static int failures = 0;

FA_PRINTF(4, 5) static void fail_at(const char *file, int line, const char *cond,
                                    const char *fmt, ...) {
    if (++failures > 30) return;
    char msg[1024];
    int k = snprintf(msg, sizeof msg, "%s:%d: rank %d: FAIL: %s: ", file, line, comm_rank(), cond);
    if (k < 0 || (size_t)k >= sizeof msg) k = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + k, sizeof msg - (size_t)k, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", msg);
}

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) fail_at(__FILE__, __LINE__, #cond, __VA_ARGS__);                              \
    } while (0)

static char g_dir[256]; /* temporary folder, same on every rank */

static void path_in(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", g_dir, name);
}

static bool file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* rank 0 writes a small text file */
static void write_text(const char *p, const char *text) {
    if (comm_rank() == 0) {
        FILE *fp = fopen(p, "w");
        CHECK(fp, "cannot create %s", p);
        fputs(text, fp);
        fclose(fp);
    }
    comm_barrier();
}

/* rank 0's string, for checking that every rank got the same message */
static bool same_on_all(const char *s) {
    char mine[1024], r0[1024];
    snprintf(mine, sizeof mine, "%s", s);
    memcpy(r0, mine, sizeof r0);
    comm_bcast_bytes(r0, sizeof r0, 0);
    return comm_all(strcmp(mine, r0) == 0);
}

static bool bits_eq(const void *a, const void *b, size_t bytes) { return memcmp(a, b, bytes) == 0; }

// ----------------------------------------------------------------------------
// comparing MethodResults

/* is a dataset field rank 0's (global) rather than per-client rows? */
static bool global_field(const FaField *fd) {
    return fd->shape == FA_SHAPE_R1 || fd->shape == FA_SHAPE_R || fd->shape == FA_SHAPE_P ||
           fd->shape == FA_SHAPE_K || fd->shape == FA_SHAPE_KK;
}

/* Rank 0's copy of the global (non per-client) parts of res, on every rank: the file
 * stores rank 0's values (round_time, for one, differs per rank). */
static void bcast_globals(MethodResult *g, const MethodResult *res, size_t P) {
    *g = *res;
    comm_bcast_bytes(g, sizeof *g, 0); /* scalars and timers; pointers are fixed below */
    for (size_t k = 0; k < fa_result_nfields; k++) {
        const FaField *fd = &fa_result_fields[k];
        if (!global_field(fd)) continue;
        size_t bytes = fa_field_len(fd, res->rounds, 0, P) * fa_field_elem_size(fd);
        void *copy = xmalloc(bytes ? bytes : 1);
        memcpy(copy, fa_field_cptr(fd, res), bytes);
        comm_bcast_bytes(copy, bytes, 0);
        *(void **)((char *)g + fd->offset) = copy;
    }
}

static void free_globals(MethodResult *g) {
    for (size_t k = 0; k < fa_result_nfields; k++)
        if (global_field(&fa_result_fields[k]))
            free(*(void **)((char *)g + fa_result_fields[k].offset));
}

/* got (read back) against want (this rank's original) and g (rank 0's globals): every
 * field of the table, in one loop, so a field the reader skips fails here */
static void compare_results(const char *what, const MethodResult *got, const MethodResult *want,
                            const MethodResult *g, size_t n, size_t P) {
    const size_t R = want->rounds;
    EXPECT(got->rounds == R, "%s: rounds %zu", what, got->rounds);
    int checked = 0, optional = 0; /* optional: [C, P] fields not written */
    for (size_t k = 0; k < fa_result_nfields; k++) {
        const FaField *fd = &fa_result_fields[k];
        /* attributes, timers and global datasets are rank 0's; rows the owner's */
        bool per_client = fd->shape == FA_SHAPE_C || fd->shape == FA_SHAPE_RC ||
                          fd->shape == FA_SHAPE_CP || fd->shape == FA_SHAPE_CK;
        const MethodResult *ref = per_client ? want : g;
        const void *x = fa_field_cptr(fd, got), *y = fa_field_cptr(fd, ref);
        size_t bytes = fa_field_len(fd, R, n, P) * fa_field_elem_size(fd);
        if (fd->type == FA_FT_STR) {
            EXPECT(strcmp(x, y) == 0, "%s: %s '%s' vs '%s'", what, fd->name, (const char *)x,
                   (const char *)y);
        } else if (fd->shape == FA_SHAPE_CP && !y) {
            optional++; /* optional and not written by this rank: checked by the callers */
            continue;
        } else {
            EXPECT(x && bits_eq(x, y, bytes), "%s: field %s differs", what, fd->name);
        }
        checked++;
    }
    EXPECT(checked + optional == (int)fa_result_nfields, "%s: only %d fields compared", what,
           checked);
}

/* personal models: a function of (client, parameter) only */
static float *make_personal(const size_t *ids, size_t n, size_t P) {
    float *m = xmalloc((n ? n : 1) * P * sizeof(float));
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < P; j++)
            m[i * P + j] = (float)((double)ids[i] * 0.25 - (double)j / 7.0);
    return m;
}

/* this rank's clients of C: its comm_block range (scattered = false), or every
 * size-th id from its rank on, a non-contiguous set as --assign balanced makes */
static size_t *my_ids(size_t C, bool scattered, size_t *n) {
    size_t *ids = xmalloc((C ? C : 1) * sizeof *ids), k = 0, first, cnt;
    comm_block(C, comm_rank(), comm_size(), &first, &cnt);
    for (size_t t = 0; t < C; t++)
        if (scattered ? t % (size_t)comm_size() == (size_t)comm_rank()
                      : t >= first && t < first + cnt)
            ids[k++] = t;
    *n = k;
    return ids;
}

// ----------------------------------------------------------------------------
// raw HDF5 checks (rank 0, serial driver): the on-disk layout the docs promise

static void raw_checks(const char *path, const MethodResult *res, const char *gname, size_t C,
                       size_t n) {
    /* every client's acc_p3 in client order, on rank 0 */
    double *all = comm_rank() == 0 ? xmalloc(C * sizeof(double)) : NULL;
    comm_gatherv_doubles(res->acc_p3, n, all, 0);
    if (comm_rank() == 0) {
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        EXPECT(f >= 0, "raw H5Fopen %s", path);
        int32_t ver = -1;
        hid_t a = H5Aopen(f, "schema_version", H5P_DEFAULT);
        EXPECT(a >= 0 && H5Aread(a, H5T_NATIVE_INT32, &ver) >= 0 && ver == FA_SCHEMA_VERSION,
               "schema_version %d", (int)ver);
        H5Aclose(a);
        int64_t nc = -1;
        a = H5Aopen(f, "n_clients", H5P_DEFAULT);
        EXPECT(a >= 0 && H5Aread(a, H5T_NATIVE_INT64, &nc) >= 0 && nc == (int64_t)C,
               "n_clients %" PRId64, nc);
        H5Aclose(a);
        /* a fixed-length string attribute */
        char preset[64] = "";
        a = H5Aopen(f, "cfg.preset", H5P_DEFAULT);
        hid_t t = H5Aget_type(a);
        EXPECT(a >= 0 && H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) == 0 &&
                   H5Tget_size(t) < sizeof preset,
               "cfg.preset type");
        if (H5Tget_size(t) < sizeof preset) H5Aread(a, t, preset);
        EXPECT(strcmp(preset, "tiny") == 0, "cfg.preset '%s'", preset);
        H5Tclose(t);
        H5Aclose(a);

        char dname[256];
        snprintf(dname, sizeof dname, "/methods/%s/acc_p3", gname);
        hid_t d = H5Dopen2(f, dname, H5P_DEFAULT);
        EXPECT(d >= 0, "%s missing", dname);
        hid_t s = H5Dget_space(d);
        hsize_t dims[2] = {0, 0};
        EXPECT(H5Sget_simple_extent_ndims(s) == 1 &&
                   H5Sget_simple_extent_dims(s, dims, NULL) == 1 && dims[0] == C,
               "acc_p3 shape [%llu]", (unsigned long long)dims[0]);
        hid_t dt = H5Dget_type(d);
        EXPECT(H5Tequal(dt, H5T_IEEE_F64LE) > 0, "acc_p3 is not float64 LE");
        double *buf = xmalloc(C * sizeof(double));
        EXPECT(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0, "read");
        EXPECT(bits_eq(buf, all, C * sizeof(double)),
               "raw acc_p3 differs from the gathered values");
        free(buf);
        H5Tclose(dt);
        H5Sclose(s);
        H5Dclose(d);

        snprintf(dname, sizeof dname, "/methods/%s/round_time", gname);
        d = H5Dopen2(f, dname, H5P_DEFAULT);
        char units[8] = "", dn[32] = "";
        a = H5Aopen(d, "units", H5P_DEFAULT);
        t = H5Aget_type(a);
        if (H5Tget_size(t) < sizeof units) H5Aread(a, t, units);
        H5Tclose(t);
        H5Aclose(a);
        a = H5Aopen(d, "dims", H5P_DEFAULT);
        t = H5Aget_type(a);
        if (H5Tget_size(t) < sizeof dn) H5Aread(a, t, dn);
        H5Tclose(t);
        H5Aclose(a);
        EXPECT(strcmp(units, "s") == 0 && strcmp(dn, "eval_round") == 0,
               "round_time units '%s' dims '%s'", units, dn);
        H5Dclose(d);
        snprintf(dname, sizeof dname, "/methods/%s/rc_loss", gname);
        d = H5Dopen2(f, dname, H5P_DEFAULT);
        s = H5Dget_space(d);
        EXPECT(
            H5Sget_simple_extent_dims(s, dims, NULL) == 2 && dims[0] == res->rounds && dims[1] == C,
            "rc_loss shape [%llu, %llu]", (unsigned long long)dims[0], (unsigned long long)dims[1]);
        H5Sclose(s);
        H5Dclose(d);
        H5Fclose(f);
    }
    free(all);
    comm_barrier();
}

// ----------------------------------------------------------------------------
// 1. real pipeline

static void check_field_list(const char *path);

static void test_pipeline(void) {
    static Config c;
    config_defaults(&c);
    CHECK(config_apply_preset(&c, "tiny"), "no tiny preset");
    snprintf(c.preset, sizeof c.preset, "tiny");
    c.clients = 5;
    c.quiet = true;
    c.save_models = true; /* personal_models [C, P] from the real pipeline */
    char err[1024];
    CHECK(config_validate(&c, err, sizeof err) == 0, "config: %s", err);
    Timers setup;
    timers_reset(&setup);
    Pipeline *pl = fl_setup(&c, &setup);
    const FedData *fd = fl_data(pl);
    const size_t P = fl_layout(pl)->n_params, C = fd->n_clients, n = fd->n_local;
    const size_t *ids = fd->ids;
    MethodSpec spec;
    fl_method_from_config(&c, &spec);
    MethodResult res;
    fl_result_init(pl, &spec, &res);
    CHECK(fl_run_method(pl, &spec, &res, NULL, NULL) == 0, "fl_run_method stopped");
    EXPECT(res.personal_models != NULL, "--save-models gave no personal models");
    if (!res.personal_models) res.personal_models = make_personal(ids, n, P);

    char final_path[512], tmp[600];
    path_in(final_path, sizeof final_path, "run.h5");
    store_tmp_path(final_path, tmp, sizeof tmp);
    EXPECT(store_preflight(final_path, false, err, sizeof err) == 0, "preflight: %s", err);
    StoreFile *f = store_create(tmp);
    store_write_run(f, &c, &fd->info, comm_size(), fl_threads(pl), fl_threads_over_clients(pl), P);
    store_write_clients(f, fd, comm_rank());
    store_write_method(f, 0, &res, C, ids, n, P);
    /* a second copy without personal models, a name with '@' and index 1 */
    MethodResult res2 = res;
    res2.personal_models = NULL;
    snprintf(res2.spec.name, sizeof res2.spec.name, "fedavg@found+P");
    store_write_method(f, 1, &res2, C, ids, n, P);
    /* writing index 1 twice replaces it */
    store_write_method(f, 1, &res2, C, ids, n, P);

    float *gl = xmalloc(P * sizeof(float)), *pv = xmalloc(P * sizeof(float)),
          *fo = xmalloc(P * sizeof(float));
    for (size_t i = 0; i < P; i++) {
        gl[i] = res.final_global[i];
        pv[i] = -res.final_global[i];
        fo[i] = (float)i;
    }
    /* method 1 is complete (rounds_done = rounds): the next step is its phase 3 */
    CheckpointState st = {store_config_hash(&c), 2, 1, 3, res.rounds, true, 0.8125, gl, pv, fo};
    store_write_state(f, &st, P);
    store_close(f);
    EXPECT(comm_rank() != 0 || (file_exists(tmp) && !file_exists(final_path)),
           "tmp file should exist before finish");
    store_finish(tmp, final_path, true, false);
    EXPECT(file_exists(final_path) && !file_exists(tmp), "rename to final name");

    /* read back */
    StoreFile *r = store_open_read(final_path, err, sizeof err);
    EXPECT(r != NULL, "open_read: %s", err);
    if (r) {
        MethodResult g, back;
        bcast_globals(&g, &res, P);
        EXPECT(store_read_method(r, 0, &back, C, ids, n, P, err, sizeof err) == 0, "read 0: %s",
               err);
        compare_results("pipeline/0", &back, &res, &g, n, P);
        fl_result_free(&back);

        snprintf(g.spec.name, sizeof g.spec.name, "fedavg@found+P");
        EXPECT(store_read_method(r, 1, &back, C, ids, n, P, err, sizeof err) == 0, "read 1: %s",
               err);
        compare_results("pipeline/1", &back, &res2, &g, n, P);
        EXPECT(back.personal_models == NULL, "method 1 has no personal models");
        fl_result_free(&back);
        free_globals(&g);

        /* wrong shapes and a missing index fail cleanly, with the same message everywhere */
        EXPECT(store_read_method(r, 0, &back, C + 1, ids, n, P, err, sizeof err) == -1 &&
                   strstr(err, "expected") && same_on_all(err),
               "C mismatch: %s", err);
        EXPECT(store_read_method(r, 0, &back, C, ids, n, P + 1, err, sizeof err) == -1 &&
                   strstr(err, "final_global") && same_on_all(err),
               "P mismatch: %s", err);
        EXPECT(store_read_method(r, 7, &back, C, ids, n, P, err, sizeof err) == -1 &&
                   strstr(err, "no method 7") && same_on_all(err),
               "missing index: %s", err);

        CheckpointState s2 = {0};
        s2.global = xcalloc(P, sizeof(float));
        s2.prev = xcalloc(P, sizeof(float));
        s2.foundation = xcalloc(P, sizeof(float));
        EXPECT(store_read_state(r, &s2, P, err, sizeof err) == 0, "read_state: %s", err);
        uint64_t h0 = st.config_hash;
        comm_bcast_bytes(&h0, sizeof h0, 0);
        EXPECT(s2.config_hash == h0 && s2.config_hash == store_config_hash(&c) &&
                   s2.n_methods == 2 && s2.method_index == 1 && s2.phase == 3 && s2.round == res.rounds &&
                   s2.have_foundation && s2.acc_public == 0.8125,
               "state scalars");
        /* rank 0's buffers are the file's */
        comm_bcast_floats(gl, P, 0);
        comm_bcast_floats(pv, P, 0);
        EXPECT(bits_eq(s2.global, gl, P * sizeof(float)) &&
                   bits_eq(s2.prev, pv, P * sizeof(float)) &&
                   bits_eq(s2.foundation, fo, P * sizeof(float)),
               "state vectors");
        EXPECT(store_read_state(r, &s2, P + 3, err, sizeof err) == -1 && strstr(err, "global"),
               "state P mismatch: %s", err);
        free(s2.global);
        free(s2.prev);
        free(s2.foundation);
        store_close(r);
    }
    char gname[96];
    snprintf(gname, sizeof gname, "00_%s", res.spec.name);
    raw_checks(final_path, &res, gname, C, n);
    check_field_list(final_path);

    free(gl);
    free(pv);
    free(fo);
    fl_result_free(&res); /* frees personal_models too */
    fl_free(pl);
}

// ----------------------------------------------------------------------------
// 2. fabricated results: odd values, empty ranks, 0 rounds, 1-row slabs

static double fab_value(int kind, size_t client, size_t round) {
    size_t h = (client * 31 + round * 7 + (size_t)kind * 3) % 11;
    if (h == 0) return nan("");
    if (h == 1) return -0.0;
    if (h == 2) return 4.9e-324; /* denormal */
    if (h == 3) return -INFINITY;
    return (double)kind + (double)client / 3.0 - (double)round * 1e-3;
}

static void fab_fill(MethodResult *res, size_t R, const size_t *ids, size_t n, size_t P,
                     bool models, const char *name) {
    fl_result_alloc(res, R, n, P); /* the table's shapes and fills */
    res->rounds = R;
    res->rounds_done = R ? R - 1 : 0;
    snprintf(res->spec.name, sizeof res->spec.name, "%s", name);
    res->spec.method = R ? FA_METHOD_FEDPROX : FA_METHOD_LOCAL;
    res->spec.phase0 = true;
    res->spec.phase1 = R != 0;
    res->spec.similarity = R != 0;
    res->spec.personalize = R == 0;
    for (size_t r = 0; r <= R; r++) {
        res->round_acc[r] = fab_value(1, 99, r);
        res->round_loss[r] = fab_value(2, 99, r);
        /* differs per rank: the file keeps rank 0's */
        res->round_time[r] = (double)r + 0.001 * comm_rank();
    }
    for (size_t r = 0; r < R; r++) {
        res->round_wsum_cos[r] = fab_value(3, 99, r);
        res->round_selected[r] = r * 1000000007u;
    }
    double *acc[5] = {res->acc_p0, res->acc_p1, res->acc_p2, res->acc_p3, res->acc_int8};
    double *rc[6] = {res->rc_score, res->rc_cos, res->rc_weight, res->rc_loss, res->rc_status,
                     res->rc_time};
    for (int k = 0; k < 5; k++)
        for (size_t i = 0; i < n; i++) acc[k][i] = fab_value(10 + k, ids[i], 0);
    for (int k = 0; k < 6; k++)
        for (size_t r = 0; r < R; r++)
            for (size_t i = 0; i < n; i++) rc[k][r * n + i] = fab_value(20 + k, ids[i], r);
    res->acc_global = 0.5;
    res->acc_personal_mean = nan("");
    res->acc_personal_std = -0.0;
    res->acc_personal_worst = 1.0 / 3.0;
    for (int k = 0; k < 4; k++) res->phase_acc_mean[k] = k == 1 ? nan("") : 0.1 * k;
    res->acc_public = nan("");
    /* values no fill produces, so a field the reader skips cannot pass */
    res->acc_int8_mean = 0.625;
    res->int8_drop_mean = -0.0625;
    res->int8_flash_bytes = 3141.0;
    res->checksum = 0xfedcba9876543210ull;
    res->checksum_personal = 0x1ull;
    res->time_total = 12.5;
    res->rounds_to_target = R ? 1 : -1;
    res->secs_to_target = R ? 0.25 : nan("");
    res->budget_public_epochs = 3;
    res->budget_client_epochs = 4.5;
    /* classification metrics: K = 3 of the FA_MAX_CLASSES-wide arrays, odd values */
    const size_t K = 3;
    res->n_classes = K;
    res->f1_global = 0.375;
    res->f1_personal = nan("");
    res->f1_personal_mean = -0.0;
    for (size_t i = 0; i < n; i++) {
        res->f1_p2[i] = fab_value(30, ids[i], 0);
        res->f1_p3[i] = fab_value(31, ids[i], 0);
        for (size_t c = 0; c < K; c++) {
            res->recall_p2[i * K + c] = fab_value(32, ids[i], c);
            res->recall_p3[i * K + c] = fab_value(33, ids[i], c);
        }
    }
    for (size_t c = 0; c < K; c++) {
        res->recall_global[c] = fab_value(34, 99, c);
        res->recall_personal[c] = fab_value(35, 99, c);
        for (size_t j = 0; j < K; j++) {
            res->confusion_global[c * K + j] = c * 1000000007u + j;
            res->confusion_personal[c * K + j] = (c + 1) * (j + 2);
        }
    }
    for (int i = 0; i < FA_T_COUNT; i++) {
        res->tmin[i] = i;
        res->tavg[i] = i + 0.5;
        res->tmax[i] = i + 1;
        res->tspan[i] = 2 * i;
    }
    for (size_t j = 0; j < P; j++) res->final_global[j] = (float)j * -1.5f;
    /* models only where the rank has clients: whether the dataset exists is agreed */
    res->personal_models = models && n ? make_personal(ids, n, P) : NULL;
    /* a personalized method's checkpointed client state: the same kind of [C, P] rows,
     * other values (the ids shifted by 7) */
    if (models && n) {
        size_t *ids7 = xmalloc(n * sizeof(size_t));
        for (size_t i = 0; i < n; i++) ids7[i] = ids[i] + 7;
        res->client_state = make_personal(ids7, n, P);
        free(ids7);
    } else res->client_state = NULL;
}

static void test_fabricated(void) {
    const size_t C = 3, P = 37;
    size_t n, bn;
    size_t *ids = my_ids(C, true, &n), *bids = my_ids(C, false, &bn);
    static Config c;
    config_defaults(&c);
    config_apply_preset(&c, "tiny");
    c.clients = C;
    DataInfo info;
    memset(&info, 0, sizeof info);
    info.d = 2;
    info.k = 3;
    snprintf(info.name, sizeof info.name, "fabricated");
    snprintf(info.feature_names[0], FA_NAME_LEN, "Ia");
    snprintf(info.feature_names[1], FA_NAME_LEN, "a-much-longer-feature-name");
    snprintf(info.class_names[0], FA_NAME_LEN, "No fault");
    snprintf(info.class_names[1], FA_NAME_LEN, "LG");
    snprintf(info.class_names[2], FA_NAME_LEN, "LLLG");

    MethodResult a, b;
    fab_fill(&a, 4, ids, n, P, true, "fedprox+P");
    fab_fill(&b, 0, ids, n, P, false, "local+P");

    char path[512], err[1024];
    path_in(path, sizeof path, "fab.h5");
    setenv("FEDALIGN_STORE_SLAB_BYTES", "64", 1); /* one row per collective call */
    StoreFile *f = store_create(path);
    store_write_run(f, &c, &info, comm_size(), 1, false, P);
    store_write_method(f, 3, &a, C, ids, n, P);
    store_write_method(f, 4, &b, C, ids, n, P);
    store_close(f);

    StoreFile *r = store_open_read(path, err, sizeof err);
    EXPECT(r != NULL, "open fab: %s", err);
    if (r) {
        MethodResult g, back;
        bcast_globals(&g, &a, P);
        EXPECT(store_read_method(r, 3, &back, C, ids, n, P, err, sizeof err) == 0, "fab 3: %s",
               err);
        compare_results("fab/3", &back, &a, &g, n, P);
        /* the file has models when any rank had them */
        EXPECT(back.personal_models != NULL, "fab/3 personal models not read");
        EXPECT(back.client_state != NULL, "fab/3 client state not read");
        fl_result_free(&back);
        /* written from scattered ids, read as blocks: every row sits at its global id */
        MethodResult ab;
        fab_fill(&ab, 4, bids, bn, P, true, "fedprox+P");
        EXPECT(store_read_method(r, 3, &back, C, bids, bn, P, err, sizeof err) == 0,
               "fab 3 as blocks: %s", err);
        compare_results("fab/3 as blocks", &back, &ab, &g, bn, P);
        fl_result_free(&back);
        fl_result_free(&ab);
        free_globals(&g);

        bcast_globals(&g, &b, P);
        EXPECT(store_read_method(r, 4, &back, C, ids, n, P, err, sizeof err) == 0, "fab 4: %s",
               err);
        compare_results("fab/4", &back, &b, &g, n, P);
        EXPECT(back.rounds == 0 && back.personal_models == NULL && back.client_state == NULL,
               "fab/4");
        fl_result_free(&back);
        free_globals(&g);

        CheckpointState s = {0};
        EXPECT(store_read_state(r, &s, P, err, sizeof err) == -1 && strstr(err, "checkpoint") &&
                   same_on_all(err),
               "no checkpoint: %s", err);
        store_close(r);
    }
    unsetenv("FEDALIGN_STORE_SLAB_BYTES");
    fl_result_free(&a);
    fl_result_free(&b);
    free(bids);
    free(ids);
}

/* Checkpoint scalars no writer produces are refused as damage even with a valid
 * state_checksum: method 3 of fab_fill has rounds 4, rounds_done 3. */
static void test_state_ranges(void) {
    const size_t C = 5, P = 7;
    size_t n;
    size_t *ids = my_ids(C, false, &n);
    MethodResult a;
    fab_fill(&a, 4, ids, n, P, false, "fedprox+P");
    float v[7] = {0};
    struct {
        size_t nm, mi;
        int phase;
        size_t round;
        const char *why; /* NULL: accepted */
    } cases[] = {
        {5, 3, 2, 3, NULL},
        {5, 3, 4, 4, NULL},
        {5, 5, 2, 3, "method_index"},
        {5, 3, 7, 3, "phase"},
        {5, 3, 2, 2, "rounds_done"},
        {5, 3, 2, 1000000000000ull, "rounds_done"},
        {5, 3, 3, 3, "phase 3"},
        {5, 3, 1, 3, "before phase 2"},
        {5, 2, 2, 0, "no method group"},
    };
    static Config c;
    config_defaults(&c);
    config_apply_preset(&c, "tiny");
    c.clients = C;
    DataInfo info;
    memset(&info, 0, sizeof info);
    info.d = 1;
    info.k = 2;
    char path[512], err[1024];
    path_in(path, sizeof path, "ranges.h5");
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        StoreFile *f = store_create(path);
        store_write_run(f, &c, &info, comm_size(), 1, false, P);
        store_write_method(f, 3, &a, C, ids, n, P);
        CheckpointState st = {42, cases[k].nm, cases[k].mi, cases[k].phase, cases[k].round,
                              false, 0.5, v, v, v};
        store_write_state(f, &st, P);
        store_close(f);
        StoreFile *r = store_open_read(path, err, sizeof err);
        CHECK(r, "open %s: %s", path, err);
        CheckpointState s = {0};
        float g[7], pv[7], fo[7];
        s.global = g;
        s.prev = pv;
        s.foundation = fo;
        int rc = store_read_state(r, &s, P, err, sizeof err);
        if (!cases[k].why)
            EXPECT(rc == 0 && s.round == cases[k].round, "range case %zu refused: %s", k, err);
        else
            EXPECT(rc == -1 && strstr(err, "damaged checkpoint") && strstr(err, cases[k].why) &&
                       same_on_all(err),
                   "range case %zu: %s", k, rc ? err : "accepted");
        store_close(r);
    }
    fl_result_free(&a);
    free(ids);
}

// ----------------------------------------------------------------------------
// 3. preflight, open errors, finish

static void test_preflight(void) {
    char p[512], err[1024];
    /* fresh name in an existing, writable folder */
    path_in(p, sizeof p, "fresh.h5");
    err[0] = '\0';
    EXPECT(store_preflight(p, false, err, sizeof err) == 0, "fresh: %s", err);
    /* the probe file was removed */
    char probe[600];
    snprintf(probe, sizeof probe, "%s/.fedalign_probe_%ld", g_dir, (long)getpid());
    EXPECT(!file_exists(probe), "probe left behind");
    /* existing file: refused, then accepted with --overwrite */
    path_in(p, sizeof p, "exists.h5");
    write_text(p, "old results\n");
    EXPECT(store_preflight(p, false, err, sizeof err) == -1 &&
               strstr(err, "exists; use --overwrite or another --output") && same_on_all(err),
           "exists: %s", err);
    EXPECT(store_preflight(p, true, err, sizeof err) == 0, "overwrite: %s", err);
    /* missing folder */
    path_in(p, sizeof p, "no/such/dir/x.h5");
    EXPECT(store_preflight(p, false, err, sizeof err) == -1 && strstr(err, "does not exist") &&
               same_on_all(err),
           "missing dir: %s", err);
    /* a folder given as the file, even with --overwrite */
    EXPECT(store_preflight(g_dir, true, err, sizeof err) == -1 && strstr(err, "is a directory") &&
               same_on_all(err),
           "dir as file: %s", err);
    /* a file used as the folder */
    path_in(p, sizeof p, "exists.h5/x.h5");
    EXPECT(store_preflight(p, false, err, sizeof err) == -1 && strstr(err, "not a directory"),
           "file as dir: %s", err);
    /* not writable: only meaningful when not root (root writes anywhere) */
    if (geteuid() != 0) {
        char ro[512], q[600];
        path_in(ro, sizeof ro, "readonly");
        if (comm_rank() == 0) mkdir(ro, 0500);
        comm_barrier();
        snprintf(q, sizeof q, "%s/x.h5", ro);
        EXPECT(store_preflight(q, false, err, sizeof err) == -1 && strstr(err, "cannot write"),
               "readonly: %s", err);
    }
}

static void test_open_errors(void) {
    char p[512], err[1024];
    path_in(p, sizeof p, "absent.h5");
    EXPECT(store_open_read(p, err, sizeof err) == NULL && strstr(err, "cannot open") &&
               same_on_all(err),
           "absent: %s", err);
    path_in(p, sizeof p, "text.h5");
    write_text(p, "this is not HDF5\n");
    EXPECT(store_open_read(p, err, sizeof err) == NULL && strstr(err, "not an HDF5 file") &&
               same_on_all(err),
           "text: %s", err);
    /* HDF5 but not ours */
    path_in(p, sizeof p, "bare.h5");
    StoreFile *f = store_create(p);
    store_close(f);
    EXPECT(store_open_read(p, err, sizeof err) == NULL && strstr(err, "schema_version") &&
               same_on_all(err),
           "bare: %s", err);
    /* an older schema (a checkpoint written before the field table): refused, naming
     * both versions */
    path_in(p, sizeof p, "old.h5");
    f = store_create(p);
    store_close(f);
    if (comm_rank() == 0) {
        hid_t h = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
        hid_t sp = H5Screate(H5S_SCALAR);
        hid_t a = H5Acreate2(h, "schema_version", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        int32_t one = 1;
        EXPECT(h >= 0 && a >= 0 && H5Awrite(a, H5T_NATIVE_INT32, &one) >= 0, "write old schema");
        H5Aclose(a);
        H5Sclose(sp);
        H5Fclose(h);
    }
    comm_barrier();
    char want[64];
    snprintf(want, sizeof want, "reads schema %d only", FA_SCHEMA_VERSION);
    EXPECT(store_open_read(p, err, sizeof err) == NULL && strstr(err, "schema_version 1") &&
               strstr(err, want) && same_on_all(err),
           "old schema: %s", err);
}

// ----------------------------------------------------------------------------
// 4. the field table: documented, and listed in the file

/* every field of the table has its row in docs/results-format.md */
static void test_fields_documented(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s", __FILE__); /* .../tests/mpi/test_store.c */
    char *cut = strstr(path, "/tests/mpi/");
    if (!cut) {
        if (comm_rank() == 0) printf("test_store: note: docs check skipped (no source path)\n");
        return;
    }
    snprintf(cut, sizeof path - (size_t)(cut - path), "/docs/results-format.md");
    FILE *fp = fopen(path, "rb");
    EXPECT(fp != NULL, "cannot open %s", path);
    if (!fp) return;
    static char doc[1 << 16];
    size_t got = fread(doc, 1, sizeof doc - 1, fp);
    doc[got] = '\0';
    fclose(fp);
    for (size_t k = 0; k < fa_result_nfields; k++) {
        char row[96];
        snprintf(row, sizeof row, "| `%s` |", fa_result_fields[k].name);
        EXPECT(strstr(doc, row) != NULL, "field %s is not documented in %s (row '%s')",
               fa_result_fields[k].name, path, row);
    }
}

/* the file's /methods attribute method_fields lists the table, in order */
static void check_field_list(const char *path) {
    if (comm_rank() == 0) {
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        hid_t g = H5Gopen2(f, "methods", H5P_DEFAULT);
        hid_t a = H5Aopen(g, "method_fields", H5P_DEFAULT);
        hid_t sp = H5Aget_space(a), t = H5Aget_type(a);
        EXPECT(a >= 0 && H5Sget_simple_extent_npoints(sp) == (hssize_t)fa_result_nfields,
               "method_fields has %lld entries, the table %zu",
               (long long)H5Sget_simple_extent_npoints(sp), fa_result_nfields);
        int i = H5Tget_member_index(t, "name");
        size_t rec = H5Tget_size(t), off = i >= 0 ? H5Tget_member_offset(t, (unsigned)i) : 0;
        char *buf = xcalloc(fa_result_nfields * rec + 1, 1);
        if (i >= 0 && H5Sget_simple_extent_npoints(sp) == (hssize_t)fa_result_nfields &&
            H5Aread(a, t, buf) >= 0)
            for (size_t k = 0; k < fa_result_nfields; k++)
                EXPECT(strcmp(buf + k * rec + off, fa_result_fields[k].name) == 0,
                       "method_fields[%zu] = '%s'", k, buf + k * rec + off);
        free(buf);
        H5Tclose(t);
        H5Sclose(sp);
        H5Aclose(a);
        H5Gclose(g);
        H5Fclose(f);
    }
    comm_barrier();
}

static void test_finish(void) {
    char fin[512], tmp[600], err[1024];
    static Config c;
    config_defaults(&c);
    config_apply_preset(&c, "tiny");
    DataInfo info;
    memset(&info, 0, sizeof info);
    snprintf(info.name, sizeof info.name, "none");

    /* failure: the temporary file is removed, the old final file untouched */
    path_in(fin, sizeof fin, "exists.h5");
    store_tmp_path(fin, tmp, sizeof tmp);
    StoreFile *f = store_create(tmp);
    store_write_run(f, &c, &info, comm_size(), 1, false, 10);
    store_close(f);
    store_finish(tmp, fin, false, false);
    EXPECT(!file_exists(tmp), "tmp not removed on failure");
    EXPECT(store_open_read(fin, err, sizeof err) == NULL && strstr(err, "not an HDF5 file"),
           "old file changed: %s", err);
    /* a second failure with no temporary file left is harmless */
    store_finish(tmp, fin, false, false);

    /* success with --overwrite: the rename replaces the old file atomically */
    f = store_create(tmp);
    store_write_run(f, &c, &info, comm_size(), 1, false, 10);
    store_close(f);
    store_finish(tmp, fin, true, true);
    EXPECT(!file_exists(tmp), "tmp still there after rename");
    StoreFile *r = store_open_read(fin, err, sizeof err);
    EXPECT(r != NULL, "renamed file: %s", err);
    if (r) store_close(r);
}

// ----------------------------------------------------------------------------

static void make_dir(void) {
    if (comm_rank() == 0) {
        const char *base = getenv("TMPDIR");
        snprintf(g_dir, sizeof g_dir, "%s/fedalign_store_XXXXXX", base && *base ? base : "/tmp");
        CHECK(mkdtemp(g_dir), "mkdtemp %s: %s", g_dir, strerror(errno));
    }
    comm_bcast_bytes(g_dir, sizeof g_dir, 0);
}

static void remove_dir(void) {
    comm_barrier();
    if (comm_rank() != 0) return;
    if (getenv("FEDALIGN_TEST_KEEP")) {
        printf("test_store: files kept in %s\n", g_dir);
        return;
    }
    const char *names[] = {"run.h5", "run.h5.tmp", "fab.h5", "fresh.h5", "exists.h5",
                           "exists.h5.tmp", "text.h5", "bare.h5"};
    char p[600];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, names[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/readonly", g_dir);
    rmdir(p);
    if (rmdir(g_dir) != 0)
        fprintf(stderr, "test_store: cannot remove %s: %s\n", g_dir, strerror(errno));
}

int main(int argc, char **argv) {
    comm_init(&argc, &argv);
    make_dir();
    test_preflight();
    test_open_errors();
    test_pipeline();
    test_fabricated();
    test_state_ranges();
    test_finish();
    test_fields_documented();
    remove_dir();
    int any = comm_any(failures > 0);
    if (comm_rank() == 0) printf("%s\n", any ? "test_store: FAILED" : "test_store: ok");
    comm_finalize();
    return any ? 1 : 0;
}
