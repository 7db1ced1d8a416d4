"""Customer master: records validated field by field, files refused with file/row/field/value, and orders
checked against the master (unknown, blocked, credit limit) with the figures behind each hold."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

import pytest

from customers import (
    BLOCKED_CUSTOMER,
    CREDIT_LIMIT,
    UNKNOWN_CUSTOMER,
    Customer,
    CustomerFileError,
    CustomerMaster,
    HoldReason,
    PaymentTerms,
    check_order,
    load_customers,
)
from pricing import Party
from promessa.errors import NotFoundError, ValidationError
from promessa.money import Money

EXAMPLES = Path(__file__).resolve().parents[2] / "pricing" / "examples"
ACME = {
    "id": "C-ACME", "name": "Acme Office GmbH", "segments": ["gold", "b2b"], "channel": "b2b", "price_list": None,
    "tax_profile": "standard", "credit_limit": {"amount": "5000.00", "currency": "EUR"}, "payment_terms": "Net 30",
    "addresses": [{"id": "hq", "country": "de", "city": "Hamburg", "line1": "Hafenstrasse 1", "kind": "bill_to"},
                  {"id": "dc", "country": "DE", "region": "hh", "city": "Hamburg", "kind": "ship_to"}],
    "contacts": [{"name": "Jane Roe", "email": "jane@acme.example"}],
}


def eur(x: str) -> Money:
    return Money.of(x, "EUR")


def test_a_customer_record_is_validated_and_round_trips():
    c = Customer.from_dict(ACME)
    assert c.segments == ("gold", "b2b") and c.credit_limit == eur("5000.00")
    assert c.payment_terms == PaymentTerms("net", 30) and str(c.payment_terms) == "net 30"
    assert c.addresses[0].country == "DE" and c.address().id == "dc" and c.address().region == "HH"
    assert Customer.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert Party.of(c) == Party("C-ACME", ("gold", "b2b"), "b2b", None, "standard")


@pytest.mark.parametrize(("change", "field", "value"), [
    ({"id": "has space"}, "id", "has space"),
    ({"name": ""}, "name", ""),
    ({"tax_profile": "zero"}, "tax_profile", "zero"),
    ({"credit_limit": {"amount": "-1", "currency": "EUR"}}, "credit_limit.amount", "-1"),
    ({"credit_limit": {"amount": 100.5, "currency": "EUR"}}, "credit_limit.amount", 100.5),
    ({"credit_limit": {"amount": "100", "currency": "XXX"}}, "credit_limit.currency", "XXX"),
    ({"payment_terms": "whenever"}, "payment_terms", "whenever"),
    ({"payment_terms": "net 400"}, "payment_terms", "net 400"),
    ({"blocked": "maybe"}, "blocked", "maybe"),
    ({"addresses": [{"id": "a", "country": "Germany"}]}, "addresses[0].country", "Germany"),
    ({"addresses": [{"id": "a", "country": "DE"}, {"id": "a", "country": "FR"}]}, "addresses[1].id", "a"),
    ({"contacts": [{"name": "X", "email": "not-an-email"}]}, "contacts[0].email", "not-an-email"),
    ({"segments": "gold;;silver"}, None, None),  # accepted: empty parts dropped
])
def test_bad_customer_fields_are_refused_by_field_and_value(change, field, value):
    raw = {**ACME, **change}
    if field is None:
        assert Customer.from_dict(raw).segments == ("gold", "silver")
        return
    with pytest.raises(ValidationError) as e:
        Customer.from_dict(raw)
    assert (e.value.field, e.value.value) == (field, value)


def test_changing_a_customer_validates_and_keeps_the_id():
    c = Customer.from_dict(ACME)
    c2 = c.changed({"blocked": True, "blocked_reason": "overdue", "credit_limit": {"amount": "7500", "currency": "EUR"}})
    assert c2.blocked and c2.blocked_reason == "overdue" and c2.credit_limit == eur("7500") and c2.name == c.name
    with pytest.raises(ValidationError) as e:
        c.changed({"id": "OTHER"})
    assert e.value.field == "id"
    with pytest.raises(ValidationError) as e:
        c.address("nowhere")
    assert (e.value.field, e.value.value) == ("address", "nowhere")


def test_the_sample_csv_loads_and_json_round_trips(tmp_path):
    m = load_customers(EXAMPLES / "customers.csv")
    assert sorted(m) == ["C-ACME", "C-LATE", "C-NGO", "C-SHOP"]
    assert m["C-ACME"].credit_limit == eur("5000.00") and m["C-ACME"].contacts[0].email == "jane@acme.example"
    assert m["C-SHOP"].credit_limit is None and m["C-SHOP"].payment_terms.kind == "prepaid"
    assert m["C-LATE"].blocked and m["C-LATE"].blocked_reason == "overdue invoices" and m["C-LATE"].addresses[0].country == "DE"
    p = tmp_path / "customers.json"
    p.write_text(json.dumps([c.to_dict() for c in m.values()]))
    assert dict(load_customers(p)) == dict(m)


HEADER = "id,name,segments,credit_limit,currency,country,contact_email\n"


@pytest.mark.parametrize(("body", "row", "field", "value"), [
    ("A,Alpha,,100,EUR,DE,\nB,Beta,,abc,EUR,DE,\n", 2, "credit_limit", "abc"),
    ("A,Alpha,,100,EURO,DE,\n", 1, "currency", "EURO"),
    ("A,Alpha,,100,EUR,DE,\nB,,,100,EUR,DE,\n", 2, "name", None),
    ("A,Alpha,,100,EUR,DEU,\n", 1, "country", "DEU"),
    ("A,Alpha,,,,DE,x@\n", 1, "contact_email", "x@"),
    ("A,Alpha,,,,DE,\nA,Again,,,,DE,\n", 2, "id", "A"),
])
def test_bad_customer_files_are_refused_with_file_row_field_value(tmp_path, body, row, field, value):
    p = tmp_path / "crm.csv"
    p.write_text(HEADER + body)
    with pytest.raises(CustomerFileError) as e:
        load_customers(p)
    assert (e.value.file, e.value.row, e.value.field, e.value.value) == ("crm.csv", row, field, value)
    assert "crm.csv" in str(e.value) and f"row {row}" in str(e.value)


def test_unknown_csv_column_and_bad_json_are_refused(tmp_path):
    p = tmp_path / "crm.csv"
    p.write_text("id,name,colour\nA,Alpha,red\n")
    with pytest.raises(CustomerFileError) as e:
        load_customers(p)
    assert (e.value.row, e.value.field) == (None, "colour")
    j = tmp_path / "crm.json"
    j.write_text(json.dumps([{"id": "A", "name": "Alpha"}, {"id": "B", "name": "Beta", "addresses": [{"country": "X"}]}]))
    with pytest.raises(CustomerFileError) as e:
        load_customers(j)
    assert (e.value.file, e.value.row, e.value.field, e.value.value) == ("crm.json", 2, "addresses[0].country", "X")


# ------------------------------------------------------------------------------------------------ order checks
MASTER = CustomerMaster([
    Customer.from_dict(ACME),
    Customer("C-LATE", "Slow Payer Ltd", credit_limit=eur("2000.00"), blocked=True, blocked_reason="overdue invoices"),
    Customer("C-CASH", "Cash Buyer"),
])


def test_an_order_within_the_credit_limit_passes():
    # open orders 3000.00 + this order 2000.00 = 5000.00: exactly the limit, no hold
    assert check_order(MASTER, "C-ACME", order_value=eur("2000.00"), open_value=eur("3000.00")) == ()


def test_credit_limit_exceeded_by_open_orders_plus_this_one_holds_with_the_figures():
    # 3000.00 open + 2000.01 = 5000.01 > 5000.00 by 0.01
    (r,) = check_order(MASTER, "C-ACME", order_value=eur("2000.01"), open_value=eur("3000.00"))
    assert r.code == CREDIT_LIMIT and r.customer == "C-ACME"
    assert r.figures == {"credit_limit": eur("5000.00"), "open_orders": eur("3000.00"), "this_order": eur("2000.01"),
                         "exposure": eur("5000.01"), "exceeded_by": eur("0.01")}
    assert "exceeds the credit limit 5000.00 EUR by 0.01 EUR" in r.message
    assert HoldReason.from_dict(json.loads(json.dumps(r.to_dict()))) == r


def test_blocked_and_over_the_limit_gives_both_reasons_and_unknown_stops_at_once():
    reasons = check_order(MASTER, "C-LATE", order_value=eur("2500.00"))
    assert [r.code for r in reasons] == [BLOCKED_CUSTOMER, CREDIT_LIMIT]
    assert "overdue invoices" in reasons[0].message and reasons[1].figures["exceeded_by"] == eur("500.00")
    (u,) = check_order(MASTER, "C-NOBODY", order_value=eur("1.00"))
    assert u.code == UNKNOWN_CUSTOMER and u.customer == "C-NOBODY"
    # no credit limit: no credit check
    assert check_order(MASTER, "C-CASH", order_value=eur("1000000.00")) == ()


def test_a_credit_check_in_another_currency_is_refused():
    with pytest.raises(ValidationError) as e:
        check_order(MASTER, "C-ACME", order_value=Money.of("10", "USD"))
    assert (e.value.field, e.value.value) == ("order_value.currency", "USD")


def test_the_master_is_immutable_and_lookups_name_the_id():
    m2 = MASTER.with_customer(Customer("C-NEW", "New"))
    assert "C-NEW" in m2 and "C-NEW" not in MASTER and len(m2) == len(MASTER) + 1
    with pytest.raises(NotFoundError, match="C-GONE"):
        MASTER.get_or_raise("C-GONE")
    with pytest.raises(ValidationError):
        CustomerMaster([Customer("A", "a"), Customer("A", "b")])
    assert MASTER["C-ACME"].credit_limit.amount == D("5000.00")
