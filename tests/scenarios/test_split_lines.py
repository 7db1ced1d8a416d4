"""Split promises beyond the old cap of 8 schedule lines (issue 13), through the HTTP API and
through rescheduling.

Supply: A at DC1, nothing on hand, 2 arriving on each of days 1..12 (24 in all).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from promessa_testing import day

from promessa.config import Role, settings_of
from server import create_app

PLAN = {"X-API-Key": "plan"}
CAP = {"X-API-Key": "cap"}
TWELVE = [(day(d).isoformat(), 2.0) for d in range(1, 13)]


@pytest.fixture
def client(make_snapshot, tmp_path):
    snap = make_snapshot(supply=[("A", "DC1", d, 2) for d in range(1, 13)], horizon=30)
    settings = settings_of(db=str(tmp_path / "b.sqlite"), approval_value_threshold=None,
                           api_keys={"plan": Role.PLANNER, "cap": Role.ORDER_CAPTURE})
    with TestClient(create_app(settings, snapshot=snap)) as c:
        yield c


def order(c, policy):
    return c.post("/v1/orders", headers=CAP, json={"customer": "C1", "policy": policy, "lines": [
        {"item": "A", "qty": 24, "requested_date": day(0).isoformat(), "location": "DC1"}]})


def schedule(c, oid):
    line = c.get(f"/v1/orders/{oid}", headers=PLAN).json()["lines"][0]
    return [(s["date"], s["qty"]) for s in line["schedule"]]


def test_an_order_line_split_into_twelve_schedule_lines(client):
    """24 asked on day 0, split in at most 12 lines: 2 on each of days 1..12."""
    r = order(client, {"allow_split": True, "max_lines": 12})
    assert r.status_code == 201, r.text
    assert schedule(client, r.json()["order_id"]) == TWELVE


def test_too_many_schedule_lines_is_a_422_naming_the_field(client):
    r = order(client, {"allow_split": True, "max_lines": 1001})
    assert r.status_code == 422
    assert "max_lines" in r.text and "1001" in r.text
    assert client.get("/v1/orders", headers=PLAN).json()["total"] == 0  # nothing captured


def test_rescheduling_splits_a_line_into_twelve(client):
    """Captured without split, the 24 wait for the last receipt: 24 on day 12. Rescheduled with
    split allowed in up to 12 lines, the line ships 2 on each of days 1..12 (improved: as much by
    every date, more by day 1..11), and apply writes the twelve schedule lines."""
    oid = order(client, {"allow_split": False}).json()["order_id"]
    assert schedule(client, oid) == [(day(12).isoformat(), 24.0)]
    cfg = {"allow_split": True, "max_lines": 12}
    r = client.post("/v1/backlog/reschedule", headers=PLAN, json={"config": cfg})
    assert r.status_code == 200, r.text
    [line] = r.json()["lines"]
    assert (line["schedule_lines"], line["change"], line["new_first_date"]) == (12, "improved", day(1).isoformat())
    r = client.post("/v1/backlog/reschedule", headers=PLAN, json={"config": cfg, "mode": "apply"})
    assert r.status_code == 200, r.text
    assert schedule(client, oid) == TWELVE
    r = client.post("/v1/backlog/reschedule", headers=PLAN, json={"config": {"max_lines": 1001}})
    assert r.status_code == 422 and "max_lines" in r.text and "1001" in r.text
