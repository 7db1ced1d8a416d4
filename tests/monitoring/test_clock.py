"""One business clock: jeopardy, exceptions, reports and the CLI run on the snapshot's ``as_of`` day, or on
``Settings().clock.business_date`` when it is set - never on the wall clock.

The story book of conftest.py has its snapshot as of Monday 2026-01-05 (test_jeopardy.py computes the
levels day by day). The orders were imported in the wall-clock present, months after the sample's dates:
on the wall clock every open order would be critical.

On 01-05 (the as_of day) everything runs to plan: A promised 01-06 is expected 01-06 + 1 pick + 1 transit =
01-08 as promised; B (01-15 -> 01-17) and C (C1 01-20 -> 01-24, C2 01-06 -> 01-07) likewise; E shipped on
01-06 is expected 01-07 against 01-08 (one day early); only D, 9 of 10 GADGET without any supply date, is
critical. On 01-12: A 6 days late (warning), C 6 (its line 2), E 4 (in transit since 01-06), B ok, D critical.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from monitoring.config import MonitoringConfig
from monitoring.monitor import Monitor, business_day
from monitoring.reports import Window, report
from promessa.config import settings_of
from promessa.errors import ValidationError

day = dt.date.fromisoformat
ON_AS_OF = {"A": ("ok", 0), "B": ("ok", 0), "C": ("ok", 0), "D": ("critical", None), "E": ("ok", -1)}
ON_0112 = {"A": ("warning", 6), "B": ("ok", 0), "C": ("warning", 6), "D": ("critical", None), "E": ("warning", 4)}


def monitor(book, **kw) -> Monitor:
    return Monitor.of_service(book[0], MonitoringConfig(), **kw)


def levels(mon: Monitor, letters, today=None) -> dict:
    _, orders = mon.jeopardy(today)
    return {letters[r["order_id"]]: (r["level"], r["days_late"]) for r in orders.iter_rows(named=True)}


def test_the_snapshot_day_by_default(book, letters, monkeypatch):
    monkeypatch.delenv("PROMESSA_CLOCK__BUSINESS_DATE", raising=False)
    mon = monitor(book, settings=settings_of(db=book[2]))
    assert dt.date.today() != day("2026-01-05")  # the wall clock is elsewhere
    assert mon.resolve_today() == day("2026-01-05")
    assert levels(mon, letters) == ON_AS_OF
    # exceptions on the same day: only the backorder
    assert [(letters[r["order_id"]], r["kind"]) for r in mon.exceptions().iter_rows(named=True)] == [("D", "backorder")]


def test_a_business_date_in_settings_moves_every_view(book, letters):
    mon = monitor(book, settings=settings_of(db=book[2], business_date=day("2026-01-12")))
    assert mon.resolve_today() == day("2026-01-12")
    assert levels(mon, letters) == ON_0112
    exc = mon.exception_summary(by="customer")
    assert exc.select("customer", "lines", "worst_level").rows() == [  # A, C2 | D | E
        ("C1", 2, "warning"), ("C3", 1, "critical"), ("C2", 1, "warning")]
    # a day given to the call wins over the settings (?today=, --today)
    assert levels(mon, letters, day("2026-01-05")) == ON_AS_OF


def test_the_environment_sets_the_clock(book, letters, monkeypatch):
    """PROMESSA_CLOCK__BUSINESS_DATE=2026-01-13: A and C are 7 days late (critical), E 5 (warning)."""
    monkeypatch.setenv("PROMESSA_CLOCK__BUSINESS_DATE", "2026-01-13")
    mon = Monitor.of_service(book[0], MonitoringConfig(), settings=None)  # Settings() from the environment
    assert levels(mon, letters) == {"A": ("critical", 7), "B": ("ok", 0), "C": ("critical", 7), "D": ("critical", None),
                                    "E": ("warning", 5)}


def test_no_snapshot_and_no_clock_is_an_error(book, monkeypatch):
    monkeypatch.delenv("PROMESSA_CLOCK__BUSINESS_DATE", raising=False)
    mon = Monitor(store=book[0].store, settings=settings_of(db=book[2]))
    with pytest.raises(ValidationError, match="no business day") as err:
        mon.resolve_today()
    assert "PROMESSA_CLOCK__BUSINESS_DATE" in str(err.value)
    with pytest.raises(ValidationError, match="must be a date"):
        business_day(today=dt.datetime(2026, 1, 5, 12))
    # reports need the day only for on_time: without one they still run
    assert mon.report("customers", metric="units")["customer"].to_list() == ["C1", "C2", "C3"]


def test_reports_group_by_the_date_the_planner_picks(frames, catalogue):
    """Trends per requested day: 01-06 A, C1, C2, E, F (16 of 16 units promised; on time: all but C1, promised
    01-20), 01-07 B (promised 01-15: late), 01-10 D (1 of 10 promised). Per promised day: 01-06 A, C2, E, F;
    01-10 D; 01-15 B; 01-20 C1. Per order day (the default): 01-05 A, B; 01-06 C1, C2, D; 01-07 E, F."""
    def trend(field):
        df = report(frames.lines, catalogue, "trends", window=Window(date_field=field))
        return [(r["period"], r["lines"], r["fill_rate"], r["on_time_lines"]) for r in df.iter_rows(named=True)]

    assert trend("requested_date") == [(day("2026-01-06"), 5, 1.0, 4), (day("2026-01-07"), 1, 1.0, 0),
                                       (day("2026-01-10"), 1, 0.1, 0)]
    assert [(p, n) for p, n, _, _ in trend("promised_date")] == [
        (day("2026-01-06"), 4), (day("2026-01-10"), 1), (day("2026-01-15"), 1), (day("2026-01-20"), 1)]
    assert [(p, n) for p, n, _, _ in trend("order_date")] == [
        (day("2026-01-05"), 2), (day("2026-01-06"), 3), (day("2026-01-07"), 2)]
    assert trend("created_at") == trend("order_date")
    # the days report too: revenue per requested day (A 40 + C 405 + E 20 + F 1 on 01-06, B 100, D 1000)
    days = report(frames.lines, catalogue, "days", window=Window(date_field="requested_date"))
    assert days.select("day", "revenue").rows() == [(day("2026-01-10"), 1000.0), (day("2026-01-06"), 466.0),
                                                    (day("2026-01-07"), 100.0)]
    # weekly on requested dates: 01-06, 01-07 and 01-10 are all in the week of Monday 01-05
    weekly = report(frames.lines, catalogue, "trends", period="week", window=Window(date_field="requested_date"))
    assert weekly.select("period", "lines").rows() == [(day("2026-01-05"), 7)]
    with pytest.raises(ValidationError, match="date_field"):
        Window(date_field="shipped_on")


def test_on_time_is_measured_on_the_business_day(frames, catalogue):
    """On 01-12 A and C2 (promised 01-06, requested 01-06) have not shipped: they cannot be done before
    01-12, so they are no longer on time; E and F shipped on 01-06 stay on time. On the as_of day nothing
    changes against the promise alone."""
    def on_time(today):
        df = report(frames.lines, catalogue, "on_time", today=today)
        return df.select("period", "on_time_lines").rows()

    plain = [(day("2026-01-05"), 1), (day("2026-01-06"), 1), (day("2026-01-07"), 2)]
    assert on_time(None) == plain
    assert on_time(day("2026-01-05")) == plain
    assert on_time(day("2026-01-12")) == [(day("2026-01-05"), 0), (day("2026-01-06"), 0), (day("2026-01-07"), 2)]
    assert Window.ending(day("2026-01-12"), days=7) == Window(day("2026-01-06"), day("2026-01-12"))


def test_monitor_reports_follow_the_clock(book):
    mon = monitor(book, settings=settings_of(db=book[2], business_date=day("2026-01-12")))
    assert mon.report("on_time").select("on_time_lines").to_series().to_list() == [0, 0, 2]
    assert mon.report("on_time", today=day("2026-01-05")).select("on_time_lines").to_series().to_list() == [1, 1, 2]


def test_cli_runs_on_the_business_clock(book, mon_snap_dir, letters, capsys, monkeypatch):
    import json

    from promessa.cli import main

    monkeypatch.delenv("PROMESSA_CLOCK__BUSINESS_DATE", raising=False)
    base = ["jeopardy", "--db", book[2], "--snapshot", str(mon_snap_dir)]
    assert main([*base, "--format", "json"]) == 0
    got = {letters[r["order_id"]]: (r["level"], r["days_late"]) for r in json.loads(capsys.readouterr().out)}
    assert got == ON_AS_OF
    assert main([*base]) == 0
    assert "jeopardy as of 2026-01-05 (the snapshot's as_of day): 5 open orders" in capsys.readouterr().out
    monkeypatch.setenv("PROMESSA_CLOCK__BUSINESS_DATE", "2026-01-12")
    assert main([*base]) == 0
    assert "jeopardy as of 2026-01-12 (clock.business_date in settings): 5 open orders" in capsys.readouterr().out
    assert main([*base, "--format", "json"]) == 0
    got = {letters[r["order_id"]]: (r["level"], r["days_late"]) for r in json.loads(capsys.readouterr().out)}
    assert got == ON_0112
    assert main(["report", "trends", "--db", book[2], "--snapshot", str(mon_snap_dir), "--date-field", "requested_date",
                 "--format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["2026-01-06", "2026-01-07", "2026-01-10"]


@pytest.mark.slow
def test_demo_style_book_is_mostly_ok(tmp_path_factory, monkeypatch):
    """The demo's situation: the generated sample (as of 2026-01-05) captured into an order book today.
    On the sample's day the orders are promised for the weeks ahead: most are ok (none late; only
    backorders without supply can be critical). A business day a month later finds the unshipped ones late."""
    import json

    from orderbook.service import OrderService
    from orderbook.store import open_store
    from supplydata import load_snapshot
    from supplydata.generate import generate

    monkeypatch.delenv("PROMESSA_CLOCK__BUSINESS_DATE", raising=False)
    d = tmp_path_factory.mktemp("demo")
    generate(d / "net", seed=7, size="tiny")
    snap = load_snapshot(d / "net")
    db = str(d / "orderbook.sqlite")
    svc = OrderService(snap, open_store(db), settings_of(db=db, approval_value_threshold=None))
    try:
        orders = pl.read_parquet(d / "net" / "orders.parquet")
        cols = ("order", "line", "item", "qty", "requested_date", "customer", "demand_class", "zone", "priority")
        rows = [{k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in r.items() if k in cols}
                for r in orders.iter_rows(named=True)]
        _, body, _ = svc.import_orders("demo", rows, actor="demo")
        assert json.loads(body)["created"] == orders["order"].n_unique()
        mon = Monitor.of_service(svc, MonitoringConfig(), settings=settings_of(db=db))
        assert mon.resolve_today() == snap.as_of == day("2026-01-05")
        _, jo = mon.jeopardy()
        counts = dict(jo.group_by("level").len().iter_rows())
        assert counts.get("ok", 0) >= 0.9 * jo.height
        assert jo.filter(pl.col("level") != "ok")["reason"].is_in(["backordered", "backordered_no_date"]).all()
        _, later = mon.jeopardy(snap.as_of + dt.timedelta(days=30))
        assert 0 < later.filter(pl.col("level") != "ok").height < later.height
    finally:
        svc.store.close()
