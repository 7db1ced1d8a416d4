"""Rules and holds: what the order book refuses, and when an order waits for approval.

Validation refuses bad input with a `ValidationError` that names the field and the value
(unknown item, location, zone or demand class; a date outside the snapshot; a line number
given twice; a shipment dated before the supply it consumes). The hold rules say why an order
must be approved (value above the threshold, manual price override); the fulfilment status
follows from what is promised and shipped. Nothing here changes an order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from orderbook.lifecycle import OrderStatus as S
from orderbook.records import EPS, DeltaEntry, Draw, Line, Order
from orderbook.schemas import PolicyIn
from promessa.config import Settings
from promessa.errors import ValidationError
from promising import Policy
from supplydata import Snapshot


def policy_of(p: PolicyIn | dict | None) -> Policy:
    """The promising policy of an API policy (or its stored dict); None: the default policy."""
    if p is None:
        return Policy()
    if isinstance(p, dict):
        p = PolicyIn.model_validate(p)
    return Policy(allow_partial=p.allow_partial, allow_split=p.allow_split, max_late_days=p.max_late_days,
                  max_lines=p.max_lines)


def check_date(snap: Snapshot, d: dt.date, field: str, *, allow_past: bool = False) -> None:
    """Refuse a date past the snapshot's horizon, or (unless `allow_past`) before its day."""
    if d > snap.last_date:
        raise ValidationError(f"date outside the horizon (last day {snap.last_date})", field=field, value=d.isoformat())
    if d < snap.as_of and not allow_past:
        raise ValidationError(f"date before the snapshot day {snap.as_of}", field=field, value=d.isoformat(),
                              hint="ask for today or later")


def check_item(snap: Snapshot, item: str, field: str) -> None:
    """Refuse an item the snapshot does not know."""
    if item not in snap.item_index:
        raise ValidationError("unknown item", field=field, value=item)


def check_location(snap: Snapshot, loc: str | None, field: str) -> None:
    """Refuse a location the snapshot does not know (None passes: the chooser picks one)."""
    if loc is not None and loc not in snap.location_index:
        raise ValidationError("unknown location", field=field, value=loc)


def check_zone(zones: frozenset[str], zone: str | None, field: str) -> None:
    """Refuse a zone the snapshot does not know."""
    if zone is not None and zone not in zones:
        raise ValidationError("unknown zone", field=field, value=zone)


def check_class(classes: frozenset[str] | None, dc: str | None, field: str) -> None:
    """Refuse a demand class the snapshot does not define (any class passes when it defines none)."""
    if dc is not None and classes is not None and dc not in classes:
        raise ValidationError("unknown demand class", field=field, value=dc)


def check_unique_lines(numbers: Iterable[int | None], field: str) -> None:
    """Refuse a line number given twice (`field` is the list: ``lines`` gives ``lines.K.line``,
    ``remove_lines`` gives ``remove_lines.K``); None entries (new lines) are skipped."""
    seen: dict[int, int] = {}
    for k, n in enumerate(numbers):
        if n is None:
            continue
        if n in seen:
            where = f"{field}.{k}.line" if field == "lines" else f"{field}.{k}"
            raise ValidationError(f"line {n} is given twice (also at {field}.{seen[n]})", field=where, value=n,
                                  hint="give each line once, with all its changes")
        seen[n] = k


def refuse_early_shipment(ln: Line, draw: Draw, ship_day: dt.date, *, field: str) -> None:
    """A shipment dated `ship_day` would move `draw` (dated later) to a day its supply has not
    arrived: refuse it naming the line, the date and the supply (the promise's pegs)."""
    pegs = [p for p in (ln.promise.pegs if ln.promise else ()) if p.supply_date is not None and p.supply_date > ship_day]
    if pegs:
        supply = ", ".join(f"{p.ref or p.kind} ({p.kind}, {p.qty:g} on {p.supply_date})" for p in pegs)
    else:
        supply = f"{draw.key} at {draw.location} dated {draw.date}"
    raise ValidationError(
        f"line {ln.line} cannot ship on {ship_day}: the supply it consumes arrives later: {supply}",
        field=field, value=ship_day.isoformat(),
        hint=f"ship on or after {draw.date}, or record a supply delta for the stock that shipped")


def delta_position(snap: Snapshot, e: DeltaEntry) -> tuple[int, int] | str:
    """(item-location, bucket) of a delta on `snap`, or the problem when it has none there."""
    il = snap.il_of(e.item, e.location) if e.item in snap.item_index and e.location in snap.location_index else -1
    if il < 0:
        return "the snapshot has no such item-location"
    try:
        return il, snap.bucket(e.date)
    except ValidationError:
        return "dated past the snapshot's horizon"


def price_of(snap: Snapshot, item: str) -> float:
    """The catalogue price of `item` (0 when unknown)."""
    code = snap.item_index.get(item)
    return float(snap.item_price[code]) if code is not None else 0.0


def is_override(snap: Snapshot, settings: Settings, item: str, unit_price: float | None) -> bool:
    """True when `unit_price` differs from the catalogue's by more than the price tolerance."""
    return unit_price is not None and abs(unit_price - price_of(snap, item)) > settings.orders.price_tolerance


def hold_reasons(order: Order, settings: Settings, price) -> list[str]:
    """Why `order` must wait for approval (empty: it need not). `price(item)` is the catalogue price.
    An approval remembers the value and prices approved: only a higher value or a new override holds again."""
    approved = order.approval or {}
    out = []
    value = order.value(price)
    thr = settings.orders.approval_value_threshold
    if thr is not None and value > thr + 1e-9 and value > float(approved.get("value", -1.0)) + 1e-9:
        out.append(f"order value {value:.2f} exceeds the approval threshold {thr:.2f}")
    if settings.orders.approval_on_price_override:
        prices = approved.get("prices", {})
        lines = [ln.line for ln in order.lines if ln.price_override and prices.get(str(ln.line)) != ln.unit_price]
        if lines:
            out.append("manual price override on line" + ("s " if len(lines) > 1 else " ") + ", ".join(map(str, lines)))
    return out


def fulfilment_status(order: Order) -> S:
    """scheduled / backordered before anything shipped; partially_shipped / shipped after."""
    shipped = any(ln.shipped_qty > EPS for ln in order.lines)
    if shipped:
        return S.PARTIALLY_SHIPPED if any(ln.open_qty > EPS for ln in order.lines) else S.SHIPPED
    return S.SCHEDULED if all(ln.backordered_qty <= EPS for ln in order.lines) else S.BACKORDERED
