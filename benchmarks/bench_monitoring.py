"""Monitoring: performance reports, jeopardy and exceptions over the generated order stream.

The generated orders (``orders.parquet``: 1,000,000 lines at size ``full``) are sent to their
zone's first DC and promised in one batch-kernel call (not timed), which gives each line its
promised quantity and date; then the monitoring frames are built from them. Timed:

- ``monitoring.reports_all``: every top-N report (products, customers, orders, zones, countries,
  brands, categories, channels, days; by revenue and by units) and the on-time / fill-rate
  trend table, from the lines frame (catalogue joins included), in one parallel collect -
  the issue's target is at most 1 s over 1,000,000 lines;
- ``monitoring.reports_all_enriched``: the same over lines already joined to the catalogue (what
  the API's ``Monitor`` keeps between order-book changes);
- ``monitoring.report_one``: one report (top customers by revenue over a 30-day range, with
  distinct order counts) on enriched lines;
- ``monitoring.jeopardy`` and ``monitoring.exceptions``: every line's level, and the exception
  summary by customer, on the same lines.

Before timing, the reports are checked against the plain-Python reference in
``tests/monitoring/reports_reference.py`` on a slice of the lines.
"""

from __future__ import annotations

import datetime as dt
import time

import polars as pl

from benchmarks.common import dataset, orders_at_first_node, reference_module
from benchmarks.harness import Result, median


def run(*, size: str, seed: int, repeats: int) -> list[Result]:
    from monitoring import exceptions as exc_mod
    from monitoring.config import MonitoringConfig
    from monitoring.frames import Catalogue, from_orders_frame
    from monitoring.jeopardy import line_jeopardy
    from monitoring.reports import Window, all_reports, enrich, report
    from promising import encode_lines, promise_encoded
    from supplydata import load_snapshot

    repeats = repeats or 5
    path = dataset(size, seed)
    snap = load_snapshot(path)
    orders = orders_at_first_node(snap, path)
    state = snap.new_state()
    t0 = time.perf_counter()
    res = promise_encoded(snap, state, encode_lines(snap, orders), commit=True)
    promise_s = time.perf_counter() - t0
    frames = from_orders_frame(orders, promised=res.to_polars(snap))
    lines = frames.lines.rechunk()
    cat = Catalogue.of(snap)
    n = lines.height

    # ---- check against the plain-Python reference before timing (a slice keeps it quick)
    ref = reference_module("monitoring/reports_reference.py")
    part = lines.head(min(n, 50_000))
    rows = part.to_dicts()
    price = dict(zip(cat.items["item"].to_list(), cat.items["price"].to_list()))
    for kind, col in (("products", "item"), ("customers", "customer"), ("channels", "demand_class")):
        for metric in ("revenue", "units"):
            got = report(part, cat, kind, metric=metric, top=10)
            want = ref.top(rows, col, price=price, metric=metric, n=10)
            assert [r[0] for r in got.iter_rows()] == [w[0] for w in want], (kind, metric)
            for g, w in zip(got.select("revenue", "units").iter_rows(), want, strict=True):
                assert abs(g[0] - w[1]) <= 1e-6 * max(1.0, w[1]) and abs(g[1] - w[2]) <= 1e-9, (kind, metric, g, w)
    got = report(part, cat, "trends")
    want = ref.trends(rows)
    assert [(r["period"], r["lines"], r["on_time_lines"]) for r in got.iter_rows(named=True)] == [(d, k, o) for d, k, _, o in want]
    assert all(abs(r["fill_rate"] - w[2]) < 1e-9 for r, w in zip(got.iter_rows(named=True), want, strict=True))

    # ---- timed
    t0 = time.perf_counter()
    out = all_reports(lines, cat, top=10)
    first_all = time.perf_counter() - t0
    assert out["products.revenue"].height == 10 and out["trends"]["lines"].sum() == n
    t_all = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        all_reports(lines, cat, top=10)
        t_all.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    enriched = enrich(lines, cat).collect()
    enrich_s = time.perf_counter() - t0
    t_enr = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        e_out = all_reports(enriched, None, top=10, enriched=True)
        t_enr.append(time.perf_counter() - t0)
    for k in out:  # same keys, same figures (sums may differ in the last bits: parallel group-bys)
        a, b = out[k], e_out[k]
        assert a.columns == b.columns and a[a.columns[0]].to_list() == b[b.columns[0]].to_list(), k
        for c in a.columns[1:]:
            assert ((a[c].cast(pl.Float64) - b[c].cast(pl.Float64)).abs() <= 1e-9 * a[c].cast(pl.Float64).abs().max()).all(), (k, c)
    start = lines["order_date"].min()
    window = Window(start, start + dt.timedelta(days=29))
    t_one = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        report(enriched, None, "customers", metric="revenue", top=10, window=window, enriched=True)
        t_one.append(time.perf_counter() - t0)
    cfg = MonitoringConfig()
    today = snap.as_of + dt.timedelta(days=30)
    t_jeo, t_exc = [], []
    lj = None
    for _ in range(max(1, repeats // 2)):
        t0 = time.perf_counter()
        lj = line_jeopardy(lines, cat, cfg, today=today)
        t_jeo.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        exc = exc_mod.exception_lines(lj, frames, cat, cfg)
        exc_mod.summarize(exc, frames, cat, cfg, by="customer")
        t_exc.append(time.perf_counter() - t0)
    levels = lj.group_by("level").len().sort("level")
    full = size == "full"
    params = {"lines": n, "orders": lines["order_id"].n_unique(), "items": snap.n_items}
    backordered = float((lines["qty"] - lines["promised_qty"]).clip(lower_bound=0).sum())
    return [
        Result("monitoring.reports_all", "median", median(t_all), "s", "<= 1 s at 1,000,000 lines" if full else None,
               (median(t_all) <= 1.0) if full else None, {**params, "reports": len(out)},
               compile_s=max(0.0, first_all - median(t_all)),
               notes=f"9 top-N kinds x (revenue, units) + trends, catalogue joins included; min {min(t_all):.3f} s, "
                     f"max {max(t_all):.3f} s over {repeats}"),
        Result("monitoring.reports_all_enriched", "median", median(t_enr), "s", None, None, params,
               notes=f"the same reports on lines joined to the catalogue beforehand (join: {enrich_s:.3f} s, "
                     f"once per order-book change)"),
        Result("monitoring.report_one", "median", median(t_one), "s", None, None, {**params, "days": 30},
               notes="top 10 customers by revenue over a 30-day order-date range, with distinct order counts"),
        Result("monitoring.jeopardy", "median", median(t_jeo), "s", None, None, params,
               notes="every open line's expected completion and level; "
                     + ", ".join(f"{k} {v}" for k, v in levels.iter_rows())),
        Result("monitoring.exceptions", "median", median(t_exc), "s", None, None, params,
               notes=f"exception lines + summary by customer; {backordered:,.0f} units backordered"),
        Result("monitoring.promise_setup", "once", promise_s, "s", None, None, params,
               notes="batch promise of the order stream to get promised quantities and dates (not part of the reports)"),
    ]
