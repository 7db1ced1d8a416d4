"""Order validation against the customer master: a pure function from figures to hold reasons.

The order book (not this package) keeps the open order value per customer and puts an order on
hold when this returns reasons; a planner releases or rejects it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from customers.model import Customer
from promessa.errors import ValidationError
from promessa.money import Money

UNKNOWN_CUSTOMER = "unknown_customer"
BLOCKED_CUSTOMER = "blocked_customer"
CREDIT_LIMIT = "credit_limit"


@dataclasses.dataclass(frozen=True, slots=True)
class HoldReason:
    """Why an order goes on hold: a ``code``, the ``customer`` id, a message, and the figures behind it."""

    code: str
    customer: str
    message: str
    figures: Mapping[str, Money] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Storage/API form; ``HoldReason.from_dict(r.to_dict()) == r``."""
        return {"code": self.code, "customer": self.customer, "message": self.message,
                "figures": {k: v.to_dict() for k, v in self.figures.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HoldReason:
        return cls(code=d["code"], customer=d["customer"], message=d["message"],
                   figures={k: Money.from_dict(v) for k, v in (d.get("figures") or {}).items()})


def check_order(customers: Mapping[str, Customer], customer_id: str, *, order_value: Money,
                open_value: Money | None = None) -> tuple[HoldReason, ...]:
    """Validate an order against the customer master; returns the hold reasons (empty: the order may proceed).

    Parameters
    ----------
    customers : the master (``CustomerMaster`` or any mapping id -> Customer).
    customer_id : the ordering customer.
    order_value : this order's priced total (what the customer will owe for it).
    open_value : the value of the customer's other open orders (not yet invoiced/paid), in the same currency.

    Returns
    -------
    ``(HoldReason(unknown_customer),)`` when the id is unknown; otherwise a ``blocked_customer`` reason
    when blocked, and a ``credit_limit`` reason when ``open_value + order_value`` exceeds the credit limit,
    with the figures ``credit_limit``, ``open_orders``, ``this_order``, ``exposure`` and ``exceeded_by``.
    A customer without a credit limit has no credit check. Currencies must match the limit's: a
    ``ValidationError`` names the mismatch (conversion is not done here).
    """
    c = customers.get(customer_id)
    if c is None:
        return (HoldReason(UNKNOWN_CUSTOMER, customer_id, f"customer {customer_id!r} is not in the customer master"),)
    reasons: list[HoldReason] = []
    if c.blocked:
        reasons.append(HoldReason(BLOCKED_CUSTOMER, c.id, f"customer {c.id!r} is blocked"
                                  + (f": {c.blocked_reason}" if c.blocked_reason else "")))
    if c.credit_limit is not None:
        cur = c.credit_limit.currency
        if order_value.currency != cur:
            raise ValidationError(f"differs from the credit limit's currency {cur}", field="order_value.currency",
                                  value=order_value.currency)
        open_v = open_value if open_value is not None else Money.zero(cur)
        if open_v.currency != cur:
            raise ValidationError(f"differs from the credit limit's currency {cur}", field="open_value.currency",
                                  value=open_v.currency)
        exposure = (open_v + order_value).rounded()
        if exposure > c.credit_limit:
            over = (exposure - c.credit_limit).rounded()
            reasons.append(HoldReason(
                CREDIT_LIMIT, c.id,
                f"open orders {open_v} + this order {order_value} = {exposure} exceeds the credit limit {c.credit_limit} by {over}",
                {"credit_limit": c.credit_limit, "open_orders": open_v.rounded(), "this_order": order_value.rounded(),
                 "exposure": exposure, "exceeded_by": over}))
    return tuple(reasons)
