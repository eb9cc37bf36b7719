/*
 * opttab.h: the one table-driven long-option parser of every command (run, suite, data,
 * export, bench) and the name tables of word-valued options.
 *
 * A command describes its flags as an OptDef table over its own options struct; one
 * table (or several, each over its own struct, searched in order) is parsed by
 * opt_parse(), printed by opt_usage() and formatted by opt_format(), so the parser, the
 * help text and the printed value of a flag cannot drift apart.
 *
 * Accepted forms: --name VALUE, --name=VALUE, --flag, --help / -h (returns OPT_HELP),
 * positional words (only when the spec has a positional callback) and "--", which ends
 * the options when the spec allows it (the index of the next word is returned).
 * Nothing here exits or prints: errors come back as -1 and one message naming the flag.
 */
#ifndef FEDALIGN_OPTTAB_H
#define FEDALIGN_OPTTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fedalign/check.h"

// ----------------------------------------------------------------------------
// name tables: value i is called names[i] (every word-valued enum is 0..n-1)

typedef struct {
    const char *const *names; /* n names, value i = names[i] */
    const char *const *descs; /* optional: one short description per name (help text) */
    int n;
} FaEnum;

/* The name of value v, or "?" when v is out of range. */
const char *fa_enum_name(const FaEnum *e, int v);
/* The value named s, or -1. */
int fa_enum_value(const FaEnum *e, const char *s);
/* "a, b or c" (for messages) into buf. */
void fa_enum_list(const FaEnum *e, char *buf, size_t cap);

// ----------------------------------------------------------------------------
// option tables

typedef enum {
    OPT_SIZE,   /* size_t, integer in [lo, hi] */
    OPT_U64,    /* uint64_t, integer in [lo, hi] */
    OPT_INT,    /* int, integer in [lo, hi] */
    OPT_DOUBLE, /* double, finite number in [lo, hi] */
    OPT_FLAG,   /* bool set to true, no value */
    OPT_NOFLAG, /* bool set to false (--no-x), no value */
    OPT_ENUM,   /* a name of `en`, stored as int (or bool when size == sizeof(bool)) */
    OPT_STR,    /* a string copied into char[size] */
    OPT_CUSTOM  /* parsed by `parse`, shown by `show` */
} OptType;

/* OptDef.flags */
#define OPT_RESULTS 1u   /* the value changes the results (config hash, report grouping) */
#define OPT_WRITTEN 2u   /* the value changes what the results file holds (config hash) */
#define OPT_CMDONLY 4u   /* a command's own option, not a configuration value (not visited) */
#define OPT_FIRST 8u     /* applied before every other option, wherever it stands (presets) */
#define OPT_NONEMPTY 16u /* OPT_STR: an empty value is refused */

typedef int (*OptParseFn)(void *target, const char *value, char *err, size_t errlen);
typedef const char *(*OptShowFn)(const void *target, char *buf, size_t cap);

typedef struct {
    const char *name; /* long name without "--" */
    const char *arg;  /* metavariable, NULL for flags */
    OptType type;
    size_t off, size;  /* the field in the target struct */
    double lo, hi;     /* inclusive range of numbers */
    unsigned flags;    /* OPT_* */
    const char *group; /* usage section */
    const char *help;
    const char *unset; /* OPT_STR: what an empty string means, shown instead of "" */
    const FaEnum *en;  /* OPT_ENUM (and OPT_CUSTOM whose help lists names) */
    OptParseFn parse;  /* OPT_CUSTOM */
    OptShowFn show;    /* OPT_CUSTOM; NULL shows "" */
} OptDef;

/* One table over one target struct. */
typedef struct {
    const OptDef *defs;
    size_t n;
    void *target;
} OptSet;

typedef int (*OptPositionalFn)(void *ctx, const char *word, char *err, size_t errlen);

typedef struct {
    const OptSet *sets; /* searched in order; the first table naming a flag wins */
    size_t n_sets;
    OptPositionalFn positional; /* NULL: a word that is not an option is an error */
    void *positional_ctx;
    bool dashdash;         /* "--" ends the options (see opt_parse's *rest) */
    const char *help_hint; /* appended to "unknown option" messages, e.g. "fedalign --help" */
} OptSpec;

#define OPT_HELP 1

/* Parse argv[first..argc). Returns 0, OPT_HELP when --help/-h was given (nothing after it
 * is parsed), or -1 with a message in err. rest (may be NULL) receives the index of the
 * first word after "--", or argc. */
int opt_parse(const OptSpec *spec, int argc, char *const argv[], int first, int *rest, char *err,
              size_t errlen);

/* The value of o in target as text (what --help shows in brackets and the results file
 * stores). */
/* The message helpers of every option parser (custom ones too): opt_fail formats into err
 * and returns -1; opt_parse_double accepts a whole finite number and nothing else. */
int opt_fail(char *err, size_t errlen, const char *fmt, ...) FA_PRINTF(3, 4);
bool opt_parse_double(const char *s, double *out);

void opt_format(const OptDef *o, const void *target, char *buf, size_t cap);

/* The value of o in target with its type, for typed records (results-file attributes):
 * integers (OPT_SIZE, OPT_INT) as i, OPT_U64 as u, OPT_DOUBLE as f, flags as b (true when
 * the flag was given: --no-x sets b for a false field); enums, strings and custom options
 * are text (kind OPT_V_TEXT: opt_format gives it). */
typedef enum { OPT_V_TEXT = 0, OPT_V_INT, OPT_V_UINT, OPT_V_FLOAT, OPT_V_BOOL } OptValueKind;
typedef struct {
    OptValueKind kind;
    int64_t i;
    uint64_t u;
    double f;
    bool b;
} OptValue;
void opt_value(const OptDef *o, const void *target, OptValue *out);

/* One help line per option ("--name ARG  help: names [default]"), grouped under the
 * group names; defaults (may be NULL) is a target struct holding the defaults to show. */
void opt_usage(const OptDef *defs, size_t n, const void *defaults, FILE *out);

/* Table-entry helpers: X(Type, field) gives offset and size of a field of Type. */
#define OPT_FIELD(T, f) offsetof(T, f), sizeof(((T *)0)->f)

#endif
