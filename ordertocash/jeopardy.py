"""Order-to-cash jeopardy: what the invoices and the returns have past their due day.

:func:`cash_items` is the cash source the jeopardy monitor grades (``monitoring.cash``):

- every invoice with money still open after its due date (``Invoicer.overdue``: issue date +
  payment terms) -> reason ``unpaid_past_terms``, amount = what is open on it (total - credited -
  settled);
- every return authorised and not fully received ``o2c.receive_within_days`` after it was authorised
  (``ReturnBook.not_received``) -> reason ``return_not_received``, due day = authorised on + those
  days, amount = what the units still expected would credit: the invoice line's net + tax times
  ``still expected / invoiced qty``, rounded half up to the minor unit.

Both on the business day handed in, never the wall clock. The server's source is
``OrderToCash.cash_items``; :func:`open_cash_source` builds a read-only one over an order book and its
invoice store for ``promessa jeopardy --cash``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

from invoicing import Invoicer
from monitoring.cash import CashItem
from promessa.money import Money
from returns import ReturnBook


def _return_amount(invoicer: Invoicer, rma: Any, rest: Decimal) -> Money | None:
    inv = rma.shipped.invoice
    if not inv:
        return None
    try:
        doc = invoicer.store.get(inv)
    except Exception:  # noqa: BLE001 - an invoice the store does not have: no amount to show
        return None
    ref = rma.shipped.line_ref or rma.shipped.line
    dl = next((x for x in doc.lines if x.line_ref == ref), None)
    if dl is None or dl.qty <= 0:
        return None
    return Money(dl.total.amount * rest / dl.qty, dl.total.currency).rounded()


def cash_items(invoicer: Invoicer | None, returns: ReturnBook | None, today: dt.date, *,
               currency: str = "EUR") -> list[CashItem]:
    """Invoices unpaid past their terms and returns not received by their due day, on the business day `today`
    (see the module docstring). Either part may be None (nothing of that kind); `currency` is the zero amount's
    of a return whose invoice line cannot be found."""
    out: list[CashItem] = []
    if invoicer is not None:
        for b in invoicer.overdue(today):
            d = b.document
            out.append(CashItem("invoice", "unpaid_past_terms", d.order, d.customer, d.number, d.due_date, b.open,
                                detail=f"issued {d.issue_date.isoformat()}, total {d.total.amount} {d.currency}, "
                                       f"{d.terms or 'terms'}"))
    if returns is not None:
        within = dt.timedelta(days=returns.settings.receive_within_days)
        for rma in returns.not_received(today):
            rest = Decimal(repr(rma.qty)) - Decimal(repr(rma.received))
            amount = _return_amount(invoicer, rma, rest) if invoicer is not None else None
            if amount is None:
                amount = Money.zero(currency)
            out.append(CashItem("return", "return_not_received", rma.order, rma.shipped.customer, rma.rma_id,
                                rma.authorized_on + within, amount,
                                detail=f"{rest.normalize():f} of {rma.qty:g} {rma.item} expected since "
                                       f"{rma.authorized_on.isoformat()}"))
    return out


def open_cash_source(store: Any, settings: Any) -> tuple[Any, Any]:
    """A read-only cash source over an order book (`store`) and the invoice store `settings` name
    (``ordertocash.hub.stores_of``): ``(source, close)``. The return authorizations and receipts are replayed
    from the order book; nothing is written (a SQLite invoice store that does not exist is not created)."""
    from invoicing import InvoicingSettings
    from invoicing import open_store as open_invoice_store
    from ordertocash.hub import replay_returns, stores_of
    from returns.model import ReturnSettings

    where = stores_of(settings)
    invoicer = None
    if where.invoices.startswith(("postgresql://", "postgres://")) or Path(where.invoices).exists():
        invoicer = Invoicer(open_invoice_store(where.invoices, pg_schema=where.invoices_schema), InvoicingSettings())
    book = ReturnBook(ReturnSettings(receive_within_days=settings.o2c.receive_within_days))
    replay_returns(store, book)

    def source(today: dt.date) -> list[CashItem]:
        return cash_items(invoicer, book, today, currency=settings.o2c.currency)

    def close() -> None:
        if invoicer is not None:
            invoicer.store.close()

    return source, close


__all__ = ["cash_items", "open_cash_source"]
