"""Order-to-cash jeopardy: invoices unpaid past their payment terms and returns authorised but not
received by their due day, on the one business clock.

Monitoring sits beside ``returns`` and below ``ordertocash`` in the import layers, so it does not
read payments, invoices or returns itself: the composition root hands a :class:`Monitor
<monitoring.monitor.Monitor>` a *cash source*, a callable ``source(today) -> list[CashItem]``
(``ordertocash.OrderToCash.cash_items`` in the server, ``ordertocash.jeopardy.open_cash_source``
for the ``promessa jeopardy --cash`` command). This module grades what the source reports with the
same levels as the order jeopardy:

- ``days_late = today - due_date`` (the invoice's due date; a return's ``authorized_on +
  o2c.receive_within_days``). A source reports an item only once it is past due (``days_late >= 1``).
- The level is the highest whose ``min_days_late`` it reaches (``ok`` below the first).
- Reasons: ``unpaid_past_terms`` (the amount is what is still open on the invoice),
  ``return_not_received`` (the amount is what the units still expected would credit, net + tax,
  at the invoice line's amounts).

The wall clock is never read: ``today`` is the business day the caller resolved.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from monitoring.config import MonitoringConfig
from promessa.money import Money

CASH_REASONS = {
    "unpaid_past_terms": "invoice not paid by its due date (payment terms)",
    "return_not_received": "return authorised but its goods not received by the due day",
}


@dataclasses.dataclass(frozen=True, slots=True)
class CashItem:
    """One order-to-cash item past its due day, as a source reports it.

    ``kind``: ``invoice`` or ``return``; ``ref``: the invoice number or the return id; ``amount``:
    what is at stake (open on the invoice, or to be credited for the units still expected)."""

    kind: str
    reason: str
    order_id: str
    customer: str
    ref: str
    due_date: dt.date
    amount: Money
    detail: str = ""


#: A cash source: the items past their due day on a business day.
CashSource = Callable[[dt.date], list[CashItem]]


def cash_jeopardy(items: list[CashItem], config: MonitoringConfig, *, today: dt.date) -> list[dict]:
    """One row per item: days late (``today - due_date``), level, level rank and reason text; worst first
    (level, days late, then order and ref). Items not yet late (a source may report them) are left out."""
    names = config.level_names
    out = []
    for it in items:
        days = (today - it.due_date).days
        if days < 1:
            continue
        rank = 0
        for k, lv in enumerate(config.levels, start=1):
            if days >= lv.min_days_late:
                rank = k
        out.append({"kind": it.kind, "reason": it.reason, "reason_text": CASH_REASONS.get(it.reason, it.reason),
                    "order_id": it.order_id, "customer": it.customer, "ref": it.ref, "due_date": it.due_date,
                    "days_late": days, "level": names[rank], "level_rank": rank, "amount": it.amount, "detail": it.detail})
    out.sort(key=lambda r: (-r["level_rank"], -r["days_late"], r["order_id"], r["ref"]))
    return out


def cash_key(row: dict) -> str:
    """The key a cash item's level is recorded under in the event log: ``<kind>:<ref>`` (``invoice:INV2026-000001``)."""
    return f"{row['kind']}:{row['ref']}"


def detect_cash_crossings(rows: list[dict], last: dict[str, dict], config: MonitoringConfig, *, at: dt.datetime,
                          today: dt.date) -> list[dict]:
    """Level crossings of order-to-cash items, like the orders' (``monitoring.jeopardy.detect_crossings``).

    Parameters
    ----------
    rows : the graded items of :func:`cash_jeopardy` on `today`.
    last : the last event recorded per item key (:func:`cash_key`), see ``EventLog.last_cash``.
    config : the levels.
    at, today : the wall-clock stamp of the events and the business day.

    Returns one event (``subject: "cash"``) per item whose level differs from the last one recorded (an item not
    seen before counts as ``ok``), and one back to ``ok`` (reason ``settled``: paid, credited or received) for each
    item recorded above ``ok`` that is no longer past due.
    """
    ok = config.ok_level
    events, seen = [], set()
    for r in rows:
        key = cash_key(r)
        seen.add(key)
        prev = last.get(key, {}).get("to_level", ok)
        if prev not in config.level_names:
            prev = ok
        if r["level"] != prev:
            events.append(_cash_event(r, prev, r["level"], config, at=at, today=today))
    for key, e in sorted(last.items()):
        prev = e.get("to_level", ok)
        if key not in seen and prev != ok and prev in config.level_names:
            events.append(_cash_event({**e, "reason": "settled", "days_late": None}, prev, ok, config, at=at, today=today))
    return events


def _cash_event(r: dict, prev: str, new: str, config: MonitoringConfig, *, at: dt.datetime, today: dt.date) -> dict:
    amount = r.get("amount")
    if isinstance(amount, Money):
        amount, currency = str(amount.rounded().amount), amount.currency
    else:
        currency = r.get("currency")
    due = r.get("due_date")
    return {"at": at.isoformat(), "today": today.isoformat(), "subject": "cash", "key": cash_key(r), "kind": r["kind"],
            "ref": r["ref"], "order_id": r["order_id"], "customer": r.get("customer"), "from_level": prev, "to_level": new,
            "direction": "up" if config.rank(new) > config.rank(prev) else "down", "days_late": r.get("days_late"),
            "due_date": due.isoformat() if isinstance(due, dt.date) else due, "amount": amount, "currency": currency,
            "reason": r["reason"]}


__all__ = ["CASH_REASONS", "CashItem", "CashSource", "cash_jeopardy", "cash_key", "detect_cash_crossings"]
