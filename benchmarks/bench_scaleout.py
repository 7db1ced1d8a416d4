"""Scale-out: backlog rescheduling in one process vs partitioned over a local Ray cluster.

The same backlog and rules as `bench_scenarios` (the generated order stream promised in
creation order, every strategy group). Measured in one run on this machine:

- ``inprocess``: `scenarios.backlog.reschedule`, one call over the whole backlog;
- ``inprocess_partitioned``: the same partitions as Ray, planned one after another here (the
  cost of partitioning and merging without any parallelism);
- ``ray_2_workers``: `scenarios.scaleout.reschedule_partitioned(executor="ray", parts=2)` on a
  local Ray instance with 2 CPUs: the snapshot, live positions and backlog go into the object
  store on every call (counted in the time), each task plans its clusters, the driver merges.

The speed-up is the ratio in-process / Ray. Ray's start and the workers' first call (numba
kernels loaded or compiled in each worker process) are reported apart as compile time. Every
Ray plan is checked equal to the in-process plan.
"""

from __future__ import annotations

import os
import time

import numpy as np
import polars as pl

from benchmarks.common import dataset
from benchmarks.harness import Result, median
from benchmarks.bench_scenarios import RULES


def _same(a, b) -> None:
    from polars.testing import assert_frame_equal

    assert_frame_equal(a.lines, b.lines)
    assert_frame_equal(a.schedule, b.schedule)
    assert (a.state.cum == b.state.cum).all()


def run(*, size: str, seed: int, repeats: int) -> list[Result]:
    from scenarios.backlog import RescheduleConfig, reschedule
    from scenarios.partition import clusters
    from scenarios.scaleout import reschedule_partitioned
    from scenarios.service import backlog_from_orders
    from supplydata import load_snapshot

    repeats = repeats or 3
    path = dataset(size, seed)
    snap = load_snapshot(path)
    live, backlog, schedule = backlog_from_orders(snap, pl.read_parquet(path / "orders.parquet"))
    cfg = RescheduleConfig.model_validate({"rules": RULES})
    n = backlog.height

    t0 = time.perf_counter()
    reschedule(snap, live, backlog.head(50), cfg, schedule=schedule.filter(pl.col("row") < 50))
    compile_s = time.perf_counter() - t0

    def timed(fn):
        out, times = None, []
        for _ in range(repeats):
            out = None
            t = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
        return out, median(times)

    single, t_single = timed(lambda: reschedule(snap, live, backlog, cfg, schedule=schedule))
    labels = clusters(snap, backlog, ties=())
    sizes = np.bincount(labels)
    split, t_split = timed(lambda: reschedule_partitioned(snap, live, backlog, cfg, schedule=schedule, parts=2))
    _same(single, split)
    params = {"lines": n, "item_locations": snap.n_il, "clusters": int(sizes.size), "largest_cluster": int(sizes.max())}
    results = [
        Result("scaleout.reschedule_inprocess", "median", t_single, "s", None, None, params, compile_s=compile_s),
        Result("scaleout.reschedule_inprocess_partitioned", "median", t_split, "s", None, None, {**params, "parts": 2},
               notes="partition " + ", ".join(f"{k} {split.timings[k]:.3f}" for k in ("partition", "plan", "merge"))),
    ]
    try:
        import ray
    except ImportError:
        results.append(Result("scaleout.ray_speedup", "ratio", float("nan"), "x", None, None, params,
                              notes="ray is not installed (pip install promessa[scale]): not measured"))
        return results
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        t_start = time.perf_counter() - t0
        # the workers' first call: numba kernels loaded (or compiled) in each worker process
        t0 = time.perf_counter()
        reschedule_partitioned(snap, live, backlog.head(400), cfg, schedule=schedule.filter(pl.col("row") < 400),
                               parts=2, executor="ray", timeout_s=600)
        t_warm = time.perf_counter() - t0
        on_ray, t_ray = timed(lambda: reschedule_partitioned(snap, live, backlog, cfg, schedule=schedule, parts=2,
                                                             executor="ray", timeout_s=600))
        _same(single, on_ray)
    finally:
        ray.shutdown()
    results.append(Result("scaleout.reschedule_ray_2_workers", "median", t_ray, "s", None, None, {**params, "parts": 2},
                          compile_s=t_start + t_warm,
                          notes=(f"ray start {t_start:.1f} s, workers' first call {t_warm:.1f} s (apart); "
                                 + ", ".join(f"{k} {on_ray.timings[k]:.3f}" for k in ("partition", "plan", "merge"))
                                 + f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")))
    results.append(Result("scaleout.ray_speedup", "ratio", t_single / t_ray, "x", None, None, {**params, "parts": 2},
                          notes=f"in-process {t_single:.3f} s / ray with 2 workers {t_ray:.3f} s, same plan; "
                                f"partitioned in-process {t_split:.3f} s"))
    return results
