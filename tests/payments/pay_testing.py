"""Helpers of the payment tests (import as `from pay_testing import ...`; conftest puts this folder on the path)."""

from __future__ import annotations

import datetime as dt

from payments import PaymentBook, TestGateway
from promessa.money import Money

SECRET = b"whsec_test"
T0 = 1_770_000_000.0  # gateway and receiver clock start (unix seconds)
TODAY = dt.date(2026, 1, 5)


def eur(x: str) -> Money:
    return Money.of(x, "EUR")


class Clock:
    """A hand-driven unix clock shared by the gateway and the receiver."""

    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def pump(book: PaymentBook, gw: TestGateway, clock: Clock, seconds: float = 5.0):
    """Let time pass and hand every due webhook to the book; returns the outcomes."""
    clock.t += seconds
    return [book.handle_webhook("gateway", body, headers["Webhook-Signature"], now=clock.t) for body, headers in gw.deliver()]
