#!/usr/bin/env bash
# A run you can watch: a suite prints "== method i/N" and the provenance block in its
# banner; progress lines (forced every 1 ms with FEDALIGN_PROGRESS_SECS) go to stderr
# only, with an ETA; --quiet prints only the FEDALIGN_RESULT lines and the suite table
# (bounded, whatever the number of rounds), and the result lines are those of the
# verbose run.
source "$(dirname "$0")/common.sh"
cd "$WORK"
export FEDALIGN_PROGRESS_SECS=0.001 OMP_NUM_THREADS=1
mpirun_n 2 "$FEDALIGN" suite --preset tiny --output v.h5 > v.out 2> v.err || fail "verbose suite"
mpirun_n 2 "$FEDALIGN" suite --preset tiny --rounds 12 --quiet --output q.h5 > q.out 2> q.err ||
  fail "quiet suite"
n=$(grep -c '^FEDALIGN_RESULT' v.out)
[ "$n" -ge 10 ] || fail "verbose suite printed $n result lines"
grep -q "^== method 1/$n " v.out && grep -q "^== method $n/$n " v.out &&
  pass "suite prints method i/$n" || fail "no '== method i/$n' headers"
for k in compiler c_flags build_isa openmp_version mpi_library hdf5_version cpu_model git_dirty; do
  grep -q "^# .*\b$k " v.out || fail "banner lacks provenance key $k"
done
# rounds take more than a millisecond each; the ring and personalization of 4 tiny
# clients may finish within one interval, so only the rounds' lines are required
grep -q '^# progress fedmetaalign+P rounds [0-9]*/5 (.*%) | .* s elapsed | ETA [0-9]* s$' v.err &&
  grep -q '^# progress phase 0' v.err &&
  pass "progress with ETA on stderr ($(grep -c '^# progress' v.err) lines)" || fail "progress lines missing on stderr"
grep -v '^# progress' v.err | grep -q . && fail "stderr has more than progress lines"
grep -q 'progress' v.out q.out && fail "progress on stdout"
[ -s q.err ] && { fail "quiet run wrote to stderr"; head -3 q.err >&2; }
lines=$(wc -l < q.out) rq=$(grep -c '^FEDALIGN_RESULT' q.out)
# results + the suite table (title, header, rule, one row per method, two footnotes, blank)
[ "$rq" = "$n" ] && [ "$lines" -le $((2 * n + 7)) ] && ! grep -q '^round\|^== method\|^| parameter' q.out &&
  pass "--quiet: $lines lines, $rq results, no rounds/banner" || fail "--quiet printed $lines lines ($rq results)"
[ "$(sums v.out | sed 's/ checksum=[^ ]*//' | cut -d' ' -f1)" = "$(sums q.out | cut -d' ' -f1)" ] ||
  fail "quiet and verbose runs list different methods"
finish
