"""Commands for what prices and checks orders: customers, pricing records and catalogue changes.

The write half for master data, mixed into `OrderService` beside `OrderCommands`: every command
runs in `OrderService.execute` (under the lock, in a `Txn`, durable before the answer, idempotent by
key), swaps the new immutable value into the service's `Commerce` (undone if the write fails), and
is replayed at start-up (`OrderService.rebuild`). The next order is priced and checked with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from customers import Customer, CustomerMaster
from orderbook.commerce import PRICING_KINDS, add_record, record_of, ref_of
from orderbook.records import CatalogueEntry, CustomerEntry, PricingEntry
from orderbook.txn import Idem, Txn
from pricing import CatalogueChange, apply_changes
from promessa.errors import ConflictError, NotFoundError, ValidationError

Answer = tuple[int, str, bool]


def _prefixed(exc: ValidationError, prefix: str = "") -> ValidationError:
    """`exc` with its field path in the order book's dotted form under `prefix` (``customers.3.`` +
    ``addresses[0].country`` -> ``customers.3.addresses.0.country``)."""
    own = re.sub(r"\[(\d+)\]", r".\1", exc.field or "")
    field = f"{prefix}{own}" if own else prefix.rstrip(".")
    return ValidationError(exc.message.removeprefix(f"{exc.field}={exc.value!r}: "), field=field, value=exc.value,
                           hint=exc.hint)


class MasterDataCommands:
    """Writes of customers, pricing records and catalogue changes (mixed into `OrderService`)."""

    # ------------------------------------------------------------------ customers
    def create_customer(self, body: Mapping[str, Any], *, actor: str, idem: Idem | None = None) -> Answer:
        """Create a customer from a raw record (`customers.Customer.from_dict`); (201, the customer, replayed).
        An id that exists already is a conflict (change it with `change_customer`)."""
        try:
            customer = Customer.from_dict(body)
        except ValidationError as exc:
            raise _prefixed(exc) from None

        def run(txn: Txn) -> tuple[int, dict]:
            if self.commerce.customer(customer.id) is not None:
                raise ConflictError(f"customer {customer.id!r} exists already", hint=f"PATCH /v1/customers/{customer.id}")
            self._put_customer(txn, customer, "create")
            return 201, customer.to_dict()

        return self.execute(actor, idem, run)

    def change_customer(self, customer_id: str, patch: Mapping[str, Any], *, actor: str, idem: Idem | None = None) -> Answer:
        """Change a customer (`Customer.changed`: raw fields, validated; the id stays); (200, the customer, replayed)."""
        if not isinstance(patch, Mapping):
            raise ValidationError("must be an object", field="body", value=patch)

        def run(txn: Txn) -> tuple[int, dict]:
            current = self.commerce.customer(customer_id)
            if current is None:
                raise NotFoundError(f"unknown customer {customer_id!r}")
            try:
                customer = current.changed(patch)
            except ValidationError as exc:
                raise _prefixed(exc) from None
            self._put_customer(txn, customer, "change")
            return 200, customer.to_dict()

        return self.execute(actor, idem, run)

    def import_customers(self, records: Sequence[Mapping[str, Any]], *, actor: str, idem: Idem | None = None) -> Answer:
        """Create or replace customers from records (a file's rows as `Customer.from_dict` reads them), all or
        nothing; a bad record is refused naming ``customers.<i>.<field>`` and the value. (200, counts, replayed)."""
        if not isinstance(records, Sequence) or isinstance(records, str | bytes) or not records:
            raise ValidationError("must be a non-empty list of customers", field="customers", value=records)
        if len(records) > self.settings.api.max_import_rows:
            raise ValidationError(f"too many customers (at most {self.settings.api.max_import_rows})", field="customers",
                                  value=len(records))
        parsed: list[Customer] = []
        seen: dict[str, int] = {}
        for i, raw in enumerate(records):
            try:
                c = Customer.from_dict(raw)
            except ValidationError as exc:
                raise _prefixed(exc, f"customers.{i}.") from None
            if c.id in seen:
                raise ValidationError(f"customer id given twice (also at customers.{seen[c.id]})", field=f"customers.{i}.id",
                                      value=c.id)
            seen[c.id] = i
            parsed.append(c)

        def run(txn: Txn) -> tuple[int, dict]:
            created = sum(1 for c in parsed if self.commerce.customer(c.id) is None)
            for c in parsed:
                self._put_customer(txn, c, "import")
            return 200, {"imported": len(parsed), "created": created, "replaced": len(parsed) - created}

        return self.execute(actor, idem, run)

    def _put_customer(self, txn: Txn, customer: Customer, action: str) -> None:
        txn.set_commerce(master=(self.commerce.master or CustomerMaster()).with_customer(customer))
        txn.ws.customers.append(CustomerEntry(customer, action, txn.actor, txn.now))

    # ------------------------------------------------------------------ pricing records
    def post_pricing(self, kind: str, body: Mapping[str, Any], *, actor: str, idem: Idem | None = None) -> Answer:
        """Add a price list (with its entries), rule, tax rate or assignment (`kind`), validated by pricing's own
        `from_dict` and then as a whole book (a version posted twice is a conflict; an assignment must name a list
        that exists). Versions and effective dates live in the records: the book prices each day with the
        highest version in force. (201, ``{kind, ref, record}``, replayed)."""
        if kind not in PRICING_KINDS:
            raise ValidationError(f"must be one of {', '.join(PRICING_KINDS)}", field="kind", value=kind)
        if not isinstance(body, Mapping):
            raise ValidationError("must be an object", field="body", value=body)
        rec = record_of(kind, body)
        ref = ref_of(kind, rec)

        def run(txn: Txn) -> tuple[int, dict]:
            try:
                book = add_record(self.commerce.book, kind, rec)
            except ValidationError as exc:
                if "same id and version" in exc.message:
                    raise ConflictError(f"{kind} {ref} exists already", hint="post it with a higher version") from None
                raise
            entry = PricingEntry(kind, rec.to_dict(), ref, 0, txn.actor, txn.now)
            txn.set_commerce(book=book, records=(*self.commerce.records, entry))
            txn.ws.pricing.append(entry)
            return 201, {"kind": kind, "ref": ref, "record": rec.to_dict()}

        return self.execute(actor, idem, run)

    # ------------------------------------------------------------------ catalogue maintenance
    def apply_catalogue_changes(self, changes: Sequence[Mapping[str, Any]], *, actor: str,
                                idem: Idem | None = None) -> Answer:
        """New items, price changes and attribute changes (`pricing.CatalogueChange`), all or nothing, applied at
        once over the served catalogue (the next order is priced with them) and durable; like supply deltas each
        is numbered from the journal sequence, re-applied at start-up and after every refresh whose extract does
        not carry it, and retired once one does. A change id used before is a conflict.

        Returns (200, ``{applied, changes, journal_seq}``, replayed). A bad change names ``changes.<i>.<field>``."""
        if not isinstance(changes, Sequence) or isinstance(changes, str | bytes) or not changes:
            raise ValidationError("must be a non-empty list of changes", field="changes", value=changes)
        if len(changes) > self.settings.api.max_import_rows:
            raise ValidationError(f"too many changes (at most {self.settings.api.max_import_rows})", field="changes",
                                  value=len(changes))
        parsed: list[CatalogueChange] = []
        for i, raw in enumerate(changes):
            if not isinstance(raw, Mapping):
                raise ValidationError("must be an object", field=f"changes.{i}", value=raw)
            try:
                parsed.append(CatalogueChange.from_dict(raw))
            except ValidationError as exc:
                raise _prefixed(exc, f"changes.{i}.") from None

        def run(txn: Txn) -> tuple[int, dict]:
            known = {e.change.id for e in self.commerce.changes}
            cat = self.commerce.catalogue_for(self.snap, self.business_day)
            entries = []
            for i, ch in enumerate(parsed):
                if ch.id in known or self.store.catalogue_change_exists(ch.id):
                    raise ConflictError(f"catalogue change {ch.id!r} was applied before", hint="give a new change id")
                known.add(ch.id)
                try:
                    cat = apply_changes(cat, [ch])  # checked whatever its effective day
                except ValidationError as exc:
                    raise _prefixed(exc, f"changes.{i}.") from None
                entries.append(CatalogueEntry(txn.next_seq(), ch, txn.actor, txn.now))
            txn.set_commerce(changes=(*self.commerce.changes, *entries))
            txn.ws.catalogue.extend(entries)
            return 200, {"applied": len(entries), "changes": [e.to_dict() for e in entries], "journal_seq": self.seq}

        return self.execute(actor, idem, run)
