#!/bin/bash
# Submit a sweep as a Slurm job array of N shards, and a job that merges the shard stores
# when the array is done.
#
#   slurm/submit-array.sh GRID N [sbatch options...] [-- hypersweep run options...]
#   e.g. slurm/submit-array.sh grids/taylor_pruning.cfg 135 -p gpu -A myproj --gpus=1 --time=4:00:00
#
# N may exceed the site's MaxArraySize: the shards are then split over several arrays (each
# task gets HS_SHARD_OFFSET and HS_SHARD_COUNT), and the script says so. The merged store is
# DIR/sweep.h5 (DIR: HS_DIR or sweeps/NAME); the shards stay in DIR/shards/.
set -euo pipefail
if [[ $# -lt 2 ]]; then
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
GRID=$1
N=$2
shift 2
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "submit-array.sh: N must be a positive integer, not '$N'" >&2; exit 2; }
sbatch_opts=()
while [[ $# -gt 0 && $1 != -- ]]; do sbatch_opts+=("$1"); shift; done
[[ ${1:-} == -- ]] && shift
run_opts=("$@")
HERE=$(cd "$(dirname "$0")" && pwd)
HS=${HYPERSWEEP:-$(command -v hypersweep || echo "$PWD/build/hypersweep")}
[[ -x $HS ]] || { echo "submit-array.sh: no hypersweep binary at '$HS' (set HYPERSWEEP)" >&2; exit 2; }
"$HS" expand "$GRID" --count >/dev/null   # a bad grid fails here, before anything is queued
name=$(sed -n 's/^ *name *= *"\([^"]*\)".*/\1/p' "$GRID" | head -1)
DIR=${HS_DIR:-sweeps/$name}
runs=$("$HS" expand "$GRID" --count)
if ((N > runs)); then
    echo "submit-array.sh: $N shards for $runs runs; using $runs" >&2
    N=$runs
fi
max=$(scontrol show config 2>/dev/null | sed -n 's/^MaxArraySize *= *\([0-9]*\).*/\1/p')
max=${max:-1001}
# task ids must stay below MaxArraySize
per=$max
((per >= 1)) || per=1
jobs=()
if ((N > per)); then
    echo "submit-array.sh: $N shards exceed this site's MaxArraySize ($max: task ids" \
         "0..$((max - 1))); splitting them over $(((N + per - 1) / per)) arrays" >&2
fi
export HS_SHARD_COUNT=$N
[[ -n ${HS_DIR:-} ]] && export HS_DIR
for ((off = 0; off < N; off += per)); do
    len=$((N - off < per ? N - off : per))
    export HS_SHARD_OFFSET=$off
    job=$(sbatch --parsable --array=0-$((len - 1)) "${sbatch_opts[@]}" \
          "$HERE/hypersweep-array.sbatch" "$GRID" "${run_opts[@]}")
    echo "submit-array.sh: shards $off..$((off + len - 1)) of $N: array job $job" >&2
    jobs+=("${job%%;*}")
done
deps=$(IFS=:; echo "${jobs[*]}")
merge=$(sbatch --parsable --job-name=hypersweep-merge --dependency="afterany:$deps" \
        --ntasks=1 --output="hypersweep-merge-%j.out" \
        --wrap "'$HS' merge '$DIR'/shards/*.shard-*-of-$N.h5 -o '$DIR/sweep.h5' --force")
echo "submit-array.sh: merge job $merge writes $DIR/sweep.h5 when the arrays are done" >&2
echo "${jobs[*]} $merge"
