"""Priced orders over HTTP: customer price lists and promotions, credit holds, trade-compliance holds,
catalogue changes and a restart that keeps what was posted.

The story (supply: conftest.py; business day 2026-01-05, the snapshot's as_of):
- the rules directory holds the price list GOLD@1 (EUR, from 2026-01-01: WIDGET 8.00, GADGET 900.00), assigned
  to the segment ``gold``; the promotion WINTER@1 (10 % off WIDGET, stackable, January 2026); German VAT 19 %.
  Everyone else pays the catalogue price (WIDGET 10.00, GADGET 1000.00) from the snapshot's items table.
- the customer file: C-ACME (segment gold, ships to Hamburg DE, credit limit 2,000.00 EUR), C-SMALL (no
  segment, ships to DE, credit limit 150.00 EUR), C-LATE (blocked: overdue invoices).
- the denied-party list names "Oceanic Shadow Trading LLC" (DP-001); North Korea (KP) is embargoed for everything.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import CAP, KEYS, PLAN, VIEW

D1 = "2026-01-06"
PRICE_LISTS = """price_lists:
  - id: GOLD
    version: 1
    currency: EUR
    valid_from: 2026-01-01
    entries:
      - {item: WIDGET, unit_price: 8.00}
      - {item: GADGET, unit_price: 900.00}
"""
RULES = """rules:
  - {id: WINTER, kind: percent, value: 10, items: [WIDGET], stacking: stackable, precedence: 10,
     valid_from: 2026-01-01, valid_to: 2026-01-31, description: winter promotion}
"""
TAX = "country,region,tax_category,rate,valid_from,valid_to\nDE,,standard,0.19,2026-01-01,\nKP,,standard,0.10,2026-01-01,\n"
ASSIGN = "kind,key,price_list\nsegment,gold,GOLD\n"
CUSTOMERS = (
    "id,name,segments,channel,price_list,tax_profile,credit_limit,currency,payment_terms,blocked,blocked_reason,country,"
    "region,address_name,line1,line2,city,postal_code,contact_name,contact_email,contact_phone\n"
    "C-ACME,Acme Office GmbH,gold,b2b,,standard,2000.00,EUR,net 30,false,,DE,,Acme Office GmbH,Hafenstrasse 1,,Hamburg,"
    "20457,,,\n"
    "C-SMALL,Small Shop,,web,,standard,150.00,EUR,prepaid,false,,DE,,,Lindenweg 4,,Berlin,10115,,,\n"
    "C-LATE,Slow Payer Ltd,,b2b,,standard,2000.00,EUR,net 30,true,overdue invoices,DE,,,,,,,,,\n")
DENIED = ("entry_id,list,name,aliases,country,address,reason\n"
          "DP-001,Sample Consolidated List,Oceanic Shadow Trading LLC,OST LLC,AE,12 Harbour Road Dubai,diversion\n")
EMBARGOES = "country,region,item_class,list,reason\nKP,,*,Sample Embargo,comprehensive embargo\n"


@pytest.fixture
def priced(tmp_path, snap, make_settings):
    """make() -> a TestClient over one SQLite order book with the rules, customers and lists above (call again
    after closing the first: a restart)."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "price_lists.yaml").write_text(PRICE_LISTS)
    (rules / "rules.yaml").write_text(RULES)
    (rules / "tax_rates.csv").write_text(TAX)
    (rules / "assignments.csv").write_text(ASSIGN)
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "denied.csv").write_text(DENIED)
    (tmp_path / "embargoes.csv").write_text(EMBARGOES)
    db = str(tmp_path / "ob.sqlite")

    def make():
        from server import create_app

        settings = make_settings((db, "unused"), rules_dir=rules, customers=tmp_path / "customers.csv",
                                 denied_parties=tmp_path / "denied.csv", embargoes=tmp_path / "embargoes.csv")
        return TestClient(create_app(settings, snapshot=snap), headers=VIEW)

    return make


def capture(c, customer, lines, *, ship_to=None, headers=CAP, status=201, **kw):
    body = {"customer": customer, "zone": "EAST", "lines": lines, **kw}
    if ship_to is not None:
        body["ship_to"] = ship_to
    r = c.post("/v1/orders", json=body, headers=headers)
    assert r.status_code == status, r.text
    return r.json()


def widget(qty, **kw):
    return {"item": "WIDGET", "qty": qty, "requested_date": D1, **kw}


def money(amount, cur="EUR"):
    return {"amount": amount, "currency": cur}


def test_capture_with_the_customer_price_list_and_a_promotion(priced):
    with priced() as c:
        o = capture(c, "C-ACME", [widget(10)])
        assert o["status"] == "scheduled" and o["hold_reasons"] == []
        wf = o["lines"][0]["waterfall"]
        # 10 x 8.00 = 80.00 from GOLD@1; WINTER@1 takes 10 % = 8.00; net 72.00; VAT 19 % of 72.00 = 13.68
        assert wf["price_list"] == "GOLD@1" and wf["unit_list_price"] == money("8.00")
        assert wf["list_amount"] == money("80.00")
        assert [(a["kind"], a["rule"], a["amount"]) for a in wf["adjustments"]] == [("rule", "WINTER@1", money("-8.00"))]
        assert (wf["net"], wf["tax_rate"], wf["tax_rule"], wf["tax"], wf["total"]) == (
            money("72.00"), "0.19", "tax:DE:standard", money("13.68"), money("85.68"))
        assert o["value"] == money("72.00")
        assert o["totals"] == {"currency": "EUR", "on": "2026-01-05", "net": money("72.00"), "tax": money("13.68"),
                               "total": money("85.68"), "frozen": True}
        assert o["ship_country"] == "DE"  # from the customer's ship-to address
        # a customer without a list pays the catalogue price (the snapshot's 10, exact): 3 x 10.00 less WINTER 3.00
        small = capture(c, "C-SMALL", [widget(3)])
        wf = small["lines"][0]["waterfall"]
        assert (wf["price_list"], wf["list_amount"], wf["net"], wf["total"]) == (
            "catalogue@1", money("30.00"), money("27.00"), money("32.13"))
        # the same waterfall is stored: a read gives it back
        assert c.get(f"/v1/orders/{o['order_id']}").json()["lines"][0]["waterfall"] == o["lines"][0]["waterfall"]


def test_a_tax_rule_missing_for_the_destination_is_refused_with_the_field(priced):
    with priced() as c:
        r = c.post("/v1/orders", json={"customer": "C-ACME", "zone": "EAST", "lines": [widget(1)],
                                       "ship_to": {"country": "FR", "city": "Paris"}}, headers=CAP)
        assert r.status_code == 422
        d = r.json()["detail"][0]
        assert d["loc"] == ["ship_to", "country"] and d["input"] == "FR"
        r = c.post("/v1/orders", json={"customer": "C-ACME", "zone": "EAST", "lines": [widget(1)],
                                       "ship_to": {"country": "Deutschland"}}, headers=CAP)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["ship_to", "country"]


def test_credit_hold_then_release_with_a_reason(priced):
    with priced() as c:
        first = capture(c, "C-SMALL", [widget(5)])  # 5 x 10.00 - 10 % = 45.00 + 8.55 VAT = 53.55
        assert first["status"] == "scheduled" and first["totals"]["total"] == money("53.55")
        o = capture(c, "C-SMALL", [widget(9)])  # 90.00 - 9.00 = 81.00 + 15.39 = 96.39; 53.55 + 96.39 = 149.94 <= 150
        assert o["status"] == "scheduled"
        o = capture(c, "C-SMALL", [widget(1)])  # 9.00 + 1.71 = 10.71; exposure 160.65 > 150.00 by 10.65
        assert o["status"] == "on_hold"
        (hold,) = o["holds"]
        assert hold["code"] == "credit_limit"
        assert hold["figures"] == {"credit_limit": money("150.00"), "open_orders": money("149.94"),
                                   "this_order": money("10.71"), "exposure": money("160.65"), "exceeded_by": money("10.65")}
        oid = o["order_id"]
        # a planner releases it, but only with a reason
        r = c.post(f"/v1/orders/{oid}/approve", headers=PLAN)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["note"]
        r = c.post(f"/v1/orders/{oid}/approve", json={"note": "prepayment received"}, headers=PLAN)
        assert r.status_code == 200 and r.json()["status"] == "scheduled" and r.json()["holds"] == []
        trail = c.get(f"/v1/orders/{oid}/audit").json()["data"]
        assert trail[-1]["action"] == "approve" and trail[-1]["actor"].startswith("planner:")
        assert trail[-1]["detail"]["note"] == "prepayment received"
        assert trail[-1]["detail"]["holds"][0]["code"] == "credit_limit"
        # a change that raises the exposure holds it again; unknown and blocked customers hold too
        r = c.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 1, "qty": 2}]}, headers=CAP).json()
        assert r["status"] == "on_hold" and r["holds"][0]["code"] == "credit_limit"
        assert capture(c, "C-NOBODY", [widget(1)], ship_to={"country": "DE"})["holds"][0]["code"] == "unknown_customer"
        late = capture(c, "C-LATE", [widget(1)])
        assert late["holds"][0]["code"] == "blocked_customer" and "overdue invoices" in late["hold_reasons"][0]
        r = c.post(f"/v1/orders/{late['order_id']}/reject", json={"note": "collect the overdue invoices first"},
                   headers=PLAN)
        assert r.status_code == 200 and r.json()["status"] == "cancelled"


def test_compliance_hold_names_the_entry_and_the_score_and_a_planner_releases_it(priced):
    with priced() as c:
        o = capture(c, "C-ACME", [widget(1)], ship_to={"name": "Oceanic Shadow Trading L.L.C.", "country": "DE"})
        assert o["status"] == "on_hold"
        (hold,) = o["holds"]
        assert hold["code"] == "compliance"
        (hit,) = hold["hits"]
        assert (hit["kind"], hit["subject"], hit["entry"], hit["list"], hit["score"]) == (
            "denied_party", "ship_to", "DP-001", "Sample Consolidated List", 100.0)
        assert "DP-001" in o["hold_reasons"][0] and "score 100" in o["hold_reasons"][0]
        r = c.post(f"/v1/orders/{o['order_id']}/approve", json={"note": "different company, checked the register"},
                   headers=PLAN)
        assert r.status_code == 200 and r.json()["status"] == "scheduled"
        assert r.json()["approval"]["by"].startswith("planner:")
        # an embargoed destination holds too, naming the embargo; rejected with a reason, the supply is released
        o = capture(c, "C-ACME", [widget(1)], ship_to={"country": "KP", "city": "Pyongyang"})
        assert o["status"] == "on_hold"
        (hit,) = o["holds"][0]["hits"]
        assert (hit["kind"], hit["subject"], hit["entry"], hit["score"]) == ("embargo", "ship_to", "Sample Embargo:KP:*", 100.0)
        assert c.post(f"/v1/orders/{o['order_id']}/reject", headers=PLAN).status_code == 422  # a reason is needed
        r = c.post(f"/v1/orders/{o['order_id']}/reject", json={"note": "embargoed destination"}, headers=PLAN)
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        trail = c.get(f"/v1/orders/{o['order_id']}/audit").json()["data"]
        assert trail[-1]["action"] == "reject" and trail[-1]["detail"]["note"] == "embargoed destination"
        assert trail[-1]["detail"]["holds"][0]["hits"][0]["entry"] == "Sample Embargo:KP:*"


def test_a_catalogue_change_prices_the_next_order(priced):
    with priced() as c:
        before = capture(c, "C-SMALL", [widget(1)])
        assert before["lines"][0]["waterfall"]["unit_list_price"] == money("10.00")
        body = {"changes": [{"id": "CH-1", "kind": "price_change", "item": "WIDGET", "price": "12.50", "currency": "EUR"},
                            {"id": "CH-2", "kind": "new_item", "item": "STOOL", "price": "39.00", "currency": "EUR",
                             "category": "chairs"}]}
        assert c.post("/v1/catalogue/changes", json=body, headers=CAP).status_code == 403  # planners maintain it
        r = c.post("/v1/catalogue/changes", json=body, headers=PLAN)
        assert r.status_code == 200 and r.json()["applied"] == 2
        after = capture(c, "C-SMALL", [widget(1)])  # 12.50 - 10 % = 11.25 (half up from 1.25 off) + 2.14 VAT
        wf = after["lines"][0]["waterfall"]
        assert (wf["unit_list_price"], wf["net"], wf["tax"], wf["total"]) == (
            money("12.50"), money("11.25"), money("2.14"), money("13.39"))
        # the order captured before keeps its price; the new item is quoted (it has no supply yet)
        assert c.get(f"/v1/orders/{before['order_id']}").json()["lines"][0]["waterfall"]["net"] == money("9.00")
        q = c.post("/v1/pricing/quote", json={"customer": "C-SMALL", "lines": [{"item": "STOOL", "qty": 2}]}).json()
        assert (q["lines"][0]["list_amount"], q["total"]) == (money("78.00"), money("92.82"))
        item = c.get("/v1/catalogue/items/STOOL").json()
        assert item["price"] == money("39.00") and item["in_supply_snapshot"] is False
        # the same change id again is a conflict; a bad change names its field and value
        assert c.post("/v1/catalogue/changes", json=body, headers=PLAN).status_code == 409
        r = c.post("/v1/catalogue/changes", json={"changes": [{"id": "CH-3", "kind": "price_change", "item": "WIDGET",
                                                               "price": "-1", "currency": "EUR"}]}, headers=PLAN)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["changes", 0, "price"]


def test_rules_posted_through_the_api_are_versioned_and_validated(priced):
    with priced() as c:
        rule = {"id": "WINTER", "version": 2, "kind": "percent", "value": "20", "items": ["WIDGET"],
                "stacking": "stackable", "precedence": 10, "valid_from": "2026-01-05", "valid_to": "2026-01-31"}
        r = c.post("/v1/pricing/rules", json=rule, headers=PLAN)
        assert r.status_code == 201 and r.json()["ref"] == "WINTER@2"
        assert c.post("/v1/pricing/rules", json=rule, headers=PLAN).status_code == 409  # the same version twice
        bad = {**rule, "version": 3, "value": "150"}
        r = c.post("/v1/pricing/rules", json=bad, headers=PLAN)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["value"]
        o = capture(c, "C-ACME", [widget(10)])  # WINTER@2 in force from today: 80.00 - 20 % = 64.00
        wf = o["lines"][0]["waterfall"]
        assert [(a["rule"], a["amount"]) for a in wf["adjustments"]] == [("WINTER@2", money("-16.00"))]
        listed = c.get("/v1/pricing/rules").json()["data"]
        assert [(x["ref"], x["source"]) for x in listed] == [("WINTER@1", "file"), ("WINTER@2", "api")]
        assert c.post("/v1/pricing/rules", json={**rule, "version": 4}, headers=VIEW).status_code == 403


def test_manual_adjustment_with_a_reason_holds_for_approval(priced):
    with priced() as c:
        o = capture(c, "C-ACME", [widget(10)],
                    manual_adjustments=[{"line": 1, "kind": "percent_off", "value": "5", "reason": "damaged box"}])
        assert o["status"] == "on_hold" and o["holds"][0]["code"] == "manual_adjustment"
        wf = o["lines"][0]["waterfall"]
        # 80.00 - 8.00 (WINTER) = 72.00; 5 % of 72.00 = 3.60 -> 68.40; VAT 13.00 (12.996 half up)
        assert [(a["kind"], a["amount"]) for a in wf["adjustments"]] == [("rule", money("-8.00")), ("manual", money("-3.60"))]
        assert (wf["net"], wf["tax"], wf["total"]) == (money("68.40"), money("13.00"), money("81.40"))
        r = c.post(f"/v1/orders/{o['order_id']}/approve", headers=PLAN)  # approval rules need no note
        assert r.status_code == 200 and r.json()["status"] == "scheduled"


def test_a_confirmed_price_is_frozen_and_a_changed_line_is_priced_on_its_day(priced):
    with priced() as c:
        o = capture(c, "C-ACME", [widget(10), {"item": "GADGET", "qty": 1, "requested_date": D1}])
        assert o["totals"]["frozen"] is True
        g_before = o["lines"][1]["waterfall"]
        # a rule posted later, in force from the order's pricing day, does not touch the frozen lines
        c.post("/v1/pricing/rules", json={"id": "GADGETS", "version": 1, "kind": "amount_off", "value": "100",
                                          "currency": "EUR", "items": ["GADGET", "WIDGET"], "stacking": "stackable",
                                          "precedence": 20, "valid_from": "2026-01-01"}, headers=PLAN)
        r = c.patch(f"/v1/orders/{o['order_id']}", json={"lines": [{"line": 1, "qty": 5}]}, headers=CAP).json()
        assert r["lines"][1]["waterfall"] == g_before  # untouched: frozen
        w = r["lines"][0]["waterfall"]  # changed: priced again (5 x 8.00 = 40.00 - 4.00 WINTER - 36.00 GADGETS = 0.00)
        assert w["list_amount"] == money("40.00") and w["net"] == money("0.00")
        assert r["totals"]["net"] == money("900.00") and r["totals"]["total"] == money("1071.00")


def test_a_restart_keeps_customers_rules_and_catalogue_changes(priced):
    with priced() as c:
        r = c.post("/v1/customers", json={"id": "C-NEW", "name": "New Customer AG", "segments": ["gold"],
                                          "addresses": [{"id": "a", "country": "DE", "city": "Köln"}],
                                          "credit_limit": {"amount": "500.00", "currency": "EUR"}}, headers=CAP)
        assert r.status_code == 201 and r.headers["Location"] == "/v1/customers/C-NEW"
        r = c.post("/v1/customers", json={"id": "C-BAD", "name": "x", "addresses": [{"id": "a", "country": "Germany"}]},
                   headers=CAP)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["addresses", 0, "country"]
        assert c.patch("/v1/customers/C-SMALL", json={"blocked": True, "blocked_reason": "fraud check"},
                       headers=CAP).status_code == 200
        assert c.post("/v1/pricing/rules", json={"id": "NEWYEAR", "version": 1, "kind": "amount_off", "value": "1",
                                                 "currency": "EUR", "items": ["WIDGET"], "stacking": "stackable",
                                                 "precedence": 30, "valid_from": "2026-01-01"}, headers=PLAN).status_code == 201
        assert c.post("/v1/catalogue/changes", json={"changes": [{"id": "CH-9", "kind": "price_change", "item": "WIDGET",
                                                                  "price": "9.00", "currency": "EUR"}]},
                      headers=PLAN).status_code == 200
    with priced() as c:  # restart on the same order book
        assert c.get("/v1/customers/C-NEW").json()["credit_limit"] == money("500.00")
        assert c.get("/v1/customers/C-SMALL").json()["blocked"] is True
        o = capture(c, "C-NEW", [widget(2)])  # GOLD 16.00 - WINTER 1.60 - NEWYEAR 2.00 = 12.40
        assert [a["rule"] for a in o["lines"][0]["waterfall"]["adjustments"]] == ["WINTER@1", "NEWYEAR@1"]
        assert o["value"] == money("12.40")
        small = capture(c, "C-SMALL", [widget(1)])
        assert small["holds"][0]["code"] == "blocked_customer"
        assert small["lines"][0]["waterfall"]["unit_list_price"] == money("9.00")  # the catalogue change, replayed


def test_import_customers_refuses_a_bad_row_by_field(priced):
    with priced() as c:
        r = c.post("/v1/customers/import", json={"customers": [{"id": "A1", "name": "A"},
                                                                {"id": "A2", "name": "B", "tax_profile": "free"}]},
                   headers=CAP)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["customers", 1, "tax_profile"]
        assert c.get("/v1/customers/A1").status_code == 404  # all or nothing
        r = c.post("/v1/customers/import/csv", content=CUSTOMERS.replace("C-ACME", "C-ACME2"),
                   headers={**CAP, "Content-Type": "text/csv"})
        assert r.status_code == 200 and r.json() == {"imported": 3, "created": 1, "replaced": 2}


def test_without_a_customer_master_there_is_no_customer_check(client):
    o = client.post("/v1/orders", json={"customer": "C1", "zone": "EAST", "lines": [widget(3)]}, headers=CAP).json()
    assert o["status"] == "scheduled" and o["holds"] == []
    wf = o["lines"][0]["waterfall"]  # catalogue price, no tax rates configured: no tax
    assert (wf["price_list"], wf["net"], wf["tax"], wf["tax_rule"]) == ("catalogue@1", money("30.00"), money("0.00"),
                                                                         "tax:exempt")
    assert client.get("/v1/customers").json()["configured"] is False
    assert set(KEYS) >= {"cap-key"}


def test_master_data_writes_are_idempotent_by_key(priced):
    with priced() as c:
        body = {"id": "C-IDEM", "name": "Idem GmbH", "addresses": [{"id": "a", "country": "DE"}]}
        first = c.post("/v1/customers", json=body, headers={**CAP, "Idempotency-Key": "cust-1"})
        again = c.post("/v1/customers", json=body, headers={**CAP, "Idempotency-Key": "cust-1"})
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
        other = c.post("/v1/customers", json={**body, "name": "Other"}, headers={**CAP, "Idempotency-Key": "cust-1"})
        assert other.status_code == 409
        ch = {"changes": [{"id": "CH-I", "kind": "attribute_change", "item": "WIDGET", "tax_category": "standard"}]}
        a = c.post("/v1/catalogue/changes", json=ch, headers={**PLAN, "Idempotency-Key": "cat-1"})
        b = c.post("/v1/catalogue/changes", json=ch, headers={**PLAN, "Idempotency-Key": "cat-1"})
        assert a.json() == b.json() and b.headers["Idempotent-Replayed"] == "true"
        assert c.get("/v1/catalogue/changes").json()["count"] == 1


def test_a_new_destination_prices_the_order_again_with_its_tax(priced):
    """C-ACME's order ships to Germany (19 %); moved to a US-CA consignee without a US rate it is refused and
    stays as it was; a tax rate posted for US-CA (7.25 %) then lets the change through: 72.00 + 5.22 = 77.22."""
    with priced() as c:
        o = capture(c, "C-ACME", [widget(10)])
        oid = o["order_id"]
        move = {"ship_to": {"country": "US", "region": "US-CA", "zone": "EAST"}}
        r = c.patch(f"/v1/orders/{oid}", json=move, headers=CAP)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["ship_to", "country"]
        assert c.get(f"/v1/orders/{oid}").json()["totals"]["total"] == money("85.68")
        assert c.post("/v1/pricing/tax-rates", json={"country": "US", "region": "US-CA", "tax_category": "standard",
                                                     "rate": "0.0725", "valid_from": "2026-01-01"},
                      headers=PLAN).status_code == 201
        r = c.patch(f"/v1/orders/{oid}", json=move, headers=CAP).json()
        assert (r["ship_country"], r["ship_region"]) == ("US", "US-CA")
        assert (r["totals"]["net"], r["totals"]["tax"], r["totals"]["total"]) == (money("72.00"), money("5.22"),
                                                                                 money("77.22"))
