#!/usr/bin/python3
"""h5check.py: validate a fedalign results (or checkpoint) file against the schema.

Usage: /usr/bin/python3 analysis/h5check.py [-q] FILE [FILE ...]

Checks schema_version, the required root attributes, /clients, every /methods group
against the field list the file carries (/methods attribute method_fields: every listed
attribute and dataset present with its type, shape consistent with n_clients, rounds and
n_params, and units; nothing unlisted but the dimension scales), the typed cfg.*
attributes, the provenance attributes, a dimension scale on every dimension of every
dataset (named as its dims attribute says) and /checkpoint when present;
docs/results-format.md is the reference.
Prints every problem found ("FILE: problem") and exits 1 if there was any, 0 if the
file is valid. Needs Debian's python3-h5py, which belongs to /usr/bin/python3 (the
python3 first on PATH may be a separate install without h5py).
"""
import re
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    sys.exit(f"h5check: {e}; run with /usr/bin/python3 (Debian python3-h5py)")

SCHEMA_VERSION = 3
TIMER_NAMES = ["setup", "phase0", "ring", "train", "aggregate", "comm", "personalize",
               "eval", "io", "total"]
METHOD_NAMES = ["fedmetaalign", "fedavg", "fedprox", "local"]
HEX16 = re.compile(r"^[0-9a-f]{16}$")
UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def text(v):
    """A string attribute as str (fedalign writes fixed-length ASCII: bytes in h5py)."""
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode("ascii", "replace")
    return v if isinstance(v, str) else None


def integer(v):
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v)
    return None


def real(v):
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
    if isinstance(v, (float, np.floating)):
        return float(v)
    return None


def is_scale(obj):
    """An HDF5 dimension scale (H5DS): the datasets named by the dims attributes."""
    return isinstance(obj, h5py.Dataset) and text(obj.attrs.get("CLASS")) == "DIMENSION_SCALE"


class Checker:
    def __init__(self, path):
        self.path = path
        self.problems = []

    def bad(self, msg):
        self.problems.append(msg)

    # ---- attributes
    def attr(self, obj, name, kind):
        """Required attribute of kind 'str', 'int', 'float', 'bool' or 'hex'; None if bad."""
        where = obj.name
        if name not in obj.attrs:
            self.bad(f"{where}: attribute '{name}' missing")
            return None
        raw = obj.attrs[name]
        if kind in ("str", "hex"):
            v = text(raw)
            if v is None:
                self.bad(f"{where}: attribute '{name}' is not a string")
            elif kind == "hex" and not HEX16.match(v):
                self.bad(f"{where}: attribute '{name}' = '{v}' is not 16 hex digits")
                v = None
            return v
        if kind in ("int", "bool"):
            v = integer(raw)
            if v is None:
                self.bad(f"{where}: attribute '{name}' is not an integer")
            elif kind == "bool" and v not in (0, 1):
                self.bad(f"{where}: attribute '{name}' = {v} is not 0/1")
            return v
        v = real(raw)
        if v is None:
            self.bad(f"{where}: attribute '{name}' is not a float64")
        return v

    def strings(self, obj, name, n):
        if name not in obj.attrs:
            self.bad(f"{obj.name}: attribute '{name}' missing")
            return
        v = obj.attrs[name]
        if not isinstance(v, np.ndarray) or v.ndim != 1 or v.dtype.kind != "S":
            self.bad(f"{obj.name}: attribute '{name}' is not a 1-D array of fixed-length strings")
        elif n is not None and v.shape[0] != n:
            self.bad(f"{obj.name}: attribute '{name}' has {v.shape[0]} entries, expected {n}")

    # ---- datasets
    def dset(self, grp, name, shape, kind, required=True):
        """Dataset with the given shape (tuple, None entries = any) and dtype kind 'f8',
        'f4', 'i8' or 'i4'; also checks its 'dims' attribute."""
        if name not in grp:
            if required:
                self.bad(f"{grp.name}: dataset '{name}' missing")
            return None
        d = grp[name]
        if not isinstance(d, h5py.Dataset):
            self.bad(f"{d.name}: not a dataset")
            return None
        if d.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, d.shape)):
            want = "[" + ", ".join("?" if s is None else str(s) for s in shape) + "]"
            self.bad(f"{d.name}: shape {list(d.shape)}, expected {want}")
        want_dt = {"f8": "<f8", "f4": "<f4", "i8": "<i8", "i4": "<i4"}[kind]
        if d.dtype.str != want_dt:
            self.bad(f"{d.name}: dtype {d.dtype.str}, expected {want_dt}")
        dims = text(d.attrs.get("dims")) if "dims" in d.attrs else None
        if dims is None:
            self.bad(f"{d.name}: attribute 'dims' missing")
        elif len(dims.split(",")) != d.ndim:
            self.bad(f"{d.name}: dims '{dims}' does not name {d.ndim} dimension(s)")
        else:
            self.scales(d, dims.split(","))
        return d

    def scales(self, d, names):
        """Every dimension i of d has the dimension scale names[i] of its length attached
        (H5DS, what netCDF-4 readers such as xarray's h5netcdf engine need)."""
        for i, nm in enumerate(names):
            sc = [s for s in d.dims[i].values()]
            if len(sc) != 1:
                self.bad(f"{d.name}: dimension {i} ({nm}) has {len(sc)} dimension scales, "
                         "expected 1")
            elif sc[0].name.rsplit("/", 1)[-1] != nm or sc[0].shape != (d.shape[i],):
                self.bad(f"{d.name}: dimension {i} has scale {sc[0].name} {sc[0].shape}, "
                         f"expected '{nm}' of length {d.shape[i]}")

    def units(self, d, want):
        if d is not None and text(d.attrs.get("units")) != want:
            self.bad(f"{d.name}: attribute units should be '{want}'")

    # ---- the file
    def run(self):
        try:
            f = h5py.File(self.path, "r")
        except OSError as e:
            self.bad(f"cannot open as HDF5: {e}")
            return
        with f:
            ver = integer(f.attrs.get("schema_version")) if "schema_version" in f.attrs else None
            if ver is None:
                self.bad("no integer schema_version attribute: not a fedalign file")
                return
            if ver != SCHEMA_VERSION:
                self.bad(f"schema_version {ver}; this checker knows {SCHEMA_VERSION}")
                return
            root = self.root(f)
            if "clients" in f:
                self.clients(f["clients"], root)
            else:
                self.bad("/clients group missing")
            n_methods = 0
            if "methods" in f:
                fields = self.field_list(f["methods"])
                for name in sorted(f["methods"]):
                    if fields is not None:
                        self.method(f["methods"][name], name, root, fields)
                    n_methods += 1
            if "checkpoint" in f:
                self.checkpoint(f["checkpoint"], root)
            elif n_methods == 0:
                self.bad("no /methods groups and no /checkpoint")

    def root(self, f):
        r = {}
        for k in ("fedalign_version", "git_describe", "host", "dataset"):
            self.attr(f, k, "str")
        utc = self.attr(f, "created_utc", "str")
        if utc is not None and not UTC.match(utc):
            self.bad(f"/: created_utc '{utc}' is not ISO 8601 UTC (YYYY-MM-DDTHH:MM:SSZ)")
        for k in ("n_ranks", "n_threads", "n_params", "n_clients", "n_features", "n_classes"):
            r[k] = self.attr(f, k, "int")
            if r[k] is not None and r[k] < (0 if k in ("n_features", "n_classes") else 1):
                self.bad(f"/: {k} = {r[k]} out of range")
        over = self.attr(f, "threads_over", "str")
        if over is not None and over not in ("clients", "batch"):
            self.bad(f"/: threads_over '{over}' is not clients|batch")
        self.attr(f, "config_hash", "hex")
        # raw windows (win_len > 0) name their win_ch channels; older files lack win_len
        win_len = integer(f.attrs["win_len"]) if "win_len" in f.attrs else 0
        win_ch = integer(f.attrs["win_ch"]) if "win_ch" in f.attrs else 0
        self.strings(f, "feature_names", win_ch if win_len else r.get("n_features"))
        self.strings(f, "class_names", r.get("n_classes"))
        cfg = [k for k in f.attrs if k.startswith("cfg.")]
        if not cfg:
            self.bad("/: no cfg.* configuration attributes")
        for k in cfg:  # typed from the option table (schema 3): a scalar number or text
            v = f.attrs[k]
            if text(v) is None and integer(v) is None and real(v) is None:
                self.bad(f"/: attribute '{k}' is not a scalar string, integer or float")
        if "cfg.clients" in f.attrs and r.get("n_clients") is not None:
            if integer(f.attrs["cfg.clients"]) != r["n_clients"]:
                self.bad(f"/: cfg.clients {f.attrs['cfg.clients']!r} is not the integer "
                         f"n_clients {r['n_clients']}")
        for k in ("compiler", "c_flags", "build_type", "build_isa", "openmp_version",
                  "mpi_library", "hdf5_version", "cpu_model", "hostnames"):
            self.attr(f, k, "str")
        for k in ("n_nodes", "ranks_per_node"):
            self.attr(f, k, "int")
        dirty = self.attr(f, "git_dirty", "int")
        if dirty is not None and dirty not in (-1, 0, 1):
            self.bad(f"/: git_dirty {dirty} is not -1, 0 or 1")
        return r

    def clients(self, g, r):
        C, K = r.get("n_clients"), r.get("n_classes")
        hist = self.dset(g, "label_hist", (C, K), "i8")
        counts = [self.dset(g, k, (C,), "i8") for k in ("n_train", "n_val", "n_test")]
        rank = self.dset(g, "rank", (C,), "i4")
        if hist is not None and all(c is not None for c in counts) and hist.shape[0] == C:
            h = hist[()]
            tot = sum(c[()] for c in counts)
            if (h < 0).any():
                self.bad(f"{hist.name}: negative counts")
            if h.shape[0] == tot.shape[0] and (h.sum(axis=1) != tot).any():
                self.bad(f"{hist.name}: row sums differ from n_train + n_val + n_test")
            if (counts[0][()] < 1).any():
                self.bad(f"{g.name}/n_train: a client without training rows")
        if rank is not None and r.get("n_ranks") is not None:
            v = rank[()]
            if v.size and ((v < 0).any() or (v >= r["n_ranks"]).any() or (np.diff(v) < 0).any()):
                self.bad(f"{rank.name}: ranks not in [0, n_ranks) and non-decreasing "
                         "(block distribution)")

    def field_list(self, methods):
        """The /methods attribute method_fields as [(name, shape, type, unit)], or None."""
        mf = methods.attrs.get("method_fields")
        need = ("name", "shape", "type", "unit")
        if (not isinstance(mf, np.ndarray) or mf.ndim != 1 or mf.dtype.names is None
                or any(k not in mf.dtype.names for k in need)):
            self.bad(f"{methods.name}: attribute 'method_fields' missing or not a 1-D compound "
                     f"with members {', '.join(need)}")
            return None
        return [tuple(text(row[k]) for k in need) for row in mf]

    ATTR_KIND = {"float64": "float", "int64": "int", "hex": "hex", "bool": "bool",
                 "string": "str"}
    DSET_KIND = {"float64": "f8", "float32": "f4", "int64": "i8"}

    def method(self, g, gname, r, fields):
        C, P = r.get("n_clients"), r.get("n_params")
        if not isinstance(g, h5py.Group):
            self.bad(f"{g.name}: not a group")
            return
        m = re.match(r"^(\d{2,})_(.+)$", gname)
        if not m:
            self.bad(f"{g.name}: name is not <index %02d>_<method name>")
        idx = self.attr(g, "index", "int")
        if m and idx is not None and int(m.group(1)) != idx:
            self.bad(f"{g.name}: attribute index {idx} does not match the group name")
        got = {}
        for name, shape, typ, unit in fields:  # attributes first: rounds sizes the datasets
            am = re.match(r"^attr(?:\[(\d+)\])?$", shape)
            if not am:
                continue
            if typ not in self.ATTR_KIND:
                self.bad(f"method_fields: attribute '{name}' has unknown type '{typ}'")
            elif am.group(1):
                v = g.attrs.get(name)
                n = int(am.group(1))
                if v is None or np.asarray(v).shape != (n,) or np.asarray(v).dtype.kind != "f":
                    self.bad(f"{g.name}: attribute '{name}' missing or not {typ}[{n}]")
            else:
                got[name] = self.attr(g, name, self.ATTR_KIND[typ])
        name = got.get("name")
        if m and name is not None and m.group(2) != name.replace("/", "_"):
            self.bad(f"{g.name}: attribute name '{name}' does not match the group name")
        if got.get("method") is not None and got["method"] not in METHOD_NAMES:
            self.bad(f"{g.name}: method '{got['method']}' is not one of {METHOD_NAMES}")
        R, done, rtt = got.get("rounds"), got.get("rounds_done"), got.get("rounds_to_target")
        if R is not None and R < 0:
            self.bad(f"{g.name}: rounds {R} < 0")
            R = None
        if R is not None and done is not None and not 0 <= done <= R:
            self.bad(f"{g.name}: rounds_done {done} not in [0, rounds={R}]")
        if rtt is not None and R is not None and not -1 <= rtt <= R:
            self.bad(f"{g.name}: rounds_to_target {rtt} not in [-1, rounds]")
        K = got.get("classes")  # the per-class datasets (classification metrics)
        shapes = {"R+1": (None if R is None else R + 1,), "R": (R,), "C": (C,), "R,C": (R, C),
                  "T,4": (len(TIMER_NAMES), 4), "P": (P,), "C,P": (C, P),
                  "K": (K,), "C,K": (C, K), "K,K": (K, K)}
        known = set()
        for name, shape, typ, unit in fields:
            known.add(name)
            if shape.startswith("attr"):
                continue
            if shape not in shapes or typ not in self.DSET_KIND:
                self.bad(f"method_fields: dataset '{name}' has unknown shape '{shape}' or "
                         f"type '{typ}'")
                continue
            d = self.dset(g, name, shapes[shape], self.DSET_KIND[typ], required=shape != "C,P")
            if d is None:
                continue
            if unit:
                self.units(d, unit)
            if unit == "fraction" and shape == "C" and d.size:
                v = d[()]
                v = v[np.isfinite(v)]
                if ((v < 0) | (v > 1)).any():
                    self.bad(f"{d.name}: accuracies outside [0, 1]")
            if name == "round_selected" and C is not None and d.size:
                v = d[()]
                if (v < 0).any() or (v > C).any():
                    self.bad(f"{d.name}: values outside [0, n_clients]")
            if shape == "T,4":
                names = d.attrs.get("names")
                if names is None or [text(x) for x in np.asarray(names)] != TIMER_NAMES:
                    self.bad(f"{d.name}: attribute 'names' should be {TIMER_NAMES}")
                if text(d.attrs.get("columns")) != "min,avg,max,span":
                    self.bad(f"{d.name}: attribute 'columns' should be 'min,avg,max,span'")
        for k in g:
            if k not in known and not is_scale(g[k]):
                self.bad(f"{g.name}: member '{k}' is not in method_fields")

    def checkpoint(self, g, r):
        P = r.get("n_params")
        self.attr(g, "config_hash", "hex")
        nm = self.attr(g, "n_methods", "int")
        mi = self.attr(g, "method_index", "int")
        ph = self.attr(g, "phase", "int")
        self.attr(g, "round", "int")
        self.attr(g, "have_foundation", "bool")
        self.attr(g, "acc_public", "float")
        if nm is not None and mi is not None and not 0 <= mi <= nm:
            self.bad(f"{g.name}: method_index {mi} not in [0, n_methods={nm}]")
        if ph is not None and not 0 <= ph <= 4:
            self.bad(f"{g.name}: phase {ph} not in 0..4")
        for k in ("global", "prev", "foundation"):
            self.dset(g, k, (P,), "f4")


def main(argv):
    quiet = "-q" in argv
    files = [a for a in argv if a != "-q"]
    if not files or any(a.startswith("-") for a in files):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    status = 0
    for path in files:
        c = Checker(path)
        c.run()
        for p in c.problems:
            print(f"{path}: {p}", file=sys.stderr)
        if c.problems:
            status = 1
        elif not quiet:
            print(f"{path}: ok (schema {SCHEMA_VERSION})")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
