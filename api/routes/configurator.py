"""Configure-to-order: configuration models (list, read, post a version, the version in force on a day) and
interactive sessions (choose, retract, valid values, why, how to get, complete, price, promise), plus the
phone-friendly configuration page.

Sessions are UI state held in memory by id (bounded in number, expired after idle time: settings
``configurator.max_sessions`` and ``session_ttl_s``); pricing goes through the order hub's price book
(the option pricer's unit price as the list price, then the book's rules and tax); promising is an
inquiry through capable-to-promise that commits nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ConfiguratorReader, ConfiguratorWriter, ServiceDep
from api.errors import PUBLIC_RESPONSES, responses
from configurator import option_dater, promise_configuration
from configurator.pricing import price_configured_line
from configurator.service import Configurator
from configurator.session import Session
from pricing import Party
from promessa.errors import ValidationError

router = APIRouter(prefix="/configurator", tags=["configurator"])

PAGE = FilePath(__file__).resolve().parents[2] / "configurator" / "static" / "configure.html"

Name = Annotated[str, Path(min_length=1, max_length=200)]
SessionId = Annotated[str, Path(min_length=1, max_length=64, description="the session id from POST /sessions")]
Text = Annotated[str, Query(min_length=1, max_length=200)]


async def get_configurator(request: Request) -> Configurator:
    """The running engine's configurator (503 before the engine is open)."""
    engine = getattr(request.app.state, "engine", None)
    got = getattr(engine, "configurator", None) if engine is not None else None
    if got is None:
        raise HTTPException(503, "promessa is not ready (the engine is not open)")
    return got


ConfiguratorDep = Annotated[Configurator, Depends(get_configurator)]


# ------------------------------------------------------------------ schemas


class ModelVersionPublic(BaseModel):
    """One version of a model: validity (from inclusive, to exclusive), size, where it came from."""

    model_config = ConfigDict(extra="allow")
    name: str
    version: str
    item: str
    currency: str
    effective_from: str | None
    effective_to: str | None
    variables: int
    rules: int
    build_location: str | None
    source: str


class ModelsPublic(BaseModel):
    data: list[ModelVersionPublic]
    count: int
    problems: list[str]


class ModelDetailPublic(ModelVersionPublic):
    """A version with its number of valid configurations, diagram size, options and rule names."""

    configurations: int
    diagram_nodes: int
    options: list[dict[str, Any]]
    rule_list: list[dict[str, Any]]


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=200, description="the model name")
    on: dt.date | None = Field(None, description="pick the version in force that day (default: the business day)")
    version: str | None = Field(None, max_length=100, description="a given version instead")
    choices: dict[str, str] = Field(default_factory=dict, description="initial choices, applied in order")


class SessionPublic(BaseModel):
    """A session: each variable with its values, the still-valid ones, the choice, default and option prices."""

    id: str
    model: str
    version: str
    currency: str
    on: str
    variables: list[dict[str, Any]]
    choices: dict[str, str]
    complete: bool
    count: int


class ChoiceSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str = Field(min_length=1, max_length=200)


Qty = Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)]


class CompleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    objective: Literal["defaults", "cheapest", "fastest"] = "defaults"
    qty: Qty = Field(1.0, description="fastest: configured units to date the options for")
    requested_date: dt.date | None = Field(None, description="fastest: when wanted (default: the business day)")
    location: str | None = Field(None, max_length=100, description="fastest: build location (default: the model's)")


class PromiseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    qty: Qty = 1.0
    requested_date: dt.date | None = Field(None, description="default: the business day")
    location: str | None = Field(None, max_length=100, description="build location (default: the model's)")


class WhyPublic(BaseModel):
    var: str
    value: str
    valid: bool
    rules: list[str]
    choices: dict[str, str]
    message: str


class HowToGetPublic(BaseModel):
    var: str
    value: str
    possible: bool
    changes: list[dict[str, str]]
    configuration: dict[str, str] | None
    rules: list[str]


class ConfiguredPricePublic(BaseModel):
    """Option build-up of the unit list price (base, options, adjustments) and the line's waterfall."""

    lines: list[dict[str, str]]
    unit: str
    qty: str
    total: str
    currency: str
    on: str
    waterfall: dict[str, Any]
    net: str
    tax: str
    total_with_tax: str


class ConfiguredPromisePublic(BaseModel):
    qty: float
    requested_date: str
    date: str | None
    status: str
    message: str
    binding: dict[str, Any] | None
    needs: list[dict[str, Any]]


# ------------------------------------------------------------------ helpers


def _session_dict(cfg: Configurator, session) -> dict:
    out = session.to_dict()
    on = cfg.sessions.on(session.id)
    out["on"] = on.isoformat() if on else ""
    return out


def _choose(session, var: str, value: str) -> None:
    try:
        session.choose(var, value)
    except ValidationError as exc:
        raise ValidationError(exc.message.removeprefix(f"{exc.field}={exc.value!r}: "), field=f"choices.{var}",
                              value=value, hint=exc.hint) from None


def _requested(svc, requested_date: dt.date | None) -> dt.date:
    day = requested_date or svc.business_day
    svc.snap.bucket(day, field="requested_date")  # refuses a date past the horizon
    return day


# ------------------------------------------------------------------ models


@router.get("/models", operation_id="list_configuration_models", response_model=ModelsPublic, responses=responses(),
            summary="Every version of every configuration model (validity, size, source) and stored models left out")
def list_models(cfg: ConfiguratorDep, user: ConfiguratorReader) -> dict:
    data = cfg.models()
    return {"data": data, "count": len(data), "problems": list(cfg.problems)}


@router.post("/models", operation_id="post_configuration_model", response_model=ModelDetailPublic, status_code=201,
             responses=responses(), summary="Post a model version (validated: a refusal names the rule and the value; "
                                            "compiled; durable before the answer)")
def post_model(cfg: ConfiguratorDep, user: ConfiguratorWriter, body: Annotated[dict[str, Any], Body(examples=[{
        "name": "lamp", "version": "1", "effective_from": "2026-01-01", "currency": "EUR",
        "variables": {"color": ["red", "blue"], "bulb": {"values": ["led", "halogen"], "default": "led"}},
        "rules": [{"name": "blue-is-led", "if": {"color": "blue"}, "then": {"bulb": "led"}}],
        "prices": {"base": "20.00", "options": {"bulb": {"halogen": "3.50"}}}}])]) -> JSONResponse:
    m = cfg.upload(body, actor=user.actor)
    out = _detail(cfg, m)
    return JSONResponse(out, status_code=201,
                        headers={"Location": f"/v1/configurator/models/{m.name}?version={m.version}"})


def _detail(cfg: Configurator, m) -> dict:
    out = cfg.describe(m, compiled=True)
    out["options"] = [{"name": v.name, "label": v.label or v.name, "values": list(v.values), "default": v.default}
                      for v in m.variables]
    out["rule_list"] = [{"name": r.name, "kind": r.kind, "variables": list(r.variables)} for r in m.rules]
    return out


@router.get("/models/{name}", operation_id="read_configuration_model", response_model=ModelDetailPublic,
            responses=responses(404), summary="The version of a model in force on a day (default: the business day), "
                                              "or a given version")
def read_model(name: Name, cfg: ConfiguratorDep, svc: ServiceDep, user: ConfiguratorReader,
               on: dt.date | None = None, version: Annotated[str | None, Query(max_length=100)] = None) -> dict:
    return _detail(cfg, cfg.model(name, on or svc.business_day, version=version))


# ------------------------------------------------------------------ sessions


@router.post("/sessions", operation_id="start_configuration", response_model=SessionPublic, status_code=201,
             responses=responses(404), summary="Start a configuration session on the version in force (its id in the answer)")
def start_session(body: SessionCreate, cfg: ConfiguratorDep, svc: ServiceDep, user: ConfiguratorReader) -> JSONResponse:
    on = body.on or svc.business_day
    m = cfg.model(body.model, on, version=body.version)
    probe = Session(cfg.library.compiled_of(m))
    for x, v in body.choices.items():
        _choose(probe, x, v)
    session = cfg.sessions.add(probe, on=on)
    return JSONResponse(_session_dict(cfg, session), status_code=201,
                        headers={"Location": f"/v1/configurator/sessions/{session.id}"})


@router.get("/sessions/{sid}", operation_id="read_configuration", response_model=SessionPublic, responses=responses(404),
            summary="A session: valid values of every variable, choices, completions left")
def read_session(sid: SessionId, cfg: ConfiguratorDep, user: ConfiguratorReader) -> dict:
    with cfg.sessions.use(sid) as s:
        return _session_dict(cfg, s)


@router.delete("/sessions/{sid}", operation_id="end_configuration", status_code=204, responses=responses(404),
               summary="Forget a session")
def end_session(sid: SessionId, cfg: ConfiguratorDep, user: ConfiguratorReader) -> None:
    cfg.sessions.get(sid)  # 404 when unknown
    cfg.sessions.drop(sid)


@router.put("/sessions/{sid}/choices/{var}", operation_id="choose_option", response_model=SessionPublic,
            responses=responses(404), summary="Choose a value (422 naming the rules and choices that exclude it)")
def choose(sid: SessionId, var: Name, body: ChoiceSet, cfg: ConfiguratorDep, user: ConfiguratorReader) -> dict:
    with cfg.sessions.use(sid) as s:
        _choose(s, var, body.value)
        return _session_dict(cfg, s)


@router.delete("/sessions/{sid}/choices/{var}", operation_id="retract_option", response_model=SessionPublic,
               responses=responses(404), summary="Retract the choice of a variable")
def retract(sid: SessionId, var: Name, cfg: ConfiguratorDep, user: ConfiguratorReader) -> dict:
    with cfg.sessions.use(sid) as s:
        s.retract(var)
        return _session_dict(cfg, s)


class ValidPublic(BaseModel):
    """Each variable's values that some full valid configuration extending the choices takes; the count of them."""

    valid: dict[str, list[str]]
    count: int


@router.get("/sessions/{sid}/valid", operation_id="valid_values", response_model=ValidPublic, responses=responses(404),
            summary="The values of each variable that can still be completed into a valid configuration")
def valid_values(sid: SessionId, cfg: ConfiguratorDep, user: ConfiguratorReader) -> dict:
    with cfg.sessions.use(sid) as s:
        return {"valid": {x: list(vs) for x, vs in s.valid.items()}, "count": s.count()}


@router.get("/sessions/{sid}/why", operation_id="why_excluded", response_model=WhyPublic, responses=responses(404),
            summary="Why a value is excluded: a minimal set of rules and choices responsible")
def why(sid: SessionId, var: Text, value: Text, cfg: ConfiguratorDep, user: ConfiguratorReader) -> dict:
    with cfg.sessions.use(sid) as s:
        return s.why(var, value).to_dict()


@router.get("/sessions/{sid}/how-to-get", operation_id="how_to_get", response_model=HowToGetPublic, responses=responses(404),
            summary="The fewest choices to change so that a value becomes available")
def how_to_get(sid: SessionId, var: Text, value: Text, cfg: ConfiguratorDep, user: ConfiguratorReader) -> dict:
    with cfg.sessions.use(sid) as s:
        return s.how_to_get(var, value).to_dict()


@router.post("/sessions/{sid}/complete", operation_id="complete_configuration", response_model=SessionPublic,
             responses=responses(404), summary="Complete the open variables by defaults, cheapest options or fastest "
                                               "to promise (capable-to-promise dates per option, no commitment)")
def complete(sid: SessionId, body: CompleteRequest, cfg: ConfiguratorDep, svc: ServiceDep, user: ConfiguratorReader) -> dict:
    with cfg.sessions.use(sid) as s:
        date_of = None
        if body.objective == "fastest":
            date_of = option_dater(svc.snap, svc.state, s.model, qty=body.qty,
                                   requested_date=_requested(svc, body.requested_date), location=body.location)
        s.complete_by(body.objective, date_of=date_of)
        return _session_dict(cfg, s)


@router.get("/sessions/{sid}/price", operation_id="price_configuration", response_model=ConfiguredPricePublic,
            responses=responses(404), summary="Price the complete configuration through the price book (option prices "
                                              "as the list price, then the rules and tax); 422 naming what is missing")
def price(sid: SessionId, cfg: ConfiguratorDep, svc: ServiceDep, user: ConfiguratorReader,
          qty: Annotated[float, Query(gt=0, le=1e9, allow_inf_nan=False)] = 1.0,
          customer: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
          country: Annotated[str | None, Query(pattern="^[A-Za-z]{2}$")] = None,
          region: Annotated[str | None, Query(max_length=10)] = None) -> dict:
    with cfg.sessions.use(sid) as s:
        config, model, compiled = s.configuration(), s.model, s.compiled
    day = svc.business_day
    commerce = svc.commerce
    book = commerce.book_for(svc.snap, day)
    party = Party("configurator")
    if customer is not None:
        if commerce.master is not None and commerce.customer(customer) is None:
            raise ValidationError("unknown customer", field="customer", value=customer)
        party = commerce.party(customer)
        if country is None:
            c = commerce.customer(customer)
            a = next((a for a in c.addresses if a.kind in ("ship_to", "both")), None) if c is not None else None
            if a is not None:
                country, region = a.country, region or a.region
    if not book.tax_rates:
        party = dataclasses.replace(party, tax_profile="exempt")  # no tax rates configured: priced without tax
    country = country or svc.settings.pricing.default_country
    if country is None and party.tax_profile != "exempt":
        raise ValidationError("a ship-to country is needed for tax", field="country", value=None,
                              hint="give country, a customer with a ship-to address, or settings.pricing.default_country")
    return price_configured_line(book, model, config, qty=_qty(qty), party=party, on=day, country=country or "ZZ",
                                 region=region, compiled=compiled, check=False).to_dict()


def _qty(q: float):
    from decimal import Decimal

    return Decimal(repr(q)) if q != int(q) else int(q)


@router.post("/sessions/{sid}/promise", operation_id="promise_configuration", response_model=ConfiguredPromisePublic,
             responses=responses(404), summary="Promise the complete configuration through its components and capacity "
                                               "(an inquiry: nothing is committed); the answer names the option that binds")
def promise(sid: SessionId, body: PromiseRequest, cfg: ConfiguratorDep, svc: ServiceDep, user: ConfiguratorReader) -> dict:
    with cfg.sessions.use(sid) as s:
        config = s.configuration()
        p = promise_configuration(svc.snap, svc.state, s.model, config, qty=body.qty,
                                  requested_date=_requested(svc, body.requested_date), location=body.location,
                                  compiled=s.compiled, check=False)
    return p.to_dict()


# ------------------------------------------------------------------ the page


@router.get("/configure", operation_id="configure_page", response_class=HTMLResponse, responses=PUBLIC_RESPONSES,
            summary="The configuration page (static HTML, works on a phone; give the key as #key=... or in its key field)")
def page() -> FileResponse:
    return FileResponse(PAGE, media_type="text/html")
