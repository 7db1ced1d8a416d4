"""Configure-to-order over HTTP: the bicycle configured, explained, completed, priced and promised; models posted,
refused naming the rule, and kept across a restart.

The story (tests/configurator/bike_plant.py, business day 2026-03-02): the plant P1 has 50 of every component on
hand except the mid motor (2 on hand, 10 arriving on day 9) and racks (none, 5 days to replenish); assembly takes
one day; the e-bike test bench tests 2 bikes a day. The bicycle model (configurator/examples/bicycle.yaml,
loaded at start-up) costs 499.00 plus its options. The price book gives 10 % off the item ``bicycle``
(rule BIKE10) and German VAT of 19 %.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import CAP, PLAN, VIEW

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "configurator"))
from bike_plant import bike_snapshot  # noqa: E402

BASE = "/v1/configurator"
RULES = """rules:
  - {id: BIKE10, kind: percent, value: 10, items: [bicycle], stacking: stackable, precedence: 10,
     valid_from: 2026-01-01, description: ten percent off configured bicycles}
"""
TAX = "country,region,tax_category,rate,valid_from,valid_to\nDE,,standard,0.19,2026-01-01,\n"
LAMP = {"name": "lamp", "version": "1", "effective_from": "2026-01-01", "currency": "EUR",
        "variables": {"color": ["red", "blue", "green"], "bulb": {"values": ["led", "halogen"], "default": "led"}},
        "rules": [{"name": "blue-is-led", "if": {"color": "blue"}, "then": {"bulb": "led"}}],
        "prices": {"base": "20.00", "options": {"bulb": {"halogen": "3.50"}}}}


@pytest.fixture(scope="module")
def plant():
    return bike_snapshot()


@pytest.fixture
def make(tmp_path, plant, make_settings):
    """make(**settings) -> a TestClient (viewer key) over one SQLite order book with the rules above; calling it
    again after closing the first is a restart."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text(RULES)
    (rules / "tax_rates.csv").write_text(TAX)

    def _make(**kw):
        from server import create_app

        settings = make_settings((str(tmp_path / "ob.sqlite"), "unused"), rules_dir=rules, **kw)
        return TestClient(create_app(settings, snapshot=plant), headers=VIEW)

    return _make


def start(c, **body):
    r = c.post(f"{BASE}/sessions", json=body, headers=CAP)
    assert r.status_code == 201, r.text
    return r.json()


def test_a_steel_bicycle_configured_explained_completed_priced_and_promised(make):
    with make() as c:
        s = start(c, model="bicycle", choices={"frame": "steel"})
        sid = s["id"]
        assert s["version"] == "2026.1" and s["on"] == "2026-03-02" and s["choices"] == {"frame": "steel"}
        valid = {v["name"]: v["valid"] for v in s["variables"]}
        # steel frames start at M; a steel e-bike with a mid motor would weigh at least
        # 2600 + 3200 + 600 (hydraulic discs) + 900 (11 speeds) = 7300 g > 7000 g
        assert valid["size"] == ["M", "L", "XL"] and valid["motor"] == ["none", "hub"]
        assert s["count"] == 75 and not s["complete"]
        assert c.get(f"{BASE}/sessions/{sid}/valid").json() == {"valid": valid, "count": 75}

        r = c.put(f"{BASE}/sessions/{sid}/choices/motor", json={"value": "mid"}, headers=CAP)
        assert r.status_code == 422
        err = r.json()["detail"][0]
        assert err["loc"] == ["choices", "motor"] and err["input"] == "mid" and "weight-limit" in err["msg"]

        why = c.get(f"{BASE}/sessions/{sid}/why", params={"var": "motor", "value": "mid"}).json()
        assert why["valid"] is False
        assert why["rules"] == ["ebike-needs-disc", "mid-motor-gears", "weight-limit"] and why["choices"] == {"frame": "steel"}
        how = c.get(f"{BASE}/sessions/{sid}/how-to-get", params={"var": "motor", "value": "mid"}).json()
        assert how["possible"] and how["changes"] == [{"var": "frame", "from": "steel", "to": "alu"}]
        assert how["configuration"]["motor"] == "mid" and how["configuration"]["brakes"] == "disc-hyd"

        # incomplete: pricing and promising name the first open variable
        r = c.get(f"{BASE}/sessions/{sid}/price")
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["size"] and "incomplete" in r.json()["detail"][0]["msg"]

        done = c.post(f"{BASE}/sessions/{sid}/complete", json={"objective": "cheapest"}, headers=CAP).json()
        cfg = done["choices"]
        assert done["complete"] and done["count"] == 1
        # the cheapest steel bike: no priced option but the frame; M and L cost the same
        assert {k: v for k, v in cfg.items() if k != "size"} == {
            "frame": "steel", "gears": "single", "brakes": "rim", "motor": "none", "rack": "no"}
        assert cfg["size"] in ("M", "L")

        p = c.get(f"{BASE}/sessions/{sid}/price", params={"qty": 2, "country": "DE"}).json()
        assert [(ln["kind"], ln["name"], ln["amount"]) for ln in p["lines"]] == [
            ("base", "bicycle", "499.00"), ("option", "frame=steel", "150.00")]
        assert p["unit"] == "649.00" and p["total"] == "1298.00"
        w = p["waterfall"]
        assert w["item"] == "bicycle" and w["price_list"] == "configured/bicycle/2026.1@1"
        assert w["list_amount"]["amount"] == "1298.00"
        assert [(a["rule"], a["amount"]["amount"]) for a in w["adjustments"]] == [("BIKE10@1", "-129.80")]
        # net 1298.00 - 129.80 = 1168.20; VAT 19 % = 221.958 -> 221.96; total 1390.16
        assert (p["net"], p["tax"], p["total_with_tax"]) == ("1168.20", "221.96", "1390.16")
        r = c.get(f"{BASE}/sessions/{sid}/price", params={"qty": 2})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["country"]  # tax needs a destination

        pr = c.post(f"{BASE}/sessions/{sid}/promise", json={"qty": 2, "requested_date": "2026-03-05"}, headers=CAP).json()
        assert pr["status"] == "full" and pr["date"] == "2026-03-05" and pr["binding"] is None
        assert {n["item"] for n in pr["needs"]} == {"FRAME-STEEL", "WHEEL", "COG", "BRAKE-RIM", "OP-ASSEMBLY"}

        # retracting the frame opens the other frames again (carbon's 900.00 shown on its button)
        back = c.delete(f"{BASE}/sessions/{sid}/choices/frame", headers=CAP).json()
        frame = next(v for v in back["variables"] if v["name"] == "frame")
        assert frame["chosen"] is None and frame["valid"] == ["alu", "carbon", "steel"] and frame["prices"]["carbon"] == "900.00"
        assert c.get(f"{BASE}/sessions/{sid}").json()["choices"] == {k: v for k, v in cfg.items() if k != "frame"}


def test_the_test_bench_binds_an_e_bike_promise_and_nothing_is_committed(make):
    hub = {"frame": "alu", "size": "M", "gears": "derailleur-11", "brakes": "disc-hyd", "motor": "hub", "rack": "no"}
    with make() as c:
        s = start(c, model="bicycle", choices=hub)
        assert s["complete"] and s["count"] == 1
        before = c.get("/v1/commitments", headers={"X-API-Key": "admin-key"}).json()
        # 2 e-bikes tested a day, a day before they are done: days 0 and 1 test 4, the fifth on day 2,
        # done on day 3, shipped on day 4 (2026-03-06) instead of the day asked (2026-03-05)
        for _ in range(2):  # an inquiry: asking twice gives the same answer
            pr = c.post(f"{BASE}/sessions/{s['id']}/promise", json={"qty": 5, "requested_date": "2026-03-05"}, headers=CAP).json()
            assert pr["status"] == "late" and pr["date"] == "2026-03-06"
            assert pr["binding"] == {"item": "OP-EBIKE-TEST", "kind": "operation", "options": [{"var": "motor", "value": "hub"}],
                                     "reason": "capacity"}
            assert "capacity of TESTBENCH" in pr["message"] and "motor=hub" in pr["message"]
        assert c.get("/v1/commitments", headers={"X-API-Key": "admin-key"}).json() == before

        # fastest completion: 3 bikes wanted on day 3 with an open motor and rack; the mid motor comes on day 9 and
        # racks on day 5, so the fastest keeps both out
        f = start(c, model="bicycle", choices={"brakes": "disc-hyd", "gears": "derailleur-11"})
        done = c.post(f"{BASE}/sessions/{f['id']}/complete", json={"objective": "fastest", "qty": 3,
                                                                    "requested_date": "2026-03-05"}, headers=CAP).json()
        assert done["complete"] and done["choices"]["motor"] != "mid" and done["choices"]["rack"] == "no"
        r = c.post(f"{BASE}/sessions/{f['id']}/promise", json={"qty": 3, "requested_date": "2027-01-01"}, headers=CAP)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["requested_date"]  # past the horizon


def test_models_posted_refused_naming_the_rule_and_kept_across_a_restart(make, tmp_path):
    bad = json.loads(json.dumps(LAMP))
    bad["rules"][0]["then"] = {"bulb": "neon"}
    with make() as c:
        models = c.get(f"{BASE}/models").json()
        assert [(m["name"], m["version"], m["source"]) for m in models["data"]] == [("bicycle", "2026.1", "file")]

        r = c.post(f"{BASE}/models", json=bad, headers=PLAN)
        assert r.status_code == 422
        err = r.json()["detail"][0]
        assert err["loc"] == ["rules[blue-is-led]", "then", "bulb"] and err["input"] == "neon"
        assert "not a value of variable 'bulb'" in err["msg"]

        contradictory = json.loads(json.dumps(LAMP))
        contradictory["name"] = "broken"
        contradictory["rules"] += [{"name": "only-halogen", "scope": ["bulb"], "allowed": [["halogen"]]},
                                   {"name": "only-blue", "scope": ["color"], "allowed": [["blue"]]}]
        r = c.post(f"{BASE}/models", json=contradictory, headers=PLAN)
        assert r.status_code == 422 and r.json()["detail"][0]["type"] == "infeasible"
        assert set(r.json()["detail"][0]["ctx"]["rules"]) == {"blue-is-led", "only-halogen", "only-blue"}

        assert c.post(f"{BASE}/models", json=LAMP, headers=CAP).status_code == 403  # order capture configures, not models
        r = c.post(f"{BASE}/models", json=LAMP, headers=PLAN)
        assert r.status_code == 201, r.text
        got = r.json()
        # 3 colours x 2 bulbs, less blue with halogen
        assert got["configurations"] == 5 and got["source"] == "api" and got["posted_by"].startswith("planner:")
        assert r.headers["location"] == f"{BASE}/models/lamp?version=1"
        r = c.post(f"{BASE}/models", json=LAMP, headers=PLAN)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["version"]
        later = dict(LAMP, version="2", effective_from="2026-06-01")
        r = c.post(f"{BASE}/models", json=later, headers=PLAN)
        assert r.status_code == 422 and "together with version '1'" in r.json()["detail"][0]["msg"]
        assert list((tmp_path / "configurator-models").iterdir()) == [tmp_path / "configurator-models" / "lamp@1.json"]

    with make() as c:  # a restart
        names = [(m["name"], m["version"], m["source"]) for m in c.get(f"{BASE}/models").json()["data"]]
        assert names == [("bicycle", "2026.1", "file"), ("lamp", "1", "api")]
        m = c.get(f"{BASE}/models/lamp", params={"on": "2026-03-01"}).json()
        assert m["configurations"] == 5 and [o["name"] for o in m["options"]] == ["color", "bulb"]
        assert m["rule_list"] == [{"name": "blue-is-led", "kind": "requires", "variables": ["color", "bulb"]}]
        r = c.get(f"{BASE}/models/lamp", params={"on": "2025-12-31"})
        assert r.status_code == 422 and "no version of model 'lamp' is in force on 2025-12-31" in r.json()["detail"][0]["msg"]
        assert c.get(f"{BASE}/models/nope").status_code == 404
        s = start(c, model="lamp", choices={"color": "blue"})
        assert next(v for v in s["variables"] if v["name"] == "bulb")["valid"] == ["led"]


def test_sessions_are_bounded_and_unknown_ones_are_404(make):
    with make(max_sessions=2) as c:
        a, b = start(c, model="bicycle"), start(c, model="bicycle")
        assert c.get(f"{BASE}/sessions/{a['id']}").status_code == 200  # a is now the most recently used
        start(c, model="bicycle")  # the third drops the least recently used: b
        r = c.get(f"{BASE}/sessions/{b['id']}")
        assert r.status_code == 404 and "start a new session" in r.json()["hint"]
        assert c.get(f"{BASE}/sessions/{a['id']}").status_code == 200
        assert c.delete(f"{BASE}/sessions/{a['id']}", headers=CAP).status_code == 204
        assert c.get(f"{BASE}/sessions/{a['id']}").status_code == 404
        r = c.post(f"{BASE}/sessions", json={"model": "bicycle", "choices": {"frame": "titanium"}}, headers=CAP)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["choices", "frame"]
        assert c.post(f"{BASE}/sessions", json={"model": "unicycle"}, headers=CAP).status_code == 404


def test_the_page_is_public_and_its_data_needs_a_key(make):
    with make() as c:
        anon = TestClient(c.app)
        page = anon.get(f"{BASE}/configure")
        assert page.status_code == 200 and "/v1/configurator" in page.text and "X-API-Key" in page.text
        assert anon.get(f"{BASE}/models").status_code == 401
        assert anon.post(f"{BASE}/sessions", json={"model": "bicycle"}).status_code == 401
