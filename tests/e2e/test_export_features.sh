#!/usr/bin/env bash
# The exported feature extractor (issue 17, item 4): `fedalign export` of a model trained
# on the mechanical generator's features also writes feature_extractor.h/.c, holding
# fedalign's own extractor (src/mech_features.h) verbatim. Compiled standalone (cc -std=c99, no
# fedalign code, contraction off as fedalign's build) it must give bit-identical
# features to fedalign's gen_mech_features on raw windows from the generator and on
# edge cases (tests/tools/feat_ref.c). Data without such an extractor get none.
. "$(dirname "$0")/common.sh"
SRC=$(cd "$(dirname "$0")/.." && pwd)
QREF=$TESTS_BIN/quant_ref
FREF=$TESTS_BIN/feat_ref
[ -x "$QREF" ] && [ -x "$FREF" ] || { fail "quant_ref or feat_ref not built"; finish; }
CC=${CC:-cc}
for ds in mechanical electrical; do
  opts=(--preset tiny --dataset "$ds" --seed 7)
  "$QREF" train "$WORK/$ds.bin" 1 "${opts[@]}" 2>"$WORK/train.err" || { fail "$ds: quant_ref train: $(cat "$WORK/train.err")"; continue; }
  "$FEDALIGN" export --model-bin "$WORK/$ds.bin" --client 1 --out "$WORK/$ds" --bench-reps 0 "${opts[@]}" \
    > "$WORK/$ds.txt" 2>&1 || { fail "$ds: export: $(cat "$WORK/$ds.txt")"; continue; }
done
[ ! -e "$WORK/electrical/feature_extractor.c" ] && pass "electrical data: no feature extractor written" || fail "electrical export wrote feature_extractor.c"
D=$WORK/mechanical
if [ -f "$D/feature_extractor.c" ] && [ -f "$D/feature_extractor.h" ]; then
  grep -q '#define MODEL_N_FEATURES 17' "$D/feature_extractor.h" && grep -q '#define MODEL_WINDOW 256' "$D/feature_extractor.h" \
    && pass "mechanical export: feature_extractor.h declares 17 features of 256-sample windows" || fail "feature_extractor.h: $(grep define "$D/feature_extractor.h")"
  cmp -s <(sed -n '/^#define FA_MECH_SAMPLE float$/,/^#include "feature_extractor.h"$/p' "$D/feature_extractor.c" | sed '1d;$d' | sed '$d') "$SRC/../src/mech_features.h" \
    && pass "feature_extractor.c holds src/mech_features.h verbatim" || fail "feature_extractor.c does not hold src/mech_features.h verbatim"
  $CC -std=c99 -O2 -ffp-contract=off -Wall -Wextra -Werror -I"$D" "$D/feature_extractor.c" "$SRC/tools/feat_driver.c" -lm \
    -o "$WORK/feat_driver" 2>"$WORK/cc.err" && pass "feature_extractor.c builds standalone with $CC -std=c99 -Wall -Wextra -Werror" \
    || fail "feature_extractor.c does not build: $(head -5 "$WORK/cc.err")"
  "$FREF" 256 "$WORK/windows.txt" "$WORK/ref.txt" || fail "feat_ref failed"
  "$WORK/feat_driver" < "$WORK/windows.txt" > "$WORK/dev.txt" || fail "feat_driver failed"
  n=$(wc -l < "$WORK/ref.txt")
  [ "$n" = 165 ] && cmp -s "$WORK/ref.txt" "$WORK/dev.txt" \
    && pass "exported extractor == fedalign's features, bit for bit, on all $n windows (160 generated, 5 edge cases)" \
    || fail "exported features differ from fedalign's ($n windows): $(diff "$WORK/ref.txt" "$WORK/dev.txt" | head -4)"
  # the test can fail: a different extractor (here: a Hamming instead of a Hann window) is caught
  sed 's/hw = 0\.5 - 0\.5 /hw = 0.54 - 0.46 /' "$D/feature_extractor.c" > "$WORK/bad_feature_extractor.c"
  $CC -std=c99 -O2 -ffp-contract=off -I"$D" "$WORK/bad_feature_extractor.c" "$SRC/tools/feat_driver.c" -lm -o "$WORK/bad_driver" \
    && ! cmp -s "$WORK/ref.txt" <("$WORK/bad_driver" < "$WORK/windows.txt") \
    && pass "a changed extractor is detected" || fail "a changed extractor went unnoticed"
  out=$("$FEDALIGN" export --model-bin "$WORK/mechanical.bin" --client 1 --out "$D" --bench-reps 0 --preset tiny --dataset mechanical --seed 7 2>&1); rc=$?
  [ $rc = 2 ] && grep -q "exists; use --overwrite" <<<"$out" && pass "an earlier export is not replaced without --overwrite" || fail "re-export: rc $rc: $out"
else
  fail "mechanical export wrote no feature_extractor.c/feature_extractor.h: $(cat "$D/../mechanical.txt" 2>/dev/null)"
fi
finish
