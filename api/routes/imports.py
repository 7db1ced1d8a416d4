"""Bulk import of orders (JSON or CSV rows of the orders table), validated row by row."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.conventions import answer, idem
from api.deps import IdempotencyKey, Importer, ServiceDep
from api.errors import responses
from orderbook.schemas import Id, ImportCreate, ImportPublic
from orderbook.txn import Idem
from promessa.errors import ValidationError

router = APIRouter(prefix="/imports", tags=["imports"])


@router.post("", operation_id="import_json", response_model=ImportPublic, responses=responses(409, 503),
             summary="Bulk import (JSON): rows of the orders table, validated row by row")
def import_json(body: ImportCreate, request: Request, svc: ServiceDep, user: Importer, key: IdempotencyKey = None) -> Response:
    return _answer(svc.import_orders(body.source_system, body.orders, actor=user.actor, idem=idem(key, request, body)))


@router.post(
    "/csv", operation_id="import_csv", response_model=ImportPublic, responses=responses(409, 503),
    summary="Bulk import (CSV body, header row): rows of the orders table, validated row by row",
    openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def import_csv(request: Request, svc: ServiceDep, user: Importer,
                     source_system: Annotated[Id, Query(description="the system the orders come from")],
                     key: IdempotencyKey = None) -> Response:
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
        rows = [{k: (v if v != "" else None) for k, v in r.items() if k is not None}
                for r in csv.DictReader(io.StringIO(text))]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValidationError(f"not a UTF-8 CSV file with a header row: {exc}", field="body", value=None) from None
    if not rows:
        raise ValidationError("no rows", field="body", value=None, hint="send a header row and at least one data row")
    key_ = Idem.of(key, request.method, request.url.path, source_system, raw)
    return _answer(await run_in_threadpool(svc.import_orders, source_system, rows, actor=user.actor, idem=key_))


def _answer(result: tuple[int, str, bool]) -> Response:
    """The import report (200) when a row was imported (or was already); a 422 with every row's errors, in the
    API's error shape, when every row failed: nothing was accepted."""
    status, body, _replayed = result
    report = json.loads(body)
    if status == 200 and report["rows"] and not report["created"] and not report["duplicates"]:
        detail = [{"type": "value_error", "loc": ["body", *e["loc"]], "msg": e["msg"], "input": e.get("input")}
                  for r in report["results"] for e in r.get("errors", ())]
        if not detail:  # a row refused without a field error (e.g. its group failed): name the row
            detail = [{"type": "value_error", "loc": ["body", "orders", r["row"]], "msg": f"row {r['row']} {r['result']}",
                       "input": r.get("order")} for r in report["results"]]
        # json.dumps escapes to ASCII: rows may carry lone surrogates, which UTF-8 cannot encode
        return Response(json.dumps({"detail": detail}), status_code=422, media_type="application/json")
    return answer(result)
