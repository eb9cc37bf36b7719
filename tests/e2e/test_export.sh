#!/usr/bin/env bash
# int8 export (issue 8): `fedalign export` writes model.h/model.c that compile as strict
# C99 (-std=c99 -Wall -Wextra -Werror -Os) with nothing beyond <stdint.h>, and that give
# EXACTLY the predictions of the suite's int8 inference (quant_predict, printed by
# tests/tools/quant_ref) on the same inputs: every test and train row of the client plus
# extreme values. Also: flash/RAM from `size`, deterministic output, a custom prefix, bad
# input (exit 2, one message) and an existing export refused without --overwrite.
. "$(dirname "$0")/common.sh"
SRC=$(cd "$(dirname "$0")/.." && pwd)
QREF=$TESTS_BIN/quant_ref
[ -x "$QREF" ] || { echo "FAIL: $QREF not built" >&2; exit 1; }
CC=${CC:-gcc}
CFLAGS="-std=c99 -Wall -Wextra -Werror -Os"
KERNELS=$SRC/../src/int8_kernels.h

# the shared kernels are strict C99 on their own (unused statics aside: nothing calls them)
$CC $CFLAGS -Wpedantic -Wconversion -Wshadow -Wno-unused-function -fsyntax-only -x c "$KERNELS" 2>"$WORK/cc.err" \
  && pass "src/int8_kernels.h compiles alone as strict C99" || fail "src/int8_kernels.h alone: $(cat "$WORK/cc.err")"

for ds in electrical mechanical; do
  opts=(--preset tiny --dataset "$ds" --seed 7)
  d=$WORK/$ds
  "$QREF" train "$WORK/$ds.bin" 1 "${opts[@]}" 2>"$WORK/train.err" || { fail "$ds: quant_ref train: $(cat "$WORK/train.err")"; continue; }
  out=$("$FEDALIGN" export --model-bin "$WORK/$ds.bin" --client 1 --out "$d" --bench-reps 3 "${opts[@]}" 2>&1); rc=$?
  [ $rc = 0 ] || { fail "$ds: export exited $rc: $out"; continue; }
  echo "$out" | grep '^#'
  line=$(echo "$out" | grep '^FEDALIGN_EXPORT ')
  [ -n "$line" ] && pass "$ds: export wrote $(ls "$d" | tr '\n' ' ')" || fail "$ds: no FEDALIGN_EXPORT line"

  # strict C99, extra warnings too, and only <stdint.h> / "model.h" included
  $CC $CFLAGS -c "$d/model.c" -o "$d/model.o" 2>"$WORK/cc.err" && pass "$ds: model.c compiles with $CFLAGS" \
    || fail "$ds: model.c does not compile: $(cat "$WORK/cc.err")"
  $CC $CFLAGS -Wpedantic -Wconversion -Wshadow -Wstrict-prototypes -fsyntax-only "$d/model.c" 2>"$WORK/cc.err" \
    && pass "$ds: also clean with -Wpedantic -Wconversion -Wshadow" || fail "$ds: extra warnings: $(cat "$WORK/cc.err")"
  incs=$(grep -h '^#include' "$d/model.c" "$d/model.h" | sort -u | tr '\n' ' ')
  [ "$incs" = '#include "model.h" #include <stdint.h> ' ] && pass "$ds: includes: $incs" || fail "$ds: unexpected includes: $incs"
  undef=$(nm -u "$d/model.o" | awk '{print $2}' | tr '\n' ' ')
  [ -z "$undef" ] && pass "$ds: model.o needs no library symbols" || fail "$ds: model.o references: $undef"
  # footprint as on a microcontroller: no PIC relocations, no unwind tables
  $CC $CFLAGS -fno-pic -fno-asynchronous-unwind-tables -c "$d/model.c" -o "$d/model_fp.o"
  read -r text data bss _ < <(size "$d/model_fp.o" | tail -1)
  ram=$(grep -o 'MODEL_RAM_BYTES [0-9]*' "$d/model.h" | awk '{print $2}')
  [ "$((data + bss))" = "$ram" ] && pass "$ds: RAM (data+bss) $((data + bss)) B = MODEL_RAM_BYTES" \
    || fail "$ds: size says data+bss $((data + bss)), header says MODEL_RAM_BYTES $ram"
  echo "# $ds: host x86-64 -Os model.o: text $text (flash: code + const tables) data $data bss $bss (RAM)"

  # the same predictions as the suite, on every case
  "$QREF" cases "$WORK/$ds.bin" 1 "$d/cases.c" "${opts[@]}" >"$d/ref.txt" 2>"$WORK/cases.err" \
    || { fail "$ds: quant_ref cases: $(cat "$WORK/cases.err")"; continue; }
  $CC $CFLAGS -I"$d" "$d/model.c" "$d/cases.c" "$SRC/tools/export_driver.c" "$SRC/tools/driver_host.c" \
    -o "$d/driver" 2>"$WORK/cc.err" || { fail "$ds: driver does not build: $(cat "$WORK/cc.err")"; continue; }
  "$d/driver" >"$d/out.txt"; rc=$?
  n=$(grep -c '^pred ' "$d/ref.txt")
  if [ $rc = 0 ] && [ "$n" -gt 100 ] && cmp -s <(grep '^pred ' "$d/ref.txt") <(grep '^pred ' "$d/out.txt"); then
    pass "$ds: exported C == suite int8 on all $n cases ($(tail -1 "$d/out.txt"))"
  else
    fail "$ds: exported C differs from the suite (driver rc $rc, $n cases): $(diff <(grep '^pred ' "$d/ref.txt") <(grep '^pred ' "$d/out.txt") | head -5)"
  fi

  # one source: model.c carries the kernels quant.c #includes, verbatim
  if /usr/bin/python3 -c 'import sys; sys.exit(open(sys.argv[1]).read() not in open(sys.argv[2]).read())' \
       "$KERNELS" "$d/model.c"; then
    pass "$ds: model.c contains src/int8_kernels.h verbatim"
  else
    fail "$ds: model.c does not contain src/int8_kernels.h as it is"
  fi

  # deterministic: exporting again gives identical files
  "$FEDALIGN" export --model-bin "$WORK/$ds.bin" --client 1 --out "$d.again" --bench-reps 0 "${opts[@]}" >/dev/null 2>&1
  cmp -s "$d/model.c" "$d.again/model.c" && cmp -s "$d/model.h" "$d.again/model.h" \
    && pass "$ds: export is deterministic" || fail "$ds: two exports differ"
done

# a custom prefix names every symbol
if "$FEDALIGN" export --model-bin "$WORK/electrical.bin" --client 1 --out "$WORK/pfx" --prefix fault_net \
     --bench-reps 0 --preset tiny --dataset electrical --seed 7 >/dev/null 2>&1 \
   && $CC $CFLAGS -c "$WORK/pfx/model.c" -o "$WORK/pfx/model.o" \
   && nm "$WORK/pfx/model.o" | grep -q ' T fault_net_predict$' && grep -q 'FAULT_NET_RAM_BYTES' "$WORK/pfx/model.h"; then
  pass "--prefix fault_net: fault_net_predict, FAULT_NET_RAM_BYTES"
else
  fail "--prefix fault_net"
fi

# from a results file: the personalized model of a client, data rebuilt from the stored
# command line; the float accuracy equals the suite's acc_p3 of that client
if "$MPIEXEC" -n 2 "$FEDALIGN" suite --preset tiny --quiet --save-models --output "$WORK/sm.h5" >/dev/null 2>&1 &&
   out=$("$FEDALIGN" export --results "$WORK/sm.h5" --from fedavg+P --client 2 --out "$WORK/fromh5" --bench-reps 0) &&
   $CC $CFLAGS -c "$WORK/fromh5/model.c" -o "$WORK/fromh5/model.o"; then
  got=$(echo "$out" | grep -o 'acc_float=[0-9.]*' | cut -d= -f2)
  want=$(/usr/bin/python3 -c "import h5py; f=h5py.File('$WORK/sm.h5','r'); g=[k for k in f['methods'] if k.endswith('_fedavg+P')][0]; print('%.6f' % f['methods'][g]['acc_p3'][2])")
  [ -n "$got" ] && [ "$got" = "$want" ] && pass "export --results: client 2's personalized model (acc $got as in the suite)" || fail "export --results: acc $got vs suite $want"
else
  fail "export --results did not run"
fi
"$MPIEXEC" -n 1 "$FEDALIGN" run --preset tiny --quiet --output "$WORK/nomodels.h5" >/dev/null 2>&1


# --int8-weights per-tensor (issue 17): one weight scale per layer. The exported C still
# equals the suite's int8 inference exactly on every case; in a run it moves the int8
# accuracy and nothing else (the float models are untouched); export --results takes the
# run's granularity unless its own command line names one
pt=(--preset tiny --dataset electrical --seed 7 --int8-weights per-tensor)
if "$FEDALIGN" export --model-bin "$WORK/electrical.bin" --client 1 --out "$WORK/pt" --bench-reps 0 "${pt[@]}" >"$WORK/pt.txt" 2>&1 &&
   "$QREF" cases "$WORK/electrical.bin" 1 "$WORK/pt/cases.c" "${pt[@]}" >"$WORK/pt/ref.txt" 2>/dev/null &&
   $CC $CFLAGS -I"$WORK/pt" "$WORK/pt/model.c" "$WORK/pt/cases.c" "$SRC/tools/export_driver.c" "$SRC/tools/driver_host.c" -o "$WORK/pt/driver" &&
   "$WORK/pt/driver" >"$WORK/pt/out.txt" && grep -q 'int8_weights=per-tensor' "$WORK/pt.txt" &&
   cmp -s <(grep '^pred ' "$WORK/pt/ref.txt") <(grep '^pred ' "$WORK/pt/out.txt"); then
  pass "per-tensor: exported C == suite int8 on all $(grep -c '^pred ' "$WORK/pt/ref.txt") cases"
else
  fail "per-tensor export: $(cat "$WORK/pt.txt")"
fi
cmp -s "$WORK/pt/model.c" "$WORK/electrical/model.c" && fail "per-tensor model.c equals the per-channel one" \
  || pass "--int8-weights changes model.c"
for w in per-channel per-tensor; do
  "$MPIEXEC" -n 1 "$FEDALIGN" run --preset tiny --quiet --int8-weights $w --save-models --output "$WORK/w$w.h5" \
    </dev/null >"$WORK/w$w.txt" 2>&1 || fail "run --int8-weights $w"
done
a=$(grep -o 'checksum[_a-z]*=[^ ]*' "$WORK/wper-channel.txt" | tr '\n' ' '); b=$(grep -o 'checksum[_a-z]*=[^ ]*' "$WORK/wper-tensor.txt" | tr '\n' ' ')
ia=$(grep -o 'acc_int8_mean=[^ ]*' "$WORK/wper-channel.txt"); ib=$(grep -o 'acc_int8_mean=[^ ]*' "$WORK/wper-tensor.txt")
[ -n "$a" ] && [ "$a" = "$b" ] && [ -n "$ia" ] && [ "$ia" != "$ib" ] \
  && pass "run --int8-weights per-tensor: same model checksums, int8 accuracy moves ($ia -> $ib)" \
  || fail "run --int8-weights: checksums '$a' vs '$b', $ia vs $ib"
o1=$("$FEDALIGN" export --results "$WORK/wper-tensor.h5" --client 0 --out "$WORK/wr1" --bench-reps 0 2>&1)
o2=$("$FEDALIGN" export --results "$WORK/wper-tensor.h5" --client 0 --out "$WORK/wr2" --bench-reps 0 --int8-weights per-channel 2>&1)
echo "$o1" | grep -q 'int8_weights=per-tensor' && echo "$o2" | grep -q 'int8_weights=per-channel' \
  && pass "export --results: the run's --int8-weights unless given" || fail "export --results granularity: $o1 / $o2"

# bad input: exit 2 and one message naming the problem
check_bad() {
  local want=$1; shift
  out=$("$FEDALIGN" export "$@" 2>&1); rc=$?
  if [ $rc -ne 2 ]; then fail "export $*: exited $rc (want 2): $out"; return; fi
  echo "$out" | grep -q -- "$want" && pass "export $* -> $want" || fail "export $*: message lacks '$want': $out"
}
printf 'garbage' >"$WORK/bad.bin"
check_bad "needs --out" --model-bin "$WORK/electrical.bin"
check_bad "not a fedalign model file" --model-bin "$WORK/bad.bin" --out "$WORK/x" --preset tiny
check_bad "cannot open" --model-bin "$WORK/missing.bin" --out "$WORK/x" --preset tiny
check_bad "cannot open" --results "$WORK/r.h5" --out "$WORK/x"
check_bad "--client: 9 is out of range" --model-bin "$WORK/electrical.bin" --client 9 --out "$WORK/x" --preset tiny --dataset electrical
check_bad "is not a C identifier" --model-bin "$WORK/electrical.bin" --prefix 9x --out "$WORK/x" --preset tiny --dataset electrical --seed 7
check_bad "classes but the data" --model-bin "$WORK/electrical.bin" --out "$WORK/x" --preset tiny --dataset mechanical
check_bad "rerun with --save-models" --results "$WORK/nomodels.h5" --out "$WORK/x"
check_bad "unknown option '--bogus'" --model-bin "$WORK/electrical.bin" --out "$WORK/x" --bogus

# an earlier export is not replaced without --overwrite (refused before any work, files
# untouched); with it, the files are written again
cp "$WORK/electrical/model.c" "$WORK/model.c.before"
echo '/* edited */' >>"$WORK/electrical/model.c"
check_bad "electrical/model.h' exists; use --overwrite" --model-bin "$WORK/electrical.bin" --client 1 \
  --out "$WORK/electrical" --bench-reps 0 --preset tiny --dataset electrical --seed 7
rm "$WORK/electrical/model.h"
check_bad "electrical/model.c' exists; use --overwrite" --model-bin "$WORK/electrical.bin" --client 1 \
  --out "$WORK/electrical" --bench-reps 0 --preset tiny --dataset electrical --seed 7
tail -1 "$WORK/electrical/model.c" | grep -q edited && pass "refused export left model.c as it was" \
  || fail "a refused export changed model.c"
if "$FEDALIGN" export --model-bin "$WORK/electrical.bin" --client 1 --out "$WORK/electrical" --overwrite \
     --bench-reps 0 --preset tiny --dataset electrical --seed 7 >/dev/null 2>&1 \
   && cmp -s "$WORK/electrical/model.c" "$WORK/model.c.before"; then
  pass "--overwrite replaces an earlier export"
else
  fail "--overwrite did not replace the earlier export"
fi
finish
