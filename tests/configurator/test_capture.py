"""Configured bicycles ordered through the order book (the capture hook, issue 16 item 3).

The story (bike_plant.py, business day 2026-03-02 = day 0): the plant P1 has 50 of every component
except the mid motor (2 on hand, 10 due on day 9) and racks; assembly takes a day; the e-bike test
bench tests 2 bikes a day. The bicycle (configurator/examples/bicycle.yaml) costs 499.00 plus its
options; no price rules, no tax rates (priced without tax).

- Ana orders 4 hub-motor e-bikes for day 3: the bench tests 2 on day 0 and 2 on day 1, so they are
  promised in full on day 3, at 499 + 120 (11 speeds) + 140 (hydraulic discs) + 900 (hub motor)
  = 1659.00 each, 6636.00 the line.
- Ben then orders 1 more for day 3: the bench is full on days 0 and 1, tests it on day 2, done on
  day 3, shipped day 4: late, and the explanation names the bench and the option motor=hub.
- Incomplete (no rack chosen) or invalid (rim brakes on an e-bike) orders are refused naming the
  variable or the rule; nothing changes.
- A restart on the same SQLite file finds the same promises and the same reservations; the same
  request sent again is answered from its key, reserving nothing twice.
- Cancelling gives every component and bench hour back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bike_plant import bike_snapshot, day

from configurator import ModelLibrary, load_model, promise_configuration
from configurator.capture import ConfiguredCapture
from orderbook.schemas import OrderChange, OrderCreate
from orderbook.service import Idem, OrderService
from orderbook.store import open_store
from promessa.config import settings_of
from promessa.errors import ValidationError

BIKE = Path(__file__).parents[2] / "configurator" / "examples" / "bicycle.yaml"
HUB = {"frame": "alu", "size": "M", "gears": "derailleur-11", "brakes": "disc-hyd", "motor": "hub", "rack": "no"}


@pytest.fixture(scope="module")
def model():
    return load_model(BIKE)


@pytest.fixture(scope="module")
def library(model):
    """One library (one compiled diagram) for the module: CUDD managers are best not made per test."""
    lib = ModelLibrary()
    lib.add(model)
    return lib


@pytest.fixture
def book(tmp_path, library):
    """open() -> an OrderService over one SQLite file on the bike plant; calling it again after close() is a restart."""
    snap = bike_snapshot()
    opened = []

    def open_():
        store = open_store(str(tmp_path / "ob.sqlite"))
        svc = OrderService(snap, store, settings_of(approval_value_threshold=None),
                           configured=ConfiguredCapture(library))
        opened.append((svc, store))
        return svc

    yield open_
    for svc, store in opened:
        svc.close()
        store.close()


def order(choices, qty, when=3, customer="ana", **line):
    return OrderCreate.model_validate({"customer": customer, "lines": [
        {"qty": qty, "requested_date": day(when).isoformat(), "configuration": {"model": "bicycle", "choices": choices},
         **line}]})


def positions(state):
    return state.cum.copy(), {k: v.copy() for k, v in state.extras.items()}


def same(a, b) -> bool:
    """Equal positions: the item-locations' and the resources' (kept as extras once a capacity is drawn; absent = none)."""
    if not np.allclose(a[0], b[0]):
        return False
    for k in a[1].keys() | b[1].keys():
        x, y = a[1].get(k), b[1].get(k)
        x = np.zeros_like(y) if x is None else x
        y = np.zeros_like(x) if y is None else y
        if not np.allclose(x, y):
            return False
    return True


def capture(svc, data, key=None):
    import json

    status, body, replayed = svc.capture(data, actor="test", idem=Idem.of(key, "capture", data.model_dump_json()))
    assert status == 201
    return json.loads(body), replayed


def test_a_configured_order_is_priced_by_option_promised_through_its_bill_and_explained(book, model):
    svc = book()
    fresh = positions(svc.state)
    ana, _ = capture(svc, order(HUB, 4), key="ana-1")
    ln = ana["lines"][0]
    assert ln["item"] == "bicycle" and ln["location"] == "P1"
    assert ln["configuration"] == {"model": "bicycle", "version": "2026.1", "choices": HUB}
    # priced by option: 499 + 120 + 140 + 900 = 1659.00 a bike, 4 bikes
    assert ln["waterfall"]["unit_list_price"]["amount"] == "1659.00"
    assert ana["totals"]["net"] == {"amount": "6636.00", "currency": "EUR"}
    assert ana["status"] == "scheduled"
    assert ln["schedule"] == [{"date": "2026-03-05", "qty": 4.0, "shipped_qty": 0.0}]
    assert ln["promise"]["status"] == "full" and ln["promise"]["committed"]
    # the reservation is the bill's: 4 hub motors, 4 batteries, 8 wheels, 4 bench hours, 4 assembly hours
    drawn = {}
    for d in ln["draws"]:
        drawn[d["key"]] = drawn.get(d["key"], 0.0) + d["qty"]
    assert drawn["MOTOR-HUB"] == 4 and drawn["BATTERY"] == 4 and drawn["WHEEL"] == 8
    assert drawn["TESTBENCH"] == 4 and drawn["ASSY"] == 4
    assert not same(positions(svc.state), fresh)

    # the bench is full on days 0 and 1: Ben's bike is tested on day 2 and ships on day 4
    ben, _ = capture(svc, order(HUB, 1, customer="ben"), key="ben-1")
    p = ben["lines"][0]["promise"]
    assert ben["lines"][0]["schedule"][0]["date"] == "2026-03-06"
    assert p["status"] == "late" and p["reason"] == "capacity"
    assert "capacity of TESTBENCH" in p["message"] and "option motor=hub" in p["message"]
    assert p["details"]["configuration"]["binding"]["item"] == "OP-EBIKE-TEST"

    # cancelling gives every component and bench hour back
    svc.cancel(ana["order_id"], actor="test")
    svc.cancel(ben["order_id"], actor="test")
    assert same(positions(svc.state), fresh)
    assert promise_configuration(svc.snap, svc.state, model, HUB, qty=4, requested_date=day(3)).status == "full"


def test_an_incomplete_or_invalid_configuration_is_refused_naming_the_rule(book):
    svc = book()
    before = positions(svc.state)

    def refused(data):
        with pytest.raises(ValidationError) as e:
            svc.capture(data, actor="test")
        return e.value

    e = refused(order({k: v for k, v in HUB.items() if k != "rack"}, 1))
    assert e.field == "lines.0.configuration.choices.rack" and "incomplete" in e.message
    e = refused(order(dict(HUB, brakes="rim"), 1))
    assert e.field == "lines.0.configuration.rules[ebike-needs-disc]" and e.value == {"motor": "hub", "brakes": "rim"}
    e = refused(order(dict(HUB, frame="titanium"), 1))
    assert (e.field, e.value) == ("lines.0.configuration.choices.frame", "titanium")
    assert refused(order(HUB, 1, item="WHEEL")).field == "lines.0.item"
    assert refused(order(HUB, 1, unit_price="10.00")).field == "lines.0.unit_price"
    assert svc.orders == {} and same(positions(svc.state), before)

    # without a configurator wired, the order book refuses configured lines by name
    bare = OrderService(svc.snap, svc.store, settings_of(approval_value_threshold=None))
    try:
        with pytest.raises(ValidationError) as e:
            bare.capture(order(HUB, 1), actor="test")
        assert e.value.field == "lines.0.configuration"
    finally:
        bare.close()


def test_a_short_configured_line_reserves_nothing(book):
    svc = book()
    before = positions(svc.state)
    mid = dict(HUB, motor="mid")
    # 2 mid motors on hand + 10 on day 9 = 12 within the horizon: 13 cannot be had
    got, _ = capture(svc, order(mid, 13))
    ln = got["lines"][0]
    assert got["status"] == "backordered" and ln["draws"] == [] and ln["schedule"] == []
    assert ln["promise"]["status"] == "short" and "MOTOR-MID" in ln["promise"]["message"]
    assert "option motor=mid" in ln["promise"]["message"]
    assert same(positions(svc.state), before)


def test_a_restart_finds_the_same_promise_and_reserves_nothing_twice(book, model):
    svc = book()
    first, _ = capture(svc, order(HUB, 4), key="ana-1")
    held = positions(svc.state)
    journal = len(svc.store.journal_since(0))
    svc.close()
    svc.store.close()

    again = book()
    o = again.get(first["order_id"])
    assert o["lines"][0]["promise"] == first["lines"][0]["promise"]
    assert o["lines"][0]["draws"] == first["lines"][0]["draws"]
    assert same(positions(again.state), held)
    # the same request sent again is answered from its key: nothing is promised twice
    replay, replayed = capture(again, order(HUB, 4), key="ana-1")
    assert replayed and replay["order_id"] == first["order_id"]
    assert len(again.store.journal_since(0)) == journal and same(positions(again.state), held)
    # the bench's first two days stay taken after the restart
    late = promise_configuration(again.snap, again.state, model, HUB, qty=1, requested_date=day(3))
    assert late.date == day(4)
    again.cancel(first["order_id"], actor="test")
    assert promise_configuration(again.snap, again.state, model, HUB, qty=5, requested_date=day(5)).status == "full"


def test_a_change_promises_the_configured_line_again(book):
    svc = book()
    fresh = positions(svc.state)
    got, _ = capture(svc, order(HUB, 2))
    oid = got["order_id"]
    # now without a motor: 499 + 120 + 60 (mechanical discs) = 679.00, no bench hours
    plain = dict(HUB, motor="none", brakes="disc-mech")
    import json

    _, body, _ = svc.change(oid, OrderChange.model_validate(
        {"lines": [{"line": 1, "qty": 3, "configuration": {"model": "bicycle", "choices": plain}}]}), actor="test")
    ln = json.loads(body)["lines"][0]
    assert ln["configuration"]["choices"] == plain and ln["waterfall"]["unit_list_price"]["amount"] == "679.00"
    assert json.loads(body)["totals"]["net"]["amount"] == "2037.00"
    keys = {d["key"] for d in ln["draws"]}
    assert "TESTBENCH" not in keys and "MOTOR-HUB" not in keys and "BRAKE-DISC-M" in keys
    assert ln["promise"]["source"] == "change" and ln["promise"]["status"] == "full"
    with pytest.raises(ValidationError) as e:
        svc.change(oid, OrderChange.model_validate({"lines": [{"line": 1, "configuration": {
            "model": "bicycle", "choices": dict(plain, frame="carbon", rack="yes")}}]}), actor="test")
    assert e.value.field == "lines.0.configuration.rules[carbon-no-rack]"
    svc.cancel(oid, actor="test")
    assert same(positions(svc.state), fresh)



def test_a_shipment_consumes_the_bill_in_proportion_and_cancel_frees_the_rest(book):
    from orderbook.schemas import FulfillmentEvent

    svc = book()
    got, _ = capture(svc, order(HUB, 4))
    oid = got["order_id"]
    motor = svc.snap.il_of("MOTOR-HUB", "P1")
    assert svc.state.cum[motor, -1] == 46  # 50 on hand, 4 reserved
    svc.event(oid, FulfillmentEvent.model_validate({"type": "shipped", "lines": [{"line": 1, "qty": 2}]}), actor="test")
    ln = svc.orders[oid].lines[0]

    def per_key(draws):
        out = {}
        for d in draws:
            out[d.key] = out.get(d.key, 0.0) + d.qty
        return out

    # half of every component and bench hour is consumed by the 2 bikes shipped, half stays reserved
    assert per_key(ln.consumed)["MOTOR-HUB"] == pytest.approx(2) and per_key(ln.draws)["MOTOR-HUB"] == pytest.approx(2)
    assert per_key(ln.consumed)["WHEEL"] == pytest.approx(4) and per_key(ln.draws)["TESTBENCH"] == pytest.approx(2)
    svc.cancel(oid, actor="test")
    # the 2 shipped keep their motors; the 2 not shipped give theirs back
    assert svc.orders[oid].lines[0].draws == [] and svc.state.cum[motor, -1] == pytest.approx(48)
