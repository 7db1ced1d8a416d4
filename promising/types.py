"""The records of promising: what a request asks, what a promise answers, and batch results.

Plain frozen dataclasses shared by every path (ATP, allocation, capable-to-promise, sourcing).
A `Promise` carries the draws it reserves (`promising.reservation.Draw`), so the order book can
store, replay and release it exactly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import polars as pl

from promessa.errors import ValidationError
from promising.enums import FLAG_BACKORDER, FLAG_PARTIAL, FLAG_SPLIT, MAX_SPLIT_LINES, Reason, Status
from promising.reservation import Draw, Reservation
from supplydata.snapshot import Snapshot

__all__ = [
    "DEFAULT_POLICY", "BatchResult", "EncodedLines", "Peg", "Policy", "Promise", "Request", "ScheduleLine",
]


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    """Per-line promising policy."""

    allow_partial: bool = True       # promise part of the quantity when the whole cannot be
    allow_split: bool = False        # several schedule lines on several dates
    max_late_days: int | None = None  # latest acceptable date = requested + this; None: horizon
    max_lines: int = 4               # most schedule lines when splitting (1..MAX_SPLIT_LINES)
    # partial without split: False = the largest quantity reachable in the window, on the day it
    # is reached; True = confirm what the requested day (its first working day) has and
    # backorder the rest (when that day has some but not all)
    backorder: bool = False
    # where the snapshot has a `substitutes` chain for the item: when the item alone cannot
    # promise the whole quantity on time, fill it on time from the item and its substitutes
    allow_substitution: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.max_lines <= MAX_SPLIT_LINES:
            raise ValidationError(f"must be between 1 and {MAX_SPLIT_LINES}", field="policy.max_lines",
                                  value=self.max_lines)
        if self.max_late_days is not None and self.max_late_days < 0:
            raise ValidationError("must not be negative", field="policy.max_late_days", value=self.max_late_days)

    @property
    def flags(self) -> int:
        return ((FLAG_PARTIAL if self.allow_partial else 0) | (FLAG_SPLIT if self.allow_split else 0)
                | (FLAG_BACKORDER if self.backorder else 0))

    @property
    def max_late(self) -> int:
        return -1 if self.max_late_days is None else int(self.max_late_days)


DEFAULT_POLICY = Policy()


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """Asks for a quantity of an item at a location on a date."""

    item: str
    location: str
    qty: float
    requested_date: dt.date
    policy: Policy = DEFAULT_POLICY
    demand_class: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ScheduleLine:
    """A confirmed quantity on a date. `item` names the item promised on this line when a
    substitution answered (the requested item or a substitute); None: the requested item."""

    date: dt.date
    qty: float
    item: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Peg:
    """A part of a schedule line covered by one supply record (or by replenishment)."""

    line: int            # index of the schedule line
    qty: float
    supply_date: dt.date | None  # None for replenishment after the lead time
    kind: str            # supply kind (onhand, purchase, ...) or "replenishment"
    ref: str | None
    row: int             # row in the snapshot's supply table; -1 replenishment, -2 real-time adjustment


@dataclasses.dataclass(frozen=True, slots=True)
class Promise:
    """Answers a request: quantity, dates, status and the reason."""

    request: Request
    status: Status
    reason: Reason
    lines: tuple[ScheduleLine, ...]
    earliest_full_date: dt.date | None  # earliest date the whole quantity is available (any policy)
    pegs: tuple[Peg, ...] = ()
    committed: bool = False
    # what the promise reserves; None means "the schedule lines, from the item-location's ATP"
    draws: tuple[Draw, ...] | None = None
    # explanation added by the path that answered (allocation, capable-to-promise, sourcing)
    details: dict | None = None

    @property
    def reservation(self) -> Reservation:
        if self.draws is not None:
            return Reservation(self.draws)
        r = self.request
        return Reservation(tuple(Draw("atp", r.item, r.location, ln.date, ln.qty, r.demand_class) for ln in self.lines))

    @property
    def promised_qty(self) -> float:
        return float(sum(ln.qty for ln in self.lines))

    @property
    def short_qty(self) -> float:
        return max(0.0, float(self.request.qty) - self.promised_qty)

    @property
    def message(self) -> str:
        r = self.request
        head = f"{self.promised_qty:g} of {r.qty:g} {r.item} at {r.location}"
        if self.lines:
            head += " on " + ", ".join(f"{ln.date} ({ln.qty:g})" for ln in self.lines)
        head += f": {self.status.description}"
        if self.reason is not Reason.NONE:
            head += f"; {self.reason.description}"
        if self.status is not Status.FULL and self.earliest_full_date is not None:
            head += f"; the whole quantity is available on {self.earliest_full_date}"
        return head

    def to_dict(self) -> dict:
        r = self.request
        return {
            "item": r.item,
            "location": r.location,
            "qty": r.qty,
            "requested_date": r.requested_date.isoformat(),
            "demand_class": r.demand_class,
            "status": self.status.name.lower(),
            "reason": self.reason.name.lower(),
            "promised_qty": self.promised_qty,
            "short_qty": self.short_qty,
            "lines": [{"date": ln.date.isoformat(), "qty": ln.qty, "item": ln.item or r.item} for ln in self.lines],
            "earliest_full_date": self.earliest_full_date.isoformat() if self.earliest_full_date else None,
            "pegs": [
                {"line": p.line, "qty": p.qty, "supply_date": p.supply_date.isoformat() if p.supply_date else None,
                 "kind": p.kind, "ref": p.ref}
                for p in self.pegs
            ],
            "committed": self.committed,
            "reservation": self.reservation.to_dict(),
            "details": self.details or {},
            "message": self.message,
        }



@dataclasses.dataclass(frozen=True)
class EncodedLines:
    """Order lines coerced once into kernel arrays."""

    ils: np.ndarray        # int64[n], -1 where the item has no row at the location
    qty: np.ndarray        # float64[n]
    req: np.ndarray        # int64[n] requested bucket
    max_late: np.ndarray   # int64[n], -1 = no limit
    flags: np.ndarray      # int64[n]
    max_lines: np.ndarray  # int64[n]

    def __len__(self) -> int:
        return int(self.ils.shape[0])


@dataclasses.dataclass(frozen=True)
class BatchResult:
    status: np.ndarray     # int8[n] Status codes
    reason: np.ndarray     # int8[n] Reason codes
    n_lines: np.ndarray    # int64[n]
    bucket: np.ndarray     # int64[n, W], W = lines_width(max_lines of the call)
    qty: np.ndarray        # float64[n, W]
    earliest_full: np.ndarray  # int64[n], -1 = none

    @property
    def promised(self) -> np.ndarray:
        mask = np.arange(self.qty.shape[1])[None, :] < self.n_lines[:, None]
        return np.where(mask, self.qty, 0.0).sum(axis=1)

    def to_polars(self, snap: Snapshot) -> pl.DataFrame:
        """One row per line: status, reason, promised quantity, first and last schedule date."""
        rows = np.arange(len(self.n_lines))
        has = self.n_lines > 0
        first = np.where(has, self.bucket[:, 0], -1)
        last = np.where(has, self.bucket[rows, np.maximum(self.n_lines - 1, 0)], -1)
        base = np.datetime64(snap.as_of, "D")

        def dates(b: np.ndarray) -> pl.Series:
            return pl.Series(np.where(b >= 0, base + b.astype("timedelta64[D]"), np.datetime64("NaT", "D")))

        return pl.DataFrame({
            "status": pl.Series([s.name.lower() for s in Status]).gather(self.status.astype(np.int64)),
            "reason": pl.Series([r.name.lower() for r in Reason]).gather(self.reason.astype(np.int64)),
            "promised_qty": self.promised,
            "schedule_lines": self.n_lines,
            "first_date": dates(first),
            "last_date": dates(last),
        })

