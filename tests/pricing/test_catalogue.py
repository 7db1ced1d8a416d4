"""Catalogue maintenance: typed changes over the snapshot's catalogue, seen by the next priced order."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from pathlib import Path

import polars as pl
import pytest

from pricing import (
    Catalogue,
    CatalogueChange,
    OrderRequest,
    Party,
    PriceBook,
    RuleError,
    TaxRate,
    apply_changes,
    load_catalogue_changes,
    price_order,
)
from promessa.errors import ValidationError

ON = dt.date(2026, 1, 20)
TAX = [TaxRate("DE", "", "standard", D("0.19"), dt.date(2026, 1, 1)), TaxRate("DE", "", "reduced", D("0.07"), dt.date(2026, 1, 1))]
EXAMPLES = Path(__file__).resolve().parents[2] / "pricing" / "examples"


def base() -> Catalogue:
    # the snapshot's items table: float prices, the float artefact 1112.8000000000002 included
    items = pl.DataFrame({"item": ["CHAIR", "PAPER", "DESK"], "category": ["furniture", "office", "furniture"],
                          "brand": ["nordform", "papyr", "nordform"], "price": [100.0, 5.0, 1112.8000000000002],
                          "cost": [60.0, 2.5, None]})
    return Catalogue.from_items_frame(items, currency="EUR")


def price(cat: Catalogue, *lines):
    book = PriceBook(tax_rates=TAX, catalogue=cat)
    req = OrderRequest.build("O", Party("C1"), [(str(i + 1), it, q) for i, (it, q) in enumerate(lines)], country="DE")
    return price_order(book, req, on=ON)


def test_catalogue_prices_from_the_snapshot_are_exact_cents():
    cat = base()
    assert cat["DESK"].price == D("1112.80") and cat["CHAIR"].price == D("100.00") and cat["DESK"].cost is None
    p = price(cat, ("DESK", 1))
    assert p.line("1").price_list == "catalogue@1" and p.line("1").net.amount == D("1112.80")


def test_a_new_item_posted_is_priced_by_the_next_order():
    cat = base()
    with pytest.raises(ValidationError):
        price(cat, ("LAMP", 2))
    ch = CatalogueChange.from_dict({"id": "CH-1", "kind": "new_item", "item": "LAMP", "price": "45.00", "currency": "EUR",
                                    "category": "lighting", "brand": "lux"})
    cat2 = apply_changes(cat, [ch])
    assert "LAMP" not in cat  # the base is not changed: an overlay
    # 2 x 45.00 = 90.00 + 19 % = 107.10
    assert price(cat2, ("LAMP", 2)).total.amount == D("107.10")
    assert cat2["LAMP"].category == "lighting"


def test_price_and_attribute_changes_overlay_the_base():
    cat = apply_changes(base(), [
        CatalogueChange.from_dict({"id": "CH-2", "kind": "price_change", "item": "CHAIR", "price": "95.50", "currency": "EUR"}),
        CatalogueChange.from_dict({"id": "CH-3", "kind": "attribute_change", "item": "PAPER", "tax_category": "reduced"}),
    ])
    p = price(cat, ("CHAIR", 2), ("PAPER", 10))
    # 191.00 + 19 % = 227.29; paper 50.00 now at 7 % = 53.50
    assert [str(w.total.amount) for w in p.lines] == ["227.29", "53.50"]
    assert cat["CHAIR"].category == "furniture"  # other attributes kept


def test_changes_with_a_later_effective_day_wait_for_it():
    ch = CatalogueChange.from_dict({"id": "CH-4", "kind": "price_change", "item": "CHAIR", "price": "80", "currency": "EUR",
                                    "effective": "2026-02-01"})
    assert apply_changes(base(), [ch], on=ON)["CHAIR"].price == D("100.00")
    assert apply_changes(base(), [ch], on=dt.date(2026, 2, 1))["CHAIR"].price == D("80")


@pytest.mark.parametrize(("raw", "field", "value"), [
    ({"id": "X", "kind": "rename", "item": "A"}, "kind", "rename"),
    ({"id": "X", "kind": "price_change", "item": "A"}, "price", None),
    ({"id": "X", "kind": "price_change", "item": "A", "price": "1.00"}, "currency", None),
    ({"id": "X", "kind": "price_change", "item": "A", "price": "-1.00", "currency": "EUR"}, "price", "-1.00"),
    ({"id": "X", "kind": "attribute_change", "item": "A"}, "attributes", None),
    ({"id": "X", "kind": "attribute_change", "item": "A", "attributes": {"colour": "red"}}, "attributes.colour", "red"),
    ({"id": "X", "kind": "attribute_change", "item": "A", "price": "3", "brand": "b"}, "price", "3"),
])
def test_bad_changes_are_refused_naming_field_and_value(raw, field, value):
    with pytest.raises(ValidationError) as e:
        CatalogueChange.from_dict(raw)
    assert (e.value.field, e.value.value) == (field, value)


def test_changes_that_do_not_fit_the_catalogue_are_refused():
    with pytest.raises(ValidationError) as e:
        apply_changes(base(), [CatalogueChange("C1", "new_item", "CHAIR", D("1"), "EUR")])
    assert (e.value.field, e.value.value) == ("item", "CHAIR")
    with pytest.raises(ValidationError) as e:
        apply_changes(base(), [CatalogueChange("C2", "price_change", "NOPE", D("1"), "EUR")])
    assert (e.value.field, e.value.value) == ("item", "NOPE")
    with pytest.raises(ValidationError) as e:
        apply_changes(base(), [CatalogueChange("C3", "price_change", "CHAIR", D("1"), "USD")])
    assert (e.value.field, e.value.value) == ("currency", "USD")


def test_change_files_load_and_bad_rows_name_file_and_row(tmp_path):
    changes = load_catalogue_changes(EXAMPLES / "catalogue_changes.json")
    assert [c.kind for c in changes] == ["new_item", "price_change", "attribute_change"]
    assert CatalogueChange.from_dict(changes[0].to_dict()) == changes[0]
    p = tmp_path / "changes.csv"
    p.write_text("id,kind,item,price,currency\nA,new_item,LAMP,45.00,EUR\nB,price_change,CHAIR,abc,EUR\n")
    with pytest.raises(RuleError) as e:
        load_catalogue_changes(p)
    assert (e.value.file, e.value.row, e.value.field, e.value.value) == ("changes.csv", 2, "price", "abc")
