"""Supplier programs as data: what each program pays, on which sales, when, and how to claim it.

A program file is YAML or JSON (``{"programs": [ {...}, ... ]}`` or a bare list) or CSV (one
program per row; list fields separated by ``|``; tiers written ``0-100:1.5|100-500:2|500-:3``).
Every program names its supplier, its kind, its currency and its validity dates (inclusive),
and selects the sales it applies to:

- products: ``items``, ``categories``, ``brands`` - a line is eligible when it matches any one
  of the given lists (all three empty: every item of the supplier);
- buyers: ``customers`` or ``segments`` (both empty: every customer), and ``channels``.

Kinds and what a unit earns:

- ``ship_and_debit``: the supplier authorizes ``special_cost`` for sales to the named
  customers (at or below ``agreed_price`` when given) and reimburses ``unit_cost - special_cost``;
- ``volume_rebate``: ``tiers`` on the units sold per ``period`` (month, quarter, year or the
  whole program); ``tier_mode`` ``retroactive`` pays the reached tier's rate back to the first
  unit (a tier crossed mid-period re-accrues the period), ``incremental`` pays each tier's rate
  on the units inside it;
- ``allowance``: a promotional allowance per unit (``rate_kind: per_unit``) or a percentage of
  the net sales value (``rate_kind: percent``);
- ``price_protection``: the supplier lowers its cost from ``old_cost`` to ``new_cost`` on
  ``valid_from``; stock on hand counted that day earns the difference per unit.

Rates of ``per_unit`` programs are amounts in the program's currency; ``percent`` rates are
percentages (2.5 = 2.5 %). ``terms`` are the supplier's claim terms: the claim window in days
after the sale, the days it takes to pay, and the line detail a claim must carry.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from channel.events import as_date
from promessa.errors import ValidationError
from promessa.money import Money, MoneyError, minor_unit, to_decimal


class ProgramKind(StrEnum):
    """The kinds of supplier program."""

    SHIP_AND_DEBIT = "ship_and_debit"
    VOLUME_REBATE = "volume_rebate"
    ALLOWANCE = "allowance"
    PRICE_PROTECTION = "price_protection"


PERIODS = ("month", "quarter", "year", "program")
TIER_MODES = ("retroactive", "incremental")
RATE_KINDS = ("per_unit", "percent")
#: Line fields a supplier may require on a claim (``required_detail``), in export order.
DETAIL_FIELDS = ("shipment", "order", "line", "item", "category", "brand", "customer", "segment", "channel",
                 "location", "qty", "unit_price", "unit_cost", "ship_date")
DEFAULT_DETAIL = ("order", "line", "item", "customer", "qty", "ship_date")


@dataclasses.dataclass(frozen=True, slots=True)
class Tier:
    """Units ``from_qty`` (inclusive) up to ``to_qty`` (exclusive; None: no end) earn ``rate``."""

    from_qty: Decimal
    to_qty: Decimal | None
    rate: Decimal


@dataclasses.dataclass(frozen=True, slots=True)
class ClaimTerms:
    """How a supplier wants to be claimed: within ``claim_window_days`` of the sale, paid within
    ``payment_days`` of submission, with ``required_detail`` on every line."""

    claim_window_days: int = 90
    payment_days: int = 30
    required_detail: tuple[str, ...] = DEFAULT_DETAIL


@dataclasses.dataclass(frozen=True, slots=True)
class Program:
    """One supplier program (see the module docstring for the fields of each kind)."""

    program: str
    supplier: str
    kind: ProgramKind
    currency: str
    valid_from: dt.date
    valid_to: dt.date
    items: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    brands: frozenset[str] = frozenset()
    customers: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    rate_kind: str = "per_unit"
    rate: Decimal | None = None
    special_cost: Money | None = None
    agreed_price: Money | None = None
    tiers: tuple[Tier, ...] = ()
    tier_mode: str = "retroactive"
    period: str = "month"
    old_cost: Money | None = None
    new_cost: Money | None = None
    terms: ClaimTerms = ClaimTerms()

    # ---- eligibility
    def covers_item(self, item: str, category: str, brand: str) -> bool:
        """True when the product matches one of the item, category or brand lists (or none is given)."""
        if not (self.items or self.categories or self.brands):
            return True
        return item in self.items or category in self.categories or brand in self.brands

    def covers_buyer(self, customer: str, segment: str, channel: str) -> bool:
        """True when the customer (or its segment) and the channel are eligible."""
        if (self.customers or self.segments) and not (customer in self.customers or segment in self.segments):
            return False
        return not self.channels or channel in self.channels

    def active_on(self, day: dt.date) -> bool:
        return self.valid_from <= day <= self.valid_to

    def period_of(self, day: dt.date) -> str:
        """The accrual period a day falls in (``2026-01``, ``2026-Q1``, ``2026`` or ``program``)."""
        if self.period == "month":
            return f"{day.year:04d}-{day.month:02d}"
        if self.period == "quarter":
            return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
        if self.period == "year":
            return f"{day.year:04d}"
        return "program"

    def tier_rate(self, cum: Decimal) -> Decimal:
        """The rate of the tier that ``cum`` units reach (0 below the first tier)."""
        rate = Decimal(0)
        for t in self.tiers:
            if cum >= t.from_qty:
                rate = t.rate
        return rate

    def to_dict(self) -> dict[str, Any]:
        """The journal form (plain JSON types; Money exact)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, frozenset):
                v = sorted(v)
            elif isinstance(v, Money):
                v = str(v.amount)
            elif isinstance(v, Decimal):
                v = str(v)
            elif isinstance(v, dt.date):
                v = v.isoformat()
            elif f.name == "tiers":
                v = [{"from": str(t.from_qty), "to": None if t.to_qty is None else str(t.to_qty), "rate": str(t.rate)} for t in v]
            elif isinstance(v, ClaimTerms):
                v = {"claim_window_days": v.claim_window_days, "payment_days": v.payment_days,
                     "required_detail": list(v.required_detail)}
            elif isinstance(v, ProgramKind):
                v = v.value
            out[f.name] = v
        return out


# ---------------------------------------------------------------- parsing and validation

class Catalogue:
    """The items a program may name, with their categories and brands (from a snapshot's items table)."""

    def __init__(self, items: Iterable[str], categories: Iterable[str] = (), brands: Iterable[str] = ()) -> None:
        self.items = frozenset(items)
        self.categories = frozenset(c for c in categories if c)
        self.brands = frozenset(b for b in brands if b)

    @classmethod
    def of_frame(cls, df: Any) -> Catalogue:
        """From a polars frame with ``item`` and optionally ``category`` and ``brand`` columns."""
        cols = df.columns
        return cls(df["item"].cast(str).to_list(),
                   df["category"].cast(str).drop_nulls().to_list() if "category" in cols else (),
                   df["brand"].cast(str).drop_nulls().to_list() if "brand" in cols else ())

    @classmethod
    def of_snapshot(cls, snap: Any) -> Catalogue:
        """From a ``supplydata`` snapshot's items table."""
        return cls.of_frame(snap.tables["items"])


def _list(v: Any) -> frozenset[str]:
    if v is None or v == "":
        return frozenset()
    if isinstance(v, str):
        return frozenset(s.strip() for s in v.split("|") if s.strip())
    return frozenset(str(s) for s in v)


def _dec(v: Any, field: str) -> Decimal:
    if isinstance(v, float):
        v = repr(v)
    try:
        return to_decimal(v, field=field)
    except MoneyError:
        raise ValidationError("not a number", field=field, value=v) from None


def _money(v: Any, field: str, currency: str) -> Money | None:
    if v is None or v == "":
        return None
    d = _dec(v.get("amount") if isinstance(v, dict) else v, field)
    if d < 0:
        raise ValidationError("must not be negative", field=field, value=v)
    return Money(d, currency)


def _tiers(v: Any, where: str) -> tuple[Tier, ...]:
    if v is None or v == "":
        return ()
    if isinstance(v, str):  # CSV form: 0-100:1.5|100-500:2|500-:3
        rows = []
        for k, part in enumerate(p for p in v.split("|") if p.strip()):
            rng, _, rate = part.partition(":")
            lo, _, hi = rng.partition("-")
            if not rate:
                raise ValidationError("a tier is written FROM-TO:RATE", field=f"{where}.tiers[{k}]", value=part)
            rows.append({"from": lo.strip(), "to": hi.strip() or None, "rate": rate.strip()})
        v = rows
    out = []
    for k, t in enumerate(v):
        f = f"{where}.tiers[{k}]"
        if not isinstance(t, Mapping) or "from" not in t or "rate" not in t:
            raise ValidationError("a tier needs from, to (optional) and rate", field=f, value=t)
        lo = _dec(t["from"], f + ".from")
        hi = None if t.get("to") in (None, "") else _dec(t["to"], f + ".to")
        rate = _dec(t["rate"], f + ".rate")
        if lo < 0:
            raise ValidationError("must not be negative", field=f + ".from", value=t["from"])
        if rate < 0:
            raise ValidationError("negative rate", field=f + ".rate", value=t["rate"])
        if hi is not None and hi <= lo:
            raise ValidationError(f"must be above from={lo}", field=f + ".to", value=t["to"])
        out.append(Tier(lo, hi, rate))
    for k in range(1, len(out)):
        prev, cur = out[k - 1], out[k]
        if prev.to_qty is None or cur.from_qty < prev.to_qty:
            raise ValidationError(f"overlaps tier {k - 1} ({prev.from_qty}-{'' if prev.to_qty is None else prev.to_qty})",
                                  field=f"{where}.tiers[{k}].from", value=str(cur.from_qty),
                                  hint="tiers are sorted and each starts where the previous one ends")
        if cur.from_qty > prev.to_qty:
            raise ValidationError(f"leaves a gap after tier {k - 1} (to={prev.to_qty})", field=f"{where}.tiers[{k}].from",
                                  value=str(cur.from_qty), hint="each tier starts where the previous one ends")
    return tuple(out)


def parse_program(d: Mapping[str, Any], *, where: str = "program", catalogue: Catalogue | None = None) -> Program:
    """One validated ``Program`` from its dict form; refuses bad values with the field path and value.

    Refused: missing id/supplier/kind/currency/dates, unknown kind or period, validity ending
    before it starts, negative or missing rates and costs, overlapping or gapped tiers, items
    (categories, brands) unknown to ``catalogue`` when one is given, a ship-and-debit without
    a named customer, a price protection whose new cost is not below the old one.
    """
    def req(name: str) -> Any:
        v = d.get(name)
        if v is None or v == "":
            raise ValidationError("is required", field=f"{where}.{name}", value=v)
        return v

    pid = str(req("program"))
    where = f"{where}[{pid}]" if where == "program" else where
    kind_s = str(req("kind"))
    try:
        kind = ProgramKind(kind_s)
    except ValueError:
        raise ValidationError("unknown program kind", field=f"{where}.kind", value=kind_s,
                              hint="one of " + ", ".join(k.value for k in ProgramKind)) from None
    currency = str(req("currency"))
    try:
        minor_unit(currency)
    except MoneyError:
        raise ValidationError("unknown ISO 4217 currency", field=f"{where}.currency", value=currency) from None
    valid_from = as_date(req("valid_from"), field=f"{where}.valid_from")
    valid_to = as_date(req("valid_to"), field=f"{where}.valid_to")
    if valid_to < valid_from:
        raise ValidationError(f"ends before valid_from={valid_from}", field=f"{where}.valid_to", value=str(valid_to))
    sel = {k: _list(d.get(k)) for k in ("items", "categories", "brands", "customers", "segments", "channels")}
    if catalogue is not None:
        for name, known in (("items", catalogue.items), ("categories", catalogue.categories), ("brands", catalogue.brands)):
            if name != "items" and not known:
                continue
            for v in sorted(sel[name]):
                if v not in known:
                    raise ValidationError(f"unknown {name[:-1] if name != 'categories' else 'category'}",
                                          field=f"{where}.{name}", value=v, hint="name one in the catalogue")
    rate_kind = str(d.get("rate_kind") or "per_unit")
    if rate_kind not in RATE_KINDS:
        raise ValidationError("unknown rate kind", field=f"{where}.rate_kind", value=rate_kind, hint="per_unit or percent")
    args: dict[str, Any] = dict(program=pid, supplier=str(req("supplier")), kind=kind, currency=currency,
                                valid_from=valid_from, valid_to=valid_to, rate_kind=rate_kind, **sel)
    if kind is ProgramKind.SHIP_AND_DEBIT:
        if not sel["customers"]:
            raise ValidationError("a ship-and-debit authorizes named customers", field=f"{where}.customers", value=None)
        args["special_cost"] = _money(req("special_cost"), f"{where}.special_cost", currency)
        args["agreed_price"] = _money(d.get("agreed_price"), f"{where}.agreed_price", currency)
    elif kind is ProgramKind.ALLOWANCE:
        rate = _dec(req("rate"), f"{where}.rate")
        if rate < 0:
            raise ValidationError("negative rate", field=f"{where}.rate", value=d.get("rate"))
        args["rate"] = rate
    elif kind is ProgramKind.VOLUME_REBATE:
        tiers = _tiers(req("tiers"), where)
        args["tiers"] = tiers
        mode = str(d.get("tier_mode") or "retroactive")
        if mode not in TIER_MODES:
            raise ValidationError("unknown tier mode", field=f"{where}.tier_mode", value=mode, hint="retroactive or incremental")
        period = str(d.get("period") or "month")
        if period not in PERIODS:
            raise ValidationError("unknown period", field=f"{where}.period", value=period, hint=", ".join(PERIODS))
        args["tier_mode"], args["period"] = mode, period
    else:
        old, new = _money(req("old_cost"), f"{where}.old_cost", currency), _money(req("new_cost"), f"{where}.new_cost", currency)
        if new >= old:  # type: ignore[operator]
            raise ValidationError(f"must be below old_cost={old.amount}", field=f"{where}.new_cost", value=str(new.amount))  # type: ignore[union-attr]
        args["old_cost"], args["new_cost"] = old, new
    if rate_kind == "percent":
        for k, r in enumerate([args.get("rate")] + [t.rate for t in args.get("tiers", ())]):
            if r is not None and r > 100:
                raise ValidationError("a percentage above 100", field=f"{where}.rate" if k == 0 else f"{where}.tiers[{k - 1}].rate",
                                      value=str(r))
    args["terms"] = _terms(d.get("terms") or {k: d[k] for k in ("claim_window_days", "payment_days", "required_detail") if k in d},
                           where)
    return Program(**args)


def _terms(t: Mapping[str, Any], where: str) -> ClaimTerms:
    out = {}
    for name in ("claim_window_days", "payment_days"):
        if t.get(name) not in (None, ""):
            try:
                v = int(t[name])
            except (TypeError, ValueError):
                raise ValidationError("not a whole number of days", field=f"{where}.terms.{name}", value=t[name]) from None
            if v < 0:
                raise ValidationError("must not be negative", field=f"{where}.terms.{name}", value=t[name])
            out[name] = v
    if t.get("required_detail") not in (None, ""):
        det = t["required_detail"]
        det = [s.strip() for s in det.split("|")] if isinstance(det, str) else [str(s) for s in det]
        for s in det:
            if s not in DETAIL_FIELDS:
                raise ValidationError("unknown line detail", field=f"{where}.terms.required_detail", value=s,
                                      hint="one of " + ", ".join(DETAIL_FIELDS))
        out["required_detail"] = tuple(det)
    return ClaimTerms(**out)


def parse_programs(rows: Sequence[Mapping[str, Any]], *, catalogue: Catalogue | None = None, source: str = "programs"
                   ) -> list[Program]:
    """Validated programs from dicts; refuses duplicate ids. ``source`` names the file in messages."""
    out: list[Program] = []
    seen: set[str] = set()
    for k, d in enumerate(rows):
        if not isinstance(d, Mapping):
            raise ValidationError("a program is a mapping of fields", field=f"{source}[{k}]", value=d)
        p = parse_program(d, where=f"{source}[{k}]", catalogue=catalogue)
        if p.program in seen:
            raise ValidationError("duplicate program id", field=f"{source}[{k}].program", value=p.program)
        seen.add(p.program)
        out.append(p)
    return out


def load_programs(path: str | Path, *, catalogue: Catalogue | None = None) -> list[Program]:
    """Programs from a ``.yaml``/``.yml``, ``.json`` or ``.csv`` file, validated (see ``parse_program``)."""
    p = Path(path)
    text = p.read_text()
    suffix = p.suffix.lower()
    if suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    elif suffix == ".json":
        data = json.loads(text)
    elif suffix == ".csv":
        data = [{k: v for k, v in row.items() if v not in (None, "")} for row in csv.DictReader(io.StringIO(text))]
        for row in data:
            terms = {k: row.pop(k) for k in ("claim_window_days", "payment_days", "required_detail") if k in row}
            if terms:
                row["terms"] = terms
    else:
        raise ValidationError("unknown program file type", field="path", value=str(path), hint="use .yaml, .json or .csv")
    if isinstance(data, dict):
        data = data.get("programs")
    if not isinstance(data, list):
        raise ValidationError("expected a list of programs (or {programs: [...]})", field=p.name, value=type(data).__name__)
    return parse_programs(data, catalogue=catalogue, source=p.name)


def program_from_dict(d: Mapping[str, Any]) -> Program:
    """A program back from ``Program.to_dict`` (the journal form)."""
    return parse_program(d)
