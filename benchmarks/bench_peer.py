"""Peer: backlog rescheduling on a frePPLe-shaped instance, beside the bare numba loop (issue 19).

The instance (`generate_instance`, seeded): greedy priority / due-date allocation of N orders over
M items (100,000 over 5,000 and 200,000 over 10,000 at size ``full``), each item stocked at one
location (``locations`` of them, 1 by default); supply is on-hand at the first day plus purchase
receipts every few weeks over a 365-day horizon, about 90 % of the demand in total, so some orders
ship late or short; orders carry a priority (1 first), a due date and an integer quantity, and any
partial quantity may ship (frePPLe's minimum shipment set to 1). It is written as a promessa snapshot
directory (``supplydata.writer.write_snapshot``) plus ``orders.parquet`` (the orders table's columns,
``supplydata.schema.ORDERS``, and the location), which ``promessa reschedule`` reads.

Measured per instance, side by side in one run:

- kernel: ``scenarios.service.reschedule`` in process, warm (encode, order, promise every line
  afresh, compare, result frames), starting from nothing confirmed, earliest due date first within
  a priority (``start_from="nothing"``, ``order_within_priority="due_date"``);
- whole command: ``promessa reschedule --start-from nothing --order-within-priority due_date --out
  FILE`` as a fresh process on a warm numba cache (start-up, imports, reading the snapshot and the
  orders, planning, writing the per-line result); the first run's kernel compiles are reported apart
  (``compile_s``, 0 when the cache was already warm);
- the bare loop: ``benchmarks.bench_scenarios._bare_greedy_nb`` over the same arrays (encoded and
  sorted outside the timing);
- the plan check: the kernel's and the whole command's per-order quantity and date equal the bare
  loop's;
- frePPLe, when ``FREPPLE_HOME`` names a frePPLe build (its ``frepple`` executable): the same
  instance loaded through frePPLe's Python API and solved by its unconstrained-lateness MRP solver
  in plan type 1 (``solver_mrp``, constraints on material), the solve timed inside frePPLe; without
  it the rows say frePPLe was not measured and the ratios are to the bare loop (see peer.md).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.harness import Result, median

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 1, 5)  # the instance's business day 0 (fixed: never the wall clock)
HORIZON = 365
INSTANCES = {  # size -> [(orders, items)]
    "small": [(2_000, 100)],
    "medium": [(20_000, 1_000)],
    "full": [(100_000, 5_000), (200_000, 10_000)],
}
CMD_FLAGS = ["--start-from", "nothing", "--order-within-priority", "due_date"]


# ------------------------------------------------------------------ the instance


def generate_instance(out_dir: str | Path, *, n_orders: int, n_items: int, seed: int, locations: int = 1,
                      horizon_days: int = HORIZON, supply_ratio: float = 0.9) -> Path:
    """Write the frePPLe-shaped instance (see the module docstring) into `out_dir`: a snapshot
    (items, locations, supply, meta.json) and orders.parquet. Returns `out_dir`."""
    from supplydata.schema import ORDERS
    from supplydata.writer import write_snapshot

    if n_orders < 1 or n_items < 1 or locations < 1:
        raise ValueError(f"n_orders, n_items and locations must be positive (got {n_orders}, {n_items}, {locations})")
    rng = np.random.default_rng(seed)
    H = horizon_days
    items = [f"IT{i:06d}" for i in range(n_items)]
    locs = [f"DC{j:02d}" for j in range(locations)]
    item_loc = np.arange(n_items) % locations
    # orders: item by a skewed popularity, integer quantity 1..20, due date in the first 300 days
    # (capped to the horizon), priority 1..5, created before day 0
    pop = rng.lognormal(0.0, 1.0, n_items)
    oi = rng.choice(n_items, size=n_orders, p=pop / pop.sum())
    oq = rng.integers(1, 21, n_orders).astype(np.float64)
    due = rng.integers(0, max(1, min(300, H - 1)), n_orders)
    prio = rng.integers(1, 6, n_orders)
    # created_at: first come first served within a priority and due date is frePPLe's own tie-break
    # (the smaller quantity first, then the name), so both planners take the orders in the same order
    rank = np.empty(n_orders, np.int64)
    rank[np.lexsort((np.arange(n_orders), oq, due, prio))] = np.arange(n_orders)
    created = np.datetime64(AS_OF, "us") - (n_orders - rank).astype("timedelta64[s]")
    # supply: about supply_ratio of each item's demand; a fifth on hand on day 0, the rest in
    # purchase receipts every 28 days from a per-item offset in 1..27
    dem = np.bincount(oi, weights=oq, minlength=n_items)
    total = np.floor(dem * supply_ratio * rng.uniform(0.8, 1.2, n_items))
    onhand = np.floor(total * 0.2)
    rows_i, rows_d, rows_q, rows_k = [np.arange(n_items)], [np.zeros(n_items, np.int64)], [onhand], ["onhand"] * n_items
    offset = rng.integers(1, 28, n_items)
    n_rec = (H - 1 - offset) // 28 + 1
    per = np.floor((total - onhand) / n_rec)
    for k in range(int(n_rec.max())):
        has = n_rec > k
        rows_i.append(np.flatnonzero(has))
        rows_d.append(offset[has] + 28 * k)
        rows_q.append(per[has])
        rows_k += ["purchase"] * int(has.sum())
    si, sd, sq = np.concatenate(rows_i), np.concatenate(rows_d), np.concatenate(rows_q)
    kinds = pl.Series(rows_k)
    keep = (sq > 0) | (kinds == "onhand").to_numpy()  # every item has its on-hand row (a buffer), even at 0
    base = np.datetime64(AS_OF, "D")
    supply = pl.DataFrame({
        "item": pl.Series(items).gather(si[keep]), "location": pl.Series(locs).gather(item_loc[si[keep]]),
        "date": pl.Series(base + sd[keep].astype("timedelta64[D]")), "qty": sq[keep],
        "kind": kinds.filter(pl.Series(keep)),
    }).with_columns(ref=pl.when(pl.col("kind") == "purchase").then(pl.format("PO{}", pl.int_range(pl.len())))
                    .otherwise(None))
    tables = {
        "items": pl.DataFrame({"item": items, "category": ["peer"] * n_items,
                               "price": np.round(rng.uniform(5, 200, n_items), 2)}),
        "locations": pl.DataFrame({"location": locs, "kind": ["dc"] * locations}),
        "supply": supply,
    }
    out = write_snapshot(out_dir, tables, as_of=AS_OF, horizon_days=H)
    orders = pl.DataFrame({
        "order": [f"SO{r:07d}" for r in range(n_orders)], "line": np.ones(n_orders, np.int64),
        "item": pl.Series(items).gather(oi), "qty": oq,
        "requested_date": pl.Series(base + due.astype("timedelta64[D]")),
        "priority": prio.astype(np.int64), "created_at": pl.Series(created),
        "location": pl.Series(locs).gather(item_loc[oi]),
    })
    schema = ORDERS.polars_schema()
    orders = orders.with_columns([pl.col(c).cast(schema[c]) for c in orders.columns if c in schema])
    orders.write_parquet(out / "orders.parquet")
    return out


def load_instance(directory: str | Path):
    """(snapshot, orders) of a generated instance."""
    from supplydata import load_snapshot

    d = Path(directory)
    return load_snapshot(d), pl.read_parquet(d / "orders.parquet")


def config():
    """The rescheduling configuration frePPLe's greedy pass corresponds to."""
    from scenarios.backlog import RescheduleConfig

    return RescheduleConfig(start_from="nothing", order_within_priority="due_date", allow_partial=True,
                            allow_split=False)


# ------------------------------------------------------------------ the three planners


def bare_inputs(snap, orders: pl.DataFrame):
    """The bare loop's arrays: encoded lines and the processing order (priority, due date,
    created_at, input row), computed independently of rescheduling's own ordering."""
    from promising import Policy, encode_lines

    enc = encode_lines(snap, orders, policy=Policy(allow_partial=True, allow_split=False))
    created = orders["created_at"].cast(pl.Int64).to_numpy()
    order = np.lexsort((np.arange(len(enc)), created, enc.req, orders["priority"].to_numpy())).astype(np.int64)
    return enc, order


def bare_plan(snap, enc, order) -> tuple[np.ndarray, np.ndarray, float]:
    """(bucket per row, -1 = nothing; qty per row; seconds) of the bare loop from nothing confirmed."""
    from benchmarks.bench_scenarios import _bare_greedy_nb

    n = len(enc)
    ptr, ob, oq = np.zeros(n + 1, np.int64), np.empty(0, np.int64), np.empty(0)
    bb, bq = np.empty(n, np.int64), np.empty(n)
    cum = snap.new_state().cum.copy()
    t0 = time.perf_counter()
    _bare_greedy_nb(cum, snap.il_lead_time, order, enc.ils, enc.qty, enc.req, ptr, ob, oq, bb, bq)
    return bb, bq, time.perf_counter() - t0


def kernel_plan(snap, orders: pl.DataFrame):
    """promessa's rescheduling in process, from nothing confirmed (no live plan): (result, seconds)."""
    from scenarios.service import reschedule

    empty = pl.DataFrame(schema={"row": pl.Int64, "date": pl.Date, "qty": pl.Float64})
    t0 = time.perf_counter()
    res = reschedule(snap, snap.new_state(), orders, config(), schedule=empty)
    return res, time.perf_counter() - t0


def command_plan(directory: Path, out: Path, env: dict) -> dict:
    """`promessa reschedule` from nothing confirmed as a fresh process: wall seconds, the compiles it
    reported, its own timings and the per-line result it wrote."""
    cmd = [sys.executable, "-m", "promessa.cli", "reschedule", "--snapshot", str(directory), "--orders",
           str(directory / "orders.parquet"), *CMD_FLAGS, "--out", str(out), "--json", "--quiet"]
    c0 = os.times()
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t0
    c1 = os.times()
    cpu = (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
    if p.returncode != 0:
        raise RuntimeError(f"promessa reschedule failed ({p.returncode}): {p.stderr[-2000:]}")
    import re

    comp = re.search(r"this run compiled (\d+) kernels in ([\d.]+) s", p.stderr)
    return {"wall": wall, "cpu": cpu, "compiled": int(comp.group(1)) if comp else 0,
            "compile_s": float(comp.group(2)) if comp else 0.0,
            **{k: v for k, v in json.loads(p.stdout).items() if k in ("timings", "command_timings")}}


def check_plan(snap, bb: np.ndarray, bq: np.ndarray, qty: np.ndarray, day: np.ndarray) -> int:
    """Rows whose quantity or date differs from the bare loop's (day: bucket, -1 = nothing shipped)."""
    got = qty > 1e-9
    want = bq > 1e-9
    return int(((np.abs(qty - bq) > 1e-6) | (got != want) | (got & (day != bb))).sum())


def result_days(snap, dates: pl.Series) -> np.ndarray:
    """Buckets of a date column (null: -1)."""
    base = (snap.as_of - dt.date(1970, 1, 1)).days
    return (dates.cast(pl.Int32).fill_null(base - 1).to_numpy().astype(np.int64) - base)


# ------------------------------------------------------------------ frePPLe (optional)

# A frePPLe driver: run by frePPLe's own `frepple` executable, it loads the instance from CSV through
# frePPLe's Python API, solves, and writes each demand's deliveries. Written fresh here from frePPLe's
# documented Python API (no frePPLe code is copied).
_FREPPLE_DRIVER = r'''
import csv, datetime, json, os, sys, time
import frepple

d = os.environ["PEER_DIR"]
as_of = datetime.datetime.fromisoformat(os.environ["PEER_AS_OF"])
frepple.settings.current = as_of
t0 = time.perf_counter()
locs, items, bufs, sups = {}, {}, {}, {}
sup = frepple.supplier(name="peer supplier")
with open(os.path.join(d, "supply.csv")) as f:
    for r in csv.DictReader(f):
        it = items.get(r["item"]) or items.setdefault(r["item"], frepple.item(name=r["item"]))
        lo = locs.get(r["location"]) or locs.setdefault(r["location"], frepple.location(name=r["location"]))
        key = (r["item"], r["location"])
        b = bufs.get(key) or bufs.setdefault(key, frepple.buffer(name=r["item"] + " @ " + r["location"], item=it,
                                                                 location=lo))
        day = as_of + datetime.timedelta(days=int(r["day"]))
        if key not in sups:  # the buffer's only supplier: its lead time is past any due date + lateness
            sups[key] = frepple.itemsupplier(item=it, location=lo, supplier=sup, leadtime=20 * 365 * 86400)
        if r["kind"] == "onhand":
            b.onhand = float(r["qty"])
        else:
            frepple.operationplan(ordertype="PO", reference=r["ref"], item=it, location=lo, supplier=sup,
                                  quantity=float(r["qty"]), end=day, status="confirmed")
dems = []
with open(os.path.join(d, "orders.csv")) as f:
    for r in csv.DictReader(f):
        it = items.get(r["item"]) or items.setdefault(r["item"], frepple.item(name=r["item"]))
        lo = locs.get(r["location"]) or locs.setdefault(r["location"], frepple.location(name=r["location"]))
        dems.append(frepple.demand(name=r["order"], item=it, location=lo, quantity=float(r["qty"]),
                                   due=as_of + datetime.timedelta(days=int(r["day"])), priority=int(r["priority"]),
                                   minshipment=1, maxlateness=float(r["maxlate_s"])))
t_load = time.perf_counter() - t0
t0, c0 = time.perf_counter(), time.process_time()
frepple.solver_mrp(plantype=1, constraints=1 + 4, loglevel=0).solve()  # lead times and capacity; material always
t_solve, c_solve = time.perf_counter() - t0, time.process_time() - c0  # CPU: every thread of the process
with open(os.path.join(d, "frepple_plan.csv"), "w") as f:
    f.write("order,day,qty\n")
    for dm in dems:
        for op in dm.operationplans:
            f.write(f"{dm.name},{(op.end - as_of).days},{op.quantity}\n")
with open(os.path.join(d, "frepple_times.json"), "w") as f:
    json.dump({"load_s": t_load, "solve_s": t_solve, "solve_cpu_s": c_solve}, f)
'''


def frepple_solve(snap, orders: pl.DataFrame, directory: Path, home: Path) -> dict:
    """Solve the instance with frePPLe (its `frepple` executable under `home`); its load and solve
    seconds, the whole process's wall seconds and its plan as per-order (day, qty) rows."""
    work = directory / "frepple"
    work.mkdir(exist_ok=True)
    sup = snap.tables["supply"]
    sup.select("item", "location", (pl.col("date") - pl.lit(AS_OF)).dt.total_days().alias("day"), "qty", "kind",
               "ref").write_csv(work / "supply.csv")
    day = (pl.col("requested_date").cast(pl.Date) - pl.lit(AS_OF)).dt.total_days()
    # no delivery past the horizon's last day (promessa's plan ends there too)
    orders.select("order", "item", "location", pl.col("qty").cast(pl.Int64), "priority", day.alias("day"),
                  ((snap.horizon - 1 - day) * 86400).alias("maxlate_s")).write_csv(work / "orders.csv")
    (work / "driver.py").write_text(_FREPPLE_DRIVER)
    exe = home / "frepple"
    env = dict(os.environ, PEER_DIR=str(work), PEER_AS_OF=AS_OF.isoformat(), FREPPLE_HOME=str(home))
    t0 = time.perf_counter()
    p = subprocess.run([str(exe), str(work / "driver.py")], env=env, capture_output=True, text=True, timeout=7200,
                       cwd=work)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"frePPLe failed ({p.returncode}): {(p.stdout + p.stderr)[-2000:]}")
    times = json.loads((work / "frepple_times.json").read_text())
    plan = pl.read_csv(work / "frepple_plan.csv", schema={"order": pl.String, "day": pl.Int64, "qty": pl.Float64})
    return {"wall": wall, **times, "plan": plan}


def frepple_differences(orders: pl.DataFrame, plan: pl.DataFrame, bb: np.ndarray, bq: np.ndarray) -> int:
    """Orders whose frePPLe deliveries (summed; the last delivery's day) differ from the bare loop's."""
    f = plan.filter(pl.col("qty") > 1e-9).group_by("order").agg(pl.col("qty").sum(), pl.col("day").max(),
                                                                  pl.len().alias("n"))
    mine = pl.DataFrame({"order": orders["order"], "bq": bq, "bb": bb})
    j = mine.join(f, on="order", how="left").with_columns(pl.col("qty").fill_null(0.0), pl.col("n").fill_null(0))
    bad = ((j["qty"] - j["bq"]).abs() > 1e-6) | ((j["bq"] > 1e-9) & ((j["day"] != j["bb"]) | (j["n"] != 1)))
    return int(bad.sum())


# ------------------------------------------------------------------ the benchmark


def _env() -> dict:
    """The command's environment: this checkout first on the path, and Python's bytecode cached as an installed
    package has it (under var/bench/pycache, even where PYTHONDONTWRITEBYTECODE is set)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(x for x in (str(ROOT), os.environ.get("PYTHONPATH", "")) if x),
               PYTHONPYCACHEPREFIX=str(ROOT / "var" / "bench" / "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_instance(n_orders: int, n_items: int, *, seed: int, repeats: int, work: Path,
                 frepple_home: Path | None) -> list[Result]:
    d = generate_instance(work / f"peer-{n_orders}-{n_items}-{seed}", n_orders=n_orders, n_items=n_items, seed=seed)
    snap, orders = load_instance(d)
    tag = f"{n_orders // 1000}k"
    params = {"orders": n_orders, "items": n_items, "locations": 1, "days": snap.horizon}
    enc, order = bare_inputs(snap, orders)
    # compiles (or cache loads) outside the timings
    t0 = time.perf_counter()
    bare_plan(snap, enc, order[:0])
    bare_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    kernel_plan(snap, orders.head(10))
    kernel_compile = time.perf_counter() - t0
    first = command_plan(d, d / "plan.parquet", _env())

    kt, bt, ct, cpu, res, cmd = [], [], [], {"kernel": [], "bare": [], "command": []}, None, first
    for _ in range(repeats):  # alternating: the machine's load changes during a run
        p0 = time.process_time()
        res, s = kernel_plan(snap, orders)
        kt.append(s)
        p1 = time.process_time()
        bb, bq, s = bare_plan(snap, enc, order)
        bt.append(s)
        p2 = time.process_time()
        cpu["kernel"].append(p1 - p0)
        cpu["bare"].append(p2 - p1)
        cmd = command_plan(d, d / "plan.parquet", _env())
        ct.append(cmd["wall"])
        cpu["command"].append(cmd["cpu"])
    kc, bc, cc = (median(cpu[x]) for x in ("kernel", "bare", "command"))
    k, b, c = median(kt), median(bt), median(ct)
    steps = cmd["command_timings"]
    startup = cmd["wall"] - sum(steps.values())  # the last run's: interpreter, imports, numba's first dispatch

    # the plan check: kernel and whole command against the bare loop, row by row
    assert res is not None
    kq = np.where(res.new_n > 0, res.new_q[:, 0], 0.0)
    kd = np.where(res.new_n > 0, res.new_b[:, 0], -1)
    k_bad = check_plan(snap, bb, bq, kq, kd) + int((res.new_n > 1).sum())
    out = pl.read_parquet(d / "plan.parquet")
    c_bad = check_plan(snap, bb, bq, out["new_qty"].to_numpy(), result_days(snap, out["new_date"]))
    c_bad += int((out["order"] != orders["order"]).sum())
    shipped, late = float(bq.sum()), int(((bq > 1e-9) & (bb > enc.req)).sum())
    load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    check = (f"plan check: kernel {k_bad} and whole command {c_bad} of {n_orders:,} orders differ from the bare loop "
             f"(quantity and date)")
    ok = k_bad == 0 and c_bad == 0
    results = [
        Result(f"peer.{tag}.plan_check", "rows", float(k_bad + c_bad), "orders", "0 differ", ok, params,
               notes=f"{check}; {shipped:,.0f} of {float(enc.qty.sum()):,.0f} units ship, {late:,} orders late, "
                     f"{int((bq <= 1e-9).sum()):,} get nothing"),
        Result(f"peer.{tag}.kernel_vs_bare_loop", "ratio", k / b, "x", "<= 1.3x (issue 19)", k / b <= 1.3, params,
               notes=f"kernel median / bare loop median, same run, alternating repeats (wall); in CPU seconds "
                     f"{kc / bc:.2f}x"),
        Result(f"peer.{tag}.command_vs_bare_loop", "ratio", c / b, "x", None, None, params,
               notes=f"whole command median (fresh process, warm cache) / bare loop median (wall); in CPU seconds "
                     f"{cc / bc:.1f}x"),
        Result(f"peer.{tag}.kernel", "median", k, "s", None, None, params, compile_s=kernel_compile,
               notes="scenarios.service.reschedule in process, warm, from nothing confirmed, due date first within "
                     "a priority; " + ", ".join(f"{n} {v:.3f}" for n, v in res.timings.items()) +
                     f"; min {min(kt):.3f} s; CPU {kc:.3f} s; {load}"),
        Result(f"peer.{tag}.whole_command", "median", c, "s", None, None, params, compile_s=first["compile_s"],
               notes=f"`promessa reschedule {' '.join(CMD_FLAGS)} --out FILE --json --quiet`, fresh process, warm "
                     f"numba cache (the first run compiled {first['compiled']} kernels in {first['compile_s']:.1f} s, "
                     f"took {first['wall']:.1f} s); last run {cmd['wall']:.2f} s = start-up and imports {startup:.2f} + "
                     + " + ".join(f"{n.replace('_', ' ')} {v:.2f}" for n, v in steps.items())
                     + " s; planning: " + ", ".join(f"{n} {v:.3f}" for n, v in cmd["timings"].items())
                     + f"; min {min(ct):.2f} s; CPU (user + system) {cc:.2f} s; {load}"),
        Result(f"peer.{tag}.bare_loop", "median", b, "s", None, None, params, compile_s=bare_compile,
               notes=f"benchmarks.bench_scenarios._bare_greedy_nb from nothing confirmed, arrays encoded and sorted "
                     f"outside the timing; min {min(bt):.4f} s; CPU {bc:.4f} s"),
    ]
    if frepple_home is None:
        results.append(Result(f"peer.{tag}.frepple", "not measured", float("nan"), "s", None, None, params,
                              notes="frePPLe not measured: FREPPLE_HOME is not set (see benchmarks/peer.md); "
                                    "the ratios above are to the bare loop"))
        return results
    fp = frepple_solve(snap, orders, d, frepple_home)
    f_bad = frepple_differences(orders, fp["plan"], bb, bq)
    target = ">= 30x (issue 19)" if n_orders >= 200_000 else None
    ratio = fp["solve_s"] / c
    results += [
        Result(f"peer.{tag}.frepple_solve_vs_command", "ratio", ratio, "x", target,
               (ratio >= 30) if target else None, params,
               notes=f"frePPLe solve / promessa whole command (wall); in CPU seconds {fp['solve_cpu_s'] / cc:.1f}x "
                     f"(frePPLe's solve {fp['solve_cpu_s']:.1f} s, the command's median {cc:.2f} s: the steadier figure "
                     f"on a loaded machine); frePPLe solve / kernel {fp['solve_s'] / k:.1f}x; "
                     f"frePPLe whole process / whole command {fp['wall'] / c:.1f}x"),
        Result(f"peer.{tag}.frepple_solve", "once", fp["solve_s"], "s", None, None, params,
               notes=f"frePPLe solver_mrp(plantype=1) inside its own process (CPU {fp['solve_cpu_s']:.1f} s); "
                     f"loading the model took "
                     f"{fp['load_s']:.1f} s, the whole process {fp['wall']:.1f} s; {f_bad:,} of {n_orders:,} orders "
                     f"planned differently from the bare loop (total quantity, last date, one delivery); {load}"),
    ]
    return results


def run(*, size: str, seed: int, repeats: int) -> list[Result]:
    repeats = repeats or 3
    home = os.environ.get("FREPPLE_HOME")
    frepple_home = Path(home) if home else None
    if frepple_home is not None and not (frepple_home / "frepple").exists():
        raise ValueError(f"FREPPLE_HOME={home} has no `frepple` executable")
    work = Path(tempfile.mkdtemp(prefix="promessa-bench-peer-"))
    try:
        out: list[Result] = []
        for n_orders, n_items in INSTANCES[size]:
            out += run_instance(n_orders, n_items, seed=seed, repeats=repeats, work=work, frepple_home=frepple_home)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)
