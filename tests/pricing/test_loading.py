"""Rules as data: the sample files load and price; bad files are refused naming the file, row, field and value."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from pathlib import Path

import pytest

from promessa.errors import ValidationError
from pricing import (
    Catalogue,
    CatalogueItem,
    OrderRequest,
    Party,
    RuleError,
    load_book,
    load_price_lists,
    load_rules,
    load_tax_rates,
    price_order,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "pricing" / "examples"
CAT = Catalogue("EUR", [CatalogueItem("CHAIR", "furniture", "nordform"), CatalogueItem("DESK", "furniture", "nordform"),
                        CatalogueItem("SCREW", "hardware", "fixit"), CatalogueItem("PAPER", "office", "papyr"),
                        CatalogueItem("SUPPORT", "service", "nordform", tax_category="service")])


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_the_sample_book_loads_and_prices_a_gold_customer_order():
    book = load_book(EXAMPLES, catalogue=CAT)
    acme = Party("C-ACME", ("gold",), "b2b")
    p = price_order(book, OrderRequest.build("O1", acme, [("1", "CHAIR", 2), ("2", "DESK", 1)], country="DE"), on=dt.date(2026, 1, 20))
    # chair from EU-GOLD 90.00 x 2 = 180.00, FURNITURE10 -18.00, GOLD5 -8.10 -> 153.90
    # desk: ACME-DESK is for customer C-ACME (exclusive, precedence 5): 250.00 -> 199.00
    assert [str(w.net.amount) for w in p.lines] == ["153.90", "199.00"]
    assert [a.rule for a in p.line("2").adjustments] == ["ACME-DESK@1"]
    assert p.total.amount == D("153.90") + D("29.24") + D("199.00") + D("37.81")


def test_yaml_numbers_are_read_by_their_digits(tmp_path):
    p = write(tmp_path, "price_lists.yaml", """
- id: L
  currency: EUR
  valid_from: 2026-01-01
  entries:
    - {item: A, unit_price: 0.1}
    - {item: B, unit_price: 1112.80}
""")
    (pl,) = load_price_lists(p)
    assert pl.entries["A"].unit_price == D("0.1") and pl.entries["B"].unit_price == D("1112.80")


@pytest.mark.parametrize(("name", "text", "row", "field", "value"), [
    ("rules.yaml", "- {id: R1, kind: percent, value: 10, valid_from: 2026-01-01}\n"
                   "- {id: R2, kind: percent, value: 150, valid_from: 2026-01-01}\n", 2, "value", D("150")),
    ("rules.yaml", "- {id: R1, kind: discount, value: 10, valid_from: 2026-01-01}\n", 1, "kind", "discount"),
    ("rules.json", '[{"id": "R1", "kind": "amount_off", "value": 5.00, "valid_from": "2026-01-01"}]', 1, "currency", None),
    ("rules.csv", "id,kind,value,valid_from,valid_to\nR1,percent,10,2026-01-01,\nR2,percent,5,2026-02-30,\n", 2, "valid_from",
     "2026-02-30"),
    ("rules.csv", "id,kind,value,valid_from,valid_to\nR1,percent,10,2026-03-01,2026-02-01\n", 1, "valid_to", "2026-02-01"),
    ("rules.csv", "id,kind,value,valid_from,colour\nR1,percent,10,2026-03-01,red\n", 1, "colour", "red"),
    ("rules.yaml", "- {id: R1, kind: amount_off, value: 0.1234567, currency: EUR, valid_from: 2026-01-01}\n", 1, "value",
     D("0.1234567")),
    ("rules.yaml", "- {id: R1, kind: percent, value: 5, stacking: greedy, valid_from: 2026-01-01}\n", 1, "stacking", "greedy"),
])
def test_bad_rules_are_refused_with_file_row_field_value(tmp_path, name, text, row, field, value):
    with pytest.raises(RuleError) as e:
        load_rules(write(tmp_path, name, text))
    err = e.value
    assert (err.file, err.row, err.field, err.value) == (name, row, field, value)
    assert name in str(err) and f"row {row}" in str(err) and field in str(err)


@pytest.mark.parametrize(("text", "row", "field", "value"), [
    # tiers must rise
    ("- {id: L, currency: EUR, valid_from: 2026-01-01, entries: [{item: A, unit_price: 1, tiers: "
     "[{from_qty: 10, unit_price: 0.9}, {from_qty: 5, unit_price: 0.8}]}]}\n", 1, "entries[0].tiers[1].from_qty", D("5")),
    # a negative price
    ("- {id: L, currency: EUR, valid_from: 2026-01-01, entries: [{item: A, unit_price: 1}]}\n"
     "- {id: M, currency: EUR, valid_from: 2026-01-01, entries: [{item: A, unit_price: -1}]}\n", 2, "entries[0].unit_price", D("-1")),
    # an unknown currency
    ("- {id: L, currency: EURO, valid_from: 2026-01-01, entries: []}\n", 1, "currency", "EURO"),
    # yen prices have no cents... beyond 4 extra digits
    ("- {id: L, currency: JPY, valid_from: 2026-01-01, entries: [{item: A, unit_price: 100.00001}]}\n", 1, "entries[0].unit_price",
     D("100.00001")),
    # a term without a period
    ("- {id: L, currency: EUR, valid_from: 2026-01-01, entries: [{item: A, unit_price: 1, term: 12}]}\n", 1, "entries[0].period", None),
    # the same item twice
    ("- {id: L, currency: EUR, valid_from: 2026-01-01, entries: [{item: A, unit_price: 1}, {item: A, unit_price: 2}]}\n", 1,
     "entries[1].item", "A"),
])
def test_bad_price_lists_are_refused(tmp_path, text, row, field, value):
    with pytest.raises(RuleError) as e:
        load_price_lists(write(tmp_path, "price_lists.yaml", text))
    assert (e.value.file, e.value.row, e.value.field, e.value.value) == ("price_lists.yaml", row, field, value)


def test_price_list_csv_rows_of_one_version_must_agree(tmp_path):
    text = ("id,version,currency,valid_from,item,unit_price,tiers\nL,1,EUR,2026-01-01,A,1.00,10:0.90;50:0.80\n"
            "L,1,EUR,2026-02-01,B,2.00,\n")
    with pytest.raises(RuleError) as e:
        load_price_lists(write(tmp_path, "price_lists.csv", text))
    assert (e.value.row, e.value.field, e.value.value) == (2, "valid_from", "2026-02-01")
    ok = load_price_lists(write(tmp_path, "price_lists.csv", text.replace("2026-02-01", "2026-01-01")))
    assert [t.from_qty for t in ok[0].entries["A"].tiers] == [D(10), D(50)] and ok[0].entries["A"].tier_mode == "graduated"


def test_bad_tax_rates_are_refused(tmp_path):
    text = "country,region,tax_category,rate,valid_from\nDE,,standard,0.19,2026-01-01\nDEU,,standard,0.19,2026-01-01\n"
    with pytest.raises(RuleError) as e:
        load_tax_rates(write(tmp_path, "tax_rates.csv", text))
    assert (e.value.row, e.value.field, e.value.value) == (2, "country", "DEU")
    with pytest.raises(RuleError) as e:
        load_tax_rates(write(tmp_path, "tax_rates.csv", "country,tax_category,rate,valid_from\nDE,standard,19,2026-01-01\n"))
    assert (e.value.row, e.value.field, e.value.value) == (1, "rate", "19")


def test_book_level_refusals_name_the_file(tmp_path):
    write(tmp_path, "price_lists.yaml", "- {id: L, currency: EUR, valid_from: 2026-01-01, entries: []}\n")
    write(tmp_path, "assignments.csv", "kind,key,price_list\ndefault,,NOPE\n")
    with pytest.raises(RuleError) as e:
        load_book(tmp_path)
    assert (e.value.file, e.value.field, e.value.value) == ("assignments.csv", "price_list", "NOPE")
    write(tmp_path, "assignments.csv", "kind,key,price_list\nsegment,,L\n")
    with pytest.raises(RuleError) as e:
        load_book(tmp_path)
    assert (e.value.file, e.value.row, e.value.field) == ("assignments.csv", 1, "key")
    (tmp_path / "assignments.csv").unlink()
    write(tmp_path, "rules.yaml", "- {id: R, kind: percent, value: 1, valid_from: 2026-01-01}\n"
                                  "- {id: R, kind: percent, value: 2, valid_from: 2026-01-01}\n")
    with pytest.raises(RuleError) as e:
        load_book(tmp_path)
    assert (e.value.file, e.value.field, e.value.value) == ("rules.yaml", "rules", "R@1")


def test_unparseable_and_unknown_files(tmp_path):
    with pytest.raises(RuleError) as e:
        load_rules(write(tmp_path, "rules.yaml", "- {id: R1, kind: [\n"))
    assert e.value.file == "rules.yaml" and e.value.row is None
    with pytest.raises(RuleError) as e:
        load_rules(write(tmp_path, "rules.txt", ""))
    assert e.value.value == ".txt"


def test_every_rule_record_round_trips_through_its_data_form():
    from pricing import Assignment, PriceList, Rule, TaxRate

    book = load_book(EXAMPLES, catalogue=CAT)
    for pl_ in book.price_lists:
        assert PriceList.from_dict(pl_.to_dict()) == pl_
    for r in book.rules:
        assert Rule.from_dict(r.to_dict()) == r
    for t in book.tax_rates:
        assert TaxRate.from_dict(t.to_dict()) == t
    for a in book.assignments:
        assert Assignment.from_dict(a.to_dict()) == a
    assert any(e.recurring for p in book.price_lists for e in p.entries.values())
    assert any(e.tiers for p in book.price_lists for e in p.entries.values())


def test_a_rule_posted_later_makes_a_new_book_that_prices_with_it():
    from pricing import Rule

    book = load_book(EXAMPLES, catalogue=CAT)
    plain = Party("C-NEW", (), "b2b")
    req = OrderRequest.build("O2", plain, [("1", "SCREW", 4)], country="DE")
    assert price_order(book, req, on=dt.date(2026, 2, 15)).line("1").adjustments == ()
    posted = Rule.from_dict({"id": "HW-SUMMER", "kind": "percent", "value": "25", "categories": ["hardware"],
                             "valid_from": "2026-02-01"})
    book2 = book.replace(rules=[*book.rules, posted])
    # 4 screws at 0.50 = 2.00, 25 % off = -0.50
    assert [(a.rule, str(a.amount.amount)) for a in price_order(book2, req, on=dt.date(2026, 2, 15)).line("1").adjustments] == [
        ("HW-SUMMER@1", "-0.50")]
    with pytest.raises(ValidationError, match="same id and version"):
        book2.replace(rules=[*book2.rules, posted])
