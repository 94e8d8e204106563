#!/usr/bin/env bash
# Plain sweeps: 200 runs with 1, 3 and 5 ranks. Every run ok exactly once, one row per cell,
# h5py reads the store, every metric equals what the workload wrote.
source "$(dirname "$0")/lib.sh"
need_h5py

cat > grid.cfg <<CFG
name = "plain";
run = { argv = ["python3", "$WORKLOAD"]; results = ["{run_dir}/result.json"]; timeout = 60; };
axes = { x = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]; y = [0.5, 1.5, 2.5, 3.5]; tag = ["a", "b", "c", "d", "e"]; };
CFG

for ranks in 1 3 5; do
    note "200 runs on $ranks rank(s)"
    rm -rf sweeps markers; mkdir markers
    export HS_TEST_MARKERS=$T/markers
    if [[ $ranks -eq 1 ]]; then
        expect_exit 0 "$HS" run grid.cfg --progress log
    else
        expect_exit 0 hs_mpi "$ranks" run grid.cfg --progress log
    fi
    grep -q "ok *200" last.out || fail "summary does not say 200 ok: $(cat last.out)"
    # exactly one execution per run
    [[ $(ls markers | wc -l) -eq 200 ]] || fail "$(ls markers | wc -l) runs executed, expected 200"
    for f in markers/*; do
        [[ $(grep -vc '^done$' "$f") -eq 1 ]] || fail "run $(basename "$f") executed $(grep -vc '^done$' "$f") times"
    done
    "$HS" expand grid.cfg --format json > expand.json
    $PY - "$ranks" <<'PY'
import json, sys, h5py, numpy as np
ranks = int(sys.argv[1])
runs = {r["id"]: r for r in json.load(open("expand.json"))["runs"]}
with h5py.File("sweeps/plain/sweep.h5", "r", swmr=True) as f:
    ids = [x.decode() for x in f["runs/run_id"][:]]
    assert len(ids) == 200 and len(set(ids)) == 200, "one row per cell"
    assert set(ids) == set(runs), "the rows are the grid's cells"
    status = f["runs/status"][:]
    mapping = h5py.check_enum_dtype(f["runs/status"].dtype)
    assert all(s == mapping["ok"] for s in status), "every run ok"
    names = [x.decode() for x in f["metrics/names"][:]]
    values = f["metrics/values"][:]
    x = f["params/x"][:]; y = f["params/y"][:]
    tag = [t.decode() for t in f["params/tag"][:]]
    ranks_used = set(f["runs/rank"][:].tolist())
    for i, rid in enumerate(ids):
        p = runs[rid]["params"]
        assert x[i] == p["x"] and y[i] == p["y"] and tag[i] == p["tag"], rid
        m = dict(zip(names, values[i]))
        assert m["score"] == p["x"] * 1.5 + p["y"] / 4, (rid, m["score"])
        assert m["twice"] == 2 * p["x"], rid
        assert m["index"] == runs[rid]["index"], rid
    expect = {0} if ranks == 1 else set(range(1, ranks))
    assert ranks_used == expect, (ranks_used, expect)
print("h5py: 200 rows, every metric as written, ranks", sorted(ranks_used))
PY
done

note "resume: nothing runs again"
rm -rf markers; mkdir markers
expect_exit 0 hs_mpi 3 run grid.cfg --progress none
[[ $(ls markers | wc -l) -eq 0 ]] || fail "a resumed complete sweep ran $(ls markers | wc -l) runs again"
grep -q "200 of them before this invocation" last.out || fail "summary: $(cat last.out)"

note "a grown grid runs only its new cells"
sed -i 's/x = \[0, 1, 2, 3, 4, 5, 6, 7, 8, 9\]/x = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]/' grid.cfg
expect_exit 0 hs_mpi 3 run grid.cfg --progress none
[[ $(ls markers | wc -l) -eq 20 ]] || fail "the grown grid ran $(ls markers | wc -l) runs, expected 20"

note "status and export"
expect_exit 0 "$HS" status sweeps/plain/sweep.h5
grep -q "ok *220" last.out || fail "status: $(cat last.out)"
expect_exit 0 "$HS" export sweeps/plain/sweep.h5 --format json -o export.json
expect_exit 0 "$HS" export sweeps/plain/sweep.h5 --format csv -o export.csv
$PY - <<'PY'
import json, csv
d = json.load(open("export.json"))   # strict: Python's json would accept NaN, so check the text
assert "NaN" not in open("export.json").read()
assert len(d["runs"]) == 220 and all(r["status"] == "ok" for r in d["runs"])
rows = list(csv.DictReader(open("export.csv")))
assert len(rows) == 220 and "score" in rows[0] and "param:x" in rows[0]
print("export: 220 runs in JSON and CSV")
PY

note "another sweep's store is refused with status 3"
sed -i 's/name = "plain"/name = "other"/' grid.cfg
expect_exit 3 "$HS" run grid.cfg --store sweeps/plain/sweep.h5
grep -q "belongs to sweep 'plain', not 'other'" last.err || fail "message: $(cat last.err)"
echo PASS
