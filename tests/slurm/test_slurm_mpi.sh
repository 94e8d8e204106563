#!/usr/bin/env bash
# The MPI batch script completes a sweep inside a real allocation, launched with mpirun and
# with srun (PMIx).
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/lib.sh"
source "$HERE/slurm_env.sh"
need_h5py
slurm_start "$T/slurm"
trap 'slurm_stop; cleanup' EXIT
cat > grid.cfg <<CFG
name = "mpijob";
run = { argv = ["python3", "$WORKLOAD"]; results = ["{run_dir}/result.json"]; };
axes = { x = [$(seq -s, 0 19)]; };
CFG
export HYPERSWEEP=$HS
for launcher in mpirun srun; do
    if [[ $launcher == srun ]] && ! srun --mpi=list 2>&1 | grep -q pmix; then
        note "srun has no PMIx here: skipping the srun launch"
        continue
    fi
    note "launcher $launcher"
    job=$(HS_LAUNCHER=$launcher HS_DIR=sweeps/$launcher sbatch --parsable -n 3 \
          "$HS_SOURCE_DIR/slurm/hypersweep.sbatch" grid.cfg)
    wait_job "$job" 180 || fail "job $job did not finish"
    log=hypersweep-hypersweep-$job.out
    grep -q "hypersweep exited with 0" "$log" || { cat "$log" >&2; fail "the sweep did not complete"; }
    $PY - "sweeps/$launcher/sweep.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    ok = h5py.check_enum_dtype(f["runs/status"].dtype)["ok"]
    assert len(f["runs/run_id"]) == 20 and (f["runs/status"][:] == ok).all()
    assert set(f["runs/rank"][:].tolist()) == {1, 2}, "two workers ran the runs"
PY
done
echo PASS
