#!/usr/bin/env bash
# Reproducibility contract (docs/architecture.md): for every method of `fedalign suite --preset
# tiny`, checksum (global model) and checksum_personal (all personalized models) are
# identical at mpiexec -n 1, 2, 3, 4 with OMP_NUM_THREADS=1 and at -n 1, 2 with
# OMP_NUM_THREADS=2 (threads over clients and over the batch). The phase-1 ring's
# model checksum is compared across -n the same way.
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

# phase-1 ring alone
rref=""
for n in 1 2 3 4; do
  r=$(OMP_NUM_THREADS=1 mpirun_n "$n" "$TESTS_BIN/test_ring" | grep '^ring_checksum' | tr '\n' ' ')
  [ -n "$r" ] || { fail "test_ring -n $n printed no checksum"; continue; }
  if [ -z "$rref" ]; then rref=$r; elif [ "$r" = "$rref" ]; then pass "ring checksums -n $n"; else fail "ring -n $n: $r vs $rref"; fi
done
finish
