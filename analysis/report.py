#!/usr/bin/python3
"""report.py: the analysis of fedalign results files (docs/results-format.md).

Usage: /usr/bin/python3 analysis/report.py [--out DIR] [FILES_OR_DIRS ...]

Reads every fedalign HDF5 results file given (a directory means its *.h5 files; default
results/) and writes into DIR (default report/):

  comparison.md       method x configuration table: personalized accuracy mean +- sd over
                      seeds (of each run's mean over clients), sd over clients pooled over
                      seeds, worst client, global-model accuracy, accuracy after each
                      phase, epoch budgets, number of seeds; paired differences of
                      Fed-Meta-Align against the personalized baselines
  comparison.csv      the same, one row per method (wide: <config>:<column>)
  comparison_long.csv one row per (configuration, method)
  tidy_rounds.csv, tidy_clients.csv  long tables: one row per method x client x round,
                      and one per method x client with the final metrics (analysis/clients.py)
  phases_<cfg>.png    per-device accuracy after each phase for Fed-Meta-Align (bars up to
                      20 clients, the distribution over clients (ECDF) above)
  clients_<cfg>.png   per-client accuracy distributions across methods (ECDF and box plots,
                      worst decile marked)
  client_rounds_<cfg>.png  per-client accuracy per round (rc_score, where recorded)
  convergence_<cfg>.png  global-model accuracy per round per method (mean over seeds, band +-1 sd)
  weights_<cfg>_s<seed>.png  aggregation weight, cosine and local score per client per round
  scaling_<cfg>_s<seed>.png, weak_<cfg>_cpr<N>_s<seed>.png, hybrid_<cfg>_s<seed>.png,
  scaling.md, scaling.csv  strong scaling (speedup, efficiency), weak scaling (grouped by
                      clients per rank), the ranks x threads sweep and the stacked time per
                      phase, from files that differ in ranks/threads (analysis/scaling.py)

Runs are grouped into configurations by their cfg.* root attributes, ignoring the seed
and the flags that do not change results (output, checkpointing, threading, verbosity);
the seeds of a configuration are pooled. Files with the same results configuration and
seed (e.g. the same run at another rank count, which is bit-identical by design) count
once in the accuracy tables and feed the scaling plots. Prints the table (markdown) and
the list of written files. Needs Debian's python3-h5py, python3-numpy and
python3-matplotlib (/usr/bin/python3).
"""
import argparse
import csv
import math
import os
import re
import sys
from collections import OrderedDict

try:
    import h5py
    import numpy as np
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from scaling import scaling_report
    from clients import MAX_BARS, write_tidy, plot_clients, plot_client_rounds
    import regime_map
except ImportError as e:  # pragma: no cover
    sys.exit(f"report: {e}; run with /usr/bin/python3 (Debian python3-h5py, python3-numpy, "
             "python3-matplotlib)")

# schema 2 lists a method group's fields in /methods attribute method_fields; schema 1
# files (no list) are read from the group's own attributes and datasets
# (schema 3: typed cfg.* attributes, dimension scales, provenance)
SCHEMA_VERSIONS = (1, 2, 3)
PHASES = ["foundation (p0)", "meta-init (p1)", "federated/global (p2)", "personalized (p3)"]
# Runs are grouped by the cfg.* keys that change results: the file lists them in its
# result_keys attribute (the option table's affects-results bit, config_result_keys()).
# A file written before that attribute existed uses the lists of the newer files beside
# it, or, with none, every cfg.* key (never merging runs that might differ). The seed is
# pooled over.
POOLED_KEYS = {"seed"}
# cfg.method/ablate/init/no-personalize only pick the method of a `fedalign run` (a suite
# runs them all), and the method's row name encodes them (fedavg@found+P,
# fedmetaalign-nophase0, ...): `run` files of different methods on the same data and
# seed therefore belong to one configuration, as rows of their own.
METHOD_KEYS = {"method", "ablate", "init", "no-personalize"}
SHORT = {"clients": "C", "rounds": "R"}
FMA = "fedmetaalign+P"
ABLATIONS = ["fedmetaalign-nophase0+P", "fedmetaalign-nophase1+P", "fedmetaalign-nosim+P",
             "fedmetaalign"]
BASELINES = ["fedavg+P", "fedprox+P", "fedavg@found+P", "fedprox@found+P", "local+P",
             "local@found+P"]


# --------------------------------------------------------------------------- reading
def text(v):
    """An h5py attribute as str (fedalign writes fixed-length ASCII: bytes)."""
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode("ascii", "replace")
    return str(v)


def cfg_text(v):
    """A cfg.* attribute as the text fedalign prints for it (opt_format), whether the file
    stores it as a string (schema <= 2) or typed (schema 3: integers, float64, int8 flags),
    so runs of both schemas group together: flags yes/no, floats as C's %.6g."""
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
    if isinstance(v, np.int8):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return format(float(v), ".6g")
    return text(v)


def num(v, default=math.nan):
    if v is None:
        return default
    if isinstance(v, np.ndarray):
        if v.shape != ():
            return default
        v = v[()]
    if isinstance(v, (bytes, np.bytes_, str)):
        try:
            return float(text(v))
        except ValueError:
            return default
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def arr(g, name):
    """Dataset as float64 numpy array, or None when the (optional) dataset is missing."""
    if name not in g or not isinstance(g[name], h5py.Dataset):
        return None
    return np.asarray(g[name][()], dtype=np.float64)


def field_names(g):
    """Names of a method group's fields: the file's method_fields list (schema 2), or the
    group's own attributes and datasets (schema 1). No copy of the list lives here."""
    mf = g.parent.attrs.get("method_fields")
    if isinstance(mf, np.ndarray) and mf.dtype.names and "name" in mf.dtype.names:
        return [text(row["name"]) for row in mf]
    return list(g.attrs) + [k for k in g if isinstance(g[k], h5py.Dataset)]


class Method:
    # what the report reads when a file lacks it: NaN for numbers, None for arrays
    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return None

    def __init__(self, g):
        a = g.attrs
        self.group = g.name.rsplit("/", 1)[-1]
        m = re.match(r"^(\d+)_(.+)$", self.group)
        # every field the file lists: attributes as numbers (strings stay text), datasets
        # as float64 arrays (optional ones may be absent)
        for k in field_names(g):
            if k in a:
                v = a[k]
                is_text = isinstance(np.asarray(v).flat[0] if np.asarray(v).size else v,
                                     (bytes, np.bytes_, str))
                setattr(self, k, text(v) if is_text else
                        (np.asarray(v, dtype=np.float64) if np.asarray(v).shape else num(v)))
            elif k in g and isinstance(g[k], h5py.Dataset) and k != "timers":
                setattr(self, k, arr(g, k))
        self.name = self.name if isinstance(self.name, str) else (m.group(2) if m else self.group)
        self.index = int(num(a.get("index"), m and int(m.group(1)) or 0))
        self.kind = self.method or ""
        self.flags = {k: bool(num(a.get(k), 0)) for k in ("phase0", "phase1", "similarity",
                                                          "personalize")}
        self.rounds = int(num(a.get("rounds"), 0))
        for k in ("acc_global", "acc_personal_mean", "acc_personal_std", "acc_personal_worst",
                  "acc_public", "time_total", "budget_public_epochs", "budget_client_epochs"):
            setattr(self, k, num(getattr(self, k)))
        self.checksum = self.checksum or ""
        self.checksum_personal = self.checksum_personal or ""
        pam = self.phase_acc_mean
        self.phase_acc_mean = (pam if isinstance(pam, np.ndarray) and pam.shape == (4,)
                               else np.full(4, math.nan))
        self.acc_p = [getattr(self, f"acc_p{i}") for i in range(4)]
        if self.acc_p[3] is not None and self.acc_p[3].size:
            # summaries missing from the attributes: recompute them from the per-client
            # accuracies the same way fedalign does (sd with ddof = 1)
            v = self.acc_p[3][np.isfinite(self.acc_p[3])]
            if v.size and not math.isfinite(self.acc_personal_mean):
                self.acc_personal_mean = float(v.mean())
            if v.size > 1 and not math.isfinite(self.acc_personal_std):
                self.acc_personal_std = float(v.std(ddof=1))
            if v.size and not math.isfinite(self.acc_personal_worst):
                self.acc_personal_worst = float(v.min())
        t = g.get("timers")
        self.timers = None
        if isinstance(t, h5py.Dataset) and t.ndim == 2 and t.shape[1] == 4:
            names = [text(x) for x in np.asarray(t.attrs.get("names", []))]
            if len(names) == t.shape[0]:
                self.timers = OrderedDict(zip(names, np.asarray(t[()], dtype=np.float64)))


class Run:
    def __init__(self, path, f):
        self.path = path
        a = f.attrs
        self.cfg = {k[4:]: cfg_text(v) for k, v in a.items() if k.startswith("cfg.")}
        self.dataset = text(a["dataset"]) if "dataset" in a else self.cfg.get("dataset", "?")
        self.n_ranks = int(num(a.get("n_ranks"), 1))
        self.n_threads = int(num(a.get("n_threads"), 1))
        self.n_clients = int(num(a.get("n_clients"), num(self.cfg.get("clients"), 0)))
        self.n_nodes = int(num(a.get("n_nodes"), 1))  # placement: absent in older files
        self.ranks_per_node = int(num(a.get("ranks_per_node"), self.n_ranks))
        self.config_hash = text(a["config_hash"]) if "config_hash" in a else path
        self.seed = self.cfg.get("seed", "?")
        self.n_train = self.n_test = None
        if "clients" in f:
            if "n_train" in f["clients"]:
                self.n_train = np.asarray(f["clients"]["n_train"][()], dtype=np.float64)
            if "n_test" in f["clients"]:
                self.n_test = np.asarray(f["clients"]["n_test"][()], dtype=np.float64)
        self.methods = []
        if "methods" in f:
            for name in sorted(f["methods"], key=lambda s: (len(s.split("_")[0]), s)):
                if isinstance(f["methods"][name], h5py.Group):
                    self.methods.append(Method(f["methods"][name]))
        self.methods.sort(key=lambda m: m.index)
        self.result_keys = set(text(a["result_keys"]).split(",")) if "result_keys" in a else None
        self.set_key(self.result_keys if self.result_keys is not None else set(self.cfg))

    def set_key(self, result_keys):
        """The results configuration without the seed (and the run's, with it)."""
        self.key = tuple(sorted((k, v) for k, v in self.cfg.items()
                                if k in result_keys and k not in POOLED_KEYS | METHOD_KEYS))
        self.run_key = self.key + (("seed", self.seed),)

    def method(self, name):
        for m in self.methods:
            if m.name == name:
                return m
        return None

    def total_time(self):
        return sum(m.time_total for m in self.methods if math.isfinite(m.time_total))


def find_files(args):
    files = []
    for a in args:
        if os.path.isdir(a):
            files += sorted(os.path.join(a, x) for x in os.listdir(a) if x.endswith(".h5"))
        elif os.path.exists(a):
            files.append(a)
        else:
            print(f"report: warning: {a}: no such file or directory", file=sys.stderr)
    return files


def load(paths):
    runs = []
    for p in paths:
        try:
            f = h5py.File(p, "r")
        except OSError as e:
            print(f"report: warning: {p}: not readable as HDF5 ({e}); skipped", file=sys.stderr)
            continue
        with f:
            ver = num(f.attrs.get("schema_version"))
            if ver not in SCHEMA_VERSIONS:
                print(f"report: warning: {p}: schema_version {ver} (this report reads "
                      f"{', '.join(map(str, SCHEMA_VERSIONS))}); skipped", file=sys.stderr)
                continue
            if "checkpoint" in f:
                print(f"report: note: {p} is a checkpoint (incomplete run); skipped",
                      file=sys.stderr)
                continue
            r = Run(p, f)
            if not r.methods:
                print(f"report: warning: {p}: no method groups; skipped", file=sys.stderr)
                continue
            runs.append(r)
    return runs


# --------------------------------------------------------------------------- grouping
def dataset_label(cfg, dataset):
    ds = cfg.get("dataset", dataset)
    if ds.startswith("csv:"):
        return "csv:" + os.path.basename(ds[4:])
    return ds


class SeedRun:
    """Every method of one configuration and seed, merged over the files that hold them
    (a suite file, or several `run` files); attributes of data and configuration are
    taken from the first file."""

    def __init__(self, first):
        self.first = first
        self.seed = first.seed
        self.cfg = first.cfg
        self.n_train, self.n_test = first.n_train, first.n_test
        self.n_clients = first.n_clients
        self.paths = []
        self.methods = []

    @property
    def path(self):
        return self.paths[0]

    def method(self, name):
        for m in self.methods:
            if m.name == name:
                return m
        return None


class Config:
    """One results configuration: runs pooled over seeds."""

    def __init__(self, key, runs):
        self.key = key
        self.cfg = dict(key)
        self.all_runs = runs
        # per seed, the union of the methods of its files; a method found again in another
        # file (the same run at another rank/thread count, bit-identical by design) counts
        # once, and its checksums must agree
        by_seed = OrderedDict()
        owner = {}
        self.mismatches = []
        for r in sorted(runs, key=lambda r: (seed_sort(r.seed), r.n_ranks, r.n_threads, r.path)):
            sr = by_seed.setdefault(r.seed, SeedRun(r))
            used = False
            for m in r.methods:
                mr = sr.method(m.name)
                if mr is None:
                    sr.methods.append(m)
                    owner[(r.seed, m.name)] = r
                    used = True
                elif (mr.checksum, mr.checksum_personal) != (m.checksum, m.checksum_personal):
                    ref = owner[(r.seed, m.name)]
                    self.mismatches.append(f"{m.name}, seed {r.seed}: {ref.path} ({ref.n_ranks}x{ref.n_threads}) "
                                           f"vs {r.path} ({r.n_ranks}x{r.n_threads}): checksums differ")
            if used:
                sr.paths.append(r.path)
        self.runs = list(by_seed.values())
        self.seeds = list(by_seed.keys())
        self.dataset = dataset_label(self.cfg, runs[0].dataset)
        self.label = self.dataset
        self.slug = ""

    def method_names(self):
        names = []
        for r in self.runs:
            for m in r.methods:
                if m.name not in names:
                    names.append(m.name)
        return names

    def methods(self, name):
        """[(run, method)] over seeds for one method name."""
        out = []
        for r in self.runs:
            m = r.method(name)
            if m is not None:
                out.append((r, m))
        return out


def seed_sort(s):
    try:
        return (0, int(s))
    except ValueError:
        return (1, s)


def make_configs(runs):
    known = set().union(*(r.result_keys for r in runs if r.result_keys is not None))
    old = [r for r in runs if r.result_keys is None]
    if old and known:
        for r in old:
            r.set_key(known)
    elif old:
        print("report: note: files without a result_keys attribute (older fedalign): grouped "
              "by every cfg key")
    # cfg.* keys that some files lack (written by an older fedalign) are ignored when
    # every file that has them agrees on one value: that value is then the default the
    # older files ran with. Otherwise a missing key is a value of its own.
    allkeys = {k for r in runs for k, _ in r.key}
    drop = set()
    for k in allkeys:
        have = [dict(r.key)[k] for r in runs if k in dict(r.key)]
        if len(have) < len(runs) and len(set(have)) == 1:
            drop.add(k)
    if drop:
        print(f"report: note: cfg keys missing in some (older) files and constant elsewhere, "
              f"ignored for grouping: {', '.join(sorted(drop))}")
        for r in runs:
            r.key = tuple((k, v) for k, v in r.key if k not in drop)
            r.run_key = r.key + (("seed", r.seed),)
    groups = OrderedDict()
    for r in runs:
        groups.setdefault(r.key, []).append(r)
    configs = [Config(k, v) for k, v in groups.items()]
    # label each configuration by its dataset and the keys that differ between the
    # configurations of the same dataset (e.g. clients, rounds)
    keys = sorted({k for c in configs for k in c.cfg})
    by_ds = OrderedDict()
    for c in configs:
        by_ds.setdefault(c.dataset, []).append(c)
    varying = [k for k in keys if k != "dataset" and
               any(len({c.cfg.get(k) for c in cs}) > 1 for cs in by_ds.values())]
    first = [k for k in ("clients", "rounds") if k in varying]
    varying = first + [k for k in varying if k not in first]
    for c in configs:
        parts = [f"{SHORT.get(k, k)}={c.cfg.get(k, '-')}" for k in varying]
        c.label = " ".join([c.dataset] + parts)
        c.slug = re.sub(r"[^A-Za-z0-9.=+-]+", "_", "_".join(
            [c.dataset.replace("csv:", "csv-")] +
            [f"{SHORT.get(k, k).lower()}{c.cfg.get(k, '-')}" if k in SHORT else f"{k}{c.cfg.get(k, '-')}"
             for k in varying])).strip("_")
    # unique slugs (e.g. two csv files with the same base name)
    seen = {}
    for c in configs:
        n = seen.get(c.slug, 0)
        seen[c.slug] = n + 1
        if n:
            c.slug += f"_{n + 1}"

    def order(c):
        ds = {"electrical": 0, "mechanical": 1}.get(c.cfg.get("dataset"), 2)
        return (ds, c.dataset, num(c.cfg.get("clients"), 0), num(c.cfg.get("rounds"), 0), c.label)
    configs.sort(key=order)
    return configs, varying


# --------------------------------------------------------------------------- statistics
def mean_sd(values):
    """Mean and sample sd (ddof=1) of the finite values; (nan, nan) if none; sd nan if one."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), (float(v.std(ddof=1)) if v.size > 1 else math.nan)


def pooled_sd(sds):
    v = np.asarray([x for x in sds if math.isfinite(x)], dtype=np.float64)
    return float(np.sqrt(np.mean(v ** 2))) if v.size else math.nan


def stats(cfg, name):
    ms = cfg.methods(name)
    pm, ps = mean_sd([m.acc_personal_mean for _, m in ms])
    gm, gs = mean_sd([m.acc_global for _, m in ms])
    wm, _ = mean_sd([m.acc_personal_worst for _, m in ms])
    ph = [mean_sd([m.phase_acc_mean[i] for _, m in ms])[0] for i in range(4)]
    tm, _ = mean_sd([m.time_total for _, m in ms])
    return OrderedDict([
        ("n_seeds", len(ms)),
        ("pers_mean", pm), ("pers_sd_seeds", ps),
        ("pers_sd_clients", pooled_sd([m.acc_personal_std for _, m in ms])),
        ("worst", wm), ("global_mean", gm), ("global_sd_seeds", gs),
        ("acc_p0", ph[0]), ("acc_p1", ph[1]), ("acc_p2", ph[2]), ("acc_p3", ph[3]),
        ("budget_public_epochs", mean_sd([m.budget_public_epochs for _, m in ms])[0]),
        ("budget_client_epochs", mean_sd([m.budget_client_epochs for _, m in ms])[0]),
        ("time_s", tm),
        # server dynamics (schema >= 2; None in older files): mean over seeds, and the
        # seeds whose run is flagged as a period-2 cycle
        ("osc_cos_lag1", mean_sd([num(m.osc_cos_lag1) for _, m in ms])[0]),
        ("osc_update_cos", mean_sd([num(m.osc_update_cos) for _, m in ms])[0]),
        ("two_cycle_seeds", sum(1 for _, m in ms if num(m.two_cycle, 0) == 1)),
        # macro-F1 (files with the classification metrics; NaN before): global model on
        # the pooled test rows, and the mean over clients of the final models'
        ("f1_global", mean_sd([num(getattr(m, "f1_global", None)) for _, m in ms])[0]),
        ("f1_pers", mean_sd([num(getattr(m, "f1_personal_mean", None)) for _, m in ms])[0]),
        # phase 3 (files before --p3-select: NaN): epochs actually trained per client, the
        # mean epoch the clients kept and the mean epochs they trained, mean over seeds
        ("budget_client_epochs_used", mean_sd([num(m.budget_client_epochs_used) for _, m in ms])[0]),
        ("p3_epoch_kept", mean_sd([num(m.p3_epoch_best_mean) for _, m in ms])[0]),
        ("p3_epochs_run", mean_sd([num(m.p3_epochs_run_mean) for _, m in ms])[0]),
    ])


def paired_diff(cfg, a, b):
    """Personalized accuracy of method a minus method b, paired by seed: (mean, sd, n, wins)."""
    d = []
    for r in cfg.runs:
        ma, mb = r.method(a), r.method(b)
        if ma is not None and mb is not None and math.isfinite(ma.acc_personal_mean) \
                and math.isfinite(mb.acc_personal_mean):
            d.append(ma.acc_personal_mean - mb.acc_personal_mean)
    m, s = mean_sd(d)
    return m, s, len(d), sum(1 for x in d if x > 0)


def pct(x, digits=2):
    return "—" if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f}"


def pm(m, s, digits=2):
    if not math.isfinite(m):
        return "—"
    return f"{100 * m:.{digits}f} ± {pct(s, digits)}" if math.isfinite(s) else f"{100 * m:.{digits}f}"


def fnum(x, digits=2):
    return "—" if not math.isfinite(x) else f"{x:.{digits}f}"


# --------------------------------------------------------------------------- tables
def md_table(header, rows, align=None):
    align = align or ["l"] + ["r"] * (len(header) - 1)
    w = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
         for i, h in enumerate(header)]
    fmt = lambda cells: "| " + " | ".join(str(c).ljust(w[i]) if align[i] == "l" else str(c).rjust(w[i])
                                          for i, c in enumerate(cells)) + " |"
    sep = "|" + "|".join(("-" * (w[i] + 1) + ":") if align[i] == "r" else ("-" * (w[i] + 2))
                         for i in range(len(header))) + "|"
    return "\n".join([fmt(header), sep] + [fmt(r) for r in rows])


def server_cell(s):
    """The server-dynamics column: '2-cycle (k/n)' when any seed's run is flagged, with the
    lag-1 autocorrelation of the clients' cosines and the cosine between consecutive global
    updates (means over seeds); '—' for methods without a server."""
    if not math.isfinite(s["osc_cos_lag1"]) and not math.isfinite(s["osc_update_cos"]):
        return "—"
    tag = f"2-cycle ({s['two_cycle_seeds']}/{s['n_seeds']})" if s["two_cycle_seeds"] else "ok"
    return f"{tag} lag1 {fnum(s['osc_cos_lag1'])} upd {fnum(s['osc_update_cos'])}"


def p3_cell(s):
    """Phase 3: mean kept epoch / mean epochs trained, and the client epochs actually used."""
    if not math.isfinite(s["p3_epochs_run"]):
        return "—"
    return f"{s['p3_epoch_kept']:.1f}/{s['p3_epochs_run']:.1f} ({fnum(s['budget_client_epochs_used'])})"


def write_tables(configs, outdir, files_read):
    names = []
    for c in configs:
        for n in c.method_names():
            if n not in names:
                names.append(n)
    st = {(c.label, n): stats(c, n) for c in configs for n in c.method_names()}
    lines = ["# fedalign comparison", "",
             f"{len(files_read)} results file(s), {len(configs)} configuration(s). Accuracy in % "
             "on each client's own test split. `personalized` = mean over seeds of each run's "
             "mean over clients of the final per-client accuracy (± sample sd over seeds); "
             "`sd clients` = sd over clients, pooled over seeds (root mean square); `worst` = "
             "worst client, mean over seeds; `global` = the final global model on the pooled "
             "test rows of all clients (— for local-only); `p0..p2` = mean over clients after "
             "phase 0 (foundation), 1 (meta-init), 2 (federated model); `pub.ep`/`client.ep` = "
             "epochs over the public data / per client over its own train data (planned); "
             "`p3 kept/run (used)` = phase 3: mean epoch the clients kept / mean epochs they "
             "trained (early stopping), and the client epochs actually used; `server` = "
             "server dynamics: `2-cycle (k/n)` when k of n seeds are in a period-2 cycle (the "
             "clients' cosines to the round mean flip every round, or every global step "
             "reverses the last), `lag1` the lag-1 autocorrelation of those cosines, `upd` the "
             "cosine between consecutive global updates.", "",
             "## Personalized accuracy (mean ± sd over seeds)", ""]
    by_ds = OrderedDict()
    for c in configs:
        by_ds.setdefault(c.dataset, []).append(c)
    summaries = []
    for ds, cs in by_ds.items():
        header = ["method"] + [f"{c.label} (n={len(c.seeds)})" for c in cs]
        rows = []
        for n in names:
            if not any((c.label, n) in st for c in cs):
                continue
            rows.append([n] + [pm(st[(c.label, n)]["pers_mean"], st[(c.label, n)]["pers_sd_seeds"])
                               if (c.label, n) in st else "" for c in cs])
        summaries.append(md_table(header, rows))
    summary = "\n\n".join(summaries)
    lines += [summary, ""]
    # paired differences
    pairs = [b for b in BASELINES + ABLATIONS if any((c.label, b) in st for c in configs)]
    if any((c.label, FMA) in st for c in configs) and pairs:
        lines += [f"## {FMA} minus each personalized baseline and each ablation", "",
                  "Points of personalized accuracy, paired by seed (same data, splits and "
                  "seed): mean ± sd over seeds, and (seeds where it is ahead / seeds). A "
                  "positive difference against an ablation is what that component adds.", ""]
        for ds, cs in by_ds.items():
            rows = []
            for b in pairs:
                row = [f"− {b}"]
                for c in cs:
                    m, s, n, w = paired_diff(c, FMA, b)
                    row.append("" if n == 0 else
                               f"{100 * m:+.2f}" + (f" ± {100 * s:.2f}" if math.isfinite(s) else "") + f" ({w}/{n})")
                rows.append(row)
            lines += [md_table(["difference"] + [c.label for c in cs], rows), ""]
    for c in configs:
        lines += [f"## {c.label}", "",
                  f"seeds: {', '.join(c.seeds)} (n = {len(c.seeds)}); dataset `{c.cfg.get('dataset', c.dataset)}`, "
                  f"{c.cfg.get('clients', '?')} clients, {c.cfg.get('rounds', '?')} rounds, preset "
                  f"{c.cfg.get('preset', '?')}; files: " + ", ".join(os.path.basename(p) for r in c.runs for p in r.paths), ""]
        if c.mismatches:
            lines += ["**checksum mismatch between rank counts:** " + "; ".join(c.mismatches), ""]
        rows = []
        for n in c.method_names():
            s = st[(c.label, n)]
            rows.append([n, pm(s["pers_mean"], s["pers_sd_seeds"]), pct(s["pers_sd_clients"]),
                         pct(s["worst"]), pm(s["global_mean"], s["global_sd_seeds"]),
                         pct(s["f1_pers"]), pct(s["f1_global"]),
                         pct(s["acc_p0"]), pct(s["acc_p1"]), pct(s["acc_p2"]),
                         fnum(s["budget_public_epochs"]), fnum(s["budget_client_epochs"]),
                         p3_cell(s), server_cell(s), s["n_seeds"]])
        lines += [md_table(["method", "personalized", "sd clients", "worst", "global",
                            "F1 pers", "F1 global", "p0", "p1", "p2", "pub.ep", "client.ep",
                            "p3 kept/run (used)", "server", "n"], rows), ""]
    md = "\n".join(lines)
    written = []
    p = os.path.join(outdir, "comparison.md")
    with open(p, "w") as f:
        f.write(md)
    written.append(p)

    cols = ["n_seeds", "pers_mean", "pers_sd_seeds", "pers_sd_clients", "worst", "global_mean",
            "global_sd_seeds", "acc_p0", "acc_p1", "acc_p2", "budget_public_epochs",
            "budget_client_epochs", "osc_cos_lag1", "osc_update_cos", "two_cycle_seeds",
            "f1_global", "f1_pers", "budget_client_epochs_used", "p3_epoch_kept", "p3_epochs_run"]
    is_acc = lambda k: k not in ("n_seeds", "budget_public_epochs", "budget_client_epochs",
                                 "osc_cos_lag1", "osc_update_cos", "two_cycle_seeds",
                                 "budget_client_epochs_used", "p3_epoch_kept", "p3_epochs_run")
    colname = lambda k: k + ("_pct" if is_acc(k) else "")
    val = lambda s, k: (s[k] if k in ("n_seeds", "two_cycle_seeds") else
                        ("" if not math.isfinite(s[k]) else
                         (f"{100 * s[k]:.4f}" if is_acc(k) else f"{s[k]:.4f}")))
    p = os.path.join(outdir, "comparison.csv")
    with open(p, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method"] + [f"{c.label}:{colname(k)}" for c in configs for k in cols])
        for n in names:
            w.writerow([n] + [val(st[(c.label, n)], k) if (c.label, n) in st else ""
                              for c in configs for k in cols])
    written.append(p)
    p = os.path.join(outdir, "comparison_long.csv")
    with open(p, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["config", "dataset", "clients", "rounds", "method", "seeds"] + [colname(k) for k in cols])
        for c in configs:
            for n in c.method_names():
                w.writerow([c.label, c.cfg.get("dataset", c.dataset), c.cfg.get("clients", ""),
                            c.cfg.get("rounds", ""), n, " ".join(c.seeds)] +
                           [val(st[(c.label, n)], k) for k in cols])
    written.append(p)
    return md, summary, written


# --------------------------------------------------------------------------- plots
def fma_name(cfg):
    """The full Fed-Meta-Align method of a configuration (all phases, dual criterion)."""
    names = cfg.method_names()
    if FMA in names:
        return FMA
    for r in cfg.runs:
        for m in r.methods:
            if m.kind == "fedmetaalign" and all(m.flags.values()):
                return m.name
    for r in cfg.runs:
        for m in r.methods:
            if m.kind == "fedmetaalign":
                return m.name
    return None


def save(fig, path, written):
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    written.append(path)


def plot_phases(cfg, outdir, written):
    name = fma_name(cfg)
    if name is None:
        return
    ms = cfg.methods(name)
    ms = [(r, m) for r, m in ms if any(a is not None and a.size for a in m.acc_p)]
    if not ms:
        return
    show = ms[:6]
    # bars per device up to MAX_BARS clients; above, the distribution over clients (the
    # figure's size never depends on the number of clients)
    bars = max(a.size for _, m in show for a in m.acc_p if a is not None) <= MAX_BARS
    fig, axes = plt.subplots(len(show), 1, figsize=(min(7, 1.0 + 0.75 * cfg.runs[0].n_clients) + 3 if bars else 10,
                                                    2.9 * len(show) + 0.6),
                             squeeze=False, sharey=bars)
    colors = ["#8c8c8c", "#4c9bd6", "#f29e38", "#3a9e52"]
    for ax, (r, m) in zip(axes[:, 0], show):
        C = max(a.size for a in m.acc_p if a is not None)
        if not bars:
            for i in range(4):
                a = m.acc_p[i]
                if a is None or not np.isfinite(a).any():
                    ax.plot([], [], color=colors[i], label=f"{PHASES[i]}: not run")
                    continue
                v = np.sort(a[np.isfinite(a)]) * 100
                ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", color=colors[i], lw=1.5,
                        label=f"{PHASES[i]} (mean {v.mean():.1f} %, worst decile ≤ {np.percentile(v, 10):.1f} %)")
            ax.axhspan(0, 0.1, color="0.88", zorder=0)
            ax.set_xlim(0, 100)
            ax.set_ylim(0, 1)
            ax.set_xlabel("test accuracy (%)")
            ax.set_ylabel("fraction of clients ≤ x")
            ax.grid(alpha=0.3)
            ax.set_title(f"seed {r.seed}: {C} clients (shaded: worst decile)", fontsize=10, loc="left")
            ax.legend(fontsize=7.5, loc="upper left")
            continue
        x = np.arange(C)
        wbar = 0.2
        for i in range(4):
            a = m.acc_p[i]
            if a is None or a.size != C or not np.isfinite(a).any():
                ax.bar([], [], color=colors[i], label=f"{PHASES[i]}: not run")
                continue
            v = np.where(np.isfinite(a), a, 0.0) * 100
            ax.bar(x + (i - 1.5) * wbar, v, wbar, color=colors[i],
                   label=f"{PHASES[i]} (mean {100 * np.nanmean(a):.1f} %)")
        ax.set_xticks(x)
        nt = r.n_test if r.n_test is not None and r.n_test.size == C else None
        ax.set_xticklabels([f"dev {i}" + (f"\n{int(nt[i])} test" if nt is not None else "") for i in x],
                           fontsize=8 if C > 6 else 9)
        ax.set_ylim(0, 105)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(axis="y", alpha=0.3)
        ax.set_title(f"seed {r.seed}", fontsize=10, loc="left")
        ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), framealpha=0.85)
    if bars:
        axes[-1, 0].set_xlabel("device (client id)")
    more = f" (first {len(show)} of {len(ms)} seeds)" if len(ms) > len(show) else ""
    fig.suptitle(f"{name}: per-device accuracy after each phase\n{cfg.label}{more}", fontsize=11)
    fig.tight_layout()
    save(fig, os.path.join(outdir, f"phases_{cfg.slug}.png"), written)


def plot_confusion(cfg, outdir, written):
    """One panel per method: the final models' confusion matrix (confusion_personal),
    pooled over clients and summed over seeds; colour = share of the true class's rows,
    numbers = counts. Files without the classification metrics are skipped."""
    names = [n for n in cfg.method_names()
             if any(getattr(m, "confusion_personal", None) is not None for _, m in cfg.methods(n))]
    if not names:
        return
    try:  # class names from the root attribute, for the axes
        with h5py.File(cfg.runs[0].path, "r") as f:
            classes = [text(x) for x in np.asarray(f.attrs.get("class_names", []))]
    except (OSError, KeyError):
        classes = None
    cols = min(4, len(names))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.4 * rows + 0.6), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax, n in zip(axes.flat, names):
        mats = [m.confusion_personal for _, m in cfg.methods(n)
                if getattr(m, "confusion_personal", None) is not None]
        cm = np.sum(mats, axis=0)
        K = cm.shape[0]
        share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(share, vmin=0, vmax=1, cmap="Blues")
        for i in range(K):
            for j in range(K):
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=7,
                        color="white" if share[i, j] > 0.5 else "black")
        lab = classes if classes and len(classes) == K else [str(i) for i in range(K)]
        ax.set_xticks(range(K))
        ax.set_yticks(range(K))
        ax.set_xticklabels(lab, fontsize=6, rotation=90)
        ax.set_yticklabels(lab, fontsize=6)
        f1 = mean_sd([num(getattr(m, "f1_personal", None)) for _, m in cfg.methods(n)])[0]
        ax.set_title(f"{n}\npooled macro-F1 {pct(f1)} %", fontsize=8)
        ax.set_xlabel("predicted", fontsize=7)
        ax.set_ylabel("true", fontsize=7)
    fig.suptitle(f"final models' confusion, pooled over clients and {len(cfg.seeds)} seed(s)\n"
                 f"{cfg.label}", fontsize=10)
    fig.tight_layout()
    save(fig, os.path.join(outdir, f"confusion_{cfg.slug}.png"), written)


def plot_convergence(cfg, outdir, written):
    # methods with federated rounds; methods with identical curves in every seed
    # (e.g. X and X+P share the global model) are drawn once
    curves = OrderedDict()
    for n in cfg.method_names():
        ms = cfg.methods(n)
        ys = [m.round_acc for _, m in ms if m.round_acc is not None and m.round_acc.size > 1]
        if not ys or len(ys) != len(ms):
            continue
        L = min(y.size for y in ys)
        Y = np.vstack([y[:L] for y in ys])
        if not np.isfinite(Y).any():
            continue
        for k, (Yk, labels) in curves.items():
            if Yk.shape == Y.shape and np.array_equal(Yk, Y, equal_nan=True):
                labels.append(n)
                break
        else:
            curves[n] = (Y, [n])
    if not curves:
        return
    fma = [k for k in curves if k.startswith("fedmetaalign")]
    base = [k for k in curves if not k.startswith("fedmetaalign")]
    panels = [(p, t) for p, t in ((fma, "Fed-Meta-Align and ablations"), (base, "baselines")) if p]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.6), squeeze=False, sharey=True)
    cmap = plt.get_cmap("tab10")
    ref = curves.get(FMA)
    for ax, (keys, title) in zip(axes[0], panels):
        if ref is not None and FMA not in keys:
            Y = ref[0] * 100
            ax.plot(np.arange(Y.shape[1]), np.nanmean(Y, axis=0), color="k", ls=":", lw=1.3,
                    label=" = ".join(ref[1]) + " (reference)")
        for j, k in enumerate(keys):
            Y, labels = curves[k]
            Y = Y * 100
            x = np.arange(Y.shape[1])
            with np.errstate(all="ignore"):
                mu = np.nanmean(Y, axis=0)
                sd = np.nanstd(Y, axis=0, ddof=1) if Y.shape[0] > 1 else np.zeros_like(mu)
            col = cmap(j % 10)
            ax.plot(x, mu, color=col, lw=1.6, label=" = ".join(labels))
            if Y.shape[0] > 1:
                ax.fill_between(x, mu - sd, mu + sd, color=col, alpha=0.15, lw=0)
        ax.set_title(title, fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("federated round r (0 = initial global model)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7.5, loc="lower right")
    axes[0, 0].set_ylabel("global-model accuracy on pooled test rows (%)")
    fig.suptitle(f"Convergence: global model φ^r per round, mean over {len(cfg.runs)} seed(s)"
                 f"{' (band ±1 sd)' if len(cfg.runs) > 1 else ''}\n{cfg.label}", fontsize=11)
    fig.tight_layout()
    save(fig, os.path.join(outdir, f"convergence_{cfg.slug}.png"), written)


def plot_weights(cfg, outdir, written, max_seeds=1):
    name = fma_name(cfg)
    if name is None:
        return
    done = 0
    for r, m in cfg.methods(name):
        if done >= max_seeds:
            break
        W, Cs, S = m.rc_weight, m.rc_cos, m.rc_score
        if W is None or W.ndim != 2 or W.shape[0] == 0 or not np.isfinite(W).any():
            continue
        R, C = W.shape
        x = np.arange(R)
        fig, axes = plt.subplots(2, 2, figsize=(12, 8))
        cmap = plt.get_cmap("tab10" if C <= 10 else "viridis")
        col = (lambda t: cmap(t % 10)) if C <= 10 else (lambda t: cmap(t / max(1, C - 1)))
        show_legend = C <= 12
        panels = [(axes[0, 0], W, "aggregation weight ŵ_t", "normalized weight ŵ_t (sums to 1 per round)", "viridis"),
                  (axes[0, 1], Cs, "cosine θ_t of the update to the reference", "cosine similarity θ_t", "coolwarm"),
                  (axes[1, 0], S, "local score s_t (validation accuracy of φ_t)", "score s_t (fraction)", "viridis")]
        # few clients and rounds: one line per client; otherwise a client x round heat map
        heat = R > 40 or C > 12
        for ax, D, title, ylab, cm in panels:
            if D is None or D.shape != W.shape or not np.isfinite(D).any():
                ax.text(0.5, 0.5, "not recorded (NaN)", ha="center", va="center", transform=ax.transAxes)
            elif heat:
                kw = {}
                if cm == "coolwarm":
                    lim = float(np.nanmax(np.abs(D))) or 1.0
                    kw = dict(vmin=-lim, vmax=lim)
                im = ax.imshow(np.ma.masked_invalid(D.T), aspect="auto", origin="lower", cmap=cm,
                               interpolation="nearest", extent=(-0.5, R - 0.5, -0.5, C - 0.5), **kw)
                fig.colorbar(im, ax=ax, label=ylab)
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
                ylab = "device (client id)"
            else:
                for t in range(C):
                    ax.plot(x, D[:, t], color=col(t), lw=1.2, marker="." if R <= 40 else None,
                            label=f"dev {t}" if show_legend else None)
            ax.set_title(title, fontsize=10)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("federated round r")
            ax.set_ylabel(ylab)
            if not heat:
                ax.grid(alpha=0.3)
        if not heat:
            if r.n_train is not None and r.n_train.size == C and r.n_train.sum() > 0:
                fa = r.n_train / r.n_train.sum()
                for t in range(C):
                    axes[0, 0].axhline(fa[t], color=col(t), ls="--", lw=0.8, alpha=0.7)
                axes[0, 0].plot([], [], color="gray", ls="--", lw=0.8, label="FedAvg weight n_t/Σn")
            if Cs is not None and Cs.shape == W.shape:
                floor = num(r.cfg.get("floor"))
                if math.isfinite(floor):
                    axes[0, 1].axhline(floor, color="k", ls=":", lw=1, label=f"floor c = {floor:g}")
            for ax in (axes[0, 0], axes[0, 1], axes[1, 0]):
                if show_legend:
                    ax.legend(fontsize=7, ncol=2, loc="best")
        ax = axes[1, 1]
        if Cs is not None and Cs.shape == W.shape and np.isfinite(Cs).any():
            ok = np.isfinite(W) & np.isfinite(Cs)
            cval = S if (S is not None and S.shape == W.shape) else np.zeros_like(W)
            ok &= np.isfinite(cval)
            sc = ax.scatter(Cs[ok], W[ok], c=100 * cval[ok], cmap="plasma", s=14, alpha=0.8)
            fig.colorbar(sc, ax=ax, label="score s_t (%)")
            ax.set_xlabel("cosine similarity θ_t")
            ax.set_ylabel("aggregation weight ŵ_t")
            ax.set_title("weight vs cosine, colour = local score (all clients, rounds)", fontsize=10)
            ax.grid(alpha=0.3)
        else:
            ax.axis("off")
        fig.suptitle(f"{name}: dual-criterion aggregation per client and round\n{cfg.label}, seed {r.seed}",
                     fontsize=11)
        fig.tight_layout()
        save(fig, os.path.join(outdir, f"weights_{cfg.slug}_s{r.seed}.png"), written)
        done += 1


# --------------------------------------------------------------------------- main
def main(argv):
    ap = argparse.ArgumentParser(description="Comparison table and plots from fedalign results files.")
    ap.add_argument("--out", default="report", help="output folder (default: report/)")
    ap.add_argument("--weights-seeds", type=int, default=1,
                    help="seeds per configuration to draw the aggregation-weight plot for (default 1)")
    ap.add_argument("inputs", nargs="*", default=None, metavar="FILES_OR_DIRS",
                    help="results files or folders of *.h5 (default: results/)")
    a = ap.parse_args(argv)
    inputs = a.inputs or ["results"]
    paths = find_files(inputs)
    if not paths:
        print(f"report: no .h5 files in {' '.join(inputs)}", file=sys.stderr)
        return 2
    runs = load(paths)
    if not runs:
        print("report: no readable fedalign results among the files given", file=sys.stderr)
        return 2
    os.makedirs(a.out, exist_ok=True)
    # the folder is regenerated: remove what an earlier report wrote there (only our
    # own file names), so no stale plot of a configuration no longer given survives
    stale = [x for x in os.listdir(a.out) if re.match(
        r"^(comparison(_long)?\.(md|csv)|tidy_(rounds|clients)\.csv|scaling\.(md|csv)|regime_map\.(md|csv|png)|(phases|convergence|weights|scaling|weak|hybrid|confusion|clients|client_rounds)_.*\.png)$", x)]
    for x in stale:
        os.remove(os.path.join(a.out, x))
    if stale:
        print(f"report: note: removed {len(stale)} file(s) of an earlier report in {a.out}")
    configs, _ = make_configs(runs)
    md, summary, written = write_tables(configs, a.out, [r.path for r in runs])
    write_tidy(configs, a.out, written)
    for c in configs:
        plot_phases(c, a.out, written)
        plot_clients(c, a.out, written, save)
        plot_client_rounds(c, a.out, written, save)
        plot_convergence(c, a.out, written)
        plot_confusion(c, a.out, written)
        plot_weights(c, a.out, written, a.weights_seeds)
    if scaling_report(runs, configs, a.out, written) == 0:
        print("report: note: no scaling plot: no two files of the same configuration and seed "
              "differ in ranks/threads, and no weak-scaling series (run the same command at "
              "another -n, or jobs/*_scaling.sbatch)")
    # the regime map (analysis/regime_map.py) when the suites span more than one cell of
    # rows per device x heterogeneity, e.g. the output of jobs/regime_map.sh
    cells = regime_map.summarize(regime_map.cells_of(
        [x for x in map(regime_map.read_run, [r.path for r in runs]) if x is not None]))
    if len(cells) > 1:
        _, w = regime_map.write(cells, a.out)
        written += w
    for c in configs:
        for m in c.mismatches:
            print(f"report: warning: {c.label}: {m}", file=sys.stderr)
    print(md)
    print()
    print(f"written ({len(written)} files):")
    for p in written:
        print(f"  {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
