"""Card data never enters promessa: only provider tokens. Anything that looks like a card
number (a PAN: 12 to 19 digits, spaces or dashes allowed, passing the Luhn check) is refused
with a masked value, so the refusal itself does not leak the number."""

from __future__ import annotations

import re

from promessa.errors import ValidationError

_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d){11,18}")


def luhn_ok(digits: str) -> bool:
    """True when the digit string passes the Luhn check (what every card number does)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def mask(digits: str) -> str:
    """First six and last four digits, the rest as ``*`` (the form a receipt may show)."""
    return digits[:6] + "*" * max(0, len(digits) - 10) + digits[-4:]


def find_pan(text: str) -> str | None:
    """The first card-number-like digit run in ``text`` (digits only), or None."""
    for m in _DIGIT_RUN.finditer(text):
        digits = re.sub(r"[ -]", "", m.group())
        for n in range(min(19, len(digits)), 11, -1):  # the run may be longer than one PAN
            for start in range(0, len(digits) - n + 1):
                if luhn_ok(digits[start:start + n]):
                    return digits[start:start + n]
    return None


def refuse_card_data(field: str, value: object) -> None:
    """Raise ValidationError(field, masked value) when ``value`` (a str, or a dict/list of them) holds a PAN."""
    if value is None:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            refuse_card_data(f"{field}.{k}", v)
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            refuse_card_data(f"{field}[{i}]", v)
        return
    pan = find_pan(str(value))
    if pan is not None:
        raise ValidationError("looks like a card number; card data is never stored", field=field, value=mask(pan),
                              hint="tokenize the card at the payment provider and pass its token")
