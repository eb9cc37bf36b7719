#!/usr/bin/env bash
# data/: the committed synthetic samples are exactly what data/samples/make_samples.sh
# writes with this build (so the docs' examples cannot drift from the generator), the
# docs/byod.md commands work on them, and the real datasets are git-ignored.
. "$(dirname "$0")/common.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
samples=$root/data/samples
mkdir -p "$WORK/s"
bash "$samples/make_samples.sh" "$FEDALIGN" "$WORK/s" || fail "make_samples.sh"
for f in electrical_sites.csv electrical_public.csv; do
  cmp -s "$samples/$f" "$WORK/s/$f" && pass "data/samples/$f = make_samples.sh output" \
    || fail "data/samples/$f differs from make_samples.sh output (run it and commit)"
done

# docs/byod.md: one client per site, public rows from a second file
out=$("$FEDALIGN" data --dataset "csv:$samples/electrical_sites.csv" --partition column:site \
      --clients 3 --public "csv:$samples/electrical_public.csv" --describe 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q '^# data: csv, 6 features, 6 classes; clients 0..2 of 3' \
  && echo "$out" | grep -q 'public data: 79 rows' \
  && pass "byod: --partition column:site --public csv:... --describe" || fail "byod describe: rc $rc: $out"
# the per-client row counts are the sites' row counts (site0..site2, in sorted order)
for t in 0 1 2; do
  want=$(grep -c "^site$t," "$samples/electrical_sites.csv")
  got=$(echo "$out" | awk -v t=$t '$1 == t { print $5 }')
  [ "$want" = "$got" ] && pass "client $t = site$t ($got rows)" || fail "client $t has $got rows, site$t $want"
done
out=$("$FEDALIGN" data --dataset "csv:$samples/electrical_sites.csv" --partition column:site \
      --clients 4 --describe 2>&1); rc=$?
[ $rc = 2 ] && echo "$out" | grep -q "the column has 3 distinct values but 4 clients" \
  && pass "byod: a client count other than the sites' is refused" || fail "byod 4 clients: rc $rc: $out"

# the real datasets are never committed: git ignores them under data/
if git -C "$root" rev-parse --git-dir > /dev/null 2>&1; then
  for f in data/electrical_fault_kaggle/classData.csv data/electrical_fault_kaggle/detect_dataset.csv \
           data/ai4i2020/ai4i2020.csv data/ai4i2020/predictive_maintenance.csv; do
    git -C "$root" check-ignore -q "$f" && pass "git ignores $f" || fail "$f is not git-ignored"
  done
  for f in data/README.md data/ai4i2020/README.md data/samples/electrical_sites.csv results/README.md; do
    git -C "$root" check-ignore -q "$f" && fail "$f is git-ignored" || pass "git tracks $f"
  done
else
  echo "note: not a git checkout, .gitignore not checked"
fi
finish
