"""Configured lines of the bicycle promised through components and capacity (see bike_plant.py).

The plant promises each component and operation for the whole quantity on one date, due one
day (the assembly) before the requested ship date.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bike_plant import bike_snapshot, day

from configurator import explode, load_model, promise_configuration
from promessa.errors import ValidationError

BIKE = Path(__file__).parents[2] / "configurator" / "examples" / "bicycle.yaml"
MID = {"frame": "alu", "size": "M", "gears": "derailleur-11", "brakes": "disc-hyd", "motor": "mid", "rack": "no"}
HUB = dict(MID, motor="hub")


@pytest.fixture(scope="module")
def model():
    return load_model(BIKE)


@pytest.fixture(scope="module")
def plant():
    snap = bike_snapshot()
    return snap, snap.new_state()


def test_explode_picks_components_and_operations_by_option(model):
    needs = {n.item: n for n in explode(model, MID, qty=3)}
    assert set(needs) == {"FRAME-ALU", "WHEEL", "DERAILLEUR-11", "BRAKE-DISC-H", "MOTOR-MID", "BATTERY", "OP-ASSEMBLY",
                          "OP-EBIKE-TEST"}
    assert needs["WHEEL"].qty == 6.0 and needs["BRAKE-DISC-H"].qty == 6.0 and needs["MOTOR-MID"].qty == 3.0
    assert needs["MOTOR-MID"].options == (("motor", "mid"),)
    assert needs["OP-EBIKE-TEST"].kind == "operation"


def test_two_mid_motor_bikes_on_time(model, plant):
    p = promise_configuration(*plant, model, MID, qty=2, requested_date=day(3))
    assert p.status == "full" and p.date == day(3) and p.binding is None


def test_the_mid_motor_binds(model, plant):
    # 2 mid motors on hand, 10 arrive on day 9: the third bike is built on day 9 and ships on day 10
    p = promise_configuration(*plant, model, MID, qty=3, requested_date=day(3))
    assert p.status == "late" and p.date == day(10)
    assert p.binding.need.item == "MOTOR-MID"
    assert p.binding.need.options == (("motor", "mid"),)
    assert "option motor=mid" in p.message


def test_the_test_bench_capacity_binds(model, plant):
    # the test bench tests 2 e-bikes a day, a day before they are done: by day 2 (due for a day-3 ship)
    # days 0 and 1 test 4 bikes; the fifth is tested on day 2, done on day 3 and ships on day 4
    p = promise_configuration(*plant, model, HUB, qty=5, requested_date=day(3))
    assert p.status == "late" and p.date == day(4)
    assert p.binding.need.item == "OP-EBIKE-TEST"
    assert p.binding.need.options == (("motor", "hub"),)
    assert "capacity of TESTBENCH" in p.message and "motor=hub" in p.message
    assert p.to_dict()["binding"]["reason"] == "capacity"


def test_the_rack_lead_time_binds(model, plant):
    # no rack in stock, 5 days to replenish: built on day 5, shipped on day 6
    cfg = dict(MID, motor="none", brakes="disc-mech", rack="yes")
    p = promise_configuration(*plant, model, cfg, qty=1, requested_date=day(3))
    assert p.date == day(6) and p.binding.need.item == "RACK" and "option rack=yes" in p.message


def test_refuses_incomplete_or_invalid(model, plant):
    with pytest.raises(ValidationError, match="incomplete"):
        promise_configuration(*plant, model, {"frame": "alu"}, qty=1, requested_date=day(3))
    with pytest.raises(ValidationError, match="ebike-needs-disc"):
        promise_configuration(*plant, model, dict(MID, brakes="rim"), qty=1, requested_date=day(3))


def test_fastest_completion_from_promised_option_dates(model, plant):
    from configurator import Session, compile_model
    from configurator.lines import option_dater

    # 3 bikes due (built) on day 2: the mid motor is there on day 9, the rack on day 5, the rest on day 2
    date_of = option_dater(*plant, model, qty=3, requested_date=day(3))
    assert date_of("motor", "mid") == day(9)
    assert date_of("rack", "yes") == day(5)
    assert date_of("motor", "hub") == day(2) and date_of("frame", "carbon") == day(2)
    # with hydraulic discs and an 11-speed derailleur chosen, the fastest keeps the mid motor and the rack out
    cfg = Session(compile_model(model), {"brakes": "disc-hyd", "gears": "derailleur-11"}).complete_by("fastest", date_of=date_of)
    assert cfg["motor"] != "mid" and cfg["rack"] == "no"


def test_an_order_line_configuration_is_resolved_or_refused_naming_the_rule(model):
    import datetime as dt

    from configurator import ModelLibrary
    from configurator.lines import resolve_configuration

    lib = ModelLibrary()
    lib.add(model)
    on = dt.date(2026, 3, 2)
    m, cfg, c = resolve_configuration(lib, {"model": "bicycle", "choices": MID}, on=on, field="lines.0.configuration")
    assert m is model and cfg == MID and c.count() == 246

    def refused(spec, **kw):
        with pytest.raises(ValidationError) as e:
            resolve_configuration(lib, spec, on=kw.get("on", on), field="lines.2.configuration")
        return e.value.field, e.value.value, e.value.message

    field, value, msg = refused({"model": "bicycle", "choices": dict(MID, gears="single")})
    assert field == "lines.2.configuration.rules[mid-motor-gears]" and value == {"motor": "mid", "gears": "single"}
    assert "breaks rule 'mid-motor-gears'" in msg
    field, value, msg = refused({"model": "bicycle", "choices": {k: v for k, v in MID.items() if k != "rack"}})
    assert field == "lines.2.configuration.choices.rack" and "incomplete" in msg
    assert refused({"model": "bicycle", "choices": dict(MID, frame="titanium")})[:2] == (
        "lines.2.configuration.choices.frame", "titanium")
    assert refused({"model": "bicycle", "choices": dict(MID, bell="yes")})[:2] == ("lines.2.configuration.choices.bell", "bell")
    assert refused({"model": "tricycle", "choices": MID})[0] == "lines.2.configuration.model"
    assert refused({"model": "bicycle", "version": "9", "choices": MID})[0] == "lines.2.configuration.version"
    assert refused({"model": "bicycle", "choices": MID}, on=dt.date(2025, 12, 31))[0] == "lines.2.configuration.model"
    assert refused({"model": "bicycle", "choice": MID})[0] == "lines.2.configuration.choice"


def test_committing_a_configured_line_reserves_its_components_and_capacity():
    from configurator.lines import commit_configuration
    from promising import unreserve

    model = load_model(BIKE)
    snap = bike_snapshot()
    state = snap.new_state()
    before = promise_configuration(snap, state, model, HUB, qty=4, requested_date=day(3))
    assert before.status == "full"  # 4 e-bikes: the bench tests 2 on day 0 and 2 on day 1
    p, res = commit_configuration(snap, state, model, HUB, qty=4, requested_date=day(3))
    assert p.status == "full" and p.date == day(3) and res is not None
    assert {d.key for d in res.draws} >= {"MOTOR-HUB", "BATTERY", "WHEEL", "TESTBENCH"}
    # the bench's first two days are taken: one more e-bike is tested on day 2, done on day 3, shipped day 4
    after = promise_configuration(snap, state, model, HUB, qty=1, requested_date=day(3))
    assert after.status == "late" and after.date == day(4) and after.binding.need.item == "OP-EBIKE-TEST"
    unreserve(snap, state, res)
    assert promise_configuration(snap, state, model, HUB, qty=4, requested_date=day(3)).to_dict() == before.to_dict()


def test_a_short_configured_line_commits_nothing():
    from configurator.lines import commit_configuration

    model = load_model(BIKE)
    snap = bike_snapshot()
    state = snap.new_state()
    asked = promise_configuration(snap, state, model, MID, qty=13, requested_date=day(3))
    # 2 mid motors on hand + 10 on day 9 = 12 within the horizon: 13 cannot be had
    p, res = commit_configuration(snap, state, model, MID, qty=13, requested_date=day(3))
    assert res is None and p.status == "short" and p.binding.need.item == "MOTOR-MID" and "motor=mid" in p.message
    assert promise_configuration(snap, state, model, MID, qty=13, requested_date=day(3)).to_dict() == asked.to_dict()
    assert promise_configuration(snap, state, model, HUB, qty=4, requested_date=day(3)).status == "full"
