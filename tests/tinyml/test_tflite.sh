#!/usr/bin/env bash
# The .tflite export (issue 17) checked by a real TFLite consumer and by an independent
# reader (tests/tinyml/tflite_check.py):
# - per-tensor weights (--int8-weights per-tensor): Arm NN 20.08's TfLite parser
#   (python3-pyarmnn, CpuRef backend, in a child process) loads model.tflite and runs
#   every test row of a client; its int8 logits must be within 1 step of fedalign's int8
#   reference (quant_ref rows) and its classes equal wherever that step cannot decide
#   (CpuRef rounds once in float, TFLite and fedalign twice in integers: docs/deployment.md),
#   and the C export of the same model must give the reference's classes on those rows;
# - per-channel weights (the default, what TFLite Micro expects): Arm NN 20.08 aborts on
#   them (GetBiasTypeFromWeightsType): reported as a known limitation (SKIP, not a pass);
# - the int8 cnn1d (--model cnn1d --input raw, tiny mechanical windows of 256 samples):
#   CONV_2D, MAX_POOL_2D, MEAN, RESHAPE, FULLY_CONNECTED; Arm NN is checked operator by
#   operator (armnn-layers: each within one step of TFLite's kernel on Arm NN's own input;
#   end to end the steps carry through the dense head, printed only); per-channel: Arm NN
#   runs the conv part and aborts at the first FULLY_CONNECTED (SKIP for the rest);
# - both files: read back with the flatbuffers runtime (no generated code), layout checked,
#   the integer inference recomputed from the file's tensors with TFLite's reference
#   arithmetic and the int8 input from its metadata: every input, logit and class must
#   equal fedalign's exactly;
# - deterministic bytes, the two granularities give different files, an existing
#   model.tflite is not replaced without --overwrite; .tflite size vs the C export.
# Needs (Debian): python3-pyarmnn python3-flatbuffers; without them it exits 77 (skipped).
# Env: FEDALIGN, QUANT_REF (set by CTest); DATASETS (default "electrical mechanical cnn1d").
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
: "${FEDALIGN:?FEDALIGN (path of the fedalign binary) must be set}"
: "${QUANT_REF:=$(dirname "$FEDALIGN")/tests/quant_ref}"
PY=/usr/bin/python3
CHECK=$SRC/tinyml/tflite_check.py
for mod in pyarmnn:python3-pyarmnn flatbuffers:python3-flatbuffers; do
  if ! $PY -c "import ${mod%%:*}" >/dev/null 2>&1; then
    echo "SKIP: $PY cannot import ${mod%%:*}; install with: apt-get install -y ${mod#*:}"
    exit 77
  fi
done
[ -x "$QUANT_REF" ] || { echo "FAIL: $QUANT_REF not built" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
CC=${CC:-gcc}

for ds in ${DATASETS:-electrical mechanical cnn1d}; do
  opts=(--preset tiny --dataset "$ds" --seed 7)
  # cnn1d: the 1D-CNN on the mechanical generator's raw 256-sample windows
  [ "$ds" = cnn1d ] && opts=(--preset tiny --dataset mechanical --input raw --model cnn1d --window 256 --seed 7)
  d=$WORK/$ds
  mkdir -p "$d"
  "$QUANT_REF" train "$d/model.bin" 1 "${opts[@]}" 2>/dev/null || { fail "$ds: quant_ref train"; continue; }
  for w in per-tensor per-channel; do
    out=$d/$w
    "$FEDALIGN" export --model-bin "$d/model.bin" --client 1 --out "$out" --format tflite \
      --int8-weights "$w" --bench-reps 0 "${opts[@]}" >"$out.txt" 2>&1 \
      || { fail "$ds $w: export --format tflite: $(cat "$out.txt")"; continue; }
    # --overwrite: both formats write the same feature_extractor.h/.c for mechanical data
    "$FEDALIGN" export --model-bin "$d/model.bin" --client 1 --out "$out" --format c \
      --int8-weights "$w" --bench-reps 0 --overwrite "${opts[@]}" >/dev/null 2>&1 || { fail "$ds $w: export --format c"; continue; }
    "$QUANT_REF" rows "$d/model.bin" 1 "${opts[@]}" --int8-weights "$w" >"$out/rows.txt" 2>/dev/null \
      || { fail "$ds $w: quant_ref rows"; continue; }
    n=$(grep -c '^row ' "$out/rows.txt")

    # the C export on the same rows (classes from the raw features and from the int8 input)
    $CC -std=c99 -O2 -I"$out" "$out/model.c" "$SRC/tinyml/tflite_cdriver.c" -o "$out/cdriver" 2>"$out/cc.err" \
      || { fail "$ds $w: C driver: $(cat "$out/cc.err")"; continue; }
    sed 's/^row [0-9]* x=\([^ ]*\) xq=\([^ ]*\) .*/\1 \2/; s/,/ /g' "$out/rows.txt" | "$out/cdriver" >"$out/cpred.txt"
    if [ "$(grep -c '^c ' "$out/cpred.txt")" = "$n" ] && \
       cmp -s <(awk '{print $2; print $3}' "$out/cpred.txt") <(grep -o 'pred=[0-9]*' "$out/rows.txt" | cut -d= -f2 | awk '{print; print}'); then
      pass "$ds $w: C export == fedalign int8 classes on all $n test rows"
    else
      fail "$ds $w: C export classes differ from the reference"
    fi

    # independent reader + TFLite reference arithmetic: exact
    res=$($PY "$CHECK" selfcheck "$out/model.tflite" "$out/rows.txt" 2>&1) \
      && pass "$ds $w: $res" || fail "$ds $w: $res"

    # Arm NN, cnn1d: operator by operator (each within one step of TFLite's kernel on Arm
    # NN's own input); end to end those steps carry through the dense head (printed only)
    if [ "$ds" = cnn1d ]; then
      res=$($PY "$CHECK" armnn-layers "$out/model.tflite" "$out/rows.txt" 2>&1); rc=$?
      echo "$res" | grep -v Skipped | sed "s/^/# $ds $w: /"
      if [ $rc = 0 ]; then
        pass "$ds $w: Arm NN (CpuRef), every operator within 1 step of TFLite's reference on $n rows"
      elif [ $rc = 3 ] && [ "$w" = per-channel ] && echo "$res" | grep -q 'stopped: .*(dense_0/output).*GetBiasTypeFromWeightsType'; then
        pass "$ds per-channel: Arm NN runs CONV_2D/MAX_POOL_2D/MEAN/RESHAPE within 1 step"
        echo "SKIP: $ds per-channel: Arm NN 20.08 aborts at the first per-channel FULLY_CONNECTED (known limitation)"
      else
        fail "$ds $w: Arm NN operator check (exit $rc)"
      fi
      $PY "$CHECK" armnn "$out/model.tflite" "$out/rows.txt" "$out/cpred.txt" 2>&1 | grep -v Skipped | sed "s/^/# $ds $w end to end: /"
    else
    res=$($PY "$CHECK" armnn "$out/model.tflite" "$out/rows.txt" "$out/cpred.txt" 2>&1); rc=$?
    echo "$res" | sed "s/^/# $ds $w: /"
    if [ $rc = 0 ]; then
      pass "$ds $w: Arm NN (CpuRef) on $n test rows: $(echo "$res" | grep '^ARMNN_CHECK')"
    elif [ $rc = 3 ] && [ "$w" = per-channel ]; then
      echo "SKIP: $ds per-channel: Arm NN 20.08 cannot load per-channel FULLY_CONNECTED weights (known limitation; use --int8-weights per-tensor for Arm NN)"
    else
      fail "$ds $w: Arm NN check (exit $rc)"
    fi
    fi

    # footprint: the .tflite file against the C export's compiled model
    $CC -std=c99 -Os -fno-pic -fno-asynchronous-unwind-tables -c "$out/model.c" -o "$out/model.o"
    read -r text data _ < <(size "$out/model.o" | tail -1)
    m4=-
    if command -v arm-none-eabi-gcc >/dev/null 2>&1; then
      arm-none-eabi-gcc -std=c99 -Os -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -c "$out/model.c" -o "$out/m4.o" \
        && read -r t4 d4 _ < <(arm-none-eabi-size "$out/m4.o" | tail -1) && m4=$((t4 + d4))
    fi
    echo "TFLITE_SIZE dataset=$ds weights=$w tflite_bytes=$(stat -c %s "$out/model.tflite") c_flash_data_bytes=$(grep -o 'MODEL_FLASH_DATA_BYTES [0-9]*' "$out/model.h" | awk '{print $2}') c_host_text_data_bytes=$((text + data)) c_m4_text_data_bytes=$m4"
  done

  # the granularity reaches the file; the bytes are a function of the model
  cmp -s "$d/per-tensor/model.tflite" "$d/per-channel/model.tflite" \
    && fail "$ds: per-tensor and per-channel files are identical" || pass "$ds: --int8-weights changes the .tflite"
  "$FEDALIGN" export --model-bin "$d/model.bin" --client 1 --out "$d/again" --format tflite --bench-reps 0 "${opts[@]}" >/dev/null 2>&1
  cmp -s "$d/again/model.tflite" "$d/per-channel/model.tflite" && pass "$ds: export --format tflite is deterministic (default per-channel)" \
    || fail "$ds: two exports differ (or the default is not per-channel)"
done

# an existing model.tflite is not replaced without --overwrite (and a C export beside it is no obstacle)
d=$WORK/electrical
echo edited >>"$d/again/model.tflite"
out=$("$FEDALIGN" export --model-bin "$d/model.bin" --client 1 --out "$d/again" --format tflite --bench-reps 0 \
      --preset tiny --dataset electrical --seed 7 2>&1); rc=$?
if [ $rc = 2 ] && echo "$out" | grep -q "model.tflite' exists; use --overwrite" && tail -1 "$d/again/model.tflite" | grep -q edited; then
  pass "an existing model.tflite is refused (exit 2) and left as it was"
else
  fail "existing model.tflite: exit $rc: $out"
fi
finish_rc=0
[ "$FAILS" -ne 0 ] && { echo "$FAILS check(s) failed" >&2; finish_rc=1; } || echo "all checks passed"
exit $finish_rc
