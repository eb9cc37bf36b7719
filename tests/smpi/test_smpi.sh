#!/usr/bin/env bash
# SMPI build (label smpi, docs/scaling.md "Simulated cluster"): fedalign compiled with
# smpicc (-DFEDALIGN_ENABLE_SMPI=ON, into FA_SMPI_BUILD) and run under smpirun on the
# fat-tree platform gives the checksums of a native `mpirun -n 1` run at 4 and 64
# simulated ranks, the same again when repeated (all simulated ranks share one OS
# thread: shared state would show here), simulated per-phase times, no results file,
# and a clear refusal of --resume. Skipped (77) with the reason when SimGrid is absent.
source "$(dirname "$0")/../e2e/common.sh"
if ! command -v smpicc >/dev/null || ! command -v smpirun >/dev/null; then
  echo "SKIP: SimGrid's smpicc/smpirun not found (apt-get install libsimgrid-dev; jobs/setup.sh installs it)"
  exit 77
fi
: "${FA_SOURCE_DIR:?FA_SOURCE_DIR (repository root) must be set}"
: "${FA_SMPI_BUILD:=$(dirname "$FEDALIGN")/smpi}"
platform=$FA_SOURCE_DIR/jobs/platforms/fat_tree_1024.xml

cmake -S "$FA_SOURCE_DIR" -B "$FA_SMPI_BUILD" -DCMAKE_BUILD_TYPE=Release -DFEDALIGN_ENABLE_SMPI=ON \
  > "$WORK/cfg.log" 2>&1 || { cat "$WORK/cfg.log"; fail "SMPI configure"; finish; }
cmake --build "$FA_SMPI_BUILD" -j2 > "$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; fail "SMPI build"; finish; }
if grep -q 'warning:' "$WORK/build.log"; then grep 'warning:' "$WORK/build.log"; fail "SMPI build warns"; fi
SMPI=$FA_SMPI_BUILD/fedalign

# 64 clients: at 64 ranks one client each, so every rank trains, reduces and personalizes
args=(run --preset tiny --clients 64 --seed 7)
smpi() { # smpi NP TAG [extra args]: run under smpirun in $WORK/TAG (its own working directory)
  local np=$1 tag=$2; shift 2
  mkdir -p "$WORK/$tag"
  (cd "$WORK/$tag" && smpirun -np "$np" -platform "$platform" --cfg=smpi/host-speed:20Gf \
     --log=root.thres:warning "$SMPI" "$@" > out.txt 2> err.txt)
}

(cd "$WORK" && OMP_NUM_THREADS=1 mpirun_n 1 "$FEDALIGN" "${args[@]}" --output "$WORK/native.h5" > native.txt) ||
  fail "native run"
sums "$WORK/native.txt" > "$WORK/native.sums"
[ -s "$WORK/native.sums" ] || fail "native run printed no FEDALIGN_RESULT line"

for run in 4:np4 64:np64 64:np64_again; do
  np=${run%%:*} tag=${run#*:}
  if ! smpi "$np" "$tag" "${args[@]}"; then tail -5 "$WORK/$tag/err.txt"; fail "smpirun -np $np"; continue; fi
  if [ "$(sums "$WORK/$tag/out.txt")" = "$(cat "$WORK/native.sums")" ]; then pass "$tag: checksums = native -n 1"
  else fail "$tag: checksums differ from native -n 1: $(sums "$WORK/$tag/out.txt") vs $(cat "$WORK/native.sums")"; fi
done

# the timers are the simulation's clock: training time is charged (host-speed = node speed)
t=$(grep '^FEDALIGN_RESULT' "$WORK/np4/out.txt" | grep -o ' t_train_max=[^ ]*' | cut -d= -f2)
awk -v t="${t:-0}" 'BEGIN { exit !(t > 0) }' && pass "simulated t_train_max=$t > 0" ||
  fail "simulated training time is not charged (t_train_max=${t:-none})"

# no HDF5 in this build: said once on stderr, nothing written, --resume refused
grep -q 'SMPI build writes no HDF5 files' "$WORK/np4/err.txt" && pass "no-results-file note" ||
  fail "the run does not say that it writes no results file"
if grep -q 'results written to' "$WORK/np4/out.txt"; then fail "claims a results file it did not write"
else pass "claims no results file"; fi
[ -z "$(find "$WORK/np4" -name '*.h5*')" ] && pass "no results file written" || fail "files written: $(find "$WORK/np4" -name '*.h5*')"
smpi 2 resume "${args[@]}" --resume "$WORK/native.h5"; rc=$?
if [ "$rc" -ne 0 ] && grep -q 'SMPI build has no HDF5' "$WORK/resume/err.txt"; then pass "--resume refused (exit $rc)"
else fail "--resume under SMPI: exit $rc, $(tail -2 "$WORK/resume/err.txt")"; fi
finish
