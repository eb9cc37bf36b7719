#!/usr/bin/env bash
# Robust aggregation (issue 16 part B; docs/algorithm.md "Robust aggregation"), label e2e:
#   reductions that hold bit for bit: trimmedmean --trim-frac 0 is FedAvg --fedavg-uniform
#   (the same exact sum, the same den), multikrum --krum-m 1 is krum;
#   the per-client shares in rc_weight sum to 1 over the aggregated clients of a round and
#   are 0 for the others; FLTrust records its cosines in rc_cos and gives sign-flipping
#   attackers (whose update points against the honest direction) no share;
#   each method stopped after a round and resumed at another rank count ends identical;
#   a size whose gather cannot fit on rank 0 is refused with exit 2, one message naming
#   the gather, on every rank, and no output file.
# Checksums across -n 1..4 x threads: tests/e2e/test_repro.sh; flags: test_flags_reach.sh.
. "$(dirname "$0")/common.sh"
PY=/usr/bin/python3
cd "$WORK"
export OMP_NUM_THREADS=1
run() { run_tiny2 "$@"; }
ck() { sums "$1.txt" | cut -d' ' -f2-; }

run fu --method fedavg --fedavg-uniform
run tm --method trimmedmean --trim-frac 0
[ -n "$(ck fu)" ] && [ "$(ck fu)" = "$(ck tm)" ] && pass "trimmedmean --trim-frac 0 = fedavg --fedavg-uniform bit for bit" \
  || fail "trimmedmean --trim-frac 0 ($(ck tm)) differs from fedavg --fedavg-uniform ($(ck fu))"
run k1 --method krum
run m1 --method multikrum --krum-m 1
[ -n "$(ck k1)" ] && [ "$(ck k1)" = "$(ck m1)" ] && pass "multikrum --krum-m 1 = krum bit for bit" \
  || fail "multikrum --krum-m 1 ($(ck m1)) differs from krum ($(ck k1))"

# shares and cosines, with sign-flipping attackers (8 clients, 2 of them attack)
for m in median trimmedmean krum multikrum fltrust; do
  run "s_$m" --method "$m" --clients 8 --attack signflip:0.25 --krum-f 2 --trim-frac 0.25
  "$PY" - "s_$m.h5" "$m" <<'PYEOF' && pass "$m: rc_weight shares sum to 1 over the aggregated clients" \
    || fail "$m: rc_weight / rc_cos not as documented"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r"); m = sys.argv[2]
(name,) = list(f["methods"])
g = f["methods"][name]
w, st, cos = g["rc_weight"][...], g["rc_status"][...].astype(np.int64), g["rc_cos"][...]
agg, att = (st & 128) != 0, (st & 64) != 0
ok = att.any() and np.all(w[~agg] == 0) and np.all(w >= 0)
s = w.sum(axis=1)
ok = ok and np.allclose(s[agg.any(axis=1)], 1.0, atol=1e-9)
if m == "fltrust":
    ok = ok and np.all(np.isfinite(cos[agg])) and np.all(w[att] == 0)
    print(f"# fltrust: attackers' cosines max {cos[att].max():.3f}, honest min {cos[agg & ~att].min():.3f}")
else:
    ok = ok and np.all(np.isnan(cos))
print(f"# {m}: attackers' mean share {w[att].mean():.3f}, honest {w[agg & ~att].mean():.3f}")
sys.exit(0 if ok else 1)
PYEOF
done

# stop after round 2 at -n 2, resume at -n 3: the same results
for m in median krum fltrust; do
  run "ref_$m" --method "$m"
  rm -f "r_$m.h5" "r_$m.h5.ckpt"
  mpirun_n 2 "$FEDALIGN" run --preset tiny --quiet --method "$m" --output "r_$m.h5" --stop-after-round 2 \
    < /dev/null > stop.txt 2>&1; rc=$?
  [ $rc = 3 ] || { fail "$m: --stop-after-round 2 exit $rc (want 3)"; continue; }
  mpirun_n 3 "$FEDALIGN" run --preset tiny --quiet --method "$m" --output "r_$m.h5" --resume "r_$m.h5.ckpt" \
    < /dev/null > "res_$m.txt" 2>&1 || { fail "$m: resume failed"; tail -3 "res_$m.txt" >&2; continue; }
  [ "$(sums "ref_$m.txt")" = "$(sums "res_$m.txt")" ] && same_h5 "ref_$m.h5" "r_$m.h5" \
    && pass "$m: stop after round 2 at -n 2, resume at -n 3: identical" || fail "$m: resume differs"
done

# a gather that cannot fit on rank 0 (100000 clients x ~1M parameters) is refused up front
mpirun_n 2 "$FEDALIGN" run --method krum --clients 100000 --samples 40 --min-samples 40 \
  --hidden 1024,1024 --output big.h5 < /dev/null > big.txt 2>&1; rc=$?
n=$(grep -c 'fedalign: error:.*gather of every client' big.txt)
[ $rc = 2 ] && [ "$n" = 1 ] && [ ! -e big.h5 ] && pass "an unfittable gather: exit 2, one message, no output" \
  || { fail "unfittable gather: exit $rc, $n messages"; cat big.txt >&2; }
finish
