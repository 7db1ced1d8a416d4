"""Snapshot load: a generated network read from Parquet, checked and encoded into dense arrays."""

from __future__ import annotations

import time

from benchmarks.common import dataset
from benchmarks.harness import Result, median


def run(*, size: str, seed: int, repeats: int) -> list[Result]:
    from supplydata import load_snapshot

    repeats = repeats or 5
    t0 = time.perf_counter()
    path = dataset(size, seed)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    snap = load_snapshot(path)  # first load also compiles (or loads cached) kernels
    first = time.perf_counter() - t0
    # check before timing: the dense arrays agree with the tables
    assert abs(snap.supply.sum() - snap.tables["supply"]["qty"].sum()) < 1e-6 * max(1.0, snap.supply.sum())
    assert abs(snap.demand.sum() - snap.tables["demand"]["qty"].sum()) < 1e-6 * max(1.0, snap.demand.sum())
    del snap
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        snap = load_snapshot(path)
        times.append(time.perf_counter() - t0)
        del snap
    snap = load_snapshot(path)
    params = {"item_locations": snap.n_il, "days": snap.horizon, "supply_rows": snap.tables["supply"].height,
              "demand_rows": snap.tables["demand"].height}
    full = size == "full"
    return [
        Result("snapshot.load_parquet", "median", median(times), "s", "<= 2 s at 100,000 x 365" if full else None,
               (median(times) <= 2.0) if full else None, params, compile_s=first - median(times),
               notes=f"min {min(times):.2f} s, max {max(times):.2f} s over {repeats}; dense arrays {3 * snap.supply.nbytes / 2**20:.0f} MiB"),
        Result("snapshot.generate", "once", gen_s, "s", None, None, {"size": size},
               notes="0 when cached from an earlier run"),
    ]
