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
