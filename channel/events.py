"""The typed events the ledger accrues from, and their dict form for the journal.

The order book (or an import) sends one ``ShippedLine`` per shipped order line, one
``ReturnedLine`` per return that references the shipment, and one ``StockOnHand`` per stock
count that price protection needs. Quantities are exact decimals (a float is read through its
shortest decimal form); amounts are ``promessa.money.Money``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

from promessa.errors import ValidationError
from promessa.money import Money, MoneyError, to_decimal


def as_qty(value: Any, *, field: str = "qty") -> Decimal:
    """An exact, strictly positive quantity from an int, str, Decimal or float (read as its shortest decimal)."""
    if isinstance(value, float):
        value = repr(value)
    try:
        q = to_decimal(value, field=field)
    except MoneyError as e:
        raise ValidationError("not a quantity", field=field, value=value) from e
    if q <= 0:
        raise ValidationError("must be positive", field=field, value=value)
    return q


def as_date(value: Any, *, field: str) -> dt.date:
    """A date from a ``datetime.date`` or an ISO ``YYYY-MM-DD`` string."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError("not a date (YYYY-MM-DD)", field=field, value=value) from None


def as_money(value: Any, *, field: str, currency: str | None = None) -> Money:
    """Money from a ``Money``, a ``{"amount", "currency"}`` dict, or an amount string with ``currency``."""
    try:
        if isinstance(value, Money):
            return value
        if isinstance(value, dict):
            return Money.from_dict(value)
        if currency is None:
            raise ValidationError("an amount needs a currency", field=field, value=value)
        return Money.of(value, currency)
    except (MoneyError, KeyError) as e:
        raise ValidationError(f"not an amount ({e})", field=field, value=value) from None


def _text(value: Any, field: str, *, optional: bool = False) -> str:
    if value is None or value == "":
        if optional:
            return ""
        raise ValidationError("is required", field=field, value=value)
    return str(value)


@dataclasses.dataclass(frozen=True, slots=True)
class ShippedLine:
    """An order line shipped to a customer: the sale that programs accrue on.

    ``shipment`` identifies this shipment (an order line shipped in two parts has two);
    ``unit_price`` is the net price the customer pays per unit and ``unit_cost`` the
    distributor's cost per unit (what the supplier invoiced), both in the same currency.
    """

    shipment: str
    order: str
    line: int
    item: str
    category: str
    brand: str
    customer: str
    segment: str
    channel: str
    qty: Decimal
    unit_price: Money
    unit_cost: Money
    ship_date: dt.date
    supplier: str

    kind = "shipped"

    def __post_init__(self) -> None:
        for f in ("shipment", "order", "item", "customer", "supplier"):
            object.__setattr__(self, f, _text(getattr(self, f), f))
        for f in ("category", "brand", "segment", "channel"):
            object.__setattr__(self, f, _text(getattr(self, f), f, optional=True))
        object.__setattr__(self, "qty", as_qty(self.qty))
        object.__setattr__(self, "ship_date", as_date(self.ship_date, field="ship_date"))
        object.__setattr__(self, "unit_price", as_money(self.unit_price, field="unit_price"))
        object.__setattr__(self, "unit_cost", as_money(self.unit_cost, field="unit_cost"))
        try:
            object.__setattr__(self, "line", int(self.line))
        except (TypeError, ValueError):
            raise ValidationError("not a line number", field="line", value=self.line) from None
        if self.unit_cost.currency != self.unit_price.currency:
            raise ValidationError(f"currency differs from unit_price's {self.unit_price.currency}",
                                  field="unit_cost", value=str(self.unit_cost))
        if self.unit_price.amount < 0 or self.unit_cost.amount < 0:
            raise ValidationError("must not be negative", field="unit_price" if self.unit_price.amount < 0 else "unit_cost",
                                  value=str(self.unit_price if self.unit_price.amount < 0 else self.unit_cost))

    @property
    def event_id(self) -> str:
        return self.shipment

    @property
    def date(self) -> dt.date:
        return self.ship_date


@dataclasses.dataclass(frozen=True, slots=True)
class ReturnedLine:
    """Units of an earlier shipment coming back; every accrual of that shipment is reversed pro rata."""

    return_id: str
    shipment: str
    qty: Decimal
    return_date: dt.date

    kind = "returned"

    def __post_init__(self) -> None:
        object.__setattr__(self, "return_id", _text(self.return_id, "return_id"))
        object.__setattr__(self, "shipment", _text(self.shipment, "shipment"))
        object.__setattr__(self, "qty", as_qty(self.qty))
        object.__setattr__(self, "return_date", as_date(self.return_date, field="return_date"))

    @property
    def event_id(self) -> str:
        return self.return_id

    @property
    def date(self) -> dt.date:
        return self.return_date


@dataclasses.dataclass(frozen=True, slots=True)
class StockOnHand:
    """Units of a supplier's item on hand at a location on a day (the basis of price protection)."""

    count_id: str
    item: str
    supplier: str
    location: str
    qty: Decimal
    date: dt.date

    kind = "stock_on_hand"

    def __post_init__(self) -> None:
        for f in ("count_id", "item", "supplier", "location"):
            object.__setattr__(self, f, _text(getattr(self, f), f))
        object.__setattr__(self, "qty", as_qty(self.qty))
        object.__setattr__(self, "date", as_date(self.date, field="date"))

    @property
    def event_id(self) -> str:
        return self.count_id


Event = ShippedLine | ReturnedLine | StockOnHand
_KINDS: dict[str, type] = {"shipped": ShippedLine, "returned": ReturnedLine, "stock_on_hand": StockOnHand}
_FIELDS: dict[str, tuple[str, ...]] = {k: tuple(f.name for f in dataclasses.fields(c)) for k, c in _KINDS.items()}


def event_to_dict(ev: Event) -> dict[str, Any]:
    """The journal form of an event: plain JSON types, Money as exact ``{"amount", "currency"}``, dates ISO."""
    out: dict[str, Any] = {"kind": ev.kind}
    for name in _FIELDS[ev.kind]:
        v = getattr(ev, name)
        if isinstance(v, Money):
            v = v.to_exact_dict()
        elif isinstance(v, dt.date):
            v = v.isoformat()
        elif isinstance(v, Decimal):
            v = str(v)
        out[name] = v
    return out


def event_from_dict(d: dict[str, Any], *, row: int | None = None) -> Event:
    """An event from its dict form (``kind`` one of shipped, returned, stock_on_hand).

    For shipped lines, ``unit_price`` and ``unit_cost`` may be amount strings with a
    ``currency`` key beside them. Refuses unknown kinds and missing fields with the field name.
    """
    where = f"row {row}: " if row is not None else ""
    kind = d.get("kind")
    cls = _KINDS.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise ValidationError(f"{where}unknown event kind", field="kind", value=kind,
                              hint="one of " + ", ".join(_KINDS))
    args = {}
    for name in _FIELDS[kind]:  # type: ignore[index]
        if name not in d:
            if name in ("category", "brand", "segment", "channel"):
                args[name] = ""
                continue
            raise ValidationError(f"{where}missing field of a {kind} event", field=name, value=None)
        v = d[name]
        if name in ("unit_price", "unit_cost") and not isinstance(v, (dict, Money)):
            v = as_money(v, field=name, currency=d.get("currency"))
        args[name] = v
    try:
        return cls(**args)
    except ValidationError as e:
        if row is None:
            raise
        raise ValidationError(f"row {row}: {e.message}", field=e.field, value=e.value, hint=e.hint) from None


def load_events(path: str | Any) -> list[Event]:
    """Events from a JSON Lines file (one event dict a line) or a JSON list; errors name the line."""
    import json
    from pathlib import Path

    p = Path(path)
    text = p.read_text()
    if p.suffix.lower() == ".json":
        rows = json.loads(text)
        return [event_from_dict(d, row=k + 1) for k, d in enumerate(rows)]
    out = []
    for k, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValidationError(f"{p.name} line {k}: not JSON ({e.msg})", field="line", value=line[:80]) from None
        out.append(event_from_dict(d, row=k))
    return out
