"""Orders: capture, read and search, audit trail, change, cancel, approve or reject, fulfillment events."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from fastapi import APIRouter, Body, Header, Path, Query, Request
from fastapi.responses import Response

from api.conventions import ANY, answer, etag, idem, parse_if_match
from api.deps import Approver, FulfillmentWriter, IdempotencyKey, OrdersReader, OrdersWriter, ServiceDep
from api.errors import PreconditionFailed, responses
from orderbook.lifecycle import OrderStatus
from orderbook.schemas import (
    AuditPublic,
    Decision,
    FulfillmentEvent,
    Id,
    OrderChange,
    OrderCreate,
    OrderPublic,
    OrdersPublic,
    Timestamp,
)
from promessa.errors import ConflictError, NotFoundError

router = APIRouter(prefix="/orders", tags=["orders"])

OrderId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
ORDER_URL = "/v1/orders/{order_id}"

_ETAG = {"ETag": {"description": 'the order\'s version, quoted ("3"); send it back in If-Match', "schema": {"type": "string"}}}
_LINK = {"order_id": "$response.body#/order_id"}
#: OpenAPI links from a captured order to what can be done with it (clients and fuzzers follow them)
_CAPTURE_LINKS = {
    "ReadOrder": {"operationId": "read_order", "parameters": _LINK},
    "ReadAudit": {"operationId": "read_audit", "parameters": _LINK},
    "ReadMargin": {"operationId": "read_order_margin", "parameters": _LINK},
    "ChangeOrder": {"operationId": "change_order", "parameters": _LINK},
    "CancelOrder": {"operationId": "cancel_order", "parameters": _LINK},
    "ApproveOrder": {"operationId": "approve_order", "parameters": _LINK},
    "RejectOrder": {"operationId": "reject_order", "parameters": _LINK},
    "PostEvent": {"operationId": "post_event", "parameters": _LINK},
}


@router.post("", operation_id="capture_order", response_model=OrderPublic, status_code=201,
             responses={201: {"description": "captured, promised and committed", "links": _CAPTURE_LINKS,
                              "headers": {**_ETAG, "Location": {"description": "the order's URL", "schema": {"type": "string"}}}},
                        **responses(409, 503)},
             summary="Capture an order: validate, promise and commit in one step")
def capture(body: OrderCreate, request: Request, svc: ServiceDep, user: OrdersWriter, key: IdempotencyKey = None) -> Response:
    return answer(svc.capture(body, actor=user.actor, idem=idem(key, request, body)), order=True, location=ORDER_URL)


@router.get("", operation_id="search_orders", response_model=OrdersPublic, responses=responses(),
            summary="Search orders")
def search(
    svc: ServiceDep,
    user: OrdersReader,
    customer: Annotated[Id | None, Query()] = None,
    item: Annotated[Id | None, Query()] = None,
    status: Annotated[list[OrderStatus] | None, Query()] = None,
    created_from: Timestamp | None = None,
    created_to: Timestamp | None = None,
    requested_from: dt.date | None = None,
    requested_to: dt.date | None = None,
    source_system: Annotated[Id | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> dict:
    data, total = svc.search(customer=customer, item=item, status=[str(s) for s in status] if status else None,
                             created_from=created_from, created_to=created_to, requested_from=requested_from,
                             requested_to=requested_to, source_system=source_system,
                             limit=min(limit, svc.settings.api.max_search_limit), offset=offset)
    return {"data": data, "count": len(data), "total": total, "limit": limit, "offset": offset}


@router.get("/{order_id}", operation_id="read_order", response_model=OrderPublic,
            responses={200: {"headers": _ETAG}, **responses(404)}, summary="Read an order (with its ETag)")
def read(order_id: OrderId, svc: ServiceDep, user: OrdersReader) -> Response:
    data = svc.get(order_id)  # rendered as capture renders it (the same record, the same shape)
    return Response(content=json.dumps(data, separators=(",", ":")), media_type="application/json",
                    headers={"ETag": etag(data["version"])})


@router.get("/{order_id}/audit", operation_id="read_audit", response_model=AuditPublic, responses=responses(404),
            summary="Audit trail: every transition, which key acted (role and key fingerprint) and when")
def audit(order_id: OrderId, svc: ServiceDep, user: OrdersReader) -> dict:
    return {"data": svc.audit(order_id)}


IfMatch = Annotated[str | None, Header(
    alias="If-Match", max_length=200,
    description='apply only if the order is at this version: its ETag ("2"), a weak tag (W/"2"), a list, or *; '
                "otherwise 412")]


@router.patch("/{order_id}", operation_id="change_order", response_model=OrderPublic,
              responses={200: {"headers": _ETAG}, **responses(404, 409, 412, 503)},
              summary="Change quantities, dates, lines or ship-to: release what has not shipped and promise again")
def change(order_id: OrderId, body: OrderChange, request: Request, svc: ServiceDep, user: OrdersWriter,
           key: IdempotencyKey = None, if_match: IfMatch = None) -> Response:
    return _guarded(svc, order_id, if_match,
                    lambda version: svc.change(order_id, body, actor=user.actor, idem=idem(key, request, body), if_version=version))


def _guarded(svc, order_id: str, if_match: str | None, write) -> Response:
    """Run ``write(version)`` under the order's ``If-Match`` precondition: 412 when the order is at another version
    (checked before the write and, atomically, by the write itself); ``version`` is None without a precondition."""
    wanted = parse_if_match(if_match)
    version = None
    if wanted is not None:
        current = svc.orders.get(order_id)
        if current is None:
            raise NotFoundError(f"unknown order {order_id!r}")
        if wanted != ANY:
            if current.version not in wanted:
                raise _stale(order_id, current.version, if_match)
            version = current.version
    try:
        result = write(version)
    except ConflictError:
        now = svc.orders.get(order_id)
        if version is not None and now is not None and now.version != version:
            raise _stale(order_id, now.version, if_match) from None  # changed between the check and the write
        raise
    return answer(result, order=True)


def _stale(order_id: str, version: int, if_match: str | None) -> PreconditionFailed:
    return PreconditionFailed(f"order {order_id!r} is at version {etag(version)}, not {if_match}",
                              hint="read the order again (its ETag) and re-apply the change")


Note = Annotated[Decision | None, Body(description="optional note; an empty body is no note")]


@router.post("/{order_id}/cancel", operation_id="cancel_order", response_model=OrderPublic,
             responses={200: {"headers": _ETAG}, **responses(404, 409, 412, 503)}, summary="Cancel what has not shipped")
def cancel(order_id: OrderId, request: Request, svc: ServiceDep, user: OrdersWriter, key: IdempotencyKey = None,
           body: Note = None, if_match: IfMatch = None) -> Response:
    note = body.note if body else None
    return _guarded(svc, order_id, if_match, lambda version: svc.cancel(
        order_id, actor=user.actor, idem=idem(key, request, {"note": note}), note=note, if_version=version))


@router.post("/{order_id}/approve", operation_id="approve_order", response_model=OrderPublic,
             responses={200: {"headers": _ETAG}, **responses(404, 409, 412, 503)}, summary="Approve an order on hold")
def approve(order_id: OrderId, request: Request, svc: ServiceDep, user: Approver, key: IdempotencyKey = None,
            body: Note = None, if_match: IfMatch = None) -> Response:
    note = body.note if body else None
    return _guarded(svc, order_id, if_match, lambda version: svc.decide(
        order_id, approve=True, actor=user.actor, idem=idem(key, request, {"note": note}), note=note, if_version=version))


@router.post("/{order_id}/reject", operation_id="reject_order", response_model=OrderPublic,
             responses={200: {"headers": _ETAG}, **responses(404, 409, 412, 503)},
             summary="Reject an order on hold (releases its supply)")
def reject(order_id: OrderId, request: Request, svc: ServiceDep, user: Approver, key: IdempotencyKey = None,
           body: Note = None, if_match: IfMatch = None) -> Response:
    note = body.note if body else None
    return _guarded(svc, order_id, if_match, lambda version: svc.decide(
        order_id, approve=False, actor=user.actor, idem=idem(key, request, {"note": note}), note=note, if_version=version))


@router.post("/{order_id}/events", operation_id="post_event", response_model=OrderPublic,
             responses={200: {"headers": _ETAG}, **responses(404, 409, 503)},
             summary="Fulfillment event (shipped, delivered) from a warehouse or carrier system")
def event(order_id: OrderId, body: FulfillmentEvent, request: Request, svc: ServiceDep, user: FulfillmentWriter,
          key: IdempotencyKey = None) -> Response:
    return answer(svc.event(order_id, body, actor=user.actor, idem=idem(key, request, body)), order=True)
