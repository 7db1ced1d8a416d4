"""The order book's domain records: order, line, schedule line, promise, draw, audit entry,
journal entry and supply delta.

Every record is typed end to end: the same record is held in memory, written to the order
book (``to_dict``), replayed at start-up (``from_dict``) and rendered by the queries. A line's
promise is a :class:`PromiseRecord` whoever made it (capture, change or rescheduling); its
open reservation and its consumption are lists of the promising layer's :class:`Draw`.

Orders live in memory (the service owns them) and are written, whole, to the order book in
the same transaction as their audit entries, commitment-journal entries and supply deltas.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from decimal import Decimal
from enum import StrEnum
from collections.abc import Iterable
from typing import Any

from customers import Customer
from pricing import CatalogueChange, LineWaterfall, ManualAdjustment
from promessa.config import EPS
from promessa.money import Money
from promising import Draw, Promise, Reason, Status

__all__ = ["EPS", "AuditEntry", "CatalogueEntry", "Commitment", "CustomerEntry", "DeltaEntry", "Draw", "Hold", "JournalEntry",
           "Line", "Order", "OrderTotals", "PegRecord", "PricingEntry", "PromiseRecord", "PromisedLine", "ReservationStatus",
           "ScheduleLine", "StockReservation", "WriteSet", "utcnow"]


def utcnow() -> dt.datetime:
    """The wall-clock time of a record (UTC); never a business date."""
    return dt.datetime.now(dt.timezone.utc)


def _date(v: str | dt.date | None) -> dt.date | None:
    if v is None or isinstance(v, dt.date):
        return v
    return dt.date.fromisoformat(v[:10])


@dataclasses.dataclass(frozen=True, slots=True)
class PromisedLine:
    """One dated quantity of a promise (what the promising layer answered)."""

    date: dt.date
    qty: float


@dataclasses.dataclass(frozen=True, slots=True)
class PegRecord:
    """The part of a promised line covered by one supply record (`ref`), or by replenishment."""

    line: int
    qty: float
    supply_date: dt.date | None
    kind: str
    ref: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "qty": self.qty, "supply_date": self.supply_date.isoformat() if self.supply_date else None,
                "kind": self.kind, "ref": self.ref}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PegRecord:
        return cls(line=int(d.get("line", 0)), qty=float(d.get("qty") or 0.0), supply_date=_date(d.get("supply_date")),
                   kind=str(d.get("kind") or "unknown"), ref=d.get("ref"))


@dataclasses.dataclass(frozen=True)
class PromiseRecord:
    """A line's promise, explained: what was asked, what was promised, the binding constraint and
    the supply it pegs to. `source` says who made it: ``capture``, ``change`` or ``reschedule``;
    `details` holds what that path adds (allocation, capable-to-promise, rescheduling strategy)."""

    item: str
    location: str
    qty: float
    requested_date: dt.date
    status: str                      # promising.Status name, lower case
    reason: str                      # promising.Reason name, lower case
    lines: tuple[PromisedLine, ...] = ()
    demand_class: str | None = None
    earliest_full_date: dt.date | None = None
    pegs: tuple[PegRecord, ...] = ()
    committed: bool = False
    message: str = ""
    source: str = "capture"
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def promised_qty(self) -> float:
        return float(sum(ln.qty for ln in self.lines))

    @property
    def short_qty(self) -> float:
        return max(0.0, float(self.qty) - self.promised_qty)

    @classmethod
    def from_promise(cls, p: Promise, *, source: str = "capture", details: dict[str, Any] | None = None) -> PromiseRecord:
        """The record of a promising-layer answer (`promising.Promise`)."""
        r = p.request
        return cls(item=r.item, location=r.location, qty=float(r.qty), requested_date=r.requested_date,
                   status=p.status.name.lower(), reason=p.reason.name.lower(),
                   lines=tuple(PromisedLine(ln.date, float(ln.qty)) for ln in p.lines), demand_class=r.demand_class,
                   earliest_full_date=p.earliest_full_date,
                   pegs=tuple(PegRecord(pg.line, float(pg.qty), pg.supply_date, pg.kind, pg.ref) for pg in p.pegs),
                   committed=bool(p.committed), message=p.message, source=source,
                   details={**(p.details or {}), **(details or {})})

    def to_dict(self) -> dict[str, Any]:
        """The stored and rendered form (computed once: the record is immutable; a shallow copy each call)."""
        cached = self.__dict__.get("_dict")
        if cached is None:
            cached = self._to_dict()
            object.__setattr__(self, "_dict", cached)
        return dict(cached)

    def _to_dict(self) -> dict[str, Any]:
        return {
            "item": self.item, "location": self.location, "qty": self.qty,
            "requested_date": self.requested_date.isoformat(), "demand_class": self.demand_class,
            "status": self.status, "reason": self.reason, "promised_qty": self.promised_qty, "short_qty": self.short_qty,
            "lines": [{"date": ln.date.isoformat(), "qty": ln.qty} for ln in self.lines],
            "earliest_full_date": self.earliest_full_date.isoformat() if self.earliest_full_date else None,
            "pegs": [pg.to_dict() for pg in self.pegs], "committed": self.committed, "message": self.message,
            "source": self.source, "details": self.details,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, line: Line | None = None) -> PromiseRecord:
        """Read a stored promise. Documents written before promises were typed may hold a short
        rescheduling summary (no item, no lines): it is rebuilt from `line` and its schedule."""
        if "item" not in d and line is not None:
            status = str(d.get("status") or ("full" if line.backordered_qty <= EPS else "partial"))
            reason = reason_name(d.get("reason"))
            sched = tuple(PromisedLine(s.date, s.qty - s.shipped_qty) for s in line.schedule if s.qty - s.shipped_qty > EPS)
            rec = cls(item=line.item, location=line.location or "", qty=line.open_qty, requested_date=line.requested_date,
                      status=status if status in _STATUSES else "partial", reason=reason, lines=sched,
                      demand_class=line.demand_class, committed=True, source=str(d.get("source") or "reschedule"),
                      details={k: v for k, v in d.items() if k in ("strategy", "change")})
            return dataclasses.replace(rec, message=rec.describe())
        return cls(
            item=d["item"], location=d["location"], qty=float(d["qty"]), requested_date=_date(d["requested_date"]),
            status=str(d["status"]), reason=str(d["reason"]),
            lines=tuple(PromisedLine(_date(x["date"]), float(x["qty"])) for x in d.get("lines") or ()),
            demand_class=d.get("demand_class"), earliest_full_date=_date(d.get("earliest_full_date")),
            pegs=tuple(PegRecord.from_dict(x) for x in d.get("pegs") or ()), committed=bool(d.get("committed", False)),
            message=str(d.get("message") or ""), source=str(d.get("source") or "capture"), details=dict(d.get("details") or {}),
        )

    def describe(self) -> str:
        """The one-line explanation (the promising layer's wording)."""
        head = f"{self.promised_qty:g} of {self.qty:g} {self.item} at {self.location}"
        if self.lines:
            head += " on " + ", ".join(f"{ln.date} ({ln.qty:g})" for ln in self.lines)
        head += f": {Status[self.status.upper()].description}"
        if self.reason != "none":
            head += f"; {Reason[self.reason.upper()].description}"
        if self.status != "full" and self.earliest_full_date is not None:
            head += f"; the whole quantity is available on {self.earliest_full_date}"
        return head


_STATUSES = frozenset(s.name.lower() for s in Status)


def reason_name(v: Any) -> str:
    """A reason given by name or by description (rescheduling reports descriptions)."""
    if v is None:
        return "none"
    s = str(v)
    if s.upper() in Reason.__members__:
        return s.lower()
    for r in Reason:
        if r.description == s:
            return r.name.lower()
    return "supply"


@dataclasses.dataclass
class ScheduleLine:
    """A dated quantity of one line promised from one location; a commitment while open."""

    date: dt.date
    qty: float
    shipped_qty: float = 0.0
    item: str | None = None   # the item promised when a substitute answered; None: the line's own item

    @property
    def open_qty(self) -> float:
        return max(0.0, self.qty - self.shipped_qty)

    def to_dict(self) -> dict[str, Any]:
        out = {"date": self.date.isoformat(), "qty": self.qty, "shipped_qty": self.shipped_qty}
        if self.item is not None:
            out["item"] = self.item
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScheduleLine:
        return cls(date=dt.date.fromisoformat(d["date"]), qty=float(d["qty"]), shipped_qty=float(d.get("shipped_qty", 0.0)),
                   item=d.get("item"))


@dataclasses.dataclass
class Line:
    """An order line: what was asked, where it ships from, its schedule lines, its promise and
    the draws that reserve it. A configured line also keeps its `configuration` (the model, the
    version pinned at capture and the choices); its draws are then its components' and capacity's."""

    line: int
    item: str
    qty: float
    requested_date: dt.date
    location: str | None = None        # chosen (or requested) fulfillment location
    requested_location: str | None = None
    unit_price: Decimal | None = None  # a unit price typed at capture or change (a manual override when it differs)
    price_override: bool = False
    demand_class: str | None = None
    schedule: list[ScheduleLine] = dataclasses.field(default_factory=list)
    shipped_qty: float = 0.0           # shipped units (including those shipped from closed schedule lines)
    delivered_qty: float = 0.0
    promise: PromiseRecord | None = None  # the last promise made for the line, explained
    draws: list[Draw] = dataclasses.field(default_factory=list)     # open reservation
    consumed: list[Draw] = dataclasses.field(default_factory=list)  # draws consumed by shipments
    waterfall: LineWaterfall | None = None  # the line's price explained (pricing.LineWaterfall), exact Money
    configuration: dict[str, Any] | None = None  # a configured line: {model, version (pinned), choices}

    @property
    def promised_qty(self) -> float:
        return sum(s.qty for s in self.schedule)

    def copy(self) -> Line:
        """A copy with its own schedule lines and lists (the promise and draws are immutable)."""
        return dataclasses.replace(self, schedule=[dataclasses.replace(sl) for sl in self.schedule],
                                   draws=list(self.draws), consumed=list(self.consumed))

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
            "unit_price": None if self.unit_price is None else str(self.unit_price),
            "price_override": self.price_override,
            "demand_class": self.demand_class,
            "schedule": [s.to_dict() for s in self.schedule],
            "shipped_qty": self.shipped_qty,
            "delivered_qty": self.delivered_qty,
            "promise": self.promise.to_dict() if self.promise is not None else None,
            "draws": [d.to_dict() for d in self.draws],
            "consumed": [d.to_dict() for d in self.consumed],
            "waterfall": self.waterfall.to_dict() if self.waterfall is not None else None,
            "configuration": copy.deepcopy(self.configuration),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Line:
        ln = cls(
            line=int(d["line"]),
            item=d["item"],
            qty=float(d["qty"]),
            requested_date=dt.date.fromisoformat(d["requested_date"]),
            location=d.get("location"),
            requested_location=d.get("requested_location"),
            unit_price=_decimal(d.get("unit_price")),
            price_override=bool(d.get("price_override", False)),
            demand_class=d.get("demand_class"),
            schedule=[ScheduleLine.from_dict(s) for s in d.get("schedule", [])],
            shipped_qty=float(d.get("shipped_qty", 0.0)),
            delivered_qty=float(d.get("delivered_qty", 0.0)),
            draws=[Draw.from_dict(x) for x in d.get("draws", ())],
            consumed=[Draw.from_dict(x) for x in d.get("consumed", ())],
            waterfall=LineWaterfall.from_dict(d["waterfall"]) if d.get("waterfall") else None,
            configuration=d.get("configuration"),
        )
        if d.get("promise"):
            ln.promise = PromiseRecord.from_dict(d["promise"], line=ln)
        return ln


@dataclasses.dataclass
class Order:
    """A customer order: header, lines, status, hold reasons and approval."""

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
    holds: list[Hold] = dataclasses.field(default_factory=list)   # why it is on hold, with the figures / list hits
    totals: OrderTotals | None = None        # the priced sums (the lines hold their waterfalls)
    manual: list[ManualAdjustment] = dataclasses.field(default_factory=list)  # manual price adjustments (with reasons)
    ship_country: str | None = None          # the ship-to country and region pricing and screening used
    ship_region: str | None = None
    order_type: str | None = None            # the order header's codes the processes read (assignment, branches)
    ship_method: str | None = None

    @property
    def requested_date(self) -> dt.date | None:
        return min((ln.requested_date for ln in self.lines), default=None)

    @property
    def value(self) -> Money | None:
        """The order value: its priced net (exact, in its currency); None before it is priced."""
        return self.totals.net if self.totals is not None else None

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
            "holds": [h.to_dict() for h in self.holds],
            "totals": self.totals.to_dict() if self.totals is not None else None,
            "manual": [m.to_dict() for m in self.manual],
            "ship_country": self.ship_country,
            "ship_region": self.ship_region,
            "order_type": self.order_type,
            "ship_method": self.ship_method,
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
            holds=[Hold.from_dict(h) for h in d.get("holds") or ()],
            totals=OrderTotals.from_dict(d["totals"]) if d.get("totals") else None,
            manual=[ManualAdjustment.from_dict(m) for m in d.get("manual") or ()],
            ship_country=d.get("ship_country"),
            ship_region=d.get("ship_region"),
            order_type=d.get("order_type"),
            ship_method=d.get("ship_method"),
            lines=[Line.from_dict(x) for x in d["lines"]],
        )

    def copy(self) -> Order:
        """A copy that shares nothing mutable (promises and draws are immutable records)."""
        return dataclasses.replace(
            self, lines=[ln.copy() for ln in self.lines], hold_reasons=list(self.hold_reasons),
            ship_to=copy.deepcopy(self.ship_to), approval=copy.deepcopy(self.approval), policy=copy.deepcopy(self.policy),
            holds=list(self.holds), manual=list(self.manual))


class ReservationStatus(StrEnum):
    """Where a temporary reservation stands: only ``active`` holds units."""

    ACTIVE = "active"         # holds its units until it expires, is released or converted
    CONVERTED = "converted"   # its units moved to an order (``order_id``)
    RELEASED = "released"     # given back on request
    EXPIRED = "expired"       # given back by the expiry sweep (or at start-up) once ``expires_at`` passed


@dataclasses.dataclass
class StockReservation:
    """A temporary reservation (a hold) of a cart or a quote: lines promised like an order's, their units reserved
    (each line's `draws`) until ``expires_at`` (wall clock, UTC), then released - unless it is released on request
    first, or converted to an order that takes over exactly these units.

    Not to be confused with an order's approval holds (:class:`Hold`)."""

    reservation_id: str
    status: str
    lines: list[Line]
    expires_at: dt.datetime
    zone: str | None = None
    demand_class: str | None = None
    customer: str | None = None
    reference: str | None = None             # the cart's or quote's id in the system that holds it
    policy: dict[str, Any] | None = None
    created_at: dt.datetime = dataclasses.field(default_factory=utcnow)
    updated_at: dt.datetime = dataclasses.field(default_factory=utcnow)
    created_by: str | None = None
    version: int = 1
    order_id: str | None = None              # the order it was converted to
    closed_at: dt.datetime | None = None     # when it stopped holding units (converted, released, expired)

    @property
    def held_qty(self) -> float:
        """Units held now (the open draws of its lines' items)."""
        return float(sum(sl.qty for ln in self.lines for sl in ln.schedule)) if self.status == ReservationStatus.ACTIVE else 0.0

    def line(self, number: int) -> Line | None:
        for ln in self.lines:
            if ln.line == number:
                return ln
        return None

    def copy(self) -> StockReservation:
        return dataclasses.replace(self, lines=[ln.copy() for ln in self.lines], policy=copy.deepcopy(self.policy))

    def to_dict(self) -> dict[str, Any]:
        return {
            "reservation_id": self.reservation_id, "status": self.status, "expires_at": self.expires_at.isoformat(),
            "zone": self.zone, "demand_class": self.demand_class, "customer": self.customer, "reference": self.reference,
            "policy": self.policy, "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat(),
            "created_by": self.created_by, "version": self.version, "order_id": self.order_id,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "lines": [ln.to_dict() for ln in self.lines],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StockReservation:
        return cls(
            reservation_id=d["reservation_id"], status=d["status"], expires_at=dt.datetime.fromisoformat(d["expires_at"]),
            zone=d.get("zone"), demand_class=d.get("demand_class"), customer=d.get("customer"), reference=d.get("reference"),
            policy=d.get("policy"), created_at=dt.datetime.fromisoformat(d["created_at"]),
            updated_at=dt.datetime.fromisoformat(d["updated_at"]), created_by=d.get("created_by"),
            version=int(d.get("version", 1)), order_id=d.get("order_id"),
            closed_at=dt.datetime.fromisoformat(d["closed_at"]) if d.get("closed_at") else None,
            lines=[Line.from_dict(x) for x in d["lines"]],
        )


def _decimal(v: Any) -> Decimal | None:
    """A stored amount (a string; documents written before money was exact hold a float, read by its repr)."""
    if v is None:
        return None
    return Decimal(repr(v)) if isinstance(v, float) else Decimal(str(v))


@dataclasses.dataclass(frozen=True, slots=True)
class OrderTotals:
    """An order's priced sums: ``net`` (the order value), ``tax`` and ``total`` (each the exact sum of the lines'
    rounded amounts), in ``currency``, priced ``on`` a business day; ``frozen`` once the order is confirmed (the
    freeze policy then keeps its lines' prices)."""

    currency: str
    on: dt.date
    net: Money
    tax: Money
    total: Money
    frozen: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"currency": self.currency, "on": self.on.isoformat(), "net": self.net.to_dict(), "tax": self.tax.to_dict(),
                "total": self.total.to_dict(), "frozen": self.frozen}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OrderTotals:
        return cls(d["currency"], dt.date.fromisoformat(d["on"]), Money.from_dict(d["net"]), Money.from_dict(d["tax"]),
                   Money.from_dict(d["total"]), bool(d.get("frozen", False)))


@dataclasses.dataclass(frozen=True, slots=True)
class Hold:
    """Why an order waits for a planner: ``code`` (``value_threshold``, ``price_override``, ``manual_adjustment``,
    ``unknown_customer``, ``blocked_customer``, ``credit_limit``, ``compliance``), the message, and what is behind it:
    ``figures`` (amounts as ``Money.to_dict()``) or compliance ``hits`` (the list entry, the list and the score)."""

    code: str
    message: str
    figures: dict[str, Any] = dataclasses.field(default_factory=dict)
    hits: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "figures": dict(self.figures), "hits": [dict(h) for h in self.hits]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Hold:
        return cls(d["code"], d["message"], dict(d.get("figures") or {}), tuple(d.get("hits") or ()))


@dataclasses.dataclass
class CustomerEntry:
    """A customer created, changed or imported: the whole record (durable, replayed at start-up)."""

    customer: Customer
    action: str = "create"   # create | change | import
    actor: str = ""
    at: dt.datetime = dataclasses.field(default_factory=utcnow)


@dataclasses.dataclass
class PricingEntry:
    """A pricing record posted through the API: ``kind`` (``price_list``, ``rule``, ``tax_rate``, ``assignment``)
    and the record's ``to_dict()`` form; ``seq`` numbers them in the order they were posted (replayed in that
    order on top of the rules directory)."""

    kind: str
    doc: dict[str, Any]
    ref: str = ""
    seq: int = 0
    actor: str = ""
    at: dt.datetime = dataclasses.field(default_factory=utcnow)


@dataclasses.dataclass
class CatalogueEntry:
    """A catalogue change (new item, price change, attribute change) durable in the order book. Like a supply
    delta it is numbered from the journal sequence, re-applied over every extract whose ``journal_seq`` is below
    its ``seq``, and retired (``retired_seq``) once an extract carries it."""

    seq: int
    change: CatalogueChange
    actor: str = ""
    at: dt.datetime = dataclasses.field(default_factory=utcnow)
    retired_seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, **self.change.to_dict(), "actor": self.actor, "at": self.at.isoformat(),
                "retired_seq": self.retired_seq}


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

    def as_draw(self) -> Draw:
        """The draw this entry commits or releases."""
        if self.draw:
            return Draw.from_dict(self.draw)
        return Draw("atp", self.item, self.location, self.date, self.qty, self.demand_class)

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
class DeltaEntry:
    """A real-time supply change (inventory adjustment, new or changed receipt), durable in the
    order book: `qty` is added (negative: removed) at `item`@`location` on `date`. `seq` comes
    from the same sequence as the commitment journal, so an extract whose ``journal_seq`` is at
    least `seq` carries it (it is then retired, `retired_seq` being that extract's sequence)."""

    seq: int
    item: str
    location: str
    date: dt.date
    qty: float
    kind: str = "adjustment"   # adjustment | receipt
    ref: str | None = None
    actor: str = ""
    at: dt.datetime = dataclasses.field(default_factory=utcnow)
    retired_seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "item": self.item, "location": self.location, "date": self.date.isoformat(),
                "qty": self.qty, "kind": self.kind, "ref": self.ref, "actor": self.actor, "at": self.at.isoformat(),
                "retired_seq": self.retired_seq}


@dataclasses.dataclass
class WriteSet:
    """Everything one request changes, written in one transaction."""

    orders: list[Order] = dataclasses.field(default_factory=list)
    audit: list[AuditEntry] = dataclasses.field(default_factory=list)
    journal: list[JournalEntry] = dataclasses.field(default_factory=list)
    idempotency: list[tuple[str, str, int, str]] = dataclasses.field(default_factory=list)  # key, hash, status, body
    import_keys: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)  # system, source id, order id
    deltas: list[DeltaEntry] = dataclasses.field(default_factory=list)
    new_orders: set[str] = dataclasses.field(default_factory=set)  # ids in `orders` never written before
    customers: list[CustomerEntry] = dataclasses.field(default_factory=list)
    pricing: list[PricingEntry] = dataclasses.field(default_factory=list)
    catalogue: list[CatalogueEntry] = dataclasses.field(default_factory=list)
    reservations: list[StockReservation] = dataclasses.field(default_factory=list)  # temporary holds, whole

    def __bool__(self) -> bool:
        return bool(self.orders or self.audit or self.journal or self.idempotency or self.import_keys or self.deltas
                    or self.customers or self.pricing or self.catalogue or self.reservations)


class OrderMap(dict):
    """The book's orders by id (``OrderService.orders``), with each customer's order ids kept beside them, so
    a credit check reads one customer's orders instead of the whole book. An order's customer never changes."""

    def __init__(self, orders: Iterable[Order] = ()) -> None:
        super().__init__()
        self._by_customer: dict[str, set[str]] = {}
        for o in orders:
            self[o.order_id] = o

    def __setitem__(self, order_id: str, order: Order) -> None:
        super().__setitem__(order_id, order)
        self._by_customer.setdefault(order.customer, set()).add(order_id)

    def __delitem__(self, order_id: str) -> None:
        self.pop(order_id)

    def pop(self, order_id: str, *default: Any) -> Any:
        o = super().pop(order_id, *default)
        if isinstance(o, Order):
            ids = self._by_customer.get(o.customer)
            if ids is not None:
                ids.discard(order_id)
        return o

    def clear(self) -> None:
        super().clear()
        self._by_customer.clear()

    def update(self, *args: Any, **kw: Any) -> None:  # type: ignore[override]
        for k, v in dict(*args, **kw).items():
            self[k] = v

    def setdefault(self, order_id: str, order: Order) -> Order:  # type: ignore[override]
        if order_id not in self:
            self[order_id] = order
        return self[order_id]

    def of_customer(self, customer: str) -> list[Order]:
        """The orders of ``customer`` (any status)."""
        return [self[k] for k in self._by_customer.get(customer, ())]
