#!/usr/bin/env bash
# hypersweep set-up: install what is missing, build, then run the demo or every test.
#
#   ./setup.sh demo    install, build, run the demo sweep on the built-in workload, report
#   ./setup.sh test    install (test tools too), build with -Werror, run every test, then
#                      build with ASan+UBSan and run the unit tests again
#   ./setup.sh deps [--test]   only install (or, without root, print the apt-get line)
#   ./setup.sh build           only build (build/)
#
# Idempotent: packages already installed are not touched, builds are incremental.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"

BUILD_PKGS=(build-essential cmake ninja-build pkg-config git
            libopenmpi-dev openmpi-bin libhdf5-dev hdf5-tools libconfig-dev libjson-c-dev
            libopenblas-dev liblapacke-dev libxxhash-dev libcmocka-dev libgsl-dev)
TEST_PKGS=(python3 python3-h5py python3-pandas python3-scipy python3-numpy python3-xxhash
           parallel clang libclang-rt-14-dev slurm-wlm munge procps util-linux e2fsprogs)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

missing_packages() {
    local p status
    for p in "$@"; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        [[ "$status" == "install ok installed" ]] || printf '%s\n' "$p"
    done
}

install_deps() {
    local pkgs=("${BUILD_PKGS[@]}")
    [[ "${1:-}" == "--test" ]] && pkgs+=("${TEST_PKGS[@]}")
    if ! command -v dpkg-query >/dev/null; then
        log "not a Debian/Ubuntu system: install the equivalents of: ${pkgs[*]}"
        return 0
    fi
    local missing
    mapfile -t missing < <(missing_packages "${pkgs[@]}")
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    if [[ $(id -u) -ne 0 ]]; then
        echo "Missing packages. Install them with:" >&2
        echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

configure_build() {
    local dir=$1; shift
    local gen=()
    command -v ninja >/dev/null && gen=(-G Ninja)
    if [[ ! -f "$dir/CMakeCache.txt" ]]; then
        cmake -S "$ROOT" -B "$dir" "${gen[@]}" "$@" >/dev/null
    else
        cmake -S "$ROOT" -B "$dir" "$@" >/dev/null
    fi
    cmake --build "$dir" -j "$(nproc)"
}

mpi_flags() {
    local flags=(--oversubscribe)
    [[ $(id -u) -eq 0 ]] && flags+=(--allow-run-as-root)
    printf '%s\n' "${flags[@]}"
}

cmd=${1:-demo}
case "$cmd" in
deps)
    shift || true
    install_deps "${1:-}"
    ;;
build)
    install_deps
    configure_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
    ;;
demo)
    install_deps
    log "building (build/)"
    configure_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
    workers=$(nproc)
    ((workers > 16)) && workers=16
    log "demo: grids/demo.cfg, 135 runs of the built-in pruning probe, 1 master + $workers workers"
    # a second run resumes the same store: nothing is run again, the report comes at once
    export OMPI_MCA_btl_vader_single_copy_mechanism=none
    rc=0
    mpirun $(mpi_flags) --bind-to none -n $((workers + 1)) ./build/hypersweep run grids/demo.cfg || rc=$?
    if ((rc != 0 && rc != 1)); then
        echo "the demo sweep stopped with status $rc" >&2
        exit "$rc"
    fi
    log "report: hypersweep-analyze report sweeps/demo/sweep.h5"
    if [[ -x build/hypersweep-analyze ]]; then
        ./build/hypersweep-analyze report sweeps/demo/sweep.h5
    else
        ./build/hypersweep status sweeps/demo/sweep.h5
    fi
    ;;
test)
    install_deps --test
    log "building with -Werror (build/)"
    configure_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHYPERSWEEP_WERROR=ON
    log "running every test"
    (cd build && ctest --output-on-failure --timeout 900 -j "$(nproc)")
    log "building with ASan+UBSan (build-asan/)"
    configure_build build-asan -DCMAKE_BUILD_TYPE=Debug -DHYPERSWEEP_WERROR=ON \
        -DHYPERSWEEP_SANITIZE=ON -DHYPERSWEEP_WITH_CUDA=OFF -DHYPERSWEEP_SLURM_TESTS=OFF
    log "running the unit tests and the fuzz corpus under ASan+UBSan"
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        LSAN_OPTIONS=suppressions="$ROOT/tests/lsan.supp" \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --output-on-failure --timeout 900 -j "$(nproc)" -L 'unit|fuzz')
    ;;
-h|--help|help)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    ;;
*)
    echo "usage: ./setup.sh demo|test|deps [--test]|build" >&2
    exit 2
    ;;
esac
