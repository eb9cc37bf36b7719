#!/usr/bin/env bash
# Phase-3 model selection (--p3-select val, docs/algorithm.md "Phase 3"; label e2e):
# - every client's kept model is exactly the model of the fixed schedule of that many
#   epochs (--p3-select fixed --p3-epochs k, same lr), and epoch 0 is the global model:
#   selection picks an epoch of the training run, it does not train differently;
# - the stored epochs obey the rules: kept <= trained <= budget, early stopping after
#   exactly --p3-patience epochs without a better one (or the whole budget), patience 0
#   trains the whole budget; the means and budget_client_epochs_used match the per-client
#   values; the report prints them;
# - the same bits at 1 and 3 ranks and 1 and 2 threads.
. "$(dirname "$0")/common.sh"
PY=/usr/bin/python3
cd "$WORK"
export OMP_NUM_THREADS=1
B=8 # budget; tiny's clients keep their best epoch well inside it
run() { # out args...
  local o=$1; shift
  mpirun_n 2 "$FEDALIGN" run --preset tiny --method fedmetaalign --save-models \
    --output "$o.h5" "$@" < /dev/null > "$o.txt" 2>&1 || fail "run $* exited $?"
}
run val --p3-epochs $B --p3-lr 0.003 --p3-patience 2
grep -q "personalization (best validation epoch): kept epoch" val.txt \
  && pass "the results block shows the kept and trained epochs" || fail "no personalization line in the report"
# the per-client kept epochs, one per line
"$PY" - val.h5 $B 2 > kept.txt <<'PYEOF' || fail "stored phase-3 epochs break the selection rules"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
budget, pat = float(sys.argv[2]), float(sys.argv[3])
(name,) = list(f["methods"])
g = f["methods"][name]
best, run = g["p3_epoch_best"][...], g["p3_epochs_run"][...]
ok = bool(np.all((0 <= best) & (best <= run) & (run <= budget)))
ok &= bool(np.all(best == np.floor(best)))
ok &= bool(np.all((run == budget) | (run - best == pat)))  # stopped exactly after patience
ok &= np.isclose(g.attrs["p3_epoch_best_mean"], best.mean(), rtol=0, atol=1e-12)
ok &= np.isclose(g.attrs["p3_epochs_run_mean"], run.mean(), rtol=0, atol=1e-12)
used = g.attrs["budget_client_epochs"] - budget + run.mean()
ok &= np.isclose(g.attrs["budget_client_epochs_used"], used, rtol=0, atol=1e-9)
for k in best: print(int(k))
print("kept", best, "trained", run, file=sys.stderr)
sys.exit(0 if ok else 1)
PYEOF
[ -s kept.txt ] || fail "no kept epochs read"
# the oracle: each kept model is the fixed schedule's model of that many epochs
for k in $(sort -u kept.txt); do
  [ "$k" = 0 ] && continue
  run "fix$k" --p3-select fixed --p3-epochs "$k" --p3-lr 0.003
done
"$PY" - val.h5 kept.txt <<'PYEOF' && pass "every kept model is the fixed-epoch model of its epoch (epoch 0: the global model)" \
  || fail "a kept model differs from the fixed-epoch model of the same epoch"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
(name,) = list(f["methods"])
g = f["methods"][name]
kept = [int(l) for l in open(sys.argv[2])]
bad = []
for i, k in enumerate(kept):
    want = g["final_global"][...] if k == 0 else h5py.File(f"fix{k}.h5", "r")["methods"][name]["personal_models"][i]
    if not np.array_equal(g["personal_models"][i].view(np.uint32), want.view(np.uint32)): bad.append((i, k))
print("differ:", bad) if bad else None
sys.exit(1 if bad else 0)
PYEOF
# selection does something: not every client keeps the last epoch trained
"$PY" -c "
import h5py, sys
g = h5py.File('val.h5', 'r')['methods']; g = g[list(g)[0]]
sys.exit(0 if (g['p3_epoch_best'][...] < g['p3_epochs_run'][...]).any() else 1)" \
  && pass "early stopping: some client trained past its kept epoch" || fail "every client kept its last epoch (no selection seen)"

# patience 0: the whole budget is trained by every client
run whole --p3-epochs $B --p3-lr 0.003 --p3-patience 0
"$PY" -c "
import h5py, sys
g = h5py.File('whole.h5', 'r')['methods']; g = g[list(g)[0]]
sys.exit(0 if (g['p3_epochs_run'][...] == $B).all() else 1)" \
  && pass "--p3-patience 0 trains the whole budget" || fail "--p3-patience 0 stopped early"

# fixed mode stores the fixed epochs; without personalization nothing is stored
"$PY" -c "
import h5py, sys, numpy as np
g = h5py.File('fix$(sort -u kept.txt | tail -1).h5', 'r')['methods']; g = g[list(g)[0]]
k = $(sort -u kept.txt | tail -1)
sys.exit(0 if k == 0 or ((g['p3_epoch_best'][...] == k).all() and (g['p3_epochs_run'][...] == k).all()) else 1)" \
  && pass "fixed mode stores --p3-epochs as kept and trained" || fail "fixed mode stores other epochs"
run nop --no-personalize
"$PY" -c "
import h5py, sys, numpy as np
g = h5py.File('nop.h5', 'r')['methods']; g = g[list(g)[0]]
sys.exit(0 if np.isnan(g['p3_epoch_best'][...]).all() and np.isnan(g.attrs['p3_epochs_run_mean']) else 1)" \
  && pass "--no-personalize stores no phase-3 epochs" || fail "phase-3 epochs stored without phase 3"

# ranks and threads: the same kept epochs and bits (the validation count is exact)
for nt in "1 1" "3 2"; do
  set -- $nt
  OMP_NUM_THREADS=$2 mpirun_n "$1" "$FEDALIGN" suite --preset tiny --quiet --p3-epochs $B \
    --p3-patience 2 --output "s$1$2.h5" < /dev/null > "s$1$2.txt" 2>&1 || fail "suite -n $1 t $2 failed"
done
[ -n "$(sums s11.txt)" ] && [ "$(sums s11.txt)" = "$(sums s32.txt)" ] \
  && pass "suite: same checksums at -n 1 t 1 and -n 3 t 2" || fail "suite checksums differ across ranks/threads"
grep -q "p3 kept/run" s11.txt && pass "the suite table has the p3 kept/run column" || fail "no p3 column in the suite table"
finish
