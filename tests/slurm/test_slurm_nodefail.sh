#!/usr/bin/env bash
# A worker rank that dies in the middle of a sweep (SIGKILL, as when its node fails), on a
# real local Slurm of three nodes (three slurmd on this machine):
#   A. mpirun, requeue, 2 of 3 nodes: the job is requeued with the failed node in its
#      ExcNodeList, the next allocation runs without that node and completes the sweep.
#   B. srun, resubmit, all 3 nodes, HS_MAX_NODE_FAILURES=1: the script ends the step that
#      srun keeps, resubmits without excluding (too few nodes would be left), the second
#      failure is one too many and the job gives up; the resume command it prints
#      completes the sweep.
# Every run ends ok, and only the runs in flight when a rank died ran twice. Runs wait on
# gate files, so that each kill comes with every worker in the middle of a run, whatever
# the timing.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/lib.sh"
source "$HERE/slurm_env.sh"
need_h5py
note() { echo "--- [${SECONDS}s] $*" >&2; }
export HS_SLURM_NODES="hs1 hs2 hs3"
slurm_start "$T/slurm"
finish() {
    local rc=$?
    if ((rc != 0)); then   # what the jobs said
        tail -n 30 "$T"/hypersweep-*.out >&2 2>/dev/null || true
        squeue >&2 2>/dev/null || true
    fi
    # release the runs still waiting (orphans of the killed ranks), then the jobs
    touch "$T"/gate_* 2>/dev/null || true
    squeue -h -o %i 2>/dev/null | xargs -r scancel 2>/dev/null || true
    for _ in $(seq 1 30); do squeue -h 2>/dev/null | grep -q . || break; sleep 0.5; done
    slurm_stop
    if [[ -n ${HS_TEST_KEEP:-} ]]; then echo "kept $T" >&2; else cleanup; fi
}
trap finish EXIT
export HYPERSWEEP=$HS
touch "$T/gate_open"

# grid NAME GATES...: one run per gate and x (4 each, the gates in order), each waiting
# for its gate file, $T/GATE
grid() {
    local name=$1 gates
    shift
    gates=$(printf '"'"$T"'/%s", ' "$@")
    cat > "$name.cfg" <<CFG
name = "$name";
run = { argv = ["python3", "$WORKLOAD"]; results = ["{run_dir}/result.json"]; timeout = 300; };
axes = { gate = [${gates%, }]; x = [0, 1, 2, 3]; };
constants = { mode = "sleep"; };
CFG
}

# poll SECONDS WHAT CMD...: until CMD succeeds; fails after SECONDS
poll() {
    local limit=$1 what=$2 t0=$SECONDS
    shift 2
    until "$@"; do
        ((SECONDS - t0 < limit)) || fail "no $what after ${limit}s"
        sleep 0.3
    done
}

ok_count() {
    $PY - "$1" <<'PY'
import sys, h5py
try:
    with h5py.File(sys.argv[1], "r", swmr=True) as f:
        ok = h5py.check_enum_dtype(f["runs/status"].dtype)["ok"]
        print(int((f["runs/status"][:] == ok).sum()))
except Exception:
    print(0)
PY
}

# the runs whose last execution started and has not finished, by the marker files of
# MARKERS (an execution killed with its rank writes no 'done')
in_flight() {
    local f
    for f in "$1"/*; do
        [[ -e $f ]] || continue
        [[ $(tail -n 1 "$f") != done ]] && basename "$f"
    done
    return 0
}

# victim JOB: "PID NODE" of the job's worker rank with the highest rank (its rank from
# OMPI_COMM_WORLD_RANK under mpirun, SLURM_PROCID under srun)
victim() {
    local p env rank node best=0 out=''
    for p in $(pgrep -f -- "^$HS run " || true); do
        env=$(tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null) || continue
        grep -qx "SLURM_JOB_ID=$1" <<<"$env" || continue
        rank=$(sed -n 's/^OMPI_COMM_WORLD_RANK=//p' <<<"$env")
        [[ -n $rank ]] || rank=$(sed -n 's/^SLURM_PROCID=//p' <<<"$env")
        node=$(sed -n 's/^SLURMD_NODENAME=//p' <<<"$env")
        ((rank > best)) && best=$rank out="$p $node"
    done
    [[ -n $out ]] && echo "$out"
}

has_victim() { victim "$1" >/dev/null; }

# midway DIR MARKERS OK: OK runs committed as ok, and all three workers in a run
midway() {
    (($(ok_count "$1/sweep.h5") >= $3)) && (($(in_flight "$2" | wc -l) == 3))
}

# kill_worker JOB DIR MARKERS OK: once the job is midway, SIGKILL its highest worker rank;
# sets vnode, and appends the runs in flight to MARKERS.inflight
kill_worker() {
    local v
    poll 90 "job $1 midway ($4 ok, 3 runs in flight)" midway "$2" "$3" "$4"
    poll 30 "worker rank of job $1" has_victim "$1"
    v=$(victim "$1")
    vnode=${v#* }
    in_flight "$3" >> "$3.inflight"
    note "job $1: SIGKILL to the worker rank with PID ${v% *} on node $vnode; in flight: $(in_flight "$3" | paste -sd' ')"
    kill -KILL "${v% *}"
}

# check_store DIR MARKERS N: N runs, every one ok; each ran once, but for those in flight
# when a rank died, which ran at most twice
check_store() {
    $PY - "$1/sweep.h5" "$2" "$3" <<'PY'
import os, sys, h5py
store, markers, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with h5py.File(store, "r") as f:
    ok = h5py.check_enum_dtype(f["runs/status"].dtype)["ok"]
    ids = [x.decode() for x in f["runs/run_id"][:]]
    status = f["runs/status"][:]
assert len(ids) == n, "%d rows, expected %d" % (len(ids), n)
assert (status == ok).all(), "not ok: %s" % [i for i, s in zip(ids, status) if s != ok]
inflight = set(open(markers + ".inflight").read().split())
twice, bad = [], []
for rid in ids:
    lines = [l.strip() for l in open(os.path.join(markers, rid))]
    starts, done = sum(l != "done" for l in lines), lines.count("done")
    assert done >= 1, (rid, "never finished")
    if rid in inflight:
        assert starts <= 2, (rid, "in flight when the rank died, but executed %d times" % starts)
        twice += [rid] if starts == 2 else []
    elif starts != 1:
        bad.append((rid, starts))
assert not bad, "runs executed more than once that were not in flight: %s" % bad
print("%d runs ok; %d in flight when a rank died, %d of them executed again; every other run once"
      % (n, len(inflight), len(twice)))
PY
}

log_of() { echo "hypersweep-hypersweep-$1.out"; }
has() { grep -qF -- "$2" "$(log_of "$1")" || { cat "$(log_of "$1")" >&2; fail "job $1's log lacks: $2"; }; }

note "A. mpirun, requeue: the failed node is excluded"
grid a gate_open gate_a
mkdir markers_a
a=$(HS_LAUNCHER=mpirun HS_DIR=sweeps/a HS_TEST_MARKERS=$T/markers_a \
    sbatch --parsable -N 2 -n 4 "$HS_SOURCE_DIR/slurm/hypersweep.sbatch" a.cfg)
kill_worker "$a" sweeps/a markers_a 4
requeued() { scontrol show job "$a" | grep -q "JobState=PENDING" && scontrol show job "$a" | grep -q "Restarts=1"; }
poll 60 "requeue of job $a" requeued
scontrol show job "$a" | grep -q "ExcNodeList=$vnode\b" \
    || fail "job $a was requeued without ExcNodeList=$vnode: $(scontrol show job "$a" | grep ExcNodeList)"
has "$a" "failed node: $vnode; the launcher said: mpirun noticed that process rank 3"
has "$a" "node failure 1 of at most 3 (HS_MAX_NODE_FAILURES"
has "$a" "excluding node $vnode (the job's excluded nodes: $vnode)"
has "$a" "requeued with ExcNodeList=$vnode"
has "$a" "to resume by hand instead (after scancel $a): cd $T && "
grep -q "mpirun noticed that process rank 3" "hypersweep-hypersweep-$a.launcher.err" \
    || fail "the launcher's stderr was not kept beside the job log"
touch gate_a
note "job $a requeued with ExcNodeList=$vnode"
# Slurm holds a requeued job back for two minutes: start it now
scontrol update JobId="$a" StartTime=now
wait_job "$a" 120 || fail "requeued job $a did not finish: $(tail -5 "$(log_of "$a")")"
nodes=$(sed -n "s/.*restart 1\]: starting on \([^ ]*\) .*/\1/p" "$(log_of "$a")")
[[ -n $nodes ]] || fail "job $a did not start again: $(cat "$(log_of "$a")")"
scontrol show hostnames "$nodes" | grep -qx "$vnode" && fail "job $a ran again on $nodes, $vnode included"
has "$a" "restart 1]: hypersweep exited with 0"
note "job $a requeued without $vnode, ran again on $nodes"
check_store sweeps/a markers_a 8

note "B. srun, resubmit, every node in use: nothing excluded; HS_MAX_NODE_FAILURES=1"
if ! srun --mpi=list 2>&1 | grep -q pmix; then
    note "srun has no PMIx here: skipping the srun part"
    echo PASS
    exit 0
fi
grid b gate_open gate_b1 gate_b2
mkdir markers_b
export HS_TEST_MARKERS=$T/markers_b
# HS_STOP_WAIT: the master stops its runs at once, but then cannot end (it blocks on the
# dead rank); the step is ended 20 s after the death instead of 60
export HS_STOP_WAIT=20
b1=$(HS_LAUNCHER=srun HS_REQUEUE=resubmit HS_MAX_NODE_FAILURES=1 HS_DIR=sweeps/b \
     sbatch --parsable -N 3 -n 4 "$HS_SOURCE_DIR/slurm/hypersweep.sbatch" b.cfg)
kill_worker "$b1" sweeps/b markers_b 4
resubmitted() { grep -q "resubmitted as job" "$(log_of "$b1")"; }
poll 60 "resubmission by job $b1" resubmitted
b2=$(sed -n 's/.*resubmitted as job \([0-9]*\).*/\1/p' "$(log_of "$b1")")
has "$b1" "srun reports a task that died: stopping the sweep cleanly, then ending the job step"
has "$b1" "failed node: $vnode; the launcher said: srun: error: $vnode: task 3: Killed"
has "$b1" "node failure 1 of at most 1 (HS_MAX_NODE_FAILURES"
has "$b1" "not excluding node $vnode: without $vnode partition debug has 2 usable nodes, and the job needs 3"
touch gate_b1
note "job $b1 resubmitted as $b2, excluding no node"
kill_worker "$b2" sweeps/b markers_b 8
wait_job "$b2" 60 || fail "job $b2 did not end"
has "$b2" "node failure 2, more than HS_MAX_NODE_FAILURES=1 (counted in $T/hypersweep-hypersweep-$b1.node-failures): giving up"
squeue -h | grep -q . && fail "job $b2 gave up, yet jobs are queued: $(squeue)"
resume=$(sed -n 's/.*\]: to resume: //p' "$(log_of "$b2")")
[[ $resume == "cd $T && "*" sbatch "*" -N 3 -n 4 "*"/slurm/hypersweep.sbatch b.cfg" ]] \
    || fail "job $b2 printed no resume command: $(cat "$(log_of "$b2")")"
touch gate_b2
note "job $b2 gave up"
note "resuming with: $resume"
b3=$(eval "$resume" | sed -n 's/^Submitted batch job //p')
[[ -n $b3 ]] || fail "the resume command submitted no job"
wait_job "$b3" 120 || fail "job $b3 did not finish"
has "$b3" "hypersweep exited with 0"
check_store sweeps/b markers_b 12
echo PASS
