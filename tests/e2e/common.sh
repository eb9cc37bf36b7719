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
