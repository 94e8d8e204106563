#!/usr/bin/env bash
# Hostile values: "x; touch ..." and "../../escape" reach the run as literal arguments and
# variables; nothing is created outside the run directory.
source "$(dirname "$0")/lib.sh"
need_h5py

cat > grid.cfg <<CFG
name = "hostile";
run = { argv = ["python3", "$WORKLOAD", "{v}", "--v={v}", "\$(touch $T/pwned3)"];
        results = ["{run_dir}/result.json"];
        env = { HOSTILE = "{v}"; }; };
axes = { v = ["x; touch $T/pwned", "../../escape", "\$(touch $T/pwned2)", "\`touch $T/pwned4\`",
              "*", "a\nb"]; };
constants = { mode = "argv"; };
CFG
# what lies outside the sweep directory, with the checksums of the files (not by mtime: no
# clock and no sleep needed to tell a new file from an old one)
outside() {
    (cd "$T" && find . -mindepth 1 -path ./sweeps -prune -o -not -name 'last.*' \
        -not -name 'outside.*' -printf '%p %y\n' | sort &&
        find . -path ./sweeps -prune -o -type f -not -name 'last.*' -not -name 'outside.*' \
        -exec md5sum {} + | sort)
}
outside > outside.before
expect_exit 0 hs_mpi 3 run grid.cfg --progress none
for f in pwned pwned2 pwned3 pwned4 escape sweeps/escape sweeps/hostile/escape; do
    [[ ! -e $f ]] || fail "$f was created"
done
# nothing new or changed outside the sweep directory
outside > outside.after
extra=$(diff outside.before outside.after) || true
[[ -z $extra ]] || fail "files created or changed outside the run directories: $extra"
"$HS" expand grid.cfg --format json > expand.json
$PY - <<'PY'
import json, os
for r in json.load(open("expand.json"))["runs"]:
    v = r["params"]["v"]
    d = r["run_dir"]
    assert os.path.basename(d) == r["id"], "run directories are named by id"
    argv = json.load(open(os.path.join(d, "argv.json")))
    assert argv[0] == v and argv[1] == "--v=" + v, (argv, v)
    assert argv[2].startswith("$(touch"), argv
print("every hostile value arrived as one literal argument")
PY

note "the shell opt-in passes values through the environment, never into the text"
cat > shell.cfg <<CFG
name = "hostile_shell";
run = { shell = "printf '%s' \"\$HYPERSWEEP_P_V\" > value.txt; echo '{\"ok\": 1}' > \"\$HYPERSWEEP_RESULT\"";
        results = ["{run_dir}/result.json"]; };
axes = { v = ["x; touch $T/pwned5", "\$(touch $T/pwned6)"]; };
CFG
expect_exit 0 "$HS" run shell.cfg --progress none
[[ ! -e pwned5 && ! -e pwned6 ]] || fail "the shell run executed a value"
for d in sweeps/hostile_shell/runs/*/; do
    grep -q "touch" "$d/value.txt" || fail "value.txt in $d: $(cat "$d/value.txt")"
done
echo PASS
