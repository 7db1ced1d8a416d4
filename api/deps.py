"""Dependencies shared by every router: who is asking (API keys, roles, one ``require``) and what they reach.

Every endpoint needs a key whose role holds the endpoint's permission (the table below), reads
included. The key comes in ``X-API-Key`` or as ``Authorization: Bearer <key>`` (what Prometheus
sends). Settings hold keys plainly or as ``sha256:<hex>`` (``promessa.config.hash_key``). In demo
mode (loopback only) a request without a key acts as the demo admin. The actor recorded in the
audit trail names the role and a fingerprint of the key (the first 12 hex digits of its SHA-256),
never the key.

Unauthenticated on purpose, and revealing nothing: ``GET /v1/livez`` (``{"status": "ok"}``), the
console's static page, script and stylesheet (the data they load needs a key), ``/docs`` and
``/openapi.json``: see ``PUBLIC_PATHS``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request

from api.docs import DOCS_PATHS
from orderbook.service import OrderService
from promessa.config import Role, Settings
from supplydata.live import LiveSupply


class Permission(StrEnum):
    """What a route needs; each route names exactly one."""

    ORDERS_READ = "orders:read"              # orders, search, audit trail
    ORDERS_WRITE = "orders:write"            # capture, change, cancel
    ORDERS_APPROVE = "orders:approve"        # approve or reject an order on hold
    IMPORTS_WRITE = "imports:write"          # bulk import
    FULFILLMENT_WRITE = "fulfillment:write"  # shipped and delivered events
    SUPPLY_READ = "supply:read"              # availability inquiry, time-phased ATP, snapshot status
    SUPPLY_WRITE = "supply:write"            # supply deltas
    SNAPSHOT_REFRESH = "snapshot:refresh"    # load a new extract
    PLANNING_READ = "planning:read"          # jeopardy, exceptions, reports, console data, jobs
    PLANNING_RUN = "planning:run"            # jeopardy scan, what-if runs, reschedule simulations
    BACKLOG_APPLY = "backlog:apply"          # reschedule the backlog for real
    OPS_READ = "ops:read"                    # health, metrics, commitment journal, commitments
    CUSTOMERS_READ = "customers:read"        # the customer master
    CUSTOMERS_WRITE = "customers:write"      # create, change, import customers
    PRICING_READ = "pricing:read"            # price lists, rules, tax rates, assignments, price quotes, catalogue
    PRICING_WRITE = "pricing:write"          # post price lists, rules, tax rates, assignments
    CATALOGUE_WRITE = "catalogue:write"      # new items, price changes, item attributes
    PAYMENTS_WRITE = "payments:write"        # pay an order, capture, refund, void, confirm a transfer
    INVOICES_READ = "invoices:read"          # invoices and credit notes, customer statements
    RETURNS_WRITE = "returns:write"          # authorize, receive, refund a return; promise an exchange
    CHANNEL_READ = "channel:read"            # supplier programs, accruals, claims, reports, aging
    CHANNEL_WRITE = "channel:write"          # define programs, create claims, move and settle them
    PROCESSES_READ = "processes:read"        # process definitions, an order's processes and message log, documents (audited)
    PROCESSES_DEPLOY = "processes:deploy"    # deploy a new version of a process definition
    PROCESSES_OPERATE = "processes:operate"  # complete manual steps, attach documents
    CONFIGURATOR_READ = "configurator:read"  # configuration models; sessions: choose, explain, complete, price, promise (no commitment)
    CONFIGURATOR_WRITE = "configurator:write"  # post a configuration model version
    REORDER_READ = "reorder:read"            # reorder policies, report, proposals
    REORDER_WRITE = "reorder:write"          # post policy overrides; propose, edit, reject, release purchases
    RESERVATIONS_WRITE = "reservations:write"  # temporary reservations (holds): create, extend, release, convert to an order


P = Permission
_READS = frozenset({P.CUSTOMERS_READ, P.PRICING_READ, P.ORDERS_READ, P.SUPPLY_READ, P.PLANNING_READ, P.OPS_READ, P.INVOICES_READ, P.CHANNEL_READ})

#: The permission table: what each role may do.
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: _READS,
    Role.ORDER_CAPTURE: frozenset({P.CUSTOMERS_READ, P.CUSTOMERS_WRITE, P.PRICING_READ,
                                   P.ORDERS_READ, P.SUPPLY_READ, P.ORDERS_WRITE, P.IMPORTS_WRITE, P.PAYMENTS_WRITE,
                                   P.INVOICES_READ, P.RETURNS_WRITE}),
    Role.FULFILLMENT: frozenset({P.ORDERS_READ, P.FULFILLMENT_WRITE, P.RETURNS_WRITE}),
    Role.PLANNER: _READS | {P.CUSTOMERS_WRITE, P.PRICING_WRITE, P.CATALOGUE_WRITE,
                            P.ORDERS_WRITE, P.IMPORTS_WRITE, P.ORDERS_APPROVE, P.FULFILLMENT_WRITE, P.SUPPLY_WRITE,
                            P.PLANNING_RUN, P.BACKLOG_APPLY, P.PAYMENTS_WRITE, P.RETURNS_WRITE, P.CHANNEL_WRITE},
    Role.ADMIN: frozenset(Permission),
}

# processes: every role reads them; fulfilment systems, planners and admins operate steps; planners and admins deploy
for _role, _extra in {Role.VIEWER: {P.PROCESSES_READ}, Role.ORDER_CAPTURE: {P.PROCESSES_READ},
                      Role.FULFILLMENT: {P.PROCESSES_READ, P.PROCESSES_OPERATE},
                      Role.PLANNER: {P.PROCESSES_READ, P.PROCESSES_OPERATE, P.PROCESSES_DEPLOY}}.items():
    PERMISSIONS[_role] = PERMISSIONS[_role] | _extra

# configurator: whoever reads or captures orders configures products; planners and admins post model versions
for _role, _extra in {Role.VIEWER: {P.CONFIGURATOR_READ}, Role.ORDER_CAPTURE: {P.CONFIGURATOR_READ},
                      Role.PLANNER: {P.CONFIGURATOR_READ, P.CONFIGURATOR_WRITE}}.items():
    PERMISSIONS[_role] = PERMISSIONS[_role] | _extra

# reorder: viewers and planners read the policies, report and proposals; planners and admins propose and release
for _role, _extra in {Role.VIEWER: {P.REORDER_READ}, Role.PLANNER: {P.REORDER_READ, P.REORDER_WRITE}}.items():
    PERMISSIONS[_role] = PERMISSIONS[_role] | _extra
# temporary reservations: whoever captures orders holds stock for carts and quotes (reads are orders:read)
for _role in (Role.ORDER_CAPTURE, Role.PLANNER):
    PERMISSIONS[_role] = PERMISSIONS[_role] | {P.RESERVATIONS_WRITE}

#: Paths answered without a key (they reveal no data); everything else needs one.
PUBLIC_PATHS = frozenset({"/v1/livez", "/v1/console", "/v1/console/console.js", "/v1/console/console.css",
                          *DOCS_PATHS, "/openapi.json",
                          "/v1/payments/webhooks/gateway",
                          "/v1/processes/inbound"})  # authenticated by the provider's signature instead of a key

#: the configuration page (static HTML; the data it loads needs a key, given as #key=... or typed into the page)
PUBLIC_PATHS = PUBLIC_PATHS | {"/v1/configurator/configure"}

DEMO_ACTOR = "demo"

#: How a key is presented, as the OpenAPI document states it (``components.securitySchemes``; every operation whose
#: route depends on `require` lists both: either will do). `require` reads the headers itself (`presented_key`):
#: FastAPI's APIKeyHeader and HTTPBearer as two more dependencies cost about 35 us per request; `secure_openapi`
#: writes the same document they would.
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "APIKeyHeader": {"type": "apiKey", "description": "API key; its role decides what it may do", "in": "header",
                     "name": "X-API-Key"},
    "HTTPBearer": {"type": "http", "description": "the same API key as a bearer token (for scrapers such as Prometheus)",
                   "scheme": "bearer"},
}


def presented_key(request: Request) -> str | None:
    """The key of a request: the X-API-Key header, else an ``Authorization: Bearer`` token; None when neither
    gives a non-empty one (as APIKeyHeader and HTTPBearer with ``auto_error=False`` read them)."""
    key = request.headers.get("x-api-key")
    if key:
        return key
    scheme, _, credentials = (request.headers.get("authorization") or "").partition(" ")
    return credentials if credentials and scheme.lower() == "bearer" else None


def secure_openapi(app: Any) -> None:
    """Make ``app.openapi()`` document the key: `SECURITY_SCHEMES` in its components, and on every operation
    outside `PUBLIC_PATHS` (each depends on `require`: tests/server/test_access.py checks that every route but the
    public ones names a permission) a ``security`` list naming both schemes, as FastAPI writes it for security
    dependencies, so that clients and the docs page see which operations need a key."""
    original = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = original()
        spec.setdefault("components", {})["securitySchemes"] = dict(SECURITY_SCHEMES)
        for path, ops in spec.get("paths", {}).items():
            if path not in PUBLIC_PATHS:
                for op in ops.values():
                    op["security"] = [{name: []} for name in SECURITY_SCHEMES]
        app.openapi_schema = spec
        return spec

    app.openapi = openapi


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who is asking: the actor written to the audit trail (``role:fingerprint``, or ``demo``) and the role."""

    actor: str
    role: Role

    def can(self, permission: Permission) -> bool:
        """True when the role holds `permission`."""
        return permission in PERMISSIONS[self.role]


def fingerprint(key: str) -> str:
    """A short, stable fingerprint of a key (12 hex digits of its SHA-256) for audit trails and logs."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def role_of(settings: Settings, key: str) -> Role | None:
    """The role of a presented key (``ApiSettings.role_of``): looked up plainly, or by its hash when settings
    hold ``sha256:<hex>``; a presented ``sha256:...`` string is never looked up plainly."""
    return settings.api.role_of(key)


def _unauthorized(msg: str) -> HTTPException:
    return HTTPException(401, msg, headers={"WWW-Authenticate": 'Bearer realm="promessa"'})


def forbidden(principal: Principal, permission: Permission) -> HTTPException:
    """The 403 for a role that lacks `permission`."""
    return HTTPException(403, f"role {principal.role} may not do this (needs {permission})")


def require(permission: Permission):
    """A dependency that answers the Principal when the presented key's role holds `permission`.

    401 without a key or with an unknown one (demo mode: no key acts as the demo admin), 403
    when the role lacks the permission."""

    async def dependency(request: Request) -> Principal:
        settings: Settings = request.app.state.settings
        key = presented_key(request)
        if not key:
            if settings.api.demo:
                return Principal(DEMO_ACTOR, Role.ADMIN)
            raise _unauthorized("an API key is required (X-API-Key header or Authorization: Bearer)")
        role = role_of(settings, key)
        if role is None:
            raise _unauthorized("unknown API key")
        principal = Principal(f"{role}:{fingerprint(key)}", role)
        if not principal.can(permission):
            raise forbidden(principal, permission)
        return principal

    dependency.permission = permission  # type: ignore[attr-defined]  # read by tests and the README table
    return dependency


# ------------------------------------------------------------------ named dependencies (one per permission)

OrdersReader = Annotated[Principal, Depends(require(P.ORDERS_READ))]
OrdersWriter = Annotated[Principal, Depends(require(P.ORDERS_WRITE))]
Approver = Annotated[Principal, Depends(require(P.ORDERS_APPROVE))]
Importer = Annotated[Principal, Depends(require(P.IMPORTS_WRITE))]
FulfillmentWriter = Annotated[Principal, Depends(require(P.FULFILLMENT_WRITE))]
SupplyReader = Annotated[Principal, Depends(require(P.SUPPLY_READ))]
SupplyWriter = Annotated[Principal, Depends(require(P.SUPPLY_WRITE))]
SnapshotRefresher = Annotated[Principal, Depends(require(P.SNAPSHOT_REFRESH))]
PlanningReader = Annotated[Principal, Depends(require(P.PLANNING_READ))]
PlanningRunner = Annotated[Principal, Depends(require(P.PLANNING_RUN))]
OpsReader = Annotated[Principal, Depends(require(P.OPS_READ))]
CustomersReader = Annotated[Principal, Depends(require(P.CUSTOMERS_READ))]
CustomersWriter = Annotated[Principal, Depends(require(P.CUSTOMERS_WRITE))]
PricingReader = Annotated[Principal, Depends(require(P.PRICING_READ))]
PricingWriter = Annotated[Principal, Depends(require(P.PRICING_WRITE))]
CatalogueWriter = Annotated[Principal, Depends(require(P.CATALOGUE_WRITE))]
PaymentsWriter = Annotated[Principal, Depends(require(P.PAYMENTS_WRITE))]
InvoicesReader = Annotated[Principal, Depends(require(P.INVOICES_READ))]
ReturnsWriter = Annotated[Principal, Depends(require(P.RETURNS_WRITE))]
ChannelReader = Annotated[Principal, Depends(require(P.CHANNEL_READ))]
ChannelWriter = Annotated[Principal, Depends(require(P.CHANNEL_WRITE))]
ProcessesReader = Annotated[Principal, Depends(require(P.PROCESSES_READ))]
ProcessesDeployer = Annotated[Principal, Depends(require(P.PROCESSES_DEPLOY))]
ProcessesOperator = Annotated[Principal, Depends(require(P.PROCESSES_OPERATE))]
ConfiguratorReader = Annotated[Principal, Depends(require(P.CONFIGURATOR_READ))]
ConfiguratorWriter = Annotated[Principal, Depends(require(P.CONFIGURATOR_WRITE))]
ReorderReader = Annotated[Principal, Depends(require(P.REORDER_READ))]
ReorderWriter = Annotated[Principal, Depends(require(P.REORDER_WRITE))]
ReservationsWriter = Annotated[Principal, Depends(require(P.RESERVATIONS_WRITE))]


# ------------------------------------------------------------------ what the routes reach


def _engine(request: Request):
    engine = getattr(request.app.state, "engine", None)
    if engine is None:
        raise HTTPException(503, "promessa is not ready (the engine is not open)")
    return engine


async def get_service(request: Request):
    """The order service of the running engine (503 before the engine is open)."""
    return _engine(request).service


async def get_live(request: Request):
    """The live (double-buffered) supply pair of the running engine."""
    return _engine(request).live


async def get_o2c(request: Request):
    """The order-to-cash hub of the running engine (payments, invoices, returns, channel; 503 when it is off)."""
    hub = getattr(_engine(request), "o2c", None)
    if hub is None:
        raise HTTPException(503, "order to cash is not enabled (settings o2c.enabled)")
    return hub


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


ServiceDep = Annotated[OrderService, Depends(get_service)]
LiveDep = Annotated[LiveSupply, Depends(get_live)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
O2CDep = Annotated[Any, Depends(get_o2c)]


async def get_orchestration(request: Request):
    """The processes of the running engine (``promessa.wiring.Orchestration``; 503 when orchestration.processes is off)."""
    hub = getattr(_engine(request), "orchestration", None)
    if hub is None:
        raise HTTPException(503, "processes are not enabled (settings orchestration.processes)")
    return hub


OrchestrationDep = Annotated[Any, Depends(get_orchestration)]


async def get_reorder(request: Request):
    """The reorder book of the running engine (``reorder.ReorderBook``: policies, report, proposals)."""
    return _engine(request).reorder


ReorderDep = Annotated[Any, Depends(get_reorder)]

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
           description="same key and body: the same answer, applied once; same key, other body: 409"),
]
