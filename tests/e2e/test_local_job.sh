#!/usr/bin/env bash
# The README's run command (jobs/local.sh), as a new user runs it but with the built
# binary (FEDALIGN: no install/build step) and the tiny preset, into fresh directories:
# it must exit 0, print both suite tables and the comparison table, write one results
# file per dataset, and the analysis tables and plots (a report directory that does not
# exist yet: a fresh clone has none).
. "$(dirname "$0")/common.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$WORK/res
rep=$WORK/new/report
if bash "$root/jobs/local.sh" --preset tiny --ranks 2 --output "$out" --report "$rep" > "$WORK/local.txt" 2>&1; then
  pass "jobs/local.sh exits 0"
else
  fail "jobs/local.sh failed: $(tail -5 "$WORK/local.txt")"
fi
[ "$(grep -c '^# SUITE' "$WORK/local.txt")" = 2 ] && pass "two suite tables (electrical, mechanical)" \
  || fail "suite tables: $(grep -c '^# SUITE' "$WORK/local.txt") (want 2)"
[ "$(ls "$out"/suite_*.h5 2>/dev/null | wc -l)" = 2 ] && pass "two results files" || fail "results files: $(ls "$out")"
[ -s "$rep/comparison.md" ] && [ -s "$rep/comparison.csv" ] && pass "comparison table (md, csv)" \
  || fail "no comparison table in $rep: $(ls "$rep" 2>&1)"
n=$(ls "$rep"/*.png 2>/dev/null | wc -l)
[ "$n" -ge 3 ] && pass "$n plots" || fail "$n plots in $rep"
grep -q '^plots:' "$WORK/local.txt" && grep -q "$rep/.*\.png" "$WORK/local.txt" && pass "prints the plot paths" \
  || fail "plot paths not printed"
finish
