"""Customer master records: typed, frozen, validated, with a ``to_dict()``/``from_dict()`` round trip.

A customer has an id, a name, segments, a channel, an assigned price list, a tax profile,
addresses (with country and region), contacts, a credit limit (``Money``; none = no limit),
payment terms (``net 30``, ``due on receipt``, ``prepaid``) and a blocked flag with a reason.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from promessa.errors import NotFoundError, ValidationError
from promessa.money import Money, MoneyError, minor_unit

#: Tax profiles a customer may have: ``standard`` is taxed by the ship-to jurisdiction, ``exempt`` is not taxed.
TAX_PROFILES = ("standard", "exempt")
ADDRESS_KINDS = ("ship_to", "bill_to", "both")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TERMS = re.compile(r"^net\s*(\d{1,3})$")


def _text(d: Mapping[str, Any], key: str, *, prefix: str = "", required: bool = False, max_len: int = 200) -> str | None:
    v = d.get(key)
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            raise ValidationError("is required", field=prefix + key, value=v)
        return None
    if not isinstance(v, str):
        raise ValidationError("must be text", field=prefix + key, value=v)
    v = v.strip()
    if len(v) > max_len:
        raise ValidationError(f"longer than {max_len} characters", field=prefix + key, value=v)
    return v


def _country(v: Any, field: str) -> str:
    if not isinstance(v, str) or not re.fullmatch(r"[A-Za-z]{2}", v.strip()):
        raise ValidationError("must be an ISO 3166-1 alpha-2 country code", field=field, value=v, hint="for example DE, US, JP")
    return v.strip().upper()


def _bool(v: Any, field: str) -> bool:
    if isinstance(v, bool):
        return v
    if v is None or v == "":
        return False
    if isinstance(v, str) and v.strip().lower() in ("true", "yes", "1", "false", "no", "0"):
        return v.strip().lower() in ("true", "yes", "1")
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    raise ValidationError("must be true or false", field=field, value=v)


@dataclasses.dataclass(frozen=True, slots=True)
class PaymentTerms:
    """When an invoice is due: ``net`` N days after invoice, ``due_on_receipt`` (net 0) or ``prepaid``."""

    kind: str
    days: int = 0

    @classmethod
    def parse(cls, value: Any, *, field: str = "payment_terms") -> PaymentTerms:
        """Parse ``'net 30'``, ``'net30'``, ``'due on receipt'`` or ``'prepaid'`` (case-insensitive)."""
        if isinstance(value, PaymentTerms):
            return value
        if value is None or value == "":
            return cls("net", 30)
        if not isinstance(value, str):
            raise ValidationError("must be text such as 'net 30'", field=field, value=value)
        v = " ".join(value.strip().lower().replace("_", " ").split())
        if v == "prepaid":
            return cls("prepaid", 0)
        if v in ("due on receipt", "net 0"):
            return cls("due_on_receipt", 0)
        m = _TERMS.match(v)
        if m:
            days = int(m.group(1))
            if days > 365:
                raise ValidationError("net days must be at most 365", field=field, value=value)
            return cls("net", days)
        raise ValidationError("unknown payment terms", field=field, value=value, hint="'net 30', 'due on receipt' or 'prepaid'")

    def __str__(self) -> str:
        return {"prepaid": "prepaid", "due_on_receipt": "due on receipt"}.get(self.kind, f"net {self.days}")


@dataclasses.dataclass(frozen=True, slots=True)
class Address:
    """A postal address; ``country`` is ISO 3166-1 alpha-2, ``region`` a state/province code (for tax)."""

    id: str
    country: str
    region: str | None = None
    name: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    kind: str = "both"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, prefix: str = "address.") -> Address:
        """Validate a raw mapping into an address; errors name ``prefix + field`` and the value."""
        if not isinstance(d, Mapping):
            raise ValidationError("must be an object", field=prefix.rstrip("."), value=d)
        aid = _text(d, "id", prefix=prefix) or "main"
        kind = _text(d, "kind", prefix=prefix) or "both"
        if kind not in ADDRESS_KINDS:
            raise ValidationError(f"must be one of {', '.join(ADDRESS_KINDS)}", field=prefix + "kind", value=kind)
        region = _text(d, "region", prefix=prefix, max_len=10)
        return cls(
            id=aid, country=_country(d.get("country"), prefix + "country"),
            region=region.upper() if region else None,
            name=_text(d, "name", prefix=prefix), line1=_text(d, "line1", prefix=prefix), line2=_text(d, "line2", prefix=prefix),
            city=_text(d, "city", prefix=prefix), postal_code=_text(d, "postal_code", prefix=prefix, max_len=20), kind=kind,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class Contact:
    """A person to talk to at the customer."""

    name: str
    email: str | None = None
    phone: str | None = None
    role: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, prefix: str = "contact.") -> Contact:
        """Validate a raw mapping into a contact; the e-mail must look like one."""
        if not isinstance(d, Mapping):
            raise ValidationError("must be an object", field=prefix.rstrip("."), value=d)
        email = _text(d, "email", prefix=prefix)
        if email is not None and not _EMAIL.match(email):
            raise ValidationError("is not an e-mail address", field=prefix + "email", value=email)
        return cls(name=_text(d, "name", prefix=prefix, required=True), email=email,
                   phone=_text(d, "phone", prefix=prefix, max_len=40), role=_text(d, "role", prefix=prefix))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class Customer:
    """One customer master record. Build it with ``Customer.from_dict`` (validating) or directly (trusted)."""

    id: str
    name: str
    segments: tuple[str, ...] = ()
    channel: str | None = None
    price_list: str | None = None
    tax_profile: str = "standard"
    addresses: tuple[Address, ...] = ()
    contacts: tuple[Contact, ...] = ()
    credit_limit: Money | None = None
    payment_terms: PaymentTerms = PaymentTerms("net", 30)
    blocked: bool = False
    blocked_reason: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Customer:
        """Validate a raw mapping (API body, JSON record) into a customer.

        ``credit_limit`` is ``{"amount": "5000.00", "currency": "EUR"}`` (or absent for no limit);
        ``segments`` a list of names (or a ``;``-separated string); ``addresses``/``contacts`` lists of
        objects. Raises ``ValidationError`` naming the field (``addresses[1].country``) and the value.
        """
        if not isinstance(d, Mapping):
            raise ValidationError("must be an object", field="customer", value=d)
        cid = _text(d, "id", required=True, max_len=64)
        if not _ID.match(cid):
            raise ValidationError("must be letters, digits and _ . : - (at most 64)", field="id", value=cid)
        segs = d.get("segments") or ()
        if isinstance(segs, str):
            segs = [s for s in (x.strip() for x in segs.split(";")) if s]
        if not isinstance(segs, list | tuple) or not all(isinstance(s, str) and s.strip() for s in segs):
            raise ValidationError("must be a list of names", field="segments", value=segs)
        segs = tuple(dict.fromkeys(s.strip() for s in segs))
        tax = _text(d, "tax_profile") or "standard"
        if tax not in TAX_PROFILES:
            raise ValidationError(f"must be one of {', '.join(TAX_PROFILES)}", field="tax_profile", value=tax)
        addrs_raw = d.get("addresses") or ()
        if not isinstance(addrs_raw, list | tuple):
            raise ValidationError("must be a list of addresses", field="addresses", value=addrs_raw)
        addrs = tuple(Address.from_dict(a, prefix=f"addresses[{i}].") for i, a in enumerate(addrs_raw))
        seen: set[str] = set()
        for i, a in enumerate(addrs):
            if a.id in seen:
                raise ValidationError("duplicate address id", field=f"addresses[{i}].id", value=a.id)
            seen.add(a.id)
        contacts_raw = d.get("contacts") or ()
        if not isinstance(contacts_raw, list | tuple):
            raise ValidationError("must be a list of contacts", field="contacts", value=contacts_raw)
        contacts = tuple(Contact.from_dict(c, prefix=f"contacts[{i}].") for i, c in enumerate(contacts_raw))
        credit = d.get("credit_limit")
        limit: Money | None = None
        if isinstance(credit, Money):
            limit = credit
        elif credit not in (None, ""):
            if not isinstance(credit, Mapping):
                raise ValidationError("must be {amount, currency}", field="credit_limit", value=credit)
            cur = credit.get("currency")
            try:
                minor_unit(str(cur))
            except MoneyError:
                raise ValidationError("unknown ISO 4217 currency", field="credit_limit.currency", value=cur) from None
            try:
                limit = Money.of(credit.get("amount"), str(cur))
            except MoneyError as e:
                raise ValidationError(str(e).split(": ", 1)[-1], field="credit_limit.amount", value=credit.get("amount")) from None
            if limit.amount < 0:
                raise ValidationError("must not be negative", field="credit_limit.amount", value=credit.get("amount"))
        blocked = _bool(d.get("blocked"), "blocked")
        return cls(
            id=cid, name=_text(d, "name", required=True), segments=segs, channel=_text(d, "channel", max_len=64),
            price_list=_text(d, "price_list", max_len=64), tax_profile=tax, addresses=addrs, contacts=contacts,
            credit_limit=limit, payment_terms=PaymentTerms.parse(d.get("payment_terms")), blocked=blocked,
            blocked_reason=_text(d, "blocked_reason") if blocked else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The storage and API form; ``Customer.from_dict(c.to_dict()) == c``."""
        return {
            "id": self.id, "name": self.name, "segments": list(self.segments), "channel": self.channel,
            "price_list": self.price_list, "tax_profile": self.tax_profile,
            "addresses": [a.to_dict() for a in self.addresses], "contacts": [c.to_dict() for c in self.contacts],
            "credit_limit": self.credit_limit.to_exact_dict() if self.credit_limit is not None else None,
            "payment_terms": str(self.payment_terms), "blocked": self.blocked, "blocked_reason": self.blocked_reason,
        }

    def changed(self, changes: Mapping[str, Any]) -> Customer:
        """A new record with ``changes`` (raw fields, as in a PATCH body) applied and validated; the id cannot change."""
        if "id" in changes and changes["id"] != self.id:
            raise ValidationError("the id of a customer cannot change", field="id", value=changes["id"])
        return Customer.from_dict({**self.to_dict(), **changes})

    def address(self, address_id: str | None = None) -> Address:
        """The address with that id, or the first ship-to address (``kind`` ship_to or both) when None."""
        if address_id is None:
            for a in self.addresses:
                if a.kind in ("ship_to", "both"):
                    return a
            raise ValidationError("customer has no ship-to address", field="customer.addresses", value=self.id)
        for a in self.addresses:
            if a.id == address_id:
                return a
        raise ValidationError("no such address for this customer", field="address", value=address_id,
                              hint=f"one of {', '.join(a.id for a in self.addresses) or '(none)'}")


class CustomerMaster(Mapping[str, Customer]):
    """An immutable set of customers by id; changes return a new master (share it between threads)."""

    __slots__ = ("_by_id",)

    def __init__(self, customers: Iterable[Customer] = ()) -> None:
        by_id: dict[str, Customer] = {}
        for c in customers:
            if c.id in by_id:
                raise ValidationError("duplicate customer id", field="id", value=c.id)
            by_id[c.id] = c
        self._by_id = by_id

    def __getitem__(self, cid: str) -> Customer:
        return self._by_id[cid]

    def get(self, cid: str, default: Customer | None = None) -> Customer | None:  # type: ignore[override]
        return self._by_id.get(cid, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def get_or_raise(self, cid: str) -> Customer:
        """The customer, or ``NotFoundError`` naming the id."""
        try:
            return self._by_id[cid]
        except KeyError:
            raise NotFoundError(f"customer={cid!r}: unknown customer") from None

    def with_customer(self, customer: Customer) -> CustomerMaster:
        """A new master with ``customer`` added or replaced."""
        m = CustomerMaster()
        m._by_id = {**self._by_id, customer.id: customer}
        return m
