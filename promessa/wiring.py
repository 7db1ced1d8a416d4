"""Orchestration wired to the order book: the top-level composition of ``orchestration`` and ``orderbook``.

``orchestration`` never imports the order book; this module is where the two meet (beside the
composition root ``promessa.app``):

- :func:`process_events` maps an order-book event (``orderbook.events.OrderEvent``, read from the
  audit trail) to the orchestration's ``OrderEvent`` records: captured -> captured (one process per
  line, with the line's attributes), promised / approved (not on hold) -> scheduled, changed and
  rescheduled -> changed then scheduled (the change re-promised the order, so scheduling repeats
  and completes), lines removed by a change -> cancelled for those lines, cancelled -> cancelled,
  shipped / delivered -> per line. Each record carries an event id derived from the audit entry
  (``<order>/E<id>``, with a suffix when one entry gives several records), so the order book's
  at-least-once feed is applied once (the engine's inbox).
- :class:`ProcessFeed` follows the audit trail with its own cursor in the orchestration store, written in the
  same transaction as the process state (exactly once, one transaction per batch of events, the order book's
  writer untouched); :class:`ProcessConsumer` is the same mapping as a consumer of the order book's dispatcher.
- :class:`Orchestration` holds the engine, its store (by default ``orchestration.sqlite`` beside a
  SQLite order book), the documents, the outbox relay (signed webhooks by default, NATS JetStream
  when configured, e-mail through SMTP when a server is set) and the background loops: the relay,
  and a tick that fires timers, raises jeopardy alerts and applies the engine's effects through the
  order book (a transfer receipt becomes a supply delta with ``OrderService.apply_supply_deltas``; a
  drop-ship line closed by the supplier's shipment notice ships the line's open quantity with
  ``OrderService.event``), each with an idempotency key of the effect, then marks them applied.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestration import (
    Documents,
    EmailPublisher,
    NotificationRule,
    Orchestrator,
    OutboxRelay,
    RoutingPublisher,
    SystemClock,
    WebhookPublisher,
    open_store,
    ready_catalog,
)
from orchestration import OrderEvent as ProcessEvent
from orchestration.engine import Outcome, message_row
from orchestration.outbox import receive_webhook
from orchestration.records import Clock, Effect, InboundUpdate
from orderbook.events import EventKind, OrderEvent, read_events
from orderbook.schemas import EventLine, FulfillmentEvent
from orderbook.txn import Idem
from promessa.config import EPS, Settings
from promessa.errors import PromessaError

log = logging.getLogger("promessa.wiring")

#: The actor the order book records for writes the processes make (effects).
ACTOR = "orchestration"

#: Order statuses after which an order counts as scheduled for its process (promised, or backordered with a date).
_NOT_SCHEDULED = frozenset({"on_hold", "cancelled", "captured", "rejected"})


def store_of(settings: Settings) -> tuple[str, str]:
    """(URL or path, PostgreSQL schema) of the orchestration store: ``orchestration.orch_store`` (on PostgreSQL in
    schema ``<pg_schema>_orchestration``), else ``orchestration.sqlite`` beside a SQLite order book (its own file: the
    processes never wait for the order book's writer), else the order book's own PostgreSQL schema (the ``orch_*``
    tables beside the order book's)."""
    o = settings.orchestration
    url = settings.store.url
    if o.orch_store is not None:
        return o.orch_store, f"{settings.store.pg_schema}_orchestration"
    if url.startswith(("postgresql://", "postgres://")):
        return url, settings.store.pg_schema
    return str(Path(url).parent / "orchestration.sqlite"), settings.store.pg_schema


def _aware(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t


def line_attrs(order: Any, line: Any, item_kinds: Mapping[str, str]) -> dict[str, Any]:
    """The process attributes of one order line: item, qty, node (its location), item_kind (the catalogue's
    ``item_kind`` column, when the snapshot has one)."""
    out: dict[str, Any] = {"item": line.item, "qty": float(line.qty)}
    if line.location:
        out["node"] = line.location
    kind = item_kinds.get(line.item)
    if kind:
        out["item_kind"] = kind
    return out


def order_attrs(order: Any, customer: Any = None) -> dict[str, Any]:
    """The process attributes of an order: channel (its source system, ``api`` when captured through the API),
    customer, country, order_type and ship_method (the order header's, when given) and e-mail (the first contact
    with an e-mail in ``customer``, the customer master's record, when there is one)."""
    out: dict[str, Any] = {"channel": order.source_system or "api", "customer": order.customer}
    if order.ship_country:
        out["country"] = order.ship_country
    for name in ("order_type", "ship_method"):
        if getattr(order, name, None):
            out[name] = getattr(order, name)
    email = next((c.email for c in getattr(customer, "contacts", ()) if c.email), None)
    if email:
        out["email"] = email
    return out


def process_events(ev: OrderEvent, order: Any, *, item_kinds: Mapping[str, str] | None = None,
                   started_lines: frozenset[str] = frozenset(), customer: Any = None) -> list[ProcessEvent]:
    """The orchestration events of one order-book event (see the module docstring for the mapping).

    Parameters
    ----------
    ev : the order-book event.
    order : the order as the book holds it now (``orderbook.records.Order``), or None when unknown.
    item_kinds : item -> item_kind (process assignment by item kind).
    started_lines : the lines that already have a process (a change that adds lines starts theirs).
    customer : the order's customer master record (``customers.Customer``: its contacts give the e-mail), or None.

    Returns
    -------
    The events, in the order to apply them; each with its event id.
    """
    item_kinds = item_kinds or {}
    at = _aware(ev.at)
    oid = ev.order_id
    ref = ev.ref

    def mk(kind: str, suffix: str = "", **kw: Any) -> ProcessEvent:
        return ProcessEvent(kind=kind, order=oid, at=at, event_id=ref + suffix, **kw)

    kind = ev.kind
    scheduled = ev.to_status is not None and ev.to_status not in _NOT_SCHEDULED
    if kind is EventKind.CAPTURED:
        if order is None:
            return [mk("captured")]
        lines = tuple(str(ln.line) for ln in order.lines)
        return [mk("captured", attrs=order_attrs(order, customer), lines=lines,
                   line_attrs={str(ln.line): line_attrs(order, ln, item_kinds) for ln in order.lines})]
    if kind in (EventKind.PROMISED, EventKind.APPROVED):
        return [mk("scheduled")] if scheduled else []
    if kind is EventKind.CANCELLED:
        return [mk("cancelled")]
    if kind in (EventKind.SHIPPED, EventKind.DELIVERED):
        return [mk(str(kind), f"/L{no}", line=str(no)) for no in sorted(ev.lines)]
    if kind in (EventKind.CHANGED, EventKind.RESCHEDULED):
        out: list[ProcessEvent] = []
        for no in ev.detail.get("removed") or ():
            out.append(mk("cancelled", f"/removed/L{no}", line=str(no)))
        if order is None:
            return out
        new = [ln for ln in order.lines if str(ln.line) not in started_lines]
        if new and started_lines:
            out.append(mk("captured", "/added", attrs=order_attrs(order, customer), lines=tuple(str(ln.line) for ln in new),
                          line_attrs={str(ln.line): line_attrs(order, ln, item_kinds) for ln in new}))
        touched = ev.detail.get("lines")
        wanted = {int(x) for x in touched} if isinstance(touched, list) and kind is EventKind.CHANGED else None
        for ln in order.lines:
            if str(ln.line) not in started_lines or (wanted is not None and ln.line not in wanted
                                                     and not ev.detail.get("ship_to")):
                continue
            out.append(mk("changed", f"/changed/L{ln.line}", line=str(ln.line),
                          attrs={**order_attrs(order, customer), **line_attrs(order, ln, item_kinds)}))
            if scheduled:
                out.append(mk("scheduled", f"/scheduled/L{ln.line}", line=str(ln.line)))
        return out
    return []


class ProcessConsumer:
    """The order-book consumer (cursor ``orchestration``) that drives each order's processes."""

    name = "orchestration"

    def __init__(self, hub: Orchestration) -> None:
        self.hub = hub

    def handle(self, ev: OrderEvent) -> None:
        """Apply one order-book event to the order's processes (each record once, by its event id)."""
        hub = self.hub
        if ev.kind not in (EventKind.CAPTURED, EventKind.PROMISED, EventKind.APPROVED, EventKind.CANCELLED, EventKind.SHIPPED,
                           EventKind.DELIVERED, EventKind.CHANGED, EventKind.RESCHEDULED):
            return None
        order = hub.service.orders.get(ev.order_id)
        started = frozenset()
        if ev.kind in (EventKind.CHANGED, EventKind.RESCHEDULED):
            started = frozenset(i.line for i in hub.store.instances_of(ev.order_id) if i.line is not None)
        effects = False
        for pe in process_events(ev, order, item_kinds=hub.item_kinds(), started_lines=started,
                                    customer=hub.customer_of(order)):
            out = hub.engine.handle(pe)
            effects = effects or bool(out.effects)
        if effects:
            hub.apply_effects()
        return None


class ProcessFeed:
    """Drives the processes from the order book's audit trail with its own durable cursor, kept in the orchestration
    store (table ``orch_feed_cursor``) and written in the SAME transaction as the process state of the events it
    covers: each event is applied exactly once, a batch of events costs one transaction of the orchestration store,
    and the order book's writer is never touched (a consumer of the order book's dispatcher writes its cursor there
    after every event, which serializes with captures).

    ``run_once`` applies the events after the cursor (up to ``batch``); an event the engine refuses stops the batch
    there (the events before it are kept) and is tried again after ``retry_s``. A thread polls every ``poll_s``.

    A new orchestration store over an order book that already has events starts at its last event: orders written
    before the processes were enabled run without one."""

    name = "orchestration"

    def __init__(self, hub: Orchestration, *, batch: int = 500, retry_s: float = 1.0) -> None:
        self.hub, self.batch, self.retry_s = hub, batch, retry_s
        st = hub.store
        self._p, self._q = getattr(st, "prefix", ""), getattr(st, "param", "?")
        with st.transaction() as c:
            c.execute(f"CREATE TABLE IF NOT EXISTS {self._p}orch_feed_cursor (consumer TEXT PRIMARY KEY, last_id BIGINT NOT NULL)")
        with st.transaction() as c:
            row = c.execute(self._sql("SELECT last_id FROM {p}orch_feed_cursor WHERE consumer = ?"), (self.name,)).fetchone()
        if row is None:
            # a new orchestration store over an order book with history: processes start with the orders written from
            # now on (replaying old captures would send shipping requests for orders long shipped)
            self.cursor = hub.service.store.max_audit_id()
            with st.transaction() as c:
                self._save(c, self.cursor)
            if self.cursor:
                log.info("processes follow the order events after audit id %d (earlier orders run without a process)",
                         self.cursor)
        else:
            self.cursor = int(row[0])
        self.handled = 0
        self.last_error: str | None = None
        self._retry_at = 0.0
        self._lock = threading.Lock()
        self.wake = threading.Event()    # set to look for events now instead of at the next poll

    def _sql(self, sql: str) -> str:
        sql = sql.replace("{p}", self._p)
        return sql if self._q == "?" else sql.replace("?", self._q)

    def _save(self, c: Any, last_id: int) -> None:
        c.execute(self._sql("INSERT INTO {p}orch_feed_cursor (consumer, last_id) VALUES (?, ?) ON CONFLICT (consumer) "
                            "DO UPDATE SET last_id = excluded.last_id"), (self.name, int(last_id)))

    def _apply(self, events: list[OrderEvent]) -> bool:
        """Apply ``events`` and move the cursor past them in one transaction; True when effects were made."""
        hub = self.hub
        effects = False
        orders = hub.service.orders
        kinds = hub.item_kinds()
        with hub.store.transaction() as c:
            # one engine batch: the orders' instances and the events' inbox ids read once, everything written at once
            batch = hub.engine.handle_many(conn=c, orders=[ev.order_id for ev in events], event_ids=[ev.ref for ev in events])
            for ev in events:
                order = orders.get(ev.order_id)
                started = frozenset()
                if ev.kind in (EventKind.CHANGED, EventKind.RESCHEDULED):
                    started = frozenset(i.line for i in batch.instances_of(ev.order_id) if i.line is not None)
                for pe in process_events(ev, order, item_kinds=kinds, started_lines=started, customer=hub.customer_of(order)):
                    effects = bool(batch.handle(pe).effects) or effects
            batch.write()
            self._save(c, events[-1].id)
        return effects

    def run_once(self) -> int:
        """Apply the next batch of events (see the class docstring); returns how many were applied."""
        import time

        with self._lock:
            if time.monotonic() < self._retry_at:
                return 0
            events = read_events(self.hub.service.store, self.cursor, limit=self.batch)
            if not events:
                return 0
            effects, done = False, 0
            try:
                effects = self._apply(events)
                done = len(events)
            except Exception:  # noqa: BLE001 - find the event that fails; keep the ones before it
                for ev in events:
                    try:
                        effects = self._apply([ev]) or effects
                    except Exception as exc:  # noqa: BLE001 - the cursor stays: tried again after retry_s
                        self.last_error = f"event {ev.id} ({ev.kind} of {ev.order_id}): {type(exc).__name__}: {exc}"
                        self._retry_at = time.monotonic() + self.retry_s
                        log.warning("process feed stopped at %s", self.last_error)
                        break
                    done += 1
            if done:
                self.cursor = events[done - 1].id
                self.handled += done
                if done == len(events):
                    self.last_error = None
        if effects:
            self.hub.apply_effects()
        return done

    def run_until_idle(self) -> int:
        """Apply batches until none is left (or one stops at a refused event); returns how many were applied."""
        total = 0
        while True:
            n = self.run_once()
            total += n
            if n < self.batch:
                return total

    def lag(self) -> int:
        """How many audit ids the feed is behind the order book."""
        return max(0, self.hub.service.store.max_audit_id() - self.cursor)


@dataclasses.dataclass
class EffectFailure:
    """An effect the order book refused (kept pending, tried again at the next tick)."""

    effect_id: str
    kind: str
    order: str
    error: str


class Orchestration:
    """The engine, its store, documents, outbox relay and background loops over one order service.

    Build it with :meth:`open`; hand :meth:`consumers` to ``OrderService.start_events``; then :meth:`start`
    the loops; :meth:`close` stops them (after the order service stopped its dispatcher)."""

    def __init__(self, service: Any, settings: Settings, *, store: Any, engine: Orchestrator, publisher: Any,
                 secret: bytes, clock: Clock) -> None:
        self.service, self.settings, self.store, self.engine = service, settings, store, engine
        self.publisher, self.secret, self.clock = publisher, secret, clock
        o = settings.orchestration
        #: False for the embedded default with nowhere to send (webhooks without targets, no SMTP): the relay does
        #: not run, messages wait in the outbox (the message log shows them) until a target is configured
        self.deliverable = bool(o.publisher == "nats" or o.webhook_targets or o.webhook_default_url or o.smtp_host)
        self.documents = Documents(store, clock=clock)
        self.relay = OutboxRelay(store, publisher, clock=clock, backoff_s=o.relay_backoff_s)
        self.failures: dict[str, EffectFailure] = {}
        self._effects_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._inbox: Any = None
        self._kinds: tuple[Any, dict[str, str]] | None = None
        self.feed = ProcessFeed(self)

    @classmethod
    def open(cls, service: Any, settings: Settings, *, clock: Clock | None = None, publisher: Any = None) -> Orchestration:
        """Open the store (``store_of``), the engine over the ready definitions (plus every stored version) and the
        publisher of ``settings.orchestration`` (or ``publisher``); nothing runs until :meth:`start`."""
        o = settings.orchestration
        clock = clock or SystemClock()
        url, schema = store_of(settings)
        store = open_store(url, schema=schema)
        try:
            rules = [NotificationRule(on=frozenset(r.on), to=tuple(r.to)) for r in o.email_rules]
            engine = Orchestrator(ready_catalog(), store, clock=clock, notifications=rules)
            secret = o.webhook_secret.encode() if o.webhook_secret else secrets.token_bytes(32)
            explicit = publisher is not None
            if publisher is None:
                publisher = build_publisher(settings, secret=secret, clock=clock)
        except BaseException:
            store.close()
            raise
        hub = cls(service, settings, store=store, engine=engine, publisher=publisher, secret=secret, clock=clock)
        hub.deliverable = hub.deliverable or explicit
        return hub

    # ---- life
    def consumers(self) -> list[ProcessConsumer]:
        """Consumers for the order book's dispatcher: none (the processes follow the trail with their own cursor,
        :class:`ProcessFeed`; :class:`ProcessConsumer` is the dispatcher-driven alternative)."""
        return []

    def start(self) -> Orchestration:
        """Catch the processes up with the order book's events (before serving), then start the event feed, the relay
        and tick loops and (publisher ``nats``) the inbound stream; returns self."""
        o = self.settings.orchestration
        self.feed.run_until_idle()
        self._spawn("orchestration-feed", self._feed_loop, o.feed_poll_s)
        if self.deliverable:
            self._spawn("orchestration-relay", self._relay_loop, o.relay_interval_s)
        else:
            log.info("processes: no webhook target, broker or SMTP server configured; outbox messages wait (see the "
                     "settings orchestration.webhook_targets / webhook_default_url / publisher)")
        self._spawn("orchestration-tick", self._tick_loop, o.tick_s)
        if o.publisher == "nats":
            from orchestration.nats import NatsInbox

            self._inbox = NatsInbox(self, o.nats_url, stream=o.nats_in_stream, prefix=o.nats_in_prefix)
            self._spawn("orchestration-inbox", self._inbox_loop, 0.5)
        return self

    def _spawn(self, name: str, fn: Any, interval: float) -> None:
        t = threading.Thread(target=fn, args=(interval,), name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _relay_loop(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                if self.relay.drain().published == 0:     # every pending row, in batches, one order's in order
                    self._stop.wait(interval)
            except Exception:  # noqa: BLE001 - the store or publisher may be briefly unavailable: next round
                log.exception("outbox relay round failed; retrying")
                self._stop.wait(interval)

    def _feed_loop(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                if self.feed.run_once() < self.feed.batch:
                    self.feed.wake.wait(interval)
                    self.feed.wake.clear()
            except Exception:  # noqa: BLE001 - the order book may be briefly unavailable: next round
                log.exception("process feed round failed; retrying")
                self._stop.wait(interval)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until the processes have applied every order event written by now (tests, shutdown); True if so."""
        import time

        target = self.service.store.max_audit_id()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.feed.cursor >= target:
                return True
            self.feed.wake.set()
            time.sleep(0.005)
        return False

    def _tick_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.tick()
            except Exception:  # noqa: BLE001
                log.exception("orchestration tick failed; retrying")

    def _inbox_loop(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                self._inbox.consume_once(wait_s=interval)
            except Exception:  # noqa: BLE001
                log.exception("inbound stream failed; retrying")
                self._stop.wait(interval)

    def close(self) -> None:
        """Stop the loops (the round in hand finishes), close the publisher, the inbound stream and the store."""
        self._stop.set()
        self.feed.wake.set()
        for t in self._threads:
            t.join(10.0)
        self._threads.clear()
        try:
            if self._inbox is not None:
                try:
                    self._inbox.close()
                except Exception as exc:  # noqa: BLE001 - nats-py's drain can time out after an empty fetch; its loop is stopped
                    log.warning("inbound stream closed uncleanly: %s: %s", type(exc).__name__, exc)
            self.publisher.close()
        finally:
            self.store.close()

    # ---- work
    def item_kinds(self) -> dict[str, str]:
        """item -> item_kind from the served snapshot's items table (empty when it has no such column)."""
        snap = self.service.snap
        if self._kinds is None or self._kinds[0] is not snap:
            items = snap.tables.get("items")
            kinds: dict[str, str] = {}
            if items is not None and "item_kind" in items.columns:
                kinds = {i: str(k) for i, k in zip(items["item"].to_list(), items["item_kind"].to_list()) if k}
            self._kinds = (snap, kinds)
        return self._kinds[1]

    def customer_of(self, order: Any) -> Any:
        """The order's customer master record (its contacts give the process the e-mail), or None (no order, no master,
        or an unknown customer)."""
        return self.service.commerce.customer(order.customer) if order is not None else None

    def tick(self) -> Outcome:
        """Fire due timers and retries, raise jeopardy alerts, then apply pending effects; returns the engine's Outcome."""
        out = self.engine.tick()
        self.apply_effects()
        return out

    def receive(self, update: InboundUpdate) -> Outcome:
        """A status update from a fulfilment system, consumed once; its effects go to the order book at once."""
        out = self.engine.receive(update)
        if out.effects:
            self.apply_effects()
        return out

    def receive_webhook(self, body: bytes, headers: Mapping[str, str]) -> Outcome:
        """A signed inbound webhook (``X-Promessa-Signature`` over ``X-Promessa-Timestamp.body`` with the webhook
        secret); ValidationError names the header or field that is wrong."""
        out = receive_webhook(self.engine, body, headers, secret=self.secret, now=self.clock.now())
        if out.effects:
            self.apply_effects()
        return out

    def complete_manual(self, order: str, step: str, *, who: str, line: str | None = None) -> Outcome:
        """A person completes a manual step (see ``Orchestrator.complete_manual``); effects applied at once."""
        out = self.engine.complete_manual(order, step, who=who, line=line)
        if out.effects:
            self.apply_effects()
        return out

    def apply_effects(self) -> int:
        """Apply every pending effect through the order book (each with the idempotency key
        ``orchestration-effect-<id>``, so a repeat after a crash changes nothing) and mark it applied.
        An effect the order book refuses stays pending (``failures``). Returns how many were applied."""
        done = 0
        with self._effects_lock:
            for e in self.store.effects():
                try:
                    self._apply(e)
                except PromessaError as exc:
                    if e.effect_id not in self.failures:
                        log.warning("effect %s (%s of %s) refused by the order book: %s", e.effect_id, e.kind, e.order, exc)
                    self.failures[e.effect_id] = EffectFailure(e.effect_id, e.kind, e.order, str(exc))
                    continue
                self.store.mark_effects_applied([e.effect_id], self.clock.now())
                self.failures.pop(e.effect_id, None)
                done += 1
        return done

    def _apply(self, e: Effect) -> None:
        idem = Idem.of(f"orchestration-effect-{e.effect_id}", "effect", e.effect_id)
        if e.kind == "supply_delta":
            self.service.apply_supply_deltas([e.to_supply_delta()], actor=ACTOR, idem=idem)
            return
        if e.kind == "line_closed":
            order = self.service.orders.get(e.order)
            if order is None:
                return
            lines = [ln for ln in order.lines if e.line is None or str(ln.line) == str(e.line)]
            todo = [EventLine(line=ln.line, qty=ln.open_qty) for ln in lines if ln.open_qty > EPS]
            if not todo:
                return                      # already shipped (or applied before a crash): nothing left to close
            ev = FulfillmentEvent(type="shipped", lines=todo, reference=f"closed by process {e.payload.get('process', '')}")
            self.service.event(e.order, ev, actor=ACTOR, idem=idem)
            return
        raise PromessaError(f"unknown effect kind {e.kind!r}")

    # ---- reads
    def view(self, order: str) -> list[dict[str, Any]]:
        """The order's processes (``Orchestrator.view``): current step, lateness, history, alerts, message log."""
        return self.engine.view(order)

    def running(self, *, limit: int = 1000) -> list[dict[str, Any]]:
        """Every order's active processes, the latest deadline first (``Orchestrator.running``)."""
        return self.engine.running(limit=limit)

    def message_log(self, order: str | None = None, *, limit: int = 1000) -> list[dict[str, Any]]:
        """The outbox messages of ``order`` (oldest first), or the last ``limit`` of every order."""
        return [message_row(m, p) for m, p in self.store.messages(order=order, limit=limit, newest=order is None)]

    def drain(self) -> int:
        """Publish what can go now (tests, shutdown); returns how many were published."""
        return self.relay.drain().published


def build_publisher(settings: Settings, *, secret: bytes, clock: Clock) -> Any:
    """The outbox publisher of ``settings.orchestration``: NATS JetStream (``publisher: nats``) or signed webhooks to
    ``webhook_targets`` / ``webhook_default_url``; ``email.notify`` through SMTP when ``smtp_host`` is set."""
    o = settings.orchestration
    if o.publisher == "nats":
        from orchestration.nats import NatsPublisher

        default: Any = NatsPublisher(o.nats_url, stream=o.nats_stream, prefix=o.nats_prefix)
    else:
        default = WebhookPublisher(o.webhook_targets, secret=secret, default_url=o.webhook_default_url, clock=clock)
    if o.smtp_host is None:
        return default
    login = (o.smtp_user, o.smtp_password or "") if o.smtp_user else None
    email = EmailPublisher(host=o.smtp_host, port=o.smtp_port, sender=o.smtp_sender, starttls=o.smtp_starttls, login=login)
    return RoutingPublisher({"email": email}, default)


__all__ = ["ACTOR", "EffectFailure", "Orchestration", "ProcessConsumer", "ProcessFeed", "build_publisher", "line_attrs", "order_attrs",
           "process_events", "store_of"]
