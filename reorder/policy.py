"""Reorder policies and the arithmetic of a reorder decision (plain Python, no order book).

A :class:`Policy` says how one item-location is replenished; :func:`decide` turns a daily demand
history, a lead time and a projected position into a :class:`Decision`:

- demand: ``mean = sum(daily) / n`` and ``sigma`` the sample standard deviation
  ``sqrt(sum((d - mean)^2) / (n - 1))`` of the ``n`` daily totals (days without demand count as 0);
- ``rop`` method: ``z = NormalDist().inv_cdf(service_level)``,
  ``ROP = mean * L + z * sigma * sqrt(L)`` (``L`` the lead time in days) and the order-up-to level
  ``S = ROP + mean * cover_days``;
- ``minmax`` method: ``ROP = min_qty`` and ``S = max_qty``;
- when ``position <= ROP`` (within EPS) the proposed quantity is ``S - position`` rounded up to a
  multiple of ``lot_size``; otherwise nothing is proposed.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any

from promessa.config import EPS, ReorderSettings
from promessa.errors import ValidationError

#: The fields an override may set (besides item and location).
OVERRIDE_FIELDS = ("method", "service_level", "window_days", "cover_days", "lot_size", "lead_time_days", "min_qty", "max_qty")


@dataclasses.dataclass(frozen=True)
class Policy:
    """How one item-location is replenished.

    `lead_time_days` None: the item's own ``lead_time_days`` (snapshot items table). `min_qty` and
    `max_qty` are used by the ``minmax`` method only (both needed there)."""

    method: str = "rop"
    service_level: float = 0.95
    window_days: int = 28
    cover_days: float = 14.0
    lot_size: float = 1.0
    lead_time_days: int | None = None
    min_qty: float | None = None
    max_qty: float | None = None

    @classmethod
    def default(cls, settings: ReorderSettings) -> Policy:
        """The default policy of every item-location (``settings.reorder``)."""
        return cls(method=settings.method, service_level=settings.service_level, window_days=settings.window_days,
                   cover_days=settings.cover_days, lot_size=settings.lot_size)

    def with_override(self, override: dict[str, Any], *, where: str = "policy") -> Policy:
        """This policy with the fields of `override` (checked; a bad value is refused naming ``where.field``)."""
        out = dataclasses.replace(self, **{k: v for k, v in override.items() if k in OVERRIDE_FIELDS and v is not None})
        out.check(where)
        return out

    def check(self, where: str = "policy") -> None:
        """Refuse a policy that cannot be used, naming the field and the value."""
        if self.method not in ("rop", "minmax"):
            raise ValidationError("must be rop or minmax", field=f"{where}.method", value=self.method)
        if not (0.5 <= self.service_level < 1.0):
            raise ValidationError("must be at least 0.5 and below 1", field=f"{where}.service_level", value=self.service_level)
        if not (2 <= self.window_days <= 3650):
            raise ValidationError("must be 2..3650 days", field=f"{where}.window_days", value=self.window_days)
        for name in ("cover_days", "min_qty", "max_qty"):
            v = getattr(self, name)
            if v is not None and (not math.isfinite(v) or v < 0):
                raise ValidationError("must be a finite number >= 0", field=f"{where}.{name}", value=v)
        if not (math.isfinite(self.lot_size) and self.lot_size > 0):
            raise ValidationError("must be a finite number > 0", field=f"{where}.lot_size", value=self.lot_size)
        if self.lead_time_days is not None and self.lead_time_days < 0:
            raise ValidationError("must be >= 0", field=f"{where}.lead_time_days", value=self.lead_time_days)
        if self.method == "minmax":
            if self.min_qty is None or self.max_qty is None:
                missing = "min_qty" if self.min_qty is None else "max_qty"
                raise ValidationError("the minmax method needs min_qty and max_qty", field=f"{where}.{missing}", value=None)
            if self.max_qty < self.min_qty:
                raise ValidationError(f"must be at least min_qty ({self.min_qty:g})", field=f"{where}.max_qty",
                                      value=self.max_qty)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Decision:
    """What the policy says for one item-location: the figures and the proposed quantity (0: none)."""

    mean: float
    sigma: float
    z: float | None
    reorder_point: float
    order_up_to: float
    position: float
    qty: float


def demand_stats(daily: Sequence[float]) -> tuple[float, float]:
    """(mean, sample standard deviation) of daily demand totals; sigma is 0 for fewer than two days."""
    n = len(daily)
    if n == 0:
        return 0.0, 0.0
    mean = math.fsum(daily) / n
    if n < 2:
        return mean, 0.0
    return mean, math.sqrt(math.fsum((d - mean) ** 2 for d in daily) / (n - 1))


def z_value(service_level: float) -> float:
    """The standard normal quantile of a cycle service level (0.95 -> 1.6449)."""
    return NormalDist().inv_cdf(service_level)


def round_up(qty: float, lot: float) -> float:
    """`qty` rounded up to a multiple of `lot` (a quantity within EPS of a multiple stays)."""
    if qty <= EPS:
        return 0.0
    return math.ceil(qty / lot - 1e-9) * lot


def decide(policy: Policy, daily: Sequence[float], lead_time_days: int, position: float) -> Decision:
    """The reorder decision of `policy` for a daily demand history, a lead time in days and the
    projected position at the end of the lead time (see the module docstring for the formulas)."""
    mean, sigma = demand_stats(daily)
    if policy.method == "minmax":
        z, rop, top = None, float(policy.min_qty), float(policy.max_qty)
    else:
        z = z_value(policy.service_level)
        rop = mean * lead_time_days + z * sigma * math.sqrt(lead_time_days)
        top = rop + mean * policy.cover_days
    qty = round_up(top - position, policy.lot_size) if position <= rop + EPS else 0.0
    return Decision(mean, sigma, z, rop, top, position, qty)


def read_overrides(path: str | Path) -> list[dict[str, Any]]:
    """Policy overrides from a file: CSV (a header row), JSON or YAML (a list of objects, or ``{"policies": [...]}``).
    Each row names ``item`` and ``location`` and any of :data:`OVERRIDE_FIELDS`; empty cells are left at the default."""
    p = Path(path)
    if not p.exists():
        raise ValidationError("reorder policies file not found", field="reorder.policies_file", value=str(p))
    text = p.read_text()
    if p.suffix.lower() == ".csv":
        import csv
        import io

        rows: list[dict[str, Any]] = [{k: (v if v != "" else None) for k, v in r.items()} for r in csv.DictReader(io.StringIO(text))]
    elif p.suffix.lower() in (".yaml", ".yml"):
        import yaml

        rows = yaml.safe_load(text) or []
    else:
        rows = json.loads(text)
    if isinstance(rows, dict):
        rows = rows.get("policies", [])
    return [coerce_override(r, where=f"{p.name}[{i}]") for i, r in enumerate(rows)]


_TYPES = {"method": str, "service_level": float, "window_days": int, "cover_days": float, "lot_size": float,
          "lead_time_days": int, "min_qty": float, "max_qty": float}


def coerce_override(row: Any, *, where: str) -> dict[str, Any]:
    """One override row as a dict with typed values (item, location and the override fields)."""
    if not isinstance(row, dict):
        raise ValidationError("each policy is an object with item and location", field=where, value=str(row)[:80])
    out: dict[str, Any] = {}
    for k in ("item", "location"):
        if not row.get(k):
            raise ValidationError("required", field=f"{where}.{k}", value=row.get(k))
        out[k] = str(row[k])
    unknown = sorted(set(row) - {"item", "location", *OVERRIDE_FIELDS})
    if unknown:
        raise ValidationError(f"unknown field (known: {', '.join(OVERRIDE_FIELDS)})", field=f"{where}.{unknown[0]}",
                              value=row[unknown[0]])
    for k in OVERRIDE_FIELDS:
        v = row.get(k)
        if v is None:
            continue
        try:
            out[k] = _TYPES[k](v) if k != "window_days" and k != "lead_time_days" else _int(v)
        except (TypeError, ValueError):
            raise ValidationError("not a valid value", field=f"{where}.{k}", value=v) from None
    return out


def _int(v: Any) -> int:
    f = float(v)
    if not f.is_integer():
        raise ValueError(v)
    return int(f)


def policy_for(default: Policy, overrides: Iterable[dict[str, Any]], item: str, location: str) -> Policy:
    """`default` with every override naming this item and location applied (later ones win)."""
    out = default
    for o in overrides:
        if o["item"] == item and o["location"] == location:
            out = out.with_override(o, where=f"policies[{item}@{location}]")
    return out
