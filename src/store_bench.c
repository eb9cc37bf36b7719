/*
 * store_bench.c: the `fedalign bench --output FILE.h5` record (docs/results-format.md
 * section 7): a small file written by rank 0 alone with the serial driver.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fedalign/comm.h"
#include "store_internal.h"

// ----------------------------------------------------------------------------
// bench results (fedalign bench --output FILE.h5)

/* rank-local string attribute (store_write_bench writes on rank 0 alone) */
static void bench_attr_str(hid_t loc, const char *name, const char *value) {
    hid_t t = st_str_type(strlen(value) + 1);
    st_attr_put(loc, name, t, t, 0, 0, value);
    H5_CHECK(H5Tclose(t));
}

static void bench_attr_i32(hid_t loc, const char *name, int32_t v) {
    st_attr_put(loc, name, H5T_STD_I32LE, H5T_NATIVE_INT32, 0, 0, &v);
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
    hid_t tp = st_str_type(wp), tu = st_str_type(wu), te = st_str_type(we);
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
    char tmp[FA_PATH_LEN + 32];
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
        bench_attr_str(file, "created_utc", utc);
        bench_attr_str(file, "host", host);
        bench_attr_str(file, "cpu", meta->cpu ? meta->cpu : "unknown");
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
        /* git_describe and build_isa among them (the library's; meta->build_isa is the
         * same macro test compiled with the same flags) */
        st_write_provenance(file, true);
        H5_CHECK(H5Fclose(file));
    }
    store_finish(tmp, path, true, true); /* preflight refused an existing file */
}
