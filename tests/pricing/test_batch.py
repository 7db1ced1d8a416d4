"""The batch pricer on stories: the same answers as the one-order pricer, integer minor units, the exact
fallback for amounts beyond int64, and refusals that name the field and the value."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import polars as pl
import pytest

from pricing import (
    Assignment,
    Catalogue,
    CatalogueItem,
    Party,
    PriceBook,
    PriceEntry,
    PriceList,
    TaxRate,
    price_batch,
    price_order,
)
from pricing.batch import round_div
from pricing.testing import requests_from_frame, sample_book, sample_lines, sample_parties
from promessa.errors import ValidationError

JAN = dt.date(2026, 1, 1)
ON = dt.date(2026, 1, 20)


def test_round_div_is_half_up_on_the_exact_quotient():
    import numpy as np
    n = np.array([0, 4, 5, 6, 14, 15, 25, 10**18 + 5], dtype=np.int64)
    assert round_div(n, 10).tolist() == [0, 0, 1, 1, 1, 2, 3, 10**17 + 1]
    assert round_div(np.array([1, 2, 3], dtype=np.int64), 3).tolist() == [0, 1, 1]   # 1/3, 2/3, 3/3


def test_sample_orders_batch_equals_one_by_one():
    book = sample_book(n_items=60, seed=11)
    parties = sample_parties(40, seed=11)
    frame = sample_lines(book, parties, n_lines=400, seed=11)
    batch = price_batch(book, frame, parties, on=ON, currency="EUR")
    assert batch.fallback_orders == 0 and batch.lines.height == 400
    got = list(batch.lines.select("price_list", "net", "tax", "total").iter_rows())
    want = []
    for req in requests_from_frame(frame, parties, currency="EUR"):
        for w in price_order(book, req, on=ON).lines:
            want.append((w.price_list, int(w.net.amount * 100), int(w.tax.amount * 100), int(w.total.amount * 100)))
    assert got == want
    assert batch.orders["total"].sum() == batch.lines["total"].sum()
    assert batch.decimal(12345) == D("123.45")


def test_amounts_beyond_int64_go_to_the_exact_pricer():
    # a 9,000,000,000.00 EUR item x 1000.5 units: unit x qty in 1e-4 cents x 1e-3 units would leave int64
    lst = PriceList("L", 1, "EUR", JAN, None, False, {"BIG": PriceEntry("BIG", D("9000000000.00")),
                                                      "SMALL": PriceEntry("SMALL", D("1.25"))})
    book = PriceBook(price_lists=[lst], assignments=[Assignment("default", "", "L")],
                     tax_rates=[TaxRate("DE", "", "standard", D("0.19"), JAN)],
                     catalogue=Catalogue("EUR", [CatalogueItem("BIG"), CatalogueItem("SMALL")]), catalogue_prices=False)
    frame = pl.DataFrame({"order": ["A", "A", "B"], "customer": ["P", "P", "P"], "country": ["DE"] * 3,
                          "item": ["BIG", "SMALL", "SMALL"], "qty": [1000.5, 3.0, 2.0]})
    b = price_batch(book, frame, {"P": Party("P")}, on=ON, currency="EUR")
    assert b.fallback_orders == 1
    # 9e9 x 1000.5 = 9,004,500,000,000.00 EUR = 900,450,000,000,000 cents; VAT 19 %
    assert b.lines["net"].to_list() == [900_450_000_000_000, 375, 250]
    assert b.lines["tax"].to_list() == [171_085_500_000_000, 71, 48]
    assert b.orders["total"].to_list() == [900_450_000_000_000 + 171_085_500_000_000 + 375 + 71, 298]


def test_batch_refusals_name_the_field_and_value():
    book = sample_book(n_items=10, seed=1)
    parties = sample_parties(5, seed=1)
    frame = pl.DataFrame({"order": ["A"], "customer": ["C0001"], "country": ["DE"], "item": ["I000001"], "qty": [1.0005]})
    with pytest.raises(ValidationError) as e:
        price_batch(book, frame, parties, on=ON, currency="EUR")
    assert (e.value.field, e.value.value) == ("qty", 1.0005)
    with pytest.raises(ValidationError) as e:
        price_batch(book, frame.with_columns(qty=pl.lit(0.0)), parties, on=ON, currency="EUR")
    assert e.value.field == "qty"
    with pytest.raises(ValidationError) as e:
        price_batch(book, frame.with_columns(qty=pl.lit(1.0), customer=pl.lit("NOBODY")), parties, on=ON, currency="EUR")
    assert (e.value.field, e.value.value) == ("customer", "NOBODY")
    with pytest.raises(ValidationError) as e:
        price_batch(book, frame.with_columns(qty=pl.lit(1.0), item=pl.lit("NOPE")), parties, on=ON, currency="EUR")
    assert (e.value.field, e.value.value) == ("item", "NOPE")
    with pytest.raises(ValidationError) as e:
        price_batch(book, frame.with_columns(qty=pl.lit(1.0), country=pl.lit("FR")), parties, on=ON, currency="EUR")
    assert (e.value.field, e.value.value) == ("country", "FR")
    with pytest.raises(ValidationError) as e:
        price_batch(book, frame.drop("country"), parties, on=ON, currency="EUR")
    assert e.value.field == "country"


def test_lines_are_numbered_within_their_order_when_the_frame_has_no_line_column():
    book = sample_book(n_items=10, seed=1)
    parties = sample_parties(5, seed=1)
    frame = pl.DataFrame({"order": ["A", "A", "B", "A"], "customer": ["C0002"] * 4, "country": ["DE"] * 4,
                          "item": ["I000001", "I000002", "I000001", "I000004"], "qty": [1, 2, 3, 4]})
    b = price_batch(book, frame, parties, on=ON, currency="EUR")
    assert b.lines["line"].to_list() == ["1", "2", "1", "3"]


def test_codes_stay_exact_when_hashes_collide(monkeypatch):
    from pricing import batch as batch_mod

    s = pl.Series("item", ["B", "A", "B", "C"])
    assert batch_mod._codes(s, "item") == (["B", "A", "C"], pytest.approx([0, 1, 0, 2]))
    # every value hashing alike: the distinct values no longer match the rows, so codes come from the values
    monkeypatch.setattr(pl.Series, "hash", lambda self, seed=0: pl.Series([7] * len(self), dtype=pl.UInt64))
    uniq, codes = batch_mod._codes(s, "item")
    assert uniq == ["B", "A", "C"] and codes.tolist() == [0, 1, 0, 2]


def test_service_lines_without_a_start_begin_on_the_pricing_day():
    book = sample_book(n_items=30, seed=5)
    parties = sample_parties(5, seed=5)
    services = [i for i, a in book.catalogue.items() if a.category == "service"][:4]
    frame = pl.DataFrame({"order": ["A", "A", "B", "B"], "customer": ["C0001", "C0001", "C0003", "C0003"], "country": ["DE"] * 4,
                          "item": services, "qty": [1.0, 2.0, 3.0, 1.0],
                          "service_start": pl.Series([None, dt.date(2026, 2, 10), None, dt.date(2026, 1, 1)], dtype=pl.Date)})
    for f in (frame, frame.drop("service_start").with_columns(service_start=pl.lit(None, dtype=pl.Date))):
        b = price_batch(book, f, parties, on=ON, currency="EUR")
        want = [int(w.total.amount * 100) for req in requests_from_frame(f, parties, currency="EUR")
                for w in price_order(book, req, on=ON).lines]
        assert b.lines["total"].to_list() == want
    assert (price_batch(book, frame.drop("service_start"), parties, on=ON, currency="EUR").lines["total"].to_list()
            == price_batch(book, frame.with_columns(service_start=pl.lit(ON)), parties, on=ON, currency="EUR").lines["total"].to_list())
    assert (b.lines["proration_adjustment"] != 0).any()


def test_rows_of_one_order_must_agree_on_customer_and_destination():
    book = sample_book(n_items=10, seed=1)
    parties = sample_parties(5, seed=1)
    frame = pl.DataFrame({"order": ["A", "A"], "customer": ["C0001", "C0002"], "country": ["DE", "DE"], "item": ["I000001"] * 2,
                          "qty": [1, 1]})
    with pytest.raises(ValidationError) as e:
        price_batch(book, frame, parties, on=ON, currency="EUR")
    assert (e.value.field, e.value.value) == ("customer", "C0002")
    with pytest.raises(ValidationError) as e:
        price_batch(book, frame.with_columns(customer=pl.lit("C0001"), country=pl.Series(["DE", "US"])), parties, on=ON,
                    currency="EUR")
    assert (e.value.field, e.value.value) == ("country", "US/")
