"""Typed records: order events in, inbound status updates, messages out, alerts, effects and the clock.

Order events (``OrderEvent``) are what the order book tells the engine: captured, changed,
cancelled, scheduled, released, shipped, delivered, invoiced, paid. Status updates from
fulfilment systems (``InboundUpdate``) carry a message id from the sender and are consumed
once (the inbox). Messages out (``Message``) are rows of the outbox; each kind has a JSON
schema in ``orchestration/schemas/<kind>.json``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from enum import StrEnum
from typing import Any, Protocol

from promessa.errors import ValidationError


class EventKind(StrEnum):
    """What happened to an order, as the order book reports it."""

    CAPTURED = "captured"
    CHANGED = "changed"
    CANCELLED = "cancelled"
    SCHEDULED = "scheduled"
    RELEASED = "released"
    PICKED = "picked"
    PACKED = "packed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    INVOICED = "invoiced"
    PAID = "paid"


def utc(ts: dt.datetime) -> dt.datetime:
    """``ts`` as an aware UTC datetime; naive datetimes are refused (wall-clock records carry their zone)."""
    if ts.tzinfo is None:
        raise ValidationError("timestamps must carry a time zone", field="at", value=ts.isoformat())
    return ts.astimezone(dt.UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class OrderEvent:
    """An event of one order (``line`` None: every line of it). ``attrs`` are the order/line attributes
    (channel, item_kind, ship_method, configured, customer_segment, email, item, qty, node, to_node...)
    known at the event: on ``captured`` they choose the process, on ``changed`` they replace the old ones."""

    kind: EventKind
    order: str
    at: dt.datetime
    line: str | None = None
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    lines: tuple[str, ...] = ()     # on captured: the lines, each getting its own process (empty: one per order)
    line_attrs: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # per-line attributes on captured
    event_id: str = ""

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", EventKind(self.kind))
        except ValueError:
            raise ValidationError(f"unknown order event (known: {', '.join(k.value for k in EventKind)})", field="kind",
                                  value=self.kind) from None
        if not self.order:
            raise ValidationError("an event needs an order", field="order", value=self.order)
        object.__setattr__(self, "at", utc(self.at))


@dataclasses.dataclass(frozen=True, slots=True)
class InboundUpdate:
    """A status update from a fulfilment system (supplier ack, shipment notice, transfer receipt...).

    ``message_id`` is the sender's id: a second update with the same id changes nothing."""

    message_id: str
    system: str
    event: str
    order: str
    at: dt.datetime
    line: str | None = None
    payload: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for f in ("message_id", "system", "event", "order"):
            if not getattr(self, f):
                raise ValidationError("is required", field=f, value=getattr(self, f))
        object.__setattr__(self, "at", utc(self.at))

    @classmethod
    def from_json(cls, body: bytes | str) -> InboundUpdate:
        """Parse an inbound message body (the ``inbound.update`` schema); ValidationError names the field."""
        try:
            d = json.loads(body)
        except json.JSONDecodeError as e:
            raise ValidationError(f"not JSON: {e}", field="body", value=str(body)[:80]) from None
        if not isinstance(d, dict):
            raise ValidationError("must be an object", field="body", value=str(body)[:80])
        unknown = set(d) - {"message_id", "system", "event", "order", "line", "at", "payload"}
        if unknown:
            raise ValidationError("unknown field", field=sorted(unknown)[0], value=d[sorted(unknown)[0]])
        try:
            at = dt.datetime.fromisoformat(d.get("at", ""))
        except (TypeError, ValueError):
            raise ValidationError("not an ISO 8601 timestamp", field="at", value=d.get("at")) from None
        return cls(message_id=d.get("message_id", ""), system=d.get("system", ""), event=d.get("event", ""),
                   order=d.get("order", ""), line=d.get("line"), at=at, payload=d.get("payload") or {})


class Message:
    """One outbox row: ``kind`` (its schema), addressed to ``system``; ``seq`` is the outbox order (set by the store).

    A row read back from the outbox carries ``raw_payload`` (the stored JSON text): its ``payload`` is decoded on
    first use only, and ``body()`` splices the stored text into the envelope, so the relay never decodes and
    re-encodes a payload. Immutable; equal when every field but ``raw_payload`` is equal."""

    __slots__ = ("message_id", "kind", "system", "order", "line", "created_at", "seq", "raw_payload", "_payload")

    message_id: str
    kind: str
    system: str
    order: str
    line: str | None
    created_at: dt.datetime
    seq: int
    raw_payload: str | None

    def __init__(self, message_id: str, kind: str, system: str, order: str, line: str | None, created_at: dt.datetime,
                 payload: dict[str, Any] | None = None, seq: int = 0, raw_payload: str | None = None) -> None:
        if payload is None and raw_payload is None:
            raise ValidationError("a message needs a payload", field="payload", value=None)
        put = object.__setattr__
        put(self, "message_id", message_id)
        put(self, "kind", kind)
        put(self, "system", system)
        put(self, "order", order)
        put(self, "line", line)
        put(self, "created_at", created_at)
        put(self, "seq", seq)
        put(self, "raw_payload", raw_payload)
        put(self, "_payload", payload)

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    @property
    def payload(self) -> dict[str, Any]:
        """The payload (decoded from ``raw_payload`` on first use for a row read back)."""
        p = self._payload
        if p is None:
            p = json.loads(self.raw_payload)
            object.__setattr__(self, "_payload", p)
        return p

    def _key(self) -> tuple:
        return (self.message_id, self.kind, self.system, self.order, self.line, self.created_at, self.payload, self.seq)

    def __eq__(self, other: object) -> bool:
        return self._key() == other._key() if isinstance(other, Message) else NotImplemented

    __hash__ = None  # type: ignore[assignment] - the payload is a dict

    def __repr__(self) -> str:
        return (f"Message(message_id={self.message_id!r}, kind={self.kind!r}, system={self.system!r}, order={self.order!r}, "
                f"line={self.line!r}, created_at={self.created_at!r}, payload={self.payload!r}, seq={self.seq!r})")

    @property
    def subject(self) -> str:
        """Broker subject: ``promessa.out.<system>.<kind>``."""
        return f"promessa.out.{self.system}.{self.kind}"

    @property
    def order_key(self) -> str:
        """Messages with the same key are delivered in outbox order."""
        return self.order

    def body(self) -> bytes:
        """The JSON envelope published (the ``envelope`` schema with ``payload`` per kind)."""
        if self.raw_payload is not None:     # read back from the outbox: splice the stored payload text in
            return (f'{{"created_at": {json.dumps(self.created_at.isoformat())}, "kind": {json.dumps(self.kind)}, '
                    f'"line": {json.dumps(self.line)}, "message_id": {json.dumps(self.message_id)}, '
                    f'"order": {json.dumps(self.order)}, "payload": {self.raw_payload}, "system": {json.dumps(self.system)}}}').encode()
        return json.dumps({"message_id": self.message_id, "kind": self.kind, "system": self.system, "order": self.order,
                           "line": self.line, "created_at": self.created_at.isoformat(), "payload": self.payload},
                          sort_keys=True, default=str).encode()


def new_id() -> str:
    """A fresh random id: 32 hex digits from 128 random bits (``os.urandom``), like ``uuid4().hex`` without building
    a UUID object (about five times cheaper; ids are opaque)."""
    return os.urandom(16).hex()


def new_message(kind: str, system: str, order: str, line: str | None, at: dt.datetime, payload: dict[str, Any]) -> Message:
    """A Message with a fresh id."""
    return Message(new_id(), kind, system, order, line, at, payload)


@dataclasses.dataclass(frozen=True, slots=True)
class JeopardyAlert:
    """A step past its expected duration (or out of retries): the step, its system and how late, in seconds."""

    instance_id: str
    order: str
    line: str | None
    process: str
    version: int
    step: str
    system: str
    late_s: float
    raised_at: dt.datetime
    reason: str = "late"        # late | failed


@dataclasses.dataclass(frozen=True, slots=True)
class Effect:
    """A record for the order book to apply: ``line_closed`` {order, line} or ``supply_delta`` {item, location,
    date, qty, ref} (``to_supply_delta`` gives a ``supplydata.live.SupplyDelta``)."""

    effect_id: str
    kind: str
    order: str
    line: str | None
    payload: dict[str, Any]
    created_at: dt.datetime

    def to_supply_delta(self):
        """The supply delta of a ``supply_delta`` effect (a receipt at the receiving node)."""
        from supplydata.live import SupplyDelta

        if self.kind != "supply_delta":
            raise ValidationError("not a supply delta", field="kind", value=self.kind)
        p = self.payload
        return SupplyDelta(item=p["item"], location=p["location"], date=dt.date.fromisoformat(p["date"]), qty=float(p["qty"]),
                           kind="receipt", ref=p.get("ref"))


class Clock(Protocol):
    """The injected clock: wall-clock time for record timestamps and step deadlines."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    """The machine's UTC wall clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)
