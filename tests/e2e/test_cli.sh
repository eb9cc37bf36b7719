#!/usr/bin/env bash
# Bad input: one clear message naming the problem, exit code 2 on every rank, no
# results written. Each case: expected message substring, then the arguments.
. "$(dirname "$0")/common.sh"

check_bad() {
  local want=$1; shift
  local n=2
  out=$(OMP_NUM_THREADS=1 mpirun_n $n "$FEDALIGN" "$@" 2>&1); rc=$?
  if [ $rc -ne 2 ]; then fail "'$*' exited $rc (want 2): $out"; return; fi
  echo "$out" | grep -q -- "$want" || { fail "'$*': message lacks '$want': $out"; return; }
  c=$(echo "$out" | grep -c 'fedalign: error:')
  [ "$c" = 1 ] || { fail "'$*': $c error lines (want exactly 1)"; return; }
  pass "$* -> $want"
}
check_bad "unknown option '--bogus'" run --preset tiny --bogus
check_bad "unknown command" frobnicate
check_bad "--lr: -1 is out of range" run --lr -1
check_bad "--clients: 0 is out of range" run --clients 0
check_bad "--client-frac: 1.5 is out of range" run --client-frac 1.5
check_bad "Dirichlet beta must be a number > 0" run --partition dirichlet:0
check_bad "Dirichlet beta must be a number > 0" run --partition dirichlet:-2
check_bad "--rounds: 'abc' is not a non-negative integer" run --rounds abc
check_bad "--method: unknown method" run --method fedsgd
check_bad "--preset: unknown preset" run --preset huge
check_bad "needs a value" run --lr
check_bad "2 ranks but only 1 clients" run --preset tiny --clients 1
check_bad "--hidden" run --hidden 64,x
check_bad "--ablate applies to --method fedmetaalign only" run --method fedavg --ablate phase0
check_bad "nonexistent.csv" run --preset tiny --dataset csv:$WORK/nonexistent.csv
mkdir -p "$WORK/adir"
check_bad "adir" run --preset tiny --dataset csv:$WORK/adir

# --help exits 0 and lists live defaults
out=$("$FEDALIGN" --help); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q -- '--rounds R' && echo "$out" | grep -q '\[20\]' && pass "--help" || fail "--help (rc $rc)"
# --help names every command and every exit code; each command has its own --help
for cmd in run suite data export bench; do
  echo "$out" | grep -q "^  $cmd " || fail "--help does not list the command '$cmd'"
done
for code in 0 1 2 3; do
  echo "$out" | grep -A3 'Exit codes' | grep -q "$code " || fail "--help does not explain exit code $code"
done
echo "$out" | grep -q -- '--version' || fail "--help does not mention --version"
for cmd in run export bench; do
  o=$("$FEDALIGN" $cmd --help 2>&1); rc=$?
  [ $rc = 0 ] && [ -n "$o" ] && pass "$cmd --help" || fail "$cmd --help: rc $rc"
done
# enum help and messages come from the name tables
echo "$out" | grep -q -- '--score KIND .*acc (.*) | loss (.*) | preacc' && pass "--score help lists its names" || fail "--score help"
check_bad "expected acc, loss or preacc" run --score bogus
check_bad "expected drop or discount" run --late sometimes
check_bad "KIND signflip, scale, noise or nan" run --attack flip:0.1
# --version: version and git describe, exit 0
v=$("$FEDALIGN" --version); rc=$?
[ $rc = 0 ] && echo "$v" | grep -Eq '^fedalign [0-9]+\.[0-9]+\.[0-9]+ \(git [^)]+\)$' && pass "--version: $v" || fail "--version: rc $rc: $v"
# export parses with the same option table: its own flags and the run's, same messages
# (serial: export refuses more than one rank)
check_bad_serial() {
  local want=$1; shift
  o=$("$FEDALIGN" "$@" 2>&1); rc=$?
  [ $rc = 2 ] && echo "$o" | grep -qF -- "$want" && pass "$* -> $want" || fail "'$*': rc $rc: $o"
}
check_bad_serial "--bench-reps: 200000 is out of range" export --model-bin x.bin --out "$WORK/o" --bench-reps 200000 --preset tiny
check_bad_serial "--lr: 'x' is not a number" export --model-bin x.bin --out "$WORK/o" --lr x
check_bad_serial "unknown option '--bogus' (see fedalign export --help)" export --model-bin x.bin --out "$WORK/o" --bogus
finish
