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

void report_banner(FILE *out, const Config *c, int ranks, int threads, bool over_clients,
                   size_t n_params);
void report_data(FILE *out, const Config *c, const DataInfo *info, const size_t totals[4]);
/* The line of phase-2 round r (0-based) of R: the global model's accuracy and loss, the
 * mean training loss, clients aggregated, weighted mean cosine, time; a second line when
 * updates were rejected, or clients dropped out or were late. */
void report_round(FILE *out, const RoundScalars *x, const MethodResult *res, size_t r, size_t R);
void report_method_header(FILE *out, const MethodResult *r, const MethodSpec *ms);
void report_method(FILE *out, const Config *c, const MethodResult *r, int ranks, int threads);
void report_suite_table(FILE *out, const Config *c, const MethodResult *rs, size_t n);

#endif
