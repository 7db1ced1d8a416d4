"""The reorder report: per item-location, demand history, lead time, reorder point, projected position and
the purchase a policy proposes, with the reason.

Inputs (read only; nothing here writes):

- **demand history** - the order book's lines (``orderbook.queries.line_views``), each counted on its
  requested date at its ship-from location, lines of cancelled orders left out, summed per day over
  the ``window_days`` days ending on the business day (inclusive); days without demand count as 0;
- **lead time** - the policy's ``lead_time_days``, else the item's ``lead_time_days`` (snapshot items
  table). When the item counts it in working days (``lead_time_working_days``) and the location has a
  calendar, the receipt falls on the day by which that many open days *after* the business day have
  passed - as promising counts working-day lead times (``supplydata.snapshot``), but from the business
  day. The ``L`` of the formulas is the number of calendar days from the business day to that receipt;
- **projected position** - from the pair the engine promises against (``OrderService.pair``):
  ``position = on hand + open supply - committed demand`` through the receipt day, which is the
  cumulative position ``C[b + L]`` of the promising state (``b`` the business day's bucket): supply of
  the snapshot and every supply delta (released proposals included) minus the snapshot's demand and
  every commitment, up to and including the receipt day.

The arithmetic (reorder point, order-up-to level, rounding) is :func:`reorder.policy.decide`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np

from orderbook.lifecycle import OrderStatus
from orderbook.queries import line_views
from promessa.errors import FormUnsupported, ValidationError
from reorder.policy import Policy, decide, demand_stats, policy_for


@dataclasses.dataclass(frozen=True)
class ReorderLine:
    """One item-location of the reorder report."""

    item: str
    location: str
    business_day: dt.date
    method: str
    service_level: float
    z: float | None
    window_start: dt.date
    window_end: dt.date
    window_days: int
    demand_total: float
    demand_mean: float
    demand_sigma: float
    lead_time_days: int | None
    lead_time_basis: str
    receipt_date: dt.date | None
    reorder_point: float | None
    order_up_to: float | None
    on_hand: float | None
    open_supply: float | None
    committed: float | None
    position: float | None
    proposed_qty: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for k, v in out.items():
            if isinstance(v, dt.date):
                out[k] = v.isoformat()
            elif isinstance(v, float):
                out[k] = round(v, 6)
        return out


def daily_demand(svc, window: tuple[dt.date, dt.date]) -> dict[tuple[str, str], dict[dt.date, float]]:
    """Demand per (item, location) per requested day inside `window` (first, last day inclusive), from the
    order book's lines (``orderbook.queries.line_views``); lines of cancelled orders and lines without a
    location are left out."""
    first, last = window
    out: dict[tuple[str, str], dict[dt.date, float]] = defaultdict(lambda: defaultdict(float))
    for ln in line_views(svc.store).lines:
        if ln.status == OrderStatus.CANCELLED or not ln.location or not (first <= ln.requested_date <= last):
            continue
        out[(ln.item, ln.location)][ln.requested_date] += float(ln.qty)
    return out


def _item_lead_times(snap) -> dict[str, tuple[int | None, bool]]:
    items = snap.tables["items"]
    lt = items["lead_time_days"].to_list()
    wd = items["lead_time_working_days"].to_list() if "lead_time_working_days" in items.columns else [False] * len(lt)
    return {i: (None if d is None else int(d), bool(w)) for i, d, w in zip(items["item"].to_list(), lt, wd)}


def receipt_bucket(snap, il: int, b: int, days: int, *, working: bool) -> tuple[int | None, str]:
    """(bucket of the receipt ordered on bucket `b` with lead time `days`, basis); None beyond the horizon.
    Working days count the open days of the location's calendar after `b` (``b`` itself is today)."""
    cal = int(snap.il_calendar[il])
    if not working or cal < 0 or days == 0:
        t = b + days
        return (t if t < snap.horizon else None), f"{days} calendar days"
    opened = np.cumsum(snap.calendar_open[cal, b + 1:])
    hit = np.flatnonzero(opened >= days)
    name = snap.calendar_ids[cal]
    return (b + 1 + int(hit[0]) if hit.size else None), f"{days} working days of calendar {name}"


def report(svc, *, default: Policy, overrides: Iterable[dict[str, Any]] = (), today: dt.date | None = None,
           items: Iterable[str] | None = None, locations: Iterable[str] | None = None) -> list[ReorderLine]:
    """The reorder report of the item-locations that have demand in their window or a policy override
    (restricted to `items` / `locations` when given), sorted by item and location.

    Parameters
    ----------
    svc : the order service (its store for demand history, its served pair for positions).
    default : the policy of item-locations without an override (``Policy.default(settings.reorder)``).
    overrides : override rows (``item``, ``location`` and policy fields), later ones win.
    today : the business day (default: ``svc.business_day``: ``clock.business_date``, else the snapshot's day).
    items, locations : only these (unknown names are refused).
    """
    overrides = list(overrides)
    snap, state = svc.pair()
    if snap.form == "compact":  # on hand and open supply per day: the dense snapshot's supply rows
        raise FormUnsupported("the reorder report (on hand, open supply and position by day)")
    day = today or svc.business_day
    if not (snap.as_of <= day <= snap.last_date):
        raise ValidationError(f"the business day must lie in the snapshot's horizon ({snap.as_of}..{snap.last_date})",
                              field="today", value=day.isoformat())
    b = (day - snap.as_of).days
    item_set = set(items) if items is not None else None
    loc_set = set(locations) if locations is not None else None
    for name, known, field in ((item_set, snap.item_index, "items"), (loc_set, snap.location_index, "locations")):
        for x in sorted(name or ()):
            if x not in known:
                raise ValidationError("unknown", field=field, value=x)

    policies: dict[tuple[str, str], Policy] = {}
    widest = default.window_days
    for o in overrides:
        key = (o["item"], o["location"])
        policies[key] = policy_for(default, overrides, *key)
        widest = max(widest, policies[key].window_days)
    history = daily_demand(svc, (day - dt.timedelta(days=widest - 1), day))
    keys = set(history) | set(policies)
    keys = {k for k in keys if (item_set is None or k[0] in item_set) and (loc_set is None or k[1] in loc_set)}
    lead = _item_lead_times(snap)
    out = []
    for item, loc in sorted(keys):
        pol = policies.get((item, loc), default)
        out.append(_line(snap, state, item, loc, day, b, pol, history.get((item, loc), {}), lead.get(item, (None, False))))
    return out


def _line(snap, state, item: str, loc: str, day: dt.date, b: int, pol: Policy, per_day: dict[dt.date, float],
          item_lead: tuple[int | None, bool]) -> ReorderLine:
    start = day - dt.timedelta(days=pol.window_days - 1)
    daily = [per_day.get(start + dt.timedelta(days=k), 0.0) for k in range(pol.window_days)]
    base = dict(item=item, location=loc, business_day=day, method=pol.method, service_level=pol.service_level,
                window_start=start, window_end=day, window_days=pol.window_days, demand_total=float(sum(daily)))
    mean, sigma = demand_stats(daily)
    il = snap.il_of(item, loc) if item in snap.item_index and loc in snap.location_index else -1
    days, working = (pol.lead_time_days, item_lead[1]) if pol.lead_time_days is not None else item_lead

    def nothing(reason: str, **kw: Any) -> ReorderLine:
        fields = dict(z=None, demand_mean=mean, demand_sigma=sigma, lead_time_days=None, lead_time_basis="",
                      receipt_date=None, reorder_point=None, order_up_to=None, on_hand=None, open_supply=None,
                      committed=None, position=None, proposed_qty=0.0, reason=reason)
        fields.update(kw)
        return ReorderLine(**base, **fields)

    if il < 0:
        return nothing("the item has no row at this location in the snapshot")
    if days is None:
        return nothing("no lead time: set lead_time_days on the item or in a reorder policy")
    t, basis = receipt_bucket(snap, il, b, days, working=working)
    if t is None:
        return nothing(f"the receipt ({basis} after {day}) falls past the horizon ({snap.last_date})", lead_time_basis=basis)
    sup = snap.supply[il].copy()
    for bb, q in state.adjustments.get(il, {}).items():
        sup[bb] += q
    on_hand = float(sup[: b + 1].sum())
    open_supply = float(sup[b + 1: t + 1].sum())
    position = float(state.cum[il, t])
    committed = on_hand + open_supply - position
    L = t - b
    d = decide(pol, daily, L, position)
    figures = dict(z=d.z, demand_mean=d.mean, demand_sigma=d.sigma, lead_time_days=L, lead_time_basis=basis,
                   receipt_date=snap.date(t), reorder_point=d.reorder_point, order_up_to=d.order_up_to, on_hand=on_hand,
                   open_supply=open_supply, committed=committed, position=position, proposed_qty=d.qty)
    if d.qty > 0:
        reason = (f"position {position:g} at the receipt day {snap.date(t)} is at or below the reorder point "
                  f"{d.reorder_point:.4g}: order up to {d.order_up_to:.4g}")
    elif position <= d.reorder_point + 1e-9:
        reason = f"position {position:g} is at the reorder point {d.reorder_point:.4g} and already at the order-up-to level"
    else:
        reason = f"position {position:g} is above the reorder point {d.reorder_point:.4g}"
    return ReorderLine(**base, **figures, reason=reason)
