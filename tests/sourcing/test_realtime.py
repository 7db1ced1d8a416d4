"""Real-time sourcing stories with hand-computed answers.

The network (unless a story says otherwise): customers in zone C; three DCs ship there.

    node  transit  cost/unit  cost/shipment
    N     1 day    2.0        10            near and dear
    S     3 days   1.0         5            far and cheaper
    E     1 day    0.5         1            cheapest, but its stock arrives later

Items cost 6 and sell for 10 (margin 4 a unit before shipping).  Day n is as_of + n days.
"""

from __future__ import annotations

import pytest

from promessa.errors import NotFoundError, ValidationError
from promessa_testing import day
from promising import Reason, Status
from sourcing.realtime import OrderLine, SourcingPolicy, SourcingRequest, candidates, source_order

LANES = [
    {"location": "N", "zone": "C", "transit_days": 1, "cost_per_unit": 2.0, "cost_per_shipment": 10.0},
    {"location": "S", "zone": "C", "transit_days": 3, "cost_per_unit": 1.0, "cost_per_shipment": 5.0},
    {"location": "E", "zone": "C", "transit_days": 1, "cost_per_unit": 0.5, "cost_per_shipment": 1.0},
]
RULES = [
    {"zone": "C", "location": "N", "rank": 1},
    {"zone": "C", "location": "S", "rank": 2},
    {"zone": "C", "location": "E", "rank": 3},
]


@pytest.fixture
def net(make_snapshot):
    def _make(supply, *, lanes=LANES, rules=RULES, **kw):
        return make_snapshot(supply=supply, items=["A", "B"], locations=["N", "S", "E"], extra={"lanes": lanes, "sourcing": rules}, **kw)

    return _make


def order(*lines, policy=None, zone="C"):
    return SourcingRequest("O1", zone, tuple(lines), policy or SourcingPolicy())


def line(n, item, qty, d, **kw):
    return OrderLine(n, item, qty, day(d), **kw)


# ---------------------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------------------
@pytest.fixture
def three_dcs(net):
    """10 A on hand at N and S; E receives 10 A on day 2."""
    return net([("A", "N", 0, 10), ("A", "S", 0, 10), ("A", "E", 2, 10)])


def test_earliest_arrival_picks_the_near_node(three_dcs):
    """Ship-date request for today. N ships today and arrives day 1; S arrives day 3; E ships
    day 2.  Earliest arrival: N, cost 10 x 2 + 10 = 30."""
    snap = three_dcs
    ans = source_order(snap, snap.new_state(), order(line(1, "A", 10, 0), policy=SourcingPolicy(objective="earliest", date_kind="ship")))
    ln = ans.line(1)
    assert ln.status is Status.FULL and ln.nodes == ("N",)
    assert ln.legs[0].ship_date == day(0) and ln.legs[0].arrival_date == day(1)
    assert ans.cost == pytest.approx(30.0)
    assert ans.margin == pytest.approx(10 * 4 - 30)


def test_cheapest_that_meets_the_ship_date(three_dcs):
    """Same request, cheapest on time: S ships today for 10 x 1 + 5 = 15; E is cheaper (6) but
    ships two days late."""
    snap = three_dcs
    ans = source_order(snap, snap.new_state(), order(line(1, "A", 10, 0), policy=SourcingPolicy(objective="cheapest", date_kind="ship")))
    assert ans.line(1).nodes == ("S",)
    assert ans.line(1).status is Status.FULL
    assert ans.cost == pytest.approx(15.0)


def test_most_profitable_accepts_lateness(three_dcs):
    """Profitable-to-promise: margin 40 - shipping; E costs 6 (margin 34), S 15 (25), N 30 (10).
    E ships day 2, two days after the requested ship date: promised late."""
    snap = three_dcs
    ans = source_order(snap, snap.new_state(), order(line(1, "A", 10, 0), policy=SourcingPolicy(objective="profit", date_kind="ship")))
    ln = ans.line(1)
    assert ln.nodes == ("E",) and ln.status is Status.LATE
    assert ln.legs[0].ship_date == day(2)
    assert ans.margin == pytest.approx(34.0)


def test_profit_within_max_lateness(three_dcs):
    """With at most one day late allowed, E is out: S (margin 25) is the most profitable."""
    snap = three_dcs
    pol = SourcingPolicy(objective="profit", date_kind="ship", max_late_days=1)
    ans = source_order(snap, snap.new_state(), order(line(1, "A", 10, 0), policy=pol))
    assert ans.line(1).nodes == ("S",) and ans.margin == pytest.approx(25.0)


def test_arrival_date_request_ships_just_in_time(three_dcs):
    """Requested arrival day 3: N ships day 2, S ships today, E ships day 2; all arrive day 3.
    Cheapest on time is E (6)."""
    snap = three_dcs
    ans = source_order(snap, snap.new_state(), order(line(1, "A", 10, 3), policy=SourcingPolicy(objective="cheapest")))
    g = ans.line(1).legs[0]
    assert (g.node, g.ship_date, g.arrival_date) == ("E", day(2), day(3))
    alts = {a.node: a for a in ans.line(1).alternatives}
    assert alts["N"].ship_date == day(2) and alts["N"].cost == pytest.approx(30.0)
    assert alts["S"].ship_date == day(0) and alts["S"].arrival_date == day(3) and alts["S"].cost == pytest.approx(15.0)


def test_late_when_no_node_can_make_it(three_dcs):
    """Requested arrival today: the fastest lanes take a day, so everything is late.
    Cheapest that meets the date falls back to least lateness: N and E both arrive day 1 but E
    has no stock before day 2 (arrives day 3); N arrives day 1."""
    snap = three_dcs
    ans = source_order(snap, snap.new_state(), order(line(1, "A", 10, 0), policy=SourcingPolicy(objective="cheapest")))
    ln = ans.line(1)
    assert ln.nodes == ("N",) and ln.status is Status.LATE
    assert ln.legs[0].arrival_date == day(1)


# ---------------------------------------------------------------------------------------
# Ship sets, arrival sets, fewest shipments, split limits
# ---------------------------------------------------------------------------------------
@pytest.fixture
def a_at_n_ab_at_s(net):
    """N has 10 A; S has 10 A and 10 B; E has nothing."""
    return net([("A", "N", 0, 10), ("A", "S", 0, 10), ("B", "S", 0, 10)])


def test_without_ship_set_each_line_takes_its_earliest(a_at_n_ab_at_s):
    snap = a_at_n_ab_at_s
    pol = SourcingPolicy(objective="earliest", date_kind="ship")
    ans = source_order(snap, snap.new_state(), order(line(1, "A", 5, 0), line(2, "B", 5, 0), policy=pol))
    assert ans.line(1).nodes == ("N",) and ans.line(2).nodes == ("S",)
    assert len(ans.shipments) == 2 and ans.splits == 1
    assert ans.cost == pytest.approx((5 * 2 + 10) + (5 * 1 + 5))


def test_ship_set_ships_together_from_one_node(a_at_n_ab_at_s):
    """A and B in one ship set: only S has both, so both ship from S today in one shipment (10 + 5 = 15)."""
    snap = a_at_n_ab_at_s
    pol = SourcingPolicy(objective="earliest", date_kind="ship")
    ans = source_order(snap, snap.new_state(), order(line(1, "A", 5, 0, ship_set="X"), line(2, "B", 5, 0, ship_set="X"), policy=pol))
    assert ans.line(1).nodes == ("S",) and ans.line(2).nodes == ("S",)
    assert len(ans.shipments) == 1 and ans.shipments[0].lines == (1, 2)
    assert ans.cost == pytest.approx(15.0)


def test_fewest_shipments_consolidates(a_at_n_ab_at_s):
    """Fewest shipments: S serves both lines in one shipment, though N would be faster for A."""
    snap = a_at_n_ab_at_s
    pol = SourcingPolicy(objective="fewest_shipments", date_kind="ship")
    ans = source_order(snap, snap.new_state(), order(line(1, "A", 5, 0), line(2, "B", 5, 0), policy=pol))
    assert len(ans.shipments) == 1 and ans.shipments[0].node == "S"


def test_ship_set_waits_for_the_last_line(net):
    """S has A today but B only on day 4: the ship set ships both on day 4 (arrive day 7)."""
    snap = net([("A", "S", 0, 10), ("B", "S", 4, 10)])
    ans = source_order(snap, snap.new_state(), order(line(1, "A", 5, 0, ship_set="X"), line(2, "B", 5, 0, ship_set="X"),
                                                     policy=SourcingPolicy(date_kind="ship")))
    for n in (1, 2):
        g = ans.line(n).legs[0]
        assert (g.node, g.ship_date, g.arrival_date) == ("S", day(4), day(7))
        assert ans.line(n).status is Status.LATE


def test_arrival_set_arrives_together(a_at_n_ab_at_s):
    """Requested arrival today (as soon as possible). Alone, A arrives day 1 from N and B day 3
    from S.  In one arrival set both arrive day 3: A from N ships day 2 (or from S on day 0,
    but N is... the earliest objective ties on arrival, then cost: S is cheaper for A: 5 + 5 vs
    10 + 10); either way both arrive on day 3."""
    snap = a_at_n_ab_at_s
    alone = source_order(snap, snap.new_state(), order(line(1, "A", 5, 0), line(2, "B", 5, 0)))
    assert alone.line(1).legs[0].arrival_date == day(1) and alone.line(2).legs[0].arrival_date == day(3)
    ans = source_order(snap, snap.new_state(), order(line(1, "A", 5, 0, arrival_set="T"), line(2, "B", 5, 0, arrival_set="T")))
    assert ans.line(1).legs[0].arrival_date == day(3) == ans.line(2).legs[0].arrival_date
    # consolidated into one shipment from S, cost 5 + 5 + 5 = 15 < N (5 x 2 + 10) + S (5 + 5)
    assert len(ans.shipments) == 1 and ans.cost == pytest.approx(15.0)


def test_arrival_set_across_nodes(net):
    """A only at N (transit 1), B only at S (transit 3), requested arrival today: A ships day 2
    from N so that both arrive day 3."""
    snap = net([("A", "N", 0, 10), ("B", "S", 0, 10)])
    ans = source_order(snap, snap.new_state(), order(line(1, "A", 5, 0, arrival_set="T"), line(2, "B", 5, 0, arrival_set="T")))
    a, b = ans.line(1).legs[0], ans.line(2).legs[0]
    assert (a.node, a.ship_date, a.arrival_date) == ("N", day(2), day(3))
    assert (b.node, b.ship_date, b.arrival_date) == ("S", day(0), day(3))


def test_split_limit(net):
    """A only at N, B only at S.  With no split allowed one node must serve the order: none has
    both, so one line is served (A from N: earlier) and B is short for the split limit."""
    snap = net([("A", "N", 0, 10), ("B", "S", 0, 10)])
    pol = SourcingPolicy(date_kind="ship", max_splits=0)
    ans = source_order(snap, snap.new_state(), order(line(1, "A", 5, 0), line(2, "B", 5, 0), policy=pol))
    assert ans.line(1).nodes == ("N",)
    assert ans.line(2).status is Status.SHORT and ans.line(2).reason is Reason.SPLIT_LIMIT
    assert ans.splits == 0
    ans2 = source_order(snap, snap.new_state(), order(line(1, "A", 5, 0), line(2, "B", 5, 0),
                                                      policy=SourcingPolicy(date_kind="ship", max_splits=1)))
    assert ans2.line(2).nodes == ("S",) and ans2.splits == 1


# ---------------------------------------------------------------------------------------
# Partial promises across nodes
# ---------------------------------------------------------------------------------------
def test_partial_across_nodes(three_dcs):
    """15 A, ship today: no node has 15. Earliest-first: 10 from N (arrives day 1), then 5 from
    S today (arrives day 3); E's stock comes day 2 (arrives day 3, later ship)."""
    snap = three_dcs
    ans = source_order(snap, snap.new_state(), order(line(1, "A", 15, 0), policy=SourcingPolicy(date_kind="ship")))
    ln = ans.line(1)
    assert ln.status is Status.FULL
    assert [(g.node, g.qty) for g in ln.legs] == [("N", 10.0), ("S", 5.0)]
    assert len(ans.shipments) == 2


def test_partial_respects_split_limit_and_policy(three_dcs):
    snap = three_dcs
    one = source_order(snap, snap.new_state(), order(line(1, "A", 15, 0), policy=SourcingPolicy(date_kind="ship", max_splits=0)))
    assert one.line(1).status is Status.PARTIAL and one.line(1).promised_qty == pytest.approx(10)
    none = source_order(snap, snap.new_state(), order(line(1, "A", 15, 0), policy=SourcingPolicy(date_kind="ship", allow_partial=False)))
    assert none.line(1).status is Status.SHORT and none.line(1).legs == ()
    assert none.line(1).reason is Reason.SUPPLY


# ---------------------------------------------------------------------------------------
# Rules, explanation, commit
# ---------------------------------------------------------------------------------------
def test_rules_by_item_and_category(net):
    """Zone C: N serves only item B; S serves category 'c' (every item here); E is not a rule.
    Item A can only come from S even though N and E have it."""
    rules = [
        {"zone": "C", "location": "N", "rank": 1, "item": "B"},
        {"zone": "C", "location": "S", "rank": 2, "category": "c"},
    ]
    snap = net([("A", "N", 0, 10), ("A", "S", 0, 10), ("A", "E", 0, 10), ("B", "N", 0, 10)], rules=rules)
    ans = source_order(snap, snap.new_state(), order(line(1, "A", 5, 0), line(2, "B", 5, 0), policy=SourcingPolicy(date_kind="ship")))
    assert ans.line(1).nodes == ("S",)
    assert ans.line(2).nodes == ("N",)
    cands = candidates(snap, snap.new_state(), order(line(1, "A", 5, 0)))
    assert {a.node for a in cands[0]} == {"S"}


def test_not_stocked_and_unknown_zone(net):
    snap = net([("A", "N", 0, 10), ("B", "S", 0, 1)])
    ans = source_order(snap, snap.new_state(), order(line(1, "B", 5, 0), policy=SourcingPolicy(date_kind="ship", allow_partial=False)))
    ln = ans.line(1)
    assert ln.status is Status.SHORT
    notes = {a.node: a.note for a in ln.alternatives}
    assert notes["N"] == "item not stocked there"
    assert "only 1" in notes["S"]
    with pytest.raises(NotFoundError):
        source_order(snap, snap.new_state(), order(line(1, "A", 5, 0), zone="nowhere"))
    with pytest.raises(ValidationError):
        source_order(snap, snap.new_state(), order(line(1, "nope", 5, 0)))


def test_explanation_names_the_alternatives(three_dcs):
    snap = three_dcs
    ans = source_order(snap, snap.new_state(), order(line(1, "A", 10, 0), policy=SourcingPolicy(objective="earliest", date_kind="ship")))
    ln = ans.line(1)
    alts = ln.alternatives
    # both arrive day 3 (S ships today, E on day 2): ties on arrival are broken by cost, E (6) first
    assert [a.node for a in alts] == ["E", "S"]
    by = {a.node: a for a in alts}
    assert by["S"].arrival_date == day(3) and by["S"].cost == pytest.approx(15)
    assert by["E"].ship_date == day(2) and by["E"].cost == pytest.approx(6)
    assert "earliest arrival: N" in ln.why
    d = ans.to_dict()
    assert d["lines"][0]["legs"][0]["node"] == "N" and len(d["lines"][0]["alternatives"]) == 2


def test_commit_reserves_and_the_next_order_goes_elsewhere(three_dcs):
    """The first order takes N's 10 A; the next one for today cannot arrive before day 3: S
    (ships today) and E (ships day 2) both arrive day 3, but E ships two days after the
    requested ship date, so S."""
    snap = three_dcs
    state = snap.new_state()
    pol = SourcingPolicy(objective="earliest", date_kind="ship")
    first = source_order(snap, state, order(line(1, "A", 10, 0), policy=pol), commit=True)
    assert first.committed and first.line(1).nodes == ("N",)
    second = source_order(snap, state, order(line(1, "A", 10, 0), policy=pol), commit=True)
    assert second.line(1).nodes == ("S",) and second.line(1).legs[0].arrival_date == day(3)
    assert state.committed_total() == pytest.approx(20)


def test_two_lines_of_one_item_do_not_double_count(net):
    """N has 10 A; an order has two lines of 6 A: N can serve one whole; the second goes to S."""
    snap = net([("A", "N", 0, 10), ("A", "S", 0, 10)])
    ans = source_order(snap, snap.new_state(), order(line(1, "A", 6, 0), line(2, "A", 6, 0), policy=SourcingPolicy(date_kind="ship")))
    nodes = sorted(ans.line(1).nodes + ans.line(2).nodes)
    assert nodes == ["N", "S"]
