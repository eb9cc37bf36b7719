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

# ---------------------------------------------------------------------------
# item 7: non-regular outputs are refused; a symlink at a temporary name is not followed
mkfifo fifo.h5
expect_fail 2 "is not a regular file" fifo.txt -- $T --output fifo.h5 --overwrite &&
  [ -p fifo.h5 ] && pass "FIFO as --output refused, left alone"
echo precious > target.txt
ln -s target.txt s.h5.tmp
ln -s target.txt s.h5.ckpt.tmp
mpirun_n 2 "$FEDALIGN" $T --output s.h5 --checkpoint-every 1 > s.txt 2>&1 || fail "run beside planted symlinks failed"
[ "$(cat target.txt)" = precious ] && [ -f s.h5 ] && pass "symlinks at .tmp names not followed" || fail "symlink target overwritten"

# item 4: two concurrent runs to one output: one wins, the other fails clearly
rm -f two.h5*
timeout $LIMIT "$MPIEXEC" -n 1 "$FEDALIGN" $T --rounds 5000 --output two.h5 > two1.txt 2>&1 & p1=$!
for _ in $(seq 100); do [ -e two.h5.lock ] && break; sleep 0.1; done
timeout $LIMIT "$MPIEXEC" -n 1 "$FEDALIGN" $T --rounds 5000 --output two.h5 > two2.txt 2>&1; rc2=$?
wait $p1; rc1=$?
if [ $rc1 = 0 ] && [ $rc2 = 2 ] && grep -q "is in use by another run" two2.txt &&
   $PY -c "import h5py,sys; f=h5py.File('two.h5','r'); sys.exit(0 if len(f['methods']) == 1 else 1)"; then
  pass "concurrent runs: first succeeds, second refused, file complete"
else fail "concurrent runs: rc $rc1 / $rc2"; tail -3 two2.txt >&2; fi
[ ! -e two.h5.lock ] || fail "lock file left after a complete run"
# a stale lock (a dead process on this host) is taken over with a note
echo "999999999 $(hostname)" > st.h5.lock
mpirun_n 2 "$FEDALIGN" $T --output st.h5 > st.txt 2>&1 && grep -q "stale lock file 'st.h5.lock'" st.txt &&
  pass "stale lock taken over with a note" || fail "stale lock not handled"
# a file that appears at the output name during the run is not replaced
rm -f ap.h5*
timeout $LIMIT "$MPIEXEC" -n 1 "$FEDALIGN" $T --rounds 5000 --output ap.h5 > ap.txt 2>&1 & p1=$!
for _ in $(seq 100); do [ -e ap.h5.lock ] && break; sleep 0.1; done
echo other > ap.h5
wait $p1; rc=$?
[ $rc = 1 ] && [ "$(cat ap.h5)" = other ] && grep -q "appeared while this run was writing" ap.txt &&
  pass "output that appeared meanwhile kept, exit 1" || fail "appeared output: rc $rc"

# item 2: a full disk ends the run (exit 1, message, no hang); the old checkpoint resumes
MNT=$WORK/mnt; mkdir -p "$MNT"
if mount -t tmpfs -o size=1m tmpfs "$MNT" 2>/dev/null; then
  mpirun_n 2 "$FEDALIGN" $T --output "$MNT/d.h5" --stop-after-round 2 > d1.txt 2>&1
  [ -f "$MNT/d.h5.ckpt" ] || fail "disk-full: no first checkpoint"
  cp "$MNT/d.h5.ckpt" keep.ckpt
  avail=$(df -k --output=avail "$MNT" | tail -1)
  dd if=/dev/zero of="$MNT/fill" bs=1k count=$((avail - 12)) 2>/dev/null
  timeout $LIMIT "$MPIEXEC" -n 2 "$FEDALIGN" $T --output "$MNT/d.h5" --resume "$MNT/d.h5.ckpt" --checkpoint-every 1 > d2.txt 2>&1; rc=$?
  if [ $rc = 1 ] && grep -q "$MNT/d.h5" d2.txt && grep -q "available\|bytes free" d2.txt; then
    pass "full disk: exit 1 with a message naming the path and the space"
  else fail "full disk: exit $rc"; tail -5 d2.txt >&2; fi
  ls "$MNT" | grep -q tmp && fail "full disk left a temporary file: $(ls $MNT)"
  cmp -s keep.ckpt "$MNT/d.h5.ckpt" || fail "full disk changed the previous checkpoint"
  rm -f "$MNT/fill"
  mpirun_n 2 "$FEDALIGN" $T --output "$MNT/d.h5" --resume "$MNT/d.h5.ckpt" > d3.txt 2>&1 || fail "resume after the full disk failed"
  sums d3.txt > d.sums
  diff -q ref.sums d.sums >/dev/null && pass "previous checkpoint resumes identically" || fail "resume after full disk differs"
  umount "$MNT"
else
  echo "skip: full-disk case needs 'mount -t tmpfs' (not permitted here)"
fi

finish
