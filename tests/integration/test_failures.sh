#!/usr/bin/env bash
# Failures: every way a run can end gets its status and class, and is retried or not as the
# policy says (retries = 2: retryable failures run 3 times, final ones once).
source "$(dirname "$0")/lib.sh"
need_h5py

# The timeout is generous: on a loaded machine a run that ends on its own may take seconds
# just to start. The hanging run gets its short timeout in a grid of its own (below).
cat > grid.cfg <<CFG
name = "failures";
run = { argv = ["python3", "$WORKLOAD"]; results = ["{run_dir}/result.json"];
        timeout = 300; grace = 1; retries = 2; log_limit = "1M"; };
axes = { mode = ["ok", "fail", "signal", "badjson", "nanjson", "flood", "noresult",
                 "warn", "flaky"]; };
constants = { x = 3; mib = 8; };
CFG
mkdir markers
export HS_TEST_MARKERS=$T/markers
expect_exit 1 hs_mpi 3 run grid.cfg --progress none
cp last.out summary.txt
"$HS" expand grid.cfg --format json > expand.json
$PY - <<'PY'
import json, os, h5py, numpy as np
runs = {r["params"]["mode"]: r for r in json.load(open("expand.json"))["runs"]}
expect = {  # mode: (status, class, executions)
    "ok": ("ok", "", 1),
    "fail": ("failed", "nonzero_exit", 3),
    "signal": ("crashed", "signal", 3),
    "badjson": ("invalid_result", "bad_json", 3),
    "nanjson": ("ok", "", 1),
    "flood": ("ok", "", 1),
    "noresult": ("invalid_result", "missing_result", 3),
    "warn": ("suspect", "warnings", 1),
    "flaky": ("ok", "", 2),
}
with h5py.File("sweeps/failures/sweep.h5", "r") as f:
    names = {v: k for k, v in h5py.check_enum_dtype(f["runs/status"].dtype).items()}
    ids = [x.decode() for x in f["runs/run_id"][:]]
    st = f["runs/status"][:]
    fc = [x.decode() for x in f["runs/failure_class"][:]]
    att = f["runs/attempts"][:]
    tails = [x.decode(errors="replace") for x in f["runs/stderr_tail"][:]]
    mnames = [x.decode() for x in f["metrics/names"][:]]
    vals = f["metrics/values"][:]
    for mode, (status, cls, execs) in expect.items():
        rid = runs[mode]["id"]
        i = ids.index(rid)
        got = (names[st[i]], fc[i])
        assert got == (status, cls), (mode, got)
        n = sum(1 for l in open(os.path.join("markers", rid)) if l.strip() != "done")
        assert n == execs, (mode, "executions", n, execs)
        assert att[i] == execs, (mode, "attempts", att[i])
    i = ids.index(runs["fail"]["id"])
    assert "failing on purpose" in tails[i], tails[i]
    i = ids.index(runs["nanjson"]["id"])
    m = dict(zip(mnames, vals[i]))
    assert np.isnan(m["score"]) and m["twice"] == np.inf and m["neg"] == -np.inf, m
print("every failure mode has its status, class and number of attempts")
PY
# the flooding run's log is capped, head and tail kept, with a note
log=sweeps/failures/runs/$($PY -c 'import json;print([r["id"] for r in json.load(open("expand.json"))["runs"] if r["params"]["mode"]=="flood"][0])')/stdout.log
size=$(stat -c %s "$log")
(( size > 1000000 && size < 1100000 )) || fail "flood log is $size bytes, expected about 1 MiB"
grep -q "bytes omitted here" "$log" || fail "the capped log has no note"
grep -q "Failures by class" summary.txt || fail "no failure summary: $(cat summary.txt)"
grep -q "failing on purpose" summary.txt || fail "the summary shows no stderr tail"

note "a run that hangs (ignoring SIGTERM) times out, is killed, and is retried"
# It never ends on its own, so its timeout is no race; it may be killed before the workload
# even started (a slow start), so its attempts are counted by the runner's rotated logs,
# not by the workload's markers.
cat > hang.cfg <<CFG
name = "hang";
run = { argv = ["python3", "$WORKLOAD"]; results = ["{run_dir}/result.json"];
        timeout = 2; grace = 1; retries = 2; };
axes = { mode = ["hang"]; };
CFG
expect_exit 1 "$HS" run hang.cfg --progress none
$PY - <<'PY'
import glob, h5py
with h5py.File("sweeps/hang/sweep.h5", "r") as f:
    names = {v: k for k, v in h5py.check_enum_dtype(f["runs/status"].dtype).items()}
    got = (names[f["runs/status"][0]], f["runs/failure_class"][0].decode(), f["runs/attempts"][0])
    rid = f["runs/run_id"][0].decode()
assert got == ("timeout", "timeout", 3), got
logs = sorted(glob.glob("sweeps/hang/runs/%s/stderr*.log" % rid))
assert len(logs) == 3, logs
print("the hanging run timed out 3 times")
PY

note "a missing program is not retried"
cat > missing.cfg <<'CFG'
name = "missing";
run = { argv = ["/nonexistent/program", "{x}"]; retries = 3; };
axes = { x = [1]; };
CFG
expect_exit 1 "$HS" run missing.cfg --progress none
$PY - <<'PY'
import h5py
with h5py.File("sweeps/missing/sweep.h5", "r") as f:
    assert f["runs/failure_class"][0].decode() == "missing_program"
    assert f["runs/attempts"][0] == 1, f["runs/attempts"][0]
    assert "no such program" in f["runs/message"][0].decode()
PY

note "failed runs run again only with --retry-failed"
rm -f markers/*
expect_exit 1 hs_mpi 3 run grid.cfg --progress none
[[ $(ls markers | wc -l) -eq 0 ]] || fail "a resume without --retry-failed ran $(ls markers) again"
expect_exit 1 hs_mpi 3 run grid.cfg --progress none --retry-failed
[[ -f markers/$($PY -c 'import json;print([r["id"] for r in json.load(open("expand.json"))["runs"] if r["params"]["mode"]=="fail"][0])') ]] || fail "--retry-failed did not rerun the failed run"
echo PASS
