#!/usr/bin/env bash
# The exported model's input rounding at exact ties (label e2e; issue 19). Predictions
# alone (test_export.sh) rarely see an input whose standardized, scaled value is exactly
# k + 0.5, so a rounding rule changed in the generated code would pass there. Here
# tests/tools/export_ties.c finds such inputs for every feature of an exported model and
# compares model_quantize_input's bytes with the documented rule (docs/deployment.md:
# round half away from zero, then the zero point, then the int8 clamp); the suite's own
# quant_input is held to the same rule by tests/unit/test_quant.c (test_input_ties).
. "$(dirname "$0")/common.sh"
SRC=$(cd "$(dirname "$0")/.." && pwd)
QREF=$TESTS_BIN/quant_ref
[ -x "$QREF" ] || { echo "FAIL: $QREF not built" >&2; exit 1; }
CC=${CC:-gcc}
for ds in electrical mechanical; do
  opts=(--preset tiny --dataset "$ds" --seed 7)
  d=$WORK/$ds
  "$QREF" train "$WORK/$ds.bin" 1 "${opts[@]}" 2>"$WORK/train.err" || { fail "$ds: quant_ref train: $(cat "$WORK/train.err")"; continue; }
  "$FEDALIGN" export --model-bin "$WORK/$ds.bin" --client 1 --out "$d" --bench-reps 0 "${opts[@]}" >"$WORK/exp.txt" 2>&1 \
    || { fail "$ds: export failed: $(tail -2 "$WORK/exp.txt")"; continue; }
  $CC -std=c99 -Wall -Wextra -O2 -I"$d" "$SRC/tools/export_ties.c" -o "$d/ties" -lm 2>"$WORK/cc.err" \
    || { fail "$ds: export_ties does not build: $(cat "$WORK/cc.err")"; continue; }
  "$d/ties" >"$d/ties.txt"; rc=$?
  if [ $rc = 0 ]; then pass "$ds: exported input rounding at ties: $(tail -1 "$d/ties.txt")"
  else fail "$ds: exported input rounding at ties (rc $rc): $(grep -m3 MISMATCH "$d/ties.txt") $(tail -1 "$d/ties.txt")"; fi
done
finish
