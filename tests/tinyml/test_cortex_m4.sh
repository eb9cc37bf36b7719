#!/usr/bin/env bash
# The exported int8 model on a microcontroller (issue 8): build `fedalign export`'s
# model.c for a Cortex-M4F (arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -Os, hard float),
# report its flash/RAM with arm-none-eabi-size and its stack with -fstack-usage, run it
# under qemu-system-arm on the emulated mps2-an386 board (semihosting for output) and
# require EXACTLY the predictions of the suite's int8 inference on the host, for every
# test and train row of a client plus extreme values. Also reports int8 vs float
# instruction counts on the M4 (QEMU -icount; QEMU does not model cycles).
# The cnn1d (issue 17) the same way on the mechanical generator's raw windows, beside the
# MLP on the same generator's features (same seed and client): machine-readable lines
#   TINYML_M4 dataset=D model=M flash_bytes=.. ram_static_bytes=.. stack_bytes_max=..
#   TINYML_M4_RUN dataset=D model=M cases=N instr_per_inference_int8=.. instr_per_inference_float=..
# mechanical:pipeline (issue 17, item 4) runs raw window -> exported feature extractor ->
# exported int8 model -> class on the board with exported code only, and compares every
# window's features (bits), int8 input and class with the host (m4_pipeline.sh, which also
# prints the extractor's and the pipeline's flash/RAM/stack/instructions per window).
#
# Needs (Debian): gcc-arm-none-eabi qemu-system-arm (the model uses no C library); without
# them it exits 77 = skipped for CTest. The pipeline's feature extractor also links newlib's
# libm and newlib-nano (libnewlib-arm-none-eabi, jobs/setup.sh installs it); without it
# that configuration alone is skipped, with a printed reason.
# Env: FEDALIGN, QUANT_REF, PIPELINE_REF (set by CTest); CONFIGS (DATASET:MODEL pairs,
# default "electrical:mlp mechanical:mlp mechanical:cnn1d mechanical:pipeline");
# KEEP=DIR keeps the build products there (a rerun exports over them: --overwrite).
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
: "${FEDALIGN:?FEDALIGN (path of the fedalign binary) must be set}"
: "${QUANT_REF:=$(dirname "$FEDALIGN")/tests/quant_ref}"
: "${PIPELINE_REF:=$(dirname "$QUANT_REF")/pipeline_ref}"
for tool in arm-none-eabi-gcc arm-none-eabi-size arm-none-eabi-nm qemu-system-arm; do
  if ! command -v $tool >/dev/null 2>&1; then
    echo "SKIP: $tool not found; install with: apt-get install -y gcc-arm-none-eabi qemu-system-arm"
    exit 77
  fi
done
if ! qemu-system-arm -M help | grep -q '^mps2-an386'; then
  echo "SKIP: this qemu-system-arm has no mps2-an386 (Cortex-M4) board"
  exit 77
fi
[ -x "$QUANT_REF" ] || { echo "FAIL: $QUANT_REF not built" >&2; exit 1; }
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
WORK=${KEEP:-$(mktemp -d)}
mkdir -p "$WORK"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
. "$SRC/tinyml/m4_pipeline.sh"

ARCH="-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
CFLAGS="-std=c99 -Wall -Wextra -Werror -Os $ARCH -ffunction-sections -fdata-sections"

# DATASET:MODEL pairs; mechanical:mlp (features) and mechanical:cnn1d (raw windows of the
# same generator, seed and client) are the MLP-vs-CNN deployment comparison
for cfg in ${CONFIGS:-electrical:mlp mechanical:mlp mechanical:cnn1d mechanical:pipeline}; do
  ds=${cfg%%:*} model=${cfg#*:}
  if [ "$model" = pipeline ]; then mkdir -p "$WORK/$ds-pipeline" && m4_pipeline "$ds" "$WORK/$ds-pipeline"; continue; fi
  opts=(--preset tiny --dataset "$ds" --seed 7)
  fref=(-DFA_NO_FREF)   # the float reference of the timing exists for the mlp only
  if [ "$model" = cnn1d ]; then opts+=(--input raw --model cnn1d); fi
  d=$WORK/$ds-$model
  mkdir -p "$d"
  "$QUANT_REF" train "$d/model.bin" 1 "${opts[@]}" 2>/dev/null || { fail "$ds: quant_ref train"; continue; }
  "$FEDALIGN" export --model-bin "$d/model.bin" --client 1 --out "$d" --overwrite --bench-reps 0 "${opts[@]}" >"$d/export.txt" 2>&1 \
    || { fail "$ds: export: $(cat "$d/export.txt")"; continue; }
  "$QUANT_REF" cases "$d/model.bin" 1 "$d/cases.c" "${opts[@]}" >"$d/ref.txt" 2>/dev/null || { fail "$ds: quant_ref cases"; continue; }
  if [ "$model" = mlp ]; then
    "$QUANT_REF" floatc "$d/model.bin" "$d/fref.c" || { fail "$ds: quant_ref floatc"; continue; }
    fref=("$d/fref.c")
  fi
  ds="$ds $model"

  # the model alone: flash (text + data) and RAM (data + bss), stack per function
  arm-none-eabi-gcc $CFLAGS -fstack-usage -c "$d/model.c" -o "$d/model.o" 2>"$d/cc.err" \
    || { fail "$ds: model.c does not build for Cortex-M4: $(cat "$d/cc.err")"; continue; }
  pass "$ds: model.c builds with arm-none-eabi-gcc $CFLAGS"
  undef=$(arm-none-eabi-nm -u "$d/model.o" | awk '{print $2}' | tr '\n' ' ')
  [ -z "$undef" ] && pass "$ds: M4 model.o needs no library or runtime symbols" || fail "$ds: M4 model.o references: $undef"
  echo "# $ds: arm-none-eabi-size model.o (Cortex-M4, -Os):"
  arm-none-eabi-size "$d/model.o" | sed 's/^/#   /'
  read -r text data bss _ < <(arm-none-eabi-size "$d/model.o" | tail -1)
  ram=$(grep -o 'MODEL_RAM_BYTES [0-9]*' "$d/model.h" | awk '{print $2}')
  [ "$((data + bss))" = "$ram" ] && pass "$ds: M4 RAM (data+bss) $((data + bss)) B = MODEL_RAM_BYTES" \
    || fail "$ds: M4 data+bss $((data + bss)) != MODEL_RAM_BYTES $ram"
  # deepest call chain: predict -> run -> kernel_fc (whatever is not inlined)
  stack=$(awk -F'\t' '{s += $2} END {print s}' "$d/model.su")
  echo "# $ds: stack frames (bytes) $(awk -F'\t' '{split($1, a, ":"); printf "%s=%s ", a[4], $2}' "$d/model.su")(sum $stack, an upper bound)"
  echo "TINYML_M4 dataset=${ds% *} model=$model flash_bytes=$((text + data)) ram_static_bytes=$((data + bss)) stack_bytes_max=$stack"

  # the whole program on the emulated board
  arm-none-eabi-gcc $CFLAGS -Wno-error=unused-function -I"$d" -nostdlib -T "$SRC/tinyml/m4.ld" \
    -Wl,--gc-sections -o "$d/driver.elf" \
    "$d/model.c" "$d/cases.c" "${fref[@]}" "$SRC/tools/export_driver.c" \
    "$SRC/tinyml/startup_m4.c" "$SRC/tinyml/m4_bench.c" -lgcc 2>"$d/cc.err" \
    || { fail "$ds: driver.elf does not link: $(cat "$d/cc.err")"; continue; }
  timeout 300 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -icount shift=0 \
    -kernel "$d/driver.elf" >"$d/m4.txt" 2>&1   # semihosting output comes on stderr
  rc=$?
  n=$(grep -c '^pred ' "$d/ref.txt")
  if [ $rc = 0 ] && [ "$n" -gt 100 ] && cmp -s <(grep '^pred ' "$d/ref.txt") <(grep '^pred ' "$d/m4.txt"); then
    pass "$ds: Cortex-M4 (QEMU mps2-an386) == host suite int8 on all $n cases ($(grep '^# cases' "$d/m4.txt"))"
  else
    fail "$ds: Cortex-M4 run differs or failed (qemu rc $rc, $n cases): $(diff <(grep '^pred ' "$d/ref.txt") <(grep '^pred ' "$d/m4.txt") | head -5) $(grep -v '^pred' "$d/m4.txt" | head -c 300)"
  fi
  if read -r _ _ ti _ tf _ nc _ ag < <(grep '^m4_ticks' "$d/m4.txt"); then
    awk -v ti="$ti" -v tf="$tf" -v n="$nc" -v ag="$ag" -v ds="$ds" 'BEGIN {
      if (tf > 0) printf "# %s: Cortex-M4 (QEMU -icount, 40 instructions per SysTick tick): int8 ~%.0f, float ~%.0f instructions per sample, float/int8 = %.2fx; float and int8 agree on %d of %d cases\n",
        ds, ti * 40 / n, tf * 40 / n, (ti > 0 ? tf / ti : 0), ag, n
      else printf "# %s: Cortex-M4 (QEMU -icount, 40 instructions per SysTick tick): int8 ~%.0f instructions per sample (no float reference)\n", ds, ti * 40 / n }'
    # machine-readable: instructions per inference (QEMU counts instructions, not cycles)
    awk -v ti="$ti" -v tf="$tf" -v n="$nc" -v ds="${ds% *}" -v m="$model" 'BEGIN {
      printf "TINYML_M4_RUN dataset=%s model=%s cases=%d instr_per_inference_int8=%.0f instr_per_inference_float=%s\n",
        ds, m, n, ti * 40 / n, (tf > 0 ? sprintf("%.0f", tf * 40 / n) : "na") }'
  else
    fail "$ds: no m4_ticks line from the emulated run"
  fi
done
if [ "$FAILS" -ne 0 ]; then echo "$FAILS check(s) failed" >&2; exit 1; fi
echo "all checks passed"
