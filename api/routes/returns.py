"""Returns and exchanges: authorize the return of a shipped line, receive the goods (sellable goods go back to
supply through the order book at once), credit and refund them to the original payment methods, and promise
an exchange's replacement."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from fastapi import APIRouter, Body, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from api.conventions import idem
from api.deps import IdempotencyKey, O2CDep, OrdersReader, ReturnsWriter
from api.errors import responses
from api.routes.payments import MoneyPublic, money
from returns import Condition, ReturnReason

router = APIRouter(tags=["returns"])

Id = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]


class ReturnCreate(BaseModel):
    """Return `qty` of a shipped order `line` for a `reason`, in a declared `condition`; `invoice` picks the
    shipment (default: the line's latest invoice). `exchange: true` asks for a replacement (`exchange_item`,
    default the same item, wanted on `requested_date`, default the business day)."""

    model_config = ConfigDict(extra="forbid")
    line: int = Field(ge=1)
    qty: float = Field(gt=0, allow_inf_nan=False)
    reason: ReturnReason
    condition: Condition
    invoice: str | None = Field(None, min_length=1, max_length=60)
    exchange: bool = False
    exchange_item: str | None = Field(None, min_length=1, max_length=100)
    requested_date: dt.date | None = None
    note: str = Field("", max_length=500)


class ReceiptCreate(BaseModel):
    """Goods received at `location` on `date` (default: the business day): `qty` (default: all still expected)
    in `condition` (default: as declared). New and opened goods go back to sellable supply."""

    model_config = ConfigDict(extra="forbid")
    location: str = Field(min_length=1, max_length=100)
    date: dt.date | None = None
    qty: float | None = Field(None, gt=0, allow_inf_nan=False)
    condition: Condition | None = None


class ExchangeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    location: str | None = Field(None, min_length=1, max_length=100, description="ship the replacement from here")


class ReceiptPublic(BaseModel):
    receipt: str
    item: str
    location: str
    date: dt.date
    qty: float
    condition: str
    sellable: bool


class RefundPartPublic(BaseModel):
    payment_id: str
    amount: MoneyPublic


class ExchangePublic(BaseModel):
    request_id: str
    item: str
    qty: float
    requested_date: dt.date
    replacement_line: str = ""


class ReturnPublic(BaseModel):
    """A return authorization: the shipped line (and its invoice), quantity, reason, condition, state, receipts,
    the credit notes and refund parts, and the exchange it asks for."""

    rma_id: str
    order_id: str
    line: int
    item: str
    invoice: str
    qty: float
    received: float
    reason: str
    condition: str
    state: str
    authorized_on: dt.date
    receipts: list[ReceiptPublic]
    credit_notes: list[str]
    refunds: list[RefundPartPublic]
    exchange: ExchangePublic | None = None


class ReturnsPublic(BaseModel):
    data: list[ReturnPublic]
    count: int


def return_public(rma, line: int) -> ReturnPublic:
    """A ``returns.ReturnAuthorization`` as its public form."""
    xr = rma.exchange_request
    return ReturnPublic(
        rma_id=rma.rma_id, order_id=rma.order, line=line, item=rma.item, invoice=rma.shipped.invoice, qty=rma.qty,
        received=rma.received, reason=str(rma.reason), condition=str(rma.condition), state=str(rma.state),
        authorized_on=rma.authorized_on, credit_notes=list(rma.credit_notes),
        receipts=[ReceiptPublic(receipt=r.ref, item=r.item, location=r.location, date=r.date, qty=r.qty, condition=str(r.condition),
                                sellable=r.supply is not None) for r in rma.receipts],
        refunds=[RefundPartPublic(payment_id=pid, amount=money(m)) for pid, m in rma.refund_parts],
        exchange=ExchangePublic(request_id=xr.request_id, item=xr.item, qty=xr.qty, requested_date=xr.requested_date,
                                replacement_line=rma.replacement_line) if xr is not None else None)


def _public(hub, rma) -> ReturnPublic:
    return return_public(rma, int(hub._rma_meta[rma.rma_id]["line"]))


@router.post("/orders/{order_id}/returns", operation_id="authorize_return", response_model=ReturnPublic, status_code=201,
             responses=responses(404, 409), summary="Authorize the return of a shipped line (more than shipped: 422 naming qty)")
def authorize_return(order_id: Id, body: ReturnCreate, hub: O2CDep, user: ReturnsWriter) -> ReturnPublic:
    rma = hub.authorize_return(order_id, line=body.line, qty=body.qty, reason=str(body.reason), condition=str(body.condition),
                               invoice=body.invoice, exchange=body.exchange, exchange_item=body.exchange_item,
                               requested_date=body.requested_date, note=body.note)
    return _public(hub, rma)


@router.get("/orders/{order_id}/returns", operation_id="read_order_returns", response_model=ReturnsPublic,
            responses=responses(404), summary="An order's returns and their state")
def read_order_returns(order_id: Id, hub: O2CDep, user: OrdersReader) -> ReturnsPublic:
    data = [_public(hub, r) for r in hub.returns_of(order_id)]
    return ReturnsPublic(data=data, count=len(data))


@router.get("/returns/{rma_id}", operation_id="read_return", response_model=ReturnPublic, responses=responses(404),
            summary="One return authorization")
def read_return(rma_id: Id, hub: O2CDep, user: OrdersReader) -> ReturnPublic:
    hub.catch_up()
    return _public(hub, hub.returns.get(rma_id))


@router.post("/returns/{rma_id}/receive", operation_id="receive_return", response_model=ReturnPublic,
             responses=responses(404, 409), summary="Receive returned goods (sellable ones are supply at once, durably)")
def receive_return(rma_id: Id, body: ReceiptCreate, request: Request, hub: O2CDep, user: ReturnsWriter,
                   key: IdempotencyKey = None) -> ReturnPublic:
    hub.receive_return(rma_id, location=body.location, date=body.date, qty=body.qty,
                       condition=str(body.condition) if body.condition is not None else None,
                       actor=user.actor, idem=idem(key, request, body))
    hub.catch_up()  # the credit note and the refund follow the order event
    return _public(hub, hub.returns.get(rma_id))


@router.post("/returns/{rma_id}/refund", operation_id="refund_return", response_model=ReturnPublic,
             responses=responses(404, 409), summary="Credit and refund what was received of a return (idempotent)")
def refund_return(rma_id: Id, hub: O2CDep, user: ReturnsWriter) -> ReturnPublic:
    return _public(hub, hub.refund_return(rma_id))


@router.post("/returns/{rma_id}/exchange", operation_id="exchange_return", response_model=ReturnPublic, status_code=201,
             responses=responses(404, 409), summary="Promise an exchange's replacement (a new order linked to the return)")
def exchange(rma_id: Id, request: Request, hub: O2CDep, user: ReturnsWriter,
             body: Annotated[ExchangeCreate | None, Body()] = None, key: IdempotencyKey = None) -> ReturnPublic:
    body = body or ExchangeCreate()
    rma, _order = hub.exchange(rma_id, actor=user.actor, idem=idem(key, request, json.loads(body.model_dump_json())),
                               location=body.location)
    return _public(hub, rma)
