"""Stories with hand-computed answers: who gets scarce supply, from which quota, and why.

The shop: item A at DC1, 100 units on hand on day 0. Gold customers (priority 1) are promised
40% of supply, silver (priority 2) 30%, bronze (priority 3) a flat 10 units; the remaining 20
units are not allocated to anybody.
"""

from __future__ import annotations

import polars as pl
import pytest
from promessa_testing import day

import allocation
import promising
from promising import Policy, Reason, Request, Status

NO_SPLIT = Policy(allow_partial=True)
ALL_OR_NOTHING = Policy(allow_partial=False)


def shop(alloc_snapshot, *, gold_steals=True, silver_steals=True, more=(), extra_quotas=(), **kw):
    return alloc_snapshot(
        supply=[("A", "DC1", 0, 100), *more],
        classes=[("gold", 1, None, gold_steals), ("silver", 2, None, silver_steals), ("bronze", 3, None, False)],
        quotas=[dict(demand_class="gold", pct=40), dict(demand_class="silver", pct=30),
                dict(demand_class="bronze", qty=10), *extra_quotas],
        **kw,
    )


def ask(snap, state, cls, qty, d=0, *, policy=NO_SPLIT, commit=True):
    return promising.promise(snap, state, Request("A", "DC1", qty, day(d), policy, cls), commit=commit)


def pools(p):
    return [pq for d in p.draws for pq in d.pools]


def test_percentage_quotas_are_computed_against_supply(alloc_snapshot):
    snap = shop(alloc_snapshot)
    st = snap.new_state()
    rep = allocation.allocation_report(snap, st, "A", "DC1").filter(pl.col("date") == day(0))
    got = dict(zip(rep["demand_class"], rep["quota"]))
    assert got == pytest.approx({"bronze": 10.0, "gold": 40.0, "silver": 30.0})
    # what each class can take today: own quota + unallocated (+ lower quotas when stealing)
    assert allocation.available(snap, st, "A", "DC1", "bronze", day(0)) == pytest.approx(10 + 20)
    assert allocation.available(snap, st, "A", "DC1", "silver", day(0)) == pytest.approx(30 + 20 + 10)
    assert allocation.available(snap, st, "A", "DC1", "gold", day(0)) == pytest.approx(100)
    assert allocation.available(snap, st, "A", "DC1", "nobody", day(0)) == pytest.approx(20)


def test_sequence_with_stealing(alloc_snapshot):
    snap = shop(alloc_snapshot)
    st = snap.new_state()
    # gold 50: its own 40, then 10 of the 20 unallocated
    p = ask(snap, st, "gold", 50)
    assert (p.status, p.reason, p.promised_qty) == (Status.FULL, Reason.NONE, 50)
    assert pools(p) == [("gold", 40.0), ("unallocated", 10.0)]
    # gold 15: the last 10 unallocated, then steals 5 from the lowest class first (bronze)
    p = ask(snap, st, "gold", 15)
    assert p.status is Status.FULL
    assert pools(p) == [("unallocated", 10.0), ("bronze", 5.0)]
    # silver 20 from its own 30
    p = ask(snap, st, "silver", 20)
    assert pools(p) == [("silver", 20.0)]
    # bronze 10: only the 5 gold left it; plain ATP would have given 15 -> allocation binds
    p = ask(snap, st, "bronze", 10)
    assert (p.status, p.reason, p.promised_qty) == (Status.PARTIAL, Reason.ALLOCATION, 5)
    d = p.details
    assert d["demand_class"] == "bronze" and d["pool"] == "bronze"
    assert d["quota_left"] == pytest.approx(5)
    assert d["without_allocation"]["promised_qty"] == pytest.approx(10)
    assert d["without_allocation"]["status"] == "full"
    # gold 5: nothing own, unallocated or bronze left: steals 5 of silver's 10
    p = ask(snap, st, "gold", 5)
    assert pools(p) == [("silver", 5.0)]
    # silver 10: 5 left in its quota; gold never loses to silver (silver cannot take gold quota)
    p = ask(snap, st, "silver", 10)
    assert p.promised_qty == pytest.approx(5) and p.status is Status.PARTIAL
    assert st.committed_total() == pytest.approx(100)
    assert allocation.over_quota(snap, st) == []


def test_sequence_without_stealing(alloc_snapshot):
    snap = shop(alloc_snapshot, gold_steals=False)
    st = snap.new_state()
    assert pools(ask(snap, st, "gold", 50)) == [("gold", 40.0), ("unallocated", 10.0)]
    # gold 15: only 10 unallocated left; may not steal -> partial, allocation binds (plain: 15)
    p = ask(snap, st, "gold", 15)
    assert (p.status, p.reason, p.promised_qty) == (Status.PARTIAL, Reason.ALLOCATION, 10)
    assert p.details["quota_left"] == 0.0
    assert p.details["without_allocation"]["promised_qty"] == 15
    # all or nothing: short
    p = ask(snap, st, "gold", 1, policy=ALL_OR_NOTHING)
    assert (p.status, p.reason, p.lines) == (Status.SHORT, Reason.ALLOCATION, ())
    # silver and bronze keep their whole quotas
    assert allocation.available(snap, st, "A", "DC1", "silver", day(0)) == pytest.approx(30 + 10)  # silver may steal bronze
    assert allocation.available(snap, st, "A", "DC1", "bronze", day(0)) == pytest.approx(10)


def test_lower_class_never_takes_higher_quota_and_waits_for_its_share(alloc_snapshot):
    # a receipt of 50 on day 10 adds 20 to gold and 15 to silver (percentages); no unallocated today
    snap = shop(alloc_snapshot, more=[("A", "DC1", 10, 50)])
    st = snap.new_state()
    assert ask(snap, st, "silver", 60).promised_qty == pytest.approx(60)  # 30 own + 20 unallocated + 10 bronze
    # silver asks 10 more on day 2: its share of the day-10 receipt -> late, allocation binds
    p = ask(snap, st, "silver", 10, d=2)
    assert p.status is Status.LATE and p.reason is Reason.ALLOCATION
    assert p.lines[0].date == day(10)
    assert p.details["without_allocation"]["lines"][0]["date"] == day(2).isoformat()
    # gold's 40 today are untouched
    assert allocation.available(snap, st, "A", "DC1", "gold", day(0)) == pytest.approx(40)


def test_child_stays_inside_parent_quota(alloc_snapshot):
    # online (priority 3) gets 50; its child marketplace (priority 4) 20 of those
    snap = alloc_snapshot(
        supply=[("A", "DC1", 0, 100)],
        classes=[("online", 3, None, False), ("marketplace", 4, "online", False), ("retail", 2, None, False)],
        quotas=[dict(demand_class="online", qty=50), dict(demand_class="marketplace", qty=20),
                dict(demand_class="retail", qty=40)],
    )
    st = snap.new_state()
    # unallocated = 100 - 50 - 40 = 10; marketplace: own 20, online's free 30, unallocated 10
    assert allocation.available(snap, st, "A", "DC1", "marketplace", day(0)) == pytest.approx(60)
    p = ask(snap, st, "marketplace", 25)
    assert pools(p) == [("marketplace", 20.0), ("online", 5.0)]
    # online itself: its free part (30 - 5 = 25) + unallocated 10; marketplace's reserved part is not its
    assert allocation.available(snap, st, "A", "DC1", "online", day(0)) == pytest.approx(35)
    p = ask(snap, st, "online", 40)
    assert pools(p) == [("online", 25.0), ("unallocated", 10.0)]
    assert p.reason is Reason.ALLOCATION
    # retail's 40 were never touched
    assert allocation.available(snap, st, "A", "DC1", "retail", day(0)) == pytest.approx(40)


def test_child_cannot_exceed_parent_quota(alloc_snapshot):
    # a child quota larger than what is left of the parent's quota is capped by the parent
    snap = alloc_snapshot(
        supply=[("A", "DC1", 0, 100)],
        classes=[("online", 3, None, False), ("marketplace", 4, "online", False)],
        quotas=[dict(demand_class="online", qty=30), dict(demand_class="marketplace", qty=50)],
    )
    st = snap.new_state()
    # own pool capped by the parent's 30; then unallocated (100 - 30 = 70)
    p = ask(snap, st, "marketplace", 40)
    assert pools(p) == [("marketplace", 30.0), ("unallocated", 10.0)]


def test_protection_keeps_a_minimum_until_a_date(alloc_snapshot):
    snap = shop(alloc_snapshot, extra_quotas=[dict(demand_class="bronze", protect_qty=8, protect_until=10)])
    st = snap.new_state()
    # gold today: 40 own + 20 unallocated + bronze (10 - 8 protected) + silver 30 = 92
    assert allocation.available(snap, st, "A", "DC1", "gold", day(0)) == pytest.approx(92)
    # from day 10 the protection lapses
    assert allocation.available(snap, st, "A", "DC1", "gold", day(10)) == pytest.approx(100)
    p = ask(snap, st, "gold", 95)
    assert p.status is Status.LATE and p.lines[0].date == day(10)
    assert p.reason is Reason.ALLOCATION
    # bronze itself may use its protected units
    assert allocation.available(snap, st, "A", "DC1", "bronze", day(0)) == pytest.approx(0)  # gold took all on day 10


def test_no_quota_at_item_location_is_plain_atp(alloc_snapshot):
    snap = shop(alloc_snapshot, more=[("B", "DC1", 0, 10)])
    st = snap.new_state()
    p = promising.promise(snap, st, Request("B", "DC1", 4, day(0), NO_SPLIT, "bronze"), commit=True)
    assert p.details is None and p.status is Status.FULL
    assert allocation.class_path(snap, st, Request("B", "DC1", 4, day(0), NO_SPLIT, "bronze")) is None


def test_release_and_replay_are_exact(alloc_snapshot):
    snap = shop(alloc_snapshot)
    st = snap.new_state()
    made = [ask(snap, st, c, q) for c, q in (("gold", 50), ("gold", 15), ("silver", 20), ("bronze", 10))]
    pos = allocation.positions(snap, st).copy()
    # replay the stored reservations in another order onto a fresh state: same positions
    st2 = snap.new_state()
    for p in reversed(made):
        promising.reserve(snap, st2, promising.Reservation.from_dict(p.reservation.to_dict()))
    assert (allocation.positions(snap, st2) == pytest.approx(pos))
    assert st2.cum == pytest.approx(st.cum)
    # release everything in any order: back to the base
    for p in (made[1], made[3], made[0], made[2]):
        promising.unreserve(snap, st, p.reservation)
    assert allocation.positions(snap, st) == pytest.approx(allocation.model_for(snap).base_pos)
    assert st.cum == pytest.approx(snap.base_cum)


def test_snapshot_demand_with_a_class_consumes_its_quota(alloc_snapshot):
    snap = shop(alloc_snapshot, extra={"demand": [
        {"item": "A", "location": "DC1", "date": day(3), "qty": 25.0, "demand_class": "silver", "ref": "SO1"}]})
    st = snap.new_state()
    assert allocation.available(snap, st, "A", "DC1", "bronze", day(0)) == pytest.approx(30)
    # silver: 30 - 25 own, + 20 unallocated, + bronze 10
    assert allocation.available(snap, st, "A", "DC1", "silver", day(0)) == pytest.approx(35)


def test_rebase_keeps_commitments_and_reports_classes_over_new_quota(alloc_snapshot):
    snap = shop(alloc_snapshot)
    st = snap.new_state()
    made = [ask(snap, st, "gold", 35), ask(snap, st, "silver", 30)]
    # new quotas: gold only 20%, silver 30 units; supply unchanged
    new = alloc_snapshot(
        supply=[("A", "DC1", 0, 100)],
        classes=[("gold", 1, None, True), ("silver", 2, None, True), ("bronze", 3, None, False)],
        quotas=[dict(demand_class="gold", pct=20), dict(demand_class="silver", qty=30)],
    )
    rep = allocation.rebase([p.reservation for p in made], new)
    assert rep.not_fitting == [] and rep.skipped == []
    assert rep.state.committed_total() == pytest.approx(65)
    assert [(o.demand_class, o.over_qty, o.first_date) for o in rep.over_quota] == [("gold", pytest.approx(15), day(0))]
    # from the old state instead of the stored reservations: the same report
    rep2 = allocation.rebase(st, new)
    assert [(o.demand_class, o.over_qty) for o in rep2.over_quota] == [("gold", pytest.approx(15))]
    assert rep2.state.cum == pytest.approx(rep.state.cum)


def test_batch_equals_one_line_path(alloc_snapshot):
    snap = shop(alloc_snapshot, more=[("A", "DC1", 10, 50)])
    seq = [("gold", 50, 0), ("gold", 15, 0), ("silver", 20, 1), ("bronze", 10, 2), ("gold", 30, 3), ("silver", 40, 4),
           (None, 5, 0), ("nobody", 7, 0)]
    st1 = snap.new_state()
    singles = [promising.promise(snap, st1, Request("A", "DC1", q, day(d), NO_SPLIT, c), commit=True) for c, q, d in seq]
    lines = pl.DataFrame({"item": ["A"] * len(seq), "location": ["DC1"] * len(seq), "qty": [float(q) for _, q, _ in seq],
                          "requested_date": [day(d) for *_, d in seq], "demand_class": [c for c, _, _ in seq]})
    st2 = snap.new_state()
    res = allocation.promise_batch(snap, st2, lines, policy=NO_SPLIT)
    for i, p in enumerate(singles):
        assert int(res.status[i]) == p.status and int(res.reason[i]) == p.reason, i
        assert res.promised[i] == pytest.approx(p.promised_qty)
        assert res.draws(snap, lines, i) == p.reservation.draws or p.draws is None
    assert st2.cum == pytest.approx(st1.cum)
    assert allocation.positions(snap, st2) == pytest.approx(allocation.positions(snap, st1))


def test_extra_columns_from_csv(alloc_snapshot):
    snap = shop(alloc_snapshot, fmt="csv", extra_quotas=[dict(demand_class="bronze", protect_qty=8, protect_until=10)])
    st = snap.new_state()
    assert allocation.available(snap, st, "A", "DC1", "gold", day(0)) == pytest.approx(92)
    assert allocation.available(snap, st, "A", "DC1", "gold", day(10)) == pytest.approx(100)


@pytest.mark.parametrize(
    ("quota", "classes", "column"),
    [
        (dict(demand_class="gold", pct=140), None, "pct"),
        (dict(demand_class="gold", protect_qty=-1), None, "protect_qty"),
        (dict(demand_class="gold"), [("gold", 1, "silver", True), ("silver", 2, "gold", False)], "parent"),
        (dict(demand_class="unallocated"), [("unallocated", 1, None, True)], "demand_class"),
    ],
)
def test_bad_allocation_input_is_refused_naming_the_cell(alloc_snapshot, quota, classes, column):
    from promessa.errors import SnapshotError

    snap = alloc_snapshot(supply=[("A", "DC1", 0, 100)], classes=classes or [("gold", 1, None, True)], quotas=[quota])
    with pytest.raises(SnapshotError) as e:
        allocation.model_for(snap)
    assert e.value.column == column


def test_replayed_commitment_with_a_class_counts_against_its_quota(alloc_snapshot):
    snap = shop(alloc_snapshot)
    st = snap.new_state()
    promising.commit(snap, st, "A", "DC1", day(2), 25, demand_class="silver")  # e.g. an order replayed at start-up
    assert allocation.available(snap, st, "A", "DC1", "bronze", day(0)) == pytest.approx(30)
    assert allocation.over_quota(snap, st) == []
    promising.commit(snap, st, "A", "DC1", day(2), 10, demand_class="silver")
    [o] = allocation.over_quota(snap, st)
    assert (o.demand_class, o.over_qty, o.first_date) == ("silver", pytest.approx(5), day(2))
    promising.release(snap, st, "A", "DC1", day(2), 10, demand_class="silver")
    assert allocation.over_quota(snap, st) == []


@pytest.mark.slow  # a fresh interpreter
def test_replay_before_any_promise_keeps_pool_positions(alloc_snapshot, tmp_path):
    """The order book replays stored reservations at start-up, before any promise: the replay
    charges the pools (fresh interpreter; `promising.reserve` calls allocation explicitly)."""
    import subprocess
    import sys

    snap = shop(alloc_snapshot)
    code = f"""
import datetime as dt, sys
import promising
from supplydata import load_snapshot
snap = load_snapshot({snap.source!r})
st = snap.new_state()
d = promising.Draw("atp", "A", "DC1", dt.date.fromisoformat({day(0).isoformat()!r}), 25.0, "gold", (("silver", 25.0),))
promising.reserve(snap, st, promising.Reservation((d,)))
import allocation
pos = allocation.positions(snap, st)
row = allocation.model_for(snap).pool_row(0, "silver")
print(float(pos[row, 0]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip()) == pytest.approx(30 - 25)


def test_earliest_date_per_class(alloc_snapshot):
    snap = shop(alloc_snapshot, gold_steals=False, more=[("A", "DC1", 10, 50)])
    st = snap.new_state()
    # gold: 40 own + 20 unallocated today; its 40% of the day-10 receipt (20) and 35 - 20 more unallocated later
    assert allocation.earliest(snap, st, "A", "DC1", "gold", 60, day(0)) == day(0)
    assert allocation.earliest(snap, st, "A", "DC1", "gold", 61, day(0)) == day(10)
    assert allocation.earliest(snap, st, "A", "DC1", "gold", 96, day(0)) is None
    # no class: the "all others" class gets unallocated supply only, 20 today and 150 - 60 - 45 - 10 = 35 from day 10
    assert allocation.earliest(snap, st, "A", "DC1", None, 20, day(0)) == day(0)
    assert allocation.earliest(snap, st, "A", "DC1", None, 35, day(0)) == day(10)
    assert allocation.earliest(snap, st, "A", "DC1", None, 36, day(0)) is None


def test_promise_serialises_with_pegs_and_explanation(alloc_snapshot):
    import json

    snap = shop(alloc_snapshot, gold_steals=False, more=[("A", "DC1", 10, 50)])
    st = snap.new_state()
    ask(snap, st, "gold", 60)
    p = promising.promise(snap, st, Request("A", "DC1", 10, day(0), NO_SPLIT, "gold"), explain=True)
    assert p.reason is Reason.ALLOCATION and p.lines[0].date == day(10)
    assert sum(pg.qty for pg in p.pegs) == pytest.approx(10)
    d = json.loads(json.dumps(p.to_dict(), allow_nan=False))
    assert d["reason"] == "allocation" and d["details"]["allocation"] == "bound"
    assert d["details"]["without_allocation"]["lines"] == [{"date": day(0).isoformat(), "qty": 10.0}]
    assert d["reservation"]["draws"][0]["pools"] == [["gold", 10.0]]


def test_protection_holds_on_every_position_a_take_before_until_reaches(alloc_snapshot):
    """Silver has a quota of 7 with 2 protected until day 6, and its own demand of 4 on day 7;
    10 on hand. Gold (no quota, may steal) asks 10 on day 4. Gold's take on day 4 lowers every
    later position, day 7 included, where silver has only 7 - 4 = 3 left: gold may take 3 - 2 = 1
    of silver's quota (not 3, which would leave silver nothing on days 4 to 6), plus the 3
    unallocated units (10 - 7): 4 in all. Silver still has its 2 protected units from day 4 on."""
    snap = alloc_snapshot(
        supply=[("A", "DC1", 0, 10)],
        extra={"demand": [{"item": "A", "location": "DC1", "date": day(7), "qty": 4.0, "demand_class": "silver", "ref": "S"}]},
        classes=[("gold", 1, None, True), ("silver", 2, None, False)],
        quotas=[dict(demand_class="silver", qty=7, protect_qty=2, protect_until=6)],
    )
    st = snap.new_state()
    p = ask(snap, st, "gold", 10, 4, policy=Policy(max_late_days=0))
    assert (p.status, p.promised_qty, p.lines[0].date) == (Status.PARTIAL, 4, day(4))
    assert pools(p) == [("unallocated", 3.0), ("silver", 1.0)]
    for d in (4, 5, 6):
        assert allocation.available(snap, st, "A", "DC1", "silver", day(d)) == pytest.approx(2)
    # from day 6 on the protection no longer binds gold: it takes silver's last 2 units
    assert allocation.available(snap, st, "A", "DC1", "gold", day(5)) == pytest.approx(0)
    assert allocation.available(snap, st, "A", "DC1", "gold", day(6)) == pytest.approx(2)


def test_protection_until_on_or_before_the_row_date_is_refused(alloc_snapshot):
    from promessa.errors import SnapshotError

    snap = alloc_snapshot(supply=[("A", "DC1", 0, 10)], classes=[("gold", 1, None, True)],
                          quotas=[dict(demand_class="gold", qty=5, day=3, protect_qty=2, protect_until=3)])
    with pytest.raises(SnapshotError) as e:
        allocation.model_for(snap)
    assert e.value.column == "protect_until" and e.value.row == 1


def test_a_request_without_a_class_never_takes_quota_protected_supply(alloc_snapshot):
    """The shop (100 on hand: gold 40, silver 30, bronze 10, 20 unallocated). A web order without a
    demand class asks 50 today: it belongs to the "all others" class and gets the 20 unallocated
    units only; every class still has its whole quota. The same line in a batch gets the same."""
    snap = shop(alloc_snapshot)
    st = snap.new_state()
    p = ask(snap, st, None, 50)
    assert (p.status, p.promised_qty, p.reason) == (Status.PARTIAL, 20, Reason.ALLOCATION)
    assert pools(p) == [("unallocated", 20.0)]
    for cls, own in (("gold", 40), ("silver", 30), ("bronze", 10)):
        assert allocation.available(snap, st, "A", "DC1", cls, day(0)) >= own
    assert allocation.available(snap, st, "A", "DC1", "bronze", day(0)) == pytest.approx(10)
    st2 = snap.new_state()
    lines = pl.DataFrame({"item": ["A"], "location": ["DC1"], "qty": [50.0], "requested_date": [day(0)],
                          "demand_class": [None]}, schema_overrides={"demand_class": pl.String})
    res = allocation.promise_batch(snap, st2, lines)
    assert res.promised[0] == pytest.approx(20)
    assert st2.cum == pytest.approx(st.cum)


def test_a_split_into_twelve_schedule_lines_through_allocation(alloc_snapshot):
    """Receipts of 2 on each of days 1..12, nothing on hand. Gold holds 50% of every receipt,
    silver 25%; the other 25% is unallocated. Gold (no stealing) may take its own 1 a day plus the
    unallocated 0.5: 1.5 a day. Gold asks 18 on day 0, split. With 12 lines: 1.5 on each of days
    1..12, each from gold's quota (1.0) then unallocated (0.5); plain ATP would have shipped 2 a
    day on days 1..9, so allocation binds. With 11 lines: ten lines of 1.5 on days 1..10, the last
    waits for the rest, 3 on day 12 (2 gold, 1 unallocated). The batch gives the same answers in
    arrays 12 columns wide; max_lines is taken up to 1000 and refused beyond, naming the field."""
    from promessa.errors import ValidationError
    from promising import EncodedLines, encode_lines

    snap = alloc_snapshot(supply=[("A", "DC1", d, 2) for d in range(1, 13)],
                          classes=[("gold", 1, None, False), ("silver", 2, None, False)],
                          quotas=[dict(demand_class="gold", pct=50), dict(demand_class="silver", pct=25)])
    st = snap.new_state()
    twelve = Policy(allow_split=True, max_lines=12)
    p = ask(snap, st, "gold", 18, policy=twelve, commit=False)
    assert (p.status, p.reason) == (Status.LATE, Reason.ALLOCATION)
    assert [(ln.date, ln.qty) for ln in p.lines] == [(day(d), 1.5) for d in range(1, 13)]
    assert [d.pools for d in p.draws] == [(("gold", 1.0), ("unallocated", 0.5))] * 12
    assert p.details["without_allocation"]["lines"] == [{"date": day(d).isoformat(), "qty": 2.0} for d in range(1, 10)]
    p11 = ask(snap, st, "gold", 18, policy=Policy(allow_split=True, max_lines=11), commit=False)
    assert [(ln.date, ln.qty) for ln in p11.lines] == [(day(d), 1.5) for d in range(1, 11)] + [(day(12), 3.0)]
    assert p11.draws[-1].pools == (("gold", 2.0), ("unallocated", 1.0))
    # at the cap: the same answer as 12 lines (buffers sized by the request)
    p1000 = ask(snap, st, "gold", 18, policy=Policy(allow_split=True, max_lines=1000), commit=False)
    assert [(ln.date, ln.qty) for ln in p1000.lines] == [(day(d), 1.5) for d in range(1, 13)]
    # committed: gold's quota is used up to day 12 (12 x 1.0), unallocated too (12 x 0.5)
    ask(snap, st, "gold", 18, policy=twelve)
    assert allocation.available(snap, st, "A", "DC1", "gold", day(12)) == 0.0
    assert allocation.available(snap, st, "A", "DC1", "silver", day(12)) == pytest.approx(6.0)

    lines = pl.DataFrame({"item": ["A", "A"], "location": ["DC1", "DC1"], "qty": [18.0, 18.0],
                          "requested_date": [day(0), day(0)], "demand_class": ["gold", "gold"],
                          "allow_split": [True, True], "max_lines": [12, 11]})
    res = allocation.promise_batch(snap, snap.new_state(), lines, commit=False)
    assert res.bucket.shape == (2, 12) and res.n_lines.tolist() == [12, 11]
    assert res.bucket[0].tolist() == list(range(1, 13)) and res.qty[0].tolist() == [1.5] * 12
    assert res.bucket[1, :11].tolist() == list(range(1, 11)) + [12] and res.qty[1, 10] == 3.0
    assert res.draws(snap, lines, 0) == p.draws and res.draws(snap, lines, 1) == p11.draws
    assert res.promised.tolist() == [18.0, 18.0]
    # one over the cap: refused naming the field and the value, nothing promised or changed
    with pytest.raises(ValidationError, match=r"policy.max_lines=1001"):
        Policy(allow_split=True, max_lines=1001)
    st2 = snap.new_state()
    with pytest.raises(ValidationError, match=r"max_lines=1001"):
        allocation.promise_batch(snap, st2, lines.with_columns(max_lines=pl.Series([12, 1001])))
    enc = encode_lines(snap, lines)
    bad = EncodedLines(enc.ils, enc.qty, enc.req, enc.max_late, enc.flags, enc.max_lines * 0 + 1001)
    with pytest.raises(ValidationError, match=r"max_lines=1001"):
        allocation.promise_encoded(snap, st2, bad, allocation.encode_classes(snap, lines))
    assert (st2.cum == snap.base_cum).all()
    assert (allocation.positions(snap, st2) == allocation.model_for(snap).base_pos).all()
