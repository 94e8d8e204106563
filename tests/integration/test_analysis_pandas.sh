#!/usr/bin/env bash
# hypersweep-analyze against pandas/scipy: a store built by `hypersweep run` with metrics of
# known structure (2 models, one with a CJK and emoji label; methods with conditional axes;
# a correlated diagnostic, an Infinity, a constant column, an integer diagnostic, a method
# that did nothing, a warned run, a failed run). Every number of `report --format json` and
# `leaderboard --format json` is recomputed from the store with h5py + pandas + scipy. Then:
# the text and Markdown bytes (UTF-8, no mojibake, aligned), CSV, `run`, shards, a live store,
# and the exit codes.
source "$(dirname "$0")/lib.sh"
need_h5py
$PY -c 'import importlib.util as u; assert u.find_spec("pandas") and u.find_spec("scipy")' 2>/dev/null || { echo "SKIP: no pandas/scipy" >&2; exit 77; }
AN="$HS_BINARY_DIR/hypersweep-analyze"

cat > grid.cfg <<CFG
name = "analysis";
run = { argv = ["python3", "$WORKLOAD"]; results = ["{run_dir}/result.json"]; timeout = 60;
        retries = 0; };
axes = {
  model = ["llama-3-8b", "通义千问 🚀"];
  method = {
    fp16 = { mode = "analysis"; };
    noop = { mode = "analysis"; };
    warned = { mode = "analysis"; warn = true; };
    taylor = { mode = "analysis"; axes = { seq = [16, 256]; samples = [128, 512]; }; };
    layerwise = { mode = "analysis"; axes = { seq = [16, 256]; samples = [128, 512]; }; };
    broken = { mode = "fail"; };
  };
};
analysis = {
  target = "acc"; secondary = "ppl"; by = "model"; method_axis = "method";
  tasks = "results/lm_eval/*/acc*"; baseline = "method=fp16";
};
CFG
note "24 runs through hypersweep run"
expect_exit 1 "$HS" run grid.cfg --progress none
STORE=sweeps/analysis/sweep.h5

note "reports in every format"
expect_exit 0 "$AN" report "$STORE" --format json -o report.json
expect_exit 0 "$AN" report "$STORE" --format json --ddof 0 -o report0.json
expect_exit 0 "$AN" leaderboard "$STORE" --format json -o lb.json
expect_exit 0 "$AN" report "$STORE" --format text -o report.txt
expect_exit 0 "$AN" report "$STORE" --format markdown -o report.md
expect_exit 0 "$AN" report "$STORE" --format csv -o report.csv
expect_exit 0 "$AN" leaderboard "$STORE" --format text -o lb.txt
expect_exit 0 "$AN" leaderboard "$STORE" --format markdown -o lb.md
"$AN" report "$STORE" > piped.out   # not a terminal: Markdown by default
grep -q '^# Report: sweep analysis' piped.out || fail "the default off a terminal is not Markdown"

$PY - "$STORE" <<'PY'
import csv, fnmatch, io, json, math, sys, unicodedata
import h5py, numpy as np, pandas as pd
from scipy import stats

store = sys.argv[1]


def strict(path):
    def bad(x):
        raise AssertionError("%s: non-strict JSON constant %s" % (path, x))
    return json.load(open(path, encoding="utf-8"), parse_constant=bad)


rep, rep0, lb = strict("report.json"), strict("report0.json"), strict("lb.json")

# ---- the store, read independently -------------------------------------------------------
with h5py.File(store, "r", swmr=True) as f:
    codes = {v: k for k, v in h5py.check_enum_dtype(f["runs/status"].dtype).items()}
    df = pd.DataFrame({
        "run_id": f["runs/run_id"].asstr()[:], "index": f["runs/index"][:],
        "status": [codes[c] for c in f["runs/status"][:]],
        "failure_class": f["runs/failure_class"].asstr()[:],
        "wall_s": f["runs/wall_s"][:], "warnings": f["runs/warnings"][:]})
    for name, ds in f["params"].items():
        if ds.dtype.kind == "S":
            col = pd.Series(ds.asstr()[:]).replace("", None)
        elif ds.dtype.kind == "i" and ds.dtype.itemsize == 8:
            col = pd.Series(ds[:]).astype("float64")
            col[ds[:] == np.iinfo(np.int64).min] = np.nan
        else:
            col = pd.Series(ds[:])
        df["p:" + name] = col.values
    names = list(f["metrics/names"].asstr()[:])
    values = f["metrics/values"][:len(df), :len(names)]
df = pd.concat([df, pd.DataFrame(values, columns=names)], axis=1)
df = df[df["index"] >= 0].sort_values("index").reset_index(drop=True)
assert len(df) == 24


def close(got, want, what, rel=1e-9, absol=1e-12):
    if want is None or (isinstance(want, float) and math.isnan(want)):
        assert got is None, (what, got, want)
        return
    assert got is not None, (what, "null", want)
    assert abs(got - want) <= absol + rel * abs(want), (what, got, want)


def label(r):
    a = abs(r)
    s = "strong" if a > 0.7 else "moderate" if a > 0.5 else "weak"
    return s + (" positive" if r > 0 else " negative" if r < 0 else "")


def fisher(r, n, factor):
    if abs(r) >= 1:
        return r, r
    z, se, q = math.atanh(r), factor / math.sqrt(n - 3), stats.norm.ppf(0.975)
    return math.tanh(z - q * se), math.tanh(z + q * se)


def check_corr(row, x, y, notes, name):
    """row: a correlation row of the report; x: the diagnostic over the valid runs."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    inf, miss = np.isinf(x), np.isnan(x)
    fin = ~inf & ~miss
    assert row["n"] == fin.sum(), (name, row["n"], fin.sum())
    assert row["excluded_infinite"] == inf.sum(), name
    assert row["excluded_missing"] == miss.sum(), name
    xs, ys = x[fin], y[fin]
    if inf.sum():
        assert any(n.startswith(name + ":") and "had Infinity and were excluded" in n
                   for n in notes), (name, notes)
    if len(set(xs)) == 1:
        assert row["pearson_r"] is None and "constant" in row["pearson_r_note"], row
        assert row["spearman_rho"] is None and row["pearson_label"] == "undefined"
        assert any(n.startswith(name + " is constant") for n in notes), (name, notes)
        return None
    pr = stats.pearsonr(xs, ys)
    close(row["pearson_r"], pr[0], name + " r")
    close(row["pearson_p"], pr[1], name + " p", rel=1e-6, absol=1e-14)
    lo, hi = pr.confidence_interval(0.95)
    close(row["pearson_ci_low"], lo, name + " ci low", rel=1e-6, absol=1e-9)
    close(row["pearson_ci_high"], hi, name + " ci high", rel=1e-6, absol=1e-9)
    sr = stats.spearmanr(xs, ys)
    close(row["spearman_rho"], sr[0], name + " rho")
    close(row["spearman_p"], sr[1], name + " rho p", rel=1e-6, absol=1e-14)
    lo, hi = fisher(sr[0], len(xs), 1.06)
    close(row["spearman_ci_low"], lo, name + " rho ci", rel=1e-6, absol=1e-9)
    close(row["spearman_ci_high"], hi, name + " rho ci", rel=1e-6, absol=1e-9)
    assert row["pearson_label"] == label(pr[0]), (name, row["pearson_label"])
    assert row["spearman_label"] == label(sr[0]), (name, row["spearman_label"])
    return abs(pr[0])


checked = 0
diag_expected = [m for m in names
                 if m not in ("acc", "ppl", "gpu_mem_peak_mb") and "stderr" not in m]
assert rep["settings"]["target"] == "acc" and rep["settings"]["ddof"] == 1
for which, report, ddof in (("report", rep, 1), ("report --ddof 0", rep0, 0)):
    groups = report["groups"]
    assert [g["group"] for g in groups] == ["llama-3-8b", "通义千问 🚀"], which
    for g in groups:
        sub = df[df["p:model"] == g["group"]]
        valid = sub[(sub.status == "ok") & np.isfinite(sub.acc)]
        # totals and reasons
        t = g["totals"]
        assert (t["runs"], t["valid"], t["invalid"]) == (len(sub), len(valid), len(sub) - len(valid))
        bad = sub[~sub.index.isin(valid.index)]
        want = {}
        for _, r in bad.iterrows():
            key = "%s (%s)" % (r.status, r.failure_class)
            want[key] = want.get(key, 0) + 1
        assert {x["reason"]: x["runs"] for x in t["invalid_reasons"]} == want, (t, want)
        # method comparison, in grid order
        order = list(dict.fromkeys(sub["p:method"]))
        rows = g["methods"]["table"]
        assert [r["method"] for r in rows] == order, (rows, order)
        means = {}
        for r in rows:
            v = valid[valid["p:method"] == r["method"]].acc
            assert r["runs"] == (sub["p:method"] == r["method"]).sum()
            assert r["n"] == len(v)
            close(r["mean"], v.mean() if len(v) else None, "mean")
            close(r["min"], v.min() if len(v) else None, "min")
            close(r["max"], v.max() if len(v) else None, "max")
            std = v.std(ddof=ddof) if len(v) > ddof else None
            close(r["std"], std, "%s std %s" % (which, r["method"]))
            if std is None:
                assert r["std_note"], r
            if len(v):
                means[r["method"]] = v.mean()
            checked += 5
        best = max(means, key=lambda m: (means[m], -order.index(m)))
        assert g["methods"]["best"]["by_mean"] == best, (g["methods"]["best"], best)
        top = valid.sort_values(["acc", "index"], ascending=[False, True]).iloc[0]
        assert g["methods"]["best"]["by_best_run"] == top["p:method"]
        # parameter impact
        assert [p["param"] for p in g["params"]] == ["seq", "samples"]
        for p in g["params"]:
            col = "p:" + p["param"]
            levels = sorted(sub[col].dropna().unique())
            assert [r["value"] for r in p["table"]] == levels, (p["table"], levels)
            bestv, bestm = None, None
            for r in p["table"]:
                v = valid[valid[col] == r["value"]].acc
                assert r["n"] == len(v)
                close(r["mean"], v.mean(), "param mean")
                close(r["std"], v.std(ddof=ddof), "param std")
                close(r["min"], v.min(), "param min")
                close(r["max"], v.max(), "param max")
                if bestm is None or v.mean() > bestm:
                    bestv, bestm = r["value"], v.mean()
                checked += 5
            assert p["best"] == bestv
            absent = sub[col].isna().sum()
            assert any("%d runs of this group have no %s" % (absent, p["param"]) in n
                       for n in p.get("notes", [])), p.get("notes")
        # correlations, sorted by |r|, undefined last
        corr = g["correlations"]
        rows = corr["table"]
        assert sorted(r["metric"] for r in rows) == sorted(diag_expected), \
            (sorted(r["metric"] for r in rows), sorted(diag_expected))
        strengths = []
        for r in rows:
            a = check_corr(r, valid[r["metric"]], valid.acc, corr["notes"], r["metric"])
            strengths.append(-1 if a is None else a)
            checked += 10
        assert all(a >= b - 1e-12 for a, b in zip(strengths, strengths[1:])), strengths
        assert any(r["metric"] == "grad_norm_ratio" and r["excluded_infinite"] > 0 for r in rows)
        # the integer-valued diagnostic
        ints = [i for i in g["integer_diagnostics"] if i.get("metric") == "layers"]
        assert len(ints) == 1, g["integer_diagnostics"]
        lv = sorted(valid.layers.unique())
        assert [r["value"] for r in ints[0]["table"]] == lv
        for r in ints[0]["table"]:
            v = valid[valid.layers == r["value"]].acc
            assert r["n"] == len(v)
            close(r["mean"], v.mean(), "layers mean")
            close(r["std"], v.std(ddof=ddof) if len(v) > ddof else None, "layers std")
            checked += 3
        close(ints[0]["pearson_r"], stats.pearsonr(valid.layers, valid.acc)[0], "layers r")
        # secondary
        srow = g["secondary"]["table"][0]
        assert srow["metric"] == "ppl"
        check_corr(srow, valid.ppl, valid.acc, g["secondary"].get("notes", []), "ppl")
        # best configuration: the highest acc, the first in grid order on ties
        b = g["best"]
        top = valid[valid.acc == valid.acc.max()].sort_values("index")
        assert b["run_id"] == top.iloc[0].run_id, (b["run_id"], top.run_id.tolist())
        assert b["ties"] == len(top)
        if len(top) > 1:
            assert any("first in grid order" in n for n in b["notes"])
        close(b["target"], top.iloc[0].acc, "best acc")
        close(b["secondary"], top.iloc[0].ppl, "best ppl")
        assert b["params"]["method"] == top.iloc[0]["p:method"]
        want = [m for m in names if fnmatch.fnmatchcase(m, "results/lm_eval/*/acc*")
                and "stderr" not in m]
        assert [r["name"] for r in b["tasks"]] == want
        for r in b["tasks"]:
            close(r["value"], top.iloc[0][r["name"]], "task " + r["name"])
            assert r["task"] == r["name"].split("/")[-2] and r["metric"] == r["name"].split("/")[-1]
    # across groups
    cg = report["cross_group"]
    bests = []
    for g in groups:
        sub = df[(df["p:model"] == g["group"]) & (df.status == "ok")]
        top = sub[sub.acc == sub.acc.max()].sort_values("index").iloc[0]
        bests.append((top.acc, g["group"], top.run_id, top.ppl))
    bests.sort(key=lambda t: -t[0])
    assert [r["group"] for r in cg["table"]] == [b[1] for b in bests]
    for r, b in zip(cg["table"], bests):
        close(r["best_target"], b[0], "cross best")
        close(r["best_secondary"], b[3], "cross ppl")
        assert r["best_run_id"] == b[2]
    assert cg["overall_best"]["group"] == bests[0][1]
print("report: %d numbers agree with pandas/scipy (ddof 1 and 0)" % checked)

# ---- leaderboard ---------------------------------------------------------------------------
n = 0
for g in lb["groups"]:
    sub = df[df["p:model"] == g["group"]]
    base = sub[(sub["p:method"] == "fp16") & (sub.status == "ok")].iloc[0]
    assert g["baseline_run"] == base.run_id
    rows = g["ranking"]["table"]
    assert len(rows) == len(sub)
    valid = sub[(sub.status == "ok") & np.isfinite(sub.acc)]
    want = valid.sort_values(["acc", "index"], ascending=[False, True]).run_id.tolist()
    assert [r["run_id"] for r in rows[:len(want)]] == want
    for r in rows:
        run = sub[sub.run_id == r["run_id"]].iloc[0]
        if r["run_id"] not in want:
            assert r["rank"] is None and r["rank_note"]
            assert r["status"].startswith(run.status)
            continue
        assert r["rank"] == 1 + (valid.acc > run.acc).sum(), r
        close(r["target"], run.acc, "lb acc")
        close(r["secondary"], run.ppl, "lb ppl")
        close(r["peak_memory_mb"], run.gpu_mem_peak_mb, "lb memory")
        close(r["wall_s"], run.wall_s, "lb wall")
        if r["run_id"] == base.run_id:
            assert r["delta_target"] is None and "baseline" in r["delta_target_note"]
        else:
            close(r["delta_target"], (run.acc - base.acc) * 100, "delta pp")
            close(r["delta_secondary"], run.ppl - base.ppl, "delta ppl")
        n += 6
    # the per-task table names the exact metric; deltas in points
    tasks = g["tasks"]["table"]
    metrics = {r["metric"] for r in tasks}
    assert "results/lm_eval/hellaswag/acc" in metrics and "results/lm_eval/hellaswag/acc_norm" in metrics
    for r in tasks:
        run = sub[sub.run_id == r["run_id"]].iloc[0]
        close(r["value"], run[r["metric"]], "task value")
        close(r["baseline"], base[r["metric"]], "task baseline")
        if r["run_id"] != base.run_id:
            close(r["delta"], (run[r["metric"]] - base[r["metric"]]) * 100, "task delta")
        n += 3
    cats = g["tasks"]["groups_mmlu_acc"]
    assert {r["task"] for r in cats} == {"stem", "humanities"}
    # passkey by depth
    pk = g["passkey"]["table"]
    for r in pk:
        run = sub[sub.run_id == r["run_id"]].iloc[0]
        for d in ("0.1", "0.5", "0.9"):
            m = "results/kv/passkey_retrieval/depth_accuracy/" + d
            close(r[m], run[m], "passkey")
        close(r["overall"], run["results/kv/passkey_retrieval/accuracy"], "passkey overall")
        n += 4
    # failed and blocked
    failed = {r["run_id"]: r for r in g["failed"]["table"]}
    for _, run in sub[~sub.status.isin(["ok", "pending", "running"])].iterrows():
        assert failed[run.run_id]["status"] == run.status
        assert failed[run.run_id]["failure_class"] == run.failure_class
    assert any("broken is blocked" in x for x in g["failed"]["notes"]), g["failed"]["notes"]
    # integrity: the no-op method equals the baseline, the warned run is flagged
    flags = {(r["check"], r["run_id"]) for r in g["integrity"]["table"]}
    noop = sub[sub["p:method"] == "noop"].iloc[0].run_id
    warned = sub[sub["p:method"] == "warned"].iloc[0].run_id
    assert ("equal_to_baseline", noop) in flags, flags
    assert ("warnings", warned) in flags, flags
    assert not any(c == "equal_to_baseline" and r != noop for c, r in flags), flags
    assert not any(c == "duplicate_params" for c, r in flags)
print("leaderboard: %d numbers agree; the no-op method, the warned and the failed runs are flagged" % n)

# ---- bytes: UTF-8, never mojibake, aligned -------------------------------------------------
label_bytes = "通义千问 🚀".encode("utf-8")
moji = "通义千问".encode("utf-8").decode("latin-1").encode("utf-8")
for path in ("report.txt", "report.md", "lb.txt", "lb.md", "report.json", "lb.json", "report.csv"):
    raw = open(path, "rb").read()
    raw.decode("utf-8", errors="strict")
    assert label_bytes in raw, path
    assert "评测/准确率".encode("utf-8") in raw or path.startswith("lb"), path
    assert moji not in raw, path
    assert b"\\u" not in raw or path.endswith(".json"), path


def width(s):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 0 if unicodedata.combining(c) else 1
               for c in s)


lines = open("report.txt", encoding="utf-8").read().splitlines()
i = next(k for k, l in enumerate(lines) if "Groups by their best run" in l)
table = [l for l in lines[i + 1:i + 5] if l.strip()]
assert len({width(l) for l in table}) == 1, [(width(l), l) for l in table]
col = table[0].index("valid runs") + len("valid runs")
w = width(table[0][:col])
for l in table[2:]:
    # the right-aligned count ends in the same display column on every row
    k = 0
    while width(l[:k]) < w:
        k += 1
    assert l[k - 1].isdigit() and not l[k].isdigit(), l
print("text, Markdown, JSON and CSV are UTF-8 with the CJK label and the emoji intact; aligned")

# ---- CSV: blocks of RFC 4180 tables ----------------------------------------------------------
blocks = open("report.csv", encoding="utf-8").read().split("\n\n")
found = 0
for b in blocks:
    head, _, body = b.partition("\n")
    assert head.startswith("# "), head
    if head.endswith("/ methods / table") and "llama-3-8b" in head:
        rows = list(csv.DictReader(io.StringIO(body)))
        for r in rows:
            want = [x for x in rep["groups"][0]["methods"]["table"] if x["method"] == r["method"]][0]
            if want["mean"] is not None:
                close(float(r["mean"]), want["mean"], "csv mean")
                found += 1
            else:
                assert r["mean"] == ""
assert found >= 3, found
print("CSV: %d blocks, the method table matches the JSON" % len(blocks))
PY

note "run: a failed run with its stderr tail; prefixes"
"$HS" expand grid.cfg --format json > expand.json
broken=$($PY -c '
import json
print([r["id"] for r in json.load(open("expand.json"))["runs"]
       if r["params"]["method"] == "broken"][0])')
expect_exit 0 "$AN" run "$STORE" "${broken:0:6}" --format json -o run.json
$PY - "$broken" <<'PY'
import json, sys
d = json.load(open("run.json"), parse_constant=lambda x: 1 / 0)
assert d["run"]["run_id"] == sys.argv[1] and d["run"]["status"] == "failed", d["run"]
assert d["run"]["failure_class"] == "nonzero_exit" and d["run"]["exit_code"] == 3
assert "failing on purpose" in d["stderr_tail"], d
assert d["params"]["method"] == "broken"
print("run: status, class, exit code and stderr tail")
PY
expect_exit 0 "$AN" run "$broken" "$STORE" --format text   # either order
grep -q "failing on purpose" last.out || fail "run text lacks the stderr tail"
expect_exit 2 "$AN" run "$STORE" ""
expect_exit 2 "$AN" run "$STORE" 0123456789abcdef
grep -q "no run of sweep analysis" last.err || fail "unknown id: $(cat last.err)"
# a one-digit prefix that several ids share
prefix=$($PY -c '
import collections, json
ids = [r["id"] for r in json.load(open("expand.json"))["runs"]]
print(collections.Counter(i[0] for i in ids).most_common(1)[0][0])')
expect_exit 2 "$AN" run "$STORE" "$prefix"
grep -q "ambiguous" last.err || fail "ambiguous prefix: $(cat last.err)"

note "exit codes and messages"
expect_exit 0 "$AN" --help
expect_exit 0 "$AN" report --help
grep -q -- "--ddof" last.out || fail "report --help lacks --ddof"
expect_exit 0 "$AN" leaderboard --help
expect_exit 0 "$AN" run --help
expect_exit 2 "$AN"
expect_exit 2 "$AN" bogus "$STORE"
expect_exit 2 "$AN" report "$STORE" --format xml
expect_exit 2 "$AN" report "$STORE" --target nope
grep -q "'nope' is not a metric of sweep analysis" last.err || fail "$(cat last.err)"
expect_exit 2 "$AN" report "$STORE" --target acc_norm
grep -q "ambiguous" last.err || fail "suffix ambiguity: $(cat last.err)"
expect_exit 0 "$AN" report "$STORE" --target hellaswag/acc_norm --format json -o suffix.json
expect_exit 2 "$AN" report "$STORE" --by nope
expect_exit 2 "$AN" leaderboard "$STORE" --baseline method=int8
grep -q "no run has method = 'int8'" last.err || fail "$(cat last.err)"
expect_exit 3 "$AN" report missing.h5
grep -q "missing.h5" last.err || fail "$(cat last.err)"
echo "not a store" > fake.h5
expect_exit 3 "$AN" report fake.h5
grep -q "fake.h5" last.err || fail "$(cat last.err)"

note "--avg: only the named top-level tasks, never their subtasks"
expect_exit 0 "$AN" leaderboard "$STORE" --avg mmlu,hellaswag/acc_norm,arc_easy --format json -o avg.json
$PY - "$STORE" <<'PY'
import json, sys, h5py, numpy as np
d = json.load(open("avg.json"), parse_constant=lambda x: 1 / 0)
comp = d["settings"]["average"]["components"]
assert [c["metric"] for c in comp] == ["results/lm_eval/mmlu/acc", "results/lm_eval/hellaswag/acc_norm",
                                       "results/lm_eval/arc_easy/acc"], comp
assert comp[2]["not_used"] == "acc_norm", comp
with h5py.File(sys.argv[1], "r") as f:
    names = list(f["metrics/names"].asstr()[:])
    vals = f["metrics/values"][:]
    ids = list(f["runs/run_id"].asstr()[:])
for g in d["groups"]:
    for r in g["ranking"]["table"]:
        if r["rank"] is None:
            continue
        row = vals[ids.index(r["run_id"])]
        want = np.mean([row[names.index(m["metric"])] for m in comp])
        assert abs(r["avg"] - want) < 1e-12, (r["avg"], want)
print("--avg: 3 tasks, mmlu without its subtasks, the average recomputed")
PY
expect_exit 2 "$AN" leaderboard "$STORE" --avg mmlu_nope

note "repeated runs: the leaderboard's mean over seed against pandas/scipy"
cat > seeds.cfg <<CFG
name = "seeds";
run = { argv = ["python3", "$WORKLOAD"]; results = ["{run_dir}/result.json"]; timeout = 60;
        retries = 0; };
axes = {
  method = {
    fp16 = { mode = "analysis"; };
    taylor = { mode = "analysis"; fail_seed = 2; samples = 256; axes = { seq = [16, 256]; }; };
    layerwise = { mode = "analysis"; axes = { seq = [16, 256]; samples = [128, 512]; }; };
    broken = { mode = "fail"; };
  };
  seed = [0, 1, 2, 3];
};
constants = { model = "llama-3-8b"; };
analysis = { target = "acc"; secondary = "ppl"; baseline = "method=fp16"; };
CFG
expect_exit 1 "$HS" run seeds.cfg --progress none
SEEDS=sweeps/seeds/sweep.h5
expect_exit 0 "$AN" leaderboard "$SEEDS" --format json -o seeds.json
expect_exit 0 "$AN" leaderboard "$SEEDS" --format json --ddof 0 -o seeds0.json
expect_exit 0 "$AN" leaderboard "$SEEDS" --format json --over none -o seeds_none.json
expect_exit 0 "$AN" leaderboard "$SEEDS" --format text -o seeds.txt
expect_exit 0 "$AN" leaderboard "$SEEDS" --format text --by none -o seeds_noby.txt
cmp <(sed -n '/^Ranking by the mean/,/^Per-task/p' seeds.txt) \
    <(sed -n '/^Ranking by the mean/,/^Per-task/p' seeds_noby.txt) ||
    fail "--by none changed the ranking by the mean of a one-model sweep"
grep -q "Ranking by the mean over seed" seeds.txt || fail "no ranking by the mean in text"
grep -q "Each row is the mean over seed" seeds.txt || fail "no passkey means in text"
expect_exit 2 "$AN" leaderboard "$SEEDS" --over method
grep -q "is the method axis" last.err || fail "--over method: $(cat last.err)"
expect_exit 2 "$AN" leaderboard "$SEEDS" --over nope
$PY - "$SEEDS" <<'PY'
import json, math, sys, warnings
import h5py, numpy as np, pandas as pd
from scipy import stats

warnings.simplefilter("ignore", RuntimeWarning)  # scipy on fp16's runs, which are all equal
with h5py.File(sys.argv[1], "r") as f:
    codes = {v: k for k, v in h5py.check_enum_dtype(f["runs/status"].dtype).items()}
    df = pd.DataFrame({"run_id": f["runs/run_id"].asstr()[:], "index": f["runs/index"][:],
                       "status": [codes[c] for c in f["runs/status"][:]]})
    for name, ds in f["params"].items():
        v = ds.asstr()[:] if ds.dtype.kind == "S" else ds[:]
        df[name] = [str(x) if ds.dtype.kind == "S" else (None if x == np.iinfo(np.int64).min else x)
                    for x in v]
    names = list(f["metrics/names"].asstr()[:])
    vals = f["metrics/values"][:len(df), :len(names)]
df["acc"] = vals[:, names.index("acc")]
df["ppl"] = vals[:, names.index("ppl")]
pk = ["results/kv/passkey_retrieval/depth_accuracy/" + d for d in ("0.1", "0.5", "0.9")]
pk.append("results/kv/passkey_retrieval/accuracy")
for m in pk:
    df[m] = vals[:, names.index(m)]
assert len(df) == 4 * (1 + 2 + 4 + 1), len(df)
df["config"] = [(r.method, r.seq, r.samples) for r in df.itertuples()]
df["valid"] = (df.status == "ok") & np.isfinite(df.acc)


def close(got, want, what):
    if want is None or (isinstance(want, float) and math.isnan(want)):
        assert got is None, (what, got, want)
        return
    assert got is not None and abs(got - want) <= 1e-12 + 1e-9 * abs(want), (what, got, want)


def check(path, ddof):
    d = json.load(open(path), parse_constant=lambda x: 1 / 0)
    assert d["settings"]["over"] == "seed"
    (g,) = d["groups"]
    rows = g["across"]["table"]
    cfgs = {c: sub for c, sub in df.groupby("config", sort=False, dropna=False)}
    assert len(rows) == len(cfgs) == 8, len(rows)
    base = df[(df.method == "fp16") & df.valid]
    stat = {}
    for c, sub in cfgs.items():
        v = sub[sub.valid]
        stat[c] = (v.acc.mean() if len(v) else math.nan, sub["index"].min())
    order = sorted(cfgs, key=lambda c: (math.isnan(stat[c][0]), -np.nan_to_num(stat[c][0]), stat[c][1]))
    n = 0
    for row, c in zip(rows, order):
        sub = cfgs[c]
        v = sub[sub.valid]
        assert set(row["run_ids"].split(",")) == set(sub.run_id), (row, c)
        assert row["n"] == len(v) and row["runs"] == len(sub) == 4, (row, c)
        if not len(v):
            assert row["rank"] is None and c[0] == "broken", row
            continue
        assert row["rank"] == 1 + sum(1 for o in cfgs if stat[o][0] > stat[c][0]), (row, c)
        close(row["target_mean"], v.acc.mean(), "mean")
        close(row["target_std"], v.acc.std(ddof=ddof), "std")
        close(row["target_ci95"], stats.t.ppf(0.975, len(v) - 1) * v.acc.std(ddof=1) / math.sqrt(len(v)), "ci")
        close(row["target_min"], v.acc.min(), "min")
        close(row["target_max"], v.acc.max(), "max")
        close(row["secondary_mean"], v.ppl.mean(), "ppl mean")
        n += 7
        if c[0] == "fp16":
            assert row["config"] == "fp16 (baseline)" and row["delta_target"] is None
            continue
        close(row["delta_target"], (v.acc.mean() - base.acc.mean()) * 100, "delta pp")
        close(row["delta_secondary"], v.ppl.mean() - base.ppl.mean(), "delta ppl")
        w = stats.ttest_ind(v.acc, base.acc, equal_var=False)
        close(row["welch_t"], float(w.statistic), "welch t")
        close(row["p_welch"], float(w.pvalue), "welch p")
        n += 4
    # passkey by depth: each configuration's mean, in the order of the ranking by the mean;
    # every run is still listed
    byc = g["passkey"]["by_config"]
    assert [r["config"] for r in byc] == [r["config"] for r in rows]
    for r, c in zip(byc, order):
        v = cfgs[c][cfgs[c].valid]
        assert r["n"] == len(v)
        for m in pk:
            close(r[m if m in r else "overall"], v[m].mean() if len(v) else None, "passkey mean " + m)
            n += 1
    assert len(g["passkey"]["table"]) == df.valid.sum()
    notes = " ".join(g["across"]["notes"])
    assert "2 configurations had runs that were not valid" in notes, notes
    # the best single run is a taylor run, the best mean is fp16's (taylor's seed noise)
    best = df[df.valid].sort_values(["acc", "index"], ascending=[False, True]).iloc[0]
    if order[0][0] != best.method:
        assert "The best single run (%s)" % best.run_id in notes, notes
    return n


n = check("seeds.json", 1) + check("seeds0.json", 0)
none = json.load(open("seeds_none.json"))
assert "across" not in none["groups"][0] and "over" not in none["settings"]
print("leaderboard over seed: %d numbers agree with pandas/scipy (ddof 1 and 0); --over none" % n)
PY

note "shards of one sweep, a directory of them, and a store of another sweep"
cat > small.cfg <<CFG
name = "small";
run = { argv = ["python3", "$WORKLOAD"]; results = ["{run_dir}/result.json"]; timeout = 60; };
axes = { x = [0, 1, 2, 3]; };
constants = { y = 0.5; };
CFG
expect_exit 0 "$HS" run small.cfg --progress none
expect_exit 0 "$HS" run small.cfg --progress none --dir sharded --shard 0/2
expect_exit 0 "$HS" run small.cfg --progress none --dir sharded --shard 1/2
for src in sweeps/small/sweep.h5 sharded; do
    expect_exit 0 "$AN" report "$src" --target score --secondary twice --by none --format json
    $PY -c "
import json; d = json.load(open('$T/last.out'))
g = d['groups'][0]
assert g['totals'] == {'runs': 4, 'valid': 4, 'invalid': 0}, g['totals']
print(json.dumps({'groups': d['groups'], 'cross': d['cross_group']}, sort_keys=True))" > "$T/$(basename $src).cmp"
done
cp sweeps/analysis/sweep.h5 sharded/shards/zz.h5
expect_exit 3 "$AN" report sharded --target score
grep -q "belongs to sweep" last.err || fail "mixed sweeps: $(cat last.err)"

note "a store being written (SWMR)"
cat > live.cfg <<CFG
name = "live";
run = { argv = ["python3", "$WORKLOAD"]; results = ["{run_dir}/result.json"]; timeout = 600; };
axes = { step = { first = { seconds = 0.0; }; later = { gate_dir = "$T/gates"; }; };
         x = [1, 2]; };
constants = { mode = "sleep"; };
CFG
mkdir gates
"$HS" run live.cfg --progress none > live.out 2>&1 &
pid=$!
# The "later" runs wait for their gate (gates/all): the store is read while the sweep is
# stuck in them, once it shows the 2 "first" runs ok and one "later" run running. Both must
# be seen: rows are committed in batches, so "ok 2" can be on disk while the next run's
# "running" is not yet (then the report would find 2 pending).
live_state() {
    local st
    st=$("$HS" status sweeps/live/sweep.h5 --json 2>/dev/null) || true  # 1 while not all ok
    [[ $st == *'"ok":2,'* && $st == *'"running":1,'* ]]
}
end=$((SECONDS + 120))
until live_state; do
    kill -0 "$pid" 2>/dev/null || fail "the live sweep ended early: $(cat live.out)"
    if ((SECONDS >= end)); then
        touch gates/all
        fail "the live sweep never showed 2 ok and 1 running"
    fi
    sleep 0.05
done
expect_exit 0 "$AN" report sweeps/live/sweep.h5 --target score --by none --format json -o live.json
touch gates/all
wait $pid || fail "the live sweep failed: $(cat live.out)"
$PY -c "
import json; d = json.load(open('live.json'))
t = d['groups'][0]['totals']
assert t == {'runs': 4, 'valid': 2, 'invalid': 2, 'invalid_reasons': [
    {'reason': 'running', 'runs': 1}, {'reason': 'pending (not run yet)', 'runs': 1}]}, t
print('live store: 2 of 4 valid, 1 running, 1 pending while the sweep ran')"
echo PASS
