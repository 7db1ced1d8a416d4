"""Rules and holds: what the order book refuses, and when an order waits for approval.

Validation refuses bad input with a `ValidationError` that names the field and the value
(unknown item, location, zone or demand class; a date outside the snapshot; a line number
given twice; a shipment dated before the supply it consumes). The hold rules say why an order
must be approved (priced value above the threshold, manual price override or adjustment); the
fulfilment status follows from what is promised and shipped. Nothing here changes an order.

Amounts are exact: an order's value is its priced net (`OrderTotals.net`, `promessa.money.Money`)
and the threshold is an amount in a currency (``settings.orders.approval_value_threshold`` in
``settings.pricing.currency``, or ``approval_thresholds`` per currency).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from orderbook.lifecycle import OrderStatus as S
from orderbook.records import EPS, DeltaEntry, Draw, Hold, Line, Order
from orderbook.schemas import PolicyIn
from promessa.config import Settings
from promessa.errors import ValidationError
from promessa.money import Money
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


def value_threshold(settings: Settings, currency: str) -> Money | None:
    """The approval threshold for orders priced in `currency` (None: no value hold in that currency)."""
    if currency == settings.pricing.currency:
        thr = settings.orders.approval_value_threshold
    else:
        thr = settings.orders.approval_thresholds.get(currency)
    return None if thr is None else Money.of(thr, currency)


def is_override(list_price: Decimal | None, unit_price: Decimal | None, settings: Settings) -> bool:
    """True when a typed `unit_price` differs from the line's list unit price (None: the item has none) by more
    than the price tolerance."""
    if unit_price is None:
        return False
    return list_price is None or abs(unit_price - list_price) > Decimal(repr(settings.orders.price_tolerance))


def approval_holds(order: Order, settings: Settings) -> list[Hold]:
    """Why `order` must wait for approval by the approval rules (empty: it need not): its priced net above the
    threshold, a typed unit price that overrides the list price, a manual price adjustment. An approval remembers
    the value, the prices and the adjustments approved: only a higher value or a new override holds again."""
    approved = order.approval or {}
    out = []
    if order.totals is not None:
        value = order.totals.net
        thr = value_threshold(settings, value.currency)
        prev = approved.get("value")
        prev_amount = Decimal(prev["amount"]) if isinstance(prev, dict) and prev.get("currency") == value.currency else None
        if thr is not None and value > thr and (prev_amount is None or value.amount > prev_amount):
            out.append(Hold("value_threshold", f"order value {value} exceeds the approval threshold {thr}",
                            {"value": value.to_dict(), "threshold": thr.to_dict()}))
    if settings.orders.approval_on_price_override:
        prices = approved.get("prices", {})
        lines = [ln.line for ln in order.lines if ln.price_override and prices.get(str(ln.line)) != str(ln.unit_price)]
        if lines:
            out.append(Hold("price_override", "manual price override on line" + ("s " if len(lines) > 1 else " ")
                            + ", ".join(map(str, lines)),
                            {str(n): {"amount": str(order.line(n).unit_price), "currency": order.totals.currency
                                      if order.totals else settings.pricing.currency} for n in lines}))
        done = approved.get("manual", [])
        pending = [m for m in order.manual if m.to_dict() not in done]
        if pending:
            out.append(Hold("manual_adjustment", "; ".join(f"manual price adjustment on line {m.line}: {m.reason}"
                                                            for m in pending),
                            {"adjustments": [m.to_dict() for m in pending]}))
    return out


def fulfilment_status(order: Order) -> S:
    """scheduled / backordered before anything shipped; partially_shipped / shipped after."""
    shipped = any(ln.shipped_qty > EPS for ln in order.lines)
    if shipped:
        return S.PARTIALLY_SHIPPED if any(ln.open_qty > EPS for ln in order.lines) else S.SHIPPED
    return S.SCHEDULED if all(ln.backordered_qty <= EPS for ln in order.lines) else S.BACKORDERED
