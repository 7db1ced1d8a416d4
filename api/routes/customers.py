"""Customers: the customer master, created, changed and imported through the API (durable in the order book).

Orders are checked against it at capture (unknown, blocked, over the credit limit: on hold). Without any
customer (no customers file in settings, none posted) there is no customer check.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path as PathParam, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from api.conventions import idem
from api.deps import CustomersReader, CustomersWriter, IdempotencyKey, ServiceDep
from api.errors import responses
from customers import load_customers
from orderbook.txn import Idem
from promessa.errors import ValidationError

router = APIRouter(prefix="/customers", tags=["customers"])

CustomerId = Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]

_EXAMPLE = {"id": "C-ACME", "name": "Acme Office GmbH", "segments": ["gold"], "channel": "b2b", "tax_profile": "standard",
            "addresses": [{"id": "main", "country": "DE", "line1": "Hafenstrasse 1", "city": "Hamburg",
                           "postal_code": "20457", "kind": "both"}],
            "contacts": [{"name": "Jane Roe", "email": "jane@acme.example"}],
            "credit_limit": {"amount": "5000.00", "currency": "EUR"}, "payment_terms": "net 30"}


class CustomerPublic(BaseModel):
    """A customer master record (`customers.Customer.to_dict()`)."""

    model_config = ConfigDict(extra="allow")
    id: str
    name: str
    segments: list[str] = []
    channel: str | None = None
    price_list: str | None = None
    tax_profile: str
    addresses: list[dict[str, Any]] = []
    contacts: list[dict[str, Any]] = []
    credit_limit: dict[str, str] | None = None
    payment_terms: str
    blocked: bool = False
    blocked_reason: str | None = None


class CustomersPublic(BaseModel):
    data: list[CustomerPublic]
    count: int
    total: int
    configured: bool


class CustomersImport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customers: list[dict[str, Any]]


class CustomersImported(BaseModel):
    imported: int
    created: int
    replaced: int


def _answer(result: tuple[int, str, bool], *, location: bool = False) -> Response:
    status, body, replayed = result
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if location and status == 201:
        from urllib.parse import quote

        headers["Location"] = f"/v1/customers/{quote(json.loads(body)['id'], safe='')}"
    return Response(content=body, status_code=status, media_type="application/json", headers=headers or None)


@router.get("", operation_id="list_customers", response_model=CustomersPublic, responses=responses(),
            summary="The customer master, by id (configured: false means no customer check)")
def list_customers(svc: ServiceDep, user: CustomersReader, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                   offset: Annotated[int, Query(ge=0)] = 0) -> dict:
    return svc.customers(limit=limit, offset=offset)


@router.get("/{customer_id}", operation_id="read_customer", response_model=CustomerPublic, responses=responses(404),
            summary="One customer")
def read_customer(customer_id: CustomerId, svc: ServiceDep, user: CustomersReader) -> dict:
    return svc.customer(customer_id)


@router.post("", operation_id="create_customer", response_model=CustomerPublic, status_code=201,
             responses=responses(409, 503), summary="Create a customer (validated; durable before the answer)")
def create_customer(request: Request, svc: ServiceDep, user: CustomersWriter,
                    body: Annotated[dict[str, Any], Body(examples=[_EXAMPLE])], key: IdempotencyKey = None) -> Response:
    return _answer(svc.create_customer(body, actor=user.actor, idem=idem(key, request, body)), location=True)


@router.patch("/{customer_id}", operation_id="change_customer", response_model=CustomerPublic,
              responses=responses(404, 409, 503), summary="Change a customer (the fields given; the id stays)")
def change_customer(customer_id: CustomerId, request: Request, svc: ServiceDep, user: CustomersWriter,
                    body: Annotated[dict[str, Any], Body(examples=[{"blocked": True, "blocked_reason": "overdue invoices"}])],
                    key: IdempotencyKey = None) -> Response:
    return _answer(svc.change_customer(customer_id, body, actor=user.actor, idem=idem(key, request, body)))


@router.post("/import", operation_id="import_customers", response_model=CustomersImported, responses=responses(409, 503),
             summary="Import customers (JSON records), all or nothing; existing ids are replaced")
def import_customers(body: CustomersImport, request: Request, svc: ServiceDep, user: CustomersWriter,
                     key: IdempotencyKey = None) -> Response:
    return _answer(svc.import_customers(body.customers, actor=user.actor, idem=idem(key, request, body)))


@router.post(
    "/import/csv", operation_id="import_customers_csv", response_model=CustomersImported, responses=responses(409, 503),
    summary="Import a customer file (CSV with the customers package's columns), all or nothing",
    openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def import_customers_csv(request: Request, svc: ServiceDep, user: CustomersWriter,
                               key: IdempotencyKey = None) -> Response:
    raw = await request.body()
    if not raw.strip():
        raise ValidationError("no rows", field="body", value=None, hint="send a header row and at least one data row")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "customers.csv"
        path.write_bytes(raw)
        try:
            master = load_customers(path)  # refusals name the file, the row, the column and the value
        except UnicodeDecodeError as exc:
            raise ValidationError(f"not a UTF-8 CSV file: {exc}", field="body", value=None) from None
    records = [master[i].to_dict() for i in master]
    key_ = Idem.of(key, request.method, request.url.path, raw)
    return _answer(await run_in_threadpool(svc.import_customers, records, actor=user.actor, idem=key_))
