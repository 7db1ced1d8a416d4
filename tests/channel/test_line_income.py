"""`line_income`: an order line's program income, accrued on its shipments and quoted for its open units.

ACME pays on W1 in 2026 a 0.25 allowance per unit (AL1) and a monthly retroactive rebate (VR1): 0-100 units
nothing, from 100 units 0.50 per unit back to the first unit. Order O1 line 1 orders 120 W1; 80 shipped on
2026-01-05 (S1): AL1 accrues 80 x 0.25 = 20.00, VR1 0 (80 units, first tier). The 40 open units quoted on
2026-01-10: AL1 40 x 0.25 = 10.00; VR1 lifts January to 120 units: 40 x 0.50 = 20.00 plus the re-accrual of S1,
80 x 0.50 = 40.00: 60.00. After 10 of S1 come back: AL1 accrued 70 x 0.25 = 17.50; the quote lifts 70 -> 110:
40 x 0.50 + 70 x 0.50 = 55.00.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from channel import ChannelLedger, ReturnedLine, line_income, parse_programs
from channel.testing import shipped
from promessa.money import Money


def eur(s: str) -> Money:
    return Money.of(s, "EUR")


def rows(income):
    return [(p.program, p.kind, p.accrued_qty, p.accrued, p.quoted_qty, p.quoted, p.total) for p in income]


def test_accrued_for_shipped_units_and_quoted_for_open_ones_with_the_rebate_reaccrual():
    led = ChannelLedger()
    led.define_programs(parse_programs([
        {"program": p, "supplier": "ACME", "currency": "EUR", "valid_from": "2026-01-01", "valid_to": "2026-12-31",
         "items": ["W1"], **kw} for p, kw in (
            ("AL1", {"kind": "allowance", "rate_kind": "per_unit", "rate": "0.25"}),
            ("VR1", {"kind": "volume_rebate", "period": "month",
                     "tiers": [{"from": 0, "to": 100, "rate": "0"}, {"from": 100, "rate": "0.50"}]}))]))
    led.record([shipped("S1", qty=80, price="10", cost="8", day="2026-01-05", order="O1", line=1)])
    quote = shipped("quote:O1/L1", qty=40, price="10", cost="8", day="2026-01-10", order="O1", line=1)
    with led.reading() as st:
        got = rows(line_income(st, "O1", 1, quote))
    assert got == [("AL1", "allowance", Decimal(80), eur("20.00"), Decimal(40), eur("10.00"), eur("30.00")),
                   ("VR1", "volume_rebate", Decimal(80), eur("0"), Decimal(40), eur("60.00"), eur("60.00"))]
    assert line_income(led.state, "O1", 2, None) == []       # another line of the order: nothing shipped or quoted
    assert rows(line_income(led.state, "O1", 1, None)) == [  # nothing open: the accrued part only
        ("AL1", "allowance", Decimal(80), eur("20.00"), Decimal(0), eur("0"), eur("20.00"))]

    led.record([ReturnedLine("R1", "S1", 10, "2026-01-08")])
    assert rows(line_income(led.state, "O1", 1, quote)) == [
        ("AL1", "allowance", Decimal(70), eur("17.50"), Decimal(40), eur("10.00"), eur("27.50")),
        ("VR1", "volume_rebate", Decimal(70), eur("0"), Decimal(40), eur("55.00"), eur("55.00"))]
    assert led.state.line_shipments == {("O1", 1): ["S1"]}
    assert led.recompute().line_shipments == led.state.line_shipments  # rebuilt from the journal the same

    with pytest.raises(ValueError, match="not in the ledger"):
        line_income(led.state, "O1", 1, shipped("S1", qty=1, price="10", cost="8", day=dt.date(2026, 1, 10), order="O1"))
