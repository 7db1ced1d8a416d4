"""Available-to-promise: the Python layer over `promising.kernels`.

Validates requests, coerces dtypes once, calls one kernel, and wraps the result in typed
objects that explain themselves (schedule lines, status, binding constraint, pegging).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import math
from collections.abc import Callable

import numpy as np
import polars as pl

from promessa.errors import ValidationError
from promising import kernels as nb
from promising.enums import EPS, FLAG_PARTIAL, FLAG_SPLIT, MAX_LINES, Reason, Status
from promising.reservation import Draw, Reservation, reserve, unreserve
from supplydata.snapshot import Snapshot, State

_NO_CAL = np.ones(0, dtype=np.bool_)


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    """Per-line promising policy."""

    allow_partial: bool = True       # promise part of the quantity when the whole cannot be
    allow_split: bool = False        # several schedule lines on several dates
    max_late_days: int | None = None  # latest acceptable date = requested + this; None: horizon
    max_lines: int = 4               # most schedule lines when splitting (1..8)

    def __post_init__(self) -> None:
        if not 1 <= self.max_lines <= MAX_LINES:
            raise ValidationError(f"must be between 1 and {MAX_LINES}", field="policy.max_lines", value=self.max_lines)
        if self.max_late_days is not None and self.max_late_days < 0:
            raise ValidationError("must not be negative", field="policy.max_late_days", value=self.max_late_days)

    @property
    def flags(self) -> int:
        return (FLAG_PARTIAL if self.allow_partial else 0) | (FLAG_SPLIT if self.allow_split else 0)

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
    date: dt.date
    qty: float


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
            "lines": [{"date": ln.date.isoformat(), "qty": ln.qty} for ln in self.lines],
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


def check_qty(qty: float, field: str = "qty") -> float:
    try:
        q = float(qty)
    except (TypeError, ValueError):
        raise ValidationError("not a number", field=field, value=qty) from None
    if not math.isfinite(q) or q <= 0:
        raise ValidationError("must be a positive number", field=field, value=qty)
    return q


def resolve_il(snap: Snapshot, item: str, location: str) -> int:
    """Item-location code for a request; unknown ids are refused naming the field."""
    ic = snap.item_index.get(item)
    if ic is None:
        raise ValidationError("unknown item", field="item", value=item)
    lc = snap.location_index.get(location)
    if lc is None:
        raise ValidationError("unknown location", field="location", value=location)
    return snap.il_index.get((ic, lc), -1)


def calendar_row(snap: Snapshot, il: int) -> np.ndarray:
    c = snap.il_calendar[il]
    return snap.calendar_open[c] if c >= 0 else _NO_CAL


# Promise paths contributed by other packages (see `register_class_path`, `register_shortfall_path`).
ClassPath = Callable[..., "Promise | None"]
_CLASS_PATHS: list[ClassPath] = []
_SHORTFALL_PATHS: list[Callable[..., "Promise | None"]] = []
_PLUGINS = ("allocation", "promising.ctp")
_plugins_loaded = False


def register_class_path(path: ClassPath) -> None:
    """A path tried first for requests with a demand class: path(snap, state, request, *, commit,
    explain) -> Promise, or None when it does not apply (then plain ATP answers)."""
    if path not in _CLASS_PATHS:
        _CLASS_PATHS.append(path)


def register_shortfall_path(path: Callable[..., Promise | None]) -> None:
    """A path tried when plain ATP is not FULL: path(snap, state, request, atp_answer, *, commit,
    explain) -> Promise (committed by the path itself when `commit`), or None."""
    if path not in _SHORTFALL_PATHS:
        _SHORTFALL_PATHS.append(path)


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for name in _PLUGINS:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def promise(snap: Snapshot, state: State, request: Request, *, commit: bool = False, explain: bool = True) -> Promise:
    """Promise one line. With `commit`, what it promises is reserved in `state`.

    Requests with a demand class go through allocation where quotas exist; when plain ATP
    cannot promise the whole quantity on time, capable-to-promise may answer instead.
    `explain` adds pegging (which supply records the promise consumes)."""
    if not _plugins_loaded:
        _load_plugins()
    if request.demand_class is not None and _CLASS_PATHS:
        for path in _CLASS_PATHS:
            p = path(snap, state, request, commit=commit, explain=explain)
            if p is not None:
                return p
    p, il, out_b, out_q = promise_atp(snap, state, request, explain=explain)
    if p.status is not Status.FULL and _SHORTFALL_PATHS and il >= 0:
        for path in _SHORTFALL_PATHS:
            alt = path(snap, state, request, p, commit=commit, explain=explain)
            if alt is not None:
                return alt
    if commit and p.lines:
        cum = state.cum[il]
        for k in range(len(p.lines)):
            nb.commit_1d_nb(cum, out_b[k], out_q[k])
        p = dataclasses.replace(p, committed=True)
    return p


def promise_atp(snap: Snapshot, state: State, request: Request, *, explain: bool = True):
    """Plain ATP answer without committing. Returns (promise, il, buckets, quantities)."""
    q = check_qty(request.qty)
    il = resolve_il(snap, request.item, request.location)
    req = snap.bucket(request.requested_date, field="requested_date")
    pol = request.policy
    out_b = np.empty(MAX_LINES, dtype=np.int64)
    out_q = np.empty(MAX_LINES)
    if il < 0:
        return Promise(request, Status.SHORT, Reason.NO_SOURCE, (), None), il, out_b, out_q
    status, reason, n, ef = nb.promise_1d_nb(
        state.cum[il], snap.il_lead_time[il], calendar_row(snap, il), q, req, pol.max_late, pol.flags, pol.max_lines,
        False, np.empty(snap.horizon), out_b, out_q,
    )
    pegs: tuple[Peg, ...] = ()
    if explain and n:
        pegs = pegs_for(snap, state, il, out_b[:n], out_q[:n])
    as_of = snap.as_of
    lines = tuple(ScheduleLine(as_of + dt.timedelta(days=int(out_b[k])), float(out_q[k])) for k in range(n))
    p = Promise(request, Status(status), Reason(reason), lines, as_of + dt.timedelta(days=int(ef)) if ef >= 0 else None, pegs)
    return p, il, out_b, out_q


def pegs_for(snap: Snapshot, state: State, il: int, line_b: np.ndarray, line_q: np.ndarray) -> tuple[Peg, ...]:
    lo, hi = snap.sup_ptr[il], snap.sup_ptr[il + 1]
    sup_b, sup_q, sup_row = snap.sup_bucket[lo:hi], snap.sup_qty[lo:hi], snap.sup_row[lo:hi]
    supply = snap.supply[il]
    adj = state.adjustments.get(il)
    if adj:
        # received adjustments peg like receipts (row -2); removals count as consumption
        pos = {b: q for b, q in adj.items() if q > EPS}
        supply = supply + state.supply_adjustment(il).clip(min=0.0)
        if pos:
            sup_b = np.concatenate([sup_b, np.fromiter(pos, dtype=np.int32)])
            sup_q = np.concatenate([sup_q, np.fromiter(pos.values(), dtype=np.float64)])
            sup_row = np.concatenate([sup_row, np.full(len(pos), -2, dtype=np.int64)])
            order = np.argsort(sup_b, kind="stable")
            sup_b, sup_q, sup_row = sup_b[order], sup_q[order], sup_row[order]
    consumed = np.empty(snap.horizon)
    nb.consumption_1d_nb(supply, state.cum[il], consumed)
    m = sup_b.shape[0] + len(line_b) + 1
    out_line = np.empty(m, dtype=np.int64)
    out_rec = np.empty(m, dtype=np.int64)
    out_qty = np.empty(m)
    k = nb.peg_1d_nb(np.ascontiguousarray(sup_b), np.ascontiguousarray(sup_q), consumed, line_b, line_q, out_line, out_rec, out_qty)
    rows = _supply_rows(snap)
    as_of = snap.as_of
    out = []
    for j in range(k):
        rec = int(out_rec[j])
        if rec < 0:
            out.append(Peg(int(out_line[j]), float(out_qty[j]), None, "replenishment", None, -1))
            continue
        row = int(sup_row[rec])
        if row == -2:
            out.append(Peg(int(out_line[j]), float(out_qty[j]), snap.date(int(sup_b[rec])), "adjustment", None, -2))
            continue
        d, kind, ref = rows[row]
        out.append(Peg(int(out_line[j]), float(out_qty[j]), d if d > as_of else as_of, kind, ref, row))
    return tuple(out)


def _supply_rows(snap: Snapshot) -> list[tuple]:
    """(date, kind, ref) per supply row, built once per snapshot for explanations."""
    rows = snap.derived.get("supply_rows")
    if rows is None:
        sup = snap.tables["supply"]
        rows = list(zip(sup["date"].to_list(), sup["kind"].to_list(), sup["ref"].to_list()))
        snap.derived["supply_rows"] = rows
    return rows


def commit(snap: Snapshot, state: State, item: str, location: str, date: dt.date | str, qty: float,
           *, demand_class: str | None = None) -> bool:
    """Reserve `qty` on `date` unconditionally (replay of an existing commitment).

    Returns False when it pushed a non-negative cumulative position below zero: the
    commitment is kept, and the caller reports it as an exception."""
    draw = Draw("atp", item, location, snap.date(snap.bucket(date)), check_qty(qty), demand_class)
    return not reserve(snap, state, Reservation((draw,)))


def release(snap: Snapshot, state: State, item: str, location: str, date: dt.date | str, qty: float,
            *, demand_class: str | None = None) -> None:
    """Give back a reservation made by `promise(commit=True)` or `commit` (exact inverse)."""
    draw = Draw("atp", item, location, snap.date(snap.bucket(date)), check_qty(qty), demand_class)
    unreserve(snap, state, Reservation((draw,)))


# ---------------------------------------------------------------- batch


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
    bucket: np.ndarray     # int64[n, MAX_LINES]
    qty: np.ndarray        # float64[n, MAX_LINES]
    earliest_full: np.ndarray  # int64[n], -1 = none

    @property
    def promised(self) -> np.ndarray:
        mask = np.arange(MAX_LINES)[None, :] < self.n_lines[:, None]
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


def encode_lines(
    snap: Snapshot,
    lines: pl.DataFrame,
    *,
    policy: Policy = DEFAULT_POLICY,
) -> EncodedLines:
    """Coerce order lines (columns item, location, qty, requested_date; optional allow_partial,
    allow_split, max_late_days, max_lines) into kernel arrays. Unknown ids and bad values are
    refused naming the row and the column."""
    for c in ("item", "location", "qty", "requested_date"):
        if c not in lines.columns:
            raise ValidationError("required column missing", field=c, value=None)
    n = lines.height
    ic = lines["item"].replace_strict(snap.item_index, default=-1, return_dtype=pl.Int64).to_numpy()
    lc = lines["location"].replace_strict(snap.location_index, default=-1, return_dtype=pl.Int64).to_numpy()
    for name, codes in (("item", ic), ("location", lc)):
        bad = np.flatnonzero(codes < 0)
        if bad.size:
            raise ValidationError(f"unknown {name} in row {bad[0] + 1}", field=name, value=lines[name][int(bad[0])])
    qty = lines["qty"].cast(pl.Float64).to_numpy()
    badq = np.flatnonzero(~np.isfinite(qty) | (qty <= 0))
    if badq.size:
        raise ValidationError(f"must be a positive number (row {badq[0] + 1})", field="qty", value=float(qty[badq[0]]))
    rd = lines["requested_date"]
    if rd.dtype == pl.String:
        rd = rd.str.to_date("%Y-%m-%d")
    days = rd.cast(pl.Int32).to_numpy().astype(np.int64) - (snap.as_of - dt.date(1970, 1, 1)).days
    late = np.flatnonzero(days >= snap.horizon)
    if late.size:
        raise ValidationError(f"date outside the horizon (row {late[0] + 1}, last day {snap.last_date})", field="requested_date", value=str(rd[int(late[0])]))
    req = np.maximum(days, 0)
    # item-location codes via sorted keys (vectorised; no Python loop per line)
    nloc = max(snap.n_locations, 1)
    keys = snap.il_item.astype(np.int64) * nloc + snap.il_loc
    want = ic * nloc + lc
    pos = np.searchsorted(keys, want)
    pos_c = np.minimum(pos, max(len(keys) - 1, 0))
    ils = np.where((len(keys) > 0) & (keys[pos_c] == want), pos_c, -1).astype(np.int64) if len(keys) else np.full(n, -1, np.int64)

    def col(name: str, default, dtype):
        if name in lines.columns:
            return lines[name].fill_null(default).cast(dtype).to_numpy()
        return np.full(n, default)

    allow_partial = col("allow_partial", policy.allow_partial, pl.Boolean).astype(bool)
    allow_split = col("allow_split", policy.allow_split, pl.Boolean).astype(bool)
    flags = np.where(allow_partial, FLAG_PARTIAL, 0) | np.where(allow_split, FLAG_SPLIT, 0)
    max_late = col("max_late_days", policy.max_late, pl.Int64).astype(np.int64)
    max_lines = col("max_lines", policy.max_lines, pl.Int64).astype(np.int64)
    if ((max_lines < 1) | (max_lines > MAX_LINES)).any():
        i = int(np.flatnonzero((max_lines < 1) | (max_lines > MAX_LINES))[0])
        raise ValidationError(f"must be between 1 and {MAX_LINES} (row {i + 1})", field="max_lines", value=int(max_lines[i]))
    return EncodedLines(ils, np.ascontiguousarray(qty, dtype=np.float64), req.astype(np.int64), max_late,
                        flags.astype(np.int64), max_lines)


def promise_encoded(snap: Snapshot, state: State, enc: EncodedLines, *, commit: bool = True) -> BatchResult:
    """Promise pre-encoded lines in one kernel call, in the given order."""
    n = len(enc)
    out = BatchResult(
        status=np.empty(n, dtype=np.int8), reason=np.empty(n, dtype=np.int8), n_lines=np.empty(n, dtype=np.int64),
        bucket=np.empty((n, MAX_LINES), dtype=np.int64), qty=np.empty((n, MAX_LINES)),
        earliest_full=np.empty(n, dtype=np.int64),
    )
    nb.promise_batch_nb(
        state.cum, snap.il_lead_time, snap.il_calendar, snap.calendar_open,
        enc.ils, enc.qty, enc.req, enc.max_late, enc.flags, enc.max_lines, commit,
        out.status, out.reason, out.n_lines, out.bucket, out.qty, out.earliest_full,
    )
    return out


def promise_batch(snap: Snapshot, state: State, lines: pl.DataFrame, *, commit: bool = True,
                  policy: Policy = DEFAULT_POLICY) -> BatchResult:
    """Promise many lines in one kernel call; each consumes what the previous ones committed."""
    return promise_encoded(snap, state, encode_lines(snap, lines, policy=policy), commit=commit)


# ---------------------------------------------------------------- reports


def atp_report(snap: Snapshot, state: State, item: str, location: str, *, start: dt.date | None = None,
               end: dt.date | None = None) -> pl.DataFrame:
    """Time-phased ATP for one item-location: per bucket supply, demand, committed, cumulative
    net position, available-to-promise (cumulative, backward consumption) and the textbook
    discrete ATP row with look-ahead."""
    il = resolve_il(snap, item, location)
    H = snap.horizon
    if il < 0:
        supply = demand = committed = cum = np.zeros(H)
        lt = -1
        avail = np.zeros(H)
    else:
        supply, demand = snap.supply[il], snap.demand[il]
        if il in state.adjustments:
            supply = supply + state.supply_adjustment(il)
        committed = state.committed(il)
        cum = state.cum[il]
        avail = np.empty(H)
        nb.availability_1d_nb(cum, snap.il_lead_time[il], 0, avail)
        lt = int(snap.il_lead_time[il])
    discrete = np.empty(H)
    nb.discrete_atp_1d_nb(np.ascontiguousarray(supply), np.ascontiguousarray(demand + committed), discrete)
    df = pl.DataFrame({
        "bucket": np.arange(H, dtype=np.int64),
        "date": pl.date_range(snap.as_of, snap.last_date, "1d", eager=True),
        "supply": supply, "demand": demand, "committed": committed,
        "cumulative": cum, "available": avail, "discrete_atp": discrete,
    })
    if lt >= 0:
        df = df.with_columns(pl.when(pl.col("available").is_infinite()).then(None).otherwise(pl.col("available")).alias("available"))
    if start is not None:
        df = df.filter(pl.col("date") >= start)
    if end is not None:
        df = df.filter(pl.col("date") <= end)
    return df


def available(snap: Snapshot, state: State, item: str, location: str, date: dt.date | str) -> float:
    """Quantity a new request could take on `date` (inf beyond the lead time)."""
    il = resolve_il(snap, item, location)
    if il < 0:
        return 0.0
    return float(nb.available_at_1d_nb(state.cum[il], snap.il_lead_time[il], snap.bucket(date)))
