"""Order-to-cash jeopardy items (ordertocash.jeopardy.cash_items) over a real invoice store and return book,
with hand-computed amounts."""

from __future__ import annotations

import datetime as dt

from invoicing import InvoiceRequest, Invoicer, LineInput, PaymentTerms, open_store
from monitoring.cash import cash_jeopardy
from monitoring.config import MonitoringConfig
from ordertocash.jeopardy import cash_items
from promessa.money import Money
from returns import ReturnBook, ShippedLine
from returns.model import ReturnSettings

D = dt.date(2026, 1, 5)


def eur(x: str) -> Money:
    return Money.of(x, "EUR")


def test_unpaid_invoices_and_returns_not_received(tmp_path):
    """INV1: 3 x 10.00/3 net (10.00, no tax) for O1, due 2026-01-15 (net 10), 4.00 settled: 6.00 open.
    INV2: 1 x 5.00 for O2, due 2026-01-15, settled in full: not listed.
    A return of 2 of O1's 3 units authorised on 2026-01-05, 1 received: with 7 days to receive, due 2026-01-12;
    the one unit still expected credits 10.00 x 1/3 = 3.33 (rounded half up).
    On 2026-01-12 (the return's due day) nothing is late; on 2026-01-16 the return is 4 days late (warning), INV1 1 day (watch)."""
    inv = Invoicer(open_store(tmp_path / "inv.sqlite"))
    terms = PaymentTerms(10, "net 10")
    one = inv.invoice_shipment(InvoiceRequest("O1/E1", "O1", "C1", "EUR", [
        LineInput("W", 3, eur("3.3333"), 0, net=eur("10.00"), tax=eur("0.00"), line_ref="1")], terms), issue_date=D)
    inv.invoice_shipment(InvoiceRequest("O2/E2", "O2", "C2", "EUR", [LineInput("W", 1, eur("5.00"), 0, line_ref="1")], terms),
                         issue_date=D)
    inv.settle_order("O1", eur("4.00"), ref="O1/S1", date=D)
    inv.settle_order("O2", eur("5.00"), ref="O2/S1", date=D)
    book = ReturnBook(ReturnSettings(receive_within_days=7))
    rma = book.authorize(ShippedLine("O1", "1@" + one.number, "W", 3, customer="C1", invoice=one.number, line_ref="1"),
                         qty=2, reason="defective", condition="new", business_date=D)
    book.receive(rma.rma_id, location="DC1", date=dt.date(2026, 1, 8), qty=1)
    assert cash_items(inv, book, dt.date(2026, 1, 12)) == []
    items = cash_items(inv, book, dt.date(2026, 1, 16))
    assert sorted((i.kind, i.order_id, i.customer, i.ref, i.due_date, i.amount) for i in items) == [
        ("invoice", "O1", "C1", one.number, dt.date(2026, 1, 15), eur("6.00")),
        ("return", "O1", "C1", rma.rma_id, dt.date(2026, 1, 12), eur("3.33"))]
    rows = cash_jeopardy(items, MonitoringConfig(), today=dt.date(2026, 1, 16))
    assert [(r["ref"], r["days_late"], r["level"]) for r in rows] == [(rma.rma_id, 4, "warning"), (one.number, 1, "watch")]
    inv.store.close()
