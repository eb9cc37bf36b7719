# Shared helpers for the end-to-end tests (sourced). CTest sets FEDALIGN, MPIEXEC,
# FA_SHARED_DATASETS, FA_TEST_DATA_DIR. Root needs Open MPI's opt-in, which CI sets;
# set it here too so a developer running ctest as root gets the same behaviour.
set -u
: "${FEDALIGN:?FEDALIGN (path of the fedalign binary) must be set}"
: "${MPIEXEC:=mpiexec}"
if [ "$(id -u)" = 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1
TESTS_BIN=$(dirname "$FEDALIGN")/tests
FAILS=0
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
mpirun_n() { local n=$1; shift; "$MPIEXEC" -n "$n" "$@"; }
finish() {
  if [ "$FAILS" -ne 0 ]; then echo "$FAILS check(s) failed" >&2; exit 1; fi
  echo "all checks passed"
}

# sums FILE: the method, checksum and checksum_personal of each FEDALIGN_RESULT line
sums() { grep '^FEDALIGN_RESULT' "$1" | grep -o 'method=[^ ]*\|checksum=[^ ]*\|checksum_personal=[^ ]*' | paste -d' ' - - -; }
same_h5() { # every method dataset and attribute except wall times must be identical (NaN == NaN)
  /usr/bin/python3 - "$1" "$2" <<'PYEOF'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
bad = []
for g in a["methods"]:
    if g not in b["methods"]: bad.append(g); continue
    ga, gb = a["methods"][g], b["methods"][g]
    for d in ga:
        if d in ("timers", "round_time", "round_train_max", "round_train_mean"): continue
        x, y = ga[d][...], gb[d][...]
        if x.shape != y.shape or not np.array_equal(x, y, equal_nan=True): bad.append(g + "/" + d)
    # wall times differ between runs; every other attribute (int8 summaries, checksums,
    # budgets, rounds_done, ...) must come back identical, e.g. after a resume
    # (rows_imbalance is a property of the rank count and --assign, not of the result)
    wall = {"time_total", "secs_to_target", "train_imbalance", "rows_imbalance"}
    if set(ga.attrs) != set(gb.attrs): bad.append(g + ": attribute sets differ")
    for k in set(ga.attrs) & set(gb.attrs) - wall:
        x, y = np.asarray(ga.attrs[k]), np.asarray(gb.attrs[k])
        same = x.shape == y.shape and (np.array_equal(x, y, equal_nan=True) if x.dtype.kind == "f" else np.array_equal(x, y))
        if not same: bad.append(g + "/@" + k)
if set(a["methods"]) != set(b["methods"]): bad.append("method sets differ")
for d in a["clients"]:
    if not np.array_equal(a["clients"][d][...], b["clients"][d][...]) and d != "rank": bad.append("clients/" + d)
print("differs:", bad) if bad else None
sys.exit(1 if bad else 0)
PYEOF
}
run_tiny2() { # OUT ARGS...: run --preset tiny at -n 2 with ARGS into OUT.h5 / OUT.txt
  local out=$1; shift
  mpirun_n 2 "$FEDALIGN" run --preset tiny --quiet --output "$out.h5" "$@" < /dev/null > "$out.txt" 2>&1 \
    || { fail "run $* exited $?"; tail -3 "$out.txt" >&2; }
}
