"""ATP stories: a short supply situation each, and the promise a planner would expect.

Every expected figure below is computed by hand from the story; the comments show the working.
"""

from __future__ import annotations

import pytest

from promessa.errors import ValidationError
from promessa_testing import day
from promising import Policy, Reason, Request, Status, atp_report, available, commit, promise, release

SPLIT = Policy(allow_split=True)
ALL_OR_NOTHING = Policy(allow_partial=False)


def test_backward_consumption_a_later_order_eats_into_earlier_stock(make_snapshot):
    # 10 on hand, a receipt of 5 on day 5, and an order of 12 already planned on day 7.
    # C = 10 (days 0-4), 15 (days 5-6), 3 (day 7 on). The order on day 7 needs 12 but only 5
    # arrive before it, so 7 of the on-hand are spoken for: A(0) = min(10, 15, 3) = 3.
    snap = make_snapshot(supply=[("A", "DC", 0, 10), ("A", "DC", 5, 5)], demand=[("A", "DC", 7, 12)])
    st = snap.new_state()
    assert available(snap, st, "A", "DC", day(0)) == pytest.approx(3)
    assert available(snap, st, "A", "DC", day(6)) == pytest.approx(3)
    assert available(snap, st, "A", "DC", day(7)) == pytest.approx(3)
    # 4 on day 1 cannot be promised on time: only 3 are free until the horizon's end.
    p = promise(snap, st, Request("A", "DC", 4, day(1)))
    assert p.status is Status.PARTIAL and p.promised_qty == pytest.approx(3)
    assert p.lines[0].date == day(1)
    assert p.reason is Reason.HORIZON and p.earliest_full_date is None
    # 3 on day 1 is on time, and then nothing is left anywhere.
    p = promise(snap, st, Request("A", "DC", 3, day(1)), commit=True)
    assert p.status is Status.FULL and p.lines[0].date == day(1)
    assert [available(snap, st, "A", "DC", day(t)) for t in (0, 5, 10)] == [0, 0, 0]


def test_late_promise_waits_for_the_receipt_and_split_ships_what_is_there(make_snapshot):
    # 10 on hand, 20 arriving on day 5, 15 already planned on day 7. C = 10, ..., 30 (day 5), 15 (day 7).
    # A(0..4) = 10, A(5..) = 15.
    snap = make_snapshot(supply=[("A", "DC", 0, 10), ("A", "DC", 5, 20)], demand=[("A", "DC", 7, 15)])
    st = snap.new_state()
    # Not split: 12 is available as one line on day 5 (first day with A >= 12).
    p = promise(snap, st, Request("A", "DC", 12, day(1)))
    assert (p.status, p.reason) == (Status.LATE, Reason.SUPPLY)
    assert [(ln.date, ln.qty) for ln in p.lines] == [(day(5), 12)]
    # Split: 10 on day 1 from stock, the other 2 on day 5 from the receipt.
    p = promise(snap, st, Request("A", "DC", 12, day(1), SPLIT), commit=True)
    assert [(ln.date, ln.qty) for ln in p.lines] == [(day(1), 10), (day(5), 2)]
    assert p.status is Status.LATE
    # Pegging: line 1 from the on-hand record, line 2 from the purchase of day 5.
    assert [(pg.line, pg.kind, pg.supply_date, pg.qty) for pg in p.pegs] == [
        (0, "onhand", day(0), 10), (1, "purchase", day(5), 2)]
    # What is left: 15 - 12 = 3 from day 5 on, nothing before.
    assert available(snap, st, "A", "DC", day(4)) == 0
    assert available(snap, st, "A", "DC", day(6)) == pytest.approx(3)
    # Another 4 on day 6: only 3 -> partial 3 on day 6.
    p = promise(snap, st, Request("A", "DC", 4, day(6)))
    assert p.status is Status.PARTIAL and [(ln.date, ln.qty) for ln in p.lines] == [(day(6), 3)]


def test_split_follows_the_receipts_within_the_line_limit(make_snapshot):
    # Receipts of 5 on days 2, 4 and 6; 15 wanted on day 0.
    snap = make_snapshot(supply=[("A", "DC", 2, 5), ("A", "DC", 4, 5), ("A", "DC", 6, 5)])
    st = snap.new_state()
    p = promise(snap, st, Request("A", "DC", 15, day(0), Policy(allow_split=True, max_lines=3)))
    assert [(ln.date, ln.qty) for ln in p.lines] == [(day(2), 5), (day(4), 5), (day(6), 5)]
    # Two lines at most: the first receipt ships, the last line waits for the whole rest.
    p = promise(snap, st, Request("A", "DC", 15, day(0), Policy(allow_split=True, max_lines=2)))
    assert [(ln.date, ln.qty) for ln in p.lines] == [(day(2), 5), (day(6), 10)]
    assert p.status is Status.LATE and p.reason is Reason.SUPPLY


def test_maximum_lateness_caps_the_date(make_snapshot):
    snap = make_snapshot(supply=[("A", "DC", 2, 5), ("A", "DC", 4, 5), ("A", "DC", 6, 5)])
    st = snap.new_state()
    # The whole 15 is there on day 6, but at most 3 days late is allowed: window days 0..3.
    # Partial allowed: the best within the window is 5, first available on day 2.
    p = promise(snap, st, Request("A", "DC", 15, day(0), Policy(max_late_days=3)))
    assert (p.status, p.reason) == (Status.PARTIAL, Reason.MAX_LATENESS)
    assert [(ln.date, ln.qty) for ln in p.lines] == [(day(2), 5)]
    assert p.earliest_full_date == day(6)
    # All or nothing: nothing.
    p = promise(snap, st, Request("A", "DC", 15, day(0), Policy(allow_partial=False, max_late_days=3)))
    assert (p.status, p.reason, p.lines) == (Status.SHORT, Reason.MAX_LATENESS, ())


def test_lead_time_promising_covers_the_rest_after_the_lead_time(make_snapshot):
    # Item B: 5 on hand, replenishment lead time 10 days: anything can be promised from day 10.
    snap = make_snapshot(supply=[("B", "DC", 0, 5)], lead_times={"B": 10})
    st = snap.new_state()
    p = promise(snap, st, Request("B", "DC", 3, day(1)), commit=True)
    assert p.status is Status.FULL
    p = promise(snap, st, Request("B", "DC", 12, day(1)))
    assert (p.status, p.reason) == (Status.LATE, Reason.LEAD_TIME)
    assert [(ln.date, ln.qty) for ln in p.lines] == [(day(10), 12)]
    # 2 left on hand, the other 10 from replenishment.
    assert [(pg.kind, pg.qty) for pg in p.pegs] == [("onhand", 2), ("replenishment", 10)]
    # A commitment beyond the lead time does not reduce what is available before it.
    promise(snap, st, Request("B", "DC", 500, day(20)), commit=True)
    assert available(snap, st, "B", "DC", day(3)) == pytest.approx(2)
    # and replaying such a commitment is not reported as exceeding supply
    assert commit(snap, st, "B", "DC", day(25), 100) is True
    assert commit(snap, st, "B", "DC", day(1), 3) is False  # 2 left before the lead time


def test_calendar_moves_a_weekend_request_to_monday(make_snapshot):
    # AS_OF is a Monday; days 5 and 6 are Saturday and Sunday and the DC is closed.
    snap = make_snapshot(supply=[("A", "DC", 0, 10)], calendars={"wk": [(5, False), (6, False)]},
                         location_calendar={"DC": "wk"})
    st = snap.new_state()
    p = promise(snap, st, Request("A", "DC", 4, day(5)))
    assert (p.status, p.reason) == (Status.LATE, Reason.CALENDAR)
    assert p.lines[0].date == day(7)


def test_unknown_pair_and_bad_requests(make_snapshot):
    snap = make_snapshot(supply=[("A", "DC", 0, 10)], items=["Z"], locations=["DC2"])
    st = snap.new_state()
    p = promise(snap, st, Request("A", "DC2", 1, day(0)))
    assert (p.status, p.reason) == (Status.SHORT, Reason.NO_SOURCE)
    with pytest.raises(ValidationError, match=r"item='NOPE'.*unknown item"):
        promise(snap, st, Request("NOPE", "DC", 1, day(0)))
    with pytest.raises(ValidationError, match=r"qty=-1.*positive"):
        promise(snap, st, Request("A", "DC", -1, day(0)))
    with pytest.raises(ValidationError, match=r"requested_date='2026-02-04'.*outside the horizon"):
        promise(snap, st, Request("A", "DC", 1, day(30)))
    with pytest.raises(ValidationError, match=r"policy.max_lines=1001.*between 1 and 1000"):
        Policy(max_lines=1001)
    with pytest.raises(ValidationError, match=r"policy.max_lines=0"):
        Policy(max_lines=0)


def test_commit_then_release_restores_the_state_exactly(make_snapshot):
    snap = make_snapshot(supply=[("A", "DC", 0, 10), ("A", "DC", 5, 20)], demand=[("A", "DC", 7, 15)])
    st = snap.new_state()
    before = st.cum.copy()
    p = promise(snap, st, Request("A", "DC", 12, day(1), SPLIT), commit=True)
    assert not (st.cum == before).all()
    for ln in p.lines:
        release(snap, st, "A", "DC", ln.date, ln.qty)
    assert (st.cum == before).all()
    # A replayed commitment that no longer fits is kept and reported.
    assert commit(snap, st, "A", "DC", day(0), 10) is True
    assert commit(snap, st, "A", "DC", day(0), 10) is False
    assert st.committed(snap.il_of("A", "DC"))[0] == pytest.approx(20)


def test_textbook_discrete_atp_row_with_look_ahead(make_snapshot):
    # On hand 20; MPS receipts of 50 on days 2 and 4; customer orders 5, 3, 20, 40, 10, 5 on days 0..5.
    # Periods: [0,2): 20 - 8 = 12; [2,4): 50 - 60 = -10; [4,..): 50 - 15 = 35.
    # Look-ahead: the -10 of period 2 is netted against period 0: 12 - 10 = 2, period 2 -> 0.
    snap = make_snapshot(
        supply=[("A", "DC", 0, 20), ("A", "DC", 2, 50), ("A", "DC", 4, 50)],
        demand=[("A", "DC", d, q) for d, q in enumerate((5, 3, 20, 40, 10, 5))],
    )
    st = snap.new_state()
    rep = atp_report(snap, st, "A", "DC")
    assert rep["discrete_atp"].to_list()[:6] == [2, 0, 0, 0, 35, 0]
    # The cumulative view agrees: C = 15, 12, 42, 2, 42, 37; A(0) = 2, A(4) = 37 = 2 + 35.
    assert rep["cumulative"].to_list()[:6] == [15, 12, 42, 2, 42, 37]
    assert rep["available"].to_list()[:6] == [2, 2, 2, 2, 37, 37]
    # Committing 2 on day 1 shows up as committed and nets out of the first period.
    promise(snap, st, Request("A", "DC", 2, day(1)), commit=True)
    rep = atp_report(snap, st, "A", "DC")
    assert rep["committed"].to_list()[:3] == [0, 2, 0]
    assert rep["discrete_atp"].to_list()[:6] == [0, 0, 0, 0, 35, 0]


def test_replaying_many_draws_at_once_equals_one_by_one(make_snapshot):
    # A book replayed in bulk: the same state as draw after draw, the same reports.
    from promising import Draw, Reservation, reserve, reserve_many

    snap = make_snapshot(supply=[("A", "DC", 0, 10), ("A", "DC", 5, 20), ("B", "DC", 0, 5)], lead_times={"B": 10})
    draws = [Draw("atp", "A", "DC", day(1), 8.0), Draw("atp", "B", "DC", day(12), 50.0),   # beyond B's lead time: fits
             Draw("atp", "A", "DC", day(2), 5.0),                                          # 13 > 10 by day 4: does not fit
             Draw("atp", "NOPE", "DC", day(1), 1.0), Draw("atp", "A", "DC", day(3), 2.0, "gold")]
    one, many = snap.new_state(), snap.new_state()
    bad_one = []
    for i, d in enumerate(draws):
        try:
            if reserve(snap, one, Reservation((d,))):
                bad_one.append(i)
        except ValidationError:
            pass
    r = reserve_many(snap, many, draws)
    assert (one.cum == many.cum).all()
    assert r.not_fitting == bad_one == [2]
    assert [i for i, _ in r.errors] == [3] and "unknown item" in str(r.errors[0][1])
    back = reserve_many(snap, many, [d for i, d in enumerate(draws) if i != 3], sign=-1)
    assert back.not_fitting == [] and (many.cum == snap.base_cum).all()


def test_a_batch_consumes_in_the_given_order_and_reads_back_as_a_table(make_snapshot):
    # 10 on hand, 20 arriving on day 5. Three lines in order: 6 on day 1, 6 on day 1, 15 on day 6.
    # The first takes 6 of the 10; the second finds only 4 before day 5 -> one line on day 5;
    # the third finds 30 - 12 = 18 from day 5 on -> on time.
    import polars as pl

    from promising import promise_batch

    snap = make_snapshot(supply=[("A", "DC", 0, 10), ("A", "DC", 5, 20)], items=["Z"])
    st = snap.new_state()
    lines = pl.DataFrame({"item": ["A", "A", "A", "Z"], "location": ["DC"] * 4, "qty": [6.0, 6.0, 15.0, 1.0],
                          "requested_date": [day(1), day(1), day(6), day(1)]})
    res = promise_batch(snap, st, lines, policy=Policy(allow_partial=False))
    table = res.to_polars(snap)
    assert table["status"].to_list() == ["full", "late", "full", "short"]
    assert table["reason"].to_list() == ["none", "supply", "none", "no_source"]
    assert table["promised_qty"].to_list() == [6, 6, 15, 0]
    assert table["first_date"].to_list() == [day(1), day(5), day(6), None]
    assert available(snap, st, "A", "DC", day(6)) == pytest.approx(3)


def test_two_partial_policies_window_or_backorder(make_snapshot):
    """3 on hand, 4 more arriving on day 6; an order of 10 on day 1 (no split).
    Default partial ("window"): the largest quantity reachable in the window, on the day it is
    reached: A(1..5) = 3, A(6..) = 7, so 7 on day 6. Backorder: confirm what day 1 has, 3,
    and backorder the other 7 (not confirmed). An order of 7 on day 1 is whole on day 6 under
    the window policy (LATE), but 3 on day 1 and 4 backordered under the backorder policy;
    an order of 2 is whole on day 1 under both."""
    snap = make_snapshot(supply=[("A", "DC", 0, 3), ("A", "DC", 6, 4)])
    st = snap.new_state()
    p = promise(snap, st, Request("A", "DC", 10, day(1)))
    assert (p.status, [(ln.date, ln.qty) for ln in p.lines]) == (Status.PARTIAL, [(day(6), 7.0)])
    bo = Policy(backorder=True)
    p = promise(snap, st, Request("A", "DC", 10, day(1), bo))
    assert (p.status, [(ln.date, ln.qty) for ln in p.lines], p.short_qty) == (Status.PARTIAL, [(day(1), 3.0)], 7.0)
    assert p.reason is Reason.HORIZON  # the whole 10 never comes
    p = promise(snap, st, Request("A", "DC", 7, day(1)))
    assert (p.status, [(ln.date, ln.qty) for ln in p.lines]) == (Status.LATE, [(day(6), 7.0)])
    p = promise(snap, st, Request("A", "DC", 7, day(1), bo), commit=True)
    assert (p.status, [(ln.date, ln.qty) for ln in p.lines], p.reason) == (Status.PARTIAL, [(day(1), 3.0)], Reason.SUPPLY)
    assert p.earliest_full_date == day(6)
    # backorder without partial is all or nothing, as before: 4 left from day 6
    p = promise(snap, st, Request("A", "DC", 4, day(1), Policy(backorder=True, allow_partial=False)))
    assert (p.status, [(ln.date, ln.qty) for ln in p.lines]) == (Status.LATE, [(day(6), 4.0)])


def test_lead_time_in_working_days_of_the_location_calendar(make_snapshot):
    """Nothing on hand; both items are replenished in 3 days. DC is closed on days 1 and 2
    (a weekend). B counts calendar days: unlimited from day 3. A counts working days: days 3, 4
    and 5 are the first three open days after today, so unlimited from day 5. An order of 10 on
    day 0 is promised on day 3 for B and day 5 for A, both bound by the lead time."""
    items = [{"item": "A", "lead_time_days": 3, "lead_time_working_days": True},
             {"item": "B", "lead_time_days": 3, "lead_time_working_days": None}]
    snap = make_snapshot(supply=[("A", "DC", 0, 0), ("B", "DC", 0, 0)], extra={"items": items},
                         calendars={"WK": [(1, False), (2, False)]}, location_calendar={"DC": "WK"})
    st = snap.new_state()
    a = promise(snap, st, Request("A", "DC", 10, day(0)))
    b = promise(snap, st, Request("B", "DC", 10, day(0)))
    assert (a.status, a.reason, a.lines[0].date) == (Status.LATE, Reason.LEAD_TIME, day(5))
    assert (b.status, b.reason, b.lines[0].date) == (Status.LATE, Reason.LEAD_TIME, day(3))


def test_a_split_into_twelve_schedule_lines(make_snapshot):
    """Receipts of 2 on each of days 1..12; 24 wanted on day 0, split. With 12 lines allowed:
    one schedule line per receipt, 2 on each of days 1..12. With 11: ten receipts ship as they
    come, the last line waits for the rest: 4 on day 12. The batch gives the same answers, its
    arrays 12 columns wide (the largest max_lines asked for)."""
    from promising import promise_batch
    import polars as pl

    snap = make_snapshot(supply=[("A", "DC", d, 2) for d in range(1, 13)])
    st = snap.new_state()
    p = promise(snap, st, Request("A", "DC", 24, day(0), Policy(allow_split=True, max_lines=12)))
    assert [(ln.date, ln.qty) for ln in p.lines] == [(day(d), 2.0) for d in range(1, 13)]
    assert p.status is Status.LATE
    p = promise(snap, st, Request("A", "DC", 24, day(0), Policy(allow_split=True, max_lines=11)))
    assert [(ln.date, ln.qty) for ln in p.lines] == [(day(d), 2.0) for d in range(1, 11)] + [(day(12), 4.0)]
    lines = pl.DataFrame({"item": ["A", "A"], "location": ["DC", "DC"], "qty": [24.0, 24.0],
                          "requested_date": [day(0), day(0)], "allow_split": [True, True], "max_lines": [12, 3]})
    out = promise_batch(snap, snap.new_state(), lines, commit=False)
    assert out.bucket.shape == (2, 12) and out.n_lines.tolist() == [12, 3]
    assert out.bucket[0].tolist() == list(range(1, 13)) and out.qty[0].tolist() == [2.0] * 12
    assert out.promised.tolist() == [24.0, 24.0]
    with pytest.raises(ValidationError, match=r"max_lines=1001"):
        promise_batch(snap, snap.new_state(), lines.with_columns(max_lines=pl.Series([1001, 3])))


def test_a_batch_is_encoded_once_and_bad_rows_are_refused_naming_row_and_column(make_snapshot):
    import polars as pl

    from promising import encode_lines, promise_batch

    snap = make_snapshot(supply=[("A", "DC", 0, 10), ("B", "ST", 0, 4)], horizon=30)  # A only at DC, B only at ST
    lines = pl.DataFrame({"item": ["A", "B", "A", "B"], "location": ["DC", "ST", "ST", "DC"], "qty": [4.0, 5.0, 1.0, 1.0],
                          "requested_date": [day(1), day(2), day(3), day(4)]})
    enc = encode_lines(snap, lines)
    assert list(enc.req) == [1, 2, 3, 4]
    assert (enc.ils[:2] >= 0).all() and list(enc.ils[2:]) == [-1, -1]  # A is not stocked at ST, nor B at DC
    out = promise_batch(snap, snap.new_state(), lines)
    # 4 of A on day 1; B has 4 of 5 (partial, on day 2); the others have no source
    assert [Status(s) for s in out.status] == [Status.FULL, Status.PARTIAL, Status.SHORT, Status.SHORT]
    assert list(out.promised) == [4.0, 4.0, 0.0, 0.0] and out.reason[2] == Reason.NO_SOURCE
    # the same lines with string dates
    as_text = lines.with_columns(pl.col("requested_date").cast(pl.String))
    assert list(encode_lines(snap, as_text).req) == [1, 2, 3, 4]
    # refusals name the first bad row (1-based) and the column, in the order item, location, qty, date
    bad = lines.with_columns(qty=pl.Series([4.0, -1.0, 0.0, 1.0]), requested_date=pl.Series([day(1), day(2), day(3), day(40)]))
    with pytest.raises(ValidationError) as e:
        encode_lines(snap, bad)
    assert e.value.field == "qty" and "row 2" in str(e.value)
    with pytest.raises(ValidationError) as e:
        encode_lines(snap, bad.with_columns(qty=pl.Series([4.0, 1.0, float("nan"), 1.0])))
    assert e.value.field == "qty" and "row 3" in str(e.value)
    with pytest.raises(ValidationError) as e:
        encode_lines(snap, bad.with_columns(qty=pl.lit(1.0)))
    assert e.value.field == "requested_date" and "row 4" in str(e.value)
    with pytest.raises(ValidationError) as e:
        encode_lines(snap, bad.with_columns(item=pl.Series(["A", "A", "Z", "A"])))
    assert e.value.field == "item" and "row 3" in str(e.value) and e.value.value == "Z"
