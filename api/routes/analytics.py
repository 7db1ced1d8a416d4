"""Customer-journey analytics over HTTP: retention by cohort, repeat-purchase rate, RFM segments and
cross-sell suggestions (``monitoring.analytics`` through the ``Monitor`` of the monitoring routes).

Every route reads (``planning:read``), runs on the one business clock (``?today=``, else the clock in
settings, else the snapshot's ``as_of``), takes the date that dates each line (``date_field``, as the
CLI's ``--date-field``) and pages its lists (``limit``/``offset``). Amounts are exact: ``{"amount":
"55.00", "currency": "EUR"}``. Each answer carries a weak ``ETag`` over what it depends on (the order
book's version, the snapshot, the analytics settings, the business day and the parameters); a request
with a matching ``If-None-Match`` gets ``304 Not Modified`` and no body.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import APIRouter, Header, Query, Request, Response

from api.deps import PlanningReader
from api.errors import responses
from api.routes.monitoring import MonitorDep, Today
from monitoring import analytics as an
from monitoring.monitor import Monitor
from monitoring.reports import normalize_date_field, to_records
from monitoring.schemas import CrossSellPublic, RepeatPublic, RetentionPublic, RfmPublic
from promessa.errors import ValidationError
from promessa.money import Money

router = APIRouter(prefix="/analytics", tags=["analytics"])

DateField = Annotated[
    Literal["order_date", "created_at", "requested_date", "promised_date"],
    Query(description="the date that dates each line: order_date (the business day the order was captured and priced "
                      "on; created_at is the same), requested_date or promised_date"),
]
Limit = Annotated[int, Query(ge=1, le=10_000, description="rows on the page")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="skip this many rows (paging)")]
IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match", max_length=1000,
                                           description="an ETag of an earlier answer: 304 when it still holds")]

#: the 304 and the ETag header, in OpenAPI
_CACHED = {
    200: {"headers": {"ETag": {"description": "weak tag of the answer: send it back in If-None-Match",
                               "schema": {"type": "string"}}}},
    304: {"description": "If-None-Match holds the current ETag: the answer has not changed (no body)"},
}


def _etag(mon: Monitor, request: Request, today: dt.date, params: dict[str, Any]) -> str:
    key = json.dumps([request.url.path, repr(mon.analytics_version()), today.isoformat(), params],
                     sort_keys=True, default=str)
    return 'W/"' + hashlib.sha256(key.encode()).hexdigest()[:20] + '"'


def _not_modified(if_none_match: str | None, tag: str) -> Response | None:
    """A 304 when `if_none_match` lists `tag` (weak comparison) or is ``*``."""
    if if_none_match is None:
        return None
    bare = tag[2:]
    for part in if_none_match.split(","):
        p = part.strip()
        if p == "*" or p == tag or p == bare or (p.startswith("W/") and p[2:] == bare):
            return Response(status_code=304, headers={"ETag": tag, "Cache-Control": "no-cache"})
    return None


def _base(mon: Monitor, today: dt.date, date_field: str) -> tuple[pl.DataFrame, dict[str, Any]]:
    lines = mon.analytics_lines(date_field=date_field)
    after = an.lines_after(lines, today)
    return lines, {"today": today, "date_field": normalize_date_field(date_field),
                   "currency": mon.config.analytics.currency, "lines": lines.height - after, "lines_after": after}


def _money(v: Any, currency: str) -> dict[str, str]:
    return Money.of(v if v is not None else 0, currency).to_dict()


def _answer(response: Response, tag: str, body: dict) -> dict:
    response.headers["ETag"] = tag
    response.headers["Cache-Control"] = "no-cache"  # a browser may keep it, and asks again with If-None-Match
    return body


@router.get("/retention", operation_id="analytics_retention", response_model=RetentionPublic,
            responses={**_CACHED, **responses()},
            summary="Retention by monthly cohort: of the customers who first ordered in a month, how many ordered in "
                    "each month after (paged by cohort)")
def retention(mon: MonitorDep, user: PlanningReader, request: Request, response: Response, today: Today = None,
              date_field: DateField = "order_date",
              max_months: Annotated[int | None, Query(ge=0, le=1200, description="report months 0..K after the first order")] = None,
              limit: Limit = 100, offset: Offset = 0, if_none_match: IfNoneMatch = None) -> Any:
    """A customer's cohort is the month of their first order line; for each cohort and k = 0.. up to the business
    day's month, `active` counts its customers with a line in month cohort + k, `retention = active / customers`."""
    t = mon.resolve_today(today)
    tag = _etag(mon, request, t, {"date_field": date_field, "max_months": max_months, "limit": limit, "offset": offset})
    if (nm := _not_modified(if_none_match, tag)) is not None:
        return nm
    lines, base = _base(mon, t, date_field)
    rows = an.cohort_retention(lines, today=t, max_months=max_months)
    sizes = rows.filter(pl.col("months_since") == 0)
    page = sizes.slice(offset, limit)["cohort"]
    cohorts = []
    for (cohort, customers), grp in (rows.filter(pl.col("cohort").is_in(page.implode()))
                                     .group_by("cohort", "customers", maintain_order=True)):
        cohorts.append({"cohort": cohort, "customers": customers,
                        "months": grp.select("months_since", "active", "retention").to_dicts()})
    return _answer(response, tag, {**base, "customers": int(sizes["customers"].sum() or 0), "max_months": max_months,
                                   "total": sizes.height, "offset": offset, "limit": limit, "cohorts": cohorts})


@router.get("/repeat", operation_id="analytics_repeat", response_model=RepeatPublic,
            responses={**_CACHED, **responses()},
            summary="Repeat-purchase rate: customers with two or more orders, orders per customer, median days to the "
                    "second order (overall, and by monthly cohort)")
def repeat(mon: MonitorDep, user: PlanningReader, request: Request, response: Response, today: Today = None,
           date_field: DateField = "order_date",
           by_cohort: Annotated[bool, Query(description="also one row per monthly cohort (paged)")] = False,
           limit: Limit = 100, offset: Offset = 0, if_none_match: IfNoneMatch = None) -> Any:
    t = mon.resolve_today(today)
    tag = _etag(mon, request, t, {"date_field": date_field, "by_cohort": by_cohort, "limit": limit, "offset": offset})
    if (nm := _not_modified(if_none_match, tag)) is not None:
        return nm
    lines, base = _base(mon, t, date_field)
    if by_cohort:  # both from one pass over the lines
        overall, by = an.repeat_purchase_both(lines, today=t)
    else:
        overall, by = an.repeat_purchase(lines, today=t), None
    body: dict[str, Any] = {**base, "overall": overall.row(0, named=True), "offset": offset, "limit": limit}
    if by is not None:
        body["total"] = by.height
        body["cohorts"] = by.slice(offset, limit).to_dicts()
    return _answer(response, tag, body)


@router.get("/rfm", operation_id="analytics_rfm", response_model=RfmPublic,
            responses={**_CACHED, **responses()},
            summary="Recency-frequency-monetary scores and segments: the segments' summary and the customers "
                    "(filtered by segment or customer, paged)")
def rfm(mon: MonitorDep, user: PlanningReader, request: Request, response: Response, today: Today = None,
        date_field: DateField = "order_date",
        segment: Annotated[str | None, Query(max_length=40, description="only the customers of this segment")] = None,
        customer: Annotated[str | None, Query(min_length=1, max_length=200, description="only this customer")] = None,
        limit: Limit = 100, offset: Offset = 0, if_none_match: IfNoneMatch = None) -> Any:
    """Scores 1..5 by quintile (`1 + floor(5 (rank - 1) / n)`, ties take the lowest rank); the segment is the
    first configured one whose score ranges hold r, f and m."""
    names = [s.name for s in mon.config.analytics.segments]
    if segment is not None and segment not in names:
        raise ValidationError("unknown RFM segment", field="query.segment", value=segment, hint="one of " + ", ".join(names))
    t = mon.resolve_today(today)
    tag = _etag(mon, request, t, {"date_field": date_field, "segment": segment, "customer": customer,
                                  "limit": limit, "offset": offset})
    if (nm := _not_modified(if_none_match, tag)) is not None:
        return nm
    lines, base = _base(mon, t, date_field)
    cur = base["currency"]
    scores = an.rfm(lines, today=t, segments=mon.config.analytics.segments)
    segs = an.rfm_segments(scores, segments=mon.config.analytics.segments)
    picked = scores
    if segment is not None:
        picked = picked.filter(pl.col("segment") == segment)
    if customer is not None:
        picked = picked.filter(pl.col("customer") == customer)
    rows = picked.slice(offset, limit).to_dicts()
    for r in rows:
        r["monetary"] = _money(r["monetary"], cur)
    seg_rows = segs.to_dicts()
    for r in seg_rows:
        r["monetary"] = _money(r["monetary"], cur)
    return _answer(response, tag, {**base, "customers_total": scores.height, "segments": seg_rows,
                                   "total": picked.height, "offset": offset, "limit": limit, "customers": rows})


@router.get("/cross-sell", operation_id="analytics_cross_sell", response_model=CrossSellPublic,
            responses={**_CACHED, **responses()},
            summary="Cross-sell suggestions from items bought together: co-occurrence counts, support, confidence and "
                    "lift, the top N per item (paged)")
def cross_sell(mon: MonitorDep, user: PlanningReader, request: Request, response: Response, today: Today = None,
               date_field: DateField = "order_date",
               item: Annotated[list[str] | None, Query(max_length=100, description="only suggestions for these items "
                                                                                   "(repeatable; none: every item)")] = None,
               top: Annotated[int | None, Query(ge=1, le=100, description="suggestions per item (default: the config's, 5)")] = None,
               min_orders: Annotated[int | None, Query(ge=1, le=1_000_000_000, description="leave out pairs bought "
                                                       "together in fewer orders (default: the config's, 2)")] = None,
               limit: Limit = 100, offset: Offset = 0, if_none_match: IfNoneMatch = None) -> Any:
    """Baskets are orders (an item counts once per order). Ranked by orders together, then lift, then name."""
    cfg = mon.config.analytics
    top_n = top if top is not None else cfg.cross_sell_top
    min_n = min_orders if min_orders is not None else cfg.cross_sell_min_orders
    items = sorted(set(item)) if item else None
    t = mon.resolve_today(today)
    tag = _etag(mon, request, t, {"date_field": date_field, "item": items, "top": top_n, "min_orders": min_n,
                                  "limit": limit, "offset": offset})
    if (nm := _not_modified(if_none_match, tag)) is not None:
        return nm
    lines, base = _base(mon, t, date_field)
    if item:
        snap = mon.snapshot()
        an.check_items(lines, item, known=snap.item_ids if snap is not None else (), field="query.item")
    df = an.cross_sell(lines, today=t, top=top_n, min_orders=min_n, items=items)
    if df.height:  # support = orders_together / orders: the count comes back exactly from any row
        orders = round(df["orders_together"][0] / df["support"][0])
    else:  # no pair: count them (a distinct count over the order ids)
        orders = lines.filter(pl.col("order_date") <= t)["order_id"].n_unique() if lines.height else 0
    return _answer(response, tag, {**base, "orders": orders, "items": items, "top": top_n, "min_orders": min_n,
                                   "total": df.height, "offset": offset, "limit": limit,
                                   "data": to_records(df.slice(offset, limit))})

