"""The second pass of backlog rescheduling: lines the plain-ATP kernel cannot re-promise, re-planned
through the promising engine.

A line whose open reservation draws demand-class quota pools (allocation), capable-to-promise
capacity or components, or a substitute item is left out of the kernel pass (`scenarios.backlog`:
its reservation stays held while the kernel lines are planned, so they plan around it). Then,
on the state the kernel pass left (`replan_reserved`):

1. every such line's old reservation is given back (`promising.unreserve`: positions, pools,
   capacity, components, substitutes);
2. the lines are taken group by group in the kernel's order (win, gain, redistribute, fill; by
   priority, then creation time or requested date, then input order) and re-promised through
   `promising.promise` (class allocation with protection, CTP, substitution), with the same
   strategy rules:

   - **win / gain** first re-reserve their old reservation where it still fits (every draw:
     the positions, and no quota pool newly overdrawn), in order; the others are promised
     afresh right after; then each kept line tries a fresh answer, which replaces the kept one
     when it dominates it (at least as much by every date, more by some) or, on the same
     schedule, draws fewer units of substitutes (never a substitute while the original covers
     the line, the substitution rule);
   - **redistribute** lines are promised afresh;
   - **fill** lines keep their old reservation where it still fits, else get at most their old
     quantity no earlier than their old last date (``fill_can_gain``: afresh);
   - **lose** lines get nothing;
   - ``start_from: nothing``: every group promised afresh in order.

Fair share and the minimum shipment quantity are not applied to these lines (the engine promises
one line at a time). A line whose reservation names an item or location the snapshot does not
know (a what-if fork without them) keeps its reservation as it is.

The new promises (typed `promising.Promise`, with their draws) are returned in
`RescheduleResult.promises` for the lines whose reservation changed, so that `apply` reserves
exactly them through the order book's command.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping

import numpy as np
import polars as pl

import allocation
import promising
from promessa.errors import ValidationError
from promising.enums import EPS, FLAG_BACKORDER, FLAG_PARTIAL, FLAG_SPLIT
from promising.reservation import ATP, Reservation, draw_il
from promising.types import Policy, Promise, Request
from scenarios.backlog import (
    RescheduleConfig, RescheduleResult, _finish, _orders, _Run, group_order, line_values, old_schedule, summarize,
)
from scenarios.enums import Strategy
from supplydata.snapshot import Snapshot, State


def subset(backlog: pl.DataFrame, schedule: pl.DataFrame | None, rows: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The backlog rows `rows` (ascending) and their schedule lines, renumbered from 0."""
    if schedule is None:
        return backlog[rows], None
    pos = np.full(backlog.height, -1, np.int64)
    pos[rows] = np.arange(rows.size)
    sch = schedule.with_columns(row=pl.Series("row", pos[schedule["row"].to_numpy()])).filter(pl.col("row") >= 0)
    return backlog[rows], sch


class _Pass:
    """One engine pass over the re-planned lines (`rows` of `sub`, a subset of the backlog)."""

    def __init__(self, snap: Snapshot, st: State, sub: pl.DataFrame, run: _Run, old: list[Reservation],
                 ptr: np.ndarray, ob: np.ndarray, oq: np.ndarray) -> None:
        self.snap, self.st, self.run, self.old = snap, st, run, old
        self.ptr, self.ob, self.oq = ptr, ob, oq
        self.items = sub["item"].to_list()
        self.locs = sub["location"].to_list()
        self.classes = sub["demand_class"].to_list() if "demand_class" in sub.columns else [None] * sub.height
        self.new: dict[int, Promise] = {}
        model = allocation.model_for(snap)
        self.pools = model if model.n_pools else None

    # -------------------------------------------------------------- requests and answers

    def request(self, j: int, *, qty: float | None = None, req: int | None = None) -> Request:
        e = self.run.enc
        f = int(e.flags[j])
        pol = Policy(allow_partial=bool(f & FLAG_PARTIAL), allow_split=bool(f & FLAG_SPLIT),
                     max_late_days=None if e.max_late[j] < 0 else int(e.max_late[j]), max_lines=int(e.max_lines[j]),
                     backorder=bool(f & FLAG_BACKORDER))
        return Request(self.items[j], self.locs[j], float(e.qty[j] if qty is None else qty),
                       self.snap.date(int(e.req[j] if req is None else req)), pol, self.classes[j])

    def record(self, j: int, p: Promise) -> None:
        """Write a promise's schedule (summed per date over the items it names) to row `j`."""
        per: dict[int, float] = {}
        for ln in p.lines:
            if ln.qty > EPS:
                b = self.snap.bucket(ln.date)
                per[b] = per.get(b, 0.0) + float(ln.qty)
        days = sorted(per)
        r = self.run
        r.n[j] = len(days)
        r.b[j, :len(days)] = days
        r.q[j, :len(days)] = [per[d] for d in days]
        r.status[j], r.reason[j] = int(p.status), int(p.reason)
        self.new[j] = p

    def record_old(self, j: int) -> None:
        """Row `j` keeps its old schedule."""
        lo, hi = self.ptr[j], self.ptr[j + 1]
        r = self.run
        r.n[j] = hi - lo
        r.b[j, :hi - lo] = self.ob[lo:hi]
        r.q[j, :hi - lo] = self.oq[lo:hi]
        r.status[j] = -1
        self.new.pop(j, None)

    def fresh(self, j: int, **over) -> None:
        """Promise row `j` afresh through the engine, reserving what it promises."""
        p = promising.promise(self.snap, self.st, self.request(j, **over), commit=True)
        self.record(j, p)

    # -------------------------------------------------------------- keeping

    def _pool_rows(self, res: Reservation) -> list[tuple[int, int]]:
        if self.pools is None:
            return []
        out = set()
        for d in res.draws:
            if d.kind == ATP:
                lo, hi = self.pools.pools_of(draw_il(self.snap, d))
                if hi > lo:
                    out.add((lo, hi))
        return sorted(out)

    def keep(self, j: int) -> bool:
        """Re-reserve row `j`'s old reservation when every draw still fits (positions and
        capacity not pushed below zero, no quota pool newly overdrawn); else leave it given back."""
        res = self.old[j]
        if not res.draws:
            return False
        rows = self._pool_rows(res)
        pos = allocation.positions(self.snap, self.st) if rows else None
        before = [pos[lo:hi].min(axis=1) for lo, hi in rows]
        bad = promising.reserve(self.snap, self.st, res)
        if not bad:
            for (lo, hi), b0 in zip(rows, before, strict=True):
                after = pos[lo:hi].min(axis=1)
                if ((after < -1e-6) & (after < b0 - 1e-9)).any():
                    bad = [None]
                    break
        if bad:
            promising.unreserve(self.snap, self.st, res)
            return False
        self.record_old(j)
        return True

    def improve(self, j: int) -> bool:
        """A kept row tries a fresh answer; it replaces the kept reservation when it dominates it,
        or has the same schedule and draws fewer units of substitutes."""
        promising.unreserve(self.snap, self.st, self.old[j])
        p = promising.promise(self.snap, self.st, self.request(j), commit=False)
        old = self._old_pairs(j)
        new = _pairs(self.snap, p)
        if _dominates(new, old) or (_same(new, old) and _substituted(p, self.items[j]) < _sub_qty(self.snap, self.old[j], self.items[j]) - EPS):
            promising.reserve(self.snap, self.st, p.reservation)
            self.record(j, dataclasses.replace(p, committed=True))
            return True
        promising.reserve(self.snap, self.st, self.old[j])
        return False

    def _old_pairs(self, j: int) -> list[tuple[int, float]]:
        lo, hi = self.ptr[j], self.ptr[j + 1]
        return list(zip(self.ob[lo:hi].tolist(), self.oq[lo:hi].tolist(), strict=True))


def _pairs(snap: Snapshot, p: Promise) -> list[tuple[int, float]]:
    return [(snap.bucket(ln.date), float(ln.qty)) for ln in p.lines if ln.qty > EPS]


def _cum_by(pairs: list[tuple[int, float]], days: list[int]) -> np.ndarray:
    out = np.zeros(len(days))
    for b, q in pairs:
        out[np.searchsorted(days, b):] += q
    return out


def _dominates(new: list[tuple[int, float]], old: list[tuple[int, float]]) -> bool:
    """At least as much confirmed by every date, more by some (the kernel's dominance rule)."""
    days = sorted({b for b, _ in new} | {b for b, _ in old})
    a, b = _cum_by(new, days), _cum_by(old, days)
    return bool((a >= b - EPS).all() and (a > b + EPS).any())


def _same(new: list[tuple[int, float]], old: list[tuple[int, float]]) -> bool:
    days = sorted({b for b, _ in new} | {b for b, _ in old})
    return bool(np.allclose(_cum_by(new, days), _cum_by(old, days), atol=EPS))


def _substituted(p: Promise, item: str) -> float:
    return float(sum(ln.qty for ln in p.lines if ln.item is not None and ln.item != item))


def _sub_qty(snap: Snapshot, res: Reservation, item: str) -> float:
    """Units of `item`'s substitutes (any in the snapshot's `substitutes` table) a reservation draws."""
    subs = snap.tables.get("substitutes")
    if subs is None or not subs.height:
        return 0.0
    names = set(subs.filter(pl.col("item") == item)["substitute"].to_list())
    return float(sum(d.qty for d in res.draws if d.kind == ATP and d.key in names))


def _draw_key(res: Reservation) -> list[tuple]:
    return sorted((d.kind, d.key, d.location, d.date, round(d.qty, 9), d.demand_class,
                   tuple((n, round(q, 9)) for n, q in d.pools)) for d in res.draws)


def replan_reserved(snap: Snapshot, res: RescheduleResult, backlog: pl.DataFrame, config: RescheduleConfig, *,
                    schedule: pl.DataFrame | None, reservations: Mapping[int, Reservation]) -> RescheduleResult:
    """Re-plan the rows of `reservations` (row -> the line's open reservation, held in `res.state`)
    through the engine on the state the kernel pass left (see the module docstring); their rows
    of `res` (lines, schedule, arrays, summary, orders) are replaced and `res.promises` gets the
    new promises whose reservation changed. Returns `res`, updated."""
    t0 = time.perf_counter()
    rows = np.array(sorted(reservations), np.int64)
    if rows.size == 0:
        return res
    st = res.state
    sub, sch = subset(backlog, schedule, rows)
    enc = promising.encode_lines(snap, sub, policy=config.policy())
    ptr, ob, oq = old_schedule(snap, sub, sch)
    strat, perm = group_order(snap, sub, config, enc.req)
    run = _Run(snap, st, enc, width=res.new_b.shape[1])
    old = [reservations[int(r)] for r in rows]
    ps = _Pass(snap, st, sub, run, old, ptr, ob, oq)
    m = rows.size
    kept = np.zeros(m, np.bool_)
    improved = np.zeros(m, np.bool_)

    # 1. give back every old reservation (a line naming what this snapshot does not know keeps it)
    movable = np.ones(m, np.bool_)
    for j in range(m):
        try:
            for d in old[j].draws:
                if d.kind == ATP:
                    draw_il(snap, d)
            promising.unreserve(snap, st, old[j])
        except ValidationError:
            movable[j] = False
            ps.record_old(j)
            kept[j] = True
    perm = perm[movable[perm]]
    g = strat[perm]

    def group(s: Strategy) -> list[int]:
        return perm[g == int(s)].tolist()

    win, gain, redis, fill = group(Strategy.WIN), group(Strategy.GAIN), group(Strategy.REDISTRIBUTE), group(Strategy.FILL)
    if config.start_from == "nothing":
        for grp in (win, gain, redis, fill):
            for j in grp:
                ps.fresh(j)
    else:
        for j in win + gain:                      # 2. keep where it fits
            kept[j] = ps.keep(j)
        for grp in (win, gain):
            for j in grp:
                if not kept[j]:
                    ps.fresh(j)
        for grp in (win, gain):                   # 3. improve
            for j in grp:
                if kept[j]:
                    improved[j] = ps.improve(j)
        for j in redis:                           # 4. redistribute
            ps.fresh(j)
        for j in fill:                            # 5. fill, line after line
            if config.fill_can_gain:
                ps.fresh(j)
                continue
            kept[j] = ps.keep(j)
            if kept[j]:
                continue
            lo, hi = ptr[j], ptr[j + 1]
            old_qty = float(oq[lo:hi].sum())
            if old_qty > EPS:
                ps.fresh(j, qty=min(old_qty, float(enc.qty[j])), req=max(int(ob[hi - 1]), int(enc.req[j])))
        # 6. lose: nothing

    lines_sub, sched_sub, _ = _finish(snap, sub, enc, run, strat, ptr, ob, oq, kept, improved,
                                      line_values(snap, sub, enc, config.currency))
    n = backlog.height
    idx = np.arange(n)
    idx[rows] = n + np.arange(m)
    res.lines = pl.concat([res.lines, lines_sub], how="vertical_relaxed")[idx]
    res.schedule = pl.concat([res.schedule.filter(~pl.col("row").is_in(rows)),
                              sched_sub.with_columns(row=pl.Series("row", rows[sched_sub["row"].to_numpy()]))],
                             how="vertical_relaxed").sort("row", maintain_order=True)
    res.new_n[rows], res.new_b[rows], res.new_q[rows] = run.n, run.b, run.q
    res.summary = summarize(res.lines)
    res.orders = _orders(backlog, res.lines)
    res.promises = {int(rows[j]): p for j, p in ps.new.items() if _draw_key(p.reservation) != _draw_key(old[j])}
    res.timings["replanned_lines"] = float(m)
    res.timings["replan"] = time.perf_counter() - t0
    return res
