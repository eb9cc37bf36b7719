/*
 * consumer.c: a program outside the fedalign tree that links the installed fedalign_core
 * (tests/install/test_install.sh builds it through find_package(fedalign) and through
 * pkg-config). It sets up the tiny preset's pipeline through the public headers alone and
 * prints the model size and this rank's client count, so that the test sees the library
 * work under mpiexec, not just link.
 */
#include <stdio.h>

#include "fedalign/comm.h"
#include "fedalign/config.h"
#include "fedalign/fl.h"
#include "fedalign/timer.h"

int main(int argc, char **argv) {
    comm_init(&argc, &argv);
    static Config cfg; /* large (paths): off the stack */
    config_defaults(&cfg);
    char *args[] = {"consumer", "run", "--preset", "tiny", "--quiet"};
    char err[1024];
    if (config_parse(&cfg, 5, args, err, sizeof err) != 0 ||
        config_validate(&cfg, err, sizeof err) != 0)
        fa_fail("%s", err);
    Timers t;
    timers_reset(&t);
    Pipeline *pl = fl_setup(&cfg, &t);
    const size_t params = fl_layout(pl)->n_params;
    const size_t local = fl_data(pl)->n_local;
    if (comm_rank() == 0)
        printf("consumer: fedalign_core linked, %d ranks, %zu parameters, %zu clients on rank 0\n",
               comm_size(), params, local);
    fl_free(pl);
    comm_finalize();
    return params > 0 && local > 0 ? 0 : 1;
}
