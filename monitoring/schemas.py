"""API schemas of the monitoring routes (`...Public` go out)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field


class JeopardyOrderPublic(BaseModel):
    order_id: str
    customer: str
    status: str
    level: str
    level_rank: int
    days_late: int | None = None
    promised_completion: dt.date | None = None
    expected_completion: dt.date | None = None
    reason: str
    reason_text: str
    lines: int
    lines_late: int
    worst_line: int


class JeopardyLinePublic(BaseModel):
    order_id: str
    line: int
    customer: str
    status: str
    item: str
    location: str | None = None
    zone: str | None = None
    qty: float
    open_qty: float
    backordered_qty: float
    requested_date: dt.date
    promised_date: dt.date | None = None
    promised_completion: dt.date | None = None
    expected_completion: dt.date | None = None
    days_late: int | None = None
    level: str
    level_rank: int
    reason: str
    reason_text: str


class CashAmountPublic(BaseModel):
    """An exact amount (a decimal string rounded to the currency's minor unit) and its ISO 4217 currency."""

    amount: str
    currency: str


class CashJeopardyPublic(BaseModel):
    """An order-to-cash item past its due day: an invoice unpaid past its terms or a return not received."""

    kind: str
    reason: str
    reason_text: str
    order_id: str
    customer: str
    ref: str
    due_date: dt.date
    days_late: int
    level: str
    level_rank: int
    amount: CashAmountPublic
    detail: str = ""


class JeopardyPublic(BaseModel):
    today: dt.date
    levels: list[str]
    counts: dict[str, int]
    total: int
    offset: int = 0
    limit: int | None = None
    orders: list[JeopardyOrderPublic]
    lines: list[JeopardyLinePublic] | None = None
    cash: list[CashJeopardyPublic] = []
    cash_counts: dict[str, int] = {}


class CrossingPublic(BaseModel):
    at: str
    today: str
    order_id: str
    customer: str | None = None
    from_level: str
    to_level: str
    direction: str
    days_late: int | None = None
    promised_completion: str | None = None
    expected_completion: str | None = None
    reason: str
    subject: Literal["order", "cash"] = Field("order", description="an order's level, or an order-to-cash item's (cash "
                                                                   "jeopardy: an invoice unpaid past terms, a return not received)")
    kind: str | None = Field(None, description="cash: invoice or return")
    ref: str | None = Field(None, description="cash: the invoice number or the return id")
    due_date: str | None = None
    amount: str | None = Field(None, description="cash: what is at stake, exact decimal")
    currency: str | None = None


class ScanPublic(BaseModel):
    today: dt.date
    events: list[CrossingPublic]
    webhook: dict[str, Any] | None = None


class EventsPublic(BaseModel):
    data: list[CrossingPublic]
    count: int


class ExceptionRowPublic(BaseModel):
    key: str
    orders: int
    lines: int
    backorder_lines: int
    at_risk_lines: int
    backordered_qty: float
    open_qty: float
    value: Decimal = Field(description="the value at risk: the undelivered part of the lines' priced net, exact")
    currency: str
    worst_level: str


class ExceptionsPublic(BaseModel):
    today: dt.date
    by: str
    at_risk_level: str
    total_lines: int
    total_orders: int
    total_keys: int | None = None
    offset: int = 0
    limit: int | None = None
    data: list[ExceptionRowPublic]


class ExceptionLinePublic(BaseModel):
    order_id: str
    line: int
    customer: str
    item: str
    location: str | None = None
    zone: str | None = None
    status: str
    kind: str
    qty: float
    open_qty: float
    backordered_qty: float
    value: Decimal = Field(description="the undelivered part of the line's priced net, exact")
    currency: str
    requested_date: dt.date
    promised_date: dt.date | None = None
    promised_completion: dt.date | None = None
    expected_completion: dt.date | None = None
    days_late: int | None = None
    level: str
    reason: str
    reason_text: str


class ExceptionLinesPublic(BaseModel):
    today: dt.date
    by: str | None = None
    key: str | None = None
    data: list[ExceptionLinePublic]
    count: int
    total: int | None = None
    offset: int = 0


class ReportPublic(BaseModel):
    kind: str
    metric: str
    top: int
    start: dt.date | None = None
    end: dt.date | None = None
    date_field: str
    period: str
    columns: list[str]
    data: list[dict[str, Any]]


class ConsoleAtpPublic(BaseModel):
    item: str
    location: str
    as_of: dt.date
    data: list[dict[str, Any]]


class ConsoleCataloguePublic(BaseModel):
    items: list[str]
    locations: list[str]
    item_locations: list[list[str]]
