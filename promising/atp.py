"""Available-to-promise: the Python layer over `promising.kernels`.

Validates requests, coerces dtypes once, calls one kernel, and wraps the result in typed
objects that explain themselves (schedule lines, status, binding constraint, pegging).
Plain ATP only: the public `promising.promise` (in `promising.engine`) adds allocation and
capable-to-promise on top of `promise_atp`. The batch entry points here (`promise_batch`,
`promise_encoded`) are plain ATP in one kernel call.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl

from promessa.errors import ValidationError
from promising import kernels as nb
from promising.enums import (
    EPS, FLAG_BACKORDER, FLAG_PARTIAL, FLAG_SPLIT, MAX_LINES, MAX_SPLIT_LINES, Reason, Status, lines_width,
)
from promising.types import DEFAULT_POLICY, BatchResult, EncodedLines, Peg, Policy, Promise, Request, ScheduleLine
from supplydata.snapshot import Snapshot, State

__all__ = [
    "DEFAULT_POLICY", "BatchResult", "EncodedLines", "Peg", "Policy", "Promise", "Request", "ScheduleLine",
    "atp_report", "available", "calendar_row", "check_qty", "commit_lines", "encode_lines", "pegs_for",
    "promise_atp", "promise_batch", "promise_encoded", "resolve_il",
]

_NO_CAL = np.ones(0, dtype=np.bool_)


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


def commit_lines(state: State, il: int, out_b: np.ndarray, out_q: np.ndarray, n: int) -> None:
    """Reserve the first `n` schedule lines (buckets `out_b`, quantities `out_q`) of an answer
    at item-location `il` in `state.cum` (no other bookkeeping: the caller owns that)."""
    cum = state.cum[il]
    for k in range(n):
        nb.commit_1d_nb(cum, out_b[k], out_q[k])


def promise_atp(snap: Snapshot, state: State, request: Request, *, explain: bool = True):
    """Plain ATP answer without committing. Returns (promise, il, buckets, quantities)."""
    q = check_qty(request.qty)
    il = resolve_il(snap, request.item, request.location)
    req = snap.bucket(request.requested_date, field="requested_date")
    pol = request.policy
    w = pol.max_lines if pol.max_lines > MAX_LINES else MAX_LINES
    out_b = np.empty(w, dtype=np.int64)
    out_q = np.empty(w)
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


# ---------------------------------------------------------------- batch


def encode_lines(
    snap: Snapshot,
    lines: pl.DataFrame,
    *,
    policy: Policy = DEFAULT_POLICY,
) -> EncodedLines:
    """Coerce order lines (columns item, location, qty, requested_date; optional allow_partial,
    allow_split, backorder, max_late_days, max_lines) into kernel arrays. Unknown ids and bad values are
    refused naming the row and the column."""
    for c in ("item", "location", "qty", "requested_date"):
        if c not in lines.columns:
            raise ValidationError("required column missing", field=c, value=None)
    n = lines.height
    ic = _codes(snap, lines["item"], "item", snap.item_index)
    lc = _codes(snap, lines["location"], "location", snap.location_index)
    for name, codes in (("item", ic), ("location", lc)):
        bad = np.flatnonzero(codes < 0)
        if bad.size:
            raise ValidationError(f"unknown {name} in row {bad[0] + 1}", field=name, value=lines[name][int(bad[0])])
    qty = np.ascontiguousarray(lines["qty"].cast(pl.Float64).to_numpy(), dtype=np.float64)
    rd = lines["requested_date"]
    if rd.dtype == pl.String:
        rd = rd.str.to_date("%Y-%m-%d")
    days = rd.cast(pl.Int32).to_numpy()
    base = (snap.as_of - dt.date(1970, 1, 1)).days
    nloc = max(snap.n_locations, 1)
    table = _il_table(snap)
    if table is not None and days.dtype == np.int32:  # one compiled pass: codes, requested buckets, checks
        ils, req, bad_q, bad_d = nb.encode_batch_nb(ic, lc, qty, days, base, snap.horizon, table, nloc)
        if bad_q >= 0:
            raise ValidationError(f"must be a positive number (row {bad_q + 1})", field="qty", value=float(qty[bad_q]))
        if bad_d >= 0:
            raise ValidationError(f"date outside the horizon (row {bad_d + 1}, last day {snap.last_date})",
                                  field="requested_date", value=str(rd[int(bad_d)]))
    else:
        badq = np.flatnonzero(~np.isfinite(qty) | (qty <= 0))
        if badq.size:
            raise ValidationError(f"must be a positive number (row {badq[0] + 1})", field="qty", value=float(qty[badq[0]]))
        days = days.astype(np.int64) - base
        late = np.flatnonzero(days >= snap.horizon)
        if late.size:
            raise ValidationError(f"date outside the horizon (row {late[0] + 1}, last day {snap.last_date})", field="requested_date", value=str(rd[int(late[0])]))
        req = np.maximum(days, 0).astype(np.int64)
        # item-location codes (vectorised; no Python loop per line)
        want = ic * nloc + lc
        if table is not None:
            ils = table[want]
        else:  # sorted keys
            keys = snap.il_key if hasattr(snap, "il_key") else snap.il_item.astype(np.int64) * nloc + snap.il_loc
            pos = np.searchsorted(keys, want)
            pos_c = np.minimum(pos, max(len(keys) - 1, 0))
            ils = np.where((len(keys) > 0) & (keys[pos_c] == want), pos_c, -1).astype(np.int64) if len(keys) else np.full(n, -1, np.int64)

    def col(name: str, default, dtype):
        if name in lines.columns:
            return lines[name].fill_null(default).cast(dtype).to_numpy()
        return None  # the policy's value for every line

    allow_partial = col("allow_partial", policy.allow_partial, pl.Boolean)
    allow_split = col("allow_split", policy.allow_split, pl.Boolean)
    backorder = col("backorder", policy.backorder, pl.Boolean)
    if allow_partial is None and allow_split is None and backorder is None:
        flags = np.full(n, policy.flags, np.int64)
    else:
        def flag(v, default: bool, bit: int):
            return np.where(v.astype(bool), bit, 0) if v is not None else (bit if default else 0)

        flags = (flag(allow_partial, policy.allow_partial, FLAG_PARTIAL) | flag(allow_split, policy.allow_split, FLAG_SPLIT)
                 | flag(backorder, policy.backorder, FLAG_BACKORDER))
        flags = np.broadcast_to(np.asarray(flags, np.int64), (n,)).copy()
    max_late = col("max_late_days", policy.max_late, pl.Int64)
    max_late = np.full(n, policy.max_late, np.int64) if max_late is None else max_late.astype(np.int64)
    max_lines = col("max_lines", policy.max_lines, pl.Int64)
    max_lines = np.full(n, policy.max_lines, np.int64) if max_lines is None else max_lines.astype(np.int64)
    if ((max_lines < 1) | (max_lines > MAX_SPLIT_LINES)).any():
        i = int(np.flatnonzero((max_lines < 1) | (max_lines > MAX_SPLIT_LINES))[0])
        raise ValidationError(f"must be between 1 and {MAX_SPLIT_LINES} (row {i + 1})", field="max_lines",
                              value=int(max_lines[i]))
    return EncodedLines(ils, qty, req, max_late, flags.astype(np.int64), max_lines)


def _codes(snap: Snapshot, ids: pl.Series, name: str, index: dict) -> np.ndarray:
    """Codes of ids (-1: unknown): a cast to the snapshot's enum of them (built once per snapshot)
    when every id is known, else looked up one by one."""
    key = f"{name}_enum"
    if key not in snap.derived:
        ok = bool(index) and all(c == i for i, c in enumerate(index.values()))
        snap.derived[key] = pl.Enum(list(index)) if ok else None
    enum = snap.derived[key]
    if enum is not None and ids.dtype == pl.String and ids.null_count() == 0:
        try:
            return ids.cast(enum).to_physical().cast(pl.Int64).to_numpy()
        except pl.exceptions.InvalidOperationError:
            pass  # an unknown id: found and named below
    return ids.replace_strict(index, default=-1, return_dtype=pl.Int64).to_numpy()


_IL_TABLE_MAX = 50_000_000  # item x location pairs a dense code table may have (int64: 400 MB at most)


def _il_table(snap: Snapshot) -> np.ndarray | None:
    """Item-location code by ``item_code * n_locations + location_code`` (-1: not stocked), built once per
    snapshot when items x locations is at most `_IL_TABLE_MAX`; else None (look codes up by sorted keys)."""
    if not hasattr(snap, "il_item"):
        return None  # a compact snapshot (supplydata.sparse): its sorted keys are the lookup, no table beside them
    if "il_table" not in snap.derived:
        size = snap.n_items * max(snap.n_locations, 1)
        table = None
        if 0 < size <= _IL_TABLE_MAX:
            table = np.full(size, -1, np.int64)
            table[snap.il_item.astype(np.int64) * max(snap.n_locations, 1) + snap.il_loc] = np.arange(snap.n_il)
        snap.derived["il_table"] = table
    return snap.derived["il_table"]


def promise_encoded(snap: Snapshot, state: State, enc: EncodedLines, *, commit: bool = True) -> BatchResult:
    """Promise pre-encoded lines in one kernel call, in the given order. The schedule-line arrays
    have `lines_width(enc.max_lines)` columns (8 unless a line asks for more)."""
    n = len(enc)
    w = lines_width(enc.max_lines)
    out = BatchResult(
        status=np.empty(n, dtype=np.int8), reason=np.empty(n, dtype=np.int8), n_lines=np.empty(n, dtype=np.int64),
        # column-major: a column's memory is touched only where some line has that many schedule lines
        bucket=np.empty((n, w), dtype=np.int64, order="F"), qty=np.empty((n, w), order="F"),
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
