"""Where a line ships from when the order names only a zone: the one pluggable hook.

Until the sourcing package provides real-time sourcing, :class:`ZoneChooser` picks a location
from the snapshot: the sourcing rules for the zone (by rank, item or category rules first),
then the locations in the zone, then any location that stocks the item; among those it takes
the first that can promise the whole quantity on the requested date, else the one that
promises the most (earliest on ties). Replace it with :func:`set_location_chooser` (or pass
``chooser=`` to the service); a chooser is any callable with :class:`LocationChooser`'s
signature.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from promessa.errors import ValidationError
from promising import Policy, Request, Status, promise
from supplydata import Snapshot, State

MAX_CANDIDATES = 8


class LocationChooser(Protocol):
    def __call__(
        self, snap: Snapshot, state: State, *, item: str, qty: float, requested_date: dt.date, zone: str,
        policy: Policy, demand_class: str | None = None,
    ) -> str: ...


def zones(snap: Snapshot) -> frozenset[str]:
    """Every zone the snapshot knows (locations, lanes and sourcing rules)."""
    out: set[str] = set()
    for table in ("locations", "lanes", "sourcing"):
        df = snap.tables.get(table)
        if df is not None and "zone" in df.columns:
            out.update(z for z in df["zone"].drop_nulls().unique().to_list())
    return frozenset(out)


class ZoneChooser:
    """Default chooser (see module docstring); candidate lists are cached per (zone, item)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, str, str], tuple[str, ...]] = {}

    def candidates(self, snap: Snapshot, zone: str, item: str) -> tuple[str, ...]:
        key = (snap.version, zone, item)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        ic = snap.item_code(item)
        stocked = lambda loc: snap.il_index.get((ic, snap.location_index.get(loc, -1)), -1) >= 0  # noqa: E731
        out: list[str] = []
        rules = snap.tables.get("sourcing")
        if rules is not None and rules.height:
            cat = None
            items = snap.tables["items"]
            if "category" in items.columns:
                row = items.filter(items["item"] == item)
                cat = row["category"][0] if row.height else None
            r = rules.filter(rules["zone"] == zone)
            specific = r.filter(r["item"] == item)
            by_cat = r.filter(r["item"].is_null() & (r["category"] == cat)) if cat is not None else r.clear()
            generic = r.filter(r["item"].is_null() & r["category"].is_null())
            for part in (specific, by_cat, generic):
                for loc in part.sort("rank")["location"].to_list():
                    if loc not in out and stocked(loc):
                        out.append(loc)
        locs = snap.tables["locations"]
        for loc in locs.filter(locs["zone"] == zone)["location"].to_list():
            if loc not in out and stocked(loc):
                out.append(loc)
        if not out:
            for loc in snap.location_ids:
                if stocked(loc):
                    out.append(loc)
        res = tuple(out[:MAX_CANDIDATES])
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[key] = res
        return res

    def __call__(self, snap, state, *, item, qty, requested_date, zone, policy, demand_class=None) -> str:
        cands = self.candidates(snap, zone, item)
        if not cands:
            raise ValidationError("no location stocks this item", field="item", value=item)
        best, best_key = cands[0], None
        for loc in cands:
            p = promise(snap, state, Request(item, loc, qty, requested_date, policy, demand_class), explain=False)
            if p.status is Status.FULL:
                return loc
            first = p.lines[0].date if p.lines else dt.date.max
            k = (-p.promised_qty, first)
            if best_key is None or k < best_key:
                best, best_key = loc, k
        return best


_chooser: LocationChooser = ZoneChooser()


def get_location_chooser() -> LocationChooser:
    return _chooser


def set_location_chooser(chooser: LocationChooser) -> None:
    """Replace the process-wide default (the sourcing package calls this)."""
    global _chooser
    _chooser = chooser
