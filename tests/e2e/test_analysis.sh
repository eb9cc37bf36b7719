#!/usr/bin/env bash
# Analysis (label e2e): analysis/report.py on tiny suites (two seeds x electrical and
# mechanical at -n 2, plus the electrical seed-1 suite again at -n 1 for the scaling
# plot) writes the comparison table (markdown, CSV with one row per method) and valid
# PNG plots: per-device phase accuracies, convergence, aggregation weights, scaling;
# every input file passes analysis/h5check.py; the report also runs without scaling
# files (printing a note) and fails on no input.
. "$(dirname "$0")/common.sh"
PY=/usr/bin/python3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
REPORT=$ROOT/analysis/report.py
cd "$WORK"
export OMP_NUM_THREADS=1
mkdir -p res
for ds in electrical mechanical; do
  for s in 1 2; do
    mpirun_n 2 "$FEDALIGN" suite --preset tiny --quiet --dataset $ds --seed $s \
      --output res/${ds}_s$s.h5 > res/${ds}_s$s.txt 2>&1 || fail "suite $ds seed $s failed"
  done
done
mpirun_n 1 "$FEDALIGN" suite --preset tiny --quiet --dataset electrical --seed 1 \
  --output res/electrical_s1_n1.h5 > res/electrical_s1_n1.txt 2>&1 || fail "suite at -n 1 failed"

"$PY" "$ROOT/analysis/h5check.py" res/*.h5 > h5check.txt 2>&1 && pass "h5check: every input file valid" \
  || { fail "h5check failed"; cat h5check.txt >&2; }

"$PY" "$REPORT" --out rep res > report.txt 2> report.err; rc=$?
if [ $rc = 0 ]; then pass "report.py ran"; else fail "report.py exit $rc"; cat report.err report.txt >&2; fi

for f in comparison.md comparison.csv comparison_long.csv \
         phases_electrical.png phases_mechanical.png \
         convergence_electrical.png convergence_mechanical.png \
         weights_electrical_s1.png weights_mechanical_s1.png scaling_electrical_s1.png; do
  [ -s "rep/$f" ] || fail "missing or empty: rep/$f"
done
grep -q 'written (' report.txt && grep -q 'rep/scaling_electrical_s1.png' report.txt \
  && pass "report lists the written files" || fail "report does not list the written files"
grep -q '^| fedmetaalign+P ' report.txt && pass "report prints the markdown table" \
  || fail "report does not print the table"

# PNGs: magic bytes, size, and readable by matplotlib (and PIL when present)
"$PY" - rep <<'PYEOF' && pass "PNGs valid" || fail "invalid PNG"
import glob, os, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.image as mpimg
pngs = sorted(glob.glob(os.path.join(sys.argv[1], "*.png")))
bad = []
if len(pngs) < 7:
    bad.append(f"only {len(pngs)} PNGs")
for p in pngs:
    with open(p, "rb") as f:
        head = f.read(8)
    if head != b"\x89PNG\r\n\x1a\n":
        bad.append(f"{p}: not a PNG (magic {head!r})")
        continue
    if os.path.getsize(p) < 20000:
        bad.append(f"{p}: only {os.path.getsize(p)} bytes")
    img = mpimg.imread(p)
    if img.ndim != 3 or img.shape[0] < 300 or img.shape[1] < 500:
        bad.append(f"{p}: image shape {img.shape}")
    elif float(img[..., :3].std()) < 0.02:
        bad.append(f"{p}: blank image")
    try:
        from PIL import Image
        with Image.open(p) as im:
            im.verify()
    except ImportError:
        pass
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PYEOF

# CSV: header and one row per method of the suites; values consistent with the files
"$PY" - rep/comparison.csv rep/comparison_long.csv res <<'PYEOF' && pass "CSV parses, one row per method, values match the files" || fail "comparison CSV wrong"
import csv, glob, math, os, sys
import h5py
import numpy as np
wide, long_, res = sys.argv[1:4]
rows = list(csv.reader(open(wide)))
head, body = rows[0], rows[1:]
bad = []
f = h5py.File(os.path.join(res, "electrical_s1.h5"), "r")
names = [f["methods"][g].attrs["name"].decode() for g in sorted(f["methods"])]
if head[0] != "method":
    bad.append(f"first column {head[0]!r}")
for cfg in ("electrical", "mechanical"):
    for col in ("n_seeds", "pers_mean_pct", "pers_sd_seeds_pct", "pers_sd_clients_pct", "worst_pct",
                "global_mean_pct", "global_sd_seeds_pct", "budget_public_epochs", "budget_client_epochs"):
        if f"{cfg}:{col}" not in head:
            bad.append(f"column {cfg}:{col} missing")
if [r[0] for r in body] != names:
    bad.append(f"rows {[r[0] for r in body]} != methods {names}")
if any(len(r) != len(head) for r in body):
    bad.append("ragged rows")
if not bad:
    d = {r[0]: dict(zip(head, r)) for r in body}
    for n in names:
        if d[n]["electrical:n_seeds"] != "2" or d[n]["mechanical:n_seeds"] != "2":
            bad.append(f"{n}: n_seeds {d[n]['electrical:n_seeds']}/{d[n]['mechanical:n_seeds']} (want 2: the -n 1 rerun must not count as a seed)")
    # personalized mean over seeds recomputed from the files
    for n in ("fedmetaalign+P", "fedavg+P", "local+P"):
        v = []
        for s in (1, 2):
            g = h5py.File(os.path.join(res, f"electrical_s{s}.h5"), "r")["methods"]
            m = [g[k] for k in g if g[k].attrs["name"].decode() == n][0]
            v.append(float(np.mean(m["acc_p3"][()])))
        want = 100 * np.mean(v)
        got = float(d[n]["electrical:pers_mean_pct"])
        if abs(got - want) > 1e-3:
            bad.append(f"{n}: pers_mean_pct {got} != {want}")
        sd = 100 * np.std(v, ddof=1)
        if abs(float(d[n]["electrical:pers_sd_seeds_pct"]) - sd) > 1e-3:
            bad.append(f"{n}: pers_sd_seeds_pct differs from {sd}")
    if d["local+P"]["electrical:global_mean_pct"] != "":
        bad.append("local+P has a global accuracy (should be empty: no global model)")
    if not math.isfinite(float(d["fedmetaalign+P"]["electrical:global_mean_pct"])):
        bad.append("fedmetaalign+P global accuracy missing")
lr = list(csv.DictReader(open(long_)))
if len(lr) != 2 * len(names):
    bad.append(f"long CSV has {len(lr)} rows, want {2 * len(names)}")
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PYEOF

# without the -n 1 file: no scaling plot, a note, still success
"$PY" "$REPORT" --out rep2 res/electrical_s1.h5 res/electrical_s2.h5 > r2.txt 2>&1; rc=$?
[ $rc = 0 ] && grep -q 'no scaling plot' r2.txt && [ ! -e rep2/scaling_electrical_s1.png ] \
  && [ -s rep2/comparison.csv ] && pass "no scaling files: note, no failure" \
  || { fail "report without scaling files (exit $rc)"; cat r2.txt >&2; }
# no input: an error, not a silent success
mkdir -p empty
"$PY" "$REPORT" --out rep3 empty > r3.txt 2>&1 && fail "report on an empty folder succeeded" \
  || pass "report on an empty folder fails"
finish
