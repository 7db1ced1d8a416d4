"""`OrderToCash`: the payment book, the invoicer, the return book and the channel ledger over one order book.

What each keeps and where:

- payments: in memory (``payments.PaymentBook``), each order's records written to the order book's
  ``consumer_records`` table (kind ``payments``) before a command answers, and by the ``payments``
  consumer before its cursor moves, in the order the snapshots were taken (``write_order``); webhook outcomes by event id (kind
  ``webhook_events``); restored at start-up.
- invoices and credit notes: the invoicing store (its own gapless tables, ``invoicing.open_store``).
- returns: each authorization (kind ``returns``) in ``consumer_records``; receipts are the order
  book's ``return`` audit entries (written with their supply delta), replayed at start-up.
- channel accruals: the channel journal (``channel.SqliteJournal``).

Amounts of a shipped line: the line's priced waterfall when it has one (net and tax prorated
over partial shipments by cumulative rounding, ``invoicing.prorate``), else its unit price (or the
catalogue's) read exactly through ``str()`` with ``o2c.tax_rate``. The value a shipment captures
is its invoice's total, computed by the same function, so captured equals invoiced.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime as dt
import logging
import secrets
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from channel import ChannelLedger, ReturnedLine, ShippedLine, SqliteJournal, line_income, load_programs
from channel.programs import Catalogue
from invoicing import Invoicer, InvoicingSettings, LineInput, PaymentTerms
from invoicing import open_store as open_invoice_store
from invoicing.model import DocumentKind, InvoiceMode, PricedLine, build_line, prorate
from invoicing.service import InvoiceRequest, ReturnCredit
from monitoring.cash import CashItem
from orderbook.events import EventKind, OrderEvent, read_events, record_return
from orderbook.schemas import OrderCreate
from orderbook.txn import Idem
from ordertocash.jeopardy import cash_items
from payments import OfflineProvider, PaymentBook, PaymentSettings, TestGateway
from payments.model import CaptureRule, MethodKind, PaymentState
from promessa.config import Settings
from promessa.errors import ConflictError, NotFoundError, ValidationError
from promessa.money import Money
from returns import ReturnBook
from returns.model import ReturnAuthorization, ReturnReceipt, ReturnSettings, ReturnState
from returns.model import ShippedLine as ReturnShippedLine
from supplydata.live import SupplyDelta

log = logging.getLogger("promessa.ordertocash")


def _dec(x: Any) -> Decimal:
    """An exact decimal of a quantity or a price (a float through its shortest decimal form; 10.0 is 10)."""
    if isinstance(x, Decimal):
        return x
    if isinstance(x, float) and x.is_integer():
        return Decimal(int(x))
    return Decimal(str(x))


@dataclasses.dataclass(frozen=True)
class Stores:
    """Where the order-to-cash state lives (see :func:`stores_of`)."""

    invoices: str
    invoices_schema: str
    channel_journal: Path


def stores_of(settings: Settings) -> Stores:
    """The invoice store and the channel journal for `settings` (``o2c.invoices_db``, ``o2c.channel_journal``,
    by default beside a SQLite order book)."""
    o = settings.o2c
    url = settings.store.url
    pg = url.startswith(("postgresql://", "postgres://"))
    here = Path("var") if pg else Path(url).parent
    invoices = o.invoices_db or (url if pg else str(here / "invoices.sqlite"))
    return Stores(invoices, f"{settings.store.pg_schema}_invoicing", o.channel_journal or here / "channel.sqlite")


def replay_returns(store: Any, book: ReturnBook) -> dict[str, dict]:
    """Put the return authorizations kept in the order book (``consumer_records`` kind ``returns``) back into
    `book`, then their receipts (the order book's ``return`` audit entries). Returns rma id -> its record."""
    metas: dict[str, dict] = {}
    for rid, meta in sorted(store.records("returns").items()):
        sh = meta["shipped"]
        book.authorize(ReturnShippedLine(**sh), qty=meta["qty"], reason=meta["reason"], condition=meta["condition"],
                       business_date=dt.date.fromisoformat(meta["authorized_on"]), exchange=meta["exchange"],
                       exchange_item=meta.get("exchange_item"),
                       requested_date=dt.date.fromisoformat(meta["requested_date"]) if meta.get("requested_date") else None,
                       note=meta.get("note", ""), rma_id=rid)
        if meta.get("cancelled"):
            book.cancel(rid)
        if meta.get("replacement_line"):
            book.link_replacement(rid, meta["replacement_line"])
        metas[rid] = meta
    after = 0
    while True:
        evs = read_events(store, after, limit=5000)
        if not evs:
            break
        after = evs[-1].id
        for ev in evs:
            if ev.kind is EventKind.RETURNED and ev.detail.get("rma") in metas:
                book.receive(ev.detail["rma"], location=ev.detail["location"], date=ev.at.date(),
                             qty=sum(ev.lines.values()), condition=ev.detail["condition"])
    return metas


class _WebhookWriter:
    """Group commit of webhook outcomes: a webhook applied in memory (under the hub's lock) marks its order dirty and
    takes a ticket, then waits. The first waiter leads: it takes a snapshot of the records of every dirty order and
    the new event outcomes (under the hub's lock) and writes them in ONE durable transaction (one fsync for all the
    webhooks that came meanwhile), books the money against the invoices, and releases the answers of every ticket
    it covered; webhooks that came during its write are written by the next leader. The leader is a request's own
    thread (no writer thread to wake: a thread switch costs up to the interpreter's switch interval under load).
    The snapshot is written under ``hub.write_order`` (taken before the hub's lock is let go), so payment records
    are written in the order their snapshots were taken, whoever writes them. A failed write fails every ticket it
    covered (those webhooks answer the error) and its changes are written again with the next batch; an answer
    read from memory meanwhile waits for that retry.

    A webhook handled in the event loop (:meth:`OrderToCash.webhook_async`) waits without a thread: it leaves a
    future, and when no one leads, one write thread (``_lead``) writes batches until no such future is left; a
    thread's leader that ends with futures still waiting hands them to that write thread."""

    def __init__(self, hub: OrderToCash) -> None:
        self.hub = hub
        self._cv = threading.Condition()
        self._orders: dict[str, None] = {}
        self._events: dict[str, dict] = {}
        self._latest: dict[str, int] = {}  # order -> the last ticket that wrote it (only those not yet durable)
        self._issued = 0      # last ticket handed out
        self._written = 0     # every ticket up to this one is durable (or failed)
        self._fail_ranges: list[tuple[int, int, BaseException]] = []  # (first, last ticket, error) of failed writes
        self._leading = False
        self._futures: list[tuple[int, concurrent.futures.Future]] = []  # (ticket, future) of event-loop waiters
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="webhook-writer")
        self.batches = 0      # transactions written (figures and tests)

    def submit(self, order_id: str, event_id: str, doc: dict) -> int:
        """Queue an order's records and an event outcome (call under the hub's lock); returns the ticket to wait for."""
        with self._cv:
            self._orders[order_id] = None
            self._events[event_id] = doc
            self._issued += 1
            self._latest[order_id] = self._issued
            return self._issued

    def last(self) -> int:
        """The last ticket handed out."""
        with self._cv:
            return self._issued

    def ticket_of(self, order_id: str | None) -> int:
        """The ticket an answer about `order_id` read from memory waits for: the last one that changed the order and is
        not durable yet (0: nothing to wait for)."""
        if order_id is None:
            return 0
        with self._cv:
            return self._latest.get(order_id, 0)

    def wait(self, ticket: int, timeout: float = 60.0) -> None:
        """Return once `ticket` is durable (writing the batch it is in when no one else is); re-raise the error of the
        write that covered it. Call without the hub's lock."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cv:
                while self._written < ticket and self._leading:
                    if not self._cv.wait(max(0.0, deadline - time.monotonic())):
                        raise TimeoutError(f"webhook outcome {ticket} not written in {timeout:g} s")
                if self._written >= ticket:
                    for lo, hi, err in self._fail_ranges:
                        if lo <= ticket <= hi:
                            raise err
                    return
                self._leading = True
            try:
                self.flush()
            finally:
                with self._cv:
                    # event-loop waiters left: the write thread leads on
                    self._leading = self._futures_waiting() and self._start_lead()
                    self._cv.notify_all()

    def _failed(self, ticket: int) -> BaseException | None:
        """The error of the write that covered `ticket` (call under ``_cv``, once it is written)."""
        for lo, hi, err in self._fail_ranges:
            if lo <= ticket <= hi:
                return err
        return None

    def _futures_waiting(self) -> bool:
        return any(t > self._written for t, _ in self._futures)

    def _release_futures(self) -> None:
        """Answer the event-loop waiters whose ticket is written (call under ``_cv``)."""
        if not self._futures:
            return
        keep = []
        for t, fut in self._futures:
            if t > self._written:
                keep.append((t, fut))
            elif not fut.set_running_or_notify_cancel():  # its request went away
                continue
            elif (err := self._failed(t)) is not None:
                fut.set_exception(err)
            else:
                fut.set_result(None)
        self._futures = keep

    async def wait_async(self, ticket: int, timeout: float = 60.0) -> None:
        """`wait` for an event loop: return at once when `ticket` is durable, else await the write without holding
        a thread (the write runs in the write thread, ``_lead``, when no one else leads)."""
        with self._cv:
            if self._written >= ticket:
                if (err := self._failed(ticket)) is not None:
                    raise err
                return
            fut: concurrent.futures.Future = concurrent.futures.Future()
            self._futures.append((ticket, fut))
            lead = not self._leading
            self._leading = True
        if lead and not self._start_lead():  # closing: write in a worker thread
            await asyncio.to_thread(self._lead)
        try:
            await asyncio.wait_for(asyncio.wrap_future(fut), timeout)
        except TimeoutError:
            raise TimeoutError(f"webhook outcome {ticket} not written in {timeout:g} s") from None

    def _start_lead(self) -> bool:
        """Hand the lead to the write thread (False once it is stopped)."""
        try:
            self._writer.submit(self._lead)
            return True
        except RuntimeError:
            return False

    def _lead(self) -> None:
        """The write thread: write batches while event-loop waiters are left, then stop leading."""
        try:
            while True:
                with self._cv:
                    if not self._futures_waiting():
                        self._leading = False
                        self._cv.notify_all()
                        return
                self.flush()
        except BaseException as e:  # noqa: BLE001 - the waiters get the error rather than hang
            log.exception("writing webhook outcomes failed")
            with self._cv:
                for _, fut in self._futures:
                    if fut.set_running_or_notify_cancel():
                        fut.set_exception(e)
                self._futures = []
                self._leading = False
                self._cv.notify_all()

    def flush(self) -> None:
        """Write what is queued in one transaction (the leader's work; also at close)."""
        hub = self.hub
        with hub.lock:  # the snapshot, then the write order is taken before the hub's lock is let go
            with self._cv:
                orders, events, upto = list(self._orders), dict(self._events), self._issued
                self._orders, self._events = {}, {}
            if not orders and not events:
                return
            recs = [r for o in orders for r in hub.payment_records(o)] + [("webhook_events", k, v) for k, v in events.items()]
            hub.write_order.acquire()
        err: BaseException | None = None
        try:
            hub.store.put_records(recs)
        except BaseException as e:  # noqa: BLE001 - handed to every waiter of the batch
            err = e
        finally:
            hub.write_order.release()
        if err is None:
            for o in orders:
                try:
                    hub.sync_settlement(o)
                except Exception:  # noqa: BLE001 - booked again at the order's next payment write
                    log.exception("order %s: booking the money against its invoices failed", o)
        with self._cv:
            self.batches += 1
            if err is not None:  # those answers fail; their changes are written again with the next batch
                log.error("writing webhook outcomes failed (%s); they are written again with the next batch", err)
                self._fail_ranges.append((self._written + 1, upto, err))
                del self._fail_ranges[:-64]
                for o in orders:
                    self._orders.setdefault(o, None)
                for k, v in events.items():
                    self._events.setdefault(k, v)
                self._issued += 1  # the retry's ticket: an answer read from memory from now on waits for it
                for o in orders:
                    self._latest[o] = max(self._latest.get(o, 0), self._issued)
            else:  # everything queued before, failed writes included, is durable now
                self._fail_ranges.clear()
            self._written = max(self._written, upto)
            self._latest = {o: t for o, t in self._latest.items() if t > self._written}
            self._release_futures()
            self._cv.notify_all()

    def stop(self) -> None:
        """Write what is still queued (a failed write's changes), once, and end the write thread."""
        self._writer.shutdown(wait=True)
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - memory is ahead of the store; logged
            log.exception("writing the last webhook outcomes failed")


class OrderToCash:
    """Payments, invoices, returns and channel accruals of the orders of one `OrderService`.

    Build it with :meth:`open`; :meth:`consumers` are what ``OrderService.start_events`` runs.
    Commands answer only once what they changed is durable.
    """

    def __init__(self, service: Any, settings: Settings, *, payments: PaymentBook, invoicer: Invoicer, returns: ReturnBook,
                 ledger: ChannelLedger, gateway: TestGateway, offline: OfflineProvider) -> None:
        self.service = service
        self.store = service.store
        self.settings = settings
        self.payments = payments
        self.invoicer = invoicer
        self.returns = returns
        self.ledger = ledger
        self.gateway = gateway
        self.offline = offline
        self.lock = threading.RLock()
        self._rma_meta: dict[str, dict] = {}
        self._closing: dict[str, str] = {}  # order -> close key, for closes waiting for a provider's answer
        self._modes: dict[str, dict] = {}   # "order:<id>" / "customer:<id>" -> {"mode", "pinned"}: invoicing modes chosen
        self._pinned: set[str] = set()      # "order:<id>" whose mode was fixed at its first shipment
        self._suppliers: dict[str, str | None] = {}
        self._programs_seen = -1
        self._stop = threading.Event()
        self._reconciler: threading.Thread | None = None
        self.write_order = threading.Lock()  # payment records are written in the order their snapshots were taken
        self._webhooks = _WebhookWriter(self)

    # ------------------------------------------------------------------ open, restore, close
    @classmethod
    def open(cls, service: Any, settings: Settings) -> OrderToCash:
        """Open the stores named by `settings`, restore payments and returns, load the configured programs."""
        o = settings.o2c
        where = stores_of(settings)
        secret = (o.gateway_secret or secrets.token_hex(16)).encode()
        gateway = TestGateway(secret=secret, clock=time.time)
        offline = OfflineProvider()
        pay = PaymentBook(providers={"offline": offline, "gateway": gateway},
                          settings=PaymentSettings(capture_rule=CaptureRule(o.capture_rule)),
                          webhook_secrets={"gateway": secret})
        invoicer = Invoicer(open_invoice_store(where.invoices, pg_schema=where.invoices_schema), InvoicingSettings())
        ledger = ChannelLedger(SqliteJournal(where.channel_journal))
        hub = cls(service, settings, payments=pay, invoicer=invoicer,
                  returns=ReturnBook(ReturnSettings(receive_within_days=o.receive_within_days), locations=service.snap.location_ids), ledger=ledger, gateway=gateway, offline=offline)
        hub.restore()
        if o.channel_programs is not None:
            hub.define_programs(load_programs(o.channel_programs, catalogue=Catalogue.of_snapshot(service.snap)))
        if o.reconcile_after_s > 0:
            hub.start_reconciler()
        return hub

    def restore(self) -> None:
        """Put back payments (with the webhook events seen), return authorizations and their receipts."""
        events = self.store.records("webhook_events")
        docs = list(self.store.records("payments").values())
        for k, doc in enumerate(docs):
            self.payments.restore(doc, events=events if k == len(docs) - 1 else None)
        self._closing.update({o: r["key"] for o, r in self.store.records("payment_close").items() if r.get("waiting")})
        self._modes.update(self.store.records("invoice_modes"))
        self._pinned.update(k for k, r in self._modes.items() if r.get("pinned"))
        self.resume_gateway()
        self._rma_meta.update(replay_returns(self.store, self.returns))
        for rma in list(self.returns._rmas.values()):
            for rec in rma.receipts:
                if self.invoicer.store.by_source(DocumentKind.CREDIT_NOTE, rec.ref) is not None:
                    self._refund_receipt(rec)

    def consumers(self) -> list:
        """The order-event consumers, in the order they run: invoicing, payments, channel."""
        from ordertocash.consumers import ChannelConsumer, InvoicingConsumer, PaymentsConsumer

        return [InvoicingConsumer(self), PaymentsConsumer(self), ChannelConsumer(self)]

    def resume_gateway(self) -> list[str]:
        """After a start-up (a restart, a ``kill -9``): tell the in-memory card gateway what it had authorized (from
        the payment records) and send it again every capture and refund still pending, with its own key, so it
        carries each out once and sends its webhook (``TestGateway.adopt``, ``PaymentBook.retry_pending``). Nothing
        changes in the records: an outcome arrives as a webhook (or by :meth:`reconcile`). Returns the keys sent."""
        with self.lock:
            self.gateway.adopt(p for p in self.payments._payments.values() if p.provider == "gateway")
            sent = self.payments.retry_pending("gateway")
        if sent:
            log.info("card gateway: %d pending operation(s) sent again after start-up", len(sent))
        return sent

    def reconcile(self, *, older_than_s: float | None = None) -> list[Any]:
        """Ask the providers about captures and refunds pending longer than `older_than_s` (default
        ``o2c.reconcile_after_s``) and settle them as they say (``PaymentBook.reconcile``); each order touched is
        written durably, booked against its invoices and a close waiting for it tried again, before this returns.
        Returns the ``payments.Reconciled`` outcomes."""
        after = self.settings.o2c.reconcile_after_s if older_than_s is None else older_than_s
        with self.lock:
            outs = self.payments.reconcile(older_than_s=after)
            for order_id in dict.fromkeys(r.order for r in outs if r.status != "pending"):
                self.persist_payments(order_id)
                self.retry_close(order_id)
        if outs:
            log.info("reconciled %d pending operation(s): %s", len(outs),
                     ", ".join(f"{r.key} {r.status}" for r in outs[:5]))
        return outs

    def gateway_outbox(self, *, everything: bool = False) -> list[tuple[bytes, dict[str, str]]]:
        """The card gateway's webhooks due now (``everything``: also those not yet due), signed now, for a client to
        POST to the webhook endpoint as the gateway would (the test gateway lives in this process)."""
        with self.lock:
            return self.gateway.deliver(float("inf") if everything else None)

    def start_reconciler(self) -> None:
        """Reconcile every ``o2c.reconcile_every_s`` on a daemon thread until :meth:`close`."""
        every = self.settings.o2c.reconcile_every_s

        def loop() -> None:
            while not self._stop.wait(every):
                try:
                    self.reconcile()
                except Exception:  # noqa: BLE001 - logged; the next round tries again
                    log.exception("reconciliation failed")

        self._reconciler = threading.Thread(target=loop, name="o2c-reconciler", daemon=True)
        self._reconciler.start()

    def close(self) -> None:
        """Stop the reconciler; close the invoice store and the channel journal."""
        self._stop.set()
        if self._reconciler is not None:
            self._reconciler.join(timeout=10)
            self._reconciler = None
        self._webhooks.stop()
        for c in (self.invoicer.store, self.ledger.store):
            try:
                c.close()
            except Exception:  # noqa: BLE001 - closing twice is fine
                pass

    def catch_up(self, timeout: float = 5.0) -> None:
        """Wait (bounded) until the consumers have handled every order event written so far: a read or a
        command that depends on them (an invoice of a shipment just recorded) sees it."""
        ev = getattr(self.service, "events", None)
        if ev is not None:
            ev.wait_idle(timeout)

    # ------------------------------------------------------------------ clock, prices, amounts
    def business_date(self) -> dt.date:
        """The one business clock: ``clock.business_date``, else the served snapshot's as_of day."""
        return self.settings.clock.business_date or self.service.snap.as_of

    def order(self, order_id: str) -> Any:
        """The order (NotFoundError when unknown)."""
        o = self.service.orders.get(order_id)
        if o is None:
            raise NotFoundError(f"order {order_id!r} does not exist")
        return o

    def _catalogue_price(self, item: str) -> Decimal:
        snap = self.service.snap
        return _dec(float(snap.item_price[snap.item_index[item]]))

    def _catalogue_cost(self, item: str) -> Decimal:
        snap = self.service.snap
        return _dec(float(snap.item_cost[snap.item_index[item]]))

    def currency_of(self, order: Any) -> str:
        """The order's currency: its lines' priced waterfalls, else ``o2c.currency``."""
        for ln in order.lines:
            wf = getattr(ln, "waterfall", None)
            if wf is not None:
                return wf.net.currency
        return self.settings.o2c.currency

    def line_input(self, order: Any, ln: Any, qty: float, *, qty_before: float = 0.0) -> LineInput:
        """The invoice line for `qty` units of order line `ln` (`qty_before` of it invoiced earlier)."""
        wf = getattr(ln, "waterfall", None)
        if wf is not None:
            priced = PricedLine(str(ln.line), ln.item, wf.qty, wf.net, wf.tax, wf.tax_rate)
            li = prorate(priced, qty_before=_dec(qty_before), qty=_dec(qty))
            return dataclasses.replace(li, description=ln.item)
        price = _dec(ln.unit_price) if ln.unit_price is not None else self._catalogue_price(ln.item)
        return LineInput(item=ln.item, qty=_dec(qty), unit_net=Money.of(price, self.currency_of(order)),
                         tax_rate=Decimal(self.settings.o2c.tax_rate), line_ref=str(ln.line), description=ln.item)

    def unit_net(self, order: Any, ln: Any) -> Money:
        """The net price of one unit of a line (channel accruals)."""
        wf = getattr(ln, "waterfall", None)
        if wf is not None:
            return Money(wf.net.amount / wf.qty, wf.net.currency)
        price = _dec(ln.unit_price) if ln.unit_price is not None else self._catalogue_price(ln.item)
        return Money.of(price, self.currency_of(order))

    def value_of(self, lines: list[LineInput], currency: str) -> Money:
        """The total (net + tax) an invoice of these lines has."""
        return sum((build_line(li, currency=currency, field=f"lines[{i}]").total for i, li in enumerate(lines)),
                   Money.zero(currency))

    def order_total(self, order: Any) -> Money:
        """What the whole order costs (net + tax of every line): what a customer pays."""
        cur = self.currency_of(order)
        return self.value_of([self.line_input(order, ln, ln.qty) for ln in order.lines if ln.qty > 0], cur)

    def _shipped_before(self, ev: OrderEvent) -> dict[int, float]:
        out: dict[int, float] = {}
        for e in read_events(self.store, 0, limit=100_000, order_id=ev.order_id):
            if e.id >= ev.id:
                break
            if e.kind is EventKind.SHIPPED:
                for k, q in e.lines.items():
                    out[k] = out.get(k, 0.0) + q
        return out

    def shipment_lines(self, ev: OrderEvent) -> tuple[Any, list[LineInput]]:
        """(order, invoice lines) of a shipped event: each shipped line with its shipped quantity."""
        order = self.order(ev.order_id)
        before = self._shipped_before(ev) if any(getattr(ln, "waterfall", None) is not None for ln in order.lines) else {}
        lines = []
        for no, qty in sorted(ev.lines.items()):
            ln = order.line(no)
            if ln is not None and qty > 0:
                lines.append(self.line_input(order, ln, qty, qty_before=before.get(no, 0.0)))
        return order, lines

    def shipped_through(self, ev: OrderEvent) -> dict[int, float]:
        """Quantities shipped per line of the event's order by the shipped events up to and including `ev`."""
        out = self._shipped_before(ev)
        if ev.kind is EventKind.SHIPPED:
            for k, q in ev.lines.items():
                out[k] = out.get(k, 0.0) + q
        return out

    def terms(self, customer: str | None = None) -> PaymentTerms:
        """The payment terms of `customer`'s invoices: the customer master's (``net 45``: due 45 days after issue;
        ``due on receipt`` and ``prepaid``: due on issue), else ``o2c.payment_terms_days`` (no master, unknown
        customer)."""
        c = self.service.commerce.customer(customer) if customer is not None else None
        if c is not None:
            days = c.payment_terms.days if c.payment_terms.kind == "net" else 0
            return PaymentTerms(days, str(c.payment_terms))
        days = self.settings.o2c.payment_terms_days
        return PaymentTerms(days, f"net {days}")

    def order_request(self, ev: OrderEvent) -> InvoiceRequest:
        """The per-order invoice request of a complete order (source_ref: the order id, so it is invoiced once): each
        line with what shipped of it up to `ev`, at its priced amounts for that quantity."""
        order = self.order(ev.order_id)
        lines = []
        for no, qty in sorted(self.shipped_through(ev).items()):
            ln = order.line(no)
            if ln is not None and qty > 0:
                lines.append(self.line_input(order, ln, qty))
        return InvoiceRequest(ev.order_id, ev.order_id, order.customer, self.currency_of(order), lines, self.terms(order.customer))

    def shipment_request(self, ev: OrderEvent) -> InvoiceRequest:
        """The invoice request of a shipped event (source_ref: the event's ref, so it is invoiced once)."""
        order, lines = self.shipment_lines(ev)
        return InvoiceRequest(ev.ref, ev.order_id, order.customer, self.currency_of(order), lines, self.terms(order.customer))

    # ------------------------------------------------------------------ invoicing mode
    def invoice_mode(self, order_id: str, *, customer: str | None = None) -> tuple[InvoiceMode, str]:
        """(mode, where it comes from) of an order: ``order`` (set for the order, or fixed at its first shipment),
        ``customer`` (set for the customer through the API), ``settings.customer`` (``o2c.invoice_mode_by_customer``)
        or ``settings`` (``o2c.invoice_mode``)."""
        if customer is None:
            customer = self.order(order_id).customer
        with self.lock:
            rec = self._modes.get(f"order:{order_id}")
            if rec is not None:
                return InvoiceMode(rec["mode"]), "order"
            rec = self._modes.get(f"customer:{customer}")
            if rec is not None:
                return InvoiceMode(rec["mode"]), "customer"
        by = self.settings.o2c.invoice_mode_by_customer.get(customer)
        if by is not None:
            return InvoiceMode(by), "settings.customer"
        return InvoiceMode(self.settings.o2c.invoice_mode), "settings"

    @staticmethod
    def _mode_of(mode: Any) -> InvoiceMode:
        try:
            return InvoiceMode(mode)
        except ValueError:
            raise ValidationError("unknown invoicing mode", field="mode", value=mode,
                                  hint="one of " + ", ".join(m.value for m in InvoiceMode)) from None

    def set_order_invoice_mode(self, order_id: str, mode: Any) -> tuple[InvoiceMode, str]:
        """Invoice this order per shipment or per order (durable before it returns). Refused (ConflictError) once
        something of the order shipped: its invoices follow the mode it shipped under."""
        m = self._mode_of(mode)
        order = self.order(order_id)
        with self.lock:
            if any(ln.shipped_qty > 0 for ln in order.lines) or f"order:{order_id}" in self._pinned:
                now, _ = self.invoice_mode(order_id, customer=order.customer)
                if now == m:
                    return now, "order"
                raise ConflictError(f"order {order_id} has shipped: it is invoiced {now.value}",
                                    hint="choose the invoicing mode before the first shipment")
            rec = {"mode": m.value, "pinned": False}
            self.store.put_records([("invoice_modes", f"order:{order_id}", rec)])
            self._modes[f"order:{order_id}"] = rec
            return m, "order"

    def set_customer_invoice_mode(self, customer: str, mode: Any) -> InvoiceMode:
        """Invoice this customer's orders per shipment or per order (durable before it returns); orders that have
        shipped keep the mode they shipped under, an order's own choice comes first."""
        m = self._mode_of(mode)
        if not isinstance(customer, str) or not customer.strip():
            raise ValidationError("must be a customer id", field="customer", value=customer)
        with self.lock:
            rec = {"mode": m.value}
            self.store.put_records([("invoice_modes", f"customer:{customer}", rec)])
            self._modes[f"customer:{customer}"] = rec
            return m

    def pin_invoice_mode(self, order_id: str) -> tuple[InvoiceMode, list[tuple[str, str, Any]]]:
        """The mode an order is invoiced under, fixed at its first shipment (a later change for its customer does not
        mix the two modes on one order): (mode, the record to keep with the invoicing consumer's cursor)."""
        key = f"order:{order_id}"
        with self.lock:
            mode, _src = self.invoice_mode(order_id)
            if key in self._pinned:
                return mode, []
            rec = {"mode": mode.value, "pinned": True}
            self._modes[key] = rec
            self._pinned.add(key)
            return mode, [("invoice_modes", key, rec)]

    # ------------------------------------------------------------------ persistence
    def payment_records(self, order_id: str) -> list[tuple[str, str, Any]]:
        """The records to keep for an order's payments (``consumer_records`` kind ``payments``)."""
        return [("payments", order_id, self.payments.records(order_id))]

    def write_records(self, recs: list[tuple[str, str, Any]]) -> None:
        """Write records durably in the order their snapshots were taken (call with the snapshot just taken: this takes
        the hub's lock, then its write order)."""
        with self.lock, self.write_order:
            self.store.put_records(recs)

    def persist_payments(self, order_id: str, *, events: dict[str, dict] | None = None) -> None:
        """Write an order's payment records (and webhook outcomes) durably, then book the money against its invoices."""
        with self.lock:
            recs = self.payment_records(order_id) + [("webhook_events", k, v) for k, v in (events or {}).items()]
            with self.write_order:
                self.store.put_records(recs)
        self.sync_settlement(order_id)

    def sync_settlement(self, order_id: str) -> None:
        """Book the order's net money in (captured - refunded) against its invoices, once per change."""
        # an order without an invoice has nothing to book: read before taking the hub's lock (webhooks are applied
        # meanwhile). An invoice issued after this read books the money itself (its consumer calls this again, and
        # reads the payments in memory, which already hold what is being written)
        if not any(d.kind == DocumentKind.INVOICE for d in self.invoicer.store.documents(order=order_id)):
            return
        with self.lock:
            docs = self.invoicer.store.documents(order=order_id)
            if not any(d.kind == DocumentKind.INVOICE for d in docs) or not self.payments.payments_of(order_id):
                return
            summ = self.payments.summary(order_id)
            net = summ.captured - summ.refunded
            done = self.invoicer.store.settlements(d.number for d in docs)
            settled = sum((s.amount for s in done), Money.zero(net.currency))
            delta = net - settled
            if not delta.is_zero():
                n = len({s.ref.rsplit("#", 1)[0] for s in done})
                self.invoicer.settle_order(order_id, delta, ref=f"{order_id}/S{n + 1}", date=self.business_date())

    # ------------------------------------------------------------------ payments
    def pay(self, order_id: str, *, method: str, amount: Decimal | None, token: str | None, key: str | None = None) -> Any:
        """Open a payment of `amount` (default: the order's total not yet covered) by `method` and ask the
        provider to authorize it. `key` (an Idempotency-Key) answers the same payment again. Returns it."""
        with self.lock:
            if key is not None:
                known = self.store.records("payment_keys").get(key)
                if known is not None:
                    return self.payments.payment(known["payment_id"])
            order = self.order(order_id)
            cur = self.currency_of(order)
            if amount is None:
                summ = self.payments.summary(order_id, currency=cur)
                due = self.order_total(order) - summ.expected
                if due.amount <= 0:
                    raise ConflictError(f"order {order_id} is covered by its payments ({summ.expected})",
                                        hint="give an amount to pay more")
                money = due
            else:
                money = Money.of(amount, cur)
            p = self.payments.open(order=order_id, method=method, amount=money, business_date=self.business_date(), token=token)
            if p.kind != MethodKind.BANK_TRANSFER:
                self.payments.authorize(p.payment_id)
            recs = self.payment_records(order_id)
            if key is not None:
                recs.append(("payment_keys", key, {"payment_id": p.payment_id}))
            with self.write_order:
                self.store.put_records(recs)
            return p

    def _payment_cmd(self, payment_id: str, fn) -> Any:
        with self.lock:
            p = self.payments.payment(payment_id)
            out = fn(p)
            self.persist_payments(p.order)
            return out

    def capture(self, payment_id: str, amount: Decimal | None, *, key: str | None) -> Any:
        """Capture `amount` (default: all open) of an authorized payment; durable before it returns."""
        return self._payment_cmd(payment_id, lambda p: self.payments.capture(
            payment_id, None if amount is None else Money.of(amount, p.currency), key=key))

    def refund(self, payment_id: str, amount: Decimal, *, key: str, reason: str = "") -> Any:
        """Refund `amount` of what a payment captured (above refundable: ValidationError naming ``amount``)."""
        return self._payment_cmd(payment_id, lambda p: self.payments.refund(payment_id, Money.of(amount, p.currency),
                                                                             key=key, reason=reason))

    def void(self, payment_id: str) -> Any:
        """Release what is still open on a payment."""
        return self._payment_cmd(payment_id, lambda p: self.payments.void(payment_id, note="voided by request"))

    def confirm_transfer(self, payment_id: str, amount: Decimal, *, reference: str) -> Any:
        """A bank transfer arrived (partial transfers add up)."""
        return self._payment_cmd(payment_id, lambda p: self.payments.confirm_transfer(
            payment_id, Money.of(amount, p.currency), reference=reference))

    def webhook(self, provider: str, body: bytes, signature: str | None, *, now: float) -> Any:
        """Verify and apply a provider's webhook once; what it changed (the payment, its outcome by event id) is
        durable before it returns, written by group commit with the webhooks handled meanwhile (``_WebhookWriter``).
        A webhook that changes nothing (a duplicate, a notification of an operation already settled, an unknown
        payment) writes nothing: it answers once what it saw of its order is durable (at once, unless a change of
        the order is still being written), and the same delivery again gets the same answer. A close waiting for the order's provider is tried again once the webhook is durable."""
        with self.lock:
            out, order_id, ticket = self._apply_webhook(provider, body, signature, now)
        self._webhooks.wait(ticket)
        if order_id is not None and order_id in self._closing:
            with self.lock:
                self.retry_close(order_id)
        return out

    async def webhook_async(self, provider: str, body: bytes, signature: str | None, *, now: float) -> Any:
        """`webhook` for an event loop: verified and applied in the calling (loop) thread when the hub's lock is free,
        the group commit awaited without holding a thread (``_WebhookWriter.wait_async``; a duplicate whose order is
        durable answers at once); when the lock is busy (a command or a batch snapshot holds it) the whole webhook runs
        in a worker thread instead, so the loop never blocks on the lock."""
        if not self.lock.acquire(blocking=False):
            return await asyncio.to_thread(self.webhook, provider, body, signature, now=now)
        try:
            out, order_id, ticket = self._apply_webhook(provider, body, signature, now)
        finally:
            self.lock.release()
        await self._webhooks.wait_async(ticket)
        if order_id is not None and order_id in self._closing:
            await asyncio.to_thread(self._retry_close_locked, order_id)
        return out

    def _retry_close_locked(self, order_id: str) -> None:
        with self.lock:
            self.retry_close(order_id)

    def _apply_webhook(self, provider: str, body: bytes, signature: str | None, now: float) -> tuple[Any, str | None, int]:
        """Verify and apply (call under the hub's lock): the outcome, the order it changed (None: nothing changed) and
        the ticket to wait for before answering."""
        out = self.payments.handle_webhook(provider, body, signature, now=now)
        if out.applied and not out.duplicate:
            order_id = self.payments.payment(out.payment_id).order
            return out, order_id, self._webhooks.submit(order_id, out.event_id, self.payments.seen_event(out.event_id))
        # nothing changed: wait only for what changed its order and is not durable yet (a duplicate in flight)
        return out, None, self._webhooks.ticket_of(self.payments.payment(out.payment_id).order if out.payment_id else None)

    def payments_view(self, order_id: str) -> dict[str, Any]:
        """An order's payments: the summary, each payment with its trail, invoiced and credited totals."""
        order = self.order(order_id)
        self.catch_up()
        cur = self.currency_of(order)
        summ = self.payments.summary(order_id, currency=cur)
        inv, cr = self.invoicer.order_totals(order_id)
        total = self.order_total(order)
        credited = cr if cr.currency == cur else Money.zero(cur)
        net, due = summ.captured - summ.refunded, total - credited
        live = [p for p in self.payments.payments_of(order_id) if p.state not in (PaymentState.FAILED, PaymentState.VOIDED,
                                                                               PaymentState.EXPIRED)]
        if summ.captured.amount > 0 and summ.refunded >= summ.captured:
            status = "refunded"
        elif summ.captured.amount > 0 and net >= due:
            status = "paid"
        elif summ.captured.amount > 0:
            status = "partially_paid"
        elif live:
            status = "authorized" if any(p.state == PaymentState.AUTHORIZED for p in live) else "pending"
        else:
            status = "unpaid"
        return {"order_id": order_id, "currency": summ.currency, "order_total": total, "status": status,
                "expected": summ.expected, "captured": summ.captured, "refunded": summ.refunded, "open": summ.open,
                "invoiced": inv if inv.currency == cur else Money.zero(cur), "credited": cr if cr.currency == cur else Money.zero(cur),
                "payments": self.payments.payments_of(order_id)}

    # ------------------------------------------------------------------ closing an order
    def owed(self, order_id: str, *, upto: int | None = None) -> Money:
        """What the customer owes for an order: what its invoices for the shipments up to audit id `upto` (None: all)
        come to - computed from the order events by the functions the ``invoicing`` consumer issues them with
        (per shipment: each shipped event's lines; per order: everything shipped), so it does not wait for that
        consumer - minus what its credit notes credited."""
        order = self.order(order_id)
        cur = self.currency_of(order)
        mode, _src = self.invoice_mode(order_id, customer=order.customer)
        events = [e for e in read_events(self.store, 0, limit=100_000, order_id=order_id)
                  if e.kind is EventKind.SHIPPED and (upto is None or e.id <= upto)]
        owed = Money.zero(cur)
        if mode is InvoiceMode.PER_ORDER:
            shipped: dict[int, float] = {}
            for e in events:
                for k, q in e.lines.items():
                    shipped[k] = shipped.get(k, 0.0) + q
            lines = [self.line_input(order, order.line(no), q) for no, q in sorted(shipped.items())
                     if order.line(no) is not None and q > 0]
            owed = self.value_of(lines, cur) if lines else owed
        else:
            for e in events:
                _order, lines = self.shipment_lines(e)
                if lines:
                    owed = owed + self.value_of(lines, cur)
        _inv, cr = self.invoicer.order_totals(order_id)
        return owed - (cr if cr.currency == cur else Money.zero(cur))

    def _cod_due(self, order_id: str, upto: int | None) -> bool:
        """True while cash on delivery is still open and units shipped by audit id `upto` (None: all) are not
        delivered: the carrier collects for them at delivery, so the close must not release it yet."""
        if not any(p.kind == MethodKind.CASH_ON_DELIVERY and p.open_amount().amount > 0
                   for p in self.payments.payments_of(order_id)):
            return False
        shipped = delivered = 0.0
        for e in read_events(self.store, 0, limit=100_000, order_id=order_id):
            if upto is not None and e.id > upto:
                break
            if e.kind is EventKind.SHIPPED:
                shipped += sum(e.lines.values())
            elif e.kind is EventKind.DELIVERED:
                delivered += sum(e.lines.values())
        return shipped - delivered > 1e-9

    def close_payments(self, order_id: str, *, key: str, upto: int | None = None) -> tuple[Any, bool]:
        """Settle the payments of an order that was closed (cancelled or rejected, with or without a part shipped):
        release what is open and refund, to the original methods, what was captured beyond what it owes
        (``payments.PaymentBook.close_order`` with ``owed`` = :meth:`owed`: invoiced - credited, 0 when nothing shipped).
        `key` (the cancel event's ref) makes it retry-safe. The close waits (kept as a ``payment_close`` record),
        changing nothing, while a capture or refund still waits for its provider (a webhook of the order tries it
        again, :meth:`webhook`) and while cash on delivery is open for units shipped and not yet delivered (by audit
        id `upto`; the delivery tries it again). Returns (CloseResult or None, whether the close is still waiting)."""
        with self.lock:
            ps = self.payments.payments_of(order_id)
            if not ps:
                return None, False
            if self._cod_due(order_id, upto):
                self._closing[order_id] = key
                return None, True
            cur = ps[0].currency
            owed = self.owed(order_id, upto=upto)
            if owed.currency != cur:
                raise ConflictError(f"order {order_id}: its payments are in {cur}, its invoices in {owed.currency}")
            try:
                res = self.payments.close_order(order_id, owed, key=key)
            except ConflictError as e:
                log.info("order %s: close waits for the provider (%s)", order_id, e)
                self._closing[order_id] = key  # nothing released yet: a capture in flight must still land
                return None, True
            self._closing.pop(order_id, None)
            return res, False

    def close_records(self, order_id: str, key: str, *, waiting: bool) -> list[tuple[str, str, Any]]:
        """The record of an order's close (kind ``payment_close``): its key and whether it still waits."""
        return [("payment_close", order_id, {"key": key, "waiting": waiting})]

    def retry_close(self, order_id: str) -> None:
        """Try again a close that waited (after a webhook for the order was applied)."""
        key = self._closing.get(order_id)
        if key is None:
            return
        _res, waiting = self.close_payments(order_id, key=key)
        if not waiting:
            with self.lock, self.write_order:
                self.store.put_records(self.close_records(order_id, key, waiting=False) + self.payment_records(order_id))
            self.sync_settlement(order_id)

    def cash_view(self, order_id: str) -> dict[str, Any]:
        """An order's order-to-cash state in one view, on the business clock: the payment status with what is
        authorized (open on authorized payments), pending (bank transfers awaited), captured and refunded; its
        invoices and credit notes with what is open on each (``paid``, ``open``, or ``overdue`` past its due date;
        credit notes ``credit``), invoiced, credited and the open balance; its invoicing mode; its returns
        (``open``: authorized or partly received) with the quantity still expected and the day it is due."""
        pay = self.payments_view(order_id)  # catches up with the consumers first
        order = self.order(order_id)
        cur = pay["currency"]
        today = self.business_date()
        live = [p for p in pay["payments"] if p.currency == cur]
        authorized = sum((p.open_amount() for p in live if p.state in (PaymentState.AUTHORIZED, PaymentState.PARTIALLY_CAPTURED,
                                                                        PaymentState.PARTIALLY_REFUNDED)), Money.zero(cur))
        pending = sum((p.open_amount() for p in live if p.state == PaymentState.PENDING), Money.zero(cur))
        docs = []
        with self.lock:
            for b in self.invoicer.order_balances(order_id):
                d = b.document
                if d.kind != DocumentKind.INVOICE:
                    state = "credit"
                elif b.open.amount <= 0:
                    state = "paid"
                else:
                    state = "overdue" if d.due_date < today else "open"
                docs.append({"number": d.number, "kind": str(d.kind), "issue_date": d.issue_date, "due_date": d.due_date,
                             "total": d.total, "credited": b.credited, "settled": b.settled, "open": b.open, "state": state})
            rmas = list(self.returns.of_order(order_id))
            within = dt.timedelta(days=self.returns.settings.receive_within_days)
        open_states = (ReturnState.AUTHORIZED, ReturnState.PARTIALLY_RECEIVED)
        rets = [{"rma_id": r.rma_id, "state": str(r.state), "qty": r.qty, "received": r.received,
                 "expected": max(0.0, r.qty - r.received) if r.state in open_states else 0.0,
                 "due_day": r.authorized_on + within, "open": r.state in open_states} for r in rmas]
        inv_open = sum((x["open"] for x in docs if x["kind"] == str(DocumentKind.INVOICE)), Money.zero(cur))
        mode, src = self.invoice_mode(order_id, customer=order.customer)
        return {"order_id": order_id, "customer": order.customer, "order_status": str(order.status), "today": today,
                "currency": cur, "payment_status": pay["status"], "order_total": pay["order_total"],
                "authorized": authorized, "pending": pending, "captured": pay["captured"], "refunded": pay["refunded"],
                "invoiced": pay["invoiced"], "credited": pay["credited"], "open_balance": inv_open,
                "invoice_mode": mode.value, "invoice_mode_source": src, "invoices": docs,
                "invoices_open": sum(1 for x in docs if x["state"] in ("open", "overdue")),
                "invoices_paid": sum(1 for x in docs if x["state"] == "paid"),
                "returns": rets, "returns_open": sum(1 for r in rets if r["open"])}

    # ------------------------------------------------------------------ returns
    def _invoice_line(self, order_id: str, line: int, invoice: str | None) -> tuple[Any, Any]:
        docs = [d for d in self.invoicer.store.documents(order=order_id) if d.kind == DocumentKind.INVOICE]
        if invoice is not None:
            docs = [d for d in docs if d.number == invoice]
            if not docs:
                raise ValidationError(f"is not an invoice of order {order_id}", field="invoice", value=invoice)
        for d in reversed(docs):
            for dl in d.lines:
                if dl.line_ref == str(line):
                    return d, dl
        raise ValidationError(f"order {order_id} has no invoiced shipment of this line", field="line", value=line,
                              hint="a line can be returned once it shipped and was invoiced")

    def authorize_return(self, order_id: str, *, line: int, qty: float, reason: str, condition: str,
                         invoice: str | None = None, exchange: bool = False, exchange_item: str | None = None,
                         requested_date: dt.date | None = None, note: str = "") -> ReturnAuthorization:
        """Authorize the return of `qty` of a shipped order line (on its latest invoice, or `invoice`); durable."""
        order = self.order(order_id)
        self.catch_up()
        if exchange_item is not None and exchange_item not in self.service.snap.item_index:
            raise ValidationError("unknown item", field="exchange_item", value=exchange_item)
        with self.lock:
            doc, dl = self._invoice_line(order_id, line, invoice)
            ln = order.line(line)
            shipped = ReturnShippedLine(order_id, f"{line}@{doc.number}", ln.item, float(dl.qty), customer=order.customer,
                                        shipped_from=ln.location or "", invoice=doc.number, line_ref=dl.line_ref)
            rid = f"RMA{len(self._rma_meta) + 1:07d}"
            rma = self.returns.authorize(shipped, qty=qty, reason=reason, condition=condition, business_date=self.business_date(),
                                         exchange=exchange, exchange_item=exchange_item, requested_date=requested_date,
                                         note=note, rma_id=rid)
            meta = {"shipped": dataclasses.asdict(shipped), "qty": rma.qty, "reason": str(rma.reason),
                    "condition": str(rma.condition), "authorized_on": rma.authorized_on.isoformat(), "exchange": exchange,
                    "exchange_item": exchange_item, "requested_date": requested_date.isoformat() if requested_date else None,
                    "note": note, "line": line}
            try:
                self.store.put_records([("returns", rid, meta)])
            except BaseException:
                self.returns._rmas.pop(rid, None)
                self.returns._by_line.get((order_id, shipped.line), []).remove(rid)
                raise
            self._rma_meta[rid] = meta
            return rma

    def receive_return(self, rma_id: str, *, location: str, date: dt.date | None, qty: float | None, condition: str | None,
                       actor: str, idem: Idem | None) -> tuple[ReturnReceipt, bool]:
        """Receive returned goods: the order book writes the ``return`` event and, for sellable goods, the supply
        (one durable write), then the return book records the receipt. Returns (receipt, replayed)."""
        from returns.model import Condition

        with self.lock:
            rma = self.returns.get(rma_id)
            if rma.state not in (ReturnState.AUTHORIZED, ReturnState.PARTIALLY_RECEIVED):
                if idem is not None and rma.receipts:
                    stored = self.store.idempotency(idem.key)
                    if stored is not None and stored[0] == idem.request_hash:
                        return rma.receipts[-1], True
                raise ConflictError(f"return {rma_id}: cannot receive in state {rma.state}")
            day = date or self.business_date()
            left = rma.qty - rma.received
            q = left if qty is None else float(qty)
            if q <= 0 or q > left + 1e-9:
                raise ValidationError(f"more than still expected on return {rma_id} ({left:g})", field="qty", value=qty)
            if location not in self.service.snap.location_index:
                raise ValidationError("unknown location", field="location", value=location)
            try:
                cond = Condition(condition) if condition is not None else rma.condition
            except ValueError:
                raise ValidationError("unknown condition", field="condition", value=condition,
                                      hint="one of " + ", ".join(c.value for c in Condition)) from None
            ref = f"{rma_id}/{len(rma.receipts) + 1}"
            sellable = cond in self.returns.settings.sellable_conditions
            supply = SupplyDelta(rma.item, location, day, q, kind="receipt", ref=ref) if sellable else None
            line = int(self._rma_meta[rma_id]["line"])
            _status, _body, replayed = record_return(
                self.service, rma.order, receipt=ref, rma=rma_id, lines={line: q}, location=location, date=day,
                condition=str(cond), supply=supply, actor=actor, idem=idem, extra={"invoice": rma.shipped.invoice})
            if replayed:
                return rma.receipts[-1], True
            rec = self.returns.receive(rma_id, location=location, date=day, qty=q, condition=str(cond))
            return rec, False

    def _receipt(self, ref: str) -> ReturnReceipt:
        rma_id = ref.rsplit("/", 1)[0]
        for rec in self.returns.get(rma_id).receipts:
            if rec.ref == ref:
                return rec
        raise NotFoundError(f"receipt {ref!r} is not known")

    def _refund_receipt(self, rec: ReturnReceipt) -> Any:
        """Credit a receipt on its invoice and refund it to the original methods (credit only when the order's
        payments cannot refund it; what is owed back is then settled when the order is closed)."""
        rma = self.returns.get(rec.rma_id)
        try:
            return self.returns.refund_receipt(rec, invoicer=self.invoicer, payments=self.payments, issue_date=self.business_date())
        except (NotFoundError, ValidationError) as e:
            if getattr(e, "field", None) == "shipped.invoice":
                raise
            log.info("return %s: credited without a refund (%s)", rec.ref, e)
            cn = self.invoicer.credit_return(rma.shipped.invoice, [ReturnCredit(rma.shipped.line_ref, rec.qty)],
                                             source_ref=rec.ref, issue_date=self.business_date(), reason=str(rma.reason))
            if cn.number not in rma.credit_notes:
                rma.credit_notes.append(cn.number)
            return None

    def refund_return(self, rma_id: str) -> ReturnAuthorization:
        """Credit and refund every receipt of a return not yet refunded (idempotent); durable before it returns."""
        self.catch_up()
        with self.lock:
            rma = self.returns.get(rma_id)
            if not rma.receipts:
                raise ConflictError(f"return {rma_id}: nothing was received yet", hint="receive the goods first")
            for rec in rma.receipts:
                self._refund_receipt(rec)
            self.persist_payments(rma.order)
            return rma

    def exchange(self, rma_id: str, *, actor: str, idem: Idem | None, location: str | None = None) -> tuple[ReturnAuthorization, str]:
        """Promise the replacement of an exchange as a new order (same customer and zone, the exchange's item,
        quantity and requested date, priced by the rules) and link it to the return. Returns (rma, order id)."""
        import json

        with self.lock:
            rma = self.returns.get(rma_id)
            xr = rma.exchange_request
            if xr is None:
                raise ValidationError("is not an exchange", field="rma_id", value=rma_id,
                                      hint="authorize the return with exchange: true")
            if rma.replacement_line:
                return rma, rma.replacement_line.rsplit("/", 1)[0]
            orig = self.order(rma.order)
            ln = orig.line(int(self._rma_meta[rma_id]["line"]))
            body = {"customer": orig.customer, "zone": orig.zone, "source_system": "exchange",
                    "lines": [{"item": xr.item, "qty": xr.qty, "requested_date": xr.requested_date.isoformat(),
                               **({"location": location or ln.requested_location} if (location or ln.requested_location) else {})}]}
            if orig.ship_to:
                body["ship_to"] = orig.ship_to
            data = OrderCreate.model_validate({k: v for k, v in body.items() if k in OrderCreate.model_fields})
            _status, out, _replayed = self.service.capture(data, actor=actor, idem=idem)
            new_id = json.loads(out)["order_id"]
            self.returns.link_replacement(rma_id, f"{new_id}/1")
            meta = {**self._rma_meta[rma_id], "replacement_line": f"{new_id}/1"}
            self.store.put_records([("returns", rma_id, meta)])
            self._rma_meta[rma_id] = meta
            return rma, new_id

    def returns_of(self, order_id: str) -> list[ReturnAuthorization]:
        """An order's return authorizations, oldest first."""
        self.order(order_id)
        self.catch_up()
        return self.returns.of_order(order_id)

    # ------------------------------------------------------------------ jeopardy
    def cash_items(self, today: dt.date) -> list[CashItem]:
        """Order-to-cash items past their due day on the business day `today` (``ordertocash.jeopardy.cash_items``):
        the cash source the composition root hands the jeopardy monitor."""
        self.catch_up()
        with self.lock:
            return cash_items(self.invoicer, self.returns, today, currency=self.settings.o2c.currency)

    # ------------------------------------------------------------------ channel
    def define_programs(self, programs: list) -> None:
        """Add or replace supplier programs (unchanged ones are not journalled again)."""
        st = self.ledger.state
        changed = [p for p in programs if p.program not in st.programs or st.programs[p.program].to_dict() != p.to_dict()]
        if changed:
            self.ledger.define_programs(changed)
        self._suppliers.clear()

    def supplier_of(self, item: str) -> str | None:
        """The supplier of an item: the snapshot's ``supplier`` column, else the first program (by id) naming
        the item, its category or its brand; None when neither says."""
        if item in self._suppliers:
            return self._suppliers[item]
        snap = self.service.snap
        items = snap.tables["items"]
        row = items.filter(items["item"] == item)
        sup = None
        if "supplier" in items.columns and row.height and row["supplier"][0]:
            sup = str(row["supplier"][0])
        else:
            cat = str(row["category"][0]) if row.height and "category" in items.columns and row["category"][0] is not None else ""
            brand = str(row["brand"][0]) if row.height and "brand" in items.columns and row["brand"][0] is not None else ""
            for pid in sorted(self.ledger.state.programs):
                p = self.ledger.state.programs[pid]
                if item in p.items or (cat and cat in p.categories) or (brand and brand in p.brands):
                    sup = p.supplier
                    break
        self._suppliers[item] = sup
        return sup

    def shipped_lines(self, ev: OrderEvent) -> list[ShippedLine]:
        """The channel's shipped lines of a shipped event (lines of items with no known supplier are left out)."""
        order = self.order(ev.order_id)
        out = []
        for no, qty in sorted(ev.lines.items()):
            ln = order.line(no)
            sup = self.supplier_of(ln.item) if ln is not None else None
            if ln is None or sup is None or qty <= 0:
                continue
            out.append(self._channel_line(order, ln, shipment=f"{ev.ref}/L{no}", qty=_dec(qty), ship_date=ev.at.date(),
                                          supplier=sup))
        return out

    def _channel_line(self, order: Any, ln: Any, *, shipment: str, qty: Decimal, ship_date: dt.date,
                      supplier: str) -> ShippedLine:
        """`qty` units of order line `ln` as the channel's ``ShippedLine``: the item's category and brand from the
        snapshot, the line's unit net price (``unit_net``), the item master's unit cost."""
        items = self.service.snap.tables["items"]
        row = items.filter(items["item"] == ln.item)
        price = self.unit_net(order, ln)
        return ShippedLine(
            shipment=shipment, order=order.order_id, line=ln.line, item=ln.item,
            category=str(row["category"][0] or "") if "category" in items.columns else "",
            brand=str(row["brand"][0] or "") if "brand" in items.columns else "",
            customer=order.customer, segment="", channel=order.source_system or "", qty=qty, unit_price=price,
            unit_cost=Money.of(self._catalogue_cost(ln.item), price.currency), ship_date=ship_date, supplier=supplier)

    def margin(self, order_id: str) -> dict[str, Any]:
        """An order's margin with expected program income, per line and for the order (computed on each call, never
        stored; capture does not compute it).

        Per line: the stored pricing waterfall, the cost (units in the channel ledger at the unit cost recorded with
        their shipment, the other units at the item master's ``cost``), gross margin (net - cost), program income per
        program (accrued in the ledger for shipped units, net of returns; quoted for the units not shipped yet as if
        they shipped on the business day, each line alone against the ledger: ``channel.line_income``) and margin
        after program income. Order: the same sums, in the order's currency (program income in another currency is
        listed per program but not added). NotFoundError for an unknown order.
        """
        order = self.order(order_id)
        self.catch_up()
        today = self.business_date()
        cur = self.currency_of(order)
        zero = Money.zero(cur)
        lines = []
        with self.ledger.reading() as st:
            for ln in order.lines:
                qty, shipped = _dec(ln.qty), _dec(ln.shipped_qty)
                open_qty = max(qty - shipped, Decimal(0))
                wf = ln.waterfall
                unit = self.unit_net(order, ln) if wf is None or wf.qty != 0 else Money.zero(cur)
                net = wf.net if wf is not None and wf.qty == qty else Money(unit.amount * qty, cur).rounded()
                tax = wf.tax if wf is not None and wf.qty == qty else None
                sup = self.supplier_of(ln.item)
                ships = [st.shipments[s] for s in st.line_shipments.get((order_id, ln.line), ())]
                in_ledger = sum((s.qty for s in ships), Decimal(0))
                cat_cost = self._catalogue_cost(ln.item)
                cost = Money(sum((s.qty * s.unit_cost.amount for s in ships), Decimal(0))
                             + max(qty - in_ledger, Decimal(0)) * cat_cost, cur).rounded()
                quote = None
                if open_qty > 0 and sup is not None:
                    quote = self._channel_line(order, ln, shipment=f"quote:{order_id}/L{ln.line}", qty=open_qty,
                                               ship_date=today, supplier=sup)
                progs = line_income(st, order_id, ln.line, quote)
                income = sum((p.total for p in progs if p.total.currency == cur), zero)
                lines.append({"line": ln.line, "item": ln.item, "supplier": sup, "qty": qty, "shipped_qty": shipped,
                              "open_qty": open_qty, "waterfall": wf, "unit_net": unit, "net": net, "tax": tax,
                              "unit_cost": Money.of(cat_cost, cur), "cost": cost, "gross_margin": net - cost,
                              "programs": progs, "program_income": income, "margin": net - cost + income})
        tot = {k: sum((ln[k] for ln in lines), zero) for k in ("net", "cost", "gross_margin", "program_income", "margin")}
        by_prog: dict[str, dict[str, Any]] = {}
        for ln in lines:
            for p in ln["programs"]:
                b = by_prog.setdefault(p.program, {"program": p.program, "supplier": p.supplier, "kind": p.kind,
                                                   "accrued": Money.zero(p.accrued.currency),
                                                   "quoted": Money.zero(p.accrued.currency)})
                b["accrued"] = b["accrued"] + p.accrued
                b["quoted"] = b["quoted"] + p.quoted
        totals = order.totals
        return {"order_id": order_id, "customer": order.customer, "version": order.version, "currency": cur, "on": today,
                "tax": totals.tax if totals is not None and totals.currency == cur else None,
                "total": totals.total if totals is not None and totals.currency == cur else None,
                **tot, "programs": [by_prog[k] for k in sorted(by_prog)], "lines": lines}

    def returned_lines(self, ev: OrderEvent) -> list[ReturnedLine]:
        """The channel's returned lines of a returned event: the quantity taken back from the line's shipments,
        newest first (a receipt already recorded gives none)."""
        st = self.ledger.state
        receipt = ev.detail.get("receipt") or ev.ref
        if any(rid.startswith(f"{receipt}/L") for rid in st.returns):
            return []
        out = []
        for no, qty in sorted(ev.lines.items()):
            ships = sorted((s for s in st.shipments.values() if s.order == ev.order_id and s.line == no),
                           key=lambda s: int(s.shipment.rsplit("/E", 1)[1].split("/")[0]), reverse=True)
            rest = _dec(qty)
            for k, s in enumerate(ships):
                take = min(rest, st.net_qty(s.shipment))
                if take > 0:
                    out.append(ReturnedLine(f"{receipt}/L{no}/{k}", s.shipment, take, ev.at.date()))
                    rest -= take
                if rest <= 0:
                    break
        return out
