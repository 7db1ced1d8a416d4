"""What-if scenarios: stories with hand answers, the file format, and "live stays untouched"."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import numpy as np
import polars as pl
import pytest
from promessa_testing import day

from promessa.errors import ValidationError
from scenarios.backlog import RescheduleConfig
from scenarios.service import backlog_from_orders
from scenarios.whatif import fork, load_scenarios, parse_scenarios, run_whatif


def orders(rows):
    """rows: (order, item, qty, requested day)"""
    return pl.DataFrame({"order": [r[0] for r in rows], "line": [1] * len(rows), "item": [r[1] for r in rows],
                         "location": ["DC1"] * len(rows), "qty": [float(r[2]) for r in rows],
                         "requested_date": [day(r[3]) for r in rows], "demand_class": ["online"] * len(rows),
                         "customer": ["C1"] * len(rows), "zone": ["Z1"] * len(rows)})


@pytest.fixture
def story(make_snapshot):
    """A at DC1: 10 on hand, a purchase of 10 (ref R1) on day 5. O1 wants 15 on day 6: promised
    in full on day 6 (on hand + the receipt); price 10."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 10), ("A", "DC1", 5, 10)], horizon=40)
    state, bl, sch = backlog_from_orders(snap, orders([("O1", "A", 15, 6)]))
    return snap, state, bl, sch


def fingerprint(snap, state) -> str:
    h = hashlib.sha256()
    h.update(state.cum.tobytes())
    for a in ("supply", "demand", "base_cum", "sup_qty", "sup_bucket", "calendar_open"):
        h.update(getattr(snap, a).tobytes())
    for name in sorted(snap.tables):
        h.update(name.encode())
        h.update(snap.tables[name].write_ipc(None).getvalue())
    return h.hexdigest()


def test_delayed_receipt_makes_the_line_late_and_puts_its_revenue_at_risk(story):
    """The purchase R1 slips by a week (day 12): O1 can only be complete on day 12, late; its
    whole value (15 x 10, the catalogue's price: exactly 150.00 EUR) is at risk and its order counts as worsened
    (class online)."""
    snap, state, bl, sch = story
    sc = parse_scenarios({"name": "R1 late", "changes": [{"type": "delay_receipts", "days": 7, "ref": "R*"}]})
    rep = run_whatif(snap, state, bl, sc, schedule=sch)
    assert rep.baseline["lines_on_time"] == 1 and rep.baseline["revenue_at_risk"] == {"EUR": Decimal("0.00")}
    s = rep.scenarios[0]
    line = s.result.lines.row(0, named=True)
    assert (line["new_qty"], line["new_date"], line["status"]) == (15, day(12), "late")
    assert s.kpis["lines_on_time"] == 0
    assert s.kpis["revenue_at_risk"] == {"EUR": Decimal("150.00")} and s.kpis["revenue_at_risk_share"] == {"EUR": 1.0}
    assert s.to_dict()["kpis"]["revenue_at_risk"] == {"EUR": "150.00"}  # JSON: exact decimal strings, by currency
    assert s.orders_worsened_by_class == {"online": 1}
    assert s.fork.touched == ["supply"]
    assert s.curves and s.curves[0]["item"] == "A"
    # a new request could still get 5 on day 6 in both worlds (the committed 15 moved, not the rest)
    assert len(s.curves[0]["before"]) == 40 and s.curves[0]["after"][6] == pytest.approx(5.0)


def test_cut_receipt_gives_a_partial_and_added_supply_repairs_it(story):
    snap, state, bl, sch = story
    sc = parse_scenarios({"scenarios": [
        {"name": "half", "changes": [{"type": "cut_receipts", "keep": 0.5}]},
        {"name": "half + 5 more", "changes": [
            {"type": "cut_receipts", "keep": 0.5},
            {"type": "add_supply", "rows": [{"item": "A", "location": "DC1", "date": day(3).isoformat(), "qty": 5}]}]},
    ]})
    rep = run_whatif(snap, state, bl, sc, schedule=sch)
    half, fixed = (s.result.lines.row(0, named=True) for s in rep.scenarios)
    # on hand 10 + half of the receipt (5) = 15: still exactly enough, on time
    assert (half["new_qty"], half["new_date"], half["status"]) == (15, day(6), "full")
    assert rep.scenarios[0].kpis["fill_rate"] == pytest.approx(1.0)
    assert (fixed["new_qty"], fixed["new_date"]) == (15, day(6))


def test_demand_spike_adds_lines_that_compete_and_node_out_closes_the_node(story):
    snap, state, bl, sch = story
    sc = parse_scenarios({"scenarios": [
        {"name": "spike", "changes": [{"type": "demand_spike", "factor": 2.0, "zone": ["Z1"]}]},
        {"name": "closed", "changes": [{"type": "node_out", "location": "DC1", "date_to": day(9).isoformat()}]},
    ]})
    rep = run_whatif(snap, state, bl, sc, schedule=sch)
    spike, closed = rep.scenarios
    assert spike.fork.backlog.height == 2 and spike.fork.backlog["order"][1] == "O1~spike"
    # the original line keeps its 15 on day 6 (it comes first); the spike line gets the 5 left
    assert spike.result.lines["new_qty"].to_list() == [15, 5]
    assert spike.kpis["lines"] == 1  # KPIs cover the live lines only
    c = closed.result.lines.row(0, named=True)
    assert c["new_date"] == day(10)  # the node reopens on day 10


def test_scenario_never_touches_the_live_state_or_snapshot(story):
    snap, state, bl, sch = story
    before = fingerprint(snap, state)
    bl_before = bl.clone()
    sc = parse_scenarios({"scenarios": [
        {"name": n, "changes": [c]} for n, c in {
            "delay": {"type": "delay_receipts", "days": 3},
            "cut": {"type": "cut_receipts", "keep": 0.0},
            "add": {"type": "add_supply", "rows": [{"item": "A", "location": "DC1", "date": day(1).isoformat(), "qty": 3}]},
            "spike": {"type": "demand_spike", "factor": 3.0},
            "orders": {"type": "add_orders", "rows": [{"order": "X", "item": "A", "location": "DC1", "qty": 4,
                                                       "requested_date": day(2).isoformat()}]},
            "out": {"type": "node_out", "location": "DC1"},
            "quota": {"type": "quota_change", "factor": 0.5},
        }.items()]})
    run_whatif(snap, state, bl, sc, schedule=sch)
    assert fingerprint(snap, state) == before
    assert bl.equals(bl_before)


def test_fork_shares_untouched_tables_and_reports_memory(story):
    snap, state, bl, sch = story
    fk = fork(snap, state, bl, parse_scenarios({"name": "d", "changes": [{"type": "delay_receipts", "days": 2}]})[0],
              schedule=sch)
    assert fk.snapshot.tables["items"] is snap.tables["items"]
    assert fk.snapshot.tables["supply"] is not snap.tables["supply"]
    assert fk.memory_bytes >= fk.state.nbytes > 0
    # the live commitment (15 units) is carried over to the fork
    assert (fk.snapshot.base_cum[0, -1] - fk.state.cum[0, -1]) == pytest.approx(15.0)


def test_scenario_files_yaml_and_json(tmp_path):
    y = tmp_path / "s.yaml"
    y.write_text("name: late\nchanges:\n  - type: delay_receipts\n    days: 5\n    item: [A]\nreschedule:\n  within: fair_share\n")
    (sc,) = load_scenarios(y)
    assert sc.changes[0].days == 5 and sc.reschedule.within == "fair_share"
    j = tmp_path / "s.json"
    j.write_text(json.dumps({"scenarios": [{"name": "a"}, {"name": "b", "changes": [{"type": "cut_receipts", "keep": 0}]}]}))
    assert [s.name for s in load_scenarios(j)] == ["a", "b"]
    with pytest.raises(ValidationError, match="changes.0"):
        parse_scenarios({"name": "x", "changes": [{"type": "meteor_strike"}]})
    with pytest.raises(ValidationError, match="unknown item"):
        fork_snap_unknown_item()


def fork_snap_unknown_item():
    from supplydata import TABLES, build_snapshot

    import datetime as dt

    tables = {n: t.empty() for n, t in TABLES.items()}
    tables["items"] = pl.DataFrame({"item": ["A"]}).with_columns(
        [pl.lit(None, dtype=d).alias(c) for c, d in TABLES["items"].polars_schema().items() if c != "item"])
    tables["locations"] = pl.DataFrame({"location": ["DC1"], "kind": ["dc"]}).with_columns(
        [pl.lit(None, dtype=pl.String).alias(c) for c in ("zone", "country", "calendar")])
    snap = build_snapshot({"as_of": dt.date(2026, 1, 5), "horizon_days": 10}, tables)
    sc = parse_scenarios({"name": "x", "changes": [{"type": "cut_receipts", "keep": 0, "item": ["NOPE"]}]})[0]
    fork(snap, snap.new_state(), pl.DataFrame({"item": [], "location": []}, schema={"item": pl.String, "location": pl.String}), sc)


def test_generated_network_side_by_side(tmp_path):
    from supplydata import load_snapshot
    from supplydata.generate import generate

    generate(tmp_path / "net", seed=5, size="tiny")
    snap = load_snapshot(tmp_path / "net")
    state, bl, sch = backlog_from_orders(snap, pl.read_parquet(tmp_path / "net" / "orders.parquet"))
    before = fingerprint(snap, state)
    sc = parse_scenarios({"scenarios": [
        {"name": "late", "changes": [{"type": "delay_receipts", "days": 14}]},
        {"name": "lane", "changes": [{"type": "lane_change", "location": "DC01", "zone": "Z02", "transit_days": 6}]},
        {"name": "reroute", "changes": [{"type": "node_out", "location": "DC01", "reroute_to": "DC02"}]},
    ]})
    rep = run_whatif(snap, state, bl, sc, schedule=sch, config=RescheduleConfig(within="fair_share"))
    assert fingerprint(snap, state) == before
    t = rep.table()
    assert t.columns == ["kpi", "current", "baseline", "late", "lane", "reroute"]
    late = rep.scenarios[0]
    assert late.kpis["on_time_fill_rate"] <= rep.baseline["on_time_fill_rate"] + 1e-9
    reroute = rep.scenarios[2].result.lines
    assert (reroute["location"] != "DC01").all()
    # nothing promised beyond supply on any fork
    for s in rep.scenarios:
        assert np.isfinite(s.result.state.cum).all()


@pytest.mark.parametrize("changes", [
    [{"type": "delay_receipts", "days": 9, "kind": ["purchase"]}],
    [{"type": "cut_receipts", "keep": 0.3, "category": ["toys", "home", "books"]}],
    [{"type": "demand_spike", "factor": 1.7}, {"type": "delay_receipts", "days": -3}],
    [{"type": "quota_change", "factor": 0.5}, {"type": "lane_change", "location": "DC01", "zone": "Z02", "transit_days": 6}],
])
def test_patched_fork_equals_a_full_build(tmp_path, changes):
    """The fast fork (only changed item-locations recomputed) gives the same snapshot arrays and
    commitment state as building the fork's snapshot from its tables."""
    from supplydata import load_snapshot
    from supplydata.generate import generate

    generate(tmp_path / "net", seed=9, size="tiny")
    snap = load_snapshot(tmp_path / "net")
    state, bl, sch = backlog_from_orders(snap, pl.read_parquet(tmp_path / "net" / "orders.parquet"))
    sc = parse_scenarios({"name": "x", "changes": changes})[0]
    before = fingerprint(snap, state)
    fast = fork(snap, state, bl, sc, schedule=sch)
    assert fast.snapshot.version < 0 and fast.snapshot.base_cum is not snap.base_cum or changes[0]["type"] == "quota_change"
    slow = fork(snap, state, bl, sc, schedule=sch, fast=False)
    for a in ("supply", "demand", "base_cum", "sup_ptr", "sup_bucket", "sup_qty", "sup_row", "il_item", "il_loc"):
        np.testing.assert_array_equal(getattr(fast.snapshot, a), getattr(slow.snapshot, a), err_msg=a)
    np.testing.assert_allclose(fast.state.cum, slow.state.cum, atol=1e-9)
    assert fingerprint(snap, state) == before


def test_patched_fork_when_most_item_locations_change(tmp_path):
    """More than a quarter of the item-locations changed: the dense arrays are rebuilt whole."""
    from supplydata import load_snapshot
    from supplydata.generate import generate

    generate(tmp_path / "net", seed=4, size="tiny")
    snap = load_snapshot(tmp_path / "net")
    state, bl, sch = backlog_from_orders(snap, pl.read_parquet(tmp_path / "net" / "orders.parquet"))
    sc = parse_scenarios({"name": "x", "changes": [{"type": "delay_receipts", "days": 5, "kind": ["purchase", "transfer"]},
                                                    {"type": "demand_spike", "factor": 1.3}]})[0]
    fast = fork(snap, state, bl, sc, schedule=sch)
    slow = fork(snap, state, bl, sc, schedule=sch, fast=False)
    for a in ("supply", "demand", "base_cum", "sup_ptr", "sup_bucket", "sup_qty", "sup_row"):
        np.testing.assert_array_equal(getattr(fast.snapshot, a), getattr(slow.snapshot, a), err_msg=a)
    np.testing.assert_allclose(fast.state.cum, slow.state.cum, atol=1e-9)
