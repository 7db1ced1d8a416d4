"""Invoicing commands: invoices per shipment or per order, credit notes, settlements, listings.

:class:`Invoicer` turns the caller's plain inputs into drafts, checks them (refusals name the
field and the value and write nothing) and hands them to an :class:`InvoiceStore`, which numbers
and writes them in one transaction. Business dates are passed in (the one business clock).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Sequence
from decimal import Decimal

from promessa.errors import ConflictError, ValidationError
from promessa.money import Money, quantum

from invoicing.model import (
    CustomerStatement,
    DocLine,
    Document,
    DocumentBalance,
    DocumentDraft,
    DocumentKind,
    InvoiceMode,
    InvoicingSettings,
    LineInput,
    PaymentTerms,
    Settlement,
    build_line,
    decimal_of,
)
from invoicing.store import InvoiceStore


@dataclasses.dataclass(frozen=True, slots=True)
class InvoiceRequest:
    """What to invoice: one shipment (per-shipment mode) or one order (per-order mode).

    ``source_ref`` is the shipment id (or the order id in per-order mode): invoicing the same
    source again returns the invoice already issued.
    """

    source_ref: str
    order: str
    customer: str
    currency: str
    lines: Sequence[LineInput]
    terms: PaymentTerms


@dataclasses.dataclass(frozen=True, slots=True)
class ReturnCredit:
    """``qty`` of an invoice line (by its ``line_ref``) that came back."""

    line_ref: str
    qty: object


class Invoicer:
    """Issues invoices and credit notes into a store.

    Parameters
    ----------
    store : an :class:`InvoiceStore` (SQLite or PostgreSQL).
    settings : mode (per shipment or per order), series names, seller block.
    """

    def __init__(self, store: InvoiceStore, settings: InvoicingSettings | None = None) -> None:
        self.store = store
        self.settings = settings or InvoicingSettings()
        self.store.number_width = self.settings.number_width
        self._credit_lock = threading.Lock()  # credit checks read then write: one at a time in this process

    def _series(self, kind: DocumentKind, issue_date: dt.date) -> str:
        tpl = self.settings.invoice_series if kind == DocumentKind.INVOICE else self.settings.credit_series
        return tpl.format(year=issue_date.year)

    def draft_invoice(self, req: InvoiceRequest, *, issue_date: dt.date, field: str = "request") -> DocumentDraft:
        """Check an :class:`InvoiceRequest` and build its draft (nothing written). Refusals name ``field`` and the value."""
        for name in ("source_ref", "order", "customer"):
            v = getattr(req, name)
            if not isinstance(v, str) or not v.strip():
                raise ValidationError("must be a non-empty id", field=f"{field}.{name}", value=v)
        if not isinstance(issue_date, dt.date):
            raise ValidationError("must be a date (the business date)", field="issue_date", value=issue_date)
        if not isinstance(req.terms, PaymentTerms) or not isinstance(req.terms.days, int) or req.terms.days < 0:
            raise ValidationError("must be PaymentTerms with days >= 0", field=f"{field}.terms", value=req.terms)
        if not req.lines:
            raise ValidationError("an invoice needs at least one line", field=f"{field}.lines", value=[])
        try:
            quantum(req.currency)
        except ValueError:
            raise ValidationError("unknown ISO 4217 currency", field=f"{field}.currency", value=req.currency) from None
        lines = tuple(build_line(li, currency=req.currency, field=f"{field}.lines[{i}]") for i, li in enumerate(req.lines))
        refs = [ln.line_ref for ln in lines]
        if len(set(refs)) != len(refs):
            dup = next(r for r in refs if refs.count(r) > 1)
            raise ValidationError("appears twice on one invoice", field=f"{field}.lines.line_ref", value=dup)
        return DocumentDraft(DocumentKind.INVOICE, self._series(DocumentKind.INVOICE, issue_date), req.source_ref, req.customer,
                             req.order, issue_date, req.terms.due(issue_date), req.currency, lines,
                             terms=req.terms.name or f"net {req.terms.days}")

    def invoice_shipment(self, req: InvoiceRequest, *, issue_date: dt.date, mode: InvoiceMode | None = None) -> Document:
        """Issue the invoice of one shipment (per-shipment mode); the same shipment again returns its invoice.

        ``mode``: the order's invoicing mode when the caller chose it per customer or per order (default:
        ``settings.mode``); per order refuses (ConflictError)."""
        if (mode or self.settings.mode) != InvoiceMode.PER_SHIPMENT:
            raise ConflictError("invoicing is per order: call invoice_order when the order is complete",
                                hint="settings.mode=per_shipment invoices each shipment")
        return self.store.issue_many([self.draft_invoice(req, issue_date=issue_date)])[0]

    def invoice_order(self, req: InvoiceRequest, *, issue_date: dt.date, mode: InvoiceMode | None = None) -> Document:
        """Issue the one invoice of an order (per-order mode; ``source_ref`` is the order id), with its shipped lines;
        the same order again returns its invoice. ``mode``: as in :meth:`invoice_shipment`."""
        if (mode or self.settings.mode) != InvoiceMode.PER_ORDER:
            raise ConflictError("invoicing is per shipment: call invoice_shipment for each shipment",
                                hint="settings.mode=per_order invoices each order once")
        return self.store.issue_many([self.draft_invoice(req, issue_date=issue_date)])[0]

    def invoice_batch(self, reqs: Sequence[InvoiceRequest], *, issue_date: dt.date) -> list[Document]:
        """Issue many invoices in ONE transaction (consecutive numbers). Every request is checked first:
        one bad request (named ``requests[i]...``) refuses the whole batch and writes nothing."""
        drafts = [self.draft_invoice(r, issue_date=issue_date, field=f"requests[{i}]") for i, r in enumerate(reqs)]
        return self.store.issue_many(drafts)

    # ------------------------------------------------------------------ credit notes
    def _credited(self, invoice: Document) -> dict[str, tuple[Decimal, Money, Money]]:
        """Per line_ref of ``invoice``: (qty credited by returns, net credited, tax credited) over all its credit notes."""
        out: dict[str, tuple[Decimal, Money, Money]] = {}
        z = Money.zero(invoice.currency)
        for cn in self.store.documents(related=invoice.number):
            for ln in cn.lines:
                q, n, t = out.get(ln.line_ref, (Decimal(0), z, z))
                out[ln.line_ref] = (q + ln.qty if cn.reason.startswith("return") else q, n + ln.net, t + ln.tax)
        return out

    def _invoice_for_credit(self, number: str) -> Document:
        inv = self.store.get(number)
        if inv.kind != DocumentKind.INVOICE:
            raise ValidationError("is a credit note, not an invoice", field="invoice", value=number)
        return inv

    def draft_credit_return(self, invoice: str, returned: Sequence[ReturnCredit], *, source_ref: str, issue_date: dt.date,
                            reason: str = "") -> DocumentDraft:
        """The credit note :meth:`credit_return` would issue (nothing written): check amounts before committing elsewhere."""
        inv = self._invoice_for_credit(invoice)
        if not returned:
            raise ValidationError("nothing returned", field="returned", value=[])
        by_ref = {ln.line_ref: ln for ln in inv.lines}
        credited = self._credited(inv)
        z = Money.zero(inv.currency)
        lines = []
        for i, rc in enumerate(returned):
            ln = by_ref.get(rc.line_ref)
            if ln is None:
                raise ValidationError(f"not a line of invoice {invoice}", field=f"returned[{i}].line_ref", value=rc.line_ref,
                                      hint=f"lines: {', '.join(by_ref)}")
            q = decimal_of(rc.qty, field=f"returned[{i}].qty")
            before, net_before, tax_before = credited.get(ln.line_ref, (Decimal(0), z, z))
            if before + q > ln.qty:
                raise ValidationError(f"more than invoiced ({ln.qty}) minus already credited ({before})",
                                      field=f"returned[{i}].qty", value=rc.qty)
            net = _cum(ln.net, before + q, ln.qty) - _cum(ln.net, before, ln.qty)
            tax = _cum(ln.tax, before + q, ln.qty) - _cum(ln.tax, before, ln.qty)
            if net_before + net > ln.net or tax_before + tax > ln.tax:
                raise ValidationError(f"with earlier credits would exceed the line's net {ln.net}", field=f"returned[{i}].qty",
                                      value=rc.qty, hint="the line was already credited by a price correction")
            credited[ln.line_ref] = (before + q, net_before + net, tax_before + tax)
            lines.append(DocLine(ln.line_ref, ln.item, ln.description, q, ln.unit_net, ln.tax_rate, net, tax, net + tax))
        return self._credit_draft(inv, tuple(lines), source_ref, issue_date, "return" + (f": {reason}" if reason else ""))

    def credit_return(self, invoice: str, returned: Sequence[ReturnCredit], *, source_ref: str, issue_date: dt.date,
                      reason: str = "") -> Document:
        """Issue the credit note for goods returned against ``invoice``.

        Each returned quantity is credited at the invoice line's amounts by cumulative rounding (all
        returns of a whole line credit exactly its net and tax). Refuses an unknown line
        (``returned[i].line_ref``) or more than invoiced minus already credited (``returned[i].qty``).
        ``source_ref`` (the return receipt) makes it idempotent. Returns the credit note.
        """
        with self._credit_lock:
            done = self.store.by_source(DocumentKind.CREDIT_NOTE, source_ref)
            if done is not None:
                return done
            draft = self.draft_credit_return(invoice, returned, source_ref=source_ref, issue_date=issue_date, reason=reason)
            return self.store.issue_many([draft])[0]

    def credit_price_correction(self, invoice: str, line_ref: str, net: Money, *, source_ref: str, issue_date: dt.date,
                                reason: str = "") -> Document:
        """Issue a credit note lowering the net of one invoice line by ``net`` (tax at the line's rate).

        Refuses a net above what the line still has after earlier credits (field ``net``).
        """
        with self._credit_lock:
            done = self.store.by_source(DocumentKind.CREDIT_NOTE, source_ref)
            if done is not None:
                return done
            inv = self._invoice_for_credit(invoice)
            ln = next((x for x in inv.lines if x.line_ref == line_ref), None)
            if ln is None:
                raise ValidationError(f"not a line of invoice {invoice}", field="line_ref", value=line_ref)
            if not isinstance(net, Money) or net.currency != inv.currency or net.amount <= 0 or net.rounded() != net:
                raise ValidationError(f"must be a positive {inv.currency} amount rounded to the minor unit", field="net",
                                      value=getattr(net, "amount", net))
            z = Money.zero(inv.currency)
            _, net_before, tax_before = self._credited(inv).get(line_ref, (Decimal(0), z, z))
            if net_before + net > ln.net:
                raise ValidationError(f"more than the line's net {ln.net} minus already credited {net_before}", field="net",
                                      value=str(net.amount))
            tax = min((net * ln.tax_rate).rounded(), ln.tax - tax_before)
            line = DocLine(ln.line_ref, ln.item, ln.description, Decimal(0), ln.unit_net, ln.tax_rate, net, tax, net + tax)
            draft = self._credit_draft(inv, (line,), source_ref, issue_date, "price correction" + (f": {reason}" if reason else ""))
            return self.store.issue_many([draft])[0]

    def _credit_draft(self, inv: Document, lines: tuple[DocLine, ...], source_ref: str, issue_date: dt.date,
                      reason: str) -> DocumentDraft:
        if not isinstance(issue_date, dt.date):
            raise ValidationError("must be a date (the business date)", field="issue_date", value=issue_date)
        if not source_ref:
            raise ValidationError("must name the return or correction", field="source_ref", value=source_ref)
        return DocumentDraft(DocumentKind.CREDIT_NOTE, self._series(DocumentKind.CREDIT_NOTE, issue_date), source_ref, inv.customer,
                             inv.order, issue_date, issue_date, inv.currency, lines, related=inv.number, reason=reason)

    # ------------------------------------------------------------------ money in and out, listings
    def settle_order(self, order: str, amount: Money, *, ref: str, date: dt.date) -> list[Settlement]:
        """Book money received for an order (positive) or paid back (negative) against its documents.

        Received money goes to the open invoices oldest first (the rest, if any, to the newest);
        money paid back goes to the documents with a negative open amount first. ``ref`` (the capture
        or refund id) makes it idempotent. Returns the settlements written.
        """
        if not isinstance(amount, Money) or amount.is_zero() or amount.rounded() != amount:
            raise ValidationError("must be a non-zero Money rounded to the minor unit", field="amount", value=amount)
        bal = [b for b in self._balances(self.store.documents(order=order)) if b.document.kind == DocumentKind.INVOICE]
        if not bal:
            raise ValidationError("has no invoice to settle against", field="order", value=order)
        parts: list[Settlement] = []
        rest = amount
        sign = 1 if amount.amount > 0 else -1
        cands = [b for b in bal if (b.open.amount * sign) > 0]
        for i, b in enumerate(cands):
            if rest.is_zero():
                break
            take = rest if i == len(cands) - 1 else (min(b.open, rest) if sign > 0 else max(b.open, rest))
            parts.append(Settlement(f"{ref}#{len(parts)}", b.document.number, take, date))
            rest = rest - take
        if not rest.is_zero():
            parts.append(Settlement(f"{ref}#{len(parts)}", bal[-1].document.number, rest, date))
        return [p for p in parts if self.store.settle(p)]

    def _balances(self, docs: list[Document]) -> list[DocumentBalance]:
        if not docs:
            return []
        cur = docs[0].currency
        z = Money.zero(cur)
        settled: dict[str, Money] = {}
        for s in self.store.settlements(d.number for d in docs):
            settled[s.number] = settled.get(s.number, z) + s.amount
        credits: dict[str, Money] = {}
        for d in docs:
            if d.kind == DocumentKind.CREDIT_NOTE and d.related:
                credits[d.related] = credits.get(d.related, z) + d.total
        out = []
        for d in sorted(docs, key=lambda d: (d.issue_date, d.kind != DocumentKind.INVOICE, d.series, d.seq)):
            if d.kind == DocumentKind.INVOICE:
                cr, st = credits.get(d.number, z), settled.get(d.number, z)
                out.append(DocumentBalance(d, cr, st, d.total - cr - st))
            else:  # a credit note's amount is counted on the invoice it credits
                out.append(DocumentBalance(d, z, settled.get(d.number, z), z))
        return out

    def statement(self, customer: str) -> CustomerStatement:
        """A customer's invoices and credit notes (oldest first) with what is open on each, and the open balance."""
        docs = self.store.documents(customer=customer)
        bal = self._balances(docs)
        cur = docs[0].currency if docs else "EUR"
        return CustomerStatement(customer, cur, tuple(bal), sum((b.open for b in bal), Money.zero(cur)))

    def order_balances(self, order: str) -> list[DocumentBalance]:
        """An order's invoices and credit notes (oldest first) with what was credited and settled on each and what is open."""
        return self._balances(self.store.documents(order=order))

    def order_totals(self, order: str) -> tuple[Money, Money]:
        """(invoiced, credited) totals of an order, for reconciliation with its payments."""
        docs = self.store.documents(order=order)
        cur = docs[0].currency if docs else "EUR"
        z = Money.zero(cur)
        inv = sum((d.total for d in docs if d.kind == DocumentKind.INVOICE), z)
        return inv, sum((d.total for d in docs if d.kind == DocumentKind.CREDIT_NOTE), z)

    def overdue(self, business_date: dt.date, *, customer: str | None = None) -> list[DocumentBalance]:
        """Invoices with money still open after their due date (jeopardy: unpaid past terms), of one customer or all."""
        docs = self.store.documents(customer=customer)
        by_customer: dict[str, list[Document]] = {}
        for d in docs:
            by_customer.setdefault(d.customer, []).append(d)
        return [b for ds in by_customer.values() for b in self._balances(ds)
                if b.document.kind == DocumentKind.INVOICE and b.open.amount > 0 and b.document.due_date < business_date]


def _cum(amount: Money, num: Decimal, den: Decimal) -> Money:
    return Money((amount.amount * num / den).quantize(quantum(amount.currency), rounding="ROUND_HALF_UP"), amount.currency)
