/*
 * datacmd.c: `fedalign data`: describe this rank's clients as a table, or export
 * them as one CSV per client.
 *
 * Rank-local and MPI-free: the caller orders the ranks' output. The export writes
 * floats with %.9g (enough digits to read back the same float) and quotes names with
 * libcsv's writer only where CSV needs it, so csv_load reads the files back
 * (label_cols = "label", feature_cols = the feature names).
 */
#include "fedalign/datacmd.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <csv.h>

// ----------------------------------------------------------------------------
// describe

void datacmd_describe(const FedData *fd, FILE *out) {
    const DataInfo *info = &fd->info;
    size_t k = info->k;
    fprintf(out, "# data: %s, %zu features, %zu classes; clients %zu..%zu of %zu\n", info->name,
            info->d, k, fd->n_local ? fd->ids[0] : 0, fd->n_local ? fd->ids[fd->n_local - 1] : 0,
            fd->n_clients);
    fprintf(out, "# classes:");
    for (size_t c = 0; c < k; c++) fprintf(out, " k%zu=%s", c, info->class_names[c]);
    fprintf(out, "\n# %8s %9s %9s %9s %9s |", "client", "train", "val", "test", "rows");
    for (size_t c = 0; c < k; c++) {
        char col[24];
        snprintf(col, sizeof col, "k%zu", c);
        fprintf(out, " %7s", col);
    }
    fputc('\n', out);

    size_t tot[3] = {0, 0, 0}, hist[FA_MAX_CLASSES] = {0};
    for (size_t l = 0; l < fd->n_local; l++) {
        const ClientData *cd = &fd->clients[l];
        size_t rows = cd->train.n + cd->val.n + cd->test.n;
        fprintf(out, "  %8lld %9zu %9zu %9zu %9zu |", (long long)cd->id, cd->train.n, cd->val.n,
                cd->test.n, rows);
        for (size_t c = 0; c < k; c++) {
            fprintf(out, " %7zu", cd->hist[c]);
            hist[c] += cd->hist[c];
        }
        fputc('\n', out);
        tot[0] += cd->train.n;
        tot[1] += cd->val.n;
        tot[2] += cd->test.n;
    }
    fprintf(out, "  %8s %9zu %9zu %9zu %9zu |", "total", tot[0], tot[1], tot[2],
            tot[0] + tot[1] + tot[2]);
    for (size_t c = 0; c < k; c++) fprintf(out, " %7zu", hist[c]);
    fprintf(out, "\n# total over %zu clients; public data: %zu rows\n", fd->n_local, fd->n_public);
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
            rc = put_field(fp, info->feature_names[j]);
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
