"""Invoices and credit notes: a customer's documents with what is open on each and the open balance; one
document as JSON, HTML or PDF. Documents are issued by the order book's events (one invoice per shipment,
or one per order once it is complete; a credit note per return receipt), numbered without gaps per series,
and immutable. The invoicing mode is chosen per order or per customer (``/v1/invoices/modes/...``),
else by settings (``o2c.invoice_mode_by_customer``, ``o2c.invoice_mode``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CustomersWriter, InvoicesReader, O2CDep, OrdersWriter
from api.errors import responses
from api.routes.payments import MoneyPublic, money
from invoicing import render_html, render_pdf

router = APIRouter(prefix="/invoices", tags=["invoices"])


class DocLinePublic(BaseModel):
    line_ref: str
    item: str
    description: str
    qty: str
    unit_net: MoneyPublic
    tax_rate: str
    net: MoneyPublic
    tax: MoneyPublic
    total: MoneyPublic


class DocumentPublic(BaseModel):
    """An issued invoice or credit note (``related``: the invoice a credit note credits)."""

    number: str
    kind: str
    series: str
    seq: int
    source_ref: str
    customer: str
    order: str
    issue_date: dt.date
    due_date: dt.date
    currency: str
    lines: list[DocLinePublic]
    related: str = ""
    reason: str = ""
    terms: str = ""
    net: MoneyPublic
    tax: MoneyPublic
    total: MoneyPublic


class BalancePublic(BaseModel):
    """A document in a statement: what was credited and settled on it and what is still open."""

    document: DocumentPublic
    credited: MoneyPublic
    settled: MoneyPublic
    open: MoneyPublic


class StatementPublic(BaseModel):
    """A customer's documents, oldest first, and the open balance."""

    customer: str
    currency: str
    documents: list[BalancePublic]
    open_balance: MoneyPublic


def document_public(d) -> DocumentPublic:
    """An ``invoicing.Document`` as its public form."""
    return DocumentPublic(
        number=d.number, kind=str(d.kind), series=d.series, seq=d.seq, source_ref=d.source_ref, customer=d.customer, order=d.order,
        issue_date=d.issue_date, due_date=d.due_date, currency=d.currency, related=d.related, reason=d.reason, terms=d.terms,
        net=money(d.net), tax=money(d.tax), total=money(d.total),
        lines=[DocLinePublic(line_ref=x.line_ref, item=x.item, description=x.description, qty=str(x.qty), unit_net=money(x.unit_net, exact=True),
                             tax_rate=str(x.tax_rate), net=money(x.net), tax=money(x.tax), total=money(x.total)) for x in d.lines])


@router.get("", operation_id="customer_statement", response_model=StatementPublic, responses=responses(),
            summary="A customer's invoices and credit notes with what is open on each, and the open balance")
def statement(customer: Annotated[str, Query(min_length=1, max_length=100)], hub: O2CDep, user: InvoicesReader) -> StatementPublic:
    hub.catch_up()
    st = hub.invoicer.statement(customer)
    return StatementPublic(customer=st.customer, currency=st.currency, open_balance=money(st.open_balance),
                           documents=[BalancePublic(document=document_public(b.document), credited=money(b.credited),
                                                    settled=money(b.settled), open=money(b.open)) for b in st.documents])


Mode = Literal["per_shipment", "per_order"]
Ident = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]


class InvoiceModeUpdate(BaseModel):
    """How an order (or a customer's orders) is invoiced: one invoice per shipment, or one per order once it is
    complete (everything shipped, or the rest cancelled)."""

    model_config = ConfigDict(extra="forbid")
    mode: Mode


class OrderInvoiceModePublic(BaseModel):
    order_id: str
    customer: str
    mode: Mode
    source: str = Field(description="order (chosen for the order, or fixed at its first shipment), customer, "
                                    "settings.customer (o2c.invoice_mode_by_customer) or settings (o2c.invoice_mode)")


class CustomerInvoiceModePublic(BaseModel):
    customer: str
    mode: Mode


def _order_mode(hub, order_id: str) -> OrderInvoiceModePublic:
    order = hub.order(order_id)
    mode, src = hub.invoice_mode(order_id, customer=order.customer)
    return OrderInvoiceModePublic(order_id=order_id, customer=order.customer, mode=mode.value, source=src)


@router.get("/modes/orders/{order_id}", operation_id="read_order_invoice_mode", response_model=OrderInvoiceModePublic,
            responses=responses(404), summary="How an order is invoiced (per shipment or per order) and why")
def read_order_mode(order_id: Ident, hub: O2CDep, user: InvoicesReader) -> OrderInvoiceModePublic:
    return _order_mode(hub, order_id)


@router.put("/modes/orders/{order_id}", operation_id="set_order_invoice_mode", response_model=OrderInvoiceModePublic,
            responses=responses(404, 409), summary="Invoice an order per shipment or once when complete (before it ships)")
def set_order_mode(order_id: Ident, body: InvoiceModeUpdate, hub: O2CDep, user: OrdersWriter) -> OrderInvoiceModePublic:
    hub.set_order_invoice_mode(order_id, body.mode)
    return _order_mode(hub, order_id)


@router.put("/modes/customers/{customer}", operation_id="set_customer_invoice_mode",
            response_model=CustomerInvoiceModePublic, responses=responses(),
            summary="Invoice a customer's orders per shipment or once per order (orders not yet shipped)")
def set_customer_mode(customer: Ident, body: InvoiceModeUpdate, hub: O2CDep, user: CustomersWriter) -> CustomerInvoiceModePublic:
    return CustomerInvoiceModePublic(customer=customer, mode=hub.set_customer_invoice_mode(customer, body.mode).value)


@router.get("/{number}", operation_id="read_invoice", response_model=DocumentPublic,
            responses={200: {"content": {"text/html": {}, "application/pdf": {}},
                             "description": "the document: JSON (default), an HTML page or a PDF (`format`)"},
                       **responses(404)},
            summary="One invoice or credit note, as JSON, HTML or PDF")
def read_invoice(number: Annotated[str, Path(min_length=1, max_length=60)], hub: O2CDep, user: InvoicesReader,
                 format: Annotated[Literal["json", "html", "pdf"], Query()] = "json"):
    doc = hub.invoicer.store.get(number)
    seller = hub.invoicer.settings.seller
    if format == "html":
        return HTMLResponse(render_html(doc, seller=seller))
    if format == "pdf":
        return Response(render_pdf(doc, seller=seller), media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{doc.number}.pdf"'})
    return document_public(doc)
