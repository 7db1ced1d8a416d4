"""Channel accruals from shipped and returned lines, through HTTP, with hand-computed amounts.

ACME runs two programs on WIDGET (catalogue price 10.00, unit cost 4.00) in 2026:
- ACME-ALLOW: a promotional allowance of 0.50 per unit, for everyone;
- ACME-SD: ship-and-debit for BIGCO only: special cost 3.00 (earns 4.00 - 3.00 = 1.00 a unit) when sold at
  or below 12.00.
BIGCO buys 10 and SMALL buys 4, both shipped on 2026-01-06; BIGCO sends 2 back on 2026-01-08.
Accrued: BIGCO 10 x 0.50 + 10 x 1.00 = 15.00, SMALL 4 x 0.50 = 2.00, the return reverses 2 x 0.50 + 2 x 1.00
= 3.00: 14.00 to claim from ACME for January, paid in full.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from .conftest import ADMIN, CAP, PLAN, VIEW, _make_settings

PROGRAMS = [
    {"program": "ACME-ALLOW", "supplier": "ACME", "kind": "allowance", "currency": "EUR", "valid_from": "2026-01-01",
     "valid_to": "2026-12-31", "items": ["WIDGET"], "rate_kind": "per_unit", "rate": "0.50"},
    {"program": "ACME-SD", "supplier": "ACME", "kind": "ship_and_debit", "currency": "EUR", "valid_from": "2026-01-01",
     "valid_to": "2026-12-31", "items": ["WIDGET"], "customers": ["BIGCO"], "special_cost": "3.00", "agreed_price": "12.00"},
]


@pytest.fixture
def c(tmp_path, snap):
    from server import create_app

    settings = _make_settings((str(tmp_path / "ob.sqlite"), "unused"), poll_s=0.05)
    with TestClient(create_app(settings, snapshot=snap), headers=VIEW) as client:
        yield client


def _ship_order(c, customer, qty):
    r = c.post("/v1/orders", headers=CAP, json={"customer": customer, "zone": "EAST", "lines": [
        {"item": "WIDGET", "qty": qty, "requested_date": "2026-01-06", "location": "DC-EAST"}]})
    assert r.status_code == 201, r.text
    oid = r.json()["order_id"]
    r = c.post(f"/v1/orders/{oid}/events", headers=PLAN, json={"type": "shipped", "at": "2026-01-06T10:00:00Z"})
    assert r.status_code == 200, r.text
    return oid


def _accrued(c, **params):
    data = c.get("/v1/channel/accruals", params=params).json()["data"]
    return sorted((a["program"], a["kind"], a["qty"], a["amount"]["amount"]) for a in data)


def test_shipped_and_returned_lines_accrue_and_are_claimed(c):
    bad = c.post("/v1/channel/programs", headers=PLAN, json={"programs": [{**PROGRAMS[0], "rate": "-1"}]})
    assert bad.status_code == 422 and "rate" in str(bad.json()["detail"][0]["loc"])
    assert c.post("/v1/channel/programs", headers=VIEW, json={"programs": PROGRAMS}).status_code == 403
    r = c.post("/v1/channel/programs", headers=PLAN, json={"programs": PROGRAMS})
    assert r.status_code == 201 and r.json()["count"] == 2
    assert [p["program"] for p in c.get("/v1/channel/programs").json()["data"]] == ["ACME-ALLOW", "ACME-SD"]

    big = _ship_order(c, "BIGCO", 10)
    small = _ship_order(c, "SMALL", 4)
    assert _accrued(c, order=big) == [("ACME-ALLOW", "accrual", "10", "5.00"), ("ACME-SD", "accrual", "10", "10.00")]
    assert _accrued(c, order=small) == [("ACME-ALLOW", "accrual", "4", "2.00")]  # not authorized for ship-and-debit

    rma = c.post(f"/v1/orders/{big}/returns", headers=CAP, json={"line": 1, "qty": 2, "reason": "defective",
                                                                "condition": "defective"}).json()
    r = c.post(f"/v1/returns/{rma['rma_id']}/receive", headers=PLAN, json={"location": "DC-EAST", "date": "2026-01-08"})
    assert r.status_code == 200, r.text
    assert r.json()["receipts"][0]["sellable"] is False  # defective goods do not go back to supply
    assert _accrued(c, order=big) == [("ACME-ALLOW", "accrual", "10", "5.00"), ("ACME-ALLOW", "reversal", "-2", "-1.00"),
                                      ("ACME-SD", "accrual", "10", "10.00"), ("ACME-SD", "reversal", "-2", "-2.00")]

    claims = c.post("/v1/channel/claims", headers=PLAN, json={"supplier": "ACME", "period_start": "2026-01-01",
                                                              "period_end": "2026-01-31"})
    assert claims.status_code == 201
    (claim,) = claims.json()["data"]
    assert (claim["status"], claim["total"]["amount"], len(claim["lines"])) == ("draft", "14.00", 5)
    cid = claim["claim"]
    csv = c.get(f"/v1/channel/claims/{cid}", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.count("\n") >= 6
    assert c.post(f"/v1/channel/claims/{cid}/status", headers=PLAN, json={"status": "settled"}).status_code == 409  # draft
    assert c.post(f"/v1/channel/claims/{cid}/status", headers=PLAN, json={"status": "submitted"}).json()["status"] == "submitted"
    paid = c.post(f"/v1/channel/claims/{cid}/receipts", headers=PLAN, json={"amount": "14.00", "ref": "ACME-PAY-1"}).json()
    assert (paid["status"], paid["received"]["amount"], paid["open"]["amount"]) == ("settled", "14.00", "0.00")
    rows = c.get("/v1/channel/reports", params={"by": "supplier"}).json()["data"]
    assert [(r["supplier"], *(Decimal(r[k]) for k in ("accrued", "claimed", "received", "open"))) for r in rows] == [
        ("ACME", Decimal("14"), Decimal("14"), Decimal("14"), Decimal("0"))]
    assert c.get("/v1/channel/aging").json()["count"] == 0  # nothing open
    assert c.get("/v1/channel/accruals", headers=ADMIN).status_code == 200
