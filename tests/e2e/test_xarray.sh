#!/usr/bin/env bash
# Analysis-ready results (schema 3): every group of a tiny suite's results file (and of a
# checkpoint) opens in xarray's h5netcdf engine without options, with the dimensions
# its datasets' dims attributes name (HDF5 dimension scales); cfg.* attributes are typed
# from the option table; the provenance attributes are in results and bench files.
# Needs Debian python3-xarray and python3-h5netcdf (jobs/setup.sh).
source "$(dirname "$0")/common.sh"
/usr/bin/python3 -c "import xarray, h5netcdf" 2>/dev/null ||
  { echo "skip: python3-xarray / python3-h5netcdf missing (bash jobs/setup.sh)"; exit 77; }
cd "$WORK"
mpirun_n 2 "$FEDALIGN" suite --preset tiny --quiet --output s.h5 > s.txt 2>&1 || fail "suite run"
mpirun_n 2 "$FEDALIGN" run --preset tiny --quiet --stop-after-round 2 --output c.h5 > c.txt 2>&1
[ -f c.h5.ckpt ] || fail "no checkpoint written"
OMP_NUM_THREADS=1 mpirun_n 1 "$FEDALIGN" bench memory --quick --mem-clients 8 --output b.h5 > b.txt 2>&1 ||
  fail "bench run"
/usr/bin/python3 - s.h5 c.h5.ckpt <<'PYEOF' && pass "xarray opens every group with named dimensions; typed cfg and provenance" || fail "xarray checks"
import sys, h5py, numpy as np, xarray as xr
bad = []
for path in sys.argv[1:]:
    with h5py.File(path, "r") as f:
        groups = [g for g in ("clients", "checkpoint") if g in f] + ["methods/" + k for k in f["methods"]]
        dims = {g: {k: f[g][k].attrs["dims"].decode().split(",") for k in f[g]
                    if isinstance(f[g][k], h5py.Dataset)} for g in groups}
        a = dict(f.attrs)
    for g in groups:
        ds = xr.open_dataset(path, engine="h5netcdf", group=g)  # no phony_dims option
        for k, want in dims[g].items():
            if list(ds[k].dims) != want:
                bad.append(f"{path}:{g}/{k}: dims {ds[k].dims} != {want}")
        if any(d.startswith("phony") for d in ds.dims):
            bad.append(f"{path}:{g}: phony dimensions {list(ds.dims)}")
        ds.close()
    root = xr.open_dataset(path, engine="h5netcdf").attrs
    kinds = {"cfg.clients": np.integer, "cfg.rounds": np.integer, "cfg.seed": np.integer,
             "cfg.lr": np.floating, "cfg.alpha": np.floating, "cfg.no-int8": np.integer,
             "cfg.method": str, "cfg.hidden": str, "cfg.partition": str, "git_dirty": np.integer,
             "n_nodes": np.integer, "compiler": str, "c_flags": str, "build_isa": str,
             "mpi_library": str, "hdf5_version": str, "openmp_version": str, "cpu_model": str}
    for k, t in kinds.items():
        v = root.get(k)
        if v is None or not isinstance(v, t):
            bad.append(f"{path}: attribute {k} = {v!r} is not {t.__name__}")
    if root.get("cfg.clients") != 4 or root.get("schema_version") != 3:
        bad.append(f"{path}: cfg.clients {root.get('cfg.clients')!r}, schema {root.get('schema_version')!r}")
with h5py.File("b.h5", "r") as f:  # bench file: the same provenance keys
    for k in ("compiler", "c_flags", "build_isa", "mpi_library", "hdf5_version", "git_dirty", "n_nodes"):
        if k not in f.attrs: bad.append(f"b.h5: no {k}")
print("\n".join(bad)) if bad else print(xr.open_dataset(sys.argv[1], engine="h5netcdf", group="methods/00_fedmetaalign+P"))
sys.exit(1 if bad else 0)
PYEOF
/usr/bin/python3 "$(dirname "$0")/../../analysis/h5check.py" s.h5 c.h5.ckpt > h5c.txt 2>&1 &&
  pass "h5check: schema 3 files valid (scales, typed cfg, provenance)" || { fail "h5check"; cat h5c.txt >&2; }
finish
