"""What-if sweeps on a local Ray cluster (two workers, loopback): one task per scenario gives
the in-process report, value for value."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from scenarios.backlog import RescheduleConfig, Rule
from scenarios.whatif import parse_scenarios, run_whatif


def _replan_fixtures():
    """The order book fixtures with quotas and reservations, from tests/scenarios/test_replan.py."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("_replan_fixtures", Path(__file__).with_name("test_replan.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.gold_book, mod.open_service


gold_book, open_service = _replan_fixtures()


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with two worker CPUs on the loopback interface, started as promessa starts one
    (`supplydata.scaleout.ray_init`), shut down after the module (shared by the tests here)."""
    ray = pytest.importorskip("ray")
    from supplydata.scaleout import ray_init

    if ray.is_initialized():
        ray.shutdown()
    ray_init(cpus=2)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    from scenarios.service import backlog_from_orders
    from supplydata import load_snapshot
    from supplydata.generate import generate

    path = tmp_path_factory.mktemp("whatif-ray") / "net"
    generate(path, seed=3, size="small")
    snap = load_snapshot(path)
    live, bl, sch = backlog_from_orders(snap, pl.read_parquet(path / "orders.parquet"))
    return snap, live, bl, sch


CFG = RescheduleConfig(rules=[Rule(strategy="win", demand_class=["key_account"]),
                              Rule(strategy="gain", demand_class=["retail"]),
                              Rule(strategy="fill", demand_class=["wholesale"])], min_ship_qty=2)


def scenarios(snap):
    d = lambda n: (snap.as_of + dt.timedelta(days=n)).isoformat()  # noqa: E731
    item = snap.item_ids[0]
    return parse_scenarios({"scenarios": [
        {"name": "purchases two weeks late", "changes": [{"type": "delay_receipts", "days": 14, "kind": ["purchase"]}]},
        {"name": "half the toys", "changes": [{"type": "cut_receipts", "keep": 0.5, "category": ["toys"]}]},
        {"name": "demand x1.5", "changes": [{"type": "demand_spike", "factor": 1.5}]},
        {"name": "DC02 out, to DC01", "changes": [{"type": "node_out", "location": "DC02", "date_from": d(0),
                                                   "date_to": d(10), "reroute_to": "DC01"}]},
        {"name": "a big order, fair share", "reschedule": {"within": "fair_share"},
         "changes": [{"type": "add_orders", "rows": [{"order": "X1", "item": item, "location": "DC01", "qty": 500,
                                                      "requested_date": d(3), "demand_class": "key_account"}]},
                     {"type": "add_supply", "rows": [{"item": item, "location": "DC01", "date": d(20), "qty": 200}]}]},
    ]})


TIMES = ("seconds", "fork_seconds")


def assert_same_report(a, b):
    """Every value of the two reports, except how long things took, the fork's snapshot and final
    state (a Ray task leaves them on its worker) and the fork's memory estimate to a millionth."""
    assert a.current == b.current and a.baseline == b.baseline
    assert_frame_equal(a.table(), b.table())
    assert len(a.scenarios) == len(b.scenarios)
    for x, y in zip(a.scenarios, b.scenarios):
        dx, dy = x.to_dict(), y.to_dict()
        for k in TIMES:
            dx.pop(k), dy.pop(k)
        # polars' size estimate of the fork's tables depends on their chunks in that process (a worker's
        # snapshot is one chunk per column; at 200,000 lines the two differed by 1 byte of 317 MB)
        mx, my = dx.pop("fork_memory_bytes"), dy.pop("fork_memory_bytes")
        assert abs(mx - my) <= 1e-6 * mx
        assert dx == dy
        assert x.kpis == y.kpis
        assert (x.worse_lines, x.better_lines, x.orders_worsened_by_class) == (y.worse_lines, y.better_lines,
                                                                              y.orders_worsened_by_class)
        for f in ("lines", "schedule", "summary", "orders"):
            assert_frame_equal(getattr(x.result, f), getattr(y.result, f))
        rx, ry = x.result, y.result
        assert np.array_equal(rx.new_n, ry.new_n) and np.array_equal(rx.ils, ry.ils)
        used = np.arange(rx.new_b.shape[1])[None, :] < rx.new_n[:, None]  # the slots past new_n are scratch
        assert (rx.new_b[used] == ry.new_b[used]).all() and (rx.new_q[used] == ry.new_q[used]).all()
        assert_frame_equal(x.fork.backlog, y.fork.backlog)
        assert (x.fork.touched, x.fork.notes, x.fork.n_original) == (y.fork.touched, y.fork.notes, y.fork.n_original)
        assert len(x.curves) == len(y.curves)
        for cx, cy in zip(x.curves, y.curves):
            assert {k: v for k, v in cx.items() if k not in ("before", "after")} == \
                   {k: v for k, v in cy.items() if k not in ("before", "after")}
            assert np.array_equal(cx["before"], cy["before"]) and np.array_equal(cx["after"], cy["after"])


@pytest.mark.timeout(300)
def test_a_sweep_on_ray_gives_the_in_process_report(sample, local_ray):
    snap, live, bl, sch = sample
    scs = scenarios(snap)
    before = live.cum.copy()
    here = run_whatif(snap, live, bl, scs, config=CFG, schedule=sch)
    on_ray = run_whatif(snap, live, bl, scs, config=CFG, schedule=sch, executor="ray", timeout_s=240)
    assert (live.cum == before).all()  # live stays untouched on both executors
    assert_same_report(here, on_ray)
    # the sweep is not trivial: every scenario changed something against the baseline
    assert all(s.worse_lines + s.better_lines > 0 for s in here.scenarios)
    # a Ray task leaves the fork's snapshot and new state on its worker
    assert on_ray.scenarios[0].fork.snapshot is None and on_ray.scenarios[0].result.state is None
    assert here.scenarios[0].fork.snapshot is not None
    # again, with the snapshot in the object store already, against other live positions
    moved = live.copy()
    il = int(np.argmax(live.cum[:, -1] < live.snapshot.base_cum[:, -1]))  # an item-location with commitments
    moved.adjust_supply(il, 0, 50.0)
    again_here = run_whatif(snap, moved, bl, scs[:2], config=CFG, schedule=sch)
    again = run_whatif(snap, moved, bl, scs[:2], config=CFG, schedule=sch, executor="ray", timeout_s=240)
    assert_same_report(again_here, again)
    assert again.baseline != here.baseline


def test_the_settings_choose_where_a_sweep_runs(local_ray, sample):
    from promessa.config import Settings
    from scenarios.whatif import sweep_options

    s = Settings()
    assert sweep_options(s) == {"executor": "inprocess", "ray_address": None, "cpus": 1, "timeout_s": 3600.0}
    assert sweep_options(None) == {}
    s.scenarios.executor, s.scenarios.parts = "ray", 2
    snap, live, bl, sch = sample
    scs = scenarios(snap)[:1]
    said = []
    rep = run_whatif(snap, live, bl, scs, config=CFG, schedule=sch, progress=lambda m, f: said.append((m, f)),
                     **sweep_options(s))
    assert rep.scenarios[0].fork.snapshot is None  # ran on Ray
    # progress: the baseline in-process, then each scenario as its task finishes (1 of 2 steps done), then done
    assert (f"{scs[0].name}: done", 1.0) in said and said[-1] == ("done", 1.0)
    assert any(m.startswith("baseline: ") and f < 0.5 for m, f in said)
    assert_same_report(run_whatif(snap, live, bl, scs, config=CFG, schedule=sch), rep)


def test_an_unknown_executor_is_refused_before_anything_runs(sample):
    from promessa.errors import ValidationError

    snap, live, bl, sch = sample
    with pytest.raises(ValidationError) as exc:
        run_whatif(snap, live, bl, scenarios(snap)[:1], config=CFG, schedule=sch, executor="dask")
    assert exc.value.field == "scenarios.executor" and exc.value.value == "dask"


def test_a_sweep_on_the_order_book_with_quotas_and_reservations_on_ray(local_ray, gold_book):
    """The order book's what-if (service.whatif) with the settings' executor set to ray: the
    engine lines (open reservations, gold's quota pool) re-planned on every fork in the tasks
    give the in-process report. The hand answer is tests/scenarios/test_replan.py's: with
    gold's quota halved, G keeps 5 on day 2 and N gets 2 on day 2 (better than day 8)."""
    from promessa_testing import day

    from scenarios import service as scn

    svc, ids = gold_book
    svc.apply_supply_deltas([{"item": "A", "location": "DC1", "date": day(0), "qty": 3.0, "ref": "PO-2"}], actor="t")
    scs = parse_scenarios({"scenarios": [
        {"name": "half", "changes": [{"type": "quota_change", "factor": 0.5, "demand_class": ["gold"]}]},
        {"name": "cut", "changes": [{"type": "cut_receipts", "keep": 0}]}]})
    here = scn.whatif(svc, scs)
    svc.settings.scenarios.executor, svc.settings.scenarios.parts = "ray", 2
    try:
        on_ray = scn.whatif(svc, scs)
    finally:
        svc.settings.scenarios.executor, svc.settings.scenarios.parts = "inprocess", 1
    assert on_ray.scenarios[0].fork.snapshot is None  # it ran on Ray
    assert_same_report(here, on_ray)
    got = {r["order"]: (r["new_date"], r["new_qty"]) for r in on_ray.scenarios[0].result.lines.to_dicts()}
    assert got == {ids["G"]: (day(2), 5.0), ids["N"]: (day(2), 2.0)}
