#!/usr/bin/env bash
# A damaged checkpoint is refused (label e2e; issue 19). test_resume.sh feeds truncated,
# junk and missing files, which fail inside HDF5 before any checksum is read; here the
# file is a valid HDF5 file whose stored state is wrong by one element. For every state
# vector under /checkpoint (found in the file, so vectors added later are covered too)
# and for its first and last element: flip the lowest bit of that one float and resume;
# the resume must fail with exit 2 and the "damaged" message naming the vector, and
# write no output. Every such vector must carry its <name>_checksum attribute.
. "$(dirname "$0")/common.sh"
PY=/usr/bin/python3
cd "$WORK"
export OMP_NUM_THREADS=1
ARGS="suite --preset tiny --quiet"
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
    "$PY" - d.ckpt "$v" "$at" <<'PYEOF' || { fail "$v: could not damage the file"; continue; }
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    ds = f["checkpoint"][sys.argv[2]]
    x = ds[...]
    flat = x.reshape(-1).view(np.uint32)
    i = 0 if sys.argv[3] == "first" else flat.size - 1
    flat[i] ^= 1  # the smallest possible damage: one bit of one element
    ds[...] = x
PYEOF
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
finish
