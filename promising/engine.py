"""The promising engine: one order line through allocation, ATP and capable-to-promise, and the
one place where draws of every kind are reserved, released and replayed.

`promise` calls the paths explicitly, in this order:

1. `allocation.class_path` answers where the item-location has quotas (None elsewhere); a
   request without a demand class is the "all others" class there (unallocated supply only);
   when its answer is not FULL and the item is made at the location, capable-to-promise is
   tried within the class's allocation (`_ctp_within_allocation`): the finished item's stock
   part is bound by the class's availability and charged to the pools it consumes;
2. plain ATP (`promising.atp.promise_atp`) answers;
3. when ATP is not FULL, `promising.ctp.ctp_path` may answer instead (the item is made at the
   location and making improves on ATP), or add the binding CTP constraint to ATP's answer.

`apply_draw` is the one dispatch on the draw kind: "atp" draws move the cumulative position and
charge allocation pools (`allocation.apply_atp_draw`); "capacity" draws use resource capacity
(`promising.ctp.capacity_draw`). `reserve`, `unreserve`, `reserve_many`, `commit` and `release`
go through it.

Layering: this module sits above `allocation`, which imports only promising's low modules
(`atp`, `kernels`, `enums`, `reservation`, `types`). Importing `allocation` first runs this
package's facade, hence this module, while `allocation` is still half-imported; so this module
names allocation's functions through the package (`allocation.class_path`) at call time and
never imports names from it at import time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools

import numpy as np

import allocation
from promessa.errors import FormUnsupported, ValidationError
from promising import ctp, substitution
from promising import kernels as nb
from promising.atp import check_qty, commit_lines, pegs_for, promise_atp, resolve_il
from promising.enums import EPS, Reason, Status, lines_width
from promising.reservation import ATP, CAPACITY, KINDS, Draw, ManyResult, Reservation, draw_il
from promising.sparse_atp import promise_compact
from promising.types import Peg, Policy, Promise, Request, ScheduleLine
from supplydata.snapshot import Snapshot, State
from supplydata.sparse import CompactSnapshot, CompactState, commit_many

__all__ = ["apply_draw", "commit", "promise", "promise_many", "release", "reserve", "reserve_many", "unreserve"]


def promise(snap: Snapshot, state: State, request: Request, *, commit: bool = False, explain: bool = True) -> Promise:
    """Promise one order line.

    Parameters
    ----------
    snap, state
        The snapshot and the state of commitments to promise against.
    request
        Item, location, quantity, requested date, policy and optional demand class. Where the
        snapshot has substitutes for the item (and the policy allows substitution), a request
        the item alone cannot promise in full on time is filled on time from the item and its
        substitutes, most preferred first; each schedule line then names its item.
    commit
        Reserve what is promised in `state` (the promise's `reservation` says exactly what).
    explain
        Add pegging: which supply records the promise consumes.

    Returns
    -------
    Promise
        Schedule lines, status, the binding constraint, and `details` from the path that
        answered (allocation or capable-to-promise). Unknown items or locations and bad
        quantities or dates are refused with a `ValidationError` naming the field.

    On the compact supply form (``supply.form=compact``, a `supplydata.sparse.CompactSnapshot`) plain
    ATP answers (`_promise_compact`); the engine refused at start-up the snapshots that need more.
    """
    if snap.form == COMPACT:
        return _promise_compact(snap, state, request, commit=commit, explain=explain)
    paths = snap.derived.get(_PATHS) or _paths(snap)
    if paths[0] and request.policy.allow_substitution:
        subs = substitution.chain(snap, request.item, request.requested_date)
        if subs:
            return _promise_with_substitutes(snap, state, request, subs, commit=commit, explain=explain,
                                             quotas=paths[1])
    return _promise_one(snap, state, request, commit=commit, explain=explain, quotas=paths[1])


def promise_many(snap: Snapshot, state: State, requests: list[Request], *, explain: bool = False) -> list[Promise]:
    """Promise several independent lines against the same state, nothing committed: the same answers as
    ``[promise(snap, state, r, explain=explain) for r in requests]``, in one compiled call for the plain-ATP part.

    Where the snapshot has neither quotas nor substitutes, every request is answered by one batch kernel
    call; a request it does not answer in full whose item is made at its location (capable-to-promise may
    improve on ATP) goes through `promise` on its own. Elsewhere each request goes
    through `promise`. Bad requests are refused as `promise` refuses them (`ValidationError`)."""
    if snap.form == COMPACT:
        return [_promise_compact(snap, state, r, commit=False, explain=explain) for r in requests]
    paths = snap.derived.get(_PATHS) or _paths(snap)
    if paths[0] or paths[1] or len(requests) < 2:
        return [promise(snap, state, r, explain=explain) for r in requests]
    n = len(requests)
    ils = np.empty(n, dtype=np.int64)
    qty = np.empty(n)
    req = np.empty(n, dtype=np.int64)
    max_late = np.empty(n, dtype=np.int64)
    flags = np.empty(n, dtype=np.int64)
    max_lines = np.empty(n, dtype=np.int64)
    coded: dict[int, tuple[int, int, int]] = {}  # id(policy) -> (max_late, flags, max_lines): most share one
    for i, r in enumerate(requests):
        qty[i] = check_qty(r.qty)
        ils[i] = resolve_il(snap, r.item, r.location)
        req[i] = snap.bucket(r.requested_date, field="requested_date")
        pc = coded.get(id(r.policy))
        if pc is None:
            pc = coded[id(r.policy)] = (r.policy.max_late, r.policy.flags, r.policy.max_lines)
        max_late[i], flags[i], max_lines[i] = pc
    status = np.empty(n, dtype=np.int8)
    reason = np.empty(n, dtype=np.int8)
    n_lines = np.empty(n, dtype=np.int64)
    w = lines_width(max_lines)
    out_b = np.empty((n, w), dtype=np.int64)
    out_q = np.empty((n, w))
    ef = np.empty(n, dtype=np.int64)
    nb.promise_batch_nb(state.cum, snap.il_lead_time, snap.il_calendar, snap.calendar_open, ils, qty, req, max_late,
                        flags, max_lines, False, status, reason, n_lines, out_b, out_q, ef)
    as_of = snap.as_of
    roots = ctp.ctp_model(snap).il_root
    made = roots.shape[0] > 0
    full = int(Status.FULL)
    days = [as_of + dt.timedelta(days=d) for d in range(snap.horizon)]  # bucket -> date
    out: list[Promise] = []
    for i, (r, il, st, rs, k, e) in enumerate(zip(requests, ils.tolist(), status.tolist(), reason.tolist(),
                                                   n_lines.tolist(), ef.tolist(), strict=True)):
        if il < 0:
            out.append(Promise(r, Status.SHORT, Reason.NO_SOURCE, (), None))
            continue
        if st != full and made and roots[il] >= 0:
            out.append(promise(snap, state, r, explain=explain))  # made here: capable-to-promise may answer
            continue
        bs, qs = out_b[i, :k].tolist(), out_q[i, :k].tolist()
        lines = tuple(ScheduleLine(days[b], q) for b, q in zip(bs, qs, strict=True))
        pegs: tuple[Peg, ...] = ()
        if explain and k:
            pegs = pegs_for(snap, state, il, out_b[i, :k].copy(), out_q[i, :k].copy())
        out.append(Promise(r, _STATUS[st], _REASON[rs], lines, days[e] if e >= 0 else None, pegs))
    return out


COMPACT = "compact"  # `Snapshot.form` of the compact supply form

#: What a promise on the compact form says in place of pegging (the compact snapshot keeps positions, not
#: the supply records a peg names).
NO_PEGGING = {"pegging": "not available with supply.form=compact (set supply.form=dense for pegging)"}


def _promise_compact(snap: CompactSnapshot, state: CompactState, request: Request, *, commit: bool,
                     explain: bool) -> Promise:
    """Plain ATP on the compact form (`promising.sparse_atp.promise_compact`): the dense form's plain ATP
    answer (status, reason, schedule lines, earliest full date) for the same positions, committed into the
    overlay when `commit` and something was promised. Without pegging: with `explain` the promise's
    details say so (`NO_PEGGING`)."""
    p = promise_compact(snap, state, request, commit=commit)[0]
    return dataclasses.replace(p, details=NO_PEGGING) if explain else p


_STATUS = {int(s): s for s in Status}
_REASON = {int(r): r for r in Reason}


_PATHS = "promising.engine.paths"


def _paths(snap: Snapshot) -> tuple[bool, bool]:
    """(the snapshot has substitutes, it has quotas), derived once per snapshot."""
    sub = snap.tables.get("substitutes")
    out = (sub is not None and sub.height > 0, allocation.model_for(snap).n_pools > 0)
    snap.derived[_PATHS] = out
    return out


def _promise_one(snap: Snapshot, state: State, request: Request, *, commit: bool, explain: bool,
                 quotas: bool = True) -> Promise:
    """One item: allocation (and CTP within it), else ATP, else CTP (the module docstring).
    `quotas` False: the snapshot has none (the allocation path is not asked)."""
    p = None
    if quotas:
        p = allocation.class_path(snap, state, request, commit=False, explain=explain)
    if p is not None:
        if p.status is not Status.FULL:
            alt = _ctp_within_allocation(snap, state, request, p, commit=commit, explain=explain)
            if alt is not None:
                return alt
        if commit and p.draws:
            for d in p.draws:
                allocation.apply_atp_draw(snap, state, d, +1)
            p = dataclasses.replace(p, committed=True)
        return p
    p, il, out_b, out_q = promise_atp(snap, state, request, explain=explain)
    if p.status is not Status.FULL and il >= 0:
        alt = ctp.ctp_path(snap, state, request, p, commit=commit, explain=explain)
        if alt is not None:
            return alt
    if commit and p.lines:
        commit_lines(state, il, out_b, out_q, len(p.lines))
        p = dataclasses.replace(p, committed=True)
    return p


def _ctp_within_allocation(snap: Snapshot, state: State, request: Request, class_answer: Promise, *,
                           commit: bool, explain: bool) -> Promise | None:
    """Capable-to-promise for a request that allocation answered short or late.

    CTP searches on a copy of the cumulative positions in which the finished item-location's row
    is the class's availability curve (non-decreasing, so its suffix minima are the curve itself):
    the stock part of a CTP answer never exceeds what the class may take. The stock part is then
    split into the pools it consumes (the class path asked for exactly that quantity on that day)
    and every draw is reserved through `reserve`. Returns the CTP promise when making improves on
    the class's answer, else None (components at item-locations with quotas are taken as "all
    others" draws: unallocated supply only is checked by the plan, see allocation/README.md)."""
    m = ctp.ctp_model(snap)
    if m.n_roots == 0:
        return None
    il = snap.il_index.get((snap.item_code(request.item), snap.location_code(request.location)), -1)
    if il < 0 or m.il_root[il] < 0:
        return None
    curve = allocation.class_availability(snap, state, request.item, request.location, request.demand_class)
    view = State(state.snapshot, state.cum.copy(), state.extras, state.adjustments)
    view.cum[il] = np.where(np.isinf(curve), state.cum[il], curve)
    alt = ctp.ctp_path(snap, view, request, class_answer, commit=False, explain=explain)
    if alt is None or alt.draws is None or not (alt.details or {}).get("ctp", {}).get("improves", True):
        return None
    if not (alt.promised_qty > class_answer.promised_qty + 1e-9
            or (alt.promised_qty >= class_answer.promised_qty - 1e-9 and alt.lines and class_answer.lines
                and alt.lines[-1].date < class_answer.lines[-1].date)):
        return None
    draws = []
    for d in alt.draws:
        if d.kind == ATP and d.key == request.item and d.location == request.location and not d.pools:
            part = allocation.class_path(snap, state, Request(d.key, d.location, d.qty, d.date,
                                                              dataclasses.replace(request.policy, allow_partial=False,
                                                                                  allow_split=False, max_late_days=0),
                                                              request.demand_class), explain=False)
            if part is None or not part.draws or abs(part.promised_qty - d.qty) > 1e-7 or part.lines[0].date != d.date:
                return None  # the class cannot give the stock part on that day after all
            draws.extend(part.draws)
        else:
            draws.append(d)
    alt = dataclasses.replace(alt, draws=tuple(draws),
                              details={**(alt.details or {}), "demand_class": request.demand_class, "allocation": "bound"})
    if commit:
        reserve(snap, state, Reservation(tuple(draws)))
        alt = dataclasses.replace(alt, committed=True)
    return alt


def _promise_with_substitutes(snap: Snapshot, state: State, request: Request, subs: tuple[str, ...], *,
                              commit: bool, explain: bool, quotas: bool = True) -> Promise:
    """The substitution path (Oracle GOP's "80 of AS54888 + 20 of AS6000").

    1. On the requested date only: what the item has; when that is the whole quantity, the
       item's answer is returned as it is (a substitute is never taken while the original
       covers the request on time).
    2. Otherwise, still on the requested date: each substitute valid on that date, most
       preferred first, for the rest (each through the one-item path, so
       quotas, protection and CTP apply per item). When that covers the whole quantity the
       answer is FULL with one schedule line per item used, each naming its item.
    3. When it does not: with partial allowed and more on time from the chain than the item
       alone promises at all, the on-time parts (PARTIAL); else the item's own answer.
    Returns the Promise; with `commit` its draws are reserved (the parts are different items,
    so they do not compete for the same positions). `quotas` False: the snapshot has none."""
    fast = _substitutes_on_plain_atp(snap, state, request, subs, commit=commit, explain=explain, quotas=quotas)
    if fast is not None:
        return fast
    on_time = _on_time_policy(request.policy)
    rest = float(request.qty)
    parts: list[tuple[str, Promise, float]] = []  # (item, its on-time answer, its promised quantity)
    for item in (request.item, *subs):
        if rest <= EPS:
            break
        if resolve_il(snap, item, request.location) < 0:
            continue
        # (Request built directly: dataclasses.replace costs as much as the ATP kernel call here)
        p = _promise_one(snap, state, Request(item, request.location, rest, request.requested_date, on_time,
                                              request.demand_class),
                         commit=False, explain=explain, quotas=quotas)
        if item == request.item and p.status is Status.FULL:
            # the item alone covers the whole quantity on time: its answer, as without substitutes
            alone = dataclasses.replace(p, request=request)
            return _reserved(snap, state, alone) if commit else alone
        if p.lines:
            got_here = p.promised_qty
            if got_here > EPS:
                parts.append((item, p, got_here))
                rest -= got_here
    own, alone, full = _own_answer_instead(snap, state, request, [item for item, _, _ in parts], rest,
                                           commit=commit, explain=explain, quotas=quotas)
    if own is not None:
        return own
    lines: list[ScheduleLine] = []
    pegs: list[Peg] = []
    draws: list[Draw] = []
    loc, dclass = request.location, request.demand_class
    for item, p, _ in parts:
        for k, ln in enumerate(p.lines):
            if p.pegs:
                pegs += [dataclasses.replace(g, line=len(lines)) for g in p.pegs if g.line == k]
            lines.append(ScheduleLine(ln.date, ln.qty, item))
            if p.draws is None:  # what p.reservation gives, without building it
                draws.append(Draw(ATP, item, loc, ln.date, ln.qty, dclass))
        if p.draws is not None:
            draws += p.draws
    return _substituted(snap, state, request, [(item, q) for item, _, q in parts], alone, full, lines, pegs, draws,
                        commit=commit)


_PLAIN = "promising.engine.plain_ils"


def _plain_ils(snap: Snapshot) -> bytes:
    """Per item-location 1 where plain ATP alone answers `_promise_one` (no quota pools there, the
    item not made there), else 0; derived once per snapshot."""
    got = snap.derived.get(_PLAIN)
    if got is None:
        ok = np.ones(snap.n_il, dtype=np.bool_)
        pools = allocation.model_for(snap).pool_ptr
        if pools.shape[0] == snap.n_il + 1:
            ok &= np.diff(pools) == 0
        roots = ctp.ctp_model(snap).il_root
        if roots.shape[0] == snap.n_il:
            ok &= roots < 0
        got = snap.derived[_PLAIN] = bytes(ok.astype(np.uint8))
    return got


def _substitutes_on_plain_atp(snap: Snapshot, state: State, request: Request, subs: tuple[str, ...], *,
                              commit: bool, explain: bool, quotas: bool) -> Promise | None:
    """`_promise_with_substitutes` where every item of the chain is answered by plain ATP at the
    location (no quota pools there, not made there): the same answer, with the items' on-time
    parts from one kernel call (`substitution.on_time_parts`) instead of one promise per item.
    None elsewhere (and for a quantity that is not a positive number: the general path refuses
    it as it always has)."""
    q = float(request.qty)
    if not q > EPS or q == float("inf"):
        return None
    il0 = resolve_il(snap, request.item, request.location)
    ils = substitution.chain_ils(snap, request.location, request.item, il0, subs, _plain_ils(snap))
    if ils is None:
        return None
    b = snap.bucket(request.requested_date, field="requested_date")
    code, got = substitution.on_time_parts(state, ils, q, b)
    day = snap.date(b)
    if code < 0:  # the item alone covers the whole quantity on time: its answer, as without substitutes
        pegs = pegs_for(snap, state, il0, np.array([b], dtype=np.int64), np.array([q])) if explain else ()
        alone = Promise(request, Status.FULL, Reason.NONE, (ScheduleLine(day, q),), day, pegs)
        return _reserved(snap, state, alone) if commit else alone
    items = (request.item, *subs)
    parts = [(items[j], got[j], int(ils[j])) for j in range(len(items)) if got[j] > EPS]
    rest = got[-1]
    own, alone, full = _own_answer_instead(snap, state, request, [item for item, _, _ in parts], rest,
                                           commit=commit, explain=explain, quotas=quotas)
    if own is not None:
        return own
    lines: list[ScheduleLine] = []
    pegs: list[Peg] = []
    draws: list[Draw] = []
    loc, dclass = request.location, request.demand_class
    for item, qj, il in parts:
        if explain:
            pegs += [dataclasses.replace(g, line=len(lines))
                     for g in pegs_for(snap, state, il, np.array([b], dtype=np.int64), np.array([qj])) if g.line == 0]
        lines.append(ScheduleLine(day, qj, item))
        draws.append(Draw(ATP, item, loc, day, qj, dclass))
    return _substituted(snap, state, request, [(item, qj) for item, qj, _ in parts], alone, full, lines, pegs, draws,
                        commit=commit)


def _own_answer_instead(snap: Snapshot, state: State, request: Request, items: list[str], rest: float, *,
                        commit: bool, explain: bool, quotas: bool) -> tuple[Promise | None, Promise | None, bool]:
    """Whether a chain's on-time parts (`items`, leaving `rest` unpromised) lose to the item's own answer: it
    does when no substitute was used, or when the chain falls short and is not a better partial answer under
    the request's policy. Returns (the own answer to give instead, reserved when `commit`, or None; the own
    answer when it was computed; whether the chain covers the whole quantity)."""
    full = rest <= EPS
    alone = None
    if not full:  # the item's own answer under the request's policy, to compare and fall back on
        alone = _promise_one(snap, state, request, commit=False, explain=explain, quotas=quotas)
    used_sub = any(item != request.item for item in items)
    got = float(request.qty) - rest
    if not used_sub or not (full or (request.policy.allow_partial and got > alone.promised_qty + EPS)):
        if alone is None:
            alone = _promise_one(snap, state, request, commit=False, explain=explain, quotas=quotas)
        return (_reserved(snap, state, alone) if commit else alone), alone, full
    return None, alone, full


def _substituted(snap: Snapshot, state: State, request: Request, items: list, alone: Promise | None, full: bool,
                 lines: list, pegs: list, draws: list, *, commit: bool) -> Promise:
    """A promise made with substitutes: the items and quantities used, and what the item alone would have got."""
    details: dict = {"substitution": {"items": [[item, q] for item, q in items]}}
    if alone is not None:
        details["substitution"]["without_substitution"] = {
            "status": alone.status.name.lower(), "reason": alone.reason.name.lower(), "promised_qty": alone.promised_qty,
            "lines": [{"date": ln.date.isoformat(), "qty": ln.qty} for ln in alone.lines]}
    out = Promise(request, Status.FULL if full else Status.PARTIAL, Reason.NONE if full else alone.reason,
                  tuple(lines), lines[0].date if full else alone.earliest_full_date, tuple(pegs), False,
                  tuple(draws), details)
    return _reserved(snap, state, out) if commit else out


@functools.lru_cache(maxsize=256)
def _on_time_policy(policy: Policy) -> Policy:
    """The policy of a substitution part: whatever the requested day has (partial, one line)."""
    return dataclasses.replace(policy, allow_partial=True, allow_split=False, max_late_days=0, backorder=False,
                               allow_substitution=False)


def _reserved(snap: Snapshot, state: State, p: Promise) -> Promise:
    """Reserve what `p` promises (its draws, exactly as a replay would) and mark it committed."""
    if p.lines:
        reserve(snap, state, p.reservation)
        p = dataclasses.replace(p, committed=True)
    return p


# ---------------------------------------------------------------- draws of every kind


def apply_draw(snap: Snapshot, state: State, draw: Draw, sign: int) -> bool:
    """Reserve (`sign` +1) or give back (-1) one draw of any kind in `state`.

    Returns False when reserving it went beyond what exists (cumulative ATP below zero, or a
    resource over capacity on its day); the draw is applied anyway and the caller reports it.
    An unknown draw kind, item or location is refused with a `ValidationError`."""
    if snap.form == COMPACT:
        return _apply_draw_compact(snap, state, draw, sign)
    if draw.kind == ATP:
        return allocation.apply_atp_draw(snap, state, draw, sign)
    if draw.kind == CAPACITY:
        return ctp.capacity_draw(snap, state, draw, sign)
    raise ValidationError(f"unknown draw kind (known: {', '.join(KINDS)})", field="draw.kind", value=draw.kind)


def _apply_draw_compact(snap: CompactSnapshot, state: CompactState, draw: Draw, sign: int) -> bool:
    """`apply_draw` on the compact form: an "atp" draw moves the overlay (`CompactState.commit_at`, the
    dense `atp_draw`'s "fits" rule); a draw charged to quota pools or of capacity is refused (the engine
    refused at start-up the snapshots that make them)."""
    il, b = _compact_draw_at(snap, draw)
    return state.commit_at(il, b, float(draw.qty) if sign > 0 else -float(draw.qty))


def _compact_draw_at(snap: CompactSnapshot, draw: Draw) -> tuple[int, int]:
    """(item-location, day) of an "atp" draw on the compact form; a draw of capacity or charged to quota pools is
    refused (`FormUnsupported`), an unknown kind, id or date as `apply_draw` refuses it."""
    if draw.kind == CAPACITY:
        raise FormUnsupported("capable-to-promise (capacity draws)")
    if draw.kind != ATP:
        raise ValidationError(f"unknown draw kind (known: {', '.join(KINDS)})", field="draw.kind", value=draw.kind)
    if draw.pools:
        raise FormUnsupported("allocation (draws charged to quota pools)")
    return draw_il(snap, draw), snap.bucket(draw.date, field="draw.date")


def reserve(snap: Snapshot, state: State, reservation: Reservation) -> list[Draw]:
    """Apply every draw of `reservation` unconditionally (replay), first to last.

    Returns the draws that did not fit: they are kept, and the caller reports them."""
    return [d for d in reservation.draws if not apply_draw(snap, state, d, +1)]


def unreserve(snap: Snapshot, state: State, reservation: Reservation) -> None:
    """Give back every draw of `reservation` (the exact inverse of `reserve`), last first."""
    for d in reversed(reservation.draws):
        apply_draw(snap, state, d, -1)


def commit(snap: Snapshot, state: State, item: str, location: str, date: dt.date | str, qty: float,
           *, demand_class: str | None = None) -> bool:
    """Reserve `qty` of `item` at `location` on `date` unconditionally (replay of an existing
    commitment; charged to the class's quota where it has one).

    Returns False when it pushed a non-negative cumulative position below zero: the
    commitment is kept, and the caller reports it as an exception."""
    draw = Draw(ATP, item, location, snap.date(snap.bucket(date)), check_qty(qty), demand_class)
    return not reserve(snap, state, Reservation((draw,)))


def release(snap: Snapshot, state: State, item: str, location: str, date: dt.date | str, qty: float,
            *, demand_class: str | None = None) -> None:
    """Give back a commitment made by `promise(commit=True)` or `commit` (the exact inverse)."""
    draw = Draw(ATP, item, location, snap.date(snap.bucket(date)), check_qty(qty), demand_class)
    unreserve(snap, state, Reservation((draw,)))


def reserve_many(snap: Snapshot, state: State, draws: list[Draw], *, sign: int = +1) -> ManyResult:
    """Apply (`sign` +1) or give back (-1) many draws at once: the replay of a whole book.

    Plain ATP draws (no quota pools, and no demand class unless the snapshot has no quotas) are
    coded in bulk and applied in one compiled call that releases the GIL, so a replay beside a
    serving snapshot does not hold up the threads that promise. Every other draw goes one by one
    through `apply_draw`. The resulting state equals applying the draws one after another.
    Returns the indexes of the draws that did not fit and of those refused (with the error)."""
    if snap.form == COMPACT:
        return _reserve_many_compact(snap, state, draws, sign=sign)
    no_quotas = allocation.model_for(snap).n_pools == 0
    fast: list[int] = []
    slow: list[int] = []
    for i, d in enumerate(draws):
        (fast if d.kind == ATP and not d.pools and (d.demand_class is None or no_quotas) else slow).append(i)
    not_fitting: list[int] = []
    errors: list[tuple[int, Exception]] = []
    if fast:
        n = len(fast)
        nloc = max(snap.n_locations, 1)
        ic = np.fromiter((snap.item_index.get(draws[i].key, -1) for i in fast), np.int64, n)
        lc = np.fromiter((snap.location_index.get(draws[i].location, -1) for i in fast), np.int64, n)
        day0 = snap.as_of.toordinal()
        b = np.fromiter((draws[i].date.toordinal() - day0 for i in fast), np.int64, n)
        qty = np.fromiter((draws[i].qty for i in fast), np.float64, n)
        keys = snap.il_item.astype(np.int64) * nloc + snap.il_loc
        want = ic * nloc + lc
        pos = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
        ok = (ic >= 0) & (lc >= 0) & (b < snap.horizon) & (qty > 0)
        if len(keys):
            ok &= keys[pos] == want
        else:
            ok[:] = False
        idx = np.asarray(fast)
        slow += idx[~ok].tolist()  # refused or odd: apply_draw says why
        if ok.any():
            fits = np.empty(int(ok.sum()), dtype=np.bool_)
            nb.commit_batch_nb(state.cum, snap.il_lead_time, pos[ok].astype(np.int64), np.maximum(b[ok], 0),
                               qty[ok], 1 if sign > 0 else -1, fits)
            not_fitting += idx[ok][~fits].tolist()
    for i in sorted(slow):
        try:
            if not apply_draw(snap, state, draws[i], +1 if sign > 0 else -1):
                not_fitting.append(i)
        except Exception as exc:  # noqa: BLE001 - reported per draw; the rest is applied
            errors.append((i, exc))
    return ManyResult(sorted(not_fitting), errors)


def _reserve_many_compact(snap: CompactSnapshot, state: CompactState, draws: list[Draw], *, sign: int) -> ManyResult:
    """`reserve_many` on the compact form: the plain "atp" draws coded in bulk and applied in order by
    `supplydata.sparse.commit_many` (compiled, releases the GIL); a draw refused (unknown ids, a date
    past the horizon, quota pools, capacity) is reported with its error and the rest applied."""
    errors: list[tuple[int, Exception]] = []
    idx: list[int] = []
    ils: list[int] = []
    days: list[int] = []
    qty: list[float] = []
    s = 1.0 if sign > 0 else -1.0
    for i, d in enumerate(draws):
        try:
            il, b = _compact_draw_at(snap, d)
            q = check_qty(d.qty)
        except Exception as exc:  # noqa: BLE001 - reported per draw; the rest is applied
            errors.append((i, exc))
            continue
        idx.append(i)
        ils.append(il)
        days.append(b)
        qty.append(s * q)
    not_fitting: list[int] = []
    if idx:
        fits = commit_many(state, np.array(ils, dtype=np.int64), np.array(days, dtype=np.int64),
                           np.array(qty, dtype=np.float64))
        not_fitting = [idx[j] for j in np.flatnonzero(~fits).tolist()]
    return ManyResult(not_fitting, errors)
