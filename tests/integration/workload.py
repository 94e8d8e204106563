#!/usr/bin/env python3
"""The integration tests' workload (standard library only). Its parameters choose what it
does, so one grid exercises every way a run can end:

  mode = ok          write result.json with metrics derived from the parameters
         sleep       sleep `seconds`, then as ok
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

Metrics: score = x * 1.5 + y / 4, twice = 2 * x, and index = HYPERSWEEP_RUN_INDEX.
If HS_TEST_MARKERS names a directory, each execution appends a line to MARKERS/<run_id>
("PID CUDA_VISIBLE_DEVICES"), and a line "done" once it has written its result.
"""
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


def write(obj, text=None):
    with open(result + ".tmp", "w") as f:
        f.write(text if text is not None else json.dumps(obj))
    os.rename(result + ".tmp", result)


if mode == "sleep":
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
