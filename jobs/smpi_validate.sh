#!/usr/bin/env bash
# SMPI validation (docs/scaling.md "Validation"): the same run measured natively
# (mpirun -n P, one thread per rank) and simulated (smpirun -np P on
# jobs/platforms/host_2core.xml), at P = 1 and 2, FA_REPS times each; prints per phase
# (max over ranks, from the run's phase table) and for the total the minimum over the
# repetitions (the one least disturbed by other jobs on a shared host; FA_STAT=median for
# the median) and the simulation's error in % of the measured value. SMPI charges the
# CPU time of each simulated rank's code, a native run takes wall time: on a loaded host
# the native times grow and the error with them (the load average is printed), unless the
# native runs get the cores first: FA_NATIVE_NICE=-20 (root) runs them at that priority.
# Usage: bash jobs/smpi_validate.sh [OUTDIR]   (default results/smpi_validate_<UTC stamp>)
# Env: FEDALIGN (native, build/fedalign), FA_SMPI_BIN (build-smpi/fedalign), FA_RANKS ("1 2"),
#      FA_REPS (5), FA_ARGS (run flags, "--preset tiny --clients 16 --rounds 10 --watchdog 0";
#      the watchdog barrier's polling would be simulated literally, see jobs/smpi_predict.sh).
# Cost: ~FA_REPS x 2 x (the run's time at each P), ~1 min at the defaults.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-results/smpi_validate_$(date -u +%Y%m%dT%H%M%SZ)}
fa=${FEDALIGN:-$root/build/fedalign}
bin=${FA_SMPI_BIN:-$root/build-smpi/fedalign}
for b in "$fa" "$bin"; do [ -x "$b" ] || { echo "smpi_validate: $b not found (build it first)" >&2; exit 2; }; done
bin=$(realpath "$bin") # smpirun runs it from inside $out
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
read -r -a args <<< "${FA_ARGS:---preset tiny --clients 16 --rounds 10 --watchdog 0}"
mkdir -p "$out"
for p in ${FA_RANKS:-1 2}; do
  for i in $(seq "${FA_REPS:-5}"); do
    OMP_NUM_THREADS=1 nice -n "${FA_NATIVE_NICE:-0}" mpirun -n "$p" --bind-to core "$fa" run "${args[@]}" --output "$out/native_r${p}_$i.h5" \
      --overwrite > "$out/native_r${p}_$i.txt" || { echo "smpi_validate: native -n $p failed" >&2; exit 1; }
    (cd "$out" && smpirun -np "$p" -platform "$root/jobs/platforms/host_2core.xml" --cfg=smpi/host-speed:1Gf \
       --log=root.thres:warning "$bin" run "${args[@]}" > "smpi_r${p}_$i.txt" 2> "smpi_r${p}_$i.err") ||
      { echo "smpi_validate: smpirun -np $p failed" >&2; exit 1; }
  done
done
load=$(cut -d' ' -f1-3 /proc/loadavg)
FA_STAT=${FA_STAT:-min} FA_LOAD=$load FA_NCPU=$(nproc) /usr/bin/python3 - "$out" <<'PYEOF' | tee "$out/validation.md"
import glob, os, re, statistics, sys
out = sys.argv[1]
stat = min if os.environ["FA_STAT"] == "min" else statistics.median
def phases(path):  # max_s column of the "# phase min_s avg_s max_s span_s" table
    t, on = {}, False
    for line in open(path):
        if line.startswith("# phase"): on = True; continue
        m = re.match(r"\s+(\w+)\s+([\d.e+-]+)\s+([\d.e+-]+)\s+([\d.e+-]+)\s+([\d.e+-]+)\s*$", line)
        if on and m: t[m.group(1)] = float(m.group(4))
        elif on and t: on = False
    return t
ranks = sorted({int(re.search(r"_r(\d+)_", f).group(1)) for f in glob.glob(out + "/native_r*.txt")})
print(f"{os.environ['FA_STAT']} over repetitions; load average {os.environ['FA_LOAD']} on {os.environ['FA_NCPU']} CPUs at the end\n")
print("| ranks | phase | measured s | simulated s | error % |\n|---|---|---|---|---|")
for p in ranks:
    nat = [phases(f) for f in sorted(glob.glob(f"{out}/native_r{p}_*.txt"))]
    sim = [phases(f) for f in sorted(glob.glob(f"{out}/smpi_r{p}_*.txt"))]
    for k in nat[0]:
        a, b = stat(x[k] for x in nat), stat(x[k] for x in sim)
        if a < 1e-4 and b < 1e-4: continue  # phases this run does not have
        err = "%+.1f" % (100 * (b - a) / a) if a > 0 else "n/a"
        print(f"| {p} | {k} | {a:.4f} | {b:.4f} | {err} |")
    # the native total also holds writing the HDF5 file, which the SMPI build skips
    a = stat(sum(v for k, v in x.items() if k != "total") for x in nat)
    b = stat(sum(v for k, v in x.items() if k != "total") for x in sim)
    print(f"| {p} | sum of phases | {a:.4f} | {b:.4f} | {100 * (b - a) / a:+.1f} |")
PYEOF
