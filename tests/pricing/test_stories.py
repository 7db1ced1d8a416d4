"""Story tests: a small furniture seller's price book, and hand-computed waterfalls for every rule kind.

The book (built in code so each figure can be read next to its test):
- ``RETAIL`` (EUR, tax-exclusive, default for everyone): CHAIR 100.00, DESK 250.00, SCREW 0.50 with graduated
  tiers (from 10: 0.40, from 50: 0.30), PAPER 5.00 with an all-units break (from 100: 4.00), SUPPORT 30.00 a
  month (12 months), HOSTING 1200.00 a year; version 2 from 1 March (CHAIR 110.00, DESK 250.00) replaces it.
- ``GOLD`` (EUR, for the gold segment): CHAIR 90.00 only; ``SHOP`` (EUR, tax-inclusive, web channel): CHAIR 119.00.
- Tax: DE 19 % standard, 7 % reduced; US-CA 7.25 %; the rest of the US 0 %; JP 10 %; BH 10 %.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal as D

import pytest

from pricing import (
    Assignment,
    Catalogue,
    CatalogueItem,
    ManualAdjustment,
    OrderPrice,
    OrderRequest,
    Party,
    PriceBook,
    PriceEntry,
    PriceList,
    Recurring,
    Rule,
    TaxRate,
    Tier,
    price_order,
)
from promessa.errors import ValidationError
from promessa.money import Money

JAN = dt.date(2026, 1, 1)
ON = dt.date(2026, 1, 20)
CAT = Catalogue("EUR", [
    CatalogueItem("CHAIR", "furniture", "nordform"), CatalogueItem("DESK", "furniture", "nordform"),
    CatalogueItem("SCREW", "hardware", "fixit"), CatalogueItem("PAPER", "office", "papyr", tax_category="reduced"),
    CatalogueItem("SUPPORT", "service", "nordform"), CatalogueItem("HOSTING", "service", "nordform"),
])
TAX = [TaxRate("DE", "", "standard", D("0.19"), JAN), TaxRate("DE", "", "reduced", D("0.07"), JAN),
       TaxRate("US", "CA", "standard", D("0.0725"), JAN), TaxRate("US", "", "standard", D("0"), JAN),
       TaxRate("JP", "", "standard", D("0.10"), JAN), TaxRate("BH", "", "standard", D("0.10"), JAN),
       TaxRate("KW", "", "standard", D("0"), JAN)]


def entry(item, price, **kw):
    return PriceEntry(item, D(price), **kw)


RETAIL1 = PriceList("RETAIL", 1, "EUR", JAN, None, False, {
    "CHAIR": entry("CHAIR", "100.00"), "DESK": entry("DESK", "250.00"),
    "SCREW": entry("SCREW", "0.50", tier_mode="graduated", tiers=(Tier(D(10), D("0.40")), Tier(D(50), D("0.30")))),
    "PAPER": entry("PAPER", "5.00", tier_mode="volume", tiers=(Tier(D(100), D("4.00")),)),
    "SUPPORT": entry("SUPPORT", "30.00", recurring=Recurring("monthly", 12)),
    "HOSTING": entry("HOSTING", "1200.00", recurring=Recurring("yearly", 1)),
})
RETAIL2 = PriceList("RETAIL", 2, "EUR", dt.date(2026, 3, 1), None, False,  # a version replaces the list as a whole
                    {"CHAIR": entry("CHAIR", "110.00"), "DESK": entry("DESK", "250.00")})
GOLD = PriceList("GOLD", 1, "EUR", JAN, None, False, {"CHAIR": entry("CHAIR", "90.00")})
SHOP = PriceList("SHOP", 1, "EUR", JAN, None, True, {"CHAIR": entry("CHAIR", "119.00")})
ASSIGN = [Assignment("default", "", "RETAIL"), Assignment("segment", "gold", "GOLD"), Assignment("channel", "web", "SHOP")]


def make_book(*rules: Rule, lists=(RETAIL1, RETAIL2, GOLD, SHOP), assignments=ASSIGN, catalogue=CAT, taxes=TAX) -> PriceBook:
    return PriceBook(price_lists=lists, assignments=assignments, rules=rules, tax_rates=taxes, catalogue=catalogue,
                     catalogue_prices=False)


def rule(rid, kind, value, **kw):
    kw.setdefault("valid_from", JAN)
    if kind != "percent":
        kw.setdefault("currency", "EUR")
    return Rule(rid, kind, D(value), **kw)


PLAIN = Party("C1")
GOLDIE = Party("C2", segments=("gold",))
WEB = Party("C3", channel="web")


def order(party, *lines, country="DE", region=None, currency=None, manual=()):
    return OrderRequest.build("O1", party, [(str(i + 1), it, q) for i, (it, q) in enumerate(lines)], country=country,
                              region=region, currency=currency, manual=manual)


def waterfall(p: OrderPrice, line="1"):
    w = p.line(line)
    return (str(w.list_amount.amount), [(a.rule, str(a.amount.amount)) for a in w.adjustments], str(w.net.amount),
            str(w.tax.amount), str(w.total.amount))


# ------------------------------------------------------------------------------------------------ list prices
def test_a_plain_customer_pays_the_retail_list_plus_german_vat():
    # 2 chairs at 100.00 = 200.00; VAT 19 % = 38.00; total 238.00
    p = price_order(make_book(), order(PLAIN, ("CHAIR", 2)), on=ON)
    assert waterfall(p) == ("200.00", [], "200.00", "38.00", "238.00")
    assert p.currency == "EUR" and p.total == Money.of("238.00", "EUR")
    assert p.line("1").price_list == "RETAIL@1" and p.line("1").tax_rule == "tax:DE:standard"


def test_a_new_list_version_takes_over_on_its_first_day():
    # version 2 (CHAIR 110.00) is in force from 1 March; on 28 February version 1 still prices
    assert waterfall(price_order(make_book(), order(PLAIN, ("CHAIR", 1)), on=dt.date(2026, 2, 28)))[0] == "100.00"
    p = price_order(make_book(), order(PLAIN, ("CHAIR", 1), ("DESK", 1)), on=dt.date(2026, 3, 1))
    assert p.line("1").price_list == "RETAIL@2" and waterfall(p)[0] == "110.00"
    assert p.line("2").price_list == "RETAIL@2" and p.line("2").list_amount.amount == D("250.00")
    # version 2 has no screws: a version replaces the whole list, so screws are not priced any more from 1 March
    with pytest.raises(ValidationError):
        price_order(make_book(), order(PLAIN, ("SCREW", 1)), on=dt.date(2026, 3, 1))


def test_fallback_order_customer_list_then_segment_then_channel_then_default():
    # a gold customer buys the chair from GOLD (90.00) but GOLD has no desk: the desk falls back to RETAIL
    p = price_order(make_book(), order(GOLDIE, ("CHAIR", 1), ("DESK", 1)), on=ON)
    assert p.line("1").price_list == "GOLD@1" and p.line("1").list_amount.amount == D("90.00")
    assert p.line("2").price_list == "RETAIL@1" and p.line("2").list_amount.amount == D("250.00")
    # the customer's own price list comes before the segment's
    own = PriceList("C2-CONTRACT", 1, "EUR", JAN, None, False, {"CHAIR": entry("CHAIR", "85.00")})
    book = make_book(lists=(RETAIL1, GOLD, SHOP, own))
    p = price_order(book, order(Party("C2", segments=("gold",), price_list="C2-CONTRACT"), ("CHAIR", 1)), on=ON)
    assert p.line("1").price_list == "C2-CONTRACT@1"
    # a customer assignment comes before the segment's too
    book = make_book(lists=(RETAIL1, GOLD, SHOP, own), assignments=[*ASSIGN, Assignment("customer", "C2", "C2-CONTRACT")])
    assert price_order(book, order(GOLDIE, ("CHAIR", 1)), on=ON).line("1").price_list == "C2-CONTRACT@1"
    # segment before channel
    assert price_order(make_book(), order(Party("C4", ("gold",), "web"), ("CHAIR", 1)), on=ON).line("1").price_list == "GOLD@1"


def test_an_item_no_list_prices_is_refused_naming_the_line():
    with pytest.raises(ValidationError) as e:
        price_order(make_book(), order(PLAIN, ("CHAIR", 1), ("LAMP", 1)), on=ON)
    assert e.value.field == "lines[1].item" and e.value.value == "LAMP"


# ------------------------------------------------------------------------------------------------ tiers
@pytest.mark.parametrize(("qty", "amount"), [
    (10, "5.00"),    # 10 x 0.50: the first tier holds units 1..10
    (11, "5.40"),    # + 1 x 0.40
    (50, "21.00"),   # 5.00 + 40 x 0.40
    (51, "21.30"),   # + 1 x 0.30
    (60, "24.00"),   # 5.00 + 16.00 + 10 x 0.30
])
def test_graduated_tiers_at_their_boundaries(qty, amount):
    p = price_order(make_book(), order(PLAIN, ("SCREW", qty)), on=ON)
    w = p.line("1")
    assert w.subtotal.amount == D(amount)
    assert w.list_amount.amount == (D("0.50") * qty).quantize(D("0.01"))
    if w.list_amount.amount != D(amount):
        assert [(a.kind, a.rule) for a in w.adjustments] == [("tier", "RETAIL@1/tiers")]


def test_volume_break_applies_to_all_units_from_the_break_on():
    # 99 boxes at 5.00 = 495.00; 100 boxes all at 4.00 = 400.00 (a tier adjustment of -100.00); PAPER is 7 % VAT
    assert waterfall(price_order(make_book(), order(PLAIN, ("PAPER", 99)), on=ON)) == ("495.00", [], "495.00", "34.65", "529.65")
    assert waterfall(price_order(make_book(), order(PLAIN, ("PAPER", 100)), on=ON)) == (
        "500.00", [("RETAIL@1/tiers", "-100.00")], "400.00", "28.00", "428.00")


# ------------------------------------------------------------------------------------------------ rules
def test_percent_rule_by_category():
    book = make_book(rule("FURN10", "percent", "10", categories=frozenset({"furniture"})))
    # 2 x 100.00 = 200.00, 10 % off = -20.00, net 180.00, VAT 34.20
    assert waterfall(price_order(book, order(PLAIN, ("CHAIR", 2)), on=ON)) == ("200.00", [("FURN10@1", "-20.00")], "180.00",
                                                                                 "34.20", "214.20")
    # screws are hardware: no discount
    assert waterfall(price_order(book, order(PLAIN, ("SCREW", 4)), on=ON))[1] == []


def test_amount_off_per_unit_by_brand_never_below_zero():
    book = make_book(rule("FIXIT", "amount_off", "0.45", brands=frozenset({"fixit"})))
    # 4 screws: list 2.00; 0.45 x 4 = 1.80 off -> 0.20
    assert waterfall(price_order(book, order(PLAIN, ("SCREW", 4)), on=ON))[1:3] == ([("FIXIT@1", "-1.80")], "0.20")
    book = make_book(rule("FIXIT", "amount_off", "0.60", brands=frozenset({"fixit"})))
    # 0.60 x 4 = 2.40 is more than the 2.00 line: it stops at zero
    assert waterfall(price_order(book, order(PLAIN, ("SCREW", 4)), on=ON)) == ("2.00", [("FIXIT@1", "-2.00")], "0.00", "0.00",
                                                                              "0.00")


def test_fixed_price_for_one_customer_and_item_only_when_it_lowers_the_price():
    book = make_book(rule("C1-DESK", "fixed_price", "199.00", items=frozenset({"DESK"}), customers=frozenset({"C1"})))
    # 3 desks: 750.00 -> 3 x 199.00 = 597.00 (-153.00)
    assert waterfall(price_order(book, order(PLAIN, ("DESK", 3)), on=ON))[1:3] == ([("C1-DESK@1", "-153.00")], "597.00")
    # another customer does not get it
    assert waterfall(price_order(book, order(Party("C9"), ("DESK", 3)), on=ON))[1] == []
    # a fixed price above the running price does not apply
    book = make_book(rule("UP", "fixed_price", "300.00", items=frozenset({"DESK"})))
    assert waterfall(price_order(book, order(PLAIN, ("DESK", 1)), on=ON))[1] == []


def test_rules_by_segment_and_channel():
    book = make_book(rule("GOLD5", "percent", "5", segments=frozenset({"gold"})), rule("WEB2", "amount_off", "2.00",
                                                                                      channels=frozenset({"web"})))
    assert waterfall(price_order(book, order(GOLDIE, ("DESK", 1)), on=ON))[1] == [("GOLD5@1", "-12.50")]
    assert waterfall(price_order(book, order(WEB, ("DESK", 1)), on=ON))[1] == [("WEB2@1", "-2.00")]
    assert waterfall(price_order(book, order(PLAIN, ("DESK", 1)), on=ON))[1] == []


def test_order_total_condition_counts_list_and_tier_amounts_before_rules():
    book = make_book(rule("BIG", "percent", "3", min_order_total=D("1000.00"), currency="EUR"))
    # 3 desks (750.00) + 2 chairs (200.00) + 49 boxes of paper (245.00) = 1195.00 >= 1000.00: every line gets 3 %
    p = price_order(book, order(PLAIN, ("DESK", 3), ("CHAIR", 2), ("PAPER", 49)), on=ON)
    assert [a.amount.amount for w in p.lines for a in w.adjustments] == [D("-22.50"), D("-6.00"), D("-7.35")]
    # 3 desks + 1 chair + 9 boxes = 750 + 100 + 45 = 895.00 < 1000.00: none
    p = price_order(book, order(PLAIN, ("DESK", 3), ("CHAIR", 1), ("PAPER", 9)), on=ON)
    assert all(not w.adjustments for w in p.lines)
    # exactly at the threshold: 4 desks = 1000.00 applies
    assert price_order(book, order(PLAIN, ("DESK", 4)), on=ON).lines[0].adjustments[0].rule == "BIG@1"


def test_rule_date_range_is_inclusive_and_the_highest_version_in_force_wins():
    r1 = rule("SPRING", "percent", "10", valid_from=dt.date(2026, 3, 1), valid_to=dt.date(2026, 3, 31))
    r2 = rule("SPRING", "percent", "15", version=2, valid_from=dt.date(2026, 3, 15), valid_to=dt.date(2026, 3, 31))
    book = make_book(r1, r2)
    for day, want in ((dt.date(2026, 2, 28), []), (dt.date(2026, 3, 1), [("SPRING@1", "-25.00")]),
                      (dt.date(2026, 3, 15), [("SPRING@2", "-37.50")]), (dt.date(2026, 3, 31), [("SPRING@2", "-37.50")]),
                      (dt.date(2026, 4, 1), [])):
        assert waterfall(price_order(book, order(PLAIN, ("DESK", 1)), on=day))[1] == want, day


def test_stacking_precedence_compounds_stackables_in_order():
    # FURN10 (precedence 10) then GOLD5 (precedence 20), both stackable, on a gold chair at 90.00 x 2 = 180.00:
    # -10 % = -18.00 -> 162.00; -5 % of 162.00 = -8.10 -> 153.90; VAT 29.241 -> 29.24; total 183.14
    book = make_book(rule("GOLD5", "percent", "5", segments=frozenset({"gold"}), precedence=20),
                     rule("FURN10", "percent", "10", categories=frozenset({"furniture"}), precedence=10))
    assert waterfall(price_order(book, order(GOLDIE, ("CHAIR", 2)), on=ON)) == (
        "180.00", [("FURN10@1", "-18.00"), ("GOLD5@1", "-8.10")], "153.90", "29.24", "183.14")


def test_an_exclusive_rule_first_in_precedence_applies_alone():
    book = make_book(rule("DEAL", "fixed_price", "199.00", items=frozenset({"DESK"}), stacking="exclusive", precedence=5),
                     rule("FURN10", "percent", "10", categories=frozenset({"furniture"}), precedence=10))
    # desk: DEAL wins and stops (250.00 -> 199.00); chair: DEAL does not match, FURN10 applies
    p = price_order(book, order(PLAIN, ("DESK", 1), ("CHAIR", 1)), on=ON)
    assert waterfall(p, "1")[1] == [("DEAL@1", "-51.00")]
    assert waterfall(p, "2")[1] == [("FURN10@1", "-10.00")]


def test_an_exclusive_rule_after_a_stackable_one_is_skipped():
    book = make_book(rule("FURN10", "percent", "10", categories=frozenset({"furniture"}), precedence=10),
                     rule("DEAL", "percent", "30", items=frozenset({"DESK"}), stacking="exclusive", precedence=20),
                     rule("LATE", "amount_off", "1.00", precedence=30))
    # FURN10 applied first, so DEAL (exclusive) does not; LATE (stackable) still does: 250 - 25 - 1 = 224.00
    assert waterfall(price_order(book, order(PLAIN, ("DESK", 1)), on=ON))[1:3] == (
        [("FURN10@1", "-25.00"), ("LATE@1", "-1.00")], "224.00")


def test_an_exclusive_fixed_price_that_does_not_lower_the_price_does_not_block_the_others():
    book = make_book(rule("DEAL", "fixed_price", "260.00", items=frozenset({"DESK"}), stacking="exclusive", precedence=5),
                     rule("FURN10", "percent", "10", categories=frozenset({"furniture"}), precedence=10))
    assert waterfall(price_order(book, order(PLAIN, ("DESK", 1)), on=ON))[1] == [("FURN10@1", "-25.00")]


# ------------------------------------------------------------------------------------------------ tax
def test_tax_by_region_then_country_and_by_item_tax_category():
    # California: 7.25 % of 200.00 = 14.50; Texas (no regional rate): the US rate 0 %
    assert waterfall(price_order(make_book(), order(PLAIN, ("CHAIR", 2), country="US", region="CA"), on=ON))[3] == "14.50"
    p = price_order(make_book(), order(PLAIN, ("CHAIR", 2), country="US", region="TX"), on=ON)
    assert waterfall(p)[3] == "0.00" and p.line("1").tax_rule == "tax:US:standard"
    # paper is 'reduced' in Germany: 7 % of 45.00 = 3.15
    assert waterfall(price_order(make_book(), order(PLAIN, ("PAPER", 9)), on=ON))[3] == "3.15"


def test_tax_exempt_customer_pays_no_tax():
    p = price_order(make_book(), order(Party("NGO", tax_profile="exempt"), ("CHAIR", 2)), on=ON)
    assert waterfall(p) == ("200.00", [], "200.00", "0.00", "200.00") and p.line("1").tax_rule == "tax:exempt"


def test_no_tax_rate_for_the_destination_is_refused():
    with pytest.raises(ValidationError) as e:
        price_order(make_book(), order(PLAIN, ("CHAIR", 1), country="FR"), on=ON)
    assert e.value.field == "ship_to_country" and e.value.value == "FR"


def test_tax_inclusive_list_takes_the_tax_out_of_the_total():
    # the web shop's chair is 119.00 including 19 % VAT: tax = 119.00 x 0.19 / 1.19 = 19.00, net 100.00
    assert waterfall(price_order(make_book(), order(WEB, ("CHAIR", 1)), on=ON)) == ("119.00", [], "100.00", "19.00", "119.00")
    # with 10 % off (inclusive amounts): 119.00 - 11.90 = 107.10; tax 107.10 x 0.19 / 1.19 = 17.10; net 90.00
    book = make_book(rule("FURN10", "percent", "10", categories=frozenset({"furniture"})))
    p = price_order(book, order(WEB, ("CHAIR", 1)), on=ON)
    assert waterfall(p) == ("119.00", [("FURN10@1", "-11.90")], "90.00", "17.10", "107.10")
    assert p.line("1").subtotal.amount == D("107.10") and p.line("1").tax_inclusive
    # 3 chairs: 357.00 total, tax 357 x 0.19 / 1.19 = 57.00, net 300.00
    assert waterfall(price_order(make_book(), order(WEB, ("CHAIR", 3)), on=ON))[2:] == ("300.00", "57.00", "357.00")


# ------------------------------------------------------------------------------------------------ recurring
def test_monthly_service_started_mid_month_is_prorated_by_days():
    # support 30.00 a month from 20 January: 12 of January's 31 days -> 30.00 x 12 / 31 = 11.6129 -> 11.61;
    # VAT 19 % = 2.2059 -> 2.21; the 12-month term runs from 1 February to 31 January 2027
    p = price_order(make_book(), order(PLAIN, ("SUPPORT", 1)), on=ON)
    assert waterfall(p) == ("30.00", [("proration", "-18.39")], "11.61", "2.21", "13.82")
    rec = p.line("1").recurring
    assert (rec.period, rec.first_start, rec.first_end, rec.first_days, rec.period_days) == (
        "monthly", ON, dt.date(2026, 1, 31), 12, 31)
    assert rec.period_amount.amount == D("30.00") and rec.term_end == dt.date(2027, 1, 31)


def test_service_started_on_a_period_start_is_not_prorated():
    p = price_order(make_book(), order(PLAIN, ("SUPPORT", 2)), on=dt.date(2026, 2, 1))
    assert waterfall(p) == ("60.00", [], "60.00", "11.40", "71.40")
    assert p.line("1").recurring.term_end == dt.date(2027, 1, 31)


def test_yearly_service_prorated_to_the_end_of_the_year_after_discounts():
    # hosting 1200.00 a year from 1 July 2026: 184 of 365 days; with 10 % off first: 1080.00 x 184 / 365 = 544.438 -> 544.44
    book = make_book(rule("SVC10", "percent", "10", categories=frozenset({"service"})))
    req = OrderRequest("O1", PLAIN, "DE", (LineRequest_("1", "HOSTING", 1, dt.date(2026, 7, 1)),))
    p = price_order(book, req, on=ON)
    assert waterfall(p) == ("1200.00", [("SVC10@1", "-120.00"), ("proration", "-535.56")], "544.44", "103.44", "647.88")
    assert p.line("1").recurring.period_amount.amount == D("1080.00")
    assert p.line("1").recurring.term_end == dt.date(2027, 12, 31)


def test_no_proration_when_the_entry_says_so():
    lst = PriceList("RETAIL", 1, "EUR", JAN, None, False, {"SUPPORT": entry("SUPPORT", "30.00", recurring=Recurring("monthly", 3,
                                                                                                                  prorate=False))})
    p = price_order(make_book(lists=(lst,), assignments=[Assignment("default", "", "RETAIL")]), order(PLAIN, ("SUPPORT", 1)), on=ON)
    rec = p.line("1").recurring
    assert waterfall(p)[2] == "30.00" and (rec.first_end, rec.first_days, rec.period_days) == (dt.date(2026, 2, 19), 31, 31)
    assert rec.term_end == dt.date(2026, 4, 19)


def LineRequest_(line, item, qty, start):  # noqa: N802 - reads like the record
    from pricing import LineRequest
    return LineRequest(line, item, D(qty), start)


# ------------------------------------------------------------------------------------------------ currencies
def test_rounding_half_up_in_yen_zero_digits():
    # 15985 JPY, 10 % off = 1598.5 -> 1599 (half up; half-even would give 1598); net 14386; tax 10 % = 1438.6 -> 1439
    jp = PriceList("JP", 1, "JPY", JAN, None, False, {"CHAIR": entry("CHAIR", "15985")})
    book = make_book(rule("FURN10", "percent", "10", categories=frozenset({"furniture"})), lists=(jp,),
                     assignments=[Assignment("default", "", "JP")])
    p = price_order(book, order(PLAIN, ("CHAIR", 1), country="JP"), on=ON)
    assert p.currency == "JPY"
    assert waterfall(p) == ("15985", [("FURN10@1", "-1599")], "14386", "1439", "15825")
    assert p.total.to_dict() == {"amount": "15825", "currency": "JPY"}


def test_rounding_half_up_in_bahraini_dinar_three_digits():
    # 90.325 BHD, 10 % off = 9.0325 -> 9.033 (half up); net 81.292; VAT 10 % = 8.1292 -> 8.129; total 89.421
    bh = PriceList("BH", 1, "BHD", JAN, None, False, {"CHAIR": entry("CHAIR", "90.325")})
    book = make_book(rule("FURN10", "percent", "10", categories=frozenset({"furniture"})), lists=(bh,),
                     assignments=[Assignment("default", "", "BH")])
    p = price_order(book, order(PLAIN, ("CHAIR", 1), country="BH"), on=ON)
    assert waterfall(p) == ("90.325", [("FURN10@1", "-9.033")], "81.292", "8.129", "89.421")
    # an amount-off rule in EUR does not apply to a BHD order
    book = make_book(rule("EUR5", "amount_off", "5.00"), lists=(bh,), assignments=[Assignment("default", "", "BH")])
    assert waterfall(price_order(book, order(PLAIN, ("CHAIR", 1), country="BH"), on=ON))[1] == []


def test_kuwaiti_dinar_unit_price_times_fractional_quantity():
    # 30.125 KWD x 2.5 = 75.3125 -> 75.313 (half up at the third digit); KW tax 0
    kw = PriceList("KW", 1, "KWD", JAN, None, False, {"CHAIR": entry("CHAIR", "30.125")})
    p = price_order(make_book(lists=(kw,), assignments=[Assignment("default", "", "KW")]), order(PLAIN, ("CHAIR", "2.5"),
                                                                                                   country="KW"), on=ON)
    assert waterfall(p) == ("75.313", [], "75.313", "0.000", "75.313")


# ------------------------------------------------------------------------------------------------ manual
def test_manual_adjustments_apply_after_rules_and_ask_for_approval():
    book = make_book(rule("FURN10", "percent", "10", categories=frozenset({"furniture"})))
    manual = (ManualAdjustment("1", "percent_off", D("5"), "long-standing customer", "anna"),
              ManualAdjustment("2", "amount", D("-10.00"), "scratched", "anna"),
              ManualAdjustment("3", "fixed_price", D("0.25"), "clearance"))
    p = price_order(book, order(PLAIN, ("CHAIR", 2), ("DESK", 1), ("SCREW", 4), manual=manual), on=ON)
    # chair: 200 -20 (rule) = 180, -5 % = -9.00 -> 171.00
    assert waterfall(p, "1")[1:3] == ([("FURN10@1", "-20.00"), ("manual", "-9.00")], "171.00")
    # desk: 250 -25 = 225, -10.00 -> 215.00
    assert waterfall(p, "2")[1:3] == ([("FURN10@1", "-25.00"), ("manual", "-10.00")], "215.00")
    # screws: 4 x 0.50 = 2.00 -> 4 x 0.25 = 1.00
    assert waterfall(p, "3")[1:3] == ([("manual", "-1.00")], "1.00")
    assert p.needs_approval and len(p.approval_reasons) == 3 and "scratched" in p.approval_reasons[1]
    adj = p.line("2").adjustments[1]
    assert adj.requires_approval and adj.reason == "scratched"
    assert not price_order(book, order(PLAIN, ("CHAIR", 1)), on=ON).needs_approval


def test_manual_adjustment_that_makes_a_line_negative_or_names_no_line_is_refused():
    with pytest.raises(ValidationError) as e:
        price_order(make_book(), order(PLAIN, ("CHAIR", 1), manual=(ManualAdjustment("1", "amount", D("-100.01"), "x"),)), on=ON)
    assert e.value.field == "manual[0].value"
    with pytest.raises(ValidationError) as e:
        price_order(make_book(), order(PLAIN, ("CHAIR", 1), manual=(ManualAdjustment("7", "amount", D("-1"), "x"),)), on=ON)
    assert e.value.field == "manual[0].line" and e.value.value == "7"
    with pytest.raises(ValidationError) as e:
        ManualAdjustment.from_dict({"line": "1", "kind": "amount", "value": "-1", "reason": " "})
    assert e.value.field == "reason"


# ------------------------------------------------------------------------------------------------ the record
def test_order_price_round_trips_through_json():
    book = make_book(rule("FURN10", "percent", "10", categories=frozenset({"furniture"})))
    p = price_order(book, order(GOLDIE, ("CHAIR", 2), ("SCREW", 60), ("SUPPORT", 1),
                                manual=(ManualAdjustment("2", "amount", D("-1.00"), "goodwill"),)), on=ON)
    d = json.loads(json.dumps(p.to_dict()))
    assert OrderPrice.from_dict(d) == p
    assert d["total"]["currency"] == "EUR" and isinstance(d["total"]["amount"], str)
    assert sum(D(x["total"]["amount"]) for x in d["lines"]) == D(d["total"]["amount"])


def test_currency_comes_from_the_first_list_unless_given():
    jp = PriceList("JP", 1, "JPY", JAN, None, False, {"CHAIR": entry("CHAIR", "15000")})
    book = make_book(lists=(RETAIL1, jp), assignments=[Assignment("segment", "japan", "JP"), Assignment("default", "", "RETAIL")])
    assert price_order(book, order(Party("J", ("japan",)), ("CHAIR", 1), country="JP"), on=ON).currency == "JPY"
    # asked for EUR, the JPY list is skipped and RETAIL prices it
    p = price_order(book, order(Party("J", ("japan",)), ("CHAIR", 1), country="DE", currency="EUR"), on=ON)
    assert p.currency == "EUR" and p.line("1").price_list == "RETAIL@1"


def test_a_request_from_an_api_body_is_validated_and_round_trips():
    body = {"order": "SO-9", "ship_to_country": "de", "currency": "EUR",
            "lines": [{"item": "CHAIR", "qty": "2"}, {"line": "B", "item": "SUPPORT", "qty": 1, "service_start": "2026-02-01"}],
            "manual": [{"line": "1", "kind": "amount", "value": "-5.00", "reason": "goodwill", "by": "anna"}]}
    req = OrderRequest.from_dict(body, party=PLAIN)
    assert [(ln.line, ln.item, ln.qty) for ln in req.lines] == [("1", "CHAIR", D(2)), ("B", "SUPPORT", D(1))]
    assert req.ship_to_country == "DE" and req.lines[1].service_start == dt.date(2026, 2, 1)
    # 2 x 100.00 - 5.00 = 195.00, VAT 37.05; support from 1 February: 30.00, VAT 5.70
    assert price_order(make_book(), req, on=ON).total.amount == D("195.00") + D("37.05") + D("30.00") + D("5.70")
    assert OrderRequest.from_dict({**req.to_dict(), "ship_to_country": "DE"}, party=PLAIN) == req
    for bad, field, value in (({"lines": []}, "lines", []), ({"ship_to_country": "Germany"}, "ship_to_country", "Germany"),
                              ({"lines": [{"item": "CHAIR", "qty": "-1"}]}, "lines[0].qty", "-1"),
                              ({"lines": [{"item": "CHAIR", "qty": 1.00001}]}, "lines[0].qty", "1.00001"),
                              ({"currency": "EURO"}, "currency", "EURO"),
                              ({"manual": [{"line": "1", "kind": "amount", "value": "-1"}]}, "manual[0].reason", None)):
        with pytest.raises(ValidationError) as e:
            OrderRequest.from_dict({**body, **bad}, party=PLAIN)
        assert (e.value.field, e.value.value) == (field, value)


def test_manual_adjustment_records_are_validated():
    ok = ManualAdjustment.from_dict({"line": 2, "kind": "fixed_price", "value": "9.99", "reason": "match competitor", "by": "anna"})
    assert ok == ManualAdjustment("2", "fixed_price", D("9.99"), "match competitor", "anna")
    assert ManualAdjustment.from_dict(ok.to_dict()) == ok
    for raw, field, value in (({"kind": "amount", "value": "1", "reason": "x"}, "line", None),
                              ({"line": "1", "kind": "gift", "value": "1", "reason": "x"}, "kind", "gift"),
                              ({"line": "1", "kind": "percent_off", "value": "101", "reason": "x"}, "value", "101"),
                              ({"line": "1", "kind": "amount", "value": "1", "reason": "x", "by": 7}, "by", 7)):
        with pytest.raises(ValidationError) as e:
            ManualAdjustment.from_dict(raw)
        assert (e.value.field, e.value.value) == (field, value)
