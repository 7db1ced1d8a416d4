"""Jeopardy stories over the small order book of conftest.py, with hand-computed answers.

Durations (default config): a DC needs 1 day (pick) before shipping, a store 0; delivery is the
lane's transit: DC-EAST->EAST 1, DC-EAST->WEST 3, ST-WEST->WEST 1. Levels: watch >= 1 day late,
warning >= 3, critical >= 7; an unknown expected date is critical.

Promised completion per open line (promised date + steps + transit):
- A  WIDGET@DC-EAST -> EAST, promised 01-06: 01-06 + 1 + 1 = 01-08
- B  WIDGET@DC-EAST -> EAST, promised 01-15 (waits for PO-1): 01-17
- C1 GADGET@DC-EAST -> WEST, promised 01-20 (waits for PO-2): 01-20 + 1 + 3 = 01-24
- C2 BOLT@ST-WEST -> WEST, promised 01-06: 01-06 + 0 + 1 = 01-07
- D  GADGET@DC-EAST 10 wanted, 1 promised, no date for the other 9: expected unknown -> critical
- E  shipped 01-06, promised 01-08; expected max(01-06 + 1, today)
- F  delivered and G cancelled: not open.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import socket
import threading

import polars as pl
import pydantic
import pytest

from monitoring.config import MonitoringConfig
from monitoring.jeopardy import EventLog, detect_crossings, line_jeopardy, order_jeopardy, scan

day = dt.date.fromisoformat


def levels(frames, catalogue, letters, today, config=None):
    lines = line_jeopardy(frames.lines, catalogue, config or MonitoringConfig(), today=day(today))
    orders = order_jeopardy(lines)
    return {letters[r["order_id"]]: (r["level"], r["days_late"]) for r in orders.iter_rows(named=True)}, lines, orders


@pytest.mark.parametrize("today, expected", [
    # on 01-06 everything runs to plan; E arrives a day early (01-07 against 01-08)
    ("2026-01-06", {"A": ("ok", 0), "B": ("ok", 0), "C": ("ok", 0), "D": ("critical", None), "E": ("ok", -1)}),
    # 01-08: A not shipped: 01-08 + 2 = 01-10, 2 days late; C2: 01-08 + 1 = 01-09 against 01-07;
    # E in transit since 01-06, expected max(01-07, 01-08) = 01-08: on time
    ("2026-01-08", {"A": ("watch", 2), "B": ("ok", 0), "C": ("watch", 2), "D": ("critical", None), "E": ("ok", 0)}),
    ("2026-01-12", {"A": ("warning", 6), "B": ("ok", 0), "C": ("warning", 6), "D": ("critical", None),
                    "E": ("warning", 4)}),
    ("2026-01-13", {"A": ("critical", 7), "B": ("ok", 0), "C": ("critical", 7), "D": ("critical", None),
                    "E": ("warning", 5)}),
    # 01-16: B's goods came on 01-15 but it has not shipped: 01-16 + 2 = 01-18 against 01-17
    ("2026-01-16", {"A": ("critical", 10), "B": ("watch", 1), "C": ("critical", 10), "D": ("critical", None),
                    "E": ("critical", 8)}),
])
def test_levels_by_day(frames, catalogue, letters, today, expected):
    got, _, _ = levels(frames, catalogue, letters, today)
    assert got == expected


def test_line_detail_and_order_rollup(frames, catalogue, letters):
    _, lines, orders = levels(frames, catalogue, letters, "2026-01-12")
    by = {(letters[r["order_id"]], r["line"]): r for r in lines.iter_rows(named=True)}
    assert set(by) == {("A", 1), ("B", 1), ("C", 1), ("C", 2), ("D", 1), ("E", 1)}  # F delivered, G cancelled
    a = by[("A", 1)]
    assert (a["promised_completion"], a["expected_completion"], a["reason"]) == (day("2026-01-08"), day("2026-01-14"), "not_shipped")
    c1, c2 = by[("C", 1)], by[("C", 2)]
    assert (c1["promised_completion"], c1["days_late"], c1["level"]) == (day("2026-01-24"), 0, "ok")
    assert (c2["promised_completion"], c2["expected_completion"], c2["days_late"]) == (day("2026-01-07"), day("2026-01-13"), 6)
    d = by[("D", 1)]
    assert (d["backordered_qty"], d["expected_completion"], d["reason"]) == (9.0, None, "backordered_no_date")
    e = by[("E", 1)]
    assert (e["open_qty"], e["expected_completion"], e["reason"]) == (0.0, day("2026-01-12"), "in_transit_late")
    # the order takes its worst line: C is late because of line 2; D (unknown date) sorts first
    c = next(r for r in orders.iter_rows(named=True) if letters[r["order_id"]] == "C")
    assert (c["worst_line"], c["lines"], c["lines_late"], c["expected_completion"]) == (2, 2, 1, day("2026-01-13"))
    assert letters[orders["order_id"][0]] == "D"


def test_step_durations_per_kind_and_lane(frames, catalogue, letters):
    # picking at DCs takes 3 days and the DC-EAST -> EAST lane 5: A promised 01-06 + 3 + 5 = 01-14;
    # on 01-08 it is expected 01-08 + 8 = 01-16: 2 days late. C2 ships from a store: unchanged.
    cfg = MonitoringConfig(steps_by_kind={"dc": {"pick": 3}, "store": {"pick": 0}},
                           lanes=[{"location": "DC-EAST", "zone": "EAST", "deliver": 5}])
    got, lines, _ = levels(frames, catalogue, letters, "2026-01-08", cfg)
    a = lines.filter(lines["order_id"] == next(k for k, v in letters.items() if v == "A")).row(0, named=True)
    assert a["promised_completion"] == day("2026-01-14")
    assert got["A"] == ("watch", 2)
    assert got["C"] == ("watch", 2)
    # with custom levels: late from 2 days is "late", from 5 "very_late"
    cfg = MonitoringConfig(levels=[{"name": "late", "min_days_late": 2}, {"name": "very_late", "min_days_late": 5}],
                           at_risk_level="late")
    got, _, _ = levels(frames, catalogue, letters, "2026-01-12", cfg)
    assert got["A"] == ("very_late", 6) and got["E"] == ("late", 4) and got["D"] == ("very_late", None)


@pytest.mark.parametrize("bad", [
    {"levels": [{"name": "a", "min_days_late": 3}, {"name": "b", "min_days_late": 2}]},
    {"levels": []},
    {"at_risk_level": "nope"},
    {"webhook_url": "ftp://example.org/x"},
    {"steps": {"pick": -1}},
])
def test_config_is_checked(bad):
    with pytest.raises(pydantic.ValidationError):
        MonitoringConfig(**bad)


def test_config_file(tmp_path):
    p = tmp_path / "mon.yaml"
    p.write_text("steps_by_kind:\n  dc: {pick: 2, pack: 1}\nwebhook_url: http://127.0.0.1:9/x\n")
    cfg = MonitoringConfig.load(p)
    assert cfg.steps_for("dc").before_ship == 3 and cfg.steps_for("plant").before_ship == 1
    assert cfg.webhook_url == "http://127.0.0.1:9/x"


# ---------------------------------------------------------------- crossings, event log, webhook


class _Receiver:
    """A loopback HTTP receiver that records the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        bodies = self.bodies = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                n = int(self.headers.get("Content-Length", 0))
                bodies.append(json.loads(self.rfile.read(n)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver():
    r = _Receiver()
    yield r
    r.close()


def test_scan_records_crossings_and_posts_them(frames, catalogue, letters, tmp_path, receiver):
    cfg = MonitoringConfig(event_log=tmp_path / "events.jsonl", webhook_url=receiver.url, webhook_min_level="warning")
    log = EventLog(cfg.event_log)

    def run(today):
        _, _, orders = levels(frames, catalogue, letters, today, cfg)
        res = scan(orders, log, cfg, today=day(today))
        return res, {(letters[e["order_id"]], e["from_level"], e["to_level"], e["direction"]) for e in res.events}

    res, ev = run("2026-01-06")
    assert ev == {("D", "ok", "critical", "up")}
    assert res.webhook["status"] == 204
    assert run("2026-01-06")[1] == set()            # nothing crossed since
    res, ev = run("2026-01-08")
    assert ev == {("A", "ok", "watch", "up"), ("C", "ok", "watch", "up")}
    assert res.webhook is None                       # below the webhook's level: recorded, not posted
    res, ev = run("2026-01-12")
    assert ev == {("A", "watch", "warning", "up"), ("C", "watch", "warning", "up"), ("E", "ok", "warning", "up")}
    res, ev = run("2026-01-08")                      # a replan brings them back down
    assert ev == {("A", "warning", "watch", "down"), ("C", "warning", "watch", "down"), ("E", "warning", "ok", "down")}
    # the receiver got three batches: 01-06, 01-12 and the way down from warning on 01-08
    assert [len(b["events"]) for b in receiver.bodies] == [1, 3, 3]
    assert receiver.bodies[0]["kind"] == "jeopardy.level_crossing"
    assert receiver.bodies[0]["events"][0]["to_level"] == "critical"
    # the log is durable JSONL: a new EventLog over the file sees the last levels
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert len(lines) == 1 + 2 + 3 + 3
    last = {letters[k]: v for k, v in EventLog(tmp_path / "events.jsonl").last_levels().items()}
    assert last == {"A": "watch", "C": "watch", "D": "critical", "E": "ok"}


def test_closed_order_goes_back_to_ok_and_a_dead_webhook_does_not_fail(frames, catalogue, letters):
    _, _, orders = levels(frames, catalogue, letters, "2026-01-06")
    at = dt.datetime(2026, 1, 6, tzinfo=dt.timezone.utc)
    ev = detect_crossings(orders, {"GONE": "warning"}, MonitoringConfig(), at=at, today=day("2026-01-06"))
    gone = [e for e in ev if e["order_id"] == "GONE"]
    assert gone and gone[0]["to_level"] == "ok" and gone[0]["reason"] == "closed" and gone[0]["direction"] == "down"
    # a webhook nobody listens on: the events are still recorded, the failure is reported
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cfg = MonitoringConfig(webhook_url=f"http://127.0.0.1:{port}/hook", webhook_timeout_s=1.0)
    log = EventLog(None)
    res = scan(orders, log, cfg, today=day("2026-01-06"))
    assert len(res.events) == 1 and "error" in res.webhook
    assert log.last_levels() == {res.events[0]["order_id"]: "critical"}


def test_backorders_are_dated_from_current_supply(frames, catalogue, letters, mon_snap):
    """D wants 10 GADGET and got 1; all 5 GADGET are taken (C 4, D 1), so even now there is no date
    for the other 9. Against an empty plan (no commitments) the 9 would still not fit (5 in all).
    A made-up backorder of 25 WIDGET, against an empty plan: 10 on hand + 20 on 01-15 -> 01-15."""
    from monitoring.jeopardy import refresh_backorder_dates

    lines = refresh_backorder_dates(frames.lines, mon_snap, mon_snap.new_state())
    d = lines.filter(lines["order_id"] == next(k for k, v in letters.items() if v == "D"))
    assert d["earliest_full_date"].to_list() == [None]
    b = frames.lines.filter(lines["order_id"] == next(k for k, v in letters.items() if v == "B"))
    made_up = b.with_columns(qty=25.0, promised_qty=0.0, status=pl.lit("backordered"),
                             promised_date=pl.lit(None, pl.Date))
    fresh = refresh_backorder_dates(made_up, mon_snap, mon_snap.new_state())
    assert fresh["earliest_full_date"].to_list() == [day("2026-01-15")]
    # B's line as a backorder now expected 01-15 + 2 = 01-17 against a promise of 01-09 (requested 01-07)
    lj = line_jeopardy(fresh, catalogue, MonitoringConfig(), today=day("2026-01-08"))
    row = lj.row(0, named=True)
    assert (row["promised_completion"], row["expected_completion"], row["days_late"], row["level"], row["reason"]) == (
        day("2026-01-09"), day("2026-01-17"), 8, "critical", "backordered")
    assert refresh_backorder_dates(frames.lines, None, None).equals(frames.lines)
