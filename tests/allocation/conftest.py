"""Allocation fixtures: snapshots with demand classes and quotas, through the real loader."""

from __future__ import annotations

import pytest
from promessa_testing import day


@pytest.fixture
def alloc_snapshot(make_snapshot):
    """alloc_snapshot(supply=[...], classes=[(name, priority, parent, can_steal)], quotas=[dict(...)], ...)

    A quota dict has demand_class, qty (default 0), day (default 0), item/location (default A/DC1)
    and optional pct, protect_qty, protect_until (a day number)."""

    def _make(*, supply=(), demand=(), classes=(), quotas=(), demand_classes_of=None, **kw):
        extra = dict(kw.pop("extra", {}) or {})
        extra["demand_classes"] = [
            {"demand_class": n, "priority": p, "parent": par, "can_steal_lower": s} for n, p, par, s in classes
        ]
        rows = []
        for q in quotas:
            r = {"item": q.get("item", "A"), "location": q.get("location", "DC1"), "demand_class": q["demand_class"],
                 "date": day(q.get("day", 0)), "qty": float(q.get("qty", 0.0))}
            for c in ("pct", "protect_qty"):
                r[c] = float(q[c]) if c in q else None
            r["protect_until"] = day(q["protect_until"]) if "protect_until" in q else None
            rows.append(r)
        if rows:
            extra["allocation"] = rows
        snap = make_snapshot(supply=supply, demand=demand, extra=extra, **kw)
        return snap

    return _make
