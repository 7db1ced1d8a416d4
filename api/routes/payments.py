"""Payments: an order's payments, paying it (by any configured method), capture, refund, void, transfer
confirmations, and the card/wallet gateway's webhook.

The webhook (``POST /v1/payments/webhooks/gateway``) is the one write that takes no API key: it is
authenticated by the provider's signature (header ``Webhook-Signature: t=<unix>,v1=<hex HMAC-SHA256
of "t.body">`` with ``o2c.gateway_secret``), refused when the signature or its age does not check out
(422 naming ``signature`` or ``timestamp``, nothing changed), and applied once per event id (a
second delivery answers ``duplicate: true``).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import IdempotencyKey, O2CDep, OrdersReader, PaymentsWriter
from api.errors import PUBLIC_RESPONSES, responses
from payments import SIGNATURE_HEADER

router = APIRouter(tags=["payments"])

Id = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
Amount = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=4, description="an amount in the order's currency")]


class MoneyPublic(BaseModel):
    """An exact amount (a decimal string) with its ISO 4217 currency."""

    amount: str
    currency: str


def money(m: Any, *, exact: bool = False) -> MoneyPublic:
    """A ``promessa.money.Money`` as its public form: rounded to the minor unit (``exact``: as it is)."""
    return MoneyPublic(**(m.to_exact_dict() if exact else m.to_dict()))


class TransitionPublic(BaseModel):
    seq: int
    event: str
    from_state: str
    to_state: str
    amount: MoneyPublic | None = None
    at: dt.datetime
    ref: str = ""
    note: str = ""


class PaymentPublic(BaseModel):
    """One payment of an order: method, provider, state, amounts and its audit trail (no card data: tokens only)."""

    payment_id: str
    order_id: str
    method: str
    kind: str
    provider: str
    state: str
    amount: MoneyPublic
    captured: MoneyPublic
    refunded: MoneyPublic
    released: MoneyPublic
    open: MoneyPublic
    expires_on: dt.date | None = None
    trail: list[TransitionPublic]


class OrderPaymentsPublic(BaseModel):
    """An order's payment state: what it costs, what its payments expect, captured, refunded and still open,
    what was invoiced and credited, and each payment."""

    order_id: str
    currency: str
    status: str = Field(description="unpaid, pending, authorized, partially_paid, paid (captured covers the order less "
                                    "its credits) or refunded")
    order_total: MoneyPublic
    expected: MoneyPublic
    captured: MoneyPublic
    refunded: MoneyPublic
    open: MoneyPublic
    invoiced: MoneyPublic
    credited: MoneyPublic
    payments: list[PaymentPublic]


class PaymentCreate(BaseModel):
    """Pay (part of) an order: `method` (card, paypal, bank_transfer, cod, voucher, gift_card or one added by
    configuration), `amount` (default: what the order's payments do not cover yet), the provider's `token`
    (cards and wallets; the code of a voucher). Card numbers are refused: send the provider's token."""

    model_config = ConfigDict(extra="forbid")
    method: str = Field(min_length=1, max_length=50)
    amount: Amount | None = None
    token: str | None = Field(None, min_length=1, max_length=200)


class CaptureCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: Amount | None = None


class RefundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: Amount
    reason: str = Field("", max_length=200)


class TransferCreate(BaseModel):
    """A bank transfer received: its amount and the bank statement's reference."""

    model_config = ConfigDict(extra="forbid")
    amount: Amount
    reference: str = Field(min_length=1, max_length=100)


class WebhookPublic(BaseModel):
    """What a webhook did: applied, or a duplicate of an event already handled (and to which payment)."""

    event_id: str
    type: str
    applied: bool
    duplicate: bool
    payment_id: str | None = None
    state: str | None = None
    note: str = ""


def payment_public(p: Any) -> PaymentPublic:
    """A ``payments.Payment`` as its public form."""
    return PaymentPublic(
        payment_id=p.payment_id, order_id=p.order, method=p.method, kind=str(p.kind), provider=p.provider, state=str(p.state),
        amount=money(p.amount), captured=money(p.captured), refunded=money(p.refunded), released=money(p.released),
        open=money(p.open_amount()), expires_on=p.expires_on,
        trail=[TransitionPublic(seq=t.seq, event=t.event, from_state=str(t.from_state), to_state=str(t.to_state),
                                amount=money(t.amount) if t.amount is not None else None, at=t.at, ref=t.ref, note=t.note)
               for t in p.trail])


def order_payments_public(view: dict) -> OrderPaymentsPublic:
    """``OrderToCash.payments_view`` as its public form."""
    return OrderPaymentsPublic(
        order_id=view["order_id"], currency=view["currency"], status=view["status"],
        **{k: money(view[k]) for k in ("order_total", "expected", "captured", "refunded", "open", "invoiced", "credited")},
        payments=[payment_public(p) for p in view["payments"]])


@router.get("/orders/{order_id}/payments", operation_id="read_order_payments", response_model=OrderPaymentsPublic,
            responses=responses(404), summary="An order's payments, their states and trails, invoiced and credited totals")
def read_order_payments(order_id: Id, hub: O2CDep, user: OrdersReader) -> OrderPaymentsPublic:
    return order_payments_public(hub.payments_view(order_id))


class CashInvoicePublic(BaseModel):
    """An invoice or credit note of the order: what was credited and settled on it, what is open, and its state
    (``paid``, ``open``, ``overdue`` past its due date on the business clock, ``credit`` for a credit note)."""

    number: str
    kind: str
    issue_date: dt.date
    due_date: dt.date
    total: MoneyPublic
    credited: MoneyPublic
    settled: MoneyPublic
    open: MoneyPublic
    state: str


class CashReturnPublic(BaseModel):
    """A return of the order: its state, quantities, what is still expected and the day it is due."""

    rma_id: str
    state: str
    qty: float
    received: float
    expected: float
    due_day: dt.date
    open: bool


class OrderCashPublic(BaseModel):
    """An order's payment, invoice and return state in one view (the order's status view for order to cash)."""

    order_id: str
    customer: str
    order_status: str
    today: dt.date = Field(description="the business day the states are computed on")
    currency: str
    payment_status: str = Field(description="as in GET /v1/orders/{id}/payments")
    order_total: MoneyPublic
    authorized: MoneyPublic = Field(description="authorized and not yet captured")
    pending: MoneyPublic = Field(description="expected by bank transfer, not yet received")
    captured: MoneyPublic
    refunded: MoneyPublic
    invoiced: MoneyPublic
    credited: MoneyPublic
    open_balance: MoneyPublic = Field(description="open on the order's invoices")
    invoice_mode: str
    invoice_mode_source: str
    invoices_open: int
    invoices_paid: int
    invoices: list[CashInvoicePublic]
    returns_open: int
    returns: list[CashReturnPublic]


@router.get("/orders/{order_id}/cash", operation_id="read_order_cash", response_model=OrderCashPublic,
            responses=responses(404),
            summary="An order's order-to-cash state: authorized, captured, refunded; invoices open or paid; returns open")
def read_order_cash(order_id: Id, hub: O2CDep, user: OrdersReader) -> OrderCashPublic:
    v = hub.cash_view(order_id)
    amounts = ("order_total", "authorized", "pending", "captured", "refunded", "invoiced", "credited", "open_balance")
    return OrderCashPublic(
        **{k: v[k] for k in v if k not in (*amounts, "invoices", "returns")}, **{k: money(v[k]) for k in amounts},
        invoices=[CashInvoicePublic(**{**d, **{k: money(d[k]) for k in ("total", "credited", "settled", "open")}})
                  for d in v["invoices"]],
        returns=[CashReturnPublic(**r) for r in v["returns"]])


@router.post("/orders/{order_id}/payments", operation_id="pay_order", response_model=PaymentPublic, status_code=201,
             responses=responses(404, 409), summary="Pay (part of) an order by a method; the provider is asked to authorize it")
def pay_order(order_id: Id, body: PaymentCreate, hub: O2CDep, user: PaymentsWriter, key: IdempotencyKey = None) -> PaymentPublic:
    return payment_public(hub.pay(order_id, method=body.method, amount=body.amount, token=body.token,
                                  key=f"pay:{order_id}:{key}" if key else None))


@router.get("/payments/{payment_id}", operation_id="read_payment", response_model=PaymentPublic, responses=responses(404),
            summary="One payment with its audit trail")
def read_payment(payment_id: Id, hub: O2CDep, user: OrdersReader) -> PaymentPublic:
    return payment_public(hub.payments.payment(payment_id))


@router.post("/payments/{payment_id}/capture", operation_id="capture_payment", response_model=PaymentPublic,
             responses=responses(404, 409), summary="Capture (part of) an authorized payment")
def capture(payment_id: Id, hub: O2CDep, user: PaymentsWriter, body: Annotated[CaptureCreate | None, Body()] = None,
            key: IdempotencyKey = None) -> PaymentPublic:
    amount = body.amount if body is not None else None
    return payment_public(hub.capture(payment_id, amount, key=f"api:{key}" if key else None))


@router.post("/payments/{payment_id}/refund", operation_id="refund_payment", response_model=PaymentPublic,
             responses=responses(404, 409), summary="Refund captured money (above what can be refunded: 422 naming amount)")
def refund(payment_id: Id, body: RefundCreate, hub: O2CDep, user: PaymentsWriter, key: IdempotencyKey = None) -> PaymentPublic:
    return payment_public(hub.refund(payment_id, body.amount, key=f"api:{key or uuid.uuid4().hex}", reason=body.reason))


@router.post("/payments/{payment_id}/void", operation_id="void_payment", response_model=PaymentPublic,
             responses=responses(404, 409), summary="Release what is still open on a payment")
def void(payment_id: Id, hub: O2CDep, user: PaymentsWriter) -> PaymentPublic:
    return payment_public(hub.void(payment_id))


@router.post("/payments/{payment_id}/transfers", operation_id="confirm_transfer", response_model=PaymentPublic,
             responses=responses(404, 409), summary="A bank transfer arrived for a payment (partial transfers add up)")
def confirm_transfer(payment_id: Id, body: TransferCreate, hub: O2CDep, user: PaymentsWriter) -> PaymentPublic:
    return payment_public(hub.confirm_transfer(payment_id, body.amount, reference=body.reference))


@router.post("/payments/webhooks/gateway", operation_id="gateway_webhook", response_model=WebhookPublic,
             responses={**PUBLIC_RESPONSES, **responses(404), 401: {"description": "not used: the signature authenticates"}},
             summary="The card/wallet gateway's notifications: signed (Webhook-Signature), applied once per event id")
async def gateway_webhook(request: Request, hub: O2CDep,
                          signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER, max_length=500)] = None) -> Response:
    # verified and applied in the event loop when the hub's lock is free, the durable write awaited without a thread
    # (OrderToCash.webhook_async); the answer is encoded here, as WebhookPublic (no second validation of the model)
    body = await request.body()
    out = await hub.webhook_async("gateway", body, signature, now=time.time())
    return Response(content=webhook_body(out), media_type="application/json")


def webhook_body(out: Any) -> bytes:
    """A ``payments.WebhookOutcome`` as the JSON of :class:`WebhookPublic` (same fields, same order)."""
    return json.dumps({"event_id": out.event_id, "type": out.type, "applied": out.applied, "duplicate": out.duplicate,
                       "payment_id": out.payment_id, "state": str(out.state) if out.state is not None else None,
                       "note": out.note}, separators=(",", ":")).encode()


class ReconciledPublic(BaseModel):
    """One capture or refund pending too long that the provider was asked about: approved (applied), declined
    (failed; unknown to the provider too) or still pending."""

    payment_id: str
    order_id: str
    key: str
    kind: str
    status: str
    code: str = ""


class ReconcilePublic(BaseModel):
    operations: list[ReconciledPublic]


@router.post("/payments/reconcile", operation_id="reconcile_payments", response_model=ReconcilePublic,
             responses=responses(),
             summary="Ask the providers about captures and refunds pending longer than older_than_s and settle them")
def reconcile(hub: O2CDep, user: PaymentsWriter,
              older_than_s: Annotated[float | None, Query(ge=0, le=10**9, description="default: o2c.reconcile_after_s")] = None,
              ) -> ReconcilePublic:
    outs = hub.reconcile(older_than_s=older_than_s)
    return ReconcilePublic(operations=[ReconciledPublic(payment_id=r.payment_id, order_id=r.order, key=r.key, kind=r.kind,
                                                        status=r.status, code=r.code) for r in outs])


class GatewayWebhookPublic(BaseModel):
    """A webhook of the test gateway as it would POST it: the raw body and its Webhook-Signature header."""

    body: str
    signature: str


class GatewayOutboxPublic(BaseModel):
    webhooks: list[GatewayWebhookPublic]


@router.post("/payments/gateway/outbox", operation_id="gateway_outbox", response_model=GatewayOutboxPublic,
             responses=responses(),
             summary="The test card gateway's webhooks due now (all: also those not yet due), signed, handed out once")
def gateway_outbox(hub: O2CDep, user: PaymentsWriter,
                   all: Annotated[bool, Query(description="also the webhooks not yet due")] = False) -> GatewayOutboxPublic:
    hub.catch_up()
    return GatewayOutboxPublic(webhooks=[GatewayWebhookPublic(body=b.decode(), signature=h[SIGNATURE_HEADER])
                                         for b, h in hub.gateway_outbox(everything=all)])
