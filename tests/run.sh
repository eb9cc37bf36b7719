#!/usr/bin/env bash
# The test command (README): build fedalign (Release) and run every CTest test
# (labels unit, mpi, e2e; not the long ones labelled mutation or soak), then rebuild the serial unit tests with ASan/UBSan and
# run them again. Exit code is the verdict. Needs the Debian packages that
# .ci/run installs (jobs/setup.sh installs them too).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
# Open MPI refuses root without an explicit opt-in; tests oversubscribe 2 cores.
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMPI_MCA_rmaps_base_oversubscribe=1

bash "$root/jobs/setup.sh"

echo "== build (Release) =="
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j"$jobs"
echo "== ctest (unit, mpi, e2e) =="
(cd "$root/build" && ctest --output-on-failure -j1 -LE "mutation|soak" "$@")

echo "== unit tests under ASan/UBSan =="
cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DFEDALIGN_ENABLE_SANITIZERS=ON >/dev/null
cmake --build "$root/build-asan" -j"$jobs"
(cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
   ctest --output-on-failure -L unit)
