"""Return authorizations, receipts and exchange requests.

Inputs are plain records the caller maps from the order book (:class:`ShippedLine`). A receipt
yields either a :class:`supplydata.live.SupplyDelta` (sellable: the lead applies it through the
order book's durable supply-delta command, so promising sees it at once) or a
:class:`NonSellableStock` record (damaged, defective: kept out of ATP).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from promessa.money import Money
from supplydata.live import SupplyDelta


class ReturnReason(StrEnum):
    DAMAGED_IN_TRANSIT = "damaged_in_transit"
    DEFECTIVE = "defective"
    WRONG_ITEM = "wrong_item"
    NOT_AS_DESCRIBED = "not_as_described"
    NO_LONGER_NEEDED = "no_longer_needed"
    LATE_DELIVERY = "late_delivery"
    SIZE_OR_FIT = "size_or_fit"
    OTHER = "other"


class Condition(StrEnum):
    """The state of returned goods (declared at authorization, found at receipt)."""

    NEW = "new"            # unopened
    OPENED = "opened"      # opened, as new
    USED = "used"
    DAMAGED = "damaged"
    DEFECTIVE = "defective"


class ReturnState(StrEnum):
    AUTHORIZED = "authorized"
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


class ReturnSettings(BaseModel):
    """Which conditions go back to sellable supply, and how long a customer has to send goods back."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    sellable_conditions: frozenset[Condition] = frozenset({Condition.NEW, Condition.OPENED})
    receive_within_days: int = Field(30, ge=1, description="an authorized return not received after this is in jeopardy")


@dataclasses.dataclass(frozen=True, slots=True)
class ShippedLine:
    """What was shipped of an order line (from the order book), the base of a return.

    ``line_ref`` and ``invoice`` name the invoice line the credit note credits.
    """

    order: str
    line: str
    item: str
    qty_shipped: float
    customer: str = ""
    shipped_from: str = ""
    invoice: str = ""
    line_ref: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class NonSellableStock:
    """Returned goods kept out of sellable supply (quarantine, repair, scrap)."""

    item: str
    location: str
    date: dt.date
    qty: float
    condition: Condition
    ref: str


@dataclasses.dataclass(frozen=True, slots=True)
class ReturnReceipt:
    """One receipt of returned goods: exactly one of ``supply`` (sellable) and ``non_sellable`` is set."""

    rma_id: str
    seq: int
    item: str
    location: str
    date: dt.date
    qty: float
    condition: Condition
    supply: SupplyDelta | None
    non_sellable: NonSellableStock | None

    @property
    def ref(self) -> str:
        """The receipt's id (the RMA and the receipt number), used as idempotency key downstream."""
        return f"{self.rma_id}/{self.seq}"


@dataclasses.dataclass(frozen=True, slots=True)
class ExchangeRequest:
    """A replacement line asked for by an exchange, linked to its return; the lead promises and prices it."""

    request_id: str
    rma_id: str
    order: str
    replaces_line: str
    item: str
    qty: float
    requested_date: dt.date
    customer: str = ""


@dataclasses.dataclass(slots=True)
class ReturnAuthorization:
    """A return of ``qty`` of a shipped line, with reason and declared condition. Changed only by :class:`ReturnBook`."""

    rma_id: str
    shipped: ShippedLine
    qty: float
    reason: ReturnReason
    condition: Condition
    authorized_on: dt.date
    exchange: bool = False
    note: str = ""
    state: ReturnState = ReturnState.AUTHORIZED
    receipts: list[ReturnReceipt] = dataclasses.field(default_factory=list)
    exchange_request: ExchangeRequest | None = None
    replacement_line: str = ""
    refund_parts: tuple[tuple[str, Money], ...] = ()
    credit_notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def received(self) -> float:
        """Quantity received so far over all receipts."""
        return float(sum((Decimal(repr(r.qty)) for r in self.receipts), Decimal(0)))

    @property
    def order(self) -> str:
        """The order of the returned line."""
        return self.shipped.order

    @property
    def item(self) -> str:
        """The returned item."""
        return self.shipped.item
