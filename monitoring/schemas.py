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


# ------------------------------------------------------------------ customer-journey analytics (/v1/analytics/...)


class MoneyPublic(BaseModel):
    """An exact amount (a decimal string rounded half up to the currency's minor unit) and its ISO 4217 currency."""

    amount: str
    currency: str


class AnalyticsBase(BaseModel):
    """What every analytics answer says about its input: the business day, the date that dated each line,
    the currency of the amounts, the order lines counted and those dated after the business day (left out)."""

    today: dt.date
    date_field: str
    currency: str
    lines: int = Field(description="order lines counted (dated on or before the business day, cancelled orders left out)")
    lines_after: int = Field(description="order lines dated after the business day: not happened yet, left out")


class RetentionMonthPublic(BaseModel):
    months_since: int = Field(description="k: months after the cohort's month (0: the month of the first order)")
    active: int = Field(description="the cohort's customers with an order line in month cohort + k")
    retention: float = Field(description="active / customers (1.0 at k = 0)")


class RetentionCohortPublic(BaseModel):
    cohort: dt.date = Field(description="the first day of the month of these customers' first order")
    customers: int
    months: list[RetentionMonthPublic] = Field(description="k = 0 up to the business day's month (observed months only)")


class RetentionPublic(AnalyticsBase):
    customers: int = Field(description="customers in every cohort")
    max_months: int | None = None
    total: int = Field(description="cohorts (the page is offset..offset+limit of them, oldest first)")
    offset: int
    limit: int
    cohorts: list[RetentionCohortPublic]


class RepeatRowPublic(BaseModel):
    cohort: dt.date | None = Field(None, description="the monthly cohort; null: every customer")
    customers: int
    repeat_customers: int = Field(description="customers with two or more distinct orders")
    repeat_rate: float | None = Field(description="repeat_customers / customers (null without customers)")
    orders: int
    orders_per_customer: float | None = None
    median_days_to_second_order: float | None = None


class RepeatPublic(AnalyticsBase):
    overall: RepeatRowPublic
    total: int | None = Field(None, description="cohorts (with by_cohort)")
    offset: int
    limit: int
    cohorts: list[RepeatRowPublic] | None = Field(None, description="with by_cohort: the page of monthly cohorts, oldest first")


class RfmSegmentPublic(BaseModel):
    segment: str
    customers: int
    share: float | None = Field(description="of every customer")
    monetary: MoneyPublic = Field(description="the segment's net value")
    monetary_share: float | None = Field(description="of the net value of every customer")
    mean_recency_days: float | None = None
    mean_frequency: float | None = None


class RfmCustomerPublic(BaseModel):
    customer: str
    first_order_date: dt.date
    last_order_date: dt.date
    recency_days: int = Field(description="days from the last order line to the business day")
    frequency: int = Field(description="distinct orders")
    monetary: MoneyPublic = Field(description="the sum of the lines' net values")
    r: int = Field(description="recency score 1..5 (5: most recent)")
    f: int
    m: int
    rfm: str
    segment: str


class RfmPublic(AnalyticsBase):
    customers_total: int = Field(description="customers scored")
    segments: list[RfmSegmentPublic] = Field(description="every configured segment in its order (first match wins)")
    total: int = Field(description="customers matching the filters")
    offset: int
    limit: int
    customers: list[RfmCustomerPublic] = Field(description="the page, best rfm first")


class CrossSellRowPublic(BaseModel):
    item: str
    rank: int
    suggestion: str
    orders_together: int = Field(description="orders holding both items")
    item_orders: int
    suggestion_orders: int
    support: float = Field(description="orders_together / orders")
    confidence: float = Field(description="orders_together / item_orders")
    lift: float = Field(description="confidence / (suggestion_orders / orders)")


class CrossSellPublic(AnalyticsBase):
    orders: int = Field(description="orders (baskets) counted")
    items: list[str] | None = Field(None, description="the items asked for (null: every item)")
    top: int
    min_orders: int
    total: int = Field(description="suggestions (the page is offset..offset+limit of them, by item then rank)")
    offset: int
    limit: int
    data: list[CrossSellRowPublic]
