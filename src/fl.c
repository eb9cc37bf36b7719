/*
 * fl.c: one method end to end (fl.h): setup of the pipeline, the method list, and
 * fl_run_method, which runs the method's phases from its row of the method table
 * (method.h) with checkpoints at the boundaries, then summarizes the clients.
 *
 * Where the phases are: fl_phases.c (phase 0, the phase-1 ring, local-only training,
 * phase 3), fl_round.c (phase 2, round by round), round.c (the round's exact sums).
 * Reproducibility: a client's work depends only on (seed, client id, round) and the
 * broadcast global model; every sum over clients is an int64 fixed-point sum; the
 * server update is a function of the exact rational num/den (fl_apply_update). So
 * the global model, the per-client metrics and the personalized models are
 * bit-identical for any number of ranks and threads.
 */
#include "fedalign/fl.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedalign/aggregate.h"
#include "fedalign/check.h"
#include "fedalign/comm.h"
#include "fedalign/dynamics.h"
#include "fedalign/metrics.h"
#include "fedalign/quant.h"
#include "fedalign/rng.h"
#include "personal_fl.h"
#include "pipeline.h"

const FedData *fl_data(const Pipeline *pl) { return &pl->fd; }
const ModelLayout *fl_layout(const Pipeline *pl) { return &pl->L; }
int fl_threads(const Pipeline *pl) { return pl->nthreads; }
bool fl_threads_over_clients(const Pipeline *pl) { return pl->over_clients; }

// ----------------------------------------------------------------------------
// setup

/* Exact federated standardization: per-feature mean and std over every client's
 * train rows. Values are scaled by the global max |x| per feature so each
 * contribution lies in [-1, 1]; sums are fixed-point int64, reduced exactly. */
static void setup_norm(Pipeline *pl) {
    const size_t D = pl->fd.info.d, n = pl->fd.n_local;
    double *mx = xcalloc(D, sizeof(double));
    for (size_t i = 0; i < n; i++) {
        const Dataset *ds = &pl->fd.clients[i].train;
        for (size_t r = 0; r < ds->n; r++)
            for (size_t j = 0; j < D; j++) mx[j] = fmax(mx[j], fabs((double)ds->x[r * D + j]));
    }
    comm_allreduce_max_double(mx, D);
    int64_t *s = xcalloc(2 * D + 1, sizeof(int64_t));
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        const Dataset *ds = &pl->fd.clients[i].train;
        for (size_t r = 0; r < ds->n; r++)
            for (size_t j = 0; j < D; j++) {
                double v = mx[j] > 0.0 ? (double)ds->x[r * D + j] / mx[j] : 0.0;
                int64_t a, b;
                ok = ok && fixed_from_double(v, &a) && fixed_from_double(v * v, &b);
                if (ok) {
                    s[j] += a;
                    s[D + j] += b;
                }
            }
        s[2 * D] += (int64_t)ds->n;
    }
    CHECK(ok, "standardization sums out of range");
    comm_allreduce_sum_i64(s, 2 * D + 1);
    double *mean = xmalloc(D * sizeof(double)), *sd = xmalloc(D * sizeof(double));
    const double rows = (double)s[2 * D];
    for (size_t j = 0; j < D; j++) {
        double m1 = fixed_to_double(s[j]) / rows, m2 = fixed_to_double(s[D + j]) / rows;
        mean[j] = m1 * mx[j];
        sd[j] = sqrt(fmax(m2 - m1 * m1, 0.0)) * mx[j];
    }
    model_init(&pl->L, pl->init, pl->cfg->seed, 0);
    model_set_norm(&pl->L, pl->init, mean, sd);
    free(mean);
    free(sd);
    free(s);
    free(mx);
}

/* cnn1d: the window shape comes from the data; tabular data or a window too short for the
 * conv blocks is an input error (every rank sees the same data). */
static void cnn_shape(const Config *cfg, const DataInfo *info, ModelShape *shape) {
    if (info->win_len == 0)
        fa_fail("--model cnn1d needs raw-window data (rows of time steps x channels); '%s' "
                "has %zu tabular features: use --model mlp",
                info->name, info->d);
    shape->win_len = info->win_len;
    shape->win_ch = info->win_ch;
    if (model_cnn_out_len(shape) == 0)
        fa_fail("--conv %s with --pool %zu: a window of %zu steps is too short for these conv "
                "blocks (each valid conv of kernel k takes k - 1 steps, each pool divides by "
                "the pool size)",
                cfg->conv_str, shape->pool, info->win_len);
    /* the int8 kernels' accumulator bound (quant.h), checked before any training */
    for (size_t b = 0; cfg->int8 && b < shape->n_conv; b++) {
        const size_t cin = b ? shape->conv_ch[b - 1] : shape->win_ch;
        if (shape->conv_k[b] * cin > FA_Q_MAX_FAN_IN)
            fa_fail("--conv %s: block %zu sees %zu steps x %zu channels per output, more than "
                    "the int8 model's %d inputs (use smaller blocks or --no-int8)",
                    cfg->conv_str, b + 1, shape->conv_k[b], cin, FA_Q_MAX_FAN_IN);
    }
}

Pipeline *fl_setup(const Config *cfg, Timers *setup_timers) {
    Pipeline *pl = xcalloc(1, sizeof *pl);
    pl->cfg = cfg;
    pl->rank = comm_rank();
    pl->size = comm_size();
    if ((size_t)pl->size > cfg->clients)
        fa_fail("%d ranks but only %zu clients: every rank needs at least one client "
                "(use --clients >= %d or fewer ranks)",
                pl->size, cfg->clients, pl->size);
    /* the public data is needed on rank 0 only (phase 0 runs there) */
    feddata_build_ranks(&pl->fd, &cfg->data, cfg->seed, cfg->clients, pl->rank, pl->size,
                        cfg->assign == FA_ASSIGN_BALANCED, pl->rank == 0);
    for (size_t i = 0; i < pl->fd.n_local; i++)
        if (pl->fd.clients[i].train.n == 0)
            die(__FILE__, __LINE__, "client %lld has no training rows",
                (long long)pl->fd.clients[i].id);

    ModelShape shape = cfg->shape;
    shape.n_in = pl->fd.info.d;
    shape.n_out = pl->fd.info.k;
    if (shape.kind == FA_MODEL_CNN1D) cnn_shape(cfg, &pl->fd.info, &shape);
    pl->P = model_layout(&pl->L, &shape);
    const size_t P = pl->P, n = pl->fd.n_local;

    pl->nthreads = omp_get_max_threads();
    if (cfg->threads_over == FA_THREADS_CLIENTS) pl->over_clients = true;
    else if (cfg->threads_over == FA_THREADS_BATCH) pl->over_clients = false;
    /* auto: whole clients per thread; with fewer clients than threads, split the
     * mini-batch only when every thread gets at least FA_SPLIT_MIN_CHUNKS chunks of it
     * (64 rows with 2 threads): below that the barrier that ends every mini-batch costs
     * more than the split saves (docs/performance.md), so each client gets one thread
     * and the other threads idle */
    else
        pl->over_clients = n >= (size_t)pl->nthreads ||
                           cfg->local.batch < FA_SPLIT_MIN_CHUNKS * FA_CHUNK * (size_t)pl->nthreads;
    if (pl->nthreads == 1) pl->over_clients = false;

    size_t bmax = cfg->local.batch < 256 ? 256 : cfg->local.batch; /* eval batches too */
    pl->ws = xcalloc((size_t)pl->nthreads, sizeof(Workspace));
    for (int t = 0; t < pl->nthreads; t++) workspace_build(&pl->ws[t], &pl->L, bmax);
    if (fl_client_batch_lanes(pl)) { /* phase 2's group training and every evaluation */
        pl->gw = xcalloc((size_t)pl->nthreads, sizeof(GroupWs));
        for (int t = 0; t < pl->nthreads; t++) group_ws_build(&pl->gw[t], &pl->L, cfg->local.batch);
        pl->eorder = xmalloc((n ? 2 * n : 1) * sizeof(size_t));
        fl_client_order(pl, 2, pl->eorder);
        fl_client_order(pl, 1, pl->eorder + n);
    }
    pl->tmodel = xalloc_aligned((size_t)pl->nthreads * P * sizeof(float));
    pl->global = xalloc_aligned(P * sizeof(float));
    pl->prev = xalloc_aligned(P * sizeof(float));
    pl->ref = xalloc_aligned(P * sizeof(float));
    pl->mean = xalloc_aligned(P * sizeof(float));
    pl->token = xalloc_aligned((P + 2) * sizeof(float)); /* + visit count, progress slot */
    pl->init = xalloc_aligned(P * sizeof(float));
    pl->foundation = xalloc_aligned(P * sizeof(float));
    round_buf_init(&pl->rb, P, pl->nthreads);
    pl->rb.watchdog = cfg->watchdog;
    const char *fz = getenv("FEDALIGN_TEST_FREEZE");
    if (fz && sscanf(fz, "%d:%zu", &pl->freeze_rank, &pl->freeze_round) != 2) pl->freeze_round = 0;
    pl->sel = xcalloc(n ? n : 1, 1);
    pl->cu = xcalloc(n ? n : 1, sizeof(ClientUpdate));
    pl->hash = xcalloc(n ? n : 1, sizeof(uint64_t));
    pl->conf = xcalloc((n ? n : 1) * pl->fd.info.k * pl->fd.info.k, sizeof(int64_t));
    pl->speed = xcalloc(n ? n : 1, sizeof(double));
    pl->attacker = xcalloc(n ? n : 1, 1);
    /* per-device speed factors and attackers: fixed per client, from the seed */
    for (size_t i = 0; i < n; i++) {
        Rng r;
        rng_init(&r, cfg->seed, FA_RNG_FAULT, (uint64_t)pl->fd.clients[i].id, UINT64_MAX, 1);
        pl->attacker[i] = cfg->attack != FA_ATTACK_NONE && rng_uniform(&r) < cfg->attack_frac;
        pl->speed[i] = exp(cfg->speed_spread * rng_normal(&r));
    }
    pl->rtrain = xcalloc(cfg->rounds ? cfg->rounds : 1, sizeof(double));
    /* training rows per rank: what --assign balances (one allreduce at setup) */
    double rows[2] = {0.0, 0.0};
    for (size_t i = 0; i < n; i++) rows[0] += (double)pl->fd.clients[i].train.n;
    rows[1] = rows[0];
    comm_allreduce_max_double(rows, 1);
    comm_allreduce_sum_double(rows + 1, 1);
    pl->rows_imbalance = rows[1] > 0.0 ? rows[0] * pl->size / rows[1] : fa_nan();
    /* pl->st (stored deltas): allocated by phase2_rounds when a method needs them */
    pl->sstate = xcalloc(2 * P, sizeof(double)); /* server optimizer moments / SCAFFOLD c */
    if (fl_run_has_scaffold(cfg)) scaffold_alloc(pl);
    setup_norm(pl);
    (void)setup_timers;
    return pl;
}

void fl_free(Pipeline *pl) {
    if (!pl) return;
    free(pl->rtrain);
    free(pl->attacker);
    free(pl->speed);
    free(pl->hash);
    free(pl->conf);
    free(pl->cu);
    free(pl->sel);
    round_buf_free(&pl->rb);
    if (pl->cvar) scaffold_free(pl);
    free(pl->sstate);
    free(pl->st.delta);
    free(pl->st.norm2);
    free(pl->st.alist);
    free(pl->foundation);
    free(pl->init);
    free(pl->token);
    free(pl->ref);
    free(pl->mean);
    free(pl->prev);
    free(pl->global);
    free(pl->tmodel);
    for (int t = 0; pl->gw && t < pl->nthreads; t++) group_ws_free(&pl->gw[t]);
    free(pl->gw);
    free(pl->eorder);
    for (int t = 0; t < pl->nthreads; t++) workspace_free(&pl->ws[t]);
    free(pl->ws);
    feddata_free(&pl->fd);
    free(pl);
}

// ----------------------------------------------------------------------------
// method specs

static void spec_name(MethodSpec *m, const char *base, const char *suffix) {
    snprintf(m->name, sizeof m->name, "%s%s%s", base, suffix, m->personalize ? "+P" : "");
}

size_t fl_method_from_config(const Config *c, MethodSpec *out) {
    const MethodDef *def = method_def(c->method);
    MethodSpec m = {0};
    m.method = c->method;
    m.personalize = c->personalize;
    if (def->foundation) { /* Fed-Meta-Align: its parts are on unless ablated */
        m.phase0 = !(c->ablate & FA_ABLATE_PHASE0);
        m.phase1 = def->ring && !(c->ablate & FA_ABLATE_PHASE1);
        m.similarity = def->dual && !(c->ablate & FA_ABLATE_SIMILARITY);
        char suf[48] = "";
        if (c->ablate & FA_ABLATE_PHASE0) strcat(suf, "-nophase0");
        if (c->ablate & FA_ABLATE_PHASE1) strcat(suf, "-nophase1");
        if (c->ablate & FA_ABLATE_SIMILARITY) strcat(suf, "-nosim");
        spec_name(&m, fa_method_names[c->method], suf);
    } else {
        m.phase0 = c->init == FA_INIT_FOUNDATION;
        m.phase1 = def->ring;
        m.similarity = def->dual;
        spec_name(&m, fa_method_names[c->method], m.phase0 ? "@found" : "");
    }
    *out = m;
    return 1;
}

/* The suite's rows: the default ones (methods marked in_default_suite, in the order and
 * with the names the suite has always had), then with all the other methods' rows, each
 * with and without personalization and, from --init random, personalized from the
 * foundation model. */
static size_t suite_rows(const Config *c, bool all, MethodSpec *out, size_t cap) {
    size_t k = 0;
    Config v = *c;
#define ADD(cfgexpr)                                                                               \
    do {                                                                                           \
        v = *c;                                                                                    \
        cfgexpr;                                                                                   \
        if (k < cap) fl_method_from_config(&v, &out[k++]);                                         \
    } while (0)
    /* Fed-Meta-Align, then its ablations (no personalization, no phase 0/1, no similarity) */
    ADD((v.method = FA_METHOD_FEDMETAALIGN, v.ablate = 0, v.personalize = true));
    ADD((v.method = FA_METHOD_FEDMETAALIGN, v.ablate = 0, v.personalize = false));
    ADD((v.method = FA_METHOD_FEDMETAALIGN, v.ablate = FA_ABLATE_PHASE0, v.personalize = true));
    ADD((v.method = FA_METHOD_FEDMETAALIGN, v.ablate = FA_ABLATE_PHASE1, v.personalize = true));
    ADD((v.method = FA_METHOD_FEDMETAALIGN, v.ablate = FA_ABLATE_SIMILARITY, v.personalize = true));
    for (int pass = 0; pass < (all ? 2 : 1); pass++) { /* default methods, then the others */
        const bool dflt = pass == 0;
        /* baselines, each with and without personalization, from --init */
        for (int m = FA_METHOD_FEDAVG; m < FA_METHOD_COUNT; m++) {
            if (method_def((FaMethod)m)->in_default_suite != dflt) continue;
            ADD((v.method = (FaMethod)m, v.ablate = 0, v.personalize = true));
            ADD((v.method = (FaMethod)m, v.ablate = 0, v.personalize = false));
        }
        /* the fair comparison: personalized baselines from the same foundation model */
        if (c->init == FA_INIT_RANDOM)
            for (int m = FA_METHOD_FEDAVG; m < FA_METHOD_COUNT; m++)
                if (method_def((FaMethod)m)->in_default_suite == dflt)
                    ADD((v.method = (FaMethod)m, v.ablate = 0, v.personalize = true,
                         v.init = FA_INIT_FOUNDATION));
    }
#undef ADD
    return k;
}

size_t fl_suite_methods(const Config *c, MethodSpec *out, size_t cap) {
    const bool all = strcmp(c->methods, "all") == 0;
    if (!c->methods[0] || all) return suite_rows(c, all, out, cap);
    MethodSpec rows[FA_MAX_SUITE_METHODS];
    const size_t nr = suite_rows(c, true, rows, FA_MAX_SUITE_METHODS);
    char list[FA_MAX_SUITE_METHODS * 52] = "";
    for (size_t j = 0; j < nr; j++) {
        strcat(list, j ? ", " : "");
        strcat(list, rows[j].name);
    }
    size_t k = 0;
    char buf[sizeof c->methods];
    snprintf(buf, sizeof buf, "%s", c->methods);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        size_t j = 0;
        while (j < nr && strcmp(rows[j].name, tok) != 0) j++;
        if (j == nr)
            fa_fail("--methods: unknown suite row '%s'; valid rows (with these flags): all, %s",
                    tok, list);
        for (size_t q = 0; q < k && q < cap; q++)
            if (strcmp(out[q].name, tok) == 0) fa_fail("--methods: '%s' is listed twice", tok);
        if (k < cap) out[k] = rows[j];
        k++;
    }
    if (k == 0) fa_fail("--methods: no suite row named (valid rows: all, %s)", list);
    return k < cap ? k : cap;
}

// ----------------------------------------------------------------------------
// one method end to end

/* Mean/std/worst over all clients of per-client values, and the chained hash of the
 * per-client model hashes in client order (rank 0 computes, everyone receives). */
static void summarize_clients(Pipeline *pl, const double *vals, double out[3], uint64_t *hash) {
    const size_t N = pl->cfg->clients, n = pl->fd.n_local;
    double *all = pl->rank == 0 ? xmalloc(N * sizeof(double)) : NULL;
    double *hi = pl->rank == 0 ? xmalloc(N * sizeof(double)) : NULL;
    double *lo = pl->rank == 0 ? xmalloc(N * sizeof(double)) : NULL;
    double *lh = xmalloc((n ? n : 1) * sizeof(double)), *ll = xmalloc((n ? n : 1) * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        lh[i] = (double)(pl->hash[i] >> 32); /* 32-bit halves travel exactly as doubles */
        ll[i] = (double)(pl->hash[i] & 0xffffffffu);
    }
    feddata_gather_doubles(&pl->fd, vals, all);
    if (hash) { /* same on every rank */
        feddata_gather_doubles(&pl->fd, lh, hi);
        feddata_gather_doubles(&pl->fd, ll, lo);
    }
    double buf[4] = {0, 0, 0, 0};
    if (pl->rank == 0) {
        double s = 0, s2 = 0, worst = INFINITY;
        size_t cnt = 0;
        uint64_t h = 0x6a09e667f3bcc908ULL;
        for (size_t t = 0; t < N; t++) {
            if (hash) h = rng_mix64(h ^ (((uint64_t)hi[t] << 32) | (uint64_t)lo[t]));
            if (!isfinite(all[t])) continue;
            s += all[t];
            s2 += all[t] * all[t];
            worst = fmin(worst, all[t]);
            cnt++;
        }
        double mean = cnt ? s / (double)cnt : fa_nan();
        buf[0] = mean;
        buf[1] =
            cnt > 1 ? sqrt(fmax(0.0, (s2 - (double)cnt * mean * mean) / (double)(cnt - 1))) : 0.0;
        buf[2] = cnt ? worst : fa_nan();
        memcpy(&buf[3], &h, sizeof h);
    }
    comm_bcast_doubles(buf, 4, 0);
    out[0] = buf[0];
    out[1] = buf[1];
    out[2] = buf[2];
    if (hash) memcpy(hash, &buf[3], sizeof *hash);
    free(ll);
    free(lh);
    free(lo);
    free(hi);
    free(all);
}

/* Data and epoch budget of a method: a function of the configuration only. */
static void method_budget(const Config *c, const MethodSpec *ms, double *pub, double *client) {
    const size_t N = c->clients;
    double ring_frac =
        c->ring_clients && c->ring_clients < N ? (double)c->ring_clients / (double)N : 1.0;
    *pub = ms->phase0 ? c->p0_epochs : 0.0;
    double e = 0.0;
    if (ms->phase1) e += ring_frac * c->p1_frac * c->p1_epochs * (double)c->p1_passes;
    if (ms->method == FA_METHOD_LOCAL) e += c->local.epochs * (double)c->rounds;
    else e += c->local.epochs * c->client_frac * (double)c->rounds;
    /* Ditto trains the personal model as long again in each round it takes part in */
    if (ms->method == FA_METHOD_DITTO) e += c->local.epochs * c->client_frac * (double)c->rounds;
    if (ms->personalize) e += c->p3_epochs;
    *client = e;
}

void fl_state(Pipeline *pl, FlState *st) {
    st->global = pl->global;
    st->prev = pl->prev;
    st->foundation = pl->foundation;
    st->have_foundation = &pl->have_foundation;
    st->acc_public = &pl->acc_public;
    st->server = pl->sstate;
    st->server_len = &pl->sstate_len;
    st->client = pl->cvar;
    st->client_live = &pl->cvar_live;
}

void fl_result_init(Pipeline *pl, const MethodSpec *ms, MethodResult *res) {
    const size_t R = ms->method == FA_METHOD_LOCAL ? 0 : pl->cfg->rounds;
    fl_result_alloc(res, R, pl->fd.n_local, pl->P);
    res->spec = *ms;
    res->n_classes = pl->fd.info.k;
    res->rounds = R;
    res->rounds_done = 0;
    res->rounds_to_target = -1;
    res->secs_to_target = fa_nan();
    method_budget(pl->cfg, ms, &res->budget_public_epochs, &res->budget_client_epochs);
    if (pl->cfg->save_models)
        res->personal_models =
            xalloc_aligned((pl->fd.n_local ? pl->fd.n_local : 1) * pl->P * sizeof(float));
    if (method_def(ms->method)->client_state) { /* zeros until phase 2 sets it: a checkpoint
                                                 * before then writes defined bytes */
        const size_t bytes = (pl->fd.n_local ? pl->fd.n_local : 1) * pl->P * sizeof(float);
        res->client_state = xalloc_aligned(bytes);
        memset(res->client_state, 0, bytes);
    }
    /* a bad --fedper-head-layers fails here, before any work */
    if (ms->method == FA_METHOD_FEDPER) fedper_head_offset(&pl->L, pl->cfg->fedper_head_layers);
}

/* Checkpoint at a boundary; the global model is made identical on every rank first
 * (in phase 2 only rank 0 holds phi^{r+1} until the next broadcast). */
void fl_checkpoint(Pipeline *pl, const FlHooks *h, MethodResult *res, int phase, size_t round) {
    if (!h || !h->checkpoint) return;
    comm_bcast_floats(pl->global, pl->P, 0);
    /* the server state too: rank 0's is written, every rank resumes with it */
    if (pl->sstate_len) comm_bcast_doubles(pl->sstate, pl->sstate_len, 0);
    if (phase == 2) fl_reduce_train_times(pl, res, round);
    timer_start(&pl->t, FA_T_IO);
    h->checkpoint(h->ctx, res, phase, round);
    timer_stop(&pl->t, FA_T_IO);
}

/* A phase boundary (`phase` is the next one): checkpoint when checkpoints are on and
 * the previous phase did work, and stop when --stop-before-phase names this phase or a
 * signal arrived on any rank (one small allreduce per boundary). Returns true to stop;
 * a checkpoint is then always written. */
static bool boundary(Pipeline *pl, const FlHooks *h, MethodResult *res, int phase, bool ran) {
    if (!h) return false;
    static const char *const names[] = {"phase 0", "phase 1", "phase 2", "phase 3"};
    comm_watch_barrier(pl->cfg->watchdog, names[phase]); /* a frozen rank ends the job here */
    bool local = h->stop_requested && h->stop_requested(h->ctx);
    bool stop = comm_any(local) || h->stop_before_phase == phase;
    if (stop || (h->at_phase_ends && ran))
        fl_checkpoint(pl, h, res, phase, phase == 3 ? res->rounds : 0);
    return stop;
}

/* Accuracy of the clients after phases 0..2 and 3, the personalized summary, the int8
 * summary and the final checksums: every rank gets the same values. */
static void summarize(Pipeline *pl, const MethodSpec *ms, MethodResult *res) {
    const Config *c = pl->cfg;
    const size_t n = pl->fd.n_local;
    double sm[3];
    const double *phase_vals[3] = {res->acc_p0, res->acc_p1, res->acc_p2};
    for (int k = 0; k < 3; k++) {
        summarize_clients(pl, phase_vals[k], sm, NULL);
        res->phase_acc_mean[k] = sm[0];
    }
    res->acc_public = ms->phase0 ? pl->acc_public : fa_nan();
    summarize_clients(pl, res->acc_p3, sm, &res->checksum_personal);
    res->phase_acc_mean[3] = sm[0];
    res->acc_personal_mean = sm[0];
    res->acc_personal_std = sm[1];
    res->acc_personal_worst = sm[2];
    if (c->int8) {
        double *drop = xmalloc((n ? n : 1) * sizeof(double));
        for (size_t i = 0; i < n; i++) drop[i] = res->acc_p3[i] - res->acc_int8[i];
        summarize_clients(pl, res->acc_int8, sm, NULL);
        res->acc_int8_mean = sm[0];
        summarize_clients(pl, drop, sm, NULL);
        res->int8_drop_mean = sm[0];
        free(drop);
        double fl = (double)pl->flash;
        comm_allreduce_max_double(&fl, 1);
        res->int8_flash_bytes = fl;
    }
    /* phase 3's kept and trained epochs, and the client budget actually used */
    summarize_clients(pl, res->p3_epoch_best, sm, NULL);
    res->p3_epoch_best_mean = sm[0];
    summarize_clients(pl, res->p3_epochs_run, sm, NULL);
    res->p3_epochs_run_mean = sm[0];
    res->budget_client_epochs_used = res->budget_client_epochs;
    if (ms->personalize && c->p3_select == FA_P3_VAL && isfinite(sm[0]))
        res->budget_client_epochs_used += sm[0] - c->p3_epochs;
    memcpy(res->final_global, pl->global, pl->P * sizeof(float));
    res->checksum = fa_checksum(pl->global, pl->P);
    res->rows_imbalance = pl->rows_imbalance;
}

/* Macro-F1 and recall (metrics.h) from the per-client confusion counts of the last
 * evaluation: after phase 2 the model acc_p2 evaluates (`final` false; pooled only for a
 * global model), after phase 3 the final models. Collective. */
static void summarize_metrics(Pipeline *pl, const MethodSpec *ms, MethodResult *res, bool final) {
    const size_t n = pl->fd.n_local, K = pl->fd.info.k;
    metrics_clients(pl->conf, n, K, final ? res->f1_p3 : res->f1_p2,
                    final ? res->recall_p3 : res->recall_p2);
    if (final) {
        res->f1_personal =
            metrics_pooled(pl->conf, n, K, res->confusion_personal, res->recall_personal);
        double sm[3];
        summarize_clients(pl, res->f1_p3, sm, NULL);
        res->f1_personal_mean = sm[0];
    } else if (ms->method != FA_METHOD_LOCAL) {
        res->f1_global = metrics_pooled(pl->conf, n, K, res->confusion_global, res->recall_global);
    }
}

/* Server-dynamics summaries (dynamics.h) of a federated method, the same on every rank:
 * per client the lag-1 autocorrelation of its cosines and weights over rounds, averaged
 * over clients; rank 0's mean cosine between consecutive global updates. */
static void summarize_dynamics(Pipeline *pl, MethodResult *res) {
    const size_t n = pl->fd.n_local, R = res->rounds;
    double *lc = xmalloc((n ? n : 1) * sizeof(double)), *lw = xmalloc((n ? n : 1) * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        lc[i] = dyn_lag1(res->rc_cos_mean + i, R, n);
        lw[i] = dyn_lag1(res->rc_weight + i, R, n);
    }
    double sm[3];
    summarize_clients(pl, lc, sm, NULL);
    res->osc_cos_lag1 = sm[0];
    summarize_clients(pl, lw, sm, NULL);
    res->osc_weight_lag1 = sm[0];
    double u = dyn_mean_finite(res->round_update_cos, R);
    comm_bcast_doubles(&u, 1, 0);
    res->osc_update_cos = u;
    res->two_cycle = dyn_two_cycle(res->osc_cos_lag1, u);
    free(lw);
    free(lc);
}

/* The phases of a method from its table row, each after the cursor of a resume; a
 * boundary after each may checkpoint or stop. */
int fl_run_method(Pipeline *pl, const MethodSpec *ms, MethodResult *res, const FlCursor *resume,
                  const FlHooks *hooks) {
    const MethodDef *def = method_def(ms->method);
    int phase = resume ? resume->phase : 0;
    const size_t round0 = resume && phase == 2 ? resume->round : 0;
    if (round0 == 0) { /* no method state until this method's phase 2 starts */
        pl->sstate_len = 0;
        pl->cvar_live = false;
    }
    timers_reset(&pl->t);
    comm_barrier();
    timer_start(&pl->t, FA_T_TOTAL);
    int64_t cnt[3];
    if (phase == 0) { /* the foundation model, or the shared random init */
        if (ms->phase0) {
            phase0(pl);
            timer_start(&pl->t, FA_T_EVAL);
            kern_eval_clients(pl, pl->global, false, res->acc_p0, cnt);
            timer_stop(&pl->t, FA_T_EVAL);
        } else {
            memcpy(pl->global, pl->init, pl->P * sizeof(float));
        }
        if (boundary(pl, hooks, res, ++phase, ms->phase0)) return FA_STOPPED;
    }
    if (phase == 1) { /* the ring */
        if (ms->phase1) {
            phase1(pl, NULL);
            timer_start(&pl->t, FA_T_EVAL);
            kern_eval_clients(pl, pl->global, false, res->acc_p1, cnt);
            timer_stop(&pl->t, FA_T_EVAL);
        }
        if (boundary(pl, hooks, res, ++phase, ms->phase1)) return FA_STOPPED;
    }
    if (phase == 2) { /* federated rounds, or local-only training */
        if (def->phase2(pl, ms, res, round0, hooks) == FA_STOPPED) return FA_STOPPED;
        summarize_metrics(pl, ms, res, false);
        if (boundary(pl, hooks, res, ++phase, true)) return FA_STOPPED;
    }
    def->phase3(pl, ms, res);
    summarize_metrics(pl, ms, res, true);
    summarize(pl, ms, res);
    if (res->rounds > 0) summarize_dynamics(pl, res);
    res->rounds_done = res->rounds;
    timer_stop(&pl->t, FA_T_TOTAL);
    comm_reduce_timers(&pl->t, res->tmin, res->tavg, res->tmax, res->tspan);
    res->time_total = res->tmax[FA_T_TOTAL];
    return 0;
}
