"""EventBatch: a batch of order events decides and writes what handle() does, one event at a time.

The story: five orders go through the ready processes in one stream - a web order captured per line and scheduled, a
drop-ship line (captured before the stream), an order changed while shipping, an order cancelled after release, an order-level process shipped and
delivered, a transfer - with an event delivered twice inside the stream and one (B's capture) already applied before it. Applied
one event at a time with ``Orchestrator.handle`` into one store and as batches into another (ids drawn from the same
counter, the clock moving the same way), every table ends the same, row for row."""

from __future__ import annotations

import itertools

import pytest

from orchestration import Orchestrator, OrderEvent, SqliteStore, ready_catalog
from orchestration.testing import ManualClock

TABLES = {
    "orch_instances": "instance_id", "orch_outbox": "seq", "orch_inbox": "message_id", "orch_timers": "timer_id",
    "orch_alerts": "alert_id", "orch_effects": "effect_id",
}


def stream(clock: ManualClock) -> list[OrderEvent]:
    out = []

    def ev(kind, order, eid, **kw):
        clock.advance(seconds=1)
        out.append(OrderEvent(kind=kind, order=order, at=clock.now(), event_id=eid, **kw))

    web = {"channel": "web", "customer": "C1"}
    ev("captured", "A", "A/E1", attrs=web, lines=("1", "2", "10"),
       line_attrs={"1": {"item": "I1", "qty": 2.0, "node": "DC01"}, "2": {"item": "I2", "qty": 1.0, "node": "DC02"},
                   "10": {"item": "I3", "qty": 5.0}})
    ev("captured", "B", "B/E2", attrs=web, lines=("1",), line_attrs={"1": {"item": "D1", "qty": 1.0, "item_kind": "dropship"}})
    ev("scheduled", "A", "A/E3")
    ev("scheduled", "A", "A/E3")                       # delivered twice inside the stream: applied once
    ev("captured", "C", "C/E4", attrs={"channel": "edi", "ship_method": "ground"})
    ev("scheduled", "C", "C/E5")
    ev("released", "C", "C/E6")
    ev("packed", "C", "C/E7")
    ev("changed", "C", "C/E8", attrs={"qty": 3})       # while shipping: the request is cancelled, back to schedule
    ev("scheduled", "C", "C/E9")
    ev("scheduled", "B", "B/E10")
    ev("captured", "D", "D/E11", attrs=web, lines=("1",), line_attrs={"1": {"item": "I1", "qty": 1.0}})
    ev("scheduled", "D", "D/E12")
    ev("released", "D", "D/E13", line="1")
    ev("cancelled", "D", "D/E14")
    ev("captured", "E", "E/E15", attrs={"channel": "api"})
    for k, kind in enumerate(("scheduled", "released", "packed", "shipped", "delivered", "invoiced")):
        ev(kind, "E", f"E/E{16 + k}")
    ev("captured", "T", "T/E30", attrs={"order_type": "transfer", "to_node": "DC02"}, lines=("1",),
       line_attrs={"1": {"item": "I9", "qty": 4.0}})
    ev("scheduled", "T", "T/E31")
    ev("changed", "A", "A/E32", line="2", attrs={"qty": 4.0})
    return out


def run(tmp_path, name, monkeypatch, apply) -> dict[str, list[tuple]]:
    ids = itertools.count()
    fresh = lambda: f"id{next(ids):05d}"  # noqa: E731
    monkeypatch.setattr("orchestration.engine.new_id", fresh)
    monkeypatch.setattr("orchestration.records.new_id", fresh)
    clock = ManualClock()
    store = SqliteStore(tmp_path / f"{name}.sqlite")
    try:
        eng = Orchestrator(ready_catalog(), store, clock=clock)
        events = stream(ManualClock())
        eng.handle(events[1])                          # applied before the stream: the stream's copy changes nothing
        apply(eng, store, clock, events)
        with store.transaction() as c:
            return {t: c.execute(f"SELECT * FROM {t} ORDER BY {k}").fetchall() for t, k in TABLES.items()}
    finally:
        store.close()


def one_at_a_time(eng, store, clock, events):
    for e in events:
        clock.advance(seconds=1)
        eng.handle(e)


def batches(size):
    def apply(eng, store, clock, events):
        for k in range(0, len(events), size):
            part = events[k:k + size]
            with store.transaction() as c:
                b = eng.handle_many(conn=c, orders=[e.order for e in part], event_ids=[e.event_id for e in part[::2]])
                for e in part:
                    clock.advance(seconds=1)
                    b.handle(e)
                b.write()
    return apply


@pytest.mark.parametrize("size", [1, 4, 100])
def test_a_batch_writes_what_one_event_at_a_time_writes(tmp_path, monkeypatch, size):
    want = run(tmp_path, "single", monkeypatch, one_at_a_time)
    got = run(tmp_path, f"batch{size}", monkeypatch, batches(size))
    assert (len(want["orch_instances"]), len(want["orch_inbox"])) == (8, 24)
    for t in TABLES:
        assert got[t] == want[t], t


def test_a_batch_sees_its_own_instances_and_refuses_one_changed_since_it_was_read(tmp_path):
    """Order F's process is read by a batch; another writer moves it on before the batch writes: the batch is refused
    (ConflictError) and nothing of it is written."""
    from promessa.errors import ConflictError

    clock = ManualClock()
    store = SqliteStore(tmp_path / "o.sqlite")
    try:
        eng = Orchestrator(ready_catalog(), store, clock=clock)
        eng.handle(OrderEvent(kind="captured", order="F", at=clock.now(), event_id="F/E1"))
        with pytest.raises(ConflictError):
            with store.transaction() as c:
                b = eng.handle_many(conn=c, orders=["F"])
                b.handle(OrderEvent(kind="captured", order="G", at=clock.now(), event_id="G/E2"))
                b.handle(OrderEvent(kind="scheduled", order="F", at=clock.now(), event_id="F/E3"))
                assert [i.step for i in b.instances_of("F")] == ["release"]
                eng.handle(OrderEvent(kind="cancelled", order="F", at=clock.now(), event_id="F/E4"), conn=c)
                b.write()
        [f] = store.instances_of("F")
        assert (f.step, f.rev, store.instances_of("G")) == ("schedule", 1, [])
    finally:
        store.close()
