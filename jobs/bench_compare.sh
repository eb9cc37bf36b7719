#!/usr/bin/env bash
# bench_compare.sh: fedalign against the PyTorch reference (analysis/peer_torch.py), side by
# side in one run, one thread each (issue 6, "a peer reference in the repo").
#
# Measures, alternating the two programs REPS times so that both see the same machine load:
#   train   local training of the default 6-64-32-6 model, batch 32, Adam: samples/s
#           (fedalign bench train, mode serial; peer_torch.py train);
#   fedavg  one FedAvg round of 8 clients (~120 train rows each, 1 local epoch, batch 32,
#           Adam, global-model evaluation each round): client samples trained per second of
#           round time (fedalign bench round --method fedavg; peer_torch.py fedavg).
# Each invocation reports its own median over --reps repetitions; this script prints the
# median over the REPS invocations and the ratio fedalign / torch.
# Expected runtime: about a minute on 2 cores. Output: stdout only (a table and one
# BENCH_COMPARE line per benchmark). Needs a built fedalign (default build/fedalign) and
# Debian's python3-torch for /usr/bin/python3.
# Usage: jobs/bench_compare.sh [--reps N] [--fedalign PATH] [--python PATH]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
REPS=5
FEDALIGN=$here/build/fedalign
PY=/usr/bin/python3
while [ $# -gt 0 ]; do
  case $1 in
    --reps) REPS=$2; shift 2 ;;
    --fedalign) FEDALIGN=$2; shift 2 ;;
    --python) PY=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_compare.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -x "$FEDALIGN" ] || { echo "bench_compare.sh: no fedalign binary at $FEDALIGN (build first, or --fedalign PATH)" >&2; exit 2; }
"$PY" -c 'import torch' 2>/dev/null || { echo "bench_compare.sh: $PY has no torch: apt-get install -y python3-torch" >&2; exit 2; }
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMP_NUM_THREADS=1 OMP_PROC_BIND=false

# value of key K on the first line matching pattern P
field() { grep -m1 -- "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

fa_train=() ; pt_train=() ; fa_avg=() ; pt_avg=()
for i in $(seq 1 "$REPS"); do
  out=$("$FEDALIGN" bench train --batch 32 --reps 3 --min-time 0.3)
  fa_train+=("$(echo "$out" | field 'name=train batch=32 mode=serial' median)")
  out=$("$PY" "$here/analysis/peer_torch.py" train --reps 3 --min-time 0.3)
  pt_train+=("$(echo "$out" | field 'PEER_TORCH name=train' median)")
  out=$("$FEDALIGN" bench round --method fedavg --clients 8 --rounds 20 --reps 3)
  fa_avg+=("$(echo "$out" | field 'FEDALIGN_BENCH name=round' samples_per_s)")
  out=$("$PY" "$here/analysis/peer_torch.py" fedavg --reps 5 --clients 8 --client-rows 120)
  pt_avg+=("$(echo "$out" | field 'PEER_TORCH name=fedavg' median)")
  echo "# rep $i/$REPS: train fedalign ${fa_train[-1]} torch ${pt_train[-1]}; fedavg fedalign ${fa_avg[-1]} torch ${pt_avg[-1]} samples/s"
done

ft=$(printf '%s\n' "${fa_train[@]}" | median); pt=$(printf '%s\n' "${pt_train[@]}" | median)
fa=$(printf '%s\n' "${fa_avg[@]}" | median); pa=$(printf '%s\n' "${pt_avg[@]}" | median)
torch_ver=$("$PY" -c 'import torch; print(torch.__version__)')
echo "# fedalign vs PyTorch $torch_ver, one thread each, medians of $REPS alternating runs"
printf '# %-8s %16s %16s %10s\n' bench "fedalign s/s" "torch s/s" ratio
awk -v a="$ft" -v b="$pt" 'BEGIN {printf "  %-8s %16.4g %16.4g %10.2f\n", "train", a, b, a / b}'
awk -v a="$fa" -v b="$pa" 'BEGIN {printf "  %-8s %16.4g %16.4g %10.2f\n", "fedavg", a, b, a / b}'
awk -v a="$ft" -v b="$pt" -v r="$REPS" 'BEGIN {printf "BENCH_COMPARE name=train batch=32 threads=1 reps=%d fedalign=%.6g torch=%.6g ratio=%.4g\n", r, a, b, a / b}'
awk -v a="$fa" -v b="$pa" -v r="$REPS" 'BEGIN {printf "BENCH_COMPARE name=fedavg clients=8 threads=1 reps=%d fedalign=%.6g torch=%.6g ratio=%.4g\n", r, a, b, a / b}'
