#!/usr/bin/env bash
# hypersweep probe and hypersweep preflight from the command line: where parameters come
# from, where the result goes, and the exit codes (0 ok, 1 failed, 2 invalid).
set -u
hs="${HS_BINARY_DIR:?}/hypersweep"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
export OPENBLAS_NUM_THREADS=1
small=(taylor_num_samples=8 eval_num_samples=2)

expect() { # expect RC DESCRIPTION -- command...
    local want=$1 what=$2
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    [ "$rc" -eq "$want" ] || fail "$what: exit $rc, expected $want; stderr: $(cat "$tmp/err")"
}

# key=value parameters, typed; --out written atomically, nothing left beside it
expect 0 "key=value run" -- "$hs" probe prune profile=qwen sparsity=0.25 "${small[@]}" \
    --out "$tmp/r.json"
grep -q '"achieved_sparsity":0.25' "$tmp/r.json" || fail "sparsity=0.25 not applied"
grep -q '"device":"cpu"' "$tmp/r.json" || fail "no device in the result"
[ "$(ls "$tmp" | grep -c tmp)" -eq 0 ] || fail "temporary file left behind"

# invalid parameters: exit 2, one clear line, no result file
expect 2 "unknown parameter" -- "$hs" probe prune bogus=1 --out "$tmp/bad.json"
grep -q "^hypersweep probe: .*no parameter 'bogus'" "$tmp/err" || fail "message: $(cat "$tmp/err")"
[ ! -e "$tmp/bad.json" ] || fail "a result file was written for invalid parameters"
expect 2 "out of range" -- "$hs" probe prune sparsity=2 --out "$tmp/bad.json"
grep -q "sparsity = 2 is out of range" "$tmp/err" || fail "message: $(cat "$tmp/err")"
expect 2 "string where a number belongs" -- "$hs" probe prune taylor_seq_len=long
expect 2 "unknown probe" -- "$hs" probe nosuch
expect 2 "both parameter sources" -- "$hs" probe prune --params '{}' sparsity=0.1
expect 2 "not key=value" -- "$hs" probe prune sparsity
[ ! -e "$tmp/bad.json" ] || fail "a result file was written for invalid parameters"

# the worker's way: HYPERSWEEP_PARAMS and HYPERSWEEP_RESULT in the environment
HYPERSWEEP_PARAMS='{"profile": "mistral", "method": "blockwise", "taylor_num_samples": 8,
  "eval_num_samples": 2, "_run_label": "ignored"}' HYPERSWEEP_RESULT="$tmp/env.json" \
    expect 0 "environment run" -- "$hs" probe prune --device cpu
grep -q '"top1_agreement"' "$tmp/env.json" || fail "HYPERSWEEP_RESULT not written"
HYPERSWEEP_PARAMS='[1, 2]' expect 2 "HYPERSWEEP_PARAMS not an object" -- "$hs" probe prune
grep -q "HYPERSWEEP_PARAMS is not a JSON object" "$tmp/err" || fail "message: $(cat "$tmp/err")"

# --params wins over the environment; stdout when no file is named
HYPERSWEEP_PARAMS='{"bogus": 1}' expect 0 "--params over the environment" -- \
    "$hs" probe prune --params '{"importance": "magnitude", "eval_num_samples": 2}'
grep -q '"calib_tokens":0' "$tmp/out" || fail "the result did not go to stdout"

# a failure that is not the parameters' fault: exit 1, no file
CUDA_VISIBLE_DEVICES= expect 1 "cuda without a GPU" -- "$hs" probe prune --device cuda \
    "${small[@]}" --out "$tmp/cuda.json"
[ ! -e "$tmp/cuda.json" ] || fail "a result file was written for a failed run"

expect 0 "--list" -- "$hs" probe --list
grep -q "^prune " "$tmp/out" || fail "--list does not show prune"

# preflight without a GPU: one line, exit 0; bad usage: 2
CUDA_VISIBLE_DEVICES= expect 0 "preflight without GPU" -- "$hs" preflight
grep -q "no GPU" "$tmp/out" || fail "preflight output: $(cat "$tmp/out")"
[ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "preflight without GPU printed more than one line"
expect 2 "preflight bad option" -- "$hs" preflight --gemm-size 1

if [ -n "${MPIEXEC:-}" ] && command -v "$MPIEXEC" >/dev/null 2>&1; then
    mpi=("$MPIEXEC" -n 3 --oversubscribe)
    [ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
    CUDA_VISIBLE_DEVICES= expect 0 "mpirun -n 3 preflight" -- "${mpi[@]}" "$hs" preflight
    grep -q "no GPU on any of the 2 worker ranks" "$tmp/out" ||
        fail "mpirun preflight output: $(cat "$tmp/out")"
    # two workers told to expect GPUs that CUDA_VISIBLE_DEVICES does not offer: both rows
    # fail (binding), the table says so, exit 1
    CUDA_VISIBLE_DEVICES= expect 1 "mpirun -n 3 preflight with missing GPUs" -- "${mpi[@]}" \
        "$hs" preflight --gpus-per-node 2
    grep -q "2 of 2 workers FAILED" "$tmp/out" || fail "mpirun preflight output: $(cat "$tmp/out")"
fi
echo "ok"
