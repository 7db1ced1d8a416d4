"""The order-event consumers of order to cash (``orderbook.events.Consumer``).

Each follows the event stream from its own durable cursor; every effect is idempotent by event,
so an event handed over again after a crash changes nothing twice:

- ``invoicing``: per shipment (the order's invoicing mode, see ``OrderToCash.invoice_mode``), a
  shipped event is invoiced (``source_ref`` = the event's ref, with the shipped quantities); per
  order, the event that leaves the order complete (status ``shipped``: the last shipment, or a
  cancel of the rest) invoices everything shipped (``source_ref`` = the order id). The order's
  money is then booked against it. The mode is fixed at the order's first shipment.
- ``payments``: shipped -> the capture rule (``capture_shipment``, key = the event's ref);
  delivered -> cash on delivery collected for the delivered value; cancelled (or rejected) -> the
  order is closed (``OrderToCash.close_payments``, key = the event's ref): what is open is voided
  or released and what was captured beyond what it owes (invoiced - credited: a prepaid order
  cancelled after a partial shipment) is refunded to the original methods; returned -> the
  receipt is credited on its invoice and refunded to the original methods
  (``o2c.refund_on_receipt``). The order's payment records are written in the
  same transaction as the cursor.
- ``channel``: shipped lines and returned lines accrue (or reverse) supplier programs
  (``ChannelLedger.record(..., skip_known=True)``).
"""

from __future__ import annotations

from typing import Any

from invoicing.model import InvoiceMode
from orderbook.events import EventKind, OrderEvent
from payments.model import MethodKind
from payments.model import PaymentState as PS

#: Order statuses after which nothing more ships: a per-order invoice is issued when an event leads here.
_COMPLETE = frozenset({"shipped", "delivered"})


class InvoicingConsumer:
    """Shipped events -> invoices (see the module docstring)."""

    name = "invoicing"

    def __init__(self, hub: Any) -> None:
        self.hub = hub

    def handle(self, ev: OrderEvent) -> list[tuple[str, str, Any]] | None:
        """Per shipment: invoice a shipped event once. Per order: invoice the order once when an event leaves it
        complete (status ``shipped``: all shipped, or the rest cancelled). Returns the order's invoicing mode,
        fixed at its first shipment, to keep with the cursor."""
        hub = self.hub
        if ev.order_id not in hub.service.orders:
            return None
        pin: list[tuple[str, str, Any]] = []
        if ev.kind is EventKind.SHIPPED:
            mode, pin = hub.pin_invoice_mode(ev.order_id)
        elif ev.to_status in _COMPLETE and ev.from_status not in _COMPLETE:
            mode, _src = hub.invoice_mode(ev.order_id)
        else:
            return None
        if mode is InvoiceMode.PER_SHIPMENT:
            req = hub.shipment_request(ev) if ev.kind is EventKind.SHIPPED else None
            if req is not None and req.lines:
                hub.invoicer.invoice_shipment(req, issue_date=hub.business_date(), mode=mode)
                hub.sync_settlement(ev.order_id)
        elif ev.to_status in _COMPLETE:
            req = hub.order_request(ev)
            if req.lines:
                hub.invoicer.invoice_order(req, issue_date=hub.business_date(), mode=mode)
                hub.sync_settlement(ev.order_id)
        return pin or None


class PaymentsConsumer:
    """Shipped, delivered, cancelled and returned events -> payments (see the module docstring)."""

    name = "payments"

    def __init__(self, hub: Any) -> None:
        self.hub = hub

    def handle(self, ev: OrderEvent) -> None:
        """Apply the event to the order's payments and write the order's payment records at once, under the hub's
        lock and its write order (``hub.write_records``), so a webhook of the order written meanwhile is never
        overwritten by an older snapshot. The cursor follows in the dispatcher's transaction; handled again after a
        crash in between, the event changes nothing (its shipment, close or receipt key is in the records)."""
        hub = self.hub
        if ev.order_id not in hub.service.orders:
            return None
        book = hub.payments
        with hub.lock:
            if ev.kind is EventKind.SHIPPED:
                order, lines = hub.shipment_lines(ev)
                if not lines:
                    return None
                book.capture_shipment(ev.order_id, hub.value_of(lines, hub.currency_of(order)), key=ev.ref)
            elif ev.kind is EventKind.DELIVERED:
                collected = self._collect_cod(ev)
                key = hub._closing.get(ev.order_id)
                if key is None:
                    if not collected:
                        return None
                else:  # a close that waited for this delivery's cash
                    _res, waiting = hub.close_payments(ev.order_id, key=key, upto=ev.id)
                    hub.write_records(hub.payment_records(ev.order_id) + hub.close_records(ev.order_id, key, waiting=waiting))
                    hub.sync_settlement(ev.order_id)
                    return None
            elif ev.kind is EventKind.CANCELLED:
                if not book.payments_of(ev.order_id):
                    return None
                _res, waiting = hub.close_payments(ev.order_id, key=ev.ref, upto=ev.id)
                hub.write_records(hub.payment_records(ev.order_id) + hub.close_records(ev.order_id, ev.ref, waiting=waiting))
                hub.sync_settlement(ev.order_id)
                return None
            elif ev.kind is EventKind.RETURNED:
                if not hub.settings.o2c.refund_on_receipt or ev.detail.get("rma") not in hub._rma_meta:
                    return None
                hub._refund_receipt(hub._receipt(ev.detail["receipt"]))
            else:
                return None
            hub.write_records(hub.payment_records(ev.order_id))
        hub.sync_settlement(ev.order_id)
        return None

    def _collect_cod(self, ev: OrderEvent) -> bool:
        """Cash collected by the carrier for the delivered value (net + tax of the delivered quantities)."""
        hub = self.hub
        cod = [p for p in hub.payments.payments_of(ev.order_id)
               if p.kind == MethodKind.CASH_ON_DELIVERY and p.state in (PS.AUTHORIZED, PS.PARTIALLY_CAPTURED)]
        if not cod:
            return False
        order = hub.order(ev.order_id)
        cur = hub.currency_of(order)
        due = hub.value_of([hub.line_input(order, order.line(no), q) for no, q in sorted(ev.lines.items())
                            if order.line(no) is not None and q > 0], cur)
        for p in cod:
            if due.amount <= 0:
                break
            take = min(p.open_amount(), due)
            if take.amount > 0:
                hub.payments.collect_cod(p.payment_id, take, ref=ev.ref)
                due = due - take
        return True


class ChannelConsumer:
    """Shipped and returned events -> channel accruals (see the module docstring)."""

    name = "channel"

    def __init__(self, hub: Any) -> None:
        self.hub = hub

    def handle(self, ev: OrderEvent) -> None:
        """Record the event's shipped or returned lines in the channel ledger (known ones are skipped)."""
        hub = self.hub
        if ev.order_id not in hub.service.orders:
            return None
        if ev.kind is EventKind.SHIPPED:
            lines = hub.shipped_lines(ev)
        elif ev.kind is EventKind.RETURNED:
            lines = hub.returned_lines(ev)
        else:
            return None
        if lines:
            hub.ledger.record(lines, skip_known=True)
        return None


__all__ = ["ChannelConsumer", "InvoicingConsumer", "PaymentsConsumer"]
