"""Catalogue maintenance: typed changes (new item, price change, attribute change) applied over a base
catalogue as an overlay, so that pricing sees them at once, until a new extract carries them.

The base catalogue comes from the supply snapshot's ``items`` table (item, category, brand, price, cost);
its float prices are read by their shortest repr and rounded half up to the catalogue currency's minor
unit (``1112.8000000000002`` -> ``1112.80``). Durability of the changes is the order book's.
"""

from __future__ import annotations

import dataclasses
import math
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pricing.model import PRICE_EXTRA_DIGITS, code_of, currency_of, date_of, dec
from promessa.errors import ValidationError
from promessa.money import minor_unit, quantum

#: Attributes an attribute change may set.
ATTRIBUTES = ("category", "brand", "cost", "tax_category", "item_class", "description")
CHANGE_KINDS = ("new_item", "price_change", "attribute_change")


@dataclasses.dataclass(frozen=True, slots=True)
class CatalogueItem:
    """An item as pricing and compliance see it: category and brand (rule conditions), list ``price`` in the
    catalogue currency (None: no catalogue price), ``cost``, ``tax_category`` (default ``standard``) and
    ``item_class`` (export-control class for embargo checks, e.g. ``EAR99``, ``5A002``)."""

    item: str
    category: str | None = None
    brand: str | None = None
    price: Decimal | None = None
    cost: Decimal | None = None
    tax_category: str = "standard"
    item_class: str | None = None
    description: str | None = None


class Catalogue(Mapping[str, CatalogueItem]):
    """Items by id with the currency of their prices; immutable (changes make a new catalogue)."""

    __slots__ = ("currency", "_items")

    def __init__(self, currency: str, items: Iterable[CatalogueItem] = ()) -> None:
        self.currency = currency_of(currency)
        self._items = {i.item: i for i in items}

    def __getitem__(self, item: str) -> CatalogueItem:
        return self._items[item]

    def get(self, item: str, default: CatalogueItem | None = None) -> CatalogueItem | None:  # type: ignore[override]
        return self._items.get(item, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    @classmethod
    def from_items_frame(cls, items: Any, *, currency: str) -> Catalogue:
        """From the snapshot's ``items`` table (a polars DataFrame with item, category, brand, price, cost, and
        optionally tax_category, item_class): float prices are rounded half up to the minor unit."""
        q = quantum(currency)
        n = items.height
        memo: dict[float, Decimal | None] = {}

        def money(v: Any) -> Decimal | None:
            if v is None:
                return None
            got = memo.get(v)
            if got is None and v not in memo:
                got = memo[v] = None if math.isnan(v) else Decimal(repr(float(v))).quantize(q, rounding=ROUND_HALF_UP)
            return got

        def col(name: str) -> list:
            return items[name].to_list() if name in items.columns else [None] * n

        out = [CatalogueItem(i, c, b, money(p), money(k), t or "standard", x)
               for i, c, b, p, k, t, x in zip(col("item"), col("category"), col("brand"), col("price"), col("cost"),
                                              col("tax_category"), col("item_class"), strict=True)]
        return cls(currency, out)


@dataclasses.dataclass(frozen=True, slots=True)
class CatalogueChange:
    """One maintenance record: ``kind`` new_item (``attributes`` and ``price``), price_change (``price``) or
    attribute_change (``attributes``); ``id`` identifies it (idempotent application is the caller's);
    ``effective`` is the first day it applies (None: at once)."""

    id: str
    kind: str
    item: str
    price: Decimal | None = None
    currency: str | None = None
    attributes: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    effective: dt.date | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CatalogueChange:
        """Validate ``{id, kind, item, price?, currency?, category?, brand?, cost?, tax_category?, item_class?,
        description?, effective?}`` (attributes flat, as in a CSV row, or nested under ``attributes``)."""
        kind = d.get("kind")
        if kind not in CHANGE_KINDS:
            raise ValidationError(f"must be one of {', '.join(CHANGE_KINDS)}", field="kind", value=kind)
        cid = code_of(d.get("id"), "id")
        item = code_of(d.get("item"), "item")
        raw_attrs = dict(d.get("attributes") or {})
        for a in ATTRIBUTES:
            if d.get(a) not in (None, ""):
                raw_attrs[a] = d[a]
        for k, v in raw_attrs.items():
            if k not in ATTRIBUTES:
                raise ValidationError(f"unknown attribute (one of {', '.join(ATTRIBUTES)})", field=f"attributes.{k}", value=v)
        cur = currency_of(d.get("currency")) if d.get("currency") not in (None, "") else None
        attrs: dict[str, Any] = {}
        for k, v in raw_attrs.items():
            if k == "cost":
                if cur is None:
                    raise ValidationError("a cost needs the currency", field="currency", value=d.get("currency"))
                attrs[k] = dec(v, "cost", max_places=minor_unit(cur) + PRICE_EXTRA_DIGITS, lo=Decimal(0))
            elif k == "description":
                attrs[k] = str(v)
            else:
                attrs[k] = code_of(v, k)
        price = None
        if kind in ("new_item", "price_change"):
            if d.get("price") in (None, "") and kind == "price_change":
                raise ValidationError("a price change needs a price", field="price", value=d.get("price"))
            if d.get("price") not in (None, ""):
                if cur is None:
                    raise ValidationError("a price needs the currency", field="currency", value=d.get("currency"))
                price = dec(d.get("price"), "price", max_places=minor_unit(cur) + PRICE_EXTRA_DIGITS, lo=Decimal(0))
        elif d.get("price") not in (None, ""):
            raise ValidationError("an attribute change carries no price (use a price_change)", field="price", value=d.get("price"))
        if kind == "attribute_change" and not attrs:
            raise ValidationError("an attribute change needs at least one attribute", field="attributes", value=None)
        return cls(cid, kind, item, price, cur, attrs, date_of(d.get("effective"), "effective", required=False))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "item": self.item, "price": None if self.price is None else str(self.price),
                "currency": self.currency,
                "attributes": {k: (str(v) if isinstance(v, Decimal) else v) for k, v in self.attributes.items()},
                "effective": self.effective.isoformat() if self.effective else None}


def apply_changes(base: Catalogue, changes: Iterable[CatalogueChange], *, on: dt.date | None = None) -> Catalogue:
    """The catalogue with ``changes`` applied in order over ``base`` (an overlay; ``base`` is not changed).

    Changes with an ``effective`` day after ``on`` are left out (``on`` None: all apply). Refused with a
    ``ValidationError`` naming the change: a new item that exists already, a change to an unknown item, a
    price in another currency than the catalogue's.
    """
    items = dict(base._items)
    for ch in changes:
        if on is not None and ch.effective is not None and ch.effective > on:
            continue
        if ch.currency is not None and ch.currency != base.currency:
            raise ValidationError(f"differs from the catalogue currency {base.currency} (change {ch.id})", field="currency",
                                  value=ch.currency)
        if ch.kind == "new_item":
            if ch.item in items:
                raise ValidationError(f"item exists already (change {ch.id}; use a price or attribute change)", field="item",
                                      value=ch.item)
            items[ch.item] = CatalogueItem(
                ch.item, ch.attributes.get("category"), ch.attributes.get("brand"), ch.price, ch.attributes.get("cost"),
                ch.attributes.get("tax_category") or "standard", ch.attributes.get("item_class"), ch.attributes.get("description"))
            continue
        cur = items.get(ch.item)
        if cur is None:
            raise ValidationError(f"unknown item (change {ch.id})", field="item", value=ch.item)
        if ch.kind == "price_change":
            items[ch.item] = dataclasses.replace(cur, price=ch.price)
        else:
            items[ch.item] = dataclasses.replace(cur, **dict(ch.attributes))
    out = Catalogue(base.currency)
    out._items = items
    return out
