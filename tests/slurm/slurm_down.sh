#!/usr/bin/env bash
# Stop the single-node Slurm that tests/slurm/slurm_up.sh started and remove its
# directory (FA_SLURM_DIR, default /tmp/fedalign-slurm). Kills only the daemons whose
# pid files slurm_up.sh wrote: slurmd, slurmctld, and munged when slurm_up.sh started
# it (a munged that was already running is left alone). Jobs still running are
# cancelled first. Safe to run when nothing is up. FA_SLURM_KEEP=1 keeps the directory
# (logs) for inspection.
set -uo pipefail
dir=${FA_SLURM_DIR:-/tmp/fedalign-slurm}
conf=$dir/etc/slurm.conf
export PATH=$PATH:/usr/sbin
say() { echo "slurm_down: $*"; }

if [ ! -d "$dir" ]; then say "nothing to stop ($dir does not exist)"; exit 0; fi

stop() {  # stop NAME PIDFILE: TERM, wait up to 15 s, then KILL
  local name=$1 pf=$2 pid
  [ -s "$pf" ] || return 0
  pid=$(cat "$pf")
  case "$pid" in ''|*[!0-9]*) return 0 ;; esac
  kill -0 "$pid" 2>/dev/null || return 0
  say "stopping $name (pid $pid)"
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  say "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
  kill -9 "$pid" 2>/dev/null
}

if [ -f "$conf" ] && [ -s "$dir/run/slurmctld.pid" ] && kill -0 "$(cat "$dir/run/slurmctld.pid")" 2>/dev/null; then
  SLURM_CONF=$conf timeout 10 scancel --quiet --partition=debug 2>/dev/null || true
  sleep 1
fi
stop slurmd "$dir/run/slurmd.pid"
stop slurmctld "$dir/run/slurmctld.pid"
stop munged "$dir/munged.pid"

rc=0
for pf in "$dir/run/slurmd.pid" "$dir/run/slurmctld.pid" "$dir/munged.pid"; do
  if [ -s "$pf" ] && kill -0 "$(cat "$pf")" 2>/dev/null; then
    echo "slurm_down: FAILED: pid $(cat "$pf") ($pf) still alive" >&2; rc=1
  fi
done
if [ "$rc" = 0 ]; then
  if [ "${FA_SLURM_KEEP:-0}" = 1 ]; then say "stopped; kept $dir"
  else  # only what slurm_up.sh made, then the folder if it is empty
    rm -rf "${dir:?}/etc" "$dir/state" "$dir/spool" "$dir/log" "$dir/run" "$dir/munged.pid" "$dir/munged.start.log"
    rmdir "$dir" 2>/dev/null || true
    say "stopped; removed $dir"
  fi
fi
exit "$rc"
