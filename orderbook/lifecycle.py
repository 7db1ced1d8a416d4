"""Order lifecycle: the statuses an order can be in and the transitions allowed between them.

This module is the single place that says which move is legal. Every move goes through
:func:`check_transition`, and the service records each one in the audit trail (who, when,
from, to).

::

    captured ──► on_hold ──► scheduled | backordered | cancelled (rejected)
                             (or back to partially_shipped / shipped when a shipped order was held)
        │                        ▲
        └──► scheduled ◄──► backordered        (change re-promises; approval may hold again)
                 │               │
                 ▼               ▼
          partially_shipped ──► shipped ──► delivered
                 │
                 └──► shipped (cancel of the remainder)

``cancelled`` and ``delivered`` are final.
"""

from __future__ import annotations

from enum import StrEnum

from promessa.errors import ConflictError


class OrderStatus(StrEnum):
    CAPTURED = "captured"                    # validated and stored, not yet promised (transient)
    ON_HOLD = "on_hold"                      # waits for approval; its supply is reserved
    SCHEDULED = "scheduled"                  # every unit promised (on time or late)
    BACKORDERED = "backordered"              # some units could not be promised
    PARTIALLY_SHIPPED = "partially_shipped"  # some units shipped, some still open
    SHIPPED = "shipped"                      # every unit shipped
    DELIVERED = "delivered"                  # the customer has it (final)
    CANCELLED = "cancelled"                  # cancelled or rejected (final)


S = OrderStatus

#: Allowed transitions: status -> the statuses it may move to (a status may "move" to itself
#: when an order is changed and keeps its status).
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.CAPTURED: frozenset({S.ON_HOLD, S.SCHEDULED, S.BACKORDERED, S.CANCELLED}),
    S.ON_HOLD: frozenset({S.ON_HOLD, S.SCHEDULED, S.BACKORDERED, S.PARTIALLY_SHIPPED, S.SHIPPED, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.SCHEDULED, S.BACKORDERED, S.ON_HOLD, S.PARTIALLY_SHIPPED, S.SHIPPED, S.CANCELLED}),
    S.BACKORDERED: frozenset({S.SCHEDULED, S.BACKORDERED, S.ON_HOLD, S.PARTIALLY_SHIPPED, S.SHIPPED, S.CANCELLED}),
    S.PARTIALLY_SHIPPED: frozenset({S.PARTIALLY_SHIPPED, S.SHIPPED, S.DELIVERED, S.ON_HOLD}),  # delivered: the rest cancelled
    S.SHIPPED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset(),
    S.CANCELLED: frozenset(),
}

#: Statuses in which an order may still be changed (quantities, dates, lines, ship-to).
CHANGEABLE = frozenset({S.ON_HOLD, S.SCHEDULED, S.BACKORDERED, S.PARTIALLY_SHIPPED})
#: Statuses from which a shipment may be recorded.
SHIPPABLE = frozenset({S.SCHEDULED, S.BACKORDERED, S.PARTIALLY_SHIPPED})
#: Statuses that hold supply (their open schedule lines are commitments).
OPEN = frozenset({S.CAPTURED, S.ON_HOLD, S.SCHEDULED, S.BACKORDERED, S.PARTIALLY_SHIPPED})
FINAL = frozenset({S.DELIVERED, S.CANCELLED})


def can_transition(src: OrderStatus | str, dst: OrderStatus | str) -> bool:
    return OrderStatus(dst) in TRANSITIONS[OrderStatus(src)]


def check_transition(src: OrderStatus | str, dst: OrderStatus | str, *, order_id: str = "", action: str = "") -> None:
    """Raise ConflictError unless `src -> dst` is an allowed transition."""
    src, dst = OrderStatus(src), OrderStatus(dst)
    if dst not in TRANSITIONS[src]:
        allowed = ", ".join(sorted(TRANSITIONS[src])) or "none (final status)"
        what = f" ({action})" if action else ""
        raise ConflictError(
            f"order {order_id!r} cannot move from {src} to {dst}{what}",
            hint=f"from {src} the allowed statuses are: {allowed}",
        )
