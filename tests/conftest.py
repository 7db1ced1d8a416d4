"""Shared fixtures: tiny snapshots written to disk and loaded through the real loader."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # makes tests/promessa_testing.py importable

from promessa_testing import AS_OF, PG_URL, day, pg_reachable  # noqa: E402
from supplydata import Snapshot, load_snapshot  # noqa: E402
from supplydata.writer import write_snapshot  # noqa: E402


@pytest.fixture
def make_snapshot(tmp_path) -> Callable[..., Snapshot]:
    """make_snapshot(supply=[(item, location, day, qty), ...], demand=[...], items=[...], ...)

    Items and locations named in supply/demand are added to the catalogue automatically."""
    counter = {"n": 0}

    def _make(*, supply=(), demand=(), items=None, locations=None, horizon=30, fmt="parquet", extra=None,
              lead_times=None, calendars=None, location_calendar=None) -> Snapshot:
        counter["n"] += 1
        sup_rows = [{"item": i, "location": loc, "date": day(d), "qty": float(q), "kind": "onhand" if d <= 0 else "purchase",
                     "ref": f"R{k}"} for k, (i, loc, d, q) in enumerate(supply)]
        dem_rows = [{"item": i, "location": loc, "date": day(d), "qty": float(q), "ref": f"D{k}"} for k, (i, loc, d, q) in enumerate(demand)]
        names = {r["item"] for r in sup_rows + dem_rows} | set(items or ())
        locs = {r["location"] for r in sup_rows + dem_rows} | set(locations or ())
        lead_times = lead_times or {}
        location_calendar = location_calendar or {}
        tables = {
            "items": [{"item": n, "price": 10.0, "cost": 6.0, "category": "c", "lead_time_days": lead_times.get(n)} for n in sorted(names)],
            "locations": [{"location": n, "kind": "dc", "zone": "Z1", "calendar": location_calendar.get(n)} for n in sorted(locs)],
            "supply": sup_rows,
        }
        if dem_rows:
            tables["demand"] = dem_rows
        if calendars:
            tables["calendars"] = [{"calendar": c, "date": day(d), "open": o} for c, rows in calendars.items() for d, o in rows]
        tables.update(extra or {})
        path = write_snapshot(tmp_path / f"snap{counter['n']}", tables, as_of=AS_OF, horizon_days=horizon, fmt=fmt)
        return load_snapshot(path)

    return _make


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def order_book_db(request, tmp_path):
    """(db, pg_schema) of a fresh order book: a SQLite file, or a unique PostgreSQL schema
    dropped afterwards (skipped where no PostgreSQL answers)."""
    import uuid

    if request.param == "sqlite":
        yield str(tmp_path / "orderbook.sqlite"), "unused"
        return
    if not pg_reachable():
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield PG_URL, schema
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
