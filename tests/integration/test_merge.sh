#!/usr/bin/env bash
# merge: shard stores into one store (or a file of virtual datasets). The later ok wins when
# two shards hold a cell, and the merge says so; cells no shard committed are listed; shards
# of another sweep are refused; the merged store is a normal store that resumes.
source "$(dirname "$0")/lib.sh"
need_h5py
cat > grid.cfg <<CFG
name = "shards";
run = { argv = ["python3", "$WORKLOAD"]; results = ["{run_dir}/result.json"]; };
axes = { x = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]; };
CFG
S=sweeps/shards/shards/shards   # DIR/shards/NAME.shard-I-of-N.h5
for i in 0 1 2; do expect_exit 0 "$HS" run grid.cfg --shard "$i/4" --progress none; done
note "shard 3/4 missing: its cells are listed, exit 1"
expect_exit 1 "$HS" merge $S.shard-*.h5 -o merged.h5
grep -q "merged 3 shards into merged.h5: 12 cells, 9 committed (9 ok)" last.out || fail "$(cat last.out)"
[[ $(grep -c "not committed by any shard" last.out) -eq 3 ]] || fail "missing cells: $(cat last.out)"
note "the same cells also in another sharding: the later ok wins, and it is reported"
sleep 1.1
expect_exit 0 "$HS" run grid.cfg --shard 1/2 --progress none
expect_exit 0 "$HS" run grid.cfg --shard 3/4 --progress none
expect_exit 0 "$HS" merge $S.shard-*.h5 -o merged.h5 --force
grep -q "12 cells, 12 committed (12 ok), 6 held by more than one shard, 0 not committed" last.out \
    || fail "$(cat last.out)"
[[ $(grep -c "kept .*, the later" last.out) -eq 6 ]] || fail "$(cat last.out)"
$PY - $S.shard-*.h5 <<'PY'
import sys, h5py
latest = {}
for path in sys.argv[1:]:
    with h5py.File(path, "r") as f:
        for rid, fin in zip(f["runs/run_id"][:], f["runs/finished"][:]):
            latest[rid] = max(latest.get(rid, 0.0), fin)
with h5py.File("merged.h5", "r") as m:
    for rid, fin in zip(m["runs/run_id"][:], m["runs/finished"][:]):
        assert fin == latest[rid], (rid, fin, latest[rid])
print("every merged row is the latest ok of the shards that hold it")
PY
expect_exit 0 "$HS" merge $S.shard-0-of-4.h5 $S.shard-1-of-4.h5 $S.shard-2-of-4.h5 $S.shard-3-of-4.h5 \
    -o view.h5 --virtual
$PY - <<'PY'
import h5py, numpy as np
with h5py.File("merged.h5", "r") as m, h5py.File("view.h5", "r") as v:
    assert len(m["runs/run_id"]) == 12 and len(v["runs/run_id"]) == 12
    ok = h5py.check_enum_dtype(m["runs/status"].dtype)["ok"]
    assert (m["runs/status"][:] == ok).all() and (v["runs/status"][:] == ok).all()
    def by_id(f):
        ids = [x.decode() for x in f["runs/run_id"][:]]
        names = [x.decode() for x in f["metrics/names"][:]]
        vals = f["metrics/values"][:]
        return {i: dict(zip(names, vals[k])) for k, i in enumerate(ids)}
    a, b = by_id(m), by_id(v)
    assert a.keys() == b.keys()
    for i in a:
        assert a[i]["score"] == b[i]["score"] and a[i]["index"] == b[i]["index"], i
    ids = [x.decode() for x in m["runs/run_id"][:]]
    x = m["params/x"][:]
    assert sorted(x.tolist()) == list(range(12))
print("merged store and virtual view agree on all 12 runs")
PY
"$HS" status view.h5 > st.txt; grep -q "ok *12" st.txt || fail "status of the view: $(cat st.txt)"
note "the merged store is a normal store: resuming it runs nothing"
rm -rf markers; mkdir markers; export HS_TEST_MARKERS=$T/markers
expect_exit 0 "$HS" run grid.cfg --store merged.h5 --progress none
[[ $(ls markers | wc -l) -eq 0 ]] || fail "resuming the merged store ran runs again"
expect_exit 3 "$HS" run grid.cfg --store view.h5 --progress none
grep -q "virtual view" last.err || fail "$(cat last.err)"
note "shards of two sweeps are refused"
sed 's/name = "shards"/name = "other"/' grid.cfg > other.cfg
expect_exit 0 "$HS" run other.cfg --shard 0/4 --store other0.h5 --progress none
expect_exit 2 "$HS" merge $S.shard-0-of-4.h5 other0.h5 -o mixed.h5
grep -q "refusing to mix sweeps" last.err || fail "$(cat last.err)"
[[ ! -e mixed.h5 ]] || fail "a refused merge wrote its output"
echo PASS
