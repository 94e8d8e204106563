#!/usr/bin/env bash
# Long values: a 10 kB string parameter (multibyte UTF-8, quotes, backslashes, newlines, tabs)
# and a grid of 200 parameters run locally and under mpirun -n 3; every value comes back byte
# for byte from /params, /runs/params, export (JSON and CSV) and hypersweep-analyze's JSON,
# while status, the analysis' text and the dry run keep their lines short and say that they
# shortened. A failed run with a 4.5 kB parameter likewise.
source "$(dirname "$0")/lib.sh"
need_h5py

# The grids and what each run's parameters must be (expected.json: grid -> list of dicts).
$PY - "$WORKLOAD" <<'PY'
import json, sys
workload = sys.argv[1]

def text(n):
    unit = 'Prompt «é中文🎉» with "quotes", a back\\slash\\n, a tab\there,\nnew line; '
    s, out = "", []
    while len(s.encode()) < n:
        s += unit
    b = s.encode()[:n]
    while True:  # cut on a character boundary, pad to exactly n bytes
        try:
            s = b.decode()
            break
        except UnicodeDecodeError:
            b = b[:-1]
    return s + "z" * (n - len(s.encode()))

def lit(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return '"' + (v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                  .replace("\t", "\\t")) + '"'

run = ('run = { argv = ["python3", "%s", "{prompt}"]; results = ["{run_dir}/result.json"]; '
       'timeout = 60; retries = 0; };\n' % workload)
long10k = text(10240)
assert len(long10k.encode()) == 10240
expected = {}

# one 10 kB value among short ones, also on the command line
open("long.cfg", "w").write('name = "long";\n' + run +
    "axes = { x = [1, 2]; prompt = [%s, %s]; };\n" % (lit(long10k), lit("short")))
expected["long"] = [{"x": x, "prompt": p} for x in (1, 2) for p in (long10k, "short")]

# 200 parameters: 2 axes and 198 constants of every type
consts = {}
for k in range(198):
    name = "c%03d" % k
    consts[name] = [k, k + 0.25, 'value "%d" \\ é中 🎉' % k, k % 8 == 3][k % 4]
open("many.cfg", "w").write('name = "many";\n' + run.replace('"{prompt}"', '"{c002}"') +
    "axes = { x = [1, 2]; prompt = [\"a\", \"b\"]; };\nconstants = { %s };\n"
    % " ".join("%s = %s;" % (n, lit(v)) for n, v in consts.items()))
expected["many"] = [dict(consts, x=x, prompt=p) for x in (1, 2) for p in ("a", "b")]

# a failed run with a 4.5 kB parameter
note = text(4608)
open("fail.cfg", "w").write('name = "fail";\n' + run.replace('"{prompt}"', '"{mode}"') +
    "axes = { mode = [\"fail\"]; note = [%s]; };\n" % lit(note))
expected["fail"] = [{"mode": "fail", "note": note}]
json.dump(expected, open("expected.json", "w"), ensure_ascii=False)
PY

# check_store NAME DIR: /params, /runs/params, export JSON and CSV, hypersweep-analyze run.
check_store() {
    local name=$1 dir=$2 store=$2/sweep.h5
    "$HS" export "$store" --format json -o export.json || fail "export json of $store"
    "$HS" export "$store" --format csv -o export.csv || fail "export csv of $store"
    "$HS" expand "$name.cfg" --format json > expand.json || fail "expand $name.cfg"
    "$HS" expand "$name.cfg" --format csv > expand.csv || fail "expand csv $name.cfg"
    $PY - "$name" "$store" <<'PY' || fail "$name: values not intact in $store"
import csv, json, subprocess, sys, os, h5py
name, store = sys.argv[1], sys.argv[2]
HSA = os.path.join(os.environ["HS_BINARY_DIR"], "hypersweep-analyze")
want = json.load(open("expected.json"))[name]

def key(p):
    return json.dumps(p, sort_keys=True, ensure_ascii=False)

def text(v):  # a value as hypersweep writes it as text (CSV, string columns)
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, float) else str(v)

# expand: the grid as given, with its run ids
runs = {r["id"]: r["params"] for r in json.load(open("expand.json"))["runs"]}
assert sorted(map(key, runs.values())) == sorted(map(key, want)), "expand json"
for row in csv.DictReader(open("expand.csv", newline="")):
    assert {k: row[k] for k in want[0]} == {k: text(v) for k, v in runs[row["id"]].items()}
with h5py.File(store, "r", swmr=True) as f:
    ids = [x.decode() for x in f["runs/run_id"][:]]
    assert sorted(ids) == sorted(runs), "one row per run"
    pjson = f["runs/params"][:]
    for col in want[0]:
        ds = f["params/" + col]
        vals = ds[:]
        for i, rid in enumerate(ids):
            v = runs[rid][col]
            if isinstance(v, str):  # byte for byte
                assert vals[i] == v.encode(), (col, rid, len(vals[i]), len(v.encode()))
            elif isinstance(v, bool):
                assert vals[i] == int(v), (col, rid)
            else:
                assert vals[i] == v, (col, rid, vals[i], v)
    for i, rid in enumerate(ids):
        got = json.loads(pjson[i].decode())
        assert got == runs[rid] and key(got) == key(runs[rid]), ("/runs/params", rid)
        for k, v in runs[rid].items():  # the JSON text holds each string exactly
            if isinstance(v, str):
                assert json.dumps(v, ensure_ascii=False).encode() in pjson[i], (k, rid)
# export: JSON typed, CSV as text, every byte
exp = {r["run_id"]: r["params"] for r in json.load(open("export.json"))["runs"]}
assert exp == runs, "export json"
n = 0
for row in csv.DictReader(open("export.csv", newline="", encoding="utf-8")):
    for k, v in runs[row["run_id"]].items():
        assert row["param:" + k] == text(v), ("export csv", k)
    n += 1
assert n == len(runs)
# hypersweep-analyze run: every parameter, typed and whole
for rid, p in runs.items():
    out = subprocess.run([HSA, "run", store, rid, "--format", "json"], check=True,
                         capture_output=True).stdout
    got = json.loads(out)["params"]
    assert got == p, ("analyze run", rid, [k for k in p if got.get(k) != p[k]])
print("%s: %d runs, %d parameters each, intact in /params, /runs/params, export and the "
      "analysis" % (store, len(runs), len(want[0])))
PY
}

# short_lines FILE WHAT [COLS]: no line of FILE wider than COLS (200) columns, and FILE says
# it shortened.
short_lines() {
    $PY - "$1" "$2" "${3:-200}" <<'PY' || fail "$2: $(head -c 2000 "$1")"
import sys, unicodedata
path, what, cols = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = open(path, encoding="utf-8").read()
def width(s):
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
widest = max(width(l) for l in text.splitlines())
assert widest <= cols, "%s: a line of %d columns" % (what, widest)
assert "shortened" in text and "\u2026" in text, "%s does not say it shortened" % what
print("%s: widest line %d columns, says it shortened" % (what, widest))
PY
}

for ranks in 1 3; do
    for name in long many; do
        note "$name: $ranks rank(s)"
        dir=sweeps/$name-$ranks
        if [[ $ranks -eq 1 ]]; then
            expect_exit 0 "$HS" run $name.cfg --dir $dir --progress none
        else
            expect_exit 0 hs_mpi $ranks run $name.cfg --dir $dir --progress none
        fi
        check_store $name $dir
    done
done

note "long values on the screen: status, dry run, hypersweep-analyze text"
store=sweeps/long-3/sweep.h5
expect_exit 0 "$HS" status $store
$PY -c "import sys; assert max(map(len, open(sys.argv[1]).read().splitlines())) <= 200" last.out ||
    fail "status: $(head -c 2000 last.out)"
expect_exit 0 "$HS" run long.cfg --dir sweeps/long-3 --dry-run
short_lines last.out "run --dry-run"
expect_exit 0 "$HS" expand long.cfg    # two long columns: the value and the command
short_lines last.out "expand" 400
"$HS" expand long.cfg --format json > expand.json
LONG_ID=$($PY -c '
import json
print(next(r["id"] for r in json.load(open("expand.json"))["runs"] if len(r["params"]["prompt"]) > 100))')
expect_exit 0 "$HS_BINARY_DIR/hypersweep-analyze" run $store $LONG_ID --format text
short_lines last.out "hypersweep-analyze run"
expect_exit 0 "$HS_BINARY_DIR/hypersweep-analyze" report $store --target score --by prompt \
    --format text
short_lines last.out "hypersweep-analyze report --by prompt"
expect_exit 0 "$HS_BINARY_DIR/hypersweep-analyze" report $store --target score --by prompt \
    --format json -o report.json
$PY - <<'PY' || fail "report --by prompt: the groups are not the values"
import json
want = {p["prompt"] for p in json.load(open("expected.json"))["long"]}
groups = {g["group"] for g in json.load(open("report.json"))["groups"]}
assert groups == want, [len(g) for g in groups]
print("report json: the group values whole")
PY
expect_exit 0 "$HS_BINARY_DIR/hypersweep-analyze" leaderboard $store --target score \
    --baseline x=1 --format markdown
short_lines last.out "hypersweep-analyze leaderboard (Markdown)"

for ranks in 1 3; do
    note "a failed run with a 4.5 kB parameter: $ranks rank(s)"
    dir=sweeps/fail-$ranks
    if [[ $ranks -eq 1 ]]; then
        expect_exit 1 "$HS" run fail.cfg --dir $dir --progress none
    else
        expect_exit 1 hs_mpi $ranks run fail.cfg --dir $dir --progress none
    fi
    check_store fail $dir
    for opt in "" --failed; do
        expect_exit 1 "$HS" status $dir/sweep.h5 $opt
        short_lines last.out "status $opt"
        grep -q "(4,608 bytes)" last.out || fail "status $opt does not give the size: $(cat last.out)"
        grep -q "hypersweep export" last.out || fail "status $opt does not say where the value is"
    done
done
echo PASS
