#!/usr/bin/python3
"""Accuracy vs attacker fraction (jobs/attack_sweep.sh results).

Reads every results file in the given directories (single runs or suites), takes the
attack kind and fraction from the stored configuration (cfg.attack), the seed from
cfg.seed, the method from each method group's row name (fedavg, median@found, ...), and
the global model's accuracy on the pooled test rows (round_acc[-1]). Clean runs
(--attack none) are the fraction-0 point of every attack's panel. Methods are paired by
seed: a (attack, fraction) cell uses only the seeds every method in it has. Plots the mean
± sd over seeds of every method present, one panel per attack kind, prints the table of
means per fraction and, with --md FRAC, a Markdown table at that fraction (methods x
attacks, mean ± sd, best per attack in bold, Fed-Meta-Align's rank).
Usage: analysis/attack_plot.py [--out PNG] [--md FRAC] DIR...
"""
import argparse, glob, os, sys
from collections import defaultdict

import h5py
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

FMA = "fedmetaalign"


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def load(files):
    """(kind, frac) -> method -> {seed: acc}; kind "none" holds the clean runs."""
    cells = defaultdict(lambda: defaultdict(dict))
    for fn in files:
        with h5py.File(fn, "r") as f:
            spec = text(f.attrs["cfg.attack"])
            kind, frac = (spec.split(":") + ["0"])[:2] if spec != "none" else ("none", "0")
            seed = int(f.attrs["cfg.seed"])
            for g in f["methods"]:
                name = g.split("_", 1)[1]
                acc = float(f["methods"][g]["round_acc"][-1])
                cells[(kind, float(frac))][name][seed] = acc
    return cells


def paired(cells):
    """Keep in every cell only the seeds all its methods have (paired by seed)."""
    out = {}
    for key, per in cells.items():
        common = set.intersection(*(set(s) for s in per.values()))
        dropped = set.union(*(set(s) for s in per.values())) - common
        if dropped:
            print(f"attack_plot: {key[0]}:{key[1]}: seeds {sorted(dropped)} not run by every "
                  "method, left out", file=sys.stderr)
        out[key] = {m: np.array([s[x] for x in sorted(common)]) for m, s in per.items()}
    return out


def panel_cells(cells, kinds):
    """kind -> frac -> method -> accs, with the clean runs as every kind's fraction 0."""
    res = {k: {} for k in kinds}
    for (kind, frac), per in cells.items():
        for k in (kinds if kind == "none" else [kind]):
            res[k].setdefault(frac, {}).update(per)
    return res


def order(methods):
    return sorted(methods, key=lambda m: (m != FMA, m))


def md_table(panels, kinds, frac):
    have = [k for k in kinds if frac in panels[k]]
    if not have:
        sys.exit(f"attack_plot: no results at fraction {frac}")
    methods = order({m for k in have for m in panels[k][frac]})
    nseed = {len(a) for k in have for a in panels[k][frac].values()}
    print(f"\nGlobal accuracy (%) at attacker fraction {frac}, mean ± sd over "
          f"{'/'.join(map(str, sorted(nseed)))} seeds (best per attack in bold):\n")
    print("| method | " + " | ".join(have) + " |")
    print("|---" * (len(have) + 1) + "|")
    best = {k: max(100 * a.mean() for a in panels[k][frac].values()) for k in have}
    for m in methods:
        row = []
        for k in have:
            a = panels[k][frac].get(m)
            if a is None:
                row.append("-")
                continue
            s = f"{100 * a.mean():.1f} ± {100 * a.std(ddof=1) if len(a) > 1 else 0:.1f}"
            row.append(f"**{s}**" if round(100 * a.mean(), 1) == round(best[k], 1) else s)
        print(f"| {m} | " + " | ".join(row) + " |")
    ranks, ranks_rnd, winners, gaps = [], [], [], []
    for k in have:
        cell = panels[k][frac]
        means = {m: 100 * a.mean() for m, a in cell.items()}
        rnd = {m: v for m, v in means.items() if "@found" not in m}
        winners.append(max(means, key=means.get))
        if FMA not in means:
            ranks, ranks_rnd, gaps = ranks + ["-"], ranks_rnd + ["-"], gaps + ["-"]
            continue
        ranks.append(f"{1 + sum(v > means[FMA] for v in means.values())} of {len(means)}")
        ranks_rnd.append(f"{1 + sum(v > means[FMA] for v in rnd.values())} of {len(rnd)}")
        # paired by seed: Fed-Meta-Align minus the best other method, seed by seed
        other = max((m for m in means if m != FMA), key=means.get)
        d = 100 * (cell[FMA] - cell[other])
        sd = d.std(ddof=1) if len(d) > 1 else 0.0
        gaps.append(f"{d.mean():+.1f} ± {sd:.1f} vs {other} ({int((d > 0).sum())}/{len(d)})")
    print("| *Fed-Meta-Align's rank* | " + " | ".join(ranks) + " |")
    print("| *its rank among the rows from random weights* | " + " | ".join(ranks_rnd) + " |")
    print("| *best method* | " + " | ".join(winners) + " |")
    print("| *Fed-Meta-Align minus the best other, paired by seed (seeds ahead)* | "
          + " | ".join(gaps) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--out", default="report/attack_sweep.png")
    ap.add_argument("--md", type=float, metavar="FRAC", help="Markdown table at this fraction")
    a = ap.parse_args()
    files = [f for d in a.dirs for f in sorted(glob.glob(os.path.join(d, "*.h5")))]
    if not files:
        sys.exit("attack_plot: no results files in " + " ".join(a.dirs))
    cells = paired(load(files))
    kinds = sorted({k for k, _ in cells if k != "none"})
    if not kinds:
        sys.exit("attack_plot: no attacked runs (only --attack none)")
    panels = panel_cells(cells, kinds)
    methods = order({m for per in cells.values() for m in per})
    fracs = sorted({fr for k in kinds for fr in panels[k]})
    colors = plt.get_cmap("tab20")(np.linspace(0, 1, 20))
    ncol = min(len(kinds), 2)
    nrow = (len(kinds) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol + 2.2, 3.0 * nrow), squeeze=False)
    print("| attack | method | " + " | ".join(f"{x:.1f}" for x in fracs) + " |")
    for ax in axes.flat[len(kinds):]:
        ax.set_visible(False)
    for ax, kind in zip(axes.flat, kinds):
        for i, m in enumerate(methods):
            fr = [x for x in sorted(panels[kind]) if m in panels[kind][x]]
            if not fr:
                continue
            mean = [100 * panels[kind][x][m].mean() for x in fr]
            sd = [100 * panels[kind][x][m].std() for x in fr]
            style = dict(color="k", lw=2.2, zorder=5) if m == FMA else \
                dict(color=colors[i % 20], lw=1, ls="--" if "@found" in m else "-")
            ax.errorbar(fr, mean, yerr=sd, marker="o", ms=3, capsize=1.5, elinewidth=0.5, label=m,
                        **style)
            cols = {x: f"{v:.1f}" for x, v in zip(fr, mean)}
            print(f"| {kind} | {m} | " + " | ".join(cols.get(x, "-") for x in fracs) + " |")
        ax.set_title(f"attack: {kind}", fontsize=9)
        ax.set_xlabel("fraction of attacking clients", fontsize=8)
        ax.set_ylabel("global accuracy (%)", fontsize=8)
        ax.set_ylim(0, 100)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    h, l = axes.flat[0].get_legend_handles_labels()
    fig.legend(h, l, loc="center right", fontsize=7, frameon=False)
    fig.suptitle("Robustness: 20 electrical devices, 20 rounds, mean ± sd over seeds "
                 "(dashed: from the foundation model)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1 - 2.0 / (4.2 * ncol + 2.2), 1))
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    fig.savefig(a.out, dpi=72)
    print("wrote", a.out)
    if a.md is not None:
        md_table(panels, kinds, a.md)


if __name__ == "__main__":
    main()
