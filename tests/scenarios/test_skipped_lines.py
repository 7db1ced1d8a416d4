"""Rescheduling and what-if re-plan lines whose reservation draws demand-class quota pools through
the engine after the kernel pass (issue 13; `scenarios.replan`), and report, line by line, the open
lines they keep as promised (asked for past the horizon).

The book (hand-computed):
- item A at DC1: 10 on hand, gold's quota is 6 of them (no stealing). Gold order G asks 5 on
  day 2 (gold's pool: 5); order N without a class asks 3 on day 2 (the 4 no quota covers: 3).
- item B at DC1, no quotas: 10 on hand, 10 more on day 10. O1 (priority 3) takes 8 on day 2;
  then O2 (priority 1) asks 8 on day 2 and gets day 10.
Rescheduling by priority moves O2 to day 2 and O1 to day 10; G and N are re-planned through the
class path and get the same answers (gold 5 from its pool, N 3 of the unallocated 4).
"""

from __future__ import annotations

import json

import pytest
from promessa_testing import day

import allocation
from orderbook.queries import engine_path, skip_reason
from orderbook.records import Draw
from orderbook.schemas import OrderCreate
from orderbook.service import OrderService
from orderbook.store import open_store
from promessa.config import settings_of
from scenarios import service as scn
from scenarios.backlog import RescheduleConfig
from scenarios.whatif import parse_scenarios


def capture(svc, customer, cls, prio, item, qty, d):
    body = OrderCreate.model_validate({"customer": customer, "demand_class": cls, "priority": prio,
                                       "lines": [{"item": item, "qty": qty, "requested_date": day(d).isoformat(),
                                                  "location": "DC1"}]})
    _, text, _ = svc.capture(body, actor="test")
    return json.loads(text)["order_id"]


@pytest.fixture
def book(make_snapshot, tmp_path):
    snap = make_snapshot(
        supply=[("A", "DC1", 0, 10), ("B", "DC1", 0, 10), ("B", "DC1", 10, 10)], horizon=30,
        extra={"demand_classes": [{"demand_class": "gold", "priority": 1, "parent": None, "can_steal_lower": False}],
               "allocation": [{"item": "A", "location": "DC1", "demand_class": "gold", "date": day(0), "qty": 6.0}]})
    store = open_store(str(tmp_path / "book.sqlite"))
    svc = OrderService(snap, store, settings_of(approval_value_threshold=None))
    ids = {
        "G": capture(svc, "C1", "gold", 2, "A", 5, 2),
        "N": capture(svc, "C2", None, 2, "A", 3, 2),
        "O1": capture(svc, "C3", None, 3, "B", 8, 2),
        "O2": capture(svc, "C4", None, 1, "B", 8, 2),
    }
    yield svc, ids
    getattr(svc, "close", lambda: None)()
    store.close()


def dates(svc, oid):
    return [(sl.date, sl.qty) for sl in svc.orders[oid].lines[0].schedule]


def test_the_book_is_as_the_story_says(book):
    svc, ids = book
    assert [d.pools for d in svc.orders[ids["G"]].lines[0].draws] == [(("gold", 5.0),)]
    assert dates(svc, ids["N"]) == [(day(2), 3.0)]
    assert dates(svc, ids["O2"]) == [(day(10), 8.0)]


def test_simulate_replans_the_pooled_lines(book):
    svc, ids = book
    res = scn.simulate(svc, RescheduleConfig())
    by = {r["order"]: r for r in res.lines.to_dicts()}
    assert set(by) == set(ids.values())
    assert (by[ids["O2"]]["new_date"], by[ids["O1"]]["new_date"]) == (day(2), day(10))
    assert (by[ids["G"]]["new_date"], by[ids["G"]]["new_qty"], by[ids["G"]]["change"]) == (day(2), 5.0, "unchanged")
    assert (by[ids["N"]]["new_date"], by[ids["N"]]["new_qty"], by[ids["N"]]["change"]) == (day(2), 3.0, "unchanged")
    assert res.skipped == [] and res.to_dict()["counts"]["skipped"] == 0
    assert res.timings["replanned_lines"] == 2.0
    assert res.promises == {}  # the same draws as before: nothing for apply to change


def test_apply_keeps_the_pools_charged(book):
    svc, ids = book
    status, text, _ = scn.apply(svc, RescheduleConfig(), actor="planner")
    assert status == 200
    body = json.loads(text)
    assert body["applied"]["skipped_lines"] == 0 and body["applied"]["lines_changed"] == 2
    assert dates(svc, ids["O2"]) == [(day(2), 8.0)] and dates(svc, ids["O1"]) == [(day(10), 8.0)]
    assert dates(svc, ids["G"]) == [(day(2), 5.0)] and dates(svc, ids["N"]) == [(day(2), 3.0)]
    # gold's pool still holds G's 5 (1 left of 6) and N still holds 3 of the 4 no quota covers:
    # gold may take 1 + 1, "all others" 1
    assert allocation.available(svc.snap, svc.state, "A", "DC1", "gold", day(2)) == 2.0
    assert allocation.available(svc.snap, svc.state, "A", "DC1", None, day(2)) == 1.0


def test_whatif_replans_the_pooled_lines(book):
    svc, ids = book
    rep = scn.whatif(svc, parse_scenarios({"name": "cut", "changes": [{"type": "cut_receipts", "keep": 0}]}))
    assert rep.skipped == [] and rep.to_dict()["skipped"] == []
    got = {r["order"]: (r["new_date"], r["new_qty"]) for r in rep.scenarios[0].result.lines.to_dicts()}
    # B's day-10 receipt cut: O2 (priority 1) takes 8 of the 10 on hand, O1 the 2 left (partial, day 2)
    assert got == {ids["G"]: (day(2), 5.0), ids["N"]: (day(2), 3.0), ids["O2"]: (day(2), 8.0), ids["O1"]: (day(2), 2.0)}


class _Line:
    def __init__(self, draws):
        self.draws, self.item, self.location, self.requested_date = draws, "A", "DC1", day(2)


@pytest.mark.parametrize("draws,last,path,skip", [
    ((Draw("atp", "A", "DC1", day(2), 3.0),), day(29), None, None),
    ((Draw("atp", "A", "DC1", day(2), 3.0, "gold", (("gold", 3.0),)),), day(29), "allocation", None),
    ((Draw("atp", "A", "DC1", day(2), 1.0), Draw("capacity", "R1", "DC1", day(1), 2.0)), day(29), "capable_to_promise", None),
    ((Draw("atp", "A2", "DC1", day(2), 3.0),), day(29), "substitution", None),
    ((Draw("atp", "A", "DC1", day(2), 3.0),), day(1), None, "beyond_horizon"),
])
def test_engine_path_and_skip_reason(draws, last, path, skip):
    assert engine_path(_Line(draws)) == path
    assert skip_reason(_Line(draws), last) == skip
