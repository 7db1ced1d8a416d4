"""Automatic reorder: policies, the report, proposals reviewed and released as durable supply (reorder/README.md).

Reads (``reorder:read``: viewer, planner, admin): ``GET /v1/reorder/policies``, ``GET /v1/reorder/report``,
``GET /v1/reorder/proposals[/{id}]``. Writes (``reorder:write``: planner, admin), each durable before the
answer: ``POST /v1/reorder/policies`` (overrides), ``POST /v1/reorder/runs`` (propose),
``PATCH /v1/reorder/proposals/{id}`` (quantity), ``POST /v1/reorder/proposals/{id}/reject`` and
``POST /v1/reorder/proposals/{id}/release`` (a supply delta through the order book; released twice = once).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.deps import ReorderDep, ReorderReader, ReorderWriter
from api.errors import responses

router = APIRouter(prefix="/reorder", tags=["reorder"])

Name = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
ProposalId = Annotated[str, Path(min_length=4, max_length=20, pattern=r"^RO-[0-9]{6,}$")]


# ------------------------------------------------------------------ schemas


class PolicyBase(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    method: Literal["rop", "minmax"] | None = Field(None, description="rop: reorder point; minmax: min_qty and max_qty")
    service_level: Annotated[float, Field(ge=0.5, lt=1.0)] | None = None
    window_days: Annotated[int, Field(ge=2, le=3650)] | None = None
    cover_days: Annotated[float, Field(ge=0, le=3650)] | None = None
    lot_size: Annotated[float, Field(gt=0, le=1e12)] | None = None
    lead_time_days: Annotated[int, Field(ge=0, le=3650)] | None = Field(None, description="None: the item's own")
    min_qty: Annotated[float, Field(ge=0, le=1e12)] | None = None
    max_qty: Annotated[float, Field(ge=0, le=1e12)] | None = None


class PolicyCreate(PolicyBase):
    item: Name
    location: Name


class PoliciesCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"policies": [
        {"item": "I000042", "location": "DC01", "service_level": 0.98, "lead_time_days": 5}]}]})

    policies: Annotated[list[PolicyCreate], Field(min_length=1, max_length=10_000)]


class PoliciesPublic(BaseModel):
    default: dict[str, Any]
    overrides: list[dict[str, Any]]


class ReorderLinePublic(BaseModel):
    model_config = ConfigDict(extra="allow")

    item: str
    location: str
    business_day: str
    method: str
    service_level: float
    z: float | None
    window_start: str
    window_end: str
    window_days: int
    demand_total: float
    demand_mean: float
    demand_sigma: float
    lead_time_days: int | None
    lead_time_basis: str
    receipt_date: str | None
    reorder_point: float | None
    order_up_to: float | None
    on_hand: float | None = Field(description="null: not computed (no lead time, or the receipt past the horizon)")
    open_supply: float | None
    committed: float | None
    position: float | None
    proposed_qty: float
    reason: str
    proposal: str | None = None


class ReportPublic(BaseModel):
    business_day: str
    lines: list[ReorderLinePublic]


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[Name], Field(max_length=10_000)] | None = Field(None, description="only these items")
    locations: Annotated[list[Name], Field(max_length=10_000)] | None = Field(None, description="only these locations")


class RunPublic(ReportPublic):
    created: list[str]
    kept: list[str]


class ProposalPublic(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    status: Literal["proposed", "released", "rejected"]
    item: str
    location: str
    qty: float
    proposed_qty: float
    receipt_date: str
    created_on: str
    created_at: str
    created_by: str
    reason: str
    figures: dict[str, Any]
    ref: str
    released: dict[str, Any] | None
    history: list[dict[str, Any]]


class ReleasePublic(ProposalPublic):
    replayed: bool = Field(description="true: it had been released already; nothing was applied again")


class ProposalsPublic(BaseModel):
    proposals: list[ProposalPublic]


class ProposalChange(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    qty: Annotated[float, Field(gt=0, le=1e12, description="the quantity to release")]


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, Field(max_length=500)] | None = None


# ------------------------------------------------------------------ routes


@router.get("/policies", operation_id="read_reorder_policies", response_model=PoliciesPublic, responses=responses(),
            summary="The default reorder policy and the per item-location overrides (file, then API)")
def read_policies(rb: ReorderDep, user: ReorderReader) -> dict:
    return rb.policies()


@router.post("/policies", operation_id="post_reorder_policies", response_model=PoliciesPublic, responses=responses(),
             summary="Post per item-location policy overrides (each replaces the API's earlier one; all or nothing)")
def post_policies(body: PoliciesCreate, rb: ReorderDep, user: ReorderWriter) -> dict:
    rows = [p.model_dump(exclude_none=True) for p in body.policies]
    return rb.set_policies(rows, actor=user.actor)


@router.get("/report", operation_id="reorder_report", response_model=ReportPublic, responses=responses(),
            summary="Per item-location: demand mean and sigma, lead time, reorder point, position, proposed quantity, reason")
def read_report(rb: ReorderDep, user: ReorderReader,
                item: Annotated[list[Name] | None, Query(description="only these items")] = None,
                location: Annotated[list[Name] | None, Query(description="only these locations")] = None) -> dict:
    lines = rb.report(items=item, locations=location)
    return {"business_day": rb.svc.business_day.isoformat(), "lines": [ln.to_dict() for ln in lines]}


@router.post("/runs", operation_id="propose_reorders", response_model=RunPublic, responses=responses(),
             summary="Run the report and keep a proposal for each item-location that should reorder (none twice)")
def propose(rb: ReorderDep, user: ReorderWriter, body: RunCreate | None = None) -> dict:
    body = body or RunCreate()
    return rb.propose(actor=user.actor, items=body.items, locations=body.locations)


@router.get("/proposals", operation_id="list_reorder_proposals", response_model=ProposalsPublic, responses=responses(),
            summary="Reorder proposals, by id")
def list_proposals(rb: ReorderDep, user: ReorderReader,
                   status: Literal["proposed", "released", "rejected"] | None = None) -> dict:
    return {"proposals": rb.proposals(status=status)}


@router.get("/proposals/{proposal_id}", operation_id="read_reorder_proposal", response_model=ProposalPublic,
            responses=responses(404), summary="One reorder proposal with its figures and history")
def read_proposal(proposal_id: ProposalId, rb: ReorderDep, user: ReorderReader) -> dict:
    return rb.get(proposal_id)


@router.patch("/proposals/{proposal_id}", operation_id="change_reorder_proposal", response_model=ProposalPublic,
              responses=responses(404, 409), summary="Change the quantity of an open proposal")
def change_proposal(proposal_id: ProposalId, body: ProposalChange, rb: ReorderDep, user: ReorderWriter) -> dict:
    return rb.edit(proposal_id, qty=body.qty, actor=user.actor)


@router.post("/proposals/{proposal_id}/reject", operation_id="reject_reorder_proposal", response_model=ProposalPublic,
             responses=responses(404, 409), summary="Reject an open proposal (final)")
def reject_proposal(proposal_id: ProposalId, rb: ReorderDep, user: ReorderWriter, body: Rejection | None = None) -> dict:
    return rb.reject(proposal_id, actor=user.actor, note=body.note if body else None)


@router.post("/proposals/{proposal_id}/release", operation_id="release_reorder_proposal", response_model=ReleasePublic,
             responses=responses(404, 409),
             summary="Release a proposal as a durable receipt (a supply delta: promising sees it at once); twice = once")
def release_proposal(proposal_id: ProposalId, rb: ReorderDep, user: ReorderWriter) -> dict:
    doc, replayed = rb.release(proposal_id, actor=user.actor)
    return {**doc, "replayed": replayed}

