"""Orchestration wired to the order book (promessa.wiring): order-book events drive each order's process once,
effects come back through the order book, the loops stop with the engine.

The supply story (as_of 2026-01-05, horizon 60 days):
- WIDGET: 100 on hand at DC-EAST, 20 at DC-WEST; zone EAST is served by DC-EAST.
- DROP (item_kind dropship in the catalogue): 50 on hand at DC-EAST; its lines run the drop-ship process.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from orchestration import InboundUpdate
from orchestration import OrderEvent as PE
from orderbook.events import EventKind, OrderEvent, read_events
from orderbook.records import Line, Order
from orderbook.schemas import OrderChange, OrderCreate
from promessa.wiring import ProcessConsumer, process_events, store_of

AS_OF = "2026-01-05"
T = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def write_snapshot(d):
    d.mkdir(parents=True, exist_ok=True)
    (d / "meta.json").write_text(json.dumps({"as_of": AS_OF, "horizon_days": 60}))
    (d / "items.csv").write_text("item,category,brand,price,cost,lead_time_days,item_kind\n"
                                 "WIDGET,tools,acme,10,4,,stock\nDROP,tools,acme,20,8,,dropship\n")
    (d / "locations.csv").write_text("location,kind,zone,country,calendar\nDC-EAST,dc,EAST,US,\nDC-WEST,dc,WEST,US,\n")
    (d / "supply.csv").write_text("item,location,date,qty,kind,ref\nWIDGET,DC-EAST,2026-01-05,100,onhand,OH-1\n"
                                  "WIDGET,DC-WEST,2026-01-05,20,onhand,OH-2\nDROP,DC-EAST,2026-01-05,50,onhand,OH-3\n")
    (d / "lanes.csv").write_text("location,zone,transit_days,cost_per_unit,cost_per_shipment\nDC-EAST,EAST,1,0.1,5\n"
                                 "DC-WEST,WEST,1,0.1,5\n")
    (d / "sourcing.csv").write_text("zone,location,rank,item,category\nEAST,DC-EAST,1,,\nWEST,DC-WEST,1,,\n")
    return d


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from orchestration.testing import ManualClock
    from promessa.app import Engine
    from promessa.config import settings_of
    from supplydata import load_snapshot

    d = tmp_path_factory.mktemp("wiring")
    snap = load_snapshot(write_snapshot(d / "snap"))
    # no webhook target: messages wait in the outbox (the embedded default with nowhere configured to send)
    eng = Engine.open(settings_of(db=str(d / "ob.sqlite"), approval_value_threshold=1e9, tick_s=3600.0),
                      snapshot=snap, warm=False)
    eng.orchestration.engine.clock = ManualClock(T)   # business dates of receipts come from the payload, steps from here
    yield eng
    eng.close()


def capture(eng, item: str = "WIDGET", qty: float = 2) -> str:
    st, body, _ = eng.service.capture(OrderCreate.model_validate(
        {"customer": "A", "zone": "EAST", "lines": [{"item": item, "qty": qty, "requested_date": "2026-01-06"}]}), actor="t")
    assert st == 201
    assert eng.orchestration.wait_idle(10.0)
    return json.loads(body)["order_id"]


def update(order: str, system: str, event: str, mid: str, *, line: str | None = "1", **payload) -> InboundUpdate:
    return InboundUpdate(message_id=mid, system=system, event=event, order=order, line=line, at=T, payload=payload)


# ------------------------------------------------------------------ the mapping (no engine)


def _order() -> Order:
    lines = [Line(line=1, item="WIDGET", qty=2.0, requested_date=dt.date(2026, 1, 6), location="DC-EAST"),
             Line(line=2, item="DROP", qty=1.0, requested_date=dt.date(2026, 1, 6), location="DC-EAST")]
    return Order(order_id="SO-1", customer="C1", status="scheduled", lines=lines, zone="EAST", source_system="edi",
                 ship_country="US")


def _ev(aid: int, kind: EventKind, action: str, to: str | None, *, lines=None, detail=None) -> OrderEvent:
    return OrderEvent(aid, "SO-1", kind, action, T, "t", None, to, lines or {}, detail or {})


def test_capture_starts_one_process_per_line_with_its_attributes():
    [e] = process_events(_ev(7, EventKind.CAPTURED, "capture", "captured"), _order(), item_kinds={"DROP": "dropship"})
    assert (e.kind, e.order, e.event_id, e.lines) == ("captured", "SO-1", "SO-1/E7", ("1", "2"))
    assert e.attrs == {"channel": "edi", "customer": "C1", "country": "US"}
    assert e.line_attrs == {"1": {"item": "WIDGET", "qty": 2.0, "node": "DC-EAST"},
                            "2": {"item": "DROP", "qty": 1.0, "node": "DC-EAST", "item_kind": "dropship"}}


def test_order_type_ship_method_and_the_customers_email_are_process_attributes():
    from customers.model import Contact, Customer

    o = _order()
    o.order_type, o.ship_method = "standard", "pickup"
    master = Customer(id="C1", name="C One", contacts=(Contact(name="Desk"), Contact(name="Eve", email="eve@example.com"),
                                                          Contact(name="Bob", email="bob@example.com")))
    [e] = process_events(_ev(7, EventKind.CAPTURED, "capture", "captured"), o, customer=master)
    assert e.attrs == {"channel": "edi", "customer": "C1", "country": "US", "order_type": "standard",
                       "ship_method": "pickup", "email": "eve@example.com"}          # the first contact with an e-mail
    [e] = process_events(_ev(7, EventKind.CAPTURED, "capture", "captured"), o, customer=Customer(id="C1", name="C One"))
    assert "email" not in e.attrs                                                      # no contact e-mail: none
    changed = process_events(_ev(12, EventKind.CHANGED, "change", "scheduled", detail={"lines": [1]}), o,
                             started_lines=frozenset({"1", "2"}), customer=master)
    assert (changed[0].kind, changed[0].attrs["ship_method"], changed[0].attrs["email"]) == ("changed", "pickup", "eve@example.com")


def test_promise_schedules_unless_held_and_fulfilment_goes_per_line():
    assert [e.kind for e in process_events(_ev(8, EventKind.PROMISED, "promise", "scheduled"), _order())] == ["scheduled"]
    assert process_events(_ev(8, EventKind.PROMISED, "promise", "on_hold"), _order()) == []
    assert [e.kind for e in process_events(_ev(9, EventKind.APPROVED, "approve", "backordered"), _order())] == ["scheduled"]
    shipped = process_events(_ev(10, EventKind.SHIPPED, "ship", "shipped", lines={2: 1.0, 1: 2.0}), _order())
    assert [(e.kind, e.line, e.event_id) for e in shipped] == [("shipped", "1", "SO-1/E10/L1"), ("shipped", "2", "SO-1/E10/L2")]
    assert [(e.kind, e.line) for e in process_events(_ev(11, EventKind.CANCELLED, "cancel", "cancelled"), _order())] == [
        ("cancelled", None)]


def test_a_change_goes_back_and_schedules_again_the_lines_it_touched():
    ev = _ev(12, EventKind.CHANGED, "change", "scheduled", detail={"lines": [1], "removed": [3]})
    out = process_events(ev, _order(), started_lines=frozenset({"1", "2", "3"}))
    assert [(e.kind, e.line, e.event_id) for e in out] == [
        ("cancelled", "3", "SO-1/E12/removed/L3"), ("changed", "1", "SO-1/E12/changed/L1"), ("scheduled", "1", "SO-1/E12/scheduled/L1")]
    assert out[1].attrs["qty"] == 2.0
    # a change that adds line 2 starts its process; held after the change: no scheduling
    out = process_events(_ev(13, EventKind.CHANGED, "change", "on_hold", detail={"lines": [1, 2]}), _order(),
                         started_lines=frozenset({"1"}))
    assert [(e.kind, e.line, e.lines) for e in out] == [("captured", None, ("2",)), ("changed", "1", ())]


# ------------------------------------------------------------------ through the order book


def test_the_embedded_default_needs_no_broker_and_keeps_messages_until_a_target_is_configured(engine):
    url, _ = store_of(engine.settings)
    assert url.endswith("orchestration.sqlite") and url.rsplit("/", 1)[0] == engine.settings.store.url.rsplit("/", 1)[0]
    hub = engine.orchestration
    assert type(hub.publisher).__name__ == "WebhookPublisher" and not hub.deliverable
    assert sorted(t.name for t in hub._threads) == ["orchestration-feed", "orchestration-tick"]   # no relay to nowhere
    oid = capture(engine)
    assert [(m.kind, p) for m, p in hub.store.messages(order=oid)] == [("order.status", None), ("shipping.request", None)]


def test_an_event_delivered_again_changes_nothing(engine):
    hub = engine.orchestration
    oid = capture(engine)
    [inst] = hub.store.instances_of(oid)
    assert (inst.process, inst.step) == ("ship-from-node", "release")
    before = (inst.rev, len(hub.store.messages(order=oid)))
    consumer = ProcessConsumer(hub)                                  # the dispatcher-driven path, at least once
    for ev in read_events(engine.service.store, 0, order_id=oid):   # the whole trail of the order again (a redelivery)
        consumer.handle(ev)
    with hub.feed._lock:                                             # the feed's own cursor rewound: everything again
        hub.feed.cursor = 0
    assert hub.feed.run_until_idle() >= 2 and hub.feed.lag() == 0
    [again] = hub.store.instances_of(oid)
    assert (again.rev, len(hub.store.messages(order=oid))) == before
    assert again.history == inst.history


def test_a_drop_ship_line_is_closed_by_the_suppliers_shipment_notice(engine):
    hub, svc = engine.orchestration, engine.service
    oid = capture(engine, "DROP", 3)
    [inst] = hub.store.instances_of(oid)
    assert (inst.process, inst.step) == ("drop-ship", "purchase")
    hub.receive(update(oid, "supplier", "po.ack", "SUP-1"))
    out = hub.receive(update(oid, "supplier", "ship.notice", "SUP-2"))
    assert [e.kind for e in out.effects] == ["line_closed"]
    assert hub.wait_idle(10.0)
    order = svc.orders.get(oid)
    assert order.status == "shipped" and order.lines[0].shipped_qty == 3.0
    assert [e.effect_id for e in hub.store.effects()] == []                      # marked applied
    assert hub.apply_effects() == 0
    [inst] = hub.store.instances_of(oid)
    assert inst.step == "invoice"
    assert hub.receive(update(oid, "supplier", "ship.notice", "SUP-2")).duplicate   # the same notice again: nothing


def test_a_transfer_receipt_becomes_supply_once_even_when_applied_again_after_a_crash(engine):
    hub, svc = engine.orchestration, engine.service
    snap = svc.snap
    il = snap.il_of("WIDGET", "DC-WEST")
    before = float(svc.state.cum[il, -1])
    hub.engine.handle(PE(kind="captured", order="TR-1", at=T, lines=("1",), line_attrs={
        "1": {"order_type": "transfer", "item": "WIDGET", "qty": 5, "node": "DC-EAST", "to_node": "DC-WEST"}}))
    hub.engine.handle(PE(kind="scheduled", order="TR-1", at=T))
    hub.receive(update("TR-1", "wms", "transfer.shipped", "T-1"))
    out = hub.receive(update("TR-1", "wms", "transfer.received", "T-2", date="2026-01-07"))
    [eff] = out.effects
    assert eff.payload == {"item": "WIDGET", "location": "DC-WEST", "qty": 5.0, "date": "2026-01-07", "ref": "transfer:TR-1/1"}
    assert float(svc.state.cum[il, -1]) == pytest.approx(before + 5)
    assert float(svc.state.cum[il, snap.bucket("2026-01-06")]) == pytest.approx(before)   # from the 7th on
    # a crash between the order-book write and the mark: the effect is pending again and applied again
    with hub.store.transaction() as c:
        c.execute("UPDATE orch_effects SET applied_at = NULL WHERE effect_id = ?", (eff.effect_id,))
    assert hub.apply_effects() == 1
    assert float(svc.state.cum[il, -1]) == pytest.approx(before + 5)               # the order book's idempotency key
    assert hub.store.effects() == []


def test_an_effect_the_order_book_refuses_stays_pending_with_the_reason(engine):
    hub = engine.orchestration
    hub.engine.handle(PE(kind="captured", order="TR-2", at=T, lines=("1",), line_attrs={
        "1": {"order_type": "transfer", "item": "WIDGET", "qty": 5, "to_node": "DC-NORTH"}}))
    hub.engine.handle(PE(kind="scheduled", order="TR-2", at=T))
    hub.receive(update("TR-2", "wms", "transfer.shipped", "T2-1"))
    hub.receive(update("TR-2", "wms", "transfer.received", "T2-2", date="2026-01-07"))
    [pending] = hub.store.effects()
    assert "DC-NORTH" in hub.failures[pending.effect_id].error
    with hub.store.transaction() as c:          # leave the store clean for the other tests
        c.execute("UPDATE orch_effects SET applied_at = 0 WHERE effect_id = ?", (pending.effect_id,))


def test_a_change_during_shipping_through_the_order_book(engine):
    hub, svc = engine.orchestration, engine.service
    oid = capture(engine)
    hub.receive(update(oid, "wms", "released", "R-1"))
    svc.change(oid, OrderChange.model_validate({"lines": [{"line": 1, "qty": 4}]}), actor="t")
    assert hub.wait_idle(10.0)
    [inst] = hub.store.instances_of(oid)
    kinds = [m.kind for m, _ in hub.store.messages(order=oid)]
    assert kinds == ["order.status", "shipping.request", "order.status", "shipping.cancel", "order.status", "shipping.request"]
    assert inst.step == "release" and inst.attrs["qty"] == 4.0


def test_the_loops_stop_with_the_engine(tmp_path):
    from promessa.app import Engine
    from promessa.config import settings_of
    from supplydata import load_snapshot

    snap = load_snapshot(write_snapshot(tmp_path / "snap"))
    eng = Engine.open(settings_of(db=str(tmp_path / "ob.sqlite"), tick_s=0.05, relay_interval_s=0.05,
                                  webhook_default_url="http://127.0.0.1:9/hook"), snapshot=snap, warm=False)
    threads = list(eng.orchestration._threads)
    assert sorted(t.name for t in threads) == ["orchestration-feed", "orchestration-relay", "orchestration-tick"]
    assert all(t.is_alive() for t in threads)
    eng.close()
    assert not any(t.is_alive() for t in threads)


# ------------------------------------------------------------------ the broker and e-mail, as configured


def _free_port() -> int:
    import socket

    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


def _wait(pred, timeout: float = 15.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


@pytest.mark.slow    # closing the inbound stream waits out nats-py's drain (about 5 s) after an empty fetch
def test_with_nats_configured_the_outbox_goes_to_jetstream_and_updates_come_back_from_it(tmp_path):
    """publisher: nats. The captured order's status and shipping request land in the outbox stream in that order;
    the warehouse's `released` update put on the inbound stream moves the line to `pack`, once."""
    import asyncio
    import uuid

    from orchestration.nats import nats_reachable
    from promessa.app import Engine
    from promessa.config import settings_of
    from supplydata import load_snapshot

    url = "nats://127.0.0.1:4222"
    if not nats_reachable(url):
        pytest.skip(f"NATS not reachable at {url}")
    tag = uuid.uuid4().hex[:8]
    names = {"nats_stream": f"W_OUT_{tag}", "nats_prefix": f"w{tag}.out", "nats_in_stream": f"W_IN_{tag}",
             "nats_in_prefix": f"w{tag}.in"}

    async def stream(name: str, *, delete: bool = False) -> list[dict]:
        import nats

        nc = await nats.connect(url)
        js = nc.jetstream()
        try:
            info = await js.stream_info(name)
            out = [json.loads((await js.get_msg(name, s)).data) for s in range(info.state.first_seq, info.state.last_seq + 1)
                   ] if info.state.messages else []
            if delete:
                await js.delete_stream(name)
            return out
        finally:
            await nc.close()

    snap = load_snapshot(write_snapshot(tmp_path / "snap"))
    eng = Engine.open(settings_of(db=str(tmp_path / "ob.sqlite"), publisher="nats", relay_interval_s=0.05, tick_s=3600.0,
                                  **names), snapshot=snap, warm=False)
    try:
        hub = eng.orchestration
        assert hub.deliverable and type(hub.publisher).__name__ == "NatsPublisher"
        oid = capture(eng)
        _wait(lambda: len([m for m in asyncio.run(stream(names["nats_stream"])) if m["order"] == oid]) == 2)
        got = [m for m in asyncio.run(stream(names["nats_stream"])) if m["order"] == oid]
        assert [(m["kind"], m["system"]) for m in got] == [("order.status", "capture"), ("shipping.request", "wms")]
        body = {"message_id": f"N-{tag}", "system": "wms", "event": "released", "order": oid, "line": "1",
                "at": T.isoformat(), "payload": {}}
        hub._inbox.publish_update(body, system="wms")
        hub._inbox.publish_update(body, system="wms")              # delivered twice: applied once
        _wait(lambda: hub.store.instances_of(oid)[0].step == "pack")
        _wait(lambda: hub.store.inbox_seen(f"N-{tag}"))
        [inst] = hub.store.instances_of(oid)
        assert [h.get("what") for h in inst.history].count("released") == 1
    finally:
        eng.close()
        for n in (names["nats_stream"], names["nats_in_stream"]):
            try:
                asyncio.run(stream(n, delete=True))
            except Exception:  # noqa: BLE001 - already gone
                pass


def test_e_mail_rules_send_through_the_configured_smtp_server(tmp_path):
    """email_rules: the planners hear of every shipment. Shipping the order through the order book sends one e-mail
    through the local SMTP server; the webhook target gets the rest."""
    from aiosmtpd.controller import Controller

    from orchestration.testing import WebhookReceiver
    from promessa.app import Engine
    from promessa.config import settings_of
    from supplydata import load_snapshot

    class Sink:
        def __init__(self):
            self.mails = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode()))
            return "250 OK"

    sink, port = Sink(), _free_port()
    ctl = Controller(sink, hostname="127.0.0.1", port=port, ready_timeout=5)
    ctl.start()
    snap = load_snapshot(write_snapshot(tmp_path / "snap"))
    try:
        with WebhookReceiver(secret=b"s3") as rx:
            eng = Engine.open(settings_of(db=str(tmp_path / "ob.sqlite"), smtp_host="127.0.0.1", smtp_port=port,
                                          smtp_sender="promessa@example.com", webhook_default_url=rx.url, webhook_secret="s3",
                                          email_rules=[{"on": ["shipped"], "to": ["planners@example.com"]}],
                                          relay_interval_s=0.05, tick_s=3600.0), snapshot=snap, warm=False)
            try:
                oid = capture(eng)
                from orderbook.schemas import FulfillmentEvent

                eng.service.event(oid, FulfillmentEvent(type="shipped"), actor="t")
                assert eng.orchestration.wait_idle(10.0)
                _wait(lambda: len(sink.mails) == 1)
                _wait(lambda: any(m["kind"] == "shipping.request" and m["order"] == oid for m in rx.received))
                assert all(m["kind"] != "email.notify" for m in rx.received)
            finally:
                eng.close()
    finally:
        ctl.stop()
    [(frm, to, content)] = sink.mails
    assert frm == "promessa@example.com" and to == ["planners@example.com"]
    assert f"Order {oid}: shipped" in content


def test_on_either_order_book_the_process_state_lives_beside_it(order_book_db, tmp_path):
    """SQLite: orchestration.sqlite beside the order book's file; PostgreSQL: the orch_* tables in the order book's
    own schema (dropped with it). Either way a capture starts the line's process and queues its shipping request."""
    from promessa.app import Engine
    from promessa.config import settings_of
    from supplydata import load_snapshot

    url, schema = order_book_db
    snap = load_snapshot(write_snapshot(tmp_path / "snap"))
    eng = Engine.open(settings_of(db=url, pg_schema=schema, tick_s=3600.0), snapshot=snap, warm=False)
    try:
        hub = eng.orchestration
        assert type(hub.store).__name__ == ("PostgresStore" if url.startswith("postgresql") else "SqliteStore")
        if url.startswith("postgresql"):
            assert hub.store.schema == schema
        oid = capture(eng)
        assert [(i.process, i.step) for i in hub.store.instances_of(oid)] == [("ship-from-node", "release")]
        assert [m.kind for m, _ in hub.store.messages(order=oid)] == ["order.status", "shipping.request"]
        assert hub.feed.lag() == 0
    finally:
        eng.close()


def test_enabling_processes_over_an_existing_order_book_starts_with_the_new_orders(tmp_path):
    """Orders captured while processes were off get none when they are switched on (no shipping request is sent for
    an order that may have shipped long ago); the next capture starts its process."""
    from promessa.app import Engine
    from promessa.config import settings_of
    from supplydata import load_snapshot

    snap = load_snapshot(write_snapshot(tmp_path / "snap"))
    db = str(tmp_path / "ob.sqlite")
    with Engine.open(settings_of(db=db, processes=False), snapshot=snap, warm=False) as eng:
        assert eng.orchestration is None
        st, body, _ = eng.service.capture(OrderCreate.model_validate(
            {"customer": "A", "zone": "EAST", "lines": [{"item": "WIDGET", "qty": 1, "requested_date": "2026-01-06"}]}), actor="t")
        old = json.loads(body)["order_id"]
    with Engine.open(settings_of(db=db, tick_s=3600.0), snapshot=snap, warm=False) as eng:
        hub = eng.orchestration
        assert hub.store.instances_of(old) == [] and hub.feed.cursor == eng.service.store.max_audit_id() > 0
        new = capture(eng)
        assert [i.step for i in hub.store.instances_of(new)] == ["release"]
    with Engine.open(settings_of(db=db, tick_s=3600.0), snapshot=snap, warm=False) as eng:   # restart: the cursor is kept
        assert eng.orchestration.store.instances_of(old) == [] and eng.orchestration.feed.lag() == 0
