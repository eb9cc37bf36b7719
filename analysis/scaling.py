"""scaling.py: the scaling part of analysis/report.py (imported by it), and run alone as
`scaling.py --smpi DIR... --out OUT` for the SMPI predictions of jobs/smpi_predict.sh
(smpi_weak.png, smpi_strong.png, smpi.md: see the SMPI section at the end).

From the results files of jobs/strong_scaling.sbatch, weak_scaling.sbatch and
hybrid_sweep.sbatch (or any runs of one configuration at several -n / OMP_NUM_THREADS)
it writes into the report folder:

  scaling_<cfg>_s<seed>.png  strong scaling: speedup, parallel efficiency and the stacked
                             time per phase vs ranks (same results configuration and seed,
                             several rank counts at one thread count)
  weak_<cfg>_cpr<N>_s<seed>.png  weak scaling: time, efficiency T(p0)/T(p) and time per
                             phase vs ranks, for runs whose configurations differ only in
                             the client count and hold N clients per rank
  hybrid_<cfg>_s<seed>.png   the ranks x threads sweep: time per split and time per phase
                             (same configuration and seed, several thread counts)
  scaling.md, scaling.csv    one row per point of every series above: kind, series, ranks,
                             threads, nodes, ranks per node, clients (per rank for weak),
                             total time, speedup (strong: T(p0)/T(p); weak: the scaled
                             speedup efficiency x p/p0; hybrid: T(fastest)/T), efficiency
                             (strong: speedup/(p/p0); weak: T(p0)/T(p)) and time per phase

Runs are grouped by the root attributes n_ranks, n_threads, n_clients and the
result-affecting configuration (result_keys, as report.py groups them); times are the
sums over the run's methods of time_total and of the per-phase timers (the `timers`
dataset, average over ranks; the rest of the max-over-ranks total is "other": waiting
and load imbalance).
"""
import csv
import math
import os
import re
from collections import OrderedDict

import numpy as np
import matplotlib.pyplot as plt

# the phases of the breakdown: the `timers` rows (fa_timer_names) a round spends time in;
# setup and eval are not part of the scaled work but are shown so the stack adds up
TIMER_STACK = ["setup", "phase0", "ring", "train", "aggregate", "comm", "personalize", "eval", "io"]
OTHER = "other (wait, imbalance)"


def phase_times(r):
    """Per-phase time of a run (avg over ranks, summed over methods) and 'other'."""
    out = OrderedDict((k, 0.0) for k in TIMER_STACK)
    tot = 0.0
    for m in r.methods:
        if m.timers is None:
            continue
        for k in TIMER_STACK:
            if k in m.timers and math.isfinite(m.timers[k][1]):
                out[k] += float(m.timers[k][1])
        if "total" in m.timers and math.isfinite(m.timers["total"][2]):
            tot += float(m.timers["total"][2])
    out[OTHER] = max(0.0, tot - sum(out.values()))
    return out


def points(rs):
    """(ranks, threads) -> the median total time over the files at that point, a file"""
    pts = OrderedDict()
    for r in sorted(rs, key=lambda r: (r.n_ranks * r.n_threads, r.n_ranks)):
        pts.setdefault((r.n_ranks, r.n_threads), []).append(r)
    return OrderedDict((p, (float(np.median([r.total_time() for r in v])), v[0]))
                       for p, v in pts.items())


def tick(p, t):
    return f"{p}" if t == 1 else f"{p}×{t}"


def draw_breakdown(ax, runs, ticks):
    xs = np.arange(len(runs))
    stacks = [phase_times(r) for r in runs]
    bottom = np.zeros(len(runs))
    cmap = plt.get_cmap("tab10")
    for i, k in enumerate(list(TIMER_STACK) + [OTHER]):
        v = np.array([s[k] for s in stacks])
        if not np.any(v > 0):
            continue
        ax.bar(xs, v, 0.6, bottom=bottom, color="#cccccc" if k == OTHER else cmap(i % 10), label=k)
        bottom += v
    ax.set_xticks(xs)
    ax.set_xticklabels(ticks)
    ax.set_ylabel("time (s), avg over ranks, summed over methods")
    ax.set_title("time per phase", fontsize=10)
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)


def draw_curve(ax, x, y, ticks, xl, yl, title, ideal=None):
    ax.plot(x, y, "o-", label="measured")
    if ideal is not None:
        ax.plot(x, ideal, "k--", lw=1, label="ideal")
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    ax.set_title(title, fontsize=10)
    ax.set_xticks(x)
    ax.set_xticklabels(ticks)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def row(kind, series, r, T, speed, eff, cpr=""):
    ph = phase_times(r)
    return OrderedDict([("kind", kind), ("series", series), ("ranks", r.n_ranks),
                        ("threads", r.n_threads), ("nodes", r.n_nodes),
                        ("ranks_per_node", r.ranks_per_node), ("clients", r.n_clients),
                        ("clients_per_rank", cpr), ("time_s", T), ("speedup", speed),
                        ("efficiency", eff)] + [(f"t_{k.split()[0]}_s", v) for k, v in ph.items()])


def strong(label, slug, seed, pts, outdir, written, rows):
    """One strong-scaling figure for points at one thread count (>= 2 rank counts)."""
    keys = list(pts)
    cores = np.array([p * t for p, t in keys])
    T = np.array([pts[k][0] for k in keys])
    speed = T[0] / T
    ideal = cores / cores[0]
    eff = speed / ideal
    ticks = [tick(*k) for k in keys]
    xl = "MPI ranks" if all(t == 1 for _, t in keys) else "cores (ranks × threads)"
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.6))
    draw_curve(axes[0], cores, speed, ticks, xl, f"speedup T({ticks[0]}) / T(p)",
               "speedup (whole run, all methods)", ideal)
    draw_curve(axes[1], cores, 100 * eff, ticks, xl, "parallel efficiency (%)",
               "parallel efficiency = speedup / (p / p₀)", 100 * np.ones(len(keys)))
    axes[1].set_ylim(0, max(110, 100 * np.nanmax(eff) * 1.1))
    draw_breakdown(axes[2], [pts[k][1] for k in keys], ticks)
    axes[2].set_xlabel(xl)
    fig.suptitle(f"Strong scaling: {label}, seed {seed}; total {', '.join(f'{t:.3g} s' for t in T)}",
                 fontsize=11)
    fig.tight_layout()
    save(fig, os.path.join(outdir, f"scaling_{slug}_s{seed}.png"), written)
    for k, t, s, e in zip(keys, T, speed, eff):
        rows.append(row("strong", f"{slug}_s{seed}", pts[k][1], t, s, e))


def hybrid(label, slug, seed, pts, outdir, written, rows):
    keys = list(pts)
    T = np.array([pts[k][0] for k in keys])
    ticks = [f"{p}×{t}" for p, t in keys]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    ax = axes[0]
    ax.bar(np.arange(len(keys)), T, 0.6, color="C0")
    ax.set_xticks(np.arange(len(keys)))
    ax.set_xticklabels(ticks)
    ax.set_xlabel("ranks × OpenMP threads per rank")
    ax.set_ylabel("total time (s)")
    ax.set_title(f"time per split (fastest {ticks[int(np.argmin(T))]})", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    draw_breakdown(axes[1], [pts[k][1] for k in keys], ticks)
    axes[1].set_xlabel("ranks × OpenMP threads per rank")
    fig.suptitle(f"Hybrid sweep: {label}, seed {seed}", fontsize=11)
    fig.tight_layout()
    save(fig, os.path.join(outdir, f"hybrid_{slug}_s{seed}.png"), written)
    for k, t in zip(keys, T):
        rows.append(row("hybrid", f"{slug}_s{seed}", pts[k][1], t, T.min() / t, math.nan))


def weak(label, slug, cpr, seed, pts, outdir, written, rows):
    keys = list(pts)
    ranks = np.array([p for p, _ in keys])
    T = np.array([pts[k][0] for k in keys])
    eff = T[0] / T
    ticks = [tick(*k) for k in keys]
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.6))
    draw_curve(axes[0], ranks, T, ticks, "MPI ranks", "total time (s)",
               f"time, {cpr} clients per rank", T[0] * np.ones(len(keys)))
    draw_curve(axes[1], ranks, 100 * eff, ticks, "MPI ranks", "weak-scaling efficiency (%)",
               "efficiency = T(p₀) / T(p)", 100 * np.ones(len(keys)))
    axes[1].set_ylim(0, max(110, 100 * np.nanmax(eff) * 1.1))
    draw_breakdown(axes[2], [pts[k][1] for k in keys], ticks)
    axes[2].set_xlabel("MPI ranks")
    fig.suptitle(f"Weak scaling: {label}, {cpr} clients per rank, seed {seed}", fontsize=11)
    fig.tight_layout()
    save(fig, os.path.join(outdir, f"weak_{slug}_cpr{cpr}_s{seed}.png"), written)
    for k, t, e in zip(keys, T, eff):
        rows.append(row("weak", f"{slug}_cpr{cpr}_s{seed}", pts[k][1], t, T[0] / t * k[0] / keys[0][0], e, cpr))


def save(fig, path, written):
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    written.append(path)


def weak_series(runs):
    """Runs whose keys differ only in `clients`, with clients a multiple of the ranks:
    (key without clients, seed, threads, clients per rank) -> runs at >= 2 rank counts."""
    out = OrderedDict()
    for r in runs:
        if r.n_ranks < 1 or r.n_clients % r.n_ranks:
            continue
        k = (tuple(kv for kv in r.key if kv[0] != "clients"), r.seed, r.n_threads,
             r.n_clients // r.n_ranks)
        out.setdefault(k, []).append(r)
    return OrderedDict((k, v) for k, v in out.items() if len({r.n_ranks for r in v}) >= 2)


def write_table(rows, outdir, written):
    cols = list(rows[0])
    with open(os.path.join(outdir, "scaling.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in r.values()])
    written.append(os.path.join(outdir, "scaling.csv"))
    show = cols[:11] + [c for c in cols[11:] if any(isinstance(r[c], float) and r[c] > 0 for r in rows)]
    lines = ["| " + " | ".join(show) + " |", "|" + "---|" * len(show)]
    for r in rows:
        lines.append("| " + " | ".join("-" if isinstance(r[c], float) and math.isnan(r[c]) else
                                        f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c])
                                        for c in show) + " |")
    with open(os.path.join(outdir, "scaling.md"), "w") as f:
        f.write("# Scaling (times in s: whole run, summed over methods; phases avg over ranks)\n\n")
        f.write("\n".join(lines) + "\n")
    written.append(os.path.join(outdir, "scaling.md"))


def scaling_report(runs, configs, outdir, written):
    """Every strong, weak and hybrid series among the runs; returns how many were drawn."""
    label_of = {r.path: (c.label, c.slug) for c in configs for r in c.all_runs}
    rows, n = [], 0
    by_hash = OrderedDict()
    for r in runs:
        by_hash.setdefault(r.config_hash, []).append(r)
    for rs in by_hash.values():
        label, slug = label_of[rs[0].path]
        pts = points(rs)
        threads = sorted({t for _, t in pts})
        t0 = threads[0]
        one = OrderedDict((k, v) for k, v in pts.items() if k[1] == t0)
        if len(one) >= 2:
            strong(label, slug, rs[0].seed, one, outdir, written, rows)
            n += 1
        if len(threads) >= 2:
            hybrid(label, slug, rs[0].seed, pts, outdir, written, rows)
            n += 1
    for (_, seed, _, cpr), rs in weak_series(runs).items():
        label, slug = label_of[rs[0].path]
        # the client count grows with the ranks: drop it from the series' name
        label = " ".join(w for w in label.split() if not w.startswith("C="))
        slug = "_".join(w for w in slug.split("_") if not re.match(r"^c\d+$", w)) or slug
        weak(label, slug, cpr, seed, points(rs), outdir, written, rows)
        n += 1
    if rows:
        write_table(rows, outdir, written)
    return n


# ----------------------------------------------------------------------------
# SMPI predictions (jobs/smpi_predict.sh): simulated runs, read from their stdout

# the phase table's rows (fa_timer_names) that the scaled work spends time in
SMPI_PHASES = ["setup", "phase0", "ring", "train", "aggregate", "comm", "personalize", "eval"]


def smpi_read(path):
    """One prediction file: its '# smpi k=v ...' header, the FEDALIGN_RESULT line's total
    and the phase table's max-over-ranks column. None when the run left no result."""
    head, res, ph, on = {}, None, OrderedDict(), False
    with open(path) as f:
        for line in f:
            if line.startswith("# smpi "):
                head = dict(kv.split("=", 1) for kv in line[7:].split())
            elif line.startswith("FEDALIGN_RESULT "):
                res = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
            elif line.startswith("# phase"):
                on = True
            elif on:
                m = re.match(r"\s+(\w+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", line)
                if m:
                    ph[m.group(1)] = float(m.group(4))
                else:
                    on = False
    if not head or res is None:
        return None
    return dict(platform=head["platform"], model=head["model"], kind=head["kind"],
                clients=int(head["clients"]), ranks=int(head["ranks"]),
                host_s=float(head.get("host_s", "nan")), time=float(res["time_total_s"]),
                phases=OrderedDict((k, ph.get(k, 0.0)) for k in SMPI_PHASES))


def smpi_series(points):
    """(platform, kind, model, clients for strong) -> points sorted by ranks, with the
    efficiency against the smallest rank count p0: weak T(p0)/T(p), strong
    T(p0) p0 / (T(p) p)."""
    out = OrderedDict()
    for pt in sorted(points, key=lambda x: (x["platform"], x["kind"], x["model"], x["clients"])):
        key = (pt["platform"], pt["kind"], pt["model"],
               pt["clients"] if pt["kind"] == "strong" else pt["clients"] // pt["ranks"])
        out.setdefault(key, []).append(pt)
    for key, pts in out.items():
        pts.sort(key=lambda x: x["ranks"])
        p0, t0 = pts[0]["ranks"], pts[0]["time"]
        for pt in pts:
            pt["eff"] = (t0 / pt["time"] if key[1] == "weak"
                         else t0 * p0 / (pt["time"] * pt["ranks"])) if pt["time"] > 0 else float("nan")
    return out


def smpi_limit(pts):
    """First rank count whose efficiency is below 90 %, and the phase that costs most at
    the largest point: the one whose (max over ranks) time exceeds its ideal most (weak:
    the first point's time; strong: that time x p0/p); (None, None) when none is below."""
    below = [pt for pt in pts if pt["eff"] < 0.9]
    if not below:
        return None, None
    last = pts[-1]
    scale = 1.0 if last["kind"] == "weak" else pts[0]["ranks"] / last["ranks"]
    grow = {k: last["phases"][k] - pts[0]["phases"][k] * scale for k in SMPI_PHASES}
    return below[0]["ranks"], max(grow, key=grow.get)


def smpi_eff(e):
    """Efficiency to 3 decimals, or 2 significant digits below 0.01 (the edge network's)."""
    return f"{e:.3f}" if e >= 0.01 or e == 0 else f"{e:.2g}"


def smpi_report(dirs, outdir):
    """Plots and a table of every prediction series in the folders; returns the paths."""
    pts = [p for d in dirs for f in sorted(os.listdir(d)) if f.endswith(".txt")
           for p in [smpi_read(os.path.join(d, f))] if p]
    if not pts:
        raise SystemExit(f"scaling.py: no SMPI prediction runs in {', '.join(dirs)}")
    os.makedirs(outdir, exist_ok=True)
    series, written = smpi_series(pts), []
    platforms = sorted({k[0] for k in series})
    for kind in ("weak", "strong"):
        keys = [k for k in series if k[1] == kind]
        if not keys:
            continue
        fig, axes = plt.subplots(2, len(platforms), figsize=(5.2 * len(platforms), 7.5), squeeze=False)
        for j, pf in enumerate(platforms):
            ax, bx = axes[0][j], axes[1][j]
            for k in [k for k in keys if k[0] == pf]:
                s = series[k]
                lab = f"--hidden {k[2]}, " + (f"{k[3]} clients" if kind == "strong" else f"{k[3]}/rank")
                ax.plot([p["ranks"] for p in s], [p["eff"] for p in s], "o-", label=lab)
                bx.plot([p["ranks"] for p in s], [p["time"] for p in s], "o-", label=lab)
            ax.axhline(0.9, color="k", ls="--", lw=1)
            for a, yl in ((ax, "parallel efficiency"), (bx, "simulated time (s)")):
                a.set_xscale("log", base=2)
                a.set_xlabel("simulated ranks")
                a.set_ylabel(yl)
                a.grid(alpha=0.3)
                if a.get_legend_handles_labels()[0]:  # a platform without this kind stays empty
                    a.legend(fontsize=7.5)
            bx.set_yscale("log")
            ax.set_title(f"{kind} scaling on {pf} (SMPI)", fontsize=10)
        save(fig, os.path.join(outdir, f"smpi_{kind}.png"), written)
    lines = ["# SMPI predictions (simulated seconds; phases: max over ranks)", "",
             "| platform | kind | model | clients | ranks | time_s | efficiency | "
             + " | ".join(SMPI_PHASES) + " | host_s |", "|" + "---|" * (len(SMPI_PHASES) + 8)]
    summary = ["", "| platform | kind | model | clients | efficiency at the largest point | "
               "below 90 % from | limiting phase (at the largest point) |", "|---|---|---|---|---|---|---|"]
    for k, s in series.items():
        for p in s:
            lines.append(f"| {k[0]} | {k[1]} | {k[2]} | {p['clients']} | {p['ranks']} | {p['time']:.4g} | "
                         f"{smpi_eff(p['eff'])} | " + " | ".join(f"{p['phases'][x]:.3g}" for x in SMPI_PHASES)
                         + f" | {p['host_s']:.0f} |")
        at, why = smpi_limit(s)
        summary.append(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]}{'' if k[1] == 'strong' else '/rank'} | "
                       f"{smpi_eff(s[-1]['eff'])} at {s[-1]['ranks']} | {at or '-'} | {why or '-'} |")
    path = os.path.join(outdir, "smpi.md")
    with open(path, "w") as f:
        f.write("\n".join(lines + summary) + "\n")
    written.append(path)
    return written


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="SMPI prediction plots (jobs/smpi_predict.sh); "
                                 "measured runs go through analysis/report.py")
    ap.add_argument("--smpi", nargs="+", required=True, metavar="DIR", help="prediction folders")
    ap.add_argument("--out", required=True, help="report folder")
    a = ap.parse_args()
    for p in smpi_report(a.smpi, a.out):
        print(p)
