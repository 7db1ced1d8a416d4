"""Reports over the order book of conftest.py, with hand-computed answers.

Lines (cancelled G left out), revenue = qty x catalogue price (WIDGET 10, GADGET 100, BOLT 1):
A 4 WIDGET 40 | B 10 WIDGET 100 | C 4 GADGET 400 + 5 BOLT 5 | D 10 GADGET 1000 | E 2 WIDGET 20 |
F 1 BOLT 1; total 1566 and 36 units.
Order days: 01-05 A, B; 01-06 C, D; 01-07 E, F.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from monitoring.frames import from_orders_frame
from monitoring.reports import Window, all_reports, report, to_records


def top(frames, catalogue, kind, metric="revenue", n=10, window=None):
    df = report(frames.lines, catalogue, kind, metric=metric, top=n, window=window)
    return [(r[0], r[1], r[2]) for r in df.select(df.columns[0], "revenue", "units").iter_rows()]


def test_top_products_customers_orders(frames, catalogue, letters):
    assert top(frames, catalogue, "products") == [("GADGET", 1400.0, 14.0), ("WIDGET", 160.0, 16.0), ("BOLT", 6.0, 6.0)]
    assert top(frames, catalogue, "products", "units") == [("WIDGET", 160.0, 16.0), ("GADGET", 1400.0, 14.0),
                                                           ("BOLT", 6.0, 6.0)]
    # C3: D 1000 + F 1; C1: A 40 + C 405; C2: B 100 + E 20
    assert top(frames, catalogue, "customers") == [("C3", 1001.0, 11.0), ("C1", 445.0, 13.0), ("C2", 120.0, 12.0)]
    assert top(frames, catalogue, "customers", "units", n=1) == [("C1", 445.0, 13.0)]
    orders = top(frames, catalogue, "orders", n=3)
    assert [(letters[o], r) for o, r, _ in orders] == [("D", 1000.0), ("C", 405.0), ("B", 100.0)]


def test_top_zones_countries_brands_categories_channels_days(frames, catalogue):
    assert top(frames, catalogue, "zones") == [("EAST", 1160.0, 26.0), ("WEST", 406.0, 10.0)]
    assert top(frames, catalogue, "countries") == [("US", 1160.0, 26.0), ("CA", 406.0, 10.0)]
    assert top(frames, catalogue, "brands") == [("zeta", 1400.0, 14.0), ("acme", 166.0, 22.0)]
    assert top(frames, catalogue, "categories", "units") == [("tools", 166.0, 22.0), ("toys", 1400.0, 14.0)]
    assert top(frames, catalogue, "channels") == [("key_account", 1000.0, 10.0), ("online", 446.0, 14.0),
                                                  ("retail", 120.0, 12.0)]
    assert top(frames, catalogue, "days") == [(dt.date(2026, 1, 6), 1405.0, 19.0), (dt.date(2026, 1, 5), 140.0, 14.0),
                                              (dt.date(2026, 1, 7), 21.0, 3.0)]


def test_share_lines_orders(frames, catalogue):
    df = report(frames.lines, catalogue, "customers")
    r = df.row(0, named=True)
    assert (r["lines"], r["orders"]) == (2, 2)
    assert r["share"] == pytest.approx(1001 / 1566)
    assert df["share"].sum() == pytest.approx(1.0)


def test_date_range(frames, catalogue):
    w = Window(dt.date(2026, 1, 6), dt.date(2026, 1, 6))
    assert top(frames, catalogue, "customers", window=w) == [("C3", 1000.0, 10.0), ("C1", 405.0, 9.0)]
    # on requested dates: A, C, E and F were requested on 01-06
    w = Window(dt.date(2026, 1, 6), dt.date(2026, 1, 6), "requested_date")
    assert top(frames, catalogue, "customers", window=w) == [("C1", 445.0, 13.0), ("C2", 20.0, 2.0), ("C3", 1.0, 1.0)]
    assert report(frames.lines, catalogue, "products", window=Window(dt.date(2027, 1, 1))).height == 0
    from promessa.errors import ValidationError

    with pytest.raises(ValidationError):
        Window(dt.date(2026, 1, 7), dt.date(2026, 1, 6))


def test_trends(frames, catalogue):
    # fill rate: 01-05 14/14; 01-06 C 4/4 + 5/5, D 1/10 -> 10/19; 01-07 3/3.
    # on time in full: A yes (01-06 <= 01-06), B no (01-15 > 01-07) | C1 no (01-20), C2 yes, D no (short) |
    # E yes (shipped 01-06), F yes (shipped 01-06)
    df = report(frames.lines, catalogue, "trends")
    got = [(r["period"], r["lines"], r["fill_rate"], r["on_time_lines"]) for r in df.iter_rows(named=True)]
    assert got == [(dt.date(2026, 1, 5), 2, 1.0, 1), (dt.date(2026, 1, 6), 3, pytest.approx(10 / 19), 1),
                   (dt.date(2026, 1, 7), 2, 1.0, 2)]
    assert report(frames.lines, catalogue, "on_time").columns == ["period", "lines", "on_time_lines", "on_time_rate"]
    weekly = report(frames.lines, catalogue, "fill_rate", period="week")
    assert weekly.height == 1 and weekly["fill_rate"][0] == pytest.approx((14 + 10 + 3) / 36)


def test_all_reports_and_records(frames, catalogue):
    out = all_reports(frames.lines, catalogue, top=2)
    assert len(out) == 9 * 2 + 1
    assert out["brands.units"]["brand"].to_list() == ["acme", "zeta"]
    recs = to_records(out["days.revenue"])
    assert recs[0]["day"] == "2026-01-06"


def test_unknown_kind_and_metric(frames, catalogue):
    from promessa.errors import ValidationError

    with pytest.raises(ValidationError, match="kind"):
        report(frames.lines, catalogue, "planets")
    with pytest.raises(ValidationError, match="metric"):
        report(frames.lines, catalogue, "products", metric="smiles")


def test_generated_orders_frame(catalogue):
    """An orders table in the data contract's format (as the generator writes), with promise results."""
    orders = pl.DataFrame({
        "order": ["O1", "O1", "O2"], "line": [1, 2, 1], "item": ["WIDGET", "GADGET", "WIDGET"], "qty": [3.0, 1.0, 5.0],
        "requested_date": [dt.date(2026, 1, 6)] * 3, "customer": ["X", "X", "Y"],
        "demand_class": ["online", "online", "retail"], "zone": ["EAST", "EAST", "WEST"],
        "created_at": [dt.datetime(2026, 1, 5, 8)] * 2 + [dt.datetime(2026, 1, 6, 9)],
    })
    promised = pl.DataFrame({"promised_qty": [3.0, 0.0, 5.0],
                             "last_date": [dt.date(2026, 1, 6), None, dt.date(2026, 1, 8)]})
    fr = from_orders_frame(orders, promised=promised, location="DC-EAST")
    assert fr.lines["status"].to_list() == ["backordered", "backordered", "scheduled"]
    df = report(fr.lines, catalogue, "customers")
    # no prices in the table: the catalogue's (X: 3 x 10 + 1 x 100, Y: 5 x 10), exact, in the catalogue's currency
    assert [(r["customer"], r["revenue"], r["currency"]) for r in df.iter_rows(named=True)] == [
        ("X", Decimal("130.00"), "EUR"), ("Y", Decimal("50.00"), "EUR")]
    t = report(fr.lines, catalogue, "trends")
    assert t["on_time_lines"].to_list() == [1, 0] and t["fill_rate"].to_list() == [0.75, 1.0]


@pytest.mark.parametrize("seed", range(5))
def test_reports_agree_with_the_reference(catalogue, seed):
    """Random order lines (with ties, missing prices, cancelled orders): the lazy polars reports equal
    the plain-Python reference, end to end and on pre-enriched lines."""
    import random

    from monitoring.frames import LINES
    from monitoring.reports import enrich

    from monitoring import testing as ref

    rnd = random.Random(seed)
    rows = []
    for k in range(400):
        qty = float(rnd.randint(1, 4))
        promised = rnd.choice([qty, qty, 0.0, qty / 2])
        req = dt.date(2026, 1, 5) + dt.timedelta(days=rnd.randint(0, 9))
        pdate = req + dt.timedelta(days=rnd.randint(-2, 3)) if promised else None
        shipped = rnd.choice([0.0, promised])
        created = dt.datetime(2026, 1, 1) + dt.timedelta(hours=rnd.randint(0, 24 * 8))
        rows.append({
            "order_id": f"O{k // 3}", "line": k % 3 + 1, "customer": rnd.choice(["C1", "C2", "C3", None]),
            "zone": rnd.choice(["EAST", "WEST", "NORTH"]), "status": rnd.choice(["scheduled"] * 5 + ["cancelled"]),
            "demand_class": rnd.choice(["online", "retail"]), "created_at": created, "order_date": created.date(),
            "item": rnd.choice(["WIDGET", "GADGET", "BOLT", "NUT"]), "location": "DC-EAST", "qty": qty,
            "requested_date": req, "net_value": (net := rnd.choice([None, None, Decimal("7.50"), Decimal("10.01")])),
            "currency": None if net is None else "EUR", "promised_qty": promised,
            "shipped_qty": shipped, "delivered_qty": 0.0, "promised_date": pdate, "earliest_full_date": None,
            "last_ship_date": pdate if shipped else None, "last_delivery_date": None,
        })
    lines = pl.DataFrame(rows, schema=LINES)
    price = dict(zip(catalogue.items["item"].to_list(), catalogue.items["price"].to_list()))
    enriched = enrich(lines, catalogue).collect()
    everything = all_reports(lines, catalogue, top=3)
    for kind, col in (("products", "item"), ("customers", "customer"), ("orders", "order_id"), ("zones", "zone")):
        for metric in ("revenue", "units"):
            want = ref.report_top(rows, col, price=price, metric=metric, n=3)
            for got in (report(lines, catalogue, kind, metric=metric, top=3),
                        report(enriched, None, kind, metric=metric, top=3, enriched=True),
                        everything[f"{kind}.{metric}"]):
                assert got["currency"].unique().to_list() == ["EUR"]
                assert [(r[0], r[1], r[2]) for r in got.select(got.columns[0], "revenue", "units").iter_rows()] \
                    == want, (kind, metric)  # exact: Decimal amounts
    for field in ("order_date", "requested_date", "promised_date"):
        for today in (None, dt.date(2026, 1, 9)):
            got = report(lines, catalogue, "trends", window=Window(date_field=field), today=today)
            assert [(r["period"], r["lines"], pytest.approx(r["fill_rate"]), r["on_time_lines"])
                    for r in got.iter_rows(named=True)] == ref.report_trends(rows, date_field=field, today=today), (field, today)
