"""The one place that mounts every router under ``/v1``, the error handlers and the middleware.

``build_app(settings, lifespan=...)`` makes the FastAPI app without opening anything;
``server.create_app`` gives it the lifespan that opens the engine (``promessa.app.Engine.open``)
and calls :func:`attach`.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI

from api import docs, errors
from api.deps import PUBLIC_PATHS, secure_openapi
from api.middleware import BodyLimit, KeyGate, LoopbackOnly, RequestMetrics
from api.routes import catalogue as catalogue_routes
from api.routes import configurator as configurator_routes
from api.routes import customers as customer_routes
from api.routes import pricing as pricing_routes
from api.routes import processes as process_routes
from api.routes import reorder as reorder_routes
from api.routes import (
    analytics,
    availability,
    channel,
    imports,
    invoices,
    margin,
    monitoring,
    ops,
    orders,
    payments,
    reservations,
    returns,
    scenarios,
    supply,
)
from orderbook.metrics import Metrics
from promessa.config import Settings
from scenarios.progress import Jobs

API_PREFIX = "/v1"

#: (router, what it serves), in the order of the OpenAPI document
ROUTERS = (
    (availability.router, "availability inquiry and time-phased ATP"),
    (orders.router, "orders: capture, read, search, audit, change, cancel, approve, reject, fulfillment events"),
    (reservations.router, "temporary reservations (holds) of carts and quotes: create, extend, release, convert, expiry"),
    (imports.router, "bulk import of orders (JSON, CSV)"),
    (customer_routes.router, "customer master: create, change, import, read"),
    (pricing_routes.router, "price lists, rules, tax rates, assignments (versioned, durable) and price quotes"),
    (catalogue_routes.router, "catalogue maintenance: new items, price changes, item attributes"),
    (supply.router, "snapshot status and refresh, supply deltas"),
    (scenarios.router, "backlog rescheduling, what-if scenarios, jobs"),
    (monitoring.router, "jeopardy, exceptions, reports, planner console"),
    (analytics.router, "customer-journey analytics: retention by cohort, repeat purchase, RFM segments, cross-sell"),
    (reorder_routes.router, "automatic reorder: policies, report, proposals reviewed and released as durable supply"),
    (ops.router, "liveness, health, metrics, journal, commitments"),
    (payments.router, "payments of an order: pay, capture, refund, void, transfers, the gateway's signed webhook"),
    (invoices.router, "invoices and credit notes (JSON, HTML, PDF), customer statements with the open balance"),
    (returns.router, "returns: authorize, receive, refund, exchange"),
    (channel.router, "channel revenue: supplier programs, accruals, claims, reports, aging"),
    (margin.router, "an order's margin with expected program income (waterfall, cost, accrued and quoted income)"),
    (process_routes.router, "processes: definitions, an order's process and message log, manual steps, signed inbound updates, documents"),
    (configurator_routes.router, "configure to order: models (versions, durable uploads), sessions, price, promise, the page"),
)


def build_app(settings: Settings, *, lifespan: Any = None) -> FastAPI:
    """The API app over `settings`, every router mounted under ``/v1``; `lifespan` opens what it serves."""
    extra: dict[str, Any] = {}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters and not settings.api.telemetry:
        # FastAPI's native OpenTelemetry costs about 0.2 ms per request; off unless asked for
        extra["telemetry"] = {"tracing": False, "metrics": False, "logs": False}
    app = FastAPI(
        title="promessa",
        version="0.1.0",
        summary="Order capture, promising and fulfillment over a durable order book",
        description="Every endpoint needs an API key (X-API-Key, or Authorization: Bearer) whose role may do it; "
                    "see api/README.md for the roles and the error shape.",
        lifespan=lifespan,
        docs_url=None,  # api.docs serves /docs offline
        redoc_url=None,  # ReDoc comes only from a CDN
        **extra,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.jobs = Jobs()
    app.state.snapshot_roots = ()
    for router, _ in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(ops.root)
    errors.install(app)
    docs.install(app)
    secure_openapi(app)  # the key's security schemes in the OpenAPI document (require reads the headers itself)
    app.add_middleware(KeyGate, settings=settings, public=PUBLIC_PATHS)  # 401 before the body is read
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_body_bytes)
    if settings.api.demo:
        app.add_middleware(LoopbackOnly)  # outermost: a non-loopback client reaches nothing
    return app


def attach(app: FastAPI, engine) -> None:
    """Serve `engine` (a ``promessa.app.Engine``): the routes reach its service and live pair, and a
    refresh may read from the configured snapshot roots and the served snapshot's parent."""
    app.state.engine = engine
    app.state.snapshot_roots = supply.snapshot_roots(app.state.settings.snapshot.roots, engine.live.snapshot.source)


def detach(app: FastAPI) -> None:
    """Forget the engine and what was built over it (the lifespan closes the engine itself)."""
    for name in ("engine", "monitor_auto"):
        if hasattr(app.state, name):
            delattr(app.state, name)
