#!/usr/bin/env bash
# The paper comparison on a workstation (the Slurm version is jobs/paper_compare.sbatch).
#
# Measures: `fedalign suite --preset paper` (every method, ablation and the baselines
# from random and from foundation initialization) on the built-in electrical and
# mechanical data and on a real CSV (default: the Kaggle electrical fault set, labels
# G,C,B,A, contiguous block splits), with 3 and 10 devices, seeds 1-3, at 30 and 100
# rounds. Expected cost: about 10 minutes on 2 cores. Results: one HDF5 file per suite in
# $OUT (default results/paper), analysed by analysis/report.py.
# METHODS=LIST runs only these suite rows (`fedalign suite --methods`, e.g. every
# personalized row for docs/reproducing.md's "All personalized methods"; use its own OUT).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$root/results/paper}
# the Kaggle classData.csv: data/ in the checkout first (data/electrical_fault_kaggle/README.md)
CSV=${CSV:-$root/data/electrical_fault_kaggle/classData.csv}
[ -f "$CSV" ] || CSV=$root/../shared/datasets/electrical_fault_kaggle/classData.csv
RANKS=${RANKS:-$(nproc)}
SEEDS=${SEEDS:-"1 2 3"}
ROUNDS=${ROUNDS:-"30 100"}
DEVICES=${DEVICES:-"3 10"}
FA=${FA_BIN:-$root/build/fedalign}
METHODS=${METHODS:-}
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT"
datasets="electrical mechanical"
[ -f "$CSV" ] && datasets="$datasets csv"
for ds in $datasets; do
  for dev in $DEVICES; do
    for r in $ROUNDS; do
      for s in $SEEDS; do
        f="$OUT/suite_${ds}_c${dev}_r${r}_s${s}.h5"
        [ -e "$f" ] && { echo "exists: $f"; continue; }
        args=(suite --preset paper --clients "$dev" --rounds "$r" --seed "$s" --quiet --output "$f")
        [ -z "$METHODS" ] || args+=(--methods "$METHODS")
        [ "$ds" = csv ] && args+=(--dataset "csv:$CSV" --label-cols G,C,B,A --block-split) || args+=(--dataset "$ds")
        echo "== ${args[*]}"
        mpirun --oversubscribe -n "$RANKS" "$FA" "${args[@]}" > "${f%.h5}.txt" < /dev/null
      done
    done
  done
done
echo "results in $OUT"
