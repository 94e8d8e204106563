#!/usr/bin/env bash
# GPU binding under mpirun: the node-local worker rank picks its GPU from the inherited
# CUDA_VISIBLE_DEVICES (or --gpus-per-node), two workers never share one unless asked, and
# on a node without GPUs runs get CUDA_VISIBLE_DEVICES= (empty). The runs record what they saw.
source "$(dirname "$0")/lib.sh"

cat > grid.cfg <<CFG
name = "binding";
run = { argv = ["python3", "$WORKLOAD"]; results = ["{run_dir}/result.json"]; };
axes = { x = [0, 1, 2, 3, 4, 5, 6, 7]; };
constants = { mode = "sleep"; seconds = 0.3; };
CFG
# each marker line is "PID CUDA_VISIBLE_DEVICES"; a result writes a closing "done" line
seen() { awk '$0 != "done" { print $2 }' markers/* | sort -u | tr '\n' ' '; }
run_with() {
    rm -rf sweeps markers; mkdir markers
    export HS_TEST_MARKERS=$T/markers
    expect_exit "$1" "${@:2}"
}

if [[ -z "$(ls /dev/nvidia[0-9]* 2>/dev/null)" ]]; then
    note "no GPU on this node: runs get an empty CUDA_VISIBLE_DEVICES"
    run_with 0 env -u CUDA_VISIBLE_DEVICES "${MPIRUN[@]}" -n 3 "$HS" run grid.cfg --progress none
    [[ "$(seen)" == " " || "$(seen)" == "" ]] || fail "runs saw CUDA_VISIBLE_DEVICES=$(seen)"
fi

note "inherited CUDA_VISIBLE_DEVICES: each worker its own GPU"
run_with 0 "${MPIRUN[@]}" -x CUDA_VISIBLE_DEVICES=GPU-aa,GPU-bb -n 3 "$HS" run grid.cfg --progress none
[[ "$(seen)" == "GPU-aa GPU-bb " ]] || fail "runs saw: $(seen)"

note "--gpus-per-node 4 with 4 workers"
run_with 0 env -u CUDA_VISIBLE_DEVICES "${MPIRUN[@]}" -n 5 "$HS" run grid.cfg --progress none --gpus-per-node 4
[[ "$(seen)" == "0 1 2 3 " ]] || fail "runs saw: $(seen)"

note "more workers than GPUs: refused before anything runs, unless --share-gpus"
run_with 2 "${MPIRUN[@]}" -x CUDA_VISIBLE_DEVICES=GPU-aa -n 3 "$HS" run grid.cfg --progress none
grep -q "offers 1 GPU (CUDA_VISIBLE_DEVICES) but runs 2 workers" last.err || fail "$(cat last.err)"
[[ ! -e sweeps ]] || fail "a refused sweep wrote files"
run_with 0 "${MPIRUN[@]}" -x CUDA_VISIBLE_DEVICES=GPU-aa -n 3 "$HS" run grid.cfg --progress none --share-gpus
[[ "$(seen)" == "GPU-aa " ]] || fail "runs saw: $(seen)"

note "gpus = 0: runs get no GPU even where there is one"
sed -i 's/results = \[/gpus = 0; results = [/' grid.cfg
run_with 0 "${MPIRUN[@]}" -x CUDA_VISIBLE_DEVICES=GPU-aa,GPU-bb -n 3 "$HS" run grid.cfg --progress none
[[ "$(seen)" == "" || "$(seen)" == " " ]] || fail "gpus = 0 runs saw: $(seen)"
echo PASS
