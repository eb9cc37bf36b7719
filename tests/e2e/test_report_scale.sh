#!/usr/bin/env bash
# Reports that scale: analysis/report.py on synthetic results files of 10, 300 and 10,000
# clients (tests/tools/fake_results.py) draws every figure at a bounded pixel size (no
# axis grows with the clients), the per-client distributions (clients_*.png) at every
# size and per-client per-round accuracy, and writes the tidy long tables with one row
# per method x client x round and per method x client.
source "$(dirname "$0")/common.sh"
/usr/bin/python3 -c "import h5py, matplotlib" 2>/dev/null || { echo "skip: python3-h5py/matplotlib missing"; exit 77; }
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$WORK"
R=6
for C in 10 300 10000; do
  /usr/bin/python3 "$here/tests/tools/fake_results.py" "f$C.h5" "$C" "$R" || { fail "fixture $C"; continue; }
  /usr/bin/python3 "$here/analysis/report.py" --out "rep$C" "f$C.h5" > "rep$C.txt" 2>&1 ||
    { fail "report.py at $C clients"; tail -5 "rep$C.txt" >&2; continue; }
  /usr/bin/python3 - "rep$C" "$C" "$R" <<'PYEOF' && pass "$C clients: figures bounded, distributions and tidy tables" || fail "$C clients"
import csv, glob, os, struct, sys
d, C, R = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bad = []
pngs = glob.glob(os.path.join(d, "*.png"))
for p in pngs:
    with open(p, "rb") as f:
        w, h = struct.unpack(">II", f.read(24)[16:24])
    if w > 2600 or h > 2600:
        bad.append(f"{os.path.basename(p)}: {w} x {h} px")
for want in ("clients_", "client_rounds_", "phases_", "convergence_"):
    if not any(os.path.basename(p).startswith(want) for p in pngs):
        bad.append(f"no {want}*.png")
rows = lambda p: sum(1 for _ in csv.reader(open(os.path.join(d, p)))) - 1
if rows("tidy_clients.csv") != 3 * C:
    bad.append(f"tidy_clients.csv: {rows('tidy_clients.csv')} rows, expected {3 * C}")
if rows("tidy_rounds.csv") != 2 * C * R:  # local-only has no rounds
    bad.append(f"tidy_rounds.csv: {rows('tidy_rounds.csv')} rows, expected {2 * C * R}")
print("\n".join(bad)) if bad else None
sys.exit(1 if bad else 0)
PYEOF
done
finish
