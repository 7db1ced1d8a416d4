"""promessa.money: exact amounts, the stated rounding rule, no floats, no mixing of currencies."""

from __future__ import annotations

from decimal import Decimal

import pytest

from promessa.money import Money, MoneyError, allocate, register_currency


def test_rounding_is_half_up_to_the_minor_unit():
    assert Money.of("0.125", "EUR").to_dict() == {"amount": "0.13", "currency": "EUR"}
    assert Money.of("0.124", "EUR").to_dict() == {"amount": "0.12", "currency": "EUR"}
    assert Money.of("1012.5", "JPY").to_dict() == {"amount": "1013", "currency": "JPY"}     # 0 minor digits
    assert Money.of("1.0005", "KWD").to_dict() == {"amount": "1.001", "currency": "KWD"}    # 3 minor digits
    assert Money.of("0.125", "EUR").rounded() == Money.of("0.13", "EUR")
    assert Money.of("0.125", "EUR").to_exact_dict() == {"amount": "0.125", "currency": "EUR"}


def test_floats_and_mixed_currencies_are_refused():
    with pytest.raises(MoneyError, match="binary floats"):
        Money.of(0.1, "EUR")
    with pytest.raises(MoneyError, match="USD"):
        Money.of("1", "EUR") + Money.of("1", "USD")
    with pytest.raises(MoneyError, match="ISO 4217"):
        Money.of("1", "XXQ")


def test_allocate_splits_a_total_exactly():
    """10.00 EUR in three equal parts: 3.34 + 3.33 + 3.33 (the remainder cent to the first)."""
    parts = allocate(Money.of("10", "EUR"), [Decimal(1)] * 3)
    assert [p.to_dict()["amount"] for p in parts] == ["3.34", "3.33", "3.33"]
    assert sum((p.amount for p in parts), Decimal(0)) == Decimal("10.00")


def test_a_registered_currency_rounds_by_its_own_minor_unit():
    register_currency("XTS", 4)
    assert Money.of("1.00005", "XTS").to_dict() == {"amount": "1.0001", "currency": "XTS"}
    register_currency("XTS", 1)
    assert Money.of("1.05", "XTS").to_dict() == {"amount": "1.1", "currency": "XTS"}
