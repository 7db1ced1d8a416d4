"""promessa's HTTP API: order capture, promising and fulfillment over a durable order book.

``create_app(settings)`` builds the FastAPI app; ``promessa serve`` runs it with uvicorn.
Routers per resource are mounted under ``/v1`` (OpenAPI at ``/docs``). The app's
``lifespan`` loads the supply snapshot (or generates the small sample), opens the order
book and rebuilds the in-memory commitments from it. See ``orderbook/README.md``.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import hashlib
import inspect
import io
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Header, HTTPException, Path as PathParam, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import APIKeyHeader

from orderbook.lifecycle import OrderStatus
from orderbook.schemas import (
    AtpPublic,
    AuditPublic,
    AvailabilityPublic,
    AvailabilityRequest,
    CommitmentsPublic,
    Decision,
    FulfillmentEvent,
    HealthPublic,
    Id,
    ImportCreate,
    ImportPublic,
    JournalPublic,
    OrderChange,
    Timestamp,
    OrderCreate,
    OrderPublic,
    OrdersPublic,
)
from orderbook.service import Idem, OrderService, StoreUnavailable
from promessa.config import Role, Settings, settings_of
from orderbook.store import open_store
from promessa.errors import ConflictError, InfeasibleError, NotFoundError, PromessaError, ValidationError

log = logging.getLogger("promessa.server")

API_PREFIX = "/v1"

# ------------------------------------------------------------------ access

#: What each role may do. Reads need no key.
PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.ORDER_CAPTURE: frozenset({"orders:write", "imports:write"}),
    Role.PLANNER: frozenset({"orders:write", "imports:write", "orders:approve", "fulfillment:write"}),
    Role.ADMIN: frozenset({"orders:write", "imports:write", "orders:approve", "fulfillment:write", "admin"}),
}

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (role: order_capture, planner or admin)")


@dataclasses.dataclass(frozen=True)
class Principal:
    name: str
    role: Role


def require(permission: str):
    async def dependency(request: Request, api_key: Annotated[str | None, Depends(_api_key_header)] = None) -> Principal:
        settings: Settings = request.app.state.settings
        if api_key is None:
            if settings.api.demo:
                return Principal("demo", Role.ADMIN)
            raise HTTPException(401, "an API key is required for writes (X-API-Key header)",
                                headers={"WWW-Authenticate": "APIKey"})
        role = settings.api.keys.get(api_key)
        if role is None:
            raise HTTPException(401, "unknown API key", headers={"WWW-Authenticate": "APIKey"})
        if permission not in PERMISSIONS[role]:
            raise HTTPException(403, f"role {role} may not do this (needs {permission})")
        return Principal(f"{role}:{hashlib.sha256(api_key.encode()).hexdigest()[:8]}", role)

    return dependency


async def get_service(request: Request) -> OrderService:
    # async: a plain attribute read must not cost a hop to the thread pool
    return request.app.state.service


ServiceDep = Annotated[OrderService, Depends(get_service)]
CaptureUser = Annotated[Principal, Depends(require("orders:write"))]
ImportUser = Annotated[Principal, Depends(require("imports:write"))]
ApproveUser = Annotated[Principal, Depends(require("orders:approve"))]
FulfillmentUser = Annotated[Principal, Depends(require("fulfillment:write"))]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
           description="same key and body: same answer; same key, other body: 409"),
]
OrderId = Annotated[str, PathParam(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]


def _idem(key: str | None, request: Request, body: Any) -> Idem | None:
    try:
        payload = body.model_dump_json() if hasattr(body, "model_dump_json") else json.dumps(body, sort_keys=True, default=str)
    except ValueError:  # e.g. lone surrogates inside free-form import rows: hash an escaped form
        data = body.model_dump() if hasattr(body, "model_dump") else body
        payload = json.dumps(data, sort_keys=True, default=str, ensure_ascii=True)
    return Idem.of(key, request.method, request.url.path, payload)


def _answer(result: tuple[int, str, bool]) -> Response:
    status, body, replayed = result
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(content=body, status_code=status, media_type="application/json", headers=headers)


# ------------------------------------------------------------------ routers

availability = APIRouter(prefix=API_PREFIX, tags=["availability"])
orders = APIRouter(prefix=API_PREFIX + "/orders", tags=["orders"])
imports = APIRouter(prefix=API_PREFIX + "/imports", tags=["imports"])
ops = APIRouter(tags=["operations"])

_ERRORS = {
    401: {"description": "missing or unknown API key"},
    403: {"description": "the key's role may not do this"},
    404: {"description": "unknown order"},
    409: {"description": "transition not allowed, or Idempotency-Key reused with another body"},
    422: {"description": "invalid input: the field path and the value"},
}


@availability.post("/availability", response_model=AvailabilityPublic, summary="Availability inquiry (no commitment)")
async def inquire(body: AvailabilityRequest, svc: ServiceDep) -> Response:
    lines = svc.inquire(body.lines, explain=body.explain)
    return Response(content=json.dumps({"lines": lines}, separators=(",", ":")), media_type="application/json")


@availability.get("/atp/{item}/{location}", response_model=AtpPublic, summary="Time-phased ATP of an item-location")
def atp(item: Annotated[str, PathParam(max_length=100)], location: Annotated[str, PathParam(max_length=100)],
        svc: ServiceDep, start: dt.date | None = None, end: dt.date | None = None) -> Response:
    return Response(content=json.dumps(svc.atp(item, location, start=start, end=end), allow_nan=False),
                    media_type="application/json")


@orders.post("", response_model=OrderPublic, status_code=201, responses=_ERRORS,
             summary="Capture an order: validate, promise and commit in one step")
def capture(body: OrderCreate, request: Request, svc: ServiceDep, user: CaptureUser, key: IdempotencyKey = None) -> Response:
    return _answer(svc.capture(body, actor=user.name, idem=_idem(key, request, body)))


@orders.get("", response_model=OrdersPublic, summary="Search orders")
def search(
    svc: ServiceDep,
    customer: Annotated[Id | None, Query()] = None,
    item: Annotated[Id | None, Query()] = None,
    status: Annotated[list[OrderStatus] | None, Query()] = None,
    created_from: Timestamp | None = None,
    created_to: Timestamp | None = None,
    requested_from: dt.date | None = None,
    requested_to: dt.date | None = None,
    source_system: Annotated[Id | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> dict:
    data, total = svc.search(customer=customer, item=item, status=[str(s) for s in status] if status else None,
                             created_from=created_from, created_to=created_to, requested_from=requested_from,
                             requested_to=requested_to, source_system=source_system,
                             limit=min(limit, svc.settings.api.max_search_limit), offset=offset)
    return {"data": data, "count": len(data), "total": total, "limit": limit, "offset": offset}


@orders.get("/{order_id}", response_model=OrderPublic, responses={404: _ERRORS[404]}, summary="Read an order")
def read(order_id: OrderId, svc: ServiceDep) -> Response:
    return Response(content=json.dumps(svc.get(order_id), separators=(",", ":")), media_type="application/json")


@orders.get("/{order_id}/audit", response_model=AuditPublic, responses={404: _ERRORS[404]},
            summary="Audit trail: every transition, who and when")
def audit(order_id: OrderId, svc: ServiceDep) -> dict:
    return {"data": svc.audit(order_id)}


@orders.patch("/{order_id}", response_model=OrderPublic, responses=_ERRORS,
              summary="Change quantities, dates, lines or ship-to: release what has not shipped and promise again")
def change(order_id: OrderId, body: OrderChange, request: Request, svc: ServiceDep, user: CaptureUser,
           key: IdempotencyKey = None,
           if_match: Annotated[int | None, Header(alias="If-Match", ge=1, le=2**31,
                                                  description="expected order version")] = None) -> Response:
    return _answer(svc.change(order_id, body, actor=user.name, idem=_idem(key, request, body), if_version=if_match))


@orders.post("/{order_id}/cancel", response_model=OrderPublic, responses=_ERRORS, summary="Cancel what has not shipped")
def cancel(order_id: OrderId, request: Request, svc: ServiceDep, user: CaptureUser, key: IdempotencyKey = None,
           body: Annotated[Decision | None, Body()] = None) -> Response:
    note = body.note if body else None
    return _answer(svc.cancel(order_id, actor=user.name, idem=_idem(key, request, {"note": note}), note=note))


@orders.post("/{order_id}/approve", response_model=OrderPublic, responses=_ERRORS, summary="Approve an order on hold")
def approve(order_id: OrderId, request: Request, svc: ServiceDep, user: ApproveUser, key: IdempotencyKey = None,
            body: Annotated[Decision | None, Body()] = None) -> Response:
    note = body.note if body else None
    return _answer(svc.decide(order_id, approve=True, actor=user.name, idem=_idem(key, request, {"note": note}), note=note))


@orders.post("/{order_id}/reject", response_model=OrderPublic, responses=_ERRORS,
             summary="Reject an order on hold (releases its supply)")
def reject(order_id: OrderId, request: Request, svc: ServiceDep, user: ApproveUser, key: IdempotencyKey = None,
           body: Annotated[Decision | None, Body()] = None) -> Response:
    note = body.note if body else None
    return _answer(svc.decide(order_id, approve=False, actor=user.name, idem=_idem(key, request, {"note": note}), note=note))


@orders.post("/{order_id}/events", response_model=OrderPublic, responses=_ERRORS,
             summary="Fulfillment event (shipped, delivered) from a warehouse or carrier system")
def event(order_id: OrderId, body: FulfillmentEvent, request: Request, svc: ServiceDep, user: FulfillmentUser,
          key: IdempotencyKey = None) -> Response:
    return _answer(svc.event(order_id, body, actor=user.name, idem=_idem(key, request, body)))


@imports.post("", response_model=ImportPublic, responses=_ERRORS,
              summary="Bulk import (JSON): rows of the orders table, validated row by row")
def import_json(body: ImportCreate, request: Request, svc: ServiceDep, user: ImportUser, key: IdempotencyKey = None) -> Response:
    return _answer(svc.import_orders(body.source_system, body.orders, actor=user.name, idem=_idem(key, request, body)))


@imports.post(
    "/csv", response_model=ImportPublic, responses=_ERRORS,
    summary="Bulk import (CSV body, header row): rows of the orders table, validated row by row",
    openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def import_csv(request: Request, svc: ServiceDep, user: ImportUser,
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
    idem = Idem.of(key, request.method, request.url.path, source_system, raw)
    return _answer(await run_in_threadpool(svc.import_orders, source_system, rows, actor=user.name, idem=idem))


@ops.get(API_PREFIX + "/health", response_model=HealthPublic, summary="Health")
async def health(svc: ServiceDep, request: Request) -> dict:
    return {"status": "ok", "store": svc.store.kind, "orders": len(svc.orders), "journal_seq": svc.seq,
            "replay_exceptions": len(svc.replay_exceptions), "snapshot": svc.snap.status(),
            "demo": request.app.state.settings.api.demo}


@ops.get("/metrics", response_class=PlainTextResponse, summary="Metrics (Prometheus text format)")
@ops.get(API_PREFIX + "/metrics", response_class=PlainTextResponse, include_in_schema=False)
async def metrics(svc: ServiceDep) -> PlainTextResponse:
    by_status: dict[str, int] = {}
    for o in list(svc.orders.values()):
        by_status[o.status] = by_status.get(o.status, 0) + 1
    gauges = {"promessa_journal_seq": ("last commitment journal sequence number", float(svc.seq)),
              "promessa_orders": ("orders in the book", float(len(svc.orders))),
              "promessa_committed_units": ("units committed on top of the snapshot", svc.state.committed_total())}
    for s in OrderStatus:
        gauges[f"promessa_orders_{s}"] = (f"orders {s}", float(by_status.get(str(s), 0)))
    return PlainTextResponse(svc.metrics.render(gauges), media_type="text/plain; version=0.0.4")


@ops.get(API_PREFIX + "/journal", response_model=JournalPublic,
         summary="Commitment journal after a sequence number (for snapshot refresh and replicas)")
def journal(svc: ServiceDep, since: Annotated[int, Query(ge=0, le=2**62)] = 0,
            limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000) -> dict:
    return {"since": since, "last_seq": svc.seq, "data": svc.journal_since(since, limit=limit)}


@ops.get(API_PREFIX + "/commitments", response_model=CommitmentsPublic, summary="In-memory commitments per item-location and date")
def commitments(svc: ServiceDep) -> dict:
    return svc.commitments()


# ------------------------------------------------------------------ middleware and errors


class BodyLimit:
    """Refuse request bodies larger than `max_bytes` (422, like any other invalid input)."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for k, v in scope.get("headers", ()):
            if k == b"content-length":
                try:
                    n = int(v)
                except ValueError:
                    n = 0
                if n > self.max_bytes:
                    return await _too_large(send, n, self.max_bytes)
        seen = 0
        started = False

        async def guarded_receive():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(seen)
            return msg

        async def tracking_send(msg):
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except _TooLarge as exc:
            if started:
                raise
            await _too_large(send, exc.size, self.max_bytes)


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


async def _too_large(send, size: int, limit: int) -> None:
    body = json.dumps({"detail": [{"type": "too_large", "loc": ["body"], "msg": f"request body larger than {limit} bytes",
                                   "input": size}]}).encode()
    await send({"type": "http.response.start", "status": 422,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class RequestMetrics:
    def __init__(self, app, metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = 500

        async def send_(msg):
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
            await send(msg)

        try:
            await self.app(scope, receive, send_)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            labels = {"route": path, "method": scope.get("method", "")}
            self.metrics.observe("promessa_http_request_seconds", time.perf_counter() - t0, labels=labels)
            self.metrics.inc("promessa_http_requests_total", labels={**labels, "status": str(status)})


def _finite(v: Any) -> Any:
    """JSON-safe copy of an error's input: NaN and infinities become strings, unknown objects repr()."""
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else repr(v)
    if isinstance(v, dict):
        return {str(k): _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    if isinstance(v, str):
        try:
            v.encode("utf-8")
            return v
        except UnicodeEncodeError:
            return v.encode("utf-8", "backslashreplace").decode("ascii", "replace")
    if v is None or isinstance(v, (int, bool)):
        return v
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return repr(v) if not isinstance(v, (dt.date, dt.datetime)) else v.isoformat()


def _loc(field: str) -> list:
    return [int(p) if p.isdigit() else p for p in field.split(".")]


def _safe(v: Any) -> Any:
    return _finite(v)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [{k: _finite(v) for k, v in e.items() if k != "url"} for e in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(status_code=500, content={"detail": "internal error; the request was not applied"})

    @app.exception_handler(ValidationError)
    async def _validation(request: Request, exc: ValidationError) -> JSONResponse:
        msg = exc.message
        prefix = f"{exc.field}={exc.value!r}: "
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
        return JSONResponse(status_code=422, content={"detail": [{
            "type": "value_error", "loc": _loc(exc.field), "msg": msg, "input": _safe(exc.value),
            **({"hint": exc.hint} if exc.hint else {})}]})

    def simple(status: int):
        async def handler(request: Request, exc: PromessaError) -> JSONResponse:
            content = {"detail": exc.message}
            if exc.hint:
                content["hint"] = exc.hint
            return JSONResponse(status_code=status, content=content)

        return handler

    app.add_exception_handler(NotFoundError, simple(404))
    app.add_exception_handler(ConflictError, simple(409))
    app.add_exception_handler(InfeasibleError, simple(422))
    app.add_exception_handler(StoreUnavailable, simple(503))
    app.add_exception_handler(PromessaError, simple(400))


# ------------------------------------------------------------------ app factory


def load_or_generate_snapshot(settings: Settings):
    from supplydata import load_snapshot
    from supplydata.generate import generate  # the package's `generate` name is shadowed once the module is imported

    if settings.snapshot.path is not None:
        return load_snapshot(settings.snapshot.path)
    sample = Path(settings.snapshot.sample_dir)
    if not (sample / "meta.json").exists():
        log.info("no snapshot given: generating the small sample in %s", sample)
        generate(sample, seed=settings.snapshot.sample_seed)
    return load_snapshot(sample)


def create_app(settings: Settings | None = None, *, snapshot=None) -> FastAPI:
    """The API app. `snapshot` (a loaded Snapshot) overrides `settings.snapshot.path` (tests)."""
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        snap = snapshot if snapshot is not None else load_or_generate_snapshot(settings)
        store = open_store(settings.store.url, pg_schema=settings.store.pg_schema)
        preset = set(vars(app.state).get("_state", {}))
        try:
            svc = OrderService(snap, store, settings, metrics=app.state.metrics, chooser=location_chooser(settings))
            _warm_up(svc)
            app.state.service = svc
            app.state.live = svc.attach_live()  # zero-downtime refresh: LiveSupply.refresh(dir) swaps the pair
            app.state.live.prepare = prepare_models
            watcher = None
            if settings.snapshot.watch is not None:
                from supplydata.watch import SnapshotWatcher

                watcher = SnapshotWatcher(app.state.live, settings.snapshot.watch, interval_s=settings.snapshot.watch_interval_s).start()
            try:
                yield
            finally:
                if watcher is not None:
                    watcher.stop()
        finally:
            # forget what was built over this service (e.g. a monitor cached by a package router)
            for name in set(vars(app.state).get("_state", {})) - preset - {"settings", "metrics"}:
                obj = getattr(app.state, name)
                if isinstance(obj, OrderService):
                    obj.close()  # writes what is queued
                delattr(app.state, name)
            store.close()

    extra: dict[str, Any] = {}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters and not settings.api.telemetry:
        # FastAPI's native OpenTelemetry costs about 0.2 ms per request; off unless asked for
        extra["telemetry"] = {"tracing": False, "metrics": False, "logs": False}
    app = FastAPI(
        title="promessa",
        version="0.1.0",
        summary="Order capture, promising and fulfillment over a durable order book",
        lifespan=lifespan,
        **extra,
    )
    from orderbook.metrics import Metrics

    app.state.settings = settings
    app.state.metrics = Metrics()
    for r in (availability, orders, imports, ops):
        app.include_router(r)
    for r in _package_routers():
        app.include_router(r)
    _install_handlers(app)
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_body_bytes)
    return app


#: Routers other packages contribute ("module:attribute"); mounted when the module exists. They
#: reach the order service through ``request.app.state.service``.
PACKAGE_ROUTERS = (
    "monitoring.api:router",   # jeopardy, exceptions, reports, planner console
    "scenarios.api:router",    # what-if, backlog rescheduling
    "supplydata.api:router",   # snapshot status and refresh
)


def _package_routers() -> list[APIRouter]:
    import importlib

    out = []
    for spec in PACKAGE_ROUTERS:
        module, _, attr = spec.partition(":")
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name in (module, module.rsplit(".", 1)[0]):
                continue  # that package has no API (yet)
            raise
        out.append(getattr(mod, attr))
    return out


def location_chooser(settings: Settings):
    """The node for lines that name none: real-time sourcing unless configured otherwise."""
    if settings.orders.location_choice == "sourcing":
        try:
            from sourcing.chooser import SourcingChooser
        except ModuleNotFoundError:
            return None
        return SourcingChooser(objective=settings.orders.sourcing_objective)
    return None  # the order book's zone chooser


def prepare_models(snap) -> None:
    """Build what promising derives from a snapshot before it serves (run on refresh too)."""
    import importlib

    for module, fn in (("allocation.model", "model_for"), ("promising.ctp", "ctp_model"),
                       ("sourcing.network", "network_for")):
        try:
            getattr(importlib.import_module(module), fn)(snap)
        except ModuleNotFoundError:
            continue
        except Exception:  # noqa: BLE001 - a model that cannot be built is reported when used
            log.exception("could not prepare %s for snapshot %s", module, snap.version)


def _warm_up(svc: OrderService) -> None:
    """Compile every kernel a request may reach before the first request arrives: inquiry,
    commit and release, the shortfall paths (a quantity no one has) and the demand-class path,
    on a throwaway copy of the state."""
    from promising import Policy, Request as PRequest, promise, unreserve

    snap = svc.snap
    if not snap.n_il:
        return
    state = svc.state.copy()
    pairs = [snap.il_name(0)]
    for table in ("bom", "allocation"):  # item-locations that capable-to-promise and allocation answer for
        df = snap.tables.get(table)
        if df is not None and df.height:
            pairs.append((df["item"][0], df["location"][0]))
    classes = [None, *sorted(svc.demand_classes or ())[:1]]
    for item, loc in pairs:
        for dc in classes:
            for qty in (1.0, 1e9):
                for pol in (Policy(), Policy(allow_split=True, allow_partial=True)):
                    try:
                        p = promise(snap, state, PRequest(item, loc, qty, snap.as_of, pol, dc), commit=True)
                        if p.committed:
                            unreserve(snap, state, p.reservation)
                    except Exception:  # noqa: BLE001 - warm-up must never stop the server
                        log.exception("warm-up promise failed (%s at %s, class %s)", item, loc, dc)
