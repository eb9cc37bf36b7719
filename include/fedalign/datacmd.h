/*
 * datacmd.h: the `fedalign data` command's two actions on a built FedData:
 * a per-client description table and a per-client CSV export.
 *
 * Both are rank-local: they look only at this rank's clients. The caller gathers
 * or serializes the ranks' output in rank order. No MPI here.
 */
#ifndef FEDALIGN_DATACMD_H
#define FEDALIGN_DATACMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "fedalign/data.h"

/* Print a fixed-width table of this rank's clients to out: client id, train/val/test
 * sizes and the label histogram over all the client's rows (one column per class, with
 * a legend of class names), then a totals line over these clients. Above
 * FA_DESCRIBE_MAX_ROWS clients only the first and last FA_DESCRIBE_EDGE_ROWS rows are
 * printed, followed by the min/median/max over all clients of their sizes and of the
 * number of classes each holds. */
#define FA_DESCRIBE_MAX_ROWS 50
#define FA_DESCRIBE_EDGE_ROWS 10
void datacmd_describe(const FedData *fd, FILE *out);

/* Write one CSV per local client, dir/client_<id>.csv, with a header of the feature
 * names, "label" (the class name) and "split" (train|val|test); rows in split order.
 * Creates dir if it does not exist. Refuses (before writing anything) when one of those
 * files exists, unless overwrite. Returns 0, or -1 with a message in err. */
int datacmd_export(const FedData *fd, const char *dir, bool overwrite, char *err, size_t errlen);

#endif
