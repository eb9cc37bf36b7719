#!/usr/bin/env bash
# Hostile input (issue 7, item 4): a table of bad inputs, each with the message it
# must produce. test_cli.sh has the first flag cases and test_resume.sh the first
# resume cases; this table extends both and checks more per case:
#   - `mpiexec -n 2` exits 2 within FA_BAD_INPUT_TIMEOUT seconds (no hang, no crash);
#   - exactly one "fedalign: error:" line, and the expected text in the message;
#   - every rank exits 2: the case is run a second time with Open MPI told not to
#     kill the other ranks when one fails, each rank recording its own exit code;
#   - nothing is left at the output name (--output $WORK/x.h5 is passed to every
#     case; a case may override it), nor its .tmp or .ckpt; a case that names an
#     existing file checks that the file is unchanged.
# Bad CSV files come from tests/data/bad_*.csv or are generated in $WORK.
. "$(dirname "$0")/common.sh"
DATA=${FA_TEST_DATA_DIR:-$(cd "$(dirname "$0")/../data" && pwd)}
LIMIT=${FA_BAD_INPUT_TIMEOUT:-60}
export OMP_NUM_THREADS=1
OUT=$WORK/x.h5
KEEP=""   # a file that must survive a case unchanged (set per case, reset after it)

# check_bad WANT COMMAND [ARGS...]
check_bad() {
  local want=$1; shift
  local cmd=$1; shift
  local args=("$cmd" --output "$OUT" "$@") keep_sum="" out rc r c
  local name="$cmd $*"
  [ ${#name} -le 110 ] || name="${name:0:107}..."
  [ -z "$KEEP" ] || keep_sum=$(md5sum < "$KEEP")
  rm -rf "$OUT" "$OUT.tmp" "$OUT.ckpt" "$OUT.ckpt.tmp"   # no case inherits another's leftovers
  out=$(timeout "$LIMIT" "$MPIEXEC" -n 2 "$FEDALIGN" "${args[@]}" 2>&1); rc=$?
  KEEP_CUR=$KEEP; KEEP=""
  if [ $rc = 124 ]; then fail "$name: no exit within ${LIMIT} s (hang)"; return; fi
  if [ $rc != 2 ]; then fail "$name: exit $rc (want 2): $(echo "$out" | head -12)"; return; fi
  c=$(echo "$out" | grep -c 'fedalign: error:')
  if [ "$c" != 1 ]; then fail "$name: $c 'fedalign: error:' lines (want 1): $(echo "$out" | head -12)"; return; fi
  if ! echo "$out" | grep -qF -- "$want"; then
    fail "$name: message lacks '$want': $(echo "$out" | grep -A2 'fedalign: error:')"; return
  fi
  for f in "$OUT" "$OUT.tmp" "$OUT.ckpt" "$OUT.ckpt.tmp"; do
    [ ! -e "$f" ] || { fail "$name: left $f behind"; rm -rf "$f"; return; }
  done
  if [ -n "$KEEP_CUR" ] && [ "$(md5sum < "$KEEP_CUR")" != "$keep_sum" ]; then
    fail "$name: $KEEP_CUR was modified"; return
  fi
  # every rank: 2 (Open MPI 4 would otherwise kill the rest once one rank exits)
  rm -rf "$WORK/rc"; mkdir -p "$WORK/rc"
  FA_RC_DIR=$WORK/rc OMPI_MCA_orte_abort_on_non_zero_status=0 timeout "$LIMIT" \
    "$MPIEXEC" -n 2 bash -c '"$0" "$@" >/dev/null 2>&1; echo $? > "$FA_RC_DIR/rank${OMPI_COMM_WORLD_RANK:-$PMIX_RANK}"' \
    "$FEDALIGN" "${args[@]}" >/dev/null 2>&1
  for r in 0 1; do
    c=$(cat "$WORK/rc/rank$r" 2>/dev/null || echo none)
    [ "$c" = 2 ] || { fail "$name: rank $r exit code $c (want 2)"; return; }
  done
  rm -f "$OUT" "$OUT.tmp" "$OUT.ckpt"
  pass "$name -> $want"
}

# ---- flags and values (test_cli.sh has --bogus, --lr -1, --clients 0, --client-frac 1.5,
#      dirichlet:0 and :-2, --rounds abc, unknown method/preset, a missing value, --hidden)
check_bad "unexpected argument '-n' (options start with --)" run --preset tiny -n 3
check_bad "unknown option '--bogus'" run --preset tiny --bogus=1
check_bad "unknown option '--output-file'" run --preset tiny --output-file y.h5
check_bad "--overwrite takes no value" run --preset tiny --overwrite=yes
check_bad "--p0-lr: -0.5 is out of range" run --preset tiny --p0-lr -0.5
check_bad "--p3-lr: -1 is out of range" run --preset tiny --p3-lr -1
check_bad "--alpha: -1 is out of range" run --preset tiny --alpha -1
check_bad "--mu: -0.1 is out of range" run --preset tiny --method fedprox --mu -0.1
check_bad "--lr: 0 is out of range" run --preset tiny --lr 0
check_bad "--lr: 'nan' is not a number" run --preset tiny --lr nan
check_bad "--lr: 'inf' is not a number" run --preset tiny --lr inf
check_bad "--lr: '1e999' is not a number" run --preset tiny --lr 1e999
check_bad "--lr: '0.1x' is not a number" run --preset tiny --lr 0.1x
check_bad "--clients: '-3' is not a non-negative integer" run --preset tiny --clients -3
check_bad "--clients: '2.5' is not a non-negative integer" run --preset tiny --clients 2.5
check_bad "--seed: '18446744073709551616' is not a non-negative integer" run --preset tiny --seed 18446744073709551616
check_bad "--samples: 0 is out of range" run --preset tiny --samples 0
check_bad "--batch: 0 is out of range" run --preset tiny --batch 0
check_bad "--rounds: 10000001 is out of range" run --preset tiny --rounds 10000001
check_bad "--client-frac: 0 is out of range" run --preset tiny --client-frac 0
check_bad "--p1-frac: 1.5 is out of range" run --preset tiny --p1-frac 1.5
check_bad "--public-frac: 2 is out of range" run --preset tiny --public-frac 2
check_bad "--target-acc: 1.01 is out of range" run --preset tiny --target-acc 1.01
check_bad "--val-frac + --test-frac must leave at least 10%" run --preset tiny --val-frac 0.5 --test-frac 0.45
check_bad "Dirichlet beta must be a number > 0, got 'nan'" run --preset tiny --partition dirichlet:nan
check_bad "Dirichlet beta must be a number > 0, got 'inf'" run --preset tiny --partition dirichlet:inf
check_bad "Dirichlet beta must be a number > 0, got ''" run --preset tiny --partition dirichlet:
check_bad "Dirichlet beta must be a number > 0, got '-0'" run --preset tiny --partition=dirichlet:-0
check_bad "--partition: unknown partition 'column:'" run --preset tiny --partition column:
check_bad "--hidden: expected a comma list" run --preset tiny --hidden 0,5
check_bad "--hidden: expected a comma list" run --preset tiny --hidden 1,2,3,4,5,6,7,8,9
check_bad "--partition column:NAME needs --dataset csv:PATH" run --preset tiny --partition column:load
check_bad "--export is an option of 'fedalign data'" run --preset tiny --export "$WORK"
check_bad "--dataset: unknown dataset 'csv:'" run --preset tiny --dataset csv:
check_bad "--dataset: path too long" run --preset tiny --dataset "csv:$(printf 'a%.0s' $(seq 1100))"
check_bad "--output: empty or too long path" run --preset tiny --output ""
check_bad "--samples (30) must be at least --min-samples (40)" run --preset tiny --samples 30
check_bad "--ablate applies to --method fedmetaalign only" run --preset tiny --method fedprox --mu 0 --ablate phase0

# ---- files: missing, a directory, empty, malformed (tests/data/bad_*.csv and generated)
mkdir -p "$WORK/adir"
csv() { echo "--dataset csv:$1"; }
check_bad "missing_public.csv" run --preset tiny $(csv "$DATA/csv_pool.csv") --public "csv:$WORK/missing_public.csv"
check_bad "adir" run --preset tiny $(csv "$DATA/csv_pool.csv") --public "csv:$WORK/adir"
check_bad "empty file (no header row)" run --preset tiny $(csv "$DATA/bad_empty.csv")
printf '\n\r\n  \n' > "$WORK/blank.csv"
check_bad "blank.csv:" run --preset tiny $(csv "$WORK/blank.csv")
printf '\xef\xbb\xbf' > "$WORK/bom_only.csv"
check_bad "empty file (no header row)" run --preset tiny $(csv "$WORK/bom_only.csv")
check_bad "no data rows (header only)" run --preset tiny $(csv "$DATA/bad_header_only.csv")
check_bad "bad_ragged.csv:4:3: expected 3 columns, found 2" run --preset tiny $(csv "$DATA/bad_ragged.csv")
check_bad "bad_ragged_long.csv:3:4: expected 3 columns, found 4" run --preset tiny $(csv "$DATA/bad_ragged_long.csv")
check_bad "non-numeric value 'abc' in column 'b'" run --preset tiny $(csv "$DATA/bad_non_numeric.csv")
check_bad "empty value in numeric column 'b'" run --preset tiny $(csv "$DATA/bad_empty_cell.csv")
check_bad "NaN/Inf value 'NaN' in column 'a'" run --preset tiny $(csv "$DATA/bad_nan.csv")
check_bad "NaN/Inf value '-inf' in column 'b'" run --preset tiny $(csv "$DATA/bad_inf.csv")
check_bad "out-of-range (overflows to Inf) value '1e999'" run --preset tiny $(csv "$DATA/bad_overflow.csv")
printf 'a,b,label\n1,2,x\n3,3.5e38,y\n' > "$WORK/big.csv"
check_bad "out-of-range value '3.5e38' in column 'b' (exceeds float)" run --preset tiny $(csv "$WORK/big.csv")
printf 'a,b,label\n1,2,x\n3,4 5,y\n' > "$WORK/space.csv"
check_bad "space.csv:3:2: non-numeric value '4 5' in column 'b'" run --preset tiny $(csv "$WORK/space.csv")
printf 'a,b,label\n1,2,x\n3,4, \n' > "$WORK/nolabel.csv"
check_bad "nolabel.csv:3:3: empty label value in column 'label'" run --preset tiny $(csv "$WORK/nolabel.csv")
check_bad "the label has only one class ('x')" run --preset tiny $(csv "$DATA/bad_one_class.csv")
check_bad "duplicate column name 'a'" run --preset tiny $(csv "$DATA/bad_dup_header.csv")
check_bad "malformed quoting" run --preset tiny $(csv "$DATA/bad_quote.csv")
check_bad "unterminated quoted field" run --preset tiny $(csv "$DATA/bad_unclosed.csv")
check_bad "more than 16 classes" run --preset tiny $(csv "$DATA/bad_many_classes.csv")
check_bad "more than 64 feature columns" run --preset tiny $(csv "$DATA/bad_many_features.csv")
# 4 KiB of fixed pseudo-random bytes (perl is essential in Debian), then a stray quote
perl -e 'srand(7); print map { chr(int(rand(256))) } 1..4096' > "$WORK/garbage.csv"
printf '\x00\x01\x02"\xff' >> "$WORK/garbage.csv"
check_bad "garbage.csv:" run --preset tiny $(csv "$WORK/garbage.csv")
check_bad "unknown column 'nope' in label_cols" run --preset tiny $(csv "$DATA/csv_pool.csv") --label-cols nope
check_bad "column 'label' is a label column and cannot be a feature" run --preset tiny $(csv "$DATA/csv_pool.csv") --feature-cols f1,label
check_bad "unknown group column 'nope'" run --preset tiny $(csv "$DATA/csv_pool.csv") --partition column:nope
check_bad "bad_nan.csv:4:1: NaN/Inf" data $(csv "$DATA/bad_nan.csv") --clients 2
# HDF5 input (--dataset h5:PATH, issue 17): small bad files written here with h5py
if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  /usr/bin/python3 - "$WORK" <<'PYEOF'
import sys, h5py, numpy as np
w = sys.argv[1]
rng = np.random.default_rng(3)
def mk(name, X=None, y=None, **extra):
    with h5py.File(f"{w}/{name}.h5", "w") as f:
        if X is not None: f["X"] = X
        if y is not None: f["y"] = y
        for k, v in extra.items(): f[k] = v
        return f.filename
N = 200
X = rng.normal(size=(N, 16, 2)).astype(np.float32)
y = (np.arange(N) % 3).astype(np.int32)
mk("h_nox", y=y)
mk("h_noy", X=X)
mk("h_rank1", X=np.zeros(N, np.float32), y=y)
mk("h_rank4", X=np.zeros((N, 2, 2, 2), np.float32), y=y)
mk("h_intx", X=np.zeros((N, 4), np.int32), y=y)
mk("h_nmis", X=X, y=y[:-1])
mk("h_y2d", X=X, y=np.zeros((N, 2), np.int32))
Xn = X.copy(); Xn[7, 3, 1] = np.nan; mk("h_nan", X=Xn, y=y)
Xi = X.astype(np.float64); Xi[9, 0, 0] = 1e300; mk("h_inf", X=Xi, y=y)
mk("h_one", X=X, y=np.zeros(N, np.int32))
mk("h_many", X=X, y=(np.arange(N) % 17).astype(np.int32))
mk("h_wide", X=np.zeros((N, 65), np.float32), y=y)
mk("h_floaty", X=X, y=y.astype(np.float32))
mk("h_dev", X=X, y=y, device=np.arange(N - 1))
with h5py.File(f"{w}/h_range.h5", "w") as f:
    f["X"] = X; f["y"] = y
    f["y"].attrs["class_names"] = np.array([b"a", b"b"])
with h5py.File(f"{w}/h_chn.h5", "w") as f:
    f["X"] = X; f["y"] = y
    f["X"].attrs["channel_names"] = np.array([b"only_one"])
open(f"{w}/h_text.h5", "w").write("X,y\n1,2\n")
PYEOF
  h5() { echo "--dataset h5:$WORK/$1.h5"; }
  check_bad "h_nox.h5: no dataset 'X'" run --preset tiny $(h5 h_nox)
  check_bad "h_noy.h5: no dataset 'y'" run --preset tiny $(h5 h_noy)
  check_bad "X is 1-D; it must be [N][L][C] (windows) or [N][D] (features)" run --preset tiny $(h5 h_rank1)
  check_bad "dataset 'X' has 4 dimensions" run --preset tiny $(h5 h_rank4)
  check_bad "X must be float32 or float64 (it holds integers)" run --preset tiny $(h5 h_intx)
  check_bad "'y' has 199 rows but X has 200 (N must match)" run --preset tiny $(h5 h_nmis)
  check_bad "'y' must be 1-D [N]" run --preset tiny $(h5 h_y2d)
  check_bad "h_nan.h5: X row 7, value 7 is NaN" run --preset tiny $(h5 h_nan)
  check_bad "X row 9, value 0 is infinite" run --preset tiny $(h5 h_inf)
  check_bad "y holds 1 class; at least 2 are needed" run --preset tiny $(h5 h_one)
  check_bad "y holds 17 distinct classes; at most 16 are supported" run --preset tiny $(h5 h_many)
  check_bad "X [N][D] has D = 65 features, at most 64" run --preset tiny $(h5 h_wide)
  check_bad "'y' must hold integers or strings (the labels)" run --preset tiny $(h5 h_floaty)
  check_bad "y row 2 is 2, out of range [0, 2) of y.class_names" run --preset tiny $(h5 h_range)
  check_bad "attribute X.channel_names has 1 entries, expected 2" run --preset tiny $(h5 h_chn)
  check_bad "'device' has 199 rows but X has 200" run --preset tiny $(h5 h_dev) --partition column:device
  check_bad "no dataset 'site' (the client ids of --partition column:site)" run --preset tiny $(h5 h_dev) --partition column:site
  check_bad "h_text.h5: not an HDF5 file" run --preset tiny $(h5 h_text)
  check_bad "h_missing.h5: cannot open" run --preset tiny $(h5 h_missing)
  check_bad "--label-cols and --feature-cols apply to csv:PATH" run --preset tiny $(h5 h_nan) --label-cols y
  check_bad "h_nan.h5: X row 7, value 7 is NaN" data $(h5 h_nan) --clients 2
else
  echo "SKIP (part): HDF5 input cases need /usr/bin/python3 with h5py (Debian python3-h5py)"
fi
check_bad "export is a serial tool: run it without mpirun/srun (got 2 ranks)" export --results "$WORK/none.h5" --client 0 --out "$WORK/fw"
# an earlier export is not replaced silently
if "$MPIEXEC" -n 2 "$FEDALIGN" data --preset tiny --export "$WORK/ex" >/dev/null 2>&1 && [ -f "$WORK/ex/client_0.csv" ]; then
  KEEP=$WORK/ex/client_0.csv
  check_bad "client_0.csv exists; choose another --export directory or add --overwrite" data --preset tiny --export "$WORK/ex"
else
  fail "could not make the first export for the overwrite case"
fi
check_bad "bad_nan.csv:4:1: NaN/Inf" suite --preset tiny $(csv "$DATA/bad_nan.csv")

# ---- input agreement, non-regular inputs, limits, degenerate data (issue 14: 1, 5, 10, 12)
# /dev/stdin is a pipe on rank 0 and /dev/null elsewhere: refused on every rank, no hang
check_bad "/dev/stdin: not a regular file" run --preset tiny --dataset csv:/dev/stdin --clients 3 < "$DATA/csv_pool.csv"
mkfifo "$WORK/fifo.csv"   # no writer: a plain open() would block forever
check_bad "fifo.csv: not a regular file" run --preset tiny $(csv "$DATA/csv_pool.csv") --public "csv:$WORK/fifo.csv"
check_bad "/dev/zero: not a regular file" run --preset tiny $(csv /dev/zero)
{ printf 'a,label\n1,x\n'; head -c 1100000 /dev/zero | tr '\0' 7; printf ',y\n'; } > "$WORK/longline.csv"
check_bad "longline.csv:3:0: line longer than 1048576 bytes" run --preset tiny $(csv "$WORK/longline.csv")
check_bad "bad_label_sep.csv:3:1: label value '1,1' in column 'l1' contains ','" run --preset tiny $(csv "$DATA/bad_label_sep.csv") --label-cols l1,l2
check_bad "would get no test rows" run --preset tiny $(csv "$DATA/csv_pool.csv") --clients 40 --min-samples 1
printf 'a,label\n1,x\n2,x\n3,x\n4,y\n5,y\n6,y\n' > "$WORK/tiny_classes.csv"
check_bad "holds out no public rows" run --preset tiny $(csv "$WORK/tiny_classes.csv") --clients 2 --min-samples 1

# the same relative path names a good file on rank 0 and a bad one (or none) on rank 1:
# only rank 0 reads, so the run works and matches a run on the good file everywhere
mkdir -p "$WORK/r0" "$WORK/r1"
cp "$DATA/csv_pool.csv" "$WORK/r0/in.csv"
cp "$DATA/bad_nan.csv" "$WORK/r1/in.csv"
AG="run --preset tiny --quiet --clients 3 --method fedavg --rounds 2"
timeout "$LIMIT" "$MPIEXEC" -n 2 "$FEDALIGN" $AG $(csv "$DATA/csv_pool.csv") --output "$WORK/ag_ref.h5" > "$WORK/ag_ref.txt" 2>&1
for variant in differs missing; do
  [ $variant = missing ] && rm -f "$WORK/r1/in.csv"
  rm -f "$WORK/ag.h5"
  timeout "$LIMIT" "$MPIEXEC" -n 2 bash -c 'cd "$0/r${OMPI_COMM_WORLD_RANK:-$PMIX_RANK}" && exec "$@"' \
    "$WORK" "$FEDALIGN" $AG --dataset csv:in.csv --output "$WORK/ag.h5" > "$WORK/ag.txt" 2>&1; rc=$?
  if [ $rc != 0 ]; then fail "input on rank 1 $variant: exit $rc: $(head -5 "$WORK/ag.txt")"
  elif [ -z "$(sums "$WORK/ag_ref.txt")" ] || [ "$(sums "$WORK/ag.txt")" != "$(sums "$WORK/ag_ref.txt")" ]; then
    fail "input on rank 1 $variant: checksums differ from the run on one file"
  else pass "input on rank 1 $variant: rank 0's bytes used everywhere"; fi
done

# data --describe: the public rows runs use; joined label columns as tuples; few test rows
out=$("$MPIEXEC" -n 2 "$FEDALIGN" data --preset tiny 2>&1)
echo "$out" | grep -q "public data: 1600 rows" && pass "describe: 1600 public rows" ||
  fail "describe does not report the 1600 public rows: $(echo "$out" | tail -1)"
awk 'BEGIN { print "l1,l2,f"; for (i = 0; i < 90; i++) { t = i % 3; print (t == 0 ? "1,11" : t == 1 ? "11,1" : "2,3") "," i } }' > "$WORK/tuples.csv"
out=$("$MPIEXEC" -n 2 "$FEDALIGN" data --preset tiny $(csv "$WORK/tuples.csv") --label-cols l1,l2 --clients 2 --min-samples 5 2>&1)
echo "$out" | grep -q "# classes: k0=1,11 k1=2,3 k2=11,1$" && pass "describe: label tuples kept apart" ||
  fail "label tuples merged or misnamed: $(echo "$out" | grep classes)"
out=$("$MPIEXEC" -n 2 "$FEDALIGN" data --preset tiny $(csv "$DATA/csv_pool.csv") --clients 30 --min-samples 10 2>&1)
[ "$(echo "$out" | grep -c 'fedalign: warning: client [0-9]* has only [0-9]* test rows')" = 1 ] &&
  pass "few test rows: one warning" || fail "few test rows: no single warning: $(echo "$out" | head -3)"

# ---- ranks: more ranks than clients
check_bad "2 ranks but only 1 clients" suite --preset tiny --clients 1
check_bad "2 ranks but only 1 clients" run --preset tiny $(csv "$DATA/csv_pool.csv") --clients 1

# ---- output: unwritable directory, a directory, an existing file, a clashing checkpoint
touch "$WORK/afile"
check_bad "is not a directory" run --preset tiny --output "$WORK/afile/x.h5"
check_bad "does not exist" run --preset tiny --output "$WORK/no/such/dir/x.h5"
check_bad "/proc" run --preset tiny --output /proc/fedalign_bad_input.h5
if [ "$(id -u)" != 0 ]; then   # root writes anywhere: only a non-root user can test mode bits
  mkdir -p "$WORK/ro"; chmod 555 "$WORK/ro"
  check_bad "$WORK/ro" run --preset tiny --output "$WORK/ro/x.h5"
fi
check_bad "is a directory" run --preset tiny --output "$WORK/adir"
printf 'previous results\n' > "$WORK/exists.h5"
KEEP=$WORK/exists.h5
check_bad "output file '$WORK/exists.h5' exists" run --preset tiny --output "$WORK/exists.h5"
check_bad "--checkpoint must differ from --output" run --preset tiny --checkpoint "$OUT"
printf 'older checkpoint\n' > "$WORK/old.ckpt"
KEEP=$WORK/old.ckpt
check_bad "--resume $WORK/old.ckpt" run --preset tiny --checkpoint "$WORK/old.ckpt"

# ---- --resume: corrupt, truncated, not a checkpoint, another configuration
RUN="run --preset tiny --quiet"
"$MPIEXEC" -n 2 "$FEDALIGN" $RUN --output "$WORK/c.h5" --stop-after-round 2 > "$WORK/c.txt" 2>&1
"$MPIEXEC" -n 2 "$FEDALIGN" $RUN --output "$WORK/done.h5" > "$WORK/done.txt" 2>&1
if [ -f "$WORK/c.h5.ckpt" ] && [ -f "$WORK/done.h5" ]; then
  ck=$WORK/c.h5.ckpt
  size=$(stat -c %s "$ck")
  : > "$WORK/empty.ckpt"
  head -c $((size / 2)) "$ck" > "$WORK/half.ckpt"
  head -c $((size - 100)) "$ck" > "$WORK/tail.ckpt"
  # overwrite 64 bytes inside the data: in /checkpoint/prev when h5py can find it (the
  # middle of the file may be the in-progress method's final_global, which a resume
  # recomputes, so accepting damage there is right), else in the middle of the file
  flip=$(/usr/bin/python3 -c 'import sys, h5py; d = h5py.File(sys.argv[1], "r")["checkpoint/prev"]; print(d.id.get_offset() + d.id.get_storage_size() // 2)' "$ck" 2>/dev/null) || flip=$((size / 2))
  cp "$ck" "$WORK/flip.ckpt"
  printf '\xde\xad\xbe\xef%.0s' $(seq 16) | dd of="$WORK/flip.ckpt" bs=1 seek=$flip conv=notrunc status=none
  cp "$ck" "$WORK/hdr.ckpt"    # overwrite 64 bytes just after the superblock
  printf '\xde\xad\xbe\xef%.0s' $(seq 16) | dd of="$WORK/hdr.ckpt" bs=1 seek=96 conv=notrunc status=none
  check_bad "--resume: '$WORK/empty.ckpt' is not an HDF5 file" $RUN --resume "$WORK/empty.ckpt"
  check_bad "--resume: '$WORK/adir' is not a regular file" $RUN --resume "$WORK/adir"
  check_bad "--resume:" $RUN --resume "$WORK/half.ckpt"
  check_bad "--resume:" $RUN --resume "$WORK/tail.ckpt"
  check_bad "--resume:" $RUN --resume "$WORK/hdr.ckpt"
  check_bad "--resume:" $RUN --resume "$WORK/flip.ckpt"
  # one bit of one stored weight: HDF5 has no checksum on raw data, so only a check of
  # the model bits by fedalign itself can notice (skipped without h5py to find it)
  if off=$(/usr/bin/python3 -c 'import sys, h5py; print(h5py.File(sys.argv[1], "r")["checkpoint/global"].id.get_offset())' "$ck" 2>/dev/null) &&
     [ -n "$off" ] && [ "$off" != None ]; then
    cp "$ck" "$WORK/bit.ckpt"
    b=$(od -An -tu1 -j $((off + 401)) -N1 "$ck" | tr -d ' ')
    printf "\\$(printf %03o $((b ^ 1)))" | dd of="$WORK/bit.ckpt" bs=1 seek=$((off + 401)) conv=notrunc status=none
    cmp -s "$ck" "$WORK/bit.ckpt" && fail "bit flip did not change the file"
    check_bad "--resume:" $RUN --resume "$WORK/bit.ckpt"
  else
    echo "skip: one-bit corruption case (needs /usr/bin/python3 with h5py)"
  fi
  check_bad "is not a checkpoint (no /checkpoint group)" $RUN --resume "$WORK/done.h5"
  check_bad "different configuration" $RUN --resume "$ck" --seed 7
  check_bad "different configuration" $RUN --resume "$ck" --clients 5
  check_bad "different configuration" $RUN --resume "$ck" --method fedavg
  check_bad "different configuration" suite --preset tiny --quiet --resume "$ck"
  [ -f "$ck" ] && [ "$(stat -c %s "$ck")" = "$size" ] || fail "a refused resume changed the checkpoint"
else
  fail "could not make the checkpoint and results file the resume cases need: $(tail -5 "$WORK/c.txt")"
fi
finish
