"""Capable-to-promise stories with hand-computed answers.

The bike plant P1 (as of 2026-01-01, 60 days):

    BIKE   = 1 FRAME + 2 WHEEL,  assembly ASSY 1 h/bike, lead time 2 days
    FRAME  = 1 TUBE + 2 BOLT,    welding WELD 1 h/frame, lead time 2 days
    WHEEL  = 1 RIM + 1 BOLT,     lacing LACE 0.5 h/wheel, lead time 1 day

BOLT is shared by FRAME and WHEEL. On hand: 5 BIKE, 100 TUBE, 100 RIM, 100 BOLT; no FRAME or
WHEEL. Capacity per day: ASSY 10 h, WELD 10 h, LACE 20 h.

A bike lot finishing on day f assembles on days f-2 and f-1 and takes its frames and wheels
on day f-2; the frame lot for it finishes on f-2, welds on f-4..f-3 and takes tubes and bolts
on f-4; the wheel lot finishes on f-2, laces on f-3 and takes rims and bolts on f-3.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

import promising
from promessa.errors import SnapshotError
from promising import Policy, Reason, Request, Reservation, Status
from promising.ctp import build_model, capacity_report, capacity_used, ctp_model
from supplydata.snapshot import load_snapshot
from supplydata.writer import write_snapshot

AS_OF = dt.date(2026, 1, 1)
H = 60


def day(n: int) -> dt.date:
    return AS_OF + dt.timedelta(days=n)


def bike_tables(*, bolt=100.0, bolt_receipt=None, assy=lambda d: 10.0, fence=None, extra_bom=(), closed=()):
    items = [{"item": i} for i in ("BIKE", "FRAME", "WHEEL", "TUBE", "BOLT", "RIM", "BELL")]
    if fence is not None:
        for r in items:
            r["atp_time_fence_days"] = fence if r["item"] == "BIKE" else None
    supply = [{"item": "BIKE", "location": "P1", "date": AS_OF, "qty": 5.0, "kind": "onhand"}]
    for item, q in (("TUBE", 100.0), ("RIM", 100.0), ("BOLT", float(bolt)), ("BELL", 50.0)):
        supply.append({"item": item, "location": "P1", "date": AS_OF, "qty": q, "kind": "onhand", "ref": f"OH-{item}"})
    if bolt_receipt:
        supply.append({"item": "BOLT", "location": "P1", "date": day(bolt_receipt[0]), "qty": bolt_receipt[1],
                       "kind": "purchase", "ref": "PO-1"})
    bom = [
        {"item": "BIKE", "location": "P1", "component": "FRAME", "qty_per": 1.0, "resource": "ASSY", "usage_per_unit": 1.0, "lead_time_days": 2},
        {"item": "BIKE", "location": "P1", "component": "WHEEL", "qty_per": 2.0, "resource": "ASSY", "usage_per_unit": 1.0, "lead_time_days": 2},
        {"item": "FRAME", "location": "P1", "component": "TUBE", "qty_per": 1.0, "lead_time_days": 2},
        {"item": "FRAME", "location": "P1", "component": "BOLT", "qty_per": 2.0},
        {"item": "FRAME", "location": "P1", "resource": "WELD", "usage_per_unit": 1.0},  # routing step only
        {"item": "WHEEL", "location": "P1", "component": "RIM", "qty_per": 1.0, "resource": "LACE", "usage_per_unit": 0.5, "lead_time_days": 1},
        {"item": "WHEEL", "location": "P1", "component": "BOLT", "qty_per": 1.0},
        *extra_bom,
    ]
    resources = []
    for d in range(H):
        resources += [
            {"resource": "ASSY", "location": "P1", "date": day(d), "capacity": float(assy(d))},
            {"resource": "WELD", "location": "P1", "date": day(d), "capacity": 10.0},
            {"resource": "LACE", "location": "P1", "date": day(d), "capacity": 20.0},
        ]
    out = {"items": items, "locations": [{"location": "P1", "kind": "plant", "calendar": "P1CAL" if closed else None}],
           "supply": supply, "bom": bom, "resources": resources}
    if closed:
        out["calendars"] = [{"calendar": "P1CAL", "date": day(d), "open": False} for d in closed]
    return out


@pytest.fixture
def make_snap(tmp_path):
    n = [0]

    def make(**kw):
        n[0] += 1
        d = write_snapshot(tmp_path / f"s{n[0]}", bike_tables(**kw), as_of=AS_OF, horizon_days=H)
        return load_snapshot(d)

    return make


def bike(qty: float, d: int, **policy) -> Request:
    return Request("BIKE", "P1", qty, day(d), policy=Policy(**policy) if policy else promising.DEFAULT_POLICY)


def draws(p) -> set[tuple]:
    return {(d.kind, d.key, d.date, round(d.qty, 9)) for d in p.draws}


def test_on_time_when_everything_is_there(make_snap):
    """15 bikes on day 10: 5 from stock, 10 made in a lot finishing on day 10."""
    snap = make_snap()
    st = snap.new_state()
    p = promising.promise(snap, st, bike(15, 10), commit=True)
    assert p.status is Status.FULL and p.reason is Reason.NONE
    assert [(ln.date, ln.qty) for ln in p.lines] == [(day(10), 15.0)]
    assert draws(p) == {
        ("atp", "BIKE", day(10), 5.0),
        ("capacity", "ASSY", day(9), 10.0),     # latest day of the window first
        ("capacity", "WELD", day(7), 10.0),
        ("capacity", "LACE", day(7), 10.0),
        ("atp", "TUBE", day(6), 10.0),
        ("atp", "BOLT", day(6), 20.0),          # for 10 frames
        ("atp", "RIM", day(7), 20.0),
        ("atp", "BOLT", day(7), 20.0),          # for 20 wheels
    }
    ctp = p.details["ctp"]
    assert ctp["stock_qty"] == 5.0 and ctp["made_qty"] == 10.0 and ctp["binding"] is None
    lots = {(lot["item"], lot["level"], lot["qty"], lot["start"], lot["finish"]) for lot in ctp["lots"]}
    assert lots == {
        ("BIKE", 0, 10.0, "2026-01-09", "2026-01-11"),
        ("FRAME", 1, 10.0, "2026-01-07", "2026-01-09"),
        ("WHEEL", 1, 20.0, "2026-01-08", "2026-01-09"),
    }
    bolt = [c for c in ctp["components"] if c["item"] == "BOLT"]
    assert {c["parent"] for c in bolt} == {"FRAME", "WHEEL"}
    assert all(c["pegs"][0]["ref"] == "OH-BOLT" for c in bolt)
    # the state: capacity used and components consumed
    assert capacity_used(snap, st)[ctp_model(snap).resource_index[("ASSY", "P1")], 9] == 10.0
    assert promising.available(snap, st, "BOLT", "P1", day(6)) == 60.0
    assert promising.available(snap, st, "BIKE", "P1", day(10)) == 0.0


def test_material_binds_shared_bolt(make_snap):
    """Only 32 bolts until 100 more arrive on day 20. A made bike needs 2 bolts for its frame
    (taken on f-4) and 2 for its wheels (on f-3): 32 bolts make 8 bikes, in one lot finishing
    on day 10; nothing is left for the other 2 (their frames would need 4 bolts on day 6).
    The whole 15 is possible once the wheels' bolts come from the receipt: f - 3 >= 20, so
    f = 23 (the frames still take 20 from stock on day 19, leaving 12 until the receipt)."""
    snap = make_snap(bolt=32.0, bolt_receipt=(20, 100.0))
    st = snap.new_state()
    p = promising.promise(snap, st, bike(15, 10))
    assert p.status is Status.LATE and p.reason is Reason.MATERIAL
    assert [(ln.date, ln.qty) for ln in p.lines] == [(day(23), 15.0)]
    assert p.earliest_full_date == day(23)
    b = p.details["ctp"]["binding"]
    assert (b["constraint"], b["item"], b["parent"], b["date"], b["needed"], b["available"]) == (
        "material", "BOLT", "FRAME", "2026-01-07", 4.0, 0.0)
    assert p.details["ctp"]["root_lots"] == [{"finish": "2026-01-24", "qty": 10.0}]
    # within three days late at most: 4 bolts per made bike, 32 bolts -> 8 bikes + 5 in stock
    p = promising.promise(snap, st, bike(15, 10, max_late_days=3))
    assert p.status is Status.PARTIAL and p.reason is Reason.MATERIAL
    assert [(ln.date, ln.qty) for ln in p.lines] == [(day(10), 13.0)]
    assert p.details["ctp"]["made_qty"] == 8.0


def test_capacity_binds_assembly(make_snap):
    """Assembly is shut until day 7, runs 4 h a day on days 8-11 and 10 h from day 12.
    15 bikes on day 10 (10 to make): a lot finishing on day 10 assembles on days 8-9 (8 h,
    8 bikes); earlier lots find no hours. By day 11 a lot finishing on 11 takes days 10 and 9
    (8 bikes) and one finishing on 10 takes the 4 h of day 8 (2 bikes needed): late by a day."""
    snap = make_snap(assy=lambda d: 0.0 if d < 8 else (4.0 if d < 12 else 10.0))
    st = snap.new_state()
    p = promising.promise(snap, st, bike(15, 10), commit=True)
    assert p.status is Status.LATE and p.reason is Reason.CAPACITY
    assert [(ln.date, ln.qty) for ln in p.lines] == [(day(11), 15.0)]
    assert p.details["ctp"]["root_lots"] == [{"finish": "2026-01-12", "qty": 8.0}, {"finish": "2026-01-11", "qty": 2.0}]
    assert {d for d in draws(p) if d[1] == "ASSY"} == {
        ("capacity", "ASSY", day(10), 4.0), ("capacity", "ASSY", day(9), 4.0), ("capacity", "ASSY", day(8), 2.0)}
    # why not on day 10: after the 8 that fit, the other 2 find no assembly hours
    b = p.details["ctp"]["binding"]
    assert (b["resource"], b["first_day"], b["last_day"], b["needed"], b["available"]) == (
        "ASSY", "2026-01-09", "2026-01-10", 2.0, 0.0)
    # a second order competes for the same hours: 5 bikes on day 13. The stock is promised
    # away; a lot finishing on day 13 assembles on day 12 (10 h free): on time
    q = promising.promise(snap, st, bike(5, 13), commit=True)
    assert q.status is Status.FULL
    assert q.details["ctp"]["root_lots"] == [{"finish": "2026-01-14", "qty": 5.0}]
    assert {d for d in draws(q) if d[1] == "ASSY"} == {("capacity", "ASSY", day(12), 5.0)}
    rep = capacity_report(snap, st, "ASSY", "P1")
    assert rep["used"].to_list()[7:14] == [0.0, 2.0, 4.0, 4.0, 0.0, 5.0, 0.0]
    # 20 bikes on day 10, not later: only the 2 h left on day 8 remain before day 10
    r = promising.promise(snap, st, bike(20, 10, max_late_days=0))
    assert r.status is Status.PARTIAL and r.reason is Reason.CAPACITY
    assert [(ln.date, ln.qty) for ln in r.lines] == [(day(10), 2.0)]


def test_lead_time_binds(make_snap):
    """15 bikes on day 3: the frame lot would have to weld from day -1. Earliest: day 4."""
    snap = make_snap()
    p = promising.promise(snap, snap.new_state(), bike(15, 3))
    assert p.status is Status.LATE and p.reason is Reason.LEAD_TIME
    assert [(ln.date, ln.qty) for ln in p.lines] == [(day(4), 15.0)]
    b = p.details["ctp"]["binding"]
    assert (b["constraint"], b["item"], b["starts_days_before_today"]) == ("lead_time", "FRAME", 1)


def test_time_fence_keeps_the_near_term_to_atp(make_snap):
    """With a 12-day ATP time fence on BIKE, no bike lot may finish before day 12."""
    snap = make_snap(fence=12)
    p = promising.promise(snap, snap.new_state(), bike(15, 10))
    assert p.status is Status.LATE and p.reason is Reason.LEAD_TIME
    assert [(ln.date, ln.qty) for ln in p.lines] == [(day(12), 15.0)]
    assert p.details["ctp"]["binding"]["time_fence_until"] == "2026-01-13"
    # beyond the fence CTP makes them on time
    p = promising.promise(snap, snap.new_state(), bike(15, 20))
    assert p.status is Status.FULL


def test_closed_delivery_day(make_snap):
    """The plant ships nothing on day 10: the bikes that could be made by then go out on 11."""
    snap = make_snap(closed=(10,))
    p = promising.promise(snap, snap.new_state(), bike(15, 10))
    assert p.status is Status.LATE and p.reason is Reason.CALENDAR
    assert [(ln.date, ln.qty) for ln in p.lines] == [(day(11), 15.0)]


def test_no_bill_is_plain_atp(make_snap):
    snap = make_snap()
    st = snap.new_state()
    req = Request("TUBE", "P1", 150, day(5))
    atp, *_ = promising.promise_atp(snap, st, req)
    p = promising.promise(snap, st, req)
    assert (p.status, p.reason, p.lines, p.draws, p.details) == (atp.status, atp.reason, atp.lines, None, None)


def test_bill_that_cannot_help_explains_atp(make_snap):
    """No bolts at all and no receipt: CTP cannot make a single bike; the ATP answer (5 from
    stock) stands, with the binding component named."""
    snap = make_snap(bolt=0.0)
    st = snap.new_state()
    p = promising.promise(snap, st, bike(15, 10), commit=True)
    assert p.status is Status.PARTIAL and p.reason is Reason.MATERIAL and p.committed
    assert [(ln.date, ln.qty) for ln in p.lines] == [(day(10), 5.0)]
    assert p.details["ctp"]["improves"] is False and p.details["ctp"]["binding"]["item"] == "BOLT"
    assert promising.available(snap, st, "BIKE", "P1", day(10)) == 0.0


def test_release_and_replay_are_exact(make_snap):
    snap = make_snap(bolt=32.0, bolt_receipt=(20, 100.0), assy=lambda d: 6.0)
    st = snap.new_state()
    capacity_used(snap, st)
    before = st.copy()
    ps = [promising.promise(snap, st, bike(q, d), commit=True) for q, d in ((9, 10), (7, 12), (4, 30))]
    assert all(p.committed and p.draws for p in ps)
    after = st.copy()
    # replay the stored reservations on a fresh state: the same state
    fresh = snap.new_state()
    for p in ps:
        stored = Reservation.from_dict(p.reservation.to_dict())
        assert promising.reserve(snap, fresh, stored) == []
    np.testing.assert_allclose(fresh.cum, after.cum, atol=1e-9, rtol=0)
    np.testing.assert_allclose(fresh.extras["capacity"], after.extras["capacity"], atol=1e-9, rtol=0)
    # release in any order: back to the start
    for p in (ps[1], ps[0], ps[2]):
        promising.unreserve(snap, st, p.reservation)
    np.testing.assert_allclose(st.cum, before.cum, atol=1e-9, rtol=0)
    np.testing.assert_allclose(st.extras["capacity"], before.extras["capacity"], atol=1e-9, rtol=0)


def test_replay_of_an_unknown_resource_is_reported_not_raised(make_snap):
    """After a refresh the order book replays stored draws; a resource that is gone does not
    fit (reported by reserve) and releasing it is a no-op."""
    from promising import Draw

    snap = make_snap()
    st = snap.new_state()
    gone = Reservation((Draw("capacity", "PAINT", "P1", day(3), 2.0), Draw("capacity", "ASSY", "P1", day(3), 2.0)))
    assert [d.key for d in promising.reserve(snap, st, gone)] == ["PAINT"]
    assert capacity_report(snap, st, "ASSY", "P1")["used"][3] == 2.0
    promising.unreserve(snap, st, gone)
    assert capacity_used(snap, st).sum() == 0.0
    # more than the day's capacity is kept but reported
    big = Reservation((Draw("capacity", "ASSY", "P1", day(3), 12.0),))
    assert promising.reserve(snap, st, big) == list(big.draws)


def test_bad_bills_are_refused(tmp_path):
    t = bike_tables(extra_bom=[{"item": "BOLT", "location": "P1", "component": "BIKE", "qty_per": 1.0}])
    snap = load_snapshot(write_snapshot(tmp_path / "cyc", t, as_of=AS_OF, horizon_days=H))
    with pytest.raises(SnapshotError, match="cycle"):
        build_model(snap, strict=True)
    # served leniently: the bills on the cycle are left out and listed, the rest still promise
    m = ctp_model(snap)
    assert set(m.bills) == {("WHEEL", "P1")} and "BIKE -> FRAME -> BOLT -> BIKE" in m.problems[0]
    assert promising.promise(snap, snap.new_state(), bike(15, 10)).lines[0].qty == 5.0  # plain ATP
    t = bike_tables(extra_bom=[{"item": "BELL", "location": "P1", "component": "BOLT"}])
    snap = load_snapshot(write_snapshot(tmp_path / "noqty", t, as_of=AS_OF, horizon_days=H))
    with pytest.raises(SnapshotError, match="qty_per"):
        build_model(snap, strict=True)
    assert ("BELL", "P1") not in ctp_model(snap).bills


def test_allocation_short_falls_through_to_ctp_within_the_class_quota(make_snap, tmp_path):
    """The bike plant with quotas: silver holds 3 of the 5 bikes on hand; gold (may not steal)
    asks 12 bikes on day 10. Allocation alone gives gold the 2 unallocated bikes; making the
    rest answers in full: 2 from stock (unallocated, silver's 3 untouched) + 10 made in a lot
    finishing on day 10, as in the first story."""
    tables = bike_tables()
    tables["demand_classes"] = [{"demand_class": "gold", "priority": 1, "parent": None, "can_steal_lower": False},
                                {"demand_class": "silver", "priority": 2, "parent": None, "can_steal_lower": False}]
    tables["allocation"] = [{"item": "BIKE", "location": "P1", "demand_class": "silver", "date": AS_OF, "qty": 3.0}]
    snap = load_snapshot(write_snapshot(tmp_path / "alloc", tables, as_of=AS_OF, horizon_days=H))
    import allocation

    st = snap.new_state()
    alone = allocation.class_path(snap, st, Request("BIKE", "P1", 12, day(10), promising.DEFAULT_POLICY, "gold"))
    assert alone.promised_qty == pytest.approx(2) and alone.reason is Reason.ALLOCATION
    p = promising.promise(snap, st, Request("BIKE", "P1", 12, day(10), promising.DEFAULT_POLICY, "gold"), commit=True)
    assert p.status is Status.FULL and [(ln.date, ln.qty) for ln in p.lines] == [(day(10), 12.0)]
    stock = [d for d in p.draws if d.kind == "atp" and d.key == "BIKE"]
    assert [(d.qty, d.pools) for d in stock] == [(2.0, (("unallocated", 2.0),))]
    assert allocation.available(snap, st, "BIKE", "P1", "silver", day(0)) == pytest.approx(3)
    assert allocation.available(snap, st, "BIKE", "P1", "gold", day(0)) == pytest.approx(0)
    # the reservation gives everything back exactly
    promising.unreserve(snap, st, p.reservation)
    assert st.cum == pytest.approx(snap.new_state().cum)


@pytest.mark.parametrize("explain", [False, True])
def test_promise_many_answers_as_promise_one_by_one(make_snap, explain):
    """Several independent lines in one call (the configurator's components): the same promises as asking
    each alone, whether ATP answers (BOLT, RIM, BELL), capable-to-promise answers (BIKE beyond its 5 on hand,
    FRAME, WHEEL have none) or nothing does (TUBE beyond what exists); nothing is committed."""
    snap = make_snap()
    st = snap.new_state()
    promising.promise(snap, st, bike(3, 2), commit=True)  # the state is not empty
    one_date = Policy(allow_partial=False, allow_split=False)
    reqs = [Request("BOLT", "P1", 40, day(3), policy=one_date), Request("BIKE", "P1", 12, day(10), policy=one_date),
            Request("RIM", "P1", 20, day(0)), Request("FRAME", "P1", 4, day(8), policy=one_date),
            Request("TUBE", "P1", 500, day(5)), Request("BELL", "P1", 7, day(1), policy=Policy(allow_split=True)),
            Request("WHEEL", "P1", 6, day(9), policy=one_date)]
    before = st.cum.copy()
    got = promising.promise_many(snap, st, reqs, explain=explain)
    assert np.array_equal(st.cum, before)  # nothing committed
    want = [promising.promise(snap, st, r, explain=explain) for r in reqs]
    assert got == want
    assert [p.status for p in got][:3] == [Status.FULL, Status.FULL, Status.FULL]
    assert got[1].details and "ctp" in got[1].details  # 5 from stock, the rest made: CTP answered


def test_promise_many_refuses_what_promise_refuses(make_snap):
    snap = make_snap()
    with pytest.raises(Exception) as e1:
        promising.promise_many(snap, snap.new_state(), [Request("BOLT", "P1", 1, day(1)), Request("NOPE", "P1", 1, day(1))])
    with pytest.raises(Exception) as e2:
        promising.promise(snap, snap.new_state(), Request("NOPE", "P1", 1, day(1)))
    assert str(e1.value) == str(e2.value)
