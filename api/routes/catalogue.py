"""Catalogue maintenance: new items, price changes and item attributes, applied without downtime (the next
order is priced with them), durable, re-applied after a restart or a refresh until an extract carries them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.conventions import answer, idem
from api.deps import CatalogueWriter, IdempotencyKey, PricingReader, ServiceDep
from api.errors import responses

router = APIRouter(prefix="/catalogue", tags=["catalogue"])


class CatalogueChangesCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"changes": [
        {"id": "CH-1", "kind": "price_change", "item": "CHAIR", "price": "89.00", "currency": "EUR"},
        {"id": "CH-2", "kind": "new_item", "item": "STOOL", "price": "39.00", "currency": "EUR", "category": "chairs"},
        {"id": "CH-3", "kind": "attribute_change", "item": "DESK", "tax_category": "reduced"}]}]})

    changes: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=10_000)]


class CatalogueChangesPublic(BaseModel):
    applied: int | None = None
    changes: list[dict[str, Any]] = []
    data: list[dict[str, Any]] | None = None
    count: int | None = None
    journal_seq: int


class CatalogueItemPublic(BaseModel):
    item: str
    category: str | None = None
    brand: str | None = None
    price: dict[str, str] | None = None
    cost: dict[str, str] | None = None
    tax_category: str
    item_class: str | None = None
    description: str | None = None
    in_supply_snapshot: bool
    as_of: str


@router.post("/changes", operation_id="apply_catalogue_changes", response_model=CatalogueChangesPublic,
             responses=responses(409, 503), summary="New items, price changes, item attributes (all or nothing; durable)")
def apply_changes(body: CatalogueChangesCreate, request: Request, svc: ServiceDep, user: CatalogueWriter,
                  key: IdempotencyKey = None) -> Response:
    return answer(svc.apply_catalogue_changes(body.changes, actor=user.actor, idem=idem(key, request, body)))


@router.get("/changes", operation_id="list_catalogue_changes", response_model=CatalogueChangesPublic,
            responses=responses(), summary="Catalogue changes posted, in order (retired ones: carried by an extract)")
def list_changes(svc: ServiceDep, user: PricingReader) -> dict:
    return svc.catalogue_changes()


@router.get("/items/{item}", operation_id="read_catalogue_item", response_model=CatalogueItemPublic,
            responses=responses(404), summary="An item as pricing sees it today (the extract with the changes)")
def read_item(item: Annotated[str, Path(min_length=1, max_length=100)], svc: ServiceDep, user: PricingReader) -> dict:
    return svc.catalogue_item(item)
