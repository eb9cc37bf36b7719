#!/usr/bin/env bash
# Model comparison (docs/reproducing.md, section 10; issue 17 item 3): an MLP on the
# mechanical generator's 17 features (`--model mlp`) against a 1D-CNN on the same
# generator's raw vibration windows (`--model cnn1d --input raw`), with the same devices,
# partitions, splits, rounds and methods (the rows of one `fedalign suite` each), paired by
# seed. Then, per model:
#   - `fedalign export` of client 0's fedmetaalign+P model (flash/RAM of the int8 model;
#     "n/a" with the export's own message when it does not cover the model);
#   - `fedalign bench train` (1 thread, batch 32), BENCH_RUNS invocations, each timing
#     the MLP and then the CNN, so the two alternate under the same load;
# and analysis/model_compare.py writes the table (accuracy, parameters, FLOPs per sample,
# samples/s, int8 accuracy and size) to $REPORT/model_compare.md (+ .csv).
# Expected cost at the defaults: about 5 minutes on 2 busy cores (the CNN suites are
# nearly all of it: 80 s per seed at preset small, window 1024; the MLP's take 2 s).
# Results: $OUT/{mlp,cnn1d}_s<seed>.h5 (+ .txt logs), $OUT/export_*.txt, $OUT/bench_*.txt;
# an interrupted study continues where it stopped (existing files are kept).
#   bash jobs/model_compare.sh   # OUT=results/model_compare SEEDS="1 2 3" PRESET=small
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$root/results/model_compare}
REPORT=${REPORT:-$root/report/model_compare}
RANKS=${RANKS:-$(nproc)}
SEEDS=${SEEDS:-"1 2 3"}
PRESET=${PRESET:-small}
METHODS=${METHODS:-fedmetaalign+P,fedmetaalign,fedavg+P,fedavg,local+P,local}
EXTRA=${EXTRA:-}         # more suite flags for both models, e.g. "--rounds 2 --window 128"
CNN_FLAGS=${CNN_FLAGS:-} # more flags for the CNN only, e.g. "--conv 8:7,16:5"
BENCH_RUNS=${BENCH_RUNS:-5}
BENCH_FLAGS=${BENCH_FLAGS:---batch 32 --reps 3 --min-time 0.2}
FA=${FA_BIN:-$root/build/fedalign}
[ -x "$FA" ] || { echo "model_compare: no binary at $FA (build first, or set FA_BIN)" >&2; exit 1; }
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT"
flags_of() { # model -> the model's data and shape flags
  if [ "$1" = mlp ]; then echo "--model mlp --input features"; else echo "--model cnn1d --input raw $CNN_FLAGS"; fi
}
for s in $SEEDS; do
  for m in mlp cnn1d; do
    f="$OUT/${m}_s${s}.h5"
    if [ ! -e "$f" ]; then
      # shellcheck disable=SC2046,SC2086 # the flag strings hold several words on purpose
      mpirun --oversubscribe -n "$RANKS" "$FA" suite --preset "$PRESET" --dataset mechanical \
        --seed "$s" --methods "$METHODS" --save-models --quiet --output "$f" $(flags_of $m) $EXTRA \
        < /dev/null > "${f%.h5}.txt"
    fi
    e="$OUT/export_${m}_s${s}"
    if [ ! -e "$e.txt" ]; then
      # the export's refusal (a model it does not cover) is a result too: "n/a" in the table
      "$FA" export --results "$f" --from fedmetaalign+P --client 0 --out "$e" --bench-reps 0 \
        > "$e.txt" 2>&1 < /dev/null || echo "# export exited $?" >> "$e.txt"
    fi
  done
done
ran_bench=0
for i in $(seq 1 "$BENCH_RUNS"); do
  b="$OUT/bench_$i.txt"
  # shellcheck disable=SC2086
  [ -e "$b" ] || { OMP_NUM_THREADS=1 "$FA" bench train $BENCH_FLAGS < /dev/null > "$b"; ran_bench=1; }
done
# the load belongs to the bench runs it describes: a rerun that times nothing keeps it
if [ "$ran_bench" = 1 ] || [ ! -e "$OUT/load.txt" ]; then
  echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc --all) cores" > "$OUT/load.txt"
fi
/usr/bin/python3 "$root/analysis/model_compare.py" --out "$REPORT" "$OUT"
