"""The order book's records: order, line, schedule line, audit entry, journal entry.

Orders live in memory (the service owns them) and are written, whole, to the order book in
the same transaction as their audit entries and commitment-journal entries.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

EPS = 1e-9


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclasses.dataclass
class ScheduleLine:
    """A dated quantity of one line promised from one location; a commitment while open."""

    date: dt.date
    qty: float
    shipped_qty: float = 0.0

    @property
    def open_qty(self) -> float:
        return max(0.0, self.qty - self.shipped_qty)

    def to_dict(self) -> dict[str, Any]:
        return {"date": self.date.isoformat(), "qty": self.qty, "shipped_qty": self.shipped_qty}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScheduleLine:
        return cls(date=dt.date.fromisoformat(d["date"]), qty=float(d["qty"]), shipped_qty=float(d.get("shipped_qty", 0.0)))


@dataclasses.dataclass
class Line:
    line: int
    item: str
    qty: float
    requested_date: dt.date
    location: str | None = None        # chosen (or requested) fulfillment location
    requested_location: str | None = None
    unit_price: float | None = None
    price_override: bool = False
    demand_class: str | None = None
    schedule: list[ScheduleLine] = dataclasses.field(default_factory=list)
    shipped_qty: float = 0.0           # shipped units (including those shipped from closed schedule lines)
    delivered_qty: float = 0.0
    promise: dict[str, Any] | None = None  # the promising layer's explanation, passed through
    draws: list[dict[str, Any]] = dataclasses.field(default_factory=list)     # open reservation (Draw.to_dict())
    consumed: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # draws consumed by shipments

    @property
    def promised_qty(self) -> float:
        return sum(s.qty for s in self.schedule)

    @property
    def open_qty(self) -> float:
        """Units ordered and not yet shipped."""
        return max(0.0, self.qty - self.shipped_qty)

    @property
    def backordered_qty(self) -> float:
        return max(0.0, self.qty - self.promised_qty)

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "item": self.item,
            "qty": self.qty,
            "requested_date": self.requested_date.isoformat(),
            "location": self.location,
            "requested_location": self.requested_location,
            "unit_price": self.unit_price,
            "price_override": self.price_override,
            "demand_class": self.demand_class,
            "schedule": [s.to_dict() for s in self.schedule],
            "shipped_qty": self.shipped_qty,
            "delivered_qty": self.delivered_qty,
            "promise": self.promise,
            "draws": self.draws,
            "consumed": self.consumed,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Line:
        return cls(
            line=int(d["line"]),
            item=d["item"],
            qty=float(d["qty"]),
            requested_date=dt.date.fromisoformat(d["requested_date"]),
            location=d.get("location"),
            requested_location=d.get("requested_location"),
            unit_price=d.get("unit_price"),
            price_override=bool(d.get("price_override", False)),
            demand_class=d.get("demand_class"),
            schedule=[ScheduleLine.from_dict(s) for s in d.get("schedule", [])],
            shipped_qty=float(d.get("shipped_qty", 0.0)),
            delivered_qty=float(d.get("delivered_qty", 0.0)),
            promise=d.get("promise"),
            draws=list(d.get("draws", [])),
            consumed=list(d.get("consumed", [])),
        )


@dataclasses.dataclass
class Order:
    order_id: str
    customer: str
    status: str
    lines: list[Line]
    zone: str | None = None
    ship_to: dict[str, Any] | None = None
    demand_class: str | None = None
    priority: int | None = None
    source_system: str | None = None
    source_order_id: str | None = None
    hold_reasons: list[str] = dataclasses.field(default_factory=list)
    created_at: dt.datetime = dataclasses.field(default_factory=utcnow)
    updated_at: dt.datetime = dataclasses.field(default_factory=utcnow)
    created_by: str | None = None
    version: int = 1
    approval: dict[str, Any] | None = None   # who approved, when, the value and override lines approved
    policy: dict[str, Any] | None = None     # the order's promising policy, reused on change

    @property
    def requested_date(self) -> dt.date | None:
        return min((ln.requested_date for ln in self.lines), default=None)

    def value(self, catalogue_price) -> float:
        """Order value: sum of qty x unit price (the line's price, or the catalogue's)."""
        total = 0.0
        for ln in self.lines:
            price = ln.unit_price if ln.unit_price is not None else catalogue_price(ln.item)
            total += ln.qty * float(price or 0.0)
        return total

    def line(self, number: int) -> Line | None:
        for ln in self.lines:
            if ln.line == number:
                return ln
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "customer": self.customer,
            "status": self.status,
            "zone": self.zone,
            "ship_to": self.ship_to,
            "demand_class": self.demand_class,
            "priority": self.priority,
            "source_system": self.source_system,
            "source_order_id": self.source_order_id,
            "hold_reasons": list(self.hold_reasons),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "created_by": self.created_by,
            "version": self.version,
            "approval": self.approval,
            "policy": self.policy,
            "lines": [ln.to_dict() for ln in self.lines],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Order:
        return cls(
            order_id=d["order_id"],
            customer=d["customer"],
            status=d["status"],
            zone=d.get("zone"),
            ship_to=d.get("ship_to"),
            demand_class=d.get("demand_class"),
            priority=d.get("priority"),
            source_system=d.get("source_system"),
            source_order_id=d.get("source_order_id"),
            hold_reasons=list(d.get("hold_reasons", [])),
            created_at=dt.datetime.fromisoformat(d["created_at"]),
            updated_at=dt.datetime.fromisoformat(d["updated_at"]),
            created_by=d.get("created_by"),
            version=int(d.get("version", 1)),
            approval=d.get("approval"),
            policy=d.get("policy"),
            lines=[Line.from_dict(x) for x in d["lines"]],
        )

    def copy(self) -> Order:
        return Order.from_dict(self.to_dict())


@dataclasses.dataclass
class AuditEntry:
    order_id: str
    action: str              # capture, hold, approve, reject, change, cancel, ship, deliver, import
    actor: str
    from_status: str | None
    to_status: str | None
    detail: dict[str, Any] | None = None
    at: dt.datetime = dataclasses.field(default_factory=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id, "action": self.action, "actor": self.actor,
            "from_status": self.from_status, "to_status": self.to_status,
            "detail": self.detail, "at": self.at.isoformat(),
        }


@dataclasses.dataclass
class JournalEntry:
    """One commit (+qty) or release (-qty) of supply, with a monotonically increasing seq.

    `draw` is the promising layer's `Draw.to_dict()` (kind "atp": `key` is the item; other
    kinds, such as capable-to-promise "capacity", name a resource); `item`, `location`,
    `date` and `qty` repeat its key fields for queries."""

    seq: int
    kind: str                # "commit" | "release"
    item: str
    location: str
    date: dt.date
    qty: float               # always positive; `kind` gives the sign
    order_id: str | None = None
    line: int | None = None
    demand_class: str | None = None
    at: dt.datetime = dataclasses.field(default_factory=utcnow)
    draw: dict[str, Any] | None = None

    @property
    def draw_kind(self) -> str:
        return (self.draw or {}).get("kind", "atp")

    @property
    def signed_qty(self) -> float:
        return self.qty if self.kind == "commit" else -self.qty

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "kind": self.kind, "item": self.item, "location": self.location,
            "date": self.date.isoformat(), "qty": self.qty, "order_id": self.order_id, "line": self.line,
            "demand_class": self.demand_class, "at": self.at.isoformat(), "draw": self.draw,
        }


@dataclasses.dataclass
class Commitment:
    """An open (unshipped) reservation: what a snapshot refresh must carry over."""

    item: str
    location: str
    date: dt.date
    qty: float
    demand_class: str | None = None
    order_id: str | None = None
    line: int | None = None
    kind: str = "atp"              # draw kind ("atp": item supply; others e.g. "capacity")
    draw: dict[str, Any] | None = None


@dataclasses.dataclass
class WriteSet:
    """Everything one request changes, written in one transaction."""

    orders: list[Order] = dataclasses.field(default_factory=list)
    audit: list[AuditEntry] = dataclasses.field(default_factory=list)
    journal: list[JournalEntry] = dataclasses.field(default_factory=list)
    idempotency: list[tuple[str, str, int, str]] = dataclasses.field(default_factory=list)  # key, hash, status, body
    import_keys: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)  # system, source id, order id
    new_orders: set[str] = dataclasses.field(default_factory=set)  # ids in `orders` never written before

    def __bool__(self) -> bool:
        return bool(self.orders or self.audit or self.journal or self.idempotency or self.import_keys)
