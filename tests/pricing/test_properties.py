"""Property tests on random books and orders (bounded examples): the waterfall adds up, the order total is
the sum of the line totals, stackable discounts never make a price negative, and the batch pricer equals the
one-order pricer line by line, in currencies with 0, 2 and 3 minor digits."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricing import (
    Assignment,
    Catalogue,
    CatalogueItem,
    Party,
    PriceBook,
    PriceEntry,
    PriceList,
    Recurring,
    Rule,
    TaxRate,
    Tier,
    price_batch,
    price_order,
)
from pricing.testing import requests_from_frame
from promessa.money import minor_unit

JAN = dt.date(2026, 1, 1)
ON = dt.date(2026, 1, 20)
CATS = ("a", "b", "c")


@st.composite
def books(draw, *, stackable_only: bool = False):
    cur = draw(st.sampled_from(["EUR", "JPY", "KWD"]))
    mu = minor_unit(cur)
    n_items = draw(st.integers(1, 5))
    price = st.builds(lambda n, p: D(n).scaleb(-p), st.integers(0, 10**6), st.integers(0, mu + 2))
    entries = {}
    items = []
    for k in range(n_items):
        item = f"I{k}"
        items.append(CatalogueItem(item, CATS[k % 3], "x" if k % 2 else "y"))
        mode = draw(st.sampled_from(["none", "graduated", "volume"]))
        tiers = ()
        if mode != "none":
            froms = sorted(set(draw(st.lists(st.integers(1, 100), min_size=1, max_size=3))))
            tiers = tuple(Tier(D(f), draw(price)) for f in froms)
        rec = draw(st.sampled_from([None, Recurring("monthly", 12), Recurring("yearly", 2, prorate=False)]))
        entries[item] = PriceEntry(item, draw(price), mode, tiers, rec)
    incl = draw(st.booleans())
    rules = []
    for r in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["percent", "amount_off", "fixed_price"]))
        value = D(draw(st.integers(1, 10000))).scaleb(-2) if kind == "percent" else draw(price)
        if kind == "amount_off" and value == 0:
            value = D(1)
        cond = draw(st.sampled_from([{}, {"categories": frozenset({"a"})}, {"brands": frozenset({"x"})},
                                     {"segments": frozenset({"gold"})}, {"min_order_total": D(draw(st.integers(0, 10**5)))}]))
        rules.append(Rule(f"R{r}", kind, value, JAN, None, 1,
                          "stackable" if stackable_only else draw(st.sampled_from(["stackable", "exclusive"])),
                          draw(st.integers(1, 5)), cur if kind != "percent" or "min_order_total" in cond else None, **cond))
    rate = D(draw(st.integers(0, 2500))).scaleb(-4)
    book = PriceBook(price_lists=[PriceList("L", 1, cur, JAN, None, incl, entries)], assignments=[Assignment("default", "", "L")],
                     rules=rules, tax_rates=[TaxRate("DE", "", "standard", rate, JAN)],
                     catalogue=Catalogue(cur, items), catalogue_prices=False)
    return book, cur


@st.composite
def frames(draw, book):
    items = sorted(book.catalogue)
    rows = []
    for o in range(draw(st.integers(1, 4))):
        cust = draw(st.sampled_from(["P", "G"]))
        for _ in range(draw(st.integers(1, 5))):
            qty = draw(st.integers(1, 150)) + draw(st.sampled_from([0, 0, 0.5, 0.125, 0.001]))
            start = ON + dt.timedelta(days=draw(st.integers(-30, 60)))
            rows.append({"order": f"O{o}", "customer": cust, "country": "DE", "item": draw(st.sampled_from(items)),
                         "qty": float(qty), "service_start": start})
    return pl.DataFrame(rows)


PARTIES = {"P": Party("P"), "G": Party("G", ("gold",))}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_waterfalls_add_up_and_the_batch_equals_one_by_one(data):
    check_against_batch(data)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_waterfalls_add_up_and_the_batch_equals_one_by_one_many(data):
    check_against_batch(data)


def check_against_batch(data):
    book, cur = data.draw(books())
    frame = data.draw(frames(book))
    mu = minor_unit(cur)
    batch = price_batch(book, frame, PARTIES, on=ON, currency=cur)
    rows = iter(batch.lines.iter_rows(named=True))
    for req in requests_from_frame(frame, PARTIES, currency=cur):
        p = price_order(book, req, on=ON)
        # the order total is the sum of the line totals, and so for net and tax
        assert p.total.amount == sum((w.total.amount for w in p.lines), D(0))
        assert p.net.amount + p.tax.amount == p.total.amount
        for w in p.lines:
            assert w.list_amount.amount + sum((a.amount.amount for a in w.adjustments), D(0)) == w.subtotal.amount
            assert w.net.amount + w.tax.amount == w.total.amount
            assert w.net.amount >= 0 and w.tax.amount >= 0
            for m in (w.list_amount, w.subtotal, w.net, w.tax, w.total):
                assert m.amount == m.rounded().amount
            b = next(rows)
            adj = {"tier": 0, "rule": 0, "proration": 0}
            for a in w.adjustments:
                adj[a.kind] += int(a.amount.amount.scaleb(mu))
            got = (b["list_amount"], b["tier_adjustment"], b["rule_adjustment"], b["proration_adjustment"], b["net"], b["tax"],
                   b["total"], b["rules_applied"])
            want = (int(w.list_amount.amount.scaleb(mu)), adj["tier"], adj["rule"], adj["proration"], int(w.net.amount.scaleb(mu)),
                    int(w.tax.amount.scaleb(mu)), int(w.total.amount.scaleb(mu)), sum(a.kind == "rule" for a in w.adjustments))
            assert got == want, (req.order, w.line)
        o = batch.orders.filter(pl.col("order") == req.order).row(0, named=True)
        assert o["total"] == int(p.total.amount.scaleb(mu))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_stackable_discounts_never_make_a_net_price_negative(data):
    book, cur = data.draw(books(stackable_only=True))
    frame = data.draw(frames(book))
    for req in requests_from_frame(frame, PARTIES, currency=cur):
        for w in price_order(book, req, on=ON).lines:
            running = w.list_amount.amount
            for a in w.adjustments:
                running += a.amount.amount
                assert running >= 0
            assert w.net.amount >= 0
