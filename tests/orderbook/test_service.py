"""The service without HTTP: rebuild from the order book is exact, a failed write changes nothing,
and the journal / open commitments agree with the in-memory state."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from orderbook.schemas import FulfillmentEvent, OrderChange, OrderCreate
from orderbook.service import OrderService, StoreUnavailable
from promessa.config import settings_of
from orderbook.store import open_store
from promessa.errors import ConflictError


@pytest.fixture(scope="module")
def snap(snap_dir):
    from supplydata import load_snapshot

    return load_snapshot(snap_dir)


@pytest.fixture(scope="module")
def snap_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("snap")
    (d / "meta.json").write_text(json.dumps({"as_of": "2026-01-05", "horizon_days": 30}))
    (d / "items.csv").write_text("item,category,brand,price,cost,lead_time_days\nA,x,y,10,5,\nB,x,y,20,5,\n")
    (d / "locations.csv").write_text("location,kind,zone,country,calendar\nL1,dc,Z,US,\nL2,dc,Z,US,\n")
    (d / "supply.csv").write_text(
        "item,location,date,qty,kind,ref\nA,L1,2026-01-05,50,onhand,\nA,L1,2026-01-10,30,purchase,\n"
        "B,L1,2026-01-05,10,onhand,\nA,L2,2026-01-05,5,onhand,\n")
    return d


def _order(lines, zone="Z"):
    return OrderCreate.model_validate({"customer": "c", "zone": zone, "lines": lines})


def _ln(item="A", qty=5.0, day=6, **kw):
    return {"item": item, "qty": qty, "requested_date": f"2026-01-{day:02d}", **kw}


def _busy_book(svc: OrderService) -> None:
    """A history with captures, a change, a partial shipment, a cancel and a delivery."""
    ids = []
    for lines in ([_ln(qty=20)], [_ln(qty=40), _ln("B", 4)], [_ln(qty=30, day=12)], [_ln("B", 9)]):
        _, body, _ = svc.capture(_order(lines), actor="t")
        ids.append(json.loads(body)["order_id"])
    svc.change(ids[0], OrderChange.model_validate({"lines": [{"line": 1, "qty": 12, "requested_date": "2026-01-11"}]}), actor="t")
    svc.event(ids[1], FulfillmentEvent.model_validate({"type": "shipped", "lines": [{"line": 1, "qty": 15}],
                                                      "at": "2026-01-05T12:00:00Z"}), actor="t")
    svc.cancel(ids[2], actor="t")
    svc.event(ids[3], FulfillmentEvent(type="shipped", at=dt.datetime(2026, 1, 6, tzinfo=dt.timezone.utc)), actor="t")
    svc.event(ids[3], FulfillmentEvent(type="delivered", at=dt.datetime(2026, 1, 7, tzinfo=dt.timezone.utc)), actor="t")


def test_rebuild_from_the_book_is_exact(snap, tmp_path):
    store = open_store(tmp_path / "ob.sqlite")
    svc = OrderService(snap, store, settings_of(approval_value_threshold=None))
    _busy_book(svc)
    before = svc.state.cum.copy()
    orders = {k: v.to_dict() for k, v in svc.orders.items()}
    again = OrderService(snap, store, settings_of(approval_value_threshold=None))
    assert np.array_equal(again.state.cum, before)  # bit for bit: the same draws replayed in the same order
    assert {k: v.to_dict() for k, v in again.orders.items()} == orders
    assert again.seq == svc.seq == store.max_seq()
    svc.close()
    again.close()
    store.close()


def test_open_commitments_and_journal_agree_with_the_state(snap, tmp_path):
    store = open_store(tmp_path / "ob.sqlite")
    svc = OrderService(snap, store, settings_of(approval_value_threshold=None))
    _busy_book(svc)
    net: dict[tuple, float] = {}
    for j in store.journal_since(0):
        key = (j.item, j.location)
        net[key] = net.get(key, 0.0) + j.signed_qty
    for (item, loc), q in net.items():
        il = snap.il_of(item, loc)
        assert abs((snap.base_cum[il, -1] - svc.state.cum[il, -1]) - q) < 1e-9
    open_by_order = {}
    for c in store.open_commitments():
        open_by_order[c.order_id] = open_by_order.get(c.order_id, 0.0) + c.qty
    for oid, o in svc.orders.items():
        want = sum(sl.open_qty for ln in o.lines for sl in ln.schedule) if o.status not in ("cancelled", "delivered", "shipped") else 0
        assert abs(open_by_order.get(oid, 0.0) - want) < 1e-9
    seqs = [j.seq for j in store.journal_since(0)]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) and seqs[0] == 1
    store.close()


def test_a_failed_durable_write_leaves_memory_as_it_was(snap, tmp_path):
    store = open_store(tmp_path / "ob.sqlite")
    svc = OrderService(snap, store, settings_of(approval_value_threshold=None))
    _, body, _ = svc.capture(_order([_ln(qty=10)]), actor="t")
    oid = json.loads(body)["order_id"]
    cum, seq, snapshot_of_orders = svc.state.cum.copy(), svc.seq, {k: v.to_dict() for k, v in svc.orders.items()}

    def boom(batch):
        raise OSError("disk full")

    real = store.write
    store.write = boom
    with pytest.raises(StoreUnavailable):
        svc.capture(_order([_ln(qty=7)]), actor="t")
    with pytest.raises(StoreUnavailable):
        svc.change(oid, OrderChange.model_validate({"lines": [{"line": 1, "qty": 3}]}), actor="t")
    with pytest.raises(StoreUnavailable):
        svc.event(oid, FulfillmentEvent(type="shipped"), actor="t")
    store.write = real
    assert np.array_equal(svc.state.cum, cum) and svc.seq == seq
    assert {k: v.to_dict() for k, v in svc.orders.items()} == snapshot_of_orders
    svc.capture(_order([_ln(qty=7)]), actor="t")  # and it works again
    assert store.max_seq() == svc.seq
    store.close()


def test_a_refused_transition_changes_nothing(snap, tmp_path):
    store = open_store(tmp_path / "ob.sqlite")
    svc = OrderService(snap, store, settings_of(approval_value_threshold=None))
    _, body, _ = svc.capture(_order([_ln(qty=10)]), actor="t")
    oid = json.loads(body)["order_id"]
    svc.cancel(oid, actor="t")
    cum = svc.state.cum.copy()
    with pytest.raises(ConflictError):
        svc.change(oid, OrderChange.model_validate({"lines": [{"line": 1, "qty": 3}]}), actor="t")
    with pytest.raises(ConflictError):
        svc.decide(oid, approve=True, actor="t")
    assert np.array_equal(svc.state.cum, cum) and svc.orders[oid].status == "cancelled"
    store.close()


# ---------------------------------------------------------------- property: random histories

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_op = st.one_of(
    st.tuples(st.just("capture"), st.sampled_from(["A", "B"]), st.integers(1, 40), st.integers(5, 25),
              st.sampled_from([None, "L1", "L2"])),
    st.tuples(st.just("change"), st.integers(0, 20), st.integers(1, 40), st.integers(5, 25)),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("ship"), st.integers(0, 20), st.integers(1, 40)),
    st.tuples(st.just("deliver"), st.integers(0, 20)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(_op, min_size=1, max_size=25))
def test_random_histories_never_oversell_and_rebuild_exactly(snap, tmp_path_factory, ops):
    from promessa.errors import PromessaError

    store = open_store(tmp_path_factory.mktemp("prop") / "ob.sqlite")
    svc = OrderService(snap, store, settings_of(approval_value_threshold=None))
    ids: list[str] = []
    for op in ops:
        try:
            if op[0] == "capture":
                _, item, qty, day, loc = op
                _, body, _ = svc.capture(_order([_ln(item, float(qty), day, location=loc)]), actor="p")
                ids.append(json.loads(body)["order_id"])
            elif not ids:
                continue
            elif op[0] == "change":
                svc.change(ids[op[1] % len(ids)], OrderChange.model_validate(
                    {"lines": [{"line": 1, "qty": op[2], "requested_date": f"2026-01-{op[3]:02d}"}]}), actor="p")
            elif op[0] == "cancel":
                svc.cancel(ids[op[1] % len(ids)], actor="p")
            elif op[0] == "ship":
                o = svc.orders[ids[op[1] % len(ids)]]
                open_sl = [sl for sl in o.lines[0].schedule if sl.open_qty > 1e-9]
                qty = min(float(op[2]), sum(sl.open_qty for sl in open_sl)) if open_sl else float(op[2])
                at = dt.datetime.combine(max((sl.date for sl in open_sl), default=snap.as_of), dt.time(), dt.timezone.utc)
                svc.event(o.order_id, FulfillmentEvent.model_validate(
                    {"type": "shipped", "lines": [{"line": 1, "qty": qty}], "at": at.isoformat()}), actor="p")
            elif op[0] == "deliver":
                svc.event(ids[op[1] % len(ids)], FulfillmentEvent(type="delivered"), actor="p")
        except PromessaError:
            pass  # refused transitions and over-shipments are part of the story; they must change nothing
        assert (svc.state.cum >= -1e-9).all(), "oversold"
    # the book alone rebuilds the same state, bit for bit
    again = OrderService(snap, store, settings_of(approval_value_threshold=None))
    assert np.array_equal(again.state.cum, svc.state.cum)
    # and every unit the state holds belongs to an order's open or consumed draws
    held = np.zeros(snap.n_il)
    for o in svc.orders.values():
        for ln in o.lines:
            for d in ln.draws + ln.consumed:
                held[snap.il_of(d.key, d.location)] += d.qty
    assert np.allclose(snap.base_cum[:, -1] - svc.state.cum[:, -1], held, atol=1e-6)
    svc.close()
    again.close()
    store.close()


def test_a_failed_group_commit_undoes_every_unwritten_request_newest_first(snap, tmp_path):
    import threading
    import time

    store = open_store(tmp_path / "ob.sqlite")
    svc = OrderService(snap, store, settings_of(approval_value_threshold=None))
    _, body, _ = svc.capture(_order([_ln(qty=10)]), actor="t")
    oid = json.loads(body)["order_id"]
    cum, seq, before = svc.state.cum.copy(), svc.seq, {k: v.to_dict() for k, v in svc.orders.items()}
    entered, gate = threading.Event(), threading.Event()
    real = store.write

    def stuck_then_fail(batch):
        entered.set()
        gate.wait(10)
        raise OSError("disk gone")

    store.write = stuck_then_fail
    outcomes: list[str] = []

    def call(fn):
        try:
            fn()
            outcomes.append("ok")
        except StoreUnavailable:
            outcomes.append("503")

    first = threading.Thread(target=call, args=(lambda: svc.capture(_order([_ln(qty=5)]), actor="t"),))
    first.start()
    assert entered.wait(10)
    # these queue behind the stuck write; the change depends on the order above
    later = [
        threading.Thread(target=call, args=(lambda: svc.capture(_order([_ln("B", 2)]), actor="t"),)),
        threading.Thread(target=call, args=(lambda: svc.change(oid, OrderChange.model_validate(
            {"lines": [{"line": 1, "qty": 25}]}), actor="t"),)),
        threading.Thread(target=call, args=(lambda: svc.cancel(oid, actor="t"),)),
    ]
    for t in later:
        t.start()
        time.sleep(0.05)
    deadline = time.monotonic() + 10
    while len(svc.committer._queue) < 3 and time.monotonic() < deadline:  # noqa: SLF001
        time.sleep(0.01)
    gate.set()
    for t in [first, *later]:
        t.join(10)
    store.write = real
    assert outcomes == ["503"] * 4
    assert np.array_equal(svc.state.cum, cum) and svc.seq == seq
    assert {k: v.to_dict() for k, v in svc.orders.items()} == before
    svc.capture(_order([_ln(qty=1)]), actor="t")
    again = OrderService(snap, store, settings_of(approval_value_threshold=None))
    assert np.array_equal(again.state.cum, svc.state.cum)
    svc.close()
    again.close()
    store.close()


def test_zero_downtime_refresh_replays_the_book(snap, snap_dir, tmp_path):
    """attach_live(): a refresh to an extract without journal_seq replays the open reservations;
    with journal_seq N it replays the journal after N; promising goes on on the new pair."""
    import shutil

    from promising import Reservation, reserve

    store = open_store(tmp_path / "ob.sqlite")
    svc = OrderService(snap, store, settings_of(approval_value_threshold=None))
    _busy_book(svc)
    live = svc.attach_live()
    # 1. same extract, no journal_seq: only open (unshipped) reservations come back
    live.refresh(snap_dir)
    assert svc.snap is not snap and svc.state is live.state
    want = svc.snap.new_state()
    for o in svc.orders.values():
        if o.status in ("captured", "on_hold", "scheduled", "backordered", "partially_shipped"):
            for ln in o.lines:
                for d in ln.draws:
                    reserve(svc.snap, want, Reservation((d,)))
    assert np.allclose(svc.state.cum, want.cum)
    # promising goes on against the new pair, and its commitments are journalled as before
    _, body, _ = svc.capture(_order([_ln(qty=3)]), actor="t")
    assert json.loads(body)["lines"][0]["promised_qty"] == 3.0
    # 2. an extract that already holds the journal up to N: entries after N are replayed
    n = store.max_seq() - 1
    d2 = tmp_path / "snap2"
    shutil.copytree(snap_dir, d2)
    meta = json.loads((d2 / "meta.json").read_text())
    (d2 / "meta.json").write_text(json.dumps({**meta, "journal_seq": n}))
    r = live.refresh(d2)
    assert r["last_seq"] == store.max_seq() and r["replayed"] == 1
    svc.close()
    store.close()


def test_demand_class_orders_keep_allocation_pools_through_ship_change_cancel_and_rebuild(tmp_path):
    """On the generated sample (allocation quotas per demand class), draws carry their pools;
    a shipment splits them in proportion, and the rebuilt state - allocation included - is exact."""
    from supplydata import load_snapshot
    from supplydata.generate import generate

    generate(tmp_path / "snap", seed=7, size="tiny")
    snap = load_snapshot(tmp_path / "snap")
    alloc = snap.tables["allocation"]
    item, loc, dc = alloc["item"][0], alloc["location"][0], alloc["demand_class"][0]
    store = open_store(tmp_path / "ob.sqlite")
    svc = OrderService(snap, store, settings_of(approval_value_threshold=None))
    ids = []
    for q in (3, 5, 8):
        _, body, _ = svc.capture(OrderCreate.model_validate({"customer": "c", "demand_class": dc, "lines": [
            {"item": item, "location": loc, "qty": q, "requested_date": "2026-01-12"}]}), actor="t")
        ids.append(json.loads(body)["order_id"])
    svc.event(ids[0], FulfillmentEvent.model_validate({"type": "shipped", "lines": [{"line": 1, "qty": 1}],
                                                      "at": "2026-01-06T00:00:00Z"}), actor="t")
    svc.change(ids[1], OrderChange.model_validate({"lines": [{"line": 1, "qty": 2}]}), actor="t")
    svc.cancel(ids[2], actor="t")
    ln = svc.orders[ids[0]].lines[0]
    if ln.draws and ln.draws[0].pools:
        assert sum(q for _, q in ln.draws[0].pools) == ln.draws[0].qty == 2.0
        assert sum(q for _, q in ln.consumed[0].pools) == ln.consumed[0].qty == 1.0
    again = OrderService(snap, store, settings_of(approval_value_threshold=None))
    assert np.array_equal(again.state.cum, svc.state.cum)
    for k, v in svc.state.extras.items():
        assert np.allclose(again.state.extras[k], v), k
    svc.close()
    again.close()
    store.close()


def test_a_substitute_is_shown_on_the_order_and_survives_a_rebuild(make_snapshot, tmp_path):
    """DC1 has 80 of AS54888 and 50 of its substitute AS6000 on hand. An order for 100 of AS54888 on
    day 2 gets 80 of AS54888 and 20 of AS6000, both on day 2: the order's schedule says which item
    each part is (the substitute named, the line's own item left implicit), and a restart reads the
    same order and the same commitments back."""
    from promessa_testing import day

    snap = make_snapshot(supply=[("AS54888", "DC1", 0, 80), ("AS6000", "DC1", 0, 50)],
                         extra={"substitutes": [{"item": "AS54888", "substitute": "AS6000", "preference": 1,
                                                 "valid_from": None, "valid_to": None}]})
    store = open_store(tmp_path / "ob.sqlite")
    svc = OrderService(snap, store, settings_of(approval_value_threshold=None))
    code, body, _ = svc.capture(OrderCreate.model_validate({"customer": "c", "lines": [
        {"item": "AS54888", "qty": 100, "requested_date": day(2).isoformat(), "location": "DC1"}]}), actor="t")
    assert code == 201
    sched = json.loads(body)["lines"][0]["schedule"]
    assert [(s["date"], s["qty"], s.get("item")) for s in sched] == [(day(2).isoformat(), 80.0, None),
                                                                     (day(2).isoformat(), 20.0, "AS6000")]
    oid = json.loads(body)["order_id"]
    before = svc.state.cum.copy()
    svc.close()
    again = OrderService(snap, store, settings_of(approval_value_threshold=None))
    assert again.get(oid)["lines"][0]["schedule"] == sched
    assert np.array_equal(again.state.cum, before)
    again.close()
    store.close()


def test_capture_async_answers_once_durable_and_waits_in_a_thread_while_the_book_is_busy(snap, tmp_path):
    """`capture_async` (the HTTP capture): in the loop thread when the lock is free, in a worker thread while a
    long write holds it; either way the answer names the order's id and version and the order is in the book."""
    import asyncio
    import threading

    store = open_store(tmp_path / "ob.sqlite")
    svc = OrderService(snap, store, settings_of(approval_value_threshold=None))
    status, body, replayed = asyncio.run(svc.capture_async(_order([_ln(qty=3)]), actor="t"))
    doc = json.loads(body)
    assert (status, replayed) == (201, False) and body.ref == (doc["order_id"], doc["version"])
    assert store.get_order(doc["order_id"]) is not None  # durable before the answer

    held, release = threading.Event(), threading.Event()

    def long_write():
        with svc.lock:
            held.set()
            release.wait(10)

    t = threading.Thread(target=long_write)
    t.start()
    held.wait(10)

    async def capture_while_busy():
        task = asyncio.create_task(svc.capture_async(_order([_ln(qty=2)]), actor="t"))
        await asyncio.sleep(0.2)
        assert not task.done()  # waiting for the lock, in a thread: the loop still runs this coroutine
        release.set()
        return await task

    status2, body2, _ = asyncio.run(capture_while_busy())
    t.join(10)
    assert status2 == 201 and store.get_order(json.loads(body2)["order_id"]) is not None
    svc.close()
    store.close()
