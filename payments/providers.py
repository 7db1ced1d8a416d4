"""Payment providers: adapters behind one Protocol.

- :class:`OfflineProvider`: bank transfers (confirmed by hand when the money arrives), cash on
  delivery (collected by the carrier at delivery) and vouchers / gift cards (balances it holds).
- :class:`TestGateway`: behaves like a real card/wallet gateway: answers requests at once or
  later, sends asynchronous webhooks signed with HMAC-SHA256 and a timestamp, declines by test
  token, times out, and sends duplicate notifications. Its own clock is passed in.

Every call carries the caller's idempotency ``key``: the same key again returns the first
answer and does nothing twice (as real gateways do).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
from collections.abc import Callable, Iterable
from typing import Literal, Protocol

from promessa.errors import PromessaError, ValidationError
from promessa.money import Money

from payments.model import MethodKind, Payment
from payments.webhooks import SIGNATURE_HEADER, sign

Status = Literal["approved", "pending", "declined"]


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderResult:
    """A provider's answer: approved now, pending (a webhook will tell), or declined (with a code)."""

    status: Status
    ref: str = ""
    code: str = ""
    message: str = ""


class ProviderTimeout(PromessaError):
    """The provider did not answer in time; the request may still have been carried out (a webhook will tell)."""


class PaymentProvider(Protocol):
    """What the payment book needs from a provider adapter."""

    def authorize(self, *, key: str, kind: MethodKind, amount: Money, token: str | None) -> ProviderResult:
        """Hold ``amount`` on the method behind ``token``; ``ref`` identifies the payment at the provider."""
        ...

    def capture(self, *, key: str, ref: str, amount: Money) -> ProviderResult:
        """Take ``amount`` of what was authorized under ``ref``."""
        ...

    def refund(self, *, key: str, ref: str, amount: Money) -> ProviderResult:
        """Give back ``amount`` of what was captured under ``ref``."""
        ...

    def void(self, *, key: str, ref: str) -> ProviderResult:
        """Release what is still authorized under ``ref``."""
        ...

    def status(self, *, key: str, ref: str) -> ProviderResult:
        """The outcome of the operation sent with idempotency ``key`` (reconciliation, when its webhook did not come):
        approved (carried out), declined (refused or failed, or never received: ``code="unknown_operation"``), or
        pending (still being worked on)."""
        ...


class OfflineProvider:
    """Transfers, cash on delivery and vouchers: nothing leaves the building.

    ``vouchers`` maps a voucher or gift-card code to its balance; authorizing reserves part of
    it, capturing spends the reserve, refunding credits the balance back, voiding releases it.
    """

    def __init__(self, *, vouchers: dict[str, Money] | None = None) -> None:
        self.balances: dict[str, Money] = dict(vouchers or {})
        self.reserved: dict[str, Money] = {}     # ref -> reserved and not yet spent or released
        self._code_of: dict[str, str] = {}       # ref -> voucher code
        self._seen: dict[str, ProviderResult] = {}
        self._ids = itertools.count(1)

    def _once(self, key: str, fn: Callable[[], ProviderResult]) -> ProviderResult:
        if key not in self._seen:
            self._seen[key] = fn()
        return self._seen[key]

    def authorize(self, *, key: str, kind: MethodKind, amount: Money, token: str | None) -> ProviderResult:
        """Transfers wait for the money (pending); COD is accepted for collection; vouchers reserve their balance."""
        def run() -> ProviderResult:
            ref = f"off_{next(self._ids)}"
            if kind == MethodKind.BANK_TRANSFER:
                return ProviderResult("pending", ref, "awaiting_transfer")
            if kind == MethodKind.CASH_ON_DELIVERY:
                return ProviderResult("approved", ref, "collect_on_delivery")
            if kind == MethodKind.VOUCHER:
                bal = self.balances.get(token or "")
                if bal is None:
                    return ProviderResult("declined", ref, "unknown_voucher", f"voucher {token!r} is unknown")
                if bal.currency != amount.currency or bal < amount:
                    return ProviderResult("declined", ref, "insufficient_balance", f"voucher {token!r} holds {bal}")
                self.balances[token] = bal - amount
                self.reserved[ref] = amount
                self._code_of[ref] = token
                return ProviderResult("approved", ref)
            return ProviderResult("declined", ref, "unsupported_method", f"the offline provider does not take {kind}")
        return self._once(key, run)

    def capture(self, *, key: str, ref: str, amount: Money) -> ProviderResult:
        """Money in hand (transfer confirmed, cash collected, voucher reserve spent)."""
        def run() -> ProviderResult:
            if ref in self.reserved:
                self.reserved[ref] = self.reserved[ref] - amount
            return ProviderResult("approved", ref)
        return self._once(key, run)

    def refund(self, *, key: str, ref: str, amount: Money) -> ProviderResult:
        """Vouchers are credited back; transfers and cash are paid back by hand (code ``manual_payout``)."""
        def run() -> ProviderResult:
            code = self._code_of.get(ref)
            if code is not None:
                self.balances[code] = self.balances[code] + amount
                return ProviderResult("approved", ref)
            return ProviderResult("approved", ref, "manual_payout")
        return self._once(key, run)

    def void(self, *, key: str, ref: str) -> ProviderResult:
        """Release a voucher reserve (nothing to do for transfers and COD)."""
        def run() -> ProviderResult:
            rest = self.reserved.pop(ref, None)
            if rest is not None:
                self.balances[self._code_of[ref]] = self.balances[self._code_of[ref]] + rest
            return ProviderResult("approved", ref)
        return self._once(key, run)

    def status(self, *, key: str, ref: str) -> ProviderResult:
        """The first answer given for ``key`` (offline operations settle at once), or declined ``unknown_operation``."""
        res = self._seen.get(key)
        return res if res is not None else ProviderResult("declined", ref, "unknown_operation", f"no operation {key!r}")


#: test tokens of the gateway and what they do (any other token not shaped like a card number is approved).
TEST_TOKENS = {
    "tok_declined": "authorization declined (card_declined)",
    "tok_insufficient_funds": "authorization declined (insufficient_funds)",
    "tok_timeout": "authorize times out, but the gateway authorizes and sends the webhook later",
    "tok_capture_fails": "authorized, but captures fail (capture.failed webhook)",
    "tok_async": "authorization answered pending; the outcome comes by webhook (wallet redirects, 3-D Secure)",
    "tok_webhook_lost": "authorized; captures and refunds are carried out but their webhooks never arrive (ask status)",
}

_REF = re.compile(r"^gw_(\d+)$")


@dataclasses.dataclass(order=True)
class _Outgoing:
    due: float
    seq: int
    body: bytes = dataclasses.field(compare=False)
    header: str = dataclasses.field(compare=False)


class TestGateway:
    """A card and wallet gateway that behaves like a real one, for tests, demos and benchmarks.

    Parameters
    ----------
    secret : the webhook signing secret shared with the receiver.
    clock : the gateway's clock in unix seconds (stamps webhooks; ``deliver(now)`` releases them).
    delay_s : webhooks are delivered this long after the request.
    duplicate_every : every n-th webhook is sent twice (same event id); 0 never.

    Captures and refunds answer ``pending``; the outcome arrives as a webhook
    (``capture.succeeded``/``capture.failed``, ``refund.succeeded``). Authorizations answer at
    once and are confirmed by a ``payment.authorized`` webhook as well; wallets (and the token
    ``tok_async``) answer ``pending``. See :data:`TEST_TOKENS`.

    Each webhook's event id is derived from the operation it reports (type, idempotency key, payment
    ref), so the same outcome sent again - a duplicate, or a resend after a restart - is recognised by
    the receiver. :meth:`status` answers the outcome of an operation by its key (reconciliation).

    The gateway keeps its ledger in memory. A real gateway keeps it across the merchant's restarts;
    to act like one, a restarted server tells it again what it knew (:meth:`register`, from the
    payment records) and retries the operations still pending with their keys
    (``PaymentBook.retry_pending``): the gateway carries them out once and sends their outcomes.
    """

    __test__ = False  # not a pytest class

    def __init__(self, *, secret: bytes, clock: Callable[[], float], delay_s: float = 2.0, duplicate_every: int = 0) -> None:
        self.secret = secret
        self.clock = clock
        self.delay_s = delay_s
        self.duplicate_every = duplicate_every
        self.outbox: list[_Outgoing] = []
        self.tokens: dict[str, str] = {}          # ref -> token
        self.authorized: dict[str, Money] = {}    # ref -> still authorized
        self.captured: dict[str, Money] = {}
        self.refunded: dict[str, Money] = {}
        self._seen: dict[str, ProviderResult] = {}
        self._outcomes: dict[str, ProviderResult] = {}  # capture / refund key -> what was done (status())
        self._ids = itertools.count(1)
        self._sent = 0

    # ---- webhooks
    def _emit(self, type_: str, ref: str, reference: str, amount: Money | None, **extra: object) -> None:
        if self.tokens.get(ref) == "tok_webhook_lost" and type_ != "payment.authorized":
            return
        eid = "evt_" + hashlib.sha256(f"{type_}|{reference}|{ref}".encode()).hexdigest()[:24]
        body = json.dumps({"id": eid, "type": type_, "payment_ref": ref, "reference": reference,
                           "amount": amount.to_dict() if amount else None, **extra}, separators=(",", ":")).encode()
        now = self.clock()
        copies = 2 if self.duplicate_every and (self._sent % self.duplicate_every == self.duplicate_every - 1) else 1
        self._sent += 1
        for c in range(copies):
            self.outbox.append(_Outgoing(now + self.delay_s * (1 + c), next(self._ids), body, ""))

    def deliver(self, now: float | None = None) -> list[tuple[bytes, dict[str, str]]]:
        """The webhooks due by ``now`` (default: the gateway clock), oldest first, signed at delivery time."""
        now = self.clock() if now is None else now
        due = sorted(o for o in self.outbox if o.due <= now)
        self.outbox = [o for o in self.outbox if o.due > now]
        ts = int(self.clock())
        return [(o.body, {SIGNATURE_HEADER: sign(o.body, secret=self.secret, timestamp=ts)}) for o in due]

    # ---- API
    def _once(self, key: str, fn: Callable[[], ProviderResult]) -> ProviderResult:
        if key not in self._seen:
            self._seen[key] = fn()
        elif self._seen[key].code == "timeout":
            return dataclasses.replace(self._seen[key], code="")  # the retry gets the answer that was lost
        return self._seen[key]

    def authorize(self, *, key: str, kind: MethodKind, amount: Money, token: str | None) -> ProviderResult:
        """Authorize a card or wallet token (see TEST_TOKENS); raises ProviderTimeout for ``tok_timeout``."""
        if not token or not token.startswith("tok_"):
            raise ValidationError("not a gateway token", field="token", value=token, hint="gateway tokens start with 'tok_'")

        def run() -> ProviderResult:
            ref = f"gw_{next(self._ids)}"
            if token in ("tok_declined", "tok_insufficient_funds"):
                return ProviderResult("declined", ref, token.removeprefix("tok_").replace("declined", "card_declined"))
            self.tokens[ref] = token
            self.authorized[ref] = amount
            self.captured[ref] = Money.zero(amount.currency)
            self.refunded[ref] = Money.zero(amount.currency)
            self._emit("payment.authorized", ref, key, amount)
            if token == "tok_timeout":
                return ProviderResult("approved", ref, "timeout")
            if token == "tok_async" or kind == MethodKind.WALLET:
                return ProviderResult("pending", ref, "redirect")
            return ProviderResult("approved", ref)
        res = self._once(key, run)
        if res.code == "timeout" and self._seen[key] is res:
            raise ProviderTimeout(f"gateway did not answer authorize (key {key!r}) in time",
                                  hint="the outcome arrives by webhook; retrying with the same key is safe")
        return res

    def capture(self, *, key: str, ref: str, amount: Money) -> ProviderResult:
        """Accept a capture; the outcome comes later as a webhook."""
        def run() -> ProviderResult:
            if self.tokens.get(ref) == "tok_capture_fails" or amount > self.authorized.get(ref, Money.zero(amount.currency)):
                self._outcomes[key] = ProviderResult("declined", ref, "capture_refused")
                self._emit("capture.failed", ref, key, amount, code="capture_refused")
            else:
                self.authorized[ref] = self.authorized[ref] - amount
                self.captured[ref] = self.captured[ref] + amount
                self._outcomes[key] = ProviderResult("approved", ref)
                self._emit("capture.succeeded", ref, key, amount)
            return ProviderResult("pending", ref)
        return self._once(key, run)

    def refund(self, *, key: str, ref: str, amount: Money) -> ProviderResult:
        """Accept a refund of captured money; the outcome comes later as a webhook."""
        def run() -> ProviderResult:
            zero = Money.zero(amount.currency)
            if amount > self.captured.get(ref, zero) - self.refunded.get(ref, zero):
                self._outcomes[key] = ProviderResult("declined", ref, "exceeds_captured")
                self._emit("refund.failed", ref, key, amount, code="exceeds_captured")
            else:
                self.refunded[ref] = self.refunded[ref] + amount
                self._outcomes[key] = ProviderResult("approved", ref)
                self._emit("refund.succeeded", ref, key, amount)
            return ProviderResult("pending", ref)
        return self._once(key, run)

    def void(self, *, key: str, ref: str) -> ProviderResult:
        """Release the rest of an authorization at once."""
        def run() -> ProviderResult:
            if ref in self.authorized:
                self.authorized[ref] = Money.zero(self.authorized[ref].currency)
            return ProviderResult("approved", ref)
        return self._once(key, run)

    def status(self, *, key: str, ref: str) -> ProviderResult:
        """What became of the operation sent with ``key``: a capture or refund approved or declined (as its webhook
        said or would have said), an authorization's answer, or declined ``unknown_operation`` when the gateway
        never received it (the merchant may send it again)."""
        res = self._outcomes.get(key)
        if res is None:
            res = self._seen.get(key)
            if res is not None and res.code == "timeout":
                res = dataclasses.replace(res, code="")
        return res if res is not None else ProviderResult("declined", ref, "unknown_operation", f"no operation {key!r}")

    def register(self, *, ref: str, token: str | None, authorized: Money, captured: Money, refunded: Money) -> None:
        """Tell a restarted gateway about a payment it had authorized under ``ref`` (what is still authorized, captured
        and refunded, as the merchant's records say): what a real gateway would have kept. New refs continue after
        the highest registered one."""
        self.tokens[ref] = token or ""
        self.authorized[ref] = authorized
        self.captured[ref] = captured
        self.refunded[ref] = refunded
        m = _REF.match(ref)
        if m is not None:
            nxt = next(self._ids)
            self._ids = itertools.count(max(nxt, int(m.group(1)) + 1))

    def adopt(self, payments: Iterable[Payment]) -> int:
        """:meth:`register` every payment (of this gateway) that has a gateway ref, from the merchant's records: still
        authorized = amount - captured - released (captures still pending are retried and taken again). Returns how
        many were registered."""
        n = 0
        for p in payments:
            if p.provider_ref:
                self.register(ref=p.provider_ref, token=p.token, authorized=p.amount - p.captured - p.released,
                              captured=p.captured, refunded=p.refunded)
                n += 1
        return n
