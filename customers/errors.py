"""Errors of the customer master: a bad record names the field and the value; a bad file also the file and row."""

from __future__ import annotations

from promessa.errors import PromessaError, ValidationError


class CustomerFileError(ValidationError):
    """A customer file (CSV or JSON) is refused at ``file``, 1-based data ``row``, ``field``, ``value``."""

    def __init__(self, message: str, *, file: str, row: int | None, field: str, value: object = None,
                 hint: str | None = None) -> None:
        self.file = file
        self.row = row
        self.field = field
        self.value = value
        where = file + (f", row {row}" if row is not None else "")
        PromessaError.__init__(self, f"{where}, field {field!r}, value {value!r}: {message}", hint=hint)
