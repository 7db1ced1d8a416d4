"""HTTP: snapshot status, zero-downtime refresh and real-time supply deltas (`/v1`).

Mounted by `server.py` (PACKAGE_ROUTERS). Reaches the live pair through
`request.app.state.live` (a `supplydata.live.LiveSupply`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from promessa.errors import SnapshotError
from supplydata.live import LiveSupply, SupplyDelta

router = APIRouter(prefix="/v1", tags=["snapshot"])

Id = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]


async def get_live(request: Request) -> LiveSupply:
    live = getattr(request.app.state, "live", None)
    if live is None:
        raise HTTPException(503, "the live snapshot is not loaded yet")
    return live


def _require(permission: str):
    """The server's API-key check (roles in server.PERMISSIONS)."""
    from server import require

    return require(permission)


LiveDep = Annotated[LiveSupply, Depends(get_live)]
AdminUser = Annotated[Any, Depends(_require("admin"))]
SupplyUser = Annotated[Any, Depends(_require("fulfillment:write"))]


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    directory: str | None = Field(None, max_length=4096,
                                  description="extract directory on the server; empty: the one being served")


class RefreshPublic(BaseModel):
    status: Literal["started", "done"]
    report: dict | None = None
    snapshot: dict


class DeltaIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    item: Id
    location: Id
    date: dt.date
    qty: Annotated[float, Field(ge=-1e12, le=1e12, description="added (negative: removed) on that date")]
    kind: Literal["adjustment", "receipt"] = "adjustment"
    ref: Id | None = None


class DeltasCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    deltas: Annotated[list[DeltaIn], Field(min_length=1, max_length=10_000)]


class DeltasPublic(BaseModel):
    applied: int
    uncovered: list[dict]
    version: int
    replayed: bool = False


class SnapshotPublic(BaseModel):
    model_config = ConfigDict(extra="allow")
    source: str
    version: int
    as_of: str
    horizon_days: int
    journal_seq: int | None
    loaded_at: str
    item_locations: int
    rows: dict[str, int]
    refreshing: bool
    refreshes: int
    last_refresh: dict | None
    last_error: dict | None


@router.get("/snapshot", response_model=SnapshotPublic, summary="Snapshot status: as-of, version, row counts, last refresh and error")
async def snapshot_status(live: LiveDep) -> dict:
    return live.status()


def _refresh_in_background(live: LiveSupply, directory: str) -> None:
    try:
        live.refresh(directory)
    except Exception:  # noqa: BLE001 - recorded in live.last_error (bad extract) or logged
        if live.last_error is None:
            import logging

            logging.getLogger("promessa.refresh").exception("refresh from %s failed", directory)


@router.post("/snapshot/refresh", response_model=RefreshPublic, status_code=202,
             summary="Load a new extract beside the live snapshot, replay commitments, swap (no downtime)")
def refresh(live: LiveDep, user: AdminUser, body: RefreshRequest | None = None,
            wait: Annotated[bool, Query(description="answer when the swap is done (200) instead of at once (202)")] = False):
    from fastapi.responses import JSONResponse

    directory = (body.directory if body and body.directory else None) or live.snapshot.source
    if wait:
        try:
            report = live.refresh(directory)
        except SnapshotError as exc:
            raise HTTPException(422, {"msg": "extract refused; the live snapshot stays in service", "error": str(exc),
                                      "file": exc.file, "row": exc.row, "column": exc.column}) from None
        return JSONResponse(status_code=200, content={"status": "done", "report": report, "snapshot": live.status()})
    if live.refreshing:
        raise HTTPException(409, "a refresh is already running")
    threading.Thread(target=_refresh_in_background, args=(live, directory), name="refresh", daemon=True).start()
    return {"status": "started", "report": None, "snapshot": live.status()}


@router.post("/supply/deltas", response_model=DeltasPublic,
             summary="Apply inventory adjustments and new or changed receipts to the live state (no refresh)")
def deltas(body: DeltasCreate, live: LiveDep, user: SupplyUser,
           key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200,
                                             pattern=r"^[\x21-\x7e]+$")] = None) -> dict:
    h = hashlib.sha256(body.model_dump_json().encode()).hexdigest() if key else None
    ds = [SupplyDelta(d.item, d.location, d.date, float(d.qty), d.kind, d.ref) for d in body.deltas]
    return live.apply_deltas(ds, idempotency=(key, h) if key else None)
