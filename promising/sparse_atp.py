"""Available-to-promise on the compact form (`supplydata.sparse`): the Python layer over
`promising.sparse_kernels`, mirroring `promising.atp`'s `promise_atp` and `promise_encoded`.

Plain ATP only, without pegging (the compact snapshot keeps positions on event days, not the
supply records a peg names). Allocation, capable-to-promise, sourcing and the live engine still
run on the dense form; docs/memory.md says what moves next.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from promessa.errors import ValidationError
from promising import sparse_kernels as sk
from promising.atp import check_qty, encode_lines
from promising.enums import MAX_LINES, Reason, Status, lines_width
from promising.types import DEFAULT_POLICY, BatchResult, EncodedLines, Policy, Promise, Request, ScheduleLine
from supplydata.sparse import CompactSnapshot, CompactState, overlay_room_nb

_NO_CAL = np.ones(0, dtype=np.bool_)

__all__ = ["available_compact", "encode_lines_compact", "promise_compact", "promise_compact_batch", "promise_compact_encoded",
           "resolve_il_compact"]


def resolve_il_compact(snap: CompactSnapshot, item: str, location: str) -> int:
    """Item-location code for a request; unknown ids are refused naming the field (-1: not stocked there)."""
    ic = snap.item_index.get(item)
    if ic is None:
        raise ValidationError("unknown item", field="item", value=item)
    lc = snap.location_index.get(location)
    if lc is None:
        raise ValidationError("unknown location", field="location", value=location)
    key = ic * max(snap.n_locations, 1) + lc
    keys = snap.il_key
    i = int(keys.searchsorted(key))
    return i if i < keys.shape[0] and keys[i] == key else -1


def _args(snap: CompactSnapshot, state: CompactState) -> tuple:
    if state.snapshot is not snap:
        raise ValidationError("the state belongs to another snapshot", field="state", value=state.snapshot.version)
    return (snap.ev_ptr, snap.ev_day, snap.ev_cum, snap.il_lead_time, snap.il_calendar, snap.calendar_open,
            *state.overlay)


def promise_compact(snap: CompactSnapshot, state: CompactState, request: Request, *, commit: bool = False):
    """Plain ATP answer for one request (committed into the overlay when `commit`). Returns
    (promise, il, buckets, quantities) as `promising.atp.promise_atp` (without pegs)."""
    q = check_qty(request.qty)
    il = resolve_il_compact(snap, request.item, request.location)
    req = snap.bucket(request.requested_date, field="requested_date")
    pol = request.policy
    w = pol.max_lines if pol.max_lines > MAX_LINES else MAX_LINES
    out_b = np.empty(w, dtype=np.int64)
    out_q = np.empty(w)
    if il < 0:
        return Promise(request, Status.SHORT, Reason.NO_SOURCE, (), None), il, out_b, out_q
    if commit:
        state.grow(4 * (int(state.seg[il, 1]) + pol.max_lines) + 8)  # supplydata.sparse.overlay_room_nb
    if state.snapshot is not snap:
        raise ValidationError("the state belongs to another snapshot", field="state", value=state.snapshot.version)
    c = snap.il_calendar[il]
    status, reason, n, ef = sk.promise_compact_1d_nb(
        snap.ev_ptr, snap.ev_day, snap.ev_cum, *state.overlay, il, snap.horizon, snap.il_lead_time[il],
        snap.calendar_open[c] if c >= 0 else _NO_CAL, q, req, pol.max_late, pol.flags, pol.max_lines, bool(commit), out_b, out_q,
    )
    as_of = snap.as_of
    lines = tuple(ScheduleLine(as_of + dt.timedelta(days=int(out_b[k])), float(out_q[k])) for k in range(n))
    p = Promise(request, Status(status), Reason(reason), lines, as_of + dt.timedelta(days=int(ef)) if ef >= 0 else None,
                committed=bool(commit) and n > 0)
    return p, il, out_b, out_q


def encode_lines_compact(snap: CompactSnapshot, lines: pl.DataFrame, *, policy: Policy = DEFAULT_POLICY) -> EncodedLines:
    """`promising.atp.encode_lines` on a compact snapshot (same columns, same refusals)."""
    return encode_lines(snap, lines, policy=policy)  # reads ids, keys, as_of and horizon only


def promise_compact_encoded(snap: CompactSnapshot, state: CompactState, enc: EncodedLines, *, commit: bool = True) -> BatchResult:
    """Promise pre-encoded lines in order in compiled calls (each consuming what the previous
    ones committed, when `commit`), growing the overlay when it is full."""
    n = len(enc)
    w = lines_width(enc.max_lines)
    out = BatchResult(
        status=np.empty(n, dtype=np.int8), reason=np.empty(n, dtype=np.int8), n_lines=np.empty(n, dtype=np.int64),
        bucket=np.empty((n, w), dtype=np.int64), qty=np.empty((n, w)),
        earliest_full=np.empty(n, dtype=np.int64),
    )
    args = _args(snap, state)
    i = 0
    while True:
        i = sk.promise_compact_batch_nb(
            *args, enc.ils, enc.qty, enc.req, enc.max_late, enc.flags, enc.max_lines, bool(commit), np.int64(i),
            out.status, out.reason, out.n_lines, out.bucket, out.qty, out.earliest_full,
        )
        if i >= n:
            return out
        state.grow(int(overlay_room_nb(state.seg, enc.ils[i], enc.max_lines[i])))
        args = _args(snap, state)


def promise_compact_batch(snap: CompactSnapshot, state: CompactState, lines: pl.DataFrame, *, commit: bool = True,
                          policy: Policy = DEFAULT_POLICY) -> BatchResult:
    """Promise many lines; each consumes what the previous ones committed."""
    return promise_compact_encoded(snap, state, encode_lines_compact(snap, lines, policy=policy), commit=commit)


def available_compact(snap: CompactSnapshot, state: CompactState, item: str, location: str, date: dt.date | str) -> float:
    """Quantity a new request could take on `date` (inf beyond the lead time)."""
    il = resolve_il_compact(snap, item, location)
    if il < 0:
        return 0.0
    return float(sk.available_at_compact_nb(snap.ev_ptr, snap.ev_day, snap.ev_cum, snap.il_lead_time, *state.overlay,
                                            np.int64(il),
                                            np.int64(snap.bucket(date)), np.empty(snap.horizon)))
