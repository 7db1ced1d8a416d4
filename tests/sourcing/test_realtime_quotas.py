"""Real-time sourcing honours demand-class quotas (issue 13: "supply reserved for a class is
protected from everyone else, on every path"), with hand-computed answers.

The network: customers in zone C; two DCs ship there, requested dates are ship dates.

    node  rank  transit  cost/unit  cost/shipment
    A     1     1 day    1.0        5             near (earliest arrival)
    B     2     3 days   1.0        5             far

Item X: 10 on hand at A and 10 at B. Classes: gold (priority 1), silver (priority 2), neither
steals. Quotas at A only (B has none: plain ATP there).
"""

from __future__ import annotations

import numpy as np
import pytest

import allocation
from promessa_testing import day
from promising import Policy, Status
from promising.engine import unreserve
from promising.reservation import Reservation
from sourcing.choosers import SourcingChooser
from sourcing.realtime import OrderLine, SourcingPolicy, SourcingRequest, candidates, source_order

LANES = [
    {"location": "A", "zone": "C", "transit_days": 1, "cost_per_unit": 1.0, "cost_per_shipment": 5.0},
    {"location": "B", "zone": "C", "transit_days": 3, "cost_per_unit": 1.0, "cost_per_shipment": 5.0},
]
RULES = [{"zone": "C", "location": "A", "rank": 1}, {"zone": "C", "location": "B", "rank": 2}]
CLASSES = [
    {"demand_class": "gold", "priority": 1, "parent": None, "can_steal_lower": False},
    {"demand_class": "silver", "priority": 2, "parent": None, "can_steal_lower": False},
]


@pytest.fixture
def quota_net(make_snapshot):
    def _make(quotas):
        rows = [{"item": "X", "location": "A", "demand_class": c, "date": day(0), "qty": float(q)} for c, q in quotas]
        return make_snapshot(supply=[("X", "A", 0, 10), ("X", "B", 0, 10)], locations=["A", "B"],
                             extra={"lanes": LANES, "sourcing": RULES, "demand_classes": CLASSES, "allocation": rows})

    return _make


def ask(qty, demand_class, *, partial=True):
    pol = SourcingPolicy(objective="earliest", date_kind="ship", allow_partial=partial)
    return SourcingRequest("O1", "C", (OrderLine(1, "X", qty, day(0)),), pol, demand_class)


def legs(ans):
    return [(g.node, g.qty, g.ship_date, g.arrival_date) for g in ans.lines[0].legs]


def test_a_protected_for_gold_silver_and_classless_lines_go_to_b(quota_net):
    """All 10 at A are gold's quota. Plain ATP would ship 4 from A (arrives day 1); silver and a
    line without a class ("all others") may take nothing at A, so B ships them (arrives day 3)."""
    snap = quota_net([("gold", 10)])
    state = snap.new_state()
    for dc in ("silver", None):
        ans = source_order(snap, state, ask(4, dc))
        assert ans.lines[0].status is Status.FULL
        assert legs(ans) == [("B", 4.0, day(0), day(3))]
        alt = {a.node: a for a in ans.lines[0].alternatives}
        assert alt["A"].available_qty == 0.0 and alt["A"].ship_date is None
        assert "no supply" in alt["A"].note
    # what the candidates list says for silver: A has nothing for it, B has the whole 10
    cands = {a.node: a.available_qty for a in candidates(snap, state, ask(4, "silver"))[0]}
    assert cands == {"A": 0.0, "B": 10.0}


def test_gold_takes_a_and_commits_to_its_pool(quota_net):
    snap = quota_net([("gold", 10)])
    state = snap.new_state()
    ans = source_order(snap, state, ask(4, "gold"), commit=True)
    assert legs(ans) == [("A", 4.0, day(0), day(1))]
    assert ans.committed
    (d,) = ans.reservation.draws
    assert (d.location, d.qty, d.demand_class, d.pools) == ("A", 4.0, "gold", (("gold", 4.0),))
    # 6 of gold's quota left at A, nothing at all for silver; B untouched
    assert allocation.available(snap, state, "X", "A", "gold", day(0)) == 6.0
    assert allocation.available(snap, state, "X", "A", "silver", day(0)) == 0.0
    assert state.cum[snap.il_index[(snap.item_code("X"), snap.location_code("B"))], 0] == 10.0


def test_gold_split_takes_its_quota_then_b(quota_net):
    """Gold asks 14: no node has 14; A's 10 (gold's quota) arrives first, the other 4 from B."""
    snap = quota_net([("gold", 10)])
    state = snap.new_state()
    ans = source_order(snap, state, ask(14, "gold"), commit=True)
    assert ans.lines[0].status is Status.FULL
    assert legs(ans) == [("A", 10.0, day(0), day(1)), ("B", 4.0, day(0), day(3))]
    pools = [(d.location, d.qty, d.pools) for d in ans.reservation.draws]
    assert pools == [("A", 10.0, (("gold", 10.0),)), ("B", 4.0, ())]


def test_silver_own_quota_at_a_bounds_what_it_may_ship_from_a(quota_net):
    """A: gold 7, silver 3 of its 10. Silver asking 3 ships from A (its own quota); silver
    asking 5 cannot be served whole at A (3 for silver) and ships all 5 from B; without a class
    the line gets nothing at A (every unit is someone's quota)."""
    snap = quota_net([("gold", 7), ("silver", 3)])
    state = snap.new_state()
    assert legs(source_order(snap, state, ask(3, "silver"))) == [("A", 3.0, day(0), day(1))]
    assert legs(source_order(snap, state, ask(5, "silver"))) == [("B", 5.0, day(0), day(3))]
    ans = source_order(snap, state, ask(5, "silver"))
    assert {a.node: a.available_qty for a in ans.lines[0].alternatives} == {"A": 3.0}
    # the order book's sourcing chooser picks the same nodes
    chooser = SourcingChooser()
    pick = lambda q, dc: chooser(snap, state, item="X", qty=q, requested_date=day(0), zone="C",  # noqa: E731
                                 policy=Policy(), demand_class=dc)
    assert (pick(3, "silver"), pick(5, "silver"), pick(7, "gold"), pick(1, None)) == ("A", "B", "A", "B")


def test_committed_silver_legs_reserve_exactly_what_the_engine_would(quota_net):
    """Committing a silver order of 3 at A charges silver's pool; a second silver order of 1
    then finds nothing for silver at A and goes to B; releasing the first gives it all back."""
    snap = quota_net([("gold", 7), ("silver", 3)])
    state = snap.new_state()
    first = source_order(snap, state, ask(3, "silver"), commit=True)
    assert [(d.location, d.pools) for d in first.reservation.draws] == [("A", (("silver", 3.0),))]
    second = source_order(snap, state, ask(1, "silver"), commit=True)
    assert legs(second) == [("B", 1.0, day(0), day(3))]
    unreserve(snap, state, Reservation(second.reservation.draws + first.reservation.draws))
    fresh = snap.new_state()
    np.testing.assert_array_equal(state.cum, fresh.cum)
    assert allocation.available(snap, state, "X", "A", "silver", day(0)) == 3.0


def test_no_quotas_keeps_the_plain_answer(make_snapshot):
    """Without an allocation table the fast path is unchanged: silver ships 4 from A."""
    snap = make_snapshot(supply=[("X", "A", 0, 10), ("X", "B", 0, 10)], locations=["A", "B"],
                         extra={"lanes": LANES, "sourcing": RULES, "demand_classes": CLASSES})
    ans = source_order(snap, snap.new_state(), ask(4, "silver"))
    assert legs(ans) == [("A", 4.0, day(0), day(1))]
    assert ans.draws is None


def test_a_stealing_class_leaves_the_protected_part(make_snapshot):
    """A's 10 are silver's quota with 4 protected (the whole horizon); gold may steal from lower
    classes. Gold may take 10 - 4 = 6 at A: asking 6 it ships from A (charged to silver's pool),
    asking 8 it ships all 8 from B; silver itself still gets its 10 at A."""
    classes = [dict(CLASSES[0], can_steal_lower=True), CLASSES[1]]
    quota = {"item": "X", "location": "A", "demand_class": "silver", "date": day(0), "qty": 10.0,
             "protect_qty": 4.0, "protect_until": None}
    snap = make_snapshot(supply=[("X", "A", 0, 10), ("X", "B", 0, 10)], locations=["A", "B"],
                         extra={"lanes": LANES, "sourcing": RULES, "demand_classes": classes, "allocation": [quota]})
    state = snap.new_state()
    assert legs(source_order(snap, state, ask(8, "gold"))) == [("B", 8.0, day(0), day(3))]
    assert legs(source_order(snap, state, ask(10, "silver"))) == [("A", 10.0, day(0), day(1))]
    ans = source_order(snap, state, ask(6, "gold"), commit=True)
    assert legs(ans) == [("A", 6.0, day(0), day(1))]
    assert [d.pools for d in ans.reservation.draws] == [(("silver", 6.0),)]
    # silver keeps its protected 4; gold finds nothing more at A
    assert allocation.available(snap, state, "X", "A", "silver", day(0)) == 4.0
    assert legs(source_order(snap, state, ask(1, "gold"))) == [("B", 1.0, day(0), day(3))]


def test_class_curves_are_class_availability_row_by_row(tmp_path):
    """The generated tiny network (quota pools at several item-locations, five classes, half its stream committed so
    the pools are drawn down): `class_curves` gives, for every pooled item-location and every class (and none), the
    row `class_availability` gives for it alone."""
    import polars as pl

    from promising import promise
    from promising.types import Request
    from supplydata import load_snapshot
    from supplydata.generate import generate

    generate(tmp_path / "net", seed=3, size="tiny")
    snap = load_snapshot(tmp_path / "net")
    st = snap.new_state()
    for r in pl.read_parquet(tmp_path / "net" / "orders.parquet").head(100).rows(named=True):
        loc = "DC01" if snap.il_index.get((snap.item_index[r["item"]], snap.location_index["DC01"]), -1) >= 0 else "DC02"
        promise(snap, st, Request(r["item"], loc, float(r["qty"]), r["requested_date"], Policy(), r["demand_class"]),
                commit=True, explain=False)
    model = allocation.model_for(snap)
    pooled = [il for il in range(snap.n_il) if model.ptr[il + 1] > model.ptr[il]]
    assert len(pooled) >= 2
    for dc in [None, "gold", *model.class_ids]:
        got = allocation.class_curves(snap, st, pooled, dc)
        for j, il in enumerate(pooled):
            item, loc = snap.il_name(il)
            np.testing.assert_array_equal(got[j], allocation.class_availability(snap, st, item, loc, dc))
