#!/usr/bin/python3
"""fake_results.py: a synthetic fedalign results file (schema 3 layout, the parts that
analysis/report.py reads) of any client count, for tests of the report at sizes a test
cannot run (10,000 clients). The numbers are random; the structure follows
docs/results-format.md.

Usage: /usr/bin/python3 tests/tools/fake_results.py OUT.h5 CLIENTS ROUNDS [SEED]
"""
import sys

import h5py
import numpy as np

TIMERS = ["setup", "phase0", "ring", "train", "aggregate", "comm", "personalize", "eval", "io",
          "total"]
METHODS = [("fedmetaalign+P", "fedmetaalign", 1, 1, 1), ("fedavg+P", "fedavg", 0, 0, 0),
           ("local+P", "local", 0, 0, 0)]


def main(path, C, R, seed=1):
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        a = f.attrs
        a["schema_version"] = np.int32(3)
        for k, v in {"n_clients": C, "n_params": 100, "n_features": 6, "n_classes": 6}.items():
            a[k] = np.int64(v)
        a["n_ranks"], a["n_threads"] = np.int32(1), np.int32(1)
        a["dataset"] = np.bytes_("electrical")
        a["config_hash"] = np.bytes_(f"{C:016x}")
        a["result_keys"] = np.bytes_("dataset,clients,rounds,seed")
        a["cfg.dataset"] = np.bytes_("electrical")
        a["cfg.clients"], a["cfg.rounds"] = np.int64(C), np.int64(R)
        a["cfg.seed"] = np.uint64(seed)
        a["cfg.floor"] = np.float64(0.1)
        g = f.create_group("clients")
        g["n_train"] = rng.integers(20, 200, C).astype(np.int64)
        g["n_test"] = rng.integers(5, 60, C).astype(np.int64)
        ms = f.create_group("methods")
        fields = [("name", "attr", "string"), ("method", "attr", "string"),
                  ("phase0", "attr", "bool"), ("phase1", "attr", "bool"),
                  ("similarity", "attr", "bool"), ("personalize", "attr", "bool"),
                  ("rounds", "attr", "int64"), ("acc_global", "attr", "float64"),
                  ("acc_personal_mean", "attr", "float64"), ("checksum", "attr", "hex"),
                  ("checksum_personal", "attr", "hex"), ("time_total", "attr", "float64"),
                  ("round_acc", "R+1", "float64"), ("acc_p0", "C", "float64"),
                  ("acc_p1", "C", "float64"), ("acc_p2", "C", "float64"),
                  ("acc_p3", "C", "float64"), ("rc_score", "R,C", "float64"),
                  ("rc_cos", "R,C", "float64"), ("rc_weight", "R,C", "float64"),
                  ("timers", "T,4", "float64")]
        dt = np.dtype([(k, "S32") for k in ("name", "shape", "type", "unit", "doc")])
        ms.attrs["method_fields"] = np.array([(n, s, t, "", "") for n, s, t in fields], dtype=dt)
        for i, (name, kind, p0, p1, sim) in enumerate(METHODS):
            m = ms.create_group(f"{i:02d}_{name}")
            rr = 0 if kind == "local" else R
            m.attrs.update({"index": np.int64(i), "name": np.bytes_(name),
                            "method": np.bytes_(kind), "phase0": np.int8(p0),
                            "phase1": np.int8(p1), "similarity": np.int8(sim),
                            "personalize": np.int8(1), "rounds": np.int64(rr),
                            "checksum": np.bytes_(f"{i:016x}"),
                            "checksum_personal": np.bytes_(f"{i + 7:016x}"),
                            "time_total": np.float64(1.0 + i)})
            acc = [np.clip(rng.normal(0.5 + 0.1 * k, 0.15, C), 0, 1) for k in range(4)]
            for k in range(4):
                m[f"acc_p{k}"] = np.nan * acc[k] if (k < 2 and not p0) else acc[k]
            m.attrs["acc_global"] = np.float64(np.nan if kind == "local" else 0.7)
            m.attrs["acc_personal_mean"] = np.float64(acc[3].mean())
            m["round_acc"] = np.linspace(0.2, 0.8, rr + 1)
            sc = np.clip(rng.normal(0.6, 0.2, (rr, C)), 0, 1)
            m["rc_score"] = sc if sim else np.full((rr, C), np.nan)
            m["rc_cos"] = rng.uniform(-0.2, 0.9, (rr, C))
            m["rc_weight"] = np.full((rr, C), 1.0 / C)
            t = m.create_dataset("timers", data=rng.uniform(0, 1, (len(TIMERS), 4)))
            t.attrs["names"] = np.array([s.encode() for s in TIMERS])


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__.strip().splitlines()[-1])
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
         int(sys.argv[4]) if len(sys.argv) > 4 else 1)
