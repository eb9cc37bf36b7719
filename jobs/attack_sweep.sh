#!/usr/bin/env bash
# Robustness experiment (docs/reliability.md): global-model accuracy vs the fraction of
# attacking clients for every federated method, for sign-flip, scaled (x10), Gaussian-noise
# (x10) and NaN updates, on the built-in electrical data with 20 devices, 20 rounds, no
# personalization (the global model is what an attacker targets), seeds 1-3.
# One `fedalign suite --methods LIST` per (attack, fraction, seed), so every method of a
# cell sees the same data, splits, attackers and seed (paired by seed). The clean cell
# (fraction 0) runs once per seed with --attack none and serves every attack's panel.
#   METHODS  suite rows, comma-separated (default: every method of `fedalign run --help`'s
#            --method list except `local`, which has no global model; non-personalized
#            rows, from random initialization)
#   FOUND    methods also run from the foundation model (rows NAME@found, one more suite
#            per cell with --init foundation; default "fedavg median trimmedmean fltrust";
#            empty = none). Fed-Meta-Align always starts from its foundation model.
#   KINDS FRACS SEEDS RANKS OUT FA_BIN as below.
# Expected cost on 2 shared cores: a few seconds per suite; the whole default sweep (102
# suites: 3 seeds x (clean + 4 attacks x 4 fractions) x 2 inits) took about 7 minutes. Results: one HDF5 file per suite in
# $OUT (default results/attack), plotted and tabulated by analysis/attack_plot.py.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$root/results/attack}
FA=${FA_BIN:-$root/build/fedalign}
RANKS=${RANKS:-$(nproc)}
SEEDS=${SEEDS:-"1 2 3"}
KINDS=${KINDS:-"signflip scale noise nan"}
FRACS=${FRACS:-"0 0.1 0.2 0.3 0.4"}
FOUND=${FOUND-"fedavg median trimmedmean fltrust"}
# the method table as the binary prints it (`--method NAME ...: a|b|c [default]`)
all_methods=$("$FA" run --help | sed -n 's/^ *--method NAME .*: \([a-z|]*\) \[.*/\1/p' |
  tr '|' '\n' | grep -vx local | paste -sd, -)
[ -n "$all_methods" ] || { echo "attack_sweep: cannot read the method list from $FA run --help" >&2; exit 1; }
METHODS=${METHODS:-$all_methods}
found_rows=$(for m in $FOUND; do echo "$m@found"; done | paste -sd, -)
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT"
# suite NAME ATTACK SEED INIT ROWS: one suite into $OUT/NAME.h5 unless it exists
suite() {
  local out="$OUT/$1.h5"
  [ -e "$out" ] && { echo "exists: $out"; return; }
  echo "== $1: $5"
  mpirun --oversubscribe -n "$RANKS" "$FA" suite --preset small --clients 20 --rounds 20 \
    --attack "$2" --seed "$3" --init "$4" --methods "$5" --quiet --output "$out" \
    > "$OUT/$1.txt" < /dev/null
}
for s in $SEEDS; do
  for f in $FRACS; do
    if [ "$f" = 0 ]; then kinds=none; else kinds=$KINDS; fi
    for kind in $kinds; do
      [ "$kind" = none ] && spec=none || spec="$kind:$f"
      suite "${kind}_${f}_s${s}" "$spec" "$s" random "$METHODS"
      [ -z "$found_rows" ] || suite "${kind}_${f}_found_s${s}" "$spec" "$s" foundation "$found_rows"
    done
  done
done
echo "results in $OUT; plot: /usr/bin/python3 analysis/attack_plot.py --md $OUT"
