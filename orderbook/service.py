"""The order book service: captures, promises, commits and follows orders to delivery.

One lock makes *validate + promise + commit* one atomic step: a request takes the lock and
changes the in-memory orders and commitment state inside a :class:`Txn` (which keeps an undo
log). What it changed is then written to the order book - by the :class:`GroupCommitter`,
many requests per transaction, in the order they were made - and only then is the answer
returned. If a write fails, the undo logs put memory back as it was (newest first), so memory
never keeps a commitment the order book does not have.

At start-up :meth:`OrderService.rebuild` replays the commitment journal (entries after the
snapshot's ``journal_seq``) into a fresh state: the in-memory commitments are exactly those
of the orders in the book.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import ValidationError as PydanticValidationError

from orderbook import lifecycle
from orderbook.lifecycle import OrderStatus as S
from orderbook.locations import LocationChooser, get_location_chooser, zones
from orderbook.metrics import Metrics
from orderbook.model import EPS, AuditEntry, JournalEntry, Line, Order, ScheduleLine, WriteSet, utcnow
from orderbook.schemas import (
    FulfillmentEvent,
    ImportRow,
    InquiryLine,
    LineCreate,
    OrderChange,
    OrderCreate,
    PolicyIn,
)
from promessa.config import Settings, settings_of
from orderbook.store import OrderStore, Prepared
from promessa.errors import ConflictError, NotFoundError, PromessaError, ValidationError
from promising import Draw, Policy, Promise, Request, Reservation, promise, reserve, reserve_many, unreserve
from supplydata import Snapshot, State

log = logging.getLogger("promessa.orderbook")

_OPEN_STATUSES = frozenset(str(s) for s in lifecycle.OPEN)


@dataclasses.dataclass(frozen=True)
class Idem:
    """An Idempotency-Key and the hash of the request it came with."""

    key: str
    request_hash: str

    @classmethod
    def of(cls, key: str | None, *parts: bytes | str) -> Idem | None:
        if key is None:
            return None
        h = hashlib.sha256()
        for p in parts:
            h.update(p.encode() if isinstance(p, str) else p)
            h.update(b"\x00")
        return cls(key, h.hexdigest())


class StoreUnavailable(PromessaError):
    """The order book could not be written; nothing was committed."""


def _policy(p: PolicyIn | dict | None) -> Policy:
    if p is None:
        return Policy()
    if isinstance(p, dict):
        p = PolicyIn.model_validate(p)
    return Policy(allow_partial=p.allow_partial, allow_split=p.allow_split, max_late_days=p.max_late_days,
                  max_lines=p.max_lines)


class Txn:
    """The in-memory side of one request: changes, their undo log and what to write."""

    def __init__(self, svc: OrderService, actor: str) -> None:
        self.svc = svc
        self.actor = actor
        self.now = utcnow()
        self.ws = WriteSet()
        self._undo: list[Callable[[], None]] = []
        self._touched: dict[str, Order | None] = {}  # order id -> copy before the request (None: new)
        self._seq0 = svc.seq

    # -- orders
    def add(self, order: Order) -> None:
        self._touched[order.order_id] = None
        self.svc.orders[order.order_id] = order
        self._undo.append(lambda: self.svc.orders.pop(order.order_id, None))

    def touch(self, order: Order) -> Order:
        if order.order_id not in self._touched:
            self._touched[order.order_id] = order.copy()
        return order

    def transition(self, order: Order, dst: S, action: str, detail: dict | None = None) -> None:
        lifecycle.check_transition(order.status, dst, order_id=order.order_id, action=action)
        self.audit(order, action, detail, to_status=dst)
        order.status = str(dst)

    def audit(self, order: Order, action: str, detail: dict | None = None, *, to_status: S | None = None) -> None:
        self.ws.audit.append(AuditEntry(order_id=order.order_id, action=action, actor=self.actor,
                                        from_status=None if action == "capture" else str(order.status),
                                        to_status=str(to_status or order.status), detail=detail, at=self.now))

    # -- supply (every change goes through the promising layer's reservations: draws)
    def _apply(self, kind: str, order: Order, ln: Line, draw: Draw) -> None:
        """Reserve (`commit`) or give back (`release`) one draw; journal it and log its inverse."""
        svc = self.svc
        res = Reservation((draw,))
        # undo resolves the live pair when it runs: a snapshot refresh in between replays this
        # draw onto the new state, so the inverse must apply there too
        if kind == "commit":
            reserve(svc.snap, svc.state, res)
            self._undo.append(lambda: unreserve(svc.snap, svc.state, res))
        else:
            unreserve(svc.snap, svc.state, res)
            self._undo.append(lambda: reserve(svc.snap, svc.state, res))
        self._journal(kind, order, ln, draw)

    def commit_draw(self, order: Order, ln: Line, draw: Draw) -> None:
        """Reserve one draw for a line as part of this transaction (journalled, undone on failure)."""
        self._apply("commit", order, ln, draw)

    def release_draw(self, order: Order, ln: Line, draw: Draw) -> None:
        """Give back one draw of a line as part of this transaction (journalled, undone on failure)."""
        self._apply("release", order, ln, draw)

    def _journal(self, kind: str, order: Order, ln: Line, draw: Draw) -> None:
        self.svc.seq += 1
        self.ws.journal.append(JournalEntry(
            seq=self.svc.seq, kind=kind, item=draw.key, location=draw.location, date=draw.date, qty=draw.qty,
            order_id=order.order_id, line=ln.line, demand_class=draw.demand_class, at=self.now, draw=draw.to_dict()))

    def reserve(self, order: Order, ln: Line, qty: float, policy: Policy) -> Promise:
        """Promise `qty` of the line from its location and commit it (journal + undo)."""
        svc = self.svc
        req = Request(ln.item, ln.location, qty, ln.requested_date, policy, ln.demand_class or order.demand_class)
        p = promise(svc.snap, svc.state, req, commit=True)
        if p.committed:
            for d in p.reservation.draws:
                self._undo.append(lambda d=d: unreserve(svc.snap, svc.state, Reservation((d,))))
                self._journal("commit", order, ln, d)
                ln.draws.append(d.to_dict())
        for sl in p.lines:
            ln.schedule.append(ScheduleLine(date=sl.date, qty=sl.qty))
        ln.promise = p.to_dict()
        return p

    def unreserve_open(self, order: Order, ln: Line) -> float:
        """Release every open (unshipped) reservation of the line; keep what has shipped."""
        for d in reversed(ln.draws):
            self._apply("release", order, ln, Draw.from_dict(d))
        ln.draws = []
        released = 0.0
        keep = []
        for sl in ln.schedule:
            released += sl.open_qty
            if sl.shipped_qty > EPS:
                keep.append(ScheduleLine(date=sl.date, qty=sl.shipped_qty, shipped_qty=sl.shipped_qty))
        ln.schedule = keep
        return released

    def consume(self, order: Order, ln: Line, sl: ScheduleLine, qty: float, ship_date: dt.date | None) -> None:
        """A shipment of `qty` from schedule line `sl`: its item draws on that date move to the ship
        date and become consumption; other draws (capacity, components) are consumed in proportion."""
        snap = self.svc.snap
        day = snap.date(snap.bucket(ship_date or sl.date))
        line_open = sum(x.open_qty for x in ln.schedule)
        frac = min(1.0, qty / line_open) if line_open > EPS else 1.0
        remaining = qty
        keep: list[dict] = []
        for raw in ln.draws:
            d = Draw.from_dict(raw)
            if d.kind == "atp" and d.key == ln.item and d.location == ln.location and d.date == sl.date and remaining > EPS:
                take = min(d.qty, remaining)
                part = _scaled(d, take)
                self._apply("release", order, ln, part)
                moved = dataclasses.replace(part, date=day)
                self._apply("commit", order, ln, moved)
                ln.consumed.append(moved.to_dict())
                remaining -= take
                if d.qty - take > EPS:
                    keep.append(_scaled(d, d.qty - take).to_dict())
            elif d.kind != "atp" or d.key != ln.item:
                used = d.qty * frac
                if used > EPS:
                    ln.consumed.append(_scaled(d, used).to_dict())
                if d.qty - used > EPS:
                    keep.append(_scaled(d, d.qty - used).to_dict())
            else:
                keep.append(raw)
        ln.draws = keep
        sl.shipped_qty = min(sl.qty, sl.shipped_qty + qty)
        if sl.qty - sl.shipped_qty < EPS:
            sl.shipped_qty = sl.qty

    # -- savepoints (bulk import: one bad order does not spoil the others)
    def savepoint(self) -> tuple:
        return (len(self._undo), dict(self._touched), len(self.ws.audit), len(self.ws.journal),
                len(self.ws.import_keys), self.svc.seq)

    def rollback_to(self, sp: tuple) -> None:
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
        while self._undo:
            self._undo.pop()()
        for oid, orig in self._touched.items():
            if orig is None:
                self.svc.orders.pop(oid, None)
            else:
                self.svc.orders[oid] = orig
        self.svc.seq = self._seq0

    def finish(self) -> None:
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


@dataclasses.dataclass(eq=False)
class _Pending:
    """A request whose changes are made in memory and wait to be written."""

    txn: Txn
    prepared: Prepared
    future: concurrent.futures.Future
    idem: Idem | None
    status: int
    body: str
    t0: float


class GroupCommitter:
    """One thread writes the queued changes of many requests in one transaction (one fsync)."""

    def __init__(self, svc: OrderService, *, max_batch: int = 512) -> None:
        self.svc = svc
        self.max_batch = max_batch
        self._queue: list[_Pending] = []
        self._writing: list[_Pending] = []
        self._cv = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="orderbook-committer", daemon=True)
        self._thread.start()

    def submit(self, p: _Pending) -> None:
        with self._cv:
            if self._stopping:
                raise StoreUnavailable("the order book is shutting down", hint="retry shortly")
            self._queue.append(p)
            self._cv.notify()

    def pending(self) -> list[_Pending]:
        """Requests queued or being written (not yet confirmed), oldest first."""
        with self._cv:
            return list(self._writing) + list(self._queue)

    def drain(self) -> list[_Pending]:
        """Take everything queued (the caller undoes it)."""
        with self._cv:
            out, self._queue = self._queue, []
            return out

    def _run(self) -> None:
        svc = self.svc
        while True:
            with self._cv:
                while not self._queue and not self._stopping:
                    self._cv.wait()
                if not self._queue:
                    return
                batch = self._queue[: self.max_batch]
                del self._queue[: len(batch)]
                self._writing = batch
            t0 = time.perf_counter()
            try:
                svc.store.write([p.prepared for p in batch])
            except Exception as exc:  # noqa: BLE001 - any store failure: undo and report
                svc._write_failed(batch, exc)  # noqa: SLF001
                with self._cv:
                    self._writing = []
                continue
            with self._cv:
                self._writing = []
            done = time.perf_counter()
            svc.metrics.observe("promessa_store_write_seconds", done - t0)
            svc.metrics.inc("promessa_store_transactions_total")
            svc.metrics.inc("promessa_store_writes_total", len(batch))
            for p in batch:
                svc.metrics.observe("promessa_store_wait_seconds", done - p.t0)
                p.future.set_result(None)

    def stop(self, timeout: float = 30.0) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify()
        self._thread.join(timeout)


class OrderService:
    """Orders in memory, commitments in a promising `State`, everything durable in `store`."""

    def __init__(self, snap: Snapshot, store: OrderStore, settings: Settings | None = None, *,
                 chooser: LocationChooser | None = None, metrics: Metrics | None = None) -> None:
        self.snap = snap
        self.store = store
        self.settings = settings or Settings()
        self._chooser = chooser
        self.metrics = metrics or Metrics()
        self.lock = threading.RLock()
        self.live = None  # a supplydata.live.LiveSupply once attach_live() is called
        self.orders: dict[str, Order] = {}
        self.state = snap.new_state()
        self.seq = 0
        self.replay_exceptions: list[str] = []
        self._pending_idem: dict[str, _Pending] = {}
        self._zones_for: Snapshot | None = None
        self.rebuild()
        if self.settings.store.idempotency_ttl_days is not None:
            n = store.purge_idempotency(utcnow() - dt.timedelta(days=self.settings.store.idempotency_ttl_days))
            if n:
                log.info("forgot %d idempotency keys older than %g days", n, self.settings.store.idempotency_ttl_days)
        self.committer = GroupCommitter(self) if self.settings.store.group_commit else None

    # the serving pair: this service's own, or the live (double-buffered) one after attach_live()
    @property
    def snap(self) -> Snapshot:
        return self.live.snapshot if self.live is not None else self._snap

    @snap.setter
    def snap(self, value: Snapshot) -> None:
        self._snap = value

    @property
    def state(self) -> State:
        return self.live.state if self.live is not None else self._state

    @state.setter
    def state(self, value: State) -> None:
        self._state = value

    def pair(self) -> tuple[Snapshot, State]:
        """The snapshot and state served now, read together (lock-free readers use this)."""
        if self.live is None:
            return self._snap, self._state
        with self.live.lease() as served:
            return served.snapshot, served.state

    @property
    def zones(self) -> frozenset[str]:
        snap = self.snap
        if self._zones_for is not snap:
            self._zones, self._zones_for = zones(snap), snap
            dc = snap.tables.get("demand_classes")
            self._classes = frozenset(dc["demand_class"].to_list()) if dc is not None and dc.height else None
        return self._zones

    @property
    def demand_classes(self) -> frozenset[str] | None:
        self.zones  # noqa: B018 - refreshes both caches for the current snapshot
        return self._classes

    def attach_live(self):
        """Serve from a `supplydata.live.LiveSupply` (zero-downtime refresh): it shares this
        service's lock and replays commitments with :meth:`replay_into`. Returns it."""
        from supplydata.live import LiveSupply

        with self.lock:
            live = LiveSupply(self._snap, self._state, replay=self.replay_into, seq_now=lambda: self.seq)
            live.write_lock = self.lock
            self.live = live
        return live

    @property
    def chooser(self) -> LocationChooser:
        return self._chooser or get_location_chooser()

    # ------------------------------------------------------------------ start-up
    def rebuild(self) -> None:
        """Rebuild orders and commitments exactly from the order book."""
        t0 = time.perf_counter()
        with self.lock:
            state = self.snap.new_state()
            problems = []
            for j in self.store.journal_since(self.snap.journal_seq or 0):
                draw = Draw.from_dict(j.draw) if j.draw else Draw("atp", j.item, j.location, j.date, j.qty, j.demand_class)
                try:
                    if j.kind == "release":
                        unreserve(self.snap, state, Reservation((draw,)))
                    else:
                        bad = reserve(self.snap, state, Reservation((draw,)))
                        if bad:
                            problems.append(f"seq {j.seq}: {draw.key}@{draw.location} {draw.date} {draw.qty:g} exceeds supply")
                except PromessaError as exc:
                    problems.append(f"seq {j.seq}: {exc}")
            self.state = state
            self.orders = {o.order_id: o for o in self.store.load_orders()}
            self.seq = self.store.max_seq()
            self.replay_exceptions = problems
        for p in problems[:20]:
            log.warning("replay: %s", p)
        log.info("rebuilt %d orders, journal seq %d, in %.3f s", len(self.orders), self.seq, time.perf_counter() - t0)

    # ------------------------------------------------------------------ the atomic step
    def execute(self, actor: str, idem: Idem | None, fn: Callable[[Txn], tuple[int, dict]]) -> tuple[int, str, bool]:
        """Run `fn` under the lock and write what it changed durably; returns (status, body, replayed).

        The answer is returned only once the order book has committed the change. With group
        commit (the default) the write leaves the lock: one committer thread writes the changes
        of many requests in one transaction, in the order they were made; if that transaction
        fails, every change not yet written is undone in memory, newest first, and each of those
        requests gets StoreUnavailable.

        With an idempotency key: the same key and request answer what was stored (or wait for
        the same request still being written); the same key with another request is a conflict."""
        wait_for: _Pending | None = None
        with self.lock:
            if idem is not None:
                wait_for = self._pending_idem.get(idem.key)
                if wait_for is not None:
                    if wait_for.idem.request_hash != idem.request_hash:
                        raise ConflictError(f"Idempotency-Key {idem.key!r} was used with another request",
                                            hint="use a new key for a new request")
                else:
                    stored = self.store.idempotency(idem.key)
                    if stored is not None:
                        if stored[0] != idem.request_hash:
                            raise ConflictError(f"Idempotency-Key {idem.key!r} was used with another request",
                                                hint="use a new key for a new request")
                        self.metrics.inc("promessa_idempotent_replays_total")
                        return stored[1], stored[2], True
            if wait_for is None:
                txn = Txn(self, actor)
                try:
                    status, public = fn(txn)
                    txn.finish()
                    if txn.ws.orders:  # bodies name the version the write gives the order
                        public = _refresh_versions(public, self.orders)
                    body = json.dumps(public, separators=(",", ":"))
                    if idem is not None:
                        txn.ws.idempotency.append((idem.key, idem.request_hash, status, body))
                    if self.committer is None:
                        self._write_now(txn.ws)
                        return status, body, False
                    pending = _Pending(txn, self.store.prepare(txn.ws), concurrent.futures.Future(), idem, status, body,
                                       time.perf_counter())
                    self.committer.submit(pending)
                except BaseException:
                    txn.rollback()
                    raise
                if idem is not None:
                    self._pending_idem[idem.key] = pending
        target = wait_for or pending
        try:
            target.future.result(timeout=self.settings.store.write_timeout_s)
        except concurrent.futures.TimeoutError:
            raise StoreUnavailable("the order book did not confirm the write in time",
                                   hint="retry with the same Idempotency-Key to learn the outcome") from None
        finally:
            if wait_for is None and idem is not None and self._pending_idem.get(idem.key) is pending:
                self._pending_idem.pop(idem.key, None)
        if wait_for is not None:
            self.metrics.inc("promessa_idempotent_replays_total")
        return target.status, target.body, wait_for is not None

    def _write_now(self, ws: WriteSet) -> None:
        t0 = time.perf_counter()
        try:
            self.store.apply(ws)
        except Exception as exc:  # noqa: BLE001 - any store failure: undo and report
            self.metrics.inc("promessa_store_write_errors_total")
            log.exception("order book write failed; undoing the request")
            raise StoreUnavailable(f"the order book could not be written: {type(exc).__name__}",
                                   hint="retry with the same Idempotency-Key") from exc
        self.metrics.observe("promessa_store_write_seconds", time.perf_counter() - t0)

    def _write_failed(self, batch: list[_Pending], exc: BaseException) -> None:
        """Called by the committer: undo, newest first, every change not written; fail their requests."""
        self.metrics.inc("promessa_store_write_errors_total")
        log.error("order book write failed (%s); undoing %d unwritten request(s)", exc, len(batch))
        with self.lock:
            failed = batch + self.committer.drain()
            for p in reversed(failed):
                p.txn.rollback()
            err = StoreUnavailable(f"the order book could not be written: {type(exc).__name__}",
                                   hint="retry with the same Idempotency-Key")
            for p in failed:
                if p.idem is not None and self._pending_idem.get(p.idem.key) is p:
                    self._pending_idem.pop(p.idem.key, None)
                p.future.set_exception(err)

    def close(self) -> None:
        """Write what is queued, then stop the committer (the store stays open)."""
        if self.committer is not None:
            self.committer.stop()

    # ------------------------------------------------------------------ validation helpers
    def _check_date(self, d: dt.date, field: str, *, allow_past: bool = False) -> None:
        if d > self.snap.last_date:
            raise ValidationError(f"date outside the horizon (last day {self.snap.last_date})", field=field, value=d.isoformat())
        if d < self.snap.as_of and not allow_past:
            raise ValidationError(f"date before the snapshot day {self.snap.as_of}", field=field, value=d.isoformat(),
                                  hint="ask for today or later")

    def _check_item(self, item: str, field: str) -> None:
        if item not in self.snap.item_index:
            raise ValidationError("unknown item", field=field, value=item)

    def _check_location(self, loc: str | None, field: str) -> None:
        if loc is not None and loc not in self.snap.location_index:
            raise ValidationError("unknown location", field=field, value=loc)

    def _check_zone(self, zone: str | None, field: str) -> None:
        if zone is not None and zone not in self.zones:
            raise ValidationError("unknown zone", field=field, value=zone)

    def _check_class(self, dc: str | None, field: str) -> None:
        if dc is not None and self.demand_classes is not None and dc not in self.demand_classes:
            raise ValidationError("unknown demand class", field=field, value=dc)

    def _price(self, item: str) -> float:
        code = self.snap.item_index.get(item)
        return float(self.snap.item_price[code]) if code is not None else 0.0

    def _is_override(self, item: str, unit_price: float | None) -> bool:
        return unit_price is not None and abs(unit_price - self._price(item)) > self.settings.orders.price_tolerance

    def _locate(self, order: Order, ln: Line, policy: Policy, field: str) -> None:
        if ln.shipped_qty > EPS and ln.location:
            return  # a line that has shipped keeps its location
        if ln.requested_location:
            ln.location = ln.requested_location
            return
        if order.zone is None:
            raise ValidationError("a line needs a location, or the order a zone", field=field, value=None,
                                  hint="give the order's zone (or ship_to.zone) or the line's location")
        ln.location = self.chooser(self.snap, self.state, item=ln.item, qty=max(ln.open_qty, EPS),
                                   requested_date=ln.requested_date, zone=order.zone, policy=policy,
                                   demand_class=ln.demand_class or order.demand_class)

    # ------------------------------------------------------------------ rules and status
    def hold_reasons(self, order: Order) -> list[str]:
        s = self.settings
        approved = order.approval or {}
        out = []
        value = order.value(self._price)
        thr = s.orders.approval_value_threshold
        if thr is not None and value > thr + 1e-9 and value > float(approved.get("value", -1.0)) + 1e-9:
            out.append(f"order value {value:.2f} exceeds the approval threshold {thr:.2f}")
        if s.orders.approval_on_price_override:
            prices = approved.get("prices", {})
            lines = [ln.line for ln in order.lines
                     if ln.price_override and prices.get(str(ln.line)) != ln.unit_price]
            if lines:
                out.append("manual price override on line" + ("s " if len(lines) > 1 else " ") + ", ".join(map(str, lines)))
        return out

    @staticmethod
    def fulfilment_status(order: Order) -> S:
        shipped = any(ln.shipped_qty > EPS for ln in order.lines)
        if shipped:
            return S.PARTIALLY_SHIPPED if any(ln.open_qty > EPS for ln in order.lines) else S.SHIPPED
        return S.SCHEDULED if all(ln.backordered_qty <= EPS for ln in order.lines) else S.BACKORDERED

    def _settle(self, txn: Txn, order: Order, action: str, detail: dict | None = None) -> None:
        """Move the order to on_hold (if an approval rule fires) or to its fulfilment status."""
        reasons = self.hold_reasons(order)
        order.hold_reasons = reasons
        dst = S.ON_HOLD if reasons else self.fulfilment_status(order)
        if reasons:
            detail = {**(detail or {}), "hold_reasons": reasons}
        txn.transition(order, dst, action, detail)
        if dst is S.ON_HOLD:
            self.metrics.inc("promessa_orders_held_total")

    # ------------------------------------------------------------------ reads
    def get(self, order_id: str) -> dict:
        with self.lock:
            o = self.orders.get(order_id)
            if o is None:
                raise NotFoundError(f"unknown order {order_id!r}")
            return self.public(o)

    def public(self, o: Order) -> dict:
        d = o.to_dict()
        d.pop("policy", None)
        d["value"] = round(o.value(self._price), 6)
        for ln, dl in zip(o.lines, d["lines"], strict=True):
            dl["promised_qty"] = ln.promised_qty
            dl["backordered_qty"] = ln.backordered_qty
        return d

    def search(self, **filters: Any) -> tuple[list[dict], int]:
        orders, total = self.store.search(**filters)
        return [self.public(o) for o in orders], total

    def audit(self, order_id: str) -> list[dict]:
        with self.lock:
            if order_id not in self.orders:
                raise NotFoundError(f"unknown order {order_id!r}")
        return [a.to_dict() for a in self.store.audit(order_id)]

    def inquire(self, lines: list[InquiryLine], *, explain: bool = True) -> list[dict]:
        """Availability for each line; nothing is committed (and no lock is taken: advisory)."""
        if len(lines) > self.settings.api.max_lines:
            raise ValidationError(f"too many lines (at most {self.settings.api.max_lines})", field="lines", value=len(lines))
        out = []
        snap, state = self.pair()  # one consistent pair for the whole inquiry, even across a refresh
        for i, ln in enumerate(lines):
            self._check_item(ln.item, f"lines.{i}.item")
            self._check_location(ln.location, f"lines.{i}.location")
            self._check_zone(ln.zone, f"lines.{i}.zone")
            self._check_class(ln.demand_class, f"lines.{i}.demand_class")
            self._check_date(ln.requested_date, f"lines.{i}.requested_date")
            pol = _policy(ln.policy)
            loc = ln.location
            if loc is None:
                if ln.zone is None:
                    raise ValidationError("a line needs a location or a zone", field=f"lines.{i}.location", value=None)
                loc = self.chooser(snap, state, item=ln.item, qty=ln.qty, requested_date=ln.requested_date,
                                   zone=ln.zone, policy=pol, demand_class=ln.demand_class)
            p = promise(snap, state, Request(ln.item, loc, ln.qty, ln.requested_date, pol, ln.demand_class),
                        explain=explain)
            out.append(p.to_dict())
        self.metrics.inc("promessa_inquiry_lines_total", len(lines))
        return out

    def atp(self, item: str, location: str, *, start: dt.date | None = None, end: dt.date | None = None) -> dict:
        from promising import atp_report

        self._check_item(item, "item")
        self._check_location(location, "location")
        snap, state = self.pair()
        df = atp_report(snap, state, item, location, start=start, end=end)
        il = snap.il_of(item, location)
        lt = int(snap.il_lead_time[il]) if il >= 0 else -1
        rows = df.select("date", "supply", "demand", "committed", "cumulative", "available", "discrete_atp").to_dicts()
        for r in rows:
            r["date"] = r["date"].isoformat()
            for k, v in r.items():
                if isinstance(v, float) and not math.isfinite(v):
                    r[k] = None  # unlimited (beyond the lead time) is reported as null
        return {"item": item, "location": location, "as_of": snap.as_of.isoformat(),
                "lead_time_days": lt if lt >= 0 else None, "rows": rows}

    def journal_entries_since(self, seq: int = 0) -> list[JournalEntry]:
        """Journal entries after `seq`: those written, then those made in memory and still being
        written (group commit), in sequence order. Call under `lock` for a stable answer."""
        written = self.store.journal_since(seq)
        seen = {j.seq for j in written}
        pending = [j for p in (self.committer.pending() if self.committer else []) for j in p.txn.ws.journal
                   if j.seq > seq and j.seq not in seen]
        return sorted(written + pending, key=lambda j: j.seq) if pending else written

    def journal_since(self, seq: int = 0, *, limit: int | None = None) -> list[dict]:
        """Commitment-journal entries after `seq` (what a snapshot refresh replays)."""
        entries = self.journal_entries_since(seq)
        return [j.to_dict() for j in (entries[:limit] if limit else entries)]

    def replay_into(self, snap: Snapshot, state: State, after_seq: int | None):
        """Replay commitments onto `state` of `snap` (a `supplydata.live.Replayer`).

        `after_seq` given: every journal entry after it (the snapshot's extract holds the
        rest). None: the extract holds none of them, and whatever shipped is gone from its
        supply, so every open reservation is replayed. Draws that no longer fit are kept and
        reported."""
        from supplydata.live import ReplayResult

        exceptions: list[dict] = []
        applied = 0
        # collect under the lock (a consistent cut at `last`), apply outside it: `state` is not
        # live yet, and what is committed meanwhile comes with the catch-up pass (after `last`)
        with self.lock:
            if after_seq is None:
                todo = [("commit", Draw.from_dict(d), o.order_id) for o in self.orders.values()
                        if o.status in _OPEN_STATUSES for ln in o.lines for d in ln.draws]
                last = self.seq
            else:
                entries = self.journal_entries_since(after_seq)
                todo = [(j.kind, Draw.from_dict(j.draw) if j.draw else
                         Draw("atp", j.item, j.location, j.date, j.qty, j.demand_class), j.order_id) for j in entries]
                last = entries[-1].seq if entries else after_seq
        # one bulk call per direction (the result is additive; releases first, so a commitment
        # is reported only when it does not fit once the releases are in)
        for sign in (-1, +1):
            group = [t for t in todo if (t[0] == "release") == (sign < 0)]
            if not group:
                continue
            r = reserve_many(snap, state, [draw for _, draw, _ in group], sign=sign)
            for j in r.not_fitting:
                exceptions.append({"order_id": group[j][2], "draw": group[j][1].to_dict(), "problem": "exceeds supply"})
            for j, exc in r.errors:
                exceptions.append({"order_id": group[j][2], "draw": group[j][1].to_dict(), "problem": str(exc)})
            applied += len(group) - len(r.errors)
        return ReplayResult(last_seq=last, applied=applied, exceptions=tuple(exceptions))

    def open_commitments(self) -> list:
        """Open (unshipped) reservations of the orders that hold supply."""
        return self.store.open_commitments()

    def commitments(self) -> dict:
        """What the in-memory state holds on top of the snapshot, per item-location and date."""
        with self.lock:
            snap, cum = self.snap, self.state.cum
            diff = snap.base_cum - cum
            rows = np.flatnonzero(np.abs(diff).max(axis=1) > 1e-9) if diff.size else []
            out = []
            for il in rows:
                per = np.diff(diff[il], prepend=0.0)
                nz = np.flatnonzero(np.abs(per) > 1e-9)
                item, loc = snap.il_name(int(il))
                out.append({"item": item, "location": loc, "total": round(float(diff[il, -1]), 6),
                            "by_date": {snap.date(int(b)).isoformat(): round(float(per[b]), 6) for b in nz}})
            return {"journal_seq": self.seq, "committed_total": round(float(diff[:, -1].sum()) if diff.size else 0.0, 6),
                    "by_item_location": out}

    # ------------------------------------------------------------------ writes
    def capture(self, data: OrderCreate, *, actor: str, idem: Idem | None = None) -> tuple[int, str, bool]:
        def run(txn: Txn) -> tuple[int, dict]:
            order = self._capture(txn, data)
            self.metrics.inc("promessa_orders_captured_total")
            return 201, self.public(order)

        return self.execute(actor, idem, run)

    def _new_order(self, data: OrderCreate, *, allow_past: bool, actor: str, order_id: str | None = None,
                   created_at: dt.datetime | None = None) -> tuple[Order, Policy]:
        s = self.settings
        if len(data.lines) > s.api.max_lines:
            raise ValidationError(f"too many lines (at most {s.api.max_lines})", field="lines", value=len(data.lines))
        zone = (data.ship_to.zone if data.ship_to and data.ship_to.zone else None) or data.zone
        self._check_zone(data.zone, "zone")
        if data.ship_to is not None:
            self._check_zone(data.ship_to.zone, "ship_to.zone")
        self._check_class(data.demand_class, "demand_class")
        lines = []
        for i, lc in enumerate(data.lines):
            self._check_item(lc.item, f"lines.{i}.item")
            self._check_location(lc.location, f"lines.{i}.location")
            self._check_date(lc.requested_date, f"lines.{i}.requested_date", allow_past=allow_past)
            self._check_class(lc.demand_class, f"lines.{i}.demand_class")
            if lc.location is None and zone is None:
                raise ValidationError("a line needs a location, or the order a zone", field=f"lines.{i}.location",
                                      value=None, hint="give the order's zone (or ship_to.zone) or the line's location")
            lines.append(Line(line=i + 1, item=lc.item, qty=float(lc.qty), requested_date=lc.requested_date,
                              requested_location=lc.location, unit_price=lc.unit_price,
                              price_override=self._is_override(lc.item, lc.unit_price),
                              demand_class=lc.demand_class))
        policy = _policy(data.policy)
        now = utcnow()
        order = Order(order_id=order_id or f"SO-{uuid.uuid4().hex[:20]}", customer=data.customer, status=str(S.CAPTURED),
                      lines=lines, zone=zone, ship_to=data.ship_to.model_dump(exclude_none=True) if data.ship_to else None,
                      demand_class=data.demand_class, priority=data.priority, created_at=created_at or now, updated_at=now,
                      created_by=actor, policy=data.policy.model_dump() if data.policy else None)
        return order, policy

    def _capture(self, txn: Txn, data: OrderCreate, *, allow_past: bool = False, source: tuple[str, str] | None = None,
                 created_at: dt.datetime | None = None) -> Order:
        order, policy = self._new_order(data, allow_past=allow_past, actor=txn.actor, created_at=created_at)
        if source is not None:
            order.source_system, order.source_order_id = source
        txn.add(order)
        txn.audit(order, "capture", {"source_system": source[0], "source_order_id": source[1]} if source else None,
                  to_status=S.CAPTURED)
        for i, ln in enumerate(order.lines):
            self._locate(order, ln, policy, f"lines.{i}.location")
            txn.reserve(order, ln, ln.qty, policy)
        self._settle(txn, order, "promise", {"promised": {str(ln.line): ln.promised_qty for ln in order.lines}})
        return order

    def _get_for_write(self, txn: Txn, order_id: str) -> Order:
        o = self.orders.get(order_id)
        if o is None:
            raise NotFoundError(f"unknown order {order_id!r}")
        return txn.touch(o)

    def change(self, order_id: str, data: OrderChange, *, actor: str, idem: Idem | None = None,
               if_version: int | None = None) -> tuple[int, str, bool]:
        def run(txn: Txn) -> tuple[int, dict]:
            order = self._get_for_write(txn, order_id)
            if if_version is not None and order.version != if_version:
                raise ConflictError(f"order {order_id!r} is at version {order.version}, not {if_version}",
                                    hint="read the order again and re-apply the change")
            self._change(txn, order, data)
            self.metrics.inc("promessa_orders_changed_total")
            return 200, self.public(order)

        return self.execute(actor, idem, run)

    def _change(self, txn: Txn, order: Order, data: OrderChange) -> None:
        if S(order.status) not in lifecycle.CHANGEABLE:
            raise ConflictError(f"order {order.order_id!r} is {order.status} and can no longer be changed")
        s = self.settings
        policy = _policy(data.policy) if data.policy else _policy(order.policy)
        if data.policy:
            order.policy = data.policy.model_dump()
        affected: set[int] = set()
        new_zone = order.zone
        if data.zone is not None:
            self._check_zone(data.zone, "zone")
            new_zone = data.zone
        if data.ship_to is not None:
            self._check_zone(data.ship_to.zone, "ship_to.zone")
            order.ship_to = data.ship_to.model_dump(exclude_none=True)
            if data.ship_to.zone:
                new_zone = data.ship_to.zone
        detail: dict[str, Any] = {}
        if new_zone != order.zone:
            detail["zone"] = [order.zone, new_zone]
            order.zone = new_zone
            affected |= {ln.line for ln in order.lines if ln.requested_location is None and ln.shipped_qty <= EPS}
        removed = []
        for k, n in enumerate(data.remove_lines):
            ln = order.line(n)
            if ln is None:
                raise ValidationError("no such line", field=f"remove_lines.{k}", value=n)
            if ln.shipped_qty > EPS:
                raise ConflictError(f"line {n} has shipped {ln.shipped_qty:g} and cannot be removed",
                                    hint="reduce its qty to the shipped quantity instead")
            removed.append(ln)
        for i, lc in enumerate(data.lines):
            f = f"lines.{i}"
            if lc.line is None:
                if lc.item is None or lc.qty is None or lc.requested_date is None:
                    missing = next(x for x in ("item", "qty", "requested_date") if getattr(lc, x) is None)
                    raise ValidationError("required for a new line", field=f"{f}.{missing}", value=None)
                self._check_item(lc.item, f"{f}.item")
                self._check_location(lc.location, f"{f}.location")
                self._check_date(lc.requested_date, f"{f}.requested_date")
                self._check_class(lc.demand_class, f"{f}.demand_class")
                number = max((x.line for x in order.lines), default=0) + 1
                order.lines.append(Line(line=number, item=lc.item, qty=float(lc.qty), requested_date=lc.requested_date,
                                        requested_location=lc.location, unit_price=lc.unit_price,
                                        price_override=self._is_override(lc.item, lc.unit_price),
                                        demand_class=lc.demand_class))
                affected.add(number)
                continue
            ln = order.line(lc.line)
            if ln is None or ln in removed:
                raise ValidationError("no such line", field=f"{f}.line", value=lc.line)
            shipped = ln.shipped_qty > EPS
            if lc.item is not None and lc.item != ln.item:
                self._check_item(lc.item, f"{f}.item")
                if shipped:
                    raise ConflictError(f"line {ln.line} has shipped; its item cannot change", hint="add a new line")
                txn.unreserve_open(order, ln)
                ln.item = lc.item
                ln.price_override = self._is_override(ln.item, ln.unit_price)
            if lc.location is not None and lc.location != ln.location:
                self._check_location(lc.location, f"{f}.location")
                if shipped:
                    raise ConflictError(f"line {ln.line} has shipped from {ln.location}; its location cannot change",
                                        hint="add a new line")
                txn.unreserve_open(order, ln)
                ln.requested_location = lc.location
            if lc.qty is not None:
                if lc.qty < ln.shipped_qty - EPS:
                    raise ValidationError(f"below the quantity already shipped ({ln.shipped_qty:g})",
                                          field=f"{f}.qty", value=lc.qty)
                ln.qty = float(lc.qty)
            if lc.requested_date is not None:
                self._check_date(lc.requested_date, f"{f}.requested_date")
                ln.requested_date = lc.requested_date
            if lc.unit_price is not None:
                ln.unit_price = lc.unit_price
                ln.price_override = self._is_override(ln.item, lc.unit_price)
            if lc.demand_class is not None:
                self._check_class(lc.demand_class, f"{f}.demand_class")
                ln.demand_class = lc.demand_class
            affected.add(ln.line)
        if len(order.lines) > s.api.max_lines:
            raise ValidationError(f"too many lines (at most {s.api.max_lines})", field="lines", value=len(order.lines))
        if removed and len(removed) == len(order.lines):
            raise ValidationError("an order needs at least one line", field="remove_lines", value=data.remove_lines,
                                  hint="cancel the order instead")
        # compensation: give back the old reservations of what has not shipped, then promise again
        for ln in removed:
            txn.unreserve_open(order, ln)
            order.lines.remove(ln)
        for ln in order.lines:
            if ln.line not in affected:
                continue
            txn.unreserve_open(order, ln)
            if ln.open_qty > EPS:
                self._locate(order, ln, policy, f"lines.{ln.line}.location")
                txn.reserve(order, ln, ln.open_qty, policy)
            else:
                ln.promise = None
        detail.update({"lines": sorted(affected), "removed": [ln.line for ln in removed],
                       "promised": {str(ln.line): ln.promised_qty for ln in order.lines}})
        self._settle(txn, order, "change", detail)

    def cancel(self, order_id: str, *, actor: str, idem: Idem | None = None, note: str | None = None) -> tuple[int, str, bool]:
        def run(txn: Txn) -> tuple[int, dict]:
            order = self._get_for_write(txn, order_id)
            self._close(txn, order, "cancel", note)
            self.metrics.inc("promessa_orders_cancelled_total")
            return 200, self.public(order)

        return self.execute(actor, idem, run)

    def _close(self, txn: Txn, order: Order, action: str, note: str | None) -> None:
        """Cancel what has not shipped: release it; the order is cancelled, or shipped if some of it has."""
        st = S(order.status)
        shipped = any(ln.shipped_qty > EPS for ln in order.lines)
        dst = S.SHIPPED if shipped else S.CANCELLED
        if st not in lifecycle.OPEN:
            lifecycle.check_transition(st, S.CANCELLED, order_id=order.order_id, action=action)  # raises
        released = {}
        for ln in order.lines:
            released[str(ln.line)] = txn.unreserve_open(order, ln)
            if shipped:
                ln.qty = ln.shipped_qty
        order.hold_reasons = []
        txn.transition(order, dst, action, {"released": released, "note": note})

    def decide(self, order_id: str, *, approve: bool, actor: str, idem: Idem | None = None,
               note: str | None = None) -> tuple[int, str, bool]:
        def run(txn: Txn) -> tuple[int, dict]:
            order = self._get_for_write(txn, order_id)
            if S(order.status) is not S.ON_HOLD:
                raise ConflictError(f"order {order_id!r} is {order.status}, not on hold; there is nothing to "
                                    f"{'approve' if approve else 'reject'}")
            if approve:
                order.approval = {"by": txn.actor, "at": txn.now.isoformat(), "value": order.value(self._price),
                                  "prices": {str(ln.line): ln.unit_price for ln in order.lines if ln.price_override},
                                  "note": note}
                reasons, order.hold_reasons = order.hold_reasons, []
                txn.transition(order, self.fulfilment_status(order), "approve", {"note": note, "hold_reasons": reasons})
                self.metrics.inc("promessa_orders_approved_total")
            else:
                self._close(txn, order, "reject", note)
                self.metrics.inc("promessa_orders_rejected_total")
            return 200, self.public(order)

        return self.execute(actor, idem, run)

    def event(self, order_id: str, ev: FulfillmentEvent, *, actor: str, idem: Idem | None = None) -> tuple[int, str, bool]:
        def run(txn: Txn) -> tuple[int, dict]:
            order = self._get_for_write(txn, order_id)
            if ev.type == "shipped":
                self._ship(txn, order, ev)
            else:
                self._deliver(txn, order, ev)
            self.metrics.inc("promessa_fulfillment_events_total", labels={"type": ev.type})
            return 200, self.public(order)

        return self.execute(actor, idem, run)

    def _ship(self, txn: Txn, order: Order, ev: FulfillmentEvent) -> None:
        st = S(order.status)
        if st not in lifecycle.SHIPPABLE:
            lifecycle.check_transition(st, S.SHIPPED, order_id=order.order_id, action="ship")
            raise ConflictError(f"order {order.order_id!r} is {st} and cannot ship")
        at = self._event_time(ev, txn)
        # consumption is dated on the ship day (past days fall into bucket 0); a ship day past the
        # snapshot's horizon (a stale snapshot) leaves it on the schedule line's date
        ship_date = at.date() if at.date() <= self.snap.last_date else None
        wanted = ev.lines
        if wanted is None:
            wanted = [_EvLine(ln.line, sum(sl.open_qty for sl in ln.schedule), None) for ln in order.lines
                      if sum(sl.open_qty for sl in ln.schedule) > EPS]
            if not wanted:
                raise ConflictError(f"order {order.order_id!r} has no open scheduled quantity to ship")
        shipped = {}
        for i, el in enumerate(wanted):
            ln = order.line(el.line)
            if ln is None:
                raise ValidationError("no such line", field=f"lines.{i}.line", value=el.line)
            if el.location is not None and el.location != ln.location:
                raise ValidationError(f"line {ln.line} ships from {ln.location}", field=f"lines.{i}.location", value=el.location)
            avail = sum(sl.open_qty for sl in ln.schedule)
            if el.qty > avail + EPS:
                raise ConflictError(f"line {ln.line}: shipping {el.qty:g} exceeds the open scheduled quantity {avail:g}",
                                    hint="change the order first if more was shipped than promised")
            remaining = float(el.qty)
            for sl in sorted(ln.schedule, key=lambda x: x.date):
                if remaining <= EPS:
                    break
                take = min(remaining, sl.open_qty)
                if take > EPS:
                    txn.consume(order, ln, sl, take, ship_date)
                    remaining -= take
            ln.shipped_qty += float(el.qty)
            shipped[str(ln.line)] = float(el.qty)
        dst = self.fulfilment_status(order)
        txn.transition(order, dst, "ship", {"lines": shipped, "at": at.isoformat(), "reference": ev.reference})

    @staticmethod
    def _event_time(ev: FulfillmentEvent, txn: Txn) -> dt.datetime:
        at = ev.at or txn.now
        at = at.replace(tzinfo=dt.timezone.utc) if at.tzinfo is None else at.astimezone(dt.timezone.utc)
        if at > txn.now + dt.timedelta(days=1):
            raise ValidationError("an event cannot happen in the future", field="at", value=at.isoformat())
        return at

    def _deliver(self, txn: Txn, order: Order, ev: FulfillmentEvent) -> None:
        st = S(order.status)
        if st not in (S.PARTIALLY_SHIPPED, S.SHIPPED):
            lifecycle.check_transition(st, S.DELIVERED, order_id=order.order_id, action="deliver")
        wanted = ev.lines
        if wanted is None:
            wanted = [_EvLine(ln.line, ln.shipped_qty - ln.delivered_qty, None) for ln in order.lines
                      if ln.shipped_qty - ln.delivered_qty > EPS]
            if not wanted:
                raise ConflictError(f"order {order.order_id!r} has nothing shipped and not yet delivered")
        delivered = {}
        for i, el in enumerate(wanted):
            ln = order.line(el.line)
            if ln is None:
                raise ValidationError("no such line", field=f"lines.{i}.line", value=el.line)
            undelivered = ln.shipped_qty - ln.delivered_qty
            if el.qty > undelivered + EPS:
                raise ConflictError(f"line {ln.line}: delivering {el.qty:g} exceeds the shipped, undelivered quantity {undelivered:g}")
            ln.delivered_qty = min(ln.shipped_qty, ln.delivered_qty + float(el.qty))
            delivered[str(ln.line)] = float(el.qty)
        detail = {"lines": delivered, "at": self._event_time(ev, txn).isoformat(), "reference": ev.reference}
        if st is S.SHIPPED and all(ln.delivered_qty >= ln.qty - EPS for ln in order.lines):
            txn.transition(order, S.DELIVERED, "deliver", detail)
        else:
            txn.audit(order, "deliver", detail)

    # ------------------------------------------------------------------ bulk import
    def import_orders(self, source_system: str, rows: list[dict], *, actor: str,
                      idem: Idem | None = None) -> tuple[int, str, bool]:
        if len(rows) > self.settings.api.max_import_rows:
            raise ValidationError(f"too many rows (at most {self.settings.api.max_import_rows})", field="orders", value=len(rows))

        def run(txn: Txn) -> tuple[int, dict]:
            return 200, self._import(txn, source_system, rows)

        return self.execute(actor, idem, run)

    def _import(self, txn: Txn, source_system: str, rows: list[dict]) -> dict:
        results: list[dict] = [None] * len(rows)  # type: ignore[list-item]
        groups: dict[str, list[tuple[int, ImportRow]]] = {}
        bad_orders: set[str] = set()
        for i, raw in enumerate(rows):
            oid = raw.get("order") if isinstance(raw, dict) else None
            try:
                if not isinstance(raw, dict):
                    raise TypeError
                row = ImportRow.model_validate(raw)
            except (PydanticValidationError, TypeError) as exc:
                errs = ([{"loc": ["orders", i, *e["loc"]], "msg": e["msg"], "input": _jsonable_deep(e.get("input"))}
                         for e in exc.errors()] if isinstance(exc, PydanticValidationError)
                        else [{"loc": ["orders", i], "msg": "a row must be an object", "input": _jsonable(raw)}])
                results[i] = {"row": i, "order": str(oid) if oid is not None else None, "result": "error", "errors": errs}
                if oid is not None:
                    bad_orders.add(str(oid))
                continue
            groups.setdefault(row.order, []).append((i, row))
        created = dups = 0
        for oid, members in groups.items():
            def mark(result: str, *, order_id=None, status=None, errors_at: dict[int, list] | None = None,
                     members=members, oid=oid) -> None:
                for i, row in members:
                    errs = (errors_at or {}).get(i, [])
                    res = result
                    if result == "error" and not errs:
                        res = "rejected"
                        errs = [{"loc": ["orders", i], "msg": "another row of this order is invalid", "input": oid}]
                    results[i] = {"row": i, "order": oid, "line": row.line, "result": res, "order_id": order_id,
                                  "status": status, "errors": errs}

            if oid in bad_orders:
                mark("error")
                continue
            existing = self.store.import_key(source_system, oid) or next(
                (o for s_, so, o in txn.ws.import_keys if s_ == source_system and so == oid), None)
            if existing is not None:
                o = self.orders.get(existing)
                mark("duplicate", order_id=existing, status=o.status if o else None)
                dups += 1
                continue
            members.sort(key=lambda m: m[1].line)
            seen = set()
            dup_line = next((i for i, r in members if r.line in seen or seen.add(r.line)), None)
            if dup_line is not None:
                mark("error", errors_at={dup_line: [{"loc": ["orders", dup_line, "line"], "msg": "duplicate line number",
                                                     "input": members[[m[0] for m in members].index(dup_line)][1].line}]})
                continue
            first = members[0][1]
            customer = next((r.customer for _, r in members if r.customer), None)
            zone = next((r.zone for _, r in members if r.zone), None)
            if customer is None:
                mark("error", errors_at={members[0][0]: [{"loc": ["orders", members[0][0], "customer"],
                                                          "msg": "an order needs a customer", "input": None}]})
                continue
            sp = txn.savepoint()
            try:
                data = OrderCreate.model_construct(
                    customer=customer, zone=zone, ship_to=None, demand_class=first.demand_class, priority=first.priority,
                    policy=None,
                    lines=[LineCreate.model_construct(item=r.item, qty=r.qty, requested_date=r.requested_date,
                                                      location=r.location, unit_price=r.unit_price,
                                                      demand_class=r.demand_class) for _, r in members])
                order = self._capture(txn, data, allow_past=True, source=(source_system, oid), created_at=first.created_at)
                txn.ws.import_keys.append((source_system, oid, order.order_id))
            except ValidationError as exc:
                txn.rollback_to(sp)
                at, field = _row_of(exc.field, members)
                msg = exc.message.removeprefix(f"{exc.field}={exc.value!r}: ")
                mark("error", errors_at={at: [{"loc": ["orders", at, *field], "msg": msg, "input": _jsonable(exc.value)}]})
                continue
            except PromessaError as exc:
                txn.rollback_to(sp)
                mark("error", errors_at={members[0][0]: [{"loc": ["orders", members[0][0]], "msg": str(exc), "input": oid}]})
                continue
            mark("created", order_id=order.order_id, status=order.status)
            created += 1
        self.metrics.inc("promessa_import_rows_total", len(rows))
        errors = sum(1 for r in results if r["result"] in ("error", "rejected"))
        return {"source_system": source_system, "rows": len(rows), "created": created, "duplicates": dups,
                "errors": errors, "results": results}


@dataclasses.dataclass
class _EvLine:
    line: int
    qty: float
    location: str | None


def _scaled(d: Draw, qty: float) -> Draw:
    """The same draw for `qty` units (allocation pools scaled in proportion)."""
    f = qty / d.qty if d.qty > 0 else 0.0
    return dataclasses.replace(d, qty=qty, pools=tuple((p, q * f) for p, q in d.pools))


def _row_of(field: str, members: list[tuple[int, ImportRow]]) -> tuple[int, list]:
    """Map a capture field path (lines.K.item) back to the import row and its column."""
    parts = field.split(".")
    if len(parts) >= 3 and parts[0] == "lines" and parts[1].isdigit() and int(parts[1]) < len(members):
        return members[int(parts[1])][0], parts[2:]
    return members[0][0], parts


def _refresh_versions(public: Any, orders: dict[str, Order]) -> Any:
    if isinstance(public, dict) and "order_id" in public and "version" in public:
        o = orders.get(public["order_id"])
        if o is not None:
            public["version"] = o.version
            public["updated_at"] = o.updated_at.isoformat()
    return public


def _jsonable_deep(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable_deep(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable_deep(x) for x in v]
    return _jsonable(v)


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return repr(v)
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    try:
        json.dumps(v)
        return v
    except (TypeError, ValueError):
        return repr(v)
