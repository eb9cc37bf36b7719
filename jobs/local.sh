#!/usr/bin/env bash
# The README's run command: the main job on a workstation.
#
# Measures: `fedalign suite` (Fed-Meta-Align, its ablations, FedAvg, FedProx, local-only,
# each with and without personalization) on the built-in electrical and mechanical
# device data with heterogeneous devices, over the local cores with mpirun.
# Installs missing Debian packages (as root), builds a Release binary into build/,
# writes one HDF5 results file and one log per dataset to results/, runs the analysis
# (analysis/report.py) into report/local/, and ends with the accuracy table and the
# paths of the plots. Expected cost: about 1-2 minutes on 2 cores with preset "small".
set -euo pipefail
usage() {
  cat <<USAGE
Usage: jobs/local.sh [options]
  --dataset LIST   comma list of electrical,mechanical,csv:PATH [electrical,mechanical]
  --clients N      clients (devices) [preset's: 10]
  --ranks N        MPI ranks [number of cores: $(nproc)]
  --preset NAME    tiny|small|paper|large [small]
  --output DIR     results directory [results]
  --report DIR     analysis output (tables, plots) [report/local]
  --seed S         seed [1234]
  -- ARGS          further flags passed to fedalign suite
Environment: FEDALIGN=path/to/fedalign uses that binary and skips the install and build
steps (the tests do this).
USAGE
}
root=$(cd "$(dirname "$0")/.." && pwd)
datasets="electrical,mechanical"; clients=""; ranks=$(nproc); preset=small; outdir="$root/results"; seed=1234
report="$root/report/local"
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dataset) datasets=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --preset) preset=$2; shift 2 ;;
    --output) outdir=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --report) report=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "jobs/local.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
if [ -n "${FEDALIGN:-}" ]; then
  fa=$FEDALIGN
else
  bash "$root/jobs/setup.sh"
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$root/build" -j"$(nproc)" >/dev/null
  fa="$root/build/fedalign"
fi
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
mkdir -p "$outdir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
threads=$(( $(nproc) / ranks )); [ "$threads" -ge 1 ] || threads=1
export OMP_NUM_THREADS=$threads
IFS=',' read -r -a dslist <<< "$datasets"
logs=()
files=()
for ds in "${dslist[@]}"; do
  name=${ds//[:\/]/_}
  log="$outdir/suite_${name}_${stamp}.txt"
  h5="$outdir/suite_${name}_${stamp}.h5"
  args=(suite --preset "$preset" --dataset "$ds" --seed "$seed" --quiet --output "$h5")
  [ -n "$clients" ] && args+=(--clients "$clients")
  [ ${#extra[@]} -gt 0 ] && args+=("${extra[@]}")
  echo "== fedalign ${args[*]} on $ranks ranks x $threads threads =="
  mpirun --oversubscribe -n "$ranks" "$fa" "${args[@]}" | tee "$log" | sed -n '/^# SUITE/,$p'
  logs+=("$log")
  files+=("$h5")
done
mkdir -p "$report"
echo
echo "== analysis: /usr/bin/python3 analysis/report.py --out $report =="
/usr/bin/python3 "$root/analysis/report.py" --out "$report" "${files[@]}" > "$report.log" 2>&1 ||
  { cat "$report.log" >&2; echo "jobs/local.sh: analysis failed" >&2; exit 1; }
echo
cat "$report/comparison.md"
echo
echo "results: ${files[*]}"
echo "logs:    ${logs[*]}"
echo "plots:"
ls "$report"/*.png | sed 's/^/  /'
