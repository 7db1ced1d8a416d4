"""Pricing: price lists (with entries and tiers), discount rules, tax rates and assignments, posted as data
(validated, versioned by effective dates, durable), and a price quote (nothing stored)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel

from api.conventions import answer, idem
from api.deps import IdempotencyKey, PricingReader, PricingWriter, ServiceDep
from api.errors import responses

router = APIRouter(prefix="/pricing", tags=["pricing"])

#: the URL segment of each kind of pricing record
KINDS = {"price-lists": "price_list", "rules": "rule", "tax-rates": "tax_rate", "assignments": "assignment"}
Kind = Annotated[Literal["price-lists", "rules", "tax-rates", "assignments"], Path(description="the kind of record")]

_EXAMPLES = {
    "rule": {"id": "SPRING", "version": 1, "kind": "percent", "value": "10", "stacking": "stackable", "precedence": 10,
             "valid_from": "2026-01-01", "valid_to": "2026-03-31", "categories": ["chairs"]},
    "price_list": {"id": "EU-GOLD", "version": 1, "currency": "EUR", "valid_from": "2026-01-01",
                   "entries": [{"item": "CHAIR", "unit_price": "95.00"}]},
    "tax_rate": {"country": "DE", "tax_category": "standard", "rate": "0.19", "valid_from": "2026-01-01"},
    "assignment": {"kind": "segment", "key": "gold", "price_list": "EU-GOLD"},
}


class PricingRecordPublic(BaseModel):
    kind: str
    ref: str
    record: dict[str, Any]


class PricingRecordsPublic(BaseModel):
    kind: str
    data: list[dict[str, Any]]
    count: int


class QuotePublic(BaseModel):
    """An order's price (`pricing.OrderPrice.to_dict()`): a waterfall per line, the sums, amounts as strings."""

    order: str
    currency: str
    on: str
    lines: list[dict[str, Any]]
    net: dict[str, str]
    tax: dict[str, str]
    total: dict[str, str]
    needs_approval: bool
    approval_reasons: list[str]


@router.post("/quote", operation_id="price_quote", response_model=QuotePublic, responses=responses(),
             summary="Price an order on the business day without storing anything (the waterfall per line)")
def quote(svc: ServiceDep, user: PricingReader, body: Annotated[dict[str, Any], Body(examples=[{
        "customer": "C-ACME", "ship_to_country": "DE", "lines": [{"line": "1", "item": "CHAIR", "qty": 2}]}])]) -> dict:
    return svc.quote(body)


@router.get("/{kind}", operation_id="list_pricing_records", response_model=PricingRecordsPublic, responses=responses(),
            summary="Every version of the price lists, rules, tax rates or assignments, with their source (file or api)")
def list_records(kind: Kind, svc: ServiceDep, user: PricingReader) -> dict:
    return svc.pricing_records(KINDS[kind])


@router.post("/{kind}", operation_id="post_pricing_record", response_model=PricingRecordPublic, status_code=201,
             responses=responses(409, 503),
             summary="Add a price list, rule, tax rate or assignment (validated; a new version supersedes the old one "
                     "from its valid_from day; durable before the answer)")
def post_record(kind: Kind, request: Request, svc: ServiceDep, user: PricingWriter,
                body: Annotated[dict[str, Any], Body(examples=list(_EXAMPLES.values()))],
                key: IdempotencyKey = None) -> Response:
    return answer(svc.post_pricing(KINDS[kind], body, actor=user.actor, idem=idem(key, request, body)))
