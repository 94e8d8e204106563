#!/usr/bin/env bash
# Disk full (RLIMIT_FSIZE): the error is clear (exit 3), the rows already committed stay
# intact and readable, and a restart with space completes the sweep.
source "$(dirname "$0")/lib.sh"
need_h5py

cat > grid.cfg <<CFG
name = "full";
run = { argv = ["python3", "$WORKLOAD"]; results = ["{run_dir}/result.json"]; };
axes = { x = [$(seq -s, 0 59)]; y = [1.0, 2.0, 3.0, 4.0, 5.0]; };
constants = { mode = "wide"; wide = 16; };
CFG
# Each run adds 16 metrics of its own, so the store grows by a chunk per run: a 3 MiB limit
# stops it partway (the complete store is far larger).
rc=0
( ulimit -f 3072; exec "$HS" run grid.cfg --progress none ) > full.out 2> full.err || rc=$?
[[ $rc -eq 3 ]] || { cat full.out full.err >&2; fail "exit $rc with a full disk, expected 3"; }
grep -Eq "file size limit|disk full|No space|write failed" full.err \
    || fail "the error does not say why: $(cat full.err)"
note "$(grep -m1 -E 'file size limit|disk full|write failed' full.err)"
$PY - <<'PY'
import h5py, numpy as np
with h5py.File("sweeps/full/sweep.h5", "r", swmr=True) as f:
    ok = h5py.check_enum_dtype(f["runs/status"].dtype)["ok"]
    st = f["runs/status"][:]
    names = [x.decode() for x in f["metrics/names"][:]] if len(f["metrics/names"]) else []
    n_ok = int((st == ok).sum())
    assert 0 < n_ok < 300, n_ok
    if names:
        score = f["metrics/values"][:, names.index("score")]
        assert not np.isnan(score[st == ok]).any(), "an ok row lost its metrics"
print("after the failure:", n_ok, "rows ok, each with its metrics")
PY
expect_exit 0 "$HS" run grid.cfg --progress none
grep -q "ok *300" last.out || fail "the restart did not complete: $(cat last.out)"
note "complete store: $(stat -c %s sweeps/full/sweep.h5) bytes"
echo PASS
