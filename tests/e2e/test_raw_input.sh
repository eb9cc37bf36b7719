#!/usr/bin/env bash
# --input raw (issue 17, item 2): the mechanical generator's rows become its raw
# vibration windows (d = --window, one channel) with the same devices, labels,
# heterogeneity and partition as its feature rows, deterministically and for any rank
# count; --input features (the default) leaves every checksum where it was.
. "$(dirname "$0")/common.sh"
export OMP_NUM_THREADS=1
M=(--preset tiny --dataset mechanical --seed 5)

# 1. the clients: same sizes and label histograms, a window per row
"$FEDALIGN" data "${M[@]}" --describe > "$WORK/feat.txt" 2>&1 || fail "describe features: $(cat "$WORK/feat.txt")"
"$FEDALIGN" data "${M[@]}" --input raw --describe > "$WORK/raw.txt" 2>&1 || fail "describe raw: $(cat "$WORK/raw.txt")"
grep -q '^# data: mechanical, 256 features' "$WORK/raw.txt" && grep -q '^# raw windows: 256 time steps x 1 channels' "$WORK/raw.txt" \
  && pass "raw rows are 256-sample windows (the tiny preset's --window)" || fail "raw describe header: $(head -2 "$WORK/raw.txt")"
grep -q '^# data: mechanical, 17 features' "$WORK/feat.txt" || fail "features describe header: $(head -1 "$WORK/feat.txt")"
if cmp -s <(grep -v '^# data\|^# raw' "$WORK/feat.txt") <(grep -v '^# data\|^# raw' "$WORK/raw.txt"); then
  pass "same clients, split sizes and label histograms as the feature rows"
else
  fail "raw clients differ from the feature clients: $(diff <(grep -v '^# data\|^# raw' "$WORK/feat.txt") <(grep -v '^# data\|^# raw' "$WORK/raw.txt") | head -5)"
fi
"$FEDALIGN" data "${M[@]}" --input raw --window 128 --describe 2>&1 | grep -q '^# data: mechanical, 128 features' \
  && pass "--window sets the raw row length" || fail "--window 128 did not give 128-sample rows"

# 2. the export: one column per sample, named accel_tT, a vibration signal in g
"$FEDALIGN" data "${M[@]}" --input raw --export "$WORK/exp" > /dev/null 2>&1 || fail "raw export failed"
/usr/bin/python3 - "$WORK/exp/client_1.csv" <<'PYEOF' && pass "raw export: 256 sample columns accel_t0..accel_t255 of varying signal" || fail "raw export content"
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
head = rows[0]
assert head[:2] == ["accel_t0", "accel_t1"] and head[255] == "accel_t255", head[:3]
assert head[256:] == ["label", "split"], head[256:]
x = [float(v) for v in rows[1][:256]]
assert len(rows) > 20 and max(x) > min(x) and max(abs(v) for v in x) < 50, (min(x), max(x))
PYEOF

# 3. checksums: raw moves them, the explicit default does not, raw is reproducible
run() { # NAME NP ARGS...
  local name=$1 np=$2; shift 2
  mpirun_n "$np" "$FEDALIGN" run "${M[@]}" --method fedavg --rounds 2 --quiet --output "$WORK/$name.h5" "$@" \
    < /dev/null > "$WORK/$name.out" 2>&1 || fail "run $name exited $?: $(tail -2 "$WORK/$name.out")"
}
run def 1
run feat 1 --input features
run raw1 1 --input raw
run raw2 2 --input raw
[ -n "$(sums "$WORK/def.out")" ] && [ "$(sums "$WORK/def.out")" = "$(sums "$WORK/feat.out")" ] \
  && pass "--input features gives the default checksums" || fail "--input features moved the checksums"
[ "$(sums "$WORK/raw1.out")" != "$(sums "$WORK/def.out")" ] && pass "--input raw moves the checksums" \
  || fail "--input raw left the checksums unchanged"
[ -n "$(sums "$WORK/raw1.out")" ] && [ "$(sums "$WORK/raw1.out")" = "$(sums "$WORK/raw2.out")" ] \
  && pass "--input raw: the same checksums at -n 1 and -n 2" || fail "raw checksums differ between 1 and 2 ranks"
/usr/bin/python3 - "$WORK/raw1.h5" <<'PYEOF' && pass "results file records win_len 256, win_ch 1, one channel name" || fail "results file window attributes"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
assert int(f.attrs["win_len"]) == 256 and int(f.attrs["win_ch"]) == 1, dict(f.attrs)
assert int(f.attrs["n_features"]) == 256 and [n.decode() for n in f.attrs["feature_names"]] == ["accel"]
PYEOF

# 4. refused where it means nothing
out=$("$FEDALIGN" data --preset tiny --dataset electrical --input raw --describe 2>&1); rc=$?
[ $rc = 2 ] && grep -q 'input raw applies to --dataset mechanical' <<<"$out" \
  && pass "--input raw with electrical data: exit 2 with a message" || fail "electrical --input raw: rc $rc: $out"
finish
