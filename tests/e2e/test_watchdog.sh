#!/usr/bin/env bash
# The watchdog (--watchdog SECONDS, issue 14): a rank that freezes (SIGSTOP) in phase 2
# ends the job within about the watchdog time, with one message naming the silent rank,
# exit 1, instead of a hang until the Slurm time limit; the checkpoint of the last good
# round resumes to the same result as an uninterrupted run. Also: --watchdog 0 is a
# plain barrier (same checksums), and a bad value is refused.
. "$(dirname "$0")/common.sh"

args=(run --method fedavg --preset small --clients 4 --quiet --no-int8)
ref=$WORK/ref.h5
OMP_NUM_THREADS=1 mpirun_n 2 "$FEDALIGN" "${args[@]}" --rounds 12 --output "$ref" > "$WORK/ref.txt" \
  || fail "reference run failed"

# rank 1 freezes at the start of round 6 (test hook: it sends itself SIGSTOP there), after
# the checkpoint of round 5; the job must end by itself
out=$WORK/o.h5
t0=$(date +%s.%N)
FEDALIGN_TEST_FREEZE=1:6 OMP_NUM_THREADS=1 timeout 120 "$MPIEXEC" -n 2 "$FEDALIGN" "${args[@]}" \
  --rounds 12 --watchdog 3 --checkpoint-every 1 --output "$out" > "$WORK/wd.txt" 2> "$WORK/wd.err"
rc=$?
t1=$(date +%s.%N)
pkill -CONT -f "fedalign run --method fedavg --preset small" 2>/dev/null
el=$(echo "$t1 - $t0" | bc)
[ "$rc" = 1 ] && pass "frozen rank: exit 1" || { fail "frozen rank: exit $rc (124 = hang)"; cat "$WORK/wd.err" >&2; }
grep -q "watchdog: rank(s) 1 (1 of 2) did not reach the start of round 6 within 3 s" "$WORK/wd.err" \
  && pass "message names rank 1 and round 6" || { fail "no watchdog message naming rank 1"; cat "$WORK/wd.err" >&2; }
[ "$(echo "$el < 40" | bc)" = 1 ] && pass "ended in ${el}s (watchdog 3 s)" || fail "took ${el}s"
[ -e "$out" ] && fail "a results file was written by the failed run"

# the last checkpoint resumes; with --rounds 12 the result equals the uninterrupted run
if [ -e "$out.ckpt" ]; then
  OMP_NUM_THREADS=1 mpirun_n 2 "$FEDALIGN" "${args[@]}" --rounds 12 --resume "$out.ckpt" --output "$WORK/r.h5" \
      > "$WORK/r.txt" 2>&1 || { fail "resume failed"; cat "$WORK/r.txt" >&2; }
  [ "$(sums "$WORK/r.txt")" = "$(sums "$WORK/ref.txt")" ] && pass "resume from the watchdog's checkpoint: same checksums" \
    || fail "resume differs: $(sums "$WORK/r.txt") vs $(sums "$WORK/ref.txt")"
else
  fail "no checkpoint left"
fi

# --watchdog 0 is a plain barrier: same bits
OMP_NUM_THREADS=1 mpirun_n 2 "$FEDALIGN" "${args[@]}" --rounds 12 --watchdog 0 --output "$WORK/w0.h5" > "$WORK/w0.txt" \
  || fail "--watchdog 0 run failed"
[ "$(sums "$WORK/w0.txt")" = "$(sums "$WORK/ref.txt")" ] && pass "--watchdog 0: same checksums" || fail "--watchdog 0 changed results"
"$FEDALIGN" run --preset tiny --watchdog -1 --output "$WORK/bad.h5" > /dev/null 2> "$WORK/bad.err"; rc=$?
[ "$rc" = 2 ] && grep -q -- "--watchdog" "$WORK/bad.err" && pass "--watchdog -1 refused" || fail "--watchdog -1: exit $rc"
finish
