"""Rescheduling re-plans, through the promising engine, the open lines the plain-ATP kernel
cannot: quota pools (allocation), capable-to-promise and substitutes (issue 13: quotas are
honoured on every path; rescheduling does not skip pooled or CTP lines). Hand-computed stories.
"""

from __future__ import annotations

import json

import pytest
from promessa_testing import day

import allocation
import promising
from orderbook.schemas import OrderCreate
from orderbook.service import OrderService
from orderbook.store import open_store
from promessa.config import settings_of
from scenarios import service as scn
from scenarios.backlog import RescheduleConfig, Rule
from scenarios.whatif import parse_scenarios


def capture(svc, customer, cls, prio, item, qty, d, loc="DC1"):
    body = OrderCreate.model_validate({"customer": customer, "demand_class": cls, "priority": prio,
                                       "lines": [{"item": item, "qty": qty, "requested_date": day(d).isoformat(),
                                                  "location": loc}]})
    _, text, _ = svc.capture(body, actor="test")
    return json.loads(text)["order_id"]


def sched(svc, oid):
    return [(sl.date, sl.qty, sl.item) for sl in svc.orders[oid].lines[0].schedule]


def reopened_equal(svc):
    """The order book re-opened from its store replays to exactly the same commitments: the
    positions, the pools and the capacity (every draw the rescheduling reserved was journalled)."""
    import numpy as np

    again = OrderService(svc.snap, svc.store, settings_of(approval_value_threshold=None))
    np.testing.assert_allclose(again.state.cum, svc.state.cum, atol=1e-9)
    for k, v in svc.state.extras.items():
        np.testing.assert_allclose(again.state.extras.get(k, np.zeros_like(v)), v, atol=1e-9)
    assert {o: again.get(o) for o in svc.orders} == {o: svc.get(o) for o in svc.orders}
    return True


@pytest.fixture
def open_service(tmp_path):
    made = []

    def make(snap):
        store = open_store(str(tmp_path / f"book{len(made)}.sqlite"))
        svc = OrderService(snap, store, settings_of(approval_value_threshold=None))
        made.append((svc, store))
        return svc

    yield make
    for svc, store in made:
        getattr(svc, "close", lambda: None)()
        store.close()


# ------------------------------------------------------------------ allocation


@pytest.fixture
def gold_book(make_snapshot, open_service):
    """Item A at DC1: 4 on hand, 6 more on day 8; gold's quota is 6 (from day 0). Gold order G
    asks 5 on day 2: gold may take its quota within the position, 4 until day 8, so (partial,
    no split: the most reachable in the window, on the day it is reached) 5 on day 8, drawn
    from gold's pool. Order N without a class asks 2 on day 2: the unallocated part is
    C - 6 = 0 before day 8 and 4 from day 8: 2 on day 8."""
    snap = make_snapshot(
        supply=[("A", "DC1", 0, 4), ("A", "DC1", 8, 6)], horizon=30,
        extra={"demand_classes": [{"demand_class": "gold", "priority": 1, "parent": None, "can_steal_lower": False}],
               "allocation": [{"item": "A", "location": "DC1", "demand_class": "gold", "date": day(0), "qty": 6.0}]})
    svc = open_service(snap)
    ids = {"G": capture(svc, "C1", "gold", 2, "A", 5, 2), "N": capture(svc, "C2", None, 2, "A", 2, 2)}
    return svc, ids


def test_the_gold_book_is_as_the_story_says(gold_book):
    svc, ids = gold_book
    assert sched(svc, ids["G"]) == [(day(8), 5.0, None)]
    assert [d.pools for d in svc.orders[ids["G"]].lines[0].draws] == [(("gold", 5.0),)]
    assert sched(svc, ids["N"]) == [(day(8), 2.0, None)]


def test_a_gold_line_is_replanned_after_a_supply_delta(gold_book):
    """3 more on hand: C = 7 until day 8. Re-planned, gold takes its quota on day 2 (5 of its 6,
    within 7); N ("all others") still only gets the unallocated part: 7 - 6 = 1 before day 8,
    so 2 on day 8 again. Nothing is skipped; gold's pool holds G's 5 afterwards."""
    svc, ids = gold_book
    svc.apply_supply_deltas([{"item": "A", "location": "DC1", "date": day(0), "qty": 3.0, "ref": "PO-2"}], actor="t")
    res = scn.simulate(svc, RescheduleConfig())
    assert res.skipped == []
    by = {r["order"]: r for r in res.lines.to_dicts()}
    assert (by[ids["G"]]["new_date"], by[ids["G"]]["new_qty"], by[ids["G"]]["change"]) == (day(2), 5.0, "improved")
    assert (by[ids["N"]]["new_date"], by[ids["N"]]["new_qty"], by[ids["N"]]["change"]) == (day(8), 2.0, "unchanged")
    status, text, _ = scn.apply(svc, RescheduleConfig(), actor="planner")
    assert status == 200 and json.loads(text)["applied"]["skipped_lines"] == 0
    assert sched(svc, ids["G"]) == [(day(2), 5.0, None)]
    assert [d.pools for d in svc.orders[ids["G"]].lines[0].draws] == [(("gold", 5.0),)]
    assert svc.orders[ids["G"]].lines[0].promise.source == "reschedule"
    # C = 7 - 5 = 2 before day 8; gold's pool keeps 1, so the unallocated part is 2 - 1 = 1 then:
    # gold may take 1 + 1, "all others" 1
    assert allocation.available(svc.snap, svc.state, "A", "DC1", "gold", day(2)) == 2.0
    assert allocation.available(svc.snap, svc.state, "A", "DC1", None, day(2)) == 1.0
    assert allocation.over_quota(svc.snap, svc.state) == []
    assert reopened_equal(svc)


# ------------------------------------------------------------------ capable-to-promise


@pytest.fixture
def bike_book(tmp_path, open_service):
    """Plant P1 makes BIKE from 1 BOLT in 1 day; no bikes in stock, 10 bolts arrive on day 10.
    Order K asks 5 bikes on day 3: the bolts are there on day 10, so the lot finishes on day 11:
    5 on day 11 (late), drawing 5 BOLT on day 10."""
    from supplydata.snapshot import load_snapshot
    from supplydata.writer import write_snapshot

    tables = {"items": [{"item": "BIKE", "price": 10.0, "cost": 6.0, "category": "c"},
                        {"item": "BOLT", "price": 1.0, "cost": 1.0, "category": "c"}],
              "locations": [{"location": "P1", "kind": "plant", "zone": "Z1"}],
              "supply": [{"item": "BOLT", "location": "P1", "date": day(10), "qty": 10.0, "kind": "purchase", "ref": "PO-1"},
                         {"item": "BIKE", "location": "P1", "date": day(0), "qty": 0.0, "kind": "onhand", "ref": "OH"}],
              "bom": [{"item": "BIKE", "location": "P1", "component": "BOLT", "qty_per": 1.0, "lead_time_days": 1}]}
    snap = load_snapshot(write_snapshot(tmp_path / "bikes", tables, as_of=day(0), horizon_days=30))
    svc = open_service(snap)
    return svc, capture(svc, "C1", None, 1, "BIKE", 5, 3, loc="P1")


def test_a_ctp_line_moves_earlier_when_component_supply_arrives(bike_book):
    """10 bolts on hand arrive by a supply delta: re-planned through CTP the lot takes its bolts
    on day 2 and finishes on the requested day 3; the bolts of day 10 are free again."""
    svc, k = bike_book
    assert sched(svc, k) == [(day(11), 5.0, None)]
    assert {(d.key, d.date, d.qty) for d in svc.orders[k].lines[0].draws} == {("BOLT", day(10), 5.0)}
    svc.apply_supply_deltas([{"item": "BOLT", "location": "P1", "date": day(0), "qty": 10.0, "ref": "PO-0"}], actor="t")
    res = scn.simulate(svc, RescheduleConfig())
    [row] = res.lines.to_dicts()
    assert (row["new_date"], row["new_qty"], row["change"], row["status"]) == (day(3), 5.0, "improved", "full")
    assert res.skipped == []
    status, _, _ = scn.apply(svc, RescheduleConfig(), actor="planner")
    assert status == 200
    assert sched(svc, k) == [(day(3), 5.0, None)]
    assert {(d.key, d.date, d.qty) for d in svc.orders[k].lines[0].draws} == {("BOLT", day(2), 5.0)}
    # 5 of the 10 on hand held from day 2 (5 free until day 10); the 10 of day 10 are free again
    assert promising.available(svc.snap, svc.state, "BOLT", "P1", day(2)) == 5.0
    assert promising.available(svc.snap, svc.state, "BOLT", "P1", day(10)) == 15.0
    assert reopened_equal(svc)


# ------------------------------------------------------------------ substitution


@pytest.fixture
def sub_book(make_snapshot, open_service):
    """DC1 stocks AS54888 (80 on hand, 40 more on day 6) and its substitute AS6000 (50). Order S
    asks 100 AS54888 on day 2: 80 of AS54888 and 20 of AS6000, both on day 2."""
    snap = make_snapshot(
        supply=[("AS54888", "DC1", 0, 80), ("AS54888", "DC1", 6, 40), ("AS6000", "DC1", 0, 50)],
        extra={"substitutes": [{"item": "AS54888", "substitute": "AS6000", "preference": 1, "valid_from": None,
                                "valid_to": None}]})
    svc = open_service(snap)
    return svc, capture(svc, "C1", None, 1, "AS54888", 100, 2)


@pytest.mark.parametrize("strategy", ["redistribute", "gain"])
def test_a_substitution_line_moves_back_to_its_own_item(sub_book, strategy):
    """20 more AS54888 on hand: the original covers the 100 on day 2, so re-planned the line is
    100 of AS54888 on day 2 and AS6000's 20 go back (a substitute is never taken while the
    original covers the line on time). The schedule by date is the same ("unchanged") but the
    reservation changed, so apply re-reserves it. A gain line keeps its confirmation unless a
    fresh one is better: the same dates with fewer substitute units counts as better."""
    svc, s = sub_book
    assert sched(svc, s) == [(day(2), 80.0, None), (day(2), 20.0, "AS6000")]
    svc.apply_supply_deltas([{"item": "AS54888", "location": "DC1", "date": day(0), "qty": 20.0, "ref": "PO-0"}], actor="t")
    cfg = RescheduleConfig(default_strategy=strategy)
    res = scn.simulate(svc, cfg)
    [row] = res.lines.to_dicts()
    assert (row["new_date"], row["new_qty"], row["change"]) == (day(2), 100.0, "unchanged")
    [p] = res.promises.values()
    assert [(ln.date, ln.qty, ln.item) for ln in p.lines] == [(day(2), 100.0, None)]
    status, text, _ = scn.apply(svc, cfg, actor="planner")
    assert status == 200 and json.loads(text)["applied"]["lines_changed"] == 1
    assert sched(svc, s) == [(day(2), 100.0, None)]
    assert {d.key for d in svc.orders[s].lines[0].draws} == {"AS54888"}
    assert promising.available(svc.snap, svc.state, "AS6000", "DC1", day(0)) == 50.0
    assert sched(svc, s) == [(day(2), 100.0, None)] and reopened_equal(svc)


def test_whatif_and_partitions_replan_the_same_lines(gold_book, sub_book):
    """What-if re-plans the engine's lines on the live state and on the fork; a partitioned
    plan (two partitions, in-process) equals the single run's, engine lines included."""
    from scenarios.scaleout import reschedule_partitioned

    svc, ids = gold_book
    svc.apply_supply_deltas([{"item": "A", "location": "DC1", "date": day(0), "qty": 3.0, "ref": "PO-2"}], actor="t")
    rep = scn.whatif(svc, parse_scenarios({"name": "cut", "changes": [{"type": "cut_receipts", "keep": 0}]}))
    assert rep.skipped == []
    base = {r["order"]: (r["new_date"], r["new_qty"]) for r in rep.baseline_result.lines.to_dicts()}
    assert base == {ids["G"]: (day(2), 5.0), ids["N"]: (day(8), 2.0)}
    # the day-8 receipt cut: 7 on hand, gold's 6 protected: G 5 on day 2, N gets 1 (all others: 7 - 6)
    cut = {r["order"]: (r["new_date"], r["new_qty"]) for r in rep.scenarios[0].result.lines.to_dicts()}
    assert cut == {ids["G"]: (day(2), 5.0), ids["N"]: (day(2), 1.0)}
    with svc.lock:
        bk = scn.backlog_from_service(svc)
        state = svc.state.copy()
    cfg = RescheduleConfig(rules=[Rule(strategy="win", demand_class=["gold"])])
    one = scn.reschedule(svc.snap, state, bk.backlog, cfg, schedule=bk.schedule, reservations=bk.reservations)
    two = reschedule_partitioned(svc.snap, state, bk.backlog, cfg, schedule=bk.schedule, parts=2,
                                 reservations=bk.reservations)
    assert one.lines.equals(two.lines) and one.schedule.equals(two.schedule)
    assert (one.state.cum == two.state.cum).all()
    assert all((one.state.extras[k] == two.state.extras[k]).all() for k in one.state.extras)


def test_a_quota_change_binds_the_engine_pass(gold_book):
    """After the delta (7 on hand until day 8, 13 from day 8), halve gold's quota to 3: gold's G
    takes its 3 and 2 of the unallocated 7 - 3 = 4, on day 2; N ("all others") then finds
    7 - 5 = 2 unallocated before day 8 (gold's pool is used up): 2 on day 2, better than the
    baseline's day 8. The fork's pools carry the live consumption onto the new quotas."""
    svc, ids = gold_book
    svc.apply_supply_deltas([{"item": "A", "location": "DC1", "date": day(0), "qty": 3.0, "ref": "PO-2"}], actor="t")
    rep = scn.whatif(svc, parse_scenarios({"name": "half", "changes": [
        {"type": "quota_change", "factor": 0.5, "demand_class": ["gold"]}]}))
    got = {r["order"]: (r["new_date"], r["new_qty"]) for r in rep.scenarios[0].result.lines.to_dicts()}
    assert got == {ids["G"]: (day(2), 5.0), ids["N"]: (day(2), 2.0)}
    assert rep.scenarios[0].better_lines == 1
    assert allocation.over_quota(rep.scenarios[0].fork.snapshot, rep.scenarios[0].result.state) == []


def test_strategies_hold_for_engine_lines(gold_book):
    """G in win keeps its reservation (a fresh answer is no better: still 5 on day 8), N in lose
    gives its 2 back. Applied: G untouched, N unconfirmed, and "all others" may take 4 from day 8
    again (C = 10 - 5 from day 8, gold's pool keeps 1 of its 6)."""
    svc, ids = gold_book
    cfg = RescheduleConfig(rules=[Rule(strategy="win", demand_class=["gold"])], default_strategy="lose")
    res = scn.simulate(svc, cfg)
    by = {r["order"]: r for r in res.lines.to_dicts()}
    assert (by[ids["G"]]["kept"], by[ids["G"]]["improved"], by[ids["G"]]["change"]) == (True, False, "unchanged")
    assert (by[ids["N"]]["new_qty"], by[ids["N"]]["change"]) == (0.0, "worsened")
    assert res.promises == {}
    status, text, _ = scn.apply(svc, cfg, actor="planner")
    assert status == 200 and json.loads(text)["applied"]["lines_changed"] == 1
    assert sched(svc, ids["G"]) == [(day(8), 5.0, None)] and sched(svc, ids["N"]) == []
    assert svc.orders[ids["N"]].lines[0].draws == []
    assert allocation.available(svc.snap, svc.state, "A", "DC1", None, day(8)) == 4.0
    assert allocation.over_quota(svc.snap, svc.state) == []


def test_fill_engine_lines_keep_what_still_fits(gold_book):
    """All 4 on hand counted away (delta -4): C = 0 until day 8, 6 from day 8. Both lines in fill,
    G first (both orders have priority 2, G was created first): G's 5 on day 8
    still fit (C 6, gold's pool 6) and are kept; N's 2 on day 8 no longer fit (6 - 5 = 1), so N
    gets at most its old 2 no earlier than day 8 from what "all others" may take then: C - gold's
    unused 1 = 0. N is left unconfirmed and reported worse; no quota overdrawn."""
    svc, ids = gold_book
    svc.apply_supply_deltas([{"item": "A", "location": "DC1", "date": day(0), "qty": -4.0, "ref": "COUNT"}], actor="t")
    res = scn.simulate(svc, RescheduleConfig(default_strategy="fill"))
    by = {r["order"]: r for r in res.lines.to_dicts()}
    assert (by[ids["G"]]["kept"], by[ids["G"]]["new_date"], by[ids["G"]]["new_qty"]) == (True, day(8), 5.0)
    assert (by[ids["N"]]["kept"], by[ids["N"]]["new_qty"], by[ids["N"]]["change"]) == (False, 0.0, "worsened")
    assert allocation.over_quota(svc.snap, res.state) == []
