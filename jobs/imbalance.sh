#!/usr/bin/env bash
# imbalance.sh: load balance and the serial parts (docs/scaling.md, "Load balance and
# serial parts"; issue 12 section 2). Two tables, both from the runs' own output:
#
#   imbalance  FedAvg, C clients with lognormal quantity skew (--quantity-skew SIGMA),
#              --assign block vs balanced at 2..MAXN ranks: max/mean over ranks of the
#              training rows a rank holds (rows_imbalance, machine-independent) and of its
#              local-training wall time per round (train_imbalance, mean over rounds;
#              median over REPS runs). Ranks beyond the cores are oversubscribed: their
#              wall times then measure the scheduler as much as the work, the row ratio
#              does not.
#   serial     Fed-Meta-Align at 1 and 2 ranks and several client counts: per-phase
#              seconds from the results file's timers (phase 0 and the ring are serial:
#              rank 0 alone, then one rank at a time), the serial fraction and its Amdahl
#              limit 1 / f; then the same at the largest C with --ring-clients K.
#
# Expected runtime: about 5 minutes on 2 cores with the defaults. Output: stdout (tables
# and one IMBALANCE / SERIAL line per configuration); results files in a temporary
# folder, removed at the end. Needs a built fedalign (default build/fedalign) and
# /usr/bin/python3 with h5py (Debian python3-h5py) for the timers.
# Usage: jobs/imbalance.sh [--part imbalance|serial|all] [--clients C] [--skew SIGMA]
#                          [--max-ranks N] [--reps R] [--rounds R] [--ring-clients K]
#                          [--fedalign PATH]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
PART=all C=1000 SKEW=1 MAXN=4 REPS=3 ROUNDS=5 RINGK=100
FEDALIGN=$here/build/fedalign
while [ $# -gt 0 ]; do
  case $1 in
    --part) PART=$2; shift 2 ;;
    --clients) C=$2; shift 2 ;;
    --skew) SKEW=$2; shift 2 ;;
    --max-ranks) MAXN=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --ring-clients) RINGK=$2; shift 2 ;;
    --fedalign) FEDALIGN=$2; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "imbalance.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case $PART in imbalance|serial|all) ;; *) echo "imbalance.sh: --part imbalance|serial|all" >&2; exit 2 ;; esac
[ -x "$FEDALIGN" ] || { echo "imbalance.sh: no fedalign binary at $FEDALIGN (build first, or --fedalign PATH)" >&2; exit 2; }
/usr/bin/python3 -c 'import h5py' 2>/dev/null || { echo "imbalance.sh: /usr/bin/python3 has no h5py: apt-get install -y python3-h5py" >&2; exit 2; }
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMPI_MCA_rmaps_base_oversubscribe=1 OMP_NUM_THREADS=1 OMP_PROC_BIND=false
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

field() { grep -m1 '^FEDALIGN_RESULT' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
run() { # out ranks args...
  local out=$1 n=$2; shift 2
  rm -f "$out.h5"
  mpirun -n "$n" "$FEDALIGN" run --quiet --no-int8 --output "$out.h5" "$@" < /dev/null > "$out.txt" 2>&1 \
    || { echo "imbalance.sh: run -n $n $* failed:" >&2; tail -3 "$out.txt" >&2; exit 1; }
}

if [ "$PART" != serial ]; then
  echo "# imbalance: fedavg, $C clients, --quantity-skew $SKEW, $ROUNDS rounds, 1 thread/rank, median of $REPS"
  printf '| %5s | %-8s | %14s | %15s | %11s |\n' ranks assign rows_imbalance train_imbalance t_train_max
  echo '|-------|----------|----------------|-----------------|-------------|'
  for n in $(seq 2 "$MAXN"); do
    for a in block balanced; do
      ti=() tt=()
      for k in $(seq "$REPS"); do
        run "$work/i" "$n" --method fedavg --no-personalize --clients "$C" --quantity-skew "$SKEW" \
          --rounds "$ROUNDS" --samples 200 --assign "$a"
        ti+=("$(field "$work/i.txt" train_imbalance)")
        tt+=("$(field "$work/i.txt" t_train_max)")
        ri=$(field "$work/i.txt" rows_imbalance)
      done
      mi=$(printf '%s\n' "${ti[@]}" | median)
      mt=$(printf '%s\n' "${tt[@]}" | median)
      printf '| %5s | %-8s | %14s | %15s | %11s |\n' "$n" "$a" "$ri" "$mi" "$mt"
      echo "IMBALANCE ranks=$n assign=$a clients=$C skew=$SKEW rows_imbalance=$ri train_imbalance=$mi t_train_max=$mt" >&2
    done
  done
fi

# per-phase seconds (max over ranks; the ring's span) from a results file
phases() {
  /usr/bin/python3 - "$1" <<'PYEOF'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
(g,) = f["methods"].values()
t = g["timers"]
row = {(n.decode() if isinstance(n, bytes) else str(n)): t[i] for i, n in enumerate(t.attrs["names"])}
p0, ring, agg, io, tot = row["phase0"][2], row["ring"][3], row["aggregate"][2], row["io"][2], row["total"][2]
serial = p0 + ring
print(f"{p0:.3f} {ring:.3f} {agg:.3f} {io:.3f} {tot:.3f} {serial / tot:.3f} {tot / serial:.1f}")
PYEOF
}

if [ "$PART" != imbalance ]; then
  echo
  echo "# serial parts: fedmetaalign, --quantity-skew $SKEW, $ROUNDS rounds, 1 thread/rank; seconds, max over ranks"
  printf '| %5s | %7s | %-14s | %7s | %7s | %9s | %6s | %7s | %6s | %7s |\n' ranks clients ring phase0 ring aggregate io total f 1/f
  echo '|-------|---------|----------------|---------|---------|-----------|--------|---------|--------|---------|'
  # ranks clients [ring clients (- = all)] [assign]
  for cfg in "1 $((C / 10))" "1 $((C * 3 / 10))" "1 $C" "2 $((C / 10))" "2 $C" "2 $C - balanced" \
    "1 $C $RINGK" "2 $C $RINGK"; do
    set -- $cfg
    n=$1 c=$2 k=${3:--} a=${4:-block}
    extra=(--assign "$a") label="all"
    [ "$a" = block ] || label="all, $a"
    [ "$k" = - ] || { extra+=(--ring-clients "$k"); label="K=$k"; }
    run "$work/s" "$n" --method fedmetaalign --no-personalize --clients "$c" --quantity-skew "$SKEW" \
      --rounds "$ROUNDS" --samples 200 "${extra[@]}"
    read -r p0 ring agg io tot f lim <<< "$(phases "$work/s.h5")"
    printf '| %5s | %7s | %-14s | %7s | %7s | %9s | %6s | %7s | %6s | %7s |\n' "$n" "$c" "$label" "$p0" "$ring" "$agg" "$io" "$tot" "$f" "$lim"
    echo "SERIAL ranks=$n clients=$c assign=$a ring_clients=$k phase0_s=$p0 ring_s=$ring aggregate_s=$agg io_s=$io total_s=$tot serial_frac=$f amdahl_limit=$lim" >&2
  done
fi
