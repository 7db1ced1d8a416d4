"""Exceptions on 2026-01-16 over the order book of conftest.py, with hand-computed counts.

On 01-16 (see test_jeopardy.py for the dates): A critical (10 days), B watch (1 day: its PO-1
goods came on 01-15 and it has not shipped), C line 2 critical (10), C line 1 on track, D a
backorder (9 of 10 GADGET have no date), E critical (in transit since 01-06). So the exceptions
are A1, B1, C2, D1, E1: five lines of five orders.

Values (undelivered quantity x price): A 4 x 10 = 40, B 10 x 10 = 100, C2 5 x 1 = 5,
D 10 x 100 = 1000, E 2 x 10 = 20.

Pegs: A, B (6 units), E on OH-1; B (4 units) on PO-1 from supplier ACME; C2 on OH-3; D (its one
promised unit) on OH-2. On-hand stock has no supplier: "(on hand)".
"""

from __future__ import annotations

import datetime as dt

import pytest

from monitoring.config import MonitoringConfig
from monitoring.exceptions import drill_down, exception_lines, summarize
from monitoring.jeopardy import line_jeopardy

TODAY = dt.date(2026, 1, 16)


@pytest.fixture(scope="module")
def exc(frames, catalogue):
    lj = line_jeopardy(frames.lines, catalogue, MonitoringConfig(), today=TODAY)
    return exception_lines(lj, frames, catalogue, MonitoringConfig())


def test_exception_lines(exc, letters):
    got = {(letters[r["order_id"]], r["line"]): (r["kind"], r["level"], r["value"], r["reason"])
           for r in exc.iter_rows(named=True)}
    assert got == {
        ("A", 1): ("at_risk", "critical", 40.0, "not_shipped"),
        ("B", 1): ("at_risk", "watch", 100.0, "not_shipped"),
        ("C", 2): ("at_risk", "critical", 5.0, "not_shipped"),
        ("D", 1): ("backorder", "critical", 1000.0, "backordered_no_date"),
        ("E", 1): ("at_risk", "critical", 20.0, "in_transit_late"),
    }


def _summary(exc, frames, catalogue, by):
    df = summarize(exc, frames, catalogue, MonitoringConfig(), by=by)
    return [(r[by], r["orders"], r["lines"], r["backorder_lines"], r["at_risk_lines"], r["backordered_qty"], r["value"],
             r["worst_level"]) for r in df.iter_rows(named=True)]


def test_by_customer(exc, frames, catalogue):
    assert _summary(exc, frames, catalogue, "customer") == [
        ("C1", 2, 2, 0, 2, 0.0, 45.0, "critical"),     # A and C line 2
        ("C2", 2, 2, 0, 2, 0.0, 120.0, "critical"),    # B and E
        ("C3", 1, 1, 1, 0, 9.0, 1000.0, "critical"),   # D
    ]


def test_by_item_and_node(exc, frames, catalogue):
    items = _summary(exc, frames, catalogue, "item")
    assert [(k, o, n) for k, o, n, *_ in items] == [("WIDGET", 3, 3), ("BOLT", 1, 1), ("GADGET", 1, 1)]
    nodes = _summary(exc, frames, catalogue, "node")
    assert [(k, n, b, r) for k, _, n, b, r, *_ in nodes] == [("DC-EAST", 4, 1, 3), ("ST-WEST", 1, 0, 1)]


def test_by_supplier_and_receipt(exc, frames, catalogue):
    assert _summary(exc, frames, catalogue, "supplier") == [
        ("(on hand)", 5, 5, 1, 4, 9.0, 1165.0, "critical"),
        ("ACME", 1, 1, 0, 1, 0.0, 100.0, "watch"),
    ]
    receipts = _summary(exc, frames, catalogue, "receipt")
    assert [(k, n) for k, _, n, *_ in receipts] == [("OH-1", 3), ("OH-2", 1), ("OH-3", 1), ("PO-1", 1)]


def test_drill_down(exc, frames, catalogue, letters):
    acme = drill_down(exc, frames, catalogue, by="supplier", key="ACME")
    assert [(letters[r["order_id"]], r["line"], r["reason"], r["days_late"]) for r in acme.iter_rows(named=True)] == [
        ("B", 1, "not_shipped", 1)]
    c1 = drill_down(exc, frames, catalogue, by="customer", key="C1")
    assert sorted(letters[o] for o in c1["order_id"]) == ["A", "C"]
    assert drill_down(exc, frames, catalogue, by="node", key="NOWHERE").height == 0
    assert drill_down(exc, frames, catalogue).height == 5


def test_at_risk_level_is_configurable(frames, catalogue, letters):
    # from "critical" only: B (watch) is no longer an exception; D stays (a backorder at any level)
    cfg = MonitoringConfig(at_risk_level="critical")
    lj = line_jeopardy(frames.lines, catalogue, cfg, today=TODAY)
    exc = exception_lines(lj, frames, catalogue, cfg)
    assert sorted(letters[o] for o in exc["order_id"]) == ["A", "C", "D", "E"]
    # on 01-06 nothing is late: only the backorder is left
    lj = line_jeopardy(frames.lines, catalogue, MonitoringConfig(), today=dt.date(2026, 1, 6))
    exc = exception_lines(lj, frames, catalogue, MonitoringConfig())
    assert [(letters[r["order_id"]], r["kind"]) for r in exc.iter_rows(named=True)] == [("D", "backorder")]


def test_unknown_dimension(exc, frames, catalogue):
    from promessa.errors import ValidationError

    with pytest.raises(ValidationError, match="by"):
        summarize(exc, frames, catalogue, MonitoringConfig(), by="planet")
