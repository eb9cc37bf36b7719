#!/usr/bin/env bash
# --model cnn1d end to end (docs/algorithm.md, "cnn1d"), on raw windows of 32 steps x 2
# channels in an HDF5 file written here (X[N][32][2]: class-dependent sinusoids plus noise;
# read through --dataset h5:PATH), and on the mechanical generator's raw windows
# (--dataset mechanical --input raw):
#  - bit-identical checksums at -n 1/2/3 x OMP_NUM_THREADS 1/2 (threads over the batch too),
#    on both sources;
#  - every method family runs with cnn1d (suite --methods all), and a staged run resumed
#    from its checkpoint gives the uninterrupted run's bits;
#  - the flags reach their use: --conv and --pool move the cnn1d checksums; --model picks
#    the model; --conv/--pool leave an MLP run's checksums alone;
#  - phase 3's int8 accuracy of the cnn1d is close to its float accuracy; a cnn1d run's
#    results export as the int8 C pair;
#  - bad input: cnn1d on tabular data, a window too short for the blocks and a bad --conv
#    list are one clear message and exit 2 on every rank.
. "$(dirname "$0")/common.sh"
if ! /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  echo "SKIP: needs /usr/bin/python3 with h5py (Debian python3-h5py) to write the window file"
  exit 77
fi
win=$WORK/windows.h5
tab=$WORK/tabular.h5
/usr/bin/python3 - "$win" "$tab" <<'PYEOF'
import sys, h5py, numpy as np
rng = np.random.default_rng(7)
N, T, C = 800, 32, 2
y = np.arange(N) % 4
f = 0.15 + 0.25 * y
ph = 6.283 * rng.random(N)
t, c = np.arange(T)[None, :, None], np.arange(C)[None, None, :]
X = (c + 1) * np.sin(f[:, None, None] * t + ph[:, None, None] + c) + 0.4 * (rng.random((N, T, C)) - 0.5) + c
with h5py.File(sys.argv[1], "w") as h:
    h["X"] = X.astype(np.float32)
    h["y"] = y.astype(np.int32)
with h5py.File(sys.argv[2], "w") as h:  # the same rows as 64 tabular features
    h["X"] = X.reshape(N, T * C).astype(np.float32)
    h["y"] = y.astype(np.int32)
PYEOF
base=(--dataset "h5:$win" --preset tiny --clients 6 --quiet)
cnn=("${base[@]}" --model cnn1d --conv 6:5,8:3)
mech=(--dataset mechanical --input raw --window 128 --preset tiny --rounds 2 --quiet --model cnn1d --conv 4:5,6:3)

sig() { grep -o 'method=[^ ]*\|checksum=[^ ]*\|checksum_personal=[^ ]*' "$1" | paste -d' ' - - -; }
run() { # ranks threads args... -> prints the result signature (output kept in $WORK/r*.txt)
  local n=$1 t=$2 out; shift 2
  out=$(mktemp -u -p "$WORK" rXXXXXX)
  echo "$out.txt" > "$WORK/last_run" # the caller's subshell cannot return it otherwise
  OMP_NUM_THREADS=$t mpirun_n "$n" "$FEDALIGN" run "$@" --output "$out.h5" < /dev/null > "$out.txt" 2>&1 \
    || { fail "run -n $n t $t $* exited non-zero"; tail -3 "$out.txt" >&2; }
  sig "$out.txt"
}

# reproducibility matrix (--client-batch: the group kernel is the mlp's; a cnn1d trains per
# client whatever it says, so on and off give the same bits)
ref=$(run 1 1 "${cnn[@]}")
ref_out=$(cat "$WORK/last_run")
[ -n "$ref" ] || fail "cnn1d run printed no result"
for cfg in "2 1" "3 1" "1 2" "2 2" "3 2" "1 2 --threads-over batch" "2 1 --client-batch off" "1 1 --client-batch on"; do
  set -- $cfg
  s=$(run "$1" "$2" "${cnn[@]}" "${@:3}")
  if [ "$s" = "$ref" ]; then pass "cnn1d -n $1 OMP_NUM_THREADS=$2 ${*:3}: checksums identical"
  else fail "cnn1d -n $1 OMP_NUM_THREADS=$2 ${*:3}: '$s' vs '$ref'"; fi
done
# the mechanical generator's raw windows (one channel)
mref=$(run 1 1 "${mech[@]}")
[ -n "$mref" ] || fail "cnn1d on mechanical raw windows printed no result"
for cfg in "2 1" "3 2"; do
  set -- $cfg
  s=$(run "$1" "$2" "${mech[@]}")
  [ "$s" = "$mref" ] && pass "cnn1d mechanical raw -n $1 OMP_NUM_THREADS=$2: checksums identical" \
    || fail "cnn1d mechanical raw -n $1 OMP_NUM_THREADS=$2: '$s' vs '$mref'"
done

# the flags reach their use, and only where they apply
mlp=$(run 2 1 "${base[@]}")
mlp2=$(run 2 1 "${base[@]}" --model mlp --conv 4:3 --pool 3)
[ "$mlp" = "$mlp2" ] && pass "--conv/--pool leave the mlp alone" || fail "mlp moved: '$mlp' vs '$mlp2'"
[ "$mlp" != "$ref" ] && pass "--model cnn1d differs from mlp" || fail "--model cnn1d gave the mlp's bits"
for extra in "--conv 6:3,8:3" "--conv 6:5,9:3" "--pool 1" "--pool 3" "--hidden 16"; do
  s=$(run 2 1 "${cnn[@]}" $extra)
  [ -n "$s" ] && [ "$s" != "$ref" ] && pass "cnn1d $extra moves the checksums" || fail "cnn1d $extra: '$s'"
done
# the int8 cnn1d (quant_cnn.c) in phase 3: its accuracy is a number close to the float one
line=$(grep '^FEDALIGN_RESULT' "$ref_out" | head -1)
a8=$(echo "$line" | grep -o ' acc_int8_mean=[^ ]*' | cut -d= -f2)
d8=$(echo "$line" | grep -o ' int8_drop_mean=[^ ]*' | cut -d= -f2)
awk -v a="$a8" -v d="$d8" 'BEGIN { exit !(a + 0 > 0.5 && d + 0 < 0.05 && d + 0 > -0.05) }' \
  && pass "cnn1d int8 accuracy $a8 (drop $d8)" || fail "cnn1d int8 accuracy '$a8', drop '$d8'"

# staged run: stop after round 2 at -n 2, resume at -n 3 with 2 threads, the same bits as the whole run
OMP_NUM_THREADS=1 mpirun_n 2 "$FEDALIGN" run "${cnn[@]}" --stop-after-round 2 --output "$WORK/st.h5" \
  < /dev/null > "$WORK/st1.txt" 2>&1
rc=$?
[ "$rc" = 3 ] || fail "staged cnn1d run (stop): exit $rc, not 3 (stopped on purpose)"
OMP_NUM_THREADS=2 mpirun_n 3 "$FEDALIGN" run "${cnn[@]}" --resume "$WORK/st.h5.ckpt" --output "$WORK/st.h5" \
  --overwrite < /dev/null > "$WORK/st2.txt" 2>&1 || fail "staged cnn1d run (resume) exited non-zero"
[ "$(sig "$WORK/st2.txt")" = "$ref" ] && pass "cnn1d resumed run equals the whole run" \
  || fail "cnn1d resume: '$(sig "$WORK/st2.txt")' vs '$ref'"

# the int8 C export of this cnn1d run (its exactness: tests/e2e/test_export_cnn.sh): the
# results file names the data, the export rebuilds the windows and writes the pair
"$FEDALIGN" run "${cnn[@]}" --save-models --output "$WORK/sm.h5" < /dev/null > "$WORK/sm.txt" 2>&1 \
  || fail "cnn1d run with --save-models exited non-zero"
"$FEDALIGN" export --results "$WORK/sm.h5" --client 0 --out "$WORK/exp" --bench-reps 0 > "$WORK/exp.txt" 2>&1
rc=$?
[ "$rc" = 0 ] && grep -q '^FEDALIGN_EXPORT .*model=cnn1d' "$WORK/exp.txt" && [ -s "$WORK/exp/model.c" ] \
  && pass "export of a cnn1d run: model.h/model.c written" || { fail "export of a cnn1d run: exit $rc"; cat "$WORK/exp.txt" >&2; }

# every method family runs on the cnn1d layout (robust rules, server optimizers, SCAFFOLD,
# Ditto, FedPer's head split, Per-FedAvg)
methods() { grep '^FEDALIGN_RESULT' | grep -o ' method=[^ ]*' | tr '\n' ' '; }
nm=$(OMP_NUM_THREADS=1 mpirun_n 2 "$FEDALIGN" suite --methods all "${cnn[@]}" --output "$WORK/all.h5" \
  < /dev/null 2> "$WORK/all.err" | methods)
want=$(OMP_NUM_THREADS=1 mpirun_n 2 "$FEDALIGN" suite --methods all "${base[@]}" --output "$WORK/allm.h5" \
  < /dev/null 2>/dev/null | methods)
[ "$(echo $nm | wc -w)" -ge 20 ] && [ "$nm" = "$want" ] && pass "suite --methods all with cnn1d: $(echo $nm | wc -w) methods, the mlp's" \
  || { fail "suite --methods all with cnn1d: '$nm' vs the mlp's '$want'"; tail -3 "$WORK/all.err" >&2; }

# bad input: exit 2 with one clear message, on every rank
bad() { # what pattern args...
  local what=$1 pat=$2; shift 2
  "$MPIEXEC" -n 2 "$FEDALIGN" run "$@" --output "$WORK/bad.h5" < /dev/null > "$WORK/bad.txt" 2>&1
  local rc=$?
  [ "$rc" = 2 ] && grep -q -e "$pat" "$WORK/bad.txt" && pass "$what: exit 2, '$pat'" \
    || { fail "$what: exit $rc"; tail -3 "$WORK/bad.txt" >&2; }
  [ ! -e "$WORK/bad.h5" ] || fail "$what left a results file"
}
bad "cnn1d on tabular data" "needs raw-window data" --dataset "h5:$tab" --preset tiny --clients 6 --model cnn1d
bad "electrical features" "needs raw-window data" --preset tiny --model cnn1d
bad "window too short" "too short" "${base[@]}" --model cnn1d --conv 8:20,8:6
bad "bad --conv" "--conv: expected" "${base[@]}" --model cnn1d --conv 8x3
bad "conv beyond the int8 bound" "more than the int8 model" "${base[@]}" --model cnn1d --conv 4096:3,8:9
finish
