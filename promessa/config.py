"""One nested settings object for all of promessa, and the constants every layer shares.

This module imports nothing of ours but ``promessa.constants``. Every value can come from the environment with the
``PROMESSA_`` prefix and ``__`` between levels, for example::

    PROMESSA_STORE__URL=postgresql://user@host/db
    PROMESSA_API__KEYS='{"k1": "admin", "sha256:9f86d0...": "viewer"}'
    PROMESSA_SNAPSHOT__PATH=var/net
    PROMESSA_CLOCK__BUSINESS_DATE=2026-01-05

Groups: ``snapshot`` (where supply comes from), ``supply`` (its form in memory: dense or compact), ``store`` (the durable order book), ``api``
(server, keys, limits), ``orders`` (approval and node choice), ``pricing`` (rules, customers,
screening lists, price freeze), ``clock`` (the one business
clock), ``reservations`` (temporary holds: time to live, expiry sweep), ``kernels`` (numba switches), ``reorder``
(automatic reorder policies) and ``scenarios`` (where batch rescheduling runs: in-process or on Ray).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The constants every layer shares live in `promessa.constants` (it imports nothing, so the kernels' modules read them
# without importing pydantic); this module re-exports them.
from promessa.constants import EPS, MAX_LINES, MAX_SPLIT_LINES  # noqa: F401

class Role(StrEnum):
    """What a key may do; see ``api.deps.PERMISSIONS`` for the permissions of each."""

    VIEWER = "viewer"              # reads only
    ORDER_CAPTURE = "order_capture"
    FULFILLMENT = "fulfillment"    # warehouse and carrier systems: fulfilment events, reads of orders
    PLANNER = "planner"
    ADMIN = "admin"


def hash_key(key: str) -> str:
    """The form in which an API key may be stored in settings: ``sha256:<hex digest>``."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SnapshotSettings(_Group):
    path: Path | None = Field(None, description="snapshot directory; None generates the small sample")
    sample_dir: Path = Field(Path("var/sample"), description="where the generated sample snapshot is written")
    sample_seed: int = 7
    roots: list[Path] = Field(default_factory=list,
                              description="directories a refresh may read from (the served snapshot's parent is always one)")
    watch: Path | None = Field(None, description="refresh the live snapshot when this directory's meta.json changes")
    watch_interval_s: float = Field(2.0, gt=0, description="how often a watch looks for a new extract")


class SupplySettings(_Group):
    """How the live engine holds supply and commitments (docs/memory.md)."""

    form: Literal["dense", "compact"] = Field(
        "dense", description="dense: a float64 day per item-location over the horizon (every feature); compact: only the "
                             "days with activity (memory follows activity), plain ATP only: inquiries, captures, changes, "
                             "cancellations, supply deltas and refreshes; a snapshot with allocation, bills (CTP) or "
                             "substitutes, and orders.location_choice=sourcing, are refused at start-up, and what-if, "
                             "rescheduling, pegging, the time-phased ATP, commitments and reorder reports per "
                             "request")


class StoreSettings(_Group):
    url: str = Field("var/orderbook.sqlite", description="SQLite file path (embedded default) or postgresql:// URL")
    pg_schema: str = Field("promessa", description="PostgreSQL schema holding the order-book tables")
    group_commit: bool = Field(True, description="write many requests per transaction (one fsync); answers still wait for it")
    write_timeout_s: float = Field(30.0, gt=0, description="longest a request waits for its durable write")
    idempotency_ttl_days: float | None = Field(30.0, gt=0, description="keys older than this are forgotten at start-up (None: never)")


class ApiSettings(_Group):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    keys: dict[str, Role] = Field(default_factory=dict,
                                  description="API key (plain, or 'sha256:<hex>' of the key) -> role")
    demo: bool = Field(False, description="demo mode: loopback only; requests without a key act as the demo admin")
    telemetry: bool = Field(False, description="FastAPI's native OpenTelemetry; costs ~0.2 ms/request")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="largest request body accepted")
    max_lines: int = Field(100, ge=1, description="most lines in one order or inquiry")
    max_import_rows: int = Field(10_000, ge=1)
    max_search_limit: int = Field(1000, ge=1)

    def role_of(self, key: str) -> Role | None:
        """The role of a presented key, whether settings hold it plainly or as a hash. A stored hash is
        never itself a key (a presented ``sha256:...`` string is only ever hashed)."""
        role = None if key.startswith("sha256:") else self.keys.get(key)
        return role if role is not None else self.keys.get(hash_key(key))


class OrderSettings(_Group):
    approval_value_threshold: Decimal | None = Field(
        Decimal(50_000), description="hold orders whose priced net value exceeds this amount, in `pricing.currency` (None: off)")
    approval_thresholds: dict[str, Decimal] = Field(
        default_factory=dict, description="per-currency thresholds (ISO 4217 code -> amount) for orders priced in "
                                          "another currency than `pricing.currency`; a currency without one: no value hold")
    approval_on_price_override: bool = Field(True, description="hold orders with a manual price override")
    price_tolerance: float = 1e-6
    location_choice: str = Field("sourcing", pattern="^(sourcing|zone)$",
                                 description="sourcing: real-time sourcing (rules, lanes, calendars); zone: ranked rules only")
    sourcing_objective: str = Field("earliest", pattern="^(earliest|cheapest|profit|fewest_shipments)$")


class PricingSettings(_Group):
    currency: str = Field("EUR", pattern="^[A-Z]{3}$", description="the catalogue's currency (its prices, the approval threshold)")
    rules_dir: Path | None = Field(None, description="price lists, rules, tax rates and assignments (pricing.load_book); "
                                                     "None: catalogue prices only, and no tax unless tax rates are posted")
    customers: Path | None = Field(None, description="customer master imported at start-up (.csv or .json); with neither "
                                                     "this nor a customer posted through the API there is no customer check")
    denied_parties: Path | None = Field(None, description="denied-party list (CSV) screened at capture")
    embargoes: Path | None = Field(None, description="embargoed destinations (CSV) screened at capture")
    screening_threshold: float = Field(90.0, ge=0, le=100, description="fuzzy name score from which a denied party is a hit")
    freeze: str = Field("confirm", pattern="^(confirm|never)$",
                        description="confirm: once an order is confirmed its lines keep their price, and changed or new "
                                    "lines are priced on the day it was first priced; never: every change re-prices the "
                                    "whole order on the business day")
    default_country: str | None = Field(None, pattern="^[A-Z]{2}$",
                                        description="ship-to country for tax when neither the order nor the customer gives one")


class ClockSettings(_Group):
    business_date: dt.date | None = Field(
        None, description="the business day for jeopardy, reports, holds and expiries; None: the snapshot's as_of day")


class ReservationSettings(_Group):
    """Temporary reservations (holds) of carts and quotes (``orderbook.reservations``): how long a hold may live and
    how often the server looks for expired ones. A hold's time to live is operational time, kept on the wall clock
    (never the business clock)."""

    default_ttl_s: float = Field(900.0, gt=0, description="time to live of a hold created without ttl_s (seconds)")
    max_ttl_s: float = Field(7 * 86400.0, gt=0, description="longest time to live a hold may be created or extended with")
    sweep_interval_s: float = Field(1.0, gt=0, description="how often the server releases holds that expired (at most this "
                                                           "late; expired holds are also released at start-up)")


class KernelSettings(_Group):
    fastmath: bool = Field(False, description="numba fastmath for the kernels (off: results equal the references bit for bit)")
    warm_up_processes: int = Field(0, ge=0, description="processes that compile the kernel paths at start-up when numba's "
                                                        "on-disk cache lacks them (0: one per core; 1: this process only)")


class OrderToCashSettings(_Group):
    """Payments, invoices, returns and channel accruals wired to the order book's events (``ordertocash``)."""

    enabled: bool = Field(True, description="run the order-to-cash consumers (payments, invoicing, channel) on order events")
    currency: str = Field("EUR", pattern="^[A-Z]{3}$", description="currency of orders whose lines carry no priced waterfall")
    tax_rate: str = Field("0", pattern=r"^\d+(\.\d+)?$",
                          description="tax rate (a fraction, e.g. 0.20) of lines without a priced waterfall")
    payment_terms_days: int = Field(30, ge=0, description="invoice due date = issue date + this many days")
    capture_rule: str = Field("per_shipped_quantity", pattern="^(per_shipped_quantity|on_shipment|on_order)$",
                              description="when authorized money is captured (payments.CaptureRule)")
    gateway_secret: str | None = Field(None, description="webhook signing secret of the card/wallet gateway (None: a random "
                                                         "one; its webhooks then cannot be verified from outside)")
    invoices_db: str | None = Field(None, description="invoice store: SQLite path or postgresql:// URL (None: invoices.sqlite "
                                                      "beside a SQLite order book; the order book's URL with schema "
                                                      "<pg_schema>_invoicing on PostgreSQL)")
    channel_journal: Path | None = Field(None, description="channel journal (SQLite; None: channel.sqlite beside a SQLite "
                                                           "order book, var/channel.sqlite otherwise)")
    channel_programs: Path | None = Field(None, description="supplier programs loaded at start-up (YAML, JSON or CSV)")
    refund_on_receipt: bool = Field(True, description="credit and refund a return as soon as its goods are received")
    invoice_mode: Literal["per_shipment", "per_order"] = Field(
        "per_shipment", description="one invoice per shipment, or one per order once it is complete (all shipped, or "
                                    "the rest cancelled); per customer or per order through the API")
    invoice_mode_by_customer: dict[str, Literal["per_shipment", "per_order"]] = Field(
        default_factory=dict, description="customer id -> invoicing mode (before invoice_mode; a mode set through the API "
                                          "for the customer or the order comes first)")
    receive_within_days: int = Field(30, ge=1, description="a return authorised this many days ago and not fully received "
                                                           "is in jeopardy from the next day on")
    poll_s: float = Field(0.5, gt=0, description="how often the event dispatcher looks for events nobody announced")
    reconcile_after_s: float = Field(600.0, ge=0, description="a capture or refund pending at a provider this long (wall "
                                                              "clock) is asked about (status) and settled; 0: never")
    reconcile_every_s: float = Field(30.0, gt=0, description="how often pending operations are checked for reconciliation")


class EmailRule(_Group):
    """E-mail on chosen triggers (an order event kind such as ``shipped``, an inbound event, ``jeopardy``, ``failed``
    or ``completed``) to addresses and/or ``customer`` (the order's e-mail)."""

    on: list[str] = Field(min_length=1)
    to: list[str] = Field(min_length=1)


class OrchestrationSettings(_Group):
    """Processes users define, run on the order book's events, with an outbox to fulfilment and capture systems
    (``orchestration``, wired by ``promessa.wiring``)."""

    processes: bool = Field(True, description="run every order through its process (orchestration) on the order events")
    orch_store: str | None = Field(None, description="orchestration store: SQLite path or postgresql:// URL (schema "
                                                     "<pg_schema>_orchestration); None: orchestration.sqlite beside a SQLite "
                                                     "order book, the order book's own schema on PostgreSQL (orch_* tables)")
    publisher: str = Field("webhook", pattern="^(webhook|nats)$",
                           description="where the outbox goes: signed HTTP webhooks (no broker) or NATS JetStream")
    nats_url: str = Field("nats://127.0.0.1:4222", description="the NATS server (publisher nats; also the inbound stream)")
    nats_stream: str = Field("PROMESSA_OUT", pattern=r"^[A-Za-z0-9_-]+$", description="JetStream stream of the outbox")
    nats_prefix: str = Field("promessa.out", pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$",
                             description="outbox subjects: <prefix>.<system>.<kind>")
    nats_in_stream: str = Field("PROMESSA_IN", pattern=r"^[A-Za-z0-9_-]+$",
                                description="JetStream stream of inbound status updates (publisher nats)")
    nats_in_prefix: str = Field("promessa.in", pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$",
                                description="inbound subjects: <prefix>.<system> (durable consumer promessa-inbox)")
    webhook_targets: dict[str, str] = Field(default_factory=dict,
                                            description="system (wms, billing, carrier, supplier, capture, planner...) -> URL")
    webhook_default_url: str | None = Field(None, description="URL for systems without a target (None: their messages "
                                                              "wait in the outbox, retried with backoff)")
    webhook_secret: str | None = Field(None, description="HMAC-SHA256 key signing outgoing webhooks and checking inbound "
                                                         "status updates (None: a random key per start; then no system "
                                                         "outside can sign an inbound update)")
    smtp_host: str | None = Field(None, description="SMTP server for e-mail notifications (None: no e-mail)")
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_sender: str = Field("promessa@localhost", description="From: of notification e-mails")
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: str | None = None
    email_rules: list[EmailRule] = Field(default_factory=list, description="which events send e-mail to whom")
    tick_s: float = Field(5.0, gt=0, description="how often timers, retries, jeopardy and effects are looked at")
    feed_poll_s: float = Field(0.25, gt=0, description="how often the processes look for new order events (a larger "
                                                      "interval applies more events per transaction)")
    relay_interval_s: float = Field(0.2, gt=0, description="how long the relay waits when the outbox had nothing to send")
    relay_backoff_s: float = Field(1.0, gt=0, description="first retry delay of a message not delivered (doubles, capped)")


class ConfiguratorSettings(_Group):
    """Configure-to-order (``configurator``): where posted model versions are kept, which model files load at
    start-up, and the limits on interactive sessions (UI state in memory, expired by idle time on the wall clock)."""

    models_dir: Path | None = Field(None, description="directory of the model versions posted through the API (one JSON "
                                                      "file each, read back at start-up; None: configurator-models beside "
                                                      "a SQLite order book, var/configurator-models otherwise)")
    model_files: list[Path] = Field(default_factory=list, description="model files (.yaml, .json) loaded at start-up")
    example_models: bool = Field(True, description="also load the packaged example models (configurator/examples: bicycle)")
    max_sessions: int = Field(1000, ge=1, description="most configuration sessions kept at once (least recently used dropped)")
    session_ttl_s: float = Field(3600.0, gt=0, description="a configuration session unused this many seconds expires")


class ReorderSettings(_Group):
    """Automatic reorder (``reorder``): the default policy of every item-location, and a file of overrides."""

    method: str = Field("rop", pattern="^(rop|minmax)$",
                        description="rop: reorder point from demand history, lead time and service level; minmax: the "
                                    "policy's own min and max (needs an override giving them)")
    service_level: float = Field(0.95, ge=0.5, lt=1.0, description="target cycle service level; z = NormalDist().inv_cdf(it)")
    window_days: int = Field(28, ge=2, le=3650, description="demand history: this many days ending on the business day")
    cover_days: float = Field(14.0, ge=0, description="rop: order up to ROP + mean daily demand x this many days")
    lot_size: float = Field(1.0, gt=0, description="a proposed quantity is rounded up to a multiple of this")
    policies_file: Path | None = Field(None, description="per item-location overrides (CSV, JSON or YAML rows: item, "
                                                         "location, and any of method, service_level, window_days, "
                                                         "cover_days, lot_size, lead_time_days, min_qty, max_qty)")


class ScenarioSettings(_Group):
    """Where batch rescheduling runs (``scenarios.scaleout``)."""

    executor: Literal["inprocess", "ray"] = Field(
        "inprocess", description="inprocess: in this process; ray: partitions are Ray tasks (pip install promessa[scale])")
    ray_address: str | None = Field(None, description="a running Ray cluster (e.g. ray://head:10001 or auto); "
                                                      "None starts a local one with `parts` CPUs")
    parts: int = Field(1, ge=1, le=4096, description="partitions the backlog's independent clusters are packed into")
    timeout_s: float = Field(3600.0, gt=0, description="longest wait for the Ray tasks of one run")


class Settings(BaseSettings):
    """Everything configurable, in groups. ``Settings()`` reads the environment."""

    model_config = SettingsConfigDict(env_prefix="PROMESSA_", env_nested_delimiter="__", extra="ignore")

    snapshot: SnapshotSettings = Field(default_factory=SnapshotSettings)
    supply: SupplySettings = Field(default_factory=SupplySettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    orders: OrderSettings = Field(default_factory=OrderSettings)
    pricing: PricingSettings = Field(default_factory=PricingSettings)
    clock: ClockSettings = Field(default_factory=ClockSettings)
    reservations: ReservationSettings = Field(default_factory=ReservationSettings)
    kernels: KernelSettings = Field(default_factory=KernelSettings)
    configurator: ConfiguratorSettings = Field(default_factory=ConfiguratorSettings)
    o2c: OrderToCashSettings = Field(default_factory=OrderToCashSettings)
    orchestration: OrchestrationSettings = Field(default_factory=OrchestrationSettings)
    reorder: ReorderSettings = Field(default_factory=ReorderSettings)
    scenarios: ScenarioSettings = Field(default_factory=ScenarioSettings)

    @field_validator("api")
    @classmethod
    def _demo_on_loopback(cls, v: ApiSettings) -> ApiSettings:
        if v.demo and not is_loopback(v.host):
            raise ValueError(f"api.demo=true needs a loopback host, not api.host={v.host!r} "
                             "(hint: give API keys instead of demo mode to listen on other addresses)")
        return v


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _field_groups() -> dict[str, str]:
    out: dict[str, str] = {}
    for group, info in Settings.model_fields.items():
        for name in info.annotation.model_fields:  # type: ignore[union-attr]
            out[name if name not in out else f"{group}.{name}"] = group
    return out


def settings_of(**fields: object) -> Settings:
    """Settings from flat field names (``db`` is ``store.url``; every other name is the field's own name
    in its group, e.g. ``demo``, ``api_keys`` -> ``api.keys``), the environment filling the rest.

    For tests, the CLI and the demo, where naming the group each time says nothing.
    """
    aliases = {"db": ("store", "url"), "snapshot": ("snapshot", "path"), "api_keys": ("api", "keys")}
    groups = _field_groups()
    nested: dict[str, dict[str, object]] = {}
    for name, value in fields.items():
        if name in aliases:
            group, field = aliases[name]
        elif name in groups:
            group, field = groups[name], name
        else:
            raise ValueError(f"settings field {name!r} is unknown (hint: one of {', '.join(sorted({*groups, *aliases}))})")
        nested.setdefault(group, {})[field] = value
    base = Settings()
    data = {g: {**getattr(base, g).model_dump(), **over} for g, over in nested.items()}
    return Settings(**{**base.model_dump(), **data})
