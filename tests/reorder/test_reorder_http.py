"""HTTP: a reorder proposal proposed, reviewed, released and promised against (api/routes/reorder.py).

The story of tests/reorder/test_reorder.py over HTTP: A at DC1 has 36 on hand, the business clock
says day 5, customers ordered 2, 4, 6, 4, 4 for days 1..5. With a 4-day lead time, a 5-day window,
z = 1 and 5 days of cover, ROP = 16 + 2 sqrt(2) = 18.83, the position on day 9 is 16, and the run
proposes 23 for day 9. Before the release an order of 30 for day 9 can have only 16; after it, 39
are there and it is promised in full on day 9. Releasing twice adds the 23 once.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest
from fastapi.testclient import TestClient
from promessa_testing import day

from promessa.config import Role, settings_of
from server import create_app

PLAN = {"X-API-Key": "plan"}
VIEW = {"X-API-Key": "view"}
CAP = {"X-API-Key": "cap"}


def _settings(tmp_path):
    return settings_of(db=str(tmp_path / "b.sqlite"), approval_value_threshold=None, business_date=day(5), window_days=5,
                       cover_days=5, service_level=NormalDist().cdf(1.0),
                       api_keys={"plan": Role.PLANNER, "cap": Role.ORDER_CAPTURE, "view": Role.VIEWER})


@pytest.fixture
def snap(make_snapshot):
    return make_snapshot(supply=[("A", "DC1", 0, 36)], horizon=30)


@pytest.fixture
def client(snap, tmp_path):
    with TestClient(create_app(_settings(tmp_path), snapshot=snap), headers=PLAN) as c:
        for k, q in enumerate((2, 4, 6, 4, 4), start=1):
            r = c.post("/v1/orders", json={"customer": f"C{k}", "lines": [
                {"item": "A", "qty": q, "requested_date": day(k).isoformat(), "location": "DC1"}]})
            assert r.status_code == 201, r.text
        r = c.post("/v1/reorder/policies", json={"policies": [{"item": "A", "location": "DC1", "lead_time_days": 4}]})
        assert r.status_code == 200, r.text
        yield c


def _available(c, qty, on):
    r = c.post("/v1/availability", json={"lines": [{"item": "A", "qty": qty, "requested_date": on.isoformat(),
                                                    "location": "DC1"}]}, headers=VIEW)
    assert r.status_code == 200, r.text
    return r.json()["lines"][0]


def test_a_released_proposal_is_promised_against(client, snap, tmp_path):
    c = client
    rep = c.get("/v1/reorder/report", headers=VIEW).json()
    (ln,) = rep["lines"]
    assert rep["business_day"] == day(5).isoformat()
    assert ln["demand_mean"] == 4 and ln["demand_sigma"] == pytest.approx(math.sqrt(2), abs=1e-6)
    assert ln["reorder_point"] == pytest.approx(16 + 2 * math.sqrt(2), abs=1e-6)
    assert (ln["position"], ln["proposed_qty"], ln["receipt_date"]) == (16, 23, day(9).isoformat())
    assert _available(c, 30, day(9))["promised_qty"] == 16  # short before the release

    run = c.post("/v1/reorder/runs", json={})
    assert run.status_code == 200, run.text
    (pid,) = run.json()["created"]
    assert c.post("/v1/reorder/runs").json()["created"] == []  # the open proposal is kept, not made twice
    p = c.get(f"/v1/reorder/proposals/{pid}", headers=VIEW).json()
    assert (p["status"], p["qty"], p["receipt_date"], p["figures"]["position"]) == ("proposed", 23, day(9).isoformat(), 16)

    r1 = c.post(f"/v1/reorder/proposals/{pid}/release")
    assert r1.status_code == 200, r1.text
    assert r1.json()["status"] == "released" and r1.json()["replayed"] is False
    r2 = c.post(f"/v1/reorder/proposals/{pid}/release")
    assert r2.status_code == 200 and r2.json()["replayed"] is True and r2.json()["released"] == r1.json()["released"]
    atp = {row["date"]: row for row in c.get("/v1/atp/A/DC1", headers=VIEW).json()["rows"]}
    assert atp[day(9).isoformat()]["supply"] == 23  # once, not twice
    assert atp[day(9).isoformat()]["available"] == 16 + 23

    order = c.post("/v1/orders", json={"customer": "BIG", "lines": [
        {"item": "A", "qty": 30, "requested_date": day(9).isoformat(), "location": "DC1"}]}, headers=CAP)
    assert order.status_code == 201, order.text
    (line,) = order.json()["lines"]
    assert line["promised_qty"] == 30 and [(s["date"], s["qty"]) for s in line["schedule"]] == [(day(9).isoformat(), 30)]

    # durable: a restart replays the receipt and the promise; the proposal stays released
    with TestClient(create_app(_settings(tmp_path), snapshot=snap), headers=PLAN) as again:
        assert _available(again, 9, day(9))["promised_qty"] == 9  # 39 - 30 left
        assert again.get(f"/v1/reorder/proposals/{pid}").json()["status"] == "released"
        assert again.post(f"/v1/reorder/proposals/{pid}/release").json()["replayed"] is True
        assert len(again.get("/v1/reorder/proposals", params={"status": "released"}).json()["proposals"]) == 1


def test_review_edit_reject_and_refusals(client):
    c = client
    (pid,) = c.post("/v1/reorder/runs", json={"items": ["A"]}).json()["created"]
    r = c.patch(f"/v1/reorder/proposals/{pid}", json={"qty": 25})
    assert r.status_code == 200 and r.json()["qty"] == 25 and r.json()["proposed_qty"] == 23
    bad = c.patch(f"/v1/reorder/proposals/{pid}", json={"qty": -3})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "qty"
    assert c.get(f"/v1/reorder/proposals/{pid}").json()["qty"] == 25  # nothing changed
    assert c.post(f"/v1/reorder/proposals/{pid}/reject", json={"note": "supplier closed"}).json()["status"] == "rejected"
    assert c.post(f"/v1/reorder/proposals/{pid}/release").status_code == 409
    assert c.patch(f"/v1/reorder/proposals/{pid}", json={"qty": 3}).status_code == 409
    assert c.get("/v1/reorder/proposals/RO-999999").status_code == 404
    r = c.post("/v1/reorder/policies", json={"policies": [{"item": "NOPE", "location": "DC1"}]})
    assert r.status_code == 422 and r.json()["detail"][0]["input"] == "NOPE"
    r = c.post("/v1/reorder/policies", json={"policies": [{"item": "A", "location": "DC1", "method": "minmax", "min_qty": 5}]})
    assert r.status_code == 422 and "max_qty" in str(r.json()["detail"][0]["loc"])
    assert c.get("/v1/reorder/policies").json()["overrides"][0]["policy"]["lead_time_days"] == 4  # unchanged
    r = c.get("/v1/reorder/report", params={"item": "NOPE"})
    assert r.status_code == 422 and r.json()["detail"][0]["input"] == "NOPE"


def test_viewers_read_planners_write(client):
    c = client
    anon = TestClient(c.app)
    assert anon.get("/v1/reorder/report").status_code == 401
    assert c.get("/v1/reorder/report", headers=VIEW).status_code == 200
    assert c.get("/v1/reorder/proposals", headers=CAP).status_code == 403
    for path in ("/v1/reorder/runs", "/v1/reorder/proposals/RO-000001/release"):
        assert c.post(path, headers=VIEW).status_code == 403
        assert c.post(path, headers=CAP).status_code == 403
    assert c.get("/v1/reorder/proposals", headers=VIEW).json()["proposals"] == []  # nothing was proposed
