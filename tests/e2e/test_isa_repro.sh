#!/usr/bin/env bash
# Bits do not depend on the instruction set: the AVX2 build (-DFEDALIGN_ENABLE_AVX2=ON,
# -march=x86-64-v3) gives the same checksums as the portable build under test for every
# method of `suite --preset tiny`, at 2 ranks x 2 threads (README: "same bits").
# Builds fedalign once more into $FA_ISA_BUILD (default: next to the binary under test;
# about a minute on 2 cores). Skipped (77) on a CPU without AVX2.
. "$(dirname "$0")/common.sh"
grep -qw avx2 /proc/cpuinfo || { echo "skip: this CPU has no AVX2"; exit 77; }
root=$(cd "$(dirname "$0")/../.." && pwd)
bdir=${FA_ISA_BUILD:-$(dirname "$FEDALIGN")/isa-avx2}
if ! { cmake -S "$root" -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DFEDALIGN_ENABLE_AVX2=ON >"$WORK/cmake.txt" 2>&1 &&
       cmake --build "$bdir" -j"$(nproc)" --target fedalign >>"$WORK/cmake.txt" 2>&1; }; then
  fail "AVX2 build failed: $(tail -5 "$WORK/cmake.txt")"; finish
fi
sums_of() { OMP_NUM_THREADS=2 mpirun_n 2 "$1" suite --preset tiny --quiet --output "$2" |
  grep '^FEDALIGN_RESULT' | grep -o 'method=[^ ]*\|checksum=[^ ]*\|checksum_personal=[^ ]*'; }
a=$(sums_of "$FEDALIGN" "$WORK/p.h5"); b=$(sums_of "$bdir/fedalign" "$WORK/a.h5")
n=$(echo "$a" | grep -c 'checksum=')
if [ "$n" -ge 10 ] && [ "$a" = "$b" ]; then pass "portable and AVX2 builds: $n methods, identical checksums"
else fail "portable vs AVX2 differ ($n checksums): $(diff <(echo "$a") <(echo "$b") | head -6)"; fi
finish
