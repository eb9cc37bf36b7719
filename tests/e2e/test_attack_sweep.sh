#!/usr/bin/env bash
# Attack sweep (label e2e): jobs/attack_sweep.sh runs one suite per (attack, fraction,
# seed) with the METHODS rows, a second --init foundation suite with the FOUND methods'
# @found rows, and the clean cell (--attack none, both suites) once per seed; by default the rows are
# every method of `fedalign run --help` except local. analysis/attack_plot.py plots every
# method present, pairs methods by seed (a seed missing for one method of a cell drops
# that seed from the cell, with a message) and writes the --md table with the best method
# per attack in bold and Fed-Meta-Align's rank.
. "$(dirname "$0")/common.sh"
PY=/usr/bin/python3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
"$PY" -c 'import h5py, matplotlib' 2>/dev/null || { echo "skip: h5py/matplotlib missing"; exit 77; }
cd "$WORK"
export FA_BIN=$FEDALIGN RANKS=2 OMP_NUM_THREADS=1
SWEEP=$ROOT/jobs/attack_sweep.sh

OUT=$WORK/res METHODS=fedmetaalign,fedavg,median FOUND=median KINDS="signflip nan" \
  FRACS="0 0.3" SEEDS="1 2" bash "$SWEEP" > sweep.log 2>&1 || { fail "sweep failed"; cat sweep.log >&2; }
for s in 1 2; do
  for f in none_0 none_0_found signflip_0.3 signflip_0.3_found nan_0.3 nan_0.3_found; do
    [ -s "res/${f}_s$s.h5" ] || fail "missing res/${f}_s$s.h5"
  done
  for f in signflip_0 nan_0 signflip_0_found; do
    [ -e "res/${f}_s$s.h5" ] && fail "res/${f}_s$s.h5: the clean cell runs once per seed"
  done
done
[ "$FAILS" = 0 ] && pass "one suite per cell, clean cell once per seed"
rows=$("$PY" -c 'import h5py,sys; print(",".join(g.split("_",1)[1] for g in h5py.File(sys.argv[1],"r")["methods"]))' res/signflip_0.3_found_s1.h5)
[ "$rows" = "median@found" ] && pass "FOUND rows run from the foundation model" || fail "found suite rows: $rows"

# default METHODS: the method table of the binary, minus local
want=$("$FEDALIGN" run --help | sed -n 's/^ *--method NAME .*: \([a-z|]*\) \[.*/\1/p' | tr '|' '\n' | grep -vx local | paste -sd, -)
OUT=$WORK/dflt FOUND= KINDS=nan FRACS=0.3 SEEDS=1 bash "$SWEEP" > dflt.log 2>&1 || { fail "default sweep failed"; cat dflt.log >&2; }
got=$("$PY" -c 'import h5py,sys; print(",".join(g.split("_",1)[1] for g in h5py.File(sys.argv[1],"r")["methods"]))' dflt/nan_0.3_s1.h5)
case ",$want," in *,scaffold,*) ;; *) fail "method list from run --help looks wrong: $want" ;; esac
[ "$got" = "$want" ] && pass "default rows = every federated method ($got)" || fail "default rows '$got' != '$want'"
ls dflt/*found* > /dev/null 2>&1 && fail "FOUND= (empty) still ran @found suites"

"$PY" "$ROOT/analysis/attack_plot.py" --out plot.png --md 0.3 res > table.txt 2> plot.err \
  || { fail "attack_plot failed"; cat plot.err >&2; }
[ -s plot.png ] && pass "plot written" || fail "no plot"
for m in fedmetaalign fedavg median median@found; do
  grep -q "^| $m | [*0-9]" table.txt || fail "table lacks $m"
done
grep -q '^| method | nan | signflip |$' table.txt || fail "table columns are not the attacks"
grep -q '^| \*Fed-Meta-Align.s rank\* | [1-4] of 4 | [1-4] of 4 |$' table.txt || fail "no rank row"
grep -q '^| \*its rank among the rows from random weights\* | [1-3] of 3 | [1-3] of 3 |$' table.txt || fail "no rank row without the @found rows"
[ "$(grep -c '\*\*[0-9]' table.txt)" -ge 2 ] || fail "no best value in bold per attack"
grep -q '^| signflip | fedmetaalign | [0-9.]* | [0-9.]* |$' table.txt || fail "clean runs are not the fraction-0 point"
grep -q 'over 2 seeds' table.txt && pass "table over 2 seeds" || fail "table not over 2 seeds"

# pairing: without median@found's seed 2 the signflip cell keeps seed 1 only
rm res/signflip_0.3_found_s2.h5
"$PY" "$ROOT/analysis/attack_plot.py" --out plot2.png --md 0.3 res > table2.txt 2> plot2.err || fail "attack_plot (unpaired) failed"
grep -q 'signflip:0.3: seeds \[2\] not run by every method' plot2.err && pass "unpaired seed dropped with a message" \
  || { fail "no pairing message"; cat plot2.err >&2; }
grep -q 'over 1/2 seeds' table2.txt || fail "pairing did not change the seed count"
fa=$(grep '^| fedmetaalign |' table2.txt | cut -d'|' -f4)
fa1=$("$PY" -c 'import h5py,sys; f=h5py.File(sys.argv[1],"r")["methods"]; print("%.1f"%(100*float(f[[g for g in f if g.endswith("_fedmetaalign")][0]]["round_acc"][-1])))' res/signflip_0.3_s1.h5)
[ "$(echo $fa)" = "$fa1 ± 0.0" ] && pass "paired cell uses seed 1 only" || fail "signflip fedmetaalign '$fa' != seed 1 '$fa1 ± 0.0'"
"$PY" "$ROOT/analysis/attack_plot.py" --out x.png "$WORK/empty" > /dev/null 2>&1 && fail "no input must fail"
finish
