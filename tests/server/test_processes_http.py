"""Processes through HTTP: every order runs through its process on the order book's events, the outbox is published
by signed webhooks in the background, fulfilment systems answer with signed status updates.

The story (snapshot of tests/server/conftest.py: WIDGET, 100 on hand at DC-EAST on 2026-01-05):
- an order for 2 WIDGET is captured: its line starts ship-from-node, the promise completes `schedule`, and
  `release` sends a shipping request to the warehouse (wms);
- the warehouse reports `released`: the line waits at `pack`;
- the customer changes the quantity to 3 during shipping: the shipping request is cancelled (a
  `shipping.cancel` carrying the first request's id), scheduling repeats (the change re-promised the order)
  and `release` sends a NEW shipping request (another request id);
- the webhook receiver got shipping.request, shipping.cancel, shipping.request for the line, in that order.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from tests.server.conftest import ADMIN, CAP, PLAN, SHIP, VIEW, _make_settings

from orchestration import sign
from orchestration.testing import WebhookReceiver

D1 = "2026-01-06"
SECRET = "process-secret"


@pytest.fixture
def hooks():
    with WebhookReceiver(secret=SECRET.encode()) as r:
        yield r


@pytest.fixture
def pclient(tmp_path, snap, hooks):
    from fastapi.testclient import TestClient

    from server import create_app

    settings = _make_settings((str(tmp_path / "ob.sqlite"), "unused"), webhook_default_url=hooks.url,
                              webhook_secret=SECRET, relay_interval_s=0.05, tick_s=60.0)
    with TestClient(create_app(settings, snapshot=snap), headers=VIEW) as c:
        yield c


def hub_of(c):
    return c.app.state.engine.orchestration


def settle(c) -> None:
    """Wait until the processes applied every order event written so far."""
    assert hub_of(c).wait_idle(10.0)


def capture(c, qty: float = 2) -> str:
    r = c.post("/v1/orders", headers=CAP, json={"customer": "A", "zone": "EAST",
                                                "lines": [{"item": "WIDGET", "qty": qty, "requested_date": D1}]})
    assert r.status_code == 201, r.text
    settle(c)
    return r.json()["order_id"]


def inbound(c, body: dict, *, secret: str = SECRET, stamp: float | None = None):
    raw = json.dumps(body).encode()
    ts = f"{stamp if stamp is not None else time.time():.3f}"
    return c.post("/v1/processes/inbound", content=raw, headers={
        "Content-Type": "application/json", "X-Promessa-Timestamp": ts,
        "X-Promessa-Signature": sign(secret.encode(), ts, raw), "X-API-Key": ""})


def update(order: str, event: str, mid: str, *, system: str = "wms", line: str = "1") -> dict:
    return {"message_id": mid, "system": system, "event": event, "order": order, "line": line,
            "at": dt.datetime.now(dt.UTC).isoformat(), "payload": {}}


def procs(c, order: str) -> dict:
    r = c.get(f"/v1/orders/{order}/processes")
    assert r.status_code == 200, r.text
    return r.json()


def wait_for(pred, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def test_a_change_during_shipping_cancels_the_shipping_request_and_scheduling_repeats(pclient, hooks):
    c = pclient
    oid = capture(c)
    p = procs(c, oid)["processes"]
    assert [(x["line"], x["process"], x["version"], x["step"], x["system"]) for x in p] == [
        ("1", "ship-from-node", 1, "release", "wms")]
    assert [m["kind"] for m in p[0]["messages"]] == ["order.status", "shipping.request"]   # schedule completed; release asks

    r = inbound(c, update(oid, "released", "WMS-1"))
    assert r.status_code == 200 and r.json()["duplicate"] is False
    assert r.json()["processes"][0]["step"] == "pack"
    again = inbound(c, update(oid, "released", "WMS-1"))           # the same update again changes nothing
    assert again.status_code == 200 and again.json()["duplicate"] is True and again.json()["processes"] == []

    r = c.patch(f"/v1/orders/{oid}", headers=CAP, json={"lines": [{"line": 1, "qty": 3}]})
    assert r.status_code == 200, r.text
    settle(c)
    p = procs(c, oid)["processes"][0]
    assert p["step"] == "release" and p["status"] == "active"
    whats = [h.get("what") for h in p["history"] if h.get("step") in ("schedule", "release", "pack")]
    assert whats == ["started", "scheduled", "started", "released", "started", "compensated (shipping.cancel)",
                     "changed: back to schedule", "started", "scheduled", "started"]
    assert p["history"][-1]["step"] == "release"

    # the relay publishes in the background: request, cancel of that request, the new request (in order)
    wait_for(lambda: sum(1 for m in hooks.received if m["order"] == oid and m["kind"].startswith("shipping.")) == 3)
    ship = [m for m in hooks.received if m["order"] == oid and m["kind"].startswith("shipping.")]
    assert [m["kind"] for m in ship] == ["shipping.request", "shipping.cancel", "shipping.request"]
    assert ship[1]["payload"]["request_id"] == ship[0]["payload"]["request_id"]
    assert ship[1]["payload"]["reason"] == "change"
    assert ship[2]["payload"]["request_id"] != ship[0]["payload"]["request_id"]
    assert ship[2]["payload"]["attrs"]["qty"] == 3.0
    wait_for(lambda: all(m["published"] for m in procs(c, oid)["processes"][0]["messages"]))


def test_inbound_updates_need_a_valid_fresh_signature(pclient):
    c = pclient
    oid = capture(c)
    r = inbound(c, update(oid, "released", "WMS-2"), secret="wrong")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "X-Promessa-Signature"
    r = inbound(c, update(oid, "released", "WMS-3"), stamp=time.time() - 3600)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "X-Promessa-Timestamp"
    assert procs(c, oid)["processes"][0]["step"] == "release"      # nothing moved


def test_ship_and_deliver_through_the_order_book_drive_the_process_and_cancel_compensates(pclient, hooks):
    c = pclient
    oid = capture(c)
    for mid, ev in (("W-r", "released"), ("W-p", "packed")):
        assert inbound(c, update(oid, ev, mid)).status_code == 200
    assert c.post(f"/v1/orders/{oid}/events", headers=SHIP, json={"type": "shipped"}).status_code == 200
    settle(c)
    p = procs(c, oid)["processes"][0]
    assert p["step"] == "invoice" and p["system"] == "billing"
    assert inbound(c, update(oid, "invoiced", "B-1", system="billing")).status_code == 200
    assert c.post(f"/v1/orders/{oid}/events", headers=SHIP, json={"type": "delivered"}).status_code == 200
    settle(c)
    assert procs(c, oid)["processes"][0]["status"] == "completed"

    other = capture(c)
    assert c.post(f"/v1/orders/{other}/cancel", headers=CAP).status_code == 200
    settle(c)
    p = procs(c, other)["processes"][0]
    assert p["status"] == "cancelled"
    assert [m["kind"] for m in p["messages"]] == ["order.status", "shipping.request", "shipping.cancel"]


BAD = """process: ship-from-node
version: 2
steps:
  - name: schedule
    system: oms
    duration: 15m
    completion: {event: scheduled}
  - name: pack
    system: wms
    duration: 1h
"""

V2 = {"process": "ship-from-node", "version": 2, "report_to": "capture", "steps": [
    {"name": "schedule", "system": "oms", "duration": "15m", "completion": {"event": "scheduled"}},
    {"name": "approve", "system": "planner", "duration": "2h", "completion": {"manual": True}},
    {"name": "release", "system": "wms", "duration": "4h", "request": "shipping.request", "completion": {"event": "released"},
     "on_change": {"compensate": "shipping.cancel", "goto": "schedule"}},
    {"name": "deliver", "system": "carrier", "duration": "5d", "completion": {"event": "delivered"}}]}


def test_definitions_are_listed_validated_and_versioned_while_running_orders_keep_theirs(pclient):
    c = pclient
    listed = {p["name"]: p for p in c.get("/v1/processes").json()["processes"]}
    assert set(listed) == {"ship-from-node", "drop-ship", "internal-transfer", "back-to-back"}
    assert listed["ship-from-node"]["steps"] == ["schedule", "release", "pack", "ship", "invoice", "deliver"]
    one = c.get("/v1/processes/ship-from-node").json()
    assert one["version"] == 1 and one["steps"][1]["request"] == "shipping.request" and one["steps"][1]["duration_s"] == 4 * 3600

    old = capture(c)
    r = c.post("/v1/processes", headers={**PLAN, "Content-Type": "application/yaml"}, content=BAD)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-2:] == ["steps[1](pack)", "completion"]              # the step and the field
    assert c.post("/v1/processes", headers=SHIP, json=V2).status_code == 403          # fulfilment may not deploy
    r = c.post("/v1/processes", headers=PLAN, json=V2)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2 and [s["name"] for s in r.json()["steps"]] == ["schedule", "approve", "release", "deliver"]
    assert c.post("/v1/processes", headers=PLAN, json=V2).status_code == 409         # not above the deployed version

    new = capture(c)
    assert [(p["version"], p["step"]) for p in procs(c, old)["processes"]] == [(1, "release")]
    assert [(p["version"], p["step"]) for p in procs(c, new)["processes"]] == [(2, "approve")]
    r = c.post(f"/v1/orders/{new}/processes/steps/approve/complete", headers=PLAN, json={})
    assert r.status_code == 200, r.text
    p = r.json()["processes"][0]
    assert p["step"] == "release" and any(h.get("what") == "manual" and h.get("who", "").startswith("planner:") for h in p["history"])
    r = c.post(f"/v1/orders/{old}/processes/steps/release/complete", headers=PLAN, json={})
    assert r.status_code == 422                                                       # release completes on an event
    assert c.post(f"/v1/orders/{old}/processes/steps/approve/complete", headers=PLAN, json={}).status_code == 404
    assert c.get("/v1/orders/SO-nope/processes").status_code == 404


def test_documents_are_stored_with_a_checksum_and_every_view_and_download_is_audited(pclient):
    import hashlib

    c = pclient
    oid = capture(c)
    content = b"packing list: 2 x WIDGET\n"
    r = c.post(f"/v1/orders/{oid}/documents", headers={**SHIP, "Content-Type": "text/plain"}, content=content,
               params={"kind": "packing_list", "filename": "pl-1.txt", "step": "pack"})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["sha256"] == hashlib.sha256(content).hexdigest() and doc["size"] == len(content) and doc["step"] == "pack"
    assert doc["attached_by"].startswith("fulfillment:")
    r = c.post(f"/v1/orders/{oid}/documents", headers=SHIP, content=content, params={"kind": "selfie", "filename": "x"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "kind"

    assert [d["doc_id"] for d in c.get(f"/v1/orders/{oid}/documents").json()["documents"]] == [doc["doc_id"]]
    assert c.get(f"/v1/documents/{doc['doc_id']}", headers=PLAN).json()["filename"] == "pl-1.txt"
    got = c.get(f"/v1/documents/{doc['doc_id']}/content", headers=ADMIN)
    assert got.status_code == 200 and got.content == content and got.headers["x-content-sha256"] == doc["sha256"]
    trail = c.get(f"/v1/documents/{doc['doc_id']}/audit").json()["audit"]
    assert [(a["action"], a["who"].split(":")[0]) for a in trail] == [("attach", "fulfillment"), ("view", "planner"),
                                                                        ("download", "admin")]
    assert procs(c, oid)["documents"][0]["doc_id"] == doc["doc_id"]
    assert c.get("/v1/documents/nope").status_code == 404


def test_a_late_step_is_in_process_jeopardy_with_its_system_and_lateness(pclient):
    from orchestration.testing import ManualClock

    c = pclient
    oid = capture(c)
    hub = hub_of(c)
    later = ManualClock(dt.datetime.now(dt.UTC) + dt.timedelta(hours=5))   # release's expected duration is 4 h
    hub.engine.clock = later
    hub.tick()
    alerts = c.get("/v1/jeopardy/processes").json()["alerts"]
    mine = [a for a in alerts if a["order"] == oid]
    assert len(mine) == 1
    assert (mine[0]["step"], mine[0]["system"], mine[0]["reason"]) == ("release", "wms", "late")
    assert 3500 < mine[0]["late_s"] < 3700                                            # about one hour past 4 h
    p = procs(c, oid)
    assert p["late_steps"][0]["step"] == "release" and p["late_steps"][0]["late_s"] > 3500
    [inst] = p["processes"]
    due = dt.datetime.fromisoformat(inst["due_at"])
    assert due - dt.datetime.fromisoformat(inst["step_started_at"]) == dt.timedelta(hours=4)
    # the order's message log, once: the status after `schedule`, the shipping request `release` sent, the alert
    assert [(m["seq"] > 0, m["kind"], m["system"], m["step"]) for m in p["messages"]] == [
        (True, "order.status", "capture", "schedule"), (True, "shipping.request", "wms", "release"),
        (True, "jeopardy.alert", "planner", "release")]
    # every order's running processes: this one leads (the latest deadline), marked late; the log of every order
    running = c.get("/v1/process-instances").json()
    assert (running["processes"][0]["order"], running["processes"][0]["step"], running["late"]) == (oid, "release", 1)
    log = c.get("/v1/process-messages", params={"limit": 2}).json()["messages"]
    assert [(m["order"], m["kind"]) for m in log] == [(oid, "shipping.request"), (oid, "jeopardy.alert")]
    assert c.get("/v1/jeopardy/processes", params={"reason": "failed"}).json()["alerts"] == []


def test_order_type_and_ship_method_from_the_order_and_the_email_from_the_customer_master_drive_the_process(pclient):
    """POST /v1/orders carries order_type and ship_method; the customer master's contact gives the e-mail.
    ship-from-node's `pack` branches to `invoice` for pickup (no carrier step); an ordinary order goes on to `ship`;
    order_type transfer is assigned internal-transfer (assignment.yaml)."""
    c = pclient
    r = c.post("/v1/customers", headers=ADMIN, json={"id": "A", "name": "Acme Retail", "contacts": [
        {"name": "Night desk", "phone": "+1 555 0100"}, {"name": "Eve", "email": "eve@example.com"}]})
    assert r.status_code == 201, r.text

    def order(**header) -> str:
        r = c.post("/v1/orders", headers=CAP, json={"customer": "A", "zone": "EAST", **header,
                                                    "lines": [{"item": "WIDGET", "qty": 1, "requested_date": D1}]})
        assert r.status_code == 201, r.text
        assert {k: r.json()[k] for k in ("order_type", "ship_method")} == {"order_type": None, "ship_method": None, **header}
        settle(c)
        return r.json()["order_id"]

    pickup, plain = order(order_type="standard", ship_method="pickup"), order()
    assert c.get(f"/v1/orders/{pickup}").json()["ship_method"] == "pickup"          # stored and shown
    [inst] = hub_of(c).store.instances_of(pickup)
    assert {k: inst.attrs.get(k) for k in ("order_type", "ship_method", "email")} == {
        "order_type": "standard", "ship_method": "pickup", "email": "eve@example.com"}
    for oid in (pickup, plain):
        for i, event in enumerate(("released", "packed")):
            assert inbound(c, update(oid, event, f"{oid}-{i}")).status_code == 200
    assert procs(c, pickup)["processes"][0]["step"] == "invoice"
    assert [h["what"] for h in procs(c, pickup)["processes"][0]["history"] if h.get("step") == "ship"] == []
    assert procs(c, plain)["processes"][0]["step"] == "ship"

    transfer = order(order_type="transfer")
    assert [(p["process"], p["step"]) for p in procs(c, transfer)["processes"]] == [("internal-transfer", "transfer")]

    total = c.get("/v1/orders").json()["total"]
    for field, bad in (("ship_method", "Pick Up"), ("order_type", "x" * 41)):
        r = c.post("/v1/orders", headers=CAP, json={"customer": "A", "zone": "EAST", field: bad,
                                                    "lines": [{"item": "WIDGET", "qty": 1, "requested_date": D1}]})
        assert r.status_code == 422 and field in r.text, r.text
    assert c.get("/v1/orders").json()["total"] == total                               # nothing accepted
