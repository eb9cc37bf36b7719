/*
 * report.h: rank-0 human output and the machine-greppable result lines.
 *
 * Callers invoke these on rank 0 only; nothing here talks MPI. Results go to
 * stdout, diagnostics to stderr. The FEDALIGN_RESULT key set is fixed and
 * documented in README.md; new keys are only appended.
 */
#ifndef FEDALIGN_REPORT_H
#define FEDALIGN_REPORT_H

#include <stdio.h>

#include "fedalign/config.h"
#include "fedalign/fl.h"
#include "fedalign/round.h"

/* With c->quiet the banner, the data block and each method's block print nothing but the
 * FEDALIGN_RESULT line: a quiet run prints only results (and the suite table) and errors. */
void report_banner(FILE *out, const Config *c, int ranks, int threads, bool over_clients,
                   size_t n_params);
void report_data(FILE *out, const Config *c, const DataInfo *info, const size_t totals[4]);
/* The line of phase-2 round r (0-based) of R: the global model's accuracy and loss, the
 * mean training loss, clients aggregated, weighted mean cosine, time; a second line when
 * updates were rejected, or clients dropped out or were late. */
void report_round(FILE *out, const RoundScalars *x, const MethodResult *res, size_t r, size_t R);
/* "== method i/n NAME: phases ..." (index 1-based: the suite's progress) */
void report_method_header(FILE *out, const MethodResult *r, const MethodSpec *ms, size_t index,
                          size_t n);
void report_method(FILE *out, const Config *c, const MethodResult *r, int ranks, int threads);
void report_suite_table(FILE *out, const Config *c, const MethodResult *rs, size_t n);

/* Progress of a long phase on stderr, at most one line per interval (10 s, or the
 * environment's FEDALIGN_PROGRESS_SECS): "# progress WHAT done/total (x%) | elapsed |
 * ETA". Local, no MPI: the caller decides who prints (rank 0, or the ring's token holder)
 * through `on`. done0 = units already done when it began (a resume): the rate counts
 * only those done since. */
typedef struct {
    char what[96];
    bool on;
    size_t done0, total;
    double interval, t0, next;
} Progress;
double report_progress_interval(void);
void progress_begin(Progress *p, bool on, const char *what, size_t done0, size_t total);
void progress_update(Progress *p, size_t done);
/* For work that moves between ranks (the ring): the interval slot last printed travels in
 * *slot with the work, so the ranks together print at most once per interval (their t0
 * is taken after a barrier). */
void progress_update_shared(Progress *p, size_t done, float *slot);

#endif
