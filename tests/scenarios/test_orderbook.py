"""Rescheduling through the order book: simulate changes nothing, apply commits atomically."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from promessa_testing import day

from orderbook.schemas import OrderCreate
from orderbook.service import OrderService
from promessa.config import settings_of
from orderbook.store import open_store
from scenarios import service as scn
from scenarios.backlog import RescheduleConfig, Rule
from scenarios.whatif import parse_scenarios


def capture(svc, customer, cls, prio, qty, d):
    body = OrderCreate.model_validate({"customer": customer, "demand_class": cls, "priority": prio,
                                       "lines": [{"item": "A", "qty": qty, "requested_date": day(d).isoformat(), "location": "DC1"}]})
    import json

    _, text, _ = svc.capture(body, actor="test")
    return json.loads(text)["order_id"]


def files(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.parent.glob(path.name + "*")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def book(make_snapshot, tmp_path):
    """A at DC1: 10 on hand, 10 more on day 10. An online order O1 (priority 3) took 8 on day 2;
    then a key-account order O2 (priority 1) for 8 on day 2 could only get day 10."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 10), ("A", "DC1", 10, 10)], horizon=30)
    db = tmp_path / "book.sqlite"
    store = open_store(str(db))
    svc = OrderService(snap, store, settings_of(approval_value_threshold=None))
    o1 = capture(svc, "C1", None, 3, 8, 2)
    o2 = capture(svc, "C2", None, 1, 8, 2)
    yield svc, store, db, o1, o2
    getattr(svc, "close", lambda: None)()
    store.close()


def test_simulate_and_whatif_leave_the_order_book_and_live_state_unchanged(book):
    svc, store, db, o1, o2 = book
    cum = svc.state.cum.copy()
    docs = {k: o.to_dict() for k, o in svc.orders.items()}
    disk = files(db)
    res = scn.simulate(svc, RescheduleConfig())
    by = {r["order"]: r for r in res.lines.to_dicts()}
    assert (by[o2]["new_date"], by[o2]["change"]) == (day(2), "improved")
    assert (by[o1]["new_date"], by[o1]["change"]) == (day(10), "worsened")
    rep = scn.whatif(svc, parse_scenarios({"name": "cut", "changes": [{"type": "cut_receipts", "keep": 0}]}))
    assert rep.scenarios[0].kpis["fill_rate"] < 1.0
    assert np.array_equal(svc.state.cum, cum) and svc.state.cum.tobytes() == cum.tobytes()
    assert {k: o.to_dict() for k, o in svc.orders.items()} == docs
    assert files(db) == disk


def test_apply_commits_the_new_schedule_atomically_and_durably(book):
    svc, store, db, o1, o2 = book
    seq0 = svc.seq
    status, body, replayed = scn.apply(svc, RescheduleConfig(), actor="planner")
    assert status == 200 and not replayed
    assert [sl.date for sl in svc.orders[o2].lines[0].schedule] == [day(2)]
    assert [sl.date for sl in svc.orders[o1].lines[0].schedule] == [day(10)]
    assert svc.seq > seq0  # releases and commits are journalled
    # the order book replays to exactly the same commitments
    again = OrderService(svc.snap, store, settings_of(approval_value_threshold=None))
    np.testing.assert_allclose(again.state.cum, svc.state.cum, atol=1e-9)
    assert [sl.date for sl in again.orders[o2].lines[0].schedule] == [day(2)]
    # apply went through the order book's command: typed records, the actor in the audit trail
    from orderbook.records import PromiseRecord
    from orderbook.schemas import OrderPublic

    p = again.orders[o2].lines[0].promise
    assert isinstance(p, PromiseRecord) and (p.source, p.status, p.promised_qty) == ("reschedule", "full", 8.0)
    assert again.get(o2) == svc.get(o2) and OrderPublic.model_validate(again.get(o2))
    assert again.audit(o2)[-1]["actor"] == "planner"
    # a second run finds nothing to change
    _, body2, _ = scn.apply(svc, RescheduleConfig(), actor="planner")
    import json

    assert json.loads(body2)["applied"]["lines_changed"] == 0


def test_apply_with_a_win_rule_keeps_the_win_line(book):
    svc, store, db, o1, o2 = book
    cfg = RescheduleConfig(rules=[Rule(strategy="win", customer=["C1"])])
    scn.apply(svc, cfg, actor="planner")
    assert [sl.date for sl in svc.orders[o1].lines[0].schedule] == [day(2)]
    assert [sl.date for sl in svc.orders[o2].lines[0].schedule] == [day(10)]


def test_apply_rolls_back_when_the_store_fails(book, monkeypatch):
    svc, store, db, o1, o2 = book
    cum = svc.state.cum.copy()
    docs = {k: o.to_dict() for k, o in svc.orders.items()}

    def boom(ws):
        raise OSError("disk full")

    monkeypatch.setattr(store, "apply", boom)
    if hasattr(store, "write"):  # group commit writes batches
        monkeypatch.setattr(store, "write", lambda batch: boom(batch))
    from orderbook.service import StoreUnavailable

    with pytest.raises(StoreUnavailable):
        scn.apply(svc, RescheduleConfig(), actor="planner")
    assert np.array_equal(svc.state.cum, cum)
    assert {k: o.to_dict() for k, o in svc.orders.items()} == docs


def test_apply_plans_again_when_the_book_moved_during_planning(book, monkeypatch):
    """A capture lands between planning (outside the lock) and applying: the plan is made again
    under the lock, so the new order's reservation is respected."""
    svc, store, db, o1, o2 = book
    real = scn.reschedule
    calls = []

    def planning_then_capture(*a, **kw):
        calls.append(1)
        out = real(*a, **kw)
        if len(calls) == 1:
            capture(svc, "C3", None, 2, 2, 2)  # takes the last 2 units on hand... after planning
        return out

    monkeypatch.setattr(scn, "reschedule", planning_then_capture)
    _, body, _ = scn.apply(svc, RescheduleConfig(), actor="planner")
    import json

    assert json.loads(body)["applied"]["replanned_under_lock"] is True and len(calls) == 2
    # never more than supply: 10 on hand + 10 on day 10 = 20 units, 18 ordered and all promised
    assert svc.state.cum.min() >= -1e-9
