"""Rules as data: loading price lists, rules, tax rates, assignments and catalogue changes from YAML, JSON
or CSV files, validated when loaded.

Every file holds a list of records (YAML/JSON: a list, or a mapping with one list under the file's kind,
e.g. ``{"rules": [...]}``; CSV: one record per row with a header). Numbers in YAML and JSON are read by
their written digits (never through a binary float). A refusal is a ``RuleError`` naming the file, the
1-based row (the CSV data row after the header, or the position in the list), the field and the value.

Price lists in CSV have one row per entry: ``id, version, currency, valid_from, valid_to, tax_inclusive,
item, unit_price, tier_mode, tiers, period, term, prorate`` (``tiers`` as ``from_qty:unit_price;...``);
rows of the same id and version must agree on the header columns. In YAML/JSON a list is one record with
``entries``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import yaml

from pricing.book import PriceBook
from pricing.catalogue import Catalogue, CatalogueChange
from pricing.errors import RuleError, bare_message
from pricing.model import Assignment, PriceEntry, PriceList, Rule, TaxRate
from promessa.errors import ValidationError

T = TypeVar("T")


class _DecimalLoader(yaml.SafeLoader):
    """YAML without binary floats: ``9.99`` is read as ``Decimal('9.99')``; dates stay text for our own checks."""


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", lambda loader, node: Decimal(loader.construct_scalar(node)))
_DecimalLoader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


def read_records(path: str | Path, *, kind: str) -> list[tuple[int, dict[str, Any]]]:
    """``(row, record)`` pairs of a YAML, JSON or CSV file (row 1-based); ``RuleError`` when unreadable."""
    p = Path(path)
    name = p.name
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise RuleError(f"cannot read the file ({e.strerror})", file=name, row=None, field="file", value=str(p)) from None
    suffix = p.suffix.lower()
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        rows = []
        for i, r in enumerate(reader, start=1):
            if None in r:
                raise RuleError("more cells than header columns", file=name, row=i, field="(row)", value=r[None])
            rows.append((i, {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in r.items()}))
        return rows
    try:
        if suffix in (".yaml", ".yml"):
            data = yaml.load(text, Loader=_DecimalLoader)  # noqa: S506 - a SafeLoader subclass
        elif suffix == ".json":
            data = json.loads(text, parse_float=Decimal)
        else:
            raise RuleError("unknown file type", file=name, row=None, field="file", value=suffix, hint="use .yaml, .json or .csv")
    except (yaml.YAMLError, json.JSONDecodeError) as e:
        raise RuleError(f"cannot parse ({str(e).splitlines()[0]})", file=name, row=None, field="file", value=None) from None
    if isinstance(data, Mapping) and kind in data:
        data = data[kind]
    if data is None:
        data = []
    if not isinstance(data, list):
        raise RuleError(f"must hold a list of {kind}", file=name, row=None, field=kind, value=type(data).__name__)
    out = []
    for i, r in enumerate(data, start=1):
        if not isinstance(r, Mapping):
            raise RuleError("must be an object", file=name, row=i, field="(row)", value=r)
        out.append((i, dict(r)))
    return out


def _each(path: str | Path, kind: str, make: Callable[[dict[str, Any]], T], fields: tuple[str, ...] | None = None) -> list[T]:
    name = Path(path).name
    out = []
    for row, rec in read_records(path, kind=kind):
        if fields is not None:
            for k in rec:
                if k not in fields:
                    raise RuleError("unknown field", file=name, row=row, field=k, value=rec[k],
                                    hint=f"fields are {', '.join(fields)}")
        try:
            out.append(make(rec))
        except ValidationError as e:
            raise RuleError(bare_message(e), file=name, row=row, field=e.field, value=e.value, hint=e.hint) from None
    return out


RULE_FIELDS = ("id", "version", "kind", "value", "currency", "stacking", "precedence", "valid_from", "valid_to", "items",
               "categories", "brands", "customers", "segments", "channels", "min_order_total", "description")
TAX_FIELDS = ("country", "region", "tax_category", "rate", "valid_from", "valid_to")
ASSIGNMENT_FIELDS = ("kind", "key", "price_list")
LIST_FIELDS = ("id", "version", "currency", "valid_from", "valid_to", "tax_inclusive", "description")
ENTRY_FIELDS = ("item", "unit_price", "tier_mode", "tiers", "period", "term", "prorate")


def load_rules(path: str | Path) -> list[Rule]:
    """Discount and promotion rules (fields: ``RULE_FIELDS``; see ``Rule``)."""
    return _each(path, "rules", Rule.from_dict, RULE_FIELDS)


def load_tax_rates(path: str | Path) -> list[TaxRate]:
    """Tax rates (fields: ``TAX_FIELDS``; ``rate`` a fraction, 0.19 for 19 %)."""
    return _each(path, "tax_rates", TaxRate.from_dict, TAX_FIELDS)


def load_assignments(path: str | Path) -> list[Assignment]:
    """Price list assignments (fields: ``kind`` customer/segment/channel/default, ``key``, ``price_list``)."""
    return _each(path, "assignments", Assignment.from_dict, ASSIGNMENT_FIELDS)


def load_catalogue_changes(path: str | Path) -> list[CatalogueChange]:
    """Catalogue maintenance records (see ``CatalogueChange.from_dict``)."""
    return _each(path, "changes", CatalogueChange.from_dict)


def load_price_lists(path: str | Path) -> list[PriceList]:
    """Price list versions with their entries (YAML/JSON: records with ``entries``; CSV: one row per entry)."""
    name = Path(path).name
    records = read_records(path, kind="price_lists")
    csv_form = Path(path).suffix.lower() == ".csv"
    lists: dict[tuple[str, int], tuple[PriceList, dict[str, PriceEntry], dict[str, Any]]] = {}
    order: list[tuple[str, int]] = []
    for row, rec in records:
        allowed = LIST_FIELDS + (ENTRY_FIELDS if csv_form else ("entries",))
        for k in rec:
            if k not in allowed:
                raise RuleError("unknown field", file=name, row=row, field=k, value=rec[k], hint=f"fields are {', '.join(allowed)}")
        try:
            head = PriceList.header_from_dict(rec)
        except ValidationError as e:
            raise RuleError(bare_message(e), file=name, row=row, field=e.field, value=e.value, hint=e.hint) from None
        key = (head.id, head.version)
        header_vals = {k: rec.get(k) for k in LIST_FIELDS}
        if key in lists:
            if not csv_form:
                raise RuleError("two price lists with the same id and version", file=name, row=row, field="version",
                                value=rec.get("version"))
            first = lists[key][2]
            for k in LIST_FIELDS:
                if (first.get(k) or "") != (header_vals.get(k) or ""):
                    raise RuleError(f"differs from the first row of {head.ref}", file=name, row=row, field=k, value=rec.get(k))
        else:
            lists[key] = (head, {}, header_vals)
            order.append(key)
        entries = lists[key][1]
        raw_entries = [(rec, "")] if csv_form else [(e, f"entries[{j}].") for j, e in enumerate(rec.get("entries") or [])]
        if not csv_form and not isinstance(rec.get("entries") or [], list):
            raise RuleError("must be a list of entries", file=name, row=row, field="entries", value=rec.get("entries"))
        for raw, prefix in raw_entries:
            if not isinstance(raw, Mapping):
                raise RuleError("must be an object", file=name, row=row, field=prefix.rstrip("."), value=raw)
            if not csv_form:
                for k in raw:
                    if k not in ENTRY_FIELDS:
                        raise RuleError("unknown field", file=name, row=row, field=prefix + k, value=raw[k],
                                        hint=f"fields are {', '.join(ENTRY_FIELDS)}")
            try:
                e = PriceEntry.from_dict(raw, currency=head.currency, prefix=prefix)
            except ValidationError as err:
                raise RuleError(bare_message(err), file=name, row=row, field=err.field, value=err.value, hint=err.hint) from None
            if e.item in entries:
                raise RuleError(f"item priced twice in {head.ref}", file=name, row=row, field=prefix + "item", value=e.item)
            entries[e.item] = e
    out = []
    for key in order:
        head, entries, _ = lists[key]
        out.append(PriceList(head.id, head.version, head.currency, head.valid_from, head.valid_to, head.tax_inclusive, entries,
                             head.description))
    return out


def _find(directory: Path, stem: str) -> Path | None:
    found = [directory / f"{stem}{s}" for s in (".yaml", ".yml", ".json", ".csv") if (directory / f"{stem}{s}").exists()]
    if len(found) > 1:
        raise RuleError("more than one file for the same data", file=found[1].name, row=None, field="file", value=found[0].name)
    return found[0] if found else None


def load_book(directory: str | Path, *, catalogue: Catalogue | None = None, catalogue_prices: bool = True) -> PriceBook:
    """A price book from a directory holding ``price_lists``, ``rules``, ``tax_rates`` and ``assignments``
    (each ``.yaml``, ``.yml``, ``.json`` or ``.csv``; a missing file is an empty list), with ``catalogue``.

    Book-level refusals (a duplicate rule version, an assignment to an unknown list) name the file too.
    """
    d = Path(directory)
    parts: dict[str, list] = {}
    files: dict[str, str] = {}
    for stem, loader in (("price_lists", load_price_lists), ("rules", load_rules), ("tax_rates", load_tax_rates),
                         ("assignments", load_assignments)):
        p = _find(d, stem)
        parts[stem] = loader(p) if p is not None else []
        files[stem] = p.name if p is not None else stem
    try:
        return PriceBook(price_lists=parts["price_lists"], assignments=parts["assignments"], rules=parts["rules"],
                         tax_rates=parts["tax_rates"], catalogue=catalogue, catalogue_prices=catalogue_prices)
    except ValidationError as e:
        file = {"price_list": files["assignments"], "rules": files["rules"]}.get(e.field, files["price_lists"])
        raise RuleError(bare_message(e), file=file, row=None, field=e.field, value=e.value, hint=e.hint) from None
