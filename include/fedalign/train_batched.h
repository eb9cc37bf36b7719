/*
 * train_batched.h: local training of a group of clients at once, one client per SIMD lane.
 *
 * train_local_group(L, n, params, ...) gives every client g < n exactly the bits of
 *   train_local(L, params[g], ref, ds[g], opts, seed, client[g], round, ws, threaded, stats + g)
 * (the same shuffles, mini-batches, FA_CHUNK chunking with the chunk partials summed in
 * chunk order, the same Adam/SGD step and FedProx term, the partial last epoch): each
 * lane performs the per-client kernel's sequence of floating-point operations on its own
 * client, so neither the lane a client lands in nor the other clients of its group change
 * its result. Clients with different row counts (different mini-batch counts, a shorter
 * last batch) share a group: a lane whose client has no row at a place computes on zeros
 * that add exactly nothing, and a lane whose client has finished keeps its values.
 * Why: the default model's narrow layers (6 inputs, 6 outputs) and a batch of 32 leave
 * SIMD lanes idle when one client's mini-batch is the unit of work; G clients' identical
 * arithmetic fills them (docs/performance.md, "Client-batched training").
 *
 * The kernel file keeps no global state and allocates only in group_ws_build and when a
 * client larger than any seen before arrives (its shuffle order), like train_local.
 * The group width G comes from the ISA the file is compiled for (4 SSE2, 8 AVX, 16
 * AVX-512F); train_group_lanes() says which. 0 = not available in this build (a compiler
 * without GCC vector extensions): callers use train_local then.
 */
#ifndef FEDALIGN_TRAIN_BATCHED_H
#define FEDALIGN_TRAIN_BATCHED_H

#include <stddef.h>
#include <stdint.h>

#include "fedalign/data.h"
#include "fedalign/model.h"

/* the widest group any ISA path uses */
#define FA_GROUP_MAX 16
/* --client-batch auto uses the group kernel from this width on: with the 4 lanes of SSE2 it
 * measured no faster than one client at a time (docs/performance.md) */
#define FA_GROUP_MIN_AUTO 8

/* Scratch of one group (one thread): parameters, moments and activations in lane layout
 * (element x of lane g at [x * G + g]). */
typedef struct {
    size_t lanes;     /* G of the kernel that built it */
    size_t batch_max; /* largest mini-batch it holds */
    size_t rows;      /* batch_max rounded up to the row tile */
    size_t P;
    float *p, *m, *v; /* (P, G) parameters and Adam moments */
    float *act;       /* activations, layer after layer: (rows, width, G) each, a row padded
                         to an odd number of vectors in train_local_group (train_batched.c) */
    float *d0, *d1;   /* (rows, max_width, G) errors of the current and the next layer (padded
                         rows too) */
    float *rmask;     /* (rows, G) all-ones bits where the lane has the row, else 0 */
    int32_t *lab;     /* (rows, G) labels */
    size_t *perm[FA_GROUP_MAX];
    size_t n_perm[FA_GROUP_MAX];
} GroupWs;

/* G of this build's kernel (0: none). */
size_t train_group_lanes(void);
void group_ws_build(GroupWs *gw, const ModelLayout *L, size_t batch_max);
void group_ws_free(GroupWs *gw);

/* Train clients g < n (1 <= n <= train_group_lanes()) as described above; ref (P, shared
 * by all, NULL = none) with opts->mu > 0 adds the FedProx term; stats (n, may be NULL)
 * gets each client's TrainStats. Serial: threads take whole groups. */
void train_local_group(const ModelLayout *L, size_t n, float *const *params, const float *ref,
                       const Dataset *const *ds, const TrainOpts *opts, uint64_t seed,
                       const uint64_t *client, uint64_t round, GroupWs *gw, TrainStats *stats);

#endif
