"""Compact-form stories: a short supply situation each, the promise a planner would expect, and the bytes it costs.

Snapshots go through the real loader (dense), then `compact_from_snapshot`; every expected figure is
worked out by hand in the comments, and the dense path is asked the same question beside it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from promessa.errors import ValidationError
from promessa_testing import AS_OF, day
from promising import Policy, Reason, Request, Status
from promising.atp import promise_atp, promise_batch
from promising.sparse_atp import available_compact, promise_compact, promise_compact_batch
from supplydata import load_snapshot
from supplydata.sparse import CompactBuilder, CompactLive, build_compact, commit_many, compact_from_snapshot, replay
from supplydata.writer import write_snapshot

SPLIT = Policy(allow_split=True)


def lines(p):
    return [(ln.date, ln.qty) for ln in p.lines]


def test_three_on_hand_four_more_on_day_six(make_snapshot):
    # 3 on hand, 4 arriving on day 6. C = 3 on days 0-5, 7 from day 6: two event days, so the
    # compact snapshot keeps two (day, position) pairs: (0, 3) and (6, 7).
    dense = make_snapshot(supply=[("A", "DC", 0, 3), ("A", "DC", 6, 4)])
    snap = compact_from_snapshot(dense)
    il = snap.il(snap.item_index["A"], snap.location_index["DC"])
    assert snap.ev_day[snap.ev_ptr[il]:snap.ev_ptr[il + 1]].tolist() == [0, 6]
    assert snap.ev_cum[snap.ev_ptr[il]:snap.ev_ptr[il + 1]].tolist() == [3.0, 7.0]
    # bytes: key 8 + lead time 4 + calendar 4 + pointer 8 (+8 for the closing pointer), and 2 x (2 + 8) for the days
    assert snap.nbytes == 8 + 4 + 4 + 16 + 2 * 10 + snap.calendar_open.nbytes
    st = snap.new_state()
    # 5 wanted on day 2, one line: A(2..5) = min(3, 7) = 3, A(6) = 7, so the whole 5 on day 6 (late: supply).
    p, *_ = promise_compact(snap, st, Request("A", "DC", 5, day(2)))
    assert (p.status, p.reason, lines(p)) == (Status.LATE, Reason.SUPPLY, [(day(6), 5)])
    assert p.earliest_full_date == day(6)
    # split: the 3 on hand on day 2, the other 2 from the receipt on day 6 - committed.
    p, *_ = promise_compact(snap, st, Request("A", "DC", 5, day(2), SPLIT), commit=True)
    assert (p.status, lines(p)) == (Status.LATE, [(day(2), 3), (day(6), 2)])
    # position now: 3 on days 0-1, 3 - 3 = 0 on days 2-5, 7 - 3 - 2 = 2 from day 6
    assert st.position(il).tolist()[:8] == [3, 3, 0, 0, 0, 0, 2, 2]
    assert st.n_entries == 2 and st.committed(il)[[2, 6]].tolist() == [3, 2]
    assert available_compact(snap, st, "A", "DC", day(0)) == 0
    assert available_compact(snap, st, "A", "DC", day(6)) == 2
    # the dense form, asked the same with the same commitment, agrees
    dst = dense.new_state()
    dp, *_ = promise_atp(dense, dst, Request("A", "DC", 5, day(2), SPLIT), explain=False)
    assert lines(dp) == [(day(2), 3), (day(6), 2)]
    # releasing the 2 on day 6 gives them back from day 6 on: 2 + 2 = 4
    st.release(il, 6, 2)
    assert available_compact(snap, st, "A", "DC", day(6)) == 4
    assert st.n_entries == 2 and st.committed(il)[6] == 0  # the day's entry stays, at 0


def test_lead_time_and_closed_days(make_snapshot):
    # B: 5 on hand, lead time 10 -> A(t) = 5 before day 10, unlimited from day 10.
    # A at a location closed on days 5 and 6: 10 on hand.
    dense = make_snapshot(supply=[("B", "DC", 0, 5), ("A", "ST", 0, 10)], lead_times={"B": 10},
                          calendars={"WK": [(5, False), (6, False)]}, location_calendar={"ST": "WK"})
    snap = compact_from_snapshot(dense)
    st = snap.new_state()
    # 8 of B on day 2: 5 is not enough before the lead time; the whole 8 on day 10 (bound by the lead time).
    p, *_ = promise_compact(snap, st, Request("B", "DC", 8, day(2), Policy(allow_partial=False)))
    assert (p.status, p.reason, lines(p)) == (Status.LATE, Reason.LEAD_TIME, [(day(10), 8)])
    assert available_compact(snap, st, "B", "DC", day(10)) == float("inf")
    # 4 of A on day 5 (closed): the next working day, 7, has them; the calendar binds.
    p, *_ = promise_compact(snap, st, Request("A", "ST", 4, day(5)), commit=True)
    assert (p.status, p.reason, lines(p)) == (Status.LATE, Reason.CALENDAR, [(day(7), 4)])
    assert available_compact(snap, st, "A", "ST", day(0)) == 6
    # the dense form answers both the same on a fresh state
    for req in (Request("B", "DC", 8, day(2), Policy(allow_partial=False)), Request("A", "ST", 4, day(5))):
        dp, *_ = promise_atp(dense, dense.new_state(), req, explain=False)
        cp, *_ = promise_compact(snap, snap.new_state(), req)
        assert (dp.status, dp.reason, lines(dp)) == (cp.status, cp.reason, lines(cp))


def test_bad_requests_are_refused_naming_the_field_and_change_nothing(make_snapshot):
    dense = make_snapshot(supply=[("A", "DC", 0, 3)], items=["Z"], horizon=30)
    snap = compact_from_snapshot(dense)
    st = snap.new_state()
    with pytest.raises(ValidationError) as e:
        promise_compact(snap, st, Request("NOPE", "DC", 1, day(1)), commit=True)
    assert e.value.field == "item"
    with pytest.raises(ValidationError) as e:
        promise_compact(snap, st, Request("A", "DC", 1, day(30)), commit=True)
    assert e.value.field == "requested_date"
    with pytest.raises(ValidationError) as e:
        promise_compact(snap, st, Request("A", "DC", -1, day(1)), commit=True)
    assert e.value.field == "qty"
    with pytest.raises(ValidationError) as e:
        commit_many(st, np.array([0, 5]), np.array([1, 1]), np.array([1.0, 1.0]))
    assert (e.value.field, e.value.value) == ("il", 5)
    assert st.n_entries == 0
    # an item without a row at that location: not promised, no source
    p, *_ = promise_compact(snap, st, Request("Z", "DC", 1, day(1)), commit=True)
    assert (p.status, p.reason) == (Status.SHORT, Reason.NO_SOURCE) and st.n_entries == 0
    with pytest.raises(ValidationError) as e:
        CompactBuilder(as_of=dt.date(2026, 1, 5), horizon=40_000)
    assert e.value.field == "horizon_days"
    b = CompactBuilder(as_of=dt.date(2026, 1, 5), horizon=10)
    with pytest.raises(ValidationError) as e:
        b.add(1, (np.array([0]), np.array([10]), np.array([1.0])), (np.empty(0), np.empty(0), np.empty(0)))
    assert (e.value.field, e.value.value) == ("supply.day", 10)


def test_blocks_build_the_same_snapshot_as_one_and_the_batch_matches_the_dense_batch(make_snapshot):
    # two item-locations: il 0 gets 4 on hand and 6 on day 3 with 5 demanded on day 2 (C = 4, 4, -1, 5, ...);
    # il 1 gets 2 + 2 on day 1 (two rows, one event day) and nothing else (C = 0, 4, 4, ...)
    sup = (np.array([0, 0, 1, 1]), np.array([0, 3, 1, 1]), np.array([4.0, 6.0, 2.0, 2.0]))
    dem = (np.array([0]), np.array([2]), np.array([5.0]))
    kw = dict(il_key=np.array([0, 1]), n_locations=2, il_lead_time=np.array([-1, -1]), il_calendar=np.array([-1, -1]),
              calendar_open=np.ones((0, 10), np.bool_))
    one = build_compact(as_of=dt.date(2026, 1, 5), horizon=10, supply=sup, demand=dem, **kw)
    assert one.ev_day.tolist() == [0, 2, 3, 1] and one.ev_cum.tolist() == [4.0, -1.0, 5.0, 4.0]
    b = CompactBuilder(as_of=dt.date(2026, 1, 5), horizon=10)
    b.add(1, (sup[0][:2], sup[1][:2], sup[2][:2]), dem)
    b.add(1, (np.zeros(2, np.int64), sup[1][2:], sup[2][2:]), (np.empty(0), np.empty(0), np.empty(0)))
    two = b.finish(**kw)
    for name in ("ev_ptr", "ev_day", "ev_cum"):
        assert np.array_equal(getattr(one, name), getattr(two, name))
    assert one.base_row(0).tolist() == [4, 4, -1, 5, 5, 5, 5, 5, 5, 5]
    # the batch path (ids and dates through encode_lines) on the sample network equals the dense batch
    dense = make_snapshot(supply=[("A", "DC", 0, 3), ("A", "DC", 6, 4), ("B", "DC", 0, 10)], demand=[("B", "DC", 4, 6)])
    snap = compact_from_snapshot(dense)
    orders = pl.DataFrame({"item": ["A", "B", "A", "B", "A"], "location": ["DC"] * 5, "qty": [2.0, 3.0, 4.0, 3.0, 1.0],
                           "requested_date": [day(1), day(2), day(2), day(3), day(9)]})
    want = promise_batch(dense, dense.new_state(), orders, policy=SPLIT)
    got = promise_compact_batch(snap, snap.new_state(), orders, policy=SPLIT)
    # by hand (A: C = 3 on days 0-5, 7 from day 6; B: C = 10 on days 0-3, 4 from day 4):
    # A 2 on day 1 from the 3 on hand (1 left until day 6, 5 from day 6); B 3 on day 2, A(2) = min(10, 4) = 4;
    # A 4 on day 2: 1 there, the other 3 on day 6 (late); B 3 on day 3: A(3) = min(7, 1) = 1, partial 1;
    # A 1 on day 9: 7 - 2 - 4 = 1 left, on time
    assert got.status.tolist() == want.status.tolist() == [Status.FULL, Status.FULL, Status.LATE, Status.PARTIAL, Status.FULL]
    assert np.array_equal(got.promised, want.promised) and got.promised.tolist() == [2, 3, 4, 1, 1]


def test_refresh_replays_the_overlay_onto_the_next_extract_and_lists_what_no_longer_fits(make_snapshot, tmp_path):
    # Today: A has 10 on hand and 10 arriving on day 5; B has 4 on hand.
    old_dense = make_snapshot(supply=[("A", "DC", 0, 10), ("A", "DC", 5, 10), ("B", "DC", 0, 4)])
    live = CompactLive(compact_from_snapshot(old_dense))
    snap, st = live.pair
    for item, qty, d in (("A", 8, 1), ("A", 6, 6), ("B", 3, 2)):
        p, *_ = promise_compact(snap, st, Request(item, "DC", qty, day(d)), commit=True)
        assert p.status is Status.FULL
    # Tomorrow's extract (as_of one day later, so yesterday's day 5 is day 4): the receipt of A shrank to 3
    # and B is no longer stocked at DC (C is new).
    tomorrow = AS_OF + dt.timedelta(days=1)
    nd = lambda n: tomorrow + dt.timedelta(days=n)  # noqa: E731
    tables = {"items": [{"item": i, "price": 1.0, "cost": 1.0, "category": "c"} for i in ("A", "C")],
              "locations": [{"location": "DC", "kind": "dc", "zone": "Z1"}],
              "supply": [{"item": "A", "location": "DC", "date": nd(0), "qty": 10.0, "kind": "onhand", "ref": "R0"},
                         {"item": "A", "location": "DC", "date": nd(4), "qty": 3.0, "kind": "purchase", "ref": "R1"},
                         {"item": "C", "location": "DC", "date": nd(0), "qty": 1.0, "kind": "onhand", "ref": "R2"}]}
    path = write_snapshot(tmp_path / "tomorrow", tables, as_of=tomorrow, horizon_days=30)
    new = compact_from_snapshot(load_snapshot(path))
    old_bytes = snap.nbytes + st.nbytes
    report = live.refresh(new)
    # A's 8 on old day 1 -> new day 0, its 6 on old day 6 -> new day 5. New A: 10 on days 0-3, 13 from day 4;
    # after 8 on day 0: 2, then 5 from day 4; after 6 on day 5: -1 from day 5 -> no longer fits (kept, listed).
    assert live.snapshot is new and live.state is not st
    assert (report.replayed, report.not_fitting) == (2, 1)
    assert report.exceptions == [{"il": ("A", "DC"), "day": 5, "qty": 6.0}]
    assert report.dropped == [{"il": ("B", "DC"), "day": 1, "qty": 3.0, "why": "item-location gone"}]
    a = new.il(new.item_index["A"], new.location_index["DC"])
    assert live.state.position(a).tolist()[:7] == [2, 2, 2, 2, 5, -1, -1]
    assert report.bytes_in_flight == old_bytes + new.nbytes + live.state.nbytes
    assert report.bytes_after == new.nbytes + live.state.nbytes
    # the old pair is untouched: requests that started on it finish there
    assert st.position(snap.il(snap.item_index["A"], snap.location_index["DC"])).tolist()[:7] == [10, 2, 2, 2, 2, 12, 6]
    # replaying the new state onto itself changes nothing and drops nothing
    again, rep2 = replay(live.state, new)
    assert rep2.dropped == [] and again.position(a).tolist() == live.state.position(a).tolist()

