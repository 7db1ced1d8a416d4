"""Every endpoint and transition through HTTP, on SQLite and on the real PostgreSQL.

Supply story: see conftest.py (WIDGET 100 on hand + 50 on Jan 15 at DC-EAST, 20 at DC-WEST;
GADGET 5 at DC-EAST; approval threshold 2,500).
"""

from __future__ import annotations

import pytest

CAP = {"X-API-Key": "cap-key"}      # role order_capture (keys: conftest.KEYS)
PLAN = {"X-API-Key": "plan-key"}    # role planner
ADMIN = {"X-API-Key": "admin-key"}  # role admin
VIEW = {"X-API-Key": "view-key"}    # role viewer (the client fixture's default)

D1 = "2026-01-06"


def order(client, lines, *, zone="EAST", customer="ACME", headers=CAP, **kw):
    r = client.post("/v1/orders", json={"customer": customer, "zone": zone, "lines": lines, **kw}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def line(item="WIDGET", qty=10, date=D1, **kw):
    return {"item": item, "qty": qty, "requested_date": date, **kw}


def atp_at(client, item, loc, date):
    rows = client.get(f"/v1/atp/{item}/{loc}").json()["rows"]
    return next(r for r in rows if r["date"] == date)


def commitments(client):
    return {(c["item"], c["location"]): c for c in client.get("/v1/commitments").json()["by_item_location"]}


def test_capture_promises_commits_and_explains(client):
    o = order(client, [line(qty=30)])
    assert o["status"] == "scheduled" and o["version"] == 1
    ln = o["lines"][0]
    assert ln["location"] == "DC-EAST"
    assert ln["schedule"] == [{"date": D1, "qty": 30.0, "shipped_qty": 0.0}]
    p = ln["promise"]
    assert p["status"] == "full" and p["committed"] is True and p["pegs"][0]["ref"] == "OH-1"
    assert atp_at(client, "WIDGET", "DC-EAST", D1)["committed"] == 30.0
    got = client.get(f"/v1/orders/{o['order_id']}")
    assert got.status_code == 200 and got.json()["status"] == "scheduled"
    trail = client.get(f"/v1/orders/{o['order_id']}/audit").json()["data"]
    assert [(a["action"], a["from_status"], a["to_status"]) for a in trail] == [
        ("capture", None, "captured"), ("promise", "captured", "scheduled")]
    assert all(a["actor"].startswith("order_capture:") and a["at"] for a in trail)


def test_short_supply_is_backordered_and_late_supply_is_scheduled_late(client):
    o = order(client, [line("SCARCE", 50)], zone="EAST")  # 40 on hand
    ln = o["lines"][0]
    assert o["status"] == "backordered" and ln["promised_qty"] == 40.0 and ln["backordered_qty"] == 10.0
    assert ln["promise"]["status"] == "partial" and ln["promise"]["reason"] in ("supply", "horizon")
    late = order(client, [line(qty=120)], policy={"allow_partial": False})
    assert late["status"] == "scheduled"
    assert late["lines"][0]["promise"]["status"] == "late"
    assert late["lines"][0]["schedule"][0]["date"] == "2026-01-15"


def test_location_from_zone_and_from_the_line(client):
    west = order(client, [line(qty=5)], zone="WEST")
    assert west["lines"][0]["location"] == "DC-WEST"
    named = order(client, [line(qty=5, location="DC-WEST")], zone=None)
    assert named["lines"][0]["location"] == "DC-WEST" and named["lines"][0]["requested_location"] == "DC-WEST"
    # EAST is served by DC-EAST first, DC-WEST when DC-EAST cannot promise in full on time
    spill = order(client, [line(qty=140)], zone="EAST")
    assert spill["lines"][0]["location"] == "DC-EAST"  # 140 only late at DC-EAST, DC-WEST has 20: most units wins


def test_writes_need_a_key_and_the_right_role(client):
    from fastapi.testclient import TestClient

    anon = TestClient(client.app)  # the same running app, no key
    body = {"customer": "ACME", "zone": "EAST", "lines": [line()]}
    assert anon.post("/v1/orders", json=body).status_code == 401
    assert anon.post("/v1/orders", json=body, headers={"X-API-Key": "nope"}).status_code == 401
    assert client.post("/v1/orders", json=body, headers=VIEW).status_code == 403  # a viewer reads only
    o = order(client, [line("GADGET", 3)])  # 3,000 > 2,500: on hold
    assert o["status"] == "on_hold"
    assert client.post(f"/v1/orders/{o['order_id']}/approve", headers=CAP).status_code == 403
    assert client.post(f"/v1/orders/{o['order_id']}/events", json={"type": "shipped"}, headers=CAP).status_code == 403
    assert anon.get(f"/v1/orders/{o['order_id']}").status_code == 401  # reads need a key too
    assert client.get(f"/v1/orders/{o['order_id']}", headers=VIEW).status_code == 200


def test_demo_mode_accepts_writes_without_a_key(db, snap, make_settings):
    from fastapi.testclient import TestClient

    from server import create_app

    with TestClient(create_app(make_settings(db, demo=True), snapshot=snap), client=("127.0.0.1", 50000)) as c:
        r = c.post("/v1/orders", json={"customer": "ACME", "zone": "EAST", "lines": [line()]})
        assert r.status_code == 201 and r.json()["created_by"] == "demo"
        assert c.get("/v1/health").json()["demo"] is True


@pytest.mark.parametrize(
    ("mutate", "loc", "value"),
    [
        (lambda b: b["lines"][0].update(item="NOPE"), ["lines", 0, "item"], "NOPE"),
        (lambda b: b.update(zone="MARS"), ["zone"], "MARS"),
        (lambda b: b["lines"][0].update(location="DC-MOON"), ["lines", 0, "location"], "DC-MOON"),
        (lambda b: b["lines"][0].update(requested_date="2027-06-01"), ["lines", 0, "requested_date"], "2027-06-01"),
        (lambda b: b["lines"][0].update(requested_date="2025-12-31"), ["lines", 0, "requested_date"], "2025-12-31"),
        (lambda b: b.update(lines=[line()] * 11), ["lines"], 11),
        (lambda b: b.update(zone=None), ["lines", 0, "location"], None),
    ],
)
def test_domain_validation_names_the_field_and_the_value(client, mutate, loc, value):
    body = {"customer": "ACME", "zone": "EAST", "lines": [line()]}
    mutate(body)
    r = client.post("/v1/orders", json=body, headers=CAP)
    assert r.status_code == 422, r.text
    d = r.json()["detail"][0]
    assert d["loc"] == loc and d["input"] == value


@pytest.mark.parametrize("qty", [0, -3])
def test_quantity_must_be_positive(client, qty):
    r = client.post("/v1/orders", json={"customer": "A", "zone": "EAST", "lines": [line(qty=qty)]}, headers=CAP)
    assert r.status_code == 422
    d = r.json()["detail"][0]
    assert d["loc"] == ["body", "lines", 0, "qty"] and d["input"] == qty


def test_oversized_body_is_refused(client):
    body = {"customer": "ACME", "zone": "EAST", "lines": [line()], "ship_to": {"address": "x" * 400}}
    body["lines"] = [line()] * 1
    big = b'{"customer": "' + b"A" * (70 * 1024) + b'"}'
    r = client.post("/v1/orders", content=big, headers={**CAP, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body"]
    assert r.json()["detail"][0]["input"] == len(big)
    assert client.post("/v1/orders", json=body, headers=CAP).status_code == 201  # a normal body still works


def test_idempotency_same_key_same_answer_other_body_conflict(client):
    body = {"customer": "ACME", "zone": "EAST", "lines": [line(qty=7)]}
    h = {**CAP, "Idempotency-Key": "k-123"}
    a = client.post("/v1/orders", json=body, headers=h)
    b = client.post("/v1/orders", json=body, headers=h)
    assert a.status_code == b.status_code == 201
    assert a.json() == b.json() and b.headers.get("Idempotent-Replayed") == "true"
    assert client.get("/v1/orders", params={"customer": "ACME"}).json()["total"] == 1
    assert atp_at(client, "WIDGET", "DC-EAST", D1)["committed"] == 7.0  # committed once
    c = client.post("/v1/orders", json={**body, "lines": [line(qty=8)]}, headers=h)
    assert c.status_code == 409
    # the same key on another endpoint is another request too
    oid = a.json()["order_id"]
    assert client.post(f"/v1/orders/{oid}/cancel", headers=h).status_code == 409


def test_search_by_customer_item_status_and_dates(client):
    a = order(client, [line(qty=1)], customer="A")
    order(client, [line("GADGET", 1)], customer="B")
    order(client, [line(qty=1, date="2026-02-01")], customer="A")
    q = lambda **p: {o["order_id"] for o in client.get("/v1/orders", params=p).json()["data"]}  # noqa: E731
    assert len(q(customer="A")) == 2
    assert len(q(item="GADGET")) == 1
    assert len(q(status="scheduled")) == 3 and q(status="cancelled") == set()
    assert q(requested_to="2026-01-10") == {a["order_id"], *q(customer="B")}
    assert len(q(requested_from="2026-01-20")) == 1
    assert len(q(created_from="2020-01-01T00:00:00Z")) == 3
    page = client.get("/v1/orders", params={"limit": 2}).json()
    assert page["count"] == 2 and page["total"] == 3
    assert client.get("/v1/orders", params={"status": "bogus"}).status_code == 422
    assert client.get("/v1/orders/SO-nope").status_code == 404


def test_hold_on_value_then_approve(client):
    o = order(client, [line("GADGET", 3)])
    assert o["status"] == "on_hold" and "approval threshold" in o["hold_reasons"][0]
    assert atp_at(client, "GADGET", "DC-EAST", D1)["committed"] == 3.0  # a held order keeps its supply
    r = client.post(f"/v1/orders/{o['order_id']}/approve", json={"note": "ok by Ann"}, headers=PLAN)
    assert r.status_code == 200 and r.json()["status"] == "scheduled" and r.json()["approval"]["note"] == "ok by Ann"
    assert client.post(f"/v1/orders/{o['order_id']}/approve", headers=PLAN).status_code == 409  # not on hold any more
    trail = client.get(f"/v1/orders/{o['order_id']}/audit").json()["data"]
    assert [a["to_status"] for a in trail] == ["captured", "on_hold", "scheduled"]
    assert trail[-1]["actor"].startswith("planner:")


def test_hold_on_price_override_then_reject_releases_supply(client):
    o = order(client, [line(qty=10, unit_price=7.5)])
    assert o["status"] == "on_hold" and "price override" in o["hold_reasons"][0]
    assert o["lines"][0]["price_override"] is True
    assert atp_at(client, "WIDGET", "DC-EAST", D1)["committed"] == 10.0
    r = client.post(f"/v1/orders/{o['order_id']}/reject", headers=ADMIN)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert atp_at(client, "WIDGET", "DC-EAST", D1)["committed"] == 0.0
    same_price = order(client, [line(qty=1, unit_price=10)])
    assert same_price["status"] == "scheduled"


def test_change_quantity_and_date_releases_and_promises_again(client):
    o = order(client, [line(qty=30)])
    oid = o["order_id"]
    r = client.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 1, "qty": 12, "requested_date": "2026-01-20"}]},
                     headers=CAP)
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["version"] == 2 and c["status"] == "scheduled"
    assert c["lines"][0]["schedule"] == [{"date": "2026-01-20", "qty": 12.0, "shipped_qty": 0.0}]
    assert atp_at(client, "WIDGET", "DC-EAST", D1)["committed"] == 0.0
    assert atp_at(client, "WIDGET", "DC-EAST", "2026-01-20")["committed"] == 12.0
    # optimistic concurrency: a stale version is refused (412 Precondition Failed)
    stale = client.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 1, "qty": 1}]}, headers={**CAP, "If-Match": '"1"'})
    assert stale.status_code == 412
    trail = client.get(f"/v1/orders/{oid}/audit").json()["data"]
    assert trail[-1]["action"] == "change" and trail[-1]["detail"]["lines"] == [1]


def test_change_add_and_remove_lines_and_ship_to(client):
    o = order(client, [line(qty=5), line("GADGET", 1)])
    oid = o["order_id"]
    r = client.patch(f"/v1/orders/{oid}", json={"lines": [line("WIDGET", 4)], "remove_lines": [2]}, headers=CAP)
    assert r.status_code == 200, r.text
    assert [(x["line"], x["item"], x["qty"]) for x in r.json()["lines"]] == [(1, "WIDGET", 5.0), (3, "WIDGET", 4.0)]
    assert atp_at(client, "GADGET", "DC-EAST", D1)["committed"] == 0.0
    moved = client.patch(f"/v1/orders/{oid}", json={"ship_to": {"city": "Reno", "zone": "WEST"}}, headers=CAP).json()
    assert moved["zone"] == "WEST" and {x["location"] for x in moved["lines"]} == {"DC-WEST"}
    assert atp_at(client, "WIDGET", "DC-EAST", D1)["committed"] == 0.0
    assert atp_at(client, "WIDGET", "DC-WEST", D1)["committed"] == 9.0
    bad = client.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 9, "qty": 1}]}, headers=CAP)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["lines", 0, "line"]
    none_left = client.patch(f"/v1/orders/{oid}", json={"remove_lines": [1, 3]}, headers=CAP)
    assert none_left.status_code == 422
    assert client.get(f"/v1/orders/{oid}").json()["version"] == 3  # failed changes changed nothing


def test_partial_shipment_then_change_compensates_only_what_has_not_shipped(client):
    o = order(client, [line(qty=30)])
    oid = o["order_id"]
    r = client.post(f"/v1/orders/{oid}/events", json={"type": "shipped", "lines": [{"line": 1, "qty": 10}],
                                                      "at": "2026-01-05T10:00:00Z"}, headers=PLAN)
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["status"] == "partially_shipped" and s["lines"][0]["shipped_qty"] == 10.0
    # consumption moved to the ship date: 10 on Jan 5, 20 still reserved on Jan 6
    c = commitments(client)[("WIDGET", "DC-EAST")]
    assert c["by_date"] == {"2026-01-05": 10.0, "2026-01-06": 20.0}
    # change: 25 in all, later: only the 15 unshipped units are promised again
    r = client.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 1, "qty": 25, "requested_date": "2026-01-20"}]},
                     headers=CAP)
    assert r.status_code == 200, r.text
    ch = r.json()
    assert ch["status"] == "partially_shipped"
    assert ch["lines"][0]["schedule"] == [{"date": "2026-01-06", "qty": 10.0, "shipped_qty": 10.0},
                                          {"date": "2026-01-20", "qty": 15.0, "shipped_qty": 0.0}]
    assert commitments(client)[("WIDGET", "DC-EAST")]["by_date"] == {"2026-01-05": 10.0, "2026-01-20": 15.0}
    below = client.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 1, "qty": 5}]}, headers=CAP)
    assert below.status_code == 422 and below.json()["detail"][0]["input"] == 5
    assert client.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 1, "item": "GADGET"}]}, headers=CAP).status_code == 409
    # too much shipped is refused; the rest ships, then is delivered
    over = client.post(f"/v1/orders/{oid}/events", json={"type": "shipped", "lines": [{"line": 1, "qty": 16}]}, headers=PLAN)
    assert over.status_code == 409
    r = client.post(f"/v1/orders/{oid}/events", json={"type": "shipped", "at": "2026-01-20T08:00:00Z"}, headers=PLAN)
    assert r.json()["status"] == "shipped"
    assert commitments(client)[("WIDGET", "DC-EAST")]["by_date"] == {"2026-01-05": 10.0, "2026-01-20": 15.0}
    r = client.post(f"/v1/orders/{oid}/events", json={"type": "delivered", "lines": [{"line": 1, "qty": 20}]}, headers=PLAN)
    assert r.json()["status"] == "shipped" and r.json()["lines"][0]["delivered_qty"] == 20.0
    r = client.post(f"/v1/orders/{oid}/events", json={"type": "delivered"}, headers=PLAN)
    assert r.json()["status"] == "delivered"
    assert client.post(f"/v1/orders/{oid}/cancel", headers=CAP).status_code == 409
    assert client.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 1, "qty": 30}]}, headers=CAP).status_code == 409
    trail = client.get(f"/v1/orders/{oid}/audit").json()["data"]
    assert [a["action"] for a in trail] == ["capture", "promise", "ship", "change", "ship", "deliver", "deliver"]
    assert trail[-1]["to_status"] == "delivered" and trail[-1]["actor"].startswith("planner:")


def test_cancel_releases_and_cancel_of_partially_shipped_cancels_the_remainder(client):
    a = order(client, [line(qty=10)])
    r = client.post(f"/v1/orders/{a['order_id']}/cancel", json={"note": "customer called"}, headers=CAP)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert atp_at(client, "WIDGET", "DC-EAST", D1)["committed"] == 0.0
    assert client.post(f"/v1/orders/{a['order_id']}/cancel", headers=CAP).status_code == 409
    assert client.post(f"/v1/orders/{a['order_id']}/events", json={"type": "shipped"}, headers=PLAN).status_code == 409
    b = order(client, [line(qty=10)])
    client.post(f"/v1/orders/{b['order_id']}/events", json={"type": "shipped", "lines": [{"line": 1, "qty": 4}]}, headers=PLAN)
    r = client.post(f"/v1/orders/{b['order_id']}/cancel", headers=CAP)
    assert r.json()["status"] == "shipped" and r.json()["lines"][0]["qty"] == 4.0
    assert commitments(client)[("WIDGET", "DC-EAST")]["total"] == 4.0


def test_cannot_ship_an_order_on_hold(client):
    o = order(client, [line("GADGET", 3)])
    r = client.post(f"/v1/orders/{o['order_id']}/events", json={"type": "shipped"}, headers=PLAN)
    assert r.status_code == 409
    r = client.post(f"/v1/orders/{o['order_id']}/events", json={"type": "delivered"}, headers=PLAN)
    assert r.status_code == 409


def test_availability_inquiry_commits_nothing(client):
    r = client.post("/v1/availability", json={"lines": [line(qty=120, zone="EAST"), line("GADGET", 2, location="DC-EAST")]})
    assert r.status_code == 200
    a, b = r.json()["lines"]
    assert a["status"] == "late" and a["lines"] == [{"date": "2026-01-15", "qty": 120.0, "item": "WIDGET"}] and a["committed"] is False
    assert b["status"] == "full"
    assert client.get("/v1/commitments").json()["committed_total"] == 0.0
    bad = client.post("/v1/availability", json={"lines": [line("NOPE", 1, zone="EAST")]})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["lines", 0, "item"]
    assert client.post("/v1/availability", json={"lines": [line(qty=1)]}).status_code == 422  # no location, no zone


def test_atp_endpoint(client):
    order(client, [line(qty=30)])
    r = client.get("/v1/atp/WIDGET/DC-EAST", params={"end": "2026-01-16"})
    assert r.status_code == 200
    rows = {x["date"]: x for x in r.json()["rows"]}
    assert rows["2026-01-05"]["supply"] == 100.0 and rows["2026-01-15"]["supply"] == 50.0
    assert rows["2026-01-06"]["committed"] == 30.0 and rows["2026-01-05"]["available"] == 70.0
    assert client.get("/v1/atp/NOPE/DC-EAST").status_code == 422


def test_import_json_row_by_row_and_keyed_by_source(client):
    rows = [
        {"order": "E-1", "line": 1, "item": "WIDGET", "qty": 5, "requested_date": D1, "customer": "X", "zone": "EAST"},
        {"order": "E-1", "line": 2, "item": "WIDGET", "qty": 1, "requested_date": D1, "customer": "X", "zone": "EAST"},
        {"order": "E-2", "line": 1, "item": "NOPE", "qty": 5, "requested_date": D1, "customer": "Y", "zone": "EAST"},
        {"order": "E-2", "line": 2, "item": "WIDGET", "qty": 5, "requested_date": D1, "customer": "Y", "zone": "EAST"},
        {"order": "E-3", "line": 1, "item": "WIDGET", "qty": -1, "requested_date": D1, "customer": "Z", "zone": "EAST"},
        {"order": "E-4", "line": 1, "item": "WIDGET", "qty": 2, "requested_date": "2025-12-01", "customer": "Z",
         "zone": "EAST"},
    ]
    r = client.post("/v1/imports", json={"source_system": "erp", "orders": rows}, headers=CAP)
    assert r.status_code == 200, r.text
    res = r.json()
    assert (res["created"], res["duplicates"], res["errors"]) == (2, 0, 3)
    by = [x["result"] for x in res["results"]]
    assert by == ["created", "created", "error", "rejected", "error", "created"]
    assert res["results"][2]["errors"][0]["loc"] == ["orders", 2, "item"] and res["results"][2]["errors"][0]["input"] == "NOPE"
    assert res["results"][4]["errors"][0]["loc"][:3] == ["orders", 4, "qty"]
    again = client.post("/v1/imports", json={"source_system": "erp", "orders": rows[:2]}, headers=CAP).json()
    assert [x["result"] for x in again["results"]] == ["duplicate", "duplicate"]
    assert again["results"][0]["order_id"] == res["results"][0]["order_id"]
    other = client.post("/v1/imports", json={"source_system": "shop", "orders": rows[:2]}, headers=CAP).json()
    assert other["created"] == 1  # keyed by source system and source order id
    found = client.get("/v1/orders", params={"source_system": "erp"}).json()
    assert found["total"] == 2 and {o["source_order_id"] for o in found["data"]} == {"E-1", "E-4"}


def test_import_csv(client):
    csv_text = ("order,line,item,qty,requested_date,customer,demand_class,zone,priority,ship_set,created_at\n"
                "C-1,1,WIDGET,3,2026-01-07,Q,,EAST,,,\n"
                "C-1,2,GADGET,1,2026-01-07,Q,,EAST,,,\n"
                "C-2,1,WIDGET,abc,2026-01-07,Q,,EAST,,,\n")
    r = client.post("/v1/imports/csv", params={"source_system": "edi"}, content=csv_text.encode(),
                    headers={**CAP, "Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    res = r.json()
    assert [x["result"] for x in res["results"]] == ["created", "created", "error"]
    assert res["results"][2]["errors"][0]["input"] == "abc"
    bad = client.post("/v1/imports/csv", params={"source_system": "edi"}, content=b"\xff\xfe\x00",
                      headers={**CAP, "Content-Type": "text/csv"})
    assert bad.status_code == 422


def test_health_and_metrics(client):
    order(client, [line(qty=1)])
    h = client.get("/v1/health").json()
    assert h["status"] == "ok" and h["orders"] == 1 and h["journal_seq"] == 1
    m = client.get("/metrics")
    assert m.status_code == 200 and m.headers["content-type"].startswith("text/plain")
    text = m.text
    assert "# TYPE promessa_orders_captured_total counter" in text and "promessa_orders_captured_total 1" in text
    assert 'promessa_http_requests_total{method="POST",route="/v1/orders",status="201"} 1' in text
    assert "promessa_orders_scheduled 1" in text and "promessa_store_write_seconds_bucket" in text


def test_openapi_and_docs(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for p in ("/v1/orders", "/v1/orders/{order_id}", "/v1/orders/{order_id}/events", "/v1/availability",
              "/v1/imports", "/v1/atp/{item}/{location}", "/v1/health", "/v1/metrics", "/v1/livez"):
        assert p in paths
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/orders", b'{"customer":"\\ud800","zone":"EAST","lines":[{"item":"WIDGET","qty":1,"requested_date":"2026-01-06"}]}'),
        ("/v1/orders", b'{"customer":"A","zone":"EAST","lines":[{"item":"WIDGET","qty":NaN,"requested_date":"2026-01-06"}]}'),
        ("/v1/orders", b'{"customer":"A","zone":"EAST","lines":[{"item":"WIDGET","qty":Infinity,"requested_date":"2026-01-06"}]}'),
        ("/v1/orders", b'{"customer":"A","zone":"EAST","lines":[]}'),
        ("/v1/orders", b'not json'),
        ("/v1/imports", b'{"source_system":"x","orders":[{"order":"\\ud800","line":1,"item":"WIDGET","qty":1,"\\udc00":1}]}'),
    ],
)
def test_hostile_input_is_a_422_never_a_500(client, path, body):
    r = client.post(path, content=body, headers={**CAP, "Content-Type": "application/json"})
    assert r.status_code in (200, 422), r.text
    if path == "/v1/imports":  # its one row fails: nothing imported, a 422 naming the row
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][:3] == ["body", "orders", 0]


def test_timestamps_out_of_range_are_refused(client):
    r = client.get("/v1/orders", params={"created_from": "0001-01-01T00:00:00+14:00"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "created_from"]
    o = order(client, [line(qty=1)])
    r = client.post(f"/v1/orders/{o['order_id']}/events", json={"type": "shipped", "at": "2999-01-01T00:00:00Z"}, headers=PLAN)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["at"]


def test_journal_endpoint(client):
    o = order(client, [line(qty=3)])
    client.post(f"/v1/orders/{o['order_id']}/cancel", headers=CAP)
    j = client.get("/v1/journal").json()
    assert j["last_seq"] == 2 and [(e["seq"], e["kind"], e["qty"]) for e in j["data"]] == [(1, "commit", 3.0), (2, "release", 3.0)]
    assert client.get("/v1/journal", params={"since": 1}).json()["data"][0]["seq"] == 2


def test_change_moves_between_scheduled_backordered_and_on_hold(client):
    o = order(client, [line("SCARCE", 30)])
    oid = o["order_id"]
    assert o["status"] == "scheduled"
    r = client.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 1, "qty": 45}]}, headers=CAP).json()
    assert r["status"] == "backordered" and r["lines"][0]["promised_qty"] == 40.0  # 40 on hand
    r = client.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 1, "qty": 20}]}, headers=CAP).json()
    assert r["status"] == "scheduled" and r["lines"][0]["promised_qty"] == 20.0
    assert commitments(client)[("SCARCE", "DC-EAST")]["total"] == 20.0
    r = client.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 1, "unit_price": 0.5}]}, headers=CAP).json()
    assert r["status"] == "on_hold" and "price override" in r["hold_reasons"][0]
    r = client.post(f"/v1/orders/{oid}/approve", headers=ADMIN).json()
    assert r["status"] == "scheduled"
    # an approved price does not hold again; a new override does
    r = client.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 1, "requested_date": "2026-01-09"}]}, headers=CAP).json()
    assert r["status"] == "scheduled"
    r = client.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 1, "unit_price": 0.4}]}, headers=CAP).json()
    assert r["status"] == "on_hold"
    # a change while on hold that removes the reason releases the hold
    r = client.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 1, "unit_price": 1.0}]}, headers=CAP).json()
    assert r["status"] == "scheduled" and r["hold_reasons"] == []
    trail = [(a["action"], a["from_status"], a["to_status"]) for a in client.get(f"/v1/orders/{oid}/audit").json()["data"]]
    assert trail == [
        ("capture", None, "captured"), ("promise", "captured", "scheduled"), ("change", "scheduled", "backordered"),
        ("change", "backordered", "scheduled"), ("change", "scheduled", "on_hold"), ("approve", "on_hold", "scheduled"),
        ("change", "scheduled", "scheduled"), ("change", "scheduled", "on_hold"), ("change", "on_hold", "scheduled"),
    ]
