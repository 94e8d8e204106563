#!/usr/bin/env bash
# Kill soak: sweeps under mpirun (1 master, 2 workers) SIGKILLed as a whole process group,
# three or more times each, at random moments (just after a run finished, a moment after a run
# started, or any time after the launch), then resumed to completion. Marker files count the
# executions. It must hold that:
#   - every run ends ok exactly once (one row per cell, status ok, one finished record);
#   - executions <= cells + the runs in flight at each kill;
#   - no run that had finished before a kill executes again.
# A finished run's record (attempt.json) is written before the master hears of it, the
# master commits as soon as it is idle, and a resume recovers what it had not committed.
# HS_SOAK_SWEEPS (default 8) and HS_SOAK_SEED change the size and the moments.
source "$(dirname "$0")/lib.sh"
need_h5py

SWEEPS=${HS_SOAK_SWEEPS:-8}
KILLS=3
SEED=${HS_SOAK_SEED:-$$}
RANDOM=$SEED
note "seed $SEED for the kill moments (HS_SOAK_SEED=$SEED reruns them)"

# The workload: one marker line per execution, a short sleep, a result.
cat > work.sh <<'SH'
#!/bin/sh
echo "start $$" >> "$1/$HYPERSWEEP_RUN_ID"
sleep "$2"
printf '{"v": %s}\n' "$3" > "$HYPERSWEEP_RESULT"
SH

count_records() { # finished records (attempt.json) under a sweep
    { find "$1" -name attempt.json 2>/dev/null || true; } | wc -l
}

count_starts() { # executions started under a sweep's markers
    { cat "$1"/markers/* 2>/dev/null || true; } | wc -l
}

wait_gone() { # nothing of the killed sweep left: ranks, supervisors, runs (all name $1)
    local i
    for ((i = 0; i < 200; i++)); do
        pgrep -f "$1" >/dev/null || return 0
        sleep 0.05
    done
    pgrep -af "$1" >&2
    fail "processes outlived their killed sweep for 10 s"
}

snapshot() { # snapshot DIR FILE: run id, executions started, finished ok (1/0)
    local dir=$1 out=$2 f id
    : > "$out"
    for f in "$dir"/markers/*; do
        [[ -e $f ]] || continue
        id=$(basename "$f")
        local ok=0
        grep -qs '"status": "ok"' "$dir/sweep/runs/$id/attempt.json" && ok=1
        echo "$id $(wc -l < "$f") $ok" >> "$out"
    done
}

total_kills=0 total_cells=0 total_recovered=0
for ((s = 1; s <= SWEEPS; s++)); do
    D=$T/s$s
    mkdir -p "$D/markers"
    ncells=$((18 + RANDOM % 6))
    xs=$(seq -s, 1 "$ncells")
    secs=$(printf '0.%02d' $((5 + RANDOM % 11)))
    cat > "$D/grid.cfg" <<CFG
name = "soak$s";
run = { argv = ["sh", "$T/work.sh", "$D/markers", "{secs}", "{x}"];
        results = ["{run_dir}/result.json"]; timeout = 60; };
axes = { x = [${xs%,}]; };
constants = { secs = $secs; };
CFG
    total_cells=$((total_cells + ncells))
    kills=0 launches=0
    while :; do
        launches=$((launches + 1))
        ((launches < 30)) || fail "sweep $s: no end after 30 launches"
        before=$(count_records "$D/sweep")
        setsid "${MPIRUN[@]}" -n 3 "$HS" run "$D/grid.cfg" --dir "$D/sweep" --progress none \
            > "$D/run$launches.out" 2> "$D/run$launches.err" &
        pid=$!
        if ((kills >= KILLS)); then
            rc=0; wait "$pid" || rc=$?
            [[ $rc -eq 0 ]] || { cat "$D/run$launches.out" "$D/run$launches.err" >&2;
                                 fail "sweep $s: the final resume exited $rc"; }
            break
        fi
        # the moment: 0 just after a run finishes, 1 shortly after a run starts, 2 after the
        # launch's first, second or third execution started (so never after its end: a
        # launch runs at most the runs in flight and the 3 it started before the kill)
        kind=$(( (kills + s) % 3 ))
        case $kind in
        0) for ((i = 0; i < 600; i++)); do
               (( $(count_records "$D/sweep") > before )) && break
               kill -0 "$pid" 2>/dev/null || break
               sleep 0.01
           done ;;
        1) starts=$(count_starts "$D")
           for ((i = 0; i < 600; i++)); do
               (( $(count_starts "$D") > starts )) && break
               kill -0 "$pid" 2>/dev/null || break
               sleep 0.01
           done
           sleep "$(printf '0.%02d' $((RANDOM % 30)))" ;;
        2) starts=$(count_starts "$D")
           nth=$((1 + RANDOM % 3))
           for ((i = 0; i < 6000; i++)); do
               (( $(count_starts "$D") >= starts + nth )) && break
               kill -0 "$pid" 2>/dev/null || break
               sleep 0.005
           done ;;
        esac
        if ! kill -KILL -- "-$pid" 2>/dev/null; then
            # it ended before the moment came: a complete sweep needs no more kills
            wait "$pid" || true
            grep -q "ok *$ncells" "$D/run$launches.out" && break
            continue
        fi
        wait "$pid" 2>/dev/null || true
        wait_gone "$D/"
        kills=$((kills + 1))
        snapshot "$D" "$D/kill$kills.txt"
    done
    ((kills >= KILLS)) || note "sweep $s ended after $kills kills (it was quick)"
    total_kills=$((total_kills + kills))
    rec=$(cat "$D"/run*.out | sed -n 's/.*, \([0-9]*\) recovered from run directories.*/\1/p' |
          awk '{ n += $1 } END { print n + 0 }')
    total_recovered=$((total_recovered + rec))
    "$HS" expand "$D/grid.cfg" --dir "$D/sweep" --format json > "$D/expand.json"
    snapshot "$D" "$D/final.txt"
    $PY - "$D" "$kills" <<'PY' || fail "sweep $s: see above"
import json, os, sys, h5py
d, kills = sys.argv[1], int(sys.argv[2])
cells = {r["id"] for r in json.load(open(os.path.join(d, "expand.json")))["runs"]}
def load(name):
    out = {}
    for line in open(os.path.join(d, name)):
        rid, starts, ok = line.split()
        out[rid] = (int(starts), int(ok))
    return out
final = load("final.txt")
with h5py.File(os.path.join(d, "sweep", "sweep.h5"), "r") as f:
    ids = [x.decode() for x in f["runs/run_id"][:]]
    ok = h5py.check_enum_dtype(f["runs/status"].dtype)["ok"]
    assert sorted(ids) == sorted(cells), "one row per cell"
    assert all(s == ok for s in f["runs/status"][:]), "every run ok"
    names = [x.decode() for x in f["metrics/names"][:]]
    v = f["metrics/values"][:, names.index("v")]
    assert all(x == x for x in v), "every ok row has its metric"
assert set(final) == cells and all(ok for _, ok in final.values()), "a finished record each"
inflight, prev = 0, {}
for k in range(1, kills + 1):
    snap = load("kill%d.txt" % k)
    # executions started since the previous kill that had not finished at this one
    new_starts = sum(s - prev.get(r, (0, 0))[0] for r, (s, _) in snap.items())
    new_done = sum(o - prev.get(r, (0, 0))[1] for r, (_, o) in snap.items())
    killed = new_starts - new_done
    assert 0 <= killed <= 2, ("kill %d: %d runs in flight on 2 workers?" % (k, killed))
    inflight += killed
    for r, (s, o) in snap.items():
        if o:
            assert final[r][0] == s, "run %s had finished before kill %d, then ran again" % (r, k)
    prev = snap
execs = sum(s for s, _ in final.values())
assert execs <= len(cells) + inflight, (execs, len(cells), inflight)
print("  %s: %d cells, %d kills, %d executions (%d in flight at the kills)"
      % (os.path.basename(d), len(cells), kills, execs, inflight), file=sys.stderr)
open(os.path.join(d, "figures"), "w").write("%d %d\n" % (execs, inflight))
PY
done
read -r execs inflight < <(cat "$T"/s*/figures | awk '{ e += $1; f += $2 } END { print e, f }')
echo "soak: $SWEEPS sweeps, $total_kills kills, $total_cells cells, $execs executions" \
     "($inflight in flight when killed), $total_recovered runs recovered on resume"
((total_kills >= 3 * SWEEPS)) || fail "only $total_kills kills for $SWEEPS sweeps"
echo PASS
