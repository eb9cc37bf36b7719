#!/usr/bin/python3
"""roofline.py: achieved training GFLOP/s against the fp32 ceilings (issue 20's figure).

Input: the CSV that jobs/bench_compare.sh --out DIR writes (DIR/bench_compare.csv): one
`result` row per fedalign training line (each variant / ISA path and mode) and per
PyTorch peer, with samples/s and GFLOP/s (samples/s x FLOP per sample, analysis/flops.py's
rule, fedalign's bench_flops_train_sample()), and one `ceiling` row per kernel of
`fedalign bench peak` (contraction on: FMA at each vector width; off: the build's
separate multiply and add). A ceiling measured by several variants is drawn once, at its
highest median. For an FMA width with no measured mul+add kernel, the contraction-off
ceiling is drawn at half the FMA rate, marked "not measured: a lower bound": one FLOP per
instruction instead of two, on a core whose adds share the FMA pipes (Zen 4 has separate
add pipes, and its measured AVX2 mul+add reaches the AVX2 FMA rate).

The kernels are bound by instruction issue inside L1/L2, not by memory (docs/performance.md,
"Roofline statement"), so the figure is the compute part of a roofline: one bar per
program, horizontal lines for the ceilings, each bar labelled with its % of the best FMA
ceiling. Output: the PNG (--out) and a text summary on stdout.
Usage: analysis/roofline.py CSV --out roofline.png [--title TEXT]
"""
import argparse
import csv
import re
import sys


def load(path):
    """(results [(label, model, gflops)], ceilings {name: (gflops, contraction)})"""
    try:
        rows = list(csv.DictReader(open(path)))
    except OSError as e:
        raise SystemExit(f"roofline: cannot read {path}: {e.strerror}")
    need = {"kind", "label", "model", "contraction", "gflops"}
    if not rows or not need <= set(rows[0]):
        raise SystemExit(f"roofline: {path} is not a bench_compare.csv (needs columns {sorted(need)})")
    results, ceil = [], {}
    for i, r in enumerate(rows, 2):
        try:
            g = float(r["gflops"])
        except ValueError:
            raise SystemExit(f"roofline: {path} line {i}: gflops '{r['gflops']}' is not a number")
        if r["kind"] == "result":
            results.append((r["label"], r["model"], g))
        elif r["kind"] == "ceiling":
            name = r["label"].split(": ", 1)[-1]  # "variant: kernel" -> kernel
            if g > ceil.get(name, (0.0, ""))[0]:
                ceil[name] = (g, r["contraction"])
        else:
            raise SystemExit(f"roofline: {path} line {i}: kind '{r['kind']}' (result or ceiling)")
    if not results or not any(c == "on" for _, c in ceil.values()):
        raise SystemExit(f"roofline: {path} needs result rows and at least one FMA ceiling")
    return results, ceil


def with_derived(ceil):
    """add ½ FMA as the contraction-off ceiling of every FMA width without a measured one"""
    width = lambda n: re.search(r"x(\d+)$", n).group(1) if re.search(r"x(\d+)$", n) else ""  # noqa: E731
    off = {width(n) for n, (_, c) in ceil.items() if c == "off"}
    out = dict(ceil)
    for n, (g, c) in ceil.items():
        if c == "on" and width(n) not in off:
            out[n.replace("fma", "mul+add", 1) + " (not measured: ½ FMA, a lower bound)"] = (g / 2, "off")
    return out


def draw(results, ceil, out, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    best = max(g for g, c in ceil.values() if c == "on")
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(results) + 3), 4.8))
    colors = {"mlp": "tab:blue", "cnn": "tab:orange"}
    xs = range(len(results))
    ax.bar(xs, [g for _, _, g in results], color=[colors.get(m, "tab:gray") for _, m, _ in results])
    for x, (_, _, g) in zip(xs, results):
        ax.annotate(f"{g:.3g}\n{100 * g / best:.1f}%", (x, g), ha="center", va="bottom", fontsize=7)
    styles = iter(["-", "--", "-.", ":"] * 4)
    for n, (g, c) in sorted(ceil.items(), key=lambda kv: -kv[1][0]):
        ax.axhline(g, ls=next(styles), lw=1.2, color="k" if c == "on" else "tab:red", alpha=0.8,
                   label=f"{n}: {g:.0f} ({'contraction on' if c == 'on' else 'contraction off'})")
    ax.legend(fontsize=7, loc="upper right", title="fp32 ceilings, GFLOP/s", title_fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(list(xs))
    ax.set_xticklabels([lbl for lbl, _, _ in results], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("achieved GFLOP/s, one core (log)")
    ax.set_title(title, fontsize=10)
    ax.set_ylim(min(g for _, _, g in results) / 3, best * 30)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", help="bench_compare.csv from jobs/bench_compare.sh --out DIR")
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--title", default="training, batch 32, one core: achieved GFLOP/s vs fp32 ceilings")
    a = ap.parse_args()
    results, ceil = load(a.csv)
    ceil = with_derived(ceil)
    best = max(g for g, c in ceil.values() if c == "on")
    for lbl, m, g in results:
        print(f"{lbl:<32} {m:<4} {g:9.3f} GFLOP/s  {100 * g / best:5.1f} % of the best FMA ceiling")
    for n, (g, c) in sorted(ceil.items(), key=lambda kv: -kv[1][0]):
        print(f"ceiling {n:<40} {g:9.1f} GFLOP/s  contraction {c}")
    draw(results, ceil, a.out, a.title)
    print(f"roofline: wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
