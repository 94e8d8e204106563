#!/usr/bin/env bash
# Killed and restarted: SIGKILL the whole job (mpirun, its ranks and every run they
# started) at random moments, several times, then let it finish. Every run ends ok exactly
# once, and no run that was already ok executes again (counted with marker files).
source "$(dirname "$0")/lib.sh"
need_h5py

cat > grid.cfg <<CFG
name = "killed";
run = { argv = ["python3", "$WORKLOAD"]; results = ["{run_dir}/result.json"]; timeout = 60; };
axes = { x = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]; seconds = [0.05, 0.2, 0.4, 0.6, 0.9]; };
constants = { mode = "sleep"; };
CFG
mkdir markers
export HS_TEST_MARKERS=$T/markers
RANDOM=${HS_TEST_SEED:-4242}
for k in 1 2 3 4 5 6; do
    setsid "${MPIRUN[@]}" -n 3 "$HS" run grid.cfg --progress none > "run$k.log" 2>&1 &
    pid=$!
    sleep "$(( RANDOM % 30 / 10 + 1 )).$(( RANDOM % 10 ))"
    # the whole session: mpirun, the ranks, and the runs (each in its own process group)
    pkill -KILL -s "$pid" || true
    wait "$pid" 2>/dev/null || true
    sleep 0.3
    pkill -KILL -s "$pid" 2>/dev/null || true
    # what was committed as ok when the job died (read from the killed store)
    if [[ -f sweeps/killed/sweep.h5 ]]; then
        "$HS" export sweeps/killed/sweep.h5 --format json --status ok -o "ok$k.json" \
            || fail "the killed store cannot be read"
    else
        echo '{"runs": []}' > "ok$k.json"
    fi
    for f in markers/*; do [[ -e $f ]] && echo "$(basename "$f") $(grep -vc '^done$' "$f")"; done > "markers$k.txt"
    note "kill $k: $(grep -c '"status":"ok"' "ok$k.json" || true) ok committed, $(wc -l < "markers$k.txt") runs started"
done
expect_exit 0 hs_mpi 3 run grid.cfg --progress none
grep -q "repaired" last.err || note "(the last kill left nothing to repair)"
"$HS" expand grid.cfg --format json > expand.json
$PY - <<'PY'
import glob, json, os, h5py
cells = {r["id"] for r in json.load(open("expand.json"))["runs"]}
final = {f: sum(1 for l in open(os.path.join("markers", f)) if l.strip() != "done")
         for f in os.listdir("markers")}
with h5py.File("sweeps/killed/sweep.h5", "r") as f:
    ids = [x.decode() for x in f["runs/run_id"][:]]
    ok = h5py.check_enum_dtype(f["runs/status"].dtype)["ok"]
    assert sorted(ids) == sorted(cells), "one row per cell"
    assert all(s == ok for s in f["runs/status"][:]), "every run ok"
    names = [x.decode() for x in f["metrics/names"][:]]
    vals = f["metrics/values"][:]
    assert all(v == v for v in vals[:, names.index("score")]), "every ok row has its metrics"
reran = 0
for k in range(1, 7):
    okk = {r["run_id"] for r in json.load(open("ok%d.json" % k))["runs"]}
    before = dict(line.split() for line in open("markers%d.txt" % k) if line.strip())
    for rid in okk:
        assert rid in before, ("ok in the store but never executed?", rid)
        if final[rid] != int(before[rid]):
            reran += 1
            print("run", rid, "was ok after kill", k, "but executed again")
assert reran == 0
print("every run ok exactly once; no ok run executed again; %d executions for %d runs"
      % (sum(final.values()), len(cells)))
PY
echo PASS
