"""What a promise reserves, in a form that can be stored, replayed and released exactly.

A `Reservation` is a list of `Draw`s. Two kinds exist:

- "atp" (`ATP`) takes quantity from an item-location's cumulative position (the finished item,
  or a component of a capable-to-promise promise); with a demand class or `pools` it also
  charges allocation quotas (`allocation.apply_atp_draw`);
- "capacity" (`CAPACITY`) uses resource capacity on a day (`promising.ctp.capacity_draw`).

This module applies the plain cumulative-position part (`atp_draw`). The one dispatch on the
draw kind is `promising.engine.apply_draw`, behind `reserve`, `unreserve` and `reserve_many`.
The order book stores `Reservation.to_dict()`; at start-up and on a snapshot refresh it replays
them with `promising.reserve_many`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from promessa.errors import ValidationError
from promising import kernels as nb
from supplydata.snapshot import Snapshot, State


ATP = "atp"              # draw kind: cumulative position of an item-location
CAPACITY = "capacity"    # draw kind: resource capacity on a day (also the state.extras key)
KINDS = (ATP, CAPACITY)


@dataclasses.dataclass(frozen=True, slots=True)
class Draw:
    """One part of a reservation: `qty` of `key` (item for "atp", resource for "capacity") at
    `location` from `date`, with the demand class and the quota pools it consumed."""

    kind: str                 # ATP or CAPACITY
    key: str                  # item for "atp", resource for "capacity"
    location: str
    date: dt.date
    qty: float
    demand_class: str | None = None
    pools: tuple[tuple[str, float], ...] = ()  # allocation: quotas consumed, (pool, qty)

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "key": self.key, "location": self.location, "date": self.date.isoformat(), "qty": self.qty}
        if self.demand_class is not None:
            d["demand_class"] = self.demand_class
        if self.pools:
            d["pools"] = [[p, q] for p, q in self.pools]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Draw:
        return cls(
            kind=d["kind"], key=d["key"], location=d["location"], date=dt.date.fromisoformat(d["date"]),
            qty=float(d["qty"]), demand_class=d.get("demand_class"),
            pools=tuple((str(p), float(q)) for p, q in d.get("pools", ())),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Reservation:
    """What a promise reserves: its draws, in the order they were applied."""

    draws: tuple[Draw, ...] = ()

    def to_dict(self) -> dict:
        return {"draws": [d.to_dict() for d in self.draws]}

    @classmethod
    def from_dict(cls, d: dict) -> Reservation:
        return cls(tuple(Draw.from_dict(x) for x in d.get("draws", ())))

    @property
    def qty(self) -> float:
        return float(sum(d.qty for d in self.draws))

    def __bool__(self) -> bool:
        return bool(self.draws)


def draw_il(snap: Snapshot, draw: Draw) -> int:
    """The item-location code of an "atp" draw; an unknown item or location, or an item without
    a row at the location, is refused naming the draw's field."""
    ic = snap.item_index.get(draw.key)
    lc = snap.location_index.get(draw.location)
    if ic is None:
        raise ValidationError("unknown item", field="draw.key", value=draw.key)
    if lc is None:
        raise ValidationError("unknown location", field="draw.location", value=draw.location)
    il = snap.il(ic, lc)  # the dense and the compact snapshot alike
    if il < 0:
        raise ValidationError("the item has no row at that location", field="draw.location", value=draw.location)
    return il


def atp_draw(snap: Snapshot, state: State, draw: Draw, il: int, sign: int) -> bool:
    """Move the cumulative position of item-location `il` by one "atp" draw: reserve (`sign` +1)
    or give back (-1) `draw.qty` from `draw.date` on.

    Returns False when reserving pushed a non-negative position below zero (before the lead
    time): the draw is applied anyway and the caller reports it. Only `state.cum` changes;
    allocation pools are `allocation.apply_atp_draw`'s."""
    b = snap.bucket(draw.date, field="draw.date")
    if sign > 0:
        return bool(nb.commit_lt_1d_nb(state.cum[il], b, draw.qty, snap.il_lead_time[il]))
    nb.release_1d_nb(state.cum[il], b, draw.qty)
    return True


@dataclasses.dataclass(frozen=True)
class ManyResult:
    """What `promising.engine.reserve_many` did: indexes of the draws that did not fit (applied
    anyway) and of the draws refused outright (unknown item or location, date past the horizon)."""

    not_fitting: list[int]
    errors: list[tuple[int, Exception]]
