"""The in-memory side of one write: the changes, their undo log and what to write.

A :class:`Txn` is opened by `OrderService.execute` under the service's lock. Every change it
makes to orders, to the commitment state (draws) or to supply (deltas) is recorded in its
:class:`~orderbook.records.WriteSet` (what the store writes) and its undo log (what puts
memory back, newest first, if the write fails).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from orderbook import lifecycle
from orderbook.lifecycle import OrderStatus as S
from orderbook.records import (
    EPS,
    AuditEntry,
    DeltaEntry,
    Draw,
    JournalEntry,
    Line,
    Order,
    PromisedLine,
    PromiseRecord,
    ScheduleLine,
    StockReservation,
    WriteSet,
    utcnow,
)
from orderbook.rules import delta_position, refuse_early_shipment
from promessa.errors import PromessaError
from promising import Policy, Promise, Request, Reservation, promise, reserve, unreserve

if TYPE_CHECKING:
    from orderbook.configured import ConfiguredCommit, ConfiguredLines
    from orderbook.service import OrderService


@dataclasses.dataclass(frozen=True)
class Idem:
    """An Idempotency-Key and the hash of the request it came with."""

    key: str
    request_hash: str

    @classmethod
    def of(cls, key: str | None, *parts: bytes | str) -> Idem | None:
        """The key with the hash of `parts` (the request's endpoint and body); None without a key."""
        if key is None:
            return None
        h = hashlib.sha256()
        for p in parts:
            h.update(p.encode() if isinstance(p, str) else p)
            h.update(b"\x00")
        return cls(key, h.hexdigest())


class StoreUnavailable(PromessaError):
    """The order book could not be written; nothing was committed."""


class Txn:
    """The in-memory side of one request: changes, their undo log and what to write."""

    def __init__(self, svc: OrderService, actor: str) -> None:
        self.svc = svc
        self.actor = actor
        self.now = utcnow()
        self.ws = WriteSet()
        self._undo: list[Callable[[], None]] = []
        self._touched: dict[str, Order | None] = {}  # order id -> copy before the request (None: new)
        self._held: dict[str, StockReservation | None] = {}  # reservation id -> copy before the request (None: new)
        self._seq0 = svc.seq

    # -- orders
    def add(self, order: Order) -> None:
        """A new order (removed again on rollback)."""
        self._touched[order.order_id] = None
        self.svc.orders[order.order_id] = order
        self._undo.append(lambda: self.svc.orders.pop(order.order_id, None))

    def touch(self, order: Order) -> Order:
        """Keep a copy of `order` as it was before this request (put back on rollback); returns it."""
        if order.order_id not in self._touched:
            self._touched[order.order_id] = order.copy()
        return order

    # -- temporary reservations (holds): kept whole, like orders
    def add_reservation(self, res: StockReservation) -> None:
        """A new temporary reservation (removed again on rollback)."""
        self._held[res.reservation_id] = None
        self.svc.reservations[res.reservation_id] = res

    def touch_reservation(self, res: StockReservation) -> StockReservation:
        """Keep a copy of `res` as it was before this request (put back on rollback); its version goes up by one."""
        if res.reservation_id not in self._held:
            self._held[res.reservation_id] = res.copy()
            res.version += 1
            res.updated_at = self.now
        return res

    def audit_reservation(self, res: StockReservation, action: str, detail: dict | None = None, *,
                          from_status: str | None = None) -> None:
        """Record `action` on a temporary reservation (the audit trail keyed by its id; ``reservation.*`` actions)."""
        self.ws.audit.append(AuditEntry(order_id=res.reservation_id, action=action, actor=self.actor,
                                        from_status=from_status, to_status=str(res.status), detail=detail, at=self.now))

    def transition(self, order: Order, dst: S, action: str, detail: dict | None = None) -> None:
        """Move `order` to `dst` (checked against the lifecycle) and audit it."""
        lifecycle.check_transition(order.status, dst, order_id=order.order_id, action=action)
        self.audit(order, action, detail, to_status=dst)
        order.status = str(dst)

    def audit(self, order: Order, action: str, detail: dict | None = None, *, to_status: S | None = None) -> None:
        """Record `action` on `order` by this request's actor."""
        self.ws.audit.append(AuditEntry(order_id=order.order_id, action=action, actor=self.actor,
                                        from_status=None if action == "capture" else str(order.status),
                                        to_status=str(to_status or order.status), detail=detail, at=self.now))

    # -- supply (every change goes through the promising layer's reservations: draws)
    def _apply(self, kind: str, order: Order, ln: Line, draw: Draw) -> bool:
        """Reserve (`commit`) or give back (`release`) one draw; journal it and log its inverse.
        Returns False when a reservation pushed a position below zero (applied all the same)."""
        svc = self.svc
        res = Reservation((draw,))
        # undo resolves the live pair when it runs: a snapshot refresh in between replays this
        # draw onto the new state, so the inverse must apply there too
        if kind == "commit":
            bad = reserve(svc.snap, svc.state, res)
            self._undo.append(lambda: unreserve(svc.snap, svc.state, res))
        else:
            unreserve(svc.snap, svc.state, res)
            bad = None
            self._undo.append(lambda: reserve(svc.snap, svc.state, res))
        self._journal(kind, order, ln, draw)
        return not bad

    def commit_draw(self, order: Order, ln: Line, draw: Draw) -> bool:
        """Reserve one draw for a line (journalled, undone on failure) and add it to the line's
        open reservation. Returns False when it did not fit the supply."""
        ok = self._apply("commit", order, ln, draw)
        ln.draws.append(draw)
        return ok

    def release_draw(self, order: Order, ln: Line, draw: Draw) -> None:
        """Give back one draw of a line as part of this transaction (journalled, undone on failure)."""
        self._apply("release", order, ln, draw)

    def _journal(self, kind: str, order: Order | StockReservation, ln: Line, draw: Draw) -> None:
        self.svc.seq += 1
        owner = order.reservation_id if isinstance(order, StockReservation) else order.order_id
        self.ws.journal.append(JournalEntry(
            seq=self.svc.seq, kind=kind, item=draw.key, location=draw.location, date=draw.date, qty=draw.qty,
            order_id=owner, line=ln.line, demand_class=draw.demand_class, at=self.now, draw=draw.to_dict()))

    def reserve(self, order: Order, ln: Line, qty: float, policy: Policy, *, source: str = "capture") -> Promise:
        """Promise `qty` of the line from its location and commit it (journal + undo); the line
        gets its schedule lines, its draws and the promise's record."""
        svc = self.svc
        req = Request(ln.item, ln.location, qty, ln.requested_date, policy, ln.demand_class or order.demand_class)
        p = promise(svc.snap, svc.state, req, commit=True)
        if p.committed:
            for d in p.reservation.draws:
                self._undo.append(lambda d=d: unreserve(svc.snap, svc.state, Reservation((d,))))
                self._journal("commit", order, ln, d)
                ln.draws.append(d)
        for sl in p.lines:
            substitute = sl.item if sl.item is not None and sl.item != ln.item else None
            ln.schedule.append(ScheduleLine(date=sl.date, qty=sl.qty, item=substitute))
        ln.promise = PromiseRecord.from_promise(p, source=source)
        return p

    def reserve_configured(self, order: Order, ln: Line, configured: ConfiguredLines, *, source: str = "capture") -> ConfiguredCommit:
        """Promise and commit a configured line's open quantity through its bill (`configured.commit`: components
        and capacity, all or nothing, one ship date); journal every draw (undone on failure) and give the line
        its schedule line and the promise's record (its message names the option that binds)."""
        svc = self.svc
        qty = ln.open_qty
        c = configured.commit(svc.snap, svc.state, ln.configuration, qty=qty, requested_date=ln.requested_date,
                              location=ln.location)
        for d in c.draws:
            self._undo.append(lambda d=d: unreserve(svc.snap, svc.state, Reservation((d,))))
            self._journal("commit", order, ln, d)
            ln.draws.append(d)
        if c.date is not None:
            ln.schedule.append(ScheduleLine(date=c.date, qty=qty))
        ln.promise = PromiseRecord(
            item=ln.item, location=ln.location, qty=qty, requested_date=ln.requested_date, status=c.status,
            reason=c.reason, lines=(PromisedLine(c.date, qty),) if c.date is not None else (),
            demand_class=ln.demand_class or order.demand_class, committed=bool(c.draws), message=c.message,
            source=source, details={"configuration": c.details})
        return c

    def unreserve_open(self, order: Order, ln: Line) -> float:
        """Release every open (unshipped) reservation of the line; keep what has shipped."""
        for d in reversed(ln.draws):
            self._apply("release", order, ln, d)
        ln.draws = []
        released = 0.0
        keep = []
        for sl in ln.schedule:
            released += sl.open_qty
            if sl.shipped_qty > EPS:
                keep.append(ScheduleLine(date=sl.date, qty=sl.shipped_qty, shipped_qty=sl.shipped_qty, item=sl.item))
        ln.schedule = keep
        return released

    def consume(self, order: Order, ln: Line, sl: ScheduleLine, qty: float, ship_date: dt.date | None, *,
                field: str = "at") -> None:
        """A shipment of `qty` from schedule line `sl`: its item draws on that date move to the ship
        date and become consumption; other draws (capacity, components) are consumed in proportion.

        A shipment dated before the supply its draw consumes (moving the draw to the ship day
        would push the position below zero) is refused: `rules.refuse_early_shipment` names the
        line, the date and the supply."""
        snap = self.svc.snap
        day = snap.date(snap.bucket(ship_date or sl.date))
        line_open = sum(x.open_qty for x in ln.schedule)
        frac = min(1.0, qty / line_open) if line_open > EPS else 1.0
        remaining = qty
        keep: list[Draw] = []
        for d in ln.draws:
            if d.kind == "atp" and d.key == ln.item and d.location == ln.location and d.date == sl.date and remaining > EPS:
                take = min(d.qty, remaining)
                part = scaled(d, take)
                self._apply("release", order, ln, part)
                moved = dataclasses.replace(part, date=day)
                if not self._apply("commit", order, ln, moved) and day < d.date:
                    refuse_early_shipment(ln, d, day, field=field)
                ln.consumed.append(moved)
                remaining -= take
                if d.qty - take > EPS:
                    keep.append(scaled(d, d.qty - take))
            elif d.kind != "atp" or d.key != ln.item:
                used = d.qty * frac
                if used > EPS:
                    ln.consumed.append(scaled(d, used))
                if d.qty - used > EPS:
                    keep.append(scaled(d, d.qty - used))
            else:
                keep.append(d)
        ln.draws = keep
        sl.shipped_qty = min(sl.qty, sl.shipped_qty + qty)
        if sl.qty - sl.shipped_qty < EPS:
            sl.shipped_qty = sl.qty

    # -- supply deltas
    def adjust_supply(self, il: int, bucket: int, entry: DeltaEntry) -> None:
        """Add `entry.qty` of supply at item-location `il` from `bucket` on (durable with this
        request; undone on failure). `entry.seq` is taken from the journal sequence here."""
        svc = self.svc
        svc.state.adjust_supply(il, bucket, entry.qty)
        qty = entry.qty

        def undo() -> None:  # on the pair served when it runs (a refresh replays pending deltas too)
            pos = delta_position(svc.snap, entry)
            if not isinstance(pos, str):  # else the new pair could not take it either (reported by its replay)
                svc.state.adjust_supply(pos[0], pos[1], -qty)

        self._undo.append(undo)
        svc.seq += 1
        entry.seq = svc.seq
        entry.actor = self.actor
        entry.at = self.now
        self.ws.deltas.append(entry)

    # -- pricing, customers and catalogue (the service's Commerce: immutable parts swapped whole)
    def set_commerce(self, **parts) -> None:
        """Swap parts of the service's `Commerce` (``book``, ``master``, ``changes``, ``records``) for this
        request; the old values are put back if the write fails."""
        c = self.svc.commerce
        old = {k: getattr(c, k) for k in parts}
        for k, v in parts.items():
            setattr(c, k, v)
        self._undo.append(lambda: [setattr(c, k, v) for k, v in old.items()])

    def next_seq(self) -> int:
        """The next number of the journal sequence (catalogue changes share it with supply deltas)."""
        self.svc.seq += 1
        return self.svc.seq

    # -- savepoints (bulk import: one bad order does not spoil the others)
    def savepoint(self) -> tuple:
        """A point `rollback_to` can return to."""
        return (len(self._undo), dict(self._touched), len(self.ws.audit), len(self.ws.journal),
                len(self.ws.import_keys), self.svc.seq)

    def rollback_to(self, sp: tuple) -> None:
        """Undo what was done since `sp` (a `savepoint()`)."""
        n_undo, touched, n_audit, n_journal, n_keys, seq = sp
        while len(self._undo) > n_undo:
            self._undo.pop()()
        for oid, orig in self._touched.items():
            if oid not in touched:
                if orig is None:
                    self.svc.orders.pop(oid, None)
                else:
                    self.svc.orders[oid] = orig
        self._touched = touched
        del self.ws.audit[n_audit:]
        del self.ws.journal[n_journal:]
        del self.ws.import_keys[n_keys:]
        self.svc.seq = seq

    def rollback(self) -> None:
        """Undo everything this request did in memory, newest first."""
        while self._undo:
            self._undo.pop()()
        for oid, orig in self._touched.items():
            if orig is None:
                self.svc.orders.pop(oid, None)
            else:
                self.svc.orders[oid] = orig
        for rid, held in self._held.items():
            if held is None:
                self.svc.reservations.pop(rid, None)
            else:
                self.svc.reservations[rid] = held
        self.svc.seq = self._seq0

    def finish(self) -> None:
        """Bump the version of every touched order and add it to the write set."""
        for oid, orig in self._touched.items():
            o = self.svc.orders.get(oid)
            if o is None:
                continue
            if orig is not None:
                o.version = orig.version + 1
            else:
                self.ws.new_orders.add(oid)
            o.updated_at = self.now
            self.ws.orders.append(o)
        for rid in self._held:
            r = self.svc.reservations.get(rid)
            if r is not None:
                self.ws.reservations.append(r)


def scaled(d: Draw, qty: float) -> Draw:
    """The same draw for `qty` units (allocation pools scaled in proportion)."""
    f = qty / d.qty if d.qty > 0 else 0.0
    return dataclasses.replace(d, qty=qty, pools=tuple((p, q * f) for p, q in d.pools))
