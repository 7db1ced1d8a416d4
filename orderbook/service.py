"""The order book service: one facade over the order book's modules.

`OrderService` holds the in-memory book (orders, the commitment state of the served pair, the
journal sequence) and runs every write as one atomic step (:meth:`OrderService.execute`):

One lock makes *validate + promise + commit* one atomic step: a request takes the lock and
changes the in-memory orders, commitment state and supply inside a :class:`~orderbook.txn.Txn`
(which keeps an undo log). What it changed is then written to the order book - by the
:class:`~orderbook.committer.GroupCommitter`, many requests per transaction, in the order they
were made - and only then is the answer returned. If a write fails, the undo logs put memory
back as it was (newest first), so memory never keeps a commitment the order book does not have.

The commands (`orderbook.commands`, the one writer of orders) and the queries
(`orderbook.queries`, read models) are its two halves; start-up and refresh replay live in
`orderbook.replay`. See orderbook/README.md.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from orderbook import replay
from orderbook.commands import OrderCommands, ReschedulePlan
from orderbook.commerce import Commerce
from orderbook.committer import GroupCommitter, Pending
from orderbook.configured import ConfiguredLines
from orderbook.masterdata import MasterDataCommands
from orderbook.metrics import Metrics
from orderbook.queries import OrderQueries
from orderbook.records import Order, OrderMap, StockReservation, WriteSet, utcnow
from orderbook.reservations import ExpirySweeper, ReservationCommands
from orderbook.store import OrderStore
from orderbook.txn import Idem, StoreUnavailable, Txn
from promessa import jsonenc
from promessa.config import Settings
from promessa.errors import ConflictError, PromessaError
from sourcing.choosers import LocationChooser, get_location_chooser, zones
from supplydata import Snapshot, State

__all__ = ["Idem", "OrderService", "ReschedulePlan", "StoreUnavailable", "Txn"]

log = logging.getLogger("promessa.orderbook")


class OrderService(OrderCommands, ReservationCommands, MasterDataCommands, OrderQueries):
    """Orders in memory, commitments in a promising `State`, everything durable in `store`.

    Parameters
    ----------
    snap : the supply snapshot served until `attach_live()` hands serving to the live pair.
    store : the durable order book (`orderbook.store.open_store`).
    settings : the configuration (default ``Settings()``).
    chooser : picks the ship-from node of lines that name none (default: the zone chooser).
    metrics : the registry the service records into.
    planner : ``planner(service, config, *, progress) -> ReschedulePlan``, used by
        `apply_reschedule` when it is given a configuration (the composition root wires
        `scenarios.service.plan`).
    commerce : the price book, customer master and screening lists from files
        (`orderbook.commerce.Commerce`; the composition root builds it from ``settings.pricing``);
        default: catalogue prices only, no customer master, no screening. What was posted through
        the API (customers, pricing records, catalogue changes) is replayed on top of it.
    configured : checks, prices and commits configured order lines (`orderbook.configured.ConfiguredLines`;
        the composition root wires the configurator's `configurator.capture.ConfiguredCapture`); None:
        configured lines are refused. Replay needs none: their draws are journalled like any line's.
    wallclock : ``wallclock() -> datetime`` (UTC), the operational clock temporary reservations expire on
        (default: `orderbook.records.utcnow`; tests inject a clock they move).

    Opening it rebuilds orders, commitments and supply deltas from the store (`replay.rebuild`).
    """

    def __init__(self, snap: Snapshot, store: OrderStore, settings: Settings | None = None, *,
                 chooser: LocationChooser | None = None, metrics: Metrics | None = None,
                 planner: Callable[..., ReschedulePlan] | None = None, commerce: Commerce | None = None,
                 configured: ConfiguredLines | None = None, wallclock: Callable[[], dt.datetime] | None = None) -> None:
        self.snap = snap
        self.configured = configured
        self.planner = planner
        self.store = store
        self.settings = settings or Settings()
        self.commerce = commerce or Commerce(self.settings)
        self._chooser = chooser
        self.metrics = metrics or Metrics()
        self.lock = threading.RLock()
        self.live = None  # a supplydata.live.LiveSupply once attach_live() is called
        self.orders: OrderMap = OrderMap()
        self.reservations: dict[str, StockReservation] = {}  # temporary holds (orderbook.reservations)
        self.wallclock: Callable[[], dt.datetime] = wallclock or utcnow
        self.expiry: ExpirySweeper | None = None  # started by start_expiry()
        self.state = snap.new_state()
        self.seq = 0
        self.replay_exceptions: list[str] = []
        self._pending_idem: dict[str, Pending] = {}
        self._zones_for: Snapshot | None = None
        self.rebuild()
        if self.settings.store.idempotency_ttl_days is not None:
            n = store.purge_idempotency(utcnow() - dt.timedelta(days=self.settings.store.idempotency_ttl_days))
            if n:
                log.info("forgot %d idempotency keys older than %g days", n, self.settings.store.idempotency_ttl_days)
        self.committer = GroupCommitter(self) if self.settings.store.group_commit else None
        self.events = None  # an orderbook.events.EventDispatcher once start_events() is called

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
        """Every zone the served snapshot knows."""
        snap = self.snap
        if self._zones_for is not snap:
            self._zones, self._zones_for = zones(snap), snap
            dc = snap.tables.get("demand_classes")
            self._classes = frozenset(dc["demand_class"].to_list()) if dc is not None and dc.height else None
        return self._zones

    @property
    def demand_classes(self) -> frozenset[str] | None:
        """The demand classes the served snapshot defines (None: it defines none; any class passes)."""
        self.zones  # noqa: B018 - refreshes both caches for the current snapshot
        return self._classes

    def attach_live(self):
        """Serve from a `supplydata.live.LiveSupply` (zero-downtime refresh): it shares this
        service's lock, replays commitments and supply deltas with :meth:`replay_into`, retires
        the deltas a new extract carries, and writes deltas posted to it through
        :meth:`apply_supply_deltas` (durable). Returns it."""
        from supplydata.live import LiveSupply

        with self.lock:
            live = LiveSupply(self._snap, self._state, replay=self.replay_into, seq_now=lambda: self.seq)
            live.write_lock = self.lock
            live.retire = lambda snap, through: replay.retire_carried(self, snap, through)
            live.delta_writer = self._live_deltas
            self.live = live
        return live

    def _live_deltas(self, deltas: list, idempotency: tuple[str, str] | None) -> dict:
        """`LiveSupply.apply_deltas` of an attached pair: written through the order book."""
        idem = Idem(*idempotency) if idempotency is not None else None
        _status, body, replayed = self.apply_supply_deltas(deltas, actor="supply", idem=idem)
        return {**json.loads(body), "replayed": replayed}

    @property
    def chooser(self) -> LocationChooser:
        """The location chooser in use."""
        return self._chooser or get_location_chooser()

    # ------------------------------------------------------------------ start-up and refresh
    def rebuild(self) -> None:
        """Rebuild orders, commitments and supply deltas exactly from the order book (`replay.rebuild`), then the
        customers, pricing records and catalogue changes posted through the API (over the files')."""
        replay.rebuild(self)
        with self.lock:
            problems = self.commerce.replay(self.store.pricing_records(), (e.customer for e in self.store.customers()),
                                            self.store.catalogue_changes(0))
        for p in problems:
            log.warning("replay: %s", p)
        self.replay_exceptions = [*self.replay_exceptions, *problems]

    def replay_into(self, snap: Snapshot, state: State, after_seq: int | None):
        """Replay commitments and supply deltas onto a new pair (`replay.replay_into`; a `supplydata.live.Replayer`)."""
        return replay.replay_into(self, snap, state, after_seq)

    # ------------------------------------------------------------------ the atomic step
    def execute(self, actor: str, idem: Idem | None, fn: Callable[[Txn], tuple[int, Any]]) -> tuple[int, str, bool]:
        """Run `fn` under the lock and write what it changed durably; returns (status, body, replayed).

        The answer is returned only once the order book has committed the change. With group
        commit (the default) the write leaves the lock: one committer thread writes the changes
        of many requests in one transaction, in the order they were made; if that transaction
        fails, every change not yet written is undone in memory, newest first, and each of those
        requests gets StoreUnavailable.

        With an idempotency key: the same key and request answer what was stored (or wait for
        the same request still being written); the same key with another request is a conflict.

        `fn(txn)` returns (status, body): a dict, or the `Order` itself (its body is then its stored document as
        clients see it, carrying its id and version in ``Body.ref``)."""
        ticket = self._submit(actor, idem, fn, blocking=True)
        assert ticket is not None
        if ticket.target is not None:
            try:
                ticket.target.future.result(timeout=self.settings.store.write_timeout_s)
            except concurrent.futures.TimeoutError:
                ticket.timed_out = True
        return self._conclude(ticket)

    async def execute_async(self, actor: str, idem: Idem | None, fn: Callable[[Txn], tuple[int, Any]]) -> tuple[int, str, bool]:
        """`execute` for an event loop: `fn` runs in the calling (loop) thread when the lock is free, and the
        durable write is awaited without holding a thread; when the lock is busy (a long write such as a
        reschedule apply holds it) the whole step runs in a worker thread instead, so the loop never blocks on it."""
        ticket = self._submit(actor, idem, fn, blocking=False)
        if ticket is None:
            return await asyncio.to_thread(self.execute, actor, idem, fn)
        if ticket.target is not None:
            waiter = asyncio.wrap_future(ticket.target.future)
            try:
                done, _ = await asyncio.wait([waiter], timeout=self.settings.store.write_timeout_s)
            except BaseException:  # cancelled (the client went away): forget the key once the write ends
                ticket.target.future.add_done_callback(lambda _f: self._forget_pending(ticket))
                raise
            ticket.timed_out = not done
        return self._conclude(ticket)

    def execute_many(self, actor: str, steps: Sequence[tuple[Idem | None, Callable[[Txn], tuple[int, Any]]]]
                     ) -> list[tuple[int, str, bool] | PromessaError]:
        """Run many writes as `execute` runs one, in one hold of the lock, and answer once every one is durable.

        Each step is on its own: its idempotency key (the keys stored already are read in one query), its own
        `Txn` (a step that raises a `PromessaError` is undone alone and that error is its answer; the steps
        before and after it are unaffected) and its own answer. The write sets of all the steps are queued to
        the group committer together, in order (a few transactions, usually one), and nothing is answered before
        all of them are committed. Returns one entry per step, in order: ``(status, body, replayed)``, or the
        error that refused it (`StoreUnavailable` when its write failed or was not confirmed in time). Any other
        exception is raised once the steps before it are durable."""
        tickets: list[_Ticket | PromessaError] = []
        queued: list[Pending] = []
        failure: BaseException | None = None
        with self.lock:
            keys = list(dict.fromkeys(i.key for i, _ in steps if i is not None))
            # keys in flight now, then the stored ones: a key not in flight is either stored already or cannot start
            # before the lock is released (reading the store first could miss one written and forgotten in between)
            in_flight = {k: p for k in keys if (p := self._pending_idem.get(k)) is not None}
            stored = self.store.idempotency_many([k for k in keys if k not in in_flight])
            try:
                for idem, fn in steps:
                    try:
                        tickets.append(self._submit_locked(actor, idem, fn, in_flight=in_flight, stored=stored,
                                                           queue=queued))
                    except PromessaError as exc:
                        tickets.append(exc)
            except BaseException as exc:  # noqa: BLE001 - a bug in one step: answer the others (durable), then raise
                failure = exc
            finally:
                if queued:
                    try:
                        self.committer.submit_many(queued)
                    except StoreUnavailable as exc:  # shutting down: nothing of the batch is written
                        for p in reversed(queued):
                            p.txn.rollback()
                            if p.idem is not None and self._pending_idem.get(p.idem.key) is p:
                                self._pending_idem.pop(p.idem.key, None)
                            p.future.set_exception(exc)
        deadline = time.monotonic() + self.settings.store.write_timeout_s
        out: list[tuple[int, str, bool] | PromessaError] = []
        for t in tickets:
            if isinstance(t, PromessaError):
                out.append(t)
                continue
            if t.target is not None:
                try:
                    t.target.future.result(timeout=max(0.0, deadline - time.monotonic()))
                except concurrent.futures.TimeoutError:
                    t.timed_out = True
                except Exception:  # noqa: BLE001 - its write failed: _conclude says so
                    pass
            try:
                out.append(self._conclude(t))
            except PromessaError as exc:
                out.append(exc)
        if failure is not None:
            raise failure
        return out

    def _submit(self, actor: str, idem: Idem | None, fn: Callable[[Txn], tuple[int, Any]], *,
                blocking: bool) -> _Ticket | None:
        """The first half of a write, under the lock: idempotency, `fn`, the body, the write queued (or done).
        None when `blocking` is False and the lock is busy."""
        if not self.lock.acquire(blocking):
            return None
        try:
            return self._submit_locked(actor, idem, fn)
        finally:
            self.lock.release()

    def _submit_locked(self, actor: str, idem: Idem | None, fn: Callable[[Txn], tuple[int, Any]], *,
                       in_flight: dict[str, Pending] | None = None, stored: dict[str, tuple[str, int, str]] | None = None,
                       queue: list[Pending] | None = None) -> _Ticket:
        """`_submit` with the lock held. `in_flight` and `stored`: the keys in flight and stored read for a batch
        (`execute_many`; else the store is asked for this key); `queue`: collect the write for the batch to queue
        (else it is queued to the committer at once)."""
        if idem is not None:
            wait_for = self._pending_idem.get(idem.key) or (in_flight.get(idem.key) if in_flight else None)
            if wait_for is not None:
                if wait_for.idem.request_hash != idem.request_hash:
                    raise ConflictError(f"Idempotency-Key {idem.key!r} was used with another request",
                                        hint="use a new key for a new request")
                return _Ticket(idem, wait_for, replay=True)
            found = self.store.idempotency(idem.key) if stored is None else stored.get(idem.key)
            if found is not None:
                if found[0] != idem.request_hash:
                    raise ConflictError(f"Idempotency-Key {idem.key!r} was used with another request",
                                        hint="use a new key for a new request")
                self.metrics.inc("promessa_idempotent_replays_total")
                return _Ticket(idem, None, answer=(found[1], found[2], True))
        txn = Txn(self, actor)
        try:
            status, public = fn(txn)
            txn.finish()
            docs = {o.order_id: o.to_dict() for o in txn.ws.orders}  # encoded once: stored and answered
            if isinstance(public, Order):  # an order's body: its stored document, as clients see it
                body = Body(jsonenc.dumps(self.public(public, doc=docs.get(public.order_id))),
                            (public.order_id, public.version))
            else:
                if txn.ws.orders:  # bodies name the version the write gives the order
                    public = _refresh_versions(public, self.orders)
                body = jsonenc.dumps(public)
            if idem is not None:
                txn.ws.idempotency.append((idem.key, idem.request_hash, status, body))
            if self.committer is None:
                self._write_now(txn.ws)
                if self.events is not None:
                    self.events.notify()
                if idem is not None and stored is not None:  # a later step of the batch with this key replays it
                    stored[idem.key] = (idem.request_hash, status, body)
                return _Ticket(idem, None, answer=(status, body, False))
            pending = Pending(txn, self.store.prepare(txn.ws, docs=docs), concurrent.futures.Future(), idem, status,
                              body, time.perf_counter())
            if queue is not None:
                queue.append(pending)
            else:
                self.committer.submit(pending)
        except BaseException:
            txn.rollback()
            raise
        if idem is not None:
            self._pending_idem[idem.key] = pending
        return _Ticket(idem, pending)

    def _forget_pending(self, ticket: _Ticket) -> None:
        if not ticket.replay and ticket.idem is not None and self._pending_idem.get(ticket.idem.key) is ticket.target:
            self._pending_idem.pop(ticket.idem.key, None)

    def _conclude(self, ticket: _Ticket) -> tuple[int, str, bool]:
        """The second half, once the write is durable (or timed out): the answer, or StoreUnavailable."""
        if ticket.answer is not None:
            return ticket.answer
        target = ticket.target
        assert target is not None
        self._forget_pending(ticket)
        if ticket.timed_out:
            raise StoreUnavailable("the order book did not confirm the write in time",
                                   hint="retry with the same Idempotency-Key to learn the outcome")
        target.future.result(timeout=0)  # the write's outcome: raises StoreUnavailable when it failed
        if ticket.replay:
            self.metrics.inc("promessa_idempotent_replays_total")
        elif self.events is not None:
            self.events.notify()  # durable now: its order events may go out
        return target.status, target.body, ticket.replay

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

    def _write_failed(self, batch: list[Pending], exc: BaseException) -> None:
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

    def start_events(self, consumers, *, poll_s: float = 0.5):
        """Start handing order events to `consumers` (``orderbook.events.Consumer``s), each from its durable
        cursor: returns once all of them caught up with the audit trail; returns the EventDispatcher."""
        from orderbook.events import EventDispatcher

        self.events = EventDispatcher(self.store, consumers, poll_s=poll_s).start()
        return self.events

    def start_expiry(self, *, interval_s: float | None = None) -> ExpirySweeper:
        """Release the reservations that expired (now, before returning), then start the scheduler that releases
        each one as it expires (`orderbook.reservations.ExpirySweeper`); returns it."""
        self.expire_due()
        self.expiry = ExpirySweeper(self, interval_s=interval_s or self.settings.reservations.sweep_interval_s).start()
        return self.expiry

    def close(self) -> None:
        """Stop the expiry scheduler, write what is queued, then stop the committer and the event dispatcher
        (the store stays open)."""
        if self.expiry is not None:
            self.expiry.stop()
            self.expiry = None
        if self.committer is not None:
            self.committer.stop()
        if self.events is not None:
            self.events.stop()



@dataclasses.dataclass(eq=False)
class _Ticket:
    """A write between its two halves (`OrderService._submit` and `_conclude`): the answer already known (an
    idempotent replay from the store, or a write done in place), or the pending write to wait for (``replay``:
    another request's with the same key)."""

    idem: Idem | None
    target: Pending | None
    answer: tuple[int, str, bool] | None = None
    replay: bool = False
    timed_out: bool = False


class Body(str):
    """An answer's JSON body; ``ref`` is (order_id, version) when it is an order's, so the API can give its
    ``ETag`` and ``Location`` without parsing the body again."""

    ref: tuple[str, int] | None = None

    def __new__(cls, text: str, ref: tuple[str, int] | None = None) -> Body:
        b = super().__new__(cls, text)
        b.ref = ref
        return b


def _refresh_versions(public: Any, orders: dict[str, Order]) -> Any:
    if isinstance(public, dict) and "order_id" in public and "version" in public:
        o = orders.get(public["order_id"])
        if o is not None:
            public["version"] = o.version
            public["updated_at"] = o.updated_at.isoformat()
    return public
