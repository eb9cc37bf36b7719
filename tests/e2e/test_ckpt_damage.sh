#!/usr/bin/env bash
# A damaged checkpoint is refused (label e2e; issue 19). test_resume.sh feeds truncated,
# junk and missing files, which fail inside HDF5 before any checksum is read; here the
# file is a valid HDF5 file whose stored state is wrong by one element. For every state
# vector under /checkpoint (found in the file, so vectors added later are covered too)
# and for its first and last element: flip the lowest bit of that one float and resume;
# the resume must fail with exit 2 and the "damaged" message naming the vector, and
# write no output. Every such vector must carry its <name>_checksum attribute.
# The per-client rows are covered the same way: SCAFFOLD's control variates
# (/checkpoint/client_state) and the datasets of the method in progress (Ditto's
# client_state, its per-round and per-client arrays, each with a content_checksum
# attribute), written at -n 2 (block) and resumed at -n 3 --assign balanced, since
# those checksums must not depend on which rank holds which client.
. "$(dirname "$0")/common.sh"
PY=/usr/bin/python3
cd "$WORK"
export OMP_NUM_THREADS=1
ARGS="suite --preset tiny --quiet"
flip() { # FILE DATASET first|last: flip the lowest bit of that element of DATASET
  "$PY" - "$@" <<'PYEOF'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    ds = f[sys.argv[2]]
    x = ds[...]
    flat = x.reshape(-1).view(np.uint32)
    i = 0 if sys.argv[3] == "first" else flat.size - 1
    flat[i] ^= 1  # the smallest possible damage: one bit of one element
    ds[...] = x
PYEOF
}
mpirun_n 2 "$FEDALIGN" $ARGS --output c.h5 --stop-after-round 2 > stop.txt 2>&1; rc=$?
[ $rc = 3 ] && [ -f c.h5.ckpt ] || { fail "stop-after-round 2: exit $rc, no checkpoint"; cat stop.txt >&2; finish; }

# the vectors, and that each has its checksum attribute
vecs=$("$PY" - c.h5.ckpt <<'PYEOF'
import sys, h5py
g = h5py.File(sys.argv[1], "r")["checkpoint"]
for d in g:  # the state vectors; "param" is their dimension scale (indices, not state)
    if isinstance(g[d], h5py.Dataset) and g[d].attrs.get("CLASS") != b"DIMENSION_SCALE":
        print(d if d + "_checksum" in g.attrs else "NOCHECKSUM:" + d)
PYEOF
)
[ "$(echo "$vecs" | wc -w)" -ge 3 ] || fail "want at least global, prev, foundation under /checkpoint: $vecs"
case $vecs in *NOCHECKSUM:*) fail "state vector(s) without a checksum attribute: $vecs" ;; esac
pass "checkpoint vectors: $(echo $vecs)"

# the undamaged copy resumes (so a refusal below is caused by the damage)
cp c.h5.ckpt good.ckpt
mpirun_n 2 "$FEDALIGN" $ARGS --output ok.h5 --resume good.ckpt > ok.txt 2>&1 \
  && pass "undamaged checkpoint resumes" || { fail "undamaged checkpoint does not resume"; tail -3 ok.txt >&2; }

for v in $vecs; do
  for at in first last; do
    cp good.ckpt d.ckpt
    flip d.ckpt "checkpoint/$v" "$at" || { fail "$v: could not damage the file"; continue; }
    out=$(mpirun_n 2 "$FEDALIGN" $ARGS --output bad.h5 --resume d.ckpt 2>&1); rc=$?
    if [ $rc = 2 ] && echo "$out" | grep -q "/checkpoint/$v does not match its checksum (the file is damaged)" \
       && [ ! -e bad.h5 ]; then
      pass "$v ($at element, one bit): refused as damaged"
    else
      fail "$v ($at element, one bit): rc $rc (want 2 and the damaged message): $(echo "$out" | tail -2)"
    fi
    rm -f bad.h5
  done
done

# ---- per-client rows: written at -n 2 (block), verified at -n 3 (balanced)
# datasets CKPT: every non-scale dataset of /checkpoint and of the method groups,
# "NOCHECKSUM:path" for one without its checksum attribute
datasets() {
  "$PY" - "$1" <<'PYEOF'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
def arrays(g):
    return [d for d in g if isinstance(g[d], h5py.Dataset) and g[d].attrs.get("CLASS") != b"DIMENSION_SCALE"]
for d in arrays(f["checkpoint"]):
    print("checkpoint/" + d if d + "_checksum" in f["checkpoint"].attrs else "NOCHECKSUM:checkpoint/" + d)
for m in f["methods"]:
    g = f["methods"][m]
    for d in arrays(g):
        p = "methods/" + m + "/" + d
        print(p if "content_checksum" in g[d].attrs else "NOCHECKSUM:" + p)
PYEOF
}
for m in scaffold ditto; do
  MA="run --preset tiny --quiet --method $m"
  R3="--assign balanced"
  mpirun_n 2 "$FEDALIGN" $MA --output "$m.h5" > "$m.txt" 2>&1 || { fail "$m: reference run failed"; continue; }
  mpirun_n 2 "$FEDALIGN" $MA --output "${m}c.h5" --stop-after-round 2 > "${m}c.txt" 2>&1; rc=$?
  [ $rc = 3 ] && [ -f "${m}c.h5.ckpt" ] || { fail "$m: stop-after-round 2: exit $rc, no checkpoint"; continue; }
  all=$(datasets "${m}c.h5.ckpt")
  case $all in
    *NOCHECKSUM:*) fail "$m: dataset(s) without a checksum attribute: $(echo "$all" | grep NOCHECKSUM | tr '\n' ' ')" ;;
    *) pass "$m: $(echo "$all" | wc -l) checkpoint datasets, each with its checksum attribute" ;;
  esac
  # the rows this test is about must be there: SCAFFOLD's c_t, Ditto's personal models
  names=$(echo "$all" | sed 's/^NOCHECKSUM://')
  if [ $m = scaffold ]; then rows=checkpoint/client_state; else rows=$(echo "$names" | grep '^methods/.*/client_state$'); fi
  echo "$names" | grep -qx "$rows" || { fail "$m: no per-client state in the checkpoint: $names"; continue; }
  # a clean checkpoint verifies at another rank count and assignment, and resumes to the
  # uninterrupted run's checksums
  mpirun_n 3 "$FEDALIGN" $MA $R3 --output "${m}r.h5" --resume "${m}c.h5.ckpt" > "${m}r.txt" 2>&1
  if [ $? = 0 ] && [ -n "$(sums "$m.txt")" ] && [ "$(sums "$m.txt")" = "$(sums "${m}r.txt")" ]; then
    pass "$m: clean checkpoint from -n 2 resumes at -n 3 balanced to the same checksums"
  else
    fail "$m: resume at -n 3: $(sums "${m}r.txt") vs $(sums "$m.txt"); $(tail -2 "${m}r.txt")"
  fi
  # damage: the per-client rows (first and last element), and for the method group one
  # dataset of each kind (per round, per round and client, per client, per client and class)
  targets="$rows:first $rows:last"
  if [ $m = ditto ]; then
    g=${rows%/client_state}
    targets="$targets $g/round_acc:last $g/rc_loss:first $g/acc_p2:last $g/recall_p2:first"
  fi
  for t in $targets; do
    d=${t%:*} at=${t##*:}
    cp "${m}c.h5.ckpt" d.ckpt
    flip d.ckpt "$d" "$at" || { fail "$m $d: could not damage the file"; continue; }
    out=$(mpirun_n 3 "$FEDALIGN" $MA $R3 --output bad.h5 --resume d.ckpt 2>&1); rc=$?
    if [ $rc = 2 ] && echo "$out" | grep -qF "/$d does not match its checksum (the file is damaged)" \
       && [ ! -e bad.h5 ]; then
      pass "$m $d ($at element, one bit): refused at -n 3 as damaged"
    else
      fail "$m $d ($at element, one bit): rc $rc (want 2 and the damaged message): $(echo "$out" | tail -2)"
    fi
    rm -f bad.h5
  done
  # a checksum attribute removed is refused too (not read as "nothing to check")
  cp "${m}c.h5.ckpt" d.ckpt
  "$PY" - d.ckpt "$rows" <<'PYEOF' || { fail "$m: could not remove the attribute"; continue; }
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    if sys.argv[2].startswith("checkpoint/"): del f["checkpoint"].attrs["client_state_checksum"]
    else: del f[sys.argv[2]].attrs["content_checksum"]
PYEOF
  out=$(mpirun_n 3 "$FEDALIGN" $MA $R3 --output bad.h5 --resume d.ckpt 2>&1); rc=$?
  if [ $rc = 2 ] && echo "$out" | grep -qF "/$rows " && echo "$out" | grep -q "damaged" && [ ! -e bad.h5 ]; then
    pass "$m $rows without its checksum attribute: refused"
  else
    fail "$m $rows without its checksum attribute: rc $rc: $(echo "$out" | tail -2)"
  fi
  rm -f bad.h5
done
finish
