#!/usr/bin/env bash
# A job array over a 40-run grid in 8 shards, on a real local Slurm whose MaxArraySize is 5
# (so submit-array.sh must explain and split it over two arrays), merged by a dependent
# job: every run ok exactly once.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/lib.sh"
source "$HERE/slurm_env.sh"
need_h5py
export HS_MAX_ARRAY_SIZE=5   # 8 shards: arrays of 5 and 3
slurm_start "$T/slurm"
trap 'slurm_stop; cleanup' EXIT

cat > grid.cfg <<CFG
name = "array";
run = { argv = ["python3", "$WORKLOAD"]; results = ["{run_dir}/result.json"]; };
axes = { x = [$(seq -s, 0 39)]; };
constants = { mode = "sleep"; seconds = 0.2; };
CFG
mkdir markers
export HS_TEST_MARKERS=$T/markers HYPERSWEEP=$HS
out=$(bash "$HS_SOURCE_DIR/slurm/submit-array.sh" grid.cfg 8 2> submit.err) || { cat submit.err; fail "submit-array.sh failed"; }
cat submit.err >&2
grep -q "exceed this site's MaxArraySize (5: task ids 0..4)" submit.err || fail "the split was not explained"
read -r -a jobs <<< "$out"
[[ ${#jobs[@]} -eq 3 ]] || fail "expected two arrays and a merge job, got: $out"
merge=${jobs[2]}
wait_job "$merge" 240 || fail "the merge job did not finish: $(squeue)"
cat hypersweep-merge-*.out >&2
grep -q "merged 8 shards into .*: 40 cells, 40 committed (40 ok)" hypersweep-merge-*.out \
    || fail "merge: $(cat hypersweep-merge-*.out)"
for f in markers/*; do
    [[ $(grep -vc '^done$' "$f") -eq 1 ]] || fail "run $(basename "$f") ran $(grep -vc '^done$' "$f") times"
done
[[ $(ls markers | wc -l) -eq 40 ]] || fail "$(ls markers | wc -l) runs ran, expected 40"
$PY - <<'PY'
import h5py
with h5py.File("sweeps/array/sweep.h5", "r") as f:
    ok = h5py.check_enum_dtype(f["runs/status"].dtype)["ok"]
    assert len(f["runs/run_id"]) == 40 and (f["runs/status"][:] == ok).all()
print("array of 8 shards in 2 arrays, merged: 40 runs ok, each once")
PY
echo PASS
