"""NATS JetStream: the outbox publisher and the inbound consumer (nats-py).

``NatsPublisher`` publishes each message to ``<prefix>.<system>.<kind>`` in a JetStream stream
with ``Nats-Msg-Id`` = the message id (JetStream drops a republished duplicate within its
duplicate window). Publishing is pipelined across orders (``publish_async`` on one connection);
an order's next message goes out only after its previous one was acknowledged, so one order's
messages are stored in order even when a publish fails.

``NatsInbox`` pulls status updates (``inbound.update`` envelopes) from a durable consumer and
hands each to ``Orchestrator.receive`` (idempotent by message id), acknowledging it after the
engine's transaction committed; a redelivered update changes nothing.

nats-py is asyncio; both classes run their own event loop in a daemon thread so the engine,
the relay and their callers stay synchronous.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine, Sequence
from typing import Any
from urllib.parse import urlparse

import nats
from nats.js.api import StreamConfig

from promessa.errors import PromessaError, ValidationError

from .engine import Orchestrator
from .outbox import GroupResult
from .records import InboundUpdate, Message


def nats_reachable(url: str = "nats://127.0.0.1:4222", *, timeout_s: float = 1.0) -> bool:
    """True when something accepts TCP connections at the NATS URL."""
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or 4222), timeout=timeout_s):
            return True
    except OSError:
        return False


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="promessa-nats", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout_s: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


class NatsPublisher:
    """Outbox publisher to NATS JetStream.

    Parameters
    ----------
    url : the NATS server
    stream : the JetStream stream (created when absent, over ``<prefix>.>``)
    prefix : subject prefix; a message goes to ``<prefix>.<system>.<kind>``
    max_pending : publishes awaiting their acknowledgement at once
    timeout_s : connect and per-call timeout
    """

    def __init__(self, url: str = "nats://127.0.0.1:4222", *, stream: str = "PROMESSA_OUT", prefix: str = "promessa.out",
                 max_pending: int = 4000, timeout_s: float = 5.0) -> None:
        self.url, self.stream, self.prefix, self.timeout_s = url, stream, prefix, timeout_s
        self._lt = _LoopThread()
        self.max_pending = max_pending
        try:
            self._lt.run(self._connect(), timeout_s + 1)
        except Exception as e:  # noqa: BLE001 - any failure to connect is reported the same way
            self._lt.stop()
            raise PromessaError(f"NATS at {url} not usable: {type(e).__name__}: {e}", hint="is nats-server running with -js?") from e

    async def _connect(self) -> None:
        self._nc = await nats.connect(self.url, connect_timeout=self.timeout_s, allow_reconnect=True, max_reconnect_attempts=3)
        self._js = self._nc.jetstream(timeout=self.timeout_s, publish_async_max_pending=self.max_pending)
        try:
            await self._js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            await self._js.add_stream(StreamConfig(name=self.stream, subjects=[f"{self.prefix}.>"]))

    def subject(self, m: Message) -> str:
        """Where ``m`` is published."""
        return f"{self.prefix}.{m.system}.{m.kind}"

    async def _group(self, g: Sequence[Message], done: list[int], i: int) -> str | None:
        for m in g:
            try:
                await (await self._js.publish_async(self.subject(m), m.body(), headers={"Nats-Msg-Id": m.message_id}))
            except Exception as e:  # noqa: BLE001 - a failed publish is a result, retried by the relay
                return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            done[i] += 1
        return None

    async def _all(self, groups: Sequence[Sequence[Message]]) -> list[GroupResult]:
        """Every group at once, pipelined on one connection (``publish_async``, at most ``max_pending``
        unacknowledged); within a group the next message is sent only after the previous one was acknowledged,
        so one order's messages are stored in order even when a publish fails. A group still waiting after the
        timeout stops there (its acknowledged prefix counts)."""
        done = [0] * len(groups)
        tasks = [asyncio.ensure_future(self._group(g, done, i)) for i, g in enumerate(groups)]
        _, late = await asyncio.wait(tasks, timeout=self.timeout_s * (1 + sum(len(g) for g in groups) / 1000))
        for t in late:
            t.cancel()
        return [(done[i], "no acknowledgement in time" if t in late else t.result()) for i, t in enumerate(tasks)]

    def publish(self, groups: Sequence[Sequence[Message]]) -> list[GroupResult]:
        """Publish the groups (concurrently across groups, in order within one); returns each group's result."""
        n = sum(len(g) for g in groups)
        return self._lt.run(self._all(groups), self.timeout_s * (2 + n / 1000))

    def close(self) -> None:
        """Drain and close the connection and stop the loop thread."""
        try:
            self._lt.run(self._nc.drain(), self.timeout_s)
        finally:
            self._lt.stop()


class NatsInbox:
    """Consumes status updates from JetStream into ``Orchestrator.receive``.

    Parameters
    ----------
    engine : the orchestrator
    url : the NATS server
    stream : the inbound stream (created when absent, over ``<prefix>.>``)
    prefix : inbound subjects, e.g. ``promessa.in.<system>``
    durable : the durable consumer name (its position survives restarts)
    """

    def __init__(self, engine: Orchestrator, url: str = "nats://127.0.0.1:4222", *, stream: str = "PROMESSA_IN",
                 prefix: str = "promessa.in", durable: str = "promessa-inbox", timeout_s: float = 5.0) -> None:
        self.engine, self.url, self.stream, self.prefix, self.durable, self.timeout_s = engine, url, stream, prefix, durable, timeout_s
        self.rejected: list[tuple[bytes, str]] = []
        self._lt = _LoopThread()
        try:
            self._lt.run(self._connect(), timeout_s + 1)
        except Exception as e:  # noqa: BLE001
            self._lt.stop()
            raise PromessaError(f"NATS at {url} not usable: {type(e).__name__}: {e}") from e

    async def _connect(self) -> None:
        self._nc = await nats.connect(self.url, connect_timeout=self.timeout_s)
        self._js = self._nc.jetstream(timeout=self.timeout_s)
        try:
            await self._js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            await self._js.add_stream(StreamConfig(name=self.stream, subjects=[f"{self.prefix}.>"]))
        self._sub = await self._js.pull_subscribe(f"{self.prefix}.>", durable=self.durable, stream=self.stream)

    async def _fetch(self, batch: int, wait_s: float) -> list[Any]:
        try:
            return await self._sub.fetch(batch, timeout=wait_s)
        except nats.errors.TimeoutError:
            return []

    def consume_once(self, *, batch: int = 100, wait_s: float = 0.5) -> int:
        """Pull up to ``batch`` updates and apply each (duplicates change nothing); returns how many were pulled.
        An update that is not valid is acknowledged and kept in ``rejected`` with the reason."""
        msgs = self._lt.run(self._fetch(batch, wait_s), wait_s + self.timeout_s)
        for m in msgs:
            try:
                self.engine.receive(InboundUpdate.from_json(m.data))
            except ValidationError as e:
                self.rejected.append((m.data, str(e)))
            self._lt.run(m.ack(), self.timeout_s)
        return len(msgs)

    def publish_update(self, update: dict[str, Any], *, system: str) -> None:
        """Put an update on the inbound stream (what a fulfilment system does; used by tests and demos)."""
        import json

        async def _pub() -> None:
            await self._js.publish(f"{self.prefix}.{system}", json.dumps(update).encode())
        self._lt.run(_pub(), self.timeout_s)

    def close(self) -> None:
        """Close the connection and stop the loop thread."""
        try:
            self._lt.run(self._nc.drain(), self.timeout_s)
        finally:
            self._lt.stop()
