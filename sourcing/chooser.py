"""The order book's per-line location choice, answered by real-time sourcing.

`orderbook.locations` asks a `LocationChooser` for the node of each order line that does not
name one. This chooser asks `sourcing.realtime.source_order` (sourcing rules by item and
category, lanes, node calendars, ATP at every candidate) for a one-line order shipped to the
line's zone: the requested date is a ship date (that is what the order book promises at the
node), the objective is configurable (earliest by default, then cheapest on ties), and the
node serving most of the line wins. Zones the sourcing network does not know fall back to
the order book's own zone chooser.
"""

from __future__ import annotations

import datetime as dt

from orderbook.locations import ZoneChooser
from promessa.errors import NotFoundError
from promising import Policy
from sourcing.realtime import OrderLine, SourcingPolicy, SourcingRequest, source_order
from supplydata.snapshot import Snapshot, State


class SourcingChooser:
    def __init__(self, *, objective: str = "earliest") -> None:
        self.objective = objective
        self.fallback = ZoneChooser()

    def __call__(self, snap: Snapshot, state: State, *, item: str, qty: float, requested_date: dt.date, zone: str,
                 policy: Policy, demand_class: str | None = None) -> str:
        req = SourcingRequest(
            order="line", zone=zone, lines=(OrderLine(1, item, qty, requested_date),),
            policy=SourcingPolicy(objective=self.objective, date_kind="ship", max_splits=0,
                                  allow_partial=policy.allow_partial, max_late_days=policy.max_late_days),
            demand_class=demand_class,
        )
        try:
            answer = source_order(snap, state, req)
        except NotFoundError:  # a zone without lanes or rules
            return self.fallback(snap, state, item=item, qty=qty, requested_date=requested_date, zone=zone,
                                 policy=policy, demand_class=demand_class)
        legs = answer.lines[0].legs
        if legs:
            return max(legs, key=lambda g: g.qty).node
        alts = answer.lines[0].alternatives
        if alts:  # nothing can be promised: the best-ranked candidate takes the backorder
            return min(alts, key=lambda a: (a.rank, a.node)).node
        return self.fallback(snap, state, item=item, qty=qty, requested_date=requested_date, zone=zone,
                             policy=policy, demand_class=demand_class)
