#!/usr/bin/env bash
# Regime map (docs/reproducing.md, section 8): where federation wins and where a device
# training alone wins. Runs `fedalign suite` (every method, ablation and baseline, all
# with the same phase-3 personalization) on the built-in electrical data over
#   rows per device (--samples)  x  device heterogeneity (--heterogeneity)  x  seeds,
# preset small otherwise (10 devices, 20 rounds), then analysis/regime_map.py draws the
# paired difference of fedmetaalign+P against the best personalized baseline of the same
# seed as a heatmap with the count of seeds Fed-Meta-Align wins in each cell.
# Expected cost: about 15 minutes on 2 free cores at the defaults (36 suites; the
# data-rich end, 1,500 rows per device, is the paper preset of jobs/paper_grid.sh).
# Results: $OUT/regime_n<samples>_h<h>_s<seed>.h5 (+ .txt logs); the figure and table in
# $REPORT (default report/regime).
#   bash jobs/regime_map.sh     # OUT=results/regime SAMPLES="50 100 200 600" HETS="0 1 2" SEEDS="1 2 3"
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$root/results/regime}
REPORT=${REPORT:-$root/report/regime}
RANKS=${RANKS:-$(nproc)}
SEEDS=${SEEDS:-"1 2 3"}
SAMPLES=${SAMPLES:-"50 100 200 600"}
HETS=${HETS:-"0 1 2"}
PRESET=${PRESET:-small}
EXTRA=${EXTRA:-} # more suite flags for every run, e.g. "--rounds 10"
FA=${FA_BIN:-$root/build/fedalign}
[ -x "$FA" ] || { echo "regime_map: no binary at $FA (build first, or set FA_BIN)" >&2; exit 1; }
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT"
for n in $SAMPLES; do
  for h in $HETS; do
    for s in $SEEDS; do
      f="$OUT/regime_n${n}_h${h}_s${s}.h5"
      [ -e "$f" ] && continue # an interrupted map continues where it stopped
      # shellcheck disable=SC2086
      mpirun --oversubscribe -n "$RANKS" "$FA" suite --preset "$PRESET" --dataset electrical \
        --samples "$n" --heterogeneity "$h" --seed "$s" --quiet --output "$f" $EXTRA \
        < /dev/null > "${f%.h5}.txt"
    done
  done
done
/usr/bin/python3 "$root/analysis/regime_map.py" --out "$REPORT" "$OUT"
