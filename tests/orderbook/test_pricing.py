"""Pricing in the order book: exact waterfalls stored with the order, the freeze policy, the Money-aware
approval threshold, durable catalogue changes retired by an extract, and the write undone with its catalogue.

Story: item A at DC1, 100 on hand, catalogue price 10 (the snapshot's float, read exactly) in EUR; no rules
directory (catalogue prices, no tax rates: no tax) unless a test posts some. Business day: the snapshot's as_of.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from promessa_testing import AS_OF, day

from orderbook.commerce import Commerce
from orderbook.records import Line, Order
from orderbook.schemas import OrderChange, OrderCreate
from orderbook.service import OrderService
from orderbook.store import open_store
from pricing import PriceBook, TaxRate
from promessa.config import settings_of
from promessa.errors import ConflictError, ValidationError
from supplydata import load_snapshot
from supplydata.writer import write_snapshot


@pytest.fixture
def open_book(order_book_db):
    """open_book(snap, **settings) -> a service over this test's order book (call again: a restart)."""
    url, schema = order_book_db
    opened = []

    def _open(snap, commerce=None, **kw):
        store = open_store(url, pg_schema=schema)
        settings = settings_of(**{"approval_value_threshold": None, **kw})
        svc = OrderService(snap, store, settings, commerce=commerce)
        opened.append(svc)
        return svc

    yield _open
    for svc in opened:
        svc.close()
        svc.store.close()


def capture(svc, qty, *, customer="C1", unit_price=None, **kw):
    ln = {"item": "A", "qty": qty, "requested_date": day(1).isoformat(), "location": "DC1"}
    if unit_price is not None:
        ln["unit_price"] = unit_price
    status, text, _ = svc.capture(OrderCreate.model_validate({"customer": customer, "lines": [ln], **kw}), actor="key:cap")
    assert status == 201
    return json.loads(text)


def eur(amount):
    return {"amount": amount, "currency": "EUR"}


def test_the_order_stores_exact_amounts_and_replays_them(make_snapshot, open_book):
    """3 x A at 10.00 = 30.00, no tax configured: net = total = 30.00; the order's value is that net, exact,
    and a restart reads the same typed records back."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 100)])
    svc = open_book(snap)
    o = capture(svc, 3)
    assert o["value"] == eur("30.00") and o["totals"]["total"] == eur("30.00")
    order = svc.orders[o["order_id"]]
    assert order.value.amount == Decimal("30.00") and order.lines[0].waterfall.net.amount == Decimal("30.00")
    again = open_book(snap)
    assert again.orders[o["order_id"]].totals == order.totals
    assert again.orders[o["order_id"]].lines[0].waterfall == order.lines[0].waterfall


def test_a_document_written_with_a_float_unit_price_is_read_exactly():
    ln = Line.from_dict({"line": 1, "item": "A", "qty": 1.0, "requested_date": "2026-01-06", "unit_price": 1112.8000000000002})
    assert ln.unit_price == Decimal("1112.8000000000002")
    doc = Order(order_id="X", customer="C", status="scheduled", lines=[ln]).to_dict()
    assert doc["lines"][0]["unit_price"] == "1112.8000000000002" and doc["totals"] is None


def test_the_approval_threshold_is_an_amount_in_a_currency(make_snapshot, open_book):
    """Threshold 25.00 EUR (the catalogue's currency): 3 x 10.00 = 30.00 EUR is held, 2 x 10.00 = 20.00 is not.
    A customer priced by a GBP list (A at 8.00): 3 x 8.00 = 24.00 GBP is not compared with the EUR threshold;
    a GBP threshold of 20.00 holds it."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 100)])
    svc = open_book(snap, approval_value_threshold="25.00")
    held = capture(svc, 3)
    assert held["status"] == "on_hold" and held["holds"][0]["code"] == "value_threshold"
    assert held["holds"][0]["figures"] == {"value": eur("30.00"), "threshold": eur("25.00")}
    assert capture(svc, 2)["status"] == "scheduled"
    svc.post_pricing("price_list", {"id": "GB", "version": 1, "currency": "GBP", "valid_from": "2026-01-01",
                                    "entries": [{"item": "A", "unit_price": "8.00"}]}, actor="k")
    svc.post_pricing("assignment", {"kind": "customer", "key": "C-UK", "price_list": "GB"}, actor="k")
    uk = capture(svc, 3, customer="C-UK")
    assert uk["status"] == "scheduled" and uk["value"] == {"amount": "24.00", "currency": "GBP"}
    svc.settings.orders.approval_thresholds = {"GBP": Decimal("20.00")}
    uk = capture(svc, 3, customer="C-UK")
    assert uk["status"] == "on_hold" and uk["holds"][0]["figures"]["threshold"] == {"amount": "20.00", "currency": "GBP"}


def test_a_typed_unit_price_is_an_override_only_when_it_differs(make_snapshot, open_book):
    snap = make_snapshot(supply=[("A", "DC1", 0, 100)])
    svc = open_book(snap)
    same = capture(svc, 2, unit_price="10.000")
    assert same["status"] == "scheduled" and same["lines"][0]["price_override"] is False
    o = capture(svc, 2, unit_price="7.25")
    assert o["status"] == "on_hold" and o["holds"][0]["code"] == "price_override"
    wf = o["lines"][0]["waterfall"]
    assert [(a["kind"], a["amount"]) for a in wf["adjustments"]] == [("manual", eur("-5.50"))]  # 20.00 -> 14.50
    assert o["value"] == eur("14.50") and o["lines"][0]["unit_price"] == eur("7.25")


@pytest.mark.parametrize("freeze", ["confirm", "never"])
def test_the_freeze_policy(make_snapshot, open_book, freeze):
    """An order of 1 A and 2 A (lines 1, 2) is confirmed at 10.00 a unit (30.00). Then A's catalogue price drops to
    9.00 (no effective day: in force on every day) and line 2's date changes. Freeze ``confirm``: line 1 keeps its
    frozen 10.00, line 2 (changed) is priced again on the order's pricing day: 18.00; value 28.00. Freeze
    ``never``: the whole order is priced again: 9.00 + 18.00 = 27.00."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 100)])
    svc = open_book(snap, freeze=freeze)
    body = {"customer": "C1", "lines": [{"item": "A", "qty": q, "requested_date": day(1).isoformat(), "location": "DC1"}
                                        for q in (1, 2)]}
    o = json.loads(svc.capture(OrderCreate.model_validate(body), actor="k")[1])
    assert o["totals"]["frozen"] is (freeze == "confirm") and o["value"] == eur("30.00")
    svc.apply_catalogue_changes([{"id": "P1", "kind": "price_change", "item": "A", "price": "9.00", "currency": "EUR"}],
                                actor="k")
    r = json.loads(svc.change(o["order_id"], OrderChange.model_validate(
        {"lines": [{"line": 2, "requested_date": day(2).isoformat()}]}), actor="k")[1])
    assert r["lines"][1]["waterfall"]["net"] == eur("18.00")
    assert r["lines"][0]["waterfall"]["net"] == eur("10.00" if freeze == "confirm" else "9.00")
    assert r["value"] == eur("28.00" if freeze == "confirm" else "27.00")


def test_catalogue_changes_are_replayed_and_retired_by_an_extract_that_carries_them(make_snapshot, open_book, tmp_path):
    """A price change to 12.50 (seq 1) prices the next order; after a restart it still does. The next extract,
    with journal_seq 1, carries it (its items table says 11.00): the change is retired and the extract's
    price is used, also after a restart on it."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 100)])
    svc = open_book(snap)
    live = svc.attach_live()
    status, text, _ = svc.apply_catalogue_changes(
        [{"id": "P1", "kind": "price_change", "item": "A", "price": "12.50", "currency": "EUR"}], actor="key:plan")
    assert status == 200 and json.loads(text)["changes"][0]["seq"] == 1
    assert capture(svc, 1)["value"] == eur("12.50")
    assert open_book(snap).catalogue_item("A")["price"] == eur("12.50")  # restart: replayed
    with pytest.raises(ConflictError):
        svc.apply_catalogue_changes([{"id": "P1", "kind": "price_change", "item": "A", "price": "1", "currency": "EUR"}],
                                    actor="k")
    extract = write_snapshot(tmp_path / "next", {
        "items": [{"item": "A", "price": 11.0, "cost": 6.0, "category": "c"}],
        "locations": [{"location": "DC1", "kind": "dc", "zone": "Z1"}],
        "supply": [{"item": "A", "location": "DC1", "date": AS_OF, "qty": 100.0, "kind": "onhand", "ref": "R0"}],
    }, as_of=AS_OF, horizon_days=30, journal_seq=(extract_seq := svc.seq))
    live.refresh(extract)
    assert [(e.seq, e.retired_seq) for e in svc.store.catalogue_changes()] == [(1, extract_seq)]
    assert capture(svc, 1)["value"] == eur("11.00")
    assert capture(open_book(load_snapshot(extract)), 1)["value"] == eur("11.00")


def test_a_bad_catalogue_change_is_refused_whole(make_snapshot, open_book):
    snap = make_snapshot(supply=[("A", "DC1", 0, 100)])
    svc = open_book(snap)
    with pytest.raises(ValidationError) as e:
        svc.apply_catalogue_changes([
            {"id": "N1", "kind": "new_item", "item": "B", "price": "5.00", "currency": "EUR"},
            {"id": "N2", "kind": "price_change", "item": "NOPE", "price": "5.00", "currency": "EUR"}], actor="k")
    assert (e.value.field, e.value.value) == ("changes.1.item", "NOPE")
    assert svc.commerce.changes == () and svc.store.catalogue_changes() == [] and svc.seq == 0


def test_a_failed_write_undoes_the_rule_it_added(make_snapshot, open_book, monkeypatch):
    """The store refuses the write: the rule posted is not in the book afterwards (memory never keeps what the
    order book does not have)."""
    from orderbook.txn import StoreUnavailable

    snap = make_snapshot(supply=[("A", "DC1", 0, 100)])
    svc = open_book(snap, group_commit=False)
    before = svc.commerce.book

    def boom(ws):
        raise OSError("disk full")

    monkeypatch.setattr(svc.store, "apply", boom)
    with pytest.raises(StoreUnavailable):
        svc.post_pricing("rule", {"id": "R", "version": 1, "kind": "percent", "value": "10", "valid_from": "2026-01-01"},
                         actor="k")
    assert svc.commerce.book is before and svc.commerce.records == ()


def test_tax_rates_from_the_book_and_the_destination(make_snapshot, open_book):
    """One German standard rate of 19 %: 3 x 10.00 = 30.00 + 5.70 = 35.70 for a DE ship-to; without a country
    the order is refused naming ship_to.country (with tax rates configured a destination is needed)."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 100)])
    book = PriceBook(tax_rates=[TaxRate.from_dict({"country": "DE", "tax_category": "standard", "rate": "0.19",
                                                   "valid_from": "2026-01-01"})])
    settings = settings_of(approval_value_threshold=None)
    svc = open_book(snap, commerce=Commerce(settings, book=book))
    o = capture(svc, 3, ship_to={"country": "de"})
    assert (o["totals"]["net"], o["totals"]["tax"], o["totals"]["total"]) == (eur("30.00"), eur("5.70"), eur("35.70"))
    with pytest.raises(ValidationError) as e:
        capture(svc, 3)
    assert e.value.field == "ship_to.country"
