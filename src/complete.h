/*
 * complete.h: the bash completion script of `fedalign`, written from the commands' option
 * tables (opttab.h) by `fedalign completion bash`, so that it lists exactly the flags the
 * parsers accept. Private to the executable's wiring (main.c); not installed.
 */
#ifndef FEDALIGN_COMPLETE_H
#define FEDALIGN_COMPLETE_H

#include <stddef.h>
#include <stdio.h>

#include "fedalign/opttab.h"

/* One command as the completion sees it: its word, up to two option tables (searched
 * like opt_parse's sets) and the positional words it accepts (bench's sub-benchmarks). */
typedef struct {
    const char *name;
    const OptDef *defs[2];
    size_t n_defs[2];
    const char *const *words;
    size_t n_words;
} CompleteCmd;

/* The script: one function `_fedalign` and its `complete -F` line. Top-level words are
 * the command names plus --help and --version. */
void complete_bash(FILE *out, const CompleteCmd *cmds, size_t n);

#endif
