"""Channel revenue: supplier programs, the accruals order events earn, claims and their lifecycle, reports.

Shipped and returned lines accrue (or reverse) automatically from the order book's events (the
``channel`` consumer); these routes define programs and work the claims."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ChannelReader, ChannelWriter, O2CDep
from api.errors import jsonable, responses
from api.routes.payments import MoneyPublic, money
from channel import ClaimStatus, aging, claim_lines, claim_to_csv, parse_programs, program_report
from channel.programs import Catalogue
from promessa.money import Money

router = APIRouter(prefix="/channel", tags=["channel"])

Id = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]


class ProgramsCreate(BaseModel):
    """Programs as data (see channel/README.md for the fields of each kind); refused with the field path and value."""

    model_config = ConfigDict(extra="forbid")
    programs: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class ProgramsPublic(BaseModel):
    data: list[dict[str, Any]]
    count: int


class AccrualPublic(BaseModel):
    id: str
    event: str
    source: str
    program: str
    supplier: str
    kind: str
    period: str
    posted: dt.date
    qty: str
    basis: str
    rate: str | None
    amount: MoneyPublic
    claim: str | None = None


class AccrualsPublic(BaseModel):
    data: list[AccrualPublic]
    count: int


class ClaimsCreate(BaseModel):
    """Draft the claims of one supplier for a period (one per currency)."""

    model_config = ConfigDict(extra="forbid")
    supplier: str = Field(min_length=1, max_length=100)
    period_start: dt.date
    period_end: dt.date


class ClaimStatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: ClaimStatus
    reason: str | None = Field(None, max_length=500)
    date: dt.date | None = None


class ClaimReceipt(BaseModel):
    """Money for a claim: a supplier payment or (`deduction`) an amount deducted from supplier invoice `ref`."""

    model_config = ConfigDict(extra="forbid")
    amount: Decimal = Field(gt=0, max_digits=18, decimal_places=4)
    ref: str = Field(min_length=1, max_length=100)
    deduction: bool = False
    date: dt.date | None = None


class ClaimPublic(BaseModel):
    claim: str
    supplier: str
    currency: str
    period_start: dt.date
    period_end: dt.date
    created: dt.date
    status: str
    submitted: dt.date | None = None
    total: MoneyPublic
    received: MoneyPublic
    written_off: MoneyPublic
    open: MoneyPublic
    history: list[dict[str, Any]]
    lines: list[dict[str, Any]]


class ClaimsPublic(BaseModel):
    data: list[ClaimPublic]
    count: int


class RowsPublic(BaseModel):
    """A report: one row per group, amounts as exact decimal strings."""

    data: list[dict[str, Any]]
    count: int


def _accrual(a, claimed: dict[str, str]) -> AccrualPublic:
    return AccrualPublic(id=a.id, event=a.event, source=a.source, program=a.program, supplier=a.supplier, kind=a.kind,
                         period=a.period, posted=a.posted, qty=str(a.qty), basis=a.basis,
                         rate=None if a.rate is None else str(a.rate), amount=money(a.amount), claim=claimed.get(a.id))


def _claim(hub, c) -> ClaimPublic:
    m = lambda x: money(Money(x, c.currency))  # noqa: E731
    return ClaimPublic(claim=c.claim, supplier=c.supplier, currency=c.currency, period_start=c.period_start,
                       period_end=c.period_end, created=c.created, status=str(c.status), submitted=c.submitted,
                       total=m(c.total), received=m(c.received), written_off=m(c.written_off), open=m(c.open_amount),
                       history=jsonable(c.history), lines=jsonable(claim_lines(hub.ledger.state, c)))


def _rows(df) -> RowsPublic:
    rows = [{k: (str(v) if isinstance(v, Decimal) else v) for k, v in r.items()} for r in df.to_dicts()]
    return RowsPublic(data=jsonable(rows), count=len(rows))


@router.get("/programs", operation_id="list_programs", response_model=ProgramsPublic, responses=responses(),
            summary="Supplier programs")
def list_programs(hub: O2CDep, user: ChannelReader) -> ProgramsPublic:
    data = [jsonable(p.to_dict()) for _, p in sorted(hub.ledger.state.programs.items())]
    return ProgramsPublic(data=data, count=len(data))


@router.post("/programs", operation_id="define_programs", response_model=ProgramsPublic, status_code=201,
             responses=responses(409), summary="Add or replace supplier programs (validated against the catalogue)")
def define_programs(body: ProgramsCreate, hub: O2CDep, user: ChannelWriter) -> ProgramsPublic:
    programs = parse_programs(body.programs, catalogue=Catalogue.of_snapshot(hub.service.snap))
    hub.define_programs(programs)
    data = [jsonable(p.to_dict()) for p in programs]
    return ProgramsPublic(data=data, count=len(data))


@router.get("/accruals", operation_id="list_accruals", response_model=AccrualsPublic, responses=responses(),
            summary="Accrual records (of one order, supplier or program)")
def list_accruals(hub: O2CDep, user: ChannelReader, order: Annotated[str | None, Query(max_length=100)] = None,
                  supplier: Annotated[str | None, Query(max_length=100)] = None,
                  program: Annotated[str | None, Query(max_length=100)] = None) -> AccrualsPublic:
    hub.catch_up()
    st = hub.ledger.state
    sources = {s.shipment for s in st.shipments.values() if s.order == order} if order is not None else None
    data = [_accrual(a, st.claimed) for a in st.accruals
            if (supplier is None or a.supplier == supplier) and (program is None or a.program == program)
            and (sources is None or a.source in sources)]
    return AccrualsPublic(data=data, count=len(data))


@router.post("/claims", operation_id="create_claims", response_model=ClaimsPublic, status_code=201, responses=responses(),
             summary="Draft a supplier's claims for a period from its unclaimed accruals")
def create_claims(body: ClaimsCreate, hub: O2CDep, user: ChannelWriter) -> ClaimsPublic:
    hub.catch_up()
    claims = hub.ledger.create_claims(body.supplier, period_start=body.period_start, period_end=body.period_end,
                                      business_date=hub.business_date())
    return ClaimsPublic(data=[_claim(hub, c) for c in claims], count=len(claims))


@router.get("/claims/{claim_id}", operation_id="read_claim", response_model=ClaimPublic,
            responses={200: {"content": {"text/csv": {}}, "description": "the claim (JSON), or its lines in the supplier's CSV"},
                       **responses(404)},
            summary="One claim with its lines (JSON, or CSV in the supplier's format)")
def read_claim(claim_id: Id, hub: O2CDep, user: ChannelReader, format: Annotated[Literal["json", "csv"], Query()] = "json"):
    c = hub.ledger.claim(claim_id)
    if format == "csv":
        return PlainTextResponse(claim_to_csv(hub.ledger.state, c), media_type="text/csv")
    return _claim(hub, c)


@router.post("/claims/{claim_id}/status", operation_id="move_claim", response_model=ClaimPublic, responses=responses(404, 409),
             summary="Move a claim along its lifecycle (submitted, accepted, rejected with a reason, ...)")
def move_claim(claim_id: Id, body: ClaimStatusChange, hub: O2CDep, user: ChannelWriter) -> ClaimPublic:
    c = hub.ledger.transition(claim_id, body.status, date=body.date or hub.business_date(), reason=body.reason)
    return _claim(hub, c)


@router.post("/claims/{claim_id}/receipts", operation_id="receive_claim", response_model=ClaimPublic,
             responses=responses(404, 409), summary="Money received for a claim (payment or invoice deduction)")
def receive_claim(claim_id: Id, body: ClaimReceipt, hub: O2CDep, user: ChannelWriter) -> ClaimPublic:
    c = hub.ledger.claim(claim_id)
    hub.ledger.receive(claim_id, Money.of(body.amount, c.currency), date=body.date or hub.business_date(), ref=body.ref,
                       deduction=body.deduction)
    return _claim(hub, hub.ledger.claim(claim_id))


@router.get("/reports", operation_id="channel_report", response_model=RowsPublic, responses=responses(),
            summary="Accrued, claimed, unclaimed, received, written off and open per supplier, program, period")
def report(hub: O2CDep, user: ChannelReader,
           by: Annotated[list[Literal["supplier", "program", "period"]] | None, Query()] = None) -> RowsPublic:
    hub.catch_up()
    return _rows(program_report(hub.ledger.state, by=tuple(by or ("supplier", "program", "period"))))


@router.get("/aging", operation_id="claim_aging", response_model=RowsPublic, responses=responses(),
            summary="Open claims aged on the business day against their claim windows")
def claim_aging(hub: O2CDep, user: ChannelReader) -> RowsPublic:
    return _rows(aging(hub.ledger.state, hub.business_date()))
