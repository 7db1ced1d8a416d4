"""Errors of the pricing package.

A bad rule file is refused with a ``RuleError`` naming the file, the 1-based data row (the CSV row
after the header, or the position in the YAML/JSON list), the field and the value. An order that
cannot be priced (no price for an item, no tax rate for the ship-to) is a ``ValidationError`` that
names the line field and the value.
"""

from __future__ import annotations

from promessa.errors import FileRecordError, ValidationError


class RuleError(FileRecordError):
    """A pricing data file (price lists, rules, tax rates, assignments, catalogue changes) is refused."""


def bare_message(e: ValidationError) -> str:
    """The message of a ValidationError without its leading ``field=value: `` (to re-raise it with a file and row)."""
    prefix = f"{e.field}={e.value!r}: "
    return e.message[len(prefix):] if e.message.startswith(prefix) else e.message
