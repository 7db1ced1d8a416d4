"""Loading the customer master from files: CSV (one row per customer) or JSON (a list of records).

CSV columns (header required; extra columns are refused so that a typo is not silently ignored):

``id, name, segments, channel, price_list, tax_profile, credit_limit, currency, payment_terms, blocked,
blocked_reason, country, region, address_name, line1, line2, city, postal_code, contact_name, contact_email,
contact_phone``

``segments`` is ``;``-separated; ``credit_limit`` an exact decimal in ``currency`` (empty: no limit); the
address columns make one address with id ``main``; the contact columns one contact. JSON holds a list of
objects in the form of ``Customer.to_dict()`` (nested addresses and contacts). Every refusal is a
``CustomerFileError`` naming the file, the 1-based data row, the field (the CSV column) and the value.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from customers.errors import CustomerFileError
from customers.model import Customer, CustomerMaster
from promessa.errors import ValidationError

CSV_COLUMNS = (
    "id", "name", "segments", "channel", "price_list", "tax_profile", "credit_limit", "currency", "payment_terms",
    "blocked", "blocked_reason", "country", "region", "address_name", "line1", "line2", "city", "postal_code",
    "contact_name", "contact_email", "contact_phone",
)
_ADDRESS = {"country": "country", "region": "region", "address_name": "name", "line1": "line1", "line2": "line2",
            "city": "city", "postal_code": "postal_code"}
_CONTACT = {"contact_name": "name", "contact_email": "email", "contact_phone": "phone"}
# record field (as Customer.from_dict names it) -> CSV column
_BACK = {f"addresses[0].{v}": k for k, v in _ADDRESS.items()} | {f"contacts[0].{v}": k for k, v in _CONTACT.items()} | {
    "credit_limit": "credit_limit", "credit_limit.amount": "credit_limit", "credit_limit.currency": "currency"}


def _record_from_csv(row: dict[str, str]) -> dict[str, Any]:
    rec: dict[str, Any] = {k: (row.get(k) or "").strip() or None for k in
                           ("id", "name", "segments", "channel", "price_list", "tax_profile", "payment_terms", "blocked",
                            "blocked_reason")}
    if (row.get("credit_limit") or "").strip():
        rec["credit_limit"] = {"amount": row["credit_limit"].strip(), "currency": (row.get("currency") or "").strip()}
    addr = {v: (row.get(k) or "").strip() or None for k, v in _ADDRESS.items()}
    if any(addr.values()):
        rec["addresses"] = [{"id": "main", **addr}]
    contact = {v: (row.get(k) or "").strip() or None for k, v in _CONTACT.items()}
    if any(contact.values()):
        rec["contacts"] = [contact]
    return rec


def load_customers(path: str | Path) -> CustomerMaster:
    """Read and validate a customer file (``.csv`` or ``.json``); returns the master.

    Raises ``CustomerFileError`` (file, row, field, value) on the first bad record or a duplicate id.
    """
    p = Path(path)
    name = p.name
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise CustomerFileError(f"cannot read the file ({e.strerror})", file=name, row=None, field="file", value=str(p)) from None
    out: list[Customer] = []
    seen: dict[str, int] = {}
    if p.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        header = reader.fieldnames or []
        for col in header:
            if col not in CSV_COLUMNS:
                raise CustomerFileError("unknown column", file=name, row=None, field=col, value=col,
                                        hint=f"columns are {', '.join(CSV_COLUMNS)}")
        for req in ("id", "name"):
            if req not in header:
                raise CustomerFileError("required column missing", file=name, row=None, field=req, value=None)
        records = [(i, _record_from_csv(r), True) for i, r in enumerate(reader, start=1)]
    elif p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise CustomerFileError(f"not JSON ({e.msg} at line {e.lineno})", file=name, row=None, field="file", value=None) from None
        if isinstance(data, dict) and "customers" in data:
            data = data["customers"]
        if not isinstance(data, list):
            raise CustomerFileError("must hold a list of customers", file=name, row=None, field="customers", value=type(data).__name__)
        records = [(i, r, False) for i, r in enumerate(data, start=1)]
    else:
        raise CustomerFileError("unknown file type", file=name, row=None, field="file", value=p.suffix, hint="use .csv or .json")
    for row, rec, from_csv in records:
        try:
            c = Customer.from_dict(rec)
        except ValidationError as e:
            field = _BACK.get(e.field, e.field) if from_csv else e.field
            value = e.value
            if from_csv and field == "segments" and isinstance(value, list | tuple):
                value = ";".join(map(str, value))
            prefix = f"{e.field}={e.value!r}: "
            msg = e.message[len(prefix):] if e.message.startswith(prefix) else e.message
            raise CustomerFileError(msg, file=name, row=row, field=field, value=value,
                                    hint=e.hint) from None
        if c.id in seen:
            raise CustomerFileError(f"duplicate customer id (first in row {seen[c.id]})", file=name, row=row, field="id", value=c.id)
        seen[c.id] = row
        out.append(c)
    return CustomerMaster(out)
