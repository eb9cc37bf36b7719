#!/usr/bin/env bash
# Rank failure (issue 7, item 3): one rank of a 3-rank run is killed with SIGKILL
# after the run has written checkpoints. Then:
#   - the whole job ends within FA_RANK_FAIL_LIMIT seconds (default 15) with a
#     non-zero exit and a message naming the failure (no hang, no orphan ranks);
#   - nothing is left at the final output name;
#   - resuming from the last checkpoint with the same command ends with the same
#     checksums (and the same per-round and per-client data) as an uninterrupted run.
# The kill is done three times: a worker rank (rank 1); rank 0 (the server); rank 2
# with a checkpoint written every round, so that the kill lands during a write.
# Timing: the run takes several seconds on 2 cores; the waits below are generous.
. "$(dirname "$0")/common.sh"
PY=/usr/bin/python3
LIMIT=${FA_RANK_FAIL_LIMIT:-15}
export OMP_NUM_THREADS=1
cd "$WORK"
CMD=(run --preset small --rounds 600 --checkpoint-every 20 --quiet)
have_h5py() { "$PY" -c 'import h5py, numpy' 2>/dev/null; }

# the uninterrupted reference
"$MPIEXEC" -n 3 "$FEDALIGN" "${CMD[@]}" --output ref.h5 > ref.txt 2>&1 || fail "reference run failed: $(tail -5 ref.txt)"
sums ref.txt > ref.sums
[ -s ref.sums ] || fail "reference run printed no FEDALIGN_RESULT"

# kill_rank RANK NAME [FLAGS...]: start the run (plus FLAGS, which must not change the
# results), wait for its third checkpoint, SIGKILL that rank, check, resume, compare
kill_rank() {
  local victim_rank=$1 name=$2; shift 2
  local extra=("$@")
  local out=$name.h5 ckpt=$name.h5.ckpt log=$name.txt
  rm -f "$out" "$ckpt" "$out.tmp" "$ckpt.tmp"
  "$MPIEXEC" -n 3 "$FEDALIGN" "${CMD[@]}" "${extra[@]}" --output "$out" > "$log" 2>&1 &
  local mp=$! seen=0 last="" now i
  # a checkpoint is renamed into place: count the distinct change times (ns) of the
  # file and wait for 3 (after phase 0, after phase 1, one in phase 2), at most 120 s
  for i in $(seq 1200); do
    now=$(stat -c '%i %z' "$ckpt" 2>/dev/null) && [ "$now" != "$last" ] && { seen=$((seen + 1)); last=$now; }
    [ $seen -ge 3 ] && break
    kill -0 $mp 2>/dev/null || break
    sleep 0.1
  done
  if ! kill -0 $mp 2>/dev/null; then
    wait $mp; fail "$name: the run ended (exit $?) before it could be killed ($seen checkpoints seen)"; return 1
  fi
  if [ $seen -lt 3 ]; then
    fail "$name: fewer than 3 checkpoints in 120 s"; kill -9 $mp $(pgrep -P $mp) 2>/dev/null; wait $mp; return 1
  fi
  # the rank processes are mpiexec's children; Open MPI puts the rank in their environment
  local pids victim="" p
  pids=$(pgrep -P $mp)
  for p in $pids; do
    tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$victim_rank" && victim=$p
  done
  if [ -z "$victim" ]; then
    fail "$name: no process of rank $victim_rank among mpiexec's children ($pids)"; kill -9 $mp $pids 2>/dev/null; wait $mp; return 1
  fi
  local t0=$SECONDS
  kill -9 "$victim"
  local ended=0
  for i in $(seq $((LIMIT * 10))); do
    kill -0 $mp 2>/dev/null || { ended=1; break; }
    sleep 0.1
  done
  if [ $ended = 0 ]; then
    fail "$name: job still running ${LIMIT} s after rank $victim_rank was killed (hang)"
    kill -9 $mp $pids 2>/dev/null; wait $mp; return 1
  fi
  wait $mp; local rc=$?
  local took=$((SECONDS - t0))
  [ $rc != 0 ] || fail "$name: exit 0 after rank $victim_rank was killed"
  if grep -qiE "rank $victim_rank .*(signal 9|killed)|exited on signal|MPI_ABORT|fedalign: (rank [0-9]+|error)" "$log"; then :
  else fail "$name: no message about the failure: $(tail -5 "$log")"; fi
  sleep 1   # let the other ranks' exits be reaped before looking for them
  for p in $pids; do
    [ "$p" = "$victim" ] && continue
    if kill -0 "$p" 2>/dev/null && grep -q fedalign /proc/$p/cmdline 2>/dev/null; then
      fail "$name: rank process $p still alive after mpiexec ended"; kill -9 "$p"
    fi
  done
  [ ! -e "$out" ] || fail "$name: a file was left at the final output name $out"
  [ -f "$ckpt" ] || { fail "$name: the checkpoint $ckpt is gone"; return 1; }
  pass "$name: rank $victim_rank killed -> job ended in ~${took} s, exit $rc, message, no output file"

  # resume from the last checkpoint: same result as the uninterrupted run
  "$MPIEXEC" -n 3 "$FEDALIGN" "${CMD[@]}" "${extra[@]}" --output "$out" --resume "$ckpt" > "$name.resume.txt" 2>&1 ||
    { fail "$name: resume failed: $(grep -m3 "fedalign" "$name.resume.txt")"; return 1; }
  local where
  where=$(grep -o 'resumed from .*' "$name.resume.txt")
  sums "$name.resume.txt" > "$name.sums"
  if ! diff -q ref.sums "$name.sums" > /dev/null; then
    fail "$name: resumed run differs from the uninterrupted one ($where)"; diff ref.sums "$name.sums" >&2; return 1
  fi
  if have_h5py; then
    same_h5 ref.h5 "$out" || { fail "$name: resumed results file differs"; return 1; }
  fi
  [ ! -e "$ckpt" ] || fail "$name: checkpoint not removed after the resumed run completed"
  pass "$name: resume ($where) gives the uninterrupted run's checksums$(have_h5py && echo ' and results file')"
}

kill_rank 1 worker
kill_rank 0 server
# a checkpoint every round: the kill most likely lands while one is being written
# (a .ckpt.tmp may be left); the previous checkpoint must still be complete
kill_rank 2 mid_write --checkpoint-every 1
finish
