#!/usr/bin/env bash
# Calibrate SMPI's compute model on this host (docs/scaling.md "Calibration").
# SMPI runs each simulated rank's code for real and charges its CPU time as
# flops = CPU seconds x smpi/host-speed, then simulated time = flops / the platform core's
# speed. smpi/host-speed must therefore be this host's own flop rate on fedalign's work:
# `fedalign bench train` (batch 32, one thread) gives flop_per_sample and samples per CPU
# second (cpu_median, robust to a busy machine); their product is the rate.
# Usage: jobs/smpi_calibrate.sh [OUTFILE]   (default results/smpi/host_speed.txt)
# Env: FEDALIGN (native binary, default build/fedalign), FA_CAL_REPS (default 5).
# Writes one line, the value for --cfg=smpi/host-speed:VALUE (e.g. 25400000000f), and
# prints it with the bench line it came from. Cost: ~5 s.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fa=${FEDALIGN:-$root/build/fedalign}
out=${1:-results/smpi/host_speed.txt}
[ -x "$fa" ] || { echo "smpi_calibrate: $fa not found (build the native fedalign first)" >&2; exit 2; }
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
line=$(OMP_NUM_THREADS=1 mpirun -n 1 "$fa" bench train --batch 32 --reps "${FA_CAL_REPS:-5}" |
  grep '^FEDALIGN_BENCH name=train .*mode=serial')
speed=$(echo "$line" | tr ' ' '\n' | awk -F= '$1 == "flop_per_sample" { f = $2 } $1 == "cpu_median" { s = $2 }
  END { if (f > 0 && s > 0) printf "%.0ff\n", f * s; else exit 1 }') ||
  { echo "smpi_calibrate: no flop_per_sample/cpu_median in: $line" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
echo "$speed" > "$out"
echo "# $line"
echo "smpi/host-speed: $speed (written to $out)"
