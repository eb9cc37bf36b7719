#!/usr/bin/env bash
# Robustness experiment (docs/reliability.md): global-model accuracy vs the fraction of
# attacking clients for FedAvg, FedProx and Fed-Meta-Align, for sign-flip, scaled (x10)
# and Gaussian-noise (x10) updates, on the built-in electrical data with 20 devices,
# 20 rounds, no personalization (the global model is what an attacker targets), seeds
# 1-2. Expected cost: about 3 minutes on 2 cores. Results: one HDF5 file per run in $OUT
# (default results/attack), plotted by analysis/attack_plot.py.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$root/results/attack}
FA=${FA_BIN:-$root/build/fedalign}
RANKS=${RANKS:-$(nproc)}
SEEDS=${SEEDS:-"1 2"}
FRACS=${FRACS:-"0 0.1 0.2 0.3 0.4"}
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT"
for kind in signflip scale noise; do
  for f in $FRACS; do
    for m in fedavg fedprox fedmetaalign; do
      for s in $SEEDS; do
        out="$OUT/${kind}_${f}_${m}_s${s}.h5"
        [ -e "$out" ] && continue
        mpirun --oversubscribe -n "$RANKS" "$FA" run --preset small --clients 20 --rounds 20 \
          --method "$m" --attack "$kind:$f" --seed "$s" --no-personalize --quiet --output "$out" \
          | grep '^FEDALIGN_RESULT' | sed "s/^/$kind $f /"
      done
    done
  done
done
echo "results in $OUT; plot: /usr/bin/python3 analysis/attack_plot.py $OUT"
