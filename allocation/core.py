"""Allocation-aware promising: the Python layer over `allocation.kernels`.

Validates requests, coerces dtypes once, calls one kernel and wraps the answer in promising's
typed objects (`Promise`, `Draw`). `promising.engine` calls it explicitly: `class_path` answers
requests with a demand class at item-locations that have quotas, and `apply_atp_draw` applies
every "atp" draw reserved or released through `promising.reserve / unreserve / commit /
release` (the cumulative position, then the per-pool consumption in `state.extras["allocation"]`).

This package sits below `promising.engine`: it imports promising's low modules (`atp`,
`kernels`, `enums`, `reservation`, `types`), never the engine or the `promising` facade's names.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterable, Sequence

import numpy as np
import polars as pl

from allocation import kernels as ak
from allocation.enums import NO_CLASS, UNALLOCATED, UNKNOWN_CLASS, Binding
from allocation.model import AllocationModel, model_for, positions
from promessa.errors import ValidationError
from promising import kernels as pk
from promising.atp import check_qty, encode_lines, pegs_for, resolve_il
from promising.enums import EPS, MAX_LINES, MAX_SPLIT_LINES, Reason, Status, lines_width
from promising.reservation import ATP, Draw, Reservation, atp_draw, draw_il
from promising.types import DEFAULT_POLICY, EncodedLines, Policy, Promise, Request, ScheduleLine
from supplydata.snapshot import Snapshot, State

def _il_arrays(model: AllocationModel, pos: np.ndarray, lo: int, hi: int):
    return (pos[lo:hi], model.pool_parent[lo:hi], model.pool_class[lo:hi], model.protection[lo:hi])


_STATUS = tuple(Status)
_STATUS_NAME = tuple(x.name.lower() for x in Status)
_REASON_NAME = tuple(x.name.lower() for x in Reason)
_INF = float("inf")
_REASON = tuple(Reason)
_BOUND = int(Binding.BOUND)

# ---------------------------------------------------------------- one line


def class_path(snap: Snapshot, state: State, request: Request, *, commit: bool = False,
               explain: bool = True) -> Promise | None:
    """Promise a request against the allocation of its demand class.

    A request without a class belongs to the "all others" class (SAP's product allocation,
    Oracle GOP's "other" class): it takes only supply no quota covers, never a class's quota.
    Returns None when no quotas exist at the item-location (plain ATP then answers). With
    `commit`, every draw is reserved with `apply_atp_draw` (`state.cum` and the pool positions). `details` always names the class, whether
    allocation bound, the pool consumed first, the quota left and what the class could take at
    the requested date; when allocation binds it adds what plain ATP would have promised."""
    model = snap.derived.get("allocation") or model_for(snap)
    ptr = model.ptr
    if len(ptr) < 2 or ptr[-1] == 0:  # no pools at all
        return None
    il = resolve_il(snap, request.item, request.location)
    if il < 0:
        return None
    lo = ptr[il]
    S = ptr[il + 1] - lo + 1
    if S == 1:
        return None
    q = check_qty(request.qty)
    req = snap.bucket(request.requested_date, field="requested_date")
    pol = request.policy
    dclass = request.demand_class
    pos = state.extras.get("allocation")
    if pos is None:
        pos = positions(snap, state)
    L = pol.max_lines if pol.max_lines > MAX_LINES else MAX_LINES  # schedule-line slots (lines_width)
    out_i, out_f, wsf = _buffers(model.max_pools, snap.horizon, L)
    ak.promise_class_one_nb(
        state.cum, pos, model.pool_ptr, model.pool_pc, model.class_arr, model.protection, snap.il_lead_time,
        snap.il_calendar, snap.calendar_open, il, model.class_index.get(dclass, -1), q, req, pol.max_late,
        pol.flags, pol.max_lines, L, False, True, out_i, out_f, wsf,
    )
    ii, ff = out_i.tolist(), out_f.tolist()
    status, reason, n, ef, ps, pr, pn, pef, binding, own = ii[:10]
    names, dates = model.pool_names, model.dates
    item, loc = request.item, request.location
    lines = []
    draws = []
    for j in range(n):
        d, qj = dates[ii[10 + j]], ff[2 + j]
        lines.append(ScheduleLine(d, qj))
        o_i, o_f = 10 + 3 * L + j * S, 2 + 2 * L + j * S
        pools = tuple([(UNALLOCATED if ii[o_i + i] < 0 else names[lo + ii[o_i + i]], ff[o_f + i])
                       for i in range(ii[10 + 2 * L + j])])
        draws.append(Draw(ATP, item, loc, d, qj, dclass, pools))
    quota_left, avail_req = ff[0], ff[1]
    details = {
        "demand_class": dclass,
        "allocation": "bound" if binding == _BOUND else "unbound",
        "pool": names[lo + own] if own >= 0 else None,
        "quota_left": None if quota_left < 0 or quota_left == _INF else quota_left,
        "available_to_class": None if avail_req == _INF else avail_req,
    }
    if binding == _BOUND:
        iso = model.iso
        details["pools"] = [[pn_, qq] for d in draws for pn_, qq in d.pools]
        details["without_allocation"] = {
            "status": _STATUS_NAME[ps],
            "reason": _REASON_NAME[pr],
            "promised_qty": float(sum(ff[2 + L:2 + L + pn])),
            "lines": [{"date": iso[ii[10 + L + j]], "qty": ff[2 + L + j]} for j in range(pn)],
            "earliest_full_date": iso[pef] if pef >= 0 else None,
        }
    pegs = pegs_for(snap, state, il, out_i[10:10 + n].copy(), out_f[2:2 + n].copy()) if explain and n else ()
    p = Promise(request, _STATUS[status], _REASON[reason], tuple(lines), dates[ef] if ef >= 0 else None,
                pegs, False, tuple(draws), details)
    if commit and draws:
        for d in draws:
            apply_atp_draw(snap, state, d, +1)
        p = dataclasses.replace(p, committed=True)
    return p


_tls = threading.local()


def _buffers(max_pools: int, H: int, L: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """This thread's result buffers and work space for `promise_class_one_nb`, sized for
    `max_pools` pools, H buckets and L schedule-line slots (reused from call to call: nothing
    allocated per request; the usual L is MAX_LINES, a larger split gets buffers of its own size)."""
    b = getattr(_tls, "bufs", None)
    if b is None or b[0] < max_pools or b[1] != H or b[2] != L:
        ni, nf, nw = ak.one_sizes_nb(max_pools, H, L)
        b = (max_pools, H, L, np.empty(ni, dtype=np.int64), np.empty(nf), np.empty(nw))
        if L == MAX_LINES:  # keep the usual size; a one-off large split does not replace it
            _tls.bufs = b
    return b[3], b[4], b[5]


def apply_atp_draw(snap: Snapshot, state: State, draw: Draw, sign: int) -> bool:
    """Reserve (`sign` +1) or give back (-1) one "atp" draw: the item-location's cumulative
    position (`promising.reservation.atp_draw`), then its quota pools (`charge_pools`).

    Returns False when reserving pushed a non-negative cumulative position below zero (the
    draw is applied anyway; a replay reports it). Unknown items or locations are refused."""
    il = draw_il(snap, draw)
    fits = atp_draw(snap, state, draw, il, sign)
    charge_pools(snap, state, draw, il, sign)
    return fits


def charge_pools(snap: Snapshot, state: State, draw: Draw, il: int, sign: int) -> None:
    """Keep pool positions in step with an "atp" draw at item-location `il` reserved (+1) or
    released (-1); `state.cum` is the caller's (see `apply_atp_draw`).

    The draw's `pools` are charged by name (the pool and its ancestors); "unallocated" and names
    without a pool at the item-location charge nothing (they live in `state.cum` only). A draw
    with a demand class but no pools (replayed commitments, snapshot demand) is charged to the
    class's own pool. Depends only on the draw and the snapshot, so replay is order-free."""
    model = model_for(snap)
    if model.n_pools == 0:
        return
    lo, hi = model.pools_of(il)
    if hi == lo:
        return
    pos = positions(snap, state)
    b = snap.bucket(draw.date, field="draw.date")
    X, par = pos[lo:hi], model.pool_parent[lo:hi]
    if draw.pools:
        for name, q in draw.pools:
            if name == UNALLOCATED:
                continue
            row = model.pool_row(il, name)
            if row >= 0:
                ak.charge_1d_nb(X, par, row - lo, b, sign * float(q))
    elif draw.demand_class is not None:
        row = model.own_row(il, draw.demand_class)
        if row >= 0:
            ak.charge_1d_nb(X, par, row - lo, b, sign * float(draw.qty))


def class_availability(snap: Snapshot, state: State, item: str, location: str, demand_class: str | None,
                       *, start: dt.date | None = None) -> np.ndarray:
    """Quantity the class could take per bucket from `start` (float64[H]; 0 before start, inf
    past the lead time). Without quotas at the item-location this is plain ATP; `demand_class`
    None is the "all others" class (unallocated supply only)."""
    il = resolve_il(snap, item, location)
    H = snap.horizon
    out = np.zeros(H)
    if il < 0:
        return out
    t0 = 0 if start is None else snap.bucket(start, field="start")
    model = model_for(snap)
    lo, hi = model.pools_of(il) if model.n_pools else (0, 0)
    if hi == lo:
        pk.availability_1d_nb(state.cum[il], snap.il_lead_time[il], t0, out)
        return out
    X, par, cls, prot = _il_arrays(model, positions(snap, state), lo, hi)
    ak.class_availability_1d_nb(X, state.cum[il], par, cls, model.class_parent, model.class_priority,
                                model.class_steal, prot, model.class_code(demand_class), snap.il_lead_time[il], t0, out)
    return out


def class_curves(snap: Snapshot, state: State, ils: Sequence[int], demand_class: str | None) -> np.ndarray:
    """`class_availability` from bucket 0 of each item-location in `ils` (known item-locations, each with quota
    pools), as rows of one float64[len(ils), H] array: the same kernel on the same arguments, the per-call lookups
    (model, positions, class code) done once for all of them."""
    model = model_for(snap)
    pos = positions(snap, state)
    code = model.class_code(demand_class)
    out = np.zeros((len(ils), snap.horizon))
    ptr, cum, lt = model.ptr, state.cum, snap.il_lead_time
    par_all, cls_all, prot_all = model.pool_parent, model.pool_class, model.protection
    cpar, prio, steal = model.class_parent, model.class_priority, model.class_steal
    for j, il in enumerate(ils):
        lo, hi = ptr[il], ptr[il + 1]
        ak.class_availability_1d_nb(pos[lo:hi], cum[il], par_all[lo:hi], cls_all[lo:hi], cpar, prio, steal,
                                    prot_all[lo:hi], code, lt[il], 0, out[j])
    return out


def available(snap: Snapshot, state: State, item: str, location: str, demand_class: str | None,
              date: dt.date | str) -> float:
    """Quantity a new request of the class could take on `date` (inf beyond the lead time)."""
    b = snap.bucket(date)
    return float(class_availability(snap, state, item, location, demand_class, start=snap.date(b))[b])


def earliest(snap: Snapshot, state: State, item: str, location: str, demand_class: str | None, qty: float,
             date: dt.date | str) -> dt.date | None:
    """Earliest working day on or after `date` on which the class could take `qty` (None: not
    within the horizon). Without quotas at the item-location this is plain ATP's answer."""
    q = check_qty(qty)
    b = snap.bucket(date)
    il = resolve_il(snap, item, location)
    if il < 0:
        return None
    curve = class_availability(snap, state, item, location, demand_class, start=snap.date(b))
    c = snap.il_calendar[il]
    open_ = snap.calendar_open[c] if c >= 0 else None
    for t in range(b, snap.horizon):
        if curve[t] >= q - EPS and (open_ is None or open_[t]):
            return snap.date(t)
    return None


def allocation_report(snap: Snapshot, state: State, item: str, location: str) -> pl.DataFrame:
    """Per pool and bucket at one item-location: cumulative quota, position (quota left after
    consumption) and what the class could take now. Empty without quotas."""
    il = resolve_il(snap, item, location)
    model = model_for(snap)
    if il < 0 or model.n_pools == 0:
        return pl.DataFrame(schema={"demand_class": pl.String, "date": pl.Date, "quota": pl.Float64,
                                    "position": pl.Float64, "available": pl.Float64})
    lo, hi = model.pools_of(il)
    pos = positions(snap, state)
    dates = pl.date_range(snap.as_of, snap.last_date, "1d", eager=True)
    frames = []
    for row in range(lo, hi):
        name = model.pool_name(row)
        frames.append(pl.DataFrame({
            "demand_class": [name] * snap.horizon, "date": dates, "quota": model.quota[row],
            "position": pos[row], "available": class_availability(snap, state, item, location, name),
        }))
    return pl.concat(frames) if frames else allocation_report(snap, state, "", "")


# ---------------------------------------------------------------- batch


@dataclasses.dataclass(frozen=True)
class AllocationBatchResult:
    """Answers of `promise_batch`: the schedule-line arrays have W = `lines_width(max_lines)`
    columns, as `promising.BatchResult`. The pools each schedule line consumes are stored
    compactly (a few per line, not W x pools): line i's parts are `part_pool`, `part_qty`,
    `part_line` [part_ptr[i]:part_ptr[i + 1]], in schedule-line order (`parts(i)`)."""

    status: np.ndarray         # int8[n] Status codes
    reason: np.ndarray         # int8[n] Reason codes (ALLOCATION where it binds)
    n_lines: np.ndarray        # int64[n]
    bucket: np.ndarray         # int64[n, W]
    qty: np.ndarray            # float64[n, W]
    earliest_full: np.ndarray  # int64[n], -1 = none
    binding: np.ndarray        # int8[n] allocation.enums.Binding codes
    part_ptr: np.ndarray       # int64[n + 1]: line i's parts are [part_ptr[i], part_ptr[i + 1])
    part_pool: np.ndarray      # int64[m]: global pool row consumed (-1 = unallocated)
    part_qty: np.ndarray       # float64[m]
    part_line: np.ndarray      # int64[m]: the schedule line (0-based) the part belongs to

    @property
    def promised(self) -> np.ndarray:
        mask = np.arange(self.qty.shape[1])[None, :] < self.n_lines[:, None]
        return np.where(mask, self.qty, 0.0).sum(axis=1)

    def parts(self, i: int) -> list[list[tuple[int, float]]]:
        """Per schedule line of line i, its (global pool row or -1, quantity) parts."""
        out: list[list[tuple[int, float]]] = [[] for _ in range(int(self.n_lines[i]))]
        for m in range(int(self.part_ptr[i]), int(self.part_ptr[i + 1])):
            out[int(self.part_line[m])].append((int(self.part_pool[m]), float(self.part_qty[m])))
        return out

    def draws(self, snap: Snapshot, lines: pl.DataFrame, i: int) -> tuple[Draw, ...]:
        """The reservation of line i (as `Promise.draws`), for the order book."""
        model = model_for(snap)
        item, loc = lines["item"][i], lines["location"][i]
        dc = lines["demand_class"][i] if "demand_class" in lines.columns else None
        parts = self.parts(i)
        return tuple(Draw(ATP, item, loc, snap.date(int(self.bucket[i, j])), float(self.qty[i, j]), dc,
                          tuple((model.pool_name(row), q) for row, q in parts[j]))
                     for j in range(int(self.n_lines[i])))

    def to_polars(self, snap: Snapshot) -> pl.DataFrame:
        rows = np.arange(len(self.n_lines))
        has = self.n_lines > 0
        base = np.datetime64(snap.as_of, "D")
        first = np.where(has, self.bucket[:, 0], -1)
        last = np.where(has, self.bucket[rows, np.maximum(self.n_lines - 1, 0)], -1)

        def dates(b):
            return pl.Series(np.where(b >= 0, base + b.astype("timedelta64[D]"), np.datetime64("NaT", "D")))

        return pl.DataFrame({
            "status": pl.Series([s.name.lower() for s in Status]).gather(self.status.astype(np.int64)),
            "reason": pl.Series([r.name.lower() for r in Reason]).gather(self.reason.astype(np.int64)),
            "allocation": pl.Series([b.name.lower() for b in Binding]).gather(self.binding.astype(np.int64)),
            "promised_qty": self.promised,
            "schedule_lines": self.n_lines,
            "first_date": dates(first),
            "last_date": dates(last),
        })


def encode_classes(snap: Snapshot, lines: pl.DataFrame) -> np.ndarray:
    """Class code per line: NO_CLASS where empty, UNKNOWN_CLASS for a class not in the table."""
    model = model_for(snap)
    if "demand_class" not in lines.columns:
        return np.full(lines.height, NO_CLASS, dtype=np.int64)
    s = lines["demand_class"].cast(pl.String)
    codes = s.replace_strict(model.class_index, default=UNKNOWN_CLASS, return_dtype=pl.Int64).to_numpy().astype(np.int64)
    codes[s.is_null().to_numpy()] = NO_CLASS
    return codes


def promise_batch(snap: Snapshot, state: State, lines: pl.DataFrame, *, commit: bool = True,
                  policy: Policy = DEFAULT_POLICY) -> AllocationBatchResult:
    """Promise many lines (columns as `promising.promise_batch`, plus `demand_class`) in one
    allocation-aware kernel call, in the given order; each sees what the previous committed.

    Lines without a class, or at item-locations without quotas, are promised by plain ATP,
    exactly as `promising.promise` would."""
    return promise_encoded(snap, state, encode_lines(snap, lines, policy=policy), encode_classes(snap, lines), commit=commit)


def promise_encoded(snap: Snapshot, state: State, enc: EncodedLines, lcls: np.ndarray, *,
                    commit: bool = True) -> AllocationBatchResult:
    """Promise pre-encoded lines (`promising.encode_lines` + `encode_classes`) in one kernel call."""
    lcls = np.require(lcls, dtype=np.int64, requirements="C")
    if lcls.shape[0] != len(enc):
        raise ValidationError("one class code per line", field="lcls", value=lcls.shape[0])
    if len(enc) and (int(enc.max_lines.max()) > MAX_SPLIT_LINES or int(enc.max_lines.min()) < 1):
        bad = enc.max_lines[(enc.max_lines > MAX_SPLIT_LINES) | (enc.max_lines < 1)]
        raise ValidationError(f"must be between 1 and {MAX_SPLIT_LINES}", field="max_lines", value=int(bad[0]))
    model = model_for(snap)
    pos = positions(snap, state)
    n = len(enc)
    W = lines_width(enc.max_lines)
    status, reason = np.empty(n, dtype=np.int8), np.empty(n, dtype=np.int8)
    n_lines, bucket, qty = np.empty(n, dtype=np.int64), np.empty((n, W), dtype=np.int64), np.empty((n, W))
    earliest_full, binding = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int8)
    part_ptr = np.empty(n + 1, dtype=np.int64)
    cap = 2 * n + 64  # pages never written cost nothing; the kernel grows the buffers if a batch needs more
    part_pool, part_qty, part_line, m = ak.promise_batch_nb(
        state.cum, pos, model.pool_ptr, model.pool_pc, model.class_arr, model.protection, snap.il_lead_time, snap.il_calendar, snap.calendar_open,
        enc.ils, lcls, enc.qty, enc.req, enc.max_late, enc.flags, enc.max_lines, commit,
        status, reason, n_lines, bucket, qty, earliest_full, binding,
        part_ptr, np.empty(cap, dtype=np.int64), np.empty(cap), np.empty(cap, dtype=np.int64),
    )
    return AllocationBatchResult(status, reason, n_lines, bucket, qty, earliest_full, binding, part_ptr,
                                 part_pool[:m], part_qty[:m], part_line[:m])


# ---------------------------------------------------------------- changes


@dataclasses.dataclass(frozen=True)
class OverQuota:
    """A class whose consumption exceeds its quota at an item-location."""

    item: str
    location: str
    demand_class: str
    first_date: dt.date   # first day its position is below zero
    over_qty: float       # the largest amount by which consumption exceeds the quota

    def to_dict(self) -> dict:
        return {"item": self.item, "location": self.location, "demand_class": self.demand_class,
                "first_date": self.first_date.isoformat(), "over_qty": self.over_qty}


def over_quota(snap: Snapshot, state: State) -> list[OverQuota]:
    """Every (item-location, class) whose cumulative consumption exceeds its cumulative quota
    somewhere in the horizon. Computed on demand; changes nothing."""
    model = model_for(snap)
    if model.n_pools == 0:
        return []
    pos = positions(snap, state)
    low = pos.min(axis=1)
    out = []
    for row in np.flatnonzero(low < -1e-6):
        il = int(model.pool_il[row])
        item, loc = snap.il_name(il)
        first = int(np.argmax(pos[row] < -1e-6))
        out.append(OverQuota(item, loc, model.pool_name(int(row)), snap.date(first), float(-low[row])))
    return out


@dataclasses.dataclass(frozen=True)
class RebaseReport:
    """Commitments replayed onto a snapshot with new quotas."""

    state: State                       # the new state (snapshot + every commitment kept)
    over_quota: list[OverQuota]        # classes over their new quota (kept, not cut)
    not_fitting: list[Draw]            # draws that pushed cumulative ATP below zero (kept)
    skipped: list[Draw]                # draws the new snapshot cannot hold (item-location gone, date past horizon)

    def to_dict(self) -> dict:
        return {
            "over_quota": [o.to_dict() for o in self.over_quota],
            "not_fitting": [d.to_dict() for d in self.not_fitting],
            "skipped": [d.to_dict() for d in self.skipped],
        }


def state_draws(state: State) -> list[Draw]:
    """The commitments of a state as draws: per item-location and bucket, split by the pool
    they consumed (from the state's pool positions). The requesting class is not recorded in a
    state, so stolen quantities keep their pool, and quantities from unallocated supply have
    no class."""
    snap = state.snapshot
    model = model_for(snap)
    pos = state.extras.get("allocation")
    out: list[Draw] = []
    committed_cum = snap.base_cum - state.cum  # cumulative committed quantity
    ils = np.flatnonzero(np.abs(committed_cum).max(axis=1) > EPS) if snap.n_il else np.empty(0, np.int64)
    for il in ils:
        il = int(il)
        item, loc = snap.il_name(il)
        per_bucket = np.diff(committed_cum[il], prepend=0.0)
        lo, hi = model.pools_of(il) if model.n_pools else (0, 0)
        own = np.zeros((hi - lo, snap.horizon))
        if hi > lo and pos is not None:
            used = np.diff(model.base_pos[lo:hi] - pos[lo:hi], axis=1, prepend=0.0)  # charged incl. descendants
            own = used.copy()
            for p in range(hi - lo):
                par = int(model.pool_parent[lo + p])
                if par >= 0:
                    own[par] -= used[p]
        for b in np.flatnonzero(np.abs(per_bucket) > EPS):
            b = int(b)
            total = float(per_bucket[b])
            pools = []
            for p in range(hi - lo):
                if abs(own[p, b]) > EPS:
                    pools.append((model.pool_name(lo + p), float(own[p, b])))
            rest = total - sum(q for _, q in pools)
            if pools and abs(rest) > EPS:
                pools.append((UNALLOCATED, rest))
            if total > EPS:
                out.append(Draw(ATP, item, loc, snap.date(b), total, None, tuple(pools)))
    return out


def rebase(old: State | Iterable[Reservation | Draw], new_snap: Snapshot) -> RebaseReport:
    """Replay commitments onto `new_snap` (new quotas, new supply) and report what no longer fits.

    `old` is a State (its commitments are read per pool) or the stored reservations / draws
    (exact: they carry the class and the pools). Every commitment is kept: pools are charged by
    name where the new snapshot still has them (a pool that is gone counts as unallocated), and
    classes now over their quota are listed, not cut."""
    if isinstance(old, State):
        draws = state_draws(old)
    else:
        draws = []
        for r in old:
            if isinstance(r, Reservation):
                draws.extend(d for d in r.draws if d.kind == ATP)
            elif isinstance(r, Draw):
                if r.kind == ATP:
                    draws.append(r)
            else:
                raise ValidationError("expected a State, Reservations or Draws", field="old", value=type(r).__name__)
    state = new_snap.new_state()
    positions(new_snap, state)
    not_fitting, skipped = [], []
    for d in draws:
        ic, lc = new_snap.item_index.get(d.key), new_snap.location_index.get(d.location)
        if ic is None or lc is None or new_snap.il_index.get((ic, lc), -1) < 0 or (d.date - new_snap.as_of).days >= new_snap.horizon:
            skipped.append(d)
            continue
        if not apply_atp_draw(new_snap, state, d, +1):
            not_fitting.append(d)
    return RebaseReport(state, over_quota(new_snap, state), not_fitting, skipped)


__all__ = [
    "AllocationBatchResult", "OverQuota", "RebaseReport", "allocation_report", "apply_atp_draw", "available",
    "charge_pools", "earliest",
    "class_availability", "class_path", "encode_classes", "over_quota", "promise_batch", "promise_encoded", "rebase", "state_draws",
]
