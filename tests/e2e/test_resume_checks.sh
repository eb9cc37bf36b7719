#!/usr/bin/env bash
# Issue 14, items 9, 11 and 12 (label e2e): a resume whose input data changed is refused
# (data_hash); the run's own checkpoint spelled differently (./o.h5.ckpt, an absolute
# path) is resumed, not refused as "exists"; names too long to be written, runs that
# cannot fit in memory, and a weighted update sum beyond the fixed-point range end up
# front (or at the round) with one message and exit 2 on every rank, leaving no output.
. "$(dirname "$0")/common.sh"
DATA=${FA_TEST_DATA_DIR:-$(cd "$(dirname "$0")/../data" && pwd)}
export OMP_NUM_THREADS=1
cd "$WORK"

# refused N WANT ARGS...: exit 2 within 60 s, WANT in the one error line, every rank exit 2
refused() {
  local n=$1 want=$2; shift 2
  timeout 60 "$MPIEXEC" -n "$n" "$FEDALIGN" "$@" > out.txt 2>&1; local rc=$?
  [ $rc = 2 ] || { fail "$want: exit $rc (want 2)"; sed 's/^/  | /' out.txt | tail -5 >&2; return 1; }
  [ "$(grep -c 'fedalign: error:' out.txt)" = 1 ] || { fail "$want: not exactly one error line"; return 1; }
  grep -qF -- "$want" out.txt || { fail "message lacks '$want'"; grep 'fedalign:' out.txt >&2; return 1; }
  rm -rf rc && mkdir rc
  FA_RC_DIR=$WORK/rc OMPI_MCA_orte_abort_on_non_zero_status=0 timeout 60 \
    "$MPIEXEC" -n "$n" bash -c '"$0" "$@" >/dev/null 2>&1; echo $? > "$FA_RC_DIR/rank${OMPI_COMM_WORLD_RANK:-$PMIX_RANK}"' \
    "$FEDALIGN" "$@" >/dev/null 2>&1
  for ((r = 0; r < n; r++)); do
    [ "$(cat rc/rank$r 2>/dev/null)" = 2 ] || { fail "$want: rank $r exit $(cat rc/rank$r 2>/dev/null)"; return 1; }
  done
  return 0
}

# --- item 9: the input data of a resume ------------------------------------------------
cp "$DATA/csv_pool.csv" in.csv
A="run --preset tiny --dataset csv:in.csv --clients 3 --quiet"
mpirun_n 2 "$FEDALIGN" $A --output ref.h5 > ref.txt 2>&1 || fail "csv reference run failed"
/usr/bin/python3 -c "import h5py,sys; h=h5py.File('ref.h5')['/'].attrs['data_hash']; sys.exit(0 if len(str(h)) >= 8 else 1)" 2>/dev/null \
  && pass "results file has a data_hash" || fail "no data_hash attribute in the results file"
mpirun_n 2 "$FEDALIGN" $A --output d.h5 --stop-after-round 2 > s1.txt 2>&1
[ $? = 3 ] && [ -f d.h5.ckpt ] || fail "stop-after-round 2 on CSV data"
cp d.h5.ckpt d.keep
# one feature value of one row changed, same size and layout
sed -i '5s/^\([^,]*\),0\./\1,1./' in.csv
cmp -s in.csv "$DATA/csv_pool.csv" && fail "test setup: the CSV did not change"
if refused 2 "the input data differ from the data checkpoint" $A --output d.h5 --resume d.h5.ckpt; then
  grep -q "data_hash [0-9a-f]\{16\} in the checkpoint, [0-9a-f]\{16\} now" out.txt \
    && pass "changed CSV: resume refused with both hashes, exit 2 on every rank" \
    || fail "changed CSV: message does not name both hashes"
fi
[ ! -e d.h5 ] && cmp -s d.h5.ckpt d.keep || fail "refused resume touched the output or the checkpoint"
cp "$DATA/csv_pool.csv" in.csv
mpirun_n 1 "$FEDALIGN" $A --output d.h5 --resume d.h5.ckpt > s2.txt 2>&1 || fail "resume on the original CSV failed"
[ "$(sums ref.txt)" = "$(sums s2.txt)" ] && same_h5 ref.h5 d.h5 && pass "original CSV: resume (-n 2 -> 1) identical" \
  || fail "resume on the original CSV differs"

# --- item 11: the checkpoint spelled differently ---------------------------------------
G="run --preset tiny --quiet"
mpirun_n 2 "$FEDALIGN" $G --output g.h5 > gref.txt 2>&1 || fail "reference run failed"
mkdir -p sub
for spell in "./o.h5.ckpt" "$WORK/o.h5.ckpt" "sub/../o.h5.ckpt"; do
  rm -f o.h5 o.h5.ckpt
  mpirun_n 2 "$FEDALIGN" $G --output o.h5 --stop-after-round 2 > s1.txt 2>&1
  [ $? = 3 ] || { fail "stop for '$spell'"; continue; }
  mpirun_n 2 "$FEDALIGN" $G --output o.h5 --resume "$spell" > s2.txt 2>&1 \
    || { fail "--resume $spell refused: $(grep 'fedalign:' s2.txt)"; continue; }
  [ "$(sums gref.txt)" = "$(sums s2.txt)" ] && [ ! -e o.h5.ckpt ] && pass "--resume $spell: resumed, identical, checkpoint removed" \
    || fail "--resume $spell: differs or checkpoint left"
done
rm -f o.h5
refused 2 "--checkpoint must differ from --output" $G --output o.h5 --checkpoint ./o.h5 \
  && pass "--checkpoint ./o.h5 with --output o.h5 refused"

# --- item 12: names too long to write, memory, aggregation range -----------------------
long=$(printf 'n%.0s' $(seq 205))
refused 2 "output file name '$long.h5' is 208 characters long" $G --output "$long.h5" \
  && pass "208-character output name refused up front"
ok=$(printf 'n%.0s' $(seq 199))  # its checkpoint, $ok.h5.ckpt, is the longest allowed name
refused 2 "checkpoint file name" $G --output "${ok}x.h5" && pass "checkpoint name one too long refused"
mpirun_n 2 "$FEDALIGN" $G --output "$ok.h5" --checkpoint-every 1 > s1.txt 2>&1 \
  && [ -f "$ok.h5" ] && pass "longest allowed names: written with checkpoints" || fail "the longest allowed name failed: $(grep 'fedalign:' s1.txt | head -3)"
ls | grep -q "^nnnnnnnnnn.*\(tmp\|ckpt\)" && fail "temporary or checkpoint left beside the long names"

refused 2 "GiB are available" run --preset tiny --clients 64 --samples 100000000 --output m.h5 \
  && pass "a run needing far more memory than available refused up front"
[ ! -e m.h5 ] && [ ! -e m.h5.ckpt ] || fail "memory refusal left a file"

# FedAvg's weights (training rows) times scaled updates below FA_UPDATE_MAX: each rank's
# sum leaves int64 / ranks (was: exit 1 from comm.c's reduce check)
refused 4 "aggregation failed" run --preset tiny --method fedavg --clients 4 --samples 100000 \
  --rounds 2 --attack scale:1 --attack-scale 4e3 --output agg.h5 \
  && pass "weighted sum beyond the fixed-point range: aggregation failed, exit 2 on every rank"
[ ! -e agg.h5 ] || fail "aggregation failure left a results file"
finish
