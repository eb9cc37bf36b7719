#!/usr/bin/env bash
# Server dynamics study (docs/reproducing.md, "Server learning rate and the 2-cycle"):
# Fed-Meta-Align, its ablation without the dual criterion (fedmetaalign-nosim: FedAvg's
# weights after the same phases 0 and 1) and FedAvg at server learning rates
# alpha in {0.25, 0.5, 0.75, 1} on the
# built-in electrical and mechanical data and on the Kaggle classData.csv (when present),
# preset small (10 devices, 20 rounds), seeds 1-3; then analysis/alpha_study.py prints the
# table (final and best accuracy, rounds to target, the oscillation diagnostic).
# Expected cost: about 5 minutes on 2 cores. Results: $OUT/alpha_<ds>_<method>_a<alpha>_s<seed>.h5
#   bash jobs/alpha_study.sh            # OUT=results/alpha RANKS=$(nproc) SEEDS="1 2 3"
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$root/results/alpha}
# the Kaggle classData.csv: data/ in the checkout first (data/electrical_fault_kaggle/README.md)
CSV=${CSV:-$root/data/electrical_fault_kaggle/classData.csv}
[ -f "$CSV" ] || CSV=$root/../shared/datasets/electrical_fault_kaggle/classData.csv
RANKS=${RANKS:-$(nproc)}
SEEDS=${SEEDS:-"1 2 3"}
ALPHAS=${ALPHAS:-"0.25 0.5 0.75 1"}
METHODS=${METHODS:-"fedmetaalign fedmetaalign-nosim fedavg"}
PRESET=${PRESET:-small}
FA=${FA_BIN:-$root/build/fedalign}
[ -x "$FA" ] || { echo "alpha_study: no binary at $FA (build first, or set FA_BIN)" >&2; exit 1; }
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT"
datasets="electrical mechanical"
if [ -f "$CSV" ]; then datasets="$datasets csv"; else echo "alpha_study: $CSV not found, skipping the CSV rows"; fi
for ds in $datasets; do
  for m in $METHODS; do
    for a in $ALPHAS; do
      for s in $SEEDS; do
        f="$OUT/alpha_${ds}_${m}_a${a}_s${s}.h5"
        [ -e "$f" ] && continue
        margs=(--method "$m")
        [ "$m" = fedmetaalign-nosim ] && margs=(--method fedmetaalign --ablate similarity)
        args=(run "${margs[@]}" --preset "$PRESET" --alpha "$a" --seed "$s" --quiet --output "$f")
        [ "$ds" = csv ] && args+=(--dataset "csv:$CSV" --label-cols G,C,B,A --block-split) || args+=(--dataset "$ds")
        mpirun --oversubscribe -n "$RANKS" "$FA" "${args[@]}" < /dev/null > "${f%.h5}.txt"
      done
    done
  done
done
/usr/bin/python3 "$root/analysis/alpha_study.py" "$OUT"
