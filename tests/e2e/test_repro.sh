#!/usr/bin/env bash
# Reproducibility contract (docs/architecture.md): for every method of `fedalign suite --preset
# tiny`, checksum (global model) and checksum_personal (all personalized models) are
# identical at mpiexec -n 1, 2, 3, 4 with OMP_NUM_THREADS=1 and at -n 1, 2 with
# OMP_NUM_THREADS=2 (threads over clients and over the batch). The phase-1 ring's
# model checksum is compared across -n the same way. --assign balanced (clients spread
# over ranks by training rows, not in id blocks) gives the same bits as block at any
# -n and thread count, for every method (the ring, local, resumes across assignments),
# while its client map in /clients/rank differs. Client-batched local training
# (--client-batch on; auto where the build's kernel is wide enough) gives the bits of off,
# its batched evaluations included.
. "$(dirname "$0")/common.sh"

sig() { grep '^FEDALIGN_RESULT' "$1" | sed -E 's/.*method=([^ ]+).* checksum=([0-9a-f]+).* checksum_personal=([0-9a-f]+).*/\1 \2 \3/'; }

ref=""
for cfg in "1 1" "2 1" "3 1" "4 1" "1 2" "2 2"; do
  set -- $cfg
  out=$WORK/suite_n$1_t$2.txt
  extra=""
  [ "$2" = 2 ] && [ "$1" = 1 ] && extra="--threads-over batch"
  if ! OMP_NUM_THREADS=$2 mpirun_n "$1" "$FEDALIGN" suite --preset tiny --quiet $extra --output "$WORK/s_$1_$2.h5" > "$out" 2> "$out.err"; then
    fail "suite -n $1 threads $2 exited non-zero"; cat "$out.err" >&2; continue
  fi
  s=$(sig "$out")
  [ "$(echo "$s" | wc -l)" -ge 11 ] || fail "suite -n $1 threads $2 printed $(echo "$s" | wc -l) result lines"
  if [ -z "$ref" ]; then ref=$s; echo "$ref"; continue; fi
  if [ "$s" = "$ref" ]; then pass "suite -n $1 OMP_NUM_THREADS=$2 checksums identical"
  else fail "suite -n $1 OMP_NUM_THREADS=$2 checksums differ"; diff <(echo "$ref") <(echo "$s") >&2; fi
done

# one explicit run per method too (run and suite must agree)
for m in fedmetaalign fedavg fedprox local; do
  a=$(OMP_NUM_THREADS=1 mpirun_n 1 "$FEDALIGN" run --preset tiny --quiet --method $m --output "$WORK/r1_$m.h5" | grep '^FEDALIGN_RESULT')
  b=$(OMP_NUM_THREADS=1 mpirun_n 3 "$FEDALIGN" run --preset tiny --quiet --method $m --output "$WORK/r3_$m.h5" | grep '^FEDALIGN_RESULT')
  ca=$(echo "$a" | grep -o 'checksum=[0-9a-f]*\|checksum_personal=[0-9a-f]*' | tr '\n' ' ')
  cb=$(echo "$b" | grep -o 'checksum=[0-9a-f]*\|checksum_personal=[0-9a-f]*' | tr '\n' ' ')
  [ -n "$ca" ] && [ "$ca" = "$cb" ] && pass "run --method $m -n 1 vs -n 3" || fail "run --method $m: '$ca' vs '$cb'"
  inref=$(echo "$ref" | awk -v m="$m+P" '$1==m {print "checksum="$2" checksum_personal="$3" "}')
  [ "$inref" = "$ca" ] && pass "run --method $m equals suite row $m+P" || fail "run --method $m ($ca) differs from suite row ($inref)"
done

# the design alternatives take their own code paths (--reference prev: one-pass cosine;
# --score loss/preacc), and faults too: the same contract, -n 1 vs -n 3 and 2 threads
for extra in "--reference prev" "--reference prev --dropout 0.2 --speed-spread 0.6 --deadline 3 --late discount" "--score preacc --reference prev" "--score loss"; do
  a=$(OMP_NUM_THREADS=1 mpirun_n 1 "$FEDALIGN" run --preset tiny --quiet $extra --output "$WORK/x1.h5" | grep -o 'checksum=[^ ]*\|checksum_personal=[^ ]*' | tr '\n' ' ')
  b=$(OMP_NUM_THREADS=1 mpirun_n 3 "$FEDALIGN" run --preset tiny --quiet $extra --output "$WORK/x3.h5" | grep -o 'checksum=[^ ]*\|checksum_personal=[^ ]*' | tr '\n' ' ')
  c=$(OMP_NUM_THREADS=2 mpirun_n 2 "$FEDALIGN" run --preset tiny --quiet $extra --output "$WORK/x2.h5" | grep -o 'checksum=[^ ]*\|checksum_personal=[^ ]*' | tr '\n' ' ')
  rm -f "$WORK"/x[123].h5
  [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" = "$c" ] && pass "run $extra: -n 1, -n 3, -n 2 x 2 threads identical" \
    || fail "run $extra: '$a' / '$b' / '$c'"
done

# the robust methods (rank 0 aggregates the gathered updates): -n 1..4 and 2 threads
# (over clients and over the batch), with NaN attackers so that some ranks send nothing
for m in median trimmedmean krum multikrum fltrust; do
  ref=""
  for cfg in "1 1" "2 1" "3 1" "4 1" "1 2 --threads-over batch" "2 2"; do
    set -- $cfg; n=$1 t=$2; shift 2
    s=$(OMP_NUM_THREADS=$t mpirun_n "$n" "$FEDALIGN" run --preset tiny --quiet --method $m --attack nan:0.3 "$@" --output "$WORK/rb.h5" </dev/null | grep -o 'checksum=[^ ]*\|checksum_personal=[^ ]*' | tr '\n' ' ')
    rm -f "$WORK/rb.h5"
    [ -n "$s" ] || { fail "run --method $m -n $n threads $t printed no result"; continue; }
    if [ -z "$ref" ]; then ref=$s; elif [ "$s" = "$ref" ]; then pass "run --method $m -n $n threads $t identical"
    else fail "run --method $m -n $n threads $t: '$s' vs '$ref'"; fi
  done
done

# the server optimizers and SCAFFOLD (issue 16): server state on rank 0, control variates
# per client and a second exact Reduce; the same contract at -n 1..4 x 1-2 threads
NEW="fedavgm+P,fedadam+P,fedyogi+P,fedadagrad+P,scaffold+P"
nref=""
for cfg in "1 1" "2 1" "3 1" "4 1" "1 2" "2 2"; do
  set -- $cfg
  extra=""
  [ "$2" = 2 ] && [ "$1" = 1 ] && extra="--threads-over batch"
  out=$WORK/new_n$1_t$2.txt
  OMP_NUM_THREADS=$2 mpirun_n "$1" "$FEDALIGN" suite --preset tiny --quiet $extra --methods "$NEW" \
    --output "$WORK/n_$1_$2.h5" > "$out" 2>&1 || { fail "suite --methods -n $1 threads $2 failed"; continue; }
  s=$(sig "$out")
  [ "$(echo "$s" | wc -l)" = 5 ] || fail "suite --methods -n $1 threads $2: $(echo "$s" | wc -l) rows"
  if [ -z "$nref" ]; then nref=$s; echo "$nref"; continue; fi
  [ "$s" = "$nref" ] && pass "server optimizers, scaffold: -n $1 OMP_NUM_THREADS=$2 identical" \
    || { fail "server optimizers, scaffold: -n $1 OMP_NUM_THREADS=$2 differ"; diff <(echo "$nref") <(echo "$s") >&2; }
done

# --assign: block vs balanced. 12 clients with lognormal quantity skew, so the balanced
# map is not the block map (at -n 4, blocks of 3 vs LPT by rows); the suite covers every
# method, the ring included; --ring-perm and --ring-clients visit the ring in other orders.
# same_h5 compares every per-client dataset, which lands at the client's global id.
ASG="suite --preset tiny --quiet --clients 12 --quantity-skew 1"
OMP_NUM_THREADS=1 mpirun_n 1 "$FEDALIGN" $ASG --assign block --output "$WORK/ab_ref.h5" > "$WORK/ab_ref.txt" 2>&1 \
  || fail "suite --assign block -n 1 failed"
aref=$(sums "$WORK/ab_ref.txt")
[ "$(echo "$aref" | wc -l)" -ge 11 ] || fail "assign reference printed too few result lines"
for cfg in "2 1 block" "2 1 balanced" "3 1 balanced" "4 1 balanced" "2 2 balanced" "3 2 block"; do
  set -- $cfg
  out=$WORK/ab_$1_$2_$3
  OMP_NUM_THREADS=$2 mpirun_n "$1" "$FEDALIGN" $ASG --assign "$3" --output "$out.h5" > "$out.txt" 2>&1 \
    || { fail "suite --assign $3 -n $1 threads $2 exited non-zero"; cat "$out.txt" >&2; continue; }
  if [ "$(sums "$out.txt")" = "$aref" ] && same_h5 "$WORK/ab_ref.h5" "$out.h5"; then
    pass "suite --assign $3 -n $1 OMP_NUM_THREADS=$2: checksums and every per-client dataset identical"
  else fail "suite --assign $3 -n $1 OMP_NUM_THREADS=$2 differs"; diff <(echo "$aref") <(sums "$out.txt") >&2; fi
done
# the flag reaches its use: the recorded client -> rank maps differ, the data do not
/usr/bin/python3 - "$WORK/ab_4_1_balanced.h5" "$WORK/ab_3_2_block.h5" <<'PYEOF' && pass "--assign balanced records another client map than block, same rows" || fail "--assign balanced: client map"
import sys, h5py, numpy as np
bal, blk = (h5py.File(p, "r")["clients"] for p in sys.argv[1:])
r, n = bal["rank"][...], bal["n_train"][...]
assert np.array_equal(blk["rank"][...], np.arange(12) * 3 // 12), blk["rank"][...]
assert not np.array_equal(r, np.arange(12) * 4 // 12), r
assert np.array_equal(n, blk["n_train"][...])
load = np.bincount(r, weights=n, minlength=4)
block = np.bincount(np.arange(12) * 4 // 12, weights=n, minlength=4)
print("rows per rank: balanced", load, "block", block)
assert load.max() < block.max()
PYEOF
# faults and attackers are keyed by client id: the same clients misbehave on any rank
for extra in "--ring-perm" "--ring-clients 5" "--ring-clients 5 --ring-perm" \
  "--attack scale:0.3 --dropout 0.3 --speed-spread 0.6 --deadline 3"; do
  a=$(OMP_NUM_THREADS=1 mpirun_n 1 "$FEDALIGN" $ASG $extra --output "$WORK/rp1.h5" | grep -o 'checksum=[^ ]*\|checksum_personal=[^ ]*' | tr '\n' ' ')
  b=$(OMP_NUM_THREADS=1 mpirun_n 3 "$FEDALIGN" $ASG $extra --assign balanced --output "$WORK/rp3.h5" | grep -o 'checksum=[^ ]*\|checksum_personal=[^ ]*' | tr '\n' ' ')
  rm -f "$WORK"/rp[13].h5
  [ -n "$a" ] && [ "$a" = "$b" ] && pass "$extra: block -n 1 = balanced -n 3" || fail "$extra: '$a' vs '$b'"
done
# a checkpoint written under one assignment resumes under the other (rows by global id)
rm -f "$WORK/ar.h5" "$WORK/ar.h5.ckpt"
OMP_NUM_THREADS=1 mpirun_n 2 "$FEDALIGN" $ASG --assign block --output "$WORK/ar.h5" --stop-after-round 2 > /dev/null 2>&1
OMP_NUM_THREADS=1 mpirun_n 3 "$FEDALIGN" $ASG --assign balanced --output "$WORK/ar.h5" --resume "$WORK/ar.h5.ckpt" > "$WORK/ar.txt" 2>&1 \
  || { fail "resume block -n 2 -> balanced -n 3 failed"; cat "$WORK/ar.txt" >&2; }
[ "$(sums "$WORK/ar.txt")" = "$aref" ] && same_h5 "$WORK/ab_ref.h5" "$WORK/ar.h5" \
  && pass "stopped under block -n 2, resumed under balanced -n 3: identical" || fail "resume across assignments differs"

# the personalized methods (per-client state beside the global model): -n 1..4 and 2
# threads (over clients and over the batch), with client sampling and dropouts so that
# some clients skip rounds and keep their state
for m in ditto fedper perfedavg; do
  ref=""
  for cfg in "1 1" "2 1" "3 1" "4 1" "1 2 --threads-over batch" "2 2"; do
    set -- $cfg; n=$1 t=$2; shift 2
    s=$(OMP_NUM_THREADS=$t mpirun_n "$n" "$FEDALIGN" run --preset tiny --quiet --method $m --client-frac 0.6 --dropout 0.2 "$@" --output "$WORK/pf.h5" </dev/null | grep -o 'checksum=[^ ]*\|checksum_personal=[^ ]*' | tr '\n' ' ')
    rm -f "$WORK/pf.h5"
    [ -n "$s" ] || { fail "run --method $m -n $n threads $t printed no result"; continue; }
    if [ -z "$ref" ]; then ref=$s; elif [ "$s" = "$ref" ]; then pass "run --method $m -n $n threads $t identical"
    else fail "run --method $m -n $n threads $t: '$s' vs '$ref'"; fi
  done
done

# client-batched local training (--client-batch, train_batched.h): groups of clients per
# SIMD pass give the bits of one client at a time, for the methods whose client step is
# plain train_local (and those beside it that keep the per-client path), local-only
# training and phase 3 with a fixed epoch count (--p3-select fixed), with ragged
# clients (11 clients of unequal sizes, batch 13, 1.3 epochs), SGD, faults, attacks and
# clipping, several groups of clients of unequal sizes (formed by size, fl_client_order),
# at -n 1 and -n 2 x 2 threads; --verbose says which path ran, so a path that
# silently stopped applying fails here instead of comparing a run with itself
# The evaluations batch with the training (eval_batched.h: the global model on G clients'
# test sets, the score s_t on G trained models): every evaluation the results file keeps
# (per-round accuracy and loss, each client's accuracy after phases 0-2, its score s_t, the
# confusion) is compared to the last bit as well, through h5dump at 17 digits (values only:
# the attributes hold object addresses that move with the length of the command line).
evsig() {
  command -v h5dump >/dev/null || return 0
  h5dump -n "$1" | awk '$1 == "dataset" {print $2}' |
    grep -E '/(round_acc|round_loss|acc_p[012]|rc_score|confusion_global)$' |
    while read -r d; do h5dump -A 0 -m %.17g -d "$d" "$1" </dev/null | grep -v '^HDF5'; done |
    md5sum | cut -c1-16
}
cb() { # expected path, ranks, threads, flags...
  local want=$1 n=$2 t=$3; shift 3
  OMP_NUM_THREADS=$t mpirun_n "$n" "$FEDALIGN" run --preset tiny --quiet --verbose "$@" --output "$WORK/cb.h5" </dev/null > "$WORK/cb.txt" 2> "$WORK/cb.err"
  local ev; ev=$(evsig "$WORK/cb.h5")
  rm -f "$WORK/cb.h5"
  grep -q ": $want local training" "$WORK/cb.err" || { fail "$* -n $n t $t: no '$want' path on stderr"; cat "$WORK/cb.err" >&2; }
  local cs; cs=$(grep -o 'checksum=[^ ]*\|checksum_personal=[^ ]*' "$WORK/cb.txt" | tr '\n' ' ')
  [ -n "$cs" ] && echo "$cs evaluations=$ev"
}
RAG="--clients 11 --samples 60 --batch 13 --local-epochs 1.3"
while IFS='|' read -r methods extra; do
  for m in $methods; do
    for nt in "1 1" "2 2"; do
      set -- $nt
      a=$(cb client-batched "$1" "$2" --method $m $extra --client-batch on)
      b=$(cb per-client "$1" "$2" --method $m $extra --client-batch off)
      [ -n "$a" ] && [ "$a" = "$b" ] && pass "--client-batch on = off: $m $extra -n $1 t $2" \
        || fail "--client-batch on vs off: $m $extra -n $1 t $2: '$a' vs '$b'"
    done
  done
done <<CBCFG
fedmetaalign fedavg fedprox ditto fedper median|
fedmetaalign fedavg fedprox|$RAG
fedavg fedprox|$RAG --optimizer sgd --mu 0.1
fedmetaalign fedprox|--dropout 0.3 --speed-spread 0.6 --deadline 3 --late discount --client-frac 0.7
fedmetaalign fedavg|--attack scale:0.3 --attack-scale 5 --clip 0.5 --score preacc --reference prev
fedmetaalign|--attack nan:0.3 --score loss
fedmetaalign|$RAG --score loss
fedmetaalign|--clients 40 --samples 80 --batch 13 --score loss
local|
local|$RAG
local fedmetaalign fedavg|--p3-select fixed
fedprox|$RAG --p3-select fixed --p3-epochs 1.5
CBCFG
# where it does not apply, the per-client path runs
[ -n "$(cb per-client 1 1 --method scaffold --client-batch on)" ] && pass "scaffold keeps the per-client path" || fail "scaffold run"
# auto: the group kernel when it has 8 lanes or more (FA_GROUP_MIN_AUTO; AVX, AVX-512)
cb client-batched 1 1 --method fedavg --client-batch on > /dev/null
lanes=$(grep -o '([0-9]* clients per group)' "$WORK/cb.err" | grep -o '[0-9]*')
if [ "${lanes:-0}" -ge 8 ]; then want=client-batched; else want=per-client; fi
[ -n "$(cb $want 1 1 --method fedavg)" ] && pass "--client-batch auto: $want with a ${lanes:-?}-lane kernel"   || fail "--client-batch auto with a ${lanes:-?}-lane kernel"

# phase-1 ring alone
rref=""
for n in 1 2 3 4; do
  r=$(OMP_NUM_THREADS=1 mpirun_n "$n" "$TESTS_BIN/test_ring" | grep '^ring_checksum' | tr '\n' ' ')
  [ -n "$r" ] || { fail "test_ring -n $n printed no checksum"; continue; }
  if [ -z "$rref" ]; then rref=$r; elif [ "$r" = "$rref" ]; then pass "ring checksums -n $n"; else fail "ring -n $n: $r vs $rref"; fi
done
finish
