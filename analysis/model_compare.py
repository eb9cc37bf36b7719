#!/usr/bin/env python3
"""Model comparison: the MLP on features against the 1D-CNN on raw windows
(jobs/model_compare.sh, docs/reproducing.md section 10).

Reads the study directory: {mlp,cnn1d}_s<seed>.h5 (one `fedalign suite` per model and
seed, the same methods), export_<model>_s<seed>.txt (`fedalign export` output: its
FEDALIGN_EXPORT line, or the refusal), bench_<i>.txt (`fedalign bench train` runs, each
timing both models) and load.txt. Writes model_compare.md and model_compare.csv into
--out and prints the markdown.

Accuracy rows are paired by seed: "CNN - MLP" is the mean over seeds of the per-seed
difference (points), with the number of seeds where the CNN is ahead; the +- is the
standard deviation over seeds (seed noise). FLOPs per sample come from the layout by
analysis/flops.py's rule (what `fedalign bench train` prints). Throughput is the median
over the bench runs of each run's median, 1 thread, batch 32. bench train times fixed
shapes: the default CNN (1024 x 1, the study's CNN at the defaults) and the default
electrical MLP (6-64-32-6); a study model of another shape (the mechanical MLP,
17-64-32-10) gets samples/s estimated from the bench line's GFLOP/s and its own FLOPs,
marked "est.".
  model_compare.py [--out DIR] STUDY_DIR
"""
import argparse
import csv
import glob
import math
import os
import re
import statistics
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flops import dense_macs, train_flops  # noqa: E402

MODELS = ("mlp", "cnn1d")
ACC = ("acc_global", "acc_personal_mean", "acc_personal_worst", "acc_int8_mean")
ACC_TITLE = {"acc_global": "global", "acc_personal_mean": "personalized mean",
             "acc_personal_worst": "personalized worst", "acc_int8_mean": "int8 (mean)"}


def text(v):
    return v.decode() if isinstance(v, (bytes, np.bytes_)) else str(v)


def layer_list(s):
    return [int(x) for x in s.split(",") if x.strip()] if s else []


def flops_of(attrs):
    """training FLOPs per sample of the model in a results file (flops.py's counting
    rule, with the file's pool size; fedalign's layout gives the same numbers)"""
    cfg = {k[4:]: text(v) for k, v in attrs.items() if k.startswith("cfg.")}
    k, hidden = int(attrs["n_classes"]), layer_list(cfg.get("hidden", ""))
    if cfg.get("model", "mlp") != "cnn1d":
        return train_flops(dense_macs([int(attrs["n_features"]), *hidden, k]))
    L, C, pool, macs = int(attrs["win_len"]), int(attrs["win_ch"]), int(cfg["pool"]), []
    for blk in cfg["conv"].split(","):
        co, kk = (int(x) for x in blk.split(":"))
        lo = L - kk + 1
        macs.append(lo * co * C * kk)
        L, C = lo // pool, co
    return train_flops(macs + dense_macs([C, *hidden, k]))


def read_runs(study):
    """{model: {seed: {method: {field: value}}}}, {model: {"params", "flops", "shape"}}"""
    runs, info = {m: {} for m in MODELS}, {}
    for m in MODELS:
        for path in sorted(glob.glob(os.path.join(study, f"{m}_s*.h5"))):
            with h5py.File(path, "r") as f:
                if "methods" not in f or "checkpoint" in f:
                    print(f"model_compare: note: {path}: no finished suite; skipped", file=sys.stderr)
                    continue
                seed = int(f.attrs["cfg.seed"])
                runs[m][seed] = {text(g.attrs["name"]): {a: float(g.attrs[a]) for a in ACC}
                                 for g in f["methods"].values()}
                cfg = {k[4:]: text(v) for k, v in f.attrs.items() if k.startswith("cfg.")}
                if m == "mlp":
                    shape = f"{f.attrs['n_features']}-{cfg['hidden'].replace(',', '-')}-{f.attrs['n_classes']}"
                else:
                    shape = (f"{f.attrs['win_len']}x{f.attrs['win_ch']}, conv {cfg['conv']}, pool "
                             f"{cfg['pool']}, head {cfg['hidden']}, {f.attrs['n_classes']} classes")
                info[m] = {"params": int(f.attrs["n_params"]), "flops": flops_of(f.attrs), "shape": shape,
                           "setting": (cfg["preset"], cfg["rounds"], cfg["clients"], cfg["samples"], cfg["window"])}
    return runs, info


def read_exports(study, m):
    """(flash bytes, RAM bytes, int8 acc) medians over the seeds' exports, or (None, reason)"""
    vals, reason = [], "no export run"
    for path in sorted(glob.glob(os.path.join(study, f"export_{m}_s*.txt"))):
        t = open(path).read()
        line = re.search(r"^FEDALIGN_EXPORT .*$", t, re.M)
        if line:
            kv = dict(w.split("=", 1) for w in line.group(0).split()[1:] if "=" in w)
            vals.append((float(kv["flash_data_bytes"]), float(kv["ram_bytes"])))
        else:
            err = re.search(r"error: (.*)", t)
            reason = err.group(1).strip() if err else t.strip().splitlines()[-1] if t.strip() else "empty"
    if not vals:
        return None, reason
    return (statistics.median(v[0] for v in vals), statistics.median(v[1] for v in vals)), None


def read_bench(study):
    """{"mlp"|"cnn1d": (median samples/s, median GFLOP/s, flop_per_sample, P, runs)}"""
    per = {m: [] for m in MODELS}
    for path in sorted(glob.glob(os.path.join(study, "bench_*.txt"))):
        for line in open(path):
            if not line.startswith("FEDALIGN_BENCH name=train"):
                continue
            kv = dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)
            if kv.get("mode") != "serial" or kv.get("batch") != "32":
                continue
            m = "cnn1d" if kv.get("model") == "cnn1d" else "mlp"
            per[m].append((float(kv["median"]), float(kv["gflops"]), float(kv["flop_per_sample"]), kv["P"]))
    out = {}
    for m, v in per.items():
        if v:
            out[m] = (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v), v[0][2], v[0][3], len(v))
    return out


def ms(xs):
    """'mean +- sd' in percent of a list of fractions"""
    xs = [x for x in xs if math.isfinite(x)]
    if not xs:
        return "n/a"
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{100 * statistics.mean(xs):.1f} ± {100 * sd:.1f}"


def accuracy_rows(runs):
    seeds = sorted(set(runs["mlp"]) & set(runs["cnn1d"]))
    methods = [k for k in runs["mlp"][seeds[0]] if all(k in runs[m][s] for m in MODELS for s in seeds)]
    rows = []
    for meth in methods:
        for a in ACC:
            mv = [runs["mlp"][s][meth][a] for s in seeds]
            cv = [runs["cnn1d"][s][meth][a] for s in seeds]
            if not any(math.isfinite(x) for x in mv + cv):
                continue  # local-only has no global model
            d = [c - x for c, x in zip(cv, mv)]
            ahead = sum(1 for x in d if x > 0)
            rows.append((meth, ACC_TITLE[a], ms(mv), ms(cv), ms(d), f"{ahead}/{len(d)}",
                         mv, cv))
    return seeds, rows


def fmt_bytes(v):
    return "n/a" if v is None else f"{v:,.0f}"


def model_rows(info, exports, bench):
    rows = []
    for m in MODELS:
        i = info[m]
        b = bench.get(m)
        if b is None:
            thr, gf = "n/a (no bench run)", "n/a"
        elif b[2] != i["flops"]:  # bench's shape is not the study's: scale by the FLOPs
            thr = f"~{b[1] * 1e9 / i['flops']:,.0f} (est.; bench's P = {b[3]}: {b[0]:,.0f})"
            gf = f"{b[1]:.1f}"
        else:
            thr, gf = f"{b[0]:,.0f}", f"{b[1]:.1f}"
        ex, why = exports[m]
        flash, ram = (fmt_bytes(ex[0]), fmt_bytes(ex[1])) if ex else (f"n/a ({why})", "n/a")
        rows.append((m, i["shape"], f"{i['params']:,}", f"{i['flops']:,}", thr, gf, flash, ram, "n/a"))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study")
    ap.add_argument("--out", default="report/model_compare")
    a = ap.parse_args()
    runs, info = read_runs(a.study)
    for m in MODELS:
        if not runs[m]:
            sys.exit(f"model_compare: no finished {m}_s<seed>.h5 suite in {a.study}")
    if info["mlp"]["setting"] != info["cnn1d"]["setting"]:
        sys.exit(f"model_compare: the two models ran different settings: {info['mlp']['setting']} vs "
                 f"{info['cnn1d']['setting']}")
    seeds, acc = accuracy_rows(runs)
    if not seeds:
        sys.exit("model_compare: no seed has both models")
    exports = {m: read_exports(a.study, m) for m in MODELS}
    bench = read_bench(a.study)
    mrows = model_rows(info, exports, bench)
    preset, rounds, clients, samples, window = info["mlp"]["setting"]
    load = open(os.path.join(a.study, "load.txt")).read().strip("# \n") if os.path.exists(
        os.path.join(a.study, "load.txt")) else "not recorded"
    md = [f"Mechanical data, preset {preset} ({clients} devices, {samples} rows each, {rounds} rounds, "
          f"window {window}), seeds {', '.join(map(str, seeds))}; accuracy in % (mean ± sd over seeds).", "",
          "| method | accuracy | MLP on features | CNN on raw windows | CNN − MLP (points) | seeds CNN ahead |",
          "|---|---|---|---|---|---|"]
    md += [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} |" for r in acc]
    nb = bench.get("cnn1d", (0, 0, 0, 0, 0))[4]
    md += ["", "| model | shape | parameters | training FLOPs / sample | bench train samples/s (1 thread, "
           f"batch 32, median of {nb} runs) | GFLOP/s | int8 flash (model data, bytes) | int8 RAM (bytes) "
           "| Cortex-M4 cycles |", "|---|---|---|---|---|---|---|---|---|"]
    md += ["| " + " | ".join(r) + " |" for r in mrows]
    md += ["", f"Load: {load}. int8 flash/RAM: `fedalign export` of client 0's fedmetaalign+P model "
           "(median over seeds); Cortex-M4 cycles: n/a here (QEMU counts instructions, not cycles: "
           "tests/tinyml/test_cortex_m4.sh)."]
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "model_compare.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.join(a.out, "model_compare.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "accuracy", "model", "seed", "value"])
        for r in acc:
            for m, vals in (("mlp", r[6]), ("cnn1d", r[7])):
                for s, v in zip(seeds, vals):
                    w.writerow([r[0], r[1], m, s, f"{v:.6f}"])
    print("\n".join(md))


if __name__ == "__main__":
    main()
