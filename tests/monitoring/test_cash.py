"""Order-to-cash jeopardy grading (monitoring.cash): days late = today - due date, the jeopardy levels
(watch >= 1, warning >= 3, critical >= 7 by default), worst first; items not yet late are left out."""

from __future__ import annotations

import datetime as dt

from monitoring.cash import CashItem, cash_jeopardy
from monitoring.config import MonitoringConfig
from promessa.money import Money

D = dt.date


def _item(ref, due, amount="10.00", kind="invoice", reason="unpaid_past_terms", order="O1"):
    return CashItem(kind, reason, order, "C1", ref, due, Money.of(amount, "EUR"))


def test_levels_and_order_on_the_business_day():
    """Today 2026-02-10: due 02-10 (0 days: not late), 02-09 (1: watch), 02-07 (3: warning), 02-03 (7: critical),
    2026-01-01 (40: critical, first)."""
    items = [_item("I0", D(2026, 2, 10)), _item("I1", D(2026, 2, 9)), _item("I3", D(2026, 2, 7)),
             _item("I7", D(2026, 2, 3)), _item("R40", D(2026, 1, 1), "12.00", "return", "return_not_received", "O2")]
    rows = cash_jeopardy(items, MonitoringConfig(), today=D(2026, 2, 10))
    assert [(r["ref"], r["days_late"], r["level"], r["level_rank"]) for r in rows] == [
        ("R40", 40, "critical", 3), ("I7", 7, "critical", 3), ("I3", 3, "warning", 2), ("I1", 1, "watch", 1)]
    assert rows[0]["amount"] == Money.of("12.00", "EUR") and rows[0]["reason_text"].startswith("return authorised")


def test_a_monitor_without_a_cash_source_has_no_cash_jeopardy():
    from monitoring.monitor import Monitor

    mon = Monitor(store=None, today=D(2026, 2, 10))
    assert mon.cash_jeopardy() == []
    mon.cash = lambda today: [_item("I1", today - dt.timedelta(days=2))]
    assert [(r["ref"], r["level"]) for r in mon.cash_jeopardy()] == [("I1", "watch")]
