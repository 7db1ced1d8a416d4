"""Against the real NATS JetStream on this machine (skipped where none answers): the outbox publishes in
order per order without duplicates, a SIGKILLed writer loses nothing, a duplicate inbound update changes nothing."""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import pytest

from orchestration import InboundUpdate, OrderEvent, Orchestrator, OutboxRelay, SqliteStore, ready_catalog
from orchestration.nats import NatsInbox, NatsPublisher, nats_reachable
from orchestration.testing import ManualClock

URL = os.environ.get("PROMESSA_TEST_NATS_URL", "nats://127.0.0.1:4222")
pytestmark = pytest.mark.skipif(not nats_reachable(URL), reason=f"NATS not reachable at {URL}")


def ev(kind, order, clock, **kw):
    return OrderEvent(kind=kind, order=order, at=clock.now(), **kw)


async def _stream(name: str, *, delete: bool = False) -> list[tuple[str, dict]]:
    import nats

    nc = await nats.connect(URL)
    try:
        js = nc.jetstream()
        if delete:
            try:
                await js.delete_stream(name)
            except Exception:  # noqa: BLE001 - absent is fine
                pass
            return []
        info = await js.stream_info(name)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            m = await js.get_msg(name, seq)
            out.append((m.subject, json.loads(m.data)))
        return out
    finally:
        await nc.close()


@pytest.fixture
def names():
    tag = uuid.uuid4().hex[:10]
    n = {"stream": f"T_OUT_{tag}", "prefix": f"t{tag}.out", "in_stream": f"T_IN_{tag}", "in_prefix": f"t{tag}.in"}
    yield n
    asyncio.run(_stream(n["stream"], delete=True))
    asyncio.run(_stream(n["in_stream"], delete=True))


def test_outbox_to_jetstream_in_order_per_order_and_no_duplicates(sqlite_store, names):
    """Twenty orders each get captured, scheduled, released (order.status, shipping.request, order.status).
    All 60 messages land in the stream; per order in outbox order; publishing the same rows again (as after
    a crash between publish and marking) adds nothing (Nats-Msg-Id)."""
    clock = ManualClock()
    eng = Orchestrator(ready_catalog(), sqlite_store, clock=clock)
    for i in range(20):
        for k in ("captured", "scheduled", "released"):
            eng.handle(ev(k, f"N{i}", clock))
    pub = NatsPublisher(URL, stream=names["stream"], prefix=names["prefix"])
    try:
        rows = [p.message for p in sqlite_store.pending()]
        rep = OutboxRelay(sqlite_store, pub, clock=clock).drain()
        assert (rep.published, rep.failed) == (60, 0)
        assert pub.publish([rows]) == [(60, None)]           # a re-publish is deduplicated by JetStream
    finally:
        pub.close()
    got = asyncio.run(_stream(names["stream"]))
    assert len(got) == 60
    for i in range(20):
        mine = [(s, b["kind"]) for s, b in got if b["order"] == f"N{i}"]
        assert mine == [(f"{names['prefix']}.capture.order.status", "order.status"),
                        (f"{names['prefix']}.wms.shipping.request", "shipping.request"),
                        (f"{names['prefix']}.capture.order.status", "order.status")]
    assert sorted(b["message_id"] for _, b in got) == sorted(m.message_id for m in rows)   # orders interleave


@pytest.mark.slow
def test_kill_9_between_write_and_publish_loses_no_message_nats(tmp_path, names):
    from .test_outbox import run_killed_child

    path = tmp_path / "k.sqlite"
    run_killed_child(path)
    store = SqliteStore(path)
    want = [m.message_id for m, _ in store.messages(order="K1")]
    assert len(want) == 6
    pub = NatsPublisher(URL, stream=names["stream"], prefix=names["prefix"])
    try:
        OutboxRelay(store, pub, clock=ManualClock()).drain()
    finally:
        pub.close()
    assert [b["message_id"] for _, b in asyncio.run(_stream(names["stream"]))] == want
    store.close()


def test_a_duplicate_inbound_update_changes_nothing(sqlite_store, names):
    """The supplier's acknowledgement for D1 arrives twice on the inbound stream (redelivery). The first moves
    D1 from purchase to supplier-ship; the second is recognised by its message id and changes nothing."""
    clock = ManualClock()
    eng = Orchestrator(ready_catalog(), sqlite_store, clock=clock)
    eng.handle(ev("captured", "D1", clock, attrs={"item_kind": "dropship"}))
    eng.handle(ev("scheduled", "D1", clock))
    inbox = NatsInbox(eng, URL, stream=names["in_stream"], prefix=names["in_prefix"], durable="t-inbox")
    try:
        upd = {"message_id": "acme-77", "system": "supplier", "event": "po.ack", "order": "D1", "at": clock.now().isoformat()}
        inbox.publish_update(upd, system="supplier")
        inbox.publish_update(upd, system="supplier")
        inbox.publish_update({"message_id": "bad", "order": "D1"}, system="supplier")
        pulled = 0
        for _ in range(10):
            pulled += inbox.consume_once(batch=10, wait_s=0.3)
            if pulled >= 3:
                break
        assert pulled == 3 and len(inbox.rejected) == 1
    finally:
        inbox.close()
    [inst] = sqlite_store.instances_of("D1")
    assert inst.step == "supplier-ship" and [h["what"] for h in inst.history].count("po.ack") == 1
    assert eng.receive(InboundUpdate.from_json(json.dumps(upd))).duplicate


def test_a_refused_publish_stops_its_order_only_and_is_retried_in_order(sqlite_store, names):
    """The stream refuses messages over 1,024 bytes. Orders A, B and C each have three messages (interleaved
    A0 B0 C0 A1 B1 C1 A2 B2 C2) and A1 carries a 2,000-byte note. One drain: JetStream refuses A1, so A2 waits
    behind it; A0 and all of B and C are published and marked (7), A1 is failed once (backoff 1 s), A2 held.
    The limit is raised and the clock moves 1 s: the next drain publishes A1 then A2, and the stream holds
    each order's messages in outbox order, each once."""
    import nats
    from nats.js.api import StreamConfig

    from orchestration.records import new_message
    from orchestration.store import Changes

    async def stream(max_msg_size: int, *, update: bool) -> None:
        nc = await nats.connect(URL)
        try:
            cfg = StreamConfig(name=names["stream"], subjects=[f"{names['prefix']}.>"], max_msg_size=max_msg_size)
            await (nc.jetstream().update_stream(cfg) if update else nc.jetstream().add_stream(cfg))
        finally:
            await nc.close()

    asyncio.run(stream(1024, update=False))
    clock = ManualClock()
    msgs = [new_message("order.status", "capture", o, None, clock.now(), {"i": i, "note": "x" * (2000 if (o, i) == ("A", 1) else 1)})
            for i in range(3) for o in ("A", "B", "C")]
    sqlite_store.write(Changes(messages=msgs))
    pub = NatsPublisher(URL, stream=names["stream"], prefix=names["prefix"])
    try:
        relay = OutboxRelay(sqlite_store, pub, clock=clock, backoff_s=1.0)
        rep = relay.drain()
        assert (rep.published, rep.failed, rep.held) == (7, 1, 1), rep
        assert "JetStream error" in rep.errors[0] and msgs[3].message_id in rep.errors[0]
        left = sqlite_store.pending()
        assert [(p.message.order, p.message.payload["i"], p.attempts) for p in left] == [("A", 1, 1), ("A", 2, 0)]
        assert relay.drain().published == 0                      # A1 backs off for 1 s
        asyncio.run(stream(1 << 20, update=True))
        clock.advance(seconds=1)
        rep = relay.drain()
        assert (rep.published, rep.failed) == (2, 0) and sqlite_store.pending() == []
    finally:
        pub.close()
    got = asyncio.run(_stream(names["stream"]))
    assert sorted(b["message_id"] for _, b in got) == sorted(m.message_id for m in msgs)
    for o in ("A", "B", "C"):
        assert [b["payload"]["i"] for _, b in got if b["order"] == o] == [0, 1, 2]
    assert [b["order"] for _, b in got][-2:] == ["A", "A"]     # A1 and A2 went out in the second drain


def test_a_group_waits_for_each_acknowledgement_and_more_groups_than_max_pending_all_go(sqlite_store, names):
    """250 orders of four messages each, published as 250 groups with at most 16 groups in flight at once:
    every group reports all four delivered, and the stream holds every order's messages in order."""
    from orchestration.records import new_message

    clock = ManualClock()
    groups = [[new_message("order.status", "capture", f"G{k}", None, clock.now(), {"i": i}) for i in range(4)] for k in range(250)]
    pub = NatsPublisher(URL, stream=names["stream"], prefix=names["prefix"], max_pending=16)
    try:
        assert pub.publish(groups + [[]]) == [(4, None)] * 250 + [(0, None)]
    finally:
        pub.close()
    got = asyncio.run(_stream(names["stream"]))
    assert len(got) == 1000
    per: dict[str, list[int]] = {}
    for _, b in got:
        per.setdefault(b["order"], []).append(b["payload"]["i"])
    assert per == {f"G{k}": [0, 1, 2, 3] for k in range(250)}


def test_publish_calls_from_two_threads_each_get_their_own_acknowledgements(names):
    """Two threads (say the relay loop and a shutdown drain) publish 100 one-message groups each through one
    publisher at the same time: both calls report all 100 delivered and the stream holds the 200 messages once."""
    import threading

    from orchestration.records import new_message

    clock = ManualClock()
    batches = [[[new_message("order.status", "capture", f"{t}{k}", None, clock.now(), {"i": k})] for k in range(100)] for t in "PQ"]
    pub = NatsPublisher(URL, stream=names["stream"], prefix=names["prefix"])
    results: dict[int, list] = {}
    try:
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, pub.publish(batches[i]))) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        pub.close()
    assert results == {0: [(1, None)] * 100, 1: [(1, None)] * 100}
    got = asyncio.run(_stream(names["stream"]))
    assert sorted(b["message_id"] for _, b in got) == sorted(g[0].message_id for b in batches for g in b)
