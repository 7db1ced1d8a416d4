"""HTTP: backlog rescheduling, what-if runs and jobs on the real app (api/routes/scenarios.py).

Supply: A at DC1, 10 on hand and 10 arriving on day 10. C1 (priority 3) and C2 (priority 1) each
ordered 8 for day 2, C1 first: C1 got 8 on day 2, C2 got 2 on day 2 and 6 on day 10. Rescheduling
by priority improves C2 and worsens C1.
"""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from promessa_testing import day

from orderbook.schemas import OrderCreate
from promessa.config import Role, settings_of
from server import create_app

PLAN = {"X-API-Key": "plan"}


@pytest.fixture
def client(make_snapshot, tmp_path):
    snap = make_snapshot(supply=[("A", "DC1", 0, 10), ("A", "DC1", 10, 10)], horizon=30)
    settings = settings_of(db=str(tmp_path / "b.sqlite"), approval_value_threshold=None,
                           api_keys={"plan": Role.PLANNER, "cap": Role.ORDER_CAPTURE, "view": Role.VIEWER})
    with TestClient(create_app(settings, snapshot=snap), headers=PLAN) as c:
        svc = c.app.state.engine.service
        for cust, prio in (("C1", 3), ("C2", 1)):
            svc.capture(OrderCreate.model_validate({"customer": cust, "priority": prio, "lines": [
                {"item": "A", "qty": 8, "requested_date": day(2).isoformat(), "location": "DC1"}]}), actor="t")
        yield c, svc


def test_simulate_answers_per_line_changes(client):
    c, svc = client
    r = c.post("/v1/backlog/reschedule", json={"config": {"within": "fcfs"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["counts"]["improved"] == 1 and body["counts"]["worsened"] == 1
    assert c.get(f"/v1/jobs/{body['job_id']}").json()["status"] == "done"


def test_simulations_and_runs_need_a_key_and_a_planner(client):
    c, _ = client
    anon = TestClient(c.app)
    for path, body in (("/v1/backlog/reschedule", {}), ("/v1/scenarios", {"scenarios": [{"name": "x"}]})):
        assert anon.post(path, json=body).status_code == 401
        assert c.post(path, json=body, headers={"X-API-Key": "view"}).status_code == 403
        assert c.post(path, json=body, headers={"X-API-Key": "cap"}).status_code == 403
    job = c.post("/v1/backlog/reschedule", json={}).json()["job_id"]
    assert anon.get(f"/v1/jobs/{job}").status_code == 401
    assert c.get(f"/v1/jobs/{job}", headers={"X-API-Key": "view"}).json()["status"] == "done"  # a viewer reads jobs


def test_apply_needs_a_planner_and_commits(client):
    c, svc = client
    assert TestClient(c.app).post("/v1/backlog/reschedule", json={"mode": "apply"}).status_code == 401
    assert c.post("/v1/backlog/reschedule", json={"mode": "apply"}, headers={"X-API-Key": "cap"}).status_code == 403
    r = c.post("/v1/backlog/reschedule", json={"mode": "apply"}, headers={**PLAN, "Idempotency-Key": "k1"})
    assert r.status_code == 200, r.text
    assert r.json()["applied"]["lines_changed"] == 2
    again = c.post("/v1/backlog/reschedule", json={"mode": "apply"}, headers={**PLAN, "Idempotency-Key": "k1"})
    assert again.json()["idempotent_replayed"] is True
    # the orders list and read as captured ones do: the same promise record, through the same routes
    orders = c.get("/v1/orders", headers={"X-API-Key": "view"})
    assert orders.status_code == 200, orders.text
    by_customer = {o["customer"]: o for o in orders.json()["data"]}
    c2 = c.get(f"/v1/orders/{by_customer['C2']['order_id']}", headers={"X-API-Key": "view"}).json()
    assert c2["lines"][0]["schedule"] == [{"date": day(2).isoformat(), "qty": 8.0, "shipped_qty": 0.0}]
    assert c2["lines"][0]["promise"]["promised_qty"] == 8.0 and c2["version"] == 2
    trail = c.get(f"/v1/orders/{c2['order_id']}/audit", headers={"X-API-Key": "view"}).json()["data"]
    assert trail[-1]["action"] == "reschedule" and trail[-1]["actor"].startswith("planner:")
    # the same promise record as capture gives (the same keys, pegged to supply)
    fresh = c.post("/v1/orders", headers={"X-API-Key": "cap"}, json={"customer": "C3", "lines": [
        {"item": "A", "qty": 1, "requested_date": day(12).isoformat(), "location": "DC1"}]})
    assert fresh.status_code == 201, fresh.text
    assert set(c2["lines"][0]["promise"]) == set(fresh.json()["lines"][0]["promise"])
    assert c2["lines"][0]["promise"]["pegs"] and c2["lines"][0]["promise"]["committed"] is True
    found = c.get("/v1/orders", params={"item": "A", "status": "scheduled"}, headers={"X-API-Key": "view"})
    assert found.status_code == 200 and c2["order_id"] in {o["order_id"] for o in found.json()["data"]}


def test_scenarios_in_the_background_with_progress_and_report(client):
    c, svc = client
    r = c.post("/v1/scenarios", json={"background": True, "scenarios": [
        {"name": "late", "changes": [{"type": "delay_receipts", "days": 5}]},
        {"name": "cut", "changes": [{"type": "cut_receipts", "keep": 0.5}]}]})
    assert r.status_code == 202, r.text
    url = r.json()["status_url"]
    for _ in range(200):
        job = c.get(url).json()
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert job["status"] == "done", job
    assert job["progress"] == 1.0
    assert [s["name"] for s in job["result"]["scenarios"]] == ["late", "cut"]
    html = c.get(f"/v1/jobs/{job['id']}/report")
    assert html.status_code == 200 and "data:image/png;base64," in html.text


def _one_shape(r) -> list[dict]:
    """The 422 answer: detail is a list of {type, loc, msg, input}."""
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, list) and detail
    assert all({"type", "loc", "msg", "input"} <= set(d) and isinstance(d["loc"], list) for d in detail), detail
    return detail


def test_bad_scenario_is_refused_naming_the_field(client):
    c, _ = client
    d = _one_shape(c.post("/v1/scenarios", json={"scenarios": [{"name": "x", "changes": [{"type": "delay_receipts"}]}]}))
    assert d[0]["loc"][:2] == ["body", "scenarios"]
    d = _one_shape(c.post("/v1/scenarios", json={"scenarios": [
        {"name": "x", "changes": [{"type": "cut_receipts", "keep": 0, "item": ["NOPE"]}]}]}))
    assert "unknown item" in d[0]["msg"] and "NOPE" in str(d[0]["input"])
    assert c.get("/v1/jobs/0123abcd").status_code == 404
    assert c.get("/v1/jobs/nope").status_code == 422  # not a job id at all


def test_scenario_file_errors_in_the_one_shape(client):
    c, _ = client
    d = _one_shape(c.post("/v1/scenarios/file", content=b"name: [unclosed", headers={"Content-Type": "application/yaml"}))
    assert d[0]["loc"] == ["body"] and d[0]["type"] == "yaml_invalid"
    d = _one_shape(c.post("/v1/scenarios/file", content=b"", headers={"Content-Type": "application/yaml"}))
    assert d[0]["loc"] == ["body"] and d[0]["type"] == "missing"
    d = _one_shape(c.post("/v1/scenarios/file", content=b"name: x\nchanges: [{type: nope}]\n",
                          headers={"Content-Type": "application/yaml"}))
    assert d[0]["loc"][0] == "body"
    d = _one_shape(c.post("/v1/scenarios/file", content=b"scenarios: [{name: a}]\nreschedule: {within: chaos}\n"))
    assert d[0]["loc"] == ["body", "reschedule", "within"] and d[0]["input"] == "chaos"
    for body in (b"", b"{not json"):  # the JSON routes: empty and unparsable bodies
        d = _one_shape(c.post("/v1/scenarios", content=body, headers={"Content-Type": "application/json"}))
        assert d[0]["loc"][0] == "body"
        d = _one_shape(c.post("/v1/backlog/reschedule", content=body, headers={"Content-Type": "application/json"}))
        assert d[0]["loc"][0] == "body"


def test_demo_mode_on_the_real_server(make_snapshot, tmp_path):
    """Demo mode (loopback): a request without a key acts as the demo admin, so it may apply."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 10)], horizon=30)
    settings = settings_of(db=str(tmp_path / "s.sqlite"), demo=True, approval_value_threshold=None)
    with TestClient(create_app(settings, snapshot=snap), client=("127.0.0.1", 50000)) as c:
        r = c.post("/v1/orders", json={"customer": "C1", "lines": [{"item": "A", "qty": 4, "requested_date": day(2).isoformat(),
                                                                    "location": "DC1"}]})
        assert r.status_code == 201, r.text
        r = c.post("/v1/backlog/reschedule", json={"mode": "apply"})  # demo mode: no key needed
        assert r.status_code == 200, r.text
        assert r.json()["counts"]["lines"] == 1
        r = c.post("/v1/scenarios", json={"scenarios": [{"name": "cut", "changes": [{"type": "cut_receipts", "keep": 0,
                                                                                     "kind": ["onhand"]}]}]})
        assert r.status_code == 200, r.text
        assert r.json()["scenarios"][0]["kpis"]["fill_rate"] == 0.0


def test_scenario_file_as_yaml_body(client):
    c, _ = client
    body = "scenarios:\n  - name: late\n    changes:\n      - {type: delay_receipts, days: 5}\n"
    r = c.post("/v1/scenarios/file", content=body, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text
    assert r.json()["scenarios"][0]["name"] == "late"
    bad = c.post("/v1/scenarios/file", content="name: x\nchanges: [{type: nope}]\n", headers={"Content-Type": "application/yaml"})
    assert bad.status_code == 422


def test_scenario_file_list_and_run_config(client):
    c, _ = client
    r = c.post("/v1/scenarios/file", content='[{"name": "a"}, {"name": "b"}]', headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and [s["name"] for s in r.json()["scenarios"]] == ["a", "b"]
    r = c.post("/v1/scenarios/file", content="scenarios: [{name: a}]\nreschedule: {within: fair_share}\n")
    assert r.status_code == 200, r.text


def test_a_scenario_with_its_own_rescheduling_rules(client):
    """Regression (found by fuzzing the mounted router): per-scenario rules were left as dicts."""
    c, svc = client
    r = c.post("/v1/scenarios", json={"scenarios": [{
        "name": "key first", "changes": [{"type": "delay_receipts", "days": 3}],
        "reschedule": {"rules": [{"strategy": "win", "customer": ["C2"]}], "within": "fair_share"}}]})
    assert r.status_code == 200, r.text
    assert [s["name"] for s in r.json()["scenarios"]] == ["key first"]
