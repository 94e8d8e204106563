#!/usr/bin/env bash
# bench/analysis: `hypersweep-analyze report` on a 1,000,000-run x 20-metric store against
# pandas (h5py + pandas + scipy) computing the same report from the same store, both measured
# in this invocation, best of REPEATS, page cache warm for both. A benchmark: it prints figures
# and asserts nothing beyond both sides agreeing on the numbers.
#   bash bench/analysis/run.sh [BUILD_DIR] [N=1000000] [REPEATS=3]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
N=${2:-1000000}
REPEATS=${3:-3}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/hs-bench-analysis.XXXXXX)
trap 'rm -rf "$T"' EXIT
now() { date +%s.%N; }

echo "writing the store: $N runs x 20 metrics (store API, as a sweep would)"
"$BUILD/bench/analysis/bench_analysis_store" "$T/sweep.h5" "$N" 20
ls -l "$T/sweep.h5" | awk '{printf "  %.0f MB\n", $5 / 1048576}'
cat "$T/sweep.h5" > /dev/null

best=""
for _ in $(seq "$REPEATS"); do
    t0=$(now)
    "$BUILD/hypersweep-analyze" report "$T/sweep.h5" --format json -o "$T/report.json"
    t1=$(now)
    s=$(echo "$t1 - $t0" | bc -l)
    if [[ -z $best ]] || (( $(echo "$s < $best" | bc -l) )); then best=$s; fi
done
"$BUILD/hypersweep-analyze" report "$T/sweep.h5" --format text -o "$T/report.txt"
read -r pd_s pd_load checked < <($PY "$ROOT/bench/analysis/pandas_report.py" "$T/sweep.h5" \
    "$T/report.json" "$REPEATS")

printf '\nReport of %d runs x 20 metrics, 4 groups (best of %d)\n' "$N" "$REPEATS"
printf '  %-52s %8s\n' "" "seconds"
printf '  %-52s %8.2f\n' "hypersweep-analyze report (process: load + report)" "$best"
printf '  %-52s %8.2f\n' "pandas + scipy (load with h5py + the same report)" "$pd_s"
printf '  %-52s %8.2f\n' "  of which h5py loading" "$pd_load"
printf '  ratio pandas / hypersweep-analyze: %.1fx  (both agree on %d numbers of the report)\n' \
    "$(echo "$pd_s / $best" | bc -l)" "$checked"
