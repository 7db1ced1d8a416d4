"""Monitoring configuration (pydantic): fulfillment step durations, jeopardy levels, alerts, and the
customer-journey analytics (currency, RFM segments, cross-sell thresholds).

The business day is not configured here: it is ``promessa.config.Settings().clock.business_date``,
else the snapshot's ``as_of`` day (see :func:`monitoring.monitor.business_day`).

Every value can come from a JSON or YAML file (``MonitoringConfig.load(path)``) or from the
environment with the ``PROMESSA_MONITORING_`` prefix (nested values as JSON, e.g.
``PROMESSA_MONITORING_WEBHOOK_URL=http://127.0.0.1:9000/hook``).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from promessa.errors import ValidationError

#: The fulfillment steps in the order they happen. ``deliver`` is the lane's transit time
#: unless a lane override or the node kind's own ``deliver`` says otherwise.
STEPS = ("schedule", "pick", "pack", "ship", "deliver")


class StepDurations(BaseModel):
    """Days each fulfillment step takes at one kind of node. ``deliver=None``: the lane's transit days."""

    model_config = ConfigDict(extra="forbid")

    schedule: int = Field(0, ge=0, le=365, description="release to the warehouse after the goods are available")
    pick: int = Field(1, ge=0, le=365)
    pack: int = Field(0, ge=0, le=365)
    ship: int = Field(0, ge=0, le=365, description="loading and hand-over to the carrier")
    deliver: int | None = Field(None, ge=0, le=365, description="None: the lane's transit_days")

    @property
    def before_ship(self) -> int:
        """Days from availability at the node until the goods leave it."""
        return self.schedule + self.pick + self.pack + self.ship


class LaneOverride(BaseModel):
    """Delivery days for one lane (node -> customer zone), overriding the snapshot's transit_days."""

    model_config = ConfigDict(extra="forbid")

    location: str
    zone: str
    deliver: int = Field(ge=0, le=365)


class JeopardyLevel(BaseModel):
    """A line or order is at this level when it is at least `min_days_late` days late."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")
    min_days_late: int = Field(ge=1, le=3650)


def _default_levels() -> list[JeopardyLevel]:
    return [JeopardyLevel(name="watch", min_days_late=1), JeopardyLevel(name="warning", min_days_late=3),
            JeopardyLevel(name="critical", min_days_late=7)]


#: RFM scores run 1..RFM_BINS (quintiles).
RFM_BINS = 5


class ScoreRange(BaseModel):
    """Scores ``lo..hi`` (both included, 1..5)."""

    model_config = ConfigDict(extra="forbid")

    lo: int = Field(1, ge=1, le=RFM_BINS)
    hi: int = Field(RFM_BINS, ge=1, le=RFM_BINS)

    def covers(self, score: int) -> bool:
        return self.lo <= score <= self.hi


class RfmSegment(BaseModel):
    """A named RFM segment: customers whose recency, frequency and monetary scores are all in range."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")
    r: ScoreRange = Field(default_factory=ScoreRange)
    f: ScoreRange = Field(default_factory=ScoreRange)
    m: ScoreRange = Field(default_factory=ScoreRange)
    description: str = ""

    def covers(self, r: int, f: int, m: int) -> bool:
        return self.r.covers(r) and self.f.covers(f) and self.m.covers(m)


def _rng(lo: int, hi: int) -> ScoreRange:
    return ScoreRange(lo=lo, hi=hi)


def _default_segments() -> list[RfmSegment]:
    return [
        RfmSegment(name="champions", r=_rng(4, 5), f=_rng(4, 5), m=_rng(4, 5),
                   description="bought recently, often and for much"),
        RfmSegment(name="loyal", r=_rng(3, 5), f=_rng(4, 5), description="buy often, not long ago"),
        RfmSegment(name="potential_loyalists", r=_rng(4, 5), f=_rng(2, 3), description="recent, a few orders"),
        RfmSegment(name="new_customers", r=_rng(4, 5), f=_rng(1, 1), description="recent first order"),
        RfmSegment(name="need_attention", r=_rng(3, 3), f=_rng(1, 3), description="neither recent nor frequent"),
        RfmSegment(name="at_risk", r=_rng(1, 2), f=_rng(3, 5), description="used to buy often, not lately"),
        RfmSegment(name="hibernating", r=_rng(2, 2), f=_rng(1, 2), description="few orders, some time ago"),
        RfmSegment(name="lost", r=_rng(1, 1), f=_rng(1, 2), description="few orders, long ago"),
    ]


class AnalyticsConfig(BaseModel):
    """Customer-journey analytics: the currency of the book's prices, RFM segments, cross-sell limits."""

    model_config = ConfigDict(extra="forbid")

    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$",
                          description="the ISO 4217 currency of the order lines' prices (one currency per book)")
    segments: list[RfmSegment] = Field(default_factory=_default_segments,
                                       description="RFM segments, first match wins; together they cover every score")
    cross_sell_top: int = Field(5, ge=1, le=100, description="suggestions per item")
    cross_sell_min_orders: int = Field(2, ge=1, description="pairs bought together in fewer orders are left out")

    @model_validator(mode="after")
    def _cover(self) -> AnalyticsConfig:
        names = [s.name for s in self.segments]
        if len(set(names)) != len(names):
            raise ValueError("RFM segment names must be unique")
        for r in range(1, RFM_BINS + 1):
            for f in range(1, RFM_BINS + 1):
                for m in range(1, RFM_BINS + 1):
                    if not any(s.covers(r, f, m) for s in self.segments):
                        raise ValueError(f"no RFM segment covers the scores r={r} f={f} m={m} "
                                         "(hint: end the list with a segment that takes every score)")
        return self


class MonitoringConfig(BaseSettings):
    """Step durations per node kind and lane, jeopardy levels, the event log and the webhook."""

    model_config = SettingsConfigDict(env_prefix="PROMESSA_MONITORING_", extra="forbid")

    steps: StepDurations = Field(default_factory=StepDurations, description="durations at any node kind not listed")
    steps_by_kind: dict[str, StepDurations] = Field(
        default_factory=lambda: {"store": StepDurations(pick=0, pack=0), "plant": StepDurations(pick=1, pack=1, ship=1)},
        description="durations per location kind (dc, store, plant, supplier)")
    lanes: list[LaneOverride] = Field(default_factory=list, description="delivery days per lane, overriding transit_days")
    default_transit_days: int = Field(2, ge=0, le=365, description="delivery days when no lane is known")
    refresh_backorders: bool = Field(True, description="date backorders from the current supply (an ATP inquiry), "
                                     "not only from the promise made at capture")
    ok_level: str = Field("ok", description="name of the level below the first threshold")
    levels: list[JeopardyLevel] = Field(default_factory=_default_levels,
                                        description="ascending thresholds in days late; an unknown date is the top level")
    at_risk_level: str = Field("watch", description="exceptions list lines at this level or above as at risk")
    event_log: Path | None = Field(None, description="JSONL file of level crossings (None: kept in memory)")
    webhook_url: str | None = Field(None, description="POST level crossings here (http or https)")
    webhook_timeout_s: float = Field(2.0, gt=0, le=60)
    webhook_min_level: str | None = Field(None, description="only crossings into this level or above are posted (None: all)")
    analytics: AnalyticsConfig = Field(default_factory=AnalyticsConfig,
                                       description="customer-journey analytics (currency, RFM segments, cross-sell)")

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("the webhook URL must start with http:// or https://")
        return v

    @model_validator(mode="after")
    def _check(self) -> MonitoringConfig:
        days = [lv.min_days_late for lv in self.levels]
        if not days:
            raise ValueError("at least one jeopardy level is needed")
        if days != sorted(set(days)):
            raise ValueError("jeopardy levels must have strictly ascending min_days_late")
        names = self.level_names
        if len(set(names)) != len(names):
            raise ValueError("jeopardy level names must be unique")
        for field in ("at_risk_level", "webhook_min_level"):
            v = getattr(self, field)
            if v is not None and v not in names:
                raise ValueError(f"{field} {v!r} is not a level ({', '.join(names)})")
        return self

    # ---- derived
    @property
    def level_names(self) -> list[str]:
        """Every level, lowest first (the ok level is rank 0)."""
        return [self.ok_level] + [lv.name for lv in self.levels]

    def rank(self, level: str) -> int:
        """The rank of a level name (0 = ok)."""
        return self.level_names.index(level)

    def steps_for(self, kind: str | None) -> StepDurations:
        """The step durations at a node of this kind (the default ``steps`` for kinds not listed)."""
        return self.steps_by_kind.get(kind or "", self.steps)

    @classmethod
    def load(cls, path: str | Path) -> MonitoringConfig:
        """Read a JSON (or, with PyYAML, YAML) file."""
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise ValidationError(f"cannot read the monitoring config: {exc}", field="config", value=str(p)) from None
        if p.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
        return cls.model_validate(data)
