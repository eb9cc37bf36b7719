/*
 * opttab.c: the table-driven long-option parser shared by every command, the usage
 * printer and the value formatter (see opttab.h).
 *
 * Numbers are checked strictly (the whole word, finite, in range) because a flag that
 * is half-parsed silently changes an experiment; the messages name the flag and the
 * offending text so the user can fix the command line from the message alone.
 */
#include "fedalign/opttab.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/check.h"

// ----------------------------------------------------------------------------
// name tables

const char *fa_enum_name(const FaEnum *e, int v) { return v >= 0 && v < e->n ? e->names[v] : "?"; }

int fa_enum_value(const FaEnum *e, const char *s) {
    for (int i = 0; i < e->n; i++)
        if (strcmp(s, e->names[i]) == 0) return i;
    return -1;
}

void fa_enum_list(const FaEnum *e, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < e->n && used < cap; i++) {
        const char *sep = i == 0 ? "" : i + 1 == e->n ? " or " : ", ";
        int k = snprintf(buf + used, cap - used, "%s%s", sep, e->names[i]);
        if (k < 0) break;
        used += (size_t)k;
    }
}

// ----------------------------------------------------------------------------
// parsing one value

int opt_fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

bool opt_parse_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(v)) return false;
    *out = v;
    return true;
}

static bool parse_u64(const char *s, uint64_t *out) {
    char *end;
    if (*s == '-' || *s == '+' || *s == '\0') return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno == ERANGE) return false;
    *out = (uint64_t)v;
    return true;
}

/* enums live in int-sized enum fields or, for two-valued words, in bools */
static void store_enum(const OptDef *o, char *base, int v) {
    if (o->size == sizeof(bool)) *(bool *)(base + o->off) = v != 0;
    else memcpy(base + o->off, &v, sizeof v);
}

static int load_enum(const OptDef *o, const char *base) {
    if (o->size == sizeof(bool)) return *(const bool *)(base + o->off) ? 1 : 0;
    int v;
    memcpy(&v, base + o->off, sizeof v);
    return v;
}

static int apply(const OptDef *o, void *target, const char *v, char *err, size_t errlen) {
    char *base = target;
    switch (o->type) {
    case OPT_FLAG: *(bool *)(base + o->off) = true; return 0;
    case OPT_NOFLAG: *(bool *)(base + o->off) = false; return 0;
    case OPT_CUSTOM: return o->parse(target, v, err, errlen);
    case OPT_ENUM: {
        int e = fa_enum_value(o->en, v);
        if (e < 0) {
            char list[256];
            fa_enum_list(o->en, list, sizeof list);
            return opt_fail(err, errlen, "--%s: unknown %s '%s' (expected %s)", o->name, o->name, v,
                            list);
        }
        store_enum(o, base, e);
        return 0;
    }
    case OPT_STR: {
        size_t n = strlen(v);
        if ((o->flags & OPT_NONEMPTY) && (n == 0 || n >= o->size))
            return opt_fail(err, errlen, "--%s: empty or too long path (at most %zu bytes)",
                            o->name, o->size - 1);
        if (n >= o->size)
            return opt_fail(err, errlen, "--%s: value too long (at most %zu bytes)", o->name,
                            o->size - 1);
        memcpy(base + o->off, v, n + 1);
        return 0;
    }
    case OPT_DOUBLE: {
        double d;
        if (!opt_parse_double(v, &d))
            return opt_fail(err, errlen, "--%s: '%s' is not a number", o->name, v);
        if (d < o->lo || d > o->hi)
            return opt_fail(err, errlen, "--%s: %g is out of range [%g, %g]", o->name, d, o->lo,
                            o->hi);
        *(double *)(base + o->off) = d;
        return 0;
    }
    case OPT_SIZE:
    case OPT_U64:
    case OPT_INT: {
        uint64_t u;
        if (!parse_u64(v, &u))
            return opt_fail(err, errlen, "--%s: '%s' is not a non-negative integer", o->name, v);
        if ((double)u < o->lo || (double)u > o->hi)
            return opt_fail(err, errlen, "--%s: %s is out of range [%.0f, %.0f]", o->name, v, o->lo,
                            o->hi);
        if (o->type == OPT_SIZE) *(size_t *)(base + o->off) = (size_t)u;
        else if (o->type == OPT_U64) *(uint64_t *)(base + o->off) = u;
        else *(int *)(base + o->off) = (int)u;
        return 0;
    }
    }
    return opt_fail(err, errlen, "--%s: unsupported option type", o->name);
}

// ----------------------------------------------------------------------------
// the parser

static const OptDef *find(const OptSpec *s, const char *name, size_t len, void **target) {
    for (size_t k = 0; k < s->n_sets; k++)
        for (size_t i = 0; i < s->sets[k].n; i++) {
            const OptDef *o = &s->sets[k].defs[i];
            if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) {
                *target = s->sets[k].target;
                return o;
            }
        }
    return NULL;
}

/* One walk over argv; pass 0 applies only OPT_FIRST options (so that a preset sets its
 * sizes before any flag overrides them, in any order), pass 1 everything else. */
static int walk(const OptSpec *s, int argc, char *const argv[], int first, int pass, int *rest,
                char *err, size_t errlen) {
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) return pass ? OPT_HELP : 0;
        if (s->dashdash && strcmp(a, "--") == 0) {
            if (rest) *rest = i + 1;
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (!s->positional)
                return opt_fail(err, errlen, "unexpected argument '%s' (options start with --)", a);
            if (pass && s->positional(s->positional_ctx, a, err, errlen) != 0) return -1;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        void *target = NULL;
        const OptDef *o = find(s, name, len, &target);
        if (!o)
            return opt_fail(err, errlen, "unknown option '--%.*s' (see %s)", (int)len, name,
                            s->help_hint ? s->help_hint : "fedalign --help");
        const char *v = NULL;
        if (o->arg) {
            if (eq) v = eq + 1;
            else if (i + 1 < argc) v = argv[++i];
            else return opt_fail(err, errlen, "--%s needs a value (%s)", o->name, o->arg);
        } else if (eq) {
            return opt_fail(err, errlen, "--%s takes no value", o->name);
        }
        if (((o->flags & OPT_FIRST) != 0) == (pass == 0) && apply(o, target, v, err, errlen) != 0)
            return -1;
    }
    if (rest) *rest = argc;
    return 0;
}

int opt_parse(const OptSpec *spec, int argc, char *const argv[], int first, int *rest, char *err,
              size_t errlen) {
    if (err && errlen) err[0] = '\0';
    for (int pass = 0; pass < 2; pass++) {
        int rc = walk(spec, argc, argv, first, pass, rest, err, errlen);
        if (rc != 0) return rc;
    }
    return 0;
}

// ----------------------------------------------------------------------------
// printing

void opt_format(const OptDef *o, const void *target, char *buf, size_t cap) {
    const char *base = target;
    switch (o->type) {
    case OPT_FLAG: snprintf(buf, cap, "%s", *(const bool *)(base + o->off) ? "yes" : "no"); break;
    case OPT_NOFLAG: snprintf(buf, cap, "%s", *(const bool *)(base + o->off) ? "no" : "yes"); break;
    case OPT_DOUBLE: snprintf(buf, cap, "%.6g", *(const double *)(base + o->off)); break;
    case OPT_SIZE: snprintf(buf, cap, "%zu", *(const size_t *)(base + o->off)); break;
    case OPT_U64:
        snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)(base + o->off));
        break;
    case OPT_INT: snprintf(buf, cap, "%d", *(const int *)(base + o->off)); break;
    case OPT_ENUM: snprintf(buf, cap, "%s", fa_enum_name(o->en, load_enum(o, base))); break;
    case OPT_STR:
        snprintf(buf, cap, "%s", base[o->off] || !o->unset ? base + o->off : o->unset);
        break;
    case OPT_CUSTOM: {
        char tmp[4096 + 64];
        const char *s = o->show ? o->show(target, tmp, sizeof tmp) : "";
        snprintf(buf, cap, "%s", s);
        break;
    }
    }
}

void opt_value(const OptDef *o, const void *target, OptValue *out) {
    const char *base = target;
    memset(out, 0, sizeof *out);
    switch (o->type) {
    case OPT_FLAG: out->kind = OPT_V_BOOL, out->b = *(const bool *)(base + o->off); break;
    case OPT_NOFLAG: out->kind = OPT_V_BOOL, out->b = !*(const bool *)(base + o->off); break;
    case OPT_DOUBLE: out->kind = OPT_V_FLOAT, out->f = *(const double *)(base + o->off); break;
    case OPT_SIZE:
        out->kind = OPT_V_INT, out->i = (int64_t) * (const size_t *)(base + o->off);
        break;
    case OPT_INT: out->kind = OPT_V_INT, out->i = *(const int *)(base + o->off); break;
    case OPT_U64: out->kind = OPT_V_UINT, out->u = *(const uint64_t *)(base + o->off); break;
    case OPT_ENUM:
    case OPT_STR:
    case OPT_CUSTOM: out->kind = OPT_V_TEXT; break;
    }
}

/* the help text, with the names of a word-valued option appended from its table */
static void help_text(const OptDef *o, char *buf, size_t cap) {
    int k = snprintf(buf, cap, "%s", o->help);
    if (!o->en || k < 0 || (size_t)k >= cap) return;
    size_t used = (size_t)k;
    for (int i = 0; i < o->en->n && used < cap; i++) {
        const char *d = o->en->descs ? o->en->descs[i] : NULL;
        k = snprintf(buf + used, cap - used, "%s%s%s%s%s", i ? (o->en->descs ? " | " : "|") : ": ",
                     o->en->names[i], d ? " (" : "", d ? d : "", d ? ")" : "");
        if (k < 0) break;
        used += (size_t)k;
    }
}

void opt_usage(const OptDef *defs, size_t n, const void *defaults, FILE *out) {
    const char *group = "";
    char val[4096 + 64], help[512];
    for (size_t i = 0; i < n; i++) {
        const OptDef *o = &defs[i];
        if (o->group && strcmp(group, o->group) != 0) {
            group = o->group;
            fprintf(out, "  %s:\n", group);
        }
        char lhs[64];
        snprintf(lhs, sizeof lhs, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        help_text(o, help, sizeof help);
        val[0] = '\0';
        if (defaults && o->type != OPT_FLAG && o->type != OPT_NOFLAG)
            opt_format(o, defaults, val, sizeof val);
        if (val[0]) fprintf(out, "    %-22s %s [%s]\n", lhs, help, val);
        else fprintf(out, "    %-22s %s\n", lhs, help);
    }
}
