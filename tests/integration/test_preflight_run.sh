#!/usr/bin/env bash
# run --preflight: GPUs that fail the check are left out of the sweep. Without a GPU here,
# an MPMD launch makes the difference: worker 1 gets no GPU (nothing to test: it passes),
# worker 2 is told its GPU is "0", which does not work (it fails and is left out). The
# sweep then runs entirely on worker 1 (--share-gpus: the two workers see different lists).
# When every worker fails, nothing runs, exit 2.
source "$(dirname "$0")/lib.sh"
need_h5py
if [[ -n "$(ls /dev/nvidia[0-9]* 2>/dev/null)" ]]; then
    echo "SKIP: this node has a GPU; the scenario needs one that fails" >&2
    exit 77
fi
cat > grid.cfg <<CFG
name = "preflight";
run = { argv = ["python3", "$WORKLOAD"]; results = ["{run_dir}/result.json"]; };
axes = { x = [0, 1, 2, 3, 4, 5, 6, 7]; };
CFG
note "one good worker, one failing GPU"
rc=0
"${MPIRUN[@]}" -n 1 "$HS" run grid.cfg --preflight --share-gpus --progress none : \
    -n 1 -x CUDA_VISIBLE_DEVICES= "$HS" run grid.cfg --preflight --share-gpus --progress none : \
    -n 1 -x CUDA_VISIBLE_DEVICES=0 "$HS" run grid.cfg --preflight --share-gpus --progress none \
    > run.out 2> run.err || rc=$?
[[ $rc -eq 0 ]] || { cat run.out run.err >&2; fail "exit $rc"; }
grep -q "1 of 2 workers failed the preflight and are left out" run.err || fail "$(cat run.err)"
grep -Eq "^ +2 .*FAIL" run.err || fail "the preflight table shows no failing rank 2: $(cat run.err)"
$PY - <<'PY'
import h5py
with h5py.File("sweeps/preflight/sweep.h5", "r") as f:
    ok = h5py.check_enum_dtype(f["runs/status"].dtype)["ok"]
    assert (f["runs/status"][:] == ok).all()
    assert set(f["runs/rank"][:].tolist()) == {1}, f["runs/rank"][:]
print("8 runs ok, all on the worker whose preflight passed")
PY
note "every worker fails: nothing runs, exit 2, no store"
rm -rf sweeps
expect_exit 2 hs_mpi 3 run grid.cfg --preflight --gpus-per-node 2
grep -q "every worker failed its preflight" last.err || fail "$(cat last.err)"
[[ ! -e sweeps/preflight/sweep.h5 ]] || fail "a sweep with no usable GPU wrote a store"
echo PASS
