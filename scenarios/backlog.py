"""Backlog rescheduling: promise every open line again against current supply, by strategy group.

Pure and vectorised: takes a snapshot, a commitment state (not modified), the backlog as a
polars DataFrame and a `RescheduleConfig`; returns a `RescheduleResult` holding the new state
(a copy), the new schedule per line and the comparison with the old one.

Backlog columns (one row per open line):

- required: ``item``, ``location``, ``qty`` (open, unshipped quantity), ``requested_date``;
- the current schedule: ``old_date`` and ``old_qty`` (one schedule line; null or 0 = nothing
  confirmed) unless a ``schedule`` frame (``row``, ``date``, ``qty``: several schedule lines
  per backlog row, ``row`` = 0-based row of the backlog) is passed;
- optional: ``order``, ``line``, ``demand_class``, ``customer``, ``priority`` (1 = highest),
  ``created_at``, ``zone``, the line's value (``value``: the open quantity's priced net, an exact
  ``pl.Decimal`` in ``currency``; else ``unit_price``, a float, or the catalogue's price: ``qty x
  price`` rounded half up to the minor unit of ``RescheduleConfig.currency``) and the policy columns
  of `promising.encode_lines` (``allow_partial``, ``allow_split``, ``max_late_days``, ``max_lines``).

Processing order (each step consumes what the previous ones reserved):

1. the backlog's old schedules are given back (on the copy of the state);
2. win and gain lines re-reserve their old confirmation where it still fits, in priority
   order; those whose old confirmation no longer fits are promised afresh right after;
3. win lines, then gain lines, try to improve: a fresh answer replaces the kept one only when
   it is at least as good on every date and better on some (so they never get worse);
4. redistribute lines are promised afresh (first come first served, or fair share);
5. fill lines take what is left: they re-reserve their old confirmation where it still fits,
   otherwise at most their old quantity no earlier than their old (last) date: never more by
   any date than before;
   with ``fill_can_gain`` they are promised afresh from the leftovers instead;
6. lose lines give everything back.

Within a group lines are ordered by priority (the line's, else its demand class's; 1 first),
then created_at, then input order. *Fair share* (``within="fair_share"``) applies to the lines a
group promises afresh: per item-location, when the group asks for more than the quantity still
available over the horizon (A at the last bucket), each line first receives
``floor(qty * available / asked)`` (rounded down to ``fair_share_quantum``; lines that do not
allow partial promises receive their whole quantity or nothing), in the group's order; what
is left (rounding, dates) is then promised first come first served.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from promessa.errors import ValidationError
from promising import EncodedLines, Policy, Promise, encode_lines, promise_encoded
from promising import kernels as pnb
from promising.enums import EPS, FLAG_PARTIAL, MAX_LINES, MAX_SPLIT_LINES, Reason, Status, lines_width
from promising.reservation import Reservation
from scenarios import kernels as nb
from scenarios.enums import Change, Exception_, Strategy
from supplydata.snapshot import Snapshot, State

# categorical result columns (cheap to build for a million lines; compare equal to plain strings)
STRATEGY_DTYPE = pl.Enum([s.name.lower() for s in Strategy])
CHANGE_DTYPE = pl.Enum([c.name.lower() for c in Change])
STATUS_DTYPE = pl.Enum([s.name.lower() for s in Status])
REASON_DTYPE = pl.Enum(list(dict.fromkeys(r.description for r in Reason)))
EXCEPTION_DTYPE = pl.Enum([e.description for e in Exception_ if e.description])

StrategyName = Literal["win", "gain", "redistribute", "fill", "lose"]
Progress = Callable[[str, float], None]  # (message, fraction done 0..1)


class Rule(BaseModel):
    """Assigns the lines it matches to a strategy group. Every given condition must hold;
    the first matching rule wins."""

    model_config = ConfigDict(extra="forbid")

    strategy: StrategyName
    demand_class: list[str] | None = Field(None, description="any of these demand classes")
    customer: list[str] | None = Field(None, description="any of these customers")
    priority_at_most: int | None = Field(None, description="priority <= this (1 is highest)")
    priority_at_least: int | None = Field(None, description="priority >= this")
    created_before: dt.datetime | None = Field(None, description="order created before this time")
    created_after: dt.datetime | None = Field(None, description="order created at or after this time")
    item: list[str] | None = None
    location: list[str] | None = None


class RescheduleConfig(BaseModel):
    """How to reschedule: rules to strategy groups, the ordering within a group, the policy."""

    model_config = ConfigDict(extra="forbid")

    rules: list[Rule] = Field(default_factory=list)
    default_strategy: StrategyName = "redistribute"
    within: Literal["fcfs", "fair_share"] = "fcfs"
    within_by_strategy: dict[StrategyName, Literal["fcfs", "fair_share"]] = Field(
        default_factory=dict, description="ordering within a group per strategy (else `within`)")
    fair_share_quantum: float = Field(1.0, ge=0.0, description="fair shares are rounded down to this (0: exact)")
    fill_can_gain: bool = False
    start_from: Literal["confirmed", "nothing"] = Field(
        "confirmed", description="nothing: every line is promised afresh in group order, keeping no old "
        "confirmation (the old schedule is only given back and compared with)")
    order_within_priority: Literal["created_at", "due_date"] = Field(
        "created_at", description="within a group and priority: creation time (first come, first served) or the "
        "requested date (earliest due first), then input order")
    min_ship_qty: float = Field(0.0, ge=0.0, description="schedule lines below this are not confirmed (units "
                                "given back) unless the line's whole quantity is below it")
    allow_partial: bool = True
    allow_split: bool = False
    max_late_days: int | None = None
    max_lines: int = Field(4, ge=1, le=MAX_SPLIT_LINES, description="most schedule lines per line when splitting")
    currency: str = Field("EUR", pattern="^[A-Z]{3}$", description="currency of float prices (the backlog's "
                          "`unit_price`, the catalogue's) valuing lines that carry no priced `value`")

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, v: str) -> str:
        from promessa.money import MoneyError, minor_unit

        try:
            minor_unit(v)
        except MoneyError:
            raise ValueError(f"unknown ISO 4217 currency {v!r}") from None
        return v

    def policy(self) -> Policy:
        return Policy(allow_partial=self.allow_partial, allow_split=self.allow_split,
                      max_late_days=self.max_late_days, max_lines=self.max_lines)


@dataclasses.dataclass
class RescheduleResult:
    """What rescheduling did. `state` is the new commitment state (a copy; the input is untouched)."""

    lines: pl.DataFrame       # one row per backlog line: old and new schedule summary, change, exception
    schedule: pl.DataFrame    # new schedule lines: row, date, qty
    summary: pl.DataFrame     # counts by strategy and demand class
    state: State
    timings: dict[str, float]
    new_n: np.ndarray         # int64[n]
    new_b: np.ndarray         # int64[n, W] buckets (W: at least MAX_LINES, the largest max_lines or old schedule;
                              # column-major)
    new_q: np.ndarray         # float64[n, W]
    ils: np.ndarray | None = None  # int64[n] item-location code per line (-1: not stocked)
    orders: pl.DataFrame | None = None  # per order: lines, old_on_time, new_on_time (fully by the due date)
    skipped: list[dict] = dataclasses.field(default_factory=list)  # open lines kept as promised, with the reason
    # row -> the engine's new promise (with its draws) for lines re-planned by `scenarios.replan`
    # whose reservation changed (their schedule, or the items, pools or resources it draws)
    promises: dict[int, Promise] = dataclasses.field(default_factory=dict)

    @property
    def exceptions(self) -> pl.DataFrame:
        """Lines whose strategy could not be honoured, with the reason."""
        return self.lines.filter(pl.col("exception").is_not_null())

    def counts(self) -> dict:
        """Totals: lines, improved, worsened, unchanged, mixed, exceptions; orders and orders on
        time before and after (an order is on time when every line is fully confirmed by its
        requested date)."""
        ch = self.lines["change"].value_counts()
        d = dict(zip(ch["change"].to_list(), ch["count"].to_list()))
        out = {"lines": self.lines.height, **{c.name.lower(): int(d.get(c.name.lower(), 0)) for c in Change},
               "exceptions": int(self.lines["exception"].is_not_null().sum()), "skipped": len(self.skipped)}
        if self.orders is not None:
            out.update(orders=self.orders.height, orders_on_time_old=int(self.orders["old_on_time"].sum()),
                       orders_on_time_new=int(self.orders["new_on_time"].sum()))
        return out

    def to_dict(self, *, max_lines: int | None = 1000) -> dict:
        lines = self.lines if max_lines is None else self.lines.head(max_lines)
        return {
            "counts": self.counts(),
            "summary": self.summary.to_dicts(),
            "exceptions": [_jsonable_row(r) for r in self.exceptions.head(max_lines or self.lines.height).to_dicts()],
            "lines": [_jsonable_row(r) for r in lines.to_dicts()],
            "lines_truncated": max_lines is not None and self.lines.height > max_lines,
            "skipped": self.skipped if max_lines is None else self.skipped[:max_lines],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


def _jsonable_row(r: dict) -> dict:
    """A line for JSON: dates as ISO strings, amounts (``value``) as exact decimal strings."""
    return {k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else str(v) if isinstance(v, Decimal) else v)
            for k, v in r.items()}


# ------------------------------------------------------------------ inputs


def strategy_codes(backlog: pl.DataFrame, config: RescheduleConfig) -> np.ndarray:
    """Strategy code per line: the first matching rule, else the default."""
    expr = pl.lit(int(Strategy.parse(config.default_strategy)), dtype=pl.Int8)
    cols = set(backlog.columns)
    for i, rule in reversed(list(enumerate(config.rules))):
        conds = []
        for name, col in (("demand_class", "demand_class"), ("customer", "customer"), ("item", "item"),
                          ("location", "location")):
            vals = getattr(rule, name)
            if vals is not None:
                if col not in cols:
                    raise ValidationError(f"rule {i + 1} needs the backlog column {col!r}", field=f"rules.{i}.{name}", value=vals)
                conds.append(pl.col(col).is_in(vals).fill_null(False))
        for name, op in (("priority_at_most", "le"), ("priority_at_least", "ge")):
            v = getattr(rule, name)
            if v is not None:
                conds.append(getattr(pl.col("_prio"), op)(v))
        if rule.created_before is not None or rule.created_after is not None:
            if "created_at" not in cols:
                raise ValidationError(f"rule {i + 1} needs the backlog column 'created_at'", field=f"rules.{i}", value=None)
            ca = _created_at(backlog.schema["created_at"])
            if rule.created_before is not None:
                conds.append((ca < _naive(rule.created_before)).fill_null(False))
            if rule.created_after is not None:
                conds.append((ca >= _naive(rule.created_after)).fill_null(False))
        cond = pl.all_horizontal(conds) if conds else pl.lit(True)
        expr = pl.when(cond).then(pl.lit(int(Strategy.parse(rule.strategy)), dtype=pl.Int8)).otherwise(expr)
    return backlog.with_columns(expr.alias("_s"))["_s"].to_numpy().astype(np.int8)


def _created_at(dtype: pl.DataType | None = None) -> pl.Expr:
    """created_at as naive UTC microseconds (time-zone aware columns are converted to UTC)."""
    col = pl.col("created_at")
    if isinstance(dtype, pl.Datetime) and dtype.time_zone:
        col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return col.cast(pl.Datetime("us"))


def _naive(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None) if t.tzinfo else t


def _priorities(snap: Snapshot, backlog: pl.DataFrame) -> pl.Series:
    """Line priority; else its demand class's priority; else lowest."""
    prio = pl.lit(None, dtype=pl.Int64)
    if "priority" in backlog.columns:
        prio = pl.col("priority").cast(pl.Int64)
    dc = snap.tables.get("demand_classes")
    if "demand_class" in backlog.columns and dc is not None and dc.height:
        mapping = dict(zip(dc["demand_class"].to_list(), dc["priority"].to_list()))
        prio = pl.coalesce(prio, pl.col("demand_class").replace_strict(mapping, default=None, return_dtype=pl.Int64))
    return backlog.with_columns(pl.coalesce(prio, pl.lit(1_000_000, dtype=pl.Int64)).alias("_prio"))["_prio"]


def old_schedule(snap: Snapshot, backlog: pl.DataFrame, schedule: pl.DataFrame | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The current schedule as CSR arrays (ptr[n+1], bucket, qty), sorted by bucket per row."""
    n = backlog.height
    base = (snap.as_of - dt.date(1970, 1, 1)).days
    if schedule is None:
        if "old_qty" not in backlog.columns or "old_date" not in backlog.columns:
            return np.zeros(n + 1, np.int64), np.empty(0, np.int64), np.empty(0)
        q = backlog["old_qty"].cast(pl.Float64).fill_null(0.0).to_numpy()
        d = backlog["old_date"].cast(pl.Date)
        has = (q > EPS) & d.is_not_null().to_numpy()
        rows = np.flatnonzero(has)
        days = d.cast(pl.Int32).to_numpy()[rows].astype(np.int64) - base
        qty = q[rows]
    else:
        sch = schedule.select(pl.col("row").cast(pl.Int64), pl.col("date").cast(pl.Date), pl.col("qty").cast(pl.Float64))
        sch = sch.filter(pl.col("qty") > EPS).sort("row", "date")
        rows = sch["row"].to_numpy()
        if rows.size and (rows.min() < 0 or rows.max() >= n):
            raise ValidationError("schedule row outside the backlog", field="schedule.row", value=int(rows.max()))
        days = sch["date"].cast(pl.Int32).to_numpy().astype(np.int64) - base
        qty = sch["qty"].to_numpy()
    if days.size and days.max() >= snap.horizon:
        raise ValidationError(f"a schedule date lies past the horizon (last day {snap.last_date})", field="old_date",
                              value=str(snap.date(0) + dt.timedelta(days=int(days.max()))))
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=ptr[1:])
    return ptr, np.maximum(days, 0).astype(np.int64), np.ascontiguousarray(qty, dtype=np.float64)


# ------------------------------------------------------------------ the run


class _Run:
    """Mutable arrays of one rescheduling run (per row of the backlog)."""

    def __init__(self, snap: Snapshot, state: State, enc: EncodedLines, *, width: int = MAX_LINES) -> None:
        n = len(enc)
        self.snap, self.state, self.enc = snap, state, enc
        self.n = np.zeros(n, np.int64)
        # column-major: a column is touched only where some line has that many schedule lines (most have one)
        self.b = np.zeros((n, width), np.int64, order="F")
        self.q = np.zeros((n, width), order="F")
        self.status = np.full(n, -1, np.int8)
        self.reason = np.zeros(n, np.int8)

    def sub(self, rows: np.ndarray, *, qty: np.ndarray | None = None, req: np.ndarray | None = None,
            max_lines: np.ndarray | None = None) -> EncodedLines:
        e = self.enc
        return EncodedLines(e.ils[rows], e.qty[rows] if qty is None else qty, e.req[rows] if req is None else req,
                            e.max_late[rows], e.flags[rows], e.max_lines[rows] if max_lines is None else max_lines)

    def promise(self, rows: np.ndarray, **over) -> None:
        """Promise `rows` afresh in this order, committing; results are written to the rows."""
        if rows.size == 0:
            return
        if not over:  # straight into the run's arrays, at each row
            e, snap = self.enc, self.snap
            pnb.promise_rows_nb(self.state.cum, snap.il_lead_time, snap.il_calendar, snap.calendar_open, rows, e.ils,
                                e.qty, e.req, e.max_late, e.flags, e.max_lines, True, self.status, self.reason, self.n,
                                self.b, self.q)
            return
        out = promise_encoded(self.snap, self.state, self.sub(rows, **over), commit=True)
        w = out.bucket.shape[1]  # <= the run's width (the largest max_lines of the backlog)
        if w == self.b.shape[1]:
            self.n[rows], self.b[rows], self.q[rows] = out.n_lines, out.bucket, out.qty
        else:
            self.n[rows], self.b[rows, :w], self.q[rows, :w] = out.n_lines, out.bucket, out.qty
        self.status[rows], self.reason[rows] = out.status, out.reason

    def promise_fair(self, rows: np.ndarray, *, quantum: float) -> None:
        """Fair share within one group (see the module docstring)."""
        if rows.size == 0:
            return
        snap, cum, e = self.snap, self.state.cum, self.enc
        ils = e.ils[rows]
        ok = ils >= 0
        asked = np.bincount(ils[ok], weights=e.qty[rows][ok], minlength=snap.n_il)
        lt = snap.il_lead_time
        H = snap.horizon
        avail = np.where((lt >= 0) & (lt < H), np.inf, np.maximum(cum[:, -1], 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(asked > EPS, np.minimum(1.0, avail / np.maximum(asked, EPS)), 1.0)
        fr = np.where(ok, f[np.maximum(ils, 0)], 1.0)
        if (fr >= 1.0 - EPS).all():
            self.promise(rows)
            return
        qty = e.qty[rows]
        share = qty * fr
        if quantum > 0:
            share = np.floor(share / quantum + 1e-9) * quantum
        partial = (e.flags[rows] & FLAG_PARTIAL) != 0
        share = np.where(partial | (fr >= 1.0 - EPS), share, np.where(fr >= 1.0 - EPS, qty, 0.0))
        self.n[rows] = 0
        first = rows[share > EPS]
        self.promise(first, qty=share[share > EPS])
        n1, b1, q1 = self.n[rows], self.b[rows], self.q[rows]  # copies of this group's answers
        W = self.b.shape[1]
        got = np.where(np.arange(W)[None, :] < n1[:, None], q1, 0.0).sum(axis=1)
        rest_q = qty - got
        room = W - n1
        more = (rest_q > EPS) & (room > 0)
        second = rows[more]
        if second.size:
            ml = np.minimum(e.max_lines[second], room[more])
            self.promise(second, qty=rest_q[more], max_lines=np.maximum(ml, 1))
            m = second.size
            on, ob, oq = np.zeros(m, np.int64), np.zeros((m, W), np.int64), np.zeros((m, W))
            nb.merge_batch_nb(n1[more], b1[more], q1[more], self.n[second], self.b[second], self.q[second], on, ob, oq)
            self.n[second], self.b[second], self.q[second] = on, ob, oq
        # status of the merged answer is derived later from the schedule (see _finish)
        self.status[rows] = -1


def reschedule(snap: Snapshot, state: State, backlog: pl.DataFrame, config: RescheduleConfig | None = None, *,
               schedule: pl.DataFrame | None = None, progress: Progress | None = None,
               reservations: Mapping[int, Reservation] | None = None) -> RescheduleResult:
    """Reschedule the backlog on a copy of `state`; see the module docstring for the rules.

    Parameters
    ----------
    snap, state
        The snapshot and the commitment state (not modified; the result holds the new state).
    backlog, schedule
        The open lines and their current schedule (see the module docstring).
    config
        Strategy rules, ordering and policy.
    progress
        Told what takes time, as (message, fraction done).
    reservations
        Backlog row -> the line's open `promising.Reservation`, for lines whose reservation the
        plain-ATP kernel cannot re-promise (quota pools, capable-to-promise draws, a
        substitute): they are left out of the kernel pass and re-planned after it through the
        engine (`scenarios.replan`), in the same group order; their reservations must be held
        in `state`.
    """
    res = _plan(snap, state, backlog, config, schedule=schedule, progress=progress,
                frozen=_frozen(backlog.height, reservations))
    if reservations:
        from scenarios.replan import replan_reserved

        res = replan_reserved(snap, res, backlog, config or RescheduleConfig(), schedule=schedule,
                              reservations=reservations)
    return res


def _frozen(n: int, reservations: Mapping[int, Reservation] | None) -> np.ndarray | None:
    """Rows the kernel pass leaves alone (those with a reservation the engine re-plans)."""
    if not reservations:
        return None
    out = np.zeros(n, np.bool_)
    out[np.fromiter(reservations, np.int64, len(reservations))] = True
    return out


def group_order(snap: Snapshot, backlog: pl.DataFrame, config: RescheduleConfig, req: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(strategy code per row, rows in processing order: group, priority, [requested date],
    created_at, input order)."""
    prio = _priorities(snap, backlog)
    strat = strategy_codes(backlog.with_columns(prio), config)
    # stable sorts, least significant key first (input order breaks the remaining ties)
    order = np.arange(backlog.height, dtype=np.int64)
    if "created_at" in backlog.columns:
        ca = backlog.select(_created_at(backlog.schema["created_at"])).to_series().cast(pl.Int64)
        order = np.argsort(ca.fill_null(np.iinfo(np.int64).max).to_numpy(), kind="stable").astype(np.int64)
    if config.order_within_priority == "due_date":
        order = order[np.argsort(req[order], kind="stable")]
    # group, then priority: one small key (the priority's rank among the backlog's distinct priorities)
    levels = np.sort(prio.unique().to_numpy())
    key = strat.astype(np.int64) * len(levels) + np.searchsorted(levels, prio.to_numpy())
    if key.size and key.max() < np.iinfo(np.int16).max:
        key = key.astype(np.int16)  # a radix sort
    order = order[np.argsort(key[order], kind="stable")]
    return strat, order


def _plan(snap: Snapshot, state: State, backlog: pl.DataFrame, config: RescheduleConfig | None = None, *,
          schedule: pl.DataFrame | None = None, progress: Progress | None = None,
          frozen: np.ndarray | None = None) -> RescheduleResult:
    """The kernel pass of `reschedule`: every row but the `frozen` ones (their old schedule is
    not given back and they get nothing: `scenarios.replan` fills them in)."""
    config = config or RescheduleConfig()
    say = progress or (lambda _m, _f: None)
    timings: dict[str, float] = {}
    t0 = t_start = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        t = time.perf_counter()
        timings[name] = t - t0
        t0 = t

    # the new state first: the largest allocation of the run, made before the encoding's many smaller ones
    # (on a virtual machine that hands freed memory back to its host, memory freed just before is the
    # cheap memory to fault in; scenarios/README.md)
    st = state.copy()
    say("encoding the backlog", 0.0)
    enc = encode_lines(snap, backlog, policy=config.policy())
    ptr, ob, oq = old_schedule(snap, backlog, schedule)
    strat, perm = group_order(snap, backlog, config, enc.req)
    oq_k = oq
    if frozen is not None:  # left to the engine pass: not given back here, not in any group
        perm = perm[~frozen[perm]]
        oq_k = np.where(np.repeat(frozen, np.diff(ptr)), 0.0, oq)
    g_sorted = strat[perm]
    # what the result needs of the backlog alone (the lines' values, the orders' runs, the demand-class
    # codes of the summary): prepared in a thread while the kernels (which release the interpreter) plan,
    # on the machine's other core
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reschedule-values")
    values = pool.submit(_prepare, snap, backlog, enc, config.currency)
    pool.shutdown(wait=False)
    lap("encode")

    say("giving back the old schedules", 0.1)
    if oq_k.size:  # from nothing confirmed there is nothing to give back (and two kernels fewer to load)
        nb.release_grouped_nb(st.cum, nb.rows_by_il_nb(enc.ils, snap.n_il), enc.ils, ptr, ob, oq_k)
    # schedule-line columns: the largest max_lines asked for, and the longest old schedule (kept as is)
    run = _Run(snap, st, enc, width=max(lines_width(enc.max_lines), int(np.diff(ptr).max(initial=0))))
    lap("release")

    def rows_of(s: Strategy) -> np.ndarray:
        return perm[g_sorted == int(s)]

    win, gain, redis, fill = rows_of(Strategy.WIN), rows_of(Strategy.GAIN), rows_of(Strategy.REDISTRIBUTE), rows_of(Strategy.FILL)
    n = len(enc)
    kept = np.zeros(n, np.bool_)
    improved = np.zeros(n, np.bool_)
    lt, cal, calo = snap.il_lead_time, snap.il_calendar, snap.calendar_open

    def fresh(rows: np.ndarray, s: Strategy) -> None:
        if config.within_by_strategy.get(s.name.lower(), config.within) == "fair_share":
            run.promise_fair(rows, quantum=config.fair_share_quantum)
        else:
            run.promise(rows)

    if config.start_from == "nothing":
        # every group promised afresh in its order; nothing kept, nothing to improve
        say("promising every line afresh", 0.3)
        for s, grp in ((Strategy.WIN, win), (Strategy.GAIN, gain), (Strategy.REDISTRIBUTE, redis), (Strategy.FILL, fill)):
            fresh(grp, s)
        lap("fresh")
    else:
        # 2. win and gain keep their old confirmation where it fits; the others are promised afresh
        say("win and gain lines keep their confirmations", 0.2)
        wg = perm[(g_sorted == Strategy.WIN) | (g_sorted == Strategy.GAIN)]
        nb.keep_batch_nb(st.cum, lt, wg, enc.ils, ptr, ob, oq, run.n, run.b, run.q, kept)
        for s, grp in ((Strategy.WIN, win), (Strategy.GAIN, gain)):
            fresh(grp[~kept[grp]], s)
        lap("keep")

        # 3. improve: win first, then gain (a fresh answer replaces the kept one only if it dominates)
        say("win and gain lines improve", 0.35)
        for grp in (win, gain):
            rows = grp[kept[grp]]
            nb.improve_batch_nb(st.cum, lt, cal, calo, rows, enc.ils, enc.qty, enc.req, enc.max_late, enc.flags,
                                enc.max_lines, run.n, run.b, run.q, run.status, run.reason, improved)
        lap("improve")

        # 4. redistribute
        say("redistribute lines are promised", 0.5)
        fresh(redis, Strategy.REDISTRIBUTE)
        lap("redistribute")

        # 5. fill: what is left, line after line in order (a lower fill line never keeps units a
        # higher fill line needs: SAP's fill)
        say("fill lines take what is left", 0.7)
        if config.fill_can_gain:
            fresh(fill, Strategy.FILL)
        else:
            nb.fill_batch_nb(st.cum, lt, cal, calo, fill, enc.ils, enc.qty, enc.req, enc.max_late, enc.flags,
                             enc.max_lines, ptr, ob, oq, run.n, run.b, run.q, run.status, run.reason, kept)
        lap("fill")
        # 6. lose: nothing (already given back; n stays 0)

    if config.min_ship_qty > 0:
        say("minimum shipment quantity", 0.8)
        timings["dropped_lines"] = float(nb.drop_small_nb(st.cum, enc.ils, float(config.min_ship_qty), enc.qty, perm,
                                                           run.n, run.b, run.q, run.status))
        lap("min_ship_qty")

    say("comparing old and new schedules", 0.85)
    prep = values.result()
    res = _finish(snap, backlog, enc, run, strat, ptr, ob, oq, kept, improved, prep.values, dc_codes=prep.dc_codes)
    orders = _orders(backlog, res[0], starts=prep.order_starts)
    lap("compare")
    timings["total"] = time.perf_counter() - t_start
    say("done", 1.0)
    return RescheduleResult(lines=res[0], schedule=res[1], summary=res[2], state=st, timings=timings,
                            new_n=run.n, new_b=run.b, new_q=run.q, ils=enc.ils, orders=orders)


@dataclasses.dataclass
class _Prepared:
    """What the result needs of the backlog alone, prepared beside the kernels (`_prepare`)."""

    values: tuple[pl.Series, pl.Series]  # line_values
    order_starts: np.ndarray | None  # _order_starts
    dc_codes: tuple[pl.Series, np.ndarray] | None  # _dc_codes


def _prepare(snap: Snapshot, backlog: pl.DataFrame, enc: EncodedLines, currency: str) -> _Prepared:
    return _Prepared(line_values(snap, backlog, enc, currency), _order_starts(backlog),
                     _dc_codes(backlog["demand_class"]) if "demand_class" in backlog.columns else None)


def _order_key(backlog: pl.DataFrame) -> pl.Series:
    return backlog["order"] if "order" in backlog.columns else pl.Series("order", np.arange(backlog.height))


def _order_starts(backlog: pl.DataFrame) -> np.ndarray | None:
    """First row of each order's run when the backlog lists each order's lines together (the key
    sorted, no nulls); else None."""
    key = _order_key(backlog)
    if backlog.height and key.null_count() == 0 and key.is_sorted():
        return np.flatnonzero((key != key.shift(1)).fill_null(True).to_numpy())
    return None


_UNKNOWN: np.ndarray = np.empty(0, np.int64)  # `_orders(starts=...)` not given: found from the backlog


def _orders(backlog: pl.DataFrame, lines: pl.DataFrame, *, starts: np.ndarray | None = _UNKNOWN) -> pl.DataFrame:
    """One row per order (the `order` column, else each line is its own order): its lines, and
    whether it is on time before and after (every line fully confirmed by its requested date).
    `starts`: `_order_starts(backlog)` when already known."""
    key = _order_key(backlog)
    n = backlog.height
    if starts is _UNKNOWN:
        starts = _order_starts(backlog)
    if starts is not None:  # each order's lines together: runs, no hashing
        old_ok = (lines["old_on_time_qty"] >= lines["qty"] - EPS).to_numpy()
        new_ok = (lines["new_on_time_qty"] >= lines["qty"] - EPS).to_numpy()
        return pl.DataFrame({
            "order": key.gather(starts),
            "lines": pl.Series(np.diff(np.append(starts, n)), dtype=pl.UInt32),
            "old_on_time": np.logical_and.reduceat(old_ok, starts),
            "new_on_time": np.logical_and.reduceat(new_ok, starts),
        })
    f = pl.DataFrame({
        "order": key,
        "old_ok": (lines["old_on_time_qty"] >= lines["qty"] - EPS),
        "new_ok": (lines["new_on_time_qty"] >= lines["qty"] - EPS),
    })
    return f.group_by("order", maintain_order=True).agg(
        lines=pl.len(), old_on_time=pl.col("old_ok").all(), new_on_time=pl.col("new_ok").all())


def _finish(snap: Snapshot, backlog: pl.DataFrame, enc: EncodedLines, run: _Run, strat: np.ndarray,
            ptr: np.ndarray, ob: np.ndarray, oq: np.ndarray, kept: np.ndarray, improved: np.ndarray,
            values: tuple[pl.Series, pl.Series], *, dc_codes: tuple[pl.Series, np.ndarray] | None = None,
            ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    n = len(enc)
    change, status, reason, exc = (np.empty(n, np.int8) for _ in range(4))
    old_ot, new_ot, new_qty, old_qty = (np.empty(n) for _ in range(4))
    new_first, new_last, old_last = (np.empty(n, np.int64) for _ in range(3))
    nb.lines_batch_nb(ptr, ob, oq, run.n, run.b, run.q, enc.qty, enc.req, enc.ils, strat.astype(np.int8), run.status,
                      run.reason, change, old_ot, new_ot, new_qty, new_first, new_last, old_qty, old_last, status,
                      reason, exc)
    W = run.b.shape[1]
    base = (snap.as_of - dt.date(1970, 1, 1)).days

    def dates(b: np.ndarray) -> pl.Series:
        """Buckets as dates (days since 1970 cast to pl.Date in place), null where b < 0."""
        out = pl.Series((b + base).astype(np.int32)).cast(pl.Date)
        none = b < 0
        return out.set(pl.Series(none), None) if none.any() else out

    keep_cols = [c for c in ("order", "line", "item", "location", "demand_class", "customer", "zone") if c in backlog.columns]
    strat_names = pl.Series([s.name.lower() for s in Strategy], dtype=STRATEGY_DTYPE)
    change_names = pl.Series([c.name.lower() for c in Change], dtype=CHANGE_DTYPE)
    exc_text = pl.Series([e.description or None for e in Exception_], dtype=EXCEPTION_DTYPE)
    reason_text = pl.Series([r.description for r in Reason], dtype=REASON_DTYPE)
    value, currency = values  # line_values(snap, backlog, enc, config.currency)
    lines = backlog.select(keep_cols).with_columns(
        strategy=strat_names.gather(strat.astype(np.int64)),
        requested_date=dates(enc.req),
        qty=enc.qty,
        old_qty=old_qty,
        old_date=dates(old_last),
        new_qty=new_qty,
        new_date=dates(new_last),
        new_first_date=dates(new_first),
        schedule_lines=run.n,
        status=pl.Series([s.name.lower() for s in Status], dtype=STATUS_DTYPE).gather(status.astype(np.int64)),
        reason=reason_text.gather(reason.astype(np.int64)),
        change=change_names.gather(change.astype(np.int64)),
        old_on_time_qty=old_ot,
        new_on_time_qty=new_ot,
        kept=kept,
        improved=improved,
        exception=exc_text.gather(exc.astype(np.int64)),
        value=value,
        currency=currency,
    )
    if n and run.n.max() <= 1:  # at most one schedule line each: the first column
        rows = np.flatnonzero(run.n)
        cols = np.zeros(rows.size, np.int64)
    else:
        rows, cols = np.nonzero(np.arange(W)[None, :] < run.n[:, None])  # by row, then schedule line
    sched = pl.DataFrame({"row": rows.astype(np.int64), "date": dates(run.b[rows, cols]), "qty": run.q[rows, cols]})
    return lines, sched, summarize(lines, dc_codes=dc_codes)


def summarize(lines: pl.DataFrame, *, dc_codes: tuple[pl.Series, np.ndarray] | None = None) -> pl.DataFrame:
    """Counts and quantities of the result's lines by strategy (and demand class). `dc_codes`: the
    lines' demand-class codes (`_dc_codes` of the same column) when already known."""
    by = ["strategy"] + (["demand_class"] if "demand_class" in lines.columns else [])
    fast = _summarize_by_codes(lines, by, dc_codes)
    if fast is not None:
        return fast
    return lines.group_by(by).agg(
        lines=pl.len(),
        improved=(pl.col("change") == "improved").sum(),
        worsened=(pl.col("change") == "worsened").sum(),
        unchanged=(pl.col("change") == "unchanged").sum(),
        mixed=(pl.col("change") == "mixed").sum(),
        exceptions=pl.col("exception").is_not_null().sum(),
        qty=pl.col("qty").sum(),
        old_qty=pl.col("old_qty").sum(),
        new_qty=pl.col("new_qty").sum(),
        old_on_time_qty=pl.col("old_on_time_qty").sum(),
        new_on_time_qty=pl.col("new_on_time_qty").sum(),
    ).sort(by)


_SUMMED = ("qty", "old_qty", "new_qty", "old_on_time_qty", "new_on_time_qty")


def _dc_codes(dc: pl.Series) -> tuple[pl.Series, np.ndarray] | None:
    """(levels, code per line) of a demand-class column of a few non-null strings; else None."""
    if dc.dtype != pl.String or dc.null_count():
        return None
    levels = dc.unique(maintain_order=True)
    if levels.len() > 10_000:
        return None
    return levels, dc.replace_strict(levels, pl.Series(np.arange(levels.len())), return_dtype=pl.Int64).to_numpy()


def _summarize_by_codes(lines: pl.DataFrame, by: list[str],
                        dc_codes: tuple[pl.Series, np.ndarray] | None = None) -> pl.DataFrame | None:
    """`summarize` by integer group codes and bincounts (no hashing of a million rows) when the
    strategy and change columns are the result's enums and demand classes are a few non-null
    strings; else None."""
    if lines.schema.get("strategy") != STRATEGY_DTYPE or lines.schema.get("change") != CHANGE_DTYPE:
        return None
    s_code = lines["strategy"].to_physical().to_numpy().astype(np.int64)
    n_s = len(STRATEGY_DTYPE.categories)
    if "demand_class" in by:
        codes = dc_codes if dc_codes is not None else _dc_codes(lines["demand_class"])
        if codes is None:
            return None
        levels, d_code = codes
        n_d = levels.len()
    else:
        levels, d_code, n_d = None, 0, 1
    key = s_code * n_d + d_code
    K = n_s * n_d
    count = np.bincount(key, minlength=K)
    n_c = len(CHANGE_DTYPE.categories)
    by_change = np.bincount(key * n_c + lines["change"].to_physical().to_numpy(), minlength=K * n_c).reshape(K, n_c)
    groups = np.flatnonzero(count)
    out = {"strategy": pl.Series(STRATEGY_DTYPE.categories, dtype=STRATEGY_DTYPE).gather(groups // n_d)}
    if levels is not None:
        out["demand_class"] = levels.gather(groups % n_d)
    u32 = pl.UInt32
    out["lines"] = pl.Series(count[groups], dtype=u32)
    for c in (Change.IMPROVED, Change.WORSENED, Change.UNCHANGED, Change.MIXED):  # summarize's column order
        out[c.name.lower()] = pl.Series(by_change[groups, int(c)], dtype=u32)
    exc = np.bincount(key, weights=lines["exception"].is_not_null().to_numpy(), minlength=K)
    out["exceptions"] = pl.Series(exc[groups].astype(np.int64), dtype=u32)
    for c in _SUMMED:
        out[c] = np.bincount(key, weights=lines[c].to_numpy(), minlength=K)[groups]
    return pl.DataFrame(out).sort(by)


def line_values(snap: Snapshot, backlog: pl.DataFrame, enc: EncodedLines, currency: str) -> tuple[pl.Series, pl.Series]:
    """(value, currency) per backlog line: the backlog's exact ``value`` (and ``currency``) where it has one,
    else the open quantity at the line's float ``unit_price``, else at the catalogue's price, rounded half up
    to `currency`'s minor unit (``promessa.money.float_amount_expr``): exact decimals, never floats."""
    from promessa.money import FRAME_SCALE, float_amount_expr

    amount = pl.Decimal(38, FRAME_SCALE)
    price = pl.Series(snap.item_price[_item_codes(snap, backlog, enc)], dtype=pl.Float64)
    if "unit_price" in backlog.columns:
        price = backlog["unit_price"].cast(pl.Float64).fill_null(price)
    if "value" not in backlog.columns:  # every line valued at its float price
        f = pl.DataFrame({"qty": pl.Series(enc.qty, dtype=pl.Float64), "price": price})
        return (f.select(float_amount_expr(pl.col("qty") * pl.col("price"), currency).alias("value"))["value"],
                pl.repeat(currency, backlog.height, dtype=pl.String, eager=True).alias("currency"))
    f = pl.DataFrame({"qty": pl.Series(enc.qty, dtype=pl.Float64), "price": price,
                      "value": backlog["value"].cast(amount) if "value" in backlog.columns
                      else pl.Series([None] * backlog.height, dtype=amount),
                      "currency": backlog["currency"].cast(pl.String) if "currency" in backlog.columns
                      else pl.Series([None] * backlog.height, dtype=pl.String)})
    priced = pl.col("value").is_not_null()
    out = f.select(pl.when(priced).then(pl.col("value"))
                   .otherwise(float_amount_expr(pl.col("qty") * pl.col("price"), currency)).alias("value"),
                   pl.when(priced).then(pl.col("currency")).otherwise(pl.lit(currency)).alias("currency"))
    return out["value"], out["currency"]


def _item_codes(snap: Snapshot, backlog: pl.DataFrame, enc: EncodedLines) -> np.ndarray:
    """Item code per line: from the item-location where stocked, else looked up by id."""
    if snap.n_il:
        codes = np.where(enc.ils >= 0, snap.il_item[np.maximum(enc.ils, 0)], -1).astype(np.int64)
    else:
        codes = np.full(len(enc), -1, np.int64)
    miss = np.flatnonzero(codes < 0)
    if miss.size:
        codes[miss] = backlog["item"].gather(miss).replace_strict(snap.item_index, default=0, return_dtype=pl.Int64).to_numpy()
    return np.maximum(codes, 0)
