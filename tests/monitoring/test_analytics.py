"""Customer-journey analytics: stories over a small coffee shop's order history, with hand-computed answers.

The business day is Sunday 2026-03-15. Prices in EUR; an order's lines (item qty net):

    O1  ANA 01-05  COFFEE 1 12.00, MUG 1 8.00           = 20.00
    O2  BEN 01-12  COFFEE 2 24.00                        = 24.00
    O3  CAT 01-20  TEA 1 6.50, MUG 1 8.00               = 14.50
    O4  ANA 02-02  COFFEE 1 12.00, FILTER 1 3.00        = 15.00
    O5  DAN 02-14  COFFEE 1 12.00, MUG 2 16.00, FILTER 1 3.00 = 31.00
    O6  BEN 02-20  TEA 2 13.00                           = 13.00
    O7  ANA 03-03  COFFEE 1 12.00, MUG 1 8.00           = 20.00
    O8  EVE 03-10  TEA 1 6.50                            =  6.50
    O9  DAN 03-12  COFFEE 1 12.00, FILTER 2 6.00        = 18.00
    O10 FOX 03-20  COFFEE 1 12.00    (after the business day: not yet happened, left out)

17 lines; 16 up to the business day, 9 orders, 5 customers.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring import analytics as an
from monitoring import testing as ref
from monitoring.config import AnalyticsConfig
from promessa.errors import ValidationError

day = dt.date.fromisoformat
TODAY = day("2026-03-15")
SEGMENTS = AnalyticsConfig().segments

HISTORY = [
    ("O1", 1, "ANA", "COFFEE", 1, "12.00", "2026-01-05"), ("O1", 2, "ANA", "MUG", 1, "8.00", "2026-01-05"),
    ("O2", 1, "BEN", "COFFEE", 2, "24.00", "2026-01-12"),
    ("O3", 1, "CAT", "TEA", 1, "6.50", "2026-01-20"), ("O3", 2, "CAT", "MUG", 1, "8.00", "2026-01-20"),
    ("O4", 1, "ANA", "COFFEE", 1, "12.00", "2026-02-02"), ("O4", 2, "ANA", "FILTER", 1, "3.00", "2026-02-02"),
    ("O5", 1, "DAN", "COFFEE", 1, "12.00", "2026-02-14"), ("O5", 2, "DAN", "MUG", 2, "16.00", "2026-02-14"),
    ("O5", 3, "DAN", "FILTER", 1, "3.00", "2026-02-14"),
    ("O6", 1, "BEN", "TEA", 2, "13.00", "2026-02-20"),
    ("O7", 1, "ANA", "COFFEE", 1, "12.00", "2026-03-03"), ("O7", 2, "ANA", "MUG", 1, "8.00", "2026-03-03"),
    ("O8", 1, "EVE", "TEA", 1, "6.50", "2026-03-10"),
    ("O9", 1, "DAN", "COFFEE", 1, "12.00", "2026-03-12"), ("O9", 2, "DAN", "FILTER", 2, "6.00", "2026-03-12"),
    ("O10", 1, "FOX", "COFFEE", 1, "12.00", "2026-03-20"),
]


def frame(rows) -> pl.DataFrame:
    return pl.DataFrame(
        [{"order_id": o, "line": ln, "customer": c, "item": i, "qty": float(q), "net_value": Decimal(v),
          "order_date": day(d) if isinstance(d, str) else d} for o, ln, c, i, q, v, d in rows],
        schema=an.LINES)


@pytest.fixture(scope="module")
def history() -> pl.DataFrame:
    return frame(HISTORY)


def test_cohort_retention(history):
    """January's cohort is ANA, BEN and CAT: in February ANA and BEN ordered again (2 of 3), in March only
    ANA (1 of 3). February's is DAN, who came back in March; March's is EVE. FOX (03-20) is not counted."""
    got = an.cohort_retention(history, today=TODAY)
    assert got.schema == pl.Schema(an.COHORTS)
    assert [(c, k, n, a, pytest.approx(r)) for c, k, n, a, r in got.iter_rows()] == [
        (day("2026-01-01"), 0, 3, 3, 1.0), (day("2026-01-01"), 1, 3, 2, 2 / 3), (day("2026-01-01"), 2, 3, 1, 1 / 3),
        (day("2026-02-01"), 0, 1, 1, 1.0), (day("2026-02-01"), 1, 1, 1, 1.0),
        (day("2026-03-01"), 0, 1, 1, 1.0),
    ]
    # the triangle: later months of younger cohorts are not observed yet (null, not 0)
    m = an.cohort_matrix(got)
    assert m.columns == ["cohort", "customers", "m0", "m1", "m2"]
    assert m["m2"].to_list() == [pytest.approx(1 / 3), None, None]
    assert an.cohort_retention(history, today=TODAY, max_months=1)["months_since"].max() == 1
    # a week later FOX has ordered: March's cohort is EVE and FOX
    later = an.cohort_retention(history, today=day("2026-03-25"))
    assert later.filter(pl.col("cohort") == day("2026-03-01"))["customers"].to_list() == [2]
    assert an.lines_after(history, TODAY) == 1


def test_repeat_purchase(history):
    """ANA (3 orders), BEN and DAN (2 each) came back; CAT and EVE did not: 3 of 5, 9 orders. Days from
    first to second order: ANA 01-05 -> 02-02 28, BEN 01-12 -> 02-20 39, DAN 02-14 -> 03-12 26: median 28."""
    got = an.repeat_purchase(history, today=TODAY)
    assert got.schema == pl.Schema(an.REPEAT)
    assert got.row(0) == (None, 5, 3, 0.6, 9, 1.8, 28.0)
    by = an.repeat_purchase(history, today=TODAY, by_cohort=True)
    assert by.rows() == [(day("2026-01-01"), 3, 2, pytest.approx(2 / 3), 6, 2.0, 33.5),
                         (day("2026-02-01"), 1, 1, 1.0, 2, 2.0, 26.0),
                         (day("2026-03-01"), 1, 0, 0.0, 1, 1.0, None)]
    overall, cohorts = an.repeat_purchase_both(history, today=TODAY)  # one pass, the same rows
    assert overall.equals(got) and cohorts.equals(by)
    # before anyone ordered: no customer, rates unknown
    assert an.repeat_purchase(history, today=day("2026-01-01")).row(0) == (None, 0, 0, None, 0, None, None)


def test_rfm_scores_and_segments(history):
    """Recency on 03-15: DAN 3 days, EVE 5, ANA 12, BEN 23, CAT 54 -> R 5, 4, 3, 2, 1.
    Frequency: ANA 3, BEN 2, DAN 2, CAT 1, EVE 1. Ties take the lowest rank: CAT and EVE are rank 1 ->
    score 1; BEN and DAN rank 3 (two customers have fewer orders) -> 1 + floor(5 x 2 / 5) = 3; ANA 5.
    Monetary: ANA 55.00, DAN 49.00, BEN 37.00, CAT 14.50, EVE 6.50 -> 5, 4, 3, 2, 1.
    Segments (first match): ANA 355 loyal (R >= 3, F >= 4, not R >= 4 for champions); DAN 534 potential
    loyalist (R >= 4, F 2-3); EVE 411 new customer; BEN 233 at risk (R <= 2, F >= 3); CAT 112 lost."""
    got = an.rfm(history, today=TODAY)
    assert got.schema == pl.Schema(an.RFM)
    rows = {r["customer"]: (r["recency_days"], r["frequency"], r["monetary"], r["rfm"], r["segment"])
            for r in got.iter_rows(named=True)}
    assert rows == {
        "DAN": (3, 2, Decimal("49.00"), "534", "potential_loyalists"),
        "EVE": (5, 1, Decimal("6.50"), "411", "new_customers"),
        "ANA": (12, 3, Decimal("55.00"), "355", "loyal"),
        "BEN": (23, 2, Decimal("37.00"), "233", "at_risk"),
        "CAT": (54, 1, Decimal("14.50"), "112", "lost"),
    }
    assert got["customer"].to_list() == ["DAN", "EVE", "ANA", "BEN", "CAT"]  # best rfm first
    seg = an.rfm_segments(got)
    assert seg["segment"].to_list() == [s.name for s in SEGMENTS]
    loyal = seg.filter(pl.col("segment") == "loyal").row(0, named=True)
    assert (loyal["customers"], loyal["share"], loyal["monetary"]) == (1, 0.2, Decimal("55.00"))
    assert loyal["monetary_share"] == pytest.approx(55 / 162)
    assert seg["customers"].sum() == 5 and seg.filter(pl.col("segment") == "champions")["customers"].item() == 0


def test_rfm_ties_and_custom_segments():
    """Five customers with one order of 10.00 on the same day: every value ties, so every score is 1."""
    rows = [(f"O{k}", 1, f"C{k}", "X", 1, "10.00", "2026-03-01") for k in range(5)]
    got = an.rfm(frame(rows), today=TODAY)
    assert set(got["rfm"]) == {"111"} and set(got["segment"]) == {"lost"}
    from monitoring.config import RfmSegment

    segs = [RfmSegment(name="top", m={"lo": 5, "hi": 5}), RfmSegment(name="rest")]
    assert set(an.rfm(frame(HISTORY), today=TODAY, segments=segs).filter(pl.col("m") == 5)["segment"]) == {"top"}
    with pytest.raises(ValueError, match="no RFM segment covers"):
        AnalyticsConfig(segments=[RfmSegment(name="top", m={"lo": 5, "hi": 5})])


def test_cross_sell(history):
    """Baskets O1..O9 (9 orders): COFFEE in 6, MUG in 4, FILTER 3, TEA 3. Together: COFFEE+MUG 3 (O1, O5,
    O7), COFFEE+FILTER 3 (O4, O5, O9), MUG+FILTER 1 (O5), MUG+TEA 1 (O3).
    COFFEE -> FILTER: confidence 3/6, lift 3 x 9 / (6 x 3) = 1.5; COFFEE -> MUG: 3/6, lift 27/24 = 1.125
    (equal counts: the higher lift first). FILTER -> COFFEE 3/3, MUG -> COFFEE 3/4."""
    got = an.cross_sell(history, today=TODAY)  # default: pairs in at least 2 orders
    assert got.schema == pl.Schema(an.CROSS_SELL)
    assert [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in got.iter_rows()] == [
        ("COFFEE", 1, "FILTER", 3, 6, 3), ("COFFEE", 2, "MUG", 3, 6, 4),
        ("FILTER", 1, "COFFEE", 3, 3, 6), ("MUG", 1, "COFFEE", 3, 4, 6),
    ]
    cf = got.row(0, named=True)
    assert (cf["support"], cf["confidence"], cf["lift"]) == (pytest.approx(3 / 9), 0.5, pytest.approx(1.5))
    assert got.row(2, named=True)["confidence"] == 1.0 and got.row(3, named=True)["confidence"] == 0.75
    # from one order on: MUG also goes with FILTER and TEA (1 order each, lift 9 / 12 = 0.75: by name)
    one = an.cross_sell(history, today=TODAY, min_orders=1, items=["MUG"])
    assert [(r["suggestion"], r["rank"], r["orders_together"]) for r in one.iter_rows(named=True)] == [
        ("COFFEE", 1, 3), ("FILTER", 2, 1), ("TEA", 3, 1)]
    assert one["lift"].to_list()[1:] == [pytest.approx(0.75)] * 2
    assert an.cross_sell(history, today=TODAY, top=1)["rank"].to_list() == [1, 1, 1]


def test_bad_input_is_refused(history):
    with pytest.raises(ValidationError, match="customer"):
        an.rfm(history.drop("customer"), today=TODAY)
    with pytest.raises(ValidationError, match="net_value"):
        an.rfm(history.with_columns(pl.col("net_value").cast(pl.Float64)), today=TODAY)
    with pytest.raises(ValidationError, match="row 3 of the order lines has no customer"):
        an.rfm(history.with_columns(pl.when(pl.int_range(pl.len()) == 2).then(None).otherwise(pl.col("customer"))
                                    .alias("customer")), today=TODAY)
    with pytest.raises(ValidationError, match="negative"):
        an.rfm(history.with_columns(pl.lit(-1.0).alias("qty")), today=TODAY)
    with pytest.raises(ValidationError, match="today"):
        an.rfm(history, today=dt.datetime(2026, 3, 15))
    with pytest.raises(ValidationError, match="top"):
        an.cross_sell(history, today=TODAY, top=0)
    with pytest.raises(ValidationError, match="order_date must be a date"):
        an.rfm(history.with_columns(pl.col("order_date").cast(pl.String)), today=TODAY)
    # a timestamp is taken as its day
    stamped = history.with_columns(pl.col("order_date").cast(pl.Datetime("us")) + pl.duration(hours=15))
    assert an.rfm(stamped, today=TODAY).equals(an.rfm(history, today=TODAY))


def test_lines_from_the_order_book(frames, catalogue):
    """The story book of conftest.py: net value = the priced net the order book stored (qty x catalogue price,
    in EUR), G (cancelled) left out; dated by the order's business day or by requested day as the planner picks."""
    lines = an.lines_from_frames(frames.lines, prices=catalogue.items, currency="EUR")
    assert lines.schema == pl.Schema(an.LINES)
    assert sorted(lines["net_value"].to_list()) == [Decimal(v) for v in
                                                    ("1.00", "5.00", "20.00", "40.00", "100.00", "400.00", "1000.00")]
    assert sorted(set(lines["order_date"])) == [day("2026-01-05"), day("2026-01-06"), day("2026-01-07")]
    req = an.lines_from_frames(frames.lines, prices=catalogue.items, date_field="requested_date")
    assert sorted(set(req["order_date"])) == [day("2026-01-06"), day("2026-01-07"), day("2026-01-10")]
    # C1 (A, C) ordered on 01-05 and 01-06
    assert an.repeat_purchase(lines, today=day("2026-01-07")).row(0)[:3] == (None, 3, 3)
    # the book is priced in euros: analytics in yen would add euro amounts as yen, and are refused
    with pytest.raises(ValidationError, match="priced in EUR, not JPY"):
        an.lines_from_frames(frames.lines, prices=catalogue.items, currency="JPY")
    # lines without a priced net take the catalogue's price; with yen the amounts have no decimals
    unpriced = frames.lines.with_columns(pl.lit(None).cast(pl.Decimal(38, 4)).alias("net_value"),
                                         pl.lit(None, pl.String).alias("currency"))
    yen = an.lines_from_frames(unpriced, prices=catalogue.items, currency="JPY")
    assert yen["net_value"].dtype == pl.Decimal(38, 0) and sorted(yen["net_value"].to_list())[-1] == Decimal(1000)
    with pytest.raises(ValidationError, match="currency"):
        an.lines_from_frames(unpriced, currency="XXX")


def test_half_up_rounding_of_float_prices():
    """An orders table's float unit price becomes an exact amount: 2.675 is stored as 2.67499999... in binary;
    half-up on the decimal value still gives 2.68 (and 2.5 yen gives 3 yen)."""
    from monitoring.frames import from_orders_frame

    orders = pl.DataFrame({"order": ["X"], "line": [1], "item": ["W"], "qty": [1.0], "requested_date": [day("2026-01-06")],
                           "customer": ["C"], "demand_class": ["online"], "zone": ["EAST"],
                           "created_at": [dt.datetime(2026, 1, 5, 9)], "unit_price": [2.675]})
    lines = from_orders_frame(orders).lines
    assert lines.select("net_value", "currency").row(0) == (Decimal("2.68"), "EUR")
    assert an.lines_from_frames(lines)["net_value"].to_list() == [Decimal("2.68")]
    yen = from_orders_frame(orders.with_columns(pl.lit(2.5).alias("unit_price")), currency="JPY").lines
    assert an.lines_from_frames(yen, currency="JPY")["net_value"].to_list() == [Decimal(3)]


# ---------------------------------------------------------------- the reference, on random histories

CUSTOMERS = ["ANA", "BEN", "CAT", "DAN", "EVE", "FOX", "GUS"]
ITEMS = ["COFFEE", "MUG", "TEA", "FILTER", "BEANS"]


@st.composite
def histories(draw):
    n_orders = draw(st.integers(0, 14))
    rows = []
    for o in range(n_orders):
        cust = draw(st.sampled_from(CUSTOMERS))
        d = dt.date(2025, 11, 1) + dt.timedelta(days=draw(st.integers(0, 150)))
        for ln in range(1, draw(st.integers(1, 4)) + 1):
            cents = draw(st.integers(0, 5000))
            rows.append((f"O{o}", ln, cust, draw(st.sampled_from(ITEMS)), draw(st.integers(1, 3)),
                         str(Decimal(cents).scaleb(-2)), d))
    today = dt.date(2025, 11, 1) + dt.timedelta(days=draw(st.integers(0, 180)))
    return rows, today


def _dicts(rows):
    return frame(rows).to_dicts() if rows else []


@settings(max_examples=40, deadline=None)
@given(histories(), st.integers(1, 3), st.integers(1, 3))
def test_views_equal_the_reference(case, min_orders, top):
    rows, today = case
    df = frame(rows)
    d = _dicts(rows)
    assert an.cohort_retention(df, today=today).rows() == ref.ref_cohorts(d, today=today)
    for by in (False, True):
        assert an.repeat_purchase(df, today=today, by_cohort=by).rows() == ref.ref_repeat(d, today=today, by_cohort=by)
    both = an.repeat_purchase_both(df, today=today)
    assert [x.rows() for x in both] == [ref.ref_repeat(d, today=today, by_cohort=by) for by in (False, True)]
    got = {r["customer"]: (r["recency_days"], r["frequency"], r["monetary"], r["r"], r["f"], r["m"], r["segment"])
           for r in an.rfm(df, today=today).iter_rows(named=True)}
    assert got == ref.ref_rfm(d, today=today, segments=SEGMENTS)
    cs = an.cross_sell(df, today=today, top=top, min_orders=min_orders).rows()
    want = ref.ref_cross_sell(d, today=today, top=top, min_orders=min_orders)
    assert [r[:6] for r in cs] == [w[:6] for w in want]
    assert all(r[6:] == pytest.approx(w[6:]) for r, w in zip(cs, want, strict=True))
    # the same answer whichever order the lines come in: sorted by order (run ids) or shuffled (a join to the orders)
    for shown in (df.sort("order_id"), df.sample(fraction=1.0, shuffle=True, seed=len(rows))):
        again = an.cross_sell(shown, today=today, top=top, min_orders=min_orders).rows()
        assert [r[:6] for r in again] == [r[:6] for r in cs]
        assert all(r[6:] == pytest.approx(w[6:]) for r, w in zip(again, cs, strict=True))


# ---------------------------------------------------------------- charts and the command line


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def test_charts_have_captions(history):
    from monitoring import charts

    c = charts.cohort_chart(an.cohort_retention(history, today=TODAY))
    assert _png_size(c.png)[0] > 300
    assert c.caption == ("Of 5 customers in 3 monthly cohorts, 75% of those with a month behind them ordered again "
                         "in the month after their first order.")  # Jan 2 of 3 + Feb 1 of 1
    r = charts.repeat_chart(an.repeat_purchase(history, today=TODAY, by_cohort=True))
    assert r.caption == "3 of 5 customers (60%) placed more than one order."
    s = charts.rfm_chart(an.rfm_segments(an.rfm(history, today=TODAY)))
    assert s.caption.startswith("Of 5 customers, the loyal segment (1 customer, 20%) holds the largest part")
    x = charts.cross_sell_chart(an.cross_sell(history, today=TODAY), item="COFFEE")
    assert x.caption == ("Of 6 orders with COFFEE, 50% also had FILTER (3 orders), 1.5 times as often as orders "
                         "in general.")
    assert charts.fmt_int(1234567) == "1,234,567"


def test_cli_analytics(tmp_path, capsys, mon_snap_dir):
    """`promessa analytics VIEW --orders FILE`: an orders table (the data contract's columns) priced from
    the snapshot's catalogue (WIDGET 10, GADGET 100, BOLT 1), on the business day given with --today."""
    from promessa.cli import main

    orders = pl.DataFrame({
        "order": ["O1", "O1", "O2", "O3", "O3"], "line": [1, 2, 1, 1, 2],
        "item": ["WIDGET", "BOLT", "WIDGET", "WIDGET", "BOLT"], "qty": [1.0, 2.0, 3.0, 1.0, 1.0],
        "requested_date": [day("2026-01-10")] * 5, "customer": ["X", "X", "Y", "X", "X"],
        "demand_class": ["online"] * 5, "zone": ["EAST"] * 5,
        "created_at": [dt.datetime(2026, 1, 5, 9)] * 2 + [dt.datetime(2026, 1, 6, 9)] + [dt.datetime(2026, 2, 2, 9)] * 2,
    })
    path = tmp_path / "orders.parquet"
    orders.write_parquet(path)
    base = ["--orders", str(path), "--snapshot", str(mon_snap_dir), "--today", "2026-02-15"]
    assert main(["analytics", "rfm", *base, "--format", "csv"]) == 0
    out = capsys.readouterr()
    rows = [r.split(",") for r in out.out.splitlines()]
    assert rows[0][:6] == ["customer", "first_order_date", "last_order_date", "recency_days", "frequency", "monetary"]
    assert [r[0] for r in rows[1:]] == ["X", "Y"] and rows[1][5] == "23.00" and rows[2][5] == "30.00"
    assert "rfm as of 2026-02-15" in out.err
    assert main(["analytics", "cross-sell", *base, "--min-orders", "2", "--format", "json"]) == 0
    import json

    got = json.loads(capsys.readouterr().out)
    assert [(r["item"], r["suggestion"], r["orders_together"]) for r in got] == [("BOLT", "WIDGET", 2), ("WIDGET", "BOLT", 2)]
    assert main(["analytics", "cohorts", *base]) == 0
    assert "m1" in capsys.readouterr().out
    png = tmp_path / "repeat.png"
    assert main(["analytics", "repeat", *base, "--format", "png", "--out", str(png)]) == 0
    assert "1 of 2 customers (50%) placed more than one order." in capsys.readouterr().err
    assert _png_size(png.read_bytes())[0] > 100
    # the business day defaults to the snapshot's as_of (2026-01-05): O2 and O3 have not happened yet
    assert main(["analytics", "repeat", "--orders", str(path), "--snapshot", str(mon_snap_dir), "--format", "csv"]) == 0
    out = capsys.readouterr()
    assert "3 of 5 lines are dated after the business day" in out.err
    assert out.out.splitlines()[1].split(",")[1:3] == ["1", "0"]


def test_monitor_views_on_the_business_clock(book):
    """The story book of conftest.py on business day 2026-01-07 (from settings): C1 ordered A (01-05, 40.00)
    and C (01-06, 405.00); C2 B (01-05, 100.00) and E (01-07, 20.00); C3 D (01-06, 1000.00) and F (01-07,
    1.00); G was cancelled. Recency: C1 1 day, C2 and C3 0 -> R 1, 2, 2 (three customers: the tie takes rank
    2, 1 + floor(5 x 1 / 3) = 2). Frequency: all 2 -> F 1. Monetary 445, 120, 1001 -> M 2, 1, 4."""
    from monitoring.config import MonitoringConfig
    from monitoring.monitor import Monitor
    from promessa.config import settings_of

    mon = Monitor.of_service(book[0], MonitoringConfig(), settings=settings_of(db=book[2], business_date=day("2026-01-07")))
    got = {r["customer"]: (r["recency_days"], r["monetary"], r["rfm"], r["segment"]) for r in mon.rfm().iter_rows(named=True)}
    assert got == {"C1": (1, Decimal("445.00"), "112", "lost"), "C2": (0, Decimal("120.00"), "211", "hibernating"),
                   "C3": (0, Decimal("1001.00"), "214", "hibernating")}
    assert mon.rfm_segments().filter(pl.col("customers") > 0)["segment"].to_list() == ["hibernating", "lost"]
    assert mon.repeat_purchase().row(0)[:4] == (None, 3, 3, 1.0)
    assert mon.cohort_retention().rows() == [(day("2026-01-01"), 0, 3, 3, 1.0)]
    # only order C holds two items (GADGET and BOLT): one suggestion each way; on 01-05 only A and B have happened
    assert mon.cross_sell(min_orders=1).height == 2  # C: GADGET <-> BOLT
    assert mon.repeat_purchase(today=day("2026-01-05")).row(0)[:3] == (None, 2, 0)
