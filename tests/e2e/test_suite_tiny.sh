#!/usr/bin/env bash
# End-to-end: `fedalign suite --preset tiny` on the built-in electrical and mechanical
# data runs every method and ablation, prints the configuration table, per-round lines,
# a results block per method, one FEDALIGN_RESULT line per method with the documented
# keys, and personalized accuracy far above chance (> 2.5/K) for every method.
. "$(dirname "$0")/common.sh"

for ds in electrical mechanical; do
  out=$WORK/suite_$ds.txt
  if ! OMP_NUM_THREADS=2 mpirun_n 2 "$FEDALIGN" suite --preset tiny --dataset $ds --output "$WORK/$ds.h5" > "$out" 2> "$out.err"; then
    fail "suite $ds exited non-zero"; cat "$out.err" >&2; continue
  fi
  grep -q '^| parameter' "$out" || fail "$ds: no configuration table"
  grep -q '^round ' "$out" || fail "$ds: no per-round lines"
  grep -q '^# SUITE' "$out" || fail "$ds: no suite table"
  n=$(grep -c '^FEDALIGN_RESULT' "$out")
  [ "$n" -ge 11 ] && pass "$ds: $n methods" || fail "$ds: only $n FEDALIGN_RESULT lines"
  for key in method dataset clients ranks threads seed acc_global acc_personal_mean checksum time_total_s checksum_personal; do
    c=$(grep '^FEDALIGN_RESULT' "$out" | grep -c " $key=")
    [ "$c" = "$n" ] || fail "$ds: key $key missing from some FEDALIGN_RESULT lines"
  done
  k=$(grep '^| classes (K)' "$out" | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  # far above chance: more than 2.5x chance (1/K) for every method
  bad=$(grep '^FEDALIGN_RESULT' "$out" | sed -E 's/.*method=([^ ]+).*acc_personal_mean=([0-9.na]+).*/\1 \2/' |
        awk -v k="$k" '{ thr = 2.5 / k; if (!($2 + 0 > thr)) print $1 "=" $2 }')
  [ -z "$bad" ] && pass "$ds: every method's personalized accuracy > 2.5/K (K=$k)" || fail "$ds: near chance: $bad"
done
finish
