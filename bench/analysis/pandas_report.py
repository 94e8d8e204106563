#!/usr/bin/python3
"""The peer of `hypersweep-analyze report` in bench/analysis: h5py + pandas + scipy loading the
same store and computing the same report -- per model: valid runs, method comparison (count,
mean, std, min, max), impact of seq and samples, Pearson and Spearman of every diagnostic with
the target (Infinity excluded) with p-values and Fisher-z intervals, the integer-valued
diagnostic grouped, ppl against acc, the best run -- then the best run across models.

usage: pandas_report.py STORE REPORT.json REPEATS
Prints "seconds_best seconds_load_best checked", where checked counts the numbers of the C
report (REPORT.json) that pandas reproduced (a sanity check that both did the same work)."""
import json
import math
import sys
import time

import h5py
import numpy as np
import pandas as pd
from scipy import stats

path, report_path, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])


def load(path):
    with h5py.File(path, "r", swmr=True) as f:
        codes = h5py.check_enum_dtype(f["runs/status"].dtype)
        df = pd.DataFrame({"run_id": f["runs/run_id"].asstr()[:],
                           "index": f["runs/index"][:],
                           "status": f["runs/status"][:]})
        for name, ds in f["params"].items():
            df["param:" + name] = ds.asstr()[:] if ds.dtype.kind == "S" else ds[:]
        names = list(f["metrics/names"].asstr()[:])
        metrics = pd.DataFrame(f["metrics/values"][:len(df), :len(names)], columns=names)
    return pd.concat([df, metrics], axis=1), codes["ok"], names


def corr(x, y):
    """Pearson and Spearman with p-values and 95% Fisher-z intervals, as the C report."""
    x = x.replace([np.inf, -np.inf], np.nan)
    keep = x.notna()
    xs, ys = x[keep], y[keep]
    n = len(xs)
    if n < 3 or xs.nunique() < 2:
        return None
    out = {}
    for name, r, factor in (("pearson", xs.corr(ys), 1.0),
                            ("spearman", xs.corr(ys, method="spearman"), 1.06)):
        t = r * math.sqrt((n - 2) / max(1e-300, (1 - r) * (1 + r)))
        p = 2 * stats.t.sf(abs(t), n - 2)
        z, se = math.atanh(min(max(r, -1 + 1e-16), 1 - 1e-16)), factor / math.sqrt(n - 3)
        out[name] = (r, p, math.tanh(z - 1.959963984540054 * se),
                     math.tanh(z + 1.959963984540054 * se))
    out["n"] = n
    return out


def report(df, ok, names):
    valid = df[(df.status == ok) & np.isfinite(df.acc)].sort_values("index")
    diags = [m for m in names if m not in ("acc", "ppl")]
    res = {}
    for model, g in valid.groupby("param:model", sort=False):
        r = {"methods": g.groupby("param:method")["acc"].agg(["count", "mean", "std", "min", "max"]),
             "params": {p: g.groupby("param:" + p)["acc"].agg(["count", "mean", "std", "min", "max"])
                        for p in ("seq", "samples")},
             "corr": {d: corr(g[d], g.acc) for d in diags},
             "secondary": corr(g.ppl, g.acc)}
        for d in diags:
            x = g[d]
            fin = np.isfinite(x)
            if (x[fin] == np.floor(x[fin])).all() and 2 <= x[fin].nunique() <= 50:
                r["int:" + d] = g[fin].groupby(x[fin])["acc"].agg(["count", "mean", "std", "min", "max"])
        r["best"] = g.loc[g.acc.idxmax()]
        res[model] = r
    res["overall"] = valid.loc[valid.acc.idxmax()]
    return res


best, best_load = float("inf"), float("inf")
for _ in range(repeats):
    t0 = time.monotonic()
    df, ok, names = load(path)
    t1 = time.monotonic()
    res = report(df, ok, names)
    t2 = time.monotonic()
    best, best_load = min(best, t2 - t0), min(best_load, t1 - t0)

# the C report's numbers, reproduced
rep = json.load(open(report_path))
checked = 0
for g in rep["groups"]:
    r = res[g["group"]]
    for row in g["methods"]["table"]:
        want = r["methods"].loc[row["method"]]
        assert row["n"] == want["count"]
        assert abs(row["mean"] - want["mean"]) < 1e-9 and abs(row["std"] - want["std"]) < 1e-9
        checked += 3
    for row in g["correlations"]["table"]:
        c = r["corr"][row["metric"]]
        if c is None:
            assert row["pearson_r"] is None
            continue
        assert row["n"] == c["n"], (row["metric"], row["n"], c["n"])
        assert abs(row["pearson_r"] - c["pearson"][0]) < 1e-9
        assert abs(row["spearman_rho"] - c["spearman"][0]) < 1e-9
        checked += 3
    assert g["best"]["run_id"] == r["best"].run_id
    checked += 1
print("%.3f %.3f %d" % (best, best_load, checked))
