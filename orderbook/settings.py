"""One settings object for the order book and the API server (pydantic-settings).

Every value can come from the environment with the ``PROMESSA_`` prefix, e.g.
``PROMESSA_DB=postgresql://user@host/db``, ``PROMESSA_API_KEYS='{"k1": "admin"}'``,
``PROMESSA_DEMO=true``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Role(StrEnum):
    ORDER_CAPTURE = "order_capture"
    PLANNER = "planner"
    ADMIN = "admin"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROMESSA_", extra="ignore")

    # storage
    db: str = Field("var/orderbook.sqlite", description="SQLite file path (embedded default) or postgresql:// URL")
    pg_schema: str = Field("promessa", description="PostgreSQL schema holding the order-book tables")

    # supply snapshot
    snapshot: Path | None = Field(None, description="snapshot directory; None generates the small sample")
    sample_dir: Path = Field(Path("var/sample"), description="where the generated sample snapshot is written")
    sample_seed: int = 7

    watch: Path | None = Field(None, description="refresh the live snapshot when this directory's meta.json changes")
    watch_interval_s: float = Field(2.0, gt=0, description="how often --watch looks for a new extract")

    # where a line that names no location ships from
    location_choice: str = Field("sourcing", pattern="^(sourcing|zone)$",
                                 description="sourcing: real-time sourcing (rules, lanes, calendars); zone: ranked rules only")
    sourcing_objective: str = Field("earliest", pattern="^(earliest|cheapest|profit|fewest_shipments)$")

    # access
    api_keys: dict[str, Role] = Field(default_factory=dict, description="API key -> role")
    demo: bool = Field(False, description="explicit demo mode: writes need no API key")

    # approval rules
    approval_value_threshold: float | None = Field(50_000.0, description="hold orders whose value exceeds this (None: off)")
    approval_on_price_override: bool = Field(True, description="hold orders with a manual price override")
    price_tolerance: float = 1e-6

    # durability
    group_commit: bool = Field(True, description="write many requests per transaction (one fsync); answers still wait for it")
    write_timeout_s: float = Field(30.0, gt=0, description="longest a request waits for its durable write")
    idempotency_ttl_days: float | None = Field(30.0, gt=0, description="keys older than this are forgotten at start-up (None: never)")

    # limits
    max_lines: int = Field(100, ge=1, description="most lines in one order or inquiry")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="largest request body accepted")
    max_import_rows: int = Field(10_000, ge=1)
    max_search_limit: int = Field(1000, ge=1)

    # server
    host: str = "127.0.0.1"
    port: int = 8000
    telemetry: bool = Field(False, description="FastAPI's native OpenTelemetry (tracing, metrics, logs); costs ~0.2 ms/request")
