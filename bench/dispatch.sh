#!/usr/bin/env bash
# bench/dispatch: dispatch rate and store ingest rate, each against a peer measured in the
# same invocation. A benchmark, not a test: it prints figures and asserts nothing.
#   bash bench/dispatch.sh [BUILD_DIR]          (default build/)
# 1. 2,000 runs of `true` on 2 workers (mpirun -n 3) vs GNU parallel -j2 on the same commands.
# 2. 100,000 synthetic results of 50 metrics each into the store vs h5py doing the same
#    batched two-phase commits.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
HS=$BUILD/hypersweep
N=${HS_BENCH_RUNS:-2000}
T=$(mktemp -d /tmp/hs-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
MPIRUN=(mpirun --oversubscribe --bind-to none)
[[ $(id -u) -eq 0 ]] && MPIRUN+=(--allow-run-as-root)
now() { date +%s.%N; }

cat > grid.cfg <<CFG
name = "dispatch";
run = { argv = ["true"]; };
axes = { i = [$(seq -s, 0 $((N - 1)))]; };
CFG
t0=$(now)
"${MPIRUN[@]}" -n 3 "$HS" run grid.cfg --progress none > hs.out 2>&1 || { cat hs.out; exit 1; }
t1=$(now)
hs_s=$(echo "$t1 - $t0" | bc -l)
grep -q "ok *$N" hs.out || { echo "not every run was ok:"; cat hs.out; exit 1; }
# the same without the launch: mpirun's start and the store's creation, measured alone
cat > one.cfg <<CFG
name = "one";
run = { argv = ["true"]; };
axes = { i = [0]; };
CFG
t0=$(now)
"${MPIRUN[@]}" -n 3 "$HS" run one.cfg --progress none > one.out 2>&1
t1=$(now)
start_s=$(echo "$t1 - $t0" | bc -l)

if command -v parallel >/dev/null; then
    t0=$(now)
    seq "$N" | parallel -j2 true
    t1=$(now)
    par_s=$(echo "$t1 - $t0" | bc -l)
else
    par_s=""
fi
printf '\nDispatch: %d runs of `true` on 2 workers\n' "$N"
printf '  %-44s %8s %10s\n' "" "seconds" "runs/s"
printf '  %-44s %8.2f %10.0f\n' "hypersweep (mpirun -n 3, store, logs)" "$hs_s" "$(echo "$N / $hs_s" | bc -l)"
net=$(echo "$hs_s - $start_s" | bc -l)
printf '  %-44s %8.2f %10.0f\n' "  the same less start-up (${start_s:0:4} s)" "$net" "$(echo "$N / $net" | bc -l)"
if [[ -n $par_s ]]; then
    printf '  %-44s %8.2f %10.0f\n' "GNU parallel -j2 (no store, no logs)" "$par_s" "$(echo "$N / $par_s" | bc -l)"
    printf '  ratio hypersweep / parallel (runs/s): %.2f (%.2f without start-up)\n' \
        "$(echo "$par_s / $hs_s" | bc -l)" "$(echo "$par_s / $net" | bc -l)"
else
    echo "  GNU parallel is not installed: no ratio"
fi

R=${HS_BENCH_ROWS:-100000}
M=${HS_BENCH_METRICS:-50}
read -r n m open_s put_s < <("$BUILD/bench/bench_store_ingest" "$T/ingest.h5" "$R" "$M")
printf '\nStore ingest: %d results x %d metrics, batches of 64, two-phase commit, SWMR\n' "$n" "$m"
printf '  %-44s %8.2f %10.0f rows/s\n' "hypersweep store" "$put_s" "$(echo "$n / $put_s" | bc -l)"
if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
    read -r _ _ py_s < <(/usr/bin/python3 "$ROOT/bench/store_ingest_h5py.py" "$T/peer.h5" "$n" "$m")
    printf '  %-44s %8.2f %10.0f rows/s\n' "h5py, same batches and flushes" "$py_s" "$(echo "$n / $py_s" | bc -l)"
    printf '  ratio hypersweep / h5py (rows/s): %.2f\n' "$(echo "$py_s / $put_s" | bc -l)"
fi
