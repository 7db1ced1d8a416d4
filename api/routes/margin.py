"""An order's margin with expected program income: the stored pricing waterfall per line, cost, gross margin,
program income per supplier program (accrued for shipped units, quoted for the rest) and margin after it.

Computed on each read (``OrderToCash.margin``), never on capture."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.deps import ChannelReader, O2CDep
from api.errors import responses
from api.routes.payments import MoneyPublic, money

router = APIRouter(prefix="/orders", tags=["orders"])

OrderId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match", max_length=200,
                                           description="the ETag of an earlier answer: 304 when the margin is unchanged")]


class AdjustmentPublic(BaseModel):
    """One step of the waterfall and the rule that made it."""

    kind: str
    rule: str
    amount: MoneyPublic
    basis: str = ""
    reason: str | None = None


class WaterfallPublic(BaseModel):
    """The line's price as stored with the order: list price x qty, adjustments, net, tax, total."""

    price_list: str
    tax_inclusive: bool
    qty: str
    unit_list_price: MoneyPublic
    list_amount: MoneyPublic
    adjustments: list[AdjustmentPublic]
    subtotal: MoneyPublic
    net: MoneyPublic
    tax_rate: str
    tax_rule: str
    tax: MoneyPublic
    total: MoneyPublic


class ProgramIncomePublic(BaseModel):
    """What one supplier program brings to a line: accrued on its shipped units (net of returns) and quoted for its
    units not shipped yet, as if they shipped on the business day."""

    program: str
    supplier: str
    kind: str
    accrued_qty: str
    accrued: MoneyPublic
    quoted_qty: str
    quoted: MoneyPublic
    total: MoneyPublic


class ProgramTotalPublic(BaseModel):
    """One program's income over the order's lines."""

    program: str
    supplier: str
    kind: str
    accrued: MoneyPublic
    quoted: MoneyPublic
    total: MoneyPublic


class LineMarginPublic(BaseModel):
    line: int
    item: str
    supplier: str | None = Field(None, description="the item's supplier (none: no program applies)")
    qty: str
    shipped_qty: str
    open_qty: str
    waterfall: WaterfallPublic | None = Field(None, description="the stored waterfall (none for an unpriced line)")
    unit_net: MoneyPublic = Field(description="net per unit, exact (what program bases use)")
    net: MoneyPublic
    tax: MoneyPublic | None = None
    unit_cost: MoneyPublic = Field(description="the item master's unit cost (units not in the channel ledger)")
    cost: MoneyPublic
    gross_margin: MoneyPublic = Field(description="net - cost")
    programs: list[ProgramIncomePublic]
    program_income: MoneyPublic
    margin: MoneyPublic = Field(description="gross margin + program income")


class OrderMarginPublic(BaseModel):
    """An order's margin with expected program income, per line and in total (one currency)."""

    order_id: str
    customer: str
    version: int
    currency: str
    on: dt.date = Field(description="the business day the open units are quoted on")
    net: MoneyPublic
    tax: MoneyPublic | None = None
    total: MoneyPublic | None = None
    cost: MoneyPublic
    gross_margin: MoneyPublic
    program_income: MoneyPublic
    margin: MoneyPublic
    programs: list[ProgramTotalPublic]
    lines: list[LineMarginPublic]


def _qty(q: Decimal) -> str:
    """An exact quantity without exponent or trailing zeros ("10", "2.5")."""
    return format(q.normalize(), "f")


def _waterfall(wf: Any) -> WaterfallPublic | None:
    if wf is None:
        return None
    return WaterfallPublic(
        price_list=wf.price_list, tax_inclusive=wf.tax_inclusive, qty=_qty(wf.qty), unit_list_price=money(wf.unit_list_price, exact=True),
        list_amount=money(wf.list_amount),
        adjustments=[AdjustmentPublic(kind=a.kind, rule=a.rule, amount=money(a.amount), basis=a.basis, reason=a.reason)
                     for a in wf.adjustments],
        subtotal=money(wf.subtotal), net=money(wf.net), tax_rate=str(wf.tax_rate), tax_rule=wf.tax_rule, tax=money(wf.tax),
        total=money(wf.total))


def _line(ln: dict[str, Any]) -> LineMarginPublic:
    return LineMarginPublic(
        line=ln["line"], item=ln["item"], supplier=ln["supplier"], qty=_qty(ln["qty"]), shipped_qty=_qty(ln["shipped_qty"]),
        open_qty=_qty(ln["open_qty"]), waterfall=_waterfall(ln["waterfall"]), unit_net=money(ln["unit_net"], exact=True),
        net=money(ln["net"]), tax=money(ln["tax"]) if ln["tax"] is not None else None,
        unit_cost=money(ln["unit_cost"], exact=True), cost=money(ln["cost"]), gross_margin=money(ln["gross_margin"]),
        programs=[ProgramIncomePublic(program=p.program, supplier=p.supplier, kind=p.kind, accrued_qty=_qty(p.accrued_qty),
                                      accrued=money(p.accrued), quoted_qty=_qty(p.quoted_qty), quoted=money(p.quoted),
                                      total=money(p.total)) for p in ln["programs"]],
        program_income=money(ln["program_income"]), margin=money(ln["margin"]))


def margin_public(m: dict[str, Any]) -> OrderMarginPublic:
    """``OrderToCash.margin``'s answer in its public form (amounts rounded to the minor unit, unit amounts exact)."""
    opt = lambda x: money(x) if x is not None else None  # noqa: E731
    return OrderMarginPublic(
        order_id=m["order_id"], customer=m["customer"], version=m["version"], currency=m["currency"], on=m["on"],
        net=money(m["net"]), tax=opt(m["tax"]), total=opt(m["total"]), cost=money(m["cost"]),
        gross_margin=money(m["gross_margin"]), program_income=money(m["program_income"]), margin=money(m["margin"]),
        programs=[ProgramTotalPublic(program=p["program"], supplier=p["supplier"], kind=p["kind"], accrued=money(p["accrued"]),
                                     quoted=money(p["quoted"]), total=money(p["accrued"] + p["quoted"]))
                  for p in m["programs"]],
        lines=[_line(ln) for ln in m["lines"]])


_ETAG = {"ETag": {"description": "a tag of this answer (it changes with the order, its shipments, the programs and the "
                                 "business day); send it in If-None-Match", "schema": {"type": "string"}}}


@router.get("/{order_id}/margin", operation_id="read_order_margin", response_model=OrderMarginPublic,
            responses={200: {"headers": _ETAG}, 304: {"description": "unchanged since the ETag sent in If-None-Match"},
                       **responses(404)},
            summary="The order's margin: waterfall, cost, gross margin, expected program income, margin after it")
def read_margin(order_id: OrderId, hub: O2CDep, user: ChannelReader, if_none_match: IfNoneMatch = None) -> Response:
    body = margin_public(hub.margin(order_id)).model_dump_json().encode()
    tag = '"m' + hashlib.sha256(body).hexdigest()[:20] + '"'
    if if_none_match is not None and tag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]:
        return Response(status_code=304, headers={"ETag": tag})
    return Response(content=body, media_type="application/json", headers={"ETag": tag})
