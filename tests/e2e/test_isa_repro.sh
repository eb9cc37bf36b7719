#!/usr/bin/env bash
# Bits do not depend on the ISA path: one build carries the sse2, avx2 (x86-64-v3) and
# avx512 (x86-64-v4) kernels (src/isa.c), and forcing each path with --isa gives the same
# checksums for every method of `suite --preset tiny` at 2 ranks x 2 threads and for
# `run` under faults, attacks, clipping and the previous-update reference, and for the
# cnn1d on the mechanical raw windows, serial and batch-split (README: "same bits").
# Paths this CPU or build cannot run are skipped with the reason; the test needs at least
# two paths (skip, 77, otherwise). Also: the path that ran is the one recorded
# (isa_path in the banner and the results file), FEDALIGN_ISA forces a path like the
# flag, and asking for a path the CPU lacks or an unknown name is refused (exit 2).
. "$(dirname "$0")/common.sh"
paths=()
for p in sse2 avx2 avx512; do
  if "$FEDALIGN" run --preset tiny --isa "$p" --rounds 0 --no-personalize --quiet \
      --output "$WORK/probe_$p.h5" >"$WORK/probe_$p.txt" 2>&1; then
    paths+=("$p")
  else
    echo "skip path $p: $(grep -o 'error: .*' "$WORK/probe_$p.txt" | head -1)"
  fi
done
[ "${#paths[@]}" -ge 2 ] || { echo "skip: this machine runs only ${paths[*]:-no path}"; exit 77; }
echo "paths compared: ${paths[*]}"

# every checksum of one path, in a fixed order
sums_of() { # path
  local p=$1 k=0
  OMP_NUM_THREADS=2 mpirun_n 2 "$FEDALIGN" suite --preset tiny --isa "$p" --quiet \
    --output "$WORK/s_$p.h5" </dev/null | sums /dev/stdin | sed 's/^/suite /'
  while IFS= read -r extra; do
    k=$((k + 1))
    for m in fedmetaalign fedavg fedprox; do
      # shellcheck disable=SC2086 # extra holds several words on purpose
      OMP_NUM_THREADS=2 mpirun_n 2 "$FEDALIGN" run --preset tiny --isa "$p" --method $m $extra \
        --quiet --output "$WORK/r_${p}_${k}_$m.h5" </dev/null | sums /dev/stdin | sed "s|^|[$extra] |"
    done
  done <<'CFG'
--reference prev
--dropout 0.3 --speed-spread 0.6 --deadline 3
--attack scale:0.3 --attack-scale 5 --clip 0.5
--attack nan:0.3
--threads-over batch --batch 64
CFG
  # the cnn1d (model_cnn.c is a per-path kernel file) on the mechanical raw windows
  for extra in "" "--threads-over batch"; do
    for m in fedmetaalign fedavg; do
      # shellcheck disable=SC2086 # extra holds several words on purpose
      OMP_NUM_THREADS=2 mpirun_n 2 "$FEDALIGN" run --preset tiny --isa "$p" --method $m --dataset mechanical \
        --input raw --model cnn1d --rounds 3 $extra --quiet --output "$WORK/c_${p}_${#extra}_$m.h5" </dev/null |
        sums /dev/stdin | sed "s|^|[cnn1d $extra] |"
    done
  done
}
ref=$(sums_of "${paths[0]}")
n=$(echo "$ref" | grep -c 'checksum=')
[ "$n" -ge 25 ] || fail "only $n checksums from path ${paths[0]}"
for p in "${paths[@]:1}"; do
  got=$(sums_of "$p")
  if [ "$got" = "$ref" ]; then pass "$p gives ${paths[0]}'s bits: $n checksums"
  else fail "$p differs from ${paths[0]}: $(diff <(echo "$ref") <(echo "$got") | head -6)"; fi
done

# the path that ran is the one recorded, and FEDALIGN_ISA selects like the flag
last=${paths[${#paths[@]} - 1]}
out=$(FEDALIGN_ISA="${paths[0]}" "$FEDALIGN" run --preset tiny --rounds 0 --no-personalize \
  --output "$WORK/env.h5" 2>&1)
echo "$out" | grep -q "isa_path ${paths[0]}\b" && pass "FEDALIGN_ISA=${paths[0]} runs and reports that path" ||
  fail "FEDALIGN_ISA=${paths[0]}: banner says $(echo "$out" | grep -o 'isa_path [a-z0-9]*')"
out=$("$FEDALIGN" run --preset tiny --rounds 0 --no-personalize --output "$WORK/auto.h5" 2>&1)
echo "$out" | grep -q "isa_path $last\b" && pass "auto runs the fastest path, $last" ||
  fail "auto: banner says $(echo "$out" | grep -o 'isa_path [a-z0-9]*'), expected $last"
if command -v h5dump >/dev/null; then
  h5dump -a /isa_path "$WORK/probe_$last.h5" 2>/dev/null | grep -q "\"$last\"" &&
    pass "results file records isa_path $last" || fail "results file lacks isa_path $last"
fi

# refused: an unknown name (flag and environment), a path the CPU lacks
refused() { # label, expected message part, command...
  local label=$1 msg=$2; shift 2
  "$@" >"$WORK/ref.txt" 2>&1 </dev/null
  local rc=$?
  if [ "$rc" = 2 ] && grep -q "$msg" "$WORK/ref.txt"; then pass "$label refused (exit 2)"
  else fail "$label: exit $rc, $(head -3 "$WORK/ref.txt")"; fi
}
refused "--isa neon" "unknown isa 'neon'" "$FEDALIGN" run --preset tiny --isa neon --output "$WORK/x1.h5"
refused "FEDALIGN_ISA=neon" "FEDALIGN_ISA: unknown path 'neon'" \
  env FEDALIGN_ISA=neon "$FEDALIGN" run --preset tiny --output "$WORK/x2.h5"
refused "bench --isa neon" "unknown isa 'neon'" "$FEDALIGN" bench peak --quick --isa neon
# a CPU without the path: FEDALIGN_TEST_ISA_CAP makes the paths above it look missing
refused "--isa $last on a CPU without it" "$last: this CPU lacks" \
  env FEDALIGN_TEST_ISA_CAP=sse2 "$MPIEXEC" -n 2 "$FEDALIGN" run --preset tiny --isa "$last" \
  --output "$WORK/x3.h5"
# only rank 1 lacks it (MPMD launch): every rank still ends with exit 2, one message
refused "--isa $last when another rank's CPU lacks it" "another rank's CPU cannot run it" \
  "$MPIEXEC" -n 1 "$FEDALIGN" run --preset tiny --isa "$last" --output "$WORK/x4.h5" : \
  -n 1 -x FEDALIGN_TEST_ISA_CAP=sse2 "$FEDALIGN" run --preset tiny --isa "$last" --output "$WORK/x4.h5"
for f in x1 x2 x3 x4; do [ ! -e "$WORK/$f.h5" ] || fail "refused run $f left a results file"; done
finish
