#!/usr/bin/env bash
# PyTorch peers and the two-peer comparison (label e2e; skipped without python3-torch):
# analysis/peer_torch.py's selftest (the client-batched MLP and CNN trainers give each
# client the parameters of the per-client loop, for equal and unequal client sizes, and
# the batched FedAvg round the per-client round's global model);
# the FLOP count of analysis/flops.py equals `fedalign bench train`'s; unequal sizes and
# --pad reach the output; bad flags fail with one message; jobs/bench_compare.sh in its
# tiny setting prints and writes the ratio table against both peers and refuses to
# replace its files; analysis/roofline.py draws the figure from that CSV and from a
# small hand-made one, and rejects a CSV that is not one.
. "$(dirname "$0")/common.sh"
PY=/usr/bin/python3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEER=$ROOT/analysis/peer_torch.py
"$PY" -c 'import torch' 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no torch (apt-get install python3-torch)"; exit 77; }
cd "$WORK"
export OMP_NUM_THREADS=1

# --- the batched trainers are the per-client training
"$PY" "$PEER" selftest > st.txt 2>&1 && pass "selftest exits 0" || { fail "selftest failed"; cat st.txt >&2; }
[ "$(grep -c '^PEER_TORCH name=selftest .* ok=1$' st.txt)" = 5 ] && pass "selftest: 5 cases (MLP, CNN; equal, unequal sizes; FedAvg round) ok" \
  || { fail "selftest cases"; cat st.txt >&2; }
grep -q '^PEER_TORCH name=selftest model=mlp sizes=200,75 .*epochs=2 ' st.txt && pass "selftest covers unequal sizes over 2 epochs" \
  || fail "selftest lacks the unequal-size case"

# --- one FLOP count: flops.py's MLP count is fedalign's
"$FEDALIGN" bench train --batch 32 --reps 1 --warmup 0 --min-time 0.01 > fa_train.txt 2>&1 || fail "fedalign bench train"
fa_fps=$(grep -m1 '^FEDALIGN_BENCH name=train' fa_train.txt | grep -o 'flop_per_sample=[0-9]*' | cut -d= -f2)
py_fps=$(cd "$ROOT/analysis" && "$PY" -c 'from flops import mlp_flops; print(mlp_flops([6, 64, 32, 6]))')
[ -n "$fa_fps" ] && [ "$fa_fps" = "$py_fps" ] && pass "MLP FLOP per sample: flops.py $py_fps = fedalign $fa_fps" \
  || fail "MLP FLOP per sample: flops.py '$py_fps' vs fedalign '$fa_fps'"

# --- unequal sizes and the CNN's padding reach the results
q=(--reps 1 --warmup 0 --min-time 0.01)
"$PY" "$PEER" clients batched "${q[@]}" --group-sizes 50,20,33 > het.txt 2>&1 || fail "unequal sizes run"
[ "$(grep -c '^PEER_TORCH name=\(clients\|batched\) .*clients=3 rows=50,20,33 .*median=[0-9]' het.txt)" = 2 ] \
  && pass "--group-sizes: both peers trained 3 clients of 50, 20, 33 rows" || { fail "--group-sizes"; cat het.txt >&2; }
for pad in valid same; do
  "$PY" "$PEER" cnn-batched "${q[@]}" --group 2 --group-rows 8 --window 96 --pad $pad > cnn_$pad.txt 2>&1 \
    || fail "cnn --pad $pad"
done
fv=$(grep -o 'flop_per_sample=[0-9]*' cnn_valid.txt); fs=$(grep -o 'flop_per_sample=[0-9]*' cnn_same.txt)
# window 96, 16:7 then 32:5: valid 90 -> 45 -> 41 positions, same 96 -> 48 -> 48
want_v=$((2 * (90 * 16 * 7 + 41 * 32 * 16 * 5 + 32 * 10) * 2 + 2 * (41 * 32 * 16 * 5 + 32 * 10)))
[ "$fv" = "flop_per_sample=$want_v" ] && pass "CNN FLOP count, valid padding ($want_v)" || fail "CNN FLOPs: $fv, want $want_v"
[ -n "$fs" ] && [ "$fs" != "$fv" ] && pass "--pad same changes the CNN's FLOP count ($fs)" || fail "--pad same: $fs"

# --- bad flags: one message, exit 2
"$PY" "$PEER" cnn-batched --conv 16x7 > bad.txt 2>&1; rc=$?
[ $rc = 2 ] && grep -q "conv wants blocks CHANNELS:KERNEL" bad.txt && pass "bad --conv: exit 2, named" || { fail "bad --conv rc $rc"; cat bad.txt >&2; }
"$PY" "$PEER" cnn-batched --pad same --conv 8:4 > bad.txt 2>&1; rc=$?
[ $rc = 2 ] && grep -q "needs odd kernels" bad.txt && pass "--pad same with an even kernel: exit 2, named" || { fail "even kernel rc $rc"; cat bad.txt >&2; }
"$PY" "$PEER" cnn-batched --window 8 > bad.txt 2>&1; rc=$?
[ $rc = 2 ] && grep -q "too short" bad.txt && pass "window too short: exit 2, named" || { fail "short window rc $rc"; cat bad.txt >&2; }

# --- the two-peer table, one tiny sitting with two variants
bash "$ROOT/jobs/bench_compare.sh" --quick --reps 1 --cnn --fa "a=$FEDALIGN" --fa "b=env FA_UNUSED=1 $FEDALIGN -- --reps 2" \
  --out cmp > cmp.txt 2> cmp.err && pass "bench_compare.sh --quick ran" || { fail "bench_compare.sh"; cat cmp.err cmp.txt >&2; }
for v in a b; do
  grep -Eq "^BENCH_COMPARE name=train variant=$v model=mlp mode=serial .*torch_clients=[0-9.e+]+ ratio_clients=[0-9.e+]+ torch_batched=[0-9.e+]+ ratio_batched=[0-9.e+]+ ratio_clients_cpu=[0-9.e+]+ ratio_batched_cpu=[0-9.e+]+$" cmp.txt \
    && pass "variant $v: ratios against both peers" || { fail "variant $v: no two-peer line"; cat cmp.txt >&2; }
  grep -Eq "^BENCH_COMPARE name=fedavg variant=$v .*ratio_clients=[0-9.e+]+ .*ratio_batched=[0-9.e+]+$" cmp.txt \
    && pass "variant $v: FedAvg round ratios against both peers" || fail "variant $v: fedavg line"
done
grep -q '^REP=1 VARIANT=b FEDALIGN_BENCH name=train .* reps=2 ' cmp/raw.txt && grep -q '^REP=1 VARIANT=a FEDALIGN_BENCH name=train .* reps=1 ' cmp/raw.txt \
  && pass "--fa 'LABEL=COMMAND -- ARGS' passes ARGS to that variant only" || fail "--fa extra arguments"
cmp -s cmp.txt cmp/bench_compare.txt && pass "bench_compare.txt is the printed table" || fail "bench_compare.txt differs from stdout"
"$PY" - cmp/bench_compare.csv <<'PYEOF' && pass "bench_compare.csv: results of both variants and all four peers, FMA and mul+add ceilings" || fail "bench_compare.csv content"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
labels = {r["label"] for r in rows if r["kind"] == "result"}
# every variant's MLP and cnn1d lines (bench train) and its client-batched comparison
# (train_clients), and all four peers
want = {f"fedalign {v} {m}" for v in "ab" for m in ("mlp serial", "cnn serial", "mlp per-client", "mlp batched")}
want |= {"torch clients", "torch batched", "torch cnn-clients", "torch cnn-batched"}
cont = {r["contraction"] for r in rows if r["kind"] == "ceiling"}
bad = [r for r in rows if r["kind"] == "result" and not abs(float(r["gflops"]) - float(r["samples_per_s"]) * float(r["flop_per_sample"]) * 1e-9) <= 1e-5 * float(r["gflops"])]
if labels != want or cont != {"on", "off"} or bad:
    sys.exit(f"labels {sorted(labels)} ceilings {cont} bad gflops {bad}")
PYEOF
bash "$ROOT/jobs/bench_compare.sh" --quick --reps 1 --out cmp > again.txt 2>&1; rc=$?
[ $rc = 2 ] && grep -q "exists; not replacing it" again.txt && pass "existing outputs refused (exit 2)" || fail "rerun into cmp: rc $rc"
bash "$ROOT/jobs/bench_compare.sh" --fa "no label" > bad.txt 2>&1; rc=$?
[ $rc = 2 ] && grep -q "fa wants LABEL=COMMAND" bad.txt && pass "--fa without LABEL=: exit 2" || fail "--fa 'no label': rc $rc"
bash "$ROOT/jobs/bench_compare.sh" --help > help.txt 2>&1 && grep -q -- "--fa LABEL=COMMAND" help.txt && ! grep -q "set -euo" help.txt \
  && pass "bench_compare.sh --help prints the header only" || fail "bench_compare.sh --help"
bash "$ROOT/jobs/bench_compare.sh" --reps 0 > bad.txt 2>&1; rc=$?
[ $rc = 2 ] && grep -q "reps wants a positive integer" bad.txt && pass "--reps 0: exit 2" || fail "--reps 0: rc $rc"

# --- the roofline figure
"$PY" "$ROOT/analysis/roofline.py" cmp/bench_compare.csv --out roof.png > roof.txt 2>&1 \
  && [ "$(head -c 8 roof.png | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] \
  && pass "roofline.py drew a PNG from bench_compare.csv" || { fail "roofline from bench_compare.csv"; cat roof.txt >&2; }
cat > small.csv <<'EOF'
kind,label,model,mode,isa,contraction,flop_per_sample,samples_per_s,gflops,reps
ceiling,x: fma avx512f x16,,,,on,,,200,1
ceiling,x: muladd build x4,,,,off,,,50,1
result,fedalign x mlp serial,mlp,serial,sse2,,14976,2e6,29.952,1
result,torch batched,mlp,batched,torch,,14976,2e5,2.9952,1
EOF
"$PY" "$ROOT/analysis/roofline.py" small.csv --out small.png > small.txt 2>&1 && [ -s small.png ] \
  && pass "roofline.py drew a PNG from a small CSV" || { fail "roofline small CSV"; cat small.txt >&2; }
grep -q "fedalign x mlp serial .* 29.952 GFLOP/s .*15.0 % of the best FMA ceiling" small.txt \
  && grep -q "mul+add avx512f x16 (not measured: ½ FMA, a lower bound) .* 100.0 GFLOP/s" small.txt \
  && pass "roofline summary: % of the FMA ceiling and the unmeasured contraction-off ceiling at ½ FMA" || { fail "roofline summary"; cat small.txt >&2; }
printf 'a,b\n1,2\n' > notit.csv
"$PY" "$ROOT/analysis/roofline.py" notit.csv --out x.png > notit.txt 2>&1; rc=$?
[ $rc != 0 ] && grep -q "is not a bench_compare.csv" notit.txt && [ ! -e x.png ] && pass "a foreign CSV is rejected, no figure" \
  || fail "foreign CSV: rc $rc"
finish
