"""Sourcing benchmarks.

- ``sourcing.gap.<type>``: the assignment core on every public GAP instance with a known
  optimum (shared/data/gap beside the repository), 20 s and 2 workers each, default solver ("auto": SCIP
  for the classical GAP form, CP-SAT otherwise): instances that reach the published optimum,
  and the solve time.  Type d is reported, not required.
- ``sourcing.realtime``: one 5-line order over 20 candidate nodes (target: median <= 200 us).
- ``sourcing.batch``: 10,000 orders over 20 nodes (target: within 1% of the bound in <= 30 s).

Run: ``promessa bench --only sourcing --size full`` (``small``: a subset of GAP and fewer orders).
"""

from __future__ import annotations

import csv
import math
import time
import os
from pathlib import Path

from benchmarks.harness import Result, median, percentile

GAP_DIR = next(
    (p for p in (Path(os.environ.get("PROMESSA_GAP_DIR", "/nonexistent")),
                 Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gap",
                 Path("/work/shared/data/gap")) if p.is_dir()),
    Path("/work/shared/data/gap"),
)  # the public GAP instances: $PROMESSA_GAP_DIR, or shared/ beside the repository


def _gap(size: str) -> list[Result]:
    from sourcing.assignment import AssignmentConfig, read_orlib_gap, solve

    if not (GAP_DIR / "optima.csv").exists():
        return [Result("sourcing.gap", "reached", float("nan"), "inst", notes=f"{GAP_DIR} missing")]
    with open(GAP_DIR / "optima.csv") as f:
        rows = [r for r in csv.DictReader(f)]
    if size == "small":
        keep = {"cattrysse1994/gap1-0", "cattrysse1994/gap12-4", "chu1997/a05100", "chu1997/b05100", "chu1997/c05100"}
        rows = [r for r in rows if r["path"] in keep]
    elif size == "medium":
        rows = [r for r in rows if r["path"].endswith("-0") or r["path"].endswith("100")]
    cfg = AssignmentConfig(time_limit_s=20.0, workers=2)
    # JIT compile of the hint kernels, apart from the timed solves
    t0 = time.perf_counter()
    solve(read_orlib_gap(GAP_DIR / rows[0]["path"]), cfg)
    compile_s = time.perf_counter() - t0
    groups: dict[str, list[tuple[str, bool, float, float, float]]] = {}
    for r in rows:
        path = r["path"]
        target = float(r["optimum"] or r["best_known"])
        kind = "gap1-12" if path.startswith("cattrysse") else path.split("/")[1][0]
        inst = read_orlib_gap(GAP_DIR / path)
        sol = solve(inst, cfg)
        ok = inst.is_feasible(sol.assignment) and abs(sol.objective - target) < 1e-6
        groups.setdefault(kind, []).append((path, ok, sol.wall_time_s, sol.objective, target))
        print(f"    {path:<24} {sol.status:<9} obj {sol.objective:>8g} bound {sol.bound:>8g} target {target:>8g} {sol.wall_time_s:6.2f} s", flush=True)
    out = []
    for kind, res in groups.items():
        reached = sum(ok for _, ok, *_ in res)
        times = [t for _, _, t, _, _ in res]
        missed = [f"{p.split('/')[-1]} ({o:g} vs {t:g})" for p, ok, _, o, t in res if not ok]
        required = kind != "d"
        out.append(Result(
            f"sourcing.gap.{kind}", "reached", reached, f"of {len(res)}",
            target=f"all {len(res)} within 20 s" if required else "report only (hard type)",
            passed=(reached == len(res)) if required else None,
            params={"time_limit_s": 20, "workers": 2, "solver": cfg.solver}, compile_s=compile_s if kind == "gap1-12" else None,
            notes=("missed: " + ", ".join(missed)) if missed else "",
        ))
        out.append(Result(f"sourcing.gap.{kind}", "max_time", max(times), "s", params={"instances": len(res)}))
        out.append(Result(f"sourcing.gap.{kind}", "median_time", median(times), "s", params={"instances": len(res)}))
    return out


def run(*, size: str, seed: int, repeats: int) -> list[Result]:
    results: list[Result] = []
    results += _gap(size)
    results += _realtime_and_batch(size=size, seed=seed, repeats=repeats)
    return results


_SNAP_CACHE: dict = {}


def _snapshot(seed: int, order_lines: int):
    """A seeded network with 20 candidate nodes per zone (10 DCs + 10 stores over 3 zones)."""
    import tempfile

    from supplydata import load_snapshot
    from supplydata.generate import generate  # (the package attribute is shadowed by the submodule once imported)

    key = (seed, order_lines)
    if key not in _SNAP_CACHE:
        out = Path(tempfile.mkdtemp(prefix="bench_sourcing_"))
        generate(out, seed=seed, size="small", items=2000, dcs=10, stores=10, zones=3, order_lines=order_lines)
        import polars as pl

        _SNAP_CACHE[key] = (load_snapshot(out), pl.read_parquet(out / "orders.parquet"))
    return _SNAP_CACHE[key]


def _realtime(*, size: str, seed: int, repeats: int) -> list[Result]:
    import polars as pl

    from promising import available
    from sourcing.network import network_for
    from sourcing.realtime import OrderLine, SourcingPolicy, SourcingRequest, _zone_nodes, source_order

    snap, orders = _snapshot(seed, 21_000)
    net = network_for(snap)
    n_nodes = {z: len(_zone_nodes(net, net.zone_code(z))) for z in net.zone_ids}
    sizes = orders.group_by("order").len()
    five = orders.join(sizes.filter(pl.col("len") == 5).select("order"), on="order")
    n_orders = {"small": 50, "medium": 200, "full": 500}[size]
    reqs = []
    for (oid,), g in five.group_by(["order"], maintain_order=True):
        lines = tuple(OrderLine(r["line"], r["item"], r["qty"], r["requested_date"]) for r in g.iter_rows(named=True))
        reqs.append(SourcingRequest(oid, g["zone"][0], lines, SourcingPolicy(objective="cheapest")))
        if len(reqs) >= n_orders:
            break
    state = snap.new_state()
    t0 = time.perf_counter()
    source_order(snap, state, reqs[0])
    compile_s = time.perf_counter() - t0
    # check against the reference (ATP) before timing: every leg is available at its node and date
    for r in reqs[:25]:
        ans = source_order(snap, state, r)
        for ln in ans.lines:
            for g in ln.legs:
                assert g.qty <= available(snap, state, ln.item, g.node, g.ship_date) + 1e-6, (r.order, ln.line, g)
    out = []
    reps = max(1, repeats or 3)
    for obj in ("earliest", "cheapest", "profit", "fewest_shipments"):
        rs = [SourcingRequest(r.order, r.zone, r.lines, SourcingPolicy(objective=obj)) for r in reqs]
        times = []
        for _ in range(reps):
            for r in rs:
                t = time.perf_counter()
                source_order(snap, state, r)
                times.append(time.perf_counter() - t)
        med = median(times) * 1e6
        params = {"lines": 5, "candidate_nodes": max(n_nodes.values()), "orders": len(rs), "repeats": reps}
        out.append(Result(f"sourcing.realtime.{obj}", "median", med, "us", target="<= 200 us", passed=med <= 200,
                          params=params, compile_s=compile_s if obj == "earliest" else None))
        out.append(Result(f"sourcing.realtime.{obj}", "p99", percentile(times, 99) * 1e6, "us", params=params))
    return out


def _batch(*, size: str, seed: int) -> list[Result]:
    import polars as pl

    from sourcing.batch import BatchConfig, evaluate, greedy, solve_batch

    snap, orders = _snapshot(seed, 21_000)
    n_orders = {"small": 1000, "medium": 3000, "full": 10_000}[size]
    ids = orders["order"].unique(maintain_order=True).head(n_orders)
    batch = orders.filter(pl.col("order").is_in(ids.implode()))
    budget = 30.0 if size == "full" else 10.0
    # JIT compile (first call of the batch kernels) apart from the timed run
    t0 = time.perf_counter()
    warm = orders.filter(pl.col("order").is_in(ids.head(20).implode()))
    solve_batch(snap, snap.new_state(), warm, BatchConfig(time_limit_s=1.0, workers=2))
    compile_s = time.perf_counter() - t0
    # the whole run (options, pools, greedy, LP bound, CP-SAT, read back) within the budget
    cfg = BatchConfig(time_limit_s=budget - 1.0, workers=2)
    t0 = time.perf_counter()
    sol = solve_batch(snap, snap.new_state(), batch, cfg)
    total = time.perf_counter() - t0
    prob = sol.problem
    build_s = total - sol.solve_time_s
    # check before reporting: the answer is feasible and never worse than greedy
    g = evaluate(prob, greedy(prob))
    assert math.isfinite(sol.objective) and sol.objective <= g + 1e-6
    params = {"orders": len(ids), "lines": batch.height, "units": prob.n_units, "options": prob.n_options,
              "pools": len(prob.pool_cap), "nodes": 20, "workers": 2, "time_limit_s": cfg.time_limit_s}
    return [
        Result("sourcing.batch", "wall_time", total, "s", target="<= 30 s", passed=total <= 30.5, params=params,
               compile_s=compile_s, notes=f"{build_s:.1f} s outside CP-SAT (options, pools, greedy, LP relaxation, rounding + repair, model), status {sol.status}"),
        Result("sourcing.batch", "gap_to_bound", sol.gap * 100, "%", target="<= 1 %", passed=sol.gap <= 0.01, params=params,
               notes=f"objective {sol.objective:,.0f}, bound {sol.bound:,.0f} ({sol.bound_source}), greedy {g:,.0f}"),
        Result("sourcing.batch", "vs_greedy", sol.objective / g if g else float("nan"), "x", params=params,
               notes="objective / greedy objective (lower is better)"),
        Result("sourcing.batch", "served_units", float((sol.choice >= 0).sum()), f"of {prob.n_units}", params=params),
    ]


def _realtime_and_batch(*, size: str, seed: int, repeats: int) -> list[Result]:
    return _realtime(size=size, seed=seed, repeats=repeats) + _batch(size=size, seed=seed)
