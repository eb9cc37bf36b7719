#!/usr/bin/env bash
# Integration test (CTest label slurm): a real single-node Slurm runs every jobs/*.sbatch.
#
# Starts munge + slurmctld + slurmd on localhost (tests/slurm/slurm_up.sh, which installs
# slurm-wlm and munge when missing), submits every jobs/*.sbatch with sbatch at tiny size
# (FA_PRESET=tiny, --ntasks=2 --ntasks-per-node=2, and small client, rank and seed lists), waits for them (scontrol show
# job, with a timeout), and checks that each job and array task ended COMPLETED with
# exit code 0:0, printed FEDALIGN_RESULT lines, and wrote its expected HDF5 results
# files, each valid (analysis/h5check.py with /usr/bin/python3 when h5py is there, else
# h5ls). Then it tests the requeue/resume path once: a longer strong-scaling job gets
# SIGUSR1 on its batch shell (scancel --signal=USR1 --batch) mid-run, the script forwards
# it, fedalign checkpoints and exits 3, the job requeues itself and its second start
# resumes with --resume; the resumed result must equal an uninterrupted run's checksum.
# Finally it stops the cluster again (unless it was already up when the test began).
# If Slurm cannot be started the test says why and fails.
#
# Environment: FEDALIGN (binary; CTest sets it), FA_SHARED_DATASETS (for the real CSV),
# FA_SLURM_TEST_TIMEOUT (seconds to wait for the jobs, default 600),
# FA_SLURM_TEST_RESUME (1 = run the resume check [default], 0 = skip it),
# FA_SLURM_TEST_H5 (strict = every expected results file must exist and be valid
# [default when `fedalign --help` lists --output]; lenient = validate the files that
# exist, warn about missing ones), FA_SLURM_TEST_KEEP=1 (keep the work folder).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FEDALIGN=${FEDALIGN:-$root/build/fedalign}
timeout_s=${FA_SLURM_TEST_TIMEOUT:-600}
export PATH=$PATH:/usr/sbin
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi

FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
die() { echo "FAIL: $*" >&2; exit 1; }

[ -x "$FEDALIGN" ] || die "FEDALIGN=$FEDALIGN is not an executable (build fedalign first)"
[ "$(id -u)" = 0 ] || die "the Slurm test must run as root (it starts munged, slurmctld and slurmd)"
command -v flock >/dev/null || die "flock (util-linux) not found"

# One Slurm test at a time on this machine (ports, the cluster folder).
exec 9>"${TMPDIR:-/tmp}/fedalign-slurm-test.lock"
flock -w 900 9 || die "another Slurm test held ${TMPDIR:-/tmp}/fedalign-slurm-test.lock for 15 minutes"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fa-slurm-test.XXXXXX")
chmod 755 "$WORK"
started=0
jobs_submitted=()
cleanup() {
  local rc=$?
  if [ ${#jobs_submitted[@]} -gt 0 ] && [ -n "${SLURM_CONF:-}" ]; then
    timeout 10 scancel "${jobs_submitted[@]}" 2>/dev/null || true
  fi
  if [ "$started" = 1 ]; then bash "$here/slurm_down.sh" || echo "WARNING: slurm_down.sh failed" >&2; fi
  if [ "$FAILS" -ne 0 ] || [ "$rc" -ne 0 ] || [ "${FA_SLURM_TEST_KEEP:-0}" = 1 ]; then
    echo "work folder kept: $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- Slurm up ------------------------------------------------------------------------
dir=${FA_SLURM_DIR:-/tmp/fedalign-slurm}
conf=$dir/etc/slurm.conf
if [ -f "$conf" ] && SLURM_CONF=$conf timeout 10 sinfo -h -o '%T' 2>/dev/null | grep -qE 'idle|mixed|allocated'; then
  echo "== Slurm already up ($conf): using it, leaving it up =="
else
  echo "== starting Slurm (tests/slurm/slurm_up.sh) =="
  started=1
  bash "$here/slurm_up.sh" || die "Slurm could not be started (slurm_up.sh output above says why)"
fi
export SLURM_CONF=$conf
sinfo -h -o '%T' | grep -qE 'idle|mixed|allocated' || die "Slurm is not usable: sinfo says '$(sinfo -h -o '%T' 2>&1)'"
pass "Slurm up: $(sinfo -h -N -o '%N %c CPUs %T')"

# ---- results-file checks ----------------------------------------------------------------
h5mode=${FA_SLURM_TEST_H5:-}
if [ -z "$h5mode" ]; then
  if "$FEDALIGN" --help 2>/dev/null | grep -q -- '--output'; then h5mode=strict; else h5mode=lenient; fi
fi
validator=none
if [ -f "$root/analysis/h5check.py" ] && /usr/bin/python3 -c 'import h5py' 2>/dev/null; then validator=h5check
elif command -v h5ls >/dev/null; then validator=h5ls; fi
echo "results files: $h5mode check, validator $validator"
check_h5() {  # check_h5 FILE WHAT
  local f=$1 what=$2
  if [ ! -f "$f" ]; then
    if [ "$h5mode" = strict ]; then fail "$what: results file $f missing"
    else echo "warning: $what: results file $f missing (lenient)"; fi
    return
  fi
  case $validator in
    h5check) if out=$(/usr/bin/python3 "$root/analysis/h5check.py" "$f" 2>&1); then pass "$what: $(basename "$f") valid (h5check)"
             else fail "$what: $f invalid: $out"; fi ;;
    h5ls) if h5ls "$f" >/dev/null 2>&1; then pass "$what: $(basename "$f") readable (h5ls)"
          else fail "$what: $f is not a readable HDF5 file"; fi ;;
    none) [ -s "$f" ] && pass "$what: $(basename "$f") exists (no validator)" || fail "$what: $f empty" ;;
  esac
  [ ! -e "$f.ckpt" ] || fail "$what: checkpoint $f.ckpt left behind after a finished run"
}

# ---- wait for jobs ------------------------------------------------------------------------
# job_states ID: one "JobId State ExitCode Restarts" line per job or array task
job_states() {
  scontrol show job -o "$1" 2>/dev/null | awk '{
    id=""; st=""; ec=""; rs="";
    for (i = 1; i <= NF; i++) {
      if ($i ~ /^JobId=/) id = substr($i, 7); else if ($i ~ /^JobState=/) st = substr($i, 10);
      else if ($i ~ /^ExitCode=/) ec = substr($i, 10); else if ($i ~ /^Restarts=/) rs = substr($i, 10);
    }
    print id, st, ec, rs }'
}
terminal='^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED|SPECIAL_EXIT)$'
wait_jobs() {  # wait_jobs SECONDS ID...: 0 when every job and task reached a final state
  local limit=$1 t=0 id all; shift
  while [ "$t" -lt "$limit" ]; do
    all=1
    for id in "$@"; do
      local lines; lines=$(job_states "$id")
      [ -n "$lines" ] || { all=0; continue; }
      while read -r _ st _ _; do [[ $st =~ $terminal ]] || all=0; done <<< "$lines"
    done
    [ "$all" = 1 ] && return 0
    sleep 2; t=$((t + 2))
  done
  return 1
}
show_log() { echo "---- $1 (last 30 lines) ----" >&2; tail -n 30 "$1" >&2 2>/dev/null; echo "----" >&2; }

# ---- submit every jobs/*.sbatch at tiny size -------------------------------------------
# CTest sets FA_SHARED_DATASETS to where the real data is (data/ first, tests/CMakeLists.txt)
csv=${FA_SHARED_DATASETS:-$root/data}/electrical_fault_kaggle/classData.csv
if [ -f "$csv" ]; then paper_ds=electrical,csv; else paper_ds=electrical,mechanical; echo "note: $csv not found; paper_compare uses built-in data only"; fi
declare -A jobid expect nres
export FA_BIN=$FEDALIGN FA_PRESET=tiny FA_CSV=$csv
shopt -s nullglob
scripts=("$root"/jobs/*.sbatch)
[ ${#scripts[@]} -gt 0 ] || die "no jobs/*.sbatch scripts found"
for s in "${scripts[@]}"; do
  name=$(basename "$s" .sbatch)
  out=$WORK/out/$name; mkdir -p "$out"
  # --ntasks-per-node: the multi-node scripts ask for 16 per node, more than this node has
  opts=(--parsable --ntasks=2 --ntasks-per-node=2 --time=00:10:00 --output="$WORK/log/$name-%A-%a.out")
  envs=(FA_OUT="$out")
  case $name in
    paper_compare)  envs+=(FA_DATASETS="$paper_ds" FA_SEEDS=1); opts+=(--array=0-1)
                    expect[$name]="paper_*/${paper_ds%%,*}_s1.h5 paper_*/${paper_ds##*,}_s1.h5"; nres[$name]=2 ;;
    strong_scaling) envs+=(FA_CLIENTS=4); expect[$name]="strong_*/r1.h5 strong_*/r2.h5"; nres[$name]=2 ;;
    weak_scaling)   envs+=(FA_CLIENTS_PER_RANK=2); expect[$name]="weak_*/c2_r1.h5 weak_*/c2_r2.h5"; nres[$name]=2 ;;
    hybrid_sweep)   envs+=(FA_CLIENTS=4 FA_NODE_CORES=2); expect[$name]="hybrid_*/r2_t1.h5 hybrid_*/r1_t2.h5"; nres[$name]=2 ;;
    client_sweep)   envs+=(FA_CLIENT_LIST="4 10" FA_ROUNDS=3 FA_SAMPLES=60); expect[$name]="sweep_*/c4.h5 sweep_*/c10.h5"; nres[$name]=2 ;;
    *)              expect[$name]=""; nres[$name]=1
                    echo "note: $name.sbatch is new to this test: submitted with FA_PRESET=tiny, --ntasks=2, generic checks" ;;
  esac
  mkdir -p "$WORK/log"
  if id=$(cd "$root" && env "${envs[@]}" sbatch "${opts[@]}" "$s" 2>"$WORK/sbatch-$name.err"); then
    id=${id%%;*}; jobid[$name]=$id; jobs_submitted+=("$id")
    echo "submitted $name.sbatch: job $id"
  else
    fail "sbatch $name.sbatch: $(cat "$WORK/sbatch-$name.err")"
  fi
done

echo "== waiting for ${#jobs_submitted[@]} jobs (at most $timeout_s s) =="
if [ ${#jobs_submitted[@]} -gt 0 ] && ! wait_jobs "$timeout_s" "${jobs_submitted[@]}"; then
  squeue >&2
  for f in "$WORK"/log/*.out; do show_log "$f"; done
  fail "jobs not finished after $timeout_s s"
fi

for name in "${!jobid[@]}"; do
  id=${jobid[$name]}
  while read -r jid st ec rs; do
    if [ "$st" = COMPLETED ] && [ "$ec" = 0:0 ]; then pass "$name job $jid: $st exit $ec"
    else fail "$name job $jid: state $st, exit code $ec"; fi
  done < <(job_states "$id")
  logs=("$WORK"/log/"$name"-"$id"-*.out)
  if [ ${#logs[@]} -eq 0 ]; then fail "$name: no job log $WORK/log/$name-$id-*.out"; continue; fi
  for log in "${logs[@]}"; do
    n=$(grep -c '^FEDALIGN_RESULT ' "$log")
    if [ "$n" -ge "${nres[$name]}" ]; then pass "$name: $(basename "$log") has $n FEDALIGN_RESULT lines"
    else fail "$name: $(basename "$log") has $n FEDALIGN_RESULT lines, expected at least ${nres[$name]}"; show_log "$log"; fi
  done
  read -r -a pats <<< "${expect[$name]}"   # read: no globbing of the patterns here
  for pat in "${pats[@]}"; do
    f=$(compgen -G "$WORK/out/$name/$pat" | head -n1)
    check_h5 "${f:-$WORK/out/$name/$pat}" "$name"
  done
  if [ -z "${expect[$name]}" ]; then
    while IFS= read -r f; do check_h5 "$f" "$name"; done < <(find "$WORK/out/$name" -name '*.h5')
  fi
done

# Scaling runs are bit-identical for any number of ranks: r1 and r2 must agree.
if [ -n "${jobid[strong_scaling]:-}" ]; then
  sums=$(grep -h '^FEDALIGN_RESULT ' "$WORK"/log/strong_scaling-*.out | grep -o ' checksum=[0-9a-f]*' | sort -u | wc -l)
  if [ "$sums" = 1 ]; then pass "strong_scaling: same checksum on 1 and 2 ranks"
  else fail "strong_scaling: checksums differ between rank counts ($sums distinct)"; fi
fi

# ---- requeue / resume ------------------------------------------------------------------
if [ "${FA_SLURM_TEST_RESUME:-1}" = 1 ]; then
  echo "== requeue/resume: SIGUSR1 to a running job, requeue, --resume =="
  rounds=${FA_SLURM_TEST_RESUME_ROUNDS:-10000} # ~10 s: still running 1 s after it starts
  out=$WORK/out/resume; mkdir -p "$out"
  log=$WORK/log/resume.out
  id=$(cd "$root" && env FA_OUT="$out" FA_CLIENTS=4 FA_RANKS=2 FA_ROUNDS="$rounds" \
       sbatch --parsable --ntasks=2 --ntasks-per-node=2 --time=00:10:00 --output="$log" "$root/jobs/strong_scaling.sbatch") \
    || die "sbatch for the resume check failed"
  id=${id%%;*}; jobs_submitted+=("$id")
  echo "submitted job $id ($rounds rounds)"
  t=0
  # the run has started once its output lock exists (runctl takes it before any work;
  # with --quiet the log shows nothing until the results)
  until compgen -G "$out/strong_*/r2.h5.lock" > /dev/null; do
    sleep 0.5; t=$((t + 1))
    [ "$t" -lt 240 ] || { show_log "$log"; die "resume job $id did not start within 120 s"; }
  done
  sleep 1
  scancel --signal=USR1 --batch "$id" || fail "scancel --signal=USR1 --batch $id failed"
  echo "sent SIGUSR1 to the batch shell of job $id"
  # slurm_up.sh sets cred_expire=20: the requeued job may start again about 20 s later
  # (releasing it earlier races with the node's cleanup: "Job credential revoked")
  t=0
  while [ "$t" -lt 300 ]; do
    read -r _ st ec rs <<< "$(job_states "$id" | head -n1)"
    [[ $st =~ $terminal ]] && break
    sleep 1; t=$((t + 1))
  done
  read -r _ st ec rs <<< "$(job_states "$id" | head -n1)"
  if [ "$st" = COMPLETED ] && [ "$ec" = 0:0 ]; then pass "resume job $id: COMPLETED exit 0:0"
  else fail "resume job $id: state $st exit $ec"; fi
  if [ "${rs:-0}" -ge 1 ]; then pass "resume job $id was requeued (Restarts=$rs)"
  else fail "resume job $id was not requeued (Restarts=${rs:-?}); did the run finish before the signal? raise FA_SLURM_TEST_RESUME_ROUNDS"; fi
  grep -q 'forwarding SIGUSR1' "$log" && pass "the batch script forwarded SIGUSR1" || fail "no 'forwarding SIGUSR1' in $log"
  grep -q '^# stopped' "$log" && pass "fedalign checkpointed and stopped" || fail "no '# stopped' line from fedalign in $log"
  grep -q 'requeueing job' "$log" && pass "the script requeued the job" || fail "no 'requeueing job' in $log"
  grep -q -- 'resuming from .*r2.h5.ckpt' "$log" && grep -q '^# resumed from' "$log" \
    && pass "the second start passed --resume and fedalign resumed" || fail "no resume in $log"
  n=$(grep -c '^FEDALIGN_RESULT ' "$log")
  [ "$n" = 1 ] && pass "one FEDALIGN_RESULT line after the resume" || fail "$n FEDALIGN_RESULT lines in $log, expected 1"
  check_h5 "$(compgen -G "$out/strong_*/r2.h5" | head -n1)" resume
  # the resumed run must give the uninterrupted run's result, bit for bit
  got=$(grep -h '^FEDALIGN_RESULT ' "$log" | grep -o ' checksum=[0-9a-f]*' | head -n1)
  ref=$(mpirun --oversubscribe -n 2 "$FEDALIGN" run --method fedmetaalign --preset tiny --dataset electrical \
          --clients 4 --rounds "$rounds" --quiet --output "$WORK/ref.h5" 2>"$WORK/ref.err" \
        | grep -h '^FEDALIGN_RESULT ' | grep -o ' checksum=[0-9a-f]*' | head -n1)
  if [ -n "$got" ] && [ "$got" = "$ref" ]; then pass "resumed result equals the uninterrupted run ($got)"
  else fail "resumed checksum '$got' differs from the uninterrupted run's '$ref'"; fi
  [ "$FAILS" = 0 ] || show_log "$log"
else
  echo "note: requeue/resume check skipped (FA_SLURM_TEST_RESUME=0)"
fi

if [ "$FAILS" -ne 0 ]; then echo "$FAILS check(s) failed" >&2; exit 1; fi
echo "all checks passed"
