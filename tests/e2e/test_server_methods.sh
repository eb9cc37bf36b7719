#!/usr/bin/env bash
# Server optimizers and SCAFFOLD (issue 16 part A; docs/algorithm.md), label e2e:
#   reductions where the algebra gives bit-equality: FedAvgM with --server-momentum 0 and
#   --alpha 1 is FedAvg; SCAFFOLD's first round (zero control variates) is FedAvg's, and
#   from the second round on the correction moves the model;
#   every stateful method stopped mid-run (--stop-after-round 2 at -n 2) and resumed at
#   -n 3 ends with the uninterrupted run's checksums and results file (so the moments
#   and control variates come back from the checkpoint exactly);
#   `suite --methods`: the default suite keeps its rows, a LIST runs those rows in its
#   order, `all` adds every method's rows, bad lists fail with exit 2 and the valid names.
. "$(dirname "$0")/common.sh"
cd "$WORK"
export OMP_NUM_THREADS=1
# ck ARGS...: "checksum checksum_personal" of a tiny run
ck() {
  "$FEDALIGN" run --preset tiny --quiet --overwrite --output c.h5 "$@" < /dev/null > "c.txt" 2>&1 \
    || { echo "run $* exited $?" >&2; tail -3 c.txt >&2; }
  grep "^FEDALIGN_RESULT" c.txt | grep -o ' checksum=[^ ]*\| checksum_personal=[^ ]*' | tr -d '\n'
}

# --- reductions
a=$(ck --method fedavg); b=$(ck --method fedavgm --server-momentum 0 --alpha 1)
[ -n "$a" ] && [ "$a" = "$b" ] && pass "fedavgm, momentum 0, alpha 1 == fedavg bit for bit" \
  || fail "fedavgm momentum 0: '$b' vs fedavg '$a'"
c=$(ck --method fedavgm)
[ -n "$c" ] && [ "$c" != "$a" ] && pass "fedavgm with momentum differs from fedavg" || fail "fedavgm momentum has no effect"
for o in "" "--optimizer sgd --lr 0.05"; do
  a=$(ck --method fedavg --rounds 1 --no-personalize $o); b=$(ck --method scaffold --rounds 1 --no-personalize $o)
  [ -n "$a" ] && [ "$a" = "$b" ] && pass "scaffold round 1 (c = c_i = 0) == fedavg $o" \
    || fail "scaffold round 1 $o: '$b' vs fedavg '$a'"
  a=$(ck --method fedavg --rounds 2 --no-personalize $o); b=$(ck --method scaffold --rounds 2 --no-personalize $o)
  [ -n "$b" ] && [ "$a" != "$b" ] && pass "scaffold round 2 corrects the drift $o" || fail "scaffold round 2 == fedavg $o"
done

# --- checkpoint / resume mid-run for every method with state
for m in fedavgm fedadam fedyogi fedadagrad scaffold; do
  rm -f ref.h5 r.h5 r.h5.ckpt
  mpirun_n 2 "$FEDALIGN" run --preset tiny --quiet --method $m --output ref.h5 > ref.txt 2>&1 \
    || { fail "$m reference failed"; continue; }
  mpirun_n 2 "$FEDALIGN" run --preset tiny --quiet --method $m --output r.h5 --stop-after-round 2 > s1.txt 2>&1; rc=$?
  [ $rc = 3 ] && [ -f r.h5.ckpt ] || { fail "$m stop-after-round 2: exit $rc"; continue; }
  mpirun_n 3 "$FEDALIGN" run --preset tiny --quiet --method $m --output r.h5 --resume r.h5.ckpt > s2.txt 2>&1 \
    || { fail "$m resume failed"; tail -3 s2.txt >&2; continue; }
  if [ "$(sums ref.txt)" = "$(sums s2.txt)" ] && same_h5 ref.h5 r.h5; then
    pass "$m: stop after round 2 at -n 2, resume at -n 3: identical"
  else fail "$m: resumed run differs"; diff <(sums ref.txt) <(sums s2.txt) >&2; fi
done

# --- suite --methods
rows() { grep '^FEDALIGN_RESULT' "$1" | grep -o 'method=[^ ]*' | cut -d= -f2 | tr '\n' ' '; }
"$FEDALIGN" suite --preset tiny --quiet --rounds 1 --output d.h5 > d.txt 2>&1 || fail "default suite failed"
want="fedmetaalign+P fedmetaalign fedmetaalign-nophase0+P fedmetaalign-nophase1+P fedmetaalign-nosim+P fedavg+P fedavg fedprox+P fedprox local+P local fedavg@found+P fedprox@found+P local@found+P "
[ "$(rows d.txt)" = "$want" ] && pass "default suite keeps its rows" || fail "default suite rows: $(rows d.txt)"
L="fedadam+P,fedavg@found+P,scaffold,fedmetaalign+P"
"$FEDALIGN" suite --preset tiny --quiet --rounds 1 --methods "$L" --output l.h5 > l.txt 2>&1 || fail "suite --methods $L failed"
[ "$(rows l.txt)" = "$(echo "$L" | tr ',' ' ') " ] && pass "suite --methods runs the listed rows in order" || fail "suite --methods rows: $(rows l.txt)"
# a listed row is the same computation as in the full suite
for r in fedavg@found+P fedmetaalign+P; do
  x=$(sums d.txt | grep "method=$r "); y=$(sums l.txt | grep "method=$r ")
  [ -n "$x" ] && [ "$x" = "$y" ] && pass "row $r: same checksums as in the default suite" || fail "row $r: '$y' vs '$x'"
done
"$FEDALIGN" suite --preset tiny --quiet --rounds 1 --no-int8 --p3-epochs 0.1 --methods all --output a.h5 > a.txt 2>&1 || fail "suite --methods all failed"
for m in fedavgm fedadam fedyogi fedadagrad scaffold; do
  for s in "+P" "" "@found+P"; do
    grep -q "^FEDALIGN_RESULT.* method=$m$s " a.txt || fail "--methods all has no row $m$s"
  done
done
[ "$(grep -c '^FEDALIGN_RESULT' a.txt)" -gt 15 ] && pass "--methods all: every method's rows" || fail "--methods all: $(grep -c '^FEDALIGN_RESULT' a.txt) rows"
bad() { # want-in-message ARGS...
  local want=$1; shift
  "$FEDALIGN" "$@" --preset tiny --quiet --output bad.h5 > bad.txt 2>&1; local rc=$?
  if [ $rc = 2 ] && grep -q -- "$want" bad.txt && [ ! -e bad.h5 ]; then pass "refused: $* ($want)"
  else fail "$*: exit $rc, want 2 and '$want'"; cat bad.txt >&2; fi
}
bad "valid rows (with these flags): all, fedmetaalign+P" suite --methods fedavg+P,nosuch
bad "listed twice" suite --methods fedavg+P,fedavg+P
bad "is an option of 'fedalign suite'" run --methods fedavg+P
# SCAFFOLD's c_t (4 bytes x P per client) in the memory estimate: 100,000 clients of a
# 16.8M-parameter model need 6 TiB for them alone
bad "SCAFFOLD's control variates" run --method scaffold --hidden 4096,4096 --clients 100000 --samples 40 --min-samples 40
finish
