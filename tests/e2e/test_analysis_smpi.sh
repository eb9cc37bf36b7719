#!/usr/bin/env bash
# SMPI prediction plots (label e2e): analysis/scaling.py --smpi on the fixture runs in
# tests/data/smpi (the "# smpi" header, phase table and FEDALIGN_RESULT line that
# jobs/smpi_predict.sh writes) makes smpi_weak.png, smpi_strong.png and smpi.md with the
# efficiency of every point and, per series, where it falls below 90 % and which phase
# exceeds its ideal time most at the largest point: comm for the fat-tree weak series, the ring for the edge one, phase 0 (the
# serial part) for the strong one.
. "$(dirname "$0")/common.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FIX=${FA_TEST_DATA_DIR:-$ROOT/tests/data}/smpi
/usr/bin/python3 "$ROOT/analysis/scaling.py" --smpi "$FIX" --out "$WORK/rep" > "$WORK/log" 2>&1 ||
  { cat "$WORK/log"; fail "scaling.py --smpi failed"; finish; }
for f in smpi_weak.png smpi_strong.png smpi.md; do
  [ -s "$WORK/rep/$f" ] && pass "$f written" || fail "$f missing"
done
md=$WORK/rep/smpi.md
grep -q '^| fat | weak | 64,32 | 4 | 4 | 1.05 | 0.952 |' "$md" && pass "weak efficiency T(1)/T(4)" ||
  fail "weak efficiency row: $(grep '| fat | weak | 64,32 | 4 |' "$md")"
grep -q '^| fat | strong | 512,512 | 16 | 4 | 4 | 0.750 |' "$md" && pass "strong efficiency T(1)/(4 T(4))" ||
  fail "strong efficiency row: $(grep '| fat | strong | 512,512 | 16 | 4 |' "$md")"
for want in '| fat | weak | 64,32 | 1/rank | 0.500 at 16 | 16 | comm |' \
            '| edge | weak | 64,32 | 1/rank | 0.312 at 4 | 4 | ring |' \
            '| fat | strong | 512,512 | 16 | 0.750 at 4 | 4 | phase0 |'; do
  grep -qF "$want" "$md" && pass "limit: $want" || fail "limit row missing: $want"
done
grep -qi 'warning\|Traceback' "$WORK/log" && fail "scaling.py warned: $(cat "$WORK/log")"
finish
