"""Location choosers: which node ships an order line that names only a customer zone.

The order book asks a `LocationChooser` for the node of each line that does not name one.
Two choosers exist, both here:

- `ZoneChooser`: the ranked sourcing rules of the zone (then the zone's locations, then any
  location stocking the item), the first that can promise the line in full on the requested
  date, else the one promising the most;
- `SourcingChooser`: real-time sourcing (`sourcing.realtime`: rules, lanes, calendars, a
  configurable objective), falling back to a `ZoneChooser` for zones the network does not know.

`get_location_chooser()` is the default for callers given none: a shared `ZoneChooser`.
`zones(snap)` lists every zone a snapshot knows.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from promessa.errors import NotFoundError, ValidationError
from promising import Policy, Request, Status, promise
from sourcing.realtime import OrderLine, SourcingPolicy, SourcingRequest, line_node
from supplydata.snapshot import Snapshot, State

__all__ = ["MAX_CANDIDATES", "LocationChooser", "SourcingChooser", "ZoneChooser", "get_location_chooser", "zones"]

MAX_CANDIDATES = 8


class LocationChooser(Protocol):
    """Any callable that names the node for one order line shipped to a zone:
    (snap, state, *, item, qty, requested_date, zone, policy, demand_class) -> location."""

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
    """Ranked zone rules: the sourcing rules for the zone (by rank, item or category rules
    first), then the locations in the zone, then any location that stocks the item; among those
    the first that can promise the whole quantity on the requested date, else the one that
    promises the most (earliest on ties). Candidate lists are cached per (snapshot, zone, item)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, str, str], tuple[str, ...]] = {}

    def candidates(self, snap: Snapshot, zone: str, item: str) -> tuple[str, ...]:
        """The candidate locations for `item` shipped to `zone`, best-ranked first (at most MAX_CANDIDATES)."""
        key = (snap.version, zone, item)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        ic = snap.item_code(item)
        stocked = lambda loc: loc in snap.location_index and snap.il(ic, snap.location_index[loc]) >= 0  # noqa: E731
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

    def __call__(self, snap: Snapshot, state: State, *, item: str, qty: float, requested_date: dt.date, zone: str,
                 policy: Policy, demand_class: str | None = None) -> str:
        """The location for one line (a `LocationChooser`); refuses an item no location stocks."""
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


class SourcingChooser:
    """Real-time sourcing for one line (a `LocationChooser`): `sourcing.realtime.source_order`
    for a one-line order shipped to the line's zone (sourcing rules by item and category, lanes,
    node calendars, ATP at every candidate). The requested date is a ship date (that is what the
    order book promises at the node); `objective` ranks the nodes (earliest by default, then
    cheapest on ties); the node serving most of the line wins. Zones the sourcing network does
    not know fall back to a `ZoneChooser`."""

    def __init__(self, *, objective: str = "earliest") -> None:
        self.objective = objective
        self.fallback = ZoneChooser()
        self._policies: dict[tuple, SourcingPolicy] = {}  # immutable: one per (objective, partial, late days)

    def _policy(self, policy: Policy) -> SourcingPolicy:
        key = (self.objective, policy.allow_partial, policy.max_late_days)
        got = self._policies.get(key)
        if got is None:
            got = self._policies[key] = SourcingPolicy(objective=self.objective, date_kind="ship", max_splits=0,
                                                       allow_partial=policy.allow_partial,
                                                       max_late_days=policy.max_late_days)
        return got

    def __call__(self, snap: Snapshot, state: State, *, item: str, qty: float, requested_date: dt.date, zone: str,
                 policy: Policy, demand_class: str | None = None) -> str:
        """The location for one line; see the class docstring."""
        req = SourcingRequest(order="line", zone=zone, lines=(OrderLine(1, item, qty, requested_date),),
                              policy=self._policy(policy), demand_class=demand_class)
        try:
            node, ctx = line_node(snap, state, req)  # source_order's node for the line; the order book reserves
        except NotFoundError:  # a zone without lanes or rules
            return self.fallback(snap, state, item=item, qty=qty, requested_date=requested_date, zone=zone,
                                 policy=policy, demand_class=demand_class)
        if node is not None:
            return node
        # nothing can be promised: the best-ranked candidate (any node with a rule, stocked or not) takes the backorder
        ids, rank = snap.location_ids, ctx.rank[0]
        alts = [(int(rank[k]), ids[ctx.nodes[k]]) for k in range(ctx.K) if rank[k] >= 0]
        if alts:
            return min(alts)[1]
        return self.fallback(snap, state, item=item, qty=qty, requested_date=requested_date, zone=zone,
                             policy=policy, demand_class=demand_class)


_DEFAULT = ZoneChooser()


def get_location_chooser() -> LocationChooser:
    """The chooser used when a caller is given none: one shared `ZoneChooser` (its candidate
    cache is shared too). There is no setter: pass a chooser explicitly to use another."""
    return _DEFAULT
