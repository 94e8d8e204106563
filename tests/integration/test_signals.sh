#!/usr/bin/env bash
# Signals: SIGINT, SIGTERM and SIGUSR1 make the master stop dispatching, interrupt the
# running runs, record them as not done, flush and exit 4; a restart resumes.
# Under mpirun: Open MPI forwards SIGUSR1 (Slurm's --signal warning) to every rank, so the
# same clean stop happens; SIGTERM or SIGINT to mpirun itself makes mpirun kill the whole
# job (its documented behaviour) -- then nothing committed is lost and a restart completes.
source "$(dirname "$0")/lib.sh"
need_h5py

cat > grid.cfg <<CFG
name = "signals";
run = { argv = ["python3", "$WORKLOAD"]; results = ["{run_dir}/result.json"]; grace = 2; };
axes = { x = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]; };
constants = { mode = "sleep"; seconds = 1.5; };
CFG

states() {
    $PY - "$1" <<'PY'
import sys, h5py
with h5py.File("sweeps/signals/sweep.h5", "r", swmr=True) as f:
    names = {v: k for k, v in h5py.check_enum_dtype(f["runs/status"].dtype).items()}
    st = [names[s] for s in f["runs/status"][:]]
    print("    states:", {s: st.count(s) for s in sorted(set(st))}, file=sys.stderr)
    if sys.argv[1] == "clean":
        assert "interrupted" in st and "running" not in st, st
    assert "ok" in st, st
PY
}

stop_with() {  # stop_with SIGNAL EXPECTED_EXIT KIND launcher...
    local sig=$1 want=$2 kind=$3; shift 3
    rm -rf sweeps
    "$@" run grid.cfg --progress none > run.out 2> run.err &
    local pid=$!
    sleep 4
    kill -s "$sig" "$pid"
    local rc=0; wait "$pid" || rc=$?
    if [[ $want == nonzero ]]; then
        [[ $rc -ne 0 ]] || fail "exit 0 after SIG$sig"
    elif [[ $rc -ne $want ]]; then
        cat run.out run.err >&2; fail "exit $rc after SIG$sig, expected $want"
    fi
    [[ $want == 4 ]] && { grep -q "run the same command again" run.out || fail "no resume hint"; }
    states "$kind"
    expect_exit 0 "$@" run grid.cfg --progress none
    grep -q "ok *12" last.out || fail "the resumed sweep did not complete: $(cat last.out)"
}

for sig in INT TERM USR1; do
    note "SIG$sig to a local-mode master"
    stop_with "$sig" 4 clean "$HS"
done
note "SIGUSR1 to mpirun (forwarded to every rank)"
stop_with USR1 4 clean "${MPIRUN[@]}" -n 3 "$HS"
note "SIGTERM to mpirun (mpirun kills the job)"
stop_with TERM nonzero any "${MPIRUN[@]}" -n 3 "$HS"
echo PASS
