"""Invoice and credit-note records, their inputs, and the amounts on their lines.

Inputs are plain typed records of this package, so the caller maps its priced order lines
(net, tax, total as Money) and the customer's payment terms onto them:

- :class:`LineInput`: item, qty, unit net, tax rate, and optionally the priced net / tax /
  total for that quantity (otherwise computed: net = unit net x qty, tax = net x rate, each
  rounded half-up to the minor unit; total = net + tax);
- :class:`PaymentTerms`: days until due (net 30 -> ``PaymentTerms(30)``);
- :class:`PricedLine` + :func:`prorate`: the amounts of a partial shipment of a priced order
  line by cumulative rounding, so the shipments of a line add up exactly to its priced amounts.

Issued documents (:class:`Document`) are frozen; the store refuses to change them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from promessa.errors import ValidationError
from promessa.money import Money, quantum


class DocumentKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class InvoiceMode(StrEnum):
    PER_SHIPMENT = "per_shipment"
    PER_ORDER = "per_order"


class InvoicingSettings(BaseModel):
    """Invoicing configuration: one invoice per shipment or per order, and the numbering series.

    Series names may contain ``{year}`` (the issue date's year): each series counts from 1
    without gaps. A number is ``<series>-<seq zero-padded to number_width>``.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    mode: InvoiceMode = InvoiceMode.PER_SHIPMENT
    invoice_series: str = Field("INV{year}", min_length=1)
    credit_series: str = Field("CN{year}", min_length=1)
    number_width: int = Field(6, ge=1, le=12)
    seller: str = Field("promessa demo seller", description="the seller's name and address block on rendered documents")


def decimal_of(value: Any, *, field: str, positive: bool = True) -> Decimal:
    """A Decimal from int, str, Decimal or float (floats via their shortest repr); refused naming the field."""
    if isinstance(value, bool):
        raise ValidationError("not a number", field=field, value=value)
    try:
        d = value if isinstance(value, Decimal) else Decimal(repr(value) if isinstance(value, float) else value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError("not a number", field=field, value=value) from None
    if not d.is_finite() or (positive and d <= 0) or (not positive and d < 0):
        raise ValidationError("must be a positive number" if positive else "must be zero or more", field=field, value=value)
    return d


def _money(value: Any, *, field: str, currency: str | None) -> Money:
    if not isinstance(value, Money):
        raise ValidationError("must be Money (an exact amount with its currency)", field=field, value=value)
    if currency is not None and value.currency != currency:
        raise ValidationError(f"currency must be {currency}", field=f"{field}.currency", value=value.currency)
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class PaymentTerms:
    """When an invoice is due: ``days`` after its issue date (0: due on issue)."""

    days: int
    name: str = ""

    def due(self, issue_date: dt.date) -> dt.date:
        """The due date of a document issued on ``issue_date``."""
        return issue_date + dt.timedelta(days=self.days)


@dataclasses.dataclass(frozen=True, slots=True)
class LineInput:
    """One line to invoice: ``qty`` of ``item`` at ``unit_net`` with ``tax_rate`` (0.20 = 20 %).

    ``net``, ``tax``, ``total``: the priced amounts for this quantity when the caller has them
    (they are used as given, rounded to the minor unit, and must agree: total = net + tax).
    """

    item: str
    qty: Any
    unit_net: Money
    tax_rate: Any
    net: Money | None = None
    tax: Money | None = None
    total: Money | None = None
    line_ref: str = ""
    description: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class DocLine:
    """A line of an issued document; amounts rounded to the minor unit, total = net + tax."""

    line_ref: str
    item: str
    description: str
    qty: Decimal
    unit_net: Money
    tax_rate: Decimal
    net: Money
    tax: Money
    total: Money

    def to_dict(self) -> dict[str, Any]:
        """The stored form (amounts as exact strings)."""
        return {"line_ref": self.line_ref, "item": self.item, "description": self.description, "qty": str(self.qty),
                "unit_net": _mdict(self.unit_net), "tax_rate": str(self.tax_rate), "net": _mdict(self.net),
                "tax": _mdict(self.tax), "total": _mdict(self.total)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DocLine:
        """The record back from its stored form."""
        return cls(d["line_ref"], d["item"], d["description"], Decimal(d["qty"]), Money.from_dict(d["unit_net"]),
                   Decimal(d["tax_rate"]), Money.from_dict(d["net"]), Money.from_dict(d["tax"]), Money.from_dict(d["total"]))


def _mdict(m: Money) -> dict[str, str]:
    # document amounts are rounded when the line is built: stored exactly as they are
    return {"amount": str(m.amount), "currency": m.currency}


def build_line(li: LineInput, *, currency: str, field: str) -> DocLine:
    """Check one :class:`LineInput` and compute its amounts (refusals name ``field`` and the value)."""
    if not isinstance(li.item, str) or not li.item:
        raise ValidationError("must be a non-empty item id", field=f"{field}.item", value=li.item)
    qty = decimal_of(li.qty, field=f"{field}.qty")
    rate = decimal_of(li.tax_rate, field=f"{field}.tax_rate", positive=False)
    if rate >= 1:
        raise ValidationError("is a fraction (0.20 for 20 %)", field=f"{field}.tax_rate", value=li.tax_rate)
    unit = _money(li.unit_net, field=f"{field}.unit_net", currency=currency)
    q = quantum(currency)
    net_d = (_money(li.net, field=f"{field}.net", currency=currency).amount if li.net is not None
             else unit.amount * qty).quantize(q, rounding=ROUND_HALF_UP)
    tax_d = (_money(li.tax, field=f"{field}.tax", currency=currency).amount if li.tax is not None
             else net_d * rate).quantize(q, rounding=ROUND_HALF_UP)
    total_d = net_d + tax_d
    if li.total is not None and _money(li.total, field=f"{field}.total", currency=currency).rounded().amount != total_d:
        raise ValidationError(f"differs from net + tax = {total_d} {currency}", field=f"{field}.total", value=str(li.total.amount))
    if net_d < 0 or tax_d < 0:
        raise ValidationError("amounts on a line are zero or more", field=f"{field}.net", value=str(net_d))
    return DocLine(li.line_ref or str(li.item), li.item, li.description, qty, unit, rate, Money(net_d, currency),
                   Money(tax_d, currency), Money(total_d, currency))


@dataclasses.dataclass(frozen=True, slots=True)
class PricedLine:
    """A priced order line for its whole quantity (what pricing gives): the base of :func:`prorate`."""

    line_ref: str
    item: str
    qty: Any
    net: Money
    tax: Money
    tax_rate: Any
    description: str = ""


def _share(amount: Money, num: Decimal, den: Decimal) -> Decimal:
    return (amount.amount * num / den).quantize(quantum(amount.currency), rounding="ROUND_HALF_UP")


def prorate(priced: PricedLine, *, qty_before: Any, qty: Any) -> LineInput:
    """The invoice line for shipping ``qty`` more of ``priced`` after ``qty_before`` already invoiced.

    Cumulative rounding: the net of the first k units is round(net * k / Q), and this shipment
    gets the difference, so all shipments of the line add up exactly to its priced net and tax.
    Refuses shipping more than the line's quantity (field ``qty``).
    """
    total_q = decimal_of(priced.qty, field="priced.qty")
    before = decimal_of(qty_before, field="qty_before", positive=False)
    now = decimal_of(qty, field="qty")
    if before + now > total_q:
        raise ValidationError(f"more than the line's remaining {total_q - before}", field="qty", value=qty)
    net = Money(_share(priced.net, before + now, total_q) - _share(priced.net, before, total_q), priced.net.currency)
    tax = Money(_share(priced.tax, before + now, total_q) - _share(priced.tax, before, total_q), priced.tax.currency)
    unit = Money(priced.net.amount / total_q, priced.net.currency)
    return LineInput(priced.item, now, unit, priced.tax_rate, net=net, tax=tax, line_ref=priced.line_ref,
                     description=priced.description)


@dataclasses.dataclass(frozen=True, slots=True)
class DocumentDraft:
    """A document ready to be numbered: the store gives it its number in the same transaction that writes it."""

    kind: DocumentKind
    series: str
    source_ref: str           # the shipment, order, return or correction it was made for (unique per kind)
    customer: str
    order: str
    issue_date: dt.date
    due_date: dt.date
    currency: str
    lines: tuple[DocLine, ...]
    related: str = ""         # a credit note: the invoice it credits
    reason: str = ""
    terms: str = ""

    @property
    def net(self) -> Money:
        """Sum of the lines' net amounts."""
        return Money(sum((ln.net.amount for ln in self.lines), Decimal(0)), self.currency)

    @property
    def tax(self) -> Money:
        """Sum of the lines' tax amounts."""
        return Money(sum((ln.tax.amount for ln in self.lines), Decimal(0)), self.currency)

    @property
    def total(self) -> Money:
        """Sum of the lines' totals (net + tax)."""
        return Money(sum((ln.total.amount for ln in self.lines), Decimal(0)), self.currency)


@dataclasses.dataclass(frozen=True, slots=True)
class Document(DocumentDraft):
    """An issued invoice or credit note: numbered, immutable. ``signed_total`` is negative for credit notes."""

    number: str = ""
    seq: int = 0

    @property
    def signed_total(self) -> Money:
        """The total as it counts in a balance: negative for a credit note."""
        return self.total if self.kind == DocumentKind.INVOICE else -self.total

    def to_dict(self) -> dict[str, Any]:
        """The stored (and API) form: every amount exact, as strings."""
        return {"number": self.number, "series": self.series, "seq": self.seq, "kind": str(self.kind),
                "source_ref": self.source_ref, "customer": self.customer, "order": self.order,
                "issue_date": self.issue_date.isoformat(), "due_date": self.due_date.isoformat(), "currency": self.currency,
                "lines": [ln.to_dict() for ln in self.lines], "related": self.related, "reason": self.reason, "terms": self.terms,
                "net": _mdict(self.net), "tax": _mdict(self.tax), "total": _mdict(self.total)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Document:
        """The record back from its stored form."""
        return cls(DocumentKind(d["kind"]), d["series"], d["source_ref"], d["customer"], d["order"],
                   dt.date.fromisoformat(d["issue_date"]), dt.date.fromisoformat(d["due_date"]), d["currency"],
                   tuple(DocLine.from_dict(x) for x in d["lines"]), d["related"], d["reason"], d.get("terms", ""),
                   number=d["number"], seq=int(d["seq"]))


def number_of(series: str, seq: int, width: int) -> str:
    """The printed document number: ``<series>-<seq zero-padded>``."""
    return f"{series}-{seq:0{width}d}"


@dataclasses.dataclass(frozen=True, slots=True)
class Settlement:
    """Money received for (or, negative, paid back against) a document, once per ``ref``."""

    ref: str
    number: str
    amount: Money
    date: dt.date


@dataclasses.dataclass(frozen=True, slots=True)
class DocumentBalance:
    """One document in a customer listing: its total, what credit notes and settlements took off, and what is open."""

    document: Document
    credited: Money
    settled: Money
    open: Money


@dataclasses.dataclass(frozen=True, slots=True)
class CustomerStatement:
    """A customer's documents (oldest first) and the open balance (positive: the customer owes; negative: is owed)."""

    customer: str
    currency: str
    documents: tuple[DocumentBalance, ...]
    open_balance: Money
