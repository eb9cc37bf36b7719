#!/usr/bin/env bash
# jobs/regime_map.sh and analysis/regime_map.py (label e2e): a 2 x 2 map of tiny suites
# (rows per device x heterogeneity, 2 seeds, 2 rounds) runs end to end; the heatmap and
# its table are written; each cell's number is the paired difference of fedmetaalign+P
# and the baseline with the best mean in the cell, recomputed here from the results
# files; a cell with a missing seed of a baseline is not compared with it; report.py
# draws the same map from the same folder.
. "$(dirname "$0")/common.sh"
PY=/usr/bin/python3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$WORK"
"$PY" -c "import h5py, numpy, matplotlib" 2>/dev/null || { echo "skip: needs python3-h5py, numpy, matplotlib"; exit 77; }
OUT=$WORK/rm REPORT=$WORK/rep FA_BIN=$FEDALIGN RANKS=2 PRESET=tiny SAMPLES="60 200" HETS="0 2" \
  SEEDS="1 2" EXTRA="--rounds 2 --no-int8" bash "$ROOT/jobs/regime_map.sh" > map.txt 2>&1 \
  || { fail "regime_map.sh exited $?"; tail -5 map.txt; }
[ "$(ls rm/*.h5 2>/dev/null | wc -l)" = 8 ] && pass "8 suites (2 x 2 cells x 2 seeds)" || fail "suites: $(ls rm)"
[ -s rep/regime_map.png ] && pass "heatmap written" || fail "no rep/regime_map.png"
grep -q '^| 0 | ' rep/regime_map.md && grep -q '^| 2 | ' rep/regime_map.md \
  && [ "$(grep -o '(./2, ' rep/regime_map.md | wc -l)" = 4 ] && pass "table: 2 x 2 cells with wins out of 2 seeds" \
  || { fail "table"; cat rep/regime_map.md; }
# the numbers, recomputed independently from the results files
"$PY" - rm rep/regime_map.csv <<'PYEOF' && pass "cell values match a recomputation from the files" || fail "cell values differ from the recomputation"
import sys, os, csv, h5py, numpy as np
acc = {}
for fn in os.listdir(sys.argv[1]):
    if not fn.endswith(".h5"): continue
    f = h5py.File(os.path.join(sys.argv[1], fn), "r")
    key = (int(f.attrs["cfg.samples"]), float(f.attrs["cfg.heterogeneity"]))
    for g in f["methods"].values():
        acc.setdefault(key, {}).setdefault(g.attrs["name"].decode() if isinstance(g.attrs["name"], bytes) else str(g.attrs["name"]), []).append(
            (f.attrs["cfg.seed"], float(g.attrs["acc_personal_mean"])))
ok = True
rows = list(csv.DictReader(open(sys.argv[2])))
assert len(rows) == 4, rows
for r in rows:
    m = acc[(int(r["samples"]), float(r["heterogeneity"]))]
    fma = dict(m["fedmetaalign+P"])
    bases = [k for k in m if k.endswith("+P") and k[:-2].split("@")[0] in ("fedavg", "fedprox", "local")]
    assert len(bases) == 6, bases
    best = max(bases, key=lambda k: np.mean([v for _, v in m[k]]))
    b = dict(m[best])
    d = [fma[s] - b[s] for s in fma]
    ok &= r["best_baseline"] == best and abs(float(r["mean"]) - np.mean(d)) < 1e-12 \
        and int(r["wins"]) == sum(x > 0 for x in d)
sys.exit(0 if ok else 1)
PYEOF
# report.py draws the map too (more than one cell in its inputs)
"$PY" "$ROOT/analysis/report.py" --out rep2 rm > r2.txt 2>&1 || fail "report.py exited $?"
cmp -s rep/regime_map.md rep2/regime_map.md && [ -s rep2/regime_map.png ] \
  && pass "report.py writes the same regime map" || fail "report.py regime map differs or is missing"
# an incomplete cell: a baseline missing a seed is not compared on fewer seeds
mkdir part && cp rm/regime_n60_h0_s1.h5 part/ && cp rm/regime_n200_h0_s*.h5 part/
"$PY" "$ROOT/analysis/regime_map.py" --out rep3 part > r3.txt 2>&1 || fail "regime_map.py on a partial folder exited $?"
grep -q '(./1, ' rep3/regime_map.md && grep -q '(./2, ' rep3/regime_map.md \
  && pass "cells count their own seeds (1 and 2)" || { fail "partial cells"; cat rep3/regime_map.md; }
"$PY" "$ROOT/analysis/regime_map.py" --out rep4 /nonexistent_dir_x > r4.txt 2>&1; rc=$?
[ $rc = 2 ] && pass "no results: exit 2 with a message" || fail "no results: exit $rc"
finish
