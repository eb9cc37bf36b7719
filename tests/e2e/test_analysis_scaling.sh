#!/usr/bin/env bash
# Scaling analysis (label e2e): the tiny preset as jobs/strong_scaling.sbatch,
# weak_scaling.sbatch and hybrid_sweep.sbatch run it (a strong configuration at -n 1, 2,
# 3, the same at 1 rank x 2 threads; a weak one with 2 clients per rank at -n 1, 2, 3),
# fed to analysis/report.py: the strong, weak and hybrid plots and scaling.md/.csv are
# made with one row per point, and the results files carry the placement attributes.
. "$(dirname "$0")/common.sh"
PY=/usr/bin/python3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$WORK"
mkdir -p res
run() { # run RANKS THREADS CLIENTS OUT
  OMP_NUM_THREADS=$2 OMP_PROC_BIND=close SLURM_JOB_ID=4242 mpirun_n "$1" "$FEDALIGN" run --preset tiny \
    --clients "$3" --output "res/$4.h5" > "res/$4.txt" 2>&1 || fail "run $4 failed"
}
for n in 1 2 3; do
  run "$n" 1 6 "strong_r$n"
  run "$n" 1 $((2 * n)) "weak_c2_r$n"
done
run 1 2 6 strong_r1_t2

grep -q '^# nodes 1 | ranks/node 2 | threads/rank 1 | OMP_PLACES - | OMP_PROC_BIND close | SLURM_JOB_ID 4242' \
  res/strong_r2.txt && pass "banner records nodes, ranks/node, threads, binding, Slurm job" \
  || { fail "banner placement line missing"; grep '^#' res/strong_r2.txt | head -5 >&2; }
"$PY" - res/strong_r2.h5 <<'PYEOF' && pass "placement root attributes" || fail "placement root attributes"
import socket, sys, h5py
a = h5py.File(sys.argv[1], "r").attrs
want = {"n_nodes": 1, "ranks_per_node": 2, "env.OMP_PROC_BIND": b"close", "env.SLURM_JOB_ID": b"4242"}
bad = {k: a.get(k) for k, v in want.items() if a.get(k) != v}
if "env.OMP_PLACES" in a or not a.get("hostnames"): bad["unset OMP_PLACES / hostnames"] = 1
sys.exit(f"{bad}" if bad else 0)
PYEOF

"$PY" "$ROOT/analysis/report.py" --out rep res > report.txt 2> report.err; rc=$?
[ $rc = 0 ] && pass "report.py ran" || { fail "report.py exit $rc"; cat report.err report.txt >&2; }
for f in scaling_electrical_c6_s1234.png hybrid_electrical_c6_s1234.png \
         weak_electrical_cpr2_s1234.png scaling.md scaling.csv; do
  [ -s "rep/$f" ] && pass "made rep/$f" || { fail "missing or empty: rep/$f"; ls rep >&2; }
done
# scaling.csv: strong 3 rows (1, 2, 3 ranks at 1 thread), hybrid 4 (every point of the
# strong configuration), weak 3 (2 clients per rank at 1, 2, 3 ranks)
"$PY" - rep/scaling.csv <<'PYEOF' && pass "scaling.csv has the expected rows" || fail "scaling.csv rows"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
got = sorted((r["kind"], int(r["ranks"]), int(r["threads"]), r["clients"], r["clients_per_rank"]) for r in rows)
want = sorted([("strong", n, 1, "6", "") for n in (1, 2, 3)] +
              [("hybrid", n, 1, "6", "") for n in (1, 2, 3)] + [("hybrid", 1, 2, "6", "")] +
              [("weak", n, 1, str(2 * n), "2") for n in (1, 2, 3)])
if got != want:
    sys.exit(f"got {got}\nwant {want}")
for r in rows:
    t = float(r["time_s"])
    if not t > 0 or not float(r["t_train_s"]) > 0:
        sys.exit(f"non-positive time in {r}")
    if r["kind"] in ("strong", "weak") and int(r["ranks"]) == 1 and abs(float(r["efficiency"]) - 1) > 1e-9:
        sys.exit(f"efficiency at 1 rank is not 1: {r}")
PYEOF
n=$(grep -c '^| \(strong\|weak\|hybrid\) ' rep/scaling.md)
[ "$n" = 10 ] && pass "scaling.md has 10 rows" || fail "scaling.md has $n rows, expected 10"
finish
