#!/usr/bin/env bash
# A job whose time limit is too short for its sweep: Slurm warns it (SIGUSR1), the master
# stops cleanly (exit 4), the script requeues the job, the next allocations resume the
# store -- and finally the sweep completes with nothing lost and nothing run twice.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/lib.sh"
source "$HERE/slurm_env.sh"
need_h5py
slurm_start "$T/slurm"
trap 'slurm_stop; cleanup' EXIT
cat > grid.cfg <<CFG
name = "timelimit";
run = { argv = ["python3", "$WORKLOAD"]; results = ["{run_dir}/result.json"];
        grace = 2; timeout = 10; };
axes = { x = [$(seq -s, 0 23)]; };
constants = { mode = "sleep"; seconds = 2.5; };
CFG
mkdir markers
export HS_TEST_MARKERS=$T/markers HYPERSWEEP=$HS

note "requeue: the job goes back to the queue (Slurm then waits 2 minutes before it starts it)"
mkdir markers_requeue
job=$(HS_TEST_MARKERS=$T/markers_requeue HS_LAUNCHER=mpirun HS_MARGIN=5 HS_DIR=sweeps/requeue \
      sbatch --parsable -n 3 --time=1 \
      --signal=B:USR1@45 "$HS_SOURCE_DIR/slurm/hypersweep.sbatch" grid.cfg)
for i in $(seq 1 90); do
    scontrol show job "$job" 2>/dev/null | grep -q "Restarts=1" && break
    sleep 1
done
scontrol show job "$job" | grep -q "Restarts=1" || { cat hypersweep-*.out >&2; fail "job $job was not requeued"; }
grep -q "requeued: the next allocation resumes the store" "hypersweep-hypersweep-$job.out" \
    || fail "the script did not say it requeued"
scancel "$job"
wait_job "$job" 30 || true

note "resubmit: allocation after allocation until the sweep is done"
# 24 runs x 2.5 s on 2 workers is 30 s of work; a 1-minute limit with the warning 45 s
# before it leaves each allocation about 15 s
job=$(HS_LAUNCHER=mpirun HS_MARGIN=5 HS_REQUEUE=resubmit HS_SBATCH_ARGS="--signal=B:USR1@45" \
      sbatch --parsable -n 3 --time=1 --signal=B:USR1@45 \
      "$HS_SOURCE_DIR/slurm/hypersweep.sbatch" grid.cfg)
# each allocation resubmits the next; wait until no job of ours is left
for i in $(seq 1 300); do
    squeue -h 2>/dev/null | grep -q . || break
    sleep 1
done
squeue -h | grep -q . && { cat hypersweep-*.out >&2; fail "the jobs did not finish in time"; }
cat hypersweep-hypersweep-*.out | grep "hypersweep.sbatch" >&2
grep -hq "time limit warning (SIGUSR1)" hypersweep-hypersweep-*.out || grep -hq "the time limit is" hypersweep-hypersweep-*.out \
    || fail "no job was warned of its time limit"
grep -hq "resubmitted as job" hypersweep-hypersweep-*.out || fail "no job resubmitted itself"
grep -hq "hypersweep exited with 0" hypersweep-hypersweep-*.out || fail "the sweep never completed"
$PY - <<'PY'
import os, h5py
with h5py.File("sweeps/timelimit/sweep.h5", "r") as f:
    ok = h5py.check_enum_dtype(f["runs/status"].dtype)["ok"]
    ids = [x.decode() for x in f["runs/run_id"][:]]
    assert len(ids) == 24 and (f["runs/status"][:] == ok).all(), "every run ok"
starts = {rid: sum(1 for l in open(os.path.join("markers", rid)) if l.strip() != "done") for rid in ids}
done = {rid: sum(1 for l in open(os.path.join("markers", rid)) if l.strip() == "done") for rid in ids}
assert all(v == 1 for v in done.values()), {k: v for k, v in done.items() if v != 1}
print("24 runs ok; each completed exactly once; %d interrupted and resumed" % sum(v - 1 for v in starts.values()))
PY
echo PASS
