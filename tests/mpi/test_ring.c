/*
 * test_ring.c: phase 1's token ring over real clients (run at -n 1..4).
 *
 * Checks that every client is visited exactly once per pass, in id order (and in
 * the seeded permutation's order with --ring-perm), with --ring-clients K visiting
 * exactly K clients, and prints the resulting model checksum as
 * `ring_checksum_<case>=...` so tests/e2e/test_repro.sh can compare it across rank
 * counts: a model corrupted in transit changes it. Exit code is the verdict.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/comm.h"
#include "fedalign/config.h"
#include "fedalign/fl.h"

static int failures = 0;
#define EXPECT(c)                                                                                  \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: rank %d: expected %s\n", __FILE__, __LINE__, comm_rank(), #c); \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void run_case(const char *name, bool perm, size_t ring_clients) {
    static Config cfg;
    config_defaults(&cfg);
    config_apply_preset(&cfg, "tiny");
    cfg.clients = 7; /* uneven over 2, 3, 4 ranks */
    cfg.data.samples_per_client = 80;
    cfg.ring_perm = perm;
    cfg.ring_clients = ring_clients;
    Pipeline *pl = fl_setup(&cfg, NULL);
    const FedData *fd = fl_data(pl);
    int64_t *log = malloc(sizeof(int64_t) * (fd->n_local ? fd->n_local : 1));
    for (size_t i = 0; i < fd->n_local; i++) log[i] = -1;
    uint64_t cs;
    fl_ring_test(pl, log, &cs);

    double *loc = malloc(sizeof(double) * (fd->n_local ? fd->n_local : 1));
    for (size_t i = 0; i < fd->n_local; i++) loc[i] = (double)log[i];
    double all[7];
    comm_gatherv_doubles(loc, fd->n_local, all, 0);
    if (comm_rank() == 0) {
        size_t *order;
        size_t m = fl_ring_order(&cfg, &order);
        EXPECT(m == (ring_clients ? ring_clients : 7));
        size_t visited = 0;
        for (size_t t = 0; t < 7; t++) visited += all[t] >= 0;
        EXPECT(visited == m);
        for (size_t k = 0; k < m; k++) EXPECT(all[order[k]] == (double)k);
        for (size_t k = 1; k < m && !perm; k++) EXPECT(order[k] > order[k - 1]);
        printf("ring_checksum_%s=%016" PRIx64 "\n", name, cs);
        free(order);
    }
    free(loc);
    free(log);
    fl_free(pl);
}

int main(int argc, char **argv) {
    comm_init(&argc, &argv);
    run_case("idorder", false, 0);
    run_case("perm", true, 0);
    run_case("sample", false, 4);
    int any = comm_any(failures > 0);
    if (comm_rank() == 0) printf("%s\n", any ? "test_ring: FAILED" : "test_ring: ok");
    comm_finalize();
    return any ? 1 : 0;
}
