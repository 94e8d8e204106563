#!/usr/bin/env python3
"""The integration tests' workload (standard library only). Its parameters choose what it
does, so one grid exercises every way a run can end:

  mode = ok          write result.json with metrics derived from the parameters
         sleep       sleep `seconds` (or until the file `gate` exists, or, with `gate_dir`,
                     until GATE_DIR/<run index> or GATE_DIR/all exists), then as ok
         fail        exit with status `code` (default 3) after a message on stderr
         signal      kill itself with signal `sig` (default SIGSEGV)
         hang        sleep forever, ignoring SIGTERM (needs the SIGKILL after the grace)
         badjson     write a malformed result.json and exit 0
         nanjson     write Python's NaN / Infinity / -Infinity into result.json
         flood       write `mib` MiB to stdout, then as ok
         noresult    exit 0 without writing any result (the users' pipelines do this)
         warn        as ok, with a non-empty "warnings" list
         flaky       fail on the first attempt, succeed on the next (marker in the run dir)
         argv        write its argv into result.json (as "argc" and in argv.json)
         wide        as ok, plus `wide` metrics of its own (w<index>/<k>): the store grows
         analysis    metrics with a known structure for the analysis tests (see analysis_metrics)

Metrics: score = x * 1.5 + y / 4, twice = 2 * x, and index = HYPERSWEEP_RUN_INDEX.
If HS_TEST_MARKERS names a directory, each execution appends a line to MARKERS/<run_id>
("PID CUDA_VISIBLE_DEVICES"), and a line "done" once it has written its result.
"""
import hashlib
import json
import math
import os
import signal
import sys
import time

params = json.loads(os.environ["HYPERSWEEP_PARAMS"])
run_id = os.environ["HYPERSWEEP_RUN_ID"]
run_dir = os.environ["HYPERSWEEP_RUN_DIR"]
result = os.environ["HYPERSWEEP_RESULT"]
mode = params.get("mode", "ok")

markers = os.environ.get("HS_TEST_MARKERS")
if markers:
    with open(os.path.join(markers, run_id), "a") as f:
        f.write("%d %s\n" % (os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")))

x = float(params.get("x", 0))
y = float(params.get("y", 0))
metrics = {"score": x * 1.5 + y / 4, "twice": 2 * x,
           "index": int(os.environ["HYPERSWEEP_RUN_INDEX"])}


def analysis_metrics(p):
    """A pruning-study-like result: acc (target) depends on model, method, seq and samples;
    ppl falls with acc; grad_ratio follows acc; grad_norm_ratio is Infinity at seq 16;
    const_diag is constant; layers is integer-valued; lm-eval-style task scores (acc and
    acc_norm, an MMLU group with categories and a subtask), passkey retrieval by depth, a GPU
    memory peak, and a metric with a CJK name. Method "noop" writes exactly fp16's metrics.
    A `seed` parameter changes the noise of every method but fp16 (whose acc is exact); a run
    whose `fail_seed` equals its seed fails."""
    model, method = p["model"], p["method"]
    seq, samples = p.get("seq", 0), p.get("samples", 0)
    key_method = "fp16" if method == "noop" else method

    seed = "|seed=%s" % p["seed"] if "seed" in p else ""

    def noise(tag):
        h = hashlib.sha256(("%s|%s|%s|%s|%s%s" % (model, key_method, seq, samples, tag, seed))
                           .encode()).hexdigest()
        return int(h[:12], 16) / float(16 ** 12)

    base = 0.50 + 0.02 * (sum(map(ord, model)) % 5)
    if key_method == "fp16":
        acc = base
    elif method == "taylor":
        acc = base - 0.2 / math.log2(seq) + 0.01 * math.log2(samples / 128) + 0.03 * noise("a")
    elif method == "layerwise":
        acc = base - 0.04 - 0.1 / math.log2(seq) + 0.04 * noise("a")
    else:
        acc = base - 0.02 + 0.01 * noise("a")
    keys = 10
    depth = {d: round(min(1.0, acc + 0.4 - d * 0.3 + 0.2 * noise("d%s" % d)) * keys) / keys
             for d in (0.1, 0.5, 0.9)}
    return {
        "acc": acc,
        "ppl": 30 - 25 * acc + noise("p"),
        "grad_ratio": 3 * acc + 0.05 * noise("g"),
        "grad_norm_ratio": float("inf") if seq == 16 else 2 * acc + 0.3 * noise("n"),
        "const_diag": 0.5,
        "layers": int(noise("l") * 4),
        "评测": {"准确率": acc + 0.1 * noise("c")},
        "gpu_mem_peak_mb": 1000 + 100 * noise("m"),
        "results": {
            "lm_eval": {
                "hellaswag": {"alias": "hellaswag", "acc,none": acc - 0.1 + 0.01 * noise("h1"),
                              "acc_norm,none": acc + 0.05 + 0.01 * noise("h2")},
                "mmlu": {"acc,none": acc + 0.1, "acc_stderr,none": 0.003},
                "mmlu_stem": {"acc,none": acc + 0.05 + 0.02 * noise("s")},
                "mmlu_humanities": {"acc,none": acc + 0.02},
                "mmlu_formal_logic": {"acc,none": acc - 0.02 + 0.05 * noise("f")},
                "arc_easy": {"acc,none": acc + 0.2, "acc_norm,none": acc + 0.15},
            },
            "kv": {"passkey_retrieval": {
                "depth_accuracy": {str(d): v for d, v in depth.items()},
                "accuracy": sum(depth.values()) / len(depth), "num_keys": keys}},
        },
        "warnings": ["the method was skipped"] if p.get("warn") else [],
    }


def write(obj, text=None):
    with open(result + ".tmp", "w") as f:
        f.write(text if text is not None else json.dumps(obj))
    os.rename(result + ".tmp", result)


if mode == "sleep" and "gate_dir" in params:
    # one gate per run: the test releases runs one by one (GATE_DIR/<index>) or all at once
    # (GATE_DIR/all); waits up to `gate_timeout` s (default 300), and gives up at once when
    # the directory goes away (the test is over)
    gates = params["gate_dir"]
    mine = os.path.join(gates, os.environ["HYPERSWEEP_RUN_INDEX"])
    deadline = time.time() + float(params.get("gate_timeout", 300))
    while not (os.path.exists(mine) or os.path.exists(os.path.join(gates, "all"))):
        if not os.path.isdir(gates):
            print("workload: the gate directory is gone", file=sys.stderr)
            sys.exit(6)
        if time.time() > deadline:
            print("workload: the gate never opened", file=sys.stderr)
            sys.exit(7)
        time.sleep(0.02)
elif mode == "sleep" and "gate" in params:
    deadline = time.time() + 60
    while not os.path.exists(params["gate"]) and time.time() < deadline:
        time.sleep(0.05)
elif mode == "sleep":
    time.sleep(float(params.get("seconds", 1)))
elif mode == "fail":
    print("workload: failing on purpose", file=sys.stderr)
    sys.exit(int(params.get("code", 3)))
elif mode == "signal":
    print("workload: about to crash", file=sys.stderr, flush=True)
    os.kill(os.getpid(), int(params.get("sig", signal.SIGSEGV)))
    time.sleep(5)
elif mode == "hang":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(1)
elif mode == "badjson":
    write(None, '{"score": 1.0, "twice": ')
    sys.exit(0)
elif mode == "nanjson":
    write(None, '{"score": NaN, "twice": Infinity, "neg": -Infinity, "index": %d}'
          % metrics["index"])
    sys.exit(0)
elif mode == "flood":
    chunk = ("x" * 1023 + "\n").encode()
    out = sys.stdout.buffer
    for _ in range(int(params.get("mib", 64)) * 1024):
        out.write(chunk)
    out.flush()
elif mode == "noresult":
    print("workload: pretending all went well", file=sys.stderr)
    sys.exit(0)
elif mode == "flaky":
    mark = os.path.join(run_dir, "flaky.mark")
    if not os.path.exists(mark):
        open(mark, "w").close()
        print("workload: flaky failure", file=sys.stderr)
        sys.exit(5)
elif mode == "analysis":
    if "fail_seed" in params and params["fail_seed"] == params.get("seed"):
        print("workload: failing on seed %s on purpose" % params["seed"], file=sys.stderr)
        sys.exit(3)
    metrics = analysis_metrics(params)
elif mode == "argv":
    with open(os.path.join(run_dir, "argv.json"), "w") as f:
        json.dump(sys.argv[1:], f)
    metrics["argc"] = len(sys.argv) - 1

if mode == "wide":
    for k in range(int(params.get("wide", 16))):
        metrics["w%d/%d" % (metrics["index"], k)] = k
if mode == "warn":
    metrics["warnings"] = ["quantization was skipped: the method did nothing"]
write(metrics)
if markers:
    with open(os.path.join(markers, run_id), "a") as f:
        f.write("done\n")
