/*
 * csv.c: load a numeric CSV (header row + data rows) into a Dataset.
 *
 * libcsv does the tokenizing: quoting (RFC 4180 "" escapes, quoted newlines),
 * CR/LF/CRLF record ends, a last line without a newline, and it rejects stray
 * quotes in strict mode. It is only a tokenizer, so we do the rest by hand:
 * it reports no line or column numbers (we count record ends ourselves, with
 * CSV_REPALL_NL so that blank lines are seen), it passes a UTF-8 BOM through as
 * part of the first name (we strip it before parsing), and it knows nothing of
 * [bracketed] names, numbers, NaN/Inf, ragged rows or trailing empty columns.
 *
 * Errors are "path:line:column: message": line is the 1-based physical line, column
 * the 1-based CSV column (field) number, and column 0 means "the line as a whole"
 * (e.g. a name in label_cols that is not in the header). Pure: no printing, no exit.
 */
#include "fedalign/data.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csv.h>

#include "fedalign/check.h"

// W = columns in the header, D = features, K = classes, G = groups, L = label columns

#define CSV_CHUNK 65536
#define CSV_MAX_VALUE 256 /* longest group value we keep */

// ----------------------------------------------------------------------------
// types

typedef struct {
    size_t off, len; /* into CsvState.cells */
    size_t line;     /* physical line where the field starts */
} Cell;

typedef struct {
    char **names; /* (n) owns each string */
    size_t n, cap;
    size_t *slot; /* (n_slots) open-addressing index + 1, 0 = empty */
    size_t n_slots;
} StrTable;

typedef struct {
    const CsvSpec *spec;
    const char *path;
    char *err;
    size_t errlen;
    bool failed;

    /* position */
    size_t line;      /* current physical line, 1-based */
    bool last_cr;     /* last record end was a CR (the LF of a CRLF follows) */
    size_t rows_seen; /* non-blank records, header included */

    /* current record: fields copied into cells */
    char *cells; /* (cells_cap) bytes */
    size_t cells_len, cells_cap;
    Cell *fields; /* (fields_cap) */
    size_t n_fields, fields_cap;

    /* header and column roles */
    bool have_header;
    size_t header_line;
    size_t w;     /* header columns */
    char **names; /* (w) normalized names; owns */
    size_t d;     /* features */
    size_t feat_col[FA_MAX_FEATURES];
    size_t n_lab; /* label columns */
    size_t lab_col[FA_MAX_FEATURES];
    bool has_group;
    size_t group_col;

    /* data, grown geometrically */
    float *x;   /* (cap, d) */
    int32_t *y; /* (cap) class index in first-seen order */
    int32_t *g; /* (cap) group index in first-seen order, if has_group */
    size_t n, cap;

    /* distinct values in first-seen order */
    StrTable labels;
    StrTable groups;
} CsvState;

// ----------------------------------------------------------------------------
// helpers

FA_PRINTF(4, 5)
static void csv_error_at(CsvState *st, size_t line, size_t col, const char *fmt, ...) {
    if (st->failed) return;
    st->failed = true;
    int m = snprintf(st->err, st->errlen, "%s:%zu:%zu: ", st->path, line, col);
    if (m < 0 || (size_t)m >= st->errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err + m, st->errlen - (size_t)m, fmt, ap);
    va_end(ap);
}

static char *str_dup_n(const char *s, size_t n) {
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Trim ASCII white space in place; returns the start, *n the new length. */
static const char *trim(const char *s, size_t *n) {
    size_t a = 0, b = *n;
    while (a < b && isspace((unsigned char)s[a])) a++;
    while (b > a && isspace((unsigned char)s[b - 1])) b--;
    *n = b - a;
    return s + a;
}

/* A column name as the user means it: trimmed, without surrounding [brackets]
 * (libcsv has already removed the quotes of "quoted" names). */
static char *normalize_name(const char *s, size_t n) {
    s = trim(s, &n);
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
        s = trim(s, &n);
    }
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') { /* "names" inside a list */
        s++;
        n -= 2;
        s = trim(s, &n);
    }
    return str_dup_n(s, n);
}

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void strtab_free(StrTable *t) {
    for (size_t i = 0; i < t->n; i++) free(t->names[i]);
    free(t->names);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

static void strtab_rehash(StrTable *t, size_t n_slots) {
    free(t->slot);
    t->slot = xcalloc(n_slots, sizeof *t->slot);
    t->n_slots = n_slots;
    for (size_t i = 0; i < t->n; i++) {
        size_t h = (size_t)hash_str(t->names[i]) & (n_slots - 1);
        while (t->slot[h]) h = (h + 1) & (n_slots - 1);
        t->slot[h] = i + 1;
    }
}

/* Index of s in t, inserting it when new (*added = true). */
static size_t strtab_intern(StrTable *t, const char *s, bool *added) {
    if (2 * (t->n + 1) > t->n_slots) strtab_rehash(t, t->n_slots ? 2 * t->n_slots : 64);
    size_t h = (size_t)hash_str(s) & (t->n_slots - 1);
    while (t->slot[h]) {
        size_t i = t->slot[h] - 1;
        if (strcmp(t->names[i], s) == 0) {
            *added = false;
            return i;
        }
        h = (h + 1) & (t->n_slots - 1);
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 16;
        t->names = realloc(t->names, t->cap * sizeof *t->names);
        CHECK(t->names, "out of memory (%zu names)", t->cap);
    }
    t->names[t->n] = str_dup_n(s, strlen(s));
    t->slot[h] = t->n + 1;
    *added = true;
    return t->n++;
}

/* Sort order for class and group names: numerically when every value is an integer
 * (so "10" comes after "2"), ties and everything else by strcmp. Joined label tuples
 * ("1,11") compare part by part, each part numerically when that part is an integer
 * in every tuple. One part (a single column) is the whole string, separator or not. */
typedef struct {
    size_t n_parts;
    bool numeric[FA_MAX_FEATURES];
} SortKey;

typedef struct {
    const char *s;
    const SortKey *key;
    size_t old;
} SortItem;

/* Part i of a tuple: *p advances past it; returns its length. */
static size_t next_part(const char **p, bool last) {
    const char *s = *p;
    const char *e = last ? s + strlen(s) : strchr(s, FA_LABEL_SEP);
    if (!e) e = s + strlen(s); /* cannot happen: every tuple has n_parts parts */
    *p = *e ? e + 1 : e;
    return (size_t)(e - s);
}

static bool is_integer(const char *s, size_t n, long long *v) {
    char buf[CSV_MAX_VALUE + 1]; /* longer values (groups only) are never integers */
    if (n == 0 || n >= sizeof buf) return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end = NULL;
    errno = 0;
    *v = strtoll(buf, &end, 10);
    return errno == 0 && end != buf && *end == '\0';
}

static int cmp_items(const void *a, const void *b) {
    const SortItem *p = a, *q = b;
    const SortKey *key = p->key;
    const char *x = p->s, *y = q->s;
    for (size_t i = 0; i < key->n_parts; i++) {
        const char *xs = x, *ys = y;
        bool last = i + 1 == key->n_parts;
        size_t nx = next_part(&x, last), ny = next_part(&y, last);
        long long vx = 0, vy = 0;
        if (key->numeric[i] && is_integer(xs, nx, &vx) && is_integer(ys, ny, &vy) && vx != vy)
            return vx < vy ? -1 : 1;
        int c = memcmp(xs, ys, nx < ny ? nx : ny);
        if (c != 0) return c;
        if (nx != ny) return nx < ny ? -1 : 1;
    }
    return 0;
}

/* map[old index] = rank of the value in sorted order; values are tuples of n_parts */
static void sorted_ranks(const StrTable *t, size_t n_parts, size_t *map) {
    SortKey key = {.n_parts = n_parts};
    for (size_t i = 0; i < n_parts; i++) key.numeric[i] = true;
    SortItem *it = xmalloc((t->n ? t->n : 1) * sizeof *it);
    for (size_t i = 0; i < t->n; i++) {
        it[i].s = t->names[i];
        it[i].key = &key;
        it[i].old = i;
        const char *p = t->names[i];
        for (size_t j = 0; j < n_parts; j++) {
            const char *ps = p;
            size_t n = next_part(&p, j + 1 == n_parts);
            long long v;
            if (!is_integer(ps, n, &v)) key.numeric[j] = false;
        }
    }
    qsort(it, t->n, sizeof *it, cmp_items);
    for (size_t i = 0; i < t->n; i++) map[it[i].old] = i;
    free(it);
}

// ----------------------------------------------------------------------------
// header: resolve which column is a label, feature or group

static size_t find_column(const CsvState *st, const char *name) {
    for (size_t c = 0; c < st->w; c++)
        if (st->names[c][0] != '\0' && strcmp(st->names[c], name) == 0) return c;
    return SIZE_MAX;
}

/* Split a comma list of names into columns. Returns the count, or SIZE_MAX on error. */
static size_t resolve_list(CsvState *st, const char *list, const char *what, size_t *cols,
                           size_t max) {
    size_t n = 0;
    const char *p = list;
    for (;;) {
        const char *q = strchr(p, ',');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        char *name = normalize_name(p, len);
        if (name[0] == '\0') {
            csv_error_at(st, st->header_line, 0, "empty name in %s '%s'", what, list);
            free(name);
            return SIZE_MAX;
        }
        size_t c = find_column(st, name);
        if (c == SIZE_MAX) {
            csv_error_at(st, st->header_line, 0, "unknown column '%s' in %s (not in the header)",
                         name, what);
            free(name);
            return SIZE_MAX;
        }
        for (size_t i = 0; i < n; i++) {
            if (cols[i] == c) {
                csv_error_at(st, st->header_line, c + 1, "duplicate column '%s' in %s", name, what);
                free(name);
                return SIZE_MAX;
            }
        }
        if (n == max) {
            csv_error_at(st, st->header_line, c + 1, "too many columns in %s (at most %zu)", what,
                         max);
            free(name);
            return SIZE_MAX;
        }
        free(name);
        cols[n++] = c;
        if (!q) break;
        p = q + 1;
    }
    return n;
}

static void header_done(CsvState *st) {
    st->w = st->n_fields;
    st->header_line = st->fields[0].line;
    st->names = xmalloc(st->w * sizeof *st->names);
    for (size_t c = 0; c < st->w; c++) {
        st->names[c] = normalize_name(st->cells + st->fields[c].off, st->fields[c].len);
    }
    st->have_header = true;
    for (size_t c = 0; c < st->w && !st->failed; c++) {
        if (st->names[c][0] == '\0') continue; /* unnamed (e.g. trailing empty) columns */
        for (size_t e = 0; e < c; e++) {
            if (strcmp(st->names[e], st->names[c]) == 0) {
                csv_error_at(st, st->header_line, c + 1,
                             "duplicate column name '%s' (also column %zu)", st->names[c], e + 1);
                return;
            }
        }
    }

    /* label: the listed columns joined, or the last named column */
    if (st->spec->label_cols[0] != '\0') {
        size_t n =
            resolve_list(st, st->spec->label_cols, "label_cols", st->lab_col, FA_MAX_FEATURES);
        if (n == SIZE_MAX) return;
        st->n_lab = n;
    } else {
        size_t c = st->w;
        while (c > 0 && st->names[c - 1][0] == '\0') c--;
        if (c == 0) {
            csv_error_at(st, st->header_line, 1, "the header has no named column");
            return;
        }
        st->lab_col[0] = c - 1;
        st->n_lab = 1;
    }

    if (st->spec->group_col[0] != '\0') {
        char *name = normalize_name(st->spec->group_col, strlen(st->spec->group_col));
        size_t c = find_column(st, name);
        if (c == SIZE_MAX) {
            csv_error_at(st, st->header_line, 0, "unknown group column '%s' (not in the header)",
                         name);
            free(name);
            return;
        }
        free(name);
        st->has_group = true;
        st->group_col = c;
    }

    /* features: the listed columns, or every named column that is not label or group */
    size_t cols[FA_MAX_FEATURES];
    size_t d = 0;
    if (st->spec->feature_cols[0] != '\0') {
        d = resolve_list(st, st->spec->feature_cols, "feature_cols", cols, FA_MAX_FEATURES);
        if (d == SIZE_MAX) return;
        for (size_t j = 0; j < d; j++) {
            for (size_t i = 0; i < st->n_lab; i++) {
                if (cols[j] == st->lab_col[i]) {
                    csv_error_at(st, st->header_line, cols[j] + 1,
                                 "column '%s' is a label column and cannot be a feature",
                                 st->names[cols[j]]);
                    return;
                }
            }
        }
    } else {
        for (size_t c = 0; c < st->w; c++) {
            if (st->names[c][0] == '\0' || (st->has_group && c == st->group_col)) continue;
            bool is_label = false;
            for (size_t i = 0; i < st->n_lab; i++) is_label |= st->lab_col[i] == c;
            if (is_label) continue;
            if (d == FA_MAX_FEATURES) {
                csv_error_at(st, st->header_line, c + 1,
                             "more than %d feature columns (name the ones to use with the "
                             "feature column list)",
                             FA_MAX_FEATURES);
                return;
            }
            cols[d++] = c;
        }
    }
    if (d == 0) {
        csv_error_at(st, st->header_line, 0, "no feature columns");
        return;
    }
    for (size_t j = 0; j < d; j++) {
        if (strlen(st->names[cols[j]]) >= FA_NAME_LEN) {
            csv_error_at(st, st->header_line, cols[j] + 1,
                         "feature column name '%s' is too long (at most %d bytes)",
                         st->names[cols[j]], FA_NAME_LEN - 1);
            return;
        }
        st->feat_col[j] = cols[j];
    }
    st->d = d;
}

// ----------------------------------------------------------------------------
// data rows

static bool parse_value(CsvState *st, size_t col, const Cell *f, float *out) {
    size_t n = f->len;
    const char *s = trim(st->cells + f->off, &n);
    const char *name = st->names[col];
    if (n == 0) {
        csv_error_at(st, f->line, col + 1, "empty value in numeric column '%s'", name);
        return false;
    }
    char buf[128];
    if (n >= sizeof buf) {
        csv_error_at(st, f->line, col + 1, "non-numeric value '%.40s...' in column '%s'", s, name);
        return false;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end = NULL;
    errno = 0;
    double v = strtod(buf, &end);
    if (end == buf || *end != '\0') {
        csv_error_at(st, f->line, col + 1, "non-numeric value '%s' in column '%s'", buf, name);
        return false;
    }
    if (isnan(v) || isinf(v)) {
        bool spelled = strpbrk(buf, "nNiI") != NULL; /* "nan", "inf" vs. overflow like 1e999 */
        csv_error_at(st, f->line, col + 1, "%s value '%s' in column '%s'",
                     spelled ? "NaN/Inf" : "out-of-range (overflows to Inf)", buf, name);
        return false;
    }
    if (fabs(v) > (double)FLT_MAX) {
        csv_error_at(st, f->line, col + 1, "out-of-range value '%s' in column '%s' (exceeds float)",
                     buf, name);
        return false;
    }
    *out = (float)v;
    return true;
}

static void grow_rows(CsvState *st) {
    size_t cap = st->cap ? 2 * st->cap : 1024;
    float *x = realloc(st->x, cap * st->d * sizeof *x);
    int32_t *y = realloc(st->y, cap * sizeof *y);
    CHECK(x && y, "out of memory reading a CSV of %zu rows", cap);
    st->x = x;
    st->y = y;
    if (st->has_group) {
        int32_t *g = realloc(st->g, cap * sizeof *g);
        CHECK(g, "out of memory reading a CSV of %zu rows", cap);
        st->g = g;
    }
    st->cap = cap;
}

static void data_row_done(CsvState *st) {
    size_t line = st->fields[0].line;
    /* Ragged rows: columns missing at the end are fine only where the header has no name
     * (trailing empty columns); extra columns only when they are empty. */
    if (st->n_fields < st->w) {
        for (size_t c = st->n_fields; c < st->w; c++) {
            if (st->names[c][0] != '\0') {
                csv_error_at(st, line, st->n_fields + 1, "expected %zu columns, found %zu", st->w,
                             st->n_fields);
                return;
            }
        }
    }
    for (size_t c = st->w; c < st->n_fields; c++) {
        size_t n = st->fields[c].len;
        trim(st->cells + st->fields[c].off, &n);
        if (n > 0) {
            csv_error_at(st, line, st->w + 1, "expected %zu columns, found %zu", st->w,
                         st->n_fields);
            return;
        }
    }
    if (st->n == st->cap) grow_rows(st);

    float *xr = st->x + st->n * st->d;
    for (size_t j = 0; j < st->d; j++) {
        size_t c = st->feat_col[j];
        if (!parse_value(st, c, &st->fields[c], &xr[j])) return;
    }

    char label[FA_NAME_LEN];
    size_t len = 0;
    for (size_t i = 0; i < st->n_lab; i++) {
        size_t c = st->lab_col[i];
        const Cell *f = &st->fields[c];
        size_t n = f->len;
        const char *s = trim(st->cells + f->off, &n);
        if (n == 0) {
            csv_error_at(st, f->line, c + 1, "empty label value in column '%s'", st->names[c]);
            return;
        }
        if (st->n_lab > 1 && memchr(s, FA_LABEL_SEP, n)) {
            csv_error_at(st, f->line, c + 1,
                         "label value '%.*s' in column '%s' contains '%c', which joins the "
                         "label columns into one class name",
                         (int)(n < 40 ? n : 40), s, st->names[c], FA_LABEL_SEP);
            return;
        }
        size_t sep = i > 0;
        if (len + sep + n >= FA_NAME_LEN) {
            csv_error_at(st, f->line, c + 1, "label value is too long (at most %d bytes%s)",
                         FA_NAME_LEN - 1, st->n_lab > 1 ? " for the joined class name" : "");
            return;
        }
        if (sep) label[len++] = FA_LABEL_SEP;
        memcpy(label + len, s, n);
        len += n;
    }
    label[len] = '\0';
    bool added = false;
    size_t k = strtab_intern(&st->labels, label, &added);
    if (added && st->labels.n > FA_MAX_CLASSES) {
        csv_error_at(st, line, st->lab_col[0] + 1,
                     "more than %d classes in label column '%s'%s: value '%s' is class number %zu",
                     FA_MAX_CLASSES, st->names[st->lab_col[0]], st->n_lab > 1 ? " (joined)" : "",
                     label, st->labels.n);
        return;
    }
    st->y[st->n] = (int32_t)k;

    if (st->has_group) {
        const Cell *f = &st->fields[st->group_col];
        size_t n = f->len;
        const char *s = trim(st->cells + f->off, &n);
        if (n == 0 || n >= CSV_MAX_VALUE) {
            csv_error_at(st, f->line, st->group_col + 1, "%s value in group column '%s'",
                         n == 0 ? "empty" : "too long a", st->names[st->group_col]);
            return;
        }
        char v[CSV_MAX_VALUE];
        memcpy(v, s, n);
        v[n] = '\0';
        size_t gi = strtab_intern(&st->groups, v, &added);
        CHECK(gi <= INT32_MAX, "too many groups");
        st->g[st->n] = (int32_t)gi;
    }
    st->n++;
}

// ----------------------------------------------------------------------------
// libcsv callbacks

static void on_field(void *s, size_t len, void *data) {
    CsvState *st = data;
    if (st->failed) return;
    if (st->n_fields == st->fields_cap) {
        st->fields_cap = st->fields_cap ? 2 * st->fields_cap : 64;
        st->fields = realloc(st->fields, st->fields_cap * sizeof *st->fields);
        CHECK(st->fields, "out of memory");
    }
    if (st->cells_len + len + 1 > st->cells_cap) {
        while (st->cells_len + len + 1 > st->cells_cap)
            st->cells_cap = st->cells_cap ? 2 * st->cells_cap : 4096;
        st->cells = realloc(st->cells, st->cells_cap);
        CHECK(st->cells, "out of memory");
    }
    Cell *f = &st->fields[st->n_fields++];
    f->off = st->cells_len;
    f->len = len;
    f->line = st->line;
    if (len) memcpy(st->cells + st->cells_len, s, len);
    st->cells_len += len;
    st->cells[st->cells_len++] = '\0';
    /* a quoted field may span lines */
    for (size_t i = 0; i < len; i++) st->line += ((const char *)s)[i] == '\n';
    st->last_cr = false;
}

static void on_record(int c, void *data) {
    CsvState *st = data;
    if (st->failed) return;
    bool lf_of_crlf = c == '\n' && st->last_cr && st->n_fields == 0;
    st->last_cr = c == '\r';
    if (lf_of_crlf) return; /* the CR already ended the line */

    bool blank = st->n_fields == 0 || (st->n_fields == 1 && st->fields[0].len == 0);
    if (!blank) {
        if (!st->have_header) header_done(st);
        else data_row_done(st);
        st->rows_seen++;
    }
    st->n_fields = 0;
    st->cells_len = 0;
    if (c == '\r' || c == '\n') st->line++;
}

// ----------------------------------------------------------------------------
// public

static void state_free(CsvState *st) {
    free(st->cells);
    free(st->fields);
    if (st->names)
        for (size_t c = 0; c < st->w; c++) free(st->names[c]);
    free(st->names);
    free(st->x);
    free(st->y);
    free(st->g);
    strtab_free(&st->labels);
    strtab_free(&st->groups);
}

/* The longest physical line (bytes between CR/LF record ends, quoted or not) must
 * stay under FA_CSV_MAX_LINE: checked up front, so libcsv never buffers a runaway
 * field. Returns the 1-based number of the first line over the limit, or 0. */
static size_t long_line(const char *s, size_t n) {
    size_t line = 1, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '\n' && s[i] != '\r') continue;
        if (i - start > FA_CSV_MAX_LINE) return line;
        if (i < n && !(s[i] == '\n' && i > 0 && s[i - 1] == '\r')) line++;
        start = i + 1;
    }
    return 0;
}

static void parse_bytes(CsvState *st, const char *s, size_t n) {
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) { /* UTF-8 BOM */
        s += 3;
        n -= 3;
    }
    size_t too_long = long_line(s, n);
    if (too_long) {
        csv_error_at(st, too_long, 0, "line longer than %d bytes (the limit for one CSV line)",
                     FA_CSV_MAX_LINE);
        return;
    }
    struct csv_parser p;
    unsigned char opts = CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL;
    if (csv_init(&p, opts) != 0) {
        csv_error_at(st, 1, 1, "cannot initialize the CSV parser");
        return;
    }
    /* fed in chunks only so that an error stops the parse early */
    for (size_t off = 0; off < n && !st->failed; off += CSV_CHUNK) {
        size_t got = n - off < CSV_CHUNK ? n - off : CSV_CHUNK;
        size_t used = csv_parse(&p, s + off, got, on_field, on_record, st);
        if (st->failed) break;
        if (used != got) {
            int e = csv_error(&p);
            csv_error_at(st, st->line, st->n_fields + 1, "%s",
                         e == CSV_EPARSE ? "malformed quoting (a stray or unclosed quote)"
                                         : csv_strerror(e));
            break;
        }
    }
    if (!st->failed && csv_fini(&p, on_field, on_record, st) != 0)
        csv_error_at(st, st->line, st->n_fields + 1, "unterminated quoted field at end of file");
    csv_free(&p);
}

/* Read a whole input file. Only regular files: a FIFO would block in open() (hence
 * O_NONBLOCK, which regular files ignore) and a device like /dev/zero never ends. */
int csv_read_file(const char *path, char **bytes, size_t *len, char *err, size_t errlen) {
    *bytes = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "%s: %s", path,
                 S_ISDIR(sb.st_mode) ? "is a directory, not a CSV file"
                                     : "not a regular file (a pipe, FIFO or device such as "
                                       "/dev/stdin); CSV input must be a regular file");
        close(fd);
        return -1;
    }
    if ((uint64_t)sb.st_size > FA_CSV_MAX_BYTES) {
        snprintf(err, errlen, "%s: file too large (%lld bytes; the limit is %llu bytes)", path,
                 (long long)sb.st_size, (unsigned long long)FA_CSV_MAX_BYTES);
        close(fd);
        return -1;
    }
    /* read to end of file, not to st_size: the size can change under us; one byte past
     * the limit is enough to know it was exceeded */
    size_t cap = (size_t)sb.st_size + 1, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap > FA_CSV_MAX_BYTES) break;
            cap = cap * 2 > FA_CSV_MAX_BYTES + 1 ? FA_CSV_MAX_BYTES + 1 : cap * 2;
            char *b = realloc(buf, cap);
            CHECK(b, "out of memory reading %s (%zu bytes)", path, cap);
            buf = b;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    close(fd);
    if (n > FA_CSV_MAX_BYTES) {
        snprintf(err, errlen, "%s: file too large (more than %llu bytes, the limit)", path,
                 (unsigned long long)FA_CSV_MAX_BYTES);
        free(buf);
        return -1;
    }
    *bytes = buf;
    *len = n;
    return 0;
}

int csv_parse_bytes(const CsvSpec *spec, const char *bytes, size_t len, Dataset *out,
                    DataInfo *info, int32_t **group, size_t *n_groups, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (group) *group = NULL;
    if (n_groups) *n_groups = 0;
    if (errlen) err[0] = '\0';

    CsvState st;
    memset(&st, 0, sizeof st);
    st.spec = spec;
    st.path = spec->path;
    st.err = err;
    st.errlen = errlen;
    st.line = 1;

    parse_bytes(&st, bytes, len);

    if (!st.failed && !st.have_header) csv_error_at(&st, 1, 1, "empty file (no header row)");
    if (!st.failed && st.n == 0)
        csv_error_at(&st, st.header_line + 1, 1, "no data rows (header only)");
    if (!st.failed && st.labels.n < 2) {
        csv_error_at(&st, st.header_line, st.lab_col[0] + 1,
                     "the label has only one class ('%s'); at least two are needed",
                     st.labels.names[0]);
    }
    if (st.failed) {
        state_free(&st);
        return -1;
    }

    /* classes: sorted distinct label strings -> 0..K-1 */
    size_t K = st.labels.n, map[FA_MAX_CLASSES];
    sorted_ranks(&st.labels, st.n_lab, map);
    for (size_t i = 0; i < st.n; i++) st.y[i] = (int32_t)map[st.y[i]];

    memset(info, 0, sizeof *info);
    info->d = st.d;
    info->k = K;
    snprintf(info->name, sizeof info->name, "csv");
    for (size_t j = 0; j < st.d; j++)
        snprintf(info->feature_names[j], FA_NAME_LEN, "%s", st.names[st.feat_col[j]]);
    for (size_t i = 0; i < K; i++)
        snprintf(info->class_names[map[i]], FA_NAME_LEN, "%s", st.labels.names[i]);

    /* shrink to fit and hand over */
    out->n = st.n;
    out->d = st.d;
    out->x = realloc(st.x, st.n * st.d * sizeof *st.x);
    out->y = realloc(st.y, st.n * sizeof *st.y);
    CHECK(out->x && out->y, "realloc failed while shrinking");
    st.x = NULL;
    st.y = NULL;

    if (st.has_group && group) {
        size_t G = st.groups.n;
        size_t *gmap = xmalloc(G * sizeof *gmap);
        sorted_ranks(&st.groups, 1, gmap);
        int32_t *g = xmalloc(st.n * sizeof *g);
        for (size_t i = 0; i < st.n; i++) g[i] = (int32_t)gmap[st.g[i]];
        free(gmap);
        *group = g;
        if (n_groups) *n_groups = G;
    }
    state_free(&st);
    return 0;
}

int csv_load(const CsvSpec *spec, Dataset *out, DataInfo *info, int32_t **group, size_t *n_groups,
             char *err, size_t errlen) {
    char *bytes = NULL;
    size_t len = 0;
    memset(out, 0, sizeof *out);
    if (group) *group = NULL;
    if (n_groups) *n_groups = 0;
    if (csv_read_file(spec->path, &bytes, &len, err, errlen) != 0) return -1;
    int rc = csv_parse_bytes(spec, bytes, len, out, info, group, n_groups, err, errlen);
    free(bytes);
    return rc;
}
