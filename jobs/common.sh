# jobs/common.sh: the part every jobs/*.sbatch shares; sourced, never run.
#
# Gives: the environment (strict mode, OpenMP binding, Open MPI's root opt-in), the
# fedalign binary (FA_BIN, else build/fedalign; FA_BUILD=1 builds it when missing), the
# results folder, the launcher choice (srun with core binding or the mpirun fallback),
# the placement helpers for multi-node and hybrid runs, and the signal-driven
# checkpoint/requeue step runner fa_step.
# Overrides (environment): FA_BIN (fedalign binary), FA_OUT (results folder), FA_LAUNCH
# (srun|mpirun|auto), FA_EXTRA (further fedalign flags, word-split), FA_BUILD (1 = build
# a missing binary with CMake), FA_RPN (ranks per node; default the allocation's).
# Under Slurm the working folder is the submit folder (the repository root); a script
# sources this file as "${SLURM_SUBMIT_DIR:-$PWD}/jobs/common.sh" (sbatch runs a copy of
# the script from Slurm's spool folder, so the script's own path does not lead here).
set -uo pipefail
FA_ROOT=${FA_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}
FA_BIN=${FA_BIN:-$FA_ROOT/build/fedalign}
FA_OUT=${FA_OUT:-$FA_ROOT/results}
FA_LAUNCH=${FA_LAUNCH:-auto}
read -r -a FA_EXTRA_ARGS <<< "${FA_EXTRA:-}"
# One thread per core, threads next to their rank's core: fedalign's hybrid runs
# (ranks x threads) are only comparable when every thread has its own core.
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1} OMP_PLACES=${OMP_PLACES:-cores}
export OMP_PROC_BIND=${OMP_PROC_BIND:-close}
# Open MPI refuses root without this opt-in (containers, CI).
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
fa_log() { echo "job $(date -u +%H:%M:%S): $*"; }

if [ ! -x "$FA_BIN" ] && [ "${FA_BUILD:-0}" = 1 ]; then
  fa_log "building $FA_BIN (FA_BUILD=1)"
  { cmake -S "$FA_ROOT" -B "$FA_ROOT/build" -DCMAKE_BUILD_TYPE=Release >/dev/null \
      && cmake --build "$FA_ROOT/build" -j "${SLURM_CPUS_ON_NODE:-2}" >/dev/null; } \
    || { echo "job: building fedalign in $FA_ROOT/build failed" >&2; exit 2; }
fi
[ -x "$FA_BIN" ] || { echo "job: FA_BIN=$FA_BIN is not an executable fedalign (build it, set FA_BIN, or FA_BUILD=1)" >&2; exit 2; }
mkdir -p "$FA_OUT" || exit 1

# Launcher (FA_LAUNCH=auto): srun --mpi=pmix when Slurm binds tasks to cores (TaskPlugin
# other than task/none) and has the pmix plugin; otherwise mpirun, which reads the
# allocation from Slurm's environment and binds each rank to its cores itself. Under
# task/none (the local test cluster: no cgroups) srun leaves ranks unbound and
# OMP_PROC_BIND=close then pins every rank's threads to the same first core; mpirun
# does not have that problem. srun --mpi=pmix works with Debian's Open MPI 4.1.4 and
# slurm-wlm 22.05 (--mpi=pmi2 does not).
if [ "$FA_LAUNCH" = auto ]; then
  FA_LAUNCH=mpirun
  if [ -n "${SLURM_JOB_ID:-}" ] && srun --mpi=list 2>&1 | grep -qw pmix \
     && ! scontrol show config 2>/dev/null | grep -E '^TaskPlugin ' | grep -q 'task/none'; then
    FA_LAUNCH=srun
  fi
fi
case $FA_LAUNCH in
  srun|mpirun) ;;
  *) echo "job: FA_LAUNCH must be srun, mpirun or auto, not '$FA_LAUNCH'" >&2; exit 2 ;;
esac

# ---- placement: nodes, ranks per node, cores per node ----------------------------------
FA_NODES=${SLURM_JOB_NUM_NODES:-1}
# cores of one node this job may use: Slurm's count for this node (the whole node under
# --exclusive), else this machine's (nproc counts OMP_NUM_THREADS, hence env -u)
FA_NODE_CORES=${FA_NODE_CORES:-${SLURM_CPUS_ON_NODE:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)}}
# ranks per node: FA_RPN, else --ntasks-per-node, else the allocation's tasks spread evenly
if [ -z "${FA_RPN:-}" ]; then
  if [ -n "${SLURM_NTASKS_PER_NODE:-}" ]; then FA_RPN=$SLURM_NTASKS_PER_NODE
  else FA_RPN=$(( (${SLURM_NTASKS:-2} + FA_NODES - 1) / FA_NODES )); fi
fi
FA_MAX_RANKS=${SLURM_NTASKS:-$(( FA_RPN * FA_NODES ))}
# fa_pow2_list MAX: 1 2 4 ... below MAX, then MAX (the default rank lists)
fa_pow2_list() {
  local r=1 out=()
  while [ "$r" -lt "$1" ]; do out+=("$r"); r=$((r * 2)); done
  out+=("$1"); echo "${out[*]}"
}
fa_log "placement: $FA_NODES node(s), $FA_NODE_CORES cores per node, up to $FA_RPN ranks per node, \
OMP_PLACES=$OMP_PLACES OMP_PROC_BIND=$OMP_PROC_BIND, launcher $FA_LAUNCH"

# ---- checkpoint / requeue ------------------------------------------------------------
step_pid=""; trapped=0
# --signal=B:USR1@120 signals this shell only: forward SIGUSR1 to the running step (srun
# and mpirun both pass it on to the ranks); fedalign then writes <output>.ckpt and exits
# with 3 ("stopped, resumable"). SIGTERM (scancel, time limit) is forwarded the same way.
fa_forward() {
  trapped=1
  fa_log "got SIG$1; forwarding SIGUSR1 to step pid ${step_pid:-none} so fedalign checkpoints"
  [ -n "$step_pid" ] && kill -USR1 "$step_pid" 2>/dev/null
}
trap 'fa_forward USR1' USR1
trap 'fa_forward TERM' TERM
fa_requeue() {  # fedalign stopped at a checkpoint: requeue this job; the next start resumes
  if [ -n "${SLURM_JOB_ID:-}" ]; then
    fa_log "stopped resumably; requeueing job $SLURM_JOB_ID (restart ${SLURM_RESTART_COUNT:-0} -> $(( ${SLURM_RESTART_COUNT:-0} + 1 )))"
    scontrol requeue "$SLURM_JOB_ID" && exit 0
    fa_log "scontrol requeue failed; resubmit the same job to resume"
  else
    fa_log "stopped resumably; run the same command again to resume"
  fi
  exit 3
}
# fa_launch NRANKS THREADS RPN ARGS...: start one step in the background (step_pid).
# Ranks fill nodes RPN at a time (block placement, so a rank count below one node's
# worth stays on one node and the intra-node/inter-node split is known); each rank gets
# THREADS cores next to each other.
fa_launch() {
  local n=$1 t=$2 rpn=$3; shift 3
  [ "$rpn" -gt "$n" ] && rpn=$n
  local nn=$(( (n + rpn - 1) / rpn ))
  case $FA_LAUNCH in
    srun) srun --mpi=pmix --nodes="$nn" --ntasks="$n" --ntasks-per-node="$rpn" --cpus-per-task="$t" \
            --cpu-bind=cores --distribution=block:block "$FA_BIN" "$@" & ;;
    mpirun) mpirun -n "$n" --map-by "ppr:$rpn:node:PE=$t" --bind-to core "$FA_BIN" "$@" & ;;
  esac
  step_pid=$!
}
# fa_step NRANKS OUTPUT.h5 FLAGS...: one resumable fedalign run on NRANKS ranks of
# OMP_NUM_THREADS threads, FA_RPN ranks per node. An existing OUTPUT.h5 without a
# checkpoint means an earlier attempt of this job finished it (skipped); an existing
# OUTPUT.h5.ckpt is resumed with --resume (after a requeue: SLURM_RESTART_COUNT>0).
fa_step() {
  local n=$1 out=$2 rc; shift 2
  local args=("$@" "${FA_EXTRA_ARGS[@]}" --output "$out")
  if [ -f "$out" ] && [ ! -f "$out.ckpt" ]; then fa_log "$out exists (earlier attempt): skipped"; return 0; fi
  if [ -f "$out.ckpt" ]; then
    fa_log "resuming from $out.ckpt (restart ${SLURM_RESTART_COUNT:-0})"; args+=(--resume "$out.ckpt")
  fi
  fa_log "$FA_LAUNCH $n ranks x $OMP_NUM_THREADS threads (<= ${FA_STEP_RPN:-$FA_RPN} per node; OMP_PLACES=$OMP_PLACES OMP_PROC_BIND=$OMP_PROC_BIND): fedalign ${args[*]}"
  fa_launch "$n" "$OMP_NUM_THREADS" "${FA_STEP_RPN:-$FA_RPN}" "${args[@]}"
  while :; do  # a trapped signal interrupts wait; wait again for the step's own status
    trapped=0; wait "$step_pid"; rc=$?
    [ "$trapped" = 1 ] || break
  done
  step_pid=""
  case $rc in
    0) fa_log "done: $out" ;;
    3) fa_requeue ;;
    *) fa_log "fedalign failed (exit $rc)"; exit "$rc" ;;
  esac
}
