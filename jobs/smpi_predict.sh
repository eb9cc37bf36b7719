#!/usr/bin/env bash
# SMPI predictions (docs/scaling.md "Predictions"): weak scaling (FA_CPR clients per rank)
# and strong scaling (FA_STRONG_CLIENTS total clients) of fedalign on the simulated
# platforms of jobs/platforms, for each model of FA_MODELS, from 1 to 1,024 simulated
# ranks; then analysis/scaling.py --smpi plots them.
# Every run executes the real code (the checksums are the native ones; no compute is
# skipped or sampled), so host time grows with the total work: the sizes below are small
# on purpose and every variable can be raised on a bigger host.
# Usage: bash jobs/smpi_predict.sh [OUTDIR]   (default results/smpi_predict_<UTC stamp>)
# Env (defaults):
#   FA_SMPI_BIN      SMPI build of fedalign (build-smpi/fedalign; built here if missing)
#   FA_PLATFORMS     platform files ("jobs/platforms/fat_tree_1024.xml jobs/platforms/edge_iot_1024.xml")
#   FA_MODELS        --hidden values ("64,32 512,512")
#   FA_RANKS         rank points ("1 4 16 64 256 1024"); FA_RANKS_<model> (512_512) overrides per model
#   FA_CPR           weak: clients per rank ("1"; "" = no weak series)
#   FA_STRONG_CLIENTS strong: total clients ("10000 100000"; "" = no strong series);
#                    a strong point needs ranks <= clients
#   FA_ARGS          run flags ("--preset tiny --rounds 3 --samples 100 --watchdog 0": the
#                    watchdog barrier polls with MPI_Testall and 1 ms sleeps, which SMPI
#                    simulates literally; 0 makes it a plain MPI_Barrier)
#   FA_HOST_SPEED    smpi/host-speed (default: measured by jobs/smpi_calibrate.sh)
#   FA_SMPI_CFG      extra smpirun options ("--cfg=smpi/coll-selector:ompi": Open MPI's
#                    collective algorithms, the MPI of the native build; SMPI's default
#                    MPI_Allgather posts p-1 sends and receives per rank and completes them
#                    with a linear waitany, O(p^3) host time in all: a 128-rank point took
#                    358 s with it and 3.5 s with this, same checksums). Not passed at
#                    one rank, which has no messages to simulate: there SimGrid 3.32's
#                    ompi reduce pipeline (large Reduce) aborts with "Actor pid=-1 is gone"
# Output: OUTDIR/<platform>_<model>_<kind>_c<clients>_r<ranks>.txt, each the run's stdout
# after one "# smpi ..." line naming the point and the host seconds it took.
# Cost: a simulated rank costs about 0.1 s of host CPU time to set up, and every client's
# training runs for real on the host; measured on a 2-core host in docs/scaling.md.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-results/smpi_predict_$(date -u +%Y%m%dT%H%M%SZ)}
bin=${FA_SMPI_BIN:-$root/build-smpi/fedalign}
if [ ! -x "$bin" ]; then
  cmake -S "$root" -B "$root/build-smpi" -DCMAKE_BUILD_TYPE=Release -DFEDALIGN_ENABLE_SMPI=ON >/dev/null &&
    cmake --build "$root/build-smpi" -j"$(nproc)" >/dev/null || { echo "smpi_predict: SMPI build failed" >&2; exit 1; }
  bin=$root/build-smpi/fedalign
fi
mkdir -p "$out"
hs=${FA_HOST_SPEED:-}
if [ -z "$hs" ]; then
  bash "$root/jobs/smpi_calibrate.sh" "$out/host_speed.txt" || exit 1
  hs=$(cat "$out/host_speed.txt")
fi
read -r -a args <<< "${FA_ARGS:---preset tiny --rounds 3 --samples 100 --watchdog 0}"
read -r -a cfg <<< "${FA_SMPI_CFG---cfg=smpi/coll-selector:ompi}"

point() { # point PLATFORM MODEL KIND CLIENTS RANKS
  local pf model=$2 kind=$3 c=$4 p=$5 name
  pf=$(readlink -f "$1") # the run's working directory is $out
  name=$(basename "$pf" .xml)_${model/,/_}_${kind}_c${c}_r${p}
  [ -s "$out/$name.txt" ] && return 0 # a rerun completes a partial study
  local t0=$SECONDS o=()
  [ "$p" -gt 1 ] && o=("${cfg[@]}")
  (cd "$out" && smpirun -np "$p" -platform "$pf" --cfg=smpi/host-speed:"$hs" "${o[@]}" --log=root.thres:warning \
     "$bin" run "${args[@]}" --hidden "$model" --clients "$c" > "$name.tmp" 2> "$name.err") ||
    { echo "smpi_predict: $name failed: $(tail -2 "$out/$name.err")" >&2; return 1; }
  { echo "# smpi platform=$(basename "$pf" .xml) model=$model kind=$kind clients=$c ranks=$p host_s=$((SECONDS - t0)) cfg=$(IFS=,; echo "${o[*]}")"
    cat "$out/$name.tmp"; } > "$out/$name.txt"
  rm -f "$out/$name.tmp"
  echo "$name: $((SECONDS - t0)) s host, $(grep -o 'time_total_s=[^ ]*' "$out/$name.txt")"
}

for pf in ${FA_PLATFORMS:-$root/jobs/platforms/fat_tree_1024.xml $root/jobs/platforms/edge_iot_1024.xml}; do
  for model in ${FA_MODELS:-64,32 512,512}; do
    v=FA_RANKS_${model/,/_}
    ranks=${!v:-${FA_RANKS:-1 4 16 64 256 1024}}
    for cpr in ${FA_CPR-1}; do
      for p in $ranks; do point "$pf" "$model" weak $((cpr * p)) "$p"; done
    done
    for c in ${FA_STRONG_CLIENTS-10000 100000}; do
      for p in $ranks; do [ "$p" -le "$c" ] && point "$pf" "$model" strong "$c" "$p"; done
    done
  done
done
/usr/bin/python3 "$root/analysis/scaling.py" --smpi "$out" --out "$out/report" ||
  echo "smpi_predict: the plots failed (runs are in $out)" >&2
echo "smpi_predict: $out"
