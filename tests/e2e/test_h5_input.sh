#!/usr/bin/env bash
# --dataset h5:PATH (issue 17, item 2): an HDF5 file with X [N][D] features or
# [N][L][C] raw windows and y labels is pooled, partitioned and split exactly like the
# same rows in a CSV file (same checksums), per-row ids drive --partition column:NAME,
# the results do not depend on the rank count, and `fedalign data` describes and
# exports it. The bad files and their messages are in test_bad_input.sh.
. "$(dirname "$0")/common.sh"
export OMP_NUM_THREADS=1
if ! /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  echo "SKIP: needs /usr/bin/python3 with h5py (Debian python3-h5py) to write the test files"
  exit 77
fi
/usr/bin/python3 - "$WORK" <<'PYEOF'
import sys, h5py, numpy as np
w = sys.argv[1]
rng = np.random.default_rng(11)
# tabular: 4 features, string labels; the same rows as a CSV (%.9g reads back exactly)
N = 480
y = rng.integers(0, 3, N)
names = np.array(["bearing", "gear", "ok"])
X = (rng.normal(size=(N, 4)) + y[:, None]).astype(np.float32)
with h5py.File(f"{w}/tab.h5", "w") as f:
    f["X"] = X
    f["X"].attrs["feature_names"] = np.array([b"f1", b"f2", b"f3", b"f4"])
    f["y"] = names[y].astype(h5py.string_dtype())
with open(f"{w}/tab.csv", "w") as f:
    f.write("f1,f2,f3,f4,label\n")
    for i in range(N):
        f.write(",".join("%.9g" % v for v in X[i]) + "," + names[y[i]] + "\n")
# raw windows: 64 steps x 2 channels, integer labels with names, a device per row
L, C = 64, 2
t = np.arange(L)
Xw = np.stack([np.sin(2 * np.pi * (1 + y[:, None]) * t / L), rng.normal(size=(N, L))], axis=2)
with h5py.File(f"{w}/win.h5", "w") as f:
    f["X"] = Xw.astype(np.float64)  # float64 is read as float32
    f["X"].attrs["channel_names"] = np.array([b"ax", b"ay"])
    f["y"] = y.astype(np.int16)
    f["y"].attrs["class_names"] = np.array([b"Normal", b"Inner", b"Outer"])
    f["device"] = (np.arange(N) % 5) * 10  # 5 sites: 0, 10, ..., 40
PYEOF
T=(--preset tiny --clients 4 --seed 3)

# 1. the same rows from h5 and from CSV: the same clients and the same checksums
"$FEDALIGN" data "${T[@]}" --dataset "h5:$WORK/tab.h5" --describe > "$WORK/d_h5.txt" 2>&1 || fail "describe h5: $(cat "$WORK/d_h5.txt")"
"$FEDALIGN" data "${T[@]}" --dataset "csv:$WORK/tab.csv" --describe > "$WORK/d_csv.txt" 2>&1 || fail "describe csv: $(cat "$WORK/d_csv.txt")"
grep -q '^# classes: k0=bearing k1=gear k2=ok' "$WORK/d_h5.txt" || fail "string labels: $(sed -n 2p "$WORK/d_h5.txt")"
cmp -s <(tail -n +2 "$WORK/d_h5.txt") <(tail -n +2 "$WORK/d_csv.txt") \
  && pass "h5 [N][D] with string labels: the same clients as the CSV of the same rows" \
  || fail "h5 and csv clients differ: $(diff "$WORK/d_h5.txt" "$WORK/d_csv.txt" | head -6)"
run() { # NAME NP ARGS...
  local name=$1 np=$2; shift 2
  mpirun_n "$np" "$FEDALIGN" run "${T[@]}" --method fedavg --rounds 2 --quiet --output "$WORK/$name.h5" "$@" \
    < /dev/null > "$WORK/$name.out" 2>&1 || fail "run $name exited $?: $(tail -2 "$WORK/$name.out")"
}
run csv 1 --dataset "csv:$WORK/tab.csv"
run tab1 1 --dataset "h5:$WORK/tab.h5"
[ -n "$(sums "$WORK/tab1.out")" ] && [ "$(sums "$WORK/tab1.out")" = "$(sums "$WORK/csv.out")" ] \
  && pass "h5 and csv of the same rows give the same checksums" || fail "h5/csv checksums: $(sums "$WORK/tab1.out") vs $(sums "$WORK/csv.out")"
grep -q 'dataset=h5' "$WORK/tab1.out" && pass "result line says dataset=h5" || fail "no dataset=h5 in the result line"

# 2. raw windows with a device column: one client per device, any rank count
W=(--dataset "h5:$WORK/win.h5" --partition column:device --clients 5)
"$FEDALIGN" data "${T[@]}" "${W[@]}" --describe > "$WORK/d_win.txt" 2>&1 || fail "describe windows: $(cat "$WORK/d_win.txt")"
grep -q '^# data: h5, 128 features, 3 classes' "$WORK/d_win.txt" && grep -q '^# raw windows: 64 time steps x 2 channels' "$WORK/d_win.txt" \
  && grep -q '^# classes: k0=Normal k1=Inner k2=Outer' "$WORK/d_win.txt" \
  && pass "h5 [N][L][C]: 64 x 2 windows, classes named by y.class_names" || fail "window describe: $(head -3 "$WORK/d_win.txt")"
tot=$(awk '$1 == "total" {print $5}' "$WORK/d_win.txt"); pub=$(grep -o 'public data: [0-9]*' "$WORK/d_win.txt" | awk '{print $3}')
[ "$(awk '$1 ~ /^[0-9]+$/' "$WORK/d_win.txt" | wc -l)" = 5 ] && [ "$((tot + pub))" = 480 ] \
  && pass "--partition column:device: 5 clients (one per device) holding every non-public row" || fail "device partition: $(cat "$WORK/d_win.txt")"
out=$("$FEDALIGN" data "${T[@]}" "${W[@]}" --clients 4 --describe 2>&1)
grep -q "5 distinct values but 4 clients" <<<"$out" && pass "--clients must equal the device count" || fail "4 clients over 5 devices: $out"
run win1 1 "${W[@]}"
run win3 3 "${W[@]}"
[ -n "$(sums "$WORK/win1.out")" ] && [ "$(sums "$WORK/win1.out")" = "$(sums "$WORK/win3.out")" ] \
  && pass "h5 windows: the same checksums at -n 1 and -n 3" || fail "window checksums differ across ranks"
[ "$(sums "$WORK/win1.out")" != "$(sums "$WORK/tab1.out")" ] || fail "different files gave the same checksums"

# 3. export: one column per window value
"$FEDALIGN" data "${T[@]}" "${W[@]}" --export "$WORK/exp" > /dev/null 2>&1 || fail "export failed"
head -1 "$WORK/exp/client_0.csv" 2>/dev/null | grep -q '^ax_t0,ay_t0,ax_t1,' && [ "$(head -1 "$WORK/exp/client_0.csv" | tr ',' '\n' | wc -l)" = 130 ] \
  && pass "export: 128 columns ax_t0,ay_t0,... then label and split" || fail "export header: $(head -c 80 "$WORK/exp/client_0.csv" 2>&1)"
finish
