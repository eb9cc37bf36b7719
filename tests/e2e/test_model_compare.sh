#!/usr/bin/env bash
# jobs/model_compare.sh + analysis/model_compare.py (docs/reproducing.md section 10) in a
# tiny setting (preset tiny, 2 rounds, window 128, a small CNN, 2 seeds, one quick bench):
#  - the table has every method of the study for both models, paired over both seeds;
#  - parameters are the results files' n_params, FLOPs per sample the layout's count
#    (hand-computed below), throughput from the bench runs, the int8 export's flash/RAM
#    for the MLP and, for the CNN, its numbers or "n/a" with the export's own reason;
#  - the csv holds every (method, accuracy, model, seed) value;
#  - a rerun keeps the finished files (an interrupted study continues);
#  - results of two different settings are refused, not tabulated side by side.
. "$(dirname "$0")/common.sh"
if ! /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  echo "SKIP: needs /usr/bin/python3 with h5py (Debian python3-h5py)"
  exit 77
fi
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export OMPI_MCA_rmaps_base_oversubscribe=1
study() { # OUT REPORT
  OUT=$1 REPORT=$2 FA_BIN=$FEDALIGN RANKS=2 SEEDS="1 2" PRESET=tiny METHODS=fedmetaalign+P,fedavg+P,fedavg,local+P \
    EXTRA="--rounds 2 --window 128" CNN_FLAGS="--conv 4:5,6:3" BENCH_RUNS=1 \
    BENCH_FLAGS="--batch 32 --reps 1 --warmup 0 --min-time 0.01" bash "$ROOT/jobs/model_compare.sh"
}
study "$WORK/out" "$WORK/rep" > "$WORK/study.txt" 2>&1 || { fail "model_compare.sh exited $?"; tail -5 "$WORK/study.txt" >&2; finish; }
md=$WORK/rep/model_compare.md
[ -s "$md" ] && pass "model_compare.md written" || { fail "no table at $md"; finish; }

for m in fedmetaalign+P fedavg+P fedavg local+P; do
  n=$(grep -c "^| $m | " "$md")
  # local-only has no global accuracy: 3 rows, the others 4
  want=4; [ "$m" = local+P ] && want=3
  [ "$n" = "$want" ] && pass "$m: $n accuracy rows" || fail "$m: $n accuracy rows, expected $want"
done
grep "^| fedmetaalign+P | personalized mean | " "$md" | grep -q '| [0-2]/2 |$' \
  && pass "accuracy paired over both seeds" || fail "no 'k/2 seeds' column: $(grep '^| fedmetaalign+P' "$md" | head -1)"

# the model rows: n_params from the results files, the layout's FLOPs per sample:
# MLP 17-64-32-10: 3456 multiply-adds; forward 6912 + weight grads 6912 + errors 2 * 2368 = 18560.
# CNN 128x1, conv 4:5 (124 out -> pool 62), 6:3 (60 -> 30), head 6-64-32-10: 2480 + 4320 + 2752
# multiply-adds; 2 * 19104 + 2 * (4320 + 2752) = 52352.
/usr/bin/python3 - "$md" "$WORK/out" <<'PYEOF' && pass "model rows: parameters, FLOPs, throughput, int8 export" || fail "model rows"
import sys, h5py
md, out = sys.argv[1], sys.argv[2]
rows = {}
for line in open(md):
    c = [x.strip() for x in line.strip().strip("|").split("|")]
    if c[0] in ("mlp", "cnn1d") and len(c) == 9:
        rows[c[0]] = c
assert set(rows) == {"mlp", "cnn1d"}, rows
for m, flops in (("mlp", "18,560"), ("cnn1d", "52,352")):
    r = rows[m]
    P = int(h5py.File(f"{out}/{m}_s1.h5", "r").attrs["n_params"])
    assert r[2] == f"{P:,}", (m, r[2], P)
    assert r[3] == flops, (m, r[3], flops)
    assert r[4].lstrip("~").split()[0].replace(",", "").isdigit(), (m, r[4])  # samples/s
assert rows["mlp"][6].replace(",", "").isdigit() and rows["mlp"][7].replace(",", "").isdigit(), rows["mlp"]
c = rows["cnn1d"]
assert (c[6].replace(",", "").isdigit() and c[7].replace(",", "").isdigit()) or \
    (c[6].startswith("n/a (") and len(c[6]) > 10 and c[7] == "n/a"), c
print("mlp", rows["mlp"][2:8], "\ncnn1d", c[2:8])
PYEOF
n=$(grep -c ',mlp,\|,cnn1d,' "$WORK/rep/model_compare.csv")
[ "$n" = $(((4 + 4 + 4 + 3) * 2 * 2)) ] && pass "csv: $n values (15 rows x 2 models x 2 seeds)" || fail "csv has $n values"

# a rerun keeps what is finished
before=$(stat -c %Y "$WORK/out/cnn1d_s1.h5" "$WORK/out/bench_1.txt")
study "$WORK/out" "$WORK/rep2" > "$WORK/study2.txt" 2>&1 || fail "rerun exited $?"
[ "$(stat -c %Y "$WORK/out/cnn1d_s1.h5" "$WORK/out/bench_1.txt")" = "$before" ] && cmp -s "$md" "$WORK/rep2/model_compare.md" \
  && pass "rerun keeps the finished runs and gives the same table" || fail "rerun replaced files or changed the table"

# two settings side by side are refused
mkdir -p "$WORK/mixed"
cp "$WORK/out/cnn1d_s1.h5" "$WORK/mixed/"
mpirun_n 2 "$FEDALIGN" suite --preset tiny --dataset mechanical --seed 1 --methods fedavg+P --rounds 1 --window 128 \
  --quiet --output "$WORK/mixed/mlp_s1.h5" < /dev/null > /dev/null 2>&1 || fail "mixed mlp suite failed"
/usr/bin/python3 "$ROOT/analysis/model_compare.py" --out "$WORK/rep3" "$WORK/mixed" > "$WORK/mixed.txt" 2>&1
rc=$?
[ $rc != 0 ] && grep -q "different settings" "$WORK/mixed.txt" && [ ! -e "$WORK/rep3/model_compare.md" ] \
  && pass "different settings refused" || fail "mixed settings: rc $rc, $(cat "$WORK/mixed.txt" | tail -2)"
finish
