# Shared helpers of the integration tests (sourced). Real binaries, real mpirun, real HDF5.
set -euo pipefail

HS_BINARY_DIR=${HS_BINARY_DIR:?run through ctest, or set HS_BINARY_DIR}
HS_SOURCE_DIR=${HS_SOURCE_DIR:?run through ctest, or set HS_SOURCE_DIR}
HS="$HS_BINARY_DIR/hypersweep"
PY=/usr/bin/python3   # Debian's python3-h5py, -pandas and -scipy install for this one
WORKLOAD="$HS_SOURCE_DIR/tests/integration/workload.py"

MPIRUN=(${MPIEXEC:-mpirun} --oversubscribe --bind-to none)
[[ $(id -u) -eq 0 ]] && MPIRUN+=(--allow-run-as-root)
export OMPI_MCA_btl_vader_single_copy_mechanism=none   # containers lack CMA/ptrace rights
export OMPI_MCA_rmaps_base_oversubscribe=1

T=$(mktemp -d /tmp/hs-itest.XXXXXX)
cleanup() { rm -rf "$T"; }
trap cleanup EXIT
cd "$T"

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "--- $*" >&2; }

# expect_exit CODE CMD...: run CMD, fail unless it exits with CODE.
expect_exit() {
    local want=$1; shift
    local rc=0
    "$@" >"$T/last.out" 2>"$T/last.err" || rc=$?
    if [[ $rc -ne $want ]]; then
        echo "--- stdout:" >&2; tail -n 40 "$T/last.out" >&2
        echo "--- stderr:" >&2; tail -n 40 "$T/last.err" >&2
        fail "exit status $rc, expected $want: $*"
    fi
}

# hs_mpi N ARGS...: hypersweep under mpirun with N ranks.
hs_mpi() {
    local n=$1; shift
    "${MPIRUN[@]}" -n "$n" "$HS" "$@"
}

need_h5py() {
    $PY -c 'import h5py' 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no h5py" >&2; exit 77; }
}
