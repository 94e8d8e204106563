#!/usr/bin/env bash
# The README's lines that load a store into pandas work on a real store: the snippet is
# taken from README.md itself, so the documentation cannot drift from the store.
source "$(dirname "$0")/lib.sh"
need_h5py
$PY -c 'import pandas' 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no pandas" >&2; exit 77; }
sed -n '/<!-- snippet: load-store -->/,/<!-- end snippet -->/p' "$HS_SOURCE_DIR/README.md" \
    | sed '1,2d;$d' | sed '$d' > snippet.py
grep -q "def load_store" snippet.py || fail "README has no load-store snippet"
cat > grid.cfg <<CFG
name = "snippet";
run = { argv = ["python3", "$WORKLOAD"]; results = ["{run_dir}/result.json"]; };
axes = { mode = ["ok", "fail"]; x = [1, 2, 3]; tag = ["ü", "量化"]; };
CFG
expect_exit 1 "$HS" run grid.cfg --progress none
cat snippet.py - > check.py <<'PY'
df = load_store("sweeps/snippet/sweep.h5")
assert len(df) == 12, len(df)
ok = df[df.status == "ok"]
assert len(ok) == 6 and set(df.status) == {"ok", "failed"}, df.status.value_counts()
assert (ok["score"] == ok["param:x"] * 1.5).all()
assert set(df["param:tag"]) == {"ü", "量化"}
assert (df[df.status == "failed"]["failure_class"] == "nonzero_exit").all()
print("the README snippet loads", len(df), "runs;", ok.groupby("param:tag")["score"].mean().to_dict())
PY
$PY check.py || fail "the README snippet does not work"
echo PASS
