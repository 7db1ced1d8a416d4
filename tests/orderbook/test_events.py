"""Order events read from the audit trail (a transactional outbox) and consumers with durable cursors.

The story: four orders are captured; one is changed, one ships 15 of line 1 on 2026-01-05, one is
cancelled, one ships everything and is delivered. The event stream tells exactly that, in order,
with the shipped lines and quantities; consumers see each event once across restarts, a consumer
that fails is given the same event again, and a return receipt is a `returned` event written in the
same transaction as its supply."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from orderbook.events import EventDispatcher, EventKind, event_of, read_events, record_return
from orderbook.schemas import FulfillmentEvent, OrderChange, OrderCreate
from orderbook.service import OrderService
from orderbook.store import open_store
from promessa.errors import ValidationError


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    from supplydata import load_snapshot

    d = tmp_path_factory.mktemp("snap")
    (d / "meta.json").write_text(json.dumps({"as_of": "2026-01-05", "horizon_days": 30}))
    (d / "items.csv").write_text("item,category,brand,price,cost,lead_time_days\nA,x,y,10,5,\nB,x,y,20,5,\n")
    (d / "locations.csv").write_text("location,kind,zone,country,calendar\nL1,dc,Z,US,\n")
    (d / "supply.csv").write_text("item,location,date,qty,kind,ref\nA,L1,2026-01-05,50,onhand,\nB,L1,2026-01-05,10,onhand,\n")
    return load_snapshot(d)


def _capture(svc, lines):
    body = svc.capture(OrderCreate.model_validate({"customer": "c", "zone": "Z", "lines": lines}), actor="t")[1]
    return json.loads(body)["order_id"]


def _ln(item="A", qty=5.0):
    return {"item": item, "qty": qty, "requested_date": "2026-01-06", "location": "L1"}


class Recorder:
    """A consumer that remembers what it was given; `fail_on` makes it raise once on that event kind."""

    def __init__(self, name="rec", fail_on=None):
        self.name, self.fail_on, self.seen = name, fail_on, []

    def handle(self, ev):
        if self.fail_on is not None and ev.kind == self.fail_on:
            self.fail_on = None
            raise RuntimeError("consumer crashed")
        self.seen.append(ev)
        return [("test_seen", f"{ev.id:08d}", {"kind": str(ev.kind)})]


def _story(svc):
    a, b, c, d = (_capture(svc, ls) for ls in ([_ln(qty=20)], [_ln(qty=20), _ln("B", 4)], [_ln(qty=3)], [_ln("B", 2)]))
    svc.change(a, OrderChange.model_validate({"lines": [{"line": 1, "qty": 12}]}), actor="t")
    svc.event(b, FulfillmentEvent.model_validate({"type": "shipped", "lines": [{"line": 1, "qty": 15}],
                                                  "at": "2026-01-05T12:00:00Z"}), actor="t")
    svc.cancel(c, actor="t")
    svc.event(d, FulfillmentEvent(type="shipped", at=dt.datetime(2026, 1, 6, tzinfo=dt.timezone.utc)), actor="t")
    svc.event(d, FulfillmentEvent(type="delivered", at=dt.datetime(2026, 1, 7, tzinfo=dt.timezone.utc)), actor="t")
    return a, b, c, d


def test_the_event_stream_tells_the_story_in_order(snap, order_book_db):
    store = open_store(order_book_db[0], pg_schema=order_book_db[1])
    svc = OrderService(snap, store)
    try:
        a, b, c, d = _story(svc)
        evs = read_events(store)
        assert [e.id for e in evs] == sorted({e.id for e in evs})  # strictly increasing
        story = [(e.order_id, e.kind) for e in evs if e.kind is not EventKind.PROMISED]
        assert story == [(a, "captured"), (b, "captured"), (c, "captured"), (d, "captured"), (a, "changed"),
                         (b, "shipped"), (c, "cancelled"), (d, "shipped"), (d, "delivered")]
        shipped_b = next(e for e in evs if e.order_id == b and e.kind is EventKind.SHIPPED)
        assert shipped_b.lines == {1: 15.0} and shipped_b.at == dt.datetime(2026, 1, 5, 12, tzinfo=dt.timezone.utc)
        shipped_d = next(e for e in evs if e.order_id == d and e.kind is EventKind.SHIPPED)
        assert shipped_d.lines == {1: 2.0}
        assert read_events(store, shipped_b.id, order_id=d)[0].kind is EventKind.SHIPPED  # after an id, one order
    finally:
        svc.close()
        store.close()


def test_each_consumer_sees_every_event_once_across_restarts(snap, order_book_db):
    url, schema = order_book_db
    store = open_store(url, pg_schema=schema)
    svc = OrderService(snap, store)
    a, *_ = _story(svc)
    first = Recorder()
    disp = svc.start_events([first], poll_s=0.05)  # caught up at start
    n0 = len(read_events(store))
    assert len(first.seen) == n0 and store.event_cursor("rec") == first.seen[-1].id
    svc.event(a, FulfillmentEvent(type="shipped"), actor="t")  # dispatched after the durable write
    assert disp.wait_idle(5)
    assert [e.kind for e in first.seen[n0:]] == [EventKind.SHIPPED] and first.seen[-1].lines == {1: 12.0}
    svc.close()
    store.close()
    # a new process: the cursor is durable, nothing is handed over twice; the records kept with it are there
    store = open_store(url, pg_schema=schema)
    svc = OrderService(snap, store)
    again = Recorder()
    svc.start_events([again], poll_s=0.05)
    try:
        assert again.seen == []
        assert len(store.records("test_seen")) == n0 + 1
        late = Recorder("late")  # a consumer added later starts from the beginning
        disp = EventDispatcher(store, [late]).start()
        disp.stop()
        assert [e.id for e in late.seen] == [e.id for e in read_events(store)]
    finally:
        svc.close()
        store.close()


def test_a_failing_consumer_gets_the_same_event_again_and_others_go_on(snap, tmp_path):
    store = open_store(tmp_path / "ob.sqlite")
    svc = OrderService(snap, store)
    try:
        _story(svc)
        flaky, steady = Recorder("flaky", fail_on=EventKind.SHIPPED), Recorder("steady")
        disp = EventDispatcher(store, [flaky, steady], retry_s=60.0)
        disp.run_once(until_idle=True)
        first_ship = next(e for e in read_events(store) if e.kind is EventKind.SHIPPED)
        assert store.event_cursor("flaky") == flaky.seen[-1].id < first_ship.id  # stopped before the event it failed on
        st = {s.name: s for s in disp.status()}
        assert st["flaky"].failures == 1 and "consumer crashed" in st["flaky"].last_error and st["flaky"].lag > 0
        assert st["steady"].lag == 0
        disp.run_once(until_idle=True)  # waits retry_s before trying again
        assert flaky.seen[-1].id < first_ship.id
        EventDispatcher(store, [flaky, steady]).run_once(until_idle=True)  # a restart: from the durable cursors
        ids = [e.id for e in flaky.seen]
        assert ids == [e.id for e in read_events(store)] == [e.id for e in steady.seen]  # each once, in order
        assert store.event_cursor("flaky") == store.event_cursor("steady") == store.max_audit_id()
    finally:
        svc.close()
        store.close()


def test_a_return_receipt_is_one_durable_write_of_event_and_supply(snap, tmp_path):
    from supplydata.live import SupplyDelta

    store = open_store(tmp_path / "ob.sqlite")
    svc = OrderService(snap, store)
    try:
        _, b, _, _ = _story(svc)  # b shipped 15 of line 1 (item A at L1)
        il = snap.il_of("A", "L1")
        before = float(svc.state.cum[il, 3])
        with pytest.raises(ValidationError) as e:  # more than shipped: refused, nothing written
            record_return(svc, b, receipt="RMA1/1", rma="RMA1", lines={1: 16.0}, location="L1", date=dt.date(2026, 1, 8),
                          condition="new", supply=SupplyDelta("A", "L1", dt.date(2026, 1, 8), 16.0, kind="receipt"), actor="t")
        assert e.value.field == "lines.1" and e.value.value == 16.0
        assert float(svc.state.cum[il, 3]) == before and store.supply_deltas() == []
        status, body, _ = record_return(svc, b, receipt="RMA1/1", rma="RMA1", lines={1: 4.0}, location="L1",
                                        date=dt.date(2026, 1, 8), condition="new", actor="t",
                                        supply=SupplyDelta("A", "L1", dt.date(2026, 1, 8), 4.0, kind="receipt", ref="RMA1/1"))
        assert status == 200 and json.loads(body)["receipt"] == "RMA1/1"
        ev = read_events(store, order_id=b)[-1]
        assert ev.kind is EventKind.RETURNED and ev.lines == {1: 4.0} and ev.detail["rma"] == "RMA1"
        assert ev.at.date() == dt.date(2026, 1, 8)
        assert float(svc.state.cum[il, 3]) == before + 4.0  # day 3 = 2026-01-08: promising sees it at once
        assert [(d.qty, d.kind, d.ref) for d in store.supply_deltas()] == [(4.0, "receipt", "RMA1/1")]
    finally:
        svc.close()
        store.close()


def test_consumers_at_different_cursors_read_the_trail_once_between_them(snap, tmp_path):
    """`read_events` keeps the recent events decoded beside the store: readers at any cursor get exactly what the
    audit trail holds after it, and an event is read from the store once, however many consumers follow it."""
    store = open_store(tmp_path / "ob.sqlite")
    svc = OrderService(snap, store)
    try:
        _story(svc)
        truth = [event_of(r) for r in store.audit_rows(0, limit=1000)]
        reads = []
        real = store.audit_rows

        def counted(after, **kw):
            rows = real(after, **kw)
            reads.append(len(rows))
            return rows

        store.audit_rows = counted
        assert read_events(store, 0, limit=4) == truth[:4]
        assert read_events(store, 0, limit=1000) == truth      # the first four kept, the rest read once
        assert read_events(store, truth[2].id, limit=3) == truth[3:6]  # another cursor: from what is kept
        assert read_events(store, truth[-1].id) == []
        assert sum(reads) == len(truth)
        _capture(svc, [_ln("B", 1)])  # two new entries (captured, promised)
        new = read_events(store, truth[5].id, limit=1000)
        assert [e.id for e in new] == [e.id for e in truth[6:]] + [e.id for e in event_rows(store, truth[-1].id)]
        assert sum(reads) == len(truth) + 2
        assert read_events(store, 0, limit=2) == truth[:2]  # behind what is kept: read again from the store
        assert read_events(store, truth[-1].id, order_id="nope") == []
    finally:
        svc.close()
        store.close()


def event_rows(store, after):
    return [event_of(r) for r in type(store).audit_rows(store, after, limit=1000)]
