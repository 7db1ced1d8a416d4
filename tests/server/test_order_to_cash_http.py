"""Order to cash through HTTP: the issue-15 stories, with hand-computed amounts.

The supply story is tests/server/conftest.py's (as_of 2026-01-05): WIDGET costs 10.00 in the
catalogue, DC-EAST holds 100. Tax is 20 % (``o2c.tax_rate``), so one WIDGET invoices 10.00 + 2.00.
Payments, invoices and credit notes follow the order book's events (shipped, delivered, cancelled,
returned); the card gateway answers captures and refunds by signed webhooks, which the tests
deliver to ``POST /v1/payments/webhooks/gateway`` as the gateway would.
"""

from __future__ import annotations

import concurrent.futures
import json
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from payments import sign

from .conftest import ADMIN, CAP, PLAN, VIEW, _make_settings

SECRET = "whsec-test"
SHIP_AT = "2026-01-06T10:00:00Z"


@pytest.fixture
def o2c(tmp_path, snap):
    from server import create_app

    settings = _make_settings((str(tmp_path / "ob.sqlite"), "unused"), tax_rate="0.20", gateway_secret=SECRET,
                              payment_terms_days=30, poll_s=0.05, default_country="US")
    with TestClient(create_app(settings, snapshot=snap), headers=VIEW) as c:
        r = c.post("/v1/pricing/tax-rates", headers=ADMIN,
                   json={"country": "US", "tax_category": "standard", "rate": "0.20", "valid_from": "2026-01-01"})
        assert r.status_code == 201, r.text
        yield c


def _order(c, qty=10, customer="ACME-SHOP", item="WIDGET"):
    r = c.post("/v1/orders", headers=CAP, json={"customer": customer, "zone": "EAST", "lines": [
        {"item": item, "qty": qty, "requested_date": "2026-01-06", "location": "DC-EAST"}]})
    assert r.status_code == 201, r.text
    return r.json()["order_id"]


def _ship(c, oid, qty, line=1):
    r = c.post(f"/v1/orders/{oid}/events", headers=PLAN, json={"type": "shipped", "lines": [{"line": line, "qty": qty}], "at": SHIP_AT})
    assert r.status_code == 200, r.text


def _pay(c, oid, method, amount=None, token=None, key=None):
    body = {"method": method, **({"amount": amount} if amount is not None else {}), **({"token": token} if token else {})}
    r = c.post(f"/v1/orders/{oid}/payments", headers={**CAP, **({"Idempotency-Key": key} if key else {})}, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _gateway_webhooks(c):
    """What the gateway has sent by now (its clock moved on by its delay), signed as it signs them; the order
    events written so far are handled first (the consumers run on their own thread)."""
    c.app.state.engine.o2c.catch_up()
    return c.app.state.engine.o2c.gateway.deliver(time.time() + 60)


def _deliver_webhooks(c):
    out = []
    for body, headers in _gateway_webhooks(c):
        r = c.post("/v1/payments/webhooks/gateway", content=body, headers={**headers, "X-API-Key": ""})
        assert r.status_code == 200, r.text
        out.append(r.json())
    return out


def _payments(c, oid):
    r = c.get(f"/v1/orders/{oid}/payments")
    assert r.status_code == 200, r.text
    return r.json()


def _amt(m):
    return m["amount"]


def test_paid_by_transfer_and_card_captured_at_shipment(o2c):
    """10 WIDGET = 100.00 + 20.00 tax = 120.00: 50.00 by bank transfer (confirmed before shipping), the rest by card.
    Shipping everything captures 70.00 from the card (the transfer already covers 50.00); one invoice of 120.00,
    settled, so the customer's open balance is 0.00."""
    c = o2c
    oid = _order(c)
    transfer = _pay(c, oid, "bank_transfer", "50.00")
    card = _pay(c, oid, "card", token="tok_visa")  # the rest: 70.00
    assert (transfer["state"], _amt(transfer["amount"])) == ("pending", "50.00")
    assert (card["state"], _amt(card["amount"])) == ("authorized", "70.00")
    r = c.post(f"/v1/payments/{transfer['payment_id']}/transfers", headers=CAP, json={"amount": "50.00", "reference": "BANK-0001"})
    assert r.json()["state"] == "captured"
    _ship(c, oid, 10)
    view = _payments(c, oid)
    assert _amt(view["invoiced"]) == "120.00" and _amt(view["captured"]) == "50.00"  # the card capture waits for its webhook
    _deliver_webhooks(c)
    view = _payments(c, oid)
    assert [(p["method"], p["state"], _amt(p["captured"])) for p in view["payments"]] == [
        ("bank_transfer", "captured", "50.00"), ("card", "captured", "70.00")]
    assert _amt(view["captured"]) == "120.00" and _amt(view["open"]) == "0.00" and view["status"] == "paid"
    st = c.get("/v1/invoices", params={"customer": "ACME-SHOP"}).json()
    assert [(d["document"]["number"], _amt(d["document"]["total"]), _amt(d["open"])) for d in st["documents"]] == [
        ("INV2026-000001", "120.00", "0.00")]
    assert _amt(st["open_balance"]) == "0.00"
    inv = c.get("/v1/invoices/INV2026-000001").json()
    assert (inv["issue_date"], inv["due_date"], inv["lines"][0]["qty"], _amt(inv["net"]), _amt(inv["tax"])) == (
        "2026-01-05", "2026-02-04", "10", "100.00", "20.00")
    assert c.get("/v1/invoices/INV2026-000001", params={"format": "html"}).text.count("INV2026-000001") >= 1
    pdf = c.get("/v1/invoices/INV2026-000001", params={"format": "pdf"})
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")


def test_partial_shipment_captures_only_what_shipped(o2c):
    """A card authorized for 120.00; shipping 4 of 10 invoices 48.00 and captures 48.00; shipping the other 6
    invoices and captures 72.00."""
    c = o2c
    oid = _order(c)
    card = _pay(c, oid, "card", token="tok_visa")
    _ship(c, oid, 4)
    _deliver_webhooks(c)
    p = c.get(f"/v1/payments/{card['payment_id']}").json()
    assert (p["state"], _amt(p["captured"]), _amt(p["open"])) == ("partially_captured", "48.00", "72.00")
    _ship(c, oid, 6)
    _deliver_webhooks(c)
    view = _payments(c, oid)
    assert (view["payments"][0]["state"], _amt(view["captured"]), _amt(view["invoiced"])) == ("captured", "120.00", "120.00")
    st = c.get("/v1/invoices", params={"customer": "ACME-SHOP"}).json()
    assert [_amt(d["document"]["total"]) for d in st["documents"]] == ["48.00", "72.00"]


def test_a_declined_card_then_a_bank_transfer(o2c):
    """The card is declined (failed, its code in the trail); a bank transfer for the whole 120.00 is opened and
    confirmed: the order is paid."""
    c = o2c
    oid = _order(c)
    card = _pay(c, oid, "card", token="tok_declined")
    assert card["state"] == "failed" and card["trail"][-1]["event"] == "decline" and "card_declined" in card["trail"][-1]["note"]
    transfer = _pay(c, oid, "bank_transfer")  # default amount: what the live payments do not cover (all of it)
    assert _amt(transfer["amount"]) == "120.00"
    c.post(f"/v1/payments/{transfer['payment_id']}/transfers", headers=CAP, json={"amount": "120.00", "reference": "B-2"})
    view = _payments(c, oid)
    assert [(p["method"], p["state"]) for p in view["payments"]] == [("card", "failed"), ("bank_transfer", "captured")]
    assert _amt(view["captured"]) == "120.00"


def test_a_duplicate_webhook_changes_nothing_and_an_unsigned_one_is_refused(o2c):
    c = o2c
    oid = _order(c, qty=5)  # 60.00
    card = _pay(c, oid, "card", token="tok_visa")
    _ship(c, oid, 5)
    sent = _gateway_webhooks(c)
    capture = next((b, h) for b, h in sent if json.loads(b)["type"] == "capture.succeeded")
    unsigned = c.post("/v1/payments/webhooks/gateway", content=capture[0], headers={"X-API-Key": ""})
    assert unsigned.status_code == 422 and unsigned.json()["detail"][0]["loc"][-1] == "signature"
    forged = c.post("/v1/payments/webhooks/gateway", content=capture[0],
                    headers={"Webhook-Signature": sign(capture[0], secret=b"wrong", timestamp=int(time.time()))})
    assert forged.status_code == 422
    assert _amt(c.get(f"/v1/payments/{card['payment_id']}").json()["captured"]) == "0.00"  # refused: nothing changed
    first = c.post("/v1/payments/webhooks/gateway", content=capture[0], headers=capture[1]).json()
    again = c.post("/v1/payments/webhooks/gateway", content=capture[0], headers=capture[1]).json()
    assert (first["applied"], first["duplicate"], again["duplicate"]) == (True, False, True)
    p = c.get(f"/v1/payments/{card['payment_id']}").json()
    assert (p["state"], _amt(p["captured"])) == ("captured", "60.00")
    assert sum(1 for t in p["trail"] if t["event"] == "capture") == 1


def test_refund_after_a_return_goes_back_to_the_card(o2c):
    """10 shipped and paid by card (120.00). 3 come back new at DC-EAST: they are supply again at once, a credit
    note of 36.00 (30.00 + 6.00) is issued on the invoice and 36.00 is refunded to the card. Captured - refunded
    (84.00) equals invoiced - credited. A refund above what is left, or a return of more than shipped, is refused."""
    c = o2c
    oid = _order(c)
    card = _pay(c, oid, "card", token="tok_visa")
    _ship(c, oid, 10)
    _deliver_webhooks(c)
    too_many = c.post(f"/v1/orders/{oid}/returns", headers=CAP, json={"line": 1, "qty": 11, "reason": "defective", "condition": "new"})
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["loc"][-1] == "qty"
    rma = c.post(f"/v1/orders/{oid}/returns", headers=CAP,
                 json={"line": 1, "qty": 3, "reason": "no_longer_needed", "condition": "new"})
    assert rma.status_code == 201, rma.text
    rma = rma.json()
    assert (rma["state"], rma["invoice"]) == ("authorized", "INV2026-000001")
    before = c.get("/v1/atp/WIDGET/DC-EAST", headers=PLAN).json()
    got = c.post(f"/v1/returns/{rma['rma_id']}/receive", headers=PLAN, json={"location": "DC-EAST", "date": "2026-01-08"})
    assert got.status_code == 200, got.text
    after = c.get("/v1/atp/WIDGET/DC-EAST", headers=PLAN).json()
    assert _supply_on(after, "2026-01-08") - _supply_on(before, "2026-01-08") == 3.0
    _deliver_webhooks(c)  # the gateway confirms the refund
    back = c.get(f"/v1/returns/{rma['rma_id']}").json()
    assert back["state"] == "refunded" and back["credit_notes"] == ["CN2026-000001"]
    assert [(r["payment_id"], _amt(r["amount"])) for r in back["refunds"]] == [(card["payment_id"], "36.00")]
    cn = c.get("/v1/invoices/CN2026-000001").json()
    assert (cn["kind"], cn["related"], _amt(cn["net"]), _amt(cn["tax"])) == ("credit_note", "INV2026-000001", "30.00", "6.00")
    view = _payments(c, oid)
    assert (_amt(view["captured"]), _amt(view["refunded"]), _amt(view["credited"])) == ("120.00", "36.00", "36.00")
    assert view["payments"][0]["state"] == "partially_refunded" and view["status"] == "paid"  # 84.00 covers 120.00 - 36.00
    over = c.post(f"/v1/payments/{card['payment_id']}/refund", headers=CAP, json={"amount": "84.01"})
    assert over.status_code == 422 and over.json()["detail"][0]["loc"][-1] == "amount"
    assert _amt(_payments(c, oid)["refunded"]) == "36.00"
    audit = c.get(f"/v1/orders/{oid}/audit").json()["data"]
    assert audit[-1]["action"] == "return" and audit[-1]["detail"]["lines"] == {"1": 3.0}  # the returned event


def _supply_on(atp, day):
    return sum(r["supply"] for r in atp["rows"] if r["date"] == day)


def test_an_exchange_is_promised_on_its_own_date_and_linked(o2c):
    """2 WIDGET shipped on 2026-01-06; one comes back for an exchange wanted on 2026-01-20: the replacement is a new
    order for 1 WIDGET promised on 2026-01-20, linked to the return."""
    c = o2c
    oid = _order(c, qty=2)
    _ship(c, oid, 2)
    rma = c.post(f"/v1/orders/{oid}/returns", headers=CAP, json={
        "line": 1, "qty": 1, "reason": "size_or_fit", "condition": "opened", "exchange": True, "requested_date": "2026-01-20"}).json()
    r = c.post(f"/v1/returns/{rma['rma_id']}/exchange", headers=CAP)
    assert r.status_code == 201, r.text
    link = r.json()["exchange"]["replacement_line"]
    new_id = link.rsplit("/", 1)[0]
    assert link == f"{new_id}/1" and new_id != oid
    new = c.get(f"/v1/orders/{new_id}").json()
    assert new["customer"] == "ACME-SHOP" and new["lines"][0]["item"] == "WIDGET"
    assert [(s["date"], s["qty"]) for s in new["lines"][0]["schedule"]] == [("2026-01-20", 1.0)]
    orig = c.get(f"/v1/orders/{oid}").json()
    assert orig["lines"][0]["schedule"][0]["date"] == "2026-01-06"
    assert c.post(f"/v1/returns/{rma['rma_id']}/exchange", headers=CAP).json()["exchange"]["replacement_line"] == link  # once
    assert c.get(f"/v1/orders/{oid}/returns").json()["data"][0]["exchange"]["replacement_line"] == link


def test_cash_on_delivery_is_collected_at_delivery_and_a_cancel_voids(o2c):
    """5 WIDGET (60.00) paid cash on delivery: shipping captures nothing, delivering collects 60.00. Another order
    paid by card is cancelled before shipping: its authorization is voided."""
    c = o2c
    oid = _order(c, qty=5)
    cod = _pay(c, oid, "cod")
    assert cod["state"] == "authorized"
    _ship(c, oid, 5)
    assert _amt(_payments(c, oid)["captured"]) == "0.00"
    r = c.post(f"/v1/orders/{oid}/events", headers=PLAN, json={"type": "delivered", "at": "2026-01-07T09:00:00Z"})
    assert r.status_code == 200, r.text
    view = _payments(c, oid)
    assert (view["payments"][0]["state"], _amt(view["captured"]), _amt(view["invoiced"])) == ("captured", "60.00", "60.00")
    other = _order(c, qty=1)
    card = _pay(c, other, "card", token="tok_visa")
    assert c.post(f"/v1/orders/{other}/cancel", headers=CAP).status_code == 200
    assert card["state"] == "authorized"
    assert _payments(c, other)["payments"][0]["state"] == "voided" and _payments(c, other)["status"] == "unpaid"


def test_an_idempotent_payment_is_opened_once(o2c):
    c = o2c
    oid = _order(c, qty=1)
    a = _pay(c, oid, "cod", key="k-1")
    b = _pay(c, oid, "cod", key="k-1")
    assert a["payment_id"] == b["payment_id"] and len(_payments(c, oid)["payments"]) == 1


# ------------------------------------------------------------------ a real server: concurrent shipments and kill -9

@pytest.mark.slow
def test_invoice_numbers_stay_gapless_under_concurrent_shipments_and_kill9(live_server, tmp_path):
    """24 orders shipped from 8 threads against a real server, killed with SIGKILL right after the last answer
    (its consumers may be anywhere); then a server with the consumers off takes 6 more shipments and is killed
    too, so those events are certainly written and not consumed; a third server catches up at start. Every
    shipment has exactly one invoice, numbered INV2026-000001..30 without a gap or a duplicate, and exactly one
    channel accrual."""
    db = (str(tmp_path / "k9.sqlite"), "unused")
    programs = tmp_path / "programs.yaml"
    programs.write_text("programs:\n  - {program: ACME-ALLOW, supplier: ACME, kind: allowance, currency: EUR, valid_from: 2026-01-01,"
                        " valid_to: 2026-12-31, items: [BULK], rate_kind: per_unit, rate: '0.10'}\n")
    env = {"PROMESSA_O2C__GATEWAY_SECRET": SECRET,
           "PROMESSA_O2C__CHANNEL_PROGRAMS": str(programs), "PROMESSA_O2C__POLL_S": "0.05"}
    srv = live_server(db, env=env)
    hdr = {"X-API-Key": "plan-key"}

    def capture_and_ship(k: int) -> str:
        with httpx.Client(base_url=srv.url, timeout=30, headers=hdr) as h:
            r = h.post("/v1/orders", json={"customer": "K9", "zone": "EAST", "lines": [
                {"item": "BULK", "qty": 1 + k % 3, "requested_date": "2026-01-06", "location": "DC-EAST"}]})
            assert r.status_code == 201, r.text
            oid = r.json()["order_id"]
            r = h.post(f"/v1/orders/{oid}/events", json={"type": "shipped", "at": SHIP_AT})
            assert r.status_code == 200, r.text
            return oid

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        first = list(pool.map(capture_and_ship, range(24)))
    srv.kill9()
    srv = live_server(db, env={**env, "PROMESSA_O2C__ENABLED": "false"})  # written, not consumed
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        later = list(pool.map(capture_and_ship, range(24, 30)))
    srv.kill9()
    srv = live_server(db, env=env)  # catches up at start
    with httpx.Client(base_url=srv.url, timeout=30, headers=hdr) as h:
        deadline = time.monotonic() + 30
        while True:
            st = h.get("/v1/invoices", params={"customer": "K9"}).json()
            if len(st["documents"]) >= 30 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        docs = [d["document"] for d in st["documents"]]
        assert sorted(d["number"] for d in docs) == [f"INV2026-{n:06d}" for n in range(1, 31)]
        assert sorted(d["order"] for d in docs) == sorted(first + later)  # one invoice per shipment, none lost
        assert len({d["source_ref"] for d in docs}) == 30
        # 1 + k % 3 units at the catalogue's 1.00, no tax rate posted: every invoice total is its units x 1.00
        assert sum(float(d["total"]["amount"]) for d in docs) == pytest.approx(sum(1 + k % 3 for k in range(30)))
        acc = h.get("/v1/channel/accruals", params={"program": "ACME-ALLOW"}).json()["data"]
        assert len(acc) == 30 and len({a["source"] for a in acc}) == 30
        assert sum(float(a["amount"]["amount"]) for a in acc) == pytest.approx(0.1 * sum(1 + k % 3 for k in range(30)))


@pytest.mark.slow
def test_pending_gateway_operations_survive_kill9_and_are_reconciled(live_server, tmp_path):
    """A real server, killed with SIGKILL twice. No tax rate is posted, so WIDGET invoices its catalogue 10.00.

    - O1: 5 WIDGET = 50.00 by card. 2 ship: a capture of 20.00 is sent and waits for the gateway's webhook; the rest
      is cancelled, so the close waits for that capture. kill -9 (the gateway's webhook is lost with the process).
    - O2: 3 WIDGET = 30.00 by a card whose gateway never notifies (tok_webhook_lost), captured in full: pending.

    The restarted server tells its gateway again what it had and resends the pending capture of O1: the gateway's
    outbox holds its capture.succeeded; posted to the webhook endpoint it captures 20.00, and the waiting close runs
    (the other 30.00 released). O2's capture stays pending: its webhook never comes. kill -9 again; a server that
    reconciles operations pending longer than 0.5 s asks the gateway's status and captures O2's 30.00."""
    db = (str(tmp_path / "k9p.sqlite"), "unused")
    env = {"PROMESSA_O2C__GATEWAY_SECRET": SECRET, "PROMESSA_O2C__POLL_S": "0.05", "PROMESSA_O2C__RECONCILE_AFTER_S": "0"}
    srv = live_server(db, env=env)

    def client(s):
        return httpx.Client(base_url=s.url, timeout=30, headers=PLAN)

    def payment(h, oid):
        r = h.get(f"/v1/orders/{oid}/payments")
        assert r.status_code == 200, r.text
        return r.json()

    with client(srv) as h:
        oids = []
        for qty in (5, 3):
            r = h.post("/v1/orders", json={"customer": "K9P", "zone": "EAST", "lines": [
                {"item": "WIDGET", "qty": qty, "requested_date": "2026-01-06", "location": "DC-EAST"}]})
            assert r.status_code == 201, r.text
            oids.append(r.json()["order_id"])
        o1, o2 = oids
        assert h.post(f"/v1/orders/{o1}/payments", json={"method": "card", "token": "tok_visa"}).status_code == 201
        p2 = h.post(f"/v1/orders/{o2}/payments", json={"method": "card", "token": "tok_webhook_lost"}).json()
        assert _amt(p2["amount"]) == "30.00" and p2["state"] == "authorized"
        r = h.post(f"/v1/orders/{o1}/events", json={"type": "shipped", "lines": [{"line": 1, "qty": 2}], "at": SHIP_AT})
        assert r.status_code == 200, r.text
        assert h.post(f"/v1/orders/{o1}/cancel").status_code == 200
        assert h.post(f"/v1/payments/{p2['payment_id']}/capture", json={}).status_code == 200
        v1 = payment(h, o1)  # read after the consumers caught up: the capture was sent, the close waits
        p1 = v1["payments"][0]
        assert (_amt(v1["order_total"]), _amt(v1["invoiced"]), p1["state"], _amt(p1["released"])) == (
            "20.00", "20.00", "authorized", "0.00")
        assert [t["event"] for t in p1["trail"]][-1] == "capture_requested"
    srv.kill9()

    srv = live_server(db, env=env)
    with client(srv) as h:
        assert payment(h, o1)["payments"][0]["state"] == "authorized"  # restored, still waiting
        hooks = h.post("/v1/payments/gateway/outbox", params={"all": "true"}).json()["webhooks"]
        kinds = sorted(json.loads(w["body"])["type"] for w in hooks)
        assert kinds == ["capture.succeeded"]  # O1's, sent again; O2's never comes
        for w in hooks:
            r = h.post("/v1/payments/webhooks/gateway", content=w["body"].encode(),
                       headers={"Webhook-Signature": w["signature"], "X-API-Key": ""})
            assert r.status_code == 200 and r.json()["applied"], r.text
        v1 = payment(h, o1)
        p1 = v1["payments"][0]
        assert (p1["state"], _amt(p1["captured"]), _amt(p1["released"]), _amt(v1["refunded"])) == (
            "captured", "20.00", "30.00", "0.00")
        p2 = payment(h, o2)["payments"][0]
        assert (p2["state"], _amt(p2["captured"])) == ("authorized", "0.00")
        assert h.post("/v1/payments/gateway/outbox", params={"all": "true"}).json()["webhooks"] == []
    srv.kill9()

    srv = live_server(db, env={**env, "PROMESSA_O2C__RECONCILE_AFTER_S": "0.5", "PROMESSA_O2C__RECONCILE_EVERY_S": "0.2"})
    with client(srv) as h:
        deadline = time.monotonic() + 30
        while payment(h, o2)["payments"][0]["state"] != "captured" and time.monotonic() < deadline:
            time.sleep(0.2)
        p2 = payment(h, o2)["payments"][0]
        assert (p2["state"], _amt(p2["captured"])) == ("captured", "30.00")
        assert p2["trail"][-1]["event"] == "capture"
        assert payment(h, o1)["payments"][0]["state"] == "captured"  # unchanged by the restarts
        assert h.post("/v1/payments/reconcile", params={"older_than_s": 0}).json() == {"operations": []}


def test_concurrent_webhooks_are_group_committed_and_survive_a_restart(tmp_path, snap):
    """30 card payments of 1.00 each (one BULK), captured on order (capture_rule on_order): 60 gateway webhooks
    (an authorization notice and a capture per payment) plus every capture a second time, posted from 8 threads.
    Each capture applies exactly once (30 applied, 30 duplicates, 30 notices of an authorization already known);
    while the first write waits for the disk, the others are applied and then written together in one transaction. A server opened again on the same order book
    has every payment captured 1.00 and answers a capture delivered again as a duplicate."""
    from server import create_app

    settings = _make_settings((str(tmp_path / "gc.sqlite"), "unused"), gateway_secret=SECRET, capture_rule="on_order",
                              poll_s=0.05)
    with TestClient(create_app(settings, snapshot=snap), headers=CAP) as c:
        pids = []
        for _ in range(30):
            r = c.post("/v1/orders", json={"customer": "GC", "zone": "EAST", "lines": [
                {"item": "BULK", "qty": 1, "requested_date": "2026-01-06", "location": "DC-EAST"}]})
            oid = r.json()["order_id"]
            pids.append(_pay(c, oid, "card", "1.00", token="tok_visa")["payment_id"])
        hub = c.app.state.engine.o2c
        hooks = hub.gateway_outbox(everything=True)
        captures = [(b, h) for b, h in hooks if b"capture.succeeded" in b]
        assert len(hooks) == 60 and len(captures) == 30
        commits = []
        put = hub.store.put_records
        hub.store.put_records = lambda recs, **kw: (commits.append(len(recs := list(recs))) if recs else None, put(recs, **kw))[1]

        def post(bh):
            return hub.webhook("gateway", bh[0], bh[1]["Webhook-Signature"], now=time.time())

        hub.store._wlock.acquire()  # the disk is slow: every capture is applied in memory while the first write waits
        try:
            with concurrent.futures.ThreadPoolExecutor(90) as pool:
                futs = [pool.submit(post, x) for x in hooks + captures]
                deadline = time.monotonic() + 30
                while hub._webhooks.last() < 30 and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert hub._webhooks.last() == 30
                time.sleep(0.2)
                # nothing that touched a capture is answered before it is durable
                assert not any(f.done() for f, (b, _h) in zip(futs, hooks + captures, strict=True) if b"capture" in b)
                hub.store._wlock.release()
                outs = [f.result(timeout=60) for f in futs]
        finally:
            if hub.store._wlock.locked():
                hub.store._wlock.release()
        hub.store.put_records = put
        applied = [o for o in outs if o.applied and not o.duplicate]
        assert len(applied) == 30 and {o.type for o in applied} == {"capture.succeeded"}
        assert sum(o.duplicate for o in outs) == 30 and len({o.event_id for o in applied}) == 30
        assert len(commits) <= 2 and sum(commits) == 60  # the first write, then all the others in one: 30 orders + 30 events
    with TestClient(create_app(settings, snapshot=snap), headers=CAP) as c:
        for pid in pids:
            p = c.get(f"/v1/payments/{pid}").json()
            assert (p["state"], _amt(p["captured"])) == ("captured", "1.00")
        b, h = captures[0]
        again = c.post("/v1/payments/webhooks/gateway", content=b, headers={**h, "X-API-Key": ""}).json()
        assert again["duplicate"] and again["applied"]


def test_a_webhook_whose_write_fails_answers_an_error_and_is_written_with_the_next_batch(o2c):
    """The disk fails once while a capture webhook (12.00) is written: the webhook answers the error. The writer
    writes it again; the gateway's retry (the same delivery) is then answered as a duplicate of the applied capture,
    and the stored records show the payment captured."""
    import sqlite3

    c = o2c
    oid = _order(c, qty=1, customer="DISK")
    card = _pay(c, oid, "card", token="tok_visa")
    assert c.post(f"/v1/payments/{card['payment_id']}/capture", headers=CAP, json={}).status_code == 200
    hub = c.app.state.engine.o2c
    (body, hdr), = [(b, h) for b, h in _gateway_webhooks(c) if b"capture.succeeded" in b]
    put, failed = hub.store.put_records, []

    def flaky(recs, **kw):
        if not failed:
            failed.append(1)
            raise sqlite3.OperationalError("disk I/O error")
        return put(recs, **kw)

    hub.store.put_records = flaky
    try:
        with pytest.raises(sqlite3.OperationalError):
            hub.webhook("gateway", body, hdr["Webhook-Signature"], now=time.time())
        again = hub.webhook("gateway", body, hdr["Webhook-Signature"], now=time.time())
    finally:
        hub.store.put_records = put
    assert (again.applied, again.duplicate) == (True, True)
    stored = hub.store.records("payments")[oid]["payments"][0]
    assert (stored["state"], stored["captured"]["amount"]) == ("captured", "12.00")
    assert json.loads(body)["id"] in hub.store.records("webhook_events")


def test_the_payments_consumer_writes_in_snapshot_order_with_the_webhooks(o2c):
    """The payments consumer writes the order's records itself, under the hub's write order: after a shipment of a
    card order, the stored records hold the capture sent (pending); its webhook then stores it captured, and the
    shipped event handled again (at-least-once delivery) writes the newer state again, never an older snapshot."""
    from orderbook.events import EventKind, read_events
    from ordertocash.consumers import PaymentsConsumer

    c = o2c
    oid = _order(c, qty=2, customer="ORDERED")
    _pay(c, oid, "card", token="tok_visa")
    _ship(c, oid, 2)
    hub = c.app.state.engine.o2c
    hub.catch_up()

    def stored():
        p = hub.store.records("payments")[oid]["payments"][0]
        return p["state"], p["captured"]["amount"], sorted(o["status"] for o in p["ops"])

    assert stored() == ("authorized", "0.00", ["pending", "succeeded"])
    _deliver_webhooks(c)
    assert stored() == ("captured", "24.00", ["succeeded", "succeeded"])
    shipped = [e for e in read_events(hub.store, 0, limit=100, order_id=oid) if e.kind is EventKind.SHIPPED]
    assert PaymentsConsumer(hub).handle(shipped[0]) is None
    assert stored() == ("captured", "24.00", ["succeeded", "succeeded"])


def test_keys_are_needed_everywhere_but_the_signed_webhook(o2c):
    c = o2c
    anon = TestClient(c.app)
    assert anon.get("/v1/invoices", params={"customer": "x"}).status_code == 401
    assert anon.post("/v1/payments/webhooks/gateway", content=b"{}").status_code == 422  # no key needed; no signature: refused
    assert c.post("/v1/channel/programs", headers=VIEW, json={"programs": [{}]}).status_code == 403


# ------------------------------------------------------------------ reconciliation over random histories

@pytest.mark.slow
def test_captured_less_refunded_equals_invoiced_less_credited_over_random_histories(o2c):
    """Random histories of card-paid orders (partial shipments, returns of the latest shipment, a cancel of the
    rest): once the gateway's webhooks are in, captured - refunded equals invoiced - credited for every order,
    and the customer's open balance is zero."""
    from decimal import Decimal

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    c = o2c
    step = st.one_of(st.tuples(st.just("ship"), st.integers(1, 4)), st.tuples(st.just("return"), st.integers(1, 3)))

    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(qty=st.integers(2, 8), steps=st.lists(step, max_size=5), cancel=st.booleans())
    def history(qty, steps, cancel):
        oid = _order(c, qty=qty, customer="PROP")
        _pay(c, oid, "card", token="tok_visa")
        shipped, last = 0, 0
        for kind, n in steps:
            if kind == "ship" and shipped < qty:
                last = min(n, qty - shipped)
                _ship(c, oid, last)
                shipped += last
                _deliver_webhooks(c)
            elif kind == "return" and last > 0:
                r = c.post(f"/v1/orders/{oid}/returns", headers=CAP, json={"line": 1, "qty": min(n, last),
                                                                          "reason": "other", "condition": "new"})
                assert r.status_code == 201, r.text
                got = c.post(f"/v1/returns/{r.json()['rma_id']}/receive", headers=PLAN, json={"location": "DC-EAST"})
                assert got.status_code == 200, got.text
                last -= min(n, last)
                _deliver_webhooks(c)
        if cancel and shipped < qty:
            assert c.post(f"/v1/orders/{oid}/cancel", headers=CAP).status_code == 200
        _deliver_webhooks(c)
        v = _payments(c, oid)
        net = Decimal(_amt(v["captured"])) - Decimal(_amt(v["refunded"]))
        assert net == Decimal(_amt(v["invoiced"])) - Decimal(_amt(v["credited"])), v

    history()
    st_ = c.get("/v1/invoices", params={"customer": "PROP"}).json()
    assert Decimal(st_["open_balance"]["amount"]) == 0


# ------------------------------------------------------------------ jeopardy: unpaid past terms, returns not received

def _cash(c, today, **params):
    r = c.get("/v1/jeopardy", params={**({"today": today} if today else {}), **params})
    assert r.status_code == 200, r.text
    return r.json()


def _cash_story(c):
    """A: 10 WIDGET, nothing paid, shipped -> INV2026-000001 of 120.00, open 120.00.
    B: 5 WIDGET (60.00), 50.00 by bank transfer confirmed, shipped -> INV2026-000002 of 60.00, open 10.00.
    C: 2 WIDGET (24.00) by card, shipped and captured -> INV2026-000003; both authorised for return on the
    business day 2026-01-05, one received on 2026-01-08 (credited 12.00 and refunded), one still expected.
    Issued on 2026-01-05 with net 30: due 2026-02-04. The return is due 2026-01-05 + 30 = 2026-02-04."""
    a = _order(c, qty=10, customer="SLOW")
    _ship(c, a, 10)
    b = _order(c, qty=5, customer="PART")
    t = _pay(c, b, "bank_transfer", "50.00")
    assert c.post(f"/v1/payments/{t['payment_id']}/transfers", headers=CAP, json={"amount": "50.00", "reference": "B-9"}).status_code == 200
    _ship(c, b, 5)
    k = _order(c, qty=2, customer="BACK")
    _pay(c, k, "card", token="tok_visa")
    _ship(c, k, 2)
    _deliver_webhooks(c)
    rma = c.post(f"/v1/orders/{k}/returns", headers=CAP, json={"line": 1, "qty": 2, "reason": "defective", "condition": "new"})
    assert rma.status_code == 201, rma.text
    rma = rma.json()["rma_id"]
    got = c.post(f"/v1/returns/{rma}/receive", headers=PLAN, json={"location": "DC-EAST", "qty": 1, "date": "2026-01-08"})
    assert got.status_code == 200, got.text
    _deliver_webhooks(c)
    return a, b, k, rma


def test_jeopardy_shows_invoices_unpaid_past_terms_and_returns_not_received(o2c):
    """On the due day itself (2026-02-04) nothing is late. On 2026-02-05 (1 day late: watch): INV1 open 120.00,
    INV2 open 10.00, the return's one unit still expected (12.00 = 10.00 + 2.00 tax, at the invoice line's amounts).
    On 2026-02-11 (7 days: critical) the same three; min_level=critical keeps them, the order counts stay apart.
    INV3 (24.00 captured, 12.00 credited, 12.00 refunded) is settled, so it is not there."""
    c = o2c
    a, b, k, rma = _cash_story(c)
    assert _cash(c, "2026-02-04")["cash"] == []
    j = _cash(c, "2026-02-05")
    got = [(r["kind"], r["reason"], r["order_id"], r["customer"], r["ref"], r["due_date"], r["days_late"], r["level"],
            r["amount"]["amount"]) for r in j["cash"]]
    assert sorted(got) == sorted([
        ("invoice", "unpaid_past_terms", a, "SLOW", "INV2026-000001", "2026-02-04", 1, "watch", "120.00"),
        ("invoice", "unpaid_past_terms", b, "PART", "INV2026-000002", "2026-02-04", 1, "watch", "10.00"),
        ("return", "return_not_received", k, "BACK", rma, "2026-02-04", 1, "watch", "12.00")])
    assert j["cash_counts"] == {"ok": 0, "watch": 3, "warning": 0, "critical": 0}
    assert all(r["reason_text"] for r in j["cash"])
    late = _cash(c, "2026-02-11", min_level="critical")
    assert sorted((r["ref"], r["days_late"], r["level"]) for r in late["cash"]) == sorted([
        ("INV2026-000001", 7, "critical"), ("INV2026-000002", 7, "critical"), (rma, 7, "critical")])
    # paying the rest of B takes its invoice off the list; receiving the last unit takes the return off
    card = _pay(c, b, "card", "10.00", token="tok_visa")
    assert c.post(f"/v1/payments/{card['payment_id']}/capture", headers=CAP, json={}).status_code == 200
    _deliver_webhooks(c)
    assert c.post(f"/v1/returns/{rma}/receive", headers=PLAN, json={"location": "DC-EAST"}).status_code == 200
    _deliver_webhooks(c)
    assert [r["ref"] for r in _cash(c, "2026-02-11")["cash"]] == ["INV2026-000001"]


def test_the_jeopardy_scan_records_cash_level_crossings(o2c):
    """The scan records order-to-cash items like orders: on 2026-02-05 the three items of the cash story go ok ->
    watch (INV1 120.00, INV2 10.00, the return 12.00); the same day again records nothing; on 2026-02-11 all three
    go watch -> critical. B's invoice is then paid and the last unit received: the next scan takes both back to ok
    (reason settled), INV1 stays critical. The events are listed per order with the order crossings."""
    c = o2c
    a, b, k, rma = _cash_story(c)

    def scan(today):
        r = c.post("/v1/jeopardy/scan", params={"today": today}, headers=PLAN)
        assert r.status_code == 200, r.text
        return sorted((e["ref"], e["from_level"], e["to_level"], e["reason"], e["amount"])
                      for e in r.json()["events"] if e["subject"] == "cash")

    assert scan("2026-02-04") == []
    assert scan("2026-02-05") == sorted([("INV2026-000001", "ok", "watch", "unpaid_past_terms", "120.00"),
                                         ("INV2026-000002", "ok", "watch", "unpaid_past_terms", "10.00"),
                                         (rma, "ok", "watch", "return_not_received", "12.00")])
    assert scan("2026-02-05") == []
    assert scan("2026-02-11") == sorted([("INV2026-000001", "watch", "critical", "unpaid_past_terms", "120.00"),
                                         ("INV2026-000002", "watch", "critical", "unpaid_past_terms", "10.00"),
                                         (rma, "watch", "critical", "return_not_received", "12.00")])
    card = _pay(c, b, "card", "10.00", token="tok_visa")
    assert c.post(f"/v1/payments/{card['payment_id']}/capture", headers=CAP, json={}).status_code == 200
    _deliver_webhooks(c)
    assert c.post(f"/v1/returns/{rma}/receive", headers=PLAN, json={"location": "DC-EAST"}).status_code == 200
    _deliver_webhooks(c)
    assert scan("2026-02-11") == sorted([("INV2026-000002", "critical", "ok", "settled", "10.00"),
                                         (rma, "critical", "ok", "settled", "12.00")])
    ev = c.get("/v1/jeopardy/events", params={"order_id": b}, headers=PLAN).json()["data"]
    assert [(e["subject"], e["kind"], e["to_level"]) for e in ev if e["subject"] == "cash"] == [
        ("cash", "invoice", "ok"), ("cash", "invoice", "critical"), ("cash", "invoice", "watch")]


def test_jeopardy_cash_on_the_business_clock_and_the_cli(o2c, tmp_path, capsys):
    """Without ?today= the day is the business clock (the snapshot's 2026-01-05): nothing is past due. The
    command `promessa jeopardy --cash` reads the same book read-only and lists the same items."""
    c = o2c
    a, b, k, rma = _cash_story(c)
    assert _cash(c, None)["today"] == "2026-01-05" and _cash(c, None)["cash"] == []
    from promessa.cli import main

    rc = main(["jeopardy", "--cash", "--db", str(tmp_path / "ob.sqlite"), "--today", "2026-02-05", "--format", "json"])
    assert rc == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted((r["ref"], r["level"], r["amount"]) for r in rows) == sorted([
        ("INV2026-000001", "watch", "120.00"), ("INV2026-000002", "watch", "10.00"), (rma, "watch", "12.00")])
    # --scan records the cash crossings in the event log (and only those: --cash), once
    log = tmp_path / "crossings.jsonl"
    for _ in range(2):
        assert main(["jeopardy", "--cash", "--scan", "--event-log", str(log), "--db", str(tmp_path / "ob.sqlite"),
                     "--today", "2026-02-05", "--format", "json"]) == 0
    capsys.readouterr()
    events = [json.loads(x) for x in log.read_text().splitlines()]
    assert sorted((e["subject"], e["key"], e["from_level"], e["to_level"]) for e in events) == sorted([
        ("cash", "invoice:INV2026-000001", "ok", "watch"), ("cash", "invoice:INV2026-000002", "ok", "watch"),
        ("cash", f"return:{rma}", "ok", "watch")])


# ------------------------------------------------------------------ closing an order: refund what was not shipped

def _refunds(p):
    return [(t["amount"]["amount"], t["note"]) for t in p["trail"] if t["event"] == "refund"]


def test_a_prepaid_order_cancelled_after_a_partial_shipment_is_refunded_the_difference(o2c):
    """10 WIDGET = 120.00 prepaid by bank transfer (confirmed). 4 ship: one invoice of 48.00 (40.00 + 8.00), nothing
    more to capture. The rest is cancelled: the order is closed and 120.00 - 48.00 = 72.00 goes back to the
    transfer. Captured - refunded (48.00) equals invoiced - credited; the customer's open balance is 0.00.
    Handing the cancel event to the payments consumer again refunds nothing more (its key is the event's ref)."""
    from orderbook.events import EventKind, read_events
    from ordertocash.consumers import PaymentsConsumer

    c = o2c
    oid = _order(c, customer="PREPAID")
    t = _pay(c, oid, "bank_transfer", "120.00")
    assert c.post(f"/v1/payments/{t['payment_id']}/transfers", headers=CAP,
                  json={"amount": "120.00", "reference": "B-120"}).json()["state"] == "captured"
    _ship(c, oid, 4)
    assert c.post(f"/v1/orders/{oid}/cancel", headers=CAP).status_code == 200
    assert c.get(f"/v1/orders/{oid}").json()["status"] == "shipped"
    view = _payments(c, oid)
    assert (_amt(view["captured"]), _amt(view["refunded"]), _amt(view["invoiced"]), _amt(view["credited"])) == (
        "120.00", "72.00", "48.00", "0.00")
    assert view["status"] == "paid" and _amt(view["order_total"]) == "48.00"
    p = view["payments"][0]
    assert p["state"] == "partially_refunded"
    assert [a for a, _ in _refunds(p)] == ["72.00"] and "order closed" in _refunds(p)[0][1]
    st = c.get("/v1/invoices", params={"customer": "PREPAID"}).json()
    assert [_amt(d["document"]["total"]) for d in st["documents"]] == ["48.00"] and _amt(st["open_balance"]) == "0.00"
    hub = c.app.state.engine.o2c
    cancel = [e for e in read_events(hub.store, 0, limit=1000, order_id=oid) if e.kind is EventKind.CANCELLED]
    assert len(cancel) == 1
    PaymentsConsumer(hub).handle(cancel[0])  # at-least-once delivery: the same event again
    assert _amt(_payments(c, oid)["refunded"]) == "72.00"


def test_a_card_captured_up_front_is_refunded_what_was_not_shipped_once_the_gateway_confirms(o2c):
    """5 WIDGET = 60.00 by card, captured in full before shipping. 2 ship (24.00) and the rest is cancelled:
    36.00 is refunded to the card; the gateway confirms it by webhook, then the card is partially refunded."""
    c = o2c
    oid = _order(c, qty=5, customer="UPFRONT")
    card = _pay(c, oid, "card", token="tok_visa")
    assert c.post(f"/v1/payments/{card['payment_id']}/capture", headers=CAP, json={}).status_code == 200
    _deliver_webhooks(c)
    _ship(c, oid, 2)
    assert c.post(f"/v1/orders/{oid}/cancel", headers=CAP).status_code == 200
    _deliver_webhooks(c)
    view = _payments(c, oid)
    assert (_amt(view["captured"]), _amt(view["refunded"]), _amt(view["invoiced"])) == ("60.00", "36.00", "24.00")
    assert view["payments"][0]["state"] == "partially_refunded" and view["status"] == "paid"


def test_a_close_waits_for_a_capture_still_in_flight(o2c):
    """5 WIDGET = 60.00 by card, authorized. 2 ship: a capture of 24.00 is asked and waits for the gateway. The rest
    is cancelled while it waits: nothing is released yet. When the capture's webhook arrives the close runs: the
    open 36.00 is released, nothing refunded (captured 24.00 = invoiced 24.00)."""
    c = o2c
    oid = _order(c, qty=5, customer="INFLIGHT")
    _pay(c, oid, "card", token="tok_visa")
    _ship(c, oid, 2)
    assert c.post(f"/v1/orders/{oid}/cancel", headers=CAP).status_code == 200
    c.app.state.engine.o2c.catch_up()
    p = _payments(c, oid)["payments"][0]
    assert (p["state"], _amt(p["released"])) == ("authorized", "0.00")
    _deliver_webhooks(c)
    view = _payments(c, oid)
    p = view["payments"][0]
    assert (p["state"], _amt(p["captured"]), _amt(p["released"]), _amt(view["refunded"])) == ("captured", "24.00", "36.00", "0.00")
    assert view["status"] == "paid" and _amt(view["invoiced"]) == "24.00"


# ------------------------------------------------------------------ invoicing mode: per shipment or per order

def _statement(c, customer):
    st = c.get("/v1/invoices", params={"customer": customer})
    assert st.status_code == 200, st.text
    return st.json()


def test_a_customer_invoiced_once_per_order(o2c):
    """WHOLE is invoiced per order (set through the API). Its order of 10 WIDGET by card ships 4 then 6: the card is
    captured 48.00 then 72.00 as it ships, but the one invoice is issued when the order is complete: 10 WIDGET,
    100.00 + 20.00 = 120.00, settled by the captures (open 0.00). Another WHOLE order chosen per shipment gets an
    invoice of 48.00 for its first 4. An order's mode cannot change once it shipped; an unknown mode is a 422."""
    c = o2c
    r = c.put("/v1/invoices/modes/customers/WHOLE", headers=CAP, json={"mode": "per_order"})
    assert r.status_code == 200 and r.json() == {"customer": "WHOLE", "mode": "per_order"}
    a = _order(c, customer="WHOLE")
    assert c.get(f"/v1/invoices/modes/orders/{a}").json() == {"order_id": a, "customer": "WHOLE", "mode": "per_order",
                                                              "source": "customer"}
    _pay(c, a, "card", token="tok_visa")
    _ship(c, a, 4)
    _deliver_webhooks(c)
    assert _statement(c, "WHOLE")["documents"] == [] and _amt(_payments(c, a)["captured"]) == "48.00"
    assert c.get(f"/v1/invoices/modes/orders/{a}").json()["source"] == "order"  # fixed at the first shipment
    _ship(c, a, 6)
    _deliver_webhooks(c)
    st = _statement(c, "WHOLE")
    docs = [d["document"] for d in st["documents"]]
    assert [(d["number"], d["source_ref"], _amt(d["net"]), _amt(d["tax"]), _amt(d["total"])) for d in docs] == [
        ("INV2026-000001", a, "100.00", "20.00", "120.00")]
    assert [(ln["line_ref"], ln["qty"]) for ln in docs[0]["lines"]] == [("1", "10")]
    assert _amt(st["open_balance"]) == "0.00" and _amt(_payments(c, a)["captured"]) == "120.00"
    b = _order(c, customer="WHOLE")
    assert c.put(f"/v1/invoices/modes/orders/{b}", headers=CAP, json={"mode": "per_shipment"}).json()["source"] == "order"
    _ship(c, b, 4)
    assert [_amt(d["document"]["total"]) for d in _statement(c, "WHOLE")["documents"]] == ["120.00", "48.00"]
    late = c.put(f"/v1/invoices/modes/orders/{a}", headers=CAP, json={"mode": "per_shipment"})
    assert late.status_code == 409, late.text
    assert c.put(f"/v1/invoices/modes/orders/{a}", headers=CAP, json={"mode": "per_order"}).status_code == 200
    bad = c.put(f"/v1/invoices/modes/orders/{b}", headers=CAP, json={"mode": "weekly"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "mode"
    assert c.put("/v1/invoices/modes/customers/WHOLE", headers=VIEW, json={"mode": "per_order"}).status_code == 403
    assert c.get(f"/v1/invoices/modes/orders/{b}").json()["mode"] == "per_shipment"


@pytest.fixture
def o2c_per_order(tmp_path, snap):
    from server import create_app

    settings = _make_settings((str(tmp_path / "ob.sqlite"), "unused"), tax_rate="0.20", gateway_secret=SECRET,
                              payment_terms_days=30, poll_s=0.05, default_country="US", invoice_mode="per_order",
                              invoice_mode_by_customer={"SPLIT": "per_shipment"})
    with TestClient(create_app(settings, snapshot=snap), headers=VIEW) as c:
        r = c.post("/v1/pricing/tax-rates", headers=ADMIN,
                   json={"country": "US", "tax_category": "standard", "rate": "0.20", "valid_from": "2026-01-01"})
        assert r.status_code == 201, r.text
        yield c


def test_per_order_by_settings_invoices_what_shipped_when_the_rest_is_cancelled(o2c_per_order):
    """Settings: per order, but SPLIT per shipment. ONE's 10 WIDGET, prepaid 120.00 by transfer: 3 ship (no
    invoice yet), the rest is cancelled: one invoice of 3 WIDGET = 30.00 + 6.00 = 36.00 and 120.00 - 36.00 = 84.00
    refunded. SPLIT's order ships 2 then 3: two invoices, 24.00 and 36.00."""
    c = o2c_per_order
    x = _order(c, customer="ONE")
    assert c.get(f"/v1/invoices/modes/orders/{x}").json()["source"] == "settings"
    t = _pay(c, x, "bank_transfer", "120.00")
    c.post(f"/v1/payments/{t['payment_id']}/transfers", headers=CAP, json={"amount": "120.00", "reference": "B-1"})
    _ship(c, x, 3)
    c.app.state.engine.o2c.catch_up()
    assert _statement(c, "ONE")["documents"] == []
    assert c.post(f"/v1/orders/{x}/cancel", headers=CAP).status_code == 200
    st = _statement(c, "ONE")
    assert [(d["document"]["source_ref"], d["document"]["lines"][0]["qty"], _amt(d["document"]["total"]))
            for d in st["documents"]] == [(x, "3", "36.00")]
    view = _payments(c, x)
    assert (_amt(view["captured"]), _amt(view["refunded"]), _amt(view["invoiced"])) == ("120.00", "84.00", "36.00")
    assert _amt(st["open_balance"]) == "0.00"
    y = _order(c, customer="SPLIT")
    assert c.get(f"/v1/invoices/modes/orders/{y}").json() == {"order_id": y, "customer": "SPLIT", "mode": "per_shipment",
                                                              "source": "settings.customer"}
    _ship(c, y, 2)
    _ship(c, y, 3)
    assert [_amt(d["document"]["total"]) for d in _statement(c, "SPLIT")["documents"]] == ["24.00", "36.00"]


# ------------------------------------------------------------------ the order's order-to-cash state

def test_the_order_cash_view_shows_payments_invoices_and_returns(o2c):
    """10 WIDGET = 120.00: 70.00 by card (authorized) and 50.00 by bank transfer (awaited). Before shipping:
    authorized 70.00, pending 50.00, nothing captured, no invoice. 4 ship: the card is captured 48.00 (authorized
    22.00 left), INV1 of 48.00 is paid by it. One unit comes back authorised: one return open, 1 expected, due
    2026-01-05 + 30 days. Another order of 1 WIDGET shipped unpaid: its invoice of 12.00 is open (due 2026-02-04,
    not overdue on the business day 2026-01-05)."""
    c = o2c
    oid = _order(c, customer="VIEW1")
    _pay(c, oid, "card", "70.00", token="tok_visa")
    _pay(c, oid, "bank_transfer", "50.00")
    v = c.get(f"/v1/orders/{oid}/cash")
    assert v.status_code == 200, v.text
    v = v.json()
    assert (v["order_status"], v["payment_status"], v["today"]) == ("scheduled", "authorized", "2026-01-05")
    assert [_amt(v[k]) for k in ("order_total", "authorized", "pending", "captured", "refunded", "invoiced", "open_balance")] == [
        "120.00", "70.00", "50.00", "0.00", "0.00", "0.00", "0.00"]
    assert (v["invoices"], v["returns"], v["returns_open"], v["invoice_mode"]) == ([], [], 0, "per_shipment")
    _ship(c, oid, 4)
    _deliver_webhooks(c)
    rma = c.post(f"/v1/orders/{oid}/returns", headers=CAP, json={"line": 1, "qty": 1, "reason": "defective", "condition": "new"})
    assert rma.status_code == 201, rma.text
    v = c.get(f"/v1/orders/{oid}/cash").json()
    assert (v["order_status"], v["payment_status"]) == ("partially_shipped", "partially_paid")
    assert [_amt(v[k]) for k in ("authorized", "pending", "captured", "invoiced", "open_balance")] == [
        "22.00", "50.00", "48.00", "48.00", "0.00"]
    assert [(i["number"], _amt(i["total"]), _amt(i["settled"]), _amt(i["open"]), i["state"]) for i in v["invoices"]] == [
        ("INV2026-000001", "48.00", "48.00", "0.00", "paid")]
    assert (v["invoices_open"], v["invoices_paid"], v["returns_open"]) == (0, 1, 1)
    assert [(r["rma_id"], r["state"], r["expected"], r["due_day"]) for r in v["returns"]] == [
        (rma.json()["rma_id"], "authorized", 1.0, "2026-02-04")]
    other = _order(c, qty=1, customer="VIEW2")
    _ship(c, other, 1)
    w = c.get(f"/v1/orders/{other}/cash").json()
    assert (w["payment_status"], _amt(w["open_balance"]), w["invoices_open"]) == ("unpaid", "12.00", 1)
    assert [(i["state"], i["due_date"]) for i in w["invoices"]] == [("open", "2026-02-04")]
    assert c.get("/v1/orders/NOPE/cash").status_code == 404
    assert TestClient(c.app).get(f"/v1/orders/{oid}/cash").status_code == 401


def test_invoicing_modes_are_kept_across_a_restart(tmp_path, snap):
    """A customer's mode and an order's mode answered 200 are durable: a server started again over the same book
    invoices them the same way (the order's 2 of 2 shipped after the restart: one per-order invoice of 24.00)."""
    from server import create_app

    settings = _make_settings((str(tmp_path / "ob.sqlite"), "unused"), tax_rate="0.20", gateway_secret=SECRET, poll_s=0.05,
                              default_country="US")
    with TestClient(create_app(settings, snapshot=snap), headers=VIEW) as c:
        assert c.post("/v1/pricing/tax-rates", headers=ADMIN, json={"country": "US", "tax_category": "standard", "rate": "0.20",
                                                                      "valid_from": "2026-01-01"}).status_code == 201
        assert c.put("/v1/invoices/modes/customers/KEEP", headers=CAP, json={"mode": "per_order"}).status_code == 200
        oid = _order(c, qty=2, customer="OTHER")
        assert c.put(f"/v1/invoices/modes/orders/{oid}", headers=CAP, json={"mode": "per_order"}).status_code == 200
    with TestClient(create_app(settings, snapshot=snap), headers=VIEW) as c:
        assert c.get(f"/v1/invoices/modes/orders/{oid}").json()["mode"] == "per_order"
        keep = _order(c, qty=1, customer="KEEP")
        assert c.get(f"/v1/invoices/modes/orders/{keep}").json() == {"order_id": keep, "customer": "KEEP", "mode": "per_order",
                                                                      "source": "customer"}
        _ship(c, oid, 1)
        _ship(c, oid, 1)
        docs = [d["document"] for d in _statement(c, "OTHER")["documents"]]
        assert [(d["source_ref"], _amt(d["total"])) for d in docs] == [(oid, "24.00")]


def test_cash_on_delivery_of_a_partial_shipment_is_collected_after_the_rest_is_cancelled(o2c):
    """5 WIDGET = 60.00 cash on delivery. 2 ship (24.00 invoiced) and the rest is cancelled before they arrive:
    the close waits for the delivery (releasing the COD now would leave the carrier nothing to collect). At
    delivery 24.00 is collected, then the close releases the other 36.00: captured 24.00 = invoiced 24.00."""
    c = o2c
    oid = _order(c, qty=5, customer="CODPART")
    _pay(c, oid, "cod")
    _ship(c, oid, 2)
    assert c.post(f"/v1/orders/{oid}/cancel", headers=CAP).status_code == 200
    p = _payments(c, oid)["payments"][0]
    assert (p["state"], _amt(p["open"])) == ("authorized", "60.00")
    r = c.post(f"/v1/orders/{oid}/events", headers=PLAN, json={"type": "delivered", "at": "2026-01-07T09:00:00Z"})
    assert r.status_code == 200, r.text
    view = _payments(c, oid)
    p = view["payments"][0]
    assert (p["state"], _amt(p["captured"]), _amt(p["released"]), _amt(p["open"])) == ("captured", "24.00", "36.00", "0.00")
    assert (_amt(view["invoiced"]), view["status"]) == ("24.00", "paid")
    assert _amt(_statement(c, "CODPART")["open_balance"]) == "0.00"


def test_invoices_fall_due_by_the_customers_own_payment_terms(o2c):
    """Shipped and invoiced on 2026-01-05: a customer on "net 45" is due 2026-02-19 (5 + 45 - 31), one "due on
    receipt" on the issue day (without a customer master the setting's net 30 applies: the tests above)."""
    c = o2c
    for cid, terms in (("NET45", "net 45"), ("COD-TERMS", "due on receipt")):
        r = c.post("/v1/customers", headers=ADMIN, json={
            "id": cid, "name": cid, "tax_profile": "standard", "payment_terms": terms,
            "addresses": [{"id": "main", "country": "US", "kind": "both"}],
            "credit_limit": {"amount": "100000.00", "currency": "EUR"}})
        assert r.status_code == 201, r.text
    want = {}
    for cid, due in (("NET45", "2026-02-19"), ("COD-TERMS", "2026-01-05")):
        oid = _order(c, qty=1, customer=cid)
        _ship(c, oid, 1)
        want[cid] = due
    got = {}
    for cid in want:
        docs = c.get("/v1/invoices", params={"customer": cid}).json()["documents"]
        assert len(docs) == 1, (cid, docs)
        got[cid] = (docs[0]["document"]["issue_date"], docs[0]["document"]["due_date"])
    assert got == {cid: ("2026-01-05", due) for cid, due in want.items()}


# ------------------------------------------------------------------ webhooks handled in the event loop
def _card_orders(c, n):
    pids = []
    for _ in range(n):
        r = c.post("/v1/orders", headers=CAP, json={"customer": "GC", "zone": "EAST", "lines": [
            {"item": "BULK", "qty": 1, "requested_date": "2026-01-06", "location": "DC-EAST"}]})
        assert r.status_code == 201, r.text
        pids.append(_pay(c, r.json()["order_id"], "card", "1.00", token="tok_visa")["payment_id"])
    return pids


def test_webhooks_in_the_event_loop_answer_once_durable_in_one_group_commit(tmp_path, snap):
    """The same story as the threaded group commit, through ``webhook_async`` on one event loop (as the route runs it):
    30 payments captured on order, their 60 webhooks and every capture again. While the disk holds the first write,
    the loop applies all the others in memory and answers none of the captures (nor their duplicates); once the disk
    is back, the rest is written in ONE more transaction (30 orders + 30 events in all), 30 captures applied, 30
    duplicates, and a server opened again has every payment captured 1.00."""
    import asyncio

    from server import create_app

    settings = _make_settings((str(tmp_path / "gc.sqlite"), "unused"), gateway_secret=SECRET, capture_rule="on_order",
                              poll_s=0.05)
    with TestClient(create_app(settings, snapshot=snap), headers=CAP) as c:
        pids = _card_orders(c, 30)
        hub = c.app.state.engine.o2c
        hooks = hub.gateway_outbox(everything=True)
        captures = [(b, h) for b, h in hooks if b"capture.succeeded" in b]
        assert len(hooks) == 60 and len(captures) == 30
        commits = []
        put = hub.store.put_records
        hub.store.put_records = lambda recs, **kw: (commits.append(len(recs := list(recs))) if recs else None, put(recs, **kw))[1]
        sent = hooks + captures

        async def main():
            tasks = [asyncio.create_task(hub.webhook_async("gateway", b, h["Webhook-Signature"], now=time.time()))
                     for b, h in sent]
            deadline = time.monotonic() + 30
            while hub._webhooks.last() < 30 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert hub._webhooks.last() == 30  # every capture applied in memory while the first write waits
            await asyncio.sleep(0.2)
            assert not any(t.done() for t, (b, _h) in zip(tasks, sent, strict=True) if b"capture" in b)
            hub.store._wlock.release()
            return await asyncio.wait_for(asyncio.gather(*tasks), 60)

        hub.store._wlock.acquire()  # the disk is slow
        try:
            outs = asyncio.run(main())
        finally:
            if hub.store._wlock.locked():
                hub.store._wlock.release()
        hub.store.put_records = put
        applied = [o for o in outs if o.applied and not o.duplicate]
        assert len(applied) == 30 and {o.type for o in applied} == {"capture.succeeded"}
        assert sum(o.duplicate for o in outs) == 30 and len({o.event_id for o in applied}) == 30
        assert len(commits) == 2 and sum(commits) == 60  # the first write, then all the others in one
    with TestClient(create_app(settings, snapshot=snap), headers=CAP) as c:
        for pid in pids:
            p = c.get(f"/v1/payments/{pid}").json()
            assert (p["state"], _amt(p["captured"])) == ("captured", "1.00")


def test_a_webhook_in_the_event_loop_waits_in_a_thread_while_the_hub_is_busy(o2c):
    """While a command holds the hub's lock, ``webhook_async`` does not block the loop: the loop keeps running (a
    timer ticks) and the webhook, run in a worker thread, answers only after the lock is let go, with its capture
    (12.00) stored."""
    import asyncio
    import threading

    c = o2c
    oid = _order(c, qty=1, customer="BUSY")
    card = _pay(c, oid, "card", token="tok_visa")
    assert c.post(f"/v1/payments/{card['payment_id']}/capture", headers=CAP, json={}).status_code == 200
    hub = c.app.state.engine.o2c
    (body, hdr), = [(b, h) for b, h in _gateway_webhooks(c) if b"capture.succeeded" in b]
    held, let_go = threading.Event(), threading.Event()

    def command():
        with hub.lock:
            held.set()
            let_go.wait(30)

    t = threading.Thread(target=command)
    t.start()
    held.wait(30)

    async def main():
        task = asyncio.create_task(hub.webhook_async("gateway", body, hdr["Webhook-Signature"], now=time.time()))
        ticks = 0
        for _ in range(10):
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 10 and not task.done()
        let_go.set()
        return await asyncio.wait_for(task, 30)

    try:
        out = asyncio.run(main())
    finally:
        let_go.set()
        t.join()
    assert (out.applied, out.duplicate, str(out.state)) == (True, False, "captured")
    stored = hub.store.records("payments")[oid]["payments"][0]
    assert (stored["state"], stored["captured"]["amount"]) == ("captured", "12.00")


def test_a_webhook_in_the_event_loop_whose_write_fails_answers_the_error(o2c):
    """The disk fails once under ``webhook_async``: the webhook answers the error; the same delivery again is a
    duplicate of the applied capture, stored captured 12.00 (written again with the next batch)."""
    import asyncio
    import sqlite3

    c = o2c
    oid = _order(c, qty=1, customer="DISK")
    card = _pay(c, oid, "card", token="tok_visa")
    assert c.post(f"/v1/payments/{card['payment_id']}/capture", headers=CAP, json={}).status_code == 200
    hub = c.app.state.engine.o2c
    (body, hdr), = [(b, h) for b, h in _gateway_webhooks(c) if b"capture.succeeded" in b]
    put, failed = hub.store.put_records, []

    def flaky(recs, **kw):
        if not failed:
            failed.append(1)
            raise sqlite3.OperationalError("disk I/O error")
        return put(recs, **kw)

    hub.store.put_records = flaky
    try:
        with pytest.raises(sqlite3.OperationalError):
            asyncio.run(hub.webhook_async("gateway", body, hdr["Webhook-Signature"], now=time.time()))
        again = asyncio.run(hub.webhook_async("gateway", body, hdr["Webhook-Signature"], now=time.time()))
    finally:
        hub.store.put_records = put
    assert (again.applied, again.duplicate) == (True, True)
    stored = hub.store.records("payments")[oid]["payments"][0]
    assert (stored["state"], stored["captured"]["amount"]) == ("captured", "12.00")


def test_the_webhook_answer_is_the_webhook_public_model():
    """The route encodes its answer itself: the same JSON as ``WebhookPublic`` (fields, order, nulls, states)."""
    from api.routes.payments import WebhookPublic, webhook_body
    from payments.book import WebhookOutcome
    from payments.model import PaymentState

    for out in (WebhookOutcome("evt_1", "capture.succeeded", True, payment_id="PAY0000001", state=PaymentState.CAPTURED),
                WebhookOutcome("evt_2", "payment.authorized", False, note="unknown payment_ref 'x\"y'"),
                WebhookOutcome("evt_3", "refund.failed", True, duplicate=True, payment_id="P", state=PaymentState.REFUNDED)):
        model = WebhookPublic(event_id=out.event_id, type=out.type, applied=out.applied, duplicate=out.duplicate,
                              payment_id=out.payment_id, state=str(out.state) if out.state is not None else None,
                              note=out.note)
        assert json.loads(webhook_body(out)) == model.model_dump(mode="json")
        assert list(json.loads(webhook_body(out))) == list(WebhookPublic.model_fields)
