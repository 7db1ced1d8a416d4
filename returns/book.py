"""The return book: authorizations per shipped line, receipts, exchanges, and the refund of a return.

Commands validate first (refusals name the field and the value) and change nothing when they
refuse. Business dates are passed in. Thread-safe (one lock); records live in memory and every
command's result is a record the caller can store.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import threading
from collections.abc import Collection
from decimal import Decimal

from promessa.config import EPS
from promessa.errors import ConflictError, NotFoundError, ValidationError
from promessa.money import Money

from invoicing import Document, DocumentKind, Invoicer, ReturnCredit
from payments import PaymentBook
from returns.model import (
    Condition,
    ExchangeRequest,
    NonSellableStock,
    ReturnAuthorization,
    ReturnReason,
    ReturnReceipt,
    ReturnSettings,
    ReturnState,
    ShippedLine,
)
from supplydata.live import SupplyDelta

R = ReturnState


def _qty(v: object, field: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, Decimal)):
        raise ValidationError("must be a number", field=field, value=v)
    q = float(v)
    if not q > EPS or q != q or q == float("inf"):
        raise ValidationError("must be positive", field=field, value=v)
    return q


def _enum(cls, v: object, field: str):
    try:
        return cls(v)
    except ValueError:
        raise ValidationError(f"unknown {field}", field=field, value=v, hint=f"one of {', '.join(m.value for m in cls)}") from None


@dataclasses.dataclass(frozen=True, slots=True)
class ReturnRefund:
    """What settling a receipt did: the credit note issued and the refund parts per payment (they add up to its total)."""

    rma_id: str
    credit_note: Document
    parts: tuple[tuple[str, Money], ...]


class ReturnBook:
    """Return authorizations and their receipts.

    Parameters
    ----------
    settings : sellable conditions and the receive-within period.
    locations : the location ids a receipt may name (the snapshot's ``location_ids``); None: any non-empty id.
    """

    def __init__(self, settings: ReturnSettings | None = None, *, locations: Collection[str] | None = None) -> None:
        self.settings = settings or ReturnSettings()
        self.locations = set(locations) if locations is not None else None
        self._lock = threading.RLock()
        self._rmas: dict[str, ReturnAuthorization] = {}
        self._by_line: dict[tuple[str, str], list[str]] = {}
        self._ids = itertools.count(1)

    def get(self, rma_id: str) -> ReturnAuthorization:
        """The return authorization with this id (NotFoundError otherwise)."""
        try:
            return self._rmas[rma_id]
        except KeyError:
            raise NotFoundError(f"rma_id={rma_id!r}: no such return authorization") from None

    def of_order(self, order: str) -> list[ReturnAuthorization]:
        """The returns of an order, oldest first."""
        return [r for r in self._rmas.values() if r.order == order]

    def returnable(self, shipped: ShippedLine) -> float:
        """What of a shipped line can still be authorized for return (shipped minus live authorizations)."""
        taken = sum(self._rmas[i].qty if self._rmas[i].state not in (R.CANCELLED,) else 0.0
                    for i in self._by_line.get((shipped.order, shipped.line), []))
        return max(0.0, float(shipped.qty_shipped) - taken)

    def authorize(self, shipped: ShippedLine, *, qty: float, reason: str, condition: str, business_date: dt.date,
                  exchange: bool = False, exchange_item: str | None = None, requested_date: dt.date | None = None,
                  note: str = "", rma_id: str | None = None) -> ReturnAuthorization:
        """Authorize the return of ``qty`` of a shipped line.

        Refuses more than shipped minus what other returns of the line already took (field ``qty``),
        an unknown ``reason`` or ``condition``. With ``exchange=True`` the authorization carries an
        :class:`ExchangeRequest` for ``exchange_item`` (default: the same item), wanted on
        ``requested_date`` (default: the business date). Returns the authorization.
        """
        if not isinstance(shipped, ShippedLine):
            raise ValidationError("must be a ShippedLine", field="shipped", value=type(shipped).__name__)
        q = _qty(qty, "qty")
        rs = _enum(ReturnReason, reason, "reason")
        cond = _enum(Condition, condition, "condition")
        if not isinstance(business_date, dt.date):
            raise ValidationError("must be a date (the business date)", field="business_date", value=business_date)
        with self._lock:
            left = self.returnable(shipped)
            if q > left + EPS:
                raise ValidationError(f"more than can be returned of line {shipped.order}/{shipped.line}: shipped "
                                      f"{shipped.qty_shipped:g}, already authorized {float(shipped.qty_shipped) - left:g}",
                                      field="qty", value=qty)
            rid = rma_id or f"RMA{next(self._ids):07d}"
            if rid in self._rmas:
                raise ConflictError(f"rma_id={rid!r}: already exists")
            rma = ReturnAuthorization(rid, shipped, q, rs, cond, business_date, exchange=exchange, note=note)
            if exchange:
                rma.exchange_request = ExchangeRequest(f"{rid}-X", rid, shipped.order, shipped.line, exchange_item or shipped.item, q,
                                                       requested_date or business_date, shipped.customer)
            self._rmas[rid] = rma
            self._by_line.setdefault((shipped.order, shipped.line), []).append(rid)
            return rma

    def receive(self, rma_id: str, *, location: str, date: dt.date, qty: float | None = None,
                condition: str | None = None) -> ReturnReceipt:
        """Receive returned goods at ``location`` on ``date`` (default qty: all still expected; condition: as declared).

        Sellable conditions yield ``receipt.supply`` (a SupplyDelta of kind ``receipt``, ref the receipt id)
        to apply through the order book; others yield ``receipt.non_sellable``. Refuses more than
        authorized minus received (field ``qty``) and unknown locations (field ``location``).
        """
        with self._lock:
            rma = self.get(rma_id)
            if rma.state not in (R.AUTHORIZED, R.PARTIALLY_RECEIVED):
                raise ConflictError(f"return {rma_id}: cannot receive in state {rma.state}")
            if not isinstance(location, str) or not location or (self.locations is not None and location not in self.locations):
                raise ValidationError("unknown location", field="location", value=location)
            if not isinstance(date, dt.date):
                raise ValidationError("must be a date", field="date", value=date)
            left = rma.qty - rma.received
            q = left if qty is None else _qty(qty, "qty")
            if q > left + EPS:
                raise ValidationError(f"more than still expected on return {rma_id} ({left:g})", field="qty", value=qty)
            cond = rma.condition if condition is None else _enum(Condition, condition, "condition")
            seq = len(rma.receipts) + 1
            ref = f"{rma_id}/{seq}"
            if cond in self.settings.sellable_conditions:
                sup, ns = SupplyDelta(rma.item, location, date, q, kind="receipt", ref=ref), None
            else:
                sup, ns = None, NonSellableStock(rma.item, location, date, q, cond, ref)
            rec = ReturnReceipt(rma_id, seq, rma.item, location, date, q, cond, sup, ns)
            rma.receipts.append(rec)
            rma.state = R.RECEIVED if rma.received >= rma.qty - EPS else R.PARTIALLY_RECEIVED
            return rec

    def cancel(self, rma_id: str) -> ReturnAuthorization:
        """Cancel an authorization nothing was received for (its quantity becomes returnable again)."""
        with self._lock:
            rma = self.get(rma_id)
            if rma.state != R.AUTHORIZED:
                raise ConflictError(f"return {rma_id}: cannot cancel in state {rma.state} (goods were received)")
            rma.state = R.CANCELLED
            return rma

    def link_replacement(self, rma_id: str, order_line: str) -> ReturnAuthorization:
        """Record the order line the lead created (promised and priced) for the exchange of ``rma_id``."""
        with self._lock:
            rma = self.get(rma_id)
            if rma.exchange_request is None:
                raise ValidationError("is not an exchange", field="rma_id", value=rma_id)
            rma.replacement_line = order_line
            return rma

    def refund_receipt(self, receipt: ReturnReceipt, *, invoicer: Invoicer, payments: PaymentBook, issue_date: dt.date,
                       ) -> ReturnRefund:
        """Credit and refund one receipt: a credit note for the received quantity on the shipped line's invoice,
        then its total refunded to the order's original payment methods in the stated refund order.

        Idempotent by the receipt id (the credit note's source_ref and the refund key). Refuses a
        return whose shipped line names no invoice (field ``shipped.invoice``). Returns a
        :class:`ReturnRefund`; the return is ``refunded`` once all it expected was received and refunded.
        """
        with self._lock:
            rma = self.get(receipt.rma_id)
            if not rma.shipped.invoice:
                raise ValidationError("names no invoice to credit", field="shipped.invoice", value=rma.shipped.invoice)
            credit = [ReturnCredit(rma.shipped.line_ref or rma.shipped.line, receipt.qty)]
            if invoicer.store.by_source(DocumentKind.CREDIT_NOTE, receipt.ref) is None:
                draft = invoicer.draft_credit_return(rma.shipped.invoice, credit, source_ref=receipt.ref, issue_date=issue_date,
                                                     reason=str(rma.reason))
                payments.plan_refund(rma.order, draft.total)  # refuses (field amount) before anything is written
            cn = invoicer.credit_return(rma.shipped.invoice, credit, source_ref=receipt.ref, issue_date=issue_date,
                                        reason=str(rma.reason))
            parts = payments.refund_order(rma.order, cn.total, key=receipt.ref, reason=f"return {rma.rma_id}")
            if cn.number not in rma.credit_notes:
                rma.credit_notes.append(cn.number)
                rma.refund_parts = rma.refund_parts + parts
            if rma.state == R.RECEIVED and len(rma.credit_notes) == len(rma.receipts):
                rma.state = R.REFUNDED
            return ReturnRefund(rma.rma_id, cn, parts)

    def not_received(self, business_date: dt.date) -> list[ReturnAuthorization]:
        """Authorized returns still expected more than ``receive_within_days`` after authorization (jeopardy)."""
        limit = dt.timedelta(days=self.settings.receive_within_days)
        return [r for r in self._rmas.values()
                if r.state in (R.AUTHORIZED, R.PARTIALLY_RECEIVED) and r.authorized_on + limit < business_date]
