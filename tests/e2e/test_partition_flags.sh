#!/usr/bin/env bash
# Partition flags say what they do (label e2e; issue 13): --quantity-skew acts on a CSV
# Dirichlet partition (the data command's table changes with it) and is refused with the
# column partition; --row-order shuffled changes the models of a CSV Dirichlet run but not
# its per-client class counts, and is refused where it has no meaning; `data --describe`
# stays bounded for many clients. Refusals: exit 2 with one message, on 2 ranks.
. "$(dirname "$0")/common.sh"
DATA=${FA_TEST_DATA_DIR:-$(cd "$(dirname "$0")/../data" && pwd)}
cd "$WORK"
export OMP_NUM_THREADS=1
POOL=(--dataset "csv:$DATA/csv_pool.csv" --feature-cols f1,f2 --clients 3 --min-samples 20)

# --quantity-skew: three values, three different partitions
for q in 0 0.5 2; do
  "$FEDALIGN" data "${POOL[@]}" --quantity-skew $q > "d$q.txt" 2>&1 || fail "data --quantity-skew $q exited $?"
done
if ! cmp -s d0.txt d0.5.txt && ! cmp -s d0.5.txt d2.txt && ! cmp -s d0.txt d2.txt; then
  pass "--quantity-skew 0 / 0.5 / 2 give three different CSV Dirichlet partitions"
else fail "--quantity-skew does not change the CSV Dirichlet partition"; fi
# sigma 2 spreads the client sizes further than sigma 0 (rows column of the table)
spread() { awk '$1 ~ /^[0-9]+$/ {r=$5; if (min=="" || r<min) min=r; if (r>max) max=r} END {print max - min}' "$1"; }
[ "$(spread d2.txt)" -gt "$(spread d0.txt)" ] && pass "sigma 2 spreads client sizes ($(spread d0.txt) -> $(spread d2.txt) rows)" \
  || fail "sigma 2 does not spread client sizes ($(spread d0.txt) -> $(spread d2.txt))"

# --row-order: same class counts per client, different rows (so different models)
"$FEDALIGN" data "${POOL[@]}" --row-order shuffled > dshuf.txt 2>&1 || fail "data --row-order shuffled exited $?"
cmp -s dshuf.txt d0.5.txt && pass "--row-order keeps the per-client class counts" \
  || fail "--row-order changed the per-client class counts"
run_sums() { "$FEDALIGN" run --preset tiny --quiet "${POOL[@]}" --output "$1.h5" "${@:2}" < /dev/null > "$1.txt" 2>&1 \
  || fail "run $* exited $?"; sums "$1.txt"; }
base=$(run_sums base)
shuf=$(run_sums shuf --row-order shuffled)
q0=$(run_sums q0 --quantity-skew 0)
[ -n "$base" ] && [ "$base" != "$shuf" ] && pass "--row-order shuffled changes the run's checksums" \
  || fail "--row-order shuffled leaves the checksums unchanged"
[ -n "$q0" ] && [ "$base" != "$q0" ] && pass "--quantity-skew changes a CSV Dirichlet run's checksums" \
  || fail "--quantity-skew leaves a CSV Dirichlet run unchanged"
# the default is unchanged by the new flag: --row-order file is today's partition
[ "$(run_sums file --row-order file)" = "$base" ] && pass "--row-order file is the default" \
  || fail "--row-order file differs from the default"

# refusals: exit 2, one clear message, every rank
refuse() { # want-text args...
  local want=$1; shift
  mpirun_n 2 "$FEDALIGN" data "$@" < /dev/null > ref.txt 2>&1; local rc=$?
  if [ $rc -eq 2 ] && grep -q -- "$want" ref.txt; then pass "refused ($want): $*"
  else fail "expected exit 2 with '$want' for: $* (rc $rc)"; cat ref.txt >&2; fi
}
refuse "does not apply to --partition column:load" --dataset "csv:$DATA/csv_pool.csv" \
  --feature-cols f1,f2 --partition column:load --clients 4 --min-samples 20 --quantity-skew 1
refuse "applies to --dataset csv:PATH with --partition dirichlet" --preset tiny --row-order shuffled
refuse "applies to --dataset csv:PATH with --partition dirichlet" "${POOL[@]}" --partition iid --row-order shuffled
# the column partition without an explicit skew runs (the default sigma does not apply)
"$FEDALIGN" data --dataset "csv:$DATA/csv_pool.csv" --feature-cols f1,f2 --partition column:load \
  --clients 4 --min-samples 20 --quantity-skew 0 > col.txt 2>&1 && pass "column partition with --quantity-skew 0 runs" \
  || fail "column partition with --quantity-skew 0 refused"

# describe: every client up to 50, first and last 10 plus a summary above
"$FEDALIGN" data --preset tiny --clients 50 > d50.txt 2>&1 || fail "data --clients 50 exited $?"
"$FEDALIGN" data --preset tiny --clients 200 > d200.txt 2>&1 || fail "data --clients 200 exited $?"
rows() { awk '$1 ~ /^[0-9]+$/' "$1" | wc -l; }
[ "$(rows d50.txt)" -eq 50 ] && pass "50 clients: 50 rows" || fail "50 clients: $(rows d50.txt) rows"
if [ "$(rows d200.txt)" -eq 20 ] && grep -q "180 clients not shown" d200.txt \
  && grep -q "classes present per client: *min" d200.txt && awk '$1 == 199' d200.txt | grep -q .; then
  pass "200 clients: first and last 10 rows and the summary"
else fail "200 clients: bounded table wrong"; cat d200.txt >&2; fi
finish
