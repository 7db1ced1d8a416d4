"""The order book as frames: declared schemas, what the story's book holds, and the same frames
from PostgreSQL as from SQLite (skipped when no PostgreSQL answers)."""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest

from monitoring.frames import LINES, PEGS, SCHEDULE, from_store

PG_URL = os.environ.get("PROMESSA_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
day = dt.date.fromisoformat


def _by_letter(frames, letters):
    return {(letters[r["order_id"]], r["line"]): r for r in frames.lines.iter_rows(named=True)}


def test_schemas_and_content(frames, letters):
    assert dict(frames.lines.schema) == LINES
    assert dict(frames.schedule.schema) == SCHEDULE
    assert dict(frames.pegs.schema) == PEGS
    assert frames.n_orders == 7 and frames.lines.height == 8
    by = _by_letter(frames, letters)
    b = by[("B", 1)]
    assert (b["status"], b["promised_qty"], b["promised_date"], b["demand_class"], b["order_date"]) == (
        "scheduled", 10.0, day("2026-01-15"), "retail", day("2026-01-05"))
    d = by[("D", 1)]
    assert (d["status"], d["promised_qty"], d["earliest_full_date"]) == ("backordered", 1.0, None)
    f = by[("F", 1)]
    assert (f["status"], f["last_ship_date"], f["last_delivery_date"]) == ("delivered", day("2026-01-06"), day("2026-01-07"))
    assert by[("G", 1)]["status"] == "cancelled"
    pegs = {(letters[r["order_id"]], r["ref"]): r["qty"] for r in frames.pegs.iter_rows(named=True)}
    assert pegs[("B", "OH-1")] == 6.0 and pegs[("B", "PO-1")] == 4.0


def test_order_date_is_the_business_day_not_the_wall_clock(frames, letters):
    """Every order of the story was stamped 2026-11-30 by the wall clock (created_at) but captured on a
    business day in January: the order date is that business day (the day it was priced on)."""
    by = _by_letter(frames, letters)
    assert {r["created_at"].date() for r in by.values()} == {day("2026-11-30")}
    assert {k: r["order_date"].isoformat()[5:] for k, r in sorted(by.items())} == {
        ("A", 1): "01-05", ("B", 1): "01-05", ("C", 1): "01-06", ("C", 2): "01-06", ("D", 1): "01-06",
        ("E", 1): "01-07", ("F", 1): "01-07", ("G", 1): "01-08"}


def test_an_unpriced_order_is_dated_by_its_created_day():
    """An order stored before orders were priced (no totals) has only its created_at: its UTC day."""
    from orderbook.queries import order_date
    from orderbook.records import Line, Order

    o = Order("X", "C1", "scheduled", [Line(1, "WIDGET", 1.0, day("2026-01-06"))],
              created_at=dt.datetime(2026, 1, 5, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2))))
    assert o.totals is None and order_date(o) == day("2026-01-06")


def test_empty_book(tmp_path):
    from orderbook.store import open_store

    store = open_store(str(tmp_path / "empty.sqlite"))
    try:
        fr = from_store(store)
        assert fr.lines.height == 0 and dict(fr.lines.schema) == LINES and fr.n_orders == 0
    finally:
        store.close()


@pytest.mark.postgres
def test_postgresql_gives_the_same_frames(mon_snap, frames, letters):
    pytest.importorskip("psycopg")
    import psycopg

    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except Exception:  # noqa: BLE001
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        svc, ids = _build(PG_URL, mon_snap, schema)
        try:
            pg = from_store(svc.store)
        finally:
            svc.store.close()
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    pg_letters = {v: k for k, v in ids.items()}
    want = _by_letter(frames, letters)
    got = _by_letter(pg, pg_letters)
    drop = ("order_id", "created_at")
    assert {k: {c: v for c, v in r.items() if c not in drop} for k, r in got.items()} == \
        {k: {c: v for c, v in r.items() if c not in drop} for k, r in want.items()}
    assert pg.pegs.height == frames.pegs.height


def _build(url, snap, schema):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name("conftest.py")
    spec = importlib.util.spec_from_file_location("_monitoring_conftest", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.build_book(url, snap, pg_schema=schema)


def test_open_value_is_the_open_part_of_the_priced_net():
    """Rescheduling values a line's open quantity: the whole net while nothing has shipped, else net x open / qty
    rounded half up to the currency's minor unit (100.00 EUR for 3, 1 shipped: 66.67; 1000 JPY: 667)."""
    import types
    from decimal import Decimal

    from orderbook.queries import open_value
    from promessa.money import Money

    def line(net, qty, shipped):
        return types.SimpleNamespace(waterfall=types.SimpleNamespace(net=net), qty=qty, shipped_qty=shipped,
                                     open_qty=qty - shipped)

    eur = Money(Decimal("100.00"), "EUR")
    assert open_value(line(eur, 3.0, 0.0)) == eur
    assert open_value(line(eur, 3.0, 1.0)) == Money(Decimal("66.67"), "EUR")
    assert open_value(line(Money(Decimal("1000"), "JPY"), 3.0, 1.0)) == Money(Decimal("667"), "JPY")
    assert open_value(types.SimpleNamespace(waterfall=None)) is None
