"""An order's margin with expected program income, through HTTP, with hand-computed amounts.

The snapshot (tests/server/conftest.py): WIDGET lists at 10.00 and costs 4.00, GADGET lists at 1000.00 and costs
400.00; no tax; business day 2026-01-05. ACME runs two programs in 2026:
- ACME-ALLOW: a promotional allowance of 0.50 per unit of WIDGET or GADGET, for everyone;
- ACME-SD: ship-and-debit on WIDGET for BIGCO only: special cost 3.00, so a unit earns 4.00 - 3.00 = 1.00 when
  sold at or below 12.00.

BIGCO orders 10 WIDGET and 2 GADGET:
  line 1: net 100.00, cost 10 x 4.00 = 40.00, gross margin 60.00; income 10 x 0.50 = 5.00 + 10 x 1.00 = 10.00 = 15.00;
          margin 75.00
  line 2: net 2000.00, cost 2 x 400.00 = 800.00, gross margin 1200.00; income 2 x 0.50 = 1.00; margin 1201.00
  order:  net 2100.00, cost 840.00, gross margin 1260.00, income 16.00, margin 1276.00
Before shipment all of it is quoted (as if shipped on 2026-01-05); once line 1 ships, its 15.00 is accrued (the
ledger's records) and line 2's 1.00 is still quoted; a return of 2 reverses 3.00 of it. SMALL, not authorized for the ship-and-debit, orders the
same: income 5.00 + 1.00 = 6.00, margin 1266.00.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .conftest import CAP, PLAN, SHIP, VIEW, _make_settings
from .test_channel_http import PROGRAMS as _BASE

PROGRAMS = [{**_BASE[0], "items": ["WIDGET", "GADGET"]}, _BASE[1]]


@pytest.fixture
def c(tmp_path, snap):
    from server import create_app

    settings = _make_settings((str(tmp_path / "ob.sqlite"), "unused"), poll_s=0.05)
    with TestClient(create_app(settings, snapshot=snap), headers=VIEW) as client:
        r = client.post("/v1/channel/programs", headers=PLAN, json={"programs": PROGRAMS})
        assert r.status_code == 201, r.text
        yield client


def _order(c, customer):
    r = c.post("/v1/orders", headers=CAP, json={"customer": customer, "zone": "EAST", "lines": [
        {"item": "WIDGET", "qty": 10, "requested_date": "2026-01-06", "location": "DC-EAST"},
        {"item": "GADGET", "qty": 2, "requested_date": "2026-01-06", "location": "DC-EAST"}]})
    assert r.status_code == 201, r.text
    return r.json()["order_id"]


def _amt(m):
    assert m["currency"] == "EUR"
    return m["amount"]


def _programs(ln):
    return [(p["program"], p["accrued_qty"], _amt(p["accrued"]), p["quoted_qty"], _amt(p["quoted"]), _amt(p["total"]))
            for p in ln["programs"]]


def _figures(x):
    return tuple(_amt(x[k]) for k in ("net", "cost", "gross_margin", "program_income", "margin"))


def test_margin_quotes_unshipped_lines_and_accrues_shipped_ones(c):
    oid = _order(c, "BIGCO")
    r = c.get(f"/v1/orders/{oid}/margin")
    assert r.status_code == 200, r.text
    m = r.json()
    assert (m["order_id"], m["customer"], m["currency"], m["on"], m["version"]) == (oid, "BIGCO", "EUR", "2026-01-05", 1)
    l1, l2 = m["lines"]
    # the stored waterfall, as captured
    wf = l1["waterfall"]
    assert (wf["price_list"], _amt(wf["unit_list_price"]), _amt(wf["list_amount"]), wf["adjustments"],
            _amt(wf["net"]), _amt(wf["tax"]), _amt(wf["total"])) == ("catalogue@1", "10.00", "100.00", [], "100.00",
                                                                         "0.00", "100.00")
    assert (l1["qty"], l1["shipped_qty"], l1["open_qty"], l1["supplier"], _amt(l1["unit_cost"])) == ("10", "0", "10", "ACME", "4")
    assert _figures(l1) == ("100.00", "40.00", "60.00", "15.00", "75.00")
    assert _programs(l1) == [("ACME-ALLOW", "0", "0.00", "10", "5.00", "5.00"), ("ACME-SD", "0", "0.00", "10", "10.00", "10.00")]
    assert _figures(l2) == ("2000.00", "800.00", "1200.00", "1.00", "1201.00")
    assert _programs(l2) == [("ACME-ALLOW", "0", "0.00", "2", "1.00", "1.00")]
    assert _figures(m) == ("2100.00", "840.00", "1260.00", "16.00", "1276.00")
    assert (_amt(m["tax"]), _amt(m["total"])) == ("0.00", "2100.00")
    assert [(p["program"], p["kind"], _amt(p["accrued"]), _amt(p["quoted"]), _amt(p["total"])) for p in m["programs"]] == [
        ("ACME-ALLOW", "allowance", "0.00", "6.00", "6.00"), ("ACME-SD", "ship_and_debit", "0.00", "10.00", "10.00")]
    assert c.get("/v1/channel/accruals", params={"order": oid}).json()["count"] == 0  # a quote records nothing

    # line 1 ships: its income is now the ledger's accruals; line 2's is still quoted
    r = c.post(f"/v1/orders/{oid}/events", headers=SHIP, json={"type": "shipped", "lines": [{"line": 1, "qty": 10}],
                                                               "at": "2026-01-06T10:00:00Z"})
    assert r.status_code == 200, r.text
    m = c.get(f"/v1/orders/{oid}/margin").json()
    l1, l2 = m["lines"]
    assert (l1["shipped_qty"], l1["open_qty"], m["version"]) == ("10", "0", 2)
    assert _programs(l1) == [("ACME-ALLOW", "10", "5.00", "0", "0.00", "5.00"), ("ACME-SD", "10", "10.00", "0", "0.00", "10.00")]
    assert _figures(l1) == ("100.00", "40.00", "60.00", "15.00", "75.00")
    assert _programs(l2) == [("ACME-ALLOW", "0", "0.00", "2", "1.00", "1.00")]
    assert _figures(m) == ("2100.00", "840.00", "1260.00", "16.00", "1276.00")
    assert [(p["program"], _amt(p["accrued"]), _amt(p["quoted"])) for p in m["programs"]] == [
        ("ACME-ALLOW", "5.00", "1.00"), ("ACME-SD", "10.00", "0.00")]
    acc = c.get("/v1/channel/accruals", params={"order": oid}).json()["data"]
    assert sorted((a["program"], a["amount"]["amount"]) for a in acc) == [("ACME-ALLOW", "5.00"), ("ACME-SD", "10.00")]

    # 2 of line 1 come back: the ledger reverses 2 x 0.50 + 2 x 1.00 = 3.00; the line's net stays the waterfall's
    # (the refund is a credit note): income 12.00 + 1.00 = 13.00, margin 1273.00
    rma = c.post(f"/v1/orders/{oid}/returns", headers=CAP, json={"line": 1, "qty": 2, "reason": "defective",
                                                                "condition": "defective"}).json()
    r = c.post(f"/v1/returns/{rma['rma_id']}/receive", headers=PLAN, json={"location": "DC-EAST", "date": "2026-01-08"})
    assert r.status_code == 200, r.text
    m = c.get(f"/v1/orders/{oid}/margin").json()
    assert _programs(m["lines"][0]) == [("ACME-ALLOW", "8", "4.00", "0", "0.00", "4.00"), ("ACME-SD", "8", "8.00", "0", "0.00", "8.00")]
    assert _figures(m) == ("2100.00", "840.00", "1260.00", "13.00", "1273.00")


def test_a_customer_not_authorized_for_ship_and_debit_gets_no_such_income(c):
    oid = _order(c, "SMALL")
    m = c.get(f"/v1/orders/{oid}/margin").json()
    l1, l2 = m["lines"]
    assert _programs(l1) == [("ACME-ALLOW", "0", "0.00", "10", "5.00", "5.00")]
    assert _figures(l1) == ("100.00", "40.00", "60.00", "5.00", "65.00")
    assert _figures(m) == ("2100.00", "840.00", "1260.00", "6.00", "1266.00")
    assert [p["program"] for p in m["programs"]] == ["ACME-ALLOW"]
    c.post(f"/v1/orders/{oid}/events", headers=SHIP, json={"type": "shipped", "at": "2026-01-06T10:00:00Z"})
    m = c.get(f"/v1/orders/{oid}/margin").json()
    assert [(p["program"], _amt(p["accrued"]), _amt(p["quoted"])) for p in m["programs"]] == [("ACME-ALLOW", "6.00", "0.00")]
    assert _figures(m) == ("2100.00", "840.00", "1260.00", "6.00", "1266.00")


def test_margin_access_not_found_and_etag(c):
    oid = _order(c, "BIGCO")
    url = f"/v1/orders/{oid}/margin"
    anon = TestClient(c.app)
    assert anon.get(url).status_code == 401
    assert c.get(url, headers={"X-API-Key": "nope"}).status_code == 401
    for headers in (CAP, SHIP):  # costs and supplier income are channel data: channel:read, as /v1/channel/accruals
        r = c.get(url, headers=headers)
        assert r.status_code == 403 and "channel:read" in r.text, r.text
    assert c.get(url, headers=PLAN).status_code == 200
    r = c.get("/v1/orders/SO-nope/margin")
    assert r.status_code == 404 and "SO-nope" in r.text
    r = c.get(url)
    tag = r.headers["ETag"]
    assert c.get(url, headers={"If-None-Match": tag}).status_code == 304
    c.post(f"/v1/orders/{oid}/events", headers=SHIP, json={"type": "shipped", "lines": [{"line": 2, "qty": 1}]})
    r = c.get(url, headers={"If-None-Match": tag})
    assert r.status_code == 200 and r.headers["ETag"] != tag
    spec = c.get("/openapi.json").json()["paths"]["/v1/orders/{order_id}/margin"]["get"]
    assert {"200", "304", "401", "403", "404"} <= set(spec["responses"])
