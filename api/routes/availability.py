"""Availability: the inquiry (promises without commitment) and the time-phased ATP of an item-location."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from api.deps import ServiceDep, SupplyReader
from api.errors import responses
from promessa.errors import FormUnsupported
from orderbook.schemas import AtpPublic, AvailabilityPublic, AvailabilityRequest

router = APIRouter(tags=["availability"])

Name = Annotated[str, Path(min_length=1, max_length=100)]


@router.post("/availability", operation_id="inquire", response_model=AvailabilityPublic, responses=responses(),
             summary="Availability inquiry (no commitment)")
async def inquire(body: AvailabilityRequest, svc: ServiceDep, user: SupplyReader) -> Response:
    if body.explain and "explain" in body.model_fields_set and svc.snap.form == "compact":
        raise FormUnsupported("pegging (explain: true)")  # asked for by name; the default answers without pegs
    lines = svc.inquire(body.lines, explain=body.explain)
    return Response(content=json.dumps({"lines": lines}, separators=(",", ":")), media_type="application/json")


@router.get("/atp/{item}/{location}", operation_id="read_atp", response_model=AtpPublic, responses=responses(),
            summary="Time-phased ATP of an item-location")
def atp(item: Name, location: Name, svc: ServiceDep, user: SupplyReader, start: dt.date | None = None,
        end: dt.date | None = None) -> Response:
    return Response(content=json.dumps(svc.atp(item, location, start=start, end=end), allow_nan=False),
                    media_type="application/json")
