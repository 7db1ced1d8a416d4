"""NATS JetStream: the outbox publisher and the inbound consumer (nats-py).

``NatsPublisher`` publishes each message to ``<prefix>.<system>.<kind>`` in a JetStream stream
with ``Nats-Msg-Id`` = the message id (JetStream drops a republished duplicate within its
duplicate window). Publishing is pipelined across orders (core NATS publishes with a reply inbox per message on one
connection; the JetStream acknowledgements come back to that inbox);
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
import json
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
        """Cancel what still runs on the loop (a drain that timed out, the client's flusher), let it finish, then stop
        and close the loop: no coroutine is left to be closed later from another thread."""
        async def _cancel_rest() -> None:
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in rest:
                t.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        if self.loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(_cancel_rest(), self.loop).result(5)
            except Exception:  # noqa: BLE001 - stopping anyway
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


_OPEN: Any = object()      # a group still sending


class _Call:
    """The state of one ``NatsPublisher.publish`` call: per group, the acknowledged prefix and its outcome."""

    __slots__ = ("inbox", "groups", "done", "errors", "left", "active", "next", "finished")

    def __init__(self, inbox: str, groups: list[Sequence[Message]]) -> None:
        self.inbox, self.groups = inbox, groups
        self.done = [0] * len(groups)
        self.errors: list[Any] = [_OPEN if g else None for g in groups]
        self.left = sum(1 for g in groups if g)
        self.active = 0             # groups started and not over (each has one message awaiting its acknowledgement)
        self.next = 0               # the first group not started
        self.finished = asyncio.Event()


def _ack_error(msg: Any) -> str:
    """The reason in a JetStream publish answer that is not an acknowledgement."""
    if msg.headers and msg.headers.get("Status") == "503":
        return "no responders: no JetStream stream listens on this subject"
    try:
        err = json.loads(msg.data).get("error") or {}
    except (ValueError, AttributeError):
        return f"not a JetStream acknowledgement: {msg.data[:80]!r}"
    return f"JetStream error {err.get('err_code', err.get('code', '?'))}: {err.get('description', '')}"


class NatsPublisher:
    """Outbox publisher to NATS JetStream.

    Parameters
    ----------
    url : the NATS server
    stream : the JetStream stream (created when absent, over ``<prefix>.>``)
    prefix : subject prefix; a message goes to ``<prefix>.<system>.<kind>``
    max_pending : groups with a message awaiting its acknowledgement at once, per ``publish`` call (calls from several
        threads run side by side, each with its own acknowledgements)
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
        self._js = self._nc.jetstream(timeout=self.timeout_s)
        try:
            await self._js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            await self._js.add_stream(StreamConfig(name=self.stream, subjects=[f"{self.prefix}.>"]))
        self._inbox = self._nc.new_inbox()       # acknowledgements come to <inbox>.<call>.<group>.<position>
        self._skip = len(self._inbox) + 1
        self._calls = 0
        self._open: dict[str, _Call] = {}          # the publish calls in progress, by number
        await self._nc.subscribe(f"{self._inbox}.>", cb=self._on_ack)

    def subject(self, m: Message) -> str:
        """Where ``m`` is published."""
        return f"{self.prefix}.{m.system}.{m.kind}"

    async def _send(self, call: _Call, g: int) -> str | None:
        """Publish group ``g``'s next message (position ``call.done[g]``), its acknowledgement to come to the call's
        inbox; returns the error when the publish itself raised."""
        j = call.done[g]
        m = call.groups[g][j]
        try:
            await self._nc.publish(self.subject(m), m.body(), reply=f"{call.inbox}{g}.{j}", headers={"Nats-Msg-Id": m.message_id})
        except Exception as e:  # noqa: BLE001 - a failed publish is a result, retried by the relay
            return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        return None

    async def _fill(self, call: _Call) -> None:
        """Start waiting groups while fewer than ``max_pending`` are sending (a group whose first publish raises
        ends at once)."""
        while call.active < self.max_pending and call.next < len(call.groups):
            g = call.next
            call.next += 1
            if not call.groups[g]:
                continue
            call.active += 1
            err = await self._send(call, g)
            if err is not None:
                self._close_group(call, g, err)
        if call.left == 0:
            call.finished.set()

    @staticmethod
    def _close_group(call: _Call, g: int, err: str | None) -> None:
        call.errors[g] = err
        call.left -= 1
        call.active -= 1

    async def _end(self, call: _Call, g: int, err: str | None) -> None:
        """Group ``g`` is over (delivered, or stopped at ``err``): start the groups waiting for room."""
        self._close_group(call, g, err)
        await self._fill(call)

    async def _on_ack(self, msg: Any) -> None:
        """A JetStream acknowledgement (or error) for one published message: count it and send the group's next."""
        try:
            c, g_, j_ = msg.subject[self._skip:].split(".")
            call, g, j = self._open.get(c), int(g_), int(j_)
        except ValueError:
            return
        if call is None or g >= len(call.groups) or call.errors[g] is not _OPEN or call.done[g] != j:
            return                                              # a late or repeated answer
        data = msg.data
        if data[:1] != b"{" or b'"error"' in data:
            await self._end(call, g, _ack_error(msg))
            return
        call.done[g] = j + 1
        if j + 1 < len(call.groups[g]):
            err = await self._send(call, g)
            if err is not None:
                await self._end(call, g, err)
        else:
            await self._end(call, g, None)

    async def _all(self, groups: Sequence[Sequence[Message]]) -> list[GroupResult]:
        """Every group at once, pipelined on one connection (at most ``max_pending`` groups with a message awaiting
        its acknowledgement); within a group the next message is sent only after the previous one was acknowledged,
        so one order's messages are stored in order even when a publish fails. A group still waiting after the
        timeout stops there (its acknowledged prefix counts)."""
        self._calls += 1
        key = str(self._calls)
        call = _Call(f"{self._inbox}.{key}.", list(groups))
        self._open[key] = call
        try:
            await self._fill(call)
            if call.left:
                try:
                    await asyncio.wait_for(call.finished.wait(), timeout=self.timeout_s * (1 + sum(len(g) for g in groups) / 1000))
                except TimeoutError:
                    pass
        finally:
            del self._open[key]
        return [(call.done[i], "no acknowledgement in time" if e is _OPEN else e) for i, e in enumerate(call.errors)]

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
