"""Order events: a typed stream read from the durable audit trail, and consumers with durable cursors.

The audit trail is written in the same transaction as every order change (``orderbook.txn``,
``store.OrderStore.write``), so it is a transactional outbox: an event exists exactly when its
change is durable. Each audit entry has a monotonically increasing id (one writer connection
commits in order, so ids become visible in increasing order); :func:`read_events` turns the
entries after an id into :class:`OrderEvent` records.

A :class:`Consumer` has a name and a ``handle(event)``. The :class:`EventDispatcher` keeps one
cursor per consumer in the order book (table ``event_cursors``), hands each consumer the events
after its cursor, in id order, and writes the cursors of all consumers in one durable transaction
per round, with the records each consumer asked to keep there (``handle`` returns them; the newest
of each record counts). On the dispatcher's thread a cursor whose events kept no records is
written lazily (after ``cursor_lag_s`` or ``batch`` events): one durable write per event and
consumer would serialize every capture with the consumers on the store's one writer. Delivery is
therefore at least once: a consumer that crashes (or a process killed by ``kill -9``) between its
effects and the cursor write is given those events again on restart, so effects kept elsewhere must be
idempotent by event (an invoice per shipment id, a channel event id, a payment operation key);
effects kept through ``handle``'s records are exactly once. The dispatcher catches up at start
(:meth:`EventDispatcher.start` returns once every consumer is at the end of the trail), then runs
on a thread woken by :meth:`EventDispatcher.notify` (the service calls it after each durable
write) or every ``poll_s``.

Also here: :func:`record_return`, the order-book write of a return receipt (an audit entry
``return`` with the returned lines, and the receipt's supply delta when the goods are sellable),
the source of ``returned`` events.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from orderbook.records import DeltaEntry
from orderbook.txn import Idem, Txn
from promessa.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from orderbook.service import OrderService
    from orderbook.store import OrderStore

log = logging.getLogger("promessa.orderbook.events")


class EventKind(StrEnum):
    """What happened to an order (one kind per audit action)."""

    CAPTURED = "captured"
    PROMISED = "promised"
    CHANGED = "changed"
    APPROVED = "approved"
    CANCELLED = "cancelled"      # cancel, or reject of an order on hold (what had not shipped)
    RESCHEDULED = "rescheduled"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    RETURNED = "returned"
    RESERVATION = "reservation"  # a temporary reservation was created, extended, released, expired or converted
    OTHER = "other"


#: audit action -> event kind
ACTIONS: dict[str, EventKind] = {
    "capture": EventKind.CAPTURED, "promise": EventKind.PROMISED, "change": EventKind.CHANGED,
    "approve": EventKind.APPROVED, "cancel": EventKind.CANCELLED, "reject": EventKind.CANCELLED,
    "reschedule": EventKind.RESCHEDULED, "ship": EventKind.SHIPPED, "deliver": EventKind.DELIVERED,
    "return": EventKind.RETURNED,
    # temporary reservations (orderbook.reservations): the event's order_id is the reservation's id
    "reservation.create": EventKind.RESERVATION, "reservation.extend": EventKind.RESERVATION,
    "reservation.release": EventKind.RESERVATION, "reservation.expire": EventKind.RESERVATION,
    "reservation.convert": EventKind.RESERVATION,
}


@dataclasses.dataclass(frozen=True, slots=True)
class OrderEvent:
    """One order event, as durable as the change it records.

    ``id`` is the audit entry's id (increasing); ``lines`` maps line numbers to quantities for
    shipped, delivered and returned events (empty otherwise); ``at`` is when it happened (the
    event's own time for fulfilment events, else when it was recorded); ``detail`` is the audit
    entry's detail as stored."""

    id: int
    order_id: str
    kind: EventKind
    action: str
    at: dt.datetime
    actor: str
    from_status: str | None
    to_status: str | None
    lines: dict[int, float]
    detail: dict[str, Any]

    @property
    def ref(self) -> str:
        """A stable id of this event for downstream idempotency keys (``<order>/E<id>``)."""
        return f"{self.order_id}/E{self.id}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (API, logs)."""
        return {"id": self.id, "order_id": self.order_id, "kind": str(self.kind), "action": self.action,
                "at": self.at.isoformat(), "actor": self.actor, "from_status": self.from_status, "to_status": self.to_status,
                "lines": {str(k): v for k, v in self.lines.items()}, "detail": self.detail}


def event_of(row: tuple) -> OrderEvent:
    """An :class:`OrderEvent` from an audit row ``(id, order_id, at, actor, action, from, to, detail dict)``."""
    aid, oid, at, actor, action, frm, to, detail = row
    detail = detail or {}
    kind = ACTIONS.get(action, EventKind.OTHER)
    lines: dict[int, float] = {}
    if kind in (EventKind.SHIPPED, EventKind.DELIVERED, EventKind.RETURNED):
        lines = {int(k): float(v) for k, v in (detail.get("lines") or {}).items()}
    when = detail.get("at") if kind in (EventKind.SHIPPED, EventKind.DELIVERED, EventKind.RETURNED) else None
    stamp = dt.datetime.fromisoformat(when or at)
    return OrderEvent(int(aid), oid, kind, action, stamp, actor, frm, to, lines, detail)


def read_events(store: OrderStore, after: int = 0, *, limit: int = 500, order_id: str | None = None) -> list[OrderEvent]:
    """The events after audit id `after` (of one order, if given), oldest first, at most `limit`.

    The trail's recent events are kept decoded beside the store (:class:`_Trail`), so the consumers that follow
    it (order to cash, the processes), each from its own cursor, read and decode each event once between them."""
    if order_id is not None:
        return [event_of(r) for r in store.audit_rows(after, limit=limit, order_id=order_id)]
    trail = store.__dict__.get("_event_trail")
    if trail is None:
        trail = store.__dict__.setdefault("_event_trail", _Trail())
    return trail.read(store, int(after), int(limit))


class _Trail:
    """The most recent events of the audit trail, decoded, without a gap: every event with an id in (lo, hi] is in
    ``events``. An entry never changes once written and ids become visible in increasing order (one writer
    connection commits in order), so what was read once is kept as it is and only what follows ``hi`` is read."""

    def __init__(self, keep: int = 4096) -> None:
        self.keep = keep
        self.lo = self.hi = -1
        self.events: list[OrderEvent] = []
        self.lock = threading.Lock()

    def read(self, store: OrderStore, after: int, limit: int) -> list[OrderEvent]:
        with self.lock:
            if not (self.lo <= after <= self.hi):  # outside what is kept: start again from `after`
                self.lo = self.hi = after
                self.events = []
            k = bisect.bisect_right(self.events, after, key=_event_id)
            out = self.events[k:k + limit]
            if len(out) < limit:
                more = [event_of(r) for r in store.audit_rows(self.hi, limit=limit - len(out))]
                if more:
                    self.events.extend(more)
                    self.hi = more[-1].id
                    out.extend(more)
                if len(self.events) > self.keep:
                    drop = len(self.events) - self.keep
                    self.lo = self.events[drop - 1].id
                    del self.events[:drop]
            return out


def _event_id(ev: OrderEvent) -> int:
    return ev.id


class Consumer(Protocol):
    """An event consumer: a stable ``name`` (its cursor's key) and ``handle``.

    ``handle(event)`` applies the event; it returns records to keep in the order book with the
    cursor advance (``[(kind, key, json-able doc), ...]``, see ``OrderStore.put_records``) or
    None. Raising leaves the cursor where it was: the event is handed over again later."""

    name: str

    def handle(self, event: OrderEvent) -> Sequence[tuple[str, str, Any]] | None: ...


@dataclasses.dataclass
class ConsumerStatus:
    """Where a consumer stands: its cursor, how far behind the trail it is, and its last failure."""

    name: str
    cursor: int
    lag: int
    handled: int = 0
    failures: int = 0
    last_error: str | None = None


@dataclasses.dataclass
class _Held:
    """What a consumer handled since its cursor was last written: how many events, since when, the records to keep."""

    count: int = 0
    since: float = dataclasses.field(default_factory=time.monotonic)
    records: dict[tuple[str, str], Any] = dataclasses.field(default_factory=dict)


class EventDispatcher:
    """Hands each consumer the order events after its durable cursor (see the module docstring).

    Parameters
    ----------
    store : the order book (audit trail and cursors).
    consumers : the consumers, run in this order for each batch; names must be unique.
    poll_s : how often the thread looks for events when nobody calls :meth:`notify`.
    batch : most events read per consumer per round.
    retry_s : how long a consumer that failed waits before it is given the same event again.
    cursor_lag_s : on the thread, how long the durable cursor of a consumer that kept no records may lag
        the events it handled (at most ``batch`` events); calls of :meth:`run_once` and :meth:`stop` write
        every cursor.
    """

    def __init__(self, store: OrderStore, consumers: Sequence[Consumer], *, poll_s: float = 0.5, batch: int = 500,
                 retry_s: float = 1.0, cursor_lag_s: float = 1.0) -> None:
        names = [c.name for c in consumers]
        if len(set(names)) != len(names):
            raise ValidationError("consumer names must be unique", field="consumers", value=names)
        self.store = store
        self.consumers = list(consumers)
        self.poll_s = poll_s
        self.batch = batch
        self.retry_s = retry_s
        self.cursor_lag_s = cursor_lag_s
        self._held: dict[str, _Held] = {}  # per consumer: handled since its cursor was last written
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._run_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._status = {c.name: ConsumerStatus(c.name, store.event_cursor(c.name), 0) for c in consumers}
        self._retry_at: dict[str, float] = {}

    # ---- life
    def start(self) -> EventDispatcher:
        """Catch every consumer up with the trail (synchronously), then keep dispatching on a thread."""
        self.run_once(until_idle=True)
        self._thread = threading.Thread(target=self._loop, name="order-events", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread after the event in hand and write every cursor (the rest is handed over at the next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._run_lock:
            try:
                self._flush(lazy=False)
            except Exception:  # noqa: BLE001 - the store may be gone: those events are handed over again at start
                log.exception("order event cursors could not be written at stop")

    def notify(self) -> None:
        """Something was written: look for new events now."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(min(self.poll_s, self.cursor_lag_s))
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.run_once(until_idle=True, lazy=True)
            except Exception:  # noqa: BLE001 - the store may be briefly unavailable: try again next round
                log.exception("order event dispatch failed; retrying")

    # ---- work
    def run_once(self, *, until_idle: bool = False, lazy: bool = False) -> int:
        """Hand each consumer the events after its cursor (one batch each, or until none is left when
        `until_idle`), then write the cursors (every one, or when `lazy` only those due: see :meth:`_flush`);
        returns how many events were handled."""
        total = 0
        with self._run_lock:
            try:
                while True:
                    n = 0
                    for c in self.consumers:
                        if self._stop.is_set() and self._thread is not None:
                            return total
                        n += self._feed(c)
                    total += n
                    self._flush(lazy=lazy)  # each pass: records kept by a consumer are written before the next batch
                    if not until_idle or n == 0:
                        return total
            finally:
                self._flush(lazy=lazy)

    def _feed(self, c: Consumer) -> int:
        st = self._status[c.name]
        if time.monotonic() < self._retry_at.get(c.name, 0.0):
            return 0
        events = read_events(self.store, st.cursor, limit=self.batch)
        done = 0
        held = self._held.setdefault(c.name, _Held())
        for ev in events:
            try:
                records = c.handle(ev) or ()
            except Exception as exc:  # noqa: BLE001 - the cursor stays; the event is handed over again later
                st.failures += 1
                st.last_error = f"event {ev.id} ({ev.kind} of {ev.order_id}): {type(exc).__name__}: {exc}"
                self._retry_at[c.name] = time.monotonic() + self.retry_s
                log.warning("consumer %s failed on %s", c.name, st.last_error)
                break
            for kind, key, doc in records:
                held.records[(kind, key)] = doc
            held.count += 1
            st.cursor = ev.id
            st.handled += 1
            done += 1
        if done == len(events):
            st.last_error = None
        return done

    def _flush(self, *, lazy: bool) -> None:
        """Write the cursors (and the records kept with them) of the events handled since the last write, every
        consumer in one durable transaction. `lazy`: only the consumers that have records to keep, or whose cursor
        lags its durable position by ``batch`` events or by ``cursor_lag_s`` seconds (events whose handling kept
        nothing are handed over again after a crash, as at-least-once delivery allows)."""
        now = time.monotonic()
        due = [name for name, h in self._held.items() if h.count and (
            not lazy or h.records or h.count >= self.batch or now - h.since >= self.cursor_lag_s)]
        if not due:
            return
        records = [(k, key, doc) for name in due for (k, key), doc in self._held[name].records.items()]
        self.store.put_records(records, cursors=[(name, self._status[name].cursor) for name in due])
        for name in due:
            self._held[name] = _Held()

    # ---- reads
    def status(self) -> list[ConsumerStatus]:
        """Each consumer's cursor, lag behind the last audit id, handled and failed counts, last error."""
        last = self.store.max_audit_id()
        out = []
        for c in self.consumers:
            st = self._status[c.name]
            out.append(dataclasses.replace(st, lag=max(0, last - st.cursor)))
        return out

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every consumer has reached the last audit id written now (tests, shutdown); True if so."""
        target = self.store.max_audit_id()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._status[c.name].cursor >= target for c in self.consumers):
                return True
            self.notify()
            time.sleep(0.01)
        return False


# ---------------------------------------------------------------------- the return receipt, written by the order book

def record_return(service: OrderService, order_id: str, *, receipt: str, rma: str, lines: dict[int, float],
                  location: str, date: dt.date, condition: str, supply: Any | None, actor: str,
                  idem: Idem | None = None, extra: dict[str, Any] | None = None) -> tuple[int, str, bool]:
    """Record that goods of `order_id` came back: one audit entry ``return`` (the ``returned`` event)
    and, for sellable goods, the receipt's supply delta (`supply`: an object with item, location,
    date, qty, kind, ref such as ``supplydata.live.SupplyDelta``), in one durable transaction.

    Parameters
    ----------
    service : the order service (the write runs in its ``execute``: under its lock, durable before it returns).
    order_id : the order the goods belong to (NotFoundError if unknown).
    receipt, rma : the receipt id and its return authorization (in the event's detail).
    lines : line number -> quantity returned (each line must exist and have shipped at least that much).
    location, date, condition : where, on which business day and in what state the goods came back.
    supply : the supply delta to apply (None: non-sellable goods, no supply).
    actor, idem : who acts and the request's idempotency key.
    extra : more detail for the event (e.g. the invoice credited).

    Returns
    -------
    (200, body, replayed): body ``{"order_id", "receipt", "journal_seq"}``.
    """
    def run(txn: Txn) -> tuple[int, dict]:
        order = service.orders.get(order_id)
        if order is None:
            raise NotFoundError(f"order {order_id!r} does not exist")
        for no, qty in lines.items():
            ln = order.line(int(no))
            if ln is None:
                raise ValidationError("no such line", field="lines", value=no)
            if qty > ln.shipped_qty + 1e-9:
                raise ValidationError(f"line {no} shipped {ln.shipped_qty:g}", field=f"lines.{no}", value=qty)
        if supply is not None:
            entry = DeltaEntry(seq=0, item=supply.item, location=supply.location, date=supply.date, qty=float(supply.qty),
                               kind=getattr(supply, "kind", "receipt") or "receipt", ref=getattr(supply, "ref", None))
            il, bucket = service._check_delta(service.snap, entry, 0)
            txn.adjust_supply(il, bucket, entry)
        detail = {"lines": {str(k): float(v) for k, v in lines.items()}, "receipt": receipt, "rma": rma,
                  "location": location, "condition": condition, "at": dt.datetime.combine(date, dt.time(), dt.timezone.utc).isoformat(),
                  "sellable": supply is not None, **(extra or {})}
        txn.audit(order, "return", detail)
        return 200, {"order_id": order_id, "receipt": receipt, "journal_seq": service.seq}

    return service.execute(actor, idem, run)
