"""Pricing records: the rules as data (price lists, tiers, rules, tax rates, assignments), the request, and
the answer (a price waterfall per line and an order total).

Every record is frozen. Input records are built from raw mappings with ``from_dict`` (validating: a bad
value raises ``ValidationError`` naming the field and the value; the loaders add the file and the row).
Output records (``Adjustment``, ``LineWaterfall``, ``OrderPrice``) have a ``to_dict()``/``from_dict()``
round trip so the order book can store them with the order.

Exactness limits (so that the batch pricer can work in int64 minor units and agree to the cent):
unit prices have at most ``minor unit + 4`` decimals, percentages at most 4, tax rates at most 6, and
quantities at most 3.
"""

from __future__ import annotations

import dataclasses
import math
import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from promessa.errors import ValidationError
from promessa.money import Money, MoneyError, minor_unit, to_decimal

PRICE_EXTRA_DIGITS = 4   # unit prices: at most minor unit + 4 decimals
PERCENT_DIGITS = 4
RATE_DIGITS = 6
QTY_DIGITS = 3

TIER_MODES = ("none", "graduated", "volume")
PERIODS = ("monthly", "yearly")
RULE_KINDS = ("percent", "amount_off", "fixed_price")
STACKING = ("exclusive", "stackable")
ASSIGNMENT_KINDS = ("customer", "segment", "channel", "default")
MANUAL_KINDS = ("percent_off", "amount", "fixed_price")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/\-]{0,63}$")


# ---------------------------------------------------------------------------------------------- parsing helpers
def places(d: Decimal) -> int:
    """Number of decimals of a Decimal (``Decimal('1.50')`` -> 2, ``Decimal('100')`` -> 0)."""
    exp = d.as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def dec(v: Any, field: str, *, max_places: int, lo: Decimal | None = None, hi: Decimal | None = None,
        lo_open: bool = False) -> Decimal:
    """An exact decimal from str/int/Decimal (floats refused), with at most ``max_places`` decimals, in [lo, hi]."""
    try:
        d = to_decimal(v, field=field)
    except MoneyError as e:
        raise ValidationError(str(e).split(": ", 1)[-1], field=field, value=v) from None
    if places(d) > max_places:
        q = d.quantize(Decimal(1).scaleb(-max_places))
        if q != d:
            raise ValidationError(f"has more than {max_places} decimals", field=field, value=v)
        d = q
    if lo is not None and (d <= lo if lo_open else d < lo):
        raise ValidationError(f"must be {'>' if lo_open else '>='} {lo}", field=field, value=v)
    if hi is not None and d > hi:
        raise ValidationError(f"must be <= {hi}", field=field, value=v)
    return d


def qty_of(v: Any, field: str = "qty") -> Decimal:
    """A line quantity: > 0, at most 3 decimals. A float is accepted when it is a 3-decimal number
    (quantities are float64 elsewhere in promessa); it is read by its shortest repr."""
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValidationError("not a finite quantity", field=field, value=v)
        v = repr(v)
    return dec(v, field, max_places=QTY_DIGITS, lo=Decimal(0), lo_open=True)


def date_of(v: Any, field: str, *, required: bool = True) -> dt.date | None:
    """A date from ``YYYY-MM-DD`` or a ``date``; None/empty when not required."""
    if v is None or v == "":
        if required:
            raise ValidationError("is required", field=field, value=v)
        return None
    if isinstance(v, dt.datetime):
        raise ValidationError("must be a date without time", field=field, value=str(v))
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v.strip())
        except ValueError:
            pass
    raise ValidationError("must be a date YYYY-MM-DD", field=field, value=v)


def code_of(v: Any, field: str, *, required: bool = True) -> str | None:
    """An identifier: letters, digits and ``_ . : / -``, at most 64."""
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            raise ValidationError("is required", field=field, value=v)
        return None
    if isinstance(v, int) and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str) or not _CODE.match(v.strip()):
        raise ValidationError("must be letters, digits and _ . : / - (at most 64)", field=field, value=v)
    return v.strip()


def choice(v: Any, field: str, options: tuple[str, ...], default: str | None = None) -> str:
    if (v is None or v == "") and default is not None:
        return default
    if v not in options:
        raise ValidationError(f"must be one of {', '.join(options)}", field=field, value=v)
    return v


def currency_of(v: Any, field: str = "currency") -> str:
    if not isinstance(v, str):
        raise ValidationError("must be an ISO 4217 code", field=field, value=v)
    try:
        minor_unit(v.strip())
    except MoneyError:
        raise ValidationError("unknown ISO 4217 currency", field=field, value=v) from None
    return v.strip()


def boolean(v: Any, field: str, default: bool = False) -> bool:
    if v is None or v == "":
        return default
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "yes", "1", "false", "no", "0"):
        return v.strip().lower() in ("true", "yes", "1")
    raise ValidationError("must be true or false", field=field, value=v)


def codes(v: Any, field: str) -> frozenset[str]:
    """A set of codes from a list or a ``;``-separated string (empty: any)."""
    if v is None or v == "":
        return frozenset()
    if isinstance(v, str):
        v = [x for x in (s.strip() for s in v.split(";")) if x]
    if not isinstance(v, list | tuple | set | frozenset):
        raise ValidationError("must be a list (or ;-separated text)", field=field, value=v)
    return frozenset(code_of(x, field) for x in v)


def _check_range(valid_from: dt.date, valid_to: dt.date | None, field: str) -> None:
    if valid_to is not None and valid_to < valid_from:
        raise ValidationError(f"is before valid_from {valid_from}", field=field, value=str(valid_to))


# ---------------------------------------------------------------------------------------------- price lists
@dataclasses.dataclass(frozen=True, slots=True)
class Tier:
    """A quantity break: from ``from_qty`` on, ``unit_price``. The base tier (from 0, the entry's unit price)
    is implicit."""

    from_qty: Decimal
    unit_price: Decimal


@dataclasses.dataclass(frozen=True, slots=True)
class Recurring:
    """A service item's charge: the unit price is per ``period`` (monthly or yearly); ``term`` full periods;
    ``prorate``: a start that is not on a period start (the 1st of a month, 1 January) is charged for its
    days only, up to the next period start, and the term runs from there."""

    period: str
    term: int
    prorate: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class PriceEntry:
    """One item's price in a list: ``unit_price`` (per unit, or per period for a recurring item), quantity
    breaks ``tiers`` applied per ``tier_mode``: ``graduated`` (each unit at the price of the tier it falls in)
    or ``volume`` (all units at the price of the highest tier the quantity reaches)."""

    item: str
    unit_price: Decimal
    tier_mode: str = "none"
    tiers: tuple[Tier, ...] = ()
    recurring: Recurring | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, currency: str, prefix: str = "") -> PriceEntry:
        """Validate ``{item, unit_price, tier_mode?, tiers?: [{from_qty, unit_price}], period?, term?, prorate?}``."""
        mp = minor_unit(currency) + PRICE_EXTRA_DIGITS
        item = code_of(d.get("item"), prefix + "item")
        price = dec(d.get("unit_price"), prefix + "unit_price", max_places=mp, lo=Decimal(0))
        raw_tiers = d.get("tiers") or ()
        if isinstance(raw_tiers, str):  # CSV: "10:9.00;50:8.00"
            parts = [p for p in (x.strip() for x in raw_tiers.split(";")) if p]
            raw_tiers = []
            for p in parts:
                if ":" not in p:
                    raise ValidationError("tiers are 'from_qty:unit_price;...'", field=prefix + "tiers", value=d.get("tiers"))
                a, b = p.split(":", 1)
                raw_tiers.append({"from_qty": a.strip(), "unit_price": b.strip()})
        if not isinstance(raw_tiers, list | tuple):
            raise ValidationError("must be a list of {from_qty, unit_price}", field=prefix + "tiers", value=raw_tiers)
        tiers = []
        last = Decimal(0)
        for i, t in enumerate(raw_tiers):
            f = f"{prefix}tiers[{i}]."
            if not isinstance(t, Mapping):
                raise ValidationError("must be {from_qty, unit_price}", field=f.rstrip("."), value=t)
            fq = dec(t.get("from_qty"), f + "from_qty", max_places=QTY_DIGITS, lo=Decimal(0), lo_open=True)
            if fq <= last:
                raise ValidationError(f"tiers must rise: from_qty must be > {last}", field=f + "from_qty", value=t.get("from_qty"))
            last = fq
            tiers.append(Tier(fq, dec(t.get("unit_price"), f + "unit_price", max_places=mp, lo=Decimal(0))))
        mode = choice(d.get("tier_mode"), prefix + "tier_mode", TIER_MODES, default="graduated" if tiers else "none")
        if mode == "none" and tiers:
            raise ValidationError("tiers given but tier_mode is none", field=prefix + "tier_mode", value=mode)
        if mode != "none" and not tiers:
            raise ValidationError("needs tiers", field=prefix + "tier_mode", value=mode)
        rec = None
        if d.get("period") not in (None, ""):
            period = choice(d.get("period"), prefix + "period", PERIODS)
            term_raw = d.get("term")
            try:
                term = int(str(term_raw).strip())
            except ValueError:
                raise ValidationError("must be a whole number of periods", field=prefix + "term", value=term_raw) from None
            if not 1 <= term <= 120:
                raise ValidationError("must be 1..120 periods", field=prefix + "term", value=term_raw)
            rec = Recurring(period, term, boolean(d.get("prorate"), prefix + "prorate", default=True))
        elif d.get("term") not in (None, ""):
            raise ValidationError("a term needs a period (monthly or yearly)", field=prefix + "period", value=d.get("period"))
        return cls(item, price, mode, tuple(tiers), rec)

    def to_dict(self) -> dict[str, Any]:
        """The data form; ``PriceEntry.from_dict(e.to_dict(), currency=...) == e``."""
        d: dict[str, Any] = {"item": self.item, "unit_price": str(self.unit_price), "tier_mode": self.tier_mode,
                             "tiers": [{"from_qty": str(t.from_qty), "unit_price": str(t.unit_price)} for t in self.tiers]}
        if self.recurring is not None:
            d |= {"period": self.recurring.period, "term": self.recurring.term, "prorate": self.recurring.prorate}
        return d


@dataclasses.dataclass(frozen=True, slots=True)
class PriceList:
    """A price list version: prices in ``currency``, effective ``valid_from``..``valid_to`` (inclusive; None: open),
    prices tax-inclusive or not. Among versions of one id effective on a day, the highest version wins, as a
    whole: a version replaces the earlier one's entries (an item it leaves out is not priced by that list)."""

    id: str
    version: int
    currency: str
    valid_from: dt.date
    valid_to: dt.date | None
    tax_inclusive: bool
    entries: Mapping[str, PriceEntry]
    description: str = ""

    def effective(self, on: dt.date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)

    @property
    def ref(self) -> str:
        """``id@version``, as shown in waterfalls."""
        return f"{self.id}@{self.version}"

    @classmethod
    def header_from_dict(cls, d: Mapping[str, Any]) -> PriceList:
        """Validate the list header (``id, version, currency, valid_from, valid_to, tax_inclusive``), no entries."""
        vf = date_of(d.get("valid_from"), "valid_from")
        vt = date_of(d.get("valid_to"), "valid_to", required=False)
        _check_range(vf, vt, "valid_to")
        ver = d.get("version", 1)
        try:
            version = int(str(ver).strip())
        except ValueError:
            raise ValidationError("must be a whole number", field="version", value=ver) from None
        if version < 1:
            raise ValidationError("must be >= 1", field="version", value=ver)
        return cls(code_of(d.get("id"), "id"), version, currency_of(d.get("currency")), vf, vt,
                   boolean(d.get("tax_inclusive"), "tax_inclusive"), {}, str(d.get("description") or ""))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PriceList:
        """Validate a whole list version (header and ``entries``); errors name ``entries[i].field`` and the value."""
        head = cls.header_from_dict(d)
        raw = d.get("entries") or []
        if not isinstance(raw, list | tuple):
            raise ValidationError("must be a list of entries", field="entries", value=raw)
        entries: dict[str, PriceEntry] = {}
        for j, e in enumerate(raw):
            if not isinstance(e, Mapping):
                raise ValidationError("must be an object", field=f"entries[{j}]", value=e)
            pe = PriceEntry.from_dict(e, currency=head.currency, prefix=f"entries[{j}].")
            if pe.item in entries:
                raise ValidationError(f"item priced twice in {head.ref}", field=f"entries[{j}].item", value=pe.item)
            entries[pe.item] = pe
        return dataclasses.replace(head, entries=entries)

    def to_dict(self) -> dict[str, Any]:
        """The data form (as in price_lists.yaml); ``PriceList.from_dict(p.to_dict()) == p``."""
        return {"id": self.id, "version": self.version, "currency": self.currency, "valid_from": self.valid_from.isoformat(),
                "valid_to": self.valid_to.isoformat() if self.valid_to else None, "tax_inclusive": self.tax_inclusive,
                "description": self.description, "entries": [e.to_dict() for e in self.entries.values()]}


@dataclasses.dataclass(frozen=True, slots=True)
class Assignment:
    """Which price list a customer, a segment, a channel (or everyone: ``default``) buys from.

    Fallback order for an order, per line (the first list in the chain that prices the item wins):
    the customer's own ``price_list`` field, ``customer`` assignments, ``segment`` assignments in the
    order of the customer's segments, ``channel``, ``default``, and last the catalogue price (if the book
    has a catalogue price list)."""

    kind: str
    key: str
    price_list: str

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Assignment:
        kind = choice(d.get("kind"), "kind", ASSIGNMENT_KINDS)
        key = code_of(d.get("key"), "key", required=kind != "default") or ""
        if kind == "default" and key:
            raise ValidationError("a default assignment has no key", field="key", value=key)
        return cls(kind, key, code_of(d.get("price_list"), "price_list"))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "price_list": self.price_list}


# ---------------------------------------------------------------------------------------------- rules
@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    """A discount or promotion rule.

    Conditions (each empty set means any): ``items``, ``categories``, ``brands``, ``customers``, ``segments``
    (the customer has one of them), ``channels``; ``min_order_total`` (the order's amount after list and tier
    prices, before any rule, in ``currency``); ``valid_from``..``valid_to`` (inclusive).

    Action ``kind``: ``percent`` (``value`` % off the line's running amount), ``amount_off`` (``value`` per unit
    off, never below zero), ``fixed_price`` (the unit price becomes ``value`` when that is lower).

    Stacking: rules are considered by ``precedence`` (lower first), then id. An ``exclusive`` rule applies only
    when no rule has applied to the line yet, and stops the line's rules. A ``stackable`` rule applies on top
    of the stackable rules before it (compounding: a percent is taken of the amount after them).
    """

    id: str
    kind: str
    value: Decimal
    valid_from: dt.date
    valid_to: dt.date | None = None
    version: int = 1
    stacking: str = "stackable"
    precedence: int = 100
    currency: str | None = None
    items: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    brands: frozenset[str] = frozenset()
    customers: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    min_order_total: Decimal | None = None
    description: str = ""

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def effective(self, on: dt.date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Rule:
        """Validate a raw rule (YAML/JSON object or CSV row; sets as lists or ``;``-separated text)."""
        rid = code_of(d.get("id"), "id")
        kind = choice(d.get("kind"), "kind", RULE_KINDS)
        cur = currency_of(d.get("currency")) if d.get("currency") not in (None, "") else None
        if kind in ("amount_off", "fixed_price") and cur is None:
            raise ValidationError(f"a {kind} rule needs the currency of its amount", field="currency", value=d.get("currency"))
        if kind == "percent":
            value = dec(d.get("value"), "value", max_places=PERCENT_DIGITS, lo=Decimal(0), lo_open=True, hi=Decimal(100))
        else:
            value = dec(d.get("value"), "value", max_places=minor_unit(cur) + PRICE_EXTRA_DIGITS, lo=Decimal(0),
                        lo_open=kind == "amount_off")
        mot = d.get("min_order_total")
        min_total = None
        if mot not in (None, ""):
            if cur is None:
                raise ValidationError("min_order_total needs the rule's currency", field="currency", value=d.get("currency"))
            min_total = dec(mot, "min_order_total", max_places=minor_unit(cur), lo=Decimal(0))
        vf = date_of(d.get("valid_from"), "valid_from")
        vt = date_of(d.get("valid_to"), "valid_to", required=False)
        _check_range(vf, vt, "valid_to")
        prec_raw = d.get("precedence", 100)
        try:
            prec = int(str(prec_raw).strip()) if prec_raw not in (None, "") else 100
        except ValueError:
            raise ValidationError("must be a whole number", field="precedence", value=prec_raw) from None
        ver_raw = d.get("version", 1)
        try:
            ver = int(str(ver_raw).strip()) if ver_raw not in (None, "") else 1
        except ValueError:
            raise ValidationError("must be a whole number", field="version", value=ver_raw) from None
        if ver < 1:
            raise ValidationError("must be >= 1", field="version", value=ver_raw)
        return cls(
            id=rid, kind=kind, value=value, valid_from=vf, valid_to=vt, version=ver,
            stacking=choice(d.get("stacking"), "stacking", STACKING, default="stackable"), precedence=prec, currency=cur,
            items=codes(d.get("items"), "items"), categories=codes(d.get("categories"), "categories"),
            brands=codes(d.get("brands"), "brands"), customers=codes(d.get("customers"), "customers"),
            segments=codes(d.get("segments"), "segments"), channels=codes(d.get("channels"), "channels"),
            min_order_total=min_total, description=str(d.get("description") or ""),
        )

    def to_dict(self) -> dict[str, Any]:
        """The data form (as in rules.yaml); ``Rule.from_dict(r.to_dict()) == r``."""
        return {"id": self.id, "version": self.version, "kind": self.kind, "value": str(self.value), "currency": self.currency,
                "stacking": self.stacking, "precedence": self.precedence, "valid_from": self.valid_from.isoformat(),
                "valid_to": self.valid_to.isoformat() if self.valid_to else None,
                **{k: sorted(getattr(self, k)) for k in ("items", "categories", "brands", "customers", "segments", "channels")},
                "min_order_total": None if self.min_order_total is None else str(self.min_order_total),
                "description": self.description}


@dataclasses.dataclass(frozen=True, slots=True)
class TaxRate:
    """A tax rate (a fraction: 0.19 is 19 %) for a ship-to ``country`` (ISO 3166-1 alpha-2), optionally a
    ``region`` within it (empty: the whole country), and an item ``tax_category``; effective dates inclusive.
    Lookup: country + region + category, then country + category."""

    country: str
    region: str
    tax_category: str
    rate: Decimal
    valid_from: dt.date
    valid_to: dt.date | None = None

    @property
    def ref(self) -> str:
        return f"tax:{self.country}{'-' + self.region if self.region else ''}:{self.tax_category}"

    def effective(self, on: dt.date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TaxRate:
        c = d.get("country")
        if not isinstance(c, str) or not re.fullmatch(r"[A-Za-z]{2}", c.strip()):
            raise ValidationError("must be an ISO 3166-1 alpha-2 country code", field="country", value=c)
        region = code_of(d.get("region"), "region", required=False) or ""
        vf = date_of(d.get("valid_from"), "valid_from")
        vt = date_of(d.get("valid_to"), "valid_to", required=False)
        _check_range(vf, vt, "valid_to")
        return cls(c.strip().upper(), region.upper(), code_of(d.get("tax_category"), "tax_category"),
                   dec(d.get("rate"), "rate", max_places=RATE_DIGITS, lo=Decimal(0), hi=Decimal(1)), vf, vt)

    def to_dict(self) -> dict[str, Any]:
        return {"country": self.country, "region": self.region, "tax_category": self.tax_category, "rate": str(self.rate),
                "valid_from": self.valid_from.isoformat(), "valid_to": self.valid_to.isoformat() if self.valid_to else None}


# ---------------------------------------------------------------------------------------------- the request
@dataclasses.dataclass(frozen=True, slots=True)
class Party:
    """Who buys, as pricing sees it: id, segments, channel, own price list, tax profile (``standard``/``exempt``)."""

    id: str
    segments: tuple[str, ...] = ()
    channel: str | None = None
    price_list: str | None = None
    tax_profile: str = "standard"

    @classmethod
    def of(cls, customer: Any) -> Party:
        """From a ``customers.Customer`` (or anything with the same attributes)."""
        return cls(customer.id, tuple(customer.segments), customer.channel, customer.price_list, customer.tax_profile)


@dataclasses.dataclass(frozen=True, slots=True)
class ManualAdjustment:
    """A price change typed by a person, with a ``reason``; it always asks for approval.

    ``kind``: ``percent_off`` (``value`` % off the line's running amount), ``amount`` (``value`` added to the
    line amount; negative lowers it), ``fixed_price`` (the unit price becomes ``value``). A manual adjustment
    may not make a line negative."""

    line: str
    kind: str
    value: Decimal
    reason: str
    by: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, prefix: str = "") -> ManualAdjustment:
        kind = choice(d.get("kind"), prefix + "kind", MANUAL_KINDS)
        if kind == "percent_off":
            v = dec(d.get("value"), prefix + "value", max_places=PERCENT_DIGITS, lo=Decimal(0), lo_open=True, hi=Decimal(100))
        elif kind == "fixed_price":
            v = dec(d.get("value"), prefix + "value", max_places=8, lo=Decimal(0))
        else:
            v = dec(d.get("value"), prefix + "value", max_places=4)
        reason = d.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError("a manual adjustment needs a reason", field=prefix + "reason", value=reason)
        line = d.get("line")
        if line is None or (isinstance(line, str) and not line.strip()) or not isinstance(line, str | int) or isinstance(line, bool):
            raise ValidationError("names the order line it changes", field=prefix + "line", value=line)
        by = d.get("by")
        if by is not None and not isinstance(by, str):
            raise ValidationError("must be the name of who made it", field=prefix + "by", value=by)
        return cls(str(line).strip(), kind, v, reason.strip(), by)

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "kind": self.kind, "value": str(self.value), "reason": self.reason, "by": self.by}


@dataclasses.dataclass(frozen=True, slots=True)
class LineRequest:
    """One line to price: ``line`` id, ``item``, ``qty`` (> 0, at most 3 decimals), ``service_start`` for a
    recurring item (default: the pricing day)."""

    line: str
    item: str
    qty: Decimal
    service_start: dt.date | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order to price: the party, the ship-to jurisdiction (country, region), the currency (None: the
    currency of the first price list in the party's chain), the lines and the manual adjustments."""

    order: str
    party: Party
    ship_to_country: str
    lines: tuple[LineRequest, ...]
    ship_to_region: str | None = None
    currency: str | None = None
    manual: tuple[ManualAdjustment, ...] = ()

    @classmethod
    def build(cls, order: str, party: Party, lines: list[tuple[str, str, Any]] | list[LineRequest], *, country: str,
              region: str | None = None, currency: str | None = None, manual: tuple[ManualAdjustment, ...] = ()) -> OrderRequest:
        """Convenience: lines as ``(line, item, qty)`` tuples (qty validated) or ``LineRequest``s."""
        out = []
        for i, ln in enumerate(lines):
            if isinstance(ln, LineRequest):
                out.append(ln)
            else:
                out.append(LineRequest(str(ln[0]), ln[1], qty_of(ln[2], f"lines[{i}].qty")))
        return cls(order, party, country.upper(), tuple(out), region.upper() if region else None, currency, tuple(manual))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, party: Party) -> OrderRequest:
        """Validate a raw request (an API body): ``{order, ship_to_country, ship_to_region?, currency?,
        lines: [{line?, item, qty, service_start?}], manual?: [{line, kind, value, reason, by?}]}``; the party comes
        from the customer master. Raises ``ValidationError`` naming the field (``lines[2].qty``) and the value."""
        if not isinstance(d, Mapping):
            raise ValidationError("must be an object", field="request", value=d)
        c = d.get("ship_to_country")
        if not isinstance(c, str) or not re.fullmatch(r"[A-Za-z]{2}", c.strip()):
            raise ValidationError("must be an ISO 3166-1 alpha-2 country code", field="ship_to_country", value=c)
        region = code_of(d.get("ship_to_region"), "ship_to_region", required=False)
        cur = currency_of(d.get("currency")) if d.get("currency") not in (None, "") else None
        raw_lines = d.get("lines")
        if not isinstance(raw_lines, list | tuple) or not raw_lines:
            raise ValidationError("must be a non-empty list of lines", field="lines", value=raw_lines)
        lines = []
        for i, ln in enumerate(raw_lines):
            f = f"lines[{i}]."
            if not isinstance(ln, Mapping):
                raise ValidationError("must be an object", field=f.rstrip("."), value=ln)
            line_id = ln.get("line", i + 1)
            lines.append(LineRequest(str(line_id), code_of(ln.get("item"), f + "item"), qty_of(ln.get("qty"), f + "qty"),
                                     date_of(ln.get("service_start"), f + "service_start", required=False)))
        raw_manual = d.get("manual") or ()
        if not isinstance(raw_manual, list | tuple):
            raise ValidationError("must be a list", field="manual", value=raw_manual)
        manual = tuple(ManualAdjustment.from_dict(m, prefix=f"manual[{k}].") if isinstance(m, Mapping) else
                       _not_object(f"manual[{k}]", m) for k, m in enumerate(raw_manual))
        return cls(str(d.get("order") or ""), party, c.strip().upper(), tuple(lines), region.upper() if region else None, cur,
                   manual)

    def to_dict(self) -> dict[str, Any]:
        """The request as data (the party by id), for logs and replays."""
        return {"order": self.order, "customer": self.party.id, "ship_to_country": self.ship_to_country,
                "ship_to_region": self.ship_to_region, "currency": self.currency,
                "lines": [{"line": ln.line, "item": ln.item, "qty": str(ln.qty),
                           "service_start": ln.service_start.isoformat() if ln.service_start else None} for ln in self.lines],
                "manual": [m.to_dict() for m in self.manual]}


def _not_object(field: str, value: Any) -> ManualAdjustment:
    raise ValidationError("must be an object", field=field, value=value)


# ---------------------------------------------------------------------------------------------- the answer
def _money(d: Mapping[str, Any]) -> Money:
    return Money.of(d["amount"], d["currency"])


@dataclasses.dataclass(frozen=True, slots=True)
class Adjustment:
    """One step of a waterfall: ``kind`` (``tier``, ``rule``, ``manual``, ``proration``), the ``rule`` that made
    it (``PL@1/tiers``, ``SPRING@2``, ``manual``, ``proration``), the signed ``amount`` (rounded to the minor
    unit), how it was computed (``basis``), and whether it needs approval (manual ones do)."""

    kind: str
    rule: str
    amount: Money
    basis: str = ""
    reason: str | None = None
    requires_approval: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "rule": self.rule, "amount": self.amount.to_dict(), "basis": self.basis,
                "reason": self.reason, "requires_approval": self.requires_approval}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Adjustment:
        return cls(d["kind"], d["rule"], _money(d["amount"]), d.get("basis", ""), d.get("reason"), bool(d.get("requires_approval")))


@dataclasses.dataclass(frozen=True, slots=True)
class RecurringCharge:
    """The recurring part of a service line: the line's waterfall is the first charge; ``period_amount`` is a
    full period's amount after rules (in the list's basis), the first charge covers ``first_start``..``first_end``
    (``first_days`` of ``period_days``), and the term's ``term`` full periods end on ``term_end``."""

    period: str
    term: int
    period_amount: Money
    first_start: dt.date
    first_end: dt.date
    first_days: int
    period_days: int
    term_end: dt.date

    def to_dict(self) -> dict[str, Any]:
        return {"period": self.period, "term": self.term, "period_amount": self.period_amount.to_dict(),
                "first_start": self.first_start.isoformat(), "first_end": self.first_end.isoformat(),
                "first_days": self.first_days, "period_days": self.period_days, "term_end": self.term_end.isoformat()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RecurringCharge:
        return cls(d["period"], int(d["term"]), _money(d["period_amount"]), dt.date.fromisoformat(d["first_start"]),
                   dt.date.fromisoformat(d["first_end"]), int(d["first_days"]), int(d["period_days"]),
                   dt.date.fromisoformat(d["term_end"]))


@dataclasses.dataclass(frozen=True, slots=True)
class LineWaterfall:
    """A line's price explained: list price (``unit_list_price`` x ``qty`` = ``list_amount``), each adjustment,
    ``subtotal`` = list + adjustments (in the list's basis: tax-inclusive or not), ``net`` (without tax),
    ``tax`` at ``tax_rate`` by ``tax_rule``, ``total`` = net + tax. Every amount is rounded to the minor unit."""

    line: str
    item: str
    qty: Decimal
    price_list: str
    tax_inclusive: bool
    unit_list_price: Money
    list_amount: Money
    adjustments: tuple[Adjustment, ...]
    subtotal: Money
    net: Money
    tax_rate: Decimal
    tax_rule: str
    tax: Money
    total: Money
    recurring: RecurringCharge | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line, "item": self.item, "qty": str(self.qty), "price_list": self.price_list,
            "tax_inclusive": self.tax_inclusive, "unit_list_price": self.unit_list_price.to_exact_dict(),
            "list_amount": self.list_amount.to_dict(), "adjustments": [a.to_dict() for a in self.adjustments],
            "subtotal": self.subtotal.to_dict(), "net": self.net.to_dict(), "tax_rate": str(self.tax_rate),
            "tax_rule": self.tax_rule, "tax": self.tax.to_dict(), "total": self.total.to_dict(),
            "recurring": self.recurring.to_dict() if self.recurring else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LineWaterfall:
        return cls(
            d["line"], d["item"], Decimal(d["qty"]), d["price_list"], bool(d["tax_inclusive"]), _money(d["unit_list_price"]),
            _money(d["list_amount"]), tuple(Adjustment.from_dict(a) for a in d["adjustments"]), _money(d["subtotal"]),
            _money(d["net"]), Decimal(d["tax_rate"]), d["tax_rule"], _money(d["tax"]), _money(d["total"]),
            RecurringCharge.from_dict(d["recurring"]) if d.get("recurring") else None,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class OrderPrice:
    """An order's price: the line waterfalls and the sums ``net``, ``tax``, ``total`` (each the exact sum of the
    lines' rounded amounts), priced ``on`` a business day; ``needs_approval`` with the reasons (manual
    adjustments)."""

    order: str
    currency: str
    on: dt.date
    lines: tuple[LineWaterfall, ...]
    net: Money
    tax: Money
    total: Money
    needs_approval: bool = False
    approval_reasons: tuple[str, ...] = ()

    def line(self, line_id: str) -> LineWaterfall:
        for ln in self.lines:
            if ln.line == line_id:
                return ln
        raise KeyError(line_id)

    def to_dict(self) -> dict[str, Any]:
        """Storage/API form; ``OrderPrice.from_dict(p.to_dict()) == p``."""
        return {"order": self.order, "currency": self.currency, "on": self.on.isoformat(),
                "lines": [ln.to_dict() for ln in self.lines], "net": self.net.to_dict(), "tax": self.tax.to_dict(),
                "total": self.total.to_dict(), "needs_approval": self.needs_approval,
                "approval_reasons": list(self.approval_reasons)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OrderPrice:
        return cls(d["order"], d["currency"], dt.date.fromisoformat(d["on"]), tuple(LineWaterfall.from_dict(x) for x in d["lines"]),
                   _money(d["net"]), _money(d["tax"]), _money(d["total"]), bool(d["needs_approval"]),
                   tuple(d.get("approval_reasons") or ()))
