#!/usr/bin/env bash
# Ablations and settings that must collapse onto a baseline give identical checksums
# (label e2e; issue 13). Each row: two command lines that differ only in how they say it;
# the global-model checksum and every client's final model must match bit for bit. Why
# they collapse (docs/algorithm.md, "Baselines and ablations"):
#   - Fed-Meta-Align without ring and similarity weights is FedAvg from the foundation
#     model: same phase 0, same round (weights = training rows, or 1 each with
#     --fedavg-uniform), same phase 3; without phase 0 too it is FedAvg from the random
#     init. Its --reference, --score and --floor then have nothing to act on.
#   - FedProx with mu = 0 is FedAvg (the proximal term is mu/2 |w - phi|^2).
#   - FedAvg ignores --mu; a clip bound no update reaches, a deadline no device misses
#     and an attack on 0 % of the clients change nothing.
# Run on 2 ranks and 2 threads per row's second line, so a collapse that only holds for
# one decomposition fails.
. "$(dirname "$0")/common.sh"
cd "$WORK"
one() { # ranks threads args...: sums of a tiny run (called in $(...): no shared counter)
  local n=$1 t=$2; shift 2
  local f
  f=r$n-$t-$(echo "$*" | md5sum | cut -c1-12)
  OMP_NUM_THREADS=$t mpirun_n "$n" "$FEDALIGN" run --preset tiny --quiet --output "$f.h5" \
    --overwrite "$@" < /dev/null > "$f.txt" 2>&1 || echo "FAIL: run $* exited $?" >&2
  grep '^FEDALIGN_RESULT' "$f.txt" | grep -o 'checksum=[^ ]*\|checksum_personal=[^ ]*' | paste -d' ' - -
}
while IFS='|' read -r a b; do
  [ -n "$a" ] && [ "${a:0:1}" != "#" ] || continue
  x=$(one 1 1 $a); y=$(one 2 2 $b)
  if [ -n "$x" ] && [ "$x" = "$y" ]; then pass "[$a] = [$b]"
  else fail "[$a] gives '$x', [$b] gives '$y'"; fi
done <<'TABLE'
--method fedmetaalign --ablate phase1,similarity|--method fedavg --init foundation
--method fedmetaalign --ablate phase1,similarity --fedavg-uniform|--method fedavg --init foundation --fedavg-uniform
--method fedmetaalign --ablate phase0,phase1,similarity|--method fedavg
--method fedmetaalign --ablate phase0,phase1,similarity --fedavg-uniform|--method fedavg --fedavg-uniform
--method fedmetaalign --ablate phase1,similarity --reference prev --score loss --floor 0.7|--method fedavg --init foundation
--method fedprox --mu 0|--method fedavg
--method fedprox --mu 0 --init foundation|--method fedavg --init foundation
--method fedavg --mu 5|--method fedavg
--method fedavg --clip 1e9|--method fedavg
--method fedavg --deadline 1e9 --speed-spread 1|--method fedavg
--method fedavg --attack signflip:0|--method fedavg
TABLE
# the collapse is not vacuous: the similarity weights and the ring do move the checksums
s0=$(one 1 1 --method fedavg --init foundation)
s1=$(one 1 1 --method fedmetaalign --ablate phase1)
s2=$(one 1 1 --method fedmetaalign --ablate similarity)
[ "$s0" != "$s1" ] && [ "$s0" != "$s2" ] && [ "$s1" != "$s2" ] \
  && pass "similarity weights and the ring each change the checksums" \
  || fail "an ablation part changes nothing: '$s0' '$s1' '$s2'"
finish
