"""Story tests: orders run through the ready process definitions, each expectation written by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from orchestration import InboundUpdate, NotificationRule, Orchestrator, OrderEvent, ready_catalog
from orchestration.schemas import check_message
from orchestration.testing import T0
from promessa.errors import ConflictError, NotFoundError, ValidationError
from supplydata.live import SupplyDelta


def ev(kind, order, clock, **kw):
    return OrderEvent(kind=kind, order=order, at=clock.now(), **kw)


def upd(mid, system, event, order, clock, line=None, **payload):
    return InboundUpdate(message_id=mid, system=system, event=event, order=order, line=line, at=clock.now(), payload=payload)


def kinds(store, order):
    return [(m.kind, m.system) for m, _ in store.messages(order=order) if m.kind != "order.status"]


def all_checked(store):
    for m, _ in store.messages():
        check_message(m)


def test_change_during_shipping_cancels_the_request_and_schedules_again(engine, store, clock):
    """O1 ships from a node. It is scheduled, released (shipping request R1 to the warehouse), packed, and
    while it is being shipped the customer changes the quantity. Expected: R1 is cancelled (shipping.cancel
    naming R1), the process is back at schedule, and after rescheduling a NEW shipping request R2 goes out."""
    engine.handle(ev("captured", "O1", clock, attrs={"channel": "web", "ship_method": "ground"}))
    engine.handle(ev("scheduled", "O1", clock))
    engine.handle(ev("released", "O1", clock))
    engine.handle(ev("packed", "O1", clock))
    [inst] = store.instances_of("O1")
    assert (inst.process, inst.version, inst.step) == ("ship-from-node", 1, "ship")
    r1 = [m for m, _ in store.messages(order="O1") if m.kind == "shipping.request"][0].payload["request_id"]

    out = engine.handle(ev("changed", "O1", clock, attrs={"qty": 3}))
    assert [(m.kind, m.payload["request_id"]) for m in out.messages] == [("shipping.cancel", r1)]
    [inst] = store.instances_of("O1")
    assert inst.step == "schedule" and inst.attrs["qty"] == 3

    engine.handle(ev("scheduled", "O1", clock))
    reqs = [m for m, _ in store.messages(order="O1") if m.kind == "shipping.request"]
    assert len(reqs) == 2 and reqs[1].payload["request_id"] != r1 and reqs[1].payload["attrs"]["qty"] == 3
    assert kinds(store, "O1") == [("shipping.request", "wms"), ("shipping.cancel", "wms"), ("shipping.request", "wms")]
    assert store.instances_of("O1")[0].step == "release"
    all_checked(store)


def test_cancel_after_invoicing_issues_a_credit_request(engine, store, clock):
    """O2 is shipped and invoiced (at deliver). The customer cancels. Expected: exactly one compensation, a
    credit request to billing naming the invoice request; no shipping cancel (the goods have shipped)."""
    engine.handle(ev("captured", "O2", clock, attrs={"channel": "web"}))
    for k in ("scheduled", "released", "packed", "shipped", "invoiced"):
        engine.handle(ev(k, "O2", clock))
    assert store.instances_of("O2")[0].step == "deliver"
    inv = [m for m, _ in store.messages(order="O2") if m.kind == "invoice.request"][0]
    out = engine.handle(ev("cancelled", "O2", clock))
    assert [(m.kind, m.system, m.payload["request_id"], m.payload["reason"]) for m in out.messages] == [
        ("credit.request", "billing", inv.payload["request_id"], "cancel")]
    assert store.instances_of("O2")[0].status == "cancelled"
    all_checked(store)


def test_cancel_while_packing_cancels_the_shipping_request(engine, store, clock):
    """O3 is released and being packed when cancelled: the shipping request is cancelled, nothing is credited."""
    engine.handle(ev("captured", "O3", clock))
    for k in ("scheduled", "released"):
        engine.handle(ev(k, "O3", clock))
    out = engine.handle(ev("cancelled", "O3", clock))
    assert [m.kind for m in out.messages] == ["shipping.cancel"]


def test_drop_ship_line_closed_by_the_suppliers_shipment_notice(engine, store, clock):
    """O4 has a drop-ship line L1 and a stocked line L2. L1 gets a purchase request to the supplier; the
    supplier acknowledges, then sends its shipment notice: L1 is closed (a line_closed effect) and invoiced.
    L2 runs ship-from-node and is untouched. A repeated shipment notice (same message id) changes nothing."""
    engine.handle(ev("captured", "O4", clock, attrs={"channel": "b2b"}, lines=("L1", "L2"),
                     line_attrs={"L1": {"item_kind": "dropship", "supplier": "ACME"}, "L2": {"item_kind": "stocked"}}))
    by_line = {i.line: i for i in store.instances_of("O4")}
    assert (by_line["L1"].process, by_line["L2"].process) == ("drop-ship", "ship-from-node")
    engine.handle(ev("scheduled", "O4", clock, line="L1"))
    po = [m for m, _ in store.messages(order="O4") if m.kind == "purchase.request"]
    assert len(po) == 1 and po[0].line == "L1" and po[0].system == "supplier" and po[0].payload["attrs"]["supplier"] == "ACME"

    assert not engine.receive(upd("m1", "wms", "po.ack", "O4", clock, line="L1")).instances   # wrong system: ignored
    engine.receive(upd("m2", "supplier", "po.ack", "O4", clock, line="L1"))
    assert {i.line: i.step for i in store.instances_of("O4")} == {"L1": "supplier-ship", "L2": "schedule"}
    out = engine.receive(upd("m3", "supplier", "ship.notice", "O4", clock, line="L1", asn="ASN-9"))
    assert [(e.kind, e.order, e.line) for e in out.effects] == [("line_closed", "O4", "L1")]
    assert [m.kind for m in out.messages if m.kind != "order.status"] == ["invoice.request"]
    assert {i.line: i.step for i in store.instances_of("O4")} == {"L1": "invoice", "L2": "schedule"}

    n_before = len(store.messages(order="O4"))
    dup = engine.receive(upd("m3", "supplier", "ship.notice", "O4", clock, line="L1", asn="ASN-9"))
    assert dup.duplicate and not dup.messages and not dup.effects
    assert len(store.messages(order="O4")) == n_before and len(store.effects()) == 1
    all_checked(store)


def test_transfer_received_becomes_supply_at_the_receiving_node(engine, store, clock):
    """T1 moves 40 of SKU-7 from DC1 to STORE7. The transfer order goes to the warehouse; it ships; STORE7
    receives 38 on 2026-01-08. Expected: a supply delta of +38 SKU-7 at STORE7 on 2026-01-08 (a receipt),
    and the process completes."""
    engine.handle(ev("captured", "T1", clock, attrs={"order_type": "transfer", "item": "SKU-7", "qty": 40, "node": "DC1",
                                                     "to_node": "STORE7"}))
    engine.handle(ev("scheduled", "T1", clock))
    assert kinds(store, "T1") == [("transfer.request", "wms")]
    engine.receive(upd("w1", "wms", "transfer.shipped", "T1", clock))
    out = engine.receive(upd("w2", "wms", "transfer.received", "T1", clock, qty=38, date="2026-01-08"))
    [eff] = out.effects
    assert eff.to_supply_delta() == SupplyDelta(item="SKU-7", location="STORE7", date=dt.date(2026, 1, 8), qty=38.0,
                                                kind="receipt", ref="transfer:T1/None")
    assert store.instances_of("T1")[0].status == "completed"
    assert [e.effect_id for e in store.effects()] == [eff.effect_id]
    store.mark_effects_applied([eff.effect_id], clock.now())
    assert store.effects() == []


def test_a_step_past_its_duration_raises_one_jeopardy_alert(store, clock):
    """O5 is released at 08:00; release is expected to take 4 h. At 11:00 nothing is late; at 13:30 the release
    is 1.5 h late: one alert (step release, system wms, 5,400 s) and one e-mail to the planner. A later tick
    raises nothing new."""
    eng = Orchestrator(ready_catalog(), store, clock=clock,
                       notifications=[NotificationRule(on=frozenset({"jeopardy"}), to=("planner@example.com",))])
    eng.handle(ev("captured", "O5", clock))
    eng.handle(ev("scheduled", "O5", clock))
    clock.advance(hours=3)
    assert eng.tick().alerts == []
    clock.advance(hours=2, minutes=30)
    out = eng.tick()
    assert [(a.step, a.system, a.late_s, a.reason) for a in out.alerts] == [("release", "wms", 5400.0, "late")]
    assert [m.kind for m in out.messages] == ["jeopardy.alert", "email.notify"]
    assert out.messages[1].payload["to"] == ["planner@example.com"]
    clock.advance(hours=1)
    assert eng.tick().alerts == []
    assert [a.late_s for a in store.alerts(order="O5")] == [5400.0]
    assert eng.view("O5")[0]["late_s"] == pytest.approx(2.5 * 3600)
    all_checked(store)


def test_retries_back_off_exponentially_then_fail(engine, store, clock):
    """The warehouse rejects O6's shipping request three times. Retries wait 5 min, then 10 min (backoff 5m
    doubling); the same request id is sent with attempts 2 and 3; the third rejection fails the process with
    a 'failed' alert."""
    engine.handle(ev("captured", "O6", clock))
    engine.handle(ev("scheduled", "O6", clock))
    engine.receive(upd("r1", "wms", "shipping.rejected", "O6", clock))
    clock.advance(minutes=4)
    assert engine.tick().messages == []
    clock.advance(minutes=1)
    assert [(m.kind, m.payload["attempt"]) for m in engine.tick().messages] == [("shipping.request", 2)]
    engine.receive(upd("r2", "wms", "shipping.rejected", "O6", clock))
    clock.advance(minutes=9)
    assert engine.tick().messages == []
    clock.advance(minutes=1)
    assert [(m.kind, m.payload["attempt"]) for m in engine.tick().messages] == [("shipping.request", 3)]
    reqs = [m.payload["request_id"] for m, _ in store.messages(order="O6") if m.kind == "shipping.request"]
    assert len(set(reqs)) == 1 and len(reqs) == 3
    out = engine.receive(upd("r3", "wms", "shipping.rejected", "O6", clock))
    assert [(a.step, a.reason) for a in out.alerts] == [("release", "failed")]
    assert store.instances_of("O6")[0].status == "failed"


COOLING = """
process: cooling-off
version: 1
steps:
  - {name: wait, system: oms, duration: 3h, completion: {timer: 2h}}
  - {name: approve, system: planner, duration: 1d, completion: {manual: true}}
"""


def test_timers_survive_a_restart_and_manual_steps_complete_by_hand(tmp_path, clock):
    """A 2 h timer step is started, the process stops; a new engine on the same file fires it at +2 h."""
    from orchestration import Catalog, SqliteStore, parse_assignment

    path = tmp_path / "o.sqlite"
    cat = Catalog()
    eng = Orchestrator(cat, SqliteStore(path), clock=clock)
    eng.deploy(COOLING)
    cat.set_rules(parse_assignment([{"process": "cooling-off"}]))
    eng.handle(ev("captured", "O7", clock))
    eng.store.close()

    cat2 = Catalog()
    eng2 = Orchestrator(cat2, SqliteStore(path), clock=clock)    # the definition comes back from the store
    clock.advance(hours=1, minutes=59)
    assert eng2.tick().instances == []
    clock.advance(minutes=1)
    assert [i.step for i in eng2.tick().instances] == ["approve"]
    with pytest.raises(NotFoundError):
        eng2.complete_manual("O7", "wait", who="ann")       # not the current step
    eng2.complete_manual("O7", "approve", who="ann")
    inst = eng2.store.instances_of("O7")[0]
    assert inst.status == "completed" and {"step": "approve", "what": "manual", "who": "ann", "at": clock.now().isoformat()} in inst.history


def test_new_version_deployed_while_orders_run_on_the_old_one(engine, store, clock):
    """O8 starts on ship-from-node v1. Version 2 adds a manual credit approval after scheduling. O9, captured
    after the deployment, runs v2 and waits for the approval; O8 keeps v1 and goes straight to release, also
    after a restart with a catalog that only has v1 from files."""
    engine.handle(ev("captured", "O8", clock))
    v2 = ready_catalog().get("ship-from-node").source
    import json

    d = json.loads(v2)
    d["version"] = 2
    d["steps"].insert(1, {"name": "approve", "system": "planner", "duration": "2h", "completion": {"manual": True}})
    engine.deploy(d)
    with pytest.raises(ConflictError):
        engine.deploy(d)
    engine.handle(ev("captured", "O9", clock))
    engine.handle(ev("scheduled", "O8", clock))
    engine.handle(ev("scheduled", "O9", clock))
    assert [(i.version, i.step) for i in store.instances_of("O8")] == [(1, "release")]
    assert [(i.version, i.step) for i in store.instances_of("O9")] == [(2, "approve")]

    eng2 = Orchestrator(ready_catalog(), store, clock=clock)     # restart: v2 comes back from the store
    assert eng2.catalog.versions("ship-from-node") == [1, 2] and eng2.catalog.get("ship-from-node").version == 2
    eng2.complete_manual("O9", "approve", who="credit-desk")
    eng2.handle(ev("released", "O8", clock))
    assert [(i.version, i.step) for i in store.instances_of("O8")] == [(1, "pack")]
    assert [(i.version, i.step) for i in store.instances_of("O9")] == [(2, "release")]


def test_pickup_orders_skip_the_carrier_step(engine, store, clock):
    """A pickup order branches from pack straight to invoice (ship_method pickup); a ground order ships."""
    engine.handle(ev("captured", "P1", clock, attrs={"ship_method": "pickup"}))
    engine.handle(ev("captured", "P2", clock, attrs={"ship_method": "ground"}))
    for o in ("P1", "P2"):
        for k in ("scheduled", "released", "packed"):
            engine.handle(ev(k, o, clock))
    assert store.instances_of("P1")[0].step == "invoice" and store.instances_of("P2")[0].step == "ship"


def test_capture_twice_starts_one_process_and_events_for_unknown_orders_change_nothing(engine, store, clock):
    engine.handle(ev("captured", "O10", clock))
    out = engine.handle(ev("captured", "O10", clock))
    assert out.instances == [] and len(store.instances_of("O10")) == 1
    assert engine.handle(ev("shipped", "NOPE", clock)).instances == []
    assert clock.now() == T0
    with pytest.raises(ValidationError) as e:
        ev("teleported", "O10", clock)
    assert e.value.field == "kind"


GATED = """
process: gated
version: 1
steps:
  - {name: check, system: planner, duration: 1h, completion: {manual: true}, when: {customer_segment: [new, risky]}}
  - {name: ship, system: wms, duration: 1d, request: shipping.request, completion: {event: shipped}}
"""


def test_a_step_with_a_when_runs_only_for_matching_orders(sqlite_store, clock):
    """A credit check runs only for new or risky customers; a gold customer goes straight to shipping."""
    from orchestration import Catalog, parse_assignment

    cat = Catalog()
    eng = Orchestrator(cat, sqlite_store, clock=clock)
    eng.deploy(GATED)
    cat.set_rules(parse_assignment([{"process": "gated"}]))
    eng.handle(ev("captured", "G1", clock, attrs={"customer_segment": "risky"}))
    eng.handle(ev("captured", "G2", clock, attrs={"customer_segment": "gold"}))
    assert [i.step for i in sqlite_store.instances_of("G1")] == ["check"]
    assert [i.step for i in sqlite_store.instances_of("G2")] == ["ship"]
    assert [m.kind for m, _ in sqlite_store.messages(order="G2")] == ["shipping.request"]


def test_an_event_with_an_id_is_applied_once(engine, store, clock):
    """The order book's event feed delivers at least once: the change E7 arrives twice. The first cancels the
    shipping request and goes back to scheduling; the second changes nothing (no second cancel)."""
    engine.handle(ev("captured", "O11", clock, event_id="O11/E1"))
    engine.handle(ev("scheduled", "O11", clock, event_id="O11/E2"))
    first = engine.handle(ev("changed", "O11", clock, attrs={"qty": 2}, event_id="O11/E7"))
    again = engine.handle(ev("changed", "O11", clock, attrs={"qty": 2}, event_id="O11/E7"))
    assert [m.kind for m in first.messages] == ["shipping.cancel"]
    assert again.duplicate and again.messages == []
    assert [m.kind for m, _ in store.messages(order="O11")] == ["order.status", "shipping.request", "shipping.cancel"]
    assert engine.handle(ev("captured", "O11", clock, event_id="O11/E1")).duplicate
