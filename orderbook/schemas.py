"""API schemas, named by role: `...Create` / `...Change` come in, `...Public` go out."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from promessa.config import MAX_SPLIT_LINES


def _encodable(v: str) -> str:
    """Refuse lone surrogates (valid JSON escapes, but not text any database can store)."""
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text (lone surrogate)") from None
    return v


def _utc_timestamp(v: dt.datetime) -> dt.datetime:
    """Timestamps are kept in UTC; naive ones are taken as UTC; years 1900-2999."""
    try:
        v = v.replace(tzinfo=dt.timezone.utc) if v.tzinfo is None else v.astimezone(dt.timezone.utc)
    except (OverflowError, ValueError):
        raise ValueError("timestamp out of range") from None
    if not 1900 <= v.year <= 2999:
        raise ValueError("timestamp out of range (years 1900-2999)")
    return v


# Identifiers and free text: no control characters; bounded length.
Id = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$"),
               AfterValidator(_encodable)]
Text = Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"),
                 AfterValidator(_encodable)]
#: A short code an order header carries for the processes (order_type, ship_method): lower case, digits, ``_``, ``-``.
Code = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
Timestamp = Annotated[dt.datetime, AfterValidator(_utc_timestamp)]
Qty = Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False, description="positive quantity")]
Price = Annotated[Decimal, Field(ge=0, le=Decimal(10) ** 12, max_digits=24, decimal_places=8, allow_inf_nan=False,
                                  description="an exact amount in the order's currency (a JSON number is read by its digits)")]
LineNo = Annotated[int, Field(ge=1, le=1_000_000)]
HARD_MAX_LINES = 1000  # schema cap; the configured `max_lines` is usually lower


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PolicyIn(_In):
    """How a line may be promised."""

    allow_partial: bool = True
    allow_split: bool = False
    max_late_days: Annotated[int, Field(ge=0, le=3650)] | None = None
    max_lines: Annotated[int, Field(ge=1, le=MAX_SPLIT_LINES, description="most schedule lines when splitting")] = 4


class ShipTo(_In):
    name: Text | None = None
    address: Text | None = None
    city: Text | None = None
    postal_code: Text | None = None
    country: Text | None = Field(None, description="ISO 3166-1 alpha-2; tax and trade screening (default: the customer's)")
    region: Text | None = Field(None, description="state or province code (tax, regional embargoes), e.g. US-CA")
    zone: Id | None = Field(None, description="customer zone; overrides the order's zone")


class ManualAdjustmentIn(_In):
    """A price change typed by a person, with a reason; it follows the approval rules (the order is held)."""

    line: LineNo
    kind: Literal["percent_off", "amount", "fixed_price"]
    value: Annotated[Decimal, Field(ge=-Decimal(10) ** 12, le=Decimal(10) ** 12, max_digits=24, decimal_places=8,
                                    allow_inf_nan=False)]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]


class ConfigurationIn(_In):
    """A configured line's configuration: a model of the configurator, its version (default: the one in force on
    the business day) and one value per variable. Checked at capture: incomplete or invalid is a 422 naming the
    variable (``lines.<i>.configuration.choices.<var>``) or the rule (``lines.<i>.configuration.rules[<rule>]``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={"examples": [{
        "model": "bicycle", "choices": {"frame": "alu", "size": "M", "gears": "derailleur-11", "brakes": "disc-hyd",
                                        "motor": "hub", "rack": "no"}}]})

    model: Id
    version: Id | None = None
    choices: Annotated[dict[Id, Id], Field(max_length=1000)]


class LineCreate(_In):
    item: Id | None = Field(None, description="the item; a configured line may leave it out (the model's item)")
    qty: Qty
    requested_date: dt.date
    location: Id | None = Field(None, description="ship from this location; empty: chosen from the zone (a configured "
                                                  "line: built and shipped at the model's build location)")
    unit_price: Price | None = Field(None, description="a price that differs from the catalogue is a manual override")
    demand_class: Id | None = None
    configuration: ConfigurationIn | None = Field(
        None, description="a configured line: priced by its options, promised through its components and capacity")

    @model_validator(mode="after")
    def _item_or_configuration(self) -> LineCreate:
        if self.item is None and self.configuration is None:
            raise ValueError("a line needs an item or a configuration")
        return self


class OrderCreate(_In):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={"examples": [{
        "customer": "C0001", "zone": "Z01", "demand_class": "retail",
        "lines": [{"item": "I000001", "qty": 2, "requested_date": "2026-01-12"},
                  {"item": "I000002", "qty": 1, "requested_date": "2026-01-12", "location": "DC01"}]}]})

    customer: Id
    zone: Id | None = Field(None, description="customer zone; required unless every line names a location")
    ship_to: ShipTo | None = None
    demand_class: Id | None = None
    priority: Annotated[int, Field(ge=0, le=1000)] | None = None
    policy: PolicyIn | None = None
    lines: Annotated[list[LineCreate], Field(min_length=1, max_length=HARD_MAX_LINES)]
    manual_adjustments: Annotated[list[ManualAdjustmentIn], Field(max_length=HARD_MAX_LINES)] = []
    order_type: Code | None = Field(None, description="the kind of order (for example standard, transfer, sample): "
                                                      "process assignment and branches read it")
    ship_method: Code | None = Field(None, description="how it ships (for example ground, express, pickup): process "
                                                       "branches read it")


class LineChange(_In):
    """Changes one line (`line` given) or adds a line (`line` empty: item, qty and requested_date needed)."""

    line: LineNo | None = None
    item: Id | None = None
    qty: Qty | None = None
    requested_date: dt.date | None = None
    location: Id | None = None
    unit_price: Price | None = None
    demand_class: Id | None = None
    configuration: ConfigurationIn | None = Field(
        None, description="a new line's configuration, or a configured line's new configuration (promised again)")


class OrderChange(_In):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={"examples": [
        {"lines": [{"line": 1, "qty": 3, "requested_date": "2026-01-14"}]},
        {"lines": [{"item": "I000003", "qty": 1, "requested_date": "2026-01-14"}], "remove_lines": [2]},
        {"ship_to": {"city": "Lyon", "zone": "Z02"}}]})

    zone: Id | None = None
    ship_to: ShipTo | None = None
    policy: PolicyIn | None = None
    lines: Annotated[list[LineChange], Field(max_length=HARD_MAX_LINES)] = []
    remove_lines: Annotated[list[LineNo], Field(max_length=HARD_MAX_LINES)] = []
    manual_adjustments: Annotated[list[ManualAdjustmentIn], Field(max_length=HARD_MAX_LINES)] | None = Field(
        None, description="replaces the order's manual adjustments (empty list: none); absent: kept")


class Decision(_In):
    note: Text | None = Field(None, description="the reason; required to release or reject a customer or compliance hold")


class EventLine(_In):
    line: LineNo
    qty: Qty
    location: Id | None = Field(None, description="if given, must be the line's location")


class FulfillmentEvent(_In):
    """A shipment or delivery reported by a warehouse or carrier system."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={"examples": [
        {"type": "shipped", "lines": [{"line": 1, "qty": 1}], "reference": "WMS-4711"},
        {"type": "delivered"}]})

    type: Literal["shipped", "delivered"]
    lines: Annotated[list[EventLine], Field(max_length=HARD_MAX_LINES)] | None = Field(
        None, description="empty: every open scheduled unit (shipped) or every shipped unit (delivered)")
    at: Timestamp | None = Field(None, description="when it happened (default: now)")
    reference: Text | None = None


class InquiryLine(_In):
    item: Id
    qty: Qty
    requested_date: dt.date
    location: Id | None = None
    zone: Id | None = None
    demand_class: Id | None = None
    policy: PolicyIn | None = None


class AvailabilityRequest(_In):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={"examples": [{
        "lines": [{"item": "I000001", "qty": 5, "requested_date": "2026-01-12", "zone": "Z01"},
                  {"item": "I000002", "qty": 1, "requested_date": "2026-01-20", "location": "DC01"}],
        "explain": True}]})

    lines: Annotated[list[InquiryLine], Field(min_length=1, max_length=HARD_MAX_LINES)]
    explain: bool = Field(True, description="include pegging (the supply each promise consumes)")


class ImportRow(_In):
    """One row of the orders table (DESIGN.md), plus optional location and unit price."""

    order: Id
    line: LineNo
    item: Id
    qty: Qty
    requested_date: dt.date
    customer: Id | None = None
    demand_class: Id | None = None
    zone: Id | None = None
    priority: Annotated[int, Field(ge=0, le=1000)] | None = None
    ship_set: Id | None = None
    created_at: Timestamp | None = None
    location: Id | None = None
    unit_price: Price | None = None


class ImportCreate(_In):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={"examples": [{
        "source_system": "erp", "orders": [
            {"order": "E-1001", "line": 1, "item": "I000001", "qty": 2, "requested_date": "2026-01-12",
             "customer": "C0001", "zone": "Z01"},
            {"order": "E-1001", "line": 2, "item": "I000002", "qty": 1, "requested_date": "2026-01-12",
             "customer": "C0001", "zone": "Z01"}]}]})

    source_system: Id
    orders: Annotated[list[dict[str, Any]], Field(min_length=1)]


# ------------------------------------------------------------------ out


class MoneyPublic(BaseModel):
    """An exact amount (a decimal string, rounded to the currency's minor unit) and its ISO 4217 currency."""

    amount: str
    currency: str


class TotalsPublic(BaseModel):
    """The order's priced sums: net (the order value), tax, total; the business day it was priced on."""

    currency: str
    on: dt.date
    net: MoneyPublic
    tax: MoneyPublic
    total: MoneyPublic
    frozen: bool = False


class HoldPublic(BaseModel):
    code: str
    message: str
    figures: dict[str, Any] = {}
    hits: list[dict[str, Any]] = []


class PegPublic(BaseModel):
    line: int
    qty: float
    supply_date: dt.date | None = None
    kind: str
    ref: str | None = None


class PromisePublic(BaseModel):
    """A line's promise (`orderbook.records.PromiseRecord`), or an inquiry's answer: what was asked,
    promised, the binding constraint, the supply it pegs to. `source`: who made it (capture, change,
    reschedule; inquiries: none)."""

    item: str
    location: str
    qty: float
    requested_date: dt.date
    demand_class: str | None = None
    status: str
    reason: str
    promised_qty: float
    short_qty: float
    lines: list[dict[str, Any]]
    earliest_full_date: dt.date | None = None
    pegs: list[PegPublic] = []
    committed: bool = False
    message: str
    source: str | None = None
    details: dict[str, Any] = {}


class ScheduleLinePublic(BaseModel):
    date: dt.date
    qty: float
    shipped_qty: float
    item: str | None = Field(None, description="the substitute promised on this schedule line (absent: the line's own item)")


class LinePublic(BaseModel):
    line: int
    item: str
    qty: float
    requested_date: dt.date
    location: str | None
    requested_location: str | None = None
    unit_price: MoneyPublic | None = Field(None, description="the unit price typed with the line (an override when it differs)")
    price_override: bool = False
    demand_class: str | None = None
    waterfall: dict[str, Any] | None = Field(None, description="the line's price: list, each adjustment with its rule, "
                                                              "net, tax, total (pricing.LineWaterfall)")
    promised_qty: float
    backordered_qty: float
    shipped_qty: float
    delivered_qty: float
    schedule: list[ScheduleLinePublic]
    promise: PromisePublic | None = None
    draws: list[dict[str, Any]] = Field([], description="open reservation: the promising layer's draws")
    consumed: list[dict[str, Any]] = Field([], description="draws consumed by shipments")
    configuration: dict[str, Any] | None = Field(
        None, description="a configured line: model, version (pinned at capture) and choices")


class OrderPublic(BaseModel):
    order_id: str
    customer: str
    status: str
    zone: str | None = None
    ship_to: dict[str, Any] | None = None
    demand_class: str | None = None
    priority: int | None = None
    source_system: str | None = None
    source_order_id: str | None = None
    hold_reasons: list[str] = []
    holds: list[HoldPublic] = []
    approval: dict[str, Any] | None = None
    value: MoneyPublic | None = Field(None, description="the priced net value")
    totals: TotalsPublic | None = None
    manual_adjustments: list[dict[str, Any]] = []
    ship_country: str | None = None
    ship_region: str | None = None
    order_type: str | None = None
    ship_method: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str | None = None
    version: int
    lines: list[LinePublic]


class OrdersPublic(BaseModel):
    data: list[OrderPublic]
    count: int
    total: int
    limit: int
    offset: int


class AuditEntryPublic(BaseModel):
    order_id: str
    action: str
    actor: str
    from_status: str | None
    to_status: str | None
    detail: dict[str, Any] | None = None
    at: dt.datetime


class AuditPublic(BaseModel):
    data: list[AuditEntryPublic]


class AvailabilityPublic(BaseModel):
    lines: list[PromisePublic]


class AtpRowPublic(BaseModel):
    date: dt.date
    supply: float
    demand: float
    committed: float
    cumulative: float
    available: float | None
    discrete_atp: float


class AtpPublic(BaseModel):
    item: str
    location: str
    as_of: dt.date
    lead_time_days: int | None = None
    rows: list[AtpRowPublic]


class ImportRowResult(BaseModel):
    row: int
    order: str | None = None
    line: int | None = None
    result: Literal["created", "duplicate", "error", "rejected"]
    order_id: str | None = None
    status: str | None = None
    errors: list[dict[str, Any]] = []


class ImportPublic(BaseModel):
    source_system: str
    rows: int
    created: int
    duplicates: int
    errors: int
    results: list[ImportRowResult]


class CommitmentsPublic(BaseModel):
    journal_seq: int
    committed_total: float
    by_item_location: list[dict[str, Any]]


class JournalEntryPublic(BaseModel):
    seq: int
    kind: Literal["commit", "release"]
    item: str
    location: str
    date: dt.date
    qty: float
    order_id: str | None = None
    line: int | None = None
    demand_class: str | None = None
    at: dt.datetime
    draw: dict[str, Any] | None = None


class JournalPublic(BaseModel):
    since: int
    last_seq: int
    data: list[JournalEntryPublic]


class HealthPublic(BaseModel):
    status: Literal["ok"]
    store: str
    orders: int
    journal_seq: int
    replay_exceptions: int = Field(0, description="journal entries that did not fit the snapshot at start-up")
    snapshot: dict[str, Any]
    demo: bool


# ------------------------------------------------------------------ temporary reservations (holds)
TtlSeconds = Annotated[float, Field(gt=0, le=10 * 365 * 86400, allow_inf_nan=False,
                                    description="time to live in seconds (at most settings reservations.max_ttl_s)")]


class ReservationLineCreate(_In):
    item: Id
    qty: Qty
    requested_date: dt.date
    location: Id | None = Field(None, description="hold at this location; empty: chosen from the zone")
    demand_class: Id | None = None


class ReservationCreate(_In):
    """A temporary reservation of a cart or a quote: promised now like an order, its units held until it expires."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={"examples": [{
        "zone": "Z01", "ttl_s": 900, "reference": "cart-81f2",
        "lines": [{"item": "I000001", "qty": 2, "requested_date": "2026-01-12"}]}]})

    lines: Annotated[list[ReservationLineCreate], Field(min_length=1, max_length=HARD_MAX_LINES)]
    zone: Id | None = Field(None, description="customer zone; required unless every line names a location")
    demand_class: Id | None = None
    policy: PolicyIn | None = None
    ttl_s: TtlSeconds | None = Field(None, description="time to live in seconds (default: settings reservations.default_ttl_s)")
    customer: Id | None = Field(None, description="the customer, if known (the conversion may name it instead)")
    reference: Id | None = Field(None, description="the cart's or quote's id in the system that holds it")


class ReservationExtend(_In):
    ttl_s: TtlSeconds = Field(description="the hold now expires this many seconds from now")


class ReservationConvert(_In):
    """The order's header; its lines are the reservation's, with exactly the units it holds."""

    customer: Id | None = Field(None, description="the order's customer (default: the reservation's)")
    ship_to: ShipTo | None = None
    priority: Annotated[int, Field(ge=0, le=1000)] | None = None


class ReservationRelease(_In):
    note: Text | None = None


class ReservationPublic(BaseModel):
    reservation_id: str
    status: str = Field(description="active (holds units), converted, released or expired")
    expires_at: dt.datetime
    held_qty: float = Field(description="units held now (0 once it no longer is active)")
    zone: str | None = None
    demand_class: str | None = None
    customer: str | None = None
    reference: str | None = None
    order_id: str | None = Field(None, description="the order it was converted to")
    created_at: dt.datetime
    updated_at: dt.datetime
    closed_at: dt.datetime | None = None
    created_by: str | None = None
    version: int
    lines: list[LinePublic]


class ReservationsPublic(BaseModel):
    data: list[ReservationPublic]
    count: int
    total: int
    limit: int
    offset: int
