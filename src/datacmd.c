/*
 * datacmd.c: `fedalign data`: describe this rank's clients as a table, or export
 * them as one CSV per client.
 *
 * Rank-local and MPI-free: the caller orders the ranks' output. The export writes
 * floats with %.9g (enough digits to read back the same float) and quotes names with
 * libcsv's writer only where CSV needs it, so csv_load reads the files back
 * (label_cols = "label", feature_cols = the feature names). Raw windows are written one
 * value per column, named CHANNEL_tSTEP in time-major order (more columns than a CSV
 * input may have: such files are for inspection with other tools).
 */
#include "fedalign/datacmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <csv.h>

#include "fedalign/check.h"

// ----------------------------------------------------------------------------
// describe

/* One client's row: id, split sizes, rows, label histogram. */
static void describe_row(const ClientData *cd, size_t k, FILE *out) {
    size_t rows = cd->train.n + cd->val.n + cd->test.n;
    fprintf(out, "  %8lld %9zu %9zu %9zu %9zu |", (long long)cd->id, cd->train.n, cd->val.n,
            cd->test.n, rows);
    for (size_t c = 0; c < k; c++) fprintf(out, " %7zu", cd->hist[c]);
    fputc('\n', out);
}

static int cmp_size(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* "min / median / max" of v[0..n) (sorts v) */
static void print_spread(FILE *out, const char *what, size_t *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_size);
    fprintf(out, "# %-26s min %zu, median %zu, max %zu\n", what, v[0], v[n / 2], v[n - 1]);
}

/* The summary printed instead of the middle rows of a long table: the spread over all
 * clients of their sizes and of how many classes each holds. */
static void describe_summary(const FedData *fd, size_t k, FILE *out) {
    const size_t n = fd->n_local;
    size_t *v = xmalloc(n * sizeof *v);
    for (size_t l = 0; l < n; l++) {
        const ClientData *cd = &fd->clients[l];
        v[l] = cd->train.n + cd->val.n + cd->test.n;
    }
    print_spread(out, "rows per client:", v, n);
    for (size_t l = 0; l < n; l++) v[l] = fd->clients[l].train.n;
    print_spread(out, "train rows per client:", v, n);
    for (size_t l = 0; l < n; l++) v[l] = fd->clients[l].test.n;
    print_spread(out, "test rows per client:", v, n);
    for (size_t l = 0; l < n; l++) {
        v[l] = 0;
        for (size_t c = 0; c < k; c++) v[l] += fd->clients[l].hist[c] > 0;
    }
    print_spread(out, "classes present per client:", v, n);
    free(v);
}

void datacmd_describe(const FedData *fd, FILE *out) {
    const DataInfo *info = &fd->info;
    size_t k = info->k;
    fprintf(out, "# data: %s, %zu features, %zu classes; clients %zu..%zu of %zu\n", info->name,
            info->d, k, fd->n_local ? fd->ids[0] : 0, fd->n_local ? fd->ids[fd->n_local - 1] : 0,
            fd->n_clients);
    if (info->win_len)
        fprintf(out,
                "# raw windows: %zu time steps x %zu channels, time-major (feature t * %zu + c)\n",
                info->win_len, info->win_ch, info->win_ch);
    fprintf(out, "# classes:");
    for (size_t c = 0; c < k; c++) fprintf(out, " k%zu=%s", c, info->class_names[c]);
    fprintf(out, "\n# %8s %9s %9s %9s %9s |", "client", "train", "val", "test", "rows");
    for (size_t c = 0; c < k; c++) {
        char col[24];
        snprintf(col, sizeof col, "k%zu", c);
        fprintf(out, " %7s", col);
    }
    fputc('\n', out);

    /* a long table shows its first and last rows; the summary below covers them all */
    const size_t n = fd->n_local;
    const bool cut = n > FA_DESCRIBE_MAX_ROWS;
    size_t tot[3] = {0, 0, 0}, hist[FA_MAX_CLASSES] = {0};
    for (size_t l = 0; l < n; l++) {
        const ClientData *cd = &fd->clients[l];
        if (!cut || l < FA_DESCRIBE_EDGE_ROWS || l >= n - FA_DESCRIBE_EDGE_ROWS)
            describe_row(cd, k, out);
        if (cut && l == FA_DESCRIBE_EDGE_ROWS)
            fprintf(out, "  %8s (%zu clients not shown; the summary below covers all %zu)\n",
                    "...", n - 2 * FA_DESCRIBE_EDGE_ROWS, n);
        for (size_t c = 0; c < k; c++) hist[c] += cd->hist[c];
        tot[0] += cd->train.n;
        tot[1] += cd->val.n;
        tot[2] += cd->test.n;
    }
    fprintf(out, "  %8s %9zu %9zu %9zu %9zu |", "total", tot[0], tot[1], tot[2],
            tot[0] + tot[1] + tot[2]);
    for (size_t c = 0; c < k; c++) fprintf(out, " %7zu", hist[c]);
    fprintf(out, "\n# total over %zu clients; public data: %zu rows\n", n, fd->n_public);
    if (cut) describe_summary(fd, k, out);
}

// ----------------------------------------------------------------------------
// export

/* A CSV field: as is when safe, else quoted by libcsv. */
static int put_field(FILE *fp, const char *s) {
    size_t n = strlen(s);
    bool quote = n == 0 || strpbrk(s, ",\"\r\n") != NULL || s[0] == ' ' || s[n - 1] == ' ';
    if (!quote) return fputs(s, fp) < 0 ? -1 : 0;
    return csv_fwrite(fp, s, n);
}

static int write_split(FILE *fp, const Dataset *ds, const DataInfo *info, const char *name) {
    for (size_t i = 0; i < ds->n; i++) {
        for (size_t j = 0; j < ds->d; j++) fprintf(fp, "%.9g,", (double)ds->x[i * ds->d + j]);
        int32_t y = ds->y[i];
        const char *label = (y >= 0 && (size_t)y < info->k) ? info->class_names[y] : "?";
        if (put_field(fp, label) != 0) return -1;
        if (fprintf(fp, ",%s\n", name) < 0) return -1;
    }
    return 0;
}

int datacmd_export(const FedData *fd, const char *dir, bool overwrite, char *err, size_t errlen) {
    struct stat sb;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create directory: %s", dir, strerror(errno));
        return -1;
    }
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(err, errlen, "%s: not a directory", dir);
        return -1;
    }
    /* existing exports are never replaced silently: check every name before writing one */
    for (size_t l = 0; l < fd->n_local && !overwrite; l++) {
        char path[FA_PATH_LEN + 64];
        snprintf(path, sizeof path, "%s/client_%lld.csv", dir, (long long)fd->clients[l].id);
        if (stat(path, &sb) == 0) {
            snprintf(err, errlen, "%s exists; choose another --export directory or add --overwrite",
                     path);
            return -1;
        }
    }
    const DataInfo *info = &fd->info;
    for (size_t l = 0; l < fd->n_local; l++) {
        const ClientData *cd = &fd->clients[l];
        char path[FA_PATH_LEN + 64];
        snprintf(path, sizeof path, "%s/client_%lld.csv", dir, (long long)cd->id);
        FILE *fp = fopen(path, "w");
        if (!fp) {
            snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
            return -1;
        }
        int rc = 0;
        for (size_t j = 0; j < info->d && rc == 0; j++) {
            char name[FA_NAME_LEN + 32]; /* a window's value: channel name and time step */
            if (info->win_len)
                snprintf(name, sizeof name, "%s_t%zu", info->feature_names[j % info->win_ch],
                         j / info->win_ch);
            rc = put_field(fp, info->win_len ? name : info->feature_names[j]);
            if (rc == 0 && fputc(',', fp) == EOF) rc = -1;
        }
        if (rc == 0 && fputs("label,split\n", fp) < 0) rc = -1;
        if (rc == 0) rc = write_split(fp, &cd->train, info, "train");
        if (rc == 0) rc = write_split(fp, &cd->val, info, "val");
        if (rc == 0) rc = write_split(fp, &cd->test, info, "test");
        if (fclose(fp) != 0) rc = -1;
        if (rc != 0) {
            snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}
