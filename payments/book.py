"""The payment book: the one writer of payments, their state machine and audit trail.

Commands (each validated first: bad input is refused naming the field and the value, and
changes nothing): open, authorize, capture, capture_shipment (the capture rule), collect_cod,
confirm_transfer, refund, refund_order (split over the original methods), void, cancel_open,
expire_due, handle_webhook (verified, idempotent by event id). Reads: payment, payments_of,
summary, trail.

Thread-safe (one lock). The book keeps its records in memory; ``Transition`` records (the audit
trail) are what a durable log stores.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import threading
from collections.abc import Callable, Mapping
from decimal import Decimal

from promessa.errors import ConflictError, NotFoundError, ValidationError
from promessa.money import Money, MoneyError

from payments.cards import refuse_card_data
from payments.model import (
    CaptureRule,
    MethodKind,
    Operation,
    OrderPayments,
    Payment,
    PaymentSettings,
    PaymentState,
    Transition,
    check_move,
)
from payments.providers import PaymentProvider, ProviderResult, ProviderTimeout
from payments.webhooks import WebhookEvent, verify

S = PaymentState


@dataclasses.dataclass(frozen=True, slots=True)
class CaptureResult:
    """What a shipment (or delivery) captured: (payment_id, amount) in capture order, and what no payment covered."""

    captures: tuple[tuple[str, Money], ...]
    shortfall: Money


@dataclasses.dataclass(frozen=True, slots=True)
class CloseResult:
    """What closing an order did: refunds of what was captured beyond what it owes, and what is still due from the customer."""

    refunds: tuple[tuple[str, Money], ...]
    due: Money


@dataclasses.dataclass(frozen=True, slots=True)
class Reconciled:
    """What asking the provider about one operation pending too long found: ``approved`` (applied as its webhook would
    have been), ``declined`` (marked failed) or ``pending`` (still waiting; asked again later)."""

    payment_id: str
    order: str
    key: str
    kind: str
    status: str
    code: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class WebhookOutcome:
    """What a webhook did: applied, a duplicate of an event already seen, or ignored (with a note)."""

    event_id: str
    type: str
    applied: bool
    duplicate: bool = False
    payment_id: str | None = None
    state: PaymentState | None = None
    note: str = ""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_amount(amount: object, *, field: str = "amount", currency: str | None = None, allow_zero: bool = False) -> Money:
    if not isinstance(amount, Money):
        raise ValidationError("must be Money (an exact amount with its currency)", field=field, value=amount)
    if currency is not None and amount.currency != currency:
        raise ValidationError(f"currency must be {currency}", field=f"{field}.currency", value=amount.currency)
    if amount.amount < 0 or (amount.amount == 0 and not allow_zero):
        raise ValidationError("must be positive", field=field, value=str(amount.amount))
    if amount.rounded() != amount:
        raise ValidationError(f"has more digits than the minor unit of {amount.currency}", field=field, value=str(amount.amount),
                              hint="round the amount to the currency's minor unit")
    return amount


class PaymentBook:
    """Payments of orders, by method, behind provider adapters.

    Parameters
    ----------
    providers : provider adapters by the name methods refer to (``MethodConfig.provider``),
        e.g. ``{"offline": OfflineProvider(), "gateway": TestGateway(...)}``.
    settings : methods, capture rule, capture/refund order, webhook tolerance, expiry.
    webhook_secrets : the HMAC secret of each provider that sends webhooks.
    clock : wall-clock time for audit timestamps only (business dates are passed in).
    """

    def __init__(self, *, providers: Mapping[str, PaymentProvider], settings: PaymentSettings | None = None,
                 webhook_secrets: Mapping[str, bytes] | None = None, clock: Callable[[], dt.datetime] = _utcnow) -> None:
        self.settings = settings or PaymentSettings()
        for name, mc in self.settings.methods.items():
            if mc.provider not in providers:
                raise ValidationError(f"method {name!r} names a provider that was not given", field=f"methods.{name}.provider",
                                      value=mc.provider, hint=f"providers given: {', '.join(sorted(providers))}")
        self.providers = dict(providers)
        self.webhook_secrets = dict(webhook_secrets or {})
        self.clock = clock
        self._lock = threading.RLock()
        self._payments: dict[str, Payment] = {}
        self._by_order: dict[str, list[str]] = {}
        self._by_ref: dict[tuple[str, str], str] = {}
        self._by_key: dict[tuple[str, str], str] = {}  # (provider, operation key) -> payment id
        self._events: dict[str, WebhookOutcome] = {}
        self._shipped: dict[str, Money] = {}       # order -> cumulative value shipped (capture per shipped quantity)
        self._shipment_keys: dict[tuple[str, str], CaptureResult] = {}  # keys are per order
        self._order_keys: dict[tuple[str, str], tuple[tuple[str, Money], ...]] = {}
        self._close_keys: dict[tuple[str, str], CloseResult] = {}
        self._next_id = 1
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ reads
    def payment(self, payment_id: str) -> Payment:
        """The payment with this id (NotFoundError otherwise)."""
        try:
            return self._payments[payment_id]
        except KeyError:
            raise NotFoundError(f"payment_id={payment_id!r}: no such payment") from None

    def payments_of(self, order: str) -> list[Payment]:
        """The payments of an order, in the order they were opened."""
        return [self._payments[i] for i in self._by_order.get(order, [])]

    def trail(self, payment_id: str) -> list[Transition]:
        """The audit trail of a payment: every move, oldest first."""
        return list(self.payment(payment_id).trail)

    def summary(self, order: str, *, currency: str | None = None) -> OrderPayments:
        """Expected, captured, refunded and still-open amounts of an order's payments, with each one's state."""
        ps = self.payments_of(order)
        cur = ps[0].currency if ps else (currency or "EUR")
        z = Money.zero(cur)
        live = [p for p in ps if p.state not in (S.FAILED, S.VOIDED, S.EXPIRED)]
        return OrderPayments(
            order=order, currency=cur,
            expected=sum((p.amount - p.released for p in live), z),
            captured=sum((p.captured for p in ps), z),
            refunded=sum((p.refunded for p in ps), z),
            open=sum((p.open_amount() for p in ps), z),
            states=tuple((p.payment_id, p.state) for p in ps),
        )

    # ------------------------------------------------------------------ records (what a durable store keeps)
    def records(self, order: str) -> dict:
        """Everything the book knows about ``order``, JSON-able: its payments (with trails and provider operations)
        and the keys of the shipments, refunds and closes already handled. Store it after each command
        touching the order; :meth:`restore` puts it back."""
        with self._lock:
            def pairs(d: dict) -> list:
                return [[k[1], [[pid, m.to_dict()] for pid, m in v]] for k, v in d.items() if k[0] == order]
            return {
                "order": order,
                "payments": [p.to_dict() for p in self.payments_of(order)],
                "shipped": self._shipped[order].to_dict() if order in self._shipped else None,
                "shipment_keys": [[k[1], [[pid, m.to_dict()] for pid, m in v.captures], v.shortfall.to_dict()]
                                  for k, v in self._shipment_keys.items() if k[0] == order],
                "refund_keys": pairs(self._order_keys),
                "close_keys": [[k[1], [[pid, m.to_dict()] for pid, m in v.refunds], v.due.to_dict()]
                               for k, v in self._close_keys.items() if k[0] == order],
            }

    def restore(self, records: dict, *, events: dict[str, dict] | None = None) -> None:
        """Put back one order's :meth:`records` (replacing what the book has for it), and webhook outcomes already
        seen (``{event_id: WebhookOutcome as dict}``, see :meth:`seen_events`) so duplicates stay duplicates."""
        def parts(xs: list) -> tuple[tuple[str, Money], ...]:
            return tuple((pid, Money.from_dict(m)) for pid, m in xs)
        with self._lock:
            order = records["order"]
            for pid in self._by_order.pop(order, []):
                self._payments.pop(pid, None)
            for d in records["payments"]:
                p = Payment.from_dict(d)
                self._payments[p.payment_id] = p
                self._by_order.setdefault(order, []).append(p.payment_id)
                if p.provider_ref:
                    self._by_ref[(p.provider, p.provider_ref)] = p.payment_id
                for key in p.ops:
                    self._by_key[(p.provider, key)] = p.payment_id
                num = p.payment_id.removeprefix("PAY")
                if num.isdigit() and int(num) >= self._next_id:
                    self._next_id = int(num) + 1
                    self._ids = itertools.count(self._next_id)
            if records.get("shipped"):
                self._shipped[order] = Money.from_dict(records["shipped"])
            for key, caps, short in records.get("shipment_keys", []):
                self._shipment_keys[(order, key)] = CaptureResult(parts(caps), Money.from_dict(short))
            for key, ps in records.get("refund_keys", []):
                self._order_keys[(order, key)] = parts(ps)
            for key, ps, due in records.get("close_keys", []):
                self._close_keys[(order, key)] = CloseResult(parts(ps), Money.from_dict(due))
            for eid, o in (events or {}).items():
                self._events[eid] = WebhookOutcome(o["event_id"], o["type"], o["applied"], False, o.get("payment_id"),
                                                   PaymentState(o["state"]) if o.get("state") else None, o.get("note", ""))

    def seen_events(self) -> dict[str, dict]:
        """Webhook outcomes by event id (JSON-able), for :meth:`restore`."""
        with self._lock:
            return {eid: self._event_doc(o) for eid, o in self._events.items()}

    def seen_event(self, event_id: str) -> dict:
        """One webhook outcome (JSON-able, as in :meth:`seen_events`): what to store after handling it."""
        with self._lock:
            return self._event_doc(self._events[event_id])

    @staticmethod
    def _event_doc(o: WebhookOutcome) -> dict:
        return {"event_id": o.event_id, "type": o.type, "applied": o.applied, "payment_id": o.payment_id,
                "state": str(o.state) if o.state else None, "note": o.note}

    # ------------------------------------------------------------------ moves
    def _note(self, p: Payment, event: str, *, amount: Money | None = None, ref: str = "", note: str = "") -> None:
        p.seq += 1
        p.trail.append(Transition(p.seq, p.payment_id, event, p.state, p.state, amount, self.clock(), ref, note))

    def _move(self, p: Payment, event: str, to: PaymentState, *, amount: Money | None = None, ref: str = "", note: str = "") -> None:
        check_move(p, event, to)
        p.seq += 1
        p.trail.append(Transition(p.seq, p.payment_id, event, p.state, to, amount, self.clock(), ref, note))
        p.state = to

    @staticmethod
    def _state_from_amounts(p: Payment, captured: Money, refunded: Money, released: Money) -> PaymentState:
        closed = captured + released >= p.amount
        if refunded.amount > 0:
            return S.REFUNDED if (refunded >= captured and closed) else S.PARTIALLY_REFUNDED
        if captured.amount > 0:
            return S.CAPTURED if closed else S.PARTIALLY_CAPTURED
        return S.VOIDED if closed else S.AUTHORIZED

    def _apply_capture(self, p: Payment, amount: Money, ref: str) -> None:
        to = self._state_from_amounts(p, p.captured + amount, p.refunded, p.released)
        self._move(p, "capture", to, amount=amount, ref=ref)
        p.captured = p.captured + amount

    def _apply_refund(self, p: Payment, amount: Money, ref: str, note: str = "") -> None:
        to = self._state_from_amounts(p, p.captured, p.refunded + amount, p.released)
        self._move(p, "refund", to, amount=amount, ref=ref, note=note)
        p.refunded = p.refunded + amount

    # ------------------------------------------------------------------ commands
    def open(self, *, order: str, method: str, amount: Money, business_date: dt.date, token: str | None = None,
             payment_id: str | None = None) -> Payment:
        """Open a pending payment of ``amount`` by ``method`` for ``order``.

        ``token`` is the provider's token for cards and wallets, the code for vouchers; anything
        that looks like a card number is refused. ``business_date`` starts the expiry clock.
        Returns the new :class:`Payment` (state pending).
        """
        if not isinstance(order, str) or not order.strip():
            raise ValidationError("must be a non-empty order id", field="order", value=order)
        mc = self.settings.methods.get(method)
        if mc is None:
            raise ValidationError("unknown payment method", field="method", value=method,
                                  hint=f"configured: {', '.join(sorted(self.settings.methods))}")
        _check_amount(amount)
        refuse_card_data("token", token)
        if mc.kind in (MethodKind.CARD, MethodKind.WALLET, MethodKind.VOUCHER) and not token:
            raise ValidationError(f"a {mc.kind} payment needs a provider token (or voucher code)", field="token", value=token)
        if not isinstance(business_date, dt.date):
            raise ValidationError("must be a date", field="business_date", value=business_date)
        with self._lock:
            others = self.payments_of(order)
            if others and others[0].currency != amount.currency:
                raise ValidationError(f"order {order} is paid in {others[0].currency}", field="amount.currency", value=amount.currency)
            pid = payment_id or f"PAY{next(self._ids):07d}"
            while payment_id is None and pid in self._payments:  # ids restored from records
                pid = f"PAY{next(self._ids):07d}"
            if pid in self._payments:
                raise ConflictError(f"payment_id={pid!r}: already exists")
            p = Payment(pid, order, method, mc.kind, mc.provider, amount, token=token, opened_at=self.clock(),
                        expires_on=business_date + dt.timedelta(days=self.settings.authorization_ttl_days))
            self._note(p, "open", amount=amount, note=method)
            self._payments[pid] = p
            self._by_order.setdefault(order, []).append(pid)
            return p

    def authorize(self, payment_id: str) -> Payment:
        """Ask the provider to authorize a pending payment (retry-safe: the same key is reused).

        Approved: authorized (captured at once under the on_order rule). Declined: failed, with the
        provider's code in the trail. Pending or timed out: stays pending until a webhook, a
        transfer confirmation, or a retry. Returns the payment.
        """
        with self._lock:
            p = self.payment(payment_id)
            if p.state != S.PENDING:
                if p.ops.get(f"{p.payment_id}:auth") is not None:
                    return p
                raise ConflictError(f"payment {payment_id}: cannot authorize in state {p.state}")
            key = f"{p.payment_id}:auth"
            self._add_op(p, Operation(key, "authorize", p.amount))
            try:
                res = self.providers[p.provider].authorize(key=key, kind=p.kind, amount=p.amount, token=p.token)
            except ProviderTimeout as e:
                self._note(p, "authorize_timeout", note=e.message)
                return p
            self._authorized(p, res, key)
            return p

    def _add_op(self, p: Payment, op: Operation) -> Operation:
        if op.at is None:
            op.at = self.clock()
        p.ops[op.key] = op
        self._by_key[(p.provider, op.key)] = p.payment_id
        return op

    def _authorized(self, p: Payment, res: ProviderResult, key: str) -> None:
        if res.ref:
            p.provider_ref = res.ref
            self._by_ref[(p.provider, res.ref)] = p.payment_id
        if res.status == "declined":
            p.ops[key].status = "failed"
            self._move(p, "decline", S.FAILED, ref=res.ref, note=f"{res.code}: {res.message}".strip(": "))
        elif res.status == "approved":
            p.ops[key].status = "succeeded"
            self._move(p, "authorize", S.AUTHORIZED, amount=p.amount, ref=res.ref, note=res.code)
            if self.settings.capture_rule == CaptureRule.ON_ORDER and p.kind in (MethodKind.CARD, MethodKind.WALLET, MethodKind.VOUCHER):
                self._capture(p, p.open_amount(), "on_order")
        else:
            self._note(p, "authorize_pending", ref=res.ref, note=res.code)

    @staticmethod
    def _ns(p: Payment, key: str) -> str:
        """Operation keys are the provider's idempotency keys: unique per payment, whatever the caller passed."""
        return key if key.startswith(p.payment_id + ":") else f"{p.payment_id}:{key}"

    def _capture(self, p: Payment, amount: Money, key: str) -> None:
        key = self._ns(p, key)
        if key in p.ops:
            return
        op = self._add_op(p, Operation(key, "capture", amount))
        try:
            res = self.providers[p.provider].capture(key=key, ref=p.provider_ref, amount=amount)
        except ProviderTimeout as e:
            self._note(p, "capture_timeout", amount=amount, note=e.message)
            return
        if res.status == "approved":
            op.status = "succeeded"
            self._apply_capture(p, amount, key)
        elif res.status == "declined":
            op.status = "failed"
            self._note(p, "capture_declined", amount=amount, ref=key, note=res.code)
        else:
            self._note(p, "capture_requested", amount=amount, ref=key)

    def capture(self, payment_id: str, amount: Money | None = None, *, key: str | None = None) -> Payment:
        """Capture ``amount`` (default: all still open) of an authorized payment; ``key`` makes retries safe.

        Refuses an amount above what is open (field ``amount``), changing nothing.
        """
        with self._lock:
            p = self.payment(payment_id)
            if p.state not in (S.AUTHORIZED, S.PARTIALLY_CAPTURED, S.PARTIALLY_REFUNDED):
                raise ConflictError(f"payment {payment_id}: cannot capture in state {p.state}")
            key = self._ns(p, key or f"cap{len(p.ops)}")
            if key in p.ops:
                return p
            amount = p.open_amount() if amount is None else _check_amount(amount, currency=p.currency)
            if amount > p.open_amount() or amount.is_zero():
                raise ValidationError(f"exceeds what is open on payment {payment_id} ({p.open_amount()})", field="amount",
                                      value=str(amount.amount))
            self._capture(p, amount, key)
            return p

    def _capturable(self, order: str, kinds: tuple[MethodKind, ...]) -> list[Payment]:
        rank = {k: i for i, k in enumerate(self.settings.capture_order)}
        ps = [p for p in self.payments_of(order) if p.kind in kinds
              and p.state in (S.AUTHORIZED, S.PARTIALLY_CAPTURED, S.PARTIALLY_REFUNDED) and p.open_amount().amount > 0]
        return sorted(ps, key=lambda p: rank[p.kind])  # stable: ties keep the opening order

    def capture_shipment(self, order: str, shipped_value: Money, *, key: str) -> CaptureResult:
        """Apply the capture rule to a shipment of ``order`` worth ``shipped_value`` (its invoiced total).

        per_shipped_quantity: capture what makes the order's captures (incl. prepaid transfers and
        pending captures) reach the value shipped so far; on_shipment: capture everything open at the
        first shipment; on_order: nothing is left to capture. Payments are drawn in ``capture_order``.
        Cash on delivery is not captured here (see :meth:`collect_cod`). ``key`` (the shipment id)
        makes a repeated call a no-op returning the first result. Returns a :class:`CaptureResult`.
        """
        with self._lock:
            if (order, key) in self._shipment_keys:
                return self._shipment_keys[(order, key)]
            ps = self.payments_of(order)
            cur = ps[0].currency if ps else shipped_value.currency
            _check_amount(shipped_value, field="shipped_value", currency=cur, allow_zero=True)
            cum = self._shipped.get(order, Money.zero(cur)) + shipped_value
            kinds = (MethodKind.CARD, MethodKind.WALLET, MethodKind.VOUCHER, MethodKind.BANK_TRANSFER)
            cands = self._capturable(order, kinds)
            if self.settings.capture_rule == CaptureRule.PER_SHIPPED_QUANTITY:
                covered = sum((p.captured + self._pending(p, "capture") for p in ps if p.kind != MethodKind.CASH_ON_DELIVERY),
                              Money.zero(cur))
                need = cum - covered
            else:
                need = sum((p.open_amount() for p in cands), Money.zero(cur))
            caps: list[tuple[str, Money]] = []
            for p in cands:
                if need.amount <= 0:
                    break
                take = min(p.open_amount(), need)
                self._capture(p, take, f"{order}:{key}")
                caps.append((p.payment_id, take))
                need = need - take
            self._shipped[order] = cum
            shortfall = need if (need.amount > 0 and self.settings.capture_rule == CaptureRule.PER_SHIPPED_QUANTITY) else Money.zero(cur)
            out = CaptureResult(tuple(caps), shortfall)
            self._shipment_keys[(order, key)] = out
            return out

    @staticmethod
    def _pending(p: Payment, kind: str) -> Money:
        return Money(sum((op.amount.amount for op in p.ops.values() if op.kind == kind and op.status == "pending" and op.amount),
                         Decimal(0)), p.currency)

    def collect_cod(self, payment_id: str, amount: Money, *, ref: str) -> Payment:
        """Cash collected at delivery for a cash-on-delivery payment (``ref``: the delivery or receipt id)."""
        with self._lock:
            p = self.payment(payment_id)
            if p.kind != MethodKind.CASH_ON_DELIVERY:
                raise ValidationError("is not a cash-on-delivery payment", field="payment_id", value=payment_id)
            if self._ns(p, f"cod:{ref}") in p.ops:
                return p
            if p.state not in (S.AUTHORIZED, S.PARTIALLY_CAPTURED):
                raise ConflictError(f"payment {payment_id}: cannot collect cash in state {p.state}")
            _check_amount(amount, currency=p.currency)
            if amount > p.open_amount():
                raise ValidationError(f"exceeds what is due on delivery ({p.open_amount()})", field="amount", value=str(amount.amount))
            self._capture(p, amount, f"cod:{ref}")
            return p

    def confirm_transfer(self, payment_id: str, amount: Money, *, reference: str) -> Payment:
        """A bank transfer arrived (``reference``: the bank statement line); partial transfers add up."""
        with self._lock:
            p = self.payment(payment_id)
            if p.kind != MethodKind.BANK_TRANSFER:
                raise ValidationError("is not a bank-transfer payment", field="payment_id", value=payment_id)
            if self._ns(p, f"transfer:{reference}") in p.ops:
                return p
            if p.state not in (S.PENDING, S.PARTIALLY_CAPTURED):
                raise ConflictError(f"payment {payment_id}: cannot confirm a transfer in state {p.state}")
            _check_amount(amount, currency=p.currency)
            if amount > p.amount - p.captured:
                raise ValidationError(f"exceeds what is expected ({p.amount - p.captured})", field="amount", value=str(amount.amount),
                                      hint="an overpayment is booked by hand")
            self._capture(p, amount, f"transfer:{reference}")
            return p

    def refund(self, payment_id: str, amount: Money, *, key: str, reason: str = "") -> Payment:
        """Refund ``amount`` of what was captured. Refused above the refundable amount (field ``amount``), changing nothing."""
        with self._lock:
            p = self.payment(payment_id)
            if self._ns(p, key) in p.ops:
                return p
            _check_amount(amount, currency=p.currency)
            if amount > p.refundable():
                raise ValidationError(f"exceeds what payment {payment_id} can refund (captured {p.captured}, refunded {p.refunded})",
                                      field="amount", value=str(amount.amount))
            self._refund(p, amount, key, reason)
            return p

    def _refund(self, p: Payment, amount: Money, key: str, reason: str) -> None:
        key = self._ns(p, key)
        op = self._add_op(p, Operation(key, "refund", amount))
        try:
            res = self.providers[p.provider].refund(key=key, ref=p.provider_ref, amount=amount)
        except ProviderTimeout as e:
            self._note(p, "refund_timeout", amount=amount, note=e.message)
            return
        if res.status == "approved":
            op.status = "succeeded"
            self._apply_refund(p, amount, key, note=" ".join(x for x in (reason, res.code) if x))
        elif res.status == "declined":
            op.status = "failed"
            self._note(p, "refund_declined", amount=amount, ref=key, note=res.code)
        else:
            self._note(p, "refund_requested", amount=amount, ref=key, note=reason)

    def plan_refund(self, order: str, amount: Money) -> list[tuple[str, Money]]:
        """How ``amount`` would be refunded over the order's payments: in ``refund_order``, each up to what it can refund.

        Refuses (field ``amount``) more than the order's payments can refund. Changes nothing.
        """
        ps = self.payments_of(order)
        if not ps:
            raise NotFoundError(f"order={order!r}: has no payments")
        _check_amount(amount, currency=ps[0].currency)
        rank = {k: i for i, k in enumerate(self.settings.refunds())}
        ps = sorted((p for p in ps if p.refundable().amount > 0), key=lambda p: rank[p.kind])
        total = sum((p.refundable() for p in ps), Money.zero(amount.currency))
        if amount > total:
            raise ValidationError(f"exceeds what order {order} can refund ({total})", field="amount", value=str(amount.amount))
        plan, rest = [], amount
        for p in ps:
            if rest.is_zero():
                break
            take = min(p.refundable(), rest)
            plan.append((p.payment_id, take))
            rest = rest - take
        return plan

    def refund_order(self, order: str, amount: Money, *, key: str, reason: str = "") -> tuple[tuple[str, Money], ...]:
        """Refund ``amount`` to the order's original payment methods (see :meth:`plan_refund`); ``key`` makes it retry-safe.

        Returns the (payment_id, amount) parts, which add up exactly to ``amount``.
        """
        with self._lock:
            if (order, key) in self._order_keys:
                return self._order_keys[(order, key)]
            plan = tuple(self.plan_refund(order, amount))
            for pid, part in plan:
                self._refund(self._payments[pid], part, f"{order}:{key}", reason)
            self._order_keys[(order, key)] = plan
            return plan

    def void(self, payment_id: str, *, note: str = "") -> Payment:
        """Release what is still open: a payment with no capture becomes voided; one partly captured keeps its captures."""
        with self._lock:
            p = self.payment(payment_id)
            if p.state in (S.PENDING, S.AUTHORIZED):
                if p.provider_ref:
                    self.providers[p.provider].void(key=f"{payment_id}:void", ref=p.provider_ref)
                self._move(p, "void", S.VOIDED, amount=p.amount, note=note)
                p.released = p.amount
            elif p.state in (S.PARTIALLY_CAPTURED, S.PARTIALLY_REFUNDED) and p.open_amount().amount > 0:
                rest = p.open_amount()
                self.providers[p.provider].void(key=f"{payment_id}:release{len(p.ops)}", ref=p.provider_ref)
                to = self._state_from_amounts(p, p.captured, p.refunded, p.released + rest)
                self._move(p, "release", to, amount=rest, note=note)
                p.released = p.released + rest
            else:
                raise ConflictError(f"payment {payment_id}: nothing open to void in state {p.state}")
            return p

    def cancel_open(self, order: str, *, note: str = "order cancelled") -> list[Payment]:
        """Void or release every payment of ``order`` that still has something open (an order or its rest cancelled)."""
        with self._lock:
            out = []
            for p in self.payments_of(order):
                if p.state in (S.PENDING, S.AUTHORIZED) or (
                        p.state in (S.PARTIALLY_CAPTURED, S.PARTIALLY_REFUNDED) and p.open_amount().amount > 0):
                    out.append(self.void(p.payment_id, note=note))
            return out

    def close_order(self, order: str, owed: Money, *, key: str) -> CloseResult:
        """Settle a finished order (everything shipped, cancelled or returned): release what is still open and
        refund, to the original methods, what was captured beyond ``owed`` (its invoiced minus credited total).

        Refused (ConflictError) while a capture or refund still waits for the provider. ``key`` makes it
        retry-safe. Returns the refund parts and what the customer still owes (``due``, e.g. COD not collected).
        """
        with self._lock:
            if (order, key) in self._close_keys:
                return self._close_keys[(order, key)]
            ps = self.payments_of(order)
            cur = ps[0].currency if ps else owed.currency
            _check_amount(owed, field="owed", currency=cur, allow_zero=True)
            waiting = [op.key for p in ps for op in p.ops.values() if op.kind in ("capture", "refund") and op.status == "pending"]
            if waiting:
                raise ConflictError(f"order {order}: {len(waiting)} operation(s) still wait for the provider ({waiting[0]}, ...)",
                                    hint="close the order once their webhooks arrived")
            self.cancel_open(order, note="order closed")
            net = sum((p.net() for p in ps), Money.zero(cur))
            parts: tuple[tuple[str, Money], ...] = ()
            if net > owed:
                parts = self.refund_order(order, net - owed, key=key, reason="order closed: captured beyond invoiced")
            out = CloseResult(parts, owed - net if owed > net else Money.zero(cur))
            self._close_keys[(order, key)] = out
            return out

    def expire_due(self, business_date: dt.date) -> list[Payment]:
        """Expire pending and authorized payments whose expiry date is before ``business_date``; returns them."""
        with self._lock:
            out = []
            for p in self._payments.values():
                if p.state in (S.PENDING, S.AUTHORIZED) and p.expires_on is not None and p.expires_on < business_date:
                    self._move(p, "expire", S.EXPIRED, note=f"not completed by {p.expires_on}")
                    out.append(p)
            return out

    # ------------------------------------------------------------------ after a restart, and when webhooks do not come
    def pending_operations(self, provider: str | None = None) -> list[tuple[Payment, Operation]]:
        """Captures and refunds sent to a provider (all, or ``provider``) whose outcome is not known yet, oldest first."""
        with self._lock:
            out = [(p, op) for p in self._payments.values() if provider is None or p.provider == provider
                   for op in p.ops.values() if op.kind in ("capture", "refund") and op.status == "pending"]
        return sorted(out, key=lambda x: (x[1].at is None, x[1].at or dt.datetime.min.replace(tzinfo=dt.UTC), x[1].key))

    def retry_pending(self, provider: str) -> list[str]:
        """Send every capture and refund still pending at ``provider`` again, with its own idempotency key (after a
        restart: a provider that already has it answers the first outcome; one that lost it carries it out once and
        notifies). An answer given at once is applied; ``pending`` waits for the webhook. Returns the keys sent."""
        sent = []
        with self._lock:
            for p, op in self.pending_operations(provider):
                call = self.providers[p.provider].capture if op.kind == "capture" else self.providers[p.provider].refund
                try:
                    res = call(key=op.key, ref=p.provider_ref, amount=op.amount)
                except ProviderTimeout:
                    continue
                sent.append(op.key)
                self._settle_op(p, op, res, via="retried")
        return sent

    def _settle_op(self, p: Payment, op: Operation, res: ProviderResult, *, via: str) -> None:
        """Apply a provider's final answer about a pending capture or refund (approved or declined); pending: nothing."""
        if res.status == "approved":
            op.status = "succeeded"
            if op.kind == "capture":
                self._apply_capture(p, op.amount, op.key)
            else:
                self._apply_refund(p, op.amount, op.key, note=via)
        elif res.status == "declined":
            op.status = "failed"
            self._note(p, f"{op.kind}_failed", amount=op.amount, ref=op.key, note=f"{via}: {res.code}".rstrip(": "))

    def reconcile(self, *, older_than_s: float, now: dt.datetime | None = None) -> list[Reconciled]:
        """Ask each provider about the captures and refunds pending for more than ``older_than_s`` seconds (wall clock
        ``now``, default the book's clock; operation time, not a business date) - their webhook may never come - and
        apply what it says (``PaymentProvider.status``): approved as the webhook would have, declined (or unknown to
        the provider) as failed, still pending left as it is. Returns one :class:`Reconciled` per operation asked."""
        now = now or self.clock()
        limit = now - dt.timedelta(seconds=older_than_s)
        out = []
        with self._lock:
            for p, op in self.pending_operations():
                if op.at is not None and op.at > limit:
                    continue
                try:
                    res = self.providers[p.provider].status(key=op.key, ref=p.provider_ref)
                except ProviderTimeout:
                    continue
                if op.status != "pending":  # a webhook got in first
                    continue
                self._settle_op(p, op, res, via="reconciled")
                out.append(Reconciled(p.payment_id, p.order, op.key, op.kind, res.status, res.code))
        return out

    # ------------------------------------------------------------------ webhooks
    def handle_webhook(self, provider: str, body: bytes, signature: str | None, *, now: float) -> WebhookOutcome:
        """Verify a provider's webhook (signature, timestamp within tolerance of ``now``) and apply it once.

        A second delivery of the same event id answers the first outcome with ``duplicate=True``.
        Refusals (ValidationError naming signature/timestamp/body/amount) change nothing.
        """
        secret = self.webhook_secrets.get(provider)
        if secret is None:
            raise NotFoundError(f"provider={provider!r}: has no webhook secret")
        ev = verify(body, signature, secret=secret, now=now, tolerance_s=self.settings.webhook_tolerance_s)
        with self._lock:
            seen = self._events.get(ev.event_id)
            if seen is not None:
                return dataclasses.replace(seen, duplicate=True)
            out = self._apply_event(provider, ev)
            self._events[ev.event_id] = out
            return out

    def _apply_event(self, provider: str, ev: WebhookEvent) -> WebhookOutcome:
        ref = str(ev.payload.get("payment_ref"))
        pid = self._by_ref.get((provider, ref)) or self._by_key.get((provider, str(ev.payload.get("reference"))))
        if pid is None:
            return WebhookOutcome(ev.event_id, ev.type, False, note=f"unknown payment_ref {ev.payload.get('payment_ref')!r}")
        p = self._payments[pid]
        key = str(ev.payload.get("reference"))
        op = p.ops.get(key)
        amount = None
        if ev.payload.get("amount") is not None:
            try:
                amount = Money.from_dict(ev.payload["amount"])
            except (MoneyError, KeyError, TypeError):
                raise ValidationError("not an amount", field="body.amount", value=ev.payload.get("amount")) from None
        if op is None:
            return WebhookOutcome(ev.event_id, ev.type, False, payment_id=pid, state=p.state, note=f"unknown reference {key!r}")
        if op.amount is not None and amount is not None and amount != op.amount:
            raise ValidationError(f"differs from the requested {op.amount}", field="body.amount", value=str(amount.amount))
        if op.status != "pending":
            return WebhookOutcome(ev.event_id, ev.type, False, payment_id=pid, state=p.state, note=f"{op.kind} already {op.status}")
        kind, _, outcome = ev.type.partition(".")
        if ev.type == "payment.authorized" and op.kind == "authorize":
            self._authorized(p, ProviderResult("approved", p.provider_ref or ref), key)
        elif ev.type in ("payment.declined", "payment.failed") and op.kind == "authorize":
            self._authorized(p, ProviderResult("declined", p.provider_ref or ref, str(ev.payload.get("code", ""))), key)
        elif kind == op.kind and outcome == "succeeded":
            op.status = "succeeded"
            (self._apply_capture if kind == "capture" else self._apply_refund)(p, op.amount, key)
        elif kind == op.kind and outcome == "failed":
            op.status = "failed"
            self._note(p, f"{kind}_failed", amount=op.amount, ref=key, note=str(ev.payload.get("code", "")))
        else:
            return WebhookOutcome(ev.event_id, ev.type, False, payment_id=pid, state=p.state, note=f"type does not fit a {op.kind}")
        return WebhookOutcome(ev.event_id, ev.type, True, payment_id=pid, state=p.state)
