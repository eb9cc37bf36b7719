#!/usr/bin/env bash
# Server dynamics (issue 18): every federated method records its clients' cosines to the
# round's mean update and to the previous global update, and the per-method diagnostic;
# --no-dynamics turns the recording off and changes no checksum. On the tiny preset at
# alpha = 1 Fed-Meta-Align is in a 2-cycle and FedAvg is not (docs/reproducing.md, 7).
. "$(dirname "$0")/common.sh"

attrs() { # FILE: osc_cos_lag1 two_cycle finite(rc_cos_mean) finite(rc_cos_prev) of the first method
  /usr/bin/python3 - "$1" <<'PYEOF'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
g = f["methods"][sorted(f["methods"])[0]]
a = g.attrs
print("%.4f %d %d %d" % (a["osc_cos_lag1"], int(a["two_cycle"]),
      np.isfinite(g["rc_cos_mean"][...]).sum(), np.isfinite(g["rc_cos_prev"][...]).sum()))
PYEOF
}
for m in fedavg fedprox fedmetaalign; do
  for r in "--reference mean" "--reference prev"; do
    [ "$m" != fedmetaalign ] && [ "$r" = "--reference prev" ] && continue
    k=$((${k:-0} + 1)); on=$WORK/${m}_${k}_on.h5 off=$WORK/${m}_${k}_off.h5
    OMP_NUM_THREADS=1 mpirun_n 2 "$FEDALIGN" run --method $m $r --preset tiny --quiet --output "$on" > "$WORK/on.txt" || fail "$m run"
    OMP_NUM_THREADS=1 mpirun_n 2 "$FEDALIGN" run --method $m $r --preset tiny --quiet --no-dynamics --output "$off" > "$WORK/off.txt" || fail "$m --no-dynamics run"
    [ "$(sums "$WORK/on.txt")" = "$(sums "$WORK/off.txt")" ] && pass "$m $r: --no-dynamics keeps the checksums" \
      || fail "$m $r: --no-dynamics changed the checksums"
    read -r lag cyc nmean nprev <<< "$(attrs "$on")"
    [ "$nmean" -gt 0 ] && [ "$nprev" -gt 0 ] && pass "$m $r: rc_cos_mean/rc_cos_prev recorded ($nmean, $nprev values)" \
      || fail "$m $r: cosines not recorded ($nmean, $nprev)"
    read -r lag2 cyc2 nmean2 nprev2 <<< "$(attrs "$off")"
    [ "$nmean2" = 0 ] && [ "$nprev2" = 0 ] && pass "$m $r --no-dynamics: no cosines" || fail "$m $r --no-dynamics: $nmean2 $nprev2 values"
    if [ "$m $r" = "fedmetaalign --reference mean" ]; then
      [ "$cyc" = 1 ] && pass "fedmetaalign alpha 1: flagged 2-cycle (lag-1 $lag)" || fail "fedmetaalign alpha 1 not flagged (lag-1 $lag)"
    fi
    [ "$m" = fedavg ] && { [ "$cyc" = 0 ] && pass "fedavg: no 2-cycle (lag-1 $lag)" || fail "fedavg flagged (lag-1 $lag)"; }
  done
done
grep -q "two_cycle=" "$WORK/on.txt" && pass "FEDALIGN_RESULT carries two_cycle" || fail "no two_cycle key"
finish
