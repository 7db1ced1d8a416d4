"""The order book's commands as stories, on SQLite and PostgreSQL: rescheduling apply through the
one writer (same promise shape as capture, survives a restart), durable supply deltas (replayed
at start-up, retired by a refresh that carries them), duplicate line numbers and shipments
dated before their supply refused."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from promessa_testing import AS_OF, day

from orderbook.commands import ReschedulePlan
from orderbook.records import PromiseRecord
from orderbook.schemas import FulfillmentEvent, InquiryLine, OrderChange, OrderCreate, OrderPublic
from orderbook.service import Idem, OrderService
from orderbook.store import open_store
from promessa.config import settings_of
from promessa.errors import ConflictError, ValidationError
from scenarios import service as scn
from scenarios.backlog import RescheduleConfig
from supplydata import load_snapshot
from supplydata.live import SupplyDelta
from supplydata.writer import write_snapshot


@pytest.fixture
def open_book(order_book_db):
    """open_book(snap) -> a service over the one order book of this test (call again: a restart)."""
    url, schema = order_book_db
    opened = []

    def _open(snap):
        store = open_store(url, pg_schema=schema)
        svc = OrderService(snap, store, settings_of(approval_value_threshold=None, approval_on_price_override=False),
                           planner=scn.plan)
        opened.append(svc)
        return svc

    yield _open
    for svc in opened:
        svc.close()
        svc.store.close()


def capture(svc, customer, prio, qty, d, *, item="A", loc="DC1", actor="key:capture"):
    body = OrderCreate.model_validate({"customer": customer, "priority": prio, "lines": [
        {"item": item, "qty": qty, "requested_date": day(d).isoformat(), "location": loc}]})
    status, text, _ = svc.capture(body, actor=actor)
    assert status == 201
    return json.loads(text)


def available(svc, qty, d, *, item="A", loc="DC1"):
    """What an inquiry promises for `qty` on day `d` (nothing is committed)."""
    [p] = svc.inquire([InquiryLine(item=item, qty=qty, requested_date=day(d), location=loc)])
    return p["promised_qty"], [(ln["date"], ln["qty"]) for ln in p["lines"]]


# ------------------------------------------------------------------ rescheduling apply


def test_reschedule_apply_gives_the_capture_promise_shape_and_survives_a_restart(make_snapshot, open_book):
    """A at DC1: 10 on hand, 10 more arriving on day 10. O1 (online, priority 3) takes 8 on day 2;
    O2 (key account, priority 1) asks 8 on day 2 and gets them only on day 10 (late: 2 are left on hand).
    Rescheduling by priority swaps them: O2 gets 8 on day 2 from on hand (R0); O1 gets 8 on day 10,
    pegged to what O2 left: the last 2 on hand (R0) and 6 of the receipt (R1). Reads, searches and a
    restart all show the same typed promise."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 10), ("A", "DC1", 10, 10)], horizon=30)
    svc = open_book(snap)
    o1 = capture(svc, "C1", 3, 8, 2)
    o2 = capture(svc, "C2", 1, 8, 2)
    assert (o2["lines"][0]["promise"]["status"], o2["lines"][0]["schedule"][0]["date"]) == ("late", day(10).isoformat())

    status, body, replayed = svc.apply_reschedule(RescheduleConfig(), actor="key:planner", idem=Idem("r-1", "h"))
    assert (status, replayed) == (200, False)
    applied = json.loads(body)["applied"]
    assert (applied["lines_changed"], applied["orders_changed"]) == (2, 2)

    got1, got2 = svc.get(o1["order_id"]), svc.get(o2["order_id"])
    p2, p1 = got2["lines"][0]["promise"], got1["lines"][0]["promise"]
    # the same shape as capture's: every key of the captured promise, and it validates as OrderPublic
    assert set(p2) == set(o2["lines"][0]["promise"])
    OrderPublic.model_validate(got1)
    OrderPublic.model_validate(got2)
    assert (p2["source"], p2["status"], p2["reason"], p2["promised_qty"]) == ("reschedule", "full", "none", 8.0)
    assert p2["lines"] == [{"date": day(2).isoformat(), "qty": 8.0}]
    assert [(pg["ref"], pg["qty"], pg["supply_date"]) for pg in p2["pegs"]] == [("R0", 8.0, day(0).isoformat())]
    assert (p1["status"], p1["lines"]) == ("late", [{"date": day(10).isoformat(), "qty": 8.0}])
    assert [(pg["ref"], pg["qty"]) for pg in p1["pegs"]] == [("R0", 2.0), ("R1", 6.0)]
    assert "8 of 8 A at DC1 on 2026-01-07 (8)" in p2["message"]
    assert (got2["status"], got1["status"]) == ("scheduled", "scheduled")
    assert [d["date"] for d in got2["lines"][0]["draws"]] == [day(2).isoformat()]
    # who acted is in the audit trail
    assert [(a["action"], a["actor"]) for a in svc.audit(o2["order_id"])][-1] == ("reschedule", "key:planner")

    # a search over the book renders them (it reads what was written)
    page, total = svc.search(limit=10)
    assert total == 2
    for o in page:
        OrderPublic.model_validate(o)
    assert {o["order_id"]: o["lines"][0]["promise"]["source"] for o in page} == {
        o1["order_id"]: "reschedule", o2["order_id"]: "reschedule"}

    # restart: the same records, the same commitments
    again = open_book(snap)
    assert again.get(o2["order_id"]) == got2 and again.get(o1["order_id"]) == got1
    assert isinstance(again.orders[o2["order_id"]].lines[0].promise, PromiseRecord)
    np.testing.assert_allclose(again.state.cum, svc.state.cum, atol=1e-9)
    assert again.replay_exceptions == []
    # the same key and body answer the stored answer; another body under that key is a conflict
    assert svc.apply_reschedule(RescheduleConfig(), actor="key:planner", idem=Idem("r-1", "h"))[2] is True
    with pytest.raises(ConflictError):
        svc.apply_reschedule(RescheduleConfig(), actor="key:planner", idem=Idem("r-1", "other"))


def test_the_issue_story_backorder_delta_reschedule_then_list_orders(make_snapshot, open_book):
    """Capture a backordered order (5 asked, 2 on hand), post +100 on day 0, apply a reschedule,
    list the orders: 200 with the full promise; and after a restart still."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 2)], horizon=30)
    svc = open_book(snap)
    o = capture(svc, "C1", 1, 5, 1)
    assert (o["status"], o["lines"][0]["promised_qty"]) == ("backordered", 2.0)
    svc.apply_supply_deltas([SupplyDelta("A", "DC1", day(0), 100.0, "receipt", "PO-9")], actor="key:wms")
    svc.apply_reschedule(RescheduleConfig(), actor="key:planner")
    page, _ = svc.search()
    [got] = page
    OrderPublic.model_validate(got)
    assert (got["status"], got["lines"][0]["promised_qty"], got["lines"][0]["promise"]["status"]) == ("scheduled", 5.0, "full")
    # the new receipt is pegged as a real-time adjustment
    assert sorted((pg["kind"], pg["qty"]) for pg in got["lines"][0]["promise"]["pegs"])[-1][1] > 0
    again = open_book(snap)
    [after] = again.search()[0]
    assert after == got
    assert available(again, 200, 0)[0] == 100 + 2 - 5


def test_a_result_applied_without_a_basis_is_refused_when_the_line_moved(make_snapshot, open_book):
    """A rescheduling result planned, then the line is changed before applying: conflict, nothing written."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 10), ("A", "DC1", 10, 10)], horizon=30)
    svc = open_book(snap)
    capture(svc, "C1", 3, 8, 2)
    o2 = capture(svc, "C2", 1, 8, 2)
    res = scn.simulate(svc, RescheduleConfig())
    svc.change(o2["order_id"], OrderChange.model_validate({"lines": [{"line": 1, "qty": 7}]}), actor="key:capture")
    cum, docs = svc.state.cum.copy(), {k: o.to_dict() for k, o in svc.orders.items()}
    with pytest.raises(ConflictError, match="changed since the rescheduling was planned"):
        svc.apply_reschedule(res, actor="key:planner")
    assert np.array_equal(svc.state.cum, cum) and {k: o.to_dict() for k, o in svc.orders.items()} == docs


def test_a_stale_plan_without_replan_is_a_conflict(make_snapshot, open_book):
    snap = make_snapshot(supply=[("A", "DC1", 0, 10), ("A", "DC1", 10, 10)], horizon=30)
    svc = open_book(snap)
    capture(svc, "C1", 3, 8, 2)
    capture(svc, "C2", 1, 8, 2)
    plan = scn.plan(svc, RescheduleConfig())
    capture(svc, "C3", 2, 1, 2)  # the book moves
    stale = ReschedulePlan(plan.lines, plan.report, basis=plan.basis)
    with pytest.raises(ConflictError, match="changed since the rescheduling was planned"):
        svc.apply_reschedule(stale, actor="key:planner")


def test_an_old_summary_promise_in_the_book_is_read_as_a_typed_record(make_snapshot, open_book):
    """Books written before promises were typed hold a short summary after a rescheduling: it is
    read back as a full record built from the line (no 500 on reads)."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 10)], horizon=30)
    svc = open_book(snap)
    o = capture(svc, "C1", 1, 4, 2)
    order = svc.orders[o["order_id"]]
    doc = order.to_dict()
    doc["lines"][0]["promise"] = {"source": "reschedule", "strategy": "redistribute", "status": "full",
                                  "reason": "no constraint binds", "promised_qty": 4.0, "change": "improved"}
    from orderbook.records import Order

    old = Order.from_dict(doc)
    p = old.lines[0].promise
    assert (p.item, p.location, p.qty, p.status, p.reason, p.source) == ("A", "DC1", 4.0, "full", "none", "reschedule")
    assert [(ln.date, ln.qty) for ln in p.lines] == [(day(2), 4.0)]
    assert p.details == {"strategy": "redistribute", "change": "improved"}
    OrderPublic.model_validate(svc.public(old))


# ------------------------------------------------------------------ supply deltas


def test_a_supply_delta_is_durable_and_replayed_at_start_up(make_snapshot, open_book):
    """A at DC1: 10 on hand. A count finds 4 missing (-4 on day 0): 6 can be promised. After a
    restart (kill -9: nothing but the store survives) still 6, not 10; an order for 8 gets 6."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 10)], horizon=30)
    svc = open_book(snap)
    status, body, replayed = svc.apply_supply_deltas(
        [{"item": "A", "location": "DC1", "date": day(0).isoformat(), "qty": -4, "ref": "COUNT-1"}],
        actor="key:wms", idem=Idem("d-1", "h1"))
    assert (status, replayed, json.loads(body)["applied"]) == (200, False, 1)
    assert available(svc, 20, 3)[0] == 6.0
    again = open_book(snap)  # restart from the store alone
    assert available(again, 20, 3)[0] == 6.0
    np.testing.assert_allclose(again.state.cum, svc.state.cum, atol=1e-12)
    [d] = again.store.supply_deltas()
    assert (d.item, d.qty, d.ref, d.actor, d.retired_seq) == ("A", -4.0, "COUNT-1", "key:wms", None)
    o = capture(again, "C1", 1, 8, 3)
    assert o["lines"][0]["promised_qty"] == 6.0
    # idempotency: same key and body -> the same answer, not applied twice; another body -> conflict
    assert again.apply_supply_deltas([{"item": "A", "location": "DC1", "date": day(0), "qty": -4, "ref": "COUNT-1"}],
                                     actor="key:wms", idem=Idem("d-1", "h1"))[2] is True
    assert len(again.store.supply_deltas()) == 1
    with pytest.raises(ConflictError):
        again.apply_supply_deltas([{"item": "A", "location": "DC1", "date": day(0), "qty": -5}], actor="key:wms",
                                  idem=Idem("d-1", "h2"))


def test_a_bad_delta_is_refused_naming_the_field_and_nothing_is_applied(make_snapshot, open_book):
    snap = make_snapshot(supply=[("A", "DC1", 0, 10)], items=["B"], horizon=30)
    svc = open_book(snap)
    cum = svc.state.cum.copy()
    with pytest.raises(ValidationError) as e:
        svc.apply_supply_deltas([{"item": "A", "location": "DC1", "date": day(0), "qty": 5},
                                 {"item": "NOPE", "location": "DC1", "date": day(0), "qty": 5}], actor="k")
    assert (e.value.field, e.value.value) == ("deltas.1.item", "NOPE")
    with pytest.raises(ValidationError) as e:
        svc.apply_supply_deltas([{"item": "A", "location": "DC1", "date": day(40), "qty": 5}], actor="k")
    assert e.value.field == "deltas.0.date"
    assert np.array_equal(svc.state.cum, cum) and svc.store.supply_deltas() == []


def test_a_refresh_retires_the_deltas_its_extract_carries_and_replays_the_rest(make_snapshot, open_book, tmp_path):
    """A at DC1: 10 on hand. Delta 1: -4 (seq 1). An order takes 2 (seq 2). Delta 2: +3 (seq 3).
    The ERP's next extract has journal_seq 2: its on hand is 6 (delta 1 in it) and its demand holds
    the order's 2. After the refresh: delta 1 is retired (not applied twice), delta 2 is replayed:
    available = 6 - 2 + 3 = 7. After a restart on that extract: still 7."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 10)], horizon=30)
    svc = open_book(snap)
    live = svc.attach_live()
    svc.apply_supply_deltas([SupplyDelta("A", "DC1", day(0), -4.0)], actor="key:wms")
    capture(svc, "C1", 1, 2, 1)
    svc.apply_supply_deltas([SupplyDelta("A", "DC1", day(0), 3.0)], actor="key:wms")
    assert svc.seq == 3 and available(svc, 50, 5)[0] == 7.0
    extract = write_snapshot(tmp_path / "next", {
        "items": [{"item": "A", "price": 10.0, "cost": 6.0, "category": "c"}],
        "locations": [{"location": "DC1", "kind": "dc", "zone": "Z1"}],
        "supply": [{"item": "A", "location": "DC1", "date": AS_OF, "qty": 6.0, "kind": "onhand", "ref": "R0"}],
        "demand": [{"item": "A", "location": "DC1", "date": day(1), "qty": 2.0, "ref": "SO"}],
    }, as_of=AS_OF, horizon_days=30, journal_seq=2)
    report = live.refresh(extract)
    assert report["deltas_retired"] == 1 and report["exceptions"] == []
    assert available(svc, 50, 5)[0] == 7.0
    assert [(d.seq, d.retired_seq) for d in svc.store.supply_deltas()] == [(1, 2), (3, None)]
    again = open_book(load_snapshot(extract))
    assert available(again, 50, 5)[0] == 7.0


def test_an_extract_without_journal_seq_carries_every_delta_so_far(make_snapshot, open_book, tmp_path):
    """A at DC1: 10 on hand; a delta -4. The next extract has no journal_seq: it is taken to carry
    the delta (its on hand is 6), so the delta is retired, not applied again: 6 available, and 6
    after a restart on that extract."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 10)], horizon=30)
    svc = open_book(snap)
    live = svc.attach_live()
    svc.apply_supply_deltas([SupplyDelta("A", "DC1", day(0), -4.0)], actor="key:wms")
    extract = write_snapshot(tmp_path / "next", {
        "items": [{"item": "A", "price": 10.0, "cost": 6.0, "category": "c"}],
        "locations": [{"location": "DC1", "kind": "dc", "zone": "Z1"}],
        "supply": [{"item": "A", "location": "DC1", "date": AS_OF, "qty": 6.0, "kind": "onhand", "ref": "R0"}],
    }, as_of=AS_OF, horizon_days=30)
    assert live.refresh(extract)["deltas_retired"] == 1
    assert available(svc, 50, 5)[0] == 6.0
    assert [(d.seq, d.retired_seq) for d in svc.store.supply_deltas()] == [(1, 1)]
    assert available(open_book(load_snapshot(extract)), 50, 5)[0] == 6.0


def test_the_live_pairs_delta_route_writes_through_the_order_book(make_snapshot, open_book):
    """`LiveSupply.apply_deltas` of a pair attached to the book (today's route) is durable too."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 10)], horizon=30)
    svc = open_book(snap)
    live = svc.attach_live()
    out = live.apply_deltas([SupplyDelta("A", "DC1", day(0), -10.0)], idempotency=("k-1", "h"))
    assert (out["applied"], out["replayed"]) == (1, False)
    assert live.apply_deltas([SupplyDelta("A", "DC1", day(0), -10.0)], idempotency=("k-1", "h"))["replayed"] is True
    assert available(open_book(snap), 5, 3)[0] == 0.0


# ------------------------------------------------------------------ validation


def test_a_change_naming_a_line_twice_is_refused(make_snapshot, open_book):
    snap = make_snapshot(supply=[("A", "DC1", 0, 10)], horizon=30)
    svc = open_book(snap)
    o = capture(svc, "C1", 1, 4, 2)
    change = OrderChange.model_validate({"lines": [{"line": 1, "qty": 3}, {"line": 1, "qty": 5}]})
    with pytest.raises(ValidationError) as e:
        svc.change(o["order_id"], change, actor="k")
    assert (e.value.field, e.value.value) == ("lines.1.line", 1)
    assert "line 1 is given twice" in str(e.value)
    with pytest.raises(ValidationError) as e:
        svc.change(o["order_id"], OrderChange.model_validate({"lines": [{"item": "A", "qty": 1, "requested_date": day(3).isoformat()}],
                                                              "remove_lines": [1, 1]}), actor="k")
    assert (e.value.field, e.value.value) == ("remove_lines.1", 1)
    assert svc.orders[o["order_id"]].version == 1 and svc.orders[o["order_id"]].lines[0].qty == 4.0


def test_a_shipment_dated_before_its_supply_is_refused_naming_line_date_and_supply(make_snapshot, open_book):
    """A at DC1: nothing on hand, 10 arriving on day 5 (purchase R0). An order for 4 on day 5 is
    promised on day 5. A shipment reported on day 1 is refused (the stock is not there yet: a
    restart would report it as exceeding supply); the same shipment on day 5 is accepted, and a
    restart replays without exceptions."""
    snap = make_snapshot(supply=[("A", "DC1", 5, 10)], horizon=30)
    svc = open_book(snap)
    o = capture(svc, "C1", 1, 4, 5)
    at = lambda d: dt.datetime.combine(day(d), dt.time(12), tzinfo=dt.timezone.utc)  # noqa: E731
    cum = svc.state.cum.copy()
    with pytest.raises(ValidationError) as e:
        svc.event(o["order_id"], FulfillmentEvent(type="shipped", at=at(1)), actor="key:wms")
    msg = str(e.value)
    assert "line 1" in msg and day(1).isoformat() in msg and "R0" in msg and day(5).isoformat() in msg
    assert (e.value.field, e.value.value) == ("at", day(1).isoformat())
    assert np.array_equal(svc.state.cum, cum) and svc.orders[o["order_id"]].status == "scheduled"
    status, body, _ = svc.event(o["order_id"], FulfillmentEvent(type="shipped", at=at(5)), actor="key:wms")
    assert (status, json.loads(body)["status"]) == (200, "shipped")
    again = open_book(snap)
    assert again.replay_exceptions == []
    np.testing.assert_allclose(again.state.cum, svc.state.cum, atol=1e-12)
