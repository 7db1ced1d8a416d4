"""Supply: snapshot status, zero-downtime refresh (from configured snapshot roots only) and real-time deltas."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.conventions import idem
from api.deps import IdempotencyKey, LiveDep, ServiceDep, SnapshotRefresher, SupplyReader, SupplyWriter
from api.errors import item, jsonable, responses, unprocessable
from supplydata.live import LiveSupply, SupplyDelta

router = APIRouter(tags=["supply"])
log = logging.getLogger("promessa.refresh")

Id = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]


class RefreshCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    directory: str | None = Field(None, max_length=4096,
                                  description="extract directory on the server, inside a configured snapshot root; "
                                              "empty: the one being served")


class RefreshPublic(BaseModel):
    status: Literal["started", "done"]
    report: dict[str, Any] | None = None
    snapshot: dict[str, Any]


class DeltaCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    item: Id
    location: Id
    date: dt.date
    qty: Annotated[float, Field(ge=-1e12, le=1e12, description="added (negative: removed) on that date")]
    kind: Literal["adjustment", "receipt"] = "adjustment"
    ref: Id | None = None


class DeltasCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    deltas: Annotated[list[DeltaCreate], Field(min_length=1, max_length=10_000)]


class DeltasPublic(BaseModel):
    model_config = ConfigDict(extra="allow")
    applied: int
    uncovered: list[dict[str, Any]]
    version: int
    journal_seq: int | None = None
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
    last_refresh: dict[str, Any] | None
    last_error: dict[str, Any] | None


@router.get("/snapshot", operation_id="snapshot_status", response_model=SnapshotPublic, responses=responses(),
            summary="Snapshot status: as-of, version, row counts, last refresh and error")
async def snapshot_status(live: LiveDep, user: SupplyReader) -> dict:
    return live.status()


def snapshot_roots(roots: list[Path], served: str | Path | None) -> tuple[Path, ...]:
    """The directories a refresh may read from: the configured roots and the parent of the snapshot
    served at start-up, each resolved (symbolic links and ``..`` followed)."""
    out = [Path(r).resolve() for r in roots]
    if served:
        out.append(Path(served).resolve().parent)
    return tuple(dict.fromkeys(out))


def inside_roots(directory: str, roots: tuple[Path, ...]) -> Path | None:
    """`directory` resolved, when it lies inside one of `roots`; None otherwise (also for paths that
    cannot be resolved), so that the answer never depends on what exists outside the roots."""
    try:
        path = Path(directory).resolve()
    except (OSError, ValueError, RuntimeError):
        return None
    return path if any(path == r or path.is_relative_to(r) for r in roots) else None


def _refresh_in_background(live: LiveSupply, directory: str) -> None:
    try:
        live.refresh(directory)
    except Exception:  # noqa: BLE001 - a bad extract is recorded in live.last_error; anything else is logged
        if live.last_error is None:
            log.exception("refresh from %s failed", directory)


@router.post("/snapshot/refresh", operation_id="refresh_snapshot", response_model=RefreshPublic, status_code=202,
             responses={200: {"model": RefreshPublic, "description": "refreshed (wait=true)"},
                        202: {"description": "started; GET /v1/snapshot shows the outcome",
                              "headers": {"Location": {"schema": {"type": "string"}}}},
                        **responses(409)},
             summary="Load a new extract beside the live snapshot, replay commitments, swap (no downtime)")
def refresh(request: Request, live: LiveDep, user: SnapshotRefresher, body: RefreshCreate | None = None,
            wait: Annotated[bool, Query(description="answer when the swap is done (200) instead of at once (202)")] = False):
    if body is not None and body.directory:
        path = inside_roots(body.directory, request.app.state.snapshot_roots)
        if path is None:
            return unprocessable(item("outside_roots", ["body", "directory"], "not inside a configured snapshot root",
                                      body.directory, hint="configure the directory's parent in settings.snapshot.roots "
                                                           "(PROMESSA_SNAPSHOT__ROOTS)"))
        directory = str(path)
    else:
        directory = live.snapshot.source
    if wait:
        report = live.refresh(directory)  # a refused extract: SnapshotError -> 422, the live snapshot stays
        return JSONResponse(status_code=200, content=jsonable({"status": "done", "report": report, "snapshot": live.status()}))
    if live.refreshing:
        from supplydata.live import RefreshBusy

        raise RefreshBusy("a refresh is already running", hint="wait for it (GET /v1/snapshot), then try again")
    threading.Thread(target=_refresh_in_background, args=(live, directory), name="refresh", daemon=True).start()
    return JSONResponse(status_code=202, content={"status": "started", "report": None, "snapshot": live.status()},
                        headers={"Location": "/v1/snapshot"})


@router.post("/supply/deltas", operation_id="apply_supply_deltas", response_model=DeltasPublic,
             responses=responses(409),
             summary="Apply inventory adjustments and new or changed receipts to the live state (no refresh)")
def deltas(body: DeltasCreate, request: Request, svc: ServiceDep, user: SupplyWriter, key: IdempotencyKey = None) -> dict:
    ds = [SupplyDelta(d.item, d.location, d.date, float(d.qty), d.kind, d.ref) for d in body.deltas]
    _status, text, replayed = svc.apply_supply_deltas(ds, actor=user.actor, idem=idem(key, request, body))  # durable
    return {**json.loads(text), "replayed": replayed}
