"""A configured bicycle ordered through POST /v1/orders.

The story (tests/configurator/bike_plant.py, business day 2026-03-02): the plant P1 has 50 of every
component except the mid motor and racks; assembly takes a day; the e-bike test bench tests 2 bikes a
day. The bicycle (configurator/examples/bicycle.yaml, loaded at start-up) costs 499.00 plus its options;
the price book gives 10 % off the item ``bicycle`` (rule BIKE10) and German VAT of 19 %.

Two hub-motor e-bikes shipped to Germany on 2026-03-05: 499 + 120 (11 speeds) + 140 (hydraulic discs)
+ 900 (hub motor) = 1659.00 each, 3318.00 the line; 10 % off = 331.80, net 2986.20; VAT 19 % = 567.378
-> 567.38; total 3553.58. Promised in full on 2026-03-05 through the bench's day 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import CAP, VIEW

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "configurator"))
from bike_plant import bike_snapshot  # noqa: E402

RULES = """rules:
  - {id: BIKE10, kind: percent, value: 10, items: [bicycle], stacking: stackable, precedence: 10,
     valid_from: 2026-01-01, description: ten percent off configured bicycles}
"""
TAX = "country,region,tax_category,rate,valid_from,valid_to\nDE,,standard,0.19,2026-01-01,\n"
HUB = {"frame": "alu", "size": "M", "gears": "derailleur-11", "brakes": "disc-hyd", "motor": "hub", "rack": "no"}


@pytest.fixture
def client(tmp_path, make_settings):
    from server import create_app

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text(RULES)
    (rules / "tax_rates.csv").write_text(TAX)
    settings = make_settings((str(tmp_path / "ob.sqlite"), "unused"), rules_dir=rules, approval_value_threshold=None)
    with TestClient(create_app(settings, snapshot=bike_snapshot()), headers=VIEW) as c:
        yield c


def body(choices, qty, **line):
    return {"customer": "C1", "ship_to": {"country": "DE"},
            "lines": [{"qty": qty, "requested_date": "2026-03-05",
                       "configuration": {"model": "bicycle", "choices": choices}, **line}]}


def test_a_configured_bicycle_captured_priced_promised_refused_and_cancelled(client):
    r = client.post("/v1/orders", json=body(HUB, 2), headers={**CAP, "Idempotency-Key": "bike-1"})
    assert r.status_code == 201, r.text
    o = r.json()
    ln = o["lines"][0]
    assert ln["item"] == "bicycle" and ln["location"] == "P1"
    assert ln["configuration"] == {"model": "bicycle", "version": "2026.1", "choices": HUB}
    w = ln["waterfall"]
    assert w["unit_list_price"]["amount"] == "1659.00" and w["price_list"] == "configured/bicycle/2026.1@1"
    assert [(a["rule"], a["amount"]["amount"]) for a in w["adjustments"]] == [("BIKE10@1", "-331.80")]
    assert o["totals"]["net"] == {"amount": "2986.20", "currency": "EUR"}
    assert (o["totals"]["tax"]["amount"], o["totals"]["total"]["amount"]) == ("567.38", "3553.58")
    assert ln["promise"]["status"] == "full" and ln["schedule"][0]["date"] == "2026-03-05"
    assert {d["key"] for d in ln["draws"]} >= {"MOTOR-HUB", "BATTERY", "TESTBENCH", "ASSY"}
    assert client.get(f"/v1/orders/{o['order_id']}").json()["lines"][0]["configuration"]["choices"] == HUB

    # the same key answers the same order: nothing is promised twice
    again = client.post("/v1/orders", json=body(HUB, 2), headers={**CAP, "Idempotency-Key": "bike-1"})
    assert again.status_code == 201 and again.json()["order_id"] == o["order_id"]

    # 4 more: the bench's day 0 is taken, so 2 are tested on day 1 and 2 on day 2: shipped on day 4
    more = client.post("/v1/orders", json=body(HUB, 4), headers=CAP).json()
    p = more["lines"][0]["promise"]
    assert p["status"] == "late" and more["lines"][0]["schedule"][0]["date"] == "2026-03-06"
    assert "capacity of TESTBENCH" in p["message"] and "option motor=hub" in p["message"]
    # the monitoring read models take configured lines (an item the snapshot does not stock) in their stride
    for path in ("/v1/jeopardy", "/v1/exceptions"):
        assert client.get(path).status_code == 200, path

    # refused naming the rule, the variable, or a line that is neither plain nor configured
    r = client.post("/v1/orders", json=body(dict(HUB, brakes="rim"), 1), headers=CAP)
    assert r.status_code == 422
    err = r.json()["detail"][0]
    assert err["loc"][-4:] == ["lines", 0, "configuration", "rules[ebike-needs-disc]"]
    assert err["input"] == {"motor": "hub", "brakes": "rim"} and "ebike-needs-disc" in err["msg"]
    r = client.post("/v1/orders", json=body({k: v for k, v in HUB.items() if k != "rack"}, 1), headers=CAP)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-5:] == ["lines", 0, "configuration", "choices", "rack"]
    r = client.post("/v1/orders", json={"customer": "C1", "lines": [{"qty": 1, "requested_date": "2026-03-05"}]}, headers=CAP)
    assert r.status_code == 422 and "an item or a configuration" in r.text

    # cancelling both gives the bench back: 4 e-bikes are on time again
    for oid in (o["order_id"], more["order_id"]):
        assert client.post(f"/v1/orders/{oid}/cancel", headers=CAP).status_code == 200
    after = client.post("/v1/orders", json=body(HUB, 4), headers=CAP).json()
    assert after["lines"][0]["promise"]["status"] == "full"
