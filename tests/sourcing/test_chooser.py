"""The order book's location choice through real-time sourcing."""

from __future__ import annotations

from orderbook.locations import ZoneChooser
from promessa_testing import day
from promising import Policy
from sourcing.chooser import SourcingChooser


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


def test_the_server_uses_sourcing_unless_told_otherwise(tmp_path, make_snapshot):
    from fastapi.testclient import TestClient

    from promessa.config import Settings, settings_of
    from server import create_app

    snap = _snap(make_snapshot)
    for choice, want in (("sourcing", "DC-B"), ("zone", "DC-A")):
        settings = settings_of(db=str(tmp_path / f"{choice}.sqlite"), demo=True, location_choice=choice,
                            sourcing_objective="cheapest", approval_value_threshold=None)
        with TestClient(create_app(settings, snapshot=snap)) as c:
            r = c.post("/v1/orders", json={"customer": "C", "zone": "Z1",
                                           "lines": [{"item": "A", "qty": 4, "requested_date": str(day(1))}]})
            assert r.status_code == 201, r.text
            assert r.json()["lines"][0]["location"] == want
