#!/usr/bin/env python3
"""Table of the server-learning-rate study (jobs/alpha_study.sh): per dataset, method and
alpha, over seeds: final personalized and global accuracy, the best global accuracy over
rounds, rounds to the target (95 % of the best final global accuracy of any run with the
same dataset and seed: one target per data draw, the same for every method and alpha),
and the server-dynamics diagnostic
(lag-1 autocorrelation of the clients' cosines to the round mean, mean cosine between
consecutive global updates, seeds flagged as a 2-cycle).
Usage: alpha_study.py DIR   (the alpha_*.h5 files of jobs/alpha_study.sh)"""
import glob
import math
import os
import re
import sys
from collections import defaultdict

import h5py
import numpy as np


def mean(xs):
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return sum(xs) / len(xs) if xs else math.nan


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    runs = defaultdict(list)
    for p in sorted(glob.glob(os.path.join(argv[1], "alpha_*.h5"))):
        m = re.match(r"alpha_([a-z]+)_([a-z-]+)_a([0-9.]+)_s(\d+)\.h5$", os.path.basename(p))
        if not m:
            continue
        ds, method, alpha, seed = m.group(1), m.group(2), float(m.group(3)), int(m.group(4))
        with h5py.File(p, "r") as f:
            g = f["methods"][list(f["methods"])[0]]
            a = g.attrs
            runs[(ds, method, alpha)].append(dict(
                seed=seed, pers=float(a["acc_personal_mean"]), glob=float(a["acc_global"]),
                curve=np.array(g["round_acc"][...], dtype=float),
                lag1=float(a["osc_cos_lag1"]), upd=float(a["osc_update_cos"]),
                cycle=bool(a["two_cycle"])))
    if not runs:
        print(f"alpha_study: no alpha_*.h5 files in {argv[1]}", file=sys.stderr)
        return 1
    target = {}
    for (ds, _, _), rs in runs.items():
        for r in rs:
            target[(ds, r["seed"])] = max(target.get((ds, r["seed"]), 0.0), 0.95 * r["glob"])
    print("| dataset | method | α | personalized % | global % | best global % | rounds to target |"
          " cos lag-1 | update cos | 2-cycle seeds |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key in sorted(runs, key=lambda k: (k[0], k[1], k[2])):
        ds, method, alpha = key
        rs = runs[key]
        hit = []
        for r in rs:
            idx = np.nonzero(r["curve"] >= target[(ds, r["seed"])])[0]
            hit.append(float(idx[0]) if len(idx) else math.nan)
        reached = sum(1 for h in hit if math.isfinite(h))
        print(f"| {ds} | {method} | {alpha:g} | {100 * mean(r['pers'] for r in rs):.1f} | "
              f"{100 * mean(r['glob'] for r in rs):.1f} | "
              f"{100 * mean(float(np.nanmax(r['curve'])) for r in rs):.1f} | "
              f"{mean(hit):.1f} ({reached}/{len(rs)})".replace("nan", "—") + " | "
              f"{mean(r['lag1'] for r in rs):+.2f} | "
              f"{mean(r['upd'] for r in rs):+.2f} | {sum(r['cycle'] for r in rs)}/{len(rs)} |")
    print("\nrounds to target: mean over the seeds that reached it (seeds reached / seeds); "
          "target = 95 % of the best final global accuracy of any run with the same dataset "
          "and seed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
