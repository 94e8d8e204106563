#!/usr/bin/env bash
# Signals: SIGINT, SIGTERM and SIGUSR1 make the master stop dispatching, interrupt the
# running runs, record them as not done, flush and exit 4; a restart resumes.
# Under mpirun: Open MPI forwards SIGUSR1 (Slurm's --signal warning) to every rank, so the
# same clean stop happens; SIGTERM or SIGINT to mpirun itself makes mpirun kill the whole
# job (its documented behaviour) -- then nothing committed is lost and a restart completes.
#
# No timing: every run waits on its own gate file (workload.py, gate_dir), the test learns
# from the workload's markers which runs are executing, and signals only once the state it
# wants is reached; it waits by polling with a generous deadline (HS_TEST_WAIT, 120 s).
source "$(dirname "$0")/lib.sh"
need_h5py

WAIT=${HS_TEST_WAIT:-120}

mkdir gates markers
export HS_TEST_MARKERS=$T/markers
cat > grid.cfg <<CFG
name = "signals";
run = { argv = ["$PY", "$WORKLOAD"]; results = ["{run_dir}/result.json"]; grace = 2;
        gpus = 0; };
axes = { x = [0, 1, 2, 3]; };
constants = { mode = "sleep"; gate_dir = "$T/gates"; };
CFG

pid=
trap '[[ -n $pid ]] && kill -s TERM "$pid" 2>/dev/null; cleanup' EXIT

# wait_for WHAT CMD...: poll CMD until it succeeds; fail after $WAIT s, or when the sweep
# in the background ended first.
wait_for() {
    local what=$1; shift
    local end=$((SECONDS + WAIT))
    until "$@"; do
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            cat run.out run.err >&2; fail "the sweep ended before $what"
        fi
        ((SECONDS < end)) || { cat run.err >&2; fail "no $what after $WAIT s"; }
        sleep 0.05
    done
}
# executions started so far (one marker line each; "done" lines close them)
started() { cat markers/* 2>/dev/null | grep -vc '^done$' || true; }
started_at_least() { (($(started) >= $1)); }
finished_at_least() { (($(cat markers/* 2>/dev/null | grep -c '^done$' || true) >= $1)); }

# store_check [--any] [--ok] EXPR: a Python assertion on the store. c: Counter of statuses;
# s: the status by grid index; n: executions by grid index (from the markers); N: the number
# of runs. Every run marked ok must have its metrics; no run may be left `running` unless
# --any (a killed master leaves them so). --ok prints the indices of the ok runs.
STORE_PY='
import collections, os, sys
import h5py
flags, expr = sys.argv[1:-1], sys.argv[-1]
with h5py.File("sweeps/signals/sweep.h5", "r", swmr=True) as f:
    names = {v: k for k, v in h5py.check_enum_dtype(f["runs/status"].dtype).items()}
    ids = f["runs/run_id"].asstr()[:]
    index = f["runs/index"][:]
    status = [names[v] for v in f["runs/status"][:]]
    metrics = list(f["metrics/names"].asstr()[:])
    score = f["metrics/values"][:, metrics.index("score")] if "score" in metrics else None
N = len(ids)
s, n = [None] * N, [0] * N
for row, i in enumerate(index):
    s[i] = status[row]
    if os.path.exists("markers/" + ids[row]):
        with open("markers/" + ids[row]) as m:
            n[i] = sum(1 for line in m if line.strip() != "done")
    if status[row] == "ok":
        assert score is not None and score[row] == i * 1.5, "run %d is ok without its metrics" % i
c = collections.Counter(s)
print("    states:", dict(sorted(c.items())), "executions:", n, file=sys.stderr)
assert "--any" in flags or "running" not in c, s
assert eval("(" + expr + ")"), (expr, s, n)
if "--ok" in flags:
    print(",".join(str(i) for i in range(N) if s[i] == "ok"))
'
store_check() { $PY -c "$STORE_PY" "$@"; }
store_shows() { $PY -c "$STORE_PY" --any "$1" 2>/dev/null; }

reset() {
    rm -rf sweeps gates/* markers/*
}
launch() {  # launch CMD...: start a sweep in the background
    "$@" run grid.cfg --progress none > run.out 2> run.err &
    pid=$!
}
finish() {  # finish WANT SIG: wait for the sweep; WANT is an exit status or "nonzero"
    local want=$1 sig=$2 rc=0
    wait "$pid" || rc=$?
    pid=
    if [[ $want == nonzero ]]; then
        [[ $rc -ne 0 ]] || fail "exit 0 after SIG$sig"
    elif [[ $rc -ne $want ]]; then
        cat run.out run.err >&2; fail "exit $rc after SIG$sig, expected $want"
    fi
    if [[ $want == 4 ]]; then
        grep -q "run the same command again" run.out || { cat run.out >&2; fail "no resume hint"; }
    fi
}
resume() {  # resume CMD...: open every gate; the same command completes the sweep (check
            # the store after it with store_check "c['ok'] == N and ...")
    touch gates/all
    expect_exit 0 "$@" run grid.cfg --progress none
    grep -qE "^ *ok +4( |$)" last.out || fail "the resumed sweep did not complete: $(cat last.out)"
}

# 1. A run is executing (it waits on its gate, so it cannot end on its own): the signal
#    interrupts it, it is recorded `interrupted`, no other run started. (The three signals
#    share one handler: the resume is checked once, after SIGINT.)
for sig in INT TERM USR1; do
    note "SIG$sig to a local-mode master while a run executes"
    reset
    launch "$HS"
    wait_for "run in flight" started_at_least 1
    kill -s "$sig" "$pid"
    finish 4 "$sig"
    store_check "s[0] == 'interrupted' and c['pending'] == N - 1 and sum(n) == 1"
    if [[ $sig == INT ]]; then
        resume "$HS"
        store_check "c['ok'] == N and n[0] == 2 and all(k == 1 for k in n[1:])"
    fi
done

# 2. The signal lands between two runs: run 0 has ended (exited 0, not yet reaped) and run 1
#    is not dispatched yet. The master is stopped (SIGSTOP) while run 0 executes, run 0 is
#    let go and its processes exit, SIGINT is queued, then SIGCONT. A clean stop with
#    nothing to interrupt: exit 4, the hint, run 0 ok with its metrics; the resume does not
#    run it again. In a single-threaded master the kernel runs the handler before the master
#    takes another step, so run 1 never starts; a signal taken by another thread (OpenBLAS
#    starts one at load unless OPENBLAS_NUM_THREADS=1; a GPU library may too) is seen by the
#    loop a moment later, and run 1 may then have been started and at once interrupted.
note "SIGINT to a local-mode master between two runs"
reset
OPENBLAS_NUM_THREADS=1 launch "$HS"
wait_for "run in flight" started_at_least 1
kill -s STOP "$pid"
touch gates/0
wait_for "end of run 0" finished_at_least 1
[[ $(ls markers | wc -l) -eq 1 ]] || fail "more than run 0 started: $(ls markers)"
# every child of the master (the run's supervisor) has exited: a zombie until it is reaped
children_exited() {
    local c
    for c in $(pgrep -P "$pid" || true); do
        grep -qs '^State:.*Z' "/proc/$c/status" || [[ ! -e /proc/$c ]] || return 1
    done
}
wait_for "exit of run 0" children_exited
threads=$(ls "/proc/$pid/task" | wc -l)
kill -s INT "$pid"
kill -s CONT "$pid"
finish 4 INT
if [[ $threads -eq 1 ]]; then
    store_check "s[0] == 'ok' and c['pending'] == N - 1 and sum(n) == 1"
else
    note "the master has $threads threads: run 1 may have started and been interrupted"
    store_check "s[0] == 'ok' and s[1] in ('pending', 'interrupted') and c['pending'] >= N - 2"
fi
resume "$HS"
store_check "c['ok'] == N and n[0] == 1"

# 3. The signal lands as a run ends, wherever the master then is: waiting, recording the
#    result, between runs, or dispatching run 1 (which is then interrupted at once). Every
#    interleaving must give: exit 4, the hint, nothing left running, run 0 ok (with its
#    metrics) or interrupted, run 1 pending or interrupted (its gate stays shut), no other
#    run started; ok runs do not run again on resume.
note "SIGINT to a local-mode master as a run ends"
reset
launch "$HS"
wait_for "run in flight" started_at_least 1
touch gates/0
wait_for "end of run 0" finished_at_least 1
kill -s INT "$pid"
finish 4 INT
ok=$(store_check --ok "s[0] in ('ok', 'interrupted') and s[1] in ('pending', 'interrupted')
                       and c['pending'] >= N - 2")
resume "$HS"
store_check "c['ok'] == N and all(n[i] == 1 for i in [$ok])"

# 4. Under mpirun, SIGUSR1 to mpirun is forwarded to every rank: the workers ignore it, the
#    master stops cleanly and has both workers' runs interrupted.
note "SIGUSR1 to mpirun (forwarded to every rank) while both workers run"
reset
launch "${MPIRUN[@]}" -n 3 "$HS"
wait_for "runs in flight on both workers" started_at_least 2
kill -s USR1 "$pid"
finish 4 USR1
store_check "c['interrupted'] == 2 and c['pending'] == N - 2 and sum(n) == 2"
resume "${MPIRUN[@]}" -n 3 "$HS"
store_check "c['ok'] == N and sorted(n) == [1] * (N - 2) + [2, 2]"

# 5. ... and while the ranks are still starting: every rank is inside MPI_Init (Open MPI's
#    components are mapped), where a rank without its handlers yet was killed by the
#    forwarded SIGUSR1 (and mpirun ended the job, exit 138). The handlers are there from the
#    start of `run`: a clean stop before any run.
note "SIGUSR1 to mpirun while every rank is in MPI_Init"
reset
launch "${MPIRUN[@]}" -n 3 "$HS"
in_mpi_init() {
    local p n=0
    for p in $(pgrep -f -- "^$HS run grid.cfg" || true); do
        grep -qs '/mca_' "/proc/$p/maps" && n=$((n + 1))
    done
    ((n == 3))
}
wait_for "3 ranks in MPI_Init" in_mpi_init
kill -s USR1 "$pid"
finish 4 USR1
store_check "c['pending'] + c['interrupted'] == N and c['ok'] == 0"

# 6. SIGTERM to mpirun: mpirun kills the job. Runs 0 and 1 are committed ok first, runs 2
#    and 3 are executing. Nothing committed is lost, and the resume completes without
#    running runs 0 and 1 again.
note "SIGTERM to mpirun (mpirun kills the job) with two runs committed and two executing"
reset
launch "${MPIRUN[@]}" -n 3 "$HS"
touch gates/0 gates/1
wait_for "runs 0 and 1 committed ok" store_shows "s[0] == 'ok' and s[1] == 'ok'"
wait_for "runs 2 and 3 in flight" started_at_least 4
kill -s TERM "$pid"
finish nonzero TERM
store_check --any "s[0] == 'ok' and s[1] == 'ok'"
resume "${MPIRUN[@]}" -n 3 "$HS"
store_check "c['ok'] == N and n[0] == 1 and n[1] == 1"
echo PASS
