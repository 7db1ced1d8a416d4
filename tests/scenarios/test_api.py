"""HTTP: the scenarios router on a small app (the lead mounts it into server.py)."""

from __future__ import annotations

import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from promessa_testing import day

from orderbook.schemas import OrderCreate
from orderbook.service import OrderService
from promessa.config import Role, Settings, settings_of
from orderbook.store import open_store
from scenarios import api


@pytest.fixture
def client(make_snapshot, tmp_path):
    snap = make_snapshot(supply=[("A", "DC1", 0, 10), ("A", "DC1", 10, 10)], horizon=30)
    store = open_store(str(tmp_path / "b.sqlite"))
    settings = settings_of(approval_value_threshold=None, api_keys={"plan": Role.PLANNER, "cap": Role.ORDER_CAPTURE})
    svc = OrderService(snap, store, settings)
    for cust, prio in (("C1", 3), ("C2", 1)):
        svc.capture(OrderCreate.model_validate({"customer": cust, "priority": prio, "lines": [
            {"item": "A", "qty": 8, "requested_date": day(2).isoformat(), "location": "DC1"}]}), actor="t")
    app = FastAPI()
    app.state.service = svc
    app.state.settings = settings
    app.include_router(api.router)
    with TestClient(app) as c:
        yield c, svc
    getattr(svc, "close", lambda: None)()
    store.close()


def test_simulate_answers_per_line_changes(client):
    c, svc = client
    r = c.post("/v1/backlog/reschedule", json={"config": {"within": "fcfs"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["counts"]["improved"] == 1 and body["counts"]["worsened"] == 1
    assert c.get(f"/v1/jobs/{body['job_id']}").json()["status"] == "done"


def test_apply_needs_a_planner_and_commits(client):
    c, svc = client
    assert c.post("/v1/backlog/reschedule", json={"mode": "apply"}).status_code == 401
    assert c.post("/v1/backlog/reschedule", json={"mode": "apply"}, headers={"X-API-Key": "cap"}).status_code == 403
    r = c.post("/v1/backlog/reschedule", json={"mode": "apply"}, headers={"X-API-Key": "plan", "Idempotency-Key": "k1"})
    assert r.status_code == 200, r.text
    assert r.json()["applied"]["lines_changed"] == 2
    again = c.post("/v1/backlog/reschedule", json={"mode": "apply"}, headers={"X-API-Key": "plan", "Idempotency-Key": "k1"})
    assert again.json()["idempotent_replayed"] is True


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


def test_bad_scenario_is_refused_naming_the_field(client):
    c, _ = client
    r = c.post("/v1/scenarios", json={"scenarios": [{"name": "x", "changes": [{"type": "delay_receipts"}]}]})
    assert r.status_code == 422
    r = c.post("/v1/scenarios", json={"scenarios": [{"name": "x", "changes": [{"type": "cut_receipts", "keep": 0, "item": ["NOPE"]}]}]})
    assert r.status_code == 422 and "unknown item" in r.json()["detail"]
    assert c.get("/v1/jobs/nope").status_code == 404


def test_router_mounts_on_the_real_server(make_snapshot, tmp_path):
    """What the lead wires: server.create_app(...) plus app.include_router(scenarios.api.router)."""
    server = pytest.importorskip("server")
    snap = make_snapshot(supply=[("A", "DC1", 0, 10)], horizon=30)
    settings = settings_of(db=str(tmp_path / "s.sqlite"), demo=True, approval_value_threshold=None)
    app = server.create_app(settings, snapshot=snap)
    app.include_router(api.router)
    with TestClient(app) as c:
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
