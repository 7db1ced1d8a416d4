"""Money: a decimal amount in a currency (ISO 4217), never a binary float.

The rounding rule is stated once: amounts are rounded to the currency's minor unit with
``ROUND_HALF_UP`` (commercial rounding: 0.125 EUR -> 0.13 EUR), at the points where a
document shows an amount (a line's net, its tax, a total). Intermediate products keep full
precision. This module imports nothing of ours.
"""

from __future__ import annotations

import dataclasses
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

ROUNDING = ROUND_HALF_UP

#: ISO 4217 minor units of the currencies promessa knows; more can be added with ``register_currency``.
MINOR_UNITS: dict[str, int] = {
    "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2, "HUF": 2,
    "CAD": 2, "AUD": 2, "NZD": 2, "CNY": 2, "INR": 2, "BRL": 2, "MXN": 2, "ZAR": 2, "SGD": 2, "HKD": 2,
    "JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "XOF": 0,
    "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "LYD": 3, "IQD": 3,
}


class MoneyError(ValueError):
    """An amount or currency that cannot be used; the message names the value."""


def register_currency(code: str, minor_unit: int) -> None:
    """Make a currency known (``code`` three upper-case letters, ``minor_unit`` 0..4)."""
    if len(code) != 3 or not code.isalpha() or not code.isupper():
        raise MoneyError(f"currency={code!r}: not an ISO 4217 code (three upper-case letters)")
    if not 0 <= minor_unit <= 4:
        raise MoneyError(f"minor_unit={minor_unit!r}: must be 0..4")
    MINOR_UNITS[code] = minor_unit
    _QUANTA.pop(code, None)


def minor_unit(currency: str) -> int:
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise MoneyError(f"currency={currency!r}: unknown ISO 4217 currency "
                         f"(hint: one of {', '.join(sorted(MINOR_UNITS)[:8])}, ...)") from None


_QUANTA: dict[str, Decimal] = {}


def quantum(currency: str) -> Decimal:
    """The currency's smallest unit as a Decimal (``Decimal('0.01')`` for EUR), computed once per currency."""
    q = _QUANTA.get(currency)
    if q is None:
        q = _QUANTA[currency] = Decimal(1).scaleb(-minor_unit(currency))
    return q


def to_decimal(value: Any, *, field: str = "amount") -> Decimal:
    """A Decimal from a str, int or Decimal. Floats are refused: they are not exact."""
    if isinstance(value, bool):
        raise MoneyError(f"{field}={value!r}: not an amount")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            raise MoneyError(f"{field}={value!r}: not a decimal number") from None
    elif isinstance(value, float):
        raise MoneyError(f"{field}={value!r}: binary floats are not money (hint: pass the amount as a string)")
    else:
        raise MoneyError(f"{field}={value!r}: not an amount")
    if not d.is_finite():
        raise MoneyError(f"{field}={value!r}: not a finite amount")
    return d


@dataclasses.dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency. Arithmetic across currencies is refused."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        minor_unit(self.currency)
        object.__setattr__(self, "amount", to_decimal(self.amount))

    @classmethod
    def of(cls, amount: Any, currency: str) -> Money:
        return cls(to_decimal(amount), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    def rounded(self) -> Money:
        """Rounded to the currency's minor unit by the stated rule (half up)."""
        return money_unchecked(self.amount.quantize(quantum(self.currency), rounding=ROUNDING), self.currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise MoneyError(f"currency={other.currency!r}: cannot combine with {self.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        if isinstance(factor, float):
            raise MoneyError(f"factor={factor!r}: binary floats are not exact (hint: use Decimal)")
        return Money(self.amount * Decimal(factor), self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def is_zero(self) -> bool:
        return self.amount == 0

    def __str__(self) -> str:
        return f"{self.rounded().amount} {self.currency}"

    def to_dict(self) -> dict[str, str]:
        """The API and storage form: the amount as a string (exact), rounded to the minor unit."""
        return {"amount": str(self.amount.quantize(quantum(self.currency), rounding=ROUNDING)), "currency": self.currency}

    def to_exact_dict(self) -> dict[str, str]:
        """Unrounded, for intermediate values that are stored (rates, unit prices with more digits)."""
        return {"amount": str(self.amount), "currency": self.currency}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Money:
        return cls.of(d["amount"], d["currency"])


def allocate(total: Money, weights: list[Decimal]) -> list[Money]:
    """Split a rounded total over weights so that the parts (rounded) add up exactly to it
    (largest remainder; ties to the earlier part)."""
    t = total.rounded()
    q = quantum(t.currency)
    wsum = sum(weights, Decimal(0))
    if wsum == 0:
        return [Money.zero(t.currency) for _ in weights]
    raw = [t.amount * w / wsum for w in weights]
    floors = [r.quantize(q, rounding="ROUND_FLOOR") for r in raw]
    rest = int(((t.amount - sum(floors, Decimal(0))) / q).to_integral_value())
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - floors[i]), i))
    for i in order[:rest]:
        floors[i] += q
    return [Money(f, t.currency) for f in floors]


def money_unchecked(amount: Decimal, currency: str) -> Money:
    """A ``Money`` from an amount that is already a finite ``Decimal`` and a currency already checked, without
    checking them again (for hot paths such as pricing, which validates its inputs once when loading them)."""
    m = _new(Money)
    _set_amount(m, amount)
    _set_currency(m, currency)
    return m


_new = object.__new__
_set_amount = Money.amount.__set__      # the slots' own setters: no frozen-dataclass check, no attribute lookup
_set_currency = Money.currency.__set__


#: The decimal scale of amount columns in polars frames: the largest ISO 4217 minor unit (4), so every
#: currency's amounts are exact in one column type.
FRAME_SCALE = 4


def float_amount_expr(value: Any, currency: str) -> Any:
    """A polars expression: the float amount `value` (a ``pl.Expr``, e.g. quantity x a float catalogue price)
    as an exact ``pl.Decimal(38, FRAME_SCALE)`` rounded half up to `currency`'s minor unit. Float noise below
    1e-6 of the minor unit is dropped first (2.675 is stored as 2.67499999...), then ``floor(x + 0.5)`` on the
    minor units (mirrored below 0). Null stays null. (polars is imported here only: this module imports
    nothing else.)"""
    import polars as pl

    mu = minor_unit(currency)
    shifted = (value * (10 ** mu)).round(6)
    minor = pl.when(shifted >= 0).then((shifted + 0.5).floor()).otherwise(-((-shifted + 0.5).floor()))
    return (minor.cast(pl.Int64).cast(pl.Decimal(38, 0)) * pl.lit(quantum(currency))).cast(pl.Decimal(38, FRAME_SCALE))
