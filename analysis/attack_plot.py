#!/usr/bin/python3
"""Accuracy vs attacker fraction (jobs/attack_sweep.sh results).

Reads every results file in the given directories, takes the attack kind and fraction
from the stored configuration (cfg.attack), the method from the method group, and the
global model's accuracy on the pooled test rows (round_acc[-1]); plots the mean over
seeds per method, one panel per attack kind, and prints the table.
Usage: analysis/attack_plot.py [--out PNG] DIR...
"""
import argparse, glob, os, sys
from collections import defaultdict

import h5py
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--out", default="report/attack_sweep.png")
    a = ap.parse_args()
    acc = defaultdict(list)  # (kind, method, frac) -> [acc]
    files = [f for d in a.dirs for f in sorted(glob.glob(os.path.join(d, "*.h5")))]
    if not files:
        sys.exit("attack_plot: no results files in " + " ".join(a.dirs))
    for fn in files:
        with h5py.File(fn, "r") as f:
            spec = text(f.attrs["cfg.attack"])
            kind, frac = (spec.split(":") + ["0"])[:2] if spec != "none" else ("none", "0")
            for g in f["methods"]:
                m = f["methods"][g]
                name = g.split("_", 1)[1]
                acc[(kind, name, float(frac))].append(float(m["round_acc"][-1]))
    kinds = sorted({k for k, _, _ in acc if k != "none"})
    methods = sorted({m for _, m, _ in acc})
    # a fraction of 0 is stored as kind:0, so every panel has its own baseline point
    fig, axes = plt.subplots(1, len(kinds), figsize=(5 * len(kinds), 4), squeeze=False)
    print("| attack | method | " + " | ".join(f"{x:.1f}" for x in sorted({fr for _, _, fr in acc})) + " |")
    for ax, kind in zip(axes[0], kinds):
        for m in methods:
            fr = sorted(fr for k, mm, fr in acc if k == kind and mm == m)
            if not fr:
                continue
            mean = [100 * np.mean(acc[(kind, m, x)]) for x in fr]
            sd = [100 * np.std(acc[(kind, m, x)]) for x in fr]
            ax.errorbar(fr, mean, yerr=sd, marker="o", capsize=3, label=m)
            print(f"| {kind} | {m} | " + " | ".join(f"{v:.1f}" for v in mean) + " |")
        ax.set_title(f"attack: {kind}")
        ax.set_xlabel("fraction of attacking clients")
        ax.set_ylabel("global-model accuracy on clients' test rows (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Robustness: 20 electrical devices, 20 rounds, mean ± sd over seeds")
    fig.tight_layout()
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    fig.savefig(a.out, dpi=110)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
