#!/usr/bin/python3
"""bench_table.py: the ratio table of jobs/bench_compare.sh (fedalign vs both PyTorch peers).

Reads the tagged raw output of one sitting (lines `REP=i VARIANT=label <program output>`):
FEDALIGN_BENCH peak_fma / train (batch 32, one thread) / round lines of every fedalign
variant and the PEER_TORCH lines of analysis/peer_torch.py. Takes the median over the
rounds of each figure and prints
  - the table: every fedalign training line against the per-client peer (`clients`) and the
    client-batched peer (`batched`) of its model (model=cnn... lines: `cnn-clients`,
    `cnn-batched`), samples/s, GFLOP/s, % of the FMA ceiling, and the ratios per wall
    second and per CPU second (cpu_median of both programs);
  - BENCH_COMPARE lines (one per fedalign training line, one per FedAvg round);
and with --out DIR writes DIR/bench_compare.txt (the same text), DIR/bench_compare.csv
(analysis/roofline.py's input: one row per result and per ceiling) and DIR/raw.txt.
"""
import argparse
import csv
import os
import re
import statistics
import sys
from collections import defaultdict


CSV_FIELDS = ["kind", "label", "model", "mode", "isa", "contraction", "flop_per_sample",
              "samples_per_s", "gflops", "reps"]
PEERS = {"mlp": ("clients", "batched"), "cnn": ("cnn-clients", "cnn-batched")}


def kv(rest):
    return dict(m.groups() for m in re.finditer(r"(\w+)=(\S+)", rest))


def collect(path):
    """{key: [value per round]}, each variant's ISA, the torch FLOP counts"""
    vals, isa = defaultdict(list), {}
    for line in open(path):
        m = re.match(r"REP=(\d+) VARIANT=(\S+) (.*)", line.rstrip("\n"))
        if not m:
            continue
        var, rest = m.group(2), m.group(3)
        b = re.search(r"(?:build )?ISA(?: path)? (\w+)", rest)
        if b:
            isa.setdefault(var, b.group(1))
        d = kv(rest)
        if rest.startswith("FEDALIGN_BENCH name=peak_fma"):
            kern = "fma" if d["kernel"] == "fma" else "muladd"
            name = f"{kern} {d.get('isa', 'build')} x{d['width']}"
            vals[("ceiling", var, name, "on" if kern == "fma" else "off")].append(float(d["median"]))
        elif rest.startswith("FEDALIGN_BENCH name=train") and d.get("batch") == "32" and d.get("threads") == "1":
            model = "cnn" if d.get("model", "mlp").startswith("cnn") else "mlp"
            key = ("train", var, model, d["mode"], d.get("isa", ""), float(d["flop_per_sample"]))
            vals[key].append(float(d["median"]))
            vals[("cpu",) + key].append(float(d.get("cpu_median", "nan")))
        elif rest.startswith("FEDALIGN_BENCH name=round"):
            vals[("round", var)].append(float(d["samples_per_s"]))
        elif rest.startswith("PEER_TORCH name="):
            vals[("peer", d["name"], d["model"], float(d["flop_per_sample"]))].append(float(d["median"]))
            vals[("cpu", "peer", d["name"])].append(float(d.get("cpu_median", "nan")))
    return vals, isa


def build(vals, isa, reps):
    """(table lines, BENCH_COMPARE lines, csv rows)"""
    med = {k: statistics.median(v) for k, v in vals.items()}
    peers = {k[1]: (v, k[3]) for k, v in med.items() if k[0] == "peer"}
    fma = {}
    rows, text, lines = [], [], []
    for k, v in sorted(med.items(), key=lambda kv_: str(kv_[0])):
        if k[0] == "ceiling":
            rows.append(dict(kind="ceiling", label=f"{k[1]}: {k[2]}", contraction=k[3], gflops=f"{v:.6g}",
                             reps=len(vals[k])))
            if k[3] == "on":
                fma[k[1]] = max(fma.get(k[1], 0.0), v)
    text.append(f"# {'variant':<10} {'model':<5} {'mode':<12} {'isa':<7} {'fedalign s/s':>13} {'GFLOP/s':>8} "
                f"{'%FMA':>6} {'per-client':>11} {'ratio':>7} {'batched':>11} {'ratio':>7} {'per CPU-s:':>10} "
                f"{'ratio':>7} {'ratio':>7}")
    for k, v in sorted((k, v) for k, v in med.items() if k[0] == "train"):
        _, var, model, mode, lisa, fps = k
        lisa = lisa or isa.get(var, "?")
        gf = v * fps * 1e-9
        pf = 100 * gf / fma[var] if fma.get(var) else float("nan")
        pc, pb = (peers.get(n, (float("nan"), 0))[0] for n in PEERS[model])
        # per CPU second: what each program got out of the core while it held it
        vc = med.get(("cpu",) + k, float("nan"))
        rc, rb = (vc / med.get(("cpu", "peer", n), float("nan")) for n in PEERS[model])
        text.append(f"  {var:<10} {model:<5} {mode:<12} {lisa:<7} {v:13.4g} {gf:8.2f} {pf:6.1f} "
                    f"{pc:11.4g} {v / pc:6.2f}x {pb:11.4g} {v / pb:6.2f}x {'':>10} {rc:6.2f}x {rb:6.2f}x")
        lines.append(f"BENCH_COMPARE name=train variant={var} model={model} mode={mode} isa={lisa} batch=32 "
                     f"threads=1 reps={reps} fedalign={v:.6g} gflops={gf:.4g} pct_fma_peak={pf:.3g} "
                     f"torch_clients={pc:.6g} ratio_clients={v / pc:.4g} torch_batched={pb:.6g} "
                     f"ratio_batched={v / pb:.4g} ratio_clients_cpu={rc:.4g} ratio_batched_cpu={rb:.4g}")
        rows.append(dict(kind="result", label=f"fedalign {var} {model} {mode}", model=model, mode=mode, isa=lisa,
                         flop_per_sample=f"{fps:.0f}", samples_per_s=f"{v:.6g}", gflops=f"{gf:.6g}",
                         reps=len(vals[k])))
    for name, (v, fps) in sorted(peers.items()):
        if name.startswith("fedavg"):  # a round rate (training, aggregation, evaluation), not training
            continue
        model = "cnn" if name.startswith("cnn") else "mlp"
        rows.append(dict(kind="result", label=f"torch {name}", model=model, mode=name, isa="torch",
                         flop_per_sample=f"{fps:.0f}", samples_per_s=f"{v:.6g}", gflops=f"{v * fps * 1e-9:.6g}",
                         reps=len(vals[("peer", name, model, fps)])))
    for name in sorted(n for ps in PEERS.values() for n in ps):
        if name in peers:
            text.append(f"  {'torch':<10} {'cnn' if name.startswith('cnn') else 'mlp':<5} {name:<12} {'-':<7} "
                        f"{peers[name][0]:13.4g} {peers[name][0] * peers[name][1] * 1e-9:8.2f}")
    if "fedavg" in peers:
        pa = peers["fedavg"][0]
        pb = peers.get("fedavg-batched", (float("nan"), 0))[0]
        for k, v in sorted((k, v) for k, v in med.items() if k[0] == "round"):
            text.append(f"  {k[1]:<10} FedAvg round, client samples/s: fedalign {v:.4g}; per-client peer "
                        f"{pa:.4g} ({v / pa:.2f}x); batched peer {pb:.4g} ({v / pb:.2f}x)")
            lines.append(f"BENCH_COMPARE name=fedavg variant={k[1]} threads=1 reps={reps} fedalign={v:.6g} "
                         f"torch_clients={pa:.6g} ratio_clients={v / pa:.4g} torch_batched={pb:.6g} "
                         f"ratio_batched={v / pb:.4g}")
    return text, lines, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--raw", required=True, help="tagged raw output of jobs/bench_compare.sh")
    ap.add_argument("--reps", type=int, required=True, help="rounds of the sitting")
    ap.add_argument("--torch", default="?", help="torch version")
    ap.add_argument("--load", default="?", help="load average when measured")
    ap.add_argument("--out", help="directory for bench_compare.txt/.csv and raw.txt")
    a = ap.parse_args()
    vals, isa = collect(a.raw)
    if not any(k[0] == "train" for k in vals) or not any(k[0] == "peer" for k in vals):
        sys.exit("bench_table: no fedalign training line or no PyTorch peer line in the raw output")
    text, lines, rows = build(vals, isa, a.reps)
    head = [f"# fedalign vs PyTorch {a.torch}: per-client loop and client-batched peer, one thread each, "
            f"batch 32, medians of {a.reps} alternating rounds; load average {a.load}",
            "# FLOP per sample (analysis/flops.py; fedalign's own count for its lines): "
            + ", ".join(f"{k[1]} {k[3]:.0f}" for k in sorted(vals) if k[0] == "peer")
            + "; ratio = fedalign samples/s / peer samples/s (wall clock; the last two columns per CPU "
            "second of each process, steadier on a busy machine)"]
    out = "\n".join(head + text + lines) + "\n"
    sys.stdout.write(out)
    if a.out:
        with open(os.path.join(a.out, "bench_compare.txt"), "w") as f:
            f.write(out)
        with open(os.path.join(a.out, "bench_compare.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, CSV_FIELDS, restval="")
            w.writeheader()
            w.writerows(rows)
        with open(a.raw) as src, open(os.path.join(a.out, "raw.txt"), "w") as dst:
            dst.write(src.read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
