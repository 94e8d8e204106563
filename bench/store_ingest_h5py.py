#!/usr/bin/python3
"""The peer of bench_store_ingest: h5py writing the same store the same way -- the same
/runs columns (types, chunks, compression), the same /metrics/values matrix, SWMR, batches
of 64 results committed in two phases (data, flush, status, flush).
usage: store_ingest_h5py.py FILE N M   ->   prints "N M seconds"."""
import sys, time
import h5py, numpy as np

path, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0 = time.monotonic()
cols = [  # name, dtype, chunk, compressed, fill
    ("run_id", "S16", 1024, False, None), ("index", "i8", 1024, False, -1),
    ("attempts", "i4", 1024, False, 0), ("exit_code", "i4", 1024, False, -1),
    ("signal", "i4", 1024, False, 0), ("failure_class", "S32", 256, True, None),
    ("message", "S256", 256, True, None), ("started", "f8", 1024, False, np.nan),
    ("finished", "f8", 1024, False, np.nan), ("wall_s", "f8", 1024, False, np.nan),
    ("host", "S64", 256, True, None), ("rank", "i4", 1024, False, -1),
    ("gpu", "i4", 1024, False, -1), ("gpu_name", "S96", 256, True, None),
    ("gpu_uuid", "S80", 256, True, None), ("git_commit", "S40", 256, True, None),
    ("git_dirty", "i1", 1024, False, -1), ("max_rss_mb", "f8", 1024, False, np.nan),
    ("cpu_s", "f8", 1024, False, np.nan), ("warnings", "i4", 1024, False, 0),
    ("stderr_tail", "S4096", 64, True, None), ("status", "u1", 1024, False, 0),
]
with h5py.File(path, "w", libver="latest") as f:
    ds = {}
    for name, dt, chunk, comp, fill in cols:
        ds[name] = f.create_dataset("runs/" + name, (n,), dtype=dt, chunks=(chunk,),
                                    maxshape=(None,), fillvalue=fill,
                                    compression="gzip" if comp else None,
                                    compression_opts=1 if comp else None)
    vals = f.create_dataset("metrics/values", (n, m), dtype="f8", chunks=(1024, 16),
                            maxshape=(None, None), fillvalue=np.nan)
    f.swmr_mode = True
    batch = 64
    for start in range(0, n, batch):
        end = min(n, start + batch)
        rows = np.arange(start, end)
        k = end - start
        for name, dt, chunk, comp, fill in cols:
            if name == "status":
                continue
            if name == "run_id":
                data = np.array(["%016x" % i for i in rows], dtype="S16")
            elif name == "index":
                data = rows
            elif dt.startswith("S"):
                data = np.zeros(k, dtype=dt)
            elif name in ("attempts",):
                data = np.ones(k, dtype=dt)
            elif name == "wall_s":
                data = np.ones(k)
            else:
                data = np.full(k, np.nan if dt == "f8" else 0, dtype=dt)
            ds[name][start:end] = data
        vals[start:end, :] = (rows[:, None] * m + np.arange(m)[None, :]).astype("f8")
        f.flush()
        ds["status"][start:end] = 2
        f.flush()
print(n, m, "%.3f" % (time.monotonic() - t0))
