"""Monitoring: jeopardy, exceptions, reports and the planner console's page and data.

The routes use ``app.state.monitor`` when set (a ``monitoring.monitor.Monitor``), else a Monitor
built once over the running engine's order service. The console's page, script and stylesheet
are static files (no data) and need no key; every data route does.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path as FsPath
from typing import Annotated, Literal

import polars as pl
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

import monitoring
from api.deps import PlanningReader, PlanningRunner
from api.errors import PUBLIC_RESPONSES, responses
from monitoring import charts
from monitoring.exceptions import DIMENSIONS
from monitoring.jeopardy import REASONS
from monitoring.monitor import Monitor
from monitoring.reports import KEY_NAMES, KINDS, TREND_KINDS, Window, to_records
from monitoring.schemas import (
    ConsoleAtpPublic,
    ConsoleCataloguePublic,
    EventsPublic,
    ExceptionLinesPublic,
    ExceptionsPublic,
    JeopardyPublic,
    ReportPublic,
    ScanPublic,
)
from promessa.errors import NotFoundError, ValidationError

STATIC = FsPath(monitoring.__file__).resolve().parent / "static"

router = APIRouter(tags=["monitoring"])


async def get_monitor(request: Request) -> Monitor:
    """``app.state.monitor`` when set, else one Monitor per engine, built over its order service."""
    st = request.app.state
    mon = getattr(st, "monitor", None)
    if mon is not None:
        return mon
    engine = getattr(st, "engine", None)
    if engine is None:
        raise HTTPException(503, "promessa is not ready (the engine is not open)")
    auto = getattr(st, "monitor_auto", None)
    if auto is None or auto[0] is not engine.service:  # a restarted lifespan gets a new one
        o2c = getattr(engine, "o2c", None)  # order-to-cash jeopardy: the hub is the monitor's cash source
        auto = (engine.service, Monitor.of_service(engine.service, cash=o2c.cash_items if o2c is not None else None))
        st.monitor_auto = auto
    return auto[1]


MonitorDep = Annotated[Monitor, Depends(get_monitor)]
Today = Annotated[dt.date | None, Query(description="evaluate as of this day (default: the business clock)")]
Key = Annotated[str, Query(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


def _rows(df: pl.DataFrame, *, reason: bool = False) -> list[dict]:
    rows = df.to_dicts()
    if reason:
        for r in rows:
            r["reason_text"] = REASONS.get(r["reason"], r["reason"])
    return rows


# ------------------------------------------------------------------ jeopardy


@router.get("/jeopardy", operation_id="jeopardy", response_model=JeopardyPublic, responses=responses(),
            summary="Open orders in jeopardy, worst first: level, days late, dates (filters and paging); invoices "
                    "unpaid past terms and returns not received (cash)")
def jeopardy(
    mon: MonitorDep,
    user: PlanningReader,
    today: Today = None,
    min_level: Annotated[str | None, Query(max_length=40, description="only orders at this level or above")] = None,
    level: Annotated[str | None, Query(max_length=40, description="only orders at exactly this level")] = None,
    customer: Annotated[str | None, Query(max_length=100, description="only this customer's orders")] = None,
    order: Annotated[str | None, Query(max_length=100, description="only orders whose id contains this text")] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000, description="skip this many orders (paging)")] = 0,
    lines: Annotated[bool, Query(description="include the open lines")] = False,
) -> dict:
    """`counts` are per level over the orders matching every filter but `level` (the overview's chips);
    `total` matches every filter; `orders` is the page `offset`..`offset+limit` of them."""
    t = mon.resolve_today(today)
    line_j, orders = mon.jeopardy(t)
    cfg = mon.config
    for name, value in (("min_level", min_level), ("level", level)):
        if value is not None and value not in cfg.level_names:
            raise ValidationError("unknown level", field=f"query.{name}", value=value,
                                  hint="one of " + ", ".join(cfg.level_names))
    if min_level is not None:
        orders = orders.filter(pl.col("level_rank") >= cfg.rank(min_level))
    if customer is not None:
        orders = orders.filter(pl.col("customer") == customer)
    if order is not None:
        orders = orders.filter(pl.col("order_id").str.contains(order, literal=True))
    counts = {name: 0 for name in cfg.level_names}
    for name, n in orders.group_by("level").len().iter_rows():
        counts[name] = int(n)
    if level is not None:
        orders = orders.filter(pl.col("level") == level)
    total = orders.height
    orders = orders.slice(offset, limit)
    cash = mon.cash_jeopardy(t)
    if min_level is not None:
        cash = [r for r in cash if r["level_rank"] >= cfg.rank(min_level)]
    cash_counts = {name: 0 for name in cfg.level_names}
    for r in cash:
        cash_counts[r["level"]] += 1
    out = {"today": t, "levels": cfg.level_names, "counts": counts, "total": total, "offset": offset,
           "limit": limit, "orders": _rows(orders, reason=True), "cash_counts": cash_counts,
           "cash": [{**r, "amount": r["amount"].to_dict()} for r in cash[:limit]]}
    if lines:
        out["lines"] = _rows(line_j.filter(pl.col("order_id").is_in(orders["order_id"].implode())), reason=True)
    return out


@router.post("/jeopardy/scan", operation_id="jeopardy_scan", response_model=ScanPublic, responses=responses(),
             summary="Record level crossings since the last scan (event log) and notify the webhook")
def jeopardy_scan(mon: MonitorDep, user: PlanningRunner, today: Today = None) -> dict:
    t = mon.resolve_today(today)
    res = mon.scan(t)
    return {"today": t, "events": res.events, "webhook": res.webhook}


@router.get("/jeopardy/events", operation_id="jeopardy_events", response_model=EventsPublic, responses=responses(),
            summary="Recorded level crossings, newest first")
def jeopardy_events(mon: MonitorDep, user: PlanningReader, limit: Annotated[int, Query(ge=1, le=100_000)] = 100,
                    order_id: Annotated[str | None, Query(max_length=100)] = None) -> dict:
    events = mon.event_log.read()
    if order_id is not None:
        events = [e for e in events if e.get("order_id") == order_id]
    events = events[::-1][:limit]
    return {"data": events, "count": len(events)}


# ------------------------------------------------------------------ exceptions

By = Literal["customer", "item", "node", "supplier", "receipt"]
assert set(By.__args__) == set(DIMENSIONS)  # type: ignore[attr-defined]


@router.get("/exceptions", operation_id="exceptions", response_model=ExceptionsPublic, responses=responses(),
            summary="Orders at risk and backorders by customer, item, node, supplier or receipt (paged)")
def exceptions(mon: MonitorDep, user: PlanningReader, by: By = "customer", today: Today = None,
               limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
               offset: Annotated[int, Query(ge=0, le=1_000_000_000, description="skip this many keys (paging)")] = 0,
               ) -> dict:
    """`total_keys` is the number of keys; `data` the page `offset`..`offset+limit` of them, worst first."""
    t = mon.resolve_today(today)
    exc = mon.exceptions(t)
    summary = mon.exception_summary(by=by, exceptions=exc).rename({by: "key"})
    return {"today": t, "by": by, "at_risk_level": mon.config.at_risk_level, "total_lines": exc.height,
            "total_orders": exc["order_id"].n_unique() if exc.height else 0, "total_keys": summary.height,
            "offset": offset, "limit": limit, "data": summary.slice(offset, limit).to_dicts()}


@router.get("/exceptions/lines", operation_id="exception_lines", response_model=ExceptionLinesPublic,
            responses=responses(), summary="Drill down: the exception lines under one key, with the reason (paged)")
def exception_lines(mon: MonitorDep, user: PlanningReader, by: By | None = None, key: Key | None = None,
                    today: Today = None,
                    level: Annotated[str | None, Query(max_length=40, description="only lines at exactly this level")] = None,
                    kind: Annotated[Literal["backorder", "at_risk"] | None, Query(description="only this kind")] = None,
                    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
                    offset: Annotated[int, Query(ge=0, le=1_000_000_000, description="skip this many lines")] = 0,
                    ) -> dict:
    """`total` lines match the filters; `data` (`count` of them) is the page `offset`..`offset+limit`."""
    if (by is None) != (key is None):
        raise ValidationError("give both `by` and `key`, or neither", field="query.key" if by else "query.by", value=None)
    if level is not None and level not in mon.config.level_names:
        raise ValidationError("unknown level", field="query.level", value=level,
                              hint="one of " + ", ".join(mon.config.level_names))
    t = mon.resolve_today(today)
    df = mon.exception_lines(by=by, key=key, today=t)
    if level is not None:
        df = df.filter(pl.col("level") == level)
    if kind is not None:
        df = df.filter(pl.col("kind") == kind)
    page = df.slice(offset, limit)
    return {"today": t, "by": by, "key": key, "data": _rows(page, reason=True), "count": page.height,
            "total": df.height, "offset": offset}


# ------------------------------------------------------------------ reports


@router.get(
    "/reports/{kind}", operation_id="report", response_model=ReportPublic,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}},
                                 "image/png": {"schema": {"type": "string", "format": "binary"}}},
                     "description": "JSON, CSV or a PNG chart"}, **responses(404)},
    summary="Top products, customers, orders, zones, countries, brands, categories, channels, days; "
            "on-time and fill-rate trends",
)
def report(
    mon: MonitorDep,
    user: PlanningReader,
    kind: Annotated[str, Path(max_length=40, description=", ".join(KINDS))],
    metric: Literal["revenue", "units"] = "revenue",
    top: Annotated[int, Query(ge=1, le=10_000)] = 10,
    start: dt.date | None = None,
    end: dt.date | None = None,
    date_field: Annotated[Literal["order_date", "requested_date", "promised_date"], Query(
        description="the date that filters the range and groups trends and days: order_date (the order's business "
                    "date: the day it was captured and priced on), requested_date or promised_date")] = "order_date",
    period: Literal["day", "week", "month"] = "day",
    format: Literal["json", "csv", "png"] = "json",  # noqa: A002 - the query parameter's public name
) -> Response:
    if kind not in KINDS:
        raise NotFoundError(f"unknown report {kind!r}", hint="one of " + ", ".join(KINDS))
    df = mon.report(kind, metric=metric, top=top, window=Window(start, end, date_field), period=period)
    if format == "csv":
        return Response(df.write_csv(), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{kind}.csv"'})
    if format == "png":
        rng = f" {start or '…'} to {end or '…'}" if (start or end) else ""
        if kind in TREND_KINDS:
            cols = {"on_time": ["on_time_rate"], "fill_rate": ["fill_rate"]}.get(kind, ["fill_rate", "on_time_rate"])
            png = charts.trend_chart(df, columns=cols, title=f"{kind.replace('_', ' ')} by {period}{rng}")
        else:
            png = charts.top_chart(df, key=KEY_NAMES[kind], metric=metric, title=f"top {top} {kind} by {metric}{rng}")
        return Response(png, media_type="image/png")
    body = {"kind": kind, "metric": metric, "top": top, "start": start, "end": end, "date_field": date_field,
            "period": period, "columns": df.columns, "data": to_records(df)}
    return JSONResponse(ReportPublic.model_validate(body).model_dump(mode="json"))


# ------------------------------------------------------------------ console


@router.get("/console", operation_id="console", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}},
                       403: {"description": PUBLIC_RESPONSES[403]["description"],
                             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorPublic"}}}}},
            summary="Planner console (static HTML; give the key as #key=... or in its key field)")
def console() -> FileResponse:
    return FileResponse(STATIC / "console.html", media_type="text/html")


@router.get("/console/console.js", include_in_schema=False)
def console_js() -> FileResponse:
    return FileResponse(STATIC / "console.js", media_type="text/javascript")


@router.get("/console/console.css", include_in_schema=False)
def console_css() -> FileResponse:
    return FileResponse(STATIC / "console.css", media_type="text/css")


@router.get("/console/atp/{item}/{location}", operation_id="console_atp", response_model=ConsoleAtpPublic,
            responses=responses(), summary="Time-phased ATP of an item at a location (the console's view)")
def console_atp(mon: MonitorDep, user: PlanningReader, item: Annotated[str, Path(max_length=100)],
                location: Annotated[str, Path(max_length=100)], start: dt.date | None = None,
                end: dt.date | None = None) -> dict:
    df = mon.atp(item, location, start=start, end=end)
    snap = mon.snapshot()
    return {"item": item, "location": location, "as_of": snap.as_of, "data": to_records(df)}


@router.get("/console/catalogue", operation_id="console_catalogue", response_model=ConsoleCataloguePublic,
            responses=responses(), summary="Items, locations and stocked item-locations (the console's pickers)")
def console_catalogue(mon: MonitorDep, user: PlanningReader, limit: Annotated[int, Query(ge=1, le=100_000)] = 2000) -> dict:
    snap = mon.snapshot()
    if snap is None:
        return {"items": [], "locations": [], "item_locations": []}
    ils = [list(snap.il_name(i)) for i in range(min(snap.n_il, limit))]
    return {"items": list(snap.item_ids[:limit]), "locations": list(snap.location_ids), "item_locations": ils}
