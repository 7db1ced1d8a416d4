"""Orchestration: the outbox relay's publish rate to NATS JetStream, and order capture through a 6-step process.

Timed, each beside a bare reference measured in the same run:

- ``orchestration.outbox_nats``: ``OutboxRelay.drain()`` over a SQLite outbox of N messages spread over
  N/5 orders (read rows, publish pipelined with ``Nats-Msg-Id``, an order's next message only after its
  previous ack, mark published) - the issue's target is at least 5,000 messages/s; bare reference: nats-py
  ``js.publish_async`` of the same bodies, all acks awaited, nothing read or marked, no ordering. The relay's
  publisher does not use ``publish_async`` (in nats-py 2.16 on Python 3.11 it costs a task for ``wait_for``,
  a ``SystemRandom`` token and a parsed ``PubAck`` per message) but core publishes with a reply inbox and one
  acknowledgement callback, so it can outrun this reference.
  Before timing, the stream is checked to hold every message once, in outbox order per order.
- ``orchestration.capture``: one order captured per transaction (SQLite WAL, synchronous=FULL): the bare
  reference writes only the order row; the orchestrated run writes the row and, in the same transaction,
  starts the ship-from-node process (6 steps) and schedules it (instance, outbox rows). Informational: the
  ratio of the process's own writes to the bare row write (no target; the issue's is on the next case).
- ``orchestration.orderbook_capture``: the wired path: ``OrderService.capture`` through two engines, with and without
  ``orchestration.processes``, in alternating blocks; an orchestrated block counts until its order events drove the
  processes (see ``_orderbook_capture_case``). The issue's targets: at least two thirds of the throughput of
  capture without processes, p99 at most 1.5x.

Skips the NATS case (noted) when no NATS answers at ``--nats`` (default nats://127.0.0.1:4222).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.harness import Result, percentile

#: size -> (outbox messages, captured orders)
SIZES = {"tiny": (2_000, 200), "small": (10_000, 1_000), "medium": (50_000, 3_000), "full": (100_000, 10_000)}
NATS_URL = "nats://127.0.0.1:4222"


def _fill_outbox(store, n: int, clock, seed: int, per_order: int = 5):
    from orchestration.records import Message
    from orchestration.store import Changes

    msgs = []
    for i in range(n):
        order = f"B{seed}-{i % max(1, n // per_order)}"
        msgs.append(Message(uuid.uuid4().hex, "shipping.request", "wms", order, "1", clock.now(),
                            {"process": "ship-from-node", "version": 1, "step": "release", "request_id": uuid.uuid4().hex,
                             "attempt": 1, "attrs": {"item": f"SKU-{i % 97}", "qty": 1 + i % 5}}))
    store.write(Changes(messages=msgs))
    return msgs


async def _bare(url: str, stream: str, prefix: str, bodies: list[tuple[str, bytes, str]], max_pending: int) -> float:
    import nats
    from nats.js.api import StreamConfig

    nc = await nats.connect(url)
    js = nc.jetstream(publish_async_max_pending=max_pending)
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{prefix}.>"]))
    t0 = time.perf_counter()
    futs = [await js.publish_async(s, b, headers={"Nats-Msg-Id": m}) for s, b, m in bodies]
    await asyncio.gather(*futs)
    dt_s = time.perf_counter() - t0
    await js.delete_stream(stream)
    await nc.close()
    return dt_s


async def _read_stream(url: str, stream: str, *, delete: bool) -> list[dict]:
    import nats

    nc = await nats.connect(url)
    js = nc.jetstream()
    info = await js.stream_info(stream)
    out = [json.loads((await js.get_msg(stream, s)).data) for s in range(info.state.first_seq, info.state.last_seq + 1)]
    if delete:
        await js.delete_stream(stream)
    await nc.close()
    return out


def _outbox_case(n: int, seed: int, repeats: int, url: str, tmp: Path) -> list[Result]:
    from orchestration import OutboxRelay, SqliteStore
    from orchestration.nats import NatsPublisher, nats_reachable
    from orchestration.records import SystemClock

    if not nats_reachable(url):
        return [Result("orchestration.outbox_nats", "throughput", float("nan"), "messages/s", ">= 5,000 messages/s", None,
                       {"messages": n}, notes=f"skipped: no NATS at {url}")]
    clock = SystemClock()
    rates, bare_rates = [], []
    max_pending = 4000
    for r in range(max(1, repeats)):
        tag = uuid.uuid4().hex[:8]
        store = SqliteStore(tmp / f"outbox{r}.sqlite")
        msgs = _fill_outbox(store, n, clock, seed + r)
        pub = NatsPublisher(url, stream=f"BENCH_OUT_{tag}", prefix=f"bench{tag}.out", max_pending=max_pending)
        relay = OutboxRelay(store, pub, clock=clock, batch=5000)
        t0 = time.perf_counter()
        rep = relay.drain()
        el = time.perf_counter() - t0
        pub.close()
        assert rep.published == n and rep.failed == 0 and store.pending() == [], rep
        if r == 0:   # check: every message once, in outbox order per order
            got = asyncio.run(_read_stream(url, f"BENCH_OUT_{tag}", delete=True))
            assert sorted(g["message_id"] for g in got) == sorted(m.message_id for m in msgs), "stream differs from the outbox"
            per: dict[str, list[str]] = {}
            for g in got:
                per.setdefault(g["order"], []).append(g["message_id"])
            want: dict[str, list[str]] = {}
            for m in msgs:
                want.setdefault(m.order, []).append(m.message_id)
            assert per == want, "a order's messages arrived out of order"
        else:
            asyncio.run(_read_stream(url, f"BENCH_OUT_{tag}", delete=True))
        store.close()
        rates.append(n / el)
        bodies = [(f"bare{tag}.out.wms.shipping.request", m.body(), m.message_id) for m in msgs]
        bare_rates.append(n / asyncio.run(_bare(url, f"BENCH_BARE_{tag}", f"bare{tag}.out", bodies, max_pending)))
    rate, bare = sorted(rates)[len(rates) // 2], sorted(bare_rates)[len(bare_rates) // 2]
    params = {"messages": n, "orders": n // 5, "max_pending": max_pending, "repeats": len(rates)}
    return [
        Result("orchestration.outbox_nats", "throughput", rate, "messages/s", ">= 5,000 messages/s", rate >= 5000, params,
               notes=f"{rate / bare:.2f}x the bare nats-py publish_async loop ({bare:,.0f} messages/s) in the same run; read, "
                     "publish (core publishes with a reply inbox, pipelined across orders, an order's next message after its "
                     "previous ack), mark published; checked every message once and in order per order"),
        Result("orchestration.outbox_nats_bare", "throughput", bare, "messages/s", None, None, params,
               notes="bare reference: js.publish_async of the same pre-serialized bodies with Nats-Msg-Id, all acks awaited, "
                     "no store, no per-order ordering"),
    ]


def _capture_case(n: int, seed: int, tmp: Path) -> list[Result]:
    from orchestration import OrderEvent, Orchestrator, SqliteStore, ready_catalog
    from orchestration.records import SystemClock

    clock = SystemClock()

    def book(path: Path) -> sqlite3.Connection:
        c = sqlite3.connect(path, isolation_level=None)
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=FULL")
        c.execute("CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
        return c

    def capture(c: sqlite3.Connection, order: str, eng: Orchestrator | None) -> None:
        c.execute("BEGIN IMMEDIATE")
        c.execute("INSERT INTO orders VALUES (?, ?)", (order, json.dumps({"lines": [{"item": "SKU-1", "qty": 2}]})))
        if eng is not None:
            eng.handle(OrderEvent(kind="captured", order=order, at=clock.now(), attrs={"channel": "web"}), conn=c)
            eng.handle(OrderEvent(kind="scheduled", order=order, at=clock.now()), conn=c)
        c.execute("COMMIT")

    bare_c = book(tmp / "bare.sqlite")
    path = tmp / "orch.sqlite"
    store = SqliteStore(path)
    eng = Orchestrator(ready_catalog(), store, clock=clock)
    orch_c = book(path)
    for i in range(20):                       # warm-up
        capture(bare_c, f"W{i}", None)
        capture(orch_c, f"W{i}", eng)
    lat_b, lat_o = [], []
    for i in range(n):                        # interleaved, so both see the same disk
        t0 = time.perf_counter()
        capture(bare_c, f"S{seed}-{i}", None)
        lat_b.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        capture(orch_c, f"S{seed}-{i}", eng)
        lat_o.append(time.perf_counter() - t0)
    inst = store.instances_of(f"S{seed}-{n - 1}")
    assert [(i.process, i.step) for i in inst] == [("ship-from-node", "release")], inst
    assert [m.kind for m, _ in store.messages(order=f"S{seed}-0")] == ["order.status", "shipping.request"]
    tb, to = n / sum(lat_b), n / sum(lat_o)
    p99b, p99o = percentile(lat_b, 99) * 1e3, percentile(lat_o, 99) * 1e3
    bare_c.close()
    orch_c.close()
    store.close()
    params = {"orders": n, "steps": 6}
    return [
        # the store-level floor: the process's own writes next to a bare order-row write. Informational: the issue's
        # target ("capture through a 6-step process keeps 2/3 of capture without orchestration, p99 <= 1.5x") is
        # orchestration.orderbook_capture below, measured through the order book with and without processes
        Result("orchestration.capture", "throughput", to, "orders/s", None, None, params,
               notes=f"{to / tb:.2f}x the bare order-row write ({tb:,.0f} orders/s); p99 {p99o:.2f} ms vs {p99b:.2f} ms "
                     f"({p99o / p99b:.2f}x); one transaction each (WAL, synchronous=FULL) with capture + schedule "
                     "of the 6-step process and its outbox rows"),
        Result("orchestration.capture_p99", "p99", p99o, "ms", None, None, params,
               notes=f"bare p99 {p99b:.2f} ms"),
        Result("orchestration.capture_bare", "throughput", tb, "orders/s", None, None, params,
               notes="bare reference: the order row alone in its own transaction"),
    ]


def _snapshot(d: Path):
    """A small hand-made network: BULK with 10^9 on hand at DC-EAST (no capture is ever short)."""
    from supplydata import load_snapshot

    d.mkdir(parents=True, exist_ok=True)
    (d / "meta.json").write_text(json.dumps({"as_of": "2026-01-05", "horizon_days": 60}))
    (d / "items.csv").write_text("item,category,brand,price,cost,lead_time_days\nBULK,misc,acme,1,0.5,\n")
    (d / "locations.csv").write_text("location,kind,zone,country,calendar\nDC-EAST,dc,EAST,US,\n")
    (d / "supply.csv").write_text("item,location,date,qty,kind,ref\nBULK,DC-EAST,2026-01-05,1000000000,onhand,OH-1\n")
    (d / "lanes.csv").write_text("location,zone,transit_days,cost_per_unit,cost_per_shipment\nDC-EAST,EAST,1,0.1,5\n")
    (d / "sourcing.csv").write_text("zone,location,rank,item,category\nEAST,DC-EAST,1,,\n")
    return load_snapshot(d)


def _orderbook_capture_case(n: int, seed: int, tmp: Path, *, block: int = 50) -> list[Result]:
    """Capture through the order book (``OrderService.capture``: promise, journal, group commit) with and without
    each order's process (ship-from-node, 6 steps, driven by the order-book events), side by side in one run.

    Two engines over the same snapshot (order-to-cash off in both, so only the processes differ) capture in
    alternating blocks of ``block`` orders. A block of the orchestrated engine is timed until its event consumer
    has also applied the block's events (capture + schedule of each process, outbox rows), so the throughput
    counts the process work; latencies are the capture answers (durable order-book write)."""
    from orderbook.schemas import OrderCreate
    from promessa.app import Engine
    from promessa.config import settings_of

    snap = _snapshot(tmp / "snap")
    bare = Engine.open(settings_of(db=str(tmp / "bare" / "ob.sqlite"), processes=False, enabled=False), snapshot=snap)
    orch = Engine.open(settings_of(db=str(tmp / "orch" / "ob.sqlite"), processes=True, enabled=False,
                                   tick_s=3600.0), snapshot=snap)
    body = OrderCreate.model_validate({"customer": "C1", "zone": "EAST",
                                       "lines": [{"item": "BULK", "qty": 1, "requested_date": "2026-01-06"}]})
    try:
        for eng in (bare, orch):               # warm-up
            for _ in range(20):
                eng.service.capture(body, actor="bench")
        assert orch.orchestration.wait_idle(30.0)
        lat_b: list[float] = []
        lat_o: list[float] = []
        time_b = time_o = cap_o = 0.0
        done = 0
        while done < n:
            k = min(block, n - done)
            for eng, lat in ((bare, lat_b), (orch, lat_o)):
                t_block = time.perf_counter()
                for _ in range(k):
                    t0 = time.perf_counter()
                    st, _, _ = eng.service.capture(body, actor="bench")
                    lat.append(time.perf_counter() - t0)
                    assert st == 201
                if eng is orch:
                    cap_o += time.perf_counter() - t_block
                    assert orch.orchestration.wait_idle(30.0)
                    time_o += time.perf_counter() - t_block
                else:
                    time_b += time.perf_counter() - t_block
            done += k
        hub = orch.orchestration
        last = max(orch.service.orders.values(), key=lambda o: o.created_at).order_id
        assert [(i.process, i.step) for i in hub.store.instances_of(last)] == [("ship-from-node", "release")]
        assert [m.kind for m, _ in hub.store.messages(order=last)][:2] == ["order.status", "shipping.request"]
    finally:
        bare.close()
        orch.close()
    tb, to = n / time_b, n / time_o
    p99b, p99o = percentile(lat_b, 99) * 1e3, percentile(lat_o, 99) * 1e3
    params = {"orders": n, "steps": 6, "block": block}
    return [
        Result("orchestration.orderbook_capture", "throughput", to, "orders/s", ">= 2/3 of capture without processes",
               to >= tb * 2 / 3, params,
               notes=f"{to / tb:.2f}x capture through the order book without processes ({tb:,.0f} orders/s) in the same run; "
                     f"p99 of the capture answer {p99o:.2f} ms vs {p99b:.2f} ms ({p99o / p99b:.2f}x, target <= 1.5x); "
                     "each orchestrated block timed until its events were applied to the processes (the captures "
                     f"alone, with the processes following in the background: {n / cap_o:,.0f} orders/s, {n / cap_o / tb:.2f}x)"),
        Result("orchestration.orderbook_capture_p99", "p99", p99o, "ms", "<= 1.5x p99 without processes", p99o <= 1.5 * p99b,
               params, notes=f"without processes: p99 {p99b:.2f} ms"),
        Result("orchestration.orderbook_capture_bare", "throughput", tb, "orders/s", None, None, params,
               notes="reference: the same captures through the order book with orchestration.processes off"),
    ]


def run(*, size: str = "tiny", seed: int = 7, repeats: int = 1, nats_url: str = NATS_URL) -> list[Result]:
    """Time the outbox relay to NATS and capture through a 6-step process at ``size``; returns the results."""
    n_msgs, n_orders = SIZES[size]
    with tempfile.TemporaryDirectory(prefix="bench-orch-") as d:
        return (_outbox_case(n_msgs, seed, repeats, nats_url, Path(d)) + _capture_case(n_orders, seed, Path(d))
                + _orderbook_capture_case(n_orders, seed, Path(d)))


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=list(SIZES), default="tiny")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--nats", default=NATS_URL)
    a = ap.parse_args()
    for r in run(size=a.size, seed=a.seed, repeats=a.repeats, nats_url=a.nats):
        print(json.dumps({"case": r.case, "value": round(r.value, 3), "unit": r.unit, "target": r.target, "passed": r.passed,
                          "notes": r.notes}))
