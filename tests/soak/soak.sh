#!/usr/bin/env bash
# Soak test (label soak; not in tests/run.sh's default run): for SOAK_SECONDS (default 600),
# draw a random short run (preset tiny; run of one method or, now and then, a suite),
# random fault flags (dropout, stragglers with a deadline, an attack, clipping), run it
# once uninterrupted as the reference, then again with stop signals (SIGTERM or SIGUSR1,
# to every rank or to one, at a random time after setup) and resume it from its
# checkpoint, each segment at a random rank count (1-4) and thread count (1-2), until it
# completes. The completed run must give the reference's checksums (sums) and results
# file (same_h5, tests/e2e/common.sh). Prints the runs, resumes and mismatches; exit 1
# on any mismatch, unexpected exit code or hang (a launch over SOAK_HANG seconds, 300).
# A failing case is kept in SOAK_KEEP (default: a directory beside the build) with its
# commands. SOAK_SEED fixes the draws.
#   FEDALIGN=build/fedalign SOAK_SECONDS=600 bash tests/soak/soak.sh
. "$(dirname "$0")/../e2e/common.sh"
SECONDS_LEFT=${SOAK_SECONDS:-600}
HANG=${SOAK_HANG:-300}
KEEP=${SOAK_KEEP:-$(dirname "$FEDALIGN")/soak-failures}
RANDOM=${SOAK_SEED:-$$}
cd "$WORK"
runs=0 resumes=0 signals=0 mismatches=0 early=0

pick() { local a=("$@"); echo "${a[RANDOM % ${#a[@]}]}"; }

# a random configuration into ARGS
draw() {
  local cmd=run
  [ $((RANDOM % 8)) = 0 ] && cmd=suite
  ARGS="$cmd --preset tiny --seed $((RANDOM % 1000 + 1)) --rounds $((RANDOM % 20 + 5))"
  [ $cmd = run ] && ARGS="$ARGS --method $(pick fedmetaalign fedavg fedprox)"
  [ $cmd = suite ] && ARGS="$ARGS --rounds $((RANDOM % 6 + 3))" # 14 methods: keep it short
  [ $((RANDOM % 2)) = 0 ] && ARGS="$ARGS --dropout 0.$((RANDOM % 4 + 1))"
  [ $((RANDOM % 3)) = 0 ] && ARGS="$ARGS --speed-spread 0.6 --deadline 3 --late $(pick drop discount)"
  [ $((RANDOM % 2)) = 0 ] && ARGS="$ARGS --attack $(pick signflip scale noise nan):0.$((RANDOM % 3 + 1))"
  [ $((RANDOM % 3)) = 0 ] && ARGS="$ARGS --clip $(pick 0.5 2 5)"
  # not for suites: every checkpoint rewrites every completed method (minutes under load)
  [ $cmd = run ] && [ $((RANDOM % 3)) = 0 ] && ARGS="$ARGS --checkpoint-every $((RANDOM % 5 + 1))"
  return 0
}

# the rank processes of the mpiexec with process id $1
ranks_of() { pgrep -P "$1" -f "$(basename "$FEDALIGN")" 2>/dev/null; }

# segment N OUT [--resume CKPT]: one launch at N ranks and random threads; with
# probability 2/3 a stop signal after setup. Sets RC (124 = hang).
segment() {
  local n=$1 log=$2; shift 2
  OMP_NUM_THREADS=$((RANDOM % 2 + 1)) timeout -k 5 "$HANG" "$MPIEXEC" -n "$n" "$FEDALIGN" $ARGS --output s.h5 "$@" > "$log" 2>&1 &
  local pid=$!
  if [ $((RANDOM % 3)) != 0 ]; then
    local t=0
    while ! grep -q '^# setup' "$log" 2>/dev/null && kill -0 $pid 2>/dev/null && [ $t -lt 600 ]; do
      sleep 0.05; t=$((t + 1))
    done
    sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
    local mpi sig targets
    mpi=$(pgrep -P $pid -x "$(basename "$MPIEXEC")" 2>/dev/null || echo $pid)
    targets=$(ranks_of "$mpi")
    sig=$(pick TERM USR1)
    if [ -n "$targets" ]; then
      [ $((RANDOM % 2)) = 0 ] && targets=$(pick $targets)  # one rank only, or all of them
      for p in $targets; do kill -s "$sig" "$p" 2>/dev/null; done
      signals=$((signals + 1))
      echo "signal $sig to $(echo $targets | wc -w) rank(s)" >> history.txt
    fi
  fi
  wait $pid; RC=$?
}

keep_case() {
  mismatches=$((mismatches + 1))
  local d="$KEEP/case_$runs"
  mkdir -p "$d" && cp -r ./*.txt ./*.h5 ./*.ckpt "$d"/ 2>/dev/null
  echo "FAIL (run $runs): $1; args: $ARGS; kept in $d" >&2
}

t_end=$((SECONDS + SECONDS_LEFT))
while [ $SECONDS -lt $t_end ]; do
  rm -f ./*.h5 ./*.ckpt ./*.txt ./*.tmp*
  draw
  runs=$((runs + 1))
  echo "args: $ARGS" > history.txt
  OMP_NUM_THREADS=$((RANDOM % 2 + 1)) timeout -k 5 "$HANG" "$MPIEXEC" -n $((RANDOM % 4 + 1)) "$FEDALIGN" $ARGS --output ref.h5 > ref.txt 2>&1
  rc=$?
  [ $rc = 0 ] || { keep_case "reference exit $rc"; continue; }
  k=0 ok=1
  segment $((RANDOM % 4 + 1)) seg0.txt
  while [ "$RC" = 3 ]; do
    [ -f s.h5.ckpt ] || { keep_case "exit 3 without a checkpoint"; ok=0; break; }
    k=$((k + 1)); resumes=$((resumes + 1))
    segment $((RANDOM % 4 + 1)) "seg$k.txt" --resume s.h5.ckpt
    echo "segment $k exit $RC" >> history.txt
  done
  [ $ok = 1 ] || continue
  if [ "$RC" = 124 ] || [ "$RC" = 137 ]; then keep_case "hang (segment $k over ${HANG}s)"; continue; fi
  if [ "$RC" != 0 ]; then
    # a signal before the handlers are installed ends a rank by default: not a result
    if grep -q 'signal 1[05] (\|exited on signal\|Terminated\|User defined signal' "seg$k.txt" && [ ! -f s.h5 ]; then
      early=$((early + 1)); continue
    fi
    keep_case "segment $k exit $RC: $(grep 'fedalign:' "seg$k.txt" | head -2)"; continue
  fi
  # each launch prints the methods it completed: together they must be the reference's
  if [ "$(sums ref.txt | sort)" != "$(for ((j = 0; j <= k; j++)); do sums "seg$j.txt"; done | sort -u)" ] ||
     ! same_h5 ref.h5 s.h5 > same.txt 2>&1; then
    keep_case "results differ after $k resume(s)"; continue
  fi
  [ ! -e s.h5.ckpt ] || { keep_case "checkpoint left beside a complete result"; continue; }
done
echo "soak: ${SECONDS_LEFT}s, runs $runs, resumes $resumes, signals $signals, killed before setup $early, mismatches $mismatches"
[ $mismatches = 0 ] || exit 1
exit 0
