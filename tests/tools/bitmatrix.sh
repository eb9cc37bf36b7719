#!/usr/bin/env bash
# Bit-identity matrix for refactors and speed-ups (docs/performance.md, "Same bits"):
# prints one line per (configuration, method) with checksum and checksum_personal, for
# `suite --preset tiny` at -n 1 and 3 x OMP_NUM_THREADS 1 and 2, and `run --preset tiny`
# under faults, attacks, clipping and the design alternatives. Run it with the old and
# the new binary and diff the two outputs: any difference is a changed result.
#   bash tests/tools/bitmatrix.sh build/fedalign > new.txt
set -euo pipefail
bin=$(readlink -f "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMPI_MCA_rmaps_base_oversubscribe=1
sums() { grep '^FEDALIGN_RESULT' | grep -o 'method=[^ ]*\|checksum=[^ ]*\|checksum_personal=[^ ]*' | paste -d' ' - - -; }
k=0
one() { # label, ranks, threads, args...
  local label=$1 n=$2 t=$3; shift 3
  k=$((k + 1))
  OMP_NUM_THREADS=$t mpirun -n "$n" "$bin" "$@" --preset tiny --quiet --output "$work/o$k.h5" </dev/null \
    | sums | sed "s|^|$label n=$n t=$t |"
}
for n in 1 3; do for t in 1 2; do one suite "$n" "$t" suite; done; done
while IFS= read -r extra; do
  [ -n "$extra" ] || continue
  for m in fedmetaalign fedavg fedprox; do
    one "[$extra]" 2 1 run --method $m $extra
  done
done <<'CFG'
--reference prev
--dropout 0.3
--speed-spread 0.6 --deadline 3
--speed-spread 0.6 --deadline 3 --late discount
--attack signflip:0.3
--attack scale:0.3 --attack-scale 5
--attack noise:0.3
--attack nan:0.3
--clip 0.5
--clip 0.5 --attack scale:0.3 --attack-scale 5
--score loss
--score preacc --reference prev
--client-frac 0.5
--threads-over batch --batch 64
--alpha 0.5 --floor 0.2
CFG
