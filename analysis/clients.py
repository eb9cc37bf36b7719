#!/usr/bin/python3
"""clients.py: the per-client parts of report.py that must scale to many clients.

  tidy_rounds.csv     one row per configuration x seed x method x client x round: every
                      per-round per-client field the file holds (rc_score, rc_cos,
                      rc_weight, rc_loss, rc_status, ...), for people who do not use HDF5
  tidy_clients.csv    one row per configuration x seed x method x client: the per-client
                      final metrics (acc_p0 .. acc_p3, acc_p3_int8) and the client's rows
  clients_<cfg>.png   per-client accuracy distributions across methods: ECDF of the final
                      accuracy of every client (pooled over seeds) with the worst decile
                      marked, and box plots; readable at 10 or 10,000 clients
  client_rounds_<cfg>.png  per-client per-round local accuracy (rc_score, where recorded):
                      median and 10-90 % band over clients per round, for each method

Every figure has a fixed size (no axis grows with the number of clients); report.py
draws per-device bars only up to MAX_BARS clients and these distributions above that.
"""
import csv
import math
import os

import numpy as np
import matplotlib.pyplot as plt

MAX_BARS = 20  # per-device bars up to this many clients, distributions above


def _per_client(m, C):
    """The method's per-client [C] arrays (final metrics), in field order."""
    return [(k, v) for k, v in vars(m).items()
            if isinstance(v, np.ndarray) and v.shape == (C,) and k.startswith("acc_")]


def _per_round_client(m, C):
    """The method's per-round per-client [R, C] arrays (R >= 1)."""
    return [(k, v) for k, v in vars(m).items()
            if isinstance(v, np.ndarray) and v.ndim == 2 and v.shape[1] == C
            and v.shape[0] >= 1 and k not in ("personal_models", "timers")]


def _fmt(v):
    return "" if not math.isfinite(v) else repr(float(v))


def write_tidy(configs, outdir, written):
    """The two long tables (see the module doc); NaN is an empty cell."""
    p_r = os.path.join(outdir, "tidy_rounds.csv")
    p_c = os.path.join(outdir, "tidy_clients.csv")
    with open(p_r, "w", newline="") as fr, open(p_c, "w", newline="") as fc:
        wr, wc = csv.writer(fr), csv.writer(fc)
        head_r = head_c = None
        for c in configs:
            for sr in c.runs:
                C = sr.n_clients
                for m in sr.methods:
                    cols = _per_client(m, C)
                    names = [k for k, _ in cols]
                    if head_c is None:
                        head_c = names
                        wc.writerow(["config", "seed", "method", "client", "n_train", "n_test"] + names)
                    nt = sr.n_train if sr.n_train is not None and sr.n_train.size == C else None
                    ns = sr.n_test if sr.n_test is not None and sr.n_test.size == C else None
                    vals = [dict(cols).get(k) for k in head_c]
                    for t in range(C):
                        wc.writerow([c.label, sr.seed, m.name, t,
                                     "" if nt is None else int(nt[t]), "" if ns is None else int(ns[t])] +
                                    ["" if v is None else _fmt(v[t]) for v in vals])
                    rc = _per_round_client(m, C)
                    if not rc:
                        continue
                    if head_r is None:
                        head_r = [k for k, _ in rc]
                        wr.writerow(["config", "seed", "method", "client", "round"] + head_r)
                    arrs = [dict(rc).get(k) for k in head_r]
                    R = min(a.shape[0] for a in arrs if a is not None)
                    for r in range(R):
                        for t in range(C):
                            wr.writerow([c.label, sr.seed, m.name, t, r] +
                                        ["" if a is None else _fmt(a[r, t]) for a in arrs])
    written += [p_r, p_c]


def final_acc(cfg, name):
    """Every client's final accuracy (acc_p3, else acc_p2) of one method, pooled over
    seeds, as a 1-D array of finite values."""
    vs = []
    for _, m in cfg.methods(name):
        a = m.acc_p3 if m.acc_p3 is not None and np.isfinite(m.acc_p3).any() else m.acc_p2
        if a is not None:
            vs.append(a[np.isfinite(a)])
    return np.concatenate(vs) if vs else np.zeros(0)


def plot_clients(cfg, outdir, written, save):
    names = [n for n in cfg.method_names() if final_acc(cfg, n).size]
    if not names:
        return
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [3, 2]})
    cmap = plt.get_cmap("tab20")
    data = []
    for j, n in enumerate(names):
        v = np.sort(final_acc(cfg, n)) * 100
        data.append(v)
        y = np.arange(1, v.size + 1) / v.size
        col = cmap(j % 20)
        ax.step(v, y, where="post", color=col, lw=1.3,
                label=f"{n} (worst decile ≤ {np.percentile(v, 10):.1f} %)")
        ax.plot([np.percentile(v, 10)], [0.1], marker="o", color=col, ms=4)
    ax.axhspan(0, 0.1, color="0.85", zorder=0, label="worst decile of clients")
    ax.set_xlabel("final per-client test accuracy (%)")
    ax.set_ylabel("fraction of clients with accuracy ≤ x")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6.5, loc="upper left", ncol=1 if len(names) <= 8 else 2)
    bx.boxplot(data, vert=False, whis=(10, 90), showfliers=False, labels=names)
    for j, v in enumerate(data):
        bx.plot([np.percentile(v, 10)], [j + 1], marker="|", color="crimson", ms=12)
    bx.invert_yaxis()
    bx.tick_params(axis="y", labelsize=7)
    bx.set_xlabel("accuracy (%): box 25-75 %, whiskers 10-90 %, red = 10th percentile")
    bx.grid(axis="x", alpha=0.3)
    C = cfg.runs[0].n_clients
    fig.suptitle(f"Per-client accuracy across methods: {C} clients x {len(cfg.runs)} seed(s)\n"
                 f"{cfg.label}", fontsize=11)
    fig.tight_layout()
    save(fig, os.path.join(outdir, f"clients_{cfg.slug}.png"), written)


def plot_client_rounds(cfg, outdir, written, save):
    curves = []
    for n in cfg.method_names():
        ms = [m for _, m in cfg.methods(n)]
        S = [m.rc_score for m in ms if m.rc_score is not None and m.rc_score.ndim == 2
             and m.rc_score.shape[0] > 0 and np.isfinite(m.rc_score).any()]
        if S:
            R = min(s.shape[0] for s in S)
            curves.append((n, np.hstack([s[:R] for s in S]) * 100))
    if not curves:
        return
    fig, ax = plt.subplots(figsize=(10, 5))
    cmap = plt.get_cmap("tab10")
    for j, (n, S) in enumerate(curves):
        x = np.arange(S.shape[0])
        with np.errstate(all="ignore"):
            lo, med, hi = (np.nanpercentile(S, q, axis=1) for q in (10, 50, 90))
        col = cmap(j % 10)
        ax.plot(x, med, color=col, lw=1.5, label=f"{n}: median, band 10-90 %")
        ax.fill_between(x, lo, hi, color=col, alpha=0.15, lw=0)
        ax.plot(x, lo, color=col, lw=0.8, ls="--")
    ax.plot([], [], color="k", lw=0.8, ls="--", label="10th percentile (worst decile)")
    ax.set_xlabel("federated round r")
    ax.set_ylabel("client's local accuracy s_t (%) (selected clients)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Per-client accuracy per round (rc_score, over clients and seeds)\n{cfg.label}",
                 fontsize=11)
    fig.tight_layout()
    save(fig, os.path.join(outdir, f"client_rounds_{cfg.slug}.png"), written)
