"""What a change, a cancel and an import do to an order's node, status, timestamps and answer (issue 20's list).

Supply (conftest.py): WIDGET 100 on hand at DC-EAST (+50 on Jan 15), 20 at DC-WEST; zone EAST sources DC-EAST
first, DC-WEST second (3 days' transit).
"""

from __future__ import annotations

import datetime as dt

CAP = {"X-API-Key": "cap-key"}
PLAN = {"X-API-Key": "plan-key"}
SHIP = {"X-API-Key": "ship-key"}
D1 = "2026-01-06"


def _order(client, qty, **kw):
    r = client.post("/v1/orders", json={"customer": "ACME", "zone": "EAST",
                                        "lines": [{"item": "WIDGET", "qty": qty, "requested_date": D1, **kw}]}, headers=CAP)
    assert r.status_code == 201, r.text
    return r.json()


def test_a_quantity_change_keeps_the_node_and_a_move_is_in_the_audit(client):
    o = _order(client, 10)
    oid = o["order_id"]
    assert o["lines"][0]["location"] == "DC-EAST"
    _order(client, 140)  # every other WIDGET unit at DC-EAST (100 + 50 - 10)
    # 12 at DC-EAST: its own 10 back, nothing more there; DC-WEST has 20. The line stays where it ships from.
    r = client.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 1, "qty": 12}]}, headers=CAP)
    assert r.status_code == 200, r.text
    ln = r.json()["lines"][0]
    assert ln["location"] == "DC-EAST" and ln["promised_qty"] == 10.0 and ln["backordered_qty"] == 2.0
    trail = client.get(f"/v1/orders/{oid}/audit", headers=CAP).json()["data"]
    assert "moved" not in (trail[-1]["detail"] or {})
    # asked to ship from DC-WEST: it moves, and the audit says from where to where
    r = client.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 1, "location": "DC-WEST"}]}, headers=CAP)
    assert r.status_code == 200, r.text
    assert r.json()["lines"][0]["location"] == "DC-WEST" and r.json()["lines"][0]["promised_qty"] == 12.0
    trail = client.get(f"/v1/orders/{oid}/audit", headers=CAP).json()["data"]
    assert trail[-1]["action"] == "change" and trail[-1]["detail"]["moved"] == {"1": ["DC-EAST", "DC-WEST"]}


def test_cancelling_the_rest_of_a_delivered_order_leaves_it_delivered(client):
    oid = _order(client, 10)["order_id"]
    assert client.post(f"/v1/orders/{oid}/events", json={"type": "shipped", "lines": [{"line": 1, "qty": 4}]},
                       headers=SHIP).status_code == 200
    r = client.post(f"/v1/orders/{oid}/events", json={"type": "delivered"}, headers=SHIP)
    assert r.status_code == 200 and r.json()["status"] == "partially_shipped"
    r = client.post(f"/v1/orders/{oid}/cancel", json={"note": "rest not needed"}, headers=CAP)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "delivered" and r.json()["lines"][0]["qty"] == 4.0
    # shipped but not yet delivered: the rest cancelled leaves it shipped
    oid2 = _order(client, 10)["order_id"]
    client.post(f"/v1/orders/{oid2}/events", json={"type": "shipped", "lines": [{"line": 1, "qty": 3}]}, headers=SHIP)
    assert client.post(f"/v1/orders/{oid2}/cancel", json={}, headers=CAP).json()["status"] == "shipped"


def test_an_order_is_never_updated_before_it_was_created(client):
    o = _order(client, 1)
    assert dt.datetime.fromisoformat(o["created_at"]) <= dt.datetime.fromisoformat(o["updated_at"])


def test_an_import_where_every_row_fails_is_a_422_naming_each_row(client):
    rows = [{"order": "F-1", "line": 1, "item": "NOPE", "qty": 5, "requested_date": D1, "customer": "X", "zone": "EAST"},
            {"order": "F-2", "line": 1, "item": "WIDGET", "qty": -1, "requested_date": D1, "customer": "X", "zone": "EAST"}]
    r = client.post("/v1/imports", json={"source_system": "erp", "orders": rows}, headers=CAP)
    assert r.status_code == 422, r.text
    locs = [d["loc"] for d in r.json()["detail"]]
    assert ["body", "orders", 0, "item"] in locs and any(loc[:4] == ["body", "orders", 1, "qty"] for loc in locs)
    assert client.get("/v1/orders", params={"source_system": "erp"}, headers=CAP).json()["total"] == 0
    one_good = [*rows, {"order": "F-3", "line": 1, "item": "WIDGET", "qty": 1, "requested_date": D1, "customer": "X",
                        "zone": "EAST"}]
    r = client.post("/v1/imports", json={"source_system": "erp", "orders": one_good}, headers=CAP)
    assert r.status_code == 200 and r.json()["created"] == 1 and r.json()["errors"] == 2
