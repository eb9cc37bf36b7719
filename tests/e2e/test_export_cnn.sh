#!/usr/bin/env bash
# int8 export of a cnn1d (issue 17, item 4): `fedalign export` of a cnn1d writes model.h and
# model.c (int8_kernels.h verbatim behind FA_INT8_CNN) that compile as strict C99 and give
# EXACTLY quant_cnn.c's predictions (quant_ref cases) on every test and train window of the
# client plus extreme windows, with quantize_input byte-identical to quant_cnn_input; for
# both weight granularities (--int8-weights per-tensor changes the file and still matches).
# Also: a version-2 model file round trip, export --results of a cnn1d run, deterministic
# output, --format tflite of a cnn1d writes model.tflite (checked in tests/tinyml/test_tflite.sh),
# a damaged cnn1d model file refused with exit 2, one message and nothing written.
. "$(dirname "$0")/common.sh"
SRC=$(cd "$(dirname "$0")/.." && pwd)
QREF=$TESTS_BIN/quant_ref
[ -x "$QREF" ] || { echo "FAIL: $QREF not built" >&2; exit 1; }
CC=${CC:-gcc}
CFLAGS="-std=c99 -Wall -Wextra -Werror -Os"
KERNELS=$SRC/../src/int8_kernels.h
opts=(--preset tiny --dataset mechanical --input raw --model cnn1d --seed 7)

"$QREF" train "$WORK/cnn.bin" 1 "${opts[@]}" 2>"$WORK/train.err" || { fail "quant_ref train: $(cat "$WORK/train.err")"; finish; }

check_export() { # NAME extra-options...: export, build, compare with quant_ref on every case
  local name=$1 d=$WORK/$1 out rc n; shift
  out=$("$FEDALIGN" export --model-bin "$WORK/cnn.bin" --client 1 --out "$d" --bench-reps 2 "${opts[@]}" "$@" 2>&1); rc=$?
  [ $rc = 0 ] || { fail "$name: export exited $rc: $out"; return; }
  echo "$out" | grep '^#'
  echo "$out" | grep -q '^FEDALIGN_EXPORT .* model=cnn1d' && pass "$name: FEDALIGN_EXPORT line (model=cnn1d)" \
    || fail "$name: no FEDALIGN_EXPORT line with model=cnn1d"
  $CC $CFLAGS -Wpedantic -Wconversion -Wshadow -Wstrict-prototypes -c "$d/model.c" -o "$d/model.o" 2>"$WORK/cc.err" \
    && pass "$name: model.c compiles with $CFLAGS -Wpedantic -Wconversion -Wshadow" || fail "$name: model.c: $(cat "$WORK/cc.err")"
  local undef incs
  undef=$(nm -u "$d/model.o" | awk '{print $2}' | tr '\n' ' ')
  [ -z "$undef" ] && pass "$name: model.o needs no library symbols" || fail "$name: model.o references: $undef"
  incs=$(grep -h '^#include' "$d/model.c" "$d/model.h" | sort -u | tr '\n' ' ')
  [ "$incs" = '#include "model.h" #include <stdint.h> ' ] && pass "$name: includes: $incs" || fail "$name: unexpected includes: $incs"
  /usr/bin/python3 -c 'import sys; t = open(sys.argv[2]).read(); sys.exit(("#define FA_INT8_CNN\n" + open(sys.argv[1]).read()) not in t)' \
    "$KERNELS" "$d/model.c" && pass "$name: model.c carries src/int8_kernels.h verbatim behind FA_INT8_CNN" \
    || fail "$name: model.c does not contain '#define FA_INT8_CNN' + src/int8_kernels.h"
  "$QREF" cases "$WORK/cnn.bin" 1 "$d/cases.c" "${opts[@]}" "$@" >"$d/ref.txt" 2>"$WORK/cases.err" \
    || { fail "$name: quant_ref cases: $(cat "$WORK/cases.err")"; return; }
  $CC $CFLAGS -I"$d" "$d/model.c" "$d/cases.c" "$SRC/tools/export_driver.c" "$SRC/tools/driver_host.c" \
    -o "$d/driver" 2>"$WORK/cc.err" || { fail "$name: driver does not build: $(cat "$WORK/cc.err")"; return; }
  "$d/driver" >"$d/out.txt"; rc=$?
  n=$(grep -c '^pred ' "$d/ref.txt")
  if [ $rc = 0 ] && [ "$n" -gt 100 ] && cmp -s <(grep '^pred ' "$d/ref.txt") <(grep '^pred ' "$d/out.txt"); then
    pass "$name: exported C == quant_cnn.c on all $n windows, quantized inputs identical ($(grep '^# cases' "$d/out.txt"))"
  else
    fail "$name: exported C differs (driver rc $rc, $n cases): $(diff <(grep '^pred ' "$d/ref.txt") <(grep '^pred ' "$d/out.txt") | head -5) $(grep '^# ' "$d/out.txt" | head -3)"
  fi
}
check_export pc
check_export pt --int8-weights per-tensor
cmp -s "$WORK/pc/model.c" "$WORK/pt/model.c" && fail "--int8-weights per-tensor left model.c unchanged" \
  || pass "--int8-weights per-tensor changes the exported cnn1d"
grep -q 'Weights symmetric per layer' "$WORK/pt/model.c" && pass "per-tensor model.c says so" || fail "per-tensor model.c comment"

# deterministic
"$FEDALIGN" export --model-bin "$WORK/cnn.bin" --client 1 --out "$WORK/again" --bench-reps 0 "${opts[@]}" >/dev/null 2>&1
cmp -s "$WORK/pc/model.c" "$WORK/again/model.c" && cmp -s "$WORK/pc/model.h" "$WORK/again/model.h" \
  && pass "export is deterministic" || fail "two exports of the cnn1d differ"

# the usual path: a cnn1d run's saved models (its own command line rebuilds the data)
"$FEDALIGN" run "${opts[@]}" --quiet --save-models --output "$WORK/r.h5" < /dev/null >"$WORK/run.txt" 2>&1 || fail "cnn1d run failed"
if "$FEDALIGN" export --results "$WORK/r.h5" --client 1 --out "$WORK/fromh5" --bench-reps 0 >"$WORK/h5.txt" 2>&1 \
   && $CC $CFLAGS -c "$WORK/fromh5/model.c" -o "$WORK/fromh5/model.o" 2>/dev/null; then
  pass "export --results of a cnn1d run: $(grep -o 'test rows.*' "$WORK/h5.txt")"
else
  fail "export --results of a cnn1d run: $(cat "$WORK/h5.txt")"
fi

# --format tflite of a cnn1d writes DIR/model.tflite only (its checks: tests/tinyml/test_tflite.sh)
"$FEDALIGN" export --model-bin "$WORK/cnn.bin" --client 1 --out "$WORK/tfl" --format tflite --bench-reps 0 "${opts[@]}" >"$WORK/tfl.txt" 2>&1; rc=$?
[ $rc = 0 ] && [ "$(ls "$WORK/tfl")" = model.tflite ] && [ "$(head -c 8 "$WORK/tfl/model.tflite" | tail -c 4)" = TFL3 ] \
  && grep -q '^FEDALIGN_EXPORT .*format=tflite .*model=cnn1d' "$WORK/tfl.txt" \
  && pass "--format tflite of a cnn1d: $(grep -o 'wrote .*' "$WORK/tfl.txt")" || fail "--format tflite of a cnn1d: exit $rc: $(cat "$WORK/tfl.txt")"

# bad input: one message, exit 2, nothing written
head -c 60 "$WORK/cnn.bin" > "$WORK/trunc.bin"
"$FEDALIGN" export --model-bin "$WORK/trunc.bin" --client 1 --out "$WORK/bad" "${opts[@]}" >"$WORK/bad.txt" 2>&1; rc=$?
[ $rc = 2 ] && [ "$(grep -c 'error' "$WORK/bad.txt")" = 1 ] && grep -q 'truncated model file' "$WORK/bad.txt" && [ ! -e "$WORK/bad" ] \
  && pass "truncated cnn1d model file: exit 2, one message" || fail "truncated cnn1d model file: exit $rc: $(cat "$WORK/bad.txt")"
/usr/bin/python3 - "$WORK/cnn.bin" "$WORK/badshape.bin" <<'PYEOF'
import sys, struct
b = bytearray(open(sys.argv[1], "rb").read())
nh = struct.unpack_from("<I", b, 20)[0]
struct.pack_into("<I", b, 24 + 4 * nh, 7)   # win_len 7: 7 x 1 != D
open(sys.argv[2], "wb").write(b)
PYEOF
"$FEDALIGN" export --model-bin "$WORK/badshape.bin" --client 1 --out "$WORK/bad" "${opts[@]}" >"$WORK/bad.txt" 2>&1; rc=$?
[ $rc = 2 ] && grep -q 'implausible cnn1d shape' "$WORK/bad.txt" && [ ! -e "$WORK/bad" ] \
  && pass "cnn1d model file with a bad window shape: exit 2, one message" || fail "bad cnn1d shape: exit $rc: $(cat "$WORK/bad.txt")"
finish
