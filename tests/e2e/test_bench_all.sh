#!/usr/bin/env bash
# `fedalign bench`: every sub-benchmark runs in --quick mode on 1 rank (all of them) and
# on 2 ranks (the collective ones), prints its table and FEDALIGN_BENCH lines whose
# min/median/max are finite, non-negative and ordered, with positive medians where a
# zero would mean nothing was measured. Bad options (one of each kind, run flags after
# --, --preset there) exit 2 with one message before any output. Timing
# thresholds are never asserted (the machine may be busy).
. "$(dirname "$0")/common.sh"

# check_lines FILE NAME COUNT: at least COUNT lines for NAME, all sane
check_lines() {
  local file=$1 name=$2 want=$3
  local n
  n=$(grep -c "^FEDALIGN_BENCH name=$name " "$file")
  if [ "$n" -lt "$want" ]; then fail "$name: $n FEDALIGN_BENCH lines (want >= $want)"; return; fi
  bad=$(grep "^FEDALIGN_BENCH name=$name " "$file" | awk '
    function val(k,   i, kv) {
      for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] }
      return "missing"
    }
    {
      mn = val("min"); md = val("median"); mx = val("max")
      if (mn !~ /^[0-9.e+-]+$/ || md !~ /^[0-9.e+-]+$/ || mx !~ /^[0-9.e+-]+$/) { print "not numeric: " $0; next }
      if (mn + 0 < 0 || mn + 0 > md + 0 || md + 0 > mx + 0) { print "not ordered: " $0; next }
      # a bare Allreduce on one rank is a no-op and may read 0 s
      if (md + 0 <= 0 && !($0 ~ /kernel=allreduce_float/ && $0 ~ /ranks=1 /)) print "median <= 0: " $0
    }')
  if [ -n "$bad" ]; then fail "$name: $bad"; else pass "$name: $n lines, sane"; fi
}

# 1 rank, everything, with the HDF5 record
out1=$WORK/bench1.txt
h5=$WORK/bench1.h5
OMP_NUM_THREADS=2 "$FEDALIGN" bench all --quick --output "$h5" >"$out1" 2>"$WORK/err1"; rc=$?
if [ $rc -ne 0 ]; then fail "bench all --quick exited $rc: $(tail -5 "$WORK/err1")"; fi
check_lines "$out1" peak_fma 1
check_lines "$out1" peak_triad 1
check_lines "$out1" train 4          # batches 1, 8, 32, 128 (at least the serial mode)
check_lines "$out1" train_clients 2  # 16 clients x 600 rows: per-client and client-batched
check_lines "$out1" aggregate 16     # 4 sizes x (fedavg, similarity, similarity_prev, allreduce)
check_lines "$out1" round 3          # 1, 10, 100 clients per rank
check_lines "$out1" memory 4         # 3 points + the slope
check_lines "$out1" quant 3          # float, int8, ratio
grep -q '^FEDALIGN_BENCH name=quant model=int8 .*unit=ns/sample .*flash_bytes=[0-9]* ram_bytes=[0-9]* agree=[0-9]' "$out1" \
  && pass "quant int8 line with footprint" || fail "no quant int8 line"
grep -q '^# fedalign bench train' "$out1" && grep -q 'FLOP per sample 14976' "$out1" \
  && pass "train states its FLOP count" || fail "train table header / FLOP count missing"
grep -q '^FEDALIGN_BENCH name=train batch=32 mode=serial threads=1 .*flop_per_sample=14976 gflops=' "$out1" \
  && pass "train batch 32 serial line" || fail "no train batch=32 serial line"
grep -q '^FEDALIGN_BENCH name=train model=cnn1d batch=32 mode=serial threads=1 .*flop_per_sample=8239360 gflops=' "$out1" \
  && pass "train reports the cnn1d (default shape, 1024 x 1 window)" || fail "no cnn1d train line"
grep -q '^FEDALIGN_BENCH name=train_clients clients=16 rows=600 batch=32 mode=per-client threads=1 lanes=1 .*pct_fma_peak=.*speedup=1$' "$out1" \
  && grep -q '^FEDALIGN_BENCH name=train_clients clients=16 rows=600 batch=32 mode=batched threads=1 lanes=[0-9]* .*gflops=.*speedup=' "$out1" \
  && pass "train_clients: per-client and batched lines" || fail "no train_clients per-client/batched lines"
grep -q '^FEDALIGN_BENCH name=memory kernel=slope ' "$out1" && pass "memory slope line" || fail "no memory slope line"
if [ "$(grep -vc '^#\|^FEDALIGN_BENCH\|^ \|^$' "$out1")" != 0 ]; then
  fail "unexpected stdout lines: $(grep -v '^#\|^FEDALIGN_BENCH\|^ \|^$' "$out1" | head -3)"
fi

# the HDF5 record: one table per result name, as many rows as FEDALIGN_BENCH lines, the
# same medians, and the self-describing attributes
if [ ! -s "$h5" ]; then
  fail "bench --output: $h5 was not written"
else
  pass "bench --output wrote $h5"
  grep '^FEDALIGN_BENCH ' "$out1" >"$WORK/lines1.txt"
  msg=$(/usr/bin/python3 - "$h5" "$WORK/lines1.txt" <<'PY' 2>&1
import sys, h5py
f = h5py.File(sys.argv[1], "r")
want = {}
for line in open(sys.argv[2]):
    kv = dict(t.split("=", 1) for t in line.split()[1:] if "=" in t)
    want.setdefault(kv["name"], []).append(float(kv["median"]))
errs = []
for k in ("cmdline", "host", "created_utc", "units", "cpu", "fedalign_version", "n_ranks"):
    if k not in f.attrs: errs.append("root attribute %s missing" % k)
if b"bench all --quick --output" not in bytes(f.attrs.get("cmdline", b"")):
    errs.append("cmdline attribute is %r" % f.attrs.get("cmdline"))
for name in ("peak_fma", "peak_triad", "train", "train_clients", "aggregate", "round", "memory", "quant"):
    if name not in f: errs.append("dataset /%s missing" % name); continue
    d = f[name]
    for col in ("params", "unit", "reps", "min", "median", "max", "extra"):
        if col not in d.dtype.names: errs.append("/%s lacks column %s" % (name, col))
    if "units" not in d.attrs: errs.append("/%s has no units attribute" % name)
    if len(d) != len(want.get(name, [])): errs.append("/%s has %d rows, %d lines" % (name, len(d), len(want.get(name, []))))
    for got, w in zip(d["median"], want.get(name, [])):
        if abs(got - w) > 1e-5 * max(abs(w), 1e-300): errs.append("/%s median %g vs line %g" % (name, got, w)); break
print("; ".join(errs) if errs else "ok")
PY
)
  [ "$msg" = ok ] && pass "HDF5 record: tables, rows and medians match the lines" || fail "HDF5 record: $msg"
fi
# an existing record is refused before any work (exit 2), and replaced with --overwrite
out=$("$FEDALIGN" bench peak --output "$h5" 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "exists" && pass "existing --output refused (exit 2)" \
  || fail "existing --output: exit $rc: $out"
OMP_NUM_THREADS=1 "$FEDALIGN" bench aggregate --quick --reps 1 --p 1000 --output "$h5" --overwrite >/dev/null 2>&1 \
  && /usr/bin/python3 -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); sys.exit(0 if list(f)==['aggregate'] else 1)" "$h5" \
  && pass "--overwrite replaces the record" || fail "--overwrite did not replace the record"

# 2 ranks: the collective sub-benchmarks
out2=$WORK/bench2.txt
OMP_NUM_THREADS=1 mpirun_n 2 "$FEDALIGN" bench aggregate round memory --quick --reps 2 \
  --mem-clients 100,200 >"$out2" 2>"$WORK/err2"; rc=$?
if [ $rc -ne 0 ]; then fail "mpirun -n 2 bench exited $rc: $(tail -5 "$WORK/err2")"; fi
check_lines "$out2" aggregate 12
check_lines "$out2" round 3
check_lines "$out2" memory 3
grep -q '^FEDALIGN_BENCH name=round .*clients=200 clients_per_rank=100 ranks=2 ' "$out2" \
  && pass "2-rank round reports total and per-rank clients" || fail "2-rank round line"
c=$(grep -c '^# fedalign bench round' "$out2")
[ "$c" = 1 ] && pass "rank 0 alone prints" || fail "$c round headers (want 1)"

# pass-through run flags reach the pipeline
out3=$WORK/bench3.txt
OMP_NUM_THREADS=1 "$FEDALIGN" bench round --quick --reps 1 --clients 4 -- --reference prev >"$out3" 2>&1 \
  && grep -q '^FEDALIGN_BENCH name=round ' "$out3" && pass "-- run flags" || fail "-- run flags: $(tail -3 "$out3")"

# usage and bad input
"$FEDALIGN" bench --help | grep -q -- '--reps N' && pass "bench --help" || fail "bench --help"
check_bad() {
  local want=$1; shift
  out=$(OMP_NUM_THREADS=1 mpirun_n 2 "$FEDALIGN" bench "$@" 2>&1); rc=$?
  if [ $rc -ne 2 ]; then fail "bench $* exited $rc (want 2): $out"; return; fi
  echo "$out" | grep -q -- "$want" || { fail "bench $*: message lacks '$want': $out"; return; }
  c=$(echo "$out" | grep -c 'fedalign: error:')
  [ "$c" = 1 ] && pass "bench $* -> $want" || fail "bench $*: $c error lines (want 1)"
}
check_bad "unknown sub-benchmark 'frob'" frob
check_bad "unknown option '--bogus'" peak --bogus
# one bad value per kind of option (size, number, flag, string, list, method), the
# shared parser's wording (opttab.c)
check_bad "--reps: 0 is out of range" --reps 0
check_bad "--min-time: 'fast' is not a number" peak --min-time fast
check_bad "--quick takes no value" peak --quick=yes
check_bad "--output: empty" peak --output=
check_bad "--batch: '8,x' is not a comma list" train --batch 8,x
check_bad "--method: unknown method 'fedprox'" round --method fedprox
check_bad "--lr: -1 is out of range" round --quick -- --lr -1
# --preset after -- would reset the sizes bench sets: refused before any sub-benchmark runs
check_bad "--preset paper is refused" peak round --quick -- --preset paper
echo "$out" | grep -q '^# fedalign bench' && fail "--preset after --: output before the refusal" \
  || pass "--preset after --: refused before any output"
finish
