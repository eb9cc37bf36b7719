#!/usr/bin/env bash
# bench_compare.sh: fedalign against the two PyTorch peers (analysis/peer_torch.py), side by
# side in one sitting, one thread each (issues 6, 17 and 20).
#
# Each of REPS rounds runs, one after the other so that all see the same machine load:
#   every fedalign variant (--fa): `bench peak train --batch 32` (the FMA and mul+add
#     ceilings, then every batch-32 training mode the binary reports at one thread);
#   the peers: per-client loop and client-batched MLP, 16 clients x 600 rows (`clients`,
#     `batched`); with --cnn also the 1D-CNN peers (`cnn-clients`, `cnn-batched`);
#   the FedAvg round: fedalign `bench round --method fedavg`, 8 clients, against the
#     peers' `fedavg` and `fedavg-batched` (client samples per second of round time).
# Each invocation reports its own median over its repetitions; this script takes the
# median over the REPS rounds and prints the ratio table: every fedalign training line
# against the per-client peer and the client-batched peer of the same model (a fedalign
# line with model=cnn... is compared with the CNN peers, any other with the MLP peers).
# With --out DIR it also writes DIR/bench_compare.txt (the table), DIR/bench_compare.csv
# (results and ceilings in GFLOP/s, the input of analysis/roofline.py) and DIR/raw.txt.
# Expected runtime: --reps 7 with two variants and --cnn took about 3.5 minutes on the
# shared 2-core host (each round about 30 s).
# Needs a built fedalign and Debian's python3-torch for /usr/bin/python3 (exit 2 without).
# Usage: jobs/bench_compare.sh [--reps N] [--fedalign PATH] [--fa LABEL=COMMAND]...
#          [--cnn] [--cnn-rows N] [--quick] [--out DIR] [--python PATH]
#   --fa LABEL=COMMAND  a fedalign variant, repeatable, e.g. --fa portable=build/fedalign
#                       --fa avx2=build-avx2/fedalign (COMMAND may hold an env prefix:
#                       --fa 'sse2=env FOO=1 build/fedalign'; words after " -- " are added
#                       to its bench commands: --fa 'v4=build/fedalign -- --some-flag X');
#                       default: fedalign=--fedalign
#   --quick             tiny sizes and single repetitions (the test's setting; no figures)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
REPS=5 FEDALIGN=$here/build/fedalign PY=/usr/bin/python3 OUT="" CNN=0 QUICK=0 CNN_ROWS=64
variants=()
while [ $# -gt 0 ]; do
  case $1 in
    --reps) REPS=$2; shift 2 ;;
    --fedalign) FEDALIGN=$2; shift 2 ;;
    --fa) variants+=("$2"); shift 2 ;;
    --python) PY=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --cnn) CNN=1; shift ;;
    --cnn-rows) CNN_ROWS=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0 ;;
    *) echo "bench_compare.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case $REPS in ''|*[!0-9]*|0) echo "bench_compare.sh: --reps wants a positive integer, got '$REPS'" >&2; exit 2 ;; esac
[ ${#variants[@]} -gt 0 ] || variants=("fedalign=$FEDALIGN")
# split_variant LABEL=COMMAND [-- ARGS]: cmd = the command (env prefix, binary last), extra =
# the words after "--", appended to each of its bench invocations
split_variant() {
  local w words after=0
  read -ra words <<< "${1#*=}"
  cmd=() extra=()
  for w in "${words[@]}"; do
    if [ $after = 1 ]; then extra+=("$w"); elif [ "$w" = -- ]; then after=1; else cmd+=("$w"); fi
  done
}
for v in "${variants[@]}"; do
  [[ $v =~ ^[A-Za-z0-9_.+-]+=. ]] || { echo "bench_compare.sh: --fa wants LABEL=COMMAND (LABEL of letters, digits, _.+-), got '$v'" >&2; exit 2; }
  split_variant "$v"
  bin=${cmd[-1]}
  [ -x "$bin" ] || { echo "bench_compare.sh: no fedalign binary at $bin (build first, or --fedalign PATH)" >&2; exit 2; }
done
"$PY" -c 'import torch' 2>/dev/null || { echo "bench_compare.sh: $PY has no torch: apt-get install -y python3-torch" >&2; exit 2; }
if [ -n "$OUT" ]; then
  mkdir -p "$OUT"
  for f in bench_compare.txt bench_compare.csv raw.txt; do
    [ ! -e "$OUT/$f" ] || { echo "bench_compare.sh: $OUT/$f exists; not replacing it (remove it or pick another --out)" >&2; exit 2; }
  done
fi
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMP_NUM_THREADS=1 OMP_PROC_BIND=false

if [ $QUICK = 1 ]; then
  fa_train=(--reps 1 --warmup 0 --min-time 0.01 --triad-n 65536)
  fa_round=(--clients 2 --rounds 2 --samples 40 --reps 1 --warmup 0)
  pt_common=(--reps 1 --warmup 0 --min-time 0.01)
  pt_group=(--group 4 --group-rows 40)
  pt_cnn=(--group 2 --group-rows 16 --window 128)
  pt_avg=(--clients 2 --client-rows 40)
else
  fa_train=(--reps 3 --min-time 0.3 --triad-n 1048576)
  fa_round=(--clients 8 --rounds 20 --reps 3)
  pt_common=(--reps 3 --min-time 0.3)
  pt_group=(--group 16 --group-rows 600)
  pt_cnn=(--group 16 --group-rows "$CNN_ROWS")
  pt_avg=(--reps 5 --clients 8 --client-rows 120)
fi

load0=$(cut -d' ' -f1 /proc/loadavg)
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
tag() { sed "s/^/REP=$1 VARIANT=$2 /" >> "$raw"; }
for i in $(seq 1 "$REPS"); do
  for v in "${variants[@]}"; do
    split_variant "$v"
    "${cmd[@]}" bench peak train --batch 32 "${fa_train[@]}" "${extra[@]}" < /dev/null | tag "$i" "${v%%=*}"
    "${cmd[@]}" bench round --method fedavg "${fa_round[@]}" "${extra[@]}" < /dev/null | tag "$i" "${v%%=*}"
  done
  "$PY" "$here/analysis/peer_torch.py" clients batched "${pt_common[@]}" "${pt_group[@]}" | tag "$i" torch
  if [ $CNN = 1 ]; then
    "$PY" "$here/analysis/peer_torch.py" cnn-clients cnn-batched "${pt_common[@]}" "${pt_cnn[@]}" | tag "$i" torch
  fi
  "$PY" "$here/analysis/peer_torch.py" fedavg fedavg-batched "${pt_common[@]}" "${pt_avg[@]}" | tag "$i" torch
  echo "# round $i/$REPS done" >&2
done

torch_ver=$("$PY" -c 'import torch; print(torch.__version__)')
"$PY" "$here/analysis/bench_table.py" --raw "$raw" --reps "$REPS" --torch "$torch_ver" \
  --load "$load0 at the start, $(cut -d' ' -f1 /proc/loadavg) at the end (1 min), $(nproc --all) cores" ${OUT:+--out "$OUT"}
