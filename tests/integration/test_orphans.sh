#!/usr/bin/env bash
# No run outlives its master. Each run starts under hypersweep-supervise, which leads the
# run's process group and kills it when the worker (or the local-mode master) dies; a rank
# dies with its launcher. So SIGKILL to the whole mpirun, or to a local-mode master, leaves
# no process of its runs within 2 s, and the resume runs each of them once more.
# Then the backstop: an attempt that is somehow still alive on this host is killed before
# the run executes again; one that another host holds is reported and not run over.
source "$(dirname "$0")/lib.sh"
need_h5py

# Runs that wait for a gate file, so that they are surely in flight when killed.
cat > long.sh <<'SH'
#!/bin/sh
echo "start $$" >> "$1/$HYPERSWEEP_RUN_ID"
while [ ! -e "$2" ]; do sleep 0.05; done
echo '{"v": 1}' > "$HYPERSWEEP_RESULT"
SH

left() { { pgrep -f "$T/long.sh" || true; } | wc -l; }

held() { # wait until the lock file is held by another process
    local i
    for ((i = 0; i < 2400; i++)); do
        flock -n "$1" true 2>/dev/null || return 0
        sleep 0.05
    done
    fail "nothing took $1"
}

kill_and_count() { # kill_and_count NAME LAUNCHER...: start, SIGKILL the group, check
    local name=$1; shift
    mkdir -p "$name/markers"
    rm -f "$name/gate"
    cat > "$name/grid.cfg" <<CFG
name = "$name";
run = { argv = ["sh", "$T/long.sh", "$T/$name/markers", "$T/$name/gate"];
        results = ["{run_dir}/result.json"]; };
axes = { x = [1, 2]; };
CFG
    setsid "$@" run "$name/grid.cfg" --dir "$name/sweep" --progress none \
        > "$name/run1.out" 2>&1 &
    local pid=$! i
    for ((i = 0; i < 1200; i++)); do
        [[ $(left) -ge $want_inflight ]] && break
        sleep 0.05
    done
    [[ $(left) -ge $want_inflight ]] || { cat "$name/run1.out" >&2; fail "$name: runs never started"; }
    kill -KILL -- "-$pid"
    local t0=$SECONDS n
    # within 2 s (polled every 50 ms): no process of those runs
    for ((i = 0; i < 40; i++)); do
        n=$(left)
        [[ $n -eq 0 ]] && break
        sleep 0.05
    done
    wait "$pid" 2>/dev/null || true
    if [[ $n -ne 0 ]]; then
        pgrep -af "$T/long.sh" >&2
        pkill -KILL -f "$T/long.sh" || true
        fail "$name: $n run processes still alive 2 s after SIGKILL to the sweep"
    fi
    note "$name: every run process gone within 2 s of the SIGKILL"
    local started
    started=$(ls "$name/markers")
    touch "$name/gate"
    expect_exit 0 "$@" run "$name/grid.cfg" --dir "$name/sweep" --progress none
    grep -q "ok *2" last.out || fail "$name: the resume did not complete: $(cat last.out)"
    # a run killed in flight executes once more; the others once
    local f want
    for f in "$name"/markers/*; do
        want=1
        grep -qx "$(basename "$f")" <<< "$started" && want=2
        [[ $(wc -l < "$f") -eq $want ]] ||
            fail "$name: run $(basename "$f") executed $(wc -l < "$f") times, expected $want"
    done
    [[ $(ls "$name"/markers | wc -l) -eq 2 ]] || fail "$name: expected markers of 2 runs"
}

note "SIGKILL to the whole mpirun (1 master, 2 workers) during two runs"
want_inflight=2
kill_and_count viampi "${MPIRUN[@]}" -n 3 "$HS"
note "SIGKILL to a local-mode master during its run"
want_inflight=1
kill_and_count local "$HS"

# ---- a worker rank dies: Open MPI ends the job; the summary names it and how to resume ------
note "SIGKILL to one worker rank: the summary names it, then the resume completes"
mkdir -p dead/markers
cat > dead/grid.cfg <<CFG
name = "dead";
run = { argv = ["sh", "$T/long.sh", "$T/dead/markers", "$T/dead/gate"];
        results = ["{run_dir}/result.json"]; };
axes = { x = [1, 2, 3]; };
CFG
# mpirun gives the other ranks 1 s between its SIGTERM and SIGKILL by default; the master
# needs well under that to write its summary, but a loaded machine must not make it a race
OMPI_MCA_odls_base_sigkill_timeout=30 "${MPIRUN[@]}" -n 3 "$HS" run dead/grid.cfg \
    --dir dead/sweep --progress none > dead/run1.out 2> dead/run1.err &
pid=$!
for ((i = 0; i < 1200; i++)); do [[ $(left) -ge 2 ]] && break; sleep 0.05; done
victim=
for p in $(pgrep -f "$HS run dead/grid.cfg"); do
    if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1"; then
        victim=$p
    fi
done
[[ -n $victim ]] || fail "no worker rank 1 found"
kill -KILL "$victim"
wait "$pid" 2>/dev/null || true
for ((i = 0; i < 40; i++)); do [[ $(left) -eq 0 ]] && break; sleep 0.05; done
[[ $(left) -eq 0 ]] || fail "runs outlived their dead job"
grep -q "worker rank 1 (pid $victim) on host $(hostname) died" dead/run1.out ||
    { cat dead/run1.out dead/run1.err >&2; fail "the summary does not name the dead rank"; }
grep -q "mpirun -n 3 .*hypersweep run" dead/run1.out || fail "no resume command in the summary"
touch dead/gate
expect_exit 0 hs_mpi 3 run dead/grid.cfg --dir dead/sweep --progress none
grep -q "ok *3" last.out || fail "the resume after a dead rank did not complete"

# ---- the backstop: an attempt still alive holds the run directory ------------------------
echo 'echo "{\"v\": 2}" > "$HYPERSWEEP_RESULT"' > quick.sh
cat > quick.cfg <<CFG
name = "quick";
run = { argv = ["sh", "$T/quick.sh"]; results = ["{run_dir}/result.json"]; };
axes = { x = [1]; };
CFG
id=$("$HS" expand quick.cfg --format json | $PY -c 'import json,sys; print(json.load(sys.stdin)["runs"][0]["id"])')
rd=sweeps/quick/runs/$id
mkdir -p "$rd"
# an orphan of an earlier attempt on this host: holds the lock, says where it runs
setsid flock "$rd/attempt.lock" sleep 300 >/dev/null 2>&1 &
holder=$!
trap 'kill -KILL -- -$holder 2>/dev/null || true; cleanup' EXIT
held "$rd/attempt.lock"
printf '{"run_id": "%s", "attempt": 1, "host": "%s", "pid": %d, "pgid": %d, "started": %s}\n' \
    "$id" "$(hostname)" "$holder" "$holder" "$(date +%s)" > "$rd/attempt.lock"
expect_exit 0 "$HS" run quick.cfg --progress none
kill -0 "$holder" 2>/dev/null && fail "the orphaned attempt on this host was not killed"
grep -q "still running here" last.err || fail "no word of the killed orphan: $(cat last.err)"
note "an orphaned attempt on this host was killed, then the run ran"

# one on another host: reported, the run not started, the directory untouched
rm -rf sweeps
mkdir -p "$rd"
setsid flock "$rd/attempt.lock" sleep 300 >/dev/null 2>&1 &
holder=$!
trap 'kill -KILL -- -$holder 2>/dev/null || true; cleanup' EXIT
held "$rd/attempt.lock"
printf '{"run_id": "%s", "attempt": 1, "host": "gpu-node-17", "pid": 4242, "pgid": 4242, "started": %s}\n' \
    "$id" "$(date +%s)" > "$rd/attempt.lock"
echo "the other attempt's log" > "$rd/stderr.log"
expect_exit 1 "$HS" run quick.cfg --progress none
grep -q "gpu-node-17" last.out || fail "the summary does not name the other host: $(cat last.out)"
grep -q "the other attempt's log" "$rd/stderr.log" || fail "the other attempt's log was touched"
kill -0 "$holder" 2>/dev/null || fail "an attempt on another host was killed"
kill -KILL -- "-$holder"
wait "$holder" 2>/dev/null || true
expect_exit 0 "$HS" run quick.cfg --progress none
note "an attempt held by another host was reported and not run over; the resume ran it"
echo PASS
