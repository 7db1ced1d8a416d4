"""Location choice for order lines that name only a zone: the zone rules and real-time sourcing."""

from __future__ import annotations

import pytest
from promessa_testing import day

from promessa.errors import ValidationError
from promising import Policy
from sourcing.choosers import SourcingChooser, ZoneChooser, get_location_chooser, zones


def _snap(make_snapshot):
    # Both DCs hold 10; DC-A is ranked first for zone Z1 but ships at 3.0 a unit, DC-B at 0.5.
    return make_snapshot(
        supply=[("A", "DC-A", 0, 10), ("A", "DC-B", 0, 10), ("B", "DC-A", 0, 1), ("B", "DC-B", 6, 5)],
        extra={
            "lanes": [{"location": "DC-A", "zone": "Z1", "transit_days": 1, "cost_per_unit": 3.0, "cost_per_shipment": 1.0},
                      {"location": "DC-B", "zone": "Z1", "transit_days": 1, "cost_per_unit": 0.5, "cost_per_shipment": 1.0}],
            "sourcing": [{"zone": "Z1", "location": "DC-A", "rank": 1}, {"zone": "Z1", "location": "DC-B", "rank": 2}],
        },
    )


def test_cheapest_that_meets_the_date_beats_the_ranking(make_snapshot):
    snap = _snap(make_snapshot)
    st = snap.new_state()
    kw = dict(item="A", qty=4, requested_date=day(1), zone="Z1", policy=Policy())
    assert ZoneChooser()(snap, st, **kw) == "DC-A"                        # ranked first and has it
    assert SourcingChooser(objective="cheapest")(snap, st, **kw) == "DC-B"  # same date, cheaper lane


def test_earliest_picks_the_node_that_has_it_first(make_snapshot):
    snap = _snap(make_snapshot)
    st = snap.new_state()
    # 3 B: DC-A has 1 now (never 3), DC-B gets 5 on day 6
    assert SourcingChooser()(snap, st, item="B", qty=3, requested_date=day(1), zone="Z1", policy=Policy()) == "DC-B"


@pytest.mark.slow  # starts the server
def test_the_server_uses_sourcing_unless_told_otherwise(tmp_path, make_snapshot):
    from fastapi.testclient import TestClient

    from promessa.config import settings_of
    from server import create_app

    snap = _snap(make_snapshot)
    for choice, want in (("sourcing", "DC-B"), ("zone", "DC-A")):
        settings = settings_of(db=str(tmp_path / f"{choice}.sqlite"), demo=True, location_choice=choice,
                            sourcing_objective="cheapest", approval_value_threshold=None)
        with TestClient(create_app(settings, snapshot=snap), client=("127.0.0.1", 50000)) as c:  # demo: loopback only
            r = c.post("/v1/orders", json={"customer": "C", "zone": "Z1",
                                           "lines": [{"item": "A", "qty": 4, "requested_date": str(day(1))}]})
            assert r.status_code == 201, r.text
            assert r.json()["lines"][0]["location"] == want


def test_the_composition_root_picks_the_chooser_from_settings(make_snapshot):
    from promessa.app import location_chooser
    from promessa.config import settings_of

    snap = _snap(make_snapshot)
    st = snap.new_state()
    kw = dict(item="A", qty=4, requested_date=day(1), zone="Z1", policy=Policy())
    for choice, want in (("sourcing", "DC-B"), ("zone", "DC-A")):
        chooser = location_chooser(settings_of(location_choice=choice, sourcing_objective="cheapest"))
        assert chooser(snap, st, **kw) == want, choice


def test_zones_are_read_from_locations_lanes_and_rules(make_snapshot):
    snap = make_snapshot(
        supply=[("A", "DC-A", 0, 1)],
        extra={"lanes": [{"location": "DC-A", "zone": "Z2", "transit_days": 1, "cost_per_unit": 1.0, "cost_per_shipment": 0.0}],
               "sourcing": [{"zone": "Z3", "location": "DC-A", "rank": 1}]},
    )
    assert zones(snap) == frozenset({"Z1", "Z2", "Z3"})  # Z1: the zone of every location in the fixture


def test_zone_chooser_ranks_item_rules_then_category_then_generic_then_the_zone(make_snapshot):
    # Four DCs stock A (category "c"); DC-X does not stock it. Rules for Z1: generic DC-G (rank 1),
    # category rule DC-C (rank 5), item rule DC-I (rank 9), a generic rule for DC-X (not stocked).
    # DC-Z is only in the zone. Item rules come first whatever their rank, then category, then generic.
    snap = make_snapshot(
        supply=[("A", loc, 0, 1) for loc in ("DC-G", "DC-C", "DC-I", "DC-Z")] + [("B", "DC-X", 0, 1)],
        extra={"sourcing": [{"zone": "Z1", "location": "DC-G", "rank": 1},
                            {"zone": "Z1", "location": "DC-X", "rank": 2},
                            {"zone": "Z1", "location": "DC-C", "rank": 5, "category": "c"},
                            {"zone": "Z1", "location": "DC-I", "rank": 9, "item": "A"}]},
    )
    assert ZoneChooser().candidates(snap, "Z1", "A") == ("DC-I", "DC-C", "DC-G", "DC-Z")


def test_zone_chooser_takes_the_first_in_full_else_the_one_promising_most(make_snapshot):
    # Ranked DC-1, DC-2, DC-3 holding 2, 5 and 4.
    snap = make_snapshot(
        supply=[("A", "DC-1", 0, 2), ("A", "DC-2", 0, 5), ("A", "DC-3", 0, 4)],
        extra={"sourcing": [{"zone": "Z1", "location": f"DC-{k}", "rank": k} for k in (1, 2, 3)]},
    )
    st = snap.new_state()
    choose = get_location_chooser()
    kw = dict(item="A", requested_date=day(0), zone="Z1", policy=Policy())
    assert choose(snap, st, qty=4, **kw) == "DC-2"   # DC-1 cannot promise 4 whole; DC-2 can and comes first
    assert choose(snap, st, qty=9, **kw) == "DC-2"   # nobody has 9: DC-2 promises the most (5)
    assert get_location_chooser() is choose


def test_zone_chooser_refuses_an_item_no_location_stocks(make_snapshot):
    snap = make_snapshot(supply=[("A", "DC-1", 0, 2)], items=["NEW"])
    with pytest.raises(ValidationError) as e:
        ZoneChooser()(snap, snap.new_state(), item="NEW", qty=1, requested_date=day(0), zone="Z1", policy=Policy())
    assert e.value.field == "item" and e.value.value == "NEW"


def test_sourcing_chooser_falls_back_to_the_zone_rules_for_a_zone_without_lanes(make_snapshot):
    snap = _snap(make_snapshot)
    st = snap.new_state()
    # Z9 has no lanes and no rules: real-time sourcing does not know it; the zone chooser's last
    # resort (any location that stocks A) answers with the first such location.
    got = SourcingChooser(objective="cheapest")(snap, st, item="A", qty=4, requested_date=day(1), zone="Z9", policy=Policy())
    assert got == ZoneChooser()(snap, st, item="A", qty=4, requested_date=day(1), zone="Z9", policy=Policy()) == "DC-A"


def _reference_node(snap, st, *, item, qty, requested_date, zone, policy, demand_class, objective):
    """The choice as the chooser made it before `line_node`: the whole `source_order` answer for a one-line order,
    the node of its largest leg, else the best-ranked alternative (None: the zone fallback decides)."""
    from sourcing.realtime import OrderLine, SourcingPolicy, SourcingRequest, source_order

    pol = SourcingPolicy(objective=objective, date_kind="ship", max_splits=0, allow_partial=policy.allow_partial,
                         max_late_days=policy.max_late_days)
    ans = source_order(snap, st, SourcingRequest("line", zone, (OrderLine(1, item, qty, requested_date),), pol,
                                                 demand_class), draws=False)
    legs = ans.lines[0].legs
    if legs:
        return max(legs, key=lambda g: g.qty).node
    alts = ans.lines[0].alternatives
    return min(alts, key=lambda a: (a.rank, a.node)).node if alts else None


@pytest.mark.parametrize("objective", ["earliest", "cheapest", "profit", "fewest_shipments"])
def test_the_sourcing_chooser_names_the_node_the_whole_answer_gives(tmp_path, objective):
    """The generated tiny network (quota pools, calendars, several zones and classes): every order line of its stream,
    taken in turn and committed where it is chosen (so nodes run short and lines go late, partial or unserved), gets
    from the chooser the node the whole `source_order` answer gives, with and without partial lines and a lateness
    limit."""
    import polars as pl

    from promising import promise
    from promising.types import Request
    from supplydata import load_snapshot
    from supplydata.generate import generate

    generate(tmp_path / "net", seed=3, size="tiny")
    snap = load_snapshot(tmp_path / "net")
    st = snap.new_state()
    chooser = SourcingChooser(objective=objective)
    policies = [Policy(), Policy(allow_partial=False), Policy(max_late_days=2)]
    rows = pl.read_parquet(tmp_path / "net" / "orders.parquet").rows(named=True)
    kinds = set()
    for n, r in enumerate(rows * 3):  # the stream three times, larger each time: the nodes run down
        qty = float(r["qty"]) * (1 + 2 * (n // len(rows)))
        kw = dict(item=r["item"], qty=qty, requested_date=r["requested_date"], zone=r["zone"],
                  policy=policies[n % 3], demand_class=r["demand_class"])
        want = _reference_node(snap, st, objective=objective, **kw)
        got = chooser(snap, st, **kw)
        assert got == (want if want is not None else got), (n, r)
        p = promise(snap, st, Request(r["item"], got, qty, r["requested_date"], kw["policy"], r["demand_class"]),
                    commit=True, explain=False)
        kinds.add(p.status.name)
    assert {"FULL", "LATE"} <= kinds and kinds & {"PARTIAL", "SHORT"}
