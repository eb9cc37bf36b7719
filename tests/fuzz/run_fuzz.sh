#!/usr/bin/env bash
# Bounded fuzzing run (issue 7, item 4; CTest test `fuzz`, label fuzz).
#
#   bash tests/fuzz/run_fuzz.sh [csv] [config]      # default: both, one after the other
#
# Builds the libFuzzer harnesses of tests/fuzz/ with clang (-fsanitize=fuzzer,address,
# undefined; see tests/fuzz/CMakeLists.txt), replays every regression input of
# tests/data/regress/ once, then fuzzes each target for FA_FUZZ_SECONDS seconds from
# its seed corpus (tests/fuzz/corpus_<target>/, never written to) plus a working
# corpus kept in the build directory, so repeated runs keep what earlier runs found.
# Exit code: 0 clean; 1 a crash, leak, sanitizer report, contract violation, timeout
# or out-of-memory (the input is saved under <build>/crashes/<target>/ and named
# below); 77 no clang with libFuzzer here (CTest reports the test as skipped).
#
# Environment:
#   FA_FUZZ_SECONDS   seconds per target [60]
#   FA_FUZZ_BUILD     build directory [<repo>/build-fuzzers]
#   FA_FUZZ_CC        compiler [clang]
#   FA_FUZZ_MAX_LEN   largest input in bytes [csv 65536, config 4096]
#   FA_FUZZ_TIMEOUT   seconds one input may take before it counts as a hang [10]
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${FA_FUZZ_SECONDS:-60}
build=${FA_FUZZ_BUILD:-$root/build-fuzzers}
cc=${FA_FUZZ_CC:-clang}
per_input=${FA_FUZZ_TIMEOUT:-10}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(csv config)

# ---- can this machine build a libFuzzer binary at all? (else: skip, code 77)
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "SKIP: no $cc (apt-get install clang libclang-rt-14-dev)"; exit 77
fi
probe=$(mktemp -d)
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' > "$probe/p.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" >/dev/null 2>&1; then
  rm -rf "$probe"
  echo "SKIP: $cc cannot link -fsanitize=fuzzer (apt-get install libclang-rt-14-dev)"; exit 77
fi
rm -rf "$probe"

# ---- build (a real failure from here on is a test failure)
echo "== building the fuzzers in $build"
mkdir -p "$build"
cmake -S "$here" -B "$build" -DCMAKE_C_COMPILER="$cc" > "$build/configure.log" 2>&1 ||
  { cat "$build/configure.log" >&2; echo "FAIL: cmake configure of tests/fuzz failed" >&2; exit 1; }
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" > "$build/build.log" 2>&1 ||
  { cat "$build/build.log" >&2; echo "FAIL: building the fuzzers failed" >&2; exit 1; }

fails=0
# Open MPI is not involved, but ASan's leak checker and UBSan must fail hard.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
for t in "${targets[@]}"; do
  exe=$build/fuzz_$t
  [ -x "$exe" ] || { echo "FAIL: unknown target '$t' (csv or config)" >&2; fails=$((fails + 1)); continue; }
  case $t in csv) max_len=${FA_FUZZ_MAX_LEN:-65536} ;; *) max_len=${FA_FUZZ_MAX_LEN:-4096} ;; esac
  seeds=$here/corpus_$t
  work=$build/corpus_$t
  art=$build/crashes/$t
  log=$build/fuzz_$t.log
  mkdir -p "$work" "$art"

  # 1. regression inputs: every earlier crash, replayed once under the sanitizers
  regress=()
  for f in "$root"/tests/data/regress/"$t"-*; do [ -f "$f" ] && regress+=("$f"); done
  if [ ${#regress[@]} -gt 0 ]; then
    "$exe" -timeout="$per_input" -rss_limit_mb=2048 "${regress[@]}" > "$build/regress_$t.log" 2>&1 &
    pid=$!; wait $pid; rc=$?
    rm -f "/dev/shm/fa_fuzz_csv_$pid.csv"   # fuzz_csv's input file, left when it crashed
    if [ $rc -eq 0 ]; then
      echo "ok: fuzz_$t replays ${#regress[@]} regression input(s) cleanly"
    else
      grep -E '^Running:|contract violated|die\(\)|fa_fail|ERROR|SUMMARY' "$build/regress_$t.log" | tail -8 >&2
      echo "FAIL: fuzz_$t crashes on a regression input of tests/data/regress/ (log: $build/regress_$t.log)" >&2
      fails=$((fails + 1))
    fi
  fi

  # 2. the bounded run
  echo "== fuzz_$t: ${secs} s, max_len $max_len, per-input timeout ${per_input} s"
  "$exe" -max_total_time="$secs" -max_len="$max_len" -timeout="$per_input" \
    -rss_limit_mb=2048 -malloc_limit_mb=2048 -dict="$here/$t.dict" \
    -artifact_prefix="$art/" -print_final_stats=1 -close_fd_mask=1 \
    "$work" "$seeds" > "$log" 2>&1 &
  pid=$!; wait $pid; rc=$?
  rm -f "/dev/shm/fa_fuzz_csv_$pid.csv"
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
  corp=$(ls "$work" | wc -l)
  if [ $rc -eq 0 ]; then
    echo "ok: fuzz_$t clean: ${execs:-?} executions in ${secs} s (${rate:-?}/s), $cov, working corpus $corp inputs"
  else
    grep -E 'ERROR|SUMMARY|contract violated|die\(\)|fa_fail|Test unit written|==[0-9]+==' "$log" | head -30 >&2
    echo "FAIL: fuzz_$t exit $rc after ${execs:-?} executions; inputs saved:" >&2
    ls -l "$art" >&2
    echo "  reproduce: $exe <input>; full log: $log" >&2
    fails=$((fails + 1))
  fi
done
if [ $fails -ne 0 ]; then echo "$fails fuzz check(s) failed" >&2; exit 1; fi
echo "all fuzz checks passed"
