"""Fixtures: a payment book with the offline provider and the test gateway on hand-driven clocks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pay_testing import SECRET, Clock  # noqa: E402

from payments import OfflineProvider, PaymentBook, PaymentSettings, TestGateway  # noqa: E402


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_book(clock):
    def _make(*, duplicate_every: int = 0, vouchers: dict | None = None, **settings) -> tuple[PaymentBook, TestGateway, OfflineProvider]:
        gw = TestGateway(secret=SECRET, clock=clock, delay_s=2.0, duplicate_every=duplicate_every)
        off = OfflineProvider(vouchers=vouchers)
        book = PaymentBook(providers={"gateway": gw, "offline": off}, settings=PaymentSettings(**settings),
                           webhook_secrets={"gateway": SECRET})
        return book, gw, off
    return _make

