#!/usr/bin/env bash
# Client faults and attackers (issue: reliability): dropouts, stragglers with a round
# deadline (dropped or discounted), attackers (sign flip, scale, noise, NaN) and norm
# clipping are deterministic from the seed (same checksums at -n 1 and -n 3), recorded
# per client and round in rc_status, and a non-finite update is never aggregated.
. "$(dirname "$0")/common.sh"
PY=/usr/bin/python3
cd "$WORK"
export OMP_NUM_THREADS=1
cs() { grep '^FEDALIGN_RESULT' "$1" | grep -o 'checksum=[^ ]*\|checksum_personal=[^ ]*' | tr '\n' ' '; }
FAULTS="--dropout 0.2 --speed-spread 0.6 --deadline 3 --late discount --attack signflip:0.25 --clip 5"
for m in fedmetaalign fedavg fedprox; do
  mpirun_n 1 "$FEDALIGN" run --preset tiny --quiet --method $m $FAULTS --output f1_$m.h5 > a.txt 2>&1 || fail "$m faults -n 1"
  mpirun_n 3 "$FEDALIGN" run --preset tiny --quiet --method $m $FAULTS --output f3_$m.h5 > b.txt 2>&1 || fail "$m faults -n 3"
  [ -n "$(cs a.txt)" ] && [ "$(cs a.txt)" = "$(cs b.txt)" ] && pass "$m with faults: identical at -n 1 and -n 3" || fail "$m with faults differs: $(cs a.txt) vs $(cs b.txt)"
done

# status bits are consistent with the flags; NaN updates are rejected, never aggregated
mpirun_n 2 "$FEDALIGN" run --preset small --rounds 6 --quiet --attack nan:0.3 --dropout 0.2 \
  --speed-spread 0.8 --deadline 4 --late drop --output nan.h5 > nan.txt 2>&1 || fail "NaN attack run failed"
grep -q '^FEDALIGN_RESULT.*acc_global=0\.[0-9]' nan.txt && pass "NaN attack: run completes with a finite global model" || fail "NaN attack: bad result line"
"$PY" - nan.h5 <<'PYEOF' && pass "rc_status: NaN rejected, dropouts and deadline recorded" || fail "rc_status checks (NaN attack, dropout, deadline)"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
g = f["methods"][list(f["methods"])[0]]
st = g["rc_status"][...].astype(np.int64)
t = g["rc_time"][...]
SEL, DROP, LATE, DISC, REJ, CLIP, ATT, AGG = 1, 2, 4, 8, 16, 32, 64, 128
att = (st & ATT) != 0
errs = []
if not att.any(): errs.append("no attacker recorded")
if not ((st & DROP) != 0).any(): errs.append("no dropout recorded")
if not ((st & LATE) != 0).any(): errs.append("no late client recorded")
trained = ((st & SEL) != 0) & ((st & DROP) == 0) & ((st & LATE) == 0)
# every attacker that trained sent NaN: rejected and not aggregated; honest ones aggregated
if ((st & AGG) != 0)[att].any(): errs.append("a NaN update was aggregated")
if not (((st & REJ) != 0) == (trained & att)).all(): errs.append("rejected != trained attackers")
if not (((st & AGG) != 0) == (trained & ~att)).all(): errs.append("aggregated != trained honest clients")
if ((st & DISC) != 0).any(): errs.append("discount with --late drop")
# late exactly when the simulated time exceeds the deadline
late = (st & LATE) != 0
sel = (st & SEL) != 0
nd = sel & ((st & DROP) == 0)
if not (late[nd] == (t[nd] > 4)).all(): errs.append("late flag != rc_time > deadline")
if not np.isfinite(g["final_global"][...]).all(): errs.append("global model not finite")
w = g["rc_weight"][...]
if np.nansum(w[(st & AGG) == 0]) != 0: errs.append("weight on a client that was not aggregated")
print("\n".join(errs) if errs else "rc_status consistent")
sys.exit(1 if errs else 0)
PYEOF

# clipping marks clipped updates; discounting marks late-but-applied ones
mpirun_n 2 "$FEDALIGN" run --preset tiny --quiet --clip 0.01 --speed-spread 1 --deadline 1 --late discount --output clip.h5 > /dev/null 2>&1 || fail "clip run"
"$PY" - clip.h5 <<'PYEOF' && pass "clip and discount recorded" || fail "clip/discount bits"
import sys, h5py, numpy as np
g = h5py.File(sys.argv[1], "r")["methods"]; g = g[list(g)[0]]
st = g["rc_status"][...].astype(np.int64)
ok = ((st & 32) != 0).any() and ((st & 8) != 0).any() and (((st & 8) != 0) <= ((st & 4) != 0)).all()
sys.exit(0 if ok else 1)
PYEOF

# the attack changes the result, and no-attack equals a run without the flag
a=$(mpirun_n 2 "$FEDALIGN" run --preset tiny --quiet --output n1.h5 | grep -o 'checksum=[^ ]*')
b=$(mpirun_n 2 "$FEDALIGN" run --preset tiny --quiet --attack none --dropout 0 --output n2.h5 | grep -o 'checksum=[^ ]*')
c=$(mpirun_n 2 "$FEDALIGN" run --preset tiny --quiet --attack scale:0.5 --output n3.h5 | grep -o 'checksum=[^ ]*')
[ "$a" = "$b" ] && [ "$a" != "$c" ] && pass "no-fault flags are neutral; an attack changes the model" || fail "neutral/attack checksums: $a $b $c"
finish
