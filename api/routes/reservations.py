"""Temporary reservations (holds) of carts and quotes: create, read, list, audit, extend, release, convert.

A reservation promises its lines now and holds the units until it expires (``expires_at``, wall
clock); the server's expiry scheduler releases it then. Converting it creates the order with
exactly the held units (``orderbook.reservations``)."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import Response

from api.conventions import answer, etag, idem
from api.deps import IdempotencyKey, OrdersReader, ReservationsWriter, ServiceDep
from api.errors import responses
from api.routes.orders import ORDER_URL
from orderbook.schemas import (
    AuditPublic,
    Id,
    OrderPublic,
    ReservationConvert,
    ReservationCreate,
    ReservationExtend,
    ReservationPublic,
    ReservationRelease,
    ReservationsPublic,
)

router = APIRouter(prefix="/reservations", tags=["reservations"])

ReservationId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
RESERVATION_URL = "/v1/reservations/{reservation_id}"
Status = Literal["active", "converted", "released", "expired"]

_ETAG = {"ETag": {"description": 'the reservation\'s version, quoted ("2")', "schema": {"type": "string"}}}
_LINK = {"reservation_id": "$response.body#/reservation_id"}
_LINKS = {
    "ReadReservation": {"operationId": "read_reservation", "parameters": _LINK},
    "ExtendReservation": {"operationId": "extend_reservation", "parameters": _LINK},
    "ReleaseReservation": {"operationId": "release_reservation", "parameters": _LINK},
    "ConvertReservation": {"operationId": "convert_reservation", "parameters": _LINK},
}


def _answer(result: tuple[int, str, bool], *, location: bool = False) -> Response:
    """A reservation command's answer: its ETag (the reservation's version), and Location when created."""
    status, body, replayed = result
    headers: dict[str, str] = {}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    if 200 <= status < 300:
        data = json.loads(body)
        headers["ETag"] = etag(data["version"])
        if location:
            from urllib.parse import quote

            headers["Location"] = RESERVATION_URL.format(reservation_id=quote(data["reservation_id"], safe=""))
    return Response(content=body, status_code=status, media_type="application/json", headers=headers)


@router.post("", operation_id="create_reservation", response_model=ReservationPublic, status_code=201,
             responses={201: {"description": "promised now; the units are held until expires_at", "links": _LINKS,
                              "headers": {**_ETAG, "Location": {"description": "the reservation's URL",
                                                                "schema": {"type": "string"}}}},
                        **responses(409, 503)},
             summary="Hold stock for a cart or a quote: promise the lines and reserve the units for a time to live")
def create(body: ReservationCreate, request: Request, svc: ServiceDep, user: ReservationsWriter,
           key: IdempotencyKey = None) -> Response:
    return _answer(svc.create_reservation(body, actor=user.actor, idem=idem(key, request, body)), location=True)


@router.get("", operation_id="list_reservations", response_model=ReservationsPublic, responses=responses(),
            summary="List reservations, newest first")
def search(
    svc: ServiceDep,
    user: OrdersReader,
    status: Annotated[list[Status] | None, Query()] = None,
    reference: Annotated[Id | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> dict:
    data, total = svc.list_reservations(status=list(status) if status else None, reference=reference,
                                        limit=min(limit, svc.settings.api.max_search_limit), offset=offset)
    return {"data": data, "count": len(data), "total": total, "limit": limit, "offset": offset}


@router.get("/{reservation_id}", operation_id="read_reservation", response_model=ReservationPublic,
            responses={200: {"headers": _ETAG}, **responses(404)}, summary="Read a reservation (with its ETag)")
def read(reservation_id: ReservationId, svc: ServiceDep, user: OrdersReader) -> Response:
    data = svc.get_reservation(reservation_id)
    return Response(content=json.dumps(data, separators=(",", ":")), media_type="application/json",
                    headers={"ETag": etag(data["version"])})


@router.get("/{reservation_id}/audit", operation_id="read_reservation_audit", response_model=AuditPublic,
            responses=responses(404), summary="Audit trail of a reservation: created, extended, released, expired, converted")
def audit(reservation_id: ReservationId, svc: ServiceDep, user: OrdersReader) -> dict:
    return {"data": svc.reservation_audit(reservation_id)}


@router.post("/{reservation_id}/extend", operation_id="extend_reservation", response_model=ReservationPublic,
             responses={200: {"headers": _ETAG}, **responses(404, 409, 503)},
             summary="Hold the units longer: the reservation now expires ttl_s seconds from now")
def extend(reservation_id: ReservationId, body: ReservationExtend, request: Request, svc: ServiceDep,
           user: ReservationsWriter, key: IdempotencyKey = None) -> Response:
    return _answer(svc.extend_reservation(reservation_id, body, actor=user.actor, idem=idem(key, request, body)))


Note = Annotated[ReservationRelease | None, Body(description="optional note; an empty body is no note")]


@router.post("/{reservation_id}/release", operation_id="release_reservation", response_model=ReservationPublic,
             responses={200: {"headers": _ETAG}, **responses(404, 409, 503)},
             summary="Give the held units back now (a released or expired reservation is answered as it is)")
def release(reservation_id: ReservationId, request: Request, svc: ServiceDep, user: ReservationsWriter,
            key: IdempotencyKey = None, body: Note = None) -> Response:
    note = body.note if body else None
    return _answer(svc.release_reservation(reservation_id, actor=user.actor, idem=idem(key, request, {"note": note}),
                                           note=note))


@router.delete("/{reservation_id}", operation_id="delete_reservation", response_model=ReservationPublic,
               responses={200: {"headers": _ETAG}, **responses(404, 409, 503)},
               summary="Release a reservation (the same as POST .../release)")
def delete(reservation_id: ReservationId, request: Request, svc: ServiceDep, user: ReservationsWriter,
           key: IdempotencyKey = None) -> Response:
    return _answer(svc.release_reservation(reservation_id, actor=user.actor, idem=idem(key, request, {})))


@router.post("/{reservation_id}/convert", operation_id="convert_reservation", response_model=OrderPublic,
             status_code=201,
             responses={201: {"description": "the order, holding exactly the reservation's units",
                              "headers": {"ETag": {"description": "the order's version", "schema": {"type": "string"}},
                                          "Location": {"description": "the order's URL", "schema": {"type": "string"}}}},
                        200: {"description": "converted before: its order"}, **responses(404, 409, 503)},
             summary="Convert a reservation to an order that takes over exactly the held units (no second promise)")
def convert(reservation_id: ReservationId, request: Request, svc: ServiceDep, user: ReservationsWriter,
            key: IdempotencyKey = None, body: Annotated[ReservationConvert | None, Body()] = None) -> Response:
    body = body or ReservationConvert()
    return answer(svc.convert_reservation(reservation_id, body, actor=user.actor, idem=idem(key, request, body)),
                  order=True, location=ORDER_URL)
