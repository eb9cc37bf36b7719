#!/usr/bin/env bash
# test_exact_sum_ranks.sh: the exact fixed-point sum is the same at every rank count.
#
# Runs tests/test_comm (built beside the fedalign binary, in the build dir's tests/
# folder) at -n 1, 2, 3, 4 and asserts that each run passes and prints one identical
# `exact_sum_checksum=` line: 1000 clients' vectors summed in fixed point over 1..4
# ranks must give the same bits (docs/architecture.md, "Reproducibility contract"). Then it checks
# that the int64 overflow pre-check takes every rank down with exactly one message.
# Env (set by CTest): FEDALIGN (binary path), MPIEXEC (launcher; mpiexec if empty).
# Running as root needs OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 from
# the caller's environment; we deliberately do not set them here.
set -euo pipefail

: "${FEDALIGN:?FEDALIGN must name the fedalign binary (CTest sets it)}"
MPIEXEC=${MPIEXEC:-mpiexec}
TEST_COMM="$(dirname "$FEDALIGN")/tests/test_comm"
if [[ ! -x $TEST_COMM ]]; then
    echo "FAIL: test_comm not found at $TEST_COMM (build the test_comm target first)" >&2
    exit 1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1 OMP_NUM_THREADS=1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

ref=""
for n in 1 2 3 4; do
    if ! "$MPIEXEC" -n "$n" "$TEST_COMM" >"$tmp/out$n" 2>"$tmp/err$n"; then
        cat "$tmp/out$n" "$tmp/err$n" >&2
        fail "test_comm failed at -n $n"
    fi
    count=$(grep -c '^exact_sum_checksum=' "$tmp/out$n" || true)
    [[ $count == 1 ]] || fail "-n $n printed $count exact_sum_checksum lines, expected 1"
    sum=$(grep '^exact_sum_checksum=' "$tmp/out$n")
    echo "-n $n: $sum"
    if [[ -z $ref ]]; then
        ref=$sum
    elif [[ $sum != "$ref" ]]; then
        fail "-n $n gave '$sum', -n 1 gave '$ref'"
    fi
done

# The overflow pre-check: non-zero exit, one fedalign message (from rank 0), and no
# rank that carried on past the failed reduction.
for n in 1 3; do
    rc=0
    "$MPIEXEC" -n "$n" "$TEST_COMM" --overflow >"$tmp/ov$n" 2>&1 || rc=$?
    [[ $rc != 0 ]] || fail "-n $n --overflow exited 0"
    msgs=$(grep -c 'exact fixed-point sum could overflow int64' "$tmp/ov$n" || true)
    if [[ $msgs != 1 ]]; then
        cat "$tmp/ov$n" >&2
        fail "-n $n --overflow printed $msgs messages, expected 1"
    fi
    ! grep -q 'did not fire' "$tmp/ov$n" || fail "-n $n: a rank survived the overflow check"
    echo "-n $n --overflow: exit $rc, one message"
done
echo "PASS: exact_sum_checksum identical at -n 1..4"
