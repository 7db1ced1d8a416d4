"""Scale-out: backlog rescheduling in one process vs partitioned over a local Ray cluster.

The same backlog and rules as `bench_scenarios` (the generated order stream promised in
creation order, every strategy group). Measured in one run on this machine:

- ``inprocess``: `scenarios.backlog.reschedule`, one call over the whole backlog;
- ``inprocess_partitioned``: the same partitions as Ray, planned one after another here (the
  cost of partitioning and merging without any parallelism);
- ``ray_2_workers``: `scenarios.scaleout.reschedule_partitioned(executor="ray", parts=2)` on a
  local Ray instance with 2 CPUs: the snapshot, live positions and backlog go into the object
  store on every call (counted in the time), each task plans its clusters, the driver merges.

What-if sweeps (`scenarios.whatif.run_whatif`), the same backlog and rules, `SWEEP` scenarios:

- ``whatif_sweep_inprocess``: the scenarios one after another (baseline once);
- ``whatif_sweep_ray_2_workers``: one Ray task per scenario on the same local Ray (the snapshot,
  live state, backlog and baseline put into the object store once per sweep, counted in the time).

Batch sourcing partitioned by independent clusters of orders (`sourcing.partitioned`), on the
network of `bench_sourcing` (2,000 items, 20 candidate nodes per zone):

- ``sourcing_greedy_whole`` vs ``sourcing_greedy_partitioned`` (in-process, `parts` 2) vs
  ``sourcing_greedy_ray_2_workers``: options, pools and the greedy (exact per cluster, so the
  assignments are checked equal line for line);
- ``sourcing_solve_whole`` vs ``sourcing_solve_ray_2_workers``: `solve_batch` (CP-SAT, each
  problem with the same time limit) on the whole batch and per partition; the objectives are
  reported side by side (CP-SAT's search is not per cluster: equal only when both are optimal).

The speed-up is the ratio in-process / Ray. Ray's start and the workers' first call (numba
kernels loaded or compiled in each worker process) are reported apart as compile time. Every
Ray plan is checked equal to the in-process plan. On a machine shared with other work the
load average is in the notes: read the ratios, not the seconds.
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
    sweep_rows, sweep_check = _sweep_inprocess(snap, live, backlog, schedule, cfg, repeats)
    results += sweep_rows
    src_rows, src_check = _sourcing_inprocess(size, seed)
    results += src_rows
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
        ray_sweep = sweep_check(True)
        ray_src = src_check()
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
    return results + ray_sweep + ray_src


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (5 min {five:.1f}) on {os.cpu_count()} cores"


SWEEP = [
    {"name": "purchases two weeks late", "changes": [{"type": "delay_receipts", "days": 14, "kind": ["purchase"]}]},
    {"name": "toys x2", "changes": [{"type": "demand_spike", "factor": 2.0, "category": ["toys"]}]},
    {"name": "half the transfers", "changes": [{"type": "cut_receipts", "keep": 0.5, "kind": ["transfer"]}]},
    {"name": "late purchases + toy spike", "changes": [
        {"type": "delay_receipts", "days": 14, "kind": ["purchase"], "ref": ["PU*0", "PU*5"]},
        {"type": "demand_spike", "factor": 2.0, "category": ["toys"]}]},
]


def _same_report(a, b) -> None:
    from polars.testing import assert_frame_equal

    assert a.current == b.current and a.baseline == b.baseline and len(a.scenarios) == len(b.scenarios)
    for x, y in zip(a.scenarios, b.scenarios):
        dx, dy = x.to_dict(), y.to_dict()
        for k in ("seconds", "fork_seconds"):
            dx.pop(k), dy.pop(k)
        # polars' size estimate of the fork's tables depends on their chunks in that process (a worker's
        # snapshot is one chunk per column): a byte or so of hundreds of MB
        mx, my = dx.pop("fork_memory_bytes"), dy.pop("fork_memory_bytes")
        assert abs(mx - my) <= 1e-6 * mx
        assert dx == dy
        assert_frame_equal(x.result.lines, y.result.lines)
        assert_frame_equal(x.result.schedule, y.result.schedule)


def _sweep_inprocess(snap, live, backlog, schedule, cfg, repeats):
    """The sweep in-process (timed now) and a closure that times it on the running Ray and checks it."""
    from scenarios.whatif import parse_scenarios, run_whatif

    scs = parse_scenarios({"scenarios": SWEEP})
    reps = max(1, min(repeats, 2))
    times, here = [], None
    for _ in range(reps):
        t = time.perf_counter()
        here = run_whatif(snap, live, backlog, scs, config=cfg, schedule=schedule)
        times.append(time.perf_counter() - t)
    t_here = median(times)
    params = {"scenarios": len(scs), "lines": backlog.height, "item_locations": snap.n_il}
    rows = [Result("scaleout.whatif_sweep_inprocess", "median", t_here, "s", None, None, params,
                   notes=f"baseline once, {len(scs)} scenarios one after another; {_load()}")]

    def on_ray(_ray_running: bool) -> list[Result]:
        t = time.perf_counter()  # the workers' first scenario: kernels loaded in each worker
        run_whatif(snap, live, backlog, scs[:2], config=cfg, schedule=schedule, baseline=here.baseline_result,
                   executor="ray", timeout_s=1800)
        warm = time.perf_counter() - t
        times, got = [], None
        for _ in range(reps):
            t = time.perf_counter()
            got = run_whatif(snap, live, backlog, scs, config=cfg, schedule=schedule, executor="ray", timeout_s=1800)
            times.append(time.perf_counter() - t)
        _same_report(here, got)
        t_ray = median(times)
        # where the time goes: the scenarios' own fork + run, timed inside each task and in-process
        in_tasks = sum(x.seconds for x in got.scenarios)
        in_here = sum(x.seconds for x in here.scenarios)
        return [Result("scaleout.whatif_sweep_ray_2_workers", "median", t_ray, "s", None, None, {**params, "workers": 2},
                       compile_s=warm, notes=f"one task per scenario, same report as in-process (checked); the scenarios' "
                                             f"fork + run {in_tasks:.2f} s summed inside the tasks vs {in_here:.2f} s "
                                             f"in-process; workers' first call {warm:.1f} s apart; {_load()}"),
                Result("scaleout.whatif_sweep_ray_speedup", "ratio", t_here / t_ray, "x", None, None,
                       {**params, "workers": 2}, notes=f"in-process {t_here:.2f} s / ray {t_ray:.2f} s")]

    return rows, on_ray


def _sourcing_inprocess(size: str, seed: int):
    """Batch sourcing whole vs partitioned in-process (timed now) and a closure that times the
    partitions on the running Ray and checks them."""
    from polars.testing import assert_frame_equal

    from benchmarks.bench_sourcing import _snapshot
    from sourcing.batch import BatchConfig, _assignments, build_problem, evaluate, greedy, solve_batch
    from sourcing.partitioned import order_clusters, solve_partitioned

    snap, orders = _snapshot(seed, 21_000)
    n_orders = {"small": 1000, "medium": 3000, "full": 10_000}.get(size, 1000)
    ids = orders["order"].unique(maintain_order=True).head(n_orders)
    batch = orders.filter(pl.col("order").is_in(ids.implode()))
    state = snap.new_state()
    warm = orders.filter(pl.col("order").is_in(ids.head(20).implode()))
    t = time.perf_counter()
    solve_batch(snap, state, warm, BatchConfig(time_limit_s=1.0, workers=1))
    compile_s = time.perf_counter() - t
    labels = order_clusters(snap, state, batch)
    sizes = np.bincount(labels)
    params = {"orders": len(ids), "lines": batch.height, "clusters": int(sizes.size),
              "largest_cluster_lines": int(sizes.max()), "parts": 2}

    t = time.perf_counter()
    prob = build_problem(snap, state, batch)
    g = greedy(prob)
    whole_g = _assignments(prob, g)
    t_whole_g = time.perf_counter() - t
    t = time.perf_counter()
    part_g = solve_partitioned(snap, state, batch, method="greedy", parts=2)
    t_part_g = time.perf_counter() - t
    assert_frame_equal(part_g.assignments, whole_g)
    cfg = BatchConfig(time_limit_s=5.0, workers=1)
    t = time.perf_counter()
    whole = solve_batch(snap, state, batch, cfg)
    t_whole = time.perf_counter() - t
    rows = [
        Result("scaleout.sourcing_greedy_whole", "once", t_whole_g, "s", None, None, params, compile_s=compile_s,
               notes=f"options, pools, greedy over the whole batch; objective {evaluate(prob, g):,.0f}; {_load()}"),
        Result("scaleout.sourcing_greedy_partitioned", "once", t_part_g, "s", None, None, params,
               notes="the same greedy per partition (in-process), assignments equal line for line (checked); "
                     + ", ".join(f"{k} {part_g.timings[k]:.2f} s" for k in ("partition", "solve", "merge"))),
        Result("scaleout.sourcing_solve_whole", "once", t_whole, "s", None, None, {**params, "time_limit_s": 5.0},
               notes=f"solve_batch on the whole batch, 1 CP-SAT worker: status {whole.status}, objective "
                     f"{whole.objective:,.0f}, bound {whole.bound:,.0f}"),
    ]

    def on_ray() -> list[Result]:
        t = time.perf_counter()
        solve_partitioned(snap, state, warm, method="greedy", parts=2, executor="ray", timeout_s=1800)
        warm_s = time.perf_counter() - t
        t = time.perf_counter()
        rg = solve_partitioned(snap, state, batch, method="greedy", parts=2, executor="ray", timeout_s=1800)
        t_rg = time.perf_counter() - t
        assert_frame_equal(rg.assignments, whole_g)
        t = time.perf_counter()
        rs = solve_partitioned(snap, state, batch, cfg, parts=2, executor="ray", timeout_s=1800)
        t_rs = time.perf_counter() - t
        assert rs.objective <= rs.greedy_objective + 1e-6 and rs.bound <= rs.objective + 1e-6
        same = ("equal objectives" if abs(rs.objective - whole.objective) <= 1e-6 * max(1.0, abs(whole.objective))
                else f"objective {rs.objective:,.0f} vs whole {whole.objective:,.0f}")
        return [
            Result("scaleout.sourcing_greedy_ray_2_workers", "once", t_rg, "s", None, None, params, compile_s=warm_s,
                   notes=f"assignments equal to the whole greedy (checked); workers' first call {warm_s:.1f} s apart; "
                         f"in-process whole {t_whole_g:.2f} s, partitioned {t_part_g:.2f} s; {_load()}"),
            Result("scaleout.sourcing_greedy_ray_speedup", "ratio", t_whole_g / t_rg, "x", None, None, params,
                   notes=f"whole in-process {t_whole_g:.2f} s / 2 partitions on ray {t_rg:.2f} s"),
            Result("scaleout.sourcing_solve_ray_2_workers", "once", t_rs, "s", None, None, {**params, "time_limit_s": 5.0},
                   notes=f"solve_batch per partition as Ray tasks: status {rs.status}, objective {rs.objective:,.0f}, "
                         f"bound {rs.bound:,.0f} ({same}; whole in-process {t_whole:.1f} s); {_load()}"),
        ]

    return rows, on_ray
