"""Operations: liveness (no key, reveals nothing), health, metrics, the commitment journal, commitments."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from api.deps import OpsReader, ServiceDep
from api.errors import PUBLIC_RESPONSES, responses
from orderbook.lifecycle import OrderStatus
from orderbook.schemas import CommitmentsPublic, HealthPublic, JournalPublic

router = APIRouter(tags=["operations"])


class LivePublic(BaseModel):
    status: Literal["ok"]


@router.get("/livez", operation_id="liveness", response_model=LivePublic, responses=PUBLIC_RESPONSES,
            summary="Liveness probe: answers ok while the process serves (no key; reveals nothing else)")
async def livez() -> dict:
    return {"status": "ok"}


@router.get("/health", operation_id="health", response_model=HealthPublic, responses=responses(503),
            summary="Health: store, orders, journal, snapshot, demo mode")
async def health(svc: ServiceDep, request: Request, user: OpsReader) -> dict:
    return {"status": "ok", "store": svc.store.kind, "orders": len(svc.orders), "journal_seq": svc.seq,
            "replay_exceptions": len(svc.replay_exceptions), "snapshot": svc.snap.status(),
            "demo": request.app.state.settings.api.demo}


_METRICS = {"response_class": PlainTextResponse, "response_model": str,
            "responses": {200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **responses(non_json=True)}}


async def _metrics(svc) -> PlainTextResponse:
    by_status: dict[str, int] = {}
    for o in list(svc.orders.values()):
        by_status[o.status] = by_status.get(o.status, 0) + 1
    gauges = {"promessa_journal_seq": ("last commitment journal sequence number", float(svc.seq)),
              "promessa_orders": ("orders in the book", float(len(svc.orders))),
              "promessa_committed_units": ("units committed on top of the snapshot", svc.state.committed_total())}
    for s in OrderStatus:
        gauges[f"promessa_orders_{s}"] = (f"orders {s}", float(by_status.get(str(s), 0)))
    active = [r for r in list(svc.reservations.values()) if r.status == "active"]
    gauges["promessa_reservations_active"] = ("temporary reservations holding units", float(len(active)))
    gauges["promessa_reservations_held_units"] = ("units held by temporary reservations", float(sum(r.held_qty for r in active)))
    return PlainTextResponse(svc.metrics.render(gauges), media_type="text/plain; version=0.0.4")


@router.get("/metrics", operation_id="metrics", summary="Metrics (Prometheus text format; the key as a bearer token)",
            **_METRICS)
async def metrics(svc: ServiceDep, user: OpsReader) -> PlainTextResponse:
    return await _metrics(svc)


@router.get("/journal", operation_id="read_journal", response_model=JournalPublic, responses=responses(503),
            summary="Commitment journal after a sequence number (for snapshot refresh and replicas)")
def journal(svc: ServiceDep, user: OpsReader, since: Annotated[int, Query(ge=0, le=2**62)] = 0,
            limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000) -> dict:
    return {"since": since, "last_seq": svc.seq, "data": svc.journal_since(since, limit=limit)}


@router.get("/commitments", operation_id="read_commitments", response_model=CommitmentsPublic, responses=responses(503),
            summary="In-memory commitments per item-location and date")
def commitments(svc: ServiceDep, user: OpsReader) -> dict:
    return svc.commitments()


#: Prometheus' conventional path, outside /v1 (the same answer as /v1/metrics)
root = APIRouter(tags=["operations"])


@root.get("/metrics", operation_id="metrics_root", include_in_schema=False, **_METRICS)
async def metrics_root(svc: ServiceDep, user: OpsReader) -> PlainTextResponse:
    return await _metrics(svc)
