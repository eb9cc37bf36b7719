#!/usr/bin/env bash
# Classification metrics in the results file (label e2e; issue 13): bit-identical for 1
# rank x 1 thread and 3 ranks x 2 threads; the pooled confusion matrices agree with the
# accuracies (trace / sum = acc_global) and the F1 and recall fields are what
# docs/results-format.md says they are (recomputed here from the counts).
. "$(dirname "$0")/common.sh"
cd "$WORK"
OMP_NUM_THREADS=1 mpirun_n 1 "$FEDALIGN" suite --preset tiny --quiet --output a.h5 < /dev/null > a.txt 2>&1 || fail "suite -n 1 exited $?"
OMP_NUM_THREADS=2 mpirun_n 3 "$FEDALIGN" suite --preset tiny --quiet --output b.h5 < /dev/null > b.txt 2>&1 || fail "suite -n 3 exited $?"
/usr/bin/python3 - a.h5 b.h5 <<'PYEOF' && pass "metrics: same bits on 1 and 3 ranks, consistent with the counts" || fail "metrics check"
import sys, math, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = ["f1_p2", "f1_p3", "recall_p2", "recall_p3", "recall_global", "recall_personal",
         "confusion_global", "confusion_personal"]
attrs = ["classes", "f1_global", "f1_personal", "f1_personal_mean"]
def f1(cm):
    s, u = 0.0, 0
    for c in range(cm.shape[0]):
        sup, pred = int(cm[c].sum()), int(cm[:, c].sum())
        if sup + pred: s += 2.0 * int(cm[c, c]) / (sup + pred); u += 1
    return s / u if u else math.nan
bad = []
for g in a["methods"]:
    x, y = a["methods"][g], b["methods"][g]
    for n in names:
        if not np.array_equal(x[n][...], y[n][...], equal_nan=True): bad.append(f"{g}/{n} differs")
    for n in attrs:
        if not np.array_equal(np.asarray(x.attrs[n]), np.asarray(y.attrs[n]), equal_nan=True): bad.append(f"{g}/@{n} differs")
    K = int(x.attrs["classes"])
    cg, cp = x["confusion_global"][...], x["confusion_personal"][...]
    if cg.shape != (K, K) or x["recall_p3"].shape[1] != K: bad.append(f"{g}: shapes")
    if x.attrs["method"] != b"local" and x.attrs["method"] != "local":
        if cg.sum() == 0 or np.trace(cg) / cg.sum() != x.attrs["acc_global"]: bad.append(f"{g}: trace/sum != acc_global")
        if not math.isclose(f1(cg), x.attrs["f1_global"], abs_tol=1e-12): bad.append(f"{g}: f1_global")
    if not math.isclose(f1(cp), x.attrs["f1_personal"], abs_tol=1e-12): bad.append(f"{g}: f1_personal")
    rec = np.where(cp.sum(1) > 0, np.diag(cp) / np.maximum(cp.sum(1), 1), np.nan)
    if not np.allclose(rec, x["recall_personal"][...], equal_nan=True, atol=1e-12): bad.append(f"{g}: recall_personal")
    fm = x["f1_p3"][...]
    if not math.isclose(np.nanmean(fm), x.attrs["f1_personal_mean"], abs_tol=1e-12): bad.append(f"{g}: f1_personal_mean")
    # the pooled test rows are every client's test rows
    if cp.sum() != int(a["clients"]["n_test"][...].sum()): bad.append(f"{g}: pooled rows")
print("\n".join(bad)) if bad else None
sys.exit(1 if bad else 0)
PYEOF
finish
