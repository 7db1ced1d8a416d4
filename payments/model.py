"""Payment records: methods, states, the transition table and the audit trail.

A payment is one method paying (part of) one order. Its state moves only along the table
``TRANSITIONS``; every move is a :class:`Transition` kept in the payment's audit trail
(wall-clock timestamp, event, amount, reference). Amounts are :class:`promessa.money.Money`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from promessa.errors import ConflictError
from promessa.money import Money


class PaymentState(StrEnum):
    """Where a payment stands. ``refunded`` means everything captured went back."""

    PENDING = "pending"                        # opened, waiting for the provider (or a transfer, or delivery for COD)
    AUTHORIZED = "authorized"                  # funds held, nothing captured yet
    PARTIALLY_CAPTURED = "partially_captured"  # part of the authorization captured, the rest still open
    CAPTURED = "captured"                      # captured; nothing left open
    PARTIALLY_REFUNDED = "partially_refunded"  # part of what was captured went back
    REFUNDED = "refunded"                      # all that was captured went back, nothing left open
    VOIDED = "voided"                          # authorization released before any capture
    FAILED = "failed"                          # declined or failed at the provider
    EXPIRED = "expired"                        # never confirmed / authorization lapsed


TERMINAL = frozenset({PaymentState.REFUNDED, PaymentState.VOIDED, PaymentState.FAILED, PaymentState.EXPIRED})

S = PaymentState
#: event -> states it may start from. The target state follows from the amounts (see PaymentBook).
TRANSITIONS: dict[str, frozenset[PaymentState]] = {
    "authorize": frozenset({S.PENDING}),
    "decline": frozenset({S.PENDING}),
    "fail": frozenset({S.PENDING, S.AUTHORIZED}),
    "expire": frozenset({S.PENDING, S.AUTHORIZED}),
    "capture": frozenset({S.PENDING, S.AUTHORIZED, S.PARTIALLY_CAPTURED, S.PARTIALLY_REFUNDED}),
    "void": frozenset({S.PENDING, S.AUTHORIZED}),
    "release": frozenset({S.PARTIALLY_CAPTURED, S.PARTIALLY_REFUNDED}),  # give back the uncaptured rest
    "refund": frozenset({S.PARTIALLY_CAPTURED, S.CAPTURED, S.PARTIALLY_REFUNDED}),
}
#: states each event may lead to (checked on every move).
TARGETS: dict[str, frozenset[PaymentState]] = {
    "authorize": frozenset({S.AUTHORIZED}),
    "decline": frozenset({S.FAILED}),
    "fail": frozenset({S.FAILED}),
    "expire": frozenset({S.EXPIRED}),
    "capture": frozenset({S.PARTIALLY_CAPTURED, S.CAPTURED, S.PARTIALLY_REFUNDED, S.REFUNDED}),
    "void": frozenset({S.VOIDED}),
    "release": frozenset({S.CAPTURED, S.PARTIALLY_REFUNDED, S.REFUNDED}),
    "refund": frozenset({S.PARTIALLY_CAPTURED, S.PARTIALLY_REFUNDED, S.REFUNDED}),
}


class MethodKind(StrEnum):
    """The families of payment methods; each configured method belongs to one."""

    CARD = "card"
    WALLET = "wallet"                  # PayPal, Apple Pay, ...
    BANK_TRANSFER = "bank_transfer"    # prepayment, confirmed by hand when the money arrives
    CASH_ON_DELIVERY = "cash_on_delivery"
    VOUCHER = "voucher"                # vouchers and gift cards (a balance held by the offline provider)


class CaptureRule(StrEnum):
    """When authorized money is captured (cash on delivery is always collected at delivery)."""

    ON_ORDER = "on_order"                  # at authorization
    ON_SHIPMENT = "on_shipment"            # everything still open, at the first shipment
    PER_SHIPPED_QUANTITY = "per_shipped_quantity"  # the value of each shipment, when it ships


class MethodConfig(BaseModel):
    """One payment method: its family and the provider adapter (by the name it was given to the book)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: MethodKind
    provider: str = Field(description="name of the provider adapter handed to PaymentBook(providers=...)")
    label: str = ""


def _default_methods() -> dict[str, MethodConfig]:
    return {
        "card": MethodConfig(kind=MethodKind.CARD, provider="gateway", label="Card"),
        "paypal": MethodConfig(kind=MethodKind.WALLET, provider="gateway", label="PayPal"),
        "bank_transfer": MethodConfig(kind=MethodKind.BANK_TRANSFER, provider="offline", label="Bank transfer"),
        "cod": MethodConfig(kind=MethodKind.CASH_ON_DELIVERY, provider="offline", label="Cash on delivery"),
        "voucher": MethodConfig(kind=MethodKind.VOUCHER, provider="offline", label="Voucher"),
        "gift_card": MethodConfig(kind=MethodKind.VOUCHER, provider="offline", label="Gift card"),
    }


class PaymentSettings(BaseModel):
    """Payment configuration: the methods offered, the capture rule and the capture/refund order.

    ``capture_order`` and ``refund_order`` list method kinds; an order paid by several methods
    captures from the first kind listed first (ties: the payment opened first), and refunds
    in ``refund_order`` (default: the capture order reversed, so cards and wallets get money back
    before vouchers are re-credited).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    methods: dict[str, MethodConfig] = Field(default_factory=_default_methods)
    capture_rule: CaptureRule = CaptureRule.PER_SHIPPED_QUANTITY
    capture_order: list[MethodKind] = Field(default_factory=lambda: [
        MethodKind.VOUCHER, MethodKind.BANK_TRANSFER, MethodKind.WALLET, MethodKind.CARD, MethodKind.CASH_ON_DELIVERY])
    refund_order: list[MethodKind] | None = None
    webhook_tolerance_s: float = Field(300.0, gt=0, description="largest age (and clock skew) of a signed webhook")
    authorization_ttl_days: int = Field(7, ge=1, description="an authorization or an unconfirmed payment expires after this")

    @field_validator("capture_order", "refund_order")
    @classmethod
    def _all_kinds(cls, v: list[MethodKind] | None) -> list[MethodKind] | None:
        if v is not None and sorted(set(v)) != sorted(MethodKind):
            raise ValueError(f"must list every method kind once, not {[str(k) for k in v]}")
        return v

    def refunds(self) -> list[MethodKind]:
        """The order in which refunds go back to the methods."""
        return list(self.refund_order) if self.refund_order is not None else list(reversed(self.capture_order))


@dataclasses.dataclass(frozen=True, slots=True)
class Transition:
    """One entry of a payment's audit trail (``at`` is wall-clock time: a record timestamp)."""

    seq: int
    payment_id: str
    event: str
    from_state: PaymentState
    to_state: PaymentState
    amount: Money | None
    at: dt.datetime
    ref: str = ""
    note: str = ""

    def to_dict(self) -> dict:
        """A JSON-able form of the entry."""
        return {"seq": self.seq, "payment_id": self.payment_id, "event": self.event, "from_state": str(self.from_state),
                "to_state": str(self.to_state), "amount": self.amount.to_dict() if self.amount else None,
                "at": self.at.isoformat(), "ref": self.ref, "note": self.note}

    @classmethod
    def from_dict(cls, d: dict) -> Transition:
        """The entry back from :meth:`to_dict`."""
        return cls(int(d["seq"]), d["payment_id"], d["event"], PaymentState(d["from_state"]), PaymentState(d["to_state"]),
                   Money.from_dict(d["amount"]) if d["amount"] else None, dt.datetime.fromisoformat(d["at"]), d["ref"], d["note"])


@dataclasses.dataclass(slots=True)
class Operation:
    """A request sent to a provider (capture, refund, ...), settled at once or by a later webhook."""

    key: str
    kind: str                 # authorize | capture | refund | void
    amount: Money | None
    status: str = "pending"   # pending | succeeded | failed
    at: dt.datetime | None = None  # wall clock when it was sent (reconciliation asks after operations pending too long)


@dataclasses.dataclass(slots=True)
class Payment:
    """One method paying (part of) one order. Owned and changed only by :class:`PaymentBook`.

    ``amount`` is what the payment is meant to cover (authorized or expected); ``captured`` and
    ``refunded`` only grow; ``released`` is the part of the authorization given back uncaptured.
    ``token`` is the provider's token (card data is never stored).
    """

    payment_id: str
    order: str
    method: str
    kind: MethodKind
    provider: str
    amount: Money
    token: str | None = None
    state: PaymentState = PaymentState.PENDING
    captured: Money = None  # type: ignore[assignment]
    refunded: Money = None  # type: ignore[assignment]
    released: Money = None  # type: ignore[assignment]
    provider_ref: str = ""
    opened_at: dt.datetime | None = None
    expires_on: dt.date | None = None
    seq: int = 0
    trail: list[Transition] = dataclasses.field(default_factory=list)
    ops: dict[str, Operation] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        zero = Money.zero(self.amount.currency)
        self.captured = self.captured or zero
        self.refunded = self.refunded or zero
        self.released = self.released or zero

    @property
    def currency(self) -> str:
        """The payment's currency."""
        return self.amount.currency

    def open_amount(self) -> Money:
        """Authorized (or expected) and not yet captured, released or pending capture; zero once terminal."""
        if self.state in TERMINAL or self.state == PaymentState.CAPTURED:
            return Money.zero(self.currency)
        pending = sum((op.amount.amount for op in self.ops.values()
                       if op.kind == "capture" and op.status == "pending" and op.amount), Decimal(0))
        return Money(self.amount.amount - self.captured.amount - self.released.amount - pending, self.currency)

    def refundable(self) -> Money:
        """Captured and not yet refunded (nor pending refund)."""
        pending = sum((op.amount.amount for op in self.ops.values()
                       if op.kind == "refund" and op.status == "pending" and op.amount), Decimal(0))
        return Money(self.captured.amount - self.refunded.amount - pending, self.currency)

    def net(self) -> Money:
        """Captured minus refunded."""
        return self.captured - self.refunded

    def to_dict(self) -> dict:
        """The whole record, JSON-able (no card data exists to leave out: only the provider token); see :meth:`from_dict`."""
        return {"payment_id": self.payment_id, "order": self.order, "method": self.method, "kind": str(self.kind),
                "provider": self.provider, "amount": self.amount.to_dict(), "token": self.token, "state": str(self.state),
                "captured": self.captured.to_dict(), "refunded": self.refunded.to_dict(), "released": self.released.to_dict(),
                "provider_ref": self.provider_ref, "opened_at": self.opened_at.isoformat() if self.opened_at else None,
                "expires_on": self.expires_on.isoformat() if self.expires_on else None, "seq": self.seq,
                "trail": [t.to_dict() for t in self.trail],
                "ops": [{"key": o.key, "kind": o.kind, "amount": o.amount.to_dict() if o.amount else None, "status": o.status,
                         **({"at": o.at.isoformat()} if o.at is not None else {})} for o in self.ops.values()]}

    @classmethod
    def from_dict(cls, d: dict) -> Payment:
        """The payment back from :meth:`to_dict` (state, amounts, trail and provider operations)."""
        p = cls(d["payment_id"], d["order"], d["method"], MethodKind(d["kind"]), d["provider"], Money.from_dict(d["amount"]),
                token=d.get("token"), state=PaymentState(d["state"]), captured=Money.from_dict(d["captured"]),
                refunded=Money.from_dict(d["refunded"]), released=Money.from_dict(d["released"]), provider_ref=d["provider_ref"],
                opened_at=dt.datetime.fromisoformat(d["opened_at"]) if d.get("opened_at") else None,
                expires_on=dt.date.fromisoformat(d["expires_on"]) if d.get("expires_on") else None, seq=int(d.get("seq", 0)))
        p.trail = [Transition.from_dict(t) for t in d["trail"]]
        p.ops = {o["key"]: Operation(o["key"], o["kind"], Money.from_dict(o["amount"]) if o["amount"] else None, o["status"],
                                     dt.datetime.fromisoformat(o["at"]) if o.get("at") else None)
                 for o in d.get("ops", [])}
        return p


def check_move(payment: Payment, event: str, to_state: PaymentState) -> None:
    """Refuse a move the transition table does not allow (ConflictError naming payment, state and event)."""
    if payment.state not in TRANSITIONS[event] or to_state not in TARGETS[event]:
        raise ConflictError(f"payment {payment.payment_id}: cannot {event} in state {payment.state} (to {to_state})",
                            hint=f"{event} is allowed from: {', '.join(sorted(TRANSITIONS[event]))}")


@dataclasses.dataclass(frozen=True, slots=True)
class OrderPayments:
    """What the payments of one order add up to (for the order status, the console and jeopardy)."""

    order: str
    currency: str
    expected: Money     # sum of the live payments' amounts
    captured: Money
    refunded: Money
    open: Money         # still authorized and capturable
    states: tuple[tuple[str, PaymentState], ...]

    @property
    def net(self) -> Money:
        """Captured minus refunded."""
        return self.captured - self.refunded
