#!/usr/bin/env bash
# Every result-affecting flag reaches the computation it names (label e2e; issue 19).
# A consistently wrong program (a flag parsed but never used, a phase reading the wrong
# option) passes every self-consistency test (same bits across ranks, threads, resume);
# this test is the oracle for it. Table-driven: for each row, a run that changes ONLY
# that flag must change exactly the checksums the row says, and nothing else:
#   GP  the global model changes, and so do the personal models derived from it
#   P   only the personal models change; the global model's checksum must not
#   -   nothing changes (execution and output flags, options of another method)
#   I   only the int8 summary changes (acc_int8_mean), never a model
# Plus the server learning rate's exact meaning: with --rounds 1 --no-personalize the
# global update phi^1 - phi^0 at --alpha 0.5 is half the update at --alpha 1, element by
# element to float rounding (phi^0 is the final model of the same run at --rounds 0).
# The convention (docs/testing.md): every new flag gets a row here.
. "$(dirname "$0")/common.sh"
PY=/usr/bin/python3
DATA=${FA_TEST_DATA_DIR:-$(cd "$(dirname "$0")/../data" && pwd)}
cd "$WORK"
export OMP_NUM_THREADS=1
k=0
# val FILE KEY: the value of KEY= in the FEDALIGN_RESULT line
val() { grep '^FEDALIGN_RESULT' "$1" | grep -o " $2=[^ ]*" | head -1 | cut -d= -f2; }
# one ARGS...: run tiny with ARGS; its output in $OUT (run$k.txt), its results in run$k.h5
one() {
  k=$((k + 1))
  OUT=run$k.txt
  "$FEDALIGN" run --preset tiny --output "run$k.h5" "$@" < /dev/null > "$OUT" 2>&1 \
    || { echo "FAIL: run $* exited $?" >&2; tail -3 "$OUT" >&2; }
}

declare -A BASE
row() { # expect method flag...
  local want=$1 m=$2; shift 2
  [ -n "${BASE[$m]:-}" ] || { one --method "$m" --quiet; BASE[$m]=$OUT; }
  local b=${BASE[$m]} f
  one --method "$m" --quiet "$@"; f=$OUT
  local g0 g1 p0 p1 i0 i1 got
  g0=$(val "$b" checksum); g1=$(val "$f" checksum)
  p0=$(val "$b" checksum_personal); p1=$(val "$f" checksum_personal)
  i0=$(val "$b" acc_int8_mean); i1=$(val "$f" acc_int8_mean)
  if [ -z "$g1" ] || [ -z "$p1" ] || [ -z "$g0" ]; then fail "[$m $*]: no result line"; return; fi
  got=""
  [ "$g0" != "$g1" ] && got+=G
  [ "$p0" != "$p1" ] && got+=P
  [ -z "$got" ] && [ "$i0" != "$i1" ] && got=I
  [ -n "$got" ] || got=-
  if [ "$got" = "$want" ]; then pass "[$m $*] changes: $want"
  else fail "[$m $*] should change '$want', changed '$got' (checksum $g0 -> $g1, personal $p0 -> $p1, int8 $i0 -> $i1)"; fi
}

while read -r want m flags; do
  [ -n "$want" ] && [ "${want:0:1}" != "#" ] || continue
  row "$want" "$m" $flags
done <<'TABLE'
# phase 2 (the round and the server step)
GP fedmetaalign --alpha 0.5
GP fedmetaalign --floor 0.5
GP fedmetaalign --score loss
GP fedmetaalign --score preacc
GP fedmetaalign --reference prev
GP fedmetaalign --lr 0.01
GP fedmetaalign --local-epochs 2
GP fedmetaalign --batch 16
GP fedmetaalign --rounds 3
GP fedmetaalign --seed 7
GP fedmetaalign --clip 0.5
GP fedmetaalign --dropout 0.3
GP fedmetaalign --client-frac 0.5
GP fedmetaalign --optimizer sgd
GP fedmetaalign --hidden 16
# the cnn1d shape flags leave the mlp alone (their effect on a cnn1d: tests/e2e/test_cnn1d.sh)
-  fedmetaalign --model mlp
-  fedmetaalign --conv 4:3
-  fedmetaalign --pool 3
# server optimizers and SCAFFOLD (issue 16): each flag moves the methods that read it only
GP fedavgm --server-momentum 0.5
GP fedavgm --alpha 0.5
-  fedavgm --server-lr 0.02
GP fedadam --server-lr 0.02
GP fedadam --server-beta1 0.5
GP fedadam --server-beta2 0.9
GP fedadam --server-tau 0.01
-  fedadam --alpha 0.5
-  fedadam --server-momentum 0.5
GP fedyogi --server-beta2 0.9
GP fedadagrad --server-tau 0.01
-  fedadagrad --server-beta2 0.9
GP scaffold --alpha 0.5
GP scaffold --lr 0.01
-  scaffold --server-lr 0.02
-  fedavg --server-momentum 0.5
-  fedavg --server-lr 0.02
-  fedmetaalign --server-tau 0.01
# phases 0 and 1 feed Fed-Meta-Align's starting model
GP fedmetaalign --p0-epochs 1
GP fedmetaalign --p0-lr 0.01
GP fedmetaalign --p1-passes 2
GP fedmetaalign --p1-frac 0.5
# phase 3: the personal models follow it, the global model must not
P  fedmetaalign --p3-lr 0.01
P  fedmetaalign --p3-epochs 1
P  fedmetaalign --no-personalize
P  fedmetaalign --p3-patience 1
P  fedmetaalign --p3-select fixed
P  local --p3-lr 0.01
P  local --p3-patience 1
P  local --p3-select fixed
# int8 evaluation only
I  fedmetaalign --no-int8
# options of other methods, execution and output: no effect on any result
-  fedmetaalign --mu 0.1
-  fedmetaalign --fedavg-uniform
-  fedmetaalign --threads-over clients
-  fedmetaalign --threads-over batch
# (one rank here: --assign's reach, another client map at the same bits, is test_repro's)
-  fedmetaalign --assign balanced
# (client-batched training: the same bits, on and off; test_repro checks the path ran)
-  fedmetaalign --client-batch on
-  fedmetaalign --client-batch off
-  fedprox --client-batch on
-  fedmetaalign --checkpoint-every 1
-  fedmetaalign --target-acc 0.5
-  fedmetaalign --save-models
-  fedmetaalign --verbose
-  fedmetaalign --init foundation
# the baselines
GP fedprox --mu 0.1
GP fedprox --alpha 0.5
GP fedavg --alpha 0.5
GP fedavg --fedavg-uniform
GP fedavg --init foundation
P  fedavg --p3-lr 0.01
-  fedavg --mu 0.1
-  fedavg --floor 0.5
-  fedavg --score loss
-  fedavg --reference prev
-  fedavg --p0-epochs 1
-  fedavg --p1-passes 2
# robust aggregation (4 clients: trim 0.25 cuts one at each end; Multi-Krum keeps m - f)
GP trimmedmean --trim-frac 0.25
GP krum --krum-f 0
GP multikrum --krum-f 0
GP multikrum --krum-m 2
GP median --alpha 0.5
GP fltrust --alpha 0.5
GP fltrust --lr 0.01
-  median --trim-frac 0.25
-  krum --krum-m 2
-  fltrust --krum-f 0
-  fedavg --trim-frac 0.25
-  fedavg --krum-f 0
-  fedmetaalign --krum-m 2
# personalized FL: Ditto's lambda reaches the personal models only (its global model is
# FedAvg's); FedPer's head size moves the shared body too
P  ditto --ditto-lambda 1
P  ditto --no-personalize
GP ditto --lr 0.01
-  ditto --fedper-head-layers 2
-  fedavg --ditto-lambda 1
GP fedper --fedper-head-layers 2
P  fedper --no-personalize
-  fedper --ditto-lambda 1
-  fedavg --fedper-head-layers 2
GP perfedavg --perfedavg-alpha 0.05
P  perfedavg --no-personalize
-  perfedavg --ditto-lambda 1
-  fedavg --perfedavg-alpha 0.05
-  ditto --perfedavg-alpha 0.05
TABLE

# --p3-patience acts only on model selection: the fixed schedule ignores it
one --method fedmetaalign --quiet --p3-select fixed; fx=$OUT
one --method fedmetaalign --quiet --p3-select fixed --p3-patience 1
[ "$(sums "$OUT")" = "$(sums "$fx")" ] && pass "--p3-patience changes nothing with --p3-select fixed" \
  || fail "--p3-patience changes the fixed schedule"

# --quiet (left out of the table's base runs) and --output (every run above writes its
# own file) change no result either
one --method fedmetaalign
[ "$(sums "$OUT")" = "$(sums "${BASE[fedmetaalign]}")" ] && pass "--quiet changes nothing" || fail "--quiet changes the results"

# the int8 summaries are what their names say (docs/results-format.md): the means over
# clients of acc_p3_int8 and of acc_p3 - acc_p3_int8 (a field written from the wrong
# member would pass every self-comparison)
"$PY" - "${BASE[fedmetaalign]%.txt}.h5" <<'PYEOF' && pass "acc_int8_mean and int8_drop_mean match the per-client values" \
  || fail "acc_int8_mean / int8_drop_mean do not match acc_p3 and acc_p3_int8"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
(name,) = list(f["methods"])
g = f["methods"][name]
a3, a8 = g["acc_p3"][...], g["acc_p3_int8"][...]
ok = np.isclose(g.attrs["acc_int8_mean"], a8.mean(), rtol=0, atol=1e-9) and \
     np.isclose(g.attrs["int8_drop_mean"], (a3 - a8).mean(), rtol=0, atol=1e-9)
sys.exit(0 if ok else 1)
PYEOF

# equivalent spellings of a value change nothing: quoted names in a --label-cols list
# (a generated file: big enough to hold out public and test rows for every client)
csvf=$WORK/gc.csv
/usr/bin/python3 -c "
import random
random.seed(3)
print('G,C,Ia,Va')
for i in range(240):
    g, c = i % 2, (i // 2) % 2
    print(f'{g},{c},{g + random.random():.4f},{c - random.random():.4f}')
" > "$csvf"
for l in 'G,C' '"G","C"' ' G , C '; do
  k=$((k + 1))
  "$FEDALIGN" data --dataset "csv:$csvf" --label-cols "$l" --describe --clients 2 --min-samples 1 \
    < /dev/null > "lc$k.txt" 2>&1 || fail "data --label-cols '$l' failed: $(tail -1 "lc$k.txt")"
  [ "$l" = 'G,C' ] && first=lc$k.txt
  cmp -s "$first" "lc$k.txt" && pass "--label-cols '$l' = 'G,C'" || fail "--label-cols '$l' differs from 'G,C'"
done

# the server learning rate scales the update element by element
alpha_half() { # method
  local m=$1 a0 a1 ah
  one --method "$m" --quiet --no-personalize --rounds 0; a0=run$k.h5
  one --method "$m" --quiet --no-personalize --rounds 1 --alpha 1; a1=run$k.h5
  one --method "$m" --quiet --no-personalize --rounds 1 --alpha 0.5; ah=run$k.h5
  "$PY" - "$a0" "$a1" "$ah" <<'PYEOF'
import sys, h5py, numpy as np
def g(p):
    f = h5py.File(p, "r")
    (name,) = list(f["methods"])
    return f["methods"][name]["final_global"][...].astype(np.float64)
p0, p1, ph = (g(p) for p in sys.argv[1:4])
d1, dh = p1 - p0, ph - p0
# each model is base + alpha * step rounded to float once: allow one float ulp of the
# values involved (the differences themselves are exact in double)
tol = np.spacing(np.maximum(np.maximum(abs(p0), abs(p1)), abs(ph)).astype(np.float32)).astype(np.float64)
err = np.abs(dh - 0.5 * d1)
moved = np.count_nonzero(d1)
print(f"# update elements {d1.size}, nonzero {moved}, max |d(0.5) - d(1)/2| / ulp = {np.max(err / tol):.3f}")
sys.exit(0 if moved > d1.size // 2 and np.all(err <= tol) else 1)
PYEOF
}
# rates mean what they say: over 50 rounds x 4 clients, --client-frac 0.5 selects about
# half the clients and --dropout 0.5 drops about half the selected ones (rc_status bits
# FA_ST_SELECTED = 1, FA_ST_DROPPED = 2; the seeded draws make this deterministic, and
# 0.4..0.6 is more than 2.5 standard deviations either side)
one --method fedavg --quiet --rounds 50 --no-personalize --no-int8 --client-frac 0.5 --dropout 0.5
"$PY" - "run$k.h5" <<'PYEOF' && pass "--client-frac 0.5 and --dropout 0.5: about half selected, half of those dropped" \
  || fail "--client-frac 0.5 / --dropout 0.5 do not select / drop about half"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
(name,) = list(f["methods"])
st = f["methods"][name]["rc_status"][...].astype(np.int64)
sel = (st & 1) != 0
drop = (st & 2) != 0
fs, fd = sel.mean(), drop[sel].mean()
print(f"# selected share {fs:.3f}, dropped share of selected {fd:.3f}")
sys.exit(0 if 0.4 <= fs <= 0.6 and 0.4 <= fd <= 0.6 else 1)
PYEOF

for m in fedmetaalign fedavg; do
  alpha_half "$m" && pass "$m: update at --alpha 0.5 = half the update at --alpha 1" \
    || fail "$m: the update at --alpha 0.5 is not half the update at --alpha 1"
done
finish
