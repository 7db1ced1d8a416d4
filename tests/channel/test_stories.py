"""Stories with hand-computed accruals for each program kind, claims, returns after a claim and aging."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from channel import ChannelLedger, ClaimStatus, ReturnedLine, StockOnHand, aging, parse_programs
from channel.testing import shipped
from promessa.errors import ConflictError, ValidationError
from promessa.money import Money

D = dt.date
EUR = "EUR"


def eur(s: str) -> Money:
    return Money.of(s, EUR)


def ledger(*programs: dict) -> ChannelLedger:
    led = ChannelLedger()
    led.define_programs(parse_programs([{"supplier": "ACME", "currency": EUR, "valid_from": "2026-01-01",
                                         "valid_to": "2026-12-31", **p} for p in programs]))
    return led


def net(led: ChannelLedger, shipment: str, program: str) -> Decimal:
    return led.state.accrued.get((shipment, program), Decimal(0))


def test_ship_and_debit_pays_for_the_authorized_customer_only():
    # ACME authorizes a special cost of 7.00 for BIGCO on W1, resold at no more than 9.50.
    # BIGCO buys 10 at 9.50 from stock that cost us 8.20: ACME owes 10 x (8.20 - 7.00) = 12.00.
    # SMALLCO buys the same at the same price: not authorized, nothing. BIGCO at 9.80 (above the agreed price): nothing.
    led = ledger({"program": "SD1", "kind": "ship_and_debit", "items": ["W1"], "customers": ["BIGCO"],
                  "special_cost": "7.00", "agreed_price": "9.50"})
    recs = led.record([shipped("H1", qty=10, price="9.50", cost="8.20", day="2026-02-03"),
                       shipped("H2", qty=10, price="9.50", cost="8.20", day="2026-02-03", customer="SMALLCO"),
                       shipped("H3", qty=5, price="9.80", cost="8.20", day="2026-02-04")])
    assert [(a.source, a.program, a.kind, a.amount) for a in recs] == [("H1", "SD1", "accrual", eur("12.00"))]
    assert "unit cost 8.20 - special cost 7.00" in recs[0].basis


def test_allowances_per_unit_and_percent_round_half_up_per_line():
    # 0.35 per unit on brand Zed: 7 units -> 2.45. 2.5 % of net on category widgets: 3 x 19.99 = 59.97 -> 1.49925 -> 1.50.
    led = ledger({"program": "AL1", "kind": "allowance", "brands": ["Zed"], "rate": "0.35"},
                 {"program": "AL2", "kind": "allowance", "categories": ["widgets"], "rate_kind": "percent", "rate": "2.5"})
    led.record([shipped("H1", qty=7, price="5.00", cost="4.00", day="2026-01-10", category="other"),
                shipped("H2", qty=3, price="19.99", cost="12.00", day="2026-01-11", brand="Other")])
    assert net(led, "H1", "AL1") == Decimal("2.45") and ("H1", "AL2") not in led.state.accrued
    assert net(led, "H2", "AL2") == Decimal("1.50") and ("H2", "AL1") not in led.state.accrued


def test_retroactive_rebate_crossed_mid_period_reaccrues_the_period():
    # Monthly tiers: 0-100 units nothing, 100-250 0.50 per unit, 250+ 0.80 per unit, back to the first unit.
    led = ledger({"program": "VR1", "kind": "volume_rebate", "items": ["W1"], "period": "month",
                  "tiers": [{"from": 0, "to": 100, "rate": "0"}, {"from": 100, "to": 250, "rate": "0.50"},
                            {"from": 250, "rate": "0.80"}]})
    # 60 units: below the first paying tier, accrues 0.
    r1 = led.record([shipped("H1", qty=60, price="10", cost="8", day="2026-01-05")])
    assert [(a.kind, a.amount) for a in r1] == [("accrual", eur("0"))]
    # +50 = 110: tier 2; H2 accrues 50 x 0.50 = 25.00 and H1 is re-accrued 60 x 0.50 = 30.00.
    r2 = led.record([shipped("H2", qty=50, price="10", cost="8", day="2026-01-12")])
    assert [(a.source, a.kind, a.amount) for a in r2] == [("H2", "accrual", eur("25.00")),
                                                           ("H1", "tier_adjustment", eur("30.00"))]
    # +150 = 260: tier 3; H3 120.00, H1 +18.00 (to 48.00), H2 +15.00 (to 40.00); the month is 260 x 0.80 = 208.00.
    r3 = led.record([shipped("H3", qty=150, price="10", cost="8", day="2026-01-20")])
    assert [(a.source, a.kind, a.amount) for a in r3] == [("H3", "accrual", eur("120.00")),
                                                           ("H1", "tier_adjustment", eur("18.00")),
                                                           ("H2", "tier_adjustment", eur("15.00"))]
    assert sum(a.amount.amount for a in led.state.accruals) == Decimal("208.00")
    # February starts a new period at 0.
    r4 = led.record([shipped("H4", qty=20, price="10", cost="8", day="2026-02-02")])
    assert [(a.period, a.amount) for a in r4] == [("2026-02", eur("0"))]
    # 100 of H3 come back: January falls to 160 units, tier 2: H3 keeps 50 x 0.50 = 25.00 (-95.00),
    # H1 back to 30.00 (-18.00), H2 to 25.00 (-15.00); January is 160 x 0.50 = 80.00.
    r5 = led.record([ReturnedLine("R1", "H3", 100, "2026-02-03")])
    assert [(a.source, a.kind, a.amount, a.period) for a in r5] == [("H3", "reversal", eur("-95.00"), "2026-01"),
                                                                     ("H1", "tier_adjustment", eur("-18.00"), "2026-01"),
                                                                     ("H2", "tier_adjustment", eur("-15.00"), "2026-01")]
    jan = sum(a.amount.amount for a in led.state.accruals if a.period == "2026-01")
    assert jan == Decimal("80.00")


def test_incremental_rebate_pays_each_tier_on_its_own_units():
    # 0.10 per unit up to 100 units a quarter, 0.30 above. H1 80 units: 8.00. H2 50 units = units 80..130:
    # 20 x 0.10 + 30 x 0.30 = 11.00. 30 of H1 come back: H1 50 units -> 5.00 (-3.00); H2 is now units 50..100,
    # all in the first tier: 5.00 (-6.00). The quarter: 100 units x 0.10 = 10.00.
    led = ledger({"program": "VI1", "kind": "volume_rebate", "tier_mode": "incremental", "period": "quarter",
                  "tiers": [{"from": 0, "to": 100, "rate": "0.10"}, {"from": 100, "rate": "0.30"}]})
    led.record([shipped("H1", qty=80, price="10", cost="8", day="2026-01-05"),
                shipped("H2", qty=50, price="10", cost="8", day="2026-03-05")])
    assert (net(led, "H1", "VI1"), net(led, "H2", "VI1")) == (Decimal("8.00"), Decimal("11.00"))
    r = led.record([ReturnedLine("R1", "H1", 30, "2026-04-02")])
    assert [(a.source, a.kind, a.amount, a.period) for a in r] == [("H1", "reversal", eur("-3.00"), "2026-Q1"),
                                                                    ("H2", "tier_adjustment", eur("-6.00"), "2026-Q1")]


def test_program_expiring_mid_order_pays_only_lines_shipped_while_valid():
    # An allowance of 1.00 per unit ends on 31 January. Order O7 ships line 1 (10 units) on the 31st and
    # line 2 (10 units) on 1 February: only line 1 earns, 10.00.
    led = ChannelLedger()
    led.define_programs(parse_programs([{"program": "AL9", "supplier": "ACME", "kind": "allowance", "currency": EUR,
                                         "valid_from": "2026-01-01", "valid_to": "2026-01-31", "rate": "1.00"}]))
    led.record([shipped("H1", qty=10, price="12", cost="9", day="2026-01-31", order="O7", line=1),
                shipped("H2", qty=10, price="12", cost="9", day="2026-02-01", order="O7", line=2)])
    assert net(led, "H1", "AL9") == Decimal("10.00") and ("H2", "AL9") not in led.state.accrued
    from channel import order_margin

    m = order_margin(led.state, list(led.state.shipments.values()))
    # revenue 240.00, cost 180.00, gross 60.00, program income 10.00, margin 70.00
    assert (m["revenue"], m["cost"], m["gross_margin"], m["program_income"], m["margin"]) == (
        eur("240.00"), eur("180.00"), eur("60.00"), eur("10.00"), eur("70.00"))


def test_price_protection_on_stock_counted_the_day_the_cost_drops():
    # ACME lowers W1 from 10.00 to 8.50 on 1 March: 40 units on hand at DC1 that day earn 40 x 1.50 = 60.00.
    # A count dated the 2nd earns nothing; counting DC1 again for the same day is refused (it would pay twice).
    led = ChannelLedger()
    led.define_programs(parse_programs([{"program": "PP1", "supplier": "ACME", "kind": "price_protection", "currency": EUR,
                                         "valid_from": "2026-03-01", "valid_to": "2026-03-31", "items": ["W1"],
                                         "old_cost": "10.00", "new_cost": "8.50"}]))
    recs = led.record([StockOnHand("C1", "W1", "ACME", "DC1", 40, "2026-03-01"),
                       StockOnHand("C2", "W1", "ACME", "DC2", 5, "2026-03-02")])
    assert [(a.source, a.amount) for a in recs] == [("C1", eur("60.00"))]
    with pytest.raises(ConflictError, match="already counted"):
        led.record([StockOnHand("C3", "W1", "ACME", "DC1", 40, "2026-03-01")])
    assert "C3" not in led.state.event_ids and len(led.store.load()) == 3


def test_return_after_a_claim_goes_onto_the_next_claim_as_a_negative_line():
    # 1.00 per unit. January: 10 units -> claim of 10.00, submitted and paid. February: 4 come back (-4.00)
    # and 6 more ship (+6.00): the February claim has both lines and totals 2.00.
    led = ledger({"program": "AL1", "kind": "allowance", "rate": "1.00", "terms": {"claim_window_days": 60}})
    led.record([shipped("H1", qty=10, price="5", cost="4", day="2026-01-15")])
    [jan] = led.create_claims("ACME", period_start=D(2026, 1, 1), period_end=D(2026, 1, 31), business_date=D(2026, 2, 1))
    assert jan.total == Decimal("10.00") and jan.status is ClaimStatus.DRAFT
    led.transition(jan.claim, "submitted", date=D(2026, 2, 1))
    led.receive(jan.claim, eur("10.00"), date=D(2026, 2, 20), ref="PAY-1")
    assert led.claim(jan.claim).status is ClaimStatus.SETTLED
    led.record([ReturnedLine("R1", "H1", 4, "2026-02-05"), shipped("H2", qty=6, price="5", cost="4", day="2026-02-10")])
    [feb] = led.create_claims("ACME", period_start=D(2026, 2, 1), period_end=D(2026, 2, 28), business_date=D(2026, 3, 1))
    lines = [(led.state.by_id[a].kind, led.state.by_id[a].amount) for a in feb.accruals]
    assert lines == [("reversal", eur("-4.00")), ("accrual", eur("6.00"))] and feb.total == Decimal("2.00")
    assert led.create_claims("ACME", period_start=D(2026, 2, 1), period_end=D(2026, 2, 28), business_date=D(2026, 3, 1)) == []


def test_claim_lifecycle_is_enforced_and_receipts_settle_it():
    led = ledger({"program": "AL1", "kind": "allowance", "rate": "1.00"})
    led.record([shipped("H1", qty=10, price="5", cost="4", day="2026-01-15")])
    [c] = led.create_claims("ACME", period_start=D(2026, 1, 1), period_end=D(2026, 1, 31), business_date=D(2026, 2, 1))
    with pytest.raises(ConflictError, match="cannot go from draft to accepted"):
        led.transition(c.claim, "accepted", date=D(2026, 2, 2))
    with pytest.raises(ValidationError, match="unknown claim status") as e:
        led.transition(c.claim, "paid", date=D(2026, 2, 2))
    assert (e.value.field, e.value.value) == ("status", "paid")
    with pytest.raises(ConflictError):  # no money on a draft
        led.receive(c.claim, eur("1.00"), date=D(2026, 2, 2), ref="X")
    led.transition(c.claim, "submitted", date=D(2026, 2, 2))
    with pytest.raises(ValidationError, match="reason"):
        led.transition(c.claim, "rejected", date=D(2026, 2, 9))
    led.transition(c.claim, "accepted", date=D(2026, 2, 9))
    led.receive(c.claim, eur("6.00"), date=D(2026, 3, 1), ref="PAY-7")
    assert c.status is ClaimStatus.PARTIALLY_PAID and c.open_amount == Decimal("4.00")
    with pytest.raises(ValidationError, match="exceed"):
        led.receive(c.claim, eur("4.01"), date=D(2026, 3, 2), ref="INV-9", deduction=True)
    led.receive(c.claim, eur("4.00"), date=D(2026, 3, 2), ref="INV-9", deduction=True)  # deducted from ACME's invoice
    assert c.status is ClaimStatus.SETTLED and c.received == Decimal("10.00") and c.open_amount == 0
    assert [r["kind"] for r in c.receipts] == ["payment", "deduction"]
    with pytest.raises(ConflictError, match="settled"):
        led.write_off(c.claim, date=D(2026, 3, 3), reason="late")


def test_rejected_claim_disputed_then_written_off():
    led = ledger({"program": "AL1", "kind": "allowance", "rate": "2.00"})
    led.record([shipped("H1", qty=5, price="5", cost="4", day="2026-01-15")])
    [c] = led.create_claims("ACME", period_start=D(2026, 1, 1), period_end=D(2026, 1, 31), business_date=D(2026, 2, 1))
    led.transition(c.claim, "submitted", date=D(2026, 2, 1))
    led.transition(c.claim, "rejected", date=D(2026, 2, 10), reason="missing proof of sale")
    led.transition(c.claim, "disputed", date=D(2026, 2, 12), reason="proof attached")
    led.write_off(c.claim, date=D(2026, 4, 1), reason="supplier will not pay")
    assert c.status is ClaimStatus.WRITTEN_OFF and c.written_off == Decimal("10.00") and c.open_amount == 0
    assert [h["status"] for h in c.history] == ["draft", "submitted", "rejected", "disputed", "written_off"]
    assert c.history[2]["reason"] == "missing proof of sale"


def test_aging_of_open_claims_against_the_claim_window():
    # Window 60 days, payment 30 days. Claim A: sale 10 January, submitted 2 February; on 20 March it is 46 days old
    # (31-60), payment was due 4 March (16 days overdue), its window ended 11 March but it was submitted in time.
    # Claim B (supplier BETA, window 30): sale 5 January, still a draft on 20 March: window ended 4 February.
    led = ChannelLedger()
    led.define_programs(parse_programs([
        {"program": "A1", "supplier": "ACME", "kind": "allowance", "currency": EUR, "valid_from": "2026-01-01",
         "valid_to": "2026-12-31", "rate": "1", "terms": {"claim_window_days": 60, "payment_days": 30}},
        {"program": "B1", "supplier": "BETA", "kind": "allowance", "currency": EUR, "valid_from": "2026-01-01",
         "valid_to": "2026-12-31", "rate": "1", "terms": {"claim_window_days": 30}}]))
    led.record([shipped("H1", qty=3, price="5", cost="4", day="2026-01-10"),
                shipped("H2", qty=2, price="5", cost="4", day="2026-01-05", supplier="BETA")])
    [a] = led.create_claims("ACME", period_start=D(2026, 1, 1), period_end=D(2026, 1, 31), business_date=D(2026, 1, 31))
    [b] = led.create_claims("BETA", period_start=D(2026, 1, 1), period_end=D(2026, 1, 31), business_date=D(2026, 1, 31))
    led.transition(a.claim, "submitted", date=D(2026, 2, 2))
    df = aging(led.state, D(2026, 3, 20))
    rows = {r["claim"]: r for r in df.iter_rows(named=True)}
    ra, rb = rows[a.claim], rows[b.claim]
    assert (ra["age_days"], ra["bucket"], ra["payment_due"], ra["days_overdue"], ra["window_deadline"], ra["past_window"]) == (
        46, "31-60", D(2026, 3, 4), 16, D(2026, 3, 11), False)
    assert (rb["status"], rb["age_days"], rb["bucket"], rb["window_deadline"], rb["past_window"], rb["payment_due"]) == (
        "draft", 48, "31-60", D(2026, 2, 4), True, None)
    assert ra["open"] == Decimal("3.00") and rb["open"] == Decimal("2.00")


def test_bad_events_are_refused_whole():
    led = ledger({"program": "AL1", "kind": "allowance", "rate": "1"})
    led.record([shipped("H1", qty=5, price="5", cost="4", day="2026-01-15")])
    with pytest.raises(ConflictError, match="H1"):
        led.record([shipped("H2", qty=1, price="5", cost="4", day="2026-01-15"),
                    shipped("H1", qty=5, price="5", cost="4", day="2026-01-15")])
    with pytest.raises(ValidationError, match="row 1: returns more than the 2 units left"):
        led.record([ReturnedLine("R1", "H1", 3, "2026-01-20"), ReturnedLine("R2", "H1", 3, "2026-01-21")])
    with pytest.raises(ValidationError, match="unknown shipment"):
        led.record([ReturnedLine("R3", "H9", 1, "2026-01-20")])
    assert len(led.store.load()) == 2 and len(led.state.accruals) == 1


def test_a_program_with_accruals_may_only_change_dates_and_terms():
    # AL1 pays 1.00 per unit; 10 units ship. Ending it on 15 March is fine; raising the rate is refused (a later return
    # would otherwise be reversed at a rate the sale never earned); the new rate goes under a new id.
    led = ledger({"program": "AL1", "kind": "allowance", "rate": "1.00"})
    led.record([shipped("H1", qty=10, price="5", cost="4", day="2026-01-15")])
    base = {"program": "AL1", "supplier": "ACME", "currency": EUR, "kind": "allowance", "valid_from": "2026-01-01"}
    led.define_programs(parse_programs([{**base, "valid_to": "2026-03-15", "rate": "1.00", "terms": {"claim_window_days": 30}}]))
    assert led.state.programs["AL1"].valid_to == D(2026, 3, 15)
    with pytest.raises(ConflictError, match="only its validity dates and claim terms"):
        led.define_programs(parse_programs([{**base, "valid_to": "2026-03-15", "rate": "1.50"}]))
    led.define_programs(parse_programs([{**base, "program": "AL2", "valid_from": "2026-03-16", "valid_to": "2026-12-31",
                                         "rate": "1.50"}]))
    led.record([ReturnedLine("R1", "H1", 4, "2026-04-01"), shipped("H2", qty=2, price="5", cost="4", day="2026-04-02")])
    assert net(led, "H1", "AL1") == Decimal("6.00") and net(led, "H2", "AL2") == Decimal("3.00")


def test_idempotent_delivery_and_claims_only_when_something_is_owed():
    # The order book may deliver the same events twice (at least once): with skip_known they are left out; the same id
    # with other content is still refused. A month with only a return (-3.00) gets no claim: the line waits and is
    # netted on the next claim (March: +5.00 - 3.00 = 2.00).
    led = ledger({"program": "AL1", "kind": "allowance", "rate": "1.00"})
    h1 = shipped("H1", qty=10, price="5", cost="4", day="2026-01-15")
    led.record([h1])
    assert led.record([h1, ReturnedLine("R1", "H1", 3, "2026-02-03")], skip_known=True)[0].amount == eur("-3.00")
    assert led.record([h1, ReturnedLine("R1", "H1", 3, "2026-02-03")], skip_known=True) == []
    with pytest.raises(ConflictError):
        led.record([shipped("H1", qty=11, price="5", cost="4", day="2026-01-15")], skip_known=True)
    [jan] = led.create_claims("ACME", period_start=D(2026, 1, 1), period_end=D(2026, 1, 31), business_date=D(2026, 2, 1))
    assert jan.total == Decimal("10.00")
    assert led.create_claims("ACME", period_start=D(2026, 2, 1), period_end=D(2026, 2, 28), business_date=D(2026, 3, 1)) == []
    led.record([shipped("H2", qty=5, price="5", cost="4", day="2026-03-02")])
    [mar] = led.create_claims("ACME", period_start=D(2026, 3, 1), period_end=D(2026, 3, 31), business_date=D(2026, 4, 1))
    assert mar.total == Decimal("2.00") and len(mar.accruals) == 2
    # settled only when the money is in
    led.transition(mar.claim, "submitted", date=D(2026, 4, 1))
    with pytest.raises(ConflictError, match="not settled"):
        led.transition(mar.claim, "settled", date=D(2026, 4, 2))
