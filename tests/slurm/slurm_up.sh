#!/usr/bin/env bash
# Start a real single-node Slurm on localhost (munge + slurmctld + slurmd), as root.
#
# Usage: bash tests/slurm/slurm_up.sh        (then: export SLURM_CONF=<printed path>)
#        bash tests/slurm/slurm_down.sh      (stops what this script started)
#
# Installs slurm-wlm and munge when missing (apt-get), starts munged as the munge
# user unless a working munged is already running, writes slurm.conf into a private
# directory (FA_SLURM_DIR, default /tmp/fedalign-slurm) with the state, spool and log
# folders beside it, starts slurmctld then slurmd with that file, and waits until
# `sinfo` shows the node idle. Idempotent: when its cluster is already up and the
# node answers, it only prints how to use it. On failure it names what failed, shows
# the tail of the daemon's log and exits non-zero.
#
# Environment: FA_SLURM_DIR (cluster directory), FA_SLURM_PORT (slurmctld port,
# default 6817; slurmd uses the next one), FA_SLURM_CLUSTER (ClusterName, fedalign).
# docs/slurm.md explains these settings (single node, no accounting, munge).
set -uo pipefail

dir=${FA_SLURM_DIR:-/tmp/fedalign-slurm}
port=${FA_SLURM_PORT:-6817}
cluster=${FA_SLURM_CLUSTER:-fedalign}
conf=$dir/etc/slurm.conf

say() { echo "slurm_up: $*"; }
die() { echo "slurm_up: FAILED: $*" >&2; exit 1; }
logtail() {  # logtail FILE: the last lines of a daemon's log, on stderr
  if [ -s "$1" ]; then echo "---- last lines of $1 ----" >&2; tail -n 25 "$1" >&2; echo "----" >&2
  else echo "(log $1 is empty or missing)" >&2; fi
}
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

[ "$(id -u)" = 0 ] || die "must run as root (starts munged, slurmctld and slurmd); try: sudo bash $0"

# ---- packages -----------------------------------------------------------------------
need=""
for p in slurm-wlm munge; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
  command -v apt-get >/dev/null || die "packages missing:$need and no apt-get to install them"
  say "installing$need (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends $need; } \
    >"${TMPDIR:-/tmp}/fedalign-slurm-apt.log" 2>&1 \
    || { tail -n 20 "${TMPDIR:-/tmp}/fedalign-slurm-apt.log" >&2; die "apt-get install$need failed"; }
fi
for b in munged munge unmunge slurmctld slurmd sinfo sbatch scontrol; do
  command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || die "'$b' not found after installing slurm-wlm and munge"
done
export PATH=$PATH:/usr/sbin

# ---- already up? ----------------------------------------------------------------------
if [ -f "$conf" ] && pid_alive "$dir/run/slurmctld.pid" && pid_alive "$dir/run/slurmd.pid" \
   && SLURM_CONF=$conf timeout 10 sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
  say "already running (conf $conf)"
  echo "export SLURM_CONF=$conf"
  exit 0
fi

# ---- munge ----------------------------------------------------------------------------
munge_ok() { timeout 10 munge -n 2>/dev/null | timeout 10 unmunge >/dev/null 2>&1; }
mkdir -p "$dir"
if munge_ok; then
  say "munged already running"
else
  id munge >/dev/null 2>&1 || die "no 'munge' user (is the munge package installed correctly?)"
  mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
  if [ ! -s /etc/munge/munge.key ]; then
    say "creating /etc/munge/munge.key"
    if command -v mungekey >/dev/null || [ -x /usr/sbin/mungekey ]; then
      mungekey --create --force --keyfile=/etc/munge/munge.key >/dev/null 2>&1 \
        || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    else
      dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
  fi
  chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
  chmod 0700 /etc/munge /var/log/munge; chmod 0400 /etc/munge/munge.key; chmod 0755 /run/munge
  rm -f /run/munge/munged.pid /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
  say "starting munged as user munge"
  if command -v runuser >/dev/null; then runuser -u munge -- munged >"$dir/munged.start.log" 2>&1
  else su -s /bin/sh munge -c munged >"$dir/munged.start.log" 2>&1; fi \
    || { cat "$dir/munged.start.log" >&2; logtail /var/log/munge/munged.log; die "munged did not start"; }
  for _ in $(seq 1 20); do munge_ok && break; sleep 0.5; done
  munge_ok || { logtail /var/log/munge/munged.log; die "munged started but 'munge -n | unmunge' fails"; }
  cp /run/munge/munged.pid "$dir/munged.pid" 2>/dev/null || { command -v pgrep >/dev/null && pgrep -u munge -x munged | head -n1 >"$dir/munged.pid"; }
  say "munged up (pid $(cat "$dir/munged.pid" 2>/dev/null))"
fi

# ---- stale cluster from an earlier run: stop it, start fresh -----------------------------
for d in slurmd slurmctld; do
  if pid_alive "$dir/run/$d.pid"; then
    pid=$(cat "$dir/run/$d.pid")
    say "stopping stale $d (pid $pid)"; kill "$pid" 2>/dev/null
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
done
rm -rf "${dir:?}/etc" "$dir/state" "$dir/spool" "$dir/log" "$dir/run"
# Another Slurm on these ports would answer our sinfo and hide that ours did not start.
port_busy() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
for p in "$port" "$((port + 1))"; do
  if port_busy "$p"; then
    die "port $p on 127.0.0.1 is already in use (another slurmctld/slurmd? see: ss -ltnp | grep $p); stop it or set FA_SLURM_PORT"
  fi
done
mkdir -p "$dir/etc" "$dir/state" "$dir/spool" "$dir/log" "$dir/run"

# ---- slurm.conf ------------------------------------------------------------------------
host=$(hostname -s 2>/dev/null || uname -n); host=${host%%.*}
cpus=$(nproc)
mem_total=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
margin=$(( mem_total / 10 )); [ "$margin" -ge 256 ] || margin=256
mem=$(( mem_total - margin )); [ "$mem" -ge 100 ] || mem=100
addr=127.0.0.1
cat >"$conf" <<EOF
# generated by tests/slurm/slurm_up.sh: a single-node cluster on localhost
ClusterName=$cluster
SlurmctldHost=$host($addr)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
# a requeued job waits cred_expire seconds before it may start again (default 120)
AuthInfo=cred_expire=20
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobRequeue=1
ReturnToService=2
MinJobAge=3600
KillWait=30
SlurmdParameters=config_overrides
MailProg=/bin/true
NodeName=$host NodeAddr=$addr CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$conf

# ---- daemons ---------------------------------------------------------------------------
say "starting slurmctld (conf $conf)"
slurmctld -f "$conf" -i >"$dir/log/slurmctld.start.log" 2>&1 \
  || { cat "$dir/log/slurmctld.start.log" >&2; logtail "$dir/log/slurmctld.log"; die "slurmctld did not start"; }
for _ in $(seq 1 30); do timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.5; done
timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP' \
  || { cat "$dir/log/slurmctld.start.log" >&2; logtail "$dir/log/slurmctld.log"; die "slurmctld does not answer 'scontrol ping' (port $port busy? set FA_SLURM_PORT)"; }

say "starting slurmd"
slurmd -f "$conf" >"$dir/log/slurmd.start.log" 2>&1 \
  || { cat "$dir/log/slurmd.start.log" >&2; logtail "$dir/log/slurmd.log"; die "slurmd did not start"; }

state=""
for _ in $(seq 1 60); do
  state=$(timeout 5 sinfo -h -N -n "$host" -o '%T' 2>/dev/null | head -n1)
  case "$state" in idle|mixed|allocated) break ;; esac
  sleep 1
done
case "$state" in
  idle|mixed|allocated) ;;
  *) timeout 5 sinfo -N -l >&2 2>&1; timeout 5 scontrol show node "$host" >&2 2>&1
     logtail "$dir/log/slurmctld.log"; logtail "$dir/log/slurmd.log"
     die "node $host is '${state:-unknown}', not idle, after 60 s" ;;
esac

for d in slurmctld slurmd; do
  pid_alive "$dir/run/$d.pid" || { logtail "$dir/log/$d.log"; die "$d is not running (no live pid in $dir/run/$d.pid)"; }
done
say "up: node $host ($cpus CPUs, ${mem} MB), partition debug, conf $conf"
cat <<EOF
To use it:
  export SLURM_CONF=$conf
  sinfo; sbatch jobs/paper_compare.sbatch; squeue
Stop it with: bash $(dirname "$0")/slurm_down.sh
EOF
echo "export SLURM_CONF=$conf"
