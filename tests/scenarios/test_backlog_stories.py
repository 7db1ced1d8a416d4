"""Backlog rescheduling stories with hand-computed answers, one per strategy."""

from __future__ import annotations

import polars as pl
import pytest
from promessa_testing import day

from scenarios.backlog import RescheduleConfig, Rule, reschedule


def backlog(rows):
    """rows: (order, item, qty, requested day, old qty, old day or None, demand_class, priority)"""
    return pl.DataFrame({
        "order": [r[0] for r in rows],
        "line": [1] * len(rows),
        "item": [r[1] for r in rows],
        "location": ["DC1"] * len(rows),
        "qty": [float(r[2]) for r in rows],
        "requested_date": [day(r[3]) for r in rows],
        "old_qty": [float(r[4]) for r in rows],
        "old_date": [day(r[5]) if r[5] is not None else None for r in rows],
        "demand_class": [r[6] for r in rows],
        "priority": [r[7] for r in rows],
    }, schema_overrides={"old_date": pl.Date})


def committed_state(snap, bl):
    """The live state: the backlog's old schedules are committed on top of the snapshot."""
    from promising import commit

    st = snap.new_state()
    for r in bl.iter_rows(named=True):
        if r["old_qty"] > 0:
            commit(snap, st, r["item"], r["location"], r["old_date"], r["old_qty"])
    return st


def line(res, order):
    return res.lines.filter(pl.col("order") == order).row(0, named=True)


CLASS_RULES = RescheduleConfig(rules=[
    Rule(strategy="win", demand_class=["key_account"]),
    Rule(strategy="gain", demand_class=["retail"]),
    Rule(strategy="fill", demand_class=["wholesale"]),
    Rule(strategy="lose", demand_class=["cancelled"]),
])


def test_win_keeps_its_date_while_a_redistribute_line_loses_to_a_higher_class(make_snapshot):
    """The on-hand stock of A was 15 when the orders were promised; a count found only 10.
    A receipt of 8 arrives on day 10.

    - W (key account, win) had 5 on day 2: it keeps 5 on day 2.
    - R3 (online, priority 2) and R2 (online, priority 3) are redistribute lines with 5 on day 2
      each. Only 5 are left on day 2 after W: the higher priority R3 keeps day 2, R2 moves to
      day 10 (the receipt) and is worse off.
    - F (wholesale, fill) had 5 on day 2: it goes last and takes what is left: 3 on day 10.
    """
    bl = backlog([
        ("R2", "A", 5, 2, 5, 2, "online", 3),
        ("F", "A", 5, 2, 5, 2, "wholesale", 5),
        ("W", "A", 5, 2, 5, 2, "key_account", 1),
        ("R3", "A", 5, 2, 5, 2, "online", 2),
    ])
    old = make_snapshot(supply=[("A", "DC1", 0, 20)], horizon=30)
    live = committed_state(old, bl)
    assert live.cum[0, -1] == pytest.approx(0.0)
    now = make_snapshot(supply=[("A", "DC1", 0, 10), ("A", "DC1", 10, 8)], horizon=30)
    state = committed_state(now, bl)  # the live commitments replayed on the new snapshot
    before = state.cum.copy()
    res = reschedule(now, state, bl, CLASS_RULES)
    assert (state.cum == before).all(), "the input state is never modified"

    w, r3, r2, f = line(res, "W"), line(res, "R3"), line(res, "R2"), line(res, "F")
    assert (w["strategy"], w["new_qty"], w["new_date"], w["change"], w["exception"]) == ("win", 5, day(2), "unchanged", None)
    assert (r3["strategy"], r3["new_qty"], r3["new_date"], r3["change"]) == ("redistribute", 5, day(2), "unchanged")
    assert (r2["new_qty"], r2["new_date"], r2["change"], r2["exception"]) == (5, day(10), "worsened", None)
    assert (f["strategy"], f["new_qty"], f["new_date"], f["change"], f["status"]) == ("fill", 3, day(10), "worsened", "partial")
    # nothing promised beyond supply: 10 + 8 = 18 units are all taken, never more
    assert res.state.cum[0, -1] == pytest.approx(0.0)
    assert res.state.cum.min() >= -1e-9
    assert res.counts()["worsened"] == 2


def test_gain_line_improves_when_supply_arrives_early(make_snapshot):
    """G (retail, gain) asked for 4 on day 2 but was promised day 12 (the receipt's old date).
    The receipt is now on hand: G improves to day 2 and counts as improved."""
    bl = backlog([("G", "A", 4, 2, 4, 12, "retail", 2)])
    snap = make_snapshot(supply=[("A", "DC1", 0, 6)], horizon=30)
    res = reschedule(snap, committed_state(snap, bl), bl, CLASS_RULES)
    g = line(res, "G")
    assert (g["strategy"], g["new_date"], g["change"], g["improved"], g["status"]) == ("gain", day(2), "improved", True, "full")


def test_gain_line_is_not_moved_when_a_fresh_promise_would_be_worse(make_snapshot):
    """G (gain) has 4 on day 3. A redistribute line R with higher priority asks for 4 on day 1
    too and only 4 exist: R cannot take G's confirmation; R gets nothing (short)."""
    bl = backlog([
        ("R", "A", 4, 1, 0, None, "online", 1),
        ("G", "A", 4, 3, 4, 3, "retail", 9),
    ])
    snap = make_snapshot(supply=[("A", "DC1", 0, 4)], horizon=30)
    res = reschedule(snap, committed_state(snap, bl), bl, CLASS_RULES)
    assert (line(res, "G")["new_qty"], line(res, "G")["change"]) == (4, "unchanged")
    assert (line(res, "R")["new_qty"], line(res, "R")["status"]) == (0, "short")


def test_lose_line_gives_everything_back_to_a_redistribute_line(make_snapshot):
    bl = backlog([
        ("X", "A", 5, 2, 5, 2, "cancelled", 1),
        ("R", "A", 5, 2, 0, None, "online", 3),
    ])
    snap = make_snapshot(supply=[("A", "DC1", 0, 5)], horizon=30)
    res = reschedule(snap, committed_state(snap, bl), bl, CLASS_RULES)
    x, r = line(res, "X"), line(res, "R")
    assert (x["strategy"], x["new_qty"], x["change"], x["exception"]) == ("lose", 0, "worsened", None)
    assert (r["new_qty"], r["new_date"], r["change"]) == (5, day(2), "improved")


def test_win_line_that_no_longer_fits_is_reported_with_the_reason(make_snapshot):
    """W (win) had 8 on day 2; a count found only 5 on hand and nothing else comes in.
    It gets the 5 (partial) and is reported: its old confirmation no longer fits."""
    bl = backlog([("W", "A", 8, 2, 8, 2, "key_account", 1)])
    snap = make_snapshot(supply=[("A", "DC1", 0, 5)], horizon=30)
    state = snap.new_state()
    from promising import commit

    commit(snap, state, "A", "DC1", day(2), 8.0)  # replayed although it no longer fits
    res = reschedule(snap, state, bl, CLASS_RULES)
    w = line(res, "W")
    assert (w["new_qty"], w["change"], w["status"]) == (5, "worsened", "partial")
    assert "no longer fits" in w["exception"]
    assert res.exceptions.height == 1


def test_win_line_not_full_on_time_is_flagged_even_if_unchanged(make_snapshot):
    bl = backlog([("W", "A", 4, 2, 4, 10, "key_account", 1)])
    snap = make_snapshot(supply=[("A", "DC1", 10, 4)], horizon=30)
    res = reschedule(snap, committed_state(snap, bl), bl, CLASS_RULES)
    w = line(res, "W")
    assert (w["new_date"], w["change"]) == (day(10), "unchanged")
    assert w["exception"] == "not confirmed in full on the requested date"


def test_fair_share_splits_scarce_supply_in_proportion(make_snapshot):
    """Six units of B on hand; P asks for 6 and Q for 3 on day 1 (both redistribute, P first).
    First come first served: P 6, Q 0. Fair share: 6/9 of each request, rounded down to whole
    units: P 4, Q 2."""
    bl = backlog([("P", "B", 6, 1, 0, None, "online", 1), ("Q", "B", 3, 1, 0, None, "online", 2)])
    snap = make_snapshot(supply=[("B", "DC1", 0, 6)], horizon=30)
    fcfs = reschedule(snap, snap.new_state(), bl, RescheduleConfig())
    assert (line(fcfs, "P")["new_qty"], line(fcfs, "Q")["new_qty"]) == (6, 0)
    fair = reschedule(snap, snap.new_state(), bl, RescheduleConfig(within="fair_share"))
    assert (line(fair, "P")["new_qty"], line(fair, "Q")["new_qty"]) == (4, 2)
    assert fair.state.cum[0, -1] == pytest.approx(0.0)
    only_redis = RescheduleConfig(within_by_strategy={"redistribute": "fair_share"})
    assert reschedule(snap, snap.new_state(), bl, only_redis).lines["new_qty"].to_list() == [4, 2]
    only_gain = RescheduleConfig(within_by_strategy={"gain": "fair_share"})
    assert reschedule(snap, snap.new_state(), bl, only_gain).lines["new_qty"].to_list() == [6, 0]


def test_fair_share_gives_rounding_leftovers_first_come_first_served(make_snapshot):
    """Five units, three lines of 3: shares floor(3 * 5/9) = 1 each; the 2 left go to the first line."""
    bl = backlog([(o, "B", 3, 1, 0, None, "online", p) for o, p in (("P", 1), ("Q", 2), ("R", 3))])
    snap = make_snapshot(supply=[("B", "DC1", 0, 5)], horizon=30)
    fair = reschedule(snap, snap.new_state(), bl, RescheduleConfig(within="fair_share"))
    assert [line(fair, o)["new_qty"] for o in "PQR"] == [3, 1, 1]
    p = fair.schedule.filter(pl.col("row") == 0)
    assert p["qty"].to_list() == [3.0]  # two partial promises on the same day are merged


def test_rules_match_customer_priority_and_creation_time(make_snapshot):
    import datetime as dt

    bl = backlog([("A1", "A", 1, 1, 0, None, "online", 1), ("A2", "A", 1, 1, 0, None, "online", 5),
                  ("A3", "A", 1, 1, 0, None, "online", 5)]).with_columns(
        customer=pl.Series(["C1", "C2", "C3"]),
        created_at=pl.Series([dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2), dt.datetime(2026, 1, 3)]))
    cfg = RescheduleConfig(rules=[Rule(strategy="win", customer=["C1"]), Rule(strategy="lose", priority_at_least=5,
                                                                          created_after=dt.datetime(2026, 1, 3))],
                           default_strategy="gain")
    snap = make_snapshot(supply=[("A", "DC1", 0, 5)], horizon=30)
    res = reschedule(snap, snap.new_state(), bl, cfg)
    assert res.lines["strategy"].to_list() == ["win", "gain", "lose"]


FILL_ALL = RescheduleConfig(default_strategy="fill")


def test_fill_lines_go_one_after_another_so_a_low_line_never_keeps_what_a_high_line_needs(make_snapshot):
    """SAP's fill. 10 on hand (a count found 5 fewer than planned). Two fill lines, both dated
    day 2: H (priority 1) had 12 confirmed on day 2, L (priority 5) had 3. H goes first: its 12
    no longer fit, so it gets at most its old 12 no earlier than day 2: the 10 there. L then
    finds nothing. (Keeping every old confirmation first would have let L keep its 3 and
    left H 7.)"""
    snap = make_snapshot(supply=[("A", "DC1", 0, 10)])
    bl = backlog([("H", "A", 12, 2, 12, 2, "wholesale", 1), ("L", "A", 3, 2, 3, 2, "wholesale", 5)])
    res = reschedule(snap, committed_state(snap, bl), bl, FILL_ALL)
    h, lo = line(res, "H"), line(res, "L")
    assert (h["new_qty"], h["new_date"], h["kept"]) == (10, day(2), False)
    assert (lo["new_qty"], lo["status"], lo["change"]) == (0, "short", "worsened")
    # when everything still fits, every fill line keeps its confirmation as before
    snap = make_snapshot(supply=[("A", "DC1", 0, 15)])
    res = reschedule(snap, committed_state(snap, bl), bl, FILL_ALL)
    assert line(res, "H")["kept"] and line(res, "L")["kept"] and res.lines["change"].to_list() == ["unchanged"] * 2


def test_start_from_nothing_confirmed_promises_every_line_afresh(make_snapshot):
    """10 on hand. F1 (fill) had 4 on day 5 and asks for day 2; F2 (fill) had nothing and asks 3
    on day 2. From the confirmations: F1 keeps day 5 and F2 gets nothing (fill never gains).
    From nothing (e.g. a first run on an imported backlog): both are promised afresh in group
    order: F1 4 on day 2, F2 3 on day 2."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 10)])
    bl = backlog([("F1", "A", 4, 2, 4, 5, "wholesale", 1), ("F2", "A", 3, 2, 0, None, "wholesale", 2)])
    res = reschedule(snap, committed_state(snap, bl), bl, FILL_ALL)
    assert (line(res, "F1")["new_date"], line(res, "F2")["new_qty"]) == (day(5), 0)
    res = reschedule(snap, committed_state(snap, bl), bl, FILL_ALL.model_copy(update={"start_from": "nothing"}))
    assert [(r["new_qty"], r["new_date"]) for r in res.lines.iter_rows(named=True)] == [(4, day(2)), (3, day(2))]
    assert res.lines["kept"].to_list() == [False, False]


def test_due_date_ordering_within_a_priority(make_snapshot):
    """5 on hand; two redistribute lines of the same priority, all or nothing: A (first in
    the input) wants 5 on day 8, B wants 5 on day 3. First come, first served gives A the 5 and
    B nothing; earliest due first gives B the 5 on day 3 and A nothing."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 5)])
    bl = backlog([("A", "A", 5, 8, 0, None, "online", 2), ("B", "A", 5, 3, 0, None, "online", 2)])
    cfg = RescheduleConfig(allow_partial=False)
    res = reschedule(snap, snap.new_state(), bl, cfg)
    assert (line(res, "A")["new_qty"], line(res, "B")["new_qty"]) == (5, 0)
    res = reschedule(snap, snap.new_state(), bl, cfg.model_copy(update={"order_within_priority": "due_date"}))
    assert (line(res, "A")["new_qty"], line(res, "B")["new_qty"]) == (0, 5)
    assert line(res, "B")["new_date"] == day(3)


def test_minimum_shipment_quantity(make_snapshot):
    """3 on hand, 10 more on day 6; split allowed. S asks 10 on day 1: 3 on day 1 and 7 on day 6.
    With a minimum shipment of 5 the 3 on day 1 are not confirmed (given back): 7 on day 6 only.
    T asks 2 on day 8: below the minimum, but it is T's whole quantity, so it ships."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 3), ("A", "DC1", 6, 10)])
    bl = backlog([("S", "A", 10, 1, 0, None, "online", 1), ("T", "A", 2, 8, 0, None, "online", 2)])
    cfg = RescheduleConfig(allow_split=True)
    res = reschedule(snap, snap.new_state(), bl, cfg)
    assert res.schedule.filter(pl.col("row") == 0)["qty"].to_list() == [3.0, 7.0]
    res = reschedule(snap, snap.new_state(), bl, cfg.model_copy(update={"min_ship_qty": 5.0}))
    assert [(r["date"], r["qty"]) for r in res.schedule.iter_rows(named=True)] == [(day(6), 7.0), (day(8), 2.0)]
    s = line(res, "S")
    assert (s["new_qty"], s["new_first_date"], s["status"]) == (7, day(6), "partial")
    assert res.timings["dropped_lines"] == 1
    # the 3 on hand are free again
    from promising import available
    assert available(snap, res.state, "A", "DC1", day(1)) == pytest.approx(3)  # min(3, 13 - 7, 13 - 7 - 2)


def test_order_level_on_time_count(make_snapshot):
    """A: 8 on hand; B: 2 arriving on day 4. Order O1 has two lines on day 1 (5 of A, 2 of B);
    order O2 one line (3 of A on day 1). O1's B line can only come on day 4, so O1 is not on time
    although its A line is; O2 is. Nothing was confirmed before: 0 orders on time, now 1."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 8), ("B", "DC1", 4, 2)])
    bl = backlog([("O1", "A", 5, 1, 0, None, "online", 1), ("O1", "B", 2, 1, 0, None, "online", 1),
                  ("O2", "A", 3, 1, 0, None, "online", 2)])
    res = reschedule(snap, snap.new_state(), bl)
    assert res.orders.to_dicts() == [{"order": "O1", "lines": 2, "old_on_time": False, "new_on_time": False},
                                     {"order": "O2", "lines": 1, "old_on_time": False, "new_on_time": True}]
    c = res.counts()
    assert (c["orders"], c["orders_on_time_old"], c["orders_on_time_new"]) == (2, 0, 1)
