/*
 * main.c: wires the modules together (XSBench Main.c style).
 *
 *   Setup (timed, excluded from the FOM): parse + validate flags on every rank,
 *     build this rank's clients, standardization, buffers.
 *   Methods: one (run) or all (suite), each phases 0-3 as it defines (fl.c).
 *   Report & finalize: rank-0 tables, checksums, FEDALIGN_RESULT lines.
 * Exit codes: 0 ok, 1 runtime failure, 2 bad input (on every rank), 3 stopped on
 * request (SIGTERM/SIGUSR1, --stop-after-round) with a checkpoint to resume from.
 * Output names, checkpoints, signals and resume live in runctl.c.
 * Commands: one table (below); dispatch, the top-level --help and the generated shell
 * completion read it, so a command cannot be missing from one of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "complete.h"
#include "fedalign/bench.h"
#include "fedalign/check.h"
#include "fedalign/comm.h"
#include "fedalign/config.h"
#include "fedalign/datacmd.h"
#include "fedalign/export.h"
#include "fedalign/fl.h"
#include "fedalign/report.h"
#include "fedalign/runctl.h"
#include "fedalign/store.h"

#define FA_MAX_METHODS FA_MAX_SUITE_METHODS

/* `fedalign data`: a serial inspection tool; rank 0 builds every client. */
static int run_data(const Config *cfg) {
    /* Every rank builds the data so that an input error (bad CSV, impossible
     * partition) is found on every rank and fa_fail() ends them all with one message;
     * the other ranks build one client only (every check runs over all clients). */
    const bool root = comm_rank() == 0;
    FedData fd;
    feddata_build(&fd, &cfg->data, cfg->seed, cfg->clients, 0, root ? cfg->clients : 1, false);
    char err[512] = "";
    bool ok = true;
    if (root) {
        if (cfg->describe || !cfg->export_dir[0]) datacmd_describe(&fd, stdout);
        if (cfg->export_dir[0])
            ok = datacmd_export(&fd, cfg->export_dir, cfg->overwrite, err, sizeof err) == 0;
    }
    feddata_free(&fd);
    if (!comm_all(ok)) fa_fail("%s", err); /* only rank 0's message is printed */
    if (root && cfg->export_dir[0])
        printf("exported %zu clients to %s\n", cfg->clients, cfg->export_dir);
    return FA_EXIT_OK;
}

/* the per-split row totals over all ranks, for the banner */
static void data_totals(const FedData *fd, size_t totals[4]) {
    double tt[4] = {0, 0, 0, (double)fd->public_data.n};
    for (size_t i = 0; i < fd->n_local; i++) {
        tt[0] += (double)fd->clients[i].train.n;
        tt[1] += (double)fd->clients[i].val.n;
        tt[2] += (double)fd->clients[i].test.n;
    }
    comm_allreduce_sum_double(tt, 4); /* integer-valued: exact below 2^53 */
    for (int k = 0; k < 4; k++) totals[k] = (size_t)tt[k];
}

/* `fedalign run|suite`: setup, the methods, the results file. Returns the exit code. */
static int run_methods(Config *cfg) {
    const int rank = comm_rank(), ranks = comm_size();
    RunCtl rc;
    runctl_prepare(cfg, &rc);
    runctl_signals();

    // ------------------------------------------------------------------
    // Setup (not part of the FOM)
    Timers setup;
    timers_reset(&setup);
    timer_start(&setup, FA_T_SETUP);
    Pipeline *pl = fl_setup(cfg, &setup);
    timer_stop(&setup, FA_T_SETUP);
    const FedData *fd = fl_data(pl);
    rc.pl = pl;
    rc.ranks = ranks;
    rc.threads = fl_threads(pl);
    size_t totals[4];
    data_totals(fd, totals);
    if (rank == 0) {
        report_banner(stdout, cfg, ranks, rc.threads, fl_threads_over_clients(pl),
                      fl_layout(pl)->n_params);
        report_data(stdout, cfg, &fd->info, totals);
        if (!cfg->quiet)
            printf("# setup %.3f s | results %s | checkpoint %s\n", setup.acc[FA_T_SETUP],
                   cfg->out_path, rc.ckpt);
    }

    // ------------------------------------------------------------------
    // Methods
    MethodSpec specs[FA_MAX_METHODS];
    rc.n_methods = cfg->command == FA_CMD_SUITE ? fl_suite_methods(cfg, specs, FA_MAX_METHODS)
                                                : fl_method_from_config(cfg, specs);
    rc.res = xcalloc(rc.n_methods, sizeof(MethodResult));
    size_t m0;
    FlCursor cur;
    bool done = runctl_resume(&rc, &m0, &cur);
    FlHooks hooks = {.checkpoint = runctl_checkpoint,
                     .stop_requested = runctl_stop_requested,
                     .ctx = &rc,
                     .every = cfg->ckpt_every,
                     .at_phase_ends = rc.ckpt_on,
                     .stop_after_round = cfg->stop_after_round,
                     .stop_before_phase = (int)cfg->stop_before_phase};
    int status = FA_EXIT_OK;
    for (size_t m = m0; m < rc.n_methods && !done; m++) {
        MethodResult *res = &rc.res[m];
        rc.current = m;
        bool from_ckpt = rc.resumed && m == m0 && (cur.phase > 0 || cur.round > 0);
        if (!from_ckpt) fl_result_init(pl, &specs[m], res);
        if (rank == 0 && !cfg->quiet)
            report_method_header(stdout, res, &specs[m], m + 1, rc.n_methods);
        if (fl_run_method(pl, &specs[m], res, from_ckpt ? &cur : NULL, &hooks) == FA_STOPPED) {
            if (rank == 0) {
                printf("# stopped: method %s after round %zu; checkpoint %s\n", specs[m].name,
                       res->rounds_done, rc.ckpt);
                printf("# resume with the same command plus: --resume %s\n", rc.ckpt);
                fflush(stdout);
            }
            status = FA_STOPPED;
            break;
        }
        if (rank == 0) report_method(stdout, cfg, res, ranks, rc.threads);
        if (runctl_method_done(&rc, m)) {
            if (rank == 0)
                printf("# stopped after method %s; resume with the same command plus: --resume "
                       "%s\n",
                       specs[m].name, rc.ckpt);
            status = FA_STOPPED;
            break;
        }
    }

    // ------------------------------------------------------------------
    // Report & finalize
    if (status == FA_EXIT_OK && !done) {
        double io;
        runctl_finish(&rc, &io);
        if (rank == 0 && cfg->command == FA_CMD_SUITE)
            report_suite_table(stdout, cfg, rc.res, rc.n_methods);
        if (rank == 0 && !cfg->quiet && store_writes_files())
            printf("# results written to %s (io %.3f s)\n", cfg->out_path, io);
    }
    for (size_t m = 0; m < rc.n_methods; m++)
        if (rc.res[m].round_acc) fl_result_free(&rc.res[m]);
    free(rc.res);
    fl_free(pl);
    return status;
}

// ----------------------------------------------------------------------------
// the command table

static int cmd_config(int argc, char **argv);
static int cmd_completion(int argc, char **argv);

static const char *const *no_words(size_t *n) {
    *n = 0;
    return NULL;
}

typedef struct {
    const char *name, *summary;
    int (*main)(int argc, char **argv);     /* argv[1] is the command word */
    const OptDef *(*options)(size_t *n);    /* its own flags; NULL: none */
    bool run_flags;                         /* also takes the run/suite/data flags */
    const char *const *(*words)(size_t *n); /* positional words (completion) */
} Command;

static const Command commands[] = {
    {"run", "one method (--method), phases 0-3 as the method defines", cmd_config, NULL, true,
     no_words},
    {"suite", "every method and ablation on identical data, splits and seeds", cmd_config, NULL,
     true, no_words},
    {"data", "inspect the clients' data (--describe, --export DIR)", cmd_config, NULL, true,
     no_words},
    {"export", "one client's model as int8 C99 for a microcontroller (fedalign export --help)",
     export_main, export_option_table, true, no_words},
    {"bench", "systems micro-benchmarks (fedalign bench --help)", bench_main, bench_option_table,
     false, bench_sub_names},
    {"completion", "print the bash completion script, generated from these option tables",
     cmd_completion, NULL, false, no_words},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
    fputs("Usage: fedalign COMMAND [options]\n"
          "       fedalign --version | --help\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].summary);
    config_usage(out);
}

/* "run, suite, ... or completion" for messages */
static void command_list(char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_COMMANDS && used < cap; i++) {
        const char *sep = i == 0 ? "" : i + 1 < N_COMMANDS ? ", " : " or ";
        int k = snprintf(buf + used, cap - used, "%s%s", sep, commands[i].name);
        if (k < 0) break;
        used += (size_t)k;
    }
}

/* `fedalign run|suite|data`: the option table of config.c */
static int cmd_config(int argc, char **argv) {
    static Config cfg; /* large (paths); static keeps it off the stack */
    config_defaults(&cfg);
    char err[1024];
    if (config_parse(&cfg, argc, argv, err, sizeof err) != 0 ||
        config_validate(&cfg, err, sizeof err) != 0)
        fa_fail("%s\nHINT: fedalign --help lists every option", err);
    if (cfg.command == FA_CMD_HELP) {
        if (comm_rank() == 0) usage(stdout);
        return FA_EXIT_OK;
    }
    isa_start(cfg.isa); /* the kernels' path, before any kernel runs */
    return cfg.command == FA_CMD_DATA ? run_data(&cfg) : run_methods(&cfg);
}

/* `fedalign completion [bash]`: the script from every command's tables; the build writes
 * it and cmake --install puts it in bash-completion's completions directory */
static int cmd_completion(int argc, char **argv) {
    if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        if (comm_rank() == 0)
            puts("usage: fedalign completion [bash]\n"
                 "  prints the bash completion script: source it, or install it as\n"
                 "  share/bash-completion/completions/fedalign (cmake --install does)");
        return FA_EXIT_OK;
    }
    if (argc > 3 || (argc == 3 && strcmp(argv[2], "bash") != 0))
        fa_fail("completion: unknown shell '%s' (only bash)\nHINT: fedalign completion --help",
                argv[argc - 1]);
    if (comm_rank() != 0) return FA_EXIT_OK;
    static Config cfg; /* only its table is used; static like cmd_config's */
    config_defaults(&cfg);
    const OptSet run = config_option_set(&cfg);
    CompleteCmd cc[N_COMMANDS];
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const Command *c = &commands[i];
        CompleteCmd *o = &cc[i];
        memset(o, 0, sizeof *o);
        o->name = c->name;
        int t = 0;
        if (c->options) o->defs[t] = c->options(&o->n_defs[t]), t++;
        if (c->run_flags) o->defs[t] = run.defs, o->n_defs[t] = run.n;
        o->words = c->words(&o->n_words);
    }
    complete_bash(stdout, cc, N_COMMANDS);
    return FA_EXIT_OK;
}

int main(int argc, char **argv) {
    comm_init(&argc, &argv);
    int status = FA_EXIT_OK;
    const char *word = argc > 1 ? argv[1] : "";
    const Command *cmd = NULL;
    for (size_t i = 0; i < N_COMMANDS && !cmd; i++)
        if (strcmp(word, commands[i].name) == 0) cmd = &commands[i];
    if (strcmp(word, "--version") == 0) {
        if (comm_rank() == 0) printf("fedalign %s (git %s)\n", FEDALIGN_VERSION, FEDALIGN_GIT);
    } else if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0 ||
               strcmp(word, "help") == 0) {
        if (comm_rank() == 0) usage(stdout);
    } else if (cmd) {
        status = cmd->main(argc, argv);
    } else {
        char names[256];
        command_list(names, sizeof names);
        if (argc < 2) fa_fail("no command given (expected %s)\nHINT: fedalign --help", names);
        fa_fail("unknown command '%s' (expected %s)\nHINT: fedalign --help", word, names);
    }
    comm_finalize();
    return status;
}
